"""Accuracy benchmark: the whole pipeline (video -> pose -> engine -> verdicts) against rendered truth.

    python benchmarks/accuracy.py [CLIP.mp4 ...] [--json OUT] [--no-cache]
    python benchmarks/accuracy.py --hold-out CLIP.mp4 [...]   (tag new clips held out, before scoring them)

For every clip of ``sample_videos/`` (or the ones named) with a ``<clip>.truth.json`` in format 2
(written by ``tools/synth``), it runs siform as ``siform analyze`` does (same pose model, same
engine; the annotated video is not drawn, it does not change a verdict) and compares:

- **reps**: siform's counted reps (or timed holds) against the truth's, per set; a set is exact
  when the counts agree and every truth rep overlaps one counted rep;
- **verdicts**: per truth rep and check, the truth's verdict (from the rig's own geometry against
  the clinical size the spec's limit stands for, see each ``tools/synth/ex_*.py``) against
  siform's: true/false positives and negatives, precision, recall and F1 per check and overall. A
  truth rep siform did not count is a miss: a false negative for every check the truth fails on
  it, and not scored otherwise. A check siform leaves unscored is counted apart, as are checks
  the renderer cannot judge;
- **signals**: at the frames each check judges (its ``when`` part of the matched rep), siform's
  signal against the truth metric measuring the same quantity, as RMSE: degrees for angles, and
  for ratios (a length over a body length) percentage points, 100 x the difference, so 5 pp on a
  knee/ankle gap ratio is a knee gap off by 5% of the ankle gap; and against the same signal
  computed on the truth's own 2D joints (what a perfect pose estimator would give, isolating pose
  error from definition differences). A rep signal the truth measures and no check reads (a
  pelvic list's drop) is scored over every frame of each rep, since the counter reads it there;
- **closest call**: per check, the judged value nearest to turning its verdict, and where;
- **hip line** (a pose-model diagnostic): MediaPipe's image hip line against the rig's, on clips
  filmed from the front, at the frames where the pelvis is judged. No check reads it.

Every figure is given per split, from ``sample_videos/splits.toml``: **calibration** (clips that set
or moved a limit, signal or rule the check reads, or existed when one was changed) beside
**holdout** (clips rendered after the check's current definition and scored unchanged since), so
in-sample agreement is not read as evidence. A holdout whose spec file no longer has the sha256 it
was held out against is reported apart ("spec changed since held out") and no longer counts; a clip
or check the file does not name is reported as untagged. Rep-count exactness is split the same way
(by each clip's ``reps`` tag).

**Side detected**: one-sided clips are also run without their working side (as ``siform analyze``
without ``--side``: the engine picks it, ``pipeline.working_side``), and their verdicts are scored
again, so the F1 a patient gets without naming the side stands beside the F1 with it.

**Near the limit**: a judged value within ``limit_tolerance`` of its limit (1 degree for angles; for
ratios a quarter of the limit when it is a change against the person's own reps, else 0.01) is one
whose verdict another machine's MediaPipe arithmetic may turn; the table counts them, and the
end-to-end tests accept either verdict there (and only there).

Poses are cached in ``benchmarks/.cache/`` by video and model hash, so a second run after a spec
change takes seconds (``--no-cache`` re-runs the model).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from siform.landmarks import NUM_LANDMARKS
from siform.model_store import ensure_model, sha256_of
from siform.pipeline import SessionResult, analyze_track, condition_points
from siform.pose import PoseTrack
from siform.review import estimate_track
from siform.signals.compute import SignalSet
from siform.signals.geometry import pelvic_obliquity_deg
from siform.specs.load import find_spec, specs_dir
from siform.specs.model import ExerciseSpec

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache"
SPLITS = ROOT / "sample_videos" / "splits.toml"
TRUTH_FORMAT = "siform-synth-truth/2"


# ------------------------------------------------------------------------------------------ poses
def pose_track(clip: Path, model: Path, use_cache: bool = True) -> PoseTrack:
    """MediaPipe's poses for every frame of ``clip``, from the cache when the video and model match."""
    key = hashlib.sha256((sha256_of(clip) + sha256_of(model)).encode()).hexdigest()[:16]
    path = CACHE / f"{clip.stem}-{key}.npz"
    if use_cache and path.exists():
        with np.load(path) as z:
            return PoseTrack(z["t_ms"], z["image"], z["world"], int(z["width"]), int(z["height"]))
    track, _ = estimate_track(clip, model)
    CACHE.mkdir(exist_ok=True)
    np.savez_compressed(path, t_ms=track.t_ms, image=track.image, world=track.world,
                        width=track.width, height=track.height)  # fmt: skip
    return track


def truth_points(truth: dict[str, Any]) -> np.ndarray:
    """``(T, 33, 2)`` pixel positions of the truth's joints; NaN for landmarks it does not carry."""
    frames = truth["frames"]
    pts = np.full((len(frames), NUM_LANDMARKS, 2), np.nan)
    for i, f in enumerate(frames):
        for k, xy in f["joints2d"].items():
            pts[i, int(k)] = xy
    return pts


