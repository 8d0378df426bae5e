"""Training a spec: data readers, batching, devices, compile settings,
checkpoints, the training run in named steps, saved-model evaluation and
prediction, sweeps and searches. TensorFlow-specific code stays in this package."""
