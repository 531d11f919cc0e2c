"""The sweep's Optuna study: where it is stored, what it searches, and its trials' slots.

A sweep is an Optuna study. Its trials are *slots* made when the study is
created: one per grid point (with the point's values fixed), or ``n_trials``
empty ones that the tpe or random sampler fills when a worker takes them. Slots
wait in Optuna's queue (state WAITING); a worker takes one atomically, so that
any number of workers, on any number of machines, run each slot once. A slot
whose worker died (its process is gone) or was stopped goes back into the
queue with the same values, so that none is lost.

The study also keeps the sweep's *definition* (the searched settings and their
ranges, the sampler, the scoring, the base settings and a digest of the data):
a worker that joins a study made for another sweep is refused, naming the
difference.

Storage: a local journal file (``study.journal`` in the sweep's folder, the
default; it needs no server and takes file locks, so that several processes on
this machine share it), or a database URL (``sqlite:///FILE``,
``postgresql://USER:PASSWORD@HOST/DB``) that many machines share. On a database
a running trial's worker sends a heartbeat; a trial whose heartbeat stops is
failed and its slot queued again by the next worker that looks.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from neuralab import ArgumentError, NeuralabError
from neuralab.config import TrainSettings
from neuralab.fileio import jsonable
from neuralab.sweep.space import Range, Space, grid, sweep_value
from neuralab.sweep.trials import RESULT_KEYS, Trial, read_trial, trial_settings

#: the study file in a sweep's folder when no --storage is given
STUDY_FILE = "study.journal"
#: the storage of a sweep with neither a folder nor a storage URL: this process's memory
MEMORY = "memory:"
#: the study's name when none is given
DEFAULT_STUDY = "sweep"
#: Optuna user attributes: a trial's slot, its worker, its result; the study's definition
SLOT, WORKER, RESULT, DEFINITION = "slot", "worker", "result", "neuralab"
#: seconds between a database trial's heartbeats, and after which a silent trial is failed
HEARTBEAT_SECONDS, GRACE_SECONDS = 10, 60
#: seconds to wait for a database server that does not answer
CONNECT_SECONDS = 10
#: how long a worker waits for the process that creates a study to finish setting it up
SETUP_SECONDS = 60.0
#: storage schemes that SQLAlchemy reaches (the drivers that neuralab installs)
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg2", "mysql", "mysql+pymysql")
STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # neuralab reports trials itself; Optuna's experimental-feature warnings say nothing to a user
    logging.getLogger("optuna").propagate = False
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # workers ask for trials and send heartbeats themselves (worker._heartbeat), not via optimize
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    return optuna


def redact(url: str) -> str:
    """A storage URL fit to print: its password replaced by ``***``.

    >>> redact("postgresql://ann:secret@db.lab:5432/sweeps")
    'postgresql://ann:***@db.lab:5432/sweeps'
    """
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def check_study_name(name: str) -> str:
    if not isinstance(name, str) or not STUDY_NAME.match(name):
        raise ArgumentError("study", f"study must be 1 to 128 letters, digits, '_', '.' or '-', "
                                     f"starting with a letter or digit; got {name!r:.80}")
    return name


def storage_url(storage: str | None, out: Path | None) -> str:
    """The study's storage as text: a database URL, ``journal:PATH``, or ``memory:`` (a sweep
    with neither a folder nor a storage keeps its study in this process)."""
    if storage is None:
        return MEMORY if out is None else f"journal:{Path(out) / STUDY_FILE}"
    if not isinstance(storage, str) or not storage.strip():
        raise ArgumentError("storage", f"storage must be a database URL or a journal file; "
                                       f"got {storage!r:.80}")
    storage = storage.strip()
    scheme = storage.partition("://")[0].lower() if "://" in storage else None
    if scheme is None:
        return f"journal:{Path(storage.removeprefix('journal:'))}"
    if scheme not in DATABASE_SCHEMES:
        raise ArgumentError("storage", f"storage {redact(storage)!r}: the scheme must be one of "
                                       f"{', '.join(DATABASE_SCHEMES)} (or a journal file's path); "
                                       f"got {scheme!r}")
    return storage


def open_storage(url: str):
    """The Optuna storage behind ``url`` (see :func:`storage_url`); one line when it fails."""
    optuna = _optuna()
    if url == MEMORY:
        return optuna.storages.InMemoryStorage()
    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url.removeprefix("journal:"))
        if not path.parent.is_dir():
            raise ArgumentError("storage", f"storage {path}: its folder {path.parent} does not exist")
        try:
            return JournalStorage(JournalFileBackend(str(path), lock_obj=KernelLock(path)))
        except OSError as exc:
            raise ArgumentError("storage", f"storage {path} cannot be used: "
                                           f"{_first_line(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - a damaged journal: Optuna's replay fails anyhow
            raise ArgumentError("storage", f"storage {path} is not a journal neuralab can read "
                                           f"({type(exc).__name__}: {_first_line(exc)})") from None
    engine = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        engine["connect_args"] = {"connect_timeout": CONNECT_SECONDS}  # a silent host: an error
    for attempt in range(SCHEMA_TRIES):
        try:
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS,
                heartbeat_stale_trial_callback=_queue_again, engine_kwargs=engine)
        except ImportError as exc:
            raise ArgumentError("storage", f"storage {redact(url)}: its database driver is not "
                                           f"installed ({_first_line(exc)})") from None
        except Exception as exc:  # SQLAlchemy's errors: a server that cannot be reached, bad auth
            if attempt + 1 < SCHEMA_TRIES and _schema_race(exc):
                time.sleep(0.2 * (attempt + 1))
                continue
            raise ArgumentError("storage", f"storage {redact(url)} cannot be reached: "
                                           f"{_first_line(exc)}") from None
    raise AssertionError("unreachable")  # pragma: no cover


class KernelLock:
    """The lock a journal file's writers take (Optuna's ``BaseJournalFileLock``): ``flock`` on
    the journal itself, which the kernel lets go of when its holder ends, however it ends.

    Optuna's own lock is a symbolic link beside the journal that a killed holder leaves
    behind, and the other processes waited out its 30 s grace period before they broke
    it: a sweep worker killed while it appended to the journal stalled every other worker
    for half a minute. Each acquisition opens the file anew, so the threads of one process
    exclude each other as processes do. Every neuralab process that opens a journal takes
    this lock; a program that writes to the journal through Optuna's default lock does not
    wait for it (each append is still one write to a file opened for appending).
    """

    def __init__(self, journal: str | Path) -> None:
        self.path = str(journal)
        self._held = threading.local()

    def acquire(self) -> bool:
        import fcntl

        fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._held.fd = fd
        return True

    def release(self) -> None:
        fd, self._held.fd = getattr(self._held, "fd", None), None
        if fd is not None:
            os.close(fd)  # closing the last descriptor of the open file lets go of the lock


#: how often a worker tries to open a new database whose tables other workers are making
SCHEMA_TRIES = 5


def _schema_race(exc: Exception) -> bool:
    """Whether ``exc`` is a lost race to make a new database's tables: workers that start
    together on an empty database all make them; the losers find them made when they try
    again."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    return isinstance(exc, (IntegrityError, ProgrammingError))


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