# ---------------------------------------------------------------------------------------- scoring
@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    unscored: int = 0
    near: int = 0
    """Judged verdicts whose value lies within ``limit_tolerance`` of the limit (either verdict there
    may turn on another machine's arithmetic)."""
    closest: float = math.inf
    """The judged value nearest its limit on the side of the truth's verdict, as a distance in the
    check's unit: how far the reading could move before this verdict turns (negative: it is wrong)."""
    unit: str = ""
    closest_at: str = ""
    """Where the closest call was, and the limit it came near: "clip rep N, max 0.01"."""

    def add(
        self,
        expected: bool,
        predicted: bool | None,
        margin: float | None = None,
        at: str = "",
        near: bool = False,
    ) -> None:
        if margin is not None and (margin if not expected else -margin) < self.closest:
            self.closest, self.closest_at = (margin if not expected else -margin), at
        self.near += near
        if predicted is None:
            if expected:
                self.fn += 1  # a fault siform could not see is a fault missed
            else:
                self.unscored += 1
        elif expected and predicted:
            self.tp += 1
        elif expected:
            self.fn += 1
        elif predicted:
            self.fp += 1
        else:
            self.tn += 1

    def merge(self, other: Counts) -> None:
        for k in ("tp", "fp", "fn", "tn", "unscored", "near"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        if other.closest < self.closest:
            self.closest, self.closest_at = other.closest, other.closest_at
        self.unit = self.unit or other.unit

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def f1(self) -> float:
        """F1; 1.0 when there was nothing to find and nothing was flagged (no positives at all)."""
        if self.tp + self.fp + self.fn == 0:
            return 1.0 if self.tn else math.nan
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)


@dataclass
class ClipResult:
    clip: str
    exercise: str
    side: str | None
    truth_reps: int
    counted: int
    reps_exact: bool
    view: str | None
    counts: dict[str, Counts] = field(default_factory=dict)
    disagreements: list[str] = field(default_factory=list)
    untruthed_fails: dict[str, int] = field(default_factory=dict)
    # signal -> list of (siform - truth) per judged frame, in the unit reported (deg or percent)
    errors_3d: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors_2d: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    units: dict[str, str] = field(default_factory=dict)
    # MediaPipe's image hip line against the rig's, where the pelvis is judged from the front
    hip_line_errors: list[float] = field(default_factory=list)
    seconds: float = 0.0
    spec_sha256: str = ""
    """sha256 of the spec file the clip was scored with (a holdout counts only while it is unchanged)."""
    auto: SideRun | None = None
    """A one-sided clip run again without its side (the engine detects it); None for two-sided ones."""


@dataclass
class SideRun:
    """Verdicts of a one-sided clip when siform is not told the working side."""

    detected: str | None
    counted: int
    reps_exact: bool
    counts: dict[str, Counts] = field(default_factory=dict)


def _items(result: SessionResult) -> list[Any]:
    """Counted reps, or holds for a hold exercise."""
    if result.holds:
        return list(result.holds)
    return [r for r in result.reps if r.number]


def _span(item: Any) -> tuple[int, int]:
    return int(item.start_index), int(item.end_index)


def judged_frames(item: Any, when: str) -> range:
    """The frame indices a check with ``when`` reads on this rep or hold."""
    start, end = _span(item)
    top_start = getattr(item, "top_start_index", None)
    top_end = getattr(item, "top_end_index", None)
    peak = getattr(item, "peak_index", None)
    if when == "top" and top_start is not None:
        return range(top_start, top_end if top_end is not None else end + 1)
    if when == "ascent" and top_start is not None:
        return range(start, top_start + 1)
    if when == "descent" and top_end is not None:
        return range(top_end, end + 1)
    if when == "peak" and peak is not None:
        return range(peak, peak + 1)
    return range(start, end + 1)


def match_reps(truth: dict[str, Any], items: list[Any]) -> dict[int, Any]:
    """0-based truth rep -> the counted rep (or hold) overlapping it most; each used once."""
    frames: dict[int, set[int]] = defaultdict(set)
    for f in truth["frames"]:
        if f["rep"] >= 0:
            frames[f["rep"]].add(f["frame"])
    pairs = []
    for k, fr in frames.items():
        for j, item in enumerate(items):
            s, e = _span(item)
            overlap = len(fr & set(range(s, e + 1)))
            if overlap:
                pairs.append((overlap, k, j))
    out: dict[int, Any] = {}
    used: set[int] = set()
    for _, k, j in sorted(pairs, reverse=True):
        if k not in out and j not in used:
            out[k] = items[j]
            used.add(j)
    return out


def spec_file(spec_id: str) -> Path:
    """The spec file siform reads for ``spec_id`` (what a holdout's recorded hash is compared with)."""
    return specs_dir() / f"{spec_id}.toml"


