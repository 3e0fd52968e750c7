"""Advantage estimation and losses of the torch agents, as small pure functions.

The training loops of :mod:`optalloc.rl.ppo`, :mod:`optalloc.rl.a2c` and
:mod:`optalloc.rl.dqn` call these; each is tested against a plain-loop
reimplementation of its paper's formula (``tests/rl/test_internals.py``).

* :func:`gae`: generalised advantage estimation (PPO; A2C with ``lambda = 1``
  gives the n-step advantage) and the critic's return targets.
* :func:`normalize_advantages`: zero mean, unit (unbiased) standard deviation.
* :func:`clipped_surrogate`: PPO's clipped policy objective, as a loss.
* :func:`value_loss`: squared error of the critic, optionally clipped (PPO).
* :func:`policy_gradient_loss`: the A2C policy loss ``-mean(A * log pi)``.
* :func:`actor_critic_loss`: ``policy - ent_coef * entropy + vf_coef * value``.
* :func:`approx_kl`: the ``(r - 1) - log r`` estimator of KL(old || new).
* :func:`ppo_loss`: one PPO minibatch loss from the above.
* :func:`q_learning_target`: DQN's masked one-step TD target.

Rollout convention (same-step autoreset)
----------------------------------------
Rollout tensors are ``(num_steps, num_envs)``, step ``t`` in row ``t``.
``dones[t]`` is 1 when ``obs[t]`` is the *first* observation of a new
episode, i.e. when the transition of step ``t - 1`` ended an episode
(CleanRL's convention: the flag stored with an observation is the ``done``
returned by the step that produced it). The optalloc vector envs reset in the
same step: after an episode's last transition the next observation already
belongs to the next episode (the last one is in ``infos["final_obs"]``). So
the value of step ``t + 1`` is used for bootstrapping the transition of step
``t`` only when ``dones[t + 1] == 0``; ``next_done`` and ``next_value`` play
that role for the rollout's last step. An episode's end is always a true
termination (a fixed horizon is part of the problem, never a time limit:
``truncated`` is always False), so ``final_obs`` is never bootstrapped from.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from optalloc.rl.policy import masked

#: Added to the standard deviation in :func:`normalize_advantages` (CleanRL's and SB3's value).
ADV_NORM_EPS = 1e-8


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, next_value: torch.Tensor,
        next_done: torch.Tensor, gamma: float, gae_lambda: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and return targets (Schulman et al. 2016) of a rollout.

    With ``nonterminal_{t+1} = 1 - dones[t + 1]`` (``1 - next_done`` for the last step)::

        delta_t = r_t + gamma * V(s_{t+1}) * nonterminal_{t+1} - V(s_t)
        A_t     = delta_t + gamma * gae_lambda * nonterminal_{t+1} * A_{t+1}

    computed backwards from ``A_{num_steps} = 0``; the returns are ``A + V``.
    See the module docstring for the meaning of ``dones`` under same-step
    autoreset. No gradient flows through the results.

    Parameters
    ----------
    rewards : Tensor, shape (num_steps, num_envs)
        Reward of each step's transition (as the agent sees it: scaled, normalised).
    values : Tensor, shape (num_steps, num_envs)
        Critic's value of each step's observation.
    dones : Tensor, shape (num_steps, num_envs)
        1.0 where the step's observation starts a new episode, else 0.0.
    next_value : Tensor, shape (num_envs,)
        Value of the observation after the rollout's last step.
    next_done : Tensor, shape (num_envs,)
        1.0 where the rollout's last transition ended an episode.
    gamma : float
        Discount, in [0, 1].
    gae_lambda : float
        GAE lambda, in [0, 1]: 0 gives the one-step TD error, 1 the n-step
        (Monte Carlo within the rollout) advantage.

    Returns
    -------
    advantages, returns : Tensor, shape (num_steps, num_envs)
    """
    num_steps = rewards.shape[0]
    with torch.no_grad():
        advantages = torch.zeros_like(rewards)
        lastgaelam = torch.zeros_like(rewards[0])
        for t in reversed(range(num_steps)):
            if t == num_steps - 1:
                nextnonterminal, nextvalues = 1.0 - next_done, next_value
            else:
                nextnonterminal, nextvalues = 1.0 - dones[t + 1], values[t + 1]
            delta = rewards[t] + gamma * nextvalues * nextnonterminal - values[t]
            lastgaelam = delta + gamma * gae_lambda * nextnonterminal * lastgaelam
            advantages[t] = lastgaelam
        returns = advantages + values
    return advantages, returns


