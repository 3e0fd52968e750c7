"""Training that diverges stops with TrainingDivergedError and leaves no fitted policy behind.

The triggers are real numerical failures, not mocks where possible: a learning
rate so large that the first Adam steps overflow float32 (a loss of inf), a
reward scale so large that the rewards overflow float32 (-inf), or the reward
normaliser's running variance overflowing (NaN).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optalloc as oa
from optalloc.exceptions import NotFittedError, OptallocError, TrainingDivergedError
from optalloc.rl import dqn
from optalloc.rl.policy import DivergenceGuard, TrainingLog

TINY = {
    "ppo": {"total_timesteps": 96, "num_envs": 8, "num_steps": 6, "num_minibatches": 2, "update_epochs": 2},
    "a2c": {"total_timesteps": 96, "num_envs": 8, "num_steps": 6},
    "dqn": {"total_timesteps": 96, "num_envs": 8, "buffer_size": 96, "batch_size": 8, "learning_starts": 16,
            "train_frequency": 8, "target_network_frequency": 32},
}
QUIET = {"hidden_sizes": (16, 16), "eval_episodes": 2, "compute_optimum": False}


@pytest.fixture(scope="module")
def short():
    return oa.make_scenario("beds/seed002-v0", horizon=3)


@pytest.fixture(autouse=True)
def _overflow_warnings_are_expected():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow warnings, the point of these runs
        yield


def _diverges(policy, scenario, pattern):
    with pytest.raises(TrainingDivergedError, match=pattern) as info:
        policy.fit(scenario, seed=0)
    message = str(info.value)
    assert "\n" not in message and message.endswith("The policy is left unfitted.")
    assert not policy.is_fitted() and not hasattr(policy, "network_") and not hasattr(policy, "model_")
    return message


# ---------------------------------------------------------------- each agent
@pytest.mark.parametrize(("agent", "unit"), [("ppo", r"iteration 1 of 2"), ("a2c", r"update \d of 2")])
def test_huge_learning_rate(agent, unit, short):
    policy = oa.make_policy(agent, **TINY[agent], **QUIET, learning_rate=1e20)
    message = _diverges(policy, short, rf"^{agent.upper()}Policy training diverged at env step \d+ \({unit}\): "
                                       r"the (loss|gradient norm) is (inf|nan); lower learning_rate \(now 1e\+20\) "
                                       r"or reward_scale \(now 1e-06\)")
    assert re.search(r"env step (48|96)\b", message)


@pytest.mark.parametrize("agent", ["ppo", "a2c", "dqn"])
def test_rewards_overflowing_float32(agent, short):
    policy = oa.make_policy(agent, **TINY[agent], **QUIET, reward_scale=1e300, norm_reward=False)
    _diverges(policy, short, rf"^{agent.upper()}Policy training diverged at env step \d+ .*: a reward the agent "
                             r"learns from is -inf \(after reward scaling, as float32\); lower reward_scale "
                             r"\(now 1e\+300\)\.")


@pytest.mark.parametrize("agent", ["ppo", "a2c", "dqn"])
def test_reward_normaliser_overflowing(agent, short):
    policy = oa.make_policy(agent, **TINY[agent], **QUIET, reward_scale=1e300, norm_reward=True)
    _diverges(policy, short, r"running standard deviation of the return that normalises the rewards is nan; "
                             r"lower reward_scale")


def test_dqn_non_finite_loss_is_caught_before_the_optimiser_step(short, monkeypatch):
    """A NaN TD target (here injected) stops DQN at its first gradient step, with finite rewards."""
    real = dqn.q_learning_target
    monkeypatch.setattr(dqn, "q_learning_target", lambda *args: real(*args) * torch.nan)
    steps = []
    real_step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: steps.append(1) or real_step(self, *a, **k))
    policy = oa.make_policy("dqn", **TINY["dqn"], **QUIET)
    _diverges(policy, short, r"^DQNPolicy training diverged at env step 24 \(gradient step 1 of 10\): the loss is "
                             r"nan; lower learning_rate \(now 0\.0005\)")
    assert steps == []


def test_refit_that_diverges_drops_the_previous_fit(short, tmp_path):
    policy = oa.make_policy("ppo", **TINY["ppo"], **QUIET).fit(short, seed=0)
    assert policy.is_fitted()
    policy.set_params(learning_rate=1e20)
    _diverges(policy, short, "PPOPolicy training diverged")
    with pytest.raises(NotFittedError):
        oa.save_policy(policy, tmp_path / "p.zip")
    assert not (tmp_path / "p.zip").exists()
    with pytest.raises(NotFittedError):
        policy.act_batch(short.observe(0, short.initial_state(1)), {"action_mask": np.ones((1, 11), bool)})


def test_evaluate_propagates_the_error(short):
    with pytest.raises(TrainingDivergedError, match="PPOPolicy training diverged"):
        oa.evaluate({"ppo": oa.make_policy("ppo", **TINY["ppo"], **QUIET, learning_rate=1e20)}, short, episodes=4)


# ---------------------------------------------------------------- sb3-ppo
SB3 = {"n_envs": 2, "n_steps": 16, "batch_size": 16, "n_epochs": 1, "net_arch": (16, 16)}


@pytest.mark.parametrize(("total", "cause"), [(32, type(None)), (64, ValueError)])
def test_sb3_ppo_huge_learning_rate(short, total, cause):
    """32 steps: one rollout, one update, NaN weights found after learn; 64: SB3's own ValueError on NaN logits."""
    pytest.importorskip("stable_baselines3")
    policy = oa.make_policy("sb3-ppo", **SB3, total_timesteps=total, learning_rate=1e20)
    with pytest.raises(TrainingDivergedError, match=r"^SB3PPOPolicy training diverged at env step 32: .*not finite|"
                                                    r"^SB3PPOPolicy training diverged at env step 32: the action "
                                                    r"logits became non-finite") as info:
        policy.fit(short, seed=0)
    assert isinstance(info.value.__cause__, cause)
    assert "\n" not in str(info.value) and "lower learning_rate (now 1e+20)" in str(info.value)
    assert not policy.is_fitted()


