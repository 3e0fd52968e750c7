"""The public checkers catch deliberately broken policies and scenarios, built on the toy family.

Each broken subject breaks one rule; the test asserts the check's exact
message (or a regex where the message holds sampled numbers). The healthy toy
scenarios and policies pass every check that applies to them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from toy_family.scenario import PoolScenario, WalkScenario, newsvendor_optimum

import optalloc as oa
from optalloc.actions import ActionTable, mask_rows
from optalloc.exceptions import OptallocError, UnknownIdError, UnsupportedScenarioError
from optalloc.kpis import KPISpec
from optalloc.policies.dp import DPPolicy
from optalloc.policy import Policy, epochs_of
from optalloc.registry import POLICIES, PolicySpec
from optalloc.scenario import STREAMS
from optalloc.tabular import TabularModel
from optalloc.tags import PolicyTags, ScenarioTags
from optalloc.testing import (
    PASSED,
    CheckNotApplicable,
    check_action_table,
    check_actions_feasible,
    check_does_not_mutate_scenario,
    check_dp_optimum_matches_rollout,
    check_exact_cost_matches_rollout,
    check_fit_returns_self,
    check_kpis,
    check_metadata,
    check_noise_paths,
    check_oracle_needs_noise,
    check_perfect_information,
    check_policy,
    check_refuses_scenario,
    check_save_load_roundtrip,
    check_scenario,
    check_seed_determinism,
    check_spaces,
    check_step,
    check_tabular_model,
    check_tags,
    check_unfitted_raises,
    iter_checks,
    parametrize_with_checks,
)
from optalloc.testing._core import random_rollout


def exactly(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern for exactly ``message``."""
    return f"^{re.escape(message)}$"


@pytest.fixture
def walk():
    return oa.make_scenario("toy/walk-v0")


@pytest.fixture
def pool():
    return oa.make_scenario("toy/pool-v0")


# ---------------------------------------------------------------- healthy toy policies
class Stay(Policy):
    """Stays where it is on the walk (action 1, always feasible)."""

    tags = PolicyTags(families=frozenset({"toy"}))

    def __init__(self, k: int = 1) -> None:
        self.k = k

    def act_batch(self, observations, infos):
        self._check_fitted()
        return np.ones(len(observations), dtype=np.int64)


class Newsvendor(Policy):
    """Hires each unit's newsvendor quantile on the pool: the exact optimum, with its closed-form cost."""

    tags = PolicyTags(exact=True, families=frozenset({"toy"}), action_kinds=frozenset({"multi_discrete"}))

    def _fit(self, scenario, seed):
        cost, helpers = newsvendor_optimum(scenario)
        self.expected_cost_ = cost
        self.helpers_ = np.array(helpers, dtype=np.int64)

    def act_batch(self, observations, infos):
        self._check_fitted()
        return np.tile(self.helpers_, (len(observations), 1))


class WalkOracle(Policy):
    """Follows each episode's hindsight plan on the walk; refuses to act without the noise."""

    tags = PolicyTags(information="oracle", families=frozenset({"toy"}))

    def reset(self, *, seed=None, noise=None):
        super().reset(seed=seed, noise=noise)
        self._plans = None if noise is None else self._scenario.perfect_information(noise)[0]

    def act_batch(self, observations, infos):
        self._check_fitted()
        if self._plans is None:
            raise OptallocError("WalkOracle is an oracle: call reset(noise=...) first.")
        return self._plans[np.asarray(infos["episode"]), epochs_of(infos, len(observations))]


@pytest.fixture
def registered(monkeypatch):
    """Register test policies of this module, so save/load can rebuild them."""

    def register(policy_id: str, cls: type) -> Policy:
        monkeypatch.setitem(POLICIES, policy_id, PolicySpec(policy_id, f"{__name__}:{cls.__name__}"))
        return oa.make_policy(policy_id)

    return register


