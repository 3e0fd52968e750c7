"""The results store of suite runs: one SQLite file, one committed transaction per finished cell.

A suite run writes every cell (one policy's fit and rollout on one scenario
and seed, a :class:`~optalloc.evaluation.PolicyRun`) to the store as soon as
it finishes, and a re-run loads the cells already there instead of computing
them: a run stopped by Ctrl-C, a kill or a power cut resumes where it stopped
and loses no finished cell. The tables::

    runs       one row per suite run: its manifest (package, solver and torch
               versions, seeds, hardware, git revision, the suite itself)
    cells      one row per computed cell version: identity, status, error,
               fit and act seconds, mean cost, the code it ran, the arrays
    episodes   per episode of a cell: total cost and KPIs
    decisions  per solve of a cell's planner policy: kind, epoch, status,
               objective, bound, gap, seconds
    solves     per static solve cell (a suite's ``[[solves]]``): the
               instance's SolveRecord as JSON, its status and error

A cell is stored under its *key* -- the SHA-256 of its identity (everything
that determines its numbers: scenario, overrides, seed, episodes, policy,
hyper-parameters, training seed) -- and its *code* hash, the SHA-256 of the
optalloc source files it had loaded when it finished (with the data folders
of their packages). A stored cell is reused only while every one of those
files is unchanged, so an edit recomputes the cells it can touch and no
other: a change to one family's policy leaves the other families' cells.

Every write is one transaction in write-ahead-log mode with a busy timeout,
so a killed writer leaves nothing half written and several processes may
write one store at once. Nothing is unpickled: the arrays are an ``.npz``
blob read with ``allow_pickle=False``, checked against its SHA-256. A row
that cannot be used (corrupt, from another format version) is ignored with a
:class:`StoreWarning` and its cell recomputed, never an error.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import sqlite3
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optalloc.evaluation import PolicyRun, Trajectory
from optalloc.exceptions import ConfigurationError, OptallocWarning
from optalloc.status import CellStatus

__all__ = ["ResultStore", "StoreWarning", "cell_key", "code_fingerprint", "loaded_code"]

FORMAT = "optalloc-results"
#: Version of the tables; a store of another version is refused with a message, not misread.
SCHEMA_VERSION = 1
#: Length of a key [hex digits]: 128 bits of SHA-256, far from any chance collision.
KEY_LENGTH = 32
#: How long a writer waits for another one's transaction to end [s].
BUSY_TIMEOUT = 60.0
#: Files of a package's ``data`` folder that count as code of a cell (the family data it reads).
_DATA_SUFFIXES = (".csv", ".json", ".txt", ".npz", ".toml")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    suite TEXT NOT NULL,
    started TEXT NOT NULL,
    manifest TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cells (
    key TEXT NOT NULL,
    code TEXT NOT NULL,
    run_id INTEGER REFERENCES runs(run_id),
    identity TEXT NOT NULL,
    suite TEXT NOT NULL,
    scenario TEXT NOT NULL,
    seed INTEGER NOT NULL,
    policy TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    name TEXT,
    method TEXT,
    information TEXT,
    exact INTEGER,
    episodes INTEGER,
    mean_cost REAL,
    fit_seconds REAL,
    act_seconds REAL,
    optimum REAL,
    deps TEXT NOT NULL,
    fields TEXT,
    arrays BLOB,
    arrays_sha256 TEXT,
    finished TEXT NOT NULL,
    PRIMARY KEY (key, code)
);
CREATE TABLE IF NOT EXISTS episodes (
    key TEXT NOT NULL,
    code TEXT NOT NULL,
    episode INTEGER NOT NULL,
    total_cost REAL NOT NULL,
    kpis TEXT NOT NULL,
    PRIMARY KEY (key, code, episode)
);
CREATE TABLE IF NOT EXISTS solves (
    key TEXT NOT NULL,
    code TEXT NOT NULL,
    run_id INTEGER REFERENCES runs(run_id),
    identity TEXT NOT NULL,
    suite TEXT NOT NULL,
    instance TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    record TEXT,
    deps TEXT NOT NULL,
    finished TEXT NOT NULL,
    PRIMARY KEY (key, code)
);
CREATE TABLE IF NOT EXISTS decisions (
    key TEXT NOT NULL,
    code TEXT NOT NULL,
    number INTEGER NOT NULL,
    kind TEXT,
    epoch INTEGER,
    status TEXT,
    termination TEXT,
    objective REAL,
    bound REAL,
    gap REAL,
    seconds REAL,
    PRIMARY KEY (key, code, number)
);
"""


