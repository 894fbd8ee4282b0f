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
``session.json`` is ever sent: never a video.

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


def _call(method: str, url: str, body: bytes | None = None, token: str | None = None) -> Answer:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
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


def send(pairing: Pairing, raw: bytes, name: str) -> Sent:
    url = f"{pairing.server}/api/v1/patients/{pairing.patient_id}/sessions"
    answer = _call("POST", url, raw, pairing.token)
    if answer.status == 201:
        return Sent(name, "stored")
    if answer.status == 200:
        return Sent(name, "already stored")
    if answer.status == 0 or answer.status >= 500 or answer.status == 429:
        _queue(raw)
        return Sent(name, "queued", str(answer.body.get("message") or f"HTTP {answer.status}"))
    return Sent(
        name, "refused", str(answer.body.get("message") or answer.body.get("detail") or answer.status)
    )


def upload(paths: list[Path]) -> list[Sent]:
    """Send the queue, then ``paths``; each file's outcome (the queue's files are named by hash)."""
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
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ClientError(f"{path}: cannot read it ({exc.strerror}).") from exc
        results.append(send(pairing, raw, str(path)))
    return results


def upload_if_paired(session_json: Path) -> str | None:
    """For ``live``/``analyze``: upload a just-written session on a paired machine; one line to
    show, or None when unpaired. Never raises: the session is safe on disk either way."""
    try:
        if load_pairing() is None:
            return None
        (sent,) = upload([session_json])[-1:]
    except (SiformError, OSError) as exc:
        return f"Not uploaded: {exc}"
    return _line(sent)


def queue_if_paired(session_json: Path) -> str | None:
    """For a session ended by Ctrl-C: queue it without touching the network (the patient asked to
    stop now); the next ``siform upload`` or ``siform sync`` sends it. Never raises."""
    try:
        if load_pairing() is None:
            return None
        _queue(session_json.read_bytes())
    except (SiformError, OSError) as exc:
        return f"Not queued for upload: {exc}"
    return _line(Sent(str(session_json), "queued"))


def _line(sent: Sent) -> str:
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
    results = upload([Path(p) for p in args.sessions])
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
    if not queue_dir().is_dir() or not any(queue_dir().glob("*.json")):
        return
    results = upload([])
    sent = sum(r.outcome in ("stored", "already stored") for r in results)
    refused = [r for r in results if r.outcome == "refused"]
    left = len(list(queue_dir().glob("*.json")))
    parts = [f"{sent} queued session(s) sent to your therapist"] if sent else []
    parts += [f"{len(refused)} refused ({refused[0].message})"] if refused else []
    parts += [f"{left} still queued"] if left else []
    print("; ".join(parts) + ".")
