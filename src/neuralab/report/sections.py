"""The run's settings, data, model and training history as the page shows them.

Each function takes what was read from the run directory and returns plain data
(tables of text, notes) for the templates; none of them writes markup.
"""

from __future__ import annotations

from neuralab.report.formatting import (
    DASH, finite, format_inline, format_loss, format_metric, format_names, format_number,
    format_percent, format_range, format_seconds, format_setting, format_shape, format_sizes)
from neuralab.report.reading import History, dict_at
from neuralab.report.tables import Cell, Table, header, kv_table

#: The keys of config.json's data dict that the Data section shows in its own rows.
DATA_SHOWN = ("name", "source", "n_samples", "n_features", "train_shape", "test_shape",
              "test_source", "classes", "class_counts", "splits", "feature_names")


def settings_section(config: dict) -> dict:
    """Every setting as typed, and the facts of the run (backend, device, steps, time)."""
    settings = dict_at(config, "settings")
    facts = [("backend", format_setting(config.get("backend"))),
             ("device", format_setting(config.get("device"))),
             ("steps", format_number(config.get("steps"))),
             ("train_seconds", format_seconds(config.get("train_seconds"))),
             ("seed", format_setting(config.get("seed")))]
    facts += [(k, format_setting(config[k])) for k in ("interrupted", "stopped_early")
              if k in config]
    if config.get("restored_best_step") is not None:
        facts.append(("restored_best_step", format_number(config["restored_best_step"])))
    return {
        "settings": kv_table(((k, format_setting(v)) for k, v in settings.items()), tips=False)
        if settings else None,
        "run": kv_table(facts, tips=False),
    }


def splits_table(splits: dict) -> Table:
    rows = [[Cell(str(k)),
             Cell(format_shape(v.get("shape")) if isinstance(v, dict) else DASH, num=True),
             Cell(format_setting(v.get("source")) if isinstance(v, dict) else DASH)]
            for k, v in splits.items()]
    return Table(header(["split", "shape", "source"], num_from=9), rows)


def classes_table(classes: list, counts) -> Table:
    counts = counts if isinstance(counts, list) and len(counts) == len(classes) else None
    total = sum(c for c in counts if finite(c)) if counts else 0
    rows = []
    for i, name in enumerate(classes):
        n = counts[i] if counts else None
        share = n / total if counts and total and finite(n) else None
        rows.append([Cell(str(i), num=True), Cell(str(name)), Cell(format_number(n), num=True),
                     Cell(format_percent(share), num=True)])
    return Table(header(["label", "class", "count", "share"], num_from=9), rows)


def data_section(config: dict) -> dict:
    """What the data was: name, source, shapes, splits, classes and their counts."""
    data = dict_at(config, "data")
    if not data:
        return {"why": "config.json has no data description."}
    pairs = [("name", format_setting(data.get("name"))),
             ("source", format_setting(data.get("source"))),
             ("samples", format_number(data.get("n_samples"))),
             ("features", format_number(data.get("n_features"))),
             ("train shape", format_shape(data.get("train_shape"))),
             ("test shape", format_shape(data.get("test_shape"))),
             ("test source", format_setting(data.get("test_source")))]
    if isinstance(data.get("feature_names"), list) and data["feature_names"]:
        pairs.append(("feature names", format_names(data["feature_names"])))
    pairs += [(k, format_inline(v)) for k, v in data.items() if k not in DATA_SHOWN]
    splits = data.get("splits")
    classes = data.get("classes")
    return {
        "facts": kv_table(pairs, tips=False),
        "splits": splits_table(splits) if isinstance(splits, dict) and splits else None,
        "classes": classes_table(classes, data.get("class_counts"))
        if isinstance(classes, list) and classes else None,
    }


def valid_sizes(sizes) -> bool:
    """True for a list of at least two layer widths.

    >>> valid_sizes([2, 8, 2]), valid_sizes([2]), valid_sizes(None), valid_sizes([2, True])
    (True, False, False, False)
    """
    return isinstance(sizes, list) and len(sizes) >= 2 and all(
        isinstance(s, int) and not isinstance(s, bool) for s in sizes)


def n_parameters(sizes: list[int]) -> int:
    """Weights and biases of an MLP of these widths.

    >>> n_parameters([2, 8, 2])
    42
    """
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def model_sizes(config: dict, model: dict | None):
    sizes = (model or {}).get("sizes")
    return sizes if isinstance(sizes, list) else dict_at(config, "model").get("sizes")


