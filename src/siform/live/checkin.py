"""The pain check-in before the first set of ``siform live``: pain 0-10, then the red flags.

Exercise can be the wrong thing to do on a given day: a leg going numb or weak, pain that keeps
getting worse, and above all the signs of a compressed nerve bundle at the base of the spine (new
trouble controlling the bladder or bowels, numbness in the saddle area) call for a therapist or for
urgent care, not for another set. So before the camera starts, the person says how much it hurts
and answers a yes/no question for each red flag (the exercise spec's own, then the general ones,
:meth:`siform.specs.model.ExerciseSpec.checkin_red_flags`). A yes stops the session with plain
advice; the answers go into ``session.json`` (``checkin``) whether or not it stops.

For H2 (``siform.live.command`` / ``app``)::

    add_checkin_arguments(parser)            # --pain N, --red-flags none|ID,...
    checkin = run_checkin(spec, args)        # asks in the terminal what the flags did not give
    journal = SessionJournal.create(out, spec, checkin=checkin, ...)
    if checkin.stop_reason:                  # the advice is already said: record the answers, end
        journal.finalize()                   # a session.json with no sets and the check-in
        return 0

A run without a person at the keyboard gives both flags; one whose input is closed and lacks them
gets a :class:`CheckInError` (one line, no traceback), never a hang.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from siform.errors import SiformError
from siform.specs.model import ExerciseSpec, RedFlag

NONE = "none"

URGENT_ADVICE = (
    "Stop: do not exercise today. You answered yes to \u201c{question}\u201d That can be the sign of a "
    "problem that needs a doctor straight away: please get urgent medical care now (call your "
    "doctor's urgent line, or emergency services), then tell your therapist."
)
ADVICE = (
    "Please do not do this exercise today: you answered yes to \u201c{question}\u201d Contact your "
    "therapist before you exercise again; they will tell you what is safe for you."
)

PAIN_QUESTION = "How much pain do you have right now, from 0 (none) to 10 (worst imaginable)? "

_YES = {"y", "yes"}
_NO = {"n", "no"}


class CheckInError(SiformError):
    """The check-in could not be answered (input closed, an unknown red flag named)."""


@dataclass(frozen=True, slots=True)
class CheckIn:
    """What the person answered before the first set, and whether that stops the session.

    ``asked`` are the red flags put to them, in order (all of them unless an urgent one was answered
    yes, which ends the questions at once); ``reported`` the ids answered yes. ``stop_reason`` is the
    advice already shown when the session must not go on; ``urgent`` when that advice is urgent care.
    """

    pain: int | None
    asked: tuple[RedFlag, ...]
    reported: tuple[str, ...]
    via: Literal["terminal", "arguments"]
    answered_utc: str
    stop_reason: str | None = None
    urgent: bool = False

    @property
    def stops(self) -> bool:
        return self.stop_reason is not None

    def to_session(self) -> dict[str, Any]:
        """The ``checkin`` block of ``session.json`` (see docs/session.md)."""
        return {
            "pain": self.pain,
            "asked": [{"id": f.id, "question": f.ask, "urgent": f.urgent} for f in self.asked],
            "reported": list(self.reported),
            "via": self.via,
            "answered_utc": self.answered_utc,
            "stop_reason": self.stop_reason,
            "urgent": self.urgent,
        }


def _pain_argument(text: str) -> int:
    value = _parse_pain(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 10, not {text!r}")
    return value


def _flags_argument(text: str) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
    if not ids:
        raise argparse.ArgumentTypeError("give 'none', or the ids of the red flags that apply (a,b)")
    if NONE in ids and len(ids) > 1:
        raise argparse.ArgumentTypeError("'none' cannot be given together with red flags")
    return () if ids == (NONE,) else ids


def add_checkin_arguments(parser: argparse.ArgumentParser) -> None:
    """``--pain N`` and ``--red-flags none|ID,...``: the check-in's answers for a run without a
    person at the keyboard (tests, demos); whatever is not given is asked in the terminal."""
    group = parser.add_argument_group("pain check-in (asked before the first set unless given here)")
    group.add_argument(
        "--pain",
        type=_pain_argument,
        metavar="N",
        help="pain right now, 0 (none) to 10 (worst imaginable)",
    )
    group.add_argument(
        "--red-flags",
        type=_flags_argument,
        metavar="none|ID,...",
        dest="red_flags",
        help="'none', or the ids of the red flags that apply today (a red flag stops the session)",
    )


def _parse_pain(text: str) -> int | None:
    raw = text.strip().removesuffix("/10").strip()
    if not raw.isdigit():
        return None
    value = int(raw)
    return value if 0 <= value <= 10 else None


def _parse_yes_no(text: str) -> bool | None:
    word = text.strip().lower().rstrip(".!")
    if word in _YES:
        return True
    if word in _NO:
        return False
    return None


def _closed(missing: str) -> CheckInError:
    return CheckInError(
        "The pain check-in needs an answer, but nothing can be typed here (the input is closed).",
        f"Give the answers on the command line: {missing}.",
    )


def _advice(flag: RedFlag) -> str:
    return (URGENT_ADVICE if flag.urgent else ADVICE).format(question=flag.ask)


def run_checkin(
    spec: ExerciseSpec,
    args: argparse.Namespace,
    ask: Callable[[str], str] = input,
    say: Callable[[str], None] = print,
) -> CheckIn:
    """Put the check-in to the person (``ask`` reads one answer, ``say`` shows a line) or take it
    from ``args.pain``/``args.red_flags``; when it must stop, the advice has already been said.

    Raises :class:`CheckInError` for a red-flag id the exercise does not know, or when an answer is
    needed and input is closed (``ask`` raises EOFError).
    """
    flags = spec.checkin_red_flags()
    known = {f.id: f for f in flags}
    pain: int | None = getattr(args, "pain", None)
    given: tuple[str, ...] | None = getattr(args, "red_flags", None)
    if given is not None:
        unknown = [i for i in given if i not in known]
        if unknown:
            raise CheckInError(
                f"Unknown red flag '{unknown[0]}' for {spec.name}.",
                f"Use 'none' or some of: {', '.join(known)}.",
            )
    headless = pain is not None and given is not None
    via: Literal["terminal", "arguments"] = "arguments" if headless else "terminal"
    missing = " ".join(
        part
        for part, needed in (("--pain N", pain is None), ("--red-flags none|ID,...", given is None))
        if needed
    )
    if via == "terminal":
        say(f"Before you start {spec.name}: a few questions about how you are today.")

    def answer(prompt: str) -> str:
        try:
            return ask(prompt)
        except EOFError:
            raise _closed(missing) from None

    while pain is None:
        pain = _parse_pain(answer(PAIN_QUESTION))
        if pain is None:
            say("Please type a whole number from 0 to 10.")

    asked: list[RedFlag] = []
    reported: list[str] = []
    if given is not None:
        asked = flags
        reported = [f.id for f in flags if f.id in given]
    else:
        say("Answer yes or no.")
        for flag in flags:
            asked.append(flag)
            reply = None
            while reply is None:
                reply = _parse_yes_no(answer(f"{flag.ask} [yes/no] "))
                if reply is None:
                    say("Please answer yes or no.")
            if reply:
                reported.append(flag.id)
                if flag.urgent:
                    break  # an emergency: the advice must not wait for more questions

    hits = [known[i] for i in reported]
    first = next((f for f in hits if f.urgent), hits[0] if hits else None)
    stop_reason = _advice(first) if first is not None else None
    if stop_reason:
        say(stop_reason)
    return CheckIn(
        pain=pain,
        asked=tuple(asked),
        reported=tuple(reported),
        via=via,
        answered_utc=datetime.now(UTC).isoformat(timespec="seconds"),
        stop_reason=stop_reason,
        urgent=first is not None and first.urgent,
    )
