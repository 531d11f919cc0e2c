"""The initialiser, shown in the playground by its one declaration in config.py."""

from __future__ import annotations

import json

import pytest

from neuralab.config import SETTINGS, SettingError
from neuralab.fileio import read_json
from neuralab.playground.server import defaults_payload
from neuralab.playground.session import Session


def test_the_page_is_offered_the_initialiser_with_its_choices():
    described = {s["name"]: s for s in defaults_payload()["settings"]}
    assert described["init"]["choices"] == list(SETTINGS["init"].choices)
    # the page starts from he: its deep presets do not train from the lecture's 0.01 N(0, 1)
    assert defaults_payload()["config"]["init"] == "he"
    assert SETTINGS["init"].default == "lecture"  # the command line keeps the lecture's


def test_a_bad_initialiser_is_refused_naming_it(tmp_path):
    session = Session(runs_dir=tmp_path)
    session.ensure()
    with pytest.raises(SettingError) as exc:
        session.configure({"init": "kaiming"})
    assert exc.value.setting == "init"
    assert session.config["init"] == "he"


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
    for script in code.values():  # the scripts draw the starting weights as glorot does
        assert "Ws.append(rng.uniform(-r, r, size=(d_in, d_out)))" in script
        assert "r = np.sqrt(6.0 / (d_in + d_out))" in script
    run = session.save()
    assert read_json(run / "config.json")["settings"]["init"] == "glorot"
    assert json.loads((run / "model.json").read_text())["sizes"] == [2, 8, 3]


def test_a_net_stuck_at_chance_gets_a_hint_naming_the_causes_and_the_controls(tmp_path):
    # the case: circles with 2-8-8-4-2 at lr 0.3 from the lecture's initial weights
    stuck = Session(runs_dir=tmp_path)
    stuck.configure({"dataset": "circles", "hidden": [8, 8, 4], "lr": 0.3, "init": "lecture",
                     "steps_per_frame": 50})
    hints = []
    for _ in range(8):
        stuck.train()
        hints.append(stuck.frame()["hint"])
    assert hints[0] is None  # 50 steps at chance are not yet a sign of anything
    hint = hints[-1]
    assert hint.startswith("The training loss has stayed at chance (log 2 = 0.6931) for ")
    assert "set init to he" in hint and "lr is 0.3" in hint and "dead ReLU units" in hint
    # the same net from he's initial weights learns, and is given no hint
    learning = Session(runs_dir=tmp_path)
    learning.configure({"dataset": "circles", "hidden": [8, 8, 4], "lr": 0.3, "init": "he",
                        "steps_per_frame": 50})
    for _ in range(8):
        learning.train()
    assert learning.frame()["hint"] is None


def test_discretize_draws_full_class_colours_and_keeps_the_model(tmp_path):
    import base64

    import numpy as np

    session = Session(runs_dir=tmp_path)
    session.configure({"steps_per_frame": 20})
    session.train()
    shaded = session.frame()["boundary"]["rgba"]
    session.configure({"discretize": True})  # a view setting: training goes on from step 20
    assert session.model.step == 20
    flat = session.frame()["boundary"]["rgba"]
    colours = {tuple(c) for c in np.frombuffer(base64.b64decode(flat), np.uint8).reshape(-1, 4)}
    assert len(colours) <= 3  # one colour per class, at full strength
    assert len({tuple(c) for c in np.frombuffer(base64.b64decode(shaded), np.uint8)
                .reshape(-1, 4)}) > 3
