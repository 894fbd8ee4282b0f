"""The live session journal: real LiveSession sets journalled to real files, a real child process
killed with SIGKILL part way through a set, and the session.json recovered from what it left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from factories_lying import clamshell_front_view
from siform.errors import OutputError
from siform.live.checkin import CheckIn
from siform.live.journal import (
    JOURNAL_FILE,
    SessionJournal,
    read_journal,
    recover_journal,
    recover_journals,
    spec_digest,
)
from siform.pipeline import LiveSession, analyze_track, near_side
from siform.pose import PoseFrame, PoseTrack
from siform.results import SESSION_SCHEMA_VERSION
from siform.session import InvalidSessionError, LiveSet, build_session, validate_session
from siform.specs.load import find_spec, load_all
from siform.specs.model import ExerciseSpec

from factories import bridge_side_view

HERE = Path(__file__).resolve().parent
CHILD = HERE / "journal_child.py"


def run_set(
    journal: SessionJournal, spec: ExerciseSpec, track: PoseTrack, number: int, side: str | None, clock: int
) -> tuple[LiveSet, list[Any]]:
    """One set through a real LiveSession, every event journalled as the live app does."""
    review = analyze_track(track, spec, side)
    assert review.view is not None
    live = LiveSession(spec, track.width, track.height, review.view, near_side(track.image), side)
    journal.start_set(number, side, view=review.view, setup=review.setup, t_ms=clock)
    events = []
    for i in range(len(track)):
        t = clock + int(track.t_ms[i])
        event = live.update(PoseFrame(i, t, bool(track.found[i]), track.image[i], track.world[i]))
        if event is not None:
            journal.append(event, set_number=number)
            events.append(event)
    finished = LiveSet.from_result(number, live.result(review.setup))
    journal.end_set(finished)
    return finished, events


def lines(path: Path) -> list[dict[str, Any]]:
    return read_journal(path).lines


def test_sets_and_sides_become_one_valid_session(tmp_path: Path) -> None:
    """Two sets of a one-sided exercise, one per side: every rep with its set, a summary per set,
    the session's totals, and the journal gone once session.json is on disk."""
    spec = find_spec("clamshell")
    checkin = CheckIn(pain=2, asked=tuple(spec.checkin_red_flags()), reported=(), via="arguments",
                      answered_utc="2026-12-03T04:00:00+00:00")  # fmt: skip
    journal = SessionJournal.create(
        tmp_path / "s1", spec, checkin=checkin, patient=" p1 ", source={"camera": 0}
    )
    assert journal.path.is_file() and journal.recovered == []
    done = []
    clock = 0
    for number, side in ((1, "right"), (2, "left")):
        track, truth = clamshell_front_view(side=side, roll_rep=number)
        finished, events = run_set(journal, spec, track, number, side, clock)
        done.append(finished)
        clock += int(track.t_ms[-1]) + 60_000
        assert len(events) == len(finished.reps) == len(truth.rep_frames)
    # what the journal holds on disk, line by line: start, one line per event, end, per set
    kinds = [(line["type"], line["set"]) for line in lines(journal.path)]
    assert kinds == [("set_start", 1)] + [("rep", 1)] * 6 + [("set_end", 1), ("set_start", 2)] + [
        ("rep", 2)
    ] * 6 + [("set_end", 2)]

    out = journal.finalize()
    assert out == tmp_path / "s1" / "session.json" and not journal.path.exists()
    doc = json.loads(out.read_text(encoding="utf-8"))
    validate_session(doc)
    assert doc["schema_version"] == SESSION_SCHEMA_VERSION == "1.5"
    assert (doc["mode"], doc["interrupted"], doc["recorded"], doc["patient"]) == ("live", False, False, "p1")
    assert doc["session_id"] == journal.session_id and doc["recorded_utc"] == journal.started_utc
    assert doc["checkin"] == checkin.to_session()
    assert doc["side"] is None  # both sides were worked: each set says its own
    assert [(s["set"], s["side"], s["provisional"]) for s in doc["sets"]] == [
        (1, "right", False),
        (2, "left", False),
    ]
    # every rep is the set's final verdict, tagged with its set
    for finished in done:
        mine = [r for r in doc["reps"] if r["set"] == finished.number]
        assert [r["number"] for r in mine] == [r.number for r in finished.reps]
        assert [r["score"] for r in mine] == [r.score for r in finished.reps]
        entry = doc["sets"][finished.number - 1]
        assert entry["summary"]["done"] == finished.summary.done
        assert entry["frames"] == finished.frames > 0
    total = doc["summary"]
    assert total["done"] == sum(s.summary.done for s in done) == 12
    assert total["prescribed"] == spec.prescription.reps  # per set, as in review
    assert total["failures"] == {"pelvis_stacked": 2}
    assert doc["source"]["frames"] == sum(s.frames for s in done)


