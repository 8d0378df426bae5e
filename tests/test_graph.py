"""References, merges, blocks, repeat, vary, when and imports, on tiny inputs."""

import os

import pytest

import builder
from builder import SpecError


def build(text, **kw):
    return builder.build(text=text, **kw)


def validate_error(text) -> str:
    with pytest.raises(SpecError) as info:
        builder.validate(text=text)
    return info.value.render()


def build_error(text) -> str:
    with pytest.raises(SpecError) as info:
        builder.build(text=text)
    return info.value.render()


RESIDUAL = """\
name: r
input: [8, 8, 4]
blocks:
  res:
    params: {filters: required, strides: 1, project: false}
    layers:
      - conv2d: {filters: $filters, kernel_size: 1, strides: $strides, name: proj, when: $project}
      - conv2d: {filters: $filters, kernel_size: 3, strides: $strides, padding: same, name: conv, inputs: input}
      - add: {inputs: [proj, conv], name: add}
layers:
  - res: {name: stage, filters: 4, repeat: 3, vary: {first: {project: true, strides: 2}}}
output: none
"""


def test_repeat_names_vary_and_when():
    model = build(RESIDUAL)
    names = [layer.name for layer in model.layers]
    assert names == ["input", "stage1_proj", "stage1_conv", "stage1_add", "stage2_conv", "stage2_add",
                     "stage3_conv", "stage3_add"]
    assert model.get_layer("stage1_conv").strides == (2, 2)
    assert model.get_layer("stage2_conv").strides == (1, 1)
    assert model.output.shape == (None, 4, 4, 4)
    # a switched-off entry passes its input on: stage2's add sums stage1's output and its conv
    inbound = model.get_layer("stage2_add")._inbound_nodes[0].parent_nodes
    assert [node.operation.name for node in inbound] == ["stage1_add", "stage2_conv"]


def test_a_switched_off_merge_passes_its_first_input():
    text = """\
name: m
input: [8, 8, 4]
blocks:
  mb:
    params: {filters: 4, residual: true}
    layers:
      - conv2d: {filters: $filters, kernel_size: 1, name: conv}
      - dropout: {rate: 0.1, name: drop, when: $residual}
      - add: {inputs: [drop, input], name: add, when: $residual}
layers:
  - mb: {name: a, filters: 6, residual: false}     # 4 -> 6 channels: no residual possible
  - mb: {name: b, filters: 6}
output: none
"""
    model = build(text)
    assert [layer.name for layer in model.layers[1:]] == ["a_conv", "b_conv", "b_drop", "b_add"]
    inbound = model.get_layer("b_conv")._inbound_nodes[0].parent_nodes
    assert [node.operation.name for node in inbound] == ["a_conv"]
    assert "exactly one input, which it passes on (a merge or a block passes its first)" in build_error(
        text.replace("- dropout: {rate: 0.1, name: drop, when: $residual}",
                     "- multi_head_attention: {num_heads: 1, key_dim: 2, inputs: [conv, conv], name: drop, "
                     "when: $residual}"))


def test_concatenate_branches_and_channel_count():
    model = build("name: b\ninput: [8, 8, 3]\nlayers:\n"
                  "  - conv2d: {filters: 4, kernel_size: 1, name: a}\n"
                  "  - conv2d: {filters: 6, kernel_size: 3, padding: same, name: b, inputs: input}\n"
                  "  - concatenate: {inputs: [a, b]}\noutput: {units: 2}\n")
    assert model.get_layer("concatenate").output.shape == (None, 8, 8, 10)
    assert model.get_layer("predictions_flatten").output.shape == (None, 640)


def test_nested_blocks_prefix_names():
    model = build("name: n\ninput: [4]\nblocks:\n"
                  "  inner:\n    layers:\n      - dense: {units: 3, name: fc}\n"
                  "  outer:\n    layers:\n      - inner: {name: a}\n      - inner: {name: b}\n"
                  "layers:\n  - outer: {name: top}\n  - outer\noutput: none\n")
    assert [l.name for l in model.layers[1:]] == ["top_a_fc", "top_b_fc", "outer_a_fc", "outer_b_fc"]


