"""Rollouts and evaluation on common random numbers.

Every policy is run on the same noise paths (``scenario.sample_noise(seed,
episodes)``); results come back as tidy pandas DataFrames with confidence
intervals, paired differences and the gap to the best available bound.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from optalloc.actions import ActionTable, check_actions
from optalloc.checks import A_SCENARIO, check_instance, check_memory, check_seed
from optalloc.exceptions import ConfigurationError, OptallocWarning
from optalloc.policy import Policy
from optalloc.scenario import Noise, Scenario, spec_label


@dataclass
class Trajectory:
    """What a batch of episodes did.

    Attributes
    ----------
    total_cost : ndarray (n,)
        Discounted total cost per episode (scenario currency).
    stage_cost : ndarray (n, horizon)
        Undiscounted cost per epoch.
    actions : ndarray (n, horizon, ...)
    info : dict of ndarray (n, horizon, ...)
        Stacked per-epoch infos of :meth:`Scenario.step`.
    kpis : dict of ndarray (n,)
        Domain KPIs.
    act_seconds : float
        Wall time spent in the policy.
    observations : ndarray (n, horizon, ...) or None
        What the policy observed at each epoch, when the rollout kept it
        (``rollout(..., keep_observations=True)``).
    """

    total_cost: np.ndarray
    stage_cost: np.ndarray
    actions: np.ndarray
    info: dict[str, np.ndarray]
    kpis: dict[str, np.ndarray]
    act_seconds: float
    observations: np.ndarray | None = None


def rollout(policy: Policy, scenario: Scenario, noise: Noise, *, policy_seed: int | None = None,
            keep_observations: bool = False) -> Trajectory:
    """Run a fitted policy on a batch of noise paths.

    Parameters
    ----------
    policy : Policy
        A fitted policy.
    scenario : Scenario
    noise : dict of ndarray
        Noise path of ``n`` episodes (``scenario.sample_noise``).
    policy_seed : int, optional
        Seed of the policy's own randomness.
    keep_observations : bool
        Keep every epoch's observations in :attr:`Trajectory.observations` (traces).

    Returns
    -------
    Trajectory
    """
    check_instance("policy", policy, Policy, "a Policy (optalloc.make_policy(id))")
    check_instance("scenario", scenario, Scenario, A_SCENARIO)
    check_instance("noise", noise, Mapping, "a noise path (scenario.sample_noise(seed, episodes))")
    n = next(iter(noise.values())).shape[0]
    T = scenario.horizon
    start = time.perf_counter()
    policy.reset(seed=policy_seed, noise=noise if policy.information == "oracle" else None)
    act_seconds = time.perf_counter() - start  # an oracle plans every episode in reset
    state = scenario.initial_state(n)
    stage_cost = np.empty((n, T))
    actions: list[np.ndarray] = []
    infos: list[dict[str, np.ndarray]] = []
    observed: list[np.ndarray] = []
    episode = np.arange(n)
    for t in range(T):
        obs = scenario.observe(t, state)
        if keep_observations:
            observed.append(obs)
        mask = scenario.action_mask(t, state)
        start = time.perf_counter()
        a = np.asarray(policy.act_batch(obs, {"action_mask": mask, "episode": episode, "epoch": np.full(n, t)}))
        act_seconds += time.perf_counter() - start
        check_actions(f"Policy {policy.name}", scenario.action_space, a, mask, t)
        state, stage_cost[:, t], info = scenario.step(t, state, a, scenario.noise_at(noise, t))
        actions.append(a)
        infos.append(info)
    info_stacked = {k: np.stack([i[k] for i in infos], axis=1) for k in infos[0]}
    weights = scenario.discount ** np.arange(T)
    return Trajectory(
        total_cost=stage_cost @ weights,
        stage_cost=stage_cost,
        actions=np.stack(actions, axis=1),
        info=info_stacked,
        kpis=scenario.kpis(info_stacked),
        act_seconds=act_seconds,
        observations=np.stack(observed, axis=1) if keep_observations else None,
    )


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Sample mean and the half-width of its Student-t confidence interval."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return float(values.mean()), float("nan")
    half = stats.t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / np.sqrt(n)
    return float(values.mean()), float(half)


@dataclass
class PolicyRun:
    """One policy's fit and rollout on a batch of noise paths (a harness cell).

    Attributes
    ----------
    name, method, information : str
        Display name, the policy's method kind and information set.
    fit_seconds : float
        Wall time of ``fit`` [s].
    trajectory : Trajectory
    optimum : float or None
        The optimal expected cost the policy proved (exact policies fitted on
        this very scenario), else None.
    learning_curve : DataFrame or None
        The training log of learning policies (``learning_curve_``).
    """

    name: str
    method: str
    information: str
    fit_seconds: float
    trajectory: Trajectory
    optimum: float | None = None
    learning_curve: pd.DataFrame | None = None
    fitted_on: str = ""
    """The scenario the policy was fitted on, if not the one it was run on (a robustness study); else ""."""
    exact: bool = False
    """Whether the policy is exact (its tags): the default reference of paired differences."""
    solves: pd.DataFrame | None = None
    """The policy's solve log (``solve_table()`` of planner policies: kind, epoch, status, ...), else None."""
    bound: float | None = None
    """A lower bound on the optimal expected cost the policy proved on this scenario (``bound_``, e.g. an
    approximate LP's), else None."""


