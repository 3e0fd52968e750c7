"""An independent implementation of the bed capacity expansion card.

Written from the card alone (the module docstring of
``optalloc/families/beds/scenario.py`` and the data README of the bed family), with the
preset numbers typed in as literals. Nothing here imports optalloc: the tests
compare the package against this module, so a mistake shared by the package's
simulator, DP model and MILP (they all read one demand function) shows up as a
disagreement here instead of agreeing with itself.

Plain Python loops throughout; scipy is used only for the Poisson pmf.

The card, as read here
----------------------
* Year ``t = 0 .. horizon-1``. At the start of year ``t`` the planner adds
  ``A_t`` beds; ``H'_t = H_t + A_t`` beds serve during year ``t`` and
  ``H_{t+1} = H'_t``. An addition that would put more than ``max_beds`` beds
  in service is infeasible.
* Population ``P_t = P_0 (1 + g)^t exp(s j_t)`` where ``j_t`` is the lattice
  index (the sum of the steps ``xi_0 .. xi_{t-1}``, each -1, 0, +1 with
  probabilities p, 1 - 2p, p); the step drawn in year ``t`` moves the
  population from year ``t`` to ``t + 1``.
* Mean daily census ``m_t = m_0 P_t / P_0``, times the surge multiplier in a
  surge year. Surge years are independent and revealed only after the
  year's decision.
* Year cost ``bed_cost A_t + operating_cost H'_t + shortage_cost U_t`` with
  ``U_t = sum_d max(r_d - H'_t, 0)`` over the year's days.
* The reported total weights year ``t`` by ``(1 + discount_rate)^-t``; no
  terminal value.
* Observation at the start of year ``t``: ``[t, H_t, P_t, U_{t-1}]`` with
  ``U_{-1} = 0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from scipy import stats


@dataclass(frozen=True)
class CardParams:
    """Scenario parameters in the card's units (see the module docstring)."""

    horizon: int
    days: int
    initial_beds: int
    max_add: int
    max_beds: int | None
    initial_population: float
    base_demand: float
    growth_rate: float
    growth_step: float
    growth_step_probability: float
    surge_probability: float
    surge_multiplier: float
    shortage_cost: float
    bed_cost: float
    operating_cost: float
    discount_rate: float

    @property
    def bed_cap(self) -> int:
        """Most beds in service: ``max_beds``, else every year's largest addition on top of the start."""
        if self.max_beds is not None:
            return self.max_beds
        return self.initial_beds + self.max_add * self.horizon

    def with_(self, **changes: object) -> CardParams:
        """A copy with some parameters changed (e.g. a shorter horizon)."""
        return replace(self, **changes)


#: ``beds/seed002-v0``: Kabir, Shuvo & Ahmed (2021), deterministic population, undiscounted.
SEED002 = CardParams(
    horizon=30,
    days=365,
    initial_beds=50,
    max_add=10,
    max_beds=None,
    initial_population=232_162.0,
    base_demand=62.0,
    growth_rate=0.012,
    growth_step=0.0,
    growth_step_probability=0.25,
    surge_probability=0.0,
    surge_multiplier=1.0,
    shortage_cost=50_000.0,
    bed_cost=1_000_000.0,
    operating_cost=0.0,
    discount_rate=0.0,
)

#: ``beds/stochastic-v0``: the same with a growth lattice, surge years, operating cost and discounting.
STOCHASTIC = SEED002.with_(
    growth_step=0.006,
    growth_step_probability=0.25,
    surge_probability=0.10,
    surge_multiplier=1.30,
    operating_cost=100_000.0,
    discount_rate=0.03,
)


# ---------------------------------------------------------------- dynamics
def lattice_width(params: CardParams, t: int) -> int:
    """Largest ``|j|`` reachable in year ``t``: ``t`` on a random lattice, else 0."""
    return t if params.growth_step > 0 else 0


