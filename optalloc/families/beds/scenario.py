"""Long-term hospital bed capacity expansion.

Description
-----------
A hospital starts with ``initial_beds`` beds. At the start of each year ``t``
the planner adds ``A_t`` in ``{0, ..., max_add}`` beds, usable during year ``t``.
Each of the ``days`` days of the year, bed demand (the census of an M/G/inf
system) is ``r ~ Poisson(m_t)``, independently across days; demand beyond the
beds in service goes unattended. The mean daily demand is proportional to the
population::

    m_t = base_demand * (P_t / initial_population) * (surge_multiplier if surge year else 1)

Population follows a recombining trinomial lattice in log space (the standard
discretisation of a geometric random walk)::

    log P_{t+1} = log P_t + log(1 + growth_rate) + growth_step * xi_t,
    xi_t in {-1, 0, +1} with probabilities {p, 1 - 2p, p},  p = growth_step_probability,

so in year ``t`` the population takes one of ``2t + 1`` values and the
dynamic program over (year, beds, population) is exact. With
``growth_step = 0`` the population path is deterministic.

Decision (action) space
-----------------------
``Discrete(max_add + 1)``: beds added this year. Adding beyond ``max_beds``
beds in service is infeasible (masked).

Observation space
-----------------
``Box(4,)``: ``[year t, beds in service before adding, population P_t,
unattended patient-days of the previous year]`` in natural units (year
index, beds, persons, patient-days). Unscaled; the RL adapters
(:mod:`optalloc.rl`) divide it by :attr:`BedScenario.observation_scale`::

    [horizon, max_beds, initial_population * (1 + growth_rate)**horizon, days * base_demand]

so the scaled components are the fraction of the horizon elapsed, of the bed
cap in service, of the median final population, and of a year's mean
patient-days at the initial population (all of order one).

Rewards (RL adapters)
---------------------
``reward_t = -discount**t * cost_t / cost_scale`` with ``cost_scale = 1e6``:
rewards are in millions of taka, and their undiscounted sum over an episode
is minus the episode's reported (discounted) total cost in millions of taka.

Costs (currency: taka)
----------------------
Year ``t`` costs ``bed_cost * A_t + operating_cost * H'_t +
shortage_cost * sum_d max(r_d - H'_t, 0)`` with ``H'_t = H_t + A_t`` beds in
service. The reported total is discounted by ``1 / (1 + discount_rate)`` a year.

Episode end
-----------
After ``horizon`` years (a fixed-horizon problem: ``terminated``).

Noise
-----
:meth:`BedScenario.sample_noise` returns, per episode and year, the lattice
step ``xi``, the surge flag and ``demand_key``: the 64-bit key of the year's
stream of daily census draws (:mod:`optalloc.sampling`). A day's census is
the inverse Poisson CDF, with the year's mean ``m_t``, of a 53-bit uniform of
that stream, so the days are i.i.d. Poisson(m_t) exactly as with any
inverse-transform sampler. Costs use the days only through the unattended
patient-days ``sum_d max(r_d - H, 0)``; :meth:`BedScenario.step` regenerates
the days from the key at about 3 ns a day (1 us a year) instead of storing
``days`` numbers per year, and :meth:`BedScenario.daily_demand` materialises
them. Every policy run on the same path sees the same days (common random
numbers), whatever beds it holds.

Presets
-------
``beds/seed002-v0``
    Kabir, Shuvo & Ahmed (2021, medRxiv 2021.10.06.21264654): 50 beds,
    population 232,162 growing 1.2 %/year, m_0 = 62, 50,000 taka per
    unattended patient-day, 1,000,000 taka per bed, 30 years, undiscounted.
``beds/stochastic-v0``
    The same with a random growth rate (lattice step 0.006 in log units,
    p = 0.25: yearly growth +0.596 %, +1.2 % or +1.809 %), an epidemic surge
    year with probability 0.10 raising demand by 30 % (revealed after the
    year's decision), an operating cost of 100,000 taka per bed-year on the
    beds in service after the addition, and 3 % yearly discounting (year 0
    undiscounted).

Version history
---------------
v0: initial version.
"""

