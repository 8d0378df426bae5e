"""Expressions in values: arithmetic over block parameters, the repetition's
$index and $count and the input's $in_channels, read by a small tree walker
(never eval), every mistake located at its value."""

import pytest

import builder
from builder.spec.expressions import evaluate, make_divisible

INVERTED_RESIDUAL = """name: t
input: [8, 8, 3]
blocks:
  inverted:
    params: {expand: 6, out: required, strides: 1}
    layers:
      - conv2d: {filters: $in_channels * $expand, kernel_size: 1, name: expand}
      - zero_padding2d: {padding: 1, when: $strides == 2, name: pad}
      - depthwise_conv2d: {kernel_size: 3, strides: $strides, padding: "'valid' if $strides == 2 else 'same'", name: dw}
      - conv2d: {filters: $out, kernel_size: 1, name: project}
      - add: {inputs: [project, input], when: $strides == 1 and $in_channels == $out, name: add}
layers:
  - inverted: {out: 3, name: a}
  - inverted: {out: 8, strides: 2, name: b}
  - inverted: {out: 8, repeat: 2, name: c, expand: 2 + $index}
  - dropout: {rate: 0.2 * $index / $count, repeat: 3, name: drop}
output: {units: 2}
"""


@pytest.mark.parametrize("text, names, expected", [
    ("$c * $e", {"c": 16, "e": 6}, 96),
    ("0.2 * $index / $count", {"index": 3, "count": 16}, 0.2 * 3 / 16),
    ("$c // 2", {"c": 1792}, 896),
    ("ceil($d * 1.1)", {"d": 3}, 4),
    ("round($x)", {"x": 2.5}, 3),                        # half up, as the papers round
    ("max(1, min($a, 8))", {"a": 20}, 8),
    ("'valid' if $s == 2 else 'same'", {"s": 2}, "valid"),
    ("$s == 1 and $c == $o", {"s": 1, "c": 8, "o": 8}, True),
    ("not $flag or false", {"flag": True}, False),
    ("-$x ** 2", {"x": 3}, -9),
    ("make_divisible($c * 1.1)", {"c": 32}, 32),
])
def test_values(text, names, expected):
    assert evaluate(text, names) == expected


def test_round_to_is_efficientnet_v2s_rounding():
    """keras.applications' EfficientNetV2 round_filters: the nearest multiple, no 10% guard."""
    from builder.spec.expressions import round_to
    assert [round_to(v) for v in (16 * 1.2, 32 * 1.1, 3.0, 1280 * 1.2)] == [16, 32, 8, 1536]
    assert make_divisible(16 * 1.2) == 24                      # make_divisible steps up where that is 10% short
    assert evaluate("round_to($x * 1.2, 8)", {"x": 16}) == 16


def test_make_divisible_is_keras_applications_rounding():
    from keras.src.applications.mobilenet_v2 import _make_divisible
    for value in [v / 4 for v in range(1, 4000)]:
        assert make_divisible(value) == _make_divisible(value, 8), value
        assert make_divisible(value, 4) == _make_divisible(value, 4), value


@pytest.mark.parametrize("text, message", [
    ("$x.__class__", "holds an Attribute"),
    ("$x[0]", "holds a Subscript"),
    ("__import__('os') and $x", "calls '__import__', which is not one of its functions"),
    ("(lambda: 1)() + $x", "calls '?'"),
    ("x + $x", "names 'x': a block parameter is written $x"),
    ("'a' * $x", "arithmetic on a string"),
    ("2 ** $x", "raises to the power 1000; at most 64"),
    ("$x / ($x - 1000)", "divides by zero (with $x = 1000)"),
    ("$y + 1", "uses $y, which is not defined here. Defined: $x"),
    ("$x +", "cannot read the expression"),
    ("10 ** 10 * 10 ** 10 * $x", "beyond any size in a model"),
])
def test_refusals(text, message):
    with pytest.raises(builder.SpecError) as caught:
        evaluate(text, {"x": 1000})
    assert message in caught.value.message


