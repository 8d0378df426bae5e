"""Layers the field uses that Keras doesn't ship. Backend-neutral (keras.ops
only) and registered for serialization, so saved models reload in safe mode."""

import math

import keras
from keras import ops

from .. import network


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
            window = window + padded[..., offset : offset + channels]
        scale = self.bias + (self.alpha / self.size) * window
        return inputs / ops.power(scale, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha, "beta": self.beta, "bias": self.bias}


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
            raise ValueError(
                f"maxout with {self.pieces} pieces needs a last axis divisible by {self.pieces}, got {features}"
            )

    def call(self, inputs):
        result = inputs[..., 0 :: self.pieces]
        for piece in range(1, self.pieces):
            result = ops.maximum(result, inputs[..., piece :: self.pieces])
        return result

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // self.pieces)

    def get_config(self):
        return {**super().get_config(), "pieces": self.pieces}


@keras.saving.register_keras_serializable(package="builder")
def gelu_approximate(x):
    """GELU with the tanh approximation, as BERT uses it."""
    return keras.activations.gelu(x, approximate=True)


@keras.saving.register_keras_serializable(package="builder")
class SelectStep(keras.layers.Layer):
    """One step of a sequence: `index: 0` is the first token (BERT's [CLS]),
    `index: -1` the last step. (batch, steps, features) -> (batch, features)."""

    def __init__(self, index=0, **kwargs):
        super().__init__(**kwargs)
        self.index = index

    def call(self, inputs):
        return inputs[:, self.index]  # a slice (ops.take would gather, and scatter its gradient)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "index": self.index}


@keras.saving.register_keras_serializable(package="builder")
class GatherSteps(keras.layers.Layer):
    """The steps of a sequence at given positions: BERT's masked tokens, read
    at `mask_positions` (as KerasHub's MaskedLMHead gathers them). (batch,
    steps, features) and (batch, n) positions -> (batch, n, features)."""

    def call(self, inputs, positions):
        positions = ops.cast(positions, "int32")
        return ops.take_along_axis(inputs, ops.expand_dims(positions, -1), axis=1)

    def compute_output_shape(self, inputs_shape, positions_shape):
        return (inputs_shape[0], positions_shape[1], inputs_shape[-1])


@keras.saving.register_keras_serializable(package="builder")
class OutputBias(keras.layers.Layer):
    """A bias added to every output unit (zeros at first): the bias of a head
    tied to an embedding (`output: {tie: NAME, use_bias: true}`, BERT's masked-LM head)."""

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(input_shape[-1],), initializer="zeros")

    def call(self, inputs):
        return inputs + ops.cast(self.bias, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="builder")
class PositionEmbedding(keras.layers.Layer):
    """Learned position embeddings for sequences up to `sequence_length` steps:
    returns the embeddings of positions 0..steps-1, shaped like the input
    (add them to the token embeddings with an `add` entry)."""

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.position_embeddings = self.add_weight(
            name="embeddings", shape=(self.sequence_length, input_shape[-1]), initializer=self.initializer
        )

    def call(self, inputs):
        shape = ops.shape(inputs)
        embeddings = ops.slice(ops.convert_to_tensor(self.position_embeddings), (0, 0), (shape[-2], shape[-1]))
        return ops.broadcast_to(embeddings, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            "initializer": keras.initializers.serialize(self.initializer),
        }


@keras.saving.register_keras_serializable(package="builder")
class LayerScale(keras.layers.Layer):
    """Multiplies each feature (the last axis) by a learned scale that starts at `init_values`
    (CaiT: Touvron et al., 2021): ConvNeXt's and CaiT's residual branches start near zero. Its
    weights are one scale per feature, as keras.applications' ConvNeXt LayerScale."""

    def __init__(self, init_values=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.init_values = init_values
        self.supports_masking = True

    def build(self, input_shape):
        self.gamma = self.add_weight(
            name="gamma", shape=(input_shape[-1],), initializer=keras.initializers.Constant(self.init_values)
        )

    def call(self, inputs):
        return inputs * ops.cast(self.gamma, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "init_values": self.init_values}


@keras.saving.register_keras_serializable(package="builder")
class ClassToken(keras.layers.Layer):
    """A learned class token (BERT's [CLS]; ViT, Dosovitskiy et al., 2021): one
    vector, learned, put before the sequence's first step, which the model
    reads out at the end (`select_step: 0`). (batch, steps, features) ->
    (batch, steps + 1, features)."""

    def __init__(self, initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.token = self.add_weight(name="token", shape=(1, 1, input_shape[-1]), initializer=self.initializer)

    def call(self, inputs):
        shape = ops.shape(inputs)
        token = ops.broadcast_to(ops.cast(self.token, inputs.dtype), (shape[0], 1, shape[-1]))
        return ops.concatenate([token, inputs], axis=1)

    def compute_output_shape(self, input_shape):
        steps = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], steps, *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "initializer": keras.initializers.serialize(self.initializer)}


