"""Every registered layer type builds from a minimal example derived from the
registry itself, and the checked-in signatures match the installed Keras."""

import contextlib
import re

import pytest

from builder.catalogue import registry
from builder.spec import argtypes

# A value for each required argument, by its type.
REQUIRED_VALUES = {"positive_int": 8, "sizes": 2, "shape": [-1], "rate": 0.5, "activation": "relu",
                   "entry": {"lstm": 4}, "application": "MobileNetV2", "number": 0.5,
                   "hub_preset": "set by the test"}


def minimal_example(layer_type):
    """Spec data with one entry of `layer_type`: the registry's own example
    (input and arguments) where it has one, else one made from the type's
    required arguments, its kind and its name's 1d/2d/3d."""
    example = layer_type.example or {}
    args = {}
    for arg, info in layer_type.args.items():
        if info.get("required") and arg not in example.get("args", {}):
            args[arg] = REQUIRED_VALUES[argtypes.arg_type(layer_type, arg)]
    args.update(example.get("args", {}))
    if layer_type.name == "time_distributed":
        args["layer"] = {"dense": 4}          # applied to each step
    found = re.search(r"([123])d", layer_type.name)
    rank = int(found.group(1)) if found else 1
    shape = [8] * rank + [8]
    if argtypes.arg_type(layer_type, layer_type.short or "") == "application":
        shape = [32, 32, 3]                   # the smallest image keras.applications networks take
    layers = []
    if layer_type.kind == "merge" and "inputs" not in args:
        layers = [{"dense": {"units": 8, "name": "a"}}, {"dense": {"units": 8, "name": "b", "inputs": "input"}}]
        args["inputs"] = ["a", "b"]
    entry = {layer_type.name: args}
    if layer_type.kind == "cell":             # a cell runs inside an rnn
        entry, shape = {"rnn": {"cell": entry}}, [5, 3]
    layers.append(entry)
    spec = {"name": "t", "input": example.get("input", shape), "layers": layers, "output": "none"}
    if "inputs" in example:
        spec["inputs"] = example["inputs"]
        del spec["input"]
    return spec


@pytest.fixture(scope="module")
def hub_preset(tmp_path_factory):
    """A tiny KerasHub preset folder (a BERT backbone), written here: nothing is downloaded."""
    import keras_hub
    folder = tmp_path_factory.mktemp("hub") / "tiny_bert"
    keras_hub.models.BertBackbone(vocabulary_size=20, num_layers=1, num_heads=1, hidden_dim=4, intermediate_dim=8,
                                  max_sequence_length=8).save_to_preset(str(folder))
    return str(folder)


def hub_example(name, preset):
    names = ("token_ids", "segment_ids", "padding_mask")
    return {"name": "t", "inputs": {n: {"shape": [None], "dtype": "int32"} for n in names},
            "layers": [{name: {"preset": preset, "output": "pooled_output", "inputs": {n: n for n in names}}}],
            "output": "none"}


@pytest.mark.parametrize("name", sorted(registry.LAYERS))
def test_every_layer_type_builds_from_a_minimal_example(name, request):
    import builder
    layer_type = registry.LAYERS[name]
    example = minimal_example(layer_type)
    if argtypes.arg_type(layer_type, layer_type.short or "") == "hub_preset":
        example = hub_example(name, request.getfixturevalue("hub_preset"))
    model = builder.build(data=example)
    layer = model.layers[-1]
    if layer_type.kind == "cell":
        layer = layer.cell
    assert type(layer) is layer_type.keras_class()
    assert layer.name == (f"rnn_{name}" if layer_type.kind == "cell" else name)


def test_generated_files_match_installed_keras_and_the_registry():
    import json

    from builder.catalogue import signatures
    from tools import regenerate
    with open(signatures.FILE, encoding="utf-8") as handle:
        assert json.loads(handle.read()) == json.loads(json.dumps(regenerate.signature_table())), \
            "builder/catalogue/signatures.json is stale: run python tools/regenerate.py"
    assert regenerate.main(["--check"]) == 0


def test_registering_a_duplicate_name_fails_loudly():
    with pytest.raises(ValueError, match="already registered"):
        registry.add(registry.LayerType(name="dense", module="keras.layers", cls_name="Dense"))


def test_unknown_type_lists_known_ones():
    with pytest.raises(builder_error()) as info:
        registry.get("dnese")
    assert "Did you mean 'dense'?" in info.value.message
    assert "conv2d" in info.value.message


def builder_error():
    from builder import SpecError
    return SpecError


def test_register_layer_plugin(tmp_path):
    import keras
    import numpy as np

    import builder

    class Scale(keras.layers.Layer):
        """Multiplies its input by a constant."""

        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    builder.register_layer(Scale, short="factor")
    try:
        spec = {"name": "p", "input": [3], "layers": [{"scale": 3.0}], "output": "none"}
        model = builder.build(data=spec)
        np.testing.assert_allclose(model.predict(np.ones((1, 3)), verbose=0), 3.0)
        with pytest.raises(builder.SpecError, match="unknown argument 'factr' for scale"):
            builder.validate(data={**spec, "layers": [{"scale": {"factr": 1}}]})
        path = tmp_path / "p.keras"
        model.save(path)
        reloaded = keras.saving.load_model(path, safe_mode=True)
        np.testing.assert_allclose(reloaded.predict(np.ones((1, 3)), verbose=0), 3.0)
    finally:
        del registry.LAYERS["scale"]


