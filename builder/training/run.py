"""Training a spec, as a sequence of named steps, each on one screen:

    run folder -> model -> its task's data -> compiled -> fit -> report -> saved

`train()` strings them together. Devices are chosen beforehand
(devices.configure_devices), since TensorFlow fixes them when it starts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from typing import Any

from ..backend import keras as _keras
from ..backend import tensorflow as _tensorflow
from ..errors import FlagError, SpecError
from ..files import write_atomic
from ..keras import weights as starting_weights
from ..keras.assemble import build_model
from ..spec import graph
from ..spec.load import load_spec
from ..spec.resolved import resolved_yaml
from . import batching, checkpoints, distribution, phases, tasks, tracking
from . import data as data_module
from . import folder as folder_module
from . import threads as op_threads
from .compile import callback_options, compile_model, make_callbacks, steps_per_execution
from .devices import device_line, keep_float32, make_strategy, precision_policy, strategy_scope
from .folder import RunFolder
from .interrupt import stopped
from .settings import RunSettings
from .timing import StepTime


def run_folder(settings: RunSettings, run_identity) -> RunFolder:
    """Step 1: the run folder; a process other than data-parallel's first
    writes into a private folder of its own instead (removed at the end),
    with a copy of the run's checkpoints to resume."""
    out, state = settings.out, {"epoch": 0, "history": [], "best": None}
    if settings.cluster is None or settings.cluster.chief:
        return RunFolder(out, out, True, run_identity, state)
    private = tempfile.mkdtemp(prefix=f"builder-process-{settings.cluster.process_id}-")
    shared = os.path.join(out, folder_module.CHECKPOINT)
    if settings.resume and os.path.isdir(shared):
        shutil.copytree(shared, os.path.join(private, folder_module.CHECKPOINT))
    return RunFolder(out, private, False, run_identity, state)


def load_data(job: tasks.Task, expanded, settings: RunSettings, folder: RunFolder):
    """Step 3: the data, read and checked by the run's task, shaped to its model;
    what predict needs of it (a vocabulary, a tokenizer) written beside the
    model at once, so that a resumed run reads the same."""
    data = job.load(expanded, settings, folder)
    if settings.vocabulary is not None and data.tokenizer is None:
        raise FlagError(
            f"--vocabulary {settings.vocabulary}: this run tokenizes no text (a language model, or a spec with "
            "token_ids and padding_mask inputs, does)"
        )
    job.prepare(data)
    if folder.chief:
        if data.vocabulary is not None:
            data_module.save_vocabulary(folder.file(folder_module.VOCABULARY), data.vocabulary)
        for name, value in job.beside(data).items():
            write_atomic(folder.file(name), json.dumps(value).encode())
    return data


def make_model(spec, expanded, settings: RunSettings, folder: RunFolder, strategy):
    """Step 2: the model, built from the spec (from its starting weights, if
    any), or the last checkpoint's to resume (compiled, its optimizer's state in it)."""
    last = os.path.join(folder.checkpoints, "last.keras")
    with strategy_scope(strategy):
        if folder.state["epoch"] and os.path.exists(last):
            return _keras().saving.load_model(last), True
        model = build_model(expanded)
        loaded = starting_weights.start(model, spec, settings.weights)
        if loaded is not None:
            print("\n".join(loaded.lines()), flush=True)
        return model, False


def compile_for(job: tasks.Task, expanded, settings: RunSettings, strategy, data):
    """Step 4: a built model's `adapt: true` layers adapted to the data, and the
    model compiled with its task's loss and metrics."""
    spec, model = job.spec, job.model
    with strategy_scope(strategy):
        adapt_layers(model, expanded, data, spec, settings.batch_size)
        examples, batch_size = len(data.train), settings.batch_size
        compile_model(
            model,
            spec,
            job,
            steps_per_execution=steps_per_execution(spec.training, examples, batch_size, settings.distribute),
        )


