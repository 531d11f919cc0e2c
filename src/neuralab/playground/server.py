"""The playground's web server: the page, its defaults, and one WebSocket session per tab.

Routes:

- ``GET /``: the page, ``static/index.html``.
- ``GET /static/{path}``: files inside the package's ``static`` folder only
  (anything that resolves outside it, or is not a file, is 404).
- ``GET /api/defaults``: the default settings and, for each setting the
  playground shows, its description from neuralab's schema
  (:meth:`neuralab.config.Setting.describe`: kind, bounds, choices, help,
  unit, group), from which the page builds its controls; and the grid sizes.
- ``/ws``: the protocol (JSON text messages). Client to server: ``config``,
  ``play``, ``pause``, ``step``, ``reset``, ``add_point``, ``upload_csv``,
  ``save``. Server to client: ``config_ok``, ``frame``, ``state``, ``saved``,
  ``error``. See :class:`Connection` for the order of the replies.

Each WebSocket has its own :class:`~neuralab.playground.session.Session`.
Training and frame drawing run in a worker thread (``asyncio.to_thread``), one
chunk at a time under the connection's lock, so the event loop stays free and
several tabs train side by side. When a tab closes, its play loop stops, the
chunk in flight (if any) finishes, and the session is dropped from
``app.state.sessions``.

The server binds to this machine only, refuses requests whose Host header is
not a loopback name (DNS rebinding) and WebSockets opened by pages of another
origin, since a session can write run directories.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from neuralab import NeuralabError
from neuralab.config import TWO_CLASS_TOYS, SettingError, settings_for
from neuralab.playground.data import MAX_CSV_CHARS, MAX_CSV_ROWS
from neuralab.playground.frames import HIDDEN_EVERY, MAX_UNITS_SHOWN
from neuralab.playground.session import Session
from neuralab.playground.settings import (
    DATASET_DEFAULTS,
    MAX_CLASSES,
    SURFACE,
    UPLOAD,
    PlaygroundError,
    normalise_config,
)
from neuralab.plots import CLASS_COLOURS

log = logging.getLogger("neuralab.playground")

STATIC_DIR = Path(__file__).resolve().with_name("static")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: The play loop sends at most this many frames a second (the page cannot show more).
MAX_FPS = 60.0
MESSAGE_TYPES = ("config", "play", "pause", "step", "reset", "add_point", "upload_csv", "save")


def defaults_payload(grid: int = 100, hidden_grid: int = 25) -> dict:
    """What ``GET /api/defaults`` answers: the default settings and each setting's description.

    ``settings`` lists, in the schema's order, ``describe()`` of every setting
    the playground shows, with the playground's bounds; ``config`` holds their
    defaults as :func:`~neuralab.playground.settings.normalise_config` checks them.
    """
    return {
        "config": normalise_config({}),
        "settings": [s.describe() for s in settings_for(SURFACE)],
        "upload": UPLOAD,
        "two_class_only": list(TWO_CLASS_TOYS),
        "dataset_defaults": DATASET_DEFAULTS,
        "class_colours": CLASS_COLOURS[:MAX_CLASSES],
        "grid": {"width": grid, "height": grid},
        "hidden_grid": {"width": hidden_grid, "height": hidden_grid,
                        "max_units": MAX_UNITS_SHOWN, "every_frames": HIDDEN_EVERY},
        "csv": {"max_rows": MAX_CSV_ROWS, "max_chars": MAX_CSV_CHARS,
                "columns": "x1,x2,label (header optional)", "classes": [2, MAX_CLASSES]},
        "message_types": list(MESSAGE_TYPES),
    }


def _dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def _echo_id(msg) -> dict:
    """``{"id": ...}`` of a message that has a JSON-scalar id, for its reply; else nothing."""
    value = msg.get("id") if isinstance(msg, dict) else None
    ok = value is not None and isinstance(value, (str, int, float)) and not isinstance(value, bool)
    return {"id": value} if ok else {}


def _origin_allowed(websocket: WebSocket) -> bool:
    """No Origin (a script, not a browser), the page's own origin, or a loopback page."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    if parts.netloc and parts.netloc == websocket.headers.get("host"):
        return True
    return (parts.hostname or "") in LOOPBACK_HOSTS


