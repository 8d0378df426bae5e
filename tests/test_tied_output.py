"""`output: {tie: NAME}`: the output layer is the named embedding's matrix,
transposed (GPT-2's head) — no weights of its own, saved and reloaded as one."""

import numpy as np
import pytest

import builder

TINY = """name: tiny_lm
inputs:
  token_ids: {shape: [null], dtype: int32}
layers:
  - reversible_embedding: {input_dim: 100, output_dim: 16, name: token_embedding, inputs: token_ids}
  - position_embedding: {sequence_length: 32, name: positions}
  - add: {inputs: [token_embedding, positions]}
  - transformer_encoder: {num_heads: 2, intermediate_dim: 32, normalize_first: true, use_causal_mask: true}
  - layer_normalization: {name: final_norm}
output: {tie: token_embedding}
"""


def test_the_head_is_the_embedding_transposed(tmp_path):
    import keras
    model = builder.build(text=TINY)
    untied = builder.build(text=TINY.replace("output: {tie: token_embedding}", "output: none"))
    assert model.count_params() == untied.count_params()                # no weights of its own
    x = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], "int32")
    probabilities = model.predict(x, verbose=0)
    assert probabilities.shape == (2, 4, 100)
    hidden = keras.Model(model.input, model.get_layer("final_norm").output).predict(x, verbose=0)
    logits = hidden @ np.asarray(model.get_layer("token_embedding").embeddings).T
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    np.testing.assert_allclose(probabilities, expected / expected.sum(-1, keepdims=True), atol=1e-6)
    model.save(tmp_path / "lm.keras")
    again = keras.saving.load_model(tmp_path / "lm.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), probabilities, atol=1e-6)


def test_the_head_counts_its_projection_onto_the_vocabulary():
    """The lookup costs nothing; the reversed call, 16 features x 100 tokens per step, is the head's MACs."""
    steps = 8
    tied = builder.describe(builder.build(text=TINY.replace("shape: [null]", f"shape: [{steps}]")))
    untied = builder.describe(builder.build(text=TINY.replace("shape: [null]", f"shape: [{steps}]").replace(
        "output: {tie: token_embedding}", "output: none")))
    assert tied["macs_by_layer"]["token_embedding"] == steps * 16 * 100
    assert "token_embedding" not in untied["macs_by_layer"]
    assert tied["macs"] == untied["macs"] + steps * 16 * 100


@pytest.mark.parametrize("output, line, message", [
    ("output: {tie: final_norm, pool: none}", 10, "output.tie: 'final_norm' is a layer_normalization layer; a tied "
                                                  "output runs an embedding in reverse: make 'final_norm' a "
                                                  "reversible_embedding"),
    ("output: {tie: token_embeding, pool: none}", 10, "output.tie: unknown reference 'token_embeding'. Did you mean "
                                                      "'token_embedding'?"),
    ("output: {tie: token_embedding, units: 100}", 10, "output.units: a tied output takes its size and weights from "
                                                       "'token_embedding'; leave out units"),
])
def test_tie_mistakes_are_located(output, line, message):
    with pytest.raises(builder.SpecError) as caught:
        builder.validate(text=TINY.replace("output: {tie: token_embedding}", output))
    err = caught.value
    assert err.line == line, err.render()
    assert f"{err.path_text()}: {err.message}".startswith(message), err.render()
