"""Find, verify, download or build the MediaPipe pose bundle siform runs on.

A managed bundle is *verified* only when its bytes hash to a sha256 the manifest pins for its variant
(``models/manifest.json`` in a checkout, ``siform/_data/models_manifest.json`` in a wheel). Nothing
else vouches for a file: no hash recorded beside it, no "first use" acceptance. A corrupted bundle
once passed that way and then counted 3 reps instead of 5 without a word.

Order of attempts for a variant (``lite``, ``full``, ``heavy``):

1. the bundle in the model folder, if its sha256 is pinned; a bundle that is not is moved aside to
   ``<name>.rejected`` (never used, never deleted: the user may want to look at it);
2. unless offline: the official bundle from MediaPipe's model storage, kept only if its bytes match a
   pinned sha256 (a variant with no pin is not downloaded at all);
3. for ``full`` only: build it from the ``mediapipe==0.10.21`` wheel (see ``model_build``). The wheel
   comes from disk (``--wheel``, ``$SIFORM_MEDIAPIPE_WHEEL``, or the model folder) or, unless offline,
   from the package index with pip in hash-checking mode; the built bundle must hash to its pin.

Offline (``offline=True`` or ``SIFORM_OFFLINE=1``) means no network at all: steps 2 and the pip
download are skipped, and the error says how to bring the wheel over from a connected machine.

A user's own ``.task`` file is not managed here: commands take it with ``--model`` and use it as
given, and the session records its sha256 with ``pinned: false`` (see :func:`is_pinned`).

The model folder is ``$SIFORM_MODEL_DIR`` if set, else ``models/`` of a source checkout, else a
per-user cache directory (an installed siform must not write into site-packages).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import tempfile
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
# Version 1, not "latest": the pinned hashes are those of version 1.
OFFICIAL_URL = (
    "https://storage.googleapis.com/mediapipe-models/pose_landmarker/"
    "pose_landmarker_{variant}/float16/1/pose_landmarker_{variant}.task"
)
DOWNLOAD_TIMEOUT_S = 15.0
REJECTED_SUFFIX = ".rejected"
WHEEL_ENV = "SIFORM_MEDIAPIPE_WHEEL"

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


def offline_from_env() -> bool:
    """``SIFORM_OFFLINE=1`` (tests and CI set it): siform must not open a network connection."""
    return os.environ.get("SIFORM_OFFLINE", "").strip().lower() in ("1", "true", "yes")


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


def pins(variant: Variant, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest's pinned bundles for ``variant``: dicts with ``sha256``, ``bytes``, ``source``."""
    entries = manifest.get("bundles", {}).get(variant, [])
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("sha256"), str)]


def pinned_hashes(variant: Variant, manifest: dict[str, Any]) -> set[str]:
    return {e["sha256"] for e in pins(variant, manifest)}


def is_pinned(digest: str, manifest: dict[str, Any] | None = None) -> bool:
    """Whether a bundle with this sha256 is one the manifest pins (for any variant)."""
    manifest = manifest if manifest is not None else load_manifest()
    return any(digest in pinned_hashes(v, manifest) for v in VARIANTS)


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


def verify_bundle(path: Path, variant: Variant, manifest: dict[str, Any]) -> str | None:
    """Return the bundle's sha256 if the manifest pins it for ``variant``, else None.

    Pure: it reads the file and nothing else. Any ``<bundle>.sha256`` file an older siform wrote
    beside a bundle is ignored.
    """
    if not path.is_file():
        return None
    digest = sha256_of(path)
    return digest if digest in pinned_hashes(variant, manifest) else None


def reject_bundle(path: Path) -> Path:
    """Move a bundle that failed verification aside (replacing an older reject) and return where."""
    target = path.with_name(path.name + REJECTED_SUFFIX)
    path.replace(target)
    return target


