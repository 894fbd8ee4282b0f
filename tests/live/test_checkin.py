"""The pain check-in: answers from the command line or the terminal, red flags that stop the
session with the right advice, and a closed input that ends in one line instead of a hang."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from siform.live.checkin import CheckIn, CheckInError, add_checkin_arguments, run_checkin
from siform.session import build_live_session, new_session_id, validate_session
from siform.specs.load import find_spec


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="siform live")
    add_checkin_arguments(parser)
    return parser.parse_args(list(argv))


class Person:
    """Answers questions from a script, and remembers what was asked and said."""

    def __init__(self, *answers: str) -> None:
        self._answers: Iterator[str] = iter(answers)
        self.asked: list[str] = []
        self.said: list[str] = []

    def ask(self, prompt: str) -> str:
        self.asked.append(prompt)
        try:
            return next(self._answers)
        except StopIteration:
            raise EOFError from None

    def say(self, line: str) -> None:
        self.said.append(line)


def never(prompt: str) -> str:
    raise AssertionError(f"asked {prompt!r} though every answer was given")


def test_headless_all_clear_asks_nothing() -> None:
    spec = find_spec("piriformis_stretch")
    person = Person()
    checkin = run_checkin(spec, parse("--pain", "3", "--red-flags", "none"), ask=never, say=person.say)
    assert (checkin.pain, checkin.reported, checkin.via, checkin.stop_reason) == (3, (), "arguments", None)
    assert [f.id for f in checkin.asked] == [f.id for f in spec.checkin_red_flags()]
    assert not checkin.stops and person.said == []


def test_headless_red_flag_stops_with_advice_to_contact_the_therapist() -> None:
    spec = find_spec("piriformis_stretch")
    person = Person()
    checkin = run_checkin(
        spec, parse("--pain", "5", "--red-flags", "stretch_shoots_down_leg"), ask=never, say=person.say
    )
    assert checkin.stops and not checkin.urgent
    assert checkin.reported == ("stretch_shoots_down_leg",)
    assert person.said == [checkin.stop_reason]
    assert "contact your therapist" in checkin.stop_reason.lower()
    assert "urgent" not in checkin.stop_reason.lower()
    assert spec.red_flags[0].ask in checkin.stop_reason  # it says which answer stopped it


@pytest.mark.parametrize("flag", ["bladder_bowel", "saddle_numbness"])
def test_an_emergency_sends_to_urgent_care(flag: str) -> None:
    spec = find_spec("glute_bridge")
    person = Person()
    checkin = run_checkin(
        spec, parse("--pain", "2", "--red-flags", f"leg_numbness,{flag}"), ask=never, say=person.say
    )
    assert checkin.stops and checkin.urgent
    assert "urgent medical care now" in checkin.stop_reason
    # the urgent advice wins over the milder one, whichever order they were given in
    assert next(f.ask for f in spec.checkin_red_flags() if f.id == flag) in checkin.stop_reason


def test_unknown_red_flag_lists_the_known_ones() -> None:
    spec = find_spec("glute_bridge")
    with pytest.raises(CheckInError) as err:
        run_checkin(spec, parse("--pain", "2", "--red-flags", "sore_toe"), ask=never, say=print)
    text = str(err.value)
    assert "sore_toe" in text and "bladder_bowel" in text and "\n" not in text


@pytest.mark.parametrize(
    "argv",
    [["--pain", "11"], ["--pain", "-1"], ["--pain", "3.5"], ["--pain", "lots"],
     ["--red-flags", "none,leg_weakness"], ["--red-flags", " , "]],
)  # fmt: skip
def test_bad_arguments_are_refused_by_the_parser(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2
    assert "--" in capsys.readouterr().err


def test_terminal_questions_reask_until_answered() -> None:
    spec = find_spec("glute_bridge")
    flags = spec.checkin_red_flags()
    # pain: two bad answers, then 4; every flag: "no" (one "maybe" re-asked first)
    person = Person("eleven", "11", " 4/10 ", "maybe", *["no"] * len(flags))
    checkin = run_checkin(spec, parse(), ask=person.ask, say=person.say)
    assert checkin.pain == 4 and checkin.reported == () and not checkin.stops and checkin.via == "terminal"
    assert len(person.asked) == 3 + 1 + len(flags)
    assert person.said.count("Please type a whole number from 0 to 10.") == 2
    assert person.said.count("Please answer yes or no.") == 1
    assert [f.id for f in checkin.asked] == [f.id for f in flags]


def test_terminal_urgent_yes_ends_the_questions_at_once() -> None:
    spec = find_spec("piriformis_stretch")
    flags = spec.checkin_red_flags()
    urgent_at = next(i for i, f in enumerate(flags) if f.urgent)
    answers = ["7"] + ["n"] * urgent_at + ["YES"]
    person = Person(*answers)  # nothing more to answer: asking on would raise EOFError
    checkin = run_checkin(spec, parse(), ask=person.ask, say=person.say)
    assert checkin.urgent and checkin.reported == (flags[urgent_at].id,)
    assert [f.id for f in checkin.asked] == [f.id for f in flags[: urgent_at + 1]]
    assert person.said[-1] == checkin.stop_reason


def test_pain_given_flags_asked() -> None:
    spec = find_spec("glute_bridge")
    flags = spec.checkin_red_flags()
    person = Person(*(["no"] * (len(flags) - 1) + ["yes"]))
    checkin = run_checkin(spec, parse("--pain", "0"), ask=person.ask, say=person.say)
    assert checkin.pain == 0 and checkin.via == "terminal"
    assert checkin.reported == (flags[-1].id,) and checkin.stops and not checkin.urgent


SCRIPT = """
import argparse, sys
from siform.errors import SiformError
from siform.live.checkin import add_checkin_arguments, run_checkin
from siform.specs.load import find_spec
p = argparse.ArgumentParser(); add_checkin_arguments(p)
try:
    run_checkin(find_spec("glute_bridge"), p.parse_args(sys.argv[1:]))
except SiformError as exc:
    print(exc, file=sys.stderr)
    sys.exit(1)
"""


@pytest.mark.parametrize(
    ("argv", "missing"),
    [([], "--pain N --red-flags none|ID,..."), (["--pain", "3"], "--red-flags none|ID,...")],
)
def test_closed_input_is_one_line_never_a_hang(argv: list[str], missing: str) -> None:
    """The real ``input`` on a closed stdin (as under a service or a pipe that ended)."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "input is closed" in lines[0] and lines[0].endswith(f"{missing}.")


def test_checkin_goes_into_a_valid_session(tmp_path: Path) -> None:
    spec = find_spec("clamshell")
    checkin: CheckIn = run_checkin(
        spec, parse("--pain", "8", "--red-flags", "leg_weakness"), ask=never, say=print
    )
    doc = build_live_session(
        [], spec, source={"camera": 0}, model_path=None, session_id=new_session_id(),
        recorded_utc="2026-12-03T04:00:00+00:00", checkin=checkin.to_session(),
    )  # fmt: skip
    validate_session(doc)
    saved = json.loads(json.dumps(doc))
    assert saved["checkin"]["pain"] == 8 and saved["checkin"]["reported"] == ["leg_weakness"]
    assert saved["checkin"]["stop_reason"] == checkin.stop_reason
    assert {a["id"] for a in saved["checkin"]["asked"]} >= {"bladder_bowel", "leg_weakness"}
