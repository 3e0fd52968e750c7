"""optalloc: deep RL, mathematical programming and stochastic DP on healthcare allocation.

The public API::

    from optalloc import make_scenario, make_policy, evaluate
    scenario = make_scenario("beds/seed002-v0")
    result = evaluate(["dp", "rigid", "complaint"], scenario, episodes=200, seed=0)
    print(result.summary)

Only numpy, scipy, pandas and gymnasium are imported here; pyomo and torch
load on first use of a policy that needs them.
"""

from __future__ import annotations

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
