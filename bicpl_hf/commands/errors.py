"""How the package's commands fail: like a tool, with one line and an exit status, not a traceback.

Every user-facing command (`bicpl …`, `datasets_scripts/*.py`) runs its `main` through
[`run_command`]. Bad input (an unreadable volume, a CT that is not of the temporal bones, a report
or sheet that cannot be read, a missing file, a wrong option value) prints one `error: …` line on
stderr and exits with status 2; `--debug` (anywhere on the command line) or `BICPL_DEBUG=1` also
prints the traceback. Anything else is a bug: one `error: internal error …` line, status 1, and the
traceback with `--debug`. Ctrl-C exits with status 130.

Example:
    >>> def main(argv):
    ...     raise FileNotFoundError("export.xlsx does not exist")
    >>> run_command(main, ["--salt", "x"])  # prints "error: export.xlsx does not exist" on stderr
    2
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Sequence

__all__ = ["DEBUG_FLAG", "EXIT_BAD_INPUT", "EXIT_INTERNAL_ERROR", "CommandError", "is_user_error", "run_command"]

DEBUG_FLAG = "--debug"
EXIT_BAD_INPUT = 2  # as argparse uses for a bad command line
EXIT_INTERNAL_ERROR = 1
EXIT_INTERRUPTED = 130
# Errors a user's input causes, by class name, so that this module imports nothing heavy. Every error
# class of the package that reports bad input derives from ValueError (VolumeReadError,
# EarLocalizationError, ReportParseError, ExportTableError, DicomTreeError, KnowledgeBaseError); these
# RuntimeErrors are bad settings too.
_USER_RUNTIME_ERRORS = frozenset({"DatasetBuildError", "CommandError"})
_USER_OS_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, FileExistsError)


class CommandError(RuntimeError):
    """A bad command line that argparse cannot see (two options that exclude each other, a missing secret)."""


def is_user_error(error: BaseException) -> bool:
    """True for errors caused by the input (exit status 2), False for bugs."""
    if isinstance(error, (ValueError, *_USER_OS_ERRORS)):
        return True
    return any(cls.__name__ in _USER_RUNTIME_ERRORS for cls in type(error).__mro__)


def _one_line(error: BaseException) -> str:
    text = " ".join(line.strip() for line in str(error).strip().splitlines() if line.strip())
    if isinstance(error, OSError) and error.filename is not None and str(error.filename) not in text:
        text = f"{error.filename}: {error.strerror or text}"
    return text or type(error).__name__


def run_command(main: Callable[[list[str]], int | None], argv: Sequence[str] | None = None) -> int:
    """Run `main(argv)` and turn what it raises into one `error:` line and an exit status.

    Args:
        main: the command's function; it gets `argv` without `--debug`.
        argv: the arguments (`sys.argv[1:]` when None).

    Returns:
        `main`'s status (0 when it returns None), 2 for bad input, 1 for a bug, 130 on Ctrl-C;
        `SystemExit` raised with a message (`raise SystemExit("error: …")`) counts as bad input.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in argv or os.environ.get("BICPL_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != DEBUG_FLAG]
    try:
        status = main(argv)
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            message = exit_.code[len("error:"):].strip() if exit_.code.startswith("error:") else exit_.code
            _report(exit_, message, debug)
            return EXIT_BAD_INPUT
        raise
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - the point is to catch everything once, at the top
        if is_user_error(error):
            _report(error, _one_line(error), debug)
            return EXIT_BAD_INPUT
        hint = "" if debug else f" (run again with {DEBUG_FLAG} for the traceback, and please report it)"
        _report(error, f"internal error: {type(error).__name__}: {_one_line(error)}{hint}", debug)
        return EXIT_INTERNAL_ERROR
    return 0 if status is None else int(status)


def _report(error: BaseException, message: str, debug: bool) -> None:
    if debug:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    print(f"error: {message}", file=sys.stderr)
