"""The rolling two-stage sample-average policy of the float-pool scenario (``saa-shift``).

Why two stages over the next shift are enough: census and rostered absences do not depend on
decisions, a shift's recourse depends only on its census and nurses present, and the agency nurses
booked in shift ``t`` are present in ``t + 1`` only. So the value of shift ``t + 1``'s state is
``min_f recourse(census, present + f) + W(census, rostered)`` with ``W`` free of the agency nurses
present, and the optimal decision of shift ``t`` solves

    min_{f_t, a_t}  recourse_t(c_t, b_t + g_t + f_t) + agency_wage . a_t
                    + E[ min_{f_{t+1}} recourse_{t+1}(c_{t+1}, b_{t+1} + g_{t+1}(a_t) + f_{t+1}) ]

(floats ``f`` within the pool, bookings ``a`` at most the caps, none in the last shift). The first
stage is this shift's float split and the next shift's bookings; the second stage is the next shift's
float split and recourse in each of its outcomes. :class:`TwoStagePlanner` builds it as one
:class:`~optalloc.formulations.staff.floatpool.FloatPoolStaffing` model: node 0 is the current shift,
nodes ``1..K`` the next shift's outcomes with their weights, each with its own floats (continuous when
the recourse tables are convex: the allocation of an integer pool is then integral anyway). The outcomes
are either

* ``samples = K`` draws from the policy's own noise bank (stream ``"train"`` of the fit seed, ``K``
  paths; shift ``t`` uses the bank's shift ``t``), mapped by the scenario's :meth:`step` from the observed
  state with every booking level at once -- never the evaluation noise. Equal draws are merged into one
  node carrying their weight (the same sample average), so a model never has more nodes than the step
  can draw distinct outcomes (a one-unit scenario: a few hundred, whatever ``K``); or
* ``samples = None``: the exact distribution -- every next census of each unit (the census kernel row
  of the observed census) with every quantile interval of the nurses present of every booking level
  (:meth:`present_pmf`, all levels on one uniform, which leaves each level's distribution exact), the
  units independent. Then the decision is the exact DP's (up to ties).

:class:`TwoStageSAAPolicy` re-solves it every shift on ONE persistent model (only the mutable Params
change), caching decisions per ``(shift, census and nurses present)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from optalloc.exceptions import ResourceLimitError, bad_value
from optalloc.scenario import Scenario

from .floatpool import FloatPoolPlanner, PersistentRollingPolicy, observed_state

__all__ = ["TwoStagePlanner", "TwoStageSAAPolicy"]

#: Most next-shift outcomes of the exact two-stage model.
MAX_EXACT_OUTCOMES = 20_000


class TwoStagePlanner:
    """The two-stage model of the current and the next shift (see the module docstring).

    Parameters
    ----------
    scenario : FloatPoolScenario
        The scenario to plan for.
    samples : int or None
        Sampled next-shift outcomes ``K``; None: the exact distribution.
    seed : int
        Seed of the sample bank (stream ``"train"``).
    """

    def __init__(self, scenario: Scenario, samples: int | None, seed: int = 0) -> None:
        self.scenario = scenario
        self.samples = samples
        self.base = FloatPoolPlanner(scenario)
        U = scenario.n_units
        if samples is None:
            self._intervals = [[self._present_intervals(u, shift) for shift in range(3)] for u in range(U)]
            # Outcomes per unit: every census times the most intervals of any shift of day (the others padded).
            self._per_unit = [(int(scenario.beds[u]) + 1) * max(len(w) for w, _, _ in self._intervals[u])
                              for u in range(U)]
            outcomes = math.prod(self._per_unit)
            if outcomes > MAX_EXACT_OUTCOMES:
                raise ResourceLimitError(
                    f"The exact next-shift distribution of scenario {scenario.id} has {outcomes:,} outcomes (each "
                    f"unit's next census x nurses present; at most {MAX_EXACT_OUTCOMES:,} are modelled). Give "
                    "samples=K for a sample-average model instead.")
            self.outcomes = outcomes
        else:
            # Equal draws are merged (their weights added), so no more nodes than distinct outcomes are needed.
            self.outcomes = min(int(samples), self._distinct_outcomes())
            self.bank = scenario.sample_noise(seed, int(samples), stream="train")
        self._start = observed_state(scenario, scenario.observe(0, scenario.initial_state(1))[0])

    # ------------------------------------------------------------ Planner
    def build(self, start: int) -> Any:
        """The two-stage model of shift ``start`` from the initial state's census and nurses present."""
        T = self.scenario.horizon
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < T:
            raise bad_value("TwoStagePlanner.build", "start", f"a shift in 0..{T - 1}", start)
        census, present = self._start
        data = self._data(int(start), census, present, present, np.zeros_like(present))
        K = self.outcomes
        integer = np.ones(K + 1) if not self.base.convex else np.r_[1.0, np.zeros(K)]
        return self.base.staffing_model(np.arange(K + 1), np.r_[-1, np.zeros(K, dtype=np.int64)], 1,
                                        cost=data["cost"], shows=data.get("shows"), integer_floats=integer,
                                        bookable=data["bookable"], name=f"[two-stage, {K} outcomes]")

    def update(self, model: Any, epoch: int, observation: np.ndarray, info: Mapping[str, Any]) -> None:
        """Set the current shift's census and nurses present and the next shift's outcomes from them."""
        U = self.scenario.n_units
        obs = np.rint(np.asarray(observation, dtype=float)).astype(np.int64)
        census, present = observed_state(self.scenario, observation)
        data = self._data(int(epoch), census, present, obs[1 + U:1 + 2 * U], obs[1 + 2 * U:1 + 3 * U])
        staffing = model.staffing
        staffing.set_costs(data["cost"])
        if "shows" in data:
            staffing.set_shows(data["shows"])
        staffing.set_bookable(data["bookable"])

    def decision(self, model: Any) -> np.ndarray:
        """This shift's floats and the next shift's bookings per unit, shape ``(1, 2U)`` [nurses]."""
        floats, book = model.staffing.plan()
        return np.concatenate([floats[:1], book[:1]], axis=1)

    def decision_variables(self, model: Any) -> Sequence[Any]:
        """The floats and bookings."""
        return [model.staffing.floats, model.staffing.book]

    def cache_key(self, epoch: int, observations: np.ndarray) -> np.ndarray:
        """Census and nurses present per unit (the next shift's outcomes depend on nothing else)."""
        return self.base.cache_key(epoch, observations)

    def covers(self, scenario: Scenario) -> str | None:
        """As :meth:`FloatPoolPlanner.covers`."""
        return self.base.covers(scenario)

    # ------------------------------------------------------------ data
    def _data(self, epoch: int, census: np.ndarray, present: np.ndarray, rostered: np.ndarray,
              agency: np.ndarray) -> dict[str, Any]:
        """Node data: node 0 the current shift, nodes 1..K the next shift's outcomes."""
        s, base = self.scenario, self.base
        K, U = self.outcomes, s.n_units
        cost = np.zeros((K + 1, U, base.width))
        cost[0] = base.node_costs(census[None], present[None])[0]
        shows = np.zeros((K + 1, U, int(s.agency_cap.max()) + 1))
        last = epoch == s.horizon - 1  # nothing to book for: the next shift's outcomes do not matter
        if not last:
            if self.samples is None:
                weight, next_census, next_rostered, next_shows = self._exact(epoch, census)
            else:
                weight, next_census, next_rostered, next_shows = self._sampled(epoch, census, rostered, agency)
            cost[1:] = weight[:, None, None] * base.node_costs(next_census, next_rostered)
            shows[1:] = next_shows
        data: dict[str, Any] = {"cost": cost, "bookable": np.array([0.0 if last else 1.0])}
        if base.random_shows:
            data["shows"] = shows
        return data

    def _sampled(self, epoch: int, census: np.ndarray, rostered: np.ndarray, agency: np.ndarray
                 ) -> tuple[np.ndarray, ...]:
        """The bank's shift-``epoch`` outcomes from the observed state, by the scenario's step, every level at once."""
        s = self.scenario
        K, U = int(self.samples), s.n_units
        levels = int(s.agency_cap.max()) + 1
        n = K * levels
        state = {"census": np.tile(census, (n, 1)), "rostered": np.tile(rostered, (n, 1)),
                 "agency": np.tile(agency, (n, 1))}
        action = np.zeros((n, 2 * U), dtype=np.int64)
        action[:, U:] = np.repeat(np.arange(levels), K)[:, None]
        noise = {key: np.concatenate([value] * levels, axis=0) for key, value in s.noise_at(self.bank, epoch).items()}
        after, _, _ = s.step(epoch, state, action, noise)
        shows = after["agency"].reshape(levels, K, U).transpose(1, 2, 0)
        draws = np.concatenate([after["census"][:K], after["rostered"][:K], shows.reshape(K, -1)], axis=1)
        distinct, counts = np.unique(draws, axis=0, return_counts=True)
        if len(distinct) > self.outcomes:  # the bound of _distinct_outcomes does not hold
            raise RuntimeError(f"{len(distinct)} distinct next-shift draws, more than the {self.outcomes} modelled")
        nodes = np.zeros((self.outcomes, draws.shape[1]), dtype=np.int64)
        nodes[:len(distinct)] = distinct
        weight = np.zeros(self.outcomes)
        weight[:len(distinct)] = counts / K
        return (weight, nodes[:, :U], nodes[:, U:2 * U], nodes[:, 2 * U:].reshape(self.outcomes, U, levels))

    def _distinct_outcomes(self) -> int:
        """A bound on the distinct next-shift outcomes the step can draw: per unit census x rostered x show-ups.

        The step inverts one uniform for a unit's agency nurses whatever the booking, so its show-ups of all
        levels change only where one of the levels' CDFs steps: at most ``1 + cap (cap + 1) / 2`` vectors.
        """
        s = self.scenario
        bound = 1
        for u in range(s.n_units):
            cap = int(s.agency_cap[u])
            shows = 1 if s.params.agency_absence == 0 else 1 + cap * (cap + 1) // 2
            bound *= (int(s.beds[u]) + 1) * (int(s.roster[u].max()) + 1) * shows
            if bound > MAX_EXACT_OUTCOMES ** 2:
                break
        return bound

    def _present_intervals(self, unit: int, shift: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Quantile intervals of the nurses present in a unit's ``shift`` for every booking level, one uniform.

        Returns
        -------
        width : ndarray, shape (I,)
            Probability of each interval.
        rostered : ndarray of int, shape (I,)
            Nurses present with no booking (the rostered) [nurses].
        shows : ndarray of int, shape (I, levels)
            Nurses present beyond them when ``a`` agency nurses were booked [nurses].
        """
        s = self.scenario
        cap = int(s.agency_cap[unit])
        cdfs = [np.minimum(np.cumsum(s.present_pmf(unit, shift, a)), 1.0) for a in range(cap + 1)]
        cuts = np.unique(np.concatenate([[0.0, 1.0], *[c[(c > 0) & (c < 1)] for c in cdfs]]))
        width = np.diff(cuts)
        middle = (cuts[:-1] + cuts[1:]) / 2
        present = np.stack([np.minimum((c[None, :] <= middle[:, None]).sum(axis=1), len(c) - 1) for c in cdfs],
                           axis=1)  # inverse CDF at each interval's middle
        shows = np.zeros((len(width), int(s.agency_cap.max()) + 1), dtype=np.int64)
        shows[:, :cap + 1] = present - present[:, :1]
        return width, present[:, 0], shows

    def _exact(self, epoch: int, census: np.ndarray) -> tuple[np.ndarray, ...]:
        """Every next-shift outcome: per unit census x present interval, the units' product; with probabilities."""
        s, base = self.scenario, self.base
        now, nxt = epoch % 3, (epoch + 1) % 3
        parts = []
        for u in range(s.n_units):
            dist = base.kernels[u][now][census[u]]  # next census pmf
            width, rostered, shows = self._intervals[u][nxt]
            slots = self._per_unit[u] // len(dist)
            pad = slots - len(width)  # zero-probability intervals keep every shift's model the same size
            width = np.r_[width, np.zeros(pad)]
            rostered = np.r_[rostered, np.zeros(pad, dtype=np.int64)]
            shows = np.vstack([shows, np.zeros((pad, shows.shape[1]), dtype=np.int64)])
            parts.append(((dist[:, None] * width[None, :]).ravel(), np.repeat(np.arange(len(dist)), slots),
                          np.tile(rostered, len(dist)), np.tile(shows, (len(dist), 1))))
        grid = np.indices(tuple(len(p[0]) for p in parts)).reshape(len(parts), -1)
        weight = np.prod([p[0][g] for p, g in zip(parts, grid)], axis=0)
        return (weight, np.stack([p[1][g] for p, g in zip(parts, grid)], axis=1),
                np.stack([p[2][g] for p, g in zip(parts, grid)], axis=1),
                np.stack([p[3][g] for p, g in zip(parts, grid)], axis=1))


class TwoStageSAAPolicy(PersistentRollingPolicy):
    """Each shift, the two-stage stochastic program over the next shift's outcomes (``saa-shift``).

    First stage: this shift's float split and the next shift's agency bookings; second stage: the next
    shift's float split and recourse in each of ``samples`` outcomes (see the module docstring, which
    shows why nothing beyond the next shift matters for this decision). One persistent model; decisions
    are cached per ``(shift, census and nurses present)``.

    Parameters
    ----------
    samples : int or None, default 100
        Next-shift outcomes drawn from the policy's own noise bank (stream ``"train"`` of the fit seed);
        None: the exact next-shift distribution (small scenarios only; then the policy is the exact DP's).
    time_limit : float, optional
        HiGHS time limit per solve [s].
    mip_rel_gap : float, optional
        Relative MIP gap at which HiGHS stops (dimensionless).

    Attributes
    ----------
    solves_ : list of SolveRecord
        Every solve so far (kind ``"saa"``, one per new (shift, state)).
    """

    _kind = "saa"

    def __init__(self, samples: int | None = 100, time_limit: float | None = None,
                 mip_rel_gap: float | None = 1e-9) -> None:
        super().__init__(time_limit=time_limit, mip_rel_gap=mip_rel_gap)
        self.samples = samples

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.samples is not None and (isinstance(self.samples, bool)
                                         or not isinstance(self.samples, (int, np.integer)) or self.samples < 1):
            raise bad_value(type(self).__name__, "samples", "a positive integer (sampled next-shift outcomes) or "
                            "None (the exact next-shift distribution)", self.samples)

    def _planner_for(self, scenario: Scenario, seed: int | None) -> TwoStagePlanner:
        return TwoStagePlanner(scenario, None if self.samples is None else int(self.samples),
                               0 if seed is None else seed)
