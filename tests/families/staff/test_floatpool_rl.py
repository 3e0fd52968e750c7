"""optalloc's PPO and A2C on the float-pool staffing scenarios: vector actions, per-component masks, the exact DP.

The tuned hyper-parameters are read from the benchmark suites ``benchmarks/suites/staff/floatpool.toml`` and
``floatpool_v0.toml``, so the suites and these checks train the same agents. References: the DP's exact expected cost (backward
induction on the tabular model), exact policy evaluation of the trained agent on that model
(``evaluate_on_model``, independent of :meth:`FloatPoolScenario.step`), and the card's float repair rule
written out here.
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

SUITES = Path(__file__).resolve().parents[3] / "benchmarks" / "suites" / "staff"
SUITE, V0_SUITE = SUITES / "floatpool.toml", SUITES / "floatpool_v0.toml"
#: Training budget per seed the suite promises [CPU seconds].
CPU_BUDGET = 120.0
#: Largest gap to the DP's expected cost the tuned agents may leave on floatpool-small-v0.
TARGET_GAP = 0.05
#: Evaluation periods on floatpool-small-v0 (the paired difference to the DP is known to about 2.6 USD).
EPISODES = 20_000


def tuned_params(algo: str, suite: Path = SUITE) -> dict:
    """Hyper-parameters of ``algo`` in ``suite`` (the same for every training seed)."""
    return load_suite(suite).policy_params(algo)


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_both_suites_train_the_same_agents(algo):
    assert tuned_params(algo, V0_SUITE) == tuned_params(algo, SUITE)


def component_slices(nvec: np.ndarray) -> list[slice]:
    """Columns of each action component in a concatenated per-component mask."""
    ends = np.cumsum(nvec)
    return [slice(int(e - n), int(e)) for n, e in zip(nvec, ends)]


def allowed(mask: np.ndarray, actions: np.ndarray, nvec: np.ndarray) -> np.ndarray:
    """Whether every component of each action vector is an allowed value of its own mask slice, ``(n,)``."""
    rows = np.arange(len(actions))
    ok = np.ones(len(actions), dtype=bool)
    for i, cols in enumerate(component_slices(nvec)):
        inside = (actions[:, i] >= 0) & (actions[:, i] < nvec[i])
        ok &= inside
        ok[inside] &= mask[:, cols][rows[inside], actions[inside, i]]
    return ok


def visited(scenario, episodes: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw observations, masks and epochs of every shift of ``episodes`` periods of random feasible play.

    Each component takes a uniformly random allowed value of its own mask, so floats beyond the pool
    are asked for too (the step repairs them).
    """
    rng = np.random.default_rng(seed)
    nvec = np.asarray(scenario.action_space.nvec)
    noise = scenario.sample_noise(seed, episodes, "validate")
    state = scenario.initial_state(episodes)
    observations, masks, epochs = [], [], []
    for t in range(scenario.horizon):
        mask = scenario.action_mask(t, state)
        observations.append(scenario.observe(t, state))
        masks.append(mask)
        epochs.append(np.full(episodes, t))
        action = np.stack([np.argmax(np.where(mask[:, cols], rng.random((episodes, n)), -1.0), axis=1)
                           for cols, n in zip(component_slices(nvec), nvec)], axis=1)
        state, _, _ = scenario.step(t, state, action, scenario.noise_at(noise, t))
    return np.concatenate(observations), np.concatenate(masks), np.concatenate(epochs)


