"""Whatever a spec holds, the user gets a located error or a model: the
tests/bad_specs/ corpus, and mutations of valid specs (hypothesis)."""

import copy
import os
import re
import subprocess
import sys

import pytest
import yaml

import builder
from builder import SpecError
from builder.spec import reader
from conftest import ROOT, spec_path

CORPUS = os.path.join(ROOT, "tests", "bad_specs")
EXPECTED = yaml.safe_load(open(os.path.join(ROOT, "tests", "bad_specs_expected.yaml")))
ERROR_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): error: (?P<message>.*)$")


def test_corpus_has_forty_files_each_with_an_expectation():
    files = sorted(os.listdir(CORPUS))
    assert len(files) >= 40
    assert files == sorted(EXPECTED)


def check(name, code, stdout, stderr):
    expected = EXPECTED[name]
    assert code == 1, stderr
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1, stderr
    found = ERROR_LINE.match(stderr.strip())
    assert found, stderr
    assert os.path.basename(found["file"]) == expected.get("file", name)
    assert int(found["line"]) == expected["line"]
    assert found["message"].startswith(expected["error"])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_spec_gives_a_located_error(cli, name):
    code, stdout, stderr = cli("build", os.path.join(CORPUS, name))
    check(name, code, stdout, stderr)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_spec_from_a_fresh_process(name):
    """In a fresh process, bounded: an alias bomb or a deep nesting that hangs runs past the timeout and fails."""
    result = subprocess.run([sys.executable, os.path.join(ROOT, "cli.py"), "build", os.path.join(CORPUS, name)],
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    check(name, result.returncode, result.stdout, result.stderr)
    assert not os.path.exists("/tmp/builder-pwned")


# --- mutations of valid specs -------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SEEDS = ["lenet5", "stacked_lstm", "gru_timeseries"]
TINY_GRAPH = """\
name: g
input: [8, 8, 3]
defaults: {activation: relu, padding: same}
blocks:
  res:
    params: {filters: 4, project: false}
    layers:
      - conv2d: {filters: $filters, kernel_size: 1, name: proj, when: $project}
      - conv2d: {filters: $filters, kernel_size: 3, name: conv, inputs: input}
      - add: {inputs: [proj, conv]}
layers:
  - conv2d: {filters: 4, kernel_size: 3, name: stem}
  - res: {name: stage, repeat: 2, vary: {first: {project: true}}}
  - max_pooling2d: 2
  - dropout: 0.25
  - flatten
  - dense: {units: 8, activation: {leaky_relu: 0.1}}
output: {units: 3}
"""
ODD_VALUES = [None, -1, 0, 1, 3, 2.5, 1e30, float("nan"), "x", "$filters", "same", "relu", [], {}, [1, 2, 3, 4],
              {"dense": 3}, True, "flatten", "input", ["stem", "stem"], "maxout"]


def seed_data():
    seeds = [reader.load_file(spec_path(name)).data for name in SEEDS]
    return seeds + [reader.load_text(TINY_GRAPH).data]


def places(value, path=()):
    """Every (path, value) in a spec's data."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from places(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from places(item, path + (index,))


def mutate(data, draw):
    data = copy.deepcopy(data)
    targets = list(places(data))[1:]
    for _ in range(draw(st.integers(1, 3))):
        path, _value = draw(st.sampled_from(targets))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        operation = draw(st.sampled_from(["drop", "retype", "duplicate", "reorder", "rename"]))
        try:
            if operation == "drop":
                del parent[key]
            elif operation == "retype":
                parent[key] = draw(st.sampled_from(ODD_VALUES))
            elif operation == "duplicate" and isinstance(parent, list):
                parent.insert(key, copy.deepcopy(parent[key]))
            elif operation == "reorder" and isinstance(parent, list):
                parent[:] = draw(st.permutations(parent))
            elif operation == "rename" and isinstance(parent, dict):
                parent[draw(st.sampled_from(["units", "filters", "name", "inputs", "layers", "kernel_size", "zzz"]))] = \
                    parent.pop(key)
        except (KeyError, IndexError, TypeError):
            pass
        targets = list(places(data))[1:] or [((), data)]
    return data


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.data())
def test_mutated_specs_build_or_raise_spec_error(data):
    from builder.backend import keras
    spec = mutate(data.draw(st.sampled_from(seed_data())), data.draw)
    try:
        builder.build(data=spec)
    except SpecError as err:
        assert err.message and err.file
    finally:
        keras().backend.clear_session()
