"""The true vectorised environment: one batched scenario step, SAME_STEP autoreset, parity with the single env."""

from __future__ import annotations

import contextlib

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics

import optalloc as oa
from optalloc.exceptions import ConfigurationError, InfeasibleActionError
from optalloc.registry import list_scenarios
from optalloc.rl import AllocationEnv, AllocationVectorEnv

SCENARIO_IDS = [s.id for s in list_scenarios()]


def random_feasible(mask: np.ndarray, rng: np.random.Generator, space: gym.spaces.Space | None = None) -> np.ndarray:
    """One uniformly random feasible action per row of a mask: ``(n,)`` (Discrete, the default) or
    ``(n, len(nvec))`` (``MultiDiscrete``: each component among its own block of mask columns)."""
    if space is None or isinstance(space, gym.spaces.Discrete):
        scores = np.where(mask, rng.random(mask.shape), -1.0)
        return np.argmax(scores, axis=1).astype(np.int64) + (0 if space is None else int(space.start))
    bounds = np.concatenate([[0], np.cumsum(space.nvec)])
    return np.stack([random_feasible(mask[:, a:b], rng) for a, b in zip(bounds[:-1], bounds[1:])], axis=1)


def run(envs: AllocationVectorEnv, steps: int, seed: int | None, policy_seed: int = 0):
    """Random feasible actions for ``steps`` steps; returns the reset output, the step outputs and the actions."""
    rng = np.random.default_rng(policy_seed)
    reset = envs.reset(seed=seed)
    infos = reset[1]
    out, actions = [], []
    for _ in range(steps):
        action = random_feasible(infos["action_mask"], rng, envs.single_action_space)
        step = envs.step(action)
        out.append(step)
        actions.append(action)
        infos = step[4]
    return reset, out, np.stack(actions)


class CountingScenario:
    """Wraps a scenario's ``step`` and ``sample_noise`` to count calls and batch sizes."""

    def __init__(self, scenario) -> None:
        self.scenario = scenario
        self.step_batches: list[int] = []
        self.noise_calls: list[int] = []
        original_step, original_noise = scenario.step, scenario.sample_noise

        def step(t, state, action, noise):
            self.step_batches.append(len(action))
            return original_step(t, state, action, noise)

        def sample_noise(seed, episodes, stream="evaluate"):
            self.noise_calls.append(episodes)
            return original_noise(seed, episodes, stream)

        scenario.step, scenario.sample_noise = step, sample_noise


# ---------------------------------------------------------------- batching
def test_one_scenario_step_call_advances_every_sub_environment():
    counter = CountingScenario(oa.make_scenario("beds/stochastic-v0", horizon=5))
    envs = AllocationVectorEnv(counter.scenario, 16)
    run(envs, steps=12, seed=0)
    assert counter.step_batches == [16] * 12  # one call of 16 episodes per step, no per-env loop
    assert counter.noise_calls == [16, 16, 16]  # reset + two autoresets, one whole-batch draw each


def test_spaces_shapes_and_dtypes():
    envs = AllocationVectorEnv(oa.make_scenario("beds/seed002-v0"), 5)
    assert envs.single_action_space == gym.spaces.Discrete(11)
    assert envs.action_space == gym.spaces.MultiDiscrete([11] * 5)
    assert envs.observation_space.shape == (5, 4) and envs.observation_space.dtype == np.float32
    obs, infos = envs.reset(seed=0)
    assert obs.dtype == np.float32 and obs in envs.observation_space
    assert infos["action_mask"].shape == (5, 11) and infos["action_mask"].dtype == np.bool_
    obs, rewards, terminations, truncations, infos = envs.step(envs.action_space.sample())
    assert obs.shape == (5, 4) and obs in envs.observation_space
    assert rewards.shape == (5,) and rewards.dtype == np.float64
    assert terminations.dtype == np.bool_ and truncations.dtype == np.bool_
    assert set(infos) == {"action_mask", "_action_mask", "stage_cost", "_stage_cost", "added", "_added",
                          "beds", "_beds", "unattended", "_unattended", "epoch", "_epoch"}