def test_healthy_toy_scenarios_pass_every_check(walk, pool):
    assert check_scenario(walk) == {name: PASSED for name in (
        "check_tags", "check_spaces", "check_noise_paths", "check_step", "check_kpis", "check_action_table",
        "check_tabular_model", "check_dp_optimum_matches_rollout", "check_perfect_information")}
    outcomes = check_scenario(pool)
    assert [k for k, v in outcomes.items() if v == PASSED] == [
        "check_tags", "check_spaces", "check_noise_paths", "check_step", "check_kpis", "check_action_table"]
    assert outcomes["check_tabular_model"] == \
        "not applicable: scenario toy/pool-v0 does not offer the tabular_model capability"
    assert outcomes["check_perfect_information"] == \
        "not applicable: scenario toy/pool-v0 does not offer the perfect_information capability"


def test_healthy_policies_pass_every_check(walk, pool, registered):
    outcomes = check_policy(oa.make_policy("dp"), walk)
    assert outcomes == {
        "check_metadata": PASSED, "check_unfitted_raises": PASSED, "check_fit_returns_self": PASSED,
        "check_actions_feasible": PASSED, "check_seed_determinism": PASSED,
        "check_does_not_mutate_scenario": PASSED, "check_save_load_roundtrip": PASSED,
        "check_exact_cost_matches_rollout": PASSED,
        "check_oracle_needs_noise": "not applicable: policy dp is non_anticipative, not oracle",
        "check_refuses_scenario": "not applicable: policy dp accepts scenario toy/walk-v0",
    }
    # The pool's Monte Carlo cost agrees with the newsvendor closed form; save/load rebuilds the registered policy.
    outcomes = check_policy(registered("newsvendor", Newsvendor), pool)
    assert [k for k, v in outcomes.items() if v == PASSED] == [
        "check_metadata", "check_unfitted_raises", "check_fit_returns_self", "check_actions_feasible",
        "check_seed_determinism", "check_does_not_mutate_scenario", "check_save_load_roundtrip",
        "check_exact_cost_matches_rollout"]
    outcomes = check_policy(WalkOracle(), walk)
    assert outcomes["check_oracle_needs_noise"] == PASSED
    assert outcomes["check_save_load_roundtrip"] == \
        "skipped: policy WalkOracle is not registered, so a saved file cannot rebuild it"


# ---------------------------------------------------------------- broken scenarios
def test_family_other_than_the_id_prefix_is_caught():
    with pytest.raises(AssertionError, match=exactly(
            "tags.family 'toy' is not the family prefix 'other' of the scenario id 'other/walk-v0'")):
        check_tags(WalkScenario("other/walk-v0"))


def test_action_kind_other_than_the_space_is_caught():
    class Mislabelled(PoolScenario):
        tags = ScenarioTags(family="toy")

    with pytest.raises(AssertionError, match=exactly(
            "tags.action_kind 'discrete' does not match the action space MultiDiscrete([4 4]) ('multi_discrete')")):
        check_tags(Mislabelled("toy/pool-v0"))


def test_mask_of_one_row_per_action_is_caught_on_vector_actions():
    class OneColumnPerComponentValue(PoolScenario):
        def action_mask(self, t, state):
            return np.ones((len(state["t"]), self.params.cap + 1), dtype=bool)

    with pytest.raises(AssertionError, match=exactly(
            "action_mask gave bool of shape (3, 4) for 3 episodes; expected bool of shape (3, 8) for "
            "MultiDiscrete([4 4])")):
        check_spaces(OneColumnPerComponentValue("toy/pool-v0"))


def test_noise_depending_on_batch_size_is_caught():
    class BatchDependent(WalkScenario):
        """Draws epoch by epoch across the batch: episode i's path shifts with the number of episodes."""

        def sample_noise(self, seed, episodes, stream="evaluate"):
            rng = np.random.default_rng([seed, STREAMS[stream]])
            return {"target": rng.integers(0, self.params.size, (self.horizon, episodes)).T}

    with pytest.raises(AssertionError, match="^\nArrays are not equal\nnoise 'target' depends on the number of episodes"):
        check_noise_paths(BatchDependent("toy/walk-v0"))


