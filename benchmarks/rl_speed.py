#!/usr/bin/env python
"""Training speed and final quality: our PPO against stable-baselines3's PPO.

In one run on this machine, on one scenario (default ``beds/seed002-v0``):

* **ours**: :func:`optalloc.rl.ppo.train` with :class:`~optalloc.rl.ppo.PPOConfig`'s
  defaults (128 episodes of the batched :class:`~optalloc.rl.AllocationVectorEnv`,
  32 steps per rollout, 4 epochs x 4 minibatches, lr 1e-3 annealed,
  gamma 1, return-normalised rewards, action masking), except
  ``total_timesteps`` and that the periodic greedy evaluation and the DP
  optimum of its learning curve are switched off (``eval_episodes=0``,
  ``compute_optimum=False``: bookkeeping SB3 does not do, kept out of the
  clock);
* **SB3**: ``stable_baselines3.PPO("MlpPolicy", DummyVecEnv([AllocationEnv] * 8))``
  through :class:`optalloc.rl.sb3.SB3PPOPolicy`, with SB3's defaults for PPO
  (n_steps 2048 per env, batch 64, 10 epochs, lr 3e-4, gamma 0.99,
  GAE 0.95, clip 0.2, no entropy bonus, no reward normalisation) and
  8 sub-environments (``--sb3-envs``); ``--sb3-like-ours`` changes only its
  gamma to 1 and turns on reward normalisation (``VecNormalize(norm_obs=False,
  norm_reward=True)``) so that both optimise the same objective on the same
  reward scale.

Both use the same network (separate actor and critic MLPs, 64 x 64, tanh;
SB3's default ``MlpPolicy``), one torch thread, CPU, the same seed and the
same number of environment steps (``--steps``, default 500,000; each
library rounds up to whole rollouts, and the actual counts are used). The
clock covers the whole ``fit`` (env and network construction, rollouts and
updates); imports and first calls are warmed up beforehand and not timed.

Reported: wall time [s], env-steps/s, and the final cost of each greedy
policy, evaluated with :func:`optalloc.evaluate` on the same ``--episodes``
(default 1,000) evaluation paths next to ``dp``, the exact optimum: mean
total cost +- 95 % CI half-width [taka] and gap to the optimum [%]. Then
the ratios ours / SB3 (throughput and wall time) and the paired cost
difference ours - SB3 (+- 95 % CI) on those paths.

The target is >= 10x SB3's throughput on 2 CPU cores with no
loss of final quality; the last lines say whether this run met it. The
figures are whatever this machine measures.

Usage::

    python benchmarks/rl_speed.py                 # 500,000 env steps each (several minutes)
    python benchmarks/rl_speed.py --quick         # 50,000 env steps each
    python benchmarks/rl_speed.py --steps 1000000 --scenario beds/stochastic-v0
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass

import numpy as np

import optalloc as oa
from optalloc.evaluation import mean_ci
from optalloc.policy import Policy

#: Default number of SB3 sub-environments (as in ``env_speed.py``'s SB3 row; SB3's own default is 1 env).
SB3_ENVS = 8


@dataclass
class Run:
    """One training run: the fitted policy, its env steps and wall time."""

    name: str
    policy: Policy
    env_steps: int
    seconds: float

    @property
    def rate(self) -> float:
        """Env-steps per second."""
        return self.env_steps / self.seconds


def train_ours(scenario: oa.Scenario, steps: int, seed: int) -> Run:
    """Our PPO with its defaults (except the budget and the learning-curve bookkeeping)."""
    from optalloc.rl.ppo import PPOConfig, train

    config = PPOConfig(total_timesteps=steps, eval_episodes=0, compute_optimum=False)
    start = time.perf_counter()
    policy = train(config, scenario, seed)
    seconds = time.perf_counter() - start
    policy.policy_id = "ppo"
    return Run("ours (optalloc ppo)", policy, int(policy.learning_curve_["env_steps"].iloc[-1]), seconds)


def train_sb3(scenario: oa.Scenario, steps: int, seed: int, n_envs: int, like_ours: bool) -> Run:
    """SB3 PPO with SB3's defaults on a DummyVecEnv of ``n_envs`` AllocationEnv copies."""
    from optalloc.rl.sb3 import SB3PPOPolicy

    extra = {"gamma": 1.0, "norm_reward": True} if like_ours else {}
    policy = SB3PPOPolicy(total_timesteps=steps, n_envs=n_envs, **extra)
    policy.policy_id = "sb3-ppo"
    start = time.perf_counter()
    policy.fit(scenario, seed=seed)
    seconds = time.perf_counter() - start
    return Run("stable-baselines3 PPO", policy, int(policy.env_steps_), seconds)