# ---------------------------------------------------------------- same-step autoreset
def test_same_step_autoreset_at_the_horizon():
    scenario = oa.make_scenario("beds/stochastic-v0", horizon=4)
    envs = AllocationVectorEnv(scenario, 3)
    assert envs.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    envs.reset(seed=5)
    first_seed, first_noise = envs.noise_seed, envs.noise
    actions = np.array([0, 3, 10])
    for t in range(1, 4):
        obs, rewards, terminations, truncations, infos = envs.step(actions)
        assert not terminations.any() and not truncations.any()
        assert "final_obs" not in infos and "final_info" not in infos
        np.testing.assert_allclose(obs[:, 0], t / 4)  # year / horizon
    obs, rewards, terminations, truncations, infos = envs.step(actions)
    # The terminal step: all sub-environments end together and are reset in the same call.
    assert terminations.all() and not truncations.any()
    assert envs.noise_seed != first_seed
    assert any(not np.array_equal(envs.noise[key], first_noise[key]) for key in first_noise)
    first_obs = (scenario.observe(0, scenario.initial_state(3)) / scenario.observation_scale).astype(np.float32)
    np.testing.assert_array_equal(obs, first_obs)  # the new episodes' first observations
    np.testing.assert_array_equal(infos["action_mask"], np.ones((3, 11), dtype=bool))
    assert infos["_final_obs"].all() and infos["_final_info"].all()
    assert infos["final_obs"].dtype == object and infos["final_obs"].shape == (3,)
    final = np.stack(infos["final_obs"])
    np.testing.assert_allclose(final[:, 0], 1.0)  # epoch = horizon
    np.testing.assert_allclose(final[:, 1] * scenario.observation_scale[1], 50 + 4 * actions)
    final_info = infos["final_info"]
    np.testing.assert_array_equal(final_info["beds"], 50 + 4 * actions)
    np.testing.assert_allclose(rewards, -envs.reward_scale * scenario.discount**3 * final_info["stage_cost"])
    # The next step is epoch 0 of the new episodes (no dummy transition).
    obs, rewards, terminations, _, infos = envs.step(actions)
    assert not terminations.any()
    np.testing.assert_allclose(obs[:, 0], 1 / 4)
    np.testing.assert_array_equal(infos["beds"], 50 + actions)


def test_info_layout_matches_gymnasium_sync_vector_env_in_same_step_mode():
    scenario = oa.make_scenario("beds/seed002-v0", horizon=3, max_beds=60)
    ours = AllocationVectorEnv(scenario, 4)
    sync = SyncVectorEnv([lambda: AllocationEnv(scenario) for _ in range(4)], autoreset_mode=AutoresetMode.SAME_STEP)
    outputs = []
    for env in (ours, sync):
        rng = np.random.default_rng(0)
        obs, infos = env.reset(seed=1)
        steps = [(obs, infos)]
        for _ in range(5):
            obs, rewards, terminations, truncations, infos = env.step(random_feasible(infos["action_mask"], rng))
            steps.append((obs, infos, rewards, terminations, truncations))
        outputs.append(steps)

    def layout(value):
        if isinstance(value, dict):
            return {k: layout(v) for k, v in value.items()}
        if isinstance(value, np.ndarray) and value.dtype == object:
            return ("object", value.shape, [layout(v) for v in value])
        if isinstance(value, np.ndarray):
            return (value.dtype.kind, value.shape)
        return type(value).__name__

    for mine, theirs in zip(outputs[0], outputs[1]):
        assert layout(mine) == layout(theirs)
    for mine, theirs in zip(outputs[0][1:], outputs[1][1:]):
        np.testing.assert_array_equal(mine[3], theirs[3])  # terminations agree step by step
        np.testing.assert_array_equal(mine[1]["action_mask"], theirs[1]["action_mask"])


def test_gymnasium_episode_statistics_wrapper_reads_our_autoreset():
    scenario = oa.make_scenario("beds/stochastic-v0", horizon=5)
    envs = RecordEpisodeStatistics(AllocationVectorEnv(scenario, 4))
    rng = np.random.default_rng(2)
    _, infos = envs.reset(seed=2)
    total = np.zeros(4)
    for _ in range(5):
        _, rewards, terminations, _, infos = envs.step(random_feasible(infos["action_mask"], rng))
        total += rewards
    assert terminations.all()
    np.testing.assert_allclose(infos["episode"]["r"], total, rtol=1e-6)
    np.testing.assert_array_equal(infos["episode"]["l"], 5)


