"""Keras's own distribution engine (`keras.distribution`) on the JAX backend:
data-parallel training with the ordinary `fit`, in one process on all its
devices or in N processes on one host or many. The JAX seam of training, as
devices.py is TensorFlow's.

Every process reads the whole data set and the same shuffled global batches
(the spec's `batch_size`, so results do not depend on how many processes
train); each takes its own slice of every batch (`Shard`), which Keras joins
into one global array. Process 0 writes the run folder; the others write
into private folders that are removed at the end, so that every process
takes part in every save (saving gathers the variables from all of them).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

from ..errors import DeviceError, FlagError

# Keras's own variables for keras.distribution.initialize: a job script sets them on every host
ENVIRONMENT = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID")
MAX_LOCAL_PROCESSES = 64


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The processes that train together: process 0's address (host:port),
    how many there are, and which one this is."""

    coordinator: str | None
    processes: int = 1
    process_id: int = 0

    @property
    def chief(self) -> bool:
        return self.process_id == 0

    @property
    def launches(self) -> bool:
        """Whether this process starts the others on this host (`--processes N` alone)."""
        return self.processes > 1 and self.coordinator is None


def cluster(coordinator=None, processes=None, process_id=None, environ=os.environ) -> Cluster:
    """The cluster from the flags, else from Keras's environment variables; one process without either."""
    given = {"--coordinator": coordinator, "--processes": processes, "--process-id": process_id}
    if coordinator is None and process_id is None and any(name in environ for name in ENVIRONMENT):
        addresses = environ.get(ENVIRONMENT[0], "")
        coordinator = addresses.split(",")[0] or None
        processes = _whole(environ.get(ENVIRONMENT[1], str(len(addresses.split(",")))), ENVIRONMENT[1])
        process_id = _whole(environ.get(ENVIRONMENT[2], ""), ENVIRONMENT[2])
        given = dict(zip(ENVIRONMENT, (coordinator, processes, process_id), strict=True))
    processes = processes or 1
    if process_id is None:
        if coordinator is not None:
            raise FlagError("--coordinator: give each process its --process-id (0 to N-1) and --processes N too")
        if processes > MAX_LOCAL_PROCESSES:
            raise FlagError(f"--processes: at most {MAX_LOCAL_PROCESSES} processes are started on one host")
        return Cluster(None, processes, 0)
    names = list(given)
    if coordinator is None:
        raise FlagError(f"{names[2]} {process_id}: name process 0's address, HOST:PORT, with {names[0]}")
    if not 0 <= process_id < processes:
        raise FlagError(f"{names[2]} {process_id}: expected 0 to {processes - 1} for {processes} processes")
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit():
        raise FlagError(f"{names[0]} {coordinator!r}: expected HOST:PORT, the address of process 0")
    return Cluster(coordinator, processes, process_id)


def _whole(text, name) -> int:
    if not text.strip().isdigit():
        raise FlagError(f"{name}={text!r}: expected a whole number")
    return int(text)


def use_jax(asked: str | None, mode: str = "data-parallel") -> str | None:
    """Before Keras is imported: make JAX the backend. Returns the note to print
    where another backend was asked for (or was the default)."""
    if importlib.util.find_spec("jax") is None:
        raise DeviceError(
            f"--distribute {mode} runs on Keras's JAX backend, which is not installed: pip install -e '.[jax]'"
        )
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != "jax":
        raise DeviceError(
            f"--distribute {mode} runs on Keras's JAX backend, but Keras was started on "
            f"{sys.modules['keras'].backend.backend()}: set KERAS_BACKEND=jax before importing it"
        )
    previous = asked or os.environ.get("KERAS_BACKEND") or "tensorflow"
    os.environ["KERAS_BACKEND"] = "jax"
    if previous == "jax":
        return None
    return f"Note: --distribute {mode} trains on Keras's JAX backend (keras.distribution), not {previous}"


