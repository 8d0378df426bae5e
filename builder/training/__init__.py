"""Training a spec: data readers, batching, devices, compile settings,
checkpoints, the training run in named steps, saved-model evaluation and
prediction, sweeps and searches. TensorFlow-specific code stays in this package."""

# generate's choices of KerasHub's samplers (here, where the command line reads them without importing NumPy)
SAMPLERS = ("greedy", "top_k", "top_p", "random", "beam")
