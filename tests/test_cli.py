"""The commands as a user runs them."""

import json
import os
import sys

import pytest

from conftest import ROOT, run_cli_process, spec_path


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def test_build_json_for_lenet5(cli):
    code, out, err = cli("build", spec_path("lenet5"), "--json")
    assert code == 0
    facts = last_json(out)
    # MACs by hand: c1 28*28*6 outputs x 5*5*1, c3 10*10*16 x 5*5*6, c5 120 x 5*5*16, f6 120*84, output 84*10
    macs = {"c1": 28 * 28 * 6 * 25, "c3": 10 * 10 * 16 * 150, "c5": 120 * 400, "f6": 120 * 84, "predictions": 840}
    assert facts == {"name": "lenet5", "params": 61706, "trainable_params": 61706, "layers": 8,
                     "input_shape": [None, 32, 32, 1], "output_shape": [None, 10],
                     "macs": sum(macs.values()), "macs_by_layer": macs}
    assert "Total params: 61,706" in out          # the Keras summary comes first


def test_set_overrides_a_value_before_validation(cli):
    code, out, _ = cli("build", spec_path("lenet5"), "--json", "--set", "layers.0.conv2d.filters=12",
                       "--set", "output.units=3")
    assert code == 0
    facts = last_json(out)
    assert facts["output_shape"] == [None, 3]
    # c1: 12 * (5*5*1) + 12 = 312; c3 sees 12 channels: 16 * (5*5*12) + 16 = 4816
    assert facts["params"] == 61706 - 156 + 312 - 2416 + 4816 - 850 + 255


def test_set_output_none_gives_a_headless_model(cli):
    code, out, _ = cli("build", spec_path("lenet5"), "--json", "--set", "output=none")
    assert last_json(out)["output_shape"] == [None, 84]


def test_save_and_reload_in_safe_mode(cli, tmp_path):
    import keras
    import numpy as np
    target = tmp_path / "lenet.keras"
    code, out, err = cli("build", spec_path("lenet5"), "-o", target, "--set", "defaults.activation=prelu")
    assert code == 0, err
    assert f"saved {target}" in out
    assert os.listdir(tmp_path) == ["lenet.keras"]          # no temporary left beside it
    reloaded = keras.saving.load_model(target, safe_mode=True)
    assert reloaded.count_params() == 68214                 # 61,706 + the PReLU slopes
    assert reloaded.predict(np.zeros((1, 32, 32, 1)), verbose=0).shape == (1, 10)


def test_saved_model_with_maxout_and_lrn_predicts_the_same(tmp_path, write_spec):
    import keras
    import numpy as np

    import builder
    path = write_spec("name: m\ninput: [12, 12, 3]\nlayers:\n"
                      "  - conv2d: {filters: 8, kernel_size: 3, activation: {maxout: 2}}\n"
                      "  - lrn: {size: 3}\n  - flatten\noutput: {units: 4}\n")
    model = builder.build(path)
    target = tmp_path / "m.keras"
    model.save(target)
    reloaded = keras.saving.load_model(target, safe_mode=True)
    x = np.random.default_rng(0).standard_normal((3, 12, 12, 3)).astype("float32")
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert {type(l).__name__ for l in reloaded.layers} >= {"Maxout", "LocalResponseNormalization"}


def test_failed_build_leaves_no_file(cli, write_spec, tmp_path):
    path = write_spec("name: t\ninput: [4, 4, 1]\nlayers:\n  - conv2d: {filters: 4, kernel_size: 9}\n"
                      "output: {units: 2}\n")
    target = tmp_path / "out" / "t.keras"
    code, _, err = cli("build", path, "-o", target)
    assert code == 1 and ":4:5: error:" in err
    assert not target.exists()
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


def test_output_must_be_a_keras_file(cli):
    code, _, err = cli("build", spec_path("lenet5"), "-o", "model.h5")
    assert code == 1
    assert err == "error: -o takes a .keras file name, got 'model.h5'\n"


def test_validate_reports_every_spec(cli, write_spec):
    bad = write_spec("name: t\ninput: [4]\nlayers: [dense]\noutput: none\n")
    code, out, err = cli("validate", spec_path("lenet5"), bad)
    assert code == 1
    assert out == f"{spec_path('lenet5')}: ok\n"
    assert err.startswith(f"{bad}:3:10: error: layers[0].dense: dense needs 'units'")


@pytest.mark.parametrize("args", [
    ["validate", spec_path("alexnet"), spec_path("googlenet"), spec_path("resnet50")], ["layers"], ["layers", "conv2d"],
    ["schema"], ["--help"], ["build", "--help"], ["--version"]], ids=lambda a: " ".join(a[:2]).replace("/", "_")[:30])
def test_commands_that_need_no_backend_import_none(args):
    """validate, layers, schema, --help and --version import neither Keras nor any backend (nor NumPy)."""
    code = ("import sys; from builder.cli import main\n"
            f"try:\n    rc = main({args!r})\nexcept SystemExit as exit:\n    rc = exit.code\n"
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'jax', 'torch', 'numpy'}); "
            "print(rc, bad)")
    import subprocess
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip().splitlines()[-1] == "0 []", result.stderr


@pytest.mark.needs("jax")
def test_a_build_on_jax_imports_no_tensorflow():
    """Keras's serializer imports TensorFlow wherever it is installed; the
    builder's MACs never call it, so a JAX build stays free of it (seconds, and hundreds of MiB)."""
    code = ("import sys; from builder.cli import main; rc = main(['--backend', 'jax', 'build', 'lenet5', '--json']); "
            "print(rc, sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras_hub', 'jax'}))")
    import subprocess
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}, timeout=300)
    assert result.stdout.strip().splitlines()[-1] == "0 ['jax']", result.stderr[-2000:]


