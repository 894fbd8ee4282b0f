"""Earlier sessions for the trend: one patient, one exercise, and never a traceback from a sibling
folder's broken session.json (real files on disk, real analysed sessions)."""

from __future__ import annotations

import copy
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from siform.history import earlier_sessions, read_session, same_patient
from siform.pipeline import analyze_track
from siform.results import SESSION_SCHEMA_VERSION
from siform.session import InvalidSessionError, build_session, validate_session, write_session
from siform.specs.load import load_spec

from factories import bridge_side_view

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def session() -> dict[str, Any]:
    spec = load_spec(ROOT / "exercise_specs" / "glute_bridge.toml")
    track, _ = bridge_side_view()
    result = analyze_track(track, spec)
    doc = build_session(result, spec, mode="review", model_path=None, source={"file": "a.mp4"}, patient="p1")
    validate_session(doc)
    return doc


def put(folder: Path, name: str, doc: dict[str, Any], **changes: Any) -> Path:
    (folder / name).mkdir(parents=True, exist_ok=True)
    path = folder / name / "session.json"
    write_session({**copy.deepcopy(doc), **changes}, path)
    return path


def test_session_records_its_patient(session: dict[str, Any]) -> None:
    assert session["schema_version"] == SESSION_SCHEMA_VERSION == "1.5"
    assert session["patient"] == "p1"
    # no patient is null; an empty name is not a patient, and a name is a string
    validate_session({**session, "patient": None})
    for bad in ("", 7):
        with pytest.raises(InvalidSessionError) as err:
            validate_session({**session, "patient": bad})
        assert err.value.path == ("patient",)


def test_same_patient_and_exercise_only(session: dict[str, Any], tmp_path: Path) -> None:
    put(tmp_path, "a", session, created_utc="2026-05-01T09:00:00+00:00")
    put(tmp_path, "b", session, created_utc="2026-05-08T09:00:00+00:00", patient="  P1 ")  # same person
    put(tmp_path, "c", session, created_utc="2026-05-09T09:00:00+00:00", patient="p2")
    put(tmp_path, "d", session, created_utc="2026-05-10T09:00:00+00:00", patient=None)
    other = copy.deepcopy(session)
    other["exercise"]["id"] = "side_plank"
    put(tmp_path, "e", other, created_utc="2026-05-11T09:00:00+00:00")
    put(tmp_path, "f", session, created_utc="2026-07-01T09:00:00+00:00")  # after this session
    current = put(tmp_path, "g", session, created_utc="2026-05-12T09:00:00+00:00")  # being rewritten

    found = earlier_sessions(tmp_path, patient="p1", exercise="glute_bridge", exclude=current, before=NOW)
    assert sorted(d["created_utc"][:10] for d in found) == ["2026-05-01", "2026-05-08"]
    assert earlier_sessions(tmp_path, patient="p2", exercise="glute_bridge", before=NOW)[0]["patient"] == "p2"
    assert earlier_sessions(tmp_path, patient="p1", exercise="side_plank", before=NOW)[0]["exercise"] == {
        **other["exercise"]
    }
    # no patient, no trend: nothing is even read
    assert earlier_sessions(tmp_path, patient=None, exercise="glute_bridge", before=NOW) == []
    assert earlier_sessions(tmp_path / "missing", patient="p1", exercise="glute_bridge") == []
    assert same_patient("Anna  Berg", "anna berg") and not same_patient(None, None)
    assert not same_patient("", "") and not same_patient("p1", "p12")


