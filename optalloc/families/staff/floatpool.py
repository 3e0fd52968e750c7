"""Shift-by-shift nurse staffing of inpatient units with a float pool and agency nurses.

Description
-----------
A hospital staffs ``U`` inpatient units through three 8-hour shifts a day
(day 07-15, evening 15-23, night 23-07) for ``days`` days: ``3 x days``
decision epochs. Unit ``u`` has ``beds[u]`` beds, a census of patients and a
minimum licensed nurse-to-patient ratio, one nurse per ``ratio[u]`` patients
at all times (Cal. Code Regs. tit. 22 section 70217(a): ICU 1:2, step-down
1:3, telemetry 1:4, medical-surgical 1:5), so a census ``c`` needs
``n = ceil(c / ratio)`` nurses. Its base roster of ``base_roster[u]`` nurses
per shift was fixed weeks ahead; each rostered nurse misses a shift
independently with probability ``absence``. A float pool of ``pool`` nurses,
cross-trained for every unit, is sent where it is needed shift by shift, and
agency nurses can be booked one shift ahead.

Timing (one shift ``t``)
------------------------
1. The state holds each unit's census ``c``, its rostered nurses present
   ``b`` (this shift's absences are known) and its agency nurses present
   ``g`` (booked during shift ``t - 1``).
2. The decision sends ``f[u]`` float nurses to each unit for this shift and
   books ``a[u] <= agency_cap[u]`` agency nurses for the next shift (none in
   the last shift: its next shift lies beyond the horizon).
3. Recourse of the shift: a unit with ``s = b + g + f`` nurses calls
   ``o = min((n - s)^+, overtime_cap[u])`` of its staff on overtime
   (automatic, not a decision); ``(c - ratio (s + o))^+`` patients remain
   above the ratio and ``(s - n)^+`` nurses are idle.
4. Patients move: ``Binomial(c, p_dis)`` are discharged and ``Poisson(lambda)``
   admitted (rates of the shift of day); admissions beyond the beds are
   diverted, ``c' = min(c - d + k, beds)``.
5. The next shift's absences realise: ``b' ~ Binomial(R', 1 - absence)`` of
   its roster ``R'`` and ``g' ~ Binomial(a, 1 - agency_absence)`` of the
   booked agency nurses come.

The discharge probability of a shift is ``1 - exp(-discharge_share / los_days)``
(a patient's hazard of discharge is ``1 / los_days`` a day, spread over the
shifts of day by ``discharge_share``), the admission mean
``admissions_per_day x admission_share``. The first shift starts from
``initial_census`` with its full roster and no agency nurses.

Decision (action) space
-----------------------
``MultiDiscrete([float_cap[u] + 1] * U + [agency_cap[u] + 1] * U)``: float
nurses per unit, then agency bookings per unit (:meth:`FloatPoolScenario.action_table`).
The mask is per component: every float count allowed (``float_cap`` defaults
to the pool), agency bookings only 0 in the last shift. A sum of floats above
the pool cannot be masked component by component, so :meth:`FloatPoolScenario.step`
repairs it deterministically: units are served in index order and the floats
beyond the pool are dropped from the highest unit index down
(:meth:`FloatPoolScenario.repair_floats`).

Observation space
-----------------
``Box(1 + 3U,)``: ``[shift t, census of each unit, rostered nurses present in
each unit, agency nurses present in each unit]``;
:attr:`FloatPoolScenario.observation_scale` divides by ``[horizon, beds,
largest roster, agency cap]``.

Costs (USD)
-----------
Shift cost ``sum_u agency_wage a[u] + overtime_wage o[u] + shortage_cost x
(patients above ratio) + idle_cost x (idle nurses) + diversion_cost x
(diverted admissions)``, with ``agency_wage = agency_multiplier x wage`` and
``overtime_wage = overtime_multiplier x wage``. Agency nurses are paid when
booked (the booking binds, shown up or not). Rostered and float-pool nurses
are paid whatever the decisions, so their wages are left out; diversions do
not depend on staffing, so ``diversion_cost`` (default 0) only shifts every
policy's cost alike. No discounting; RL rewards are in thousands of USD.

Noise
-----
:meth:`FloatPoolScenario.sample_noise` draws, per episode, shift and unit,
four counter-based uniforms (:mod:`optalloc.sampling`): the admissions,
stored as counts inverted from the shift's Poisson CDF, and three uniforms the
step maps by inversion through the state-dependent binomials (discharges among
the census, rostered and agency nurses present). Every policy sees the same
patients and absences. The step inverts the CDF tables of
:meth:`FloatPoolScenario.census_kernel` and :meth:`FloatPoolScenario.present_pmf`,
whose differences are the exact model's probabilities: one source of the dynamics.

Exact model
-----------
Costs and dynamics depend on a unit's nurses only through ``b + g``, so a
tabular state is ``(census, nurses present)`` per unit; the columns of ``C_t``
are the actions of :meth:`FloatPoolScenario.tabular_actions` (every split of
at most ``pool`` floats with every booking). The model is offered (capability
``tabular_model``) when one stage has at most :data:`TABULAR_NONZEROS`
transition entries: ``staff/floatpool-small-v0``, not ``staff/floatpool-v0``.

Presets (parameters and sources: ``data/FLOATPOOL.md``)
--------------------------------------------------------
``staff/floatpool-v0``
    Medical-surgical (30 beds), telemetry (24), step-down (16) and ICU (12)
    units, a pool of 2, agency cap 3 and overtime cap 1 per unit, 14 days.
``staff/floatpool-small-v0``
    A medical-surgical unit of 8 beds (roster 1) and an ICU of 6 beds
    (roster 2), a pool of 1, agency cap 1, no overtime, 3 days: exact DP in seconds.

Version history
---------------
v0: initial version.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from scipy import sparse, stats

from optalloc import sampling
from optalloc.actions import ActionTable
from optalloc.checks import check_memory
from optalloc.exceptions import bad_value
from optalloc.kpis import KPISpec
from optalloc.scenario import Noise, Scenario, State, episode_keys
from optalloc.tabular import TabularModel
from optalloc.tags import ScenarioTags

#: Shifts of a day, in epoch order, and their start times [h].
SHIFTS: tuple[str, ...] = ("day", "evening", "night")
SHIFT_START: tuple[int, ...] = (7, 15, 23)
#: Largest number of transition entries of one stage for which the exact model is offered (about 0.8 GB to build).
TABULAR_NONZEROS = 20_000_000
#: Bytes per transition entry while a stage is built (COO triplets, then CSR).
_BYTES_PER_ENTRY = 40.0
#: Two shares summing to 1 within this count as a distribution.
_SHARE_TOLERANCE = 1e-9

#: Base wage of a nurse-shift: 8 h at the May 2023 median hourly wage of US registered nurses ($86,070 a year,
#: $41.38 an hour; BLS Occupational Employment and Wage Statistics) [USD].
_WAGE = 8 * 41.38

PRESETS: dict[str, dict[str, Any]] = {
    "floatpool-v0": {},
    "floatpool-small-v0": {
        "days": 3, "units": ("med-surg", "ICU"), "beds": (8, 6), "ratio": (5, 2), "los_days": (4.5, 3.5),
        "admissions_per_day": (1.1, 1.0), "base_roster": (1, 2), "pool": 1, "agency_cap": 1, "overtime_cap": 0,
    },
}


@dataclass(frozen=True)
class FloatPoolParams:
    """Parameters of the float-pool staffing scenario (units in brackets); defaults are ``staff/floatpool-v0``.

    Per-unit parameters take one value per unit, in the order of :attr:`units`;
    ``agency_cap``, ``overtime_cap`` and ``float_cap`` also take one number for every unit.
    """

    days: int = 14
    """Days of the horizon; 3 shifts (epochs) a day [days]."""
    units: tuple[str, ...] = ("med-surg", "telemetry", "step-down", "ICU")
    """Unit names (observation, action and KPI labels)."""
    beds: tuple[int, ...] = (30, 24, 16, 12)
    """Beds per unit; admissions beyond them are diverted [beds]."""
    ratio: tuple[float, ...] = (5, 4, 3, 2)
    """Most patients per licensed nurse (Cal. Code Regs. tit. 22 section 70217(a)) [patients / nurse]."""
    los_days: tuple[float, ...] = (4.5, 3.0, 3.0, 3.5)
    """Mean length of stay; discharge hazard ``1 / los_days`` a day [days]."""
    admissions_per_day: tuple[float, ...] = (5.5, 6.5, 4.0, 2.6)
    """Mean admissions a day per unit [patients / day]."""
    admission_share: tuple[float, float, float] = (0.45, 0.40, 0.15)
    """Share of a day's admissions in the day, evening and night shift (sums to 1)."""
    discharge_share: tuple[float, float, float] = (0.70, 0.25, 0.05)
    """Share of a day's discharge hazard in the day, evening and night shift (sums to 1)."""
    initial_census: tuple[int, ...] | None = None
    """Census at the first shift; ``None``: ``admissions_per_day x los_days`` rounded, at most the beds [patients]."""
    base_roster: tuple[Any, ...] = (5, 5, 4, 5)
    """Rostered nurses per unit: a number for every shift, or 3 (day, evening, night) [nurses]."""
    absence: float = 0.06
    """Probability that a rostered nurse misses a shift, independently."""
    agency_absence: float = 0.0
    """Probability that a booked agency nurse does not come, independently."""
    pool: int = 2
    """Float-pool nurses present every shift [nurses]."""
    float_cap: Any = None
    """Most float nurses one unit may take (a number, or one per unit); ``None``: the pool [nurses]."""
    agency_cap: Any = 3
    """Most agency nurses booked for one unit and shift (a number, or one per unit) [nurses]."""
    overtime_cap: Any = 1
    """Most staff a short unit can call on overtime in a shift (a number, or one per unit) [nurses]."""
    wage: float = _WAGE
    """Base wage of a nurse-shift [USD]."""
    agency_multiplier: float = 1.75
    """Agency wage as a multiple of the base wage."""
    overtime_multiplier: float = 1.5
    """Overtime wage as a multiple of the base wage (US Fair Labor Standards Act: 1.5)."""
    shortage_cost: float = 500.0
    """Cost per patient above the ratio after recourse, per shift [USD / patient-shift]."""
    idle_cost: float = 33.0
    """Cost per nurse present beyond the unit's need, per shift [USD / nurse-shift]."""
    diversion_cost: float = 0.0
    """Cost per admission diverted because the unit is full [USD / patient]."""


