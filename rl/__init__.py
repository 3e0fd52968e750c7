"""Reinforcement learning on optalloc scenarios (installed as ``optalloc.rl``).

Importing this package registers every registered optalloc scenario with
Gymnasium (and does nothing else: no torch import)::

    import gymnasium as gym
    import optalloc.rl

    env = gym.make("optalloc/Beds-seed002-v0")                       # AllocationEnv
    envs = gym.make_vec("optalloc/Beds-seed002-v0", num_envs=64,
                        vectorization_mode="vector_entry_point")     # AllocationVectorEnv

``gym.make("optalloc.rl:optalloc/Beds-seed002-v0")`` works without importing
this package first. Ids are ``optalloc/<Family>-<rest of the scenario id>``
(:func:`gym_id`); keyword arguments of ``make`` are ``reward_scale``,
``stream`` and scenario parameter overrides.
"""

from __future__ import annotations

from optalloc.rl.env import (
    AllocationEnv,
    gym_id,
    make_env,
    register_envs,
    reward_from_cost,
)
from optalloc.rl.vector_env import AllocationVectorEnv, make_vector_env

register_envs()

__all__ = [
    "AllocationEnv",
    "AllocationVectorEnv",
    "gym_id",
    "make_env",
    "make_vector_env",
    "register_envs",
    "reward_from_cost",
]