def test_a_keras_builtin_registers_with_its_own_argument_types():
    import keras
    import numpy as np

    import builder
    builder.register_layer(keras.layers.Rescaling, name="scale_shift")     # as a plug-in would
    try:
        layer_type = registry.LAYERS["scale_shift"]
        assert argtypes.arg_type(layer_type, "scale") == "number"          # not batch normalization's boolean `scale`
        assert argtypes.arg_type(registry.LAYERS["batch_normalization"], "scale") == "bool"
        spec = {"name": "r", "input": [4], "layers": [{"scale_shift": {"scale": 0.5, "offset": 1.0}}],
                "output": "none"}
        model = builder.build(data=spec)
        np.testing.assert_allclose(model.predict(np.full((1, 4), 2.0), verbose=0), 2.0)
        with pytest.raises(builder.SpecError, match=r"scale: expected a number, got 'half' \(a string\)"):
            builder.validate(data={**spec, "layers": [{"scale_shift": {"scale": "half"}}]})
    finally:
        del registry.LAYERS["scale_shift"]


def test_a_missing_generated_signature_names_the_command_that_makes_it(cli, write_spec):
    registry.add(registry.LayerType(name="my_lambda", module="keras.layers", cls_name="Lambda"))   # excluded: no signature
    try:
        path = write_spec("name: t\ninput: [4]\ndefaults: {activation: relu}\nlayers: [dense: 3]\noutput: none\n")
        code, out, err = cli("validate", path)
        assert code == 1
        assert err == ("error: no signature for keras.layers.Lambda (layer type 'my_lambda') in "
                       f"{registry.signatures.FILE}; regenerate it with `python tools/regenerate.py`\n")
    finally:
        del registry.LAYERS["my_lambda"]


def test_an_activation_named_as_a_layer_type_says_what_it_is(cli):
    code, out, _ = cli("layers", "swish")
    assert code == 0
    assert out.startswith("swish: an activation function; use it as `activation: swish`")
    with pytest.raises(builder_error(), match="'swish' is an activation function, not a layer type"):
        registry.get("swish")


# Values of every YAML kind, valid and not, for every argument of every layer type.
PROBES = [None, True, 0, -1, 3, 2**40, 0.5, -2.5, "same", "x y", "ResNet50", "not_a_preset!", [], [2, 3],
          [0, 1, 2, 3], [[1, 2], [3, 4]], [None, 4], {"he_normal": {}}, {"a": 1, "b": 2}, {1: 2}]


def test_argument_checks_agree_with_the_schema_models():
    """check_args (one TypeAdapter per argument type, for speed) says what
    validating against the layer type's pydantic model (the JSON Schema's)
    says, error text and path, for every argument of every layer type."""
    from builder.errors import SpecError
    from builder.spec import arguments
    from builder.spec.validation import validate

    def outcome(check, args):
        try:
            check(args)
        except SpecError as err:
            return err.message, err.path
        return None
    compared = failed = 0
    for layer_type in registry.LAYERS.values():
        model = arguments.args_model(layer_type)
        required = {arg: REQUIRED_VALUES.get(argtypes.arg_type(layer_type, arg), "x")
                    for arg, info in layer_type.args.items() if info.get("required")}
        cases = [{}, {"not_an_argument": 1, **required}]
        cases += [{**required, arg: value} for arg in layer_type.args for value in PROBES]
        cases += [{arg: value} for arg in list(required)[:1] for value in PROBES[:4]]       # others left missing
        for args in cases:
            expected = outcome(lambda a, model=model: validate(model, a), args)
            assert outcome(lambda a, t=layer_type: arguments.check_args(t, a), args) == expected, (layer_type.name, args)
            compared += 1
            failed += expected is not None
    assert compared > 10_000 and 0.3 < failed / compared < 0.95     # the probes exercise both outcomes


SAMPLES = {"int": 3, "number": 0.5, "bool": True}


def test_the_kinds_of_training_arguments_are_values_keras_takes():
    """Each optimizer's and schedule's argument whose docstring gives a kind (signatures.json's `kind`, which
    `validate` checks) takes a value of that kind in Keras: the check never refuses what Keras would take."""
    from builder.backend import keras
    from builder.catalogue import signatures
    keras = keras()
    table = signatures.table()["training"]
    checked = 0
    for name, args in table["optimizers"].items():
        for arg, info in args.items():
            if info.get("kind") in SAMPLES:
                with contextlib.suppress(ValueError):     # a range Keras checks (a value of the right kind)
                    keras.optimizers.get({"class_name": name, "config": {arg: SAMPLES[info["kind"]]}})
                checked += 1
    required = {"initial_learning_rate": 0.1, "decay_steps": 10, "first_decay_steps": 10, "decay_rate": 0.5,
                "boundaries": [5], "values": [0.1, 0.01]}
    for name, args in table["schedules"].items():
        cls = getattr(keras.optimizers.schedules, "".join(p.title() for p in name.split("_")), None) or next(
            c for n, c in vars(keras.optimizers.schedules).items() if signatures.snake_case(n) == name)
        for arg, info in args.items():
            if info.get("kind") in SAMPLES:
                given = {a: required[a] for a, i in args.items() if i.get("required")}
                cls(**{**given, arg: SAMPLES[info["kind"]]})(1)
                checked += 1
    assert checked > 60