def test_live_document_is_the_review_document_plus_live_fields(tmp_path: Path) -> None:
    """The same keys as siform analyze writes, and the live ones; a review document has none of them."""
    spec = find_spec("glute_bridge")
    track, _ = bridge_side_view()
    journal = SessionJournal.create(tmp_path, spec, source={"camera": 0})
    run_set(journal, spec, track, 1, None, 0)
    live = json.loads(journal.finalize().read_text(encoding="utf-8"))
    review = build_session(
        analyze_track(track, spec), spec, mode="review", source={"file": "a.mp4"}, model_path=None
    )
    validate_session(review)
    assert set(live) - set(review) == {"recorded_utc", "interrupted", "recorded", "checkin", "sets"}
    assert set(review) <= set(live)
    assert "set" not in review["reps"][0] and review["session_id"] != live["session_id"]
    # the review of the same frames counts the same reps (live smoothing is causal; see H1's parity test)
    assert [r["number"] for r in live["reps"]] == [r["number"] for r in review["reps"]]
    with pytest.raises(InvalidSessionError):  # live-only fields never appear in a review
        validate_session({**review, "sets": live["sets"]})


def test_a_stopped_checkin_is_a_valid_session_without_sets(tmp_path: Path) -> None:
    spec = find_spec("piriformis_stretch")
    flags = spec.checkin_red_flags()
    checkin = CheckIn(
        pain=6, asked=tuple(flags), reported=("saddle_numbness",), via="arguments",
        answered_utc="2026-12-03T04:00:00+00:00", stop_reason="Stop: ...", urgent=True,
    )  # fmt: skip
    journal = SessionJournal.create(tmp_path, spec, checkin=checkin)
    doc = json.loads(journal.finalize().read_text(encoding="utf-8"))
    validate_session(doc)
    assert doc["sets"] == [] and doc["reps"] == [] and doc["summary"] is None
    assert doc["checkin"]["reported"] == ["saddle_numbness"] and doc["checkin"]["urgent"] is True


