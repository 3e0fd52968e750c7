"""Pieces the deep-RL agents (``ppo.py``, ``a2c.py``, ``dqn.py``) really share.

* :class:`TorchPolicy`: the fitted-policy side of every agent: greedy masked
  ``act_batch`` on raw scenario observations, and the checkpoint hooks that
  :mod:`optalloc.io` uses to save the network as a torch ``state_dict``.
* :func:`masked`, :class:`MaskedCategorical`, :func:`masked_argmax`: infeasible
  actions get a logit / Q-value of ``-inf``, so they are never sampled nor chosen.
* :class:`FactorisedMaskedCategorical`, :func:`masked_distribution`,
  :func:`greedy_actions`: the same for ``MultiDiscrete(nvec)`` actions, one
  masked categorical head per component (the logits and the mask split by
  ``nvec``); log-probabilities and entropies are sums over the components.
* :func:`scale_observations`: the observation transform of the RL envs
  (raw observation divided by ``scenario.observation_scale``, as float32).
* :func:`make_vector_env`: the batched training env, with its autoreset mode checked.
* :func:`start_training`: the set-up every agent's training loop starts from
  (env, networks under :func:`seeded_torch`, optimiser, random generators,
  :class:`TrainingLog` with its divergence guard and progress bar).
* :class:`ActorCritic` (PPO and A2C) and :func:`mlp`: small tanh MLPs with
  orthogonal initialisation.
* :class:`ReturnNormalizer`: rewards divided by a running std of the return.
* :class:`TrainingLog`: the learning curve (training episode costs, periodic
  greedy evaluation on fixed paths, gap to the exact optimum).
* :class:`DivergenceGuard`: stops training with
  :class:`~optalloc.exceptions.TrainingDivergedError` at the first non-finite
  loss, gradient norm, reward or weight.

Advantage estimates and losses are pure functions in :mod:`optalloc.rl.losses`;
everything else algorithm-specific (networks, training loops) stays in the agent's own file.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, Self

import numpy as np
import pandas as pd
import torch
from gymnasium import spaces
from torch import nn

from optalloc.exceptions import TrainingDivergedError, UnsupportedScenarioError, bad_value
from optalloc.policy import Policy
from optalloc.scenario import Scenario
from optalloc.tags import PolicyTags

#: Columns of ``learning_curve_``.
LEARNING_CURVE_COLUMNS = ("env_steps", "wall_s", "episode_cost_mean", "eval_cost", "gap_to_optimum_pct")
_CURVE_PREFIX = "learning_curve_:"


# ---------------------------------------------------------------- observations and masks
def observation_scale(scenario: Scenario) -> np.ndarray:
    """The scale the RL envs divide raw observations by (``scenario.observation_scale``, validated)."""
    from optalloc.rl.env import scaled_observation_space

    return scaled_observation_space(scenario)[1]


def scale_observations(observations: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Raw scenario observations ``(n, d)`` to network inputs, as the envs do: ``observations / scale`` in float32."""
    return (np.asarray(observations, dtype=np.float64) / scale).astype(np.float32)


def make_vector_env(scenario: Scenario, num_envs: int, reward_scale: float | None) -> Any:
    """The agents' training env: ``AllocationVectorEnv`` on the ``"train"`` stream, autoreset ``SAME_STEP``.

    The agents' loops rely on same-step autoreset (the terminal step returns
    the next episodes' first observations, ``infos["final_obs"]`` the last
    ones), so the mode is checked rather than assumed.
    """
    from gymnasium.vector import AutoresetMode

    from optalloc.rl.vector_env import AllocationVectorEnv

    envs = AllocationVectorEnv(scenario, num_envs, reward_scale=reward_scale, stream="train")
    mode = envs.metadata.get("autoreset_mode")
    if mode != AutoresetMode.SAME_STEP:
        raise RuntimeError(f"The RL agents need a vector env with autoreset mode SAME_STEP; got {mode}.")
    return envs


