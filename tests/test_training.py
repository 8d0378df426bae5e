"""Training from a spec: the run folder, resume after SIGKILL, determinism,
every data format, distribution over two logical CPUs and over two workers."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import builder
from builder import RunFolderError, SpecError
from builder.training import run as training
from conftest import ROOT, digits_split, run_cli_process, spec_path

TINY = """\
name: tiny
input: [8, 8, 1]
layers:
  - conv2d: {filters: 4, kernel_size: 3, activation: relu}
  - flatten
output: {units: 10}
training:
  epochs: 2
  batch_size: 64
"""


def train_tiny(tmp_path, data="digits", text=TINY, **kw):
    spec = builder.load_spec(text=text)
    out = str(tmp_path / "run")
    return training.train(spec, data, out, verbose=0, **kw), out


def test_run_folder_holds_everything(tmp_path):
    metrics, out = train_tiny(tmp_path)
    files = set(os.listdir(out))
    assert {"model.keras", "metrics.json", "history.csv", "history.json", "run.json", "logs", "checkpoint"} <= files
    assert {"last.keras", "best.keras", "state.json"} <= set(os.listdir(os.path.join(out, "checkpoint")))
    events = [f for _, _, names in os.walk(os.path.join(out, "logs")) for f in names if "tfevents" in f]
    assert events
    written = json.load(open(os.path.join(out, "metrics.json")))
    assert written == json.loads(json.dumps(metrics))
    assert set(written) >= {"test_accuracy", "test_loss", "epochs", "seconds", "samples_per_second"}
    assert written["epochs"] == 2
    history = json.load(open(os.path.join(out, "history.json")))
    assert [h["epoch"] for h in history] == [1, 2]
    assert len(open(os.path.join(out, "history.csv")).read().splitlines()) == 3
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def test_same_seed_same_result(tmp_path):
    first, out1 = train_tiny(tmp_path / "a")
    second, out2 = train_tiny(tmp_path / "b")
    assert first["test_loss"] == second["test_loss"]
    import keras
    a = keras.saving.load_model(os.path.join(out1, "model.keras"))
    b = keras.saving.load_model(os.path.join(out2, "model.keras"))
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_steps_per_execution_changes_speed_not_weights(tmp_path):
    """`auto` runs 32 steps per call (fewer where an epoch has fewer); the
    weights are those of one step per call; run.json says which ran."""
    import keras

    from builder.spec.training import Training
    from builder.training.compile import steps_per_execution
    assert steps_per_execution(Training(), 1374, 32) == 32
    assert steps_per_execution(Training(), 300, 32) == 10
    assert steps_per_execution(Training(steps_per_execution=4), 1374, 32) == 4
    runs = {}
    for value in ("auto", "1"):
        metrics, out = train_tiny(tmp_path / value, text=TINY + f"  steps_per_execution: {value}\n")
        runs[value] = (metrics, keras.saving.load_model(os.path.join(out, "model.keras")).get_weights())
        # 1,374 training examples in batches of 64: 22 steps an epoch, all in one call
        assert json.load(open(os.path.join(out, "run.json")))["steps_per_execution"] == (22 if value == "auto" else 1)
    assert runs["auto"][0]["test_loss"] == runs["1"][0]["test_loss"]
    for x, y in zip(runs["auto"][1], runs["1"][1]):
        np.testing.assert_array_equal(x, y)


def _pipeline_of(ds) -> list:
    """A tf.data pipeline, last step first: (kind, parallel calls or buffer size)."""
    steps = []
    while ds is not None:
        setting = getattr(ds, "_num_parallel_calls", getattr(ds, "_buffer_size", None))
        steps.append((type(ds).__name__.strip("_"), None if setting is None else int(setting)))
        ds = getattr(ds, "_input_dataset", None)
    return steps


@pytest.mark.slow
def test_the_input_pipeline_and_xla_are_settings_that_change_speed_not_weights(tmp_path, monkeypatch):
    """num_parallel_calls and prefetch reach tf.data's map and prefetch (auto: AUTOTUNE, -1), and
    Keras's PyDataset without TensorFlow; jit_compile reaches compile; run.json records all three;
    the trained weights are those of the defaults."""
    import keras

    from builder.training import batching
    split, loaded = digits_split()
    spec = builder.load_spec(text=TINY + "  num_parallel_calls: 2\n  prefetch: 0\n")

    def pipeline(settings):
        steps = batching.Pipeline((8, 8, 1), 32, spec.training.preprocessing, **settings)
        return batching.dataset(split, loaded, steps, training=True)
    assert _pipeline_of(pipeline(batching.pipeline(spec.training))) == [
        ("OptionsDataset", None), ("BatchDataset", None), ("ShuffleDataset", 1797), ("CacheDataset", None),
        ("ParallelMapDataset", 2), ("TensorSliceDataset", None)]
    assert _pipeline_of(pipeline({"prefetch": 3}))[:1] == [("PrefetchDataset", 3)]
    assert [step for step in _pipeline_of(pipeline({})) if step[1] is not None and step[0] != "ShuffleDataset"] == [
        ("PrefetchDataset", -1), ("ParallelMapDataset", -1)]
    monkeypatch.setattr(batching, "has_tf_data", lambda: False)
    batches = pipeline(batching.pipeline(spec.training))
    assert (type(batches).__name__, batches.workers, batches.max_queue_size) == ("ArrayBatches", 2, 1)
    assert (pipeline({}).workers, pipeline({}).max_queue_size) == (1, 10)             # Keras's own defaults
    monkeypatch.undo()
    weights = {}
    for name, settings in [("auto", ""), ("set", "  num_parallel_calls: 1\n  prefetch: 0\n  jit_compile: false\n")]:
        _, out = train_tiny(tmp_path / name, text=TINY + settings)
        record = json.load(open(os.path.join(out, "run.json")))
        assert [record["num_parallel_calls"], record["prefetch"], record["jit_compile"]] == {
            "auto": ["auto", "auto", False], "set": [1, 0, False]}[name]
        weights[name] = keras.saving.load_model(os.path.join(out, "model.keras")).get_weights()
    for a, b in zip(weights["auto"], weights["set"]):
        np.testing.assert_array_equal(a, b)
    # XLA in a fresh process: this one has TensorFlow's op determinism on, under which Keras refuses XLA
    (tmp_path / "tiny.yaml").write_text(TINY + "  jit_compile: true\n")
    result = run_cli_process("train", tmp_path / "tiny.yaml", "--data", "digits", "--out", tmp_path / "xla",
                             timeout=300)
    assert (result.returncode, result.stderr) == (0, "")
    assert json.load(open(tmp_path / "xla" / "run.json"))["jit_compile"] is True
    xla = keras.saving.load_model(tmp_path / "xla" / "model.keras").get_weights()
    for a, b in zip(weights["auto"], xla):                  # XLA fuses ops: the same up to rounding
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    with pytest.warns(builder.errors.SpecWarning) as warned:
        _, out = train_tiny(tmp_path / "refused", text=TINY + "  jit_compile: true\n")
    assert [str(w.message) for w in warned if w.category is builder.errors.SpecWarning] == [("<spec>:10:3: warning: training.jit_compile: true, but Keras compiles this "
                                      "model without XLA: a layer does not support it, or TensorFlow's op "
                                      "determinism is on (an earlier run in this process turned it on)")]
    assert json.load(open(os.path.join(out, "run.json")))["jit_compile"] is False


def test_precision_auto_follows_the_device_and_is_recorded(tmp_path):
    """`auto`: bfloat16 compute on GPUs of compute capability 8.0 on, float16 on
    older ones, float32 on the CPU; a chosen mixed policy trains with a float32
    output layer, is written in run.json, and is not left behind."""
    import keras

    from builder.training.devices import precision_policy
    assert precision_policy("auto", []) == "float32"
    assert precision_policy("auto", [(9, 0)]) == "mixed_bfloat16"
    assert precision_policy("auto", [(8, 0), (7, 5)]) == "mixed_float16"
    assert precision_policy("mixed_float16", [(9, 0)]) == "mixed_float16"
    assert precision_policy("auto") == "float32"                 # this machine: the CPU
    metrics, out = train_tiny(tmp_path, text=TINY + "  precision: mixed_bfloat16\n")
    record = json.load(open(os.path.join(out, "run.json")))
    assert record["precision"] == "mixed_bfloat16" and record["jit_compile"] is False
    model = keras.saving.load_model(os.path.join(out, "model.keras"))
    assert model.layers[1].dtype_policy.name == "mixed_bfloat16"
    assert model.layers[-1].dtype_policy.name == "float32" and model.outputs[0].dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"
    assert metrics["test_accuracy"] > 0.3


def test_mixed_precision_keeps_embeddings_float32(tmp_path):
    """Under a mixed policy `train` keeps the registry's float32 layers
    (embeddings) float32 beside the output layer, records them, and leaves an
    entry that sets its own dtype as it is."""
    import keras

    from builder.spec import graph
    from builder.training.devices import keep_float32
    rows = [("a great film", "pos"), ("dull and long", "neg"), ("great acting", "pos"), ("a dull story", "neg")] * 8
    (tmp_path / "t.csv").write_text("text,label\n" + "".join(f"{t},{l}\n" for t, l in rows))
    text = ("name: t\ninput: {shape: [6], dtype: int32}\nlayers:\n"
            "  - embedding: {input_dim: 50, output_dim: 4, name: words}\n"
            "  - embedding: {input_dim: 50, output_dim: 4, name: own, dtype: mixed_bfloat16, inputs: input}\n"
            "  - add: {inputs: [words, own]}\n  - global_average_pooling1d\n"
            "output: {units: 2, name: label}\ntraining: {epochs: 1, precision: mixed_bfloat16}\n")
    _, out = train_tiny(tmp_path, data=str(tmp_path / "t.csv"), text=text)
    assert json.load(open(os.path.join(out, "run.json")))["float32_layers"] == ["words", "label"]
    model = keras.saving.load_model(os.path.join(out, "model.keras"))
    policies = {layer.name: layer.dtype_policy.name for layer in model.layers}
    assert (policies["words"], policies["own"], policies["add"]) == ("float32", "mixed_bfloat16", "mixed_bfloat16")
    expanded = graph.expand(builder.load_spec(text=text))
    assert keep_float32(expanded, "float32") == [] and expanded.nodes[0].args.get("dtype") is None
    assert keep_float32(expanded, "mixed_float16") == ["words"] and expanded.nodes[0].args["dtype"] == "float32"
    _, out = train_tiny(tmp_path / "plain", data=str(tmp_path / "t.csv"), text=text.replace("precision: mixed_bfloat16",
                                                                                        "precision: float32"))
    assert json.load(open(os.path.join(out, "run.json")))["float32_layers"] == []


def test_same_seed_same_initial_weights():
    import keras
    weights = []
    for _ in range(2):
        keras.utils.set_random_seed(7)
        weights.append(builder.build(spec_path("lenet5")).get_weights())
    for x, y in zip(*weights):
        np.testing.assert_array_equal(x, y)


def test_existing_run_is_not_overwritten(tmp_path):
    train_tiny(tmp_path)
    with pytest.raises(RunFolderError, match="already holds a run; continue it with --resume"):
        train_tiny(tmp_path)


def test_runs_without_out_never_collide(tmp_path, cli, monkeypatch):
    """runs/NAME, then runs/NAME-2, ...; --resume without --out continues the last; an explicit --out is refused."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text("name: t\ninput: [8, 8, 1]\nlayers: [flatten]\noutput: 10\n"
                                     "training: {epochs: 1, validation_split: 0, test_split: 0}\n")
    for expected in ("runs/t", "runs/t-2", "runs/t-3"):
        code, out, err = cli("train", "t.yaml", "--data", "digits", "--quiet")
        assert code == 0, err
        assert out.splitlines()[-1].startswith(f"wrote {expected}/: model.keras")
    code, out, err = cli("train", "t.yaml", "--data", "digits", "--epochs", "2", "--resume", "--quiet")
    assert code == 0 and out.splitlines()[-1].startswith("wrote runs/t-3/"), err
    assert json.loads((tmp_path / "runs" / "t-3" / "metrics.json").read_text())["epochs"] == 2
    assert sorted(os.listdir(tmp_path / "runs")) == ["t", "t-2", "t-3"]
    code, _, err = cli("train", "t.yaml", "--data", "digits", "--out", "runs/t")
    assert (code, err) == (1, "error: runs/t already holds a run; continue it with --resume or choose another --out\n")
    run = builder.train(str(tmp_path / "t.yaml"), "digits", verbose=0)
    assert run.dir == os.path.join("runs", "t-4")


