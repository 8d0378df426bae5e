import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "specs")
if ROOT not in sys.path:          # tools/ (the generators) is imported by the freshness tests
    sys.path.insert(0, ROOT)


def spec_path(name: str) -> str:
    return os.path.join(SPECS, f"{name}.yaml")


def shipped_specs() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(SPECS) if f.endswith(".yaml"))


@pytest.fixture
def cli(capsys):
    """Run `cli.py ARGS...` in this process: returns (exit code, stdout, stderr)."""
    from builder.cli import main

    def run(*args):
        capsys.readouterr()              # drop what the test printed before
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


def run_cli_process(*args, env=None, timeout=120):
    """Run `python cli.py ARGS...` as a user would, in a fresh interpreter."""
    return subprocess.run([sys.executable, os.path.join(ROOT, "cli.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def write_spec(tmp_path):
    """Write YAML text to tmp_path/NAME and return its path."""
    def write(text: str, name: str = "spec.yaml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write


def digits_split():
    """scikit-learn's digits, all in the training split: (that split, the loaded data)."""
    from builder.training import data
    loaded = data.load("digits", data.InputDescription((8, 8, 1)), data.SplitPlan())
    return loaded.train, loaded
