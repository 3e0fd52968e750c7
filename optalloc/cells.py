"""A store of finished harness cells, so an interrupted suite run resumes where it stopped.

Each cell (one policy's fit and rollout, a :class:`~optalloc.evaluation.PolicyRun`)
is kept as two files named by the cell's key::

    <store>/<key>.npz    the arrays: costs, actions, infos, KPIs, learning curve
    <store>/<key>.json   the identity of the cell, the scalars, the array names,
                         and the SHA-256 of the .npz

The key is a hash of the cell's identity (a JSON mapping of everything that
determines its numbers, given by the caller), of the optalloc version and of
its code (:func:`code_fingerprint`), so a stored cell is only ever reused for
the very same computation by the very same code.

Both files are written to a temporary name and moved into place with
:func:`os.replace`, the ``.json`` last: a cell is stored once its ``.json``
exists, and a run killed mid-write leaves no half cell. Nothing is unpickled:
the ``.npz`` is read with ``allow_pickle=False``. A file that is unreadable,
corrupt or of another cell is ignored with a :class:`CellStoreWarning` (the
cell is then recomputed), never an error.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import secrets
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optalloc.evaluation import PolicyRun, Trajectory
from optalloc.exceptions import OptallocWarning

FORMAT = "optalloc-cell"
FORMAT_VERSION = 2
#: Length of a key [hex digits]: 128 bits of SHA-256, far from any chance collision.
KEY_LENGTH = 32
_CELL_FILE = re.compile(rf"[0-9a-f]{{{KEY_LENGTH}}}\.(json|npz)")
_TEMP_PREFIX, _TEMP_SUFFIX = ".cell-", ".tmp"


class CellStoreWarning(OptallocWarning):
    """A stored cell could not be used (it is recomputed) or a finished cell could not be kept."""


class _UnusableCell(Exception):
    """Why a stored cell is not used; becomes the text of a :class:`CellStoreWarning`."""


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 of optalloc's own code and data as installed (every ``.py``, ``.csv`` and ``.json`` file).

    Part of every cell key: after any change to the code that computes a cell
    (an edited policy in an editable install, a new release) its stored
    numbers are not reused. The method packages are located without being
    imported, so torch and pyomo stay unloaded.
    """
    import importlib.util

    roots = []
    for name in ("optalloc", "optalloc.formulations", "optalloc.rl"):
        spec = importlib.util.find_spec(name)
        roots += [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    digest = hashlib.sha256()
    files = sorted({f for root in roots for pattern in ("*.py", "*.csv", "*.json") for f in root.rglob(pattern)})
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _canonical(identity: Mapping[str, Any]) -> str:
    """The identity as canonical JSON (sorted keys, no spaces), with the format, version and code fingerprint."""
    from optalloc import __version__

    # repr for values JSON lacks (e.g. TOML dates): stable text, so the key stays stable too.
    return json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "optalloc": __version__,
                       "code": code_fingerprint(), "cell": dict(identity)},
                      sort_keys=True, separators=(",", ":"), default=repr)


