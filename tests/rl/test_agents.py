"""The deep-RL agents (PPO, A2C, DQN): learning, determinism, masking, persistence, logs."""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optalloc as oa
from optalloc.exceptions import CheckpointError, ConfigurationError
from optalloc.rl.policy import LEARNING_CURVE_COLUMNS, ReturnNormalizer

AGENTS = ("ppo", "a2c", "dqn")

# Small budgets that learn the 5-year instance to within a few percent of the optimum (seconds each).
LEARN = {
    "ppo": {"total_timesteps": 30_000, "num_envs": 64, "num_steps": 5},
    "a2c": {"total_timesteps": 40_000, "num_envs": 32, "num_steps": 5, "learning_rate": 1e-3, "ent_coef": 0.05},
    "dqn": {"total_timesteps": 30_000, "num_envs": 16, "learning_starts": 2_000, "train_frequency": 8,
            "target_network_frequency": 500, "learning_rate": 1e-3},
}
QUICK = {"eval_episodes": 5, "compute_optimum": False}


def quick(agent: str) -> dict:
    """The registry's tiny test budget."""
    return oa.registry.policy_spec(agent).test_params


@pytest.fixture(scope="module")
def scenario():
    return oa.make_scenario("beds/seed002-v0", horizon=5)


@pytest.fixture(scope="module")
def paths(scenario):
    return scenario.sample_noise(2024, 200)


class UniformRandom(oa.Policy):
    """Uniform over the feasible actions (the 'random' baseline)."""

    def __init__(self) -> None:
        pass

    def act_batch(self, observations, infos):
        mask = infos["action_mask"]
        scores = np.random.default_rng(0).random(mask.shape)
        return np.argmax(np.where(mask, scores, -1.0), axis=1)


@pytest.fixture(scope="module")
def baselines(scenario, paths):
    def cost(policy):
        return oa.rollout(policy.fit(scenario), scenario, paths).total_cost.mean()

    return {"dp": cost(oa.make_policy("dp")), "random": cost(UniformRandom()),
            "rigid10": cost(oa.make_policy("rigid", k=10))}


@pytest.fixture(scope="module")
def trained(scenario):
    """One learning run per agent, shared by the tests below."""
    return {a: oa.make_policy(a, **LEARN[a], eval_episodes=50, eval_interval=10_000).fit(scenario, seed=0)
            for a in AGENTS}


# ---------------------------------------------------------------- learning
@pytest.mark.parametrize("agent", AGENTS)
def test_learns_near_optimal_policy(agent, trained, scenario, paths, baselines):
    """Within 8 % of the DP optimum on fresh evaluation paths.

    Random feasible actions cost about 4x the optimum; always adding the most
    beds (the first thing every agent learns) is 13 % above it, so passing
    means the agent also learned to stop expanding once capacity suffices.
    """
    cost = oa.rollout(trained[agent], scenario, paths).total_cost.mean()
    assert baselines["random"] > 3 * baselines["dp"] and baselines["rigid10"] > 1.12 * baselines["dp"]
    assert cost < 1.08 * baselines["dp"], (agent, cost / baselines["dp"], baselines)


@pytest.mark.parametrize("agent", AGENTS)
def test_learning_curve(agent, trained):
    curve = trained[agent].learning_curve_
    assert tuple(curve.columns) == LEARNING_CURVE_COLUMNS
    assert curve["env_steps"].is_monotonic_increasing and curve["wall_s"].is_monotonic_increasing
    assert curve["env_steps"].iloc[-1] >= LEARN[agent]["total_timesteps"]
    evaluated = curve.dropna(subset=["eval_cost"])
    assert len(evaluated) >= 2 and np.isfinite(evaluated["eval_cost"].iloc[-1])  # every 10,000 steps and at the end
    optimum = trained[agent].optimum_
    np.testing.assert_allclose(evaluated["gap_to_optimum_pct"], 100 * (evaluated["eval_cost"] - optimum) / optimum)
    assert curve["episode_cost_mean"].notna().sum() > len(curve) / 2
    # Training episodes: their costs are the scenario's reported totals (of order 1e8 taka here).
    assert 5e7 < curve["episode_cost_mean"].dropna().iloc[-1] < 1e9


# ---------------------------------------------------------------- determinism and contract
@pytest.mark.parametrize("agent", AGENTS)
def test_same_seed_same_weights_and_actions(agent, scenario, paths):
    a = oa.make_policy(agent, **quick(agent)).fit(scenario, seed=7)
    b = oa.make_policy(agent, **quick(agent)).fit(scenario, seed=7)
    c = oa.make_policy(agent, **quick(agent)).fit(scenario, seed=8)
    for key, value in a.network_.state_dict().items():
        assert torch.equal(value, b.network_.state_dict()[key]), key
    assert any(not torch.equal(v, c.network_.state_dict()[k]) for k, v in a.network_.state_dict().items())
    np.testing.assert_array_equal(oa.rollout(a, scenario, paths).actions, oa.rollout(b, scenario, paths).actions)


