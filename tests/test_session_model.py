"""session.json as one definition: the pydantic models of siform.session_model build, validate and
generate the JSON Schema; documents keep their fields and key order; older formats stay valid; the
per-frame series the report's charts need travels in the document.

Documents come from real analyses of synthetic tracks (review) and real LiveSession sets (live)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from factories_lying import clamshell_front_view
from factories_standing import isometric_squat_side_view
from siform.pipeline import LiveSession, SessionResult, analyze_track, near_side
from siform.pose import PoseFrame
from siform.report import render_report, report_charts
from siform.results import SESSION_SCHEMA_VERSION
from siform.session import (
    SERIES_DECIMALS,
    InvalidSessionError,
    LiveSet,
    build_live_session,
    build_session,
    chart_signals,
    series_arrays,
    session_text,
    validate_session,
    write_session,
)
from siform.session_model import ADDED_IN, LIVE_ONLY, SessionDoc, json_schema, schema_path, schema_text
from siform.specs.load import find_spec

from factories import bridge_side_view

SOURCE = {"file": "clip.mp4", "sha256": "0" * 64, "width": 640, "height": 480, "fps": 30.0}
SID = "0b7f2a38-1c55-4e7e-9a0b-0e1d5f3b7c11"
REVIEW_KEYS = [
    "schema_version", "kind", "created_utc", "session_id", "recorded_utc", "mode", "software", "source",
    "exercise", "side", "patient", "view", "prescription", "setup", "counting", "checks", "unscored_checks",
    "reps", "holds", "summary", "recognition", "series",
]  # fmt: skip
LIVE_KEYS = [
    "schema_version", "kind", "created_utc", "session_id", "recorded_utc", "mode", "interrupted", "recorded",
    "software", "source", "exercise", "side", "patient", "view", "prescription", "setup", "checkin",
    "counting", "checks", "unscored_checks", "reps", "holds", "sets", "summary", "series",
]  # fmt: skip
"""Top-level keys in the order siform wrote them before the models (format 1.4), then ``series``."""


@pytest.fixture(scope="module")
def bridge() -> tuple[dict[str, Any], SessionResult]:
    spec = find_spec("glute_bridge")
    track, _ = bridge_side_view(noise_px=1.0, partial_rep=4)
    result = analyze_track(track, spec)
    recognition = {"exercise": "glute_bridge", "probability": 0.91, "runner_up": None, "min_probability": 0.5}
    doc = build_session(
        result, spec, mode="review", source=SOURCE, model_path=None, patient="p1", session_id=SID,
        recorded_utc="2026-12-01T10:00:00+00:00", recognition=recognition,
        unusable=[{"start_s": 0.0, "end_s": 1.5, "reason": "nobody in view"}],
    )  # fmt: skip
    return doc, result


@pytest.fixture(scope="module")
def squat() -> tuple[dict[str, Any], SessionResult]:
    spec = find_spec("isometric_squat")
    track, _ = isometric_squat_side_view()
    result = analyze_track(track, spec)
    return build_session(result, spec, mode="review", source=SOURCE, model_path=None), result


@pytest.fixture(scope="module")
def live_sets() -> list[LiveSet]:
    """Two real live sets of a one-sided exercise, a minute's rest apart on the session clock."""
    spec = find_spec("clamshell")
    sets, clock = [], 0
    for number, side in ((1, "right"), (2, "left")):
        track, _ = clamshell_front_view(side=side, roll_rep=number)
        review = analyze_track(track, spec, side)
        live = LiveSession(spec, track.width, track.height, review.view, near_side(track.image), side)
        for i in range(len(track)):
            t = clock + int(track.t_ms[i])
            live.update(PoseFrame(i, t, bool(track.found[i]), track.image[i], track.world[i]))
        sets.append(LiveSet.from_result(number, live.result(review.setup)))
        clock += int(track.t_ms[-1]) + 60_000
    return sets


def live_doc(sets: list[LiveSet], **kw: Any) -> dict[str, Any]:
    checkin = {"pain": 2, "asked": [{"id": "leg_numbness", "question": "Numb?", "urgent": False}],
               "reported": [], "via": "arguments", "answered_utc": "2026-12-03T04:00:00+00:00",
               "stop_reason": None, "urgent": False}  # fmt: skip
    return build_live_session(
        sets, find_spec("clamshell"), source={"camera": 0, "width": 640, "height": 480, "fps": 30.0},
        model_path=None, session_id=SID, recorded_utc="2026-12-03T04:00:00+00:00", checkin=checkin, **kw,
    )  # fmt: skip


