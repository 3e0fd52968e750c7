"""Advantage actor-critic (A2C) with invalid-action masking, as in the beds seed paper.

Kabir, Shuvo & Ahmed (2021, medRxiv 2021.10.06.21264654) train A2C with
learning rate 1e-4, discount 0.99 and 4,000 episodes; those are the defaults
here. The paper states nothing else, so the rest follows the A2C of Mnih et
al. (2016) as stable-baselines3 implements it (n-step returns, RMSprop,
separate 64x64 tanh actor and critic), with parallel episodes as in the
synchronous A2C. ``train(A2CConfig(...), scenario, seed)`` returns a fitted
:class:`A2CPolicy`; ``A2CPolicy(...).fit(scenario, seed=...)`` does the same.

Implementation details
----------------------
1. **Batched vector env.** ``AllocationVectorEnv`` advances ``num_envs``
   episodes with one batched call (autoreset ``SAME_STEP``; episodes share
   the horizon and end together); training paths use the ``"train"`` stream.
2. **Rewards** ``-reward_scale * discount**t * cost_t`` (the undiscounted
   return is ``-reward_scale`` times the scenario's reported cost), divided
   by a running standard deviation of the discounted return (``norm_reward``,
   gymnasium's ``NormalizeReward``); observations are the raw ones divided
   by ``scenario.observation_scale``.
3. **Network**: separate actor and critic MLPs (``hidden_sizes``, tanh),
   orthogonal initialisation (gain sqrt 2; actor output 0.01, critic output 1).
4. **Invalid-action masking**: infeasible logits are ``-inf`` when sampling,
   in the loss and at greedy acting. For a ``MultiDiscrete(nvec)`` action
   space the actor's logits are split by ``nvec`` into one masked
   categorical head per component; log-probability and entropy are the sums
   over the components (as in PPO).
5. **Synchronous n-step updates**: every ``num_steps`` steps of all
   ``num_envs`` episodes, one gradient step on the whole batch
   (``num_envs * num_steps`` transitions; A2C's 16 actors x 5 steps by default).
6. **Advantages** by GAE with ``gae_lambda = 1`` (plain n-step returns,
   bootstrapped from the critic at the rollout's end); the horizon's end is
   terminal, never bootstrapped. No advantage normalisation by default.
7. **Loss** ``-mean(A * log pi) - ent_coef * H + vf_coef * mean((V - R)^2)``;
   ``ent_coef = 0`` and ``vf_coef = 0.5`` (SB3 defaults).
8. **RMSprop** (alpha 0.99, eps 1e-5, SB3's A2C optimiser) and global
   gradient-norm clipping at ``max_grad_norm = 0.5``; constant learning rate.
9. **Speed**: one torch thread, no per-episode Python loops, zero-copy
   numpy/torch hand-over per step.
10. **Reproducibility**: network initialised under ``torch.manual_seed(seed)``
    (global generator restored; :func:`optalloc.rl.policy.start_training`), actions sampled from a seeded
    ``torch.Generator``, env reset with ``seed``.
11. **Learning curve** (``learning_curve_``): one row per update in which
    episodes finished, plus evaluation rows; see
    :class:`optalloc.rl.policy.TrainingLog`.
12. **Divergence.** A non-finite reward (checked once per rollout), loss or
    gradient norm (once per update) or weight (before each evaluation and at
    the end) stops training with
    :class:`~optalloc.exceptions.TrainingDivergedError`; no policy is returned.

The advantages and the loss are the pure functions of :mod:`optalloc.rl.losses`
(:func:`~optalloc.rl.losses.gae`, shared with PPO, :func:`~optalloc.rl.losses.normalize_advantages`,
:func:`~optalloc.rl.losses.policy_gradient_loss`, :func:`~optalloc.rl.losses.value_loss`,
:func:`~optalloc.rl.losses.actor_critic_loss`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from optalloc.rl.losses import actor_critic_loss, gae, normalize_advantages, policy_gradient_loss, value_loss
from optalloc.rl.policy import (
    ActorCritic,
    EvaluationConfig,
    ReturnNormalizer,
    TorchPolicy,
    check_config,
    start_training,
    training_threads,
)
from optalloc.scenario import Scenario
from optalloc.tags import PolicyTags


@dataclass
class A2CConfig(EvaluationConfig):
    """Hyperparameters of :func:`train`: the seed paper's where it states them, SB3's A2C otherwise.

    Reward scaling and validation fields (``reward_scale``, ``eval_*``, ``compute_optimum``, ``keep_best``)
    are inherited from :class:`~optalloc.rl.policy.EvaluationConfig`.
    """

    total_timesteps: int = 120_000
    """Training budget [env steps]; 120,000 = the paper's 4,000 episodes of the 30-year scenario."""
    num_envs: int = 16
    """Parallel episodes (A2C's synchronous actors)."""
    num_steps: int = 5
    """Steps per episode between updates (n of the n-step return)."""
    learning_rate: float = 1e-4
    """RMSprop step size (the paper's 1e-4), constant."""
    gamma: float = 0.99
    """Discount of the return (the paper's 0.99; 1.0 optimises exactly the reported cost)."""
    gae_lambda: float = 1.0
    """GAE lambda; 1.0 gives the classic n-step advantage."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clipping threshold."""
    rms_alpha: float = 0.99
    """RMSprop smoothing constant."""
    rms_eps: float = 1e-5
    """RMSprop epsilon."""
    norm_adv: bool = False
    """Normalise advantages over each batch."""
    norm_reward: bool = True
    """Divide rewards by a running std of the discounted return (gymnasium's ``NormalizeReward``)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and of the critic (tanh)."""

    def validate(self) -> None:
        """Raise ``ConfigurationError`` naming the first invalid field."""
        self.validate_evaluation("A2CPolicy")
        check_config("A2CPolicy", self,
                     positive=("total_timesteps", "num_envs", "num_steps", "learning_rate", "rms_eps"),
                     non_negative=("ent_coef", "vf_coef", "max_grad_norm"),
                     unit=("gamma", "gae_lambda", "rms_alpha"))