# --- the search space as Optuna's distributions -----------------------------------------------

def _choice(value):
    """A listed value as Optuna stores it: text for a list (``64x32``), else itself."""
    return "x".join(map(str, value)) if isinstance(value, list) else value


def distributions(space: Space) -> dict:
    """Each searched setting's Optuna distribution."""
    dist = _optuna().distributions
    out = {}
    for name, values in space.items():
        if isinstance(values, Range):
            kind = dist.IntDistribution if values.integer else dist.FloatDistribution
            out[name] = kind(values.low, values.high, log=values.log)
        else:
            out[name] = dist.CategoricalDistribution([_choice(v) for v in values])
    return out


def decode(space: Space, raw: Mapping) -> dict:
    """A trial's parameters in the space's order and the settings' own types, checked.

    ``raw`` comes from the storage: every searched setting must be there, and
    each value is read as the setting reads it.
    """
    params = {}
    for name, values in space.items():
        if name not in raw:
            raise NeuralabError(f"the study's trial has no value for {name}")
        value = raw[name]
        if not isinstance(values, Range) and value not in [_choice(v) for v in values]:
            raise NeuralabError(f"the study's trial has {name}={value!r:.60}, which the sweep "
                                "does not list")
        params[name] = sweep_value(name, value)
        if isinstance(values, Range) and not values.low <= params[name] <= values.high:
            raise NeuralabError(f"the study's trial has {name}={value!r:.60}, outside {values}")
    return params


