"""MultiDiscrete (vector) actions end to end: envs, factorised PPO/A2C heads, masks, SB3, persistence.

The references are independent of optalloc: Gymnasium's ``check_env``, the
newsvendor closed form of the toy pool (``newsvendor_optimum``), and the
scenario's own mask recomputed inside its dynamics.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

torch = pytest.importorskip("torch")

from toy_family.scenario import PoolScenario, newsvendor_optimum

import optalloc as oa
from optalloc.actions import mask_rows
from optalloc.exceptions import InfeasibleActionError, UnsupportedScenarioError
from optalloc.rl import AllocationEnv, AllocationVectorEnv, gym_id
from optalloc.rl.policy import FactorisedMaskedCategorical, MaskedCategorical, greedy_actions

POOL = "toy/pool-v0"
#: Unit A's shortage cost 3.5 instead of 4: with 4 its newsvendor quantities 2 and 3 tie (both cost 3 per
#: shift), so "the greedy quantity is the newsvendor quantity" would not be well defined.
UNTIED = {"short_cost": (3.5, 1.5)}
QUICK = {"eval_episodes": 0, "compute_optimum": False}
AGENTS = ("ppo", "a2c")
#: Budgets that learn the pool (about a second each on this machine).
LEARN = {
    "ppo": {"total_timesteps": 6_000, "num_envs": 32, "num_steps": 6},
    "a2c": {"total_timesteps": 6_000, "num_envs": 32, "num_steps": 3, "learning_rate": 3e-3, "gamma": 1.0},
}


def expected_unit_cost(scenario: PoolScenario, unit: int, helpers: int) -> float:
    """``h x + s E(D - x)^+`` for demand uniform on ``0..cap``: one unit's expected cost of one shift."""
    p = scenario.params
    demand = np.arange(p.cap + 1)
    return p.hire_cost * helpers + p.short_cost[unit] * float(np.maximum(demand - helpers, 0).mean())


class RestrictedPool(PoolScenario):
    """The pool with binding per-component masks; its ``step`` checks every action against them.

    Unit A may never hire 2 (its newsvendor quantity) and may hire at most 1 in the first
    shift; unit B may never hire 0. ``seen`` collects every ``(epoch, actions)`` applied.
    """

    seen: list[tuple[int, np.ndarray]] = []

    def action_mask(self, t: int, state: dict) -> np.ndarray:
        mask = super().action_mask(t, state)
        width = self.params.cap + 1
        mask[:, 2] = False
        if t == 0:
            mask[:, 2:width] = False
        mask[:, width + 0] = False
        return mask

    def step(self, t, state, action, noise):
        action = np.asarray(action)
        assert mask_rows(self.action_space, self.action_mask(t, state), action).all(), (t, action)
        type(self).seen.append((t, action.copy()))
        return super().step(t, state, action, noise)


@pytest.fixture
def restricted():
    RestrictedPool.seen = []
    return RestrictedPool(POOL)


def greedy_by_shift(policy, scenario) -> np.ndarray:
    """The greedy action of every shift ``(horizon, 2)`` under the scenario's own masks."""
    state = scenario.initial_state(1)
    out = []
    for t in range(scenario.horizon):
        out.append(policy.act_batch(scenario.observe(t, state), {"action_mask": scenario.action_mask(t, state),
                                                                  "epoch": np.array([t])})[0])
        state = {"t": state["t"] + 1}
    return np.array(out)


# ---------------------------------------------------------------- the environments
def test_check_env_passes_on_the_pool():
    env = AllocationEnv(oa.make_scenario(POOL))
    assert isinstance(env.action_space, gym.spaces.MultiDiscrete) and env.action_space == gym.spaces.MultiDiscrete([4, 4])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
        check_env(gym.make(gym_id(POOL)).unwrapped)
    unexpected = [str(w.message) for w in caught if "maximum value is infinity" not in str(w.message)]
    assert not unexpected, unexpected


def test_single_env_mask_and_actions_of_the_pool(restricted):
    env = AllocationEnv(restricted)
    _, info = env.reset(seed=0)
    assert info["action_mask"].shape == (8,) and info["action_mask"].dtype == np.bool_
    np.testing.assert_array_equal(info["action_mask"], [1, 1, 0, 0, 0, 1, 1, 1])
    with pytest.raises(InfeasibleActionError, match=r"infeasible action \[2, 1\] in epoch 0 .*\[\[0, 1\], \[1, 2, 3\]\]"):
        env.step([2, 1])
    with pytest.raises(InfeasibleActionError, match="integer action vectors of length 2"):
        env.step(np.array([1, 1, 1]))
    _, _, _, _, info = env.step([1, 3])  # nothing was applied by the failed calls: still epoch 0
    assert info["epoch"] == 1
    np.testing.assert_array_equal(info["action_mask"], [1, 1, 0, 1, 0, 1, 1, 1])