def test_block_parameters_have_defaults_and_required_ones_are_checked():
    text = ("name: p\ninput: [4]\nblocks:\n  fc:\n    params: {units: required, act: relu}\n"
            "    layers:\n      - dense: {units: $units, activation: $act}\nlayers:\n  - fc: {units: 2}\noutput: none\n")
    assert build(text).layers[-1].activation.__name__ == "relu"
    assert validate_error(text.replace("{units: 2}", "{}")) == \
        "<spec>:9:5: error: layers[0].fc: block 'fc' needs the argument 'units'"


def test_the_issue_example_unknown_reference():
    text = ("name: x\ninput: [8, 8, 3]\nlayers:\n"
            "  - conv2d: {filters: 4, kernel_size: 3, name: a}\n"
            "  - add: {inputs: [a, nowhere]}\noutput: {units: 2}\n")
    assert validate_error(text) == ("<spec>:5:11: error: layers[1].add.inputs: unknown reference 'nowhere'. "
                                    "Names defined above: input, a.")


GRAPH_MISTAKES = {
    "defined later": (
        "name: x\ninput: [8]\nlayers:\n  - dense: {units: 4, name: a, inputs: b}\n  - dense: {units: 4, name: b}\n"
        "output: none\n",
        "<spec>:4:32: error: layers[0].dense.inputs: 'b' is defined later (line 5); an entry can only use "
        "entries above it"),
    "unknown block argument": (
        "name: x\ninput: [8]\nblocks:\n  fc:\n    params: {units: 4}\n    layers: [{dense: $units}]\n"
        "layers:\n  - fc: {unit: 3}\noutput: none\n",
        "<spec>:8:10: error: layers[0].fc.unit: unknown argument 'unit' for block 'fc'. Did you mean 'units'? "
        "Known: units."),
    "block cycle": (
        "name: x\ninput: [8]\nblocks:\n  a:\n    layers: [b]\n  b:\n    layers: [a]\nlayers:\n  - a\noutput: none\n",
        "<spec>:7:14: error: blocks.b.layers[0].a: block cycle: a -> b -> a (in block instance layers[0] at <spec>:9)"
        " (in block instance blocks.a.layers[0] at <spec>:5)"),
    "merge needs two inputs": (
        "name: x\ninput: [8]\nlayers:\n  - dense: 4\n  - add\noutput: none\n",
        "<spec>:5:5: error: layers[1].add: add merges several inputs; list them with `inputs: [a, b]`"),
    "duplicate layer name": (
        "name: x\ninput: [8]\nlayers:\n  - dense: {units: 4, name: fc}\n  - dense: {units: 4, name: fc}\n"
        "output: none\n",
        "<spec>:5:5: error: layers[1].dense: the layer name 'fc' is already used (at <spec>:4); names must be "
        "unique in the model"),
    "parameter outside a block": (
        "name: x\ninput: [8]\nlayers:\n  - dense: {units: $n}\noutput: none\n",
        "<spec>:4:13: error: layers[0].dense.units: '$n' names a parameter, but the spec has no `params:` and "
        "this entry is not inside a block"),
    "bad repeat": (
        "name: x\ninput: [8]\nlayers:\n  - dense: {units: 4, repeat: 0}\noutput: none\n",
        "<spec>:4:23: error: layers[0].dense.repeat: expected a whole number of repetitions from 1 to 1000, "
        "got 0 (an integer)"),
    "bad vary index": (
        "name: x\ninput: [8]\nlayers:\n  - dense: {units: 4, repeat: 2, vary: {3: {units: 2}}}\noutput: none\n",
        "<spec>:4:41: error: layers[0].dense.vary[3]: expected first, last or a repetition from 1 to 2, "
        "got 3 (an integer)"),
    "error inside a block names the instance": (
        "name: x\ninput: [8]\nblocks:\n  fc:\n    layers:\n      - dense: {units: 4, use_bias: yes please}\n"
        "layers:\n  - fc: {name: f}\noutput: none\n",
        "<spec>:6:27: error: blocks.fc.layers[0].dense.use_bias: expected true or false, got 'yes please' "
        "(a string) (in block instance layers[0] at <spec>:8)"),
}


@pytest.mark.parametrize("case", sorted(GRAPH_MISTAKES))
def test_graph_mistake(case):
    text, expected = GRAPH_MISTAKES[case]
    assert validate_error(text) == expected


