"""The RL agents' internals against plain-loop references written from the papers' formulas.

Each pure function of :mod:`optalloc.rl.losses` (and DQN's exploration and
target-network helpers, and :class:`MaskedCategorical`) is compared with a
reimplementation in plain Python floats. Then short instrumented training runs
check that every documented hyperparameter reaches the piece it should
(``gae_lambda`` the advantages given to the loss, ``norm_adv`` the advantages
the clipped objective sees, ``target_kl`` the number of epochs, ...).

Rollout convention of the references (same-step autoreset, as the loops store
it): ``dones[t] = 1`` when ``obs[t]`` is the first observation of a new
episode, i.e. the transition of step ``t - 1`` ended an episode;
``next_done`` / ``next_value`` describe the observation after the rollout's
last step. An episode's end is a termination: nothing after it is bootstrapped.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import optalloc as oa
from optalloc.rl import a2c, dqn, losses, ppo
from optalloc.rl.policy import MaskedCategorical

QUIET = {"eval_episodes": 0, "compute_optimum": False, "hidden_sizes": (8,)}


# ---------------------------------------------------------------- plain-loop references
def reference_gae(rewards, values, dones, next_value, next_done, gamma, lam):
    """A_t = sum_l (gamma lam)^l delta_{t+l}, summed up to the end of t's episode or of the rollout.

    delta_t = r_t + gamma V(s_{t+1}) (1 - done_{t+1}) - V(s_t), with done_{t+1} = dones[t + 1]
    (next_done for the last step) and V(s_{t+1}) = values[t + 1] (next_value for the last step).
    Written as the explicit sum of Schulman et al. (2016, eq. 16), not as the backward recursion.
    """
    rewards, values, dones = np.asarray(rewards, float), np.asarray(values, float), np.asarray(dones, float)
    num_steps, num_envs = rewards.shape
    advantages = [[0.0] * num_envs for _ in range(num_steps)]
    for i in range(num_envs):
        ends = [dones[t + 1][i] == 1.0 for t in range(num_steps - 1)] + [float(next_done[i]) == 1.0]
        after = [values[t + 1][i] for t in range(num_steps - 1)] + [float(next_value[i])]
        deltas = [rewards[t][i] + (0.0 if ends[t] else gamma * after[t]) - values[t][i] for t in range(num_steps)]
        for t in range(num_steps):
            total, weight, k = 0.0, 1.0, t
            while True:
                total += weight * deltas[k]
                if ends[k] or k == num_steps - 1:
                    break
                weight *= gamma * lam
                k += 1
            advantages[t][i] = total
    advantages = np.array(advantages)
    return advantages, advantages + values


def reference_normalize(advantages):
    """(A - mean) / (std + 1e-8) with the unbiased (n - 1) standard deviation."""
    a = [float(x) for x in advantages]
    n = len(a)
    mean = sum(a) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in a) / (n - 1))
    return np.array([(x - mean) / (std + 1e-8) for x in a])


def reference_clipped_surrogate(advantages, ratio, eps):
    """mean_i max(-A_i r_i, -A_i clip(r_i, 1 - eps, 1 + eps)) (Schulman et al. 2017, eq. 7, as a loss)."""
    terms = []
    for a, r in zip(map(float, advantages), map(float, ratio)):
        clipped = min(max(r, 1 - eps), 1 + eps)
        terms.append(max(-a * r, -a * clipped))
    return sum(terms) / len(terms)


def reference_value_loss(new, returns, old=None, eps=None):
    terms = []
    for i, (v, r) in enumerate(zip(map(float, new), map(float, returns))):
        unclipped = (v - r) ** 2
        if eps is None:
            terms.append(unclipped)
        else:
            vo = float(old[i])
            clipped_v = vo + min(max(v - vo, -eps), eps)
            terms.append(max(unclipped, (clipped_v - r) ** 2))
    return sum(terms) / len(terms)


def reference_ppo_loss(new_logp, old_logp, entropy, new_v, adv, returns, old_v, *, clip_coef, clip_vloss, ent_coef,
                       vf_coef, norm_adv):
    ratio = [math.exp(float(n) - float(o)) for n, o in zip(new_logp, old_logp)]
    logratio = [float(n) - float(o) for n, o in zip(new_logp, old_logp)]
    kl = sum((r - 1) - lr for r, lr in zip(ratio, logratio)) / len(ratio)
    a = reference_normalize(adv) if norm_adv else [float(x) for x in adv]
    pg = reference_clipped_surrogate(a, ratio, clip_coef)
    v = 0.5 * reference_value_loss(new_v, returns, old_v, clip_coef if clip_vloss else None)
    h = sum(map(float, entropy)) / len(entropy)
    return {"loss": pg - ent_coef * h + vf_coef * v, "policy_loss": pg, "value_loss": v, "entropy": h, "approx_kl": kl}


def reference_masked_distribution(logits, mask):
    """Softmax over the feasible entries of one row; 0 for the others."""
    feasible = [float(z) for z, m in zip(logits, mask) if m]
    top = max(feasible)
    norm = sum(math.exp(z - top) for z in feasible)
    return [math.exp(float(z) - top) / norm if m else 0.0 for z, m in zip(logits, mask)]


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def rollout():
    """A (7 steps x 4 envs) rollout with episode ends mid-rollout, at the end and nowhere."""
    rng = np.random.default_rng(11)
    num_steps, num_envs = 7, 4
    dones = np.zeros((num_steps, num_envs), dtype=np.float32)
    dones[3, 0] = 1.0             # env 0: the transition of step 2 ended an episode
    dones[2, 1] = dones[5, 1] = 1.0  # env 1: two ends, one of them two steps before the rollout's end
    dones[1, 3] = 1.0             # env 3: an end right after the first step
    next_done = np.array([1.0, 0.0, 0.0, 1.0], dtype=np.float32)  # env 2: no end at all
    return {"rewards": rng.normal(size=(num_steps, num_envs)).astype(np.float32),
            "values": rng.normal(size=(num_steps, num_envs)).astype(np.float32),
            "dones": dones, "next_value": rng.normal(size=num_envs).astype(np.float32), "next_done": next_done}


def _gae(r, gamma, lam):
    return losses.gae(*(torch.from_numpy(r[k]) for k in ("rewards", "values", "dones", "next_value", "next_done")),
                      gamma, lam)


# ---------------------------------------------------------------- GAE
@pytest.mark.parametrize(("gamma", "lam"), [(0.99, 0.95), (1.0, 0.95), (0.9, 0.0), (1.0, 1.0), (0.97, 0.5)])
def test_gae_matches_the_explicit_sum(rollout, gamma, lam):
    advantages, returns = _gae(rollout, gamma, lam)
    ref_adv, ref_ret = reference_gae(rollout["rewards"], rollout["values"], rollout["dones"], rollout["next_value"],
                                     rollout["next_done"], gamma, lam)
    np.testing.assert_allclose(advantages.numpy(), ref_adv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(returns.numpy(), ref_ret, rtol=1e-5, atol=1e-5)


def test_gae_does_not_bootstrap_across_an_episode_end(rollout):
    """The value after an episode's last step is the next episode's first: it must not enter the advantage."""
    changed = {k: v.copy() for k, v in rollout.items()}
    changed["values"][3, 0] += 100.0      # first value of env 0's second episode
    changed["next_value"][0] += 100.0     # after a terminal last step
    base, _ = _gae(rollout, 0.99, 0.95)
    moved, _ = _gae(changed, 0.99, 0.95)
    np.testing.assert_array_equal(moved[:3, 0].numpy(), base[:3, 0].numpy())
    assert not torch.equal(moved[3, 0], base[3, 0])
    np.testing.assert_array_equal(moved[:, 1:].numpy(), base[:, 1:].numpy())


def test_gae_lambda_zero_is_the_td_error_and_one_the_return_to_go(rollout):
    r, v = rollout["rewards"], rollout["values"]
    td, _ = _gae(rollout, 0.9, 0.0)
    # env 2 never ends: one-step TD error with bootstrap from the next value.
    expected = [r[t, 2] + 0.9 * (v[t + 1, 2] if t < 6 else rollout["next_value"][2]) - v[t, 2] for t in range(7)]
    np.testing.assert_allclose(td[:, 2].numpy(), expected, rtol=1e-5, atol=1e-6)
    mc, returns = _gae(rollout, 1.0, 1.0)
    # env 0: episode of steps 0..2, then steps 3..6 ending the rollout with a termination.
    np.testing.assert_allclose(returns[:3, 0].numpy(), [r[0:3, 0].sum(), r[1:3, 0].sum(), r[2, 0]], rtol=1e-5)
    np.testing.assert_allclose(returns[3:, 0].numpy(), [r[t:7, 0].sum() for t in range(3, 7)], rtol=1e-5)


def test_gae_lambda_changes_the_advantages(rollout):
    a95, _ = _gae(rollout, 0.99, 0.95)
    a50, _ = _gae(rollout, 0.99, 0.5)
    a100, _ = _gae(rollout, 0.99, 1.0)
    assert (a95 - a50).abs().max() > 0.05 and (a95 - a100).abs().max() > 0.05


# ---------------------------------------------------------------- normalisation, objectives, losses
def test_normalize_advantages_uses_the_unbiased_std():
    rng = np.random.default_rng(0)
    for n in (2, 3, 17):
        a = rng.normal(3.0, 2.0, size=n).astype(np.float32)
        np.testing.assert_allclose(losses.normalize_advantages(torch.from_numpy(a)).numpy(), reference_normalize(a),
                                   rtol=1e-5, atol=1e-6)
    # Two values: unbiased std = |a - b| / sqrt 2, so the outputs are -+1/sqrt 2 (the biased one gives -+1).
    np.testing.assert_allclose(losses.normalize_advantages(torch.tensor([0.0, 1.0])).numpy(),
                               [-1 / math.sqrt(2), 1 / math.sqrt(2)], rtol=1e-6)
    one = torch.tensor([5.0])
    assert torch.equal(losses.normalize_advantages(one), one)  # std undefined: left as it is
    np.testing.assert_array_equal(losses.normalize_advantages(torch.full((4,), 2.5)).numpy(), np.zeros(4))


@pytest.fixture(scope="module")
def minibatch():
    """Ratios on both sides of both clipping bounds, advantages of both signs."""
    ratio = torch.tensor([0.5, 0.79, 0.85, 1.0, 1.1, 1.19, 1.21, 1.6] * 2, dtype=torch.float32)
    adv = torch.tensor([1.5, -0.7, 2.0, -1.0, 0.3, -2.2, 0.9, -0.4, -1.5, 0.7, -2.0, 1.0, -0.3, 2.2, -0.9, 0.4])
    rng = np.random.default_rng(3)
    n = len(ratio)
    old_logp = torch.from_numpy(rng.uniform(-3, -0.1, n).astype(np.float32))
    return {"ratio": ratio, "adv": adv, "old_logp": old_logp, "new_logp": old_logp + torch.log(ratio),
            "entropy": torch.from_numpy(rng.uniform(0.1, 2.0, n).astype(np.float32)),
            "new_v": torch.from_numpy(rng.normal(size=n).astype(np.float32)),
            "old_v": torch.from_numpy(rng.normal(size=n).astype(np.float32)),
            "returns": torch.from_numpy(rng.normal(size=n).astype(np.float32))}


@pytest.mark.parametrize("eps", [0.2, 0.1, 0.5])
def test_clipped_surrogate_matches_the_formula(minibatch, eps):
    got = float(losses.clipped_surrogate(minibatch["adv"], minibatch["ratio"], eps))
    assert got == pytest.approx(reference_clipped_surrogate(minibatch["adv"], minibatch["ratio"], eps), rel=1e-6)


def test_clip_coef_changes_the_objective_and_stops_the_gradient_outside_the_trust_region(minibatch):
    adv, ratio = minibatch["adv"], minibatch["ratio"].clone().requires_grad_()
    assert float(losses.clipped_surrogate(adv, minibatch["ratio"], 0.2)) != \
        float(losses.clipped_surrogate(adv, minibatch["ratio"], 0.1))
    losses.clipped_surrogate(adv, ratio, 0.2).backward()
    r, a = minibatch["ratio"].numpy(), adv.numpy()
    # The clipped term wins (zero gradient) where the ratio left [0.8, 1.2] in the advantage's favour.
    clipped = ((a > 0) & (r > 1.2)) | ((a < 0) & (r < 0.8))
    np.testing.assert_array_equal(ratio.grad.numpy()[clipped], 0.0)
    np.testing.assert_allclose(ratio.grad.numpy()[~clipped], -a[~clipped] / len(a), rtol=1e-6)


@pytest.mark.parametrize("eps", [None, 0.2, 0.05])
def test_value_loss_matches_the_formula(minibatch, eps):
    got = float(losses.value_loss(minibatch["new_v"], minibatch["returns"], minibatch["old_v"], eps))
    ref = reference_value_loss(minibatch["new_v"], minibatch["returns"], minibatch["old_v"], eps)
    assert got == pytest.approx(ref, rel=1e-6)
    if eps is not None:
        assert got != pytest.approx(reference_value_loss(minibatch["new_v"], minibatch["returns"]), rel=1e-3)


def test_approx_kl_and_policy_gradient_loss(minibatch):
    logratio = minibatch["new_logp"] - minibatch["old_logp"]
    ref = sum(math.exp(float(x)) - 1 - float(x) for x in logratio) / len(logratio)
    assert float(losses.approx_kl(logratio, logratio.exp())) == pytest.approx(ref, rel=1e-5)
    ref_pg = -sum(float(a) * float(lp) for a, lp in zip(minibatch["adv"], minibatch["new_logp"])) / len(logratio)
    got_pg = float(losses.policy_gradient_loss(minibatch["adv"], minibatch["new_logp"]))
    assert got_pg == pytest.approx(ref_pg, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize(("norm_adv", "clip_vloss", "ent_coef", "vf_coef", "clip_coef"),
                         [(True, False, 0.01, 0.5, 0.2), (False, False, 0.01, 0.5, 0.2), (True, True, 0.1, 1.0, 0.1),
                          (False, True, 0.0, 0.25, 0.3)])
def test_ppo_loss_matches_the_formula(minibatch, norm_adv, clip_vloss, ent_coef, vf_coef, clip_coef):
    m = minibatch
    kwargs = {"clip_coef": clip_coef, "clip_vloss": clip_vloss, "ent_coef": ent_coef, "vf_coef": vf_coef,
              "norm_adv": norm_adv}
    got = losses.ppo_loss(m["new_logp"], m["old_logp"], m["entropy"], m["new_v"], m["adv"], m["returns"], m["old_v"],
                          **kwargs)
    ref = reference_ppo_loss(m["new_logp"], m["old_logp"], m["entropy"], m["new_v"], m["adv"], m["returns"], m["old_v"],
                             **kwargs)
    for name, value in ref.items():
        assert float(getattr(got, name)) == pytest.approx(value, rel=1e-5, abs=1e-7), name


def test_norm_adv_normalises_only_when_asked(minibatch):
    m = minibatch
    args = (m["new_logp"], m["old_logp"], m["entropy"], m["new_v"], m["adv"], m["returns"], m["old_v"])
    common = {"clip_coef": 0.2, "clip_vloss": False, "ent_coef": 0.0, "vf_coef": 0.5}
    raw = losses.ppo_loss(*args, norm_adv=False, **common).policy_loss
    normed = losses.ppo_loss(*args, norm_adv=True, **common).policy_loss
    assert float(raw) == pytest.approx(reference_clipped_surrogate(m["adv"], m["ratio"], 0.2), rel=1e-6)
    assert float(normed) == pytest.approx(reference_clipped_surrogate(reference_normalize(m["adv"]), m["ratio"], 0.2),
                                          rel=1e-5)
    assert abs(float(raw) - float(normed)) > 1e-3


def test_ent_coef_and_vf_coef_weight_their_terms(minibatch):
    m = minibatch
    args = (m["new_logp"], m["old_logp"], m["entropy"], m["new_v"], m["adv"], m["returns"], m["old_v"])

    def loss(ent_coef, vf_coef, entropy=m["entropy"]):
        return losses.ppo_loss(*args[:2], entropy, *args[3:], clip_coef=0.2, clip_vloss=False, ent_coef=ent_coef,
                               vf_coef=vf_coef, norm_adv=True)

    base = loss(0.0, 0.0)
    assert float(base.loss) == pytest.approx(float(base.policy_loss), rel=1e-7)
    assert float(loss(0.3, 0.0).loss - base.loss) == pytest.approx(-0.3 * float(base.entropy), rel=1e-5)
    assert float(loss(0.0, 2.0).loss - base.loss) == pytest.approx(2.0 * float(base.value_loss), rel=1e-5)
    entropy = m["entropy"].clone().requires_grad_()
    loss(0.25, 0.5, entropy).loss.backward()
    np.testing.assert_allclose(entropy.grad.numpy(), -0.25 / len(entropy), rtol=1e-6)
    # A2C's combination is the same weighted sum.
    combined = losses.actor_critic_loss(torch.tensor(1.5), torch.tensor(2.0), torch.tensor(4.0), 0.1, 0.5)
    assert float(combined) == pytest.approx(1.5 - 0.1 * 2.0 + 0.5 * 4.0)


def test_q_learning_target_matches_the_formula():
    rng = np.random.default_rng(5)
    n, k = 12, 5
    rewards = rng.normal(size=n).astype(np.float32)
    q = rng.normal(size=(n, k)).astype(np.float32) * 3
    mask = rng.random((n, k)) < 0.5
    mask[np.arange(n), rng.integers(0, k, n)] = True
    mask[0] = [False, False, False, False, True]  # the best feasible is the only one
    q[0] = [9.0, 8.0, 7.0, 6.0, -1.0]
    terminated = rng.random(n) < 0.3
    got = losses.q_learning_target(torch.from_numpy(rewards), torch.from_numpy(q), torch.from_numpy(mask),
                                   torch.from_numpy(terminated), 0.9, reward_divisor=2.0)
    ref = [rewards[i] / 2.0 + (0.0 if terminated[i] else 0.9 * max(float(q[i, a]) for a in range(k) if mask[i, a]))
           for i in range(n)]
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6)
    if not terminated[0]:
        assert float(got[0]) == pytest.approx(rewards[0] / 2.0 - 0.9)


# ---------------------------------------------------------------- masking
def test_masked_categorical_zero_probability_no_sampling_no_nan_gradient():
    rng = np.random.default_rng(1)
    n, k = 400, 6
    logits = torch.from_numpy(rng.normal(0, 2, size=(n, k)).astype(np.float32))
    logits[:, 0] = 30.0                      # infeasible, and much preferred by the network
    mask = torch.from_numpy(rng.random((n, k)) < 0.6)
    mask[:, 0] = False
    mask[torch.arange(n), torch.from_numpy(rng.integers(1, k, n))] = True
    mask[0] = torch.tensor([False, False, True, False, False, False])  # a single feasible action
    logits.requires_grad_()
    dist = MaskedCategorical(logits, mask)
    probs = dist.log_probs.exp()
    assert (probs[~mask] == 0).all()
    for i in range(0, n, 37):
        np.testing.assert_allclose(probs[i].detach().numpy(), reference_masked_distribution(logits[i].detach(), mask[i]),
                                   rtol=1e-5, atol=1e-7)
    ref_entropy = [-sum(p * math.log(p) for p in reference_masked_distribution(logits[i].detach(), mask[i]) if p > 0)
                   for i in range(n)]
    np.testing.assert_allclose(dist.entropy().detach().numpy(), ref_entropy, rtol=1e-4, atol=1e-6)
    assert float(dist.entropy()[0].detach()) == 0.0
    actions = torch.cat([dist.sample(torch.Generator().manual_seed(s)) for s in range(20)])
    assert mask.repeat(20, 1)[torch.arange(20 * n), actions].all()
    assert (actions[::n] == 2).all()
    (dist.entropy().sum() + dist.log_prob(actions[:n]).sum()).backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad[~mask] == 0).all()


def test_masked_categorical_samples_in_proportion():
    logits = torch.log(torch.tensor([[0.1, 0.3, 0.2, 0.4]])).repeat(20_000, 1)
    mask = torch.tensor([[True, True, False, True]]).repeat(20_000, 1)
    actions = MaskedCategorical(logits, mask).sample(torch.Generator().manual_seed(0))
    freq = np.bincount(actions.numpy(), minlength=4) / 20_000
    np.testing.assert_allclose(freq, [0.125, 0.375, 0.0, 0.5], atol=0.015)


@pytest.fixture(scope="module")
def capped():
    """Masks bind: at most two beds more, ever (the beds presets never mask an action)."""
    scenario = oa.make_scenario("beds/seed002-v0", horizon=5, max_beds=52)
    mask = scenario.action_mask(0, scenario.initial_state(1))
    assert not mask.all()
    return scenario


@pytest.mark.parametrize("agent", ["ppo", "a2c", "dqn"])
def test_training_samples_only_feasible_actions_where_masks_bind(agent, capped):
    """The env raises InfeasibleActionError on a masked action, so a finished fit means none was sampled."""
    params = {"ppo": {"total_timesteps": 480, "num_envs": 16, "num_steps": 10, "ent_coef": 0.5},
              "a2c": {"total_timesteps": 480, "num_envs": 16, "num_steps": 10, "ent_coef": 0.5},
              "dqn": {"total_timesteps": 480, "num_envs": 16, "learning_starts": 160, "batch_size": 16,
                      "buffer_size": 480, "train_frequency": 16, "start_e": 1.0, "end_e": 1.0}}[agent]
    policy = oa.make_policy(agent, **params, **QUIET).fit(capped, seed=0)
    actions = oa.rollout(policy, capped, capped.sample_noise(0, 8)).actions
    assert np.asarray(actions).max() <= 2


# ---------------------------------------------------------------- DQN pieces
def test_linear_schedule_matches_the_formula():
    for t in (0, 10, 250, 500, 501, 10_000):
        assert dqn.linear_schedule(1.0, 0.05, 500.0, t) == pytest.approx(max(1.0 + (0.05 - 1.0) * t / 500.0, 0.05))
    assert dqn.linear_schedule(0.5, 0.1, 0.0, 1) == pytest.approx(0.1)


def test_epsilon_greedy_explores_uniformly_over_feasible_actions_only():
    rng = np.random.default_rng(0)
    n, k = 30_000, 5
    mask = np.tile(np.array([True, False, True, True, False]), (n, 1))
    greedy = np.full(n, 3)
    np.testing.assert_array_equal(dqn.epsilon_greedy(greedy, mask, 0.0, rng), greedy)
    explored = dqn.epsilon_greedy(greedy, mask, 1.0, rng)
    np.testing.assert_allclose(np.bincount(explored, minlength=k) / n, [1 / 3, 0, 1 / 3, 1 / 3, 0], atol=0.01)
    half = dqn.epsilon_greedy(greedy, mask, 0.5, rng)
    # Greedy half the time, plus a third of the exploring half.
    assert np.mean(half == 3) == pytest.approx(0.5 + 0.5 / 3, abs=0.01)


def test_soft_update_is_the_polyak_average():
    torch.manual_seed(0)
    online, target = dqn.QNetwork(3, 4, (5,)), dqn.QNetwork(3, 4, (5,))
    before = [p.detach().clone() for p in target.parameters()]
    dqn.soft_update(target, online, 0.25)
    for b, o, t in zip(before, online.parameters(), target.parameters()):
        torch.testing.assert_close(t, 0.25 * o.detach() + 0.75 * b)
    dqn.soft_update(target, online, 1.0)
    assert all(torch.equal(o, t) for o, t in zip(online.parameters(), target.parameters()))


# ---------------------------------------------------------------- instrumented training runs
@pytest.fixture(scope="module")
def short():
    return oa.make_scenario("beds/seed002-v0", horizon=3)


class Recorder:
    """Wraps module-level functions of the agents, recording their arguments (cloned) and results."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.calls: dict[str, list] = {}

    def wrap(self, module, name):
        real = getattr(module, name)
        calls = self.calls.setdefault(name, [])

        def wrapper(*args, **kwargs):
            result = real(*args, **kwargs)
            clone = [a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args]
            if isinstance(result, tuple):
                out = tuple(r.detach().clone() for r in result)
            else:
                out = result.detach().clone() if isinstance(result, torch.Tensor) else result
            calls.append({"args": clone, "kwargs": dict(kwargs), "result": out})
            return result

        self.monkeypatch.setattr(module, name, wrapper)
        return calls

    def optimizer_steps(self, optimizer_class):
        real = optimizer_class.step
        groups = self.calls.setdefault("step", [])

        def step(opt, *args, **kwargs):
            groups.append(dict(opt.param_groups[0]))
            return real(opt, *args, **kwargs)

        self.monkeypatch.setattr(optimizer_class, "step", step)
        return groups