def test_noise_ignoring_the_stream_is_caught():
    class OneStream(WalkScenario):
        def sample_noise(self, seed, episodes, stream="evaluate"):
            return super().sample_noise(seed, episodes)

    with pytest.raises(AssertionError, match=exactly("noise does not change with the seed or the stream")):
        check_noise_paths(OneStream("toy/walk-v0"))


def test_step_with_hidden_randomness_is_caught():
    class Noisy(WalkScenario):
        def step(self, t, state, action, noise):
            state, cost, info = super().step(t, state, action, noise)
            return state, cost + np.random.default_rng().random(len(cost)), info

    with pytest.raises(AssertionError, match="^\nArrays are not equal\nsame actions and noise gave different costs"):
        check_step(Noisy("toy/walk-v0"))


def test_info_without_batch_axis_is_caught():
    class Scalar(WalkScenario):
        def step(self, t, state, action, noise):
            state, cost, info = super().step(t, state, action, noise)
            return state, cost, {**info, "moves": info["moves"].sum()}

    with pytest.raises(AssertionError, match=exactly(
            "info 'moves' of epoch 0 has shape (), without the batch axis of 4 episodes")):
        check_step(Scalar("toy/walk-v0"))


def test_random_rollouts_respect_each_component_mask(pool):
    class CappedPool(PoolScenario):
        """Unit B may hire at most one helper; stepping more is an error, so check_step draws per component."""

        def action_mask(self, t, state):
            mask = super().action_mask(t, state)
            mask[:, self.params.cap + 1 + 2:] = False
            return mask

        def step(self, t, state, action, noise):
            if (np.asarray(action)[:, 1] > 1).any():
                raise ValueError("unit B hired more than one helper")
            return super().step(t, state, action, noise)

    capped = CappedPool("toy/pool-v0")
    check_step(capped)
    rollout = random_rollout(capped, capped.sample_noise(0, 200), 0)
    assert rollout.actions.shape == (200, capped.horizon, 2)
    mask = capped.action_mask(0, capped.initial_state(200 * capped.horizon))
    assert mask_rows(capped.action_space, mask, rollout.actions.reshape(-1, 2)).all()
    # every feasible choice of each component is drawn
    assert set(rollout.actions[..., 0].ravel()) == {0, 1, 2, 3} and set(rollout.actions[..., 1].ravel()) == {0, 1}


def test_kpis_and_kpi_specs_that_disagree_are_caught():
    class Renamed(WalkScenario):
        def kpi_specs(self):
            return {"moves": KPISpec("moves"), "steps": KPISpec("cells")}

    with pytest.raises(AssertionError, match=exactly(
            "kpis() returns ['moves', 'distance'] but kpi_specs() describes ['moves', 'steps']")):
        check_kpis(Renamed("toy/walk-v0"))


def test_kpi_format_that_cannot_show_a_value_is_caught():
    class IntegerFormat(WalkScenario):
        def kpi_specs(self):
            return {"moves": KPISpec("moves", fmt="{:d}"), "distance": KPISpec("cells")}

    with pytest.raises(AssertionError, match=r"^kpi_specs\(\)\['moves'\]\.format\([0-9.]+\) with fmt '\{:d\}' raised "
                                             r"ValueError: Unknown format code 'd' for object of type 'float'$"):
        check_kpis(IntegerFormat("toy/walk-v0"))


def test_action_table_of_another_size_is_caught():
    class TwoRows(WalkScenario):
        def action_table(self):
            return ActionTable(("left", "right"), np.array([[1, 0], [0, 1]]), "stepped")

    with pytest.raises(AssertionError, match=exactly("action_table() has 2 rows for the 3 actions of Discrete(3)")):
        check_action_table(TwoRows("toy/walk-v0"))


def test_action_table_that_does_not_round_trip_is_caught():
    class Ambiguous(WalkScenario):
        def action_table(self):
            return ActionTable(("left", "right"), np.array([[1, 0], [0, 0], [0, 0]]), "stepped")

    with pytest.raises(AssertionError, match=r"^\nArrays are not equal\nencode\(decode\(actions\)\) is not the actions"):
        check_action_table(Ambiguous("toy/walk-v0"))


