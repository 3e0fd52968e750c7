"""Shipped data and its README agree."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from optalloc.families.beds.forecast import load_census


def test_readme_growth_rates_are_those_of_the_census_counts():
    readme = resources.files("optalloc.families.beds").joinpath("data/README.md").read_text(encoding="utf-8")
    stated = {(int(a), int(b)): float(r) for a, b, r in re.findall(r"(\d{4})-(\d{4}) (\d+\.\d+) %", readme)}
    assert len(stated) == 3
    census = load_census()
    population = dict(zip(census["year"], census["population"]))
    for (a, b), rate in stated.items():
        exact = 100 * ((population[b] / population[a]) ** (1 / (b - a)) - 1)
        assert rate == pytest.approx(exact, abs=0.005), f"{a}-{b}: README {rate} %, census {exact:.3f} %"
