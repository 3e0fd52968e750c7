"""Simple policies for the toy scenarios, written against the public Policy contract only.

Their costs follow from the noise by hand, which is what the generic tests
compare optalloc's numbers with:

* :class:`TowardPolicy` (``toy/walk-v0``): walk to a fixed cell, one step per
  epoch, and stay there; with ``cell=None``, ``fit`` picks the cell by a grid
  search on training paths (fitted state to save, load and seed).
* :class:`FixedHelpersPolicy` (``toy/pool-v0``): the same helpers every shift.

They are not part of the toy family's registration: :data:`SPECS` holds their
registry entries, which a test adds for its own duration
(:func:`register_for_test`), so registry-wide tests do not see them. Spawned
worker processes and ``optalloc`` subprocesses register them (and the toy
scenarios) through entry points: :func:`install_entry_points`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from optalloc.exceptions import bad_value
from optalloc.policy import Policy
from optalloc.registry import POLICIES, PolicySpec, register_policy
from optalloc.scenario import Scenario
from optalloc.tags import PolicyTags


def _is_count(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0


class TowardPolicy(Policy):
    """Step toward ``cell`` every epoch (action ``1 + sign(cell - position)``), then stay (toy/walk-v0).

    Parameters
    ----------
    cell : int, optional
        Cell walked to [cell]. ``None``: ``fit`` tries every cell on
        ``train_episodes`` training paths and keeps the cheapest.
    train_episodes : int
        Training paths of the grid search [episodes].

    Attributes
    ----------
    cell_ : int
        The cell walked to.
    grid_costs_ : ndarray of float, shape (size,)
        Mean training cost of walking to each cell [EUR]; only after a grid search.
    """

    tags = PolicyTags(method="heuristic", families=frozenset({"toy"}))

    def __init__(self, cell: int | None = None, train_episodes: int = 20) -> None:
        self.cell = cell
        self.train_episodes = train_episodes

    def _validate_params(self) -> None:
        if self.cell is not None and not _is_count(self.cell):
            raise bad_value("TowardPolicy", "cell", "a non-negative integer or None", self.cell)
        if not _is_count(self.train_episodes) or self.train_episodes < 1:
            raise bad_value("TowardPolicy", "train_episodes", "a positive integer", self.train_episodes)

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        from optalloc.evaluation import rollout

        size = scenario.params.size
        if self.cell is not None:
            if self.cell >= size:
                raise bad_value("TowardPolicy", "cell", f"a cell of 0..{size - 1}", self.cell)
            self.cell_ = int(self.cell)
            return
        noise = scenario.sample_noise(0 if seed is None else seed, self.train_episodes, stream="train")
        self.grid_costs_ = np.array([rollout(TowardPolicy(cell=c).fit(scenario), scenario, noise).total_cost.mean()
                                     for c in range(size)])
        self.cell_ = int(np.argmin(self.grid_costs_))

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        position = np.asarray(observations)[:, 0]
        return (1 + np.sign(self.cell_ - position)).astype(np.int64)


class FixedHelpersPolicy(Policy):
    """The same helpers for both units every shift (toy/pool-v0).

    Parameters
    ----------
    helpers : tuple of int
        Helpers of unit A and of unit B [helpers].
    """

    tags = PolicyTags(method="heuristic", families=frozenset({"toy"}), action_kinds=frozenset({"multi_discrete"}))

    def __init__(self, helpers: tuple[int, int] = (1, 1)) -> None:
        self.helpers = helpers

    def _validate_params(self) -> None:
        if len(np.shape(self.helpers)) != 1 or len(self.helpers) != 2 or not all(map(_is_count, self.helpers)):
            raise bad_value("FixedHelpersPolicy", "helpers", "two non-negative integers", self.helpers)

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        return np.tile(np.asarray(self.helpers, dtype=np.int64), (len(observations), 1))


class CrashingPolicy(TowardPolicy):
    """:class:`TowardPolicy` whose ``fit`` kills its own process on seed ``crash_seed``: a worker that dies."""

    def __init__(self, cell: int | None = 0, train_episodes: int = 20, crash_seed: int = 1) -> None:
        super().__init__(cell=cell, train_episodes=train_episodes)
        self.crash_seed = crash_seed

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        if seed == self.crash_seed:
            import os

            os._exit(70)  # no exception, no clean-up: as the out-of-memory killer ends a process
        super()._fit(scenario, seed)


#: Registry entries of the policies above (not registered by the toy family).
SPECS = (
    PolicySpec("toy-toward", "toy_family.simple_policies:TowardPolicy", "Walk to a fixed or grid-searched cell"),
    PolicySpec("toy-helpers", "toy_family.simple_policies:FixedHelpersPolicy", "The same helpers every shift"),
    PolicySpec("toy-crash", "toy_family.simple_policies:CrashingPolicy", "Kills its process when fitted on seed 1"),
)


def register() -> None:
    """Register :data:`SPECS` for good (the entry-point hook of :func:`install_entry_points`)."""
    for spec in SPECS:
        register_policy(spec)


def register_for_test(monkeypatch: Any) -> None:
    """Register :data:`SPECS` until the end of the test owning ``monkeypatch`` (a ``pytest.MonkeyPatch``)."""
    for spec in SPECS:
        monkeypatch.setitem(POLICIES, spec.id, spec)


#: ``optalloc.families`` entry points of a process that sees :func:`install_entry_points`'s folder.
ENTRY_POINTS = {"toy": "toy_family:register", "toy-simple-policies": "toy_family.simple_policies:register"}


def install_entry_points(folder: Path) -> Path:
    """Write distribution metadata declaring :data:`ENTRY_POINTS` into ``folder``, as ``pip install`` would.

    A process with ``folder`` and the ``tests`` folder on its path (``sys.path``,
    which spawned workers inherit, or ``PYTHONPATH`` for a subprocess) registers
    the toy family and these policies when it first imports
    :mod:`optalloc.registry` (``optalloc.make_scenario``, ``optalloc list``), through
    :func:`optalloc.registry.discover_families`: the path an installed
    third-party family takes.

    Returns
    -------
    Path
        ``folder``.
    """
    info = Path(folder) / "optalloc_toy_family-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: optalloc-toy-family\nVersion: 0\n")
    lines = "".join(f"{name} = {hook}\n" for name, hook in ENTRY_POINTS.items())
    (info / "entry_points.txt").write_text(f"[optalloc.families]\n{lines}")
    return Path(folder)


#: The folder holding ``toy_family``, for a subprocess's ``PYTHONPATH``.
TESTS_FOLDER = Path(__file__).resolve().parents[1]