from __future__ import annotations

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
from optalloc.tabular import TabularModel, nearest_index
from optalloc.tags import ScenarioTags

#: Census tables by scenario fingerprint, so that scenarios of equal parameters build theirs once
#: per process (a table takes about 0.7 s for the stochastic preset); the last few are kept.
_TABLES: dict[str, sampling.InversionTable] = {}
_TABLES_KEPT = 4


@dataclass(frozen=True)
class BedParams:
    """Parameters of a bed expansion scenario (units in brackets)."""

    horizon: int = 30
    """Planning years [years]."""
    days: int = 365
    """Days per year [days]."""
    initial_beds: int = 50
    """Beds in service before year 0 [beds]."""
    max_add: int = 10
    """Largest yearly expansion [beds/year]."""
    max_beds: int | None = None
    """Cap on beds in service [beds]; default ``initial_beds + max_add * horizon``."""
    initial_population: float = 232_162.0
    """Population in year 0 [persons]."""
    base_demand: float = 62.0
    """Mean daily bed demand at the initial population [beds]."""
    growth_rate: float = 0.012
    """Median yearly population growth [fraction/year]."""
    growth_step: float = 0.0
    """Lattice step of yearly log-growth (0: deterministic population) [log-units]."""
    population_path: tuple[float, ...] | None = None
    """Median population of each year [persons], replacing ``initial_population * (1 + growth_rate)**t``
    (e.g. a forecast to plan on); at least ``horizon`` values; the lattice, if any, moves around it."""
    growth_step_probability: float = 0.25
    """Probability of each of the up and down lattice steps."""
    surge_probability: float = 0.0
    """Probability that a year is an epidemic surge year."""
    surge_multiplier: float = 1.0
    """Demand multiplier in a surge year."""
    shortage_cost: float = 50_000.0
    """Cost per unattended patient-day [taka]."""
    bed_cost: float = 1_000_000.0
    """Cost per bed added [taka]."""
    operating_cost: float = 0.0
    """Cost per bed in service per year [taka/bed-year]."""
    discount_rate: float = 0.0
    """Yearly discount rate of reported cost [fraction/year]."""


PRESETS: dict[str, dict[str, Any]] = {
    "seed002-v0": {},
    "stochastic-v0": {
        "growth_step": 0.006,
        "growth_step_probability": 0.25,
        "surge_probability": 0.10,
        "surge_multiplier": 1.30,
        "operating_cost": 100_000.0,
        "discount_rate": 0.03,
    },
}


def expected_shortage(mean: np.ndarray | float, beds: np.ndarray | int) -> np.ndarray:
    """Expected excess census ``E[(N - H)^+]`` for ``N ~ Poisson(mean)``.

    Closed form ``m P(N >= H) - H P(N >= H + 1)`` (from ``n p(n) = m p(n-1)``).

    Parameters
    ----------
    mean : array_like
        Poisson mean ``m`` [beds].
    beds : array_like of int
        Beds in service ``H >= 0``; broadcast against ``mean``.

    Returns
    -------
    ndarray
        Expected unattended patients per day [patients].
    """
    m = np.asarray(mean, dtype=float)
    h = np.asarray(beds)
    return m * stats.poisson.sf(h - 1, m) - h * stats.poisson.sf(h, m)


