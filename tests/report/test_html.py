"""The review report from real analyses of synthetic sessions: numbers, rows, faults, offline-ness."""

from __future__ import annotations

import copy
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import factories_lying as fl
import factories_standing as fs
from siform.pipeline import SessionResult, analyze_track
from siform.pose import PoseTrack
from siform.report import render_report
from siform.report.plots import allowed_band
from siform.report.text import fmt_limit, fmt_score, fmt_value
from siform.session import build_session, validate_session
from siform.specs.load import load_spec

from factories import bridge_side_view

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "exercise_specs"
SOURCE = {"file": "clip.mp4", "width": 640, "height": 480, "fps": 30.0}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def hold_factory(spec_id: str) -> Any:
    """The synthetic generator of a hold exercise: ``<id>_<camera>_view`` in the factory modules."""
    aliases = {"band_abduction_lying": "band_abduction"}
    stem = aliases.get(spec_id, spec_id)
    for module in (fs, fl):
        for name in dir(module):
            if re.fullmatch(rf"{stem}_[a-z]+_view", name):
                return getattr(module, name)
    return None


class Page(HTMLParser):
    """Checks nesting and collects what the tests look at: links, rows, cells and visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.refs: list[tuple[str, str, str]] = []
        self.ids: list[str] = []
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.text: list[str] = []
        self.tags: list[str] = []
        self._row: str | None = None
        self._cell: dict[str, Any] | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        for k in ("src", "href", "xlink:href", "action", "poster", "srcset"):
            if k in a:
                self.refs.append((tag, k, a[k]))
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "tr" and a.get("id"):
            self._row = a["id"]
            self.rows[self._row] = []
        if tag == "td" and self._row:
            self._cell = {"check": a.get("data-check"), "class": a.get("class", ""), "text": "", "imgs": 0}
            self.rows[self._row].append(self._cell)
        if tag == "img" and self._cell is not None:
            self._cell["imgs"] += 1
        if tag in ("style", "svg"):
            self._skip += 1
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        for k in ("src", "href", "xlink:href"):
            if k in a:
                self.refs.append((tag, k, a[k]))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()
        if tag in ("style", "svg"):
            self._skip -= 1
        if tag == "td":
            self._cell = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._skip == 0:
            self.text.append(data)
        if self._cell is not None:
            self._cell["text"] += data


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    assert not page.errors, page.errors[:5]
    assert page.stack == [], f"unclosed: {page.stack}"
    return page


def analyse(spec_name: str, track: PoseTrack) -> tuple[dict[str, Any], SessionResult]:
    spec = load_spec(SPECS / f"{spec_name}.toml")
    result = analyze_track(track, spec)
    doc = build_session(result, spec, mode="review", source=SOURCE, model_path=None)
    validate_session(doc)
    return doc, result


def jpeg() -> bytes:
    img = np.full((120, 160, 3), 200, np.uint8)
    cv2.rectangle(img, (40, 30), (120, 90), (40, 80, 160), -1)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def failed_keys(doc: dict[str, Any], items: str) -> set[tuple[int, str]]:
    return {
        (it["number"], c["id"])
        for it in doc[items]
        for c in it["checks"]
        if c["scored"] and c["passed"] is False
    }


def assert_offline(html: str, page: Page) -> None:
    assert "http://" not in html and "https://" not in html
    for tag, attr, value in page.refs:
        assert value.startswith(("data:", "#")), f"<{tag} {attr}={value[:60]!r}> leaves the page"
        assert not value.startswith("//")
    assert not {"script", "link", "iframe", "object", "embed"} & set(page.tags)
    assert not re.search(r"url\((?!#)", html), "CSS url() must only point inside the page"
    assert "@import" not in html


def assert_no_raw_missing(page: Page) -> None:
    visible = " ".join(page.text)
    for word in ("NaN", "nan", "None", "null", "inf"):
        assert not re.search(rf"\b{word}\b", visible), f"{word!r} shown to the reader"


@pytest.fixture(scope="module")
def bridge() -> tuple[dict[str, Any], SessionResult, Any]:
    track, truth = bridge_side_view()  # 5 reps, the pelvis drops in the third
    doc, result = analyse("glute_bridge", track)
    return doc, result, truth


def test_bridge_summary_rows_and_fault(bridge: tuple[dict[str, Any], SessionResult, Any]) -> None:
    doc, result, truth = bridge
    thumbs = {key: jpeg() for key in failed_keys(doc, "reps")}
    html = render_report(doc, result.t_ms, result.signals, thumbs, [])
    page = parse(html)
    assert_offline(html, page)
    assert_no_raw_missing(page)
    text = " ".join(" ".join(page.text).split())

    # Summary: the set's own numbers, in words.
    assert "Glute bridge" in text
    n = len(truth.rep_frames)
    assert doc["summary"]["done"] == n
    assert f"{n} reps of 10 prescribed" in text
    assert f"{round(doc['summary']['mean_score'])} / 100" in text
    assert "Keep both hips at the same height as you lift." in text
    assert "raised side" in text
    assert text.index("Summary") < text.index("Rep by rep") < text.index("Charts")

    # One row per counted rep, numbered 1..n.
    assert sorted(r for r in page.rows if r.startswith("rep-")) == [f"rep-{k}" for k in range(1, n + 1)]
    for k in range(1, n + 1):
        cells = {c["check"]: c for c in page.rows[f"rep-{k}"] if c["check"]}
        assert set(cells) == {"full_extension", "level_pelvis"}
        limit = next(c["limit_min"] for c in doc["checks"] if c["id"] == "full_extension")
        assert "°" in cells["full_extension"]["text"]
        assert f"at least {limit:.1f}°" in cells["full_extension"]["text"]
        assert "±0.025" in cells["level_pelvis"]["text"]
        fault_here = truth.faults.get(k - 1)
        for cid, cell in cells.items():
            failed = cid == fault_here
            assert ("outside limit" in cell["text"]) is failed, (k, cid, cell["text"])
            assert ("within limit" in cell["text"]) is not failed
            assert ("fail" in cell["class"].split()) is failed
    # The failed check carries its cue, and the thumbnail sits in that rep's row.
    bad = page.rows["rep-3"]
    assert "Keep both hips at the same height" in next(c for c in bad if c["check"] == "level_pelvis")["text"]
    assert sum(c["imgs"] for c in bad) == 1
    assert all(c["imgs"] == 0 for r in ("rep-1", "rep-2", "rep-4", "rep-5") for c in page.rows[r])
    assert html.count("data:image/jpeg;base64,") == len(thumbs) == 1

    # Charts: the driver and both checks, inline.
    assert html.count("<svg") == 3
    assert "trend" not in page.ids


def test_trend_compares_one_patient_and_one_exercise(
    bridge: tuple[dict[str, Any], SessionResult, Any],
) -> None:
    doc = {**copy.deepcopy(bridge[0]), "patient": "Anna K"}
    result = bridge[1]
    earlier = []
    for day, score in (("2026-03-10T09:00:00+00:00", 61.0), ("2026-03-03T09:00:00+00:00", 48.5)):
        h = copy.deepcopy(doc)
        h["created_utc"] = day
        h["patient"] = " anna  k "  # the same person, typed differently
        h["summary"]["mean_score"] = score
        h["summary"]["failures"] = {"level_pelvis": 4}
        earlier.append(h)
    other_exercise = copy.deepcopy(earlier[0])
    other_exercise["exercise"] = {**other_exercise["exercise"], "id": "side_plank", "name": "Side plank"}
    other_person = {**copy.deepcopy(earlier[0]), "patient": "Bert"}
    no_person = {**copy.deepcopy(earlier[0]), "patient": None}
    later = {**copy.deepcopy(earlier[0]), "created_utc": "2099-01-01T00:00:00+00:00"}
    history = [*earlier, other_exercise, other_person, no_person, later]

    html = render_report(doc, result.t_ms, result.signals, {}, history)
    page = parse(html)
    assert_offline(html, page)
    assert "trend" in page.ids
    trend = html[html.index("id='trend'") :]
    rows = re.findall(r"<tr class='row[^']*'>(.*?)</tr>", trend)
    assert len(rows) == 3  # two earlier sessions of Anna's bridge + this one; the rest are left out
    assert "2026-03-03" in rows[0] and "2026-03-10" in rows[1] and "this session" in rows[2]
    assert "49 / 100" in rows[0] and "61 / 100" in rows[1]
    assert "other limits" not in trend
    assert html.count("<svg") == 4

    # Without a patient there is no trend, whatever the history, and the page says how to get one.
    anonymous = {**doc, "patient": None}
    page = parse(render_report(anonymous, result.t_ms, result.signals, {}, history))
    text = " ".join(" ".join(page.text).split())
    assert "trend" not in page.ids and "no-trend" in page.ids
    assert "--patient NAME" in text and "glute_bridge" in text
    # A patient with no earlier sessions: the first one, and how the next ones join it.
    page = parse(render_report({**doc, "patient": "Carla"}, result.t_ms, result.signals, {}, history))
    text = " ".join(" ".join(page.text).split())
    assert "trend" not in page.ids and "first session" in text and "--patient Carla" in text


def test_trend_marks_sessions_judged_under_other_limits(
    bridge: tuple[dict[str, Any], SessionResult, Any],
) -> None:
    doc = {**copy.deepcopy(bridge[0]), "patient": "p1"}
    result = bridge[1]
    same, tighter = copy.deepcopy(doc), copy.deepcopy(doc)
    same["created_utc"], tighter["created_utc"] = "2026-02-01T09:00:00+00:00", "2026-02-08T09:00:00+00:00"
    level = next(c for c in tighter["checks"] if c["id"] == "level_pelvis")
    level["limit_max"] = 0.015  # the therapist tightened the limit since
    level["limit_min"] = -0.015
    html = render_report(doc, result.t_ms, result.signals, {}, [same, tighter])
    trend = html[html.index("id='trend'") :]
    rows = re.findall(r"<tr class='row[^']*'>(.*?)</tr>", trend)
    assert len(rows) == 3
    assert "other limits" not in rows[0] and "other limits" not in rows[2]
    assert "judged under other limits" in rows[1]
    assert f"{level['name']} (then allowed: within ±0.015 of your median)" in rows[1]
    # A session judged under other baselines (absolute instead of the set's median) is marked too.
    absolute = copy.deepcopy(same)
    next(c for c in absolute["checks"] if c["id"] == "level_pelvis")["baseline"] = "absolute"
    html = render_report(doc, result.t_ms, result.signals, {}, [absolute])
    assert "judged under other limits" in html[html.index("id='trend'") :]


def test_uncounted_attempt_and_unscored_check() -> None:
    # Low camera: the level-pelvis check cannot be seen; the fourth lift stops well short of the top.
    track, _ = bridge_side_view(drop_rep=None, partial_rep=3, raised=False)
    doc, result = analyse("glute_bridge", track)
    assert doc["unscored_checks"] and any(r["outcome"] == "partial" for r in doc["reps"])
    html = render_report(doc, result.t_ms, result.signals, {}, [])
    page = parse(html)
    assert_no_raw_missing(page)
    text = " ".join(" ".join(page.text).split())
    assert "Checks not scored in this recording" in text and "Pelvis stays level" in text
    assert "Attempts not counted (1)" in text
    assert "You did not reach the top position" in text
    assert "partial" not in text
    for row in (r for r in page.rows if r.startswith("rep-")):
        cell = next(c for c in page.rows[row] if c["check"] == "level_pelvis")
        assert "not measured" in cell["text"] and "na" in cell["class"].split()


HOLD_SPECS = sorted(
    p for p in SPECS.glob("*.toml") if not p.name.startswith("_") and load_spec(p).kind == "hold"
)


@pytest.mark.parametrize("spec_path", HOLD_SPECS or [None], ids=lambda p: p.stem if p else "none")
def test_hold_report(spec_path: Path | None) -> None:
    if spec_path is None:
        pytest.skip("no exercise spec with kind = 'hold' in exercise_specs/")
    factory = hold_factory(spec_path.stem)
    if factory is None:
        pytest.skip(f"no synthetic factory for {spec_path.stem} in tests/factories_*.py")
    track, truth = factory()
    doc, result = analyse(spec_path.stem, track)
    thumbs = {key: jpeg() for key in failed_keys(doc, "holds")}
    html = render_report(doc, result.t_ms, result.signals, thumbs, [])
    page = parse(html)
    assert_offline(html, page)
    assert_no_raw_missing(page)
    text = " ".join(" ".join(page.text).split())
    n = len(truth.hold_s)
    assert f"{n} holds of {doc['prescription']['reps']} prescribed" in text
    assert sorted(r for r in page.rows if r.startswith("hold-")) == [f"hold-{k}" for k in range(1, n + 1)]
    for h, check_id in truth.faults.items():
        cell = next(c for c in page.rows[f"hold-{h + 1}"] if c["check"] == check_id)
        assert "outside limit" in cell["text"], (h, check_id, cell["text"])
    for hold in doc["holds"]:
        assert f"{fmt_value(hold['held_s'], 's')} of {fmt_value(hold['target_s'], 's')}" in text
    assert html.count("data:image/jpeg;base64,") == len(thumbs)
    # How the holds were found: one chart per condition of the clock, each with its bound drawn.
    conditions = doc["counting"]["conditions"]
    assert doc["counting"]["kind"] == "hold" and conditions
    assert html.count('aria-label="How the holds were found') == len(conditions)
    for c in conditions:
        bound = f"at least {c['min']:g}" if c["min"] is not None else f"at most {c['max']:g}"
        assert bound in html, (c, bound)
    unscored = {u["check_id"] for u in doc["unscored_checks"]}
    checked = [c for c in doc["checks"] if c["id"] not in unscored]
    assert html.count("<svg") == len(conditions) + len(checked)


def test_counting_is_recorded_and_drawn(bridge: tuple[dict[str, Any], SessionResult, Any]) -> None:
    """session.json says which thresholds counted the reps; the report draws them on the driver chart."""
    doc, result, _truth = bridge
    counting = doc["counting"]
    spec = load_spec(SPECS / "glute_bridge.toml")
    assert counting["kind"] == "reps" and counting["signal"] == spec.rep.signal
    assert (counting["rest"], counting["top"]) == (spec.rep.rest, spec.rep.top)
    html = render_report(doc, result.t_ms, result.signals, {}, [])
    assert f"rest {spec.rep.rest:g}" in html and f"top {spec.rep.top:g}" in html
    # A session written before format 1.1 has no counting: the chart falls back to the signal whose
    # value at every rep's peak is that peak, without thresholds.
    old = {k: v for k, v in doc.items() if k != "counting"}
    html = render_report(old, result.t_ms, result.signals, {}, [])
    assert "How the reps were found" in html and f"top {spec.rep.top:g}" not in html


def test_check_charts_say_what_they_measure(bridge: tuple[dict[str, Any], SessionResult, Any]) -> None:
    """A ratio means nothing without its yardstick: each check chart is captioned with the spec's own
    label of its signal (session format 1.2), and a 1.1 session without it still gets the name."""
    doc, result, _truth = bridge
    spec = load_spec(SPECS / "glute_bridge.toml")
    drop = next(c for c in doc["checks"] if c["id"] == "level_pelvis")
    label = spec.signals[drop["signal"]].label
    assert label and drop["signal_label"] == label
    html = render_report(doc, result.t_ms, result.signals, {}, [])
    assert f"<p class='muted'>{label} (" in html.replace("&#x27;", "'")
    old = copy.deepcopy(doc)
    for c in old["checks"]:
        del c["signal_label"]
    html = render_report(old, result.t_ms, result.signals, {}, [])
    assert "<p class='muted'>pelvic drop (" in html


def test_a_check_on_the_size_of_a_lean_draws_its_band_both_ways() -> None:
    lean = {"limit_min": None, "limit_max": 8.0, "baseline": "absolute", "reduce": "max_abs"}
    assert allowed_band(lean) == (-8.0, 8.0)
    # a one-sided check keeps its one side; a set median check its band around the median
    assert allowed_band({**lean, "reduce": "max"}) == (-math.inf, 8.0)
    hike = {"limit_min": None, "limit_max": 0.007, "baseline": "set_median", "reduce": "mean"}
    assert allowed_band(hike, offset=0.013) == (-math.inf, pytest.approx(0.02))
    # and its caption says so; a check result (the table, which shows the size) has no reduce
    assert fmt_limit({**lean, "unit": "deg"}, baseline=False) == "limit: at most 8.0° either way"
    result = {"limit_min": None, "limit_max": 8.0, "unit": "deg"}
    assert fmt_limit(result, baseline=False) == "limit: at most 8.0°"


@pytest.mark.parametrize(
    ("value", "unit", "signed", "expected"),
    [
        (179.6237, "deg", False, "179.6°"),  # degrees, one decimal
        (0.065234, "ratio", True, "+0.065"),  # a difference from the median, signed
        (-0.0004, "ratio", True, "+0.000"),  # rounds to zero: no negative zero
        (-0.0123, "ratio", True, "-0.012"),  # three decimals, sign kept
        (2.1667, "s", False, "2.2 s"),  # seconds
        (math.nan, "deg", False, "not measured"),  # never NaN
        (None, "ratio", False, "not measured"),  # never None
        (math.inf, "s", False, "not measured"),  # never inf
    ],
)
def test_fmt_value(value: float | None, unit: str, signed: bool, expected: str) -> None:
    assert fmt_value(value, unit, signed) == expected


def test_a_hold_that_stopped_short_is_not_well_done() -> None:
    """Three squeezes with good form, the second let go after 3 s of a prescribed 5 s: the summary
    says so instead of "No faults ... Well done", and no score reads full marks for it."""
    plan = fl.HoldPlan(holds_s=(6.5, 3.0, 6.5), wobble=None, long_break=None, fault_hold=None)
    track, _truth = fl.pillow_squeeze_side_view(plan)
    doc, result = analyse("pillow_squeeze", track)
    target = doc["prescription"]["hold_s"]
    held = [h["held_s"] for h in doc["holds"]]
    assert len(held) == 3 and held[1] < target <= min(held[0], held[2]), held
    assert not doc["summary"]["failures"]
    text = " ".join(" ".join(parse(render_report(doc, result.t_ms, result.signals, {}, [])).text).split())
    assert "Well done" not in text and "No faults" not in text
    assert f"1 of 3 holds ended before the prescribed {fmt_value(target, 's')}" in text
    short_row = text[text.index(f"{fmt_value(held[1], 's')} of") :]
    assert short_row.index("ended before the prescribed time") < 80
    assert "100 / 100" not in text.split("Hold by hold")[0]  # the summary's average

    # The same set with every hold long enough is well done.
    plan = fl.HoldPlan(holds_s=(6.5, 6.5, 6.5), wobble=None, long_break=None, fault_hold=None)
    doc, result = analyse("pillow_squeeze", fl.pillow_squeeze_side_view(plan)[0])
    text = " ".join(" ".join(parse(render_report(doc, result.t_ms, result.signals, {}, [])).text).split())
    assert "No faults: every counted hold stayed within its limits. Well done." in text


def test_only_a_perfect_score_reads_full_marks() -> None:
    assert fmt_score(100.0) == "100 / 100"
    assert fmt_score(99.6) == "99 / 100"  # a hold capped just below 100 is not full marks
    assert fmt_score(48.5) == "49 / 100" and fmt_score(None) == "not scored"


def test_notes_on_the_recording_are_shown(bridge: tuple[dict[str, Any], SessionResult, Any]) -> None:
    """A frame rate too low to smooth (or any other limit the recording put on the analysis) is
    said in the summary, where a therapist reads before trusting the numbers."""
    doc, result, _ = bridge
    doc = {**doc, "source": {**doc["source"], "notes": ["The video has only 3 frames a second."]}}
    text = " ".join(" ".join(parse(render_report(doc, result.t_ms, result.signals, {}, [])).text).split())
    assert "About this recording: The video has only 3 frames a second." in text
    plain_doc = {**doc, "source": {**doc["source"], "notes": []}}
    plain_text = " ".join(parse(render_report(plain_doc, result.t_ms, result.signals, {}, [])).text)
    assert "About this recording" not in plain_text
