"""String ids for scenarios and policies, with lazy entry points.

Entry points are ``"module:attribute"`` strings imported only on use, so
``import optalloc`` and ``optalloc list`` work without pyomo or torch loaded.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any

from optalloc.exceptions import UnknownIdError
from optalloc.policy import Policy
from optalloc.scenario import Scenario


@dataclass(frozen=True)
class ScenarioSpec:
    """A registered scenario: versioned id, entry point and preset keywords."""

    id: str
    entry_point: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class PolicySpec:
    """A registered policy: id, entry point, and fast hyperparameters for tests."""

    id: str
    entry_point: str
    description: str = ""
    test_params: dict[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()


SCENARIOS: dict[str, ScenarioSpec] = {}
POLICIES: dict[str, PolicySpec] = {}


def register_scenario(spec: ScenarioSpec) -> None:
    """Add a scenario to the registry (replacing one with the same id)."""
    SCENARIOS[spec.id] = spec


def register_policy(spec: PolicySpec) -> None:
    """Add a policy to the registry (replacing one with the same id)."""
    POLICIES[spec.id] = spec


def load_entry_point(entry_point: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module_name, _, attribute = entry_point.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _lookup(table: dict[str, Any], kind: str, key: str) -> Any:
    if not isinstance(key, str):
        raise UnknownIdError(f"A {kind} id must be a string (see 'optalloc list'). Got {key!r} instead.")
    if key in table:
        return table[key]
    close = difflib.get_close_matches(str(key), list(table), n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownIdError(f"Unknown {kind} id {key!r}; known: {', '.join(sorted(table))}.{hint}")


def scenario_spec(scenario_id: str) -> ScenarioSpec:
    """The registered spec of ``scenario_id`` (``UnknownIdError`` with hints if absent)."""
    return _lookup(SCENARIOS, "scenario", scenario_id)


def policy_spec(policy_id: str) -> PolicySpec:
    """The registered spec of ``policy_id`` (``UnknownIdError`` with hints if absent)."""
    return _lookup(POLICIES, "policy", policy_id)


def make_scenario(scenario_id: str, **overrides: Any) -> Scenario:
    """Build a registered scenario with parameter overrides.

    Examples
    --------
    >>> from optalloc import make_scenario
    >>> make_scenario("beds/seed002-v0", horizon=5).horizon
    5
    """
    spec = scenario_spec(scenario_id)
    return load_entry_point(spec.entry_point)(**spec.kwargs, **overrides)


def make_policy(policy_id: str, **params: Any) -> Policy:
    """Build a registered policy (unfitted) with hyperparameters."""
    spec = policy_spec(policy_id)
    try:
        cls = load_entry_point(spec.entry_point)
    except ImportError as exc:
        from optalloc.exceptions import DependencyNotInstalled

        extra = {"torch": "rl", "stable_baselines3": "sb3"}
        hints = sorted({extra.get(r, r) for r in spec.requires if r in extra})
        how = (f"pip install torch==2.13.0 && pip install \"optalloc[{','.join(hints)}]\"" if hints
               else "pip install optalloc")
        raise DependencyNotInstalled(f"Policy {policy_id!r} needs {exc.name or exc}, which is not installed: {how}") from None
    valid = cls._param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        from optalloc.exceptions import ConfigurationError

        hints = "".join(
            f" Did you mean {m[0]!r}?" for m in (difflib.get_close_matches(u, valid, n=1) for u in unknown) if m
        )
        raise ConfigurationError(
            f"Unknown parameter(s) {unknown} for policy {policy_id!r}; expected some of {valid}.{hints}"
        )
    policy = cls(**params)
    policy.policy_id = policy_id
    return policy


def list_scenarios() -> list[ScenarioSpec]:
    """All registered scenarios, sorted by id."""
    return [SCENARIOS[k] for k in sorted(SCENARIOS)]


def list_policies() -> list[PolicySpec]:
    """All registered policies, sorted by id."""
    return [POLICIES[k] for k in sorted(POLICIES)]


# ---------------------------------------------------------------- built-ins
for _preset, _text in (
    ("seed002-v0", "Bed expansion of Kabir et al. (2021): deterministic 1.2 %/yr growth, 30 years, undiscounted"),
    ("stochastic-v0", "Bed expansion with random growth, epidemic surges, operating cost, 3 % discounting"),
):
    register_scenario(ScenarioSpec(f"beds/{_preset}", "optalloc.scenarios.beds:make", {"preset": _preset}, _text))

for _spec in (
    PolicySpec("rigid", "optalloc.policies.heuristics:RigidPolicy",
               "Fixed k beds a year; fit grid-searches k on training paths", {"train_episodes": 20}),
    PolicySpec("complaint", "optalloc.policies.heuristics:ComplaintPolicy",
               "Adds min(limit, round(delta x last year's unattended patient-days)); fit grid-searches delta",
               {"train_episodes": 20, "grid_size": 11}),
    PolicySpec("dp", "optalloc.policies.dp:DPPolicy", "Exact optimum by backward induction on the tabular model"),
    PolicySpec("milp", "optalloc.formulations.bed_policies:MILPPolicy",
               "Open-loop expected-value capacity plan (Pyomo MILP, HiGHS)", requires=("pyomo", "highspy")),
    PolicySpec("milp-rolling", "optalloc.formulations.bed_policies:RollingMILPPolicy",
               "Expected-value MILP re-solved each year from the current state (model predictive control)",
               requires=("pyomo", "highspy")),
    PolicySpec("hindsight", "optalloc.formulations.bed_policies:HindsightPolicy",
               "Oracle bound: the optimal plan for the episode's own realised demands (a bound, not a policy)",
               requires=("pyomo", "highspy")),
    # Deep RL (torch). test_params: a few hundred env steps, no DP optimum, tiny evaluation.
    PolicySpec("ppo", "optalloc.rl.ppo:PPOPolicy",
               "Proximal policy optimisation with invalid-action masking (batched vector env, CleanRL style)",
               {"total_timesteps": 96, "num_envs": 8, "num_steps": 6, "num_minibatches": 2, "update_epochs": 2,
                "hidden_sizes": [16, 16], "eval_episodes": 2, "compute_optimum": False},
               requires=("torch",)),
    PolicySpec("a2c", "optalloc.rl.a2c:A2CPolicy",
               "Advantage actor-critic as in the beds seed paper (lr 1e-4, gamma 0.99, 4,000 episodes)",
               {"total_timesteps": 96, "num_envs": 8, "num_steps": 6, "hidden_sizes": [16, 16],
                "eval_episodes": 2, "compute_optimum": False},
               requires=("torch",)),
    PolicySpec("dqn", "optalloc.rl.dqn:DQNPolicy",
               "Deep Q-learning with replay, target network and masked epsilon-greedy exploration",
               {"total_timesteps": 96, "num_envs": 8, "buffer_size": 96, "batch_size": 8, "learning_starts": 16,
                "train_frequency": 8, "target_network_frequency": 32, "hidden_sizes": [16, 16],
                "eval_episodes": 2, "compute_optimum": False},
               requires=("torch",)),
    PolicySpec("sb3-ppo", "optalloc.rl.sb3:SB3PPOPolicy",
               "stable-baselines3 PPO (MlpPolicy on a DummyVecEnv of AllocationEnv; no action masking), acting greedily",
               {"total_timesteps": 64, "n_envs": 2, "n_steps": 16, "batch_size": 16, "n_epochs": 1,
                "net_arch": [16, 16]},
               requires=("torch", "stable_baselines3")),
):
    register_policy(_spec)
