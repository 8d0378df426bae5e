"""The `training:` section of a spec: its model and defaults. No Keras here;
builder/training/ turns it into an optimizer, loss, callbacks and a fit."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal, Union

from pydantic import Field, JsonValue, StrictBool, StrictInt, StrictStr, field_validator, model_validator

from ..catalogue import signatures
from ..errors import SpecError, suggest, unknown
from .argtypes import Number
from .arguments import check_value
from .validation import SpecModel, spec_check

# {name: {arguments}} or a bare name: optimizers, schedules, callbacks, augmentations
Named = Union[
    StrictStr, Annotated[dict[StrictStr, dict[StrictStr, JsonValue] | None], Field(min_length=1, max_length=1)]
]

# The callbacks a spec names, and their Keras classes: every keras.callbacks
# class whose arguments are data. Checkpoints, history, TensorBoard logs and
# resuming are always on (`tensorboard` sets the run's own TensorBoard
# callback's options); file arguments are paths inside the run's callbacks/ folder.
CALLBACK_CLASSES = {
    "early_stopping": "EarlyStopping",
    "reduce_lr_on_plateau": "ReduceLROnPlateau",
    "terminate_on_nan": "TerminateOnNaN",
    "csv_logger": "CSVLogger",
    "backup_and_restore": "BackupAndRestore",
    "learning_rate_scheduler": "LearningRateScheduler",
    "model_checkpoint": "ModelCheckpoint",
    "remote_monitor": "RemoteMonitor",
    "swap_ema_weights": "SwapEMAWeights",
    "tensorboard": "TensorBoard",
}
# Arguments that name a file or folder: resolved inside RUN/callbacks/.
CALLBACK_PATHS = {"csv_logger": "filename", "backup_and_restore": "backup_dir", "model_checkpoint": "filepath"}
# keras.callbacks classes a spec cannot name, and why.
CALLBACKS_EXCLUDED = {
    "Callback": "the base class",
    "CallbackList": "a container the run makes itself",
    "History": "always on: history.csv and history.json",
    "ProgbarLogger": "the run's output (--quiet, --verbose)",
    "LambdaCallback": "runs Python code: pass your own callbacks to builder.train(callbacks=[...])",
    "OrbaxCheckpoint": "needs Orbax on the JAX backend; the run's checkpoints are always on",
}
CALLBACKS = tuple(CALLBACK_CLASSES)
AUGMENTATIONS = (
    "random_flip",
    "random_rotation",
    "random_zoom",
    "random_translation",
    "random_contrast",
    "random_brightness",
    "random_crop",
)
MONITOR_MODES = ("auto", "min", "max")
# What a run trains its model to do (`training.task`); builder/training/tasks/ has one module per task,
# registered under these names (a test holds the two to each other).
TASKS = (
    "classification",
    "binary",
    "multi_label",
    "regression",
    "segmentation",
    "causal_lm",
    "masked_lm",
    "token_classification",
    "seq2seq",
    "multi_output",
)
# What one of several named outputs (`outputs:`) learns: a task with one value or one set per example.
OUTPUT_TASKS = ("classification", "binary", "multi_label", "regression")


def _check_callback_values(name, args):
    """A file argument stays inside the run folder; a scheduler's schedule is a named Keras schedule."""
    key = CALLBACK_PATHS.get(name)
    if key and key in args:
        path = args[key]
        if (
            not isinstance(path, str)
            or not path
            or path.startswith(("/", "\\"))
            or ".." in path.replace("\\", "/").split("/")
        ):
            raise SpecError(f"expected a relative path inside the run's callbacks/ folder, got {path!r}", path=(key,))
    if name == "learning_rate_scheduler":
        if "schedule" not in args:
            raise SpecError(
                "learning_rate_scheduler needs a `schedule`: a named schedule such as "
                "{cosine_decay: {initial_learning_rate: 0.01, decay_steps: 20}}, counted in epochs"
            )
        try:
            _check_named(args["schedule"], "learning-rate schedule", "schedules")
        except SpecError as err:
            raise err.at("schedule") from None


