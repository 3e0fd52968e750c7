#!/usr/bin/env python
"""How exact DP and approximate LP scale on CT scanners: sizes, solve time and memory, same run.

For each scenario (default ``scanners/gocgun-v0``, ``scanners/gocgun-1scanner-v0``
and the harder ``scanners/large-v0``), in a fresh process per method so that
peak memory is the method's own:

* ``dp`` -- backward induction on the exact tabular model: states (all slots),
  actions, transition nonzeros (all slots), fit seconds, peak resident memory
  and the optimal expected net revenue;
* ``alp`` -- the approximate LP (affine and separable value functions):
  LP rows, columns, nonzeros, constraint-generation rounds, fit seconds, peak
  resident memory and its bound on the expected net revenue (an upper bound:
  the LP's value function is below the optimal cost everywhere), with the
  bound's gap to ``dp``'s optimum where both run.

Usage::

    python benchmarks/scanners_scaling.py
    python benchmarks/scanners_scaling.py --scenario scanners/large-v0
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from typing import Any

SCENARIOS = ("scanners/gocgun-v0", "scanners/gocgun-1scanner-v0", "scanners/large-v0")


def _measure(scenario_id: str, method: str, queue: Any) -> None:
    """Fit one method on one scenario and put its figures on ``queue`` (runs in a child process)."""
    import optalloc as oa

    scenario = oa.make_scenario(scenario_id)
    if method == "dp":
        model = scenario.tabular_model()
        states = sum(model.n_states(t) for t in range(scenario.horizon))
        start = time.perf_counter()
        policy = oa.make_policy("dp").fit(scenario)
        seconds = time.perf_counter() - start
        nonzeros = sum(model.stage(t)[0].nnz for t in range(scenario.horizon))  # rebuilt after timing
        row = {"states": states, "actions": scenario.action_space.n, "nonzeros": nonzeros, "rounds": "",
               "seconds": seconds, "revenue": -policy.expected_cost_}
    else:
        basis = method.split(":")[1]
        start = time.perf_counter()
        policy = oa.make_policy("alp", basis=basis).fit(scenario)
        seconds = time.perf_counter() - start
        row = {"states": f"{policy.lp_rows_:,} rows", "actions": f"{policy.lp_cols_:,} cols",
               "nonzeros": policy.lp_nonzeros_, "rounds": getattr(policy, "rounds_", ""), "seconds": seconds,
               "revenue": -policy.bound_}
    row["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(row)


def run(scenario_id: str, method: str) -> dict:
    """:func:`_measure` in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(scenario_id, method, queue))
    proc.start()
    row = queue.get()
    proc.join()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", help="scenario id (repeatable; default the three presets)")
    args = parser.parse_args()
    header = (f"{'scenario':<28} {'method':<15} {'states/rows':>14} {'actions/cols':>13} {'nonzeros':>12} "
              f"{'rounds':>6} {'seconds':>8} {'peak MiB':>9} {'net revenue':>12} {'vs dp':>8}")
    print(header)
    for scenario_id in args.scenario or SCENARIOS:
        optimum = None
        for method in ("dp", "alp:affine", "alp:separable"):
            row = run(scenario_id, method)
            if method == "dp":
                optimum = row["revenue"]
            gap = "" if optimum is None else f"{100 * (row['revenue'] - optimum) / optimum:+.2f}%"
            states = f"{row['states']:,}" if isinstance(row["states"], int) else row["states"]
            actions = f"{row['actions']:,}" if isinstance(row["actions"], int) else row["actions"]
            label = "dp (optimum)" if method == "dp" else f"{method} (bound)"
            print(f"{scenario_id:<28} {label:<15} {states:>14} {actions:>13} {row['nonzeros']:>12,} "
                  f"{row['rounds']!s:>6} {row['seconds']:8.2f} {row['peak_mib']:9.0f} {row['revenue']:12.4f} "
                  f"{gap if method != 'dp' else '':>8}")


if __name__ == "__main__":
    main()
