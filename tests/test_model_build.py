from __future__ import annotations

import hashlib
import io
import socket
import zipfile
from pathlib import Path

import pytest

from siform.errors import ModelError
from siform.model_build import (
    BUNDLE_ALIGNMENT,
    MEMBERS,
    build_full_bundle,
    bundle_from_models,
    download_source_wheel,
    with_metadata,
)
from siform.model_store import (
    REJECTED_SUFFIX,
    ensure_model,
    find_local_wheel,
    load_manifest,
    model_dir,
    pinned_hashes,
)


@pytest.fixture(scope="module")
def source_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real mediapipe 0.10.21 wheel: one already on disk (``$SIFORM_MEDIAPIPE_WHEEL`` or the model
    folder, where 'siform models' keeps the one it built from), else fetched once from the package
    index by this fixture, with pip checking it against the pinned sha256."""
    found = find_local_wheel(model_dir())
    if found is not None:
        return found
    pinned = load_manifest()["build"]["wheel"]["sha256"]
    return download_source_wheel(tmp_path_factory.mktemp("wheel"), pinned)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Make every outgoing connection from this process fail, and record the attempts."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network use is forbidden in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.delenv("SIFORM_MEDIAPIPE_WHEEL", raising=False)
    return attempts


@pytest.fixture(scope="module")
def built_bundle(source_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    member_sha = load_manifest()["build"]["member_sha256"]
    path = tmp_path_factory.mktemp("bundle") / "pose_landmarker_full.task"
    path.write_bytes(build_full_bundle(member_sha, source_wheel))
    return path


def test_built_bundle_matches_the_manifest(built_bundle: Path) -> None:
    digest = hashlib.sha256(built_bundle.read_bytes()).hexdigest()
    assert digest in pinned_hashes("full", load_manifest())


def test_built_bundle_loads_in_pose_landmarker(built_bundle: Path, astronaut_bgr) -> None:
    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.PoseLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(built_bundle)),
        running_mode=vision.RunningMode.IMAGE,
    )
    landmarker = vision.PoseLandmarker.create_from_options(options)
    try:
        rgb = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2RGB)
        result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
    finally:
        landmarker.close()
    assert len(result.pose_landmarks) == 1
    assert len(result.pose_landmarks[0]) == 33
    assert len(result.pose_world_landmarks[0]) == 33


def test_bundle_members_are_aligned_for_zero_copy_loading(built_bundle: Path) -> None:
    with zipfile.ZipFile(built_bundle) as zf:
        infos = zf.infolist()
        assert sorted(i.filename for i in infos) == ["pose_detector.tflite", "pose_landmarks_detector.tflite"]
        for info in infos:
            assert info.compress_type == zipfile.ZIP_STORED
            data_offset = info.header_offset + 30 + len(info.filename) + len(info.extra)
            assert data_offset % BUNDLE_ALIGNMENT == 0, info.filename


def test_bundle_zip_is_reproducible() -> None:
    models = {"b.tflite": b"x" * 100, "a.tflite": b"y" * 7}
    assert bundle_from_models(models) == bundle_from_models(dict(reversed(models.items())))
    with zipfile.ZipFile(io.BytesIO(bundle_from_models(models))) as zf:
        assert zf.read("a.tflite") == b"y" * 7


def test_changed_source_model_is_refused(source_wheel: Path) -> None:
    wrong = dict.fromkeys(load_manifest()["build"]["member_sha256"], "0" * 64)
    with pytest.raises(ModelError, match="refusing to build"):
        build_full_bundle(wrong, source_wheel)


def test_metadata_writer_rejects_non_tflite() -> None:
    with pytest.raises(ModelError, match="not a TFLite model"):
        with_metadata(b"PK\x03\x04 definitely not a model", b"")


def test_offline_with_the_wheel_builds_the_pinned_bundle(
    source_wheel: Path, model_path: Path, tmp_path: Path, no_network: list[object]
) -> None:
    report = ensure_model("full", directory=tmp_path, offline=True, wheel=source_wheel)
    assert report.action == "built"
    assert report.sha256 in pinned_hashes("full", load_manifest())
    assert report.path.read_bytes() == model_path.read_bytes()
    assert no_network == []


def test_offline_finds_the_wheel_in_the_model_folder_or_the_environment(
    source_wheel: Path, tmp_path: Path, no_network: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    in_folder = tmp_path / "folder"
    in_folder.mkdir()
    (in_folder / source_wheel.name).symlink_to(source_wheel)
    assert ensure_model("full", directory=in_folder, offline=True).action == "built"

    from_env = tmp_path / "env"
    monkeypatch.setenv("SIFORM_MEDIAPIPE_WHEEL", str(source_wheel.parent))
    assert ensure_model("full", directory=from_env, offline=True).action == "built"
    assert no_network == []


def test_corrupted_bundle_is_replaced_by_a_fresh_build(
    source_wheel: Path, model_path: Path, tmp_path: Path, no_network: list[object]
) -> None:
    target = tmp_path / model_path.name
    data = bytearray(model_path.read_bytes())
    for i in range(1_000_000, 1_000_008):  # 8 bytes inside the detector's weights
        data[i] ^= 0xFF
    target.write_bytes(bytes(data))
    report = ensure_model("full", directory=tmp_path, offline=True, wheel=source_wheel)
    assert report.action == "built"
    assert any("not a pinned model" in line for line in report.tried)
    assert target.read_bytes() == model_path.read_bytes()
    assert (tmp_path / (target.name + REJECTED_SUFFIX)).read_bytes() == bytes(data)


def test_wheel_with_a_changed_model_is_refused(source_wheel: Path, tmp_path: Path) -> None:
    """A wheel whose detector differs by one byte: the build refuses it, offline or not."""
    tampered = tmp_path / source_wheel.name
    with zipfile.ZipFile(source_wheel) as src, zipfile.ZipFile(tampered, "w") as dst:
        for member in MEMBERS:
            data = bytearray(src.read(member.wheel_path))
            if member.bundle_name == "pose_detector.tflite":
                data[-100] ^= 0x01
            dst.writestr(member.wheel_path, bytes(data))
    with pytest.raises(ModelError, match=r"pose_detection\.tflite in .* refusing to build"):
        build_full_bundle(load_manifest()["build"]["member_sha256"], tampered)
    with pytest.raises(ModelError, match="refusing to build"):
        ensure_model("full", directory=tmp_path / "models", offline=True, wheel=tampered)
    assert not (tmp_path / "models" / "pose_landmarker_full.task").exists()


def test_the_pinned_wheel_holds_the_pinned_models(source_wheel: Path) -> None:
    build = load_manifest()["build"]
    if source_wheel.name == build["wheel"]["file"]:
        assert hashlib.sha256(source_wheel.read_bytes()).hexdigest() == build["wheel"]["sha256"]
    with zipfile.ZipFile(source_wheel) as zf:
        for path, digest in build["member_sha256"].items():
            assert hashlib.sha256(zf.read(path)).hexdigest() == digest
