"""Conformance checks of a policy on a scenario.

Every check takes ``(policy, scenario)``, works on fresh clones of the
(unfitted) policy, and raises ``AssertionError`` naming what failed. All but
:func:`check_refuses_scenario` apply to scenarios the policy's tags accept;
that one applies to the scenarios they refuse. Rollouts give the policy
infos holding ``action_mask``, ``episode`` and ``epoch``, and check every
batch of actions with :func:`optalloc.actions.check_actions`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from optalloc.exceptions import NotFittedError, OptallocError, UnsupportedScenarioError
from optalloc.policy import Policy
from optalloc.scenario import Scenario
from optalloc.tags import INFORMATION, METHODS, PolicyTags
from optalloc.testing._core import (
    EPISODES,
    MC_EPISODES,
    SEED,
    accepted,
    assert_mean_matches,
    clone,
    conformance_check,
    exact_policy,
    failure,
    first_difference,
    fitted,
    information,
    masks_bind_for_an_unmasked_policy,
    policy_rollout,
    refused,
    registered,
)


def _noise(scenario: Scenario, episodes: int = EPISODES) -> dict[str, np.ndarray]:
    return scenario.sample_noise(SEED, episodes)


@conformance_check("policy", needs=(accepted,))
def check_metadata(policy: Policy, scenario: Scenario) -> None:
    """The tags are a PolicyTags with documented values, and get_params rebuilds the same policy."""
    tags = policy.tags
    assert isinstance(tags, PolicyTags), f"tags {tags!r} of {type(policy).__name__} are not a PolicyTags"
    assert tags.method in METHODS, f"tags.method {tags.method!r} is not one of {METHODS}"
    assert policy.information in INFORMATION, f"information {policy.information!r} is not one of {INFORMATION}"
    params, again = repr(policy.get_params()), repr(clone(policy).get_params())
    assert again == params, (f"{type(policy).__name__}(**get_params()) has the parameters {again}, not {params}: "
                             "__init__ must store its keywords unchanged")


@conformance_check("policy", needs=(accepted,))
def check_unfitted_raises(policy: Policy, scenario: Scenario) -> None:
    """Acting before ``fit`` raises ``NotFittedError``."""
    fresh = clone(policy)
    state = scenario.initial_state(1)
    infos = {"action_mask": scenario.action_mask(0, state), "episode": np.arange(1), "epoch": np.zeros(1, np.int64)}
    try:
        fresh.act_batch(scenario.observe(0, state), infos)
    except NotFittedError:
        return
    except Exception as exc:  # noqa: BLE001 - any other error is not the clear one the contract asks for
        raise failure(f"Policy {policy.name}: act_batch before fit, instead of NotFittedError,", exc) from exc
    raise AssertionError(f"Policy {policy.name} acted before fit without raising NotFittedError")


@conformance_check("policy", needs=(accepted,), skip_if=(masks_bind_for_an_unmasked_policy,))
def check_fit_returns_self(policy: Policy, scenario: Scenario) -> None:
    """``fit`` returns the policy itself and leaves its hyperparameters as given."""
    fresh = clone(policy)
    before = repr(fresh.get_params())
    try:
        result = fresh.fit(scenario, seed=0)
    except Exception as exc:  # noqa: BLE001
        raise failure(f"Policy {policy.name}: fit on scenario {scenario.id}, which its tags accept,", exc) from exc
    assert result is fresh, f"Policy {policy.name}: fit returned {result!r}, not the policy itself"
    assert repr(fresh.get_params()) == before, \
        f"Policy {policy.name}: fit changed the hyperparameters from {before} to {fresh.get_params()!r}"


@conformance_check("policy", needs=(accepted,), skip_if=(masks_bind_for_an_unmasked_policy,))
def check_actions_feasible(policy: Policy, scenario: Scenario) -> None:
    """Every action is well-formed, in the action space and allowed by the mask; costs are finite."""
    actions, costs = policy_rollout(fitted(policy, scenario), scenario, _noise(scenario))
    assert np.isfinite(costs).all(), f"Policy {policy.name}: total costs {costs.tolist()} are not finite"


@conformance_check("policy", needs=(accepted,), skip_if=(masks_bind_for_an_unmasked_policy,))
def check_seed_determinism(policy: Policy, scenario: Scenario) -> None:
    """Two fits with the same seed act alike, and a fitted policy acts alike on a second rollout."""
    noise = _noise(scenario)
    first = fitted(policy, scenario)
    a1, c1 = policy_rollout(first, scenario, noise, policy_seed=SEED)
    a2, c2 = policy_rollout(fitted(policy, scenario), scenario, noise, policy_seed=SEED)
    assert np.array_equal(a1, a2), \
        f"Policy {policy.name}: same seed gave different actions (first at {first_difference(a1, a2)})"
    np.testing.assert_array_equal(c1, c2, err_msg=f"Policy {policy.name}: same seed gave different costs")
    a3, _ = policy_rollout(first, scenario, noise, policy_seed=SEED)
    assert np.array_equal(a1, a3), (
        f"Policy {policy.name}: a second rollout with the same policy seed gave different actions (first at "
        f"{first_difference(a1, a3)}): reset(seed=...) must restart the policy's randomness and memory")


@conformance_check("policy", needs=(accepted,), skip_if=(masks_bind_for_an_unmasked_policy,))
def check_does_not_mutate_scenario(policy: Policy, scenario: Scenario) -> None:
    """Fitting and acting leave the scenario's parameters unchanged."""
    before = scenario.fingerprint(), scenario.spec()
    policy_rollout(fitted(policy, scenario), scenario, _noise(scenario))
    assert (scenario.fingerprint(), scenario.spec()) == before, \
        f"Policy {policy.name} changed the parameters of scenario {scenario.id} while fitting and acting"