def normalize_advantages(advantages: torch.Tensor) -> torch.Tensor:
    """``(A - mean(A)) / (std(A) + 1e-8)`` with the unbiased standard deviation (CleanRL, SB3).

    A batch of fewer than two advantages is returned unchanged: its unbiased
    standard deviation is undefined.

    Parameters
    ----------
    advantages : Tensor, shape (n,)

    Returns
    -------
    Tensor, shape (n,)
    """
    if advantages.numel() < 2:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + ADV_NORM_EPS)


def clipped_surrogate(advantages: torch.Tensor, ratio: torch.Tensor, clip_coef: float) -> torch.Tensor:
    """PPO's clipped surrogate objective as a loss to minimise (Schulman et al. 2017, eq. 7).

    ``mean(max(-A * r, -A * clip(r, 1 - clip_coef, 1 + clip_coef)))``, i.e. minus
    the pessimistic (clipped) objective.

    Parameters
    ----------
    advantages : Tensor, shape (n,)
    ratio : Tensor, shape (n,)
        Probability ratio ``pi_new(a|s) / pi_old(a|s)`` of each sampled action.
    clip_coef : float
        Clipping range epsilon of the ratio.

    Returns
    -------
    Tensor, scalar
    """
    pg_loss1 = -advantages * ratio
    pg_loss2 = -advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    return torch.max(pg_loss1, pg_loss2).mean()


def value_loss(new_values: torch.Tensor, returns: torch.Tensor, old_values: torch.Tensor | None = None,
               clip_coef: float | None = None) -> torch.Tensor:
    """Mean squared error of the critic, optionally clipped as in PPO's reference code.

    Unclipped (``clip_coef=None``): ``mean((V - R)^2)``. Clipped:
    ``mean(max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2))``. No factor
    1/2: PPO multiplies by 0.5 (CleanRL), A2C does not (SB3).

    Parameters
    ----------
    new_values : Tensor, shape (n,)
        The critic's current values.
    returns : Tensor, shape (n,)
        Return targets.
    old_values : Tensor, shape (n,), optional
        Values at rollout time (required when ``clip_coef`` is given).
    clip_coef : float, optional
        Largest change of the value counted by the clipped term.

    Returns
    -------
    Tensor, scalar
    """
    if clip_coef is None:
        return ((new_values - returns) ** 2).mean()
    if old_values is None:
        raise ValueError("value_loss needs old_values when clip_coef is given.")
    v_loss_unclipped = (new_values - returns) ** 2
    v_clipped = old_values + torch.clamp(new_values - old_values, -clip_coef, clip_coef)
    v_loss_clipped = (v_clipped - returns) ** 2
    return torch.max(v_loss_unclipped, v_loss_clipped).mean()


def policy_gradient_loss(advantages: torch.Tensor, log_probs: torch.Tensor) -> torch.Tensor:
    """The vanilla policy-gradient (A2C) loss ``-mean(A * log pi(a|s))``.

    Parameters
    ----------
    advantages : Tensor, shape (n,)
        Constants (no gradient expected through them).
    log_probs : Tensor, shape (n,)
        Log-probabilities of the sampled actions under the current policy.

    Returns
    -------
    Tensor, scalar
    """
    return -(advantages * log_probs).mean()


def actor_critic_loss(policy_loss: torch.Tensor, entropy: torch.Tensor, value_loss: torch.Tensor,
                      ent_coef: float, vf_coef: float) -> torch.Tensor:
    """The combined loss ``policy_loss - ent_coef * entropy + vf_coef * value_loss``.

    Parameters
    ----------
    policy_loss, entropy, value_loss : Tensor, scalar
        ``entropy`` is the mean entropy of the batch's action distributions [nats].
    ent_coef, vf_coef : float
        Weights of the entropy bonus and of the value loss.

    Returns
    -------
    Tensor, scalar
    """
    return policy_loss - ent_coef * entropy + vf_coef * value_loss


