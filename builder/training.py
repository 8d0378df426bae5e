"""Training a spec: devices, distribution, compile, fit with atomic
checkpoints and resume, evaluation, and the run folder.

TensorFlow-specific code (device set-up, tf.distribute) lives here and in
pipeline.py only; on the JAX or PyTorch backends training runs without it.
"""

from __future__ import annotations

import json
import os
import shutil
import time

from . import data as data_module
from . import graph, pipeline
from .backend import keras as _keras
from .backend import tensorflow as _tensorflow
from .errors import SpecError
from .files import atomic_path, write_atomic

DEVICES = ("auto", "cpu", "gpu")
DISTRIBUTE = ("none", "mirrored", "multi-worker")


# --- devices and strategies -----------------------------------------------------------

def configure_devices(device="auto", cpu_devices=None):
    """Choose devices before TensorFlow starts. `cpu` hides every GPU, `gpu`
    insists on one; `cpu_devices` splits the CPU into that many logical
    devices (to try `--distribute mirrored` without GPUs)."""
    if device not in DEVICES:
        raise SpecError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"      # every backend honours this at start-up
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
    except RuntimeError as err:       # TensorFlow already started in this process
        raise SpecError(f"cannot change devices now: {err}") from None
    if device == "gpu" and not tf.config.list_physical_devices("GPU"):
        raise SpecError("--device gpu: no GPU is visible to TensorFlow (try --device auto or cpu)")


def device_line(strategy) -> str:
    """'Training on ...': which devices train."""
    keras = _keras()
    if keras.backend.backend() != "tensorflow":
        return f"Training on {keras.backend.backend()} backend devices"
    tf = _tensorflow()
    gpus = tf.config.list_logical_devices("GPU")
    if strategy is not None:
        replicas = strategy.num_replicas_in_sync
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            cluster = json.loads(os.environ["TF_CONFIG"])["cluster"]
            workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
            return f"Training with MultiWorkerMirroredStrategy on {workers} workers, {replicas} replicas in all"
        devices = strategy.extended.worker_devices
        return f"Training with {type(strategy).__name__} on {replicas} replicas: {', '.join(devices)}"
    if gpus:
        return f"Training on {len(gpus)} GPU(s): {', '.join(g.name for g in gpus)}"
    return "Training on the CPU"