def test_training_section_is_validated():
    with pytest.raises(SpecError) as info:
        builder.load_spec(text=TINY + "  optimiser: sgd\n")
    assert info.value.render() == (
        "<spec>:10:3: error: training.optimiser: unknown training setting 'optimiser'. Did you mean "
        "'optimizer'? Known: batch_size, cache, callbacks, distribution, epochs, ignore_index, intra_op_threads, "
        "jit_compile, loss, metrics, mode, monitor, num_parallel_calls, optimizer, phases, precision, prefetch, "
        "preprocessing, seed, sequence_length, shuffle, steps_per_execution, task, test_on, test_split, tfrecord, "
        "track, validation_split.")


def test_optimizer_schedule_and_callbacks(tmp_path):
    text = TINY + ("  optimizer: {sgd: {learning_rate: {exponential_decay: {initial_learning_rate: 0.1, "
                   "decay_steps: 10, decay_rate: 0.5}}, momentum: 0.9}}\n"
                   "  callbacks: [{early_stopping: {patience: 1, monitor: val_loss}}, terminate_on_nan]\n")
    metrics, out = train_tiny(tmp_path, text=text)
    assert metrics["epochs"] <= 2
    from builder.backend import keras
    optimizer = keras().saving.load_model(os.path.join(out, "model.keras")).optimizer
    steps = int(optimizer.iterations)
    assert steps > 10            # decayed: 0.1 * 0.5 ** (steps / 10), far from the constant 0.1
    assert float(optimizer.learning_rate) == pytest.approx(0.1 * 0.5 ** (steps / 10), rel=1e-5)


