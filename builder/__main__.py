"""`python -m builder ...`: the command line (builder/cli.py)."""

import sys

from .cli import console

if __name__ == "__main__":
    sys.exit(console(prog="python -m builder"))
