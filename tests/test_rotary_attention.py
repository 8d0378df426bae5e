"""Rotary positions inside the attention layers themselves: `rotary:` on
grouped_query_attention is KerasHub's LlamaAttention (weights copied); on
multi_head_attention, with angles that come to nothing, it is Keras's own
layer; the opened layer saves and reloads; arguments it cannot honour are refused."""

import numpy as np
import pytest

import builder
from builder import SpecError

ROTARY_GQA = """name: r
input: [7, 64]
layers:
  - grouped_query_attention: {head_dim: 16, num_query_heads: 4, num_key_value_heads: 2, use_bias: false,
                              rotary: {max_wavelength: 10000}, use_causal_mask: true, name: attention}
output: none
"""


def test_grouped_query_attention_with_rotary_positions_is_llama_attention():
    import keras
    from keras_hub.src.models.llama.llama_attention import LlamaAttention

    model = builder.build(text=ROTARY_GQA)
    layer = model.get_layer("attention")
    reference = LlamaAttention(num_query_heads=4, num_key_value_heads=2)
    x = np.random.default_rng(0).standard_normal((2, 7, 64)).astype("float32")
    reference(x)
    rng = np.random.default_rng(1)
    for ours, theirs in zip(layer.weights, reference.weights):        # query, key, value, output kernels
        assert tuple(ours.shape) == tuple(theirs.shape)
        value = rng.normal(0, 0.2, ours.shape).astype("float32")
        ours.assign(value)
        theirs.assign(value)
    causal = np.tril(np.ones((7, 7), "bool"))[None].repeat(2, axis=0)
    expected = keras.ops.convert_to_numpy(reference(x, attention_mask=causal))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5, rtol=0)
    later = x.copy()
    later[:, 4:] = 0.0                                                   # causal: earlier steps stay
    np.testing.assert_allclose(model.predict(later, verbose=0)[:, :4], expected[:, :4], atol=1e-5, rtol=0)


def test_multi_head_attention_with_rotary_angles_of_nothing_is_keras_multi_head_attention(tmp_path):
    import keras

    spec = ("name: m\ninput: [5, 12]\nlayers:\n  - multi_head_attention: {num_heads: 3, key_dim: 4, name: a, "
            "kernel_initializer: {random_normal: {stddev: 0.5}}, rotary: {scaling_factor: 1.0e+12}}\noutput: none\n")
    model = builder.build(text=spec)
    plain = builder.build(text=spec.replace(", rotary: {scaling_factor: 1.0e+12}", ""))
    assert model.count_params() == plain.count_params() == 4 * (12 * 12 + 12)
    for ours, theirs in zip(model.get_layer("a").weights, plain.get_layer("a").weights):
        assert tuple(ours.shape) == tuple(theirs.shape)                   # Keras's weight layout
        theirs.assign(ours)
    x = np.random.default_rng(2).standard_normal((2, 5, 12)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), plain.predict(x, verbose=0), atol=1e-5, rtol=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    rotated = builder.build(text=spec.replace("scaling_factor: 1.0e+12", "max_wavelength: 100"))
    for ours, theirs in zip(rotated.get_layer("a").weights, plain.get_layer("a").weights):
        ours.assign(theirs)
    assert np.abs(rotated.predict(x, verbose=0) - plain.predict(x, verbose=0)).max() > 1e-3   # positions matter


def test_arguments_rotary_attention_cannot_honour_are_refused():
    with pytest.raises(SpecError) as caught:
        builder.validate(text="name: m\ninput: [5, 12]\nlayers:\n  - multi_head_attention: {num_heads: 3, key_dim: 4, "
                              "value_dim: 8, rotary: {}}\noutput: none\n")
    assert caught.value.render() == (
        "<spec>:4:54: error: layers[0].multi_head_attention.value_dim: with rotary positions this attention takes "
        "num_heads, key_dim, use_bias, dropout, kernel_initializer, bias_initializer; leave out value_dim")


BIASED = """name: b
inputs:
  x: {shape: [5, 8]}
  bias: {shape: [5, 5]}
layers:
  - heads_attention: {num_heads: 2, head_dim: 4, name: a, inputs: {query: x, attention_bias: bias}}
output: none
"""


def test_an_additive_bias_input_is_added_to_every_heads_scores():
    """A bias of nothing changes nothing; a bias of -1e9 on some keys is a mask of those keys."""
    import keras

    model = builder.build(text=BIASED)
    layer = model.get_layer("a")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 8)).astype("float32")
    plain = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(model.predict({"x": x, "bias": np.zeros((2, 5, 5), "float32")}, verbose=0), plain,
                               atol=1e-6)
    hidden = np.zeros((2, 5, 5), "float32")
    hidden[:, :, 3:] = -1e9                                               # keys 3 and 4 out of sight
    mask = np.ones((2, 5, 5), "bool")
    mask[:, :, 3:] = False
    masked = keras.ops.convert_to_numpy(layer(x, attention_mask=mask))
    np.testing.assert_allclose(model.predict({"x": x, "bias": hidden}, verbose=0), masked, atol=1e-5)
    assert np.abs(masked - plain).max() > 1e-3


def test_a_bias_input_is_not_counted_as_the_value():
    """MACs: 5 positions x 8 features, 2 heads of 4: projections 4 x 5*8*8, scores and sum 2 x 2*5*5*4."""
    model = builder.build(text=BIASED)
    assert builder.describe(model)["macs"] == 4 * 5 * 8 * 8 + 2 * 2 * 5 * 5 * 4


@pytest.mark.parametrize("bidirectional", [True, False])
def test_relative_position_bias_is_t5s(bidirectional):
    """The bucketed table of KerasHub's T5 attention, for an encoder (both ways) and a decoder (keys
    before the query), over 160 positions: past max_distance (128) every distance shares a bucket."""
    from keras import ops
    from keras_hub.src.models.t5.t5_multi_head_attention import T5MultiHeadAttention

    spec = ("name: t\ninput: [160, 8]\nlayers:\n  - relative_position_bias: {num_heads: 2, name: bias, "
            f"bidirectional: {str(bidirectional).lower()}}}\noutput: none\n")
    model = builder.build(text=spec)
    reference = T5MultiHeadAttention(is_decoder=not bidirectional, hidden_dim=8, key_value_dim=4, num_heads=2,
                                     dropout=0.0, use_relative_attention_bias=True)
    reference.build((None, 160, 8))
    table = np.random.default_rng(4).standard_normal((32, 2)).astype("float32")
    reference.relative_attention_bias.assign(table)
    model.get_layer("bias").set_weights([table])
    x = np.zeros((1, 160, 8), "float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), ops.convert_to_numpy(reference.compute_bias(160, 160)))


def test_a_t5_bias_feeds_attention_as_its_additive_bias():
    spec = """name: t5ish
input: [6, 16]
layers:
  - relative_position_bias: {num_heads: 2, name: bias}
  - heads_attention: {num_heads: 2, head_dim: 8, use_bias: false, name: attention,
                      inputs: {query: input, attention_bias: bias}}
output: none
"""
    model = builder.build(text=spec)
    assert model.count_params() == 32 * 2 + 4 * 16 * 16
    x = np.random.default_rng(5).standard_normal((3, 6, 16)).astype("float32")
    assert model.predict(x, verbose=0).shape == (3, 6, 16)
