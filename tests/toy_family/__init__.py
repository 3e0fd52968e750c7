"""A toy problem family, registered from outside the package through the same hook as optalloc's own.

Its scenarios are small enough that every generic path (evaluation, exact DP,
planners, Gymnasium checks, PPO on vector actions, save/load, the CLI) runs
in seconds, and their optima are known independently of optalloc:

* ``toy/walk-v0`` -- a walker on ``0..size-1`` steps left, stays or steps
  right (``Discrete(3)``, masked at the ends) and pays the distance to a
  random target drawn after the move, plus a cost per step. The position
  never depends on the noise, so the optimum is the best open-loop sequence
  (:func:`.scenario.brute_force_optimum` enumerates all ``3**horizon``).
* ``toy/pool-v0`` -- two units each choose 0..``cap`` helpers
  (``MultiDiscrete([cap + 1, cap + 1])``, per-component masks) and pay
  ``hire_cost`` per helper plus ``short_cost`` per unit of demand left
  uncovered; the units are independent and the optimum is the per-unit
  newsvendor quantile (:func:`.scenario.newsvendor_optimum`).
* ``toy/knapsack-i0`` -- a static instance: a 12-item 0-1 knapsack solved as
  a Pyomo MIP (:class:`.instance.KnapsackInstance`, also the file type
  ``toy/knapsack``, and read from the ``.knap`` text format); its optimum is checked against all ``2**12`` subsets
  (:func:`.instance.brute_force_optimum`).

The ``register()`` hook below is what an installed family's
``optalloc.families`` entry point names; the test suite runs it with
:func:`optalloc.registry.register_family`.
"""

from __future__ import annotations

#: The registered knapsack: values [EUR], weights [kg], capacity [kg] (greedy by value per kg packs 114, not the optimum).
KNAPSACK_I0 = {"values": [12, 20, 16, 22, 10, 10, 15, 17, 17, 16, 26, 15],
               "weights": [11, 11, 15, 19, 3, 5, 16, 19, 7, 8, 17, 10],
               "capacity": 70}


def register() -> None:
    """Register the toy scenarios and instances (entry point ``toy = "toy_family:register"``)."""
    from optalloc.registry import (
        InstanceSpec,
        ScenarioSpec,
        register_instance,
        register_instance_format,
        register_instance_type,
        register_scenario,
    )

    register_scenario(ScenarioSpec("toy/walk-v0", "toy_family.scenario:WalkScenario",
                                   {"scenario_id": "toy/walk-v0"},
                                   "Toy walk to a random target (Discrete(3), exact DP and hindsight)"))
    register_scenario(ScenarioSpec("toy/pool-v0", "toy_family.scenario:PoolScenario",
                                   {"scenario_id": "toy/pool-v0"},
                                   "Toy two-unit helper pool (MultiDiscrete, newsvendor optimum)"))
    register_instance_type("toy/knapsack", "toy_family.instance:KnapsackInstance")
    register_instance_format("toy", ".knap", "toy_family.instance:read_knap_file")
    register_instance(InstanceSpec("toy/knapsack-i0", "toy_family.instance:KnapsackInstance", KNAPSACK_I0,
                                   "Toy 0-1 knapsack, 12 items (a static MIP; optimum by brute force)"))
