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

import contextlib
import dataclasses
import importlib.util
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from ..errors import DeviceError, FlagError
from ..spec.layout import Placement

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


def _join(where: Cluster):
    """This process in the cluster (where there is one); Keras's module, and the devices of every process."""
    import jax

    from ..backend import keras as _keras

    keras = _keras()
    if where.processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPUs all-reduce over TCP
        try:
            keras.distribution.initialize(where.coordinator, where.processes, where.process_id)
        except Exception as err:  # noqa: BLE001 - JAX's own errors name the address and what failed
            raise DeviceError(f"cannot join the cluster at {where.coordinator}: {str(err).splitlines()[0]}") from None
    return keras, keras.distribution.list_devices()


def _start(where: Cluster):
    keras, devices = _join(where)
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False))
    count, processes = len(devices), where.processes
    line = (
        f"Training data-parallel with keras.distribution on {count} {_platform(devices)} "
        f"device{'s' if count > 1 else ''} in {_processes(processes)} (JAX)"
    )
    return Shard(where.process_id, processes, count, line)


def _processes(count: int) -> str:
    return f"{count} process{'es' if count > 1 else ''}"


def _platform(devices) -> str:
    """cpu, gpu or tpu: what keras.distribution's device names ('cpu:0') say."""
    return devices[0].split(":")[0]


def start_model_parallel(config, where: Cluster):
    """Model-parallel on the spec's mesh (`training.distribution`) of the devices of every process
    of the cluster. Returns (the distribution, whose `check_used` says whether every pattern
    matched, this process's Shard)."""
    from .. import backend

    backend.has_tensorflow()
    return backend.quietly(lambda: _start_model_parallel(config, where), (1, 2))


