"""Streamed sources: TFRecord files (with the spec's feature description),
`tfds:` (TensorFlow Datasets) and `hf:` (Hugging Face datasets), made here
from scikit-learn's digits, never downloaded."""

import json
import sys

import numpy as np
import pytest

import builder
from builder.training import batching, streams
from builder.training import data as data_module

SPEC = """name: digits8
input: [8, 8, 1]
layers: [flatten, {dense: 16}]
output: {units: 10}
training:
  epochs: 2
  tfrecord:
    features:
      image: {dtype: string, decode: image}
      label: {dtype: int64}
"""


def digits(count=300):
    from sklearn.datasets import load_digits
    loaded = load_digits()
    return (loaded.images[:count] * 255 / 16).astype("uint8")[..., None], loaded.target[:count].astype("int64")


def write_tfrecord(path, images, labels):
    import tensorflow as tf
    with tf.io.TFRecordWriter(str(path)) as writer:
        for image, label in zip(images, labels):
            feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.encode_png(image).numpy()])),
                       "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def hf_images(images, labels, names=None):
    import datasets
    from PIL import Image
    features = datasets.Features({"image": datasets.Image(),
                                  "label": datasets.ClassLabel(names=names or [str(i) for i in range(10)])})
    return datasets.Dataset.from_dict({"image": [Image.fromarray(i[..., 0]) for i in images],
                                       "label": labels.tolist()}, features=features)


PLAN = data_module.SplitPlan(validation_split=0.1, test_split=0.15, seed=0)
IMAGES_8x8 = data_module.InputDescription((8, 8, 1))


def load(source, spec_text=SPEC, shape=(8, 8, 1), dtype="float32"):
    spec = builder.load_spec(text=spec_text)
    return data_module.load(str(source), data_module.InputDescription(shape, dtype, tfrecord=spec.training.tfrecord),
                            PLAN)


