"""optalloc: deep RL, mathematical programming and stochastic DP on healthcare allocation.

The public API::

    from optalloc import make_scenario, make_policy, evaluate
    scenario = make_scenario("beds/seed002-v0")
    result = evaluate(["dp", "rigid", "complaint"], scenario, episodes=200, seed=0)
    print(result.summary)

``import optalloc`` imports nothing else: each public name (and each
submodule, ``optalloc.registry`` ...) is imported on first use (PEP 562), so
the command line answers ``optalloc --help`` and ``optalloc list`` without
loading numpy's heavier neighbours. The contracts (:class:`Scenario`,
:class:`Policy`, :class:`ActionTable`, :class:`TabularModel`) need numpy and
gymnasium; :func:`evaluate` adds scipy and pandas; pyomo and torch load on
first use of a policy that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optalloc.actions import ActionTable
    from optalloc.evaluation import Evaluation, evaluate, rollout
    from optalloc.io import load_policy, save_policy
    from optalloc.kpis import KPISpec
    from optalloc.policy import Policy
    from optalloc.registry import list_policies, list_scenarios, make_policy, make_scenario
    from optalloc.scenario import Scenario
    from optalloc.tabular import TabularModel
    from optalloc.tags import PolicyTags, ScenarioTags

__version__ = "0.1.0"

#: Home module of each public name.
_HOMES: dict[str, str] = {
    "ActionTable": "optalloc.actions",
    "Evaluation": "optalloc.evaluation",
    "KPISpec": "optalloc.kpis",
    "Policy": "optalloc.policy",
    "PolicyTags": "optalloc.tags",
    "Scenario": "optalloc.scenario",
    "ScenarioTags": "optalloc.tags",
    "TabularModel": "optalloc.tabular",
    "evaluate": "optalloc.evaluation",
    "list_policies": "optalloc.registry",
    "list_scenarios": "optalloc.registry",
    "load_policy": "optalloc.io",
    "make_policy": "optalloc.registry",
    "make_scenario": "optalloc.registry",
    "rollout": "optalloc.evaluation",
    "save_policy": "optalloc.io",
}

# A literal list, so that type checkers read the re-exports of the block above.
__all__ = [
    "ActionTable",
    "Evaluation",
    "KPISpec",
    "Policy",
    "PolicyTags",
    "Scenario",
    "ScenarioTags",
    "TabularModel",
    "evaluate",
    "list_policies",
    "list_scenarios",
    "load_policy",
    "make_policy",
    "make_scenario",
    "rollout",
    "save_policy",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its home module on first use; else the submodule ``optalloc.<name>``."""
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value  # later look-ups find it without coming here
        return value
    if not name.startswith("__"):
        try:
            return importlib.import_module(f"{__name__}.{name}")  # the import binds it on this package too
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise  # the submodule exists but needs something missing: that is the error to see
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names with the public ones not yet imported."""
    return sorted(set(globals()) | set(__all__))
