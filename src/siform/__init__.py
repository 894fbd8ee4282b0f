"""siform: a camera-based form checker for sacroiliac-joint rehabilitation exercises."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """``siform.__version__``, looked up the first time it is asked for.

    Importing :mod:`importlib.metadata` takes 50-250 ms, and this package is imported before
    :mod:`siform.entry` can take over Ctrl-C: done here at import, it kept Python's own traceback
    showing for a Ctrl-C in that time (benchmarks/interrupt.py --startup).
    """
    if name != "__version__":
        raise AttributeError(f"module 'siform' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("siform")
    except PackageNotFoundError:  # running from a source tree without installing
        found = "0.0.0+source"
    globals()["__version__"] = found
    return found