# ---------------------------------------------------------------- parity with the single environment
@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_episode_returns_equal_the_single_env_on_the_same_noise(scenario_id):
    scenario = oa.make_scenario(scenario_id)
    if scenario.horizon > 8 and scenario.horizon_parameter is not None:
        with contextlib.suppress(ConfigurationError):  # a shorter episode where the preset allows it
            scenario = oa.make_scenario(scenario_id, **{scenario.horizon_parameter: 8})
    T, n = scenario.horizon, 6
    envs = AllocationVectorEnv(scenario, n)
    rng = np.random.default_rng(4)
    obs, infos = envs.reset(seed=4)
    noise = envs.noise
    observations, rewards, actions = [obs], [], []
    for _ in range(T):
        action = random_feasible(infos["action_mask"], rng, envs.single_action_space)
        obs, reward, _, _, infos = envs.step(action)
        observations.append(obs)
        rewards.append(reward)
        actions.append(action)
    final = np.stack(infos["final_obs"])
    rewards, actions = np.stack(rewards, axis=1), np.stack(actions, axis=1)
    single = AllocationEnv(scenario)
    for i in range(n):
        obs, _ = single.reset(options={"noise": {k: v[i:i + 1] for k, v in noise.items()}})
        np.testing.assert_array_equal(obs, observations[0][i])
        single_rewards = []
        for t in range(T):
            obs, reward, terminated, _, _ = single.step(actions[i, t])
            single_rewards.append(reward)
            np.testing.assert_array_equal(obs, final[i] if terminated else observations[t + 1][i])
        np.testing.assert_allclose(single_rewards, rewards[i], rtol=1e-12, atol=0)
        assert sum(single_rewards) == pytest.approx(rewards[i].sum(), rel=1e-12)


# ---------------------------------------------------------------- seeding and options
def test_reset_seed_is_reproducible_across_autoresets():
    scenario = oa.make_scenario("beds/stochastic-v0", horizon=3)
    results = []
    for seed in (7, 7, 8):
        envs = AllocationVectorEnv(scenario, 4)
        _, out, _ = run(envs, steps=7, seed=seed)  # crosses two autoresets
        results.append(np.stack([step[1] for step in out]))
    np.testing.assert_array_equal(results[0], results[1])
    assert not np.array_equal(results[0], results[2])


def test_reset_options_run_a_given_batch_path_then_fresh_noise():
    scenario = oa.make_scenario("beds/seed002-v0", horizon=2)
    path = scenario.sample_noise(3, 2, "evaluate")
    envs = AllocationVectorEnv(scenario, 2)
    envs.reset(seed=0, options={"noise": path})
    assert envs.noise is not None and envs.noise_seed is None
    for key in path:
        np.testing.assert_array_equal(envs.noise[key], path[key])
    envs.step(np.array([1, 2]))
    envs.step(np.array([1, 2]))  # autoreset: fresh noise from np_random
    assert envs.noise_seed is not None
    with pytest.raises(ConfigurationError, match=r"shape \(2, 2, \.\.\.\)"):
        envs.reset(options={"noise": scenario.sample_noise(3, 3)})


def test_infeasible_action_of_one_sub_environment_raises():
    envs = AllocationVectorEnv(oa.make_scenario("beds/seed002-v0", horizon=3, max_beds=55), 3)
    envs.reset(seed=0)
    with pytest.raises(InfeasibleActionError, match=r"AllocationVectorEnv.step .* infeasible action 9 in epoch 0 "
                                                    r"of episode 2; feasible: \[0, 1, 2, 3, 4, 5\]"):
        envs.step(np.array([0, 5, 9]))
    with pytest.raises(InfeasibleActionError, match="integer"):
        envs.step(np.array([0.0, 1.0, 2.0]))
    with pytest.raises(InfeasibleActionError, match="3 integer action"):
        envs.step(np.array([0, 1]))
    _, _, _, _, infos = envs.step(np.array([0, 5, 1]))  # nothing was applied by the failed calls
    np.testing.assert_array_equal(infos["beds"], [50, 55, 51])


def test_step_before_reset_and_bad_parameters():
    scenario = oa.make_scenario("beds/seed002-v0", horizon=2)
    with pytest.raises(gym.error.ResetNeeded):
        AllocationVectorEnv(scenario, 2).step(np.array([0, 0]))
    with pytest.raises(ConfigurationError, match="'num_envs'.*0"):
        AllocationVectorEnv(scenario, 0)
    with pytest.raises(ConfigurationError, match="'reward_scale'"):
        AllocationVectorEnv(scenario, 2, reward_scale=0.0)
