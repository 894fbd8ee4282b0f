"""Find, verify, download or build the MediaPipe pose bundle siform runs on.

Order of attempts for a variant (``lite``, ``full``, ``heavy``):

1. a bundle already in the model directory whose sha256 the manifest (or siform's own record of a
   download) vouches for;
2. the official bundle from MediaPipe's model storage (the normal path with internet);
3. for ``full`` only: build it from the PyPI wheel ``mediapipe==0.10.21`` (see ``model_build``).

If all fail, one :class:`ModelError` lists what was tried and what the user can do.

The model directory is ``$SIFORM_MODEL_DIR`` if set, else ``models/`` of a source checkout, else a
per-user cache directory (an installed siform must not write into site-packages).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from siform.errors import ModelError

log = logging.getLogger(__name__)

Variant = Literal["lite", "full", "heavy"]
VARIANTS: tuple[Variant, ...] = get_args(Variant)
BUNDLE_MEMBERS = ("pose_detector.tflite", "pose_landmarks_detector.tflite")
OFFICIAL_URL = (
    "https://storage.googleapis.com/mediapipe-models/pose_landmarker/"
    "pose_landmarker_{variant}/float16/latest/pose_landmarker_{variant}.task"
)
DOWNLOAD_TIMEOUT_S = 15.0

_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def bundle_filename(variant: Variant) -> str:
    return f"pose_landmarker_{variant}.task"


def model_dir() -> Path:
    """Where bundles are kept: env override, a source checkout's ``models/``, or the user cache."""
    env = os.environ.get("SIFORM_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    checkout_models = _SOURCE_ROOT / "models"
    if (checkout_models / "manifest.json").is_file() and (_SOURCE_ROOT / "pyproject.toml").is_file():
        return checkout_models
    import platformdirs

    return Path(platformdirs.user_cache_dir("siform")) / "models"


def load_manifest() -> dict[str, Any]:
    """The sha256 manifest: ``models/manifest.json`` in a checkout, else the copy in the wheel."""
    checkout = _SOURCE_ROOT / "models" / "manifest.json"
    if checkout.is_file():
        text = checkout.read_text(encoding="utf-8")
    else:
        text = resources.files("siform").joinpath("_data/models_manifest.json").read_text("utf-8")
    manifest: dict[str, Any] = json.loads(text)
    return manifest


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_bundle_structure(path: Path) -> None:
    """Raise ModelError unless ``path`` is a zip holding the two TFLite models PoseLandmarker needs."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            missing = [m for m in BUNDLE_MEMBERS if m not in names]
            if missing:
                raise ModelError(f"{path.name} is not a pose landmarker bundle (missing {missing[0]}).")
            for member in BUNDLE_MEMBERS:
                with zf.open(member) as fh:
                    if fh.read(8)[4:8] != b"TFL3":
                        raise ModelError(f"{path.name}: {member} is not a TFLite model.")
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"{path.name} is not a valid .task bundle ({exc}).") from exc


@dataclass(slots=True)
class ModelReport:
    """What ``ensure_model`` did, for the CLI to tell the user."""

    path: Path
    variant: Variant
    action: Literal["present", "downloaded", "built"]
    sha256: str
    tried: list[str] = field(default_factory=list)


def _record_path(bundle: Path) -> Path:
    return bundle.with_name(bundle.name + ".sha256")


def _trusted_hashes(variant: Variant, manifest: dict[str, Any]) -> set[str]:
    entry = manifest.get("bundles", {}).get(variant, {})
    return {h for h in entry.get("sha256", []) if isinstance(h, str)}


def verify_bundle(path: Path, variant: Variant, manifest: dict[str, Any]) -> str | None:
    """Return the bundle's sha256 if the manifest or siform's download record vouches for it.

    A user may also drop in a bundle of their own; it is accepted once its structure checks out
    and from then on held to the hash recorded beside it, so later corruption is caught.
    """
    if not path.is_file():
        return None
    digest = sha256_of(path)
    if digest in _trusted_hashes(variant, manifest):
        return digest
    record = _record_path(path)
    if record.is_file():
        if record.read_text(encoding="utf-8").split()[0] == digest:
            return digest
        log.warning("%s does not match its recorded sha256; it will be replaced.", path.name)
        return None
    try:
        check_bundle_structure(path)
    except ModelError as exc:
        log.warning("%s", exc)
        return None
    _record_path(path).write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    log.info("Accepted user-supplied %s (sha256 %s) and recorded its hash.", path.name, digest[:12])
    return digest


def _download(url: str, dest: Path, progress: Callable[[int, int | None], None]) -> None:
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:  # noqa: S310 (fixed https URL)
        total = int(resp.headers.get("Content-Length") or 0) or None
        done = 0
        with tmp.open("wb") as fh:
            while chunk := resp.read(1 << 16):
                fh.write(chunk)
                done += len(chunk)
                progress(done, total)
    check_bundle_structure(tmp)
    tmp.replace(dest)


def _write_atomic(dest: Path, data: bytes) -> None:
    tmp = dest.with_suffix(dest.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(dest)


def ensure_model(
    variant: Variant = "full",
    *,
    directory: Path | None = None,
    allow_download: bool | None = None,
    allow_build: bool = True,
    progress: Callable[[int, int | None], None] = lambda _done, _total: None,
    step: Callable[[str], None] = lambda _msg: None,
) -> ModelReport:
    """Make sure a verified bundle of ``variant`` exists and return where it is.

    ``allow_download`` defaults to true unless ``SIFORM_OFFLINE=1`` is set (tests and CI set it so
    they never reach outside the package index).
    """
    if variant not in VARIANTS:
        raise ModelError(f"Unknown model variant {variant!r}.", f"Choose one of {', '.join(VARIANTS)}.")
    if allow_download is None:
        allow_download = os.environ.get("SIFORM_OFFLINE", "") not in ("1", "true", "yes")
    manifest = load_manifest()
    directory = directory or model_dir()
    path = directory / bundle_filename(variant)
    tried: list[str] = []

    digest = verify_bundle(path, variant, manifest)
    if digest:
        return ModelReport(path, variant, "present", digest)
    tried.append(f"no verified {path.name} in {directory}")

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(
            f"Cannot create the model folder {directory} ({exc}).",
            "Set SIFORM_MODEL_DIR to a folder you can write to.",
        ) from exc

    if allow_download:
        url = OFFICIAL_URL.format(variant=variant)
        step(f"downloading {path.name} from MediaPipe's model storage")
        try:
            _download(url, path, progress)
            digest = sha256_of(path)
            _record_path(path).write_text(f"{digest}  {path.name}\n", encoding="utf-8")
            return ModelReport(path, variant, "downloaded", digest, tried)
        except (urllib.error.URLError, OSError, ModelError) as exc:
            reason = getattr(exc, "reason", exc)
            tried.append(f"download from MediaPipe's model storage failed ({reason})")
    else:
        tried.append("download skipped (offline mode)")

    if allow_build and variant == "full":
        from siform.model_build import build_full_bundle

        try:
            data = build_full_bundle(manifest.get("build", {}).get("member_sha256", {}), step=step)
        except ModelError as exc:
            tried.append(f"build from the PyPI wheel failed ({exc})")
        else:
            digest = hashlib.sha256(data).hexdigest()
            if digest not in _trusted_hashes(variant, manifest):
                tried.append(f"the built bundle's sha256 {digest[:12]}... is not in the manifest")
            else:
                _write_atomic(path, data)
                return ModelReport(path, variant, "built", digest, tried)
    elif variant != "full":
        tried.append(f"siform can build only the 'full' model offline, not '{variant}'")

    raise ModelError(
        f"No pose model '{variant}' is available: " + "; ".join(tried) + ".",
        f"Connect to the internet and run 'siform models --variant {variant}', or place "
        f"{path.name} (from MediaPipe's pose landmarker page) in {directory}.",
    )


def available_variants(directory: Path | None = None) -> list[Variant]:
    """Variants with a bundle file present, best first (heavy is most accurate, lite fastest)."""
    directory = directory or model_dir()
    order: tuple[Variant, ...] = ("full", "heavy", "lite")
    return [v for v in order if (directory / bundle_filename(v)).is_file()]
