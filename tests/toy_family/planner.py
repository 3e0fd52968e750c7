"""The toy walk's :class:`~optalloc.formulations.policies.Planner`: a small Pyomo MIP over positions.

The model of steps ``start..horizon-1`` chooses per step a move left or
right (binaries ``left``, ``right``, at most one) and the one-hot position
``at[s, k]`` reached; it pays ``step_cost`` per move plus the distance cost
``distance[s, k]`` of the position (a mutable Param): the expected distance
``E|k - D|`` to a uniform target for planning, or the average realised
distance over noise paths for the sample-average model. Positions do not
depend on the noise, so the expected-cost plan is the optimum of the walk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyomo.environ as pyo

from optalloc.scenario import Noise, Scenario


class WalkPlanner:
    """MIP models of one :class:`~toy_family.scenario.WalkScenario`."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario

    # ------------------------------------------------------------ Planner
    def build(self, start: int) -> Any:
        steps = self.scenario.horizon - start
        positions = np.arange(self.scenario.params.size)
        expected = np.broadcast_to(self.scenario.expected_distance(positions), (steps, len(positions)))
        return self._model(start, expected)

    def update(self, model: Any, epoch: int, observation: np.ndarray, info: Mapping[str, Any]) -> None:
        model.start_position.set_value(int(np.asarray(observation)[0]))

    def decision(self, model: Any) -> np.ndarray:
        return np.array([[round(pyo.value(model.left[s])), round(pyo.value(model.right[s]))] for s in model.steps])

    def decision_variables(self, model: Any) -> Sequence[Any]:
        return [model.left, model.right]

    def cache_key(self, epoch: int, observations: np.ndarray) -> np.ndarray:
        return np.rint(np.asarray(observations)[:, :1]).astype(np.int64)

    def covers(self, scenario: Scenario) -> str | None:
        size = self.scenario.params.size
        if scenario.params.size != size:
            return f"its model covers positions 0..{size - 1}, the scenario 0..{scenario.params.size - 1}"
        return None

    # ------------------------------------------------------------ SamplePlanner
    def build_saa(self, noise: Noise) -> Any:
        return self._model(0, self._average_distance(noise))

    def update_saa(self, model: Any, noise: Noise) -> None:
        table = self._average_distance(noise)
        model.distance.store_values({(s, k): float(table[s, k]) for s in model.steps for k in model.positions})

    # ------------------------------------------------------------ model
    def _average_distance(self, noise: Noise) -> np.ndarray:
        """Mean over the paths of ``|k - target|`` of every step and position, shape ``(horizon, size)``."""
        positions = np.arange(self.scenario.params.size)
        return np.abs(positions[None, None, :] - noise["target"][:, :, None]).mean(axis=0)

    def _model(self, start: int, distance: np.ndarray) -> Any:
        p = self.scenario.params
        steps = self.scenario.horizon - start
        model = pyo.ConcreteModel(name=f"WalkPlanner[{self.scenario.id}][from step {start}]")
        model.steps = pyo.RangeSet(0, steps - 1)
        model.positions = pyo.RangeSet(0, p.size - 1)
        model.start_position = pyo.Param(initialize=p.start, mutable=True)
        model.distance = pyo.Param(model.steps, model.positions, mutable=True,
                                   initialize={(s, k): float(distance[s, k]) for s in range(steps) for k in range(p.size)})
        model.left = pyo.Var(model.steps, domain=pyo.Binary)
        model.right = pyo.Var(model.steps, domain=pyo.Binary)
        model.at = pyo.Var(model.steps, model.positions, domain=pyo.Binary)

        def position(m: Any, s: int) -> Any:
            return sum(k * m.at[s, k] for k in m.positions)

        model.one_position = pyo.Constraint(model.steps, rule=lambda m, s: sum(m.at[s, k] for k in m.positions) == 1)
        model.one_move = pyo.Constraint(model.steps, rule=lambda m, s: m.left[s] + m.right[s] <= 1)
        model.walk = pyo.Constraint(model.steps, rule=lambda m, s: position(m, s) == (
            m.start_position if s == 0 else position(m, s - 1)) + m.right[s] - m.left[s])
        weights = self.scenario.discount ** np.arange(steps)
        model.objective = pyo.Objective(expr=sum(
            float(weights[s]) * (sum(model.distance[s, k] * model.at[s, k] for k in model.positions)
                                 + p.step_cost * (model.left[s] + model.right[s])) for s in model.steps))
        return model