@dataclasses.dataclass
class Fitted:
    history: list  # one dict of logs per epoch, the resumed run's earlier epochs included
    first_epoch: int  # where this process started
    seconds: float
    steps: StepTime  # the time of the training steps alone


@dataclasses.dataclass
class _Fitting:
    """What every phase of a fit shares."""

    train: Any  # the training batches
    validation: Any  # the validation batches, or None
    callbacks: list
    settings: RunSettings
    strategy: Any


def fit(model, spec, data, settings: RunSettings, folder: RunFolder, strategy, extra_callbacks=()) -> Fitted:
    """Step 5: fit, with checkpoints after every epoch, logs and the spec's callbacks."""
    config, state = spec.training, folder.state
    steps = batching.Pipeline.of(spec, settings.batch_size)
    cache_dir = folder.file(folder_module.CACHE)
    shutil.rmtree(cache_dir, ignore_errors=True)  # a killed run's partial cache would be refused
    if config.cache in ("disk", "auto"):
        os.makedirs(cache_dir)
    shard = settings.shard
    train_ds = batching.dataset(
        data.train,
        data,
        steps,
        training=True,
        shuffle=config.shuffle,
        cache_file=os.path.join(cache_dir, "train"),
        shard=shard,
    )
    if config.shuffle:
        batching.skip_epochs(train_ds, _done(state))  # a resumed run: the orders of the epochs it continues
    val_ds = (
        batching.dataset(
            data.validation, data, steps, training=False, cache_file=os.path.join(cache_dir, "validation"), shard=shard
        )
        if data.validation
        else None
    )
    timer = StepTime()  # first: its clock stops before the other callbacks' epoch-end work
    callbacks = [timer, *_run_callbacks(spec, settings, folder, has_validation=val_ds is not None), *extra_callbacks]
    fitting = _Fitting(train_ds, val_ds, callbacks, settings, strategy)
    started = time.perf_counter()
    try:
        for phase in phases.plan(spec, settings.epochs):
            _fit_phase(model, spec, phase, folder, fitting)
            if model.stop_training:
                break
    except (KeyboardInterrupt, Exception) as err:  # noqa: BLE001 - TensorFlow's own write errors too
        checkpoints.discard_staged(folder.checkpoints)  # a best model judged in an epoch that never completed
        lost = shard and distribution.peer_lost(err, shard.processes)
        if lost:
            raise lost from None
        stop = stopped(err, _done(state) + 1, folder.path)
        if stop is None:
            raise
        raise stop from None
    return Fitted(state["history"], state["epoch"], time.perf_counter() - started, timer)


def _run_callbacks(spec, settings: RunSettings, folder: RunFolder, has_validation: bool) -> list:
    """The run's own callbacks: checkpoints, the history file, the spec's, and TensorBoard's logs."""
    keras, config, state = _keras(), spec.training, folder.state
    monitor = config.monitor if has_validation or not config.monitor.startswith("val_") else "loss"
    history_csv = folder.file(folder_module.HISTORY_CSV)
    if not state["epoch"] and os.path.exists(history_csv):
        os.remove(history_csv)  # left by a run killed in its first epoch
    say = print if settings.verbose != 0 else None
    callbacks = [
        *checkpoints.callbacks(folder.checkpoints, monitor, config.mode, state, folder.identity, say),
        keras.callbacks.CSVLogger(history_csv, append=True),
        *make_callbacks(config, folder.dir),
    ]
    if batching.has_tf_data():
        options = {**callback_options(config, "tensorboard"), "log_dir": folder.file(folder_module.LOGS)}
        callbacks.append(keras.callbacks.TensorBoard(**options))
    return callbacks


def _done(state) -> int:
    return state["history"][-1]["epoch"] if state["history"] else state["epoch"]


