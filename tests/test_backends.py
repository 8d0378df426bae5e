"""Model code is backend-neutral: specs build and train under JAX and
PyTorch, and the NumPy input path trains where tf.data is not available."""

import json
import os
import subprocess
import sys

import pytest

import builder
from builder.training import batching, run
from conftest import ROOT, digits_split, run_cli_process, spec_path

JAX_SCRIPT = """
import json, numpy as np, builder
from builder import backend
keras = backend.keras()
counts = {name: builder.build(f"specs/{name}.yaml").count_params()
          for name in ("lenet5", "googlenet", "bert_tiny", "lstm_text", "gru_timeseries", "stacked_lstm")}
model = builder.build("specs/bert_tiny.yaml")
ids = np.ones((2, 8), "int32")
out = model.predict({"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": ids}, verbose=0)
seq2seq = builder.build(text='''name: s
inputs: {source: {shape: [6, 8]}, target: {shape: [5, 8]}}
layers:
  - rotary_embedding: {name: rotated, inputs: source}
  - transformer_encoder: {num_heads: 2, intermediate_dim: 16, name: encoder}
  - transformer_decoder: {num_heads: 2, intermediate_dim: 16, inputs: [target, encoder], name: decoder}
output: none
''')
x = np.random.default_rng(0).standard_normal((1, 6, 8)).astype("float32")
y = np.random.default_rng(1).standard_normal((1, 5, 8)).astype("float32")
later = y.copy(); later[0, 3:] += 1.0
a, b = seq2seq.predict([x, y], verbose=0), seq2seq.predict([x, later], verbose=0)
causal = bool(np.allclose(a[0, :3], b[0, :3], atol=1e-5) and not np.allclose(a[0, 3:], b[0, 3:], atol=1e-3))
print(json.dumps({"backend": keras.backend.backend(), "counts": counts, "shape": list(out.shape),
                  "decoder": [list(a.shape), causal]}))
"""


BACKENDS = [pytest.param("jax", marks=pytest.mark.needs("jax")),       # extras (`all` has both)
            pytest.param("torch", marks=[pytest.mark.needs("torch"), pytest.mark.slow])]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_specs_build_and_run_under_other_backends(backend):
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "KERAS_BACKEND": backend}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    facts = json.loads(result.stdout.strip().splitlines()[-1])
    assert facts["backend"] == backend
    assert facts["counts"]["lenet5"] == 61706 and facts["counts"]["googlenet"] == 6998552
    assert facts["shape"] == [2, 2]
    assert facts["decoder"] == [[1, 5, 8], True]          # rotary, encoder, cross-attending causal decoder


