"""A Gymnasium environment over any optalloc :class:`~optalloc.scenario.Scenario`.

:class:`AllocationEnv` runs one episode of a scenario at a time through the
scenario's own batch-first dynamics (a batch of one), so it follows exactly
the same path as :func:`optalloc.evaluation.rollout` on the same noise.

Observation
    ``float32`` Box: the scenario's raw observation divided by
    :attr:`Scenario.observation_scale` (documented per family in the
    scenario's card; for ``beds`` the year, beds, population and last year's
    unattended patient-days as fractions of ``[horizon, max_beds, median
    final population, a year's mean patient-days]``).
Action
    The scenario's action space: ``Discrete(n)`` (an action index) or
    ``MultiDiscrete(nvec)`` (one value per component). Feasible actions are
    listed in ``info["action_mask"]`` after ``reset`` and every ``step``: bool,
    one entry per action (Discrete) or the components' masks concatenated,
    ``sum(nvec)`` entries (MultiDiscrete). An infeasible or out-of-space
    action raises :class:`~optalloc.exceptions.InfeasibleActionError` (the
    check of :func:`optalloc.actions.check_actions`, the one evaluation
    applies); it is never clipped. ``env.action_space.sample()`` draws among
    the currently feasible actions (:class:`FeasibleSampling`), so Gymnasium's
    random agent and env checker respect the mask.
Reward (defined once, in :func:`reward_from_cost`)
    ``reward_t = -reward_scale * discount**t * cost_t`` with ``cost_t`` the
    undiscounted stage cost [currency] and ``discount`` the scenario's
    per-epoch factor, so the *undiscounted* sum of an episode's rewards is
    ``-reward_scale * total_cost`` with ``total_cost`` the scenario's reported
    (discounted) total cost. Default ``reward_scale = 1 / scenario.cost_scale``
    (``beds``: 1e-6, rewards in millions of taka). Train with ``gamma = 1``
    to optimise the scenario's own objective.
Episode end
    After ``horizon`` steps, ``terminated=True`` (a fixed-horizon problem:
    the end is part of the task, not a time limit) and ``truncated=False``.
Randomness
    ``reset(seed=s)`` seeds :attr:`np_random`; each reset draws one integer
    from it and samples the episode's whole noise path with
    ``scenario.sample_noise(noise_seed, 1, stream)`` (kept in
    :attr:`AllocationEnv.noise_seed` and :attr:`AllocationEnv.noise`). The
    agent's own randomness never touches the scenario's generators.

Every registered scenario is registered with Gymnasium on ``import
optalloc.rl`` under ``optalloc/<Family>-<rest of id>`` (:func:`gym_id`), e.g.
``gymnasium.make("optalloc/Beds-seed002-v0")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from optalloc.actions import check_actions
from optalloc.exceptions import ConfigurationError
from optalloc.scenario import STREAMS, Noise, Scenario, State

#: Gymnasium namespace of optalloc environments.
NAMESPACE = "optalloc"

#: Noise seeds are drawn uniformly from ``[0, NOISE_SEED_BOUND)``.
NOISE_SEED_BOUND = 2**63 - 1


# ---------------------------------------------------------------- shared helpers
def gym_id(scenario_id: str) -> str:
    """Gymnasium id of an optalloc scenario id.

    The family is capitalised and joined to the rest of the id with ``-``:
    ``"beds/seed002-v0"`` becomes ``"optalloc/Beds-seed002-v0"``.

    Parameters
    ----------
    scenario_id : str
        Versioned optalloc id ``"<family>/<rest>"``.

    Returns
    -------
    str
    """
    family, sep, rest = scenario_id.partition("/")
    if not sep or not family or not rest:
        raise ConfigurationError(
            f"The 'scenario_id' parameter must look like '<family>/<name>-v<version>'. Got {scenario_id!r} instead."
        )
    return f"{NAMESPACE}/{family[:1].upper()}{family[1:]}-{rest}"


def check_stream(stream: str) -> str:
    """Validate a noise stream name (``"train"`` or ``"evaluate"``)."""
    if stream not in STREAMS:
        raise ConfigurationError(f"The 'stream' parameter must be one of {sorted(STREAMS)}. Got {stream!r} instead.")
    return stream


def resolve_reward_scale(scenario: Scenario, reward_scale: float | None) -> float:
    """``reward_scale``, defaulting to ``1 / scenario.cost_scale`` [1/currency]."""
    if reward_scale is None:
        cost_scale = float(scenario.cost_scale)
        if not np.isfinite(cost_scale) or cost_scale <= 0:
            raise ConfigurationError(
                f"Scenario {scenario.id} has cost_scale {cost_scale!r}; it must be a positive finite number."
            )
        return 1.0 / cost_scale
    if isinstance(reward_scale, bool) or not isinstance(reward_scale, (int, float, np.number)) \
            or not np.isfinite(reward_scale) or reward_scale <= 0:
        raise ConfigurationError(
            f"The 'reward_scale' parameter must be a positive finite number or None. Got {reward_scale!r} instead."
        )
    return float(reward_scale)


def scaled_observation_space(scenario: Scenario) -> tuple[spaces.Box, np.ndarray]:
    """The ``float32`` observation Box of the adapters and the scale it divides by.

    Returns
    -------
    space : gymnasium.spaces.Box
        ``scenario.observation_space`` with bounds divided by the scale, ``float32``.
    scale : ndarray of float64
        :attr:`Scenario.observation_scale`, validated (positive, finite, right shape).
    """
    raw = scenario.observation_space
    if not isinstance(raw, spaces.Box):
        raise ConfigurationError(
            f"The Gymnasium adapters need a Box observation space; scenario {scenario.id} has {raw}."
        )
    scale = np.asarray(scenario.observation_scale, dtype=np.float64)
    if scale.shape != raw.shape or not np.all(np.isfinite(scale)) or not np.all(scale > 0):
        raise ConfigurationError(
            f"Scenario {scenario.id} has observation_scale {scale!r}; it must be positive, finite and "
            f"shaped like the observation space {raw.shape}."
        )
    with np.errstate(invalid="ignore", over="ignore"):
        low = (raw.low.astype(np.float64) / scale).astype(np.float32)
        high = (raw.high.astype(np.float64) / scale).astype(np.float32)
    return spaces.Box(low=low, high=high, shape=raw.shape, dtype=np.float32), scale


def discount_weights(scenario: Scenario) -> np.ndarray:
    """``discount**t`` for ``t = 0..horizon-1`` (the same weights as :func:`optalloc.evaluation.rollout`)."""
    return scenario.discount ** np.arange(scenario.horizon)


def reward_from_cost(cost: np.ndarray | float, weight: float, reward_scale: float) -> np.ndarray:
    """The one place where costs become rewards: ``-reward_scale * weight * cost``.

    Parameters
    ----------
    cost : ndarray or float
        Undiscounted stage cost(s) [currency].
    weight : float
        ``discount**t`` of the epoch.
    reward_scale : float
        [1/currency].

    Returns
    -------
    ndarray
        Rewards [dimensionless].
    """
    return -(reward_scale * weight) * np.asarray(cost, dtype=np.float64)


def draw_noise_seed(rng: np.random.Generator) -> int:
    """One noise seed for :meth:`Scenario.sample_noise`, drawn from an env's own generator."""
    return int(rng.integers(NOISE_SEED_BOUND))


