"""Scales: one spec, several sizes, chosen with `scale:`, `--scale` or `scale=`."""

import pytest

import builder
from conftest import spec_path

SCALED = """name: net
input: [8]
layers:
  - dense: {units: 4, name: hidden}
  - dense: {units: 4, name: wide, repeat: 1}
output: {units: 2}
scales:
  small: {}
  big: {name: net_big, layers.hidden.units: 16, layers.wide.repeat: 3}
"""


def units(spec):
    graph = builder.validate(text=spec) if isinstance(spec, str) else spec
    return [node.args.get("units") for node in graph.nodes]


def test_a_scale_sets_its_values_by_entry_name():
    assert units(SCALED) == [4, 4]                                       # no scale chosen: as written
    graph = builder.validate(text=SCALED, scale="big")
    assert graph.spec.name == "net_big" and units(graph) == [16, 4, 4, 4]
    assert units(builder.validate(text=SCALED + "scale: big\n")) == [16, 4, 4, 4]
    assert units(builder.validate(text=SCALED + "scale: big\n", scale="small")) == [4, 4]   # the caller's wins


def test_set_applies_after_the_scale():
    graph = builder.validate(text=SCALED, overrides={"scale": "big", "layers.hidden.units": 7})
    assert units(graph) == [7, 4, 4, 4]


def test_cli_scale_flag_on_build_and_validate(cli):
    code, out, _ = cli("build", spec_path("densenet"), "--scale", "169", "--json")
    assert code == 0 and '"params": 14307880' in out.splitlines()[-1] and '"name": "densenet169"' in out
    assert cli("validate", spec_path("densenet"), "--scale", "201")[0] == 0


@pytest.mark.parametrize("text, line, message", [
    (SCALED + "scale: huge\n", 10, "scale: unknown scale 'huge'. Known: big, small."),
    (SCALED.split("scales:")[0] + "scale: big\n", 7, "scale: the scale 'big' is chosen, but the spec has no "
                                                     "`scales:` section"),
    (SCALED.replace("  small: {}", "  small: {}\n  tiny: [1]") + "scale: tiny\n", 9,
     "scales.tiny: expected a mapping of dotted paths to values, as `set:` takes, got [1] (a list)"),
    (SCALED.replace("big: {name: net_big,", "big: {layers.nothing.units: 3, name: net_big,") + "scale: big\n", 9,
     "scales.big.layers.nothing.units: cannot set 'layers.nothing.units': 'nothing' is not an index"),
    (SCALED.replace("layers.hidden.units: 16", "layers.hidden.units: -16") + "scale: big\n", 9,
     "layers[0].dense.units: expected"),
])
def test_scale_mistakes_are_located(text, line, message):
    with pytest.raises(builder.SpecError) as caught:
        builder.validate(text=text)
    err = caught.value
    assert err.line == line, err.render()
    assert f"{err.path_text()}: {err.message}".startswith(message), err.render()


def test_one_line_variants_extend_the_scaled_spec(tmp_path):
    (tmp_path / "densenet.yaml").write_text(open(spec_path("densenet")).read())
    (tmp_path / "densenet169.yaml").write_text("extends: densenet.yaml\nscale: 169\n")
    graph = builder.validate(str(tmp_path / "densenet169.yaml"))
    assert graph.spec.name == "densenet169"
    assert len([n for n in graph.nodes if n.name.startswith("conv4_block") and n.name.endswith("_concat")]) == 32


def test_a_resolved_spec_keeps_the_scale_and_the_sets_after_it():
    from builder.spec.resolved import resolved_yaml
    spec = builder.load_spec(text=SCALED, overrides={"scale": "big", "layers.wide.repeat": 2})
    again = builder.validate(text=resolved_yaml(spec))
    assert again.spec.name == "net_big" and units(again) == [16, 4, 4]


def test_spec_params_are_formulas_that_scales_change():
    spec = """name: net
input: [8]
params: {width: 1.0, depth: 1.0, blocks: ceil(2 * $depth) + 1}
layers:
  - dense: {units: make_divisible(32 * $width), repeat: ceil(2 * $depth), name: d}
  - dropout: {rate: 0.1 * $blocks}
output: {units: 2}
scales:
  wide: {params.width: 1.5, params.depth: 1.6}
"""
    graph = builder.validate(text=spec, scale="wide")
    assert [n.args.get("units") for n in graph.nodes] == [48, 48, 48, 48, None]
    assert graph.nodes[-1].args["rate"] == pytest.approx(0.5)
    assert [n.args.get("units") for n in builder.validate(text=spec).nodes] == [32, 32, None]


def test_a_malformed_path_in_a_scale_is_located_at_it():
    with pytest.raises(builder.SpecError) as caught:
        builder.validate(text=SCALED.replace("layers.wide.repeat: 3", "layers..repeat: 3"), scale="big")
    assert caught.value.line == 9 and "a segment is empty" in caught.value.message