def run_policy(name: str, policy: Policy, scenario: Scenario, noise: Noise, *, fit_seed: int | None = None) -> PolicyRun:
    """Fit ``policy`` if needed and roll it out on ``noise``."""
    start = time.perf_counter()
    if not policy.is_fitted():
        policy.fit(scenario, seed=fit_seed)
    fit_seconds = time.perf_counter() - start
    note = policy.check_can_act(scenario)
    if note:
        warnings.warn(f"{note}: a robustness study, not the policy's own scenario", OptallocWarning, stacklevel=2)
    trajectory = rollout(policy, scenario, noise)
    optimum = None
    if policy.exact and getattr(policy, "expected_cost_", None) is not None and policy.scenario_spec_ == scenario.spec():
        optimum = float(policy.expected_cost_)
    solve_table = getattr(policy, "solve_table", None)
    bound = getattr(policy, "bound_", None) if policy.scenario_spec_ == scenario.spec() else None
    return PolicyRun(name, policy.tags.method, policy.information, fit_seconds, trajectory, optimum,
                     getattr(policy, "learning_curve_", None), spec_label(policy.scenario_spec_) if note else "",
                     policy.exact, solve_table() if callable(solve_table) else None,
                     None if bound is None else float(bound))


class SummaryFrame(pd.DataFrame):
    """A summary table: a plain DataFrame that prints every column, however wide the terminal.

    pandas hides middle columns behind ``...`` once a frame is wider than its
    display settings; a results table with a hidden column is a table that
    misleads, so this one widens the display whenever it is printed.
    """

    @property
    def _constructor(self) -> type[SummaryFrame]:
        return SummaryFrame

    def __repr__(self) -> str:
        with pd.option_context("display.max_columns", None, "display.width", 0, "display.max_colwidth", None,
                               "display.float_format", _readable_float):
            return self.to_string()


def _readable_float(x: float) -> str:
    """Costs with thousands separators, small numbers (seconds, %, CI of 0) with four significant digits."""
    return f"{x:,.0f}" if abs(x) >= 1e4 else f"{x:.4g}"


@dataclass
class Evaluation:
    """Results of :func:`evaluate`.

    Attributes
    ----------
    episodes : DataFrame
        One row per policy x episode: ``policy, episode, total_cost`` and KPIs.
    summary : DataFrame
        One row per policy: mean, 95 % CI half-width, paired difference to the
        reference with its CI, gap to the bound [%], fit and act seconds.
    runs : dict
        :class:`PolicyRun` per policy name.
    bound : float or None
        Best available bound on the optimal expected cost.
    bound_kind : str
        Where the bound comes from.
    """

    episodes: pd.DataFrame
    summary: pd.DataFrame
    runs: dict[str, PolicyRun] = field(repr=False)
    bound: float | None
    bound_kind: str
    scenario_id: str
    seed: int

    @property
    def trajectories(self) -> dict[str, Trajectory]:
        """:class:`Trajectory` per policy name."""
        return {name: run.trajectory for name, run in self.runs.items()}

    def epoch_actions(self, table: ActionTable) -> pd.DataFrame:
        """Mean component counts of the actions per epoch and policy (tidy).

        Parameters
        ----------
        table : ActionTable
            The scenario's :meth:`~optalloc.scenario.Scenario.action_table`.

        Returns
        -------
        DataFrame
            Columns ``epoch, policy, component, mean``: the mean count of each
            action component over the episodes (a fixed schema, whatever the family).
        """
        return epoch_actions(self.trajectories, table)


def epoch_actions(trajectories: Mapping[str, Trajectory], table: ActionTable) -> pd.DataFrame:
    """Mean component counts per epoch of each policy's actions: columns ``epoch, policy, component, mean``."""
    frames = []
    for name, trajectory in trajectories.items():
        for component, counts in table.decode(trajectory.actions).items():
            frames.append(pd.DataFrame({"epoch": np.arange(counts.shape[1]), "policy": name, "component": component,
                                        "mean": counts.mean(axis=0)}))
    if not frames:
        return pd.DataFrame({"epoch": pd.Series(dtype=int), "policy": pd.Series(dtype=str),
                             "component": pd.Series(dtype=str), "mean": pd.Series(dtype=float)})
    return pd.concat(frames, ignore_index=True)


