import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "specs")
if ROOT not in sys.path:          # tools/ (the generators) is imported by the freshness tests
    sys.path.insert(0, ROOT)


# The extras a test may need beyond the quick start's (pyproject.toml): the module each installs.
# `@pytest.mark.needs("jax")` skips, naming the extra, where it is missing; CI installs them all and
# sets BUILDER_REQUIRE_EXTRAS=1, which fails such a test instead of skipping it.
EXTRAS = {
    "jax": "jax",
    "torch": "torch",
    "search": "keras_tuner",
    "track": "mlflow",
    "tfds": "tensorflow_datasets",
    "hf": "datasets",
    "browser": "playwright",
}


def require_extra(extra: str) -> None:
    """Skip the running test, naming the extra, where its package is missing (fail it in CI)."""
    if importlib.util.find_spec(EXTRAS[extra]) is None:
        message = f"needs the `{extra}` extra: pip install -e \".[{extra}]\""
        if os.environ.get("BUILDER_REQUIRE_EXTRAS"):
            pytest.fail(f"{message} (BUILDER_REQUIRE_EXTRAS is set)")
        pytest.skip(message)


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs"):
        for extra in mark.args:
            require_extra(extra)


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
