#!/usr/bin/env python
"""Nurse rostering Instances 1-8: objective, bound and gap to the published optimum; cost of the Pyomo build.

For each instance (Curtois; Burke & Curtois 2014) the :class:`NurseRoster`
model is solved with ``solve_roster`` (default method ``lns``: constructive
start, full model, large-neighbourhood search) within ``--time-limit``
seconds, and one row is printed:

* ``objective`` -- the roster's cost from the independent checker [penalty points];
* ``bound``, ``gap_bound_pct`` -- the full model's lower bound and the gap to it;
* ``optimum``, ``gap_opt_pct`` -- the published optimum and the gap to it;
* ``best_s`` -- when the reported roster's cost was first reached; ``seconds`` -- the whole solve;
* ``pyomo_s`` -- Pyomo build + hand-off to HiGHS; ``highs_s`` -- HiGHS's own run time;
  ``direct_s`` -- the same compact model built with highspy's array API (``passModel``);
  ``pyomo/highs`` and ``pyomo/direct`` -- their ratios.

The direct build is checked once: on Instance 1 it must reach the optimum 607.

Results (seed 0, 120 s each, one thread, 2-core machine; penalty points, seconds)::

    instance  objective  bound  optimum  gap to optimum  best_s  pyomo/highs  pyomo/direct
           1        607    607      607          0 %        0.5     0.026          6.4
           2        828    828      828          0 %        1.2     0.059          9.9
           3       1001   1001     1001          0 %        3.0     0.048         16.6
           4       1716   1716     1716          0 %       49.5     0.0011        13.7
           5       1147   1054     1143          0.35 %    94.7     0.0025        32.7
           6       1952   1942     1950          0.10 %    95.7     0.0012        10.4
           7       1057   1048     1056          0.09 %    76.9     0.0021        31.7
           8       1348   1283     1300          3.69 %   108.2     0.0039        35.6

Times depend on the machine's load: the neighbourhood solves end on wall-clock limits, so the same
seed can end on another roster: Instance 8 in eleven runs (seeds 0-4, some two at a time on the two cores)
ended at 1,326, 1,329, 1,333, 1,338, 1,347, 1,348, 1,357, 1,366, 1,444, 1,444 and 1,544: the last four
above the 5 % target of 1,365, the last three 13 or 14 nurses short where the cover-only LP bound allows 12.

Usage::

    python benchmarks/roster_gap.py                       # Instances 1-8, 120 s each
    python benchmarks/roster_gap.py 1 2 3 4 --time-limit 120 --threads 1
    python benchmarks/roster_gap.py 5 --method mip
"""

from __future__ import annotations

import argparse
import math

import pandas as pd

from optalloc.families.staff import ROSTER_OPTIMA
from optalloc.families.staff.roster_check import score_roster
from optalloc.families.staff.roster_data import read_roster, shipped_instance_path
from optalloc.formulations.staff.roster_highspy import build_highs, solve_highs
from optalloc.formulations.staff.roster_solve import METHODS, solve_roster


def check_direct_build() -> None:
    """The highspy build of Instance 1 reaches the published optimum 607 (and its roster scores 607)."""
    data = read_roster(shipped_instance_path(1))
    model = build_highs(data)
    status, objective, _, seconds = solve_highs(model)
    checked = score_roster(data, model.roster()).objective
    print(f"direct highspy build, Instance 1: {status}, objective {objective:.6g} (checker {checked:g}) in "
          f"{seconds:.1f} s")
    if status != "Optimal" or abs(objective - ROSTER_OPTIMA[1]) > 1e-6 or checked != ROSTER_OPTIMA[1]:
        raise SystemExit("the direct highspy build does not reach the optimum of Instance 1")


def measure(number: int, method: str, time_limit: float, threads: int, seed: int) -> dict:
    """Solve one instance and return its row of the table."""
    data = read_roster(shipped_instance_path(number))
    outcome = solve_roster(data, method=method, time_limit=time_limit, threads=threads, seed=seed)
    result = outcome.result
    checked = score_roster(data, outcome.roster).objective if outcome.roster is not None else math.nan
    optimum = ROSTER_OPTIMA.get(number, math.nan)
    bound = math.nan if result.bound is None else result.bound
    pyomo = outcome.build_seconds + outcome.handoff_seconds
    direct = build_highs(data, threads=threads).build_seconds
    gap_bound = 100 * (checked - bound) / checked if checked else math.nan
    return {
        "instance": number, "status": result.status.value, "objective": checked, "bound": round(bound, 2),
        "gap_bound_pct": 0.0 if abs(gap_bound) < 1e-9 else gap_bound, "optimum": optimum,
        "gap_opt_pct": 100 * (checked - optimum) / optimum, "best_s": outcome.best_seconds,
        "seconds": result.seconds, "pyomo_s": pyomo, "highs_s": outcome.highs_seconds, "direct_s": direct,
        "pyomo/highs": pyomo / outcome.highs_seconds if outcome.highs_seconds else math.nan,
        "pyomo/direct": pyomo / direct if direct else math.nan,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", nargs="*", type=int, default=list(range(1, 9)),
                        help="instance numbers (default 1-8)")
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per instance (default 120)")
    parser.add_argument("--threads", type=int, default=1, help="HiGHS threads (default 1)")
    parser.add_argument("--method", choices=METHODS, default="lns", help="solution method (default lns)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the neighbourhood search (default 0)")
    args = parser.parse_args(argv)

    check_direct_build()
    rows = []
    for number in args.instances:
        rows.append(measure(number, args.method, args.time_limit, args.threads, args.seed))
        print(pd.DataFrame(rows[-1:]).to_string(index=False, float_format=lambda v: f"{v:.4g}"), flush=True)
    table = pd.DataFrame(rows)
    print(f"\nmethod {args.method}, time limit {args.time_limit:g} s, {args.threads} thread(s), seed {args.seed}")
    with pd.option_context("display.width", 200):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
