"""Tasks (builder/training/tasks/): declared or inferred, each with its data,
loss and metrics, evaluate and predict; segmentation, causal language
modelling and BERT-style text, end to end from the command line."""

import json
import os

import numpy as np
import pytest
import task_data

import builder
from conftest import spec_path


def run_folder_absent(path):
    return not os.path.exists(path)


# --- the registry and inference -----------------------------------------------------------


def test_every_task_name_has_one_module_and_no_more():
    from builder.spec.training import TASKS
    from builder.training import tasks

    assert set(tasks.TASKS) == set(TASKS)
    with pytest.raises(ValueError, match="registered already"):
        tasks.task("segmentation")
    with pytest.raises(ValueError, match="no task named"):
        tasks.task("detection")


@pytest.mark.parametrize("spec, overrides, expected", [
    ("unet", {"scale": "small"}, "segmentation"),
    ("gpt2", {"scale": "tiny"}, "causal_lm"),
    ("lenet5", {}, "classification"),
    ("lenet5", {"output": {"units": 1, "activation": "sigmoid"}}, "binary"),
    ("lenet5", {"output": {"units": 4, "activation": "sigmoid"}}, "multi_label"),
    ("lenet5", {"output": {"units": 1, "activation": "linear"}}, "regression"),
    ("lenet5", {"training.task": "regression"}, "regression"),
])
def test_the_task_is_inferred_from_the_output_or_declared(spec, overrides, expected):
    from builder.spec.load import load_spec
    from builder.training import tasks

    scale = overrides.pop("scale", None) if "scale" in overrides else None
    loaded = load_spec(spec_path(spec), overrides=overrides, scale=scale)
    model = builder.build(spec_path(spec), overrides=overrides, scale=scale)
    assert tasks.of(loaded, model).name == expected


def test_the_spec_s_loss_and_metrics_replace_the_task_s():
    from builder.spec.load import load_spec
    from builder.training import tasks

    model = builder.build(spec_path("unet"), scale="small")
    own = tasks.of(load_spec(spec_path("unet"), scale="small"), model)
    assert [m.name for m in own.metrics()] == ["accuracy", "mean_iou"] and own.loss().name == (
        "sparse_categorical_crossentropy")
    overrides = {"training.metrics": ["sparse_categorical_accuracy"], "training.loss": "categorical_focal_crossentropy"}
    chosen = tasks.of(load_spec(spec_path("unet"), scale="small", overrides=overrides), model)
    assert chosen.metrics() == ["sparse_categorical_accuracy"] and chosen.loss() == "categorical_focal_crossentropy"


def test_a_task_the_model_cannot_learn_is_a_located_error(write_spec, cli, tmp_path):
    path = write_spec("input: [8, 8, 1]\nlayers:\n  - flatten\noutput: {units: 10}\ntraining:\n  task: segmentation\n")
    code, out, err = cli("train", path, "--data", "digits", "--out", tmp_path / "run", "--epochs", "1")
    assert code == 1
    assert err.strip() == (
        f"{path}:6:3: error: training.task: segmentation needs a per-pixel output over 2 or more classes, "
        "(batch, height, width, classes); this model's output is [None, 10]"
    )
    assert run_folder_absent(tmp_path / "run")


def test_an_unknown_task_names_the_choices(write_spec, cli):
    path = write_spec("input: [8]\nlayers:\n  - dense: 4\noutput: 2\ntraining:\n  task: detection\n")
    code, _, err = cli("validate", path)
    assert code == 1
    assert err.strip() == (f"{path}:6:3: error: training.task: unknown task 'detection'. "
                           "Known: binary, causal_lm, classification, masked_lm, multi_label, multi_output, regression, segmentation, seq2seq, token_classification.")


def test_a_per_position_output_without_a_task_is_a_located_error(write_spec, cli, tmp_path):
    path = write_spec(
        "input: {shape: [6], dtype: int32}\nlayers:\n  - embedding: {input_dim: 20, output_dim: 4}\n"
        "output: {units: 20, pool: none}\n"
    )
    code, _, err = cli("train", path, "--data", "digits", "--out", tmp_path / "run")
    assert code == 1
    assert err.strip().startswith(f"{path}:4:1: error: output: the output predicts for every position of a sequence")


# --- multi-label ------------------------------------------------------------------------


MULTI_LABEL = "name: ml\ninput: [4]\nlayers:\n  - dense: {units: 32, activation: relu}\noutput: {units: 3, activation: sigmoid}\n"


