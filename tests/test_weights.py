"""Starting weights: `weights:` in a spec, `--weights` on the command line,
`builder.build(..., weights=)`; strict unless skip_mismatch."""

import json
import os

import numpy as np
import pytest

import builder
from conftest import spec_path


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """LeNet-5 with seeded random weights, saved both ways, and its predictions."""
    from builder.backend import keras
    folder = tmp_path_factory.mktemp("weights")
    keras().utils.set_random_seed(1)
    model = builder.build(spec_path("lenet5"))
    model.save(folder / "lenet.keras")
    model.save_weights(folder / "lenet.weights.h5")
    x = np.random.default_rng(0).normal(size=(3, 32, 32, 1)).astype("float32")
    return folder, model, x


@pytest.mark.parametrize("file", ["lenet.keras", "lenet.weights.h5"])
def test_a_model_built_with_weights_predicts_what_saved_them(saved, file):
    folder, model, x = saved
    rebuilt = builder.build(spec_path("lenet5"), weights=str(folder / file))
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))


def test_resnet18_from_its_own_weights(tmp_path):
    from builder.backend import keras
    keras().utils.set_random_seed(3)
    model = builder.build(spec_path("resnet18"))
    model.save(tmp_path / "r.keras")
    x = np.random.default_rng(1).normal(size=(2, 224, 224, 3)).astype("float32")
    rebuilt = builder.build(spec_path("resnet18"), weights=str(tmp_path / "r.keras"))
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_mismatch_is_one_error_listing_it(saved, cli):
    folder, _, _ = saved
    with pytest.raises(builder.BuilderError) as info:
        builder.build(spec_path("lenet5"), overrides={"output.units": 5}, weights=str(folder / "lenet.keras"))
    expected = (f"{folder / 'lenet.keras'}: the weights do not fit the model: predictions (shapes [84, 5] [5] in the "
                "model, [84, 10] [10] in the file); load what fits with `weights: {path: lenet.keras, "
                "skip_mismatch: true}`")
    assert str(info.value) == expected
    code, out, err = cli("build", spec_path("lenet5"), "--set", "output.units=5", "--weights", folder / "lenet.keras")
    assert (code, out, err) == (1, "", f"error: {expected}\n")


