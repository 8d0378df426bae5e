"""`predict` on new data without labels: a file, a flat folder, a CSV of
features, a .npz of x alone; rows named by file or line, classes by name."""

import csv
import io
import json
import os

import numpy as np
import pytest

IMAGES = "name: shades\ninput: [8, 8, 1]\nlayers: [flatten]\noutput: {units: 2}\n" \
         "training: {epochs: 150, optimizer: {adam: {learning_rate: 0.05}}, test_split: 0, validation_split: 0}\n"


def rows(text):
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model telling dark ('night') from light ('day') 8x8 images, trained on a class folder."""
    from PIL import Image

    import builder
    from builder.training import run
    folder = tmp_path_factory.mktemp("predict")
    rng = np.random.default_rng(0)
    for name, level in (("night", 30), ("day", 220)):
        os.makedirs(folder / "train" / name)
        for i in range(12):
            pixels = np.clip(rng.normal(level, 20, (8, 8)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(folder / "train" / name / f"{i}.png")
    os.makedirs(folder / "new")
    for name, level in (("a.png", 20), ("b.png", 240), ("c.png", 35)):
        Image.fromarray(np.full((8, 8), level, "uint8")).save(folder / "new" / name)
    run.train(builder.load_spec(text=IMAGES), str(folder / "train"), str(folder / "run"), verbose=0)
    return folder


def test_a_folder_of_new_images_gets_one_named_row_per_file(trained, cli):
    code, out, err = cli("predict", trained / "run" / "model.keras", "--data", trained / "new")
    assert code == 0, err
    table = rows(out)
    assert table[0] == ["input", "predicted", "probability"]
    assert [(r[0], r[1]) for r in table[1:]] == [("a.png", "night"), ("b.png", "day"), ("c.png", "night")]
    assert all(0.5 < float(r[2]) <= 1 for r in table[1:])


def test_one_image_with_its_top_classes(trained, cli):
    code, out, err = cli("predict", trained / "run" / "model.keras", "--data", trained / "new" / "b.png",
                         "--top-k", "2")
    assert code == 0, err
    header, row = rows(out)
    assert header == ["input", "predicted", "probability", "predicted_2", "probability_2"]
    assert row[0] == "b.png" and row[1] == "day" and row[3] == "night"
    assert float(row[2]) + float(row[4]) == pytest.approx(1, abs=1e-5)


def test_features_without_labels_csv_and_npz(cli, tmp_path):
    import builder
    from builder.training import run
    x = np.random.default_rng(0).normal(size=(60, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    np.savez(tmp_path / "train.npz", x=x, y=y)
    spec = builder.load_spec(text="name: v\ninput: [3]\nlayers: [dense: 8]\noutput: {units: 2}\ntraining: {epochs: 2}\n")
    run.train(spec, str(tmp_path / "train.npz"), str(tmp_path / "run"), verbose=0)
    (tmp_path / "new.csv").write_text("a,b,c\n1.5,0,0\n\n-2,0.5,1\n")
    code, out, err = cli("predict", tmp_path / "run" / "model.keras", "--data", tmp_path / "new.csv")
    assert code == 0, err
    assert [r[0] for r in rows(out)] == ["input", "2", "4"]          # the examples' lines in the file
    (tmp_path / "words.csv").write_text("a,b,c\n1.5,0,0\n-2,half,1\n")
    code, out, err = cli("predict", tmp_path / "run" / "model.keras", "--data", tmp_path / "words.csv")
    assert (code, out) == (1, "")
    assert err == (f"{tmp_path / 'words.csv'}:3: error: column 'b' holds 'half', not a number; feature columns "
                   "must be numbers\n")
    np.savez(tmp_path / "pickled.npz", x=np.array([{"a": 1}] * 3, dtype=object))
    code, out, err = cli("predict", tmp_path / "run" / "model.keras", "--data", tmp_path / "pickled.npz")
    assert (code, out, err) == (1, "", f"{tmp_path / 'pickled.npz'}: error: not a readable .npz file: it holds "
                                       "Python objects (pickled), which are never loaded\n")
    np.savez(tmp_path / "new.npz", x=x[:5])
    code, out, err = cli("predict", tmp_path / "run" / "model.keras", "--data", tmp_path / "new.npz")
    assert code == 0, err
    assert [r[0] for r in rows(out)] == ["input", "0", "1", "2", "3", "4"]
    assert {r[1] for r in rows(out)[1:]} <= {"0", "1"}


def test_a_broken_new_image_is_one_line(trained, cli, tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    code, out, err = cli("predict", trained / "run" / "model.keras", "--data", tmp_path / "x.png")
    assert (code, out) == (1, "")
    assert err.startswith(f"{tmp_path / 'x.png'}: error: cannot decode the image")


TEXT = """\
name: reviews
input: {shape: [1], dtype: string}
layers:
  - text_vectorization: {max_tokens: 20, output_sequence_length: 6, adapt: true, name: vectorize}
  - embedding: {input_dim: 20, output_dim: 8}
  - global_average_pooling1d