class _Gone(Exception):
    """The WebSocket has closed; stop sending."""


class Connection:
    """One WebSocket and its session.

    Replies, in order: ``config`` -> ``config_ok`` (with ``code``) then a frame
    with points and hidden maps; ``upload_csv`` -> the same, the config's dataset
    being ``"upload"`` and its classes the file's; ``play`` -> ``state``, then
    frames until paused (hidden maps in every 5th); ``pause`` -> ``state`` then
    one frame with hidden maps; ``step`` -> (``state`` first if it was playing)
    a frame with hidden maps; ``reset`` -> a frame with points; ``add_point`` ->
    a frame with points and the regenerated ``code``; ``save`` -> ``saved``.
    A refused message gets ``error`` (its ``field`` the setting, or what else was
    wrong) and changes nothing. A message's ``id``, when it has one, comes back
    in its ``config_ok`` or ``error`` (the page tells the reply to its latest
    config from older ones by it). No play frame follows
    a ``state`` whose ``playing`` is false. A frame whose ``history_reset`` is
    true carries the whole history (after a config, an upload or a reset).
    A diverged loss sends ``error`` (field null) and ``state`` (not playing).
    """

    def __init__(self, websocket: WebSocket, session: Session, *, max_fps: float = MAX_FPS,
                 on_closed=None) -> None:
        self.ws = websocket
        self.on_closed = on_closed
        self.session = session
        self.max_fps = float(max_fps)
        self.lock = asyncio.Lock()
        self.play_task: asyncio.Task | None = None
        self.inflight: asyncio.Future | None = None
        self.gone = False

    # ---------------------------------------------------------------- plumbing

    async def _thread(self, fn, *args, **kwargs):
        """Run ``fn`` in a worker thread; a cancelled caller leaves it to finish (tracked)."""
        fut = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
        self.inflight = fut
        return await asyncio.shield(fut)

    async def send(self, obj) -> None:
        if self.gone:
            raise _Gone
        try:
            await self.ws.send_text(obj if isinstance(obj, str) else _dumps(obj))
        except Exception:  # the socket closed under us: uvicorn and starlette raise various
            self.gone = True
            raise _Gone from None

    async def error(self, field: str | None, message: str, reply_to=None) -> None:
        await self.send({"type": "error", "field": field, "message": message,
                         **_echo_id(reply_to)})

    async def state(self) -> None:
        await self.send({"type": "state", "playing": self.session.playing})

    def _frame_text(self, *, train: bool = False, steps: int | None = None, points: bool = False,
                    hidden: bool = False, code: bool = False) -> str:
        """Worker-thread work: train when asked (``steps``, default steps_per_frame), draw the
        frame, encode it as JSON."""
        s = self.session
        s.ensure()
        if train:
            s.train(steps)
        frame = s.frame(points=points, hidden=hidden)
        if code:
            frame["code"] = s.code()
        return _dumps(frame)

    # ---------------------------------------------------------------- the loop

    async def run(self) -> None:
        try:
            await self.ws.accept()
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None and message.get("bytes") is not None:
                    text = message["bytes"].decode("utf-8", "replace")
                try:
                    msg = json.loads(text or "")
                except ValueError:
                    await self.error("message", "messages must be JSON objects like "
                                                '{"type": "play"}; got text that is not JSON')
                    continue
                await self.handle(msg)
        except (_Gone, WebSocketDisconnect):
            pass
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        """Stop the play loop; drop the session once the chunk in flight (if any) has finished.

        Nothing here waits before the session's end is arranged: a server that
        cancels the connection's task (as some do on disconnect) cannot skip it.
        """
        self.gone = True
        self.session.playing = False
        self.session.closed = True
        if self.play_task is not None:
            self.play_task.cancel()
        inflight = self.inflight
        if inflight is not None and not inflight.done():
            # a worker thread cannot be interrupted; its chunk is short
            inflight.add_done_callback(lambda _: self._finish())
            with contextlib.suppress(Exception):
                await asyncio.wait([inflight])
        else:
            self._finish()

    def _finish(self) -> None:
        self.session.close()
        if self.on_closed is not None:
            self.on_closed()
            self.on_closed = None

    async def handle(self, msg) -> None:
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind not in MESSAGE_TYPES:
            await self.error("type", f"type must be one of {', '.join(MESSAGE_TYPES)}; got {kind!r}")
            return
        async with self.lock:
            try:
                await getattr(self, "on_" + kind)(msg)
            except SettingError as exc:
                await self.error(exc.setting, str(exc), msg)
            except PlaygroundError as exc:
                await self.error(exc.field, str(exc), msg)
            except NeuralabError as exc:
                await self.error(None, str(exc), msg)
            except _Gone:
                raise
            except Exception as exc:  # a bug must not take the tab's session down
                log.exception("playground: %s failed", kind)
                await self.error(None, f"{kind} failed: {type(exc).__name__}: {exc}", msg)

    # ---------------------------------------------------------------- messages

    async def _rebuild(self, msg, change) -> None:
        """``change()`` (configure or upload) in the worker; then ``config_ok`` and a frame."""
        def build():
            cfg = change()
            return cfg, self.session.code(), self._frame_text(points=True, hidden=True)

        cfg, code, frame = await self._thread(build)
        await self.send({"type": "config_ok", "config": cfg, "code": code, **_echo_id(msg)})
        await self.send(frame)

    async def on_config(self, msg) -> None:
        await self._rebuild(msg, lambda: self.session.configure(msg.get("config", {})))

    async def on_upload_csv(self, msg) -> None:
        await self._rebuild(msg, lambda: self.session.upload(msg.get("text")))

    async def on_play(self, msg) -> None:
        await self._thread(self.session.ensure)
        m = self.session.model
        if m is not None and m.diverged is not None:
            raise PlaygroundError(None, m.diverged + "; press reset or change the settings")
        self.session.playing = True
        await self.state()
        if self.play_task is None or self.play_task.done():
            self.play_task = asyncio.create_task(self._play())

    async def on_pause(self, msg) -> None:
        self.session.playing = False
        await self.state()
        await self.send(await self._thread(self._frame_text, hidden=True))

    async def on_step(self, msg) -> None:
        if self.session.playing:
            self.session.playing = False
            await self.state()
        await self._train_and_send(steps=1, hidden=True)

    async def on_reset(self, msg) -> None:
        def reset():
            self.session.reset()
            return self._frame_text(points=True, hidden=True)

        await self.send(await self._thread(reset))

    async def on_add_point(self, msg) -> None:
        def add():
            self.session.add_point(msg.get("x"), msg.get("y"), msg.get("label"))
            return self._frame_text(points=True, hidden=True, code=True)

        await self.send(await self._thread(add))

    async def on_save(self, msg) -> None:
        path = await self._thread(self.session.save)
        await self.send({"type": "saved", "path": str(path)})

    async def _train_and_send(self, *, steps: int | None = None, hidden: bool) -> bool:
        """One chunk of training (``steps``, default steps_per_frame) and its frame.

        On divergence: pause, send the error and the state; returns False.
        """
        from neuralab.train import TrainingDiverged

        try:
            text = await self._thread(self._frame_text, train=True, steps=steps, hidden=hidden)
        except TrainingDiverged as exc:
            self.session.playing = False
            await self.error(None, str(exc))
            await self.state()
            return False
        await self.send(text)
        return True

    async def _play(self) -> None:
        """Frames until paused or gone, at most ``max_fps`` a second."""
        loop = asyncio.get_running_loop()
        interval = 1.0 / self.max_fps
        count = itertools.count()
        try:
            while not self.gone and self.session.playing:
                started = loop.time()
                async with self.lock:
                    if self.gone or not self.session.playing:
                        break
                    try:
                        ok = await self._train_and_send(hidden=next(count) % HIDDEN_EVERY == 0)
                    except PlaygroundError as exc:
                        self.session.playing = False
                        await self.error(exc.field, str(exc))
                        await self.state()
                        break
                    except _Gone:
                        break
                    except Exception as exc:
                        log.exception("playground: training failed")
                        self.session.playing = False
                        await self.error(None, f"training failed: {type(exc).__name__}: {exc}")
                        await self.state()
                        break
                    if not ok:
                        break
                # sleep off the rest of the frame's time; sleep(0) still lets messages in
                await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
        except _Gone:
            pass