@keras.saving.register_keras_serializable(package="builder")
class SinePositionEncoding(keras.layers.Layer):
    """Fixed sinusoidal position encodings (Vaswani et al., 2017), shaped like
    the input: sin on even features, cos on odd ones."""

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength

    def call(self, inputs):
        shape = ops.shape(inputs)
        steps, features = shape[-2], shape[-1]
        positions = ops.cast(ops.arange(steps), self.compute_dtype)
        index = ops.arange(features)
        timescales = ops.power(
            ops.cast(1 / self.max_wavelength, self.compute_dtype),
            ops.cast(2 * (index // 2), self.compute_dtype) / ops.cast(features, self.compute_dtype),
        )
        angles = ops.expand_dims(positions, 1) * ops.expand_dims(timescales, 0)
        encoding = ops.where(ops.expand_dims(index % 2 == 0, 0), ops.sin(angles), ops.cos(angles))
        return ops.broadcast_to(encoding, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength}


@keras.saving.register_keras_serializable(package="builder")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token embeddings plus learned position embeddings, for token-id inputs."""

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        embedding_dim,
        mask_zero=False,
        embeddings_initializer="uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.embedding_dim = embedding_dim
        self.mask_zero = mask_zero
        self.embeddings_initializer = embeddings_initializer
        self.token_embedding = keras.layers.Embedding(
            vocabulary_size,
            embedding_dim,
            mask_zero=mask_zero,
            embeddings_initializer=embeddings_initializer,
            name="token_embedding",
        )
        self.position_embedding = PositionEmbedding(
            sequence_length, initializer=embeddings_initializer, name="position_embedding"
        )
        self.supports_masking = mask_zero

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        self.position_embedding.build((*input_shape, self.embedding_dim))

    def call(self, inputs):
        tokens = self.token_embedding(inputs)
        return tokens + self.position_embedding(tokens)

    def compute_mask(self, inputs, mask=None):
        return self.token_embedding.compute_mask(inputs) if self.mask_zero else None

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.embedding_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
            "embedding_dim": self.embedding_dim,
            "mask_zero": self.mask_zero,
            "embeddings_initializer": self.embeddings_initializer,
        }


def _keys_mask(padding_mask):
    """A padding mask (batch, keys), 1 for real tokens, as an attention mask every query shares."""
    return None if padding_mask is None else ops.expand_dims(ops.cast(padding_mask, "bool"), axis=1)


FEED_FORWARDS = {"dense": None, "swiglu": "silu", "geglu": "gelu"}  # a gated feed-forward's gate activation
NORMS = ("layer", "rms")


@keras.saving.register_keras_serializable(package="builder")
class HeadsAttention(keras.layers.Layer):
    """Multi-head attention with what the transformer blocks of the last years
    add to it: grouped-query heads (`num_key_value_heads` key and value heads,
    each shared by num_heads / num_key_value_heads query heads: LLaMA, Mistral),
    rotary positions on queries and keys (`rotary: {max_wavelength,
    scaling_factor}`: RoFormer, LLaMA), projections without biases, and an
    additive bias on the scores given as an input (`attention_bias`). Its
    weights are laid out as Keras's MultiHeadAttention's and KerasHub's
    LlamaAttention's: query, key and value kernels (features, heads, head_dim),
    the output's (heads, head_dim, features). Scores are softmaxed in float32."""

    def __init__(
        self,
        num_heads,
        head_dim,
        num_key_value_heads=None,
        rotary=None,
        use_bias=True,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.num_key_value_heads = num_key_value_heads or num_heads
        if num_heads % self.num_key_value_heads:
            raise ValueError(
                f"{num_heads} query heads do not divide into groups of {self.num_key_value_heads} key-value heads"
            )
        self.rotary = dict(rotary) if rotary is not None else None
        self.use_bias = use_bias
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _projection(self, name, heads, shape):
        dense = keras.layers.EinsumDense(
            "abc,cde->abde",
            output_shape=(None, heads, self.head_dim),
            bias_axes="de" if self.use_bias else None,
            **_cloned_initializers(self),
            name=name,
            dtype=self.dtype_policy,
        )
        dense.build(shape)
        return dense

    def build(self, query_shape, value_shape=None):
        value_shape = query_shape if value_shape is None else value_shape
        self.query_dense = self._projection("query", self.num_heads, query_shape)
        self.key_dense = self._projection("key", self.num_key_value_heads, value_shape)
        self.value_dense = self._projection("value", self.num_key_value_heads, value_shape)
        self.output_dense = keras.layers.EinsumDense(
            "abcd,cde->abe",
            output_shape=(None, query_shape[-1]),
            bias_axes="e" if self.use_bias else None,
            **_cloned_initializers(self),
            name="attention_output",
            dtype=self.dtype_policy,
        )
        self.output_dense.build((None, None, self.num_heads, self.head_dim))
        self.rotary_embedding = (
            RotaryEmbedding(**self.rotary, dtype=self.dtype_policy) if self.rotary is not None else None
        )
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)

    def call(self, query, value=None, attention_mask=None, attention_bias=None, use_causal_mask=False, training=None):
        """`attention_bias`: added to the scores before the softmax — (batch, queries, keys), or with a
        heads axis after the batch's (T5's relative positions, ALiBi, a soft mask)."""
        value = query if value is None else value
        q, k, v = self.query_dense(query), self.key_dense(value), self.value_dense(value)
        if self.rotary_embedding is not None:
            q, k = self.rotary_embedding(q), self.rotary_embedding(k)
        groups = self.num_heads // self.num_key_value_heads
        if groups > 1:
            k, v = ops.repeat(k, groups, axis=2), ops.repeat(v, groups, axis=2)
        scores = ops.einsum("bquh,bkuh->buqk", ops.cast(q, "float32"), ops.cast(k, "float32"))
        scores = scores / ops.sqrt(ops.cast(self.head_dim, "float32"))
        if attention_bias is not None:
            bias = ops.cast(attention_bias, "float32")
            scores = scores + (bias[:, None] if len(bias.shape) == 3 else bias)
        mask = _attention_mask(attention_mask, use_causal_mask, ops.shape(q)[1], ops.shape(k)[1])
        if mask is not None:
            scores = ops.where(mask[:, None, :, :], scores, ops.full_like(scores, -1e9))
        weights = self.dropout_layer(ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype), training=training)
        return self.output_dense(ops.einsum("buqk,bkuh->bquh", weights, v))

    def compute_output_shape(self, query_shape, value_shape=None):
        return query_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "head_dim": self.head_dim,
            "num_key_value_heads": self.num_key_value_heads,
            "rotary": self.rotary,
            "use_bias": self.use_bias,
            "dropout": self.dropout,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="builder")
