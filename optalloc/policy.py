"""The Policy contract shared by heuristics, DP, math programming and RL.

Modelled on scikit-learn's estimator contract:

* ``__init__`` takes keyword hyperparameters only, stores them verbatim and
  does no work; validation happens in :meth:`Policy.fit`.
* ``fit(scenario, *, seed=None)`` learns or solves and returns ``self``;
  learned state lives in attributes ending in ``_``.
* ``reset`` starts a batch of episodes; ``act``/``act_batch`` decide.

Oracle policies (``tags.information == "oracle"``) receive the batch's noise
path in :meth:`Policy.reset`; they are bounds, never ranked as policies.

Every ``info`` a policy receives holds ``action_mask`` (the scenario's feasible
actions), ``episode`` (the episode index) and ``epoch`` (the decision epoch):
a policy that needs the epoch reads it there, never from the observation.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

import numpy as np

from optalloc.checks import A_SCENARIO, check_instance, check_seed
from optalloc.exceptions import ConfigurationError, NotFittedError, PolicyScenarioMismatch, UnsupportedScenarioError
from optalloc.params import HyperParams
from optalloc.scenario import Noise, Scenario, spec_label
from optalloc.tags import PolicyTags


class Policy(HyperParams):
    """Base class of every decision policy.

    Class attributes
    ----------------
    tags : PolicyTags
        Method kind (``heuristic``, ``math_programming``,
        ``dynamic_programming``, ``rl``), information set
        (``non_anticipative``, or ``oracle``: sees the episode's future noise
        and is reported as a bound), exactness, and the scenarios it accepts
        (families, action kinds, capabilities it needs).
    """

    tags: ClassVar[PolicyTags] = PolicyTags()
    #: Registry id, set by :func:`optalloc.registry.make_policy`.
    policy_id: str = ""

    @property
    def information(self) -> str:
        """Information set, from :attr:`tags`."""
        return self.tags.information

    @property
    def exact(self) -> bool:
        """Whether the fitted policy is optimal for the scenario it solved, from :attr:`tags`."""
        return self.tags.exact

    @property
    def name(self) -> str:
        """Display name: the registry id, else the class name."""
        return self.policy_id or type(self).__name__

    # ------------------------------------------------------------ fitting
    def fit(self, scenario: Scenario, *, seed: int | None = None) -> Self:
        """Learn or solve on ``scenario``; returns ``self``.

        A second call discards the first fit.
        """
        self._begin_fit(scenario, seed)
        self._fit(scenario, seed)
        return self

    def _begin_fit(self, scenario: Scenario, seed: int | None) -> None:
        """Checks and bookkeeping every fit starts with (also for trainers called without ``fit``)."""
        check_instance("scenario", scenario, Scenario, A_SCENARIO)
        check_seed(seed)
        reason = self.tags.refusal(scenario.tags)
        if reason:
            raise UnsupportedScenarioError(
                f"{type(self).__name__} cannot be fitted on scenario {scenario.id!r} (family {scenario.family!r}): "
                f"{reason}."
            )
        self.validate_params()
        self.scenario_spec_ = scenario.spec()
        self.fit_seed_ = seed
        # Kept for acting (tabular lookups, model re-solves); rebuilt from the spec on load.
        self._scenario = scenario

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        """Subclass hook: do the learning / solving."""

    def fit_progress(self, enabled: bool = True) -> contextlib.AbstractContextManager:
        """A context in which :meth:`fit` shows its progress (if it has any to show) when ``enabled``.

        The command line enters it around a fit; library calls stay quiet.
        The default shows nothing.
        """
        return contextlib.nullcontext()

    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has been called."""
        return hasattr(self, "scenario_spec_")

    def _check_fitted(self) -> None:
        if not self.is_fitted():
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet. Call 'fit(scenario)' before using it to act."
            )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Every act_batch, however a subclass writes it, checks its arguments first: a user's
        # wrong call gets one clear error instead of a TypeError deep inside the policy.
        own = cls.__dict__.get("act_batch")
        if own is not None and not getattr(own, "_checks_arguments", False):
            cls.act_batch = _checked_act_batch(own)

    # ------------------------------------------------------------ acting on a scenario
    def check_can_act(self, scenario: Scenario) -> str | None:
        """Check, before a rollout, that this fitted policy can act on ``scenario``.

        Evaluating a policy on a scenario other than the one it was fitted on
        is a legitimate robustness study, so it is allowed wherever the policy
        can act there.

        Returns
        -------
        str or None
            None if ``scenario`` is the one the policy was fitted on, else a
            note saying on which scenario it was fitted.

        Raises
        ------
        PolicyScenarioMismatch
            The policy cannot act on ``scenario``: another action or
            observation space, an oracle bound of another scenario, or what the
            policy's own :meth:`_check_can_act` refuses (a longer horizon,
            states outside a table).
        """
        check_instance("scenario", scenario, Scenario, A_SCENARIO)
        self._check_fitted()
        if scenario.spec() == self.scenario_spec_:
            return None
        fitted = spec_label(self.scenario_spec_)
        here = spec_label(scenario.spec())

        def refuse(reason: str) -> None:
            raise PolicyScenarioMismatch(f"Policy {self.name} was fitted on {fitted} and cannot act on {here}: {reason}.")

        if self.information == "oracle":
            refuse("an oracle bound holds only for the scenario it was fitted on; fit it on this one")
        own = getattr(self, "_scenario", None)
        if own is not None:
            if own.action_space != scenario.action_space:
                refuse(f"its actions are {own.action_space}, the scenario's {scenario.action_space}")
            if own.observation_space.shape != scenario.observation_space.shape:
                refuse(f"it reads observations of shape {own.observation_space.shape}, the scenario gives "
                       f"{scenario.observation_space.shape}")
        reason = self._check_can_act(scenario)
        if reason:
            refuse(reason)
        return f"policy {self.name} was fitted on {fitted}, evaluated on {here}"

    def _check_can_act(self, scenario: Scenario) -> str | None:
        """Subclass hook: why this fitted policy cannot act on another ``scenario`` (None: it can)."""
        return None

    def _check_loaded(self) -> None:
        """Subclass hook: raise ``ValueError`` if loaded arrays do not fit the manifest's scenario (``_scenario``)."""

    # ------------------------------------------------------------ acting
    def reset(self, *, seed: int | None = None, noise: Noise | None = None) -> None:
        """Start a batch of episodes.

        Parameters
        ----------
        seed : int, optional
            Seed of the policy's own randomness (never the scenario's).
        noise : dict of ndarray, optional
            The batch's exogenous noise path; given to oracle policies only.
        """
        self._check_fitted()

    def act(self, observation: np.ndarray, info: Mapping[str, Any]) -> Any:
        """Action for one observation. ``info['action_mask']`` marks feasible actions, ``info['epoch']`` is the epoch.

        The default calls :meth:`act_batch` on a batch of one.
        """
        if type(self).act_batch is Policy.act_batch:
            raise NotImplementedError(f"{type(self).__name__} must implement act or act_batch.")
        _check_info("info", info)
        batch = self.act_batch(np.asarray(observation)[None], {k: np.asarray(v)[None] for k, v in info.items()})
        return np.asarray(batch)[0].item() if np.ndim(batch) == 1 else np.asarray(batch)[0]

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        """Actions for a batch; the default loops over :meth:`act`.

        Parameters
        ----------
        observations : ndarray, shape (n, ...)
        infos : dict of ndarray
            Each array has leading axis ``n`` (``action_mask``, ``episode``, ``epoch``, ...).
        """
        self._check_fitted()
        if type(self).act is Policy.act:
            raise NotImplementedError(f"{type(self).__name__} must implement act or act_batch.")
        return np.asarray(
            [self.act(observations[i], {k: v[i] for k, v in infos.items()}) for i in range(len(observations))]
        )

    # ------------------------------------------------------------ persistence
    def _state(self) -> dict[str, Any]:
        """Fitted state to save: attributes ending in ``_`` (arrays, numbers, strings, lists)."""
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        """Restore fitted state saved by :meth:`_state`."""
        for key, value in state.items():
            setattr(self, key, value)