def _ppo(monkeypatch, scenario, **params):
    rec = Recorder(monkeypatch)
    rec.wrap(ppo, "gae")
    rec.wrap(ppo, "ppo_loss")
    rec.wrap(losses, "clipped_surrogate")
    rec.optimizer_steps(torch.optim.Adam)
    norms = rec.calls.setdefault("clip", [])
    real_clip = torch.nn.utils.clip_grad_norm_

    def clip(parameters, max_norm, *args, **kwargs):
        norms.append(max_norm)
        return real_clip(parameters, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    config = {"total_timesteps": 96, "num_envs": 4, "num_steps": 8, "num_minibatches": 2, "update_epochs": 2,
              **QUIET, **params}
    policy = oa.make_policy("ppo", **config).fit(scenario, seed=0)
    return rec.calls, policy


def test_ppo_rollout_dones_follow_the_documented_convention(monkeypatch, short):
    calls, _ = _ppo(monkeypatch, short, total_timesteps=96, num_envs=4, num_steps=8)
    assert len(calls["gae"]) == 3
    for iteration, call in enumerate(calls["gae"]):
        rewards, values, dones, next_value, next_done, gamma, lam = call["args"]
        assert rewards.shape == values.shape == dones.shape == (8, 4) and next_done.shape == (4,)
        steps = iteration * 8 + np.arange(8)  # env steps per episode before this row's observation
        np.testing.assert_array_equal(dones.numpy(), np.repeat(((steps > 0) & (steps % 3 == 0))[:, None], 4, 1))
        np.testing.assert_array_equal(next_done.numpy(), np.full(4, float((iteration * 8 + 8) % 3 == 0)))


@pytest.mark.parametrize("gae_lambda", [0.95, 0.3])
def test_ppo_gives_the_loss_the_gae_of_its_rollout(monkeypatch, short, gae_lambda):
    calls, _ = _ppo(monkeypatch, short, gamma=0.9, gae_lambda=gae_lambda)
    rewards, values, dones, next_value, next_done, *_ = calls["gae"][0]["args"]
    ref_adv, ref_ret = reference_gae(rewards.numpy(), values.numpy(), dones.numpy(), next_value.numpy(),
                                     next_done.numpy(), 0.9, gae_lambda)
    first_epoch = calls["ppo_loss"][:2]  # 2 minibatches: a permutation of the batch
    adv = torch.cat([c["args"][4] for c in first_epoch]).numpy()
    returns = torch.cat([c["args"][5] for c in first_epoch]).numpy()
    np.testing.assert_allclose(np.sort(adv), np.sort(ref_adv.ravel()), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.sort(returns), np.sort(ref_ret.ravel()), rtol=1e-5, atol=1e-6)
    other = reference_gae(rewards.numpy(), values.numpy(), dones.numpy(), next_value.numpy(), next_done.numpy(), 0.9,
                          1.0 - gae_lambda / 2)[0]
    assert np.abs(np.sort(other.ravel()) - np.sort(adv)).max() > 1e-3  # lambda matters on this rollout


@pytest.mark.parametrize("norm_adv", [True, False])
def test_ppo_norm_adv_reaches_the_clipped_objective(monkeypatch, short, norm_adv):
    calls, _ = _ppo(monkeypatch, short, norm_adv=norm_adv)
    assert len(calls["clipped_surrogate"]) == len(calls["ppo_loss"]) == 3 * 2 * 2
    for loss_call, objective_call in zip(calls["ppo_loss"], calls["clipped_surrogate"]):
        raw, seen = loss_call["args"][4], objective_call["args"][0]
        assert loss_call["kwargs"]["norm_adv"] is norm_adv
        if norm_adv:
            np.testing.assert_allclose(seen.numpy(), reference_normalize(raw), rtol=1e-4, atol=1e-5)
            assert abs(float(seen.mean())) < 1e-5 and float(seen.std()) == pytest.approx(1.0, abs=1e-4)
        else:
            assert torch.equal(seen, raw)
        assert objective_call["args"][2] == pytest.approx(0.2)


def test_ppo_passes_its_coefficients_to_the_loss(monkeypatch, short):
    calls, _ = _ppo(monkeypatch, short, clip_coef=0.13, clip_vloss=True, ent_coef=0.07, vf_coef=0.9,
                    max_grad_norm=0.3)
    for call in calls["ppo_loss"]:
        assert call["kwargs"] == {"clip_coef": 0.13, "clip_vloss": True, "ent_coef": 0.07, "vf_coef": 0.9,
                                  "norm_adv": True}
    assert all(c["args"][2] == 0.13 for c in calls["clipped_surrogate"])
    assert calls["clip"] == [0.3] * len(calls["ppo_loss"])


def test_ppo_epochs_minibatches_and_target_kl(monkeypatch, short):
    calls, _ = _ppo(monkeypatch, short, total_timesteps=64, num_envs=4, num_steps=8, update_epochs=3,
                    num_minibatches=4)
    assert len(calls["ppo_loss"]) == 2 * 3 * 4 and all(len(c["args"][0]) == 8 for c in calls["ppo_loss"])
    monkeypatch.undo()
    # A tiny target KL: each iteration stops after its first epoch (the KL of its last minibatch is > 0).
    calls, _ = _ppo(monkeypatch, short, total_timesteps=64, num_envs=4, num_steps=8, update_epochs=3,
                    num_minibatches=4, target_kl=1e-9)
    assert len(calls["ppo_loss"]) == 2 * 4
    assert float(calls["ppo_loss"][3]["result"][4]) > 1e-9


@pytest.mark.parametrize("anneal_lr", [True, False])
def test_ppo_learning_rate_schedule(monkeypatch, short, anneal_lr):
    calls, _ = _ppo(monkeypatch, short, learning_rate=3e-3, anneal_lr=anneal_lr)
    lrs = [g["lr"] for g in calls["step"]]
    assert len(lrs) == 3 * 2 * 2
    expected = [3e-3 * ((1 - i / 3) if anneal_lr else 1.0) for i in range(3) for _ in range(4)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    assert calls["step"][0]["eps"] == 1e-5


def test_ppo_norm_reward_divides_by_the_running_return_std(monkeypatch, short):
    raw_calls, policy = _ppo(monkeypatch, short, norm_reward=False, num_steps=3, total_timesteps=12)
    monkeypatch.undo()
    norm_calls, _ = _ppo(monkeypatch, short, norm_reward=True, num_steps=3, total_timesteps=12)
    raw, normed = raw_calls["gae"][0]["args"][0].numpy(), norm_calls["gae"][0]["args"][0].numpy()
    # Without normalisation the rewards sum to -reward_scale times the reported episode cost.
    cost = policy.learning_curve_["episode_cost_mean"].iloc[0]
    scale = 1.0 / short.cost_scale
    assert -raw.sum(axis=0).mean() / scale == pytest.approx(cost, rel=1e-5)
    # With it, each step's rewards share one divisor: the running std of the discounted (gamma = 1) return.
    divisor = raw / normed
    np.testing.assert_allclose(divisor, divisor[:, :1].repeat(4, 1), rtol=1e-5)
    returns = np.cumsum(raw, axis=0)
    for t in range(3):
        assert divisor[t, 0] == pytest.approx(np.std(returns[:t + 1]), rel=0.05)


def _a2c(monkeypatch, scenario, **params):
    rec = Recorder(monkeypatch)
    for name in ("gae", "normalize_advantages", "policy_gradient_loss", "value_loss", "actor_critic_loss"):
        rec.wrap(a2c, name)
    rec.optimizer_steps(torch.optim.RMSprop)
    config = {"total_timesteps": 64, "num_envs": 4, "num_steps": 8, **QUIET, **params}
    oa.make_policy("a2c", **config).fit(scenario, seed=0)
    return rec.calls


@pytest.mark.parametrize("norm_adv", [False, True])
def test_a2c_uses_gae_with_its_lambda_and_norm_adv(monkeypatch, short, norm_adv):
    calls = _a2c(monkeypatch, short, gamma=0.9, gae_lambda=0.6, norm_adv=norm_adv)
    assert len(calls["gae"]) == len(calls["policy_gradient_loss"]) == 2
    for gae_call, pg_call, v_call in zip(calls["gae"], calls["policy_gradient_loss"], calls["value_loss"]):
        rewards, values, dones, next_value, next_done, *_ = gae_call["args"]
        ref_adv, ref_ret = reference_gae(rewards.numpy(), values.numpy(), dones.numpy(), next_value.numpy(),
                                         next_done.numpy(), 0.9, 0.6)
        seen = pg_call["args"][0].numpy()
        expected = reference_normalize(ref_adv.ravel()) if norm_adv else ref_adv.ravel()
        np.testing.assert_allclose(seen, expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(v_call["args"][1].numpy(), ref_ret.ravel(), rtol=1e-5, atol=1e-6)
    assert len(calls.get("normalize_advantages", [])) == (2 if norm_adv else 0)


def test_a2c_passes_its_coefficients_and_optimiser_settings(monkeypatch, short):
    calls = _a2c(monkeypatch, short, ent_coef=0.03, vf_coef=0.7, learning_rate=2e-3, rms_alpha=0.9, rms_eps=1e-4)
    for call in calls["actor_critic_loss"]:
        assert call["args"][3:] == [0.03, 0.7]
        policy_loss, entropy, value_loss = call["args"][:3]
        assert float(call["result"]) == pytest.approx(float(policy_loss) - 0.03 * float(entropy)
                                                      + 0.7 * float(value_loss), rel=1e-6)
    assert [(g["lr"], g["alpha"], g["eps"]) for g in calls["step"]] == [(2e-3, 0.9, 1e-4)] * 2


def _dqn(monkeypatch, scenario, **params):
    rec = Recorder(monkeypatch)
    for name in ("q_learning_target", "soft_update", "epsilon_greedy"):
        rec.wrap(dqn, name)
    config = {"total_timesteps": 240, "num_envs": 4, "learning_starts": 40, "train_frequency": 8, "batch_size": 8,
              "buffer_size": 120, "target_network_frequency": 40, **QUIET, **params}
    oa.make_policy("dqn", **config).fit(scenario, seed=0)
    return rec.calls


@pytest.mark.parametrize("norm_reward", [True, False])
def test_dqn_schedule_of_gradient_steps_targets_and_exploration(monkeypatch, short, norm_reward):
    calls = _dqn(monkeypatch, short, gamma=0.8, tau=0.3, norm_reward=norm_reward, start_e=0.9, end_e=0.1,
                 exploration_fraction=0.5)
    targets = calls["q_learning_target"]
    assert len(targets) == (240 - 40) // 8  # one gradient step every train_frequency env steps after learning_starts
    assert all(len(c["args"][0]) == 8 and c["args"][4] == 0.8 for c in targets)
    divisors = {c["args"][5] for c in targets}
    assert len(divisors) == 1 and ((divisors.pop() != 1.0) if norm_reward else divisors == {1.0})
    assert len(calls["soft_update"]) == 240 // 40 and all(c["args"][2] == 0.3 for c in calls["soft_update"])
    epsilons = [c["args"][2] for c in calls["epsilon_greedy"]]
    np.testing.assert_allclose(epsilons, [max(0.9 - 0.8 * (4 * i) / 120, 0.1) for i in range(60)], rtol=1e-12)
