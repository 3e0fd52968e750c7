"""The Scenario contract: frozen parameters plus pure, batch-first dynamics.

A scenario is a finite-horizon sequential decision problem in Powell's form:
state ``S_t``, decision ``x_t``, exogenous information ``W_{t+1}``, transition
``S_{t+1} = S^M(S_t, x_t, W_{t+1})`` and cost ``C(S_t, x_t, W_{t+1})``; the
objective is the expected total (possibly discounted) cost.

Conventions
-----------
* **Batch first.** A state is a ``dict`` of arrays whose leading axis runs over
  ``n`` parallel episodes; one :meth:`Scenario.step` advances all of them.
* **Noise is a path, sampled up front.** :meth:`Scenario.sample_noise` returns a
  ``dict`` of arrays shaped ``(episodes, horizon, ...)``. Episode ``i``'s path
  depends only on ``(scenario, seed, stream, i)``: never on the number of
  episodes, the policy or the state. Every policy evaluated with the same seed
  therefore sees the same futures (common random numbers).
* **Costs, not rewards.** ``step`` returns the stage cost; the Gymnasium
  adapter negates it in one place.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from optalloc.actions import ActionTable
from optalloc.checks import check_finite_params, check_seed
from optalloc.exceptions import ConfigurationError, UnsupportedScenarioError
from optalloc.kpis import KPISpec
from optalloc.tabular import TabularModel
from optalloc.tags import ScenarioTags
from optalloc.validation import check_known_keys

State = dict[str, np.ndarray]
Noise = dict[str, np.ndarray]

#: Noise streams: evaluation, training and validation paths never coincide, so a
#: policy tuned on ``fit(seed=s)`` is not scored on the paths it was tuned on, and
#: learning curves (validation) are not drawn on the benchmark's evaluation paths.
STREAMS: Mapping[str, int] = {"evaluate": 0, "train": 1, "validate": 2}


def _check_seed_and_stream(seed: int, stream: str) -> None:
    if stream not in STREAMS:
        raise ConfigurationError(
            f"The 'stream' parameter must be one of {sorted(STREAMS)}. Got {stream!r} instead."
        )
    check_seed(seed, optional=False)


def episode_generators(seed: int, episodes: int, stream: str = "evaluate") -> list[np.random.Generator]:
    """One independent generator per episode, keyed by ``(seed, stream, i)``.

    Parameters
    ----------
    seed : int
        Non-negative root seed.
    episodes : int
        Number of episodes.
    stream : {"evaluate", "train", "validate"}
        Which noise stream.

    Returns
    -------
    list of numpy.random.Generator
        ``gens[i]`` depends only on ``(seed, stream, i)``.
    """
    _check_seed_and_stream(seed, stream)
    return [
        np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(STREAMS[stream], i))))
        for i in range(int(episodes))
    ]


def episode_keys(seed: int, episodes: int, stream: str = "evaluate") -> np.ndarray:
    """One 64-bit key per episode for the counter-based streams of :mod:`optalloc.sampling`.

    The keys are the first ``episodes`` words of ``SeedSequence(seed,
    spawn_key=(stream,))``; that output is a prefix-stable hash, so ``keys[i]``
    depends only on ``(seed, stream, i)``, and all are made in one call (far
    cheaper than one :func:`episode_generators` generator per episode).

    Parameters
    ----------
    seed, episodes, stream
        As in :func:`episode_generators`.

    Returns
    -------
    ndarray of uint64, shape (episodes,)
    """
    _check_seed_and_stream(seed, stream)
    if episodes == 0:
        return np.zeros(0, dtype=np.uint64)
    return np.random.SeedSequence(int(seed), spawn_key=(STREAMS[stream],)).generate_state(int(episodes), np.uint64)


def spec_label(spec: Mapping[str, Any]) -> str:
    """``beds/seed002-v0`` or ``beds/seed002-v0 {"horizon": 5}``: a scenario spec for messages and tables."""
    overrides = spec.get("overrides") or {}
    return spec["id"] if not overrides else f"{spec['id']} {json.dumps(overrides, sort_keys=True)}"


class Scenario(ABC):
    """Base class of every problem instance.

    Subclasses are frozen after construction: parameters live in
    :attr:`params` (a frozen dataclass) and :meth:`step` is a pure function.

    Class attributes
    ----------------
    tags : ScenarioTags
        Family, action kind, epoch name, cost unit and scale, capabilities:
        what generic code may ask of the scenario instead of its family.

    Attributes
    ----------
    id : str
        Versioned registry id (``"beds/seed002-v0"``); set by the registry.
    overrides : dict
        Parameter overrides given at construction (JSON-serialisable).
    horizon : int
        Number of decision epochs.
    discount : float
        Per-epoch discount factor applied to reported total cost (1 = none).
    action_space, observation_space : gymnasium.spaces.Space
        Spaces of a single episode's action and observation.
    observation_scale : ndarray
        Typical magnitude of each observation component (RL scaling).
    cost_scale : float
        Currency unit of RL rewards [currency].
    observation_names : tuple of str
        Meaning of each observation component.
    horizon_parameter : str or None
        The parameter that sets the number of epochs (``"horizon"``, ``"slots"``),
        so that tests and quick runs can shorten any family's scenarios; None: fixed.
    """

    tags: ClassVar[ScenarioTags]
    horizon_parameter: ClassVar[str | None] = None
    params_class: ClassVar[type]
    observation_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, scenario_id: str = "", **overrides: Any) -> None:
        known = {f.name for f in dataclasses.fields(self.params_class)}
        check_known_keys(f"scenario {scenario_id or type(self).__name__}", overrides, sorted(known))
        self.id = scenario_id or type(self).__name__
        check_finite_params(f"scenario {self.id}", overrides)
        self.overrides = dict(overrides)
        self.params = self.params_class(**overrides)
        self._validate()

    # ------------------------------------------------------------------ contract
    def _validate(self) -> None:  # noqa: B027 - an optional hook: a scenario without rules keeps it empty
        """Check :attr:`params`; raise :class:`ConfigurationError` on bad values."""

    @property
    @abstractmethod
    def horizon(self) -> int:
        """Number of decision epochs."""

    @property
    def discount(self) -> float:
        """Per-epoch discount factor of the reported total cost (1 = undiscounted)."""
        return 1.0

    @property
    @abstractmethod
    def action_space(self) -> spaces.Space:
        """Action space of one episode."""

    @property
    @abstractmethod
    def observation_space(self) -> spaces.Space:
        """Observation space of one episode."""

    @property
    def observation_scale(self) -> np.ndarray:
        """Typical magnitude of each observation component, in the observation's units.

        The Gymnasium adapters (:mod:`optalloc.rl`) divide every raw
        observation by this vector so that a network sees components of order
        one. It is a fixed, documented constant of the scenario (not fitted
        to data), so scaled observations mean the same thing across runs.

        Returns
        -------
        ndarray of float, shape ``observation_space.shape``
            Strictly positive; the default is all ones (no scaling).
        """
        return np.ones(self.observation_space.shape)

    @property
    def cost_scale(self) -> float:
        """Currency unit of RL rewards: a stage cost of ``cost_scale`` is a reward of -1.

        The Gymnasium adapters use ``reward_scale = 1 / cost_scale`` by
        default, so that rewards are of order one (e.g. millions of taka for
        the bed family).

        Returns
        -------
        float
            Strictly positive, in the scenario's currency; the default is 1.0.
        """
        return 1.0

    @abstractmethod
    def initial_state(self, n: int) -> State:
        """State of ``n`` episodes at epoch 0."""

    @abstractmethod
    def sample_noise(self, seed: int, episodes: int, stream: str = "evaluate") -> Noise:
        """Exogenous information of ``episodes`` episodes, shaped ``(episodes, horizon, ...)``."""

    @abstractmethod
    def step(self, t: int, state: State, action: np.ndarray, noise: Noise) -> tuple[State, np.ndarray, dict[str, np.ndarray]]:
        """Advance a batch one epoch.

        Parameters
        ----------
        t : int
            Epoch index, ``0 <= t < horizon``.
        state : dict of ndarray
            Batch state, leading axis ``n``.
        action : ndarray
            Batch of actions, leading axis ``n``.
        noise : dict of ndarray
            This epoch's exogenous information, arrays shaped ``(n, ...)``
            (``noise_path[k][:, t]``).

        Returns
        -------
        next_state : dict of ndarray
        cost : ndarray, shape (n,)
            Undiscounted stage cost.
        info : dict of ndarray
            Per-episode domain KPIs of the epoch.
        """

    @abstractmethod
    def observe(self, t: int, state: State) -> np.ndarray:
        """Observations of a batch, shape ``(n, *observation_space.shape)``."""

    @abstractmethod
    def action_mask(self, t: int, state: State) -> np.ndarray:
        """Feasible actions of a batch, bool array ``(n, n_actions)``."""

    def kpis(self, trajectory: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per-episode domain KPIs from stacked step infos ``(n, horizon)``; one :meth:`kpi_specs` entry each."""
        return {}

    def kpi_specs(self) -> Mapping[str, KPISpec]:
        """Unit, format and direction of every KPI :meth:`kpis` returns, in the same order."""
        return {}

    def action_table(self) -> ActionTable:
        """Named components of the actions (:class:`~optalloc.actions.ActionTable`).

        The default names the one component of a ``Discrete`` space
        ``"action"`` and the components of a ``MultiDiscrete`` space
        ``"a0", "a1", ...``; families name theirs.
        """
        space = self.action_space
        if isinstance(space, spaces.MultiDiscrete):
            return ActionTable(tuple(f"a{i}" for i in range(np.asarray(space.nvec).size)))
        return ActionTable.index(int(space.n))

    def policy_figures(self, policy: Any, folder: Any) -> list[Any]:
        """Figures of the structure of a policy fitted on this scenario, written to ``folder`` (PNG paths).

        A family draws what its readers look for in a policy (the scanner
        family: who gets a free scanner, by queue lengths); the report draws
        them for the exact optimum. The default draws none.
        """
        return []

    def tabular_model(self) -> TabularModel:
        """The exact tabular MDP (capability ``tabular_model``), built lazily stage by stage."""
        raise UnsupportedScenarioError(f"Scenario {self.id!r} of family {self.family!r} has no exact tabular model.")

    def perfect_information(self, noise: Noise) -> tuple[np.ndarray, np.ndarray]:
        """The optimal decisions on each episode's own realised noise (capability ``perfect_information``).

        Returns
        -------
        actions : ndarray, shape (episodes, horizon, ...)
            The hindsight-optimal action of every episode and epoch.
        costs : ndarray, shape (episodes,)
            Their discounted total costs, a lower bound in expectation.
        """
        raise UnsupportedScenarioError(f"Scenario {self.id!r} of family {self.family!r} has no perfect-information "
                                       "solve.")

    def planner(self) -> Any:
        """The family's math-programming planner, bound to this scenario (capability ``planner``).

        The planner implements :class:`optalloc.formulations.policies.Planner`
        (build a Pyomo model of the remaining epochs, update it to an observed
        state, read the decision back as component counts); the generic
        open-loop, rolling-horizon, sample-average and hindsight policies of
        :mod:`optalloc.formulations.policies` solve it. A family imports its
        planner inside this method, so the core imports without Pyomo.

        Returns
        -------
        Planner
            A new planner for this scenario (it keeps per-scenario caches).
        """
        raise UnsupportedScenarioError(f"Scenario {self.id!r} of family {self.family!r} has no math-programming "
                                       "planner.")

    def trace_view(self, trace: Any) -> Any:
        """The columns of an epoch-by-epoch trace worth printing, in reading order.

        Parameters
        ----------
        trace : pandas.DataFrame
            One episode's rows of :attr:`optalloc.simulate.Simulation.trace`:
            ``epoch``, the named observation components, ``action``,
            ``decision`` (the action in words), ``cost`` and the step's info entries.

        Returns
        -------
        pandas.DataFrame
            The default keeps the epoch, the observation, the decision and the cost;
            a family shows what its users read (clock times, queues, arrivals).
        """
        names = [c for c in trace.columns if c in set(self.observation_names)]
        return trace[["epoch", *names, "decision", "cost"]]

    @property
    def family(self) -> str:
        """Problem family, from :attr:`tags`."""
        return self.tags.family

    # ------------------------------------------------------------------ helpers
    def noise_at(self, noise: Noise, t: int) -> Noise:
        """Slice epoch ``t`` out of a noise path."""
        return {k: v[:, t] for k, v in noise.items()}

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable description: id plus overrides."""
        return {"id": self.id, "overrides": copy.deepcopy(self.overrides)}

    def fingerprint(self) -> str:
        """Stable string of all parameters, to detect mutation."""
        return json.dumps(dataclasses.asdict(self.params), sort_keys=True, default=repr)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in self.overrides.items())
        return f"{type(self).__name__}({self.id!r}{extra})"
