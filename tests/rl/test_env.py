"""The single Gymnasium environment: API conformance, rewards, seeding, masks, registration."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Mapping

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import optalloc as oa
from optalloc.actions import feasible_choices
from optalloc.evaluation import rollout
from optalloc.exceptions import ConfigurationError, InfeasibleActionError
from optalloc.policy import Policy
from optalloc.registry import list_scenarios
from optalloc.rl import AllocationEnv, AllocationVectorEnv, gym_id, make_env
from optalloc.tags import PolicyTags

SCENARIO_IDS = [s.id for s in list_scenarios()]

#: The only check_env warning we accept: observations with no finite upper bound
#: (e.g. unattended patient-days under Poisson demand) are honestly unbounded.
ACCEPTED_WARNING = "maximum value is infinity"


class FixedActions(Policy):
    """Plays a given action sequence (one action per epoch) on a batch of one."""

    tags = PolicyTags(action_kinds=frozenset({"discrete", "multi_discrete"}))

    def __init__(self, actions: list | None = None) -> None:
        self.actions = actions

    def reset(self, *, seed=None, noise=None) -> None:
        super().reset(seed=seed, noise=noise)
        self._t = 0

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        action = self.actions[self._t]
        self._t += 1
        return np.array([action])


def random_feasible_action(space: gym.spaces.Space, mask: np.ndarray, rng: np.random.Generator):
    """A uniformly random feasible action of one episode: an int (Discrete) or one value per component."""
    if isinstance(space, gym.spaces.Discrete):
        return int(rng.choice(np.flatnonzero(mask))) + int(space.start)
    return np.array([rng.choice(values) for values in feasible_choices(space, mask)], dtype=np.int64)


def play(env: gym.Env, seed: int | None, policy_seed: int = 0, options: dict | None = None):
    """One episode with uniformly random feasible actions; returns (actions, rewards, observations, infos)."""
    rng = np.random.default_rng(policy_seed)
    obs, info = env.reset(seed=seed, options=options)
    actions, rewards, observations, infos = [], [], [obs], [info]
    while True:
        action = random_feasible_action(env.action_space, info["action_mask"], rng)
        obs, reward, terminated, truncated, info = env.step(action)
        actions.append(action)
        rewards.append(reward)
        observations.append(obs)
        infos.append(info)
        assert truncated is False
        if terminated:
            return actions, np.array(rewards), observations, infos


# ---------------------------------------------------------------- Gymnasium conformance
#: check_env's own seed. Its step-determinism check draws an action *before* it resets the env, so on a
#: scenario whose mask binds at the start (toy/walk-v0 cannot step left of cell 0) a draw made mid-episode
#: may be infeasible after the reset: seeding the action space makes the checker's run reproducible.
CHECK_ENV_SEED = 123


@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_check_env_passes_for_every_registered_scenario(scenario_id):
    env = AllocationEnv(oa.make_scenario(scenario_id))
    env.action_space.seed(CHECK_ENV_SEED)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)  # no render modes; the render check needs a spec (next test)
    unexpected = [str(w.message) for w in caught if ACCEPTED_WARNING not in str(w.message)]
    assert not unexpected, unexpected


@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_check_env_passes_through_gymnasium_make(scenario_id):
    env = gym.make(gym_id(scenario_id))
    assert isinstance(env.unwrapped, AllocationEnv)
    assert env.unwrapped.scenario.id == scenario_id
    env.unwrapped.action_space.seed(CHECK_ENV_SEED)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)  # with a spec, so check_env also re-makes and closes it
    unexpected = [str(w.message) for w in caught if ACCEPTED_WARNING not in str(w.message)]
    assert not unexpected, unexpected


def test_gym_ids_follow_the_naming_rule():
    assert gym_id("beds/seed002-v0") == "optalloc/Beds-seed002-v0"
    assert gym_id("beds/stochastic-v0") == "optalloc/Beds-stochastic-v0"
    assert gym_id("scanners/gocgun2011-v3") == "optalloc/Scanners-gocgun2011-v3"
    with pytest.raises(ConfigurationError, match="scenario_id"):
        gym_id("no-family-v0")


@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_every_registered_scenario_is_registered_with_gymnasium(scenario_id):
    spec = gym.spec(gym_id(scenario_id))
    assert spec.kwargs == {"scenario_id": scenario_id}
    assert spec.entry_point == "optalloc.rl.env:make_env"
    assert spec.vector_entry_point == "optalloc.rl.vector_env:make_vector_env"
    assert spec.version == int(scenario_id.rsplit("-v", 1)[1])


def test_make_passes_overrides_reward_scale_and_stream():
    env = gym.make("optalloc/Beds-stochastic-v0", horizon=4, reward_scale=0.5, stream="evaluate")
    inner = env.unwrapped
    assert inner.scenario.horizon == 4 and inner.reward_scale == 0.5 and inner.stream == "evaluate"
    assert make_env("beds/seed002-v0").reward_scale == pytest.approx(1e-6)


def test_make_with_module_prefix_needs_no_prior_import():
    code = (
        "import sys, gymnasium as gym\n"
        "assert 'optalloc.rl' not in sys.modules\n"
        "env = gym.make('optalloc.rl:optalloc/Beds-seed002-v0')\n"
        "obs, info = env.reset(seed=0)\n"
        "print(type(env.unwrapped).__name__, obs.dtype, info['action_mask'].shape)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["AllocationEnv", "float32", "(11,)"]


def test_importing_optalloc_rl_does_not_import_torch():
    code = (
        "import sys, gymnasium as gym\n"
        "import optalloc.rl\n"
        "env = gym.make('optalloc/Beds-seed002-v0')\n"
        "envs = gym.make_vec('optalloc/Beds-seed002-v0', num_envs=2, vectorization_mode='vector_entry_point')\n"
        "print('torch' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_make_vec_vector_entry_point_gives_the_true_vector_env():
    envs = gym.make_vec("optalloc/Beds-seed002-v0", num_envs=3, vectorization_mode="vector_entry_point", horizon=4)
    assert isinstance(envs.unwrapped, AllocationVectorEnv)
    assert envs.num_envs == 3 and envs.unwrapped.scenario.horizon == 4
    assert envs.metadata["autoreset_mode"] is gym.vector.AutoresetMode.SAME_STEP


# ---------------------------------------------------------------- rewards against the scenario's own cost
@pytest.mark.parametrize("scenario_id", SCENARIO_IDS)
def test_reward_sum_is_minus_scaled_rollout_cost_on_the_same_noise(scenario_id):
    scenario = oa.make_scenario(scenario_id)
    env = AllocationEnv(scenario)
    actions, rewards, _, infos = play(env, seed=11)
    noise = scenario.sample_noise(env.noise_seed, 1, env.stream)
    trajectory = rollout(FixedActions(actions).fit(scenario), scenario, noise)
    np.testing.assert_array_equal(trajectory.actions[0], actions)
    # Stage by stage: reward_t = -reward_scale * discount**t * cost_t.
    weights = scenario.discount ** np.arange(scenario.horizon)
    np.testing.assert_allclose(rewards, -env.reward_scale * weights * trajectory.stage_cost[0], rtol=1e-12)
    np.testing.assert_allclose([i["stage_cost"] for i in infos[1:]], trajectory.stage_cost[0], rtol=1e-12)
    # The undiscounted sum of rewards is minus the scaled reported (discounted) total cost.
    assert rewards.sum() == pytest.approx(-env.reward_scale * trajectory.total_cost[0], rel=1e-12)
    assert env.reward_scale == 1.0 / scenario.cost_scale


def test_reward_scale_changes_only_the_unit():
    scenario = oa.make_scenario("beds/stochastic-v0", horizon=6)
    _, default, _, _ = play(AllocationEnv(scenario), seed=3)
    _, taka, _, _ = play(AllocationEnv(scenario, reward_scale=1.0), seed=3)
    np.testing.assert_allclose(taka, default * 1e6, rtol=1e-12)
    assert np.all(taka <= 0)


def test_observations_are_raw_observations_divided_by_the_scale():
    scenario = oa.make_scenario("beds/stochastic-v0", horizon=5)
    env = AllocationEnv(scenario)
    actions, _, observations, _ = play(env, seed=5)
    noise = scenario.sample_noise(env.noise_seed, 1, env.stream)
    state = scenario.initial_state(1)
    for t, action in enumerate(actions):
        raw = scenario.observe(t, state)[0]
        np.testing.assert_array_equal(observations[t], (raw / scenario.observation_scale).astype(np.float32))
        assert observations[t].dtype == np.float32 and observations[t] in env.observation_space
        state, _, _ = scenario.step(t, state, np.array([action]), scenario.noise_at(noise, t))


# ---------------------------------------------------------------- seeding
def test_reset_seed_is_deterministic_and_seeds_a_sequence_of_episodes():
    scenario = oa.make_scenario("beds/stochastic-v0", horizon=8)
    a, b = AllocationEnv(scenario), AllocationEnv(scenario)
    first_a = play(a, seed=42)
    first_b = play(b, seed=42)
    np.testing.assert_array_equal(first_a[1], first_b[1])
    np.testing.assert_array_equal(np.stack(first_a[2]), np.stack(first_b[2]))
    # Unseeded resets continue the same generator: the second episodes agree too, and differ from the first.
    second_a, second_b = play(a, seed=None), play(b, seed=None)
    np.testing.assert_array_equal(second_a[1], second_b[1])
    assert a.noise_seed == b.noise_seed
    assert not np.array_equal(first_a[1], second_a[1])
    other = play(AllocationEnv(scenario), seed=43)
    assert not np.array_equal(first_a[1], other[1])


def test_agent_randomness_never_touches_the_noise():
    """The noise seeds depend on the reset seed only, not on actions or action-space sampling."""
    scenario = oa.make_scenario("beds/stochastic-v0", horizon=4)
    seeds = []
    for policy_seed in (0, 1):
        env = AllocationEnv(scenario)
        env.action_space.seed(100 + policy_seed)
        seeds.append([])
        for episode in range(3):
            play(env, seed=9 if episode == 0 else None, policy_seed=policy_seed + 10 * episode)
            env.action_space.sample()
            seeds[-1].append(env.noise_seed)
    assert seeds[0] == seeds[1]
    assert len(set(seeds[0])) == 3


def test_reset_options_replay_a_given_noise_path():
    scenario = oa.make_scenario("beds/stochastic-v0", horizon=6)
    env = AllocationEnv(scenario, stream="evaluate")
    actions, rewards, _, _ = play(env, seed=8)
    replay = AllocationEnv(scenario, stream="evaluate")
    path = scenario.sample_noise(env.noise_seed, 1, "evaluate")
    replay.reset(options={"noise": path})
    assert replay.noise_seed is None
    replayed = [replay.step(a)[1] for a in actions]
    np.testing.assert_array_equal(replayed, rewards)
    with pytest.raises(ConfigurationError, match=r"shape \(1, 6, \.\.\.\)"):
        replay.reset(options={"noise": scenario.sample_noise(0, 2)})


# ---------------------------------------------------------------- masks and infeasible actions
def test_action_mask_is_in_reset_and_step_infos():
    scenario = oa.make_scenario("beds/seed002-v0", horizon=4, max_beds=57)  # 50 beds, cap 57
    env = AllocationEnv(scenario)
    _, info = env.reset(seed=0)
    assert info["action_mask"].dtype == np.bool_ and info["action_mask"].shape == (11,)
    np.testing.assert_array_equal(info["action_mask"], np.arange(11) <= 7)
    _, _, _, _, info = env.step(5)
    np.testing.assert_array_equal(info["action_mask"], np.arange(11) <= 2)
    assert info["beds"] == 55 and info["added"] == 5
    _, _, _, _, info = env.step(2)
    np.testing.assert_array_equal(info["action_mask"], np.arange(11) == 0)


def test_infeasible_action_raises_and_leaves_the_episode_untouched():
    scenario = oa.make_scenario("beds/seed002-v0", horizon=3, max_beds=55)
    env = AllocationEnv(scenario)
    env.reset(seed=1)
    # The message is optalloc.actions.check_actions', the one rule evaluation and the envs apply.
    with pytest.raises(InfeasibleActionError, match=r"AllocationEnv.step .* infeasible action 8 in epoch 0 .*"
                                                    r"feasible: \[0, 1, 2, 3, 4, 5\]"):
        env.step(8)
    with pytest.raises(InfeasibleActionError, match=r"infeasible action 11 .*feasible: \[0, 1, 2, 3, 4, 5\]"):
        env.step(11)
    with pytest.raises(InfeasibleActionError, match="infeasible action -1 "):
        env.step(-1)
    with pytest.raises(InfeasibleActionError, match="integer"):
        env.step(2.0)
    # Nothing was applied: the episode is still at epoch 0 with 50 beds.
    _, _, _, _, info = env.step(np.int64(5))
    assert info["beds"] == 55


def test_episode_ends_after_the_horizon_and_then_needs_a_reset():
    env = AllocationEnv(oa.make_scenario("beds/seed002-v0", horizon=3))
    with pytest.raises(gym.error.ResetNeeded):
        env.step(0)
    env.reset(seed=0)
    flags = [env.step(1)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (True, False)]
    with pytest.raises(gym.error.ResetNeeded):
        env.step(0)


def test_bad_parameters_name_the_parameter():
    scenario = oa.make_scenario("beds/seed002-v0")
    with pytest.raises(ConfigurationError, match="'reward_scale'.*-1"):
        AllocationEnv(scenario, reward_scale=-1)
    with pytest.raises(ConfigurationError, match="'stream'.*'test'"):
        AllocationEnv(scenario, stream="test")
    with pytest.raises(ConfigurationError, match="'scenario'"):
        AllocationEnv("beds/seed002-v0")


# ---------------------------------------------------------------- scales on the Scenario
def test_scales_of_the_base_scenario_and_of_beds():
    toy = oa.make_scenario("toy/walk-v0")  # no scales of its own: the base class's defaults
    np.testing.assert_array_equal(toy.observation_scale, np.ones(1))
    assert toy.cost_scale == 1.0
    env = AllocationEnv(toy)
    assert env.reward_scale == 1.0

    beds = oa.make_scenario("beds/stochastic-v0")
    p = beds.params
    np.testing.assert_allclose(
        beds.observation_scale,
        [p.horizon, beds.max_beds, p.initial_population * (1 + p.growth_rate) ** p.horizon, p.days * p.base_demand],
    )
    assert beds.cost_scale == 1e6
    # A zero formula (no demand) falls back to a scale of 1 instead of dividing by zero.
    assert oa.make_scenario("beds/seed002-v0", base_demand=0.0).observation_scale[3] == 1.0
