"""Errors a person can act on.

Every error siform raises on purpose is a :class:`SiformError`: a message that says what happened
and a hint that says what to do about it. Only the command line (``cli.py``) turns these into exit
codes; everything else raises and lets the caller decide.
"""

from __future__ import annotations

import errno


class SiformError(Exception):
    """Base of all expected failures; ``str(err)`` is the full sentence shown to a user."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class InputError(SiformError):
    """A file, folder or camera given to siform cannot be used as a source of frames."""


class ModelError(SiformError):
    """No usable pose model could be found, downloaded or built."""


class SpecError(SiformError):
    """An exercise spec is malformed; the message names the file and the key."""


class CameraLostError(SiformError):
    """A live camera stopped delivering frames part way through a session."""


class OutputError(SiformError):
    """The output folder cannot hold the results (a file in the way, no permission, a full disk)."""


def os_reason(exc: OSError) -> str:
    """An OSError in a few plain words, without the path (the caller says which path)."""
    plain = {
        errno.EACCES: "permission denied",
        errno.EPERM: "not permitted",
        errno.EROFS: "read-only file system",
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "disk quota exceeded",
        errno.ENOENT: "no such file or folder",
        errno.ENOTDIR: "a file is in the way of a folder",
        errno.EISDIR: "is a folder",
    }
    return plain.get(exc.errno or 0, (exc.strerror or type(exc).__name__).lower())
