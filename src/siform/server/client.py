"""The patient's side of the server: ``siform pair`` and ``siform upload`` (standard library only).

A patient's machine does not install the server extra, so this module uses ``urllib`` and nothing
else. Pairing trades the therapist's invite code for a device token, kept in ``server.json`` in the
client folder (``SIFORM_CLIENT_DIR``, default the user config folder; readable by the user only).
An upload that cannot reach the server (no network, server down, a 5xx) is queued in the folder's
``queue/`` and sent by the next ``siform upload`` (with or without files); an upload the server
refuses (4xx: invalid, too large, token revoked) is not queued, since sending it again cannot help.
The server stores a session once however often it is sent, so a retry is always safe.

For automatic uploads after ``siform live`` or ``siform analyze``: call :func:`upload_if_paired`
with the written ``session.json``; it does nothing on an unpaired machine and never raises. Only
``session.json`` is sent, never a picture of the patient, unless the patient opts in for that
session (``--share-video``): then, after the session is stored, its video goes too (a ``PUT`` to
the session the upload answered, streamed from the file). Offline, the video waits in the queue as
a ``.video`` entry that names the file and its sha256 (not a copy of it); it is sent only if the
file is still the same, else dropped with a line saying so. The server stores one video per
session, so a retry is safe.

``siform sync`` fetches the therapist's prescription (``siform.prescription``) into
``prescription.json`` beside ``server.json``, says what to do in plain words, and sends the queue.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siform.errors import SiformError

CLIENT_DIR_ENV = "SIFORM_CLIENT_DIR"
TIMEOUT_S = 30.0
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


class ClientError(SiformError):
    """Pairing or uploading failed in a way the patient can act on."""


def client_dir() -> Path:
    configured = os.environ.get(CLIENT_DIR_ENV)
    if configured:
        return Path(configured)
    from platformdirs import user_config_dir

    return Path(user_config_dir("siform"))


@dataclass(frozen=True)
class Pairing:
    server: str
    patient_id: str
    device_id: str
    token: str
    expires_utc: str


def load_pairing() -> Pairing | None:
    path = client_dir() / "server.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Pairing(
            **{k: str(data[k]) for k in ("server", "patient_id", "device_id", "token", "expires_utc")}
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClientError(
            f"{path} is unreadable ({exc}).", "Pair this device again: siform pair SERVER CODE"
        ) from exc


def paired_patient_id() -> str | None:
    """The server's id of the patient this machine is paired for, or None (not paired, or a pairing
    file that cannot be read: the upload says so later). ``analyze`` and ``live`` write it as the
    session's ``patient`` when no ``--patient`` is given, so every upload names whose it is and the
    report's trend compares the patient's own sessions."""
    try:
        pairing = load_pairing()
    except ClientError:
        return None
    return pairing.patient_id if pairing is not None else None


def _save_pairing(pairing: Pairing) -> Path:
    folder = client_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "server.json"
    tmp = path.with_suffix(".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the token is a credential
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(pairing.__dict__, f, indent=1)
    tmp.replace(path)
    return path


def _check_server_url(url: str, allow_http: bool) -> str:
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ClientError(f"{url!r} is not a server address.", "Give it as https://HOST[:PORT].")
    if parsed.scheme == "http" and parsed.hostname not in LOCAL_HOSTS and not allow_http:
        raise ClientError(
            f"{url} is not encrypted (http).",
            "Use the server's https:// address; --allow-http only on a network you trust.",
        )
    return f"{parsed.scheme}://{parsed.netloc}{parsed.path.rstrip('/')}"


@dataclass(frozen=True)
class Answer:
    status: int  # 0: the server could not be reached
    body: dict[str, Any]


def _call(
    method: str,
    url: str,
    body: bytes | Any | None = None,
    token: str | None = None,
    extra: dict[str, str] | None = None,
) -> Answer:
    """One request; ``body`` is bytes, or an open binary file sent in blocks (``extra`` then gives
    its Content-Length and type, so a video is never read into memory)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json", **(extra or {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310 (checked)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            return Answer(response.status, _json(response.read()))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, _json(exc.read()))
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return Answer(0, {"message": f"the server could not be reached ({reason})"})


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def pair(server: str, code: str, device_name: str, allow_http: bool = False) -> Pairing:
    base = _check_server_url(server, allow_http)
    answer = _call(
        "POST", base + "/api/v1/pair", json.dumps({"code": code, "device_name": device_name}).encode()
    )
    if answer.status != 201:
        message = answer.body.get("message") or answer.body.get("detail") or f"HTTP {answer.status}"
        raise ClientError(f"Pairing failed: {message}")
    b = answer.body
    pairing = Pairing(base, str(b["patient_id"]), str(b["device_id"]), str(b["token"]), str(b["expires_utc"]))
    _save_pairing(pairing)
    return pairing