@pytest.mark.needs("hf")
@pytest.mark.slow
def test_tfrecord_and_hugging_face_stream_the_same_examples_as_arrays(tmp_path):
    """The same images as a TFRecord file, a saved Hugging Face dataset and a
    .npz file: the same seeded split, the same labels, and the streamed two
    train to the same weights."""
    images, labels = digits()
    write_tfrecord(tmp_path / "digits.tfrecord", images, labels)
    hf_images(images, labels).save_to_disk(str(tmp_path / "hf"))
    np.savez(tmp_path / "digits.npz", x=images, y=labels)
    loaded = {name: load(source) for name, source in
              (("tfrecord", tmp_path / "digits.tfrecord"), ("hf", f"hf:{tmp_path / 'hf'}"),
               ("npz", tmp_path / "digits.npz"))}
    assert loaded["tfrecord"].streamed and loaded["hf"].streamed and not loaded["npz"].streamed
    for split in ("train", "validation", "test"):
        order = {name: np.argsort(getattr(d, split).index) for name, d in loaded.items()}
        for name, d in loaded.items():
            np.testing.assert_array_equal(getattr(d, split).index[order[name]],
                                          np.sort(getattr(loaded["npz"], split).index))
            np.testing.assert_array_equal(getattr(d, split).y[order[name]], labels[np.sort(getattr(d, split).index)])
    runs = {name: builder.train(builder.load_spec(text=SPEC.replace("epochs: 2", "epochs: 12")), source, out=tmp_path / f"run-{name}", verbose=0)
            for name, source in (("tfrecord", tmp_path / "digits.tfrecord"), ("hf", f"hf:{tmp_path / 'hf'}"))}
    for a, b in zip(runs["tfrecord"].model.get_weights(), runs["hf"].model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert runs["tfrecord"].metrics["test_accuracy"] == runs["hf"].metrics["test_accuracy"] > 0.3
    record = json.loads((tmp_path / "run-tfrecord" / "run.json").read_text())
    assert record["tfrecord"]["features"]["image"] == {"dtype": "string", "shape": [], "decode": "image"}
    again = builder.evaluate(tmp_path / "run-tfrecord" / "model.keras", tmp_path / "digits.tfrecord")
    assert again["test_accuracy"] == pytest.approx(runs["tfrecord"].metrics["test_accuracy"])


def test_tfrecord_files_named_by_split_are_its_splits(tmp_path):
    images, labels = digits(200)
    write_tfrecord(tmp_path / "train-00000-of-00002.tfrecord", images[:80], labels[:80])
    write_tfrecord(tmp_path / "train-00001-of-00002.tfrecord", images[80:160], labels[80:160])
    write_tfrecord(tmp_path / "test.tfrecord", images[160:], labels[160:])
    loaded = load(tmp_path)
    assert loaded.split_by_folders
    assert (len(loaded.train.y), len(loaded.validation.y), len(loaded.test.y)) == (144, 16, 40)
    np.testing.assert_array_equal(loaded.test.y, labels[160:])
    assert streams.split_files([str(tmp_path / "trainer.tfrecord"), str(tmp_path / "x.tfrecord")]) == {
        "all": [str(tmp_path / "trainer.tfrecord"), str(tmp_path / "x.tfrecord")]}


def test_gzip_tfrecords_and_numeric_features(tmp_path):
    """Records of float features (not images), GZIP-compressed, feed a vector input."""
    import tensorflow as tf
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    with tf.io.TFRecordWriter(str(tmp_path / "rows.tfrecord.gz"), options="GZIP") as writer:
        for row, label in zip(x, y):
            feature = {"x": tf.train.Feature(float_list=tf.train.FloatList(value=row)),
                       "y": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    text = ("name: rows\ninput: [4]\nlayers: [dense: 8]\noutput: {units: 2}\ntraining:\n  epochs: 1\n  tfrecord:\n"
            "    features: {x: {dtype: float32, shape: [4]}, y: {dtype: int64}}\n    label: y\n")
    run = builder.train(builder.load_spec(text=text), str(tmp_path / "rows.tfrecord.gz"), out=tmp_path / "run",
                        verbose=0)
    assert run.metrics["epochs"] == 1
    wrong = text.replace("shape: [4]", "shape: [3]")
    with pytest.raises(data_module.DataError, match=r"the input feature 'x' has shape \[3\], the spec's input \[4\]"):
        load(tmp_path / "rows.tfrecord.gz", wrong, shape=(4,))


def test_a_stream_over_the_memory_budget_is_decoded_every_epoch_with_a_bounded_shuffle(tmp_path, monkeypatch, cli):
    images, labels = digits(120)
    write_tfrecord(tmp_path / "digits.tfrecord", images, labels)
    (tmp_path / "s.yaml").write_text(SPEC)
    code, out, err = cli("train", tmp_path / "s.yaml", "--data", tmp_path / "digits.tfrecord", "--out", tmp_path / "a")
    assert code == 0, err
    assert "; decoded examples cached in memory" in out
    monkeypatch.setattr(batching, "CACHE_BUDGET", 8 * 8 * 4 * 10)      # ten decoded images
    assert batching.shuffle_buffer(120, (8, 8, 1)) == 10
    code, out, err = cli("train", tmp_path / "s.yaml", "--data", tmp_path / "digits.tfrecord", "--out", tmp_path / "b")
    assert code == 0, err
    assert "; decoded examples cached in cache/" in out
    assert not (tmp_path / "b" / "cache").exists()
    monkeypatch.setattr(batching, "DISK_SHARE", 0)
    code, out, err = cli("train", tmp_path / "s.yaml", "--data", tmp_path / "digits.tfrecord", "--out", tmp_path / "c")
    assert code == 0, err
    assert "; streamed, decoded every epoch" in out
    metrics = [json.loads((tmp_path / run / "metrics.json").read_text()) for run in "abc"]
    assert all(0.1 < m["test_accuracy"] <= 1 for m in metrics)


def _tfds_builder():
    import tensorflow_datasets as tfds

    class TinyDigits(tfds.core.GeneratorBasedBuilder):
        """Digits as a TensorFlow Datasets data set, prepared offline."""
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, supervised_keys=("image", "label"), features=
                                         tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(8, 8, 1)),
                                                                     "label": tfds.features.ClassLabel(
                                                                         names=[f"d{i}" for i in range(10)])}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(0, 150), "test": self._generate_examples(150, 200)}

        def _generate_examples(self, first, last):
            images, labels = digits(last)
            for i in range(first, last):
                yield i, {"image": images[i], "label": int(labels[i])}
    return TinyDigits


