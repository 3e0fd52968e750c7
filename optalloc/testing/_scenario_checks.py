"""Conformance checks of a scenario: the rollout contract, and each capability its tags claim.

Every check takes the scenario only and raises ``AssertionError`` naming what
failed. The random rollouts draw uniformly random feasible actions: one index
per episode for a ``Discrete`` space, one count per component (from that
component's slice of the mask) for a ``MultiDiscrete`` space.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from optalloc.actions import ActionTable, check_actions
from optalloc.exceptions import InfeasibleActionError
from optalloc.kpis import KPISpec
from optalloc.scenario import Scenario
from optalloc.tabular import TabularModel
from optalloc.tags import ScenarioTags
from optalloc.testing._core import (
    DP_ID,
    EPISODES,
    LARGE_MODEL_STATES,
    MC_EPISODES,
    PI_EPISODES,
    RTOL,
    SEED,
    assert_mean_matches,
    capability,
    conformance_check,
    dp_accepts,
    failure,
    policy_rollout,
    random_rollout,
    small_tabular_model,
)

#: Action kind of each action space type.
_KINDS = {spaces.Discrete: "discrete", spaces.MultiDiscrete: "multi_discrete"}


def _mask_width(space: spaces.Space) -> int:
    """Columns of the action mask: ``n`` for ``Discrete(n)``, ``sum(nvec)`` for ``MultiDiscrete(nvec)``."""
    return int(space.n) if isinstance(space, spaces.Discrete) else int(np.asarray(space.nvec).sum())


@conformance_check("scenario")
def check_tags(scenario: Scenario) -> None:
    """The tags are a ScenarioTags whose family is the id's prefix and whose action kind matches the space."""
    tags = scenario.tags
    assert isinstance(tags, ScenarioTags), f"tags {tags!r} of {type(scenario).__name__} are not a ScenarioTags"
    prefix = scenario.id.split("/")[0]
    assert tags.family == prefix, \
        f"tags.family {tags.family!r} is not the family prefix {prefix!r} of the scenario id {scenario.id!r}"
    kind = _KINDS.get(type(scenario.action_space))
    assert tags.action_kind == kind, \
        f"tags.action_kind {tags.action_kind!r} does not match the action space {scenario.action_space} ({kind!r})"
    assert isinstance(tags.epoch_name, str) and tags.epoch_name, f"tags.epoch_name {tags.epoch_name!r} is empty"


@conformance_check("scenario")
def check_spaces(scenario: Scenario) -> None:
    """Spaces are declared, the mask has one column per choice, and the initial observation lies in its space."""
    space = scenario.action_space
    assert isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)), \
        f"action_space {space!r} is neither a gymnasium Discrete nor a MultiDiscrete space"
    assert isinstance(scenario.observation_space, spaces.Space), "observation_space must be a gymnasium Space"
    state = scenario.initial_state(3)
    obs = scenario.observe(0, state)
    assert obs.shape == (3, *scenario.observation_space.shape), \
        f"observe gave shape {obs.shape} for 3 episodes; expected {(3, *scenario.observation_space.shape)}"
    for row in obs:
        assert scenario.observation_space.contains(row), \
            f"initial observation {row.tolist()} lies outside {scenario.observation_space}"
    mask = np.asarray(scenario.action_mask(0, state))
    assert mask.dtype == bool and mask.shape == (3, _mask_width(space)), \
        f"action_mask gave {mask.dtype} of shape {mask.shape} for 3 episodes; expected bool of shape " \
        f"{(3, _mask_width(space))} for {space}"


@conformance_check("scenario")
def check_noise_paths(scenario: Scenario) -> None:
    """Same seed gives the same path; episode i's path does not depend on the number of episodes."""
    a = scenario.sample_noise(SEED, 5)
    b = scenario.sample_noise(SEED, 5)
    c = scenario.sample_noise(SEED, 3)
    d = scenario.sample_noise(SEED + 1, 5)
    train = scenario.sample_noise(SEED, 5, stream="train")
    differs = False
    for key in a:
        assert a[key].shape[:2] == (5, scenario.horizon), \
            f"noise {key!r} has shape {a[key].shape}; expected (5, {scenario.horizon}, ...) for 5 episodes"
        np.testing.assert_array_equal(a[key], b[key], err_msg=f"noise {key!r} differs for the same seed")
        np.testing.assert_array_equal(a[key][:3], c[key], err_msg=f"noise {key!r} depends on the number of episodes")
        differs |= not np.array_equal(a[key], d[key]) and not np.array_equal(a[key], train[key])
    assert differs, "noise does not change with the seed or the stream"


