"""Training throughput on a GPU: ResNet-50 at 224x224 and BERT-base, built
from the shipped specs, against the same models written by hand in Keras,
on synthetic data, in one run; with the fraction of the GPU's peak bf16
FLOP/s each achieves. Meant for KERAS_BACKEND=jax (it runs on any backend).

    KERAS_BACKEND=jax python benchmarks/gpu.py [--rounds 3] [--steps 32]

Contenders, each fed the same NumPy arrays through `fit`, taking turns:
- spec-built with `train`'s settings: `training.precision: auto` (mixed
  bfloat16 on GPUs of compute capability 8.0 on, the output layer and the
  embeddings kept float32) and `training.steps_per_execution: auto`;
- hand-written with Keras's defaults (float32, one step per call);
- hand-written with the same settings as `train` chose (the control);
- for models with embeddings, hand-written with the same settings but
  Keras's mixed policy on every layer, embeddings bfloat16 (what
  `set_global_policy("mixed_bfloat16")` alone gives).
Model FLOPs per training example are 6 x the MACs the builder counts (2 per
multiply-add, forward and backward taking about 3 forward passes). Prints a
Markdown table; with --out, also writes it and a JSON record there.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

import builder  # noqa: E402
from builder.keras.assemble import build_model  # noqa: E402
from builder.spec import graph  # noqa: E402
from builder.training.compile import steps_per_execution  # noqa: E402
from builder.training.devices import keep_float32, precision_policy  # noqa: E402

SPECS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs")
DATASHEET_BF16 = 989.4e12        # H100/H200 SXM dense bf16, NVIDIA's datasheet


class PositionEmbedding(keras.layers.Layer):
    """A learned position embedding, as a script would write one."""

    def __init__(self, length, **kwargs):
        super().__init__(**kwargs)
        self.length = length

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.length, input_shape[-1]), name="embeddings",
                                          initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def call(self, x):
        return keras.ops.broadcast_to(self.embeddings[: keras.ops.shape(x)[1]], keras.ops.shape(x))


def hand_written_bert(seq, embedding_dtype=None, head_initializer=None):
    """BERT-base with a 2-class head, written with keras.layers (specs/bert_base.yaml's layout and
    initializers); `embedding_dtype` is the two embedding layers' dtype policy."""
    layers = keras.layers
    init = keras.initializers.TruncatedNormal(stddev=0.02)
    tokens = keras.Input((seq,), dtype="int32", name="token_ids")
    segments = keras.Input((seq,), dtype="int32", name="segment_ids")
    padding = keras.Input((seq,), dtype="int32", name="padding_mask")
    x = layers.Embedding(30522, 768, embeddings_initializer=init, dtype=embedding_dtype)(tokens)
    x = layers.Add()([x, PositionEmbedding(512)(x),
                      layers.Embedding(2, 768, embeddings_initializer=init, dtype=embedding_dtype)(segments)])
    x = layers.Dropout(0.1)(layers.LayerNormalization(epsilon=1e-12)(x))
    mask = keras.ops.cast(padding[:, None, :], "bool")
    gelu = keras.activations.gelu

    for _ in range(12):
        attention = layers.MultiHeadAttention(12, 64, dropout=0.1, kernel_initializer=init)(x, x, attention_mask=mask)
        x = layers.LayerNormalization(epsilon=1e-12)(x + layers.Dropout(0.1)(attention))
        y = layers.Dense(3072, activation=lambda t: gelu(t, approximate=True), kernel_initializer=init)(x)
        y = layers.Dropout(0.1)(layers.Dense(768, kernel_initializer=init)(y))
        x = layers.LayerNormalization(epsilon=1e-12)(x + y)
    x = layers.Dense(768, activation="tanh", kernel_initializer=init)(x[:, 0, :])
    outputs = layers.Dense(2, activation="softmax", kernel_initializer=head_initializer or init,
                           dtype="float32")(layers.Dropout(0.1)(x))
    return keras.Model([tokens, segments, padding], outputs)


def resnet50_case(batch, steps):
    count, rng = batch * steps, np.random.default_rng(0)
    x = rng.random((count, 224, 224, 3), dtype="float32")
    y = rng.integers(0, 1000, count)
    return {"name": "ResNet-50, 224x224x3", "spec": os.path.join(SPECS, "resnet50.yaml"), "overrides": {},
            "hand": lambda embedding_dtype=None: keras.applications.ResNet50(weights=None), "embeddings": False,
            "reference": "keras.applications.ResNet50(weights=None)", "x": x, "y": y, "batch": batch}


def bert_case(batch, steps, seq=128):
    count, rng = batch * steps, np.random.default_rng(0)
    x = {"token_ids": rng.integers(0, 30522, (count, seq)).astype("int32"),
         "segment_ids": rng.integers(0, 2, (count, seq)).astype("int32"),
         "padding_mask": np.ones((count, seq), "int32")}
    shape = {f"inputs.{name}.shape": [seq] for name in x}
    return {"name": f"BERT-base, sequence {seq}", "spec": os.path.join(SPECS, "bert_base.yaml"), "overrides": shape,
            "hand": lambda embedding_dtype=None: hand_written_bert(seq, embedding_dtype), "embeddings": True,
            "reference": "hand-written (benchmarks/gpu.py)",
            "x": x, "y": rng.integers(0, 2, count), "batch": batch}


def spec_model(path, overrides, policy):
    """The model `train` builds under `policy`: the registry's float32 layers (embeddings) kept float32."""
    expanded = graph.expand(builder.load_spec(path, overrides=overrides))
    keep_float32(expanded, policy)
    return build_model(expanded)


