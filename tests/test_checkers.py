"""The public checkers catch deliberately broken policies and scenarios."""

from __future__ import annotations

import numpy as np
import pytest

import optalloc as oa
from optalloc.evaluation import InfeasibleActionError
from optalloc.families.beds.heuristics import RigidPolicy
from optalloc.testing import (
    ToyScenario,
    check_actions_feasible,
    check_does_not_mutate_scenario,
    check_noise_paths,
    check_rejects_unsupported_scenario,
    check_seed_determinism,
    check_unfitted_raises,
)


@pytest.fixture
def scenario():
    return oa.make_scenario("beds/seed002-v0", horizon=4)


class TooMany(RigidPolicy):
    """Adds one bed more than the action space allows."""

    def act_batch(self, observations, infos):
        return np.full(len(observations), infos["action_mask"].shape[1], dtype=np.int64)


class Unseeded(RigidPolicy):
    """Random actions from global entropy: not reproducible."""

    def act_batch(self, observations, infos):
        return np.random.default_rng().integers(0, 3, size=len(observations))


class Mutating(RigidPolicy):
    """Changes the scenario while fitting."""

    def _fit(self, scenario, seed):
        object.__setattr__(scenario, "params", type(scenario.params)(horizon=scenario.params.horizon, bed_cost=1.0))
        super()._fit(scenario, seed)


class NoGuard(RigidPolicy):
    """Acts before fit without complaint."""

    def act_batch(self, observations, infos):
        return np.zeros(len(observations), dtype=np.int64)


class AnyFamily(RigidPolicy):
    supported_families = ("beds",)

    def fit(self, scenario, *, seed=None):  # skips the family check
        self.scenario_spec_ = scenario.spec()
        self.fit_seed_ = seed
        self._scenario = scenario
        self.k_ = 0
        return self


def test_infeasible_actions_are_caught(scenario):
    with pytest.raises(InfeasibleActionError, match="infeasible action 11 in epoch 0"):
        check_actions_feasible(TooMany(k=1), scenario)


def test_nondeterminism_is_caught(scenario):
    with pytest.raises(AssertionError, match="different actions"):
        check_seed_determinism(Unseeded(k=1), scenario)


def test_mutation_is_caught(scenario):
    with pytest.raises(AssertionError, match="mutated"):
        check_does_not_mutate_scenario(Mutating(k=1), scenario)


def test_missing_fit_guard_is_caught(scenario):
    with pytest.raises(AssertionError, match="before fit"):
        check_unfitted_raises(NoGuard(k=1), scenario)


def test_accepting_foreign_family_is_caught(scenario):
    with pytest.raises(AssertionError, match="unsupported family"):
        check_rejects_unsupported_scenario(AnyFamily(k=1), scenario)


def test_noise_depending_on_batch_size_is_caught():
    class BatchDependent(ToyScenario):
        def sample_noise(self, seed, episodes, stream="evaluate"):
            rng = np.random.default_rng(seed)
            return {"eps": rng.random((episodes, self.horizon))}

    with pytest.raises(AssertionError):
        check_noise_paths(BatchDependent("toy/bad-v0"))


def test_good_policy_passes_all(scenario):
    from optalloc.testing import check_policy

    check_policy(oa.make_policy("rigid", k=3), scenario)
