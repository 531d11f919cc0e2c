"""The top of the page: what a practitioner wants in one minute.

The data (name, shape, source, splits), the model and how it was trained (sizes,
activation, optimiser, lr, reg, steps), and the headline metrics of every split.
"""

from __future__ import annotations

from neuralab.report.formatting import (
    format_created, format_names, format_number, format_seconds, format_setting, format_shape,
    format_sizes)
from neuralab.report.reading import dict_at
from neuralab.report.scores import headline
from neuralab.report.sections import model_sizes, n_parameters, valid_sizes

#: The versions the page's header names first; any others follow.
MAIN_VERSIONS = ("neuralab", "numpy", "torch")


def versions_line(config: dict, *, all_versions: bool = True) -> list[str]:
    """"created ...", then "package version" for neuralab, numpy, torch (and any others)."""
    versions = dict_at(config, "versions")
    meta = [f"created {format_created(config.get('created'))}"]
    meta += [f"{pkg} {format_setting(versions.get(pkg))}" for pkg in MAIN_VERSIONS]
    if all_versions:
        meta += [f"{k} {format_setting(v)}" for k, v in versions.items() if k not in MAIN_VERSIONS]
        if config.get("python"):
            meta.append(f"python {config['python']}")
    return meta


def data_facts(config: dict) -> list[tuple[str, str]]:
    """(label, text) lines on the data: name and shape, classes, source, splits."""
    data = dict_at(config, "data")
    shape = (f"{format_number(data.get('n_samples'))} samples × "
             f"{format_number(data.get('n_features'))} features")
    facts = [("data", f"{format_setting(data.get('name'))}, {shape}")]
    classes = data.get("classes")
    if isinstance(classes, list) and classes:
        facts.append(("classes", f"{len(classes)}: {format_names(classes, most=8)}"))
    facts.append(("source", format_setting(data.get("source"))))
    splits = dict_at(data, "splits")
    if splits:
        facts.append(("splits", " · ".join(
            f"{k} {format_shape(v.get('shape')) if isinstance(v, dict) else '–'}"
            for k, v in splits.items())))
    else:
        named = [s for s in ("train", "test") if data.get(f"{s}_shape")]
        if named:
            facts.append(("splits", " · ".join(f"{s} {format_shape(data[f'{s}_shape'])}"
                                                for s in named)))
    if data.get("test_source") and not splits:
        facts.append(("test source", format_setting(data["test_source"])))
    return facts


def steps_text(config: dict, settings: dict) -> str:
    """Steps taken, and how they were asked for (iterations or epochs, batch size).

    >>> steps_text({"steps": 10000}, {"iterations": 10000, "epochs": None, "batch_size": None})
    '10,000 (10,000 iterations, full batch)'
    >>> steps_text({"steps": 470}, {"epochs": 5, "batch_size": 64})
    '470 (5 epochs, batch 64)'
    """
    text = format_number(config.get("steps"))
    asked = []
    if settings.get("epochs"):
        asked.append(f"{format_number(settings['epochs'])} epochs")
    elif settings.get("iterations"):
        asked.append(f"{format_number(settings['iterations'])} iterations")
    if "batch_size" in settings:
        size = settings.get("batch_size")
        asked.append(f"batch {format_setting(size)}" if size else "full batch")
    return text + (f" ({', '.join(asked)})" if asked else "")


def model_facts(config: dict, model: dict | None) -> list[tuple[str, str]]:
    """(label, text) lines on the model and its training."""
    settings = dict_at(config, "settings")
    sizes = model_sizes(config, model)
    activation = (model or {}).get("activation") or settings.get("activation")
    if valid_sizes(sizes) and len(sizes) == 2:
        activation = "none (linear softmax)"
    network = format_sizes(sizes)
    if valid_sizes(sizes):
        network += f" ({format_number(n_parameters(sizes))} parameters)"
    optimiser = format_setting(settings.get("optimizer"))
    if settings.get("optimizer") in ("momentum", "nesterov") and "momentum" in settings:
        optimiser += f", momentum {format_setting(settings['momentum'])}"
    lr = format_setting(settings.get("lr"))
    if settings.get("lr_schedule") not in (None, "constant"):
        lr += f" ({settings['lr_schedule']} schedule)"
    return [("network", network),
            ("activation", format_setting(activation)),
            ("optimiser", optimiser),
            ("lr", lr),
            ("reg", format_setting(settings.get("reg"))),
            ("steps", steps_text(config, settings)),
            ("backend", f"{format_setting(config.get('backend'))} on "
                        f"{format_setting(config.get('device'))}, "
                        f"{format_seconds(config.get('train_seconds'))}")]


def summary(config: dict, metrics: dict, model: dict | None) -> dict:
    """The summary block: data facts, model facts and the headline metrics table."""
    return {"data": data_facts(config), "model": model_facts(config, model),
            "headline": headline(metrics)}