@pytest.mark.needs("tfds")
def test_tensorflow_datasets_by_folder(tmp_path):
    prepared = _tfds_builder()(data_dir=str(tmp_path / "tfds"))
    prepared.download_and_prepare()
    source = f"tfds:{prepared.data_dir}"
    run = builder.train(builder.load_spec(text=SPEC), source, out=tmp_path / "run", verbose=0)
    assert run.metrics["epochs"] == 2
    assert json.loads((tmp_path / "run" / "classes.json").read_text()) == [f"d{i}" for i in range(10)]
    loaded = load(source)
    assert loaded.split_by_folders and len(loaded.test.y) == 50 and len(loaded.train.y) + len(loaded.validation.y) == 150


@pytest.mark.needs("hf")
def test_hugging_face_text_for_a_model_that_vectorizes_its_text(tmp_path):
    """A DatasetDict of texts with string labels: its own train/test splits; a
    text_vectorization layer adapts to the streamed texts."""
    import datasets
    texts = [("good fine nice great", "pos"), ("bad awful poor sad", "neg")] * 30
    parts = {"train": datasets.Dataset.from_dict({"text": [t for t, _ in texts[:48]], "label": [l for _, l in texts[:48]]}),
             "test": datasets.Dataset.from_dict({"text": [t for t, _ in texts[48:]], "label": [l for _, l in texts[48:]]})}
    datasets.DatasetDict(parts).save_to_disk(str(tmp_path / "texts"))
    text = ("name: words\ninput: {shape: [1], dtype: string}\nlayers:\n"
            "  - text_vectorization: {max_tokens: 20, output_sequence_length: 4, adapt: true}\n"
            "  - embedding: {input_dim: 20, output_dim: 4}\n  - global_average_pooling1d\n"
            "output: {units: 2}\ntraining: {epochs: 2}\n")
    run = builder.train(builder.load_spec(text=text), f"hf:{tmp_path / 'texts'}", out=tmp_path / "run", verbose=0)
    assert run.metrics["epochs"] == 2
    vocabulary = run.model.get_layer(index=1).get_vocabulary()
    assert {"good", "awful"} <= set(vocabulary)
    assert json.loads((tmp_path / "run" / "classes.json").read_text()) == ["neg", "pos"]


@pytest.mark.needs("hf")
def test_streamed_sources_name_what_is_wrong(tmp_path, monkeypatch):
    import datasets
    datasets.Dataset.from_dict({"pixels": [[1.0, 2.0]] * 4, "target": [0, 1, 0, 1]}).save_to_disk(str(tmp_path / "a"))
    with pytest.raises(data_module.DataError, match=r"no column 'label' \(columns: pixels, target\); name the label "
                                                    r"column with --label"):
        load(f"hf:{tmp_path / 'a'}", shape=(2,))
    with pytest.raises(data_module.DataError, match=r"no such folder: /nowhere/at/all \(a data set written by "
                                                    r"save_to_disk, or a name on the Hub\)"):
        load("hf:/nowhere/at/all", shape=(2,))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")          # nothing listens: offline, at once
    with pytest.raises(data_module.DataError, match=r"^cannot reach 127\.0\.0\.1 to download "
                                                    r"the data set \(Connection refused; no network\?\); one "
                                                    r"downloaded before loads offline with HF_HUB_OFFLINE=1, or give a "
                                                    r"folder written by save_to_disk$"):
        load("hf:someone/digits", shape=(2,))
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(builder.DependencyError, match=r"needs Hugging Face datasets, which is not installed: pip install "
                                                r"datasets \(or the project's `hf` extra\)"):
        load(f"hf:{tmp_path / 'a'}", shape=(2,))
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(builder.DependencyError, match=r"needs TensorFlow Datasets, which is not installed"):
        load("tfds:mnist")


