"""Commands around a model: inspect, monitor, retrieve, explain, playground, gradcheck, datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from neuralab import NeuralabError
from neuralab.cli.app import (
    DataDir, Quiet, RunDir, Seed, app, console, labelled_data, stamped, working,
)


@app.command()
def inspect(
    run_dir: RunDir,
    outliers: Annotated[int, typer.Option("--outliers", "-k", help="How many of the highest-loss training points to list.")] = 10,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for outliers.csv/json and, for 2-D data, outliers.png.")] = None,
) -> None:
    """Training points the model finds hardest (highest loss): outliers and label noise."""
    from rich.table import Table

    from neuralab.analysis.outliers import find_outliers, write_outliers
    from neuralab.runs import later_output, load_model

    predictor = load_model(run_dir)
    report = find_outliers(run_dir, outliers, predictor=predictor)
    folder = out or stamped(run_dir, "inspections", f"outliers-{outliers}")
    with later_output(run_dir, folder) as building:
        files = {k: folder / Path(v).relative_to(building)
                 for k, v in write_outliers(report, predictor, building).items()}
    table = Table(title=f"the {report.k} highest-loss training points of {run_dir} "
                        f"(mean loss {report.mean_loss:.4f} over {report.n_train})")
    for col in ("rank", "row", "label", "predicted", "p(label)", "loss", "features"):
        table.add_column(col, justify="left" if col in ("label", "predicted", "features") else "right")
    for o in report.outliers:
        feats = ", ".join(f"{v:.3g}" for v in list(o.features)[:6]) + (" ..." if len(o.features) > 6 else "")
        table.add_row(str(o.rank), str(o.index), o.label, o.predicted, f"{o.p_true:.4f}",
                      f"{o.loss:.4f}", feats)
    console().print(table)
    figure = f"; marked on the boundary in {files['figure']}" if "figure" in files else ""
    typer.echo(f"outliers written to {folder}{figure}")


@app.command()
def monitor(
    run_dir: RunDir,
    data: Annotated[Path, typer.Option("--data", help="New inputs (CSV with the model's feature columns, or NPZ with X).")],
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level of the per-feature KS tests (Bonferroni-corrected).")] = 0.01,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for monitor.json and monitor.png.")] = None,
) -> None:
    """Compare new data with the training data: drift per feature, range, class mix, confidence."""
    from rich.table import Table

    from neuralab.data.files import load_features
    from neuralab.analysis.monitor import compare, write_monitor
    from neuralab.runs import later_output, load_model

    predictor = load_model(run_dir)
    X = load_features(data, predictor.feature_names)
    report = compare(run_dir, X, alpha=alpha, predictor=predictor)
    folder = out or stamped(run_dir, "monitoring", Path(data).stem)
    with later_output(run_dir, folder) as building:
        write_monitor(report, building)
    table = Table(title=f"new data {data} against the training data of {run_dir}")
    for col in ("feature", "KS", "adjusted p", "mean shift (sd)", "outside range"):
        table.add_column(col, justify="left" if col == "feature" else "right")
    for f in sorted(report.features, key=lambda f: -f.ks_statistic)[:15]:
        table.add_row(f.name, f"{f.ks_statistic:.3f}", f"{f.p_adjusted:.2g}",
                      f"{f.mean_shift:+.2f}", f"{f.out_of_range:.1%}")
    console().print(table)
    if report.drift:
        typer.echo("DRIFT: " + "; ".join(report.reasons))
    else:
        typer.echo("no drift flagged")
    typer.echo(f"report written to {folder}")


@app.command()
def retrieve(
    run_dir: RunDir,
    label: Annotated[str, typer.Option("--label", "-l", help="The class to find (a class name of the model).")],
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="A registered data set to search.")] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="A labelled CSV or NPZ file to search.")] = None,
    target: Annotated[Optional[str], typer.Option("--target", help="CSV label column (default: the last).")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Which part to search: of the run's own data train, val or test (default: its held-out split); of another --dataset test (its own test part; the default where it has one) or train (all of it).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help="Folder with IDX files (MNIST, Fashion-MNIST).")] = None,
    k: Annotated[Optional[int], typer.Option("--k", help="Keep only the top k items.")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for retrieval.csv/json and the contact sheet.")] = None,
) -> None:
    """Find every item the model labels LABEL, ranked by probability, with precision at k."""
    from rich.table import Table

    from neuralab.analysis.retrieve import retrieve as do_retrieve
    from neuralab.analysis.retrieve import write_retrieval
    from neuralab.runs import later_output

    items, searched, warning = labelled_data(dataset, data, target, split, data_dir, run_dir)
    if warning:
        typer.echo(f"neuralab: warning: {warning}", err=True)
    result = do_retrieve(run_dir, label, items, k=k)
    folder = out or stamped(run_dir, "retrievals", f"label-{label}")
    with later_output(run_dir, folder) as building:
        files = {k: folder / Path(v).relative_to(building)
                 for k, v in write_retrieval(result, building, items).items()}
    table = Table(title=f"items of {searched} predicted as {label!r}: "
                        f"{len(result.hits)} of {result.n_items}")
    for col in ("rank", "row", "p", "true label"):
        table.add_column(col, justify="right")
    for h in result.hits[:10]:
        table.add_row(str(h.rank), str(h.index), f"{h.probability:.4f}",
                      h.true_label if h.relevant else f"[red]{h.true_label}[/red]")
    console().print(table)
    precision = ", ".join(f"P@{kk} {v:.3f}" for kk, v in result.precision_at.items())
    typer.echo(f"{precision}; recall {result.recall:.3f}")
    sheet = f"; contact sheet {files['figure']}" if "figure" in files else ""
    typer.echo(f"ranking written to {folder}{sheet}")


def _print_backprop(run_dir: Path | None, samples: int, seed: int, hidden: list[int] | None,
                    activation: str, reg: float | None) -> None:
    """Every intermediate of one iteration, in the slides' names, checked against autograd."""
    import numpy as np
    from rich.table import Table

    from neuralab.explain.backprop import backprop_trace, format_values
    from neuralab.data import sample_batch
    from neuralab.nn import MLP

    if run_dir is not None:
        from neuralab.runs import load_run_data
        from neuralab.explain.attributions import Explainer

        explainer = Explainer.from_run(run_dir)  # the checkpoint in float64, and its scaler
        source = load_run_data(run_dir)
        split = source.splits()["train"]
        model = explainer.model
        pick = np.sort(np.random.default_rng(seed).choice(len(split.y), min(samples, len(split.y)),
                                                          replace=False))
        X = explainer.scaler.transform(np.asarray(split.X[pick], dtype=np.float64))
        y = split.y[pick]
        reg = source.settings.reg if reg is None else reg
        what = f"the model of {run_dir} on {len(y)} of its training examples"
    else:
        X, y = sample_batch("spiral", samples, seed=seed)
        widths = hidden if hidden else [100]
        model = MLP([2, *widths, 3], activation=activation, seed=seed)
        reg = 1e-3 if reg is None else reg
        what = f"{model!r} with the lecture's initial weights on {len(y)} spiral points"
    entries = backprop_trace(model, X, y, reg=reg)
    table = Table(title=f"one iteration of {what}, reg {reg:g}: engine against torch autograd")
    for col in ("name", "shape", "first values", "meaning", "max |engine - autograd|", ""):
        table.add_column(col, justify="right" if col.startswith("max") else "left")
    for e in entries:
        table.add_row(e.name, "x".join(map(str, e.shape)) or "scalar", format_values(e.engine),
                      e.meaning, f"{e.max_abs_diff:.1e}", "ok" if e.agrees() else "DIFFERS")
    console().print(table)
    bad = [e.name for e in entries if not e.agrees()]
    if bad:
        typer.echo(f"the engine and autograd differ in {', '.join(bad)}")
        raise typer.Exit(1)
    typer.echo(f"all {len(entries)} intermediates agree with torch autograd (to 1e-10 relative)")


