"""Hyperparameter search over a spec's `search:` section with KerasTuner's
oracles (random search, Bayesian optimization, Hyperband). Every trial is a
complete run folder named after its values; the best spec is written out."""

from __future__ import annotations

import os

from ..errors import BuilderError, SpecError
from ..files import write_atomic
from ..spec.resolved import resolved_yaml
from . import trials
from .run import load_for_training, train

ALGORITHMS = trials.ALGORITHMS


def default_out(spec_name: str) -> str:
    return os.path.join("runs", f"{spec_name}-search")


def search(
    path,
    data,
    *,
    algorithm="random",
    trials_count=10,
    fixed=None,
    out=None,
    epochs=None,
    seed=0,
    mixed_precision=False,
    limits=None,
    **options,
) -> tuple[list[dict], str]:
    """Run `trials_count` trials of the spec at `path` over its `search:`
    space, into `out/NN-PATH=VALUE,...`; returns (rows best first, the best
    spec's path, out/best.yaml)."""
    keras_tuner = _keras_tuner()
    base_spec = load_for_training(path, fixed or {}, mixed_precision, limits)
    if not base_spec.search:
        raise SpecError(
            "the spec has no `search:` section: add one, e.g. `search: {defaults.activation: "
            "[relu, swish]}` (docs/search.md)"
        )
    space = base_spec.search
    _check_paths(path, fixed, space, mixed_precision, limits)
    base = out or default_out(base_spec.name)
    max_epochs = epochs or base_spec.training.epochs
    objective = _objective(base_spec)
    oracle = _oracle(keras_tuner, algorithm, space, trials_count, max_epochs, seed, keras_tuner.Objective(*objective))
    if os.path.isdir(base) and any(not e.startswith(".") for e in os.listdir(base)):
        raise BuilderError(f"{base} holds an earlier search; choose another --out (nothing was trained)")
    rows: list[dict] = []
    failures: list = []
    options.setdefault("verbose", 2)  # one plain line per epoch: trials are compared, not watched

    def run_trial(trial):
        try:
            return trial_run(trial)
        except Exception as err:  # noqa: BLE001 - KerasTuner would count it and go on; the search stops
            failures.append(err)
            raise keras_tuner.errors.FatalError(str(err)) from err

    def trial_run(trial):
        values = {p: trial.hyperparameters.get(_hp_name(p)) for p in space}
        trial_epochs = trial.hyperparameters.values.get("tuner/epochs", max_epochs)
        folder = os.path.join(base, f"{len(rows) + 1:02d}-{trials.folder_name(values)}")
        print(f"\n=== trial {len(rows) + 1}: {trials.folder_name(values)}", flush=True)
        spec = load_for_training(path, {**(fixed or {}), **values}, mixed_precision, limits)
        metrics = train(
            spec,
            data,
            folder,
            epochs=trial_epochs,
            mixed_precision=mixed_precision,
            record={"command": None, "overrides": {**(fixed or {}), **values}},
            **options,
        )
        rows.append(trials.row(values, metrics, folder))
        return {objective[0]: metrics.get(objective[0], float("nan"))}

    tuner = _tuner(keras_tuner, oracle, run_trial, base)
    try:
        tuner.search(verbose=0)  # the trials print their own lines; the table comes last
    except Exception:  # noqa: BLE001 - a trial's own error is the one to report
        if failures:
            raise failures[0] from None
        raise
    ranked = trials.ranked(rows)
    if not ranked:
        raise BuilderError("the search ran no trial")
    best = load_for_training(path, {**(fixed or {}), **ranked[0]["values"]}, mixed_precision, limits)
    best_path = os.path.join(base, "best.yaml")
    best.source.data.pop("search", None)
    header = (
        f"# The best of {len(ranked)} trials of {os.path.basename(str(path))} ({algorithm} search): "
        f"{trials.folder_name(ranked[0]['values'])}, trained in {ranked[0]['folder']}."
    )
    write_atomic(best_path, resolved_yaml(best, header).encode())
    return ranked, best_path


def _keras_tuner():
    try:
        import keras_tuner
    except ImportError:
        raise BuilderError(
            'search needs KerasTuner: pip install keras-tuner (or pip install "keras-spec-builder[search]")'
        ) from None
    return keras_tuner


def _check_paths(path, fixed, space, mixed_precision, limits):
    """Every path and every end of every range builds a valid spec, before any trial trains."""
    from ..spec.search import candidates

    for key, value in space.items():
        for candidate in candidates(value):
            try:
                load_for_training(path, {**(fixed or {}), key: candidate}, mixed_precision, limits)
            except SpecError as err:
                raise SpecError(f"search.{key} = {trials.text(candidate)}: {err.render()}") from None


def _objective(spec) -> tuple[str, str]:
    """What the oracle optimizes, as the trials table ranks: validation
    accuracy for classifiers, else validation loss (training loss without validation)."""
    from .compile import task_of

    if spec.training.validation_split <= 0:
        return ("loss", "min")
    return ("val_accuracy", "max") if task_of(spec) in ("classifier", "binary") else ("val_loss", "min")


def _hp_name(path: str) -> str:
    return path.replace("/", "_")


def _oracle(keras_tuner, algorithm, space, trials_count, max_epochs, seed, objective):
    from ..spec.search import space_kind

    hp = keras_tuner.HyperParameters()
    for path, value in space.items():
        kind = space_kind(value)
        if kind == "choice":
            hp.Choice(_hp_name(path), value)
        elif kind == "int":
            hp.Int(_hp_name(path), *value["int"], step=value.get("step", 1), sampling=value.get("sampling", "linear"))
        else:
            hp.Float(_hp_name(path), *value["float"], step=value.get("step"), sampling=value.get("sampling", "linear"))
    common = dict(objective=objective, hyperparameters=hp, allow_new_entries=False, tune_new_entries=False, seed=seed)
    if algorithm == "random":
        return keras_tuner.oracles.RandomSearchOracle(max_trials=trials_count, **common)
    if algorithm == "bayesian":
        return keras_tuner.oracles.BayesianOptimizationOracle(max_trials=trials_count, **common)
    if algorithm == "hyperband":
        return keras_tuner.oracles.HyperbandOracle(
            max_epochs=max_epochs, factor=3, hyperband_iterations=1, max_consecutive_failed_trials=1, **common
        )
    raise SpecError(f"--algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")


def _tuner(keras_tuner, oracle, run_trial, base):
    class SpecTuner(keras_tuner.Tuner):
        """A tuner whose trial is a training run of the spec with the trial's values."""

        def run_trial(self, trial, *args, **kwargs):
            return run_trial(trial)

    return SpecTuner(oracle=oracle, directory=os.path.join(base, ".keras_tuner"), project_name="search", overwrite=True)
