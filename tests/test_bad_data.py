"""Bad data is one line and exit 1, found before training starts, with
nothing written beside the named output: the corpus in tests/bad_data/
(remade by `python tests/bad_data/make.py`), and cases made here that a
repository can't hold (FIFOs, devices, broken saved models and run folders)."""

import json
import os

import numpy as np
import pytest
import yaml

from conftest import ROOT, spec_path

CORPUS = os.path.join(ROOT, "tests", "bad_data")
EXPECTED = yaml.safe_load(open(os.path.join(ROOT, "tests", "bad_data_expected.yaml"), encoding="utf-8"))
SPECS = {
    "vec4": "name: vec4\ninput: [4]\nlayers: [dense: 8]\noutput: {units: 3}\ntraining: {epochs: 1}\n",
    "vec2": "name: vec2\ninput: [2]\nlayers: [dense: 8]\noutput: {units: 3}\ntraining: {epochs: 1}\n",
    "img": "name: img\ninput: [8, 8, 1]\nlayers: [flatten]\noutput: {units: 2}\ntraining: {epochs: 1}\n",
    "rec": ("name: rec\ninput: [8, 8, 1]\nlayers: [flatten]\noutput: {units: 2}\ntraining:\n  epochs: 1\n"
            "  tfrecord: {features: {image: {dtype: string, decode: image}, label: {dtype: int64}}}\n"),
    "text": ("name: text\ninput: {shape: [6], dtype: int32}\nlayers: [{embedding: {input_dim: 50, output_dim: 4}}, "
             "flatten]\noutput: {units: 2}\ntraining: {epochs: 1}\n"),
    "seg": ("name: seg\ninput: [8, 8, 3]\nlayers: [{conv2d: {filters: 4, kernel_size: 3, padding: same}}]\n"
            "output: {units: 3, pool: none}\ntraining: {epochs: 1}\n"),
    "lm": ("name: lm\ninputs: {token_ids: {shape: [null], dtype: int32}}\nlayers:\n"
           "  - reversible_embedding: {input_dim: 64, output_dim: 8, name: tokens}\noutput: {tie: tokens}\n"
           "training: {epochs: 1, sequence_length: 8, validation_split: 0, test_split: 0}\n"),
    "pair": ("name: pair\ninputs:\n  token_ids: {shape: [null], dtype: int32}\n  segment_ids: {shape: [null], "
             "dtype: int32}\n  padding_mask: {shape: [null], dtype: int32}\nlayers:\n  - embedding: {input_dim: 64, "
             "output_dim: 4, inputs: token_ids}\n  - global_average_pooling1d\noutput: {units: 2}\n"
             "training: {epochs: 1}\n"),
    "outs": ("name: outs\ninput: [4]\nlayers: [dense: 8]\noutputs:\n  digit: {units: 3}\n"
             "  parity: {units: 1, activation: linear}\ntraining: {epochs: 1}\n"),
    "two_in": ("name: two_in\ninputs: {a: [4], b: [2]}\nlayers: [{concatenate: {inputs: [a, b]}}]\n"
               "output: {units: 3}\ntraining: {epochs: 1}\n"),
    "tagger": ("name: tagger\ninput: {shape: [null], dtype: int32}\nlayers: [{embedding: {input_dim: 50, "
               "output_dim: 4}}]\noutput: {units: 3, pool: none}\ntraining: {epochs: 1, task: token_classification}\n"),
    "s2s": ("name: s2s\ninputs:\n  encoder_token_ids: {shape: [null], dtype: int32}\n  decoder_token_ids: {shape: [null], "
            "dtype: int32}\nlayers:\n  - embedding: {input_dim: 64, output_dim: 4, inputs: decoder_token_ids}\n"
            "output: {units: 64, pool: none}\ntraining: {epochs: 1, task: seq2seq}\n"),
    "tags": "name: tags\ninput: [2]\nlayers: [dense: 4]\noutput: {units: 3, activation: sigmoid}\ntraining: {epochs: 1}\n",
}


def snapshot(folder) -> dict:
    """Every file under `folder` with its size and modification time."""
    found = {}
    for here, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(here, name)
            found[os.path.relpath(path, folder)] = (os.path.getsize(path), os.path.getmtime(path))
    return found


