"""Plug-in layer types reach the command line: `--plugin MODULE`, and packages
installed with an entry point in `keras_spec_builder.layers`; their argument
types come from their own signatures. Each case runs in a fresh process, as a
user would (a registration lasts for the process)."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT

PLUGIN = '''
import keras
import builder


class Scale(keras.layers.Layer):
    """Multiplies its input by a constant factor."""

    def __init__(self, factor: float = 2.0, padding: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.factor, self.padding = factor, padding

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "padding": self.padding}


builder.register_layer(Scale)
'''
SPEC = "name: p\ninput: [8]\nlayers:\n  - scale: {factor: 3, padding: 2}\n  - dense: 4\noutput: {units: 2}\n"


def run(folder, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), ROOT]), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, os.path.join(ROOT, "cli.py"), *map(str, args)], capture_output=True,
                          text=True, cwd=folder, env=env, timeout=300)


@pytest.mark.slow
def test_a_plugin_module_named_on_the_command_line(tmp_path):
    (tmp_path / "myplug.py").write_text(PLUGIN)
    (tmp_path / "p.yaml").write_text(SPEC)
    assert run(tmp_path, "--plugin", "myplug", "validate", "p.yaml").stdout == "p.yaml: ok\n"
    built = run(tmp_path, "--plugin", "myplug", "build", "p.yaml", "--json")
    assert built.returncode == 0 and built.stderr == "", built.stderr[-2000:]
    assert '"params": 46' in built.stdout.splitlines()[-1]             # dense 8*4+4, output 4*2+2
    without = run(tmp_path, "validate", "p.yaml")
    assert without.returncode == 1 and "p.yaml:4:5: error: layers[0].scale: unknown layer type 'scale'" in without.stderr
    listed = run(tmp_path, "--plugin", "myplug", "layers").stdout
    assert any(line.startswith("scale ") and line.endswith("[plug-in: myplug]") for line in listed.splitlines())
    # its own signature types its arguments: `factor: float`, and `padding: int` (not the padding mode of conv layers)
    described = run(tmp_path, "--plugin", "myplug", "layers", "scale").stdout
    assert "    factor: a number; default 2.0\n    padding: an integer; default 0\n" in described
    (tmp_path / "bad.yaml").write_text(SPEC.replace("factor: 3", "factor: big"))
    bad = run(tmp_path, "--plugin", "myplug", "validate", "bad.yaml")
    assert (bad.returncode, bad.stderr) == (1, "bad.yaml:4:13: error: layers[0].scale.factor: expected a number, got "
                                               "'big' (a string)\n")
    missing = run(tmp_path, "--plugin", "nosuch", "validate", "p.yaml")
    assert (missing.returncode, missing.stderr) == (1, "error: --plugin nosuch: no module named 'nosuch' (a plug-in "
                                                       "is an importable module: on PYTHONPATH, or installed)\n")
    (tmp_path / "broken.py").write_text("raise RuntimeError('half-written')\n")
    broken = run(tmp_path, "--plugin", "broken", "validate", "p.yaml")
    assert (broken.returncode, broken.stderr) == (1, "error: --plugin broken: importing it failed: RuntimeError: "
                                                     "half-written\n")


@pytest.mark.slow
def test_an_installed_plugin_loads_by_itself(tmp_path):
    """A package's entry point in the group keras_spec_builder.layers: no flag needed."""
    (tmp_path / "myplug.py").write_text(PLUGIN)
    (tmp_path / "p.yaml").write_text(SPEC)
    info = tmp_path / "myplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: myplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[keras_spec_builder.layers]\nscale = myplug\n")
    assert run(tmp_path, "validate", "p.yaml").stdout == "p.yaml: ok\n"
    assert "[plug-in: myplug]" in run(tmp_path, "layers").stdout
    import json
    code = ("import json, builder; print(json.dumps(builder.describe(builder.build('p.yaml'))['params']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), ROOT]),
                                 "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert json.loads(result.stdout.splitlines()[-1]) == 46, result.stderr[-2000:]


def test_global_flags_go_before_or_after_the_command(tmp_path):
    """`cli.py validate p.yaml --plugin mine` works as `cli.py --plugin mine validate p.yaml` does; so do
    --backend and --debug, and a plug-in named on each side loads both."""
    (tmp_path / "myplug.py").write_text(PLUGIN)
    (tmp_path / "other.py").write_text(PLUGIN.replace("Scale", "Twice").replace("factor: float = 2.0", "factor=2"))
    (tmp_path / "p.yaml").write_text(SPEC)
    after = run(tmp_path, "validate", "p.yaml", "--plugin", "myplug")
    assert (after.returncode, after.stdout, after.stderr) == (0, "p.yaml: ok\n", "")
    both = run(tmp_path, "--plugin", "other", "layers", "--plugin", "myplug", "--backend", "jax").stdout.splitlines()
    assert [line.split()[0] for line in both if "[plug-in:" in line] == ["scale", "twice"]
    debug = run(tmp_path, "validate", "p.yaml", "--debug", "--plugin", "nosuch")
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
