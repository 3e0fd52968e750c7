"""Public conformance checks for scenarios and policies.

Use them to test your own scenarios and policies the way optalloc tests its
built-ins::

    from optalloc.testing import check_policy, check_scenario
    check_scenario(make_scenario("beds/seed002-v0"))
    check_policy(make_policy("rigid"), make_scenario("beds/seed002-v0"))

Each check raises ``AssertionError`` with a message naming what failed.
:func:`policy_checks` and :func:`scenario_checks` list the individual checks
so a test suite can parametrise over them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from optalloc.exceptions import NotFittedError, UnsupportedScenarioError
from optalloc.policy import Policy
from optalloc.scenario import Scenario

EPISODES = 4
SEED = 12345


# ---------------------------------------------------------------- scenario checks
def check_spaces(scenario: Scenario) -> None:
    """Spaces are declared and the initial observation lies in the observation space."""
    assert isinstance(scenario.action_space, spaces.Space), "action_space must be a gymnasium Space"
    assert isinstance(scenario.observation_space, spaces.Space), "observation_space must be a gymnasium Space"
    obs = scenario.observe(0, scenario.initial_state(3))
    assert obs.shape == (3, *scenario.observation_space.shape), f"observe gave shape {obs.shape}"
    for row in obs:
        assert scenario.observation_space.contains(row), f"initial observation {row} outside {scenario.observation_space}"


def check_noise_paths(scenario: Scenario) -> None:
    """Same seed gives the same path; episode i's path does not depend on the number of episodes."""
    a = scenario.sample_noise(SEED, 5)
    b = scenario.sample_noise(SEED, 5)
    c = scenario.sample_noise(SEED, 3)
    d = scenario.sample_noise(SEED + 1, 5)
    train = scenario.sample_noise(SEED, 5, stream="train")
    differs = False
    for key in a:
        assert a[key].shape[:2] == (5, scenario.horizon), f"noise {key!r} has shape {a[key].shape}"
        np.testing.assert_array_equal(a[key], b[key], err_msg=f"noise {key!r} differs for the same seed")
        np.testing.assert_array_equal(a[key][:3], c[key], err_msg=f"noise {key!r} depends on the number of episodes")
        differs |= not np.array_equal(a[key], d[key]) and not np.array_equal(a[key], train[key])
    assert differs, "noise does not change with the seed or the stream"


