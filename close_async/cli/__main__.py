"""Run the command line: ``python -m close_async.cli --help``."""

import sys

from ._app import main

if __name__ == "__main__":
    sys.exit(main())
