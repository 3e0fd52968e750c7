"""Benchmark suites: TOML files of scenarios, policies, seeds and episodes.

A suite file looks like::

    name = "beds"
    episodes = 1000          # evaluation paths per (scenario, seed)
    seeds = [0]              # evaluation seeds; policies are fitted with the same seed
    reference = "dp"         # paired differences are taken against this policy

    [[scenarios]]
    id = "beds/seed002-v0"
    overrides = {}           # optional scenario parameter overrides
    episodes = 1000          # optional: this scenario's paths (default: the suite's)

    [[policies]]
    id = "rigid"
    name = "rigid"           # optional display name (default: the id)
    params = {}              # optional hyperparameters
    scenarios = ["beds/seed002-v0"]  # optional: only these scenario ids (default: all its tags accept)

    [[sweeps]]               # optional sensitivity sweep: one scenario per value, on the same seeds
    scenario = "beds/stochastic-v0"
    parameter = "surge_probability"
    values = [0.0, 0.1, 0.2]
    overrides = {}           # optional, for every point

    [[solves]]               # optional static solve cells (``optalloc solve``)
    instance = "staff/instance1"
    time_limit = 60          # seconds (optional)
    gap = 0.01               # relative MIP gap (optional)

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
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from optalloc.checks import read_document
from optalloc.evaluation import PolicyRun
from optalloc.exceptions import ConfigurationError, OptallocError
from optalloc.records import CellRecord, SolveRecord, records_frame
from optalloc.scenario import Scenario, spec_label
from optalloc.status import CellStatus, cell_status
from optalloc.store import ResultStore
from optalloc.validation import did_you_mean

#: A suite name: it names output files, so no folders and no leading dot.
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_TOP_KEYS = {"name", "description", "episodes", "seeds", "reference", "scenarios", "policies", "solves", "sweeps"}
_SWEEP_KEYS = {"scenario", "parameter", "values", "overrides", "episodes"}
_SOLVE_KEYS = {"instance", "time_limit", "gap"}
_SCENARIO_KEYS = {"id", "overrides", "episodes"}
_POLICY_KEYS = {"id", "name", "params", "train_seeds", "scenarios"}


@dataclass(frozen=True)
class PolicyEntry:
    """One policy of a suite (one training seed of it, if the suite lists ``train_seeds``)."""

    id: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    train_seed: int | None = None
    """Seed of ``fit``; None: the cell's evaluation seed."""
    scenarios: tuple[str, ...] = ()
    """Scenario ids of the suite this entry runs on; empty: every scenario its tags accept."""


@dataclass(frozen=True)
class ScenarioEntry:
    """One scenario of a suite."""

    id: str
    overrides: dict[str, Any] = field(default_factory=dict)
    episodes: int | None = None
    """Evaluation paths of this scenario's cells; None: the suite's ``episodes``."""
    sweep: str | None = None
    """The parameter this entry is a point of a sensitivity sweep of (its value is in ``overrides``); else None."""

    @property
    def label(self) -> str:
        """The id, followed by the overrides if any (``beds/seed002-v0 {"horizon": 5}``)."""
        return spec_label({"id": self.id, "overrides": self.overrides})


@dataclass(frozen=True)
class SolveEntry:
    """One static solve cell of a suite: an instance solved once, within its limits."""

    instance: str
    time_limit: float | None = None
    """Wall-clock limit of the solve [s]; None: none."""
    gap: float | None = None
    """Relative MIP gap at which the solver stops; None: its default."""


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
    solves: tuple[SolveEntry, ...] = ()

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