def test_an_inverted_residual_derives_its_widths_padding_and_shortcut():
    graph = builder.validate(text=INVERTED_RESIDUAL)
    made = {node.name: node for node in graph.nodes}
    assert made["a_expand"].args["filters"] == 18 and made["a_add"].inputs == ["a_project", "input"]
    assert made["b_expand"].args["filters"] == 18
    assert made["b_dw"].args["padding"] == "valid" and made["b_pad"].args["padding"] == 1
    assert "b_add" not in made and "a_pad" not in made          # switched off by their conditions
    assert made["a_dw"].args["padding"] == "same"
    assert made["c1_expand"].args["filters"] == 8 * 2 and made["c2_expand"].args["filters"] == 8 * 3   # $index
    assert made["c1_add"].inputs == ["c1_project", "b_project"]
    assert [made[f"drop{k}"].args["rate"] for k in (1, 2, 3)] == [0.0, 0.2 / 3, 0.4 / 3]
    assert builder.build(text=INVERTED_RESIDUAL).count_params() > 0


def test_in_channels_sees_through_normalization_activation_and_concatenation():
    spec = """name: t
input: [4, 4, 5]
layers:
  - conv2d: {filters: 7, kernel_size: 1, name: a}
  - batch_normalization
  - relu: {name: activated}
  - concatenate: {inputs: [input, activated], name: joined}
  - conv2d: {filters: $in_channels // 2, kernel_size: 1, name: half}
output: {units: 2}
"""
    made = {node.name: node for node in builder.validate(text=spec).nodes}
    assert made["half"].args["filters"] == (5 + 7) // 2


@pytest.mark.parametrize("change, line, message", [
    (("rate: 0.2 * $index / $count", "rate: 0.2 * $index / ($count - 3)"), 16,
     "layers[3].dropout.rate: the expression '0.2 * $index / ($count - 3)' divides by zero "
     "(with $count = 3, $index = 0)"),
    (("expand: 2 + $index", "expand: 2 + $idx"), 15,
     "layers[2].inverted.expand: the expression '2 + $idx' uses $idx, which is not defined here. "
     "Did you mean 'index'?"),
    (("filters: $in_channels * $expand", "filters: $in_channels / $expand"), 7,
     "blocks.inverted.layers[0].conv2d.filters: expected a positive integer, got 0.5 (a number)"),
    (("  - dropout: {", "  - flatten\n  - dense: {units: $in_channels}\n  - dropout: {"), 17,
     "layers[4].dense.units: cannot evaluate '$in_channels': the channels of 'flatten' (a flatten layer) are "
     "not known before the model is built; write the number"),
    (("params: {expand: 6,", "params: {index: 1, expand: 6,"), 5,
     "blocks.inverted.params.index: 'index' is a name expressions are given ($index)"),
])
def test_mistakes_are_located_at_the_value(change, line, message):
    with pytest.raises(builder.SpecError) as caught:
        builder.validate(text=INVERTED_RESIDUAL.replace(*change))
    err = caught.value
    assert err.line == line, err.render()
    assert f"{err.path_text()}: {err.message}".startswith(message), err.render()


def test_index_inside_a_block_is_its_instance_position():
    spec = """name: t
input: [4]
blocks:
  widening:
    layers:
      - dense: {units: 4 * ($index + 1), name: d}
      - dropout: {rate: $index / 10, name: drop}
layers:
  - widening: {repeat: 3, name: w}
output: {units: 2}
"""
    made = {node.name: node for node in builder.validate(text=spec).nodes}
    assert [made[f"w{k}_d"].args["units"] for k in (1, 2, 3)] == [4, 8, 12]
    assert [made[f"w{k}_drop"].args["rate"] for k in (1, 2, 3)] == [0.0, 0.1, 0.2]


def test_parameters_that_start_with_a_digit():
    assert evaluate("$3x3 * 2", {"3x3": 4}) == 8
    spec = """name: t
input: [4]
blocks:
  b:
    params: {3x3: 5}
    layers: [dense: {units: $3x3, name: one}, dense: {units: $3x3 + 1, name: two}]
layers: [b]
output: {units: 2}
"""
    assert [n.args["units"] for n in builder.validate(text=spec).nodes] == [5, 6]


def test_arithmetic_on_numbers_alone_is_a_formula_too():
    """YAML reads `88 / 24` as a string; in a layer's arguments, a spec's or a block's params it is worked out."""
    spec = """name: t
input: [4]
params: {width: 2 ** 4}
blocks:
  b:
    params: {expand: 88 // 22}
    layers: [dense: {units: $expand * 2, name: one}]
layers:
  - dense: {units: 88 // 8, name: a}
  - dense: {units: $width, name: w}
  - dropout: {rate: 1 / 4, name: drop}
  - b: {name: blk}
  - dense: {units: make_divisible(88 * 0.75), name: m}
  - dense: {units: 3, name: s, activation: "relu"}
output: none
"""
    made = {node.name: node for node in builder.validate(text=spec).nodes}
    assert made["a"].args["units"] == 11 and made["w"].args["units"] == 16
    assert made["drop"].args["rate"] == 0.25 and made["blk_one"].args["units"] == 8
    assert made["m"].args["units"] == 64


