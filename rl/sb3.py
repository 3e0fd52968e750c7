"""stable-baselines3 models as optalloc Policies.

Two classes:

:class:`SB3Policy`
    Wraps any trained object with stable-baselines3's ``predict(observation,
    deterministic=True)`` (a ``PPO``, ``A2C`` or ``DQN`` model, or an SB3
    policy network itself) trained on :class:`~optalloc.rl.env.AllocationEnv`
    observations. Build it with :meth:`SB3Policy.from_model`; the result is a
    fitted policy of family ``"rl"`` that :func:`optalloc.evaluate` and
    :func:`optalloc.rollout` accept like any other.
:class:`SB3PPOPolicy`
    ``fit`` trains ``stable_baselines3.PPO("MlpPolicy", ...)`` on a
    ``DummyVecEnv`` of ``n_envs`` :class:`AllocationEnv` copies and wraps the
    trained model. Registered as ``"sb3-ppo"``.

Action spaces
-------------
``Discrete(n)`` and flat ``MultiDiscrete(nvec)`` scenarios (both starting at
0, SB3's convention); stable-baselines3's PPO and A2C have a MultiDiscrete
head (one categorical per component), its DQN does not. Feasibility is
judged by :func:`optalloc.actions.mask_rows`, the rule of
:func:`optalloc.actions.check_actions` that evaluation and the envs apply.

Acting
------
``act_batch`` receives the scenario's raw (unscaled) observations, scales them
exactly as the RL envs do (:func:`optalloc.rl.policy.scale_observations`
with the scale of :func:`optalloc.rl.env.scaled_observation_space`: raw
observation divided by ``scenario.observation_scale``, as ``float32``) and
calls ``model.predict(scaled, deterministic=True)`` on the whole batch.

Masked actions
--------------
stable-baselines3's PPO, A2C and DQN know nothing of ``info["action_mask"]``:
their greedy action can be infeasible. What happens then is set by the
``mask_fallback`` hyperparameter:

``"raise"`` (default)
    :class:`~optalloc.exceptions.InfeasibleActionError` naming the row, the
    action, the raw observation and the feasible actions. An infeasible action
    is never clipped or replaced silently.
``"best_feasible"``
    The offending rows take the model's best feasible action instead: the
    feasible action of highest probability under the policy's distribution
    (``model.policy.get_distribution(obs).distribution``, compared through its
    normalised log-probabilities ``.logits`` so that tiny probabilities do not
    tie at 0.0 as ``.probs`` would; on-policy models: PPO, A2C) or of highest
    Q-value (``model.policy.q_net(obs)``; DQN). Ties go to the smallest action
    index. For ``MultiDiscrete`` actions each component takes its own most
    probable feasible value (the mode of SB3's factorised distribution under
    the per-component mask). Rows whose predicted action is feasible keep it.

Training caveat
---------------
:class:`SB3PPOPolicy` trains plain SB3 PPO, which samples from *all* actions.
:class:`AllocationEnv` raises :class:`InfeasibleActionError` on an infeasible
action, so training fails (with a message saying so) on scenarios whose masks
bind during exploration. The beds presets never mask an action
(``max_beds = initial_beds + max_add * horizon``). Use optalloc's masked
``ppo`` agent for scenarios with binding masks.

Persistence
-----------
:func:`optalloc.io.save_policy` stores an ``sb3-ppo`` policy without pickle:
the SB3 policy network's ``state_dict`` goes to ``state.pt`` through the
``_torch_state``/``_load_torch_state`` hooks (the same hooks as
:class:`optalloc.rl.policy.TorchPolicy`), and :func:`optalloc.io.load_policy`
rebuilds an untrained SB3 ``PPO`` model from the manifest's hyperparameters
and loads the weights into it (``PPO.load``, which unpickles, is never
used). The reloaded model acts identically; its optimiser state and
``VecNormalize`` reward statistics are not saved, so it is for acting, not
for continuing training.

Reproducibility
---------------
``SB3PPOPolicy.fit(scenario, seed=s)`` passes ``seed=s`` to SB3 (which seeds
Python's ``random``, NumPy's and torch's global generators, the action space
and the sub-environments ``s, s + 1, ...``) and trains on CPU with one torch
thread, so two fits with the same seed give bit-identical weights and
actions (tested). The global generators and torch's thread count are
restored after ``fit``.

Divergence
----------
SB3 does not check its numbers. After ``learn`` the policy network's weights
are checked, and the ``ValueError`` that ``torch.distributions`` raises
mid-training on NaN action logits is caught; either way ``fit`` raises
:class:`~optalloc.exceptions.TrainingDivergedError` (one line naming the env
step and what to lower) and leaves the policy unfitted.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Self

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from optalloc.actions import feasible_choices, mask_rows
from optalloc.exceptions import (
    ConfigurationError,
    InfeasibleActionError,
    OptallocError,
    bad_value,
)
from optalloc.policy import Policy
from optalloc.rl.env import AllocationEnv
from optalloc.rl.policy import (
    DivergenceGuard,
    greedy_actions,
    head_layout,
    observation_scale,
    scale_observations,
    seeded_torch,
    training_threads,
)
from optalloc.scenario import Scenario
from optalloc.tags import PolicyTags

#: Values of the ``mask_fallback`` hyperparameter.
MASK_FALLBACKS = ("raise", "best_feasible")

#: Values of :class:`SB3PPOPolicy`'s ``activation`` hyperparameter.
ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}


@contextlib.contextmanager
def isolated_global_rngs() -> Iterator[None]:
    """Restore Python's, NumPy's and torch's global generators after the block.

    stable-baselines3 seeds (and draws from) the global generators; fitting a
    policy must not change the caller's random streams.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        with seeded_torch(None):
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _action_space(n_actions: int, nvec: list[int] | None) -> spaces.Space:
    """The scenario's action space from the fitted sizes: ``Discrete(n)`` or ``MultiDiscrete(nvec)``."""
    return spaces.Discrete(n_actions) if nvec is None else spaces.MultiDiscrete(nvec)


