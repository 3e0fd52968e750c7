"""A true vectorised Gymnasium environment over an optalloc scenario.

:class:`AllocationVectorEnv` advances ``num_envs`` episodes with **one** call
of :meth:`Scenario.step` per step (the scenario's dynamics are batch-first),
instead of stepping ``num_envs`` copies of :class:`~optalloc.rl.env.AllocationEnv`
in a Python loop. Observations, actions, rewards and the action mask are
exactly those of the single environment (see :mod:`optalloc.rl.env`), batched:

* observations ``(num_envs, obs_dim)`` ``float32``;
* actions ``(num_envs,)`` integers for a ``Discrete`` scenario, ``(num_envs,
  len(nvec))`` for a ``MultiDiscrete(nvec)`` one (``action_space`` is the
  batched ``MultiDiscrete``); infeasible ones raise
  :class:`~optalloc.exceptions.InfeasibleActionError` through
  :func:`optalloc.actions.check_actions`, the rule evaluation applies;
* rewards ``(num_envs,)`` ``float64``, ``-reward_scale * discount**t * cost_t``;
* ``infos["action_mask"]`` ``(num_envs, n_actions)`` bool (``sum(nvec)``
  columns, the components' masks side by side, for ``MultiDiscrete``) and ``infos["epoch"]``
  ``(num_envs,)`` int, each with the ``infos["_<key>"]`` presence mask of
  Gymnasium's vector info convention.

Autoreset: ``AutoresetMode.SAME_STEP``
    All episodes have the scenario's fixed horizon and end together. The
    terminal step (the ``horizon``-th step after a reset) returns

    * ``terminations`` all True, ``truncations`` all False, the terminal rewards;
    * as observations, the **new** episodes' first observations, and in
      ``infos`` the new episodes' reset info (``action_mask``);
    * ``infos["final_obs"]``: object array of the finished episodes' last
      observations (one ``float32`` array per sub-environment) and
      ``infos["final_info"]``: the terminal step's info (``action_mask``,
      ``stage_cost`` and the scenario's KPIs, each with its ``_key`` mask),
      with presence masks ``infos["_final_obs"]`` and ``infos["_final_info"]``
      (all True),

    exactly the layout :class:`gymnasium.vector.SyncVectorEnv` produces in
    ``SAME_STEP`` mode. The next call of :meth:`step` acts in epoch 0 of the new
    episodes; there is no dummy transition.
Noise
    Every batch of episodes (at ``reset`` and at each autoreset) gets its noise
    from one ``scenario.sample_noise(noise_seed, num_envs, stream)`` call with
    ``noise_seed`` drawn from :attr:`np_random`, so ``reset(seed=s)`` makes the
    whole sequence of batches reproducible; sub-environment ``i`` of a batch
    runs the episode ``i`` of that path (kept in :attr:`AllocationVectorEnv.noise`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from optalloc.actions import check_actions
from optalloc.exceptions import ConfigurationError
from optalloc.rl.env import (
    check_noise,
    check_stream,
    discount_weights,
    draw_noise_seed,
    resolve_reward_scale,
    reward_from_cost,
    scaled_observation_space,
)
from optalloc.scenario import Noise, Scenario, State


def _vector_info(values: dict[str, np.ndarray], n: int) -> dict[str, Any]:
    """Gymnasium's vector-info layout: every key ``k`` with a bool presence mask ``_k``."""
    info: dict[str, Any] = {}
    for key, value in values.items():
        info[key] = value
        info[f"_{key}"] = np.ones(n, dtype=bool)
    return info