def check_noise(scenario: Scenario, noise: Any, episodes: int) -> Noise:
    """Validate a noise path given through ``reset(options={"noise": ...})``.

    Parameters
    ----------
    noise : mapping of str to ndarray
        Arrays shaped ``(episodes, horizon, ...)`` with the keys of ``scenario.sample_noise``.
    episodes : int
        Expected leading length.
    """
    if not isinstance(noise, Mapping) or not noise:
        raise ConfigurationError(
            f"reset(options={{'noise': ...}}) must be a dict of arrays from scenario.sample_noise. Got {type(noise).__name__}."
        )
    out = {str(k): np.asarray(v) for k, v in noise.items()}
    for key, value in out.items():
        if value.shape[:2] != (episodes, scenario.horizon):
            raise ConfigurationError(
                f"Noise array {key!r} must have shape ({episodes}, {scenario.horizon}, ...) "
                f"(episodes, horizon, ...). Got {value.shape} instead."
            )
    return out


def as_action_batch(space: spaces.Space, actions: Any, n: int) -> np.ndarray:
    """Actions as given to an env's ``step``, shaped as :func:`optalloc.actions.check_actions` expects.

    A single env (``n == 1``) takes one action: a ``Discrete`` scalar becomes
    shape ``(1,)``, anything else gains a leading axis of one. A vector env's
    batch is used as given. The feasibility check itself is
    :func:`~optalloc.actions.check_actions`, the rule that evaluation applies too.
    """
    actions = np.asarray(actions)
    if n != 1:
        return actions
    return actions.reshape(1) if actions.ndim == 0 and isinstance(space, spaces.Discrete) else actions[None]