def _fit_phase(model, spec, phase, folder: RunFolder, fitting: _Fitting):
    """One phase's epochs; entered afresh unless the run resumes in its middle
    (then the checkpoint holds its trainable layers and optimizer state)."""
    done = _done(folder.state)
    if done >= phase.end:
        return
    if spec.training.phases and done <= phase.start:
        phases.enter(model, spec, phase)
        print(
            f"Phase {phase.number}: epochs {phase.start + 1}-{phase.end}, training "
            f"{'all layers' if phase.trainable == 'all' else ', '.join(phase.trainable)}",
            flush=True,
        )
    model.fit(
        fitting.train,
        validation_data=fitting.validation,
        epochs=phase.end,
        initial_epoch=done,
        callbacks=fitting.callbacks,
        verbose=fitting.settings.verbose,
        shuffle=False,
    )  # the pipeline shuffles
    if phase.number < len(spec.training.phases or ()):
        checkpoints.save(model, os.path.join(folder.checkpoints, f"phase-{phase.number}.keras"))


def report(model, spec, data, fitted: Fitted, settings: RunSettings, folder: RunFolder, strategy) -> dict:
    """Step 6: the run's metrics: its time and throughput, the tested weights
    (use_tested_weights), their test metrics and validation metrics."""
    history = fitted.history
    completed = history[-1]["epoch"] if history else fitted.first_epoch
    trained = len(data.train) * (completed - fitted.first_epoch)
    metrics = {
        "data": data_module.describe_source(settings.data),
        "epochs": completed,
        "seconds": round(fitted.seconds, 3),
        "samples_per_second": round(trained / fitted.seconds, 1) if fitted.seconds > 0 and trained else None,
        "step_samples_per_second": fitted.steps.samples_per_second(len(data.train)),
        "params": int(model.count_params()),
    }
    metrics.update(use_tested_weights(model, spec, folder, completed))  # in every process: they train as one
    if data.test is not None:
        pipeline = batching.Pipeline.of(spec, settings.batch_size)
        test_ds = batching.dataset(data.test, data, pipeline, training=False, shard=settings.shard)
        results = model.evaluate(test_ds, return_dict=True, verbose=0)
        metrics.update({f"test_{name}": float(value) for name, value in results.items()})
        if settings.shard is not None:
            metrics["test_examples"] = settings.shard.used(len(data.test), settings.batch_size)
    if history:
        tested = metrics.get("tested_epoch", completed)
        row = next((h for h in history if h["epoch"] == tested), history[-1])
        metrics.update({k: v for k, v in row.items() if k.startswith("val_")})
    return metrics


def save_run(model, spec, data, settings: RunSettings, folder: RunFolder, metrics: dict, facts: dict):
    """Step 7: model.keras, the history, classes, the resolved spec, run.json
    and metrics.json in the run folder (a worker other than the chief removes
    its own folder instead). `facts`: what run.json records of how the run
    trained, besides its settings (threads, device)."""
    if not folder.chief:  # saving gathers the variables from every process: this one saves too (train_run cleans up)
        checkpoints.save(model, folder.file(folder_module.MODEL))
        return
    log_results(folder, spec, settings, metrics)
    shutil.rmtree(folder.file(folder_module.CACHE), ignore_errors=True)  # the run's own decoded copies
    checkpoints.save(model, folder.file(folder_module.MODEL))
    history = folder.state["history"]  # one dict of logs per epoch, the resumed run's earlier epochs included
    write_atomic(folder.file(folder_module.HISTORY), json.dumps(history, indent=1).encode())
    if data.class_names:  # predict names its classes with them
        write_atomic(folder.file(folder_module.CLASSES), json.dumps(data.class_names).encode())
    write_atomic(folder.file(folder_module.SPEC), resolved_yaml(spec, header=_SPEC_HEADER).encode())
    record = run_record(model, spec, data, settings, folder, facts)
    write_atomic(folder.file(folder_module.RECORD), json.dumps(record, indent=1).encode())
    write_atomic(folder.file(folder_module.METRICS), json.dumps(_finite(metrics), indent=1).encode())
    folder_module.unmark(folder)  # run.json says now whose folder it is


