"""Shared fixtures and the test tiers (markers ``unit``, ``solver``, ``train``, ``slow``)."""

from __future__ import annotations

from pathlib import Path

import pytest

import optalloc as oa
from optalloc.registry import register_family

# The toy family (tests/toy_family) joins through the hook an installed family's entry point uses.
register_family("toy", "toy_family:register")

#: Tests under this folder build and solve Pyomo models with HiGHS.
SOLVER_TESTS = Path(__file__).resolve().parent / "formulations"
#: Tiers other than ``unit``; a test with none of them is a unit test.
NON_UNIT_TIERS = ("solver", "train", "slow")


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier.

    Tests under ``tests/formulations/`` get ``solver``; tests marked ``train``
    or ``slow`` keep those marks; every test with none of ``solver``,
    ``train`` and ``slow`` gets ``unit``.
    """
    for item in items:
        if item.path.resolve().is_relative_to(SOLVER_TESTS) and item.get_closest_marker("solver") is None:
            item.add_marker(pytest.mark.solver)
        if not any(item.get_closest_marker(tier) is not None for tier in NON_UNIT_TIERS):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def seed002():
    return oa.make_scenario("beds/seed002-v0")


@pytest.fixture(scope="session")
def stochastic():
    return oa.make_scenario("beds/stochastic-v0")