@pytest.mark.parametrize("agent", AGENTS)
def test_fit_leaves_torch_global_state_alone(agent, scenario):
    threads = torch.get_num_threads()
    rng_state = torch.random.get_rng_state()
    oa.make_policy(agent, **quick(agent)).fit(scenario, seed=0)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng_state)


@pytest.mark.parametrize("agent", AGENTS)
def test_params_mirror_config(agent):
    module = importlib.import_module(f"optalloc.rl.{agent}")
    config_class = getattr(module, f"{agent.upper()}Config")
    policy = getattr(module, f"{agent.upper()}Policy")()
    fields = {f.name: f.default for f in dataclasses.fields(config_class)}
    assert policy.get_params() == fields
    assert policy.tags.method == "rl"
    assert policy.config() == config_class()


def test_a2c_defaults_are_the_seed_papers():
    from optalloc.rl.a2c import A2CConfig

    config = A2CConfig()
    assert (config.learning_rate, config.gamma, config.total_timesteps) == (1e-4, 0.99, 4_000 * 30)


@pytest.mark.parametrize(("agent", "param", "value"), [
    ("ppo", "num_envs", 0), ("ppo", "gamma", 1.5), ("ppo", "hidden_sizes", []), ("a2c", "learning_rate", -1.0),
    ("dqn", "buffer_size", 4), ("dqn", "end_e", 2.0), ("ppo", "target_kl", -0.1),
])
def test_bad_hyperparameter_is_named(agent, param, value, scenario):
    policy = oa.make_policy(agent, **{**quick(agent), param: value})
    with pytest.raises(ConfigurationError, match=repr(param)):
        policy.fit(scenario, seed=0)


# ---------------------------------------------------------------- masking
@pytest.mark.parametrize("agent", AGENTS)
def test_never_picks_a_masked_action(agent, trained, scenario):
    policy = trained[agent]
    rng = np.random.default_rng(0)
    obs = scenario.observe(0, scenario.initial_state(64)) * rng.uniform(0.5, 1.5, size=(64, 4))
    obs[:, 0] = rng.integers(0, scenario.horizon, 64)
    n_actions = scenario.action_space.n
    with torch.no_grad():
        preferred = policy.network_.scores(torch.from_numpy((obs / policy.obs_scale_).astype(np.float32)))
    preferred = preferred.argmax(dim=1).numpy()
    np.testing.assert_array_equal(policy.act_batch(obs, {"action_mask": np.ones((64, n_actions), bool)}), preferred)
    # Forbid exactly the network's favourite action.
    mask = np.ones((64, n_actions), dtype=bool)
    mask[np.arange(64), preferred] = False
    actions = policy.act_batch(obs, {"action_mask": mask})
    assert actions.dtype == np.int64 and mask[np.arange(64), actions].all()
    # Random masks with at least one feasible action: always a feasible choice.
    mask = rng.random((64, n_actions)) < 0.2
    mask[np.arange(64), rng.integers(0, n_actions, 64)] = True
    actions = policy.act_batch(obs, {"action_mask": mask})
    assert mask[np.arange(64), actions].all()
    # A single feasible action is taken.
    only = rng.integers(0, n_actions, 64)
    mask = np.zeros((64, n_actions), dtype=bool)
    mask[np.arange(64), only] = True
    np.testing.assert_array_equal(policy.act_batch(obs, {"action_mask": mask}), only)


def test_masked_categorical_never_samples_masked_actions():
    from optalloc.rl.policy import MaskedCategorical

    logits = torch.zeros((1000, 5))
    logits[:, 2] = 50.0  # strongly preferred but masked
    mask = torch.ones((1000, 5), dtype=torch.bool)
    mask[:, 2] = False
    dist = MaskedCategorical(logits.requires_grad_(), mask)
    actions = dist.sample(torch.Generator().manual_seed(0))
    assert not (actions == 2).any() and len(torch.unique(actions)) == 4
    entropy = dist.entropy()
    torch.testing.assert_close(entropy, torch.full((1000,), float(np.log(4))))
    (entropy.sum() + dist.log_prob(actions).sum()).backward()
    assert torch.isfinite(logits.grad).all()