def test_action_space_sample_draws_per_component_feasible_values(restricted):
    env = AllocationEnv(restricted)
    env.action_space.seed(0)
    drawn = set()
    for episode in range(60):
        _, info = env.reset(seed=episode)
        terminated = False
        while not terminated:
            action = env.action_space.sample()
            assert action.shape == (2,) and mask_rows(env.action_space, info["action_mask"][None], action[None])[0]
            drawn.add((env.unwrapped._t, *action.tolist()))
            _, _, terminated, _, info = env.step(action)
    # Every feasible (epoch, a, b) is drawn: the sampler is uniform over the feasible values, not a fixed one.
    assert drawn == {(t, a, b) for t in range(3) for a in ((0, 1) if t == 0 else (0, 1, 3)) for b in (1, 2, 3)}
    # An explicit mask still wins over the env's.
    explicit = (np.array([0, 0, 0, 1], np.int8), np.array([1, 0, 0, 0], np.int8))
    np.testing.assert_array_equal(env.action_space.sample(mask=explicit), [3, 0])


def test_walk_sample_respects_the_mask_at_the_wall():
    """The cause of check_env's failure on toy/walk-v0: unmasked draws step left of cell 0."""
    env = AllocationEnv(oa.make_scenario("toy/walk-v0"))
    env.action_space.seed(1)
    for episode in range(50):
        _, info = env.reset(seed=episode)
        assert not info["action_mask"][0]  # the walker starts at the wall
        terminated = False
        while not terminated:
            action = env.action_space.sample()
            assert info["action_mask"][action]
            _, _, terminated, _, info = env.step(action)


def test_vector_env_api_on_the_pool():
    scenario = oa.make_scenario(POOL, horizon=2)
    envs = AllocationVectorEnv(scenario, 5)
    assert envs.single_action_space == gym.spaces.MultiDiscrete([4, 4])
    assert envs.action_space.shape == (5, 2) and envs.observation_space.shape == (5, 1)
    obs, infos = envs.reset(seed=3)
    assert obs in envs.observation_space and infos["action_mask"].shape == (5, 8) and infos["_action_mask"].all()
    np.testing.assert_array_equal(infos["epoch"], 0)
    actions = envs.action_space.sample()  # the pool's masks never bind
    obs, rewards, terminations, truncations, infos = envs.step(actions)
    assert obs in envs.observation_space and rewards.shape == (5,) and not terminations.any()
    np.testing.assert_allclose(infos["stage_cost"], -rewards / envs.reward_scale)
    obs, rewards, terminations, truncations, infos = envs.step(actions)
    assert terminations.all() and not truncations.any()  # same-step autoreset at the horizon
    assert np.stack(infos["final_obs"]).shape == (5, 1) and infos["final_info"]["action_mask"].shape == (5, 8)
    np.testing.assert_array_equal(obs, 0.0)  # the new episodes' first observations
    with pytest.raises(InfeasibleActionError, match="5 integer action vectors of length 2"):
        envs.step(actions[:, 0])
    with pytest.raises(InfeasibleActionError, match=r"infeasible action \[4, 0\] in epoch 0 of episode 1"):
        envs.step(np.array([[0, 0], [4, 0], [0, 0], [0, 0], [0, 0]]))