def run_record(model, spec, data, settings: RunSettings, folder: RunFolder, facts: dict) -> dict:
    """run.json: what was trained, on what, with which settings and versions."""
    config, data_arg = spec.training, settings.data
    return {
        "spec": spec.source.file,
        "resolved_spec": folder_module.SPEC,
        "name": spec.name,
        "task": facts["task"],
        **{key: facts[key] for key in ("sequence_length", "text_pairs", "outputs", "loss_weights") if key in facts},
        **settings.record,
        **_distribution_record(settings),
        "data": data_arg if isinstance(data_arg, str) else data_module.describe_source(data_arg),
        "data_fingerprint": folder.identity["data"],
        "seed": config.seed,
        "validation_split": config.validation_split,
        "test_split": config.test_split,
        "batch_size": settings.batch_size,
        "rescale": _scaling(config, data),
        "new_data_rescale": _new_data_scaling(config, facts),
        "label": settings.label,
        "ignore_index": config.ignore_index,
        "tfrecord": config.tfrecord.model_dump() if config.tfrecord else None,
        "steps_per_execution": int(getattr(model, "steps_per_execution", None) or 1),
        "jit_compile": bool(getattr(model, "jit_compile", False)),
        "intra_op_threads": facts["intra_op_threads"],
        "num_parallel_calls": config.num_parallel_calls,
        "prefetch": config.prefetch,
        "precision": _keras().mixed_precision.global_policy().name,
        "float32_layers": _float32_layers(model),
        "device": facts["device"],
        "versions": versions(),
    }


def _distribution_record(settings: RunSettings) -> dict:
    """How the run was spread over devices and processes."""
    record: dict = {"distribute": settings.distribute}
    if settings.layout is not None:
        record.update(
            engine="keras.distribution.ModelParallel", processes=settings.shard.processes, mesh=settings.layout.sizes
        )
    elif settings.shard is not None:
        record.update(
            engine="keras.distribution.DataParallel",
            processes=settings.shard.processes,
            devices=settings.shard.devices,
        )
    return record


def _float32_layers(model) -> list:
    """Under a mixed policy, the layers kept float32 (the output layer, embeddings)."""
    if not _keras().mixed_precision.global_policy().name.startswith("mixed"):
        return []
    return [layer.name for layer in model.layers if layer.compute_dtype == "float32"]


_SPEC_HEADER = (
    "# The spec this run trained, as resolved: extends, --set and imports applied, blocks written in.\n"
    "# `python cli.py train spec.yaml --data ...` trains the same network again."
)


def versions() -> dict:
    """The versions a run depends on, for its record."""
    import importlib.metadata
    import platform

    import numpy

    keras = _keras()
    found = {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "numpy": numpy.__version__,
    }
    for package in ("keras-spec-builder", "tensorflow", "jax", "torch"):
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def log_results(folder: RunFolder, spec, settings: RunSettings, metrics):
    """TensorBoard's HParams view: the run's settings and overrides, and its
    test metrics, in logs/results (where TensorFlow is installed)."""
    if not batching.has_tf_data():
        return
    tf = _tensorflow()
    from tensorboard.plugins.hparams import api as hparams_api

    with tf.summary.create_file_writer(os.path.join(folder.file(folder_module.LOGS), "results")).as_default():
        hparams_api.hparams(tracking.hyperparameters(spec, settings), trial_id=folder.name)
        for key, value in metrics.items():
            if key.startswith(("test_", "val_")) and isinstance(value, float) and math.isfinite(value):
                tf.summary.scalar(key, value, step=metrics["epochs"])


