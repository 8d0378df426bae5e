"""transformer_decoder (self-attention, cross-attention to an encoder's
sequence, feed-forward) and rotary_embedding: the functions of keras_hub's
TransformerDecoder and RotaryEmbedding, causal, and saved and reloaded."""

import numpy as np
import pytest

import builder

SEQ2SEQ = """name: seq2seq
inputs:
  source: {shape: [7], dtype: int32}
  source_mask: {shape: [7], dtype: int32}
  target: {shape: [5], dtype: int32}
  target_mask: {shape: [5], dtype: int32}
layers:
  - embedding: {input_dim: 50, output_dim: 16, name: source_embedding, inputs: source}
  - rotary_embedding: {name: source_rotary}
  - transformer_encoder: {num_heads: 2, intermediate_dim: 32, name: encoder, inputs: [source_rotary, source_mask]}
  - embedding: {input_dim: 60, output_dim: 16, name: target_embedding, inputs: target}
  - transformer_decoder: {num_heads: 2, intermediate_dim: 32, normalize_first: NORM, name: decoder_, repeat: 2,
                          inputs: {decoder_sequence: target_embedding, encoder_sequence: encoder,
                                   decoder_padding_mask: target_mask, encoder_padding_mask: source_mask}}
output: {units: 60, pool: none}
"""


def seq2seq_inputs():
    rng = np.random.default_rng(0)
    source_mask = np.ones((2, 7), "int32")
    source_mask[1, 5:] = 0
    target_mask = np.ones((2, 5), "int32")
    target_mask[1, 4:] = 0
    return {"source": rng.integers(1, 50, (2, 7)).astype("int32") * source_mask, "source_mask": source_mask,
            "target": rng.integers(1, 60, (2, 5)).astype("int32") * target_mask, "target_mask": target_mask}


@pytest.mark.parametrize("normalize_first", [False, True])
def test_decoder_computes_what_keras_hub_transformer_decoder_computes(normalize_first):
    import keras
    import keras_hub  # the `hub` extra (in `test`)
    hidden = keras.Input((5, 16))
    memory = keras.Input((7, 12))
    decoder_mask, encoder_mask = keras.Input((5,), dtype="int32"), keras.Input((7,), dtype="int32")
    options = dict(intermediate_dim=32, num_heads=2, normalize_first=normalize_first, activation="gelu")
    hub = keras_hub.layers.TransformerDecoder(**options)
    ours = builder.build(data={"name": "d", "inputs": {n: {"shape": list(t.shape[1:]), "dtype": t.dtype} for n, t in (
        ("x", hidden), ("memory", memory), ("x_mask", decoder_mask), ("memory_mask", encoder_mask))},
        "layers": [{"transformer_decoder": {**options, "name": "decoder", "inputs": {
            "decoder_sequence": "x", "encoder_sequence": "memory", "decoder_padding_mask": "x_mask",
            "encoder_padding_mask": "memory_mask"}}}], "output": None})
    reference = keras.Model([hidden, memory, decoder_mask, encoder_mask],
                            hub(hidden, memory, decoder_padding_mask=decoder_mask, encoder_padding_mask=encoder_mask))
    layer = ours.get_layer("decoder")
    assert [w.shape for w in layer.weights] == [w.shape for w in hub.weights]
    rng = np.random.default_rng(1)
    for ours_weight, hub_weight in zip(layer.weights, hub.weights):       # paired in keras_hub's order
        value = rng.normal(0, 0.3, hub_weight.shape).astype("float32")
        ours_weight.assign(value)
        hub_weight.assign(value)
    inputs = seq2seq_inputs()
    x = rng.standard_normal((2, 5, 16)).astype("float32")
    m = rng.standard_normal((2, 7, 12)).astype("float32")
    expected = reference.predict([x, m, inputs["target_mask"], inputs["source_mask"]], verbose=0)
    got = ours.predict({"x": x, "memory": m, "x_mask": inputs["target_mask"], "memory_mask": inputs["source_mask"]},
                       verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_decoder_is_causal_and_reads_the_whole_source(tmp_path):
    import keras
    model = builder.build(text=SEQ2SEQ.replace("NORM", "true"))
    inputs = seq2seq_inputs()
    later = {**inputs, "target": inputs["target"].copy()}
    later["target"][0, 3:] = (later["target"][0, 3:] + 5) % 60
    source = {**inputs, "source": inputs["source"].copy()}
    source["source"][0, 6] = (source["source"][0, 6] + 5) % 50
    out = model.predict(inputs, verbose=0)
    np.testing.assert_allclose(model.predict(later, verbose=0)[0, :3], out[0, :3], atol=1e-6)     # the past stays
    assert not np.allclose(model.predict(source, verbose=0)[0, 0], out[0, 0], atol=1e-4)         # the source reaches
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(again.predict(inputs, verbose=0), out, atol=1e-6)


def test_decoder_counts_its_cross_attention():
    model = builder.build(text=SEQ2SEQ.replace("NORM", "false"))
    # per decoder: the encoder layer's 2,224 weights, plus cross-attention (4 projections of 16x16 and
    # their biases) and its layer norm
    assert model.get_layer("decoder_1").count_params() == 2_224 + 4 * (16 * 16 + 16) + 2 * 16
    facts = builder.describe(model)
    steps, memory, hidden, intermediate = 5, 7, 16, 32
    own = 4 * steps * hidden * hidden + 2 * steps * steps * hidden + 2 * steps * hidden * intermediate
    cross = 2 * steps * hidden * hidden + 2 * memory * hidden * hidden + 2 * steps * memory * hidden
    assert facts["macs_by_layer"]["decoder_1"] == own + cross


def test_without_an_encoder_sequence_it_is_a_gpt_block():
    model = builder.build(text="name: g\ninput: [6, 8]\nlayers:\n"
                               "  - transformer_decoder: {num_heads: 2, intermediate_dim: 16}\noutput: none\n")
    assert model.count_params() == builder.build(
        text="name: e\ninput: [6, 8]\nlayers:\n  - transformer_encoder: {num_heads: 2, intermediate_dim: 16}\n"
             "output: none\n").count_params()
    x = np.random.default_rng(0).standard_normal((1, 6, 8)).astype("float32")
    changed = x.copy()
    changed[0, 4:] += 1.0
    np.testing.assert_allclose(model.predict(x, verbose=0)[0, :4], model.predict(changed, verbose=0)[0, :4],
                               atol=1e-5)


@pytest.mark.parametrize("shape, args", [((2, 6, 8), {}), ((2, 6, 3, 4), {"max_wavelength": 100}),
                                         ((2, 5, 8), {"scaling_factor": 4.0})])
def test_rotary_embedding_is_keras_hubs(shape, args):
    import keras_hub
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    ours = builder.build(data={"name": "r", "input": list(shape[1:]),
                               "layers": [{"rotary_embedding": dict(args)}], "output": None})
    expected = keras_hub.layers.RotaryEmbedding(**args)(x)
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(expected), atol=1e-5, rtol=0)
    # dot products between rotated vectors depend only on the distance of their positions
    y = ours.predict(np.ones((1, 6, 8), "float32"), verbose=0)[0] if shape == (2, 6, 8) else None
    if y is not None:
        assert np.isclose(y[0] @ y[2], y[3] @ y[5], atol=1e-4) and not np.isclose(y[0] @ y[2], y[0] @ y[3])


def test_rotary_embedding_needs_pairs_of_features():
    with pytest.raises(builder.SpecError, match="rotates pairs of features; the input has 5, an odd number"):
        builder.build(text="name: r\ninput: [4, 5]\nlayers:\n  - rotary_embedding\noutput: none\n")
