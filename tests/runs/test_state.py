"""A run directory moves from one whole state to the next: build beside, manifest last, swap, lock.

The crash tests fork a child that writes a new state and dies (``os._exit``) at
its k-th file-system step, for every k; after each death the run must open as
its previous state or as its new one, never as a mixture.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from neuralab import NeuralabError
from neuralab.fileio import atomic_write
from neuralab.runs import MANIFEST, NewState, RunLock, RunLockedError, open_run, prepare_run_dir
from neuralab.runs import state as st

posix_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

OLD = {"config.json": "A" * 30, "model.safetensors": "weights A", "figures/old.png": "png A",
       "explain.json": "{}", "evaluations/e1/metrics.json": "{\"eval\": 1}", "notes.txt": "mine"}
NEW = {"config.json": "B" * 50, "model.safetensors": "weights B", "history.csv": "step\n1\n",
       "figures/loss.png": "png B"}
CARRIED = {"evaluations/e1/metrics.json", "notes.txt"}  # explain.json, figures/ describe old weights


def contents(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` but the manifest and hidden files, with its text."""
    out = {}
    for path in folder.rglob("*"):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel != MANIFEST and not any(p.startswith(".") for p in rel.split("/")):
            out[rel] = path.read_text()
    return out


def write_state(target: Path, files: dict[str, str], mode: str) -> None:
    with NewState(target, mode=mode) as state:
        for rel, text in files.items():
            atomic_write(state.folder / rel, text)
        state.commit()


def expected_new(mode: str, had_old: bool) -> dict[str, str]:
    carried = {k: OLD[k] for k in CARRIED} if mode == "update" and had_old else {}
    return {**NEW, **carried}


def leftovers(target: Path) -> list[str]:
    return sorted(n for n in os.listdir(target.parent) if n.startswith(f".{target.name}."))


# --------------------------------------------------------------------------- whole states


def test_the_new_state_appears_only_when_committed(tmp_path):
    target = tmp_path / "run"
    with NewState(target) as state:
        atomic_write(state.folder / "config.json", "x")
        assert not target.exists()  # built beside the run, under a hidden name
        assert state.folder.name == "run" and state.folder.parent.name.startswith(".run.new-")
        assert (tmp_path / ".run.lock").read_text().split()[0] == str(os.getpid())
        state.commit()
    assert contents(target) == {"config.json": "x"}
    manifest = json.loads((target / MANIFEST).read_text())
    assert manifest["files"] == {"config.json": 1}
    assert leftovers(target) == []  # the new-state folder and the lock are gone


def test_a_failure_leaves_nothing_behind_not_even_the_parents_it_made(tmp_path):
    target = tmp_path / "a" / "b" / "run"
    with pytest.raises(RuntimeError), NewState(target) as state:
        atomic_write(state.folder / "config.json", "x")
        raise RuntimeError("diverged")
    assert os.listdir(tmp_path) == []
    # so a retry with the same target works
    write_state(target, NEW, "new")
    assert contents(target) == NEW


def test_a_failure_keeps_the_previous_state(tmp_path):
    target = tmp_path / "run"
    write_state(target, OLD, "new")
    with pytest.raises(RuntimeError), NewState(target, mode="update") as state:
        atomic_write(state.folder / "config.json", "half")
        raise RuntimeError("boom")
    assert contents(target) == OLD and leftovers(target) == []


def test_overwrite_means_a_clean_folder(tmp_path):
    target = tmp_path / "run"
    write_state(target, OLD, "new")
    write_state(target, NEW, "overwrite")
    assert contents(target) == NEW


def test_update_keeps_what_later_commands_wrote_but_not_what_describes_old_weights(tmp_path):
    target = tmp_path / "run"
    write_state(target, OLD, "new")
    (target / "evaluations" / ".e2.new-abcdefgh").mkdir()  # a killed evaluate's leftover
    write_state(target, NEW, "update")
    assert contents(target) == expected_new("update", True)
    assert not (target / "explain.json").exists() and not (target / "figures" / "old.png").exists()
    assert not (target / "evaluations" / ".e2.new-abcdefgh").exists()


