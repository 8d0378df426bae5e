"""Reading YAML safely: plain data only, positions kept, hostile input refused fast."""

import json
import time

import pytest

from builder import SpecError
from builder.spec import overrides
from builder.spec import reader as loader


def load_error(text) -> SpecError:
    with pytest.raises(SpecError) as info:
        loader.load_text(text, "s.yaml")
    return info.value


def test_positions_of_keys_and_items():
    source = loader.load_text("name: t\nlayers:\n  - dense: {units: 3}\n  - flatten\n", "s.yaml")
    assert source.data == {"name": "t", "layers": [{"dense": {"units": 3}}, "flatten"]}
    assert source.position(("layers", 0, "dense", "units")) == (3, 13)
    assert source.position(("layers", 1)) == (4, 5)
    assert source.position(("layers", 1, "missing", "deeper")) == (4, 5)


def test_alias_bomb_is_refused_quickly():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    started = time.perf_counter()
    err = load_error("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 5
    assert "expands to more than 200,000 values" in err.message


def test_deep_nesting_is_refused():
    err = load_error("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nest" in err.message          # ours, or libyaml's own depth limit


def test_non_utf8_bytes_name_the_line():
    with pytest.raises(SpecError) as info:
        loader.load_bytes(b"name: t\ninput: [3]\nlayers: [\xff]\n", "s.yaml")
    assert (info.value.line, info.value.col) == (3, 10)
    assert "not UTF-8" in info.value.message


def test_huge_integer_is_an_error_not_a_crash():
    err = load_error("units: " + "9" * 5000 + "\n")
    assert err.line == 1 and "cannot read the number" in err.message


def test_oversized_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (loader.MAX_BYTES + 10) + b"\n")
    with pytest.raises(SpecError, match="a spec may be at most"):
        loader.load_file(path)


@pytest.mark.parametrize("tag", ["!!python/name:os.system", "!!binary aGVsbG8=", "!!set {a, b}", "!custom x"])
def test_non_plain_tags_are_refused(tag):
    err = load_error(f"value: {tag}\n")
    assert "is not allowed: specs hold plain data" in err.message


def test_merge_keys_and_aliases_are_plain_yaml():
    source = loader.load_text("base: &b {filters: 4, kernel_size: 3}\nconv: {<<: *b, filters: 8}\n")
    assert source.data["conv"] == {"filters": 8, "kernel_size": 3}


def test_dates_stay_strings():
    assert loader.load_text("when: 2024-01-01\n").data == {"when": "2024-01-01"}


@pytest.mark.parametrize("path, parsed", [
    ("layers.3.conv2d.filters", ("layers", 3, "conv2d", "filters")),
    ("layers[3].conv2d.filters", ("layers", 3, "conv2d", "filters")),
    ("defaults.activation", ("defaults", "activation")),
])
def test_override_paths(path, parsed):
    assert overrides.parse_override_path(path) == parsed


@pytest.mark.parametrize("text, value", [("10", 10), ("none", "none"), ("[1, 2]", [1, 2]), ("0.5", 0.5),
                                         ("prelu", "prelu"), ("", None)])
def test_override_values_are_read_as_yaml(text, value):
    assert overrides.parse_override_value(text) == value


@pytest.mark.parametrize("path, value, expected", [
    ("layers.c1.filters", 8, {"conv2d": {"filters": 8, "kernel_size": 5, "name": "c1"}}),          # by name
    ("layers.c1.conv2d.filters", 8, {"conv2d": {"filters": 8, "kernel_size": 5, "name": "c1"}}),   # type written too
    ("layers.0.conv2d.filters", 8, {"conv2d": {"filters": 8, "kernel_size": 5, "name": "c1"}}),    # by position
])
def test_overrides_address_entries_by_name_or_position(path, value, expected):
    source = loader.load_text("layers:\n  - conv2d: {filters: 6, kernel_size: 5, name: c1}\n  - flatten\n")
    overrides.apply_overrides(source, {path: value})
    assert source.data["layers"][0] == expected


def test_overrides_reach_into_named_training_objects():
    source = loader.load_text("training: {optimizer: adam}\n")
    overrides.apply_overrides(source, {"training.optimizer.adam.learning_rate": 0.01,
                                       "training.preprocessing.rescale": 0.5})
    assert source.data["training"] == {"optimizer": {"adam": {"learning_rate": 0.01}},
                                       "preprocessing": {"rescale": 0.5}}


def test_the_cli_sets_an_entry_by_its_name(cli):
    from conftest import spec_path
    code, out, _ = cli("build", spec_path("lenet5"), "--set", "layers.c1.filters=8", "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["params"] == 62_558


def test_a_spec_without_a_name_is_named_so_that_tensorflow_can_train_it(cli, tmp_path):
    """A spec from text (or a file named `_x.yaml`) was named `_spec_`, a name TensorFlow's scopes refuse in fit."""
    import numpy as np

    import builder
    model = builder.build(text="input: [3]\nlayers: [dense: 2]\noutput: 2\n")
    assert model.name == "spec_"
    model.compile(loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((4, 3), "float32"), np.zeros(4, "int64"), verbose=0)
    (tmp_path / "_x.yaml").write_text("name: _x\ninput: [3]\nlayers: [dense: 2]\noutput: 2\n")
    code, _, err = cli("validate", tmp_path / "_x.yaml")
    assert code == 1 and "starting with a letter or digit" in err


def test_python_overrides_read_text_as_the_command_line_does():
    """`overrides=` once kept "0.01" as text where `--set` reads a number; now text is read as YAML, other values
    are used as they are, and quoted text stays text."""
    import builder
    from conftest import spec_path
    for value in ("0.01", 0.01):
        spec = builder.load_spec(spec_path("lenet5"), overrides={"training.optimizer.adam.learning_rate": value})
        assert spec.training.optimizer == {"adam": {"learning_rate": 0.01}}
    assert builder.load_spec(spec_path("lenet5"), overrides={"name": "'007'"}).name == "007"
    assert builder.build(spec_path("lenet5"), overrides={"output.units": "3"}).output.shape == (None, 3)
    with pytest.raises(builder.SpecError, match=r"cannot read the value '\[1': "):
        builder.load_spec(spec_path("lenet5"), overrides={"output.units": "[1"})
