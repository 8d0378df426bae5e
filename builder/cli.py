"""The command line: `python cli.py COMMAND ...` (or `keras-builder COMMAND ...`).

The library raises SpecError; this module prints it as
`FILE:LINE:COL: error: PATH: message` on stderr and exits 1. Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from . import loader
from .errors import SpecError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cli.py", description="Build Keras models from YAML specs.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="build a spec, print its summary, optionally save it",
                                description="Build SPEC into a Keras model and print its summary.")
    build.add_argument("spec", metavar="SPEC", help="a YAML spec file")
    build.add_argument("-o", "--output", metavar="OUT.keras", help="save the model here (written atomically)")
    build.add_argument("--json", action="store_true",
                       help="end with one JSON line: name, params, trainable_params, layers, input_shape, output_shape")
    _add_set(build)

    validate = commands.add_parser("validate", help="check specs without building them (no TensorFlow import)",
                                   description="Check each SPEC without importing TensorFlow or Keras.")
    validate.add_argument("specs", nargs="+", metavar="SPEC")
    _add_set(validate)

    layers = commands.add_parser("layers", help="list the layer types a spec can use, with their arguments",
                                 description="List every registered layer type, or one type's arguments.")
    layers.add_argument("type", nargs="?", metavar="TYPE")
    return parser


def _add_set(parser):
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                        help="override a value before validation, e.g. --set defaults.activation=prelu "
                             "or --set layers.3.conv2d.filters=128 (VALUE is read as YAML)")


def parse_overrides(items) -> dict:
    overrides = {}
    for item in items:
        path, sep, value = item.partition("=")
        if not sep or not path:
            raise SpecError(f"--set takes PATH=VALUE, got {item!r}")
        overrides[path.strip()] = loader.parse_override_value(value)
    return overrides


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except SpecError as err:
        print(err.render(), file=sys.stderr)
        return 1


def cmd_validate(args) -> int:
    from . import validate
    overrides = parse_overrides(args.overrides)
    failed = 0
    for path in args.specs:
        try:
            validate(path, overrides=overrides)
        except SpecError as err:
            print(err.render(), file=sys.stderr)
            failed += 1
        else:
            print(f"{path}: ok")
    return 1 if failed else 0


def cmd_build(args) -> int:
    from . import build_model, load_spec
    if args.output and not args.output.endswith(".keras"):
        raise SpecError(f"-o takes a .keras file name, got {args.output!r}")
    spec = load_spec(args.spec, overrides=parse_overrides(args.overrides))
    model = build_model(spec)
    model.summary()
    if args.output:
        from .files import atomic_path
        with atomic_path(args.output, suffix=".keras") as temporary:
            model.save(temporary)
        print(f"saved {args.output}")
    if args.json:
        print(json.dumps(model_facts(model)))
    return 0


def model_facts(model) -> dict:
    def shapes(tensors):
        listed = [list(t.shape) for t in (tensors if isinstance(tensors, (list, tuple)) else [tensors])]
        return listed[0] if len(listed) == 1 else listed

    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return {
        "name": model.name,
        "params": int(model.count_params()),
        "trainable_params": trainable,
        "layers": sum(1 for layer in model.layers if layer.__class__.__name__ != "InputLayer"),
        "input_shape": shapes(model.inputs),
        "output_shape": shapes(model.outputs),
    }


def cmd_layers(args) -> int:
    from . import argtypes, registry
    if args.type is None:
        width = max(len(name) for name in registry.LAYERS)
        for name, layer_type in sorted(registry.LAYERS.items()):
            print(f"{name:<{width}}  {layer_type.doc}")
        print(f"\nActivations (as `activation:` or as an entry): {', '.join(registry.activation_names())}")
        return 0
    layer_type = registry.get(args.type)
    print(f"{layer_type.name}  ({layer_type.qualname})\n  {layer_type.doc}")
    if layer_type.short:
        print(f"  short form: `- {layer_type.name}: VALUE` sets {layer_type.short}")
    print("  arguments:")
    for arg, info in layer_type.args.items():
        default = "required" if info.get("required") else f"default {json.dumps(info.get('default'))}"
        text = argtypes.TYPES[argtypes.type_of(layer_type, arg)][1]
        print(f"    {arg}: {text}; {default}")
    return 0


COMMANDS = {"build": cmd_build, "validate": cmd_validate, "layers": cmd_layers}


if __name__ == "__main__":
    sys.exit(main())