def _random_rollout(scenario: Scenario, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    noise = scenario.sample_noise(SEED, EPISODES)
    state = scenario.initial_state(EPISODES)
    costs, observations = [], []
    for t in range(scenario.horizon):
        obs = scenario.observe(t, state)
        observations.append(obs)
        for row in obs:
            assert scenario.observation_space.contains(row), f"observation {row} outside the space in epoch {t}"
        mask = scenario.action_mask(t, state)
        assert mask.any(axis=1).all(), f"a state without feasible actions in epoch {t}"
        action = np.array([rng.choice(np.flatnonzero(m)) for m in mask])
        state, cost, info = scenario.step(t, state, action, scenario.noise_at(noise, t))
        assert cost.shape == (EPISODES,) and np.isfinite(cost).all(), f"cost {cost} in epoch {t}"
        for key, value in info.items():
            assert len(value) == EPISODES, f"info {key!r} lacks the batch axis"
        costs.append(cost)
    return np.stack(costs, axis=1), np.stack(observations, axis=1)


def check_step(scenario: Scenario) -> None:
    """Random feasible rollouts give finite costs, observations in space, and are reproducible."""
    fingerprint = scenario.fingerprint()
    c1, o1 = _random_rollout(scenario, 0)
    c2, o2 = _random_rollout(scenario, 0)
    np.testing.assert_array_equal(c1, c2, err_msg="same actions and noise gave different costs")
    np.testing.assert_array_equal(o1, o2, err_msg="same actions and noise gave different observations")
    assert scenario.fingerprint() == fingerprint, "stepping mutated the scenario's parameters"


def scenario_checks() -> list[Callable[[Scenario], None]]:
    """All scenario checks, in order."""
    return [check_spaces, check_noise_paths, check_step]


def check_scenario(scenario: Scenario) -> None:
    """Run every scenario check."""
    for check in scenario_checks():
        check(scenario)


# ---------------------------------------------------------------- policy checks
def clone(policy: Policy) -> Policy:
    """An unfitted copy with the same hyperparameters and id."""
    new = type(policy)(**policy.get_params())
    new.policy_id = policy.policy_id
    return new


def _actions(policy: Policy, scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    from optalloc.evaluation import rollout

    tr = rollout(policy, scenario, scenario.sample_noise(SEED, EPISODES))
    return tr.actions, tr.total_cost


def check_metadata(policy: Policy, scenario: Scenario) -> None:
    """Family and information set are among the documented values."""
    from optalloc.policy import FAMILIES, INFORMATION

    assert policy.family in FAMILIES, f"family {policy.family!r} is not one of {FAMILIES}"
    assert policy.information in INFORMATION, f"information {policy.information!r} is not one of {INFORMATION}"


def check_unfitted_raises(policy: Policy, scenario: Scenario) -> None:
    """Acting before ``fit`` raises ``NotFittedError``."""
    fresh = clone(policy)
    obs = scenario.observe(0, scenario.initial_state(1))
    mask = scenario.action_mask(0, scenario.initial_state(1))
    try:
        fresh.act_batch(obs, {"action_mask": mask, "episode": np.arange(1)})
    except NotFittedError:
        return
    raise AssertionError(f"{type(policy).__name__} acted before fit without raising NotFittedError")


def check_fit_returns_self(policy: Policy, scenario: Scenario) -> None:
    """``fit`` returns the policy itself."""
    fresh = clone(policy)
    assert fresh.fit(scenario, seed=0) is fresh, "fit must return self"


def check_actions_feasible(policy: Policy, scenario: Scenario) -> None:
    """Actions lie in the action space and the feasibility mask (the rollout validates each)."""
    actions, costs = _actions(clone(policy).fit(scenario, seed=0), scenario)
    assert actions.shape[:2] == (EPISODES, scenario.horizon)
    assert np.isfinite(costs).all()


def check_seed_determinism(policy: Policy, scenario: Scenario) -> None:
    """Fitting and rolling out twice with the same seed gives identical trajectories."""
    a1, c1 = _actions(clone(policy).fit(scenario, seed=0), scenario)
    a2, c2 = _actions(clone(policy).fit(scenario, seed=0), scenario)
    np.testing.assert_array_equal(a1, a2, err_msg="same seed gave different actions")
    np.testing.assert_array_equal(c1, c2, err_msg="same seed gave different costs")


def check_does_not_mutate_scenario(policy: Policy, scenario: Scenario) -> None:
    """Fitting and acting leave the scenario's parameters unchanged."""
    before = scenario.fingerprint(), scenario.spec()
    _actions(clone(policy).fit(scenario, seed=0), scenario)
    assert (scenario.fingerprint(), scenario.spec()) == before, "the policy mutated the scenario"


def check_save_load_roundtrip(policy: Policy, scenario: Scenario) -> None:
    """A saved and reloaded policy takes the same actions."""
    from optalloc.io import load_policy, save_policy

    if not policy.policy_id or scenario.id not in _registered_scenarios():
        return  # only registered policies on registered scenarios can be rebuilt from a file
    fitted = clone(policy).fit(scenario, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_policy(fitted, Path(tmp) / "policy.zip")
        loaded = load_policy(path)
    a1, c1 = _actions(fitted, scenario)
    a2, c2 = _actions(loaded, scenario)
    np.testing.assert_array_equal(a1, a2, err_msg="reloaded policy acts differently")
    np.testing.assert_array_equal(c1, c2)


def _registered_scenarios() -> set[str]:
    from optalloc.registry import SCENARIOS

    return set(SCENARIOS)


def check_rejects_unsupported_scenario(policy: Policy, scenario: Scenario) -> None:
    """Fitting on a scenario family the policy does not support raises a clear error."""
    toy = ToyScenario("toy/line-v0")
    if not policy.supported_families or toy.family in policy.supported_families:
        return
    try:
        clone(policy).fit(toy, seed=0)
    except UnsupportedScenarioError as exc:
        assert "toy" in str(exc), f"message does not name the family: {exc}"
        return
    raise AssertionError(f"{type(policy).__name__} accepted unsupported family 'toy'")


def policy_checks() -> list[Callable[[Policy, Scenario], None]]:
    """All policy checks, in order."""
    return [
        check_metadata,
        check_unfitted_raises,
        check_fit_returns_self,
        check_actions_feasible,
        check_seed_determinism,
        check_does_not_mutate_scenario,
        check_save_load_roundtrip,
        check_rejects_unsupported_scenario,
    ]


def check_policy(policy: Policy, scenario: Scenario) -> None:
    """Run every policy check."""
    for check in policy_checks():
        check(policy, scenario)


# ---------------------------------------------------------------- a tiny scenario
@dataclass(frozen=True)
class ToyParams:
    """A walk on 0..size-1: move left, stay or right; cost = position + noise."""

    size: int = 5
    horizon: int = 4


class ToyScenario(Scenario):
    """A family-``toy`` scenario for checking how policies treat foreign families."""

    family = "toy"
    params_class = ToyParams
    observation_names = ("t", "position")

    @property
    def horizon(self) -> int:
        return self.params.horizon

    @property
    def action_space(self) -> spaces.Discrete:
        return spaces.Discrete(3)

    @property
    def observation_space(self) -> spaces.Box:
        return spaces.Box(0.0, np.inf, shape=(2,), dtype=np.float64)

    def initial_state(self, n: int) -> dict[str, np.ndarray]:
        return {"t": np.zeros(n, dtype=np.int64), "pos": np.zeros(n, dtype=np.int64)}

    def sample_noise(self, seed: int, episodes: int, stream: str = "evaluate") -> dict[str, np.ndarray]:
        from optalloc.scenario import episode_generators

        return {"eps": np.stack([g.random(self.horizon) for g in episode_generators(seed, episodes, stream)])}

    def step(self, t: int, state: dict[str, np.ndarray], action: np.ndarray, noise: dict[str, np.ndarray]) -> Any:
        pos = np.clip(state["pos"] + np.asarray(action) - 1, 0, self.params.size - 1)
        cost = pos + noise["eps"]
        return {"t": state["t"] + 1, "pos": pos}, cost, {"pos": pos}

    def observe(self, t: int, state: dict[str, np.ndarray]) -> np.ndarray:
        return np.stack([state["t"], state["pos"]], axis=1).astype(float)

    def action_mask(self, t: int, state: dict[str, np.ndarray]) -> np.ndarray:
        return np.ones((len(state["pos"]), 3), dtype=bool)
