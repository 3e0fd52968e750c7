"""Public conformance checks for scenarios and policies.

Test your own scenarios and policies the way optalloc tests its built-ins,
either one pair at a time::

    from optalloc.testing import check_policy, check_scenario
    check_scenario(make_scenario("toy/walk-v0"))
    check_policy(make_policy("dp"), make_scenario("toy/walk-v0"))

or as one pytest test per (policy, scenario, check), in the manner of
scikit-learn's ``parametrize_with_checks``::

    from optalloc.testing import parametrize_with_checks

    @parametrize_with_checks()            # every registered policy and scenario
    def test_conformance(policy, scenario, check):
        check(policy, scenario)

Each check declares what it needs (a scenario capability, an exact or an
oracle policy, a scenario the policy's tags accept, or one they refuse); only
the checks that apply to a pair are generated, and one that applies but
cannot run here (a tabular model too large for a Monte Carlo comparison, a
policy that is not registered and so cannot be reloaded) is generated as a
skipped test with its reason. A check raises ``AssertionError`` naming what
failed; called directly on a subject it does not apply to, it raises
:class:`CheckNotApplicable`.

Scenario checks: :func:`check_tags`, :func:`check_spaces`,
:func:`check_noise_paths`, :func:`check_step`, :func:`check_kpis`,
:func:`check_action_table`, :func:`check_tabular_model` and
:func:`check_dp_optimum_matches_rollout` (capability ``tabular_model``),
:func:`check_perfect_information` (capability ``perfect_information``).

Policy checks: :func:`check_metadata`, :func:`check_unfitted_raises`,
:func:`check_fit_returns_self`, :func:`check_actions_feasible`,
:func:`check_seed_determinism`, :func:`check_does_not_mutate_scenario`,
:func:`check_save_load_roundtrip`, :func:`check_exact_cost_matches_rollout`
(exact policies), :func:`check_oracle_needs_noise` (oracles), and
:func:`check_refuses_scenario` (scenarios the policy's tags refuse).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from optalloc.checks import A_SCENARIO, check_instance
from optalloc.policy import Policy
from optalloc.scenario import Scenario
from optalloc.testing._core import CHECKS, Check, CheckNotApplicable, clone, describe_subject
from optalloc.testing._policy_checks import (
    check_actions_feasible,
    check_does_not_mutate_scenario,
    check_exact_cost_matches_rollout,
    check_fit_returns_self,
    check_metadata,
    check_oracle_needs_noise,
    check_refuses_scenario,
    check_save_load_roundtrip,
    check_seed_determinism,
    check_unfitted_raises,
)
from optalloc.testing._scenario_checks import (
    check_action_table,
    check_dp_optimum_matches_rollout,
    check_kpis,
    check_noise_paths,
    check_perfect_information,
    check_spaces,
    check_step,
    check_tabular_model,
    check_tags,
)

#: Outcome of a check run by :func:`check_policy` / :func:`check_scenario`.
PASSED = "passed"


def scenario_checks() -> list[Check]:
    """Every scenario check, in order (each callable as ``check(None, scenario)``)."""
    return [c for c in CHECKS if c.subject == "scenario"]


def policy_checks() -> list[Check]:
    """Every policy check, in order (each callable as ``check(policy, scenario)``)."""
    return [c for c in CHECKS if c.subject == "policy"]


@dataclass(frozen=True)
class CheckCase:
    """One generated test: a check on a scenario, or on a policy and a scenario.

    Attributes
    ----------
    id : str
        ``"ppo-toy/walk-v0-check_actions_feasible"``, ``"toy/walk-v0-check_step"``,
        or the policy id alone for a policy whose requirements are not installed.
    policy : Policy or None
        The unfitted policy (None for a scenario check).
    scenario : Scenario or None
    check : callable ``(policy, scenario) -> None`` or None
        A :class:`Check`; None when the case is skipped before any pairing.
    skip : str or None
        Why the case is skipped (None: it runs).
    """

    id: str
    policy: Policy | None
    scenario: Scenario | None
    check: Callable[[Policy | None, Scenario | None], None] | None
    skip: str | None = None


def _select_checks(checks: Iterable[Any] | None) -> list[Check]:
    """The :class:`Check` objects of ``checks`` (Checks, check functions or names), in the registered order."""
    if checks is None:
        return list(CHECKS)
    from optalloc.validation import unknown_id_error

    by_name = {c.name: c for c in CHECKS}
    chosen = set()
    for item in checks:
        check = getattr(item, "check", item)
        if isinstance(check, str):
            if check not in by_name:
                raise unknown_id_error("check", check, sorted(by_name))
            check = by_name[check]
        if not isinstance(check, Check):
            check_instance("checks", item, (str, Check), "check functions, Check objects or check names")
        chosen.add(check.name)
    return [c for c in CHECKS if c.name in chosen]


def _missing_requirements(requires: Iterable[str]) -> list[str]:
    return [module for module in requires if importlib.util.find_spec(module) is None]


class _BuildFailure:
    """The check of a registered policy that could not be built: it fails with the builder's error."""

    name = "build"

    def __init__(self, policy_id: str, exc: Exception) -> None:
        self.message = f"make_policy({policy_id!r}, **test_params) raised {type(exc).__name__}: {exc}"
        self.exc = exc

    def __call__(self, policy: Policy | None, scenario: Scenario | None) -> None:
        raise AssertionError(self.message) from self.exc

    def __repr__(self) -> str:
        return self.name


