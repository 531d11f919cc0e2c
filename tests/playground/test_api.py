"""The playground's HTTP routes and WebSocket protocol, through Starlette's TestClient.

Each WebSocket is one session; the tests read the replies in the order the
protocol promises them (see neuralab.playground.server.Connection).
"""

from __future__ import annotations

import base64
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import asgi_status, configure, receive

with warnings.catch_warnings():
    # starlette 1.x prefers httpx2 for its TestClient and warns on import with httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketDenialResponse

from starlette.websockets import WebSocketDisconnect

from neuralab.config import SETTINGS, settings_for, validate
from neuralab.playground import create_app
from neuralab.playground.frames import boundary_rgba
from neuralab.playground.server import STATIC_DIR

BASE = "http://127.0.0.1"
WS = "ws://127.0.0.1/ws"
CONTRACT = ("config.json", "history.csv", "metrics.json", "predictions.csv",
            "model.safetensors", "model.json", "report.html")


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("playground-runs")


@pytest.fixture(scope="module")
def app(runs_dir):
    return create_app(runs_dir=runs_dir)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app, base_url=BASE) as c:
        yield c




def step(ws) -> dict:
    ws.send_json({"type": "step"})
    return receive(ws, "frame")


def pause(ws) -> dict:
    """Pause; skip the play frames still on the way; return the pause's own frame."""
    ws.send_json({"type": "pause"})
    while (msg := receive(ws))["type"] != "state":
        assert msg["type"] == "frame"
    assert msg["playing"] is False
    return receive(ws, "frame")


