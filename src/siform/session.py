"""``session.json``: one recorded set (review) or one live session of several sets and sides, as
review, live coaching and the therapist server all store and exchange it.

The document is versioned (``schema_version``) and defined by the pydantic models of
:mod:`siform.session_model`: the builders here construct those models, :func:`validate_session`
checks a document with them, and ``siform/schemas/session.schema.json`` is generated from them
(``python -m siform.session_model --write``). Every
number a therapist sees is here with its unit, its limit and where it came from (software and model
versions, the source file's sha256), so a report can always be traced back.
"""

from __future__ import annotations

import json
import os
import platform
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import MISSING

from siform import __version__
from siform.model_store import is_pinned, sha256_of
from siform.results import (
    SESSION_SCHEMA_VERSION,
    Hold,
    Rep,
    SetSummary,
    SetupVerdict,
    Unscored,
    to_jsonable,
)
from siform.session_model import (
    SCHEMA_FILE,
    CheckDefinitionDoc,
    CheckinDoc,
    ExerciseDoc,
    HoldConditionDoc,
    HoldCounting,
    HoldDoc,
    InvalidSessionError,
    ModelDoc,
    RecognitionDoc,
    RepDoc,
    RepsCounting,
    SeriesDoc,
    SessionDoc,
    SetDoc,
    SetupDoc,
    SoftwareDoc,
    SourceDoc,
    SummaryDoc,
    UnscoredDoc,
    UnusableDoc,
    ViewDoc,
    validate,
)
from siform.specs.model import ExerciseSpec

__all__ = [
    "InvalidSessionError",
    "LiveSet",
    "build_live_session",
    "build_session",
    "series_arrays",
    "validate_session",
]

if TYPE_CHECKING:  # the pipeline pulls in OpenCV: the server reads and validates sessions without it
    from siform.pipeline import SessionResult


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def software_block(model_path: Path | None) -> dict[str, Any]:
    """The ``software`` block of this process (the live journal keeps it for a later recovery)."""
    return SoftwareDoc(
        siform=__version__,
        mediapipe=_package_version("mediapipe"),
        python=platform.python_version(),
        model=_model_block(model_path) if model_path is not None else None,
    ).model_dump(mode="json")


def _model_block(model_path: Path) -> ModelDoc:
    """The model file and its sha256; ``pinned`` says whether it is one the manifest vouches for
    (false for a .task file of the user's own, passed with --model)."""
    digest = sha256_of(model_path)
    return ModelDoc(file=model_path.name, sha256=digest, pinned=is_pinned(digest))


def check_definitions(spec: ExerciseSpec) -> list[CheckDefinitionDoc]:
    return [
        CheckDefinitionDoc(
            id=c.id,
            name=c.name,
            signal=c.signal,
            signal_label=spec.signals[c.signal].label,
            unit=spec.signals[c.signal].unit,
            when=c.when,
            reduce=c.reduce,
            limit_min=c.limit.min,
            limit_max=c.limit.max,
            baseline=c.baseline,
            severity=c.severity,
            cue=c.cue,
            views=spec.check_views(c),
        )
        for c in spec.checks
    ]


def counting_definition(spec: ExerciseSpec) -> RepsCounting | HoldCounting:
    """How reps or holds were found, so a reader can redraw the thresholds behind every count."""
    if spec.hold is not None:
        return HoldCounting(
            kind="hold",
            conditions=[
                HoldConditionDoc(
                    signal=c.signal,
                    unit=spec.signals[c.signal].unit,
                    label=spec.signals[c.signal].label,
                    min=c.min,
                    max=c.max,
                )
                for c in spec.hold.conditions
            ],
            grace_s=spec.hold.grace_s,
            min_hold_s=spec.hold.min_hold_s,
        )
    assert spec.rep is not None
    r = spec.rep
    sig = spec.signals[r.signal]
    return RepsCounting(
        kind="reps",
        signal=r.signal,
        unit=sig.unit,
        label=sig.label,
        direction=r.direction,
        rest=r.rest,
        top=r.top,
        partial=r.partial,
        min_rep_s=r.min_rep_s,
        max_rep_s=r.max_rep_s,
    )