class BedScenario(Scenario):
    """Bed capacity expansion; see the module docstring for the card."""

    tags = ScenarioTags(family="beds", action_kind="discrete", epoch_name="year", cost_unit="taka", cost_scale=1e6,
                        capabilities=frozenset({"tabular_model", "perfect_information", "planner", "open_loop"}))
    params_class = BedParams
    horizon_parameter = "horizon"
    observation_names = ("year", "beds", "population", "unattended_last_year")

    def __init__(self, scenario_id: str = "", **overrides: Any) -> None:
        super().__init__(scenario_id, **overrides)
        p = self.params
        self.max_beds = p.max_beds if p.max_beds is not None else p.initial_beds + p.max_add * p.horizon
        q = p.growth_step_probability
        if p.growth_step > 0:
            self._xi = np.array([-1, 0, 1])
            self._xi_prob = np.array([q, 1 - 2 * q, q])
        else:
            self._xi, self._xi_prob = np.array([0]), np.array([1.0])
        self._demand_table: sampling.InversionTable | None = None  # built on first use (see _demand_rows)
        self._check_demand_table_size()

    def _check_demand_table_size(self) -> None:
        """Refuse, before anything is built, demand whose census table would not fit in memory.

        The table (:meth:`_demand_rows`) holds a CDF row for every reachable
        (year, lattice index, surge) mean, about ``55 sqrt(m) + 30`` values
        wide for the largest mean ``m``: extreme growth, demand or surges make it huge.
        """
        p = self.params
        t = np.arange(self.horizon)
        with np.errstate(over="ignore"):
            top = float(np.max(self.demand_mean(t, t if p.growth_step > 0 else 0, p.surge_probability > 0)))
        owner = f"scenario {self.id}"
        if not np.isfinite(top):
            raise bad_value(owner, "base_demand", "a demand whose yearly mean stays finite over the horizon "
                            "(growth_rate, growth_step and surge_multiplier compound it)", p.base_demand)
        rows = 2 * int(self._row_offsets()[-1])
        values = rows * (55.0 * np.sqrt(top) + 31.0)
        check_memory(f"the daily-demand table of scenario {self.id} ({rows:,} rows for a largest mean daily "
                     f"demand of {top:,.4g} beds)", 24.0 * values,
                     "lower base_demand, growth_rate, growth_step, surge_multiplier or horizon")

    def _validate(self) -> None:
        p, owner = self.params, f"scenario {self.id}"

        def integer(name: str, low: int) -> None:
            value = getattr(p, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise bad_value(owner, name, f"an integer >= {low}", value)

        def number(name: str, low: float, high: float = np.inf) -> None:
            value = getattr(p, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise bad_value(owner, name, f"a number in [{low}, {high}]", value)

        for name, low in (("horizon", 1), ("days", 1), ("initial_beds", 0), ("max_add", 0)):
            integer(name, low)
        if p.max_beds is not None:
            integer("max_beds", p.initial_beds)
        for name in ("initial_population", "base_demand", "growth_step", "shortage_cost", "bed_cost",
                     "operating_cost", "discount_rate", "surge_multiplier"):
            number(name, 0.0)
        number("growth_rate", -0.5, 1.0)
        number("growth_step_probability", 0.0, 0.5)
        number("surge_probability", 0.0, 1.0)
        if p.population_path is not None:
            path = np.asarray(p.population_path, dtype=float) if isinstance(p.population_path, (list, tuple)) else None
            if path is None or path.ndim != 1 or len(path) < p.horizon or not np.all(np.isfinite(path) & (path > 0)):
                raise bad_value(owner, "population_path", f"a list of at least {p.horizon} positive populations",
                                p.population_path)

    # ------------------------------------------------------------ spaces
    @property
    def horizon(self) -> int:
        return self.params.horizon

    @property
    def discount(self) -> float:
        return 1.0 / (1.0 + self.params.discount_rate)

    @property
    def action_space(self) -> spaces.Discrete:
        return spaces.Discrete(self.params.max_add + 1)

    @property
    def observation_space(self) -> spaces.Box:
        return spaces.Box(low=0.0, high=np.inf, shape=(4,), dtype=np.float64)

    @property
    def observation_scale(self) -> np.ndarray:
        """``[horizon, max_beds, initial_population * (1 + growth_rate)**horizon, days * base_demand]``.

        Units: [years, beds, persons, patient-days]; see the module card. A
        component whose formula gives 0 (no beds, no population, no demand) is
        identically 0 and is scaled by 1 instead.
        """
        p = self.params
        scale = np.array([
            float(self.horizon),
            float(self.max_beds),
            float(np.max(self.median_population(np.arange(self.horizon)))) if p.population_path is not None
            else p.initial_population * (1.0 + p.growth_rate) ** self.horizon,
            float(p.days) * p.base_demand,
        ])
        return np.where(scale > 0, scale, 1.0)

    @property
    def cost_scale(self) -> float:
        """One million taka: RL rewards are in millions of taka."""
        return 1e6

    # ------------------------------------------------------------ dynamics (the one source)
    def median_population(self, t: np.ndarray | int) -> np.ndarray:
        """Population [persons] in year ``t`` at lattice index 0: ``population_path`` or the growth trend."""
        p = self.params
        if p.population_path is not None:
            return np.asarray(p.population_path, dtype=float)[np.asarray(t)]
        return p.initial_population * np.exp(np.asarray(t) * np.log1p(p.growth_rate))

    def population(self, t: np.ndarray | int, lattice: np.ndarray | int) -> np.ndarray:
        """Population [persons] in year ``t`` at lattice index ``lattice`` (sum of steps)."""
        return self.median_population(t) * np.exp(self.params.growth_step * np.asarray(lattice))

    def demand_mean(self, t: np.ndarray | int, lattice: np.ndarray | int, surge: np.ndarray | bool) -> np.ndarray:
        """Mean daily bed demand ``m_t`` [beds]."""
        p = self.params
        mult = np.where(np.asarray(surge, dtype=bool), p.surge_multiplier, 1.0)
        return p.base_demand * self.population(t, lattice) / p.initial_population * mult

    def year_cost(self, added: np.ndarray, beds: np.ndarray, unattended: np.ndarray) -> np.ndarray:
        """Undiscounted cost of a year [taka] for beds added, beds in service and unattended patient-days."""
        p = self.params
        return p.bed_cost * added + p.operating_cost * beds + p.shortage_cost * unattended

    def initial_state(self, n: int) -> State:
        return {
            "t": np.zeros(n, dtype=np.int64),
            "beds": np.full(n, self.params.initial_beds, dtype=np.int64),
            "lattice": np.zeros(n, dtype=np.int64),
            "unattended": np.zeros(n, dtype=np.float64),
        }

    def sample_noise(self, seed: int, episodes: int, stream: str = "evaluate") -> Noise:
        """Lattice steps ``xi`` (E, T), surge flags (E, T) and the key of each year's daily demand (E, T).

        A year's ``days`` Poisson census draws are a counter-based stream
        (:mod:`optalloc.sampling`) whose key is ``demand_key``; :meth:`step`
        regenerates them with the year's mean. See the module card, *Noise*.
        """
        p, T = self.params, self.horizon
        year_keys = sampling.subkeys(episode_keys(seed, episodes, stream), T)  # (E, T)
        words = sampling.subkeys(year_keys.ravel(), 3).reshape(episodes, T, 3)
        u_xi, u_surge = sampling.uniforms(words[..., 0]), sampling.uniforms(words[..., 1])
        if p.growth_step > 0:
            q = p.growth_step_probability
            xi = np.where(u_xi < q, -1, np.where(u_xi >= 1.0 - q, 1, 0)).astype(np.int64)
        else:
            xi = np.zeros((episodes, T), dtype=np.int64)
        return {"xi": xi, "surge": u_surge < p.surge_probability, "demand_key": words[..., 2]}

    def step(self, t: int, state: State, action: np.ndarray, noise: Noise) -> tuple[State, np.ndarray, dict[str, np.ndarray]]:
        added = np.asarray(action, dtype=np.int64)
        beds = state["beds"] + added
        unattended = self.year_unattended(t, state["lattice"], noise["surge"], noise["demand_key"], beds[:, None])[:, 0]
        cost = self.year_cost(added, beds, unattended)
        next_state = {
            "t": state["t"] + 1,
            "beds": beds,
            "lattice": state["lattice"] + noise["xi"],
            "unattended": unattended,
        }
        return next_state, cost, {"added": added, "beds": beds, "unattended": unattended}

    def year_unattended(self, t: int, lattice: np.ndarray, surge: np.ndarray, demand_key: np.ndarray,
                        beds: np.ndarray) -> np.ndarray:
        """Realised unattended patient-days ``sum_d max(r_d - H, 0)`` of year ``t`` [patient-days].

        Parameters
        ----------
        t : int
            Year.
        lattice, surge, demand_key : ndarray, shape (n,)
            Lattice index at the start of the year, surge flag and demand key of each episode.
        beds : ndarray of int, shape (n, K)
            Bed counts ``H`` in service to evaluate, per episode.

        Returns
        -------
        ndarray, shape (n, K)
        """
        table, rows = self._demand_rows(t, lattice, surge)
        return sampling.excess_levels(np.ascontiguousarray(demand_key, dtype=np.uint64), rows, table.base, table.cdf,
                                      table.guide, self.params.days, np.ascontiguousarray(beds, dtype=np.int64))

    def daily_demand(self, noise: Noise) -> np.ndarray:
        """The daily census ``r`` of every episode, year and day of a noise path [beds], shape ``(E, T, days)``."""
        episodes, T = noise["xi"].shape
        lattice = self.year_start_lattice(noise)
        out = np.empty((episodes, T, self.params.days), dtype=np.int64)
        for t in range(T):
            table, rows = self._demand_rows(t, lattice[:, t], noise["surge"][:, t])
            out[:, t] = sampling.draw_values(np.ascontiguousarray(noise["demand_key"][:, t]), rows, table.base,
                                             table.cdf, table.guide, self.params.days)
        return out

    @staticmethod
    def year_start_lattice(noise: Noise) -> np.ndarray:
        """Lattice index at the start of every year of a noise path, shape ``(E, T)`` (0 in year 0)."""
        xi = noise["xi"]
        return np.concatenate([np.zeros((len(xi), 1), dtype=np.int64), np.cumsum(xi, axis=1)[:, :-1]], axis=1)

    def _row_offsets(self) -> np.ndarray:
        """First census-table row (before the surge axis) of each year, and the total: ``t**2`` or ``t``.

        Year ``t`` reaches the lattice indices ``-t..t`` on a random population
        path (``2 t + 1`` rows), only 0 on a deterministic one.
        """
        t = np.arange(self.horizon + 1)
        return t**2 if self.params.growth_step > 0 else t

    def _shared_demand_table(self) -> sampling.InversionTable:
        """The census table of this scenario's parameters: from :data:`_TABLES`, else built and kept there."""
        key = self.fingerprint()
        table = _TABLES.pop(key, None)
        if table is None:
            random = self.params.growth_step > 0
            t_rows, j_rows = zip(*[(t, j) for t in range(self.horizon)
                                   for j in (range(-t, t + 1) if random else (0,))])
            t_grid, s_grid = np.repeat(np.array(t_rows), 2), np.tile([False, True], len(t_rows))
            table = sampling.InversionTable.poisson(self.demand_mean(t_grid, np.repeat(np.array(j_rows), 2), s_grid))
        _TABLES[key] = table  # most recently used last
        while len(_TABLES) > _TABLES_KEPT:
            _TABLES.pop(next(iter(_TABLES)))
        return table

    def _demand_rows(self, t: int, lattice: np.ndarray, surge: np.ndarray) -> tuple[sampling.InversionTable, np.ndarray]:
        """The census table of every reachable (year, lattice index, surge) mean, and the rows of year ``t``.

        Year ``t``'s rows start at :meth:`_row_offsets` ``[t]`` and run over the lattice
        indices ``-t..t`` (random population) or 0, each with a normal and a surge row;
        the table is built on first use.
        """
        if self._demand_table is None:  # once per instance: this method is on the hot path of step
            self._demand_table = self._shared_demand_table()
            self._offsets = self._row_offsets()
        width = t if self.params.growth_step > 0 else 0
        rows = (self._offsets[t] + np.asarray(lattice, dtype=np.int64) + width) * 2 + np.asarray(surge, dtype=np.int64)
        return self._demand_table, rows

    def observe(self, t: int, state: State) -> np.ndarray:
        return np.stack(
            [state["t"].astype(float), state["beds"].astype(float),
             self.population(state["t"], state["lattice"]), state["unattended"]],
            axis=1,
        )

    def action_mask(self, t: int, state: State) -> np.ndarray:
        return state["beds"][:, None] + np.arange(self.params.max_add + 1)[None, :] <= self.max_beds

    def kpis(self, trajectory: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Unattended patient-days (total) and final beds per episode."""
        return {
            "unattended_patient_days": trajectory["unattended"].sum(axis=1),
            "final_beds": trajectory["beds"][:, -1].astype(float),
        }

    def kpi_specs(self) -> dict[str, KPISpec]:
        return {
            "unattended_patient_days": KPISpec("patient-days", "unattended patient-days over the horizon", "{:,.1f}"),
            "final_beds": KPISpec("beds", "beds in service in the last year", "{:,.1f}", direction="max"),
        }

    def action_table(self) -> ActionTable:
        """Action ``a`` adds ``a`` beds: one component, ``beds``."""
        return ActionTable.index(self.params.max_add + 1, "beds", "added")

    # ------------------------------------------------------------ exact model
    def lattice_of(self, t: int, observations: np.ndarray) -> np.ndarray:
        """Lattice index of each observation ``(n, 4)`` of year ``t``; ``horizon + 1`` for no lattice point.

        Explicit: on a random population lattice the observed population is
        matched against the ``2 t + 1`` populations year ``t`` can take
        (:func:`optalloc.tabular.nearest_index`), never inverted through a
        logarithm; on a deterministic path the index is 0.
        """
        if self.params.growth_step == 0:
            # A deterministic population is a function of the year, not part of the state: a plan made on a
            # population path (a forecast) acts on any observed population, as it would in practice.
            return np.zeros(len(observations), dtype=np.int64)
        lattice = np.arange(-t, t + 1)
        pos = nearest_index(self.population(t, lattice), np.asarray(observations)[:, 2])
        return np.where(pos >= 0, pos - t, self.horizon + 1)

    def expected_year_shortage(self, t: int, lattice: np.ndarray, beds: np.ndarray) -> np.ndarray:
        """Expected unattended patient-days in year ``t`` [patient-days], averaged over surge.

        ``lattice`` and ``beds`` broadcast against each other.
        """
        p = self.params
        normal = expected_shortage(self.demand_mean(t, lattice, False), beds)
        if p.surge_probability == 0:
            return p.days * normal
        surge = expected_shortage(self.demand_mean(t, lattice, True), beds)
        return p.days * ((1 - p.surge_probability) * normal + p.surge_probability * surge)

    def lattice_distribution(self, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Distribution of the lattice move over ``steps`` years.

        Returns
        -------
        offsets : ndarray of int
            Possible moves ``-steps .. steps`` (only 0 on a deterministic path).
        probabilities : ndarray
            Their probabilities (the ``steps``-fold convolution of the step law).
        """
        probs = np.ones(1)
        for _ in range(steps):
            probs = np.convolve(probs, self._xi_prob)
        width = (len(probs) - 1) // 2
        return np.arange(-width, width + 1), probs

    def expected_shortage_rows(self, beds: np.ndarray) -> list[np.ndarray]:
        """Expected unattended patient-days of every (year, lattice index) on a bed grid.

        Returns
        -------
        list of ndarray
            ``rows[t][j + w_t]`` for lattice index ``j`` in ``-w_t..w_t`` (``w_t = t``
            on a random population path, else 0), shape ``(2 w_t + 1, K)``
            [patient-days], averaged over surge years.
        """
        rows = []
        for t in range(self.horizon):
            width = t if self.params.growth_step > 0 else 0
            lattice = np.arange(-width, width + 1)
            rows.append(self.expected_year_shortage(t, lattice[:, None], beds[None, :]))
        return rows

    def expected_shortage_table(self, t0: int, lattice0: int, beds: np.ndarray,
                                rows: list[np.ndarray] | None = None) -> np.ndarray:
        """Expected unattended patient-days of years ``t0..horizon-1`` for every bed count of a grid.

        The expectation is over everything random (population lattice from
        ``lattice0`` at year ``t0``, surge, Poisson census), so for a plan
        fixed from ``t0`` on the expected total cost is exact. Rows of years
        before ``t0`` are zero.

        Parameters
        ----------
        t0 : int
            Current year.
        lattice0 : int
            Lattice index at ``t0``.
        beds : ndarray of int, shape (K,)
            Bed counts.
        rows : list of ndarray, optional
            :meth:`expected_shortage_rows` of the same ``beds``, to reuse across calls.

        Returns
        -------
        ndarray, shape (horizon, K)
            [patient-days]; convex in the bed count for every year.
        """
        rows = self.expected_shortage_rows(beds) if rows is None else rows
        table = np.zeros((self.horizon, len(beds)))
        for t in range(t0, self.horizon):
            offsets, probs = self.lattice_distribution(t - t0)
            width = (len(rows[t]) - 1) // 2
            table[t] = probs @ rows[t][lattice0 + offsets + width]
        return table

    def realised_shortage(self, noise: Noise, beds: np.ndarray) -> np.ndarray:
        """Realised unattended patient-days of every episode and year for every bed count of a grid.

        Parameters
        ----------
        noise : dict of ndarray
            A noise path (:meth:`sample_noise`) of ``E`` episodes.
        beds : ndarray of int, shape (K,)
            Bed counts.

        Returns
        -------
        ndarray, shape (E, horizon, K)
            ``sum_d max(r_d - beds[k], 0)`` [patient-days] on the path's demand, the
            value :meth:`step` charges with ``beds[k]`` beds in service.
        """
        episodes, T = noise["xi"].shape
        lattice = self.year_start_lattice(noise)
        grid = np.broadcast_to(np.asarray(beds, dtype=np.int64), (episodes, len(beds)))
        return np.stack([self.year_unattended(t, lattice[:, t], noise["surge"][:, t], noise["demand_key"][:, t], grid)
                         for t in range(T)], axis=1)

    def stage_states(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Reachable (beds, lattice) pairs at the start of year ``t`` (``t = horizon`` allowed).

        Returns
        -------
        beds, lattice : ndarray of int, shape (S_t,)
            Beds-major order: state ``(beds - initial_beds) * n_lattice + (lattice + width)``
            with ``width = t`` on a random population lattice, else 0.
        """
        p = self.params
        beds = np.arange(p.initial_beds, min(p.initial_beds + p.max_add * t, self.max_beds) + 1)
        width = 0 if p.growth_step == 0 else t
        lattice = np.arange(-width, width + 1)
        b, lat = np.meshgrid(beds, lattice, indexing="ij")
        return b.ravel(), lat.ravel()

    def tabular_model(self) -> TabularModel:
        """The exact finite-horizon MDP over (year, beds, lattice index), built year by year.

        Stage ``t`` holds the states of :meth:`stage_states`, the costs
        [taka, undiscounted] of :meth:`year_cost` with the expected unattended
        patient-days of :meth:`expected_year_shortage`, and the lattice moves:
        the same dynamics as :meth:`step`.
        """
        actions = self.params.max_add + 1
        sizes = [len(self.stage_states(t)[0]) for t in range(self.horizon + 1)]
        # Solving holds one stage (a cost and |xi| transition entries per state and action: value, row and
        # column while built, then CSR) and the next one's values: about the two largest stages.
        largest = sorted(sizes)[-2:]
        check_memory(f"the exact tabular model of scenario {self.id} ({sum(sizes[:-1]):,} states x {actions} "
                     f"actions, {max(sizes):,} in the largest year)",
                     sum(largest) * actions * (24.0 + 40.0 * len(self._xi)),
                     "lower max_add, horizon or max_beds for an exact DP")
        return TabularModel(horizon=self.horizon, n_states=lambda t: sizes[t], stage=self._tabular_stage,
                            observations=self.tabular_observations, index=self.tabular_index)

    def tabular_stages(self) -> list[tuple[sparse.csr_array, np.ndarray]]:
        """Every stage of :meth:`tabular_model`, built at once (for checks; exact DP builds them one by one)."""
        return list(self.tabular_model().stages())

    def _tabular_stage(self, t: int) -> tuple[sparse.csr_array, np.ndarray]:
        """Stage ``t`` of :meth:`tabular_model`: ``P_t`` of shape ``(A * S_t, S_{t+1})``, action-major rows,
        and ``C_t`` of shape ``(S_t, A)`` [taka, undiscounted] with ``inf`` for infeasible additions."""
        actions = np.arange(self.params.max_add + 1)
        beds, lat = self.stage_states(t)
        nbeds, nlat = self.stage_states(t + 1)
        n_lat_next = len(np.unique(nlat))
        b_next0, lat_next0 = nbeds.min(), nlat.min()
        S, A = len(beds), len(actions)
        in_service = beds[:, None] + actions[None, :]
        feasible = in_service <= self.max_beds
        cost = self.year_cost(actions[None, :], in_service,
                              self.expected_year_shortage(t, lat[:, None], in_service))
        cost = np.where(feasible, cost, np.inf)
        # Successors: beds H + a (clipped for infeasible rows, which are never chosen), lattice + xi.
        rows, cols, vals = [], [], []
        s_idx = np.arange(S)
        for a in actions:
            nb = np.minimum(beds + a, self.max_beds)
            for xi, prob in zip(self._xi, self._xi_prob):
                col = (nb - b_next0) * n_lat_next + (lat + xi - lat_next0)
                rows.append(a * S + s_idx)
                cols.append(col)
                vals.append(np.full(S, prob))
        P = sparse.csr_array(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(A * S, len(nbeds)),
        )
        return P, cost

    def tabular_observations(self, t: int) -> np.ndarray:
        """Observations ``(S_t, 4)`` of the states of :meth:`stage_states` at year ``t``, in their order.

        The unattended patient-days of the previous year (which the tabular
        model does not track) are 0.
        """
        beds, lattice = self.stage_states(t)
        state = {"t": np.full(len(beds), t, dtype=np.int64), "beds": beds, "lattice": lattice,
                 "unattended": np.zeros(len(beds))}
        return self.observe(t, state)

    def tabular_index(self, t: int, observations: np.ndarray) -> np.ndarray:
        """:meth:`stage_states` index of each observation ``(n, 4)`` of year ``t``; -1 for no state of year ``t``."""
        observations = np.asarray(observations, dtype=float)
        p = self.params
        width = t if p.growth_step > 0 else 0
        beds = np.rint(observations[:, 1]).astype(np.int64)
        lattice = self.lattice_of(t, observations)
        top = min(p.initial_beds + p.max_add * t, self.max_beds)
        ok = (beds == observations[:, 1]) & (beds >= p.initial_beds) & (beds <= top) & (np.abs(lattice) <= width)
        return np.where(ok, (beds - p.initial_beds) * (2 * width + 1) + (lattice + width), -1).astype(np.int64)

    # ------------------------------------------------------------ planning hooks
    def perfect_information(self, noise: Noise) -> tuple[np.ndarray, np.ndarray]:
        """Each episode's optimal expansion plan for its own realised daily demand.

        Backward induction over (year, beds) for all episodes at once
        (:func:`optalloc.families.beds.hindsight.capacity_expansion_dp`) on the
        realised shortage cost of every bed count (:meth:`realised_shortage`):
        exact for any table, about 1 ms an episode.

        Returns
        -------
        actions : ndarray of int, shape (E, horizon)
            Beds added each year (the smallest addition among equally cheap ones).
        costs : ndarray, shape (E,)
            Their discounted total costs [taka].
        """
        from optalloc.families.beds.hindsight import capacity_expansion_dp

        p = self.params
        grid = np.arange(p.initial_beds, self.max_beds + 1)
        episodes = len(noise["xi"])
        # The realised table (built year by year, then stacked), the DP's choices (E, T, K) and one year's
        # candidates (max_add + 1, E, K), 8 bytes each.
        check_memory(f"the perfect-information plans of {episodes:,} episodes of scenario {self.id}",
                     8.0 * episodes * len(grid) * (3 * self.horizon + p.max_add + 1), "evaluate fewer episodes")
        tables = p.shortage_cost * self.realised_shortage(noise, grid)
        weights = self.discount ** np.arange(self.horizon)
        return capacity_expansion_dp(tables, p.bed_cost, p.operating_cost, weights, p.max_add, grid)

    def planner(self) -> Any:
        """The capacity expansion MILP (:class:`optalloc.formulations.beds.planner.BedPlanner`)."""
        from optalloc.formulations.beds.planner import BedPlanner

        return BedPlanner(self)


def make(preset: str, **overrides: Any) -> BedScenario:
    """Build a preset (``"seed002-v0"``, ``"stochastic-v0"``) with overrides on top."""
    scenario = BedScenario(f"beds/{preset}", **{**PRESETS[preset], **overrides})
    # The spec records only the user's overrides: the preset is implied by the id.
    scenario.overrides = dict(overrides)
    return scenario


__all__ = ["BedParams", "BedScenario", "PRESETS", "expected_shortage", "make"]
