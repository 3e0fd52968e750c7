"""Longer learning checks (``pytest -m train``; skipped by default): PPO reaches the exact optimum's cost."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import optalloc as oa


@pytest.mark.train
def test_ppo_gets_within_one_percent_of_the_dp_optimum():
    """PPO on the 10-year seed instance, 60,000 env steps (about 10 s): within 1 % of the exact optimum.

    The optimum is the DP's expected cost; the PPO policy's cost is its mean on
    4,000 fresh paths, on which the DP policy itself lands within 0.05 % of its
    expectation (so sampling error is far below the 1 % allowed).
    """
    scenario = oa.make_scenario("beds/seed002-v0", horizon=10)
    dp = oa.make_policy("dp").fit(scenario)
    optimum = dp.expected_cost_
    paths = scenario.sample_noise(12345, 4000)
    assert oa.rollout(dp, scenario, paths).total_cost.mean() == pytest.approx(optimum, rel=5e-4)
    ppo = oa.make_policy("ppo", total_timesteps=60_000, num_envs=64, num_steps=10, eval_episodes=200,
                         eval_interval=10_000).fit(scenario, seed=0)
    cost = oa.rollout(ppo, scenario, paths).total_cost.mean()
    rigid = oa.rollout(oa.make_policy("rigid", k=10).fit(scenario), scenario, paths).total_cost.mean()
    assert rigid > 1.05 * optimum  # the problem is not solved by the obvious rule
    assert cost < 1.01 * optimum, 100 * (cost / optimum - 1)
