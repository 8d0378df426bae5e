"""Ways out (export formats) and back in (Keras models to specs)."""

import json
import os

import jsonschema
import numpy as np
import pytest
import yaml
from weights import copy_weights

import builder
from conftest import ROOT, spec_path


def test_onnx_export_predicts_what_keras_predicts(cli, tmp_path):
    import onnxruntime

    from builder.backend import keras
    target = tmp_path / "lenet.onnx"
    keras().utils.set_random_seed(0)          # the export builds the spec: the same seed, the same weights
    code, out, err = cli("export", spec_path("lenet5"), "--format", "onnx", "-o", target)
    assert code == 0, err
    assert out.strip() == f"wrote {target} (onnx)"
    keras().utils.set_random_seed(0)
    model = builder.build(spec_path("lenet5"))
    session = onnxruntime.InferenceSession(str(target))
    x = np.random.default_rng(0).standard_normal((3, 32, 32, 1)).astype("float32")
    onnx_out = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert onnx_out.shape == (3, 10)
    np.testing.assert_allclose(onnx_out, model.predict(x, verbose=0), atol=1e-5)


def test_export_of_a_saved_model_matches_it(cli, tmp_path):
    import onnxruntime
    model = builder.build(spec_path("lenet5"), overrides={"defaults.activation": "maxout"})
    model.save(tmp_path / "m.keras")
    code, _, err = cli("export", tmp_path / "m.keras", "--format", "onnx", "-o", tmp_path / "m.onnx")
    assert code == 0, err
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    x = np.random.default_rng(1).standard_normal((2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0],
                               model.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("fmt, name", [("savedmodel", "sm"), ("tflite", "m.tflite"), ("keras", "m.keras")])
def test_other_formats_predict_what_keras_predicts(cli, tmp_path, fmt, name):
    """The SavedModel, TFLite and .keras exports of a model give its outputs, and nothing is
    written beside them."""
    model = builder.build(spec_path("lenet5"), overrides={"defaults.activation": "relu"})
    (tmp_path / "in").mkdir()
    model.save(tmp_path / "in" / "m.keras")
    code, _, err = cli("export", tmp_path / "in" / "m.keras", "--format", fmt, "-o", tmp_path / name)
    assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == sorted(["in", name])           # nothing half-written beside it
    x = np.random.default_rng(2).standard_normal((3, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(exported_outputs(fmt, tmp_path / name, x), model.predict(x, verbose=0), atol=1e-5)


def exported_outputs(fmt, path, x) -> np.ndarray:
    """What the exported model at `path` predicts for `x`, run by its own runtime."""
    import tensorflow as tf
    if fmt == "savedmodel":
        loaded = tf.saved_model.load(str(path))          # held while it runs: its variables live in it
        return np.asarray(loaded.serve(tf.constant(x)))
    if fmt == "tflite":
        interpreter = tf.lite.Interpreter(model_path=str(path))
        source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        interpreter.resize_tensor_input(source["index"], list(x.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(source["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(target["index"])
    return builder.backend.keras().saving.load_model(path).predict(x, verbose=0)


def test_export_format_and_suffix_must_agree(cli, tmp_path):
    code, _, err = cli("export", spec_path("lenet5"), "--format", "onnx", "-o", tmp_path / "m.tflite")
    assert code == 1
    assert err == f"error: an onnx export is written to a .onnx file, got '{tmp_path / 'm.tflite'}'\n"


def round_trip(cli, tmp_path, model, atol=1e-4, *flags, same_names=True):
    """Save, import with the CLI (spec and weights), build the spec, compare
    its outputs with the model's."""
    model.save(tmp_path / "model.keras")
    spec, weights = tmp_path / "spec.yaml", tmp_path / "spec.weights.h5"
    code, out, err = cli("import", tmp_path / "model.keras", "-o", spec, *flags)
    assert code == 0, err
    text = spec.read_text()
    schema = json.load(open(os.path.join(ROOT, "specs", "spec.schema.json")))
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(yaml.safe_load(text)))
    assert not errors, errors[0].message[:300]                       # what editors will see
    assert out == f"wrote {spec} ({len(text.splitlines())} lines)" + \
        ("" if "--no-weights" in flags else f" and {weights}") + "\n"
    built = builder.build(spec)                           # loads spec.weights.h5, which the spec names
    assert built.count_params() == model.count_params()

    def names(m):
        return sorted(layer.name for layer in m.layers if type(layer).__name__ != "InputLayer")
    if same_names:
        assert names(built) == names(model)
    if "--no-weights" in flags:
        copy_weights(model, built)
    tensor = model.inputs[0]
    shape = (2, *[6 if d is None else d for d in tensor.shape[1:]])
    rng = np.random.default_rng(0)
    x = rng.integers(1, 100, shape).astype(tensor.dtype) if "int" in str(tensor.dtype) else \
        rng.uniform(0, 1, shape).astype("float32")
    # different graphs of the same layers: float summation order may differ slightly
    ours, theirs = built.predict(x, verbose=0), model.predict(x, verbose=0)
    if isinstance(theirs, list):  # several outputs, in the model's order
        assert built.output_names == model.output_names
    for a, b in zip(*[o if isinstance(o, list) else [o] for o in (ours, theirs)]):
        np.testing.assert_allclose(a, b, atol=atol)
    return text


@pytest.mark.slow
def test_import_mobilenet_v2_in_blocks_with_its_weights(cli, tmp_path):
    from builder.backend import keras
    text = round_trip(cli, tmp_path, keras().applications.MobileNetV2(weights=None, input_shape=(96, 96, 3),
                                                                    alpha=0.35))
    assert "\nweights: spec.weights.h5\n" in text
    assert "\ndefaults:\n  use_bias: false\n  momentum: 0.999\n  padding: same\n  max_value: 6.0\n" in text
    assert "  - relu: {name: Conv1_relu}" in text                          # max_value from defaults
    # the inverted residual block with its optional expansion and padding; the one with a residual add
    assert "      - conv2d: {filters: $expand_filters, name: expand, when: $with_expand}" in text
    assert "      - zero_padding2d: {padding: [[0, 1], [0, 1]], name: pad, when: $with_pad}" in text
    assert "      - add: {name: add, inputs: [input, project_BN]}" in text
    assert "  - block: {name: expanded_conv, with_expand: false, with_pad: false, padding: same, strides: 1}" \
        in text
    assert "output: {units: 1000, use_bias: true}" in text                  # defaults.use_bias is false
    assert len(text.splitlines()) <= 100


def test_import_flat_writes_one_entry_per_layer(cli, tmp_path):
    from builder.backend import keras
    text = round_trip(cli, tmp_path, keras().applications.MobileNetV2(weights=None, input_shape=(96, 96, 3),
                                                                    alpha=0.35), 1e-4, "--flat", "--no-weights")
    assert "  - relu: {max_value: 6.0, name: Conv1_relu}" in text           # Keras defaults left out
    assert "  - add: {name: block_2_add, inputs: [block_1_project_BN, block_2_project_BN]}" in text
    assert "blocks:" not in text and "weights:" not in text
    assert not (tmp_path / "spec.weights.h5").exists()


@pytest.mark.slow
def test_import_densenet121_repeats_its_blocks(cli, tmp_path):
    from builder.backend import keras
    text = round_trip(cli, tmp_path, keras().applications.DenseNet121(weights=None, input_shape=(64, 64, 3)))
    assert "      - concatenate: {name: concat, inputs: [input, 2_conv]}" in text
    for stage, repeat in (2, 6), (3, 12), (4, 24), (5, 16):
        assert f"  - conv_block: {{name: conv{stage}_block, repeat: {repeat}}}" in text
    assert len(text.splitlines()) <= 90


@pytest.mark.slow
@pytest.mark.parametrize("name, most_lines", [("ResNet50", 60), ("InceptionV3", 170), ("EfficientNetB0", None)])
def test_import_applications_in_few_lines(cli, tmp_path, name, most_lines):
    from builder.backend import keras
    model = getattr(keras().applications, name)(weights=None)
    text = round_trip(cli, tmp_path, model, 1e-4, same_names=name != "InceptionV3")
    if most_lines:
        assert len(text.splitlines()) <= most_lines
    if name == "ResNet50":
        assert "  - conv_block: {name: conv4_block, repeat: 6, vary: {first: {strides: 2, with_0_conv: true}}}" \
            in text


def test_import_refuses_to_replace_the_weights_file(cli, tmp_path):
    from builder.backend import keras
    k = keras()
    k.Sequential([k.Input((3,)), k.layers.Dense(2)]).save(tmp_path / "m.keras")
    (tmp_path / "s.weights.h5").write_text("mine")
    code, out, err = cli("import", tmp_path / "m.keras", "-o", tmp_path / "s.yaml")
    assert code == 1 and out == ""
    assert err == f"error: {tmp_path / 's.weights.h5'} already exists; choose another name, or pass --overwrite to replace it\n"
    assert (tmp_path / "s.weights.h5").read_text() == "mine" and not (tmp_path / "s.yaml").exists()


@pytest.mark.slow
def test_import_sequential_and_the_shipped_specs_round_trip(cli, tmp_path):
    from builder.backend import keras
    k = keras()
    sequential = k.Sequential([k.Input((12,)), k.layers.Dense(8, activation="relu", name="hidden"),
                               k.layers.Dropout(0.2, name="drop"), k.layers.Dense(3, activation="sigmoid", name="out")])
    (tmp_path / "seq").mkdir()
    text = round_trip(cli, tmp_path / "seq", sequential)
    assert text.endswith("output: {units: 3, activation: sigmoid, name: out}\n")
    for name in ("googlenet", "alexnet", "lstm_text"):
        folder = tmp_path / name
        folder.mkdir()
        round_trip(cli, folder, builder.build(spec_path(name)))


def test_a_model_with_several_outputs_imports_as_named_outputs(cli, tmp_path):
    from builder.backend import keras
    k = keras()
    x = k.Input((16,), name="pixels")
    hidden = k.layers.Dense(32, activation="relu", name="hidden")(x)
    digit = k.layers.Dense(10, activation="softmax", name="digit")(hidden)
    side = k.layers.Dense(8, activation="relu", name="side")(hidden)
    parity = k.layers.Dense(2, name="parity")(side)
    early = k.layers.Dense(1, activation="sigmoid", name="early")(k.layers.Dense(4, name="e0")(x))
    text = round_trip(cli, tmp_path, k.Model(x, [digit, parity, early]))
    assert text.endswith(
        "outputs:\n  digit: {units: 10, input: hidden}\n  parity: {units: 2, activation: linear, input: side}\n"
        "  early: {units: 1, activation: sigmoid}\n"
    )
    tail = k.layers.Dense(3, name="tail")(digit)
    (tmp_path / "feeds").mkdir()
    k.Model(x, [digit, tail]).save(tmp_path / "feeds" / "model.keras")
    code, _, err = cli("import", tmp_path / "feeds" / "model.keras", "-o", tmp_path / "feeds" / "spec.yaml")
    assert (code, err) == (1, "error: the model's output 'digit' also feeds other layers; a spec's outputs end "
                              "the model\n")


def test_unregistered_layers_are_named(cli, tmp_path):
    from builder.backend import keras
    k = keras()

    @k.saving.register_keras_serializable(package="test_import")
    class Doubling(k.layers.Layer):
        def call(self, x):
            return x * 2

    model = k.Sequential([k.Input((4, 4, 3)), Doubling(), k.layers.Flatten()])
    model.save(tmp_path / "m.keras")
    code, _, err = cli("import", tmp_path / "m.keras", "-o", tmp_path / "s.yaml")
    assert code == 1
    assert "is a Doubling, which has no spec type; register it with builder.register_layer(...)" in err
    assert not (tmp_path / "s.yaml").exists()


def test_models_saved_before_the_package_was_reorganized_still_load():
    """tests/data/legacy_custom_layers.keras was saved when the custom layers
    lived in builder/layers.py: they keep their registered names (builder>...)."""
    from builder.backend import keras
    data = np.load(os.path.join(ROOT, "tests", "data", "legacy_custom_layers.npz"))
    model = keras().saving.load_model(os.path.join(ROOT, "tests", "data", "legacy_custom_layers.keras"),
                                      safe_mode=True)
    assert {type(layer).__name__ for layer in model.layers} >= {
        "Maxout", "LocalResponseNormalization", "PositionEmbedding", "TransformerEncoder", "SinePositionEncoding",
        "SelectStep"}
    np.testing.assert_allclose(model.predict(data["x"], verbose=0), data["y"], atol=1e-5)


def test_import_renames_layers_a_spec_cannot_name():
    """Keras allows `a.b`, `a-b` and `sum>1` as layer names; the spec says `a_b`, `a_b_`, `sum_1`, and builds the
    same network."""
    from builder.backend import keras
    keras = keras()
    tokens = keras.Input((4,), name="in.put")
    a = keras.layers.Dense(3, name="a.b")(tokens)
    b = keras.layers.Dense(3, name="a-b")(tokens)
    total = keras.layers.Add(name="sum>1")([a, b])
    model = keras.Model(tokens, keras.layers.Dense(2, activation="softmax", name="out")(total), name="my>model")
    text = builder.to_spec(model)
    assert "inputs: [a_b, a_b_]" in text and "name: sum_1" in text and text.startswith("name: my_model\n")
    rebuilt = builder.build(text=text)
    assert rebuilt.count_params() == model.count_params()
    copy_weights(model, rebuilt)
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_a_model_that_rescales_its_input_imports_and_builds_back(cli, tmp_path):
    from builder.backend import keras
    k = keras()
    model = k.Sequential([k.Input((4, 4, 3)), k.layers.Rescaling(1 / 255), k.layers.Flatten(), k.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    code, _, err = cli("import", tmp_path / "m.keras", "-o", tmp_path / "s.yaml")
    assert code == 0, err
    assert "rescaling: {scale: 0.00392156862745098" in (tmp_path / "s.yaml").read_text()
    assert builder.build(tmp_path / "s.yaml").count_params() == model.count_params()