def create_app(*, runs_dir: Path, static_dir: Path | None = None, grid: int = 100,
               hidden_grid: int = 25, max_fps: float = MAX_FPS,
               allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS) -> Starlette:
    """The playground's Starlette app.

    Args:
        runs_dir: where ``save`` writes run directories.
        static_dir: the page's folder (default: the package's ``static``).
        grid: width and height of the boundary image (pixels).
        hidden_grid: width and height of each hidden-unit map.
        max_fps: the most frames a second a playing session sends.
        allowed_hosts: the Host header names served (loopback only by default).

    ``app.state.sessions`` maps each open WebSocket to its Session (a session
    leaves it once its tab has closed and its training has stopped).
    """
    runs_dir = Path(runs_dir)
    static_root = (Path(static_dir) if static_dir is not None else STATIC_DIR).resolve()
    sessions: dict[int, Session] = {}
    ids = itertools.count(1)

    async def index(request: Request) -> Response:
        page = static_root / "index.html"
        if not page.is_file():
            return PlainTextResponse(f"the playground page {page} is missing", status_code=404)
        return FileResponse(page, headers={"Cache-Control": "no-cache"})

    async def static(request: Request) -> Response:
        rel = request.path_params["path"]
        try:
            target = (static_root / rel).resolve()
        except (OSError, ValueError):
            target = None
        if target is None or static_root not in target.parents or not target.is_file():
            return PlainTextResponse("Not Found", status_code=404)
        return FileResponse(target, headers={"Cache-Control": "no-cache"})

    async def defaults(request: Request) -> Response:
        return JSONResponse(defaults_payload(grid, hidden_grid))

    async def ws(websocket: WebSocket) -> None:
        if not _origin_allowed(websocket):
            await websocket.close(code=1008)  # before accept: the handshake is refused (403)
            return
        sid = next(ids)
        session = Session(runs_dir=runs_dir, grid=grid, hidden_grid=hidden_grid)
        sessions[sid] = session
        # the session leaves the registry once its tab has gone and its training has stopped
        await Connection(websocket, session, max_fps=max_fps,
                         on_closed=lambda: sessions.pop(sid, None)).run()

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/defaults", defaults),
            Route("/static/{path:path}", static),
            WebSocketRoute("/ws", ws),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))],
    )
    app.state.sessions = sessions
    app.state.runs_dir = runs_dir
    return app