def test_action_table_with_a_table_for_vector_actions_is_caught():
    class Tabled(PoolScenario):
        def action_table(self):
            return ActionTable(("unit A", "unit B"), np.array([[0, 0], [1, 1]]), "helpers")

    with pytest.raises(AssertionError, match=exactly(
            "action_table() of MultiDiscrete([4 4]) must have no table: its actions are the component counts")):
        check_action_table(Tabled("toy/pool-v0"))


def _walk_with_model(**changes):
    """A walk whose tabular model is the healthy one with some fields or stages changed."""

    class Changed(WalkScenario):
        def tabular_model(self):
            model = super().tabular_model()
            return replace(model, **{k: (v(model) if callable(v) else v) for k, v in changes.items()})

    return Changed("toy/walk-v0")


def test_tabular_cost_that_disagrees_with_step_is_caught():
    # The model forgets the cost of a move: its optimum is cheaper than what stepping its policy costs.
    class FreeMoves(WalkScenario):
        def tabular_model(self):
            return replace(super().tabular_model(), stage=lambda t: WalkScenario("toy/walk-v0", step_cost=0.0)
                           .tabular_model().stage(t))

    check_tabular_model(FreeMoves("toy/walk-v0"))  # the shapes are right: only the dynamics disagree
    with pytest.raises(AssertionError, match=r"^the DP optimum of the tabular model \(expected_cost_\) 5 lies outside "
                                             r"the 99% confidence interval 5\.\d+ \+- 0\.0\d+ of the mean cost of 4000 "
                                             r"rollouts$"):
        check_dp_optimum_matches_rollout(FreeMoves("toy/walk-v0"))


def test_tabular_index_that_is_not_the_state_order_is_caught():
    broken = _walk_with_model(index=lambda m: (lambda t, obs: m.index(t, obs) + 1))
    with pytest.raises(AssertionError, match=exactly(
            "index(0, observations(0)) is not arange(5): state 0 observed as [0.0] maps to 1")):
        check_tabular_model(broken)


def test_tabular_initial_index_of_another_state_is_caught():
    with pytest.raises(AssertionError, match=exactly(
            "initial_index is 1; index(0, initial observation [0.0]) is 0")):
        check_tabular_model(_walk_with_model(initial_index=1))


def test_tabular_stage_of_the_wrong_shape_is_caught():
    broken = _walk_with_model(stage=lambda m: (lambda t: (m.stage(t)[0], m.stage(t)[1][:, :2])))
    with pytest.raises(AssertionError, match=exactly("stage 0: C has shape (5, 2); expected (S_t, A) = (5, 3)")):
        check_tabular_model(broken)


def test_tabular_transitions_that_are_not_probabilities_are_caught():
    broken = _walk_with_model(stage=lambda m: (lambda t: (0.5 * m.stage(t)[0], m.stage(t)[1])))
    with pytest.raises(AssertionError, match=exactly(
            "stage 0: the transition row of state 0 and action 1 sums to 0.5, not 1")):
        check_tabular_model(broken)


def test_claimed_tabular_model_that_is_missing_is_caught():
    class Claims(PoolScenario):
        tags = ScenarioTags(family="toy", action_kind="multi_discrete", capabilities=frozenset({"tabular_model"}))

    with pytest.raises(AssertionError, match=exactly(
            "tabular_model() of scenario toy/pool-v0, whose tags offer it, raised UnsupportedScenarioError: "
            "Scenario 'toy/pool-v0' of family 'toy' has no exact tabular model.")):
        check_tabular_model(Claims("toy/pool-v0"))


def test_hindsight_costs_that_do_not_replay_are_caught():
    class Overstated(WalkScenario):
        def perfect_information(self, noise):
            actions, costs = super().perfect_information(noise)
            return actions, costs + 1.0

    scenario = Overstated("toy/walk-v0")
    actions, costs = WalkScenario("toy/walk-v0").perfect_information(scenario.sample_noise(12345, 32))
    with pytest.raises(AssertionError, match=exactly(
            f"perfect_information reports the cost {float(costs[0]) + 1.0!r} for episode 0; stepping its actions "
            f"costs {float(costs[0])!r}")):
        check_perfect_information(scenario)


