"""Writes the bad-data corpus beside this file: `python tests/bad_data/make.py`.
Each file or folder is one way training data goes wrong; what the CLI must
say about each is in tests/bad_data_expected.yaml."""

import os
import shutil

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(0)


def x(n=20, features=4):
    return rng.normal(size=(n, features)).astype("float32")


def y(n=20, classes=3):
    return np.arange(n) % classes


def npz(name, **arrays):
    np.savez(os.path.join(HERE, name), **arrays)


def text(name, content, mode="w"):
    with open(os.path.join(HERE, name), mode) as handle:
        handle.write(content)


def images(folder, classes=("cat", "dog"), count=4):
    for cls in classes:
        os.makedirs(os.path.join(HERE, folder, cls), exist_ok=True)
        for i in range(count):
            pixels = (rng.random((8, 8)) * 255).astype("uint8")
            Image.fromarray(pixels).save(os.path.join(HERE, folder, cls, f"{i}.png"))


def records(name, without_label, broken_image=None, labels=(0, 1, 0, 1, 1, 0)):
    """tf.train.Example records of 8x8 PNG images and int64 labels, some broken as asked."""
    import tensorflow as tf
    with tf.io.TFRecordWriter(os.path.join(HERE, name)) as writer:
        for i, label in enumerate(labels):
            png = tf.io.encode_png((rng.random((8, 8, 1)) * 255).astype("uint8")).numpy()
            image = b"no image" if i == broken_image else png
            feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image]))}
            if i not in without_label:
                feature["label"] = tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[label])) if isinstance(label, bytes) else \
                    tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def texts(folder, classes=("neg", "pos"), count=4):
    for cls in classes:
        os.makedirs(os.path.join(HERE, folder, cls), exist_ok=True)
        for i in range(count):
            text(os.path.join(folder, cls, f"{i}.txt"), f"a {cls} review number {i}")