def make_strategy(distribute):
    if distribute not in DISTRIBUTE:
        raise SpecError(f"--distribute must be one of {', '.join(DISTRIBUTE)}, got {distribute!r}")
    if distribute == "none":
        return None
    if _keras().backend.backend() != "tensorflow":
        raise SpecError("--distribute uses tf.distribute and needs the TensorFlow backend")
    tf = _tensorflow()
    if distribute == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or \
                  [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if "TF_CONFIG" not in os.environ:
        raise SpecError("--distribute multi-worker reads the cluster from the TF_CONFIG environment "
                        "variable, which is not set (docs/training.md shows one)")
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief() -> bool:
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = config.get("task", {})
    return task.get("type", "worker") == "chief" or (task.get("type", "worker") == "worker"
                                                       and task.get("index", 0) == 0
                                                       and "chief" not in config.get("cluster", {}))


# --- compile ---------------------------------------------------------------------------

def _named(value):
    return (value, {}) if isinstance(value, str) else next(iter(value.items()))


def make_optimizer(config):
    keras = _keras()
    name, args = _named(config)
    args = dict(args or {})
    if isinstance(args.get("learning_rate"), dict):
        schedule, schedule_args = _named(args["learning_rate"])
        args["learning_rate"] = keras.optimizers.schedules.deserialize(
            {"class_name": "".join(p.capitalize() for p in schedule.split("_")), "config": schedule_args or {}})
    try:
        return keras.optimizers.get({"class_name": name, "config": args})
    except (ValueError, TypeError) as err:
        raise SpecError(f"optimizer {name!r}: {err}", path=("training", "optimizer")) from None


def task_of(spec) -> str:
    """'classifier', 'binary' or 'regression', from the output layer."""
    if spec.output is None:
        return "regression"
    activation = spec.output.get("activation")
    if activation == "softmax":
        return "classifier"
    if activation == "sigmoid" and spec.output.get("units") == 1:
        return "binary"
    return "regression"


DEFAULT_LOSS = {"classifier": "sparse_categorical_crossentropy", "binary": "binary_crossentropy",
                "regression": "mean_squared_error"}
DEFAULT_METRICS = {"classifier": ["accuracy"], "binary": ["accuracy"], "regression": ["mae"]}


def compile_model(model, spec):
    config = spec.training
    task = task_of(spec)
    model.compile(optimizer=make_optimizer(config.optimizer), loss=config.loss or DEFAULT_LOSS[task],
                  metrics=config.metrics if config.metrics is not None else DEFAULT_METRICS[task])


def make_callbacks(config):
    keras = _keras()
    callbacks = []
    for item in config.callbacks:
        name, args = _named(item)
        cls = {"early_stopping": keras.callbacks.EarlyStopping,
               "reduce_lr_on_plateau": keras.callbacks.ReduceLROnPlateau,
               "terminate_on_nan": keras.callbacks.TerminateOnNaN}[name]
        try:
            callbacks.append(cls(**(args or {})))
        except TypeError as err:
            raise SpecError(f"callback {name}: {err}", path=("training", "callbacks")) from None
    return callbacks


# --- the run ---------------------------------------------------------------------------

def _checkpoint_callback():
    keras = _keras()

    class EpochCheckpoint(keras.callbacks.Callback):
        """After every epoch: the model with its optimizer state (`last.keras`),
        the best one so far by `monitor` (`best.keras`), and `state.json` with
        the epochs done and the history: what `--resume` continues from. Each
        file is replaced atomically, so a kill at any moment leaves a whole one."""

        def __init__(self, directory, monitor, history, best):
            super().__init__()
            self.directory = directory
            self.monitor = monitor
            self.history = history
            self.best = best

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            self.history.append({"epoch": epoch + 1, **logs})
            value = logs.get(self.monitor)
            improved = value is not None and (self.best is None or (
                value > self.best if "acc" in self.monitor else value < self.best))
            with atomic_path(os.path.join(self.directory, "last.keras"), suffix=".keras") as temporary:
                self.model.save(temporary)
            if improved:
                self.best = value
                with atomic_path(os.path.join(self.directory, "best.keras"), suffix=".keras") as temporary:
                    shutil.copyfile(os.path.join(self.directory, "last.keras"), temporary)
            write_atomic(os.path.join(self.directory, "state.json"), json.dumps(
                {"epoch": epoch + 1, "monitor": self.monitor, "best": self.best, "history": self.history},
                indent=1).encode())

    return EpochCheckpoint


def _max_tokens(expanded):
    """The first embedding's vocabulary size, to cap a text vectorizer's."""
    for node in expanded.nodes:
        for key in ("input_dim", "vocabulary_size"):
            if node.type.name in ("embedding", "token_and_position_embedding") and key in node.args:
                return node.args[key]
    return None


def train(spec, data_arg, out, *, epochs=None, batch_size=None, resume=False, distribute="none",
          mixed_precision=False, verbose="auto", label=None) -> dict:
    """Train `spec` (a loaded Spec) on `data_arg`; write the run folder `out`;
    return the metrics written to metrics.json. Devices are set beforehand
    with configure_devices()."""
    keras = _keras()
    config = spec.training
    epochs = epochs or config.epochs
    batch_size = batch_size or config.batch_size
    strategy = make_strategy(distribute)
    chief = is_chief() if distribute == "multi-worker" else True
    run_dir = out if chief else os.path.join(out, f".worker-{json.loads(os.environ['TF_CONFIG'])['task']['index']}")
    checkpoint_dir = os.path.join(run_dir, "checkpoint")
    os.makedirs(checkpoint_dir, exist_ok=True)
    state_path = os.path.join(checkpoint_dir, "state.json")
    if not resume and os.path.exists(state_path):
        raise SpecError(f"{out} already holds a run; continue it with --resume or choose another --out")
    state = {"epoch": 0, "history": [], "best": None}
    if resume:
        if not os.path.exists(state_path):
            raise SpecError(f"--resume: {out} holds no checkpoint to resume from")
        with open(state_path, encoding="utf-8") as handle:
            state = json.load(handle)

    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    if pipeline.has_tf_data():
        _tensorflow()         # set_random_seed seeds TensorFlow too; import it quietly first
    keras.utils.set_random_seed(config.seed)
    if keras.backend.backend() == "tensorflow":
        tf = _tensorflow()
        tf.config.experimental.enable_op_determinism()

    expanded = graph.expand(spec)          # once: for the vocabulary size and the model
    vocabulary = data_module.load_vocabulary(os.path.join(run_dir, "model.keras")) if resume else None
    item = spec.inputs[0] if len(spec.inputs) == 1 else None
    if item is None:
        raise SpecError(f"training from --data needs a spec with one input; this one has {len(spec.inputs)}")
    data = data_module.load(data_arg, item.shape, item.dtype, validation_split=config.validation_split,
                            test_split=config.test_split, seed=config.seed, vocabulary=vocabulary,
                            max_tokens=_max_tokens(expanded), label=label)
    if data.vocabulary is not None and chief:
        data_module.save_vocabulary(os.path.join(run_dir, "vocabulary.json"), data.vocabulary)

    scope = strategy.scope() if strategy is not None else _NoScope()
    with scope:
        if resume and os.path.exists(os.path.join(checkpoint_dir, "last.keras")):
            model = keras.saving.load_model(os.path.join(checkpoint_dir, "last.keras"))
        else:
            from .model import build_model
            model = build_model(expanded)
            compile_model(model, spec)
    print(device_line(strategy), flush=True)
    print(f"Data: {data_module.describe_source(data_arg)}: {len(data.train.y)} training, "
          f"{len(data.validation.y) if data.validation else 0} validation, "
          f"{len(data.test.y) if data.test else 0} test examples", flush=True)

    make = dict(data=data, shape=item.shape, batch_size=batch_size, preprocessing=config.preprocessing,
                seed=config.seed)
    train_ds = pipeline.dataset(data.train, training=True, shuffle=config.shuffle, **make)
    val_ds = pipeline.dataset(data.validation, training=False, **make) if data.validation else None
    monitor = config.monitor if val_ds is not None or not config.monitor.startswith("val_") else "loss"

    callbacks = [_checkpoint_callback()(checkpoint_dir, monitor, state["history"], state["best"]),
                 keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv"), append=resume),
                 *make_callbacks(config)]
    if pipeline.has_tf_data():
        callbacks.append(keras.callbacks.TensorBoard(log_dir=os.path.join(run_dir, "logs")))
    initial_epoch = state["epoch"]
    loop = _MultiWorkerLoop(model, spec, strategy) if distribute == "multi-worker" else None
    started = time.perf_counter()
    if initial_epoch < epochs:
        if distribute == "multi-worker":
            loop.fit(train_ds, val_ds, epochs, initial_epoch, callbacks)
        else:
            model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch,
                      callbacks=callbacks, verbose=verbose, shuffle=False)    # the pipeline shuffles
    seconds = time.perf_counter() - started
    history = callbacks[0].history
    completed = history[-1]["epoch"] if history else initial_epoch

    metrics = {"data": data_module.describe_source(data_arg), "epochs": completed,
               "seconds": round(seconds, 3),
               "samples_per_second": round(len(data.train.y) * (completed - initial_epoch) / seconds, 1)
               if seconds > 0 and completed > initial_epoch else None,
               "params": int(model.count_params())}
    if data.test is not None:
        test_ds = pipeline.dataset(data.test, training=False, **make)
        results = loop.evaluate(test_ds) if loop else model.evaluate(test_ds, return_dict=True, verbose=0)
        metrics.update({f"test_{name}": float(value) for name, value in results.items()})
    if history:
        metrics.update({k: v for k, v in history[-1].items() if k.startswith("val_")})
    if chief:
        with atomic_path(os.path.join(run_dir, "model.keras"), suffix=".keras") as temporary:
            model.save(temporary)
        write_atomic(os.path.join(run_dir, "history.json"), json.dumps(history, indent=1).encode())
        write_atomic(os.path.join(run_dir, "run.json"), json.dumps(
            {"spec": spec.source.file, "name": spec.name, "data": data_arg, "seed": config.seed,
             "validation_split": config.validation_split, "test_split": config.test_split,
             "batch_size": batch_size, "rescale": config.preprocessing.rescale, "label": label},
            indent=1).encode())
        write_atomic(os.path.join(run_dir, "metrics.json"), json.dumps(metrics, indent=1).encode())
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return metrics