def test_the_corpus_is_complete():
    cases = sorted(f for f in os.listdir(CORPUS) if f != "make.py" and not f.startswith("__"))
    assert cases == sorted(EXPECTED)
    assert len(cases) + len(MADE_HERE) + len(SAVED_MODELS) >= 40


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_bad_data_is_one_line_before_training(case, cli, tmp_path, monkeypatch):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPECS[EXPECTED[case]["spec"]])
    before = snapshot(CORPUS)
    monkeypatch.chdir(CORPUS)
    code, out, err = cli("train", spec, "--data", case, "--out", tmp_path / "run")
    assert (code, err) == (1, EXPECTED[case]["error"] + "\n")
    assert "Epoch 1" not in out
    assert snapshot(CORPUS) == before
    assert not (tmp_path / "run").exists()          # nothing written, and no empty run folder left


# --- cases made here ---------------------------------------------------------------------------

def _fifo(tmp_path):
    os.mkfifo(tmp_path / "data.csv")
    return "data.csv", "data.csv: error: it is a FIFO (named pipe), not a data file or folder"


def _device(tmp_path):
    os.symlink("/dev/zero", tmp_path / "zero.csv")
    return "zero.csv", "zero.csv: error: it is a character device, not a data file or folder"


def _no_label_column(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n" + "1,2,0\n" * 30)
    return "d.csv --label kind", "d.csv: error: no column 'kind' (columns: a, b, label)"


MADE_HERE = {"fifo": _fifo, "device": _device, "no_label_column": _no_label_column}


@pytest.mark.parametrize("case", sorted(MADE_HERE))
def test_special_data_files_are_refused(case, cli, tmp_path, monkeypatch):
    data, expected = MADE_HERE[case](tmp_path)
    (tmp_path / "spec.yaml").write_text(SPECS["vec2"])
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("train", "spec.yaml", "--data", *data.split(), "--out", "run")
    assert (code, err) == (1, expected + "\n")


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """A good 5-class model on 8x8 images, broken .keras files made from it, and a 10-class one for digits."""
    import builder
    folder = tmp_path_factory.mktemp("models")
    model = builder.build(text="name: five\ninput: [8, 8, 1]\nlayers: [flatten]\noutput: {units: 5}\n")
    model.save(folder / "five.keras")
    builder.build(text="name: ten\ninput: [8, 8, 1]\nlayers: [flatten]\noutput: {units: 10}\n").save(
        folder / "ten.keras")
    whole = (folder / "five.keras").read_bytes()
    (folder / "truncated.keras").write_bytes(whole[: len(whole) // 2])
    (folder / "text.keras").write_text("not a model\n")
    (folder / "empty.keras").write_bytes(b"")
    os.mkdir(folder / "folder.keras")
    return folder


SAVED_MODELS = [
    ("truncated.keras", "evaluate", "not a .keras file: it is not a zip archive (truncated or corrupt?)"),
    ("text.keras", "predict", "not a .keras file: it is not a zip archive (truncated or corrupt?)"),
    ("empty.keras", "evaluate", "not a .keras file: it is not a zip archive (truncated or corrupt?)"),
    ("folder.keras", "predict", "it is a folder, not a .keras file"),
    ("five.keras", "predict", "the model predicts 5 classes, but digits has 10 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)"),
    ("five.keras", "evaluate", "the model predicts 5 classes, but digits has 10 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)"),
]


BESIDE = [  # a file beside a saved model that is not what its run wrote: one line naming it
    ("run.json", "[1, 2]", "expected an object as its training run writes it, got a list"),
    ("run.json", '{"batch_size": 0}', "batch_size is 0; expected a positive whole number, as its training run "
                                      "writes it"),
    ("run.json", '{"test_split": "0.2"}', 'test_split is "0.2"; expected a fraction from 0 up to 1, as its '
                                          "training run writes it"),
    ("classes.json", '{"a": 1}', "expected a list of class names, as its training run writes it for a one-output "
                                 "model"),
    ("classes.json", '"cat"', "expected a list of class names (an object of them by output for several) as its "
                              "training run writes it, got a string"),
    ("vocabulary.json", "{}", "expected a list of words as its training run writes it, got an object"),
]


@pytest.mark.parametrize("name, content, expected", BESIDE)
def test_files_beside_a_model_are_what_its_run_wrote(saved_models, cli, tmp_path, name, content, expected):
    import shutil
    shutil.copy(saved_models / "ten.keras", tmp_path / "model.keras")
    (tmp_path / name).write_text(content)
    for command in ("evaluate", "predict") if name == "run.json" else ("predict",):   # predict names classes
        code, out, err = cli(command, tmp_path / "model.keras", "--data", "digits")
        assert (code, out, err) == (1, "", f"{tmp_path / name}: error: {expected}\n")


@pytest.mark.parametrize("name, command, expected", SAVED_MODELS)
def test_broken_or_mismatched_saved_models(saved_models, cli, name, command, expected):
    code, out, err = cli(command, saved_models / name, "--data", "digits")
    assert (code, out) == (1, "")
    assert err == f"{saved_models / name}: error: {expected}\n"


def test_evaluate_compiles_any_keras_classifier_itself(cli, tmp_path):
    """A plain Keras model, compiled with metrics=['accuracy'] or not at all, evaluates."""
    from builder.backend import keras
    keras = keras()
    for compiled in (True, False):
        model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
        if compiled:
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.save(tmp_path / "m.keras")
        code, out, err = cli("evaluate", tmp_path / "m.keras", "--data", "digits")
        assert code == 0, err
        result = json.loads(out)
        assert set(result) == {"examples", "test_accuracy", "test_loss"} and 0 <= result["test_accuracy"] <= 1


def test_resume_refuses_a_corrupt_state_or_a_missing_checkpoint(cli, tmp_path):
    run = tmp_path / "run"
    args = ("train", spec_path("lenet5"), "--data", "digits", "--epochs", "1", "--out", run)
    code, _, err = cli(*args)
    assert code == 0, err
    state = run / "checkpoint" / "state.json"
    good = state.read_text()
    state.write_text(good[: len(good) // 2])
    code, _, err = cli(*args, "--resume")
    assert code == 1 and err.startswith(f"error: --resume: {run}/checkpoint/state.json is unreadable (")
    state.write_text(good)
    os.remove(run / "checkpoint" / "last.keras")
    code, _, err = cli(*args, "--resume")
    assert (code, err) == (1, f"error: --resume: {run}/checkpoint/last.keras is missing, so epoch 1 cannot be "
                              "continued; train again into another --out\n")


def test_resume_refuses_another_spec_or_other_data(cli, tmp_path):
    run = tmp_path / "run"
    code, _, err = cli("train", spec_path("lenet5"), "--data", "digits", "--epochs", "1", "--out", run)
    assert code == 0, err
    code, _, err = cli("train", spec_path("lenet5"), "--data", "digits", "--epochs", "2", "--out", run, "--resume",
                       "--set", "layers.0.conv2d.filters=8")
    assert (code, err) == (1, f"error: --resume: the spec (after extends and --set) differs from what {run} was "
                              "started with; resume with the same spec and data, or train into another --out\n")
    x = np.random.default_rng(0).normal(size=(40, 32, 32, 1)).astype("float32")
    np.savez(tmp_path / "other.npz", x=x, y=np.arange(40) % 10)
    code, _, err = cli("train", spec_path("lenet5"), "--data", tmp_path / "other.npz", "--epochs", "2", "--out", run,
                       "--resume")
    assert (code, err) == (1, f"error: --resume: the data differs from what {run} was started with; resume with "
                              "the same spec and data, or train into another --out\n")


def test_out_must_be_a_new_folder_or_a_run_folder(cli, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("months of work")
    code, _, err = cli("train", spec_path("lenet5"), "--data", "digits", "--out", tmp_path / "mine")
    assert (code, err) == (1, f"error: --out {tmp_path / 'mine'} holds other files (thesis.tex); name a new or "
                              "empty folder for the run\n")
    (tmp_path / "file").write_text("x")
    code, _, err = cli("train", spec_path("lenet5"), "--data", "digits", "--out", tmp_path / "file")
    assert (code, err) == (1, f"error: --out {tmp_path / 'file'} is a file, not a folder; name a new folder for "
                              "the run\n")
    assert os.listdir(tmp_path / "mine") == ["thesis.tex"] and (tmp_path / "file").read_text() == "x"


def test_a_folder_of_the_users_is_no_run_folder_whatever_its_files_are_called(cli, tmp_path):
    """A folder is a run folder only when a run made it: the user's own spec.yaml and model.keras in
    `--out` stay byte for byte, as any other file of theirs does."""
    (tmp_path / "exp").mkdir()
    mine = "# my notes, kept\n" + open(spec_path("lenet5"), encoding="utf-8").read()
    (tmp_path / "exp" / "spec.yaml").write_text(mine)
    (tmp_path / "exp" / "model.keras").write_bytes(b"my model")
    code, _, err = cli("train", tmp_path / "exp" / "spec.yaml", "--data", "digits", "--out", tmp_path / "exp")
    assert (code, err) == (1, f"error: --out {tmp_path / 'exp'} holds other files (model.keras, spec.yaml); name a "
                              "new or empty folder for the run\n")
    assert sorted(os.listdir(tmp_path / "exp")) == ["model.keras", "spec.yaml"]
    assert (tmp_path / "exp" / "spec.yaml").read_text() == mine
    assert (tmp_path / "exp" / "model.keras").read_bytes() == b"my model"


def test_a_diverged_loss_is_null_in_metrics_json(tmp_path):
    """JSON has no NaN: metrics.json stays readable and says which values diverged."""
    import builder
    from builder.training import run
    x = np.full((60, 4), 1e30, dtype="float32")
    np.savez(tmp_path / "huge.npz", x=x, y=np.arange(60) % 3)
    spec = builder.load_spec(text=SPECS["vec4"].replace("training: {epochs: 1}",
                                                        "training: {epochs: 1, optimizer: {sgd: {learning_rate: 1.0e+10}}}"))
    metrics = run.train(spec, str(tmp_path / "huge.npz"), str(tmp_path / "run"), verbose=0)
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "test_loss" in written["diverged"] and written["test_loss"] is None
    assert metrics["test_loss"] != metrics["test_loss"]          # NaN in Python, null in the file


def test_staging_left_by_a_killed_process_is_removed_by_the_next_write(cli, tmp_path):
    stale = tmp_path / ".m.keras.999999999.0a0a0a0a.builder-staging.keras"    # a PID no process has
    stale.write_text("half a model")
    mine = tmp_path / ".m.keras.notes"
    mine.write_text("not staging")
    code, _, err = cli("build", spec_path("lenet5"), "-o", tmp_path / "m.keras")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path)) == [".m.keras.notes", "m.keras"]


def _pipe(path):
    os.mkfifo(path)
    return "a FIFO (named pipe)"


def _zero(path):
    os.symlink("/dev/zero", path)
    return "a character device"


@pytest.mark.parametrize("make", [_pipe, _zero])
@pytest.mark.parametrize("layout", ["flat", "segmentation"])
def test_predict_refuses_an_image_that_is_no_regular_file(saved_models, cli, tmp_path, make, layout):
    from PIL import Image

    import builder
    if layout == "flat":
        model, folder = saved_models / "ten.keras", tmp_path / "images"
    else:
        model, folder = tmp_path / "masks.keras", tmp_path / "data" / "images"
        builder.build(text="name: masks\ninput: [8, 8, 1]\nlayers: [{conv2d: {filters: 4, kernel_size: 3, "
                           "padding: same}}]\noutput: {units: 3, pool: none}\n").save(model)
    folder.mkdir(parents=True)
    Image.new("L", (8, 8)).save(folder / "a.png")
    what = make(folder / "b.png")
    code, out, err = cli("predict", model, "--data", folder.parent if layout != "flat" else folder,
                         "--out", tmp_path / "p.csv")
    assert (code, out, err) == (1, "", f"{folder / 'b.png'}: error: it is {what}, not an image file\n")
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("make", [_pipe, _zero])
def test_a_class_folder_file_that_is_no_regular_file_is_refused(make, cli, tmp_path):
    from PIL import Image
    for name in ("day", "night"):
        (tmp_path / "data" / name).mkdir(parents=True)
        Image.new("L", (8, 8)).save(tmp_path / "data" / name / "a.png")
    what = make(tmp_path / "data" / "night" / "b.png")
    (tmp_path / "spec.yaml").write_text(SPECS["img"])
    code, _, err = cli("train", tmp_path / "spec.yaml", "--data", tmp_path / "data", "--out", tmp_path / "run")
    assert (code, err) == (1, f"{tmp_path / 'data' / 'night' / 'b.png'}: error: it is {what}, not an image or "
                              ".txt file (what a class folder holds)\n")
    assert not (tmp_path / "run").exists()
