"""The command line: `python cli.py COMMAND ...` (or `keras-builder COMMAND ...`).

The library raises SpecError; this module prints it as
`FILE:LINE:COL: error: PATH: message` on stderr and exits 1. Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings

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

    train = commands.add_parser("train", help="train a spec on data; write a run folder",
                                description="Train SPEC on DATA and write model.keras, the best checkpoint, "
                                            "history, TensorBoard logs and metrics.json to --out.")
    train.add_argument("spec", metavar="SPEC")
    _add_training_options(train)
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from its last completed epoch")
    _add_set(train)

    sweep = commands.add_parser("sweep", help="train variants of a spec and compare them in one table",
                                description="Train one variant per value of each swept --set "
                                            "(PATH=V1,V2,...) and print validation accuracy, parameters and "
                                            "seconds per epoch side by side.")
    sweep.add_argument("spec", metavar="SPEC")
    _add_training_options(sweep)
    _add_set(sweep)

    evaluate = commands.add_parser("evaluate", help="evaluate a saved model on data",
                                   description="Evaluate MODEL.keras on the test split of DATA (the split "
                                               "its training run used, from run.json beside it).")
    _add_saved_model_options(evaluate)

    predict = commands.add_parser("predict", help="predict with a saved model; CSV out",
                                  description="Predict every example of DATA with MODEL.keras and write CSV "
                                              "rows (index, prediction, probability, label).")
    _add_saved_model_options(predict)
    predict.add_argument("-o", "--output", metavar="FILE.csv", help="write here (atomically) instead of stdout")

    export = commands.add_parser("export", help="export a spec or a saved model: keras, savedmodel, onnx, tflite",
                                 description="Build SPEC (or load MODEL.keras) and export it with Keras's and "
                                             "TensorFlow's own exporters.")
    export.add_argument("source", metavar="SPEC_OR_MODEL")
    export.add_argument("--format", required=True, choices=("keras", "savedmodel", "onnx", "tflite"))
    export.add_argument("-o", "--output", required=True, metavar="PATH")
    _add_set(export)

    plot = commands.add_parser("plot", help="draw a spec: layer names and output shapes (PNG or SVG)",
                               description="Draw SPEC with Keras's plot_model (needs pydot and Graphviz's dot).")
    plot.add_argument("spec", metavar="SPEC")
    plot.add_argument("-o", "--output", required=True, metavar="FILE.png|FILE.svg")
    plot.add_argument("--collapse-blocks", action="store_true", help="draw each block instance as one node")
    _add_set(plot)

    importing = commands.add_parser("import", help="turn a saved Keras model into a spec",
                                    description="Write the spec of MODEL.keras (a Sequential or Functional "
                                                "model of registered layers); it builds back into the same "
                                                "network.")
    importing.add_argument("model", metavar="MODEL.keras")
    importing.add_argument("-o", "--output", required=True, metavar="SPEC.yaml")

    schema = commands.add_parser("schema", help="print the JSON Schema of the spec language (for editors)",
                                 description="Print the spec language's JSON Schema (draft 2020-12), generated "
                                             "from the registry and the validator's own definitions.")
    schema.add_argument("-o", "--output", metavar="FILE.json", help="write here (atomically) instead of stdout")

    layers = commands.add_parser("layers", help="list the layer types a spec can use, with their arguments",
                                 description="List every registered layer type, or one type's arguments.")
    layers.add_argument("type", nargs="?", metavar="TYPE")
    return parser


def _add_saved_model_options(parser):
    parser.add_argument("model", metavar="MODEL.keras")
    parser.add_argument("--data", required=True, metavar="DATA")
    parser.add_argument("--label", metavar="COLUMN", help="the label column of a CSV file")


def _add_training_options(parser):
    parser.add_argument("--data", required=True, metavar="DATA",
                        help="'digits' (built in), a .npz (x, y) or .csv file, or a folder of class sub-folders "
                             "(images or .txt)")
    parser.add_argument("--out", metavar="DIR", help="the run folder (default: runs/SPEC_NAME)")
    parser.add_argument("--epochs", type=int, metavar="N", help="override training.epochs")
    parser.add_argument("--batch-size", type=int, metavar="N", help="override training.batch_size")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                        help="cpu: train on the CPU even where a GPU exists; auto (default): GPUs when present")
    parser.add_argument("--distribute", choices=("none", "mirrored", "multi-worker"), default="none",
                        help="mirrored: all local GPUs (or CPU devices); multi-worker: the cluster in TF_CONFIG")
    parser.add_argument("--cpu-devices", type=int, metavar="N",
                        help="split the CPU into N logical devices (to try --distribute mirrored without GPUs)")
    parser.add_argument("--mixed-precision", action="store_true", help="float16 compute on GPUs")
    parser.add_argument("--label", metavar="COLUMN", help="the label column of a CSV file (default: 'label' "
                                                          "or the last column)")


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
    for category in (FutureWarning, DeprecationWarning):     # library internals, not the user's business
        warnings.filterwarnings("ignore", category=category, module=r"(keras|tf2onnx|tensorflow|jax)(\.|$)")
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
            kind = _validate_one(validate, path, overrides)
        except SpecError as err:
            print(err.render(), file=sys.stderr)
            failed += 1
        else:
            print(f"{path}: ok{kind}")
    return 1 if failed else 0


def _validate_one(validate, path, overrides) -> str:
    """Validate a spec, or the blocks of a block library (a file with only
    description, imports and blocks)."""
    from . import spec
    from .errors import in_source
    source = loader.load_file(path)
    if isinstance(source.data, dict) and source.data and set(source.data) <= {"description", "imports", "blocks"}:
        with in_source(source):
            blocks = spec.library_blocks(source)
        return f" (block library: {', '.join(blocks)})"
    validate(path, overrides=overrides)
    return ""


def cmd_build(args) -> int:
    from . import build_model, load_spec
    if args.output and not args.output.endswith(".keras"):
        raise SpecError(f"-o takes a .keras file name, got {args.output!r}")
    spec = load_spec(args.spec, overrides=parse_overrides(args.overrides))
    model = build_model(spec)
    model.summary()
    from .cost import model_macs
    macs = model_macs(model)
    _print_macs(macs)
    if args.output:
        from .files import atomic_path
        with atomic_path(args.output, suffix=".keras") as temporary:
            model.save(temporary)
        print(f"saved {args.output}")
    if args.json:
        facts = model_facts(model)
        facts["macs"] = sum(m for _, _, m in macs)
        facts["macs_by_layer"] = {name: m for name, _, m in macs if m}
        print(json.dumps(facts))
    return 0


def _print_macs(macs):
    counted = [(name, kind, m) for name, kind, m in macs if m]
    total = sum(m for _, _, m in counted)
    if not total:
        print("\nMultiply-accumulates per example: none counted (no convolution, dense, recurrent or attention layer)")
        return
    width = max([len(name) for name, _, _ in counted] + [5])
    print("\nMultiply-accumulates per example (convolutions, dense, recurrent, attention):")
    for name, kind, m in counted:
        print(f"  {name:<{width}}  {kind:<22} {m:>16,}  {m / total:6.1%}")
    print(f"  {'total':<{width}}  {'':<22} {total:>16,}  ({total / 1e9:.3f} G)")


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


def _positive(value, flag):
    if value is not None and value < 1:
        raise SpecError(f"{flag} must be a positive integer, got {value}")


def cmd_train(args) -> int:
    from . import load_spec, training
    _positive(args.epochs, "--epochs")
    _positive(args.batch_size, "--batch-size")
    training.configure_devices(args.device, args.cpu_devices)
    spec = load_spec(args.spec, overrides=_training_overrides(args, parse_overrides(args.overrides)))
    out = args.out or os.path.join("runs", spec.name)
    metrics = training.train(spec, args.data, out, epochs=args.epochs, batch_size=args.batch_size,
                             resume=args.resume, distribute=args.distribute,
                             mixed_precision=args.mixed_precision, label=args.label)
    print(json.dumps(metrics))
    if args.distribute != "multi-worker" or training.is_chief():
        print(f"wrote {out}/model.keras, metrics.json, history.csv, history.json, logs/")
    return 0


def _training_overrides(args, overrides):
    if args.mixed_precision:
        overrides.setdefault("output.dtype", "float32")     # softmax in float32 under mixed precision
    return overrides


def cmd_sweep(args) -> int:
    import itertools
    import tempfile

    from . import load_spec, training
    training.configure_devices(args.device, args.cpu_devices)
    fixed, swept = {}, {}
    for item in args.overrides:
        path, sep, value = item.partition("=")
        if not sep:
            raise SpecError(f"--set takes PATH=VALUE, got {item!r}")
        if "," in value and not value.lstrip().startswith(("[", "{")):
            swept[path.strip()] = [v.strip() for v in value.split(",")]
        else:
            fixed[path.strip()] = loader.parse_override_value(value)
    if not swept:
        raise SpecError("sweep needs at least one --set PATH=V1,V2,... with several values")
    variants = [dict(zip(swept, values)) for values in itertools.product(*swept.values())]
    specs = []
    for variant in variants:        # check every variant before training any
        overrides = {**fixed, **{k: loader.parse_override_value(v) for k, v in variant.items()}}
        specs.append(load_spec(args.spec, overrides=_training_overrides(args, overrides)))
    base = args.out or tempfile.mkdtemp(prefix="sweep-")
    rows = []
    for variant, spec in zip(variants, specs):
        label = ",".join(f"{v}" for v in variant.values())
        print(f"\n=== {label}", flush=True)
        metrics = training.train(spec, args.data, os.path.join(base, label.replace("/", "_")), epochs=args.epochs,
                                 batch_size=args.batch_size, distribute=args.distribute,
                                 mixed_precision=args.mixed_precision, verbose=2, label=args.label)
        per_epoch = metrics["seconds"] / max(1, metrics["epochs"])
        accuracy = metrics.get("val_accuracy", metrics.get("test_accuracy"))
        rows.append((label, accuracy, metrics.get("test_accuracy"), metrics["params"], per_epoch))
    if not args.out:
        import shutil
        shutil.rmtree(base, ignore_errors=True)
    swept_names = ", ".join(swept)
    print(f"\n| {swept_names} | val accuracy | test accuracy | parameters | seconds / epoch |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, accuracy, test, params, per_epoch in rows:
        show = (lambda v: "n/a" if v is None else f"{v:.4f}")
        print(f"| {label} | {show(accuracy)} | {show(test)} | {params:,} | {per_epoch:.2f} |")
    return 0


def cmd_evaluate(args) -> int:
    from . import training
    print(json.dumps(training.evaluate(args.model, args.data, label=args.label)))
    return 0


def cmd_predict(args) -> int:
    import csv
    import io

    from . import training
    rows, header = training.predict(args.model, args.data, label=args.label)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    if args.output:
        from .files import write_atomic
        write_atomic(args.output, text.getvalue().encode())
        print(f"wrote {len(rows)} predictions to {args.output}")
    else:
        sys.stdout.write(text.getvalue())
    return 0


def cmd_export(args) -> int:
    from . import export
    model = export.load_model_or_spec(args.source, overrides=parse_overrides(args.overrides))
    print(f"wrote {export.export(model, args.format, args.output)} ({args.format})")
    return 0


def cmd_plot(args) -> int:
    from . import load_spec, plot
    spec = load_spec(args.spec, overrides=parse_overrides(args.overrides))
    print(f"wrote {plot.plot(spec, args.output, collapse_blocks=args.collapse_blocks)}")
    return 0


def cmd_import(args) -> int:
    from . import importer, training
    from .files import write_atomic
    model = training.load_trained(args.model)
    relative = os.path.relpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "spec.schema.json"),
                               os.path.dirname(os.path.abspath(args.output)))
    header = (f"# yaml-language-server: $schema={relative}\n"
              f"# Imported from {os.path.basename(args.model)} by `cli.py import`.")
    text = importer.to_spec(model, header=header)
    write_atomic(args.output, text.encode())
    print(f"wrote {args.output} ({len(text.splitlines())} lines)")
    return 0


def cmd_schema(args) -> int:
    from . import spec_schema
    text = spec_schema.render()
    if args.output:
        from .files import write_atomic
        write_atomic(args.output, text.encode())
    else:
        sys.stdout.write(text)
    return 0


COMMANDS = {"build": cmd_build, "validate": cmd_validate, "train": cmd_train, "sweep": cmd_sweep,
            "evaluate": cmd_evaluate, "predict": cmd_predict, "export": cmd_export, "plot": cmd_plot, "import": cmd_import, "schema": cmd_schema,
            "layers": cmd_layers}


if __name__ == "__main__":
    sys.exit(main())