class WindowAttention(keras.layers.Layer):
    """Self-attention inside windows of a map (Swin: Liu et al., 2021): the (batch, height, width,
    features) map is cut into `window_size` x `window_size` windows and each position attends to its
    own window's only, with a learned bias for every relative position and head (a table of
    (2w - 1)^2 rows). With `shift` > 0 the windows are shifted by that many positions first (and
    back after), so that they straddle the last layer's borders; positions that the shift brought
    from opposite edges do not attend to each other. Its weights are KerasHub's WindowAttention's:
    one query-key-value projection, the output projection, the bias table."""

    def __init__(self, num_heads, window_size=7, shift=0, use_bias=True, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.window_size = window_size
        self.shift = shift
        self.use_bias = use_bias
        self.dropout = dropout
        self.supports_masking = True

    def build(self, input_shape):
        height, width, features = input_shape[1:]
        window = self.window_size
        if height is None or width is None or height % window or width % window:
            raise ValueError(f"a {height}x{width} map does not divide into windows of {window}x{window}")
        if not 0 <= self.shift < window:
            raise ValueError(f"the shift is from 0 to {window - 1} (less than a window), got {self.shift}")
        if features % self.num_heads:
            raise ValueError(f"the input's {features} features do not divide into {self.num_heads} heads")
        self.qkv = keras.layers.Dense(
            3 * features, use_bias=self.use_bias, name="attention_qkv", dtype=self.dtype_policy
        )
        self.qkv.build((None, window * window, features))
        self.proj = keras.layers.Dense(features, name="attention_projection", dtype=self.dtype_policy)
        self.proj.build((None, window * window, features))
        self.relative_position_bias_table = self.add_weight(
            name="relative_position_bias_table",
            shape=((2 * window - 1) ** 2, self.num_heads),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )
        self.dropout_layer = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self._index = _relative_position_index(window)
        self._shift_mask = _shift_mask(height, width, window, self.shift) if self.shift else None

    def _windows(self, x, height, width, features):
        """(batch, height, width, features) -> (batch * windows, window positions, features)."""
        w = self.window_size
        x = ops.reshape(x, (-1, height // w, w, width // w, w, features))
        return ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, w * w, features))

    def _map(self, windows, height, width, features):
        w = self.window_size
        x = ops.reshape(windows, (-1, height // w, width // w, w, w, features))
        return ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, height, width, features))

    def call(self, inputs, training=None):
        height, width, features = inputs.shape[1:]
        heads, positions = self.num_heads, self.window_size**2
        x = ops.roll(inputs, shift=(-self.shift, -self.shift), axis=(1, 2)) if self.shift else inputs
        x = self._windows(x, height, width, features)
        qkv = ops.transpose(ops.reshape(self.qkv(x), (-1, positions, 3, heads, features // heads)), (2, 0, 3, 1, 4))
        query, key, value = qkv[0], qkv[1], qkv[2]
        query = query * ops.cast((features // heads) ** -0.5, query.dtype)
        scores = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2)))
        bias = ops.take(self.relative_position_bias_table, self._index, axis=0)  # (positions, positions, heads)
        scores = scores + ops.cast(ops.transpose(bias, (2, 0, 1)), scores.dtype)
        if self._shift_mask is not None:
            windows = self._shift_mask.shape[0]
            scores = ops.reshape(scores, (-1, windows, heads, positions, positions))
            scores = scores + ops.cast(self._shift_mask[None, :, None], scores.dtype)
            scores = ops.reshape(scores, (-1, heads, positions, positions))
        weights = self.dropout_layer(ops.softmax(scores, axis=-1), training=training)
        out = ops.reshape(ops.transpose(ops.matmul(weights, value), (0, 2, 1, 3)), (-1, positions, features))
        out = self._map(self.proj(out), height, width, features)
        return ops.roll(out, shift=(self.shift, self.shift), axis=(1, 2)) if self.shift else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "window_size": self.window_size,
            "shift": self.shift,
            "use_bias": self.use_bias,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package="builder")
class RelativePositionBias(keras.layers.Layer):
    """T5's relative-position bias (Raffel et al., 2020): a learned value per head for each bucket of
    the distance between a query's and a key's positions — exact distances up to num_buckets / 4 (or
    / 2 one way), logarithmic buckets beyond, one bucket from max_distance on. It reads only its
    input's length and returns the bias (1, heads, length, length), to give an attention layer as its
    `attention_bias`. `bidirectional: false` (a decoder's) buckets only keys before the query.
    Its weight is KerasHub's T5 attention's table: (num_buckets, num_heads)."""

    def __init__(self, num_heads, num_buckets=32, max_distance=128, bidirectional=True, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.bidirectional = bidirectional

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.num_buckets, self.num_heads),
            initializer=keras.initializers.RandomNormal(stddev=0.05),
        )

    def _buckets(self, relative):
        """Mesh TensorFlow's bucketing of `relative` (key position - query position)."""
        buckets, count = 0, self.num_buckets
        if self.bidirectional:
            count //= 2
            buckets = ops.cast(ops.greater(relative, 0), "int32") * count
            relative = ops.abs(relative)
        else:
            relative = -ops.minimum(relative, 0)
        exact = count // 2
        scale = (count - exact) / math.log(self.max_distance / exact)
        distant = exact + ops.cast(ops.log(ops.cast(ops.maximum(relative, 1), "float32") / exact) * scale, "int32")
        return buckets + ops.where(relative < exact, relative, ops.minimum(distant, count - 1))

    def call(self, inputs):
        length = ops.shape(inputs)[1]
        positions = ops.arange(length)
        relative = positions[None, :] - positions[:, None]  # (queries, keys): key position - query position
        values = ops.take(self.embeddings, self._buckets(relative), axis=0)  # (queries, keys, heads)
        return ops.expand_dims(ops.transpose(values, (2, 0, 1)), 0)

    def compute_output_shape(self, input_shape):
        return (1, self.num_heads, input_shape[1], input_shape[1])

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "num_buckets": self.num_buckets,
            "max_distance": self.max_distance,
            "bidirectional": self.bidirectional,
        }