@pytest.mark.parametrize("backend", BACKENDS)
def test_train_under_other_backends(tmp_path, backend):
    result = run_cli_process("train", spec_path("lenet5"), "--data", "digits", "--epochs", "2", "--out",
                             tmp_path / "run", env={"KERAS_BACKEND": backend}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith(f"Training on {backend} backend devices\n")
    assert result.stderr.count("oneDNN") == 0                     # TensorFlow's start-up noise stays hidden
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test_accuracy"] > 0.5
    assert json.loads((tmp_path / "run" / "run.json").read_text())["intra_op_threads"] is None     # TensorFlow's


@pytest.mark.needs("jax")
def test_a_number_of_threads_per_op_is_refused_on_another_backend(tmp_path, write_spec):
    path = write_spec("name: t\ninput: [8, 8, 1]\nlayers: [flatten]\noutput: {units: 10}\n"
                      "training:\n  intra_op_threads: 2\n")
    result = run_cli_process("train", path, "--data", "digits", "--out", tmp_path / "run",
                             env={"KERAS_BACKEND": "jax"})
    assert (result.returncode, result.stderr) == (1, f"{path}:6:3: error: training.intra_op_threads: a number of "
                                                     "threads per op is TensorFlow's setting, and the backend is "
                                                     "jax; use auto (the backend's own threads), or the "
                                                     "TensorFlow backend\n")
    assert not (tmp_path / "run").exists()


def test_numpy_input_path_trains_without_tf_data(tmp_path, monkeypatch):
    monkeypatch.setattr(batching, "has_tf_data", lambda: False)
    spec = builder.load_spec(text="name: t\ninput: [8, 8, 1]\nlayers: [flatten, {dense: 16}]\noutput: {units: 10}\n"
                                  "training: {epochs: 2, preprocessing: {augmentation: [{random_flip: "
                                  "{mode: horizontal}}]}}\n")
    batches = batching.dataset(*digits_split(), batching.Pipeline((8, 8, 1), 32, spec.training.preprocessing),
                               training=True)
    assert type(batches).__name__ == "ArrayBatches"
    x, y = batches[0]
    assert x.shape == (32, 8, 8, 1) and float(x.max()) <= 1.0
    metrics = run.train(spec, "digits", str(tmp_path / "run"), verbose=0)
    assert metrics["epochs"] == 2 and metrics["test_accuracy"] > 0.3
    assert not (tmp_path / "run" / "logs").exists()          # TensorBoard needs TensorFlow


WITHOUT_TENSORFLOW = """
import sys
for name in ("tensorflow", "tensorflow_datasets", "tf_keras", "tf2onnx", *filter(None, sys.argv[1].split(","))):
    sys.modules[name] = None          # as if not installed
del sys.argv[1]
sys.argv = ["cli.py"] + sys.argv[1:]
from builder.cli import main
code = main()
loaded = [m for m, module in sys.modules.items() if module is not None and m.split(".")[0] == "tensorflow"]
assert not loaded, loaded
sys.exit(code)
"""


@pytest.mark.slow
@pytest.mark.parametrize("chosen, missing", [pytest.param("jax", "", marks=pytest.mark.needs("jax")),
                                             pytest.param("torch", "jax,jaxlib", marks=pytest.mark.needs("torch"))])
def test_without_tensorflow_the_installed_backend_builds_trains_evaluates_and_predicts(tmp_path, chosen, missing):
    """TensorFlow not installed and no KERAS_BACKEND: JAX is chosen, else PyTorch; the
    NumPy data path trains; exports that need TensorFlow say so in one line."""
    script = tmp_path / "no_tf.py"
    script.write_text(WITHOUT_TENSORFLOW)
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = ROOT

    def run_without_tf(*args):
        return subprocess.run([sys.executable, str(script), missing, *map(str, args)], capture_output=True, text=True,
                              cwd=tmp_path, env=env, timeout=600)
    built = run_without_tf("build", spec_path("lenet5"), "--json")
    assert built.returncode == 0, built.stderr[-2000:]
    assert json.loads(built.stdout.splitlines()[-1])["params"] == 61706
    trained = run_without_tf("train", spec_path("lenet5"), "--data", "digits", "--epochs", "1", "--out", "run")
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert trained.stdout.startswith(f"Training on {chosen} backend devices\n")
    assert trained.stdout.splitlines()[-1] == ("wrote run/: model.keras, spec.yaml, metrics.json, run.json, "
                                               "history.csv, history.json, classes.json, checkpoint/")    # no logs/: no TensorBoard
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    evaluated = run_without_tf("evaluate", "run/model.keras", "--data", "digits")
    assert json.loads(evaluated.stdout)["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    predicted = run_without_tf("predict", "run/model.keras", "--data", "digits")
    assert predicted.returncode == 0 and len(predicted.stdout.splitlines()) == 1798
    refused = run_without_tf("export", spec_path("lenet5"), "--format", "savedmodel", "-o", "saved")
    assert (refused.returncode, refused.stderr) == (1, "error: --format savedmodel needs TensorFlow (Keras exports "
                                                       "savedmodel through it), which is not installed: pip install "
                                                       "tensorflow; --format keras needs no TensorFlow\n")
    assert not (tmp_path / "saved").exists()


def _broken_tensorflow(tmp_path, error):
    """An environment in which TensorFlow is installed but its import raises `error`, as a broken install's does."""
    package = tmp_path / "broken" / "tensorflow"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"raise {error}\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(package.parent), os.environ.get("PYTHONPATH")]))}


@pytest.mark.needs("jax")
@pytest.mark.parametrize("error, shown", [
    ("ImportError('libcudart.so.12: cannot open shared object file')",
     "ImportError: libcudart.so.12: cannot open shared object file"),
    ("TypeError('Descriptors cannot be created directly.\\nmore')", "TypeError: Descriptors cannot be created directly.")])
def test_a_broken_tensorflow_as_the_backend_is_one_line_that_says_how_to_fix_it(tmp_path, error, shown):
    result = run_cli_process("build", spec_path("lenet5"),
                             env={**_broken_tensorflow(tmp_path, error), "KERAS_BACKEND": "tensorflow"})
    assert (result.returncode, result.stderr) == (1, f"error: Keras's backend is TensorFlow, which is installed but "
                                                     f"does not import ({shown}): reinstall it: pip install "
                                                     "--force-reinstall tensorflow; or use another installed "
                                                     "backend: --backend jax\n")


@pytest.mark.needs("jax")
def test_tensorflow_chosen_as_the_backend_but_not_installed_is_one_line(tmp_path):
    script = tmp_path / "no_tf.py"
    script.write_text(WITHOUT_TENSORFLOW)
    result = subprocess.run([sys.executable, str(script), "", "build", spec_path("lenet5")], capture_output=True,
                            text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": ROOT,
                                                          "KERAS_BACKEND": "tensorflow"}, timeout=120)
    assert (result.returncode, result.stderr) == (1, "error: Keras's backend is TensorFlow, which is not installed: "
                                                     "pip install tensorflow; or use another installed backend: "
                                                     "--backend jax\n")


@pytest.mark.needs("jax")
@pytest.mark.slow
def test_a_broken_tensorflow_leaves_jax_training_without_tf_data(tmp_path):
    """TensorFlow installed but broken, Keras on JAX: said once, then the NumPy data path
    trains; the exports that need TensorFlow say it is broken, and write nothing."""
    env = {**_broken_tensorflow(tmp_path, "ImportError('DLL load failed')"), "KERAS_BACKEND": "jax"}
    trained = run_cli_process("train", spec_path("lenet5"), "--data", "digits", "--epochs", "1",
                              "--out", tmp_path / "run", env=env, timeout=600)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert trained.stderr == ("warning: TensorFlow is installed but does not import (ImportError: DLL load failed): "
                              "reinstall it: pip install --force-reinstall tensorflow; meanwhile the data is fed "
                              "without tf.data\n")
    assert trained.stdout.startswith("Training on jax backend devices\n")
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test_accuracy"] > 0.5
    refused = run_cli_process("export", tmp_path / "run" / "model.keras", "--format", "savedmodel",
                              "-o", tmp_path / "saved", env=env)
    assert (refused.returncode, refused.stderr) == (1, "error: --format savedmodel needs TensorFlow (Keras exports "
                                                       "savedmodel through it), which is installed but does not import "
                                                       "(ImportError: DLL load failed): reinstall it: pip install "
                                                       "--force-reinstall tensorflow; --format keras needs no "
                                                       "TensorFlow\n")
    assert not (tmp_path / "saved").exists()
