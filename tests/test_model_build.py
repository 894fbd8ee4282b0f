from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from siform.errors import ModelError
from siform.model_build import (
    BUNDLE_ALIGNMENT,
    build_full_bundle,
    bundle_from_models,
    download_source_wheel,
    with_metadata,
)
from siform.model_store import load_manifest


@pytest.fixture(scope="module")
def source_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real mediapipe 0.10.21 wheel, fetched once from the package index."""
    return download_source_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def built_bundle(source_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    member_sha = load_manifest()["build"]["member_sha256"]
    path = tmp_path_factory.mktemp("bundle") / "pose_landmarker_full.task"
    path.write_bytes(build_full_bundle(member_sha, wheel=source_wheel))
    return path


def test_built_bundle_matches_the_manifest(built_bundle: Path) -> None:
    digest = hashlib.sha256(built_bundle.read_bytes()).hexdigest()
    assert digest in load_manifest()["bundles"]["full"]["sha256"]


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
        build_full_bundle(wrong, wheel=source_wheel)


def test_metadata_writer_rejects_non_tflite() -> None:
    with pytest.raises(ModelError, match="not a TFLite model"):
        with_metadata(b"PK\x03\x04 definitely not a model", b"")