def score_verdicts(
    spec: ExerciseSpec, truth: dict[str, Any], items: list[Any], stem: str
) -> tuple[dict[int, Any], bool, dict[str, Counts], list[str], dict[str, int]]:
    """Siform's counted reps (or holds) against the truth's: the truth rep each counted one matches,
    whether the set is counted exactly, per check TP/FP/FN/TN, the disagreements in words, and
    failed verdicts on checks the truth does not judge."""
    meta = truth["meta"]
    matched = match_reps(truth, items)
    n_truth = meta["reps"]
    exact = len(items) == n_truth and len(matched) == n_truth
    checks = {c.id: c for c in spec.checks}
    counts: dict[str, Counts] = {}
    disagreements: list[str] = []
    untruthed: dict[str, int] = {}
    for rt in meta["rep_truth"]:
        k = rt["rep"]
        item = matched.get(k)
        got = {c.id: c for c in item.checks} if item is not None else {}
        for cid, tc in rt["checks"].items():
            if cid not in checks:
                continue
            r = got.get(cid)
            predicted = None if r is None or not r.scored else (r.passed is False)
            c = counts.setdefault(cid, Counts(unit=spec.signals[checks[cid].signal].unit))
            at = f"{stem} {'rep' if spec.kind == 'reps' else 'hold'} {k + 1}, {_limit_text(checks[cid])}"
            margin = pass_margin(r) if predicted is not None else None
            near = predicted is not None and near_limit(r.value, r.limit_min, r.limit_max, r.unit,
                                                        r.baseline is not None)  # fmt: skip
            c.add(tc["fail"], predicted, margin, at, near)
            if predicted is not None and predicted != tc["fail"]:
                value = "-" if r is None or r.value is None else f"{r.value:.3f}"
                said = "fails" if tc["fail"] else "passes"
                ours = "fails" if predicted else "passes"
                disagreements.append(
                    f"rep {k + 1} {cid}: truth {said} ({tc['metric']} {tc['value']:.2f}), "
                    f"siform {ours} ({value}{', near its limit' if near else ''})"
                )
            elif predicted is None and tc["fail"]:
                disagreements.append(f"rep {k + 1} {cid}: truth fails, siform did not judge it")
        for cid, r in got.items():
            if cid not in rt["checks"] and r.scored and r.passed is False:
                untruthed[cid] = untruthed.get(cid, 0) + 1
    return matched, exact, counts, disagreements, untruthed


def score_clip(clip: Path, model: Path, use_cache: bool = True, auto_side: bool = True) -> ClipResult:
    """One clip through the pipeline against its truth; a one-sided clip also without its side
    (``auto_side``), as a patient who does not name it would run it."""
    truth = json.loads(clip.with_suffix(".truth.json").read_text(encoding="utf-8"))
    if truth.get("format") != TRUTH_FORMAT:
        raise SystemExit(f"{clip.name}: truth format {truth.get('format')!r}, expected {TRUTH_FORMAT}")
    meta = truth["meta"]
    spec = find_spec(meta["spec"])
    side = meta["side"] if meta.get("unilateral") else None
    t0 = time.perf_counter()
    track = pose_track(clip, model, use_cache)
    result = analyze_track(track, spec, side)
    seconds = time.perf_counter() - t0

    items = _items(result)
    matched, exact, counts, disagreements, untruthed = score_verdicts(spec, truth, items, clip.stem)
    res = ClipResult(clip.name, spec.id, side, meta["reps"], len(items), exact, result.view, counts,
                     disagreements, untruthed, seconds=seconds,
                     spec_sha256=sha256_of(spec_file(spec.id)))  # fmt: skip
    if auto_side and side is not None and spec.laterality == "unilateral":
        auto = analyze_track(track, spec, None)
        auto_items = _items(auto)
        _, auto_exact, auto_counts, _, _ = score_verdicts(spec, truth, auto_items, clip.stem)
        res.auto = SideRun(auto.side, len(auto_items), auto_exact, auto_counts)
    checks = {c.id: c for c in spec.checks}

    # signals at the judged frames
    truth_signals = SignalSet(spec, result.sides).compute(truth_points(truth), result.t_ms)
    metric_of = meta.get("signal_truth", {})
    # A signal with a truth metric that no check reads (a hip line kept for the chart while the check
    # reads the legs) is scored at the frames of the check whose truth uses the same metric.
    truth_metric = {cid: tc["metric"] for rt in meta["rep_truth"] for cid, tc in rt["checks"].items()}
    judged = [(c.signal, c.when) for c in spec.checks]
    checked = {c.signal for c in spec.checks}
    for name, mt in metric_of.items():
        if name not in checked and name in result.signals:
            judged += [(name, c.when) for c in spec.checks if truth_metric.get(c.id) == mt["metric"]][:1]
    # The rep signal is judged at every frame of a rep (the counter reads it throughout); when the
    # truth measures it and nothing above scores it (a pelvic list's drop), it is scored there.
    rep_signal = spec.rep.signal if spec.rep is not None else None
    if rep_signal in metric_of and rep_signal not in {s for s, _ in judged} and rep_signal in result.signals:
        judged.append((rep_signal, "rep"))
    # A checked angle the truth file maps to no metric (a signal newer than the clip) is compared
    # with the metric its check's truth reads, when that is an angle too.
    metric_of = dict(metric_of)
    for c in spec.checks:
        metric = truth_metric.get(c.id, "")
        if c.signal not in metric_of and spec.signals[c.signal].unit == "deg" and metric.endswith("_deg"):
            metric_of[c.signal] = {"metric": metric, "sign": 1.0}
    for k, item in matched.items():
        del k
        for signal, when in judged:
            idx = np.array(list(judged_frames(item, when)), dtype=int)
            idx = idx[(idx >= 0) & (idx < len(truth["frames"]))]
            ours = result.signals[signal][idx]
            unit = spec.signals[signal].unit
            percent = unit == "ratio"
            res.units[signal] = "pp" if percent else unit
            ref2d = truth_signals[signal][idx]
            res.errors_2d[signal] += _errors(ours, ref2d, percent)
            if signal in metric_of:
                mt = metric_of[signal]
                ref3d = np.array([truth["frames"][i]["metrics"][mt["metric"]] for i in idx]) * mt["sign"]
                res.errors_3d[signal] += _errors(ours, ref3d, percent)
    # the frames the pelvis is judged at: its check's, or those of the signal whose truth is its tilt
    whens = [checks[cid].when for cid, m in truth_metric.items() if m in PELVIS_METRICS and cid in checks]
    whens += [w for sig, w in judged if metric_of.get(sig, {}).get("metric") in PELVIS_METRICS]
    pelvis_when = whens[0] if whens else None
    if pelvis_when is not None:
        res.hip_line_errors = hip_line_errors(spec, track, truth, result.view, matched, pelvis_when)
    return res