def start_child(folder: Path, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(folder), mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip


def read_until(child: subprocess.Popen[str], stop: Any, timeout_s: float = 240) -> list[str]:
    got = []
    deadline = time.monotonic() + timeout_s
    assert child.stdout is not None
    while time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            raise AssertionError(
                f"child ended early: {child.wait()} {child.stderr.read() if child.stderr else ''}"
            )
        got.append(line.strip())
        if stop(got):
            return got
    raise AssertionError(f"child did not get there in {timeout_s} s: {got[-3:]}")


def kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    if child.stdout:
        child.stdout.close()
    if child.stderr:
        child.stderr.close()


def acked(got: list[str]) -> list[tuple[int, int, int]]:
    return [(int(a), int(b), int(c)) for _, a, b, c in (g.split() for g in got if g.startswith("ACK"))]


def journalled(path: Path) -> list[tuple[int, int, int]]:
    return [
        (line["set"], line["record"]["number"], line["record"]["start_ms"])
        for line in lines(path)
        if line["type"] == "rep"
    ]


def test_kill_9_mid_set_loses_no_completed_rep(tmp_path: Path) -> None:
    """SIGKILL while the child appends as fast as it can: every rep whose append had returned is
    in the journal (at most one more that was being written), and recovery gives a valid session
    holding all of them, marked interrupted."""
    folder = tmp_path / "session"
    child = start_child(folder, "loop")
    got = read_until(child, lambda g: sum(x.startswith("ACK 2") for x in g) >= 40)
    kill(child)
    acks = acked(got)
    on_disk = journalled(folder / JOURNAL_FILE)
    assert on_disk[: len(acks)] == acks
    assert len(on_disk) - len(acks) <= 1  # the one being written when the signal came, if it made it
    contents = read_journal(folder / JOURNAL_FILE)
    assert contents.damaged == 0

    (out,) = recover_journals(tmp_path)
    assert out == folder / "session.json" and not (folder / JOURNAL_FILE).exists()
    doc = json.loads(out.read_text(encoding="utf-8"))
    validate_session(doc)
    assert doc["interrupted"] is True and doc["mode"] == "live" and doc["patient"] == "p1"
    # set 1 ended: its final verdicts; set 2 did not: every journalled rep, as judged live
    set1 = [r for r in doc["reps"] if r["set"] == 1]
    set2 = [r for r in doc["reps"] if r["set"] == 2]
    assert [r["number"] for r in set1] == [1, 2, 3, 4, 5] and not any(r.get("provisional") for r in set1)
    assert [(2, r["number"], r["start_ms"]) for r in set2] == [x for x in on_disk if x[0] == 2]
    assert all(r["provisional"] for r in set2)
    assert [(s["set"], s["provisional"]) for s in doc["sets"]] == [(1, False), (2, True)]
    assert doc["sets"][1]["frames"] is None
    assert doc["source"]["frames"] == doc["sets"][0]["frames"] > 0
    assert any("leave out set 2" in n for n in doc["source"]["notes"])
    assert doc["sets"][1]["summary"]["done"] == sum(1 for r in set2 if r["number"])


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    """A line cut off by the kill (half a record, no newline) is left out; the lines before it stay."""
    folder = tmp_path / "session"
    child = start_child(folder, "torn")
    got = read_until(child, lambda g: g[-1] == "TORN")
    # while the session runs, its journal is its own: nothing recovers it from under it
    assert recover_journals(tmp_path) == [] and (folder / JOURNAL_FILE).is_file()
    kill(child)
    raw = (folder / JOURNAL_FILE).read_bytes()
    assert not raw.endswith(b"\n")  # the torn line really is there
    contents = read_journal(folder / JOURNAL_FILE)
    assert contents.torn and contents.damaged == 0
    assert journalled(folder / JOURNAL_FILE) == acked(got)
    out = recover_journal(folder / JOURNAL_FILE)
    assert out is not None
    doc = json.loads(out.read_text(encoding="utf-8"))
    validate_session(doc)
    assert len(doc["reps"]) == len(acked(got)) >= 9
    assert any("cut off" in n for n in doc["source"]["notes"])


def test_next_session_in_the_folder_recovers_the_killed_one_beside_it(tmp_path: Path) -> None:
    spec = find_spec("glute_bridge")
    folder = tmp_path / "today"
    old = SessionJournal.create(folder, spec, patient="p1")
    track, _ = bridge_side_view(reps=3)
    run_set(old, spec, track, 1, None, 0)
    old.close()  # the process dies here: no finalize
    new = SessionJournal.create(folder, spec, patient="p1")
    (recovered,) = new.recovered
    assert recovered.parent != folder and recovered.parent.name.startswith("today-interrupted-")
    assert recovered.parent.parent == tmp_path  # a sibling, so the trend of the next analysis sees it
    doc = json.loads(recovered.read_text(encoding="utf-8"))
    validate_session(doc)
    assert doc["session_id"] == old.session_id != new.session_id
    assert doc["interrupted"] and [r["number"] for r in doc["reps"]] == [1, 2, 3]
    assert [line["type"] for line in lines(new.path)] == []  # the new journal: just its header
    new.close()


def test_a_journal_whose_session_was_written_is_only_removed(tmp_path: Path) -> None:
    """A crash between writing session.json and removing the journal: nothing is written twice."""
    spec = find_spec("glute_bridge")
    journal = SessionJournal.create(tmp_path, spec)
    run_set(journal, spec, bridge_side_view(reps=2)[0], 1, None, 0)
    saved = (tmp_path / JOURNAL_FILE).read_bytes()
    out = journal.finalize()
    before = out.read_bytes()
    (tmp_path / JOURNAL_FILE).write_bytes(saved)
    assert recover_journals(tmp_path) == [out]
    assert out.read_bytes() == before and not (tmp_path / JOURNAL_FILE).exists()


def test_an_unreadable_journal_is_set_aside_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / JOURNAL_FILE).write_text('{"not": "a journal"}\n', encoding="utf-8")
    assert recover_journals(tmp_path) == []
    assert (tmp_path / (JOURNAL_FILE + ".unreadable")).is_file()
    assert any("cannot be recovered" in r.getMessage() for r in caplog.records)
    spec = find_spec("glute_bridge")
    SessionJournal.create(tmp_path, spec).close()  # and it does not block the next session


def test_every_spec_survives_the_journal_header() -> None:
    """Recovery rebuilds the exact spec the session ran under from the header, for every exercise."""
    for spec in load_all().values():
        again = ExerciseSpec.model_validate_json(json.dumps(spec.model_dump(mode="json")))
        assert again == spec and spec_digest(again) == spec_digest(spec)
    a, b = find_spec("glute_bridge"), find_spec("clamshell")
    assert spec_digest(a) != spec_digest(b)


def test_a_folder_that_cannot_hold_the_journal_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(OutputError) as err:
        SessionJournal.create(tmp_path / "file", find_spec("glute_bridge"))
    assert "\n" not in str(err.value) and "--out" in str(err.value)


