"""Hospital bed capacity expansion (Kabir, Shuvo & Ahmed 2021).

* :mod:`.scenario` -- :class:`BedScenario`, its presets and exact tabular model;
* :mod:`.heuristics` -- the rigid and complaint policies of the seed paper;
* :mod:`.forecast`, :mod:`.planning` -- population forecasts on the shipped
  census series (``data/``, provenance in ``data/README.md``), and planning on them;
* :mod:`.hindsight` -- the perfect-information capacity plan by backward induction.

The formulations live in :mod:`optalloc.formulations.beds`, the LSTM
forecaster in :mod:`optalloc.rl.beds`.
"""

from __future__ import annotations


def register() -> None:
    """Register the bed scenarios and policies (entry point ``optalloc.families: beds``)."""
    from optalloc.registry import PolicySpec, ScenarioSpec, register_policy, register_scenario

    for preset, text in (
        ("seed002-v0", "Bed expansion of Kabir et al. (2021): deterministic 1.2 %/yr growth, 30 years, undiscounted"),
        ("stochastic-v0", "Bed expansion with random growth, epidemic surges, operating cost, 3 % discounting"),
    ):
        register_scenario(ScenarioSpec(f"beds/{preset}", "optalloc.families.beds.scenario:make", {"preset": preset},
                                       text))

    for spec in (
        PolicySpec("rigid", "optalloc.families.beds.heuristics:RigidPolicy",
                   "Fixed k beds a year; fit grid-searches k on training paths", {"train_episodes": 20}),
        PolicySpec("complaint", "optalloc.families.beds.heuristics:ComplaintPolicy",
                   "Adds min(limit, round(delta x last year's unattended patient-days)); fit grid-searches delta",
                   {"train_episodes": 20, "grid_size": 11}),
        PolicySpec("milp", "optalloc.formulations.beds.policies:MILPPolicy",
                   "Open-loop expected-value capacity plan (Pyomo MILP, HiGHS)", requires=("pyomo", "highspy")),
        PolicySpec("milp-rolling", "optalloc.formulations.beds.policies:RollingMILPPolicy",
                   "Expected-value MILP re-solved each year from the current state (model predictive control)",
                   requires=("pyomo", "highspy")),
        PolicySpec("hindsight", "optalloc.formulations.beds.policies:HindsightPolicy",
                   "Oracle bound: the optimal plan for the episode's own realised demands (a bound, not a policy)",
                   requires=("pyomo", "highspy")),
    ):
        register_policy(spec)
