"""What a careless or malicious page may send the playground, and what the server makes of it.

Hostile class and column names reach the generated scripts only as string
literals; points far out or not finite are refused where they enter; CSV
headers are told from data; foreign origins are refused; oversized, deeply
nested or malformed messages get an error reply and the socket serves on;
concurrent saves each get their own folder.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
from helpers import asgi_status, configure, receive

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient, WebSocketDenialResponse

from starlette.websockets import WebSocketDisconnect

from neuralab.playground import create_app
from neuralab.playground.connection import MAX_ERROR_CHARS, parse_message
from neuralab.playground.data import MAX_COORDINATE, MAX_NAME_CHARS, parse_points_csv
from neuralab.playground.limits import MAX_DEPTH, MAX_MESSAGE_CHARS
from neuralab.playground.server import origin_allowed
from neuralab.playground.session import Session
from neuralab.playground.settings import PlaygroundError

BASE = "http://127.0.0.1"
WS = "ws://127.0.0.1/ws"
SMALL = {"hidden": [8], "n_points": 30}
PWNED = 'x"""+str(__import__("os").system("touch PWNED"))+"""'
HOSTILE = [
    PWNED,
    "x'''+str(__import__('os').system('touch PWNED'))+'''",
    '"; import os; os.system("touch PWNED"); x = "',
    "two\nlines\n# import os",
    "back\\slash\\",
    'quote " and \' both',
    "ünïcödé — ∑ 😀",
    "\\N{LATIN SMALL LETTER A}{SEED}",
    "<script>alert(1)</script>",
]
#: The hostile names in two uploads (the playground takes at most 6 classes).
GROUPS = [HOSTILE[:4], HOSTILE[4:]]




def step(ws) -> dict:
    ws.send_json({"type": "step"})
    return receive(ws, "frame")


def hostile_csv(names, header=("x1", "x2", "label")) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for k, name in enumerate(names):
        for i in range(6):
            writer.writerow([k + 0.1 * i, (-1) ** k * i / 6, name])
    return buf.getvalue()


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile-runs")


@pytest.fixture(scope="module")
def client(runs_dir):
    with TestClient(create_app(runs_dir=runs_dir), base_url=BASE) as c:
        yield c


# --------------------------------------------------------------------------- item 1: scripts


def _string_constants(tree) -> set[str]:
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


@pytest.mark.slow  # runs the generated script as a subprocess
@pytest.mark.parametrize("names", GROUPS)
def test_hostile_labels_and_headers_are_string_literals_and_run_nothing(tmp_path, names):
    header = ('h"""+str(__import__("os").system("touch PWNED"))+"""', "y\nimport os", "lab'el")
    s = Session(runs_dir=tmp_path)
    s.configure({"model": "linear", "test_fraction": 0.2})
    s.upload(hostile_csv(names, header=header))
    assert sorted(s.data.base.classes) == sorted(names)
    assert s.data.base.feature_names == list(header[:2])
    s.add_point(0.5, -0.5, 1)
    code = s.code()
    for kind, src in code.items():
        tree = ast.parse(src)
        # every class name is a whole string constant, and the CLASSES list is exactly them
        assert set(names) <= _string_constants(tree), kind
        assign = next(n for n in tree.body if isinstance(n, ast.Assign)
                      and getattr(n.targets[0], "id", None) == "CLASSES")
        assert ast.literal_eval(assign.value) == list(s.data.base.classes)
        # no name is in a docstring or comment: the script's text holds it only as a literal
        doc = ast.get_docstring(tree)
        assert "PWNED" not in doc and "import os" not in doc
        for name in names:
            assert src.count(repr(name)) == 1, (kind, name)
        # nothing calls system, and os is never imported
        identifiers = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert "__import__" not in identifiers and "system" not in attrs, kind
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any(m == "os" or m.startswith("os.") for m in imported), imported
    work = tmp_path / "work"
    work.mkdir()
    script = work / "numpy_script.py"
    script.write_text(code["numpy"], encoding="utf-8")
    out = subprocess.run([sys.executable, str(script), "2"], capture_output=True, text=True,
                         timeout=300, cwd=work, check=False)
    assert out.returncode == 0, out.stderr
    assert "train accuracy:" in out.stdout
    assert not (work / "PWNED").exists() and not (tmp_path / "PWNED").exists()
    assert not Path("PWNED").exists()


@pytest.mark.parametrize("names", GROUPS)
def test_hostile_labels_through_the_server_reach_the_page_and_a_saved_run_unchanged(client,
                                                                                    names):
    with client.websocket_connect(WS) as ws:
        configure(ws, **SMALL, model="linear")
        ws.send_json({"type": "upload_csv", "text": hostile_csv(names)})
        ok = receive(ws, "config_ok")
        frame = receive(ws, "frame")
        assert sorted(frame["class_names"]) == sorted(names)
        for src in ok["code"].values():
            assert set(names) <= _string_constants(ast.parse(src))
        step(ws)
        ws.send_json({"type": "save"})
        path = Path(receive(ws, "saved")["path"])
    meta = json.loads((path / "model.json").read_text(encoding="utf-8"))
    assert meta["classes"] == frame["class_names"]
    # the report shows every name as text (escaped), never as markup
    assert "<script>alert(1)</script>" not in (path / "report.html").read_text(encoding="utf-8")


def test_a_label_that_is_not_unicode_text_is_refused(client):
    with client.websocket_connect(WS) as ws:
        configure(ws, **SMALL)
        # a lone surrogate: JSON carries it, no file can hold it
        ws.send_text('{"type": "upload_csv", "text": "x1,x2,label\\n0,0,\\ud800\\n1,1,b\\n"}')
        err = receive(ws, "error")
        assert err["field"] == "text" and "surrogate" in err["message"]
        assert step(ws)["step"] == 1


# --------------------------------------------------------------------------- item 10: points


@pytest.mark.parametrize("x", [1.7e308, -1.7e308, MAX_COORDINATE * 1.000001, "1e400", "nan",
                               "inf", None, True, [1]])
def test_add_point_refuses_what_is_not_a_bounded_number_and_every_later_message_works(
        client, x):
    with client.websocket_connect(WS) as ws:
        configure(ws, **SMALL)
        ws.send_json({"type": "add_point", "x": x, "y": 0.0, "label": 0})
        err = receive(ws, "error")
        assert err["field"] == "x" and f"{MAX_COORDINATE:g}" in err["message"], err
        ws.send_json({"type": "add_point", "x": 0.0, "y": x, "label": 0})
        assert receive(ws, "error")["field"] == "y"
        # nothing was kept: pause, reset, a config change and save all answer
        ws.send_json({"type": "pause"})
        assert receive(ws, "state")["playing"] is False
        assert "points" not in receive(ws, "frame")
        ws.send_json({"type": "reset"})
        assert len(receive(ws, "frame")["points"]["train"]) == 72  # 90 points, 20 % held out
        assert configure(ws, lr=0.5)[0]["config"]["lr"] == 0.5
        ws.send_json({"type": "save"})
        assert receive(ws, "saved")["path"]


def test_nan_and_infinity_literals_are_refused_by_the_field(client):
    with client.websocket_connect(WS) as ws:
        configure(ws, **SMALL)
        for literal in ("NaN", "Infinity", "-Infinity", "1e400"):
            ws.send_text(f'{{"type": "add_point", "x": {literal}, "y": 0, "label": 0}}')
            assert receive(ws, "error")["field"] == "x", literal
        ws.send_json({"type": "add_point", "x": MAX_COORDINATE, "y": -MAX_COORDINATE, "label": 2})
        frame = receive(ws, "frame")
        assert [MAX_COORDINATE, -MAX_COORDINATE, 2] in frame["points"]["train"]
        assert all(math.isfinite(v) for v in frame["boundary"]["extent"])
        ws.send_json({"type": "save"})
        path = Path(receive(ws, "saved")["path"])
    assert (path / "metrics.json").is_file()


def test_an_integer_beyond_any_float_is_refused_as_a_message(client):
    with client.websocket_connect(WS) as ws:
        configure(ws, **SMALL)
        ws.send_text('{"type": "config", "config": {"lr": 1' + "0" * 400 + "}}")
        err = receive(ws, "error")
        assert err["field"] == "message" and "2**63" in err["message"]
        assert step(ws)["step"] == 1


@pytest.mark.parametrize("text,words", [
    ("1,nan,a\n0,0,b\n1,1,a\n0,1,b\n", "line 1, column x2: 'nan' is not a finite number"),
    ("1,inf,a\n0,0,b\n1,1,a\n0,1,b\n", "line 1, column x2: 'inf'"),
    ("x,1,label\n0,0,a\n1,1,b\n", "mixes names and numbers"),
    ("nan,y,label\n0,0,a\n1,1,b\n", "mixes names and numbers"),
    ("x,x,label\n0,0,a\n1,1,b\n", "'x' twice"),
    ("label,x,label\n0,0,a\n1,1,b\n", "'label' twice"),
    (",x1,label\n0,0,a\n1,1,b\n", "'x1' twice"),
    ("x1,x2,label\n0,1.7e308,a\n1,1,b\n", "column x2: '1.7e308' is not a finite number within"),
    (f"x1,x2,label\n0,0,{'a' * (MAX_NAME_CHARS + 1)}\n1,1,b\n", "characters; at most"),
    (f"{'x' * (MAX_NAME_CHARS + 1)},x2,label\n0,0,a\n1,1,b\n", "characters; at most"),
])
def test_a_csv_whose_first_row_is_not_a_clean_header_or_data_is_refused(text, words):
    with pytest.raises(PlaygroundError) as info:
        parse_points_csv(text)
    assert info.value.field == "text" and words in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


def test_a_first_row_of_numbers_is_data_and_a_row_of_names_the_header():
    data = parse_points_csv("0.5,0.2,a\n0.1,0.3,b\n")
    assert data.X.tolist() == [[0.5, 0.2], [0.1, 0.3]] and data.feature_names == ["x1", "x2"]
    named = parse_points_csv("width,height,kind\n0.5,0.2,a\n0.1,0.3,b\n")
    assert named.X.tolist() == [[0.5, 0.2], [0.1, 0.3]]
    assert named.feature_names == ["width", "height"] and named.classes == ["a", "b"]


def test_a_bad_upload_through_the_server_names_the_line_and_keeps_the_session(client):
    with client.websocket_connect(WS) as ws:
        ok, _ = configure(ws, **SMALL)
        ws.send_json({"type": "upload_csv", "text": "1,nan,a\n0,0,b\n1,1,a\n0,1,b\n"})
        err = receive(ws, "error")
        assert err["field"] == "text" and "line 1" in err["message"]
        assert configure(ws)[0]["config"] == ok["config"]


# --------------------------------------------------------------------------- item 4: origin


ORIGIN_HOST = "127.0.0.1:8765"


@pytest.mark.parametrize("origin", [
    "http://localhost:1234", "https://localhost", "http://localhost", "https://127.0.0.1:8765",
    "http://127.0.0.1:8766", "http://127.0.0.1", "http://localhost:8765", "http://[::1]:8765",
    "http://evil.example:8765", "null", "file://", "http://127.0.0.1:8765@evil.example",
    "http://user@127.0.0.1:8765", "http://127.0.0.1:port",
])
def test_an_origin_other_than_the_servers_own_is_refused(origin):
    assert origin_allowed(origin, ORIGIN_HOST) is False
    app = create_app(runs_dir=Path("unused"))
    with TestClient(app, base_url="http://" + ORIGIN_HOST) as c:
        with pytest.raises((WebSocketDenialResponse, WebSocketDisconnect)):
            with c.websocket_connect(f"ws://{ORIGIN_HOST}/ws", headers={"origin": origin}) as ws:
                ws.receive_json()
        assert not app.state.sessions


def test_the_servers_own_origin_and_no_origin_are_accepted():
    assert origin_allowed("http://127.0.0.1:8765", ORIGIN_HOST)
    assert origin_allowed("HTTP://127.0.0.1:8765/", ORIGIN_HOST)
    assert origin_allowed("http://[::1]:8765", "[::1]:8765")
    assert origin_allowed("http://localhost", "localhost:80")
    assert origin_allowed(None, ORIGIN_HOST)
    app = create_app(runs_dir=Path("unused"))
    with TestClient(app, base_url="http://" + ORIGIN_HOST) as c:
        for headers in ({"origin": "http://" + ORIGIN_HOST}, {}):
            with c.websocket_connect(f"ws://{ORIGIN_HOST}/ws", headers=headers) as ws:
                assert configure(ws, **SMALL)[0]["config"]["hidden"] == [8]


# --------------------------------------------------------------------------- item 19: requests


@pytest.mark.parametrize("path", ["/static/" + "a" * 5000, "/static/" + "a/" * 2500,
                                  "/static/" + "a" * 255, "/static/a\x00b", "/static/" + "é" * 300])
def test_a_static_path_that_can_be_no_file_is_404(client, path):
    app = create_app(runs_dir=Path("unused"))
    assert asgi_status(app, path) == 404
    assert client.get(path.replace("\x00", "%00")).status_code == 404


def test_the_page_files_are_still_served(client):
    assert client.get("/static/app.js").status_code == 200


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,
    '{"type": "config", "config": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}",
    '{"type": "config", "config": {"hidden": ' + "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2) + "}}",
])
def test_a_deeply_nested_message_gets_an_error_and_the_socket_serves_on(client, text):
    with client.websocket_connect(WS) as ws:
        configure(ws, **SMALL)
        ws.send_text(text)
        err = receive(ws, "error")
        assert err["field"] == "message" and "nested" in err["message"], err
        assert step(ws)["step"] == 1


def test_an_oversized_message_gets_an_error_and_the_socket_serves_on(client):
    with client.websocket_connect(WS) as ws:
        configure(ws, **SMALL)
        ws.send_text(json.dumps({"type": "upload_csv", "text": "0,0,a\n" * (MAX_MESSAGE_CHARS // 6)}))
        err = receive(ws, "error")
        assert err["field"] == "message" and "at most" in err["message"]
        assert step(ws)["step"] == 1


def test_error_replies_stay_short_whatever_the_message_quoted(client):
    with client.websocket_connect(WS) as ws:
        configure(ws, **SMALL)
        ws.send_json({"type": "config", "config": {"hidden": [4] * 200_000}})
        err = receive(ws, "error")
        assert err["field"] == "hidden" and len(err["message"]) <= MAX_ERROR_CHARS
        ws.send_json({"type": "x" * 100_000})
        err = receive(ws, "error")
        assert err["field"] == "type" and len(err["message"]) < 200
        ws.send_text('{"type": "config", "id": NaN, "config": {"n_points": 5}}')
        err = receive(ws, "error")  # NaN has no JSON: the reply carries no id, and is sent
        assert err["field"] == "n_points" and "id" not in err
        ws.send_json({"type": "config", "id": "i" * 1000, "config": {"n_points": 5}})
        assert "id" not in receive(ws, "error")
        assert step(ws)["step"] == 1


def test_parse_message_refuses_what_is_not_a_bounded_json_value():
    assert parse_message('{"type": "play"}') == {"type": "play"}
    for text, words in ((None, "no text"), ("not json", "not JSON"), ("[" * 10_000, "nested"),
                        ("x" * (MAX_MESSAGE_CHARS + 1), "at most"), ("1" * 30, "2**63")):
        with pytest.raises(PlaygroundError) as info:
            parse_message(text)
        assert info.value.field == "message" and words in str(info.value), (text, str(info.value))


def test_four_saves_at_once_each_get_their_own_new_folder(client, runs_dir):
    sockets = [client.websocket_connect(WS) for _ in range(4)]
    try:
        wss = [s.__enter__() for s in sockets]
        for ws in wss:
            configure(ws, **SMALL)
        for ws in wss:
            ws.send_json({"type": "save"})
        replies = [ws.receive_json() for ws in wss]
    finally:
        for s in sockets:
            s.__exit__(None, None, None)
    assert [r["type"] for r in replies] == ["saved"] * 4, replies
    paths = {Path(r["path"]) for r in replies}
    assert len(paths) == 4 and all(p.parent == runs_dir.resolve() for p in paths)
    for p in paths:
        assert (p / "model.json").is_file() and (p / "report.html").is_file()


def test_saves_racing_for_one_name_each_get_their_own(tmp_path, monkeypatch):
    """Every save is told the same name first (as when saves look at once): each still gets
    a folder of its own, and none hears of --overwrite."""
    from neuralab import runs

    real = runs.new_run_dir
    taken = tmp_path / "20260101-000000-playground"
    local = threading.local()

    def same_name_first(root, kind):
        if not getattr(local, "asked", False):
            local.asked = True
            return taken
        return real(root, kind)

    def save(session, out):
        try:
            out.append(session.save())
        except Exception as exc:  # the assertion below shows it
            out.append(exc)

    monkeypatch.setattr(runs, "new_run_dir", same_name_first)
    sessions = []
    for _ in range(3):  # four at once are the test above; here three race for one name
        s = Session(runs_dir=tmp_path)
        s.configure(SMALL)
        sessions.append(s)
    out: list = []
    threads = [threading.Thread(target=save, args=(s, out)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert all(isinstance(p, Path) for p in out), out
    assert len(set(out)) == len(sessions) and taken.resolve() in set(out)
