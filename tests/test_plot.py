"""Diagrams of specs (Keras's model_to_dot through pydot and Graphviz)."""

import shutil
import sys
import types

import pytest

from conftest import spec_path

# Graphviz is a system program, not a Python package: CI installs it (.ci/run);
# elsewhere these tests say they were skipped rather than fail.
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


@needs_dot
def test_plot_googlenet_png(cli, tmp_path):
    target = tmp_path / "g.png"
    code, out, err = cli("plot", spec_path("googlenet"), "-o", target)
    assert code == 0, err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_dot
def test_plot_svg_where_ipython_is_installed(cli, tmp_path, monkeypatch):
    """Keras's plot_model returns an IPython Image where IPython is installed, and
    IPython's Image refuses SVG: a Jupyter user's `plot -o model.svg` must not fail."""
    display = types.ModuleType("IPython.display")

    def image(filename=None, **_):
        if str(filename).endswith(".svg"):
            raise ValueError("Cannot embed the 'svg' image format")       # as IPython's Image does
    display.Image = image
    ipython = types.ModuleType("IPython")
    ipython.display = display
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    target = tmp_path / "lenet5.svg"
    code, out, err = cli("plot", spec_path("lenet5"), "-o", target)
    assert (code, out, err) == (0, f"wrote {target}\n", "")
    svg = target.read_text()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    assert "conv2d" in svg.lower() and "(None, 10)" in svg


@needs_dot
def test_collapsed_blocks_are_one_node_each(cli, tmp_path):
    target = tmp_path / "g.svg"
    code, _, err = cli("plot", spec_path("googlenet"), "-o", target, "--collapse-blocks")
    assert code == 0, err
    svg = target.read_text()
    assert svg.count("(inception block)") == 9
    assert "inception_3a_3x3_reduce" not in svg
    assert "(None, 7, 7, 1024)" in svg


def test_plot_needs_a_picture_file(cli, tmp_path):
    code, _, err = cli("plot", spec_path("lenet5"), "-o", tmp_path / "g.pdf")
    assert code == 1
    assert err == f"error: -o takes a .png or .svg file, got '{tmp_path / 'g.pdf'}'\n"