def queue_dir() -> Path:
    return client_dir() / "queue"


def _queue(raw: bytes) -> Path:
    folder = queue_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(raw).hexdigest()}.json"
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(raw)
        tmp.replace(path)
    return path


@dataclass(frozen=True)
class Sent:
    name: str
    outcome: str  # "stored", "already stored", "queued", "refused"
    message: str = ""
    session_id: str = ""  # the server's id of the stored session (stored, already stored)
    kind: str = "session"  # or "video"


def send(pairing: Pairing, raw: bytes, name: str) -> Sent:
    url = f"{pairing.server}/api/v1/patients/{pairing.patient_id}/sessions"
    answer = _call("POST", url, raw, pairing.token)
    if answer.status in (200, 201):
        stored = "stored" if answer.status == 201 else "already stored"
        return Sent(name, stored, session_id=str(answer.body.get("id") or ""))
    if answer.status == 0 or answer.status >= 500 or answer.status == 429:
        _queue(raw)
        return Sent(name, "queued", str(answer.body.get("message") or f"HTTP {answer.status}"))
    return Sent(
        name, "refused", str(answer.body.get("message") or answer.body.get("detail") or answer.status)
    )


VIDEO_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm"}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def send_video(pairing: Pairing, session_id: str, video: Path, name: str | None = None) -> Sent:
    """Send ``video`` as the video of the stored session ``session_id`` (streamed from the file)."""
    name = name or str(video)
    url = f"{pairing.server}/api/v1/patients/{pairing.patient_id}/sessions/{session_id}/video"
    ahead = _ask_before_sending(pairing, url, video, name, session_id)
    if ahead is not None:
        return ahead
    try:
        size = video.stat().st_size
        with video.open("rb") as f:
            kind = VIDEO_TYPES.get(video.suffix.lower(), "application/octet-stream")
            extra = {"Content-Type": kind, "Content-Length": str(size)}
            answer = _call("PUT", url, f, pairing.token, extra)
    except OSError as exc:
        return Sent(name, "refused", f"cannot read it: {exc.strerror}", kind="video")
    if answer.status == 201:
        return Sent(name, "stored", session_id=session_id, kind="video")
    if answer.status == 200:
        return Sent(name, "already stored", session_id=session_id, kind="video")
    message = str(answer.body.get("message") or answer.body.get("detail") or f"HTTP {answer.status}")
    if answer.status == 0 or answer.status >= 500 or answer.status == 429:
        return Sent(name, "queued", message, session_id=session_id, kind="video")
    return Sent(name, "refused", message, kind="video")


def _ask_before_sending(pairing: Pairing, url: str, video: Path, name: str, session_id: str) -> Sent | None:
    """The outcome without sending the file, when the server's answer decides it: the same video
    stored already, another one stored, or this one larger than the server takes. None: send it."""
    answer = _call("GET", url, None, pairing.token)
    if answer.status != 200 or not isinstance(answer.body.get("max_video_bytes"), int):
        return None  # an older server, or away: the PUT says what happens
    try:
        size = video.stat().st_size
        stored = answer.body.get("video")
        same_size = isinstance(stored, dict) and stored.get("size_bytes") == size
        if same_size and stored.get("sha256") == file_sha256(video):  # type: ignore[union-attr]
            return Sent(name, "already stored", session_id=session_id, kind="video")
    except OSError as exc:
        return Sent(name, "refused", f"cannot read it: {exc.strerror}", kind="video")
    if isinstance(stored, dict):
        why = "this session has another video on the server already; it keeps the first one sent"
        return Sent(name, "refused", why, kind="video")
    limit = answer.body["max_video_bytes"]
    if size > limit:
        why = f"{size / 2**20:.1f} MiB; the server takes videos up to {limit / 2**20:.1f} MiB"
        return Sent(name, "refused", why, kind="video")
    return None