@conformance_check("scenario")
def check_step(scenario: Scenario) -> None:
    """Random feasible rollouts give finite costs and observations in space, and replay exactly."""
    fingerprint = scenario.fingerprint()
    noise = scenario.sample_noise(SEED, EPISODES)
    first, second = random_rollout(scenario, noise, 0), random_rollout(scenario, noise, 0)
    np.testing.assert_array_equal(first.costs, second.costs, err_msg="same actions and noise gave different costs")
    np.testing.assert_array_equal(first.observations, second.observations,
                                  err_msg="same actions and noise gave different observations")
    assert scenario.fingerprint() == fingerprint, "stepping mutated the scenario's parameters"


@conformance_check("scenario")
def check_kpis(scenario: Scenario) -> None:
    """kpis() returns one finite value per episode for exactly the keys of kpi_specs(), in the same order."""
    rollout = random_rollout(scenario, scenario.sample_noise(SEED, EPISODES), 0)
    kpis, specs = scenario.kpis(rollout.info), scenario.kpi_specs()
    assert list(kpis) == list(specs), f"kpis() returns {list(kpis)} but kpi_specs() describes {list(specs)}"
    for key, spec in specs.items():
        assert isinstance(spec, KPISpec), f"kpi_specs()[{key!r}] is {spec!r}, not a KPISpec"
        assert spec.direction in ("min", "max"), f"kpi_specs()[{key!r}].direction is {spec.direction!r}"
        value = np.asarray(kpis[key], dtype=float)
        assert value.shape == (EPISODES,), \
            f"kpis()[{key!r}] has shape {value.shape}; expected one value per episode ({EPISODES},)"
        assert np.isfinite(value).all(), f"kpis()[{key!r}] is {value.tolist()}"
        try:
            spec.format(float(value[0]))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise failure(f"kpi_specs()[{key!r}].format({float(value[0])!r}) with fmt {spec.fmt!r}", exc) from exc


@conformance_check("scenario")
def check_action_table(scenario: Scenario) -> None:
    """action_table() names the space's choices: decode and encode invert each other, describe gives text."""
    space, table = scenario.action_space, scenario.action_table()
    assert isinstance(table, ActionTable), f"action_table() gave {table!r}, not an ActionTable"
    names = table.components
    assert names and len(set(names)) == len(names), f"action_table() components {list(names)} are empty or repeat"
    if isinstance(space, spaces.Discrete):
        assert not table.vector, f"action_table() of {space} has no table of component counts"
        assert table.table.shape[0] == space.n, \
            f"action_table() has {table.table.shape[0]} rows for the {space.n} actions of {space}"
        actions = np.arange(space.n)
    else:
        nvec = np.asarray(space.nvec).ravel()
        assert table.vector, f"action_table() of {space} must have no table: its actions are the component counts"
        assert len(names) == len(nvec), f"action_table() names {len(names)} components for the {len(nvec)} of {space}"
        actions = random_rollout(scenario, scenario.sample_noise(SEED, EPISODES), 0).actions.reshape(-1, len(nvec))
    counts = table.decode(actions)
    assert list(counts) == list(names), f"decode gave the components {list(counts)}; expected {list(names)}"
    back = table.encode(counts)
    np.testing.assert_array_equal(back, actions, err_msg="encode(decode(actions)) is not the actions")
    for action in actions:
        text = table.describe(action)
        assert isinstance(text, str) and text, f"describe({action.tolist()}) gave {text!r}, not a text"


def _stages_to_check(horizon: int, states: int) -> list[int]:
    """Every epoch of a small model; of a large one, the first two and last two (where shapes change most)."""
    if states <= LARGE_MODEL_STATES:
        return list(range(horizon))
    return sorted({0, 1, horizon - 2, horizon - 1} & set(range(horizon)))