def download_verified(
    url: str,
    dest: Path,
    expected: list[dict[str, Any]],
    progress: Callable[[int, int | None], None] = lambda _done, _total: None,
) -> str:
    """Download ``url`` to ``dest`` only if its bytes hash to one of ``expected``; return the sha256.

    The file is written to ``<dest>.part`` and hashed while it streams; it is moved into place only
    after it matches, so a wrong or truncated download never sits where a bundle is looked for.
    """
    if not expected:
        raise ModelError("no sha256 is pinned for it, and siform does not keep unverified downloads")
    sizes = [int(e["bytes"]) for e in expected if isinstance(e.get("bytes"), int)]
    limit = max(sizes) if len(sizes) == len(expected) else 1 << 30
    tmp = _part_file(dest)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:  # noqa: S310 (http(s) URL)
            total = int(resp.headers.get("Content-Length") or 0) or None
            done = 0
            with tmp.open("wb") as fh:
                while chunk := resp.read(1 << 16):
                    done += len(chunk)
                    if done > limit:
                        raise ModelError(f"the download is larger than any pinned bundle ({limit} bytes)")
                    fh.write(chunk)
                    digest.update(chunk)
                    progress(done, total)
        found = digest.hexdigest()
        if found not in {e["sha256"] for e in expected}:
            raise ModelError(
                f"the downloaded file's sha256 {found[:12]}... is not pinned in the manifest; refused"
            )
        tmp.replace(dest)
        return found
    finally:
        tmp.unlink(missing_ok=True)


def _part_file(dest: Path) -> Path:
    """A fresh ``<name>.<random>.part`` beside ``dest``: two processes never write the same file."""
    fd, name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    os.close(fd)
    return Path(name)


def _write_atomic(dest: Path, data: bytes) -> None:
    tmp = _part_file(dest)
    try:
        tmp.write_bytes(data)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def _wheel_candidates(path: Path) -> list[Path]:
    from siform.model_build import WHEEL_GLOB

    if path.is_dir():
        return sorted(path.glob(WHEEL_GLOB))
    return [path] if path.is_file() else []


def find_local_wheel(directory: Path, wheel: Path | None = None) -> Path | None:
    """A ``mediapipe==0.10.21`` wheel already on disk: ``wheel``, ``$SIFORM_MEDIAPIPE_WHEEL``, then
    the model folder. Each may be a wheel file or a folder holding one.

    pip's own cache is not searched: it stores HTTP responses under hashed names, not wheel files,
    so finding the wheel there would depend on pip's internal layout.

    A path given explicitly that holds no wheel is an error (the user meant that file); the contents
    are checked against the manifest later, by the build.
    """
    explicit = [(wheel, "--wheel")] if wheel is not None else []
    env = os.environ.get(WHEEL_ENV)
    if env:
        explicit.append((Path(env).expanduser(), WHEEL_ENV))
    for path, origin in explicit:
        found = _wheel_candidates(path)
        if not found:
            raise ModelError(
                f"{origin} {path} is not a mediapipe 0.10.21 wheel or a folder holding one.",
                "Give the .whl file that 'pip download mediapipe==0.10.21' saved.",
            )
        return found[0]
    found = _wheel_candidates(directory)
    return found[0] if found else None


def offline_build_howto(directory: Path) -> str:
    """The steps that build the model on a machine with no network, for the error message."""
    from siform.model_build import pip_download_command

    return (
        f"To build it offline: on a computer with internet, run '{pip_download_command('DIR')}', copy "
        f"the .whl it saves in DIR to this computer, then run 'siform models --offline --wheel "
        f"PATH/TO/mediapipe-0.10.21-...whl' (or put the wheel in {directory}, or set {WHEEL_ENV})."
    )


