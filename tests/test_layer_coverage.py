"""Every layer Keras ships is a spec type or excluded with a reason; each
registered type trains, saves and reloads; layers that learn from data are
adapted as Keras adapts them; augmentation acts in training only."""

import inspect

import numpy as np
import pytest
from test_registry import hub_example, hub_preset, minimal_example  # noqa: F401 - the fixture is used by name

import builder
from builder.catalogue import registry
from builder.spec import argtypes


def keras_layer_classes() -> dict:
    import keras
    return {name: cls for name, cls in vars(keras.layers).items()
            if inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)}


def test_every_public_keras_layer_is_registered_or_excluded_with_a_reason():
    classes = keras_layer_classes()
    registered = {t.keras_class() for t in registry.LAYERS.values() if t.module == "keras.layers"}
    excluded = {classes[name] for name in registry.EXCLUDED}
    missing = sorted({cls.__name__ for cls in set(classes.values()) - registered - excluded})
    assert not missing, f"register these keras.layers classes or exclude them with a reason: {missing}"
    assert not registered & excluded
    assert len(registered & set(classes.values())) >= 125
    assert all(len(why) > 20 for why in registry.EXCLUDED.values())


def test_layers_lists_the_excluded_classes_with_their_reasons(cli):
    code, out, _ = cli("layers", "--excluded")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "keras.layers classes a spec does not name, and why:"
    assert len(lines) == 1 + len(registry.EXCLUDED)
    assert any(line.split()[0] == "Lambda" and "specs are data" in line for line in lines[1:])
    code, out, _ = cli("layers")
    assert "grouped_query_attention" in out and "conv_lstm2d" in out and "hub_transformer_decoder" in out


def feed(model, batch=2, seed=0, ids=False):
    """Random inputs the model accepts: ids 0 or 1 (token ids, segment ids;
    also as floats where `ids`), strings from a small set, else values around 0."""
    import tensorflow as tf
    rng = np.random.default_rng(seed)
    feeds = []
    for tensor in model.inputs:
        shape = (batch, *[4 if d is None else d for d in tensor.shape[1:]])
        if tensor.dtype == "string":
            feeds.append(tf.constant(rng.choice(["a", "b", "c"], shape)))
        elif "int" in str(tensor.dtype) or ids:
            feeds.append(rng.integers(0, 2, shape).astype(tensor.dtype))
        else:
            feeds.append(rng.normal(0, 1, shape).astype("float32"))
    return feeds[0] if len(feeds) == 1 else feeds


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(registry.LAYERS))
def test_every_type_trains_a_step_saves_and_reloads_in_safe_mode(name, tmp_path, request):
    from builder.backend import keras
    layer_type = registry.LAYERS[name]
    example = minimal_example(layer_type)
    if argtypes.arg_type(layer_type, layer_type.short or "") == "hub_preset":
        example = hub_example(name, request.getfixturevalue("hub_preset"))
    model = builder.build(data=example)
    x = feed(model, ids=layer_type.vocabulary is not None)      # an embedding's float input holds ids
    if model.trainable_weights:
        before = [w.numpy().copy() for w in model.trainable_weights]
        model.compile(optimizer="sgd", loss="mse")
        target = np.random.default_rng(1).normal(size=(2, *model.output.shape[1:])).astype("float32")
        model.fit(x, target, epochs=1, verbose=0)
        assert any(not np.array_equal(a, w.numpy()) for a, w in zip(before, model.trainable_weights))
    model.save(tmp_path / "m.keras")
    reloaded = keras().saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


MIXED = """\
name: mixed
inputs:
  image: {shape: [16, 16, 3]}
  clip: {shape: [4, 8, 8, 2]}
  steps: {shape: [6, 8]}
layers:
  - rescaling: {scale: 0.00392156862745098, inputs: image}
  - random_flip: {mode: horizontal}
  - conv2d: {filters: 8, kernel_size: 3}
  - group_normalization: {groups: 4}
  - global_average_pooling2d: {name: image_features}
  - einsum_dense: {equation: "ab,bc->ac", output_shape: 6, bias_axes: c, name: projected}
  - conv_lstm2d: {filters: 4, kernel_size: 3, inputs: clip}
  - global_average_pooling2d: {name: clip_features}
  - rnn: {cell: {lstm_cell: 8}, return_sequences: true, inputs: steps}
  - grouped_query_attention: {head_dim: 4, num_query_heads: 4, num_key_value_heads: 2}
  - global_average_pooling1d: {name: step_features}
  - concatenate: {inputs: [projected, clip_features, step_features]}
output: {units: 3}
"""


def test_the_newer_layers_build_save_and_reload_together(tmp_path):
    from builder.backend import keras
    model = builder.build(text=MIXED)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"Rescaling", "RandomFlip", "GroupNormalization", "EinsumDense", "GroupedQueryAttention", "ConvLSTM2D",
            "RNN"} <= kinds
    assert type(model.get_layer("rnn").cell).__name__ == "LSTMCell"
    x = feed(model)
    model.save(tmp_path / "m.keras")
    reloaded = keras().saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_stacked_cells_nest_in_the_specs_own_syntax():
    model = builder.build(text="name: s\ninput: [5, 3]\nlayers:\n"
                               "  - rnn: {cell: {stacked_rnn_cells: {cells: [{lstm_cell: 4}, {gru_cell: 6}]}}}\n"
                               "output: none\n")
    cells = model.get_layer("rnn").cell.cells
    assert [type(c).__name__ for c in cells] == ["LSTMCell", "GRUCell"]
    assert model.output.shape == (None, 6)


