"""Why an attempt was not counted, in words a patient reads: with its real duration and the limit."""

from __future__ import annotations

import pytest

from siform.report.text import NOT_COUNTED, not_counted_reason


@pytest.mark.parametrize(
    ("outcome", "duration_s", "min_rep_s", "says"),
    [
        ("too_fast", 0.36, 0.5, ["took 0.36 s", "at least 0.50 s"]),
        # Just under the limit: never shown as the limit itself ("took 1.00 s; at least 1.00 s").
        ("too_fast", 0.996, 1.0, ["took 0.99 s", "at least 1.00 s"]),
        ("too_fast", 0.29, 0.5, ["took 0.29 s"]),  # 0.29 * 100 is 28.999... in floating point
        ("too_slow", 15.004, 0.5, ["took 15.01 s", "up to 15.00 s"]),
        ("not_finished", 1.467, 0.5, ["ended 1.5 s into this one", "not counted"]),
    ],
)
def test_timed_outcomes_show_the_attempts_real_duration(
    outcome: str, duration_s: float, min_rep_s: float, says: list[str]
) -> None:
    text = not_counted_reason(outcome, duration_s, {"min_rep_s": min_rep_s, "max_rep_s": 15.0})
    for part in says:
        assert part in text


def test_without_a_duration_or_limit_the_plain_reason_stands() -> None:
    counting = {"min_rep_s": 0.5, "max_rep_s": 15.0}
    assert not_counted_reason("too_fast", None, counting) == NOT_COUNTED["too_fast"]
    assert not_counted_reason("too_fast", 0.3, None) == NOT_COUNTED["too_fast"]
    assert not_counted_reason("partial", 1.2, counting) == NOT_COUNTED["partial"]
    assert not_counted_reason("not_finished", None, counting) == NOT_COUNTED["not_finished"]
