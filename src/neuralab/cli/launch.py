"""``neuralab train --nproc N``: the same command on N local ranks, through torch's own launcher.

The launcher (``python -m torch.distributed.run --standalone``) starts N copies of
the command without ``--nproc``, each with RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT set; :func:`neuralab.launch.launched_world` joins
them. This process waits for them; Ctrl-C (or SIGTERM) is passed to the
launcher, which passes it to every rank once, so that they stop together and
rank 0 writes the run as interrupted. The launcher's own report of a failed
rank is replaced by one line; the ranks' one-line errors are shown once each.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import typer

from neuralab import ArgumentError


def _without_nproc(args: list[str]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def check_nproc(nproc: int, settings: dict) -> None:
    """Refuse a rank count the machine cannot hold, before any process starts."""
    if settings.get("backend", "numpy") != "torch":
        raise ArgumentError("nproc", f"nproc {nproc}: data-parallel training needs backend torch")
    device = settings.get("device", "auto")
    cores = os.cpu_count() or 1
    if device in ("auto", "cuda"):
        from neuralab.torch_backend.model import gpu_count

        gpus = gpu_count()
        if gpus or device == "cuda":
            if nproc > gpus:
                raise ArgumentError("nproc", f"nproc {nproc} is more than the {gpus} GPUs of this "
                                             "machine (one GPU per process); use at most "
                                             f"{gpus}, or device cpu")
            return
    if nproc > cores:
        raise ArgumentError("nproc", f"nproc {nproc} is more than the {cores} CPU cores of this "
                                     f"machine; use at most {cores}")


def launch(nproc: int, out: Path | None, argv: list[str] | None = None) -> int:
    """Run the current ``train`` command on ``nproc`` ranks; its exit status.

    ``out``: the run directory every rank is told (chosen here once, so that a
    time-stamped default is the same on all ranks).
    """
    args = _without_nproc(list(sys.argv[1:] if argv is None else argv))
    if out is not None and "--out" not in args and "-o" not in args:
        args += ["--out", str(out)]
    threads = max(1, (os.cpu_count() or 1) // nproc)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
           f"--nproc-per-node={nproc}", "-m", "neuralab", *args]
    # the launcher in a session of its own: a terminal's Ctrl-C reaches this process only, and
    # is passed on once (a rank that heard it twice would abandon writing the run)
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    heard: list[int] = []

    def forward(signum, frame) -> None:
        if not heard:
            heard.append(signum)
            proc.send_signal(signal.SIGINT)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        lines = _relay(proc)
        status = proc.wait()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    if status == 0:
        return 0
    if heard:
        return 130
    errors = [line for line in lines if line.startswith("neuralab: error:")]
    if not errors:
        typer.echo(f"neuralab: error: training on {nproc} processes failed (the launcher "
                   f"exited with status {status}); a rank died: see the lines above", err=True)
    return 2 if errors and all("lost contact" not in e for e in errors) else 1


def _relay(proc) -> list[str]:
    """Show the ranks' own lines (each once); drop the launcher's tracebacks. The lines shown."""
    shown: list[str] = []
    for line in proc.stderr:
        line = line.rstrip("\n")
        if line.startswith("neuralab:") and line not in shown:
            shown.append(line)
            typer.echo(line, err=True)
    return shown