def start(where: Cluster):
    """Join the cluster (before JAX computes anything) and train data-parallel
    on every device of every process. Returns this process's Shard."""
    from .. import backend

    backend.has_tensorflow()  # tf.data's, imported quietly now rather than by Keras later
    return backend.quietly(lambda: _start(where), (1, 2))  # JAX's and Gloo's start-up lines (cuInit, peers) kept off


def _start(where: Cluster):
    import jax

    from ..backend import keras as _keras

    keras = _keras()
    if where.processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPUs all-reduce over TCP
        try:
            keras.distribution.initialize(where.coordinator, where.processes, where.process_id)
        except Exception as err:  # noqa: BLE001 - JAX's own errors name the address and what failed
            raise DeviceError(f"cannot join the cluster at {where.coordinator}: {str(err).splitlines()[0]}") from None
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False))
    count, processes = len(devices), where.processes
    line = (
        f"Training data-parallel with keras.distribution on {count} {_platform(devices)} "
        f"device{'s' if count > 1 else ''} in {processes} process{'es' if processes > 1 else ''} (JAX)"
    )
    return Shard(where.process_id, processes, count, line)


def _platform(devices) -> str:
    """cpu, gpu or tpu: what keras.distribution's device names ('cpu:0') say."""
    return devices[0].split(":")[0]


# --distribute model-parallel without a layout: KerasHub's transformers split as KerasHub's get_layout_map
# splits them over `model` (attention heads, the feed-forward's hidden units, the token embedding's width)
TRANSFORMER_LAYOUT = {
    ".*/(query|key|value)/kernel": [None, "model", None],
    ".*/attention_output/kernel": ["model", None, None],
    ".*feedforward_intermediate_dense/kernel": [None, "model"],
    ".*feedforward_output_dense/kernel": ["model", None],
    "token_embedding/embeddings": [None, "model"],
}


def start_model_parallel(config):
    """Model-parallel in this process, on the spec's mesh (`training.distribution`).
    Returns (the distribution, whose `used` says which patterns matched, this process's Shard)."""
    from .. import backend

    backend.has_tensorflow()
    return backend.quietly(lambda: _start_model_parallel(config))


def _start_model_parallel(config):
    from ..backend import keras as _keras
    from ..errors import SpecError

    keras = _keras()
    if config is None:
        raise SpecError(
            "--distribute model-parallel needs the device mesh: `training.distribution: {mesh: {batch: 1, model: 2}}`"
        )
    devices = keras.distribution.list_devices()
    wanted = math.prod(config.mesh.values())
    if wanted > len(devices):
        raise DeviceError(
            f"the mesh {dict(config.mesh)} needs {wanted} devices; this process has {len(devices)} "
            f"(on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count={wanted} makes that many)"
        )
    axes = list(config.mesh)
    mesh = keras.distribution.DeviceMesh(tuple(config.mesh.values()), axes, devices[:wanted])
    layout = config.layout if config.layout is not None else _default_layout(config.mesh)
    distribution = _checked_model_parallel(keras)(mesh, layout, config.layout is not None, axes[0])
    shown = ", ".join(f"{axis}: {size}" for axis, size in config.mesh.items())
    line = (
        f"Training model-parallel with keras.distribution on a mesh {{{shown}}} of {wanted} "
        f"{_platform(devices)} devices (JAX)"
    )
    keras.distribution.set_distribution(distribution)
    return distribution, Shard(0, 1, config.mesh[axes[0]], line)


def _default_layout(mesh) -> dict:
    if "model" not in mesh:
        return {}
    return TRANSFORMER_LAYOUT