def test_hindsight_plan_that_is_not_optimal_is_caught():
    class StaysPut(WalkScenario):
        """Reports 'stay at the start' as the hindsight plan, with its true cost: consistent, but beaten."""

        def perfect_information(self, noise):
            targets = noise["target"]
            return np.ones(targets.shape, dtype=np.int64), np.abs(self.params.start - targets).sum(axis=1) * 1.0

    with pytest.raises(AssertionError, match=r"^the hindsight cost \d+\.0 of episode \d+ exceeds the cost [\d.]+ of "
                                             r"random feasible actions on the same noise$"):
        check_perfect_information(StaysPut("toy/walk-v0"))


def test_hindsight_plan_that_is_infeasible_is_caught():
    class WalksOff(WalkScenario):
        def perfect_information(self, noise):
            actions, costs = super().perfect_information(noise)
            return np.zeros_like(actions), costs

    with pytest.raises(AssertionError, match=exactly(
            "perfect_information of scenario toy/walk-v0 chose infeasible action 0 in epoch 0 of episode 0; "
            "feasible: [1, 2].")):
        check_perfect_information(WalksOff("toy/walk-v0"))


# ---------------------------------------------------------------- broken policies
class Left(Stay):
    """Steps left from the start: off the walk."""

    def act_batch(self, observations, infos):
        self._check_fitted()
        return np.zeros(len(observations), dtype=np.int64)


class FloatActions(Stay):
    def act_batch(self, observations, infos):
        self._check_fitted()
        return np.ones(len(observations))


class Unseeded(Stay):
    """Random feasible moves from global entropy: not reproducible."""

    def act_batch(self, observations, infos):
        self._check_fitted()
        mask = infos["action_mask"]
        return np.where(mask, np.random.default_rng().random(mask.shape), -1).argmax(axis=1)


class KeepsItsGenerator(Stay):
    """Seeded at fit but never reset: a second rollout continues the first one's random stream."""

    def _fit(self, scenario, seed):
        self._rng = np.random.default_rng(seed)

    def act_batch(self, observations, infos):
        self._check_fitted()
        mask = infos["action_mask"]
        return np.where(mask, self._rng.random(mask.shape), -1).argmax(axis=1)


class Mutating(Stay):
    """Changes the scenario while fitting."""

    def _fit(self, scenario, seed):
        object.__setattr__(scenario, "params", replace(scenario.params, step_cost=9.0))


class NoGuard(Stay):
    """Acts before fit without complaint."""

    def act_batch(self, observations, infos):
        return np.ones(len(observations), dtype=np.int64)


class WrongGuard(Stay):
    def act_batch(self, observations, infos):
        if not self.is_fitted():
            raise RuntimeError("not ready")
        return super().act_batch(observations, infos)


class NotSelf(Stay):
    def fit(self, scenario, *, seed=None):
        super().fit(scenario, seed=seed)


class ChangesParams(Stay):
    def _fit(self, scenario, seed):
        self.k = 2


class TransformsParams(Stay):
    def __init__(self, k: int = 1) -> None:
        self.k = k + 1


class AnyKind(Stay):
    """Accepts both action kinds, but only knows Discrete spaces."""

    tags = PolicyTags(families=frozenset({"toy"}), action_kinds=frozenset({"discrete", "multi_discrete"}))

    def _fit(self, scenario, seed):
        self.n_ = int(scenario.action_space.n)


class FirstFeasible(Stay):
    """Accepts both action kinds and picks the first feasible mask column: one index, never a vector."""

    tags = AnyKind.tags

    def act_batch(self, observations, infos):
        self._check_fitted()
        return infos["action_mask"].argmax(axis=1)


class Sneaky(Stay):
    """Its tags refuse the pool (discrete actions only), but its fit skips the refusal."""

    def fit(self, scenario, *, seed=None):
        self.scenario_spec_ = scenario.spec()
        return self


class Vague(Stay):
    def fit(self, scenario, *, seed=None):
        raise UnsupportedScenarioError("No.")


