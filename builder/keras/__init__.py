"""The Keras side: the layer registry (importable without Keras), layer
signatures, builder's own layers, model assembly, MAC formulas and the facts
`build` reports."""
