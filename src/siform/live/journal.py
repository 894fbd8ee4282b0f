"""The live session's journal: every finished rep or hold on disk at once, and the final ``session.json``.

A live session can end badly: the laptop's battery dies, the process is killed, the window is
closed by force. The patient's work must not be lost with it, so each finished rep or hold is
appended to ``session.journal.jsonl`` in the session's folder as one JSON line, written with a
single ``write`` and ``fsync``-ed before :meth:`SessionJournal.append` returns: a ``kill -9`` loses at
most the rep under way. At the end, :meth:`SessionJournal.finalize` writes the same ``session.json``
as ``siform analyze`` (format 1.4, ``mode: "live"``, see docs/session.md), atomically, then removes
the journal, which ``session.json`` now holds in full.

A journal left by a run that never finalised becomes a ``session.json`` marked ``interrupted``:

- automatically, when the next session starts (:meth:`SessionJournal.create`): a journal in the
  folders beside the new one is recovered in place (the default layout, one folder per run), and
  one in the new session's own folder (the same ``--out`` again) goes to a sibling folder
  ``<folder>-interrupted-<start time>``, leaving the folder to the new session;
- or by :func:`recover_journals` (a folder and its subfolders, each written in place).

A running session holds a lock on its journal (``flock``; the kernel drops it when the process
dies, however it dies), so recovery never takes the journal of a session that is still running.

Lines: the header (format, session id, start time, exercise and the full spec with its sha256,
patient, check-in, source, software, whether raw video is kept), then ``set_start``, ``rep`` /
``hold`` (the record as judged live, with its set and side) and ``set_end`` (the set's final,
reconciled records and summary) lines. A last line cut off by the crash is ignored.

For H2 (``siform.live.app``)::

    journal = SessionJournal.create(out, spec, checkin=checkin, patient=args.patient,
                                    model_path=model, source={"camera": 0, "width": w, ...},
                                    recorded=args.record)
    journal.start_set(1, side, view=view, setup=setup, t_ms=t)          # optional, recommended
    journal.append(event, set_number=1)                                  # each RepEvent/HoldEvent
    journal.end_set(LiveSet.from_result(1, live.result(setup, notes)))   # when a set ends
    path = journal.finalize()                                            # session.json
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from siform.engine import HoldEvent, RepEvent
from siform.errors import OutputError, os_reason
from siform.results import CheckResult, Hold, Rep, SetSummary, SetupVerdict, Unscored, to_jsonable
from siform.session import (
    LiveSet,
    build_live_session,
    new_session_id,
    software_block,
    summarise,
    sync_folder,
    utc_now,
    validate_session,
    write_session,
)
from siform.specs.model import ExerciseSpec

log = logging.getLogger(__name__)

JOURNAL_FILE = "session.journal.jsonl"
SESSION_FILE = "session.json"
JOURNAL_KIND = "siform.journal"
JOURNAL_FORMAT = 1
"""Bumped when a line's meaning changes; a reader refuses a journal of a newer format."""


