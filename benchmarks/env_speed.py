#!/usr/bin/env python
"""Environment throughput: our true vectorised env against per-env stepping.

Env-steps per second on one scenario (default ``beds/seed002-v0``), noise
sampling included, measured in one run on this machine for:

* ``AllocationVectorEnv`` (one batched :meth:`Scenario.step` per step) with
  ``n = 1, 64, 1024`` sub-environments, made with
  ``gymnasium.make_vec(id, num_envs=n, vectorization_mode="vector_entry_point")``;
* the same scenario as one ``gymnasium.make(id)`` environment (with
  Gymnasium's default wrappers), stepped in a Python loop;
* stable-baselines3's ``DummyVecEnv`` over 8 ``gymnasium.make(id)`` copies.

Every configuration takes the same number of env-steps (a whole number of
``1024``-episode batches), with uniformly random feasible actions drawn from
the action mask by the same vectorised sampler. The clock starts after the
first ``reset`` and covers all steps, including the resets that draw every
later episode's noise (our autoreset at the horizon, the peers' resets at
each episode end): each configuration samples exactly one noise path per
episode it plays, so every timed env-step carries its episode's share of
noise sampling. The table gives env-steps/s and microseconds per env-step,
then the ratios ours / each peer, then the share of our largest batch's time
spent in the scenario's own dynamics (``sample_noise`` and the batched
``step``, which for beds regenerates each year's daily demand from its key).

Usage::

    python benchmarks/env_speed.py            # 4 batches of 1024 episodes per configuration
    python benchmarks/env_speed.py --quick    # 1 batch (about a quarter of the time)
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

import optalloc.rl  # noqa: F401  (registers the optalloc/... Gymnasium ids)
from optalloc.registry import make_scenario
from optalloc.rl import gym_id

VECTOR_SIZES = (1, 64, 1024)
SB3_COPIES = 8


@dataclass
class Result:
    """One configuration's measurement."""

    name: str
    num_envs: int
    env_steps: int
    seconds: float

    @property
    def rate(self) -> float:
        """Env-steps per second."""
        return self.env_steps / self.seconds

    @property
    def micros(self) -> float:
        """Microseconds per env-step."""
        return 1e6 * self.seconds / self.env_steps


