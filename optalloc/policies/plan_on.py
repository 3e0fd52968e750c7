"""``plan-on``: fit a policy on a transformed scenario (a forecast, say) and act with it on the scenario itself."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from optalloc.exceptions import bad_value
from optalloc.policy import Policy
from optalloc.scenario import Noise, Scenario
from optalloc.tags import PolicyTags
from optalloc.validation import check_known_keys


class _InnerTags:
    """The ``tags`` of a :class:`PlanOnPolicy`: its inner policy's, narrowed to the families with the transform.

    Read on the class, they are those of the default hyperparameters.
    """

    def __get__(self, policy: PlanOnPolicy | None, owner: type[PlanOnPolicy]) -> PolicyTags:
        return (policy if policy is not None else owner())._tags()


class PlanOnPolicy(Policy):
    """Fit an inner policy on the scenario a planning transform returns, and act with it.

    ``fit(scenario)`` asks the registry for the planning transform
    ``transform`` of the scenario's family
    (:func:`optalloc.registry.register_transform`), builds the planning
    scenario ``transform(scenario, **transform_params)``, fits the inner
    policy ``make_policy(inner, **inner_params)`` on it and acts with that
    policy on the scenario itself. Evaluated on the scenario, the policy
    shows what planning on the transformed model costs (e.g. the cost of
    forecast error). Without a transform it plans on the scenario itself.

    Its tags are the inner policy's (method, information set, action kinds,
    capabilities needed), restricted to the families that registered the
    transform; it is never exact for the scenario it acts on, so
    ``expected_cost_`` is None and the inner policy's own optimum on the
    planning scenario is ``planned_cost_``. A saved policy is refitted on load
    (planning transform and inner fit), from the recorded scenario and seed.

    Parameters
    ----------
    inner : str
        Registered id of the policy fitted on the planning scenario.
    inner_params : dict, optional
        Its hyperparameters.
    transform : str, optional
        Name of the planning transform the scenario's family registered;
        None plans on the scenario itself.
    transform_params : dict, optional
        Keywords of the transform (the family documents them).

    Attributes
    ----------
    planning_scenario_spec_ : dict
        Spec of the scenario the inner policy was fitted on.
    planned_cost_ : float or None
        The inner policy's ``expected_cost_`` (else its ``objective_``) on the
        planning scenario [scenario cost unit]; None if it has neither.
    expected_cost_ : None
        Always None: the plan is optimal for the planning scenario, not for this one.

    Examples
    --------
    >>> policy = make_policy("plan-on", inner="dp", transform="forecast",
    ...                      transform_params={"forecaster": "lstm", "cutoff": 2001})
    """

    tags = _InnerTags()  # type: ignore[assignment]
    refit_on_load = True

    def __init__(self, inner: str = "dp", inner_params: dict[str, Any] | None = None, transform: str | None = None,
                 transform_params: dict[str, Any] | None = None) -> None:
        self.inner = inner
        self.inner_params = inner_params
        self.transform = transform
        self.transform_params = transform_params

    # ------------------------------------------------------------ tags and parameters
    def _make_inner(self) -> Policy:
        from optalloc.registry import make_policy

        return make_policy(self.inner, **(self.inner_params or {}))

    def _tags(self) -> PolicyTags:
        from optalloc.registry import transform_families

        self._check_types()
        inner = self._make_inner().tags
        families = inner.families
        if self.transform is not None:
            having = transform_families(self.transform)
            if not having:  # a name no family registered: a typo, most likely
                from optalloc.registry import TRANSFORMS
                from optalloc.validation import unknown_id_error

                raise unknown_id_error("planning transform", self.transform, sorted({n for _, n in TRANSFORMS}))
            families = having if families is None else families & having
        return PolicyTags(method=inner.method, information=inner.information, exact=False, families=families,
                          action_kinds=inner.action_kinds, needs=inner.needs, honours_masks=inner.honours_masks)

    def _check_types(self) -> None:
        owner = type(self).__name__
        if not isinstance(self.inner, str):
            raise bad_value(owner, "inner", "a registered policy id (str)", self.inner)
        for name in ("inner_params", "transform_params"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, Mapping) and all(isinstance(k, str) for k in value)):
                raise bad_value(owner, name, "a dict of keyword arguments or None", value)
        if self.transform is not None and not isinstance(self.transform, str):
            raise bad_value(owner, "transform", "the name of a planning transform (str) or None", self.transform)
        if self.transform is None and self.transform_params:
            raise bad_value(owner, "transform_params", "empty or None without a transform", self.transform_params)

    def _validate_params(self) -> None:
        self._check_types()
        self._make_inner().validate_params()
        self._tags()  # an unknown transform fails here, before any fit

    # ------------------------------------------------------------ fitting
    def _planning_scenario(self, scenario: Scenario) -> Scenario:
        """``scenario`` through the family's transform (itself without one)."""
        if self.transform is None:
            return scenario
        from optalloc.registry import planning_transform

        transform = planning_transform(scenario.family, self.transform)
        params = dict(self.transform_params or {})
        accepted = [p.name for p in list(inspect.signature(transform).parameters.values())[1:]
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        check_known_keys(f"the planning transform {self.transform!r} of family {scenario.family!r}", params,
                         accepted, "transform_params")
        return transform(scenario, **params)

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        planning = self._planning_scenario(scenario)
        inner = self._make_inner()
        with inner.fit_progress(getattr(self, "_show_progress", False)):
            inner.fit(planning, seed=seed)
        self._inner = inner
        self.planning_scenario_spec_ = planning.spec()
        planned = getattr(inner, "expected_cost_", None)
        if planned is None:
            planned = getattr(inner, "objective_", None)
        self.planned_cost_ = None if planned is None else float(planned)
        self.expected_cost_ = None

    @contextlib.contextmanager
    def fit_progress(self, enabled: bool = True) -> Iterator[None]:
        """Show the inner policy's fit progress (if it has any) when ``enabled``."""
        self._show_progress = enabled
        try:
            yield
        finally:
            self._show_progress = False

    # ------------------------------------------------------------ acting
    def _check_can_act(self, scenario: Scenario) -> str | None:
        """Whatever the inner policy cannot act on."""
        return self._inner._check_can_act(scenario)

    def reset(self, *, seed: int | None = None, noise: Noise | None = None) -> None:
        super().reset(seed=seed, noise=noise)
        self._inner.reset(seed=seed, noise=noise)

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        return self._inner.act_batch(observations, infos)
