"""The package as users get it: `python -m builder` and `keras-builder` with
their names and versions, shipped specs by name, and a wheel that carries the
specs, their block libraries and the JSON Schema."""

import glob
import json
import os
import subprocess
import sys
import zipfile

import pytest

import builder
from builder.spec import shipped
from conftest import ROOT, SPECS, run_cli_process


def test_python_dash_m_names_itself_and_its_version():
    result = subprocess.run([sys.executable, "-m", "builder", "--version"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith(f"python -m builder {builder.__version__} (keras-spec-builder; Keras ")
    result = subprocess.run([sys.executable, "-m", "builder"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith("usage: python -m builder [-h] [--version]")
    assert run_cli_process("--version").stdout.startswith(f"cli.py {builder.__version__} ")


def test_shipped_specs_by_name(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                  # not where the specs are
    assert shipped.names() == sorted(f[:-5] for f in os.listdir(SPECS) if f.endswith(".yaml"))
    code, out, _ = cli("validate", "lenet5", "resnet50.yaml")
    assert (code, out) == (0, "lenet5: ok\nresnet50.yaml: ok\n")
    code, out, _ = cli("build", "lenet5", "--json")
    assert code == 0 and json.loads(out.splitlines()[-1])["params"] == 61706
    code, _, err = cli("validate", "resnet5")
    assert code == 1
    assert err.startswith("resnet5:1:1: error: cannot read the spec: no such file, nor a shipped spec of that name. "
                          "Did you mean 'resnet50'? Shipped: alexnet, ")
    assert builder.build("lenet5").count_params() == 61706
    (tmp_path / "lenet5.yaml").write_text("name: mine\ninput: [4]\nlayers: [dense: 2]\noutput: {units: 3}\n")
    code, out, _ = cli("build", "lenet5.yaml", "--json")     # a file of that name comes first
    assert json.loads(out.splitlines()[-1])["name"] == "mine"


@pytest.mark.slow
def test_the_wheel_carries_the_zoo_and_the_schema(tmp_path):
    """Built from the checkout and installed into a fresh environment (its
    dependencies from this one): `keras-builder build resnet50 --json` from
    anywhere, and the schema beside the specs."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-q", "-w", str(tmp_path / "dist")],
                   check=True, timeout=600, cwd=tmp_path)
    (wheel,) = glob.glob(str(tmp_path / "dist" / "*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert {"builder/zoo/resnet50.yaml", "builder/zoo/blocks/resnet.yaml", "builder/zoo/spec.schema.json",
            "builder/py.typed", "builder/catalogue/signatures.json", "builder/view/static/index.html",
            "builder/view/static/app.js", "builder/view/static/vendor/dagre.min.js",
            "builder/view/static/vendor/uPlot.iife.min.js", "builder/view/static/vendor/VENDORED.json"} <= set(names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(tmp_path / "env")], check=True)
    python = str(tmp_path / "env" / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "-q", wheel], check=True, timeout=300)
    where = subprocess.run([python, "-c", "import builder; print(builder.__file__)"], capture_output=True, text=True,
                           cwd=tmp_path, check=True).stdout.strip()
    assert where.startswith(str(tmp_path / "env"))
    result = subprocess.run([str(tmp_path / "env" / "bin" / "keras-builder"), "build", "resnet50", "--json"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1])["params"] == 25_636_712
    schema = subprocess.run([str(tmp_path / "env" / "bin" / "keras-builder"), "schema"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120).stdout
    installed = os.path.join(os.path.dirname(where), "zoo", "spec.schema.json")
    assert open(installed).read() == schema


def test_a_layer_newer_than_the_installed_keras_is_named_at_validate(cli, tmp_path, monkeypatch):
    """The layer table is generated from one Keras; under an older one, a type
    that Keras lacks is a located error at `validate` (read from Keras's API
    file, nothing imported), not a failure at build time."""
    from builder.catalogue import signatures
    version, exported = signatures.installed_keras()
    assert exported is not None and "RMSNormalization" in exported and version == signatures.table()["keras_version"]
    monkeypatch.setattr(signatures, "installed_keras", lambda: ("3.0.5", exported - {"RMSNormalization"}))
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\ninput: [8]\nlayers:\n  - dense: 4\n  - rms_normalization: {}\noutput: {units: 2}\n")
    code, _, err = cli("validate", spec)
    assert (code, err) == (1, f"{spec}:5:5: error: layers[1].rms_normalization: rms_normalization needs a newer Keras: "
                              f"keras.layers.RMSNormalization is not in the installed Keras 3.0.5 (this package's "
                              f"layer table is Keras {version}'s): pip install -U \"keras>={version}\"\n")
    spec.write_text("name: s\ninput: [8]\nlayers: [dense: 4]\noutput: {units: 2}\n")
    assert cli("validate", spec)[0] == 0                  # what the older Keras has is fine


def test_an_argument_newer_than_the_installed_keras_is_named_at_validate(cli, tmp_path, monkeypatch):
    """Arguments too: each keras.layers class's constructor, read from the
    installed Keras's source files (nothing imported), against the table."""
    from builder.catalogue import registry, signatures
    for name, layer_type in registry.LAYERS.items():       # the source files say what the table says
        if layer_type.module == "keras.layers" and layer_type.plugin_class is None:
            assert set(layer_type.constructor_args) <= signatures.installed_arguments(layer_type.cls_name), name
    version, exported = signatures.installed_keras()
    monkeypatch.setattr(signatures, "installed_keras", lambda: ("3.0.5", exported))
    monkeypatch.setattr(signatures, "installed_arguments",
                        lambda cls: frozenset(registry.get("conv2d").constructor_args) - {"groups"})
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\ninput: [8, 8, 4]\nlayers:\n  - conv2d: {filters: 4, kernel_size: 3,\n"
                    "              groups: 2}\noutput: {units: 2}\n")
    code, _, err = cli("validate", spec)
    assert (code, err) == (1, f"{spec}:5:15: error: layers[0].conv2d.groups: 'groups' needs a newer Keras: "
                              f"keras.layers.Conv2D of the installed Keras 3.0.5 does not take it (this package's "
                              f"layer table is Keras {version}'s): pip install -U \"keras>={version}\"\n")
    spec.write_text("name: s\ninput: [8, 8, 4]\nlayers:\n  - conv2d: {filters: 4, kernel_size: 3}\n"
                    "output: {units: 2}\n")
    assert cli("validate", spec)[0] == 0
