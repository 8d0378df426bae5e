"""Keras proper: builder's own layers (`layers`, registered with Keras's
serialization when this package is imported, so saved models that hold them
load), model assembly (`assemble`), starting weights (`weights`) and the
facts `build` reports (`describe`). The Keras-free tables of layer types are
the catalogue's (builder.catalogue)."""

from ..backend import keras as _keras

_keras()  # Keras imported the builder's way first: TensorFlow's start-up log kept off the terminal
from . import layers  # noqa: E402, F401  (registers builder's own layers)
