"""The initialiser, shown in the playground by its one declaration in config.py."""

from __future__ import annotations

import ast
import json

import pytest

from neuralab.config import SETTINGS, SettingError
from neuralab.fileio import read_json
from neuralab.playground.server import defaults_payload
from neuralab.playground.session import Session


def test_the_page_is_offered_the_initialiser_with_its_choices():
    described = {s["name"]: s for s in defaults_payload()["settings"]}
    assert described["init"]["choices"] == list(SETTINGS["init"].choices)
    assert defaults_payload()["config"]["init"] == "lecture"


def test_a_bad_initialiser_is_refused_naming_it(tmp_path):
    session = Session(runs_dir=tmp_path)
    session.ensure()
    with pytest.raises(SettingError) as exc:
        session.configure({"init": "kaiming"})
    assert exc.value.setting == "init"
    assert session.config["init"] == "lecture"


def test_he_initialisation_trains_a_deep_relu_net_that_the_lectures_cannot(tmp_path):
    accuracy = {}
    for init in ("lecture", "he"):
        session = Session(runs_dir=tmp_path / init)
        session.configure({"init": init, "hidden": [64, 64, 64, 64], "lr": 0.1, "reg": 0.0,
                           "optimizer": "momentum", "steps_per_frame": 100})
        for _ in range(3):
            session.train()
        accuracy[init] = session.frame()["train_accuracy"]
    # 0.01 N(0, 1) weights shrink the signal layer after layer: a 4-deep net barely moves
    assert accuracy["he"] > 0.8 > accuracy["lecture"]


def test_the_initialiser_reaches_the_scripts_and_the_saved_run(tmp_path):
    session = Session(runs_dir=tmp_path)
    session.configure({"init": "glorot", "hidden": [8]})
    session.train(5)
    code = session.code()
    for script in code.values():
        values = [n.value for n in ast.walk(ast.parse(script)) if isinstance(n, ast.Constant)]
        assert "glorot" in values
    run = session.save()
    assert read_json(run / "config.json")["settings"]["init"] == "glorot"
    assert json.loads((run / "model.json").read_text())["sizes"] == [2, 8, 3]