def epochs_of(infos: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """The epoch of each of ``n`` decisions, from ``infos["epoch"]`` (int array of shape ``(n,)``).

    Raises
    ------
    ConfigurationError
        ``infos`` holds no ``epoch`` (rollouts and the environments always give it).
    """
    if "epoch" not in infos:
        raise ConfigurationError("The 'infos' argument of act / act_batch must hold 'epoch' (the decision epoch of "
                                 "each observation, as optalloc's rollouts and environments give it). Got keys "
                                 f"{sorted(infos)} instead.")
    return np.broadcast_to(np.asarray(infos["epoch"], dtype=np.int64), (n,))


def _check_info(name: str, info: Any) -> None:
    """``info`` / ``infos`` must be a mapping holding the action mask."""
    if not isinstance(info, Mapping) or "action_mask" not in info:
        shown = "None" if info is None else f"a {type(info).__name__}"
        raise ConfigurationError(
            f"The {name!r} argument of act / act_batch must be a dict holding 'action_mask' (a bool array of "
            f"feasible actions, as the scenario's action_mask gives). Got {shown} instead."
        )


def _checked_act_batch(method: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """``act_batch`` with its arguments checked before the policy's own code runs."""

    @functools.wraps(method)
    def act_batch(self: Policy, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        _check_info("infos", infos)
        if observations is None or np.ndim(observations) < 1:
            raise ConfigurationError(
                "The 'observations' argument of act_batch must be an array with a leading batch axis "
                f"(n, ...). Got {observations!r} instead."
            )
        return method(self, observations, infos)

    act_batch._checks_arguments = True  # type: ignore[attr-defined]
    return act_batch
