"""Devices and tf.distribute strategies: which processors train. The
TensorFlow seam of training (on JAX or PyTorch there is nothing to choose
here beyond hiding GPUs)."""

from __future__ import annotations

import contextlib
import os

from ..backend import keras as _keras
from ..backend import tensorflow as _tensorflow
from ..errors import DeviceError

DEVICES = ("auto", "cpu", "gpu")
DISTRIBUTE = (
    "none",
    "mirrored",
    "data-parallel",
    "model-parallel",
    "multi-worker",
)  # multi-worker: refused, naming data-parallel


def configure_devices(device="auto", cpu_devices=None):
    """Choose devices before TensorFlow starts. `cpu` hides every GPU, `gpu`
    insists on one; `cpu_devices` splits the CPU into that many logical
    devices (to try `--distribute mirrored` without GPUs)."""
    if device not in DEVICES:
        raise DeviceError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"  # every backend honours this at start-up
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    keras = _keras()
    if keras.backend.backend() != "tensorflow":
        return
    tf = _tensorflow()
    try:
        if device == "cpu":
            tf.config.set_visible_devices([], "GPU")
        if cpu_devices and cpu_devices > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
    except RuntimeError as err:  # TensorFlow already started in this process
        raise DeviceError(f"cannot change devices now: {err}") from None
    if device == "gpu" and not tf.config.list_physical_devices("GPU"):
        raise DeviceError("--device gpu: no GPU is visible to TensorFlow (try --device auto or cpu)")


def device_line(strategy) -> str:
    """'Training on ...': which devices train."""
    keras = _keras()
    if keras.backend.backend() != "tensorflow":
        return f"Training on {keras.backend.backend()} backend devices"
    tf = _tensorflow()
    gpus = tf.config.list_logical_devices("GPU")
    if strategy is not None:
        replicas = strategy.num_replicas_in_sync
        devices = strategy.extended.worker_devices
        return f"Training with {type(strategy).__name__} on {replicas} replicas: {', '.join(devices)}"
    if gpus:
        return f"Training on {len(gpus)} GPU(s): {', '.join(g.name for g in gpus)}"
    return "Training on the CPU"


def make_strategy(distribute):
    if distribute not in DISTRIBUTE:
        raise DeviceError(f"--distribute must be one of {', '.join(DISTRIBUTE)}, got {distribute!r}")
    if distribute == "multi-worker":
        raise DeviceError(
            "--distribute multi-worker is gone (its own training loop left out regularizers and loss scaling): "
            "--distribute data-parallel trains on several processes and hosts with fit (docs/training.md)"
        )
    if distribute in ("none", "data-parallel", "model-parallel"):  # keras.distribution (distribution.py)
        return None
    if _keras().backend.backend() != "tensorflow":
        raise DeviceError("--distribute uses tf.distribute and needs the TensorFlow backend")
    tf = _tensorflow()
    devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
        d.name for d in tf.config.list_logical_devices("CPU")
    ]
    return tf.distribute.MirroredStrategy(devices)


def strategy_scope(strategy):
    """The strategy's scope, or a scope that does nothing without one."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def gpu_compute_capabilities() -> list:
    """(major, minor) of each GPU the backend trains on; [] on the CPU."""
    keras = _keras()
    if keras.backend.backend() == "tensorflow":
        tf = _tensorflow()
        found = []
        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            found.append(tuple(details.get("compute_capability") or (0, 0)))
        return found
    if keras.backend.backend() == "jax":
        import jax

        return [
            tuple(int(p) for p in str(getattr(d, "compute_capability", "0.0")).split(".")[:2])
            for d in jax.devices()
            if d.platform == "gpu"
        ]
    if keras.backend.backend() == "torch":
        import torch

        return [torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())]
    return []


def precision_policy(precision: str, capabilities=None) -> str:
    """The Keras dtype policy for `training.precision`. `auto`: bfloat16
    compute on GPUs that have it (compute capability 8.0 and later: A100,
    H100, RTX 30xx on), float16 with loss scaling on older GPUs, float32 on the CPU."""
    if precision != "auto":
        return precision
    capabilities = gpu_compute_capabilities() if capabilities is None else capabilities
    if not capabilities:
        return "float32"
    return "mixed_bfloat16" if min(capabilities) >= (8, 0) else "mixed_float16"


def keep_float32(graph, policy: str) -> list:
    """Under a mixed policy, give the layers whose type keeps float32
    (`float32_when_mixed` in the registry: embeddings) a float32 dtype, where
    their entry sets none; returns their names. A bfloat16 embedding's
    gradient is a scatter-add into a bfloat16 table: rounded at every add, and
    on a GPU slow where many tokens share a row (BERT-base's two-row segment
    table took 30-40 ms a step on an H200; float32 embeddings trained it 2.6x
    faster, docs/benchmarks.md)."""
    if not policy.startswith("mixed"):
        return []
    kept = [
        node
        for node in graph.nodes
        if node.type.float32_when_mixed and node.args.get("dtype") is None and node.shares is None
    ]
    for node in kept:
        node.args["dtype"] = "float32"
    return [node.name for node in kept]