@pytest.mark.parametrize("settings, expected", [
    ("  optimizer: {adam: {clipnorm: 1, clipvalue: 1}}\n",
     "<spec>:10:3: error: training.optimizer: optimizer 'adam': Only one of `clipnorm`, `clipvalue` and "
     "`global_clipnorm` can be set. Received: clipnorm=1, clipvalue=1, global_clipnorm=None"),
    ("  optimizer:\n    adam:\n      learning_rate: {cosine_decay: {initial_learning_rate: 0.01, decay_steps: x}}\n",
     "<spec>:12:67: error: training.optimizer.adam.learning_rate.cosine_decay.decay_steps: expected an integer, "
     "got 'x' (a string)"),                       # now at validate: its docstring says `a python int`
    ("  callbacks:\n    - learning_rate_scheduler: {schedule: {cosine_decay: {initial_learning_rate: 0.1, "
     "decay_steps: 0}}}\n",
     "<spec>:11:33: error: training.callbacks[0].learning_rate_scheduler.schedule: learning-rate schedule "
     "cosine_decay: Argument `decay_steps` must be > 0. Received: decay_steps=0"),
    ("  phases:\n    - {epochs: 1}\n    - {epochs: 1, optimizer: {sgd: {clipnorm: 1, global_clipnorm: 1}}}\n",
     "<spec>:11:19: error: training.phases[1].optimizer: optimizer 'sgd': Only one of `clipnorm`, `clipvalue` and "
     "`global_clipnorm` can be set. Received: clipnorm=1, clipvalue=None, global_clipnorm=1"),
], ids=["optimizer", "schedule", "callback", "second-phase"])
def test_training_settings_keras_refuses_are_located_before_the_first_epoch(tmp_path, settings, expected):
    """Values only Keras can judge (an optimizer's clipping, a schedule's steps, a later
    phase's optimizer): refused at the spec's line before any epoch trains."""
    text = TINY.replace("  epochs: 2\n", "") if "phases" in settings else TINY
    with pytest.raises(SpecError) as info:
        train_tiny(tmp_path, text=text + settings)
    assert info.value.render() == expected
    assert not (tmp_path / "run").exists()                  # no empty run folder left behind


def test_a_failed_run_removes_only_the_empty_folders_it_made(tmp_path):
    from builder.training.folder import remove_empty
    (tmp_path / "run" / "checkpoint").mkdir(parents=True)
    (tmp_path / "run" / "logs" / "train").mkdir(parents=True)
    (tmp_path / "run" / "logs" / "train" / "events").write_text("kept")
    remove_empty(tmp_path / "run")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "run", "run/logs", "run/logs/train", "run/logs/train/events"]
    (tmp_path / "user" / "run").mkdir(parents=True)          # --out the user made stays when the run fails
    with pytest.raises(SpecError):
        train_tiny(tmp_path / "user", text=TINY + "  optimizer: {adam: {clipnorm: 1, clipvalue: 1}}\n")
    assert (tmp_path / "user" / "run").is_dir()


def test_evaluate_and_predict_a_saved_run(tmp_path, cli):
    metrics, out = train_tiny(tmp_path)
    code, stdout, err = cli("evaluate", os.path.join(out, "model.keras"), "--data", "digits")
    assert code == 0, err
    evaluated = json.loads(stdout)
    assert evaluated["examples"] == 270
    assert evaluated["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    # --weights: the same network with other weights (here a fresh, untrained one saved as .weights.h5)
    untrained = builder.build(text=TINY)
    untrained.save_weights(tmp_path / "fresh.weights.h5")
    code, stdout, err = cli("evaluate", os.path.join(out, "model.keras"), "--data", "digits",
                            "--weights", tmp_path / "fresh.weights.h5")
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0].startswith("Weights: ") and lines[0].endswith(f"layers from {tmp_path / 'fresh.weights.h5'}")
    assert json.loads(lines[-1])["test_accuracy"] < evaluated["test_accuracy"] - 0.3
    builder.build(text=TINY, overrides={"output.units": 3}).save_weights(tmp_path / "other.weights.h5")
    code, stdout, err = cli("evaluate", os.path.join(out, "model.keras"), "--data", "digits",
                            "--weights", tmp_path / "other.weights.h5")
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"error: {tmp_path / 'other.weights.h5'}: the weights do not fit the model: predictions")
    code, stdout, _ = cli("predict", os.path.join(out, "model.keras"), "--data", "digits")
    rows = stdout.splitlines()
    assert rows[0] == "index,predicted,probability,label"
    assert len(rows) == 1 + 1797
    from sklearn.datasets import load_digits
    assert [int(r.split(",")[3]) for r in rows[1:]] == load_digits().target.tolist()   # file order