def test_reading_and_checking_sessions_needs_no_opencv() -> None:
    """The therapist server validates uploads with siform.session: neither OpenCV nor MediaPipe may
    come with it (issue 14 point 7); the check-in is asked before the camera opens, without them too."""
    probe = (
        "import sys, siform.session, siform.live.checkin; "
        "print(','.join(m for m in ('cv2', 'mediapipe') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_both_sides_of_one_set_share_its_number_and_survive_a_crash(tmp_path: Path) -> None:
    """The live app numbers a one-sided exercise's set once for both sides: the journal keeps them
    apart by side, also when the second side's start did not know its side yet."""
    spec = find_spec("clamshell")
    journal = SessionJournal.create(tmp_path, spec)
    left, _ = clamshell_front_view(side="left")
    finished, _ = run_set(journal, spec, left, 1, "left", 0)
    right, _ = clamshell_front_view(side="right", roll_rep=None)
    review = analyze_track(right, spec, "right")
    assert review.view is not None
    live = LiveSession(spec, right.width, right.height, review.view, near_side(right.image), "right")
    clock = int(left.t_ms[-1]) + 30_000
    journal.start_set(1, None, view=review.view, setup=review.setup, t_ms=clock)  # side not known yet
    appended = 0
    for i in range(len(right)):
        event = live.update(PoseFrame(i, clock + int(right.t_ms[i]), True, right.image[i], right.world[i]))
        if event is not None and appended < 3:
            journal.append(event, set_number=1)
            appended += 1
    journal.close()  # killed before the right side's set ended (the SIGKILL tests above do it for real)
    (out,) = recover_journals(tmp_path)
    doc = json.loads(out.read_text(encoding="utf-8"))
    validate_session(doc)
    assert [(s["set"], s["side"], s["provisional"]) for s in doc["sets"]] == [
        (1, "left", False),
        (1, "right", True),
    ]
    assert [(r["set"], r["side"], r["number"]) for r in doc["reps"]] == [
        (1, "left", n) for n in range(1, 7)
    ] + [(1, "right", n) for n in range(1, 4)]
    assert doc["side"] is None and doc["sets"][0]["summary"]["done"] == finished.summary.done == 6


def test_a_new_session_recovers_killed_ones_in_the_folders_beside_it(tmp_path: Path) -> None:
    """The live app's default layout is one folder per run (out/live-<exercise>-<time>): the next
    run recovers a killed run's journal in its own folder, in place."""
    spec = find_spec("glute_bridge")
    old = SessionJournal.create(tmp_path / "live-1", spec, patient="p1")
    run_set(old, spec, bridge_side_view(reps=2)[0], 1, None, 0)
    old.close()  # killed: the lock goes with the process, the journal stays
    new = SessionJournal.create(tmp_path / "live-2", spec, patient="p1")
    assert new.recovered == [(tmp_path / "live-1" / "session.json").resolve()]
    doc = json.loads(new.recovered[0].read_text(encoding="utf-8"))
    validate_session(doc)
    assert doc["interrupted"] and doc["session_id"] == old.session_id
    # and the running session beside it is left alone by a third one
    third = SessionJournal.create(tmp_path / "live-3", spec)
    assert third.recovered == [] and new.path.is_file()
    new.close()
    third.close()


@pytest.mark.slow
def test_siform_live_killed_mid_set_keeps_every_rep_it_announced(tmp_path: Path) -> None:
    """The acceptance test of issue 13 point 4 on the real command: ``siform live`` on a sample clip
    (real MediaPipe poses, paced like a camera) is sent SIGKILL once it has announced two reps;
    every rep or attempt it announced (it announces after journalling) is in the session recovered
    by the next run."""
    clip = Path(__file__).resolve().parents[2] / "sample_videos" / "bridge_raised_side.mp4"
    argv = [sys.executable, "-m", "siform", "live", "glute_bridge", "--source", str(clip), "--no-window",
            "--pace", "realtime", "--pain", "0", "--red-flags", "none", "--mute", "--patient", "p1",
            "--out", str(tmp_path / "run1")]  # fmt: skip
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    got = read_until(child, lambda g: sum(line.startswith("Set 1: Rep") for line in g) >= 2, timeout_s=600)
    kill(child)
    announced = [line for line in got if line.startswith("Set 1: ")]
    assert (tmp_path / "run1" / JOURNAL_FILE).is_file() and not (tmp_path / "run1" / "session.json").exists()

    # the next session (its own folder beside the killed one) recovers it
    spec = find_spec("glute_bridge")
    SessionJournal.create(tmp_path / "run2", spec).close()
    doc = json.loads((tmp_path / "run1" / "session.json").read_text(encoding="utf-8"))
    validate_session(doc)
    assert doc["interrupted"] and doc["patient"] == "p1" and doc["checkin"]["pain"] == 0
    assert len(doc["reps"]) >= len(announced)  # at most one more: journalled, killed before the print
    counted = [
        int(line.split("Rep ")[1].split(":")[0]) for line in announced if line.startswith("Set 1: Rep")
    ]
    assert [r["number"] for r in doc["reps"] if r["number"]][: len(counted)] == counted
    assert doc["source"]["file"] == clip.name and doc["recorded"] is False
