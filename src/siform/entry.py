"""The ``siform`` console script and ``python -m siform``.

:func:`siform.cli.main` turns Ctrl-C and SIGTERM into one line, but only once it runs; importing the
command line (numpy, the specs, logging: about a quarter of a second) comes first, and a Ctrl-C
landing there showed Python's KeyboardInterrupt traceback to the patient. This module imports
nothing heavy, so the window left is the interpreter's own start.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


@contextmanager
def stop_signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait (blocked in this thread) until the block is over, then act as usual.

    For importing the heavy libraries a command needs. matplotlib's compiled modules are built with
    pybind11, which turns any Python exception raised while such a module initialises into
    ``ImportError: initialization failed``: a Ctrl-C or SIGTERM landing in that import printed an
    "unexpected error" instead of the usual line, and the half-made module crashed the interpreter
    at exit (a fatal error, SIGABRT; 1 in the first 11 interrupted reviews of benchmarks/interrupt.py
    on a heavily loaded machine, where the import takes seconds). Held back, the signal is raised
    just after the import, where siform turns it into its one line.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _TerminatedWhileStartingError(Exception):
    pass


def _terminated(_signum: int, _frame: object) -> None:
    raise _TerminatedWhileStartingError


def main() -> int:
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        from siform.cli import main as run
    except KeyboardInterrupt:
        print("siform: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _TerminatedWhileStartingError:
        print("siform: stopped (SIGTERM).", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        signal.signal(signal.SIGTERM, previous)
    try:
        return run()
    except KeyboardInterrupt:  # while the arguments were read, before run() guards itself
        print("siform: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
