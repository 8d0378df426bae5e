"""The run folder: one training run's files, held by one process at a time
(a lock with its PID), and able to resume only the run it holds: the same
spec (after `extends` and `--set`), the same data, a whole checkpoint."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os

import numpy as np

from ..errors import RunFolderError
from ..files import process_alive
from . import checkpoints, sources

# Every name in a run folder, said once: the files a run writes, in the order `train` lists them,
# then what it keeps for itself. Anything else in a folder means --out names a folder of the user's.
MODEL = "model.keras"  # the tested weights
SPEC = "spec.yaml"  # the spec as resolved
METRICS = "metrics.json"
RECORD = "run.json"  # how the run was started, on what, with which versions
HISTORY_CSV = "history.csv"  # written as each epoch ends
HISTORY = "history.json"
CLASSES = "classes.json"  # the class names predict writes
VOCABULARY = "vocabulary.json"  # a text run's vocabulary
TOKENIZER = "tokenizer.json"  # a text task's KerasHub tokenizer (its word pieces), for predict and generate
CHECKPOINT = "checkpoint"
LOGS = "logs"  # TensorBoard's (where TensorFlow is installed)
CACHE = "cache"  # decoded examples, while the run trains
CALLBACKS = "callbacks"  # files the spec's callbacks write
MLRUNS = "mlruns"  # MLflow's file store
LOCK = ".lock"
MARK = ".builder-run"  # a run's folder until its run.json is written: written when a run first takes it
LISTED = (
    MODEL,
    SPEC,
    METRICS,
    RECORD,
    HISTORY_CSV,
    HISTORY,
    CLASSES,
    VOCABULARY,
    TOKENIZER,
    CHECKPOINT + "/",
    LOGS + "/",
)
RUN_ENTRIES = {name.rstrip("/") for name in LISTED} | {CACHE, CALLBACKS, MLRUNS, LOCK, MARK}


@dataclasses.dataclass
class RunFolder:
    path: str  # what the user named (--out)
    dir: str  # where this process writes: the run folder, or a worker's own on non-chief workers
    chief: bool
    identity: dict  # fingerprints of the spec and the data this run trains
    state: dict  # {'epoch', 'best', 'history'}: empty for a new run, read from the checkpoint to resume

    @property
    def checkpoints(self) -> str:
        return os.path.join(self.dir, CHECKPOINT)

    def file(self, name: str) -> str:
        """Where this process writes the run's file `name` (one of the names above)."""
        return os.path.join(self.dir, name)

    @staticmethod
    def listed_in(path: str) -> list[str]:
        """The files of the run folder `path` that exist, in the order `train` names them."""
        return [name for name in LISTED if os.path.exists(os.path.join(path, name))]

    @property
    def name(self) -> str:
        """The run's name, as trackers and TensorBoard's HParams show it: its folder's."""
        return os.path.basename(os.path.abspath(self.path))


def identity(spec, data_arg) -> dict:
    """Fingerprints of what a run trains: the resolved spec (epochs aside: a
    resumed run may be given more) and the data."""
    data = json.loads(json.dumps(spec.source.data, default=str))
    if isinstance(data.get("training"), dict):
        data["training"].pop("epochs", None)
    return {"spec": _digest(json.dumps(data, sort_keys=True).encode()), "data": data_fingerprint(data_arg)}


def data_fingerprint(data_arg) -> str:
    """The data's name plus, for a file, its bytes' digest; for a folder, its files' names and sizes."""
    if sources.is_dataset(data_arg):  # what it holds, not its contents
        return hashlib.sha256(f"tf.data.Dataset {data_arg.element_spec}".encode()).hexdigest()[:16]
    if isinstance(data_arg, tuple):  # in-memory arrays: their bytes
        digest = hashlib.sha256(b"arrays")
        for array in data_arg:
            digest.update(
                repr(getattr(array, "shape", None)).encode() + memoryview(np.ascontiguousarray(array)).tobytes()
            )
        return digest.hexdigest()[:16]
    data_arg = os.fspath(data_arg)
    digest = hashlib.sha256(data_arg.encode())
    if data_arg.startswith(("tfds:", "hf:")):  # a prepared data set on disk, or a name
        data_arg = data_arg.split(":", 1)[1]
    if os.path.isfile(data_arg):
        with open(data_arg, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    elif os.path.isdir(data_arg):
        for folder, dirs, files in sorted(os.walk(data_arg)):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(folder, name)
                digest.update(f"{os.path.relpath(path, data_arg)}:{os.path.getsize(path)}\n".encode())
    return digest.hexdigest()[:16]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


@contextlib.contextmanager
def locked(folder: RunFolder):
    """Hold the run folder for this process; a second run on it is refused with the first one's PID."""
    _check_is_a_run_folder(folder.path)
    marked = is_run_folder(folder.dir)  # before the lock: a run already marks it (run.json, state, lock)
    os.makedirs(folder.checkpoints, exist_ok=True)
    if not marked:  # a new or empty folder: this run makes it a run folder
        with open(os.path.join(folder.dir, MARK), "wb"):
            pass
    path = os.path.join(folder.dir, LOCK)
    for _ in range(2):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            holder = _holder(path)
            if holder is not None:
                raise RunFolderError(
                    f"{folder.path} is in use by another training run (PID {holder}); wait for "
                    "it to finish, or choose another --out"
                ) from None
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)  # left by a run that was killed
    else:
        raise RunFolderError(f"{folder.path}: cannot take the run folder's lock {path}")
    try:
        os.write(handle, str(os.getpid()).encode())
        os.close(handle)
        yield folder
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)


