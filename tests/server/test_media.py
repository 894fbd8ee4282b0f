"""Videos the patient chose to share (``--share-video``): the server's storage and the patient's side.

The videos are real files: a sample clip, and the same frames re-encoded by ffmpeg as MOV and WebM.
The API tests run the app over SQLite and PostgreSQL (the world of ``conftest``: therapists A and B,
their patients, devices, a session each); the end-to-end tests run a real ``siform serve`` and the
patient's ``siform`` in processes, with the real pose model.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from siform.server.media import sniff_video
from siform.server.models import AuditEvent, SessionVideo

from .conftest import (
    ROOT,
    SECRET,
    Server,
    TherapistWeb,
    World,
    clean_env,
    free_port,
    live_interrupted_at_first_rep,
    run_siform,
    serving,
)

CLIP = ROOT / "sample_videos" / "bridge_high_right.mp4"  # 5 bridges in 13.3 s at 15 fps
SHORT = ROOT / "sample_videos" / "bridge_high_short.mp4"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def codec_of(video: Path) -> str:
    """The video stream's codec as ffmpeg names it (from its description of the file)."""
    import imageio_ffmpeg

    info = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(video)],
                          capture_output=True, text=True).stderr  # fmt: skip
    return re.search(r"Video: (\w+)", info).group(1)  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first second of the clip re-encoded by ffmpeg as QuickTime MOV and WebM (VP8)."""
    import imageio_ffmpeg

    folder = tmp_path_factory.mktemp("encoded")
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    out = {}
    for name, codec in (("clip.mov", ["-c:v", "mpeg4"]), ("clip.webm", ["-c:v", "libvpx", "-b:v", "200k"])):
        target = folder / name
        subprocess.run(
            [ffmpeg, "-v", "error", "-y", "-i", str(CLIP), "-t", "1", "-an", *codec, str(target)],
            check=True,
            timeout=120,
        )
        out[name] = target
    return out


# -- recognising a video by its first bytes ------------------------------------------------------------


def test_sniff_knows_mp4_mov_and_webm_and_nothing_else(encoded: dict[str, Path], tmp_path: Path) -> None:
    assert sniff_video(CLIP.read_bytes()[:64]) == "video/mp4"
    assert sniff_video(encoded["clip.mov"].read_bytes()[:64]) == "video/quicktime"
    assert sniff_video(encoded["clip.webm"].read_bytes()[:64]) == "video/webm"
    import cv2
    import numpy as np

    picture = np.full((32, 32, 3), 128, np.uint8)
    for ext in (".jpg", ".png"):
        ok, data = cv2.imencode(ext, picture)
        assert ok and sniff_video(data.tobytes()[:64]) is None, ext
    assert sniff_video((ROOT / "sample_videos" / "bridge_high_right.truth.json").read_bytes()[:64]) is None
    assert sniff_video(b"%PDF-1.7\n" + b"\0" * 60) is None
    assert sniff_video(b"\0\0\0\x18ftypheic" + b"\0" * 52) is None  # an iPhone photo is ISO-BMFF too
    assert sniff_video(b"") is None


# -- the device API and the therapist's pages (SQLite and PostgreSQL) ------------------------------------


def put_video(client: Any, headers: dict[str, str], patient: str, session: str, body: Any, **kw: Any) -> Any:
    return client.put(
        f"/api/v1/patients/{patient}/sessions/{session}/video",
        content=body,
        headers={**headers, "Content-Type": "video/mp4", **kw.pop("extra", {})},
        **kw,
    )


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def video_rows(server: Server) -> list[SessionVideo]:
    from sqlalchemy.orm import Session

    with Session(server.engine) as db:
        return list(db.scalars(select(SessionVideo)).all())


def test_a_shared_video_is_stored_once_played_with_ranges_exported_and_deleted(
    world_server: tuple[Server, World], tmp_path: Path
) -> None:
    server, world = world_server
    media = tmp_path / "media"
    device = server.client(media_dir=str(media))
    token = {"Authorization": f"Bearer {world.token_a}"}
    data = CLIP.read_bytes()

    status_url = f"/api/v1/patients/{world.patient_a}/sessions/{world.session_a}/video"
    assert device.get(status_url, headers=token).json() == {"video": None, "max_video_bytes": 500 * 2**20}
    r = put_video(device, token, world.patient_a, world.session_a, data)
    assert r.status_code == 201, r.text
    assert r.json()["sha256"] == sha(data) and r.json()["size_bytes"] == len(data)
    held = {"size_bytes": len(data), "sha256": sha(data), "media_type": "video/mp4"}
    assert device.get(status_url, headers=token).json()["video"] == held
    (stored,) = files_under(media)
    assert stored.read_bytes() == data and sha(stored.read_bytes()) == sha(data)
    assert stored.parent == media / world.patient_a  # the patient's folder, a random name of the server's
    assert stored.suffix == ".mp4" and len(stored.stem) == 32 and stored.stem not in CLIP.name
    assert stored.stat().st_mode & 0o077 == 0  # the server's user only

    again = put_video(device, token, world.patient_a, world.session_a, data)  # a retry
    assert again.status_code == 200 and again.json()["duplicate"] is True
    other = put_video(device, token, world.patient_a, world.session_a, SHORT.read_bytes())
    assert other.status_code == 409 and other.json()["error"] == "conflict"
    assert files_under(media) == [stored] and stored.read_bytes() == data
    assert len(video_rows(server)) == 1

    web = server.client(media_dir=str(media))
    web.cookies.update(world.login_a)
    csrf = world.csrf_a
    page = web.get(f"/patients/{world.patient_a}/sessions/{world.session_a}")
    assert page.status_code == 200
    src = f"/patients/{world.patient_a}/sessions/{world.session_a}/video"
    assert f'<video controls preload="metadata" width="640" src="{src}">' in page.text
    assert 'class="worst"' not in page.text  # not the analysed file (the document names no sha256)
    assert "media-src 'self'" in page.headers["content-security-policy"]  # else the browser blocks it
    whole = web.get(src)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["cache-control"] == "no-store"
    part = web.get(src, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    with server.engine.connect() as conn:
        viewed = conn.execute(select(AuditEvent).where(AuditEvent.action == "video.viewed")).all()
        uploaded = conn.execute(select(AuditEvent).where(AuditEvent.action == "video.uploaded")).all()
    assert len(viewed) == 1  # the whole file once; the seek within it is the same viewing
    assert len(uploaded) == 1 and uploaded[0].actor_kind == "patient"

    export = web.get(f"/patients/{world.patient_a}/export").json()
    (listed,) = export["videos"]
    assert listed["session_id"] == world.session_a and listed["sha256"] == sha(data)
    assert listed["size_bytes"] == len(data) and listed["file_name"] == stored.name
    own = device.get(f"/api/v1/patients/{world.patient_a}/export", headers=token).json()
    assert own["videos"] == export["videos"]

    r = web.post(f"/patients/{world.patient_a}/delete", data={"csrf": csrf, "confirm": "delete"})
    assert r.status_code == 303
    assert files_under(media) == [] and video_rows(server) == []


def test_refused_videos_leave_nothing(
    world_server: tuple[Server, World], tmp_path: Path, encoded: dict[str, Path]
) -> None:
    server, world = world_server
    media = tmp_path / "media"
    data = CLIP.read_bytes()
    device = server.client(media_dir=str(media))
    a = {"Authorization": f"Bearer {world.token_a}"}
    before = server.dump()

    def refused(status: int, r: Any) -> None:
        assert r.status_code == status, r.text
        assert "Traceback" not in r.text and r.json()["message"]
        assert files_under(media) == [], files_under(media)
        assert server.dump() == before

    refused(
        401, put_video(device, {"Authorization": "Bearer sfd_wrong"}, world.patient_a, world.session_a, data)
    )
    refused(401, put_video(device, {}, world.patient_a, world.session_a, data))
    refused(401, put_video(device, {"Authorization": f"Bearer {world.token_revoked}"}, world.patient_a,
                           world.session_a, data))  # fmt: skip
    refused(404, put_video(device, a, world.patient_b, world.session_b, data))  # another patient
    refused(404, put_video(device, a, world.patient_a, world.session_b, data))  # another patient's session
    refused(404, put_video(device, a, world.patient_a, "0" * 32, data))  # no such session
    import cv2
    import numpy as np

    _ok, jpeg = cv2.imencode(".jpg", np.full((64, 64, 3), 200, np.uint8))  # a picture, not a video
    refused(415, put_video(device, a, world.patient_a, world.session_a, jpeg.tobytes()))
    refused(415, put_video(device, a, world.patient_a, world.session_a, b"\0\0\0\x18ftypheic" + data[12:]))
    refused(422, put_video(device, a, world.patient_a, world.session_a, b""))
    small = server.client(media_dir=str(media), max_video_bytes=100_000)
    refused(413, put_video(small, a, world.patient_a, world.session_a, data))  # declared too large

    def chunks() -> Iterator[bytes]:  # no Content-Length: cut off while it streams
        for i in range(0, len(data), 16384):
            yield data[i : i + 16384]

    r = put_video(small, a, world.patient_a, world.session_a, chunks())
    refused(413, r)

    # WebM and MOV are videos too; the stored type comes from the bytes, not the client's header
    r = put_video(device, a, world.patient_a, world.session_a, encoded["clip.webm"].read_bytes())
    assert r.status_code == 201 and r.json()["media_type"] == "video/webm"
    b = {"Authorization": f"Bearer {world.token_b}"}
    r = put_video(device, b, world.patient_b, world.session_b, encoded["clip.mov"].read_bytes())
    assert r.status_code == 201 and r.json()["media_type"] == "video/quicktime"
    assert sorted(p.suffix for p in files_under(media)) == [".mov", ".webm"]


# -- end to end: the patient's siform and a real siform serve ------------------------------------------------


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("media_server")
    media = folder / "media"
    env = clean_env(
        SIFORM_DATABASE_URL=f"sqlite:///{folder}/db.sqlite3",
        SIFORM_SECRET_KEY=SECRET,
        SIFORM_MEDIA_DIR=str(media),
    )
    with serving(env, folder / "server.log") as base:
        yield base, media


@pytest.fixture(scope="module")
def therapist(live_server: tuple[str, Path]) -> Iterator[TherapistWeb]:
    t = TherapistWeb(live_server[0])
    yield t
    t.web.close()


def test_analyze_shares_the_video_only_when_asked(
    live_server: tuple[str, Path], therapist: TherapistWeb, tmp_path: Path
) -> None:
    _base, media = live_server
    client_dir = tmp_path / "client"
    patient_id, _pairing = therapist.paired(client_dir)

    a = str(tmp_path / "a")
    r = run_siform(client_dir, "analyze", str(CLIP), "-e", "glute_bridge", "--no-video", "-o", a)
    assert r.returncode == 0, r.stderr
    assert "uploaded to your therapist" in r.stdout
    assert "video shared" not in r.stdout and "video queued" not in r.stdout
    export = therapist.export(patient_id)
    assert len(export["sessions"]) == 1 and export["videos"] == []  # opt-in absent: no video
    assert files_under(media / patient_id) == []

    out = tmp_path / "b"
    r = run_siform(
        client_dir, "analyze", str(CLIP), "-e", "glute_bridge", "--no-video", "-o", str(out), "--share-video"
    )
    assert r.returncode == 0, r.stderr
    assert f"{CLIP}: video shared with your therapist" in r.stdout, r.stdout
    export = therapist.export(patient_id)
    (video,) = export["videos"]
    stored = media / patient_id / video["file_name"]
    assert video["sha256"] == sha(CLIP.read_bytes()) == sha(stored.read_bytes())
    session_key = json.loads((out / "session.json").read_text())["session_id"]
    (session,) = [s for s in export["sessions"] if s["session_key"] == session_key]
    assert video["session_id"] == session["id"]

    # the therapist's page plays it; it is the analysed file, so failed checks link their worst moment
    page = therapist.web.get(f"/patients/{patient_id}/sessions/{session['id']}")
    assert "<video controls" in page.text and "It is the file this session analysed" in page.text
    checks = [c for rep in session["document"]["reps"] for c in rep["checks"]]
    failed = [c for c in checks if c["scored"] and c["value"] is not None and not c["passed"]]
    worst = [c["worst_t_ms"] for c in failed if c["worst_t_ms"] is not None]
    assert worst  # the clip has faulty reps
    links = re.findall(r'class="worst" href="/patients/\w+/sessions/\w+/video#t=([0-9.]+)"', page.text)
    assert [round(float(t) * 1000) for t in links] == worst
    assert (
        therapist.web.get(f"/patients/{patient_id}/sessions/{session['id']}/video").content
        == CLIP.read_bytes()
    )

    # a retry by hand is safe: already there, one file, and the video is not sent again (the
    # client asks what the server holds first; the server's access log has one PUT)
    r = run_siform(client_dir, "upload", str(out / "session.json"), "--video", str(CLIP))
    assert r.returncode == 0 and "video already on your therapist's server" in r.stdout, r.stdout
    assert len(files_under(media / patient_id)) == 1
    log = (media.parent / "server.log").read_text()
    assert len(re.findall(rf'"PUT /api/v1/patients/{patient_id}/sessions/\w+/video HTTP/1.1" 201', log)) == 1
    assert f'PUT /api/v1/patients/{patient_id}/sessions/{session["id"]}/video HTTP/1.1" 200' not in log
    # another video for the same session: said, not sent, not queued
    r = run_siform(client_dir, "upload", str(out / "session.json"), "--video", str(SHORT))
    assert r.returncode == 1 and "video NOT shared (this session has another video on the server" in r.stderr
    assert not (client_dir / "queue").exists() or not list((client_dir / "queue").iterdir())

    r = run_siform(client_dir, "analyze", str(CLIP), "-e", "glute_bridge", "--share-video", "--no-upload")
    assert r.returncode == 1 and "contradict" in r.stderr and "Traceback" not in r.stderr

    r = therapist.web.post(
        f"/patients/{patient_id}/delete", data={"csrf": therapist.csrf, "confirm": "delete"}
    )
    assert r.status_code == 303
    assert not (media / patient_id).exists()


def test_a_video_shared_offline_waits_in_the_queue(
    live_server: tuple[str, Path], therapist: TherapistWeb, tmp_path: Path, session_doc: dict[str, Any]
) -> None:
    _base, _media = live_server
    client_dir = tmp_path / "client"
    patient_id, pairing = therapist.paired(client_dir)
    session = tmp_path / "session.json"
    session.write_text(json.dumps(session_doc | {"session_id": str(uuid.uuid4())}))
    video = tmp_path / "recording.mp4"
    video.write_bytes(SHORT.read_bytes())

    away = {**pairing, "server": f"http://127.0.0.1:{free_port()}"}
    (client_dir / "server.json").write_text(json.dumps(away))
    r = run_siform(client_dir, "upload", str(session), "--video", str(video))
    assert r.returncode == 0, r.stderr
    assert f"{video}: video queued: will be sent by the next siform upload or siform sync" in r.stdout
    queued = list((client_dir / "queue").glob("*.video"))
    assert len(queued) == 1 and queued[0].stat().st_size < 2 * session.stat().st_size  # no copy of the video

    (client_dir / "server.json").write_text(json.dumps(pairing))
    r = run_siform(client_dir, "sync")
    assert r.returncode == 0, r.stderr
    assert (
        "1 queued session(s) sent to your therapist; 1 queued video(s) shared with your therapist."
        in r.stdout
    )
    assert list((client_dir / "queue").iterdir()) == []
    (stored,) = therapist.export(patient_id)["videos"]
    assert stored["sha256"] == sha(video.read_bytes())

    # queued, then the file changed: not sent, said so
    other = tmp_path / "other.json"
    other.write_text(json.dumps(session_doc | {"session_id": str(uuid.uuid4())}))
    (client_dir / "server.json").write_text(json.dumps(away))
    assert run_siform(client_dir, "upload", str(other), "--video", str(video)).returncode == 0
    video.write_bytes(CLIP.read_bytes())
    (client_dir / "server.json").write_text(json.dumps(pairing))
    r = run_siform(client_dir, "upload")
    assert "video NOT shared (not sent: the file changed since it was queued)" in r.stdout + r.stderr
    assert len(therapist.export(patient_id)["videos"]) == 1


CHECKIN = ["--pain", "2", "--red-flags", "none"]


def test_live_shares_its_recording_only_with_record_and_the_opt_in(
    live_server: tuple[str, Path], therapist: TherapistWeb, tmp_path: Path
) -> None:
    _base, media = live_server
    client_dir = tmp_path / "client"
    patient_id, _pairing = therapist.paired(client_dir)
    live = [
        "live",
        "glute_bridge",
        "--source",
        str(SHORT),
        "--pace",
        "fast",
        "--no-window",
        "--mute",
        *CHECKIN,
    ]

    r = run_siform(client_dir, *live, "--out", str(tmp_path / "norec"), "--share-video")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "--share-video shares the raw camera video, which only --record keeps" in r.stderr
    assert therapist.export(patient_id)["sessions"] == []  # refused before anything ran

    kept = tmp_path / "kept"  # --record alone: the recording stays on this machine
    r = run_siform(client_dir, *live, "--out", str(kept), "--record")
    assert r.returncode == 0, r.stderr
    assert (kept / "recording.mp4").stat().st_size > 0
    assert "uploaded to your therapist" in r.stdout and "video" not in r.stdout.replace(str(tmp_path), "")
    assert therapist.export(patient_id)["videos"] == []

    out = tmp_path / "shared"
    r = run_siform(client_dir, *live, "--out", str(out), "--record", "--share-video")
    assert r.returncode == 0, r.stderr
    recording = out / "recording-shared.mp4"  # recording.mp4 as H.264: browsers play no mp4v
    assert f"{recording}: video shared with your therapist" in r.stdout, r.stdout
    assert codec_of(recording) == "h264" and codec_of(out / "recording.mp4") == "mpeg4"
    export = therapist.export(patient_id)
    (video,) = export["videos"]
    assert (
        video["sha256"]
        == sha(recording.read_bytes())
        == sha((media / patient_id / video["file_name"]).read_bytes())
    )
    key = json.loads((out / "session.json").read_text())["session_id"]
    assert video["session_id"] == next(s["id"] for s in export["sessions"] if s["session_key"] == key)


def test_a_video_larger_than_the_server_takes_is_said_and_not_queued(
    tmp_path: Path, session_doc: dict[str, Any]
) -> None:
    media = tmp_path / "media"
    env = clean_env(
        SIFORM_DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3",
        SIFORM_SECRET_KEY=SECRET,
        SIFORM_MEDIA_DIR=str(media),
        SIFORM_MAX_VIDEO_BYTES="100000",
    )
    with serving(env, tmp_path / "server.log") as base:
        t = TherapistWeb(base)
        client_dir = tmp_path / "client"
        _patient_id, _pairing = t.paired(client_dir)
        session = tmp_path / "session.json"
        session.write_text(json.dumps(session_doc | {"session_id": str(uuid.uuid4())}))
        r = run_siform(client_dir, "upload", str(session), "--video", str(CLIP))
        t.web.close()
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert f"{session}: uploaded to your therapist" in r.stdout
        size = CLIP.stat().st_size / 2**20
        assert f"video NOT shared ({size:.1f} MiB; the server takes videos up to 0.1 MiB)" in r.stderr, (
            r.stderr
        )
        assert not (client_dir / "queue").exists() or not list((client_dir / "queue").iterdir())
        assert files_under(media) == []
        assert '/video HTTP/1.1" 4' not in (tmp_path / "server.log").read_text()  # never sent


def _server_pid(base: str) -> int:
    port = base.rsplit(":", 1)[1].encode()
    for d in Path("/proc").iterdir():
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0") if d.name.isdigit() else []
        except OSError:
            continue
        if b"serve" in cmd and port in cmd:
            return int(d.name)
    raise LookupError(base)


def _peak_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]


def test_a_large_video_streams_through_without_the_server_holding_it(
    live_server: tuple[str, Path], therapist: TherapistWeb, tmp_path: Path, session_doc: dict[str, Any]
) -> None:
    """150 MiB (the clip, then random bytes) from ``siform upload --video``: the server's peak memory
    grows by far less than the video (it would grow by all of it if the body were held)."""
    import os

    base, media = live_server
    client_dir = tmp_path / "client"
    patient_id, _pairing = therapist.paired(client_dir)
    big = tmp_path / "big.mp4"
    block = os.urandom(1 << 20)
    with big.open("wb") as f:
        f.write(CLIP.read_bytes())
        for _ in range(150):
            f.write(block)
    session = tmp_path / "session.json"
    session.write_text(json.dumps(session_doc | {"session_id": str(uuid.uuid4())}))
    pid = _server_pid(base)
    before = _peak_mib(pid)
    r = run_siform(client_dir, "upload", str(session), "--video", str(big))
    assert r.returncode == 0 and f"{big}: video shared with your therapist" in r.stdout, r.stdout + r.stderr
    grew = _peak_mib(pid) - before
    assert grew < 40, f"the server's peak memory grew by {grew:.0f} MiB for a 150 MiB video"
    (video,) = therapist.export(patient_id)["videos"]
    stored = media / patient_id / video["file_name"]
    assert stored.stat().st_size == big.stat().st_size and video["sha256"] == sha(big.read_bytes())
    assert files_under(media / ".incoming") == []


def test_ctrl_c_queues_the_shared_recording_with_its_session(
    live_server: tuple[str, Path], therapist: TherapistWeb, tmp_path: Path
) -> None:
    """Ctrl-C during ``siform live --record --share-video``: the session and the recording are
    queued (no network wait); the next ``siform sync`` sends both, the video byte for byte."""
    _base, media = live_server
    client_dir = tmp_path / "client"
    patient_id, _pairing = therapist.paired(client_dir)
    out = tmp_path / "live"
    code, rest, err = live_interrupted_at_first_rep(
        ["glute_bridge", "--source", str(CLIP), "--pace", "realtime", "--no-window", "--mute",
         "--out", str(out), "--no-prescription", "--record", "--share-video", *CHECKIN],
        clean_env(SIFORM_CLIENT_DIR=str(client_dir)),
    )  # fmt: skip
    assert code == 130, err
    recording = out / "recording-shared.mp4"
    assert f"{recording}: video queued: will be sent by the next siform upload or siform sync" in rest, rest
    assert len(list((client_dir / "queue").glob("*.video"))) == 1
    r = run_siform(client_dir, "sync")
    assert r.returncode == 0, r.stderr
    assert (
        "1 queued session(s) sent to your therapist; 1 queued video(s) shared with your therapist."
        in r.stdout
    )
    (video,) = therapist.export(patient_id)["videos"]
    assert (
        video["sha256"]
        == sha(recording.read_bytes())
        == sha((media / patient_id / video["file_name"]).read_bytes())
    )
    assert list((client_dir / "queue").iterdir()) == []