def main():
    for entry in os.listdir(HERE):
        path = os.path.join(HERE, entry)
        if entry != "make.py":
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    # .npz files
    npz("x_longer_than_y.npz", x=x(20), y=y(18))
    npz("x_shorter_than_y.npz", x=x(18), y=y(20))
    npz("float_labels.npz", x=x(), y=np.linspace(0, 2, 20))
    with_nan = x()
    with_nan[5, 2] = np.nan
    npz("nan_in_x.npz", x=with_nan, y=y())
    with_inf = x()
    with_inf[7, 0] = np.inf
    npz("inf_in_x.npz", x=with_inf, y=y())
    npz("labels_out_of_range.npz", x=x(), y=np.arange(20) % 7)
    npz("negative_labels.npz", x=x(), y=np.arange(20) % 3 - 1)
    np.savez(os.path.join(HERE, "pickled_objects.npz"), x=np.array([{"a": 1}] * 20, dtype=object), y=y())
    text("not_a_zip.npz", "this is not a numpy archive\n" * 20)
    npz("missing_y.npz", x=x())
    npz("no_examples.npz", x=np.zeros((0, 4), "float32"), y=np.zeros(0, "int64"))
    npz("wrong_feature_count.npz", x=x(features=5), y=y())
    npz("labels_in_two_columns.npz", x=x(), y=np.stack([y(), y()], axis=1))
    npz("test_split_mismatch.npz", x=x(), y=y(), x_test=x(6), y_test=y(5))
    npz("strings_as_x.npz", x=np.array([["a", "b", "c", "d"]] * 20), y=y())
    npz("nan_labels.npz", x=x(), y=np.where(np.arange(20) == 3, np.nan, 1.0))
    npz("x_3d_for_a_vector_input.npz", x=x().reshape(20, 2, 2), y=y())
    npz("x_test_without_y_test.npz", x=x(), y=y(), x_test=x(5))
    npz("string_labels_too_many.npz", x=x(), y=np.array(["a", "b", "c", "d", "e"] * 4))
    # CSV files (features a, b; label)
    rows = "".join(f"{i % 5}.5,{i % 3},{i % 3}\n" for i in range(20))
    text("ragged_row.csv", "a,b,label\n" + rows + "1,2\n" + rows)
    text("non_utf8.csv", b"a,b,label\n" + rows.encode() + b"1,2,caf\xe9\n", "wb")
    text("word_in_a_number_column.csv", "a,b,label\n" + rows + "1,two,0\n")
    text("header_only.csv", "a,b,label\n")
    text("empty.csv", "")
    text("nan_feature.csv", "a,b,label\n" + rows + "nan,1,0\n")
    text("inf_feature.csv", "a,b,label\n" + rows + "inf,1,0\n")
    text("too_many_classes.csv", "a,b,label\n" + "".join(f"{i},{i},{i % 6}\n" for i in range(20)))
    text("binary_garbage.csv", bytes(rng.integers(128, 256, 400, dtype=np.uint8)), "wb")
    text("blank_lines_only.csv", "\n\n\n")
    text("tab_separated.csv", "a\tb\tlabel\n" + rows.replace(",", "\t"))
    # image folders
    images("image_corrupt_png")
    text(os.path.join("image_corrupt_png", "dog", "2.png"), b"\x89PNG\r\n\x1a\n this is no image", "wb")
    images("image_truncated_png")
    with open(os.path.join(HERE, "image_truncated_png", "cat", "1.png"), "rb") as handle:
        start = handle.read(40)
    text(os.path.join("image_truncated_png", "cat", "1.png"), start, "wb")
    images("image_zero_bytes")
    text(os.path.join("image_zero_bytes", "cat", "3.png"), b"", "wb")
    images("image_empty_class")
    shutil.rmtree(os.path.join(HERE, "image_empty_class", "dog"))
    os.makedirs(os.path.join(HERE, "image_empty_class", "dog"))
    os.makedirs(os.path.join(HERE, "image_no_class_folders"))
    Image.fromarray(np.zeros((8, 8), "uint8")).save(os.path.join(HERE, "image_no_class_folders", "0.png"))
    images("image_mixed_with_text")
    text(os.path.join("image_mixed_with_text", "cat", "notes.txt"), "not an image")
    images("image_unknown_file")
    text(os.path.join("image_unknown_file", "dog", "data.bin"), b"\x00\x01", "wb")
    # text folders
    texts("text_non_utf8")
    text(os.path.join("text_non_utf8", "pos", "2.txt"), b"caf\xe9 au lait", "wb")
    texts("text_empty_class")
    shutil.rmtree(os.path.join(HERE, "text_empty_class", "pos"))
    os.makedirs(os.path.join(HERE, "text_empty_class", "pos"))
    texts("text_binary")
    text(os.path.join("text_binary", "neg", "1.txt"), bytes(rng.integers(128, 256, 64, dtype=np.uint8)), "wb")
    # TFRecord files (the spec's feature description: tests/test_bad_data.py's "rec")
    records("records_garbage.tfrecord", [])
    text("records_garbage.tfrecord", bytes(rng.integers(0, 256, 300, dtype=np.uint8)), "wb")
    records("records_missing_label.tfrecord", [4])
    records("records_bad_image.tfrecord", [], broken_image=2)
    records("records_label_out_of_range.tfrecord", [], labels=[0, 1, 0, 5, 1, 0])
    records("records_label_is_text.tfrecord", [], labels=[b"cat"] * 6)
    records("records_no_description.tfrecord", [])
    records("records_cut.tfrecord", [])                 # the file ends inside its fourth record
    with open(os.path.join(HERE, "records_cut.tfrecord"), "rb") as whole:
        data = whole.read()
    text("records_cut.tfrecord", data[:len(data) // 2 + 7], "wb")
    task_cases()
    # keep empty folders in git
    for folder, _, files in os.walk(HERE):
        if not files and not os.listdir(folder):
            text(os.path.relpath(os.path.join(folder, ".gitkeep"), HERE), "")


def segmentation(folder, count=3, mask=None, image_only=None, mask_mode="L"):
    """`folder`/images/N.png (8x8 RGB) and masks/N.png (class ids 0-2); `mask`: (index, array) replacing one
    mask; `image_only`: an index whose mask is left out; `mask_mode`: RGB for a three-channel mask."""
    for sub in ("images", "masks"):
        os.makedirs(os.path.join(HERE, folder, sub), exist_ok=True)
    for i in range(count):
        Image.fromarray((rng.random((8, 8, 3)) * 255).astype("uint8")).save(os.path.join(HERE, folder, "images", f"{i}.png"))
        if i == image_only:
            continue
        ids = (np.arange(64).reshape(8, 8) % 3).astype("uint8")
        if mask is not None and mask[0] == i:
            ids = mask[1]
        picture = Image.fromarray(ids) if mask_mode == "L" else Image.fromarray(np.stack([ids] * 3, axis=-1))
        picture.save(os.path.join(HERE, folder, "masks", f"{i}.png"))


def task_cases():
    """The tasks' data (docs/tasks.md): segmentation folders, corpora, text pairs, label sets."""
    segmentation("seg_mask_size", mask=(1, np.zeros((4, 4), "uint8")))
    segmentation("seg_class_beyond_output", mask=(2, np.full((8, 8), 5, "uint8")))
    segmentation("seg_image_without_mask", image_only=1)
    segmentation("seg_mask_in_colour", mask_mode="RGB")
    text("corpus_empty.txt", "\n\n")
    text("corpus_non_utf8.txt", b"the cat sat\nthe dog \xff ran\n", "wb")
    text("corpus_shorter_than_a_window.txt", "a cat\n")
    text("corpus_bad_line.jsonl", '{"text": "the cat sat"}\n["the dog ran"]\n')
    text("pairs_without_text_b.csv", "text_a,label\nthe cat sat,1\na dog ran,0\n")
    text("label_sets_too_many.csv", "a,b,label\n" + "".join(f"{i},{i},{n}\n" for i, n in enumerate(
        ["cat", "dog|fish", "bird", "cat|dog"])))
    # named outputs (`outputs: {digit: ..., parity: ...}`) and named inputs
    npz("outputs_missing_one.npz", x=x(), digit=y())
    npz("outputs_label_beyond_units.npz", x=x(), digit=y(classes=5), parity=y() % 2)
    npz("outputs_lengths_differ.npz", x=x(), digit=y(), parity=y(12) % 2)
    npz("outputs_test_arrays_partial.npz", x=x(), digit=y(), parity=y() % 2, x_test=x(5), digit_test=y(5))
    text("outputs_missing_column.csv", "a,b,c,d,digit\n" + "".join(f"{i},1,2,3,{i % 3}\n" for i in range(6)))
    text("outputs_text_for_numbers.csv", "a,b,c,d,digit,parity\n" + "".join(
        f"{i},1,2,3,{i % 3},{'odd' if i % 2 else 'even'}\n" for i in range(6)))
    npz("inputs_missing_one.npz", a=x(), y=y())
    # token classification: CoNLL-style `word tag` lines
    text("conll_word_without_tag.txt", "Anna B-PER\nworks O\n\nin O\nParis\n. O\n")
    text("conll_too_many_tags.txt", "".join(f"w{i} T{i}\n\n" for i in range(5)))
    # sequence to sequence: source/target pairs
    text("pairs_target_empty.csv", "source,target\nthe cat,el gato\nthe dog,\n")
    text("pairs_no_source.jsonl", '{"source": "the cat", "target": "el gato"}\n{"text": "the dog"}\n')


if __name__ == "__main__":
    main()
