"""neuralab.cli.runs.preload_writing: what a run's writing needs, loaded ahead (`train` does
it while the data set is read); a piece that fails is left for the writing to raise."""

from __future__ import annotations

import subprocess
import sys

from neuralab.cli.runs import preload_writing
from neuralab.runs import store

LOADED = ("import sys\nfrom neuralab.cli.runs import preload_writing\npreload_writing()\n"
          "print(sorted(m for m in ('matplotlib.backends.backend_agg', 'jinja2', "
          "'importlib.metadata', 'tensorboardX', 'torch', 'sklearn') if m in sys.modules))\n")


def test_preload_loads_the_figures_report_and_versions_and_not_the_events_writer():
    """tensorboardX's import names torch missing in sys.modules for a moment, which the
    thread reading the data beside the preload could run into: it stays for the run."""
    proc = subprocess.run([sys.executable, "-c", LOADED], capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(["importlib.metadata", "jinja2",
                                       "matplotlib.backends.backend_agg"]), proc.stdout


def test_preload_compiles_the_run_page_so_the_report_reads_no_template_again(monkeypatch):
    from neuralab.report import pages

    pages.environment.cache_clear()  # a new environment, with nothing compiled yet
    preload_writing()
    loader = pages.environment().loader

    def no_reading(*args, **kwargs):
        raise AssertionError("a template was read again after preload")

    monkeypatch.setattr(loader, "get_source", no_reading)
    pages.environment().get_template("run.html")  # compiled, from the environment's cache


def test_a_piece_that_fails_to_preload_is_left_for_the_writing(monkeypatch):
    from neuralab import plots
    from neuralab.report import pages

    calls = []

    def broken():
        calls.append("plots")
        raise ImportError("no matplotlib here")

    monkeypatch.setattr(plots, "preload", broken)
    monkeypatch.setattr(pages, "preload", lambda: calls.append("pages"))
    preload_writing()  # does not raise
    assert calls == ["plots", "pages"]  # and goes on with the rest


def test_versions_are_looked_up_once_and_handed_out_as_fresh_dicts():
    first = store.versions()
    first["numpy"] = "changed"
    again = store.versions()
    assert again["numpy"] != "changed" and set(again) == {"neuralab", "numpy", "torch"}
    assert store._versions.cache_info().hits >= 1
