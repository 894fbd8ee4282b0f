"""Videos of the patient that the patient chose to share (``--share-video``): stored on disk.

Pictures of a patient are the most sensitive thing this server can hold, so they arrive only when
the patient asked for it on their own machine, one video per session, and are kept apart from the
database: the file lives under the media folder (``settings.media_dir``) in a folder per patient,
named by a random id (never by anything the client sent), and a ``session_videos`` row records its
name, size, sha256 and type. Deleting the patient deletes the folder.

The body is streamed to a temporary file in the media folder while its sha256 is computed, so a
video never sits in memory, and a body larger than ``settings.max_video_bytes`` is cut off and
removed. Its type is read from its first bytes (an ISO-BMFF ``ftyp`` box: MP4 or QuickTime MOV; an
EBML header with doctype ``webm``): the server decodes nothing, so it needs neither OpenCV nor
ffprobe, and a file that is not a video container (a JPEG, a PDF, a HEIC picture) is refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

SNIFF_BYTES = 64
"""Enough of the file's start to recognise its container."""
IMAGE_OR_AUDIO_BRANDS = {
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis",
    b"M4A ", b"M4B ", b"M4P ", b"crx ", b"jp2 ", b"jpx ",
}  # fmt: skip
"""ISO-BMFF major brands that are still pictures or sound, not video."""
EXTENSIONS = {"video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm"}


class MediaRefusedError(Exception):
    """A video that is not kept, with the HTTP status and a short code (like ``UploadRefusedError``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def sniff_video(head: bytes) -> str | None:
    """The media type of a video container from its first bytes, or None when it is not one.

    MP4 and MOV are ISO base media files: the first box is ``ftyp`` (size, then the four letters at
    offset 4) whose major brand says ``qt  `` for QuickTime; old QuickTime files may start with a
    ``moov``, ``mdat``, ``wide`` or ``free`` atom instead. WebM is Matroska: the EBML magic
    ``1A 45 DF A3`` and the doctype ``webm`` in the header that follows.
    """
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in IMAGE_OR_AUDIO_BRANDS:
            return None
        return "video/quicktime" if brand == b"qt  " else "video/mp4"
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free") and int.from_bytes(head[:4]) >= 8:
        return "video/quicktime"
    if head[:4] == b"\x1a\x45\xdf\xa3" and b"\x42\x82" in head[:SNIFF_BYTES]:
        at = head.index(b"\x42\x82", 4)
        if at + 3 <= len(head):
            size = head[at + 2] & 0x7F if head[at + 2] & 0x80 else None  # a one-byte length
            if size is not None and head[at + 3 : at + 3 + size] == b"webm":
                return "video/webm"
    return None


def patient_dir(media_dir: str, patient_id: str) -> Path:
    if not patient_id.isalnum():  # ids are uuid4 hex; never a path from elsewhere
        raise ValueError(f"not a patient id: {patient_id!r}")
    return Path(media_dir) / patient_id


def video_path(media_dir: str, patient_id: str, file_name: str) -> Path:
    stem, _, ext = file_name.partition(".")
    if not stem.isalnum() or f".{ext}" not in EXTENSIONS.values():
        raise ValueError(f"not a stored video's name: {file_name!r}")
    return patient_dir(media_dir, patient_id) / file_name


@dataclass
class Incoming:
    """A video being received: written to a temporary file, hashed and measured as it comes."""

    path: Path
    limit: int
    size: int = 0
    media_type: str | None = None

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._head = b""

    @classmethod
    def start(cls, media_dir: str, limit: int) -> Incoming:
        return cls(Path(media_dir) / ".incoming" / f"{uuid.uuid4().hex}.part", limit)

    def write(self, chunk: bytes) -> None:
        """Add a chunk; :class:`MediaRefusedError` (and the file removed) past the limit or when the
        first bytes are not a video container."""
        if not chunk:
            return
        self.size += len(chunk)
        if self.size > self.limit:
            self.discard()
            raise MediaRefusedError(413, "too_large", f"The video is larger than {self.limit} bytes.")
        if len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES:
                self._sniff()
        self._hash.update(chunk)
        self._file.write(chunk)

    def _sniff(self) -> None:
        self.media_type = sniff_video(self._head)
        if self.media_type is None:
            self.discard()
            raise MediaRefusedError(
                415, "not_a_video", "The upload is not an MP4, MOV or WebM video (judged by its first bytes)."
            )

    def finish(self) -> str:
        """Close the file; its sha256 (hex). Refused when it is empty or not a video."""
        if self.size == 0:
            self.discard()
            raise MediaRefusedError(422, "empty", "The video is empty.")
        if self.media_type is None:
            self._sniff()  # shorter than SNIFF_BYTES: judge what there is
        self._file.close()
        return self._hash.hexdigest()

    def keep(self, media_dir: str, patient_id: str) -> str:
        """Move the finished file into the patient's folder under a random name; that name."""
        assert self.media_type is not None
        name = uuid.uuid4().hex + EXTENSIONS[self.media_type]
        target = video_path(media_dir, patient_id, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.path.replace(target)
        return name

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


def delete_patient_media(media_dir: str, patient_id: str) -> int:
    """Remove a deleted patient's videos; how many files went."""
    folder = patient_dir(media_dir, patient_id)
    if not folder.is_dir():
        return 0
    n = sum(1 for p in folder.iterdir() if p.is_file())
    shutil.rmtree(folder)
    return n