class AllocationVectorEnv(VectorEnv):
    """``num_envs`` episodes of an optalloc scenario advanced by one batched call per step.

    See the module docstring for the spaces, rewards, autoreset and noise
    conventions.

    Parameters
    ----------
    scenario : Scenario
        Any optalloc scenario with a Box observation space.
    num_envs : int
        Parallel episodes.
    reward_scale : float, optional
        [1/currency]; default ``1 / scenario.cost_scale``.
    stream : {"train", "evaluate"}
        Noise stream.

    Attributes
    ----------
    noise : dict of ndarray or None
        Noise path of the current batch, arrays ``(num_envs, horizon, ...)``.
    noise_seed : int or None
        Its seed (``None`` if given through ``reset`` options).

    Examples
    --------
    >>> import gymnasium as gym
    >>> import optalloc.rl
    >>> envs = gym.make_vec("optalloc/Beds-seed002-v0", num_envs=4, vectorization_mode="vector_entry_point")
    >>> obs, infos = envs.reset(seed=0)
    >>> obs.shape, infos["action_mask"].shape
    ((4, 4), (4, 11))
    """

    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, scenario: Scenario, num_envs: int, *, reward_scale: float | None = None,
                 stream: str = "train") -> None:
        if not isinstance(scenario, Scenario):
            raise ConfigurationError(
                f"The 'scenario' parameter must be an optalloc Scenario. Got {type(scenario).__name__} instead."
            )
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ConfigurationError(f"The 'num_envs' parameter must be a positive integer. Got {num_envs!r} instead.")
        self.scenario = scenario
        self.num_envs = int(num_envs)
        self.stream = check_stream(stream)
        self.reward_scale = resolve_reward_scale(scenario, reward_scale)
        self.single_observation_space, self._scale = scaled_observation_space(scenario)
        self.single_action_space = scenario.action_space
        self._subject = f"The actions given to AllocationVectorEnv.step (scenario {scenario.id})"
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._weights = discount_weights(scenario)
        self.noise: Noise | None = None
        self.noise_seed: int | None = None
        self._state: State | None = None
        self._mask_now: np.ndarray | None = None  # our own copy of the current masks (users may edit theirs)
        self._t = 0

    # ------------------------------------------------------------ API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new batch of episodes.

        Parameters
        ----------
        seed : int, optional
            Seeds :attr:`np_random`, hence this and every later batch's noise.
        options : dict, optional
            ``{"noise": path}`` runs a given path (arrays ``(num_envs, horizon, ...)``)
            for this batch; later batches draw fresh noise.

        Returns
        -------
        observations : ndarray of float32, shape (num_envs, obs_dim)
        infos : dict
            ``action_mask`` ``(num_envs, n_actions)`` and ``_action_mask``.
        """
        super().reset(seed=seed)
        noise = (options or {}).get("noise")
        return self._start_batch(None if noise is None else check_noise(self.scenario, noise, self.num_envs))

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advance every sub-environment one epoch (one :meth:`Scenario.step` call).

        Parameters
        ----------
        actions : array_like of int, shape (num_envs,) or (num_envs, len(nvec))

        Returns
        -------
        observations, rewards, terminations, truncations, infos
            See the module docstring for the terminal (autoreset) step.
        """
        if self._state is None or self.noise is None:
            raise gym.error.ResetNeeded("Call reset() before step().")
        t, n = self._t, self.num_envs
        actions = np.asarray(actions)
        check_actions(self._subject, self.single_action_space, actions, self._mask_now, t)
        actions = actions.astype(np.int64, copy=False)  # the dynamics get int64 whatever integer type came in
        state, cost, step_info = self.scenario.step(t, self._state, actions, self.scenario.noise_at(self.noise, t))
        rewards = reward_from_cost(cost, self._weights[t], self.reward_scale)
        infos = {**step_info, "stage_cost": np.asarray(cost, dtype=np.float64)}
        truncations = np.zeros(n, dtype=bool)
        if t + 1 < self.scenario.horizon:
            self._state, self._t = state, t + 1
            infos["action_mask"] = self._mask(t + 1, state)
            infos["epoch"] = np.full(n, t + 1, dtype=np.int64)
            return self._observe(t + 1, state), rewards, np.zeros(n, dtype=bool), truncations, _vector_info(infos, n)
        # Terminal step of every sub-environment: same-step autoreset.
        final_obs = self._observe(t + 1, state)
        infos["action_mask"] = self._mask(t + 1, state)
        infos["epoch"] = np.full(n, t + 1, dtype=np.int64)
        observations, reset_infos = self._start_batch(None)
        reset_infos["final_obs"] = np.empty(n, dtype=object)
        reset_infos["final_obs"][:] = list(final_obs)
        reset_infos["_final_obs"] = np.ones(n, dtype=bool)
        reset_infos["final_info"] = _vector_info(infos, n)
        reset_infos["_final_info"] = np.ones(n, dtype=bool)
        return observations, rewards, np.ones(n, dtype=bool), truncations, reset_infos

    # ------------------------------------------------------------ internals
    def _start_batch(self, noise: Noise | None) -> tuple[np.ndarray, dict[str, Any]]:
        """Fresh states on ``noise`` (or on a newly drawn path) and their first observations."""
        if noise is None:
            self.noise_seed = draw_noise_seed(self.np_random)
            noise = self.scenario.sample_noise(self.noise_seed, self.num_envs, self.stream)
        else:
            self.noise_seed = None
        self.noise = noise
        self._t = 0
        self._state = self.scenario.initial_state(self.num_envs)
        return self._observe(0, self._state), _vector_info(
            {"action_mask": self._mask(0, self._state), "epoch": np.zeros(self.num_envs, dtype=np.int64)}, self.num_envs)

    def _observe(self, t: int, state: State) -> np.ndarray:
        return (self.scenario.observe(t, state) / self._scale).astype(np.float32)

    def _mask(self, t: int, state: State) -> np.ndarray:
        """Masks of epoch ``t`` (kept as the current masks); returns a copy for the infos."""
        self._mask_now = np.asarray(self.scenario.action_mask(t, state), dtype=bool)
        return self._mask_now.copy()

    def __repr__(self) -> str:
        return f"AllocationVectorEnv({self.scenario!r}, num_envs={self.num_envs})"


def make_vector_env(num_envs: int, scenario_id: str, *, reward_scale: float | None = None, stream: str = "train",
                    **overrides: Any) -> AllocationVectorEnv:
    """Gymnasium vector entry point: an :class:`AllocationVectorEnv` of a registered scenario.

    Used by ``gymnasium.make_vec(id, num_envs=n, vectorization_mode="vector_entry_point")``.

    Parameters
    ----------
    num_envs : int
    scenario_id : str
        Registered optalloc scenario id.
    reward_scale, stream
        As in :class:`AllocationVectorEnv`.
    **overrides
        Scenario parameter overrides.
    """
    from optalloc.registry import make_scenario

    return AllocationVectorEnv(make_scenario(scenario_id, **overrides), num_envs,
                               reward_scale=reward_scale, stream=stream)


__all__ = ["AllocationVectorEnv", "make_vector_env"]
