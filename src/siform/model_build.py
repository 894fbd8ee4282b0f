"""Build ``pose_landmarker_full.task`` from the TFLite files inside the PyPI wheel ``mediapipe==0.10.21``.

Why this exists: MediaPipe's Tasks API wants a ``.task`` bundle, and the official bundles live on a
host that offline and firewalled machines cannot reach. The older wheel on PyPI ships the same
BlazePose detector and full landmark network as bare ``.tflite`` files. The Tasks API refuses them
until each carries TFLite metadata describing its image input (how to normalise pixels), so we
write that metadata ourselves with ``flatbuffers`` and the schema classes ``mediapipe`` ships, then
zip both models under the names the bundle format expects.

The output is byte-for-byte reproducible (fixed zip timestamps, deterministic flatbuffer packing),
which is what lets ``models/manifest.json`` pin its sha256.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import flatbuffers
import numpy as np
import numpy.typing as npt

from siform.errors import ModelError

SOURCE_WHEEL = "mediapipe==0.10.21"
WHEEL_GLOB = "mediapipe-0.10.21-*.whl"
# Naming one platform lets any host fetch the one file whose sha256 the manifest pins. A wheel for
# another platform is accepted too when its two model files match their own pins (wheel_members);
# they do in the macOS universal2 and win_amd64 wheels of 0.10.21 (checked 2026-12-03).
SOURCE_PLATFORM = ("manylinux_2_28_x86_64", "3.11")

TFLITE_ALIGNMENT = 16  # TFLite's schema declares buffer data force_align: 16
BUNDLE_ALIGNMENT = 64


@dataclass(frozen=True, slots=True)
class BundleMember:
    """One model of the bundle: where it is in the wheel and how its input is normalised."""

    wheel_path: str
    bundle_name: str
    model_name: str
    mean: float
    std: float


MEMBERS: tuple[BundleMember, ...] = (
    # Detector input scaled to [-1, 1].
    BundleMember(
        "mediapipe/modules/pose_detection/pose_detection.tflite",
        "pose_detector.tflite",
        "BlazePose detector",
        127.5,
        127.5,
    ),
    # Landmark network input scaled to [0, 1].
    BundleMember(
        "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
        "pose_landmarks_detector.tflite",
        "BlazePose GHUM 3D full",
        0.0,
        255.0,
    ),
)


class _AlignedBuilder(flatbuffers.Builder):  # type: ignore[misc]
    """A flatbuffers builder that keeps byte vectors 16-byte aligned, as TFLite buffers require."""

    def CreateNumpyVector(self, x: npt.NDArray[np.generic]) -> int:  # noqa: N802 (flatbuffers API)
        if x.dtype != np.uint8:
            return int(super().CreateNumpyVector(x))
        payload = x.tobytes()
        self.StartVector(1, len(payload), TFLITE_ALIGNMENT)
        self.head = self.head - len(payload)
        self.Bytes[self.head : self.head + len(payload)] = payload
        self.vectorNumElems = len(payload)
        return int(self.EndVector())


def image_input_metadata(model_name: str, mean: float, std: float) -> bytes:
    """TFLite ``ModelMetadata`` (file identifier ``M001``) for a model with one RGB image input."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as meta

    norm = meta.NormalizationOptionsT()
    norm.mean = [mean]
    norm.std = [std]
    unit = meta.ProcessUnitT()
    unit.optionsType = meta.ProcessUnitOptions.NormalizationOptions
    unit.options = norm

    props = meta.ImagePropertiesT()
    props.colorSpace = meta.ColorSpaceType.RGB
    content = meta.ContentT()
    content.contentPropertiesType = meta.ContentProperties.ImageProperties
    content.contentProperties = props

    stats = meta.StatsT()
    stats.min = [(0.0 - mean) / std]
    stats.max = [(255.0 - mean) / std]

    tensor = meta.TensorMetadataT()
    tensor.name = "image"
    tensor.description = "RGB input image."
    tensor.content = content
    tensor.processUnits = [unit]
    tensor.stats = stats

    subgraph = meta.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [tensor]

    model = meta.ModelMetadataT()
    model.name = model_name
    model.description = "Metadata written by siform so the MediaPipe Tasks API can load this model."
    model.version = "v1"
    model.subgraphMetadata = [subgraph]
    model.minParserVersion = "1.0.0"

    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), b"M001")
    return bytes(builder.Output())


def with_metadata(tflite: bytes, metadata: bytes) -> bytes:
    """Return ``tflite`` with ``metadata`` attached as its ``TFLITE_METADATA`` buffer."""
    from mediapipe.tasks.metadata import schema_py_generated as tfl

    if tflite[4:8] != b"TFL3":
        raise ModelError("The model file in the MediaPipe wheel is not a TFLite model.")
    model = tfl.ModelT.InitFromObj(tfl.Model.GetRootAsModel(bytearray(tflite), 0))
    model.buffers = list(model.buffers or [])
    model.metadata = [m for m in (model.metadata or []) if m.name != b"TFLITE_METADATA"]

    buffer = tfl.BufferT()
    buffer.data = np.frombuffer(metadata, dtype=np.uint8)
    model.buffers.append(buffer)
    entry = tfl.MetadataT()
    entry.name = "TFLITE_METADATA"
    entry.buffer = len(model.buffers) - 1
    model.metadata.append(entry)

    builder = _AlignedBuilder(len(tflite) + len(metadata) + 4096)
    builder.Finish(model.Pack(builder), b"TFL3")
    return bytes(builder.Output())


