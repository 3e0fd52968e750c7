"""Tags: what a scenario is and offers, and what a policy accepts.

Generic code never asks which problem family it runs on. A scenario declares
its :class:`ScenarioTags` (family, action kind, epoch name, cost unit and
scale, capabilities); a policy declares its :class:`PolicyTags` (method kind,
information set, exactness, and what it accepts). ``PolicyTags.refusal`` says
why a policy cannot be fitted on a scenario, so fitting, the conformance
checks and suites all decide the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from optalloc.exceptions import ConfigurationError

#: Kinds of action space: one index into a finite table, or a vector of per-component indices
#: (``gymnasium.spaces.MultiDiscrete``) with one mask per component.
ACTION_KINDS = ("discrete", "multi_discrete")
#: What a scenario may offer beyond the rollout contract.
CAPABILITIES = ("tabular_model", "perfect_information", "static_instance", "planner", "open_loop")
#: How a refusal names a missing capability (others: the name with spaces).
_NEEDS_PHRASES = {"open_loop": "fixed plans (capability open_loop: a plan's actions stay feasible whatever the noise)"}
#: Method kinds of policies.
METHODS = ("heuristic", "math_programming", "dynamic_programming", "rl")
#: Information sets: a non-anticipative policy sees only the past; an oracle sees the episode's future
#: noise and is reported as a bound.
INFORMATION = ("non_anticipative", "oracle")


@dataclass(frozen=True)
class ScenarioTags:
    """What a scenario is and offers.

    Attributes
    ----------
    family : str
        Problem family: the first part of the scenario id.
    action_kind : {"discrete", "multi_discrete"}
        ``discrete``: an action is an index into :meth:`Scenario.action_table`,
        its mask a bool row per action. ``multi_discrete``: an action is a
        vector of component counts, its mask the components' masks
        concatenated.
    epoch_name : str
        What an epoch is called in tables and plots (``"year"``, ``"slot"``, ``"shift"``).
    episode_name : str
        What an episode is called in traces (``"day"``, ``"planning horizon"``).
    cost_unit : str
        Currency of costs (e.g. the ISO name or the local name of the currency); ``""``: unitless.
    cost_scale : float
        Unit in which reports and plots show costs (``1e6``: millions) [cost_unit].
    capabilities : frozenset of str
        Subset of :data:`CAPABILITIES`: ``tabular_model`` (:meth:`Scenario.tabular_model`, exact DP),
        ``perfect_information`` (:meth:`Scenario.perfect_information`, the hindsight bound),
        ``static_instance`` (a one-solve problem with an instance id), ``planner``
        (:meth:`Scenario.planner`, the family's math-programming planner), ``open_loop``
        (a plan of actions feasible from the initial state stays feasible whatever the noise,
        so a fixed plan can be acted on: the open-loop ``milp`` and ``saa`` need it).
    """

    family: str
    action_kind: Literal["discrete", "multi_discrete"] = "discrete"
    epoch_name: str = "epoch"
    episode_name: str = "episode"
    cost_unit: str = ""
    cost_scale: float = 1.0
    capabilities: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        # Tags are written by family authors, once per class: a typo must fail at import, loudly.
        if self.action_kind not in ACTION_KINDS:
            raise ConfigurationError(f"ScenarioTags.action_kind must be one of {ACTION_KINDS}; got {self.action_kind!r}")
        unknown = set(self.capabilities) - set(CAPABILITIES)
        if unknown:
            raise ConfigurationError(f"ScenarioTags.capabilities must be some of {CAPABILITIES}; got {sorted(unknown)}")
        if not self.cost_scale > 0:
            raise ConfigurationError(f"ScenarioTags.cost_scale must be positive; got {self.cost_scale!r}")
        object.__setattr__(self, "capabilities", frozenset(self.capabilities))

    def has(self, capability: str) -> bool:
        """Whether the scenario offers ``capability`` (one of :data:`CAPABILITIES`)."""
        return capability in self.capabilities

    @property
    def cost_label(self) -> str:
        """Unit of costs shown in :attr:`cost_scale` units: ``"million taka"``, ``"thousand"``, ``"cost"``."""
        names = {1.0: "", 1e3: "thousand", 1e6: "million", 1e9: "billion"}
        scale = names.get(float(self.cost_scale), f"x {self.cost_scale:g}")
        return " ".join(part for part in (scale, self.cost_unit) if part) or "cost"


@dataclass(frozen=True)
class PolicyTags:
    """What kind of method a policy is and which scenarios it accepts.

    Attributes
    ----------
    method : str
        One of :data:`METHODS`.
    information : str
        One of :data:`INFORMATION`.
    exact : bool
        The fitted policy is optimal for the scenario it solved, with its
        optimal expected cost in ``expected_cost_``; the summary takes its
        reference and bound from such a policy.
    families : frozenset of str or None
        Problem families accepted (None: any).
    action_kinds : frozenset of str
        Action kinds accepted.
    needs : frozenset of str
        Scenario capabilities required (:data:`CAPABILITIES`).
    honours_masks : bool
        Whether the policy only ever chooses actions the mask allows, in
        training too. An unmasked learner (False) trains only on scenarios
        whose masks never bind; the environments refuse an infeasible action.
    """

    method: str = "heuristic"
    information: str = "non_anticipative"
    exact: bool = False
    families: frozenset[str] | None = None
    action_kinds: frozenset[str] = frozenset({"discrete"})
    needs: frozenset[str] = frozenset()
    honours_masks: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigurationError(f"PolicyTags.method must be one of {METHODS}; got {self.method!r}")
        if self.information not in INFORMATION:
            raise ConfigurationError(f"PolicyTags.information must be one of {INFORMATION}; got {self.information!r}")
        for name, values, allowed in (("action_kinds", self.action_kinds, ACTION_KINDS),
                                      ("needs", self.needs, CAPABILITIES)):
            if set(values) - set(allowed):
                raise ConfigurationError(f"PolicyTags.{name} must be some of {allowed}; got {sorted(values)}")
            object.__setattr__(self, name, frozenset(values))
        if self.families is not None:
            object.__setattr__(self, "families", frozenset(self.families))

    def refusal(self, tags: ScenarioTags) -> str | None:
        """Why a policy with these tags cannot be fitted on a scenario with ``tags`` (None: it can)."""
        if self.families is not None and tags.family not in self.families:
            return f"it supports the families {sorted(self.families)}, not {tags.family!r}"
        if tags.action_kind not in self.action_kinds:
            return f"it takes {' or '.join(sorted(self.action_kinds))} actions, not {tags.action_kind}"
        missing = sorted(self.needs - tags.capabilities)
        if missing:
            return f"it needs a scenario with {' and '.join(_NEEDS_PHRASES.get(m, m.replace('_', ' ')) for m in missing)}"
        return None

    def accepts(self, tags: ScenarioTags) -> bool:
        """Whether a policy with these tags can be fitted on a scenario with ``tags``."""
        return self.refusal(tags) is None


__all__ = ["ACTION_KINDS", "CAPABILITIES", "INFORMATION", "METHODS", "PolicyTags", "ScenarioTags"]
