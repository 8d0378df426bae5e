"""The command line: `python cli.py COMMAND ...` (or `keras-builder COMMAND ...`).

A thin layer over the library: each command parses its flags and calls one
library function. A bad flag is a usage error (argparse's message, exit 2).
Every failure is one line on stderr and a non-zero exit: the library's
BuilderError (a SpecError reads `FILE:LINE:COL: error: PATH: message`), a
file that cannot be read or written, running out of memory, Ctrl-C (exit
130), a closed pipe. `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import io
import json
import logging
import os
import shlex
import sys
import warnings

from .errors import BuilderError, BuilderWarning, FlagError, SpecError, first_line, is_out_of_memory
from .files import check_output, target_of
from .spec import overrides as overrides_module

# Libraries' notices that do not concern the user (TensorFlow's tf.function retracing,
# tf2onnx's "TF freezing failed ... Attempting to fix"): errors only, unless --verbose or --debug.
QUIET_LOGGERS = ("tensorflow", "tf2onnx", "absl")


def main(argv=None, prog=None) -> int:
    """The command line; `prog`: the program's name in messages (`keras-builder`,
    `python -m builder`; default from how it was started, else cli.py)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = prog or ("keras-builder" if os.path.basename(sys.argv[0]) == "keras-builder" else "cli.py")
    args = _parser(prog).parse_args(argv)
    _merge_global_flags(args)
    args.argv = argv  # for a run's record
    args.prog = prog
    if args.backend:  # before Keras is first imported (commands import it lazily)
        os.environ["KERAS_BACKEND"] = args.backend
    args.backend_note = None
    for category in (FutureWarning, DeprecationWarning, UserWarning):  # library internals, not the user's business
        warnings.filterwarnings("ignore", category=category, module=r"(keras|tf2onnx|tensorflow|jax)(\.|$)")
    if not (args.debug or getattr(args, "verbose", False)):
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
    try:
        if args.command == "train" and args.distribute in ("data-parallel", "model-parallel"):  # on JAX
            from .training import distribution

            args.backend_note = distribution.use_jax(args.backend, args.distribute)
        with warnings.catch_warnings():
            shown = warnings.showwarning

            def show(message, category, *rest, **options):  # the builder's warnings: their own one line
                if issubclass(category, BuilderWarning):
                    print(message, file=sys.stderr, flush=True)
                else:
                    shown(message, category, *rest, **options)

            warnings.showwarning = show
            from . import plugins

            plugins.load_installed()
            for module in args.plugin or ():
                plugins.load(module)
            return COMMANDS[args.command].run(args)
    except BaseException as err:  # noqa: BLE001 - every failure is one line, unless --debug
        if args.debug or isinstance(err, SystemExit):
            raise
        code, line = failure(err, argv, prog)
        if line:
            with contextlib.suppress(OSError):
                print(line, file=sys.stderr, flush=True)
        return code


def console(prog=None) -> int:
    """main() as a process's entry point (cli.py, `python -m builder`,
    `keras-builder`), with its start and exit made quick: Keras is imported
    with the garbage collector paused (backend.quick_imports), and the exit
    skips the interpreter's last collection, which would walk every object
    Keras and TensorFlow made, about a second on two cores, to free memory
    the exit frees anyway. Files are closed and atexit functions run as usual."""
    from . import backend

    backend.quick_imports()
    code = main(prog=prog)
    gc.freeze()
    return code


def failure(err: BaseException, argv, prog="cli.py") -> tuple[int, str]:
    """(exit status, the one line on stderr) for a failure."""
    from .training.interrupt import TrainingStopped

    if isinstance(err, TrainingStopped) and err.resumable:
        return err.exit_code, f"{err.render()}; resume with: {_resume_command(argv, err.out, prog)}"
    if isinstance(err, TrainingStopped):
        return err.exit_code, f"{err.render()}; no epoch was completed: train again without --resume"
    if isinstance(err, BuilderError):
        return 1, err.render()
    if isinstance(err, KeyboardInterrupt):
        return 130, "error: interrupted"
    if isinstance(err, BrokenPipeError):  # `cli.py layers | head`: the reader has gone
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141, ""
    if is_out_of_memory(err):
        return 1, "error: out of memory: the model or a batch does not fit (try a smaller model or batch size)"
    if isinstance(err, OSError):
        where = f"{target_of(err.filename)}: " if err.filename else ""
        return 1, f"error: {where}{err.strerror or err}"
    return 1, f"error: internal error ({first_line(err, named=True)}); run again with --debug for the traceback"


