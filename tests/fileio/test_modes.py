"""Atomically written files get a normal file's mode; file-system errors name the path."""

import errno
import os
import stat

import pytest

from neuralab import NeuralabError, fileio
from neuralab.fileio import atomic_write, check_regular_file, read_csv, read_json


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Set the umask for a test and restore it afterwards."""
    old = os.umask(0o022)
    yield lambda value: os.umask(value)
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_a_new_file_follows_the_umask(tmp_path, umask, mask):
    umask(mask)
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    target = atomic_write(tmp_path / "atomic.txt", "x")
    assert mode(target) == 0o666 & ~mask
    assert mode(target) == mode(plain)


def test_replacing_a_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "predictions.csv"
    target.write_text("old")
    os.chmod(target, 0o640)
    atomic_write(target, "new")
    assert target.read_text() == "new"
    assert mode(target) == 0o640
    assert os.listdir(tmp_path) == ["predictions.csv"]


def test_a_path_under_a_file_names_the_path(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n")
    target = tmp_path / "data.csv" / "out.csv"
    with pytest.raises(NotADirectoryError) as info:
        atomic_write(target, "x")
    assert info.value.filename == str(target)
    assert info.value.errno == errno.ENOTDIR


def test_a_write_error_names_the_target_not_the_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "model.json"

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", full)
    with pytest.raises(OSError) as info:
        atomic_write(target, "x")
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(target)
    assert os.listdir(tmp_path) == []


def test_a_read_only_folder_is_a_permission_error_naming_the_target(tmp_path):
    from helpers import read_only

    folder = tmp_path / "ro"
    folder.mkdir()
    with read_only(folder), pytest.raises(PermissionError) as info:
        atomic_write(folder / "out.csv", "x")
    assert info.value.filename == str(folder / "out.csv")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    with pytest.raises(NeuralabError, match=r"config.json is a FIFO \(named pipe\); give a regular file"):
        read_json(fifo)
    with pytest.raises(NeuralabError, match="FIFO"):
        read_csv(fifo)
    with pytest.raises(NeuralabError, match="is a folder"):
        check_regular_file(tmp_path, what="data file ")
    check_regular_file(tmp_path / "missing.csv")  # the caller says it does not exist
