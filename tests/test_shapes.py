"""The shapes `$in_shape` and `$inputs[K].shape` read are worked out from
arguments alone (catalogue/shapes.py, no Keras); wherever they are known they
are the built model's, layer for layer, over the shipped specs (recurrent layers' are not worked out: what follows them is
left unknown, and `$in_shape` there asks for the number)."""

import pytest

import builder
from builder.spec import graph as graph_module
from conftest import spec_path

SPECS = [("lenet5", None), ("alexnet", None), ("googlenet", None), ("mobilenet_v2", None), ("mobilenet_v3", "large"),
         ("efficientnet_v2", "b0"), ("swin", None), ("unet", "small"), ("small_cnn_augmented", None),
         ("resnet", 18), ("inception_v3", None), ("convnext", None), ("bart", "tiny")]


@pytest.mark.parametrize("name, scale", SPECS)
def test_known_shapes_are_the_built_models(name, scale, monkeypatch):
    made = {}
    original = graph_module._Made.add

    def recording(self, node):
        result = original(self, node)
        made[node.name] = (node, self.shapes[node.name])
        return result

    monkeypatch.setattr(graph_module._Made, "add", recording)
    model = builder.build(spec_path(name), scale=scale)
    known = 0
    for node, shape in made.values():
        if shape is None or node.shares is not None:
            continue
        assert tuple(shape) == tuple(model.get_layer(node.name).output.shape), node.name
        known += 1
    assert known >= 0.8 * len(made), f"{known} of {len(made)} known"
