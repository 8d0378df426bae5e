"""The tasks' `train` against hand-written Keras, each run a fresh process:
`train specs/gpt2.yaml --scale tiny` on a text file against a hand-written
KerasHub `GPT2CausalLM` of the same size (2 layers, width 128, 2 heads,
feed-forward 512, 64 positions, a 2,048-piece vocabulary, batches of 8,
Adam at 0.002), and `train specs/unet.yaml --scale small` on images and masks
against a hand-written Keras U-Net of the same layers (batches of 16, Adam's
defaults). The scripts fit NumPy arrays as the Keras guides write it, on the
same windows and images `train` reads (its tokenizer, its split), and time
their training steps with the clock `train` reports by (the builder's
StepTime: each epoch's training steps, the first epoch, which compiles, left
out). Synthetic data: tests/task_data.py's patterned sentences and squares
or discs.

    python benchmarks/tasks.py [--rounds 3] [--epochs 4]

Prints a Markdown table: tokens/s (language model) and images/s (U-Net) in
the training steps, medians over rounds, ratios the median of each round's
ratio, and each run's test metric. Goal: `train` / hand-written >= 1.0 each.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import task_data  # noqa: E402
from training_throughput import paired_ratio, rounds  # noqa: E402

WINDOW, PIECES = 64, 2048

LM_SCRIPT = """
import json, sys
import keras, keras_hub, numpy as np
root, corpus, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, root)
from builder.training import data
from builder.training.tasks.causal_lm import corpus_splits
from builder.training.text import Tokenizer
from builder.training.timing import StepTime

_, parts = corpus_splits(corpus, data.SplitPlan(0.1, 0.15, 0))      # train's split and tokenizer
tokenizer = Tokenizer.learn([piece for piece, _ in parts["train"]], __PIECES__)

def windows(pieces):                       # the split's tokens, cut into windows of 64 + 1
    ids = np.concatenate([np.append(row, tokenizer.id("[EOS]")) for row in tokenizer.ids([p for p, _ in pieces])])
    count = (len(ids) - 1) // __WINDOW__
    w = np.stack([ids[i * __WINDOW__: i * __WINDOW__ + __WINDOW__ + 1] for i in range(count)])
    return {"token_ids": w[:, :-1], "padding_mask": np.ones_like(w[:, :-1])}, w[:, 1:]

(x, y), (x_val, y_val), (x_test, y_test) = (windows(parts[s]) for s in ("train", "validation", "test"))
keras.utils.set_random_seed(0)
backbone = keras_hub.models.GPT2Backbone(vocabulary_size=__PIECES__, num_layers=2, num_heads=2, hidden_dim=128,
                                         intermediate_dim=512, max_sequence_length=__WINDOW__)
lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
lm.compile(optimizer=keras.optimizers.Adam(0.002),
           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
           metrics=[keras_hub.metrics.Perplexity(from_logits=True, name="perplexity")])
steps = StepTime()
lm.fit(x, y, batch_size=8, epochs=epochs, validation_data=(x_val, y_val), callbacks=[steps], verbose=0)
result = lm.evaluate(x_test, y_test, batch_size=8, verbose=0, return_dict=True)
print(json.dumps({"rate": steps.samples_per_second(len(y)) * __WINDOW__, "metric": result["perplexity"]}))
""".replace("__PIECES__", str(PIECES)).replace("__WINDOW__", str(WINDOW))

UNET_SCRIPT = """
import json, sys
import keras, numpy as np
root, folder, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, root)
from builder.training import data
from builder.training.tasks.segmentation import Segmentation
from builder.training.timing import StepTime

def unet(width=16, classes=3):             # specs/unet.yaml --scale small, as one writes it in Keras
    layers = keras.layers
    def twice(x, filters):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        return layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    inputs = keras.Input((64, 64, 3))
    skips, x = [], inputs
    for level in range(3):
        x = twice(x, width * 2 ** level)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = twice(x, width * 8)
    for level in reversed(range(3)):
        up = layers.Conv2DTranspose(width * 2 ** level, 2, strides=2, padding="same", activation="relu")(x)
        x = twice(layers.Concatenate()([skips[level], up]), width * 2 ** level)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))