def suggest(trial, space: Space) -> dict:
    """Draw (or read, when fixed) each searched setting for an Optuna trial."""
    params = {}
    for name, values in space.items():
        if isinstance(values, Range):
            draw = trial.suggest_int if values.integer else trial.suggest_float
            params[name] = draw(name, values.low, values.high, log=values.log)
        else:
            params[name] = trial.suggest_categorical(name, [_choice(v) for v in values])
    return decode(space, params)


# --- the study: made once, joined by every worker ---------------------------------------------

#: Settings that change what a worker writes, not what a trial computes: workers may differ.
OUTPUT_ONLY = ("tensorboard",)


def definition(space: Space, *, sampler: str, n_trials: int, scoring: dict,
               base: TrainSettings, data: dict) -> dict:
    """What every worker of one sweep must share, as JSON (the output-only settings aside)."""
    settings = {k: v for k, v in base.to_dict().items() if k not in OUTPUT_ONLY}
    return jsonable({
        "space": {name: str(v) if isinstance(v, Range) else [_choice(x) for x in v]
                  for name, v in space.items()},
        "sampler": sampler, "n_trials": n_trials, "scoring": scoring,
        "base_settings": settings, "data": data,
    })


def make_sampler(name: str, seed: int):
    """The Optuna sampler of ``name`` (grid slots carry their values: any sampler reads them)."""
    samplers = _optuna().samplers
    if name == "tpe":
        return samplers.TPESampler(seed=seed)
    return samplers.RandomSampler(seed=seed)


def make_pruner(name: str):
    pruners = _optuna().pruners
    if name == "median":
        # the first trials run whole: there is nothing to compare them with
        return pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0)
    if name == "hyperband":
        return pruners.HyperbandPruner(min_resource=1)
    return pruners.NopPruner()


def _difference(old, new, name: str) -> str:
    """Where two JSON values first differ, as ``name.key is OLD there, NEW now``."""
    if isinstance(old, dict) and isinstance(new, dict):
        # in the order the sweep defines them (the space first), then keys only the old one has
        for key in [*new, *(k for k in old if k not in new)]:
            if old.get(key) != new.get(key):
                return _difference(old.get(key), new.get(key), f"{name}.{key}")
    return f"{name} is {old!r:.60} there, {new!r:.60} now"


def open_study(url: str, name: str, want: dict | None, *, pruner: str = "none",
               create: bool = True):
    """Create the study ``name`` (with its slots) or join it; ``want`` None only reads it.

    Raises:
        ArgumentError: the storage cannot be reached; the study does not exist (and
            ``create`` is false); it was made for another sweep (the first
            difference is named).
    """
    optuna = _optuna()
    where = f"study {name!r} in {redact(url)}"
    journal = Path(url.removeprefix("journal:")) if url.startswith("journal:") else None
    if not create and journal is not None and not journal.is_file():
        raise ArgumentError("study", f"{where} does not exist (there is no such file)")
    storage = open_storage(url)
    made = False
    if create and want is not None:
        try:
            study = optuna.create_study(study_name=name, storage=storage, direction="minimize",
                                        pruner=make_pruner(pruner))
            made = True
        except optuna.exceptions.DuplicatedStudyError:
            pass
        except Exception as exc:  # noqa: BLE001 - a storage's failure, whatever its type
            raise ArgumentError("storage", f"{where} cannot be created: {_first_line(exc)}") from None
    if made:
        _add_slots(study, want)
        study.set_user_attr(DEFINITION, want)  # last: the study is ready for other workers
        return study
    try:
        study = optuna.load_study(study_name=name, storage=storage, pruner=make_pruner(pruner))
    except KeyError:
        raise ArgumentError("study", f"{where} does not exist{_holds(storage)}") from None
    except Exception as exc:  # noqa: BLE001
        raise ArgumentError("storage", f"{where} cannot be read: {_first_line(exc)}") from None
    # only a study that another worker has just created may still be getting its slots
    have = _wait_for_definition(study, where, wait=create and want is not None)
    if want is not None and have != want:
        raise ArgumentError("study", f"{where} was made for another sweep: "
                                     f"{_difference(have, want, 'its')}; give another --study, or "
                                     "the data and options it was made with")
    return study