@pytest.mark.slow
def test_the_command_line_imports_keras_uncollected_and_a_library_caller_is_left_alone():
    """console() (cli.py, python -m builder, keras-builder) imports Keras with
    the garbage collector paused and freezes what it made; a process that only
    imports builder keeps its collector as it was; a failed import still turns
    the collector back on."""
    import subprocess
    code = ("import gc, os, sys; from builder import backend, cli\n"
            "if sys.argv[1] == 'console':\n"
            "    main = cli.main  # noted before console's own freeze at the exit:\n"
            "    cli.main = lambda **kw: (main(**kw), print(gc.get_freeze_count()))[0]\n"
            "    sys.argv = ['cli.py', 'build', 'lenet5', '--json']; rc = cli.console()\n"
            "elif sys.argv[1] == 'library':\n"
            "    import builder; rc = len(builder.build('lenet5').layers) and 0\n"
            "else:\n"
            "    os.environ['KERAS_BACKEND'] = 'no_such_backend'; backend.quick_imports()\n"
            "    try:\n        backend.keras()\n    except Exception:\n        rc = 0\n"
            "print(rc, gc.isenabled(), gc.get_freeze_count())")
    counts = {}
    for mode in ("console", "library", "failed"):
        result = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, cwd=ROOT,
                                timeout=300)
        lines = result.stdout.strip().splitlines()
        rc, enabled, counts[mode] = lines[-1].split()
        assert (rc, enabled) == ("0", "True"), (mode, result.stderr[-2000:])
        if mode == "console":
            counts[mode] = lines[-2]                      # after the build, before the exit
    assert int(counts["console"]) > 100_000 and counts["library"] == "0"


def test_build_keeps_tensorflow_start_up_noise_off_the_terminal():
    result = run_cli_process("build", spec_path("lenet5"), "--json")
    assert result.returncode == 0
    assert result.stderr == ""
    assert last_json(result.stdout)["params"] == 61706


def test_layers_command_lists_types_and_arguments(cli):
    code, out, _ = cli("layers")
    from builder.catalogue import registry
    listed = {line.split()[0] for line in out.splitlines() if line and not line.startswith("Activations")}
    assert set(registry.LAYERS) <= listed
    code, out, _ = cli("layers", "conv2d")
    assert code == 0
    assert "kernel_size: a positive integer or a list of 1 to 3 positive integers; required" in out
    assert "short form: `- conv2d: VALUE` sets filters" in out


def test_help_names_every_command():
    from builder.cli import COMMANDS
    result = run_cli_process("--help")
    for command in COMMANDS:
        assert command in result.stdout


def test_bad_flags_are_usage_errors_not_spec_errors():
    result = run_cli_process("train", spec_path("lenet5"), "--data", "digits", "--epochs", "0")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == ("cli.py train: error: argument --epochs: expected a positive "
                                              "integer, got 0")
    result = run_cli_process("export", spec_path("lenet5"), "--format", "h5", "-o", "x.h5")
    assert result.returncode == 2 and "invalid choice: 'h5'" in result.stderr


def test_defaults_that_remove_the_output_bias_are_a_warning(cli, write_spec):
    """`defaults: {use_bias: false}` still reaches the output layer (specs keep
    their parameter counts), but says so at the default's line; saying what
    the output wants silences it."""
    import warnings

    import builder
    from builder.errors import SpecWarning
    text = "name: t\ninput: [8]\ndefaults: {use_bias: false}\nlayers: [dense: 4]\noutput: {units: 3}\n"
    path = write_spec(text)
    code, out, err = cli("validate", path)
    assert (code, out) == (0, f"{path}: ok\n")
    assert err == (f"{path}:3:12: warning: defaults.use_bias: false applies to the output layer too, which then has no "
                   "bias (3 parameters fewer than a classifier's usual head); write `output: {use_bias: true}` to keep "
                   "its bias, or `output: {use_bias: false}` to say that none is meant\n")
    with pytest.warns(SpecWarning, match="applies to the output layer too"):
        assert builder.build(text=text).count_params() == 8 * 4 + 4 * 3
    for said in ("true", "false"):
        quiet = write_spec(text.replace("{units: 3}", f"{{units: 3, use_bias: {said}}}"), f"{said}.yaml")
        assert cli("validate", quiet)[2] == ""
        with warnings.catch_warnings():
            warnings.simplefilter("error", SpecWarning)
            builder.validate(quiet)


def test_library_notices_stay_off_the_terminal_unless_debug(tmp_path):
    """TensorFlow's tf.function retracing notice (and tf2onnx's freezing chatter, on the same loggers) once leaked
    from a search's third trial; a plug-in that retraces on import shows it happens through the real command."""
    (tmp_path / "retrace_plugin.py").write_text(
        "import tensorflow as tf\n\n\n@tf.function\ndef add(x):\n    return x + 1\n\n\n"
        "for i in range(8):\n    add(i)            # a Python number per call: a new trace each time\n")
    env = {"PYTHONPATH": str(tmp_path)}
    quiet = run_cli_process("--plugin", "retrace_plugin", "validate", spec_path("lenet5"), env=env)
    assert (quiet.returncode, quiet.stderr) == (0, "")
    shown = run_cli_process("--debug", "--plugin", "retrace_plugin", "validate", spec_path("lenet5"), env=env)
    assert shown.returncode == 0 and "triggered tf.function retracing" in shown.stderr