PELVIS_METRICS = ("pelvic_obliquity_deg", "pelvic_drop_deg")


def hip_line_errors(
    spec: ExerciseSpec,
    track: PoseTrack,
    truth: dict[str, Any],
    view: str | None,
    matched: dict[int, Any],
    when: str,
) -> list[float]:
    """Degrees by which MediaPipe's image hip line misses the rig's, at the ``when`` frames of each rep.

    A diagnostic of the pose model, not a siform signal: no spec reads the hip line of a standing
    person filmed from the front (the checks read the legs instead), and this is the evidence for
    that. Only clips filmed from the front; against the rig's projected joints, which from the front
    give the 3D tilt to 0.1 degrees on these renders.
    """
    if {v.id: v.facing for v in spec.views}.get(view or "") != "front":
        return []
    ours = pelvic_obliquity_deg(condition_points(track, spec))
    ref = pelvic_obliquity_deg(truth_points(truth))
    errors: list[float] = []
    for item in matched.values():
        idx = np.array(list(judged_frames(item, when)), dtype=int)
        idx = idx[(idx >= 0) & (idx < len(truth["frames"]))]
        errors += _errors(ours[idx], ref[idx], percent=False)
    return errors


def _limit_text(check: Any) -> str:
    lo, hi = check.limit.min, check.limit.max
    return " ".join(([f"min {lo:g}"] if lo is not None else []) + ([f"max {hi:g}"] if hi is not None else []))


def pass_margin(r: Any) -> float | None:
    """How far inside its passing range a check's value lies (negative: outside, by that much)."""
    if r.value is None or not math.isfinite(r.value):
        return None
    sides = [r.value - r.limit_min] if r.limit_min is not None else []
    sides += [r.limit_max - r.value] if r.limit_max is not None else []
    return min(sides) if sides else None


TOLERANCE_DEG = 1.0
"""Degrees: MediaPipe's angles on the same video differ by a fraction of a degree between machines."""
TOLERANCE_RATIO = 0.01
"""A ratio read absolutely (a knee gap over the ankle gap, a depth over standing height): 1% of its
yardstick, about a pixel or two of landmark position on these clips."""
TOLERANCE_BASELINE_SHARE = 0.25
"""A ratio read as a change against the person's own reps: a quarter of its limit, which is itself the
size of the fault (the clips' pelvis checks read 0.007-0.035)."""


def limit_tolerance(unit: str, limit: float, relative: bool) -> float:
    """How near ``limit`` a judged value may lie before its verdict counts as a close call that another
    machine's arithmetic may turn. The end-to-end tests accept either verdict within it (and pin the
    verdict everywhere else); the benchmark counts such verdicts ("near"). 0 for other units."""
    if unit == "deg":
        return TOLERANCE_DEG
    if unit == "ratio":
        return TOLERANCE_BASELINE_SHARE * abs(limit) if relative else TOLERANCE_RATIO
    return 0.0


def near_limit(
    value: float | None, limit_min: float | None, limit_max: float | None, unit: str, relative: bool
) -> bool:
    """Whether a judged value lies within ``limit_tolerance`` of either of its limits."""
    if value is None or not math.isfinite(value):
        return False
    return any(
        lim is not None and abs(value - lim) <= limit_tolerance(unit, lim, relative)
        for lim in (limit_min, limit_max)
    )


