"""evaluate(): common random numbers, confidence intervals, paired differences, bounds.

On the toy scenarios, whose costs follow from the sampled noise by hand and
whose optima are known independently (``brute_force_optimum``,
``newsvendor_optimum``).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from toy_family.scenario import brute_force_optimum, newsvendor_optimum
from toy_family.simple_policies import FixedHelpersPolicy, TowardPolicy

import optalloc as oa
from optalloc.evaluation import mean_ci


@pytest.fixture(scope="module")
def walk():
    return oa.make_scenario("toy/walk-v0", horizon=6)


@pytest.fixture(scope="module")
def pool():
    return oa.make_scenario("toy/pool-v0")


def toward_costs(scenario, cell: int, targets: np.ndarray) -> np.ndarray:
    """Total cost of each episode of walking to ``cell`` (one step per epoch, then staying), by hand."""
    p = scenario.params
    steps = np.arange(1, scenario.horizon + 1)
    far = abs(cell - p.start)
    position = p.start + np.sign(cell - p.start) * np.minimum(steps, far)
    return (np.abs(position - targets) + p.step_cost * (steps <= far)).sum(axis=1)


def episode_costs(result, name: str) -> np.ndarray:
    return result.episodes[result.episodes.policy == name].total_cost.to_numpy()


def test_mean_ci_matches_scipy():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=37)
    mean, half = mean_ci(x)
    low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert mean == pytest.approx(x.mean()) and half == pytest.approx((high - low) / 2)


# ---------------------------------------------------------------- common random numbers
def test_identical_policies_see_identical_futures(walk):
    result = oa.evaluate({"a": TowardPolicy(cell=1), "b": TowardPolicy(cell=1)}, walk, episodes=30, seed=3)
    np.testing.assert_array_equal(episode_costs(result, "a"), episode_costs(result, "b"))
    assert result.summary.set_index("policy").loc["b", "diff_ci95"] == 0


def test_every_policy_is_scored_on_the_sampled_targets(walk):
    """Two different policies both pay for exactly the targets of ``sample_noise(seed, episodes)``."""
    result = oa.evaluate({"stay": TowardPolicy(cell=0), "far": TowardPolicy(cell=4)}, walk, episodes=25, seed=5)
    targets = walk.sample_noise(5, 25)["target"]
    for name, cell in (("stay", 0), ("far", 4)):
        np.testing.assert_allclose(episode_costs(result, name), toward_costs(walk, cell, targets), rtol=1e-12)
    # A path depends on (seed, episode) only: a shorter evaluation scores the first episodes again.
    fewer = oa.evaluate({"far": TowardPolicy(cell=4)}, walk, episodes=10, seed=5)
    np.testing.assert_array_equal(episode_costs(fewer, "far"), episode_costs(result, "far")[:10])
    other = oa.evaluate({"far": TowardPolicy(cell=4)}, walk, episodes=25, seed=6)
    assert not np.array_equal(episode_costs(other, "far"), episode_costs(result, "far"))


def test_paired_difference_is_the_mean_of_episode_differences(walk):
    result = oa.evaluate({"low": TowardPolicy(cell=0), "high": TowardPolicy(cell=1)}, walk, episodes=40, seed=1,
                         reference="low")
    ep = result.episodes.pivot(index="episode", columns="policy", values="total_cost")
    diff = (ep["high"] - ep["low"]).to_numpy()
    summary = result.summary.set_index("policy")
    row = summary.loc["high"]
    assert row["diff_vs_low"] == pytest.approx(diff.mean())
    assert row["diff_ci95"] == pytest.approx(mean_ci(diff)[1])
    # By hand: each epoch costs E|1 - D| - E|0 - D| more at cell 1 than at cell 0, plus one step to get there.
    targets = np.arange(walk.params.size)
    expected = walk.horizon * (np.abs(1 - targets).mean() - targets.mean()) + walk.params.step_cost
    assert abs(row["diff_vs_low"] - expected) <= 2 * row["diff_ci95"]
    # Pairing removes the common noise: the paired CI is narrower than an unpaired one on the same episodes.
    unpaired = np.hypot(summary.loc["low", "ci95"], summary.loc["high", "ci95"])
    assert row["diff_ci95"] < unpaired


# ---------------------------------------------------------------- bounds
@pytest.mark.parametrize("overrides", [{}, {"size": 3, "horizon": 5}, {"start": 4, "step_cost": 1.5},
                                       {"size": 2, "horizon": 7, "step_cost": 0.0},
                                       {"size": 6, "horizon": 8, "start": 5, "step_cost": 0.1}])
def test_dp_optimum_is_the_brute_force_optimum_and_what_its_rollouts_cost(overrides):
    scenario = oa.make_scenario("toy/walk-v0", **overrides)
    dp = oa.make_policy("dp").fit(scenario)
    assert dp.expected_cost_ == pytest.approx(brute_force_optimum(scenario), rel=1e-12)
    # The table solves the tabular model; the simulated rollouts of that table cost the same in expectation.
    row = oa.evaluate({"dp": dp}, scenario, episodes=300, seed=4).summary.iloc[0]
    assert abs(row["mean_cost"] - dp.expected_cost_) <= 2 * row["ci95"]


def test_bound_prefers_the_exact_optimum_then_hindsight(walk):
    optimum = brute_force_optimum(walk)
    with_dp = oa.evaluate({"dp": "dp", "hindsight": "hindsight", "stay": TowardPolicy(cell=0)}, walk,
                          episodes=30, seed=0)
    assert with_dp.bound_kind == "exact optimum (dp)"
    assert with_dp.bound == pytest.approx(optimum, rel=1e-12)
    stay = with_dp.summary.set_index("policy").loc["stay"]
    assert stay["gap_to_bound_pct"] == pytest.approx(100 * (stay["mean_cost"] - optimum) / optimum)
    # The perfect-information plan is optimal on each path: no policy beats it on any episode.
    hind = episode_costs(with_dp, "hindsight")
    np.testing.assert_allclose(hind, walk.perfect_information(walk.sample_noise(0, 30))[1], rtol=1e-12)
    assert (hind <= episode_costs(with_dp, "dp") + 1e-12).all() and (hind <= episode_costs(with_dp, "stay")).all()

    without = oa.evaluate({"hindsight": "hindsight", "stay": TowardPolicy(cell=0)}, walk, episodes=30, seed=0)
    assert without.bound_kind == "hindsight mean (hindsight)"
    assert without.bound == pytest.approx(hind.mean())
    assert without.summary.set_index("policy").loc["hindsight", "role"] == "bound"
    none = oa.evaluate({"stay": TowardPolicy(cell=0)}, walk, episodes=5, seed=0)
    assert none.bound is None and np.isnan(none.summary.gap_to_bound_pct[0])


# ---------------------------------------------------------------- seeds and streams
def test_same_seed_same_numbers_and_training_paths_differ(walk):
    a = oa.evaluate({"grid": TowardPolicy()}, walk, episodes=15, seed=9).episodes.total_cost.to_numpy()
    b = oa.evaluate({"grid": TowardPolicy()}, walk, episodes=15, seed=9).episodes.total_cost.to_numpy()
    np.testing.assert_array_equal(a, b)
    train = walk.sample_noise(9, 3, stream="train")
    test = walk.sample_noise(9, 3)
    assert not all(np.array_equal(train[k], test[k]) for k in train)


# ---------------------------------------------------------------- vector actions
def test_vector_actions_costs_kpis_and_epoch_actions(pool):
    optimum, best = newsvendor_optimum(pool)
    plans = {"newsvendor": tuple(best), "one each": (1, 1)}
    result = oa.evaluate({name: FixedHelpersPolicy(helpers=h) for name, h in plans.items()}, pool, episodes=200,
                         seed=2)
    demand = pool.sample_noise(2, 200)["demand"]  # (episodes, shifts, units)
    summary = result.summary.set_index("policy")
    for name, helpers in plans.items():
        short = np.maximum(demand - np.asarray(helpers), 0)
        cost = pool.params.hire_cost * sum(helpers) + short @ np.asarray(pool.params.short_cost)
        np.testing.assert_allclose(episode_costs(result, name), cost.sum(axis=1), rtol=1e-12)
        assert summary.loc[name, "uncovered"] == pytest.approx(short.sum(axis=(1, 2)).mean())
    # The per-unit newsvendor quantities are optimal: their mean estimates the optimum, and the other plan costs more.
    assert abs(summary.loc["newsvendor", "mean_cost"] - optimum) <= 2 * summary.loc["newsvendor", "ci95"]
    worse = summary.loc["one each"]
    assert worse["diff_vs_newsvendor"] - worse["diff_ci95"] > 0
    means = result.epoch_actions(pool.action_table()).set_index(["policy", "component"])["mean"]
    for name, helpers in plans.items():
        for unit, count in zip(pool.action_table().components, helpers):
            np.testing.assert_array_equal(means[name, unit], [count] * pool.horizon)
