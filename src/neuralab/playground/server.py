"""The playground's web server: the page, its defaults, and one WebSocket session per tab.

Routes:

- ``GET /``: the page, ``static/index.html``.
- ``GET /static/{path}``: files inside the package's ``static`` folder only
  (anything that resolves outside it, is not a file, or cannot be a file name, is 404).
- ``GET /api/defaults``: the default settings and, for each setting the
  playground shows, its description from neuralab's schema
  (:meth:`neuralab.config.Setting.describe`: kind, bounds, choices, help,
  unit, group), from which the page builds its controls; and the grid sizes.
- ``/ws``: the protocol (JSON text messages). Client to server: ``config``,
  ``play``, ``pause``, ``step``, ``reset``, ``add_point``, ``upload_csv``,
  ``save``. Server to client: ``config_ok``, ``frame``, ``state``, ``saved``,
  ``error``. See :class:`~neuralab.playground.connection.Connection` for the
  order of the replies.

Each WebSocket has its own :class:`~neuralab.playground.session.Session`.
Training and frame drawing run in a daemon worker thread, one piece at a time
under the connection's lock, so the event loop stays free and several tabs
train side by side. When a tab closes, its play loop stops, the chunk in flight
(if any) stops before its next step, and the session is dropped from
``app.state.sessions``. The work is bounded (:mod:`neuralab.playground.limits`):
a chunk of training lasts about ``chunk_seconds``, at most ``max_sessions``
sessions run at once, and their memory, estimated from their settings before
anything is built, stays within ``memory_budget``. Ctrl-C or SIGTERM stops the
server at once: it waits for no worker thread.

The server binds to this machine only, refuses requests whose Host header is
not a loopback name (DNS rebinding) and WebSockets opened by pages of any other
origin (scheme, host and port) than its own, since a session can write run
directories.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from neuralab import NeuralabError
from neuralab.config import REGRESSION_TOYS, TWO_CLASS_TOYS, settings_for
from neuralab.playground.connection import MAX_FPS, MESSAGE_TYPES, Connection, dumps
from neuralab.playground.data import MAX_COORDINATE, MAX_CSV_CHARS, MAX_CSV_ROWS
from neuralab.playground.frames import HIDDEN_EVERY, MAX_UNITS_SHOWN
from neuralab.playground.limits import CHUNK_SECONDS, MAX_SESSIONS, MEMORY_SHARE, MemoryBudget
from neuralab.playground.session import Session
from neuralab.playground.settings import (
    DATASET_DEFAULTS,
    MAX_CLASSES,
    SURFACE,
    UPLOAD,
    normalise_config,
)
from neuralab.plots import CLASS_COLOURS

STATIC_DIR = Path(__file__).resolve().with_name("static")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
#: A static path longer than this is no file of the page's (404 without a look).
MAX_STATIC_PATH = 255


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
        "regression_sets": list(REGRESSION_TOYS),
        "dataset_defaults": DATASET_DEFAULTS,
        "class_colours": CLASS_COLOURS[:MAX_CLASSES],
        "grid": {"width": grid, "height": grid},
        "hidden_grid": {"width": hidden_grid, "height": hidden_grid,
                        "max_units": MAX_UNITS_SHOWN, "every_frames": HIDDEN_EVERY},
        "csv": {"max_rows": MAX_CSV_ROWS, "max_chars": MAX_CSV_CHARS,
                "max_coordinate": MAX_COORDINATE,
                "columns": "x1,x2,label (header optional)", "classes": [2, MAX_CLASSES]},
        "message_types": list(MESSAGE_TYPES),
    }


def origin_allowed(origin: str | None, host: str | None) -> bool:
    """Whether a WebSocket's Origin is this server's own page: ``http://`` + its Host.

    No Origin (a script, not a browser) is allowed; otherwise scheme, host name
    and port must all be the Host's (the server speaks plain http only). A page
    of another port, scheme or name, even on this machine, may not drive a
    session (it could Save).

    >>> origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000")
    True
    >>> [origin_allowed(o, "127.0.0.1:8000") for o in ("http://127.0.0.1:1234",
    ...      "https://127.0.0.1:8000", "http://localhost:8000", "null")]
    [False, False, False, False]
    """
    if origin is None:
        return True
    if host is None:
        return False
    try:
        page, own = urlsplit(origin), urlsplit("//" + host)
        return (page.scheme == "http" and not page.path.strip("/") and not page.username
                and page.hostname is not None and page.hostname == own.hostname
                and (page.port or 80) == (own.port or 80))
    except ValueError:  # a port that is no number
        return False


def static_file(root: Path, rel: str) -> Path | None:
    """The file ``root/rel`` when it is one inside ``root`` (links resolved); else None."""
    if len(rel) > MAX_STATIC_PATH:
        return None
    try:
        target = (root / rel).resolve()
        return target if root in target.parents and target.is_file() else None
    except (OSError, ValueError):  # a name too long, a NUL byte, a loop of links
        return None


def create_app(*, runs_dir: Path, static_dir: Path | None = None, grid: int = 100,
               hidden_grid: int = 25, max_fps: float = MAX_FPS,
               allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS,
               max_sessions: int = MAX_SESSIONS, memory_budget: int | None = None,
               chunk_seconds: float = CHUNK_SECONDS) -> Starlette:
    """The playground's Starlette app.

    Args:
        runs_dir: where ``save`` writes run directories.
        static_dir: the page's folder (default: the package's ``static``).
        grid: width and height of the boundary image (pixels).
        hidden_grid: width and height of each node's map in the network diagram.
        max_fps: the most frames a second a playing session sends.
        allowed_hosts: the Host header names served (loopback only by default).
        max_sessions: the most sessions at once; a tab beyond gets an ``error``
            (field ``session``) and its socket closes with code 1013.
        memory_budget: the bytes all sessions may hold together (default:
            :data:`~neuralab.playground.limits.MEMORY_SHARE` of
            :func:`neuralab.data.files.memory_limit`).
        chunk_seconds: how long a play frame's training may run (one step at least).

    ``app.state.sessions`` maps each open WebSocket to its Session (a session
    leaves it once its tab has closed and its training has stopped);
    ``app.state.budget`` is the :class:`~neuralab.playground.limits.MemoryBudget`.
    """
    from neuralab.data.files import memory_limit

    runs_dir = Path(runs_dir)
    static_root = (Path(static_dir) if static_dir is not None else STATIC_DIR).resolve()
    sessions: dict[int, Session] = {}
    ids = itertools.count(1)
    budget = MemoryBudget(memory_budget if memory_budget is not None
                          else int(MEMORY_SHARE * memory_limit()))

    async def index(request: Request) -> Response:
        page = static_root / "index.html"
        if not page.is_file():
            return PlainTextResponse(f"the playground page {page} is missing", status_code=404)
        return FileResponse(page, headers={"Cache-Control": "no-cache"})

    async def static(request: Request) -> Response:
        target = static_file(static_root, request.path_params["path"])
        if target is None:
            return PlainTextResponse("Not Found", status_code=404)
        return FileResponse(target, headers={"Cache-Control": "no-cache"})

    async def defaults(request: Request) -> Response:
        return JSONResponse(defaults_payload(grid, hidden_grid))

    async def ws(websocket: WebSocket) -> None:
        if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host")):
            await websocket.close(code=1008)  # before accept: the handshake is refused (403)
            return
        if len(sessions) >= max_sessions:
            await refuse_session(websocket, max_sessions)
            return
        sid = next(ids)
        session = Session(runs_dir=runs_dir, grid=grid, hidden_grid=hidden_grid, budget=budget)
        sessions[sid] = session
        # the session leaves the registry once its tab has gone and its training has stopped
        connection = Connection(websocket, session, max_fps=max_fps, chunk_seconds=chunk_seconds,
                                on_closed=lambda: sessions.pop(sid, None))
        with contextlib.suppress(asyncio.CancelledError):  # the server stops: no traceback
            await connection.run()

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
    app.state.budget = budget
    return app


async def refuse_session(websocket: WebSocket, max_sessions: int) -> None:
    """Tell a tab beyond the cap why, then close its socket (1013: try again later)."""
    message = (f"the playground already runs {max_sessions} sessions, the most it takes at "
               "once; close another tab (this one retries by itself)")
    with contextlib.suppress(Exception):  # the tab may have gone already
        await websocket.accept()
        await websocket.send_text(dumps({"type": "error", "field": "session", "message": message}))
        await websocket.close(code=1013)


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
    # no lifespan (the app has no start-up work), and a stop never waits on a tab for long:
    # a connection ends as soon as its socket closes, whatever its worker thread is doing
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                           lifespan="off", timeout_graceful_shutdown=1))

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
    try:
        server.run()
    finally:
        _end_if_still_training()


def _end_if_still_training() -> None:
    """End the process now when a session's daemon thread is still in a training step, as a
    signal would: the interpreter's finalisation would tear down what that thread is using
    under it (a crash). Every file the playground writes is written atomically."""
    if any(t.name == "playground-work" and t.is_alive() for t in threading.enumerate()):
        import os
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
