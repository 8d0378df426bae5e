"""The size budget: absurd sizes are refused by `validate` (no Keras) at
their line; the bound it uses never exceeds a real model's weights."""

import pytest

import builder
from builder.spec import budget
from conftest import shipped_specs, spec_path


@pytest.mark.parametrize("text, expected", [
    ("name: t\ninput: [4]\nlayers:\n  - dense: 8\n  - dense: 2000000000\noutput: none\n",
     "<spec>:5:5: error: layers[1].dense: 'dense_1' makes at least 2,000,000,000 values per example, more than the "
     "limit of 1,000,000,000; --max-activation N raises it"),
    ("name: t\ninput: [100000, 100000]\nlayers: [flatten, dense: 10]\noutput: none\n",
     "<spec>:2:1: error: input.shape: the input 'input' holds 10,000,000,000 values per example, more than the "
     "limit of 1,000,000,000; --max-activation N raises it"),
    ("name: t\ninput: {shape: [8], dtype: int32}\nlayers:\n  - embedding: {input_dim: 1000000, output_dim: 2000}\n"
     "output: none\n",
     "<spec>:4:5: error: layers[0].embedding: the model has at least 2,000,000,000 weights up to 'embedding' "
     "(2,000,000,000 of them there), more than the limit of 1,000,000,000; --max-params N raises it"),
    ("name: t\ninput: [100]\nlayers:\n  - dense: 100000\noutput: {units: 100000}\n",     # the head counts too
     "<spec>:5:1: error: output: the model has at least 10,010,000,000 weights up to 'predictions' "
     "(10,000,000,000 of them there), more than the limit of 1,000,000,000; --max-params N raises it"),
    ("name: t\ninput: [100]\nlayers:\n  - dense: 100000\noutputs:\n  a: 10\n  b: {units: 100000}\n",
     "<spec>:7:3: error: outputs.b: the model has at least 10,011,000,000 weights up to 'b' "
     "(10,000,000,000 of them there), more than the limit of 1,000,000,000; --max-params N raises it"),
])
def test_absurd_sizes_are_refused_at_validate(text, expected):
    with pytest.raises(builder.SpecError) as info:
        builder.validate(text=text)
    assert info.value.render() == expected


def test_a_transformer_stack_is_counted_from_its_width():
    """LLaMA 2 7B's decoder layers hold 202,375,168 weights each, known from the embedding's width
    before any is made: refused at validate, not a 27 GB allocation."""
    with pytest.raises(builder.SpecError) as info:
        builder.validate(spec_path("llama"), scale="7b")
    assert info.value.render().endswith(
        "error: layers[1].transformer_decoder: the model has at least 1,142,947,840 weights up to "
        "'transformer_layer_4' (202,375,168 of them there), more than the limit of 1,000,000,000; "
        "--max-params N raises it")
    graph = builder.validate(spec_path("llama"), scale="7b", limits={"max_params": 10_000_000_000})
    least = sum(budget.node_weights(graph, node) for node in graph.nodes)
    assert least == 6_738_415_616 - 65 * 4096 - 32000 * 4096   # all but the norms' scales and the untied reverse


def test_the_limits_can_be_raised():
    text = "name: t\ninput: [4]\nlayers: [dense: 8, dense: 1200000000]\noutput: none\n"
    with pytest.raises(builder.SpecError, match="--max-params N raises it"):
        builder.validate(text=text, limits={"max_activation": 2_000_000_000})
    builder.validate(text=text, limits={"max_params": 20_000_000_000, "max_activation": 2_000_000_000})


def test_validate_refuses_with_the_line_and_the_cli_flag_raises_it(cli, write_spec):
    path = write_spec("name: t\ninput: [4]\nlayers: [dense: 8, dense: 1200000000]\noutput: none\n")
    code, _, err = cli("validate", path)
    assert code == 1 and err.startswith(f"{path}:3:") and "--max-activation N raises it" in err
    code, out, err = cli("validate", path, "--max-activation", "2000000000", "--max-params", "20000000000")
    assert (code, out, err) == (0, f"{path}: ok\n", "")


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow if n in ("vit_b16", "gpt2", "transformer_seq2seq", "resnet101", "densenet",
                                                    "inception_v3") else ())
    for n in shipped_specs() if n not in ("vgg16", "bert_base", "resnet152", "llama", "bart")])
def test_the_bound_never_exceeds_a_real_model(name):
    graph = builder.validate(spec_path(name))
    least = sum(budget.node_weights(graph, node) for node in [*graph.nodes, *graph.heads])
    assert 0 < least <= builder.build_model(graph).count_params()