def results_table(metrics: dict) -> list[str]:
    """The run's results as a table for the terminal: which weights were
    tested, the test and validation metrics, time and throughput."""
    if metrics.get("tested") == "checkpoint/best.keras":
        head = (
            f"Results of checkpoint/best.keras (epoch {metrics['tested_epoch']} of {metrics['epochs']}, "
            f"the best {metrics['monitor']}), saved as model.keras:"
        )
    else:
        head = f"Results of the last epoch's weights (epoch {metrics['epochs']}), saved as model.keras:"
    rows = [(k, v) for k, v in metrics.items() if k.startswith(("test_", "val_"))]
    rows += [
        ("epochs", metrics["epochs"]),
        ("seconds", metrics["seconds"]),
        ("samples per second, whole run", metrics["samples_per_second"]),
    ]
    if metrics.get("step_samples_per_second"):
        rows.append(("samples per second, training steps", metrics["step_samples_per_second"]))
    rows.append(("parameters", f"{metrics['params']:,}"))
    width = max(len(k) for k, _ in rows)
    return [
        head,
        *(
            f"  {k:<{width}}  {v:.4f}"
            if isinstance(v, float) and k.startswith(("test_", "val_"))
            else f"  {k:<{width}}  {v}"
            for k, v in rows
        ),
    ]


def use_tested_weights(model, spec, folder: RunFolder, completed) -> dict:
    """Step 6a: the weights that are tested and saved as model.keras: the best
    checkpoint's (`training.test_on: best`, the default) or the last epoch's;
    what the report says about them."""
    state = (
        checkpoints.read_state(folder.checkpoints)
        if os.path.exists(os.path.join(folder.checkpoints, checkpoints.STATE))
        else {}
    )
    best_epoch, best_file = state.get("best_epoch"), os.path.join(folder.checkpoints, "best.keras")
    if spec.training.test_on == "final" or best_epoch is None or not os.path.exists(best_file):
        return {"tested": "final", "tested_epoch": completed}
    if best_epoch != completed:
        model.set_weights(_keras().saving.load_model(best_file, compile=False).get_weights())
    return {
        "tested": "checkpoint/best.keras",
        "tested_epoch": best_epoch,
        "monitor": state.get("monitor"),
        "best": state.get("best"),
    }


def _scaling(config, data) -> float:
    """The factor the pipeline applied to the inputs (1.0: none), for evaluate and predict to apply the same."""
    factor = config.preprocessing.rescale if config.preprocessing.rescale is not None else data.rescale
    return 1.0 if factor is None else factor


def _new_data_scaling(config, facts) -> float | None:
    """How evaluate and predict scale data other than the run's own: the
    spec's `preprocessing.rescale`, 1.0 where the model scales its raw input
    itself, else null: each kind of data its own (images 1/255), never the
    training source's factor (digits' 1/16 would brighten new images 16-fold)."""
    if config.preprocessing.rescale is not None:
        return config.preprocessing.rescale
    return 1.0 if facts["scales_its_input"] else None


def adapt_layers(model, expanded, data, spec, batch_size):
    """Layers with `adapt: true` (normalization) learn their state from the
    training inputs as they reach them, before fitting."""
    keras = _keras()

    def training_inputs():
        return batching.dataset(data.train, data, batching.Pipeline.of(spec, batch_size, seed=0), training=False)

    for node in expanded.nodes:
        if node.type.adapts and node.args.get("adapt") and node.shares is None:
            layer = model.get_layer(node.name)
            if not any(layer.input is tensor for tensor in model.inputs):
                values = keras.Model(model.inputs, layer.input).predict(training_inputs(), verbose=0)
            elif data.streamed:
                values = training_inputs().map(lambda x, y: x)
            else:
                values = data.train.x  # the raw input itself (texts for a text_vectorization)
            layer.adapt(values)
            print(f"Adapted {node.type.name} '{node.name}' to the {len(data.train)} training examples", flush=True)


def _finite(metrics: dict) -> dict:
    """JSON has no NaN: a loss that diverged is written as null (and says so)."""
    diverged = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    cleaned = {k: (None if k in diverged else v) for k, v in metrics.items()}
    if diverged:
        cleaned["diverged"] = diverged
    return cleaned


