"""``neuralab export``: a run's model as ONNX or TorchScript, for tools outside neuralab."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from neuralab.cli.app import RunDir, app

FORMAT_NAMES = {"onnx": "ONNX", "torchscript": "TorchScript"}


@app.command("export")
def export(
    run_dir: RunDir,
    format: Annotated[str, typer.Option("--format", "-f", help="onnx or torchscript.", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="File to write (default: RUN_DIR/model.onnx or RUN_DIR/model.pt).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Allow replacing an existing --out file.")] = False,
) -> None:
    """Write the model as one ONNX or TorchScript file: raw features in, probabilities out."""
    from neuralab.runs.export import export_run

    path, meta = export_run(run_dir, format, out, overwrite=overwrite)
    if meta["task"] == "regression":
        what = f"the predicted {meta['target']}"
    else:
        what = "the probabilities of classes " + ", ".join(_names(meta["classes"]))
    inputs = ", ".join(_names(meta["feature_names"]))
    typer.echo(f"{FORMAT_NAMES[format]} model written to {path}: raw {inputs} in "
               f"({meta['dtype']}, input {meta['input']!r}), {what} out "
               f"({meta['output']!r}); preprocessing included")


def _names(text: str, shown: int = 10) -> list[str]:
    import json

    names = json.loads(text)
    return names[:shown] + ([f"... ({len(names)} in all)"] if len(names) > shown else [])
