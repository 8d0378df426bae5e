"""The `training:` section of a spec: its schema and defaults. No Keras here;
builder/training.py turns it into an optimizer, loss, callbacks and a fit."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool, StrictInt, StrictStr, ValidationError

from .argtypes import Number
from .errors import SpecError, describe, suggest

# {name: {arguments}} or a bare name: optimizers, schedules, callbacks, augmentations
Named = Union[StrictStr, Annotated[dict[StrictStr, Union[dict[StrictStr, JsonValue], None]],
                                   Field(min_length=1, max_length=1)]]

CALLBACKS = ("early_stopping", "reduce_lr_on_plateau", "terminate_on_nan")
AUGMENTATIONS = ("random_flip", "random_rotation", "random_zoom", "random_translation", "random_contrast",
                 "random_brightness", "random_crop")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Preprocessing(_Strict):
    rescale: Union[Number, None] = Field(None, description="multiply inputs by this (e.g. 1/255); "
                                                           "null: the data source's own default")
    augmentation: list[Named] = Field(default_factory=list, description="Keras random_* layers applied while "
                                                                        "training, e.g. {random_flip: {mode: horizontal}}")


class Training(_Strict):
    optimizer: Named = Field("adam", description="a Keras optimizer name, or {name: {arguments}}; "
                                                 "learning_rate may be a schedule {name: {arguments}}")
    loss: Union[StrictStr, None] = Field(None, description="a Keras loss name; default from the output layer: "
                                                           "softmax -> sparse_categorical_crossentropy, sigmoid -> "
                                                           "binary_crossentropy, otherwise mean_squared_error")
    metrics: Union[list[StrictStr], None] = Field(None, description="Keras metric names; default accuracy for "
                                                                    "classifiers, mae otherwise")
    epochs: Annotated[StrictInt, Field(gt=0, le=100_000, description="a positive number of epochs")] = 10
    batch_size: Annotated[StrictInt, Field(gt=0, le=1_000_000, description="a positive batch size")] = 32
    validation_split: Annotated[Number, Field(ge=0, lt=1, description="a fraction from 0 up to 1 of the "
                                              "training data held out for validation")] = 0.1
    test_split: Annotated[Number, Field(ge=0, lt=1, description="a fraction from 0 up to 1 of the data held "
                                        "out for the final test, where the data has no test set")] = 0.15
    callbacks: list[Named] = Field(default_factory=list, description="early_stopping, reduce_lr_on_plateau, "
                                                                     "terminate_on_nan, each with Keras's arguments")
    seed: StrictInt = Field(0, description="an integer seed")
    shuffle: StrictBool = Field(True, description="true or false")
    preprocessing: Preprocessing = Field(default_factory=Preprocessing)
    monitor: StrictStr = Field("val_loss", description="the metric the best checkpoint is chosen by")


def parse(data) -> Training:
    """Validate a `training:` mapping (None for the defaults)."""
    try:
        config = Training.model_validate(data if data is not None else {})
    except ValidationError as err:
        raise _error(err, data) from None
    for i, callback in enumerate(config.callbacks):
        name = callback if isinstance(callback, str) else next(iter(callback))
        if name not in CALLBACKS:
            raise SpecError(f"unknown callback '{name}'.{suggest(name, CALLBACKS)} Known: {', '.join(CALLBACKS)}. "
                            "(Checkpoints, history, TensorBoard logs and resuming are always on.)",
                            path=("callbacks", i))
    for i, layer in enumerate(config.preprocessing.augmentation):
        name = layer if isinstance(layer, str) else next(iter(layer))
        if name not in AUGMENTATIONS:
            raise SpecError(f"unknown augmentation '{name}'.{suggest(name, AUGMENTATIONS)} "
                            f"Known: {', '.join(AUGMENTATIONS)}.", path=("preprocessing", "augmentation", i))
    return config


def _error(err: ValidationError, data) -> SpecError:
    error = err.errors()[0]
    path = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        known = _fields_at(path[:-1])
        return SpecError(f"unknown training setting '{path[-1]}'.{suggest(path[-1], known)} "
                         f"Known: {', '.join(known)}.", path=path)
    if error["type"] == "model_type":
        return SpecError(f"expected a mapping, got {describe(error['input'])}", path=path)
    field = _field(path)
    expected = field.description if field is not None and field.description else error["msg"].lower()
    return SpecError(f"expected {expected}, got {describe(error['input'])}", path=path)


def _fields_at(path):
    model = Training
    for key in path:
        annotation = model.model_fields[key].annotation
        model = annotation
    return sorted(model.model_fields)


def _field(path):
    model, field = Training, None
    for key in path:
        if not isinstance(key, str) or not hasattr(model, "model_fields") or key not in model.model_fields:
            break
        field = model.model_fields[key]
        model = field.annotation
    return field