def as_policies(policies: Any) -> dict[str, Policy]:
    """Normalise policies given as ids, instances, a list or a ``{name: policy}`` mapping."""
    from optalloc.registry import make_policy

    what = "a policy id (str) or a Policy (optalloc.make_policy(id))"
    if policies is None:
        raise ConfigurationError(f"The 'policies' argument must be {what}, a list of them or a {{name: policy}} dict. "
                                 "Got None instead.")
    if isinstance(policies, Mapping):
        items = list(policies.items())
        for name, pol in items:
            check_instance(f"policies[{name!r}]", pol, (str, Policy), what)
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"Policy names must be non-empty strings. Got {name!r} instead.")
    else:
        items = []
        for p in policies if isinstance(policies, Sequence) and not isinstance(policies, str) else [policies]:
            check_instance("policies", p, (str, Policy), what)
            pol = make_policy(p) if isinstance(p, str) else p
            items.append((pol.name, pol))
    out: dict[str, Policy] = {}
    for name, pol in items:
        if name in out:
            raise ConfigurationError(
                f"Policy name {name!r} appears twice; give each policy a distinct name (a {{name: policy}} dict)."
            )
        out[name] = make_policy(pol) if isinstance(pol, str) else pol
    if not out:
        raise ConfigurationError("The 'policies' parameter must name at least one policy. Got none.")
    for pol in out.values():  # fail on bad hyperparameters before any long fit
        if not pol.is_fitted():
            pol.validate_params()
    return out


def check_evaluation_size(scenario: Scenario, episodes: int, policies: int = 1) -> None:
    """Refuse, before any noise is drawn, an evaluation whose arrays would not fit in memory.

    Per episode: its noise path (measured on one episode) and, per epoch and
    policy, the stage cost, the action, the observation and about as much
    again for the step infos, all kept for the results tables.

    Raises
    ------
    ResourceLimitError
    """
    noise = scenario.sample_noise(0, 1)
    noise_bytes = sum(np.asarray(v).nbytes for v in noise.values())
    action_bytes = 8 * max(1, int(np.prod(scenario.action_space.shape or (1,))))
    obs_bytes = 8 * int(np.prod(scenario.observation_space.shape or (1,)))
    per_episode = noise_bytes + policies * scenario.horizon * (8 + action_bytes + 2 * obs_bytes)
    check_memory(f"evaluating {episodes:,} episodes x {scenario.horizon:,} epochs", float(episodes) * per_episode,
                 "lower the number of episodes")


def check_episodes(episodes: Any) -> int:
    """Validate a number of evaluation episodes."""
    if not isinstance(episodes, (int, np.integer)) or isinstance(episodes, bool) or episodes < 1:
        raise ConfigurationError(f"The 'episodes' parameter must be a positive integer. Got {episodes!r} instead.")
    return int(episodes)


def evaluate(
    policies: Mapping[str, Policy | str] | Sequence[Policy | str] | Policy | str,
    scenario: Scenario,
    episodes: int = 1000,
    seed: int = 0,
    *,
    reference: str | None = None,
    fit_seed: int | None = None,
    progress: bool = False,
) -> Evaluation:
    """Evaluate policies on the same ``episodes`` noise paths of ``scenario``.

    Parameters
    ----------
    policies : policies or ids, a list or a ``{name: policy}`` mapping
        Unfitted policies are fitted on ``scenario`` with ``fit_seed``.
    scenario : Scenario
    episodes : int
        Number of evaluation paths.
    seed : int
        Seed of the evaluation paths (stream ``"evaluate"``).
    reference : str, optional
        Policy name for paired differences; default the first exact policy
        (tags), else the first non-oracle policy.
    fit_seed : int, optional
        Seed passed to ``fit`` (training paths use a separate stream); default ``seed``.
    progress : bool
        Show a progress bar over policies.

    Returns
    -------
    Evaluation
    """
    check_instance("scenario", scenario, Scenario, A_SCENARIO)
    episodes = check_episodes(episodes)
    check_seed(seed, optional=False)
    check_seed(fit_seed)
    pols = as_policies(policies)
    check_reference(reference, list(pols))
    for pol in pols.values():  # a fitted policy that cannot act here fails now, not after the others' fits
        if pol.is_fitted():
            pol.check_can_act(scenario)
    check_evaluation_size(scenario, episodes, len(pols))
    noise = scenario.sample_noise(seed, episodes)
    runs: dict[str, PolicyRun] = {}
    from optalloc.progress import progress_bar

    with progress_bar(pols.items(), enabled=progress, desc=f"evaluate {scenario.id}", unit="policy") as bar:
        for name, pol in bar:
            bar.set_postfix_str(name)
            runs[name] = run_policy(name, pol, scenario, noise, fit_seed=seed if fit_seed is None else fit_seed)
    return summarise(runs, scenario.id, seed, reference=reference)