def train(config: A2CConfig, scenario: Scenario, seed: int | None = None) -> A2CPolicy:
    """Train A2C on ``scenario``; return the fitted greedy :class:`A2CPolicy`.

    Parameters
    ----------
    config : A2CConfig
    scenario : Scenario
        A scenario with a ``Discrete`` or ``MultiDiscrete`` action space.
    seed : int, optional
        Seed of everything random in training (None: 0).

    Raises
    ------
    TrainingDivergedError
        A reward, loss, gradient norm or weight became NaN or infinite.
    """
    policy = A2CPolicy(**dataclasses.asdict(config))
    seed = policy._start_fit(scenario, seed)
    N, S, A = config.num_envs, config.num_steps, policy.n_actions_
    num_updates = -(-config.total_timesteps // (N * S))
    with training_threads(1):
        # TRY NOT TO MODIFY: seeding and setup
        setup = start_training(policy, config, scenario, seed, unit="update", total_updates=num_updates,
                               optimizer=lambda params: torch.optim.RMSprop(params, lr=config.learning_rate,
                                                                            alpha=config.rms_alpha,
                                                                            eps=config.rms_eps))
        envs, (agent,), optimizer, log, _, gen = setup

        # ALGO LOGIC: rollout storage (an action is an index, or one value per component)
        obs = torch.zeros((S, N, policy.obs_dim_))
        masks = torch.zeros((S, N, A), dtype=torch.bool)
        actions = torch.zeros((S, N, *policy.action_shape), dtype=torch.int64)
        rewards = torch.zeros((S, N))
        dones = torch.zeros((S, N))

        next_obs_np, infos = envs.reset(seed=seed)
        next_obs = torch.from_numpy(next_obs_np)
        next_mask = torch.from_numpy(infos["action_mask"])
        next_done = torch.zeros(N)
        normalizer = ReturnNormalizer(N, config.gamma) if config.norm_reward else None
        episode_return = np.zeros(N)
        env_steps = 0
        finished = False

        for update in range(1, num_updates + 1):
            for step in range(S):
                obs[step] = next_obs
                masks[step] = next_mask
                dones[step] = next_done
                # ALGO LOGIC: action logic
                with torch.no_grad():
                    action = policy.distribution(agent.actor(next_obs), next_mask).sample(gen)
                actions[step] = action

                # TRY NOT TO MODIFY: execute the game and log data.
                next_obs_np, reward, terminated, truncated, infos = envs.step(action.numpy())
                env_steps += N
                done = np.logical_or(terminated, truncated)
                rewards[step] = torch.from_numpy(reward if normalizer is None else normalizer(reward, done))
                episode_return += reward
                if done.any():
                    log.add_episodes(-episode_return[done] / envs.reward_scale)
                    episode_return[done] = 0.0
                    finished = True
                next_obs = torch.from_numpy(next_obs_np)
                next_mask = torch.from_numpy(infos["action_mask"])
                next_done = torch.from_numpy(done.astype(np.float32))

            # An overflowing reward (a huge reward_scale) would poison every later update: stop here instead.
            reward_divisor = None if normalizer is None else normalizer.scale
            log.guard.check_rewards(rewards, env_steps, update, divisor=reward_divisor)

            # ALGO LOGIC: values and advantages (the horizon's end is terminal: no bootstrap)
            b_obs = obs.reshape(N * S, -1)
            values = agent.value(b_obs).reshape(S, N)
            with torch.no_grad():
                next_value = agent.value(next_obs)
            advantages, returns = gae(rewards, values.detach(), dones, next_value, next_done, config.gamma,
                                      config.gae_lambda)
            returns = returns.reshape(-1)
            b_advantages = advantages.reshape(-1)
            if config.norm_adv:
                b_advantages = normalize_advantages(b_advantages)

            # ALGO LOGIC: one synchronous gradient step on the batch
            dist = policy.distribution(agent.actor(b_obs), masks.reshape(N * S, A))
            pg_loss = policy_gradient_loss(b_advantages, dist.log_prob(actions.reshape(N * S, *policy.action_shape)))
            v_loss = value_loss(values.reshape(-1), returns)
            loss = actor_critic_loss(pg_loss, dist.entropy().mean(), v_loss, config.ent_coef, config.vf_coef)
            optimizer.zero_grad()
            loss.backward()
            grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
            log.guard.check_update(loss, grad_norm, env_steps, update)
            optimizer.step()

            last = update == num_updates
            if finished or last or env_steps >= log.next_eval:
                log.record(env_steps, final=last)
                finished = False

        agent.eval()
        policy.learning_curve_ = log.frame()
    return policy


class A2CPolicy(TorchPolicy):
    """Greedy policy of an A2C-trained actor; ``fit`` runs :func:`train`.

    Parameters are the fields of :class:`A2CConfig` (same names, defaults and meaning). On a
    ``MultiDiscrete`` scenario the actor has one masked categorical head per component
    (implementation detail 4).
    """

    tags: ClassVar[PolicyTags] = PolicyTags(method="rl", action_kinds=frozenset({"discrete", "multi_discrete"}))
    config_class = A2CConfig

    def __init__(
        self,
        total_timesteps: int = A2CConfig.total_timesteps,
        num_envs: int = A2CConfig.num_envs,
        num_steps: int = A2CConfig.num_steps,
        learning_rate: float = A2CConfig.learning_rate,
        gamma: float = A2CConfig.gamma,
        gae_lambda: float = A2CConfig.gae_lambda,
        ent_coef: float = A2CConfig.ent_coef,
        vf_coef: float = A2CConfig.vf_coef,
        max_grad_norm: float = A2CConfig.max_grad_norm,
        rms_alpha: float = A2CConfig.rms_alpha,
        rms_eps: float = A2CConfig.rms_eps,
        norm_adv: bool = A2CConfig.norm_adv,
        norm_reward: bool = A2CConfig.norm_reward,
        hidden_sizes: tuple[int, ...] = A2CConfig.hidden_sizes,
        reward_scale: float | None = A2CConfig.reward_scale,
        eval_interval: int = A2CConfig.eval_interval,
        eval_episodes: int = A2CConfig.eval_episodes,
        eval_seed: int = A2CConfig.eval_seed,
        compute_optimum: bool = A2CConfig.compute_optimum,
        keep_best: bool = A2CConfig.keep_best,
    ) -> None:
        self._store_params(locals())

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        self._adopt(train(self.config(), scenario, seed))

    def _make_network(self, obs_dim: int, n_actions: int) -> nn.Module:
        return ActorCritic(obs_dim, n_actions, tuple(self.hidden_sizes))


__all__ = ["A2CConfig", "A2CPolicy", "train"]
