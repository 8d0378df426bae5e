"""Entry point: `python cli.py build specs/alexnet.yaml`. See builder/cli.py."""

import sys

from builder.cli import console

if __name__ == "__main__":
    sys.exit(console())
