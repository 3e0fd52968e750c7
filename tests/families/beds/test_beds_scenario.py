"""The bed scenario against closed forms and independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import optalloc as oa
from optalloc.exceptions import ConfigurationError
from optalloc.families.beds.scenario import expected_shortage


@pytest.mark.parametrize("mean", [0.5, 7.3, 62.0, 140.0])
def test_expected_shortage_matches_pmf_summation(mean):
    beds = np.arange(0, 250)
    n = np.arange(0, 2000)
    pmf = stats.poisson.pmf(n, mean)
    direct = np.array([(np.maximum(n - h, 0) * pmf).sum() for h in beds])
    np.testing.assert_allclose(expected_shortage(mean, beds), direct, rtol=1e-10, atol=1e-12)


def test_expected_shortage_edge_cases():
    # No beds: every patient is unattended; huge capacity: nobody is.
    assert expected_shortage(62.0, 0) == pytest.approx(62.0)
    assert expected_shortage(62.0, 500) == pytest.approx(0.0, abs=1e-12)


def test_daily_demand_is_poisson_with_the_scenario_mean(seed002):
    noise = seed002.sample_noise(3, 40)
    demand = seed002.daily_demand(noise)[:, 10, :].ravel()  # year 10: m = 62 * 1.012**10
    m = 62 * 1.012**10
    values, counts = np.unique(demand, return_counts=True)
    expected = stats.poisson.pmf(values, m) * demand.size
    keep = expected > 20
    chi2 = ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert chi2 < stats.chi2.ppf(0.999, keep.sum() - 1)
    assert abs(demand.mean() - m) < 4 * np.sqrt(m / demand.size)


def test_days_of_a_year_are_uncorrelated_and_years_independent(seed002):
    demand = seed002.daily_demand(seed002.sample_noise(5, 200)).astype(float)  # (200, 30, 365)
    z = (demand - demand.mean(axis=(0, 2), keepdims=True)) / demand.std(axis=(0, 2), keepdims=True)
    n = z[..., 1:].size
    lag1 = (z[..., 1:] * z[..., :-1]).mean()  # neighbouring days
    years = (z[:, 1:] * z[:, :-1]).mean()  # the same day of consecutive years
    assert abs(lag1) < 4.5 / np.sqrt(n) and abs(years) < 4.5 / np.sqrt(z[:, 1:].size)


def test_population_lattice_and_surge_frequencies(stochastic):
    noise = stochastic.sample_noise(1, 2000)
    xi = noise["xi"].ravel()
    assert set(np.unique(xi)) == {-1, 0, 1}
    freq = np.array([(xi == k).mean() for k in (-1, 0, 1)])
    np.testing.assert_allclose(freq, [0.25, 0.5, 0.25], atol=0.01)
    assert abs(noise["surge"].mean() - 0.10) < 0.01


def test_step_shortage_equals_realised_table(stochastic):
    noise = stochastic.sample_noise(0, 6)
    state = stochastic.initial_state(6)
    grid = np.arange(50, stochastic.max_beds + 1)
    table = stochastic.realised_shortage(noise, grid)[:, 0]
    # The same from the materialised days, summed directly.
    days = stochastic.daily_demand(noise)[:, 0]
    np.testing.assert_array_equal(table, np.maximum(days[:, :, None] - grid[None, None, :], 0).sum(axis=1))
    action = np.array([0, 1, 2, 5, 9, 10])
    _, cost, info = stochastic.step(0, state, action, stochastic.noise_at(noise, 0))
    np.testing.assert_array_equal(info["unattended"], table[np.arange(6), 50 + action - 50])
    p = stochastic.params
    np.testing.assert_allclose(cost, p.bed_cost * action + p.operating_cost * (50 + action)
                               + p.shortage_cost * info["unattended"])


def test_bad_parameters_name_the_parameter():
    with pytest.raises(ConfigurationError, match="'initial_beds'.*integer >= 0.*-1"):
        oa.make_scenario("beds/seed002-v0", initial_beds=-1)
    with pytest.raises(ConfigurationError, match="'max_add'.*2.5"):
        oa.make_scenario("beds/seed002-v0", max_add=2.5)
    with pytest.raises(ConfigurationError, match="Did you mean 'horizon'"):
        oa.make_scenario("beds/seed002-v0", horizn=3)


def test_unknown_scenario_suggests(seed002):
    from optalloc.exceptions import UnknownIdError

    with pytest.raises(UnknownIdError, match="Did you mean 'beds/seed002-v0'"):
        oa.make_scenario("beds/seed02-v0")