def _queue_video(raw_session: bytes, video: Path) -> Path:
    """Keep a shared video for later: the session it belongs to (its document, small) and the
    video's path and sha256; never a copy of the video."""
    folder = queue_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(raw_session).hexdigest()}.video"
    entry = {
        "video": str(video.resolve()),
        "sha256": file_sha256(video),
        "session": raw_session.decode("utf-8"),
    }
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(entry), encoding="utf-8")
    tmp.replace(path)
    return path


def share_video(pairing: Pairing, raw_session: bytes, session_sent: Sent, video: Path) -> Sent:
    """After ``session_sent``: the video's outcome (sent, queued with its session, or not sent)."""
    name = str(video)
    if session_sent.outcome in ("stored", "already stored") and session_sent.session_id:
        sent = send_video(pairing, session_sent.session_id, video)
        if sent.outcome == "queued":
            _queue_video(raw_session, video)
        return sent
    if session_sent.outcome == "queued":
        try:
            _queue_video(raw_session, video)
        except OSError as exc:
            return Sent(name, "refused", f"not queued: {exc.strerror}", kind="video")
        return Sent(name, "queued", session_sent.message, kind="video")
    return Sent(name, "refused", "not sent: its session was not stored", kind="video")


def _send_queued_video(pairing: Pairing, entry_path: Path) -> Sent:
    """One ``.video`` queue entry: its session again (the server answers its id), then the video
    if the file is still the one the patient chose to share."""
    try:
        entry = json.loads(entry_path.read_text(encoding="utf-8"))
        video, sha, raw = Path(entry["video"]), str(entry["sha256"]), str(entry["session"]).encode("utf-8")
    except (OSError, ValueError, KeyError, TypeError):
        name = f"queued video {entry_path.name[:12]}"
        return Sent(name, "refused", "the queue entry is unreadable", kind="video")
    name = f"queued video {video}"
    try:
        same = file_sha256(video) == sha
    except OSError as exc:
        return Sent(name, "refused", f"not sent: the file is gone ({exc.strerror})", kind="video")
    if not same:
        return Sent(name, "refused", "not sent: the file changed since it was queued", kind="video")
    session_sent = send(pairing, raw, f"queued {entry_path.name[:12]}")
    if session_sent.outcome == "queued":
        return Sent(name, "queued", session_sent.message, kind="video")
    if session_sent.outcome == "refused":
        why = f"not sent: its session was refused ({session_sent.message})"
        return Sent(name, "refused", why, kind="video")
    return send_video(pairing, session_sent.session_id, video, name)


def upload(paths: list[Path], video: Path | None = None) -> list[Sent]:
    """Send the queue (sessions, then queued videos), then ``paths``; each file's outcome (the
    queue's files are named by hash). ``video``, with one path only: that session's video, sent
    because the patient opted in (``--share-video``, ``siform upload --video``)."""
    if video is not None and len(paths) != 1:
        raise ClientError("A video goes with one session.json: give exactly one.")
    pairing = load_pairing()
    if pairing is None:
        raise ClientError(
            "This device is not paired with a therapist's server.",
            "Ask your therapist for an invite code, then: siform pair SERVER CODE",
        )
    results = []
    for queued in sorted(queue_dir().glob("*.json")) if queue_dir().is_dir() else []:
        sent = send(pairing, queued.read_bytes(), f"queued {queued.name[:12]}")
        if sent.outcome != "queued":
            queued.unlink()  # sent, or refused for good
        results.append(sent)
        if sent.outcome == "queued":
            break  # the server is still away: keep the rest for later
    else:
        for entry in sorted(queue_dir().glob("*.video")) if queue_dir().is_dir() else []:
            sent = _send_queued_video(pairing, entry)
            if sent.outcome != "queued":
                entry.unlink()  # sent, or not sendable any more (said in its line)
            results.append(sent)
            if sent.outcome == "queued":
                break
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ClientError(f"{path}: cannot read it ({exc.strerror}).") from exc
        results.append(send(pairing, raw, str(path)))
        if video is not None:
            results.append(share_video(pairing, raw, results[-1], video))
    return results


NOT_PAIRED_VIDEO = "Video not shared: this device is not paired with a therapist's server."


def upload_if_paired(session_json: Path, video: Path | None = None) -> str | None:
    """For ``live``/``analyze``: upload a just-written session on a paired machine (and ``video``,
    when the patient opted in); the lines to show, or None when unpaired and no video was asked
    for. Never raises: the session is safe on disk either way."""
    try:
        if load_pairing() is None:
            return NOT_PAIRED_VIDEO if video is not None else None
        results = upload([session_json], video)
    except (SiformError, OSError) as exc:
        return f"Not uploaded: {exc}" + ("; the video was not shared either." if video is not None else "")
    return "\n".join(_line(s) for s in results[-(2 if video is not None else 1) :])