def _relative_position_index(window):
    """(positions, positions): the row of the bias table for each pair of a window's positions."""
    import numpy as np

    rows, columns = np.meshgrid(np.arange(window), np.arange(window), indexing="ij")
    coordinates = np.stack([rows.ravel(), columns.ravel()])  # (2, positions)
    relative = coordinates[:, :, None] - coordinates[:, None, :] + window - 1
    return (relative[0] * (2 * window - 1) + relative[1]).astype("int32")


def _shift_mask(height, width, window, shift):
    """(windows, positions, positions): -100 between positions of a shifted window that came from
    different regions of the map (its last rows and columns wrapped around), 0 elsewhere — Swin's."""
    import numpy as np

    regions = np.zeros((height, width), "int32")
    edges = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for i, rows in enumerate(edges):
        for j, columns in enumerate(edges):
            regions[rows, columns] = 3 * i + j
    windows = regions.reshape(height // window, window, width // window, window).transpose(0, 2, 1, 3)
    windows = windows.reshape(-1, window * window)
    return ((windows[:, None, :] != windows[:, :, None]) * -100.0).astype("float32")


def _cloned_initializers(layer) -> dict:
    """A sublayer's own copies of `layer`'s kernel and bias initializers (a shared seeded one would
    give every sublayer the same values)."""
    clone = keras.initializers.get
    return {
        "kernel_initializer": clone(keras.initializers.serialize(layer.kernel_initializer)),
        "bias_initializer": clone(keras.initializers.serialize(layer.bias_initializer)),
    }


def _attention_mask(attention_mask, causal, queries, keys):
    """(batch or 1, queries, keys) booleans, True where a query may attend: the given mask, and
    each query's own and earlier positions where `causal`; None when neither restricts."""
    mask = None if attention_mask is None else ops.cast(attention_mask, "bool")
    if causal:
        lower = ops.arange(queries)[:, None] + (keys - queries) >= ops.arange(keys)[None, :]
        mask = lower[None] if mask is None else ops.logical_and(mask, lower[None])
    return mask


@keras.saving.register_keras_serializable(package="builder")
class TransformerEncoder(keras.layers.Layer):
    """A transformer encoder layer (Vaswani et al., 2017): self-attention and a
    two-layer feed-forward network, each with dropout, a residual connection
    and layer normalization — after each (post-norm, BERT) or before
    (`normalize_first: true`, pre-norm). The attention's key size is the
    input's features divided by `num_heads`. Call it with `inputs: [x,
    padding_mask]` to ignore padded positions (mask of 1 for real tokens);
    `use_causal_mask: true` lets each position attend only to itself and the
    positions before it (a decoder-only model: GPT)."""

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-5,
        normalize_first=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        use_causal_mask=False,
        num_key_value_heads=None,
        rotary=None,
        feed_forward="dense",
        norm="layer",
        use_bias=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if feed_forward not in FEED_FORWARDS:
            raise ValueError(f"feed_forward is one of {', '.join(FEED_FORWARDS)}, got {feed_forward!r}")
        if norm not in NORMS:
            raise ValueError(f"norm is one of {', '.join(NORMS)}, got {norm!r}")
        self.num_key_value_heads = num_key_value_heads
        self.rotary = dict(rotary) if rotary is not None else None
        self.feed_forward = feed_forward
        self.norm = norm
        self.use_bias = use_bias
        self.use_causal_mask = use_causal_mask
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = layer_norm_epsilon
        self.normalize_first = normalize_first
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def _initializers(self):
        return _cloned_initializers(self)

    def build(self, input_shape):
        # Sublayers are made in the same order as keras_hub's TransformerEncoder,
        # so weights pair one for one (tests/test_sequences.py).
        self.attention = self._attention("self_attention_layer", input_shape, input_shape)
        self.attention_norm = self._norm("self_attention_layer_norm", input_shape)
        self.attention_dropout = keras.layers.Dropout(self.dropout, name="self_attention_dropout")
        self.feedforward_norm = self._norm("feedforward_layer_norm", input_shape)
        self.intermediate, self.output_dense = self._feedforward(input_shape)
        self.feedforward_dropout = keras.layers.Dropout(self.dropout, name="feedforward_dropout")

    @property
    def _opened(self) -> bool:
        """Whether the attention needs what Keras's MultiHeadAttention has not (HeadsAttention)."""
        return self.rotary is not None or self.num_key_value_heads is not None or not self.use_bias

    def _attention(self, name, query_shape, value_shape):
        """Multi-head attention, built: the key size is the query's features divided by the heads."""
        hidden = query_shape[-1]
        if hidden % self.num_heads:
            raise ValueError(f"the input's {hidden} features do not divide into {self.num_heads} heads")
        if self._opened:
            opened = HeadsAttention(
                self.num_heads,
                hidden // self.num_heads,
                num_key_value_heads=self.num_key_value_heads,
                rotary=self.rotary,
                use_bias=self.use_bias,
                dropout=self.dropout,
                name=name,
                dtype=self.dtype_policy,
                **self._initializers(),
            )
            opened.build(query_shape, value_shape)
            return opened
        attention = keras.layers.MultiHeadAttention(
            self.num_heads,
            hidden // self.num_heads,
            dropout=self.dropout,
            name=name,
            dtype=self.dtype_policy,
            **self._initializers(),
        )
        attention.build(query_shape, value_shape)
        return attention

    def _norm(self, name, shape):
        kind = keras.layers.RMSNormalization if self.norm == "rms" else keras.layers.LayerNormalization
        norm = kind(epsilon=self.layer_norm_epsilon, name=name, dtype=self.dtype_policy)
        norm.build(shape)
        return norm

    def _dense(self, name, units, shape, activation=None):
        dense = keras.layers.Dense(
            units,
            activation=activation,
            use_bias=self.use_bias,
            name=name,
            dtype=self.dtype_policy,
            **self._initializers(),
        )
        dense.build(shape)
        return dense

    def _feedforward(self, shape):
        """The feed-forward network's dense layers, built: intermediate and output, and for a
        gated one (swiglu, geglu) the gate, whose activation multiplies the intermediate's output."""
        gated = FEED_FORWARDS[self.feed_forward] is not None
        intermediate = self._dense(
            "feedforward_intermediate_dense", self.intermediate_dim, shape, None if gated else self.activation
        )
        self.gate = self._dense("feedforward_gate_dense", self.intermediate_dim, shape) if gated else None
        output = self._dense("feedforward_output_dense", shape[-1], (*shape[:-1], self.intermediate_dim))
        return intermediate, output

    def _feedforward_of(self, h):
        if self.gate is None:
            return self.output_dense(self.intermediate(h))
        gate = keras.activations.get(FEED_FORWARDS[self.feed_forward])(ops.cast(self.gate(h), "float32"))
        return self.output_dense(self.intermediate(h) * ops.cast(gate, self.compute_dtype))

    def call(self, inputs, padding_mask=None, mask=None, training=None):
        keys = _keys_mask(padding_mask if padding_mask is not None else mask)
        x = self._sublayer(
            inputs,
            lambda h: self.attention(
                query=h, value=h, attention_mask=keys, use_causal_mask=self.use_causal_mask, training=training
            ),
            self.attention_norm,
            self.attention_dropout,
            training,
        )
        return self._sublayer(
            x,
            self._feedforward_of,
            self.feedforward_norm,
            self.feedforward_dropout,
            training,
        )

    def _sublayer(self, x, residual_of, norm, dropout, training):
        """Pre- or post-norm around one sublayer: `residual_of(x)`, dropout, the residual added."""
        y = residual_of(norm(x) if self.normalize_first else x)
        x = dropout(y, training=training) + x
        return x if self.normalize_first else norm(x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "normalize_first": self.normalize_first,
            "use_causal_mask": self.use_causal_mask,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "num_key_value_heads": self.num_key_value_heads,
            "rotary": self.rotary,
            "feed_forward": self.feed_forward,
            "norm": self.norm,
            "use_bias": self.use_bias,
        }


@keras.saving.register_keras_serializable(package="builder")
class TransformerDecoder(TransformerEncoder):
    """A transformer decoder layer (Vaswani et al., 2017): causal
    self-attention, then — when it is given an encoder's sequence —
    cross-attention to that sequence, then a two-layer feed-forward network;
    each with dropout, a residual connection and layer normalization, after
    (post-norm) or before (`normalize_first: true`, pre-norm). Call it with
    `inputs: [decoder_sequence, encoder_sequence]`, or by name, padding masks
    included (1 for real tokens): `inputs: {decoder_sequence: x,
    encoder_sequence: memory, decoder_padding_mask: m, encoder_padding_mask: n}`.
    Without an encoder sequence it is a GPT block. `use_causal_mask: false`
    lets every position see the whole decoder sequence."""

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-5,
        normalize_first=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        use_causal_mask=True,
        num_key_value_heads=None,
        rotary=None,
        feed_forward="dense",
        norm="layer",
        use_bias=True,
        **kwargs,
    ):
        super().__init__(
            num_heads,
            intermediate_dim,
            dropout=dropout,
            activation=activation,
            layer_norm_epsilon=layer_norm_epsilon,
            normalize_first=normalize_first,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            use_causal_mask=use_causal_mask,
            num_key_value_heads=num_key_value_heads,
            rotary=rotary,
            feed_forward=feed_forward,
            norm=norm,
            use_bias=use_bias,
            **kwargs,
        )

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        # Sublayers in keras_hub's TransformerDecoder order (self-attention,
        # cross-attention, feed-forward), so weights pair one for one.
        self.attention = self._attention("self_attention", decoder_sequence_shape, decoder_sequence_shape)
        self.attention_norm = self._norm("self_attention_layer_norm", decoder_sequence_shape)
        self.attention_dropout = keras.layers.Dropout(self.dropout, name="self_attention_dropout")
        self.cross_attention = None
        self.encoder_sequence_shape = encoder_sequence_shape
        if encoder_sequence_shape is not None:
            self.cross_attention = self._attention("cross_attention", decoder_sequence_shape, encoder_sequence_shape)
            self.cross_attention_norm = self._norm("cross_attention_layer_norm", decoder_sequence_shape)
            self.cross_attention_dropout = keras.layers.Dropout(self.dropout, name="cross_attention_dropout")
        self.intermediate, self.output_dense = self._feedforward(decoder_sequence_shape)
        self.feedforward_norm = self._norm("feedforward_layer_norm", decoder_sequence_shape)
        self.feedforward_dropout = keras.layers.Dropout(self.dropout, name="feedforward_dropout")

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        mask=None,
        training=None,
    ):
        keys = _keys_mask(decoder_padding_mask if decoder_padding_mask is not None else mask)
        x = self._sublayer(
            decoder_sequence,
            lambda h: self.attention(
                query=h, value=h, attention_mask=keys, use_causal_mask=self.use_causal_mask, training=training
            ),
            self.attention_norm,
            self.attention_dropout,
            training,
        )
        if self.cross_attention is not None and encoder_sequence is not None:
            x = self._sublayer(
                x,
                lambda h: self.cross_attention(
                    query=h, value=encoder_sequence, attention_mask=_keys_mask(encoder_padding_mask), training=training
                ),
                self.cross_attention_norm,
                self.cross_attention_dropout,
                training,
            )
        return self._sublayer(
            x,
            self._feedforward_of,
            self.feedforward_norm,
            self.feedforward_dropout,
            training,
        )

    def compute_output_shape(self, decoder_sequence_shape, encoder_sequence_shape=None):
        return decoder_sequence_shape