def test_return_normalizer_matches_definition():
    norm = ReturnNormalizer(3, gamma=0.5)
    rewards = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    dones = np.array([[False] * 3, [True] * 3, [False] * 3])
    seen, ret = [], np.zeros(3)
    for r, d in zip(rewards, dones):
        ret = 0.5 * ret + r
        seen.append(ret.copy())
        ret[d] = 0.0
        out = norm(r, d)
    np.testing.assert_allclose(norm.var, np.var(np.concatenate(seen)), rtol=1e-3)
    np.testing.assert_allclose(out, rewards[-1] / np.sqrt(norm.var + 1e-8))


# ---------------------------------------------------------------- persistence
@pytest.mark.parametrize("agent", AGENTS)
def test_save_load_round_trip(agent, trained, scenario, paths, tmp_path):
    policy = trained[agent]
    path = oa.save_policy(policy, tmp_path / f"{agent}.zip")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["manifest.json", "state.pt"]
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["state_file"] == "state.pt" and manifest["policy_id"] == agent
    assert "torch" in manifest["versions"]
    loaded = oa.load_policy(path)
    assert type(loaded) is type(policy) and loaded.config() == policy.config()  # hidden_sizes: JSON list
    np.testing.assert_array_equal(oa.rollout(loaded, scenario, paths).actions,
                                  oa.rollout(policy, scenario, paths).actions)
    np.testing.assert_array_equal(loaded.obs_scale_, policy.obs_scale_)
    assert loaded.learning_curve_.equals(policy.learning_curve_)
    assert loaded.optimum_ == policy.optimum_


def _rewrite(path, out, **members):
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, members.get(name, src.read(name)))
    return out


@pytest.fixture(scope="module")
def saved(tmp_path_factory, scenario):
    folder = tmp_path_factory.mktemp("ckpt")
    return {a: oa.save_policy(oa.make_policy(a, **quick(a)).fit(scenario, seed=0), folder / f"{a}.zip")
            for a in AGENTS}


def test_corrupt_state_pt(saved, tmp_path):
    path = _rewrite(saved["ppo"], tmp_path / "corrupt.zip", **{"state.pt": b"\x00garbage" * 10})
    with pytest.raises(CheckpointError, match="corrupt state.pt"):
        oa.load_policy(path)


def test_pickled_object_in_state_pt_is_refused(saved, tmp_path):
    buffer = io.BytesIO()
    torch.save({"network": {}, "arrays": {}, "evil": object()}, buffer)  # needs unpickling a foreign class
    path = _rewrite(saved["ppo"], tmp_path / "evil.zip", **{"state.pt": buffer.getvalue()})
    with pytest.raises(CheckpointError, match="corrupt state.pt"):
        oa.load_policy(path)


def test_foreign_network_is_refused(saved, tmp_path):
    """A DQN's state.pt in a PPO checkpoint: the keys do not fit the network."""
    with zipfile.ZipFile(saved["dqn"]) as zf:
        foreign = zf.read("state.pt")
    path = _rewrite(saved["ppo"], tmp_path / "swapped.zip", **{"state.pt": foreign})
    with pytest.raises(CheckpointError, match="does not match policy 'ppo'"):
        oa.load_policy(path)


def test_foreign_zip(tmp_path):
    path = tmp_path / "foreign.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("model.pt", b"weights")
        zf.writestr("config.json", "{}")
    with pytest.raises(CheckpointError, match="unreadable"):
        oa.load_policy(path)


def test_missing_state_pt(saved, tmp_path):
    out = tmp_path / "nostate.zip"
    with zipfile.ZipFile(saved["a2c"]) as src, zipfile.ZipFile(out, "w") as dst:
        dst.writestr("manifest.json", src.read("manifest.json"))
    with pytest.raises(CheckpointError, match="unreadable"):
        oa.load_policy(out)


def test_unfitted_agent_raises(scenario):
    from optalloc.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        oa.make_policy("ppo").act_batch(scenario.observe(0, scenario.initial_state(1)),
                                        {"action_mask": scenario.action_mask(0, scenario.initial_state(1))})


def test_keep_best_returns_the_network_that_did_best_on_validation():
    from optalloc.evaluation import rollout

    scenario = oa.make_scenario("beds/seed002-v0", horizon=5)
    policy = oa.make_policy("ppo", total_timesteps=6_000, num_envs=32, num_steps=16, eval_interval=1_000,
                            eval_episodes=16, hidden_sizes=(16, 16), compute_optimum=False).fit(scenario, seed=0)
    curve = policy.learning_curve_.dropna(subset=["eval_cost"])
    assert len(curve) >= 4
    final = rollout(policy, scenario, scenario.sample_noise(0, 16, "validate")).total_cost.mean()
    assert final == pytest.approx(curve["eval_cost"].min(), rel=1e-12)