def warm_up(scenario: oa.Scenario, seed: int, n_envs: int) -> None:
    """Imports and first calls of both libraries (not timed)."""
    from optalloc.rl.ppo import PPOConfig, train
    from optalloc.rl.sb3 import SB3PPOPolicy

    train(PPOConfig(total_timesteps=256, num_envs=8, num_steps=32, eval_episodes=0, compute_optimum=False),
          scenario, seed)
    SB3PPOPolicy(total_timesteps=256, n_envs=n_envs, n_steps=32, batch_size=64, n_epochs=1).fit(scenario, seed=seed)


def describe_machine() -> str:
    import gymnasium
    import stable_baselines3
    import torch

    return (f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs "
            f"({len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'} usable); "
            f"Python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
            f"gymnasium {gymnasium.__version__}, stable-baselines3 {stable_baselines3.__version__}")


def configuration_lines(ours: Run, sb3: Run) -> list[str]:
    o, s = ours.policy.get_params(), sb3.policy.get_params()
    ours_line = (
        f"  ours: {o['num_envs']} envs x {o['num_steps']} steps/rollout (AllocationVectorEnv), "
        f"{o['update_epochs']} epochs x {o['num_minibatches']} minibatches, lr {o['learning_rate']:g} "
        f"(annealed: {o['anneal_lr']}), gamma {o['gamma']:g}, norm_reward {o['norm_reward']}, "
        f"ent_coef {o['ent_coef']:g}, hidden {tuple(o['hidden_sizes'])} tanh, action masking"
    )
    sb3_line = (
        f"  SB3:  {s['n_envs']} envs x {s['n_steps']} steps/rollout (DummyVecEnv of AllocationEnv), "
        f"{s['n_epochs']} epochs of minibatches of {s['batch_size']}, lr {s['learning_rate']:g} (constant), "
        f"gamma {s['gamma']:g}, norm_reward {s['norm_reward']}, ent_coef {s['ent_coef']:g}, "
        f"hidden {tuple(s['net_arch'])} {s['activation']}, no action masking"
    )
    return [ours_line, sb3_line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train our PPO (optalloc.rl.ppo.train, its defaults: 128 batched envs) and "
                    "stable-baselines3's PPO (its defaults, DummyVecEnv of 8 AllocationEnv) on the same "
                    "scenario with the same network (64x64 tanh actor and critic), the same number of env "
                    "steps and one torch thread each; print wall time, env-steps/s, and the final cost of "
                    "both greedy policies on the same evaluation paths next to the DP optimum (mean +- 95 % "
                    "CI, gap to the optimum), then the ratios ours/SB3 and the paired cost difference.",
        epilog="The issue's target is >= 10x SB3's env-steps/s on 2 CPU cores with no loss of final quality; "
               "the last lines say whether this run met it. SB3 PPO (and every SB3 agent) ignores action masks: "
               "on scenarios whose masks bind its training stops with InfeasibleActionError.",
    )
    parser.add_argument("--scenario", default="beds/seed002-v0", help="registered scenario id (default %(default)s)")
    parser.add_argument("--steps", type=int, default=None,
                        help="env steps each agent trains for (default 500,000, or 50,000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="50,000 env steps each (about a tenth of the time)")
    parser.add_argument("--episodes", type=int, default=1000,
                        help="evaluation paths shared by all policies (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="training seed of both agents and seed of the evaluation paths (default %(default)s)")
    parser.add_argument("--sb3-envs", type=int, default=SB3_ENVS,
                        help="DummyVecEnv sub-environments of SB3 (default %(default)s)")
    parser.add_argument("--sb3-like-ours", action="store_true",
                        help="give SB3 our objective and reward scaling: gamma 1 and reward normalisation "
                             "(VecNormalize(norm_obs=False, norm_reward=True)); other settings stay SB3's")
    args = parser.parse_args(argv)
    steps = args.steps if args.steps is not None else (50_000 if args.quick else 500_000)
    for name, value in (("--steps", steps), ("--episodes", args.episodes), ("--sb3-envs", args.sb3_envs)):
        if value < 1:
            parser.error(f"{name} must be a positive integer; got {value}")

    import torch

    scenario = oa.make_scenario(args.scenario)
    print(describe_machine())
    print(f"Scenario {args.scenario} (horizon {scenario.horizon}), {steps:,} env steps requested per agent, "
          f"seed {args.seed}, torch threads during training: 1 (outside: {torch.get_num_threads()})")

    def progress(what: str) -> None:
        print(f"  {what} ...", flush=True)

    progress("warming up (not timed)")
    warm_up(scenario, args.seed, args.sb3_envs)
    progress("training ours")
    ours = train_ours(scenario, steps, args.seed)
    progress(f"training stable-baselines3 PPO{' (gamma 1, reward normalisation)' if args.sb3_like_ours else ''}")
    sb3 = train_sb3(scenario, steps, args.seed, args.sb3_envs, args.sb3_like_ours)
    progress(f"evaluating on {args.episodes:,} paths next to dp")
    result = oa.evaluate({"ours": ours.policy, "sb3": sb3.policy, "dp": "dp"}, scenario,
                         episodes=args.episodes, seed=args.seed)
    summary = result.summary.set_index("policy")

    print("\nConfigurations")
    for line in configuration_lines(ours, sb3):
        print(line)

    print(f"\nTraining (1 torch thread each, {os.cpu_count()} CPUs)\n")
    print(f"{'agent':<24} {'env steps':>11} {'wall s':>9} {'env-steps/s':>12} {'us/env-step':>12}")
    for run in (ours, sb3):
        print(f"{run.name:<24} {run.env_steps:>11,} {run.seconds:>9.1f} {run.rate:>12,.0f} "
              f"{1e6 / run.rate:>12.1f}")

    print(f"\nFinal cost of the greedy policies on {args.episodes:,} evaluation paths (seed {args.seed}), "
          f"taka; {result.bound_kind}\n")
    print(f"{'policy':<24} {'mean cost':>16} {'+- 95 % CI':>14} {'gap to DP %':>12}")
    labels = {"ours": ours.name, "sb3": sb3.name, "dp": "dp (exact optimum)"}
    for key, label in labels.items():
        row = summary.loc[key]
        print(f"{label:<24} {row['mean_cost']:>16,.0f} {row['ci95']:>14,.0f} {row['gap_to_bound_pct']:>12.3f}")

    costs = result.trajectories
    diff, diff_ci = mean_ci(costs["ours"].total_cost - costs["sb3"].total_cost)
    optimum = result.bound if result.bound else float(summary.loc["dp", "mean_cost"])
    speedup = ours.rate / sb3.rate
    print("\nRatios ours / SB3")
    print(f"  throughput (env-steps/s): {speedup:.2f}x")
    print(f"  wall time:                {ours.seconds / sb3.seconds:.3f}x  (SB3 took {sb3.seconds / ours.seconds:.1f}x "
          f"as long, for {sb3.env_steps / ours.env_steps:.3f}x the env steps)")
    print(f"  cost difference ours - SB3 (paired, same paths): {diff:,.0f} +- {diff_ci:,.0f} taka "
          f"({100 * diff / optimum:+.3f} % +- {100 * diff_ci / optimum:.3f} % of the DP optimum)")

    no_loss = diff <= diff_ci  # ours not significantly worse at the 95 % level (paired)
    print("\nTarget: >= 10x SB3's throughput with no loss of final quality")
    print(f"  throughput >= 10x: {'met' if speedup >= 10 else 'NOT met'} ({speedup:.2f}x)")
    print(f"  no loss of final quality (ours - SB3 <= its 95 % CI half-width): {'met' if no_loss else 'NOT met'} "
          f"({diff:,.0f} vs {diff_ci:,.0f} taka)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