@keras.saving.register_keras_serializable(package="builder")
class RotaryEmbedding(keras.layers.Layer):
    """Rotary position embedding (RoFormer: Su et al., 2021): each pair of
    features (i, i + d/2) at position p is rotated by the angle p / max_wavelength
    ** (2i / d), so dot products between two positions depend on their
    distance. Returns the input, rotated (no weights). `scaling_factor`
    stretches positions (linear scaling for longer contexts)."""

    def __init__(self, max_wavelength=10000, scaling_factor=1.0, sequence_axis=1, feature_axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength
        self.scaling_factor = scaling_factor
        self.sequence_axis = sequence_axis
        self.feature_axis = feature_axis
        self.supports_masking = True

    def build(self, input_shape):
        features = input_shape[self.feature_axis]
        if features is not None and features % 2:
            raise ValueError(f"a rotary embedding rotates pairs of features; the input has {features}, an odd number")

    def call(self, inputs):
        rank = len(inputs.shape)
        sequence_axis, feature_axis = self.sequence_axis % rank, self.feature_axis % rank
        x = ops.moveaxis(inputs, (sequence_axis, feature_axis), (1, -1))
        features, steps = ops.shape(x)[-1], ops.shape(x)[1]
        exponents = ops.arange(0, features, 2, dtype="float32") / ops.cast(features, "float32")
        inverse_frequencies = ops.power(float(self.max_wavelength), -exponents) / float(self.scaling_factor)
        angles = ops.outer(ops.arange(steps, dtype="float32"), inverse_frequencies)  # (steps, features / 2)
        angles = ops.concatenate([angles, angles], axis=-1)
        angles = ops.reshape(angles, (1, steps, *([1] * (rank - 3)), features))
        cos, sin = ops.cast(ops.cos(angles), x.dtype), ops.cast(ops.sin(angles), x.dtype)
        first, second = ops.split(x, 2, axis=-1)
        rotated = x * cos + ops.concatenate([-second, first], axis=-1) * sin
        return ops.moveaxis(rotated, (1, -1), (sequence_axis, feature_axis))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "max_wavelength": self.max_wavelength,
            "scaling_factor": self.scaling_factor,
            "sequence_axis": self.sequence_axis,
            "feature_axis": self.feature_axis,
        }