SERIES_DECIMALS: dict[str, int] = {"deg": 2, "ratio": 4, "px": 1, "s": 3}
"""Decimals kept per unit in the ``series`` block: ten times finer than a report shows (degrees to
0.1, ratios to 0.001), at a third of the size of the 6 decimals the rest of the document keeps."""


def chart_signals(spec: ExerciseSpec, unscored: Iterable[str]) -> list[str]:
    """The signals ``report.html`` draws for this exercise: the counting signal (reps) or each
    condition of the hold clock, then the signal of every check not unscored for the whole session
    (:func:`siform.report.html._plots`), each once."""
    names = [c.signal for c in spec.hold.conditions] if spec.hold is not None else []
    if spec.rep is not None:
        names.append(spec.rep.signal)
    skip = set(unscored)
    names += [c.signal for c in spec.checks if c.id not in skip]
    return list(dict.fromkeys(names))


def _decimals(spec: ExerciseSpec, name: str) -> int:
    return SERIES_DECIMALS.get(spec.signals[name].unit, 4)


def _rounded(values: npt.ArrayLike, decimals: int) -> list[float | None]:
    v = np.round(np.asarray(values, dtype=np.float64), decimals)
    out: list[float | None] = v.tolist()
    finite = np.isfinite(v)
    if not finite.all():
        out = [x if ok else None for x, ok in zip(out, finite.tolist(), strict=True)]
    return out


