"""The ``close-async`` command line: export, list, read, pause and resume subscriptions.

``main(argv)`` runs it and returns the exit code (the ``close-async`` console script and
``python -m close_async.cli`` call it). The progress bar needs the ``cli`` extra
(``pip install "close-async[cli]"``). See docs/cli.md.
"""

from ._app import main

__all__ = ["main"]