def label_sets(tmp_path, count=300):
    """A CSV of four features whose first three, where positive, name the classes cat, dog and fish."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(count, 4))
    lines = ["a,b,c,d,label"] + [",".join(f"{v:.4f}" for v in row) + "," + "|".join(
        name for name, v in zip(("cat", "dog", "fish"), row) if v > 0) for row in x]
    path = tmp_path / "sets.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, x


def test_multi_label_trains_on_label_sets_and_predicts_above_a_threshold(tmp_path, cli, write_spec):
    spec = write_spec(MULTI_LABEL)
    data, x = label_sets(tmp_path)
    run = tmp_path / "run"
    code, _, err = cli("train", spec, "--data", data, "--epochs", "30", "--out", run, "--quiet")
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_auc"] > 0.9 and metrics["test_accuracy"] > 0.8
    assert json.loads((run / "classes.json").read_text()) == ["cat", "dog", "fish"]
    assert json.loads((run / "run.json").read_text())["task"] == "multi_label"
    code, out, err = cli("predict", run / "model.keras", "--data", data, "--threshold", "0.5")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "index,predicted,probability_cat,probability_dog,probability_fish,label"
    rows = [line.split(",") for line in lines[1:]]
    for row in rows:
        chosen = {name for name, p in zip(("cat", "dog", "fish"), row[2:5]) if float(p) >= 0.5}
        assert set(filter(None, row[1].split("|"))) == chosen
    right = sum(row[1] == row[5] for row in rows)
    assert right / len(rows) > 0.6
    code, out, _ = cli("predict", run / "model.keras", "--data", data, "--threshold", "1")
    assert all(line.split(",")[1] == "" for line in out.splitlines()[1:])
    code, out, err = cli("evaluate", run / "model.keras", "--data", data)
    assert code == 0, err
    assert json.loads(out)["test_auc"] == pytest.approx(metrics["test_auc"], abs=1e-6)


def test_bad_multi_hot_rows_are_one_line(tmp_path, cli, write_spec):
    """Label sets naming more classes than units: tests/bad_data/label_sets_too_many.csv."""
    spec = write_spec(MULTI_LABEL)
    hot = tmp_path / "hot.npz"
    np.savez(hot, x=np.zeros((10, 4), "float32"), y=np.ones((10, 2), "int64"))
    code, _, err = cli("train", spec, "--data", hot, "--out", tmp_path / "run")
    assert (code, err.strip()) == (1, f"{hot}: error: multi-hot labels are rows of 3 zeros and ones (the output's "
                                      "units); y's rows have 2")
    y = np.zeros((10, 3), "int64")
    y[4, 1] = 2
    np.savez(hot, x=np.zeros((10, 4), "float32"), y=y)
    code, _, err = cli("train", spec, "--data", hot, "--out", tmp_path / "run")
    assert (code, err.strip()) == (1, f"{hot}: error: multi-hot labels are zeros and ones; example 4 holds others")
    assert run_folder_absent(tmp_path / "run")


def test_threshold_is_for_multi_label_models_only(tmp_path, cli):
    run = tmp_path / "run"
    path = tmp_path / "spec.yaml"
    path.write_text("input: [8, 8, 1]\nlayers:\n  - flatten\noutput: {units: 10}\n")
    assert cli("train", path, "--data", "digits", "--epochs", "1", "--out", run, "--quiet")[0] == 0
    code, _, err = cli("predict", run / "model.keras", "--data", "digits", "--threshold", "0.3")
    assert (code, err.strip()) == (1, f"error: --threshold: {run / 'model.keras'} was trained for classification; "
                                      "a multi_label model takes it")


# --- segmentation -----------------------------------------------------------------------


def _mask(path, values):
    from PIL import Image

    Image.fromarray(np.asarray(values, "uint8")).save(path)


@pytest.fixture
def seg(tmp_path):
    return task_data.shapes(str(tmp_path / "seg"), count=12)


def test_masks_are_cropped_to_a_smaller_output_and_ignored_pixels_weigh_nothing(seg):
    from builder.spec.load import load_spec
    from builder.training import data, tasks

    text = "input: [64, 64, 3]\nlayers:\n  - conv2d: {filters: 3, kernel_size: 5}\noutput: {units: 3, pool: none}\n"
    loaded = load_spec(text=text + "training: {ignore_index: 2}\n")
    model = builder.build(text=text)
    task = tasks.of(loaded, model)
    read = task.read(seg, data.SplitPlan(), ignore=2)
    task.prepare(read)
    assert read.train.y.shape[1:] == (60, 60) and read.train.weights.shape == read.train.y.shape
    from PIL import Image

    first = os.path.join(seg, "masks", f"{read.train.index[0]:04d}.png")
    full = np.asarray(Image.open(first)).astype("int64")[2:62, 2:62]
    np.testing.assert_array_equal(read.train.weights[0], (full != 2).astype("float32"))
    np.testing.assert_array_equal(read.train.y[0], np.where(full == 2, 0, full))


def test_a_segmentation_folder_may_split_itself(tmp_path):
    from builder.training import data, tasks

    folder = task_data.shapes(str(tmp_path / "seg"), count=10, split=True)
    model = builder.build(spec_path("unet"), scale="small", overrides={"params.width": 4})
    read = tasks.TASKS["segmentation"](model).read(folder, data.SplitPlan(0.5, 0.5, 0))
    assert read.split_by_folders and read.label_masks
    assert (len(read.train.y), len(read.validation.y), len(read.test.y)) == (10, 2, 2)
    assert read.train.x.shape == (10, 64, 64, 3) and read.train.y.shape == (10, 64, 64)


def test_augmentation_moves_masks_with_their_images():
    import keras

    from builder.training.batching import augmented

    x = np.zeros((4, 8, 8, 1), "float32")
    x[:, :, :3] = 1.0  # the left columns are bright, and class 1
    y = (x[..., 0] > 0).astype("int32")
    flip = keras.layers.RandomFlip("horizontal", seed=3)
    outs = [augmented([flip], (x, y), masks=True) for _ in range(4)]
    for images, masks in outs:
        np.testing.assert_array_equal(np.asarray(images)[..., 0] > 0, np.asarray(masks) == 1)
    assert any((np.asarray(m)[:, :, -1] == 1).all(axis=1).any() for _, m in outs)  # some were flipped


@pytest.mark.slow
def test_unet_trains_evaluates_and_writes_one_mask_per_image(tmp_path, cli):
    import keras
    from PIL import Image

    seg = task_data.shapes(str(tmp_path / "seg"), count=400)
    run = tmp_path / "run"
    code, out, err = cli("train", spec_path("unet"), "--scale", "small", "--data", seg, "--epochs", "8",
                         "--batch-size", "16", "--out", run)
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_mean_iou"] >= 0.6 and "test_accuracy" in metrics
    assert json.loads((run / "run.json").read_text())["task"] == "segmentation"
    # evaluate's mean IoU is keras.metrics.MeanIoU's on the same predictions
    code, out, _ = cli("evaluate", run / "model.keras", "--data", seg)
    evaluated = json.loads(out)
    assert evaluated["test_mean_iou"] == pytest.approx(metrics["test_mean_iou"], abs=1e-6)
    new = tmp_path / "new"
    new.mkdir()
    for name in ("0001.png", "0002.png", "0005.png"):
        (new / name).write_bytes((tmp_path / "seg" / "images" / name).read_bytes())
    code, out, err = cli("predict", run / "model.keras", "--data", new, "-o", tmp_path / "masks")
    assert code == 0, err
    assert out.strip() == f"wrote 3 masks to {tmp_path / 'masks'}/"
    assert sorted(os.listdir(tmp_path / "masks")) == ["0001.png", "0002.png", "0005.png"]
    written = np.asarray(Image.open(tmp_path / "masks" / "0002.png"))
    assert written.shape == (64, 64) and written.max() < 3
    model = keras.saving.load_model(run / "model.keras")
    image = np.asarray(Image.open(new / "0002.png").convert("RGB"), "float32")[None] / 255
    np.testing.assert_array_equal(written, model.predict(image, verbose=0)[0].argmax(-1))
    truth = np.asarray(Image.open(tmp_path / "seg" / "masks" / "0002.png"))
    reference = keras.metrics.MeanIoU(num_classes=3)
    reference.update_state(truth, written)
    assert float(reference.result()) >= 0.6
    code, _, err = cli("predict", run / "model.keras", "--data", new)
    assert code == 1 and "name the folder to write them to with -o FOLDER" in err
    before = sorted(os.listdir(tmp_path / "masks"))
    code, _, err = cli("predict", run / "model.keras", "--data", new, "-o", tmp_path / "masks")
    assert (code, err.strip()) == (1, f"error: {tmp_path / 'masks'} already exists; choose another name, or pass "
                                      "--overwrite to replace it")
    assert sorted(os.listdir(tmp_path / "masks")) == before


# --- causal language models ---------------------------------------------------------------


def test_gpt2_causal_lm_loss_is_keras_hubs():
    """The task's loss on the GPT-2 spec equals keras_hub.models.GPT2CausalLM's on the same batch and weights."""
    import keras_hub
    from test_transformer_zoo import gpt2_inputs, small_gpt2

    from builder.training import tasks

    reference, built = small_gpt2()
    inputs = gpt2_inputs()
    inputs["padding_mask"] = np.ones_like(inputs["padding_mask"])  # windows are never padded
    labels = np.roll(inputs["token_ids"], -1, axis=1)
    lm = keras_hub.models.GPT2CausalLM(backbone=reference, preprocessor=None)
    lm.compile()
    expected = float(lm.loss(labels, lm.predict(inputs, verbose=0)))
    task = tasks.TASKS["causal_lm"](built)
    ours = float(task.loss()(labels, built.predict(inputs, verbose=0)))
    assert ours == pytest.approx(expected, abs=1e-5)
    assert expected > 1.0


def test_a_corpus_is_cut_into_shifted_windows(tmp_path):
    from builder.spec.load import load_spec
    from builder.training import data, tasks
    from builder.training.text import Tokenizer

    path = task_data.corpus(str(tmp_path / "corpus.txt"), sentences=300)
    loaded = load_spec(spec_path("gpt2"), scale="tiny", overrides={"training.test_split": 0})
    model = builder.build(spec_path("gpt2"), scale="tiny")
    task = tasks.of(loaded, model)
    name, parts = tasks.causal_lm.corpus_splits(path, data.SplitPlan(0.1, 0.0, 0))
    tokenizer = Tokenizer.learn([p for p, _ in parts["train"]], 2048)
    windows = task.windows(name, parts, tokenizer, 16)
    train = windows.train
    assert set(train.x) == {"token_ids", "padding_mask"}
    assert train.x["token_ids"].shape[1] == 16 and (train.x["padding_mask"] == 1).all()
    np.testing.assert_array_equal(train.x["token_ids"][:, 1:], train.y[:, :-1])
    assert windows.validation is not None and windows.test is None
    assert tokenizer.text(train.x["token_ids"][0][:3]).split()[0] in ("the", ".", "cat", "dog", "bird", "fish",
                                                                      "horse", "sheep", "garden", "house")


@pytest.mark.slow
def test_gpt2_tiny_trains_on_text_and_generates_its_words(tmp_path, cli):
    corpus = task_data.corpus(str(tmp_path / "corpus.txt"))
    run = tmp_path / "run"
    code, _, err = cli("train", spec_path("gpt2"), "--scale", "tiny", "--data", corpus, "--epochs", "3", "--out", run)
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_perplexity"] <= 5.0
    assert np.exp(metrics["test_loss"]) == pytest.approx(metrics["test_perplexity"], rel=1e-3)
    assert set(json.loads((run / "tokenizer.json").read_text())["vocabulary"][:6]) == {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[EOS]"}
    code, out, err = cli("generate", run / "model.keras", "--prompt", "the cat", "--max-length", "12")
    assert code == 0, err
    words = out.split()
    assert words[:2] == ["the", "cat"] and len(words) > 4
    vocabulary = set(open(corpus).read().split())
    assert set(words) <= vocabulary
    code, out, err = cli("generate", run / "model.keras", "--prompt", "the cat", "--max-length", "100")
    assert code == 1 and err.strip() == (
        "error: --max-length 100: the model was trained on windows of 64 tokens; ask for at most 64")
    code, out, err = cli("evaluate", run / "model.keras", "--data", corpus)
    assert json.loads(out)["test_perplexity"] == pytest.approx(metrics["test_perplexity"], rel=1e-4)


TINIER_GPT2 = ["--scale", "tiny", "--set", "layers.token_embedding.output_dim=16",
               "--set", "layers.transformer_layer_.intermediate_dim=16", "--set", "layers.transformer_layer_.repeat=1",
               "--set", "layers.position_embedding.sequence_length=8"]


@pytest.fixture(scope="module")
def small_lm(tmp_path_factory):
    """A language model trained for one epoch on 300 sentences: (its run folder, the corpus)."""
    from builder.cli import main

    folder = tmp_path_factory.mktemp("lm")
    corpus = task_data.corpus(str(folder / "corpus.txt"), sentences=300)
    assert main(["train", spec_path("gpt2"), *TINIER_GPT2, "--data", corpus, "--epochs", "1",
                 "--out", str(folder / "run"), "--quiet"]) == 0
    return folder / "run", corpus


def test_a_language_model_generates_and_evaluates(small_lm, cli):
    run, corpus = small_lm
    record = json.loads((run / "run.json").read_text())
    assert record["task"] == "causal_lm" and record["sequence_length"] == 8
    code, out, err = cli("generate", run / "model.keras", "--prompt", "the dog", "--max-length", "8")
    assert code == 0, err
    assert out.split()[:2] == ["the", "dog"]
    code, out, err = cli("evaluate", run / "model.keras", "--data", corpus)
    assert code == 0, err
    assert json.loads(out)["test_perplexity"] == pytest.approx(
        json.loads((run / "metrics.json").read_text())["test_perplexity"], rel=1e-4)


def test_generate_refuses_what_it_cannot_do_in_one_line(small_lm, cli, tmp_path):
    import shutil

    run, _ = small_lm
    model = run / "model.keras"
    cases = [
        (("--max-length", "9"), "error: --max-length 9: the model was trained on windows of 8 tokens; ask for at most 8"),
        (("--prompt", "the dog sat in the garden . the cat", "--max-length", "6"),
         "error: --max-length 6: the prompt is 9 tokens already"),
    ]
    for extra, expected in cases:
        code, _, err = cli("generate", model, "--prompt", "the dog", *extra)
        assert (code, err.strip()) == (1, expected)
    with pytest.raises(SystemExit) as exited:  # a usage error: argparse's exit status 2
        cli("generate", model, "--prompt", "x", "--sampler", "nucleus")
    assert exited.value.code == 2
    copy = tmp_path / "copy"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("checkpoint", "logs"))
    (copy / "tokenizer.json").write_text('{"kind": "word_piece", "vocabulary": ["the", "[PAD]"]}')
    code, _, err = cli("generate", copy / "model.keras", "--prompt", "the dog")
    assert (code, err.strip()) == (1, f"{copy / 'tokenizer.json'}: error: a vocabulary's first token is [PAD] "
                                      "(id 0 pads), then one token per line")
    (copy / "tokenizer.json").write_text('{"kind": "word_pie')
    code, _, err = cli("generate", copy / "model.keras", "--prompt", "the dog")
    assert code == 1 and err.startswith(f"{copy / 'tokenizer.json'}: error: not a JSON file as its training run "
                                        "writes it") and err.count("\n") == 1
    (copy / "tokenizer.json").unlink()
    code, _, err = cli("generate", copy / "model.keras", "--prompt", "the dog")
    assert (code, err.strip()) == (1, f"{copy / 'model.keras'}: error: no tokenizer.json beside the model "
                                      "(its training run writes one)")
    code, _, err = cli("predict", model, "--data", small_lm[1])
    assert (code, err.strip()) == (1, f"error: {model} is a language model: continue a prompt with "
                                      f"`generate {model} --prompt TEXT`")


def test_generate_on_a_model_of_another_task_is_one_line(tmp_path, cli):
    run = tmp_path / "run"
    path = tmp_path / "spec.yaml"
    path.write_text("input: [8, 8, 1]\nlayers:\n  - flatten\noutput: {units: 10}\n")
    assert cli("train", path, "--data", "digits", "--epochs", "1", "--out", run, "--quiet")[0] == 0
    code, _, err = cli("generate", run / "model.keras", "--prompt", "the")
    assert (code, err.strip()) == (1, f"error: {run / 'model.keras'} was trained for classification, not as a "
                                      "language model (training.task: causal_lm)")


def test_a_resumed_language_model_keeps_its_tokenizer(small_lm, cli, tmp_path):
    """tokenizer.json is written as the data is read: a resumed run reads it rather than learning anew."""
    import shutil

    run, corpus = small_lm
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    written = json.loads((copy / "tokenizer.json").read_text())
    code, out, err = cli("train", spec_path("gpt2"), *TINIER_GPT2, "--data", corpus, "--epochs", "2", "--out", copy,
                         "--resume", "--quiet")
    assert code == 0, err
    assert json.loads((copy / "tokenizer.json").read_text()) == written


@pytest.mark.parametrize("content, expected", [
    (None, "error: --vocabulary '{path}': no such file"),
    ("[UNK]\n[PAD]\nthe\n", "{path}: error: a vocabulary's first token is [PAD] (id 0 pads), then one token per line"),
    ("[PAD]\nthe\n", "{path}: error: a vocabulary needs the token [UNK] (for words outside it)"),
    ("[PAD]\n[UNK]\nthe\n\nthe\n", "{path}:5: error: the token 'the' is listed twice (first on line 3)"),
    ("[PAD]\n[UNK]\n" + "\n".join(f"w{i}" for i in range(2100)),
     "{path}: error: the vocabulary has 2102 tokens, but the token embedding takes 2048"),
])
def test_a_bad_vocabulary_file_is_one_line_and_writes_nothing(tmp_path, cli, content, expected):
    path = tmp_path / "vocab.txt"
    if content is not None:
        path.write_text(content)
    corpus = task_data.corpus(str(tmp_path / "corpus.txt"), sentences=50)
    code, _, err = cli("train", spec_path("gpt2"), *TINIER_GPT2, "--data", corpus, "--vocabulary", path,
                       "--out", tmp_path / "run")
    assert (code, err.strip()) == (1, expected.format(path=path))
    assert run_folder_absent(tmp_path / "run")


def test_a_vocabulary_for_a_run_without_text_is_refused(tmp_path, cli):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n")
    code, _, err = cli("train", spec_path("lenet5"), "--data", "digits", "--vocabulary", path, "--out", tmp_path / "run")
    assert (code, err.strip()) == (1, f"error: --vocabulary {path}: this run tokenizes no text (a language model, or "
                                      "a spec with token_ids and padding_mask inputs, does)")
    assert run_folder_absent(tmp_path / "run")


def test_a_vocabulary_file_is_the_tokenizer(tmp_path, cli):
    vocabulary = ["[PAD]", "[UNK]", "[EOS]", "the", "cat", "dog", "sat", "in", "."]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocabulary) + "\n")
    corpus = task_data.corpus(str(tmp_path / "corpus.txt"), sentences=60)
    run = tmp_path / "run"
    code, _, err = cli("train", spec_path("gpt2"), *TINIER_GPT2, "--data", corpus, "--vocabulary", path,
                       "--epochs", "1", "--out", run, "--quiet")
    assert code == 0, err
    assert json.loads((run / "tokenizer.json").read_text())["vocabulary"] == vocabulary


# --- BERT on raw text -----------------------------------------------------------------------


@pytest.mark.slow
def test_bert_tiny_fine_tunes_on_raw_texts_and_pairs(tmp_path, cli):
    reviews = task_data.reviews(str(tmp_path / "reviews.csv"))
    run = tmp_path / "run"
    code, _, err = cli("train", spec_path("bert_tiny"), "--data", reviews, "--epochs", "3", "--out", run)
    assert code == 0, err
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] >= 0.9
    record = json.loads((run / "run.json").read_text())
    assert record["task"] == "classification" and record["text_pairs"] is False
    new = tmp_path / "new.csv"
    new.write_text("text\nwhat a wonderful film\nan awful story\n")
    code, out, err = cli("predict", run / "model.keras", "--data", new)
    assert code == 0, err
    assert [line.split(",")[:2] for line in out.splitlines()] == [["line", "predicted"], ["2", "1"], ["3", "0"]]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(new.read_text().replace("text\n", "text_a,text_b\n").replace("film\n", "film,a film\n")
                     .replace("story\n", "story,a story\n"))
    code, _, err = cli("predict", run / "model.keras", "--data", pairs)
    assert code == 1 and err.strip() == f"{pairs}: error: the model was trained on single texts: give a `text` column"

    pairs_csv = task_data.pairs(str(tmp_path / "animals.csv"), count=3000)
    run2 = tmp_path / "pairs_run"
    code, _, err = cli("train", spec_path("bert_tiny"), "--data", pairs_csv, "--epochs", "10", "--out", run2,
                       "--set", "training.optimizer={adam: {learning_rate: 0.0003}}")
    assert code == 0, err
    assert json.loads((run2 / "metrics.json").read_text())["test_accuracy"] >= 0.7
    assert json.loads((run2 / "run.json").read_text())["text_pairs"] is True


@pytest.mark.slow
def test_a_text_column_alone_is_never_read_as_labels(tmp_path, cli):
    """predict on a CSV with only a `text` column: every row is an example to predict."""
    reviews = task_data.reviews(str(tmp_path / "reviews.csv"))
    run = tmp_path / "run"
    code, _, err = cli("train", spec_path("lstm_text"), "--data", reviews, "--epochs", "1", "--out", run)
    assert code == 0, err
    new = tmp_path / "new.csv"
    new.write_text("text\na wonderful film\nan awful story\nthe actors spoke\n")
    code, out, err = cli("predict", run / "model.keras", "--data", new)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "input,predicted,probability" and [line.split(",")[0] for line in lines[1:]] == ["2", "3", "4"]


# --- several outputs (`outputs:`) and several inputs ---------------------------------------------


TWO_OUTPUTS = (
    "name: digits_parity\ninput: [64]\nlayers:\n  - dense: {units: 64, activation: relu, name: hidden}\n"
    "  - dense: {units: 32, activation: relu}\n"
    "outputs:\n  digit: {units: 10}\n  parity: {units: 2, loss_weight: 0.5, input: hidden}\n"
)


def digits_and_parity(path, count=None):
    """scikit-learn's digits as 64 features scaled to [0, 1], with each digit and its parity."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, digit = (digits.data / 16).astype("float32")[:count], digits.target[:count]
    np.savez(path, x=x, digit=digit, parity=digit % 2)
    return x, digit


