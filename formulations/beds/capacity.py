"""Bed expansion planning as a reusable Pyomo block.

Years ``t = 0..T-1``; beds added at the start of year ``t`` are in service
during year ``t``. The block chooses how many beds to add each year,
``add[t]`` (integer, at most ``max_add``), so as to minimise the weighted sum
over years of the capital cost of added beds, the operating cost of the beds
in service and the cost of the demand left unattended.

The cost of unattended demand of year ``t`` is given as a table
``shortage_cost[t, k]`` on the bed counts ``beds_min + k``,
``k = 0..K`` (``K = beds_max - beds_min``), e.g. an expected shortage
``E[(N_t - H)^+]`` times days per year times the cost of one unattended
patient-day. The table must be convex in the bed count, which lets the block
represent it exactly at integer bed counts by the epigraph of its linear
interpolation::

    shortage[t] >= f[t, h] + (f[t, h+1] - f[t, h]) * (beds[t] - h),
    h = beds_min .. beds_max - 1.

The block never declares an active ``Objective``; it exposes ``cost`` (an
``Expression``). Use :func:`build_model` for a stand-alone model, or put
several blocks in one model and link them (e.g. a shared budget on
``add``). The tables, weights and initial beds are mutable ``Param`` values,
so a :class:`~optalloc.formulations.solve.Solver` re-solves after
:meth:`BedCapacityData.set_shortage_cost` and friends without rebuilding.

Example
-------
>>> model = ConcreteModel()
>>> model.plan = BedCapacity(horizon=3, initial_beds=10, max_add=5, beds_min=5,
...                          beds_max=20, shortage_cost=table, bed_cost=1e6)
>>> model.objective = Objective(expr=model.plan.cost)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pyomo.common.config import (
    Bool,
    ConfigDict,
    ConfigValue,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
)
from pyomo.environ import (
    ConcreteModel,
    Constraint,
    Expression,
    NonNegativeIntegers,
    NonNegativeReals,
    Objective,
    Param,
    RangeSet,
    Var,
    minimize,
    value,
)

from optalloc.exceptions import ConfigurationError, bad_value
from optalloc.formulations._block import (
    FiniteArray,
    FormulationData,
    checked_option,
    component_class,
    declare_formulation,
    require_options,
)

__all__ = ["BedCapacity", "BedCapacityData", "build_model"]

#: Options without a default.
_REQUIRED = ("horizon", "initial_beds", "max_add", "beds_min", "beds_max", "shortage_cost", "bed_cost")

#: Convexity slack: increments may fall by this fraction of the table's scale.
_CONVEXITY_RTOL = 1e-9


_TABLE = FiniteArray(2)
_VECTOR = FiniteArray(1)


def _config() -> ConfigDict:
    """Declared options of :class:`BedCapacity` (name, domain, default, description)."""
    options = [
        ("horizon", PositiveInt, None, "Number of planning years T (years)."),
        ("initial_beds", NonNegativeInt, None, "Beds in service before year 0 (beds)."),
        ("max_add", NonNegativeInt, None, "Most beds added at the start of one year (beds/year)."),
        ("beds_min", NonNegativeInt, None, "Smallest bed count of the shortage-cost table (beds)."),
        ("beds_max", NonNegativeInt, None, "Largest bed count of the table; beds in service never exceed it (beds)."),
        (
            "shortage_cost",
            _TABLE,
            None,
            "(T, beds_max - beds_min + 1) table; [t, k] is the cost of year t's unattended demand "
            "with beds_min + k beds (currency), convex in k.",
        ),
        ("bed_cost", NonNegativeFloat, None, "Capital cost of one added bed (currency/bed)."),
        ("operating_cost", NonNegativeFloat, 0.0, "Cost of one bed in service for one year (currency/(bed*year))."),
        (
            "weights",
            _VECTOR,
            None,
            "Length-T non-negative multipliers of each year's cost, e.g. discount factors "
            "(dimensionless); default ones.",
        ),
        (
            "beds_cap",
            _VECTOR,
            None,
            "Length-T largest bed count year t can reach (beds), e.g. initial_beds + max_add*(t+1); "
            "epigraph pieces above it are not built; default beds_max.",
        ),
        ("relax_integrality", Bool, False, "Make add[t] continuous (the LP relaxation)."),
    ]
    config = ConfigDict(description="Options of the BedCapacity block")
    for name, domain, default, description in options:
        config.declare(name, ConfigValue(domain=domain, default=default, description=description))
    return config


@declare_formulation("BedCapacity")
class BedCapacityData(FormulationData):
    """Data class of the :class:`BedCapacity` block (see the module docstring).

    Options (keywords of ``BedCapacity(...)``)
    ------------------------------------------
    horizon : int
        Number of planning years T (years), >= 1.
    initial_beds : int
        Beds in service before year 0 (beds), <= ``beds_max``.
    max_add : int
        Most beds added at the start of one year (beds/year), >= 0.
    beds_min, beds_max : int
        Bed counts (beds) covered by the shortage-cost table,
        ``beds_min <= beds_max``; beds in service must stay in this range.
    shortage_cost : array_like, shape (T, beds_max - beds_min + 1)
        ``shortage_cost[t, k]`` is the cost (currency) of year ``t``'s
        unattended demand with ``beds_min + k`` beds; finite, >= 0 and convex
        in ``k`` for every year.
    bed_cost : float
        Capital cost of one added bed (currency/bed), >= 0.
    operating_cost : float, default 0
        Cost of one bed in service for one year (currency/(bed*year)), >= 0.
    weights : array_like, shape (T,), optional
        Non-negative multipliers of each year's cost (dimensionless), e.g.
        discount factors; default ones.
    beds_cap : array_like of int, shape (T,), optional
        Largest bed count year ``t`` can reach (beds), between ``beds_min``
        and ``beds_max``; ``beds[t] <= beds_cap[t]`` is imposed and epigraph
        pieces above the cap are not built (fewer rows, faster re-solves).
        Default ``beds_max`` for every year.
    relax_integrality : bool, default False
        Make ``add`` continuous: the LP relaxation, whose shortage is the
        linear interpolation of the table.

    Components
    ----------
    years, levels, segments : RangeSet
        Years, table bed counts, and lower ends of the table's segments.
    initial_beds, bed_cost, operating_cost, weights : Param
        Mutable data (units in their ``doc``).
    piece_slope, piece_intercept : Param
        Mutable slope and intercept of each linear piece of the shortage-cost
        table (the table itself is ``config.shortage_cost``).
    add, beds, shortage : Var
        Beds added (beds), beds in service (beds) and shortage cost
        (currency) per year.
    bed_balance, capacity_limits, shortage_epigraph : Constraint
        Bed accounting, table range, and the exact convex epigraph.
    cost : Expression
        Weighted total cost (currency).
    """

    CONFIG = _config()

    @classmethod
    def validate_config(cls, config: ConfigDict, owner: str) -> None:
        """Check required options and their consistency (shapes, ranges, convexity)."""
        require_options(config, _REQUIRED, owner)
        if config.beds_max < config.beds_min:
            raise bad_value(owner, "beds_max", f"at least beds_min = {config.beds_min}", config.beds_max)
        _check_initial_beds(config.initial_beds, config.beds_max, owner)
        _check_shortage_cost(config.shortage_cost, config.horizon, config.beds_min, config.beds_max, owner)
        if config.weights is None:
            config.weights = np.ones(config.horizon)
        _check_weights(config.weights, config.horizon, owner)
        if config.beds_cap is None:
            config.beds_cap = np.full(config.horizon, config.beds_max)
        cap = config.beds_cap
        if cap.shape != (config.horizon,) or np.any(cap != np.round(cap)) or np.any(cap < config.beds_min) \
                or np.any(cap > config.beds_max):
            raise bad_value(owner, "beds_cap",
                            f"{config.horizon} integers in [beds_min, beds_max] = [{config.beds_min}, {config.beds_max}]",
                            cap.tolist())

    def build(self, *args: Any) -> None:
        """Declare sets, parameters, variables, constraints and ``cost``."""
        super().build(*args)
        self._declare_sets()
        self._declare_params()
        self._declare_vars()
        self._declare_constraints()
        self.cost = Expression(
            expr=sum(
                self.weights[t]
                * (self.bed_cost * self.add[t] + self.operating_cost * self.beds[t] + self.shortage[t])
                for t in self.years
            ),
            doc="Weighted total cost: sum_t weights[t] * (bed_cost*add[t] + "
            "operating_cost*beds[t] + shortage[t]) (currency)",
        )

    def _declare_sets(self) -> None:
        config = self.config
        self.years = RangeSet(0, config.horizon - 1, doc="Planning years t = 0..T-1 (years)")
        self.levels = RangeSet(
            config.beds_min, config.beds_max, doc="Bed counts on which the shortage-cost table is given (beds)"
        )
        self.segments = RangeSet(
            config.beds_min,
            max(config.beds_min, config.beds_max - 1),
            doc="Lower bed count h of each table segment [h, h+1] (beds); one flat segment if beds_min == beds_max",
        )

    def _declare_params(self) -> None:
        config = self.config
        self.initial_beds = Param(
            initialize=config.initial_beds, mutable=True, within=NonNegativeReals,
            doc="Beds in service before year 0 (beds)",
        )
        self.bed_cost = Param(
            initialize=config.bed_cost, mutable=True, within=NonNegativeReals,
            doc="Capital cost of one added bed (currency/bed)",
        )
        self.operating_cost = Param(
            initialize=config.operating_cost, mutable=True, within=NonNegativeReals,
            doc="Cost of one bed in service for one year (currency/(bed*year))",
        )
        self.weights = Param(
            self.years, initialize=_by_year(config.weights), mutable=True, within=NonNegativeReals,
            doc="Multiplier of year t's cost, e.g. a discount factor (dimensionless)",
        )
        # The table lives in config.shortage_cost; the epigraph reads each linear piece's slope and
        # intercept as Params of their own (derived by set_shortage_cost), so a re-solve pushes plain
        # numbers instead of evaluating expressions.
        slope, intercept = _pieces(config.shortage_cost, config.beds_min)
        self.piece_slope = Param(
            self.years, self.segments, initialize=slope, mutable=True,
            doc="Slope of the table on [h, h+1] in year t (currency/bed)",
        )
        self.piece_intercept = Param(
            self.years, self.segments, initialize=intercept, mutable=True,
            doc="Value at 0 beds of the table's linear piece on [h, h+1] in year t (currency)",
        )

    def _declare_vars(self) -> None:
        config = self.config
        domain = NonNegativeReals if config.relax_integrality else NonNegativeIntegers
        self.add = Var(
            self.years, domain=domain, bounds=(0, config.max_add), initialize=0,
            doc="Beds added at the start of year t, in service from year t on (beds)",
        )
        self.beds = Var(
            self.years, domain=NonNegativeReals,
            doc="Beds in service during year t: initial_beds + sum_{s<=t} add[s] (beds)",
        )
        self.shortage = Var(
            self.years, domain=NonNegativeReals,
            doc="Cost of year t's unattended demand, the table interpolated at beds[t] (currency)",
        )

    def _declare_constraints(self) -> None:
        config = self.config

        def bed_balance(block: BedCapacityData, t: int) -> Any:
            previous = block.initial_beds if t == 0 else block.beds[t - 1]
            return block.beds[t] == previous + block.add[t]

        def shortage_epigraph(block: BedCapacityData, t: int, h: int) -> Any:
            return block.shortage[t] >= block.piece_intercept[t, h] + block.piece_slope[t, h] * block.beds[t]

        self.bed_balance = Constraint(
            self.years, rule=bed_balance,
            doc="beds[t] = beds[t-1] + add[t], beds[-1] = initial_beds (beds)",
        )
        cap = {t: int(config.beds_cap[t]) for t in self.years}
        self.capacity_limits = Constraint(
            self.years, rule=lambda block, t: (config.beds_min, block.beds[t], cap[t]),
            doc="beds_min <= beds[t] <= beds_cap[t] <= beds_max: stay on the shortage-cost table (beds)",
        )
        # Pieces [h, h+1] with h >= cap[t] cannot bind (beds[t] <= cap[t]) except the one at the cap itself.
        self.shortage_epigraph = Constraint(
            [(t, h) for t in self.years for h in self.segments if h < max(cap[t], config.beds_min + 1)],
            rule=shortage_epigraph,
            doc="shortage[t] >= linear piece of the convex table on [h, h+1] (currency)",
        )

    # ------------------------------------------------------------------ helpers

    def plan(self) -> np.ndarray:
        """Beds added per year in the loaded solution.

        Returns
        -------
        numpy.ndarray of int, shape (T,)
            ``add[t]`` rounded to the nearest integer (beds).
        """
        return np.array([round(value(self.add[t])) for t in self.years], dtype=int)

    def set_shortage_cost(self, table: npt.ArrayLike) -> None:
        """Replace the shortage-cost table (mutable; no rebuild needed).

        Parameters
        ----------
        table : array_like, shape (T, beds_max - beds_min + 1)
            New costs (currency), finite, >= 0, convex in the bed count.
        """
        owner = self._owner()
        array = checked_option(_TABLE, table, owner, "shortage_cost")
        _check_shortage_cost(array, self.config.horizon, self.config.beds_min, self.config.beds_max, owner)
        slope, intercept = _pieces(array, self.config.beds_min)
        built = list(self.shortage_epigraph.keys())  # pieces above beds_cap are not in the model
        self.piece_slope.store_values({key: slope[key] for key in built})
        self.piece_intercept.store_values({key: intercept[key] for key in built})
        self.config.shortage_cost = array

    def set_initial_beds(self, beds: int) -> None:
        """Change the beds in service before year 0 (mutable; no rebuild needed).

        Parameters
        ----------
        beds : int
            Beds (>= 0, <= ``beds_max``).
        """
        owner = self._owner()
        beds = checked_option(NonNegativeInt, beds, owner, "initial_beds")
        _check_initial_beds(beds, self.config.beds_max, owner)
        self.initial_beds.set_value(beds)
        self.config.initial_beds = beds

    def set_weights(self, weights: npt.ArrayLike) -> None:
        """Replace the yearly cost multipliers (mutable; no rebuild needed).

        Parameters
        ----------
        weights : array_like, shape (T,)
            Non-negative multipliers (dimensionless).
        """
        owner = self._owner()
        array = checked_option(_VECTOR, weights, owner, "weights")
        _check_weights(array, self.config.horizon, owner)
        self.weights.store_values(_by_year(array))
        self.config.weights = array

    def _owner(self) -> str:
        return f"BedCapacity block {self.name!r}"


#: The block component: ``BedCapacity(**options)`` (``BedCapacity(index, **options)``
#: for an indexed block); created with ScalarBedCapacity and IndexedBedCapacity by
#: ``declare_formulation``.
BedCapacity = component_class(BedCapacityData)


def build_model(**options: Any) -> ConcreteModel:
    """A stand-alone bed expansion model: ``model.plan`` and its objective.

    Parameters
    ----------
    **options
        Options of :class:`BedCapacity` (see :class:`BedCapacityData`).

    Returns
    -------
    ConcreteModel
        Model named ``"bed_capacity"`` with block ``plan`` and
        ``objective = minimize plan.cost`` (currency).
    """
    model = ConcreteModel(name="bed_capacity")
    model.plan = BedCapacity(**options)
    model.objective = Objective(expr=model.plan.cost, sense=minimize, doc="Weighted total cost (currency)")
    return model


# ---------------------------------------------------------------------- checks


def _check_initial_beds(beds: int, beds_max: int, owner: str) -> None:
    if beds > beds_max:
        raise bad_value(owner, "initial_beds", f"at most beds_max = {beds_max} (beds never decrease)", beds)


def _check_weights(weights: np.ndarray, horizon: int, owner: str) -> None:
    if weights.shape != (horizon,):
        raise bad_value(owner, "weights", f"an array of shape ({horizon},)", f"shape {weights.shape}")


def _check_shortage_cost(table: np.ndarray, horizon: int, beds_min: int, beds_max: int, owner: str) -> None:
    """Shape (T, K+1) and convexity in the bed count for every year."""
    expected = (horizon, beds_max - beds_min + 1)
    if table.shape != expected:
        raise bad_value(owner, "shortage_cost", f"an array of shape {expected} (years, beds_min..beds_max)",
                        f"shape {table.shape}")
    if table.shape[1] < 3:
        return
    increments = np.diff(table, axis=1)
    slack = _CONVEXITY_RTOL * max(1.0, float(np.max(np.abs(table))))
    for t in range(horizon):
        drops = np.flatnonzero(np.diff(increments[t]) < -slack)
        if drops.size:
            k = int(drops[0])
            h = beds_min + k
            raise ConfigurationError(
                f"The 'shortage_cost' parameter of {owner} must be convex in the number of beds "
                f"for every year. Got a non-convex row for year {t} instead: the cost change "
                f"from {h} to {h + 1} beds is {increments[t, k]:.6g} but from {h + 1} to {h + 2} "
                f"beds it is {increments[t, k + 1]:.6g}."
            )


def _by_year(array: np.ndarray) -> dict[int, float]:
    return {t: float(x) for t, x in enumerate(array)}


def _pieces(table: np.ndarray, beds_min: int) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], float]]:
    """Slope and intercept of each linear piece [h, h+1] of every year's table, keyed (t, h).

    A one-level table (beds_min == beds_max) is a single flat piece.
    """
    table = np.asarray(table, dtype=float)
    h = beds_min + np.arange(max(table.shape[1] - 1, 1))
    slope = np.diff(table, axis=1) if table.shape[1] > 1 else np.zeros_like(table)
    intercept = table[:, : len(h)] - slope * h
    keys = [(t, int(b)) for t in range(table.shape[0]) for b in h]
    return dict(zip(keys, slope.ravel().tolist())), dict(zip(keys, intercept.ravel().tolist()))