def verdict_mismatches(truth: dict[str, Any], session: dict[str, Any]) -> tuple[list[str], list[str]]:
    """A ``session.json``'s verdicts against the truth's, per truth rep and judged check: the mismatches
    clear of their limit's tolerance, and those within it (which another machine may turn; the
    end-to-end tests accept these and fail on the others).

    Each counted rep (or hold) stands for the truth rep it overlaps most; a truth rep no counted one
    stands for has no failed check, so a fault on it is a mismatch.
    """
    reps: dict[int, set[int]] = defaultdict(set)
    for f in truth["frames"]:
        if f["rep"] >= 0:
            reps[f["rep"]].add(f["frame"])
    items = (
        session["holds"]
        if session["exercise"]["kind"] == "hold"
        else [r for r in session["reps"] if r["number"]]
    )
    got: dict[int, dict[str, dict[str, Any]]] = {}
    for item in items:
        frames = set(range(item["start_index"], item["end_index"] + 1))
        k = max(reps, key=lambda r: len(frames & reps[r]))
        got[k] = {c["id"]: c for c in item["checks"]}
    wrong: list[str] = []
    close: list[str] = []
    for rt in truth["meta"]["rep_truth"]:
        for cid, tc in rt["checks"].items():
            c = got.get(rt["rep"], {}).get(cid)
            fails = c is not None and c["scored"] and c["passed"] is False
            if fails == tc["fail"]:
                continue
            value = c.get("value") if c is not None and c["scored"] else None
            said = f"rep {rt['rep'] + 1} {cid}: truth {'fails' if tc['fail'] else 'passes'}, siform "
            said += f"{'fails' if fails else 'passes'} ({'not judged' if value is None else f'{value:.4g}'})"
            relative = c is not None and c.get("baseline") is not None
            if c is not None and near_limit(value, c["limit_min"], c["limit_max"], c["unit"], relative):
                close.append(said)
            else:
                wrong.append(said)
    return wrong, close


def _errors(ours: np.ndarray, ref: np.ndarray, percent: bool) -> list[float]:
    ok = np.isfinite(ours) & np.isfinite(ref)
    d = ours[ok] - ref[ok]
    if percent:
        d = 100.0 * d  # percentage points of the body length the ratio is normalised by
    return [float(x) for x in d]


def rmse(errors: list[float]) -> float:
    return float(np.sqrt(np.mean(np.square(errors)))) if errors else math.nan


# ----------------------------------------------------------------------------------------- splits
GROUPS = ("calibration", "holdout", "stale", "untagged")
GROUP_TITLES = {
    "calibration": "calibration",
    "holdout": "holdout",
    "stale": "held out, spec changed since",
    "untagged": "untagged",
}


@dataclass(frozen=True)
class Tag:
    """A clip's split for one check (or its rep count), from ``sample_videos/splits.toml``."""

    split: str
    spec_sha256: str | None = None
    reason: str = ""


def load_splits(path: Path = SPLITS) -> dict[str, dict[str, Tag]]:
    """Clip stem -> check id (or ``reps``) -> its tag. A file that breaks the format stops the run:
    a mistyped split must not quietly count as held out."""
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[str, dict[str, Tag]] = {}
    for stem, table in data.items():
        out[stem] = {}
        for item, entry in table.items():
            if not isinstance(entry, dict):
                continue  # the clip's own keys (spec, added)
            split = entry.get("split")
            if split not in ("calibration", "holdout"):
                raise SystemExit(
                    f"{path.name}: [{stem}.{item}] split {split!r}: expected calibration or holdout"
                )
            sha = entry.get("spec_sha256")
            if split == "holdout" and not sha:
                raise SystemExit(
                    f"{path.name}: [{stem}.{item}] is a holdout without the spec_sha256 it was held out at"
                )
            out[stem][item] = Tag(split, sha, str(entry.get("reason", "")))
    return out


def group_of(tag: Tag | None, spec_sha256: str) -> str:
    """Where a clip's check (or count) is reported: calibration; holdout while the spec file is the one it
    was held out against; "stale" once that file has changed; "untagged" when splits.toml does not say."""
    if tag is None:
        return "untagged"
    if tag.split == "calibration":
        return "calibration"
    return "holdout" if tag.spec_sha256 == spec_sha256 else "stale"


def _counting_text(spec: ExerciseSpec) -> str:
    """What the rep counter or hold clock of ``spec`` reads, in one line (for a holdout's record)."""
    if spec.rep is not None:
        r = spec.rep
        return (
            f"rep on {r.signal} ({spec.signals[r.signal].fn}) {r.direction}, rest {r.rest:g}, "
            f"top {r.top:g}, min_rep_s {r.min_rep_s:g}"
        )
    if spec.hold is not None:
        bounds = [(c.signal, (("min", c.min), ("max", c.max))) for c in spec.hold.conditions]
        conds = [" ".join([sig, *(f"{k} {v:g}" for k, v in ends if v is not None)]) for sig, ends in bounds]
        return "hold while " + ", ".join(conds)
    return "-"