def test_named_outputs_are_the_hand_written_keras_model(write_spec):
    keras = pytest.importorskip("keras")
    model = builder.build(write_spec(TWO_OUTPUTS))
    x = keras.Input((64,))
    hidden = keras.layers.Dense(64, activation="relu")(x)
    features = keras.layers.Dense(32, activation="relu")(hidden)
    reference = keras.Model(x, [keras.layers.Dense(10, activation="softmax")(features),
                                keras.layers.Dense(2, activation="softmax")(hidden)])
    assert model.output_names == ["digit", "parity"]
    assert [tuple(t.shape) for t in model.outputs] == [(None, 10), (None, 2)]
    assert model.count_params() == reference.count_params() == 64 * 64 + 64 + 64 * 32 + 32 + 33 * 10 + 65 * 2
    reference.set_weights(model.get_weights())
    batch = np.random.default_rng(0).random((4, 64)).astype("float32")
    for ours, theirs in zip(model.predict(batch, verbose=0), reference.predict(batch, verbose=0)):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_digits_and_their_parity_train_each_with_its_metrics_and_weight(tmp_path, cli, write_spec):
    spec, data, run = write_spec(TWO_OUTPUTS), tmp_path / "dp.npz", tmp_path / "run"
    _, digit = digits_and_parity(data)
    # 270 test examples: a batch size that divides them, so that Keras's total loss is the weighted sum exactly
    code, _, err = cli("train", spec, "--data", data, "--epochs", "8", "--batch-size", "30", "--out", run, "--quiet")
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_digit_accuracy"] > 0.85 and metrics["test_parity_accuracy"] > 0.8
    assert metrics["test_loss"] == pytest.approx(metrics["test_digit_loss"] + 0.5 * metrics["test_parity_loss"], 1e-4)
    record = json.loads((run / "run.json").read_text())
    assert record["task"] == "multi_output"
    assert record["outputs"] == {"digit": "classification", "parity": "classification"}
    assert record["loss_weights"] == {"digit": 1.0, "parity": 0.5}
    code, out, err = cli("evaluate", run / "model.keras", "--data", data)
    assert code == 0, err
    evaluated = json.loads(out)
    assert evaluated["examples"] == 270
    for key in ("test_digit_accuracy", "test_parity_accuracy", "test_loss"):
        assert evaluated[key] == pytest.approx(metrics[key], abs=1e-5)
    code, out, err = cli("predict", run / "model.keras", "--data", data)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "index,digit,digit_probability,digit_label,parity,parity_probability,parity_label"
    rows = [line.split(",") for line in lines[1:]]
    assert [int(row[0]) for row in rows] == list(range(len(digit)))
    assert all(row[3] == str(d) and row[6] == str(d % 2) for row, d in zip(rows, digit))
    assert sum(row[1] == row[3] for row in rows) / len(rows) > 0.85
    unlabelled = tmp_path / "new.npz"
    np.savez(unlabelled, x=np.load(data)["x"][:5])
    code, out, err = cli("predict", run / "model.keras", "--data", unlabelled)
    assert code == 0, err
    assert out.splitlines()[0] == "index,digit,digit_probability,parity,parity_probability"
    assert [line.split(",")[1] for line in out.splitlines()[1:]] == [row[1] for row in rows[:5]]