def masked(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``scores`` with infeasible entries (``mask == False``) set to ``-inf``."""
    return torch.where(mask, scores, torch.tensor(-torch.inf, dtype=scores.dtype))


def masked_argmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Greedy feasible action per row (ties: the smallest index)."""
    return torch.argmax(masked(scores, mask), dim=1)


def greedy_actions(scores: torch.Tensor, mask: torch.Tensor, nvec: tuple[int, ...] | None = None) -> torch.Tensor:
    """Greedy feasible action per row: ``(n,)`` indices, or ``(n, len(nvec))`` per-component choices.

    With ``nvec`` (a ``MultiDiscrete`` action space), ``scores`` and ``mask``
    are ``(n, sum(nvec))``, split into one block per component, and each
    component takes its own feasible argmax (ties: the smallest value).
    """
    if nvec is None:
        return masked_argmax(scores, mask)
    return torch.stack([masked_argmax(s, m) for s, m in zip(torch.split(scores, nvec, dim=1),
                                                            torch.split(mask, nvec, dim=1))], dim=1)


class MaskedCategorical:
    """Categorical distribution over the feasible actions of each row.

    Infeasible logits are ``-inf``: zero probability, never sampled. Entropy
    and log-probabilities are computed so that masked entries give neither
    ``nan`` values nor ``nan`` gradients.
    """

    def __init__(self, logits: torch.Tensor, mask: torch.Tensor) -> None:
        self.mask = mask
        self.log_probs = torch.log_softmax(masked(logits, mask), dim=1)

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """One action per row by the Gumbel-max trick, drawing from ``generator``."""
        u = torch.rand(self.log_probs.shape, generator=generator).clamp_(min=1e-12)
        return torch.argmax(self.log_probs - torch.log(-torch.log(u)), dim=1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """Log-probability of ``actions`` (n,)."""
        return self.log_probs.gather(1, actions.long().unsqueeze(1)).squeeze(1)

    def entropy(self) -> torch.Tensor:
        """Entropy per row, over feasible actions only."""
        safe = torch.where(self.mask, self.log_probs, torch.zeros((), dtype=self.log_probs.dtype))
        return -(self.log_probs.exp() * safe).sum(dim=1)


class FactorisedMaskedCategorical:
    """One :class:`MaskedCategorical` per component of a ``MultiDiscrete(nvec)`` action.

    ``logits`` and ``mask`` are ``(n, sum(nvec))``: component ``i`` owns the
    ``nvec[i]`` columns after those of components ``0..i-1`` (the layout of
    the scenarios' concatenated masks). The components are independent given
    the observation, so the joint log-probability and entropy are the sums
    of the components' (Huang & Ontanon 2022 mask each component's head).
    """

    def __init__(self, logits: torch.Tensor, mask: torch.Tensor, nvec: tuple[int, ...]) -> None:
        self.heads = [MaskedCategorical(lg, m) for lg, m in zip(torch.split(logits, nvec, dim=1),
                                                                torch.split(mask, nvec, dim=1))]

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """One action vector per row, ``(n, len(nvec))``, each component drawn from its own head."""
        return torch.stack([head.sample(generator) for head in self.heads], dim=1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """Log-probability of action vectors ``(n, len(nvec))``: the sum over components."""
        return torch.stack([head.log_prob(actions[:, i]) for i, head in enumerate(self.heads)], dim=1).sum(dim=1)

    def entropy(self) -> torch.Tensor:
        """Entropy per row: the sum of the components' (each over its feasible values)."""
        return torch.stack([head.entropy() for head in self.heads], dim=1).sum(dim=1)


def masked_distribution(logits: torch.Tensor, mask: torch.Tensor,
                        nvec: tuple[int, ...] | None = None) -> MaskedCategorical | FactorisedMaskedCategorical:
    """The masked action distribution of a policy head: one categorical (``nvec`` None) or one per component."""
    if nvec is None:
        return MaskedCategorical(logits, mask)
    return FactorisedMaskedCategorical(logits, mask, nvec)


# ---------------------------------------------------------------- networks
def layer_init(layer: nn.Linear, std: float = float(np.sqrt(2)), bias: float = 0.0) -> nn.Linear:
    """Orthogonal weights with gain ``std`` and constant bias (CleanRL's ``layer_init``)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(inputs: int, hidden: tuple[int, ...], outputs: int, out_std: float) -> nn.Sequential:
    """A tanh MLP ``inputs -> hidden... -> outputs`` with orthogonal initialisation."""
    layers: list[nn.Module] = []
    width = inputs
    for h in hidden:
        layers += [layer_init(nn.Linear(width, h)), nn.Tanh()]
        width = h
    layers.append(layer_init(nn.Linear(width, outputs), std=out_std))
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate actor and critic tanh MLPs (CleanRL's ``Agent``; SB3's default ``MlpPolicy`` layout).

    The actor's output layer starts near zero (gain 0.01), so the initial
    policy is close to uniform over the feasible actions; the critic's has gain 1.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.actor = mlp(obs_dim, hidden, n_actions, out_std=0.01)
        self.critic = mlp(obs_dim, hidden, 1, out_std=1.0)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Action logits ``(n, n_actions)`` (unmasked)."""
        return self.actor(x)

    def value(self, x: torch.Tensor) -> torch.Tensor:
        """State values ``(n,)``."""
        return self.critic(x).squeeze(-1)


class ReturnNormalizer:
    """Scale rewards by a running standard deviation of the discounted return.

    The semantics of gymnasium's ``NormalizeReward`` wrapper (and SB3's
    ``VecNormalize(norm_reward=True)``), vectorised over parallel episodes:
    the discounted return ``R <- gamma * R + r`` (reset at episode ends) feeds
    a running variance, and rewards are divided by its square root. Keeps the
    critic's targets of order one whatever the scenario's currency.
    """

    def __init__(self, num_envs: int, gamma: float, epsilon: float = 1e-8) -> None:
        self.gamma, self.epsilon = gamma, epsilon
        self.returns = np.zeros(num_envs)
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4
        self.frozen = False

    @property
    def scale(self) -> float:
        """Current divisor of the rewards."""
        return float(np.sqrt(self.var + self.epsilon))

    def update(self, rewards: np.ndarray, dones: np.ndarray) -> None:
        """Advance the running returns by one step and update the variance (unless frozen)."""
        self.returns = self.returns * self.gamma + rewards
        if not self.frozen:
            # Parallel (Chan et al.) update of the running mean and variance with this step's batch.
            batch_mean, batch_var, n = float(self.returns.mean()), float(self.returns.var()), len(self.returns)
            delta, total = batch_mean - self.mean, self.count + n
            m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
            self.mean, self.var, self.count = self.mean + delta * n / total, m2 / total, total
        self.returns[dones] = 0.0

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        """Update with this step's rewards and return them normalised."""
        self.update(rewards, dones)
        return rewards / self.scale


@contextlib.contextmanager
def training_threads(n: int = 1) -> Iterator[None]:
    """Run torch on ``n`` intra-op threads inside the block (small networks gain nothing from more)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def seeded_torch(seed: int | None) -> Iterator[None]:
    """Seed torch's global generator inside the block (network initialisation) and restore it after.

    ``seed=None`` only isolates: code inside the block may seed and draw
    (stable-baselines3 does), the caller's generator state comes back after.
    """
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        yield


# ---------------------------------------------------------------- configuration checks
def check_config(owner: str, config: Any, *, positive: tuple[str, ...] = (), non_negative: tuple[str, ...] = (),
                 unit: tuple[str, ...] = ()) -> None:
    """Raise :class:`~optalloc.exceptions.ConfigurationError` for a bad config field.

    ``positive``: integers (or numbers, if the field's default is a float) > 0;
    ``non_negative``: numbers >= 0; ``unit``: numbers in [0, 1].
    """
    for name in positive:
        value = getattr(config, name)
        integer = isinstance(getattr(type(config), name, 1), int)
        kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
        if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
            raise bad_value(owner, name, "a positive integer" if integer else "a positive number", value)
    for name in non_negative:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not value >= 0:
            raise bad_value(owner, name, "a non-negative number", value)
    for name in unit:
        value = getattr(config, name)
        number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if not number or not 0 <= value <= 1:
            raise bad_value(owner, name, "a number in [0, 1]", value)
    hidden = getattr(config, "hidden_sizes", (1,))
    if (not isinstance(hidden, (tuple, list)) or not hidden
            or not all(isinstance(h, (int, np.integer)) and not isinstance(h, bool) and h > 0 for h in hidden)):
        raise bad_value(owner, "hidden_sizes", "a non-empty list of positive integers", hidden)


# ---------------------------------------------------------------- training log
@dataclass
class EvaluationConfig:
    """Reward scaling and periodic validation: the fields every agent's config shares.

    Each agent's config dataclass inherits them (after its own fields in the
    documentation, first in ``dataclasses.fields`` order) and calls
    :meth:`validate_evaluation` from its ``validate``.
    """

    reward_scale: float | None = None
    """Reward = -reward_scale * discounted cost (None: the env's default for the scenario)."""
    eval_interval: int = 20_000
    """Evaluate the greedy policy every this many env steps (and at the end) [env steps]."""
    eval_episodes: int = 100
    """Fixed validation paths (``sample_noise(eval_seed, eval_episodes, "validate")``, never the benchmark's
    evaluation paths); 0: no evaluation."""
    eval_seed: int = 0
    """Seed of the evaluation paths."""
    compute_optimum: bool = True
    """Compute the exact optimum once by DP (if the scenario has a tabular model) for the gap column."""
    keep_best: bool = True
    """Return the network that did best on the validation paths (every ``eval_interval`` env steps and at
    the end), not the last one: policy improvement is not monotone."""

    def validate_evaluation(self, owner: str) -> None:
        """Raise ``ConfigurationError`` naming the first invalid shared field (``owner``: the policy's name)."""
        check_config(owner, self, positive=("eval_interval",), non_negative=("eval_episodes", "eval_seed"))
        if self.reward_scale is not None and not (isinstance(self.reward_scale, (int, float))
                                                  and not isinstance(self.reward_scale, bool) and self.reward_scale > 0):
            raise bad_value(owner, "reward_scale", "a positive number or None", self.reward_scale)


#: Exact optima already computed, by scenario class and parameter fingerprint: every training
#: seed of a suite, and every refit, learns on the same scenario and needs the same number.
_OPTIMA: dict[tuple[type, str], float] = {}


def exact_optimum(scenario: Scenario) -> float | None:
    """Optimal expected cost by backward induction, if the scenario has an exact tabular model.

    Computed once per scenario class and :meth:`~optalloc.scenario.Scenario.fingerprint`
    (all parameters) in a process; scenarios are frozen, so the value cannot go stale.
    """
    if not scenario.tags.has("tabular_model"):
        return None
    key = (type(scenario), scenario.fingerprint())
    if key not in _OPTIMA:
        from optalloc.policies.dp import DPPolicy

        _OPTIMA[key] = float(DPPolicy().fit(scenario).expected_cost_)
    return _OPTIMA[key]


_SHOW_PROGRESS = False


@contextlib.contextmanager
def training_progress(enabled: bool = True) -> Iterator[None]:
    """Show a progress bar (env steps, gap to the optimum) while agents train inside this block.

    The command line turns it on; library calls stay quiet by default.
    """
    global _SHOW_PROGRESS
    previous, _SHOW_PROGRESS = _SHOW_PROGRESS, enabled
    try:
        yield
    finally:
        _SHOW_PROGRESS = previous


def _progress_bar(total: int | None, description: str) -> Any:
    if not _SHOW_PROGRESS:
        return None
    from optalloc.progress import progress_bar

    return progress_bar(total=total, desc=description, unit="step", unit_scale=True)


class DivergenceGuard:
    """Stop training at the first non-finite loss, gradient norm, reward or weight.

    Each check raises :class:`~optalloc.exceptions.TrainingDivergedError` with
    a one-line message naming the agent, the env step and update, what became
    non-finite and what to lower. The checks are cheap enough to run always:
    two scalar tests per gradient step (:meth:`check_update`), one reduction
    per rollout (:meth:`check_rewards`) and one pass over the weights per
    evaluation and at the end (:meth:`check_weights`).

    Parameters
    ----------
    owner : str
        The agent's name in messages (``"PPOPolicy"``).
    learning_rate : float
        The (initial) learning rate, quoted in messages.
    reward_scale : float
        The resolved reward scale [1/currency], quoted in messages.
    unit : str
        What one training update is called in messages (``"iteration"``, ``"update"``, ``"gradient step"``).
    total : int, optional
        Number of such updates planned, quoted in messages.
    on_error : callable, optional
        Called before raising (the training log closes its progress bar, so the error prints on a clean line).
    """

    def __init__(self, owner: str, *, learning_rate: float, reward_scale: float, unit: str = "update",
                 total: int | None = None, on_error: Callable[[], None] | None = None) -> None:
        self.owner, self.learning_rate, self.reward_scale = owner, learning_rate, reward_scale
        self.unit, self.total, self.on_error = unit, total, on_error

    def error(self, what: str, env_steps: int, index: int | None = None, *,
              lower: str = "learning_rate") -> TrainingDivergedError:
        """The error to raise: ``what`` went non-finite at ``env_steps`` (update ``index``).

        ``lower``: ``"learning_rate"`` suggests lowering the learning rate or the
        reward scale, ``"reward_scale"`` the reward scale only.
        """
        if self.on_error is not None:
            self.on_error()
        where = f"env step {env_steps:,}"
        if index is not None:
            where += f" ({self.unit} {index:,}" + (f" of {self.total:,})" if self.total is not None else ")")
        advice = f"lower reward_scale (now {self.reward_scale:g})"
        if lower == "learning_rate":
            advice = f"lower learning_rate (now {self.learning_rate:g}) or reward_scale (now {self.reward_scale:g})"
        return TrainingDivergedError(f"{self.owner} training diverged at {where}: {what}; {advice}. "
                                     f"The policy is left unfitted.")

    def check_update(self, loss: torch.Tensor, grad_norm: torch.Tensor, env_steps: int, index: int, *,
                     rewards: torch.Tensor | None = None) -> None:
        """Raise if the loss or the (pre-clipping) gradient norm of this update is not finite.

        ``rewards``: rewards the loss was computed from, inspected only when
        the check fails, so that an overflowing reward is reported as such.
        """
        if not (torch.isfinite(loss) and torch.isfinite(grad_norm)):
            if rewards is not None:
                self.check_rewards(rewards, env_steps, index)
            if not torch.isfinite(loss):
                raise self.error(f"the loss is {float(loss.detach())}", env_steps, index)
            raise self.error(f"the gradient norm is {float(grad_norm)}", env_steps, index)

    def check_rewards(self, rewards: torch.Tensor, env_steps: int, index: int | None = None, *,
                      divisor: float | None = None) -> None:
        """Raise if a reward the agent learns from (after scaling and normalisation) is not finite.

        ``divisor``: the reward normaliser's current scale, if any; an infinite
        one would silently turn every reward into zero.
        """
        if divisor is not None and not np.isfinite(divisor):
            raise self.error(f"the running standard deviation of the return that normalises the rewards is "
                             f"{divisor}", env_steps, index, lower="reward_scale")
        if not torch.isfinite(rewards).all():
            bad = rewards[~torch.isfinite(rewards)].reshape(-1)[0]
            raise self.error(f"a reward the agent learns from is {float(bad)} (after reward scaling, as "
                             f"{str(rewards.dtype).removeprefix('torch.')})", env_steps, index, lower="reward_scale")

    def check_weights(self, network: nn.Module, env_steps: int, index: int | None = None) -> None:
        """Raise if a parameter of ``network`` holds a NaN or an infinity."""
        for name, parameter in network.named_parameters():
            if not torch.isfinite(parameter).all():
                raise self.error(f"the weights {name} are not finite", env_steps, index)


class TrainingLog:
    """The learning curve of one training run.

    Each :meth:`record` adds a row: ``env_steps`` (environment steps so far,
    summed over parallel episodes), ``wall_s`` (seconds since training
    started), ``episode_cost_mean`` (mean reported total cost of the training
    episodes finished since the previous row; NaN if none), ``eval_cost``
    (mean total cost of the current greedy policy on ``eval_episodes`` fixed
    validation paths (stream "validate"); evaluated every ``eval_interval`` env steps and at the
    end, NaN otherwise) and ``gap_to_optimum_pct`` (``100 * (eval_cost -
    optimum) / abs(optimum)`` when the exact optimum is known, else NaN). Costs
    are in the scenario's currency.

    :attr:`guard` (a :class:`DivergenceGuard` quoting the policy's
    ``learning_rate`` and ``reward_scale``; updates called ``unit``, ``total_updates``
    of them) is for the training loop's checks; :meth:`record` itself checks
    the weights before every evaluation and at the end, so a network holding
    NaN is never evaluated, kept as the best one, or returned.
    """

    def __init__(self, policy: Policy, scenario: Scenario, *, eval_interval: int, eval_episodes: int,
                 eval_seed: int, compute_optimum: bool, total_steps: int | None = None,
                 keep_best: bool = False, unit: str = "update", total_updates: int | None = None) -> None:
        from optalloc.rl.env import resolve_reward_scale

        self.policy, self.scenario = policy, scenario
        self.guard = DivergenceGuard(type(policy).__name__, learning_rate=getattr(policy, "learning_rate", np.nan),
                                     reward_scale=resolve_reward_scale(scenario, getattr(policy, "reward_scale", None)),
                                     unit=unit, total=total_updates, on_error=self.close)
        self.keep_best = keep_best
        self.best_cost, self.best_state = np.inf, None
        self.bar = _progress_bar(total_steps, f"train {type(policy).__name__} on {scenario.id}")
        self.eval_interval = eval_interval
        self.eval_noise = scenario.sample_noise(eval_seed, eval_episodes, "validate") if eval_episodes > 0 else None
        self.optimum = exact_optimum(scenario) if compute_optimum else None
        self.next_eval = eval_interval
        self.rows: list[tuple[float, ...]] = []
        self.pending: list[np.ndarray] = []
        self.start = time.perf_counter()

    def add_episodes(self, costs: np.ndarray) -> None:
        """Reported total costs of training episodes that just finished."""
        self.pending.append(np.asarray(costs, dtype=np.float64))

    def evaluate(self) -> float:
        """Mean total cost of the current greedy policy on the evaluation paths."""
        from optalloc.evaluation import rollout

        assert self.eval_noise is not None
        return float(rollout(self.policy, self.scenario, self.eval_noise).total_cost.mean())

    def record(self, env_steps: int, *, final: bool = False) -> None:
        """Add a row; evaluate if ``eval_interval`` env steps passed since the last evaluation, or ``final``."""
        eval_cost = gap = np.nan
        evaluating = self.eval_noise is not None and (final or env_steps >= self.next_eval)
        if evaluating or final:
            self.guard.check_weights(self.policy.network_, env_steps)
        if evaluating:
            eval_cost = self.evaluate()
            if self.keep_best and eval_cost < self.best_cost:
                self.best_cost = eval_cost
                self.best_state = {k: v.detach().clone() for k, v in self.policy.network_.state_dict().items()}
            while self.next_eval <= env_steps:
                self.next_eval += self.eval_interval
            if self.optimum:
                gap = 100.0 * (eval_cost - self.optimum) / abs(self.optimum)  # revenue scenarios have negative optima
        costs = np.concatenate(self.pending) if self.pending else np.empty(0)
        self.pending = []
        mean = float(costs.mean()) if len(costs) else np.nan
        self.rows.append((float(env_steps), time.perf_counter() - self.start, mean, eval_cost, gap))
        if self.bar is not None:
            self.bar.update(env_steps - self.bar.n)
            if not np.isnan(gap):
                self.bar.set_postfix_str(f"gap to optimum {gap:.2f} %")
            if final:
                self.close()
        if final and self.best_state is not None:
            # Policy improvement is not monotone: keep the network that did best on the validation paths.
            self.policy.network_.load_state_dict(self.best_state)

    def close(self) -> None:
        """Close the progress bar, if any (training ends, or stops on an error)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def frame(self) -> pd.DataFrame:
        """The learning curve as a DataFrame with :data:`LEARNING_CURVE_COLUMNS`."""
        frame = pd.DataFrame(self.rows, columns=list(LEARNING_CURVE_COLUMNS), dtype=np.float64)
        frame["env_steps"] = frame["env_steps"].astype(np.int64)
        return frame


# ---------------------------------------------------------------- training set-up
class TrainingSetup(NamedTuple):
    """What :func:`start_training` builds for an agent's training loop."""

    envs: Any
    """The batched training env (:func:`make_vector_env`)."""
    networks: list[nn.Module]
    """The freshly initialised networks, in the order made; the first is ``policy.network_``."""
    optimizer: torch.optim.Optimizer
    """The optimiser of the first network's parameters."""
    log: TrainingLog
    """The learning curve, its divergence guard (``log.guard``) and progress bar."""
    rng: np.random.Generator
    """``numpy.random.default_rng(seed)``: minibatch shuffling, exploration, replay sampling."""
    generator: torch.Generator
    """A torch generator seeded with ``seed``: action sampling."""


def start_training(policy: TorchPolicy, config: Any, scenario: Scenario, seed: int, *,
                   optimizer: Callable[[Iterator[nn.Parameter]], torch.optim.Optimizer], unit: str,
                   total_updates: int, networks: int = 1) -> TrainingSetup:
    """The set-up every agent's ``train`` does after ``policy._start_fit``, before its loop.

    Builds the training env (``config.num_envs`` episodes, ``config.reward_scale``),
    ``networks`` networks from ``policy._make_network`` under
    :func:`seeded_torch(seed) <seeded_torch>` (so the same seed gives the same
    initial weights and the caller's global generator is untouched), the
    optimiser of the first one (``optimizer(parameters)``), which becomes
    ``policy.network_``, and the :class:`TrainingLog` of the run (whose optimum
    becomes ``policy.optimum_``).

    Parameters
    ----------
    policy : TorchPolicy
        The policy being fitted (``_start_fit`` already called).
    config : EvaluationConfig subclass
        The agent's config (``num_envs``, ``total_timesteps``, ``reward_scale`` and the evaluation fields
        are read).
    scenario : Scenario
    seed : int
        Seed of the networks and of the returned generators.
    optimizer : callable
        ``parameters -> torch.optim.Optimizer``.
    unit : str
        What one update is called in divergence messages (``"iteration"``).
    total_updates : int
        Updates the run will make, for those messages.
    networks : int
        How many networks to make (DQN: the online and the target network).
    """
    envs = make_vector_env(scenario, config.num_envs, config.reward_scale)
    with seeded_torch(seed):
        made = [policy._make_network(policy.obs_dim_, policy.n_actions_) for _ in range(networks)]
    policy.network_ = made[0]
    log = TrainingLog(policy, scenario, total_steps=config.total_timesteps, eval_interval=config.eval_interval,
                      eval_episodes=config.eval_episodes, eval_seed=config.eval_seed,
                      compute_optimum=config.compute_optimum, keep_best=config.keep_best, unit=unit,
                      total_updates=total_updates)
    policy.optimum_ = log.optimum
    return TrainingSetup(envs=envs, networks=made, optimizer=optimizer(made[0].parameters()), log=log,
                         rng=np.random.default_rng(seed), generator=torch.Generator().manual_seed(seed))


def head_layout(owner: str, scenario: Scenario) -> tuple[int, list[int] | None]:
    """Width of the action mask and ``nvec`` (None for ``Discrete``) of ``scenario``'s action space.

    Raises
    ------
    UnsupportedScenarioError
        The space is neither ``Discrete(n)`` starting at 0 nor a flat ``MultiDiscrete(nvec)``.
    """
    space = scenario.action_space
    if isinstance(space, spaces.Discrete) and int(space.start) == 0:
        return int(space.n), None
    if isinstance(space, spaces.MultiDiscrete) and np.asarray(space.nvec).ndim == 1 and not np.any(space.start):
        nvec = [int(v) for v in space.nvec]
        return sum(nvec), nvec
    raise UnsupportedScenarioError(
        f"{owner} needs a Discrete action space starting at 0 or a flat MultiDiscrete one; scenario "
        f"{scenario.id!r} has {space}."
    )


# ---------------------------------------------------------------- the fitted policy
class TorchPolicy(Policy):
    """Base of the torch agents' policies: greedy masked action of a network, and checkpoint hooks.

    Subclasses set ``config_class`` (the agent's config dataclass), implement
    ``_fit`` (calling the agent's ``train``) and ``_make_network(obs_dim,
    n_actions)``; the network's ``scores(x)`` gives one score per action
    (logits or Q-values), whose feasible argmax is the greedy action. For a
    ``MultiDiscrete(nvec)`` scenario (a subclass whose ``tags`` accept
    ``multi_discrete``) the network scores ``sum(nvec)`` values, one block per
    component, and each component takes its own feasible argmax.

    Fitted attributes
    -----------------
    network_ : torch.nn.Module
        The trained network (CPU, eval mode).
    obs_scale_ : ndarray
        Observation scale of the scenario trained on (``observation_scale``).
    obs_dim_, n_actions_ : int
        Network input and output sizes (``n_actions_``: the width of the
        action mask, ``sum(nvec)`` for a ``MultiDiscrete`` space).
    action_nvec_ : list of int or None
        ``nvec`` of a ``MultiDiscrete`` action space; None for ``Discrete``.
    optimum_ : float or None
        Exact optimal expected cost of the training scenario, if computed.
    learning_curve_ : pandas.DataFrame
        See :class:`TrainingLog`.
    """

    tags: ClassVar[PolicyTags] = PolicyTags(method="rl")
    config_class: ClassVar[type]

    def fit_progress(self, enabled: bool = True) -> contextlib.AbstractContextManager:
        """A progress bar of env steps (and the gap to the optimum) while :meth:`fit` trains."""
        return training_progress(enabled)

    def _store_params(self, params: Mapping[str, Any]) -> None:
        """``__init__`` helper: keep every hyperparameter verbatim (no work, no validation)."""
        for name in self._param_names():
            setattr(self, name, params[name])

    def config(self) -> Any:
        """The agent's config dataclass built from this policy's hyperparameters."""
        params = self.get_params()
        if isinstance(params.get("hidden_sizes"), list):
            params["hidden_sizes"] = tuple(params["hidden_sizes"])
        return self.config_class(**params)

    def _validate_params(self) -> None:
        self.config().validate()

    # ------------------------------------------------------------ fitting plumbing used by train()
    def _start_fit(self, scenario: Scenario, seed: int | None) -> int:
        """Do what :meth:`Policy.fit` does before ``_fit``; return the seed to use (``None`` -> 0).

        The tags decide which action kinds are accepted (``Policy._begin_fit``);
        the space itself must then be ``Discrete(n)`` starting at 0 or a flat
        ``MultiDiscrete(nvec)``, the layouts the network heads are built for.
        """
        self._begin_fit(scenario, seed)
        self.n_actions_, self.action_nvec_ = head_layout(type(self).__name__, scenario)
        self.obs_scale_ = observation_scale(scenario)
        self.obs_dim_ = int(np.prod(scenario.observation_space.shape))
        return 0 if seed is None else int(seed)

    @property
    def action_shape(self) -> tuple[int, ...]:
        """Shape of one action: ``()`` (Discrete) or ``(len(nvec),)`` (MultiDiscrete)."""
        nvec = getattr(self, "action_nvec_", None)
        return () if nvec is None else (len(nvec),)

    def distribution(self, logits: torch.Tensor, mask: torch.Tensor) -> MaskedCategorical | FactorisedMaskedCategorical:
        """The masked action distribution of actor ``logits`` ``(n, n_actions_)`` (see :func:`masked_distribution`)."""
        nvec = self.action_nvec_
        return masked_distribution(logits, mask, None if nvec is None else tuple(nvec))

    def _adopt(self, fitted: TorchPolicy) -> None:
        """Take over the fitted attributes of ``fitted`` (what ``train`` returned)."""
        for key, value in vars(fitted).items():
            if key.endswith("_") and not key.startswith("__"):
                setattr(self, key, value)
        self._scenario = fitted._scenario

    def _make_network(self, obs_dim: int, n_actions: int) -> nn.Module:
        """The agent's untrained network for these sizes (from the hyperparameters)."""
        raise NotImplementedError

    def fit(self, scenario: Scenario, *, seed: int | None = None) -> Self:
        """Train on ``scenario`` with ``seed`` (None: 0); returns ``self``.

        The previous fit's attributes are dropped first, so a fit that fails
        leaves the policy unfitted rather than holding a stale or broken network.

        Raises
        ------
        TrainingDivergedError
            A loss, gradient norm, reward or weight became NaN or infinite during training.
        """
        for key in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, key)
        return super().fit(scenario, seed=seed)

    def is_fitted(self) -> bool:
        """Whether a trained network is there (a failed ``fit`` leaves the policy unfitted)."""
        return super().is_fitted() and hasattr(self, "network_")

    # ------------------------------------------------------------ acting
    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        """Greedy feasible action per row, for raw (unscaled) scenario observations.

        Returns ``(n,)`` action indices, or ``(n, len(nvec))`` action vectors
        for a ``MultiDiscrete`` scenario (each component its own feasible argmax).
        """
        self._check_fitted()
        obs = np.asarray(observations).reshape(len(observations), -1)
        mask = np.asarray(infos["action_mask"], dtype=bool)
        if mask.shape != (len(obs), self.n_actions_):
            raise bad_value(type(self).__name__, "infos['action_mask']", f"a bool array of shape ({len(obs)}, "
                            f"{self.n_actions_})", f"shape {mask.shape}")
        nvec = getattr(self, "action_nvec_", None)
        with torch.inference_mode():
            scores = self.network_.scores(torch.from_numpy(scale_observations(obs, self.obs_scale_)))
            actions = greedy_actions(scores, torch.from_numpy(mask), None if nvec is None else tuple(nvec))
            return actions.numpy().astype(np.int64)

    # ------------------------------------------------------------ persistence hooks (optalloc.io)
    def _state(self) -> dict[str, Any]:
        """Fitted state other than the network: JSON values and numpy arrays."""
        state = {k: v for k, v in super()._state().items() if k not in ("network_", "learning_curve_")}
        for column in LEARNING_CURVE_COLUMNS:
            state[_CURVE_PREFIX + column] = self.learning_curve_[column].to_numpy()
        return state

    def _load_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`_state` saved (the network comes through :meth:`_load_torch_state`)."""
        curve = {k[len(_CURVE_PREFIX):]: np.asarray(v) for k, v in state.items() if k.startswith(_CURVE_PREFIX)}
        super()._load_state({k: v for k, v in state.items() if not k.startswith(_CURVE_PREFIX)})
        self.obs_scale_ = np.asarray(self.obs_scale_, dtype=np.float64)
        nvec = state.get("action_nvec_")
        self.action_nvec_ = None if nvec is None else [int(v) for v in np.asarray(nvec).ravel()]
        self.learning_curve_ = pd.DataFrame({c: curve[c] for c in LEARNING_CURVE_COLUMNS})

    def _torch_state(self) -> dict[str, torch.Tensor]:
        """The network's ``state_dict`` (saved as ``state.pt``)."""
        return self.network_.state_dict()

    def _load_torch_state(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Rebuild the network from the hyperparameters and load ``state_dict`` (strict)."""
        network = self._make_network(int(self.obs_dim_), int(self.n_actions_))
        network.load_state_dict(state_dict, strict=True)
        self.network_ = network.eval()

    def _check_loaded(self) -> None:
        """The network's sizes and the observation scale must fit the manifest's scenario."""
        scenario = self._scenario
        obs_dim = int(np.prod(scenario.observation_space.shape))
        if int(self.obs_dim_) != obs_dim or np.shape(self.obs_scale_) != (obs_dim,):
            raise ValueError(f"the network reads {self.obs_dim_} inputs (scale of shape {np.shape(self.obs_scale_)}); "
                             f"the scenario's observations have {obs_dim}")
        n_actions, nvec = head_layout(type(self).__name__, scenario)
        if int(self.n_actions_) != n_actions or getattr(self, "action_nvec_", None) != nvec:
            raise ValueError(f"the network scores {self.n_actions_} actions (components {self.action_nvec_}); the "
                             f"scenario has {n_actions} (components {nvec})")