def test_malformed_siblings_are_skipped_with_one_warning_each(
    session: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = put(tmp_path, "good", session, created_utc="2026-05-01T09:00:00+00:00")
    broken: dict[str, bytes | str] = {
        "not_json": "{ this is not json",
        "truncated": json.dumps(session)[:500],
        "not_an_object": "[1, 2, 3]",
        "null": "null",
        "wrong_types": json.dumps({**session, "exercise": "glute_bridge"}),
        "missing_field": json.dumps({k: v for k, v in session.items() if k != "checks"}),
        "bad_patient_type": json.dumps({**session, "patient": ["p1"]}),
        "extra_field": json.dumps({**session, "script": "<script>alert(1)</script>"}),
        "bad_date": json.dumps({**session, "created_utc": "yesterday"}),
        "not_utf8": b"\xff\xfe\x00garbage",
        "deep": "[" * 100_000 + "]" * 100_000,
        "newer_format": json.dumps({**session, "schema_version": "1.99"}),
    }
    for name, content in broken.items():
        (tmp_path / name).mkdir()
        path = tmp_path / name / "session.json"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    unreadable = tmp_path / "unreadable" / "session.json"
    unreadable.parent.mkdir()
    unreadable.mkdir()  # a folder where the file should be: reading it fails with an OSError
    older = put(tmp_path, "older_format", session, schema_version="1.2")  # predates patients: quiet

    with caplog.at_level(logging.DEBUG, logger="siform.history"):
        found = earlier_sessions(tmp_path, patient="p1", exercise="glute_bridge", before=NOW)
    assert [d["created_utc"] for d in found] == [json.loads(good.read_text())["created_utc"]]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    named = sorted(m.split(os.sep)[-2] for m in warnings)
    assert named == sorted([*broken, "unreadable"]), warnings
    assert all("left out of the trend" in m and "\n" not in m for m in warnings)
    assert not any(str(older) in m for m in warnings)
    assert read_session(good) is not None and read_session(older) is None


def test_a_1_3_session_still_joins_the_trend(session: dict[str, Any], tmp_path: Path) -> None:
    """1.4 only added fields: a session an earlier siform wrote in 1.3 (without them) is still this
    patient's past, while a 1.3 document carrying a 1.4 field is not a 1.3 document."""
    old = {k: v for k, v in session.items() if k not in ("session_id", "recorded_utc", "series")}
    put(tmp_path, "then", old, schema_version="1.3", created_utc="2026-05-01T09:00:00+00:00")
    found = earlier_sessions(tmp_path, patient="p1", exercise="glute_bridge", before=NOW)
    assert [d["schema_version"] for d in found] == ["1.3"]
    with pytest.raises(InvalidSessionError):
        validate_session({**old, "schema_version": "1.3", "session_id": session["session_id"]})
    with pytest.raises(InvalidSessionError):  # a 1.4 document names itself
        validate_session({**old, "schema_version": "1.4"})


def test_cli_patient_option_is_checked() -> None:
    from siform.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["analyze", "v.mp4", "-e", "glute_bridge", "--patient", "  Anna B "])
    assert args.patient == "Anna B"
    assert parser.parse_args(["analyze", "v.mp4", "-e", "glute_bridge"]).patient is None
    with pytest.raises(SystemExit):
        parser.parse_args(["analyze", "v.mp4", "-e", "glute_bridge", "--patient", "  "])


@pytest.mark.slow
def test_analyze_with_a_patient_builds_the_trend_past_a_broken_sibling(
    session: dict[str, Any], tmp_path: Path, model_path: Path
) -> None:
    """``siform analyze --patient`` end to end: the earlier session of the same patient is in the
    trend, another patient's is not, and a broken sibling costs one WARNING line, not a traceback."""
    import subprocess
    import sys

    import imageio_ffmpeg

    clip = tmp_path / "bridge.mp4"  # the first two reps of a real bridge recording, to keep it short
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error",
         "-i", str(ROOT / "sample_videos/bridge_raised_side.mp4"), "-t", "6", "-an", str(clip)],
        check=True,
    )  # fmt: skip
    out = tmp_path / "out"
    put(out, "earlier", session, created_utc="2026-01-05T10:00:00+00:00")
    put(out, "someone_else", session, created_utc="2026-01-06T10:00:00+00:00", patient="p2")
    (out / "broken").mkdir()
    (out / "broken" / "session.json").write_text('{"kind": "siform.session", "exercise": 5', encoding="utf-8")

    done = subprocess.run(
        [sys.executable, "-m", "siform", "analyze", str(clip), "-e", "glute_bridge",
         "--out", str(out / "now"), "--patient", "p1", "--no-video"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1 and str(out / "broken" / "session.json") in warnings[0], done.stderr
    now = json.loads((out / "now" / "session.json").read_text(encoding="utf-8"))
    assert now["patient"] == "p1"
    report = (out / "now" / "report.html").read_text(encoding="utf-8")
    trend = report[report.index("id='trend'") :]
    assert trend.count("<tr class='row") == 2 and "2026-01-05" in trend and "2026-01-06" not in trend