def _sweep_entries(doc: Mapping[str, Any], path: Path) -> list[ScenarioEntry]:
    """The scenario entries of the ``[[sweeps]]`` tables: one per value of the swept parameter.

    Every point is evaluated on the suite's seeds, so its noise paths come from
    the same seeds as the other points': wherever the parameter leaves the
    shape of the noise unchanged (a rate, a cost, a probability drawn by
    inverse CDF), the sweep's curves are paired across its values as well as
    across policies.
    """
    from optalloc.registry import scenario_spec

    if "sweeps" not in doc:
        return []
    entries = []
    for i, table in enumerate(_table_list(doc, "sweeps", path)):
        _check_keys("[[sweeps]]", table, _SWEEP_KEYS, path)
        where = f"Suite {str(path)!r}, [[sweeps]] entry {i + 1}"
        scenario, parameter, values = table.get("scenario"), table.get("parameter"), table.get("values")
        if not isinstance(scenario, str) or not isinstance(parameter, str):
            raise ConfigurationError(f"{where}: 'scenario' (an id) and 'parameter' (a parameter name) are needed. "
                                     f"Got scenario={scenario!r}, parameter={parameter!r}.")
        scenario_spec(scenario)
        if not isinstance(values, list) or len(values) < 2 or len({repr(v) for v in values}) != len(values):
            raise ConfigurationError(f"{where}: 'values' must be a list of at least two distinct values of "
                                     f"{parameter!r}. Got {values!r} instead.")
        base = table.get("overrides", {})
        if not isinstance(base, dict) or parameter in base:
            raise ConfigurationError(f"{where}: 'overrides' must be a table without the swept {parameter!r}. "
                                     f"Got {base!r} instead.")
        episodes = _scenario_episodes({"id": scenario, **table}, path)
        entries += [ScenarioEntry(scenario, {**base, parameter: value}, episodes, sweep=parameter) for value in values]
    return entries


def _scenario_episodes(entry: Mapping[str, Any], path: Path) -> int | None:
    value = entry.get("episodes")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigurationError(f"Suite {str(path)!r}: 'episodes' of scenario {entry['id']!r} must be a positive "
                                 f"integer. Got {value!r} instead.")
    return value


def _expand_train_seeds(entry: dict[str, Any], path: Path) -> list[PolicyEntry]:
    """One :class:`PolicyEntry` per training seed, named ``name[seed s]``."""
    name, params = str(entry.get("name", entry["id"])), entry.get("params", {})
    only = entry.get("scenarios", [])
    if not isinstance(only, list) or not all(isinstance(i, str) for i in only):
        raise ConfigurationError(f"Suite {str(path)!r}: 'scenarios' of policy {name!r} must be a list of scenario "
                                 f"ids. Got {only!r} instead.")
    only = tuple(only)
    if "train_seeds" not in entry:
        return [PolicyEntry(entry["id"], name, params, scenarios=only)]
    seeds = entry["train_seeds"]
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ConfigurationError(
            f"Suite {str(path)!r}: 'train_seeds' of {name!r} must be a non-empty list of non-negative integers. "
            f"Got {seeds!r} instead."
        )
    return [PolicyEntry(entry["id"], f"{name}[seed {s}]", params, s, only) for s in seeds]


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
    # A suite of sweeps alone needs no [[scenarios]]: its points are its scenarios.
    listed = [] if "scenarios" not in doc and "sweeps" in doc else \
        _entries(doc, "scenarios", _SCENARIO_KEYS, "overrides", scenario_spec, path)
    scenarios = [ScenarioEntry(e["id"], e.get("overrides", {}), _scenario_episodes(e, path)) for e in listed]
    scenarios += _sweep_entries(doc, path)
    policies = [entry for e in _entries(doc, "policies", _POLICY_KEYS, "params", policy_spec, path)
                for entry in _expand_train_seeds(e, path)]
    ids = sorted({sc.id for sc in scenarios})
    for entry in policies:
        unknown = [i for i in entry.scenarios if i not in ids]
        if unknown:
            raise ConfigurationError(f"Suite {str(path)!r}: 'scenarios' of policy {entry.name!r} must name scenario ids "
                                     f"of the suite ({ids}); got {unknown}{did_you_mean(unknown[0], ids, clause=True)}")
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
    solves = _solve_entries(doc, path)
    return Suite(
        name=name,
        description=str(doc.get("description", "")),
        episodes=episodes,
        seeds=tuple(seeds),
        reference=reference,
        scenarios=tuple(scenarios),
        policies=tuple(policies),
        solves=tuple(solves),
    )


