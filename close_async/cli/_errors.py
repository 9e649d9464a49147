"""Exit codes of ``close-async`` and the error that ends a command with a usage message."""

from __future__ import annotations

__all__ = [
    "EXIT_API_ERROR",
    "EXIT_FAILED_IDS",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "exit_code_for_signal",
]

EXIT_OK = 0
EXIT_FAILED_IDS = 1  # the export finished, but some IDs failed (listed in <out>.failed)
EXIT_USAGE = 2  # bad arguments: argparse's own code, reused for what it cannot check
EXIT_API_ERROR = 3  # any close_async.CloseError: Close (or the network) said no
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shell's convention


def exit_code_for_signal(signum: int) -> int:
    """Return the shell's exit code for a command stopped by signal ``signum`` (128 + it)."""
    return 128 + signum


class UsageError(Exception):
    """A problem with the command line that argparse cannot see (exit 2).

    A missing credential, an output file that already exists, an input file that cannot be
    read: the user fixes the command, not the data.
    """
