"""The ResNet-50, VGG16, DenseNet, Inception-v3, MobileNetV2 and EfficientNet specs compute what keras.applications computes:
same weighted layers in the same order (weights.copy_weights pairs them
by class and shape), and the same outputs once the reference's weights, with
randomized batch-norm statistics, are copied in."""

import numpy as np
import pytest

from conftest import spec_path


def randomize(model, seed=0):
    """Random weights everywhere, batch-norm moving statistics included, so a
    misplaced or missing normalization changes the output."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = []
        for w in layer.get_weights():
            if layer.__class__.__name__ == "BatchNormalization":
                weights.append(rng.uniform(0.5, 1.5, w.shape).astype(w.dtype))
            elif w.ndim:
                weights.append((rng.standard_normal(w.shape) * (1.0 / np.sqrt(max(1, w.size // w.shape[-1])))).astype(w.dtype))
            else:                 # a scalar (Normalization's count)
                weights.append(w)
        if weights:
            layer.set_weights(weights)


def assert_same_function(reference, built, input_shape, atol=1e-5):
    from weights import copy_weights
    randomize(reference)
    copied = copy_weights(reference, built)
    assert copied == len([l for l in reference.layers if l.weights])
    x = np.random.default_rng(1).uniform(0, 1, (2, *input_shape)).astype("float32")
    expected = reference.predict(x, verbose=0)
    actual = built.predict(x, verbose=0)
    np.testing.assert_allclose(actual, expected, atol=atol, rtol=0)
    return expected


def test_resnet50_matches_keras_applications():
    import keras

    import builder
    reference = keras.applications.ResNet50(weights=None)
    built = builder.build(spec_path("resnet50"))
    assert [l.name for l in built.layers if l.weights] == [l.name for l in reference.layers if l.weights]
    out = assert_same_function(reference, built, (224, 224, 3))
    assert out.std() > 0          # not a degenerate (constant) output


@pytest.mark.slow
def test_vgg16_matches_keras_applications():
    import keras

    import builder
    reference = keras.applications.VGG16(weights=None)
    built = builder.build(spec_path("vgg16"))
    assert [l.name for l in built.layers[1:]] == [l.name for l in reference.layers[1:]]
    assert_same_function(reference, built, (224, 224, 3))


@pytest.mark.slow
@pytest.mark.parametrize("scale, reference_name", [(121, "DenseNet121"), (169, "DenseNet169"), (201, "DenseNet201")])
def test_densenet_scales_match_keras_applications(scale, reference_name):
    """One spec, three scales: each the same layers (names included) and outputs as Keras's."""
    assert_scale_is_the_application("densenet", scale, reference_name)


def assert_scale_is_the_application(spec, scale, reference_name):
    """The spec at `scale` is keras.applications' `reference_name`: name, layer names
    (the input aside), parameters, and outputs after weight copy."""
    import keras

    import builder
    keras.backend.clear_session()        # Keras numbers the names it makes (zero_padding2d_2) across models
    reference = getattr(keras.applications, reference_name)(weights=None)
    built = builder.build(spec_path(spec), scale=scale)
    assert built.name == reference.name == f"{spec}{scale}"
    assert [l.name for l in built.layers[1:]] == [l.name for l in reference.layers[1:]]
    assert built.count_params() == reference.count_params()
    assert_same_function(reference, built, (224, 224, 3), atol=1e-4)


def test_mobilenet_v2_matches_keras_applications():
    """Widths, paddings and shortcuts worked out by expressions: the same network as Keras's."""
    import keras

    import builder
    reference = keras.applications.MobileNetV2(weights=None)
    built = builder.build(spec_path("mobilenet_v2"))
    assert built.count_params() == reference.count_params() == 3_538_984
    kinds = [type(l).__name__ for l in reference.layers]
    assert [type(l).__name__ for l in built.layers] == kinds
    assert kinds.count("Add") == 10
    assert_same_function(reference, built, (224, 224, 3), atol=1e-4)


@pytest.mark.slow
def test_inception_v3_matches_keras_applications():
    import keras

    import builder
    reference = keras.applications.InceptionV3(weights=None)
    built = builder.build(spec_path("inception_v3"))
    assert built.count_params() == reference.count_params() == 23_851_784
    assert_same_function(reference, built, (299, 299, 3), atol=1e-4)


