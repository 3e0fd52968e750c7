"""String ids for scenarios and policies, with lazy entry points.

Entry points are ``"module:attribute"`` strings imported only on use, so
``optalloc list`` works without pyomo or torch installed, and this module and
the families' ``register()`` hooks load neither numpy nor pandas.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from optalloc import instances as _instances
from optalloc.exceptions import UnknownIdError
from optalloc.validation import check_known_keys, unknown_id_error

if TYPE_CHECKING:  # the contracts load numpy and gymnasium: the registry needs only their names
    from optalloc.policy import Policy
    from optalloc.scenario import Scenario


@dataclass(frozen=True)
class ScenarioSpec:
    """A registered scenario: versioned id, entry point and preset keywords."""

    id: str
    entry_point: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class PolicySpec:
    """A registered policy: id, entry point, and fast hyperparameters for tests."""

    id: str
    entry_point: str
    description: str = ""
    test_params: dict[str, Any] = field(default_factory=dict)
    requires: tuple[str, ...] = ()


SCENARIOS: dict[str, ScenarioSpec] = {}
POLICIES: dict[str, PolicySpec] = {}


def register_scenario(spec: ScenarioSpec) -> None:
    """Add a scenario to the registry (replacing one with the same id)."""
    SCENARIOS[spec.id] = spec


def register_policy(spec: PolicySpec) -> None:
    """Add a policy to the registry (replacing one with the same id)."""
    POLICIES[spec.id] = spec


def load_entry_point(entry_point: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module_name, _, attribute = entry_point.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _lookup(table: dict[str, Any], kind: str, key: str) -> Any:
    if not isinstance(key, str):
        raise UnknownIdError(f"A {kind} id must be a string (see 'optalloc list'). Got {key!r} instead.")
    if key in table:
        return table[key]
    raise unknown_id_error(kind, key, sorted(table))


def scenario_spec(scenario_id: str) -> ScenarioSpec:
    """The registered spec of ``scenario_id`` (``UnknownIdError`` with hints if absent)."""
    return _lookup(SCENARIOS, "scenario", scenario_id)


def policy_spec(policy_id: str) -> PolicySpec:
    """The registered spec of ``policy_id`` (``UnknownIdError`` with hints if absent)."""
    return _lookup(POLICIES, "policy", policy_id)


def make_scenario(scenario_id: str, **overrides: Any) -> Scenario:
    """Build a registered scenario with parameter overrides.

    Examples
    --------
    >>> from optalloc import make_scenario
    >>> make_scenario("beds/seed002-v0", horizon=5).horizon
    5
    """
    spec = scenario_spec(scenario_id)
    return load_entry_point(spec.entry_point)(**spec.kwargs, **overrides)


def make_policy(policy_id: str, **params: Any) -> Policy:
    """Build a registered policy (unfitted) with hyperparameters."""
    spec = policy_spec(policy_id)
    try:
        cls = load_entry_point(spec.entry_point)
    except ImportError as exc:
        from optalloc.exceptions import DependencyNotInstalled

        extra = {"torch": "rl", "stable_baselines3": "sb3"}
        hints = sorted({extra.get(r, r) for r in spec.requires if r in extra})
        how = (f"pip install torch==2.13.0 && pip install \"optalloc[{','.join(hints)}]\"" if hints
               else "pip install optalloc")
        raise DependencyNotInstalled(f"Policy {policy_id!r} needs {exc.name or exc}, which is not installed: {how}") from None
    check_known_keys(f"policy {policy_id!r}", params, cls._param_names())
    policy = cls(**params)
    policy.policy_id = policy_id
    return policy


def list_scenarios() -> list[ScenarioSpec]:
    """All registered scenarios, sorted by id."""
    return [SCENARIOS[k] for k in sorted(SCENARIOS)]


def list_policies() -> list[PolicySpec]:
    """All registered policies, sorted by id."""
    return [POLICIES[k] for k in sorted(POLICIES)]


# ---------------------------------------------------------------- planning transforms
#: Named planning transforms by (family, name): ``"module:function"`` entry points. The function is
#: called as ``function(scenario, **params)`` and returns the scenario a wrapped policy plans on
#: (:class:`optalloc.policies.plan_on.PlanOnPolicy`); each family registers its own.
TRANSFORMS: dict[tuple[str, str], str] = {}


def register_transform(family: str, name: str, entry_point: str) -> None:
    """Add the planning transform ``name`` of ``family`` (replacing one of the same family and name)."""
    TRANSFORMS[(family, name)] = entry_point


def transform_families(name: str) -> frozenset[str]:
    """The families that registered a planning transform called ``name``."""
    return frozenset(family for family, registered in TRANSFORMS if registered == name)


def planning_transform(family: str, name: str) -> Any:
    """The planning transform ``name`` of ``family``, imported.

    Raises
    ------
    UnsupportedScenarioError
        ``family`` registered no planning transform at all.
    UnknownIdError
        ``family`` has transforms, none called ``name`` (with close matches).
    """
    from optalloc.exceptions import UnsupportedScenarioError

    own = sorted(registered for fam, registered in TRANSFORMS if fam == family)
    if not own:
        raise UnsupportedScenarioError(f"The family {family!r} registers no planning transform (asked for {name!r}).")
    if name not in own:
        raise unknown_id_error(f"{family!r} planning transform", name, own)
    return load_entry_point(TRANSFORMS[(family, name)])


# ---------------------------------------------------------------- static instances
# One-solve problems (``optalloc solve FAMILY INSTANCE``): their tables and the functions below live in
# optalloc.instances; they are named here too, so a family's register() hook takes every register_*
# function from this one module.
InstanceSpec = _instances.InstanceSpec
INSTANCES = _instances.INSTANCES
INSTANCE_TYPES = _instances.INSTANCE_TYPES
INSTANCE_FORMATS = _instances.INSTANCE_FORMATS
register_instance = _instances.register_instance
register_instance_format = _instances.register_instance_format
register_instance_type = _instances.register_instance_type
instance_spec = _instances.instance_spec
make_instance = _instances.make_instance
list_instances = _instances.list_instances


# ---------------------------------------------------------------- families
#: Entry-point group through which a package adds a problem family: ``name = "module:register"``,
#: where ``register()`` calls :func:`register_scenario` and :func:`register_policy` for its ids.
FAMILY_ENTRY_POINTS = "optalloc.families"
#: Families whose ``register()`` ran, by entry-point name.
FAMILIES: dict[str, str] = {}


def discover_families() -> None:
    """Run the ``register()`` hook of every family installed under :data:`FAMILY_ENTRY_POINTS`.

    optalloc's own families are found the same way as a third-party package's:
    through the entry points its distribution declares. A hook that fails to
    import is reported once as a warning; the other families stay usable.
    """
    import warnings
    from importlib.metadata import entry_points

    from optalloc.exceptions import OptallocWarning

    for point in entry_points(group=FAMILY_ENTRY_POINTS):
        if point.name in FAMILIES:
            continue
        try:
            register_family(point.name, point.value)
        except Exception as exc:  # noqa: BLE001 - a broken third-party family must not break the others
            warnings.warn(f"The problem family {point.name!r} ({point.value}) could not be registered: "
                          f"{type(exc).__name__}: {exc}", OptallocWarning, stacklevel=2)


def register_family(name: str, hook: str) -> None:
    """Run a family's ``register()`` hook, given as ``"module:function"`` (what its entry point names).

    :func:`discover_families` calls this for every installed entry point; a
    family not installed as a distribution (tests, notebooks) registers the
    same way by calling it directly.
    """
    load_entry_point(hook)()
    FAMILIES[name] = hook


discover_families()
