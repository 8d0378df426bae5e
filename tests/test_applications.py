"""keras.applications networks as entries: checked at validate against the
installed Keras, built with their own weights (here: null, or a local file
the test writes; nothing is downloaded), saved and reloaded in safe mode."""

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


def test_a_missing_local_weights_file_is_one_line_at_the_entry(cli, tmp_path):
    (tmp_path / "app.yaml").write_text(MOBILENET.replace("[224, 224, 3]", "[32, 32, 3]")
                                       .replace("weights: null", "weights: nothere.h5"))
    code, out, err = cli("build", tmp_path / "app.yaml")
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"{tmp_path / 'app.yaml'}:4:5: error: layers[0].keras_application: ")
    assert "Received `weights=nothere.h5`" in err