def unmark(folder: RunFolder):
    """Remove the run's mark once its record (run.json) marks the folder instead."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(folder.dir, MARK))


def first_new(path) -> str | None:
    """The outermost folder of `path` that does not exist yet (making `path` makes it), or None."""
    path, first = os.path.abspath(path), None
    while not os.path.lexists(path):
        path, first = os.path.dirname(path), path
    return first


def remove_empty(path):
    """Remove `path` and the folders in it if they hold no file (a run that
    failed before its first epoch), the run's own mark aside; a folder with a
    file in it stays, and so does the file."""
    if os.path.isdir(path) and not any(files for _, _, files in os.walk(path) if files != [MARK]):
        for folder, _, files in os.walk(path):
            if files == [MARK]:
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(folder, MARK))
    for folder, _, _ in sorted(os.walk(path), key=lambda entry: -len(entry[0])):
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _check_is_a_run_folder(out):
    """--out is new or empty, or a run folder this project made (it holds the
    run's record, its checkpoint state or its lock): never a file, nor a folder
    of the user's, even one whose files bear a run's names (spec.yaml, model.keras)."""
    if not os.path.lexists(out):
        return
    if not os.path.isdir(out):
        raise RunFolderError(f"--out {out} is a file, not a folder; name a new folder for the run")
    entries = [e for e in os.listdir(out) if not e.startswith(".worker-")]
    if is_run_folder(out):
        entries = [e for e in entries if e not in RUN_ENTRIES]
    others = sorted(e for e in entries if not e.startswith("."))
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise RunFolderError(f"--out {out} holds other files ({shown}); name a new or empty folder for the run")


RUNS = "runs"  # where runs go when --out is not given


def default_out(name: str, resume: bool = False) -> str:
    """A run's folder when no --out names one: runs/NAME, or the first of
    runs/NAME-2, runs/NAME-3, ... that does not exist yet, so that two runs of
    one spec never collide (as Ultralytics' runs/train2); to `resume`, the last that exists."""
    base = os.path.join(RUNS, name)
    taken = [base]
    while os.path.lexists(f"{base}-{len(taken) + 1}"):
        taken.append(f"{base}-{len(taken) + 1}")
    if resume or not os.path.lexists(base):
        return taken[-1]
    return f"{base}-{len(taken) + 1}"


def is_run_folder(path) -> bool:
    """Whether `path` is a run folder this project made: its record, its checkpoint's state or its lock is there."""
    marks = (MARK, RECORD, os.path.join(CHECKPOINT, checkpoints.STATE), LOCK)
    return any(os.path.isfile(os.path.join(path, mark)) for mark in marks)


def _holder(path) -> int | None:
    """The PID of the live process holding the lock at `path`, or None."""
    try:
        with open(path, encoding="utf-8") as handle:
            pid = int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0 or pid == os.getpid() or not process_alive(pid):
        return None
    return pid


def check_run_folder(folder: RunFolder, resume) -> RunFolder:
    """A new run folder, or (with `resume`) the one holding this very run's
    checkpoint, whose state it loads. Call it holding the lock."""
    out = folder.path
    state_path = os.path.join(folder.checkpoints, checkpoints.STATE)
    if not resume:
        if os.path.exists(state_path):
            raise RunFolderError(f"{out} already holds a run; continue it with --resume or choose another --out")
        return folder
    if not os.path.exists(state_path):
        raise RunFolderError(f"--resume: {out} holds no checkpoint to resume from (no epoch was completed)")
    folder.state = _read_state(state_path, out)
    _check_same_run(folder, out)
    if not os.path.exists(os.path.join(folder.checkpoints, "last.keras")):
        raise RunFolderError(
            f"--resume: {out}/checkpoint/last.keras is missing, so epoch {folder.state['epoch']} "
            "cannot be continued; train again into another --out"
        )
    return folder


def _read_state(path, out) -> dict:
    try:
        state = checkpoints.read_state(os.path.dirname(path))
        if (
            not isinstance(state, dict)
            or not isinstance(state.get("epoch"), int)
            or not isinstance(state.get("history"), list)
        ):
            raise ValueError("it lacks the epoch or the history")
        state.setdefault("best", None)
        return state
    except (OSError, ValueError) as err:
        raise RunFolderError(
            f"--resume: {out}/checkpoint/state.json is unreadable ({err}); the run cannot be "
            "continued: train again into another --out"
        ) from None


def _check_same_run(folder: RunFolder, out):
    recorded = folder.state.get("identity", {})
    for key, what in (("spec", "the spec (after extends and --set)"), ("data", "the data")):
        if recorded.get(key) != folder.identity[key]:
            raise RunFolderError(
                f"--resume: {what} differs from what {out} was started with; resume with the "
                "same spec and data, or train into another --out"
            )
