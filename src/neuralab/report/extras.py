"""What later commands added to a run: ``explain.json`` and ``evaluations/*/metrics.json``."""

from __future__ import annotations

from pathlib import Path

from neuralab.report.formatting import finite, format_number, format_percent
from neuralab.report.reading import read_optional, split_names
from neuralab.report.scores import headline_header, headline_row, regression
from neuralab.report.tables import Cell, Table, header

#: How many features the explain summary lists, largest attribution first.
TOP_FEATURES = 10


def attribution_table(explain: dict) -> Table | None:
    """The features with the largest integrated-gradients attribution, every method's value."""
    attributions = explain.get("attributions")
    if not isinstance(attributions, dict) or not attributions:
        return None
    methods = [k for k, v in attributions.items() if isinstance(v, list)]
    if not methods:
        return None
    width = min(len(attributions[m]) for m in methods)
    names = explain.get("feature_names") if isinstance(explain.get("feature_names"), list) else []
    x = (explain.get("input") or {}).get("x") if isinstance(explain.get("input"), dict) else None
    x = x if isinstance(x, list) and len(x) >= width else None
    key = "integrated gradients" if "integrated gradients" in methods else methods[-1]
    order = sorted(range(width), key=lambda i: -abs(attributions[key][i])
                   if finite(attributions[key][i]) else 0)[:TOP_FEATURES]
    rows = [[Cell(str(names[i]) if i < len(names) else str(i))]
            + ([Cell(format_number(x[i]), num=True)] if x else [])
            + [Cell(format_number(attributions[m][i]), num=True) for m in methods] for i in order]
    return Table(header(["feature", *(["x"] if x else []), *methods]), rows)


def explain_facts(explain: dict) -> list[tuple[str, str]]:
    """(label, text) lines: the input, the predicted and explained class, the checks."""
    facts = []
    source = explain.get("input", {}).get("source") if isinstance(explain.get("input"), dict) else None
    if source:
        facts.append(("input", str(source)))
    for key in ("predicted", "target"):
        if explain.get(key) is not None:
            facts.append((key if key == "predicted" else "explained class", str(explain[key])))
    probs = explain.get("probabilities")
    if isinstance(probs, dict) and probs:
        facts.append(("probabilities", ", ".join(f"{k}: {format_percent(v)}" for k, v in probs.items())))
    gap = explain.get("integrated_gradients_completeness_gap")
    if gap is not None:
        facts.append(("integrated gradients gap", format_number(gap)))
    flip = explain.get("flip_step")
    if isinstance(flip, dict):
        facts.append(("smallest flipping step",
                      f"to {flip.get('new_class')} at distance {format_number(flip.get('distance'))}"
                      if flip.get("found") else "none found"))
    if explain.get("partial_dependence_feature") is not None:
        facts.append(("partial dependence on", str(explain["partial_dependence_feature"])))
    return facts


def explain_section(run_dir: Path) -> dict | None:
    """explain.json in short, or None when the run has none."""
    explain, why = read_optional(run_dir / "explain.json")
    if explain is None:
        return None if why and why.startswith("No ") else {"why": why}
    return {"facts": explain_facts(explain), "attributions": attribution_table(explain),
            "top": TOP_FEATURES}


def evaluations_section(run_dir: Path) -> dict | None:
    """One row per split of each ``evaluations/<folder>/metrics.json``; None when there are none."""
    root = run_dir / "evaluations"
    if not root.is_dir():
        return None
    rows, notes, task = [], [], "classification"
    # hidden folders are evaluations still being written (or left by a killed one)
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        metrics, why = read_optional(folder / "metrics.json")
        if metrics is None or not split_names(metrics):
            notes.append(f"evaluations/{folder.name}: {why or 'metrics.json holds no split.'}")
            continue
        if regression(metrics):  # a run's evaluations are all of its one task
            task = "regression"
        rows += [[Cell(f"evaluations/{folder.name}", code=True)]
                 + headline_row(s, metrics[s], link=False) for s in split_names(metrics)]
    if not rows and not notes:
        return None
    table = Table([Cell("folder")] + headline_header(task), rows) if rows else None
    return {"table": table, "notes": notes}
