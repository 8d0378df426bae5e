"""GPT-2, ViT-B/16, LLaMA and BART, small configurations of the shipped specs,
compute what keras_hub's GPT2Backbone, ViTBackbone, LlamaBackbone and
BartBackbone compute after their weights are copied; GPT-2 and LLaMA are causal."""

import re

import numpy as np
import pytest

import builder
from conftest import spec_path

GPT2_SMALL = {"layers.token_embedding.input_dim": 1000, "layers.token_embedding.output_dim": 64,
              "layers.position_embedding.sequence_length": 32, "layers.transformer_layer_.num_heads": 4,
              "layers.transformer_layer_.intermediate_dim": 128, "layers.transformer_layer_.repeat": 2}
VIT_SMALL = {"input": [32, 32, 3], "layers.patching.filters": 64, "layers.patching.kernel_size": 8,
             "layers.patching.strides": 8, "layers.patches.target_shape": [16, 64],
             "layers.position_embedding.sequence_length": 17, "layers.transformer_block_.num_heads": 4,
             "layers.transformer_block_.intermediate_dim": 128, "layers.transformer_block_.repeat": 2,
             "output": "none"}


def copy_by_path(reference, built, renames) -> None:
    """Give every weight of `built` the reference's weight whose path, after
    the regex `renames`, is its path; random values, beyond the initializers'."""
    rng = np.random.default_rng(1)
    targets = {w.path: w for w in built.weights}
    assert len(targets) == len(reference.weights)
    for weight in reference.weights:
        path = weight.path
        for pattern, replacement in renames:
            path = re.sub(pattern, replacement, path)
        value = rng.normal(0, 0.2, weight.shape).astype("float32")
        weight.assign(value)
        targets.pop(path).assign(value)
    assert not targets


def one_based(match):
    return f"{match.group(1)}{int(match.group(2)) + 1}/"


def small_gpt2():
    import keras_hub  # the `hub` extra (in `test`)
    reference = keras_hub.models.GPT2Backbone(vocabulary_size=1000, num_layers=2, num_heads=4, hidden_dim=64,
                                              intermediate_dim=128, max_sequence_length=32)
    built = builder.build(spec_path("gpt2"), overrides=GPT2_SMALL)
    assert built.count_params() == reference.count_params()
    copy_by_path(reference, built, [(r"(transformer_layer_)(\d+)/", one_based), (r"/self_attention/", "/self_attention_layer/")])
    return reference, built


def gpt2_inputs(length=12):
    rng = np.random.default_rng(2)
    mask = np.ones((2, length), "int32")
    mask[1, 9:] = 0                                      # the second sequence is padded
    return {"token_ids": rng.integers(1, 1000, (2, length)).astype("int32") * mask, "padding_mask": mask}


def test_gpt2_computes_what_keras_hub_gpt2_backbone_computes():
    import keras
    reference, built = small_gpt2()
    inputs = gpt2_inputs()
    expected = reference.predict(inputs, verbose=0)                      # the final layer norm's output
    hidden = keras.Model(built.inputs, built.get_layer("layer_norm").output).predict(inputs, verbose=0)
    np.testing.assert_allclose(hidden, expected, atol=1e-4, rtol=0)
    assert np.abs(expected).mean() > 0.1
    # the tied head: next-token probabilities from the token embedding, transposed
    logits = expected @ reference.get_layer("token_embedding").embeddings.numpy().T
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    np.testing.assert_allclose(built.predict(inputs, verbose=0), probabilities, atol=1e-5, rtol=0)


def test_gpt2_is_causal():
    """Changing later tokens leaves the earlier positions' outputs as they were."""
    _, built = small_gpt2()
    inputs = {name: value[:1] for name, value in gpt2_inputs().items()}          # unpadded
    changed = {"token_ids": inputs["token_ids"].copy(), "padding_mask": inputs["padding_mask"]}
    changed["token_ids"][0, 6:] = (changed["token_ids"][0, 6:] + 7) % 1000
    a, b = built.predict(inputs, verbose=0), built.predict(changed, verbose=0)
    np.testing.assert_allclose(a[0, :6], b[0, :6], atol=1e-6)
    assert not np.allclose(a[0, 6:], b[0, 6:], atol=1e-4)


