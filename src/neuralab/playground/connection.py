"""One WebSocket of the playground and its session: the protocol, message by message.

A reader task receives every message as it comes (so a closed tab is noticed at
once, even while a chunk of training runs) and queues it; the connection handles
the queue in order. Work on the session (building, training, drawing, saving)
runs in a daemon worker thread, one piece at a time under the connection's lock,
so the event loop stays free, several tabs train side by side, and a process
asked to stop need not wait for a thread. A chunk of training ends after
``chunk_seconds`` (at least one step) and before its next step once the tab has
gone (:meth:`neuralab.playground.session.Session.train`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import threading

from starlette.websockets import WebSocket, WebSocketDisconnect

from neuralab import NeuralabError
from neuralab.config import SettingError
from neuralab.playground.data import brief
from neuralab.playground.frames import HIDDEN_EVERY
from neuralab.playground.limits import CHUNK_SECONDS, MAX_DEPTH, MAX_INT, MAX_MESSAGE_CHARS
from neuralab.playground.session import Session
from neuralab.playground.settings import PlaygroundError

log = logging.getLogger("neuralab.playground")

#: The play loop sends at most this many frames a second (the page cannot show more).
MAX_FPS = 60.0
MESSAGE_TYPES = ("config", "play", "pause", "step", "reset", "add_point", "upload_csv", "save")
#: Messages received and not yet handled, at most (the reader waits beyond).
MAX_PENDING = 8
#: The longest error message sent (values quoted in it are the sender's, of any size).
MAX_ERROR_CHARS = 1000


def dumps(obj) -> str:
    """Compact JSON; NaN and infinities are refused (a frame carries them as null)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def _echo_id(msg) -> dict:
    """``{"id": ...}`` of a message that has a JSON-scalar id, for its reply; else nothing."""
    value = msg.get("id") if isinstance(msg, dict) else None
    if isinstance(value, float):
        ok = math.isfinite(value)  # NaN has no JSON to come back in
    else:
        ok = isinstance(value, int | str) and not isinstance(value, bool) and len(str(value)) <= 100
    return {"id": value} if ok else {}


def _int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_INT:
        raise ValueError(f"the integer {brief(text, 24)} is beyond +-2**63")
    return value


