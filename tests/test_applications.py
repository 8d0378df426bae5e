"""keras.applications networks as entries: checked at validate against the
installed Keras, built with their own weights (here: null, or a local file
the test writes; nothing is downloaded), saved and reloaded in safe mode."""

import os

import numpy as np
import pytest

import builder

MOBILENET = """\
name: mnv2
input: [224, 224, 3]
layers:
  - keras_application: {model: MobileNetV2, weights: null, include_top: false, pooling: avg}
output: {units: 10}
"""


def test_a_backbone_and_a_head_have_their_parameters():
    model = builder.build(text=MOBILENET)
    assert model.count_params() == 2_257_984 + 12_810
    assert builder.describe(model)["macs"] > 290_000_000          # MobileNetV2 at 224: about 300 M


@pytest.mark.parametrize("change, expected", [
    (("MobileNetV2", "MobileNetV22"), "<spec>:4:25: error: layers[0].keras_application.model: unknown Keras "
                                      "application 'MobileNetV22'. Did you mean 'MobileNetV2'?"),
    (("pooling: avg}", "pooling: avg, arguments: {alpah: 0.5}}"),
     "<spec>:4:106: error: layers[0].keras_application.arguments.alpah: unknown argument 'alpah' for MobileNetV2. "
     "Did you mean 'alpha'? It takes: alpha, classes, classifier_activation, name."),
])
def test_names_and_arguments_are_checked_at_validate(change, expected):
    with pytest.raises(builder.SpecError) as info:
        builder.validate(text=MOBILENET.replace(*change))
    assert info.value.render().startswith(expected)


@pytest.mark.slow
def test_local_weights_load_and_the_model_reloads_in_safe_mode(tmp_path):
    from builder.backend import keras
    keras = keras()
    small = MOBILENET.replace("[224, 224, 3]", "[96, 96, 3]").replace("pooling: avg}", "pooling: avg, "
                                                                      "arguments: {alpha: 0.35}}")
    model = builder.build(text=small)
    model.get_layer("keras_application").network.save_weights(tmp_path / "backbone.weights.h5")
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 96, 96, 3)).astype("float32")
    from_file = builder.build(text=small.replace("weights: null", f"weights: {tmp_path / 'backbone.weights.h5'}"))
    from_file.get_layer("predictions").set_weights(model.get_layer("predictions").get_weights())
    np.testing.assert_allclose(from_file.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_a_local_weights_file_is_read_from_the_spec_s_folder_and_checked_at_validate(cli, tmp_path, monkeypatch):
    """Once read from the working folder (the same spec trained from its own folder and failed from the parent)
    and not checked until build; a FIFO blocked the build. Now: from the spec file's folder, checked at validate,
    and the run's spec.yaml holds the absolute path."""
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)                                          # not the spec's folder
    small = MOBILENET.replace("[224, 224, 3]", "[32, 32, 3]").replace("pooling: avg}", "pooling: avg, "
                                                                      "arguments: {alpha: 0.35}}")
    builder.build(text=small).get_layer("keras_application").network.save_weights(
        tmp_path / "sub" / "backbone.weights.h5")
    (tmp_path / "sub" / "app.yaml").write_text(small.replace("weights: null", "weights: backbone.weights.h5"))
    assert cli("validate", "sub/app.yaml") == (0, "sub/app.yaml: ok\n", "")
    from builder.spec.resolved import resolved_document
    layer = resolved_document(builder.load_spec("sub/app.yaml"))["layers"][0]["keras_application"]
    assert layer["weights"] == str(tmp_path / "sub" / "backbone.weights.h5")
    for name, found in (("nothere.h5", f"no such file: '{tmp_path / 'sub' / 'nothere.h5'}'"),
                        ("fifo.h5", f"'{tmp_path / 'sub' / 'fifo.h5'}' is a FIFO (named pipe)")):
        if name == "fifo.h5":
            os.mkfifo(tmp_path / "sub" / name)
        (tmp_path / "sub" / "app.yaml").write_text(small.replace("weights: null", f"weights: {name}"))
        code, out, err = cli("build", "sub/app.yaml")
        assert (code, out, err) == (1, "", f"sub/app.yaml:4:45: error: layers[0].keras_application.weights: {found}; "
                                           "expected 'imagenet', null or a local .h5 or .weights.h5 file (a path in "
                                           "a spec file is read from that file's folder)\n")


def test_pretrained_weights_offline_are_one_line_naming_the_file_and_leave_no_run_folder(cli, tmp_path, monkeypatch):
    """Keras's own failure to download (as it says it offline), framed as a download, not as a shape problem."""
    from keras.src.applications import mobilenet_v2
    url = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/weights.h5"

    def offline(*args, **kwargs):
        raise Exception(f"URL fetch failure on {url}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(mobilenet_v2.file_utils, "get_file", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.yaml").write_text(MOBILENET.replace("[224, 224, 3]", "[32, 32, 3]")
                                       .replace("weights: null", "weights: imagenet"))
    code, out, err = cli("train", "app.yaml", "--data", "digits")
    assert (code, err) == (1, "app.yaml:4:5: error: layers[0].keras_application: keras_application could not "
                              f"download its weights from {url} (no network?); put that file in "
                              f"{tmp_path / 'keras' / 'models'}, where Keras looks first, or give `weights:` a local "
                              "weights file (or null for random ones)\n")
    assert not (tmp_path / "runs").exists()