def _start_model_parallel(config, where: Cluster):
    from ..errors import SpecError

    if config is None:
        raise SpecError(
            "--distribute model-parallel needs the device mesh: `training.distribution: {mesh: {batch: 1, model: 2}}`"
        )
    wanted = math.prod(config.mesh.values())
    keras, devices = _join(where)
    if wanted > len(devices):
        each = -(-wanted // where.processes)
        have = f"the {_processes(where.processes)} have" if where.processes > 1 else "this process has"
        _leave(where)
        raise DeviceError(
            f"the mesh {dict(config.mesh)} needs {wanted} devices; {have} {len(devices)} "
            f"(on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count={each} makes that many"
            f"{' in each' if where.processes > 1 else ''})"
        )
    axes = list(config.mesh)
    mesh = keras.distribution.DeviceMesh(tuple(config.mesh.values()), axes, devices[:wanted])
    try:  # every process checks every process's place, so that all of them stop together
        owners = _owners(mesh)
        rows = [batch_rows(owners, process) for process in range(where.processes)][where.process_id]
    except DeviceError:
        _leave(where)
        raise
    distribution = _checked_model_parallel(keras)(mesh, Placement(config), axes[0])
    shown = ", ".join(f"{axis}: {size}" for axis, size in config.mesh.items())
    line = (
        f"Training model-parallel with keras.distribution on a mesh {{{shown}}} of {wanted} "
        f"{_platform(devices)} devices in {_processes(where.processes)} (JAX)"
    )
    keras.distribution.set_distribution(distribution)
    return distribution, Shard(where.process_id, where.processes, config.mesh[axes[0]], line, rows)


def _leave(where: Cluster) -> None:
    """Before every process stops on the same mistake: leave the cluster together, now, while
    start-up's lines are kept off the terminal."""
    if where.processes > 1:
        import jax

        jax.distributed.shutdown()


def _owners(mesh) -> list:
    """For each place along the mesh's first axis, the processes whose devices it holds."""
    import jax
    import numpy as np

    process_of = {f"{d.platform}:{d.id}": d.process_index for d in jax.devices()}
    grid = np.asarray(mesh.devices)
    return [{process_of[str(name)] for name in np.ravel(row)} for row in grid]


def batch_rows(owners: list, process: int) -> tuple[int, int]:
    """(first, count): the places along the batch axis this process feeds,
    from `owners` (the processes of each place). A process feeds every place
    one of its devices holds (the same examples as any other process there)."""
    mine = [row for row, held in enumerate(owners) if process in held]
    if not mine:
        raise DeviceError(f"process {process} holds no device of the mesh: make the mesh use every process's devices")
    if mine != list(range(mine[0], mine[-1] + 1)):
        raise DeviceError(f"process {process} holds places {mine} of the batch axis, which are not next to each other")
    return mine[0], len(mine)


def _checked_model_parallel(keras):
    """keras.distribution.ModelParallel that checks each weight against the pattern that lays it out
    (dimensions, divisibility) as the weight is made, naming the pattern's line in the spec."""

    class CheckedModelParallel(keras.distribution.ModelParallel):
        def __init__(self, mesh, placement, batch_axis):
            layout_map = keras.distribution.LayoutMap(mesh)
            for pattern, axes in placement.layout.items():
                layout_map[pattern] = tuple(axes)
            super().__init__(layout_map=layout_map, batch_dim_name=batch_axis, auto_shard_dataset=False)
            self.placement = placement
            self.sizes = placement.sizes

        def get_variable_layout(self, variable):
            self.placement.axes(variable.path, variable.shape)
            return super().get_variable_layout(variable)

        def check_used(self, model) -> str:
            """Every pattern the spec gives lays out some weight; returns how many weights are split
            (held in parts over the devices, as JAX placed them)."""
            self.placement.check_used([v.path for v in model.weights])
            split = sum(1 for v in model.weights if not v.value.is_fully_replicated)
            return f"{split} of {len(model.weights)} weights split, the others replicated"

    return CheckedModelParallel


@contextlib.contextmanager
def whole(model):
    """While `model` is saved: its weights (and optimizer state) that are split
    over the devices of several processes are held whole on every device, since
    saving reads each as one array and no process can read another's part.
    Every process must enter it (the arrays are gathered from all of them).
    Elsewhere a no-op."""
    spread = _spread(model)
    if not spread:
        yield
        return
    import jax

    kept = [variable.value for variable in spread]
    for variable, value in zip(spread, kept, strict=True):
        whole_on_all = jax.sharding.NamedSharding(value.sharding.mesh, jax.sharding.PartitionSpec())
        # Keras's JAX variable holds its array in `_value`; assign() would lay it out again as the mesh says
        variable._value = jax.device_put(value, whole_on_all)
    try:
        yield
    finally:
        for variable, value in zip(spread, kept, strict=True):
            variable._value = value


def _spread(model) -> list:
    """The variables of `model` and its optimizer that no single process holds whole."""
    from ..backend import keras as _keras

    if _keras().backend.backend() != "jax":
        return []
    import jax

    if jax.process_count() == 1:
        return []
    optimizer = getattr(model, "optimizer", None)
    variables = [*model.weights, *(optimizer.variables if optimizer is not None else ())]
    return [v for v in variables if not v.value.is_fully_addressable and not v.value.is_fully_replicated]


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
    rows: tuple[int, int] | None = None  # (first, count) of the places along the batch it feeds; else an equal share

    def bounds(self, size):
        """(start, length) of this process's slice of a batch of `size` (ints, or TensorFlow's scalars)."""
        share = self.devices // self.processes
        first, count = self.rows or (self.index * share, share)
        per = size // self.devices
        return first * per, count * per

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
    scratch = tempfile.mkdtemp(prefix="builder-processes-")  # their temporary files, removed even if one is killed
    try:
        for index in range(processes):
            env = {**os.environ, ENVIRONMENT[0]: address, ENVIRONMENT[1]: str(processes), ENVIRONMENT[2]: str(index)}
            env.update(KERAS_BACKEND="jax", TMPDIR=scratch)
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
        shutil.rmtree(scratch, ignore_errors=True)


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