def queue_if_paired(session_json: Path, video: Path | None = None) -> str | None:
    """For a session ended by Ctrl-C: queue it (and the video the patient chose to share) without
    touching the network (the patient asked to stop now); the next ``siform upload`` or ``siform
    sync`` sends it. Never raises."""
    try:
        if load_pairing() is None:
            return NOT_PAIRED_VIDEO if video is not None else None
        raw = session_json.read_bytes()
        _queue(raw)
        lines = [_line(Sent(str(session_json), "queued"))]
        if video is not None:
            _queue_video(raw, video)
            lines.append(_line(Sent(str(video), "queued", kind="video")))
    except (SiformError, OSError) as exc:
        return f"Not queued for upload: {exc}"
    return "\n".join(lines)


def queue_video_if_paired(session_json: Path, video: Path) -> str | None:
    """For a session ended by Ctrl-C whose video the patient chose to share: queue the video (its
    session is queued already); the next ``siform upload`` or ``siform sync`` sends it. Never raises."""
    try:
        if load_pairing() is None:
            return NOT_PAIRED_VIDEO
        _queue_video(session_json.read_bytes(), video)
    except (SiformError, OSError) as exc:
        return f"Video not queued: {exc}"
    return _line(Sent(str(video), "queued", kind="video"))


def _line(sent: Sent) -> str:
    if sent.kind == "video":
        text = {
            "stored": "video shared with your therapist",
            "already stored": "video already on your therapist's server",
            "queued": "video queued: will be sent by the next siform upload or siform sync",
            "refused": "video NOT shared",
        }[sent.outcome]
    else:
        text = {
            "stored": "uploaded to your therapist",
            "already stored": "already on your therapist's server",
            "queued": "queued: will be sent by the next siform upload or siform sync",
            "refused": "refused by the server",
        }[sent.outcome]
    return f"{sent.name}: {text}" + (f" ({sent.message})" if sent.message else "")


def cmd_pair(args: Any) -> int:
    pairing = pair(args.server, args.code, args.name or _default_device_name(), allow_http=args.allow_http)
    print(
        f"Paired with {pairing.server}; this device's token expires {pairing.expires_utc[:10]}. "
        f"Upload a session with: siform upload out/.../session.json"
    )
    return 0


def _default_device_name() -> str:
    import platform

    return platform.node() or "device"


def cmd_upload(args: Any) -> int:
    video = Path(args.video) if getattr(args, "video", None) else None
    if video is not None and not video.is_file():
        raise ClientError(f"{video}: no such video file; nothing was sent.")
    results = upload([Path(p) for p in args.sessions], video)
    if not results:
        print("Nothing to upload: the queue is empty.")
    for sent in results:
        print(_line(sent), file=sys.stderr if sent.outcome == "refused" else sys.stdout)
    if any(s.outcome == "refused" for s in results):
        if any("token" in s.message for s in results if s.outcome == "refused"):
            print("Pair this device again with a new invite code: siform pair SERVER CODE", file=sys.stderr)
        return 1
    return 0


# -- siform sync: the therapist's prescription ------------------------------------------------------------