def _solve_entries(doc: Mapping[str, Any], path: Path) -> list[SolveEntry]:
    """The ``[[solves]]`` tables: a known instance id, valid limits."""
    from optalloc.instances import check_solve_limits, instance_spec

    if "solves" not in doc:
        return []
    entries = []
    for i, table in enumerate(_table_list(doc, "solves", path)):
        _check_keys("[[solves]]", table, _SOLVE_KEYS, path)
        if not isinstance(table.get("instance"), str):
            raise ConfigurationError(f"Suite {str(path)!r}: every [[solves]] table needs an 'instance' id "
                                     f"(one of 'optalloc list''s static instances). Got {table.get('instance')!r} in entry {i + 1}.")
        try:
            instance_spec(table["instance"])
            limit, gap = check_solve_limits(f"Suite {str(path)!r}, [[solves]] {table['instance']}",
                                            table.get("time_limit"), table.get("gap"), names=("time_limit", "gap"))
        except OptallocError as exc:
            raise ConfigurationError(f"Suite {str(path)!r}, [[solves]] entry {i + 1}: {exc}") from None
        entries.append(SolveEntry(table["instance"], limit, gap))
    return entries


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


@dataclass
class SolveOutcome:
    """How one static solve cell ended: its record (None if it raised), status, error text, code it loaded."""

    record: Any
    status: CellStatus
    error: str | None
    deps: dict[str, str]


def _run_solve_cell(entry: SolveEntry) -> SolveOutcome:
    """One static solve cell: the instance solved once within its limits (in a worker process)."""
    import traceback

    from optalloc.instances import make_instance
    from optalloc.status import decision_status
    from optalloc.store import loaded_code

    try:
        record = make_instance(entry.instance).solve(time_limit=entry.time_limit, mip_rel_gap=entry.gap)
    except Exception as exc:  # noqa: BLE001 - recorded with the cell; the suite goes on
        return SolveOutcome(None, CellStatus.ERROR, f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}",
                            loaded_code())
    return SolveOutcome(record, decision_status(record.status, record.termination), None, loaded_code())


def _lost(function: Callable[..., Any], error: str) -> CellOutcome | SolveOutcome:
    """The outcome of a task whose worker died before it could report."""
    kind = SolveOutcome if function is _run_solve_cell else CellOutcome
    return kind(None, CellStatus.ERROR, error, {})


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


def _solve_identity(entry: SolveEntry) -> dict[str, Any]:
    """Everything that determines a static solve cell's result: its identity in a results store."""
    return {"solve": entry.instance, "time_limit": entry.time_limit, "gap": entry.gap}


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
#: A unit of work for an executor: the function (run in a worker), its arguments, and its label.
_Task = tuple[Callable[..., Any], tuple[Any, ...], str]


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


def _run_alone(task: _Task) -> Any:
    """One task in a pool of its own; the outcome of a failed cell if its worker dies."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    function, args, label = task
    pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"), initializer=_init_worker)
    try:
        return pool.submit(function, *args).result()
    except BrokenProcessPool:
        return _lost(function, f"the worker process running {label} died (killed, out of memory, or a crash in "
                               "compiled code); the other cells ran on")
    finally:
        pool.shutdown(wait=True)


def _run_on_pool(tasks: Mapping[Any, _Task], workers: int, finish: Callable[[Any, Any], None], bar: Any) -> None:
    """Run tasks on a spawn process pool; ``finish(key, outcome)`` is called here, in the parent, as each completes.

    On any exception (Ctrl-C included) the cells not started are cancelled,
    those completed meanwhile are still finished, the workers are stopped and
    the exception is re-raised.
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    # spawn: workers start clean (no forked solver or thread state).
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker)
    futures: dict[Any, Any] = {}
    finished: set[Any] = set()
    try:
        # submit() starts the workers; they inherit the blocked SIGINT, so a Ctrl-C while they
        # still import (before the initializer runs) prints no traceback from them either.
        with _sigint_deferred():
            for key, (function, args, _label) in tasks.items():
                futures[pool.submit(function, *args)] = key
        broken = False
        for future in as_completed(futures):
            key = futures[future]
            try:
                outcome = future.result()
            except BrokenProcessPool:  # a worker died (killed, out of memory, a crash in compiled code)
                broken = True
                break
            finish(key, outcome)
            finished.add(key)
            bar.set_postfix_str(f"done {tasks[key][2]}")
            bar.update()
        if broken:
            _stop_pool(pool)
            # Every unfinished task of a broken pool fails with it: each runs again alone, so that
            # only the one that kills its worker is recorded as failed.
            for key in [k for k in tasks if k not in finished]:
                finish(key, _run_alone(tasks[key]))
                finished.add(key)
                bar.set_postfix_str(f"done {tasks[key][2]}")
                bar.update()
            return
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


