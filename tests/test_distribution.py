"""Data-parallel training on keras.distribution (JAX): one process or several,
launched here on 127.0.0.1; the cluster from flags or Keras's variables."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from builder.errors import FlagError
from builder.training import distribution
from builder.training.distribution import Cluster, Shard
from conftest import ROOT

REG = """\
name: reg
input: [8, 8, 1]
defaults:
  kernel_regularizer: {l2: 0.01}
layers:
  - conv2d: {filters: 16, kernel_size: 3, activation: relu}
  - max_pooling2d: 2
  - flatten
  - dense: 32
output: {units: 10}
training:
  epochs: 3
  batch_size: 32
  metrics: [accuracy, sparse_top_k_categorical_accuracy]
"""

# --- the cluster and the shards ----------------------------------------------------------------------


@pytest.mark.parametrize("flags, environ, expected", [
    ((None, None, None), {}, Cluster(None, 1, 0)),
    ((None, 3, None), {}, Cluster(None, 3, 0)),                                   # launches 3 here
    (("10.0.0.1:1234", 4, 2), {}, Cluster("10.0.0.1:1234", 4, 2)),
    ((None, None, None), {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "h0:99,h1:99", "KERAS_DISTRIBUTION_PROCESS_ID": "1"},
     Cluster("h0:99", 2, 1)),                                                     # a job script's three variables
    ((None, None, None), {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "h0:99", "KERAS_DISTRIBUTION_NUM_PROCESSES": "8",
                          "KERAS_DISTRIBUTION_PROCESS_ID": "7"}, Cluster("h0:99", 8, 7)),
])
def test_the_cluster_comes_from_flags_or_keras_variables(flags, environ, expected):
    assert distribution.cluster(*flags, environ=environ) == expected
    assert expected.launches == (expected.processes > 1 and expected.coordinator is None)


@pytest.mark.parametrize("flags, environ, error", [
    (("h:1", 2, None), {}, "--coordinator: give each process its --process-id (0 to N-1) and --processes N too"),
    ((None, 2, 1), {}, "--process-id 1: name process 0's address, HOST:PORT, with --coordinator"),
    (("h:1", 2, 2), {}, "--process-id 2: expected 0 to 1 for 2 processes"),
    (("h", 2, 0), {}, "--coordinator 'h': expected HOST:PORT, the address of process 0"),
    ((None, 65, None), {}, "--processes: at most 64 processes are started on one host"),
    ((None, None, None), {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "h:1", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
                          "KERAS_DISTRIBUTION_PROCESS_ID": "x"}, "KERAS_DISTRIBUTION_PROCESS_ID='x': expected a "
                                                                 "whole number"),
    ((None, None, None), {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "h:1", "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
                          "KERAS_DISTRIBUTION_PROCESS_ID": "2"}, "KERAS_DISTRIBUTION_PROCESS_ID 2: expected 0 to 1 "
                                                                 "for 2 processes"),
])
def test_a_cluster_that_cannot_be_is_one_line(flags, environ, error):
    with pytest.raises(FlagError) as raised:
        distribution.cluster(*flags, environ=environ)
    assert str(raised.value) == error


def test_every_process_takes_an_equal_slice_and_together_they_take_each_batch_once():
    two = [Shard(i, 2, 4) for i in range(2)]                    # 2 processes of 2 devices each
    assert [s.bounds(32) for s in two] == [(0, 16), (16, 16)]
    assert [s.bounds(7) for s in two] == [(0, 2), (2, 2)]      # 7 -> 4 split over 4 devices, 3 left out
    assert two[0].used(1374, 32) == 1374 - 6 % 4 and two[0].used(64, 32) == 64
    with pytest.raises(FlagError, match="batch size 30 does not split evenly over 4 devices"):
        two[0].check(30)


@pytest.mark.parametrize("owners, rows", [
    ([{0}, {1}], [(0, 1), (1, 1)]),                     # {batch: 2, model: 2} on 2 processes of 2 devices
    ([{0, 1}], [(0, 1), (0, 1)]),                       # {batch: 1, model: 4}: the weights split across processes
    ([{0}, {0}, {1}, {1}], [(0, 2), (2, 2)]),           # {batch: 4, model: 1}: data-parallel's equal shares
    ([{0, 1}, {2, 3}], [(0, 1), (0, 1), (1, 1), (1, 1)]),  # 4 processes of 1 device on a 2 x 2 mesh
])
def test_each_process_feeds_the_places_of_the_batch_axis_its_devices_hold(owners, rows):
    assert [distribution.batch_rows(owners, p) for p in range(len(rows))] == rows
    shards = [Shard(p, len(rows), len(owners), rows=r) for p, r in enumerate(rows)]
    per = 32 // len(owners)
    assert [s.bounds(32) for s in shards] == [(first * per, count * per) for first, count in rows]


@pytest.mark.parametrize("owners, error", [
    ([{0}, {0}], "process 1 holds no device of the mesh: make the mesh use every process's devices"),
    ([{1}, {0}, {1}], "process 1 holds places [0, 2] of the batch axis, which are not next to each other"),
])
def test_a_mesh_a_process_cannot_feed_is_one_line(owners, error):
    from builder.errors import DeviceError
    with pytest.raises(DeviceError) as raised:
        distribution.batch_rows(owners, 1)
    assert str(raised.value) == error


def test_a_sharded_pipeline_gives_each_process_its_slice_of_the_same_shuffled_batches(tmp_path):
    import builder
    from builder.training import batching, data
    (tmp_path / "one.yaml").write_text("name: one\ninput: [1]\nlayers: [dense: 2]\noutput: {units: 2}\n")
    x = np.arange(101, dtype="float32").reshape(101, 1)
    whole = data.Data("t", data.Split(x, np.arange(101), np.arange(101)), None, None)
    steps = batching.Pipeline.of(builder.load_spec(tmp_path / "one.yaml"), 10)
    def batches(shard=None):
        return [b[1].numpy().tolist() for b in batching.dataset(whole.train, whole, steps, training=True, shard=shard)]
    one, parts = batches(), [batches(Shard(i, 2, 2)) for i in range(2)]
    assert [a + b for a, b in zip(*parts)] == [batch[: len(batch) // 2 * 2] for batch in one if len(batch) > 1]
    assert sorted(sum(one, [])) == list(range(101))


# --- the command line ----------------------------------------------------------------------------------


@pytest.mark.parametrize("args, error", [
    (["--processes", "2"], "error: --processes, --coordinator and --process-id go with --distribute data-parallel "
                           "or model-parallel"),
    (["--distribute", "multi-worker"], "error: --distribute multi-worker is gone (its own training loop left out "
                                       "regularizers and loss scaling): --distribute data-parallel trains on several "
                                       "processes and hosts with fit (docs/training.md)"),
])
def test_cluster_flags_without_data_parallel_and_the_old_loop_are_one_line(cli, args, error, tmp_path):
    (tmp_path / "reg.yaml").write_text(REG)
    code, out, err = cli("train", tmp_path / "reg.yaml", "--data", "digits", "--out", tmp_path / "run", *args)
    assert (code, err) == (1, error + "\n")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command", ["sweep", "search"])
def test_sweep_and_search_leave_data_parallel_to_train(cli, command, tmp_path):
    (tmp_path / "reg.yaml").write_text(REG)
    code, _, err = cli(command, tmp_path / "reg.yaml", "--data", "digits", "--distribute", "data-parallel",
                       "--set", "training.batch_size=16,32")
    assert (code, err) == (1, f"error: --distribute data-parallel: {command} trains its trials one at a time; "
                              "train does it\n")


# --- processes on 127.0.0.1 ------------------------------------------------------------------------------


def train(folder, out, *args, kill_at=None, timeout=600, env=None):
    """`cli.py train reg.yaml --data digits --out OUT ARGS` in `folder`, with its own temporary folder;
    with `kill_at`, SIGKILL to every process once that epoch is checkpointed."""
    env = {**(env or os.environ), "TMPDIR": str(folder / "tmp"), "PYTHONPATH": ROOT}
    (folder / "tmp").mkdir(exist_ok=True)
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "cli.py"), "train", "reg.yaml", "--data",
                                "digits", "--out", out, *args], cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    if kill_at is None:
        out_text, err_text = process.communicate(timeout=timeout)
        return process.returncode, out_text, err_text
    state, deadline = folder / out / "checkpoint" / "state.json", time.time() + timeout
    while time.time() < deadline and not (state.exists() and json.loads(state.read_text())["epoch"] >= kill_at):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
    return json.loads(state.read_text())["epoch"]


def history(folder, out):
    return json.loads((folder / out / "history.json").read_text())


@pytest.mark.slow
@pytest.mark.needs("jax")
def test_two_processes_train_what_one_process_trains(tmp_path):
    """An L2 regularizer and two metrics: two processes' losses agree with one process's fit every epoch,
    their test accuracies too; process 0 alone writes the run folder, and nothing else is left behind."""
    (tmp_path / "reg.yaml").write_text(REG)
    code, _, err = train(tmp_path, "one", "--backend", "jax")
    assert code == 0, err[-2000:]
    code, out, err = train(tmp_path, "two", "--distribute", "data-parallel", "--processes", "2")
    assert code == 0, err[-2000:]
    assert out.startswith("Note: --distribute data-parallel trains on Keras's JAX backend (keras.distribution), "
                          "not tensorflow\nTraining data-parallel with keras.distribution on 2 cpu devices in 2 "
                          "processes (JAX)\n")
    assert out.count("Epoch 3/3") == 1                                   # process 0 alone prints
    for a, b in zip(history(tmp_path, "one"), history(tmp_path, "two"), strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=0.02)
        assert b["sparse_top_k_categorical_accuracy"] == pytest.approx(a["sparse_top_k_categorical_accuracy"],
                                                                        abs=0.02)
    one, two = (json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("one", "two"))
    assert abs(one["test_accuracy"] - two["test_accuracy"]) <= 0.02
    assert two["test_examples"] == 270
    record = json.loads((tmp_path / "two" / "run.json").read_text())
    assert (record["engine"], record["processes"], record["devices"]) == ("keras.distribution.DataParallel", 2, 2)
    assert sorted(os.listdir(tmp_path / "two")) == sorted(os.listdir(tmp_path / "one"))
    assert os.listdir(tmp_path / "tmp") == []                           # the other process's folder is gone


@pytest.mark.slow
@pytest.mark.needs("jax")
def test_two_processes_killed_at_epoch_two_resume_to_the_weights_of_a_run_never_stopped(tmp_path):
    from builder.backend import keras
    (tmp_path / "reg.yaml").write_text(REG)
    flags = ("--distribute", "data-parallel", "--processes", "2", "--epochs", "4")
    code, _, err = train(tmp_path, "whole", *flags)
    assert code == 0, err[-2000:]
    assert 2 <= train(tmp_path, "cut", *flags, kill_at=2) < 4
    code, _, err = train(tmp_path, "cut", *flags, "--resume")
    assert code == 0, err[-2000:]
    assert [h["epoch"] for h in history(tmp_path, "cut")] == [1, 2, 3, 4]
    whole, cut = (keras().saving.load_model(tmp_path / name / "model.keras") for name in ("whole", "cut"))
    for a, b in zip(whole.get_weights(), cut.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.slow
@pytest.mark.needs("jax")
def test_a_process_that_dies_ends_the_others_in_one_line(tmp_path):
    (tmp_path / "reg.yaml").write_text(REG)
    (tmp_path / "tmp").mkdir()
    env = {**os.environ, "PYTHONPATH": ROOT, "TMPDIR": str(tmp_path / "tmp")}
    launcher = subprocess.Popen([sys.executable, os.path.join(ROOT, "cli.py"), "train", "reg.yaml", "--data",
                                 "digits", "--epochs", "200", "--out", "run", "--distribute", "data-parallel",
                                 "--processes", "2"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    state, deadline = tmp_path / "run" / "checkpoint" / "state.json", time.time() + 300
    while time.time() < deadline and not state.exists():
        time.sleep(0.05)
    children = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True).stdout.split()
    second = next(pid for pid in children if b"KERAS_DISTRIBUTION_PROCESS_ID=1\0" in
                  open(f"/proc/{pid}/environ", "rb").read())
    os.kill(int(second), signal.SIGKILL)
    killed = time.time()
    _, err = launcher.communicate(timeout=120)
    assert time.time() - killed < 60
    assert (launcher.returncode, err) == (1, "error: process 1 of 2 was killed by signal 9\n")
    assert os.listdir(tmp_path / "tmp") == []                       # nor the killed process's private folder


# --- model-parallel on 4 virtual CPU devices --------------------------------------------------------------

ENCODER = """\
name: enc
input: [8, 8, 1]
layers:
  - reshape: [8, 8]
  - dense: 32
  - transformer_encoder: {num_heads: 2, intermediate_dim: 64}
  - flatten