def _resume_command(argv, out, prog="cli.py") -> str:
    args = list(argv)
    if "--out" not in args:
        args += ["--out", out]
    if "--resume" not in args:
        args.append("--resume")
    return " ".join(shlex.quote(a) for a in [*_command(prog), *args])


def _command(prog) -> list:
    """How this program was started, as a command to give back (a resume, a run's record)."""
    started = sys.argv[0] if os.path.basename(sys.argv[0] or "") == "cli.py" else "cli.py"
    return {"keras-builder": ["keras-builder"], "python -m builder": ["python", "-m", "builder"]}.get(
        prog, ["python", started]
    )


# --- the commands ------------------------------------------------------------------------


def cmd_validate(args) -> int:
    from .spec.load import check_file

    failed = 0
    for path in args.specs:
        try:
            checked = check_file(path, overrides=_overrides(args), limits=_limits(args))
            if not isinstance(checked, dict) and checked.spec.training.distribution is not None:
                from .keras.assemble import check_layout

                check_layout(checked)  # against the model's weights: built, without their values
        except SpecError as err:
            print(err.render(), file=sys.stderr)
            failed += 1
        else:
            print(f"{path}: ok" + (f" (block library: {', '.join(checked)})" if isinstance(checked, dict) else ""))
    return 1 if failed else 0


def cmd_build(args) -> int:
    from . import describe
    from .keras.assemble import build
    from .keras.describe import macs_table

    if args.output and not args.output.endswith(".keras"):
        raise FlagError(f"-o takes a .keras file name, got {args.output!r}")
    if args.output:
        check_output(args.output, args.overwrite)
    model = build(
        args.spec, overrides=_overrides(args), limits=_limits(args), weights=args.weights, report=_print_lines
    )
    model.summary()
    print("\n" + macs_table(model))
    if args.output:
        from .io.export import export

        export(model, "keras", args.output, overwrite=args.overwrite)
        print(f"saved {args.output}")
    if args.json:
        print(json.dumps(describe(model)))
    return 0


def cmd_layers(args) -> int:
    from .catalogue import registry
    from .spec.arguments import expected

    if args.excluded:
        width = max(len(name) for name in registry.EXCLUDED)
        print("keras.layers classes a spec does not name, and why:")
        for name, why in sorted(registry.EXCLUDED.items()):
            print(f"  {name:<{width}}  {why}")
        return 0
    if args.type is None:
        width = max(len(name) for name in registry.LAYERS)
        for name, layer_type in sorted(registry.LAYERS.items()):
            plugin = f"  [plug-in: {layer_type.module}]" if layer_type.plugin_class is not None else ""
            print(f"{name:<{width}}  {layer_type.doc}{plugin}")
        print(f"\nActivations (as `activation:` or as an entry): {', '.join(registry.activation_names())}")
        return 0
    if args.type not in registry.LAYERS and args.type in registry.activation_names():
        print(
            f"{args.type}: an activation function; use it as `activation: {args.type}` on a layer or in "
            f"`defaults`, or as the entry `- {args.type}`"
        )
        return 0
    layer_type = registry.get(args.type)
    print(f"{layer_type.name}  ({layer_type.qualname})\n  {layer_type.doc}")
    if layer_type.short:
        print(f"  short form: `- {layer_type.name}: VALUE` sets {layer_type.short}")
    print("  arguments:")
    for arg, info in layer_type.args.items():
        default = "required" if info.get("required") else f"default {json.dumps(info.get('default'))}"
        print(f"    {arg}: {expected(layer_type, arg)}; {default}")
    if layer_type.example:
        example = layer_type.example
        print(
            f"  example: input {json.dumps(example.get('input', example.get('inputs')))}, "
            f"`- {layer_type.name}: {json.dumps(example.get('args', {}))}`"
        )
    return 0