# ---------------------------------------------------------------- the shift's recourse and cost (one source)
def nurses_needed(census: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """``ceil(census / ratio)``: the nurses a census needs [nurses] (rounded first, so 10 / 2.5 stays 4)."""
    return np.ceil(np.round(np.asarray(census) / ratio, 9)).astype(np.int64)


def shift_outcome(census: np.ndarray, staff: np.ndarray, ratio: np.ndarray, overtime_cap: np.ndarray
                  ) -> dict[str, np.ndarray]:
    """Recourse of a shift: needs, overtime, patients above the ratio and idle nurses, elementwise.

    Parameters
    ----------
    census : ndarray of int
        Patients [patients].
    staff : ndarray of int
        Nurses present: rostered, agency and float [nurses].
    ratio, overtime_cap : ndarray
        Per-unit parameters, broadcast against ``census`` (the last axis runs over units).

    Returns
    -------
    dict of ndarray
        ``need`` [nurses], ``overtime`` [nurses], ``above_ratio`` [patients], ``idle`` [nurses].
    """
    need = nurses_needed(census, ratio)
    overtime = np.minimum(np.maximum(need - staff, 0), overtime_cap)
    # Whole patients a team may care for: floor(ratio x nurses), rounded first as in nurses_needed.
    capacity = np.floor(np.round(ratio * (staff + overtime), 9)).astype(np.int64)
    return {"need": need, "overtime": overtime, "above_ratio": np.maximum(census - capacity, 0),
            "idle": np.maximum(staff - need, 0)}


def _cdf_rows(pmf: np.ndarray, last: np.ndarray) -> np.ndarray:
    """CDF rows of pmfs, exactly 1 from each row's last support point ``last`` on (no rounding short of 1)."""
    cdf = np.minimum(np.cumsum(pmf, axis=-1), 1.0)
    return np.where(np.arange(pmf.shape[-1]) >= np.asarray(last)[..., None], 1.0, cdf)


def _binomial_cdfs(trials: np.ndarray, p: np.ndarray, width: int) -> np.ndarray:
    """``P(Binomial(trials, p) <= k)`` for ``k = 0 .. width-1``, shape ``(*trials.shape, width)``."""
    k = np.arange(width)
    trials = np.asarray(trials)
    return _cdf_rows(stats.binom.pmf(k, trials[..., None], np.asarray(p)[..., None]), trials)


def _invert(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws ``min{k : F(k) > u}`` = the number of CDF values ``<= u`` (rows of ``cdf`` per ``u``)."""
    return (cdf <= u[..., None]).sum(axis=-1).astype(np.int64)


def _pmf_of(cdf: np.ndarray) -> np.ndarray:
    """The pmf whose CDF rows are ``cdf`` (the exact probabilities of :func:`_invert`)."""
    return np.diff(cdf, axis=-1, prepend=0.0)


class FloatPoolScenario(Scenario):
    """Nurse staffing of several units with a float pool and agency nurses; see the module docstring for the card."""

    tags = ScenarioTags(family="staff", action_kind="multi_discrete", epoch_name="shift",
                        episode_name="staffing period", cost_unit="USD", cost_scale=1e3)
    params_class = FloatPoolParams
    horizon_parameter = "days"

    def __init__(self, scenario_id: str = "", **overrides: Any) -> None:
        super().__init__(scenario_id, **overrides)
        p = self.params
        U = len(p.units)
        self.n_units = U
        self.names = tuple(str(u) for u in p.units)
        self.beds = np.asarray(p.beds, dtype=np.int64)
        self.ratio = np.asarray(p.ratio, dtype=float)
        self.roster = np.array([np.broadcast_to(np.asarray(r, dtype=np.int64), (3,)) for r in p.base_roster])
        self.float_cap = self._per_unit(p.pool if p.float_cap is None else p.float_cap)
        self.agency_cap = self._per_unit(p.agency_cap)
        self.overtime_cap = self._per_unit(p.overtime_cap)
        self.agency_wage = p.agency_multiplier * p.wage
        self.overtime_wage = p.overtime_multiplier * p.wage
        share = np.asarray(p.discharge_share, dtype=float)
        self.discharge_probability = 1.0 - np.exp(-share[None, :] / np.asarray(p.los_days, dtype=float)[:, None])
        self.admission_mean = np.asarray(p.admissions_per_day, dtype=float)[:, None] * \
            np.asarray(p.admission_share, dtype=float)[None, :]
        if p.initial_census is None:
            start = np.rint(np.asarray(p.admissions_per_day, dtype=float) * np.asarray(p.los_days, dtype=float))
            self.initial_census = np.minimum(start.astype(np.int64), self.beds)
        else:
            self.initial_census = np.asarray(p.initial_census, dtype=np.int64)
        self._build_tables()
        self._columns = self._enumerate_actions()
        caps = {"planner", "perfect_information", "open_loop"}  # open_loop: the mask depends only on the shift
        if self._largest_stage_entries() <= TABULAR_NONZEROS:
            caps.add("tabular_model")
        self.tags = dataclasses.replace(type(self).tags, capabilities=frozenset(caps))

    def _per_unit(self, value: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=np.int64), (self.n_units,)).copy()

    # ------------------------------------------------------------ validation
    def _validate(self) -> None:
        p, owner = self.params, f"scenario {self.id}"

        def integer(value: Any) -> bool:
            return not isinstance(value, bool) and isinstance(value, (int, np.integer))

        def number(value: Any) -> bool:
            return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))

        if not integer(p.days) or p.days < 1:
            raise bad_value(owner, "days", "an integer >= 1", p.days)
        if not isinstance(p.units, (list, tuple)) or not p.units or not all(isinstance(u, str) and u for u in p.units) \
                or len(set(p.units)) != len(p.units):
            raise bad_value(owner, "units", "a non-empty list of distinct unit names", p.units)
        U = len(p.units)

        def per_unit(name: str, ok: Any, expected: str) -> None:
            value = getattr(p, name)
            if not isinstance(value, (list, tuple)) or len(value) != U or not all(ok(v) for v in value):
                raise bad_value(owner, name, f"{U} {expected} (one per unit of {list(p.units)})", value)

        per_unit("beds", lambda v: integer(v) and v >= 1, "integers >= 1")
        per_unit("ratio", lambda v: number(v) and v > 0, "positive numbers (patients per nurse)")
        per_unit("los_days", lambda v: number(v) and v > 0, "positive numbers (days)")
        per_unit("admissions_per_day", lambda v: number(v) and v >= 0, "non-negative numbers (patients a day)")
        per_unit("base_roster", lambda v: (integer(v) and v >= 0) or (
            isinstance(v, (list, tuple)) and len(v) == 3 and all(integer(x) and x >= 0 for x in v)),
            "non-negative integers, or lists of 3 (day, evening, night)")
        if p.initial_census is not None:
            per_unit("initial_census", integer, "integers")
            for name, c, b in zip(p.units, p.initial_census, p.beds):
                if not 0 <= c <= b:
                    raise bad_value(owner, "initial_census", f"between 0 and the beds of each unit ({name}: {b})",
                                    p.initial_census)
        for name in ("admission_share", "discharge_share"):
            value = getattr(p, name)
            if not isinstance(value, (list, tuple)) or len(value) != 3 or not all(number(v) and v >= 0 for v in value) \
                    or abs(sum(value) - 1.0) > _SHARE_TOLERANCE:
                raise bad_value(owner, name, "3 non-negative shares (day, evening, night) summing to 1", value)
        for name in ("absence", "agency_absence"):
            value = getattr(p, name)
            if not number(value) or not 0 <= value < 1:
                raise bad_value(owner, name, "a probability in [0, 1)", value)
        if not integer(p.pool) or p.pool < 0:
            raise bad_value(owner, "pool", "an integer >= 0", p.pool)
        for name in ("float_cap", "agency_cap", "overtime_cap"):
            value = getattr(p, name)
            if name == "float_cap" and value is None:
                continue
            values = value if isinstance(value, (list, tuple)) else [value]
            if (isinstance(value, (list, tuple)) and len(value) != U) or not all(integer(v) and v >= 0 for v in values):
                raise bad_value(owner, name, f"an integer >= 0 or {U} of them (one per unit)", value)
            if name == "float_cap" and max(values) > p.pool:
                raise bad_value(owner, name, f"at most the pool of {p.pool} nurses (a unit cannot take more "
                                "float nurses than the pool holds)", value)
        for name in ("wage", "agency_multiplier", "overtime_multiplier", "shortage_cost", "idle_cost",
                     "diversion_cost"):
            value = getattr(p, name)
            if not number(value) or value < 0:
                raise bad_value(owner, name, "a non-negative number", value)

    # ------------------------------------------------------------ spaces
    @property
    def horizon(self) -> int:
        return 3 * self.params.days

    @property
    def action_space(self) -> spaces.MultiDiscrete:
        return spaces.MultiDiscrete(np.concatenate([self.float_cap + 1, self.agency_cap + 1]))

    @property
    def observation_space(self) -> spaces.Box:
        high = np.concatenate([[self.horizon], self.beds, self.roster.max(axis=1), self.agency_cap]).astype(float)
        return spaces.Box(low=np.zeros_like(high), high=high, dtype=np.float64)

    @property
    def observation_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("shift", *(f"census_{u}" for u in self.names), *(f"rostered_{u}" for u in self.names),
                *(f"agency_{u}" for u in self.names))

    @property
    def observation_scale(self) -> np.ndarray:
        """``[horizon, beds, largest roster, agency cap]`` [shifts, patients, nurses, nurses], each at least 1."""
        return np.maximum(self.observation_space.high, 1.0)

    @property
    def cost_scale(self) -> float:
        """RL rewards in thousands of USD (a shift costs up to a few thousand)."""
        return 1e3

    def action_table(self) -> ActionTable:
        """Float nurses sent to each unit for this shift, then agency nurses booked for each unit's next shift."""
        return ActionTable(tuple(f"float to {u}" for u in self.names) + tuple(f"agency for {u}" for u in self.names))

    # ------------------------------------------------------------ dynamics (the one source)
    def _build_tables(self) -> None:
        """The CDF tables the step inverts and whose differences the exact model uses."""
        p, U = self.params, self.n_units
        width = int(self.beds.max()) + 1
        census = np.arange(width)
        # Discharges: row c of unit u and shift s is the CDF of Binomial(c, p_dis[u, s]).
        self._discharge_cdf = _binomial_cdfs(census[None, None, :], self.discharge_probability[:, :, None], width)
        # Admissions: the Poisson CDF of each unit and shift, up to where it is 1 in double precision.
        lam = self.admission_mean
        top = int(np.ceil((lam + 15 * np.sqrt(lam) + 20).max()))
        pmf = stats.poisson.pmf(np.arange(top + 1)[None, None, :], lam[:, :, None])
        last = np.argmax(np.cumsum(pmf, axis=-1) >= 1.0, axis=-1)
        last = np.where(np.cumsum(pmf, axis=-1)[..., -1] >= 1.0, last, top)
        self._admission_cdf = _cdf_rows(pmf, last)
        # Rostered nurses present: Binomial(R[u, s], 1 - absence) for each unit and shift of day.
        self._roster_cdf = _binomial_cdfs(self.roster, np.full((U, 3), 1.0 - p.absence), int(self.roster.max()) + 1)
        # Agency nurses present among a booked: Binomial(a, 1 - agency_absence).
        cap = int(self.agency_cap.max()) + 1
        self._agency_cdf = _binomial_cdfs(np.arange(cap), np.full(cap, 1.0 - p.agency_absence), cap)

    def shift_of_day(self, t: int) -> int:
        """0 (day), 1 (evening) or 2 (night): the shift of day of epoch ``t``."""
        return t % 3

    def census_kernel(self, unit: int, shift: int) -> tuple[np.ndarray, np.ndarray]:
        """One unit's census transition during a shift of day, from the step's own CDF tables.

        Parameters
        ----------
        unit : int
        shift : int
            Shift of day, 0 (day), 1 (evening), 2 (night).

        Returns
        -------
        kernel : ndarray, shape (beds + 1, beds + 1)
            ``kernel[c, c'] = P(next census c' | census c)`` [patients].
        diverted : ndarray, shape (beds + 1,)
            Expected admissions diverted from census ``c`` [patients].
        """
        B = int(self.beds[unit])
        discharge = _pmf_of(self._discharge_cdf[unit, shift, :B + 1, :B + 1])  # [c, d]
        admit = _pmf_of(self._admission_cdf[unit, shift])  # [k]
        kernel = np.zeros((B + 1, B + 1))
        diverted = np.zeros(B + 1)
        k = np.arange(admit.size)
        for c in range(B + 1):
            remaining = c - np.arange(c + 1)  # after d = 0 .. c discharges
            total = remaining[:, None] + k[None, :]  # census before the cap, (d, k)
            prob = discharge[c, :c + 1, None] * admit[None, :]
            np.add.at(kernel[c], np.minimum(total, B).ravel(), prob.ravel())
            diverted[c] = float((prob * np.maximum(total - B, 0)).sum())
        return kernel, diverted

    def present_pmf(self, unit: int, shift: int, booked: int) -> np.ndarray:
        """Pmf of the nurses present in a unit's shift with ``booked`` agency nurses, from the step's CDF tables.

        Parameters
        ----------
        unit : int
        shift : int
            Shift of day of the shift staffed.
        booked : int
            Agency nurses booked for it, ``0 .. agency_cap``.

        Returns
        -------
        ndarray, shape (roster + agency_cap + 1,)
            ``P(rostered present + agency present = n)`` [nurses].
        """
        R, cap = int(self.roster[unit, shift]), int(self.agency_cap[unit])
        rostered = _pmf_of(self._roster_cdf[unit, shift, :R + 1])
        agency = _pmf_of(self._agency_cdf[booked, :booked + 1])
        out = np.zeros(R + cap + 1)
        out[:R + booked + 1] = np.convolve(rostered, agency)
        return out

    def repair_floats(self, floats: np.ndarray) -> np.ndarray:
        """Floats actually sent: units served in index order, those beyond the pool dropped from the last unit down.

        Parameters
        ----------
        floats : ndarray of int, shape (n, U)
            Float nurses asked for each unit.

        Returns
        -------
        ndarray of int, shape (n, U)
            ``min(f[u], pool - sum of the floats kept for units before u)``.
        """
        floats = np.clip(np.asarray(floats, dtype=np.int64), 0, self.float_cap)
        before = np.cumsum(floats, axis=1) - floats
        return np.clip(self.params.pool - before, 0, floats)

    def initial_state(self, n: int) -> State:
        return {"census": np.tile(self.initial_census, (n, 1)), "rostered": np.tile(self.roster[:, 0], (n, 1)),
                "agency": np.zeros((n, self.n_units), dtype=np.int64)}

    def sample_noise(self, seed: int, episodes: int, stream: str = "evaluate") -> Noise:
        """Admissions ``(E, T, U)`` as counts, and the uniforms of discharges and presences ``(E, T, U)`` each."""
        T, U = self.horizon, self.n_units
        shift_keys = sampling.subkeys(episode_keys(seed, episodes, stream), T)  # (E, T)
        u = sampling.uniforms(sampling.subkeys(shift_keys.ravel(), 4 * U)).reshape(episodes, T, 4, U)
        rows = self._admission_cdf[np.arange(U)[None, :], (np.arange(T) % 3)[:, None]]  # (T, U, K)
        return {"admissions": _invert(rows[None], u[:, :, 0]), "discharge_u": u[:, :, 1],
                "rostered_u": u[:, :, 2], "agency_u": u[:, :, 3]}

    def step(self, t: int, state: State, action: np.ndarray, noise: Noise) -> tuple[State, np.ndarray, dict[str, np.ndarray]]:
        p, U = self.params, self.n_units
        s, nxt = t % 3, (t + 1) % 3
        action = np.asarray(action, dtype=np.int64)
        floats = self.repair_floats(action[:, :U])
        # Feasibility is the mask's (check_actions); the clip only keeps table lookups in range.
        booked = np.clip(action[:, U:], 0, self.agency_cap)
        census = state["census"]
        staff = state["rostered"] + state["agency"] + floats
        out = shift_outcome(census, staff, self.ratio, self.overtime_cap)
        units = np.arange(U)[None, :]
        discharged = _invert(self._discharge_cdf[units, s, census], noise["discharge_u"])
        before_cap = census - discharged + noise["admissions"]
        next_census = np.minimum(before_cap, self.beds)
        diverted = before_cap - next_census
        rostered = _invert(self._roster_cdf[units, nxt], noise["rostered_u"])
        agency = _invert(self._agency_cdf[booked], noise["agency_u"])
        cost = (self.agency_wage * booked.sum(axis=1) + self.overtime_wage * out["overtime"].sum(axis=1)
                + p.shortage_cost * out["above_ratio"].sum(axis=1) + p.idle_cost * out["idle"].sum(axis=1)
                + p.diversion_cost * diverted.sum(axis=1))
        info: dict[str, np.ndarray] = {
            "total_cost": cost, "agency": booked.sum(axis=1), "overtime": out["overtime"].sum(axis=1),
            "above_ratio": out["above_ratio"].sum(axis=1), "idle": out["idle"].sum(axis=1),
            "diverted": diverted.sum(axis=1), "floats": floats.sum(axis=1),
            "admitted": noise["admissions"].sum(axis=1), "discharged": discharged.sum(axis=1)}
        for u, name in enumerate(self.names):
            info[f"need_{name}"] = out["need"][:, u]
            info[f"staffed_{name}"] = staff[:, u]
            info[f"float_{name}"] = floats[:, u]
            info[f"booked_{name}"] = booked[:, u]
        return {"census": next_census, "rostered": rostered, "agency": agency}, cost, info

    def observe(self, t: int, state: State) -> np.ndarray:
        n = len(state["census"])
        return np.concatenate([np.full((n, 1), float(t)), state["census"], state["rostered"], state["agency"]],
                              axis=1).astype(float)

    def action_mask(self, t: int, state: State) -> np.ndarray:
        n = len(state["census"])
        mask = np.ones((n, int(self.action_space.nvec.sum())), dtype=bool)
        if t == self.horizon - 1:
            # No shift follows the last one: only "book nobody" is allowed.
            start = int(self.float_cap.sum() + self.n_units)
            for cap in self.agency_cap:
                mask[:, start + 1:start + cap + 1] = False
                start += int(cap) + 1
        return mask

    # ------------------------------------------------------------ KPIs
    def kpis(self, trajectory: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per staffing period: total cost, agency and overtime nurse-shifts, patient-shifts above ratio, idle, diversions."""
        return {key: trajectory[key].sum(axis=1).astype(float) for key in self.kpi_specs()}

    def kpi_specs(self) -> dict[str, KPISpec]:
        return {
            "total_cost": KPISpec("USD", "total staffing cost", "{:,.0f}"),
            "agency": KPISpec("nurse-shifts", "agency nurses booked", "{:,.2f}"),
            "overtime": KPISpec("nurse-shifts", "overtime called", "{:,.2f}"),
            "above_ratio": KPISpec("patient-shifts", "patients above the ratio", "{:,.2f}"),
            "idle": KPISpec("nurse-shifts", "nurses beyond need", "{:,.2f}"),
            "diverted": KPISpec("patients", "admissions diverted (unit full)", "{:,.2f}"),
        }

    def trace_view(self, trace: Any) -> Any:
        """Day and shift, then per unit census and nurses present / needed, the decision and the shift's recourse."""
        import pandas as pd

        epoch = trace["epoch"].to_numpy()
        columns: dict[str, Any] = {
            "day": epoch // 3 + 1,
            "shift": [f"{SHIFTS[e % 3]} {SHIFT_START[e % 3]:02d}:00" for e in epoch]}
        for u in self.names:
            columns[f"census {u}"] = trace[f"census_{u}"].astype(int)
            columns[f"staff/need {u}"] = [f"{int(a)}/{int(b)}" for a, b in zip(trace[f"staffed_{u}"],
                                                                                   trace[f"need_{u}"])]
        columns.update({"decision": trace["decision"], "overtime": trace["overtime"].astype(int),
                        "above ratio": trace["above_ratio"].astype(int), "cost": trace["cost"]})
        return pd.DataFrame(columns)

    # ------------------------------------------------------------ exact model
    def _enumerate_actions(self) -> np.ndarray:
        """Every float split within the pool (and the float caps) with every booking, float split major."""
        pool = self.params.pool
        splits = [f for f in itertools.product(*(range(int(c) + 1) for c in self.float_cap)) if sum(f) <= pool]
        bookings = list(itertools.product(*(range(int(c) + 1) for c in self.agency_cap)))
        return np.array([f + a for f in splits for a in bookings], dtype=np.int64).reshape(-1, 2 * self.n_units)

    def tabular_actions(self) -> np.ndarray:
        """The action vector of each column of the exact model's ``C_t`` (and block of rows of ``P_t``).

        Returns
        -------
        ndarray of int, shape (A, 2U)
            Floats per unit, then agency bookings per unit; each sum of floats is at most the pool.
        """
        return self._columns.copy()

    def stage_dims(self, t: int) -> tuple[int, ...]:
        """Sizes ``(census values, present values)`` of each unit in turn at epoch ``t`` (``t = horizon`` allowed)."""
        s = t % 3
        return tuple(int(d) for u in range(self.n_units)
                     for d in (self.beds[u] + 1, self.roster[u, s] + self.agency_cap[u] + 1))

    def n_states(self, t: int) -> int:
        """Number of states of epoch ``t``: ``prod_u (beds + 1) (roster + agency cap + 1)``."""
        return math.prod(self.stage_dims(t))

    def stage_states(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Every ``(census, nurses present)`` state of epoch ``t``, in state order (unit 0's census most significant).

        Returns
        -------
        census, present : ndarray of int, shape (S_t, U) each
        """
        grid = np.indices(self.stage_dims(t)).reshape(2 * self.n_units, -1).T
        return grid[:, 0::2], grid[:, 1::2]

    def state_index(self, t: int, census: np.ndarray, present: np.ndarray) -> np.ndarray:
        """State number of each ``(census, present)`` row ``(n, U)`` at epoch ``t``; -1 outside its states."""
        dims = np.asarray(self.stage_dims(t)).reshape(self.n_units, 2)
        census, present = np.asarray(census, dtype=np.int64), np.asarray(present, dtype=np.int64)
        ok = np.all((census >= 0) & (census < dims[:, 0]) & (present >= 0) & (present < dims[:, 1]), axis=-1)
        index = np.zeros(census.shape[:-1], dtype=np.int64)
        for u in range(self.n_units):
            index = (index * dims[u, 0] + np.where(ok, census[..., u], 0)) * dims[u, 1] + np.where(ok, present[..., u], 0)
        return np.where(ok, index, -1)

    def _largest_stage_entries(self) -> int:
        """Transition entries of the largest stage: actions x states x next (census, present) outcomes."""
        largest = 0
        for s in range(min(3, self.horizon)):
            dims = self.stage_dims(s)
            outcomes = math.prod(dims[0::2]) * math.prod(
                int(self.roster[u, (s + 1) % 3] + self.agency_cap[u] + 1) for u in range(self.n_units))
            largest = max(largest, len(self._columns) * math.prod(dims) * outcomes)
        return largest

    def planner(self) -> Any:
        """The staffing MIPs (:class:`optalloc.formulations.staff.floatpool.FloatPoolPlanner`)."""
        from optalloc.formulations.staff.floatpool import planner

        return planner(self)

    def perfect_information(self, noise: Noise) -> tuple[np.ndarray, np.ndarray]:
        """Each episode's optimal floats and bookings on its own path (one MIP per episode)."""
        from optalloc.formulations.staff.floatpool import perfect_information

        return perfect_information(self, noise)

    def tabular_model(self) -> TabularModel:
        """The exact MDP over (shift, census and nurses present of each unit), built stage by stage."""
        entries = self._largest_stage_entries()
        check_memory(f"the exact tabular model of scenario {self.id} ({self.n_states(0):,} states x "
                     f"{len(self._columns):,} actions a shift, {entries:,} transition entries in the largest stage)",
                     entries * _BYTES_PER_ENTRY, "lower the units, beds, rosters, pool or agency caps for an exact DP")
        sizes = [self.n_states(t) for t in range(self.horizon + 1)]
        start = self.state_index(0, self.initial_census[None, :], self.roster[None, :, 0])
        return TabularModel(horizon=self.horizon, n_states=lambda t: sizes[t], stage=self._tabular_stage,
                            observations=self.tabular_observations, index=self.tabular_index,
                            initial_index=int(start[0]), actions=self.tabular_actions())

    def _tabular_stage(self, t: int) -> tuple[sparse.csr_array, np.ndarray]:
        """Stage ``t``: ``P_t`` ``(A * S_t, S_{t+1})``, action-major rows, and expected costs ``C_t`` ``(S_t, A)``."""
        p, U = self.params, self.n_units
        s, nxt = t % 3, (t + 1) % 3
        census, present = self.stage_states(t)
        S, columns = len(census), self._columns
        floats, booked = columns[:, :U], columns[:, U:]
        # Next (census, present) of each unit: kernel[c, c'] x present_pmf(a)[n'], flattened over (c', n').
        kernels, diversions, blocks = [], [], []
        for u in range(U):
            kernel, diverted = self.census_kernel(u, s)
            kernels.append(kernel)
            diversions.append(diverted)
            presence = np.stack([self.present_pmf(u, nxt, a) for a in range(int(self.agency_cap[u]) + 1)])
            blocks.append([sparse.csr_array(np.kron(kernel, presence[a][None, :])) for a in range(len(presence))])
        census_index = np.ravel_multi_index(census.T, tuple(int(b) + 1 for b in self.beds))
        rows_of: dict[tuple[int, ...], sparse.csr_array] = {}
        for a in {tuple(row) for row in booked.tolist()}:
            joint = blocks[0][a[0]]
            for u in range(1, U):
                joint = sparse.kron(joint, blocks[u][a[u]], format="csr")
            rows_of[a] = sparse.csr_array(joint)[census_index]
        P = sparse.vstack([rows_of[tuple(row)] for row in booked.tolist()], format="csr")
        # Expected cost of each state and column, from the step's own recourse.
        cost = self.agency_wage * booked.sum(axis=1)[None, :] + np.zeros((S, 1))
        for u in range(U):
            staff = present[:, u][:, None] + floats[None, :, u]
            out = shift_outcome(census[:, u][:, None], staff, self.ratio[u], self.overtime_cap[u])
            cost = cost + (self.overtime_wage * out["overtime"] + p.shortage_cost * out["above_ratio"]
                           + p.idle_cost * out["idle"] + p.diversion_cost * diversions[u][census[:, u]][:, None])
        if t == self.horizon - 1:
            cost[:, booked.sum(axis=1) > 0] = np.inf  # no shift to book for
        return sparse.csr_array(P), cost

    def tabular_observations(self, t: int) -> np.ndarray:
        """Observations of the states of epoch ``t`` in state order: the nurses present counted as rostered first."""
        census, present = self.stage_states(t)
        rostered = np.minimum(present, self.roster[:, t % 3])
        return np.concatenate([np.full((len(census), 1), float(t)), census, rostered, present - rostered],
                              axis=1).astype(float)

    def tabular_index(self, t: int, observations: np.ndarray) -> np.ndarray:
        """State of each observation ``(n, 1 + 3U)`` of epoch ``t`` from its census and nurses present; -1 if none."""
        U = self.n_units
        part = np.asarray(observations, dtype=float)[:, 1:1 + 3 * U]
        finite = np.isfinite(part)
        counts = np.rint(np.where(finite, np.clip(part, -1, 2**31), -1)).astype(np.int64)  # no cast of nan/inf
        integral = finite.all(axis=1) & np.all(counts == part, axis=1)
        index = self.state_index(t, counts[:, :U], counts[:, U:2 * U] + counts[:, 2 * U:])
        return np.where(integral, index, -1).astype(np.int64)


def make(preset: str, **overrides: Any) -> FloatPoolScenario:
    """Build a preset (``"floatpool-v0"``, ``"floatpool-small-v0"``) with optional parameter overrides."""
    scenario = FloatPoolScenario(f"staff/{preset}", **{**PRESETS[preset], **overrides})
    scenario.overrides = dict(overrides)  # the preset is implied by the id
    return scenario


__all__ = ["PRESETS", "SHIFTS", "TABULAR_NONZEROS", "FloatPoolParams", "FloatPoolScenario", "make",
           "nurses_needed", "shift_outcome"]