def test_outputs_from_csv_columns_name_their_classes_and_learn_numbers(tmp_path, cli, write_spec):
    """A CSV: each output's labels in the column named after it (class names, or numbers for a linear output)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    colours = np.array(["red", "green", "blue"])[np.argmax(x, axis=1)]
    size = 2 * x[:, 0] - x[:, 1]
    data = tmp_path / "things.csv"
    data.write_text("a,b,c,colour,size\n" + "".join(
        f"{a:.4f},{b:.4f},{c:.4f},{k},{s:.4f}\n" for (a, b, c), k, s in zip(x, colours, size)))
    spec = write_spec("input: [3]\nlayers:\n  - dense: {units: 32, activation: relu}\noutputs:\n"
                      "  colour: 3\n  size: {units: 1, activation: linear, metrics: [mae, mse]}\n")
    run = tmp_path / "run"
    code, _, err = cli("train", spec, "--data", data, "--epochs", "40", "--out", run, "--quiet")
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_colour_accuracy"] > 0.8 and metrics["test_size_mae"] < 0.5
    assert "test_size_mse" in metrics and "test_size_accuracy" not in metrics
    assert json.loads((run / "classes.json").read_text()) == {"colour": ["blue", "green", "red"]}
    assert json.loads((run / "run.json").read_text())["outputs"] == {"colour": "classification", "size": "regression"}
    code, out, err = cli("predict", run / "model.keras", "--data", data)
    assert code == 0, err
    header, *rows = [line.split(",") for line in out.splitlines()]
    assert header == ["index", "colour", "colour_probability", "colour_label", "size", "size_label"]
    assert sum(row[1] == row[3] for row in rows) / len(rows) > 0.8
    assert np.mean([abs(float(row[4]) - float(row[5])) for row in rows]) < 0.5


def test_several_inputs_read_arrays_named_after_them(tmp_path, cli, write_spec):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 3)).astype("float32"), rng.normal(size=(300, 1)).astype("float32")
    data = tmp_path / "two.npz"
    np.savez(data, a=a, b=b, y=(a[:, 0] + b[:, 0] > 0).astype("int64"))
    spec = write_spec("inputs: {a: [3], b: [1]}\nlayers:\n  - concatenate: {inputs: [a, b]}\n"
                      "  - dense: {units: 16, activation: relu}\noutput: 2\n")
    run = tmp_path / "run"
    code, _, err = cli("train", spec, "--data", data, "--epochs", "20", "--out", run, "--quiet")
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.85
    code, out, err = cli("evaluate", run / "model.keras", "--data", data)
    assert code == 0, err
    assert json.loads(out)["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    code, out, err = cli("predict", run / "model.keras", "--data", data)
    assert code == 0, err
    assert out.splitlines()[0] == "index,predicted,probability,label" and len(out.splitlines()) == 301
    code, _, err = cli("train", spec, "--data", "digits", "--out", tmp_path / "other")
    assert code == 1 and err.startswith("error: --data 'digits': a spec with several inputs (a, b) trains on a .npz")


def test_ignored_pixels_count_in_neither_the_loss_nor_the_metrics():
    """Keras weighs only `weighted_metrics` by sample weights: a pixel of ignore_index is left out of pixel
    accuracy and mean IoU too, which equal Keras's metrics on the other pixels alone."""
    import keras

    from builder.spec.load import load_spec
    from builder.training import tasks
    from builder.training.compile import compile_model

    text = "name: seg\ninput: [4, 4, 3]\nlayers:\n  - conv2d: {filters: 3, kernel_size: 1}\noutput: {units: 3, pool: none}\n"
    model = builder.build(text=text)
    compile_model(model, load_spec(text=text + "training: {ignore_index: 255}\n"),
                  tasks.of(load_spec(text=text), model))
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 4, 4, 3)).astype("float32"), rng.integers(0, 3, (8, 4, 4))
    weights = (rng.random((8, 4, 4)) > 0.5).astype("float32")
    results = model.evaluate(x, y, sample_weight=weights, batch_size=8, return_dict=True, verbose=0)
    predicted = model.predict(x, verbose=0)
    kept = weights.astype(bool)
    assert results["accuracy"] == pytest.approx(float(np.mean(predicted.argmax(-1)[kept] == y[kept])), abs=1e-6)
    iou = keras.metrics.MeanIoU(num_classes=3, sparse_y_pred=False)
    iou.update_state(y[kept], predicted[kept])
    assert results["mean_iou"] == pytest.approx(float(iou.result()), abs=1e-5)
    assert results["accuracy"] != pytest.approx(float(np.mean(predicted.argmax(-1) == y)), abs=1e-3)