def cmd_train(args) -> int:
    where = _cluster(args)
    from .training import devices, run
    from .training.folder import RunFolder, default_out
    from .training.settings import RunSettings

    devices.configure_devices(args.device, args.cpu_devices)
    spec = run.load_for_training(args.spec, _overrides(args), args.mixed_precision, limits=_limits(args))
    out = args.out or default_out(spec.name, args.resume)
    if where.launches:  # every process trains into the same --out
        from .training import distribution

        return distribution.launch(args.prog, [*args.argv, *(() if args.out else ("--out", out))], where.processes)
    record = {
        "command": shlex.join([*_command(args.prog), *args.argv]),
        "overrides": overrides_module.read_values(_overrides(args)),
    }
    verbose = 0 if args.quiet else 1 if args.verbose else "auto"
    settings = RunSettings.make(
        spec,
        args.data,
        out,
        resume=args.resume,
        mixed_precision=args.mixed_precision,
        weights=args.weights,
        vocabulary=args.vocabulary,
        record=record,
        verbose=verbose,
        cluster=where,
        **_run_flags(args),
    )
    metrics = run.train_run(spec, settings).metrics
    print("\n".join(run.results_table(metrics)))
    if where.chief:
        print(f"wrote {out}/: {', '.join(RunFolder.listed_in(out))}")
    if args.json:
        print(json.dumps(metrics))
    return 0


def _cluster(args):
    """The processes that train (--distribute data- or model-parallel), with JAX made the backend before Keras starts;
    processes other than 0 keep their output off the terminal."""
    from .training import distribution

    flags = (args.processes, args.coordinator, args.process_id)
    if args.distribute not in ("data-parallel", "model-parallel"):
        if any(flag is not None for flag in flags):
            raise FlagError(
                "--processes, --coordinator and --process-id go with --distribute data-parallel or model-parallel"
            )
        if args.backend_note:
            print(args.backend_note, flush=True)
        return distribution.Cluster(None)
    where = distribution.cluster(args.coordinator, args.processes, args.process_id)
    if args.backend_note and where.chief:
        print(args.backend_note, flush=True)
    if not where.chief:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    return where


def _run_flags(args) -> dict:
    """The flags train, sweep and search share, as RunSettings.make takes them."""
    return {"epochs": args.epochs, "batch_size": args.batch_size, "distribute": args.distribute, "label": args.label}


def _one_process(args) -> None:
    if args.distribute in ("data-parallel", "model-parallel"):
        raise FlagError(
            f"--distribute {args.distribute}: {args.command} trains its trials one at a time; train does it"
        )


def cmd_sweep(args) -> int:
    from .training import devices, sweep, trials

    _one_process(args)
    devices.configure_devices(args.device, args.cpu_devices)
    fixed, swept = {}, {}
    for item in args.overrides:
        path, value = overrides_module.split_assignment(item)
        if "," in value and not value.lstrip().startswith(("[", "{")):
            swept[path] = [overrides_module.parse_override_value(v.strip()) for v in value.split(",")]
        else:
            fixed[path] = value  # text, read as YAML where the spec is loaded
    if not swept:
        raise FlagError("sweep needs at least one --set PATH=V1,V2,... with several values")
    variants = trials.Variants(args.spec, fixed, args.mixed_precision, _limits(args))
    rows = sweep.sweep(variants, args.data, swept, out=args.out, resume=args.resume, **_run_flags(args))
    print("\n" + trials.table(rows))
    return 0


