"""Deep Q-learning (DQN) with masked actions, in the manner of CleanRL's ``dqn.py``.

For problems whose action set is small and discrete (beds: add 0..10 beds);
its tags refuse ``multi_discrete`` scenarios (one Q-value per joint action
would not scale with the components; use PPO or A2C there).
``train(DQNConfig(...), scenario, seed)`` returns a fitted :class:`DQNPolicy`
acting greedily on the learned Q-values; ``DQNPolicy(...).fit(scenario,
seed=...)`` does the same through the Policy contract.

Implementation details
----------------------
1. **Batched vector env.** ``AllocationVectorEnv`` advances ``num_envs``
   episodes with one batched call (autoreset ``SAME_STEP``: the terminal step
   returns the next episodes' first observations and ``infos["final_obs"]``);
   training paths use the ``"train"`` stream.
2. **Rewards** ``-reward_scale * discount**t * cost_t`` (undiscounted return =
   ``-reward_scale`` times the reported cost, so ``gamma = 1`` is the exact
   objective); observations are the raw ones divided by ``scenario.observation_scale``.
3. **Q-network**: a tanh MLP (``hidden_sizes``) with one output per action,
   orthogonal initialisation; a **target network** copied from it every
   ``target_network_frequency`` env steps (Polyak weight ``tau``; 1 = hard copy).
4. **Masking**: infeasible actions get Q = ``-inf`` for the greedy action,
   the random exploratory action is uniform over feasible actions only, and
   the TD target maximises over the next state's feasible actions.
5. **Exploration**: epsilon-greedy, epsilon decayed linearly from
   ``start_e`` to ``end_e`` over ``exploration_fraction`` of the budget.
6. **Replay buffer** of the last ``buffer_size`` transitions (a circular
   buffer of preallocated tensors, ``num_envs`` rows written per step);
   learning starts after ``learning_starts`` env steps, then one gradient
   step on a uniform minibatch of ``batch_size`` every ``train_frequency``
   env steps.
7. **TD target** ``r + gamma * (1 - done) * max_a' Q_target(s', a')``; the
   horizon's end is terminal. Rewards are divided by the standard
   deviation of the discounted return observed during the random
   exploration of the first ``learning_starts`` steps (``norm_reward``; a
   fixed scale, so replayed targets stay consistent). **Huber loss** (smooth L1, as SB3) and Adam
   with global gradient-norm clipping at ``max_grad_norm``.
8. **Speed**: one torch thread, vectorised epsilon-greedy, no per-episode
   Python loops.
9. **Reproducibility**: network initialised under ``torch.manual_seed(seed)``
   (global generator restored; :func:`optalloc.rl.policy.start_training`);
   exploration and replay sampling draw from ``numpy.random.default_rng(seed)``;
   env reset with ``seed``.
10. **Learning curve** (``learning_curve_``): one row each time the parallel
    episodes finish; see :class:`optalloc.rl.policy.TrainingLog`.
11. **Divergence.** A non-finite loss or gradient norm (checked at every
    gradient step; an overflowing reward is then named as the cause), reward
    normalisation scale, or weight (before each evaluation and at the end)
    stops training with :class:`~optalloc.exceptions.TrainingDivergedError`;
    no policy is returned.

The pieces are functions: :func:`epsilon_greedy`, :func:`linear_schedule`,
:func:`soft_update` and :func:`optalloc.rl.losses.q_learning_target`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from optalloc.checks import check_memory
from optalloc.exceptions import bad_value
from optalloc.rl.losses import q_learning_target
from optalloc.rl.policy import (
    EvaluationConfig,
    ReturnNormalizer,
    TorchPolicy,
    check_config,
    masked_argmax,
    mlp,
    start_training,
    training_threads,
)
from optalloc.scenario import Scenario


@dataclass
class DQNConfig(EvaluationConfig):
    """Hyperparameters of :func:`train` (CleanRL's classic-control DQN, adapted).

    Reward scaling and validation fields (``reward_scale``, ``eval_*``, ``compute_optimum``, ``keep_best``)
    are inherited from :class:`~optalloc.rl.policy.EvaluationConfig`.
    """

    total_timesteps: int = 300_000
    """Training budget [env steps, summed over the parallel episodes]."""
    num_envs: int = 16
    """Parallel episodes of the batched vector env."""
    learning_rate: float = 5e-4
    """Adam step size."""
    buffer_size: int = 50_000
    """Replay buffer capacity [transitions]."""
    gamma: float = 1.0
    """Discount of the TD target (the reward already carries the scenario's discount)."""
    tau: float = 1.0
    """Target network update weight (1: hard copy)."""
    target_network_frequency: int = 1_000
    """Env steps between target network updates."""
    batch_size: int = 128
    """Minibatch size of each gradient step [transitions]."""
    start_e: float = 1.0
    """Initial exploration probability."""
    end_e: float = 0.05
    """Final exploration probability."""
    exploration_fraction: float = 0.5
    """Fraction of the budget over which epsilon decays from start_e to end_e."""
    learning_starts: int = 5_000
    """Env steps of pure exploration before learning starts."""
    train_frequency: int = 4
    """Env steps per gradient step (summed over the parallel episodes)."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clipping threshold."""
    norm_reward: bool = True
    """Divide rewards by the std of the discounted return seen in the first ``learning_starts`` steps, then fixed."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the Q-network (tanh)."""

    def validate(self) -> None:
        """Raise ``ConfigurationError`` naming the first invalid field."""
        self.validate_evaluation("DQNPolicy")
        check_config("DQNPolicy", self,
                     positive=("total_timesteps", "num_envs", "buffer_size", "target_network_frequency",
                               "batch_size", "train_frequency", "learning_rate"),
                     non_negative=("learning_starts", "max_grad_norm"),
                     unit=("gamma", "tau", "start_e", "end_e", "exploration_fraction"))
        if self.buffer_size < self.num_envs:
            raise bad_value("DQNPolicy", "buffer_size", f"at least num_envs = {self.num_envs}", self.buffer_size)


class QNetwork(nn.Module):
    """Q-values of every action: a tanh MLP with one output per action."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.q = mlp(obs_dim, hidden, n_actions, out_std=1.0)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Q-values ``(n, n_actions)`` (unmasked)."""
        return self.q(x)

    forward = scores


def linear_schedule(start_e: float, end_e: float, duration: float, t: int) -> float:
    """Epsilon decayed linearly from ``start_e`` to ``end_e`` over ``duration`` env steps.

    Parameters
    ----------
    start_e, end_e : float
        Exploration probabilities at ``t = 0`` and from ``t = duration`` on.
    duration : float
        Length of the decay [env steps]; below 1, treated as 1.
    t : int
        Env steps so far.

    Returns
    -------
    float
    """
    slope = (end_e - start_e) / max(duration, 1.0)
    return max(slope * t + start_e, end_e)


def epsilon_greedy(greedy: np.ndarray, mask: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """Each row's greedy action, or with probability ``epsilon`` a uniformly random feasible one.

    Draws ``rng.random(mask.shape)`` (the random feasible action: the feasible
    entry of largest uniform draw) then ``rng.random(n)`` (explore or not).

    Parameters
    ----------
    greedy : ndarray of int, shape (n,)
        Greedy (feasible) actions.
    mask : ndarray of bool, shape (n, n_actions)
        Feasible actions; every row has at least one.
    epsilon : float
        Exploration probability, in [0, 1].
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    random_actions = np.argmax(np.where(mask, rng.random(mask.shape), -1.0), axis=1)
    return np.where(rng.random(len(greedy)) < epsilon, random_actions, greedy)


def soft_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """Polyak update ``target <- tau * online + (1 - tau) * target``, parameter by parameter (1: hard copy)."""
    with torch.no_grad():
        for target_param, param in zip(target.parameters(), online.parameters()):
            target_param.copy_(tau * param + (1.0 - tau) * target_param)


def train(config: DQNConfig, scenario: Scenario, seed: int | None = None) -> DQNPolicy:
    """Train DQN on ``scenario``; return the fitted greedy :class:`DQNPolicy`.

    Parameters
    ----------
    config : DQNConfig
    scenario : Scenario
        A scenario with a discrete action space.
    seed : int, optional
        Seed of everything random in training (None: 0).

    Raises
    ------
    TrainingDivergedError
        A loss, gradient norm, reward or weight became NaN or infinite.
    """
    policy = DQNPolicy(**dataclasses.asdict(config))
    seed = policy._start_fit(scenario, seed)
    N, A, B = config.num_envs, policy.n_actions_, config.buffer_size
    # Per transition: observation and next observation (float32), next mask, action, reward, done.
    check_memory(f"the DQN replay buffer of {B:,} transitions", B * (8.0 * policy.obs_dim_ + A + 8 + 4 + 1),
                 "lower buffer_size")
    num_steps = -(-config.total_timesteps // N)
    total_gradient_steps = max(0, (num_steps * N - config.learning_starts) // config.train_frequency)
    with training_threads(1):
        # TRY NOT TO MODIFY: seeding and setup (the online and the target network)
        setup = start_training(policy, config, scenario, seed, unit="gradient step",
                               total_updates=total_gradient_steps, networks=2,
                               optimizer=lambda params: torch.optim.Adam(params, lr=config.learning_rate))
        envs, (q_network, target_network), optimizer, log, rng, _ = setup
        target_network.load_state_dict(q_network.state_dict())

        # ALGO LOGIC: replay buffer (circular, preallocated)
        rb_obs = torch.zeros((B, policy.obs_dim_))
        rb_next_obs = torch.zeros((B, policy.obs_dim_))
        rb_next_mask = torch.zeros((B, A), dtype=torch.bool)
        rb_actions = torch.zeros(B, dtype=torch.int64)
        rb_rewards = torch.zeros(B)
        rb_dones = torch.zeros(B, dtype=torch.bool)
        rb_pos, rb_full = 0, False

        obs_np, infos = envs.reset(seed=seed)
        mask_np = infos["action_mask"]
        normalizer = ReturnNormalizer(N, config.gamma)
        episode_return = np.zeros(N)
        env_steps = gradient_steps = 0
        next_target_update = config.target_network_frequency
        exploration_steps = config.exploration_fraction * config.total_timesteps

        for step in range(1, num_steps + 1):
            # ALGO LOGIC: epsilon-greedy over feasible actions
            epsilon = linear_schedule(config.start_e, config.end_e, exploration_steps, env_steps)
            obs_t, mask_t = torch.from_numpy(obs_np), torch.from_numpy(mask_np)
            with torch.no_grad():
                greedy = masked_argmax(q_network(obs_t), mask_t).numpy()
            actions = epsilon_greedy(greedy, mask_np, epsilon, rng)

            # TRY NOT TO MODIFY: execute the game and log data.
            next_obs_np, reward, terminated, truncated, infos = envs.step(actions)
            env_steps += N
            done = np.logical_or(terminated, truncated)
            normalizer.frozen = env_steps > config.learning_starts  # fixed scale once learning starts
            normalizer.update(reward, done)
            episode_return += reward
            real_next_obs = next_obs_np
            if done.any():
                log.add_episodes(-episode_return[done] / envs.reward_scale)
                episode_return[done] = 0.0
                real_next_obs = np.where(done[:, None], np.stack(infos["final_obs"]), next_obs_np)

            # TRY NOT TO MODIFY: save data to the replay buffer
            rows = (rb_pos + np.arange(N)) % B
            rows_t = torch.from_numpy(rows)
            rb_obs[rows_t] = obs_t
            rb_next_obs[rows_t] = torch.from_numpy(np.ascontiguousarray(real_next_obs, dtype=np.float32))
            rb_next_mask[rows_t] = torch.from_numpy(infos["action_mask"])
            rb_actions[rows_t] = torch.from_numpy(actions)
            rb_rewards[rows_t] = torch.from_numpy(np.asarray(reward, dtype=np.float32))
            rb_dones[rows_t] = torch.from_numpy(terminated)
            rb_full = rb_full or rb_pos + N >= B
            rb_pos = (rb_pos + N) % B
            obs_np, mask_np = next_obs_np, infos["action_mask"]

            # ALGO LOGIC: training
            if env_steps > config.learning_starts:
                due = (env_steps - config.learning_starts) // config.train_frequency
                size = B if rb_full else rb_pos
                while gradient_steps < due:
                    gradient_steps += 1
                    idx = torch.from_numpy(rng.integers(0, size, config.batch_size))
                    scale = normalizer.scale if config.norm_reward else 1.0
                    if gradient_steps == 1:  # the normaliser is frozen from here on: an infinite scale stays
                        log.guard.check_rewards(rb_rewards, env_steps, gradient_steps, divisor=scale)
                    with torch.no_grad():
                        td_target = q_learning_target(rb_rewards[idx], target_network(rb_next_obs[idx]),
                                                      rb_next_mask[idx], rb_dones[idx], config.gamma, scale)
                    old_val = q_network(rb_obs[idx]).gather(1, rb_actions[idx].unsqueeze(1)).squeeze(1)
                    loss = F.smooth_l1_loss(old_val, td_target)
                    optimizer.zero_grad()
                    loss.backward()
                    grad_norm = nn.utils.clip_grad_norm_(q_network.parameters(), config.max_grad_norm)
                    log.guard.check_update(loss, grad_norm, env_steps, gradient_steps, rewards=rb_rewards)
                    optimizer.step()

            # update the target network
            if env_steps >= next_target_update:
                next_target_update += config.target_network_frequency
                soft_update(target_network, q_network, config.tau)

            last = step == num_steps
            if done.any() or last:
                log.record(env_steps, final=last)

        q_network.eval()
        policy.learning_curve_ = log.frame()
    return policy


class DQNPolicy(TorchPolicy):
    """Greedy policy of a DQN-trained Q-network; ``fit`` runs :func:`train`.

    Parameters are the fields of :class:`DQNConfig` (same names, defaults and meaning).
    """

    config_class = DQNConfig

    def __init__(
        self,
        total_timesteps: int = DQNConfig.total_timesteps,
        num_envs: int = DQNConfig.num_envs,
        learning_rate: float = DQNConfig.learning_rate,
        buffer_size: int = DQNConfig.buffer_size,
        gamma: float = DQNConfig.gamma,
        tau: float = DQNConfig.tau,
        target_network_frequency: int = DQNConfig.target_network_frequency,
        batch_size: int = DQNConfig.batch_size,
        start_e: float = DQNConfig.start_e,
        end_e: float = DQNConfig.end_e,
        exploration_fraction: float = DQNConfig.exploration_fraction,
        learning_starts: int = DQNConfig.learning_starts,
        train_frequency: int = DQNConfig.train_frequency,
        max_grad_norm: float = DQNConfig.max_grad_norm,
        norm_reward: bool = DQNConfig.norm_reward,
        hidden_sizes: tuple[int, ...] = DQNConfig.hidden_sizes,
        reward_scale: float | None = DQNConfig.reward_scale,
        eval_interval: int = DQNConfig.eval_interval,
        eval_episodes: int = DQNConfig.eval_episodes,
        eval_seed: int = DQNConfig.eval_seed,
        compute_optimum: bool = DQNConfig.compute_optimum,
        keep_best: bool = DQNConfig.keep_best,
    ) -> None:
        self._store_params(locals())

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        self._adopt(train(self.config(), scenario, seed))

    def _make_network(self, obs_dim: int, n_actions: int) -> nn.Module:
        return QNetwork(obs_dim, n_actions, tuple(self.hidden_sizes))


__all__ = ["DQNConfig", "DQNPolicy", "epsilon_greedy", "linear_schedule", "soft_update", "train"]