def step_law(params: CardParams) -> list[tuple[int, float]]:
    """The lattice step ``xi`` and its probability; only 0 on a deterministic path."""
    if params.growth_step == 0:
        return [(0, 1.0)]
    p = params.growth_step_probability
    return [(-1, p), (0, 1.0 - 2.0 * p), (1, p)]


def population(params: CardParams, t: int, lattice: int) -> float:
    """``P_t`` at lattice index ``lattice`` [persons]."""
    return params.initial_population * (1.0 + params.growth_rate) ** t * math.exp(params.growth_step * lattice)


def demand_mean(params: CardParams, t: int, lattice: int, surge: bool) -> float:
    """Mean daily census ``m_t`` [beds]."""
    mean = params.base_demand * population(params, t, lattice) / params.initial_population
    return mean * params.surge_multiplier if surge else mean


def unattended_days(daily_census: Sequence[int], beds: int) -> int:
    """``sum_d max(r_d - beds, 0)`` [patient-days]."""
    total = 0
    for r in daily_census:
        if r > beds:
            total += r - beds
    return total


def year_cost(params: CardParams, beds_before: int, added: int, unattended: float) -> float:
    """Undiscounted cost of a year [taka]; the operating cost is on the beds after the addition."""
    in_service = beds_before + added
    return params.bed_cost * added + params.operating_cost * in_service + params.shortage_cost * unattended


def observation(params: CardParams, t: int, beds: int, lattice: int, unattended_last_year: float) -> list[float]:
    """``[t, H_t, P_t, U_{t-1}]`` at the start of year ``t``."""
    return [float(t), float(beds), population(params, t, lattice), float(unattended_last_year)]


def step(params: CardParams, t: int, beds: int, lattice: int, added: int, xi: int,
         daily_census: Sequence[int]) -> tuple[int, int, float, int]:
    """One year on a realised path.

    Parameters
    ----------
    params : CardParams
    t : int
        Year.
    beds, lattice : int
        Beds in service before the addition and the lattice index at the start of year ``t``.
    added : int
        Beds added.
    xi : int
        Lattice step drawn in year ``t``.
    daily_census : sequence of int
        The year's daily census ``r_d``.

    Returns
    -------
    next_beds, next_lattice, cost, unattended
        State at the start of year ``t + 1``, the year's undiscounted cost
        [taka] and unattended patient-days.
    """
    in_service = beds + added
    unattended = unattended_days(daily_census, in_service)
    return in_service, lattice + xi, year_cost(params, beds, added, unattended), unattended


def discounted_total(params: CardParams, year_costs: Sequence[float]) -> float:
    """Reported total: year ``t`` weighted by ``(1 + discount_rate)^-t`` [taka]."""
    total = 0.0
    for t, cost in enumerate(year_costs):
        total += cost / (1.0 + params.discount_rate) ** t
    return total


# ---------------------------------------------------------------- expectations
def expected_excess_by_beds(mean: float, max_beds: int) -> list[float]:
    """``E[(N - H)^+]`` for ``N ~ Poisson(mean)`` and every ``H = 0 .. max_beds`` [patients].

    Direct summation over the pmf: ``E[(N - H)^+] = sum_{n > H} n p(n) - H sum_{n > H} p(n)``,
    both tail sums accumulated from the far tail inwards (smallest terms first).
    The sum stops 40 standard deviations above the mean (and above ``max_beds``),
    where the neglected terms are far below the double precision of the result.
    """
    n_max = max(max_beds, int(mean + 40.0 * math.sqrt(mean) + 40.0)) + 1
    pmf = stats.poisson.pmf(list(range(n_max + 1)), mean)
    tail_mass = [0.0] * (n_max + 2)  # tail_mass[h] = sum_{n >= h} p(n)
    tail_first = [0.0] * (n_max + 2)  # tail_first[h] = sum_{n >= h} n p(n)
    for n in range(n_max, -1, -1):
        tail_mass[n] = tail_mass[n + 1] + float(pmf[n])
        tail_first[n] = tail_first[n + 1] + n * float(pmf[n])
    return [tail_first[h + 1] - h * tail_mass[h + 1] for h in range(max_beds + 1)]


