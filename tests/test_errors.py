"""Spec mistakes, each checked against the exact line the CLI prints:
`FILE:LINE:COL: error: PATH: message`, exit status 1, nothing on stdout."""

import pytest

HEAD = "name: t\ninput: [8, 8, 3]\nlayers:\n"
TAIL = "output: {units: 10}\n"

CASES = {
    "unknown layer type": (
        HEAD + "  - conv2d: {filters: 4, kernel_size: 3}\n  - conv2f: {filters: 4, kernel_size: 3}\n" + TAIL,
        "5:5: error: layers[1].conv2f: unknown layer type 'conv2f'. Did you mean 'conv2d'? Known: "),
    "unknown argument": (
        HEAD + "  - conv2d: {filters: 4, kernel_size: 3, filtres: 2}\n" + TAIL,
        "4:42: error: layers[0].conv2d.filtres: unknown argument 'filtres' for conv2d. Did you mean 'filters'? "
        "It takes: activation, activity_regularizer, "),
    "missing argument": (
        HEAD + "  - conv2d: {filters: 4}\n" + TAIL,
        "4:5: error: layers[0].conv2d: conv2d needs 'kernel_size' (a positive integer or a list of 1 to 3 "
        "positive integers); write e.g. `conv2d: {kernel_size: ...}`"),
    "negative size": (
        HEAD + "  - conv2d:\n      filters: -4\n      kernel_size: 3\n" + TAIL,
        "5:7: error: layers[0].conv2d.filters: expected a positive integer, got -4 (an integer)"),
    "wrong type": (
        HEAD + "  - dense: {units: '64'}\n" + TAIL,
        "4:13: error: layers[0].dense.units: expected a positive integer, got '64' (a string)"),
    "bad choice": (
        HEAD + "  - conv2d: {filters: 4, kernel_size: 3, padding: smae}\n" + TAIL,
        "4:42: error: layers[0].conv2d.padding: expected one of 'valid', 'same', 'causal', got 'smae' (a string)"),
    "dropout rate out of range": (
        HEAD + "  - flatten\n  - dropout: 1.5\n" + TAIL,
        "5:5: error: layers[1].dropout.rate: expected a number from 0 up to (not including) 1, got 1.5 (a number)"),
    "duplicate key": (
        HEAD + "  - conv2d: {filters: 4, kernel_size: 3, filters: 8}\n" + TAIL,
        "4:42: error: duplicate key 'filters' (first set at 4:14); YAML would silently keep only the last value"),
    "unknown activation in defaults": (
        "name: t\ninput: [8, 8, 3]\ndefaults: {activation: rleu}\nlayers:\n  - flatten\n" + TAIL,
        "3:12: error: defaults.activation: unknown activation 'rleu'. Did you mean 'relu'? Known: "),
    "unknown default": (
        "name: t\ninput: [8, 8, 3]\ndefaults: {kernel_sise: 3}\nlayers:\n  - flatten\n" + TAIL,
        "3:12: error: defaults.kernel_sise: unknown default (no layer type takes it) 'kernel_sise'. "
        "Did you mean 'kernel_size'? Known: "),
    "shape impossible": (
        "name: t\ninput: [4, 4, 1]\nlayers:\n  - conv2d: {filters: 4, kernel_size: 3}\n"
        "  - conv2d: {filters: 4, kernel_size: 5}\n" + TAIL,
        "5:5: error: layers[1].conv2d: conv2d cannot take an input of shape (None, 2, 2, 4) from 'conv2d': "
        "Computed output size would be zero or negative."),
    "yaml syntax": (
        HEAD + "  - conv2d: {filters: 4, kernel_size: 3\n" + TAIL,
        "5:7: error: invalid YAML: while parsing a flow mapping did not find expected ',' or '}'"),
    "tab indentation": (
        HEAD + "\t- flatten\n" + TAIL,
        "4:1: error: invalid YAML: while scanning for the next token found character that cannot start any "
        "token (a tab: YAML indents with spaces, never tabs)"),
    "unsafe tag": (
        "name: !!python/object/apply:os.system ['echo pwned']\ninput: [8, 8, 3]\nlayers: [flatten]\n" + TAIL,
        "1:7: error: the YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed: specs hold "
        "plain data (mappings, lists, strings, numbers, booleans, null)"),
    "entry with two keys": (
        HEAD + "  - conv2d: {filters: 4, kernel_size: 3}\n    name: c1\n" + TAIL,
        "4:5: error: layers[0]: an entry is one `TYPE: ARGS` pair, got the keys conv2d, name; put name, inputs "
        "and the other arguments inside ARGS, e.g. `- conv2d: {filters: 8, kernel_size: 3, name: c1}`"),
    "missing output": (
        HEAD + "  - flatten\n",
        "1:1: error: the spec has no 'output'; write `output: {units: N}` for a softmax classifier over N "
        "classes, or `output: none` for a model without a head"),
    "unknown top-level key": (
        HEAD + "  - flatten\n" + TAIL + "ouptut: {units: 3}\n",
        "6:1: error: ouptut: unknown top-level key 'ouptut'. Did you mean 'output'? Known: "),
    "empty file": (
        "   \n",
        "1:1: error: the spec is empty; expected a mapping with name, input, layers and output"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_spec_mistake_is_reported_at_its_line(cli, write_spec, case):
    text, expected = CASES[case]
    path = write_spec(text)
    command = "build" if case == "shape impossible" else "validate"
    code, out, err = cli(command, path)
    assert code == 1
    assert out == ""
    assert err.startswith(f"{path}:{expected}"), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_misspelled_type_from_a_fresh_process(write_spec):
    """As a user sees it: exit 1, file and line on stderr, the right type suggested, no traceback."""
    from conftest import run_cli_process
    path = write_spec(HEAD + "  - flatten\n  - flatten\n  - dense: 32\n  - dropuot: 0.5\n" + TAIL)
    result = run_cli_process("build", path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path}:7:5: error: layers[3].dropuot: unknown layer type 'dropuot'. "
                                    "Did you mean 'dropout'?")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_unsafe_tag_executes_nothing(cli, write_spec, tmp_path):
    marker = tmp_path / "pwned"
    path = write_spec(f"name: !!python/object/apply:os.system ['touch {marker}']\n"
                      "input: [8]\nlayers: [flatten]\noutput: none\n")
    for command in ("validate", "build"):
        assert cli(command, path)[0] == 1
    assert not marker.exists()


def test_error_in_a_default_points_at_the_default(cli, write_spec):
    path = write_spec("name: t\ninput: [8, 8, 3]\ndefaults:\n  padding: smae\nlayers:\n"
                      "  - conv2d: {filters: 4, kernel_size: 3}\n" + TAIL)
    code, _, err = cli("validate", path)
    assert err == (f"{path}:4:3: error: defaults.padding: expected one of 'valid', 'same', 'causal', "
                   "got 'smae' (a string)\n")


def test_set_with_an_unknown_path_is_a_spec_error(cli):
    from conftest import spec_path
    code, _, err = cli("validate", spec_path("lenet5"), "--set", "layers.30.conv2d.filters=3")
    assert code == 1
    assert "cannot set 'layers.30.conv2d.filters': '30' is not an index of a list of 7" in err
