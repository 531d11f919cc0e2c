"""The recipe: prepare data, build the trainer, fit, write the run; train, resume, evaluate, demo.

One function, :func:`prepare`, turns a data set and checked
:class:`~neuralab.config.TrainSettings` into everything training needs: the
splits, the scaling fitted on the training split, class weights, oversampling,
the schedule, the augmentation and the trainer of the chosen backend.
``neuralab train``, ``--resume``, the sweep's trials and the playground all go
through it, and :func:`neuralab.train.fit` is the one loop they call. The
command line only parses and prints; everything here works from Python too.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuralab import ArgumentError
from neuralab.config import LECTURE_ITERATIONS, TrainSettings
from neuralab.data import Dataset, load
from neuralab.data.augment import jitter, oversample_indices, shift_images
from neuralab.data.preprocess import Standardizer, check_feature_data, check_inputs, scaled_inputs
# ImbalanceWarning: what prepare may warn, importable from here as before
from neuralab.data.splits import (ImbalanceWarning, Split, make_splits, remap_labels,  # noqa: F401
                                  warn_if_unbalanced)
from neuralab.fileio import write_json
from neuralab.launch import launched_world, writes_here
from neuralab.metrics import evaluate_predictions
from neuralab.memory import LAZY_INPUTS, check_memory
from neuralab.runs import (NewState, Predictor, RunResult, check_features, load_run_data, model_meta,
                           new_run_dir, read_model, write_run, write_scores)
from neuralab.runs.parallel import Beside, Later
from neuralab.runs.reader import Resume, read_resume
from neuralab.runs.regression import (check_task, evaluate_targets, fit_targets, regression_meta,
                                      score_splits)
from neuralab.runs.state import later_output
from neuralab.runs.tensorboard import finish_events, run_events
from neuralab.runs.writer import early_jobs
from neuralab.train import (
    FitResult,
    StopOnSignal,
    balanced_class_weights,
    fit,
    lr_schedule,
    make_engine_trainer,
)


def make_trainer(settings: TrainSettings, n_features: int, n_classes: int, *,
                 class_weight=None):
    """The trainer of the settings' backend, model and optimiser.

    Both backends draw the starting weights with the engine's seeded
    initialiser, so the same settings start from the same numbers.
    ``class_weight`` is the per-class weight array (``settings.class_weight``
    names the rule; :func:`prepare` computes it from the training labels).
    """
    common = dict(
        activation=settings.activation, init=settings.init, seed=settings.seed,
        dtype=settings.dtype, optimizer=settings.optimizer, lr=settings.lr, reg=settings.reg,
        l1=settings.l1,
        momentum=settings.momentum, weight_decay=settings.weight_decay,
        class_weight=class_weight, clip_norm=settings.clip_norm, task=settings.task,
    )
    sizes = settings.sizes(n_features, n_classes)
    if settings.backend == "torch":
        from neuralab.torch_backend import distributed, make_torch_trainer

        if distributed.current() is not None:
            return distributed.make_distributed_trainer(sizes, **common)
        return make_torch_trainer(sizes, device=settings.device, **common)
    return make_engine_trainer(sizes, **common)


def load_model(run_dir: str | Path, *, backend: str = "numpy", device: str = "cpu") -> Predictor:
    """A run's checkpoint with its preprocessing, in the engine or in its PyTorch twin."""
    if backend == "numpy":
        from neuralab.runs import load_model as load_engine_model

        return load_engine_model(run_dir)
    from neuralab.config import check
    from neuralab.torch_backend.predictor import torch_proba

    check("backend", backend)
    state, meta, scaler = read_model(run_dir)
    return Predictor(torch_proba(state, meta, device=device), scaler, meta["classes"],
                     meta["feature_names"], meta)