def _holds(storage) -> str:
    """``; it holds the studies a, b`` (or ``; it holds no study``), for a study not found."""
    try:
        names = sorted(s.study_name for s in storage.get_all_studies())
    except Exception:  # noqa: BLE001 - only a hint
        return ""
    if not names:
        return "; it holds no study"
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return f"; it holds the studies {', '.join(map(repr, names[:5]))}{more}"


def _setting_up(study) -> bool:
    """Whether ``study`` looks like one whose maker is still adding its slots: nothing in it
    yet but waiting slots."""
    states = _optuna().trial.TrialState
    return all(t.state == states.WAITING and SLOT in t.user_attrs
               for t in study.get_trials(deepcopy=False))


def _wait_for_definition(study, where: str, *, wait: bool) -> dict:
    """The study's definition; with ``wait``, once the worker that made it has added its slots.

    A study without one that is not being set up (it has other trials, or ``wait``
    is false) was not made by neuralab: a one-line error at once.
    """
    deadline = time.monotonic() + SETUP_SECONDS
    while True:
        have = study.user_attrs.get(DEFINITION)
        if have is not None:
            if not isinstance(have, dict) or not isinstance(have.get("space"), dict):
                raise ArgumentError("study", f"{where} is not a neuralab sweep (its definition "
                                             f"is {type(have).__name__})")
            return have
        setting_up = wait and _setting_up(study)
        if not setting_up or time.monotonic() > deadline:
            late = f" after {SETUP_SECONDS:g} s" if setting_up else ""
            raise ArgumentError("study", f"{where} was not made by neuralab sweep (it has no "
                                         f"sweep definition{late}); give another --study")
        time.sleep(0.5)


def _add_slots(study, want: dict) -> None:
    from neuralab.sweep.space import normalize_space

    if want["sampler"] == "grid":
        space = normalize_space(space_of(want))
        for i, point in enumerate(grid(space)):
            study.enqueue_trial({k: _choice(v) for k, v in point.items()}, user_attrs={SLOT: i})
    else:
        for i in range(want["n_trials"]):
            study.enqueue_trial({}, user_attrs={SLOT: i})


def space_of(want: dict) -> dict:
    """The search space of a definition (ranges from their text)."""
    from neuralab.sweep.space import parse_space

    specs = []
    for name, values in want["space"].items():
        text = values if isinstance(values, str) else ";".join(map(str, (
            "full" if v is None else str(v).lower() if isinstance(v, bool) else v for v in values)))
        specs.append(f"{name}={text}")
    return parse_space(specs)


# --- workers and their slots ------------------------------------------------------------------

def _boot_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks after boot), so that a reused pid is told apart."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def this_worker() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "started": _boot_time(os.getpid())}


def _gone(worker) -> bool:
    """Whether a worker that ran on this machine has ended (a worker elsewhere is not judged)."""
    if not isinstance(worker, dict) or worker.get("host") != socket.gethostname():
        return False
    pid = worker.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    if _state(pid) in ("Z", "X"):  # ended, not yet reaped by its parent
        return True
    started = worker.get("started")
    return started is not None and _boot_time(pid) not in (None, started)


def _state(pid: int) -> str | None:
    """Process ``pid``'s state letter (``R``, ``S``, ``Z`` for a zombie, ...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _abandoned(trial) -> bool:
    """Whether a running ``trial``'s worker is gone: ended on this machine, or never named
    itself (it died between taking the slot and writing its name) for :data:`GRACE_SECONDS`."""
    worker = trial.user_attrs.get(WORKER)
    if worker is not None:
        return _gone(worker)
    start = trial.datetime_start
    return start is not None and (datetime.now() - start).total_seconds() > GRACE_SECONDS


def has_heartbeat(study) -> bool:
    """Whether the study's workers send heartbeats (on a database: see :func:`open_storage`)."""
    return isinstance(study._storage, _optuna().storages.RDBStorage)