def _policies(policies: Iterable[Policy | str] | None) -> tuple[list[Policy], list[CheckCase]]:
    """Policies to check, and cases for the registered ones that cannot be built here."""
    from optalloc.registry import list_policies, make_policy, policy_spec

    items = [spec.id for spec in list_policies()] if policies is None else list(policies)
    built, cases = [], []
    for item in items:
        if isinstance(item, Policy):
            built.append(item)
            continue
        check_instance("policies", item, (str, Policy), "policies or registered policy ids")
        spec = policy_spec(item)
        missing = _missing_requirements(spec.requires)
        if missing:
            cases.append(CheckCase(spec.id, None, None, None,
                                   f"policy {spec.id} needs {', '.join(missing)}, which is not installed"))
            continue
        try:
            built.append(make_policy(spec.id, **spec.test_params))
        except Exception as exc:  # noqa: BLE001 - one broken policy fails its own case, not the collection
            cases.append(CheckCase(spec.id, None, None, _BuildFailure(spec.id, exc)))
    return built, cases


def _scenarios(scenarios: Iterable[Scenario | str] | None) -> list[Scenario]:
    from optalloc.registry import list_scenarios, make_scenario

    items = [spec.id for spec in list_scenarios()] if scenarios is None else list(scenarios)
    built = []
    for item in items:
        check_instance("scenarios", item, (str, Scenario), "scenarios or registered scenario ids")
        built.append(item if isinstance(item, Scenario) else make_scenario(item))
    return built


def iter_checks(policies: Iterable[Policy | str] | None = None, scenarios: Iterable[Scenario | str] | None = None,
                *, checks: Iterable[Any] | None = None) -> list[CheckCase]:
    """The (policy, scenario, check) cases :func:`parametrize_with_checks` generates, without pytest.

    Parameters
    ----------
    policies : iterable of Policy or str, optional
        Unfitted policies, or registered policy ids (built with their
        registry ``test_params``). Default: every registered policy; one
        whose ``requires`` are not installed gives one skipped case.
    scenarios : iterable of Scenario or str, optional
        Scenarios, or registered scenario ids. Default: every registered scenario.
    checks : iterable of check functions, Check objects or names, optional
        Which checks to generate. Default: all.

    Returns
    -------
    list of CheckCase
        Scenario checks of every scenario, then policy checks of every
        (policy, scenario) pair; only the checks whose needs the subject
        meets, each with its skip reason if it cannot run here.
    """
    selected = _select_checks(checks)
    built, cases = _policies(policies)
    scenario_list = _scenarios(scenarios)
    for scenario in scenario_list:
        for check in selected:
            if check.subject == "scenario" and check.not_applicable(None, scenario) is None:
                cases.append(CheckCase(f"{scenario.id}-{check.name}", None, scenario, check,
                                       check.skip_reason(None, scenario)))
    for policy in built:
        for scenario in scenario_list:
            for check in selected:
                if check.subject == "policy" and check.not_applicable(policy, scenario) is None:
                    cases.append(CheckCase(f"{policy.name}-{scenario.id}-{check.name}", policy, scenario, check,
                                           check.skip_reason(policy, scenario)))
    return cases


