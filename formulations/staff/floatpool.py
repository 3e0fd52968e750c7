"""Float-pool staffing as Pyomo: the :class:`FloatPoolStaffing` block, its lookahead planner and the hindsight MIP.

The scenario (:mod:`optalloc.families.staff.floatpool`, its docstring is the model card) couples shifts only
through the agency bookings: census and rostered absences do not depend on decisions, a booking of shift
``t`` is paid in ``t`` and shows up in ``t + 1``, and a shift's recourse (overtime, patients above the ratio,
idle nurses) depends on each unit's census and nurses present alone. So every model here is a set of
*nodes* -- one unit-shift outcome each, with its census, its nurses present before the decision and a
weight -- sharing float and booking decisions:

* ``level[n, u, j]`` -- the convex-combination (lambda) weights of node ``n``'s staffing of unit ``u``
  at ``j = 0 .. agency_cap + float_cap`` nurses beyond the node's base (its rostered and already present
  agency nurses); the node's recourse cost is ``sum_j cost[n, u, j] level[n, u, j]``, the table of the
  scenario's own recourse (:func:`optalloc.families.staff.floatpool.shift_outcome`) at ``base + j`` nurses,
  times the node's weight. When every table is convex in ``j`` (the presets), the lambdas are continuous
  and exact at integer staffing; otherwise they are binary;
* ``floats[g, u]`` -- float nurses of *float group* ``g`` (the nodes that share one float decision),
  at most ``pool`` per group;
* ``book[b, u]`` -- agency nurses booked by *booking group* ``b``; a node fed by group ``b`` counts
  ``show_rate x book[b, u]`` of them, or, with random show-ups (``agency_absence > 0``), the node's own
  realised show-ups ``shows[n, u, a]`` of the booked level ``a`` (one binary ``pick[b, u, a]`` per level):

      sum_j j level[n, u, j] = floats[group(n), u] + (agency nurses present from the node's booking)

Three models are built from it, all from the scenario's own functions (:meth:`census_kernel`,
:meth:`present_pmf`, :meth:`step`, :func:`shift_outcome`), never from a second copy of the dynamics:

* :meth:`FloatPoolPlanner.build` / :meth:`FloatPoolPlanner.update` -- the *lookahead* model of the
  next ``lookahead`` shifts from an observed state: the current shift with its known census and nurses
  present, each later shift with the *expected* recourse cost of its census distribution (propagated from
  the observed census through the census kernels) and rostered absences, as a function of the float and
  agency nurses it gets; one float split and one booking per shift. For a plan fixed now it is the exact
  expected cost of the window when agency nurses always come (with ``agency_absence > 0`` a booking counts
  as its expected show-ups). It is the model of ``milp-lookahead`` (:class:`LookaheadPolicy`);
* :meth:`FloatPoolPlanner.build_saa` / :meth:`FloatPoolPlanner.update_saa` -- one plan over the whole
  horizon evaluated on realised noise paths: with one path, the *perfect-information* problem of that
  path, exact (the census and rostered paths are the step's; the show-ups of every booking level are
  the step's too), so its objective is the cost of its plan replayed through :meth:`step`;
* the two-stage model of :mod:`optalloc.formulations.staff.floatpool_saa`.

:func:`perfect_information` solves the one-path model of every episode on one persistent model; it is
what the scenario's ``perfect_information`` capability returns (the generic ``hindsight`` policy).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pyomo.environ as pyo
from pyomo.common.config import Bool, ConfigDict, ConfigValue, NonNegativeFloat, NonNegativeInt, PositiveInt
from pyomo.core.expr.numeric_expr import LinearExpression

from optalloc.checks import check_memory
from optalloc.exceptions import ConfigurationError, bad_value
from optalloc.formulations._block import (
    FiniteArray,
    FormulationData,
    checked_option,
    component_class,
    declare_formulation,
    require_options,
)
from optalloc.scenario import Noise, Scenario
from optalloc.tags import PolicyTags

from ..policies import RollingHorizonPolicy
from ..solve import Solver

__all__ = [
    "FloatPoolPlanner",
    "FloatPoolStaffing",
    "FloatPoolStaffingData",
    "LookaheadPolicy",
    "PersistentRollingPolicy",
    "observed_state",
    "parameter_solver",
    "perfect_information",
    "planner",
    "realised_paths",
    "recourse_table",
]

#: Estimated memory of one Pyomo variable or constraint with its HiGHS column or row [bytes].
_BYTES_PER_ROW = 2048.0
#: Slack of the convexity check of a cost table, as a fraction of its largest entry.
_CONVEXITY_RTOL = 1e-9


# ---------------------------------------------------------------------- the block
class _IndexArray:
    """Config domain: a read-only 1-D integer array with entries ``>= low``."""

    def __init__(self, low: int) -> None:
        self.low = low

    def __call__(self, data: Any) -> np.ndarray | None:
        if data is None:
            return None
        array = np.asarray(data)
        if array.ndim != 1 or array.dtype == bool or not np.issubdtype(array.dtype, np.number) \
                or not np.all(np.isfinite(array)) or np.any(array != np.round(array)) or np.any(array < self.low):
            raise ValueError(f"expected a 1-D array of integers >= {self.low}")
        array = array.astype(np.int64)
        array.flags.writeable = False
        return array

    def domain_name(self) -> str:
        return f"a 1-D array of integers >= {self.low}"


def _unit_interval_rate(data: Any) -> float:
    """Config domain: a number in ``(0, 1]``."""
    if isinstance(data, bool) or not isinstance(data, (int, float, np.integer, np.floating)) or not 0 < data <= 1:
        raise ValueError("expected a number in (0, 1]")
    return float(data)


_unit_interval_rate.domain_name = lambda: "a number in (0, 1]"  # type: ignore[attr-defined]


def _config() -> ConfigDict:
    """Declared options of :class:`FloatPoolStaffing` (name, domain, default, description)."""
    options = [
        ("units", PositiveInt, None, "Units U."),
        ("float_group", _IndexArray(0), None, "(N,) float group of each node (groups 0..G-1, each used)."),
        ("booking_group", _IndexArray(-1), None, "(N,) booking group whose agency nurses each node counts; -1: none."),
        ("booking_groups", NonNegativeInt, None, "Booking groups B (a group may feed no node)."),
        ("pool", NonNegativeInt, None, "Float nurses one float group shares [nurses]."),
        ("float_cap", _IndexArray(0), None, "(U,) most float nurses a unit takes [nurses]."),
        ("agency_cap", _IndexArray(0), None, "(U,) most agency nurses booked for a unit [nurses]."),
        ("agency_wage", NonNegativeFloat, None, "Cost of one agency booking [USD / nurse]."),
        ("cost", FiniteArray(3), None, "(N, U, 1 + max(agency_cap + float_cap)) recourse cost of node n and unit u "
                                       "with j nurses beyond the node's base, weighted [USD]."),
        ("shows", FiniteArray(3), None, "(N, U, 1 + max(agency_cap)) agency nurses present at node n if its group "
                                        "booked a; None: show_rate x a [nurses]."),
        ("show_rate", _unit_interval_rate, 1.0, "Agency nurses counted per booking without shows [nurses / nurse]."),
        ("integer_floats", FiniteArray(1), None, "(G,) 1 where a float group's floats are integer; default all."),
        ("binary_levels", Bool, False, "Binary lambdas: needed when a cost table is not convex in j."),
        ("bookable", FiniteArray(1), None, "(B,) 1 where a booking group may book, 0 where not; default ones."),
        ("offset", NonNegativeFloat, 0.0, "Cost no decision changes (diversions) [USD]."),
    ]
    config = ConfigDict(description="Options of the FloatPoolStaffing block")
    for name, domain, default, description in options:
        config.declare(name, ConfigValue(domain=domain, default=default, description=description))
    return config


_REQUIRED = ("units", "float_group", "booking_group", "booking_groups", "pool", "float_cap", "agency_cap",
             "agency_wage", "cost")


@declare_formulation("FloatPoolStaffing")
class FloatPoolStaffingData(FormulationData):
    """Data class of the :class:`FloatPoolStaffing` block (see the module docstring).

    Options (keywords of ``FloatPoolStaffing(...)``)
    ------------------------------------------------
    units : int
        Units U.
    float_group, booking_group : array_like of int, shape (N,)
        Float group (``0..G-1``, every group used) and feeding booking group (``-1``: none) of each node.
    booking_groups : int
        Booking groups B.
    pool : int
        Float nurses a float group shares [nurses].
    float_cap, agency_cap : array_like of int, shape (U,)
        Most float nurses a unit takes, most agency nurses booked for it [nurses].
    agency_wage : float
        Cost of one booking [USD / nurse].
    cost : array_like, shape (N, U, 1 + max_u(agency_cap + float_cap))
        Weighted recourse cost of node ``n``, unit ``u`` with ``j`` nurses beyond its base [USD]; entries
        beyond ``agency_cap[u] + float_cap[u]`` are ignored. Convex in ``j`` unless ``binary_levels``.
    shows : array_like, shape (N, U, 1 + max(agency_cap)), optional
        Agency nurses present at node ``n`` when its group booked ``a``, ``0 <= shows <= a`` (random
        show-ups, one binary per level); default none: a booking counts ``show_rate x a`` nurses.
    show_rate : float, default 1
        Nurses a booking counts without ``shows``.
    integer_floats : array_like, shape (G,), optional
        1 where a group's floats are integer (default all). With convex tables, continuous floats of a
        group no other decision reads lose nothing: the optimum of a separable convex allocation of an
        integer pool is integral.
    binary_levels : bool, default False
        Binary lambdas (for tables not convex in ``j``).
    bookable : array_like, shape (B,), optional
        1 where a group may book, 0 where it must book nobody (the last shift); default ones.
    offset : float, default 0
        Decision-independent cost added to ``cost`` [USD].

    Components
    ----------
    floats, book, level, pick : Var
        Float nurses per group and unit, bookings per group and unit, lambdas per node, unit and level,
        and (random show-ups only) the booked level's binary.
    cost_table, shows_table, bookable_flag, offset_value : Param
        The mutable data (set by :meth:`set_costs`, :meth:`set_shows`, :meth:`set_bookable`,
        :meth:`set_offset`).
    pool_limit, book_limit, one_level, staffing (, one_booking, book_count) : Constraint
    cost : Expression
        Bookings' wages plus the nodes' weighted recourse plus the offset [USD].
    """

    CONFIG = _config()

    @classmethod
    def validate_config(cls, config: ConfigDict, owner: str) -> None:
        """Check required options and their shapes and ranges."""
        require_options(config, _REQUIRED, owner)
        U, N = config.units, len(config.float_group)
        if N == 0:
            raise bad_value(owner, "float_group", "at least one node", [])
        if len(config.booking_group) != N:
            raise bad_value(owner, "booking_group", f"{N} entries (one per node)", len(config.booking_group))
        groups = int(config.float_group.max()) + 1
        if len(np.unique(config.float_group)) != groups:
            raise bad_value(owner, "float_group", "groups numbered 0..G-1, each used", config.float_group.tolist())
        if np.any(config.booking_group >= config.booking_groups):
            raise bad_value(owner, "booking_group", f"groups below booking_groups = {config.booking_groups}",
                            config.booking_group.tolist())
        for name in ("float_cap", "agency_cap"):
            if len(config[name]) != U:
                raise bad_value(owner, name, f"{U} entries (one per unit)", config[name].tolist())
        if config.cost.shape != cls.cost_shape(config):
            raise bad_value(owner, "cost", f"an array of shape {cls.cost_shape(config)}", f"shape {config.cost.shape}")
        if not config.binary_levels:
            _check_convex(config.cost, config.agency_cap + config.float_cap, owner)
        if config.shows is not None:
            _check_shows(config.shows, cls.shows_shape(config), config.agency_cap, owner)
        if config.integer_floats is None:
            config.integer_floats = np.ones(groups)
        if config.integer_floats.shape != (groups,):
            raise bad_value(owner, "integer_floats", f"an array of shape ({groups},)",
                            f"shape {config.integer_floats.shape}")
        if config.binary_levels and not np.all(config.integer_floats == 1):
            raise bad_value(owner, "integer_floats", "all 1 with binary_levels (non-convex tables need integer "
                            "staffing)", config.integer_floats.tolist())
        if config.bookable is None:
            config.bookable = np.ones(config.booking_groups)
        _check_flags(config.bookable, config.booking_groups, owner)

    @staticmethod
    def cost_shape(config: ConfigDict) -> tuple[int, int, int]:
        return (len(config.float_group), config.units, int((config.agency_cap + config.float_cap).max()) + 1)

    @staticmethod
    def shows_shape(config: ConfigDict) -> tuple[int, int, int]:
        return (len(config.float_group), config.units, int(config.agency_cap.max()) + 1)

    def build(self, *args: Any) -> None:
        """Declare parameters, variables, constraints and ``cost``."""
        super().build(*args)
        config = self.config
        U = config.units
        F, A = config.float_cap, config.agency_cap
        J = A + F
        fg, bg = config.float_group, config.booking_group
        N, G, B = len(fg), int(fg.max()) + 1, config.booking_groups
        random_shows = config.shows is not None
        check_memory(f"the float-pool staffing block of {N:,} nodes x {U} units", _BYTES_PER_ROW * N * int(
            (J + 2).sum()), "use fewer sample paths or a shorter lookahead")
        self._levels = [(n, u, j) for n in range(N) for u in range(U) for j in range(int(J[u]) + 1)]
        # Flat positions of the levels in the (N, U, J+1) table, for setting all of them in one go.
        self._level_flat = np.ravel_multi_index(np.array(self._levels).T, self.cost_shape(config))
        self._fed = [(n, u) for n in range(N) if bg[n] >= 0 for u in range(U)]

        self.cost_table = pyo.Param(self._levels, initialize=self._by_level(config.cost), mutable=True,
                                doc="Weighted recourse cost of node n, unit u at j nurses beyond its base [USD]")
        self.bookable_flag = pyo.Param(range(B), initialize=dict(enumerate(config.bookable.tolist())), mutable=True,
                                   doc="1 where booking group b may book, else 0")
        self.offset_value = pyo.Param(initialize=config.offset, mutable=True, doc="Decision-independent cost [USD]")

        integer = config.integer_floats
        self.floats = pyo.Var(range(G), range(U), bounds=lambda b, g, u: (0, int(F[u])),
                          domain=lambda b, g, u: pyo.NonNegativeIntegers if integer[g] else pyo.NonNegativeReals,
                          initialize=0, doc="Float nurses sent to unit u by float group g [nurses]")
        self.book = pyo.Var(range(B), range(U), bounds=lambda b, g, u: (0, int(A[u])), domain=pyo.NonNegativeIntegers,
                        initialize=0, doc="Agency nurses booked for unit u by booking group b [nurses]")
        self.level = pyo.Var(self._levels, domain=pyo.Binary if config.binary_levels else pyo.UnitInterval,
                         initialize=0, doc="Weight of staffing base + j at node n, unit u (convex combination)")

        self.pool_limit = pyo.Constraint(range(G), rule=lambda b, g: sum(b.floats[g, u] for u in range(U))
                                         <= config.pool, doc="Floats of a group within the pool [nurses]")
        self.book_limit = pyo.Constraint(range(B), range(U), rule=lambda b, g, u: b.book[g, u]
                                         <= int(A[u]) * b.bookable_flag[g],
                                         doc="No booking where the group may not book [nurses]")
        self.one_level = pyo.Constraint(
            [(n, u) for n in range(N) for u in range(U)],
            rule=lambda b, n, u: LinearExpression(constant=0, linear_coefs=[1.0] * (int(J[u]) + 1),
                                                  linear_vars=[b.level[n, u, j] for j in range(int(J[u]) + 1)]) == 1,
            doc="The lambdas of a node and unit sum to 1")
        if random_shows:
            picks = [(g, u, a) for g in range(B) for u in range(U) for a in range(int(A[u]) + 1)]
            self.pick = pyo.Var(picks, domain=pyo.Binary, initialize=0, doc="Group b books a nurses for unit u")
            self.shows_table = pyo.Param([(n, u, a) for n, u in self._fed for a in range(int(A[u]) + 1)],
                                     initialize=lambda b, n, u, a: float(config.shows[n, u, a]), mutable=True,
                                     doc="Agency nurses present at node n, unit u if a were booked [nurses]")
            self.one_booking = pyo.Constraint(range(B), range(U), rule=lambda b, g, u: sum(
                b.pick[g, u, a] for a in range(int(A[u]) + 1)) == 1, doc="One booked level per group and unit")
            self.book_count = pyo.Constraint(range(B), range(U), rule=lambda b, g, u: b.book[g, u] == sum(
                a * b.pick[g, u, a] for a in range(1, int(A[u]) + 1)), doc="Bookings of the picked level [nurses]")

        rate = config.show_rate

        def staffing(b: FloatPoolStaffingData, n: int, u: int) -> Any:
            levels = LinearExpression(constant=0, linear_coefs=[float(j) for j in range(int(J[u]) + 1)],
                                      linear_vars=[b.level[n, u, j] for j in range(int(J[u]) + 1)])
            agency: Any = 0
            if bg[n] >= 0:
                if random_shows:
                    agency = sum(b.shows_table[n, u, a] * b.pick[bg[n], u, a] for a in range(1, int(A[u]) + 1))
                else:
                    agency = rate * b.book[bg[n], u]
            return levels == b.floats[fg[n], u] + agency

        self.staffing = pyo.Constraint([(n, u) for n in range(N) for u in range(U)], rule=staffing,
                                       doc="Nurses beyond the base = floats + agency nurses present [nurses]")
        self.cost = pyo.Expression(
            expr=config.agency_wage * sum(self.book.values())
            + LinearExpression(constant=0, linear_coefs=[self.cost_table[i] for i in self._levels],
                               linear_vars=[self.level[i] for i in self._levels])
            + self.offset_value,
            doc="Agency wages + weighted recourse of the nodes + offset [USD]")

    # ------------------------------------------------------------------ data
    def _by_level(self, table: np.ndarray) -> dict[Hashable, float]:
        return dict(zip(self._levels, np.asarray(table, dtype=float).ravel()[self._level_flat].tolist()))

    def set_costs(self, table: Any) -> None:
        """Replace the weighted recourse tables (mutable; no rebuild).

        Parameters
        ----------
        table : array_like, shape (N, U, 1 + max(agency_cap + float_cap))
            As the option ``cost`` [USD].
        """
        owner = self._owner()
        array = checked_option(FiniteArray(3), table, owner, "cost")
        if array.shape != self.cost_shape(self.config):
            raise bad_value(owner, "cost", f"an array of shape {self.cost_shape(self.config)}", f"shape {array.shape}")
        if not self.config.binary_levels:
            _check_convex(array, self.config.agency_cap + self.config.float_cap, owner)
        # Shape and values are checked above; the unchecked store skips Pyomo's per-entry index checks.
        self.cost_table.store_values(self._by_level(array), check=False)

    def set_shows(self, shows: Any) -> None:
        """Replace the realised show-ups of every booking level (random show-ups only; mutable).

        Parameters
        ----------
        shows : array_like, shape (N, U, 1 + max(agency_cap))
            As the option ``shows`` [nurses].
        """
        owner = self._owner()
        if self.config.shows is None:
            raise ConfigurationError(f"{owner} was built without random show-ups: it has no shows to set.")
        array = checked_option(FiniteArray(3), shows, owner, "shows")
        _check_shows(array, self.shows_shape(self.config), self.config.agency_cap, owner)
        keys = list(self.shows_table.keys())
        self.shows_table.store_values(dict(zip(keys, array[tuple(np.array(keys).T)].tolist())), check=False)

    def set_bookable(self, flags: Any) -> None:
        """Set which booking groups may book (1) or not (0); shape ``(B,)``."""
        owner = self._owner()
        array = checked_option(FiniteArray(1), flags, owner, "bookable")
        _check_flags(array, self.config.booking_groups, owner)
        self.bookable_flag.store_values(dict(enumerate(array.tolist())))

    def set_offset(self, offset: float) -> None:
        """Set the decision-independent cost [USD]."""
        self.offset_value.set_value(checked_option(NonNegativeFloat, offset, self._owner(), "offset"))

    def plan(self) -> tuple[np.ndarray, np.ndarray]:
        """Floats ``(G, U)`` and bookings ``(B, U)`` of the loaded solution, rounded [nurses]."""
        U = self.config.units
        floats = np.rint([v.value or 0.0 for v in self.floats.values()]).astype(np.int64).reshape(-1, U)
        book = np.rint([v.value or 0.0 for v in self.book.values()]).astype(np.int64).reshape(-1, U)
        return floats, book

    def _owner(self) -> str:
        return f"FloatPoolStaffing block {self.name!r}"


#: The block component: ``FloatPoolStaffing(**options)``.
FloatPoolStaffing = component_class(FloatPoolStaffingData)


def _check_convex(table: np.ndarray, levels: np.ndarray, owner: str) -> None:
    """Each row ``table[n, u, :levels[u] + 1]`` must be convex (second differences >= 0 up to rounding)."""
    scale = max(float(np.abs(table).max(initial=0.0)), 1.0)
    for u, top in enumerate(np.asarray(levels).tolist()):
        if top >= 2:
            second = np.diff(table[:, u, :top + 1], n=2, axis=-1)
            if np.any(second < -_CONVEXITY_RTOL * scale):
                n = int(np.argwhere(second < -_CONVEXITY_RTOL * scale)[0, 0])
                raise bad_value(owner, "cost", "tables convex in the nurses beyond the base (or binary_levels=True)",
                                f"a non-convex row at node {n}, unit {u}: {table[n, u, :top + 1].tolist()}")


def _check_shows(shows: np.ndarray, shape: tuple[int, ...], cap: np.ndarray, owner: str) -> None:
    if shows.shape != shape:
        raise bad_value(owner, "shows", f"an array of shape {shape}", f"shape {shows.shape}")
    levels = np.arange(shape[2])
    if np.any(shows > levels[None, None, :]) or np.any(shows != np.round(shows)):
        raise bad_value(owner, "shows", "integer show-ups between 0 and the level booked", "larger or fractional ones")


def _check_flags(flags: np.ndarray, groups: int, owner: str) -> None:
    if flags.shape != (groups,) or not np.all(np.isin(flags, (0.0, 1.0))):
        raise bad_value(owner, "bookable", f"{groups} flags of 0 or 1", flags.tolist())


# ---------------------------------------------------------------------- the scenario's data
def recourse_table(scenario: Scenario, unit: int, nurses: int) -> np.ndarray:
    """A unit's recourse cost of a shift by census and nurses present, from the scenario's own recourse.

    Parameters
    ----------
    scenario : FloatPoolScenario
    unit : int
    nurses : int
        Largest nurses present covered.

    Returns
    -------
    ndarray, shape (beds + 1, nurses + 1)
        ``overtime_wage x overtime + shortage_cost x patients above ratio + idle_cost x idle nurses`` at census
        ``c`` and ``s`` nurses present (:func:`optalloc.families.staff.floatpool.shift_outcome`) [USD].
    """
    from optalloc.families.staff.floatpool import shift_outcome

    p = scenario.params
    census = np.arange(int(scenario.beds[unit]) + 1)[:, None]
    staff = np.arange(nurses + 1)[None, :]
    out = shift_outcome(census, staff, scenario.ratio[unit], scenario.overtime_cap[unit])
    return scenario.overtime_wage * out["overtime"] + p.shortage_cost * out["above_ratio"] + p.idle_cost * out["idle"]


def realised_paths(scenario: Scenario, noise: Noise) -> dict[str, np.ndarray]:
    """Each path's census, rostered nurses present and agency show-ups of every booking level, by the step.

    Census and rostered absences do not depend on decisions, and the agency nurses present in shift
    ``t + 1`` depend only on the booking of shift ``t``; so the scenario's :meth:`step`, run with every
    booking level at once, gives all a plan can meet on the path.

    Parameters
    ----------
    scenario : FloatPoolScenario
    noise : dict of ndarray
        ``E`` noise paths (:meth:`FloatPoolScenario.sample_noise`).

    Returns
    -------
    dict of ndarray
        ``census``, ``rostered`` ``(E, T, U)`` [patients, nurses]; ``shows`` ``(E, T, U, A + 1)`` agency
        nurses present in shift ``t`` had ``a`` been booked in shift ``t - 1`` (0 in shift 0) [nurses];
        ``diverted_cost`` ``(E,)`` diversion cost of the path [USD].
    """
    T, U = scenario.horizon, scenario.n_units
    E = len(next(iter(noise.values())))
    levels = int(scenario.agency_cap.max()) + 1
    tiled = {key: np.concatenate([np.asarray(value)] * levels, axis=0) for key, value in noise.items()}
    state = scenario.initial_state(E * levels)
    action = np.zeros((E * levels, 2 * U), dtype=np.int64)
    action[:, U:] = np.repeat(np.arange(levels), E)[:, None]  # the step clips a level to each unit's cap
    census, rostered = np.empty((E, T, U), dtype=np.int64), np.empty((E, T, U), dtype=np.int64)
    shows = np.zeros((E, T, U, levels), dtype=np.int64)
    diverted = np.zeros(E)
    for t in range(T):
        census[:, t], rostered[:, t] = state["census"][:E], state["rostered"][:E]
        shows[:, t] = state["agency"].reshape(levels, E, U).transpose(1, 2, 0)
        state, _, info = scenario.step(t, state, action, scenario.noise_at(tiled, t))
        diverted += info["diverted"][:E]
    return {"census": census, "rostered": rostered, "shows": shows,
            "diverted_cost": scenario.params.diversion_cost * diverted}


def observed_state(scenario: Scenario, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Census and nurses present (rostered + agency) per unit of one observation [patients, nurses].

    Costs and dynamics depend on a unit's nurses only through the rostered and agency nurses present together.
    """
    U = scenario.n_units
    obs = np.rint(np.asarray(observation, dtype=float)).astype(np.int64)
    return obs[1:1 + U], obs[1 + U:1 + 2 * U] + obs[1 + 2 * U:1 + 3 * U]