HUB = """\
name: hub_classifier
inputs:
  token_ids: {shape: [null], dtype: int32}
  segment_ids: {shape: [null], dtype: int32}
  padding_mask: {shape: [null], dtype: int32}
layers:
  - keras_hub: {preset: PRESET, output: pooled_output, name: bert,
                inputs: {token_ids: token_ids, segment_ids: segment_ids, padding_mask: padding_mask}}
output: {units: 3}
"""


def test_a_keras_hub_backbone_from_a_local_preset(tmp_path):
    """A preset folder the test writes (KerasHub's own save_to_preset): the
    backbone's weights load, the entry computes what the backbone computes,
    and the saved model reloads in safe mode with the preset gone."""
    import shutil

    import keras_hub

    from builder.backend import keras
    backbone = keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
                                             intermediate_dim=16, max_sequence_length=12)
    backbone.save_to_preset(str(tmp_path / "preset"))
    text = HUB.replace("PRESET", str(tmp_path / "preset"))
    model = builder.build(text=text)
    assert model.count_params() == backbone.count_params() + 8 * 3 + 3
    rng = np.random.default_rng(0)
    feed = {"token_ids": rng.integers(1, 50, (2, 7)).astype("int32"),
            "segment_ids": np.zeros((2, 7), "int32"), "padding_mask": np.ones((2, 7), "int32")}
    pooled = builder.build(text=text.replace("output: {units: 3}", "output: none")).predict(feed, verbose=0)
    np.testing.assert_allclose(pooled, backbone.predict(feed, verbose=0)["pooled_output"], atol=1e-5)
    model.save(tmp_path / "m.keras")
    shutil.rmtree(tmp_path / "preset")
    reloaded = keras().saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(feed, verbose=0), model.predict(feed, verbose=0), atol=1e-6)


@pytest.mark.parametrize("preset, expected", [
    ("bert_tiny_en_uncase", "unknown KerasHub preset 'bert_tiny_en_uncase'. Did you mean 'bert_tiny_en_uncased'?"),
    ("./no_such_preset", "'./no_such_preset' is not a KerasHub preset folder (no config.json in it)"),
])
def test_keras_hub_presets_are_checked_at_validate_without_downloading(preset, expected):
    with pytest.raises(builder.SpecError) as info:
        builder.validate(text=HUB.replace("PRESET", preset))
    assert expected in info.value.render()
    assert info.value.render().startswith("<spec>:7:")


def test_a_keras_hub_backbone_with_several_outputs_needs_one_chosen(tmp_path):
    import keras_hub
    keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
                                  max_sequence_length=12).save_to_preset(str(tmp_path / "preset"))
    with pytest.raises(builder.SpecError) as info:
        builder.build(text=HUB.replace("PRESET", str(tmp_path / "preset")).replace("output: pooled_output, ", ""))
    assert "the backbone has the outputs sequence_output, pooled_output: choose one with `output:`" \
        in info.value.render()


def test_a_saved_model_is_loaded_from_its_own_file_whatever_its_config_asks(tmp_path, monkeypatch):
    """A .keras file whose keras_application config says `weights: imagenet` (crafted) fetches nothing at load."""
    import zipfile

    from keras.src.applications import mobilenet_v2

    from builder.training.saved import load_trained
    model = builder.build(text=MOBILENET.replace("[224, 224, 3]", "[32, 32, 3]"))
    model.save(tmp_path / "good.keras")
    with zipfile.ZipFile(tmp_path / "good.keras") as source, zipfile.ZipFile(tmp_path / "asks.keras", "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                assert b'"weights": null' in data
                data = data.replace(b'"weights": null', b'"weights": "imagenet"')
            target.writestr(item, data)

    def fetch(*args, **kwargs):
        raise AssertionError("a saved model fetched weights")

    monkeypatch.setattr(mobilenet_v2.file_utils, "get_file", fetch)
    loaded = load_trained(str(tmp_path / "asks.keras"))
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_a_hub_preset_offline_is_one_line_at_once(cli, tmp_path, monkeypatch):
    """Offline, KerasHub's client retried for half a minute, a line per try; now the Hub is asked once, briefly."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")                   # nothing listens there
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    (tmp_path / "hub.yaml").write_text(
        "name: hub\ninputs:\n  token_ids: {shape: [null], dtype: int32}\n  padding_mask: {shape: [null], dtype: int32}\n"
        "layers:\n  - keras_hub: {preset: 'hf://someone/tiny_bert', output: pooled_output,\n"
        "               inputs: {token_ids: token_ids, padding_mask: padding_mask}}\noutput: {units: 2}\n")
    code, out, err = cli("build", tmp_path / "hub.yaml")
    assert (code, out) == (1, "")
    assert err == (f"{tmp_path / 'hub.yaml'}:6:5: error: layers[0].keras_hub: keras_hub could not be made: cannot "
                   "reach 127.0.0.1 to download hf://someone/tiny_bert (Connection refused; no network?); one "
                   "downloaded before loads offline with HF_HUB_OFFLINE=1\n")