def preprocessing(model: dict) -> dict:
    """How inputs were scaled before the first layer: a sentence and, when short, a table."""
    pre = model.get("preprocessing")
    if not (isinstance(pre, dict) and isinstance(pre.get("mean"), list)
            and isinstance(pre.get("scale"), list)):
        return {"why": "model.json has no preprocessing (mean and scale)."}
    mean, scale = pre["mean"], pre["scale"]
    features = pre.get("features") if isinstance(pre.get("features"), list) else None
    inputs = ("" if features is None else
              f"The raw x1, x2 are first expanded into the feature inputs "
              f"{', '.join(map(str, features))}. ")
    if all(m == 0 for m in mean) and all(s == 1 for s in scale):
        return {"text": f"{inputs}Identity: x is used as it is (mean 0, scale 1 for all "
                        f"{len(mean)} features)."}
    method = f" (method {pre['method']})" if pre.get("method") else ""
    text = (f"{inputs}Standardised as (x − mean) / scale{method} over {len(mean)} features, "
            f"fitted on the training split: mean {format_range(mean)}, scale {format_range(scale)}.")
    if isinstance(pre.get("target_mean"), (int, float)) and isinstance(pre.get("target_scale"),
                                                                       (int, float)):
        text += (f" The target is learnt as (y − {format_number(pre['target_mean'])}) / "
                 f"{format_number(pre['target_scale'])} and predicted back in its own units.")
    table = None
    names = features or (model.get("feature_names")
                         if isinstance(model.get("feature_names"), list) else [])
    if len(mean) == len(scale) and len(mean) <= 20:
        table = Table(header(["feature", "mean", "scale"]), [
            [Cell(str(names[i] if i < len(names) else i)), Cell(format_number(m), num=True),
             Cell(format_number(s), num=True)] for i, (m, s) in enumerate(zip(mean, scale))])
    return {"text": text, "table": table}


def tensors_table(sizes: list[int], model: dict) -> Table:
    names = model.get("tensors") if isinstance(model.get("tensors"), list) else []
    rows = []
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        for name, shape in ((f"W{i}", f"({d_in}, {d_out})"), (f"b{i}", f"({d_out},)")):
            if names and name not in names:
                continue
            n = d_in * d_out if name.startswith("W") else d_out
            rows.append([Cell(name, code=True), Cell(shape), Cell(format_number(n), num=True)])
    return Table(header(["tensor", "shape", "values"], num_from=2), rows)


def model_section(config: dict, model: dict | None, why: str | None) -> dict:
    """The network: widths, activation, parameters, preprocessing and tensor shapes."""
    fallback = dict_at(config, "model")
    if model is None:
        facts = kv_table([("sizes", format_sizes(fallback.get("sizes"))),
                          ("model", format_setting(fallback.get("repr")))], tips=False)
        return {"why": why or "No model.json in this run.",
                "facts": facts if fallback.get("sizes") else None}
    sizes = model_sizes(config, model)
    valid = valid_sizes(sizes)
    pairs = [("sizes", format_sizes(sizes)),
             ("layers", str(len(sizes) - 1) if valid else DASH),
             ("parameters", format_number(n_parameters(sizes)) if valid else DASH),
             ("activation", format_setting(model.get("activation")) if model.get("activation")
              else "none (no hidden layer)"),
             ("dtype", format_setting(model.get("dtype"))),
             ("classes", format_names(model.get("classes"), most=10 ** 6)),
             ("features", format_names(model.get("feature_names"), most=10 ** 6))]
    if fallback.get("repr"):
        pairs.append(("model", str(fallback["repr"])))
    if model.get("format"):
        pairs.append(("format", f"{model['format']} v{format_setting(model.get('format_version'))}"))
    layout = str(model["layout"]).rstrip(".") + "." if model.get("layout") else None
    return {"facts": kv_table(pairs, tips=False), "preprocessing": preprocessing(model),
            "tensors": tensors_table(sizes, model) if valid else None, "layout": layout}


def history_cell(col: str, value) -> Cell:
    if col == "step" or (isinstance(value, int) and "loss" not in col):
        return Cell(format_number(value), num=True)
    if isinstance(value, str):
        return Cell(value)
    return Cell(format_metric(col, value), num=True)


def best_val(history: History) -> str | None:
    """The line on the lowest val_loss, its step and its val accuracy."""
    scored = [r for r in history.rows if finite(r.get("val_loss"))]
    if not scored:
        return None
    best = min(scored, key=lambda r: r["val_loss"])
    text = f"Best val loss {format_loss(best['val_loss'])}"
    if "step" in best:
        text += f" at step {format_number(best.get('step'))}"
    if "val_accuracy" in best:
        text += f" (val accuracy {format_percent(best.get('val_accuracy'))})"
    return text + "."


def history_section(history: History) -> dict:
    """The first and last logged rows, how many there are, and the best val loss."""
    if history.why:
        return {"why": history.why}
    rows, columns = history.rows, history.columns
    picked = [("first", rows[0])] + ([("last", rows[-1])] if len(rows) > 1 else [])
    table = Table([Cell("")] + header(columns, num_from=0),
                  [[Cell(label)] + [history_cell(c, row.get(c)) for c in columns]
                   for label, row in picked])
    span = (f", steps {format_number(rows[0].get('step'))} to {format_number(rows[-1].get('step'))}"
            if "step" in columns else "")
    out = {"text": f"{format_number(len(rows))} logged rows{span}.", "table": table}
    if "val_loss" in columns:
        best = best_val(history)
        out["best"] = best
        out["best_why"] = None if best else "The val_loss column holds no numbers."
    return out