# --- masked language models ------------------------------------------------------------------


MLM_SMALL = {"layers.token_embedding.input_dim": 50, "layers.token_embedding.output_dim": 8,
             "layers.position_embedding.sequence_length": 16, "layers.transformer_layer_.num_heads": 2,
             "layers.transformer_layer_.intermediate_dim": 16, "layers.transformer_layer_.repeat": 1,
             "layers.segment_embedding.output_dim": 8, "layers.mlm_intermediate_dense.units": 8}


def test_bert_masked_lm_is_keras_hubs_bert_masked_lm():
    """specs/bert_tiny_mlm.yaml at a small size computes keras_hub's BertMaskedLM (less its unused pooler):
    the same logits at the masked positions and the same loss on the same batch and weights."""
    import keras_hub
    from weights import weighted_layers

    from builder.training import tasks

    backbone = keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
                                             intermediate_dim=16, max_sequence_length=16, num_segments=2)
    reference = keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None)
    built = builder.build(spec_path("bert_tiny_mlm"), overrides=MLM_SMALL)
    pooler = backbone.get_layer("pooled_dense").count_params()
    assert built.count_params() == reference.count_params() - pooler
    rng = np.random.default_rng(2)
    for layer in weighted_layers(backbone) + [reference.masked_lm_head]:
        layer.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in layer.get_weights()])
    ours = weighted_layers(built)
    for source, target in zip([layer for layer in weighted_layers(backbone) if layer.name != "pooled_dense"], ours):
        target.set_weights(source.get_weights())
    head = reference.masked_lm_head
    built.get_layer("mlm_intermediate_dense").set_weights(head._intermediate_dense.get_weights())
    built.get_layer("mlm_layer_norm").set_weights(head._intermediate_layer_norm.get_weights())
    built.get_layer("mlm_logits_bias").set_weights([np.asarray(head._bias)])
    token_ids = rng.integers(1, 50, (3, 12)).astype("int32")
    padding_mask = np.ones_like(token_ids)
    padding_mask[2, 9:] = 0
    inputs = {"token_ids": token_ids * padding_mask, "segment_ids": np.zeros_like(token_ids),
              "padding_mask": padding_mask, "mask_positions": np.array([[1, 4, 0], [2, 3, 7], [5, 0, 0]], "int32")}
    labels = rng.integers(0, 50, (3, 3)).astype("int32")
    weights = np.array([[1, 1, 0], [1, 1, 1], [1, 0, 0]], "float32")
    expected, got = reference.predict(inputs, verbose=0), built.predict(inputs, verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    reference.compile()
    task = tasks.TASKS["masked_lm"](built)
    assert float(task.loss()(labels, got, sample_weight=weights)) == pytest.approx(
        float(reference.loss(labels, expected, sample_weight=weights)), abs=1e-5)
    assert float(reference.loss(labels, expected, sample_weight=weights)) > 1.0


def test_masking_follows_bert_15_percent_then_80_10_10():
    from builder.training import text
    from builder.training.tasks.masked_lm import MASK_SHARE, mask

    tokenizer = text.Tokenizer([*text.RESERVED, *[f"w{i}" for i in range(94)]])
    cls, sep, mask_id = tokenizer.id(text.CLS), tokenizer.id(text.SEP), tokenizer.id(text.MASK)
    sequences = np.zeros((4000, 64), "int32")
    sequences[:, 0], sequences[:, 1:61], sequences[:, 61] = cls, np.random.default_rng(0).integers(6, 100, (4000, 60)), sep
    masked, positions, ids, weights = mask(np.random.default_rng(1), sequences, tokenizer)
    assert positions.shape == (4000, round(64 * MASK_SHARE))
    chosen = weights.astype(bool)
    assert chosen.sum() / (4000 * 60) == pytest.approx(0.15, abs=0.005)      # of the 60 tokens; never [CLS], [SEP], pad
    rows = np.repeat(np.arange(4000)[:, None], positions.shape[1], 1)
    at = positions[chosen], rows[chosen]
    assert set(np.unique(sequences[at[1], at[0]])) <= set(range(6, 100))
    np.testing.assert_array_equal(ids[chosen], sequences[at[1], at[0]])
    now = masked[at[1], at[0]]
    assert np.mean(now == mask_id) == pytest.approx(0.8, abs=0.01)
    kept = np.mean(now == ids[chosen])
    assert kept == pytest.approx(0.1 + 0.1 / 100, abs=0.01)          # kept, or a random token that is the same
    assert set(np.unique(now)) <= set(range(100))                    # random tokens come from the vocabulary
    untouched = np.ones_like(sequences, bool)
    untouched[at[1], at[0]] = False
    np.testing.assert_array_equal(masked[untouched], sequences[untouched])
    again = mask(np.random.default_rng(1), sequences, tokenizer)
    assert all(np.array_equal(a, b) for a, b in zip(again, (masked, positions, ids, weights)))


@pytest.mark.slow
def test_bert_tiny_learns_masked_tokens_and_fills_masks(tmp_path, cli):
    corpus = task_data.corpus(tmp_path / "corpus.txt")
    run = tmp_path / "run"
    code, _, err = cli("train", spec_path("bert_tiny_mlm"), "--data", corpus, "--epochs", "20", "--out", run,
                       "--set", "training.sequence_length=32", "--quiet")
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.4          # "the", the likeliest token, is under 30% of those masked
    assert json.loads((run / "run.json").read_text())["task"] == "masked_lm"
    assert json.loads((run / "tokenizer.json").read_text())["vocabulary"][:6] == [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[EOS]"]
    code, out, err = cli("evaluate", run / "model.keras", "--data", corpus)
    assert code == 0, err
    assert json.loads(out)["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    lines = tmp_path / "fill.txt"
    lines.write_text("the cat sat in the [MASK] .\n\nthe [MASK] ran to the [MASK] .\n")
    code, out, err = cli("predict", run / "model.keras", "--data", lines, "--top-k", "5")
    assert code == 0, err
    header, *rows = [line.split(",") for line in out.splitlines()]
    assert header[:4] == ["line", "mask", "predicted", "probability"] and len(header) == 12
    assert [row[:2] for row in rows] == [["1", "1"], ["3", "1"], ["3", "2"]]
    places = {place.split()[1] for place in task_data.PLACES}
    assert places & set(rows[0][2::2]) and places & set(rows[2][2::2])


def test_masked_lm_refuses_a_model_or_text_it_cannot_use(tmp_path, cli, write_spec):
    corpus = task_data.corpus(tmp_path / "corpus.txt", sentences=200)
    code, _, err = cli("train", spec_path("bert_tiny"), "--data", corpus, "--set", "training.task=masked_lm",
                       "--out", tmp_path / "run")
    assert code == 1 and err.startswith(f"{spec_path('bert_tiny')}:") and (
        "error: training.task: masked_lm needs inputs token_ids and mask_positions") in err
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\ncat\n")
    code, _, err = cli("train", spec_path("bert_tiny_mlm"), "--data", corpus, "--vocabulary", vocabulary,
                       "--out", tmp_path / "run")
    assert (code, err) == (1, f"{corpus}: error: the vocabulary has no [MASK] token; a masked language model needs it\n")
    assert run_folder_absent(tmp_path / "run")


# --- token classification ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_bilstm_tagger_learns_named_entities_from_conll_lines(tmp_path, cli):
    data = task_data.conll(tmp_path / "ner.txt")
    run = tmp_path / "run"
    code, _, err = cli("train", spec_path("bilstm_tagger"), "--data", data, "--epochs", "6", "--out", run, "--quiet")
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.9                    # "O", the commonest tag, is 5 words of 9 or 10
    assert json.loads((run / "classes.json").read_text()) == ["B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "O"]
    vocabulary = json.loads((run / "vocabulary.json").read_text())
    assert vocabulary[:2] == ["", "[UNK]"] and "Anna" in vocabulary and "-DOCSTART-" not in vocabulary
    assert json.loads((run / "run.json").read_text())["task"] == "token_classification"
    code, out, err = cli("evaluate", run / "model.keras", "--data", data)
    assert code == 0, err
    assert json.loads(out)["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    new = tmp_path / "new.txt"
    new.write_text("Anna\nworks\nfor\nHooli\nin\nRome\n.\n\nin\nOslo\n,\nChen\nmet\nthe\nAcme\n.\n")
    code, out, err = cli("predict", run / "model.keras", "--data", new)
    assert code == 0, err
    header, *rows = [line.split(",") for line in out.splitlines()]
    assert header == ["line", "position", "word", "predicted", "probability"]
    assert [row[:3] for row in rows[:2]] == [["1", "1", "Anna"], ["1", "2", "works"]] and rows[8][:3] == ["9", "2", "Oslo"]
    expected = ["B-PER", "O", "O", "B-ORG", "O", "B-LOC", "O", "O", "B-LOC", "O", "B-PER", "O", "O", "B-ORG", "O"]
    assert sum(row[3] == tag for row, tag in zip(rows, expected)) >= 13
    new.write_text("Anna B-PER\nworks\n")
    code, _, err = cli("predict", run / "model.keras", "--data", new)
    assert (code, err) == (1, f"{new}:2: error: some words have a tag and others not; give every word one, or none\n")


# --- sequence to sequence ---------------------------------------------------------------------


def test_seq2seq_teacher_forcing_shifts_the_target_by_one(tmp_path):
    from builder.spec.load import load_spec
    from builder.training import tasks, text

    spec = load_spec(spec_path("transformer_seq2seq"), scale="tiny")
    model = builder.build(spec_path("transformer_seq2seq"), scale="tiny")
    task = tasks.of(spec, model)
    tokenizer = text.Tokenizer([*text.RESERVED, "el", "gato", "the", "cat"])
    split = task.encoded([[8, 9]], [[6, 7]], tokenizer, (3, 4))
    start, end = tokenizer.id(text.CLS), tokenizer.id(text.EOS)
    np.testing.assert_array_equal(split.x["encoder_token_ids"], [[8, 9, 0]])
    np.testing.assert_array_equal(split.x["encoder_padding_mask"], [[1, 1, 0]])
    np.testing.assert_array_equal(split.x["decoder_token_ids"], [[start, 6, 7, 0]])
    np.testing.assert_array_equal(split.x["decoder_padding_mask"], [[1, 1, 1, 0]])
    np.testing.assert_array_equal(split.y, [[6, 7, end, 0]])
    np.testing.assert_array_equal(split.weights, [[1, 1, 1, 0]])


@pytest.mark.slow
def test_a_transformer_learns_to_translate_and_writes_targets(tmp_path, cli):
    data = task_data.translations(tmp_path / "pairs.csv")
    run = tmp_path / "run"
    code, _, err = cli("train", spec_path("transformer_seq2seq"), "--scale", "tiny", "--data", data, "--epochs", "10",
                       "--out", run, "--quiet")
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.95 and metrics["test_perplexity"] < 1.5
    record = json.loads((run / "run.json").read_text())
    assert record["task"] == "seq2seq" and record["sequence_length"] == [6, 7]
    code, out, err = cli("evaluate", run / "model.keras", "--data", data)
    assert code == 0, err
    assert json.loads(out)["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    code, out, err = cli("generate", run / "model.keras", "--prompt", "the horse slept in the barn")
    assert (code, out) == (0, "granero el en durmio caballo el\n"), err
    new = tmp_path / "new.csv"
    new.write_text("source\nthe fish played in the field\nthe bird looked at the park\n")
    code, out, err = cli("predict", run / "model.keras", "--data", new)
    assert code == 0, err
    assert out.splitlines() == ["line,source,predicted", "2,the fish played in the field,campo el en jugo pez el",
                                "3,the bird looked at the park,parque el hacia miro pajaro el"]
    code, _, err = cli("generate", run / "model.keras", "--prompt", "the cat", "--max-length", "7")
    assert (code, err) == (1, "error: --max-length 7: the model was trained on targets of 6 tokens; ask for at most 6\n")


def test_seq2seq_pairs_need_a_source_and_a_target(tmp_path, cli):
    data = tmp_path / "pairs.csv"
    data.write_text("source,target\nthe cat,el gato\nthe dog,\n")
    code, _, err = cli("train", spec_path("transformer_seq2seq"), "--scale", "tiny", "--data", data,
                       "--out", tmp_path / "run")
    assert (code, err) == (1, f"{data}:3: error: the target is empty\n")
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text('{"source": "the cat", "target": "el gato"}\n\n{"source": "the dog"}\n')
    code, _, err = cli("train", spec_path("transformer_seq2seq"), "--scale", "tiny", "--data", jsonl,
                       "--out", tmp_path / "run")
    assert (code, err) == (1, f"{jsonl}:3: error: a pair needs a target (a `target` column, or a \"target\" string)\n")
    data.write_text("text,target\nthe cat,el gato\n")
    code, _, err = cli("train", spec_path("transformer_seq2seq"), "--scale", "tiny", "--data", data,
                       "--out", tmp_path / "run")
    assert (code, err) == (1, f"{data}:1: error: no `source` column (columns: text, target)\n")
    assert run_folder_absent(tmp_path / "run")


@pytest.mark.slow
def test_llama_tiny_trains_as_a_language_model_and_bart_tiny_as_seq2seq(tmp_path, cli):
    """The zoo's LLaMA (rotary positions: windows from training.sequence_length) and BART (one token
    embedding shared by encoder and decoder, the head its reverse) train on their own tasks; both
    saved models reload to evaluate to their runs' test metrics and to generate."""
    corpus = task_data.corpus(str(tmp_path / "corpus.txt"), sentences=600)
    code, _, err = cli("train", spec_path("llama"), "--data", corpus, "--epochs", "3", "--out", tmp_path / "llama")
    assert code == 0, err
    metrics = json.loads((tmp_path / "llama" / "metrics.json").read_text())
    assert metrics["params"] == 202_048 and metrics["test_perplexity"] < 60      # 1,000 tokens: chance is 1,000
    code, out, err = cli("evaluate", tmp_path / "llama" / "model.keras", "--data", corpus)
    assert json.loads(out)["test_perplexity"] == pytest.approx(metrics["test_perplexity"], rel=1e-4)
    code, out, err = cli("generate", tmp_path / "llama" / "model.keras", "--prompt", "the cat", "--max-length", "8")
    assert code == 0 and out.split()[:2] == ["the", "cat"] and set(out.split()) <= set(open(corpus).read().split())
    pairs = task_data.translations(str(tmp_path / "pairs.csv"), count=400)
    code, _, err = cli("train", spec_path("bart"), "--scale", "tiny", "--data", pairs, "--epochs", "5",
                       "--out", tmp_path / "bart")
    assert code == 0, err
    metrics = json.loads((tmp_path / "bart" / "metrics.json").read_text())
    assert metrics["params"] == 235_776 and metrics["test_perplexity"] < 30
    code, out, err = cli("evaluate", tmp_path / "bart" / "model.keras", "--data", pairs)
    assert json.loads(out)["test_perplexity"] == pytest.approx(metrics["test_perplexity"], rel=1e-4)