class ExpectedShortage:
    """Expected unattended patient-days of a year, averaged over surge, memoised per (year, lattice)."""

    def __init__(self, params: CardParams) -> None:
        self.params = params
        self._rows: dict[tuple[int, int], list[float]] = {}

    def __call__(self, t: int, lattice: int, beds: int) -> float:
        """``days * ((1 - q) E[(N - H)^+ | m] + q E[(N - H)^+ | m * surge])`` [patient-days]."""
        key = (t, lattice)
        if key not in self._rows:
            p = self.params
            normal = expected_excess_by_beds(demand_mean(p, t, lattice, False), p.bed_cap)
            if p.surge_probability > 0:
                surge = expected_excess_by_beds(demand_mean(p, t, lattice, True), p.bed_cap)
            else:
                surge = normal
            q = p.surge_probability
            self._rows[key] = [p.days * ((1.0 - q) * a + q * b) for a, b in zip(normal, surge)]
        return self._rows[key][beds]


def reachable_beds(params: CardParams, t: int) -> range:
    """Bed counts in service before the addition of year ``t`` reachable from the start."""
    return range(params.initial_beds, min(params.initial_beds + params.max_add * t, params.bed_cap) + 1)


def expected_year_cost(params: CardParams, shortage: ExpectedShortage, t: int, lattice: int, beds: int,
                       added: int) -> float:
    """Expected undiscounted cost of year ``t`` [taka], ``inf`` if the addition is infeasible."""
    if beds + added > params.bed_cap:
        return math.inf
    return year_cost(params, beds, added, shortage(t, lattice, beds + added))


@dataclass
class OptimalSolution:
    """Result of :func:`solve`.

    Attributes
    ----------
    cost : float
        Optimal expected discounted total cost from the initial state [taka].
    values : list of dict
        ``values[t][(beds, lattice)]``: optimal expected cost-to-go from the start of
        year ``t``, discounted to year ``t`` [taka].
    actions : list of dict
        ``actions[t][(beds, lattice)]``: an optimal addition (the smallest among ties).
    """

    cost: float
    values: list[dict[tuple[int, int], float]]
    actions: list[dict[tuple[int, int], int]]


def solve(params: CardParams) -> OptimalSolution:
    """Backward induction over (year, beds, lattice index).

    ``V_T = 0`` and ``V_t(H, j) = min_A [ c_t(H, j, A) + sum_xi p(xi) V_{t+1}(H + A, j + xi) / (1 + r) ]``,
    where ``c_t`` averages over surge and the Poisson census: the surge is
    revealed only after the decision, so the decision cannot depend on it.
    """
    shortage = ExpectedShortage(params)
    beta = 1.0 / (1.0 + params.discount_rate)
    law = step_law(params)
    T = params.horizon
    values: list[dict[tuple[int, int], float]] = [{} for _ in range(T + 1)]
    actions: list[dict[tuple[int, int], int]] = [{} for _ in range(T)]
    for beds in reachable_beds(params, T):
        width = lattice_width(params, T)
        for lattice in range(-width, width + 1):
            values[T][(beds, lattice)] = 0.0
    for t in range(T - 1, -1, -1):
        width = lattice_width(params, t)
        for beds in reachable_beds(params, t):
            for lattice in range(-width, width + 1):
                best, best_action = math.inf, -1
                for added in range(params.max_add + 1):
                    cost = expected_year_cost(params, shortage, t, lattice, beds, added)
                    if cost == math.inf:
                        continue
                    future = 0.0
                    for xi, prob in law:
                        future += prob * values[t + 1][(beds + added, lattice + xi)]
                    total = cost + beta * future
                    if total < best:
                        best, best_action = total, added
                values[t][(beds, lattice)] = best
                actions[t][(beds, lattice)] = best_action
    return OptimalSolution(values[0][(params.initial_beds, 0)], values, actions)
