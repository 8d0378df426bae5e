"""Recurrent layers, attention and transformers: defaults, stacking, masks,
states, and BERT computing what keras_hub's BertBackbone computes."""

import numpy as np
import pytest

import builder
from builder import SpecError
from conftest import spec_path


def build(text, **kw):
    return builder.build(text=text, **kw)


@pytest.mark.parametrize("kind, cls", [("simple_rnn", "SimpleRNN"), ("lstm", "LSTM"), ("gru", "GRU")])
def test_recurrent_layers_default_to_tanh_even_under_a_relu_default(kind, cls):
    model = build(f"name: r\ninput: [null, 3]\ndefaults: {{activation: relu}}\nlayers:\n  - {kind}: 4\n"
                  "  - dense: 4\noutput: none\n")
    layer = model.layers[1]
    assert type(layer).__name__ == cls
    assert layer.activation.__name__ == "tanh"
    assert model.layers[2].activation.__name__ == "relu"


def test_shipped_sequence_specs():
    for name in ("lstm_text", "gru_timeseries", "bert_tiny", "stacked_lstm"):
        model = builder.build(spec_path(name))
        for layer in model.layers:
            inner = getattr(layer, "forward_layer", layer)
            if type(inner).__name__ in ("LSTM", "GRU", "SimpleRNN"):
                assert inner.activation.__name__ == "tanh", (name, layer.name)
    lstm_text = builder.build(spec_path("lstm_text"))
    assert lstm_text.layers[-1].activation.__name__ == "softmax"
    assert type(lstm_text.get_layer("bidirectional")).__name__ == "Bidirectional"


def test_stacked_recurrent_layers_return_sequences_for_the_next():
    model = builder.build(spec_path("stacked_lstm"))
    lstms = [l for l in model.layers if type(l).__name__ == "LSTM"]
    assert [l.return_sequences for l in lstms] == [True, True, False]
    assert [l.name for l in lstms] == ["lstm1", "lstm2", "lstm3"]


def test_explicit_last_step_only_feeding_an_rnn_is_a_spec_error():
    with pytest.raises(SpecError) as info:
        builder.validate(text="name: s\ninput: [null, 3]\nlayers:\n  - lstm: {units: 4, return_sequences: false}\n"
                              "  - gru: 4\noutput: none\n")
    assert info.value.render() == (
        "<spec>:4:5: error: layers[0].lstm: 'lstm' returns only its last step (return_sequences: false), "
        "but 'gru' (gru) needs the whole sequence; set return_sequences: true, or leave it out and it is "
        "set for you")


def test_masks_propagate_from_the_embedding():
    model = builder.build(spec_path("lstm_text"))
    padded = model.predict(np.array([[5, 17, 3, 0, 0, 0]]), verbose=0)
    unpadded = model.predict(np.array([[5, 17, 3]]), verbose=0)
    np.testing.assert_allclose(padded, unpadded, atol=1e-6)


def test_states_and_initial_state_for_an_encoder_decoder():
    model = build("name: s2s\ninputs:\n  source: [null, 3]\n  target: [null, 3]\nlayers:\n"
                  "  - lstm: {units: 8, return_state: true, name: encoder, inputs: source}\n"
                  "  - lstm: {units: 8, return_sequences: true, name: decoder, inputs: [target, encoder.1, encoder.2]}\n"
                  "output: {units: 5, pool: none}\n")
    assert model.output.shape == (None, None, 5)
    x = np.random.default_rng(0).standard_normal((2, 4, 3)).astype("float32")
    assert model.predict([x, x], verbose=0).shape == (2, 4, 5)


def test_attention_layers():
    model = build("name: a\ninput: [6, 8]\nlayers:\n"
                  "  - multi_head_attention: {num_heads: 2, key_dim: 4, use_causal_mask: true, name: self}\n"
                  "  - attention: {inputs: [self, input], name: luong}\n"
                  "  - additive_attention: {inputs: [luong, input, self], name: bahdanau}\n"
                  "  - multi_head_attention: {num_heads: 2, key_dim: 4, inputs: {query: bahdanau, value: input},"
                  " name: cross}\n"
                  "  - global_average_pooling1d\noutput: {units: 3}\n")
    assert model.get_layer("self").output.shape == (None, 6, 8)
    x = np.random.default_rng(0).standard_normal((2, 6, 8)).astype("float32")
    out = model.predict(x, verbose=0)
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)


def test_causal_self_attention_ignores_the_future():
    model = build("name: c\ninput: [5, 4]\nlayers:\n"
                  "  - multi_head_attention: {num_heads: 1, key_dim: 4, use_causal_mask: true}\noutput: none\n")
    x = np.random.default_rng(0).standard_normal((1, 5, 4)).astype("float32")
    changed = x.copy()
    changed[0, 4] += 1.0
    a, b = model.predict(x, verbose=0), model.predict(changed, verbose=0)
    np.testing.assert_allclose(a[0, :4], b[0, :4], atol=1e-6)
    assert not np.allclose(a[0, 4], b[0, 4])


