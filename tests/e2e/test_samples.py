"""Every clip in ``sample_videos/`` through the real CLI and the Python API, against its truth.

Each ``<clip>.mp4`` has a ``<clip>.truth.json`` beside it, written by ``tools/synth`` (format 2):
per frame the 0-based rep it belongs to (-1 at rest); in ``meta`` the spec id, the working side and
``rep_truth``, each rep's verdict per check from the rig's own geometry. New clips are picked up by
the glob. (``benchmarks/accuracy.py`` scores the same clips in figures: precision, recall, F1.)

``analyze`` runs once per clip and door (CLI, API) per test session; the tests read its outputs.
Where siform's verdicts disagree with the truth the case is a strict xfail whose reason gives the
measured discrepancy: it turns into a failure the day the disagreement is fixed.

Verdicts are compared with a tolerance near the limit: a judged value within
``accuracy.limit_tolerance`` of its limit (1 degree for angles; for ratios a quarter of the limit
when the check reads a change against the person's own reps, else 0.01) may turn on another
machine's MediaPipe arithmetic, so either verdict is accepted there. Everywhere else the verdict must
be the truth's.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import cv2
import pytest

from siform.session import validate_session

from conftest import ROOT, load_benchmark
from sample_runs import Runs, spec_id

pytestmark = pytest.mark.slow




acc = load_benchmark("accuracy")  # its near_limit is the one tolerance both use

CLIPS = sorted((ROOT / "sample_videos").glob("*.mp4"))
DOORS = ("cli", "api")
OUTPUTS = ("session.json", "report.html", "annotated.mp4", "frames.csv", "landmarks.trc")

KNOWN_DISCREPANCIES: dict[str, dict[str, str]] = {
    # clip stem -> test name -> what siform measures instead of the truth (benchmarks/accuracy.py).
    # Empty from 2026-12-02 (single_leg_lift_right_legdrop's went with set_baselines' exclusion) until
    # the held-out clips of 2026-12-03, scored without any change afterwards (sample_videos/splits.toml):
    "band_abduction_lying_feet": {
        "verdicts": "pelvis_level passes hold 2, a pelvis tipped 8.9 degrees (truth limit 7): MediaPipe's "
        "hip line from the feet end reads 0.75 degrees against the 5-degree limit",
    },
    "pelvic_tilt_side": {
        "verdicts": "full_range passes rep 3, a cat short by 18 degrees (39.6 degrees of head travel in the "
        "truth): siform reads 70.6 degrees of head drop range against its 60 minimum",
    },
    "pillow_squeeze_side": {
        "reps": "2 of 3 holds counted: hold 2, hips lifted 7 cm (truth limit 4), is not timed as a hold, so "
        "the fault it carries is never judged",
        "verdicts": "hips_down is not judged on hold 2 (hips lifted 7 cm, truth limit 4 cm): the hold clock "
        "did not count that hold",
    },
    "hamstring_stretch_right": {
        "verdicts": "other_leg_flat passes hold 1, the other thigh lifted 22 degrees (truth hip 154.9): "
        "siform reads the other hip at 179.7 against its 160 minimum",
    },
    "isometric_squat_side": {
        "verdicts": "knee_depth fails hold 1, a knee at 116 degrees that the truth passes: siform reads "
        "122.6",
    },
    "lying_glute_stretch_side": {
        "outputs": "the setup gate finds no view it can judge from (the crossed ankle, a gate "
        "landmark, is hidden behind the supporting thigh: visibility 0.48 against 0.5), so analyze "
        "exits 1 and writes no annotated video",
        "reps": "0 of 2 holds counted (the hold clock never ran), so hold 2's knee opened 30 degrees is "
        "not judged",
        "verdicts": "support_at_90 is not judged on hold 2 (knee opened 30 degrees): no hold was counted",
    },
    "side_plank_front_right_holdout": {
        "reps": "1 of 2 holds counted: hold 2, sagging 8 cm, is not timed",
        "verdicts": "hold 2 (sag 8 cm, body line 163) is not timed, so neither straight_line nor no_sag "
        "judges it",
    },
    "single_leg_lift_right_holdout": {
        "reps": "0 of 6 reps counted on this body (male, jitter 1.5)",
        "verdicts": "no rep counted, so the pelvic drop of 10 degrees, the 15-degree leg drop and the short "
        "lift are never judged",
    },
    "piriformis_stretch_feet": {
        "outputs": "no hold is counted, so analyze exits 1 ('No holds were found')",
        "reps": "0 of 2 holds counted from the feet end (the hold clock never ran)",
        "verdicts": "pelvis_flat is not judged on hold 2, which the truth fails: no hold was counted",
    },
    "pelvic_list_holdout": {
        "reps": "2 of 3 reps counted on this body (jitter 1.3); the counted ones' verdicts are the truth's",
    },
    # held out 2026-12-03 05:33 UTC for the two lower limits (tools/synth/README.md):
    "lying_glute_stretch_high": {
        "outputs": "no hold is counted, so analyze exits 1 ('No ... holds were found'); the gate passes "
        "from this higher camera (crossed ankle visibility 0.94)",
        "reps": "0 of 2 holds counted: the hold needs ankle_on_knee at most 0.5, and the crossed ankle reads "
        "1.47-1.57 thigh lengths from the other knee in both holds (truth 0.28; the upright thigh, the "
        "yardstick, is foreshortened towards the raised camera)",
        "verdicts": "support_at_90 is not judged on hold 2, a supporting knee bent to 66.0 degrees (limit "
        "70) that siform reads at about 62: no hold was counted",
    },
    "isometric_squat_deep": {
        "verdicts": "knee_depth passes hold 1, knees bent to 76.1 degrees (limit 80): siform reads 86.2",
    },
}


def cases(test: str) -> list[Any]:
    """One case per clip and door, a strict xfail where the clip is known to disagree with truth."""
    out = []
    for clip in CLIPS:
        reason = KNOWN_DISCREPANCIES.get(clip.stem, {}).get(test)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out += [pytest.param(clip, door, id=f"{clip.stem}-{door}", marks=marks) for door in DOORS]
    return out


def truth_reps(truth: dict[str, Any]) -> dict[int, set[int]]:
    """0-based truth rep index -> its frame indices."""
    reps: dict[int, set[int]] = {}
    for f in truth["frames"]:
        if f["rep"] >= 0:
            reps.setdefault(f["rep"], set()).add(f["frame"])
    return reps


def counted(session: dict[str, Any]) -> list[dict[str, Any]]:
    """Counted reps, or the holds of a hold exercise."""
    if session["exercise"]["kind"] == "hold":
        return list(session["holds"])
    return [r for r in session["reps"] if r["number"]]


def decoded_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"cv2 cannot open {path}"
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def test_clips_are_present() -> None:
    # An empty glob would silently skip every case below.
    assert CLIPS, "no sample videos found"
    for clip in CLIPS:
        assert clip.with_suffix(".truth.json").exists(), f"{clip.name} has no truth file"


@pytest.mark.parametrize(("clip", "door"), cases("outputs"))
def test_analyze_succeeds_and_writes_every_output(runs: Runs, clip: Path, door: str) -> None:
    run = runs.get(clip, door)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    for name in OUTPUTS:
        assert (run.out_dir / name).is_file(), f"{name} missing"
        assert (run.out_dir / name).stat().st_size > 0, f"{name} is empty"
    if door == "cli":
        assert f"Results in {run.out_dir}" in run.stdout


@pytest.mark.parametrize(("clip", "door"), cases("schema"))
def test_session_validates_and_describes_the_clip(runs: Runs, clip: Path, door: str) -> None:
    run = runs.get(clip, door)
    session = run.session
    validate_session(session)
    meta = run.truth["meta"]
    assert session["exercise"]["id"] == spec_id(run.truth)
    assert session["source"]["file"] == clip.name
    assert (session["source"]["width"], session["source"]["height"]) == (meta["width"], meta["height"])
    assert session["source"]["frames"] == len(run.truth["frames"])
    assert session["source"]["unusable"] == []


@pytest.mark.parametrize(("clip", "door"), cases("reps"))
def test_counts_the_truth_reps(runs: Runs, clip: Path, door: str) -> None:
    run = runs.get(clip, door)
    reps = counted(run.session)
    truth = truth_reps(run.truth)
    assert len(truth) == run.truth["meta"]["reps"]
    outcomes = [r["outcome"] for r in run.session["reps"]]
    assert len(reps) == len(truth), f"counted {len(reps)} of {len(truth)}; outcomes {outcomes}"
    # Counted rep k is truth rep k: their frames overlap.
    for k, rep in enumerate(reps):
        frames = set(range(rep["start_index"], rep["end_index"] + 1))
        assert frames & truth[k], f"rep {rep['number']} ({min(frames)}-{max(frames)}) misses truth rep {k}"


@pytest.mark.parametrize(("clip", "door"), cases("verdicts"))
def test_failed_checks_are_the_truths(runs: Runs, clip: Path, door: str) -> None:
    run = runs.get(clip, door)
    wrong, close = acc.verdict_mismatches(run.truth, run.session)
    assert wrong == [], f"verdicts against the truth (near a limit, accepted: {close or 'none'})"


@pytest.mark.parametrize(("clip", "door"), cases("files"))
def test_per_frame_outputs_cover_every_frame(runs: Runs, clip: Path, door: str) -> None:
    run = runs.get(clip, door)
    frames = decoded_frames(clip)
    assert decoded_frames(run.out_dir / "annotated.mp4") == frames
    with (run.out_dir / "frames.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:5] == ["frame", "t_s", "person_found", "rep", "phase"]
    assert [int(r[0]) for r in rows[1:]] == list(range(frames))
    lines = (run.out_dir / "landmarks.trc").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("PathFileType") and lines[2].split("\t")[2] == str(frames)
    data = [line for line in lines[5:] if line.strip()]
    assert [int(line.split("\t")[0]) for line in data] == list(range(1, frames + 1))