def _checked_model_parallel(keras):
    """keras.distribution.ModelParallel that checks each weight against the pattern that lays it out
    (dimensions, divisibility) as the weight is made, naming the pattern's line in the spec."""
    from ..errors import SpecError

    class CheckedModelParallel(keras.distribution.ModelParallel):
        def __init__(self, mesh, layout, given, batch_axis):
            layout_map = keras.distribution.LayoutMap(mesh)
            for pattern, axes in layout.items():
                layout_map[pattern] = tuple(axes)
            super().__init__(layout_map=layout_map, batch_dim_name=batch_axis, auto_shard_dataset=False)
            self.layout, self.given, self.sizes, self.used = (
                layout,
                given,
                dict(zip(mesh.axis_names, mesh.shape)),
                set(),
            )

        def get_variable_layout(self, variable):
            matched = [p for p in self.layout if re.fullmatch(p, variable.path)]
            path = ("training", "distribution", "layout")
            if len(matched) > 1:
                raise SpecError(f"'{variable.path}' matches {len(matched)} patterns: {', '.join(matched)}", path=path)
            if matched:
                pattern, axes, shape = matched[0], self.layout[matched[0]], tuple(variable.shape)
                self.used.add(pattern)
                where = (*path, pattern) if self.given else ("training", "distribution")
                if len(axes) != len(shape):
                    raise SpecError(
                        f"'{variable.path}' has {len(shape)} dimensions {shape}; the layout gives {len(axes)}",
                        path=where,
                    )
                for dimension, (axis, size) in enumerate(zip(axes, shape, strict=True)):
                    if axis is not None and size % self.sizes[axis]:
                        raise SpecError(
                            f"dimension {dimension} of '{variable.path}' {shape} is {size}, which does not split "
                            f"over the {self.sizes[axis]} devices of '{axis}'",
                            path=where,
                        )
            return super().get_variable_layout(variable)

        def check_used(self, model):
            """Every pattern the spec gives lays out some weight."""
            for pattern in self.layout if self.given else ():
                if pattern not in self.used:
                    names = ", ".join(v.path for v in model.weights[:3])
                    raise SpecError(
                        f"'{pattern}' matches no weight of the model (its weights are named like {names}, ...)",
                        path=("training", "distribution", "layout", pattern),
                    )

    return CheckedModelParallel


def stop(shard: Shard, together: bool) -> None:
    """This process trains on its own again (the Python API may train next
    without a distribution). `together`, after a finished run of several
    processes: leave the cluster now, all at once (JAX's shutdown barrier),
    rather than at the interpreter's exit, after whatever else the exit runs."""
    import jax

    from ..backend import keras as _keras

    _keras().distribution.set_distribution(None)
    if together and shard.processes > 1:
        jax.distributed.shutdown()


PEER_LOST = "another of the "  # how a process says that a peer has gone, which the launcher replaces
PEER_FAILURES = ("Gloo", "Connection reset by peer", "coordination service", "NCCL", "heartbeat")


def peer_lost(err: BaseException, processes: int):
    """A DeviceError for a collective that failed because another process has
    gone (its connection reset), else None."""
    text = str(err)
    if processes < 2 or not any(sign in text for sign in PEER_FAILURES):
        return None
    return DeviceError(
        f"{PEER_LOST}{processes} processes has stopped, so this one cannot go on "
        f"({text.strip().splitlines()[0][:200]}); start them all again with --resume"
    )