output: {units: 10}
training:
  epochs: 2
  distribution:
    mesh: {batch: 2, model: 2}
"""

LAYOUT = """\
name: lay
input: [8, 8, 1]
layers:
  - flatten
  - dense: {units: 30, name: hidden}
output: {units: 10}
training:
  epochs: 1
  distribution:
    mesh: {batch: 1, model: 4}
    layout:
      "PATTERN": [null, model]
"""


@pytest.mark.slow
@pytest.mark.needs("jax")
def test_model_parallel_on_four_devices_trains_what_one_device_trains(tmp_path):
    """A transformer encoder laid out as KerasHub lays out its own (heads and feed-forward units over `model`),
    on a mesh of 2 x 2 virtual CPU devices: the same training losses as one device, the same test accuracy."""
    (tmp_path / "reg.yaml").write_text(ENCODER)
    four = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    code, out, err = train(tmp_path, "mp", "--distribute", "model-parallel", env=four)
    assert code == 0, err[-2000:]
    assert "Training model-parallel with keras.distribution on a mesh {batch: 2, model: 2} of 4 cpu devices in 1 " \
           "process (JAX); 6 of 20 weights split, the others replicated\n" \
        in out
    code, _, err = train(tmp_path, "one", "--backend", "jax")
    assert code == 0, err[-2000:]
    for a, b in zip(history(tmp_path, "one"), history(tmp_path, "mp"), strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
    one, mp = (json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("one", "mp"))
    assert mp["test_accuracy"] == pytest.approx(one["test_accuracy"], abs=0.004)        # one image of 270
    record = json.loads((tmp_path / "mp" / "run.json").read_text())
    assert (record["engine"], record["mesh"]) == ("keras.distribution.ModelParallel", {"batch": 2, "model": 2})


@pytest.mark.slow
@pytest.mark.needs("jax")
def test_a_layout_that_does_not_fit_the_model_or_the_devices_is_one_line_at_its_spec_line(tmp_path):
    four = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    cases = [
        ("hidden/kernel", four, "reg.yaml:12:7: error: training.distribution.layout.hidden/kernel: dimension 1 of "
                                "'hidden/kernel' (64, 30) is 30, which does not split over the 4 devices of 'model'"),
        ("hiden/kernel", four, "reg.yaml:12:7: error: training.distribution.layout.hiden/kernel: 'hiden/kernel' "
                               "matches no weight of the model (its weights are named like hidden/kernel, "
                               "hidden/bias, predictions/kernel, ...)"),
        ("hidden/kernel", os.environ, "error: the mesh {'batch': 1, 'model': 4} needs 4 devices; this process has 1 "
                                      "(on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=4 makes that "
                                      "many)"),
    ]
    for pattern, env, error in cases:
        (tmp_path / "reg.yaml").write_text(LAYOUT.replace("PATTERN", pattern))
        code, _, err = train(tmp_path, "run", "--distribute", "model-parallel", env={**env, "XLA_FLAGS": ""}
                             if env is os.environ else env)
        assert (code, err) == (1, error + "\n")
        assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("pattern, axes, error", [
    ("hiden/kernel", "[null, model]", "'hiden/kernel' matches no weight of the model (its weights are named like "
                                      "hidden/kernel, hidden/bias, predictions/kernel, ...)"),
    ("hidden/kernel", "[null, model]", "dimension 1 of 'hidden/kernel' (64, 30) is 30, which does not split over "
                                       "the 4 devices of 'model'"),
    ("hidden/kernel", "[model]", "'hidden/kernel' has 2 dimensions (64, 30); the layout gives 1"),
    ("hidden/kernel", "[model, null]", None),                                   # 64 rows over 4 devices
])
def test_validate_holds_a_layout_to_the_weights_the_spec_makes(cli, tmp_path, pattern, axes, error):
    (tmp_path / "lay.yaml").write_text(LAYOUT.replace('"PATTERN": [null, model]', f'"{pattern}": {axes}'))
    code, out, err = cli("validate", tmp_path / "lay.yaml")
    if error is None:
        assert (code, out, err) == (0, f"{tmp_path / 'lay.yaml'}: ok\n", "")
    else:
        assert (code, err) == (1, f"{tmp_path / 'lay.yaml'}:12:7: error: training.distribution.layout.{pattern}: "
                                  f"{error}\n")


def test_validate_holds_the_default_layout_to_the_transformer_blocks(cli, tmp_path):
    """Without a layout, transformer blocks split their heads over `model`: 3 heads do not split over 2."""
    (tmp_path / "enc.yaml").write_text(ENCODER.replace("num_heads: 2", "num_heads: 3").replace("dense: 32", "dense: 30"))
    code, _, err = cli("validate", tmp_path / "enc.yaml")
    assert (code, err) == (1, f"{tmp_path / 'enc.yaml'}:11:3: error: training.distribution: dimension 1 of "
                              "'transformer_encoder/self_attention_layer/query/kernel' (30, 3, 10) is 3, which does not "
                              "split over the 2 devices of 'model'\n")
    (tmp_path / "enc.yaml").write_text(ENCODER)
    assert cli("validate", tmp_path / "enc.yaml")[0] == 0


def test_the_page_shows_a_layout_that_does_not_fit_at_its_line(tmp_path):
    from builder.errors import SpecError
    from builder.view.diagram import diagram
    (tmp_path / "lay.yaml").write_text(LAYOUT.replace("PATTERN", "hiden/kernel"))
    with pytest.raises(SpecError) as raised:
        diagram(str(tmp_path / "lay.yaml"))
    assert raised.value.render().startswith(f"{tmp_path / 'lay.yaml'}:12:7: error: training.distribution.layout."
                                            "hiden/kernel: 'hiden/kernel' matches no weight of the model")


# --- model-parallel over several processes -----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.needs("jax")
def test_weights_split_across_two_processes_train_save_and_resume_as_one_device(tmp_path):
    """{batch: 1, model: 2} on two processes of one device each: every weight laid out over `model` is
    half in each process. Both feed the whole batch; the run's losses are one device's; model.keras
    holds the whole weights (evaluate gives the run's test metrics); a run stopped after one epoch and
    resumed on two processes reaches the uninterrupted run's weights."""
    import builder.keras.layers  # noqa: F401 - TransformerEncoder, for loading the saved models here
    from builder.backend import keras
    (tmp_path / "reg.yaml").write_text(ENCODER.replace("{batch: 2, model: 2}", "{batch: 1, model: 2}"))
    flags = ("--distribute", "model-parallel", "--processes", "2")
    code, out, err = train(tmp_path, "mp", *flags)
    assert code == 0, err[-2000:]
    assert "Training model-parallel with keras.distribution on a mesh {batch: 1, model: 2} of 2 cpu devices in 2 " \
           "processes (JAX); 6 of 20 weights split, the others replicated\n" in out
    assert "; each of 2 processes feeds all of every batch of 32\n" in out
    code, _, err = train(tmp_path, "one", "--backend", "jax")
    assert code == 0, err[-2000:]
    for a, b in zip(history(tmp_path, "one"), history(tmp_path, "mp"), strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)
    record = json.loads((tmp_path / "mp" / "run.json").read_text())
    assert (record["engine"], record["processes"], record["mesh"]) == \
        ("keras.distribution.ModelParallel", 2, {"batch": 1, "model": 2})
    assert sorted(os.listdir(tmp_path / "mp")) == sorted(os.listdir(tmp_path / "one"))
    metrics = json.loads((tmp_path / "mp" / "metrics.json").read_text())
    evaluated = subprocess.run([sys.executable, os.path.join(ROOT, "cli.py"), "evaluate", "mp/model.keras", "--data",
                                "digits"], cwd=tmp_path, capture_output=True, text=True)
    assert json.loads(evaluated.stdout.splitlines()[-1])["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    code, _, err = train(tmp_path, "cut", *flags, "--epochs", "1")
    assert code == 0, err[-2000:]
    code, _, err = train(tmp_path, "cut", *flags, "--resume")
    assert code == 0, err[-2000:]
    assert [h["epoch"] for h in history(tmp_path, "cut")] == [1, 2]
    whole, cut = (keras().saving.load_model(tmp_path / name / "model.keras") for name in ("mp", "cut"))
    for a, b in zip(whole.get_weights(), cut.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.slow
@pytest.mark.needs("jax")
def test_two_processes_of_two_devices_each_split_the_batch_and_the_model_as_one_device_trains(tmp_path):
    """{batch: 2, model: 2} on two processes of two virtual CPU devices: each process feeds its half of
    every batch to its two devices, which split the weights."""
    (tmp_path / "reg.yaml").write_text(ENCODER)
    two = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    code, out, err = train(tmp_path, "mp", "--distribute", "model-parallel", "--processes", "2", env=two)
    assert code == 0, err[-2000:]
    assert "of 4 cpu devices in 2 processes (JAX); 6 of 20 weights split, the others replicated\n" in out
    assert "; each of 2 processes trains on its slice of every batch of 32\n" in out
    code, _, err = train(tmp_path, "one", "--backend", "jax")
    assert code == 0, err[-2000:]
    for a, b in zip(history(tmp_path, "one"), history(tmp_path, "mp"), strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4)


@pytest.mark.slow
@pytest.mark.needs("jax")
def test_a_mesh_the_processes_devices_do_not_fill_is_one_line(tmp_path):
    (tmp_path / "reg.yaml").write_text(ENCODER)
    code, _, err = train(tmp_path, "run", "--distribute", "model-parallel", "--processes", "2",
                         env={**os.environ, "XLA_FLAGS": ""})
    assert (code, err) == (1, "error: the mesh {'batch': 2, 'model': 2} needs 4 devices; the 2 processes have 2 (on "
                              "a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=2 makes that many in each)\n")
    assert not (tmp_path / "run").exists()
    (tmp_path / "reg.yaml").write_text(ENCODER.replace("{batch: 2, model: 2}", "{batch: 1, model: 2}"))
    code, _, err = train(tmp_path, "run", "--distribute", "model-parallel", "--processes", "2",
                         env={**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert (code, err) == (1, "error: process 1 holds no device of the mesh: make the mesh use every process's "
                              "devices\n")                        # process 0's two devices make the whole mesh
    assert not (tmp_path / "run").exists()