# ---------------------------------------------------------------- the pieces
def test_guard_messages_and_checks():
    closed = []
    guard = DivergenceGuard("XPolicy", learning_rate=0.01, reward_scale=2.0, unit="update", total=7,
                            on_error=lambda: closed.append(True))
    guard.check_update(torch.tensor(1.0), torch.tensor(3.0), 10, 1)
    guard.check_rewards(torch.ones(3), 10, 1, divisor=2.0)
    guard.check_weights(torch.nn.Linear(2, 2), 10)
    assert closed == []
    with pytest.raises(TrainingDivergedError, match=r"^XPolicy training diverged at env step 1,234 \(update 3 of 7\): "
                                                    r"the gradient norm is inf; lower learning_rate \(now 0\.01\) "
                                                    r"or reward_scale \(now 2\)\."):
        guard.check_update(torch.tensor(1.0), torch.tensor(float("inf")), 1234, 3)
    with pytest.raises(TrainingDivergedError, match="a reward the agent learns from is nan"):
        guard.check_update(torch.tensor(float("nan")), torch.tensor(1.0), 5, 1,
                           rewards=torch.tensor([1.0, float("nan")]))
    with pytest.raises(TrainingDivergedError, match="the running standard deviation .* is inf"):
        guard.check_rewards(torch.ones(3), 10, 1, divisor=float("inf"))
    layer = torch.nn.Linear(2, 2)
    with torch.no_grad():
        layer.bias[1] = float("nan")
    with pytest.raises(TrainingDivergedError, match=r"at env step 10: the weights bias are not finite"):
        guard.check_weights(layer, 10)
    assert len(closed) == 4
    assert issubclass(TrainingDivergedError, OptallocError)


def test_training_log_never_evaluates_nor_keeps_a_nan_network(short, monkeypatch):
    policy = oa.make_policy("ppo", **TINY["ppo"], **QUIET).fit(short, seed=0)
    log = TrainingLog(policy, short, eval_interval=10, eval_episodes=2, eval_seed=0, compute_optimum=False,
                      keep_best=True, unit="iteration", total_updates=5)
    log.record(10)
    assert log.best_state is not None
    best = {k: v.clone() for k, v in log.best_state.items()}
    with torch.no_grad():
        next(policy.network_.parameters())[0, 0] = float("inf")
    monkeypatch.setattr(log, "evaluate", lambda: pytest.fail("a network holding inf was evaluated"))
    with pytest.raises(TrainingDivergedError, match=r"PPOPolicy training diverged at env step 20: the weights "
                                                    r"actor\.0\.weight are not finite; lower learning_rate"):
        log.record(20)
    with pytest.raises(TrainingDivergedError):
        log.record(25, final=True)  # not an evaluation step, but the end: checked too
    assert all(torch.equal(best[k], v) for k, v in log.best_state.items())


# ---------------------------------------------------------------- command line
def test_cli_train_that_diverges_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    from optalloc import cli

    out = tmp_path / "ppo.zip"
    code = cli.main(["train", "--scenario", "beds/seed002-v0", "--set", "horizon=3", "--policy",
                     "ppo:learning_rate=1e20,total_timesteps=96,num_envs=8,num_steps=6,eval_episodes=2",
                     "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    # What a terminal shows: the progress bar is erased (carriage returns), then exactly one line.
    lines = [line.rsplit("\r", 1)[-1] for line in captured.err.split("\n")]
    assert lines[-1] == "" and [line for line in lines[:-1] if line.strip()] == lines[:-1] and len(lines) == 2
    assert re.fullmatch(r"optalloc: error: PPOPolicy training diverged at env step \d+ \(iteration \d of 2\): the "
                        r"loss is (inf|nan); lower learning_rate \(now 1e\+20\) or reward_scale \(now 1e-06\)\. "
                        r"The policy is left unfitted\.", lines[0])
    assert not out.exists() and list(tmp_path.iterdir()) == []