def _queue_again(study, trial) -> None:
    """Queue ``trial``'s slot again with the same values (its worker stopped mid-trial).

    A trial that is no slot (one a worker asked for when the queue had just run
    dry) is only failed, and so is one whose result was stored before its worker
    stopped (the result is read from it).
    """
    slot = trial.user_attrs.get(SLOT)
    if isinstance(slot, int) and not isinstance(slot, bool) and RESULT not in trial.user_attrs:
        study.enqueue_trial(dict(trial.params), user_attrs={SLOT: slot})


def tell(study, trial, raw: dict) -> None:
    """Finish the running ``trial`` (a trial or its number) as its stored result ``raw`` says:
    complete with its validation loss, pruned, or failed."""
    states = _optuna().trial.TrialState
    raw = raw if isinstance(raw, dict) else {}
    status, loss = raw.get("status"), raw.get("val_loss")
    if (status == "ok" and isinstance(loss, (int, float)) and not isinstance(loss, bool)
            and math.isfinite(loss)):
        study.tell(trial, loss)
    else:
        study.tell(trial, state=states.PRUNED if status == "pruned" else states.FAIL)


def requeue(study, trial) -> None:
    """Fail the running ``trial`` and queue its slot again with the same values.

    A trial whose worker stored its result and ended before it finished the
    trial is finished as that result says instead: its work is not done twice.
    """
    optuna = _optuna()
    try:
        if RESULT in trial.user_attrs:
            tell(study, trial.number, trial.user_attrs[RESULT])
            return
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    except (ValueError, RuntimeError):
        return  # it finished after all, or another worker requeued it first
    _queue_again(study, trial)


def recover(study) -> int:
    """Queue again the slots of this machine's workers that ended mid-trial (and, on a
    database, of any worker whose heartbeat stopped); how many of this machine's."""
    optuna = _optuna()
    if has_heartbeat(study):
        optuna.storages.fail_stale_trials(study)  # queues them again (_queue_again)
    stale = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
             if _abandoned(t)]
    for t in stale:
        requeue(study, t)
    return len(stale)


def slots_left(study) -> tuple[int, int]:
    """(waiting, running) slots of the study."""
    states = _optuna().trial.TrialState
    trials = study.get_trials(deepcopy=False, states=(states.WAITING, states.RUNNING))
    waiting = sum(t.state == states.WAITING for t in trials)
    return waiting, len(trials) - waiting


def read_trials(study, space: Space, base: TrainSettings, n_folds: int) -> list[Trial]:
    """The finished slots as :class:`Trial` objects (a slot's latest result), checked."""
    states = _optuna().trial.TrialState
    where = f"study {study.study_name!r}"
    done: dict[int, Trial] = {}
    finished = study.get_trials(deepcopy=False,
                                states=(states.COMPLETE, states.PRUNED, states.FAIL))
    for t in sorted(finished, key=lambda t: t.number):  # a slot run again: its latest result
        slot, raw = t.user_attrs.get(SLOT), t.user_attrs.get(RESULT)
        if raw is None:
            continue  # stopped and queued again, or not one of the sweep's trials
        if not isinstance(slot, int) or isinstance(slot, bool) or slot < 0:
            raise NeuralabError(f"{where}: trial {t.number} has the slot {slot!r:.40}")
        params = decode(space, t.params)
        settings = trial_settings(base, params).to_dict()
        trial = read_trial(raw, f"{where}: trial {t.number}", number=slot, params=params,
                           settings=settings, n_folds=n_folds)
        done[slot] = trial
    return list(done.values())


def result_attrs(trial: Trial) -> dict:
    """What a worker stores of a finished trial (:data:`RESULT_KEYS`), as JSON."""
    return jsonable({k: getattr(trial, k) for k in RESULT_KEYS})