def _run_on_dask(tasks: Mapping[Any, _Task], address: str | None, workers: int | None,
                 finish: Callable[[Any, Any], None], bar: Any) -> None:
    """Run tasks on a Dask distributed cluster (the scheduler at ``address``, or a local one of ``workers``).

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
    futures: dict[Any, Any] = {}
    try:
        for key, (function, args, _label) in tasks.items():
            # pure=False: a cell is never merged with another task, whatever its arguments.
            futures[client.submit(function, *args, pure=False)] = key
        for future in as_completed(futures):
            key = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - the task's worker died: this cell failed, the others go on
                outcome = _lost(tasks[key][0], f"{type(exc).__name__}: {exc}")
            finish(key, outcome)
            bar.set_postfix_str(f"done {tasks[key][2]}")
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
    solves : DataFrame or None
        The records of the static solve cells, in suite order.
    """

    summary: pd.DataFrame
    episodes: pd.DataFrame
    epochs: pd.DataFrame
    curves: pd.DataFrame
    records: pd.DataFrame
    resumed: int = 0
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_FAILURE_COLUMNS))
    run_id: int | None = None
    solves: pd.DataFrame | None = None
    """One :class:`~optalloc.records.SolveRecord` per static solve cell (``[[solves]]``) that returned."""


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
    refused: dict[tuple[str, str], list[str]] = {}  # (scenario, reason) -> policy names, in suite order
    noted: set[tuple[int, str, str]] = set()
    for i, sc in enumerate(suite.scenarios):
        scenario_tags = scenarios[i].tags
        for k, pol in enumerate(suite.policies):
            if pol.scenarios and sc.id not in pol.scenarios:
                if pol.name == suite.reference:
                    raise ConfigurationError(f"Suite {suite.name!r}: the reference policy {pol.name!r} is kept off "
                                             f"scenario {sc.label} by its 'scenarios'; the reference runs on all.")
                continue  # the suite keeps this entry off this scenario: no cell, nothing to note
            reason = tags[k].refusal(scenario_tags)
            if reason is None:
                takes.add((i, k))
            elif pol.name == suite.reference:
                raise ConfigurationError(f"Suite {suite.name!r}: the reference policy {pol.name!r} does not take "
                                         f"scenario {sc.label}: {reason}.")
            elif (i, pol.id, repr(pol.params)) not in noted:  # once for all training seeds of an entry
                noted.add((i, pol.id, repr(pol.params)))
                refused.setdefault((sc.label, reason), []).append(pol.name)
        if not any((i, k) in takes for k in range(len(suite.policies))):
            raise ConfigurationError(f"Suite {suite.name!r}: no policy of the suite takes scenario {sc.label}.")
    # One note for all: a suite across families refuses many pairs, each for one of a few reasons.
    if len(refused) == 1 and len(next(iter(refused.values()))) == 1:
        (label, reason), (name,) = next(iter(refused.items()))
        warnings.warn(f"Suite {suite.name!r}: policy {name!r} does not take scenario {label} ({reason}); "
                      "those cells are left out.", OptallocWarning, stacklevel=3)
    elif refused:
        parts = "; ".join(f"{', '.join(names)} on {label} ({reason})" for (label, reason), names in refused.items())
        count = sum(len(names) for names in refused.values())
        warnings.warn(f"Suite {suite.name!r}: {count} (scenario, policy) pairs are left out, their policies' tags "
                      f"refusing the scenario: {parts}.", OptallocWarning, stacklevel=3)
    return takes