@pytest.mark.parametrize("normalize_first", [False, True])
def test_a_causal_transformer_encoder_ignores_the_future(tmp_path, normalize_first):
    """`transformer_encoder: {use_causal_mask: true}`: changing later tokens
    leaves earlier outputs as they were (a GPT block); without it they move.
    The setting survives a save and a reload."""
    import keras
    text = ("name: c\ninput: [6, 8]\nlayers:\n  - transformer_encoder: {num_heads: 2, intermediate_dim: 16, "
            f"use_causal_mask: CAUSAL, normalize_first: {str(normalize_first).lower()}}}\n"
            "  - transformer_encoder: {num_heads: 2, intermediate_dim: 16, use_causal_mask: CAUSAL}\noutput: none\n")
    x = np.random.default_rng(0).standard_normal((1, 6, 8)).astype("float32")
    changed = x.copy()
    changed[0, 4:] += 1.0
    causal = build(text.replace("CAUSAL", "true"))
    a, b = causal.predict(x, verbose=0), causal.predict(changed, verbose=0)
    np.testing.assert_allclose(a[0, :4], b[0, :4], atol=1e-5)
    assert not np.allclose(a[0, 4:], b[0, 4:], atol=1e-3)
    plain = build(text.replace("CAUSAL", "false"))
    assert not np.allclose(plain.predict(x, verbose=0)[0, :4], plain.predict(changed, verbose=0)[0, :4], atol=1e-3)
    causal.save(tmp_path / "c.keras")
    again = keras.saving.load_model(tmp_path / "c.keras", safe_mode=True)
    np.testing.assert_allclose(again.predict(changed, verbose=0), b, atol=1e-6)


def test_a_learned_class_token_goes_first():
    """`class_token`: one learned vector before the first step (ViT, BERT's
    [CLS]), read out with `select_step: 0`; its only weights are that vector."""
    import keras
    model = build("name: v\ninput: [4, 6]\nlayers:\n  - class_token: {initializer: ones, name: cls}\noutput: none\n")
    assert model.count_params() == 6 and model.outputs[0].shape[1:] == (5, 6)
    x = np.random.default_rng(0).standard_normal((3, 4, 6)).astype("float32")
    out = model.predict(x, verbose=0)
    np.testing.assert_array_equal(out[:, 0], np.ones((3, 6)))
    np.testing.assert_array_equal(out[:, 1:], x)
    token = model.get_layer("cls").token
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((3, 5, 6)), epochs=1, verbose=0)
    assert not np.allclose(keras.ops.convert_to_numpy(token), 1.0)            # it learns


def test_unknown_call_input_is_reported():
    with pytest.raises(SpecError, match="unknown call input 'querry' for multi_head_attention. "
                                        "Did you mean 'query'?"):
        builder.validate(text="name: a\ninput: [6, 8]\nlayers:\n  - multi_head_attention: {num_heads: 2, "
                              "key_dim: 4, inputs: {querry: input, value: input}}\noutput: none\n")


def test_position_encodings_and_sequence_pooling():
    model = build("name: p\ninput: {shape: [null], dtype: int32}\nlayers:\n"
                  "  - token_and_position_embedding: {vocabulary_size: 50, sequence_length: 16, embedding_dim: 8, "
                  "name: tokens}\n"
                  "  - sine_position_encoding: {name: sines}\n  - add: {inputs: [tokens, sines]}\n"
                  "  - transformer_encoder: {num_heads: 2, intermediate_dim: 16, normalize_first: true}\n"
                  "  - select_step: -1\noutput: {units: 3}\n")
    ids = np.array([[1, 2, 3, 4, 5]])
    assert model.predict(ids, verbose=0).shape == (1, 3)
    sines = builder.build(text="name: s\ninput: [4, 6]\nlayers: [sine_position_encoding]\noutput: none\n")
    encoding = sines.predict(np.zeros((1, 4, 6), "float32"), verbose=0)[0]
    np.testing.assert_allclose(encoding[:, 0], np.sin(np.arange(4)), atol=1e-6)
    np.testing.assert_allclose(encoding[:, 1], np.cos(np.arange(4)), atol=1e-6)


def test_bert_base_has_keras_hub_parameter_count(cli):
    import json
    code, out, err = cli("build", spec_path("bert_base"), "--set", "output=none", "--json")
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["params"] == 109_482_240


def bert_inputs(batch=3, length=12, seed=0):
    rng = np.random.default_rng(seed)
    lengths = [length, length - 4, 5][:batch]
    mask = np.array([[1] * n + [0] * (length - n) for n in lengths], dtype="int32")
    return {"token_ids": rng.integers(1, 30522, (batch, length)).astype("int32") * mask,
            "segment_ids": (np.arange(length)[None, :] >= length // 2).astype("int32").repeat(batch, 0) * mask,
            "padding_mask": mask}


def test_bert_tiny_computes_what_keras_hub_bert_backbone_computes():
    import keras
    import keras_hub  # the `hub` extra (in `test`)
    from weights import copy_weights
    reference = keras_hub.models.BertBackbone(vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=128,
                                              intermediate_dim=512, max_sequence_length=512, num_segments=2)
    built = builder.build(spec_path("bert_tiny"), overrides={"output": "none"})
    assert built.count_params() == reference.count_params()
    rng = np.random.default_rng(1)
    for layer in reference.layers:      # random weights, beyond the initializers' small values
        if layer.weights:
            layer.set_weights([rng.normal(0, 0.2, w.shape).astype("float32") for w in layer.get_weights()])
    copy_weights(reference, built)          # the token embedding is a ReversibleEmbedding, as keras_hub's
    inputs = bert_inputs()
    expected = reference.predict(inputs, verbose=0)
    pooled = built.predict(inputs, verbose=0)
    np.testing.assert_allclose(pooled, expected["pooled_output"], atol=1e-5, rtol=0)
    sequence = keras.Model(built.inputs, built.get_layer("transformer_layer_2").output)
    np.testing.assert_allclose(sequence.predict(inputs, verbose=0), expected["sequence_output"], atol=1e-5, rtol=0)
    assert np.abs(expected["pooled_output"]).mean() > 0.1        # a real signal, not all zeros
