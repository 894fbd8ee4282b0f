"""siform: a camera-based form checker for sacroiliac-joint rehabilitation exercises."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("siform")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