def cmd_search(args) -> int:
    from .training import devices, search, trials

    _one_process(args)
    devices.configure_devices(args.device, args.cpu_devices)
    variants = trials.Variants(args.spec, _overrides(args), args.mixed_precision, _limits(args))
    rows, best = search.search(
        variants,
        args.data,
        algorithm=args.algorithm,
        trials_count=args.trials,
        out=args.out,
        resume=args.resume,
        **_run_flags(args),
    )
    print("\n" + trials.table(rows))
    print(f"\nwrote the best spec to {best}")
    return 0


def cmd_evaluate(args) -> int:
    from .training import saved

    print(
        json.dumps(saved.evaluate(args.model, args.data, label=args.label, weights=args.weights, report=_print_lines))
    )
    return 0


def cmd_predict(args) -> int:
    from .training import saved

    if args.output:
        check_output(args.output, args.overwrite)
    predicted = saved.predict(args.model, args.data, label=args.label, top_k=args.top_k, threshold=args.threshold)
    if predicted.files is not None:
        return _write_files(predicted.files, args.output, args.overwrite)
    rows, header = predicted.rows, predicted.header
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    if args.output:
        from .files import write_atomic

        write_atomic(args.output, text.getvalue().encode(), overwrite=args.overwrite)
        print(f"wrote {len(rows)} predictions to {args.output}")
    else:
        sys.stdout.write(text.getvalue())
    return 0


def _write_files(files: dict, folder, overwrite) -> int:
    """Predictions that are files (segmentation's masks), into the folder -o
    names: made whole under a staging name beside it, then renamed into place."""
    from .files import publish

    if not folder:
        raise FlagError("this model predicts a mask per image: name the folder to write them to with -o FOLDER")
    with publish(folder, overwrite=overwrite) as staging:
        os.makedirs(staging)
        for name, content in files.items():
            with open(os.path.join(staging, name), "wb") as handle:
                handle.write(content)
    print(f"wrote {len(files)} masks to {folder}/")
    return 0


def cmd_generate(args) -> int:
    from .training import saved

    print(saved.generate(args.model, args.prompt, args.max_length, args.sampler, args.seed))
    return 0


def cmd_export(args) -> int:
    from .io import export

    check_output(args.output, args.overwrite)
    model = export.load_model_or_spec(
        args.source, overrides=_overrides(args), limits=_limits(args), weights=args.weights, report=_print_lines
    )
    print(f"wrote {export.export(model, args.format, args.output, overwrite=args.overwrite)} ({args.format})")
    return 0


def cmd_plot(args) -> int:
    from . import load_spec
    from .io import plot

    check_output(args.output, args.overwrite)
    spec = load_spec(args.spec, overrides=_overrides(args), limits=_limits(args))
    print(f"wrote {plot.plot(spec, args.output, collapse_blocks=args.collapse_blocks, overwrite=args.overwrite)}")
    return 0


def cmd_serve(args) -> int:
    from .view import server

    server.serve(args.target, host=args.host, port=args.port, failure=lambda err: failure(err, args.argv, args.prog)[1])
    return 0


def cmd_import(args) -> int:
    from .io import json_schema, keras_import
    from .training.saved import load_trained

    weights = None if args.no_weights else keras_import.weights_path_of(args.output)
    for target in (args.output, weights):
        if target is not None:
            check_output(target, args.overwrite)
    model = load_trained(args.model)
    relative = os.path.relpath(json_schema.TARGET, os.path.dirname(os.path.abspath(args.output)))
    header = (
        f"# yaml-language-server: $schema={relative}\n"
        f"# Imported from {os.path.basename(args.model)} by `cli.py import`."
    )
    text = keras_import.import_model(
        model, args.output, weights, compact=not args.flat, overwrite=args.overwrite, header=header
    )
    print(f"wrote {args.output} ({len(text.splitlines())} lines)" + (f" and {weights}" if weights else ""))
    return 0


def cmd_schema(args) -> int:
    from .io import json_schema

    text = json_schema.render()
    if args.output:
        from .files import write_atomic

        write_atomic(args.output, text.encode(), overwrite=args.overwrite)
    else:
        sys.stdout.write(text)
    return 0


