"""BERT-base under mixed bfloat16 on a GPU, with the embeddings in bfloat16
(Keras's mixed policy on every layer) and in float32 (what `train` does), and
with the classifier head's initializer the spec's (truncated normal, 0.02) or
Keras's default (Glorot uniform); spec-built and hand-written, through `fit`,
in one run. The measurement behind `float32_when_mixed` in the registry
(docs/benchmarks.md).

    KERAS_BACKEND=jax python benchmarks/gpu_embeddings.py [--batch 64] [--steps 16]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gpu  # noqa: E402
import keras  # noqa: E402

import builder  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=16, help="training steps per epoch (and per call)")
    args = parser.parse_args()
    batch, steps, seq = args.batch, args.steps, 128
    case = gpu.bert_case(batch, steps, seq=seq)
    overrides = dict(case["overrides"], **{"output.dtype": "float32"})
    float32 = {"layers.token_embedding.dtype": "float32", "layers.segment_embedding.dtype": "float32"}
    variants = {
        "spec": lambda: builder.build(case["spec"], overrides=overrides),
        "spec, float32 embeddings": lambda: builder.build(case["spec"], overrides={**overrides, **float32}),
        "hand, truncated-normal head": lambda: gpu.hand_written_bert(seq),
        "hand, glorot head": lambda: gpu.hand_written_bert(seq, head_initializer="glorot_uniform"),
        "hand, truncated-normal head, float32 embeddings": lambda: gpu.hand_written_bert(
            seq, embedding_dtype="float32"
        ),
    }
    print(gpu.device_name(), f"Keras {keras.__version__}, backend {keras.backend.backend()}", flush=True)

    models = {}
    for name, make in variants.items():
        models[name] = gpu.compiled(make, "mixed_bfloat16", steps)
        gpu.samples_per_second(models[name], case)       # traces and compiles
    results = {name: [] for name in models}
    for round_ in range(2):
        for name, model in (models.items() if round_ == 0 else reversed(models.items())):
            results[name].append(gpu.samples_per_second(model, case))
    for name, values in results.items():
        print(f"{name}: {max(values):,.0f} samples/s ({', '.join(f'{v:,.0f}' for v in values)})", flush=True)


if __name__ == "__main__":
    main()