def test_npz_and_csv_data(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    np.savez(tmp_path / "d.npz", x=x, y=y)
    text = "name: t\ninput: [4]\nlayers: [{dense: 8}]\noutput: {units: 2}\ntraining: {epochs: 1}\n"
    metrics, _ = train_tiny(tmp_path / "npz", data=str(tmp_path / "d.npz"), text=text)
    assert 0 <= metrics["test_accuracy"] <= 1
    with open(tmp_path / "d.csv", "w") as handle:
        handle.write("a,b,c,d,label\n")
        for row, label in zip(x, y):
            handle.write(",".join(f"{v:.5f}" for v in row) + f",{'yes' if label else 'no'}\n")
    metrics, _ = train_tiny(tmp_path / "csv", data=str(tmp_path / "d.csv"), text=text)
    assert metrics["epochs"] == 1


def test_image_folder_data(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(0)
    for label, value in (("dark", 40), ("light", 210)):
        os.makedirs(tmp_path / "images" / label)
        for i in range(12):
            pixels = np.clip(rng.normal(value, 20, (10, 12, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(tmp_path / "images" / label / f"{i}.png")
    text = ("name: t\ninput: [8, 8, 3]\nlayers: [flatten, {dense: 8}]\noutput: {units: 2}\n"
            "training: {epochs: 3, batch_size: 4, preprocessing: {augmentation: [{random_flip: {mode: horizontal}}]}}\n")
    metrics, out = train_tiny(tmp_path, data=str(tmp_path / "images"), text=text)
    assert metrics["epochs"] == 3
    assert json.load(open(os.path.join(out, "run.json")))["data"].endswith("images")


def test_text_data_saves_its_vocabulary(tmp_path, cli):
    rows = [("a great film", "pos"), ("great acting and a great story", "pos"), ("dull and long", "neg"),
            ("a dull story", "neg")] * 10
    with open(tmp_path / "t.csv", "w") as handle:
        handle.write("text,label\n" + "".join(f"{t},{l}\n" for t, l in rows))
    text = ("name: t\ninput: {shape: [6], dtype: int32}\nlayers:\n  - embedding: {input_dim: 50, output_dim: 4}\n"
            "  - lstm: 4\noutput: {units: 2}\ntraining: {epochs: 1}\n")
    metrics, out = train_tiny(tmp_path, data=str(tmp_path / "t.csv"), text=text)
    vocabulary = json.load(open(os.path.join(out, "vocabulary.json")))
    assert vocabulary[:2] == ["", "[UNK]"] and "great" in vocabulary
    code, stdout, _ = cli("predict", os.path.join(out, "model.keras"), "--data", tmp_path / "t.csv")
    assert code == 0 and len(stdout.splitlines()) == 41


def test_bad_data_is_a_clear_error(tmp_path, cli):
    code, _, err = cli("train", spec_path("lenet5"), "--data", tmp_path / "nothing.npz", "--out", tmp_path / "r")
    assert code == 1
    assert "no such file or folder (or use the built-in 'digits')" in err


def test_sweep_prints_one_table(cli, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.replace("activation: relu", "activation: tanh") + "defaults: {activation: relu}\n")
    code, out, err = cli("sweep", path, "--data", "digits", "--epochs", "1",
                         "--set", "defaults.activation=relu,prelu", "--out", tmp_path / "sweep")
    assert code == 0, err
    table = out[out.index("|  | defaults.activation"):].splitlines()
    assert table[0] == ("|  | defaults.activation | val accuracy (max) | test accuracy | parameters | seconds / epoch "
                        "| folder |")
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in table[2:]]
    assert sorted(r[1] for r in rows) == ["prelu", "relu"] and [r[0] for r in rows] == ["best", ""]
    assert float(rows[0][2]) >= float(rows[1][2])                                   # best first
    assert sorted(os.listdir(tmp_path / "sweep")) == ["defaults.activation=prelu", "defaults.activation=relu"]
    assert all(os.path.exists(tmp_path / "sweep" / name / "model.keras") for name in os.listdir(tmp_path / "sweep"))


def test_gpu_device_without_a_gpu_is_an_error():
    result = run_cli_process("train", spec_path("lenet5"), "--data", "digits", "--device", "gpu", "--out", "/tmp/x")
    assert result.returncode == 1
    assert result.stderr == "error: --device gpu: no GPU is visible to TensorFlow (try --device auto or cpu)\n"


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus(tmp_path):
    result = run_cli_process("train", spec_path("lenet5"), "--data", "digits", "--epochs", "1", "--out",
                             tmp_path / "run", "--distribute", "mirrored", "--cpu-devices", "2", "--device", "cpu")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Training with MirroredStrategy on 2 replicas: /job:localhost/replica:0/task:0/device:CPU:0, " \
           "/job:localhost/replica:0/task:0/device:CPU:1" in result.stdout
    assert json.load(open(tmp_path / "run" / "metrics.json"))["epochs"] == 1


@pytest.mark.slow
def test_resume_after_sigkill_continues_from_the_last_epoch(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, os.path.join(ROOT, "cli.py"), "train", spec_path("lenet5"), "--data", "digits",
            "--epochs", "6", "--out", str(out)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    state = out / "checkpoint" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline:
        if state.exists() and json.loads(state.read_text())["epoch"] >= 2:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = json.loads(state.read_text())["epoch"]
    assert 2 <= done < 6
    assert not (out / "model.keras").exists()        # no model.keras until the run finishes
    result = subprocess.run(args + ["--resume"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    epochs = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("Epoch ")]
    assert epochs[0] == f"{done + 1}/6"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 6
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow
def test_lenet5_reaches_96_percent_on_digits(tmp_path):
    result = run_cli_process("train", spec_path("lenet5"), "--data", "digits", "--out", tmp_path / "run",
                             timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs"] == 20
    assert metrics["test_accuracy"] >= 0.96
    evaluated = run_cli_process("evaluate", tmp_path / "run" / "model.keras", "--data", "digits")
    assert json.loads(evaluated.stdout)["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)


@pytest.mark.parametrize("mode, pick", [("auto", max), ("max", max), ("min", min)])
def test_best_checkpoint_follows_the_metric_direction_keras_gives(tmp_path, mode, pick):
    """AUC should go up, which its name does not say: Keras's own direction
    for the metric (or an explicit mode) chooses best.keras."""
    from builder.backend import keras
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)).astype("float32")
    y = (x[:, 0] + 0.5 * rng.normal(size=400) > 0).astype("int64")
    np.savez(tmp_path / "binary.npz", x=x, y=y)
    text = ("name: b\ninput: [6]\nlayers: [dense: 8]\noutput: {units: 1, activation: sigmoid}\n"
            f"training: {{epochs: 4, metrics: [auc], monitor: val_auc, mode: {mode}, "
            "optimizer: {sgd: {learning_rate: 0.02}}}\n")
    metrics, out = train_tiny(tmp_path, data=str(tmp_path / "binary.npz"), text=text)
    state = json.load(open(os.path.join(out, "checkpoint", "state.json")))
    values = [epoch["val_auc"] for epoch in state["history"]]
    assert len(set(values)) > 1
    assert state["best"] == pytest.approx(pick(values))
    best = keras().saving.load_model(os.path.join(out, "checkpoint", "best.keras"))
    last = keras().saving.load_model(os.path.join(out, "checkpoint", "last.keras"))
    same = all(np.array_equal(a, b) for a, b in zip(best.get_weights(), last.get_weights()))
    assert same == (values.index(pick(values)) == len(values) - 1)


def test_a_schedule_with_a_plateau_callback_is_refused_at_validate():
    """Both set the learning rate; Keras would fail at the first plateau, mid-training."""
    text = TINY + ("  optimizer: {sgd: {learning_rate: {exponential_decay: {initial_learning_rate: 0.1, "
                   "decay_steps: 10, decay_rate: 0.5}}}}\n  callbacks: [reduce_lr_on_plateau]\n")
    with pytest.raises(SpecError) as info:
        builder.validate(text=text)
    assert info.value.render() == ("<spec>:11:15: error: training.callbacks[0]: reduce_lr_on_plateau changes the "
                                   "learning rate, which the optimizer's schedule (exponential_decay) already sets; "
                                   "keep one of them")


def test_the_training_example_in_the_docs_trains(tmp_path):
    doc = open(os.path.join(ROOT, "docs", "training.md"), encoding="utf-8").read()
    section = doc.split("```yaml fragment\n", 1)[1].split("```", 1)[0]
    text = "name: docs\ninput: [8, 8, 1]\nlayers: [flatten, dense: 16]\noutput: {units: 10}\n" + section
    metrics, _ = train_tiny(tmp_path, text=text, epochs=1)
    assert metrics["epochs"] == 1 and 0 <= metrics["test_accuracy"] <= 1


def _images(folder, rng):
    from PIL import Image
    for name, level in (("night", 30), ("day", 220)):
        os.makedirs(folder / name)
        for i in range(10):
            Image.fromarray(np.clip(rng.normal(level, 20, (8, 8)), 0, 255).astype("uint8")).save(folder / name / f"{i}.png")


def test_a_model_that_rescales_itself_takes_raw_pixels_and_exports_so(tmp_path, cli):
    """The pipeline leaves 0-255 values to the model's own rescaling layer;
    the ONNX and TFLite exports, fed raw pixels, agree with Keras on raw pixels."""
    import onnxruntime
    _images(tmp_path / "images", np.random.default_rng(0))
    text = ("name: raw\ninput: [8, 8, 1]\nlayers:\n  - rescaling: {scale: 0.00392156862745098}\n  - flatten\n"
            "output: {units: 2}\ntraining: {epochs: 2}\n")
    metrics, out = train_tiny(tmp_path, data=str(tmp_path / "images"), text=text)
    assert json.load(open(os.path.join(out, "run.json")))["rescale"] == 1.0        # nothing scaled twice
    code, _, err = cli("export", os.path.join(out, "model.keras"), "--format", "onnx", "-o", tmp_path / "raw.onnx")
    assert code == 0, err
    from builder.backend import keras
    model = keras().saving.load_model(os.path.join(out, "model.keras"))
    raw = np.random.default_rng(1).uniform(0, 255, size=(4, 8, 8, 1)).astype("float32")
    session = onnxruntime.InferenceSession(str(tmp_path / "raw.onnx"))
    expected = model.predict(raw, verbose=0)
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: raw})[0], expected, atol=1e-5)
    code, _, err = cli("export", os.path.join(out, "model.keras"), "--format", "tflite", "-o", tmp_path / "raw.tflite")
    assert code == 0, err
    import tensorflow as tf
    interpreter = tf.lite.Interpreter(model_path=str(tmp_path / "raw.tflite"))
    given, taken = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(given["index"], raw.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], raw)
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(taken["index"]), expected, atol=1e-5)


def test_normalization_adapts_to_the_training_data_as_keras_does(tmp_path):
    from builder.backend import keras
    from builder.training import data as data_module
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(200, 3)) * [1, 10, 100] + [0, 5, -50]).astype("float32")
    np.savez(tmp_path / "d.npz", x=x, y=(x[:, 0] > 0).astype("int64"))
    text = ("name: norm\ninput: [3]\nlayers:\n  - normalization: {adapt: true, name: norm}\n  - dense: 4\n"
            "output: {units: 2}\ntraining: {epochs: 1}\n")
    metrics, out = train_tiny(tmp_path, data=str(tmp_path / "d.npz"), text=text)
    split = data_module.load(str(tmp_path / "d.npz"), data_module.InputDescription((3,)),
                             data_module.SplitPlan(validation_split=0.1, test_split=0.15, seed=0))
    reference = keras().layers.Normalization()
    reference.adapt(split.train.x)
    adapted = keras().saving.load_model(os.path.join(out, "model.keras")).get_layer("norm")
    np.testing.assert_allclose(np.ravel(adapted.mean), np.ravel(reference.mean), rtol=1e-5)
    np.testing.assert_allclose(np.ravel(adapted.variance), np.ravel(reference.variance), rtol=1e-5)


