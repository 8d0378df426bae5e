"""Every activation option works as a layer's `activation:`, as the spec-wide
default and as an entry of its own, and the model trains one step."""

import numpy as np
import pytest

import builder
from builder.catalogue import registry

ALL = registry.activation_names() + list(registry.LAYER_ACTIVATIONS)


def tiny(activation_usage):
    spec = {"name": "tiny", "input": [6, 6, 2],
            "layers": [{"conv2d": {"filters": 4, "kernel_size": 3}}, "flatten", {"dense": 8}],
            "output": {"units": 3}}
    return activation_usage(spec)


def as_argument(name):
    def use(spec):
        spec["layers"][0]["conv2d"]["activation"] = name
        return spec
    return use


def as_default(name):
    def use(spec):
        spec["defaults"] = {"activation": name}
        return spec
    return use


def as_entry(name):
    def use(spec):
        spec["layers"].insert(1, name)
        return spec
    return use


def train_one_step(model):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 6, 6, 2)).astype("float32")
    y = rng.integers(0, 3, 8)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("usage", [as_argument, as_default, as_entry])
def test_activation_builds_and_trains(name, usage):
    model = builder.build(data=tiny(usage(name)))
    assert model.output.shape == (None, 3)
    train_one_step(model)


def test_prelu_as_argument_is_a_layer_after_the_conv():
    model = builder.build(data=tiny(as_argument("prelu")))
    conv = model.get_layer("conv2d")
    assert conv.activation.__name__ == "linear"
    assert type(model.get_layer("conv2d_prelu")).__name__ == "PReLU"


def test_maxout_keeps_the_layer_width_with_k_pieces():
    spec = tiny(as_argument({"maxout": 3}))
    model = builder.build(data=spec)
    assert model.get_layer("conv2d").filters == 12             # 4 units x 3 pieces
    assert model.get_layer("conv2d_maxout").output.shape == (None, 4, 4, 4)


def test_maxout_computes_the_max_of_consecutive_pieces():
    spec = {"name": "m", "input": [6], "layers": [{"maxout": 3}], "output": "none"}
    model = builder.build(data=spec)
    x = np.array([[1, 5, 2, -1, -3, -2]], dtype="float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), [[5, -1]])


def test_leaky_relu_with_a_slope():
    spec = {"name": "l", "input": [2], "layers": [{"dense": {"units": 2, "activation": {"leaky_relu": 0.1}}}],
            "output": "none"}
    model = builder.build(data=spec)
    assert model.get_layer("dense_leaky_relu").negative_slope == pytest.approx(0.1)


def test_recommended_swaps_on_lenet5(cli):
    """The field's advice one edit away: each recommended activation builds LeNet-5."""
    import json

    from conftest import spec_path
    for name in ("relu", "leaky_relu", "prelu", "maxout", "swish", "tanh", "elu", "gelu"):
        code, out, err = cli("build", spec_path("lenet5"), "--set", f"defaults.activation={name}", "--json")
        assert code == 0, err
        facts = json.loads(out.splitlines()[-1])
        assert facts["output_shape"] == [None, 10]
