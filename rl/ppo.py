"""Proximal Policy Optimisation with invalid-action masking, in the manner of CleanRL's ``ppo.py``.

``train(PPOConfig(...), scenario, seed)`` runs the loop below and returns a
fitted :class:`PPOPolicy`; ``PPOPolicy(**hyperparameters).fit(scenario,
seed=...)`` does the same through the Policy contract (and ``optalloc train
ppo``). The fitted policy acts greedily (the most probable feasible action).

Implementation details
----------------------
1. **Batched vector env.** ``AllocationVectorEnv`` advances ``num_envs``
   episodes with one batched call of the scenario's dynamics; episodes share
   the horizon and end together (autoreset mode ``SAME_STEP``: the terminal
   step returns the next episodes' first observations). Training paths come
   from the scenario's ``"train"`` noise stream.
2. **Rewards.** ``reward_t = -reward_scale * discount**t * cost_t``: the
   undiscounted return is ``-reward_scale`` times the scenario's reported
   total cost, so ``gamma = 1`` optimises exactly the scenario's objective;
   ``gamma < 1`` adds a bias for less variance (CleanRL's 0.99). With
   ``norm_reward`` the rewards are divided by a running standard deviation
   of the discounted return (gymnasium's ``NormalizeReward``): costs in
   millions of taka would otherwise give value targets in the hundreds,
   which a freshly initialised critic takes thousands of steps to reach.
   Observations are the raw ones divided by ``scenario.observation_scale``
   (float32).
3. **Network** (CleanRL / SB3 default): separate actor and critic MLPs,
   ``hidden_sizes`` tanh units, orthogonal initialisation (gain sqrt 2, actor
   output 0.01, critic output 1), zero biases.
4. **Invalid-action masking** (Huang & Ontañón 2022): logits of infeasible
   actions are set to ``-inf`` when sampling, in the log-probabilities and
   entropy of the update, and at greedy acting. **Vector actions**: for a
   ``MultiDiscrete(nvec)`` action space the actor's ``sum(nvec)`` logits are
   split by ``nvec`` into one categorical head per component, each masked
   by its own slice of ``info["action_mask"]``; the action's log-probability
   and entropy are the sums over the components (a factorised policy, as
   CleanRL's ``ppo_multidiscrete_mask.py``). ``Discrete`` actions use one head.
5. **Rollouts** of ``num_steps`` steps in each of ``num_envs`` episodes
   (``batch_size = num_envs * num_steps`` transitions per iteration),
   ``ceil(total_timesteps / batch_size)`` iterations.
6. **Generalised advantage estimation** (``gamma``, ``gae_lambda``);
   the fixed-horizon end is a true termination, never bootstrapped.
7. **Adam** (eps 1e-5) with the learning rate annealed linearly to 0
   (``anneal_lr``).
8. **Minibatch updates**: ``update_epochs`` passes over the batch, each
   shuffled into ``num_minibatches`` minibatches.
9. **Advantage normalisation** per minibatch (``norm_adv``).
10. **Clipped surrogate objective** (``clip_coef``) and, optionally,
    **clipped value loss** (``clip_vloss``, same coefficient).
11. **Entropy bonus** ``ent_coef``; loss ``pg - ent_coef * H + vf_coef * v``.
12. **Global gradient-norm clipping** at ``max_grad_norm``.
13. **Early stop** of an iteration's epochs when the approximate KL exceeds
    ``target_kl`` (off by default).
14. **Speed.** One torch intra-op thread during training; observations,
    masks and actions cross numpy/torch once per step without copies
    (``torch.from_numpy``); no per-episode Python loops.
15. **Reproducibility.** The network is initialised under
    ``torch.manual_seed(seed)`` (the global generator is restored after;
    :func:`optalloc.rl.policy.start_training` does the set-up of all agents),
    actions are sampled from a ``torch.Generator`` seeded with ``seed``,
    minibatches shuffled by ``numpy.random.default_rng(seed)`` and the env
    reset with ``seed``: the same seed gives bit-identical weights.
16. **Learning curve** (``learning_curve_``): one row per iteration; see
    :class:`optalloc.rl.policy.TrainingLog` for the columns.
17. **Divergence.** A non-finite reward (checked once per rollout), loss or
    gradient norm (once per minibatch) or weight (before each evaluation and
    at the end) stops training with
    :class:`~optalloc.exceptions.TrainingDivergedError`; no policy is returned.

The advantage estimate and the loss are the pure functions
:func:`optalloc.rl.losses.gae` and :func:`optalloc.rl.losses.ppo_loss`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from optalloc.exceptions import bad_value
from optalloc.rl.losses import gae, ppo_loss
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
class PPOConfig(EvaluationConfig):
    """Hyperparameters of :func:`train` (CleanRL's defaults, adapted to short fixed-horizon problems).

    Reward scaling and validation fields (``reward_scale``, ``eval_*``, ``compute_optimum``, ``keep_best``)
    are inherited from :class:`~optalloc.rl.policy.EvaluationConfig`.
    """

    total_timesteps: int = 1_000_000
    """Training budget [env steps, summed over the parallel episodes]."""
    num_envs: int = 128
    """Parallel episodes of the batched vector env."""
    num_steps: int = 32
    """Steps per episode per rollout (batch = ``num_envs * num_steps`` transitions)."""
    learning_rate: float = 1e-3
    """Adam step size, initial value if ``anneal_lr`` (CleanRL: 2.5e-4; 1e-3 learns the bed problems faster)."""
    anneal_lr: bool = True
    """Anneal the learning rate linearly to 0 over the iterations."""
    gamma: float = 1.0
    """Discount of the return. The env reward already carries the scenario's own discount,
    so 1.0 optimises exactly the reported cost (CleanRL's 0.99 biases finite horizons)."""
    gae_lambda: float = 0.95
    """GAE lambda (bias-variance trade-off of the advantage)."""
    num_minibatches: int = 4
    """Minibatches per epoch."""
    update_epochs: int = 4
    """Passes over each rollout batch."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    clip_coef: float = 0.2
    """Clipping range of the probability ratio (and of the value change if ``clip_vloss``)."""
    clip_vloss: bool = False
    """Clip the value loss as in the PPO paper's reference code (off: plain squared error)."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clipping threshold."""
    target_kl: float | None = None
    """Stop an iteration's epochs once the approximate KL exceeds this (None: never)."""
    norm_reward: bool = True
    """Divide rewards by a running std of the discounted return (gymnasium's ``NormalizeReward``)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and of the critic (tanh)."""
    eval_interval: int = 50_000
    """Evaluate the greedy policy every this many env steps (and at the end) [env steps]."""

    def validate(self) -> None:
        """Raise ``ConfigurationError`` naming the first invalid field."""
        self.validate_evaluation("PPOPolicy")
        check_config("PPOPolicy", self,
                     positive=("total_timesteps", "num_envs", "num_steps", "num_minibatches", "update_epochs",
                               "learning_rate"),
                     non_negative=("clip_coef", "ent_coef", "vf_coef", "max_grad_norm"),
                     unit=("gamma", "gae_lambda"))
        if self.num_envs * self.num_steps < self.num_minibatches:
            raise bad_value("PPOPolicy", "num_minibatches", f"at most num_envs * num_steps = "
                            f"{self.num_envs * self.num_steps}", self.num_minibatches)
        if self.target_kl is not None and not (isinstance(self.target_kl, (int, float)) and self.target_kl > 0):
            raise bad_value("PPOPolicy", "target_kl", "a positive number or None", self.target_kl)


def train(config: PPOConfig, scenario: Scenario, seed: int | None = None) -> PPOPolicy:
    """Train PPO on ``scenario``; return the fitted greedy :class:`PPOPolicy`.

    Parameters
    ----------
    config : PPOConfig
    scenario : Scenario
        A scenario with a ``Discrete`` or ``MultiDiscrete`` action space.
    seed : int, optional
        Seed of everything random in training (None: 0).

    Raises
    ------
    TrainingDivergedError
        A reward, loss, gradient norm or weight became NaN or infinite.
    """
    policy = PPOPolicy(**dataclasses.asdict(config))
    seed = policy._start_fit(scenario, seed)
    N, S, A = config.num_envs, config.num_steps, policy.n_actions_
    batch_size = N * S
    minibatch_size = batch_size // config.num_minibatches
    num_iterations = -(-config.total_timesteps // batch_size)
    with training_threads(1):
        # TRY NOT TO MODIFY: seeding and setup
        setup = start_training(policy, config, scenario, seed, unit="iteration", total_updates=num_iterations,
                               optimizer=lambda params: torch.optim.Adam(params, lr=config.learning_rate, eps=1e-5))
        envs, (agent,), optimizer, log, rng, gen = setup

        # ALGO LOGIC: rollout storage (an action is an index, or one value per component)
        obs = torch.zeros((S, N, policy.obs_dim_))
        masks = torch.zeros((S, N, A), dtype=torch.bool)
        actions = torch.zeros((S, N, *policy.action_shape), dtype=torch.int64)
        logprobs = torch.zeros((S, N))
        rewards = torch.zeros((S, N))
        dones = torch.zeros((S, N))
        values = torch.zeros((S, N))

        next_obs_np, infos = envs.reset(seed=seed)
        next_obs = torch.from_numpy(next_obs_np)
        next_mask = torch.from_numpy(infos["action_mask"])
        next_done = torch.zeros(N)
        normalizer = ReturnNormalizer(N, config.gamma) if config.norm_reward else None
        episode_return = np.zeros(N)  # float64 running sums of rewards, for the log's episode costs
        env_steps = 0

        for iteration in range(1, num_iterations + 1):
            if config.anneal_lr:
                optimizer.param_groups[0]["lr"] = (1.0 - (iteration - 1.0) / num_iterations) * config.learning_rate

            for step in range(S):
                obs[step] = next_obs
                masks[step] = next_mask
                dones[step] = next_done
                # ALGO LOGIC: action logic
                with torch.no_grad():
                    dist = policy.distribution(agent.actor(next_obs), next_mask)
                    action = dist.sample(gen)
                    logprobs[step] = dist.log_prob(action)
                    values[step] = agent.value(next_obs)
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
                next_obs = torch.from_numpy(next_obs_np)
                next_mask = torch.from_numpy(infos["action_mask"])
                next_done = torch.from_numpy(done.astype(np.float32))

            # An overflowing reward (a huge reward_scale) would poison every later update: stop here instead.
            reward_divisor = None if normalizer is None else normalizer.scale
            log.guard.check_rewards(rewards, env_steps, iteration, divisor=reward_divisor)

            # ALGO LOGIC: generalised advantage estimation (the horizon's end is terminal: no bootstrap)
            with torch.no_grad():
                next_value = agent.value(next_obs)
            advantages, returns = gae(rewards, values, dones, next_value, next_done, config.gamma, config.gae_lambda)

            # flatten the batch
            b_obs = obs.reshape(batch_size, -1)
            b_masks = masks.reshape(batch_size, A)
            b_logprobs = logprobs.reshape(-1)
            b_actions = actions.reshape(batch_size, *policy.action_shape)
            b_advantages = advantages.reshape(-1)
            b_returns = returns.reshape(-1)
            b_values = values.reshape(-1)

            # ALGO LOGIC: optimise the policy and value network
            for _epoch in range(config.update_epochs):
                order = torch.from_numpy(rng.permutation(batch_size))
                approx_kl = torch.zeros(())
                for start in range(0, batch_size - minibatch_size + 1, minibatch_size):
                    mb = order[start:start + minibatch_size]
                    dist = policy.distribution(agent.actor(b_obs[mb]), b_masks[mb])
                    newlogprob = dist.log_prob(b_actions[mb])
                    entropy = dist.entropy()
                    newvalue = agent.value(b_obs[mb])
                    terms = ppo_loss(newlogprob, b_logprobs[mb], entropy, newvalue, b_advantages[mb], b_returns[mb],
                                     b_values[mb], clip_coef=config.clip_coef, clip_vloss=config.clip_vloss,
                                     ent_coef=config.ent_coef, vf_coef=config.vf_coef, norm_adv=config.norm_adv)
                    approx_kl = terms.approx_kl
                    optimizer.zero_grad()
                    terms.loss.backward()
                    grad_norm = nn.utils.clip_grad_norm_(agent.parameters(), config.max_grad_norm)
                    log.guard.check_update(terms.loss, grad_norm, env_steps, iteration)
                    optimizer.step()

                if config.target_kl is not None and approx_kl > config.target_kl:
                    break

            log.record(env_steps, final=iteration == num_iterations)

        agent.eval()
        policy.learning_curve_ = log.frame()
    return policy


class PPOPolicy(TorchPolicy):
    """Greedy policy of a PPO-trained actor; ``fit`` runs :func:`train`.

    Parameters are the fields of :class:`PPOConfig` (same names, defaults and meaning). On a
    ``MultiDiscrete`` scenario the actor has one masked categorical head per component
    (implementation detail 4).
    """

    tags: ClassVar[PolicyTags] = PolicyTags(method="rl", action_kinds=frozenset({"discrete", "multi_discrete"}))
    config_class = PPOConfig

    def __init__(
        self,
        total_timesteps: int = PPOConfig.total_timesteps,
        num_envs: int = PPOConfig.num_envs,
        num_steps: int = PPOConfig.num_steps,
        learning_rate: float = PPOConfig.learning_rate,
        anneal_lr: bool = PPOConfig.anneal_lr,
        gamma: float = PPOConfig.gamma,
        gae_lambda: float = PPOConfig.gae_lambda,
        num_minibatches: int = PPOConfig.num_minibatches,
        update_epochs: int = PPOConfig.update_epochs,
        norm_adv: bool = PPOConfig.norm_adv,
        clip_coef: float = PPOConfig.clip_coef,
        clip_vloss: bool = PPOConfig.clip_vloss,
        ent_coef: float = PPOConfig.ent_coef,
        vf_coef: float = PPOConfig.vf_coef,
        max_grad_norm: float = PPOConfig.max_grad_norm,
        target_kl: float | None = PPOConfig.target_kl,
        norm_reward: bool = PPOConfig.norm_reward,
        hidden_sizes: tuple[int, ...] = PPOConfig.hidden_sizes,
        reward_scale: float | None = PPOConfig.reward_scale,
        eval_interval: int = PPOConfig.eval_interval,
        eval_episodes: int = PPOConfig.eval_episodes,
        eval_seed: int = PPOConfig.eval_seed,
        compute_optimum: bool = PPOConfig.compute_optimum,
        keep_best: bool = PPOConfig.keep_best,
    ) -> None:
        self._store_params(locals())

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        self._adopt(train(self.config(), scenario, seed))

    def _make_network(self, obs_dim: int, n_actions: int) -> nn.Module:
        return ActorCritic(obs_dim, n_actions, tuple(self.hidden_sizes))


__all__ = ["PPOConfig", "PPOPolicy", "train"]
