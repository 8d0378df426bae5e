"""`python -m builder ...`: the command line (builder/cli.py)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m builder"))