def test_new_refuses_a_folder_with_files_but_not_one_with_only_empty_folders(tmp_path):
    target = tmp_path / "run"
    (target / "figures").mkdir(parents=True)  # what a failed run of an older version left
    write_state(target, NEW, "new")
    assert contents(target) == NEW
    with pytest.raises(NeuralabError, match="already exists and is not empty; .*set overwrite"):
        NewState(target).__enter__()
    assert leftovers(target) == []


def test_update_needs_an_existing_folder(tmp_path):
    with pytest.raises(NeuralabError, match="is not a run directory"):
        NewState(tmp_path / "missing", mode="update").__enter__()
    assert os.listdir(tmp_path) == []


def test_prepare_run_dir_with_overwrite_empties_the_folder(tmp_path):
    (tmp_path / "out" / "best").mkdir(parents=True)
    (tmp_path / "out" / "sweep.csv").write_text("old")
    (tmp_path / "out" / "best" / "config.json").write_text("old")
    prepare_run_dir(tmp_path / "out", overwrite=True)
    assert sorted(os.listdir(tmp_path / "out")) == ["figures"]
    assert os.listdir(tmp_path / "out" / "figures") == []
    assert leftovers(tmp_path / "out") == []


def test_an_unwritable_place_is_one_line_naming_it(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NeuralabError) as exc:
        NewState(tmp_path / "file" / "run").__enter__()
    message = str(exc.value)
    assert "out " in message and str(tmp_path / "file" / "run") in message
    assert "\n" not in message


# --------------------------------------------------------------------------- crashes