def cell_key(identity: Mapping[str, Any]) -> str:
    """The store key of a cell.

    Parameters
    ----------
    identity : mapping
        JSON-serialisable description of everything that determines the
        cell's numbers (ids, parameters, seeds, number of episodes, name).

    Returns
    -------
    str
        ``KEY_LENGTH`` lowercase hex digits of the SHA-256 of the canonical
        JSON of ``identity``, the optalloc version and :func:`code_fingerprint`.
    """
    return hashlib.sha256(_canonical(identity).encode()).hexdigest()[:KEY_LENGTH]


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


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and :func:`os.replace`."""
    # open(..., "x") rather than mkstemp: the file gets the usual permissions (umask), not owner-only.
    temp = path.with_name(f"{_TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{_TEMP_SUFFIX}")
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _number(doc: Mapping[str, Any], key: str, optional: bool = False) -> float | None:
    value = doc.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _UnusableCell(f"{key!r} is {value!r}, not a number")
    return float(value)


class CellStore:
    """Finished cells of suite runs, in one folder.

    Parameters
    ----------
    path : str or Path
        The folder; created on the first :meth:`save`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"CellStore({str(self.path)!r})"

    def files(self, identity: Mapping[str, Any]) -> tuple[Path, Path]:
        """The ``.npz`` and ``.json`` paths of a cell."""
        key = cell_key(identity)
        return self.path / f"{key}.npz", self.path / f"{key}.json"

    def save(self, identity: Mapping[str, Any], run: PolicyRun) -> bool:
        """Keep a finished cell.

        A cell that cannot be written (an array of Python objects, a full or
        read-only disk) is not kept, with a :class:`CellStoreWarning`: the run
        goes on, and a re-run recomputes that cell.

        Returns
        -------
        bool
            Whether the cell is now in the store.
        """
        npz_path, json_path = self.files(identity)
        try:
            arrays, fields = _arrays_of(run)
            buffer = io.BytesIO()
            np.savez(buffer, **arrays)
            data = buffer.getvalue()
            doc = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "key": json_path.stem,
                "identity": json.loads(_canonical(identity)),
                "npz_sha256": hashlib.sha256(data).hexdigest(),
                "name": run.name,
                "method": run.method,
                "information": run.information,
                "exact": bool(run.exact),
                "fit_seconds": float(run.fit_seconds),
                "act_seconds": float(run.trajectory.act_seconds),
                "optimum": None if run.optimum is None else float(run.optimum),
                **fields,
            }
            text = json.dumps(doc, indent=1)
            self.path.mkdir(parents=True, exist_ok=True)
            # The .json goes last: it is what marks the cell as stored.
            _write_atomic(npz_path, data)
            _write_atomic(json_path, text.encode())
        except (_UnusableCell, OSError, TypeError, ValueError) as exc:
            warnings.warn(f"Cell {run.name!r} not kept in {str(self.path)!r} ({exc}); a re-run recomputes it.",
                          CellStoreWarning, stacklevel=2)
            return False
        return True

    def load(self, identity: Mapping[str, Any]) -> PolicyRun | None:
        """The stored run of a cell, or None if it is not stored.

        A cell whose files are unreadable, corrupt or of another cell gives
        None and a :class:`CellStoreWarning`.
        """
        npz_path, json_path = self.files(identity)
        if not json_path.exists():  # not stored (a lone .npz is an unfinished write)
            return None
        try:
            return self._read(identity, npz_path, json_path)
        except Exception as exc:  # noqa: BLE001 - any failure to read a cache file means: recompute
            reason = str(exc) if isinstance(exc, _UnusableCell) else f"{type(exc).__name__}: {exc}"
            warnings.warn(f"Ignoring stored cell {str(json_path)!r} ({reason}); the cell is recomputed.",
                          CellStoreWarning, stacklevel=2)
            return None

    def _read(self, identity: Mapping[str, Any], npz_path: Path, json_path: Path) -> PolicyRun:
        doc = json.loads(json_path.read_text())
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise _UnusableCell(f"not an {FORMAT} file")
        if doc.get("format_version") != FORMAT_VERSION:
            raise _UnusableCell(f"format version {doc.get('format_version')!r}, expected {FORMAT_VERSION}")
        # Compared as canonical text, not as objects: a NaN parameter equals itself there.
        stored = doc.get("identity")
        if json.dumps(stored, sort_keys=True, separators=(",", ":")) != _canonical(identity):
            raise _UnusableCell("it belongs to another cell")
        data = npz_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != doc.get("npz_sha256"):
            raise _UnusableCell(f"{npz_path.name} does not match its checksum")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}

        def names(key: str) -> list[str]:
            value = doc.get(key)
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
            total_cost=total_cost,
            stage_cost=member("stage_cost"),
            actions=member("actions"),
            info={k: member(f"info_{i}") for i, k in enumerate(names("info"))},
            kpis={k: member(f"kpi_{i}") for i, k in enumerate(names("kpis"))},
            act_seconds=_number(doc, "act_seconds"),
        )
        per_episode = [trajectory.stage_cost, trajectory.actions, *trajectory.info.values(), *trajectory.kpis.values()]
        if n < 0 or any(a.ndim == 0 or a.shape[0] != n for a in per_episode):
            raise _UnusableCell("its arrays disagree on the number of episodes")
        curve = None
        if doc.get("learning_curve") is not None:
            curve = pd.DataFrame({c: member(f"curve_{i}") for i, c in enumerate(names("learning_curve"))})
        for key in ("name", "method", "information"):
            if not isinstance(doc.get(key), str):
                raise _UnusableCell(f"{key!r} is {doc.get(key)!r}, not a string")
        if not isinstance(doc.get("exact"), bool):
            raise _UnusableCell(f"'exact' is {doc.get('exact')!r}, not true or false")
        return PolicyRun(doc["name"], doc["method"], doc["information"], _number(doc, "fit_seconds"), trajectory,
                         _number(doc, "optimum", optional=True), curve, exact=doc["exact"])

    def clear(self) -> int:
        """Delete every stored cell (and temporary files left by a killed run); other files stay.

        Returns
        -------
        int
            Number of files deleted.
        """
        if not self.path.is_dir():
            return 0
        removed = 0
        for path in self.path.iterdir():
            name = path.name
            if _CELL_FILE.fullmatch(name) or (name.startswith(_TEMP_PREFIX) and name.endswith(_TEMP_SUFFIX)):
                path.unlink(missing_ok=True)
                removed += 1
        return removed
