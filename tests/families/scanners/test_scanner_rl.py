"""optalloc's PPO and DQN on the CT-scanner family: masked actions, and the exact DP's expected revenue within 1 %.

The tuned hyper-parameters are read from the benchmark suite ``benchmarks/suites/scanners/scanners_rl.toml``,
so the suite and these checks train the same agents.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optalloc as oa  # noqa: E402
from optalloc.bench import load_suite  # noqa: E402
from optalloc.rl.policy import scale_observations, training_threads  # noqa: E402

SUITE = Path(__file__).resolve().parents[3] / "benchmarks" / "suites" / "scanners" / "scanners_rl.toml"
#: Training budget per seed the suite promises [CPU seconds].
CPU_BUDGET = 120.0
#: Evaluation days, as in the suite.
EPISODES = 20_000


def tuned_params(algo: str) -> dict:
    """Hyper-parameters of ``algo`` in the suite (the same for every training seed)."""
    return load_suite(SUITE).policy_params(algo)


def visited(scenario, episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw observations and action masks of every slot of ``episodes`` days of uniformly random feasible play."""
    rng = np.random.default_rng(seed)
    noise = scenario.sample_noise(seed, episodes, "validate")
    state = scenario.initial_state(episodes)
    observations, masks = [], []
    for t in range(scenario.horizon):
        mask = scenario.action_mask(t, state)
        observations.append(scenario.observe(t, state))
        masks.append(mask)
        action = np.argmax(np.where(mask, rng.random(mask.shape), -1.0), axis=1)
        state, _, _ = scenario.step(t, state, action, {k: v[:, t] for k, v in noise.items()})
    return np.concatenate(observations), np.concatenate(masks)


def act(policy, observations: np.ndarray, mask: np.ndarray) -> np.ndarray:
    n = len(observations)
    return policy.act_batch(observations, {"action_mask": mask, "episode": np.arange(n),
                                           "epoch": observations[:, 0].astype(np.int64)})


# ---------------------------------------------------------------- a tiny budget: the agents run and obey masks
TINY = {
    "ppo": {"total_timesteps": 640, "num_envs": 16, "num_steps": 20},
    "dqn": {"total_timesteps": 640, "num_envs": 16, "learning_starts": 160, "batch_size": 32},
}


@pytest.mark.parametrize("algo", sorted(TINY))
def test_a_tiny_budget_trains_and_only_ever_picks_feasible_actions(algo, two_scanners):
    """Training on the batched env (which refuses an infeasible action) ends, and the greedy policy obeys any mask.

    The masks include adversarial ones: each row's feasible set without the network's unmasked favourite, so a
    policy that ignored the mask would be caught wherever that favourite is feasible.
    """
    policy = oa.make_policy(algo, eval_episodes=0, compute_optimum=False, **TINY[algo])
    policy.fit(two_scanners, seed=0)
    observations, mask = visited(two_scanners, 100, seed=1)
    rows = np.arange(len(mask))
    assert not mask.all() and (mask.sum(axis=1) == 1).any()  # the states met do constrain the choice

    actions = act(policy, observations, mask)
    assert mask[rows, actions].all()

    with torch.inference_mode():
        scores = policy.network_.scores(torch.from_numpy(scale_observations(observations, policy.obs_scale_)))
    favourite = scores.argmax(dim=1).numpy()
    assert np.array_equal(act(policy, observations, np.ones_like(mask)), favourite)
    without = mask.copy()
    without[rows, favourite] = False
    keep = without.any(axis=1)
    assert mask[rows[keep], favourite[keep]].any()  # some rows lose a feasible favourite
    chosen = act(policy, observations[keep], without[keep])
    assert without[keep][np.arange(keep.sum()), chosen].all()


# ---------------------------------------------------------------- the tuned agents reach the exact optimum
@pytest.mark.slow
@pytest.mark.parametrize("scenario_id", ["scanners/gocgun-v0", "scanners/gocgun-1scanner-v0"])
@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_tuned_agent_is_within_one_percent_of_the_dp_expected_revenue(algo, scenario_id):
    """Seed 0 of the suite's agent: mean net revenue over 20,000 days within 1 % of the DP's expected revenue.

    The reference is the DP's exact expected revenue (backward induction, not a simulation); the DP policy's
    own mean on the same days lands within its 95 % interval of it (the days are representative), and the
    best priority rule of the paper (O-2) misses it by more than 1 % (the bar is not met by a fixed rule).
    Training stays within the suite's CPU budget per seed.
    """
    scenario = oa.make_scenario(scenario_id)
    with training_threads(1):
        dp = oa.make_policy("dp").fit(scenario)
        optimum = -dp.expected_cost_
        agent = oa.make_policy(algo, **tuned_params(algo))
        start = time.process_time()
        agent.fit(scenario, seed=0)
        cpu = time.process_time() - start
        summary = oa.evaluate({algo: agent, "dp": dp, "o2": "o2"}, scenario, episodes=EPISODES,
                              seed=0).summary.set_index("policy")
    revenue = -summary["mean_cost"]
    assert abs(revenue["dp"] - optimum) <= summary.loc["dp", "ci95"]
    assert (optimum - revenue["o2"]) / optimum > 0.01
    gap = (optimum - revenue[algo]) / optimum
    assert gap <= 0.01, f"{algo} on {scenario_id}: gap {100 * gap:.2f} % (net revenue {revenue[algo]:.4f})"
    assert cpu < CPU_BUDGET, f"{algo} on {scenario_id} trained for {cpu:.0f} CPU s"


def test_learning_curve_gap_is_positive_for_a_policy_worse_than_the_revenue_optimum(one_scanner):
    # Costs here are minus revenues, so the optimum is negative: the gap divides by its magnitude and is
    # positive exactly where the greedy policy earns less than the optimum.
    policy = oa.make_policy("ppo", total_timesteps=256, num_envs=8, num_steps=4, hidden_sizes=[8],
                            eval_interval=128, eval_episodes=20).fit(one_scanner, seed=0)
    curve = policy.learning_curve_.dropna(subset=["eval_cost"])
    optimum = oa.make_policy("dp").fit(one_scanner).expected_cost_
    assert optimum < 0 and len(curve)
    np.testing.assert_allclose(curve["gap_to_optimum_pct"], 100 * (curve["eval_cost"] - optimum) / -optimum)
    assert (np.sign(curve["gap_to_optimum_pct"]) == np.sign(curve["eval_cost"] - optimum)).all()
