#!/usr/bin/env python
"""Per-decision overhead of the float-pool planner policies beyond HiGHS's own solve time.

For ``milp-lookahead`` (:class:`~optalloc.formulations.staff.floatpool.LookaheadPolicy`) and ``saa-shift``
(:class:`~optalloc.formulations.staff.floatpool_saa.TwoStageSAAPolicy`) on ``staff/floatpool-small-v0``
and ``staff/floatpool-v0``, measured in one run on the same episodes:

* **persistent** -- the policies as they are: one model built at ``fit``, each decision updates its
  mutable Params and re-solves the same HiGHS instance;
* **rebuild** -- the same decisions with a fresh model and HiGHS instance built for every decision
  (the same-run peer).

Per decision that solves, the wall time of ``act_batch`` and HiGHS's own run time (the change of
``Highs.getRunTime()`` over the run) are summed; the overhead is ``(act wall - HiGHS) / HiGHS``, and
"in solve" is the part of it spent inside :meth:`Solver.solve` (Pyomo's persistent interface: pushing
the Params, capturing HiGHS's output, building the results, loading the decisions). The first solve of
each persistent policy (which loads the model into HiGHS) is left out of the steady state and shown
apart.

Usage::

    python benchmarks/staff_planner_overhead.py                 # 6 / 1 episodes (small / v0)
    python benchmarks/staff_planner_overhead.py --episodes-small 20 --episodes-v0 2 --samples 50
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

import optalloc as oa
from optalloc.formulations.staff.floatpool import LookaheadPolicy, PersistentRollingPolicy
from optalloc.formulations.staff.floatpool_saa import TwoStageSAAPolicy


class _Timed:
    """Records HiGHS's own run time of every solve of a policy's solvers, and the wall time of each act."""

    def __init__(self) -> None:
        self.highs: list[float] = []
        self.solve_walls: list[float] = []  # wall time of each Solver.solve call
        self.acts: list[tuple[float, int]] = []  # (wall seconds, solves during the act)

    def wrap(self, solver: Any) -> None:
        run, solve = solver._run, solver.solve

        def timed_solve(**kwargs: Any) -> Any:
            start = time.perf_counter()
            result = solve(**kwargs)
            self.solve_walls.append(time.perf_counter() - start)
            return result

        solver.solve = timed_solve

        def timed_run(options: Mapping[str, Any]) -> Any:
            highs = solver.interface._solver_model
            before = highs.getRunTime() if highs is not None else 0.0
            results = run(options)
            self.highs.append(solver.interface._solver_model.getRunTime() - before)
            return results

        solver._run = timed_run


def _timed(base: type[PersistentRollingPolicy], rebuild: bool) -> type[PersistentRollingPolicy]:
    """A subclass of ``base`` whose solves are timed; ``rebuild``: a fresh model and solver every decision."""

    class Timed(base):  # type: ignore[misc, valid-type]
        def _solver(self, model: Any) -> Any:
            solver = super()._solver(model)
            self.timer_.wrap(solver)
            return solver

        def _decide(self, epoch: int, key: tuple[int, ...], observation: np.ndarray, info: Any) -> np.ndarray:
            if rebuild and (epoch, *key) not in self._cache:
                model = self._planner.build(0)
                self._model = (model, self._solver(model))
            return super()._decide(epoch, key, observation, info)

        def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
            solves = len(self.timer_.highs)
            start = time.perf_counter()
            actions = super().act_batch(observations, infos)
            self.timer_.acts.append((time.perf_counter() - start, len(self.timer_.highs) - solves))
            return actions

    Timed.__name__ = base.__name__
    return Timed


def measure(policy: PersistentRollingPolicy, scenario: oa.Scenario, noise: dict) -> dict[str, float]:
    """Fit (untimed), roll out one episode at a time, and sum the act and HiGHS times of decisions that solved."""
    policy.timer_ = _Timed()
    policy.fit(scenario, seed=0)
    episodes = len(noise["admissions"])
    for e in range(episodes):
        oa.evaluation.rollout(policy, scenario, {k: v[e:e + 1] for k, v in noise.items()})
    acts = [(wall, n) for wall, n in policy.timer_.acts if n > 0]
    highs = np.asarray(policy.timer_.highs)
    walls = np.array([wall for wall, _ in acts])
    counts = np.array([n for _, n in acts])
    # Steady state: without the first act (its solve loads the model into HiGHS).
    first_highs = highs[:counts[0]].sum()
    steady_wall, steady_highs = walls[1:].sum(), highs[counts[0]:].sum()
    in_solve = np.asarray(policy.timer_.solve_walls)[counts[0]:].sum() - steady_highs
    return {"decisions": int(counts.sum()), "act_ms": 1e3 * walls[1:].mean(), "highs_ms": 1e3 * steady_highs
            / max(counts[1:].sum(), 1), "overhead": (steady_wall - steady_highs) / steady_highs,
            "in_solve": in_solve / steady_highs, "first_act_ms": 1e3 * walls[0], "first_highs_ms": 1e3 * first_highs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes-small", type=int, default=6, help="episodes of floatpool-small-v0 (%(default)s)")
    parser.add_argument("--episodes-v0", type=int, default=1, help="episodes of floatpool-v0 (%(default)s)")
    parser.add_argument("--samples", type=int, default=100, help="saa-shift's sampled next-shift outcomes (%(default)s)")
    parser.add_argument("--lookahead", type=int, default=6, help="milp-lookahead's window [shifts] (%(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the episodes (default %(default)s)")
    args = parser.parse_args()

    print(f"{'scenario':<26} {'policy':<14} {'variant':<10} {'decisions':>9} {'act ms':>8} {'HiGHS ms':>9} "
          f"{'overhead':>9} {'in solve':>9} {'1st act ms':>10} {'1st HiGHS':>9}")
    for scenario_id, episodes in (("staff/floatpool-small-v0", args.episodes_small),
                                  ("staff/floatpool-v0", args.episodes_v0)):
        scenario = oa.make_scenario(scenario_id)
        noise = scenario.sample_noise(args.seed, episodes)
        for name, base, params in (("milp-lookahead", LookaheadPolicy, {"lookahead": args.lookahead}),
                                   ("saa-shift", TwoStageSAAPolicy, {"samples": args.samples})):
            for variant, rebuild in (("persistent", False), ("rebuild", True)):
                row = measure(_timed(base, rebuild)(**params), scenario, noise)
                print(f"{scenario_id:<26} {name:<14} {variant:<10} {row['decisions']:>9} {row['act_ms']:>8.1f} "
                      f"{row['highs_ms']:>9.1f} {100 * row['overhead']:>8.0f}% {100 * row['in_solve']:>8.0f}% "
                      f"{row['first_act_ms']:>10.1f} "
                      f"{row['first_highs_ms']:>9.1f}")


if __name__ == "__main__":
    main()