def test_merge_shape_mismatch_names_both_shapes():
    text = ("name: x\ninput: [8, 8, 3]\nlayers:\n  - conv2d: {filters: 4, kernel_size: 3, name: a}\n"
            "  - conv2d: {filters: 4, kernel_size: 1, name: b, inputs: input}\n  - add: {inputs: [a, b]}\n"
            "output: none\n")
    builder.validate(text=text)                  # shapes are only known when building
    assert build_error(text).startswith(
        "<spec>:6:5: error: layers[2].add: cannot add inputs of shapes (None, 6, 6, 4) from 'a', "
        "(None, 8, 8, 4) from 'b': ")


def test_block_argument_error_points_at_the_instance():
    text = ("name: x\ninput: [8]\nblocks:\n  fc:\n    params: {units: 4}\n    layers: [{dense: $units}]\n"
            "layers:\n  - fc: {units: -1}\noutput: none\n")
    assert validate_error(text) == \
        "<spec>:8:10: error: layers[0].fc.units: expected a positive integer, got -1 (an integer)"


def test_imports_share_blocks_and_detect_cycles(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "fc.yaml").write_text("blocks:\n  fc:\n    params: {units: 4}\n    layers: [{dense: $units}]\n")
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\nimports: [lib/fc.yaml]\ninput: [8]\nlayers:\n  - fc: {units: 3, name: f}\n"
                    "output: none\n")
    assert builder.build(spec).get_layer("f_dense").units == 3
    (lib / "fc.yaml").write_text("imports: [../lib/fc.yaml]\nblocks: {}\n")
    with pytest.raises(SpecError, match=r"import cycle: s.yaml -> fc.yaml -> fc.yaml"):
        builder.validate(spec)
    spec.write_text(spec.read_text().replace("lib/fc.yaml", "https://example.com/fc.yaml"))
    with pytest.raises(SpecError, match="imports are relative file paths only"):
        builder.validate(spec)


def test_defaults_reach_into_blocks_but_not_zero_padding():
    model = build("name: d\ninput: [6, 6, 2]\ndefaults: {activation: swish, padding: same}\nblocks:\n"
                  "  b:\n    layers:\n      - conv2d: {filters: 2, kernel_size: 3}\n"
                  "layers:\n  - b\n  - zero_padding2d: 1\noutput: none\n")
    assert model.get_layer("b_conv2d").activation.__name__ in ("swish", "silu")   # Keras's alias
    assert model.get_layer("b_conv2d").padding == "same"
    assert model.output.shape == (None, 8, 8, 2)