def run_to_halfwidth(suite: Suite, target: float, *, max_episodes: int | None = None,
                     episodes: int | None = None, **options: Any) -> tuple[SuiteResult, pd.DataFrame]:
    """Run a suite, doubling each scenario's episodes until every paired difference is known to ``target``.

    After each round, a scenario whose widest 95 % CI half-width of a paired
    difference to the reference (over its policies, bounds aside, and its
    seeds) is above ``target`` is run again with twice the episodes, up to
    ``max_episodes``; the others keep theirs. Every round's cells go to the
    results store, so an interrupted run resumes its rounds too.

    Parameters
    ----------
    suite : Suite
    target : float
        Half-width to reach [the scenarios' cost units], positive.
    max_episodes : int, optional
        Cap on a scenario's episodes; default 16 times its starting count.
    episodes : int, optional
        Starting count of every scenario (default: each scenario's own, else the suite's).
    **options
        Passed to :func:`run_suite` (``workers``, ``store``, ``progress``, ``executor``, ...).

    Returns
    -------
    result : SuiteResult
        The last round's tables (each scenario at the episodes it needed).
    rounds : DataFrame
        One row per scenario and round: ``round, scenario, episodes, halfwidth, met``.
    """
    import dataclasses
    import math

    from optalloc.evaluation import check_episodes

    if isinstance(target, bool) or not isinstance(target, (int, float)) or not math.isfinite(target) or target <= 0:
        raise ConfigurationError(f"The target half-width must be a positive number. Got {target!r} instead.")
    start = [check_episodes(episodes) if episodes is not None else (sc.episodes or suite.episodes)
             for sc in suite.scenarios]
    caps = [check_episodes(max_episodes) if max_episodes is not None else 16 * n for n in start]
    counts, rows, round_ = list(start), [], 0
    while True:
        current = dataclasses.replace(suite, scenarios=tuple(
            dataclasses.replace(sc, episodes=n) for sc, n in zip(suite.scenarios, counts, strict=True)))
        result = run_suite(current, **options)
        widths = _widest_halfwidths(result)
        grow = False
        for i, sc in enumerate(current.scenarios):
            width = widths.get(sc.label, math.nan)
            met = not width > target  # NaN (no difference to take) counts as met
            rows.append({"round": round_, "scenario": sc.label, "episodes": counts[i], "halfwidth": width, "met": met})
            if not met and counts[i] < caps[i]:
                counts[i] = min(2 * counts[i], caps[i])
                grow = True
        if not grow:
            return result, pd.DataFrame(rows)
        round_ += 1