def _tabular_model(scenario: Scenario) -> TabularModel:
    try:
        model = scenario.tabular_model()
    except Exception as exc:  # noqa: BLE001 - the tags claim the capability, so the model must build
        raise failure(f"tabular_model() of scenario {scenario.id}, whose tags offer it,", exc) from exc
    assert isinstance(model, TabularModel), f"tabular_model() gave {model!r}, not a TabularModel"
    return model


@conformance_check("scenario", needs=(capability("tabular_model"),))
def check_tabular_model(scenario: Scenario) -> None:
    """The tabular model's stages chain, its index inverts its observations, and rollouts stay inside it.

    Stage ``t`` has ``P_t`` of shape ``(A * S_t, S_{t+1})`` with rows summing
    to one where the cost is finite, and ``C_t`` of shape ``(S_t, A)``;
    ``index(t, observations(t))`` is ``arange(S_t)``; ``initial_index`` is
    the index of the initial observation; every observation of a random
    feasible rollout is a state of the model. A model of more than
    :data:`~optalloc.testing._core.LARGE_MODEL_STATES` states has its stages
    checked at the first two and last two epochs only.
    """
    model = _tabular_model(scenario)
    T = scenario.horizon
    assert model.horizon == T, f"the tabular model has {model.horizon} stages; the scenario {T} epochs"
    sizes = [int(model.n_states(t)) for t in range(T + 1)]
    assert min(sizes) >= 1, f"the tabular model has epochs without states: n_states = {sizes}"
    space = scenario.action_space
    for t in _stages_to_check(T, sum(sizes[:-1])):
        P, C = model.stage(t)
        # A Discrete space fixes the action count; the layout of vector actions in a table is the model's own.
        n_actions = int(space.n) if isinstance(space, spaces.Discrete) else int(np.shape(C)[-1])
        expected = (n_actions * sizes[t], sizes[t + 1])
        assert P.shape == expected, f"stage {t}: P has shape {P.shape}; expected (A * S_t, S_t+1) = {expected}"
        assert np.shape(C) == (sizes[t], n_actions), \
            f"stage {t}: C has shape {np.shape(C)}; expected (S_t, A) = {(sizes[t], n_actions)}"
        C = np.asarray(C, dtype=float)
        assert not np.isnan(C).any(), f"stage {t}: C holds NaN"
        assert np.isfinite(C).any(axis=1).all(), f"stage {t}: a state without a finite-cost action"
        rows = np.asarray(P.sum(axis=1), dtype=float).reshape(n_actions, sizes[t]).T
        feasible = np.isfinite(C)
        bad = feasible & ~np.isclose(rows, 1.0, rtol=0, atol=1e-9)
        if bad.any():
            s, a = (int(x) for x in np.argwhere(bad)[0])
            raise AssertionError(f"stage {t}: the transition row of state {s} and action {a} sums to {float(rows[s, a])!r}, "
                                 "not 1")
    for t in range(T):
        obs = np.asarray(model.observations(t))
        assert obs.shape == (sizes[t], *scenario.observation_space.shape), \
            f"observations({t}) has shape {obs.shape}; expected {(sizes[t], *scenario.observation_space.shape)}"
        index = np.asarray(model.index(t, obs))
        if not np.array_equal(index, np.arange(sizes[t])):
            s = int(np.flatnonzero(index != np.arange(sizes[t]))[0]) if index.shape == (sizes[t],) else 0
            raise AssertionError(f"index({t}, observations({t})) is not arange({sizes[t]}): state {s} observed as "
                                 f"{obs[s].tolist()} maps to {np.ravel(index)[s] if index.size > s else None}")
    initial = scenario.observe(0, scenario.initial_state(1))
    start = int(np.asarray(model.index(0, initial))[0])
    assert start == model.initial_index, \
        f"initial_index is {model.initial_index}; index(0, initial observation {initial[0].tolist()}) is {start}"
    rollout = random_rollout(scenario, scenario.sample_noise(SEED, EPISODES), 0)
    for t in range(T):
        index = np.asarray(model.index(t, rollout.observations[:, t]))
        outside = (index < 0) | (index >= sizes[t])
        assert not outside.any(), (f"a random feasible rollout reaches the observation "
                                   f"{rollout.observations[int(np.flatnonzero(outside)[0]), t].tolist()} in epoch {t}, "
                                   "which is no state of the tabular model")


