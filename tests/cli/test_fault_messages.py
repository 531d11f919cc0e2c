"""File-system faults and locked runs on the command line: one line, exit 2, nothing lost."""

import errno
import json
import os

import pytest

from neuralab.cli import main
from neuralab.runs import RunLock, read_config

TRAIN = ["train", "--dataset", "xor", "--hidden", "8", "--iterations", "30", "--quiet"]


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def fill_disk(monkeypatch):
    """From now on history.csv cannot be written: the disk is full."""
    import neuralab.runs.writer as writer

    def write_csv(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(writer, "write_csv", write_csv)


@pytest.fixture
def full_disk(monkeypatch):
    fill_disk(monkeypatch)


def test_a_full_disk_during_train_is_one_line_naming_the_run(tmp_path, capsys, full_disk):
    out = tmp_path / "run"
    code, _, err = run(capsys, *TRAIN, "--out", out)
    assert code == 2 and len(err) == 1
    assert err[0] == (f"neuralab: error: cannot write run directory {out}: No space left on "
                      f"device ({out / 'history.csv'}); nothing was written")
    assert os.listdir(tmp_path) == []


def test_a_full_disk_during_resume_keeps_the_previous_state(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert run(capsys, *TRAIN, "--out", out)[0] == 0
    before = snapshot(out)
    fill_disk(monkeypatch)
    code, _, err = run(capsys, "train", "--resume", out, "--iterations", "10")
    assert code == 2 and len(err) == 1 and "No space left on device" in err[0]
    assert err[0].endswith("its previous state is unchanged")
    assert snapshot(out) == before and read_config(out)["steps"] == 30


def test_overwrite_of_a_locked_run_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(capsys, *TRAIN, "--out", out)[0] == 0
    before = snapshot(out)
    with RunLock(out):
        code, _, err = run(capsys, *TRAIN, "--out", out, "--overwrite")
        assert code == 2 and len(err) == 1
        assert err[0].startswith(f"neuralab: error: run directory {out} is being written by "
                                 f"process {os.getpid()}")
        code, _, err = run(capsys, "evaluate", out)
        assert code == 2 and len(err) == 1 and "is being written by process" in err[0]
    assert snapshot(out) == before


def test_a_file_system_error_the_library_does_not_name_is_still_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(capsys, *TRAIN, "--out", out)[0] == 0
    (tmp_path / "file").write_text("x")
    names = json.loads((out / "model.json").read_text())["feature_names"]
    (tmp_path / "in.csv").write_text(",".join(names) + "\n0.1,0.2\n")
    target = tmp_path / "file" / "predictions.csv"
    code, _, err = run(capsys, "predict", out, "--input", tmp_path / "in.csv", "--output", target)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("neuralab: error: ") and str(tmp_path / "file") in err[0]
    assert "Traceback" not in err[0]
