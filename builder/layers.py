"""Layers the field uses that Keras doesn't ship. Backend-neutral (keras.ops
only) and registered for serialization, so saved models reload in safe mode."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="builder")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels, as in AlexNet and GoogLeNet.

    Caffe's definition (`LRN` with `norm_region: ACROSS_CHANNELS`):
    `y = x / (bias + alpha / size * sum(x_j ** 2)) ** beta`, the sum running over
    `size` neighbouring channels centred on x's own. Defaults are Caffe's.
    """

    def __init__(self, size=5, alpha=1e-4, beta=0.75, bias=1.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or size < 1 or size % 2 == 0:
            raise ValueError(f"`size` must be a positive odd integer, got {size!r}")
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.bias = bias

    def call(self, inputs):
        squared = ops.square(inputs)
        half = self.size // 2
        channels = inputs.shape[-1]
        padding = [[0, 0]] * (len(inputs.shape) - 1) + [[half, half]]
        padded = ops.pad(squared, padding)
        window = padded[..., 0:channels]
        for offset in range(1, self.size):
            window = window + padded[..., offset:offset + channels]
        scale = self.bias + (self.alpha / self.size) * window
        return inputs / ops.power(scale, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha,
                "beta": self.beta, "bias": self.bias}


@keras.saving.register_keras_serializable(package="builder")
class Maxout(keras.layers.Layer):
    """Maxout (Goodfellow et al., 2013): the maximum over groups of `pieces`
    consecutive features of the last axis, which shrinks by that factor."""

    def __init__(self, pieces=2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(pieces, int) or pieces < 1:
            raise ValueError(f"`pieces` must be a positive integer, got {pieces!r}")
        self.pieces = pieces

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None or features % self.pieces:
            raise ValueError(f"maxout with {self.pieces} pieces needs a last axis divisible by "
                             f"{self.pieces}, got {features}")

    def call(self, inputs):
        result = inputs[..., 0::self.pieces]
        for piece in range(1, self.pieces):
            result = ops.maximum(result, inputs[..., piece::self.pieces])
        return result

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // self.pieces)

    def get_config(self):
        return {**super().get_config(), "pieces": self.pieces}