def approx_kl(logratio: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """``mean((r - 1) - log r)``: unbiased, non-negative estimate of KL(old || new) (Schulman's k3).

    Parameters
    ----------
    logratio : Tensor, shape (n,)
        ``log pi_new(a|s) - log pi_old(a|s)`` of actions sampled from the old policy.
    ratio : Tensor, shape (n,)
        ``exp(logratio)``.

    Returns
    -------
    Tensor, scalar [nats]
    """
    return ((ratio - 1) - logratio).mean()


class PPOLoss(NamedTuple):
    """Terms of one PPO minibatch loss (all scalar tensors)."""

    loss: torch.Tensor
    """What is minimised: ``policy_loss - ent_coef * entropy + vf_coef * value_loss``."""
    policy_loss: torch.Tensor
    """:func:`clipped_surrogate` of the (normalised if ``norm_adv``) advantages."""
    value_loss: torch.Tensor
    """``0.5 *`` :func:`value_loss` (clipped if ``clip_vloss``)."""
    entropy: torch.Tensor
    """Mean entropy of the minibatch's action distributions [nats]."""
    approx_kl: torch.Tensor
    """:func:`approx_kl` of the minibatch (no gradient)."""


def ppo_loss(new_log_probs: torch.Tensor, old_log_probs: torch.Tensor, entropy: torch.Tensor,
             new_values: torch.Tensor, advantages: torch.Tensor, returns: torch.Tensor, old_values: torch.Tensor,
             *, clip_coef: float, clip_vloss: bool, ent_coef: float, vf_coef: float,
             norm_adv: bool) -> PPOLoss:
    """The PPO loss of one minibatch (CleanRL's ``ppo.py`` update).

    Parameters
    ----------
    new_log_probs : Tensor, shape (n,)
        Log-probabilities of the sampled actions under the current policy.
    old_log_probs : Tensor, shape (n,)
        The same at rollout time.
    entropy : Tensor, shape (n,)
        Entropy of each current action distribution [nats].
    new_values : Tensor, shape (n,)
        The critic's current values.
    advantages, returns, old_values : Tensor, shape (n,)
        From :func:`gae` and the rollout (raw advantages: normalised here if ``norm_adv``).
    clip_coef : float
        Clipping range of the ratio, and of the value change if ``clip_vloss``.
    clip_vloss : bool
        Clip the value loss.
    ent_coef, vf_coef : float
        Weights of the entropy bonus and of the value loss.
    norm_adv : bool
        Normalise the advantages over the minibatch (:func:`normalize_advantages`).

    Returns
    -------
    PPOLoss
    """
    logratio = new_log_probs - old_log_probs
    ratio = logratio.exp()
    with torch.no_grad():
        kl = approx_kl(logratio, ratio)
    if norm_adv:
        advantages = normalize_advantages(advantages)
    pg_loss = clipped_surrogate(advantages, ratio, clip_coef)
    v_loss = 0.5 * value_loss(new_values, returns, old_values, clip_coef if clip_vloss else None)
    mean_entropy = entropy.mean()
    loss = actor_critic_loss(pg_loss, mean_entropy, v_loss, ent_coef, vf_coef)
    return PPOLoss(loss, pg_loss, v_loss, mean_entropy, kl)


def q_learning_target(rewards: torch.Tensor, next_q_values: torch.Tensor, next_mask: torch.Tensor,
                      terminated: torch.Tensor, gamma: float, reward_divisor: float = 1.0) -> torch.Tensor:
    """DQN's one-step TD target ``r / reward_divisor + gamma * (1 - terminated) * max_{a' feasible} Q(s', a')``.

    Parameters
    ----------
    rewards : Tensor, shape (n,)
        Rewards as stored in the replay buffer.
    next_q_values : Tensor, shape (n, n_actions)
        Target network's Q-values of the next observations.
    next_mask : Tensor of bool, shape (n, n_actions)
        Feasible actions of the next observations (ignored where ``terminated``).
    terminated : Tensor of bool, shape (n,)
        The transition ended its episode: no bootstrap.
    gamma : float
        Discount, in [0, 1].
    reward_divisor : float
        Rewards are divided by this (the fixed reward normalisation; 1: none).

    Returns
    -------
    Tensor, shape (n,)
    """
    next_q = masked(next_q_values, next_mask).max(dim=1).values
    next_q = torch.where(terminated, torch.zeros((), dtype=next_q.dtype), next_q)
    return rewards / reward_divisor + gamma * next_q


__all__ = [
    "ADV_NORM_EPS",
    "PPOLoss",
    "actor_critic_loss",
    "approx_kl",
    "clipped_surrogate",
    "gae",
    "normalize_advantages",
    "policy_gradient_loss",
    "ppo_loss",
    "q_learning_target",
    "value_loss",
]
