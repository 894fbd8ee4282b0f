"""Numbers and plain words as patients and therapists read them in the report.

Every number carries its unit (``179.6°``, ``0.065``, ``2.2 s``); a missing value never shows as
NaN or None but as "not measured"; limits and reasons are short sentences.

These return plain text, never markup: the report's template escapes everything it is given, so a
unit or a date read from a file cannot become HTML.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from siform.report.plots import mmss

NOT_COUNTED = {
    "partial": "You did not reach the top position, so this one was not counted.",
    "too_fast": "This one was quicker than the shortest rep we count. Move slowly and with control.",
    "too_slow": "This one took longer than the longest rep we count (perhaps a pause part way).",
    "voided": "The camera lost sight of you during this one, so it could not be judged.",
    "not_finished": "The recording ended before you finished this one, so it was not counted.",
}


def not_counted_reason(outcome: str, duration_s: Any, counting: Mapping[str, Any] | None = None) -> str:
    """Why an attempt was not counted, with its real duration against the limit it missed when
    that was time (``counting`` is session.json's ``counting`` block, with ``min_rep_s``/``max_rep_s``)."""
    limits = counting or {}
    if outcome == "too_fast" and finite(duration_s) and finite(limits.get("min_rep_s")):
        return (
            f"This one took {_seconds(duration_s, math.floor)}; we count reps that take at least "
            f"{_seconds(limits['min_rep_s'])}. Move slowly and with control."
        )
    if outcome == "too_slow" and finite(duration_s) and finite(limits.get("max_rep_s")):
        return (
            f"This one took {_seconds(duration_s, math.ceil)}; we count reps of up to "
            f"{_seconds(limits['max_rep_s'])} (perhaps a pause part way)."
        )
    if outcome == "not_finished" and finite(duration_s):
        return (
            f"The recording ended {fmt_value(duration_s, 's')} into this one, before you finished it, "
            "so it was not counted."
        )
    return NOT_COUNTED.get(outcome, f"Not counted ({plain(outcome)}).")


def _seconds(v: float, rounding: Any = round) -> str:
    """Seconds to the hundredth, rounded towards the side of the limit it missed: 0.996 s against a
    1 s minimum reads "0.99 s", never "1.00 s" beside a "1.00 s" limit."""
    return f"{rounding(round(v * 100, 6)) / 100:.2f} s"  # round first: 0.29 * 100 is 28.999...


def finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def fmt_value(v: Any, unit: str, signed: bool = False) -> str:
    """A measured number with its unit; never NaN or None (those read "not measured")."""
    if not finite(v):
        return "not measured"
    sign = "+" if signed else ""
    decimals = {"deg": 1, "ratio": 3, "s": 1}.get(unit)
    if decimals is not None:
        v = round(v, decimals) + 0.0  # no "-0.000" for a value that rounds to zero
    if unit == "deg":
        return f"{v:{sign}.1f}°"
    if unit == "ratio":
        return f"{v:{sign}.3f}"
    if unit == "s":
        return f"{v:{sign}.1f} s"
    return f"{v:{sign}.3g} {unit}".strip()


def fmt_score(v: Any) -> str:
    """A 0-100 score, rounded half up (48.5 reads 49, as people round); only a perfect score reads
    100 / 100: a rep or hold that lost anything (99.6) reads 99, never full marks."""
    if not finite(v):
        return "not scored"
    shown = math.floor(v + 0.5)
    return f"{99 if shown >= 100 > v else shown} / 100"


def fmt_limit(c: Mapping[str, Any], baseline: bool) -> str:
    lo, hi, unit = c.get("limit_min"), c.get("limit_max"), c["unit"]
    if baseline:
        if finite(lo) and finite(hi) and math.isclose(-lo, hi):
            return f"allowed: within ±{fmt_value(hi, unit)} of your median"
        if finite(lo) and finite(hi):
            return f"allowed: {fmt_value(lo, unit, True)} to {fmt_value(hi, unit, True)} from your median"
        if finite(hi):
            return f"allowed: at most {fmt_value(hi, unit, True)} from your median"
        if finite(lo):
            return f"allowed: at least {fmt_value(lo, unit, True)} from your median"
        return "no limit set"
    if finite(lo) and finite(hi):
        return f"limit: {fmt_value(lo, unit)} to {fmt_value(hi, unit)}"
    if finite(lo):
        return f"limit: at least {fmt_value(lo, unit)}"
    if finite(hi):  # a check on a signal's size (max_abs) bounds it on both sides of zero
        either = " either way" if c.get("reduce") == "max_abs" else ""
        return f"limit: at most {fmt_value(hi, unit)}{either}"
    return "no limit set"


def fmt_date(iso: str | None) -> str:
    if not iso:
        return "date unknown"
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return str(iso)


def span_text(start_ms: int, end_ms: int) -> str:
    return f"{mmss(start_ms / 1000)}–{mmss(end_ms / 1000)}"


def plain(ident: str | None) -> str:
    return "not known" if not ident else str(ident).replace("_", " ").replace("/", ", ")
