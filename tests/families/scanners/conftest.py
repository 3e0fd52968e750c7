"""Scenarios of the scanner family shared by its tests (built once per session: scenarios are frozen)."""

from __future__ import annotations

import pytest

import optalloc as oa


@pytest.fixture(scope="session")
def two_scanners():
    return oa.make_scenario("scanners/gocgun-v0")


@pytest.fixture(scope="session")
def one_scanner():
    return oa.make_scenario("scanners/gocgun-1scanner-v0")


@pytest.fixture(scope="session")
def large():
    return oa.make_scenario("scanners/large-v0")