def steps_planned(settings: TrainSettings, n: int) -> int:
    """How many updates the settings ask for on n training examples."""
    if settings.iterations is not None:
        return settings.iterations
    batch = settings.batch_size
    per_epoch = 1 if batch is None or batch >= n else -(-n // batch)
    return settings.epochs * per_epoch


def make_augment(settings: TrainSettings, image_shape, scaler: Standardizer):
    """The augmentation the settings switch on: image shifts for images, jitter otherwise."""
    if not settings.augment:
        return None
    if image_shape is not None:
        return shift_images(tuple(image_shape), max_shift=settings.augment_shift,
                            mean=None if scaler.is_identity else scaler.mean,
                            scale=None if scaler.is_identity else scaler.scale)
    return jitter(settings.augment_noise)


def fit_scaler(settings: TrainSettings, X: np.ndarray, where: str = "the data") -> Standardizer:
    """The training split's feature inputs and standardisation, or none (the lecture's raw inputs)."""
    check_feature_data(settings.features, X.shape[1], where)
    if not settings.standardize:
        return Standardizer.identity(X.shape[1], settings.features)
    with np.errstate(over="ignore", invalid="ignore"):  # check_inputs names an overflowing column
        return Standardizer.fit(X, settings.features)


@dataclass
class Prepared:
    """Everything one training run needs, ready for :meth:`fit` (which may be called again).

    ``X``, ``y`` are the scaled (and, with oversampling, resampled) training
    inputs; ``scaled`` holds every split's scaled inputs; ``monitor`` names the
    split scored while training (val, else test, else None).
    """

    settings: TrainSettings
    trainer: object
    scaler: Standardizer
    splits: dict[str, Split]
    scaled: dict[str, np.ndarray]
    X: np.ndarray
    y: np.ndarray
    classes: list[str]
    schedule: Callable[[int], float] | None
    augment: Callable | None
    monitor: str | None
    target: object = None  # regression: the target's TargetScaler
    targets: dict | None = None  # the y of each split as trained on (regression: standardised)

    def fit(self, *, iterations: int | None = None, start_step: int = 0, **fit_kwargs) -> FitResult:
        """Train: the settings' whole run, or ``iterations`` more steps (a playground frame)."""
        s = self.settings
        m = self.monitor
        kw = dict(X_val=None if m is None else self.scaled[m],
                  y_val=None if m is None else self.targets[m],
                  log_every=s.log_every, schedule=self.schedule,
                  early_stopping=s.early_stopping)
        if iterations is not None:
            kw.update(iterations=iterations, schedule=None, early_stopping=None)
        else:
            kw.update(iterations=s.iterations, epochs=s.epochs)
        kw.update(fit_kwargs)
        return fit(self.trainer, self.X, self.y, batch_size=s.batch_size, seed=s.seed,
                   augment=self.augment, start_step=start_step, **kw)

    def scores(self, known: dict | None = None) -> dict[str, tuple[float, np.ndarray]]:
        """Every split's (loss, outputs) at the current weights; ``known`` ones as given."""
        known = known or {}
        return {key: known.get(key) or self.trainer.evaluate(self.scaled[key], self.targets[key])
                for key in self.splits}

    def evaluate(self, known: dict | None = None) -> tuple[dict, dict]:
        """(metrics, probabilities; regression: predictions) of every split at the current
        weights. ``known``: split -> (loss, outputs) already computed at these weights (fit's
        closing evaluation of the training split), used instead of scoring the split again."""
        scored = self.scores(known).__getitem__
        if self.target is not None:
            return evaluate_targets(scored, self.splits, self.target)
        metrics, probs = {}, {}
        for key, sp in self.splits.items():
            loss, probs[key] = scored(key)
            metrics[key] = evaluate_predictions(sp.y, probs[key], loss=loss,
                                                class_names=self.classes)
        return metrics, probs


def prepare(data: Dataset, settings: TrainSettings, *, test: Dataset | None = None,
            splits: dict[str, Split] | None = None, scaler: Standardizer | None = None,
            resume: Resume | None = None) -> Prepared:
    """The one recipe: splits, scaling, class weights, oversampling, schedule, augmentation, trainer.

    ``splits`` replaces the settings' own cut (the sweep's folds); ``scaler``
    keeps a scaling fitted before (a resumed run's); ``resume`` loads a
    checkpoint's weights and optimiser state into the new trainer.
    """
    s = settings
    check_task(data, s)
    if splits is None:
        splits = make_splits(data, test, test_fraction=s.test_fraction,
                             val_fraction=s.val_fraction, seed=s.seed)
    train = splits["train"]
    check_feature_data(s.features, train.X.shape[1], data.name)
    width = train.X.shape[1] if s.features is None else len(s.features)
    check_memory(s, s.sizes(width, data.n_outputs), splits)
    if scaler is None:
        scaler = resume.scaler if resume is not None else fit_scaler(s, train.X, data.name)
    for key, sp in splits.items():
        check_inputs(sp.X, scaler, data.feature_names, where=f"the {key} split of {data.name}",
                     dtype=s.dtype)
    # the engine reads a large training split a batch (or a block) at a time: its
    # standardised rows are made as they are read, not held beside the raw ones
    lazy = (s.backend == "numpy" and s.batch_size is not None and not s.oversample
            and s.batch_size < len(train.y))
    scaled = {k: scaled_inputs(sp.X, scaler, s.dtype,
                               lazy_above=LAZY_INPUTS if lazy and k == "train" else np.inf)
              for k, sp in splits.items()}
    class_weight = (balanced_class_weights(train.y, data.n_classes)
                    if s.class_weight == "balanced" else None)
    trainer = make_trainer(s, scaler.width, data.n_outputs, class_weight=class_weight)
    if resume is not None:
        trainer.load_state_dict(resume.state)
        trainer.load_optimizer_state(resume.optimizer_tensors, resume.optimizer_scalars)
    target, targets = fit_targets(s, splits, resume)  # regression: the standardised target
    X, y = scaled["train"], targets["train"]
    if s.oversample:
        idx = oversample_indices(y, np.random.default_rng(s.seed))
        X, y = X[idx], y[idx]
    schedule = lr_schedule(s.lr_schedule, s.lr, steps_planned(s, len(y)),
                           step_size=s.lr_step, gamma=s.lr_gamma)
    monitor = "val" if "val" in splits else ("test" if "test" in splits else None)
    return Prepared(settings=s, trainer=trainer, scaler=scaler, splits=splits, scaled=scaled,
                    X=X, y=y, classes=list(data.classes), schedule=schedule,
                    augment=make_augment(s, getattr(data, "image_shape", None), scaler),
                    monitor=monitor, target=target, targets=targets)


def add_operating_point(metrics: dict, splits: dict[str, Split], probs: dict[str, np.ndarray],
                        max_fpr: float, classes: list[str]) -> None:
    """For a binary problem, the threshold that keeps FPR <= max_fpr, and its rates per split.

    The threshold is chosen on the validation split when there is one (else on the
    training split) and then applied unchanged to every split.
    """
    from neuralab.metrics import rates_at_threshold, threshold_for_fpr

    chosen_on = "val" if "val" in splits else "train"
    sp, where = splits[chosen_on], f"the {chosen_on} split"
    point = threshold_for_fpr(sp.y, probs[chosen_on][:, 1], max_fpr=max_fpr, where=where)
    for key, spl in splits.items():
        rates = rates_at_threshold(spl.y, probs[key][:, 1], point.threshold)
        metrics[key]["operating_point"] = {
            **rates.as_dict(), "max_fpr": max_fpr, "chosen_on": chosen_on,
            "positive_class": classes[1],
        }


def _check_before_writing(data: Dataset, settings: TrainSettings) -> None:
    """What can be refused before a run directory is made."""
    check_task(data, settings)
    if settings.max_fpr is not None and data.n_classes != 2:
        raise ArgumentError("max_fpr", f"max_fpr needs a binary problem, this one has "
                                       f"{data.n_classes} classes")


def _prepared(data: Dataset, settings: TrainSettings, test: Dataset | None,
              resume: Resume | None) -> Prepared:
    """Everything checked and built before anything is written (a bad device fails here)."""
    _check_before_writing(data, settings)
    prep = prepare(data, settings, test=test, resume=resume)
    if settings.task != "regression":
        warn_if_unbalanced(prep.splits["train"].y, data.classes)
    return prep


def run_training(
    data: Dataset,
    settings: TrainSettings,
    *,
    test: Dataset | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    print_every: int | None = None,
    echo: Callable[[str], None] | None = print,
    progress: bool | None = None,
    name: str = "train",
    data_spec: dict | None = None,
    test_spec: dict | None = None,
    resume: Resume | None = None,
    callbacks: Sequence[Callable] = (),
    later: Later | None = None,
) -> RunResult:
    """Train on ``data`` with ``settings``; evaluate every split; write a run directory to ``out``.

    Standardisation (``settings.standardize``) is fitted on the training split only.
    ``print_every`` prints ``iteration N: loss X`` lines (None: no lines); ``callbacks``
    are fit's (``neuralab.notebook.LivePlot()`` draws the loss curve in a notebook).
    ``later``: the run's files are written in a forked child from the end of fit on,
    while the caller goes on; ``later.finish()`` waits for them and swaps the run in.

    Everything that can be checked is checked before anything is written, and
    ``out`` moves to its new state as a whole (:class:`~neuralab.runs.NewState`):
    nothing appears there until the run is written completely, and a failure
    leaves nothing behind. ``out`` must be new or empty unless ``overwrite``,
    whose new state replaces the old one entirely (a clean folder); with
    ``resume`` (a run continued in ``out``) what later commands wrote there is
    kept. ``out`` is locked while the run trains and writes.

    Ctrl-C or SIGTERM stops training after the current step; the run is still written,
    with ``interrupted`` set. A signal while it is written lets the write finish
    (``stopped_while_writing``); a second abandons it (:class:`~neuralab.runs.WriteInterrupted`).
    """
    if not writes_here():  # a rank other than 0 of a launched world trains and writes nothing
        out, echo, progress, print_every = None, None, False, None
    opts = dict(resume=resume, name=name, data_spec=data_spec, test_spec=test_spec,
                print_every=print_every, echo=echo, progress=progress, callbacks=list(callbacks))
    mode = "update" if resume is not None else ("overwrite" if overwrite else "new")
    with launched_world(settings):
        prep = _prepared(data, settings, test, resume)
        if out is None:
            return _fit_and_write(prep, data, None, **opts)
        if later is not None:
            return _fit_and_write(prep, data, later.hold(NewState(out, mode=mode)), **opts, later=later)
        with NewState(out, mode=mode) as state:
            return _fit_and_write(prep, data, state, **opts)


def _fit_and_write(prep: Prepared, data: Dataset, state: NewState | None, *,
                   resume: Resume | None, name: str, data_spec: dict | None,
                   test_spec: dict | None, print_every: int | None,
                   echo: Callable[[str], None] | None, progress: bool | None,
                   callbacks: list, later: Later | None = None) -> RunResult:
    """Train, score every split and, with a ``state``, write and swap in the run."""
    if print_every and echo is not None:
        callbacks.append(lambda step, loss, m: None if m.get("final") or step % print_every
                         else echo(f"iteration {step}: loss {loss:f}"))
    # fit stops on the first signal; after it, a signal lets the write finish, a second abandons it
    events_block = run_events(state, prep, resume)
    if later is not None:  # the events stay open until the run's figures are written
        events_block = contextlib.nullcontext(later.hold(events_block))
    with events_block as events, StopOnSignal(state is not None) as stopper:
        result = prep.fit(callbacks=callbacks + ([events] if events else []), progress=progress,
                          description=name, start_step=0 if resume is None else resume.start_step)
        stopper.requested = stopper.requested or result.interrupted
        scores = prep.scores(_known_scores(prep, result))
        early = None if state is None or later else _writing_early(prep, scores, state)
        try:
            run = _scored(prep, data, result, resume, name, scores)
            if state is not None:
                run.run_dir = state.shown
                if later is None:
                    _write_state(run, data, state, data_spec=data_spec, test_spec=test_spec,
                                 stopper=stopper, events=events, early=early)
                else:  # the files in a child; the events (this process's file) after them
                    later.add(functools.partial(_write_files, run, data, state.folder,
                                                data_spec, test_spec), state,
                              then=functools.partial(finish_events, events, run, state.folder))
        except BaseException:
            if early is not None:
                early.abandon()
            raise
    run.stopped_while_writing = stopper.requested and not result.interrupted
    return run


def _known_scores(prep: Prepared, result: FitResult) -> dict:
    """fit scored the training data at the final weights as it closed: that data is the
    training split's unless oversampling resampled it."""
    same = prep.X is prep.scaled["train"] and result.final_outputs is not None
    return {"train": (result.final_loss, result.final_outputs)} if same else {}


def _writing_early(prep: Prepared, scores: dict, state: NewState) -> Beside | None:
    """A classifier's predictions.csv and confusion figures, written from its probabilities
    in a forked child from now on, while this process computes the metrics and writes the
    rest (:func:`~neuralab.runs.writer.early_jobs`, :class:`~neuralab.runs.parallel.Beside`)."""
    if prep.target is not None:  # regression: no confusion matrices
        return None
    from neuralab.metrics import confusion_matrix

    K = len(prep.classes)
    probs = {key: scores[key][1] for key in prep.splits}
    matrices = {key: confusion_matrix(sp.y, probs[key].argmax(axis=1), K)
                for key, sp in prep.splits.items()}
    return Beside(early_jobs(state.folder, prep.classes, prep.splits, probs, matrices))


def _scored(prep: Prepared, data: Dataset, result: FitResult, resume: Resume | None,
            name: str, scores: dict) -> RunResult:
    """The run's result: history joined to a resumed run's, the model, every split's metrics."""
    settings = prep.settings
    if resume is not None:
        earlier = [r for r in resume.history_rows if r["step"] < resume.start_step]
        result.history.rows[:0] = earlier
        result.seconds += resume.seconds
    meta = model_meta(settings, settings.sizes(prep.scaler.width, data.n_outputs), data, prep.scaler)
    output = prep.trainer.predict_proba
    if prep.target is not None:
        meta, output = regression_meta(meta, data, prep.target), prep.trainer.predict_output
    predictor = Predictor(output, prep.scaler, data.classes,
                          data.feature_names, meta)
    metrics, probs = prep.evaluate(scores)  # every split's (loss, outputs) at the final weights
    if settings.max_fpr is not None:
        add_operating_point(metrics, prep.splits, probs, settings.max_fpr, data.classes)
    return RunResult(name=name, settings=settings, fit=result, metrics=metrics, run_dir=None,
                     trainer=prep.trainer, predictor=predictor, splits=prep.splits, probs=probs)


def _write_state(run: RunResult, data: Dataset, state: NewState, *, data_spec: dict | None,
                 test_spec: dict | None, stopper: StopOnSignal | None = None, events=None,
                 early: Beside | None = None) -> None:
    """Every file of the run into the new state's folder, the events last; then swap it in."""
    _write_files(run, data, state.folder, data_spec, test_spec, early)
    finish_events(events, run, state.folder)  # TensorBoard's (its image is a written figure)
    if stopper is not None:
        stopper.abort_on_second = False  # from here on the write is finished, whatever comes
    state.commit()


def _write_files(run: RunResult, data: Dataset, folder: Path, data_spec: dict | None,
                 test_spec: dict | None, early: Beside | None = None) -> None:
    """Every file of the run but its events into ``folder``, the report last."""
    from neuralab.report import build_report

    write_run(run, data, data_spec=data_spec, test_spec=test_spec, folder=folder, early=early)
    build_report(folder)


def save_run(run: RunResult, data: Dataset, *, data_spec: dict | None = None,
             test_spec: dict | None = None, overwrite: bool = False) -> None:
    """Write ``run.run_dir``: every file of the run directory contract, the report last.

    The files are written beside ``run.run_dir`` and swapped in whole
    (:class:`~neuralab.runs.NewState`); ``run.run_dir`` must be new or empty
    unless ``overwrite``, which replaces what was there.
    """
    with NewState(run.run_dir, mode="overwrite" if overwrite else "new") as state:
        _write_state(run, data, state, data_spec=data_spec, test_spec=test_spec)


def resume_training(run_dir: str | Path, *, iterations: int | None = None,
                    epochs: int | None = None, print_every: int | None = None,
                    echo: Callable[[str], None] | None = print,
                    progress: bool | None = None) -> RunResult:
    """Continue a run from its checkpoint and optimiser state, in the same directory.

    Trains ``iterations`` (or ``epochs``) more, by default as many as the run
    was set to; history rows are appended. The run is locked from before it is
    read until its new state (every file rewritten, plus what later commands
    wrote into it, except explain.json and the figures, which describe the old
    weights) is swapped in; until then it loads as it was.
    """
    run_dir = Path(run_dir)
    main = writes_here()  # a rank other than 0 of a launched world reads the run, writes nothing
    if not main:
        echo, progress, print_every = None, False, None
    with NewState(run_dir, mode="update") if main else contextlib.nullcontext() as state:
        source = load_run_data(run_dir)
        settings = source.settings
        if iterations is not None or epochs is not None:
            settings = settings.replace(iterations=iterations, epochs=epochs)
        resume = read_resume(run_dir, source.config, settings.optimizer)
        name = source.config.get("name")
        with launched_world(settings):
            prep = _prepared(source.data, settings, source.test, resume)
            return _fit_and_write(prep, source.data, state, resume=resume,
                                  name=name if isinstance(name, str) else "train",
                                  data_spec=source.data_spec, test_spec=source.test_spec,
                                  print_every=print_every, echo=echo, progress=progress, callbacks=[])


def evaluate_run(run_dir: str | Path, data: Dataset | None = None, *,
                 out: str | Path | None = None, backend: str = "numpy") -> tuple[dict, Path]:
    """Score a saved model on new data (or again on its own splits); write the results.

    Writes ``metrics.json``, ``predictions.csv`` and figures to ``out`` (default
    ``RUN_DIR/evaluations/<time>-<data>/``), never over the run's own files. The
    folder appears whole or not at all; while it is written into the run, the run
    is locked (a run being trained or resumed is refused).
    Returns (metrics by split, the folder written).
    """
    run_dir = Path(run_dir)
    predictor = load_model(run_dir, backend=backend)
    if data is None:
        splits = load_run_data(run_dir).splits()
        label = "own-splits"
    else:
        check_features(data, predictor)
        y = data.y if predictor.task == "regression" else remap_labels(data, predictor.classes)
        splits = {"eval": Split(data.X, y, np.arange(len(y)), data.source)}
        label = Path(data.name).stem
    for key, sp in splits.items():
        predictor.check_width(sp.X, where=f"the {key} data")
        check_inputs(sp.X, predictor.scaler, predictor.feature_names, where=f"the {key} data",
                     dtype=predictor.meta.get("dtype"))
    if predictor.task == "regression":  # probs: the predictions, in the target's units
        metrics, probs = score_splits(predictor, splits)
    else:
        probs = {key: predictor.predict_proba(sp.X) for key, sp in splits.items()}
        metrics = {key: evaluate_predictions(sp.y, probs[key], class_names=predictor.classes)
                   for key, sp in splits.items()}
    if out is None:
        out = new_run_dir(run_dir / "evaluations", label)
    out = Path(out)
    with later_output(run_dir, out) as folder:
        write_scores(folder, f"{run_dir.name}: evaluation", None, metrics, predictor,
                     splits, probs)
    return metrics, out


# --- the lecture's experiment -------------------------------------------------------------

DEMO_MODELS = (
    ("linear", "linear softmax classifier", 10),
    ("mlp", "2-layer ReLU net (hidden 100)", 1000),
)


@dataclass
class DemoResult:
    runs: list[RunResult]
    out: Path | None

    def table(self) -> list[dict]:
        return [
            {
                "model": r.name,
                "final_loss": r.final_loss,
                "train_accuracy": r.train_accuracy,
                "test_accuracy": r.test_accuracy,
                "seconds": r.fit.seconds,
                "iterations": r.fit.steps,
            }
            for r in self.runs
        ]


def run_demo(*, out: str | Path | None = None, seed: int = 0, backend: str = "numpy",
             dtype: str = "float64", device: str = "auto", overwrite: bool = False,
             echo: Callable[[str], None] | None = print, progress: bool | None = None) -> DemoResult:
    """The lecture's experiment: linear softmax against the 2-layer ReLU net on the spiral.

    Both train full batch with step 1.0 and reg 1e-3 on the seeded spiral (N=100,
    K=3): the linear classifier 200 iterations, the net 10,000. Each is scored on
    its training data and on a second spiral drawn with seed + 1. With ``out``,
    writes ``out/linear/`` and ``out/mlp/`` (run directories) and
    ``out/comparison.png``, all appearing together once both runs are written
    (``overwrite``: they replace whatever ``out`` held).
    """
    # the lecture feeds the spiral to the network as it is: no standardisation
    base = TrainSettings(lr=1.0, reg=1e-3, seed=seed, backend=backend, dtype=dtype,
                         device=device, standardize=False)
    train = load("spiral", seed=seed)
    train.source = f"the lecture's spiral, N=100, K=3, seed {seed}"
    test = load("spiral", seed=seed + 1)
    test.source = f"a second spiral, N=100, K=3, seed {seed + 1}"
    spec = {"kind": "registry", "name": "spiral", "seed": seed}
    test_spec = {**spec, "seed": seed + 1}
    out = Path(out) if out is not None else None
    # the demo folder, both runs and the comparison, moves to its new state as a whole
    with (NewState(out, mode="overwrite" if overwrite else "new") if out is not None
          else contextlib.nullcontext()) as state, Later() as later:
        runs = []
        for model, title, every in DEMO_MODELS:
            if echo is not None:
                echo(f"\n== {title}: step 1.0, reg 1e-3, "
                     f"{LECTURE_ITERATIONS[model]:,} iterations, full batch ==")
            settings = base.replace(model=model, hidden=[100] if model == "mlp" else [],
                                    iterations=None)
            # the linear run is written beside the net's training (later), the net's after it
            run = run_training(train, settings, test=test,
                               out=None if state is None else state.folder / model,
                               print_every=every, echo=echo, progress=progress, name=model,
                               data_spec=spec, test_spec=test_spec,
                               later=later if model != DEMO_MODELS[-1][0] else None)
            runs.append(run)
            if run.interrupted:
                break
        later.finish()
        if state is not None:
            _write_comparison(state, runs, train)
    return DemoResult(runs, out)


def _write_comparison(state: NewState, runs: list[RunResult], train: Dataset) -> None:
    """The demo's comparison figure, table and page; then the demo folder is swapped in."""
    from neuralab import plots
    from neuralab.report import build_comparison_report

    folder = state.folder
    with StopOnSignal(True, requested=any(r.interrupted for r in runs)) as stopper:
        fig = plots.comparison_figure(
            [(f"{title}: train accuracy {r.train_accuracy:.0%}", r.predictor.predict_proba)
             for (_, title, _), r in zip(DEMO_MODELS, runs)], train.X, train.y)
        plots.save_figure(fig, folder / "comparison.png")
        write_json(folder / "comparison.json", DemoResult(runs, state.shown).table())
        build_comparison_report(folder, [r.name for r in runs])
        stopper.abort_on_second = False
        state.commit()
    if stopper.requested and not runs[-1].interrupted:
        runs[-1].stopped_while_writing = True
    for r in runs:
        r.run_dir = state.shown / r.name
