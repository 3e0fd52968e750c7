"""Staffing rules of the float-pool scenario (:mod:`optalloc.families.staff.floatpool`).

Each rule books agency nurses for the next shift from a table of (shift of
day, unit, census), fitted once, and splits this shift's float pool by a rule
of the observed census and nurses present. Both are deterministic.

===========  ============  ====================================================
id           class         rule
===========  ============  ====================================================
newsvendor   Newsvendor    book agency so that the next shift's expected
                           staffing reaches the nursevendor level of its nurse
                           demand (Green, Savin & Savva 2013); floats one at a
                           time to the largest remaining shortfall
proportional Proportional  floats in proportion to census (largest
                           remainder); agency when the projected census would
                           exceed the ratio with the next shift's roster
===========  ============  ====================================================

Both honour the action mask (no booking in the last shift) and never ask for
more floats than the pool holds.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from optalloc.families.staff.floatpool import nurses_needed
from optalloc.families.staff.staffing import critical_fractile, demand_pmf_from_census, nursevendor_level
from optalloc.policy import Policy, epochs_of
from optalloc.scenario import Scenario
from optalloc.tags import PolicyTags

#: Slack of the ceiling of a fractional count of agency nurses, so that 2.0000000001 nurses books 2.
_CEIL_SLACK = 1e-9


def _largest_allowed(mask: np.ndarray, nvec: np.ndarray) -> np.ndarray:
    """Largest allowed value of each component of a batch of per-component masks, shape ``(n, len(nvec))``.

    Every mask of the float-pool scenario allows ``0 .. k`` of each component, so clipping to the
    largest allowed value gives an allowed value.
    """
    bounds = np.concatenate([[0], np.cumsum(nvec)])
    return np.stack([nvec[i] - 1 - np.argmax(mask[:, bounds[i]:bounds[i + 1]][:, ::-1], axis=1)
                     for i in range(len(nvec))], axis=1)


def _bookings(target: np.ndarray, roster: np.ndarray, q: float, q_agency: float, cap: np.ndarray) -> np.ndarray:
    """Agency nurses that lift the expected nurses present ``q R + q_agency a`` to ``target``, within ``0 .. cap``."""
    need = np.ceil((target - q * roster) / q_agency - _CEIL_SLACK)
    return np.clip(need, 0, cap).astype(np.int64)


class StaffingRule(Policy):
    """Agency bookings from a fitted table, floats by :meth:`_floats`; subclasses fill :meth:`_booking_table`.

    Fitted attributes
    -----------------
    booking_ : ndarray of int, shape (3, U, largest beds + 1)
        Agency nurses to book for each unit's next shift, by shift of day and census now [nurses].
    ratio_ : ndarray, shape (U,)
        Patients per nurse of each unit.
    float_cap_ : ndarray of int, shape (U,)
        Most floats a unit may take [nurses].
    pool_ : int
        Float-pool nurses [nurses].
    nvec_ : ndarray of int
        The scenario's action components.
    """

    tags = PolicyTags(method="heuristic", families=frozenset({"staff"}), action_kinds=frozenset({"multi_discrete"}))

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        self.ratio_ = np.asarray(scenario.ratio, dtype=float)
        self.float_cap_ = np.asarray(scenario.float_cap, dtype=np.int64)
        self.pool_ = int(scenario.params.pool)
        self.nvec_ = np.asarray(scenario.action_space.nvec, dtype=np.int64)
        self.booking_ = self._booking_table(scenario)

    def _check_loaded(self) -> None:
        scenario = self._scenario
        if self.booking_.shape != (3, scenario.n_units, int(scenario.beds.max()) + 1) or \
                not np.array_equal(self.nvec_, scenario.action_space.nvec):
            raise ValueError("the saved booking table does not match the scenario's units and beds")

    def _booking_table(self, scenario: Scenario) -> np.ndarray:
        """Agency nurses to book, shape ``(3, U, largest beds + 1)``, by shift of day, unit and census."""
        raise NotImplementedError

    def _floats(self, census: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Float nurses per unit, ``(n, U)``, for censuses and nurses present ``(n, U)``; at most the pool in all."""
        raise NotImplementedError

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        obs = np.asarray(observations, dtype=float)
        U = len(self.ratio_)
        t = epochs_of(infos, len(obs))
        census = np.rint(obs[:, 1:1 + U]).astype(np.int64)
        present = np.rint(obs[:, 1 + U:1 + 2 * U] + obs[:, 1 + 2 * U:1 + 3 * U]).astype(np.int64)
        census = np.clip(census, 0, self.booking_.shape[2] - 1)
        booked = self.booking_[(t % 3)[:, None], np.arange(U)[None, :], census]
        action = np.concatenate([self._floats(census, present), booked], axis=1)
        return np.minimum(action, _largest_allowed(np.asarray(infos["action_mask"], dtype=bool), self.nvec_))