@conformance_check("scenario", needs=(capability("tabular_model"), dp_accepts), skip_if=(small_tabular_model,))
def check_dp_optimum_matches_rollout(scenario: Scenario) -> None:
    """The exact DP optimum of the tabular model is the mean cost of the DP policy rolled out through step.

    Two independent computations of the same dynamics: backward induction on
    :meth:`Scenario.tabular_model` and Monte Carlo through
    :meth:`Scenario.step` on :data:`~optalloc.testing._core.MC_EPISODES`
    noise paths. The optimum must lie in the 99 % confidence interval of the
    rollout mean.
    """
    from optalloc.registry import make_policy

    _tabular_model(scenario)
    try:
        dp = make_policy(DP_ID).fit(scenario, seed=0)
    except Exception as exc:  # noqa: BLE001
        raise failure(f"Policy {DP_ID}: fit on scenario {scenario.id}", exc) from exc
    _, costs = policy_rollout(dp, scenario, scenario.sample_noise(SEED, MC_EPISODES))
    assert_mean_matches(dp.expected_cost_, costs, "the DP optimum of the tabular model (expected_cost_)")


@conformance_check("scenario", needs=(capability("perfect_information"),))
def check_perfect_information(scenario: Scenario) -> None:
    """Hindsight plans replay to their costs, which no feasible policy beats on any episode.

    On :data:`~optalloc.testing._core.PI_EPISODES` noise paths, the actions
    of :meth:`Scenario.perfect_information` are feasible and, stepped
    through, cost what it reports (to 1e-9 relative); that cost is at most
    the cost of random feasible actions and, where the exact DP applies to a
    small tabular model, of the DP policy, episode by episode.
    """
    noise = scenario.sample_noise(SEED, PI_EPISODES)
    n, T = PI_EPISODES, scenario.horizon
    try:
        actions, costs = scenario.perfect_information(noise)
    except Exception as exc:  # noqa: BLE001 - the tags claim the capability
        raise failure(f"perfect_information() of scenario {scenario.id}, whose tags offer it,", exc) from exc
    actions, costs = np.asarray(actions), np.asarray(costs, dtype=float)
    assert costs.shape == (n,), f"perfect_information gave costs of shape {costs.shape}; expected ({n},)"
    assert actions.shape[:2] == (n, T), \
        f"perfect_information gave actions of shape {actions.shape}; expected ({n}, {T}, ...)"
    state, replayed = scenario.initial_state(n), np.zeros(n)
    for t in range(T):
        mask = scenario.action_mask(t, state)
        try:
            check_actions(f"perfect_information of scenario {scenario.id}", scenario.action_space, actions[:, t],
                          mask, t)
        except InfeasibleActionError as exc:
            raise AssertionError(str(exc)) from exc
        state, cost, _ = scenario.step(t, state, actions[:, t], scenario.noise_at(noise, t))
        replayed += scenario.discount ** t * np.asarray(cost, dtype=float)
    off = ~np.isclose(replayed, costs, rtol=RTOL, atol=0)
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise AssertionError(f"perfect_information reports the cost {float(costs[i])!r} for episode {i}; stepping its "
                             f"actions costs {float(replayed[i])!r}")
    rivals = {"random feasible actions": random_rollout(scenario, noise, 0).total}
    if dp_accepts(None, scenario) is None and small_tabular_model(None, scenario) is None:
        from optalloc.registry import make_policy

        rivals[f"the {DP_ID} policy"] = policy_rollout(make_policy(DP_ID).fit(scenario, seed=0), scenario, noise)[1]
    for name, other in rivals.items():
        worse = costs > other + RTOL * np.abs(other)
        if worse.any():
            i = int(np.flatnonzero(worse)[0])
            raise AssertionError(f"the hindsight cost {float(costs[i])!r} of episode {i} exceeds the cost {float(other[i])!r} of "
                                 f"{name} on the same noise")


__all__ = [
    "check_action_table",
    "check_dp_optimum_matches_rollout",
    "check_kpis",
    "check_noise_paths",
    "check_perfect_information",
    "check_spaces",
    "check_step",
    "check_tabular_model",
    "check_tags",
]
