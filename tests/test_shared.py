"""`- share:` calls an earlier layer, or every layer of a named block instance,
again on new inputs with the same weights: counted once in parameters, once
per call in multiply-accumulates, saved and reloaded in safe mode."""

import numpy as np
import pytest

import builder
from builder import SpecError

SIAMESE = """name: siamese
inputs:
  left: {shape: [12, 12, 1]}
  right: {shape: [12, 12, 1]}
blocks:
  branch:
    layers:
      - conv2d: {filters: 8, kernel_size: 3, activation: relu, name: conv}
      - global_average_pooling2d: {name: pool}
      - dense: {units: 16, name: embed}
layers:
  - branch: {name: left_branch, inputs: left}
  - share: {layer: left_branch, inputs: right, name: right_branch}
  - subtract: {inputs: [left_branch, right_branch]}
output: {units: 1, activation: sigmoid}
"""


def hand_written_siamese():
    import keras

    left, right = keras.Input((12, 12, 1)), keras.Input((12, 12, 1))
    branch = [keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
              keras.layers.Dense(16)]

    def run(x):
        for layer in branch:
            x = layer(x)
        return x

    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.Subtract()([run(left), run(right)]))
    return keras.Model([left, right], out)


def test_a_siamese_spec_has_the_parameters_of_one_branch_and_the_macs_of_two_calls():
    from builder.keras.describe import facts

    model = builder.build(text=SIAMESE)
    reference = hand_written_siamese()
    assert model.count_params() == reference.count_params() == 80 + 16 * 8 + 16 + 17
    found = facts(model)
    assert found["macs_by_layer"]["left_branch_conv"] == 2 * 10 * 10 * 8 * 9
    assert found["macs_by_layer"]["left_branch_embed"] == 2 * 8 * 16
    x = np.random.default_rng(0).uniform(size=(3, 12, 12, 1)).astype("float32")
    same = model.predict([x, x], verbose=0)
    np.testing.assert_allclose(same, 0.5, atol=1e-6)       # one branch, one set of weights: the difference is 0
    for layer, theirs in zip([l for l in model.layers if l.weights], [l for l in reference.layers if l.weights]):
        theirs.set_weights(layer.get_weights())
    y = x[::-1].copy()
    np.testing.assert_allclose(model.predict([x, y], verbose=0), reference.predict([x, y], verbose=0), atol=1e-6)


def test_a_shared_model_saves_and_reloads_in_safe_mode(tmp_path):
    import keras

    model = builder.build(text=SIAMESE)
    path = tmp_path / "siamese.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.count_params() == model.count_params()
    x = np.random.default_rng(1).uniform(size=(2, 12, 12, 1)).astype("float32")
    y = np.random.default_rng(2).uniform(size=(2, 12, 12, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict([x, y], verbose=0), model.predict([x, y], verbose=0), atol=1e-6)


def test_one_embedding_for_two_sequences_of_any_lengths():
    """BART's encoder and decoder read their tokens through one embedding table."""
    spec = """name: shared_embedding
inputs:
  source: {shape: [null], dtype: int32}
  target: {shape: [null], dtype: int32}
layers:
  - embedding: {input_dim: 100, output_dim: 8, name: tokens, inputs: source}
  - share: {layer: tokens, inputs: target, name: target_tokens}
  - global_average_pooling1d: {inputs: target_tokens, name: pooled}
output: none
"""
    model = builder.build(text=spec)
    assert model.count_params() == 800
    source = np.array([[1, 2, 3, 4, 5]])
    target = np.array([[3, 3]])
    table = model.get_layer("tokens").get_weights()[0]
    np.testing.assert_allclose(model.predict([source, target], verbose=0), table[[3]], atol=1e-6)


def test_a_layer_called_again_and_again_is_albert():
    """ALBERT's one transformer layer applied twelve times: `repeat` on a share chains its calls."""
    spec = """name: albert_like
input: {shape: [6, 16]}
layers:
  - transformer_encoder: {num_heads: 2, intermediate_dim: 32, name: layer}
  - share: {layer: layer, repeat: 3, name: again}
output: none
"""
    model = builder.build(text=spec)
    one = builder.build(text=spec.replace("  - share: {layer: layer, repeat: 3, name: again}\n", ""))
    assert model.count_params() == one.count_params()
    x = np.random.default_rng(0).standard_normal((2, 6, 16)).astype("float32")
    layer = model.get_layer("layer")
    expected = x
    for _ in range(4):
        expected = layer(expected)
    np.testing.assert_allclose(model.predict(x, verbose=0), np.asarray(expected), atol=1e-5)


@pytest.mark.parametrize("entry, message", [
    ("- share: {layer: left, inputs: right}",
     "layers[1].share.layer: 'left' is an input; share calls a layer (or a block instance) again"),
    ("- share: {layer: left_brnch, inputs: right}",
     "layers[1].share.layer: unknown reference 'left_brnch'. Did you mean 'left_branch'?"),
    ("- share: {layer: left_branch, inputs: [left, right]}",
     "layers[1].share.inputs: 'left_branch' took 1 input(s); this call gives 2"),
    ("- share: {layer: left_branch, inputs: right, units: 3}",
     "layers[1].share.units: share takes layer, name, inputs, repeat and when; got units"),
    ("- share: {layer: [left_branch], inputs: right}",
     "layers[1].share.layer: expected the name of an entry above to call again, got ['left_branch'] (a list)"),
])
def test_share_mistakes_are_located(entry, message):
    text = SIAMESE.replace("- share: {layer: left_branch, inputs: right, name: right_branch}", entry)
    text = text.replace("  - subtract: {inputs: [left_branch, right_branch]}\n", "")
    with pytest.raises(SpecError) as caught:
        builder.validate(text=text)
    assert f"{caught.value.path_text()}: {caught.value.message}".startswith(message), caught.value.render()
    assert caught.value.line == 13


def test_a_block_cannot_be_called_share():
    with pytest.raises(SpecError, match="block name 'share' is already a layer type"):
        builder.validate(text="name: x\ninput: [4]\nblocks:\n  share:\n    layers: [dense: 2]\nlayers: [dense: 2]\n"
                              "output: none\n")


def test_the_diagram_draws_each_call_once_and_counts_the_weights_at_the_first(tmp_path):
    from builder.view import diagram

    spec = tmp_path / "siamese.yaml"
    spec.write_text(SIAMESE)
    view = diagram.diagram(str(spec))
    by_id = {node["id"]: node for node in view["nodes"]}
    assert by_id["right_branch_conv"]["type"] == "share of left_branch_conv"
    assert by_id["right_branch_conv"]["params"] == 0 and by_id["left_branch_conv"]["params"] == 80
    assert by_id["right_branch_conv"]["inputs"] == ["right"]
