"""A toy static instance: the 0-1 knapsack, solved as a Pyomo MIP through optalloc's one solve path.

Choose items ``x_i in {0, 1}`` to maximise ``sum_i value_i x_i`` subject to
``sum_i weight_i x_i <= capacity``, with the items listed in ``required``
forced in (which makes an infeasible instance easy to write: required items
heavier than the capacity). :meth:`KnapsackInstance.evaluate` scores a
solution (a list of item indices) from the data alone, without Pyomo;
:func:`brute_force_optimum` enumerates every subset, a reference independent
of both.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from optalloc.exceptions import bad_value
from optalloc.instances import Instance, InstanceTags


def _numbers(owner: str, name: str, values: Any, *, positive: bool) -> np.ndarray:
    expected = "a non-empty list of " + ("positive" if positive else "non-negative") + " finite numbers"
    if not isinstance(values, (list, tuple)) or not values or any(
            isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
            or (v <= 0 if positive else v < 0) for v in values):
        raise bad_value(owner, name, expected, values)
    return np.asarray(values, dtype=float)


class KnapsackInstance(Instance):
    """A 0-1 knapsack: maximise the value of the items packed within a weight capacity.

    Parameters
    ----------
    instance_id : str
        Instance id (set by the registry).
    values : list of float
        Value of each item [EUR], non-negative.
    weights : list of float
        Weight of each item [kg], positive; as many as ``values``.
    capacity : float
        Weight capacity [kg], non-negative.
    required : list of int, default ()
        Items that must be packed (indices into ``values``).
    best_known : float, optional
        Best value known [EUR].
    """

    tags = InstanceTags(family="toy", sense="maximize", objective_unit="EUR")

    def __init__(self, instance_id: str = "", *, values: Sequence[float], weights: Sequence[float],
                 capacity: float, required: Sequence[int] = (), best_known: float | None = None) -> None:
        super().__init__(instance_id, best_known=best_known)
        owner = f"instance {self.id}"
        self.values = _numbers(owner, "values", values, positive=False)
        self.weights = _numbers(owner, "weights", weights, positive=True)
        if len(self.weights) != len(self.values):
            raise bad_value(owner, "weights", f"a list of {len(self.values)} weights (one per value)", weights)
        if isinstance(capacity, bool) or not isinstance(capacity, (int, float)) or not (
                math.isfinite(capacity) and capacity >= 0):
            raise bad_value(owner, "capacity", "a non-negative finite number [kg]", capacity)
        self.capacity = float(capacity)
        n = len(self.values)
        if not isinstance(required, (list, tuple)) or any(
                isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n for i in required) \
                or len(set(required)) != len(required):
            raise bad_value(owner, "required", f"a list of distinct item indices in 0..{n - 1}", required)
        self.required = tuple(int(i) for i in required)

    def _solve(self, time_limit: float | None, mip_rel_gap: float | None) -> tuple[Any, list[int] | None]:
        import pyomo.environ as pyo

        from optalloc.formulations.solve import solve

        items = range(len(self.values))
        m = pyo.ConcreteModel(name=self.id)
        m.x = pyo.Var(items, domain=pyo.Binary)
        m.capacity = pyo.Constraint(expr=sum(self.weights[i] * m.x[i] for i in items) <= self.capacity)
        for i in self.required:
            m.x[i].fix(1)
        m.value = pyo.Objective(expr=sum(self.values[i] * m.x[i] for i in items), sense=pyo.maximize)
        result = solve(m, time_limit=time_limit, mip_rel_gap=mip_rel_gap, raise_on_failure=False)
        if not result.has_solution:
            return result, None
        return result, [i for i in items if pyo.value(m.x[i]) > 0.5]

    def evaluate(self, solution: Any) -> float:
        """Total value of the packed items [EUR], checked against the capacity and the required items.

        Parameters
        ----------
        solution : list of int
            Indices of the packed items.

        Raises
        ------
        ConfigurationError
            Indices that are not distinct items, too much weight, a required item missing.
        """
        owner, n = f"instance {self.id}", len(self.values)
        if not isinstance(solution, (list, tuple)) or any(
                isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n for i in solution) \
                or len(set(solution)) != len(solution):
            raise bad_value(owner, "solution", f"a list of distinct item indices in 0..{n - 1}", solution)
        chosen = list(solution)
        weight = float(self.weights[chosen].sum()) if chosen else 0.0
        if weight > self.capacity * (1 + 1e-9):
            raise bad_value(owner, "solution", f"items of total weight <= {self.capacity:g} kg",
                            f"{solution} weighing {weight:g} kg")
        missing = sorted(set(self.required) - set(chosen))
        if missing:
            raise bad_value(owner, "solution", f"a packing holding the required items {list(self.required)}", solution)
        return float(self.values[chosen].sum()) if chosen else 0.0


    def write_solution(self, solution: Any, stem: Path) -> list[Path]:
        """The packed items as ``stem.csv`` (item, value [EUR], weight [kg])."""
        path = stem.with_suffix(".csv")
        rows = [f"{i},{self.values[i]:g},{self.weights[i]:g}" for i in solution]
        path.write_text("\n".join(["item,value,weight", *rows]) + "\n")
        return [path]


def read_knap_file(path: Path) -> KnapsackInstance:
    """A knapsack from a ``.knap`` file: ``capacity C`` on the first line, then one ``value weight`` per item.

    Raises
    ------
    ConfigurationError
        A malformed line, named by its number.
    """
    from optalloc.exceptions import ConfigurationError

    lines = path.read_text().splitlines()
    where = f"{path.name} line"
    head = lines[0].split() if lines else []
    if len(head) != 2 or head[0] != "capacity":
        raise ConfigurationError(f"{where} 1: expected 'capacity C'; got {lines[0] if lines else ''!r}")
    values, weights = [], []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        try:
            value, weight = (float(f) for f in fields)
        except ValueError:
            raise ConfigurationError(f"{where} {number}: expected 'value weight'; got {line!r}") from None
        values.append(value)
        weights.append(weight)
    return KnapsackInstance(f"toy/{path.stem}", values=values, weights=weights, capacity=float(head[1]))


def brute_force_optimum(values: Sequence[float], weights: Sequence[float], capacity: float,
                        required: Sequence[int] = ()) -> tuple[float | None, list[int] | None]:
    """Best value and items over all ``2**n`` subsets (None, None if no subset is feasible)."""
    n = len(values)
    best, best_items = None, None
    for bits in itertools.product((0, 1), repeat=n):
        items = [i for i in range(n) if bits[i]]
        if not set(required) <= set(items) or sum(weights[i] for i in items) > capacity:
            continue
        total = sum(values[i] for i in items)
        if best is None or total > best:
            best, best_items = total, items
    return best, best_items
