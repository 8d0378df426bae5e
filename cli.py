"""Entry point: `python cli.py build specs/alexnet.yaml`. See builder/cli.py."""

import sys

from builder.cli import main

if __name__ == "__main__":
    sys.exit(main())