class FeasibleSampling:
    """Mixin of the envs' action spaces: ``sample()`` without a mask draws a currently feasible action.

    Gymnasium's random agent and its env checker call ``action_space.sample()``,
    which knows nothing of ``info["action_mask"]``; the env raises on an
    infeasible action, so those draws would crash on any scenario whose mask
    binds. The env keeps :attr:`feasible` (its current mask row) up to date,
    and an explicit ``mask=`` or ``probability=`` is honoured as usual. The
    draws use the space's own generator (``action_space.seed``), never the
    env's noise generator.

    A draw is feasible for the state the env is in when it is drawn: Gymnasium's
    ``check_env`` draws the action of its step-determinism check *before* it
    resets, so on a scenario whose mask binds in the first epoch that draw can
    still be infeasible after the reset (the check is then reproducible only
    with a seeded action space).
    """

    feasible: np.ndarray | None = None
    """The env's current ``info["action_mask"]`` (bool, one episode), or None before the first reset."""


class FeasibleDiscrete(FeasibleSampling, spaces.Discrete):
    """``Discrete`` whose unmasked ``sample()`` draws among the env's feasible actions."""

    def sample(self, mask: np.ndarray | None = None, probability: np.ndarray | None = None) -> np.int64:
        if mask is None and probability is None and self.feasible is not None:
            mask = self.feasible.astype(np.int8)
        return super().sample(mask=mask, probability=probability)


class FeasibleMultiDiscrete(FeasibleSampling, spaces.MultiDiscrete):
    """``MultiDiscrete`` whose unmasked ``sample()`` draws each component among its feasible values."""

    def sample(self, mask: tuple | None = None, probability: tuple | None = None) -> np.ndarray:
        if mask is None and probability is None and self.feasible is not None:
            bounds = np.concatenate([[0], np.cumsum(self.nvec)])
            mask = tuple(self.feasible[bounds[i]:bounds[i + 1]].astype(np.int8) for i in range(len(self.nvec)))
        return super().sample(mask=mask, probability=probability)


def env_action_space(space: spaces.Space) -> spaces.Space:
    """The env's copy of a scenario's action space, with :class:`FeasibleSampling` where the mask layout is known.

    ``Discrete`` and flat ``MultiDiscrete`` spaces get the feasible-sampling
    subclass (equal to the original under ``==``); other spaces are returned unchanged.
    """
    if isinstance(space, spaces.Discrete):
        return FeasibleDiscrete(int(space.n), start=int(space.start))
    if isinstance(space, spaces.MultiDiscrete) and np.asarray(space.nvec).ndim == 1:
        return FeasibleMultiDiscrete(space.nvec, dtype=space.dtype, start=space.start)
    return space


