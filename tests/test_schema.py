"""The JSON Schema for editors: generated, fresh, and in agreement with the validator."""

import glob
import json
import os

import jsonschema
import pytest

from builder.io import json_schema as spec_schema
from builder.spec import reader as loader
from conftest import ROOT

SCHEMA_FILE = os.path.join(ROOT, "specs", "spec.schema.json")
SPEC_FILES = sorted(glob.glob(os.path.join(ROOT, "specs", "**", "*.yaml"), recursive=True)) + \
    sorted(glob.glob(os.path.join(ROOT, "benchmarks", "*.yaml")))


@pytest.fixture(scope="module")
def validator():
    schema = json.load(open(SCHEMA_FILE))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_checked_in_schema_is_what_cli_schema_prints(cli):
    code, out, _ = cli("schema")
    assert code == 0
    assert open(SCHEMA_FILE).read() == out == spec_schema.render(), \
        "spec.schema.json is stale: run python tools/regenerate.py"


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: os.path.relpath(p, ROOT))
def test_shipped_spec_carries_the_modeline_and_fits_the_schema(path, validator):
    first = open(path).readline().strip()
    relative = os.path.relpath(SCHEMA_FILE, os.path.dirname(path))
    assert first == f"# yaml-language-server: $schema={relative}"
    errors = list(validator.iter_errors(loader.load_file(path).data))
    assert not errors, errors[0].message


@pytest.mark.parametrize("entry, valid", [
    ({"conv2d": {"filters": 4, "kernel_size": 3}}, True),
    ({"conv2d": {"filters": 4, "kernel_size": 3, "filtres": 2}}, False),
    ({"conv2d": {"filters": -4, "kernel_size": 3}}, False),
    ({"conv2d": {"filters": 4, "kernel_size": 3, "padding": "smae"}}, False),
    ({"dense": 120}, True),
    ({"dense": "120"}, False),
    ({"dense": {"units": 8, "activation": {"maxout": 3}}}, True),
    ({"dense": {"units": 8, "activation": "rleu"}}, False),
    ({"bidirectional": {"layer": {"lstm": 8}}}, True),
    ({"conv2d": {"filters": "$filters", "kernel_size": 3}}, True),
    ("flatten", True),
    ({"my_block": {"width": 3}}, True),
])
def test_schema_judges_entries_like_the_validator(validator, entry, valid):
    import builder
    document = {"name": "x", "input": [8, 8, 3], "layers": [entry], "output": {"units": 2}}
    assert validator.is_valid(document) == valid
    # The validator sees the entry where its block and parameter exist (the schema cannot know them).
    in_a_block = {**document, "layers": [{"wrap": {}}], "blocks": {
        "my_block": {"params": {"width": 1}, "layers": ["flatten"]},
        "wrap": {"params": {"filters": 4}, "layers": [entry]}}}
    assert validator.is_valid(in_a_block) == valid
    try:
        builder.validate(data=in_a_block)
    except builder.SpecError:
        assert not valid
    else:
        assert valid


def test_schema_rejects_unknown_sections_and_training_settings(validator):
    base = {"name": "x", "input": [8], "layers": ["flatten"], "output": 2}
    assert validator.is_valid(base)
    assert not validator.is_valid({**base, "ouptut": 2})
    assert not validator.is_valid({**base, "training": {"epoch": 3}})
    assert validator.is_valid({**base, "training": {"epochs": 3, "optimizer": {"adam": {"learning_rate": 0.01}}}})