@dataclasses.dataclass(frozen=True)
class Shard:
    """This process's slice of every global batch: of a batch of `size`, the
    largest part that splits evenly over all devices, cut into one equal slice
    per process (at most devices - 1 examples of a last, smaller batch are left out)."""

    index: int
    processes: int
    devices: int  # along the batch: all of them for data-parallel, the mesh's first axis for model-parallel
    line: str = ""  # what trains, for the run's device line

    def bounds(self, size):
        """(start, length) of this process's slice of a batch of `size` (ints, or TensorFlow's scalars)."""
        length = (size // self.devices) * (self.devices // self.processes)
        return self.index * length, length

    def check(self, batch_size: int) -> None:
        if batch_size % self.devices:
            raise FlagError(
                f"batch size {batch_size} does not split evenly over {self.devices} devices "
                f"({self.processes} process{'es' if self.processes > 1 else ''}); choose a multiple of {self.devices}"
            )

    def used(self, count: int, batch_size: int) -> int:
        """How many of `count` examples an epoch trains on, in batches of `batch_size`."""
        full, last = divmod(count, batch_size)
        return full * batch_size + last - last % self.devices


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(prog: str, argv: list[str], processes: int) -> int:
    """`--processes N` alone: run this command (`argv`) as N processes on
    127.0.0.1 and wait for them. Process 0 prints; the others' output is kept
    off the terminal but for a failure's last line. One that fails ends the
    others, and the failure is one line: the first to fail says why."""
    address = f"127.0.0.1:{free_port()}"
    start_one = f"import sys; from builder.cli import console; sys.exit(console({prog!r}))"
    children, logs = [], []
    try:
        for index in range(processes):
            env = {**os.environ, ENVIRONMENT[0]: address, ENVIRONMENT[1]: str(processes), ENVIRONMENT[2]: str(index)}
            env["KERAS_BACKEND"] = "jax"
            log = tempfile.TemporaryFile("w+") if index else None  # noqa: SIM115 - closed below
            logs.append(log)
            children.append(
                subprocess.Popen(
                    [sys.executable, "-c", start_one, *argv],
                    env=env,
                    stdout=subprocess.DEVNULL if index else None,
                    stderr=log if index else subprocess.PIPE,
                    text=True,
                )
            )
        relay = _Relay(children[0].stderr)
        return _wait(children, logs, relay)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
        for log in logs:
            if log is not None:
                log.close()


class _Relay(threading.Thread):
    """Process 0's stderr, passed on line by line as it comes, but held back
    once another process has failed (`hold`): then one line tells the failure."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.held, self.kept, self.peer_lost = stream, False, [], ""
        self.start()

    def run(self):
        for line in self.stream:
            if line.startswith(f"error: {PEER_LOST}"):
                self.peer_lost = line  # the launcher names the process that stopped, where it can
            elif self.held:
                self.kept.append(line)
            else:
                sys.stderr.write(line)
                sys.stderr.flush()

    def hold(self):
        self.held = True

    def release(self):
        sys.stderr.write("".join(self.kept))


GRACE_SECONDS = 10  # after one process ends in failure, how long the others have to end by themselves


def _wait(children, logs, relay) -> int:
    """The processes' exit status: 0 when all succeed; else process 0's (when
    it failed on its own account it has said why), or that of the first other
    process to fail, named in one line."""
    while not any(child.poll() not in (None, 0) for child in children):
        if all(child.poll() == 0 for child in children):
            relay.join(timeout=10)
            return 0
        time.sleep(0.1)
    relay.hold()
    order = [i for i, child in enumerate(children) if child.poll() not in (None, 0)]
    deadline = time.monotonic() + GRACE_SECONDS  # a Ctrl-C ends every process on its own, each saying so
    while any(child.poll() is None for child in children) and time.monotonic() < deadline:
        time.sleep(0.1)
        order += [i for i, child in enumerate(children) if child.poll() not in (None, 0) and i not in order]
    for child in children:
        if child.poll() is None:
            child.kill()  # it waits on the failed one for ever
            child.wait()
    relay.join(timeout=10)
    chief = children[0].returncode
    if chief > 0 and not relay.peer_lost:
        relay.release()  # process 0 failed on its own account, and has said why
        return chief
    culprit = next((i for i in order if i), None)
    if culprit is None:
        sys.stderr.write(relay.peer_lost or f"error: process 0 of {len(children)} was killed by signal {-chief}\n")
        return 1
    print(f"error: process {culprit} of {len(children)} {_why(children[culprit], logs[culprit])}", file=sys.stderr)
    return 1


def _why(child, log) -> str:
    """A failed process's own last line, or the signal that ended it."""
    if child.returncode < 0:
        return f"was killed by signal {-child.returncode}"
    log.seek(0)
    lines = [line for line in log.read().splitlines() if line.strip()]
    return f"failed: {lines[-1].removeprefix('error: ')}" if lines else f"failed (exit status {child.returncode})"