# ---------------------------------------------------------------- the environment
class AllocationEnv(gym.Env[np.ndarray, Any]):
    """One episode at a time of an optalloc scenario, as a Gymnasium environment.

    See the module docstring for the observation, action, reward, episode-end
    and seeding conventions.

    Parameters
    ----------
    scenario : Scenario
        Any optalloc scenario (only its public API is used).
    reward_scale : float, optional
        Rewards are ``-reward_scale * discount**t * cost_t`` [1/currency];
        default ``1 / scenario.cost_scale``.
    stream : {"train", "evaluate"}
        Noise stream episodes are drawn from (training paths by default, so
        a policy is never scored on the paths it was trained on).

    Attributes
    ----------
    scenario : Scenario
    reward_scale : float
    stream : str
    noise : dict of ndarray or None
        The current episode's noise path, arrays shaped ``(1, horizon, ...)``.
    noise_seed : int or None
        Seed of :attr:`noise` (``None`` when the path was given in ``reset`` options).

    Examples
    --------
    >>> import gymnasium as gym
    >>> import optalloc.rl
    >>> env = gym.make("optalloc/Beds-seed002-v0")
    >>> obs, info = env.reset(seed=0)
    >>> obs.dtype, info["action_mask"].shape
    (dtype('float32'), (11,))
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, scenario: Scenario, *, reward_scale: float | None = None, stream: str = "train") -> None:
        if not isinstance(scenario, Scenario):
            raise ConfigurationError(
                f"The 'scenario' parameter must be an optalloc Scenario. Got {type(scenario).__name__} instead."
            )
        self.scenario = scenario
        self.stream = check_stream(stream)
        self.reward_scale = resolve_reward_scale(scenario, reward_scale)
        self.observation_space, self._scale = scaled_observation_space(scenario)
        self.action_space = env_action_space(scenario.action_space)
        self._subject = f"The action given to AllocationEnv.step (scenario {scenario.id})"
        self._weights = discount_weights(scenario)
        self.noise: Noise | None = None
        self.noise_seed: int | None = None
        self._state: State | None = None
        self._mask_now: np.ndarray | None = None  # our own copy of the current mask (users may edit theirs)
        self._t = 0

    # ------------------------------------------------------------ API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode on a fresh noise path.

        Parameters
        ----------
        seed : int, optional
            Seeds :attr:`np_random` (and hence this and later episodes' noise).
        options : dict, optional
            ``{"noise": path}`` replays a given path (arrays ``(1, horizon, ...)``
            from ``scenario.sample_noise``) instead of drawing one.

        Returns
        -------
        observation : ndarray of float32
        info : dict
            ``action_mask``: bool array of feasible actions, ``(n,)`` for
            ``Discrete(n)``, ``(sum(nvec),)`` for ``MultiDiscrete(nvec)``; ``epoch``: 0.
        """
        super().reset(seed=seed)
        options = options or {}
        if options.get("noise") is not None:
            self.noise, self.noise_seed = check_noise(self.scenario, options["noise"], 1), None
        else:
            self.noise_seed = draw_noise_seed(self.np_random)
            self.noise = self.scenario.sample_noise(self.noise_seed, 1, self.stream)
        self._t = 0
        self._state = self.scenario.initial_state(1)
        return self._observe(), {"action_mask": self._update_mask(), "epoch": 0}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply one action.

        Returns
        -------
        observation : ndarray of float32
        reward : float
            ``-reward_scale * discount**t * cost_t``.
        terminated : bool
            True after ``horizon`` steps.
        truncated : bool
            Always False.
        info : dict
            ``action_mask`` and ``epoch`` (of the next epoch), ``stage_cost``
            (undiscounted cost of this epoch [currency]) and the scenario's per-epoch KPIs.
        """
        if self._state is None or self.noise is None or self._t >= self.scenario.horizon:
            raise gym.error.ResetNeeded("Call reset() before step(): the episode has not started or has ended.")
        t = self._t
        actions = as_action_batch(self.action_space, action, 1)
        check_actions(self._subject, self.action_space, actions, self._mask_now, t)
        actions = actions.astype(np.int64, copy=False)  # the dynamics get int64 whatever integer type came in
        state, cost, step_info = self.scenario.step(t, self._state, actions, self.scenario.noise_at(self.noise, t))
        reward = float(reward_from_cost(cost, self._weights[t], self.reward_scale)[0])
        self._state, self._t = state, t + 1
        info = {key: np.asarray(value)[0].copy() for key, value in step_info.items()}
        info["stage_cost"] = float(cost[0])
        info["action_mask"] = self._update_mask()
        info["epoch"] = self._t
        return self._observe(), reward, self._t == self.scenario.horizon, False, info

    # ------------------------------------------------------------ internals
    def _observe(self) -> np.ndarray:
        assert self._state is not None
        return (self.scenario.observe(self._t, self._state)[0] / self._scale).astype(np.float32)

    def _update_mask(self) -> np.ndarray:
        """Compute the current epoch's mask ``(1, mask width)``; return a copy of its row for the info.

        The action space's :attr:`~FeasibleSampling.feasible` follows it, so ``action_space.sample()``
        draws feasible actions.
        """
        assert self._state is not None
        self._mask_now = np.asarray(self.scenario.action_mask(self._t, self._state), dtype=bool)
        if isinstance(self.action_space, FeasibleSampling):
            self.action_space.feasible = self._mask_now[0]
        return self._mask_now[0].copy()

    def __repr__(self) -> str:
        return f"AllocationEnv({self.scenario!r}, reward_scale={self.reward_scale!r}, stream={self.stream!r})"


def make_env(scenario_id: str, *, reward_scale: float | None = None, stream: str = "train",
             **overrides: Any) -> AllocationEnv:
    """Gymnasium entry point: an :class:`AllocationEnv` of a registered scenario.

    Parameters
    ----------
    scenario_id : str
        Registered optalloc scenario id (``"beds/seed002-v0"``).
    reward_scale, stream
        As in :class:`AllocationEnv`.
    **overrides
        Scenario parameter overrides (``horizon=5``).
    """
    from optalloc.registry import make_scenario

    return AllocationEnv(make_scenario(scenario_id, **overrides), reward_scale=reward_scale, stream=stream)


def register_envs() -> list[str]:
    """Register every registered optalloc scenario with Gymnasium (idempotent).

    Each scenario id ``"<family>/<rest>"`` becomes ``optalloc/<Family>-<rest>``
    (:func:`gym_id`) with entry point :func:`make_env` and vector entry point
    :func:`optalloc.rl.vector_env.make_vector_env`. Scenarios registered with
    optalloc later can be added by calling this again.

    Returns
    -------
    list of str
        The Gymnasium ids of all optalloc scenarios.
    """
    from optalloc.registry import list_scenarios

    ids = []
    for spec in list_scenarios():
        env_id = gym_id(spec.id)
        ids.append(env_id)
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="optalloc.rl.env:make_env",
            vector_entry_point="optalloc.rl.vector_env:make_vector_env",
            kwargs={"scenario_id": spec.id},
        )
    return ids


__all__ = ["AllocationEnv", "FeasibleDiscrete", "FeasibleMultiDiscrete", "FeasibleSampling", "gym_id", "make_env",
           "register_envs", "reward_from_cost"]
