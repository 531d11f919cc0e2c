"""Frames per second of the playground: the lecture's spiral net trained live over a WebSocket.

What is measured
----------------
The playground's server runs in this process (uvicorn in a thread, on a free
port of 127.0.0.1) and a client (the ``websockets`` library, in the main thread)
plays the part of the browser page: it configures the lecture's experiment (the
seeded spiral, 3 classes of 100 points, 20 % held out; the 2-100-3 ReLU net,
lr 1.0, reg 1e-3, full-batch SGD, raw inputs; ``--steps-per-frame`` steps per
frame, default 10), sends ``play``, counts the ``frame`` messages that arrive
with a decision boundary (100 x 100 RGBA unless ``--grid`` says otherwise) for
``--seconds`` seconds (default 5), then pauses. This is repeated ``--repeats``
times (default 3), each from a fresh config; the table shows the median frames
per second and training steps per second, and the frames' mean size.

Two servers are measured: one as ``neuralab playground`` serves (the play loop
capped at 60 frames a second, as much as a page can show), and one with the cap
lifted (``max_fps=10_000``), which shows the headroom. A third row times the
session's own work per frame in-process, without a network: one
``neuralab.train.fit`` chunk and the frame (boundary, confusion counts, JSON),
the network diagram included as while playing (every frame, HIDDEN_EVERY = 1).

The target: at least 20 frames a second with the cap (the page's own rate).

Browser mode (``--browser``)
----------------------------
The page itself, in Debian's Chromium (``/usr/bin/chromium``) driven by
playwright, against the server as ``neuralab playground`` serves it: the page is
opened on circles with 250 points a class (500 points, 20 % held out), the net
2-8-8-8-2 (tanh, He init, 10 steps a frame), so that the network diagram draws
every node of every layer, 28 thumbnails and 160 weights. It plays, and the
frames the page draws (``window.neuralabPage.framesDrawn``, counted once per
picture: boundary, loss curve and diagram) are counted over ``--seconds``,
``--repeats`` times; the median is set against the target of 30 frames a second.

How to run
----------
From the repository root::

    .venv/bin/python benchmarks/playground_fps.py
    .venv/bin/python benchmarks/playground_fps.py --quick          # about 3 s
    .venv/bin/python benchmarks/playground_fps.py --seconds 10 --repeats 5 --json fps.json
    .venv/bin/python benchmarks/playground_fps.py --browser       # the page, about 30 s

Timings depend on the machine and its load; the client and the server share the
process's CPU here, as the page and the server share a laptop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

TARGET_FPS = 20.0
#: The page's target in browser mode: frames drawn per second at 2-8-8-8-2, 500 points.
BROWSER_TARGET_FPS = 30.0
BROWSER_QUERY = ("?dataset=circles&n_points=250&classes=2&noise=0.05&test_fraction=0.2&seed=0"
                 "&model=mlp&hidden=8,8,8&activation=tanh&init=he&lr=0.3&optimizer=sgd"
                 "&batch_size=full&steps_per_frame=10&backend=numpy")
CHROMIUM = "/usr/bin/chromium"
CONFIG = {"dataset": "spiral", "n_points": 100, "classes": 3, "noise": 0.2,
          "test_fraction": 0.2, "seed": 0, "model": "mlp", "hidden": [100], "activation": "relu",
          "lr": 1.0, "reg": 1e-3, "batch_size": None, "optimizer": "sgd", "backend": "numpy",
          "standardize": False}


class ServerThread:
    """uvicorn serving the playground app in a daemon thread on a free loopback port."""

    def __init__(self, app) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="warning", ws_max_size=2**25))
        self.thread = threading.Thread(target=self.server.run, name="playground-server", daemon=True)

    def __enter__(self) -> int:
        self.thread.start()
        end = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > end or not self.thread.is_alive():
                raise RuntimeError("the playground server did not start")
            time.sleep(0.01)
        return self.server.servers[0].sockets[0].getsockname()[1]

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


async def _measure(port: int, config: dict, seconds: float) -> dict:
    """One play of ``seconds``: frames with a boundary per second, steps per second, bytes."""
    from websockets.asyncio.client import connect

    async with connect(f"ws://127.0.0.1:{port}/ws", max_size=2**25) as ws:
        await ws.send(json.dumps({"type": "config", "config": config}))
        ok = json.loads(await ws.recv())
        if ok["type"] != "config_ok":
            raise RuntimeError(f"the server refused the config: {ok}")
        json.loads(await ws.recv())  # the config's frame
        await ws.send(json.dumps({"type": "play"}))
        frames, size, first = 0, 0, None
        last_step = None
        start = None
        while True:
            raw = await ws.recv()
            msg = json.loads(raw)
            if msg["type"] != "frame":
                continue
            now = time.perf_counter()
            if start is None:  # time from the first frame on: the config's start-up is not play
                start, first = now, msg["step"]
                continue
            if "boundary" in msg and len(msg["boundary"]["rgba"]) > 0:
                frames += 1
                size += len(raw)
            last_step = msg["step"]
            if now - start >= seconds:
                break
        elapsed = now - start
        await ws.send(json.dumps({"type": "pause"}))
        while json.loads(await ws.recv())["type"] != "state":
            pass
    return {"fps": frames / elapsed, "steps_per_s": (last_step - first) / elapsed,
            "frames": frames, "seconds": elapsed, "mean_frame_bytes": size / max(frames, 1)}


def measure_server(max_fps: float, *, config: dict, seconds: float, repeats: int,
                   grid: int) -> dict:
    from neuralab.playground import create_app

    with tempfile.TemporaryDirectory() as runs:
        app = create_app(runs_dir=Path(runs), max_fps=max_fps, grid=grid)
        with ServerThread(app) as port:
            samples = [asyncio.run(_measure(port, config, seconds)) for _ in range(repeats)]
    return {
        "max_fps": max_fps,
        "fps": statistics.median(s["fps"] for s in samples),
        "steps_per_s": statistics.median(s["steps_per_s"] for s in samples),
        "mean_frame_bytes": statistics.mean(s["mean_frame_bytes"] for s in samples),
        "samples": samples,
    }


def measure_in_process(*, config: dict, seconds: float, grid: int) -> dict:
    """The session's own work per frame (train a chunk, draw, encode), no network."""
    from neuralab.playground.frames import HIDDEN_EVERY
    from neuralab.playground.session import Session

    s = Session(runs_dir="unused", grid=grid)
    s.configure(config)
    times = []
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        s.train()
        json.dumps(s.frame(hidden=n % HIDDEN_EVERY == 0), separators=(",", ":"))
        times.append(time.perf_counter() - t0)
        n += 1
    per_frame = statistics.median(times)
    return {"ms_per_frame": 1000 * per_frame, "fps": 1 / per_frame,
            "steps_per_s": config["steps_per_frame"] / per_frame, "frames": n}