def ensure_model(
    variant: Variant = "full",
    *,
    directory: Path | None = None,
    offline: bool | None = None,
    wheel: Path | None = None,
    allow_build: bool = True,
    url_template: str = OFFICIAL_URL,
    manifest: dict[str, Any] | None = None,
    progress: Callable[[int, int | None], None] = lambda _done, _total: None,
    step: Callable[[str], None] = lambda _msg: None,
) -> ModelReport:
    """Make sure a bundle of ``variant`` whose sha256 the manifest pins exists, and return where.

    ``offline`` defaults to ``SIFORM_OFFLINE``; offline, no network connection is opened. ``wheel``
    is a ``mediapipe==0.10.21`` wheel (or folder) to build from. ``url_template`` and ``manifest``
    exist so tests can serve a download from a local server and pin what they need.
    """
    if variant not in VARIANTS:
        raise ModelError(f"Unknown model variant {variant!r}.", f"Choose one of {', '.join(VARIANTS)}.")
    if offline is None:
        offline = offline_from_env()
    manifest = manifest if manifest is not None else load_manifest()
    directory = directory or model_dir()
    path = directory / bundle_filename(variant)
    tried: list[str] = []

    try:
        found = sha256_of(path) if path.is_file() else None
    except FileNotFoundError:  # another siform process moved it aside a moment ago
        found = None
    except OSError as exc:
        raise ModelError(f"Cannot read {path} ({exc}).", "Delete that file or set SIFORM_MODEL_DIR.") from exc
    if found is not None and found in pinned_hashes(variant, manifest):
        return ModelReport(path, variant, "present", found)
    if found is None:
        tried.append(f"no {path.name} in {directory}")
    else:
        try:
            moved = reject_bundle(path)
        except FileNotFoundError:  # moved aside by another siform process
            moved = path.with_name(path.name + REJECTED_SUFFIX)
        except OSError as exc:
            raise ModelError(
                f"{path} is not a pinned model and cannot be moved aside ({exc}).",
                "Delete that file or set SIFORM_MODEL_DIR to a folder you can write to.",
            ) from exc
        note = (
            f"{path.name} in {directory} is not a pinned model (sha256 {found[:12]}... is not in the "
            f"manifest), so it was not used and was moved aside to {moved.name}"
        )
        log.info("%s", note)
        step(note)
        tried.append(note)

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(
            f"Cannot create the model folder {directory} ({exc}).",
            "Set SIFORM_MODEL_DIR to a folder you can write to.",
        ) from exc

    expected = pins(variant, manifest)
    if offline:
        tried.append("download skipped (offline: no network)")
    elif not expected:
        tried.append(f"not downloaded: the manifest pins no sha256 for '{variant}' to verify it against")
    else:
        step(f"downloading {path.name} from MediaPipe's model storage")
        try:
            digest = download_verified(url_template.format(variant=variant), path, expected, progress)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ModelError) as exc:
            tried.append(f"download from MediaPipe's model storage failed ({getattr(exc, 'reason', exc)})")
        else:
            return ModelReport(path, variant, "downloaded", digest, tried)

    if allow_build and variant == "full":
        report = _build_full(path, manifest, offline, wheel, tried, step)
        if report is not None:
            return report
    elif variant != "full":
        tried.append(f"siform can build only the 'full' model itself, not '{variant}'")

    if variant == "full" and offline:
        hint = offline_build_howto(directory)
    elif variant == "full":
        hint = "Check the connection and run 'siform models' again. " + offline_build_howto(directory)
    else:
        hint = (
            f"With internet, run 'siform models --variant {variant}'; or copy the official "
            f"{path.name} (MediaPipe float16 version 1) into {directory}; or pass a .task file of "
            "your own with --model (it is used as given and recorded as not pinned)."
        )
    raise ModelError(f"No pose model '{variant}' is available: " + "; ".join(tried) + ".", hint)


def _build_full(
    path: Path,
    manifest: dict[str, Any],
    offline: bool,
    wheel: Path | None,
    tried: list[str],
    step: Callable[[str], None],
) -> ModelReport | None:
    """Build the full bundle from a wheel on disk (or, online, one pip fetches with its hash checked)."""
    from siform.model_build import build_full_bundle, download_source_wheel

    build = manifest.get("build", {})
    source = find_local_wheel(path.parent, wheel)
    if source is None and offline:
        tried.append("no mediapipe 0.10.21 wheel on disk to build from (offline, so pip was not run)")
        return None
    try:
        if source is None:
            step("downloading mediapipe 0.10.21 from the package index (kept in the model folder)")
            source = download_source_wheel(path.parent, build.get("wheel", {}).get("sha256"))
        data = build_full_bundle(build.get("member_sha256", {}), source, step=step)
    except ModelError as exc:
        tried.append(f"build from the mediapipe wheel failed ({exc})")
        return None
    digest = hashlib.sha256(data).hexdigest()
    if digest not in pinned_hashes("full", manifest):
        tried.append(f"the built bundle's sha256 {digest[:12]}... is not pinned in the manifest")
        return None
    try:
        _write_atomic(path, data)
    except OSError as exc:
        raise ModelError(f"Cannot write {path} ({exc}).", "Free some space or set SIFORM_MODEL_DIR.") from exc
    tried.append(f"built from {source}")
    return ModelReport(path, "full", "built", digest, tried)


def available_variants(directory: Path | None = None) -> list[Variant]:
    """Variants with a bundle file present, best first (heavy is most accurate, lite fastest)."""
    directory = directory or model_dir()
    order: tuple[Variant, ...] = ("full", "heavy", "lite")
    return [v for v in order if (directory / bundle_filename(v)).is_file()]
