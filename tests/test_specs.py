"""Every shipped spec validates, builds, and has its reference's parameter count."""

import json

import pytest

from conftest import shipped_specs, spec_path

# Published parameter counts: the papers' reference implementations
# (Caffe's bvlc_alexnet and bvlc_googlenet) and keras.applications.
PARAMS = {
    "lenet5": 61_706,
    "alexnet": 60_965_224,
    "googlenet": 6_998_552,
    "vgg16": 138_357_544,
    "resnet": 25_636_712,         # scale 50; its scales 18-152: test_equivalence.py
    "resnet50": 25_636_712,
    "resnet101": 44_707_176,
    "resnet152": 60_419_944,
    "efficientnet_b0": 5_330_571,
    "densenet": 8_062_504,        # keras.applications.DenseNet121; its scales 169 and 201: test_equivalence.py
    "mobilenet_v2": 3_538_984,    # keras.applications.MobileNetV2
    "inception_v3": 23_851_784,   # keras.applications.InceptionV3
    "gpt2": 124_439_808,          # keras_hub GPT2Backbone (GPT-2 small); the tied head adds none
    "vit_b16": 85_798_656 + 768 * 1000 + 1000,    # keras_hub ViTBackbone (ViT-B/16) and a 1000-class head
    # U-Net: 3x3 convolution pairs 1-64-128-256-512-1024, then per level a 2x2 up-convolution (half the
    # channels) and a pair over the skip joined to it, and the per-pixel 2-class output
    "unet": sum(9 * a * b + b + 9 * b * b + b for a, b in ((1, 64), (64, 128), (128, 256), (256, 512), (512, 1024)))
    + sum(4 * 2 * c * c + c + 9 * 2 * c * c + c + 9 * c * c + c for c in (512, 256, 128, 64)) + 64 * 2 + 2,
    "efficientnet": 5_330_571,    # keras.applications.EfficientNetB0; its scales b1-b7: test_equivalence.py
    # convolutions 3x3: 3->32, 32->32, 32->64, 64->64 (with biases), head 64*10+10; augmentation has no weights
    "small_cnn_augmented": (27 * 32 + 32) + (288 * 32 + 32) + (288 * 64 + 64) + (576 * 64 + 64) + 64 * 10 + 10,
    # keras_hub BertBackbone's count plus the 2-class head on the pooled output
    "bert_base": 109_482_240 + 768 * 2 + 2,
    "bert_tiny": 4_385_920 + 128 * 2 + 2,
    # keras_hub BertMaskedLM at bert_tiny's size (4,433,210) less the pooler it never uses (128*128+128)
    "bert_tiny_mlm": 4_433_210 - (128 * 128 + 128),
    # Vaswani et al.'s base: two 37000x512 embeddings (the target's tied to the output), 6 encoder layers
    # (attention, feed-forward, 2 layer norms) and 6 decoder layers (self- and cross-attention, feed-forward, 3)
    "transformer_seq2seq": 2 * 37000 * 512 + 6 * (4 * (512 * 512 + 512) + 2 * 512 * 2048 + 2048 + 512 + 4 * 512)
    + 6 * (8 * (512 * 512 + 512) + 2 * 512 * 2048 + 2048 + 512 + 6 * 512),
    # counted by hand from the layer formulas:
    # embedding 20000*128 + bidirectional LSTM 2*4*(64*(128+64)+64) + head 128*2+2
    "lstm_text": 20000 * 128 + 2 * 4 * (64 * (128 + 64) + 64) + 128 * 2 + 2,
    # embedding 20000*100 + bidirectional LSTM 2*4*(100*(100+100)+100) + a 9-tag head at every word 200*9+9
    "bilstm_tagger": 20000 * 100 + 2 * 4 * (100 * (100 + 100) + 100) + 200 * 9 + 9,
    # GRU (reset_after) 3*(32*(6+32) + 2*32) + dense 32*16+16 + head 16+1
    "gru_timeseries": 3 * (32 * (6 + 32) + 2 * 32) + 32 * 16 + 16 + 16 + 1,
    # LSTMs 4*(64*(16+64)+64) + 2 * 4*(64*(64+64)+64) + head 64*5+5
    "stacked_lstm": 4 * (64 * (16 + 64) + 64) + 2 * 4 * (64 * (64 + 64) + 64) + 64 * 5 + 5,
    # keras_hub LlamaBackbone at the spec's `tiny` scale (its LLaMA 2 7B: test_transformer_zoo.py)
    "llama": 202_048,
    "bart": 139_417_344,          # keras_hub BartBackbone (BART base); its tiny scale: test_transformer_zoo.py
    # keras.applications MobileNetV3Small, ConvNeXtTiny and EfficientNetV2B0 (their other scales:
    # test_equivalence.py)
    "mobilenet_v3": 2_554_968,
    "convnext": 28_589_128,
    "efficientnet_v2": 7_200_312,
    "swin": 27_519_354,           # keras_hub SwinTransformerBackbone (Swin-T)
}
# Specs whose written size does not fit a test machine: built at this scale here
AT_SCALE = {"llama": "tiny"}
# Model names that are their reference's, not the file's
NAMES = {"mobilenet_v3": "MobileNetV3Small", "efficientnet_v2": "efficientnetv2-b0", "convnext": "convnext_tiny",
         "swin": "swin_tiny"}