def seed_everything(seed, deterministic=True):
    """Same seed, same weights and same batches: Keras's seed, and TensorFlow's
    deterministic kernels where TensorFlow runs (unless not `deterministic`:
    Keras compiles no model with XLA under them)."""
    keras = _keras()
    if batching.has_tf_data():
        _tensorflow()  # set_random_seed seeds TensorFlow too; import it quietly first
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow" and deterministic:
        _tensorflow().config.experimental.enable_op_determinism()


@dataclasses.dataclass
class Run:
    """A finished training run: the trained model (the tested weights), its
    history (one dict per epoch), its metrics (metrics.json) and its folder."""

    model: object
    history: list
    metrics: dict
    dir: str


def train(spec, data_arg, out, **options) -> dict:
    """Train `spec` (a loaded Spec) on `data_arg`; write the run folder `out`;
    return the metrics written to metrics.json. `options`: RunSettings.make's."""
    return train_run(spec, RunSettings.make(spec, data_arg, out, **options)).metrics


def train_run(spec, settings: RunSettings) -> Run:
    """Train `spec` as `settings` say (RunSettings.make) into the run folder
    `settings.out`, and return the finished Run."""
    op_threads.check_backend(spec)
    strategy = make_strategy(settings.distribute)
    if settings.distribute in ("data-parallel", "model-parallel"):
        settings = _distributed(spec, settings)
    folder = run_folder(settings, folder_module.identity(spec, settings.data))
    created = folder_module.first_new(settings.out) if folder.chief else None  # runs/, where the run makes it too
    finished = False
    try:
        with folder_module.locked(folder):
            folder_module.check_run_folder(folder, settings.resume)
            trained = _train(spec, settings, folder, strategy)
            finished = True
            return trained
    except BaseException:
        if created:  # failed before writing anything: leave no empty run folder (nor runs/) behind
            folder_module.remove_empty(created)
        raise
    finally:
        if settings.shard is not None:  # after a failure, a peer may be gone: no waiting for it
            distribution.stop(settings.shard, together=finished)
        if not folder.chief:
            shutil.rmtree(folder.dir, ignore_errors=True)


def _distributed(spec, settings: RunSettings) -> RunSettings:
    """keras.distribution on JAX: join the processes that train (one without a cluster); data-parallel:
    shard every batch over their devices; model-parallel: spread the weights over their devices as the
    spec's `training.distribution` says."""
    if _keras().backend.backend() != "jax":
        raise FlagError(
            f"--distribute {settings.distribute} runs on Keras's JAX backend; this process runs "
            f"{_keras().backend.backend()} (set KERAS_BACKEND=jax)"
        )
    where = settings.cluster or distribution.Cluster(None)
    if settings.distribute == "model-parallel":
        layout, shard = distribution.start_model_parallel(spec.training.distribution, where)
        started = {"layout": layout, "cluster": where}
    else:
        shard = distribution.start(where)
        started = {"cluster": where}
    try:
        shard.check(settings.batch_size)
    except FlagError:
        distribution.stop(shard, together=False)
        raise
    return dataclasses.replace(settings, shard=shard, **started)