class _MultiWorkerLoop:
    """An explicit tf.distribute loop for MultiWorkerMirroredStrategy, which
    Keras 3's fit() and evaluate() cannot drive (keras-team/keras#20585): each
    replica computes its gradients, the strategy all-reduces them, and the
    loss and metric are summed over every worker. Callbacks (checkpoints,
    history, TensorBoard) see the same epoch logs as under fit()."""

    def __init__(self, model, spec, strategy):
        tf = _tensorflow()
        keras = _keras()
        self.tf, self.model, self.strategy = tf, model, strategy
        self.task = task_of(spec)
        self.metric = {"classifier": "accuracy", "binary": "accuracy", "regression": "mae"}[self.task]
        if spec.training.metrics not in (None, [self.metric]):
            raise SpecError(f"--distribute multi-worker reports the loss and {self.metric}; remove "
                            f"training.metrics or set it to [{self.metric}]")
        self.loss_fn = keras.losses.get(spec.training.loss or DEFAULT_LOSS[self.task])
        self.run = tf.function(self._run)

    def _per_example(self, y, prediction):
        tf = self.tf
        losses = tf.reshape(self.loss_fn(y, prediction), [-1])
        if self.task == "classifier":
            score = tf.cast(tf.equal(tf.cast(tf.argmax(prediction, -1), y.dtype), y), "float32")
        elif self.task == "binary":
            score = tf.cast(tf.equal(tf.cast(tf.reshape(prediction, [-1]) > 0.5, "float32"),
                                     tf.cast(tf.reshape(y, [-1]), "float32")), "float32")
        else:
            score = tf.reduce_mean(tf.abs(tf.reshape(tf.cast(y, "float32"), tf.shape(prediction)) - prediction), -1)
        return losses, score

    def _train_step(self, x, y):
        tf = self.tf
        with tf.GradientTape() as tape:
            losses, score = self._per_example(y, self.model(x, training=True))
            global_batch = tf.cast(tf.shape(losses)[0] * self.strategy.num_replicas_in_sync, "float32")
            loss = tf.reduce_sum(losses) / global_batch
        variables = self.model.trainable_variables
        self.model.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return tf.reduce_sum(losses), tf.reduce_sum(score), tf.cast(tf.shape(losses)[0], "float32")

    def _test_step(self, x, y):
        losses, score = self._per_example(y, self.model(x, training=False))
        return self.tf.reduce_sum(losses), self.tf.reduce_sum(score), self.tf.cast(self.tf.shape(losses)[0], "float32")

    def _run(self, training, x, y):
        totals = self.strategy.run(self._train_step if training else self._test_step, args=(x, y))
        return [self.strategy.reduce("SUM", value, axis=None) for value in totals]

    def _over(self, dataset, training):
        sums = [0.0, 0.0, 0.0]
        for x, y in self.strategy.experimental_distribute_dataset(dataset):
            sums = [a + float(b) for a, b in zip(sums, self.run(training, x, y))]
        return {"loss": sums[0] / sums[2], self.metric: sums[1] / sums[2]}

    def evaluate(self, dataset):
        return self._over(dataset, training=False)

    def fit(self, train_ds, val_ds, epochs, initial_epoch, callbacks):
        callback_list = _keras().callbacks.CallbackList(callbacks, model=self.model)
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            logs = self._over(train_ds, training=True)
            if val_ds is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(val_ds).items()})
            print(f"Epoch {epoch + 1}/{epochs} - " + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()),
                  flush=True)
            callback_list.on_epoch_end(epoch, logs)
            if self.model.stop_training:
                break
        callback_list.on_train_end()


