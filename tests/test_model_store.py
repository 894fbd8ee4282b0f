from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from siform.errors import ModelError
from siform.model_store import check_bundle_structure, ensure_model, load_manifest, verify_bundle


def test_second_call_does_nothing(model_path: Path) -> None:
    report = ensure_model("full", directory=model_path.parent, allow_download=False)
    assert report.action == "present"
    assert report.path == model_path


def test_corrupt_bundle_is_rebuilt(model_path: Path, tmp_path: Path) -> None:
    target = tmp_path / model_path.name
    target.write_bytes(b"garbage that once was a model")
    report = ensure_model("full", directory=tmp_path, allow_download=False)
    assert report.action == "built"
    assert report.sha256 in load_manifest()["bundles"]["full"]["sha256"]
    assert target.read_bytes() == model_path.read_bytes()


def test_user_supplied_bundle_is_accepted_then_held_to_its_hash(model_path: Path, tmp_path: Path) -> None:
    # A bundle the manifest does not know: the real one with bytes appended, which changes its
    # hash while zip readers still find every member.
    data = model_path.read_bytes() + b"\0" * 16
    own = tmp_path / "pose_landmarker_heavy.task"
    own.write_bytes(data)
    manifest = load_manifest()
    first = verify_bundle(own, "heavy", manifest)
    assert first is not None
    assert (tmp_path / "pose_landmarker_heavy.task.sha256").read_text().startswith(first)
    own.write_bytes(data[:-100])  # later damaged
    assert verify_bundle(own, "heavy", manifest) is None


def test_nothing_works_gives_one_message_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        ensure_model("lite", directory=tmp_path, allow_download=False)
    text = str(info.value)
    assert "download skipped" in text
    assert "only the 'full' model" in text
    assert "place pose_landmarker_lite.task" in text


def test_structure_check_names_the_problem(tmp_path: Path, model_path: Path) -> None:
    bad = tmp_path / "x.task"
    bad.write_text("hello")
    with pytest.raises(ModelError, match=r"not a valid \.task bundle"):
        check_bundle_structure(bad)
    check_bundle_structure(model_path)
    shutil.copy(model_path, tmp_path / "ok.task")
    check_bundle_structure(tmp_path / "ok.task")