def test_vit_computes_what_keras_hub_vit_backbone_computes():
    import keras
    import keras_hub
    reference = keras_hub.models.ViTBackbone(image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=4,
                                             hidden_dim=64, mlp_dim=128)
    built = builder.build(spec_path("vit_b16"), overrides=VIT_SMALL)
    assert built.count_params() == reference.count_params()
    copy_by_path(reference, built, [
        (r"^vit_patching_and_embedding/class_token$", "class_token/token"),
        (r"^vit_patching_and_embedding/patch_embedding/", "patching/"),
        (r"^vit_patching_and_embedding/", ""), (r"^vit_encoder/ln/", "layer_norm/"), (r"^vit_encoder/", ""),
        (r"/ln_1/", "/self_attention_layer_norm/"), (r"/mha/", "/self_attention_layer/"),
        (r"/ln_2/", "/feedforward_layer_norm/"), (r"/mlp/dense_1/", "/feedforward_intermediate_dense/"),
        (r"/mlp/dense_2/", "/feedforward_output_dense/")])
    images = np.random.default_rng(3).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    expected = reference.predict(images, verbose=0)                      # (2, 17, 64): class token first
    sequence = keras.Model(built.inputs, built.get_layer("layer_norm").output).predict(images, verbose=0)
    np.testing.assert_allclose(sequence, expected, atol=1e-4, rtol=0)
    np.testing.assert_allclose(built.predict(images, verbose=0), expected[:, 0], atol=1e-4, rtol=0)
    assert np.abs(expected).mean() > 0.1


@pytest.mark.slow
def test_full_size_counts_are_keras_hubs():
    import keras_hub
    gpt2 = keras_hub.models.GPT2Backbone(vocabulary_size=50257, num_layers=12, num_heads=12, hidden_dim=768,
                                         intermediate_dim=3072, max_sequence_length=1024)
    assert builder.build(spec_path("gpt2")).count_params() == gpt2.count_params() == 124_439_808
    vit = keras_hub.models.ViTBackbone(image_shape=(224, 224, 3), patch_size=16, num_layers=12, num_heads=12,
                                       hidden_dim=768, mlp_dim=3072)
    built = builder.build(spec_path("vit_b16"), overrides={"output": "none"})
    assert built.count_params() == vit.count_params() == 85_798_656


def small_llama():
    import keras_hub
    reference = keras_hub.models.LlamaBackbone(vocabulary_size=1000, num_layers=2, num_query_heads=4,
                                               num_key_value_heads=2, hidden_dim=64, intermediate_dim=128,
                                               layer_norm_epsilon=1e-5)
    built = builder.build(spec_path("llama"), scale="tiny")
    assert built.count_params() == reference.count_params() == 202_048
    copy_by_path(reference, built, [(r"(attention|feedforward)_layernorm/", r"\1_layer_norm/")])
    return reference, built


def test_llama_tiny_computes_what_keras_hub_llama_backbone_computes():
    """RMS normalization, grouped-query attention (4 query heads share 2 key-value heads), rotary
    positions on queries and keys, a SwiGLU feed-forward and no biases: every weight copied by name."""
    import keras
    reference, built = small_llama()
    inputs = gpt2_inputs()
    expected = reference.predict(inputs, verbose=0)
    backbone = keras.Model(built.inputs, built.get_layer("sequence_output_layernorm").output)
    actual = backbone.predict(inputs, verbose=0)
    np.testing.assert_allclose(actual[0], expected[0], atol=1e-4, rtol=0)
    np.testing.assert_allclose(actual[1, :9], expected[1, :9], atol=1e-4, rtol=0)   # padded steps aside
    assert np.abs(expected).mean() > 0.1
    later = dict(inputs, token_ids=inputs["token_ids"].copy())
    later["token_ids"][:, 6:] = 7                                                  # causal: earlier steps stay
    np.testing.assert_allclose(backbone.predict(later, verbose=0)[:, :6], actual[:, :6], atol=1e-5, rtol=0)
    head = reference.token_embedding(expected, reverse=True)          # LlamaCausalLM's logits
    np.testing.assert_allclose(built.predict(inputs, verbose=0), keras.ops.softmax(head), atol=1e-5, rtol=0)