def test_skip_mismatch_loads_what_fits_and_reports_the_rest(saved, cli, tmp_path):
    folder, model, _ = saved
    relative = os.path.relpath(spec_path("lenet5"), tmp_path)
    (tmp_path / "head5.yaml").write_text(f"extends: {relative}\nname: head5\noutput: {{units: 5}}\n"
                                         "weights: {path: lenet.keras, skip_mismatch: true}\n")
    os.symlink(folder / "lenet.keras", tmp_path / "lenet.keras")      # found beside the spec that names it
    code, out, err = cli("build", tmp_path / "head5.yaml")
    assert code == 0, err
    assert out.startswith(f"Weights: 4 layers from {tmp_path / 'lenet.keras'}\n  skipped (kept their fresh "
                          "weights, or not in the model): predictions (shapes [84, 5] [5] in the model, [84, 10] "
                          "[10] in the file)\n")
    rebuilt = builder.build(tmp_path / "head5.yaml")
    for name in ("c1", "c3", "c5", "f6"):
        for a, b in zip(rebuilt.get_layer(name).get_weights(), model.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("make, expected", [
    (lambda p: None, "no such weights file"),
    (lambda p: p.write_text("not a model"), "expected a .keras model or a .weights.h5 file"),
    (lambda p: os.mkdir(p), "it is a folder, not a weights file"),
])
def test_unreadable_weights_are_one_line(cli, tmp_path, make, expected):
    path = tmp_path / "w.keras"
    make(path)
    code, _, err = cli("build", spec_path("lenet5"), "--weights", path)
    assert (code, err) == (1, f"error: {path}: {expected}\n")


def _layout(fill):
    def make(path):
        import h5py
        with h5py.File(path, "w") as handle:
            fill(handle)
    return make


def _nested(handle):
    handle.create_group("layers/" + "/".join(["g"] * 3000))


def _renamed(handle):
    handle["layers/conv2d/vars/a"], handle["layers/conv2d/vars/b"] = [1.0], [2.0]


@pytest.mark.parametrize("fill, expected", [
    (_renamed, "layers/conv2d/vars holds 'a', 'b'; Keras names a layer's variables 0, 1, ..."),
    (lambda h: h.create_dataset("layers/conv2d", data=[1.0]), "layers/conv2d is a dataset; Keras stores a layer as "
                                                              "a group"),
    (lambda h: h.create_dataset("layers/conv2d/vars", data=[1.0]), "layers/conv2d/vars is a dataset; Keras stores "
                                                                   "a layer's variables in a group"),
    (lambda h: h.create_group("layers/conv2d/vars/0"), "layers/conv2d/vars/0 is a group; Keras stores a variable as "
                                                       "a dataset"),
    (_nested, "groups nested deeper than 16 under layers/g"),
    (lambda h: h.create_dataset("layers", data=[1.0]), "no 'layers' group"),
])
def test_a_weights_file_laid_out_otherwise_than_keras_does_is_one_line(cli, tmp_path, fill, expected):
    path = tmp_path / "w.weights.h5"
    _layout(fill)(path)
    code, out, err = cli("build", spec_path("lenet5"), "--weights", path)
    assert (code, out, err) == (1, "", f"error: {path}: not a Keras .weights.h5 file ({expected})\n")


def test_training_starts_from_the_weights(saved, tmp_path, cli):
    """With a learning rate of 0, the trained model is the weights file's."""
    folder, model, x = saved
    code, out, err = cli("train", spec_path("lenet5"), "--data", "digits", "--epochs", "1", "--out", tmp_path / "run",
                         "--weights", folder / "lenet.keras", "--set", "training.optimizer={sgd: {learning_rate: 0.0}}")
    assert code == 0, err
    assert f"Weights: 5 layers from {folder / 'lenet.keras'}" in out
    from builder.backend import keras
    trained = keras().saving.load_model(tmp_path / "run" / "model.keras")
    np.testing.assert_allclose(trained.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert json.load(open(tmp_path / "run" / "metrics.json"))["epochs"] == 1


PHASES = """
weights: {path: WEIGHTS}
training:
  phases:
    - {epochs: 2, trainable: [predictions]}
    - {epochs: 1, trainable: all, optimizer: {adam: {learning_rate: 1.0e-4}}}
"""


def test_two_phases_train_the_head_then_everything(saved, tmp_path, cli):
    folder, model, _ = saved
    text = open(spec_path("lenet5")).read().split("training:")[0] + PHASES.replace("WEIGHTS", str(folder / "lenet.keras"))
    (tmp_path / "tune.yaml").write_text(text)
    code, out, err = cli("train", tmp_path / "tune.yaml", "--data", "digits", "--out", tmp_path / "run")
    assert code == 0, err
    assert "Phase 1: epochs 1-2, training predictions" in out and "Phase 2: epochs 3-3, training all layers" in out
    from builder.backend import keras
    after_phase_1 = keras().saving.load_model(tmp_path / "run" / "checkpoint" / "phase-1.keras")
    final = keras().saving.load_model(tmp_path / "run" / "model.keras")
    for name in ("c1", "c3", "c5", "f6"):                 # frozen in phase 1, fine-tuned in phase 2
        for start, frozen, tuned in zip(model.get_layer(name).get_weights(), after_phase_1.get_layer(name).get_weights(),
                                        final.get_layer(name).get_weights()):
            np.testing.assert_array_equal(frozen, start)
            assert not np.array_equal(tuned, start)
    assert not np.array_equal(after_phase_1.get_layer("predictions").get_weights()[0],
                              model.get_layer("predictions").get_weights()[0])
    assert [row["epoch"] for row in json.load(open(tmp_path / "run" / "history.json"))] == [1, 2, 3]
    assert len(open(tmp_path / "run" / "history.csv").read().splitlines()) == 1 + 3


def test_a_phase_pattern_that_names_no_layer_is_an_error_at_its_line(tmp_path, cli):
    text = open(spec_path("lenet5")).read().split("training:")[0] + \
        "training:\n  phases:\n    - {epochs: 1, trainable: [predictons]}\n"
    (tmp_path / "bad.yaml").write_text(text)
    code, _, err = cli("train", tmp_path / "bad.yaml", "--data", "digits", "--out", tmp_path / "run")
    line = text.splitlines().index("    - {epochs: 1, trainable: [predictons]}") + 1
    assert code == 1
    assert err.startswith(f"{tmp_path / 'bad.yaml'}:{line}:31: error: training.phases[0].trainable[0]: 'predictons' "
                          "names no layer of the model. Did you mean 'predictions'?")


def test_epochs_cannot_override_phases(tmp_path, cli):
    text = open(spec_path("lenet5")).read().split("training:")[0] + \
        "training:\n  phases:\n    - {epochs: 1, trainable: all}\n"
    (tmp_path / "p.yaml").write_text(text)
    code, _, err = cli("train", tmp_path / "p.yaml", "--data", "digits", "--epochs", "3", "--out", tmp_path / "run")
    assert (code, err) == (1, "error: --epochs: the spec trains in phases, whose epochs set the run's length; change "
                              "training.phases instead\n")


def test_a_layer_keras_skips_is_never_reported_loaded(saved, cli, tmp_path):
    """A .weights.h5 whose layer holds its variables in another order (f6's kernel and bias swapped) has the
    shapes the model wants, but Keras's loader skips that layer: verified after loading, it is refused, or
    with skip_mismatch reported skipped and left fresh, never counted as loaded."""
    import shutil

    import h5py
    folder, model, _ = saved
    swapped = tmp_path / "swapped.weights.h5"
    shutil.copy(folder / "lenet.weights.h5", swapped)
    with h5py.File(swapped, "r+") as handle:
        dense = handle["layers"]["dense"]["vars"]               # f6, the first Dense: (84 units)
        kernel, bias = dense["0"][()], dense["1"][()]
        del dense["0"], dense["1"]
        dense["0"], dense["1"] = bias, kernel
    reason = "f6 (the file holds its variables in another order, which Keras does not load)"
    code, out, err = cli("build", spec_path("lenet5"), "--weights", swapped)
    assert (code, err) == (1, f"error: {swapped}: the weights do not fit the model: {reason}; load what fits with "
                              "`weights: {path: swapped.weights.h5, skip_mismatch: true}`\n")
    rebuilt = builder.build(spec_path("lenet5"), overrides={"weights": {"path": str(swapped), "skip_mismatch": True}})
    np.testing.assert_array_equal(rebuilt.get_layer("c1").get_weights()[0], model.get_layer("c1").get_weights()[0])
    assert not np.array_equal(rebuilt.get_layer("f6").get_weights()[0], model.get_layer("f6").get_weights()[0])
    from builder.keras import weights
    loaded = weights.load(builder.build(spec_path("lenet5")), str(swapped), skip_mismatch=True)
    assert loaded.lines() == [f"Weights: 4 layers from {swapped}",
                              f"  skipped (kept their fresh weights, or not in the model): {reason}"]
