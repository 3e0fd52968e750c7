"""Shared fixtures."""

from __future__ import annotations

import pytest

import optalloc as oa


@pytest.fixture(scope="session")
def seed002():
    return oa.make_scenario("beds/seed002-v0")


@pytest.fixture(scope="session")
def stochastic():
    return oa.make_scenario("beds/stochastic-v0")
