"""End-to-end tests of the playground page in a real browser (Debian's Chromium via playwright).

The app runs in-process under uvicorn on a free 127.0.0.1 port, with its run
directory in a temporary folder; each test opens the page in a fresh browser
context and drives it as a person would: URL settings, the controls, Play and
Pause, clicks on the boundary canvas, Save, a CSV upload.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playground.browser import CHROMIUM, wait_loaded  # the fixtures are conftest.py's

if not CHROMIUM.exists():
    pytest.skip("the playground's browser tests need Chromium at /usr/bin/chromium: "
                "install the Debian package `chromium`", allow_module_level=True)
pytest.importorskip("playwright.sync_api")

# one worker runs the whole module under `pytest -n 2 --dist loadgroup`: one server, one browser
pytestmark = [pytest.mark.xdist_group(name="playground_e2e"), pytest.mark.slow]

LECTURE = "?dataset=spiral&model=mlp&hidden=100&lr=1&reg=0.001&activation=relu&optimizer=sgd"


def text(page, selector: str) -> str:
    return page.inner_text(selector).strip()


def step_count(page) -> int:
    return int(text(page, "#step_count"))


def percent(page, selector: str) -> float:
    return float(text(page, selector).replace("%", "").strip())


def canvas_hash(page, selector: str = "#boundary") -> str:
    data = page.evaluate(f"document.querySelector({selector!r}).toDataURL('image/png')")
    return hashlib.sha256(data.encode()).hexdigest()


def settled(label: str) -> str:
    """JS: the play button reads ``label`` and no play/pause awaits the server's reply."""
    return ("(() => { const b = document.getElementById('play'); "
            f"return b.textContent.trim() === '{label}' && !b.dataset.pending; }})()")


def play_until(page, condition_js: str, timeout_ms: int = 60_000) -> None:
    """Play, wait for the condition, Pause, and wait for the server to confirm the pause."""
    page.click("#play")
    page.wait_for_function(settled("Pause"))
    page.wait_for_function(condition_js, timeout=timeout_ms)
    page.click("#play")
    page.wait_for_function(settled("Play"))
    time.sleep(0.3)  # the frame that follows the pause


# --------------------------------------------------------------------------- tests