def series_block(
    parts: Sequence[tuple[npt.ArrayLike, Mapping[str, npt.ArrayLike]]],
    spec: ExerciseSpec,
    names: Sequence[str],
) -> SeriesDoc | MISSING:
    """The ``series`` block from one or more stretches of frames (a review: one; a live session: one
    per set, in time order, a null row between two sets so charts break over the rest); absent when
    there are no frames. A signal a stretch lacks is null there."""
    parts = [(np.asarray(t, dtype=np.int64), sig) for t, sig in parts if len(np.asarray(t))]
    if not parts:
        return MISSING
    parts.sort(key=lambda p: int(p[0][0]))
    times: list[npt.NDArray[np.int64]] = []
    columns: dict[str, list[npt.NDArray[np.float64]]] = {n: [] for n in names}
    for k, (t, sig) in enumerate(parts):
        if k and int(t[0]) - int(times[-1][-1]) >= 2:
            times.append(np.array([(int(times[-1][-1]) + int(t[0])) // 2], dtype=np.int64))
            for n in names:
                columns[n].append(np.full(1, np.nan))
        times.append(t)
        for n in names:
            v = sig.get(n)
            columns[n].append(np.full(len(t), np.nan) if v is None else np.asarray(v, dtype=np.float64))
    return SeriesDoc(
        t_ms=np.concatenate(times).tolist(),
        signals={n: _rounded(np.concatenate(columns[n]), _decimals(spec, n)) for n in names},
    )


Arrays = tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[np.float64]]]


def series_arrays(doc: Mapping[str, Any]) -> Arrays | None:
    """A document's ``series`` as the arrays :func:`siform.report.render_report` draws (null is
    NaN), or None when it has none (a document before 1.5, or a live session recovered from its
    journal)."""
    series = doc.get("series")
    if not isinstance(series, Mapping) or not series.get("t_ms"):
        return None
    t_ms = np.asarray(series["t_ms"], dtype=np.int64)
    return t_ms, {str(n): np.array(v, dtype=np.float64) for n, v in (series.get("signals") or {}).items()}


def _exercise(spec: ExerciseSpec) -> ExerciseDoc:
    return ExerciseDoc(id=spec.id, name=spec.name, kind=spec.kind, laterality=spec.laterality)


def _summary(summary: SetSummary | None) -> SummaryDoc | None:
    return None if summary is None else SummaryDoc.model_validate(to_jsonable(summary))


def build_session(
    result: SessionResult,
    spec: ExerciseSpec,
    *,
    mode: Literal["review", "live"],
    source: dict[str, Any],
    model_path: Path | None,
    unusable: list[dict[str, Any]] | None = None,
    recognition: dict[str, Any] | None = None,
    patient: str | None = None,
    session_id: str | None = None,
    recorded_utc: str | None = None,
) -> dict[str, Any]:
    """The session document for one analysed set.

    ``source`` describes the input (``file``, ``sha256``, ``width``, ``height``, ``fps``...);
    ``unusable`` lists stretches of it that could not be analysed, with the reason;
    ``recognition`` (see :meth:`siform.recognize.Recognition.to_session`) is given when the
    exercise was recognised from the video instead of named; ``patient`` (an id or name, surrounding
    spaces dropped) says whose set it is, so a trend compares only that person's sessions.
    ``session_id`` (a fresh uuid4 when None) names this document for uploads, which are idempotent
    on it; ``recorded_utc`` is when the recording started, when known. ``series`` holds the
    per-frame values of the signals the report's charts draw (:func:`chart_signals`).
    """
    duration_s = float(result.t_ms[-1] - result.t_ms[0]) / 1000.0 if len(result.t_ms) > 1 else 0.0
    unscored = [UnscoredDoc.model_validate(to_jsonable(u)) for u in result.unscored]
    names = [n for n in chart_signals(spec, (u.check_id for u in unscored)) if n in result.signals]
    doc = SessionDoc(
        schema_version=SESSION_SCHEMA_VERSION,
        kind="siform.session",
        created_utc=utc_now(),
        session_id=session_id or new_session_id(),
        recorded_utc=recorded_utc or MISSING,
        mode=mode,
        software=SoftwareDoc.model_validate(software_block(model_path)),
        source=SourceDoc(
            **source,
            frames=result.frames,
            frames_with_pose=result.frames_with_pose,
            duration_s=round(duration_s, 3),
            unusable=[UnusableDoc.model_validate(u) for u in unusable or []],
            notes=list(result.notes),
        ),
        exercise=_exercise(spec),
        side=result.side,
        patient=(patient or "").strip() or None,
        view=ViewDoc(id=result.view, measured=result.setup.facing_measured),
        prescription=spec.prescription,
        setup=SetupDoc.model_validate(to_jsonable(result.setup)),
        counting=counting_definition(spec),
        checks=check_definitions(spec),
        unscored_checks=unscored,
        reps=[RepDoc.model_validate(to_jsonable(r)) for r in result.reps],
        holds=[HoldDoc.model_validate(to_jsonable(h)) for h in result.holds],
        summary=_summary(result.summary),
        recognition=MISSING if recognition is None else RecognitionDoc.model_validate(recognition),
        series=series_block([(result.t_ms, result.signals)], spec, names),
    )
    return doc.to_json()


def new_session_id() -> str:
    """A random uuid4: two sessions never share an id, so an upload retried is recognised as one."""
    return str(uuid.uuid4())


def utc_now() -> str:
    """Now, as ``created_utc`` and ``recorded_utc`` write it (ISO 8601, UTC, seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class LiveSet:
    """One set of a live session on one side, as it goes into ``session.json``.

    ``provisional`` is true when the set never reached its end (the run was killed or quit mid-set)
    and its reps were recovered as judged live, so checks judged against the person's own reps
    were not reconciled with the whole set.
    """

    number: int
    side: str | None
    view: str | None
    reps: list[Rep] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    summary: SetSummary | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    frames: int | None = 0
    """Frames of the set; None when not known (a set recovered from the journal: see ``provisional``)."""
    frames_with_pose: int | None = 0
    setup: SetupVerdict | None = None
    unscored: list[Unscored] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    provisional: bool = False
    t_ms: npt.NDArray[np.int64] | None = field(default=None, compare=False, repr=False)
    """Frame times of the set on the session clock, for the document's ``series`` (None: a set
    recovered from the journal, which keeps no per-frame values)."""
    signals: Mapping[str, npt.NDArray[np.float64]] = field(default_factory=dict, compare=False, repr=False)
    """Per-frame signal values matching ``t_ms`` (:attr:`siform.pipeline.SessionResult.signals`)."""

    @classmethod
    def from_result(cls, number: int, result: SessionResult) -> LiveSet:
        """A finished set from :meth:`siform.pipeline.LiveSession.result` (or any ``SessionResult``)."""
        t = result.t_ms
        return cls(
            number=number,
            side=result.side,
            view=result.view,
            reps=list(result.reps),
            holds=list(result.holds),
            summary=result.summary,
            start_ms=int(t[0]) if len(t) else None,
            end_ms=int(t[-1]) if len(t) else None,
            frames=result.frames,
            frames_with_pose=result.frames_with_pose,
            setup=result.setup,
            unscored=list(result.unscored),
            notes=list(result.notes),
            t_ms=np.asarray(t, dtype=np.int64),
            signals=dict(result.signals),
        )


def summarise(
    spec: ExerciseSpec, side: str | None, reps: Sequence[Rep], holds: Sequence[Hold], prescribed: int | None
) -> SetSummary:
    """Counts, mean score and faults over ``reps``/``holds``, by the very rule a set's summary uses
    (the engine's, so a recovered set and a whole session read like a set judged by the engine);
    ``prescribed`` replaces its per-set figure."""
    from dataclasses import replace

    from siform.engine import SetTracker

    summary = SetTracker(spec, side)._summary(list(reps), list(holds))
    return replace(summary, prescribed=prescribed)


def _per_set(spec: ExerciseSpec) -> int | None:
    """Reps, or holds, prescribed per set (one hold when the spec gives no count)."""
    return spec.prescription.reps or (None if spec.kind == "reps" else 1)


def _tagged(items: Sequence[Rep], number: int, provisional: bool) -> list[RepDoc]:
    return [RepDoc(**to_jsonable(r), set=number, provisional=True if provisional else MISSING) for r in items]


def _tagged_holds(items: Sequence[Hold], number: int, provisional: bool) -> list[HoldDoc]:
    return [
        HoldDoc(**to_jsonable(h), set=number, provisional=True if provisional else MISSING) for h in items
    ]


NOT_SET_UP = SetupVerdict(ok=False, view=None, facing_measured=None, hints=())
"""The setup block of a live session that ended before its camera setup was judged (a red flag at
the check-in, or a run killed during setup)."""


def build_live_session(
    sets: Sequence[LiveSet],
    spec: ExerciseSpec,
    *,
    source: dict[str, Any],
    model_path: Path | None,
    session_id: str,
    recorded_utc: str,
    checkin: dict[str, Any] | None,
    interrupted: bool = False,
    recorded: bool = False,
    patient: str | None = None,
    setup: SetupVerdict | None = None,
    software: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The session document of a live session: every set and side in one file.

    Each rep and hold carries its ``set``; ``sets`` holds one summary per set; the top-level
    ``summary`` counts the whole session, its ``prescribed`` still per set as in review (a field
    never changes meaning with the mode: the report and the server read it so); ``side`` is null
    when both sides were worked. ``interrupted`` marks a document recovered from the journal of
    a run that did not end normally; ``recorded`` says whether the raw video was kept (``--record``).
    ``software`` replaces the block of this process (a recovered journal keeps the one it was run with).
    """
    ordered = sorted(sets, key=lambda s: s.number)
    sides = sorted({s.side for s in ordered if s.side is not None})
    side = sides[0] if len(sides) == 1 else None
    first = next((s for s in ordered if s.view is not None), ordered[0] if ordered else None)
    setup = setup or (first.setup if first is not None and first.setup is not None else NOT_SET_UP)
    starts = [s.start_ms for s in ordered if s.start_ms is not None]
    ends = [s.end_ms for s in ordered if s.end_ms is not None]
    duration_s = (max(ends) - min(starts)) / 1000.0 if starts and ends else 0.0
    # a check is unscored for the session when no set could judge it
    unscored: list[Unscored] = []
    if ordered:
        shared = set.intersection(*({u.check_id for u in s.unscored} for s in ordered))
        unscored = [u for u in ordered[0].unscored if u.check_id in shared]
    reps = [r for s in ordered for r in s.reps]
    holds = [h for s in ordered for h in s.holds]
    per_set = _per_set(spec)
    analysed = any(s.view is not None or s.reps or s.holds for s in ordered)
    notes = list(dict.fromkeys(n for s in ordered for n in s.notes))
    uncounted = [s for s in ordered if s.frames is None]
    if uncounted:
        which = ", ".join(f"set {s.number}" + (f" ({s.side})" if s.side else "") for s in uncounted)
        notes.append(f"frames and frames_with_pose leave out {which}, cut off before it ended")
    unscored_ids = {u.check_id for u in unscored}
    names = chart_signals(spec, unscored_ids)
    doc = SessionDoc(
        schema_version=SESSION_SCHEMA_VERSION,
        kind="siform.session",
        created_utc=utc_now(),
        session_id=session_id,
        recorded_utc=recorded_utc,
        mode="live",
        interrupted=interrupted,
        recorded=recorded,
        software=SoftwareDoc.model_validate(software or software_block(model_path)),
        source=SourceDoc(
            **source,
            frames=sum(s.frames or 0 for s in ordered),
            frames_with_pose=sum(s.frames_with_pose or 0 for s in ordered),
            duration_s=round(max(duration_s, 0.0), 3),
            unusable=[],
            notes=notes,
        ),
        exercise=_exercise(spec),
        side=side,
        patient=(patient or "").strip() or None,
        view=ViewDoc(id=first.view if first else None, measured=setup.facing_measured),
        prescription=spec.prescription,
        setup=SetupDoc.model_validate(to_jsonable(setup)),
        checkin=None if checkin is None else CheckinDoc.model_validate(checkin),
        counting=counting_definition(spec),
        checks=check_definitions(spec),
        unscored_checks=[UnscoredDoc.model_validate(to_jsonable(u)) for u in unscored],
        reps=[r for s in ordered for r in _tagged(s.reps, s.number, s.provisional)],
        holds=[h for s in ordered for h in _tagged_holds(s.holds, s.number, s.provisional)],
        sets=[
            SetDoc(
                set=s.number,
                side=s.side,
                view=s.view,
                start_ms=s.start_ms,
                end_ms=s.end_ms,
                frames=s.frames,
                frames_with_pose=s.frames_with_pose,
                provisional=s.provisional,
                summary=_summary(s.summary),
            )
            for s in ordered
        ],
        summary=_summary(summarise(spec, side, reps, holds, per_set)) if analysed else None,
        series=series_block(
            [(s.t_ms, s.signals) for s in ordered if s.t_ms is not None],
            spec,
            [n for n in names if any(n in s.signals for s in ordered)],
        ),
    )
    return doc.to_json()


def schema() -> dict[str, Any]:
    """The JSON Schema of the session document, as generated from :mod:`siform.session_model`."""
    text = resources.files("siform").joinpath(SCHEMA_FILE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validate_session(doc: Any) -> SessionDoc:
    """Check ``doc`` (parsed JSON) against the session models and return it as a
    :class:`~siform.session_model.SessionDoc`; raise :class:`InvalidSessionError` (``path`` of the
    first bad field, a short ``message``) when it is not a valid session document of a format
    version this siform reads."""
    return validate(doc)


_SERIES_MARK = "\u0000series\u0000"


def session_text(doc: Mapping[str, Any]) -> str:
    """``doc`` as ``session.json`` holds it: indented one space per level, except the per-frame
    ``series``, whose lists are written one line each (a value per line would double a long
    session's file). NaN or infinity are refused: the document has null for them."""
    series = doc.get("series")
    if not isinstance(series, Mapping):
        return json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    text = json.dumps({**doc, "series": _SERIES_MARK}, indent=1, ensure_ascii=False, allow_nan=False)

    def flat(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    signals = series.get("signals") or {}
    rows = [f"   {flat(str(name))}: {flat(values)}" for name, values in signals.items()]
    block = "\n".join(
        [
            "{",
            *(f"  {flat(k)}: {flat(v)}," for k, v in series.items() if k != "signals"),
            '  "signals": {' + ("\n" + ",\n".join(rows) + "\n  }" if rows else "}"),
            " }",
        ]
    )
    # only a real "series" key is followed by this quoted mark: quotes inside strings are escaped
    return text.replace(f'"series": {json.dumps(_SERIES_MARK)}', f'"series": {block}', 1) + "\n"


def write_session(doc: dict[str, Any], path: Path, *, durable: bool = False) -> None:
    """Write ``doc`` under a temporary name and rename it into place, so a reader never sees half a
    file. ``durable`` also syncs the file and its folder to disk before and after the rename (live
    sessions: the journal is removed only once the document cannot be lost to a power cut)."""
    tmp = path.with_suffix(path.suffix + ".part")
    data = session_text(doc).encode("utf-8")
    with tmp.open("wb") as fh:
        fh.write(data)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    tmp.replace(path)
    if durable:
        sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """fsync a folder, so a file created or renamed in it survives a crash (a no-op where folders
    cannot be opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