def test_llama2_7b_and_bart_base_are_counted_without_allocating_their_weights():
    """The full-size scales, built under Keras's StatelessScope (shapes, no values), have
    keras_hub's LlamaBackbone's parameters for LLaMA 2 7B's published configuration, and BartBackbone's
    for BART base."""
    import keras
    import keras_hub
    with keras.StatelessScope():
        built = builder.build(spec_path("llama"), scale="7b", limits={"max_params": 7_000_000_000})
        reference = keras_hub.models.LlamaBackbone(vocabulary_size=32000, num_layers=32, num_query_heads=32,
                                                   num_key_value_heads=32, hidden_dim=4096, intermediate_dim=11008,
                                                   layer_norm_epsilon=1e-5)
        assert built.count_params() == reference.count_params() == 6_738_415_616
        built = builder.build(spec_path("bart"), scale="base")
        reference = keras_hub.models.BartBackbone(vocabulary_size=50265, num_layers=6, num_heads=12, hidden_dim=768,
                                                  intermediate_dim=3072, max_sequence_length=1024)
        assert built.count_params() == reference.count_params() == 139_417_344
        keras.backend.clear_session()     # the scope would give every weight its values as it closes


def test_bart_tiny_computes_what_keras_hub_bart_backbone_computes():
    """One token embedding shared by the encoder and the decoder (`- share:`), any lengths: every
    weight has the reference's path; both sequences equal the reference's, padded steps aside."""
    import keras
    import keras_hub
    reference = keras_hub.models.BartBackbone(vocabulary_size=1000, num_layers=2, num_heads=4, hidden_dim=64,
                                              intermediate_dim=128, max_sequence_length=32)
    built = builder.build(spec_path("bart"), scale="tiny")
    assert built.count_params() == reference.count_params() == 235_776
    assert sorted(w.path for w in built.weights) == sorted(w.path for w in reference.weights)
    copy_by_path(reference, built, [])
    encoder, decoder = gpt2_inputs(10), gpt2_inputs(7)
    decoder["padding_mask"][1, 5:] = 0
    inputs = {"encoder_token_ids": encoder["token_ids"], "encoder_padding_mask": encoder["padding_mask"],
              "decoder_token_ids": decoder["token_ids"] * decoder["padding_mask"],
              "decoder_padding_mask": decoder["padding_mask"]}
    expected = reference.predict(inputs, verbose=0)
    both = keras.Model(built.inputs, [built.get_layer("transformer_encoder_layer_1").output,
                                      built.get_layer("transformer_decoder_layer_1").output])
    encoded, decoded = both.predict(inputs, verbose=0)
    np.testing.assert_allclose(encoded[0], expected["encoder_sequence_output"][0], atol=1e-4, rtol=0)
    np.testing.assert_allclose(encoded[1, :9], expected["encoder_sequence_output"][1, :9], atol=1e-4, rtol=0)
    np.testing.assert_allclose(decoded[0], expected["decoder_sequence_output"][0], atol=1e-4, rtol=0)
    np.testing.assert_allclose(decoded[1, :5], expected["decoder_sequence_output"][1, :5], atol=1e-4, rtol=0)
    assert np.abs(expected["decoder_sequence_output"]).mean() > 0.1


SWIN_PATHS = [(r"^patch_embedding/conv_projection/", "patch_embedding/"), (r"^patch_embedding/norm/", "patch_norm/"),
              (r"^stage_(\d)/blocks_(\d)/mlp/", r"stage_\1_block_\2_"), (r"^stage_(\d)/blocks_(\d)/", r"stage_\1_block_\2_"),
              (r"^stage_(\d)/downsample/", r"stage_\1_downsample_")]


def test_swin_tiny_computes_what_keras_hub_swin_transformer_backbone_computes():
    """Windowed attention with a relative-position bias table per block, every second block's windows
    shifted (masked where they wrap around), patch merging: Swin-T's 27,519,354 weights copied by
    name, the same 49 x 768 sequence out."""
    import keras_hub
    reference = keras_hub.models.SwinTransformerBackbone(image_shape=(224, 224, 3), embed_dim=96,
                                                         depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=7)
    built = builder.build(spec_path("swin"))
    assert built.count_params() == reference.count_params() == 27_519_354
    copy_by_path(reference, built, SWIN_PATHS)
    images = np.random.default_rng(3).uniform(0, 1, (2, 224, 224, 3)).astype("float32")
    expected = reference.predict(images, verbose=0)
    np.testing.assert_allclose(built.predict(images, verbose=0), expected, atol=1e-4, rtol=0)
    assert np.abs(expected).mean() > 0.1
    assert builder.describe(built)["macs"] == pytest.approx(4.5e9, rel=0.01)     # not 8.78 G: windows, not the map
