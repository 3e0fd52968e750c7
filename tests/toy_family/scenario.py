"""The toy scenarios (see the package docstring) and their independent optima."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces
from scipy import sparse

from optalloc.actions import ActionTable
from optalloc.exceptions import bad_value
from optalloc.kpis import KPISpec
from optalloc.scenario import Noise, Scenario, State, episode_keys
from optalloc.tabular import TabularModel
from optalloc.tags import ScenarioTags


def _uniform_ints(seed: int, episodes: int, stream: str, shape: tuple[int, ...], high: int) -> np.ndarray:
    """Integers uniform on ``0..high-1``, one independent generator per episode (common random numbers)."""
    keys = episode_keys(seed, episodes, stream)
    return np.stack([np.random.default_rng(int(k)).integers(0, high, shape) for k in keys]) if episodes else \
        np.zeros((0, *shape), dtype=np.int64)


# ---------------------------------------------------------------- walk (Discrete)
@dataclass(frozen=True)
class WalkParams:
    """A walk to a random target."""

    size: int = 5
    """Positions 0..size-1 [cells]."""
    horizon: int = 4
    """Decision epochs [steps]."""
    start: int = 0
    """Initial position [cell]."""
    step_cost: float = 0.3
    """Cost of one move left or right [EUR]."""


class WalkScenario(Scenario):
    """Move -1/0/+1 (action 0/1/2), then pay ``|position - target|`` for a target uniform on ``0..size-1``."""

    tags = ScenarioTags(family="toy", epoch_name="step", cost_unit="EUR",
                        capabilities=frozenset({"tabular_model", "perfect_information", "planner", "open_loop"}))
    params_class = WalkParams
    horizon_parameter = "horizon"
    observation_names = ("position",)

    def _validate(self) -> None:
        p = self.params
        if not isinstance(p.size, int) or p.size < 2:
            raise bad_value(f"scenario {self.id}", "size", "an integer >= 2", p.size)
        if not isinstance(p.horizon, int) or p.horizon < 1:
            raise bad_value(f"scenario {self.id}", "horizon", "an integer >= 1", p.horizon)
        if not isinstance(p.start, int) or not 0 <= p.start < p.size:
            raise bad_value(f"scenario {self.id}", "start", f"an integer in 0..{p.size - 1}", p.start)

    @property
    def horizon(self) -> int:
        return self.params.horizon

    @property
    def action_space(self) -> spaces.Discrete:
        return spaces.Discrete(3)

    @property
    def observation_space(self) -> spaces.Box:
        return spaces.Box(0.0, np.inf, shape=(1,), dtype=np.float64)

    def action_table(self) -> ActionTable:
        return ActionTable(("left", "right"), np.array([[1, 0], [0, 0], [0, 1]]), "stepped")

    def kpi_specs(self) -> dict[str, KPISpec]:
        return {"moves": KPISpec("moves", "moves left or right"), "distance": KPISpec("cells", "distance to targets")}

    def initial_state(self, n: int) -> State:
        return {"pos": np.full(n, self.params.start, dtype=np.int64)}

    def sample_noise(self, seed: int, episodes: int, stream: str = "evaluate") -> Noise:
        return {"target": _uniform_ints(seed, episodes, stream, (self.horizon,), self.params.size)}

    def step(self, t: int, state: State, action: np.ndarray, noise: Noise) -> tuple[State, np.ndarray, dict]:
        move = np.asarray(action, dtype=np.int64) - 1
        pos = state["pos"] + move
        distance = np.abs(pos - noise["target"]).astype(float)
        cost = distance + self.params.step_cost * np.abs(move)
        return {"pos": pos}, cost, {"moves": np.abs(move).astype(float), "distance": distance}

    def observe(self, t: int, state: State) -> np.ndarray:
        return state["pos"][:, None].astype(float)

    def action_mask(self, t: int, state: State) -> np.ndarray:
        pos = state["pos"][:, None] + np.arange(3)[None, :] - 1
        return (pos >= 0) & (pos < self.params.size)

    def kpis(self, trajectory: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"moves": trajectory["moves"].sum(axis=1), "distance": trajectory["distance"].sum(axis=1)}

    # ------------------------------------------------------------ exact model: states = positions
    def expected_distance(self, positions: np.ndarray) -> np.ndarray:
        """``E|p - D|`` for ``D`` uniform on ``0..size-1``."""
        targets = np.arange(self.params.size)
        return np.abs(np.asarray(positions)[..., None] - targets).mean(axis=-1)

    def tabular_model(self) -> TabularModel:
        size = self.params.size

        def stage(t: int) -> tuple[sparse.csr_array, np.ndarray]:
            pos = np.arange(size)
            rows, cols, cost = [], [], np.empty((size, 3))
            for a in range(3):
                nxt = pos + a - 1
                ok = (nxt >= 0) & (nxt < size)
                cost[:, a] = np.where(ok, self.expected_distance(np.clip(nxt, 0, size - 1))
                                      + self.params.step_cost * abs(a - 1), np.inf)
                rows.append(a * size + pos)
                cols.append(np.clip(nxt, 0, size - 1))
            P = sparse.csr_array((np.ones(3 * size), (np.concatenate(rows), np.concatenate(cols))),
                                 shape=(3 * size, size))
            return P, cost

        def index(t: int, observations: np.ndarray) -> np.ndarray:
            pos = np.asarray(observations, dtype=float)[:, 0]
            ok = (pos == np.rint(pos)) & (pos >= 0) & (pos < size)
            return np.where(ok, pos, -1).astype(np.int64)

        return TabularModel(horizon=self.horizon, n_states=lambda t: size, stage=stage,
                            observations=lambda t: np.arange(size, dtype=float)[:, None], index=index,
                            initial_index=self.params.start)

    def planner(self) -> Any:
        """A small Pyomo MIP over positions (:class:`toy_family.planner.WalkPlanner`)."""
        from toy_family.planner import WalkPlanner

        return WalkPlanner(self)

    def perfect_information(self, noise: Noise) -> tuple[np.ndarray, np.ndarray]:
        """Each episode's best action sequence for its own targets (backward induction over positions)."""
        p, targets = self.params, noise["target"]
        episodes, size = len(targets), p.size
        pos = np.arange(size)
        value = np.zeros((episodes, size))
        choice = np.zeros((self.horizon, episodes, size), dtype=np.int64)
        for t in range(self.horizon - 1, -1, -1):
            q = np.full((episodes, size, 3), np.inf)
            for a in range(3):
                nxt = pos + a - 1
                ok = (nxt >= 0) & (nxt < size)
                nc = np.clip(nxt, 0, size - 1)
                here = np.abs(nc[None, :] - targets[:, t, None]) + p.step_cost * abs(a - 1) + value[:, nc]
                q[:, :, a] = np.where(ok[None, :], here, np.inf)
            choice[t], value = q.argmin(axis=2), q.min(axis=2)
        actions = np.empty((episodes, self.horizon), dtype=np.int64)
        at = np.full(episodes, p.start)
        for t in range(self.horizon):
            actions[:, t] = choice[t, np.arange(episodes), at]
            at = at + actions[:, t] - 1
        return actions, value[:, p.start]


