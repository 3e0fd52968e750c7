"""Staff allocation: nurse rostering on published benchmarks, and stochastic nurse staffing with a float pool.

* :mod:`.roster_data` -- :class:`RosterData`, one rostering instance as arrays, and its reader of the
  benchmark's text format (Curtois; Burke & Curtois 2014;
  the instances ship in ``data/curtois/``, provenance in ``data/README.md``);
* :mod:`.roster_check` -- an evaluator of any roster written from the benchmark's rules alone:
  objective and hard-constraint violations;
* :mod:`.roster_instance` -- :class:`RosterInstance`, the static instance ``optalloc solve staff`` solves;
* :mod:`.staffing` -- closed forms: Erlang C and the nursevendor staffing level;
* :mod:`.floatpool` -- :class:`FloatPoolScenario`, shift-by-shift staffing of several units with a float pool
  and agency nurses; :mod:`.heuristics` -- its ``newsvendor`` and ``proportional`` rules.

The rostering model (the :class:`NurseRoster` block) and the float-pool MIPs (the planner of ``milp-rolling``,
``hindsight`` and ``hindsight-milp``; policies ``milp-lookahead`` and ``saa-shift``) live in
:mod:`optalloc.formulations.staff`.
"""

from __future__ import annotations

#: Published optimal objectives of the shipped rostering instances (lower bound = upper bound) [penalty points].
ROSTER_OPTIMA: dict[int, int] = {1: 607, 2: 828, 3: 1001, 4: 1716, 5: 1143, 6: 1950, 7: 1056, 8: 1300}
#: Number of rostering instances shipped (Instance1 .. Instance24).
ROSTER_INSTANCES = 24

#: The float-pool presets and what they are.
DESCRIPTIONS: dict[str, str] = {
    "floatpool-v0": "Nurse staffing of 4 inpatient units, 3 shifts a day for two weeks, with a float pool and "
                    "agency nurses booked a shift ahead",
    "floatpool-small-v0": "The same with 2 small units, small enough for exact DP",
}


def register() -> None:
    """Register the staff scenarios, policies and rostering instances (entry point ``optalloc.families: staff``)."""
    from optalloc.registry import (
        InstanceSpec,
        PolicySpec,
        ScenarioSpec,
        register_instance,
        register_instance_format,
        register_policy,
        register_scenario,
    )

    for preset, text in DESCRIPTIONS.items():
        register_scenario(ScenarioSpec(f"staff/{preset}", "optalloc.families.staff.floatpool:make",
                                       {"preset": preset}, text))
    rules = "optalloc.families.staff.heuristics"
    for spec in (
        PolicySpec("newsvendor", f"{rules}:Newsvendor",
                   "Each unit staffed to its nursevendor critical fractile, then the float pool split", {}),
        PolicySpec("proportional", f"{rules}:Proportional", "Float pool split in proportion to census", {}),
        PolicySpec("saa-shift", "optalloc.formulations.staff.floatpool_saa:TwoStageSAAPolicy",
                   "Each shift, a two-stage SAA over the next shift's outcomes: bookings and this shift's floats, "
                   "then the next shift's floats per outcome", {"samples": 20}, requires=("pyomo", "highspy")),
        PolicySpec("milp-lookahead", "optalloc.formulations.staff.floatpool:LookaheadPolicy",
                   "Every shift, a lookahead MIP of the next shifts on expected recourse; its first shift applied",
                   {"lookahead": 3}, requires=("pyomo", "highspy")),
    ):
        register_policy(spec)

    entry = "optalloc.families.staff.roster_instance"
    for n in range(1, ROSTER_INSTANCES + 1):
        optimum = ROSTER_OPTIMA.get(n)
        text = f"Nurse rostering benchmark Instance{n} (Curtois)" + (f", optimum {optimum}" if optimum else "")
        register_instance(InstanceSpec(f"staff/instance{n}", f"{entry}:RosterInstance",
                                       {"number": n, "best_known": optimum}, text))
    register_instance_format("staff", ".txt", f"{entry}:read_roster_instance")