@pytest.mark.slow
def test_the_run_folder_is_a_record_that_trains_again(tmp_path, cli):
    """spec.yaml is the spec as resolved (extends and --set applied, blocks
    written in); training from it gives the same network and, seeded, the
    same weights. The test metrics are the best checkpoint's, and say so."""
    import shutil

    from builder.backend import keras
    shutil.copy(spec_path("lenet5"), tmp_path / "lenet5.yaml")
    (tmp_path / "variant.yaml").write_text("extends: lenet5.yaml\nname: variant\nset:\n  layers.0.conv2d.filters: 4\n")
    code, out, err = cli("train", tmp_path / "variant.yaml", "--data", "digits", "--epochs", "3", "--out",
                         tmp_path / "a", "--set", "training.batch_size=64", "--json")
    assert code == 0, err
    assert "\r" not in out and "\x1b" not in out and "\x08" not in out            # a log, not a terminal
    assert len([line for line in out.splitlines() if line.startswith("Epoch ")]) >= 3
    metrics = json.loads(out.splitlines()[-1])
    assert metrics["tested"] == "checkpoint/best.keras" and metrics["monitor"] == "val_loss"
    assert out.splitlines()[-1 - 11].startswith("Results of checkpoint/best.keras (epoch "
                                                f"{metrics['tested_epoch']} of 3, the best val_loss)")
    record = json.loads((tmp_path / "a" / "run.json").read_text())
    assert record["overrides"] == {"training.batch_size": 64} and record["resolved_spec"] == "spec.yaml"
    assert record["command"].startswith("python cli.py train ") and record["versions"]["keras"] == keras().__version__
    resolved = (tmp_path / "a" / "spec.yaml").read_text()
    assert "\nextends:" not in resolved and "filters: 4" in resolved and "batch_size: 64" in resolved
    code, out2, err = cli("train", tmp_path / "a" / "spec.yaml", "--data", "digits", "--epochs", "3", "--out",
                          tmp_path / "b", "--quiet")
    assert code == 0, err
    assert not any(line.startswith("Epoch ") for line in out2.splitlines())
    first = keras().saving.load_model(tmp_path / "a" / "model.keras")
    second = keras().saving.load_model(tmp_path / "b" / "model.keras")
    assert first.count_params() == second.count_params()
    for w1, w2 in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(w1, w2)
    for model in ("model.keras", "checkpoint/best.keras"):          # evaluate agrees with the report
        code, out3, err = cli("evaluate", tmp_path / "a" / model, "--data", "digits")
        assert code == 0, err
        assert json.loads(out3)["test_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)


def test_final_weights_on_request(tmp_path):
    metrics, out = train_tiny(tmp_path, text=TINY + "  test_on: final\n")
    assert metrics["tested"] == "final" and metrics["tested_epoch"] == metrics["epochs"]


def test_the_python_api_trains_on_arrays_with_callbacks(tmp_path):
    """builder.train with (x, y) arrays and a Keras callback of the user's own;
    the returned run holds the model, history and metrics, as the folder does."""
    from sklearn.datasets import load_digits

    from builder.backend import keras
    digits = load_digits()
    x = (digits.images[..., None] / 16.0).astype("float32")
    seen = []

    class Count(keras().callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(epoch)

    run = builder.train(builder.load_spec(text=TINY), (x, digits.target), out=tmp_path / "run", callbacks=[Count()],
                        verbose=0)
    assert seen == [0, 1] and [h["epoch"] for h in run.history] == [1, 2]
    assert run.metrics == json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert run.metrics["test_accuracy"] > 0.3 and run.dir == str(tmp_path / "run")
    assert json.loads((tmp_path / "run" / "run.json").read_text())["data"] == "arrays x [1797, 8, 8, 1] and y [1797]"
    images = x[:5]
    np.testing.assert_allclose(run.model.predict(images, verbose=0),
                               keras().saving.load_model(tmp_path / "run" / "model.keras").predict(images, verbose=0),
                               atol=1e-6)
    assert builder.evaluate(tmp_path / "run" / "model.keras", "digits")["examples"] == 270


def test_the_python_api_compiles_fits_predicts_and_evaluates_arrays_as_keras_does(tmp_path):
    """build(compile=True) is ready for fit (the spec's optimizer, its task's loss and metrics); predict and
    evaluate take arrays, scaled as the run scaled its training data, and answer as Keras's predict and evaluate."""
    from sklearn.datasets import load_digits

    from builder.backend import keras
    model = builder.build(text=TINY + "  optimizer: {sgd: {learning_rate: 0.05}}\n", compile=True)
    assert type(model.optimizer).__name__ == "SGD" and float(model.optimizer.learning_rate) == pytest.approx(0.05)
    digits = load_digits()
    x, y = digits.images[..., None].astype("float32"), digits.target
    history = model.fit(x / 16, y, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    builder.train(spec_path("lenet5"), "digits", out=tmp_path / "run", overrides={"training.epochs": 1}, verbose=0)
    path = tmp_path / "run" / "model.keras"
    reference = keras().saving.load_model(path)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["rescale"] == 1 / 16   # digits are 0..16
    resized = keras().ops.image.resize(x[:6], (32, 32)).numpy()
    np.testing.assert_allclose(builder.predict(path, resized), reference.predict(resized / 16, verbose=0), atol=1e-6)
    reference.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    expected = reference.evaluate(resized / 16, y[:6], return_dict=True, verbose=0)
    got = builder.evaluate(path, (resized, y[:6]))
    assert got["examples"] == 6 and got["test_accuracy"] == pytest.approx(expected["accuracy"])
    assert got["test_loss"] == pytest.approx(expected["loss"], abs=1e-5)
    import tensorflow as tf
    pairs = tf.data.Dataset.from_tensor_slices((resized / 16, y[:6]))          # a dataset is used as it is
    for dataset in (pairs, pairs.batch(4)):                                    # examples, or batches
        got = builder.evaluate(path, dataset)
        assert got["examples"] == 6 and got["test_loss"] == pytest.approx(expected["loss"], abs=1e-5)
    np.testing.assert_allclose(builder.predict(path, pairs.map(lambda x, y: x).batch(4)),
                               reference.predict(resized / 16, verbose=0), atol=1e-6)


def test_the_python_api_takes_a_spec_path_and_overrides(tmp_path):
    run = builder.train(spec_path("lenet5"), "digits", out=tmp_path / "run",
                        overrides={"training.epochs": 1, "layers.0.conv2d.filters": 2}, verbose=0)
    assert run.metrics["epochs"] == 1 and run.model.get_layer("c1").filters == 2


SEARCHED = TINY.replace("  - conv2d: {filters: 4, kernel_size: 3, activation: relu}",
                        "  - conv2d: {filters: 4, kernel_size: 3, name: c1}\n  - dense: {units: 16, name: f6}") + """\
search:
  defaults.activation: [relu, tanh]
  layers.f6.units: {int: [8, 32], step: 8}
  training.optimizer.adam.learning_rate: {float: [1.0e-3, 1.0e-2], sampling: log}
"""


def search_cli(cli, tmp_path, *flags):
    (tmp_path / "s.yaml").write_text(SEARCHED)
    code, out, err = cli("search", tmp_path / "s.yaml", "--data", "digits", "--out", tmp_path / "search", *flags)
    assert code == 0, err
    return out


@pytest.mark.needs("search")
def test_search_trains_trials_into_named_folders_and_writes_the_best_spec(cli, tmp_path):
    out = search_cli(cli, tmp_path, "--trials", "3", "--epochs", "1")
    table = out[out.index("|  | defaults.activation"):].split("\n\n")[0].splitlines()
    assert table[0] == ("|  | defaults.activation | layers.f6.units | training.optimizer.adam.learning_rate | "
                        "val accuracy (max) | test accuracy | parameters | seconds / epoch | folder |")
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in table[2:]]
    assert len(rows) == 3 and [r[0] for r in rows] == ["best", "", ""]
    assert [float(r[4]) for r in rows] == sorted((float(r[4]) for r in rows), reverse=True)
    folders = sorted(f for f in os.listdir(tmp_path / "search") if not f.startswith("."))
    assert folders[:3] == sorted(os.path.basename(r[-1]) for r in rows) and folders[3] == "best.yaml"
    assert all(f.startswith(("01-defaults.activation=", "02-", "03-")) for f in folders[:3])
    assert all(os.path.exists(tmp_path / "search" / f / "model.keras") for f in folders[:3])
    best = builder.load_spec(tmp_path / "search" / "best.yaml")
    assert best.search is None and best.training.epochs == 2
    assert "# That trial trained 1 epoch(s) (the search's --epochs or its budget); training.epochs below is the " \
           "spec's own, 2." in (tmp_path / "search" / "best.yaml").read_text()
    assert builder.build(tmp_path / "search" / "best.yaml").count_params() == int(rows[0][6].replace(",", ""))


@pytest.mark.needs("search")
def test_search_paths_are_checked_before_any_trial(cli, tmp_path):
    (tmp_path / "s.yaml").write_text(SEARCHED.replace("layers.f6.units", "layers.f7.units"))
    code, out, err = cli("search", tmp_path / "s.yaml", "--data", "digits", "--out", tmp_path / "search")
    assert code == 1 and not (tmp_path / "search").exists()
    assert err.startswith("error: search.layers.f7.units = 8: ")
    assert "'f7' is not an index of a list of 3 or the name of an entry (c1, f6)" in err


@pytest.mark.needs("search")
@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["bayesian", "hyperband"])
def test_search_algorithms(cli, tmp_path, algorithm):
    out = search_cli(cli, tmp_path, "--algorithm", algorithm, "--trials", "2", "--epochs", "2")
    assert "wrote the best spec to" in out
    assert builder.build(tmp_path / "search" / "best.yaml").count_params() > 0


def test_keras_callbacks_by_name_with_files_in_the_run_folder(tmp_path):
    """csv_logger, backup_and_restore and a learning_rate_scheduler with a named
    schedule (counted in epochs); their files land in RUN/callbacks/."""
    from builder.backend import keras
    text = TINY + ("  callbacks:\n"
                   "    - csv_logger: {filename: epochs.csv}\n"
                   "    - backup_and_restore: {backup_dir: backup}\n"
                   "    - learning_rate_scheduler: {schedule: {exponential_decay: {initial_learning_rate: 0.01,"
                   " decay_steps: 1, decay_rate: 0.5}}}\n"
                   "    - tensorboard: {histogram_freq: 1}\n")
    metrics, out = train_tiny(tmp_path, text=text)
    rows = (tmp_path / "run" / "callbacks" / "epochs.csv").read_text().splitlines()
    assert rows[0].startswith("epoch,") and len(rows) == 3
    model = keras().saving.load_model(tmp_path / "run" / "checkpoint" / "last.keras")
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01 * 0.5)
    events = [f for f, _, names in os.walk(tmp_path / "run" / "logs") for n in names if "tfevents" in n]
    assert any(os.path.basename(f) == "results" for f in events)


