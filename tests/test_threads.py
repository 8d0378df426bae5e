"""TensorFlow's threads per op, chosen before it starts (`training.intra_op_threads`),
and the training steps' own samples per second."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from test_training import TINY  # two epochs: the second's steps are timed

import builder
from builder.training.timing import StepTime
from conftest import ROOT, spec_path

CHOICES = """
import json, sys
import numpy as np
import builder
from builder.backend import keras, tensorflow
from builder.keras.assemble import build_model
from builder.spec import graph
from builder.training import threads
tf = tensorflow()

def choose(spec, batch_size, expanded=None):
    choice = threads.choose(spec, expanded or graph.expand(spec), batch_size)
    seen.append([choice.intra_op, choice.reason, tf.config.threading.get_intra_op_parallelism_threads()])

seen = []
lenet = builder.load_spec(sys.argv[1])          # 416,520 multiply-accumulates an example
lenet_graph = graph.expand(lenet)
pretrained = builder.load_spec(text="name: p\\ninput: [96, 96, 3]\\noutput: {units: 10}\\nlayers:\\n"
                                    "  - keras_application: {model: MobileNetV2, weights: imagenet}\\n")
choose(pretrained, 1)                           # never probe-built: its weights would be read
choose(lenet, 241)                              # a step of 100.4 million: TensorFlow's default, not set
choose(builder.load_spec(sys.argv[1], overrides={"training.intra_op_threads": 3}), 32)
choose(lenet, 240, lenet_graph)                 # 99.96 million: one thread
from keras.src.backend.common import global_state
pending = global_state.get_global_attribute("uninitialized_variables") or []     # the probes' weights: dropped
choose(builder.load_spec(sys.argv[2]), 32)      # a GRU looks for a GPU as it is made: TensorFlow starts
keras().utils.set_random_seed(0)
model = build_model(lenet_graph)                # the probed graph, built: no trace of the probes in names or weights
choose(lenet, 32)
print(json.dumps({"seen": seen, "pending": len(pending), "names": [layer.name for layer in model.layers],
                  "weights": [float(np.sum(w)) for w in model.get_weights()]}))
"""


def fresh_python(script, *args, env=None):
    result = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, **(env or {})}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_threads_are_chosen_before_tensorflow_starts_by_the_size_of_a_step():
    facts = fresh_python(CHOICES, spec_path("lenet5"), spec_path("gru_timeseries"))
    assert facts["seen"] == [
        [0, "auto: a pretrained network, made by reading its weights", 0],
        [0, "auto: 100.4 million multiply-accumulates a step, more than 100 million", 0],
        [3, "training.intra_op_threads", 3],
        [1, "auto: a small model, 100.0 million multiply-accumulates a step", 1],
        [1, "auto: making its layers started TensorFlow (as Keras's recurrent layers do: they look for a GPU)", 1],
        [1, "TensorFlow had started before this run, which fixed it", 1]]
    assert facts["pending"] == 0
    import keras
    keras.utils.set_random_seed(0)
    model = builder.build(spec_path("lenet5"))
    assert facts["names"] == [layer.name for layer in model.layers]
    assert facts["weights"] == pytest.approx([float(np.sum(w)) for w in model.get_weights()], rel=1e-6)


TRAIN = """
import json, sys
import builder
from builder.backend import keras
from builder.training import run
keras().mixed_precision.set_global_policy("mixed_bfloat16")      # the caller's, kept
try:                           # a spec that does not build fails in the probe, which clears Keras's session
    run.train(builder.load_spec(text=sys.argv[3]), "digits", sys.argv[2] + "-failed", verbose=0)
except builder.SpecError as err:
    failed = [str(err), keras().mixed_precision.global_policy().name]
metrics = run.train(builder.load_spec(text=sys.argv[1]), "digits", sys.argv[2], verbose=0)
print(json.dumps({"policy": keras().mixed_precision.global_policy().name, "failed": failed, "metrics": metrics}))
"""

UNBUILDABLE = ("name: bad\ninput: [8, 8, 1]\nlayers: [flatten, {conv2d: {filters: 4, kernel_size: 3}}]\n"
               "output: {units: 10}\n")


@pytest.mark.slow
def test_a_run_records_its_threads_and_the_samples_per_second_of_its_steps(tmp_path):
    facts = fresh_python(TRAIN, TINY, tmp_path / "run", UNBUILDABLE)
    assert facts["policy"] == "mixed_bfloat16"
    assert facts["failed"][0].startswith("<spec>:3:20: error: layers[1].conv2d: conv2d cannot take an input of shape")
    assert facts["failed"][1] == "mixed_bfloat16"
    recorded = json.loads((tmp_path / "run" / "run.json").read_text())
    assert (recorded["intra_op_threads"], recorded["precision"]) == (1, "float32")
    metrics = facts["metrics"]
    # the steps alone (epoch 2) against the whole run (compiling, validation, checkpoints)
    assert metrics["step_samples_per_second"] > metrics["samples_per_second"] > 0


def test_step_time_keeps_each_fits_first_epoch_apart(monkeypatch):
    clock = iter([0.0, 5.0, 10.0, 11.0, 20.0, 22.0, 30.0, 37.0, 40.0, 41.5])
    monkeypatch.setattr("builder.training.timing.time.perf_counter", lambda: next(clock))
    timer = StepTime()
    timer.on_train_begin()
    for epoch in range(3):
        timer.on_epoch_begin(epoch)
        timer.on_test_begin()               # validation: the steps' clock stops here
        timer.on_test_end()
        timer.on_epoch_end(epoch)
    timer.on_train_begin()                  # a second fit (a training phase): it compiles again
    for epoch in (3, 4):
        timer.on_epoch_begin(epoch)
        timer.on_epoch_end(epoch)           # no validation
    assert timer.first_epochs == [5.0, 7.0]
    assert timer.seconds == [1.0, 2.0, 1.5]
    assert timer.samples_per_second(90) == 60.0
    assert StepTime().samples_per_second(90) is None
