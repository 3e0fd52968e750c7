"""Benchmark suites: TOML files of scenarios, policies, seeds and episodes.

A suite file looks like::

    name = "beds"
    episodes = 1000          # evaluation paths per (scenario, seed)
    seeds = [0]              # evaluation seeds; policies are fitted with the same seed
    reference = "dp"         # paired differences are taken against this policy

    [[scenarios]]
    id = "beds/seed002-v0"
    overrides = {}           # optional scenario parameter overrides

    [[policies]]
    id = "rigid"
    name = "rigid"           # optional display name (default: the id)
    params = {}              # optional hyperparameters

Every policy of a cell (scenario x seed) is evaluated on the same noise paths.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from optalloc.checks import read_document
from optalloc.evaluation import PolicyRun
from optalloc.exceptions import ConfigurationError, OptallocError
from optalloc.records import CellRecord, records_frame
from optalloc.scenario import Scenario, spec_label
from optalloc.status import CellStatus, cell_status
from optalloc.store import ResultStore
from optalloc.validation import did_you_mean

#: A suite name: it names output files, so no folders and no leading dot.
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_TOP_KEYS = {"name", "description", "episodes", "seeds", "reference", "scenarios", "policies"}
_SCENARIO_KEYS = {"id", "overrides"}
_POLICY_KEYS = {"id", "name", "params", "train_seeds"}


@dataclass(frozen=True)
class PolicyEntry:
    """One policy of a suite (one training seed of it, if the suite lists ``train_seeds``)."""

    id: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    train_seed: int | None = None
    """Seed of ``fit``; None: the cell's evaluation seed."""