output: {units: 2}
training: {epochs: 60, optimizer: {adam: {learning_rate: 0.05}}, test_split: 0, validation_split: 0}
"""


def test_a_model_that_vectorizes_its_own_text_takes_raw_strings(cli, tmp_path):
    """`text_vectorization` learns its vocabulary from the training texts; the
    saved model, predict and a SavedModel export take raw strings."""
    import builder
    from builder.backend import keras
    from builder.training import run
    for label, words in (("good", ["great", "fine", "lovely"]), ("bad", ["awful", "poor", "dull"])):
        os.makedirs(tmp_path / "train" / label)
        for i in range(8):
            text = f"The film was {words[i % 3]}, truly {words[(i + 1) % 3]}!"
            (tmp_path / "train" / label / f"{i}.txt").write_text(text)
    os.makedirs(tmp_path / "new")
    (tmp_path / "new" / "x.txt").write_text("Lovely and great")
    (tmp_path / "new" / "y.txt").write_text("dull, POOR")
    run.train(builder.load_spec(text=TEXT), str(tmp_path / "train"), str(tmp_path / "run"), verbose=0)
    assert not (tmp_path / "run" / "vocabulary.json").exists()          # the model holds its vocabulary
    model = keras().saving.load_model(tmp_path / "run" / "model.keras")
    vocabulary = model.get_layer("vectorize").get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"] and {"great", "awful", "the", "film"} <= set(vocabulary)
    import tensorflow as tf
    probabilities = model.predict(tf.constant([["so lovely"], ["so dull"]]), verbose=0)
    assert probabilities[0].argmax() != probabilities[1].argmax()
    code, out, err = cli("predict", tmp_path / "run" / "model.keras", "--data", tmp_path / "new")
    assert code == 0, err
    assert [(r[0], r[1]) for r in rows(out)[1:]] == [("x.txt", "good"), ("y.txt", "bad")]
    code, _, err = cli("export", tmp_path / "run" / "model.keras", "--format", "savedmodel", "-o", tmp_path / "sm")
    assert code == 0, err
    code, _, err = cli("export", tmp_path / "run" / "model.keras", "--format", "onnx", "-o", tmp_path / "m.onnx")
    assert (code, err) == (1, "error: ONNX cannot hold this model's text processing (tf2onnx converts no string "
                              "ops): a model that takes raw strings exports as keras, savedmodel or tflite (run "
                              "with the TensorFlow Lite Flex delegate)\n")
    assert not (tmp_path / "m.onnx").exists()
    exported = tf.saved_model.load(str(tmp_path / "sm"))
    served = exported.serve(tf.constant([["so lovely"], ["so dull"]]))
    np.testing.assert_allclose(np.asarray(served), probabilities, atol=1e-5)


def test_new_images_are_scaled_by_1_255_not_by_the_training_datas_factor(cli, tmp_path):
    """A model trained on digits (pixels 0-16, scaled by 1/16) predicts new PNGs (0-255) scaled by 1/255,
    as the docs say; evaluate on digits still scales by the source's own 1/16 (its test accuracy again)."""
    import json

    from PIL import Image
    from sklearn.datasets import load_digits

    import builder
    from builder.training import run
    spec = builder.load_spec(text="name: d\ninput: [8, 8, 1]\nlayers: [flatten, dense: 16]\noutput: {units: 10}\n"
                                  "training: {epochs: 3}\n")
    metrics = run.train(spec, "digits", str(tmp_path / "run"), verbose=0)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (record["rescale"], record["new_data_rescale"]) == (1 / 16, None)
    pixels = (load_digits().images[:4] * 255 / 16).round().astype("uint8")
    os.makedirs(tmp_path / "new")
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(tmp_path / "new" / f"{i}.png")
    code, out, err = cli("predict", tmp_path / "run" / "model.keras", "--data", tmp_path / "new")
    assert code == 0, err
    model = builder.backend.keras().saving.load_model(tmp_path / "run" / "model.keras")
    expected = model.predict(pixels[..., None].astype("float32") / 255, verbose=0)
    assert [float(row[2]) for row in rows(out)[1:]] == pytest.approx(expected.max(axis=1), abs=1e-5)
    code, out, err = cli("evaluate", tmp_path / "run" / "model.keras", "--data", "digits")
    assert code == 0, err
    assert json.loads(out)["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)


def test_more_top_classes_than_the_model_has_is_one_line(trained, cli):
    code, out, err = cli("predict", trained / "run" / "model.keras", "--data", trained / "new", "--top-k", "3")
    assert (code, out, err) == (1, "", "error: --top-k 3: the model predicts 2 classes; ask for at most 2\n")


def test_labels_are_numbered_as_the_model_s_classes_not_as_the_data_names_them(cli, tmp_path):
    """Data without one of the classes (cat, fish; no dog) once numbered fish 1, the model's dog: evaluate scored
    it against the wrong class and predict wrote `dog` as its label. Labels follow classes.json."""
    rng = np.random.default_rng(0)
    names, centres = ["cat", "dog", "fish"], np.array([[3, 0], [0, 3], [-3, -3]])
    rows = [(rng.normal(size=2) + centres[i % 3], names[i % 3]) for i in range(300)]
    (tmp_path / "three.csv").write_text("a,b,label\n" + "".join(f"{x:.3f},{y:.3f},{k}\n" for (x, y), k in rows))
    (tmp_path / "two.csv").write_text("a,b,label\n" + "".join(
        f"{x:.3f},{y:.3f},{k}\n" for (x, y), k in rows if k != "dog"))
    (tmp_path / "s.yaml").write_text("name: s\ninput: [2]\nlayers: [dense: 16]\noutput: 3\ntraining: {epochs: 20}\n")
    code, _, err = cli("train", tmp_path / "s.yaml", "--data", tmp_path / "three.csv", "--out", tmp_path / "run",
                       "--quiet")
    assert code == 0, err
    model = tmp_path / "run" / "model.keras"
    code, out, err = cli("predict", model, "--data", tmp_path / "two.csv")
    assert code == 0, err
    predicted = [line.split(",") for line in out.splitlines()[1:]]
    assert {row[3] for row in predicted} == {"cat", "fish"}            # the data's own labels, by name
    agreement = np.mean([row[1] == row[3] for row in predicted])
    assert agreement > 0.9
    code, out, err = cli("evaluate", model, "--data", tmp_path / "two.csv")
    assert code == 0, err
    assert json.loads(out)["test_accuracy"] > 0.9
    (tmp_path / "bird.csv").write_text("a,b,label\n" + "1,2,bird\n3,4,cat\n" * 10)
    code, _, err = cli("evaluate", model, "--data", tmp_path / "bird.csv")
    assert (code, err) == (1, f"{tmp_path / 'bird.csv'}: error: the label 'bird' is not one of the model's classes "
                              "(cat, dog, fish)\n")


def test_class_numbers_with_a_gap_are_named_by_position(cli, tmp_path):
    """Labels 1 and 3 (no 0, no 2) in a four-class model: classes.json once listed ["1", "3"], read by position,
    so predict named class 1 "3". The names are "0" to "3", each at its own index; an older run's list is read so."""
    rng = np.random.default_rng(0)
    centres = {1: np.array([3, 0]), 3: np.array([-3, -3])}
    rows = [(rng.normal(size=2) + centres[k], k) for k in (1, 3) * 150]
    (tmp_path / "d.csv").write_text("a,b,label\n" + "".join(f"{x:.3f},{y:.3f},{k}\n" for (x, y), k in rows))
    (tmp_path / "s.yaml").write_text("name: s\ninput: [2]\nlayers: [dense: 16]\noutput: 4\ntraining: {epochs: 20}\n")
    code, _, err = cli("train", tmp_path / "s.yaml", "--data", tmp_path / "d.csv", "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "classes.json").read_text()) == ["0", "1", "2", "3"]
    model = tmp_path / "run" / "model.keras"
    for classes in (None, ["1", "3"]):                     # this run's names, then an older run's
        if classes:
            (tmp_path / "run" / "classes.json").write_text(json.dumps(classes))
        code, out, err = cli("predict", model, "--data", tmp_path / "d.csv")
        assert code == 0, err
        predicted = [line.split(",") for line in out.splitlines()[1:]]
        assert {row[3] for row in predicted} == {"1", "3"}
        assert np.mean([row[1] == row[3] for row in predicted]) > 0.9
