"""Epoch-by-epoch traces of a policy on a few episodes: what it saw, what it did, what it cost.

:func:`simulate` runs one fitted policy on ``episodes`` noise paths of the
evaluation stream (the same paths :func:`optalloc.evaluate` uses with that
seed) and keeps every epoch: the named observation, the action and its
description from the scenario's :class:`~optalloc.actions.ActionTable`, the
stage cost and the step's info entries. ``optalloc simulate`` prints it
through the scenario's :meth:`~optalloc.Scenario.trace_view`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optalloc.checks import A_SCENARIO, check_instance, check_seed
from optalloc.evaluation import check_episodes, rollout
from optalloc.policy import Policy
from optalloc.scenario import Scenario


@dataclass
class Simulation:
    """A policy's trace on a few episodes.

    Attributes
    ----------
    trace : pandas.DataFrame
        One row per episode and epoch: ``episode``, ``epoch``, the observation
        components (:attr:`Scenario.observation_names`), ``action``,
        ``decision`` (the action in words), ``cost`` (undiscounted, scenario
        cost unit) and the step's info entries (``step_<name>`` for an entry
        named like an observation component: its value after the step).
    totals : pandas.DataFrame
        One row per episode: ``episode``, ``total_cost`` (discounted) and the
        scenario's KPIs.
    scenario : Scenario
    policy : str
        The policy's display name.
    """

    trace: pd.DataFrame
    totals: pd.DataFrame
    scenario: Scenario
    policy: str

    def episode(self, i: int) -> pd.DataFrame:
        """Episode ``i``'s rows, through the scenario's :meth:`~optalloc.Scenario.trace_view`."""
        rows = self.trace[self.trace["episode"] == i].drop(columns="episode").reset_index(drop=True)
        return self.scenario.trace_view(rows)


def simulate(policy: Policy, scenario: Scenario, episodes: int = 5, seed: int = 0, *,
             policy_seed: int | None = None) -> Simulation:
    """Trace a fitted policy on ``episodes`` evaluation paths of ``scenario``.

    Parameters
    ----------
    policy : Policy
        A fitted policy (``policy.fit(scenario)``).
    scenario : Scenario
    episodes : int
        Episodes to trace (a handful: the trace has ``episodes x horizon`` rows).
    seed : int
        Seed of the paths (stream ``"evaluate"``): episode ``i`` is episode ``i``
        of ``optalloc.evaluate(..., seed=seed)``.
    policy_seed : int, optional
        Seed of the policy's own randomness; default ``seed``.

    Returns
    -------
    Simulation
    """
    check_instance("scenario", scenario, Scenario, A_SCENARIO)
    check_episodes(episodes)
    check_seed(seed, optional=False)
    noise = scenario.sample_noise(seed, episodes)
    tr = rollout(policy, scenario, noise, policy_seed=seed if policy_seed is None else policy_seed,
                 keep_observations=True)
    n, T = tr.stage_cost.shape
    obs = tr.observations.reshape(n, T, -1)
    names = list(scenario.observation_names) or [f"obs{i}" for i in range(obs.shape[2])]
    table = scenario.action_table()
    actions = tr.actions.reshape(n * T, -1) if table.vector else tr.actions.reshape(n * T)
    columns: dict[str, np.ndarray] = {"episode": np.repeat(np.arange(n), T), "epoch": np.tile(np.arange(T), n)}
    columns.update({name: obs[:, :, i].ravel() for i, name in enumerate(names)})
    columns["action"] = list(actions) if table.vector else actions
    columns["decision"] = [table.describe(a) for a in actions]
    columns["cost"] = tr.stage_cost.ravel()
    for key, values in tr.info.items():
        if values.ndim == 2:  # scalar entries only; an entry named like an observation is what the step made of it
            columns[f"step_{key}" if key in columns else key] = values.ravel()
    totals = pd.DataFrame({"episode": np.arange(n), "total_cost": tr.total_cost, **tr.kpis})
    return Simulation(pd.DataFrame(columns), totals, scenario, policy.name)


__all__ = ["Simulation", "simulate"]
