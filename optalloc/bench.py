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

import difflib
import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from optalloc.evaluation import PolicyRun
from optalloc.exceptions import ConfigurationError

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
        return self.id if not self.overrides else f"{self.id} {json.dumps(self.overrides, sort_keys=True)}"


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


def _check_keys(where: str, table: Mapping[str, Any], allowed: set[str], path: Path) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigurationError(
                f"Suite {str(path)!r}: unknown key {key!r} in {where}; expected one of {sorted(allowed)}{hint}"
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


def load_suite(path: str | Path) -> Suite:
    """Parse and validate a suite file; ids are checked against the registry.

    Raises
    ------
    ConfigurationError
        Unreadable TOML, an unknown key (with a "did you mean"), a wrong type,
        an unknown scenario or policy id.
    """
    from optalloc.registry import policy_spec, scenario_spec

    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"Suite file {str(path)!r} does not exist.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"Suite {str(path)!r} is not valid TOML: {exc}") from None
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
    return Suite(
        name=str(doc.get("name", path.stem)),
        description=str(doc.get("description", "")),
        episodes=episodes,
        seeds=tuple(seeds),
        reference=reference,
        scenarios=tuple(scenarios),
        policies=tuple(policies),
    )


def _run_cell(scenario: ScenarioEntry, seed: int, episodes: int, policy: PolicyEntry) -> PolicyRun:
    """One harness cell: fit and roll out one policy on one scenario's paths of one seed.

    Runs in a worker process; the noise is re-sampled there from the seed, so
    every cell of a (scenario, seed) sees the same paths whatever the worker.
    """
    from optalloc.evaluation import run_policy
    from optalloc.registry import make_policy, make_scenario

    instance = make_scenario(scenario.id, **scenario.overrides)
    noise = instance.sample_noise(seed, episodes)
    fit_seed = seed if policy.train_seed is None else policy.train_seed
    return run_policy(policy.name, make_policy(policy.id, **policy.params), instance, noise, fit_seed=fit_seed)


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
    yearly : DataFrame
        Mean action per scenario x seed x policy x epoch.
    curves : DataFrame
        Learning curves of the learning policies (scenario x seed x policy x
        log row); empty if none learned.
    """

    summary: pd.DataFrame
    episodes: pd.DataFrame
    yearly: pd.DataFrame
    curves: pd.DataFrame


def run_suite(suite: Suite, *, episodes: int | None = None, workers: int | None = None,
              progress: bool = True) -> SuiteResult:
    """Run every cell (scenario x seed x policy) of a suite.

    Parameters
    ----------
    suite : Suite
    episodes : int, optional
        Override the suite's number of evaluation paths.
    workers : int, optional
        Worker processes (default: one per CPU core, at most one per cell);
        1 runs everything in this process. Results do not depend on it.
    progress : bool
        Show a progress bar over cells.

    Returns
    -------
    SuiteResult
    """
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    from optalloc.evaluation import check_episodes, summarise

    n_episodes = check_episodes(episodes or suite.episodes)
    cells = [(sc, seed, pol) for sc in suite.scenarios for seed in suite.seeds for pol in suite.policies]
    if workers is None:
        workers = min(os.cpu_count() or 1, len(cells))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigurationError(f"The 'workers' parameter must be a positive integer. Got {workers!r} instead.")
    # Cells are keyed by position, so a scenario listed twice (other overrides) or a repeated seed stays apart.
    keys = [(i, j, k) for i in range(len(suite.scenarios)) for j in range(len(suite.seeds))
            for k in range(len(suite.policies))]
    runs: dict[tuple[int, int, int], PolicyRun] = {}
    with tqdm(total=len(cells), desc=f"suite {suite.name}", unit="cell", leave=False, disable=not progress) as bar:
        if workers == 1:
            for key, (sc, seed, pol) in zip(keys, cells):
                bar.set_postfix_str(f"{sc.label} seed {seed} {pol.name}")
                runs[key] = _run_cell(sc, seed, n_episodes, pol)
                bar.update()
        else:
            # spawn: workers start clean (no forked solver or thread state).
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(_run_cell, sc, seed, n_episodes, pol): (key, sc, seed, pol)
                           for key, (sc, seed, pol) in zip(keys, cells)}
                try:
                    for future in as_completed(futures):
                        key, sc, seed, pol = futures[future]
                        runs[key] = future.result()
                        bar.set_postfix_str(f"done {sc.label} seed {seed} {pol.name}")
                        bar.update()
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise

    summaries, episode_frames, yearly_frames = [], [], []
    curve_frames = [pd.DataFrame(columns=["scenario", "seed", "policy", "env_steps"])]
    for i, sc in enumerate(suite.scenarios):
        for j, seed in enumerate(suite.seeds):
            cell_runs = {pol.name: runs[(i, j, k)] for k, pol in enumerate(suite.policies)}
            result = summarise(cell_runs, sc.label, seed, reference=suite.reference)
            summary = result.summary.assign(bound=result.bound, bound_kind=result.bound_kind)
            summaries.append(summary.assign(scenario=sc.label, seed=seed))
            episode_frames.append(result.episodes.assign(scenario=sc.label, seed=seed))
            yearly = result.yearly_actions().rename_axis("epoch").reset_index()
            yearly = yearly.melt(id_vars="epoch", var_name="policy", value_name="mean_action")
            yearly_frames.append(yearly.assign(scenario=sc.label, seed=seed))
            curve_frames += [run.learning_curve.assign(scenario=sc.label, seed=seed, policy=name)
                             for name, run in cell_runs.items() if run.learning_curve is not None]
    front = ["scenario", "seed"]

    def ordered(frames: list[pd.DataFrame]) -> pd.DataFrame:
        frame = pd.concat(frames, ignore_index=True)
        return frame[front + [c for c in frame.columns if c not in front]]

    return SuiteResult(ordered(summaries), ordered(episode_frames), ordered(yearly_frames), ordered(curve_frames))