def brute_force_optimum(scenario: WalkScenario) -> float:
    """The walk's optimal expected cost by enumerating every action sequence (positions ignore the noise)."""
    p = scenario.params
    best = np.inf
    for plan in itertools.product(range(3), repeat=p.horizon):
        pos, total = p.start, 0.0
        for a in plan:
            pos += a - 1
            if not 0 <= pos < p.size:
                break
            total += np.abs(pos - np.arange(p.size)).mean() + p.step_cost * abs(a - 1)
        else:
            best = min(best, total)
    return best


# ---------------------------------------------------------------- pool (MultiDiscrete)
@dataclass(frozen=True)
class PoolParams:
    """Two units, each hiring 0..cap helpers against a demand uniform on 0..cap."""

    horizon: int = 3
    """Decision epochs [shifts]."""
    cap: int = 3
    """Most helpers per unit [helpers]."""
    hire_cost: float = 1.0
    """Cost per helper and shift [EUR]."""
    short_cost: tuple[float, float] = (4.0, 1.5)
    """Cost per unit of uncovered demand, per unit [EUR]."""


class PoolScenario(Scenario):
    """Each shift, choose the helpers of both units; demand ``D_i`` uniform on ``0..cap`` is revealed after."""

    tags = ScenarioTags(family="toy", action_kind="multi_discrete", epoch_name="shift", cost_unit="EUR")
    params_class = PoolParams
    horizon_parameter = "horizon"
    observation_names = ("shift",)

    @property
    def horizon(self) -> int:
        return self.params.horizon

    @property
    def action_space(self) -> spaces.MultiDiscrete:
        return spaces.MultiDiscrete([self.params.cap + 1, self.params.cap + 1])

    @property
    def observation_space(self) -> spaces.Box:
        return spaces.Box(0.0, np.inf, shape=(1,), dtype=np.float64)

    @property
    def observation_scale(self) -> np.ndarray:
        return np.array([float(self.horizon)])

    def action_table(self) -> ActionTable:
        return ActionTable(("unit A", "unit B"), None, "helpers")

    def kpi_specs(self) -> dict[str, KPISpec]:
        return {"uncovered": KPISpec("patients", "uncovered demand")}

    def initial_state(self, n: int) -> State:
        return {"t": np.zeros(n, dtype=np.int64)}

    def sample_noise(self, seed: int, episodes: int, stream: str = "evaluate") -> Noise:
        return {"demand": _uniform_ints(seed, episodes, stream, (self.horizon, 2), self.params.cap + 1)}

    def step(self, t: int, state: State, action: np.ndarray, noise: Noise) -> tuple[State, np.ndarray, dict]:
        helpers = np.asarray(action, dtype=np.int64)
        short = np.maximum(noise["demand"] - helpers, 0)
        cost = self.params.hire_cost * helpers.sum(axis=1) + short @ np.asarray(self.params.short_cost)
        return {"t": state["t"] + 1}, cost, {"uncovered": short.sum(axis=1).astype(float)}

    def observe(self, t: int, state: State) -> np.ndarray:
        return state["t"][:, None].astype(float)

    def action_mask(self, t: int, state: State) -> np.ndarray:
        return np.ones((len(state["t"]), 2 * (self.params.cap + 1)), dtype=bool)

    def kpis(self, trajectory: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"uncovered": trajectory["uncovered"].sum(axis=1)}


def newsvendor_optimum(scenario: PoolScenario) -> tuple[float, list[int]]:
    """Optimal expected cost and helpers per unit: each unit's newsvendor on a uniform demand.

    ``E[cost(x)] = h x + s E(D - x)^+``; the best ``x`` is the smallest with
    ``P(D <= x) >= (s - h) / s`` (the critical fractile), checked here by
    evaluating every ``x``.
    """
    p = scenario.params
    demand = np.arange(p.cap + 1)
    best, total = [], 0.0
    for s in p.short_cost:
        costs = [p.hire_cost * x + s * np.maximum(demand - x, 0).mean() for x in range(p.cap + 1)]
        best.append(int(np.argmin(costs)))
        total += min(costs)
    return p.horizon * total, best


def make(name: str, **overrides: Any) -> Scenario:
    """Build ``toy/<name>`` by hand (the registry does this from the ids)."""
    return {"walk-v0": WalkScenario, "pool-v0": PoolScenario}[name](f"toy/{name}", **overrides)