EFFICIENTNETS = {"b0": 5_330_571, "b1": 7_856_239, "b2": 9_177_569, "b3": 12_320_535, "b4": 19_466_823,
                 "b5": 30_562_527, "b6": 43_265_143, "b7": 66_658_687}


@pytest.mark.slow
@pytest.mark.parametrize("scale", EFFICIENTNETS)
def test_efficientnet_scales_match_keras_applications(scale):
    """One spec with compound scaling (expressions over its params); B1 and B2 pad their odd-sized stages."""
    import keras

    import builder
    keras.backend.clear_session()        # Keras numbers the names it makes (rescaling_1) across models
    reference = getattr(keras.applications, f"EfficientNet{scale.upper()}")(weights=None)
    built = builder.build(spec_path("efficientnet"), scale=scale)
    assert built.count_params() == reference.count_params() == EFFICIENTNETS[scale]
    assert [type(l).__name__ for l in built.layers] == [type(l).__name__ for l in reference.layers]
    # the same names too: repetitions lettered (block2a, block2b, ...) with `numbering: letters`
    assert [l.name for l in built.layers[1:]] == [l.name for l in reference.layers[1:]]
    if scale in ("b0", "b1", "b2"):
        size = reference.input_shape[1]
        assert_same_function(reference, built, (size, size, 3), atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("scale, reference_name", [(50, "ResNet50"), (101, "ResNet101"), (152, "ResNet152")])
def test_resnet_scales_are_keras_applications(scale, reference_name):
    """specs/resnet.yaml at 50, 101 and 152: Keras's layers, names, order and outputs."""
    assert_scale_is_the_application("resnet", scale, reference_name)


@pytest.mark.parametrize("scale, trainable, blocks", [(18, 11_689_512, [2, 2, 2, 2]), (34, 21_797_672, [3, 4, 6, 3])])
def test_resnet_basic_scales_are_torchvision_counts(scale, trainable, blocks):
    """Scales 18 and 34: basic blocks, bias-free convolutions, torchvision's trainable counts."""
    import builder
    built = builder.build(spec_path("resnet"), scale=scale)
    assert built.name == f"resnet{scale}"
    assert sum(int(w.numpy().size) for w in built.trainable_weights) == trainable
    assert [len({l.name.split("_")[1] for l in built.layers if l.name.startswith(f"conv{stage}_block")})
            for stage in (2, 3, 4, 5)] == blocks
    assert not any(l.get_config().get("use_bias") for l in built.layers if l.name.endswith("_conv"))
    assert built.get_layer("conv3_block1_0_conv").strides == (2, 2)      # the shortcut projected where the size halves
    assert "conv2_block1_0_conv" not in [l.name for l in built.layers]    # and not where the shape is kept


def test_one_line_resnet_files_are_its_scales():
    import builder

    def layers(graph):
        return graph.spec.name, [(n.name, n.type.name, n.args, n.inputs) for n in graph.nodes]
    for scale in (18, 34, 50, 101, 152):
        assert layers(builder.validate(spec_path(f"resnet{scale}"))) == layers(builder.validate(spec_path("resnet"),
                                                                                                scale=scale))


def test_copy_weights_refuses_a_different_network():
    import keras
    from weights import copy_weights

    import builder
    reference = keras.applications.ResNet50(weights=None)
    built = builder.build(spec_path("resnet50"), overrides={"layers.conv3_block.filters": 64})
    with pytest.raises(ValueError, match="does not pair with"):
        copy_weights(reference, built)


def test_efficientnet_b0_matches_keras_applications():
    """Raw pixels in, its own rescaling and normalization; logits compared."""
    import keras

    import builder
    reference = keras.applications.EfficientNetB0(weights=None, classifier_activation=None)
    built = builder.build(spec_path("efficientnet_b0"), overrides={"output.activation": "linear"})
    assert built.count_params() == reference.count_params() == 5_330_571
    assert [l.name for l in built.layers[1:]] == [l.name for l in reference.layers[1:]]
    randomize(reference)
    normalization = reference.get_layer("normalization")
    normalization.set_weights([np.array([124.0, 116.0, 104.0]), np.array([3400.0, 3200.0, 3300.0]),
                               *normalization.get_weights()[2:]])
    from weights import copy_weights
    copy_weights(reference, built)
    x = np.random.default_rng(1).uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    expected = reference.predict(x, verbose=0)
    assert expected.std() > 0.1
    np.testing.assert_allclose(built.predict(x, verbose=0), expected, atol=1e-4 * np.abs(expected).max(), rtol=0)


def flat_layers(model) -> list:
    """A model's layers, those of nested models (keras.applications' Sequential stems) in their place."""
    import keras
    return [inner for layer in model.layers
            for inner in (flat_layers(layer) if isinstance(layer, keras.Model) else [layer])]


def assert_same_logits(reference, built, input_shape, scale=255.0, head=("Conv2D", "Dense")):
    """Random weights in the reference (batch-norm statistics included), copied layer for layer in
    build order (nested models flattened); logits compared on raw pixels. A reference whose
    classifier is a 1x1 convolution on a 1x1 map (`head`) gives its kernel to the spec's Dense head."""
    randomize(reference)
    sources = [l for l in flat_layers(reference) if l.weights]
    targets = [l for l in built.layers if l.weights]
    kinds = [type(l).__name__ for l in sources]
    assert [type(l).__name__ for l in targets] == kinds[:-1] + [head[1] if kinds[-1] == head[0] else kinds[-1]]
    for source, target in zip(sources, targets):
        target.set_weights([np.reshape(w, t.shape) for w, t in zip(source.get_weights(), target.weights)])
    x = np.random.default_rng(1).uniform(0, scale, (2, *input_shape)).astype("float32")
    expected = reference.predict(x, verbose=0)
    assert expected.std() > 0.1
    np.testing.assert_allclose(built.predict(x, verbose=0), expected, atol=1e-4 * np.abs(expected).max(), rtol=0)


def test_convnext_tiny_matches_keras_applications():
    """Layer scale, grouped 7x7 convolutions, channels-last layer norms: ConvNeXtTiny's logits."""
    import keras

    import builder
    reference = keras.applications.ConvNeXtTiny(weights=None, classifier_activation=None)
    built = builder.build(spec_path("convnext"), overrides={"output.activation": "linear"})
    assert built.name == reference.name == "convnext_tiny"
    assert built.count_params() == reference.count_params() == 28_589_128
    assert_same_logits(reference, built, (224, 224, 3))


@pytest.mark.parametrize("scale, reference_name, count", [
    ("small", "MobileNetV3Small", 2_554_968),
    pytest.param("large", "MobileNetV3Large", 5_507_432, marks=pytest.mark.slow)])
def test_mobilenet_v3_scales_match_keras_applications(scale, reference_name, count):
    """Small and Large from one file: the paper's table as rows, squeeze-and-excitation and hard swish;
    Keras's 1x1-convolution classifier is the spec's Dense head (its kernel reshaped)."""
    import keras

    import builder
    reference = getattr(keras.applications, reference_name)(weights=None, classifier_activation=None)
    built = builder.build(spec_path("mobilenet_v3"), scale=scale, overrides={"output.activation": "linear"})
    assert built.name == reference.name == reference_name
    assert built.count_params() == reference.count_params() == count
    assert_same_logits(reference, built, (224, 224, 3))


EFFICIENTNET_V2S = {"b0": 7_200_312, "b1": 8_212_124, "b2": 10_178_374, "b3": 14_467_622, "s": 21_612_360,
                    "m": 54_431_388, "l": 119_027_848}


@pytest.mark.parametrize("scale", [s if s == "b0" else pytest.param(s, marks=pytest.mark.slow)
                                   for s in EFFICIENTNET_V2S])
def test_efficientnet_v2_scales_match_keras_applications(scale):
    """One 60-line file, seven networks: Fused-MBConv and MBConv stages from the tables of B0-B3 (compound
    scaling), S, M and L; every layer name Keras's; B0's logits equal after weight copy."""
    import keras

    import builder
    keras.backend.clear_session()        # Keras numbers the names it makes (rescaling_1) across models
    reference = getattr(keras.applications, f"EfficientNetV2{scale.upper()}")(weights=None, classifier_activation=None)
    keras.backend.clear_session()
    built = builder.build(spec_path("efficientnet_v2"), scale=scale, overrides={"output.activation": "linear"})
    assert built.name == reference.name == f"efficientnetv2-{scale}"
    assert built.count_params() == reference.count_params() == EFFICIENTNET_V2S[scale]
    assert [l.name for l in built.layers[1:]] == [l.name for l in reference.layers[1:]]
    if scale == "b0":
        assert_same_logits(reference, built, (224, 224, 3))