def random_feasible(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random feasible action per row of a bool mask ``(n, n_actions)``."""
    return np.argmax(np.where(mask, rng.random(mask.shape), -1.0), axis=1)


def time_ours(env_id: str, num_envs: int, env_steps: int, seed: int) -> Result:
    """Our vectorised env: ``env_steps / num_envs`` batched steps."""
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    rng = np.random.default_rng(seed)
    _, infos = envs.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(env_steps // num_envs):
        _, _, _, _, infos = envs.step(random_feasible(infos["action_mask"], rng))
    seconds = time.perf_counter() - start
    envs.close()
    return Result("optalloc AllocationVectorEnv", num_envs, env_steps, seconds)


def time_gymnasium_single(env_id: str, env_steps: int, seed: int) -> Result:
    """One ``gymnasium.make`` env stepped in Python, reset at each episode end."""
    env = gym.make(env_id)
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(env_steps):
        action = int(random_feasible(info["action_mask"][None], rng)[0])
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            _, info = env.reset()
    seconds = time.perf_counter() - start
    env.close()
    return Result("gymnasium.make (one env)", 1, env_steps, seconds)


def time_sb3_dummy(env_id: str, env_steps: int, seed: int) -> Result | None:
    """stable-baselines3 ``DummyVecEnv`` of ``SB3_COPIES`` ``gymnasium.make`` envs (None if SB3 is missing)."""
    try:
        from stable_baselines3.common.vec_env import DummyVecEnv
    except ImportError:
        return None
    venv = DummyVecEnv([lambda: gym.make(env_id) for _ in range(SB3_COPIES)])
    rng = np.random.default_rng(seed)
    venv.seed(seed)
    venv.reset()
    masks = np.stack([info["action_mask"] for info in venv.reset_infos])
    start = time.perf_counter()
    for _ in range(env_steps // SB3_COPIES):
        _, _, dones, infos = venv.step(random_feasible(masks, rng))
        # After an autoreset the new episode's mask is in reset_infos, else in the step's info.
        masks = np.stack([(venv.reset_infos[i] if done else info)["action_mask"]
                          for i, (done, info) in enumerate(zip(dones, infos))])
    seconds = time.perf_counter() - start
    venv.close()
    return Result(f"SB3 DummyVecEnv ({SB3_COPIES} x gymnasium.make)", SB3_COPIES, env_steps, seconds)


def dynamics_seconds(scenario_id: str, episodes: int, batches: int, seed: int) -> float:
    """Wall time of the scenario alone for ``batches`` batches [s]: ``sample_noise`` plus ``horizon`` batched steps.

    No env wrapper: what the dynamics (noise included; a bed step regenerates the
    year's daily demand from its key) cost by themselves.
    """
    scenario = make_scenario(scenario_id)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for b in range(batches):
        noise = scenario.sample_noise(seed + b, episodes, "train")
        state = scenario.initial_state(episodes)
        for t in range(scenario.horizon):
            action = random_feasible(scenario.action_mask(t, state), rng)
            state, _, _ = scenario.step(t, state, action, scenario.noise_at(noise, t))
    return time.perf_counter() - start


def print_table(results: list[Result], env_steps: int, scenario_id: str, horizon: int) -> None:
    print(f"\nEnv-steps per second, {scenario_id} (horizon {horizon}), {env_steps:,} env-steps per row,")
    print("random feasible actions, noise sampling included (every episode after the first reset is drawn")
    print("inside the timed loop).\n")
    print(f"{'implementation':<40} {'n':>5} {'env-steps/s':>13} {'us/env-step':>12} {'seconds':>9}")
    for r in results:
        print(f"{r.name:<40} {r.num_envs:>5} {r.rate:>13,.0f} {r.micros:>12.2f} {r.seconds:>9.2f}")


def print_ratios(ours: list[Result], peers: list[Result]) -> None:
    print("\nRatios, ours / peer (env-steps/s; > 1 means ours is faster):\n")
    header = f"{'ours':<12}" + "".join(f"{p.name:>42}" for p in peers)
    print(header)
    for r in ours:
        print(f"{'n = ' + str(r.num_envs):<12}" + "".join(f"{r.rate / p.rate:>41.2f}x" for p in peers))


def run(env_steps: int, scenario_id: str, seed: int, progress: Callable[[str], None]) -> None:
    env_id = gym_id(scenario_id)
    scenario = make_scenario(scenario_id)
    # Warm-up: imports, first calls, caches (not timed).
    time_ours(env_id, 4, 4 * scenario.horizon, seed)
    time_gymnasium_single(env_id, scenario.horizon, seed)

    ours = []
    for n in VECTOR_SIZES:
        progress(f"optalloc vector env, n = {n}")
        ours.append(time_ours(env_id, n, env_steps, seed))
    progress("gymnasium.make")
    peers = [time_gymnasium_single(env_id, env_steps, seed)]
    progress("stable-baselines3 DummyVecEnv")
    sb3 = time_sb3_dummy(env_id, env_steps, seed)
    if sb3 is None:
        print("stable-baselines3 is not installed: its row is skipped "
              "(pip install stable-baselines3 torch==2.13.0 to keep the CPU torch).")
    else:
        peers.append(sb3)

    print_table(ours + peers, env_steps, scenario_id, scenario.horizon)
    print_ratios(ours, peers)

    largest = max(VECTOR_SIZES)
    batches = env_steps // (largest * scenario.horizon)
    dynamics = dynamics_seconds(scenario_id, largest, batches, seed)
    total = ours[-1].seconds
    print(f"\nScenario alone for n = {largest} ({batches} x sample_noise + {scenario.horizon} batched steps, "
          f"no env wrapper): {dynamics:.2f} s, {100 * dynamics / total:.0f} % of that row's {total:.2f} s "
          f"({env_steps / dynamics:,.0f} env-steps/s).")


def describe_machine() -> str:
    import scipy

    parts = [f"Python {platform.python_version()}", f"numpy {np.__version__}", f"scipy {scipy.__version__}",
             f"gymnasium {gym.__version__}"]
    try:
        import stable_baselines3

        parts.append(f"stable-baselines3 {stable_baselines3.__version__}")
    except ImportError:
        pass
    return f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs; " + ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Env-steps per second of optalloc's vectorised Gymnasium env (n = 1, 64, 1024) against "
                    "gymnasium.make and stable-baselines3's DummyVecEnv on the same scenario, noise sampling "
                    "included, with ratios ours / peer.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="one batch of 1024 episodes per configuration instead of four")
    parser.add_argument("--batches", type=int, default=None,
                        help="batches of 1024 episodes per configuration (default 4, or 1 with --quick)")
    parser.add_argument("--scenario", default="beds/seed002-v0", help="registered scenario id (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of resets and actions (default %(default)s)")
    args = parser.parse_args(argv)
    batches = args.batches if args.batches is not None else (1 if args.quick else 4)
    if batches < 1:
        parser.error(f"--batches must be a positive integer; got {batches}")
    horizon = make_scenario(args.scenario).horizon
    env_steps = batches * max(VECTOR_SIZES) * horizon
    print(describe_machine())

    def progress(what: str) -> None:
        print(f"  timing {what} ...", flush=True)

    run(env_steps, args.scenario, args.seed, progress)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