def crash_at(k: int, target: Path, mode: str, exchange: bool) -> bool:
    """Fork a child that writes NEW into ``target`` and dies at its k-th file-system step.

    Returns True when the child finished (k is past its last step)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 3
        try:
            steps = [0]

            def dying(fn):
                def wrapped(*args, **kwargs):
                    steps[0] += 1
                    if steps[0] == k:
                        os._exit(9)
                    return fn(*args, **kwargs)
                return wrapped

            for name in ("open", "rename", "replace", "link", "mkdir", "rmdir", "unlink",
                         "ftruncate", "write"):
                setattr(os, name, dying(getattr(os, name)))
            st._exchange = dying(st._exchange)
            st.USE_EXCHANGE = exchange
            write_state(target, NEW, mode)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) in (0, 9), status
    return os.WEXITSTATUS(status) == 0


@posix_only
@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two-renames"])
@pytest.mark.parametrize("mode", ["update", "overwrite", "new"])
def test_a_writer_killed_at_any_step_leaves_the_old_state_or_the_new(tmp_path, mode, exchange):
    seen = set()
    for k in range(1, 400):
        target = tmp_path / f"k{k}" / "run"
        target.parent.mkdir()
        had_old = mode != "new"
        if had_old:
            write_state(target, OLD, "new")
        finished = crash_at(k, target, mode, exchange)
        open_run(target)  # finishes or discards a half-done swap
        # a new run killed before its swap leaves nothing at all
        got = contents(target) if target.exists() else None
        assert got in (OLD if had_old else None, expected_new(mode, had_old)), (k, got)
        seen.add("new" if got == expected_new(mode, had_old) else "old")
        assert [n for n in leftovers(target) if ".new-" in n] == [], k
        # whatever happened, the next writer succeeds
        write_state(target, NEW, "overwrite")
        assert contents(target) == NEW
        if finished:
            break
    else:
        pytest.fail("the writer never finished")
    assert seen == {"old", "new"}  # both outcomes were reached
    assert k > 10


def test_a_complete_new_state_left_unswapped_is_swapped_in_when_the_run_is_opened(tmp_path):
    target = tmp_path / "run"
    write_state(target, OLD, "new")
    state = NewState(target, mode="update").__enter__()
    for rel, text in NEW.items():
        atomic_write(state.folder / rel, text)
    st.write_manifest(state.folder, st._token(state.folder.parent, state.target), "update")
    os.close(state.lock.fd)  # the writer dies here, its lock released by the kernel
    assert contents(open_run(target)) == expected_new("update", True)
    assert leftovers(target) == []


def test_a_changed_file_is_reported_against_the_manifest(tmp_path):
    target = tmp_path / "run"
    write_state(target, NEW, "new")
    (target / "config.json").write_text("short")
    with pytest.raises(NeuralabError, match=r"config.json has 5 bytes, not the 50 written") as exc:
        open_run(target)
    assert "\n" not in str(exc.value)
    (target / "config.json").unlink()
    with pytest.raises(NeuralabError, match="config.json is missing"):
        open_run(target)


def test_a_run_written_before_manifests_still_opens(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert open_run(tmp_path) == tmp_path


# --------------------------------------------------------------------------- locks

HOLDER = textwrap.dedent("""
    import sys
    from neuralab.runs import RunLock
    with RunLock(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.readline()
""")


def test_a_second_writer_is_refused_while_the_first_lives(tmp_path):
    target = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(target)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError) as exc:
            NewState(target).__enter__()
        message = str(exc.value)
        assert f"being written by process {proc.pid}" in message and "\n" not in message
        assert not target.exists()
    finally:
        proc.communicate("\n", timeout=60)
    assert not (tmp_path / ".run.lock").exists()  # released on exit
    write_state(target, NEW, "new")


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    target = tmp_path / "run"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    (tmp_path / ".run.lock").write_text(f"{pid}\n")
    with RunLock(target) as lock:
        assert lock.took_over == pid
        assert (tmp_path / ".run.lock").read_text().split()[0] == str(os.getpid())
    assert not (tmp_path / ".run.lock").exists()


def test_a_lock_killed_holder_is_stale(tmp_path):
    target = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(target)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    proc.kill()
    proc.wait(timeout=60)
    assert (tmp_path / ".run.lock").exists()
    with RunLock(target) as lock:
        assert lock.took_over == proc.pid


def test_the_pid_lock_used_without_flock_refuses_a_live_owner_and_takes_a_dead_ones(tmp_path):
    lock = RunLock(tmp_path / "run")
    (tmp_path / ".run.lock").write_text(f"{os.getppid()}\n")  # alive: our parent
    with pytest.raises(RunLockedError, match=f"process {os.getppid()}"):
        lock._acquire_by_pid()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (tmp_path / ".run.lock").write_text(dead.stdout)
    lock._acquire_by_pid()
    assert lock.took_over == int(dead.stdout)
    lock.release()
    assert not (tmp_path / ".run.lock").exists()


def test_a_lock_looks_free_without_being_taken(tmp_path):
    """RunLock.free() reads the lock file and never takes the lock: a process that wants the
    lock meanwhile is never refused on its account."""
    target, path = tmp_path / "run", tmp_path / ".run.lock"
    lock = RunLock(target)
    assert lock.free()  # no lock file: its holder removes it as it lets go
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(target)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        held = path.read_text()
        assert not lock.free()
        assert path.read_text() == held  # read, not taken
    finally:
        proc.communicate("\n", timeout=60)
    assert lock.free()
    path.write_text("")  # a holder that has yet to write its id
    assert not lock.free()
    path.write_text(f"{os.getpid()}\n")  # this very process
    assert not lock.free()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    path.write_text(dead.stdout)  # left by a process that ended: acquire() takes it over
    assert lock.free()


# --------------------------------------------------------------------------- signals


def test_signals_wait_until_the_swap_is_done():
    got = []
    old = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
    try:
        with st.deferred_signals():
            signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGTERM)
            assert got == []
        assert got == [signal.SIGTERM]  # delivered once, after the block
    finally:
        signal.signal(signal.SIGTERM, old)


def test_a_run_reached_through_a_symbolic_link_is_replaced_where_it_lives(tmp_path):
    real = tmp_path / "disk" / "run"
    write_state(real, OLD, "new")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    write_state(tmp_path / "link", NEW, "overwrite")
    assert (tmp_path / "link").is_symlink() and contents(real) == NEW
    assert leftovers(real) == [] and sorted(os.listdir(tmp_path)) == ["disk", "link"]


def test_a_shared_run_keeps_its_permissions(tmp_path):
    target = tmp_path / "run"
    write_state(target, OLD, "new")
    os.chmod(target, 0o2775)
    write_state(target, NEW, "update")
    assert (target.stat().st_mode & 0o7777) == 0o2775