def bundle_from_models(models: dict[str, bytes]) -> bytes:
    """Zip models into a ``.task`` bundle: stored, fixed timestamps and order, aligned members.

    MediaPipe maps each member straight out of the zip, so every member's data is padded (through
    the local header's extra field, as Android's zipalign does) to start on a 64-byte boundary;
    otherwise TFLite copies unaligned weight buffers at load time and says so on stderr.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(models):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            data_start = out.tell() + 30 + len(name.encode())
            pad = (-(data_start + 4)) % BUNDLE_ALIGNMENT
            # Extra field 0xD935 (zipalign's id): 2-byte id, 2-byte length, then padding bytes.
            info.extra = (0xD935).to_bytes(2, "little") + pad.to_bytes(2, "little") + bytes(pad)
            zf.writestr(info, models[name])
    return out.getvalue()


def pip_download_command(dest_dir: str) -> str:
    """The ``pip download`` line that fetches the one wheel the manifest pins, on any host.

    Naming the platform and Python version makes pip pick the same file everywhere, so the wheel's
    pinned sha256 applies whatever machine runs it.
    """
    platform, python = SOURCE_PLATFORM
    return (
        f"pip download --no-deps --only-binary=:all: --platform {platform} --python-version {python} "
        f"-d {dest_dir} {SOURCE_WHEEL}"
    )


def download_source_wheel(dest_dir: Path, wheel_sha256: str | None = None) -> Path:
    """Fetch the source wheel with the environment's own pip, so its index and proxy settings apply.

    With ``wheel_sha256`` pip runs in hash-checking mode and refuses a file whose bytes differ
    before saving it in ``dest_dir``.
    """
    platform, python = SOURCE_PLATFORM
    dest_dir.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--platform", platform, "--python-version", python, "--progress-bar", "on", "-d", str(dest_dir),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="siform-pip-") as tmp:
        if wheel_sha256:
            req_file = Path(tmp) / "requirements.txt"
            req_file.write_text(f"{SOURCE_WHEEL} --hash=sha256:{wheel_sha256}\n", encoding="utf-8")
            cmd += ["--require-hashes", "-r", str(req_file)]
        else:
            cmd.append(SOURCE_WHEEL)
        try:
            proc = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True, check=False)
        except OSError as exc:
            raise ModelError(f"Could not run pip to fetch {SOURCE_WHEEL}: {exc}.") from exc
    wheels = sorted(dest_dir.glob(WHEEL_GLOB))
    if proc.returncode != 0 or not wheels:
        lines = (proc.stderr or "").strip().splitlines()
        if any("DO NOT MATCH THE HASHES" in line for line in lines):
            raise ModelError(
                f"pip downloaded {SOURCE_WHEEL}, but its sha256 is not the one the manifest pins; refused."
            )
        last = lines[-1:] or ["no output"]
        raise ModelError(f"pip could not download {SOURCE_WHEEL} from the package index ({last[0]}).")
    return wheels[0]


def wheel_members(wheel: Path, expected_member_sha256: dict[str, str]) -> dict[str, bytes]:
    """Read the two pose models out of ``wheel``, refusing any whose sha256 is not the pinned one.

    The two files are checked rather than the wheel itself: they are all the build reads, and they
    are the same in the Linux, macOS and Windows wheels, so a wheel fetched on any of these will do.
    """
    try:
        with zipfile.ZipFile(wheel) as zf:
            raw = {m.wheel_path: zf.read(m.wheel_path) for m in MEMBERS}
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ModelError(f"{wheel.name} does not hold the expected pose models ({exc}).") from exc
    for member in MEMBERS:
        digest = hashlib.sha256(raw[member.wheel_path]).hexdigest()
        expected = expected_member_sha256.get(member.wheel_path)
        if expected is None:
            raise ModelError(f"The manifest pins no sha256 for {member.wheel_path}; refusing to build.")
        if digest != expected:
            raise ModelError(
                f"{member.wheel_path} in {wheel.name} has sha256 {digest[:12]}..., "
                f"the manifest expects {expected[:12]}...; refusing to build from it."
            )
    return raw


def build_full_bundle(
    expected_member_sha256: dict[str, str],
    wheel: Path,
    step: Callable[[str], None] = lambda _msg: None,
) -> bytes:
    """Build the full-variant bundle from a ``mediapipe==0.10.21`` wheel on disk and return its bytes.

    ``expected_member_sha256`` pins the two source models (from the manifest) so a changed or
    tampered wheel is refused rather than silently bundled. Getting the wheel (from disk or the
    package index) is the model store's business: this function never touches the network.
    """
    step(f"extracting the pose models from {wheel.name}")
    raw = wheel_members(wheel, expected_member_sha256)
    models: dict[str, bytes] = {}
    for member in MEMBERS:
        step(f"writing input metadata into {member.bundle_name}")
        metadata = image_input_metadata(member.model_name, member.mean, member.std)
        models[member.bundle_name] = with_metadata(raw[member.wheel_path], metadata)
    return bundle_from_models(models)
