"""Overwrite means a clean folder; a resume keeps what later commands wrote; a failed run leaves nothing."""

import json
import os
import shutil

import pytest

from neuralab import ArgumentError, NeuralabError
from neuralab.cli import main
from neuralab.config import TrainSettings
from neuralab.data import load
from neuralab.lab import evaluate_run, resume_training, run_demo, run_training
from neuralab.runs import MANIFEST, RunLock, RunLockedError, load_checkpoint
from neuralab.train import TrainingDiverged

MOONS = {"kind": "registry", "name": "moons", "seed": 0}


def train(out, data="moons", **settings):
    spec = {"kind": "registry", "name": data, "seed": 0}
    settings = {"hidden": [8], "iterations": 40, **settings}
    return run_training(load(data, seed=0), TrainSettings(**settings), out=out, echo=None,
                        progress=False, data_spec=spec, name=data)


def files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    """A moons run with a test split, then explained and evaluated: what later commands add."""
    from neuralab.explain import explain_run

    out = tmp_path_factory.mktemp("explained") / "run"
    train(out, test_fraction=0.25)
    explain_run(out)
    evaluate_run(out)
    assert (out / "explain.json").is_file() and list((out / "figures").glob("explain_*.png"))
    assert (out / "figures" / "confusion_test.png").is_file()
    return out


