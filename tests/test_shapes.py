"""The shapes `$in_shape` and `$inputs[K].shape` read are worked out from
arguments alone (catalogue/shapes.py, no Keras); wherever they are known they
are the built model's, layer for layer, over the shipped specs (after a backbone they are not known: `$in_shape` there asks
for the number)."""

import pytest

import builder
from builder.catalogue import registry, shapes
from builder.spec import graph as graph_module
from conftest import spec_path

SPECS = [("lenet5", None), ("alexnet", None), ("googlenet", None), ("mobilenet_v2", None), ("mobilenet_v3", "large"),
         ("efficientnet_v2", "b0"), ("swin", None), ("unet", "small"), ("small_cnn_augmented", None),
         ("resnet", 18), ("inception_v3", None), ("convnext", None), ("bart", "tiny"), ("lstm_text", None),
         ("stacked_lstm", None), ("bilstm_tagger", None), ("gru_timeseries", None)]


CONVOLUTIONAL = {name for name, _ in SPECS[:13]}


def made_shapes(monkeypatch) -> dict:
    """Node name -> (node, the shape worked out before building), recorded as specs expand."""
    made = {}
    original = graph_module._Made.add

    def recording(self, node):
        result = original(self, node)
        made[node.name] = (node, self.shapes[node.name])
        return result

    monkeypatch.setattr(graph_module._Made, "add", recording)
    return made


@pytest.mark.parametrize("name, scale", SPECS)
def test_known_shapes_are_the_built_models(name, scale, monkeypatch):
    made = made_shapes(monkeypatch)
    model = builder.build(spec_path(name), scale=scale)
    known = 0
    for node, shape in made.values():
        if shape is None or node.shares is not None:
            continue
        assert tuple(shape) == tuple(model.get_layer(node.name).output.shape), node.name
        known += 1
    if name in CONVOLUTIONAL:      # recurrent layers' shapes are known where return_sequences is written
        assert known >= 0.8 * len(made), f"{known} of {len(made)} known"


RECURRENT = """name: s
input: [12, 5]
layers:
  - lstm: {units: 8, return_sequences: true, name: a}
  - bidirectional: {layer: {gru: {units: 6, return_sequences: true}}, name: b}
  - dense: {units: "$in_shape[1] * $in_shape[2]", name: d}
  - lstm: {units: 4, name: c}
output: none
"""


def test_recurrent_shapes_are_known_where_return_sequences_is_written():
    made = {node.name: node for node in builder.validate(text=RECURRENT).nodes}
    assert made["d"].args["units"] == 12 * 12                      # 12 steps, 2 x 6 features
    with pytest.raises(builder.SpecError, match=r"the shape of 'c' \(an lstm layer\) is not known"):
        builder.validate(text=RECURRENT.replace("output: none", '  - dense: {units: "$in_shape[1]"}\noutput: none'))


@pytest.mark.parametrize("name", sorted(n for n, t in registry.LAYERS.items() if t.shape is not None or t.vocabulary
                                        or t.kind in ("merge", "activation", "recurrent")))
def test_every_layer_types_shape_worked_out_before_building_is_the_built_layers(name, monkeypatch):
    """Over the registry: each type's shape formula (or its kind's) on the type's minimal example gives
    the built layer's output shape, or says it does not know (None)."""
    from test_registry import minimal_example
    layer_type = registry.LAYERS[name]
    made = made_shapes(monkeypatch)
    model = builder.build(data=minimal_example(layer_type))
    node, shape = made[name]
    if shape is None:
        assert layer_type.shape is shapes.not_known or layer_type.kind == "recurrent" or name == "bidirectional"
    else:
        assert tuple(shape) == tuple(model.get_layer(name).output.shape)