def _overrides(args) -> dict:
    assignments = overrides_module.assignments(args.overrides)  # text: load_spec reads it as YAML
    if getattr(args, "scale", None) is not None:
        assignments["scale"] = args.scale
    return assignments


def _print_lines(lines):
    print("\n".join(lines), flush=True)


def _limits(args) -> dict:
    return {"max_params": args.max_params, "max_activation": args.max_activation}


# --- flags -------------------------------------------------------------------------------


def _probability(text) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a probability from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a probability from 0 to 1, got {text!r}")
    return value


def _positive(text) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


MAX_CPU_DEVICES = 64  # TensorFlow takes minutes to make 100,000 logical devices, for nothing


def _cpu_devices(text) -> int:
    value = _positive(text)
    if value > MAX_CPU_DEVICES:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_CPU_DEVICES} logical CPU devices, got {value}")
    return value


def _weights_flag(parser):
    parser.add_argument(
        "--weights",
        metavar="FILE",
        help="start from these weights (.keras: layers matched by "
        "name; .weights.h5: by Keras's keys, class and number), instead of the spec's `weights:`",
    )


def _overwrite_flag(parser):
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the output if it exists (only it: nothing beside it is touched)",
    )


def _set_flag(parser):
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a value before validation, e.g. --set defaults.activation=prelu "
        "or --set layers.3.conv2d.filters=128 (VALUE is read as YAML)",
    )
    parser.add_argument(
        "--scale",
        metavar="NAME",
        help="build the spec at one of its `scales:` (ResNet's 50, 101, 152; DenseNet's 121, 169, 201)",
    )
    parser.add_argument(
        "--max-params",
        type=_positive,
        metavar="N",
        help="refuse models with more weights than this (default: 1,000,000,000)",
    )
    parser.add_argument(
        "--max-activation",
        type=_positive,
        metavar="N",
        help="refuse inputs and layer outputs with more values per example than this (default: 1,000,000,000)",
    )


def _saved_model_flags(parser):
    parser.add_argument("model", metavar="MODEL.keras")
    parser.add_argument("--data", required=True, metavar="DATA")
    parser.add_argument("--label", metavar="COLUMN", help="the label column of a CSV file")


def _search_flags(parser):
    from .training.trials import ALGORITHMS

    _training_flags(parser)
    parser.add_argument(
        "--algorithm",
        choices=ALGORITHMS,
        default="random",
        help="KerasTuner's random search (default), Bayesian optimization or Hyperband",
    )
    parser.add_argument(
        "--trials",
        type=_positive,
        default=10,
        metavar="N",
        help="how many trials (random, bayesian; Hyperband plans its own from the epochs)",
    )
    _resume_flag(parser, "continue the search in --out: finished trials are kept, a stopped one continues")


def _evaluate_flags(parser):
    _saved_model_flags(parser)
    parser.add_argument(
        "--weights",
        metavar="FILE",
        help="evaluate with these weights (a checkpoint's .keras or a "
        ".weights.h5 of the same network) instead of the model's own",
    )


def _training_flags(parser):
    from .training import sources
    from .training.devices import DEVICES, DISTRIBUTE

    parser.add_argument("spec", metavar="SPEC")
    parser.add_argument(
        "--data",
        required=True,
        metavar="DATA",
        help=sources.help_text(),
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="the run folder (default: runs/SPEC_NAME, or runs/SPEC_NAME-2, -3, ... where it exists; --resume: "
        "the last of them; for sweep and search, the folder of their runs: runs/SPEC_NAME-sweep, "
        "runs/SPEC_NAME-search, numbered likewise)",
    )
    parser.add_argument("--epochs", type=_positive, metavar="N", help="override training.epochs")
    parser.add_argument("--batch-size", type=_positive, metavar="N", help="override training.batch_size")
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="cpu: train on the CPU even where a GPU exists; auto (default): GPUs when present",
    )
    parser.add_argument(
        "--distribute",
        choices=DISTRIBUTE,
        default="none",
        help="data-parallel: keras.distribution on JAX, one process or several (--processes); model-parallel: "
        "the weights split over the devices of one process or several as training.distribution says; "
        "mirrored: tf.distribute over this host's GPUs (or CPU devices)",
    )
    parser.add_argument(
        "--cpu-devices",
        type=_cpu_devices,
        metavar="N",
        help=f"split the CPU into N logical devices, at most {MAX_CPU_DEVICES} (to try --distribute mirrored "
        "without GPUs)",
    )
    parser.add_argument("--mixed-precision", action="store_true", help="float16 compute on GPUs")
    parser.add_argument(
        "--label", metavar="COLUMN", help="the label column of a CSV file (default: 'label' or the last column)"
    )
    _set_flag(parser)