def test_the_run_logs_its_settings_and_test_metrics_for_tensorboard(tmp_path):
    import tensorflow as tf
    metrics, out = train_tiny(tmp_path, record={"command": None, "overrides": {"layers.0.conv2d.filters": 4}})
    found = {}
    for name in os.listdir(tmp_path / "run" / "logs" / "results"):
        for event in tf.compat.v1.train.summary_iterator(str(tmp_path / "run" / "logs" / "results" / name)):
            for value in event.summary.value:
                found[value.tag] = value
    assert "_hparams_/session_start_info" in found
    hparams = found["_hparams_/session_start_info"].metadata.plugin_data.content
    assert b"layers.0.conv2d.filters" in hparams and b"batch_size" in hparams
    assert tf.make_ndarray(found["test_accuracy"].tensor) == pytest.approx(metrics["test_accuracy"], abs=1e-6)


@pytest.mark.parametrize("entry, expected", [
    ("csv_logger: {filename: ../escape.csv}", "training.callbacks[0].csv_logger.filename: expected a relative "
                                              "path inside the run's callbacks/ folder, got '../escape.csv'"),
    ("learning_rate_scheduler: {verbose: 1}", "training.callbacks[0].learning_rate_scheduler: learning_rate_scheduler "
                                              "needs a `schedule`"),
    ("learning_rate_scheduler: {schedule: {cosine_decy: {}}}", "unknown learning-rate schedule 'cosine_decy'. "
                                                               "Did you mean 'cosine_decay'?"),
    ("csv_loger: {filename: a.csv}", "unknown callback 'csv_loger'. Did you mean 'csv_logger'?"),
])
def test_callbacks_are_checked_at_validate(entry, expected):
    with pytest.raises(builder.SpecError) as info:
        builder.validate(text=TINY + f"  callbacks:\n    - {entry}\n")
    assert expected in info.value.render()