def _added_commit(clip: Path) -> str:
    """The commit that added ``clip``, or a note that it is not committed yet."""
    try:
        cmd = [
            "git",
            "log",
            "--diff-filter=A",
            "--format=%h %ad",
            "--date=format:%Y-%m-%d %H:%M",
            "--",
            str(clip),
        ]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    lines = out.stdout.strip().splitlines()
    return f"{lines[-1]} UTC" if out.returncode == 0 and lines else "not committed when tagged"


def hold_out(clips: list[Path], path: Path = SPLITS) -> list[str]:
    """Append holdout tags for new clips (every check their truth judges, and their count) with the
    current spec file's sha256 and what each check reads. Meant to run before the clips are scored;
    a clip already in the file is left as it is (a tag is never rewritten silently)."""
    known = load_splits(path)
    blocks: list[str] = []
    for clip in clips:
        stem = clip.stem
        if stem in known:
            raise SystemExit(f"{stem} is already in {path.name}; change its tags by hand, with a reason")
        meta = json.loads(clip.with_suffix(".truth.json").read_text(encoding="utf-8"))["meta"]
        spec = find_spec(meta["spec"])
        sha = sha256_of(spec_file(spec.id))
        checks = {c.id: c for c in spec.checks}
        judged = sorted({cid for rt in meta["rep_truth"] for cid in rt["checks"] if cid in checks})
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        lines = [f"[{stem}]", f'spec = "{spec.id}"', f'added = "{_added_commit(clip)}"', ""]
        for item in ["reps", *judged]:
            if item == "reps":
                what = _counting_text(spec)
            else:
                c = checks[item]
                sig = spec.signals[c.signal]
                args = ", ".join(f"{k}={v}" for k, v in (sig.args or {}).items())
                what = f"signal {c.signal} = {sig.fn}({args}); when {c.when}; reduce {c.reduce}; "
                what += _limit_text(c)
            lines += [
                f"[{stem}.{item}]",
                'split = "holdout"',
                f'spec_sha256 = "{sha}"',
                f'held_out_at = "tagged {when}"',
                f'definition = "{what}"',
                'reason = "rendered after the current definition, tagged before it was scored"',
                "",
            ]
        blocks.append("\n".join(lines))
    if blocks:
        with path.open("a", encoding="utf-8") as fh:
            fh.write("\n" + "\n".join(blocks))
    return [c.stem for c in clips]


# ---------------------------------------------------------------------------------------- report
def _split_summary() -> dict[str, Any]:
    return {"sets": 0, "sets_exact": 0, "overall": Counts(), "per_check": defaultdict(Counts)}


def summarize(results: list[ClipResult], splits: dict[str, dict[str, Tag]] | None = None) -> dict[str, Any]:
    per_check: dict[str, Counts] = defaultdict(Counts)
    overall = Counts()
    err3: dict[str, list[float]] = defaultdict(list)
    err2: dict[str, list[float]] = defaultdict(list)
    units: dict[str, str] = {}
    hip_line: dict[str, list[float]] = defaultdict(list)
    splits = splits if splits is not None else {}
    by_group = {g: _split_summary() for g in GROUPS}
    stale: list[dict[str, str]] = []
    untagged: list[str] = []
    side_given, side_detected, all_detected = Counts(), Counts(), Counts()
    wrong_side: list[str] = []
    one_sided = auto_exact = 0
    for r in results:
        stem = Path(r.clip).stem
        tags = splits.get(stem, {})
        for item in ["reps", *r.counts]:
            g = group_of(tags.get(item), r.spec_sha256)
            if g == "stale":
                stale.append(
                    {
                        "clip": stem,
                        "item": item,
                        "held_out_sha256": str(tags[item].spec_sha256),
                        "spec_sha256": r.spec_sha256,
                    }
                )
            elif g == "untagged":
                untagged.append(f"{stem}.{item}")
            if item == "reps":
                by_group[g]["sets"] += 1
                by_group[g]["sets_exact"] += r.reps_exact
            else:
                by_group[g]["per_check"][f"{r.exercise}.{item}"].merge(r.counts[item])
                by_group[g]["overall"].merge(r.counts[item])
        for cid, c in r.counts.items():
            per_check[f"{r.exercise}.{cid}"].merge(c)
            overall.merge(c)
        auto_counts = r.auto.counts if r.auto is not None else r.counts
        for c in auto_counts.values():
            all_detected.merge(c)
        if r.auto is not None:
            one_sided += 1
            auto_exact += r.auto.reps_exact
            for c in r.counts.values():
                side_given.merge(c)
            for c in r.auto.counts.values():
                side_detected.merge(c)
            if r.auto.detected != r.side:
                wrong_side.append(f"{stem} ({r.side} read as {r.auto.detected})")
        for s, e in r.errors_3d.items():
            err3[f"{r.exercise}.{s}"] += e
        for s, e in r.errors_2d.items():
            err2[f"{r.exercise}.{s}"] += e
        for s, u in r.units.items():
            units[f"{r.exercise}.{s}"] = u
        if r.hip_line_errors:
            hip_line[r.exercise] += r.hip_line_errors
    for g in by_group.values():
        g["per_check"] = dict(sorted(g["per_check"].items()))
    exact = sum(r.reps_exact for r in results)
    return {
        "clips": len(results),
        "sets_exact": exact,
        "sets_exact_share": exact / len(results) if results else math.nan,
        "overall": overall,
        "per_check": dict(sorted(per_check.items())),
        "splits": by_group,
        "stale": stale,
        "untagged": untagged,
        "auto_side": {
            "one_sided_clips": one_sided,
            "side_given": side_given,
            "side_detected": side_detected,
            "all_clips_side_detected": all_detected,
            "sets_exact_side_detected": auto_exact,
            "sides_wrong": wrong_side,
        },
        "rmse_3d": {k: rmse(v) for k, v in sorted(err3.items())},
        "rmse_2d": {k: rmse(v) for k, v in sorted(err2.items())},
        "frames_3d": {k: len(v) for k, v in err3.items()},
        "units": units,
        "hip_line_rmse": {k: rmse(v) for k, v in sorted(hip_line.items())},
        "hip_line_frames": {k: len(v) for k, v in sorted(hip_line.items())},
    }