# -- one definition ------------------------------------------------------------------------------------


def test_the_schema_file_is_what_the_models_generate() -> None:
    """Fails when a model changed and ``python -m siform.session_model --write`` was not run."""
    assert schema_path().read_text(encoding="utf-8") == schema_text(), (
        "src/siform/schemas/session.schema.json is out of date: run python -m siform.session_model --write"
    )
    check = [sys.executable, "-m", "siform.session_model", "--check"]
    done = subprocess.run(check, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    schema = json_schema()
    assert schema["$id"] == f"siform.session/{SESSION_SCHEMA_VERSION}"
    assert schema["properties"]["schema_version"]["enum"] == ["1.3", "1.4", "1.5"]
    assert schema["additionalProperties"] is False


def test_documents_keep_their_fields_and_key_order(
    bridge: tuple[dict[str, Any], SessionResult], live_sets: list[LiveSet]
) -> None:
    doc = bridge[0]
    assert list(doc) == REVIEW_KEYS and doc["schema_version"] == "1.5"
    live = live_doc(live_sets)
    assert list(live) == LIVE_KEYS
    assert list(live["reps"][0])[-3:] == ["score", "duration_s", "set"]  # provisional only when true
    assert list(live["source"]) == ["camera", "width", "height", "fps", "frames", "frames_with_pose",
                                    "duration_s", "unusable", "notes"]  # fmt: skip
    assert list(doc["source"]) == ["file", "sha256", "width", "height", "fps", "frames", "frames_with_pose",
                                   "duration_s", "unusable", "notes"]  # fmt: skip
    assert doc["reps"][0]["checks"][0]["provisional"] is False
    for d in (doc, live):  # the model reads back what it wrote, byte for byte
        validate_session(d)
        assert json.dumps(SessionDoc.model_validate(d).to_json()) == json.dumps(d)
    provisional = replace(live_sets[1], number=3, provisional=True, frames=None, summary=None, t_ms=None)
    cut = live_doc([*live_sets, provisional], interrupted=True)
    assert [r.get("provisional") for r in cut["reps"] if r["set"] == 3] == [True] * len(provisional.reps)
    assert "provisional" not in cut["reps"][0]


def test_older_formats_stay_valid_and_keep_their_rules(
    bridge: tuple[dict[str, Any], SessionResult], live_sets: list[LiveSet]
) -> None:
    doc, live = bridge[0], live_doc(live_sets)
    v14 = {k: v for k, v in doc.items() if k != "series"} | {"schema_version": "1.4"}
    validate_session(v14)
    added = [n for names in ADDED_IN.values() for n in names]
    v13 = {k: v for k, v in doc.items() if k not in added} | {"schema_version": "1.3"}
    validate_session(v13)
    cases = [
        ({**v13, "session_id": SID}, ("session_id",), "not allowed in a 1.3 document (added in 1.4)"),
        ({**v14, "series": doc["series"]}, ("series",), "not allowed in a 1.4 document (added in 1.5)"),
        ({k: v for k, v in doc.items() if k != "session_id"}, ("session_id",), "required in a 1.5 document"),
        ({k: v for k, v in live.items() if k != "sets"}, ("sets",), "required in a 1.5 live document"),
        ({**doc, "sets": live["sets"]}, ("sets",), "not allowed in a review document (live only)"),
    ]
    for bad, path, message in cases:
        with pytest.raises(InvalidSessionError) as err:
            validate_session(bad)
        assert (err.value.path, err.value.message) == (path, message)
    assert set(LIVE_ONLY) <= set(live) and not set(LIVE_ONLY) & set(doc)


def mutations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The document with one field deleted, retyped, negated or joined by an unknown key, everywhere
    (the first item of each list)."""
    out = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node[:1]))
        for key, value in items:
            for kind, new in (("del", None), ("str", "x"), ("float", 1.5), ("neg", -1), ("null", None),
                              ("bool", True), ("big", 101), ("obj", {})):  # fmt: skip
                if kind == "del" and not isinstance(node, dict):
                    continue
                d = copy.deepcopy(doc)
                parent = d
                for step in path:
                    parent = parent[step]
                if kind == "del":
                    del parent[key]
                else:
                    parent[key] = new
                out.append((f"{'/'.join(map(str, (*path, key)))} {kind}", d))
            if isinstance(value, dict | list) and key != "series":
                walk(value, (*path, key))
        if isinstance(node, dict):
            d = copy.deepcopy(doc)
            parent = d
            for step in path:
                parent = parent[step]
            parent["zz_unknown"] = 1
            out.append((f"{'/'.join(map(str, path))} extra", d))

    walk(doc, ())
    return out


def test_the_generated_schema_and_the_models_agree(
    bridge: tuple[dict[str, Any], SessionResult],
    squat: tuple[dict[str, Any], SessionResult],
    live_sets: list[LiveSet],
) -> None:
    """The schema other tools validate with accepts and refuses what validate_session does, over
    thousands of broken documents (the series' lengths aside, which JSON Schema cannot compare)."""
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    jsonschema.Draft202012Validator.check_schema(json_schema())
    refused = 0
    for whole in (bridge[0], squat[0], live_doc(live_sets)):
        series = whole["series"]  # three frames of it: the lists' lengths are checked above
        doc = whole | {
            "series": {
                "t_ms": series["t_ms"][:3],
                "signals": {n: v[:3] for n, v in series["signals"].items()},
            }
        }
        for what, bad in mutations(doc):
            try:
                validate_session(bad)
                ours = True
            except InvalidSessionError:
                ours = False
                refused += 1
            assert validator.is_valid(bad) == ours, what
    assert refused > 1000


def test_the_error_names_the_first_bad_field(bridge: tuple[dict[str, Any], SessionResult]) -> None:
    doc = bridge[0]
    cases: list[tuple[Any, tuple[Any, ...], str]] = []
    d = copy.deepcopy(doc)
    d["reps"][0]["score"] = "full marks"
    cases.append((d, ("reps", 0, "score"), "number"))
    d = copy.deepcopy(doc)
    d["counting"]["rest"] = "low"  # inside a union: the path is the document's, not pydantic's
    cases.append((d, ("counting", "rest"), "number"))
    d = copy.deepcopy(doc)
    del d["reps"][1]["checks"][0]["unit"]
    cases.append((d, ("reps", 1, "checks", 0, "unit"), "required"))
    cases.append(({**doc, "video_base64": "AAAA"}, ("video_base64",), "no such field"))
    cases.append(({**doc, "session_id": "not-a-uuid"}, ("session_id",), "pattern"))
    d = copy.deepcopy(doc)
    name = next(iter(d["series"]["signals"]))
    d["series"]["signals"][name].pop()
    cases.append((d, ("series", "signals", name), "values for"))
    cases.append(({**doc, "patient": ""}, ("patient",), "at least 1"))
    cases.append(([1, 2], (), "dictionary"))
    for bad, path, words in cases:
        with pytest.raises(InvalidSessionError) as err:
            validate_session(bad)
        assert err.value.path == path, (err.value.path, path)
        assert words in err.value.message, err.value.message
        assert str(err.value).startswith(err.value.where + ": ")


# -- the per-frame series ------------------------------------------------------------------------------


def test_the_series_holds_the_charted_signals_rounded(
    bridge: tuple[dict[str, Any], SessionResult], squat: tuple[dict[str, Any], SessionResult]
) -> None:
    for doc, result in (bridge, squat):
        spec = find_spec(doc["exercise"]["id"])
        series = doc["series"]
        unscored = [u["check_id"] for u in doc["unscored_checks"]]
        assert list(series["signals"]) == chart_signals(spec, unscored)
        assert series["t_ms"] == result.t_ms.tolist()
        for name, values in series["signals"].items():
            step = 10.0 ** -SERIES_DECIMALS[spec.signals[name].unit]
            want = np.asarray(result.signals[name], dtype=np.float64)
            got = np.array(values, dtype=np.float64)
            assert np.array_equal(np.isnan(got), ~np.isfinite(want))
            assert np.nanmax(np.abs(got - want)) <= step / 2 + 1e-12
        t_ms, signals = series_arrays(doc) or (None, {})
        assert t_ms is not None and t_ms.dtype == np.int64 and list(signals) == list(series["signals"])
    assert series_arrays({k: v for k, v in bridge[0].items() if k != "series"}) is None


def without_ids(html: str) -> str:
    """Chart SVG with matplotlib's per-chart id prefixes (a page counter) taken out."""
    return re.sub(r"\bc\d+-", "", html)


def charts_of(html: str) -> str:
    return without_ids(html[html.index("<svg") : html.rindex("</svg>")])


def test_the_report_draws_the_documents_charts(
    bridge: tuple[dict[str, Any], SessionResult], squat: tuple[dict[str, Any], SessionResult]
) -> None:
    """The server's call (no arrays) draws from the document's series the charts the local report
    draws from the analysis: the same charts, titles and captions, and the same SVG as the analysis'
    arrays drawn at the series' rounding."""
    for doc, result in (bridge, squat):
        spec = find_spec(doc["exercise"]["id"])
        served = render_report(doc, np.zeros(0, dtype=np.int64), {}, {}, [])
        local = render_report(doc, result.t_ms, result.signals, {}, [])
        labels = re.compile(r'aria-label="([^"]*)"|<p class=.muted.>(.*?)</p>', re.S)
        assert labels.findall(served) == labels.findall(local)
        assert served.count("<svg") == local.count("<svg") > len(doc["checks"]) - len(doc["unscored_checks"])
        rounded = {
            n: np.round(np.asarray(v, dtype=np.float64), SERIES_DECIMALS[spec.signals[n].unit])
            for n, v in result.signals.items()
            if n in doc["series"]["signals"]
        }
        assert charts_of(served) == charts_of(str(report_charts(doc, result.t_ms, rounded)))
        # everything around the charts reads the same too
        assert without_ids(re.sub(r"<svg.*?</svg>", "", served, flags=re.S)) == without_ids(
            re.sub(r"<svg.*?</svg>", "", local, flags=re.S)
        )
    old = {k: v for k, v in bridge[0].items() if k != "series"}
    assert "<svg" not in render_report(old, np.zeros(0, dtype=np.int64), {}, {}, []).split("Progress")[0]


def test_a_live_series_runs_across_sets_in_time_order(live_sets: list[LiveSet]) -> None:
    doc = live_doc(list(reversed(live_sets)))
    series = doc["series"]
    first, second = (s.t_ms for s in live_sets)
    assert first is not None and second is not None
    gap = (int(first[-1]) + int(second[0])) // 2
    assert series["t_ms"] == [*first.tolist(), gap, *second.tolist()]
    k = len(first)
    spec = find_spec("clamshell")
    for name, values in series["signals"].items():
        assert values[k] is None  # the rest: the chart's line breaks there
        decimals = SERIES_DECIMALS[spec.signals[name].unit]
        for part, s in ((values[:k], live_sets[0]), (values[k + 1 :], live_sets[1])):
            want = np.round(np.asarray(s.signals[name], dtype=np.float64), decimals)
            assert part == [x if np.isfinite(x) else None for x in want.tolist()]
    # a set recovered from the journal has no frames to add; with none at all there is no series
    recovered = [replace(s, t_ms=None, signals={}) for s in live_sets]
    assert "series" not in live_doc(recovered)
    served = render_report(doc, np.zeros(0, dtype=np.int64), {}, {}, [])
    charts = {
        re.search(r'aria-label="([^"]*)"', svg).group(1): svg  # type: ignore[union-attr]
        for svg in re.findall(r"<svg.*?</svg>", served, flags=re.S)
    }
    assert len(charts) == 1 + len(doc["checks"])  # how the reps were found, then one per check
    # each set numbers its reps from 1: a rep failing in one set marks only itself, not its namesake
    for check in doc["checks"]:
        failing = {
            (r["set"], r["number"])
            for r in doc["reps"]
            for c in r["checks"]
            if c["id"] == check["id"] and c["scored"] and c["passed"] is False
        }
        assert charts[f"{check['name']} over time"].count("✗") == len(failing), check["id"]
    assert any(c.count("✗") for c in charts.values())


def test_session_text_keeps_the_series_on_one_line_per_list(
    bridge: tuple[dict[str, Any], SessionResult], tmp_path: Path
) -> None:
    doc = bridge[0]
    path = tmp_path / "session.json"
    write_session(doc, path)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == doc and text == session_text(doc)
    assert len(text) < 0.75 * len(json.dumps(doc, indent=1, ensure_ascii=False))
    lines = text.splitlines()
    tail = lines[lines.index(' "series": {') :]  # the t_ms line, one line per signal, the braces
    assert len(tail) == len(doc["series"]["signals"]) + 6, tail[:2]
    # a patient's name cannot forge the series: quotes in strings are escaped
    forged = {**doc, "patient": '"series": "\u0000series\u0000"'}
    assert json.loads(session_text(forged)) == forged
    plain = {k: v for k, v in doc.items() if k != "series"}
    assert session_text(plain) == json.dumps(plain, indent=1, ensure_ascii=False) + "\n"