def test_every_keras_callback_is_nameable_or_excluded_with_a_reason():
    import inspect

    from builder.backend import keras
    from builder.spec.training import CALLBACK_CLASSES, CALLBACKS_EXCLUDED
    classes = {n for n, v in vars(keras().callbacks).items() if inspect.isclass(v)}
    assert classes == set(CALLBACK_CLASSES.values()) | set(CALLBACKS_EXCLUDED)


def test_a_folder_with_train_val_test_folders_is_split_by_them(tmp_path, cli):
    from PIL import Image
    rng = np.random.default_rng(0)
    counts = {"train": 10, "val": 3, "test": 4}
    for split, count in counts.items():
        for name, level in (("night", 30), ("day", 220)):
            os.makedirs(tmp_path / "photos" / split / name)
            for i in range(count):
                pixels = np.clip(rng.normal(level, 20, (8, 8)), 0, 255).astype("uint8")
                Image.fromarray(pixels).save(tmp_path / "photos" / split / name / f"{split}{i}.png")
    text = "name: shades\ninput: [8, 8, 1]\nlayers: [flatten]\noutput: {units: 2}\ntraining: {epochs: 2}\n"
    (tmp_path / "s.yaml").write_text(text)
    code, out, err = cli("train", tmp_path / "s.yaml", "--data", tmp_path / "photos", "--out", tmp_path / "run",
                         "--json")
    assert code == 0, err
    assert ": 20 training, 6 validation, 8 test examples (split by its own train/, val/, test/ folders)" in out
    code, out, err = cli("evaluate", tmp_path / "run" / "model.keras", "--data", tmp_path / "photos")
    assert code == 0, err
    assert json.loads(out)["examples"] == 8                                       # test/ itself
    code, out, err = cli("predict", tmp_path / "run" / "model.keras", "--data", tmp_path / "photos")
    assert code == 0, err
    assert len(out.splitlines()) == 1 + 34                                        # every file of every split
    (tmp_path / "photos" / "test" / "dusk").mkdir()
    day = (tmp_path / "photos" / "test" / "day" / "test0.png").read_bytes()
    (tmp_path / "photos" / "test" / "dusk" / "a.png").write_bytes(day)
    code, out, err = cli("train", tmp_path / "s.yaml", "--data", tmp_path / "photos", "--out", tmp_path / "run2")
    assert code == 1
    assert err == (f"{tmp_path / 'photos' / 'test' / 'dusk'}: error: the class 'dusk' is not in the training "
                   "split's classes (day, night)\n")


@pytest.mark.needs("search")
def test_a_failing_trial_stops_the_search_with_its_own_error(cli, tmp_path):
    (tmp_path / "s.yaml").write_text(SEARCHED)
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    code, out, err = cli("search", tmp_path / "s.yaml", "--data", tmp_path / "bad.npz", "--out", tmp_path / "search",
                         "--trials", "3")
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"{tmp_path / 'bad.npz'}: error: ")
    assert not [e for e in os.listdir(tmp_path / "search") if not e.startswith(".")]    # the trial left no folder
    (tmp_path / "search" / "01-earlier").mkdir()
    code, out, err = cli("search", tmp_path / "s.yaml", "--data", "digits", "--out", tmp_path / "search")
    assert (code, err) == (1, f"error: {tmp_path / 'search'} holds an earlier search; continue it with --resume or "
                              "choose another --out "
                              "(nothing was trained)\n")


def test_image_caching_is_a_choice_and_changes_no_result(tmp_path, cli, monkeypatch):
    """Decoded images are kept in memory where they fit the budget, in the run's
    cache/ on request, or decoded every epoch; the trained weights are the same."""
    from builder.backend import keras
    from builder.training import batching
    _images(tmp_path / "images", np.random.default_rng(0))
    text = "name: shades\ninput: [8, 8, 1]\nlayers: [flatten]\noutput: {units: 2}\ntraining: {epochs: 2}\n"
    (tmp_path / "s.yaml").write_text(text)
    outputs, weights = {}, {}
    for mode in ("auto", "disk", "none"):
        code, out, err = cli("train", tmp_path / "s.yaml", "--data", tmp_path / "images", "--out", tmp_path / mode,
                             "--set", f"training.cache={mode}")
        assert code == 0, err
        outputs[mode] = out
        weights[mode] = keras().saving.load_model(tmp_path / mode / "model.keras").get_weights()
        assert not (tmp_path / mode / "cache").exists()                 # the run's own copies, removed at the end
    assert "; decoded images cached in memory" in outputs["auto"]
    assert "; decoded images cached in cache/" in outputs["disk"]
    assert "; images decoded from their files every epoch" in outputs["none"]
    for mode in ("disk", "none"):
        for a, b in zip(weights["auto"], weights[mode]):
            np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(batching, "CACHE_BUDGET", 100)                   # 14 images of 8x8 floats do not fit
    code, out, err = cli("train", tmp_path / "s.yaml", "--data", tmp_path / "images", "--out", tmp_path / "small")
    assert code == 0, err
    assert "; decoded images cached in cache/" in out                   # auto: on disk, where they fit its free space
    monkeypatch.setattr(batching, "DISK_SHARE", 0)                      # nor the disk
    code, out, err = cli("train", tmp_path / "s.yaml", "--data", tmp_path / "images", "--out", tmp_path / "tiny")
    assert code == 0, err
    assert "; images decoded from their files every epoch" in out
    for a, b in zip(weights["auto"], keras().saving.load_model(tmp_path / "tiny" / "model.keras").get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.needs("track")
def test_mlflow_tracking_in_a_local_file_store(tmp_path):
    """`track: mlflow` logs settings, per-epoch metrics, test metrics and the
    record files to the run's own mlruns/ (no server)."""
    import mlflow
    metrics, out = train_tiny(tmp_path, text=TINY + "  track: {mlflow: {experiment: tiny-runs}}\n",
                              record={"command": None, "overrides": {"training.batch_size": 64}})
    client = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "run" / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("tiny-runs")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.params["batch_size"] == "64" and run.data.params["training.batch_size"] == "64"
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [1, 2]
    assert run.data.tags["tested"] == metrics["tested"]
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"metrics.json", "run.json", "spec.yaml"}
    assert run.info.status == "FINISHED"


