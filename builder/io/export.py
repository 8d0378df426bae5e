"""`export`: a spec or a saved model to a deployment format, through Keras's
and TensorFlow's own exporters. Every output appears atomically."""

from __future__ import annotations

from .. import backend
from ..errors import BuilderError, DependencyError, FlagError, article, first_line
from ..files import check_output, publish

FORMATS = {"keras": ".keras", "savedmodel": "", "onnx": ".onnx", "tflite": ".tflite"}
_KERAS_FORMAT = {"savedmodel": "tf_saved_model", "onnx": "onnx", "tflite": "litert"}


def load_model_or_spec(path, overrides=None, limits=None, weights=None, report=None):
    """A .keras file, or a spec to build."""
    if str(path).endswith(".keras"):
        from ..training.saved import load_trained

        return load_trained(path)
    from ..keras.assemble import build

    return build(path, overrides=overrides, limits=limits, weights=weights, report=report)


def example_inputs(model, batch=2):
    """Zeros shaped for the model's inputs (a size that varies becomes 8);
    exporters trace the model once with them."""
    import numpy as np  # here: the command line reads FORMATS before any command runs

    def zeros(tensor):
        shape = [batch] + [8 if d is None else d for d in tensor.shape[1:]]
        if tensor.dtype == "string":  # raw text: Keras takes strings as tensors, not NumPy objects
            import tensorflow as tf

            return tf.fill(shape, "")
        return np.zeros(shape, dtype=tensor.dtype)

    inputs = [zeros(t) for t in model.inputs]
    return inputs[0] if len(inputs) == 1 else inputs


def export(model, fmt: str, path: str, *, overwrite=False) -> str:
    """Write `model` to `path` in format `fmt`; an existing `path` is refused
    unless `overwrite`, and then only it is replaced."""
    if fmt not in FORMATS:
        raise FlagError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    suffix = FORMATS[fmt]
    if suffix and not path.endswith(suffix):
        raise FlagError(f"{article(fmt)} export is written to a {suffix} file, got {path!r}")
    check_output(path, overwrite)
    if fmt != "keras" and not backend.has_tensorflow():
        raise DependencyError(
            f"--format {fmt} needs TensorFlow (Keras exports {fmt} through it), which "
            f"{backend.tensorflow_problem()}; --format keras needs no TensorFlow"
        )
    if fmt == "onnx" and any(tensor.dtype == "string" for tensor in model.inputs):
        raise FlagError(
            "ONNX cannot hold this model's text processing (tf2onnx converts no string ops): a model "
            "that takes raw strings exports as keras, savedmodel or tflite (run with the TensorFlow "
            "Lite Flex delegate)"
        )
    if fmt != "keras":
        model.predict(example_inputs(model), verbose=0)  # exporters need a model that has been called
    with publish(path, overwrite=overwrite, suffix=suffix) as staging:
        if fmt == "keras":
            model.save(staging)
            return path
        try:
            model.export(staging, format=_KERAS_FORMAT[fmt], verbose=False)
        except Exception as err:  # noqa: BLE001 - the exporter's complaint, shown to the user
            raise BuilderError(f"the {fmt} exporter failed: {first_line(err, 10_000)}") from None
    return path
