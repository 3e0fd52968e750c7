#!/usr/bin/env python
"""How fast 100,000 CT-scanner days evaluate: policy rollouts against the scenario's dynamics alone.

On ``scanners/gocgun-v0`` (``--scenario`` to change), measured in one run:

* **dynamics alone** -- ``observe``, ``action_mask`` and ``step`` of the
  batched scenario over ``--days`` days, with a fixed feasible action (the
  first feasible one, read off the mask): what any rollout must pay;
* **rollouts** -- :func:`optalloc.evaluation.rollout` of the table-lookup
  ``dp`` policy and the heuristics ``o2``, ``fcfs`` and ``r2`` on the same days
  (noise sampling included; ``dp``'s fit is not timed).

Printed: seconds, microseconds per simulated slot (``days x slots`` slots)
and the ratio to the dynamics alone.

Usage::

    python benchmarks/scanners_eval_speed.py              # 100,000 days
    python benchmarks/scanners_eval_speed.py --days 20000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import optalloc as oa
from optalloc.evaluation import rollout


def dynamics_alone(scenario: oa.Scenario, noise: dict) -> float:
    """Seconds to step every day through the horizon with the first feasible action."""
    n = len(noise["arrivals"])
    start = time.perf_counter()
    state = scenario.initial_state(n)
    for t in range(scenario.horizon):
        scenario.observe(t, state)
        action = np.argmax(scenario.action_mask(t, state), axis=1)
        state, _, _ = scenario.step(t, state, action, scenario.noise_at(noise, t))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="scanners/gocgun-v0", help="scenario id (default %(default)s)")
    parser.add_argument("--days", type=int, default=100_000, help="simulated days (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the days (default %(default)s)")
    args = parser.parse_args()

    scenario = oa.make_scenario(args.scenario)
    slots = args.days * scenario.horizon
    start = time.perf_counter()
    noise = scenario.sample_noise(args.seed, args.days)
    sampling = time.perf_counter() - start
    base = dynamics_alone(scenario, noise)
    print(f"{args.scenario}: {args.days:,} days = {slots:,} slots; noise sampled in {sampling:.2f} s")
    print(f"{'run':<22} {'seconds':>8} {'us/slot':>8} {'x dynamics':>10}")
    print(f"{'dynamics alone':<22} {base:8.2f} {1e6 * base / slots:8.3f} {1.0:10.2f}")
    for name in ("dp", "o2", "fcfs", "r2"):
        policy = oa.make_policy(name).fit(scenario)
        start = time.perf_counter()
        rollout(policy, scenario, scenario.sample_noise(args.seed, args.days), policy_seed=args.seed)
        seconds = time.perf_counter() - start
        print(f"{'rollout ' + name:<22} {seconds:8.2f} {1e6 * seconds / slots:8.3f} {seconds / base:10.2f}")


if __name__ == "__main__":
    main()