class WrongRefusal(Stay):
    def fit(self, scenario, *, seed=None):
        raise KeyError(scenario.id)


class Forgets(Stay):
    """Plans a first step right, but keeps the plan in an attribute that is not saved."""

    def _fit(self, scenario, seed):
        self._first = 2

    def act_batch(self, observations, infos):
        self._check_fitted()
        t = epochs_of(infos, len(observations))
        return np.where(t == 0, getattr(self, "_first", 1), 1).astype(np.int64)


class Overconfident(DPPolicy):
    """Claims an optimum one unit below the true one."""

    def _fit(self, scenario, seed):
        super()._fit(scenario, seed)
        self.expected_cost_ -= 1.0


class Silent(Stay):
    tags = PolicyTags(exact=True, families=frozenset({"toy"}))


class Peeker(Stay):
    """An oracle that acts without the noise."""

    tags = PolicyTags(information="oracle", families=frozenset({"toy"}))


def test_infeasible_actions_are_caught(walk):
    with pytest.raises(AssertionError, match=exactly(
            "Policy Left chose infeasible action 0 in epoch 0 of episode 0; feasible: [1, 2].")):
        check_actions_feasible(Left(), walk)


def test_non_integer_actions_are_caught(walk):
    with pytest.raises(AssertionError, match=exactly(
            "Policy FloatActions must return 4 integer actions in epoch 0; got shape (4,) and dtype float64.")):
        check_actions_feasible(FloatActions(), walk)


def test_nondeterminism_under_a_seed_is_caught(walk):
    with pytest.raises(AssertionError, match=r"^Policy Unseeded: same seed gave different actions \(first at episode "
                                             r"\d, epoch \d: \d vs \d\)$"):
        check_seed_determinism(Unseeded(), walk)


def test_randomness_not_restarted_by_reset_is_caught(walk):
    with pytest.raises(AssertionError, match=r"^Policy KeepsItsGenerator: a second rollout with the same policy seed "
                                             r"gave different actions \(first at episode \d, epoch \d: \d vs \d\): "
                                             r"reset\(seed=\.\.\.\) must restart the policy's randomness and memory$"):
        check_seed_determinism(KeepsItsGenerator(), walk)


def test_mutation_is_caught(walk):
    with pytest.raises(AssertionError, match=exactly(
            "Policy Mutating changed the parameters of scenario toy/walk-v0 while fitting and acting")):
        check_does_not_mutate_scenario(Mutating(), walk)


def test_missing_fit_guard_is_caught(walk):
    with pytest.raises(AssertionError, match=exactly("Policy NoGuard acted before fit without raising NotFittedError")):
        check_unfitted_raises(NoGuard(), walk)


def test_unclear_fit_guard_is_caught(walk):
    with pytest.raises(AssertionError, match=exactly(
            "Policy WrongGuard: act_batch before fit, instead of NotFittedError, raised RuntimeError: not ready")):
        check_unfitted_raises(WrongGuard(), walk)


def test_fit_not_returning_self_is_caught(walk):
    with pytest.raises(AssertionError, match=exactly("Policy NotSelf: fit returned None, not the policy itself")):
        check_fit_returns_self(NotSelf(), walk)


def test_fit_changing_hyperparameters_is_caught(walk):
    with pytest.raises(AssertionError, match=exactly(
            "Policy ChangesParams: fit changed the hyperparameters from {'k': 1} to {'k': 2}")):
        check_fit_returns_self(ChangesParams(), walk)


def test_init_transforming_hyperparameters_is_caught(walk):
    with pytest.raises(AssertionError, match=exactly(
            "TransformsParams(**get_params()) has the parameters {'k': 3}, not {'k': 2}: __init__ must store its "
            "keywords unchanged")):
        check_metadata(TransformsParams(), walk)


def test_accepting_vector_actions_but_crashing_on_them_is_caught(pool):
    with pytest.raises(AssertionError, match=exactly(
            "Policy AnyKind: fit on scenario toy/pool-v0, which its tags accept, raised AttributeError: "
            "'MultiDiscrete' object has no attribute 'n'")):
        check_actions_feasible(AnyKind(), pool)
    with pytest.raises(AssertionError, match=exactly(
            "Policy FirstFeasible must return 4 integer action vectors of length 2 in epoch 0; got shape (4,) and "
            "dtype int64.")):
        check_actions_feasible(FirstFeasible(), pool)