@app.command()
def explain(
    run_dir: Annotated[Optional[Path], typer.Argument(help="A run directory (optional with --backprop).")] = None,
    backprop: Annotated[bool, typer.Option("--backprop", help="Print every intermediate of one iteration, checked against torch autograd.")] = False,
    index: Annotated[Optional[int], typer.Option("--index", help="Explain this row of --split (default 0).")] = None,
    point: Annotated[Optional[str], typer.Option("--point", help="Explain this input: comma-separated raw feature values.")] = None,
    target: Annotated[Optional[str], typer.Option("--class", help="The class to explain (default: the predicted one).")] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="train, val or test (default: test when the run has one).")] = None,
    feature: Annotated[Optional[str], typer.Option("--feature", help="Feature for the partial-dependence plot (default: the most attributed).")] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="With --backprop: examples in the batch.")] = 5,
    hidden: Annotated[Optional[list[int]], typer.Option("--hidden", help="With --backprop and no RUN_DIR: hidden widths (default 100).")] = None,
    activation: Annotated[str, typer.Option("--activation", "-a", help="With --backprop and no RUN_DIR: the activation.")] = "relu",
    reg: Annotated[Optional[float], typer.Option("--reg", help="With --backprop: L2 strength (default: the run's, or 1e-3).")] = None,
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """Why the model answers as it does: attributions, what would flip it, weights, hidden units."""
    if backprop:
        if any(v is not None for v in (index, point, target, split, feature)):
            raise NeuralabError("--backprop prints one training iteration; it takes no "
                                "--index, --point, --class, --split or --feature")
        _print_backprop(run_dir, samples, seed, hidden, activation, reg)
        return
    if run_dir is None:
        raise NeuralabError("give a RUN_DIR to explain, or --backprop for one iteration step by step")
    if point is not None and (index is not None or split is not None):
        raise NeuralabError("give --point or --index/--split, not both")
    values = None
    if point is not None:
        try:
            values = [float(v) for v in point.split(",")]
        except ValueError:
            raise NeuralabError(f"--point must be comma-separated numbers, got {point!r}") from None
    import numpy as np

    from neuralab.explain import explain_run

    with working(f"explaining {run_dir}", quiet):
        result = explain_run(run_dir, index=index, point=values, target=target, split=split,
                             feature=feature)
    if getattr(result, "task", None) == "regression":
        _print_regression_explanation(result, run_dir)
        return
    typer.echo(f"input: {result.input_source}")
    typer.echo("softmax: " + "  ".join(f"p({c}) = {p:.4f}" for c, p in result.probabilities.items()))
    typer.echo(f"predicted {result.predicted}; explaining class {result.target}")
    ig = result.attributions["integrated gradients"]
    top = np.argsort(-np.abs(ig))[:5]
    typer.echo("largest integrated-gradients attributions: " + ", ".join(
        f"{result.feature_names[j]} {ig[j]:+.4g}" for j in top)
        + f" (completeness gap {result.ig_gap:.2%})")
    f = result.flip
    if f["found"]:
        typer.echo(f"smallest step along the gradient that changes the answer: distance "
                   f"{f['distance']:.4g}, to class {f['new_class']}")
    else:
        typer.echo("no step along the gradient changes the answer within the search range")
    if result.weights:
        typer.echo("largest weights (raw units): " + ", ".join(
            f"{w['feature']}->{w['class']} {w['weight_raw']:+.3g}" for w in result.weights[:5]))
    dead = [row for row in result.layers if row.get("dead_units")]
    for row in dead:
        typer.echo(f"layer {row['layer']}: {row['dead_units']} dead ReLU units")
    typer.echo(f"{len(result.figures)} figures in {Path(run_dir) / 'figures'} (explain_*.png); "
               f"explain.json and report.html updated")