@keras.saving.register_keras_serializable(package="builder")
class KerasApplication(keras.layers.Layer):
    """A keras.applications network (ResNet50, MobileNetV2, EfficientNetB0, ...)
    as one layer: a backbone, made for the input it is given, with its
    pretrained `weights` ('imagenet', a local weights file, or null for random
    ones). Other arguments of the application (alpha, classes, ...) go in
    `arguments`."""

    def __init__(self, model, weights=None, include_top=False, pooling=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.weights_source = weights
        self.include_top = include_top
        self.pooling = pooling
        self.arguments = dict(arguments or {})

    def build(self, input_shape):
        make = getattr(keras.applications, self.model)
        self.network = make(
            input_shape=tuple(input_shape[1:]),
            weights=self.weights_source,
            include_top=self.include_top,
            pooling=self.pooling,
            **self.arguments,
        )

    def call(self, inputs, training=None):
        return self.network(inputs, training=training)

    def compute_output_shape(self, input_shape):
        if not self.built:
            self.build(input_shape)
        return self.network.compute_output_shape(input_shape)

    def get_config(self):
        # A saved model holds the weights: reloading it must not fetch them again.
        return {
            **super().get_config(),
            "model": self.model,
            "weights": None,
            "include_top": self.include_top,
            "pooling": self.pooling,
            "arguments": self.arguments,
        }

    @classmethod
    def from_config(cls, config):
        # Loaded from a saved model, which holds the weights: whatever its config says, nothing is fetched.
        return cls(**{**config, "weights": None})


@keras.saving.register_keras_serializable(package="builder")
class KerasHubBackbone(keras.layers.Layer):
    """A KerasHub backbone (`keras_hub.models.Backbone.from_preset`) as one
    layer: a preset name, a `kaggle://` or `hf://` handle, or a local preset
    folder, with its pretrained weights unless `load_weights` is false. A
    backbone with several inputs takes them by name (a mapping); one with
    several outputs gives the one named by `output`. A saved model holds the
    backbone's own config, so it reloads without the preset."""

    RELOAD_ONLY = ("backbone",)

    def __init__(self, preset, load_weights=True, output=None, arguments=None, backbone=None, **kwargs):
        super().__init__(**kwargs)
        self.preset = preset
        self.load_weights = load_weights
        self.selected = output
        self.arguments = dict(arguments or {})
        self.backbone_config = backbone

    def build(self, input_shape):
        try:
            import keras_hub
        except ImportError:
            raise ValueError("a keras_hub entry needs KerasHub: pip install keras-hub") from None
        if self.backbone_config is not None:
            self.network = keras.saving.deserialize_keras_object(self.backbone_config)
        else:
            unreachable = network.hub_unreachable(self.preset) if self.preset.startswith("hf://") else None
            if unreachable:
                raise ValueError(unreachable)
            self.network = keras_hub.models.Backbone.from_preset(
                self.preset, load_weights=self.load_weights, **self.arguments
            )
        names = sorted(i.name for i in self.network.inputs)
        if isinstance(input_shape, dict) and sorted(input_shape) != names:
            raise ValueError(f"the backbone takes the inputs {', '.join(names)}; got {', '.join(sorted(input_shape))}")
        outputs = self.network.output
        if isinstance(outputs, dict) and self.selected not in outputs:
            raise ValueError(f"the backbone has the outputs {', '.join(outputs)}: choose one with `output:`")

    def call(self, inputs, training=None):
        outputs = self.network(inputs, training=training)
        return outputs[self.selected] if isinstance(outputs, dict) else outputs

    def get_config(self):
        # A saved model holds the weights, and here the backbone's config: reloading fetches nothing.
        return {
            **super().get_config(),
            "preset": self.preset,
            "load_weights": False,
            "output": self.selected,
            "arguments": self.arguments,
            "backbone": keras.saving.serialize_keras_object(self.network),
        }

    @classmethod
    def from_config(cls, config):
        import keras_hub  # noqa: F401 - registers the backbone classes the config names

        if config.get("backbone") is None:  # it would fetch its preset: a saved model holds its backbone
            raise ValueError(
                f"its keras_hub layer '{config.get('name')}' holds no backbone, only the preset "
                f"{config.get('preset')!r}; a saved model is loaded from its own file, never fetched"
            )
        return cls(**config)
