"""Counter-based streams and inversion sampling (optalloc.sampling) against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from optalloc import sampling
from optalloc.exceptions import ConfigurationError
from optalloc.scenario import episode_keys


def draw(table: sampling.InversionTable, keys: np.ndarray, row: int, draws: int) -> np.ndarray:
    rows = np.full(len(keys), row, dtype=np.int64)
    return sampling.draw_values(keys, rows, table.base, table.cdf, table.guide, draws)


def chi_square_p(values: np.ndarray, support: np.ndarray, pmf: np.ndarray) -> float:
    """p-value of a chi-square goodness-of-fit test on ``support`` (which must hold all the mass).

    Bins expecting fewer than 20 draws are merged into the two tails.
    """
    assert support[0] <= values.min() and values.max() <= support[-1]
    counts = np.bincount(values - support[0], minlength=len(support))
    expected = pmf * values.size
    keep = expected >= 20
    lo, hi = np.argmax(keep), len(keep) - np.argmax(keep[::-1])
    observed = np.concatenate(([counts[:lo].sum()], counts[lo:hi], [counts[hi:].sum()]))
    wanted = np.concatenate(([expected[:lo].sum()], expected[lo:hi], [expected[hi:].sum()]))
    mask = wanted > 0
    return float(stats.chisquare(observed[mask], wanted[mask] * observed.sum() / wanted[mask].sum()).pvalue)


def test_episode_keys_are_prefix_stable_and_stream_separated():
    a = episode_keys(7, 10)
    np.testing.assert_array_equal(a[:4], episode_keys(7, 4))
    assert not np.intersect1d(a, episode_keys(7, 10, "train")).size
    assert not np.intersect1d(a, episode_keys(8, 10)).size
    assert episode_keys(7, 0).shape == (0,)
    with pytest.raises(ConfigurationError, match="'stream'"):
        episode_keys(7, 3, "test")
    with pytest.raises(ConfigurationError, match="'seed'"):
        episode_keys(-1, 3)


def test_subkey_words_are_uniform_bits():
    words = sampling.subkeys(episode_keys(0, 2000), 50)
    bits = np.unpackbits(words.view(np.uint8)).reshape(-1, 64)
    # Every bit position is a fair coin over 100,000 words: 4.5 sd = 0.0071.
    assert np.abs(bits.mean(axis=0) - 0.5).max() < 4.5 * 0.5 / np.sqrt(len(bits))
    u = sampling.uniforms(words).ravel()
    assert u.min() >= 0 and u.max() < 1
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    # Neighbouring words of a stream, and the same word of neighbouring keys, are uncorrelated.
    z = (sampling.uniforms(words) - 0.5) * np.sqrt(12)
    assert abs((z[:, 1:] * z[:, :-1]).mean()) < 4.5 / np.sqrt(z[:, 1:].size)
    assert abs((z[1:] * z[:-1]).mean()) < 4.5 / np.sqrt(z[1:].size)


@pytest.mark.parametrize("mean", [0.0, 0.3, 6.5, 62.0, 5000.0])
def test_poisson_table_rows_are_the_poisson_cdf(mean):
    table = sampling.InversionTable.poisson(np.array([mean]))
    values = table.base[0] + np.arange(table.cdf.shape[1])
    exact = stats.poisson.cdf(values, mean)
    np.testing.assert_allclose(table.cdf[0], np.where(exact >= 1.0, 1.0, exact), rtol=1e-12, atol=0)
    assert table.cdf[0, -1] == 1.0
    # Below the base the CDF is 0 in double precision: nothing is cut off.
    assert table.base[0] == 0 or stats.poisson.cdf(table.base[0] - 1, mean) == 0.0


@pytest.mark.parametrize("mean", [0.3, 6.5, 62.0, 5000.0])
def test_poisson_draws_have_the_poisson_distribution(mean):
    table = sampling.InversionTable.poisson(np.array([mean]))
    values = draw(table, episode_keys(1, 200), 0, 500).ravel()
    support = np.arange(int(max(0, mean - 20 * np.sqrt(mean) - 20)), int(mean + 20 * np.sqrt(mean) + 20))
    assert chi_square_p(values, support, stats.poisson.pmf(support, mean)) > 1e-4
    z_mean = (values.mean() - mean) / np.sqrt(mean / values.size)
    assert abs(z_mean) < 4.5


def test_degenerate_distribution_draws_its_single_value():
    table = sampling.InversionTable.poisson(np.array([0.0]))
    assert np.all(draw(table, episode_keys(1, 5), 0, 100) == 0)


def test_any_cdf_with_tiny_and_cell_straddling_steps():
    """A hand-made law: masses that straddle guide cells and one far below a cell's width."""
    pmf = np.array([0.0, 0.3, 1e-6, 0.2 + 1 / 3000, 0.5 - 1e-6 - 1 / 3000])  # values 10..14
    table = sampling.InversionTable(np.array([10]), np.r_[np.cumsum(pmf)[:-1], 1.0][None, :])
    values = draw(table, episode_keys(2, 400), 0, 1000).ravel()
    counts = np.bincount(values - 10, minlength=5)
    assert counts[0] == 0
    for k in (1, 3, 4):
        sd = np.sqrt(values.size * pmf[k] * (1 - pmf[k]))
        assert abs(counts[k] - values.size * pmf[k]) < 4.5 * sd
    assert counts[2] <= 5  # expected 0.4


def test_excess_levels_equal_direct_sums_over_the_draws():
    table = sampling.InversionTable.poisson(np.array([3.0, 62.0]))
    keys = episode_keys(3, 40)
    rows = np.arange(40) % 2
    days = 365
    values = sampling.draw_values(keys, rows, table.base, table.cdf, table.guide, days)
    levels = np.tile(np.array([-5, 0, 2, 30, 55, 62, 70, 90, 400]), (40, 1))
    g = sampling.excess_levels(keys, rows, table.base, table.cdf, table.guide, days, levels)
    direct = np.maximum(values[:, :, None] - levels[:, None, :], 0).sum(axis=1)
    np.testing.assert_array_equal(g, direct)


def test_no_draws_exceed_nothing():
    table = sampling.InversionTable.poisson(np.array([3.0]))
    g = sampling.excess_levels(episode_keys(0, 2), np.zeros(2, dtype=np.int64), table.base, table.cdf, table.guide,
                               0, np.array([[0, 5], [-3, 1]]))
    np.testing.assert_array_equal(g, 0.0)


def test_rows_pick_their_own_distribution():
    table = sampling.InversionTable.poisson(np.array([5.0, 500.0]))
    keys = episode_keys(4, 30)
    rows = np.arange(30) % 2
    values = sampling.draw_values(keys, rows, table.base, table.cdf, table.guide, 200)
    assert abs(values[rows == 0].mean() - 5.0) < 4.5 * np.sqrt(5.0 / values[rows == 0].size)
    assert abs(values[rows == 1].mean() - 500.0) < 4.5 * np.sqrt(500.0 / values[rows == 1].size)


def test_table_must_reach_one():
    with pytest.raises(ValueError, match="reach 1.0"):
        sampling.InversionTable(np.array([0]), np.array([[0.5, 0.9]]))
