"""An explicit training loop for tf.distribute.MultiWorkerMirroredStrategy."""

from __future__ import annotations

from ..backend import keras as _keras
from ..backend import tensorflow as _tensorflow
from ..errors import SpecError
from . import tasks


class MultiWorkerLoop:
    """An explicit tf.distribute loop for MultiWorkerMirroredStrategy, which
    Keras 3's fit() and evaluate() cannot drive (keras-team/keras#20585): each
    replica computes its gradients, the strategy all-reduces them, and the
    loss and metric are summed over every worker. Callbacks (checkpoints,
    history, TensorBoard) see the same epoch logs as under fit()."""

    def __init__(self, model, spec, strategy):
        tf = _tensorflow()
        keras = _keras()
        self.tf, self.model, self.strategy = tf, model, strategy
        self.task = tasks.infer(spec, model)
        if self.task not in ("classification", "binary", "regression"):
            raise SpecError(f"--distribute multi-worker trains one label per example, not {self.task}")
        self.metric = {"classification": "accuracy", "binary": "accuracy", "regression": "mae"}[self.task]
        if spec.training.metrics not in (None, [self.metric]):
            raise SpecError(
                f"--distribute multi-worker reports the loss and {self.metric}; remove "
                f"training.metrics or set it to [{self.metric}]"
            )
        self.loss_fn = keras.losses.get(tasks.TASKS[self.task](model, spec).loss())
        self.run = tf.function(self._run)

    def _per_example(self, y, prediction):
        tf = self.tf
        losses = tf.reshape(self.loss_fn(y, prediction), [-1])
        if self.task == "classification":
            score = tf.cast(tf.equal(tf.cast(tf.argmax(prediction, -1), y.dtype), y), "float32")
        elif self.task == "binary":
            score = tf.cast(
                tf.equal(
                    tf.cast(tf.reshape(prediction, [-1]) > 0.5, "float32"), tf.cast(tf.reshape(y, [-1]), "float32")
                ),
                "float32",
            )
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
            print(f"Epoch {epoch + 1}/{epochs} - " + " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()), flush=True)
            callback_list.on_epoch_end(epoch, logs)
            if self.model.stop_training:
                break
        callback_list.on_train_end()
