"""Hyperparameter search over a spec's `search:` section with KerasTuner's
oracles (random search, Bayesian optimization, Hyperband). Every trial is a
complete run folder named after its values; the best spec is written out."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from ..errors import BuilderError, DependencyError, FlagError, RunFolderError, SpecError
from ..files import write_atomic
from ..spec.resolved import resolved_yaml
from . import data as data_module
from . import folder as folder_module
from . import trials
from .run import train

ALGORITHMS = trials.ALGORITHMS
SEED = 0  # the oracle's: a search tries the same values each time it is run
TUNER = ".keras_tuner"  # KerasTuner's own state, in the search's folder (a resumed search reloads it)


def default_out(spec_name: str, resume: bool = False) -> str:
    return folder_module.default_out(f"{spec_name}-search", resume)


def search(variants: trials.Variants, data, *, algorithm="random", trials_count=10, out=None, resume=False, **options):
    """Run `trials_count` trials of the spec `variants` names over its `search:`
    space, into `out/NN-PATH=VALUE,...`; `options`: RunSettings.make's (`epochs`:
    each trial's most). With `resume`, a search stopped in `out` continues:
    its finished trials are kept (KerasTuner's oracle reloads them), the
    stopped one continues from its last epoch. Returns (rows best first, the
    best spec's path, out/best.yaml)."""
    keras_tuner = _keras_tuner()
    base_spec = variants.load()
    if not base_spec.search:
        raise SpecError(
            "the spec has no `search:` section: add one, e.g. `search: {defaults.activation: "
            "[relu, swish]}` (docs/search.md)"
        )
    space = base_spec.search
    _check_paths(variants, space)
    base = os.fspath(out) if out else default_out(base_spec.name, resume)
    max_epochs = options.pop("epochs", None) or base_spec.training.epochs
    objective = _objective(base_spec)
    oracle = _oracle(keras_tuner, algorithm, space, trials_count, max_epochs, keras_tuner.Objective(*objective))
    if resume and not os.path.isfile(os.path.join(base, TUNER, "search", "oracle.json")):
        raise RunFolderError(f"--resume: {base} holds no search to continue")
    if not resume and os.path.isdir(base) and any(not e.startswith(".") for e in os.listdir(base)):
        raise RunFolderError(
            f"{base} holds an earlier search; continue it with --resume or choose another --out (nothing was trained)"
        )
    options.setdefault("verbose", 2)  # one plain line per epoch: trials are compared, not watched
    runs = _Trials(variants, data, space, base, max_epochs, objective, options)
    if resume:
        runs.rows = _finished_rows(base, space)
    tuner = _tuner(keras_tuner, oracle, lambda trial: runs.run(trial, keras_tuner), base, resume)
    with trials.stopped_in(base):
        try:
            tuner.search(verbose=0)  # the trials print their own lines; the table comes last
        except Exception:  # noqa: BLE001 - a trial's own error is the one to report
            if runs.failures:
                raise runs.failures[0] from None
            raise
    ranked = trials.ranked(runs.rows)
    if not ranked:
        raise BuilderError("the search ran no trial")
    return ranked, _write_best(variants, ranked, base, algorithm)


@dataclasses.dataclass
class _Trials:
    """One search's trials: each trains the spec with the trial's values into a folder of its own."""

    variants: trials.Variants
    data: Any
    space: dict  # the spec's search: section
    base: str  # the search's folder
    max_epochs: int
    objective: tuple  # (metric, direction)
    options: dict  # RunSettings.make's
    rows: list = dataclasses.field(default_factory=list)
    failures: list = dataclasses.field(default_factory=list)

    def run(self, trial, keras_tuner) -> dict:
        try:
            return self.train(trial)
        except Exception as err:  # noqa: BLE001 - KerasTuner would count it and go on; the search stops
            self.failures.append(err)
            raise keras_tuner.errors.FatalError(str(err)) from err

    def train(self, trial) -> dict:
        values = {p: trial.hyperparameters.get(_hp_name(p)) for p in self.space}
        trial_epochs = trial.hyperparameters.values.get("tuner/epochs", self.max_epochs)
        number, name = int(trial.trial_id) + 1, trials.folder_name(values)  # a resumed search reruns a stopped id
        folder = os.path.join(self.base, f"{number:02d}-{name}")
        print(f"\n=== trial {number}: {name}", flush=True)
        record = {"command": None, "overrides": self.variants.overrides(values)}
        metrics = train(
            self.variants.load(values),
            self.data,
            folder,
            epochs=trial_epochs,
            mixed_precision=self.variants.mixed_precision,
            record=record,
            resume=trials.resumable(folder),
            **self.options,
        )
        self.rows.append(trials.row(values, metrics, folder))
        metric = self.objective[0]
        return {metric: metrics.get(metric, float("nan"))}


def _write_best(variants: trials.Variants, ranked: list, base: str, algorithm: str) -> str:
    """out/best.yaml: the best trial's spec, resolved, without its search: section."""
    best = variants.load(ranked[0]["values"])
    best_path = os.path.join(base, "best.yaml")
    best.source.data.pop("search", None)
    header = (
        f"# The best of {len(ranked)} trials of {os.path.basename(str(variants.path))} ({algorithm} search): "
        f"{trials.folder_name(ranked[0]['values'])}, trained in {ranked[0]['folder']}."
    )
    trained = ranked[0]["metrics"].get("epochs")
    if trained != best.training.epochs:
        header += (
            f"\n# That trial trained {trained} epoch(s) (the search's --epochs or its budget); training.epochs "
            f"below is the spec's own, {best.training.epochs}."
        )
    write_atomic(best_path, resolved_yaml(best, header).encode())
    return best_path


def _keras_tuner():
    try:
        import keras_tuner
    except ImportError:
        raise DependencyError(
            'search needs KerasTuner: pip install keras-tuner (or pip install "keras-spec-builder[search]")'
        ) from None
    return keras_tuner


def _check_paths(variants: trials.Variants, space):
    """Every path and every end of every range builds a valid spec, before any trial trains."""
    from ..spec.search import candidates

    for key, value in space.items():
        for candidate in candidates(value):
            try:
                variants.load({key: candidate})
            except SpecError as err:
                raise SpecError(f"search.{key} = {trials.text(candidate)}: {err.render()}") from None


def _objective(spec) -> tuple[str, str]:
    """What the oracle optimizes, as the trials table ranks: validation
    accuracy for classifiers, else validation loss (training loss without validation)."""
    from .tasks import infer

    if spec.training.validation_split <= 0:
        return ("loss", "min")
    return ("val_accuracy", "max") if infer(spec) in ("classification", "binary") else ("val_loss", "min")


def _hp_name(path: str) -> str:
    return path.replace("/", "_")


def _oracle(keras_tuner, algorithm, space, trials_count, max_epochs, objective):
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
    common = dict(objective=objective, hyperparameters=hp, allow_new_entries=False, tune_new_entries=False, seed=SEED)
    if algorithm == "random":
        return keras_tuner.oracles.RandomSearchOracle(max_trials=trials_count, **common)
    if algorithm == "bayesian":
        return keras_tuner.oracles.BayesianOptimizationOracle(max_trials=trials_count, **common)
    if algorithm == "hyperband":
        return keras_tuner.oracles.HyperbandOracle(
            max_epochs=max_epochs, factor=3, hyperband_iterations=1, max_consecutive_failed_trials=1, **common
        )
    raise FlagError(f"--algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")


def _finished_rows(base, space) -> list:
    """The rows of the trials a stopped search finished (NN-... folders with their metrics)."""
    rows = []
    for entry in sorted(os.listdir(base)):
        folder = os.path.join(base, entry)
        metrics = trials.finished(folder) if entry[:2].isdigit() and os.path.isdir(folder) else None
        if metrics is not None:
            overrides = data_module.saved_record(os.path.join(folder, folder_module.MODEL)).get("overrides") or {}
            rows.append(trials.row({p: overrides.get(p) for p in space}, metrics, folder))
    return rows


def _tuner(keras_tuner, oracle, run_trial, base, resume=False):
    class SpecTuner(keras_tuner.Tuner):
        """A tuner whose trial is a training run of the spec with the trial's values."""

        def run_trial(self, trial, *args, **kwargs):
            return run_trial(trial)

    return SpecTuner(oracle=oracle, directory=os.path.join(base, TUNER), project_name="search", overwrite=not resume)