def compiled(make_model, policy, spe):
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = make_model()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", steps_per_execution=spe)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    return model


def samples_per_second(model, case, epochs=1):
    started = time.perf_counter()
    model.fit(case["x"], case["y"], batch_size=case["batch"], epochs=epochs, verbose=0)
    return len(case["y"]) * epochs / (time.perf_counter() - started)


def measured_peak_bf16():
    """FLOP/s of an 8192^3 bf16 matrix product on the default device (JAX), median of 10; None elsewhere."""
    if keras.backend.backend() != "jax":
        return None
    import jax
    import jax.numpy as jnp
    a = jnp.ones((8192, 8192), jnp.bfloat16)
    product = jax.jit(lambda p, q: p @ q)
    product(a, a).block_until_ready()
    times = []
    for _ in range(10):
        started = time.perf_counter()
        product(a, a).block_until_ready()
        times.append(time.perf_counter() - started)
    return 2 * 8192 ** 3 / statistics.median(times)


def run_case(case, rounds, steps):
    spec = builder.load_spec(case["spec"], overrides=case["overrides"])
    policy = precision_policy(spec.training.precision)
    spe = steps_per_execution(spec.training, len(case["y"]), case["batch"])
    overrides = dict(case["overrides"], **({"output.dtype": "float32"} if policy != "float32" else {}))
    contenders = {
        "spec": compiled(lambda: spec_model(case["spec"], overrides, policy), policy, spe),
        "hand_defaults": compiled(case["hand"], "float32", 1),
        "hand_same": compiled(lambda: case["hand"]("float32" if policy != "float32" else None), policy, spe),
    }
    if case["embeddings"] and policy != "float32":
        contenders["hand_mixed_embeddings"] = compiled(case["hand"], policy, spe)
    params = {name: model.count_params() for name, model in contenders.items()}
    assert len(set(params.values())) == 1, params
    macs = builder.describe(contenders["spec"])["macs"]
    compile_s = {}
    for name, model in contenders.items():          # the first epoch traces and compiles
        started = time.perf_counter()
        samples_per_second(model, case)
        compile_s[name] = time.perf_counter() - started
    results = {name: [] for name in contenders}
    for round_ in range(rounds):
        for name in (list(contenders) if round_ % 2 == 0 else list(reversed(contenders))):
            results[name].append(samples_per_second(contenders[name], case))
    median = {name: statistics.median(values) for name, values in results.items()}
    return {"case": case["name"], "reference": case["reference"], "params": params["spec"], "macs": macs,
            "policy": policy, "steps_per_execution": spe, "batch": case["batch"], "examples": len(case["y"]),
            "samples_per_s": median, "all": results, "first_epoch_s": compile_s}


def device_name():
    if keras.backend.backend() == "jax":
        import jax
        return ", ".join(sorted({d.device_kind for d in jax.devices()}))
    return "default device of backend " + keras.backend.backend()


def table(records, peak):
    lines = ["| model | contender | samples/s | ratio to hand-written, Keras defaults "
             "| ratio to hand-written, same settings | model TFLOP/s | of datasheet peak | of measured matmul peak |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in records:
        rates = r["samples_per_s"]
        for name, label in (("spec", f"spec-built, `train`'s settings ({r['policy']}, steps_per_execution "
                                     f"{r['steps_per_execution']})"),
                            ("hand_defaults", "hand-written, Keras's defaults (float32, steps_per_execution 1)"),
                            ("hand_same", "hand-written, the same settings as `train`"),
                            ("hand_mixed_embeddings", "hand-written, the same settings, embeddings bfloat16")):
            if name not in rates:
                continue
            flops = 6 * r["macs"] * rates[name]
            of_peak = f"{flops / peak:.1%}" if peak else "-"
            lines.append(f"| {r['case']} (batch {r['batch']}) | {label} | {rates[name]:,.0f} | "
                         f"{rates[name] / rates['hand_defaults']:.3f} | {rates[name] / rates['hand_same']:.3f} | "
                         f"{flops / 1e12:.1f} | {flops / DATASHEET_BF16:.1%} | {of_peak} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per contender, taking turns")
    parser.add_argument("--steps", type=int, default=32, help="training steps per epoch")
    parser.add_argument("--resnet-batch", type=int, default=128)
    parser.add_argument("--bert-batch", type=int, default=32)
    parser.add_argument("--models", default="resnet50,bert_base")
    parser.add_argument("--out", help="folder for gpu.md and gpu.json")
    args = parser.parse_args()
    peak = measured_peak_bf16()
    header = (f"{device_name()}; Keras {keras.__version__}, backend {keras.backend.backend()}; synthetic data, "
              f"{args.steps} steps per epoch, median of {args.rounds} epochs after one untimed"
              + (f"; measured bf16 matmul peak {peak / 1e12:.0f} TFLOP/s" if peak else ""))
    print(header, flush=True)
    cases = {"resnet50": lambda: resnet50_case(args.resnet_batch, args.steps),
             "bert_base": lambda: bert_case(args.bert_batch, args.steps)}
    records = []
    for name in args.models.split(","):
        records.append(run_case(cases[name](), args.rounds, args.steps))
        print(json.dumps(records[-1]), flush=True)
        text = header + "\n\n" + table(records, peak)
        if args.out:
            with open(os.path.join(args.out, "gpu.md"), "w") as f:
                f.write(text + "\n")
            with open(os.path.join(args.out, "gpu.json"), "w") as f:
                json.dump({"header": header, "peak": peak, "records": records}, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