@conformance_check("policy", needs=(accepted,), skip_if=(masks_bind_for_an_unmasked_policy, registered))
def check_save_load_roundtrip(policy: Policy, scenario: Scenario) -> None:
    """A saved and reloaded policy has the same hyperparameters and takes the same actions."""
    from optalloc.io import load_policy, save_policy

    fit = fitted(policy, scenario)
    with tempfile.TemporaryDirectory() as tmp:
        path = save_policy(fit, Path(tmp) / "policy.zip")
        loaded = load_policy(path)
    assert repr(loaded.get_params()) == repr(fit.get_params()), \
        f"Policy {policy.name}: reloaded with {loaded.get_params()!r}, saved with {fit.get_params()!r}"
    noise = _noise(scenario)
    a1, c1 = policy_rollout(fit, scenario, noise, policy_seed=SEED)
    a2, c2 = policy_rollout(loaded, scenario, noise, policy_seed=SEED)
    assert np.array_equal(a1, a2), \
        f"Policy {policy.name}: the reloaded policy acts differently (first at {first_difference(a1, a2)})"
    np.testing.assert_array_equal(c1, c2, err_msg=f"Policy {policy.name}: the reloaded policy costs differently")


@conformance_check("policy", needs=(accepted, exact_policy))
def check_exact_cost_matches_rollout(policy: Policy, scenario: Scenario) -> None:
    """An exact policy's ``expected_cost_`` is the mean cost of its own rollouts (99 % confidence interval)."""
    fit = fitted(policy, scenario)
    exact = getattr(fit, "expected_cost_", None)
    assert isinstance(exact, (int, float, np.floating)) and np.isfinite(exact), \
        f"Policy {policy.name} is exact but its expected_cost_ is {exact!r}, not a finite number"
    _, costs = policy_rollout(fit, scenario, _noise(scenario, MC_EPISODES))
    assert_mean_matches(float(exact), costs, f"Policy {policy.name}: expected_cost_")


@conformance_check("policy", needs=(accepted, information("oracle")))
def check_oracle_needs_noise(policy: Policy, scenario: Scenario) -> None:
    """An oracle reset without the episodes' noise refuses to act with an OptallocError instead of guessing."""
    fit = fitted(policy, scenario)
    state = scenario.initial_state(EPISODES)
    infos = {"action_mask": scenario.action_mask(0, state), "episode": np.arange(EPISODES),
             "epoch": np.zeros(EPISODES, np.int64)}
    try:
        fit.reset(seed=SEED, noise=None)
        fit.act_batch(scenario.observe(0, state), infos)
    except OptallocError:
        return
    except Exception as exc:  # noqa: BLE001
        raise failure(f"Oracle {policy.name}: acting without noise, instead of an OptallocError,", exc) from exc
    raise AssertionError(f"Oracle {policy.name} acted without the episodes' noise instead of raising an OptallocError")


@conformance_check("policy", needs=(refused,))
def check_refuses_scenario(policy: Policy, scenario: Scenario) -> None:
    """Fitting on a scenario the policy's tags refuse raises UnsupportedScenarioError giving the tags' reason."""
    reason = policy.tags.refusal(scenario.tags)
    try:
        clone(policy).fit(scenario, seed=0)
    except UnsupportedScenarioError as exc:
        assert reason in str(exc), \
            f"Policy {policy.name}: the refusal {str(exc)!r} does not give the reason of its tags: {reason!r}"
        return
    except Exception as exc:  # noqa: BLE001
        raise failure(f"Policy {policy.name}: fit on scenario {scenario.id}, which its tags refuse ({reason}), "
                      "instead of UnsupportedScenarioError,", exc) from exc
    raise AssertionError(f"Policy {policy.name} was fitted on scenario {scenario.id}, which its tags refuse: {reason}")


__all__ = [
    "check_actions_feasible",
    "check_does_not_mutate_scenario",
    "check_exact_cost_matches_rollout",
    "check_fit_returns_self",
    "check_metadata",
    "check_oracle_needs_noise",
    "check_refuses_scenario",
    "check_save_load_roundtrip",
    "check_seed_determinism",
    "check_unfitted_raises",
]
