"""MACs from shapes, cross-checked against counts published with the models."""

import pytest

import builder
from builder.keras import describe
from conftest import spec_path

# Multiply-adds per image as the papers give them (and as tools such as
# torchvision's model tables report them).
PUBLISHED = {
    "resnet50": (3.8e9, 0.03),      # He et al. 2016, table 1: 3.8 x 10^9 FLOPs (multiply-adds)
    "googlenet": (1.5e9, 0.06),     # Szegedy et al. 2015: "1.5 billion multiply-adds"
    "vgg16": (15.5e9, 0.01),        # 15.5 G multiply-adds (torchvision's table: 15.47 GFLOPS)
    "alexnet": (0.72e9, 0.02),      # two-GPU AlexNet with grouped convolutions
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_totals_match_published_counts(name):
    expected, tolerance = PUBLISHED[name]
    total = sum(m for _, _, m in describe.layer_macs(builder.build(spec_path(name))))
    assert abs(total - expected) / expected <= tolerance, f"{total:,}"


def test_grouped_convolution_halves_the_work():
    plain = builder.build(text="name: a\ninput: [8, 8, 4]\nlayers: [{conv2d: {filters: 8, kernel_size: 3}}]\n"
                               "output: none\n")
    grouped = builder.build(text="name: b\ninput: [8, 8, 4]\nlayers: [{conv2d: {filters: 8, kernel_size: 3, "
                                 "groups: 2}}]\noutput: none\n")
    assert describe.layer_macs(plain)[0][2] == 6 * 6 * 8 * 9 * 4
    assert describe.layer_macs(grouped)[0][2] == 6 * 6 * 8 * 9 * 4 // 2


def test_recurrent_and_attention_counts():
    model = builder.build(text="name: r\ninput: [10, 3]\nlayers:\n  - lstm: {units: 4, name: l}\n"
                               "  - multi_head_attention: {num_heads: 2, key_dim: 5, name: a}\noutput: none\n")
    rows = {name: m for name, _, m in describe.layer_macs(model)}
    assert rows["l"] == 10 * 4 * (3 + 4) * 4
    # q, k, v projections 3 x 10*4*2*5, scores and weighted sum 2*10*10*(5+5), output 10*2*5*4
    assert rows["a"] == 3 * 10 * 4 * 10 + 2 * 10 * 10 * 10 + 10 * 10 * 4


@pytest.mark.parametrize("entry, shape, expected", [
    # 4 steps x 4 gates x 8x8 positions x 3x3 kernel x (2 inputs + 4 state channels) x 4 filters
    ("conv_lstm2d: {filters: 4, kernel_size: 3, padding: same}", [4, 8, 8, 2], 4 * 4 * 64 * 9 * (2 + 4) * 4),
    # query projection 6x8 -> 4 heads x 4; key and value 6x8 -> 2 heads x 4 each; scores and mix; output
    ("grouped_query_attention: {head_dim: 4, num_query_heads: 4, num_key_value_heads: 2}", [6, 8],
     6 * 8 * 16 + 6 * 16 * 8 + 2 * 4 * 6 * 6 * 4 + 6 * 16 * 8),
    ('einsum_dense: {equation: "abc,cd->abd", output_shape: [null, 6]}', [5, 8], 5 * 8 * 6),
    ("spectral_normalization: {layer: {dense: 5}}", [8], 8 * 5),
])
def test_newer_layers_count_their_work(entry, shape, expected):
    model = builder.build(text=f"name: m\ninput: {shape}\nlayers:\n  - {entry}\noutput: none\n")
    assert describe.facts(model)["macs"] == expected


def test_attention_along_some_axes_counts_the_positions_it_meets():
    """Windowed attention (Swin's, written as attention over axes): each of the 4x4 windows' 49 queries
    meets its own window's 49 keys, not all 784 of the map."""
    model = builder.build(text="name: w\ninput: [16, 49, 8]\nlayers:\n"
                               "  - multi_head_attention: {num_heads: 2, key_dim: 4, attention_axes: [2], name: a}\n"
                               "output: none\n")
    positions = 16 * 49
    # q, k, v projections 3 x 784*8*2*4; scores and weighted sum 2 heads x 784 x 49 x (4+4); output 784*2*4*8
    assert describe.facts(model)["macs"] == 3 * positions * 8 * 8 + 2 * positions * 49 * 8 + positions * 8 * 8


def test_an_opened_transformer_block_counts_its_grouped_heads_and_gate():
    """LLaMA's layer: the key and value projections for 2 of 4 heads, three feed-forward matrices."""
    model = builder.build(text="name: t\ninput: [6, 16]\nlayers:\n"
                               "  - transformer_decoder: {num_heads: 4, num_key_value_heads: 2, intermediate_dim: 32,"
                               " feed_forward: swiglu, norm: rms, use_bias: false}\noutput: none\n")
    assert describe.facts(model)["macs"] == (2 * 6 * 16 * 16 + 2 * 6 * 16 * 8 + 2 * 6 * 6 * 16) + 3 * 6 * 16 * 32
