#!/usr/bin/env python
"""The CT-scanner comparison of Gocgun et al. (2011): every method on the same simulated days.

For the 2-scanner and the 1-scanner scenario (``scanners/gocgun-v0``,
``scanners/gocgun-1scanner-v0``; parameters reconstructed, see the family's
``data/README.md``), the policies run on the same evaluation days (stream
``evaluate``, seed ``--seed``):

* the exact optimum ``dp``, the five published heuristics (``fcfs``, ``r1``,
  ``r2``, ``o1``, ``o2``), the myopic ``greedy`` rule and the approximate LP
  ``alp`` on ``--days`` days (100,000 by default, the paper's protocol);
* the policies that solve a program every slot (``milp-rolling``) and the
  perfect-information bound ``hindsight`` (one MIP per day) on the first
  ``--program-days`` of those days (1,000 by default), with ``dp`` again on
  the same days for their paired differences; the ``days`` column says which.

Printed per scenario: net revenue per day with its 95 % CI, the gap to the
optimum ``100 (NR(dp) - NR(h)) / NR(dp)`` [%] (the paper's measure, from the
exact expected revenue of ``dp``), the paired difference to ``dp`` on the same
days with its CI, the mean waiting time per scanned patient of each type
(slots and minutes), and the patients not scanned by the day's end per day.
The table is also written to ``results/scanners-comparison.csv``.

Usage::

    python benchmarks/scanners_comparison.py                 # 100,000 and 1,000 days
    python benchmarks/scanners_comparison.py --days 20000 --program-days 200
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import optalloc as oa
from optalloc.families.scanners.scenario import TYPES

SCENARIOS = ("scanners/gocgun-v0", "scanners/gocgun-1scanner-v0")
TABLE_POLICIES = ("dp", "fcfs", "r1", "r2", "o1", "o2", "greedy", "alp")
PROGRAM_POLICIES = ("dp", "milp-rolling", "hindsight")


def _rows(evaluation: oa.Evaluation, scenario: oa.Scenario, optimum: float, days: int) -> list[dict]:
    """One row per policy: revenue, gaps, paired difference to dp, waiting and patients not scanned."""
    episodes = evaluation.episodes
    slot_minutes = scenario.params.slot_minutes
    ref = episodes[episodes["policy"] == "dp"]["net_revenue"].to_numpy()
    rows = []
    for name, group in episodes.groupby("policy", sort=False):
        revenue = group["net_revenue"].to_numpy()
        mean, ci = oa.evaluation.mean_ci(revenue)
        diff, diff_ci = oa.evaluation.mean_ci(revenue - ref)
        row = {"scenario": scenario.id, "policy": name, "days": days, "net_revenue": mean, "ci95": ci,
               "gap_to_optimal_pct": 100 * (optimum - mean) / optimum, "diff_vs_dp": diff, "diff_ci95": diff_ci}
        for k in TYPES:
            scanned = group[f"scanned_{k}"].sum()
            per_patient = group[f"wait_{k}"].sum() / scanned if scanned else np.nan  # minutes
            row[f"wait_{k}_slots"] = per_patient / slot_minutes
            row[f"wait_{k}_min"] = per_patient
        for k in TYPES:
            row[f"unscanned_{k}"] = group[f"unscanned_{k}"].mean()
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=100_000, help="days for table-lookup policies (default %(default)s)")
    parser.add_argument("--program-days", type=int, default=1_000,
                        help="days for policies that solve a program every slot (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the evaluation days (default %(default)s)")
    parser.add_argument("--out", default="results/scanners-comparison.csv", help="CSV of the table")
    args = parser.parse_args()

    rows, optima = [], {}
    for scenario_id in SCENARIOS:
        scenario = oa.make_scenario(scenario_id)
        dp = oa.make_policy("dp").fit(scenario)
        optimum = -dp.expected_cost_
        start = time.perf_counter()
        table = oa.evaluate({name: dp if name == "dp" else oa.make_policy(name) for name in TABLE_POLICIES},
                            scenario, episodes=args.days, seed=args.seed, progress=True)
        print(f"{scenario_id}: {len(TABLE_POLICIES)} policies x {args.days:,} days in "
              f"{time.perf_counter() - start:.1f} s")
        rows += _rows(table, scenario, optimum, args.days)
        start = time.perf_counter()
        programs = oa.evaluate({name: dp if name == "dp" else oa.make_policy(name) for name in PROGRAM_POLICIES},
                               scenario, episodes=args.program_days, seed=args.seed, progress=True)
        print(f"{scenario_id}: {len(PROGRAM_POLICIES)} policies x {args.program_days:,} days in "
              f"{time.perf_counter() - start:.1f} s")
        rows += _rows(programs, scenario, optimum, args.program_days)  # dp again: the pairs of these days
        optima[scenario_id] = optimum
    frame = pd.DataFrame(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    shown = ["policy", "days", "net_revenue", "ci95", "gap_to_optimal_pct", "diff_vs_dp", "diff_ci95",
             *(f"wait_{k}_min" for k in TYPES), *(f"unscanned_{k}" for k in TYPES)]
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:,.3f}".format):
        for scenario_id, group in frame.groupby("scenario", sort=False):
            scenario = oa.make_scenario(scenario_id)
            print(f"\n{scenario_id} ({scenario.params.scanners} scanner(s); reconstructed parameters; net revenue "
                  f"per day in revenue units, one OP scan = 1; exact optimum {optima[scenario_id]:.4f})")
            print(group[shown].to_string(index=False))
            print("  hindsight is the perfect-information bound, not a policy; wait = minutes per scanned patient;"
                  " unscanned = patients per day not scanned by the day's end (or turned away)")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