def _widest_halfwidths(result: SuiteResult) -> dict[str, float]:
    """Per scenario label, the widest CI half-width of a paired difference to the reference (bounds aside)."""
    summary = result.summary
    if summary.empty:
        return {}
    policies = summary[(summary["role"] == "policy") & (summary["diff_ci95"] > 0)]
    return policies.groupby("scenario")["diff_ci95"].max().to_dict()


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

    from optalloc.evaluation import check_episodes, check_evaluation_size, summarise
    from optalloc.manifest import run_manifest
    from optalloc.progress import progress_bar
    from optalloc.registry import make_scenario

    n_episodes = check_episodes(suite.episodes if episodes is None else episodes)
    # A scenario's own count, unless the caller overrides every scenario's.
    per_scenario = [n_episodes if episodes is not None or sc.episodes is None else sc.episodes
                    for sc in suite.scenarios]
    built = [make_scenario(sc.id, **sc.overrides) for sc in suite.scenarios]  # for sizes, tags and action tables
    for scenario, count in zip(built, per_scenario, strict=True):  # every cell's trajectories are kept for the tables
        check_evaluation_size(scenario, count, len(suite.policies) * len(suite.seeds))
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
    identities = {key: _cell_identity(sc, seed, per_scenario[key[0]], pol) for key, (sc, seed, pol) in cells.items()}
    solve_identities = {("solve", n): _solve_identity(entry) for n, entry in enumerate(suite.solves)}
    runs: dict[_Key, PolicyRun] = {}
    failed: dict[_Key, CellOutcome] = {}
    solved: dict[tuple[str, int], SolveOutcome] = {}
    kept = 0
    run_id: int | None = None

    bars: list[Any] = []  # the progress bar, once it exists: its title counts the failures

    def finish(key: Any, outcome: CellOutcome | SolveOutcome) -> None:
        nonlocal kept
        if outcome.status is CellStatus.ERROR and bars:
            n_failed = len(failed) + sum(o.record is None for o in solved.values()) + 1
            bars[0].set_description(f"suite {suite.name} ({n_failed} failed)")
        if isinstance(outcome, SolveOutcome):
            solved[key] = outcome
            if results is not None:
                kept += results.save_solve(solve_identities[key], outcome.record, deps=outcome.deps,
                                           status=outcome.status, error=outcome.error, suite=suite.name, run_id=run_id)
            return
        if outcome.run is not None:
            runs[key] = outcome.run
        else:
            failed[key] = outcome
        if results is not None:
            kept += results.save(identities[key], outcome.run, deps=outcome.deps, status=outcome.status,
                                 error=outcome.error, suite=suite.name, run_id=run_id)

    n_total = len(cells) + len(suite.solves)
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
                for key, identity in solve_identities.items():
                    stored = results.load_solve(identity)
                    if stored is not None:
                        solved[key] = SolveOutcome(stored[0], CellStatus(stored[1]), None, {})
                        kept += 1
        resumed = len(runs) + len(solved)
        tasks: dict[Any, _Task] = {
            key: (_run_cell, (sc, seed, per_scenario[key[0]], pol), f"{sc.label} seed {seed} {pol.name}")
            for key, (sc, seed, pol) in cells.items() if key not in runs}
        tasks |= {key: (_run_solve_cell, (suite.solves[key[1]],), f"solve {suite.solves[key[1]].instance}")
                  for key in solve_identities if key not in solved}
        n_workers = min(os.cpu_count() or 1, len(tasks)) if workers is None else workers
        with progress_bar(total=n_total, initial=resumed, enabled=progress, desc=f"suite {suite.name}",
                          unit="cell") as bar:
            bars.append(bar)
            if executor == "dask" and tasks:
                _run_on_dask(tasks, address, workers, finish, bar)
            elif n_workers <= 1 or not tasks:
                for key, (function, args, label) in tasks.items():
                    bar.set_postfix_str(label)
                    finish(key, function(*args))
                    bar.update()
            else:
                _run_on_pool(tasks, n_workers, finish, bar)
    except KeyboardInterrupt:
        raise SuiteInterrupted(len(runs) + len(failed) + len(solved), kept, n_total,
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
                    params=pol.params, train_seed=pol.train_seed, information=run.information,
                    episodes=per_scenario[i],
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
                             for key, out in sorted(failed.items())]
                            + [[suite.solves[key[1]].instance, None, "solve", out.status.value, out.error]
                               for key, out in sorted(solved.items()) if out.record is None],
                            columns=_FAILURE_COLUMNS)
    solve_records = [out.record for _, out in sorted(solved.items()) if out.record is not None]
    return SuiteResult(ordered(summaries), ordered(episode_frames), ordered(epoch_frames), ordered(curve_frames),
                       records=records_frame(records, CellRecord), resumed=resumed, failures=failures, run_id=run_id,
                       solves=records_frame(solve_records, SolveRecord))