def measure_browser(*, seconds: float, repeats: int) -> dict:
    """Frames the page draws per second while playing 2-8-8-8-2 on 500 points, all nodes shown."""
    from playwright.sync_api import sync_playwright

    from neuralab.playground import create_app

    count = "() => [window.neuralabPage.framesDrawn, window.neuralabPage.framesReceived]"
    with tempfile.TemporaryDirectory() as runs, ServerThread(create_app(runs_dir=Path(runs))) as port, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(60_000)
        page.goto(f"http://127.0.0.1:{port}/{BROWSER_QUERY}")
        page.wait_for_function("document.querySelectorAll('#network .net-node.drawn').length === 28")
        shown = page.eval_on_selector_all("#network .net-node.drawn", "els => els.length")
        page.click("#play")
        page.wait_for_function("document.getElementById('play').textContent.trim() === 'Pause'")
        time.sleep(1.0)  # the first frames of play
        samples = []
        for _ in range(repeats):
            (d0, r0), t0 = page.evaluate(count), time.perf_counter()
            time.sleep(seconds)
            (d1, r1), t1 = page.evaluate(count), time.perf_counter()
            samples.append({"drawn_fps": (d1 - d0) / (t1 - t0), "received_fps": (r1 - r0) / (t1 - t0)})
        page.click("#play")
        errors = page.inner_text("#error").strip()
        browser.close()
    return {"fps": statistics.median(s["drawn_fps"] for s in samples),
            "received_fps": statistics.median(s["received_fps"] for s in samples),
            "nodes_drawn": shown, "samples": samples, "page_error": errors or None}