class StoreWarning(OptallocWarning):
    """A stored cell could not be used (it is recomputed) or a finished cell could not be kept."""


class _UnusableCell(Exception):
    """Why a stored cell is not used; becomes the text of a :class:`StoreWarning`."""


# ---------------------------------------------------------------------- keys and code hashes
def _canonical(value: Any) -> str:
    # repr for values JSON lacks (e.g. TOML dates): stable text, so the key stays stable too.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


def cell_key(identity: Mapping[str, Any]) -> str:
    """The store key of a cell: ``KEY_LENGTH`` hex digits of the SHA-256 of its canonical identity.

    Parameters
    ----------
    identity : mapping
        JSON-serialisable description of everything that determines the
        cell's numbers (ids, parameters, seeds, number of episodes, name).
    """
    return hashlib.sha256(_canonical({"format": FORMAT, "cell": dict(identity)}).encode()).hexdigest()[:KEY_LENGTH]


def _versioned_key(identity: Mapping[str, Any], deps: Mapping[str, str]) -> tuple[str, str, str]:
    """A stored cell's ``key`` (its identity), ``code`` (the hash of the files it loaded) and those files as JSON."""
    deps_text = _canonical(dict(deps))
    return cell_key(identity), hashlib.sha256(deps_text.encode()).hexdigest()[:KEY_LENGTH], deps_text


def _roots() -> list[Path]:
    """Folders of optalloc and its method packages, located without importing them (torch, pyomo stay unloaded)."""
    import importlib.util

    roots = []
    for name in ("optalloc", "optalloc.formulations", "optalloc.rl"):
        try:
            spec = importlib.util.find_spec(name)
        except ImportError:  # a method package whose requirements are missing
            spec = None
        roots += [Path(p).resolve() for p in (spec.submodule_search_locations or [])] if spec else []
    return roots


@functools.cache
def _file_hash(path: str, mtime_ns: int, size: int) -> str:
    """SHA-256 of one file (cached while its modification time and size are the same)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _hash_of(path: Path) -> str | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return _file_hash(str(path), stat.st_mtime_ns, stat.st_size)


def _relative(path: Path, roots: list[Path]) -> str | None:
    """``path`` as ``<root name>/<path inside it>``, or None outside optalloc's folders."""
    for root in roots:
        if path.is_relative_to(root):
            return f"{root.name}/{path.relative_to(root).as_posix()}"
    return None


def loaded_code() -> dict[str, str]:
    """The optalloc files this process has loaded, with their SHA-256: what a cell finished here depended on.

    Every module of optalloc and of its method packages in ``sys.modules``, and
    the files of the ``data`` folder of each loaded package (a family's data).
    Modules loaded by an earlier cell of the same process count too: the set is
    never smaller than what the cell used, so a stored cell is never reused
    after a change to code it ran.

    Returns
    -------
    dict
        ``{"<package folder>/<path>": sha256}``, sorted by path.
    """
    roots = _roots()
    files: set[Path] = set()
    for module in list(sys.modules.values()):
        location = getattr(module, "__file__", None)
        if not location:
            continue
        path = Path(location).resolve()
        if _relative(path, roots) is None:
            continue
        files.add(path)
        data = path.parent / "data"
        if path.name == "__init__.py" and data.is_dir():
            files.update(f.resolve() for f in data.rglob("*") if f.suffix in _DATA_SUFFIXES and f.is_file())
    out = {}
    for path in files:
        digest = _hash_of(path)
        name = _relative(path, roots)
        if digest is not None and name is not None:
            out[name] = digest
    return dict(sorted(out.items()))