def named(value) -> tuple[str, dict]:
    """`adam` or `{adam: {learning_rate: 0.01}}` -> ('adam', {...})."""
    if isinstance(value, str):
        return value, {}
    name, args = next(iter(value.items()))
    return name, dict(args or {})


def _keras_names(kind: str):
    """What Keras accepts for `kind` (optimizers, schedules, losses, metrics, callbacks), from signatures.json."""
    return signatures.table()["training"][kind]


def _check_arguments(kind, name, args, known: dict):
    """`args` of the named Keras object are among its constructor's, and its required ones are given."""
    for arg in args:
        if arg not in known:
            raise SpecError(
                f"unknown argument '{arg}' for {kind} {name}.{suggest(arg, known)} "
                f"It takes: {', '.join(sorted(known))}.",
                path=(arg,),
            )
    missing = [arg for arg, info in known.items() if info.get("required") and arg not in args]
    if missing:
        raise SpecError(f"{kind} {name} needs {', '.join(repr(m) for m in missing)}")
    for arg, value in args.items():  # each of the kind its Keras docstring gives it (signatures.json)
        info = known[arg]
        if info.get("kind") and not (value is None and "default" in info and info["default"] is None):
            check_value(info["kind"], value, (arg,))


def _check_named(value, kind, table_key):
    """`name` or `{name: {arguments}}` against Keras's own list and signatures."""
    name, args = named(value)
    table = _keras_names(table_key)
    if name not in table:
        raise SpecError(unknown(kind, name, table).message)
    try:
        _check_arguments(kind, name, args, table[name])
    except SpecError as err:
        raise (err.at(name) if isinstance(value, dict) else err) from None
    return name, args


def _check_names(items, known, kind, note=""):
    for i, item in enumerate(items):
        name = named(item)[0]
        if name not in known:
            raise SpecError(unknown(kind, name, known).message + note, path=(i,))
    return items


class Preprocessing(SpecModel):
    UNKNOWN: ClassVar[str] = "training setting"

    rescale: Number | None = Field(
        None, description="multiply inputs by this (e.g. 1/255); null: the data source's own default"
    )
    augmentation: list[Named] = Field(
        default_factory=list,
        description="Keras random_* layers applied while training, e.g. {random_flip: {mode: horizontal}}",
    )

    @field_validator("augmentation")
    @classmethod
    @spec_check
    def _known_augmentations(cls, value):
        return _check_names(value, AUGMENTATIONS, "augmentation")


class Phase(SpecModel):
    """One phase of a fine-tuning run: which layers train, for how many epochs, with which optimizer."""

    UNKNOWN: ClassVar[str] = "phase setting"
    MISSING: ClassVar[dict] = {"epochs": "a phase needs its number of epochs, e.g. `{epochs: 3, trainable: all}`"}

    epochs: Annotated[StrictInt, Field(gt=0, le=100_000)] = Field(description="a positive number of epochs")
    trainable: Literal["all"] | Annotated[list[StrictStr], Field(min_length=1)] = Field(
        "all",
        description="all, or a list of layer names and name patterns (conv5_*) that train; the others "
        "are frozen (batch normalization in them runs in inference mode)",
    )
    optimizer: Named | None = Field(None, description="this phase's optimizer (default: training.optimizer)")

    @field_validator("optimizer")
    @classmethod
    @spec_check
    def _known_optimizer(cls, value):
        return value if value is None else Training._known_optimizer(value)


class MlflowSettings(SpecModel):
    """Where `track: mlflow` logs: a tracking URI or folder (default: the run's
    mlruns/, or MLFLOW_TRACKING_URI) and an experiment (default: the spec's name)."""

    tracking_uri: StrictStr | None = Field(None, description="an MLflow tracking URI or a local folder")
    experiment: StrictStr | None = Field(None, description="the MLflow experiment's name")


