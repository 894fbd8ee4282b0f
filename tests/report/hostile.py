"""A real analysed session whose every string is hostile, for the report's safety tests.

Specs, session files (this one and the earlier sessions of the trend) and file names are data anyone
can write; the report must show them as text. Each field gets its own tag (``F07``) followed by the
same payload: markup that closes an attribute or the SVG, a script, event handlers, Jinja syntax
(the template must never evaluate data) and TeX that matplotlib would fail to parse.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from siform.pipeline import SessionResult, analyze_track
from siform.session import build_session
from siform.specs.load import load_spec

from factories import bridge_side_view

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = (
    "\"><script>document.body.setAttribute('data-pwned','s')</script>"
    "' onload='x\" onload=\"document.body.setAttribute('data-pwned','o')\" "
    "</svg><img src=x onerror=\"document.body.setAttribute('data-pwned','i')\">"
    "{{7*7}}{% if 1 %}J{% endif %} $\\frac{$ <!-- ]]> &amp;"
)


@dataclass
class Hostile:
    doc: dict[str, Any]
    result: SessionResult
    signals: dict[str, np.ndarray]
    thumbnails: dict[tuple[int, str], bytes]
    history: list[dict[str, Any]]
    fields: dict[str, str]
    """Field name -> the hostile string put there (each unique by its tag)."""


def hostile_session(payload: str = PAYLOAD) -> Hostile:
    """``payload=""`` gives the same session with harmless strings (the tags alone), to compare with."""
    spec = load_spec(ROOT / "exercise_specs" / "glute_bridge.toml")
    track, _ = bridge_side_view()  # 5 reps, the pelvis drops in the third: one failed check
    result = analyze_track(track, spec)
    doc = build_session(
        result, spec, mode="review", model_path=None, patient="x",
        source={"file": "clip.mp4", "width": 640, "height": 480, "fps": 30.0},
    )  # fmt: skip
    fields: dict[str, str] = {}

    def h(name: str) -> str:
        fields[name] = f"F{len(fields):02d}{payload}"
        return fields[name]

    bad_id = h("check id")
    signals = {k: v for k, v in result.signals.items()}
    doc["exercise"]["name"] = h("exercise name")
    doc["patient"] = h("patient")
    doc["side"] = h("side")
    doc["created_utc"] = h("created_utc")
    doc["source"]["file"] = h("file name")
    doc["source"]["sha256"] = h("sha256")
    doc["source"]["unusable"] = [{"start_s": 0.0, "end_s": 0.5, "reason": h("unusable reason")}]
    doc["view"] = {"id": h("view id"), "measured": h("view measured")}
    doc["setup"]["ok"] = False
    doc["setup"]["hints"] = [h("setup hint")]
    doc["software"]["siform"] = h("software version")
    doc["software"]["model"] = {"file": h("model file"), "sha256": "0" * 64}
    doc["counting"]["label"] = h("counting label")
    doc["counting"]["unit"] = h("counting unit")
    doc["summary"]["most_frequent_fault"] = h("most frequent fault")
    defs = {c["id"]: c for c in doc["checks"]}
    level = defs["level_pelvis"]
    extension = defs["full_extension"]
    for c, tag in ((level, "level"), (extension, "extension")):
        c["name"] = h(f"{tag} check name")
        c["cue"] = h(f"{tag} cue")
    level["signal_label"] = h("signal label")
    # the extension check's signal renamed and unlabelled (a 1.1 session): its chart is captioned
    # with the signal's name
    del extension["signal_label"]
    old_signal = extension["signal"]
    extension["signal"] = h("signal name")
    signals[extension["signal"]] = signals[old_signal]
    extension["unit"] = h("unit")
    level["id"] = bad_id
    doc["summary"]["failures"] = {bad_id: 1}
    doc["unscored_checks"] = [{"check_id": "missing_check", "reason": h("unscored reason")}]
    doc["checks"].append({**copy.deepcopy(extension), "id": "missing_check", "name": h("unscored name")})
    for rep in doc["reps"]:
        rep["side"] = fields["side"]
        for c in rep["checks"]:
            if c["id"] == "level_pelvis":
                c["id"], c["name"], c["cue"] = bad_id, level["name"], level["cue"]
            else:
                c["name"], c["unit"] = extension["name"], extension["unit"]
    # one check not judged on rep 1, with a reason; one attempt not counted, with an unknown outcome
    first = doc["reps"][0]["checks"][0]
    first.update(scored=False, passed=None, value=None, reason=h("not judged reason"))
    # and rep 2 fails the extension check, so its cue shows
    second = next(c for c in doc["reps"][1]["checks"] if c["id"] == "full_extension")
    second.update(passed=False, cue=extension["cue"])
    attempt = {**copy.deepcopy(doc["reps"][-1]), "number": 0, "outcome": h("outcome")}
    doc["reps"].append(attempt)

    img = np.full((90, 120, 3), 200, np.uint8)
    jpg = cv2.imencode(".jpg", img)[1].tobytes()
    thumbnails = {
        (r["number"], c["id"]): jpg
        for r in doc["reps"]
        for c in r["checks"]
        if c["scored"] and c["passed"] is False
    }
    earlier = copy.deepcopy(doc)
    earlier["created_utc"] = "2026-01-05T10:00:00+00:00"
    earlier["side"] = h("history side")
    earlier["summary"]["failures"] = {bad_id: 2, "<b>not a check</b>": 1}
    old_level = next(c for c in earlier["checks"] if c["id"] == bad_id)
    old_level["limit_max"] = 0.5  # judged under other limits: the mark names the check
    # a check only the earlier session had: its name heads a column of the trend table
    earlier["checks"].append({**copy.deepcopy(old_level), "id": "old_check", "name": h("history check")})
    odd_date = copy.deepcopy(earlier)
    odd_date["created_utc"] = h("history created_utc")
    return Hostile(doc, result, signals, thumbnails, [earlier, odd_date], fields)