@pytest.mark.parametrize("tfrecord, message", [
    ("{features: {image: {dtype: string, decode: image}, label: {dtype: int64}}, label: y}",
     "7:88: error: training.tfrecord.label: 'y' is not one of the features (image, label)"),
    ("{features: {image: {dtype: int64, decode: image}, label: {dtype: int64}}}",
     "7:25: error: training.tfrecord.features.image: an encoded image is one string per record: "
     "`{dtype: string, decode: image}`"),
    ("{features: {a: {dtype: float32}, b: {dtype: float32}, label: {dtype: int64}}}",
     "7:3: error: training.tfrecord: which feature is the input? Name it with `input:` (features: a, b)"),
    ("{features: {image: {dtype: bytes}, label: {dtype: int64}}}",
     "7:33: error: training.tfrecord.features.image.dtype: expected int64, float32 or string (bytes), got 'bytes' (a string)"),
])
def test_a_wrong_feature_description_is_located(tmp_path, cli, tfrecord, message):
    (tmp_path / "s.yaml").write_text(SPEC.split("  tfrecord:")[0] + f"  tfrecord: {tfrecord}\n")
    code, out, err = cli("validate", tmp_path / "s.yaml")
    assert code == 1
    assert err.startswith(f"{tmp_path / 's.yaml'}:{message}"), err


def test_a_tf_data_dataset_from_python(tmp_path):
    """`builder.train(spec, data=dataset)`: batched or not, split with the seed
    as the same arrays are; what it yields is checked before training."""
    import tensorflow as tf
    images, labels = digits(200)
    x = images.astype("float32") / 255
    text = SPEC.split("  tfrecord:")[0]
    from_arrays = data_module.load((x, labels), IMAGES_8x8, PLAN)
    for dataset in (tf.data.Dataset.from_tensor_slices((x, labels)),
                    tf.data.Dataset.from_tensor_slices((x, labels)).batch(32)):
        loaded = data_module.load(dataset, IMAGES_8x8, PLAN)
        for split in ("train", "validation", "test"):
            assert sorted(getattr(loaded, split).index) == sorted(getattr(from_arrays, split).index)
            np.testing.assert_array_equal(getattr(loaded, split).y, labels[getattr(loaded, split).index])
    run = builder.train(builder.load_spec(text=text), data=tf.data.Dataset.from_tensor_slices((x, labels)).batch(16),
                        out=tmp_path / "run", verbose=0)
    assert run.metrics["epochs"] == 2 and run.metrics["data"] == "a tf.data.Dataset"
    assert json.loads((tmp_path / "run" / "run.json").read_text())["data"] == "a tf.data.Dataset"
    with pytest.raises(data_module.DataError, match=r"a dataset to train on yields \(x, y\) pairs; this one yields"):
        data_module.load(tf.data.Dataset.from_tensor_slices(x), IMAGES_8x8, PLAN)
    with pytest.raises(data_module.DataError, match=r"its inputs have shape \[8, 8\], the spec's input \[8, 8, 1\]"):
        data_module.load(tf.data.Dataset.from_tensor_slices((x[..., 0], labels)), IMAGES_8x8, PLAN)


@pytest.mark.parametrize("suffix", ["bmp", "gif", "png", "jpg"])
def test_every_listed_image_format_decodes_to_one_channel(tmp_path, suffix):
    """TensorFlow decodes BMP and GIF in colour only; a one-channel input gets their grey pixels as they are."""
    from PIL import Image

    from builder.training import batching
    pixels = (np.random.default_rng(0).random((8, 8)) * 255).astype("uint8")
    Image.fromarray(pixels).save(tmp_path / f"x.{suffix}")
    decoded = np.asarray(batching.decode_image_file(str(tmp_path / f"x.{suffix}"), 1))
    assert decoded.shape == (8, 8, 1)
    if suffix != "jpg":                                   # lossless formats give the very pixels back
        np.testing.assert_array_equal(decoded[..., 0], pixels)
    colour = np.asarray(batching.decode_image_file(str(tmp_path / f"x.{suffix}"), 3))
    assert colour.shape == (8, 8, 3)