def test_fitting_a_refused_scenario_is_caught(pool):
    with pytest.raises(AssertionError, match=exactly(
            "Policy Sneaky was fitted on scenario toy/pool-v0, which its tags refuse: it takes discrete actions, "
            "not multi_discrete")):
        check_refuses_scenario(Sneaky(), pool)


def test_refusal_without_the_reason_is_caught(pool):
    with pytest.raises(AssertionError, match=exactly(
            "Policy Vague: the refusal 'No.' does not give the reason of its tags: "
            "'it takes discrete actions, not multi_discrete'")):
        check_refuses_scenario(Vague(), pool)
    with pytest.raises(AssertionError, match=exactly(
            "Policy WrongRefusal: fit on scenario toy/pool-v0, which its tags refuse (it takes discrete actions, not "
            "multi_discrete), instead of UnsupportedScenarioError, raised KeyError: 'toy/pool-v0'")):
        check_refuses_scenario(WrongRefusal(), pool)


def test_healthy_refusal_passes(pool):
    check_refuses_scenario(Stay(), pool)
    check_refuses_scenario(oa.make_policy("dp"), pool)


def test_state_lost_on_save_is_caught(walk, registered):
    with pytest.raises(AssertionError, match=exactly(
            "Policy forgets: the reloaded policy acts differently (first at episode 0, epoch 0: 2 vs 1)")):
        check_save_load_roundtrip(registered("forgets", Forgets), walk)


def test_wrong_exact_cost_is_caught(walk):
    with pytest.raises(AssertionError, match=r"^Policy Overconfident: expected_cost_ 4\.6 lies outside the 99% "
                                             r"confidence interval 5\.\d+ \+- 0\.0\d+ of the mean cost of 4000 rollouts$"):
        check_exact_cost_matches_rollout(Overconfident(), walk)
    with pytest.raises(AssertionError, match=exactly(
            "Policy Silent is exact but its expected_cost_ is None, not a finite number")):
        check_exact_cost_matches_rollout(Silent(), walk)


def test_oracle_acting_without_noise_is_caught(walk):
    with pytest.raises(AssertionError, match=exactly(
            "Oracle Peeker acted without the episodes' noise instead of raising an OptallocError")):
        check_oracle_needs_noise(Peeker(), walk)


# ---------------------------------------------------------------- what applies, and to what
def test_checks_refuse_subjects_they_do_not_apply_to(walk, pool):
    with pytest.raises(CheckNotApplicable, match=exactly(
            "check_tabular_model cannot run on scenario toy/pool-v0: scenario toy/pool-v0 does not offer the "
            "tabular_model capability.")):
        check_tabular_model(pool)
    with pytest.raises(CheckNotApplicable, match=exactly(
            "check_actions_feasible cannot run on policy Stay on scenario toy/pool-v0: policy Stay refuses scenario "
            "toy/pool-v0: it takes discrete actions, not multi_discrete.")):
        check_actions_feasible(Stay(), pool)
    with pytest.raises(CheckNotApplicable, match=exactly(
            "check_save_load_roundtrip cannot run on policy Stay on scenario toy/walk-v0: policy Stay is not "
            "registered, so a saved file cannot rebuild it.")):
        check_save_load_roundtrip(Stay(), walk)
    with pytest.raises(CheckNotApplicable, match=exactly(
            "check_policy cannot run on policy Stay on scenario toy/pool-v0: the policy's tags refuse it (it takes "
            "discrete actions, not multi_discrete); check_refuses_scenario checks that refusal.")):
        check_policy(Stay(), pool)