def _print_regression_explanation(result, run_dir: Path) -> None:
    """What `explain` found for a regression run, and what it left out and why."""
    import numpy as np

    from neuralab.explain.regression import NOT_APPLICABLE

    typer.echo(f"input: {result.input_source}")
    typer.echo(f"predicted {result.target}: {result.prediction:.6g}")
    ig = result.attributions["integrated gradients"]
    top = np.argsort(-np.abs(ig))[:5]
    typer.echo(f"largest integrated-gradients attributions (in {result.target}): " + ", ".join(
        f"{result.feature_names[j]} {ig[j]:+.4g}" for j in top)
        + f" (completeness gap {result.ig_gap:.2%})")
    typer.echo(f"partial dependence on {result.partial_dependence_feature}")
    for row in result.layers:
        if row.get("dead_units"):
            typer.echo(f"layer {row['layer']}: {row['dead_units']} dead ReLU units")
    typer.echo("left out for regression: " + "; ".join(
        f"{k.replace('_', ' ')} ({why.split(':')[0]})" if k == "flip_step" else k.replace("_", " ")
        for k, why in NOT_APPLICABLE.items()) + " (explain.json says why)")
    typer.echo(f"{len(result.figures)} figures in {Path(run_dir) / 'figures'} (explain_*.png); "
               f"explain.json and report.html updated")