class _NoScope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --- evaluate and predict a saved model ---------------------------------------------------

def _run_settings(model_path):
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), "run.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    return {}


def load_trained(model_path):
    keras = _keras()
    if not os.path.exists(model_path):
        raise SpecError(f"{model_path}: no such model file")
    try:
        return keras.saving.load_model(model_path, safe_mode=True)
    except Exception as err:          # noqa: BLE001 - a bad file is the user's input, not a bug
        raise SpecError(f"{model_path}: cannot load the model: {str(err).splitlines()[0]}") from None


def _data_for(model, model_path, data_arg, whole, label=None):
    """(data, input shape, preprocessing, batch size, run settings) for a saved model."""
    settings = _run_settings(model_path)
    shape = tuple(model.inputs[0].shape[1:])
    dtype = model.inputs[0].dtype
    from .training_spec import Preprocessing
    data = data_module.load(data_arg, shape, dtype, validation_split=0 if whole else settings.get("validation_split", 0.1),
                            test_split=0 if whole else settings.get("test_split", 0.15),
                            seed=settings.get("seed", 0), vocabulary=data_module.load_vocabulary(model_path),
                            label=label or settings.get("label"))
    preprocessing = Preprocessing(rescale=settings.get("rescale"))
    return data, shape, preprocessing, settings.get("batch_size", 32), settings