def _build_flags(parser):
    parser.add_argument("spec", metavar="SPEC", help="a YAML spec file")
    parser.add_argument("-o", "--output", metavar="OUT.keras", help="save the model here (written atomically)")
    _overwrite_flag(parser)
    _weights_flag(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help="end with one JSON line: name, params, "
        "trainable_params, layers, input_shape, output_shape, macs, macs_by_layer",
    )
    _set_flag(parser)


def _validate_flags(parser):
    parser.add_argument("specs", nargs="+", metavar="SPEC")
    _set_flag(parser)


def _resume_flag(parser, help_text):
    parser.add_argument("--resume", action="store_true", help=help_text)


def _sweep_flags(parser):
    _training_flags(parser)
    _resume_flag(parser, "continue the sweep in --out: variants that finished are kept, a stopped one continues")


def _train_flags(parser):
    _training_flags(parser)
    _weights_flag(parser)
    parser.add_argument(
        "--vocabulary",
        metavar="FILE",
        help="text tasks: the tokenizer's vocabulary, one token per line ([PAD] first, [UNK] among them), "
        "instead of one learned from the training split",
    )
    _resume_flag(parser, "continue the run in --out from its last completed epoch")
    _cluster_flags(parser)
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--quiet", action="store_true", help="no per-epoch output, only the results")
    shown.add_argument(
        "--verbose",
        action="store_true",
        help="Keras's progress bar even when the output is "
        "not a terminal (default: a progress bar on a terminal, one plain line per epoch otherwise)",
    )
    parser.add_argument("--json", action="store_true", help="end with the results as one JSON line (metrics.json)")


def _cluster_flags(parser):
    """Several processes for --distribute data- or model-parallel (else Keras's KERAS_DISTRIBUTION_* variables)."""
    parser.add_argument(
        "--processes",
        type=_positive,
        metavar="N",
        help="data- or model-parallel: train as N processes; alone, starts them on this host (127.0.0.1)",
    )
    parser.add_argument("--coordinator", metavar="HOST:PORT", help="several hosts: process 0's address")
    parser.add_argument("--process-id", type=_natural, metavar="I", help="several hosts: this process, 0 to N-1")


def _natural(text) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def _predict_flags(parser):
    _saved_model_flags(parser)
    parser.add_argument(
        "--top-k",
        type=_positive,
        default=1,
        metavar="K",
        help="the K most probable classes of each example, each with its probability",
    )
    parser.add_argument(
        "--threshold",
        type=_probability,
        metavar="P",
        help="a multi-label model: the classes of probability P or more are predicted (default 0.5)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE.csv",
        help="write here (atomically) instead of stdout; a segmentation model's masks: the folder to write them to",
    )
    _overwrite_flag(parser)


def _generate_flags(parser):
    from .training import SAMPLERS

    parser.add_argument("model", metavar="MODEL.keras")
    parser.add_argument("--prompt", required=True, help="the text to continue (a seq2seq model's source text)")
    parser.add_argument(
        "--max-length",
        type=_positive,
        default=None,
        metavar="N",
        help="tokens in all, the prompt's included (default 32); a seq2seq model's target tokens (default: the "
        "longest it was trained on)",
    )
    parser.add_argument(
        "--sampler", choices=SAMPLERS, default="greedy", help="how the next token is chosen (KerasHub's samplers)"
    )
    parser.add_argument("--seed", type=int, default=None, help="the random samplers' seed")