def test_extends_replaces_sections_and_sets_paths(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("name: base\ninput: [8]\nlayers:\n  - dense: {units: 4, name: a}\n  - dense: {units: 4, name: b}\n"
                    "output: {units: 3}\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nname: child\noutput: {units: 5}\nset:\n  layers.1.dense.units: 6\n")
    model = builder.build(child)
    assert model.name == "child"
    assert model.get_layer("b").units == 6
    assert model.output.shape == (None, 5)


def test_extends_errors_point_into_the_right_file(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("name: base\ninput: [8]\nlayers:\n  - dense: {units: 4, use_bias: maybe}\noutput: none\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nname: child\n")
    with pytest.raises(SpecError) as info:
        builder.validate(child)
    assert (os.path.abspath(info.value.file), info.value.line) == (str(base), 4)
    child.write_text("extends: base.yaml\nset:\n  layers.0.dense.unitz: 3\n")
    with pytest.raises(SpecError) as info:
        builder.validate(child)
    assert (info.value.file, info.value.line) == (str(child), 3)
    assert "unknown argument 'unitz' for dense. Did you mean 'units'?" in info.value.message
    child.write_text("extends: base.yaml\nset:\n  layers.5.dense.units: 3\n")
    with pytest.raises(SpecError, match=r"cannot set 'layers.5.dense.units': '5' is not an index of a list of 1"):
        builder.validate(child)


def test_repetitions_are_numbered_or_lettered():
    graph = builder.validate(text="name: n\ninput: [4]\nlayers:\n"
                                  "  - dense: {units: 3, name: d, repeat: 3, numbering: letters}\n"
                                  "  - dense: {units: 3, name: e, numbering: letters}\n"
                                  "  - dense: {units: 3, name: f, repeat: 2}\n  - dense: {units: 3, name: g}\n"
                                  "output: none\n")
    assert [n.name for n in graph.nodes] == ["da", "db", "dc", "ea", "f1", "f2", "g"]   # lettered even when alone


@pytest.mark.parametrize("option, column, message", [
    ("numbering: roman", 32, "layers[0].dense.numbering: expected numbers or letters, or a mapping of style, "
                             "start, always, continue, got 'roman' (a string)"),
    ("numbering: letters, repeat: 27", 32, "layers[0].dense.numbering: letters name at most 26 repetitions; this "
                                           "entry comes to 27"),
    ("numbering: {start: 2}", 44, "layers[0].dense.numbering.start: expected 0 or 1, got 2 (an integer)"),
    ("numbering: {always: yes please}", 44, "layers[0].dense.numbering.always: expected true or false, got 'yes "
                                            "please' (a string)"),
    ("numbering: {begin: 0}", 44, "layers[0].dense.numbering.begin: unknown numbering setting 'begin'. Known: "
                                  "always, continue, start, style."),
])
def test_numbering_mistakes_are_located(option, column, message):
    assert validate_error(f"name: n\ninput: [4]\nlayers:\n  - dense: {{units: 3, name: d, {option}}}\n"
                          "output: none\n") == f"<spec>:4:{column}: error: {message}"


def test_numbering_starts_at_zero_keeps_a_lone_number_and_continues_across_entries():
    """KerasHub's and ConvNeXt's names: `start: 0`; a `repeat` that comes to 1 keeps its number (`always`);
    two entries of one name count on (`continue`); the spec's `defaults` sets it for every entry."""
    graph = builder.validate(text="name: n\ninput: [4]\nparams: {depth: 1}\n"
                        "defaults: {numbering: {start: 0, always: true}}\nlayers:\n"
                        "  - dense: {units: 3, name: stage_0_block_, repeat: $depth}\n"
                        "  - dense: {units: 3, name: layer_, repeat: 2, numbering: {continue: true}}\n"
                        "  - dropout: {rate: 0.1, name: drop}\n"
                        "  - dense: {units: 3, name: layer_, repeat: 2, numbering: {continue: true}}\n"
                        "  - dense: {units: 3, name: head}\n"
                        "  - dense: {units: 3, name: block, repeat: 2, numbering: {start: 1, style: letters}}\n"
                        "output: none\n")
    assert [n.name for n in graph.nodes] == ["stage_0_block_0", "layer_0", "layer_1", "drop", "layer_2", "layer_3",
                                             "head", "blocka", "blockb"]


def test_an_override_under_vary_is_located_at_its_key():
    assert validate_error("name: n\ninput: [4]\nlayers:\n"
                          "  - dense: {units: 3, repeat: 2, vary: {first: {unitz: 2}}}\noutput: none\n") == (
        "<spec>:4:49: error: layers[0].dense.vary.first.unitz: unknown argument 'unitz' for dense. Did you mean "
        "'units'? It takes: activation, activity_regularizer, bias_constraint, bias_initializer, bias_regularizer, "
        "dtype, kernel_constraint, kernel_initializer, kernel_regularizer, lora_alpha, lora_rank, name, "
        "quantization_config, trainable, units, use_bias.")


LENET_EDITED = """extends: lenet5.yaml
name: lenet5_bn
remove: [s4]
insert:
  - after: c1
    layers:
      - batch_normalization: {name: c1_bn}
  - before: f6
    layers:
      - dropout: {rate: 0.5, name: drop}
set:
  layers.c5.kernel_size: 10
  layers.drop.rate: 0.25
"""


def test_extends_inserts_and_removes_entries_by_name(tmp_path):
    from conftest import spec_path
    (tmp_path / "lenet5.yaml").write_text(open(spec_path("lenet5")).read())
    (tmp_path / "child.yaml").write_text(LENET_EDITED)
    graph = builder.validate(str(tmp_path / "child.yaml"))
    nodes = {n.name: n for n in graph.nodes}
    assert list(nodes) == ["c1", "c1_bn", "s2", "c3", "c5", "flatten", "drop", "f6"]
    assert nodes["drop"].args["rate"] == 0.25 and nodes["c5"].args["kernel_size"] == 10     # set: after them
    inserted = nodes["c1_bn"]
    assert (inserted.source.file_of(inserted.path), inserted.source.position(inserted.path)) == \
        (str(tmp_path / "child.yaml"), (7, 9))
    # c5 now sees S2's 10x10 maps through a 10x10 kernel; c1_bn holds 4 values per channel
    assert builder.build(str(tmp_path / "child.yaml")).count_params() == 61_706 - 120 * 16 * 25 + 120 * 16 * 100 + 4 * 6


@pytest.mark.parametrize("edit, line, message", [
    ("remove: [s44]\n", 2, "remove[0]: no entry named 's44' in layers. Did you mean 's4'? The entries are named: "
                           "c1, s2, c3, s4, c5, f6"),
    ("remove: s4\n", 2, "remove: expected a list of entry names, got 's4' (a string)"),
    ("insert:\n  - {after: c1, before: c3, layers: []}\n", 3, "insert[0]: expected {before: NAME, layers: [...]} or "
                                                              "{after: NAME, layers: [...]}"),
    ("insert:\n  - {after: c9, layers: []}\n", 3, "insert[0].after: no entry named 'c9' in layers"),
    ("insert:\n  - {after: c1, layers: {dense: {units: 3}}}\n", 3, "insert[0].layers: expected a list of entries"),
    ("insert:\n  - after: c1\n    layers:\n      - conv2dd: {filters: 3}\n", 5,
     "layers[1].conv2dd: unknown layer type 'conv2dd'. Did you mean 'conv2d'?"),
    ("remove: [c3]\n", 16, "layers[3].conv2d.x: unknown argument 'x'"),    # c5's, in the base file, one entry up
])
def test_insert_and_remove_mistakes_are_located(tmp_path, edit, line, message):
    from conftest import spec_path
    (tmp_path / "lenet5.yaml").write_text(open(spec_path("lenet5")).read().replace("kernel_size: 5, name: c5",
                                                                                  "kernel_size: 5, name: c5, x: 1"))
    (tmp_path / "child.yaml").write_text("extends: lenet5.yaml\n" + edit)
    with pytest.raises(SpecError) as info:
        builder.validate(str(tmp_path / "child.yaml"))
    err = info.value
    assert os.path.basename(err.file) == ("lenet5.yaml" if "remove: [c3]" in edit else "child.yaml")
    assert err.line == line and err.render().split(": error: ", 1)[1].startswith(message), err.render()


def test_insert_and_remove_need_extends():
    assert validate_error("name: x\ninput: [3]\nremove: [a]\nlayers: []\noutput: none\n").endswith(
        "3:1: error: remove: 'remove' changes an extended spec; it needs 'extends: base.yaml' beside it")


def test_resnet101_extends_resnet50_with_the_keras_layer_count():
    from conftest import spec_path
    graph = builder.validate(spec_path("resnet101"))
    names = [node.name for node in graph.nodes]
    assert "conv4_block23_out" in names and "conv4_block24_out" not in names


def test_a_wrapper_takes_the_entry_it_wraps_alone():
    """docs/spec.md's `- time_distributed: {dense: 8}` is `{layer: {dense: 8}}`; a wrong argument says both forms."""
    short = builder.build(text="name: w\ninput: [5, 4]\nlayers:\n  - time_distributed: {dense: 8}\n"
                               "  - bidirectional: {lstm: 3}\noutput: 2\n")
    long = builder.build(text="name: w\ninput: [5, 4]\nlayers:\n  - time_distributed: {layer: {dense: 8}}\n"
                              "  - bidirectional: {layer: {lstm: 3}}\noutput: 2\n")
    assert short.count_params() == long.count_params() == 4 * 8 + 8 + 2 * (4 * 3 * (8 + 3 + 1)) + 6 * 2 + 2
    with pytest.raises(builder.SpecError) as info:
        builder.validate(text="name: w\ninput: [5, 4]\nlayers:\n  - time_distributed: {units: 8}\noutput: 2\n")
    assert info.value.render().endswith(
        "unknown argument 'units' for time_distributed. It takes: dtype, layer, name, trainable. The entry it wraps "
        "goes in `layer:` (`- time_distributed: {layer: {dense: 8}}`), or alone (`- time_distributed: {dense: 8}`).")
