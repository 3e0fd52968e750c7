"""The distribution of a year's bed demand, as the dynamics see it.

Each year has ``days`` i.i.d. Poisson(m_t) daily demands; the dynamics use
them only through the yearly unattended patient-days ``g(H) = sum_d (r_d - H)^+``
for the beds ``H`` in service. These tests read ``g`` through
:meth:`BedScenario.step` (whatever the noise representation) and check

* the year's demand histogram, recovered exactly from second differences of
  ``g`` (``N_{>H} = g(H) - g(H+1)`` days exceed ``H``), against ``days * pmf``
  (chi-square);
* ``N_{>H} ~ Binomial(days, P(N > H))``: mean and variance;
* ``g(H)`` against its exact mean ``days * E[(N - H)^+]`` and exact variance
  ``days * Var((N - H)^+)`` (days independent), from the Poisson pmf;
* ``g(H)`` against plain independent daily Poisson draws (two-sample tests).

Seeds are fixed, so the tests are deterministic; bounds are 4.5 standard
errors (or p > 1e-4), so a correct sampler passes for essentially any seed
while, e.g., a one-year shift of the mean or correlated days fails by tens
of standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import optalloc as oa
from optalloc.families.beds.scenario import BedScenario, expected_shortage

Z = 4.5
EPISODES = 3000
HORIZON = 3
BEDS = np.array([0, 50, 60, 62, 70, 80, 95])


def yearly_unattended(scenario: BedScenario, noise: dict, t: int, beds: np.ndarray) -> np.ndarray:
    """``g(H)`` [patient-days] of year ``t`` for every episode and bed count, through ``scenario.step``.

    Returns
    -------
    ndarray, shape (episodes, len(beds))
    """
    episodes = next(iter(noise.values())).shape[0]
    year = scenario.noise_at(noise, t)
    state = {**scenario.initial_state(episodes), "lattice": scenario.year_start_lattice(noise)[:, t]}
    out = np.empty((episodes, len(beds)))
    for k, h in enumerate(beds):
        at_h = {**state, "t": np.full(episodes, t), "beds": np.full(episodes, h, dtype=np.int64)}
        _, _, info = scenario.step(t, at_h, np.zeros(episodes, dtype=np.int64), year)
        out[:, k] = info["unattended"]
    return out


def excess_moments(mean: float, beds: int, days: int) -> tuple[float, float, float]:
    """Exact mean, variance and 4th central moment of ``g(H) = sum_d (N_d - H)^+``, ``N_d`` i.i.d. Poisson(mean)."""
    n = np.arange(int(mean + 40 * np.sqrt(mean) + 100))
    pmf = stats.poisson.pmf(n, mean)
    x = np.maximum(n - beds, 0).astype(float)
    mu = pmf @ x
    var = pmf @ (x - mu) ** 2
    kappa4 = pmf @ (x - mu) ** 4 - 3 * var**2
    return days * mu, days * var, days * kappa4 + 3 * (days * var) ** 2


def check_mean_and_variance(sample: np.ndarray, mean: float, var: float, mu4: float, what: str) -> None:
    """z-tests of the sample mean and the sample variance against exact moments."""
    e = len(sample)
    z_mean = (sample.mean() - mean) / np.sqrt(var / e)
    se_var = np.sqrt(mu4 / e - var**2 * (e - 3) / (e * (e - 1)))
    z_var = (sample.var(ddof=1) - var) / se_var
    assert abs(z_mean) < Z, f"{what}: mean {sample.mean():.3f} vs exact {mean:.3f} (z = {z_mean:.1f})"
    assert abs(z_var) < Z, f"{what}: variance {sample.var(ddof=1):.3f} vs exact {var:.3f} (z = {z_var:.1f})"


@pytest.fixture(scope="module")
def scenario() -> BedScenario:
    # No beds at the start and a high cap, so that every H from 0 up is a reachable bed count.
    return oa.make_scenario("beds/seed002-v0", horizon=HORIZON, initial_beds=0, max_beds=400)


@pytest.fixture(scope="module")
def noise(scenario):
    return scenario.sample_noise(2024, EPISODES)


def test_recovered_year_histogram_matches_days_times_pmf(scenario, noise):
    days = scenario.params.days
    episodes = 400
    for t in range(HORIZON):
        m = float(scenario.demand_mean(t, 0, False))
        top = int(m + 12 * np.sqrt(m))
        g = yearly_unattended(scenario, {k: v[:episodes] for k, v in noise.items()}, t, np.arange(top + 2))
        exceed = g[:, :-1] - g[:, 1:]  # N_{>H} for H = 0..top, per episode
        assert np.all(exceed >= 0) and np.all(exceed == np.round(exceed))
        counts = np.concatenate(([days - exceed[:, 0]], -np.diff(exceed, axis=1).T, [exceed[:, -1]]), axis=0).T
        assert np.all(counts >= 0) and np.all(counts.sum(axis=1) == days)  # each year is a histogram of `days` days
        pooled = counts.sum(axis=0)
        probs = np.concatenate((stats.poisson.pmf(np.arange(top + 1), m), [stats.poisson.sf(top, m)]))
        expected = probs * episodes * days
        # Merge sparse bins into the two tails so every bin expects at least 20 days.
        keep = expected >= 20
        lo, hi = np.argmax(keep), len(keep) - np.argmax(keep[::-1])
        observed = np.concatenate(([pooled[:lo].sum()], pooled[lo:hi], [pooled[hi:].sum()]))
        wanted = np.concatenate(([expected[:lo].sum()], expected[lo:hi], [expected[hi:].sum()]))
        chi2 = ((observed - wanted) ** 2 / wanted).sum()
        assert chi2 < stats.chi2.ppf(1 - 1e-4, len(wanted) - 1), f"year {t}: chi2 = {chi2:.1f} on {len(wanted) - 1} df"


@pytest.mark.parametrize("t", range(HORIZON))
def test_days_above_h_are_binomial(scenario, noise, t):
    days = scenario.params.days
    m = float(scenario.demand_mean(t, 0, False))
    g = yearly_unattended(scenario, noise, t, np.concatenate([BEDS, BEDS + 1]))
    exceed = g[:, : len(BEDS)] - g[:, len(BEDS):]
    for k, h in enumerate(BEDS):
        p = stats.poisson.sf(h, m)
        var = days * p * (1 - p)
        mu4 = var * (1 + 3 * (days - 2) * p * (1 - p))  # 4th central moment of a binomial
        if var > 1e-6:  # H far below the mean: every day exceeds H, nothing random to test
            check_mean_and_variance(exceed[:, k], days * p, var, mu4, f"N_(>{h}) in year {t}")


@pytest.mark.parametrize("t", range(HORIZON))
def test_yearly_unattended_has_the_exact_mean_and_variance(scenario, noise, t):
    days = scenario.params.days
    m = float(scenario.demand_mean(t, 0, False))
    g = yearly_unattended(scenario, noise, t, BEDS)
    for k, h in enumerate(BEDS):
        mean, var, mu4 = excess_moments(m, int(h), days)
        assert mean == pytest.approx(days * float(expected_shortage(m, h)), rel=1e-9)
        check_mean_and_variance(g[:, k], mean, var, mu4, f"g({h}) in year {t}")


def test_yearly_unattended_matches_plain_daily_poisson_draws(scenario, noise):
    """Two-sample tests against an independent reference: days i.i.d. Poisson draws, drawn directly."""
    days = scenario.params.days
    rng = np.random.default_rng(7)
    for t in range(HORIZON):
        m = float(scenario.demand_mean(t, 0, False))
        ours = yearly_unattended(scenario, noise, t, BEDS)
        reference = rng.poisson(m, size=(EPISODES, days))
        for k, h in enumerate(BEDS):
            theirs = np.maximum(reference - h, 0).sum(axis=1)
            p = stats.ks_2samp(ours[:, k], theirs, method="asymp").pvalue
            assert p > 1e-4, f"g({h}) in year {t}: KS p = {p:.2g}"
            z = (ours[:, k].mean() - theirs.mean()) / np.sqrt(ours[:, k].var() / EPISODES + theirs.var() / EPISODES)
            assert abs(z) < Z, f"g({h}) in year {t}: two-sample z = {z:.1f}"


def test_stochastic_years_mix_lattice_and_surge_correctly():
    """With a random population and surges, the year's mean is m(t, lattice, surge) from the same noise path."""
    scenario = oa.make_scenario("beds/stochastic-v0", horizon=3)
    noise = scenario.sample_noise(11, 2000)
    days, t, h = scenario.params.days, 2, 70
    g = yearly_unattended(scenario, noise, t, np.array([h]))[:, 0]
    lattice = noise["xi"][:, :t].sum(axis=1)
    means = scenario.demand_mean(t, lattice, noise["surge"][:, t])
    # Standardise each episode by the exact moments of its own mean: the result has mean 0 and variance 1.
    moments = {float(m): excess_moments(float(m), h, days) for m in np.unique(means)}
    mu = np.array([moments[float(m)][0] for m in means])
    sd = np.sqrt([moments[float(m)][1] for m in means])
    standard = (g - mu) / sd
    assert abs(standard.mean()) < Z / np.sqrt(len(g))
    assert abs(standard.var(ddof=1) - 1) < Z * np.sqrt(2.5 / len(g))