def _export_flags(parser):
    from .io.export import FORMATS

    parser.add_argument("source", metavar="SPEC_OR_MODEL")
    parser.add_argument("--format", required=True, choices=tuple(FORMATS))
    parser.add_argument("-o", "--output", required=True, metavar="PATH")
    _overwrite_flag(parser)
    _weights_flag(parser)
    _set_flag(parser)


def _plot_flags(parser):
    parser.add_argument("spec", metavar="SPEC")
    parser.add_argument("-o", "--output", required=True, metavar="FILE.png|FILE.svg")
    _overwrite_flag(parser)
    parser.add_argument("--collapse-blocks", action="store_true", help="draw each block instance as one node")
    _set_flag(parser)


def _serve_flags(parser):
    parser.add_argument("target", metavar="SPEC_OR_DIR")
    parser.add_argument("--port", type=_port, default=8000, help="the port (default 8000; 0 takes a free one)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: this machine only)"
    )


def _port(text) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return int(text)


def _import_flags(parser):
    parser.add_argument("model", metavar="MODEL.keras")
    parser.add_argument("-o", "--output", required=True, metavar="SPEC.yaml")
    parser.add_argument(
        "--no-weights",
        action="store_true",
        help="write the spec only (by default also SPEC.weights.h5, which the spec names)",
    )
    parser.add_argument("--flat", action="store_true", help="one entry per layer: no blocks, repeats or defaults")
    _overwrite_flag(parser)


def _schema_flags(parser):
    parser.add_argument("-o", "--output", metavar="FILE.json", help="write here (atomically) instead of stdout")
    _overwrite_flag(parser)


def _layers_flags(parser):
    parser.add_argument("type", nargs="?", metavar="TYPE")
    parser.add_argument(
        "--excluded",
        action="store_true",
        help="list the keras.layers classes a spec cannot name, with the reason for each",
    )


class Command:
    def __init__(self, run, flags, help, description):
        self.run, self.flags, self.help, self.description = run, flags, help, description