@dataclass(frozen=True)
class ScenarioEntry:
    """One scenario of a suite."""

    id: str
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The id, followed by the overrides if any (``beds/seed002-v0 {"horizon": 5}``)."""
        return spec_label({"id": self.id, "overrides": self.overrides})


@dataclass(frozen=True)
class Suite:
    """A parsed, validated suite file."""

    name: str
    description: str
    episodes: int
    seeds: tuple[int, ...]
    reference: str | None
    scenarios: tuple[ScenarioEntry, ...]
    policies: tuple[PolicyEntry, ...]

    def policy_params(self, policy_id: str) -> dict[str, Any]:
        """The hyper-parameters the suite gives the policy ``policy_id`` (shared by its training seeds).

        Lets a check or a script train exactly the agents of a suite.

        Raises
        ------
        ConfigurationError
            The suite has no policy ``policy_id``, or lists it with different hyper-parameters
            (then its entries' names tell them apart).
        """
        entries = [p for p in self.policies if p.id == policy_id]
        if not entries:
            ids = sorted({p.id for p in self.policies})
            raise ConfigurationError(f"Suite {self.name!r} has no policy {policy_id!r}; it has {ids}"
                                     f"{did_you_mean(policy_id, ids, clause=True)}")
        distinct = {json.dumps(p.params, sort_keys=True, default=repr) for p in entries}
        if len(distinct) > 1:
            raise ConfigurationError(f"Suite {self.name!r} lists policy {policy_id!r} with {len(distinct)} sets of "
                                     f"hyper-parameters ({[p.name for p in entries]}); pick one by its entry's name.")
        return dict(entries[0].params)


def _check_keys(where: str, table: Mapping[str, Any], allowed: set[str], path: Path) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigurationError(
                f"Suite {str(path)!r}: unknown key {key!r} in {where}; expected one of {sorted(allowed)}"
                f"{did_you_mean(key, allowed, clause=True)}"
            )


def _table_list(doc: Mapping[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    value = doc.get(key)
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise ConfigurationError(
            f"Suite {str(path)!r}: {key!r} must be a non-empty list of tables ([[{key}]]). Got {value!r} instead."
        )
    return value


def _entries(doc: Mapping[str, Any], key: str, allowed: set[str], table_key: str,
             lookup: Callable[[str], Any], path: Path) -> list[dict[str, Any]]:
    """Validate the ``[[key]]`` tables: known keys, a registered ``id``, ``table_key`` a table."""
    entries = _table_list(doc, key, path)
    for entry in entries:
        _check_keys(f"[[{key}]]", entry, allowed, path)
        if "id" not in entry:
            raise ConfigurationError(f"Suite {str(path)!r}: every [[{key}]] table needs an 'id'.")
        lookup(entry["id"])
        if not isinstance(entry.get(table_key, {}), dict):
            raise ConfigurationError(
                f"Suite {str(path)!r}: {table_key!r} of {entry['id']!r} must be a table ({{ key = value }}). "
                f"Got {entry[table_key]!r} instead."
            )
    return entries


def _expand_train_seeds(entry: dict[str, Any], path: Path) -> list[PolicyEntry]:
    """One :class:`PolicyEntry` per training seed, named ``name[seed s]``."""
    name, params = str(entry.get("name", entry["id"])), entry.get("params", {})
    if "train_seeds" not in entry:
        return [PolicyEntry(entry["id"], name, params)]
    seeds = entry["train_seeds"]
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ConfigurationError(
            f"Suite {str(path)!r}: 'train_seeds' of {name!r} must be a non-empty list of non-negative integers. "
            f"Got {seeds!r} instead."
        )
    return [PolicyEntry(entry["id"], f"{name}[seed {s}]", params, s) for s in seeds]


def _check_cells(scenarios: list[ScenarioEntry], policies: list[PolicyEntry], path: Path) -> None:
    """Build every scenario and policy of the suite once, so a bad override or hyperparameter fails at load.

    Cheap: scenarios validate their parameters on construction and build their
    tables lazily; policies only validate their hyperparameters (no fit).
    """
    from optalloc.registry import make_policy, make_scenario

    for i, entry in enumerate(scenarios):
        try:
            make_scenario(entry.id, **entry.overrides)
        except OptallocError as exc:
            raise ConfigurationError(f"Suite {str(path)!r}, [[scenarios]] entry {i + 1} ({entry.label}): {exc}") from None
    seen: set[str] = set()
    for entry in policies:
        key = json.dumps([entry.id, entry.params], sort_keys=True, default=repr)
        if key in seen:
            continue  # the training seeds of one entry share its hyperparameters
        seen.add(key)
        try:
            make_policy(entry.id, **entry.params).validate_params()
        except OptallocError as exc:
            raise ConfigurationError(f"Suite {str(path)!r}, [[policies]] entry {entry.name!r}: {exc}") from None


def load_suite(path: str | Path) -> Suite:
    """Parse and validate a suite file; ids are checked against the registry.

    Raises
    ------
    ConfigurationError
        Unreadable TOML, an unknown key (with a "did you mean"), a wrong type,
        an unknown scenario or policy id.
    """
    from optalloc.registry import policy_spec, scenario_spec

    if not isinstance(path, (str, Path)):
        raise ConfigurationError(f"The 'path' argument must be a suite file path. Got {type(path).__name__} instead.")
    path = Path(path)
    doc = read_document(path, tomllib.loads, file="Suite file", folder="Suite", expected="a suite file (.toml)",
                        language="TOML", errors=(tomllib.TOMLDecodeError,))
    _check_keys("the top level", doc, _TOP_KEYS, path)
    episodes = doc.get("episodes", 1000)
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ConfigurationError(f"Suite {str(path)!r}: 'episodes' must be a positive integer. Got {episodes!r} instead.")
    seeds = doc.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ConfigurationError(
            f"Suite {str(path)!r}: 'seeds' must be a non-empty list of non-negative integers. Got {seeds!r} instead."
        )
    scenarios = [ScenarioEntry(e["id"], e.get("overrides", {}))
                 for e in _entries(doc, "scenarios", _SCENARIO_KEYS, "overrides", scenario_spec, path)]
    policies = [entry for e in _entries(doc, "policies", _POLICY_KEYS, "params", policy_spec, path)
                for entry in _expand_train_seeds(e, path)]
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"Suite {str(path)!r}: policy names must be distinct; got {names}.")
    reference = doc.get("reference")
    if reference is not None and reference not in names:
        raise ConfigurationError(f"Suite {str(path)!r}: 'reference' must be one of {names}. Got {reference!r} instead.")
    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"Suite {str(path)!r}: 'name' names the output files (results/<name>.csv), so it must be letters, digits, "
            f"'.', '_' or '-', not starting with '.' (no folders). Got {name!r} instead."
        )
    _check_cells(scenarios, policies, path)
    return Suite(
        name=name,
        description=str(doc.get("description", "")),
        episodes=episodes,
        seeds=tuple(seeds),
        reference=reference,
        scenarios=tuple(scenarios),
        policies=tuple(policies),
    )


@dataclass
class CellOutcome:
    """How one cell ended: its run (None if it raised), its status, its error text and the code it loaded."""

    run: PolicyRun | None
    status: CellStatus
    error: str | None
    deps: dict[str, str]


def _run_cell(scenario: ScenarioEntry, seed: int, episodes: int, policy: PolicyEntry) -> CellOutcome:
    """One harness cell: fit and roll out one policy on one scenario's paths of one seed.

    Runs in a worker process; the noise is re-sampled there from the seed, so
    every cell of a (scenario, seed) sees the same paths whatever the worker.
    An exception is caught and becomes the outcome (status ``error``): one
    failing cell never stops the others.
    """
    import traceback

    from optalloc.evaluation import run_policy
    from optalloc.registry import make_policy, make_scenario
    from optalloc.store import loaded_code

    try:
        instance = make_scenario(scenario.id, **scenario.overrides)
        noise = instance.sample_noise(seed, episodes)
        fit_seed = seed if policy.train_seed is None else policy.train_seed
        run = run_policy(policy.name, make_policy(policy.id, **policy.params), instance, noise, fit_seed=fit_seed)
    except Exception as exc:  # noqa: BLE001 - recorded with the cell; KeyboardInterrupt still stops the suite
        error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
        status = CellStatus.INFEASIBLE if type(exc).__name__ == "InfeasibleFormulation" else CellStatus.ERROR
        return CellOutcome(None, status, error, loaded_code())
    return CellOutcome(run, run_status(run), None, loaded_code())


def run_status(run: PolicyRun) -> CellStatus:
    """The :class:`~optalloc.status.CellStatus` of a finished run (its costs, solves and training log)."""
    solves = run.solves
    if run.optimum is not None:  # an exact method that proved its optimum on this scenario
        return cell_status(run.trajectory.total_cost, solves=[("optimal", "")])
    pairs = [] if solves is None or solves.empty else list(zip(
        solves["status"].astype(str), solves.get("termination", pd.Series([""] * len(solves))).astype(str),
        strict=True))
    curve = run.learning_curve
    columns = [] if curve is None else [curve[c].to_numpy() for c in curve.columns
                                        if pd.api.types.is_numeric_dtype(curve[c])]
    return cell_status(run.trajectory.total_cost, solves=pairs, curve=columns)


def _cell_identity(scenario: ScenarioEntry, seed: int, episodes: int, policy: PolicyEntry) -> dict[str, Any]:
    """Everything that determines a cell's numbers (and its display name): its identity in a results store."""
    return {"scenario": scenario.id, "overrides": scenario.overrides, "seed": seed, "episodes": episodes,
            "policy": policy.id, "name": policy.name, "params": policy.params, "train_seed": policy.train_seed}


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM handler of a worker: exit at once, after multiprocessing's exit finalizers.

    The finalizers release the named semaphores this process holds (a solver
    library may create one at import), so that multiprocessing's resource
    tracker has no "leaked semaphore" warning to print when the parent stops
    the pool.
    """
    import os
    from multiprocessing import util

    util._run_finalizers(0)
    os._exit(128 + signum)


def _init_worker() -> None:
    """Pool initializer: Ctrl-C (SIGINT) is the parent's to handle, SIGTERM (the parent's stop) exits quietly.

    A terminal sends SIGINT to the whole process group; a worker that raised
    KeyboardInterrupt would print its own traceback while the parent stops it anyway.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a SIGINT held back since the start is discarded here
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


@contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold back SIGINT during the block; one that arrives meanwhile is delivered at its end, not lost.

    The signal is blocked (not ignored): processes started inside the block
    inherit the blocked mask across fork and exec, so a Ctrl-C while a worker
    still imports stays pending there until its initializer ignores it, and
    the parent receives its own copy as soon as the block ends. A no-op outside
    the main thread (signals go to the main thread) or without POSIX signal masks.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


_Key = tuple[int, int, int]
_Cell = tuple[ScenarioEntry, int, PolicyEntry]


#: How long stopped workers get to exit before they are killed [s].
_STOP_GRACE = 3.0


def _stop_pool(pool: Any) -> None:
    """Cancel the cells not started and terminate the workers, then wait for the pool's manager thread.

    Workers ignore SIGINT and a running cell may take minutes, so they are
    terminated (SIGTERM) rather than awaited; a worker still alive after
    ``_STOP_GRACE`` seconds (its handler waits for a long call into compiled
    code to return) is killed. ``terminate_workers`` is public from Python
    3.14; before, the same is done through the executor's process table.
    """
    from multiprocessing.connection import wait

    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() drops the table
    manager = getattr(pool, "_executor_manager_thread", None)
    if hasattr(pool, "terminate_workers"):
        pool.terminate_workers()
    else:
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
    # Sentinels, not exitcode: the manager thread may reap a worker first, and a sentinel still tells it is gone.
    running = {process.sentinel: process for process in processes}
    deadline = time.monotonic() + _STOP_GRACE
    while running and (left := deadline - time.monotonic()) > 0:
        for sentinel in wait(list(running), timeout=left):
            running.pop(sentinel)
    for process in running.values():
        process.kill()
    if manager is not None:
        manager.join()


