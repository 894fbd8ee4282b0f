"""The ``siform`` console script and ``python -m siform``.

:func:`siform.cli.main` turns Ctrl-C and SIGTERM into one line, but only once it runs; importing the
command line (numpy, the specs, logging: about a quarter of a second) comes first, and a Ctrl-C
landing there showed Python's KeyboardInterrupt traceback to the patient. This module imports
nothing heavy, so the window left is the interpreter's own start.
"""

from __future__ import annotations

import signal
import sys

EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


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