def _age_words(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(int(seconds // 60), 0)} min ago"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def _stored_words() -> str:
    """What the patient has to go on while the server is away: the stored prescription and its age."""
    from siform.prescription import load_stored, stored_path, when_words

    try:
        stored = load_stored()
    except SiformError:
        stored = None
    if stored is None:
        return "no prescription is stored on this device yet"
    synced = time.time() - stored_path().stat().st_mtime
    return (
        f"keeping the one synced {_age_words(synced)} "
        f"(version {stored.version}, set by your therapist on {when_words(stored.updated_utc)})"
    )


@dataclass(frozen=True)
class Synced:
    prescription: Any  # siform.prescription.PatientPrescription
    changed: bool
    previous_version: int | None


def sync(pairing: Pairing) -> Synced:
    """Fetch this device's patient's prescription and store it (``prescription.json``); raise a
    :class:`ClientError` saying what happened, the stored prescription untouched, when it cannot."""
    from pydantic import ValidationError

    from siform.prescription import PatientPrescription, load_stored, save_stored

    url = f"{pairing.server}/api/v1/patients/{pairing.patient_id}/prescription"
    answer = _call("GET", url, None, pairing.token)
    message = str(answer.body.get("message") or answer.body.get("detail") or f"HTTP {answer.status}")
    if answer.status == 0 or answer.status >= 500 or answer.status == 429:
        reason = message if answer.status == 0 else f"it answered HTTP {answer.status}: {message}"
        raise ClientError(f"Cannot reach your therapist's server ({reason}); {_stored_words()}.")
    if answer.status == 401:
        raise ClientError(
            f"Your therapist's server no longer accepts this device ({message.split(';')[0]}); "
            f"{_stored_words()}.",
            "Ask your therapist for a new invite code, then: siform pair SERVER CODE",
        )
    if answer.status != 200:
        raise ClientError(f"Your therapist's server refused the prescription request ({message}).")
    try:
        if not answer.body:
            raise ValueError("the answer is not a JSON document")
        fetched = PatientPrescription.model_validate(answer.body)
        if fetched.patient_id != pairing.patient_id:
            raise ValueError(f"it is for another patient ({fetched.patient_id})")
    except (ValidationError, ValueError) as exc:
        reason = str(exc) if not isinstance(exc, ValidationError) else _first_error(exc)
        raise ClientError(
            f"Your therapist's server sent a prescription this siform cannot read ({reason}); "
            f"{_stored_words()}.",
            "Try again later, or update siform.",
        ) from None
    try:
        previous = load_stored()
    except SiformError:
        previous = None
    if previous is not None and previous.patient_id != pairing.patient_id:
        previous = None
    save_stored(fetched)
    return Synced(fetched, previous is None or previous != fetched, previous.version if previous else None)


def _first_error(exc: Any) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])


def prescription_lines(prescription: Any, specs_dir: Path | None = None) -> list[str]:
    """What the patient must do, in plain words: one line per exercise, the therapist's note under it."""
    from siform.prescription import apply_prescription, dose_words, when_words
    from siform.specs.load import load_all

    if not prescription.exercises:
        return ["Your therapist has not set a prescription yet: siform uses each exercise's own dose."]
    by = f" by {prescription.updated_by}" if prescription.updated_by else ""
    when = when_words(prescription.updated_utc)
    lines = [f"Your prescription (version {prescription.version}, set on {when}{by}):"]
    specs = load_all(specs_dir)
    for ex in prescription.exercises:
        spec = specs.get(ex.exercise)
        if spec is None:
            lines.append(f"  {ex.exercise}: not known to this siform (update siform to do it).")
            continue
        try:
            applied = apply_prescription(spec, ex, prescription.updated_utc)
        except SiformError as exc:
            lines.append(f"  {spec.name}: cannot be used as prescribed ({exc.message})")
            continue
        lines.append(f"  {spec.name}: {dose_words(applied, ex.side)}.   siform live {spec.id}")
        if ex.note:
            lines.append(f'      "{ex.note}"')
    return lines


def cmd_sync(args: Any) -> int:
    pairing = load_pairing()
    if pairing is None:
        raise ClientError(
            "This device is not paired with a therapist's server.",
            "Ask your therapist for an invite code, then: siform pair SERVER CODE",
        )
    synced = sync(pairing)
    rx = synced.prescription
    for line in prescription_lines(rx, Path(args.specs) if getattr(args, "specs", None) else None):
        print(line)
    if synced.previous_version is not None:
        print("Unchanged since your last sync." if not synced.changed else
              f"Updated: your previous prescription was version {synced.previous_version}.")  # fmt: skip
    _send_queue()
    return 0


def _send_queue() -> None:
    """While connected, send the sessions queued offline; one line when there were any."""
    queued = [*queue_dir().glob("*.json"), *queue_dir().glob("*.video")] if queue_dir().is_dir() else []
    if not queued:
        return
    results = upload([])
    sent = sum(r.outcome in ("stored", "already stored") and r.kind == "session" for r in results)
    videos = sum(r.outcome in ("stored", "already stored") and r.kind == "video" for r in results)
    refused = [r for r in results if r.outcome == "refused"]
    left = len(list(queue_dir().glob("*.json"))) + len(list(queue_dir().glob("*.video")))
    parts = [f"{sent} queued session(s) sent to your therapist"] if sent else []
    parts += [f"{videos} queued video(s) shared with your therapist"] if videos else []
    parts += [f"{len(refused)} refused ({refused[0].message})"] if refused else []
    parts += [f"{left} still queued"] if left else []
    print("; ".join(parts) + ".")