class SB3Policy(Policy):
    """A trained stable-baselines3 model acting greedily as an optalloc Policy.

    Build it with :meth:`from_model`; see the module docstring for how
    observations are scaled and how masked actions are handled.

    Parameters
    ----------
    mask_fallback : {"raise", "best_feasible"}
        What to do when the model's greedy action is masked out:
        ``"raise"`` raises :class:`~optalloc.exceptions.InfeasibleActionError`;
        ``"best_feasible"`` takes the feasible action of highest probability
        (PPO, A2C) or Q-value (DQN).

    Attributes
    ----------
    model_ : object
        The wrapped model (``predict(observation, deterministic=True)``).
    obs_scale_ : ndarray of float64, shape (obs_dim,)
        What raw observations are divided by (``scenario.observation_scale``).
    obs_dim_, n_actions_ : int
        Observation length and width of the action mask (the number of
        actions, or ``sum(nvec)`` for a ``MultiDiscrete(nvec)`` scenario).
    action_nvec_ : list of int or None
        ``nvec`` of a ``MultiDiscrete`` scenario (SB3 PPO and A2C support such
        spaces, one categorical per component); None for ``Discrete``.

    Examples
    --------
    >>> from stable_baselines3 import PPO
    >>> from stable_baselines3.common.vec_env import DummyVecEnv
    >>> import optalloc as oa
    >>> from optalloc.rl import AllocationEnv
    >>> from optalloc.rl.sb3 import SB3Policy
    >>> scenario = oa.make_scenario("beds/seed002-v0", horizon=5)
    >>> model = PPO("MlpPolicy", DummyVecEnv([lambda: AllocationEnv(scenario)]), n_steps=64, seed=0)
    >>> policy = SB3Policy.from_model(model.learn(64), scenario)
    >>> oa.evaluate({"sb3": policy, "dp": "dp"}, scenario, episodes=10).summary["policy"].tolist()
    ['sb3', 'dp']
    """

    # Plain SB3 samples every action in training: it does not honour masks (see "Training caveat").
    tags: ClassVar[PolicyTags] = PolicyTags(method="rl", action_kinds=frozenset({"discrete", "multi_discrete"}),
                                            honours_masks=False)

    def __init__(self, mask_fallback: str = "raise") -> None:
        self.mask_fallback = mask_fallback

    # ------------------------------------------------------------ construction
    @classmethod
    def from_model(cls, model: Any, scenario: Scenario, **params: Any) -> Self:
        """A fitted policy acting with a trained SB3 model on ``scenario``.

        Parameters
        ----------
        model : object
            Anything with stable-baselines3's ``predict(observation,
            deterministic=True)``, trained on :class:`AllocationEnv`
            observations of ``scenario`` (same observation length and number
            of actions; checked when the model declares its spaces).
        scenario : Scenario
            The scenario the policy will act on.
        **params
            Hyperparameters of ``cls`` (``mask_fallback=...``). For a
            subclass that rebuilds its network from hyperparameters on load
            (:class:`SB3PPOPolicy`), give those that match the model.

        Returns
        -------
        SB3Policy
            Fitted (``fit_seed_`` is ``None``: the model was trained elsewhere).

        Raises
        ------
        ConfigurationError
            The model has no ``predict``, its spaces do not match the
            scenario's env, or ``mask_fallback="best_feasible"`` is asked of a
            model without action probabilities or Q-values.
        """
        if not callable(getattr(model, "predict", None)):
            raise ConfigurationError(
                f"The 'model' parameter of {cls.__name__}.from_model must have stable-baselines3's "
                f"predict(observation, deterministic=True). Got {type(model).__name__} instead."
            )
        policy = cls(**params)
        policy.validate_params()
        policy._bind(scenario, None)
        policy._check_model(model)
        policy.model_ = model
        return policy

    def _bind(self, scenario: Scenario, seed: int | None) -> None:
        """What :meth:`Policy.fit` records, plus the env's observation scale and the sizes."""
        if not isinstance(scenario, Scenario):
            raise ConfigurationError(
                f"The 'scenario' parameter of {type(self).__name__} must be an optalloc Scenario. "
                f"Got {type(scenario).__name__} instead."
            )
        # SB3's Discrete and MultiDiscrete heads both start at 0: the layouts optalloc's own agents take.
        self.n_actions_, self.action_nvec_ = head_layout(type(self).__name__, scenario)
        self.obs_scale_ = observation_scale(scenario)
        self.obs_dim_ = int(np.prod(scenario.observation_space.shape))
        self.scenario_spec_ = scenario.spec()
        self.fit_seed_ = seed
        self._scenario = scenario

    def _check_model(self, model: Any) -> None:
        """The model's declared spaces match the scenario's env; the fallback has what it needs."""
        obs_space = getattr(model, "observation_space", None)
        if obs_space is not None and tuple(obs_space.shape) != (self.obs_dim_,):
            raise ConfigurationError(
                f"The model's observation space {obs_space} does not match scenario "
                f"{self.scenario_spec_['id']!r}, whose AllocationEnv observations have shape ({self.obs_dim_},)."
            )
        action_space = getattr(model, "action_space", None)
        expected = _action_space(self.n_actions_, self.action_nvec_)
        if action_space is not None and action_space != expected:
            raise ConfigurationError(
                f"The model's action space {action_space} does not match scenario "
                f"{self.scenario_spec_['id']!r}, which has {expected}."
            )
        if self.mask_fallback == "best_feasible":
            network = getattr(model, "policy", model)
            if not (hasattr(network, "q_net") or callable(getattr(network, "get_distribution", None))):
                raise ConfigurationError(
                    f"mask_fallback='best_feasible' needs action probabilities (model.policy.get_distribution) "
                    f"or Q-values (model.policy.q_net); {type(model).__name__} has neither. "
                    f"Use mask_fallback='raise'."
                )

    # ------------------------------------------------------------ fitting
    def _validate_params(self) -> None:
        if self.mask_fallback not in MASK_FALLBACKS:
            raise bad_value(type(self).__name__, "mask_fallback", f"one of {list(MASK_FALLBACKS)}",
                            self.mask_fallback)

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        raise ConfigurationError(
            f"{type(self).__name__} wraps a model trained elsewhere and cannot fit one: build it with "
            f"SB3Policy.from_model(model, scenario), or use SB3PPOPolicy (policy id 'sb3-ppo') to train."
        )

    def is_fitted(self) -> bool:
        """Whether a model is there (a failed ``fit`` leaves the policy unfitted)."""
        return super().is_fitted() and hasattr(self, "model_")

    # ------------------------------------------------------------ acting
    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        """The model's greedy action per row (see the module docstring for masked actions).

        Parameters
        ----------
        observations : ndarray, shape (n, obs_dim)
            Raw (unscaled) scenario observations.
        infos : dict of ndarray
            ``action_mask``: bool ``(n, n_actions)`` of feasible actions (``n_actions = sum(nvec)``,
            the components' masks side by side, for a ``MultiDiscrete(nvec)`` scenario).

        Returns
        -------
        ndarray of int64, shape (n,) or (n, len(nvec))

        Raises
        ------
        InfeasibleActionError
            With ``mask_fallback="raise"``, if the model's action for some row
            is masked out (or is not an action index at all).
        """
        self._check_fitted()
        obs = np.asarray(observations).reshape(len(observations), -1)
        n = len(obs)
        mask = np.asarray(infos["action_mask"], dtype=bool)
        if mask.shape != (n, self.n_actions_):
            raise bad_value(type(self).__name__, "infos['action_mask']",
                            f"a bool array of shape ({n}, {self.n_actions_})", f"shape {mask.shape}")
        space = _action_space(self.n_actions_, self.action_nvec_)
        shape = (n,) if self.action_nvec_ is None else (n, len(self.action_nvec_))
        scaled = scale_observations(obs, self.obs_scale_)
        predicted, _ = self.model_.predict(scaled, deterministic=True)
        actions = np.asarray(predicted)
        if actions.size != int(np.prod(shape)) or actions.dtype.kind not in "iu":
            raise InfeasibleActionError(
                f"Policy {self.name}: the model's predict returned {actions!r} for {n} observation(s); "
                f"expected {n} integer action(s) in {space}."
            )
        actions = actions.reshape(shape).astype(np.int64)
        # The feasibility rule of evaluation and the envs (optalloc.actions), row by row for the fallback.
        feasible = mask_rows(space, mask, actions)
        if feasible.all():
            return actions
        bad = np.flatnonzero(~feasible)
        choices = {int(i): feasible_choices(space, mask[i]) for i in bad}
        empty = [i for i, c in choices.items() if not c or (self.action_nvec_ is not None and not all(c))]
        if empty:
            raise InfeasibleActionError(f"Policy {self.name}: row {empty[0]} of the batch has no feasible action.")
        if self.mask_fallback != "best_feasible":
            i = int(bad[0])
            chosen = actions[i].tolist()
            inside = space.contains(actions[i] if self.action_nvec_ is not None else int(actions[i]))
            why = "info['action_mask'] rules out" if inside else f"is outside {space}"
            raise InfeasibleActionError(
                f"Policy {self.name}: the stable-baselines3 model chose action {chosen} for row {i} "
                f"(raw observation {obs[i].tolist()}), which {why}; feasible actions: "
                f"{choices[i]} ({len(bad)} of {n} row(s) affected). SB3's agents do not "
                f"see the mask. Set mask_fallback='best_feasible' to take the model's most probable (highest-Q) "
                f"feasible action instead, or train a masked agent (policy 'ppo')."
            )
        # Best feasible action: the factorised distribution's mode under a per-component mask is the
        # per-component masked argmax (one block of scores per component).
        scores = torch.from_numpy(self._action_scores(scaled[bad]))
        nvec = None if self.action_nvec_ is None else tuple(self.action_nvec_)
        actions[bad] = greedy_actions(scores, torch.from_numpy(mask[bad]), nvec).numpy()
        return actions

    def _action_scores(self, scaled: np.ndarray) -> np.ndarray:
        """Per-action scores ``(m, n_actions)`` of scaled observations: log-probabilities, or Q-values for DQN.

        For a ``MultiDiscrete`` model (SB3's ``MultiCategoricalDistribution``, one ``Categorical``
        per component) the components' log-probabilities side by side, ``(m, sum(nvec))``.
        """
        network = getattr(self.model_, "policy", self.model_)
        with torch.no_grad():
            obs_tensor, _ = network.obs_to_tensor(scaled)
            if hasattr(network, "q_net"):
                scores = network.q_net(obs_tensor)
            else:
                distribution = network.get_distribution(obs_tensor).distribution
                if isinstance(distribution, (list, tuple)):
                    scores = torch.cat([d.logits for d in distribution], dim=1)
                else:
                    scores = distribution.logits
        return scores.detach().cpu().numpy().astype(np.float64)

    # ------------------------------------------------------------ persistence hooks (optalloc.io)
    def _state(self) -> dict[str, Any]:
        """Fitted state other than the model (saved through :meth:`_torch_state`)."""
        return {k: v for k, v in super()._state().items() if k != "model_"}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        super()._load_state(state)
        self.obs_scale_ = np.asarray(self.obs_scale_, dtype=np.float64)
        self.obs_dim_, self.n_actions_ = int(self.obs_dim_), int(self.n_actions_)
        nvec = state.get("action_nvec_")
        self.action_nvec_ = None if nvec is None else [int(v) for v in np.asarray(nvec).ravel()]

    def _torch_state(self) -> dict[str, torch.Tensor]:
        """The SB3 policy network's ``state_dict`` (saved as ``state.pt``)."""
        return getattr(self.model_, "policy", self.model_).state_dict()

    def _load_torch_state(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Rebuild an untrained model from the hyperparameters and load ``state_dict`` (strict)."""
        from optalloc.registry import make_scenario

        spec = self.scenario_spec_
        scenario = make_scenario(spec["id"], **spec["overrides"])
        with isolated_global_rngs():
            model = self._make_model(scenario, self.fit_seed_)
        network = getattr(model, "policy", model)
        network.load_state_dict(state_dict, strict=True)
        network.set_training_mode(False)
        self.model_ = model

    def _make_model(self, scenario: Scenario, seed: int | None) -> Any:
        """An untrained model of this policy's hyperparameters (subclasses that can be saved)."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot rebuild its model from hyperparameters; only registered "
            f"subclasses such as SB3PPOPolicy ('sb3-ppo') can be saved and loaded."
        )


