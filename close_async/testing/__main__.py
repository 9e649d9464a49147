"""Run the fake Close server: `python -m close_async.testing --help`."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
