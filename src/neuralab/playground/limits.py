"""The playground server's bounds: time per chunk, sessions, memory, and what a page may send.

A page can ask for the largest settings, open many tabs, or send any text; the
server keeps answering because

- a chunk of training stops after :data:`CHUNK_SECONDS` (at least one step),
  whatever ``steps_per_frame`` asks, and as soon as its tab has gone;
- at most :data:`MAX_SESSIONS` sessions run at once (a tab beyond gets an
  ``error`` and the socket closes with code 1013, try again later);
- the sessions' memory, estimated from their settings before anything is built
  (:func:`session_bytes`), stays within a :class:`MemoryBudget`
  (:data:`MEMORY_SHARE` of what neuralab plans to hold on this machine);
- a message is at most :data:`MAX_MESSAGE_CHARS` characters of JSON nested at most
  :data:`MAX_DEPTH` levels, with finite numbers of a sane size.
"""

from __future__ import annotations

import threading

from neuralab.playground.data import MAX_CSV_CHARS
from neuralab.playground.settings import PlaygroundError, train_settings

#: The longest a chunk of training runs before its frame is drawn (seconds).
CHUNK_SECONDS = 0.1
#: The most sessions (tabs) the server runs at once.
MAX_SESSIONS = 8
#: The share of :func:`neuralab.data.files.memory_limit` that all sessions together may hold.
MEMORY_SHARE = 0.5
#: The longest message: an upload's CSV, escaped as JSON text (at most 2 characters a
#: character for text, as a page's JSON.stringify writes it), and room for the rest.
MAX_MESSAGE_CHARS = 2 * MAX_CSV_CHARS + 65_536
#: The deepest nesting of lists and objects in a message (the protocol needs 3).
MAX_DEPTH = 16
#: The largest integer a message may carry (a JSON number beyond it is no setting's).
MAX_INT = 2**63


def session_bytes(cfg: dict, n_rows: int, grid_rows: int) -> int:
    """Bytes a session with settings ``cfg`` on ``n_rows`` points holds at its peak.

    :func:`neuralab.memory.memory_estimate` of its training (weights, optimiser
    state, a batch's activations, the data) with the boundary grid of
    ``grid_rows`` points as one more block evaluated at once.
    """
    from neuralab.memory import memory_estimate

    settings = train_settings(cfg)
    n_test = int(n_rows * (cfg.get("test_fraction") or 0.0))
    rows = {"train": max(n_rows - n_test, 1), "test": n_test, "grid": grid_rows}
    return sum(memory_estimate(settings, settings.sizes(2, int(cfg["classes"])), rows))


def mib(n_bytes: float) -> str:
    """A byte count in MiB, for messages: ``mib(3 * 2**20) == '3 MiB'``."""
    return f"{n_bytes / 2**20:,.0f} MiB"


class MemoryBudget:
    """The bytes the server's sessions may hold together, and what each holds (thread-safe).

    Args:
        total: the budget in bytes.
    """

    def __init__(self, total: int) -> None:
        self.total = int(total)
        self._held: dict[object, int] = {}
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        with self._lock:
            return sum(self._held.values())

    def reserve(self, owner: object, need: int, what: str) -> None:
        """Let ``owner`` hold ``need`` bytes instead of what it held, or refuse.

        Raises:
            PlaygroundError: (field ``config``) when the other sessions' bytes and
                ``need`` exceed the budget; ``what`` describes the settings.
        """
        with self._lock:
            others = sum(v for k, v in self._held.items() if k is not owner)
            sessions = len(self._held) - (owner in self._held)
            if others + need <= self.total:
                self._held[owner] = int(need)
                return
        advice = "use fewer points, fewer or narrower hidden layers, or a batch_size"
        if need > self.total:
            where = f"more than the playground's {mib(self.total)}; {advice}"
        else:
            where = (f"and {mib(self.total - others)} of the playground's {mib(self.total)} is "
                     f"free while {sessions} other sessions run; close a tab, or {advice}")
        raise PlaygroundError("config", f"these settings ({what}) need about {mib(need)} of "
                                        f"memory, {where}")

    def release(self, owner: object) -> None:
        with self._lock:
            self._held.pop(owner, None)