class SB3PPOPolicy(SB3Policy):
    """stable-baselines3 PPO trained on a scenario, acting greedily.

    ``fit(scenario, seed=s)`` trains ``stable_baselines3.PPO("MlpPolicy",
    DummyVecEnv([AllocationEnv(scenario)] * n_envs), seed=s, device="cpu")``
    for ``total_timesteps`` env steps with one torch thread, then acts as
    :class:`SB3Policy`. Defaults are SB3's own for PPO (``n_steps=2048``,
    ``batch_size=64``, ``n_epochs=10``, ``learning_rate=3e-4``,
    ``gamma=0.99``, ...), with 8 sub-environments; note that ``gamma=1``
    optimises the scenario's own objective exactly (the env rewards already
    carry its discount), ``gamma < 1`` adds a bias.

    SB3 PPO does not mask actions; see the module docstring for what that
    means in training and acting.

    Parameters
    ----------
    total_timesteps : int
        Training budget [env steps, summed over sub-environments]; SB3 runs
        whole rollouts, so up to ``n_envs * n_steps - 1`` more.
    n_envs : int
        Sub-environments of the ``DummyVecEnv`` (stepped one after the other).
    n_steps : int
        Steps per sub-environment per rollout (rollout = ``n_envs * n_steps``
        transitions).
    batch_size : int
        Minibatch size [transitions]; at most ``n_envs * n_steps``.
    n_epochs : int
        Passes over each rollout.
    learning_rate : float
        Adam step size (constant).
    gamma : float
        Discount of the return, in [0, 1].
    gae_lambda : float
        GAE lambda, in [0, 1].
    clip_range : float
        PPO clipping range of the probability ratio.
    ent_coef : float
        Weight of the entropy bonus.
    vf_coef : float
        Weight of the value loss.
    max_grad_norm : float
        Gradient-norm clipping threshold.
    normalize_advantage : bool
        Normalise advantages per minibatch.
    target_kl : float or None
        Stop an update's epochs once the approximate KL exceeds this.
    net_arch : tuple of int
        Hidden widths of the actor and of the (separate) critic MLP.
    activation : {"tanh", "relu"}
        Hidden activation.
    norm_reward : bool
        Wrap the envs in ``VecNormalize(norm_obs=False, norm_reward=True,
        gamma=gamma)`` (rewards divided by a running std of the return).
        Off by default, as in SB3.
    reward_scale : float or None
        Rewards are ``-reward_scale * discount**t * cost_t`` [1/currency];
        None: ``1 / scenario.cost_scale``.
    mask_fallback : {"raise", "best_feasible"}
        What to do when the model's greedy action is masked out (SB3 PPO does
        not mask): ``"raise"`` raises
        :class:`~optalloc.exceptions.InfeasibleActionError`; ``"best_feasible"``
        takes the feasible action of highest probability.

    Attributes
    ----------
    model_ : stable_baselines3.PPO
        The trained model (its ``env`` is the training ``DummyVecEnv``).
    env_steps_ : int
        Env steps actually trained [env steps].
    train_seconds_ : float
        Wall time of ``model.learn`` [s].
    obs_scale_, obs_dim_, n_actions_
        See :class:`SB3Policy`.
    """

    def __init__(
        self,
        total_timesteps: int = 200_000,
        n_envs: int = 8,
        n_steps: int = 2048,
        batch_size: int = 64,
        n_epochs: int = 10,
        learning_rate: float = 3e-4,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float = 0.2,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        normalize_advantage: bool = True,
        target_kl: float | None = None,
        net_arch: tuple[int, ...] = (64, 64),
        activation: str = "tanh",
        norm_reward: bool = False,
        reward_scale: float | None = None,
        mask_fallback: str = "raise",
    ) -> None:
        self.total_timesteps = total_timesteps
        self.n_envs = n_envs
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.gamma = gamma
        self.gae_lambda = gae_lambda
        self.clip_range = clip_range
        self.ent_coef = ent_coef
        self.vf_coef = vf_coef
        self.max_grad_norm = max_grad_norm
        self.normalize_advantage = normalize_advantage
        self.target_kl = target_kl
        self.net_arch = net_arch
        self.activation = activation
        self.norm_reward = norm_reward
        self.reward_scale = reward_scale
        self.mask_fallback = mask_fallback

    # ------------------------------------------------------------ validation
    def _validate_params(self) -> None:
        super()._validate_params()
        owner = type(self).__name__

        def integer(value: Any) -> bool:
            return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

        def number(value: Any) -> bool:
            return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
                and bool(np.isfinite(value))

        for name in ("total_timesteps", "n_envs", "n_steps", "batch_size", "n_epochs"):
            if not integer(getattr(self, name)) or getattr(self, name) < 1:
                raise bad_value(owner, name, "a positive integer", getattr(self, name))
        if self.n_envs * self.n_steps < 2:
            raise bad_value(owner, "n_steps", "such that n_envs * n_steps > 1 (SB3's requirement)", self.n_steps)
        if self.batch_size > self.n_envs * self.n_steps or (self.normalize_advantage and self.batch_size < 2):
            raise bad_value(owner, "batch_size", f"in [{2 if self.normalize_advantage else 1}, n_envs * n_steps = "
                            f"{self.n_envs * self.n_steps}]", self.batch_size)
        for name in ("learning_rate", "clip_range"):
            if not number(getattr(self, name)) or getattr(self, name) <= 0:
                raise bad_value(owner, name, "a positive number", getattr(self, name))
        for name in ("ent_coef", "vf_coef", "max_grad_norm"):
            if not number(getattr(self, name)) or getattr(self, name) < 0:
                raise bad_value(owner, name, "a non-negative number", getattr(self, name))
        for name in ("gamma", "gae_lambda"):
            if not number(getattr(self, name)) or not 0 <= getattr(self, name) <= 1:
                raise bad_value(owner, name, "a number in [0, 1]", getattr(self, name))
        for name in ("normalize_advantage", "norm_reward"):
            if not isinstance(getattr(self, name), bool):
                raise bad_value(owner, name, "True or False", getattr(self, name))
        if self.target_kl is not None and (not number(self.target_kl) or self.target_kl <= 0):
            raise bad_value(owner, "target_kl", "a positive number or None", self.target_kl)
        if self.reward_scale is not None and (not number(self.reward_scale) or self.reward_scale <= 0):
            raise bad_value(owner, "reward_scale", "a positive number or None", self.reward_scale)
        arch = self.net_arch
        if not isinstance(arch, (tuple, list)) or not arch or not all(integer(h) and h > 0 for h in arch):
            raise bad_value(owner, "net_arch", "a non-empty list of positive integers", arch)
        if self.activation not in ACTIVATIONS:
            raise bad_value(owner, "activation", f"one of {list(ACTIVATIONS)}", self.activation)

    # ------------------------------------------------------------ training
    def _make_model(self, scenario: Scenario, seed: int | None) -> Any:
        """An untrained SB3 ``PPO`` on ``n_envs`` :class:`AllocationEnv` copies (``"train"`` noise stream)."""
        from stable_baselines3 import PPO
        from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

        def make_env() -> AllocationEnv:
            return AllocationEnv(scenario, reward_scale=self.reward_scale, stream="train")

        envs: Any = DummyVecEnv([make_env] * int(self.n_envs))
        if self.norm_reward:
            envs = VecNormalize(envs, norm_obs=False, norm_reward=True, gamma=float(self.gamma))
        arch = [int(h) for h in self.net_arch]
        return PPO(
            "MlpPolicy", envs,
            learning_rate=float(self.learning_rate), n_steps=int(self.n_steps), batch_size=int(self.batch_size),
            n_epochs=int(self.n_epochs), gamma=float(self.gamma), gae_lambda=float(self.gae_lambda),
            clip_range=float(self.clip_range), ent_coef=float(self.ent_coef), vf_coef=float(self.vf_coef),
            max_grad_norm=float(self.max_grad_norm), normalize_advantage=self.normalize_advantage,
            target_kl=None if self.target_kl is None else float(self.target_kl),
            policy_kwargs={"net_arch": {"pi": arch, "vf": list(arch)}, "activation_fn": ACTIVATIONS[self.activation]},
            seed=seed, device="cpu", verbose=0,
        )

    def fit(self, scenario: Scenario, *, seed: int | None = None) -> Self:
        """Train SB3 PPO on ``scenario`` with ``seed`` (None: 0); returns ``self``.

        Raises
        ------
        InfeasibleActionError
            SB3 PPO sampled an action the scenario's mask rules out (it does
            not mask; see the module docstring).
        TrainingDivergedError
            The trained weights hold NaN or infinite values, or the action
            logits did during training (SB3's ``ValueError`` from
            ``torch.distributions``).
        """
        for attribute in ("model_", "env_steps_", "train_seconds_"):  # a failed fit leaves the policy unfitted
            self.__dict__.pop(attribute, None)
        return super().fit(scenario, seed=seed)

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        self._bind(scenario, seed)
        with training_threads(1), isolated_global_rngs():
            model = self._make_model(scenario, 0 if seed is None else int(seed))
            guard = self._divergence_guard(scenario)
            start = time.perf_counter()
            try:
                model.learn(total_timesteps=int(self.total_timesteps))
            except InfeasibleActionError as exc:
                raise InfeasibleActionError(
                    f"stable-baselines3 PPO does not mask actions and sampled an infeasible one while training on "
                    f"scenario {scenario.id!r}: {exc} Train the masked agent 'ppo' on scenarios whose masks bind."
                ) from exc
            except ValueError as exc:
                # torch.distributions refuses NaN logits with a multi-line ValueError; SB3 passes it on.
                nan_weights = not all(bool(torch.isfinite(p).all()) for p in model.policy.parameters())
                if isinstance(exc, OptallocError) or not (nan_weights or "invalid values" in str(exc)):
                    raise
                what = "the action logits became non-finite" + (" (NaN or infinite weights)" if nan_weights else "")
                raise guard.error(what, int(model.num_timesteps)) from exc
            guard.check_weights(model.policy, int(model.num_timesteps))
            self.train_seconds_ = time.perf_counter() - start
        model.policy.set_training_mode(False)
        self.env_steps_ = int(model.num_timesteps)
        self.model_ = model

    def _divergence_guard(self, scenario: Scenario) -> DivergenceGuard:
        """The checks and messages of a training run that produces NaN (quoting the env step only)."""
        from optalloc.rl.env import resolve_reward_scale

        return DivergenceGuard(type(self).__name__, learning_rate=float(self.learning_rate),
                               reward_scale=resolve_reward_scale(scenario, self.reward_scale))


__all__ = ["MASK_FALLBACKS", "SB3PPOPolicy", "SB3Policy", "isolated_global_rngs"]