def test_generated_cases_are_the_applicable_checks():
    ids = [case.id for case in iter_checks(["dp"], ["toy/walk-v0", "toy/pool-v0"])]
    assert ids == [
        *(f"toy/walk-v0-{name}" for name in (
            "check_tags", "check_spaces", "check_noise_paths", "check_step", "check_kpis", "check_action_table",
            "check_tabular_model", "check_dp_optimum_matches_rollout", "check_perfect_information")),
        *(f"toy/pool-v0-{name}" for name in (
            "check_tags", "check_spaces", "check_noise_paths", "check_step", "check_kpis", "check_action_table")),
        *(f"dp-toy/walk-v0-{name}" for name in (
            "check_metadata", "check_unfitted_raises", "check_fit_returns_self", "check_actions_feasible",
            "check_seed_determinism", "check_does_not_mutate_scenario", "check_save_load_roundtrip",
            "check_exact_cost_matches_rollout")),
        "dp-toy/pool-v0-check_refuses_scenario",
    ]
    oracle = [case.id for case in iter_checks([WalkOracle()], ["toy/walk-v0"], checks=["check_oracle_needs_noise",
                                                                                     check_metadata])]
    assert oracle == ["WalkOracle-toy/walk-v0-check_metadata", "WalkOracle-toy/walk-v0-check_oracle_needs_noise"]
    with pytest.raises(UnknownIdError, match="check_stepp"):
        iter_checks([], [], checks=["check_stepp"])


def test_cases_that_cannot_run_are_skipped_with_the_reason(monkeypatch):
    big = WalkScenario("toy/walk-v0", size=200, horizon=101)
    (case,) = iter_checks([], [big], checks=[check_dp_optimum_matches_rollout])
    assert case.skip == ("its tabular model has 20,200 states, more than the 20,000 a Monte Carlo comparison runs "
                         "on in a test")
    monkeypatch.setitem(POLICIES, "ghost", PolicySpec("ghost", "no_such_module_xyz:Ghost",
                                                      requires=("no_such_module_xyz",)))
    monkeypatch.setitem(POLICIES, "broken", PolicySpec("broken", "no_such_module_abc:Broken"))
    ghost, broken = iter_checks(["ghost", "broken"], [])
    assert (ghost.id, ghost.check, ghost.skip) == ("ghost", None, "policy ghost needs no_such_module_xyz, which is "
                                                                   "not installed")
    assert broken.id == "broken" and broken.skip is None
    with pytest.raises(AssertionError, match=exactly(
            "make_policy('broken', **test_params) raised DependencyNotInstalled: Policy 'broken' needs "
            "no_such_module_abc, which is not installed: pip install optalloc")):
        broken.check(None, None)


def test_parametrize_with_checks_gives_pytest_params_with_skip_marks():
    big = WalkScenario("toy/walk-v0", size=200, horizon=101)
    mark = parametrize_with_checks(["dp"], [big], checks=[check_dp_optimum_matches_rollout, check_actions_feasible])
    argnames, params = mark.args
    assert mark.name == "parametrize" and argnames == ("policy", "scenario", "check")
    assert [p.id for p in params] == ["toy/walk-v0-check_dp_optimum_matches_rollout",
                                      "dp-toy/walk-v0-check_actions_feasible"]
    (skip,) = params[0].marks
    assert skip.name == "skip" and skip.kwargs["reason"].startswith("its tabular model has 20,200 states")
    assert params[1].marks == () and params[1].values[0].policy_id == "dp" and params[1].values[1] is big


def test_testing_imports_without_pytest():
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'pytest', '_pytest'}:
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
import optalloc.testing as t
cases = t.iter_checks([], None, checks=['check_tags'])
print(len(cases) > 0, 'pytest' in sys.modules)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True False"


def test_check_scenario_needs_a_scenario():
    with pytest.raises(OptallocError, match="'scenario' argument must be a Scenario"):
        check_scenario("toy/walk-v0")


def test_tabular_model_of_another_type_is_caught():
    class Lookalike(WalkScenario):
        def tabular_model(self):
            return dict(vars(super().tabular_model()))

    assert isinstance(WalkScenario("toy/walk-v0").tabular_model(), TabularModel)
    with pytest.raises(AssertionError, match=r"^tabular_model\(\) gave \{.*\}, not a TabularModel$"):
        check_tabular_model(Lookalike("toy/walk-v0"))