# ---------------------------------------------------------------- factorised heads
def test_factorised_distribution_is_the_product_of_its_components():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn((6, 7), generator=gen, requires_grad=True)
    mask = torch.rand((6, 7), generator=gen) < 0.7
    mask[:, 0] = mask[:, 3] = True  # each component keeps a feasible value
    dist = FactorisedMaskedCategorical(logits, mask, (3, 4))
    a, b = MaskedCategorical(logits[:, :3], mask[:, :3]), MaskedCategorical(logits[:, 3:], mask[:, 3:])
    actions = dist.sample(torch.Generator().manual_seed(1))
    assert actions.shape == (6, 2) and mask[torch.arange(6), actions[:, 0]].all()
    assert mask[torch.arange(6), 3 + actions[:, 1]].all()
    # Joint probability by brute force over all 3 x 4 action vectors: the product of the components'.
    joint = torch.stack([torch.stack([dist.log_prob(torch.tensor([[i, j]] * 6)) for j in range(4)], 1)
                         for i in range(3)], 1).exp()
    torch.testing.assert_close(joint.sum(dim=(1, 2)), torch.ones(6))
    torch.testing.assert_close(dist.log_prob(actions), a.log_prob(actions[:, 0]) + b.log_prob(actions[:, 1]))
    p = joint.reshape(6, -1)
    brute_entropy = -(torch.where(p > 0, p * p.clamp_min(1e-30).log(), torch.zeros(()))).sum(1)
    torch.testing.assert_close(dist.entropy(), brute_entropy)
    (dist.entropy().sum() + dist.log_prob(actions).sum()).backward()
    assert torch.isfinite(logits.grad).all()
    greedy = greedy_actions(logits, mask, (3, 4))
    flat = joint.reshape(6, -1).argmax(dim=1)
    np.testing.assert_array_equal(greedy.numpy(), torch.stack([flat // 4, flat % 4], 1).numpy())


def test_dqn_refuses_vector_actions_by_its_tags():
    policy = oa.make_policy("dqn", total_timesteps=64, num_envs=4, learning_starts=8, buffer_size=64, **QUICK)
    assert not policy.tags.accepts(oa.make_scenario(POOL).tags)
    with pytest.raises(UnsupportedScenarioError, match="discrete actions, not multi_discrete"):
        policy.fit(oa.make_scenario(POOL), seed=0)
    for agent in AGENTS:
        assert oa.make_policy(agent).tags.action_kinds == frozenset({"discrete", "multi_discrete"})


@pytest.fixture(scope="module")
def learned():
    scenario = oa.make_scenario(POOL, **UNTIED)
    return scenario, {a: oa.make_policy(a, **LEARN[a], eval_interval=2_000, eval_episodes=100).fit(scenario, seed=0)
                      for a in AGENTS}


@pytest.mark.parametrize("agent", AGENTS)
def test_agents_learn_the_newsvendor_quantities(agent, learned):
    """Greedy helpers per unit = the newsvendor quantity in every shift; mean cost within 3 % of the optimum."""
    scenario, policies = learned
    optimum, quantities = newsvendor_optimum(scenario)
    best = [min(range(4), key=lambda x, u=u: expected_unit_cost(scenario, u, x)) for u in range(2)]
    assert best == quantities == [2, 1]  # the closed form and the brute force agree; no tie
    greedy = greedy_by_shift(policies[agent], scenario)
    np.testing.assert_array_equal(greedy, np.tile(quantities, (scenario.horizon, 1)))
    paths = scenario.sample_noise(99, 4_000)
    trajectory = oa.rollout(policies[agent], scenario, paths)
    assert trajectory.actions.shape == (4_000, scenario.horizon, 2)
    assert abs(trajectory.total_cost.mean() / optimum - 1) < 0.03
    # Hiring one more helper everywhere is clearly worse: the 3 % tolerance does separate policies.
    worse = scenario.horizon * sum(expected_unit_cost(scenario, u, quantities[u] + 1) for u in range(2))
    assert worse > 1.05 * optimum


@pytest.mark.parametrize("agent", AGENTS)
def test_learning_curve_without_a_tabular_model_has_no_gap(agent, learned):
    _, policies = learned
    curve = policies[agent].learning_curve_
    assert policies[agent].optimum_ is None
    evaluated = curve.dropna(subset=["eval_cost"])
    assert len(evaluated) >= 2 and curve["gap_to_optimum_pct"].isna().all()


@pytest.mark.parametrize("agent", AGENTS)
def test_learning_curve_on_the_tabular_walk_has_the_gap(agent):
    from toy_family.scenario import brute_force_optimum

    scenario = oa.make_scenario("toy/walk-v0")
    policy = oa.make_policy(agent, total_timesteps=512, num_envs=16, num_steps=4, eval_interval=256,
                            eval_episodes=20).fit(scenario, seed=0)
    assert policy.optimum_ == pytest.approx(brute_force_optimum(scenario), rel=1e-12)
    evaluated = policy.learning_curve_.dropna(subset=["eval_cost"])
    assert len(evaluated) >= 2
    np.testing.assert_allclose(evaluated["gap_to_optimum_pct"],
                               100 * (evaluated["eval_cost"] - policy.optimum_) / policy.optimum_)


# ---------------------------------------------------------------- masks per component
@pytest.mark.parametrize("agent", AGENTS)
def test_masked_component_values_are_never_chosen(agent, restricted):
    params = {**LEARN[agent], "total_timesteps": 3_000}
    policy = oa.make_policy(agent, **params, eval_interval=1_000, eval_episodes=20, compute_optimum=False)
    policy.fit(restricted, seed=1)
    seen_in_training = len(RestrictedPool.seen)
    assert seen_in_training >= 3_000 // params["num_envs"]  # the dynamics checked every training batch
    chosen = np.concatenate([a for _, a in RestrictedPool.seen])
    assert set(chosen[:, 1].tolist()) == {1, 2, 3}  # exploration reached every feasible value of unit B
    oa.rollout(policy, restricted, restricted.sample_noise(0, 200))  # evaluation: checked again by the dynamics
    assert len(RestrictedPool.seen) > seen_in_training
    # Greedy acting under the scenario's masks: no forbidden value in any component, in any shift.
    greedy = greedy_by_shift(policy, restricted)
    assert greedy[0, 0] in (0, 1) and set(greedy[1:, 0]) <= {0, 1, 3} and set(greedy[:, 1]) <= {1, 2, 3}
    # All-True masks unmask the network's favourites; a mask forbidding exactly those moves every component.
    state = restricted.initial_state(64)
    obs = restricted.observe(0, state)
    free = policy.act_batch(obs, {"action_mask": np.ones((64, 8), bool), "epoch": np.zeros(64, int)})
    forbid = np.ones((64, 8), bool)
    forbid[np.arange(64), free[:, 0]] = False
    forbid[np.arange(64), 4 + free[:, 1]] = False
    moved = policy.act_batch(obs, {"action_mask": forbid, "epoch": np.zeros(64, int)})
    assert (moved[:, 0] != free[:, 0]).all() and (moved[:, 1] != free[:, 1]).all()
    assert mask_rows(restricted.action_space, forbid, moved).all()


# ---------------------------------------------------------------- persistence and determinism
def test_multidiscrete_ppo_save_load_round_trip(learned, tmp_path):
    scenario, policies = learned
    policy = policies["ppo"]
    path = oa.save_policy(policy, tmp_path / "pool-ppo.zip")
    loaded = oa.load_policy(path)
    assert loaded.action_nvec_ == [4, 4] and loaded.n_actions_ == 8
    paths = scenario.sample_noise(7, 300)
    a, b = oa.rollout(policy, scenario, paths), oa.rollout(loaded, scenario, paths)
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.total_cost, b.total_cost)
    for key, value in policy.network_.state_dict().items():
        assert torch.equal(value, loaded.network_.state_dict()[key]), key


@pytest.mark.parametrize("agent", AGENTS)
def test_same_seed_same_weights_on_vector_actions(agent):
    scenario = oa.make_scenario(POOL)
    params = {"total_timesteps": 384, "num_envs": 8, "num_steps": 4, **QUICK}
    a, b, c = (oa.make_policy(agent, **params).fit(scenario, seed=s) for s in (5, 5, 6))
    for key, value in a.network_.state_dict().items():
        assert torch.equal(value, b.network_.state_dict()[key]), key
    assert any(not torch.equal(v, c.network_.state_dict()[k]) for k, v in a.network_.state_dict().items())


# ---------------------------------------------------------------- stable-baselines3
def test_sb3_ppo_on_the_pool(tmp_path):
    pytest.importorskip("stable_baselines3")
    scenario = oa.make_scenario(POOL, **UNTIED)
    policy = oa.make_policy("sb3-ppo", total_timesteps=2_048, n_envs=4, n_steps=128, batch_size=128, n_epochs=4,
                            gamma=1.0, learning_rate=3e-3).fit(scenario, seed=0)
    assert policy.action_nvec_ == [4, 4] and policy.model_.action_space == gym.spaces.MultiDiscrete([4, 4])
    paths = scenario.sample_noise(3, 200)
    trajectory = oa.rollout(policy, scenario, paths)
    assert trajectory.actions.shape == (200, scenario.horizon, 2)
    loaded = oa.load_policy(oa.save_policy(policy, tmp_path / "sb3-pool.zip"))
    np.testing.assert_array_equal(oa.rollout(loaded, scenario, paths).actions, trajectory.actions)
    # SB3 does not mask: a mask ruling out its choice raises, or 'best_feasible' takes each component's
    # most probable feasible value (the mode of its factorised distribution under the mask).
    state = scenario.initial_state(1)
    obs, epoch = scenario.observe(0, state), {"epoch": np.array([0])}
    chosen = policy.act_batch(obs, {"action_mask": np.ones((1, 8), bool), **epoch})[0]
    mask = np.ones((1, 8), bool)
    mask[0, chosen[0]] = mask[0, 4 + chosen[1]] = False
    with pytest.raises(InfeasibleActionError, match=rf"chose action \[{chosen[0]}, {chosen[1]}\] for row 0"):
        policy.act_batch(obs, {"action_mask": mask, **epoch})
    policy.mask_fallback = "best_feasible"
    fallback = policy.act_batch(obs, {"action_mask": mask, **epoch})[0]
    network = policy.model_.policy
    with torch.no_grad():
        heads = network.get_distribution(torch.from_numpy((obs / scenario.observation_scale).astype(np.float32)))
        probs = [d.probs[0].numpy() for d in heads.distribution]
    for unit in range(2):
        allowed = mask[0, 4 * unit:4 * unit + 4]
        assert fallback[unit] == np.argmax(np.where(allowed, probs[unit], -1.0)) != chosen[unit]
