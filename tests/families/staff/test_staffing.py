"""Staffing closed forms against published values, textbook formulas, simulation and enumeration."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import special, stats

from optalloc.exceptions import ConfigurationError, OptallocWarning
from optalloc.families.staff.staffing import (
    average_speed_of_answer,
    critical_fractile,
    demand_pmf_from_census,
    erlang_b,
    erlang_c,
    erlang_c_summary,
    nursevendor_cost,
    nursevendor_level,
    nursevendor_optimum,
    occupancy,
    poisson_demand_pmf,
    servers_for_wait_probability,
    servers_needed,
    service_level,
)


# ---------------------------------------------------------------- independent Erlang C formulas
def textbook_erlang_c(load: float, servers: int) -> float:
    """Erlang C with factorials, as printed in textbooks (fine for small s)."""
    k = np.arange(servers)
    top = load**servers / special.factorial(servers, exact=True) * servers / (servers - load)
    return top / (np.sum(load**k / special.factorial(k)) + top)


def poisson_erlang_c(load: float, servers: int) -> float:
    """The textbook formula divided by exp(R), i.e. in Poisson probabilities (stable for large loads)."""
    top = stats.poisson.pmf(servers, load) * servers / (servers - load)
    return top / (stats.poisson.cdf(servers - 1, load) + top)


def simulate_mms(load: float, servers: int, mean_service: float, reps: int, customers: int, warmup: int,
                 seed: int) -> np.ndarray:
    """Waits [s] of FCFS M/M/s queues: ``reps`` independent queues advanced together, one customer a step.

    Each customer takes the server that frees up first and starts at max(arrival, that time). The first
    ``warmup`` customers of each queue (started empty) are dropped. Returns shape (customers, reps).
    """
    rng = np.random.default_rng(seed)
    total = warmup + customers
    arrivals = np.cumsum(rng.exponential(mean_service / load, size=(total, reps)), axis=0)
    service = rng.exponential(mean_service, size=(total, reps))
    free = np.zeros((reps, servers))
    waits = np.empty((total, reps))
    rows = np.arange(reps)
    for n in range(total):
        k = np.argmin(free, axis=1)
        start = np.maximum(arrivals[n], free[rows, k])
        waits[n] = start - arrivals[n]
        free[rows, k] = start + service[n]
    return waits[warmup:]


# ---------------------------------------------------------------- Erlang C
def test_reference_values_r10_s14():
    # Published reference values for R = 10 Erlang, s = 14, 180 s mean service, 20 s target.
    assert erlang_c(10, 14) == pytest.approx(0.1741319, abs=5e-8)
    assert service_level(10, 14, 20, 180) == pytest.approx(0.88835, abs=5e-6)
    assert average_speed_of_answer(10, 14, 180) == pytest.approx(7.8359, abs=5e-5)
    assert occupancy(10, 14) == pytest.approx(0.7142857, abs=5e-8)
    summary = erlang_c_summary(10, 14, 20, 180)
    assert (summary.wait_probability, summary.service_level, summary.average_speed_of_answer,
            summary.occupancy) == (erlang_c(10, 14), service_level(10, 14, 20, 180),
                                   average_speed_of_answer(10, 14, 180), occupancy(10, 14))


def test_single_and_two_server_closed_forms():
    for rho in (0.1, 0.5, 0.93):
        assert erlang_c(rho, 1) == pytest.approx(rho, rel=1e-13)  # M/M/1: P(wait) = rho
        r = 2 * rho
        assert erlang_c(r, 2) == pytest.approx(2 * rho**2 / (1 + rho), rel=1e-13)  # M/M/2


@pytest.mark.parametrize("servers", range(1, 13))
def test_matches_factorial_formula_small_s(servers):
    for load in (0.05 * servers, 0.5 * servers, 0.9 * servers, servers - 0.01):
        assert erlang_c(load, servers) == pytest.approx(textbook_erlang_c(load, servers), rel=1e-11)


@pytest.mark.parametrize(("load", "servers"), [(200.0, 201), (500.0, 512), (500.0, 560), (2000.0, 2050)])
def test_large_loads_stay_finite_and_match_poisson_form(load, servers):
    c = erlang_c(load, servers)
    assert 0 < c < 1
    assert c == pytest.approx(poisson_erlang_c(load, servers), rel=1e-9)
    # Erlang B is the Poisson distribution truncated at s.
    assert erlang_b(load, servers) == pytest.approx(stats.poisson.pmf(servers, load)
                                                    / stats.poisson.cdf(servers, load), rel=1e-9)


def test_simulated_mms_queue_agrees():
    load, servers, tau, target = 10.0, 14, 180.0, 20.0
    waits = simulate_mms(load, servers, tau, reps=200, customers=2500, warmup=300, seed=20130)
    # Replication means are independent; a 99.9 % t interval around each.
    half = stats.t.ppf(0.9995, waits.shape[1] - 1) / math.sqrt(waits.shape[1])
    for sample, exact in ((waits > 0, erlang_c(load, servers)),
                          (waits <= target, service_level(load, servers, target, tau)),
                          (waits, average_speed_of_answer(load, servers, tau))):
        per_rep = sample.mean(axis=0)
        assert abs(per_rep.mean() - exact) <= half * per_rep.std(ddof=1), (per_rep.mean(), exact)


def test_servers_needed_is_the_smallest_meeting_the_target():
    for load, t, tau, level in ((10.0, 20.0, 180.0, 0.8), (3.3, 30.0, 240.0, 0.9), (47.5, 15.0, 300.0, 0.8),
                                (0.4, 0.0, 60.0, 0.5)):
        s = servers_needed(load, t, tau, level)
        ok = [1 - textbook_erlang_c(load, k) * math.exp(-(k - load) * t / tau) >= level
              for k in range(math.floor(load) + 1, s + 1)]
        assert ok[-1] and not any(ok[:-1])
    for load, alpha in ((10.0, 0.2), (47.5, 0.05), (0.4, 0.5)):
        s = servers_for_wait_probability(load, alpha)
        ok = [textbook_erlang_c(load, k) <= alpha for k in range(math.floor(load) + 1, s + 1)]
        assert ok[-1] and not any(ok[:-1])


def test_erlang_bad_inputs():
    with pytest.raises(ConfigurationError, match="unstable"):
        erlang_c(10, 10)
    with pytest.raises(ConfigurationError, match="unstable"):
        service_level(10.5, 10, 20, 180)
    for load in (0, -1.0, math.nan, True, "10"):
        with pytest.raises(ConfigurationError, match="'load'"):
            erlang_c(load, 14)
    for servers in (14.5, True, "14", 0):
        with pytest.raises(ConfigurationError, match="'servers'"):
            erlang_c(10, servers)
    assert erlang_c(10, 14.0) == erlang_c(10, 14)
    with pytest.raises(ConfigurationError, match="'service_level'"):
        servers_needed(10, 20, 180, service_level=1.0)
    with pytest.raises(ConfigurationError, match="'target_seconds'"):
        service_level(10, 14, -1, 180)
    with pytest.raises(ConfigurationError, match="'mean_service_seconds'"):
        average_speed_of_answer(10, 14, 0)


# ---------------------------------------------------------------- nursevendor
QS = (0.8, 0.9, 0.95, 1.0)
#: (wage, shortage cost, idle cost): every fractile below 1 for q >= 0.8.
COSTS = ((1.0, 2.0, 0.0), (1.0, 4.0, 0.5), (1.0, 10.0, 1.0), (0.5, 3.0, 2.0), (0.0, 5.0, 1.0), (1.0, 25.0, 0.0))
DEMANDS = {
    "poisson2": poisson_demand_pmf(2.0),
    "poisson5": poisson_demand_pmf(5.0),
    "poisson12": poisson_demand_pmf(12.0),
    "binom10": stats.binom.pmf(np.arange(11), 10, 0.5),
    "binom30": stats.binom.pmf(np.arange(31), 30, 0.3),
    "binom8": stats.binom.pmf(np.arange(9), 8, 0.9),
}
CDFS = {
    "poisson2": lambda n: stats.poisson.cdf(n, 2.0),
    "poisson5": lambda n: stats.poisson.cdf(n, 5.0),
    "poisson12": lambda n: stats.poisson.cdf(n, 12.0),
    "binom10": lambda n: stats.binom.cdf(n, 10, 0.5),
    "binom30": lambda n: stats.binom.cdf(n, 30, 0.3),
    "binom8": lambda n: stats.binom.cdf(n, 8, 0.9),
}


@pytest.mark.parametrize("demand", DEMANDS)
def test_closed_form_equals_enumeration_and_cost_is_convex(demand):
    pmf = DEMANDS[demand]
    levels = set()
    for q in QS:
        for w, ca, h in COSTS:
            level = nursevendor_level(pmf, q, w, ca, h)
            assert level == nursevendor_optimum(pmf, q, w, ca, h), (q, w, ca, h)
            levels.add(level)
            cost = nursevendor_cost(np.arange(3 * pmf.size), pmf, q, w, ca, h)
            assert np.all(np.diff(cost, 2) >= -1e-9 * max(1.0, cost.max()))
    assert len(levels) > 3  # the grid exercises different answers, not one staffing level


@pytest.mark.parametrize("demand", DEMANDS)
def test_full_show_up_is_the_classic_newsvendor(demand):
    pmf, cdf = DEMANDS[demand], CDFS[demand]
    for w, ca, h in COSTS:
        ratio = (ca - w) / (ca + h)
        newsvendor = next(n for n in range(pmf.size) if cdf(n) >= ratio)
        assert nursevendor_level(pmf, 1.0, w, ca, h) == newsvendor


def test_cost_matches_monte_carlo():
    rng = np.random.default_rng(2237)
    n, q, w, ca, h, mean = 12, 0.9, 1.0, 4.0, 0.5, 10.0
    demand = rng.poisson(mean, 400_000)
    present = rng.binomial(n, q, demand.size)
    sample = w * n + ca * np.maximum(demand - present, 0) + h * np.maximum(present - demand, 0)
    exact = nursevendor_cost(n, poisson_demand_pmf(mean), q, w, ca, h)
    assert isinstance(exact, float)
    assert abs(sample.mean() - exact) <= 4 * sample.std(ddof=1) / math.sqrt(sample.size)


def test_cost_closed_forms_at_the_ends():
    pmf = poisson_demand_pmf(6.0)
    # Nobody scheduled: every nurse needed is short.
    assert nursevendor_cost(0, pmf, 0.9, 1.0, 3.0, 0.5) == pytest.approx(3.0 * 6.0, rel=1e-10)
    # Deterministic demand of 3 and q = 1: w N + c_a (3 - N)^+ + h (N - 3)^+.
    sure = np.array([0, 0, 0, 1.0])
    n = np.arange(8)
    expected = 1.0 * n + 3.0 * np.maximum(3 - n, 0) + 0.5 * np.maximum(n - 3, 0)
    np.testing.assert_allclose(nursevendor_cost(n, sure, 1.0, 1.0, 3.0, 0.5), expected, rtol=1e-12, atol=1e-12)
    assert nursevendor_cost(n.reshape(2, 4), sure, 1.0, 1.0, 3.0, 0.5).shape == (2, 4)


def poisson_shortage_risk(n: int, q: float, mean: float) -> float:
    """P(D > Y_n) for untruncated Poisson demand (SciPy), summed over the support of Y_n ~ Binomial(n, q)."""
    y = np.arange(n + 1)
    return float(stats.binom.pmf(y, n, q) @ stats.poisson.sf(y, mean))


def test_hard_cases_agree():
    # Low show-up rate (a long search), a tiny fractile (a wide enumeration bound), a demand that is mostly 0.
    for mean, q, w, ca, h in ((40.0, 0.3, 0.1, 50.0, 0.0), (20.0, 0.9, 0.01, 100.0, 0.0), (0.3, 0.85, 1.0, 1.3, 0.2)):
        pmf = poisson_demand_pmf(mean)
        level = nursevendor_level(pmf, q, w, ca, h)
        assert level == nursevendor_optimum(pmf, q, w, ca, h)
        fractile = (w + q * h) / (q * (ca + h))
        assert poisson_shortage_risk(level, q, mean) <= fractile + 1e-9
        assert level == 0 or poisson_shortage_risk(level - 1, q, mean) > fractile


def test_staff_nobody_when_a_nurse_costs_more_than_she_saves():
    pmf = poisson_demand_pmf(8.0)
    q, w, ca = 0.8, 1.0, 1.2  # w >= q c_a: fractile (w + q h) / (q (c_a + h)) >= 1
    assert critical_fractile(q, w, ca, 0.0) >= 1
    with pytest.warns(OptallocWarning, match="0 nurses"):
        assert nursevendor_level(pmf, q, w, ca, 0.0) == 0
    assert nursevendor_optimum(pmf, q, w, ca, 0.0) == 0
    with pytest.warns(OptallocWarning):
        assert nursevendor_level(pmf, q, 1.0, 0.0, 0.0) == 0  # nothing gained by staffing at all
    assert critical_fractile(q, 1.0, 0.0, 0.0) == math.inf


def test_free_nurses_and_caps():
    pmf = stats.binom.pmf(np.arange(9), 8, 0.6)
    # Unpaid nurses with no idle cost: more is always better when some may not show up.
    for fn in (nursevendor_level, nursevendor_optimum):
        with pytest.raises(ConfigurationError, match="max_nurses"):
            fn(pmf, 0.9, 0.0, 5.0, 0.0)
        assert fn(pmf, 0.9, 0.0, 5.0, 0.0, max_nurses=17) == 17
        assert fn(pmf, 1.0, 0.0, 5.0, 0.0) == 8  # everyone shows up: staff the largest demand
        assert fn(np.array([1.0]), 0.9, 0.0, 5.0, 0.0) == 0  # nobody is ever needed
    # A cap below the optimum binds; by convexity both methods give the cap.
    free = nursevendor_level(pmf, 0.9, 1.0, 4.0, 0.5)
    for cap in (0, free - 1, free, free + 3):
        assert nursevendor_level(pmf, 0.9, 1.0, 4.0, 0.5, max_nurses=cap) == min(free, cap)
        assert nursevendor_optimum(pmf, 0.9, 1.0, 4.0, 0.5, max_nurses=cap) == min(free, cap)


def test_nursevendor_bad_inputs():
    pmf = poisson_demand_pmf(5.0)
    for q in (0, 0.0, 1.2, -0.5, math.nan, True):
        with pytest.raises(ConfigurationError, match="'q'"):
            nursevendor_level(pmf, q, 1.0, 3.0, 0.5)
    for name, args in (("wage", (-1.0, 3.0, 0.5)), ("shortage_cost", (1.0, -3.0, 0.5)),
                       ("idle_cost", (1.0, 3.0, math.inf))):
        with pytest.raises(ConfigurationError, match=f"'{name}'"):
            nursevendor_optimum(pmf, 0.9, *args)
    for bad in ([0.5, 0.4], [1.2, -0.2], [[0.5, 0.5]], [], [0.5, math.nan], "abc"):
        with pytest.raises(ConfigurationError, match="'demand_pmf'"):
            nursevendor_cost(3, bad, 0.9, 1.0, 3.0, 0.5)
    for n in (-1, 2.5, [1, -2], True, "3"):
        with pytest.raises(ConfigurationError, match="'N'"):
            nursevendor_cost(n, pmf, 0.9, 1.0, 3.0, 0.5)
    with pytest.raises(ConfigurationError, match="'max_nurses'"):
        nursevendor_level(pmf, 0.9, 1.0, 3.0, 0.5, max_nurses=-1)


# ---------------------------------------------------------------- demand distributions
def test_poisson_demand_pmf():
    pmf = poisson_demand_pmf(7.5)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(pmf[:-1], stats.poisson.pmf(np.arange(pmf.size - 1), 7.5), rtol=1e-12)
    assert pmf[-1] <= 1e-11
    np.testing.assert_array_equal(poisson_demand_pmf(0.0), [1.0])


@pytest.mark.parametrize("ratio", [4, 2.5, 1])
def test_demand_from_census_is_ceil_of_census_over_ratio(ratio):
    mean = 17.0
    census = poisson_demand_pmf(mean, tail=1e-14)
    pmf = demand_pmf_from_census(census, ratio)
    # P(ceil(X / r) = k) = P(r (k - 1) < X <= r k) = F(floor(r k)) - F(floor(r (k - 1))).
    k = np.arange(1, pmf.size)
    expected = stats.poisson.cdf(np.floor(ratio * k), mean) - stats.poisson.cdf(np.floor(ratio * (k - 1)), mean)
    assert pmf[0] == pytest.approx(stats.poisson.pmf(0, mean), rel=1e-12)
    np.testing.assert_allclose(pmf[1:], expected, rtol=1e-9, atol=1e-14)
    assert pmf.size == math.ceil((census.size - 1) / ratio) + 1


def test_demand_from_census_decimal_ratio_and_errors():
    census = np.array([0.2, 0.3, 0.5])
    pmf = demand_pmf_from_census(census, 0.1)  # one patient needs ten nurses: ceil(c / 0.1) = 10 c exactly
    np.testing.assert_allclose(pmf[[0, 10, 20]], census)
    assert pmf.size == 21 and pmf.sum() == pytest.approx(1.0)
    with pytest.raises(ConfigurationError, match="'ratio'"):
        demand_pmf_from_census(census, 0)
    with pytest.raises(ConfigurationError, match="'census_pmf'"):
        demand_pmf_from_census([0.2, 0.3], 4)


def test_no_warning_on_ordinary_levels():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nursevendor_level(poisson_demand_pmf(5.0), 0.9, 1.0, 4.0, 0.5) >= 5
