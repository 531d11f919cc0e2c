"""Commands that add to a run (explain, inspect, monitor, retrieve, evaluate) write whole and
lock the run, so that a kill leaves the run as it was and a resume cannot lose their output."""

from __future__ import annotations

import os

import pytest

from neuralab import report
from neuralab.explain import explain_run
from neuralab.runs import RunLock, load_model


def files_of(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def hidden_leftovers(folder):
    return [n for n in os.listdir(folder.parent) if n.startswith(f".{folder.name}.")
            and not n.endswith(".lock")]


def test_explain_adds_its_files_as_a_whole(spiral_run_copy):
    run = spiral_run_copy
    before = files_of(run)
    result = explain_run(run, index=0)
    after = files_of(run)
    assert "explain.json" in after and "explain.json" not in before
    assert all(name in after and after[name] == data for name, data in before.items()
               if name not in ("report.html", "manifest.json"))  # the run's own files stay
    assert all(p.parent == run / "figures" and p.is_file() for p in result.figures)
    assert b"Explain" in after["report.html"]
    load_model(run)  # the manifest lists the new files: the run still opens
    assert not hidden_leftovers(run)


def test_an_explain_that_fails_half_way_leaves_the_run_as_it_was(spiral_run_copy, monkeypatch):
    run = spiral_run_copy
    before = files_of(run)

    def broken(folder):
        raise OSError(28, "No space left on device", str(folder / "report.html"))

    monkeypatch.setattr(report, "build_report", broken)
    with pytest.raises(Exception, match="No space left on device"):
        explain_run(run, index=0)
    assert files_of(run) == before
    assert not hidden_leftovers(run)


@pytest.mark.parametrize("command", [
    ["inspect", "{run}", "--outliers", "3"],
    ["evaluate", "{run}"],
    ["explain", "{run}"],
])
def test_a_command_that_writes_into_a_run_waits_for_no_one(spiral_run_copy, cli, command):
    run = spiral_run_copy
    before = files_of(run)
    with RunLock(run):  # as a train --resume of this run would hold it
        code, out, err = cli(*[a.format(run=run) for a in command])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "is being written by process" in lines[0], err
    assert files_of(run) == before


def test_the_report_lists_no_evaluation_still_being_written(spiral_run_copy, cli):
    run = spiral_run_copy
    (run / "evaluations" / ".20260101-own-splits.new-abcdefgh").mkdir(parents=True)
    assert cli("evaluate", run)[0] == 0
    report.build_report(run)
    html = (run / "report.html").read_text()
    assert "own-splits" in html and ".new-abcdefgh" not in html