def parametrize_with_checks(policies: Iterable[Policy | str] | None = None,
                            scenarios: Iterable[Scenario | str] | None = None, *,
                            checks: Iterable[Any] | None = None) -> Any:
    """A ``pytest.mark.parametrize`` decorator over the (policy, scenario, check) cases that apply.

    The decorated test takes the arguments ``policy``, ``scenario`` and
    ``check`` and calls ``check(policy, scenario)`` (``policy`` is None for a
    scenario check). Ids read ``"ppo-toy/walk-v0-check_actions_feasible"``
    and ``"toy/walk-v0-check_step"``; a case that cannot run here is marked
    skipped with its reason. Arguments as in :func:`iter_checks`.

    Examples
    --------
    >>> from optalloc.testing import parametrize_with_checks
    >>> @parametrize_with_checks(["dp"], ["toy/walk-v0"])  # doctest: +SKIP
    ... def test_conformance(policy, scenario, check):
    ...     check(policy, scenario)
    """
    import pytest

    params = [pytest.param(case.policy, case.scenario, case.check, id=case.id,
                           marks=() if case.skip is None else pytest.mark.skip(reason=case.skip))
              for case in iter_checks(policies, scenarios, checks=checks)]
    return pytest.mark.parametrize(("policy", "scenario", "check"), params)


def _run(checks: list[Check], policy: Policy | None, scenario: Scenario) -> dict[str, str]:
    outcomes = {}
    for check in checks:
        reason = check.not_applicable(policy, scenario)
        if reason is not None:
            outcomes[check.name] = f"not applicable: {reason}"
            continue
        reason = check.skip_reason(policy, scenario)
        if reason is not None:
            outcomes[check.name] = f"skipped: {reason}"
            continue
        check(policy, scenario)
        outcomes[check.name] = PASSED
    return outcomes


def check_scenario(scenario: Scenario) -> dict[str, str]:
    """Run every scenario check that applies to ``scenario``.

    Returns
    -------
    dict of str
        Each check's outcome: ``"passed"``, ``"skipped: <reason>"`` or
        ``"not applicable: <reason>"``.

    Raises
    ------
    AssertionError
        The first check that fails.
    """
    check_instance("scenario", scenario, Scenario, A_SCENARIO)
    return _run(scenario_checks(), None, scenario)


def check_policy(policy: Policy, scenario: Scenario) -> dict[str, str]:
    """Run every policy check that applies to ``policy`` on ``scenario``.

    Returns
    -------
    dict of str
        Each check's outcome, as in :func:`check_scenario`.

    Raises
    ------
    CheckNotApplicable
        The policy's tags refuse the scenario: no check of acting on it
        applies (:func:`check_refuses_scenario` checks the refusal itself).
    AssertionError
        The first check that fails.
    """
    check_instance("policy", policy, Policy, "a Policy (optalloc.make_policy(id))")
    check_instance("scenario", scenario, Scenario, A_SCENARIO)
    reason = policy.tags.refusal(scenario.tags)
    if reason is not None:
        raise CheckNotApplicable(f"check_policy cannot run on {describe_subject(policy, scenario)}: the policy's tags "
                                 f"refuse it ({reason}); check_refuses_scenario checks that refusal.")
    return _run(policy_checks(), policy, scenario)


__all__ = [
    "PASSED",
    "Check",
    "CheckCase",
    "CheckNotApplicable",
    "check_action_table",
    "check_actions_feasible",
    "check_does_not_mutate_scenario",
    "check_dp_optimum_matches_rollout",
    "check_exact_cost_matches_rollout",
    "check_fit_returns_self",
    "check_kpis",
    "check_metadata",
    "check_noise_paths",
    "check_oracle_needs_noise",
    "check_perfect_information",
    "check_policy",
    "check_refuses_scenario",
    "check_save_load_roundtrip",
    "check_scenario",
    "check_seed_determinism",
    "check_spaces",
    "check_step",
    "check_tabular_model",
    "check_tags",
    "check_unfitted_raises",
    "clone",
    "iter_checks",
    "parametrize_with_checks",
    "policy_checks",
    "scenario_checks",
]