def _run_on_pool(cells: Mapping[_Key, _Cell], episodes: int, workers: int,
                 finish: Callable[[_Key, CellOutcome], None], bar: Any) -> None:
    """Run cells on a spawn process pool; ``finish`` is called here, in the parent, as each one completes.

    On any exception (Ctrl-C included) the cells not started are cancelled,
    those completed meanwhile are still finished, the workers are stopped and
    the exception is re-raised.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    # spawn: workers start clean (no forked solver or thread state).
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker)
    futures: dict[Any, _Key] = {}
    finished: set[_Key] = set()
    try:
        # submit() starts the workers; they inherit the blocked SIGINT, so a Ctrl-C while they
        # still import (before the initializer runs) prints no traceback from them either.
        with _sigint_deferred():
            for key, (sc, seed, pol) in cells.items():
                futures[pool.submit(_run_cell, sc, seed, episodes, pol)] = key
        for future in as_completed(futures):
            key = futures[future]
            finish(key, future.result())
            finished.add(key)
            sc, seed, pol = cells[key]
            bar.set_postfix_str(f"done {sc.label} seed {seed} {pol.name}")
            bar.update()
    except BaseException:
        with _sigint_deferred():  # a second Ctrl-C must not break off the clean-up and leave workers running
            for future, key in futures.items():
                if key not in finished and future.done() and not future.cancelled() and future.exception() is None:
                    finish(key, future.result())
            _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


#: How long the dask executor tries to reach a scheduler [s].
DASK_CONNECT_TIMEOUT = 20.0
#: Executors of ``run_suite``: where the cells run.
EXECUTORS = ("local", "dask")


def _run_on_dask(cells: Mapping[_Key, _Cell], episodes: int, address: str | None, workers: int | None,
                 finish: Callable[[_Key, CellOutcome], None], bar: Any) -> None:
    """Run cells on a Dask distributed cluster (the scheduler at ``address``, or a local one of ``workers``).

    Each cell is one task; ``finish`` is called here as each completes, so the
    store is written by this process only. A task lost with its worker (the
    worker was killed, ran out of memory) is that cell's failure, not the
    suite's. On any exception (Ctrl-C included) the tasks not finished are
    cancelled and the exception re-raised.
    """
    from optalloc.exceptions import DependencyNotInstalled

    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise DependencyNotInstalled("The dask executor needs Dask's distributed scheduler: "
                                     "pip install 'optalloc[dask]'.") from None
    cluster = None
    try:
        if address is None:
            cluster = LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        else:
            client = Client(address, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise ConfigurationError(f"Cannot reach the Dask scheduler at {address!r} ({exc}); start one with "
                                 "'dask scheduler' and workers with 'dask worker ADDRESS'.") from None
    futures: dict[Any, _Key] = {}
    try:
        for key, (sc, seed, pol) in cells.items():
            # pure=False: a cell is never merged with another task, whatever its arguments.
            futures[client.submit(_run_cell, sc, seed, episodes, pol, pure=False)] = key
        for future in as_completed(futures):
            key = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - the task's worker died: this cell failed, the others go on
                outcome = CellOutcome(None, CellStatus.ERROR, f"{type(exc).__name__}: {exc}", {})
            finish(key, outcome)
            sc, seed, pol = cells[key]
            bar.set_postfix_str(f"done {sc.label} seed {seed} {pol.name}")
            bar.update()
    except BaseException:
        client.cancel([f for f in futures if not f.done()])
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()




class SuiteInterrupted(KeyboardInterrupt):
    """A suite run stopped by Ctrl-C; the cells finished before are in the results store.

    Attributes
    ----------
    finished : int
        Cells finished (resumed ones included) when the run stopped.
    kept : int
        Of those, the cells in the store (all of them unless one could not be written).
    total : int
        Cells of the suite.
    store : Path or None
        The results store; None if the run had none (nothing kept).
    """

    def __init__(self, finished: int, kept: int, total: int, store: Path | None) -> None:
        self.finished, self.kept, self.total, self.store = finished, kept, total, store
        where = f"kept in {store}" if store is not None else "not kept (no results store)"
        super().__init__(f"interrupted; {kept if store is not None else finished} of {total} cells finished and {where}")


@dataclass
class SuiteResult:
    """Tables of a suite run.

    Attributes
    ----------
    summary : DataFrame
        One row per scenario x seed x policy (see :func:`optalloc.evaluate`),
        with the bound used.
    episodes : DataFrame
        One row per scenario x seed x policy x episode.
    epochs : DataFrame
        Mean count of each action component per scenario x seed x epoch x policy
        (columns ``scenario, seed, epoch, policy, component, mean``).
    curves : DataFrame
        Learning curves of the learning policies (scenario x seed x policy x
        log row); empty if none learned.
    records : DataFrame
        One :class:`~optalloc.records.CellRecord` per scenario x seed x
        policy, built from the summary rows: the same columns for every
        family (KPIs as one JSON column), in :func:`~optalloc.records.records_frame` order.
    resumed : int
        Cells loaded from the results store instead of computed.
    failures : DataFrame
        The cells that raised (columns ``scenario, seed, policy, status,
        error``); they are left out of the other tables, and a re-run
        computes them again.
    run_id : int or None
        The run's id in the results store (its manifest row); None without a store.
    """

    summary: pd.DataFrame
    episodes: pd.DataFrame
    epochs: pd.DataFrame
    curves: pd.DataFrame
    records: pd.DataFrame
    resumed: int = 0
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_FAILURE_COLUMNS))
    run_id: int | None = None


_FAILURE_COLUMNS = ["scenario", "seed", "policy", "status", "error"]


def _accepted_pairs(suite: Suite, scenarios: list[Scenario]) -> set[tuple[int, int]]:
    """The (scenario, policy) entries whose policy's tags accept the scenario; each refused pair is a note.

    A suite across families lists every policy once: a pair the policy's tags
    refuse (exact DP on a scenario without a tabular model, a family's
    heuristic on another family) is no cell, and a warning says why.

    Raises
    ------
    ConfigurationError
        A scenario no policy of the suite takes, or a reference policy that does not take a scenario.
    """
    import warnings

    from optalloc.exceptions import OptallocWarning
    from optalloc.registry import make_policy

    tags = [make_policy(p.id, **p.params).tags for p in suite.policies]
    takes: set[tuple[int, int]] = set()
    noted: set[tuple[int, str, str]] = set()
    for i, sc in enumerate(suite.scenarios):
        scenario_tags = scenarios[i].tags
        for k, pol in enumerate(suite.policies):
            reason = tags[k].refusal(scenario_tags)
            if reason is None:
                takes.add((i, k))
            elif pol.name == suite.reference:
                raise ConfigurationError(f"Suite {suite.name!r}: the reference policy {pol.name!r} does not take "
                                         f"scenario {sc.label}: {reason}.")
            elif (i, pol.id, repr(pol.params)) not in noted:  # once for all training seeds of an entry
                noted.add((i, pol.id, repr(pol.params)))
                warnings.warn(f"Suite {suite.name!r}: policy {pol.name!r} does not take scenario {sc.label} "
                              f"({reason}); those cells are left out.", OptallocWarning, stacklevel=3)
        if not any((i, k) in takes for k in range(len(suite.policies))):
            raise ConfigurationError(f"Suite {suite.name!r}: no policy of the suite takes scenario {sc.label}.")
    return takes


def run_suite(suite: Suite, *, episodes: int | None = None, workers: int | None = None,
              progress: bool = True, store: ResultStore | str | Path | None = None,
              fresh: bool = False, executor: str = "local", address: str | None = None) -> SuiteResult:
    """Run every cell (scenario x seed x policy) of a suite.

    Parameters
    ----------
    suite : Suite
    episodes : int, optional
        Override the suite's number of evaluation paths.
    workers : int, optional
        Worker processes (default: one per CPU core, at most one per cell to
        compute); 1 runs everything in this process. Results do not depend on it.
    progress : bool
        Show a progress bar over cells.
    store : ResultStore, str or Path, optional
        SQLite results store (:class:`optalloc.store.ResultStore`, e.g.
        ``results/<suite>.db``). The run's manifest is recorded there first,
        each cell is committed as soon as it finishes, and cells already there
        (computed by the same code) are loaded instead of computed, with their
        stored fit and act seconds: a run stopped part way resumes where it
        stopped, with the same numbers. None (default): nothing is stored or loaded.
    fresh : bool
        Delete the stored cells first and compute every cell anew.
    executor : {"local", "dask"}
        ``"local"``: a process pool of ``workers`` on this machine. ``"dask"``:
        the Dask distributed cluster whose scheduler is at ``address``
        (``tcp://host:8786``), or without an address a local Dask cluster of
        ``workers`` processes. The numbers do not depend on the executor.
    address : str, optional
        Scheduler address of the ``"dask"`` executor.

    Returns
    -------
    SuiteResult
        A cell that raised is in :attr:`SuiteResult.failures` (and in the
        store, with its error) and out of the tables; the other cells run on.

    Raises
    ------
    SuiteInterrupted
        On Ctrl-C (KeyboardInterrupt): the workers are stopped and the cells
        finished so far stay in ``store``.
    """
    import os

    from tqdm.auto import tqdm

    from optalloc.evaluation import check_episodes, check_evaluation_size, summarise
    from optalloc.manifest import run_manifest
    from optalloc.registry import make_scenario

    n_episodes = check_episodes(suite.episodes if episodes is None else episodes)
    built = [make_scenario(sc.id, **sc.overrides) for sc in suite.scenarios]  # for sizes, tags and action tables
    for scenario in built:  # every cell's trajectories are kept for the tables
        check_evaluation_size(scenario, n_episodes, len(suite.policies) * len(suite.seeds))
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigurationError(f"The 'workers' parameter must be a positive integer. Got {workers!r} instead.")
    if executor not in EXECUTORS:
        raise ConfigurationError(f"The 'executor' parameter must be one of {list(EXECUTORS)}. Got {executor!r} instead."
                                 f"{did_you_mean(str(executor), EXECUTORS)}")
    if address is not None and executor != "dask":
        raise ConfigurationError(f"A scheduler address ({address!r}) is for the dask executor; add executor='dask' "
                                 "(--executor dask).")
    results = ResultStore(store) if isinstance(store, (str, os.PathLike)) else store
    if results is not None and not isinstance(results, ResultStore):
        raise ConfigurationError(f"The 'store' parameter must be a file path or a ResultStore. Got {store!r} instead.")
    # Cells are keyed by position, so a scenario listed twice (other overrides) or a repeated seed stays apart.
    takes = _accepted_pairs(suite, built)
    cells: dict[_Key, _Cell] = {
        (i, j, k): (sc, seed, pol)
        for i, sc in enumerate(suite.scenarios) for j, seed in enumerate(suite.seeds)
        for k, pol in enumerate(suite.policies) if (i, k) in takes
    }
    identities = {key: _cell_identity(sc, seed, n_episodes, pol) for key, (sc, seed, pol) in cells.items()}
    runs: dict[_Key, PolicyRun] = {}
    failed: dict[_Key, CellOutcome] = {}
    kept = 0
    run_id: int | None = None

    def finish(key: _Key, outcome: CellOutcome) -> None:
        nonlocal kept
        if outcome.run is not None:
            runs[key] = outcome.run
        else:
            failed[key] = outcome
        if results is not None:
            kept += results.save(identities[key], outcome.run, deps=outcome.deps, status=outcome.status,
                                 error=outcome.error, suite=suite.name, run_id=run_id)

    try:
        if results is not None:
            if fresh:
                results.clear()
            run_id = results.begin_run(suite.name, run_manifest(suite, episodes=n_episodes, workers=workers,
                                                                executor=executor, extra={"address": address}))
            if not fresh:
                for key, identity in identities.items():
                    run = results.load(identity)
                    if run is not None:
                        runs[key] = run
                        kept += 1
        resumed = len(runs)
        todo = {key: cell for key, cell in cells.items() if key not in runs}
        n_workers = min(os.cpu_count() or 1, len(todo)) if workers is None else workers
        with tqdm(total=len(cells), initial=resumed, desc=f"suite {suite.name}", unit="cell", leave=False,
                  disable=not progress) as bar:
            if executor == "dask" and todo:
                _run_on_dask(todo, n_episodes, address, workers, finish, bar)
            elif n_workers <= 1 or not todo:
                for key, (sc, seed, pol) in todo.items():
                    bar.set_postfix_str(f"{sc.label} seed {seed} {pol.name}")
                    finish(key, _run_cell(sc, seed, n_episodes, pol))
                    bar.update()
            else:
                _run_on_pool(todo, n_episodes, n_workers, finish, bar)
    except KeyboardInterrupt:
        raise SuiteInterrupted(len(runs) + len(failed), kept, len(cells),
                               None if results is None else results.path) from None

    summaries, episode_frames, epoch_frames, records = [], [], [], []
    curve_frames = [pd.DataFrame(columns=["scenario", "seed", "policy", "env_steps"])]
    for i, sc in enumerate(suite.scenarios):
        for j, seed in enumerate(suite.seeds):
            cell_runs = {pol.name: runs[(i, j, k)] for k, pol in enumerate(suite.policies) if (i, j, k) in runs}
            if not cell_runs:
                continue
            # A failed reference leaves the choice of reference to summarise (the exact or the best policy).
            reference = suite.reference if suite.reference in cell_runs else None
            result = summarise(cell_runs, sc.label, seed, reference=reference)
            summary = result.summary.assign(bound=result.bound, bound_kind=result.bound_kind)
            summaries.append(summary.assign(scenario=sc.label, seed=seed))
            rows = {row["policy"]: row for _, row in summaries[-1].iterrows()}  # policy names are distinct
            for k, pol in enumerate(suite.policies):
                if (i, j, k) not in runs:
                    continue
                run = cell_runs[pol.name]
                records.append(CellRecord.from_summary_row(
                    rows[pol.name], suite=suite.name, scenario_spec={"id": sc.id, "overrides": sc.overrides}, policy_id=pol.id,
                    params=pol.params, train_seed=pol.train_seed, information=run.information, episodes=n_episodes,
                    kpi_names=list(run.trajectory.kpis), status=run_status(run).value))
            episode_frames.append(result.episodes.assign(scenario=sc.label, seed=seed))
            epoch_frames.append(result.epoch_actions(built[i].action_table()).assign(scenario=sc.label, seed=seed))
            curve_frames += [run.learning_curve.assign(scenario=sc.label, seed=seed, policy=name)
                             for name, run in cell_runs.items() if run.learning_curve is not None]
    front = ["scenario", "seed"]

    def ordered(frames: list[pd.DataFrame]) -> pd.DataFrame:
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=front)
        return frame[front + [c for c in frame.columns if c not in front]]

    failures = pd.DataFrame([[cells[key][0].label, cells[key][1], cells[key][2].name, out.status.value, out.error]
                             for key, out in sorted(failed.items())], columns=_FAILURE_COLUMNS)
    return SuiteResult(ordered(summaries), ordered(episode_frames), ordered(epoch_frames), ordered(curve_frames),
                       records=records_frame(records, CellRecord), resumed=resumed, failures=failures, run_id=run_id)