def logged_hparams(run_dir) -> dict:
    """The hyperparameters TensorBoard's HParams view shows for a run (logs/results)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import plugin_data_pb2
    found = {}
    for path in (run_dir / "logs" / "results").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    if data.HasField("session_start_info"):
                        for name, logged in data.session_start_info.hparams.items():
                            found[name] = logged.WhichOneof("kind") and getattr(logged, logged.WhichOneof("kind"))
    return found


@pytest.mark.needs("track")
def test_trackers_log_the_batch_size_and_epochs_the_run_trained_with(tmp_path, cli):
    """--batch-size and --epochs reach run.json, TensorBoard's HParams and MLflow alike (they all read
    the run's settings), not the spec's batch_size: 64 and epochs: 2. Each run logs into its own store,
    also after another tracked run in the same process (MLflow keeps the last store in its environment)."""
    import mlflow
    train_tiny(tmp_path / "earlier", text=TINY + "  track: mlflow\n", epochs=1)
    (tmp_path / "s.yaml").write_text(TINY + "  track: mlflow\n")
    code, _, err = cli("train", tmp_path / "s.yaml", "--data", "digits", "--batch-size", "16", "--epochs", "1",
                       "--out", tmp_path / "run")
    assert code == 0, err
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    client = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "run" / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    hparams = logged_hparams(tmp_path / "run")
    assert (record["batch_size"], run.data.params["batch_size"], run.data.params["epochs"]) == (16, "16", "1")
    assert (hparams["batch_size"], hparams["epochs"]) == (16, 1)


def test_python_api_arrays_that_do_not_fit_are_one_error(tmp_path):
    from builder.errors import DataError
    x = np.zeros((10, 8, 8, 1), "float32")
    with pytest.raises(DataError) as info:
        builder.train(builder.load_spec(text=TINY), (x, np.zeros(9, "int64")), out=tmp_path / "a", verbose=0)
    assert info.value.render() == "the (x, y) arrays: error: x has 10 examples and y 9; they must have as many"
    x[3, 2, 2, 0] = np.nan
    with pytest.raises(DataError, match=r"x holds NaN or infinite values \(first in example 3\)"):
        builder.train(builder.load_spec(text=TINY), (x, np.zeros(10, "int64")), out=tmp_path / "b", verbose=0)
    assert not (tmp_path / "a" / "model.keras").exists() and not (tmp_path / "b" / "model.keras").exists()


def test_tracking_without_mlflow_is_one_line(cli, tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "mlflow", None)                   # as if it were not installed
    (tmp_path / "s.yaml").write_text(TINY + "  track: mlflow\n")
    code, out, err = cli("train", tmp_path / "s.yaml", "--data", "digits", "--out", tmp_path / "run")
    assert (code, err) == (1, "error: training.track: mlflow needs MLflow: pip install mlflow-skinny "
                              "(or pip install \"keras-spec-builder[track]\")\n")


def test_trial_names_and_tables_round_floats_to_the_digits_that_tell_trials_apart():
    from builder.training import trials
    assert trials.folder_name({"training.optimizer.adam.learning_rate": 0.0007056544958930657, "a": "relu"}) == \
        "training.optimizer.adam.learning_rate=0.0007057,a=relu"
    close = [{"lr": 0.001234567}, {"lr": 0.001234568}]
    assert trials.digits_apart(close) == 7
    assert [trials.folder_name(v, trials.digits_apart(close)) for v in close] == ["lr=0.001234567", "lr=0.001234568"]
    rows = [trials.row(v, {"val_accuracy": 0.5, "params": 10, "seconds": 1, "epochs": 1}, f"f{i}")
            for i, v in enumerate(close)]
    table = trials.table(rows)
    assert "| 0.001234567 |" in table and "| 0.001234568 |" in table


def _stop_at(epochs_seen):
    """A callback that presses Ctrl-C when the `epochs_seen`-th epoch (counted over every run it joins) ends."""
    from builder.backend import keras

    class StopAt(keras().callbacks.Callback):
        seen = 0

        def on_epoch_end(self, epoch, logs=None):
            StopAt.seen += 1
            if StopAt.seen == epochs_seen:
                raise KeyboardInterrupt
    return StopAt()


@pytest.mark.slow
@pytest.mark.needs("search")
def test_a_stopped_search_and_sweep_continue_with_resume(cli, tmp_path):
    """Their Ctrl-C line once said to rerun with --resume, which neither took, and rerunning without it was
    refused. Now the finished trials are kept as they are and the stopped one continues from its last epoch."""
    from builder.training.interrupt import TrainingStopped
    (tmp_path / "s.yaml").write_text(SEARCHED)
    base = tmp_path / "search"
    with pytest.raises(TrainingStopped) as stopped:        # trial 1 finishes its 2 epochs; trial 2 stops after 1
        builder.search(tmp_path / "s.yaml", "digits", trials=3, epochs=2, out=base, callbacks=[_stop_at(3)],
                       verbose=0)
    assert (stopped.value.out, stopped.value.resumable) == (str(base), True)
    first, second = sorted(f for f in os.listdir(base) if not f.startswith("."))
    assert first.startswith("01-") and second.startswith("02-") and not (base / second / "metrics.json").exists()
    kept = (base / first / "metrics.json").read_bytes()
    code, _, err = cli("search", tmp_path / "s.yaml", "--data", "digits", "--trials", "3", "--epochs", "2",
                       "--out", base)
    assert (code, err) == (1, f"error: {base} holds an earlier search; continue it with --resume or choose another "
                              "--out (nothing was trained)\n")
    code, out, err = cli("search", tmp_path / "s.yaml", "--data", "digits", "--trials", "3", "--epochs", "2",
                         "--out", base, "--resume")
    assert code == 0, err
    trials_run = sorted(f for f in os.listdir(base) if f[:2].isdigit())
    assert [f[:3] for f in trials_run] == ["01-", "02-", "03-"] and trials_run[1] == second
    assert (base / first / "metrics.json").read_bytes() == kept                      # not trained again
    assert [row["epoch"] for row in json.loads((base / second / "history.json").read_text())] == [1, 2]
    table = [line for line in out.splitlines() if line.startswith("| ") and f"{base}/0" in line]
    assert sorted(line.split(" | ")[-1].strip(" |") for line in table) == [str(base / f) for f in trials_run]
    swept = tmp_path / "sweep"
    with pytest.raises(TrainingStopped):
        builder.sweep(spec_path("lenet5"), "digits", {"defaults.activation": ["relu", "tanh"]},
                      fixed={"training.epochs": 2}, out=swept, callbacks=[_stop_at(3)], verbose=0)
    kept = (swept / "defaults.activation=relu" / "metrics.json").read_bytes()
    code, out, err = cli("sweep", spec_path("lenet5"), "--data", "digits", "--set", "training.epochs=2",
                         "--set", "defaults.activation=relu,tanh", "--out", swept, "--resume")
    assert code == 0, err
    assert "=== defaults.activation=relu (trained earlier)" in out
    assert (swept / "defaults.activation=relu" / "metrics.json").read_bytes() == kept
    assert [r["epoch"] for r in json.loads((swept / "defaults.activation=tanh" / "history.json").read_text())] == [1, 2]