class Newsvendor(StaffingRule):
    """Agency to the nursevendor level of the next shift's demand; floats to the largest remaining shortfalls.

    Booking, for each unit and census ``c`` now: the census of the next shift
    has the pmf of row ``c`` of the scenario's :meth:`census_kernel`; its nurse
    demand ``D = ceil(census / ratio)`` (:func:`demand_pmf_from_census`), less
    the ``overtime_cap`` nurses that overtime covers, is staffed to the
    nursevendor level ``N*`` (:func:`nursevendor_level`) with show-up
    probability ``q = 1 - absence``, wage ``w`` = the agency wage, idle cost
    ``h`` and shortage cost ``c_a = shortage_cost x E[census] / E[D]``: a
    missing nurse leaves her share of the patients, on average the next
    shift's patients per nurse needed, above the ratio (at most ``ratio``; 1
    patient for a 1:1 ratio). The float pool is not counted on: the booking
    is each unit's own. The agency nurses booked are the fewest that
    lift the expected nurses present ``q R' + (1 - agency_absence) a`` of the
    next shift's roster ``R'`` to ``q N*`` (so ``a = N* - R'`` when agency and
    rostered nurses are equally reliable), at most the agency cap.

    Floats: one at a time, each to the unit with the most nurses still short
    of ``ceil(census / ratio)`` (ties: the lower unit index), while any unit is
    short and the pool and the unit's float cap allow.
    """

    def _booking_table(self, scenario: Scenario) -> np.ndarray:
        p = scenario.params
        q, q_agency = 1.0 - p.absence, 1.0 - p.agency_absence
        table = np.zeros((3, scenario.n_units, int(scenario.beds.max()) + 1), dtype=np.int64)
        for s in range(3):
            for u in range(scenario.n_units):
                kernel, _ = scenario.census_kernel(u, s)
                roster, cap = int(scenario.roster[u, (s + 1) % 3]), int(scenario.agency_cap[u])
                covered = int(scenario.overtime_cap[u])
                for c in range(kernel.shape[0]):
                    demand = demand_pmf_from_census(kernel[c], float(scenario.ratio[u]))
                    mean_demand = float(demand @ np.arange(demand.size))
                    if mean_demand == 0:
                        continue  # nobody will be in: book nobody
                    shortage = p.shortage_cost * float(kernel[c] @ np.arange(kernel.shape[1])) / mean_demand
                    if critical_fractile(q, scenario.agency_wage, shortage, p.idle_cost) >= 1:
                        continue  # an agency nurse costs more than the shortage she is expected to save: book none
                    residual = np.append(demand[:covered + 1].sum(), demand[covered + 1:])
                    level = nursevendor_level(residual, q, scenario.agency_wage, shortage, p.idle_cost,
                                              max_nurses=roster + cap)
                    table[s, u, c] = _bookings(q * level, roster, q, q_agency, cap)
        return table

    def _floats(self, census: np.ndarray, present: np.ndarray) -> np.ndarray:
        n, U = census.shape
        short = nurses_needed(census, self.ratio_) - present
        floats = np.zeros((n, U), dtype=np.int64)
        rows = np.arange(n)
        for _ in range(self.pool_):
            open_ = (short - floats > 0) & (floats < self.float_cap_)
            if not open_.any():
                break
            unit = np.argmax(np.where(open_, short - floats, np.iinfo(np.int64).min), axis=1)  # first of the largest
            chosen = open_.any(axis=1)
            floats[rows[chosen], unit[chosen]] += 1
        return floats


class Proportional(StaffingRule):
    """Floats in proportion to census; agency when the projected census would exceed the ratio with the roster.

    Floats: unit ``u``'s quota is ``pool x c_u / sum(c)``; each unit gets the
    integer part, and the floats left go one each to the largest fractional
    parts (ties: the lower unit index); a unit's float cap clips its share (the
    clipped floats stay in the pool). Nobody is floated when no patient is in.

    Booking, for each unit and census ``c`` now: the projected census of the
    next shift is its mean ``m = c (1 - p_dis) + lambda`` of this shift (at
    most the beds); when the ratio would be exceeded by the next shift's roster
    ``R'``, that is when the projected need ``ceil(m / ratio)`` exceeds ``R'``,
    the fewest agency nurses whose expected attendance
    ``(1 - agency_absence) a`` covers the difference are booked, at most the
    agency cap. Absences of rostered nurses are left to floats and overtime.
    """

    def _booking_table(self, scenario: Scenario) -> np.ndarray:
        q_agency = 1.0 - scenario.params.agency_absence
        width = int(scenario.beds.max()) + 1
        census = np.arange(width)
        table = np.zeros((3, scenario.n_units, width), dtype=np.int64)
        for s in range(3):
            for u in range(scenario.n_units):
                projected = np.minimum(census * (1.0 - scenario.discharge_probability[u, s])
                                       + scenario.admission_mean[u, s], scenario.beds[u])
                need = nurses_needed(projected, scenario.ratio[u])
                # With every rostered nurse counted as present (q = 1), _bookings covers need - R'.
                table[s, u] = _bookings(need, scenario.roster[u, (s + 1) % 3], 1.0, q_agency, scenario.agency_cap[u])
        return table

    def _floats(self, census: np.ndarray, present: np.ndarray) -> np.ndarray:
        n, U = census.shape
        total = census.sum(axis=1, keepdims=True)
        quota = np.where(total > 0, self.pool_ * census / np.maximum(total, 1), 0.0)
        floats = np.floor(quota + _CEIL_SLACK).astype(np.int64)
        left = self.pool_ - floats.sum(axis=1)
        # Rank units by fractional part, largest first; a stable sort keeps the lower index first among ties.
        order = np.argsort(-(quota - floats), axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(U)[None, :].repeat(n, axis=0), axis=1)
        floats = floats + ((rank < left[:, None]) & (total > 0))
        return np.minimum(floats, self.float_cap_)


__all__ = ["Newsvendor", "Proportional", "StaffingRule"]
