"""File-system errors are one line that names the path, with exit status 2."""

import errno
import os
import stat

import numpy as np
import pytest

from helpers import read_only

from neuralab import fileio
from neuralab.cli import main



def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("neuralab: error: ")
    return lines[0][len("neuralab: error: "):]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("files")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    lines = ["x1,x2,label"] + [f"{a},{b},{int(a > 0)}" for a, b in X]
    (root / "in.csv").write_text("\n".join(lines) + "\n")
    assert main(["train", "--data", str(root / "in.csv"), "--iterations", "5", "--quiet",
                 "--out", str(root / "run")]) == 0
    return root


def test_output_under_a_file_is_refused(run, capsys):
    target = run / "in.csv" / "p.csv"
    code, out, err = cli(capsys, "predict", run / "run", "--input", run / "in.csv", "--output", target)
    assert code == 2
    assert one_error_line(err) == (f"--output {target} cannot be written: {run / 'in.csv'} is a "
                                   "file, not a folder")
    assert (run / "in.csv").is_file()


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_output_that_is_a_folder_is_refused(run, capsys, tmp_path, overwrite):
    code, out, err = cli(capsys, "predict", run / "run", "--input", run / "in.csv", "--output",
                         tmp_path, *overwrite)
    assert code == 2
    assert one_error_line(err) == f"--output {tmp_path} is a folder; give a file name"
    assert tmp_path.is_dir()


def test_output_in_a_read_only_place_is_refused_before_the_model_is_loaded(run, capsys, tmp_path,
                                                                           monkeypatch):
    # root may write anywhere, so the permission check is made to answer as for a user
    folder = tmp_path / "ro"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(fileio.os, "access",
                        lambda p, mode: False if str(p) == str(folder) else real_access(p, mode))
    code, out, err = cli(capsys, "predict", run / "run", "--input", run / "in.csv", "--output",
                         folder / "p.csv")
    assert code == 2
    assert one_error_line(err) == (f"--output {folder / 'p.csv'} cannot be written: folder {folder} "
                                   "is read-only or not writable by this user")
    assert os.listdir(folder) == []


@pytest.mark.parametrize("sub", ["p.csv", "missing/p.csv"])
def test_output_in_a_read_only_folder_for_real(run, capsys, tmp_path, sub):
    folder = tmp_path / "ro"
    folder.mkdir()
    with read_only(folder):
        code, out, err = cli(capsys, "predict", run / "run", "--input", run / "in.csv",
                             "--output", folder / sub)
    assert code == 2
    assert f"--output {folder / sub} cannot be written" in one_error_line(err)


def test_a_missing_folder_is_made_for_the_output(run, capsys, tmp_path):
    target = tmp_path / "new" / "sub" / "p.csv"
    code, out, err = cli(capsys, "predict", run / "run", "--input", run / "in.csv", "--output", target)
    assert code == 0, err
    assert target.read_text().startswith("index,y_pred,p_0,p_1\n")


def test_a_failing_write_of_the_output_is_one_line(run, capsys, tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio.os, "fsync", full)
    target = tmp_path / "p.csv"
    code, out, err = cli(capsys, "predict", run / "run", "--input", run / "in.csv", "--output", target)
    assert code == 2
    assert one_error_line(err) == f"--output {target} cannot be written: No space left on device"
    assert os.listdir(tmp_path) == []


def test_an_os_error_in_any_command_is_one_line_naming_the_path(run, capsys, tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio.os, "fsync", full)
    code, out, err = cli(capsys, "train", "--data", run / "in.csv", "--iterations", "5",
                         "--out", tmp_path / "run", "-q")
    assert code == 2
    line = one_error_line(err)
    assert str(tmp_path / "run") in line and "No space left on device" in line
    assert "Traceback" not in err


def test_predictions_follow_the_umask(run, capsys, tmp_path):
    old = os.umask(0o022)
    try:
        code, out, err = cli(capsys, "predict", run / "run", "--input", run / "in.csv",
                             "--output", tmp_path / "p.csv")
    finally:
        os.umask(old)
    assert code == 0, err
    assert stat.S_IMODE(os.stat(tmp_path / "p.csv").st_mode) == 0o644