def _f(x: float, nd: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def _cells(c: Counts | None) -> str:
    """TP FP FN TN and F1 as two table cells ("-" where the split has no verdict of the check)."""
    if c is None or c.tp + c.fp + c.fn + c.tn == 0:
        return "- | -"
    return f"{c.tp} {c.fp} {c.fn} {c.tn} | {_f(c.f1)}"


def _exact(g: dict[str, Any]) -> str:
    n, k = g["sets"], g["sets_exact"]
    return f"{k} of {n} sets" + (f" ({100 * k / n:.0f}%)" if n else "")


def render(results: list[ClipResult], summary: dict[str, Any]) -> str:
    lines = [
        "| clip | exercise | side | view | reps truth / counted | exact | disagreements |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        dis = "; ".join(r.disagreements) or "none"
        exact = "yes" if r.reps_exact else "NO"
        lines.append(
            f"| {r.clip} | {r.exercise} | {r.side or '-'} | {r.view or '-'} | "
            f"{r.truth_reps} / {r.counted} | {exact} | {dis} |"
        )
    sp = summary["splits"]
    lines += [
        "",
        f"Rep counts exact on {summary['sets_exact']} of {summary['clips']} sets "
        f"({100 * summary['sets_exact_share']:.0f}%): calibration {_exact(sp['calibration'])}, "
        f"holdout {_exact(sp['holdout'])}.",
        "",
        "Verdicts per check, calibration and holdout apart (`sample_videos/splits.toml`); TP FP FN TN, "
        'then F1. "near" counts verdicts within the tolerance of their limit.',
        "",
        "| check | calibration | F1 | holdout | F1 | all: unscored | near | precision | recall | F1 "
        "| closest call |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [*summary["per_check"].items(), ("**overall**", summary["overall"])]
    for name, c in rows:
        closest = ""
        if name != "**overall**" and math.isfinite(c.closest):
            unit = "deg" if c.unit == "deg" else ""
            closest = f"{c.closest:.2g} {unit} ({c.closest_at})".replace("  ", " ")
        cal = sp["calibration"]["overall" if name == "**overall**" else "per_check"]
        hold = sp["holdout"]["overall" if name == "**overall**" else "per_check"]
        if name != "**overall**":
            cal, hold = cal.get(name), hold.get(name)
        lines.append(
            f"| {name} | {_cells(cal)} | {_cells(hold)} | {c.unscored} | {c.near} | "
            f"{_f(c.precision)} | {_f(c.recall)} | {_f(c.f1)} | {closest} |"
        )
    h = sp["holdout"]["overall"]
    lines += [
        "",
        f"**Holdout**: F1 {_f(h.f1)} (TP {h.tp}, FP {h.fp}, FN {h.fn}, TN {h.tn}), rep counts exact "
        f"on {_exact(sp['holdout'])}; calibration F1 {_f(sp['calibration']['overall'].f1)}.",
    ]
    if summary["stale"] or summary["untagged"]:
        lines += ["", "Not counted as holdout:"]
        for g in ("stale", "untagged"):
            if sp[g]["sets"] or sp[g]["per_check"]:
                items = ", ".join(
                    f"{k} {_cells(v).replace(' | ', ', F1 ')}" for k, v in sp[g]["per_check"].items()
                )
                lines.append(f"- {GROUP_TITLES[g]}: rep counts {_exact(sp[g])}; {items or 'no verdicts'}")
        if summary["stale"]:
            by_clip: dict[tuple[str, str, str], list[str]] = defaultdict(list)
            for st in summary["stale"]:
                by_clip[(st["clip"], st["held_out_sha256"][:12], st["spec_sha256"][:12])].append(st["item"])
            lines.append(
                "- spec changed since held out: "
                + "; ".join(
                    f"{c} ({', '.join(items)}: held out at {old}, now {new})"
                    for (c, old, new), items in by_clip.items()
                )
            )
        if summary["untagged"]:
            lines.append("- untagged in splits.toml: " + ", ".join(summary["untagged"]))
    a = summary["auto_side"]
    lines += [
        "",
        f"Working side detected by siform (one-sided clips run without the side, "
        f"{a['one_sided_clips']} clips):",
        "",
        "| verdicts | TP | FP | FN | TN | F1 |",
        "|---|---|---|---|---|---|",
    ]
    for name, c in [
        ("one-sided clips, side given", a["side_given"]),
        ("one-sided clips, side detected", a["side_detected"]),
        ("all clips, side given", summary["overall"]),
        ("all clips, side detected", a["all_clips_side_detected"]),
    ]:
        lines.append(f"| {name} | {c.tp} | {c.fp} | {c.fn} | {c.tn} | {_f(c.f1)} |")
    lines += [
        "",
        f"Side detected right on {a['one_sided_clips'] - len(a['sides_wrong'])} of "
        f"{a['one_sided_clips']} one-sided clips"
        + (f" (wrong: {', '.join(a['sides_wrong'])})" if a["sides_wrong"] else "")
        + f"; rep counts exact on {a['sets_exact_side_detected']} of them with the side detected.",
    ]
    lines += [
        "",
        "| signal (at judged frames) | unit | RMSE vs 3D truth | frames | RMSE vs truth joints |",
        "|---|---|---|---|---|",
    ]
    for name, e2 in summary["rmse_2d"].items():
        e3 = summary["rmse_3d"].get(name, math.nan)
        lines.append(
            f"| {name} | {summary['units'].get(name, '')} | {_f(e3)} | "
            f"{summary['frames_3d'].get(name, 0)} | {_f(e2)} |"
        )
    if summary["hip_line_rmse"]:
        lines += [
            "",
            "Pose-model diagnostic, read by no check: MediaPipe's image hip line (left hip to "
            "right hip against horizontal) against the rig's, at the frames the pelvis is judged, "
            "front views.",
            "",
            "| exercise | RMSE, degrees | frames |",
            "|---|---|---|",
        ]
        for name, e in summary["hip_line_rmse"].items():
            lines.append(f"| {name} | {_f(e)} | {summary['hip_line_frames'][name]} |")
    untruthed = {f"{r.clip}:{k}": v for r in results for k, v in r.untruthed_fails.items()}
    if untruthed:
        lines += [
            "",
            "Failed verdicts on checks the renderer does not judge (no truth): "
            + ", ".join(f"{k} x{v}" for k, v in sorted(untruthed.items())),
        ]
    return "\n".join(lines)


def _counts_json(c: Counts) -> dict[str, Any]:
    return {**vars(c), "precision": c.precision, "recall": c.recall, "f1": c.f1}


def to_json(results: list[ClipResult], summary: dict[str, Any]) -> dict[str, Any]:
    """The figures of ``render`` as plain data (``--json``)."""
    doc = {
        **summary,
        "overall": _counts_json(summary["overall"]),
        "per_check": {k: _counts_json(v) for k, v in summary["per_check"].items()},
        "splits": {
            g: {
                "sets": v["sets"],
                "sets_exact": v["sets_exact"],
                "overall": _counts_json(v["overall"]),
                "per_check": {k: _counts_json(c) for k, c in v["per_check"].items()},
            }
            for g, v in summary["splits"].items()
        },
        "auto_side": {
            k: _counts_json(v) if isinstance(v, Counts) else v for k, v in summary["auto_side"].items()
        },
        "clips": [
            {
                k: v
                for k, v in vars(r).items()
                if k not in ("errors_3d", "errors_2d", "counts", "auto", "hip_line_errors")
            }
            | {"detected_side": r.auto.detected if r.auto else None}
            for r in results
        ],
    }
    return doc


def sample_clips() -> list[Path]:
    return sorted(p for p in (ROOT / "sample_videos").glob("*.mp4") if p.with_suffix(".truth.json").exists())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", nargs="*", type=Path, help="default: every clip in sample_videos/")
    ap.add_argument("--no-cache", action="store_true", help="run the pose model even when cached")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    ap.add_argument("--no-auto-side", action="store_true", help="skip the run without the working side")
    ap.add_argument("--splits", type=Path, default=SPLITS, help="the calibration/holdout tags")
    ap.add_argument(
        "--hold-out",
        nargs="+",
        type=Path,
        default=None,
        metavar="CLIP",
        help="tag new clips held out (current spec hashes) in the splits file, score nothing",
    )
    a = ap.parse_args(argv)
    if a.hold_out:
        print("held out: " + ", ".join(hold_out(a.hold_out, a.splits)))
        return 0
    model = ensure_model("full").path
    clips = a.clips or sample_clips()
    splits = load_splits(a.splits)
    results = []
    for clip in clips:
        r = score_clip(clip, model, use_cache=not a.no_cache, auto_side=not a.no_auto_side)
        print(
            f"{clip.name}: {r.counted}/{r.truth_reps} reps, {len(r.disagreements)} disagreement(s) "
            f"({r.seconds:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
        results.append(r)
    summary = summarize(results, splits)
    print(render(results, summary))
    if a.json:
        a.json.write_text(json.dumps(to_json(results, summary), indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