keras.utils.set_random_seed(0)
model = unet()
split = Segmentation(model).read(folder, data.SplitPlan(0.1, 0.15, 0))  # train's split, decoded as train decodes
(x, y), (x_val, y_val), (x_test, y_test) = ((s.x / 255.0, s.y) for s in (split.train, split.validation, split.test))
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
              metrics=[keras.metrics.MeanIoU(num_classes=3, sparse_y_pred=False, name="mean_iou")])
steps = StepTime()
model.fit(x, y, batch_size=16, epochs=epochs, validation_data=(x_val, y_val), callbacks=[steps], verbose=0)
result = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
print(json.dumps({"rate": steps.samples_per_second(len(y)), "metric": result["mean_iou"],
                  "params": model.count_params()}))
"""


def run_train(spec, scale, data, epochs, extra=(), tokens=1):
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "run")
        subprocess.run([sys.executable, os.path.join(ROOT, "cli.py"), "train", os.path.join(ROOT, "specs", spec),
                        "--scale", scale, "--data", data, "--epochs", str(epochs), "--out", out, "--quiet", *extra],
                       check=True, stdout=subprocess.DEVNULL, cwd=folder)
        with open(os.path.join(out, "metrics.json"), encoding="utf-8") as handle:
            metrics = json.load(handle)
    metric = metrics.get("test_perplexity", metrics.get("test_mean_iou"))
    return {"rate": metrics["step_samples_per_second"] * tokens, "metric": metric}


def run_script(script, data, epochs):
    result = subprocess.run([sys.executable, "-c", script, ROOT, data, str(epochs)], check=True,
                            capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--sentences", type=int, default=2000)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with tempfile.TemporaryDirectory() as folder:
        corpus = task_data.corpus(os.path.join(folder, "corpus.txt"), sentences=args.sentences)
        images = task_data.shapes(os.path.join(folder, "seg"), count=args.images)
        contenders = {
            "lm train": lambda: run_train("gpt2.yaml", "tiny", corpus, args.epochs, tokens=WINDOW),
            "lm keras_hub": lambda: run_script(LM_SCRIPT, corpus, args.epochs),
            "unet train": lambda: run_train("unet.yaml", "small", images, args.epochs, ("--batch-size", "16")),
            "unet keras": lambda: run_script(UNET_SCRIPT, images, args.epochs),
        }
        runs = rounds(contenders, args.rounds, lambda run: run())

    def values(name, key):
        return [r[key] for r in runs[name]]

    print(f"{args.epochs} epochs, each run a fresh process, {args.rounds} rounds, the order rotated each round; "
          "rates are medians of the training steps' throughput, ratios the median of each round's ratio\n")
    print("| task | `train` | hand-written | ratio | goal | test metric, `train` / hand-written (per round) |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    rows = [("causal LM, GPT-2 tiny on a text file (tokens/s) vs KerasHub `GPT2CausalLM`, test perplexity",
             "lm train", "lm keras_hub"),
            ("segmentation, U-Net small on 64x64 images (images/s) vs a hand-written Keras U-Net, test mean IoU",
             "unet train", "unet keras")]
    for label, ours, theirs in rows:
        metrics = "; ".join(f"{a:.3f} / {b:.3f}" for a, b in zip(values(ours, "metric"), values(theirs, "metric")))
        print(f"| {label} | {statistics.median(values(ours, 'rate')):,.0f} | "
              f"{statistics.median(values(theirs, 'rate')):,.0f} | "
              f"{paired_ratio(values(ours, 'rate'), values(theirs, 'rate')):.2f} | >= 1.0 | {metrics} |")


if __name__ == "__main__":
    main()