class RecordFeature(SpecModel):
    """One feature of a tf.train.Example, as tf.io.FixedLenFeature reads it."""

    UNKNOWN: ClassVar[str] = "feature setting"
    MISSING: ClassVar[dict] = {"dtype": "a feature needs its dtype: int64, float32 or string"}

    dtype: Literal["int64", "float32", "string"] = Field(description="int64, float32 or string (bytes)")
    shape: list[Annotated[StrictInt, Field(gt=0)]] = Field(
        default_factory=list, description="the feature's shape; [] for one value"
    )
    decode: Literal["image"] | None = Field(
        None, description="image: the bytes are an encoded image (PNG, JPEG, BMP, GIF)"
    )

    @model_validator(mode="after")
    @spec_check
    def _image_bytes(self):
        if self.decode == "image" and (self.dtype != "string" or self.shape):
            raise SpecError("an encoded image is one string per record: `{dtype: string, decode: image}`")
        return self


class TFRecordSettings(SpecModel):
    """How TFRecord files given as --data are read: the feature description of
    their tf.train.Example records, the label feature, and the input feature."""

    UNKNOWN: ClassVar[str] = "tfrecord setting"
    MISSING: ClassVar[dict] = {
        "features": "the feature description, e.g. `features: {image: {dtype: string, "
        "decode: image}, label: {dtype: int64}}`"
    }

    features: Annotated[dict[StrictStr, RecordFeature], Field(min_length=2)] = Field(
        description="feature name -> {dtype, shape, decode}, as tf.io.FixedLenFeature reads them"
    )
    label: StrictStr = Field("label", description="the feature holding the label")
    input: StrictStr | None = Field(
        None, description="the feature fed to the model's input (default: the only feature other than the label)"
    )
    compression: Literal["", "GZIP", "ZLIB"] | None = Field(
        None, description="the files' compression (default: GZIP for .gz files, else none)"
    )

    @model_validator(mode="after")
    @spec_check
    def _known_features(self):
        for key in ("label", "input"):
            name = getattr(self, key)
            if name is not None and name not in self.features:
                raise SpecError(f"'{name}' is not one of the features ({', '.join(self.features)})", path=(key,))
        if self.input is None and len(self.features) != 2:
            raise SpecError(
                f"which feature is the input? Name it with `input:` (features: "
                f"{', '.join(f for f in self.features if f != self.label)})"
            )
        return self

    def input_feature(self) -> str:
        return self.input or next(f for f in self.features if f != self.label)


class Distribution(SpecModel):
    """How `--distribute model-parallel` spreads the model: a mesh of the
    devices, its first axis the batch's, and where each weight's dimensions go."""

    UNKNOWN: ClassVar[str] = "distribution setting"
    MISSING: ClassVar[dict] = {
        "mesh": "the device mesh, e.g. `mesh: {batch: 2, model: 2}` (the first axis splits batches)"
    }

    mesh: Annotated[dict[StrictStr, Annotated[StrictInt, Field(gt=0, le=65536)]], Field(min_length=1)] = Field(
        description="axis name -> devices along it, the first axis the batch's; the sizes multiply to the devices used"
    )
    layout: dict[StrictStr, list[StrictStr | None]] | None = Field(
        None,
        description="a regular expression matched against whole weight paths (`.*/query/kernel`) -> one mesh axis "
        "or null per dimension of the weights it matches (default: attention and feed-forward kernels and the "
        "token embedding split over `model`, as KerasHub lays out its transformers)",
    )

    @model_validator(mode="after")
    @spec_check
    def _known_axes(self):
        for pattern, axes in (self.layout or {}).items():
            try:
                re.compile(pattern)
            except re.error as err:
                raise SpecError(f"'{pattern}' is not a regular expression ({err})", path=("layout", pattern)) from None
            for i, axis in enumerate(axes):
                if axis is not None and axis not in self.mesh:
                    raise SpecError(
                        f"'{axis}' is not an axis of the mesh ({', '.join(self.mesh)}); "
                        f"each dimension takes a mesh axis or null.{suggest(axis, self.mesh)}",
                        path=("layout", pattern, i),
                    )
        return self


def known_loss(value):
    """A Keras loss name (or None), as the installed Keras knows them."""
    if value is not None and value not in _keras_names("losses"):
        raise SpecError(unknown("loss", value, _keras_names("losses")).message)
    return value


def known_metrics(value):
    """Keras metric names (or None), as the installed Keras knows them."""
    for i, metric in enumerate(value or ()):
        if metric not in _keras_names("metrics"):
            raise SpecError(unknown("metric", metric, _keras_names("metrics")).message, path=(i,))
    return value