def _still_current(deps: Mapping[str, str]) -> bool:
    """True when every file in ``deps`` exists with the same SHA-256 now."""
    by_name = {root.name: root for root in _roots()}
    for name, digest in deps.items():
        root_name, _, inside = name.partition("/")
        root = by_name.get(root_name)
        if root is None or _hash_of(root / inside) != digest:
            return False
    return True


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 of all of optalloc's code and data as installed (every ``.py``, ``.csv`` and ``.json`` file).

    Recorded in every result record and run manifest: the version of the
    whole package a number came from.
    """
    digest = hashlib.sha256()
    files = sorted({f for root in _roots() for pattern in ("*.py", "*.csv", "*.json") for f in root.rglob(pattern)})
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------- arrays of a run
def _arrays_of(run: PolicyRun) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays of a run (npz members) and the JSON fields naming them."""
    tr = run.trajectory
    arrays = {"total_cost": tr.total_cost, "stage_cost": tr.stage_cost, "actions": tr.actions}
    # Members are numbered, names go to the JSON: any dict key survives, whatever its characters.
    arrays |= {f"info_{i}": value for i, value in enumerate(tr.info.values())}
    arrays |= {f"kpi_{i}": value for i, value in enumerate(tr.kpis.values())}
    curve = run.learning_curve
    columns = None
    if curve is not None:
        columns = list(curve.columns)
        if not all(isinstance(c, str) for c in columns):
            raise _UnusableCell(f"learning-curve column names {columns!r} are not all strings")
        arrays |= {f"curve_{i}": curve[c].to_numpy() for i, c in enumerate(columns)}
    arrays = {name: np.asarray(value) for name, value in arrays.items()}
    for name, value in arrays.items():
        if value.dtype.hasobject:  # would need pickle to write and to read back
            raise _UnusableCell(f"array {name!r} has dtype object")
    fields = {"info": list(tr.info), "kpis": list(tr.kpis), "learning_curve": columns}
    for what in ("info", "kpis"):
        if not all(isinstance(k, str) for k in fields[what]):
            raise _UnusableCell(f"{what} keys {fields[what]!r} are not all strings")
    return arrays, fields


