"""Hospital bed capacity expansion (Kabir, Shuvo & Ahmed 2021).

* :mod:`.scenario` -- :class:`BedScenario`, its presets and exact tabular model;
* :mod:`.heuristics` -- the rigid and complaint policies of the seed paper;
* :mod:`.forecast`, :mod:`.planning` -- population forecasts on the shipped
  census series (``data/``, provenance in ``data/README.md``), and the planning
  transform ``forecast`` that plans on them (policy ``plan-on``);
* :mod:`.hindsight` -- the perfect-information capacity plan by backward induction
  (:meth:`BedScenario.perfect_information`, policy ``hindsight``).

The formulations and the family's planner (policies ``milp``, ``milp-rolling``,
``saa``, ``hindsight-milp``) live in :mod:`optalloc.formulations.beds`, the LSTM
forecaster in :mod:`optalloc.rl.beds`.
"""

from __future__ import annotations


def register() -> None:
    """Register the bed scenarios and policies (entry point ``optalloc.families: beds``)."""
    from optalloc.registry import PolicySpec, ScenarioSpec, register_policy, register_scenario, register_transform

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
    ):
        register_policy(spec)
    # Plan on a population forecast: make_policy("plan-on", inner="dp", transform="forecast",
    # transform_params={"forecaster": "lstm", "cutoff": 2001}).
    register_transform("beds", "forecast", "optalloc.families.beds.planning:forecast_transform")