def browser_main(args) -> int:
    r = measure_browser(seconds=args.seconds, repeats=args.repeats)
    print(f"playground page in Chromium: circles 500 points, 2-8-8-8-2, every node of the diagram "
          f"drawn ({r['nodes_drawn']} thumbnails); median of {args.repeats} spans of {args.seconds:g} s")
    print(f"frames received/s {r['received_fps']:.1f}, frames drawn/s {r['fps']:.1f}")
    met = r["fps"] >= BROWSER_TARGET_FPS
    print(f"target >= {BROWSER_TARGET_FPS:g} frames drawn/s: {'met' if met else 'NOT met'} "
          f"({r['fps']:.1f})")
    if r["page_error"]:
        print(f"the page showed an error: {r['page_error']}")
    if args.json:
        args.json.write_text(json.dumps({**r, "query": BROWSER_QUERY, "target_fps": BROWSER_TARGET_FPS,
                                         "target_met": met}, indent=2) + "\n", encoding="utf-8")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0, help="length of each play (default 5)")
    p.add_argument("--repeats", type=int, default=3, help="plays per server (default 3)")
    p.add_argument("--steps-per-frame", type=int, default=10, help="training steps per frame")
    p.add_argument("--grid", type=int, default=100, help="boundary image width and height")
    p.add_argument("--quick", action="store_true", help="one play of 1 s per server (a smoke test)")
    p.add_argument("--json", type=Path, help="write every number to this file")
    p.add_argument("--browser", action="store_true",
                   help="measure the page in Chromium: frames drawn per second at 2-8-8-8-2")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.repeats = 1.0, 1
    if args.browser:
        return browser_main(args)
    config = {**CONFIG, "steps_per_frame": args.steps_per_frame}

    capped = measure_server(60.0, config=config, seconds=args.seconds, repeats=args.repeats,
                            grid=args.grid)
    uncapped = measure_server(10_000.0, config=config, seconds=args.seconds,
                              repeats=args.repeats, grid=args.grid)
    local = measure_in_process(config=config, seconds=min(args.seconds, 3.0), grid=args.grid)

    print(f"playground, spiral 2-100-3, {args.steps_per_frame} steps a frame, "
          f"boundary {args.grid} x {args.grid} RGBA; median of {args.repeats} plays of "
          f"{args.seconds:g} s")
    print(f"{'':<28}{'frames/s':>10}{'steps/s':>10}{'KB/frame':>10}")
    for label, r in (("server, as served (cap 60)", capped), ("server, cap lifted", uncapped)):
        print(f"{label:<28}{r['fps']:>10.1f}{r['steps_per_s']:>10.0f}"
              f"{r['mean_frame_bytes'] / 1000:>10.1f}")
    print(f"{'session alone, no network':<28}{local['fps']:>10.1f}{local['steps_per_s']:>10.0f}"
          f"{'':>10}   ({local['ms_per_frame']:.2f} ms a frame)")
    met = capped["fps"] >= TARGET_FPS
    print(f"target >= {TARGET_FPS:g} frames/s as served: {'met' if met else 'NOT met'} "
          f"({capped['fps']:.1f})")
    if args.json:
        args.json.write_text(json.dumps({
            "config": config, "grid": args.grid, "seconds": args.seconds, "repeats": args.repeats,
            "served": capped, "uncapped": uncapped, "in_process": local,
            "target_fps": TARGET_FPS, "target_met": met, "python": sys.version,
        }, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