def test_overwrite_leaves_nothing_of_the_old_run(explained, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(explained, out)
    code = main(["train", "--dataset", "gaussian", "--hidden", "8", "--iterations", "40",
                 "--quiet", "--out", str(out), "--overwrite"])
    assert code == 0
    names = files(out)
    assert "explain.json" not in names and not any("explain" in n for n in names)
    assert not any(n.startswith("evaluations/") for n in names)
    assert "figures/confusion_test.png" not in names  # the new run has no test split
    report = (out / "report.html").read_text()
    assert 'id="explain"' not in report and "evaluations/" not in report
    manifest = json.loads((out / MANIFEST).read_text())
    assert sorted(manifest["files"]) == [n for n in names if n != MANIFEST]
    assert json.loads((out / "model.json").read_text())["classes"] == ["0", "1", "2"]


def test_a_resume_keeps_evaluations_and_drops_what_describes_the_old_weights(explained, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(explained, out)
    (out / "notes.txt").write_text("mine")
    evaluation = next((out / "evaluations").iterdir())
    before = {p: p.read_bytes() for p in evaluation.rglob("*") if p.is_file()}
    run = resume_training(out, iterations=20, echo=None, progress=False)
    assert run.fit.steps == 60 and run.run_dir == out
    assert {p: p.read_bytes() for p in evaluation.rglob("*") if p.is_file()} == before
    assert (out / "notes.txt").read_text() == "mine"
    assert not (out / "explain.json").exists() and not list((out / "figures").glob("explain_*"))
    report = (out / "report.html").read_text()
    assert f"evaluations/{evaluation.name}" in report and 'id="explain"' not in report
    assert json.loads((out / "config.json").read_text())["steps"] == 60


@pytest.mark.parametrize("fail", ["diverge", "max_fpr"])
def test_a_failed_run_leaves_nothing_so_a_retry_works(tmp_path, fail):
    out = tmp_path / "new" / "run"
    if fail == "diverge":
        with pytest.raises(TrainingDiverged):
            train(out, lr=1e6, iterations=200)
    else:
        with pytest.raises(ArgumentError, match="max_fpr needs a binary problem") as exc:
            train(out, data="gaussian", max_fpr=0.1)
        assert exc.value.argument == "max_fpr"
    assert os.listdir(tmp_path) == []  # not the run, not its parent, not a lock
    train(out)
    assert (out / "report.html").is_file()


def test_a_failed_overwrite_keeps_the_previous_run(tmp_path):
    out = tmp_path / "run"
    train(out)
    before = {n: (out / n).read_bytes() for n in files(out)}
    with pytest.raises(TrainingDiverged):
        run_training(load("moons", seed=0), TrainSettings(hidden=[8], lr=1e6, iterations=200),
                     out=out, overwrite=True, echo=None, progress=False)
    assert {n: (out / n).read_bytes() for n in files(out)} == before
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_an_empty_figures_folder_left_by_an_older_version_does_not_block_a_retry(tmp_path, capsys):
    (tmp_path / "run" / "figures").mkdir(parents=True)
    code = main(["train", "--dataset", "xor", "--iterations", "20", "--quiet",
                 "--out", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "demo"])
def test_no_gpu_is_refused_before_anything_is_made(tmp_path, capsys, command):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    out = tmp_path / "new" / "run"
    args = ["--dataset", "moons", "--quiet"] if command == "train" else []
    code = main([command, *args, "--backend", "torch", "--device", "cuda", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no CUDA GPU is available" in err[0]
    assert os.listdir(tmp_path) == []


def test_max_fpr_on_a_multiclass_problem_names_the_flag(tmp_path, capsys):
    code = main(["train", "--dataset", "gaussian", "--max-fpr", "0.1", "--quiet",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["neuralab: error: --max-fpr needs a binary problem, "
                                 "this one has 3 classes"]
    assert os.listdir(tmp_path) == []


def test_demo_overwrite_means_a_clean_folder(tmp_path, monkeypatch):
    import neuralab.config

    # the lecture's two models, a few iterations each
    monkeypatch.setattr(neuralab.config, "LECTURE_ITERATIONS", {"linear": 5, "mlp": 5})
    out = tmp_path / "demo"
    (out / "old").mkdir(parents=True)
    (out / "old" / "config.json").write_text("{}")
    with pytest.raises(NeuralabError, match="set overwrite"):
        run_demo(out=out, echo=None, progress=False)
    result = run_demo(out=out, overwrite=True, echo=None, progress=False)
    assert sorted(os.listdir(out)) == ["comparison.json", "comparison.png", "linear",
                                       MANIFEST, "mlp", "report.html"]
    assert [r.run_dir for r in result.runs] == [out / "linear", out / "mlp"]
    assert load_checkpoint(out / "mlp")[1]["sizes"] == [2, 100, 3]


def test_evaluate_waits_for_no_one_and_is_refused_while_the_run_is_written(explained, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(explained, out)
    with RunLock(out):  # as a resume in progress holds it
        with pytest.raises(RunLockedError, match="is being written by process"):
            evaluate_run(out)
    before = sorted(os.listdir(out / "evaluations"))
    _, folder = evaluate_run(out, out=out / "evaluations" / "again")
    assert sorted(os.listdir(out / "evaluations")) == sorted([*before, "again"])
    assert (folder / "metrics.json").is_file() and not list(folder.parent.glob(".*"))


def test_nothing_appears_at_out_until_the_run_is_written_whole(tmp_path, monkeypatch):
    import neuralab.report as report

    out, seen = tmp_path / "run", []
    real = report.build_report

    def build_report(folder):
        # the report is the last file: the run is complete beside out, out untouched
        seen.append((folder.parent.name.startswith(".run.new-"), folder.name,
                     json.loads((out / "config.json").read_text())["steps"]
                     if out.exists() else None))
        return real(folder)

    monkeypatch.setattr(report, "build_report", build_report)
    train(out)
    resume_training(out, iterations=10, echo=None, progress=False)
    assert seen == [(True, "run", None), (True, "run", 40)]
    assert json.loads((out / "config.json").read_text())["steps"] == 50


def test_a_run_written_before_manifests_loads_and_resumes(tmp_path):
    out = tmp_path / "run"
    train(out)
    (out / MANIFEST).unlink()
    from neuralab.lab import load_model

    assert load_model(out).predict_proba([[0.0, 0.0]]).shape == (1, 2)
    assert resume_training(out, iterations=10, echo=None, progress=False).fit.steps == 50
    assert (out / MANIFEST).is_file()