def act(policy, observations: np.ndarray, mask: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    n = len(observations)
    return policy.act_batch(observations, {"action_mask": mask, "episode": np.arange(n), "epoch": epochs})


def repaired(floats: np.ndarray, pool: int) -> np.ndarray:
    """The card's repair: units served in index order, floats beyond the pool dropped from the last unit down."""
    kept = np.zeros_like(floats)
    left = np.full(len(floats), pool)
    for u in range(floats.shape[1]):
        kept[:, u] = np.minimum(floats[:, u], left)
        left -= kept[:, u]
    return kept


class SentFloats:
    """The floats a policy's actions actually send (the card's repair), as the tabular model's columns list them."""

    def __init__(self, policy, scenario) -> None:
        self.policy, self.units, self.pool = policy, scenario.n_units, int(scenario.params.pool)

    def act_batch(self, observations: np.ndarray, infos: dict) -> np.ndarray:
        actions = np.asarray(self.policy.act_batch(observations, infos))
        return np.concatenate([repaired(actions[:, :self.units], self.pool), actions[:, self.units:]], axis=1)


# ---------------------------------------------------------------- a tiny budget: the agents run and obey masks
TINY = {
    "ppo": {"total_timesteps": 720, "num_envs": 16, "num_steps": 9, "num_minibatches": 4},
    "a2c": {"total_timesteps": 720, "num_envs": 16, "num_steps": 9},
}


@pytest.mark.parametrize("scenario_id", ["staff/floatpool-small-v0", "staff/floatpool-v0"])
@pytest.mark.parametrize("algo", sorted(TINY))
def test_a_tiny_budget_trains_and_acts_with_valid_vectors_that_obey_every_component_mask(algo, scenario_id):
    """Training ends on the batched env (which refuses any vector outside the masks, as in the last shift), and
    the greedy policy returns integer vectors, one value per component, allowed by each component's mask.

    The masks include adversarial ones: each component's allowed values without the network's unmasked
    favourite, so a component that ignored its own mask slice would be caught.
    """
    scenario = oa.make_scenario(scenario_id)
    nvec = np.asarray(scenario.action_space.nvec)
    policy = oa.make_policy(algo, eval_episodes=0, compute_optimum=False, **TINY[algo])
    with training_threads(1):
        policy.fit(scenario, seed=0)
    observations, mask, epochs = visited(scenario, 40, seed=1)
    last = epochs == scenario.horizon - 1
    assert (~mask[last]).any() and mask[~last].all()  # the last shift forbids every booking but 0

    actions = act(policy, observations, mask, epochs)
    assert actions.shape == (len(observations), len(nvec)) and np.issubdtype(actions.dtype, np.integer)
    assert allowed(mask, actions, nvec).all()
    assert (actions[last, scenario.n_units:] == 0).all()

    with torch.inference_mode():
        scores = policy.network_.scores(torch.from_numpy(scale_observations(observations, policy.obs_scale_))).numpy()
    favourite = np.stack([scores[:, cols].argmax(axis=1) for cols in component_slices(nvec)], axis=1)
    np.testing.assert_array_equal(act(policy, observations, np.ones_like(mask), epochs), favourite)
    without = mask.copy()
    rows = np.arange(len(mask))
    for i, cols in enumerate(component_slices(nvec)):
        block = without[:, cols]
        choice = block.sum(axis=1) > 1  # leave at least one allowed value
        block[rows[choice], favourite[choice, i]] = False
        without[:, cols] = block
    assert (allowed(mask, favourite, nvec) & ~allowed(without, favourite, nvec)).any()  # some favourites lost
    chosen = act(policy, observations, without, epochs)
    assert allowed(without, chosen, nvec).all()

    result = oa.evaluate({algo: policy}, scenario, episodes=20, seed=0)  # evaluation checks every vector too
    assert np.isfinite(result.summary["mean_cost"]).all()


def test_the_repair_written_here_agrees_with_the_scenario_on_every_request():
    scenario = oa.make_scenario("staff/floatpool-v0")
    grid = np.indices(tuple(int(c) + 1 for c in scenario.float_cap)).reshape(scenario.n_units, -1).T
    np.testing.assert_array_equal(repaired(grid, scenario.params.pool), scenario.repair_floats(grid))
    assert (repaired(grid, scenario.params.pool).sum(axis=1) <= scenario.params.pool).all()


# ---------------------------------------------------------------- the tuned agents reach the target
@pytest.mark.train
@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_tuned_agent_is_within_five_percent_of_the_dp_expected_cost(algo, small, small_dp, evaluate_on_model):
    """Seed 0 of the suite's agent on floatpool-small-v0: expected cost within 5 % of the DP's.

    Two measures, each against the DP's exact expected cost: exact policy evaluation of the greedy agent on the
    tabular model (no sampling error), and its paired difference to the DP over 20,000 simulated periods (upper
    95 % bound). The DP's own mean on those periods lies within its 95 % interval of its exact expected cost
    (the periods are representative), and newsvendor misses the target (the bar is not met by the heuristic).
    Training stays within the suite's CPU budget per seed.
    """
    optimum = small_dp.expected_cost_
    with training_threads(1):
        agent = oa.make_policy(algo, **tuned_params(algo))
        start = time.process_time()
        agent.fit(small, seed=0)
        cpu = time.process_time() - start
    summary = oa.evaluate({algo: agent, "dp": small_dp, "newsvendor": "newsvendor"}, small, episodes=EPISODES,
                          seed=0, reference="dp").summary.set_index("policy")
    assert abs(summary.loc["dp", "mean_cost"] - optimum) <= summary.loc["dp", "ci95"]
    assert summary.loc["newsvendor", "diff_vs_dp"] / optimum > TARGET_GAP

    exact = evaluate_on_model(SentFloats(agent, small), small)
    assert exact >= optimum - 1e-6 * optimum  # no policy beats the optimum
    assert (exact - optimum) / optimum <= TARGET_GAP, f"{algo}: exact gap {100 * (exact / optimum - 1):.2f} %"
    upper = (summary.loc[algo, "diff_vs_dp"] + summary.loc[algo, "diff_ci95"]) / optimum
    assert upper <= TARGET_GAP, f"{algo}: simulated gap up to {100 * upper:.2f} %"
    assert cpu < CPU_BUDGET, f"{algo} trained for {cpu:.0f} CPU s"


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_tuned_agent_beats_newsvendor_on_floatpool_v0(algo, v0):
    """Seed 0 of the suite's agent on floatpool-v0 (no DP): cheaper than newsvendor on 2,000 periods.

    The paired difference's whole 95 % interval lies below zero; training stays within the CPU budget.
    """
    with training_threads(1):
        agent = oa.make_policy(algo, **tuned_params(algo, V0_SUITE))
        start = time.process_time()
        agent.fit(v0, seed=0)
        cpu = time.process_time() - start
    summary = oa.evaluate({algo: agent, "newsvendor": "newsvendor"}, v0, episodes=2000, seed=0,
                          reference="newsvendor").summary.set_index("policy")
    difference, half_width = summary.loc[algo, "diff_vs_newsvendor"], summary.loc[algo, "diff_ci95"]
    assert difference + half_width < 0, f"{algo}: {difference:.0f} +- {half_width:.0f} USD vs newsvendor"
    assert cpu < CPU_BUDGET, f"{algo} trained for {cpu:.0f} CPU s"