def wait_until(predicate, timeout: float = 60.0) -> bool:
    """Poll ``predicate`` until it holds; the deadline is generous (a busy machine is slow)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


SMALL = {"hidden": [8], "n_points": 30}


# --------------------------------------------------------------------------- HTTP


PLAYGROUND = settings_for("playground")


def test_defaults_endpoint_is_the_schema_of_every_playground_setting(client):
    r = client.get("/api/defaults")
    assert r.status_code == 200
    body = r.json()
    # every setting the schema offers the playground, in its order, described by the schema
    assert [d["name"] for d in body["settings"]] == [s.name for s in PLAYGROUND]
    assert body["settings"] == json.loads(json.dumps([s.describe() for s in PLAYGROUND]))
    assert body["config"] == validate({}, surface="playground")
    assert set(body["config"]) == {s.name for s in PLAYGROUND}
    described = {d["name"]: d for d in body["settings"]}
    for s in PLAYGROUND:
        d = described[s.name]
        assert d["kind"] == s.kind and d["help"] == SETTINGS[s.name].help
        assert d.get("minimum") == s.minimum and d.get("maximum") == s.maximum
        assert d.get("choices", []) == list(s.choices)
        # the playground's bounds where it has its own, else the schema's
        pg = SETTINGS[s.name].playground or {}
        assert d.get("maximum") == pg.get("maximum", SETTINGS[s.name].maximum), s.name
    assert described["n_points"]["minimum"] == 10 and described["n_points"]["maximum"] == 2000
    assert described["n_points"]["unit"] == "points per class"
    assert described["dataset"]["choices"] == ["spiral", "moons", "circles", "xor", "gaussian",
                                               "plane", "gaussians"]
    assert described["hidden"]["max_length"] == 6 and described["hidden"]["maximum"] == 256
    assert "manual" not in described["optimizer"]["choices"]  # the torch-only update
    assert described["batch_size"]["optional"] and described["batch_size"]["none_word"] == "full"
    assert body["config"]["batch_size"] is None and body["config"]["test_fraction"] == 0.2
    assert body["upload"] == "upload"
    assert body["two_class_only"] == ["moons", "circles", "xor"]
    assert body["grid"] == {"width": 100, "height": 100}
    assert body["class_colours"][:2] == ["#1f77b4", "#d62728"]


def test_index_serves_the_page(client):
    r = client.get("/")
    if not (STATIC_DIR / "index.html").is_file():
        assert r.status_code == 404
    else:
        assert r.status_code == 200 and "html" in r.headers["content-type"]


@pytest.mark.parametrize("path", ["/static/../server.py", "/static/%2e%2e/server.py",
                                  "/static/..%2fserver.py", "/static/%2e%2e%2fsession.py",
                                  "/static//etc/passwd", "/static/"])
def test_static_refuses_paths_outside_its_folder(client, app, path):
    assert client.get(path).status_code == 404
    # and with the path decoded, as a server hands it over, bypassing the client's normalising
    from urllib.parse import unquote

    assert asgi_status(app, unquote(path)) == 404


def test_static_serves_only_files_inside_the_static_folder(tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<html>page</html>")
    (static / "app.js").write_text("console.log(1);")
    (tmp_path / "secret.txt").write_text("secret")
    (static / "link.txt").symlink_to(tmp_path / "secret.txt")
    app = create_app(runs_dir=tmp_path / "runs", static_dir=static)
    with TestClient(app, base_url=BASE) as c:
        assert c.get("/").text == "<html>page</html>"
        r = c.get("/static/app.js")
        assert r.status_code == 200 and r.text == "console.log(1);"
        assert "javascript" in r.headers["content-type"]
        for path in ("/static/link.txt", "/static/../secret.txt", "/static/%2e%2e/secret.txt",
                     "/static/missing.js", "/static/"):
            assert c.get(path).status_code == 404, path
    for path in ("/static/../secret.txt", "/static/link.txt"):
        assert asgi_status(app, path) == 404, path


def test_foreign_host_and_origin_are_refused(app):
    with TestClient(app, base_url="http://evil.example") as c:
        assert c.get("/api/defaults").status_code == 400
    with TestClient(app, base_url=BASE) as c:
        with pytest.raises((WebSocketDenialResponse, WebSocketDisconnect)):
            with c.websocket_connect(WS, headers={"origin": "http://evil.example"}) as ws:
                ws.receive_json()
        # the page's own origin is fine
        with c.websocket_connect(WS, headers={"origin": BASE}) as ws:
            ok, _ = configure(ws, **SMALL)
            assert ok["config"]["hidden"] == [8]


# --------------------------------------------------------------------------- config


BAD = [
    ("dataset", "mnist"), ("dataset", 3),
    ("n_points", 9), ("n_points", 2001), ("n_points", 10.5), ("n_points", "many"), ("n_points", True),
    ("classes", 1), ("classes", 7),
    ("noise", -0.1), ("noise", 1.5), ("noise", float("nan")),
    ("test_fraction", -0.1), ("test_fraction", 0.95), ("test_fraction", "most"),
    ("seed", -1), ("seed", 2**32),
    ("model", "cnn"),
    ("hidden", [0]), ("hidden", [257]), ("hidden", [4] * 7), ("hidden", "wide"), ("hidden", []),
    ("activation", "rellu"),
    ("lr", 0), ("lr", -1), ("lr", 10.5), ("lr", float("inf")),
    ("reg", -0.001), ("reg", 1.5),
    ("batch_size", -1), ("batch_size", 0), ("batch_size", 5001), ("batch_size", "half"),
    ("optimizer", "rmsprop"),
    ("backend", "jax"),
    ("steps_per_frame", 0), ("steps_per_frame", 1001),
    ("standardize", "maybe"), ("standardize", 2),
    ("colour", "red"),
]


@pytest.mark.parametrize("field,value", BAD, ids=[f"{f}={v!r}" for f, v in BAD])
def test_a_bad_config_value_is_refused_naming_the_field_and_the_session_is_unchanged(client, field,
                                                                                   value):
    with client.websocket_connect(WS) as ws:
        ok, _ = configure(ws, **SMALL)
        assert step(ws)["step"] == 1
        ws.send_json({"type": "config", "config": {field: value}})
        err = receive(ws, "error")
        assert err["field"] == field
        assert field in err["message"] and "\n" not in err["message"]
        if field in SETTINGS:  # (an unknown name is the whole mistake: the message lists the names)
            assert (repr(value) in err["message"] or str(value) in err["message"]
                    or json.dumps(value) in err["message"]), err["message"]
        # same model (training goes on from step 1), same config
        assert step(ws)["step"] == 2
        again, frame = configure(ws)
        assert again["config"] == ok["config"]
        assert frame["step"] == 2


def _out_of_bounds(s):
    """A value the schema refuses for setting ``s`` (with the playground's bounds)."""
    if s.kind in ("int", "float") and s.maximum is not None:
        return s.maximum + 1
    if s.kind in ("int", "float"):
        return s.minimum - 1
    return {"choice": "no-such-choice", "bool": "maybe", "int_list": [0], "choice_list": []}[s.kind]


def test_every_shown_setting_is_checked_by_the_schema_and_refusals_name_it(client):
    with client.websocket_connect(WS) as ws:
        ok, _ = configure(ws, **SMALL)
        for s in PLAYGROUND:
            value = _out_of_bounds(s)
            ws.send_json({"type": "config", "config": {s.name: value}})
            err = receive(ws, "error")
            assert err["field"] == s.name and err["message"].startswith(s.name), err
        # a setting of neuralab's that the playground does not show is refused by its name
        hidden = next(n for n in SETTINGS if n not in ok["config"])
        ws.send_json({"type": "config", "config": {hidden: SETTINGS[hidden].default}})
        err = receive(ws, "error")
        assert err["field"] == hidden and "unknown setting" in err["message"]
        assert configure(ws)[0]["config"] == ok["config"]


def test_a_configs_id_comes_back_in_its_reply(client):
    with client.websocket_connect(WS) as ws:
        ws.send_json({"type": "config", "config": SMALL, "id": 7})
        assert receive(ws, "config_ok")["id"] == 7
        receive(ws, "frame")
        ws.send_json({"type": "config", "config": {"lr": -1}, "id": 8})
        assert receive(ws, "error")["id"] == 8
        ws.send_json({"type": "config", "config": {"lr": 0.5}})  # no id, none back
        assert "id" not in receive(ws, "config_ok")


def test_full_batch_is_null_spelled_full_in_text(client):
    with client.websocket_connect(WS) as ws:
        ok, _ = configure(ws, **SMALL, batch_size=8)
        assert ok["config"]["batch_size"] == 8
        for full in ("full", None, "null"):
            assert configure(ws, batch_size=8)[0]["config"]["batch_size"] == 8
            ok, frame = configure(ws, batch_size=full)
            assert ok["config"]["batch_size"] is None
            assert "BATCH_SIZE = None" in ok["code"]["numpy"]
        # no test split: 0 and null are one spelling
        for none in (0, "0", None):
            ok, frame = configure(ws, test_fraction=none)
            assert ok["config"]["test_fraction"] is None and frame["points"]["test"] == []


def test_two_class_data_sets_refuse_more_classes(client):
    with client.websocket_connect(WS) as ws:
        ok, _ = configure(ws, **SMALL)
        ws.send_json({"type": "config", "config": {"dataset": "moons", "classes": 3}})
        err = receive(ws, "error")
        assert err["field"] == "classes" and "moons" in err["message"] and "2" in err["message"]
        ok2, frame = configure(ws, dataset="moons")  # classes left out: moons takes 2
        assert ok2["config"]["classes"] == 2 and len(frame["confusion"]) == 2


def test_config_ranges_accept_their_bounds(client):
    with client.websocket_connect(WS) as ws:
        ok, frame = configure(ws, dataset="gaussian", n_points=10, classes=6, noise=1, test_fraction=0.9,
                              seed=2**32 - 1, model="mlp", hidden=[1, 256], activation="leaky_relu",
                              lr=10, reg=1, batch_size=5000, optimizer="adam", steps_per_frame=1000,
                              standardize=True)
        cfg = ok["config"]
        assert cfg["classes"] == 6 and cfg["hidden"] == [1, 256] and cfg["batch_size"] == 5000
        assert len(frame["points"]["train"]) + len(frame["points"]["test"]) == 60
        assert len(frame["points"]["test"]) == 54
        ok, frame = configure(ws, model="linear", hidden=[5], n_points=2000, test_fraction=0, seed=0,
                              batch_size=1, steps_per_frame=1, lr=1e-9, reg=0, noise=0)
        assert ok["config"]["hidden"] == []  # a linear model has none
        assert ok["config"]["test_fraction"] is None and frame["points"]["test"] == []


def test_a_config_that_only_changes_steps_per_frame_keeps_training(client):
    with client.websocket_connect(WS) as ws:
        configure(ws, **SMALL)
        for _ in range(3):
            step(ws)
        ok, frame = configure(ws, steps_per_frame=50)
        assert ok["config"]["steps_per_frame"] == 50
        assert frame["step"] == 3 and frame["history_reset"]
        assert frame["history"]["step"] == [0, 1, 2, 3]
        ok, frame = configure(ws, lr=0.5)  # anything else starts afresh
        assert frame["step"] == 0 and frame["history"]["step"] == [0]


# --------------------------------------------------------------------------- frames


def test_step_sends_a_frame_with_the_boundary_and_the_loss_falls(client, app):
    with client.websocket_connect(WS) as ws:
        # the lecture's spiral and 2-100-3 net from its 0.01 N(0, 1) weights (the page's default
        # is he): the first loss is chance's, log 3
        ok, first = configure(ws, init="lecture")
        assert ok["config"] == validate({"init": "lecture"}, surface="playground")
        assert set(ok["code"]) == {"torch", "numpy"}
        assert first["step"] == 0 and first["history_reset"] is True
        assert first["train_loss"] == pytest.approx(math.log(3), abs=1e-3)
        assert len(first["points"]["train"]) == 240 and len(first["points"]["test"]) == 60
        losses = [first["train_loss"]]
        for n in range(1, 6):
            frame = step(ws)
            assert frame["step"] == n and frame["playing"] is False
            assert frame["history"]["step"] == [n]  # only what is new since the last frame
            assert "points" not in frame and frame["history_reset"] is False
            losses.append(frame["train_loss"])
        assert all(b < a for a, b in zip(losses, losses[1:])), losses
        assert frame["history"]["train_loss"] == [frame["train_loss"]]
        assert frame["test_loss"] is not None and 0 <= frame["test_accuracy"] <= 1
        b = frame["boundary"]
        W, H = b["width"], b["height"]
        assert (W, H) == (100, 100)
        rgba = np.frombuffer(base64.b64decode(b["rgba"]), dtype=np.uint8).reshape(H, W, 4)
        assert (rgba[..., 3] == 255).all()
        # row 0 is the top of the plane: pixel (0, 0) is (xmin, ymax), the last (xmax, ymin)
        session = next(s for s in app.state.sessions.values() if s.model and s.model.step == 5)
        xmin, xmax, ymin, ymax = b["extent"]
        corners = np.array([[xmin, ymax], [xmax, ymin]])
        expected = boundary_rgba(session.model.trainer.predict_proba(corners))
        # (to one level: the grid's matmul may round its last bit differently)
        assert np.abs(rgba[0, 0].astype(int) - expected[0]).max() <= 1
        assert np.abs(rgba[-1, -1].astype(int) - expected[1]).max() <= 1
        assert len(np.unique(rgba.reshape(-1, 4)[:, :3], axis=0)) > 3  # a picture, not a flat fill
        cm = np.array(frame["confusion"])
        assert cm.shape == (3, 3) and cm.sum() == 60 and frame["confusion_split"] == "test"
        assert (cm.sum(axis=1) == 20).all()  # rows are the true classes (stratified split)


def test_the_network_diagram_comes_with_step_frames_capped_per_layer(client):
    with client.websocket_connect(WS) as ws:
        _, frame = configure(ws, hidden=[40, 5], n_points=20)
        net = step(ws)["network"]
        assert [(l["kind"], l["units_total"]) for l in net["layers"]] == \
            [("input", 2), ("hidden", 40), ("hidden", 5), ("output", 3)]
        assert [u["unit"] for u in net["layers"][1]["nodes"]] == list(range(16))  # at most 16 shown
        for layer in net["layers"]:
            for u in layer["nodes"]:
                assert len(base64.b64decode(u["gray"])) == u["width"] * u["height"]
        # the weights between the drawn nodes: W1 2 x 16, W2 16 x 5, W3 5 x 3
        assert [np.shape(W) for W in net["weights"]] == [(2, 16), (16, 5), (5, 3)]
        _, frame = configure(ws, model="linear")  # inputs straight to the outputs
        assert [l["kind"] for l in step(ws)["network"]["layers"]] == ["input", "output"]


def test_play_sends_frames_until_pause_and_none_after(client):
    with client.websocket_connect(WS) as ws:
        configure(ws, **SMALL)
        ws.send_json({"type": "play"})
        assert receive(ws, "state")["playing"] is True
        steps = []
        for _ in range(8):
            frame = receive(ws, "frame")
            assert frame["playing"] is True and "boundary" in frame
            steps.append(frame["step"])
        assert steps == sorted(steps) and steps[-1] - steps[0] == 70  # 10 steps a frame
        assert all("network" in receive(ws, "frame") for _ in range(3))  # the diagram, every frame
        paused = pause(ws)  # the pause's own frame, with the diagram
        assert paused["playing"] is False and "network" in paused
        # nothing from the play loop comes after the pause: the next message is the step's
        assert step(ws)["step"] == paused["step"] + 1


def test_step_while_playing_pauses_first(client):
    with client.websocket_connect(WS) as ws:
        configure(ws, **SMALL)
        ws.send_json({"type": "play"})
        receive(ws, "state")
        receive(ws, "frame")
        ws.send_json({"type": "step"})
        while (msg := receive(ws))["type"] != "state":
            pass
        assert msg["playing"] is False
        frame = receive(ws, "frame")
        assert frame["step"] % 10 == 1 and frame["playing"] is False


def test_add_point_adds_a_training_point(client):
    with client.websocket_connect(WS) as ws:
        _, first = configure(ws, **SMALL)
        n = len(first["points"]["train"])
        ws.send_json({"type": "add_point", "x": 0.25, "y": -0.5, "label": 2})
        frame = receive(ws, "frame")
        assert len(frame["points"]["train"]) == n + 1
        assert frame["points"]["train"][-1] == [0.25, -0.5, 2]
        assert "added by hand" in frame["code"]["numpy"] and "0.25, -0.5, 2.0" in frame["code"]["torch"]
        # a point far outside widens the plane
        ws.send_json({"type": "add_point", "x": 5.0, "y": 5.0, "label": 0})
        assert receive(ws, "frame")["boundary"]["extent"][1] > 5.0
        for bad, field in (({"label": 3}, "label"), ({"label": -1}, "label"), ({"label": "a"}, "label"),
                           ({"x": float("nan")}, "x"), ({"y": "up"}, "y"), ({"x": None}, "x")):
            ws.send_json({"type": "add_point", "x": 0.0, "y": 0.0, "label": 0, **bad})
            err = receive(ws, "error")
            assert err["field"] == field, err
        ws.send_json({"type": "reset"})
        assert len(receive(ws, "frame")["points"]["train"]) == n + 2  # refused points not added


def test_added_points_survive_a_model_change_but_not_a_data_change(client):
    with client.websocket_connect(WS) as ws:
        _, first = configure(ws, **SMALL)
        n = len(first["points"]["train"])
        ws.send_json({"type": "add_point", "x": 0.1, "y": 0.1, "label": 1})
        receive(ws, "frame")
        _, frame = configure(ws, lr=0.3)
        assert len(frame["points"]["train"]) == n + 1
        _, frame = configure(ws, noise=0.3)
        assert len(frame["points"]["train"]) == n


CSV = "x1,x2,kind\n" + "\n".join(
    f"{np.cos(t):.4f},{np.sin(t):.4f},{name}"
    for i, t in enumerate(np.linspace(0, 6, 60)) for name in [("cat", "dog", "eel")[i % 3]]
) + "\n"


def test_upload_csv_replaces_the_data(client):
    with client.websocket_connect(WS) as ws:
        configure(ws, **SMALL, test_fraction=0.25)
        ws.send_json({"type": "upload_csv", "text": CSV})
        ok = receive(ws, "config_ok")
        assert ok["config"]["dataset"] == "upload" and ok["config"]["classes"] == 3
        assert "np.array" in ok["code"]["numpy"]
        frame = receive(ws, "frame")
        assert frame["class_names"] == ["cat", "dog", "eel"]
        assert len(frame["points"]["train"]) == 45 and len(frame["points"]["test"]) == 15
        assert sorted(np.bincount([p[2] for p in frame["points"]["test"]]).tolist()) == [5, 5, 5]
        assert frame["step"] == 0 and len(frame["confusion"]) == 3
        # the uploaded data stays while the model changes
        ok, frame = configure(ws, dataset="upload", lr=0.1)
        assert ok["config"]["dataset"] == "upload" and len(frame["points"]["train"]) == 45
        # header optional, integer labels
        ws.send_json({"type": "upload_csv", "text": "0,0,1\n1,1,1\n0,1,0\n1,0,0\n0.5,0.5,0\n0.2,0.9,1\n"
                                                   "0.1,0.1,1\n0.9,0.8,0\n"})
        assert receive(ws, "config_ok")["config"]["classes"] == 2
        assert receive(ws, "frame")["class_names"] == ["0", "1"]


@pytest.mark.parametrize("text,words", [
    ("", "empty"),
    ("x1,x2,label\n", "no data rows"),
    ("0,0,a\n1,1\n", "line 2"),
    ("0,0,a\n1,1,b,2\n", "4 cells"),
    ("x1,x2,label\n0,zero,a\n1,1,b\n", "'zero'"),
    ("0,0,a\n1,inf,b\n", "not a finite number"),
    ("0,0,a\n1,1,a\n", "at least two classes"),
    ("".join(f"{k},{k},{k}\n" for k in range(7)), "7 classes"),
    ("".join(f"{k},{k},{k % 2}\n" for k in range(20_001)), "20,001 data rows"),
    ("0,0,a\n1,1,\n", "label missing"),
])
def test_upload_csv_refuses_bad_files_and_keeps_the_session(client, text, words):
    with client.websocket_connect(WS) as ws:
        ok, _ = configure(ws, **SMALL)
        step(ws)
        ws.send_json({"type": "upload_csv", "text": text})
        err = receive(ws, "error")
        assert err["field"] == "text" and words in err["message"], err
        assert "\n" not in err["message"]
        assert step(ws)["step"] == 2
        assert configure(ws)[0]["config"] == ok["config"]


def test_upload_needs_enough_points_for_the_split(client):
    with client.websocket_connect(WS) as ws:
        configure(ws, **SMALL, test_fraction=0.9)
        ws.send_json({"type": "upload_csv", "text": "0,0,a\n1,1,b\n2,2,a\n3,3,b\n"})
        err = receive(ws, "error")
        assert err["field"] == "test_fraction", err


def test_reset_starts_from_the_same_weights_with_the_same_data(client):
    with client.websocket_connect(WS) as ws:
        _, first = configure(ws, **SMALL)
        for _ in range(3):
            step(ws)
        ws.send_json({"type": "reset"})
        frame = receive(ws, "frame")
        assert frame["step"] == 0 and frame["history_reset"] is True
        assert frame["history"]["step"] == [0]
        assert frame["train_loss"] == first["train_loss"]
        assert frame["points"] == first["points"]
        assert step(ws)["step"] == 1


def test_divergence_pauses_and_says_so(client):
    with client.websocket_connect(WS) as ws:
        configure(ws, hidden=[256, 256, 256], activation="identity", lr=10, reg=0)
        ws.send_json({"type": "play"})
        receive(ws, "state")
        while (msg := receive(ws))["type"] == "frame":
            pass
        assert msg["type"] == "error" and "diverged" in msg["message"]
        assert "--lr" not in msg["message"] and "learning rate lr" in msg["message"]
        assert receive(ws, "state")["playing"] is False
        ws.send_json({"type": "step"})
        assert "reset" in receive(ws, "error")["message"]
        ws.send_json({"type": "reset"})
        assert receive(ws, "frame")["step"] == 0
        assert step(ws)["step"] == 1


def test_messages_that_are_not_the_protocol_get_an_error(client):
    with client.websocket_connect(WS) as ws:
        ws.send_text("not json")
        assert receive(ws, "error")["field"] == "message"
        ws.send_json({"type": "dance"})
        err = receive(ws, "error")
        assert err["field"] == "type" and "'dance'" in err["message"]
        ws.send_json(["play"])
        assert receive(ws, "error")["field"] == "type"
        ws.send_json({"type": "config", "config": [1, 2]})
        assert receive(ws, "error")["field"] == "config"
        # a session that was never configured plays the defaults
        assert step(ws)["step"] == 1


# --------------------------------------------------------------------------- save


def test_save_writes_a_run_directory_with_the_contract_files(client, runs_dir):
    with client.websocket_connect(WS) as ws:
        configure(ws, n_points=40, hidden=[16], steps_per_frame=20)
        ws.send_json({"type": "add_point", "x": 0.0, "y": 0.0, "label": 1})
        receive(ws, "frame")
        for _ in range(3):
            frame = step(ws)
        ws.send_json({"type": "save"})
        saved = receive(ws, "saved")
    path = Path(saved["path"])
    assert path.is_absolute() and path.parent == runs_dir.resolve()
    for name in CONTRACT:
        assert (path / name).is_file() and (path / name).stat().st_size > 0, name
    assert "<html" in (path / "report.html").read_text(encoding="utf-8").lower()
    assert (path / "figures" / "boundary.png").is_file()
    config = json.loads((path / "config.json").read_text())
    assert config["steps"] == 3 and config["settings"]["hidden"] == [16]
    assert config["settings"]["standardize"] is False and config["settings"]["test_fraction"] == 0.2
    assert config["settings"]["batch_size"] is None  # full batch, as the playground trained
    assert "1 training points added" in config["data"]["source"]
    metrics = json.loads((path / "metrics.json").read_text())
    assert metrics["train"]["accuracy"] == pytest.approx(frame["train_accuracy"])
    assert metrics["test"]["accuracy"] == pytest.approx(frame["test_accuracy"])
    assert np.array(metrics["test"]["confusion_matrix"]).tolist() == frame["confusion"]
    lines = (path / "history.csv").read_text().splitlines()
    assert lines[0].startswith("step,loss,train_accuracy,val_loss,val_accuracy")
    assert [int(r.split(",")[0]) for r in lines[1:]] == [0, 1, 2, 3]
    # the checkpoint loads and predicts as the session did
    from neuralab.runs import load_model

    predictor = load_model(path)
    preds = predictor.predict(np.array([[0.0, 0.0]]))
    assert preds.shape == (1,)


def test_save_with_the_torch_backend(client):
    pytest.importorskip("torch")
    with client.websocket_connect(WS) as ws:
        configure(ws, dataset="moons", model="linear", backend="torch", test_fraction=0, n_points=20)
        frame = step(ws)
        assert frame["test_accuracy"] is None and frame["test_loss"] is None
        assert frame["confusion_split"] == "train" and np.sum(frame["confusion"]) == 40
        ws.send_json({"type": "save"})
        path = Path(receive(ws, "saved")["path"])
    assert all((path / name).is_file() for name in CONTRACT)
    assert json.loads((path / "config.json").read_text())["backend"] == "torch"


# --------------------------------------------------------------------------- sessions


def test_two_sessions_train_independently(client, app):
    with client.websocket_connect(WS) as a, client.websocket_connect(WS) as b:
        ok_a, _ = configure(a, **SMALL)
        ok_b, _ = configure(b, dataset="moons", model="linear", lr=0.5, n_points=20)
        assert len(app.state.sessions) >= 2
        for _ in range(3):
            fa = step(a)
        fb = step(b)
        assert (fa["step"], fb["step"]) == (3, 1)
        assert len(fa["confusion"]) == 3 and len(fb["confusion"]) == 2
        # both play at once, each at its own pace and with its own model
        a.send_json({"type": "play"})
        b.send_json({"type": "play"})
        receive(a, "state"), receive(b, "state")
        sa = [receive(a, "frame")["step"] for _ in range(3)]
        sb = [receive(b, "frame")["step"] for _ in range(3)]
        assert sa == [13, 23, 33] and sb == [11, 21, 31]
        pause(a)
        pause(b)
        assert configure(a)[0]["config"] == ok_a["config"]
        assert configure(b)[0]["config"] == ok_b["config"]


def test_closing_the_socket_stops_its_training_and_drops_the_session(tmp_path):
    app = create_app(runs_dir=tmp_path)  # its own app: no other test's sessions in the registry
    with TestClient(app, base_url=BASE) as c:
        with c.websocket_connect(WS) as ws:
            configure(ws, n_points=200, hidden=[64, 64], steps_per_frame=50)
            ws.send_json({"type": "play"})
            receive(ws, "state")
            receive(ws, "frame")
            receive(ws, "frame")
            assert len(app.state.sessions) == 1
            session = next(iter(app.state.sessions.values()))
            assert session.playing and session.model is not None
        # the registry drops a session only once its training thread has finished its chunk
        # (polled with a generous deadline: the chunk may take long on a busy machine)
        assert wait_until(lambda: not app.state.sessions)
        assert session.closed and not session.playing
        assert session.model is None and session.data is None  # its resources are dropped
        step_seen = []
        with c.websocket_connect(WS) as ws:  # the app serves on
            step_seen.append(step(ws)["step"])
        assert step_seen == [1]