def check_reference(reference: str | None, names: Sequence[str]) -> None:
    """Validate the reference policy name against the evaluated names."""
    if reference is not None and reference not in names:
        raise ConfigurationError(
            f"The 'reference' parameter must be one of the evaluated policies {list(names)}. Got {reference!r} instead."
        )


def summarise(runs: Mapping[str, PolicyRun], scenario_id: str, seed: int, *, reference: str | None = None) -> Evaluation:
    """Tables of policy runs made on the same noise paths.

    Parameters
    ----------
    runs : mapping of name to PolicyRun
        All on the same episodes, in display order.
    scenario_id : str
    seed : int
        Seed of the evaluation paths.
    reference : str, optional
        Policy for paired differences; default the first exact policy (tags),
        else the first non-oracle policy.
    """
    names = list(runs)
    check_reference(reference, names)
    if reference is None:
        ranked = [n for n, r in runs.items() if r.information != "oracle"]
        exact = [n for n in ranked if runs[n].exact]
        reference = exact[0] if exact else (ranked[0] if ranked else names[0])
    bound, bound_kind = _best_bound(runs)
    ref_cost = runs[reference].trajectory.total_cost
    frames, summary_rows = [], []
    for name, run in runs.items():
        tr = run.trajectory
        episodes = np.arange(len(tr.total_cost))
        frames.append(pd.DataFrame({"policy": name, "episode": episodes, "total_cost": tr.total_cost, **tr.kpis}))
        mean, ci = mean_ci(tr.total_cost)
        diff, diff_ci = mean_ci(tr.total_cost - ref_cost)
        row: dict[str, Any] = {
            "policy": name,
            "method": run.method,
            "role": "bound" if run.information == "oracle" else "policy",
            "mean_cost": mean,
            "ci95": ci,
            f"diff_vs_{reference}": diff,
            "diff_ci95": diff_ci,
            "gap_to_bound_pct": gap_pct(mean, bound),
            "fit_s": run.fit_seconds,
            "act_s": tr.act_seconds,
            "train_steps": float(run.learning_curve["env_steps"].iloc[-1]) if run.learning_curve is not None
            and len(run.learning_curve) else np.nan,
            "fitted_on": run.fitted_on,
        }
        for key, values in tr.kpis.items():
            row[key] = float(np.mean(values))
        summary_rows.append(row)
    return Evaluation(pd.concat(frames, ignore_index=True), SummaryFrame(summary_rows), dict(runs), bound,
                      bound_kind, scenario_id, seed)


def gap_pct(mean: float, bound: float | None) -> float:
    """Gap of a mean cost above a lower bound, ``100 (mean - bound) / |bound|`` [%].

    NaN without a bound. A bound of 0 is a bound: the gap is 0 at a mean of
    0 and infinite (with the sign of the mean) otherwise, never a blank that
    would read as "no bound".
    """
    if bound is None:
        return float("nan")
    if bound == 0:
        return 0.0 if mean == 0 else float(np.copysign(np.inf, mean))
    return 100 * (mean - bound) / abs(bound)


def _best_bound(runs: Mapping[str, PolicyRun]) -> tuple[float | None, str]:
    """The tightest available lower bound on the optimal expected cost.

    An exact policy's optimal expected cost (the DP optimum) is the optimum
    itself; otherwise the larger of the lower bounds policies proved (an
    approximate LP's ``bound_``) and the hindsight mean, a lower bound in
    expectation.
    """
    for name, run in runs.items():
        if run.optimum is not None:
            return run.optimum, f"exact optimum ({name})"
    candidates = [(run.bound, f"lower bound ({name})") for name, run in runs.items() if run.bound is not None]
    oracles = [name for name, run in runs.items() if run.information == "oracle"]
    if oracles:
        best = max(oracles, key=lambda n: runs[n].trajectory.total_cost.mean())
        candidates.append((float(runs[best].trajectory.total_cost.mean()), f"hindsight mean ({best})"))
    if candidates:  # the tightest: the largest lower bound
        return max(candidates, key=lambda c: c[0])
    return None, "none"
