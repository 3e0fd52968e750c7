"""CT-scanner scheduling over a day's remaining slots as a reusable Pyomo block.

Slots ``s = 0..H-1`` of one or more arrival paths ``e = 0..E-1``; types
``k = 0, 1, 2`` (OP, IP, NCEP). The block chooses how many waiting patients
of each type the scanners take in every slot, ``scan[s, k]``, one plan
shared by all paths (with ``E = 1`` it is that path's perfect-information
schedule; with ``E > 1`` the first stage of a sample-average model). Per path::

    waiting[e, 0, k]   = initial_waiting[e, k]
    waiting[e, s+1, k] = waiting[e, s, k] - scan[s, k] + joined[e, s, k]
    scan[s, k]        <= waiting[e, s, k]
    sum_k scan[s, k]  <= scanners - cep[e, s]

Arrivals ``arrivals[e, s, k]`` of slot ``s`` join after its scans. Without a
queue cap all of them join (``joined = arrivals``). With ``queue_cap`` the
queue keeps ``waiting[e, s+1, k] = min(waiting - scan + arrivals, cap)``::

    joined <= arrivals,  waiting[e, s+1, k] <= cap.

A type without waiting cost needs no more: its patients never scanned cost
``end_of_day_cost`` each whether turned away or left waiting, so the cost of
a plan does not depend on how many joined; and the simulator's queues (every
arrival joins while there is room) are at least the model's, so the plan stays
feasible there at the same cost. A type with a waiting cost would gain by
turning patients away while there is room, which the simulator never does;
one binary ``full[e, s, k]`` per slot then forces admission exactly::

    (1 - full) * arrivals <= joined,  waiting[e, s+1, k] >= cap * full.

Both hold as well for fractional (expected) arrivals.

The block never declares an active ``Objective``; it exposes ``cost`` (an
``Expression``, revenue units, minimised), the average over paths of::

    sum_s [ -(cep_revenue * cep[e, s] + revenue . scan[s])
            + waiting_cost . (waiting[e, s] - scan[s])
            + end_of_day_cost . (arrivals[e, s] - joined[e, s]) ]
    + end_of_day_cost . waiting[e, H]

i.e. the scenario's cost convention (cost = -net revenue). Arrivals, CEPs and
initial queues are mutable ``Param`` values, so a persistent
:class:`~optalloc.formulations.solve.Solver` re-solves after
:meth:`ScannerScheduleData.set_arrivals` and friends without a rebuild.
Scans are integer in the first ``integer_slots`` slots and continuous after
(a fluid plan of the later slots, for models on expected arrivals). The
waiting costs are fixed at construction: they decide which types need the
admission binaries.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pyomo.common.config import ConfigDict, ConfigValue, NonNegativeFloat, NonNegativeInt, PositiveInt
from pyomo.environ import (
    Binary,
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

from optalloc.exceptions import bad_value
from optalloc.formulations._block import (
    FiniteArray,
    FormulationData,
    checked_option,
    component_class,
    declare_formulation,
    require_options,
)

__all__ = ["ScannerSchedule", "ScannerScheduleData", "build_model"]

#: Waiting patient types, in the order of every type axis.
TYPES = 3
#: Options without a default.
_REQUIRED = ("slots", "scanners", "max_arrivals", "revenue", "end_of_day_cost", "arrivals", "cep",
             "initial_waiting")


def _optional_cap(data: Any) -> int | None:
    """Config domain: a positive integer or None."""
    if data is None:
        return None
    if isinstance(data, bool) or not isinstance(data, (int, np.integer)) or data < 1:
        raise ValueError("expected a positive integer or None")
    return int(data)


_optional_cap.domain_name = lambda: "a positive integer or None"  # type: ignore[attr-defined]


def _config() -> ConfigDict:
    """Declared options of :class:`ScannerSchedule` (name, domain, default, description)."""
    options = [
        ("slots", PositiveInt, None, "Slots H the block schedules [slots]."),
        ("paths", PositiveInt, 1, "Arrival paths E sharing the plan."),
        ("scanners", PositiveInt, None, "Scanners; each scans one patient a slot."),
        ("max_arrivals", PositiveInt, None, "Largest arrivals of one type in one slot [patients]."),
        ("revenue", FiniteArray(1), None, "Revenue per OP, IP, NCEP scan [revenue units]."),
        ("cep_revenue", NonNegativeFloat, 0.0, "Revenue per CEP scan [revenue units]."),
        ("end_of_day_cost", FiniteArray(1), None,
         "Cost per OP, IP, NCEP turned away or still waiting after the last slot [revenue units]."),
        ("waiting_cost", FiniteArray(1), None, "Cost per OP, IP, NCEP waiting after a slot's scans [revenue units]; "
                                          "default 0."),
        ("queue_cap", _optional_cap, None, "Most patients of one type that wait; None: no cap [patients]."),
        ("arrivals", FiniteArray(3), None, "(E, H, 3) OP, IP, NCEP joining the queues in each slot [patients]."),
        ("cep", FiniteArray(2), None, "(E, H) CEPs scanned in each slot [patients], at most scanners."),
        ("initial_waiting", FiniteArray(2), None, "(E, 3) OP, IP, NCEP waiting at the start of slot 0 [patients]."),
        ("integer_slots", NonNegativeInt, None, "First slots whose scans are integer; default all."),
    ]
    config = ConfigDict(description="Options of the ScannerSchedule block")
    for name, domain, default, description in options:
        config.declare(name, ConfigValue(domain=domain, default=default, description=description))
    return config


@declare_formulation("ScannerSchedule")
class ScannerScheduleData(FormulationData):
    """Data class of the :class:`ScannerSchedule` block (see the module docstring).

    Options (keywords of ``ScannerSchedule(...)``)
    ----------------------------------------------
    slots : int
        Slots H [slots].
    paths : int, default 1
        Arrival paths E sharing the plan.
    scanners : int
        Scanners.
    max_arrivals : int
        Largest arrivals of one type in one slot [patients].
    revenue, end_of_day_cost : array_like, shape (3,)
        Per OP, IP, NCEP [revenue units].
    cep_revenue : float, default 0
        Revenue per CEP scan [revenue units].
    waiting_cost : array_like, shape (3,), optional
        Per OP, IP, NCEP and slot [revenue units]; default zeros.
    queue_cap : int, optional
        Most patients of one type that wait [patients].
    arrivals : array_like, shape (E, H, 3)
        Arrivals of each path and slot [patients], at most ``max_arrivals``.
    cep : array_like, shape (E, H)
        CEPs of each path and slot [patients], at most ``scanners``.
    initial_waiting : array_like, shape (E, 3)
        Queues at the start of slot 0 [patients], at most ``queue_cap``.
    integer_slots : int, optional
        Slots ``0..integer_slots-1`` have integer scans, later ones continuous; default all.

    Components
    ----------
    slots, ends, types, paths : RangeSet
        Slots ``0..H-1``, slot starts ``0..H``, types ``0..2``, paths ``0..E-1``.
    arrivals, cep, initial_waiting, revenue, cep_revenue, end_of_day_cost : Param
        Mutable data (units in their ``doc``).
    waiting_cost : Param
        Fixed data [revenue units].
    scan, waiting : Var
        Scans per slot and type; queues at every slot start, per path.
    joined : Var or Expression
        Patients joining the queues per path, slot and type (the arrivals without a cap).
    full : Var
        Binary, the queue is full after the slot's arrivals (with a cap, types with a waiting cost only).
    cost : Expression
        Average cost over the paths [revenue units].
    """

    CONFIG = _config()

    @classmethod
    def validate_config(cls, config: ConfigDict, owner: str) -> None:
        """Check required options and their shapes and ranges."""
        require_options(config, _REQUIRED, owner)
        if config.waiting_cost is None:
            config.waiting_cost = np.zeros(TYPES)
        for name in ("revenue", "end_of_day_cost", "waiting_cost"):
            if config[name].shape != (TYPES,):
                raise bad_value(owner, name, "3 numbers (OP, IP, NCEP)", config[name].tolist())
        if config.integer_slots is None:
            config.integer_slots = config.slots
        _check_data(config, config.arrivals, config.cep, config.initial_waiting, owner)

    def build(self, *args: Any) -> None:
        """Declare sets, parameters, variables, constraints and ``cost``."""
        super().build(*args)
        c = self.config
        self.slots = RangeSet(0, c.slots - 1, doc="Slots s = 0..H-1")
        self.ends = RangeSet(0, c.slots, doc="Slot starts s = 0..H (H: after the last slot)")
        self.types = RangeSet(0, TYPES - 1, doc="Waiting types OP, IP, NCEP")
        self.paths = RangeSet(0, c.paths - 1, doc="Arrival paths e = 0..E-1")
        self._declare_params()
        self._declare_vars()
        self._declare_constraints()
        E = c.paths
        per_path = [
            sum(-self.cep_revenue * self.cep[e, s]
                + sum(self.waiting_cost[k] * (self.waiting[e, s, k] - self.scan[s, k])
                      + self.end_of_day_cost[k] * (self.arrivals[e, s, k] - self.joined[e, s, k])
                      for k in self.types)
                for s in self.slots)
            + sum(self.end_of_day_cost[k] * self.waiting[e, c.slots, k] for k in self.types)
            for e in self.paths]
        scans = sum(self.revenue[k] * self.scan[s, k] for s in self.slots for k in self.types)
        self.cost = Expression(expr=sum(per_path) / E - scans,
                               doc="Average over paths of -(revenue of scans, CEPs included) + waiting cost "
                                   "+ end-of-day cost of patients turned away or left waiting [revenue units]")

    def _declare_params(self) -> None:
        c = self.config
        self.arrivals = Param(self.paths, self.slots, self.types, mutable=True, within=NonNegativeReals,
                              initialize=_by_index(c.arrivals), doc="Patients arriving in slot s [patients]")
        self.cep = Param(self.paths, self.slots, mutable=True, within=NonNegativeReals,
                         initialize=_by_index(c.cep), doc="CEPs scanned in slot s [patients]")
        self.initial_waiting = Param(self.paths, self.types, mutable=True, within=NonNegativeReals,
                                     initialize=_by_index(c.initial_waiting),
                                     doc="Patients waiting at the start of slot 0 [patients]")
        for name, doc in (("revenue", "Revenue per scan [revenue units]"),
                          ("end_of_day_cost", "Cost per patient turned away or unscanned at day's end "
                                              "[revenue units]"),
                          ("waiting_cost", "Cost per patient waiting after a slot's scans [revenue units]")):
            # The waiting costs decide which types need admission binaries: fixed with the structure.
            setattr(self, name, Param(self.types, mutable=name != "waiting_cost", within=NonNegativeReals,
                                      initialize=_by_index(c[name]), doc=doc))
        self.cep_revenue = Param(mutable=True, within=NonNegativeReals, initialize=c.cep_revenue,
                                 doc="Revenue per CEP scan [revenue units]")

    def _declare_vars(self) -> None:
        c = self.config
        self.scan = Var(self.slots, self.types, bounds=(0, c.scanners), initialize=0,
                        domain=lambda block, s, k: NonNegativeIntegers if s < c.integer_slots else NonNegativeReals,
                        doc="Patients of type k scanned in slot s [patients]")
        self.waiting = Var(self.paths, self.ends, self.types, domain=NonNegativeReals,
                           doc="Patients of type k waiting at the start of slot s [patients]")
        if c.queue_cap is None:
            self.joined = Expression(self.paths, self.slots, self.types,
                                     rule=lambda block, e, s, k: block.arrivals[e, s, k],
                                     doc="Patients joining the queue in slot s: all arrivals [patients]")
        else:
            self.joined = Var(self.paths, self.slots, self.types, domain=NonNegativeReals,
                              doc="Patients joining the queue in slot s [patients]")
            # Admission is a choice only where it matters: types with a waiting cost (module docstring).
            self.forced_types = [k for k in self.types if c.waiting_cost[k] > 0]
            self.full = Var(self.paths, self.slots, self.forced_types, domain=Binary,
                            doc="1 when the queue is full after slot s's arrivals (types with a waiting cost)")

    def _declare_constraints(self) -> None:
        c = self.config
        index = (self.paths, self.slots, self.types)
        self.start = Constraint(self.paths, self.types,
                                rule=lambda b, e, k: b.waiting[e, 0, k] == b.initial_waiting[e, k],
                                doc="Queues at the start of slot 0 [patients]")
        self.balance = Constraint(
            *index, rule=lambda b, e, s, k: b.waiting[e, s + 1, k] == b.waiting[e, s, k] - b.scan[s, k]
            + b.joined[e, s, k], doc="Queue after slot s = before - scanned + joined [patients]")
        self.available = Constraint(*index, rule=lambda b, e, s, k: b.scan[s, k] <= b.waiting[e, s, k],
                                    doc="Only waiting patients are scanned [patients]")
        self.capacity = Constraint(
            self.paths, self.slots,
            rule=lambda b, e, s: sum(b.scan[s, k] for k in b.types) <= c.scanners - b.cep[e, s],
            doc="Scans fit on the scanners the CEPs leave free [patients]")
        if c.queue_cap is None:
            return
        cap = c.queue_cap
        self.admitted = Constraint(*index, rule=lambda b, e, s, k: b.joined[e, s, k] <= b.arrivals[e, s, k],
                                   doc="Only arrivals join [patients]")
        self.capped = Constraint(*index, rule=lambda b, e, s, k: b.waiting[e, s + 1, k] <= cap,
                                 doc="Queues hold at most queue_cap patients [patients]")
        forced = [(e, s, k) for e in self.paths for s in self.slots for k in self.forced_types]
        self.joined_unless_full = Constraint(
            forced, rule=lambda b, e, s, k: (1 - b.full[e, s, k]) * b.arrivals[e, s, k] <= b.joined[e, s, k],
            doc="All arrivals join unless the queue is full [patients]")
        self.full_if_flagged = Constraint(
            forced, rule=lambda b, e, s, k: b.waiting[e, s + 1, k] >= cap * b.full[e, s, k],
            doc="A queue flagged full holds queue_cap patients [patients]")

    # ------------------------------------------------------------------ data and solution

    def set_arrivals(self, arrivals: npt.ArrayLike, cep: npt.ArrayLike) -> None:
        """Replace every path's arrivals ``(E, H, 3)`` and CEPs ``(E, H)`` [patients] (no rebuild needed)."""
        c, owner = self.config, self._owner()
        arrivals = checked_option(FiniteArray(3), arrivals, owner, "arrivals")
        cep = checked_option(FiniteArray(2), cep, owner, "cep")
        _check_data(c, arrivals, cep, c.initial_waiting, owner)
        self.arrivals.store_values(_by_index(arrivals))
        self.cep.store_values(_by_index(cep))
        c.arrivals, c.cep = arrivals, cep

    def set_start(self, waiting: npt.ArrayLike, cep: float) -> None:
        """Start every path from queues ``waiting`` ``(3,)`` and ``cep`` CEPs in slot 0 [patients]."""
        c, owner = self.config, self._owner()
        waiting = np.broadcast_to(checked_option(FiniteArray(1), waiting, owner, "initial_waiting"), (c.paths, TYPES))
        first = np.array(c.cep, dtype=float)
        first[:, 0] = cep
        _check_data(c, c.arrivals, first, waiting, owner)
        self.initial_waiting.store_values(_by_index(waiting))
        for e in self.paths:
            self.cep[e, 0].set_value(float(cep))
        c.initial_waiting, c.cep = waiting, first

    def plan(self) -> np.ndarray:
        """Scans of the loaded solution, shape ``(H, 3)`` [patients], rounded down to whole patients.

        Integer slots are their rounded values; a continuous slot's plan is
        rounded down, which keeps it feasible (it still fits the scanners).
        """
        x = np.array([[value(self.scan[s, k]) for k in self.types] for s in self.slots], dtype=float)
        return np.floor(x + 1e-6).astype(np.int64)

    def _owner(self) -> str:
        return f"ScannerSchedule block {self.name!r}"