def _number(value: Any, what: str, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _UnusableCell(f"{what!r} is {value!r}, not a number")
    return float(value)


def _run_of(row: sqlite3.Row) -> PolicyRun:
    """The :class:`PolicyRun` of a stored ``cells`` row."""
    data = row["arrays"]
    if not isinstance(data, bytes) or hashlib.sha256(data).hexdigest() != row["arrays_sha256"]:
        raise _UnusableCell("its arrays do not match their checksum")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    fields = json.loads(row["fields"])

    def names(key: str) -> list[str]:
        value = fields.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _UnusableCell(f"{key!r} is {value!r}, not a list of names")
        return value

    def member(name: str) -> np.ndarray:
        if name not in arrays:
            raise _UnusableCell(f"array {name!r} is missing")
        return arrays[name]

    total_cost = member("total_cost")
    n = total_cost.shape[0] if total_cost.ndim == 1 else -1
    trajectory = Trajectory(
        total_cost=total_cost, stage_cost=member("stage_cost"), actions=member("actions"),
        info={k: member(f"info_{i}") for i, k in enumerate(names("info"))},
        kpis={k: member(f"kpi_{i}") for i, k in enumerate(names("kpis"))},
        act_seconds=_number(row["act_seconds"], "act_seconds"),
    )
    per_episode = [trajectory.stage_cost, trajectory.actions, *trajectory.info.values(), *trajectory.kpis.values()]
    if n < 0 or any(a.ndim == 0 or a.shape[0] != n for a in per_episode):
        raise _UnusableCell("its arrays disagree on the number of episodes")
    curve = None
    if fields.get("learning_curve") is not None:
        curve = pd.DataFrame({c: member(f"curve_{i}") for i, c in enumerate(names("learning_curve"))})
    solves = None
    if fields.get("solves") is not None:
        solves = pd.DataFrame(fields["solves"]["rows"], columns=fields["solves"]["columns"])
    for key in ("name", "method", "information"):
        if not isinstance(row[key], str):
            raise _UnusableCell(f"{key!r} is {row[key]!r}, not a string")
    return PolicyRun(row["name"], row["method"], row["information"], _number(row["fit_seconds"], "fit_seconds"),
                     trajectory, _number(row["optimum"], "optimum", optional=True), curve,
                     fitted_on=str(fields.get("fitted_on", "")), exact=bool(row["exact"]), solves=solves,
                     bound=_number(fields.get("bound"), "bound", optional=True))


def _solves_rows(solves: pd.DataFrame | None) -> list[tuple[Any, ...]]:
    """The ``decisions`` rows of a run's solve table (kind, epoch, status, termination, objective, bound, gap, s)."""
    if solves is None or solves.empty:
        return []

    def column(name: str) -> list[Any]:
        if name not in solves:
            return [None] * len(solves)
        return [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in solves[name]]

    names = ("kind", "epoch", "status", "termination", "objective", "bound", "gap", "seconds")
    return [(i, *values) for i, values in enumerate(zip(*(column(n) for n in names), strict=True))]


def _json_solves(solves: pd.DataFrame | None) -> dict[str, Any] | None:
    if solves is None:
        return None
    rows = [[None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in row]
            for row in solves.itertuples(index=False)]
    return {"columns": [str(c) for c in solves.columns], "rows": rows}


# ---------------------------------------------------------------------- the store
def _while_busy(step: Any) -> Any:
    """``step()``, retried while another process holds the lock it needs (up to :data:`BUSY_TIMEOUT`).

    SQLite's own busy timeout does not cover every statement: switching a new
    file to write-ahead logging, or creating the tables while a second process
    creates them too, can fail at once with "database is locked".
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class ResultStore:
    """Finished cells and run manifests of suite runs, in one SQLite file.

    Parameters
    ----------
    path : str or Path
        The file (``results/<suite>.db`` by default on the command line); it
        and its folder are created on the first write.

    Notes
    -----
    Each method opens its own connection and closes it, so a store object can
    be handed to another process and several processes may use one file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise ConfigurationError(f"The results store {str(self.path)!r} is a folder; expected a file such as "
                                     f"{str(self.path / 'results.db')!r}.")

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r})"

    # -------------------------------------------------------------- connections
    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """A connection; with ``write``, one ``BEGIN IMMEDIATE`` transaction committed at the end of the block."""
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.is_file():
            raise ConfigurationError(f"There is no results store at {str(self.path)!r} (it is written by "
                                     "'optalloc bench run SUITE.toml --store FILE').")
        try:
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"Cannot open the results store {str(self.path)!r}: {exc}.") from None
        with closing(connection):
            connection.row_factory = sqlite3.Row
            try:
                _while_busy(lambda: connection.execute("PRAGMA journal_mode=WAL"))
                connection.execute("PRAGMA synchronous=NORMAL")
                _while_busy(lambda: self._check_schema(connection))
            except sqlite3.DatabaseError as exc:
                raise ConfigurationError(f"{str(self.path)!r} is not an optalloc results store ({exc}).") from None
            if not write:
                yield connection
                return
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _check_schema(self, connection: sqlite3.Connection) -> None:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            if tables - {"sqlite_sequence"}:
                raise ConfigurationError(f"{str(self.path)!r} is an SQLite file of something else (tables "
                                         f"{sorted(tables)}), not an optalloc results store.")
            # One transaction: a second process creating the store at the same time sees all of it or none.
            try:
                connection.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} INSERT OR IGNORE INTO meta VALUES "
                                         f"('format', '{FORMAT}'), ('schema_version', '{SCHEMA_VERSION}'); COMMIT;")
            except sqlite3.Error:
                if connection.in_transaction:  # so that a retry can begin its own
                    connection.execute("ROLLBACK")
                raise
            return
        meta = dict(connection.execute("SELECT name, value FROM meta").fetchall())
        if meta.get("format") != FORMAT or meta.get("schema_version") != str(SCHEMA_VERSION):
            raise ConfigurationError(
                f"{str(self.path)!r} is a results store of format {meta.get('format')!r} version "
                f"{meta.get('schema_version')!r}; this optalloc reads {FORMAT!r} version {SCHEMA_VERSION}. "
                "Use another --store file (or delete this one to recompute).")

    # -------------------------------------------------------------- runs
    def begin_run(self, suite: str, manifest: Mapping[str, Any]) -> int:
        """Record the manifest of a suite run; its ``run_id``, which the run's cells carry."""
        with self._connect(write=True) as db:
            cursor = db.execute("INSERT INTO runs (suite, started, manifest) VALUES (?, ?, ?)",
                                (suite, _now(), json.dumps(dict(manifest), sort_keys=True, default=repr)))
            return int(cursor.lastrowid)

    # -------------------------------------------------------------- cells
    def save(self, identity: Mapping[str, Any], run: PolicyRun | None, *, deps: Mapping[str, str],
             status: CellStatus | str, error: str | None = None, suite: str = "",
             run_id: int | None = None) -> bool:
        """Commit one finished cell (a run, or a failure with its error text).

        A cell that cannot be written (an array of Python objects, a full or
        read-only disk) is not kept, with a :class:`StoreWarning`: the run goes
        on, and a re-run recomputes that cell.

        Parameters
        ----------
        identity : mapping
            The cell's identity (``scenario``, ``seed``, ``policy`` are shown in tables).
        run : PolicyRun or None
            The run; None for a failed cell.
        deps : mapping
            :func:`loaded_code` of the process that computed the cell.
        status : CellStatus or str
        error : str, optional
            What went wrong (a failed cell).
        suite : str, optional
            Name of the suite that ran it (shown in tables; not part of the key: a cell is the
            same computation whichever suite asks for it).
        run_id : int, optional
            The :meth:`begin_run` id of the suite run.

        Returns
        -------
        bool
            Whether the cell is now in the store.
        """
        key, code, deps_text = _versioned_key(identity, deps)
        label = str(identity.get("name") or identity.get("policy") or (run.name if run is not None else key))
        try:
            columns: dict[str, Any] = {
                "key": key, "code": code, "run_id": run_id, "identity": _canonical(dict(identity)),
                "suite": str(suite), "scenario": _canonical(identity.get("scenario")),
                "seed": int(identity.get("seed", 0)), "policy": label,
                "status": CellStatus(status).value, "error": error, "deps": deps_text, "finished": _now(),
            }
            episodes: list[tuple[Any, ...]] = []
            decisions: list[tuple[Any, ...]] = []
            if run is not None:
                arrays, fields = _arrays_of(run)
                fields |= {"fitted_on": run.fitted_on, "solves": _json_solves(run.solves), "bound": run.bound}
                buffer = io.BytesIO()
                np.savez(buffer, **arrays)
                data = buffer.getvalue()
                tr = run.trajectory
                columns |= {
                    "name": run.name, "method": run.method, "information": run.information, "exact": int(run.exact),
                    "episodes": int(tr.total_cost.shape[0]), "mean_cost": float(np.mean(tr.total_cost)),
                    "fit_seconds": float(run.fit_seconds), "act_seconds": float(tr.act_seconds),
                    "optimum": None if run.optimum is None else float(run.optimum),
                    "fields": json.dumps(fields), "arrays": data, "arrays_sha256": hashlib.sha256(data).hexdigest(),
                }
                kpi_columns = {k: np.asarray(v, dtype=float).ravel() for k, v in tr.kpis.items()}
                episodes = [(key, code, i, float(cost),
                             json.dumps({k: (None if not np.isfinite(v[i]) else float(v[i]))
                                         for k, v in kpi_columns.items()}))
                            for i, cost in enumerate(np.asarray(tr.total_cost, dtype=float))]
                decisions = [(key, code, *row) for row in _solves_rows(run.solves)]
            with self._connect(write=True) as db:
                for table in ("episodes", "decisions", "cells"):
                    db.execute(f"DELETE FROM {table} WHERE key = ? AND code = ?", (key, code))
                names = ", ".join(columns)
                db.execute(f"INSERT INTO cells ({names}) VALUES ({', '.join('?' * len(columns))})",
                           tuple(columns.values()))
                db.executemany("INSERT INTO episodes VALUES (?, ?, ?, ?, ?)", episodes)
                db.executemany("INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", decisions)
        except (_UnusableCell, OSError, sqlite3.Error, TypeError, ValueError, ConfigurationError) as exc:
            warnings.warn(f"Cell {label!r} not kept in {str(self.path)!r} ({exc}); a re-run recomputes it.",
                          StoreWarning, stacklevel=2)
            return False
        return True

    def save_solve(self, identity: Mapping[str, Any], record: Any, *, deps: Mapping[str, str],
                   status: CellStatus | str, error: str | None = None, suite: str = "",
                   run_id: int | None = None) -> bool:
        """Commit one static solve cell (its :class:`~optalloc.records.SolveRecord`, or None and an error).

        Returns
        -------
        bool
            Whether the cell is now in the store (a failed write warns and returns False).
        """
        key, code, deps_text = _versioned_key(identity, deps)
        row = (key, code, run_id, _canonical(dict(identity)), str(suite), str(identity.get("solve", "")),
               CellStatus(status).value, error, None if record is None else record.to_json(indent=None),
               deps_text, _now())
        try:
            with self._connect(write=True) as db:
                db.execute("DELETE FROM solves WHERE key = ? AND code = ?", (key, code))
                db.execute(f"INSERT INTO solves VALUES ({', '.join('?' * len(row))})", row)
        except (OSError, sqlite3.Error, ConfigurationError) as exc:
            warnings.warn(f"Solve cell {identity.get('solve')!r} not kept in {str(self.path)!r} ({exc}); a re-run "
                          "recomputes it.", StoreWarning, stacklevel=2)
            return False
        return True

    def _current_rows(self, table: str, identity: Mapping[str, Any]) -> Iterator[sqlite3.Row]:
        """The finished rows of a cell in ``table`` (newest first) whose loaded code is unchanged since."""
        if not self.path.exists():
            return
        with self._connect(write=False) as db:
            rows = db.execute(f"SELECT * FROM {table} WHERE key = ? AND status != ? ORDER BY finished DESC",
                              (cell_key(identity), CellStatus.ERROR.value)).fetchall()
        yield from (row for row in rows if _still_current(json.loads(row["deps"])))

    def load_solve(self, identity: Mapping[str, Any]) -> tuple[Any, str] | None:
        """The stored :class:`~optalloc.records.SolveRecord` of a static solve cell computed by today's code and
        its status, or None."""
        from optalloc.records import SolveRecord

        row = next((r for r in self._current_rows("solves", identity)
                    if r["record"] is not None and r["identity"] == _canonical(dict(identity))), None)
        if row is None:
            return None
        try:
            return SolveRecord.from_dict(json.loads(row["record"])), str(row["status"])
        except Exception as exc:  # noqa: BLE001 - an unreadable row means: recompute
            warnings.warn(f"Ignoring stored solve cell {identity.get('solve')!r} in {str(self.path)!r} ({exc}); "
                          "it is recomputed.", StoreWarning, stacklevel=2)
            return None

    def load(self, identity: Mapping[str, Any]) -> PolicyRun | None:
        """The stored run of a cell computed by the code as it is now, or None.

        A failed cell, a cell computed by code that has changed since, or a row
        that cannot be read gives None (the last with a :class:`StoreWarning`).
        """
        for row in self._current_rows("cells", identity):
            try:
                if row["identity"] != _canonical(dict(identity)):
                    raise _UnusableCell("it belongs to another cell")
                return _run_of(row)
            except Exception as exc:  # noqa: BLE001 - any failure to read a stored cell means: recompute
                reason = str(exc) if isinstance(exc, _UnusableCell) else f"{type(exc).__name__}: {exc}"
                warnings.warn(f"Ignoring stored cell {row['key']} in {str(self.path)!r} ({reason}); the cell is "
                              "recomputed.",
                              StoreWarning, stacklevel=2)
        return None

    def load_row(self, key: str, code: str) -> PolicyRun | None:
        """The run stored under ``key`` and ``code`` (whatever the code is now), or None (with a warning if unreadable).

        For reports of what a store holds; a suite run uses :meth:`load`, which reuses only current cells.
        """
        with self._connect(write=False) as db:
            row = db.execute("SELECT * FROM cells WHERE key = ? AND code = ?", (key, code)).fetchone()
        if row is None or row["arrays"] is None:
            return None
        try:
            return _run_of(row)
        except Exception as exc:  # noqa: BLE001 - a row that cannot be read is left out of the report
            warnings.warn(f"Ignoring stored cell {key} in {str(self.path)!r} ({exc}).", StoreWarning, stacklevel=2)
            return None

    def clear(self) -> int:
        """Delete every stored cell (the run manifests stay); the number of cells deleted."""
        if not self.path.exists():
            return 0
        with self._connect(write=True) as db:
            removed = db.execute("DELETE FROM cells").rowcount
            db.execute("DELETE FROM episodes")
            db.execute("DELETE FROM decisions")
            removed += db.execute("DELETE FROM solves").rowcount
        return int(removed)

    # -------------------------------------------------------------- tables
    def table(self, name: str) -> pd.DataFrame:
        """A whole table as a DataFrame (``runs``, ``cells`` without its array blobs, ``episodes``, ``decisions``,
        ``solves``)."""
        allowed = ("runs", "cells", "episodes", "decisions", "solves")
        if name not in allowed:
            raise ConfigurationError(f"The store has tables {list(allowed)}; got {name!r}.")
        with self._connect(write=False) as db:
            columns = [r["name"] for r in db.execute(f"PRAGMA table_info({name})")]
            shown = [c for c in columns if c != "arrays"]
            return pd.read_sql_query(f"SELECT {', '.join(shown)} FROM {name}", db)

    def export(self, folder: str | Path, *, fmt: str = "csv") -> list[Path]:
        """Write every table (the cells without their array blobs) to ``folder`` as ``<table>.csv`` or ``.parquet``.

        Parameters
        ----------
        folder : path
            Created if needed.
        fmt : {"csv", "parquet"}
            Parquet needs pyarrow (``pip install pyarrow``).

        Returns
        -------
        list of Path
            The files written.
        """
        from optalloc.exceptions import DependencyNotInstalled

        if fmt not in ("csv", "parquet"):
            raise ConfigurationError(f"The export format must be 'csv' or 'parquet'. Got {fmt!r} instead.")
        if fmt == "parquet":
            try:
                import pyarrow  # noqa: F401 - pandas writes Parquet through it
            except ImportError:
                raise DependencyNotInstalled("Parquet export needs pyarrow: pip install pyarrow "
                                             "(or export as CSV).") from None
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in ("runs", "cells", "episodes", "decisions", "solves"):
            frame = self.table(name)
            path = out / f"{name}.{fmt}"
            if fmt == "csv":
                frame.to_csv(path, index=False)
            else:
                frame.to_parquet(path, index=False)
            written.append(path)
        return written

    def integrity(self) -> str:
        """SQLite's own ``integrity_check`` of the file (``"ok"`` when sound)."""
        with self._connect(write=False) as db:
            return str(db.execute("PRAGMA integrity_check").fetchone()[0])
