"""CT-scanner multi-category patient scheduling (Gocgun, Bresnahan, Ghate & Gunn 2011).

* :mod:`.scenario` -- :class:`ScannerScenario`, its presets (parameters
  reconstructed: ``data/README.md``) and exact tabular model;
* :mod:`.heuristics` -- the seed paper's FCFS, R-1, R-2, O-1, O-2 rules and a myopic revenue-greedy rule;
* :mod:`.structure` -- the optimal policy as the blog's table (waiting IPs x OPs) and heatmap, and the
  priority thresholds of the exact action values.

The scheduling MIP (planner of ``milp-rolling``, perfect-information bound ``hindsight``) and the
approximate LP (policy ``alp``) live in :mod:`optalloc.formulations.scanners`.
"""

from __future__ import annotations

#: The presets and what they are (their parameters: :data:`.scenario.PRESETS`).
DESCRIPTIONS: dict[str, str] = {
    "gocgun-v0": "CT scanning of Gocgun et al. (2011), 2 scanners, 20 half-hour slots, stationary arrivals "
                 "(reconstructed parameters)",
    "gocgun-1scanner-v0": "The same with 1 scanner and half the arrival probabilities (reconstructed parameters)",
    "gocgun-profile-v0": "2 scanners with a time-of-day profile of inpatient and NCEP arrivals "
                         "(reconstructed parameters)",
    "large-v0": "3 scanners, up to 2 arrivals per type and slot, queues capped at 12: exact DP is no longer cheap",
}


def register() -> None:
    """Register the scanner scenarios and policies (entry point ``optalloc.families: scanners``)."""
    from optalloc.registry import PolicySpec, ScenarioSpec, register_policy, register_scenario

    for preset, text in DESCRIPTIONS.items():
        register_scenario(ScenarioSpec(f"scanners/{preset}", "optalloc.families.scanners.scenario:make",
                                       {"preset": preset}, text))

    rules = "optalloc.families.scanners.heuristics"
    for spec in (
        PolicySpec("fcfs", f"{rules}:FCFS", "First come, first served across types; ties between types at random", {}),
        PolicySpec("r1", f"{rules}:R1", "Each free scanner scans a type drawn uniformly among those waiting", {}),
        PolicySpec("r2", f"{rules}:R2", "Each free scanner scans a waiting patient drawn uniformly", {}),
        PolicySpec("o1", f"{rules}:O1", "Strict priority OP > NCEP > IP", {}),
        PolicySpec("o2", f"{rules}:O2", "Strict priority OP > IP > NCEP", {}),
        PolicySpec("greedy", f"{rules}:Greedy", "Myopic: highest revenue per scan first (ties OP, IP, NCEP)", {}),
        PolicySpec("alp", "optalloc.formulations.scanners.alp:ALPPolicy",
                   "Approximate LP (affine value function, HiGHS): greedy policy and a lower bound on the expected cost",
                   requires=("highspy",)),
    ):
        register_policy(spec)