#: The block component: ``ScannerSchedule(**options)``; created with ScalarScannerSchedule and
#: IndexedScannerSchedule by ``declare_formulation``.
ScannerSchedule = component_class(ScannerScheduleData)


def build_model(**options: Any) -> ConcreteModel:
    """A stand-alone schedule model: ``model.schedule`` and ``objective = minimize schedule.cost``.

    Parameters
    ----------
    **options
        Options of :class:`ScannerSchedule` (see :class:`ScannerScheduleData`).
    """
    model = ConcreteModel(name="scanner_schedule")
    model.schedule = ScannerSchedule(**options)
    model.objective = Objective(expr=model.schedule.cost, sense=minimize, doc="Cost = -net revenue [revenue units]")
    return model


# ---------------------------------------------------------------------- checks


def _check_data(c: ConfigDict, arrivals: np.ndarray, cep: np.ndarray, waiting: np.ndarray, owner: str) -> None:
    """Shapes and ranges of the path data against the block's sizes."""
    E, H = c.paths, c.slots
    for name, array, shape in (("arrivals", arrivals, (E, H, TYPES)), ("cep", cep, (E, H)),
                               ("initial_waiting", waiting, (E, TYPES))):
        if array.shape != shape:
            raise bad_value(owner, name, f"an array of shape {shape}", f"shape {array.shape}")
    if np.any(arrivals > c.max_arrivals):
        raise bad_value(owner, "arrivals", f"at most max_arrivals = {c.max_arrivals} a slot", float(arrivals.max()))
    if np.any(cep > c.scanners):
        raise bad_value(owner, "cep", f"at most scanners = {c.scanners}", float(cep.max()))
    if c.queue_cap is not None and np.any(waiting > c.queue_cap):
        raise bad_value(owner, "initial_waiting", f"at most queue_cap = {c.queue_cap}", float(waiting.max()))


def _by_index(array: np.ndarray) -> dict[Any, float]:
    """``{index: value}`` of an array (scalar indices for 1-D)."""
    array = np.asarray(array, dtype=float)
    if array.ndim == 1:
        return {i: float(x) for i, x in enumerate(array)}
    return {idx: float(x) for idx, x in np.ndenumerate(array)}