def _train(spec, settings: RunSettings, folder: RunFolder, strategy) -> Run:
    policy = "mixed_float16" if settings.mixed_precision else precision_policy(spec.training.precision)
    if policy != "float32" and spec.output is not None:
        spec.output.setdefault("dtype", "float32")  # a float16 softmax loses too much
    previous = _keras().mixed_precision.global_policy().name
    try:
        expanded = graph.expand(spec)
        threads = op_threads.choose(spec, expanded, settings.batch_size)  # first: its probe clears Keras's session
        _keras().mixed_precision.set_global_policy(policy)
        device = settings.shard.line if settings.shard is not None else device_line(strategy)
        facts: dict = {"intra_op_threads": threads.intra_op, "device": device}
        facts["scales_its_input"] = expanded.scales_its_input
        seed_everything(spec.training.seed, deterministic=spec.training.jit_compile is not True)
        keep_float32(expanded, _keras().mixed_precision.global_policy().name)
        model, resumed = make_model(spec, expanded, settings, folder, strategy)
        if settings.layout is not None:
            facts["device"] += f"; {settings.layout.check_used(model)}"
        job = tasks.of(spec, model)
        data = load_data(job, expanded, settings, folder)
        if not resumed:  # a resumed model is compiled, its optimizer's state in it
            compile_for(job, expanded, settings, strategy, data)
        facts.update(task=job.name, **job.facts(data))
        phases.check(spec, model)
        print(facts["device"], flush=True)
        if threads.line():
            print(threads.line(), flush=True)
        print(_data_line(spec, settings, folder, data), flush=True)
        with tracking.tracked(spec, settings, folder) as (tracker_callbacks, finish):
            fitted = fit(model, spec, data, settings, folder, strategy, [*settings.callbacks, *tracker_callbacks])
            metrics = report(model, spec, data, fitted, settings, folder, strategy)
            save_run(model, spec, data, settings, folder, metrics, facts)
            finish(metrics)
        return Run(model, fitted.history, metrics, folder.path)
    except SpecError as err:
        if err.path and not err.located:  # a training setting Keras refused (an optimizer's, a callback's)
            spec.source.locate(err)
        raise
    finally:
        _keras().mixed_precision.set_global_policy(previous)


def _data_line(spec, settings: RunSettings, folder: RunFolder, data) -> str:
    """The run's Data line: the source, its splits' sizes, how it was split, where its decoded examples are kept."""
    steps = batching.Pipeline.of(spec, settings.batch_size)
    cached = batching.cache_mode(data.train, data, steps.shape, steps.cache, folder.file(folder_module.CACHE))
    split_by = ""
    if data.split_by_folders:
        split_by = (
            " (split by its own train, validation and test splits)"
            if data.streamed
            else " (split by its own train/, val/, test/ folders)"
        )
    return (
        f"Data: {data_module.describe_source(settings.data)}: {len(data.train)} training, "
        f"{len(data.validation) if data.validation else 0} validation, "
        f"{len(data.test) if data.test else 0} test examples"
        + split_by
        + _cache_note(data, cached)
        + _shard_note(settings, len(data.train))
    )


def _shard_note(settings: RunSettings, examples: int) -> str:
    """Data- or model-parallel: what each process reads, and any examples a last batch leaves out."""
    shard, notes = settings.shard, []
    if shard is None:
        return ""
    whole = shard.bounds(settings.batch_size)[1] == settings.batch_size
    if shard.processes > 1:
        part = "feeds all of every batch" if whole else "trains on its slice of every batch"
        notes.append(f"each of {shard.processes} processes {part} of {settings.batch_size}")
    left = examples - shard.used(examples, settings.batch_size)
    if left:
        notes.append(f"{left} of a last batch left out each epoch (batches split evenly over {shard.devices} devices)")
    return "".join(f"; {note}" for note in notes)


def _cache_note(data, mode) -> str:
    """Where the data's decoded examples are kept between epochs, for the run's Data line."""
    if not (data.streamed or data.images_from_files):
        return ""
    what = "examples" if data.streamed else "images"
    uncached = "streamed, decoded every epoch" if data.streamed else "images decoded from their files every epoch"
    notes = {"memory": f"decoded {what} cached in memory", "disk": f"decoded {what} cached in cache/", "none": uncached}
    return "; " + notes[mode]


def load_for_training(path, overrides, mixed_precision=False, limits=None):
    """The spec to train: under mixed precision the output layer stays float32
    (a float16 softmax loses too much), unless the spec says otherwise."""
    overrides = dict(overrides)
    if mixed_precision:
        overrides.setdefault("output.dtype", "float32")
    return load_spec(path, overrides=overrides, limits=limits)