# The one list of commands: the parser, --help, the README's table and its test read it.
COMMANDS = {
    "build": Command(
        cmd_build,
        _build_flags,
        "build a spec, print its summary, optionally save it",
        "Build SPEC into a Keras model and print its summary and multiply-accumulates.",
    ),
    "validate": Command(
        cmd_validate,
        _validate_flags,
        "check specs without building them (no TensorFlow import)",
        "Check each SPEC (or block library) without importing TensorFlow or Keras.",
    ),
    "train": Command(
        cmd_train,
        _train_flags,
        "train a spec on data; write a run folder",
        "Train SPEC on DATA and write model.keras, the best checkpoint, history, TensorBoard logs "
        "and metrics.json to --out.",
    ),
    "sweep": Command(
        cmd_sweep,
        _sweep_flags,
        "train variants of a spec and compare them in one table",
        "Train one variant per value of each swept --set (PATH=V1,V2,...) and print validation "
        "accuracy, parameters and seconds per epoch side by side.",
    ),
    "search": Command(
        cmd_search,
        _search_flags,
        "search the spec's `search:` space with KerasTuner",
        "Train trials of SPEC with values from its `search:` section (random search, Bayesian "
        "optimization or Hyperband, by KerasTuner), each into its own run folder; print the trials "
        "best first and write the best spec as best.yaml.",
    ),
    "evaluate": Command(
        cmd_evaluate,
        _evaluate_flags,
        "evaluate a saved model on data",
        "Evaluate MODEL.keras on the test split of DATA (the split its training run used, from run.json beside it).",
    ),
    "predict": Command(
        cmd_predict,
        _predict_flags,
        "predict with a saved model; CSV out",
        "Predict every example of DATA with MODEL.keras and write CSV rows: the example (its "
        "row, or its file for new data: an image or text file, a folder of them, a CSV of "
        "features), the predicted class and its probability, and the label where DATA has one.",
    ),
    "generate": Command(
        cmd_generate,
        _generate_flags,
        "continue a prompt with a trained language model, or write a seq2seq model's target",
        "Continue PROMPT with MODEL.keras (a causal_lm run's, its tokenizer.json beside it) to --max-length "
        "tokens, or write the target of the source text PROMPT (a seq2seq run's), choosing each next token "
        "with one of KerasHub's samplers.",
    ),
    "export": Command(
        cmd_export,
        _export_flags,
        "export a spec or a saved model: keras, savedmodel, onnx, tflite",
        "Build SPEC (or load MODEL.keras) and export it with Keras's and TensorFlow's own exporters.",
    ),
    "plot": Command(
        cmd_plot,
        _plot_flags,
        "draw a spec: layer names and output shapes (PNG or SVG)",
        "Draw SPEC with Keras's model_to_dot (needs pydot and Graphviz's dot).",
    ),
    "serve": Command(
        cmd_serve,
        _serve_flags,
        "a live page of a spec's diagram, or of a folder's specs and runs",
        "Serve a local web page that draws SPEC (or each spec in DIR) as a diagram, follows the file "
        "as it is saved, links the diagram to the YAML, and plots the training runs under DIR.",
    ),
    "import": Command(
        cmd_import,
        _import_flags,
        "turn a saved Keras model into a spec",
        "Write the spec of MODEL.keras (a Sequential or Functional model of registered layers), in "
        "blocks, repeats and defaults where the model repeats itself, and its weights beside it "
        "(SPEC.weights.h5, named by the spec): building the spec gives the same network and outputs.",
    ),
    "schema": Command(
        cmd_schema,
        _schema_flags,
        "print the JSON Schema of the spec language (for editors)",
        "Print the spec language's JSON Schema (draft 2020-12), generated from the language's models and the registry.",
    ),
    "layers": Command(
        cmd_layers,
        _layers_flags,
        "list the layer types a spec can use, with their arguments",
        "List every registered layer type, or one type's arguments.",
    ),
}


def _version(prog) -> str:
    """`PROG VERSION (Keras X)`, read from the installed packages' metadata (nothing imported)."""
    from importlib import metadata

    from . import __version__

    try:
        keras_version = metadata.version("keras")
    except metadata.PackageNotFoundError:
        keras_version = "not installed"
    return f"{prog} {__version__} (keras-spec-builder; Keras {keras_version})"


def _parser(prog="cli.py") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Build Keras models from YAML specs.")
    parser.add_argument("--version", action="version", version=_version(prog))
    _global_flags(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.description)
        command.flags(sub)
        _global_flags(sub, after_command=True)
    return parser


def _global_flags(parser, after_command=False):
    """--plugin, --backend and --debug, before the command or after it (where they
    go to a `*_after` place of their own, which _merge_global_flags joins in)."""
    after = "_after" if after_command else ""
    unset = {"default": argparse.SUPPRESS} if after_command else {}
    parser.add_argument(
        "--plugin",
        action="append",
        dest="plugin" + after,
        metavar="MODULE",
        help="import MODULE first: a Python module that registers layer types with "
        "builder.register_layer (repeat for several); installed plug-ins load by themselves",
        **unset,
    )
    parser.add_argument(
        "--backend",
        choices=("tensorflow", "jax", "torch"),
        dest="backend" + after,
        help="the Keras backend (default: KERAS_BACKEND, else Keras's configuration, else tensorflow)",
        **unset,
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        dest="debug" + after,
        help="show a failure's traceback instead of one line",
        **unset,
    )


def _merge_global_flags(args):
    """The global flags as one, wherever on the line they were given (after the command wins for --backend)."""
    args.plugin = [*(args.plugin or ()), *getattr(args, "plugin_after", ())]
    args.backend = getattr(args, "backend_after", None) or args.backend
    args.debug = args.debug or getattr(args, "debug_after", False)


if __name__ == "__main__":
    sys.exit(main())