@pytest.mark.parametrize("text, expected", [
    ("  - lstm_cell: 4\n", "lstm_cell is an RNN cell: it goes inside an rnn entry, `rnn: {cell: {lstm_cell: ...}}`"),
    ("  - rnn: {cell: {dense: 4}}\n", "rnn wraps a cell layer (simple_rnn_cell, lstm_cell, gru_cell, "
                                      "stacked_rnn_cells), not dense"),
    ("  - rnn: {cell: {stacked_rnn_cells: {cells: [{lstm_cell: 4}, {lstm: 4}]}}}\n",
     "stacked_rnn_cells wraps a cell layer"),
])
def test_cells_go_inside_rnns(text, expected):
    with pytest.raises(builder.SpecError) as info:
        builder.validate(text="name: s\ninput: [5, 3]\nlayers:\n" + text + "output: none\n")
    assert expected in info.value.render()
    assert info.value.render().startswith("<spec>:4:")


def test_a_kerashub_layer_without_kerashub_is_a_located_error(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "keras_hub" else real(name, *a))
    with pytest.raises(builder.SpecError) as info:
        builder.validate(text="name: s\ninput: [5, 8]\nlayers:\n"
                              "  - hub_transformer_decoder: {intermediate_dim: 16, num_heads: 2}\noutput: none\n")
    assert info.value.render() == ("<spec>:4:5: error: layers[0].hub_transformer_decoder: hub_transformer_decoder "
                                   "comes from keras-hub, which is not installed: pip install keras-hub")


def test_augmentation_acts_in_training_only():
    model = builder.build(text="name: a\ninput: [8, 8, 3]\nlayers:\n  - random_flip: {mode: horizontal, seed: 1}\n"
                               "  - random_rotation: {factor: 0.2, seed: 2}\noutput: none\n")
    x = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)                 # inference: unchanged
    assert not np.allclose(np.asarray(model(x, training=True)), x)                  # training: augmented


def adapted_run(tmp_path, x, entry, dtype="float32"):
    """Train a tiny spec whose first layer adapts, on x; its adapted layer."""
    from builder.backend import keras
    from builder.training import run
    np.savez(tmp_path / "d.npz", x=x, y=(np.arange(len(x)) % 2).astype("int64"))
    text = (f"name: adapt\ninput: {{shape: [{x.shape[1]}], dtype: {dtype}}}\nlayers:\n  - {entry}\n"
            "  - flatten\noutput: {units: 2}\ntraining: {epochs: 1, test_split: 0, validation_split: 0}\n")
    run.train(builder.load_spec(text=text), str(tmp_path / "d.npz"), str(tmp_path / "run"), verbose=0)
    return keras().saving.load_model(tmp_path / "run" / "model.keras").get_layer("adapted")


def test_discretization_adapts_as_keras_does(tmp_path):
    from builder.backend import keras
    x = np.random.default_rng(0).normal(size=(200, 1)).astype("float32")
    layer = adapted_run(tmp_path, x, "discretization: {num_bins: 4, adapt: true, name: adapted}")
    reference = keras().layers.Discretization(num_bins=4)
    reference.adapt(x)
    assert layer.bin_boundaries == reference.bin_boundaries
    assert len(layer.bin_boundaries) == 3


def test_integer_lookup_adapts_as_keras_does(tmp_path):
    from builder.backend import keras
    x = np.random.default_rng(0).choice([3, 7, 7, 9, 9, 9], (60, 1)).astype("int64")
    layer = adapted_run(tmp_path, x, "integer_lookup: {adapt: true, name: adapted}", dtype="int64")
    reference = keras().layers.IntegerLookup()
    reference.adapt(x)
    assert layer.get_vocabulary() == reference.get_vocabulary()
    assert layer.get_vocabulary()[1:] == [9, 7, 3]                       # by frequency, after the OOV token


def test_string_lookup_adapts_as_keras_does(tmp_path):
    import os

    from builder.backend import keras
    from builder.training import run
    words = {"pos": ["sun", "sun", "joy"], "neg": ["rain", "fog", "rain"]}
    for label, items in words.items():
        os.makedirs(tmp_path / "t" / label)
        for i, word in enumerate(items):
            (tmp_path / "t" / label / f"{i}.txt").write_text(word)
    text = ("name: adapt\ninput: {shape: [1], dtype: string}\nlayers:\n"
            "  - string_lookup: {adapt: true, name: adapted}\n  - embedding: {input_dim: 8, output_dim: 2}\n"
            "  - flatten\noutput: {units: 2}\n"
            "training: {epochs: 1, test_split: 0, validation_split: 0}\n")
    run.train(builder.load_spec(text=text), str(tmp_path / "t"), str(tmp_path / "run"), verbose=0)
    layer = keras().saving.load_model(tmp_path / "run" / "model.keras").get_layer("adapted")
    reference = keras().layers.StringLookup()
    reference.adapt(np.array([[w] for items in words.values() for w in items]))
    assert layer.get_vocabulary() == reference.get_vocabulary()
    assert set(layer.get_vocabulary()[1:]) == {"sun", "joy", "rain", "fog"}