# torchvision's resnet18/resnet34 count parameters() only, without batch-norm
# running statistics: that is our trainable count.
TRAINABLE = {"resnet18": 11_689_512, "resnet34": 21_797_672}
HEAVY = {"resnet101", "resnet152", "vgg16", "bert_base", "densenet", "inception_v3", "unet", "gpt2", "vit_b16",
         "transformer_seq2seq", "bart", "convnext", "swin"}
OUTPUTS = {"lenet5": [None, 10], "small_cnn_augmented": [None, 10], "bert_base": [None, 2], "bert_tiny": [None, 2], "lstm_text": [None, 2],
           "gru_timeseries": [None, 1], "stacked_lstm": [None, 5], "unet": [None, 388, 388, 2],
           "gpt2": [None, None, 50257], "bert_tiny_mlm": [None, None, 30522], "bilstm_tagger": [None, None, 9],
           "transformer_seq2seq": [None, None, 37000], "llama": [None, None, 1000], "bart": [None, None, 50265],
           "swin": [None, 49, 768]}


def test_every_shipped_spec_has_an_expected_count():
    assert set(shipped_specs()) == set(PARAMS) | set(TRAINABLE)


@pytest.mark.parametrize("name", shipped_specs())
def test_shipped_spec_validates(cli, name):
    code, out, err = cli("validate", spec_path(name))
    assert (code, err) == (0, "")
    assert out == f"{spec_path(name)}: ok\n"


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in shipped_specs()])
def test_shipped_spec_builds_with_its_reference_count(cli, name):
    code, out, err = cli("build", spec_path(name), "--json", *(["--scale", AT_SCALE[name]] if name in AT_SCALE else []))
    assert code == 0, err
    facts = json.loads(out.strip().splitlines()[-1])
    from builder.spec import reader
    scale = reader.load_file(spec_path(name)).data.get("scale")
    if name in AT_SCALE or name in NAMES:
        assert facts["name"] == NAMES.get(name, f"{name}_{AT_SCALE.get(name)}")
    else:
        assert facts["name"] == (name if scale is None or name.endswith(str(scale)) else f"{name}{scale}")
    if name in PARAMS:
        assert facts["params"] == PARAMS[name]
    else:
        assert facts["trainable_params"] == TRAINABLE[name]
    assert facts["output_shape"] == OUTPUTS.get(name, [None, 1000])


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "lstm_text", "bert_tiny"])
def test_classifiers_end_in_softmax(name):
    import builder
    model = builder.build(spec_path(name))
    last = model.layers[-1]
    assert last.__class__.__name__ == "Dense"
    assert last.activation.__name__ == "softmax"


def test_lenet5_layout():
    import builder
    model = builder.build(spec_path("lenet5"))
    shapes = {layer.name: tuple(layer.output.shape) for layer in model.layers}
    assert shapes["c1"] == (None, 28, 28, 6)
    assert shapes["s2"] == (None, 14, 14, 6)
    assert shapes["c5"] == (None, 1, 1, 120)
    assert shapes["predictions"] == (None, 10)
    assert model.get_layer("c1").activation.__name__ == "tanh"
    assert model.get_layer("s2").__class__.__name__ == "AveragePooling2D"


def test_alexnet_groups_and_lrn():
    import builder
    model = builder.build(spec_path("alexnet"))
    assert [model.get_layer(f"conv{i}").groups for i in range(1, 6)] == [1, 2, 1, 2, 2]
    assert model.get_layer("conv1").output.shape == (None, 55, 55, 96)
    assert model.get_layer("pool5").output.shape == (None, 6, 6, 256)
    assert [l.name for l in model.layers if l.__class__.__name__ == "LocalResponseNormalization"] == \
        ["norm1", "norm2"]


@pytest.mark.parametrize("name, limit", [("googlenet", 80)] + [(name, 60) for name in (
    "mobilenet_v2", "densenet", "inception_v3", "efficientnet", "resnet", "vit_b16", "gpt2", "unet")])
def test_spec_fits_on_one_screen(name, limit):
    with open(spec_path(name)) as handle:
        assert len(handle.read().splitlines()) <= limit


@pytest.mark.slow
def test_unet_gives_each_pixel_a_probability_per_class():
    import numpy as np

    import builder
    model = builder.build(spec_path("unet"))
    x = np.random.default_rng(0).uniform(0, 1, (1, 572, 572, 1)).astype("float32")
    probabilities = model.predict(x, verbose=0)
    assert probabilities.shape == (1, 388, 388, 2)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)
    assert probabilities[..., 0].std() > 0.0          # not one answer for every pixel


@pytest.mark.slow
@pytest.mark.parametrize("name, backbone", [
    ("gpt2", "GPT2Backbone(vocabulary_size=50257, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072, "
             "max_sequence_length=1024)"),
    ("vit_b16", "ViTBackbone(image_shape=(224, 224, 3), patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, "
                "mlp_dim=3072)")])
def test_transformer_specs_count_what_keras_hub_backbones_count(name, backbone):
    keras_hub = pytest.importorskip("keras_hub")
    import builder
    reference = eval(f"keras_hub.models.{backbone}", {"keras_hub": keras_hub})          # noqa: S307 - a fixed string in this test
    head = {"gpt2": {}, "vit_b16": {"output": "none"}}[name]  # GPT-2's tied head has no weights of its own
    assert builder.build(spec_path(name), overrides=head).count_params() == reference.count_params()