# ---------------------------------------------------------------------- the planner
class FloatPoolPlanner:
    """Lookahead and sample-average staffing models of one float-pool scenario (see the module docstring).

    Parameters
    ----------
    scenario : FloatPoolScenario
        The scenario to plan for.
    lookahead : int, optional
        Shifts of the lookahead model, the current one included (>= 2: a booking pays off in the next
        shift); default the rest of the horizon.
    """

    def __init__(self, scenario: Scenario, lookahead: int | None = None) -> None:
        if lookahead is not None and (isinstance(lookahead, bool) or not isinstance(lookahead, (int, np.integer))
                                      or lookahead < 2):
            raise bad_value("FloatPoolPlanner", "lookahead", "an integer >= 2 (shifts, the current one included: a "
                            "booking pays off in the next shift) or None (the rest of the horizon)", lookahead)
        self.scenario = scenario
        self.lookahead = None if lookahead is None else int(lookahead)
        s = scenario
        self.units = s.n_units
        self.levels = (s.agency_cap + s.float_cap).astype(np.int64)  # nurses beyond the base, per unit
        self.top = int(s.roster.max())  # largest rostered nurses present
        # Recourse cost by census and nurses present, up to every nurse a unit can have.
        self.tables = [recourse_table(s, u, self.top + int(s.agency_cap[u]) + int(self.levels[u]))
                       for u in range(self.units)]
        self.convex = all(np.all(np.diff(table, n=2, axis=1) >= -_CONVEXITY_RTOL * max(table.max(), 1.0))
                          for table in self.tables)
        self.random_shows = s.params.agency_absence > 0
        self.show_rate = 1.0 - s.params.agency_absence
        self.kernels = [[s.census_kernel(u, shift)[0] for shift in range(3)] for u in range(self.units)]
        self.roster_pmf = [[s.present_pmf(u, shift, 0)[:int(s.roster[u, shift]) + 1] for shift in range(3)]
                           for u in range(self.units)]
        # Recourse by census and nurses beyond the rostered, in expectation over the rostered present of
        # each shift of day: (3, beds + 1, levels + 1) per unit.
        self.expected_tables = [np.stack([
            sum(pmf[b] * self.tables[u][:, b:b + int(self.levels[u]) + 1] for b in range(len(pmf)))
            for pmf in self.roster_pmf[u]]) for u in range(self.units)]
        self._start = observed_state(s, s.observe(0, s.initial_state(1))[0])

    @property
    def width(self) -> int:
        """Levels ``1 + max_u(agency_cap + float_cap)`` of every cost table."""
        return int(self.levels.max()) + 1

    def node_costs(self, census: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Recourse cost of nodes at ``base + j`` nurses, ``(n, U, width)``, from censuses and bases ``(n, U)`` [USD]."""
        census, base = np.asarray(census, dtype=np.int64), np.asarray(base, dtype=np.int64)
        out = np.zeros((len(census), self.units, self.width))
        for u in range(self.units):
            cols = np.minimum(base[:, u][:, None] + np.arange(self.width)[None, :], self.tables[u].shape[1] - 1)
            out[:, u] = self.tables[u][census[:, u][:, None], cols]
        return out

    # ------------------------------------------------------------ the block
    def staffing_model(self, float_group: np.ndarray, booking_group: np.ndarray, booking_groups: int, *,
                       cost: np.ndarray, shows: np.ndarray | None = None, integer_floats: np.ndarray | None = None,
                       bookable: np.ndarray | None = None, offset: float = 0.0, name: str = "") -> Any:
        """A model holding one :class:`FloatPoolStaffing` block ``staffing`` of this scenario and its objective."""
        s = self.scenario
        model = pyo.ConcreteModel(name=f"FloatPoolPlanner[{s.id}]{name}")
        model.staffing = FloatPoolStaffing(
            units=self.units, float_group=float_group, booking_group=booking_group, booking_groups=booking_groups,
            pool=int(s.params.pool), float_cap=s.float_cap, agency_cap=s.agency_cap, agency_wage=s.agency_wage,
            cost=cost, shows=shows, show_rate=self.show_rate,
            integer_floats=integer_floats, binary_levels=not self.convex, bookable=bookable, offset=offset)
        model.objective = pyo.Objective(expr=model.staffing.cost)
        return model

    # ------------------------------------------------------------ Planner
    def window(self, start: int) -> int:
        """Shifts of the lookahead model of shift ``start``: the lookahead, or fewer at the horizon's end."""
        T = self.scenario.horizon
        return T - start if self.lookahead is None else min(self.lookahead, T - start)

    def build(self, start: int) -> Any:
        """The lookahead model of shifts ``start..start + window - 1``, from the initial state's census and nurses.

        :meth:`update` sets an observed state; until then the census and nurses present are the initial ones.
        """
        T = self.scenario.horizon
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < T:
            raise bad_value("FloatPoolPlanner.build", "start", f"a shift in 0..{T - 1}", start)
        W = self.window(int(start))
        cost, bookable = self._lookahead_data(int(start), W, *self._start)
        return self.staffing_model(np.arange(W), np.arange(W) - 1, W, cost=cost, bookable=bookable,
                                   name=f"[{W} shifts]")

    def update(self, model: Any, epoch: int, observation: np.ndarray, info: Mapping[str, Any]) -> None:
        """Start the lookahead model at shift ``epoch`` from the observed census and nurses present.

        Nodes beyond the horizon (a model kept for the last shifts) cost nothing and book nobody.
        """
        W = len(model.staffing.config.float_group)
        cost, bookable = self._lookahead_data(int(epoch), W, *observed_state(self.scenario, observation))
        model.staffing.set_costs(cost)
        model.staffing.set_bookable(bookable)

    def _lookahead_data(self, epoch: int, W: int, census: np.ndarray, present: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
        """Cost tables ``(W, U, width)`` and booking flags ``(W,)`` of the window from shift ``epoch``."""
        T, U = self.scenario.horizon, self.units
        cost = np.zeros((W, U, self.width))
        cost[0] = self.node_costs(census[None], present[None])[0]
        for u in range(U):
            dist = self.kernels[u][epoch % 3][census[u]]  # census distribution of shift epoch + 1
            top = int(self.levels[u]) + 1
            for j in range(1, min(W, T - epoch)):
                t = epoch + j
                if j > 1:
                    dist = dist @ self.kernels[u][(t - 1) % 3]  # census distribution of shift t
                # E over census and rostered nurses present of the recourse with x nurses more, x = 0..levels.
                expected = dist @ self.expected_tables[u][t % 3]
                cost[j, u, :top] = expected
                cost[j, u, top:] = expected[-1]
        bookable = (epoch + np.arange(W) < T - 1).astype(float)
        return cost, bookable

    def decision(self, model: Any) -> np.ndarray:
        """Floats then bookings per unit of each modelled shift, shape ``(shifts, 2U)`` [nurses]."""
        floats, book = model.staffing.plan()
        return np.concatenate([floats, book[:len(floats)]], axis=1)

    def decision_variables(self, model: Any) -> Sequence[Any]:
        """The floats and bookings."""
        return [model.staffing.floats, model.staffing.book]

    def cache_key(self, epoch: int, observations: np.ndarray) -> np.ndarray:
        """Census and nurses present (rostered + agency) per unit: the models' state, shape ``(n, 2U)``."""
        U = self.units
        obs = np.rint(np.asarray(observations, dtype=float)).astype(np.int64)
        return np.concatenate([obs[:, 1:1 + U], obs[:, 1 + U:1 + 2 * U] + obs[:, 1 + 2 * U:1 + 3 * U]], axis=1)

    def covers(self, scenario: Scenario) -> str | None:
        """The models decide only in scenarios with this one's parameters (the horizon may be shorter)."""
        import dataclasses

        own = dataclasses.replace(self.scenario.params, days=0)
        other = getattr(scenario, "params", None)
        if other is None or type(other) is not type(self.scenario.params) \
                or dataclasses.replace(other, days=0) != own:
            return (f"its models hold the units, rosters, caps and costs of scenario {self.scenario.id}; "
                    f"scenario {scenario.id} has others")
        return None

    # ------------------------------------------------------------ SamplePlanner
    def build_saa(self, noise: Noise) -> Any:
        """The whole-horizon model of one plan on the ``E`` paths of ``noise`` (E = 1: perfect information)."""
        T, E = self.scenario.horizon, self._paths_count(noise)
        data = self._path_data(noise)
        nodes = np.arange(T * E)
        return self.staffing_model(nodes // E, nodes // E - 1, T, cost=data["cost"], shows=data.get("shows"),
                                   bookable=(np.arange(T) < T - 1).astype(float), offset=data["offset"],
                                   name="" if E == 1 else f"[{E} paths]")

    def update_saa(self, model: Any, noise: Noise) -> None:
        """Replace the paths (as many as the model was built with)."""
        built = len(model.staffing.config.float_group) // self.scenario.horizon
        if self._paths_count(noise) != built:
            raise bad_value("FloatPoolPlanner.update_saa", "noise", f"{built} paths (as the model was built with)",
                            f"{self._paths_count(noise)} paths")
        data = self._path_data(noise)
        model.staffing.set_costs(data["cost"])
        if "shows" in data:
            model.staffing.set_shows(data["shows"])
        model.staffing.set_offset(data["offset"])

    def _paths_count(self, noise: Noise) -> int:
        return len(next(iter(noise.values())))

    def _path_data(self, noise: Noise) -> dict[str, Any]:
        """Node data of the paths, node ``t * E + e``: cost tables, show-ups (random show-ups) and the offset."""
        s = self.scenario
        T, U, E = s.horizon, self.units, self._paths_count(noise)
        check_memory(f"the sample-average staffing model of {E:,} paths x {T} shifts of scenario {s.id}",
                     _BYTES_PER_ROW * E * T * float((self.levels + 2).sum()), "use fewer sample paths")
        paths = realised_paths(s, noise)
        census = paths["census"].transpose(1, 0, 2).reshape(T * E, U)
        rostered = paths["rostered"].transpose(1, 0, 2).reshape(T * E, U)
        shows = paths["shows"].transpose(1, 0, 2, 3).reshape(T * E, U, -1)
        # Without random show-ups a booking of a is a nurses present: the bases hold the rostered alone.
        data: dict[str, Any] = {"cost": self.node_costs(census, rostered) / E,
                                "offset": float(paths["diverted_cost"].mean())}
        if self.random_shows:
            data["shows"] = shows
        return data


def planner(scenario: Scenario, lookahead: int | None = None) -> FloatPoolPlanner:
    """The scenario's :class:`FloatPoolPlanner` (what ``FloatPoolScenario.planner()`` returns)."""
    return FloatPoolPlanner(scenario, lookahead)


def perfect_information(scenario: Scenario, noise: Noise, *, time_limit: float | None = None,
                        mip_rel_gap: float | None = 1e-9) -> tuple[np.ndarray, np.ndarray]:
    """Each episode's optimal floats and bookings knowing its whole noise path (the hindsight bound).

    One persistent model of one path (:meth:`FloatPoolPlanner.build_saa`); between episodes only the
    path's cost tables (and show-ups) change.

    Parameters
    ----------
    scenario : FloatPoolScenario
    noise : dict of ndarray
        ``E`` noise paths (:meth:`FloatPoolScenario.sample_noise`).
    time_limit : float, optional
        HiGHS time limit of each episode's solve [s].
    mip_rel_gap : float, optional
        Relative MIP gap at which HiGHS stops (dimensionless).

    Returns
    -------
    actions : ndarray of int, shape (E, horizon, 2U)
        Floats then bookings per unit of every shift.
    costs : ndarray, shape (E,)
        The optimal total cost of every episode [USD].

    Raises
    ------
    InfeasibleFormulation
        A solve ended without a solution (a time limit too short).
    """
    plans = FloatPoolPlanner(scenario)
    E, T = len(next(iter(noise.values()))), scenario.horizon
    actions = np.empty((E, T, 2 * scenario.n_units), dtype=np.int64)
    costs = np.empty(E)
    model = solver = None
    for i in range(E):
        path = {key: np.asarray(value)[i:i + 1] for key, value in noise.items()}
        if model is None:
            model = plans.build_saa(path)
            solver = parameter_solver(model, plans, time_limit=time_limit, mip_rel_gap=mip_rel_gap)
        else:
            plans.update_saa(model, path)
        result = solver.solve()
        actions[i] = plans.decision(model)
        costs[i] = result.objective
    return actions, costs


def parameter_solver(model: Any, plans: Any, *, time_limit: float | None, mip_rel_gap: float | None) -> Solver:
    """A persistent HiGHS for a model whose re-solves change mutable Params only, loading the decisions."""
    return Solver(model, time_limit=time_limit, mip_rel_gap=mip_rel_gap, load=list(plans.decision_variables(model)),
                  params_only=True)


# ---------------------------------------------------------------------- rolling policies on one model
class PersistentRollingPolicy(RollingHorizonPolicy):
    """Model predictive control of the float-pool scenario on ONE persistent model for every shift.

    The generic :class:`~optalloc.formulations.policies.RollingHorizonPolicy` keeps a model per start
    epoch; here the model of :meth:`_planner_for` covers the same number of shifts from any start (its
    nodes beyond the horizon cost nothing), so it is built once at ``fit`` and every decision only
    updates its mutable Params (:func:`parameter_solver`). Decisions are cached per
    ``(shift, census and nurses present)`` as in the generic policy.
    """

    tags = PolicyTags(method="math_programming", families=frozenset({"staff"}),
                      action_kinds=frozenset({"multi_discrete"}))
    #: Kind of the solve records.
    _kind = "replan"

    def _planner_for(self, scenario: Scenario, seed: int | None) -> Any:
        raise NotImplementedError

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        self._planner = self._planner_for(scenario, seed)
        self._table = scenario.action_table()
        self.solves_ = []
        model = self._planner.build(0)
        self._model = (model, self._solver(model))
        self._cache: dict[tuple[int, ...], np.ndarray] = {}

    def _solver(self, model: Any) -> Solver:
        return parameter_solver(model, self._planner, time_limit=self.time_limit, mip_rel_gap=self.mip_rel_gap)

    def _decide(self, epoch: int, key: tuple[int, ...], observation: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        full: Hashable = (epoch, *key)
        if full not in self._cache:
            model, solver = self._model
            self._planner.update(model, epoch, observation, info)
            self._solve(solver, self._kind, epoch, f"re-plan in shift {epoch} from the state observed as "
                                                 f"{np.asarray(observation).tolist()}")
            self._cache[full] = self._encode(self._planner.decision(model)[0])
        return self._cache[full]


class LookaheadPolicy(PersistentRollingPolicy):
    """Re-solve the lookahead MIP of the next shifts every shift and apply its first shift (``milp-lookahead``).

    The model (:meth:`FloatPoolPlanner.build`) staffs the current shift on its observed census and nurses
    present and each later shift of the window on its expected recourse cost given the observed census:
    the optimal plan fixed now over the window, re-made every shift.

    Parameters
    ----------
    lookahead : int, optional
        Shifts of the window, the current one included (>= 2); default 6 (two days). None: the rest of
        the horizon.
    time_limit : float, optional
        HiGHS time limit per solve [s].
    mip_rel_gap : float, optional
        Relative MIP gap at which HiGHS stops (dimensionless).

    Attributes
    ----------
    solves_ : list of SolveRecord
        Every re-plan so far (one per new (shift, state)).
    """

    def __init__(self, lookahead: int | None = 6, time_limit: float | None = None,
                 mip_rel_gap: float | None = 1e-9) -> None:
        super().__init__(time_limit=time_limit, mip_rel_gap=mip_rel_gap)
        self.lookahead = lookahead

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.lookahead is not None and (isinstance(self.lookahead, bool)
                                           or not isinstance(self.lookahead, (int, np.integer)) or self.lookahead < 2):
            raise bad_value(type(self).__name__, "lookahead", "an integer >= 2 (shifts, the current one included: a "
                            "booking pays off in the next shift) or None (the rest of the horizon)", self.lookahead)

    def _planner_for(self, scenario: Scenario, seed: int | None) -> FloatPoolPlanner:
        return FloatPoolPlanner(scenario, self.lookahead)