def evaluate(model_path, data_arg, label=None) -> dict:
    """Metrics of a saved model on the data's test split (the same split as its
    training run, read from run.json beside it), or on all of it if it has none."""
    model = load_trained(model_path)
    data, shape, preprocessing, batch_size, _ = _data_for(model, model_path, data_arg, whole=False, label=label)
    split = data.test or data.train
    ds = pipeline.dataset(split, data, shape, batch_size, training=False, preprocessing=preprocessing, seed=0)
    results = model.evaluate(ds, return_dict=True, verbose=0)
    return {"examples": int(len(split.y)), **{f"test_{k}": float(v) for k, v in results.items()}}


def predict(model_path, data_arg, label=None):
    """(rows, header): one row per example of the whole data, in file order."""
    import numpy as np
    model = load_trained(model_path)
    data, shape, preprocessing, batch_size, settings = _data_for(model, model_path, data_arg, whole=True, label=label)
    order = np.argsort(np.random.default_rng(settings.get("seed", 0)).permutation(len(data.train.y)))
    ds = pipeline.dataset(data.train, data, shape, batch_size, training=False, preprocessing=preprocessing, seed=0)
    outputs = np.asarray(model.predict(ds, verbose=0))[order]
    truth = data.train.y[order]
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        names = data.class_names or [str(i) for i in range(outputs.shape[1])]
        best = outputs.argmax(axis=1)
        rows = [(i, names[b] if b < len(names) else b, f"{outputs[i, b]:.6f}", names[t] if t < len(names) else t)
                for i, (b, t) in enumerate(zip(best, truth))]
        return rows, ("index", "predicted", "probability", "label")
    values = outputs.reshape(len(outputs), -1)[:, 0]
    return [(i, f"{v:.6f}", t) for i, (v, t) in enumerate(zip(values, truth))], ("index", "prediction", "label")