class LossAndMetrics(SpecModel):
    """What the training section and a named output share: a Keras loss name and metric names, checked."""

    @field_validator("loss", check_fields=False)
    @classmethod
    @spec_check
    def _known_loss(cls, value):
        return known_loss(value)

    @field_validator("metrics", check_fields=False)
    @classmethod
    @spec_check
    def _known_metrics(cls, value):
        return known_metrics(value)


class Training(LossAndMetrics):
    """The training section. Names and arguments of Keras objects are checked
    against the installed Keras (signatures.json), so `validate` finds them."""

    UNKNOWN: ClassVar[str] = "training setting"
    CHOICES: ClassVar[dict] = {"task": "task"}

    task: Literal[TASKS] | None = Field(  # type: ignore[valid-type]
        None,
        description="what the model is trained to do: classification, binary, multi_label, regression, "
        "segmentation, causal_lm, masked_lm, token_classification, seq2seq or multi_output; default: inferred from "
        "the "
        "output layer (named `outputs:`: multi_output; a per-pixel head: segmentation; a head tied to a token "
        "embedding: causal_lm; one sigmoid unit: binary; several: multi_label; softmax: classification; else "
        "regression)",
    )
    sequence_length: Annotated[StrictInt, Field(gt=0, le=1_000_000)] | None = Field(
        None,
        description="a positive number of tokens per example, for text tasks (default: the input's length, "
        "else the position embedding's, cut to the longest text)",
    )
    ignore_index: Annotated[StrictInt, Field(ge=0, le=65535)] | None = Field(
        None, description="a mask value from 0 to 65535 that the loss and metrics leave out (segmentation; e.g. 255)"
    )
    optimizer: Named = Field(
        "adam",
        description="a Keras optimizer name, or {name: {arguments}}; "
        "learning_rate may be a schedule {name: {arguments}}",
    )
    loss: StrictStr | None = Field(
        None,
        description="a Keras loss name; default from the output layer: "
        "softmax -> sparse_categorical_crossentropy, sigmoid -> "
        "binary_crossentropy, otherwise mean_squared_error",
    )
    metrics: list[StrictStr] | None = Field(
        None, description="Keras metric names; default accuracy for classifiers, mae otherwise"
    )
    epochs: Annotated[StrictInt, Field(gt=0, le=100_000, description="a positive number of epochs")] = 10
    batch_size: Annotated[StrictInt, Field(gt=0, le=1_000_000, description="a positive batch size")] = 32
    validation_split: Annotated[
        Number, Field(ge=0, lt=1, description="a fraction from 0 up to 1 of the training data held out for validation")
    ] = 0.1
    test_split: Annotated[
        Number,
        Field(
            ge=0,
            lt=1,
            description="a fraction from 0 up to 1 of the data held "
            "out for the final test, where the data has no test set",
        ),
    ] = 0.15
    callbacks: list[Named] = Field(
        default_factory=list,
        description="early_stopping, reduce_lr_on_plateau, terminate_on_nan, each with Keras's arguments",
    )
    seed: StrictInt = Field(0, description="an integer seed")
    shuffle: StrictBool = Field(True, description="true or false")
    preprocessing: Preprocessing = Field(
        default_factory=Preprocessing,  # type: ignore[arg-type]
        description="a mapping",
    )
    monitor: StrictStr = Field("val_loss", description="the metric the best checkpoint is chosen by")
    phases: Annotated[list[Phase], Field(min_length=1)] | None = Field(
        None, description="train in phases (freeze, then fine-tune): their epochs replace `epochs`"
    )
    mode: Literal[MONITOR_MODES] = Field(  # type: ignore[valid-type]
        "auto",
        description="whether the best checkpoint has the lowest (min) or "
        "highest (max) monitor value; auto: the metric's own "
        "direction, as Keras knows it",
    )
    cache: Literal["auto", "memory", "disk", "none"] = Field(
        "auto",
        description="where decoded examples are kept between epochs: auto (memory where they fit 1 GiB, "
        "else the run's cache/ folder where they fit half the free disk space, else decoded "
        "every epoch), memory, disk (the run's cache/ folder) or none",
    )
    track: (
        Literal["none", "mlflow"]
        | Annotated[dict[Literal["mlflow"], MlflowSettings], Field(min_length=1, max_length=1)]
    ) = Field("none", description="experiment tracking: mlflow, or {mlflow: {tracking_uri: ..., experiment: ...}}")
    steps_per_execution: Literal["auto"] | Annotated[StrictInt, Field(gt=0, le=100000)] = Field(
        "auto",
        description="training steps per call of the compiled train function (Keras's compile argument); "
        "auto: 32, or one epoch's where it has fewer",
    )
    intra_op_threads: Literal["auto"] | Annotated[StrictInt, Field(ge=0, le=4096)] = Field(
        "auto",
        description="threads TensorFlow gives each op on the CPU (0: its default, one per core); auto: 1 "
        "where a training step is small (100 million multiply-accumulates or fewer), else 0",
    )
    jit_compile: Literal["auto"] | StrictBool = Field(
        "auto",
        description="auto, true or false: whether XLA compiles the training step (Keras's compile argument; "
        "torch.compile on PyTorch); auto: Keras's choice (XLA under JAX; not on PyTorch, nor on "
        "TensorFlow, whose op determinism train turns on unless this is true)",
    )
    num_parallel_calls: Literal["auto"] | Annotated[StrictInt, Field(gt=0, le=4096)] = Field(
        "auto",
        description="auto or a positive number of examples the input pipeline decodes, scales and augments "
        "at once (tf.data's num_parallel_calls; without TensorFlow, Keras's PyDataset workers); "
        "auto: tf.data tunes it (one worker without TensorFlow)",
    )
    prefetch: Literal["auto"] | Annotated[StrictInt, Field(ge=0, le=4096)] = Field(
        "auto",
        description="auto or a number (0 or more) of batches the input pipeline prepares ahead of the "
        "training step (tf.data's prefetch; without TensorFlow, the PyDataset workers' queue); "
        "auto: tf.data tunes it (Keras's queue of 10 without TensorFlow)",
    )
    precision: Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"] = Field(
        "auto",
        description="Keras's dtype policy: auto (mixed_bfloat16 on GPUs of compute capability 8.0 and "
        "later, mixed_float16 on older GPUs, float32 on the CPU), or one of them",
    )
    tfrecord: TFRecordSettings | None = Field(
        None, description="how TFRecord files given as --data are read: their feature description"
    )
    distribution: Distribution | None = Field(
        None, description="--distribute model-parallel: the device mesh and the layout of the weights over it"
    )
    test_on: Literal["best", "final"] = Field(
        "best",
        description="the weights tested and saved as model.keras: "
        "the best checkpoint's (by monitor), or the "
        "last epoch's",
    )

    @field_validator("callbacks")
    @classmethod
    @spec_check
    def _known_callbacks(cls, value):
        _check_names(
            value, CALLBACKS, "callback", " (Checkpoints, history, TensorBoard logs and resuming are always on.)"
        )
        for i, item in enumerate(value):
            name, args = named(item)
            try:
                _check_callback_values(name, args)
                _check_arguments("callback", name, args, _keras_names("callbacks")[name])
            except SpecError as err:
                raise err.at(i, name) from None
        return value

    @field_validator("optimizer")
    @classmethod
    @spec_check
    def _known_optimizer(cls, value):
        name, args = _check_named(value, "optimizer", "optimizers")
        if isinstance(args.get("learning_rate"), (str, dict)):
            try:
                _check_named(args["learning_rate"], "learning-rate schedule", "schedules")
            except SpecError as err:
                raise err.at(name, "learning_rate") from None
        return value

    @model_validator(mode="after")
    @spec_check
    def _one_learning_rate_driver(self):
        name, args = named(self.optimizer)
        if isinstance(args.get("learning_rate"), (str, dict)):
            for i, item in enumerate(self.callbacks):
                if named(item)[0] == "reduce_lr_on_plateau":
                    raise SpecError(
                        f"reduce_lr_on_plateau changes the learning rate, which the optimizer's "
                        f"schedule ({named(args['learning_rate'])[0]}) already sets; keep one of them",
                        path=("callbacks", i),
                    )
        return self