@pytest.mark.parametrize("change, column, message", [
    (("when: $strides == 2", "when: $strides = 2"), 38,
     "blocks.inverted.layers[1].zero_padding2d.when: cannot read the expression '$strides = 2': invalid syntax "
     "(a comparison is written ==, e.g. $strides == 2)"),
    (("rate: 0.2 * $index / $count", "rate: $dropp"), 15,
     "layers[3].dropout.rate: unknown parameter (the spec's `params:`) 'dropp'. Did you mean 'drop'? Known: drop."),
])
def test_equals_and_a_misspelled_spec_parameter_say_what_is_meant(change, column, message):
    text = INVERTED_RESIDUAL.replace(*change).replace("layers:\n  - inverted: {out: 3", "params: {drop: 0.1}\n"
                                                      "layers:\n  - inverted: {out: 3")
    with pytest.raises(builder.SpecError) as caught:
        builder.validate(text=text)
    assert f"{caught.value.path_text()}: {caught.value.message}" == message
    assert caught.value.render().split(": error")[0].endswith(f":{column}"), caught.value.render()


def test_the_specs_params_are_seen_inside_blocks_and_a_block_parameter_wins():
    spec = """name: t
input: [4]
params: {hidden: 12, rate: 0.3}
blocks:
  b:
    params: {rate: 0.1}
    layers: [dense: {units: $hidden * 2, name: d}, dropout: {rate: $rate, name: drop}]
layers: [b]
output: none
"""
    made = {node.name: node for node in builder.validate(text=spec).nodes}
    assert made["b_d"].args["units"] == 24 and made["b_drop"].args["rate"] == 0.1


JOIN = """name: t
inputs:
  a: {shape: [8, 8, 16]}
  b: {shape: [8, 8, 24]}
blocks:
  join:                       # NASNet's cells adjust their second input to the first's channels where they differ
    inputs: [x, skip]
    layers:
      - conv2d: {filters: $in_channels, kernel_size: 1, name: adjust, inputs: skip,
                 when: "$inputs[1].channels != $in_channels"}   # quoted: [ ] inside { } is YAML's
      - add: {inputs: [x, adjust], name: add}
layers:
  - join: {inputs: [a, b], name: j}
  - join: {inputs: [j, a], name: k}
  - dense: {units: "$inputs[0].channels * 2", name: d}
  - dense: {units: "$in_shape[1] * $inputs[0].shape[2]", name: e}
output: none
"""


def test_every_input_of_a_block_or_an_entry_is_seen_by_its_channels():
    graph = builder.validate(text=JOIN)
    made = {node.name: node for node in graph.nodes}
    assert made["j_adjust"].args["filters"] == 16 and made["j_adjust"].inputs == ["b"]
    assert "k_adjust" not in made and made["k_add"].inputs == ["j_add", "a"]
    assert made["d"].args["units"] == 32
    assert made["e"].args["units"] == 64                     # the 8x8 map's height and width


@pytest.mark.parametrize("change, message", [
    ("$inputs[0].channels * 2", None),
    ("$inputs[1].channels * 2", "the expression '$inputs[1].channels * 2' asks for input 1; there is 1 input, "
                                "from 0"),
    ("$inputs[0].size", "the expression '$inputs[0].size' holds an Attribute (an input has .channels and .shape: "
                        "$inputs[1].channels)"),
    ("$in_shape[0]", "cannot evaluate '$in_shape[0]': axis 0 of the shape (None, 8, 8, 16) varies (the batch axis, "
                     "or a size left null)"),
    ("$in_shape[4]", "the expression '$in_shape[4]' asks for axis 4; there are 4 axes, from 0"),
])
def test_inputs_mistakes_are_located(change, message):
    text = JOIN.replace('"$inputs[0].channels * 2"', f'"{change}"')
    if message is None:
        builder.validate(text=text)
        return
    with pytest.raises(builder.SpecError) as caught:
        builder.validate(text=text)
    assert caught.value.line == 15 and caught.value.message.startswith(message), caught.value.render()
