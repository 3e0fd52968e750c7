"""evaluate(): common random numbers, confidence intervals, paired differences, bounds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import optalloc as oa
from optalloc.evaluation import mean_ci


@pytest.fixture(scope="module")
def short():
    return oa.make_scenario("beds/stochastic-v0", horizon=6)


def test_mean_ci_matches_scipy():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=37)
    mean, half = mean_ci(x)
    low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert mean == pytest.approx(x.mean()) and half == pytest.approx((high - low) / 2)


def test_identical_policies_see_identical_futures(short):
    result = oa.evaluate({"a": oa.make_policy("rigid", k=4), "b": oa.make_policy("rigid", k=4)}, short,
                         episodes=30, seed=3)
    a = result.episodes[result.episodes.policy == "a"].total_cost.to_numpy()
    b = result.episodes[result.episodes.policy == "b"].total_cost.to_numpy()
    np.testing.assert_array_equal(a, b)
    assert result.summary.set_index("policy").loc["b", "diff_ci95"] == 0


def test_paired_difference_is_the_mean_of_episode_differences(short):
    result = oa.evaluate({"low": oa.make_policy("rigid", k=2), "high": oa.make_policy("rigid", k=6)}, short,
                         episodes=40, seed=1, reference="low")
    ep = result.episodes.pivot(index="episode", columns="policy", values="total_cost")
    diff = (ep["high"] - ep["low"]).to_numpy()
    row = result.summary.set_index("policy").loc["high"]
    assert row["diff_vs_low"] == pytest.approx(diff.mean())
    assert row["diff_ci95"] == pytest.approx(mean_ci(diff)[1])
    # Pairing removes the common noise: the paired CI is narrower than the unpaired one.
    assert row["diff_ci95"] < row["ci95"]


def test_bound_prefers_the_exact_optimum_then_hindsight(short):
    with_dp = oa.evaluate(["dp", "hindsight", "rigid"], short, episodes=20, seed=0)
    assert with_dp.bound_kind == "exact optimum (dp)"
    assert with_dp.bound == pytest.approx(oa.make_policy("dp").fit(short).expected_cost_)
    without = oa.evaluate(["hindsight", "rigid"], short, episodes=20, seed=0)
    assert without.bound_kind == "hindsight mean (hindsight)"
    hind = without.episodes[without.episodes.policy == "hindsight"].total_cost.mean()
    assert without.bound == pytest.approx(hind)
    assert without.summary.set_index("policy").loc["hindsight", "role"] == "bound"
    none = oa.evaluate(["rigid"], short, episodes=5, seed=0)
    assert none.bound is None and np.isnan(none.summary.gap_to_bound_pct[0])


def test_same_seed_same_numbers_and_training_paths_differ(short):
    a = oa.evaluate(["complaint"], short, episodes=15, seed=9).episodes.total_cost.to_numpy()
    b = oa.evaluate(["complaint"], short, episodes=15, seed=9).episodes.total_cost.to_numpy()
    np.testing.assert_array_equal(a, b)
    train = short.sample_noise(9, 3, stream="train")
    test = short.sample_noise(9, 3)
    assert not all(np.array_equal(train[k], test[k]) for k in train)