def test_page_loads_clean_and_stays_on_this_machine(open_tab, server):
    tab = open_tab()
    page = tab.page
    assert text(page, "#step_count") == "0"
    assert int(text(page, "#n_train")) == 240 and int(text(page, "#n_test")) == 60
    assert page.locator("#confusion td").count() == 9  # 3 x 3 counts
    assert page.locator("#network .net-node.drawn canvas").count() > 0  # the diagram's thumbnails
    assert page.is_hidden("#error")
    # the generated code, in two tabs: each wraps inside its panel (nothing is cut off at the
    # right), and Copy copies the whole script of the tab shown
    from neuralab.playground.session import Session

    session = Session(runs_dir=server.runs_dir)
    session.configure({})
    scripts = session.code()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    assert page.is_hidden("#code_numpy")
    for kind in ("torch", "numpy"):
        page.click(f"#tab_{kind}")
        other = "numpy" if kind == "torch" else "torch"
        assert page.is_visible(f"#code_{kind}") and page.is_hidden(f"#code_{other}")
        assert page.evaluate(f"(() => {{ const pre = document.getElementById('code_{kind}'); "
                             "return pre.scrollWidth <= pre.clientWidth; })()")
        copy_says = "document.getElementById('copy_code').textContent === '{}'"
        page.wait_for_function(copy_says.format("Copy"))  # the last tab's copy has finished
        page.click("#copy_code")
        page.wait_for_function(copy_says.format("Copied"))
        assert page.evaluate("navigator.clipboard.readText()") == scripts[kind]
    assert "import torch" in scripts["torch"] and "def backward(" in scripts["numpy"]
    # the controls show the server's defaults (the lecture's experiment)
    assert page.input_value("#dataset") == "spiral"
    assert page.input_value("#hidden_1") == "100"
    assert float(page.input_value("#lr")) == 1.0
    assert tab.errors == []
    outside = [u for u in tab.requests
               if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"]
    assert outside == [], f"requests left this machine: {outside}"
    # the page, its scripts, its style sheet, the defaults and the WebSocket: nothing else
    paths = {urlsplit(u).path for u in tab.requests if urlsplit(u).scheme in ("http", "ws")}
    assert {"/", "/static/app.js", "/static/charts.js", "/static/diagram.js", "/static/style.css",
            "/api/defaults", "/ws"} >= paths - {""}


def test_spiral_trains_past_90_percent_then_pauses(open_tab):
    tab = open_tab(LECTURE + "&steps_per_frame=20")
    page = tab.page
    assert percent(page, "#train_accuracy") < 60  # the untrained net is near chance (1/3)
    play_until(page, "parseFloat(document.getElementById('train_accuracy').textContent) >= 90")
    paused_at = step_count(page)
    assert paused_at > 0
    time.sleep(0.5)
    assert step_count(page) == paused_at, "the step counter moved after Pause"
    # full-batch SGD at step 1.0 wobbles a little: the frames after the 90 % one may dip
    assert percent(page, "#train_accuracy") >= 80
    assert percent(page, "#test_accuracy") >= 60
    # the loss curve has been drawn from the history: its canvas is no longer blank
    drawn = page.evaluate("""() => {
        const c = document.getElementById('loss');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let blue = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 150 && d[i] < 100 && d[i + 3] > 200) blue++;
        return blue;
    }""")
    assert drawn > 50
    assert tab.errors == []


def test_boundary_image_changes_as_it_learns(open_tab):
    page = open_tab(LECTURE).page
    before = canvas_hash(page)
    assert canvas_hash(page) == before  # nothing moves while paused
    play_until(page, "parseInt(document.getElementById('step_count').textContent) >= 100")
    assert canvas_hash(page) != before


def test_click_on_the_boundary_adds_a_training_point(open_tab, server):
    page = open_tab(LECTURE).page
    n_train, n_test = int(text(page, "#n_train")), int(text(page, "#n_test"))
    page.select_option("#point_class", "1")
    box = page.locator("#boundary").bounding_box()
    page.click("#boundary", position={"x": box["width"] * 0.25, "y": box["height"] * 0.75})
    page.wait_for_function(f"document.getElementById('n_train').textContent === '{n_train + 1}'")
    assert int(text(page, "#n_test")) == n_test
    # the server holds the point, of the chosen class, where the click was in data coordinates
    added = [s for s in server.app.state.sessions.values()
             if s.data is not None and s.data.extra]
    assert len(added) == 1
    x, y, label = added[0].data.extra[0]
    x0, x1, y0, y1 = added[0].data.extent
    assert label == 1
    assert x == pytest.approx(x0 + 0.25 * (x1 - x0), abs=0.02 * (x1 - x0))
    assert y == pytest.approx(y1 - 0.75 * (y1 - y0), abs=0.02 * (y1 - y0))


def test_save_writes_a_run_directory(open_tab, server):
    page = open_tab(LECTURE).page
    page.click("#step")
    page.wait_for_function("document.getElementById('step_count').textContent === '1'")
    page.click("#save")
    page.wait_for_selector("#saved code", state="visible")
    run_dir = Path(page.inner_text("#saved code").strip())
    assert run_dir.is_dir()
    assert server.runs_dir.resolve() in run_dir.parents
    assert (run_dir / "model.safetensors").is_file()
    assert (run_dir / "report.html").is_file()


def test_out_of_range_units_are_sent_and_refused_visibly(open_tab):
    page = open_tab(LECTURE).page
    page.fill("#hidden_1", "300")
    page.press("#hidden_1", "Enter")
    page.wait_for_selector("#error", state="visible")
    message = text(page, "#error")
    assert "hidden" in message and "256" in message and "300" in message
    assert page.input_value("#hidden_1") == "300", "the page changed the value instead of showing the refusal"
    # a valid value clears the message
    page.fill("#hidden_1", "20")
    page.press("#hidden_1", "Enter")
    page.wait_for_selector("#error", state="hidden")


def test_out_of_range_learning_rate_in_the_url_is_refused_visibly(open_tab):
    page = open_tab(LECTURE.replace("lr=1", "lr=50"), loaded=False).page
    page.wait_for_selector("#error", state="visible")
    assert "lr must be" in text(page, "#error") and "50" in text(page, "#error")
    assert page.input_value("#lr") == "50"
    assert page.evaluate("document.getElementById('lr').classList.contains('invalid')")
    # no setting has been accepted yet: nothing to train, so the transport waits for a fix
    assert page.is_disabled("#play") and page.is_disabled("#step")
    page.fill("#lr", "0.5")
    page.press("#lr", "Enter")
    wait_loaded(page)
    assert page.is_hidden("#error") and page.is_enabled("#play")


def test_url_settings_reproduce_the_setup(open_tab, server):
    query = ("?dataset=moons&n_points=60&noise=0.15&test_fraction=0.25&seed=7&model=mlp&hidden=8,8"
             "&activation=tanh&lr=0.03&reg=0.0001&batch_size=32&optimizer=adam&backend=torch"
             "&steps_per_frame=5")
    page = open_tab(query).page
    expected = {"#dataset": "moons", "#n_points": "60", "#noise": "0.15", "#test_fraction": "0.25",
                "#seed": "7", "#model": "mlp", "#activation": "tanh", "#lr": "0.03",
                "#reg": "0.0001", "#batch_size": "32", "#optimizer": "adam", "#backend": "torch",
                "#steps_per_frame": "5", "#classes": "2"}
    for selector, value in expected.items():
        assert page.input_value(selector) == value, selector
    assert [page.input_value(f"#hidden_{i}") for i in (1, 2)] == ["8", "8"]
    assert page.locator("#hidden input").count() == 2
    assert page.is_hidden("#error")
    assert int(text(page, "#n_train")) + int(text(page, "#n_test")) == 120  # 2 classes x 60
    assert "Adam" in page.inner_text("#code_torch")
    # a change goes into the URL at once, so the link reproduces it
    page.select_option("#activation", "relu")
    page.click("#hidden_add")
    page.wait_for_function("location.search.includes('hidden=8,8,8')")
    params = parse_qs(urlsplit(page.url).query)
    assert params["activation"] == ["relu"] and params["backend"] == ["torch"]
    # and the link, opened in another tab, gives the same controls
    again = open_tab("?" + urlsplit(page.url).query).page
    assert [again.input_value(f"#hidden_{i}") for i in (1, 2, 3)] == ["8", "8", "8"]
    assert again.input_value("#activation") == "relu"


def test_two_tabs_train_independently(open_tab):
    a = open_tab(LECTURE + "&steps_per_frame=5").page
    b = open_tab(LECTURE + "&steps_per_frame=5").page
    play_until(a, "parseInt(document.getElementById('step_count').textContent) >= 50")
    a_steps = step_count(a)
    assert a_steps >= 50
    b.click("#step")
    b.wait_for_function("document.getElementById('step_count').textContent === '1'")
    time.sleep(0.3)
    assert step_count(a) == a_steps
    assert step_count(b) == 1


def test_csv_upload_replaces_the_data(open_tab):
    page = open_tab(LECTURE).page
    rows = ["x1,x2,label"] + [f"{i / 10:.1f},{(i % 7) / 7:.3f},{'a' if i < 20 else 'b'}"
                               for i in range(40)]
    page.set_input_files("#csv", files=[{"name": "points.csv", "mimeType": "text/csv",
                                         "buffer": ("\n".join(rows) + "\n").encode()}])
    page.wait_for_function("document.getElementById('dataset').value === 'upload'")
    page.wait_for_function("parseInt(document.getElementById('n_train').textContent) "
                           "+ parseInt(document.getElementById('n_test').textContent) === 40")
    assert page.locator("#confusion td").count() == 4
    assert page.is_hidden("#error")
    page.set_input_files("#csv", files=[{"name": "bad.csv", "mimeType": "text/csv",
                                         "buffer": b"x1,x2,label\n1,oops,a\n"}])
    page.wait_for_selector("#error", state="visible")
    assert "not a finite number" in text(page, "#error")


def test_controls_are_built_from_the_schema_in_api_defaults(open_tab, server):
    """Every setting of /api/defaults has its control, with the schema's bounds and choices."""
    page = open_tab().page
    payload = page.evaluate("fetch('/api/defaults').then((r) => r.json())")
    assert payload["settings"], payload
    for s in payload["settings"]:
        name = s["name"]
        if s["kind"] == "int_list":
            inputs = page.locator(f"#{name} input")
            assert inputs.count() == len(payload["config"][name]), name
            for i in range(inputs.count()):
                el = inputs.nth(i)
                assert float(el.get_attribute("min")) == s["minimum"], name
                assert float(el.get_attribute("max")) == s["maximum"], name
            continue
        if s["kind"] == "choice_list":  # a toggle for each choice, the default's switched on
            boxes = page.locator(f"#{name} input[type=checkbox]")
            assert boxes.evaluate_all("els => els.map(e => e.value)") == s["choices"], name
            assert boxes.evaluate_all("els => els.filter(e => e.checked).map(e => e.value)") == \
                payload["config"][name], name
            assert s["help"] in page.get_attribute(f"#{name}", "title"), name
            continue
        el = page.locator(f"#{name}")
        assert el.count() == 1, f"no control for {name}"
        assert s["help"] in page.get_attribute(f"#{name}", "title"), name
        if s["kind"] == "choice":
            options = page.eval_on_selector(f"#{name}", "el => Array.from(el.options).map(o => o.value)")
            assert options == ([s["none_word"]] if s["optional"] else []) + s["choices"], name
        elif s["kind"] == "bool":
            assert page.get_attribute(f"#{name}", "type") == "checkbox", name
            assert page.is_checked(f"#{name}") == payload["config"][name], name
        else:
            for attr, key in (("min", "minimum"), ("max", "maximum")):
                value = page.get_attribute(f"#{name}", attr)
                assert (None if value is None else float(value)) == s.get(key), (name, attr)
            shown = page.input_value(f"#{name}")
            default = payload["config"][name]
            assert (shown == "") if default is None else float(shown) == default, name
    # a list's + stops at the schema's longest list
    lists = [s for s in payload["settings"] if s["kind"] == "int_list"]
    for s in lists:
        for n in range(len(payload["config"][s["name"]]) + 1, s["max_length"] + 1):
            page.click(f"#{s['name']}_add")
            page.wait_for_function(  # the server has accepted the longer list
                f"document.querySelectorAll('#{s['name']} input').length === {n} && "
                "document.getElementById('message').textContent === 'settings applied'")
        assert page.is_disabled(f"#{s['name']}_add")
        assert page.locator(f"#{s['name']} input").count() == s["max_length"]


def test_full_batch_is_spelled_full_in_the_url(open_tab):
    page = open_tab(LECTURE + "&batch_size=16").page
    assert page.input_value("#batch_size") == "16"
    page.fill("#batch_size", "")
    page.press("#batch_size", "Enter")
    page.wait_for_function("location.search.includes('batch_size=full')")
    page.wait_for_function("document.getElementById('message').textContent === 'settings applied'")
    assert page.is_hidden("#error")
    assert "BATCH_SIZE = None" in page.inner_text("#code_torch")
    again = open_tab("?" + urlsplit(page.url).query).page
    assert again.input_value("#batch_size") == ""
    assert again.get_attribute("#batch_size", "placeholder") == "full"


def test_a_net_stuck_at_chance_shows_the_hint_and_a_better_init_clears_it(open_tab):
    page = open_tab("?dataset=circles&model=mlp&hidden=8,8,4&lr=0.3&init=lecture"
                    "&activation=relu&steps_per_frame=25").page
    assert page.is_hidden("#hint")
    play_until(page, "!document.getElementById('hint').hidden")
    hint = text(page, "#hint")
    assert hint.startswith("The training loss has stayed at chance (log 2 = 0.6931)")
    assert "set init to he" in hint and "lr is 0.3" in hint
    # he's initial weights: the new model learns, and the hint goes
    page.select_option("#init", "he")
    page.wait_for_function("document.getElementById('hint').hidden")
    play_until(page, "parseFloat(document.getElementById('train_accuracy').textContent) >= 70")
    assert page.is_hidden("#hint")


def test_three_changes_50_ms_apart_while_training_are_all_kept(open_tab):
    # each change is a config with a newer id; a reply to an older one must not undo a later
    # change, in the controls or in the URL
    page = open_tab(LECTURE + "&steps_per_frame=20").page
    page.click("#play")
    page.wait_for_function(settled("Pause"))
    page.select_option("#activation", "tanh")
    page.wait_for_timeout(50)
    page.select_option("#optimizer", "adam")
    page.wait_for_timeout(50)
    page.select_option("#init", "glorot")
    page.wait_for_function("document.getElementById('message').textContent === 'settings applied'")
    time.sleep(0.5)  # frames and any late reply to the first two changes
    assert [page.input_value(s) for s in ("#activation", "#optimizer", "#init")] == \
        ["tanh", "adam", "glorot"]
    params = parse_qs(urlsplit(page.url).query)
    assert (params["activation"], params["optimizer"], params["init"]) == \
        (["tanh"], ["adam"], ["glorot"])
    assert "Adam" in page.inner_text("#code_torch")  # the server trains what the page shows


def test_the_epoch_counter_and_the_test_points_toggle(open_tab):
    # 2 classes x 50 moons points, 80 % of them train: 80 rows in batches of 16 are 5 steps an epoch
    page = open_tab("?dataset=moons&n_points=50&test_fraction=0.2&batch_size=16"
                    "&steps_per_frame=10").page
    for _ in range(3):
        page.click("#step")
    page.wait_for_function("document.getElementById('step_count').textContent === '3'")
    assert text(page, "#epoch_count") == "0"
    play_until(page, "parseInt(document.getElementById('step_count').textContent) >= 23")
    steps = step_count(page)
    assert int(text(page, "#epoch_count")) == steps // 5
    shown = canvas_hash(page)
    page.uncheck("#show_test")
    hidden = canvas_hash(page)
    page.check("#show_test")
    assert hidden != shown and canvas_hash(page) == shown


def test_discretize_redraws_the_boundary_and_goes_into_the_url(open_tab):
    page = open_tab(LECTURE + "&steps_per_frame=20").page
    page.click("#step")
    page.wait_for_function("document.getElementById('step_count').textContent === '1'")
    shaded = canvas_hash(page)
    page.check("#discretize")
    page.wait_for_function("location.search.includes('discretize=true')")
    page.wait_for_function("document.getElementById('message').textContent === 'settings applied'")
    page.wait_for_timeout(300)  # the frame after the config
    assert canvas_hash(page) != shaded
    assert step_count(page) == 1  # a view setting: the model and its step stay