def spec_digest(spec: ExerciseSpec) -> str:
    """sha256 of the spec as validated (canonical JSON): names the exact rules a session ran under,
    whichever file or per-patient override they came from."""
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SessionJournal:
    """An open journal in a live session's folder. Build it with :meth:`create`."""

    def __init__(self, folder: Path, spec: ExerciseSpec, header: dict[str, Any], fd: int) -> None:
        self.folder = folder
        self.path = folder / JOURNAL_FILE
        self.spec = spec
        self.header = header
        self._fd: int | None = fd
        self._sets = _Sets()
        self.recovered: list[Path] = []
        """Sessions of earlier, interrupted runs that :meth:`create` turned into ``session.json``."""

    @property
    def session_id(self) -> str:
        return str(self.header["session_id"])

    @property
    def started_utc(self) -> str:
        return str(self.header["started_utc"])

    @classmethod
    def create(
        cls,
        folder: Path,
        spec: ExerciseSpec,
        *,
        checkin: Any = None,
        patient: str | None = None,
        model_path: Path | None = None,
        source: Mapping[str, Any] | None = None,
        recorded: bool = False,
        session_id: str | None = None,
    ) -> SessionJournal:
        """Start the journal of a new session in ``folder`` (created if needed), its header on disk.

        ``checkin`` is the :class:`siform.live.checkin.CheckIn` (or its ``to_session()`` dict);
        ``source`` describes the input (``camera`` index or ``file``/``sha256``, ``width``, ``height``,
        ``fps``); ``recorded`` says whether the raw video is being kept (``--record``). A journal an
        earlier run left in ``folder`` is first recovered into a sibling folder (:attr:`recovered`).
        """
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"Cannot create the session folder {folder} ({os_reason(exc)}).",
                "Choose another folder with --out.",
            ) from None
        recovered: list[Path] = []
        leftover = folder / JOURNAL_FILE
        if leftover.exists():
            done = recover_journal(leftover, aside=True)
            recovered = [done] if done is not None else []
        # sessions killed in the folders beside this one (the default layout: out/live-<exercise>-<time>)
        for other in sorted(folder.resolve().parent.glob(f"*/{JOURNAL_FILE}")):
            if other.parent != folder.resolve() and (done := recover_journal(other)) is not None:
                recovered.append(done)
        block = checkin.to_session() if hasattr(checkin, "to_session") else checkin
        header = {
            "kind": JOURNAL_KIND,
            "format": JOURNAL_FORMAT,
            "session_id": session_id or new_session_id(),
            "started_utc": utc_now(),
            "exercise": {"id": spec.id, "name": spec.name},
            "spec_sha256": spec_digest(spec),
            "spec": spec.model_dump(mode="json"),
            "patient": (patient or "").strip() or None,
            "checkin": block,
            "source": dict(source or {}),
            "recorded": bool(recorded),
            "software": software_block(model_path),
        }
        try:
            # O_EXCL: an earlier run's journal that could not be recovered is never overwritten
            fd = os.open(folder / JOURNAL_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
        except FileExistsError:
            raise OutputError(
                f"An earlier live session's journal in {folder} could not be turned into a session.",
                "Free some disk space and start again (it is recovered then), or choose another --out.",
            ) from None
        except OSError as exc:
            raise OutputError(
                f"Cannot write the session journal in {folder} ({os_reason(exc)}).",
                "Choose another folder with --out.",
            ) from None
        _try_lock(fd)  # held while this session runs: recovery leaves a running session's journal alone
        journal = cls(folder, spec, header, fd)
        journal.recovered = recovered
        journal._write(header)
        sync_folder(folder)  # the journal's own name must survive a crash too
        return journal

    # -- writing -----------------------------------------------------------------------------

    def _write(self, line: Mapping[str, Any]) -> None:
        """One line, whole, then fsync: after this returns the line survives a kill or power cut."""
        if self._fd is None:
            raise RuntimeError("the session journal is closed")
        data = (json.dumps(line, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n").encode()
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
        except OSError as exc:
            raise OutputError(
                f"Cannot write the session journal {self.path} ({os_reason(exc)}).",
                "Free some space or choose another folder with --out; the reps so far are in the journal.",
            ) from None

    def start_set(
        self,
        number: int,
        side: str | None,
        *,
        view: str | None = None,
        setup: SetupVerdict | None = None,
        t_ms: int | None = None,
    ) -> None:
        """Mark the start of set ``number`` (its side, the view and setup it was judged from, and the
        session-clock time of its first frame), so a crash mid-set still records them."""
        self._sets.start(_OpenSet(number, side, view, setup, t_ms))
        self._write(
            {"type": "set_start", "set": number, "side": side, "view": view,
             "setup": to_jsonable(setup) if setup is not None else None, "t_ms": t_ms}
        )  # fmt: skip

    def append(self, event: RepEvent | HoldEvent | Rep | Hold, *, set_number: int) -> None:
        """Record one finished rep or hold of set ``set_number`` as judged live (its verdicts may be
        provisional); on disk before this returns."""
        item: Rep | Hold = event.rep if isinstance(event, RepEvent) else (
            event.hold if isinstance(event, HoldEvent) else event
        )  # fmt: skip
        kind = "rep" if isinstance(item, Rep) else "hold"
        self._sets.add(set_number, item.side, item)
        self._write({"type": kind, "set": set_number, "side": item.side, "record": to_jsonable(item)})

    def end_set(self, finished: LiveSet) -> None:
        """Record a set that ended, with its final (reconciled) reps or holds and summary: pass
        ``LiveSet.from_result(number, live_session.result(setup, notes))``."""
        self._sets.end(finished)
        self._write({"type": "set_end", **_set_to_json(finished)})

    # -- ending ------------------------------------------------------------------------------

    def sets(self) -> list[LiveSet]:
        """Every set so far: those ended with their final records, an unfinished one as judged live."""
        return self._sets.live_sets(self.spec)

    def finalize(
        self,
        sets: Sequence[LiveSet] | None = None,
        *,
        setup: SetupVerdict | None = None,
        interrupted: bool = False,
    ) -> Path:
        """Write ``session.json`` (atomically, synced) and remove the journal; returns its path.

        ``sets`` defaults to what the journal holds (:meth:`sets`); ``setup`` to the first set's.
        ``interrupted`` marks a session that did not end normally (the camera was lost for good...).
        The journal is kept if writing fails, so the session can still be recovered.
        """
        doc = build_live_session(
            self.sets() if sets is None else sets, self.spec,
            source=self.header["source"], model_path=None, software=self.header["software"],
            session_id=self.session_id, recorded_utc=self.started_utc, checkin=self.header["checkin"],
            interrupted=interrupted, recorded=self.header["recorded"], patient=self.header["patient"],
            setup=setup,
        )  # fmt: skip
        validate_session(doc)
        out = self.folder / SESSION_FILE
        try:
            write_session(doc, out, durable=True)
        except OSError as exc:
            raise OutputError(
                f"Cannot write {out} ({os_reason(exc)}).",
                f"The reps are safe in {self.path}; the next siform live in this folder recovers them.",
            ) from None
        self.close()
        _remove(self.path)
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> SessionJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Sets:
    """A session's sets, keyed by set number and side: both sides of a one-sided exercise's set may
    share its number. A set started before its side was known (None: a unilateral exercise without
    ``--side``) takes the side of its first rep."""

    def __init__(self) -> None:
        self.ended: dict[tuple[int, str | None], LiveSet] = {}
        self.open: dict[tuple[int, str | None], _OpenSet] = {}

    def start(self, started: _OpenSet) -> None:
        self.open[(started.number, started.side)] = started

    def add(self, number: int, side: str | None, item: Rep | Hold) -> None:
        key = (number, side)
        if key not in self.open and side is not None and (number, None) in self.open:
            found = self.open.pop((number, None))
            found.side = side
            self.open[key] = found
        if key not in self.open and side is None:  # a record without a side belongs to its set's
            same = [k for k in self.open if k[0] == number]
            key = same[0] if len(same) == 1 else key
        self.open.setdefault(key, _OpenSet(number, side, None, None, None)).items.append(item)

    def end(self, finished: LiveSet) -> None:
        self.open.pop((finished.number, finished.side), None)
        self.open.pop((finished.number, None), None)
        self.ended[(finished.number, finished.side)] = finished

    def live_sets(self, spec: ExerciseSpec) -> list[LiveSet]:
        """Ended sets with their final records, unfinished ones as judged live, in the order done."""
        unfinished = [o.to_live_set(spec) for k, o in self.open.items() if k not in self.ended]
        return sorted(
            [*self.ended.values(), *unfinished],
            key=lambda s: (s.number, s.start_ms is None, s.start_ms or 0),
        )


@dataclass
class _OpenSet:
    number: int
    side: str | None
    view: str | None
    setup: SetupVerdict | None
    t_ms: int | None
    items: list[Rep | Hold] = field(default_factory=list)

    def to_live_set(self, spec: ExerciseSpec) -> LiveSet:
        """The set as far as it went, its verdicts as judged live (``provisional``)."""
        reps = [i for i in self.items if isinstance(i, Rep)]
        holds = [i for i in self.items if isinstance(i, Hold)]
        per_set = spec.prescription.reps or (None if spec.kind == "reps" else 1)
        side = self.side if self.side is not None else next((i.side for i in self.items if i.side), None)
        starts = [i.start_ms for i in self.items]
        return LiveSet(
            number=self.number,
            side=side,
            view=self.view,
            reps=reps,
            holds=holds,
            summary=summarise(spec, side, reps, holds, per_set) if self.view or self.items else None,
            start_ms=self.t_ms if self.t_ms is not None else (min(starts) if starts else None),
            end_ms=max((i.end_ms for i in self.items), default=self.t_ms),
            frames=None,
            frames_with_pose=None,
            setup=self.setup,
            provisional=True,
        )


# -- JSON <-> records ------------------------------------------------------------------------


def _set_to_json(s: LiveSet) -> dict[str, Any]:
    return {
        "set": s.number, "side": s.side, "view": s.view,
        "reps": to_jsonable(s.reps), "holds": to_jsonable(s.holds), "summary": to_jsonable(s.summary),
        "start_ms": s.start_ms, "end_ms": s.end_ms, "frames": s.frames,
        "frames_with_pose": s.frames_with_pose,
        "setup": to_jsonable(s.setup) if s.setup is not None else None,
        "unscored": to_jsonable(s.unscored), "notes": list(s.notes),
    }  # fmt: skip


def _record(cls: type, data: Mapping[str, Any], **nested: Any) -> Any:
    """A results dataclass from its JSON: init fields only (``duration_s`` is derived), keys it does
    not know ignored (a journal of a newer siform), missing ones left to their defaults."""
    known = {f.name for f in fields(cls) if f.init}
    kwargs = {k: v for k, v in data.items() if k in known}
    kwargs.update({k: v for k, v in nested.items() if k in known})
    return cls(**kwargs)


def _checks(data: Mapping[str, Any]) -> tuple[CheckResult, ...]:
    return tuple(_record(CheckResult, c) for c in data.get("checks") or [])


def _rep(data: Mapping[str, Any]) -> Rep:
    return _record(Rep, data, checks=_checks(data))


def _hold(data: Mapping[str, Any]) -> Hold:
    return _record(Hold, data, checks=_checks(data))


def _setup(data: Mapping[str, Any] | None) -> SetupVerdict | None:
    if not data:
        return None
    return _record(SetupVerdict, data, hints=tuple(data.get("hints") or ()))


def _set_from_json(line: Mapping[str, Any]) -> LiveSet:
    summary = line.get("summary")
    return LiveSet(
        number=int(line["set"]),
        side=line.get("side"),
        view=line.get("view"),
        reps=[_rep(r) for r in line.get("reps") or []],
        holds=[_hold(h) for h in line.get("holds") or []],
        summary=_record(SetSummary, summary) if summary else None,
        start_ms=line.get("start_ms"),
        end_ms=line.get("end_ms"),
        frames=line.get("frames"),
        frames_with_pose=line.get("frames_with_pose"),
        setup=_setup(line.get("setup")),
        unscored=[_record(Unscored, u) for u in line.get("unscored") or []],
        notes=list(line.get("notes") or []),
    )


# -- reading and recovery --------------------------------------------------------------------


@dataclass
class JournalContents:
    """What a journal holds: its header and whole lines; ``torn`` when the last line was cut off
    (a crash mid-write) and left out; ``damaged`` counts whole lines that were not valid JSON."""

    header: dict[str, Any]
    lines: list[dict[str, Any]]
    torn: bool = False
    damaged: int = 0


class JournalError(ValueError):
    """A journal that cannot be read at all (no header, another format)."""


def read_journal(path: Path) -> JournalContents:
    """Parse a journal: every complete line; a last line without its newline is ignored."""
    data = path.read_bytes()
    chunks = data.split(b"\n")
    torn = chunks[-1] != b""
    whole = chunks[:-1]
    parsed: list[dict[str, Any]] = []
    damaged = 0
    for chunk in whole:
        try:
            line = json.loads(chunk)
        except ValueError:
            damaged += 1
            continue
        if isinstance(line, dict):
            parsed.append(line)
        else:
            damaged += 1
    if not parsed or parsed[0].get("kind") != JOURNAL_KIND:
        raise JournalError(f"{path.name} has no journal header")
    header = parsed[0]
    fmt = header.get("format")
    if not isinstance(fmt, int) or fmt > JOURNAL_FORMAT:
        raise JournalError(f"{path.name} is journal format {fmt!r}; this siform reads up to {JOURNAL_FORMAT}")
    return JournalContents(header, parsed[1:], torn, damaged)


def journal_sets(contents: JournalContents, spec: ExerciseSpec) -> list[LiveSet]:
    """The sets a journal records: ended ones with their final records, the rest as judged live."""
    sets = _Sets()
    for line in contents.lines:
        kind = line.get("type")
        try:
            number = int(line["set"])
            if kind == "set_start":
                setup = _setup(line.get("setup"))
                sets.start(_OpenSet(number, line.get("side"), line.get("view"), setup, line.get("t_ms")))
            elif kind in ("rep", "hold"):
                item = _rep(line["record"]) if kind == "rep" else _hold(line["record"])
                sets.add(number, line.get("side"), item)
            elif kind == "set_end":
                sets.end(_set_from_json(line))
        except (KeyError, TypeError, ValueError) as exc:
            contents.damaged += 1
            log.debug("journal line skipped (%s): %s", exc, str(line)[:200])
    return sets.live_sets(spec)


def recovered_session(contents: JournalContents) -> dict[str, Any]:
    """The ``session.json`` document of an interrupted run, from its journal (``interrupted: true``)."""
    header = contents.header
    spec = ExerciseSpec.model_validate_json(json.dumps(header["spec"]))
    sets = journal_sets(contents, spec)
    doc = build_live_session(
        sets, spec,
        source=header.get("source") or {}, model_path=None, software=header.get("software"),
        session_id=header["session_id"], recorded_utc=header["started_utc"],
        checkin=header.get("checkin"), interrupted=True, recorded=bool(header.get("recorded")),
        patient=header.get("patient"),
    )  # fmt: skip
    lost = contents.damaged + (1 if contents.torn else 0)
    if lost:
        doc["source"]["notes"].append(
            f"the run was interrupted; {lost} journal line(s) cut off or damaged by the crash were left out"
        )
    return doc


def _existing_id(path: Path) -> str | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc.get("session_id") if isinstance(doc, dict) else None


def _aside(folder: Path, started_utc: str) -> Path:
    """``<folder>-interrupted-<start time>``, next to ``folder``, never an existing one."""
    try:
        stamp = datetime.fromisoformat(started_utc).strftime("%Y%m%d-%H%M%S")
    except ValueError:
        stamp = "unknown-time"
    base = folder.resolve()
    candidate = base.with_name(f"{base.name}-interrupted-{stamp}")
    k = 2
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-interrupted-{stamp}-{k}")
        k += 1
    return candidate


def _try_lock(fd: int) -> bool:
    """Take the journal's lock without waiting: False when a running session holds it. The lock goes
    with the process, so a killed run's journal is free at once. (No locking where fcntl is missing.)"""
    try:
        import fcntl
    except ImportError:  # Windows
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return True  # a file system without locks: recover as before
    return True


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sync_folder(path.parent)


KEPT = "%s: could not be recovered now (%s); it is kept for the next try."


def recover_journal(journal: Path, *, aside: bool = False) -> Path | None:
    """Turn the journal of an interrupted run into a ``session.json``; returns its path.

    In place (the journal's folder) unless ``aside`` or that folder already holds another session's
    ``session.json``: then in a new sibling folder ``<folder>-interrupted-<start time>``. A journal
    whose session was in fact written (same session id) is just removed. A journal that cannot be
    read is renamed ``*.unreadable`` with a warning, so it never blocks a later run; returns None.
    A journal a running session holds (its lock) is left alone: None.
    """
    try:
        fd = os.open(journal, os.O_RDONLY)
    except OSError:
        return None
    try:
        if not _try_lock(fd):
            log.debug("%s: in use by a running session; not recovered.", journal)
            return None
        return _recover_locked(journal, aside)
    finally:
        os.close(fd)  # releases the lock


def _recover_locked(journal: Path, aside: bool) -> Path | None:
    if journal.stat().st_size == 0:  # killed before its header was written: nothing to recover
        _remove(journal)
        return None
    try:
        contents = read_journal(journal)
        doc = recovered_session(contents)
        validate_session(doc)
    except Exception as exc:  # JournalError, a damaged header, a spec this siform refuses
        target = journal.with_name(journal.name + ".unreadable")
        log.warning("%s: cannot be recovered (%s); kept as %s.", journal, str(exc)[:160], target.name)
        with contextlib.suppress(OSError):
            journal.replace(target)
        return None
    folder = journal.parent
    existing = folder / SESSION_FILE
    if existing.exists() and _existing_id(existing) == doc["session_id"]:
        _remove(journal)  # finalize wrote it, the crash came before the journal was removed
        return existing
    if aside or existing.exists():
        folder = _aside(journal.parent, contents.header["started_utc"])
        try:
            folder.mkdir(parents=True)
        except OSError as exc:
            log.warning(KEPT, journal, os_reason(exc))
            return None
        sync_folder(folder.parent)
    out = folder / SESSION_FILE
    try:
        write_session(doc, out, durable=True)
    except OSError as exc:  # a full disk: keep the journal for a later try
        log.warning(KEPT, journal, os_reason(exc))
        return None
    _remove(journal)
    reps = len(doc["reps"]) + len(doc["holds"])
    log.warning("An interrupted live session was recovered with %d rep(s) or hold(s): %s", reps, out)
    return out


def recover_journals(root: Path) -> list[Path]:
    """Recover every journal left in ``root`` or its direct subfolders (in place), except those of
    sessions still running; the sessions written."""
    root = Path(root)
    candidates: Iterable[Path] = [root / JOURNAL_FILE, *sorted(root.glob(f"*/{JOURNAL_FILE}"))]
    done = []
    for journal in candidates:
        if journal.is_file():
            out = recover_journal(journal)
            if out is not None:
                done.append(out)
    return done