@app.command()
def playground(
    port: Annotated[int, typer.Option("--port", "-p", help="TCP port on 127.0.0.1 (0: any free port).")] = 8000,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Do not open the page in a browser.")] = False,
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Where Save writes run directories.")] = Path("runs"),
) -> None:
    """Train a network in the browser and watch it learn (a local web app on 127.0.0.1)."""
    from neuralab.playground.server import serve

    serve(host="127.0.0.1", port=port, runs_dir=runs_dir, open_browser=not no_browser, echo=typer.echo)


@app.command()
def gradcheck(
    model: Annotated[str, typer.Option("--model", "-m", help="linear or mlp.")] = "mlp",
    hidden: Annotated[Optional[list[int]], typer.Option("--hidden", help="Hidden width; repeat for depth (default 16).")] = None,
    activation: Annotated[str, typer.Option("--activation", "-a", help="relu, tanh, sigmoid, leaky_relu or identity.")] = "relu",
    init: Annotated[str, typer.Option("--init", help="he (default here), glorot or lecture.")] = "he",
    reg: Annotated[float, typer.Option("--reg", help="L2 strength of 0.5 * reg * sum W^2.")] = 1e-3,
    l1: Annotated[float, typer.Option("--l1", help="L1 strength of l1 * sum |W| (its subgradient l1 * sign W is checked).")] = 0.0,
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="A registered data set (default: spiral; friedman1 with --task regression).")] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Examples in the checked batch.")] = 30,
    eps: Annotated[float, typer.Option("--eps", help="Central-difference step.")] = 1e-6,
    task: Annotated[str, typer.Option("--task", help="classification (cross-entropy) or regression (mean squared error of one output).")] = "classification",
    seed: Seed = 0,
) -> None:
    """Compare central differences with the engine's gradients, parameter by parameter."""
    from rich.table import Table

    from neuralab.data import sample_batch
    from neuralab.gradcheck import TOLERANCE, check_model
    from neuralab.nn import MLP

    if model not in ("linear", "mlp"):
        raise NeuralabError(f"model must be one of linear, mlp; got {model!r}")
    if model == "linear" and hidden:
        raise NeuralabError(f"--model linear has no hidden layers, got --hidden {hidden}")
    if not (0 < eps < 1e-2):
        raise NeuralabError(f"eps must lie between 0 and 0.01, got {eps!r}")
    from neuralab.config import check

    reg, l1, task = check("reg", reg), check("l1", l1), check("task", task)
    dataset = dataset or ("friedman1" if task == "regression" else "spiral")
    X, y = sample_batch(dataset, samples, seed=seed, task=task)
    widths = (list(hidden) if hidden else [16]) if model == "mlp" else []
    outputs = 1 if task == "regression" else int(y.max()) + 1
    net = MLP([X.shape[1], *widths, outputs], activation=activation, init=init, seed=seed)
    results = check_model(net, X, y, reg=reg, l1=l1, eps=eps, task=task)
    l1_text = f", l1 {l1:g}" if l1 else ""
    loss = ", mean squared error" if task == "regression" else ""
    table = Table(title=f"gradient check of {net!r}{loss}, {len(y)} examples of {dataset}, "
                        f"reg {reg:g}{l1_text}")
    for col in ("parameter", "shape", "max relative error", "max absolute error", ""):
        table.add_column(col, justify="left" if col == "parameter" else "right")
    for r in results:
        table.add_row(r.name, "x".join(map(str, r.shape)), f"{r.max_rel_error:.2e}",
                      f"{r.max_abs_error:.2e}", "ok" if r.passed() else "FAIL")
    console().print(table)
    failed = [r.name for r in results if not r.passed()]
    if failed:
        typer.echo(f"gradient check failed for {', '.join(failed)} (tolerance {TOLERANCE:g})")
        raise typer.Exit(1)
    typer.echo(f"all {len(results)} parameters agree to better than {TOLERANCE:g}")


@app.command()
def datasets(data_dir: DataDir = None) -> None:
    """List the registered data sets with their shape, classes, source and availability."""
    from rich.table import Table

    from neuralab.data import describe_all

    table = Table(title="neuralab data sets")
    for col in ("name", "samples", "features", "classes", "source", "available", "description"):
        table.add_column(col, no_wrap=col in ("name", "samples"))
    for row in describe_all(data_dir):
        samples = f"{row['n_samples']:,}" + (f" + {row['n_test']:,} test" if row["n_test"] else "")
        table.add_row(row["name"], samples, str(row["n_features"]), str(row["n_classes"]),
                      row["source"], row["status"], row["summary"])
    console().print(table)
