"""What the command lines of the project share: one-line errors and exit statuses.

A *user error* is an ``OSError`` (a file or folder that is missing, unreadable,
unwritable or of the wrong kind) or a ``ValueError`` (a bad argument, an unknown chapter
or profile, a corrupt file): the exceptions the loaders, writers and argument checks of
the library raise, with messages that name the argument or the file. Every command line
runs through :func:`run_command`, which prints a user error as one line,
``error: <message>``, on stderr and exits with status 2, prints ``interrupted`` and exits
with 130 on Ctrl-C, and lets any other exception (a bug) through with its traceback.
:class:`Parser` reports a bad command line the same way.
"""

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

USER_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError)

#: Exit status of a user error (as argparse's for a bad command line) and of Ctrl-C.
USER_ERROR_STATUS = 2
INTERRUPTED_STATUS = 130


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are user errors (``ValueError``), not exits.

    Its sub-parsers are of this class too.
    """

    def error(self, message: str) -> NoReturn:
        """Raise ``ValueError`` with argparse's message and where to find the usage."""
        raise ValueError(f"{message} (see `{self.prog} --help`)")


def one_line(error: BaseException) -> str:
    """The message of ``error`` on one line (its class name if it has none)."""
    return " ".join(str(error).split()) or type(error).__name__


def run_command(
    command: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None
) -> int:
    """Run a command line's ``command(argv)``; return its exit status.

    Returns
    -------
    int
        What ``command`` returned (0 for None); 2 after printing ``error: <message>`` for a
        user error; 130 after printing ``interrupted`` for ``KeyboardInterrupt``.
    """
    try:
        status = command(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED_STATUS
    except USER_ERRORS as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return USER_ERROR_STATUS
    return 0 if status is None else status