def _check_port(host: str, port: int) -> None:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise NeuralabError(f"port {port} on {host} cannot be used ({exc.strerror}); "
                                "choose another with --port") from None


def serve(host: str = "127.0.0.1", port: int = 8000, runs_dir: Path = Path("runs"),
          open_browser: bool = True, *, echo=print, log_level: str = "warning") -> None:
    """Run the playground on this machine until Ctrl-C; open it in the browser unless told not to.

    Args:
        host: a loopback address (127.0.0.1, localhost or ::1); others are refused,
            since the page can write run directories.
        port: the TCP port (0: any free one).
        runs_dir: where ``save`` writes run directories.
        open_browser: call ``webbrowser.open`` on the page once the server listens.
        echo: prints the address line (None: silent).
        log_level: uvicorn's log level.

    Raises:
        NeuralabError: for a non-loopback host or a port that is taken.
    """
    import uvicorn

    if host not in LOOPBACK_HOSTS:
        raise NeuralabError(f"host must be one of {', '.join(LOOPBACK_HOSTS)} (the playground "
                            f"serves this machine only); got {host!r}")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise NeuralabError(f"port must be an integer from 0 to 65535; got {port!r}")
    if port:
        _check_port(host, port)
    app = create_app(runs_dir=Path(runs_dir))
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level))

    def announce() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if not server.started:
            return
        bound = port
        with contextlib.suppress(Exception):
            bound = server.servers[0].sockets[0].getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{bound}/"
        if echo is not None:
            echo(f"neuralab playground on {url} (Ctrl-C to stop); runs are saved under {runs_dir}")
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    threading.Thread(target=announce, name="playground-announce", daemon=True).start()
    server.run()