def _depth(obj) -> int:
    """How deeply lists and objects nest in ``obj``, counted up to MAX_DEPTH + 1 (no recursion)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, dict)):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def parse_message(text: str | None):
    """The JSON value of a message; PlaygroundError (field ``message``) for anything else.

    Refused: no text, more than :data:`MAX_MESSAGE_CHARS` characters, text that is
    not JSON, integers beyond +-2**63, and nesting deeper than :data:`MAX_DEPTH`.
    NaN and infinities (as Python's json reads them) pass: each field refuses them
    by its name.
    """
    expected = 'messages must be JSON objects like {"type": "play"}'
    if text is None:
        raise PlaygroundError("message", f"{expected}; got a message with no text")
    if len(text) > MAX_MESSAGE_CHARS:
        raise PlaygroundError("message", f"{expected} of at most {MAX_MESSAGE_CHARS:,} "
                                         f"characters; got {len(text):,}")
    too_deep = PlaygroundError("message", f"{expected}, nested at most {MAX_DEPTH} levels deep")
    try:
        msg = json.loads(text, parse_int=_int)
    except RecursionError:
        raise too_deep from None  # deeper than the parser goes
    except ValueError as exc:
        raise PlaygroundError("message", f"{expected}; got text that is not JSON "
                                         f"({str(exc)[:100]})") from None
    if _depth(msg) > MAX_DEPTH:
        raise too_deep
    return msg


def in_daemon_thread(fn, *args) -> asyncio.Future:
    """``fn(*args)`` in a new daemon thread; a future of the running loop settles with it.

    A daemon thread does not keep the process alive: a server told to stop exits
    while a step is still running (its session is in memory only). Once the loop
    has closed, the result is dropped.
    """
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    # a result nobody awaits any more (the tab went) is read here, so none is reported lost
    fut.add_done_callback(lambda f: f.cancelled() or f.exception())

    def settle(result, exc) -> None:
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    def work() -> None:
        try:
            result, exc = fn(*args), None
        except BaseException as error:  # handed to the awaiting coroutine
            result, exc = None, error
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(settle, result, exc)

    threading.Thread(target=work, name="playground-work", daemon=True).start()
    return fut


class Gone(Exception):
    """The WebSocket has closed; stop sending."""


class Connection:
    """One WebSocket and its session.

    Replies, in order: ``config`` -> ``config_ok`` (with ``code``) then a frame
    with points and the network diagram; ``upload_csv`` -> the same, the config's dataset
    being ``"upload"`` and its classes the file's; ``play`` -> ``state``, then
    frames until paused (the network diagram in each); ``pause`` -> ``state`` then
    one frame with the network diagram; ``step`` -> (``state`` first if it was playing)
    a frame with the network diagram; ``reset`` -> a frame with points; ``add_point`` ->
    a frame with points and the regenerated ``code``; ``save`` -> ``saved``.
    A refused message gets ``error`` (its ``field`` the setting, or what else was
    wrong) and changes nothing. A message's ``id``, when it has one, comes back
    in its ``config_ok`` or ``error`` (the page tells the reply to its latest
    config from older ones by it). No play frame follows
    a ``state`` whose ``playing`` is false. A frame whose ``history_reset`` is
    true carries the whole history (after a config, an upload or a reset).
    A diverged loss sends ``error`` (field null) and ``state`` (not playing).
    A play frame holds at most ``chunk_seconds`` of training (one step at least).
    """

    def __init__(self, websocket: WebSocket, session: Session, *, max_fps: float = MAX_FPS,
                 chunk_seconds: float = CHUNK_SECONDS, on_closed=None) -> None:
        self.ws = websocket
        self.on_closed = on_closed
        self.session = session
        self.max_fps = float(max_fps)
        self.chunk_seconds = float(chunk_seconds)
        self.lock = asyncio.Lock()
        self.play_task: asyncio.Task | None = None
        self.inflight: asyncio.Future | None = None
        self.inbox: asyncio.Queue = asyncio.Queue(MAX_PENDING)
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.gone = False

    # ---------------------------------------------------------------- plumbing

    async def _thread(self, fn, *args):
        """``fn(*args)`` in a worker thread; Gone as soon as the tab closes (the thread ends
        on its own: a chunk of training stops before its next step)."""
        if self.gone:
            raise Gone
        fut = self.inflight = in_daemon_thread(fn, *args)
        await asyncio.wait([fut, self.closed], return_when=asyncio.FIRST_COMPLETED)
        if not fut.done():
            raise Gone
        return fut.result()

    async def send(self, obj) -> None:
        if self.gone:
            raise Gone
        try:
            await self.ws.send_text(obj if isinstance(obj, str) else dumps(obj))
        except Exception:  # the socket closed under us: uvicorn and starlette raise various
            self._gone()
            raise Gone from None

    async def error(self, field: str | None, message: str, reply_to=None) -> None:
        if len(message) > MAX_ERROR_CHARS:
            message = message[:MAX_ERROR_CHARS - 3] + "..."
        await self.send({"type": "error", "field": field, "message": message,
                         **_echo_id(reply_to)})

    async def state(self) -> None:
        await self.send({"type": "state", "playing": self.session.playing})

    def _frame_text(self, *, train: bool = False, steps: int | None = None, points: bool = False,
                    hidden: bool = False, code: bool = False) -> str | None:
        """Worker-thread work: train when asked (``steps``, default steps_per_frame, for at
        most ``chunk_seconds``), draw the frame, encode it as JSON; None once the tab has gone."""
        s = self.session
        s.ensure()
        if train:
            s.train(steps, seconds=self.chunk_seconds)
            if s.closed:
                return None
        frame = s.frame(points=points, hidden=hidden)
        if code:
            frame["code"] = s.code()
        return dumps(frame)

    # ---------------------------------------------------------------- the loop

    async def run(self) -> None:
        """Accept, then handle the messages in order until the tab goes; then shut down."""
        reader = None
        try:
            await self.ws.accept()
            reader = asyncio.create_task(self._read())
            while (text := await self.inbox.get()) is not None:
                try:
                    msg = parse_message(text)
                except PlaygroundError as exc:
                    await self.error(exc.field, str(exc))
                    continue
                await self.handle(msg)
        except (Gone, WebSocketDisconnect):
            pass
        finally:
            if reader is not None:
                reader.cancel()
            self.shutdown()

    async def _read(self) -> None:
        """Receive messages into the inbox until the socket closes; then mark the tab gone."""
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None and message.get("bytes") is not None:
                    text = message["bytes"].decode("utf-8", "replace")
                await self.inbox.put(text)
        except Exception:  # a broken socket ends the session as a closed one does
            pass
        finally:
            self._gone()

    def _gone(self) -> None:
        """The tab has gone: stop sending, stop the session's training, wake every waiter."""
        self.gone = True
        self.session.playing = False
        self.session.closed = True
        if not self.closed.done():
            self.closed.set_result(None)
        with contextlib.suppress(asyncio.QueueFull):
            self.inbox.put_nowait(None)

    def shutdown(self) -> None:
        """Stop the play loop; drop the session once the work in flight (if any) has ended.

        Nothing here waits: the work in flight ends on its own (training stops
        before its next step) and the session leaves when it has.
        """
        self._gone()
        if self.play_task is not None:
            self.play_task.cancel()
        inflight = self.inflight
        if inflight is not None and not inflight.done():
            inflight.add_done_callback(lambda _: self._finish())
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
            await self.error("type", f"type must be one of {', '.join(MESSAGE_TYPES)}; "
                                     f"got {brief(kind)}")
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
            except Gone:
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
        await self.send(await self._thread(lambda: self._frame_text(hidden=True)))

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
            text = await self._thread(lambda: self._frame_text(train=True, steps=steps,
                                                               hidden=hidden))
        except TrainingDiverged as exc:
            self.session.playing = False
            await self.error(None, str(exc))
            await self.state()
            return False
        if text is None:
            raise Gone
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
                    if not await self._play_frame(next(count) % HIDDEN_EVERY == 0):
                        break
                # sleep off the rest of the frame's time; sleep(0) still lets messages in
                await asyncio.sleep(max(0.0, interval - (loop.time() - started)))
        except Gone:
            pass

    async def _play_frame(self, hidden: bool) -> bool:
        """One play frame; False (and the state, not playing) when playing must stop."""
        try:
            return await self._train_and_send(hidden=hidden)
        except PlaygroundError as exc:
            message, field = str(exc), exc.field
        except Gone:
            return False
        except Exception as exc:
            log.exception("playground: training failed")
            message, field = f"training failed: {type(exc).__name__}: {exc}", None
        self.session.playing = False
        await self.error(field, message)
        await self.state()
        return False
