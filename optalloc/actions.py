"""What an action means, and the one check that an action is feasible.

An :class:`ActionTable` names the components of a scenario's actions
("beds added"; "OP", "IP", "NCEP" patients scanned; float nurses sent to each
unit) and translates between the policy's action (an index, or a vector of
counts) and those counts: reports, plots and planners speak in counts,
never in a mean action index.

:func:`check_actions` is the feasibility rule that evaluation, the Gymnasium
environments and the stable-baselines3 adapter all apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from gymnasium import spaces

from optalloc.exceptions import ConfigurationError, InfeasibleActionError


@dataclass(frozen=True)
class ActionTable:
    """Named components of a scenario's actions.

    Parameters
    ----------
    components : tuple of str
        Component names, used as column names (``("beds",)``, ``("OP", "IP", "NCEP")``).
    table : ndarray of int, shape (A, d), optional
        For a ``discrete`` scenario, row ``a`` holds the component counts of
        action ``a``. None for a ``multi_discrete`` scenario, whose action
        already is the vector of component counts.
    verb : str
        What the counts do, for :meth:`describe` (``"added"``, ``"scanned"``).
    """

    components: tuple[str, ...]
    table: np.ndarray | None = None
    verb: str = ""
    _lookup: dict[tuple[int, ...], int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "components", tuple(self.components))
        if self.table is not None:
            table = np.asarray(self.table, dtype=np.int64)
            if table.ndim != 2 or table.shape[1] != len(self.components):
                raise ConfigurationError(f"ActionTable.table must have shape (A, {len(self.components)}); "
                                         f"got {table.shape}")
            table.setflags(write=False)
            object.__setattr__(self, "table", table)
            object.__setattr__(self, "_lookup", {tuple(row): a for a, row in enumerate(table.tolist())})
        else:
            object.__setattr__(self, "_lookup", {})

    @classmethod
    def index(cls, n: int, component: str = "action", verb: str = "") -> ActionTable:
        """The table of ``Discrete(n)`` whose action ``a`` is ``a`` units of one component."""
        return cls((component,), np.arange(n)[:, None], verb)

    @property
    def vector(self) -> bool:
        """Whether actions are vectors of counts (``multi_discrete``) rather than indices into :attr:`table`."""
        return self.table is None

    def decode(self, actions: np.ndarray) -> dict[str, np.ndarray]:
        """Component counts of actions.

        Parameters
        ----------
        actions : ndarray of int
            Indices, shape ``(...)`` (discrete), or count vectors, shape ``(..., d)``.

        Returns
        -------
        dict of ndarray
            One array of shape ``(...)`` per component.
        """
        actions = np.asarray(actions)
        counts = actions if self.vector else self.table[actions]
        return {name: counts[..., i] for i, name in enumerate(self.components)}

    def encode(self, counts: Mapping[str, np.ndarray] | np.ndarray) -> np.ndarray:
        """Actions of component counts: the inverse of :meth:`decode`.

        Parameters
        ----------
        counts : dict of ndarray, or ndarray of shape (..., d)

        Raises
        ------
        ConfigurationError
            A count vector that is no action of the table.
        """
        if isinstance(counts, Mapping):
            missing = [c for c in self.components if c not in counts]
            if missing:
                raise ConfigurationError(f"encode needs the counts of {list(self.components)}; missing {missing}")
            counts = np.stack([np.asarray(counts[c]) for c in self.components], axis=-1)
        counts = np.rint(np.asarray(counts)).astype(np.int64)
        if self.vector:
            return counts
        flat = counts.reshape(-1, len(self.components))
        out = np.empty(len(flat), dtype=np.int64)
        for i, row in enumerate(map(tuple, flat.tolist())):
            if row not in self._lookup:
                raise ConfigurationError(f"No action has the counts {dict(zip(self.components, row))}.")
            out[i] = self._lookup[row]
        return out.reshape(counts.shape[:-1])

    def describe(self, action: int | np.ndarray) -> str:
        """One action in words: ``"3 beds added"``, ``"1 OP + 1 NCEP scanned"``, ``"none scanned"``."""
        row = np.asarray(action) if self.vector else self.table[int(action)]
        parts = [f"{int(c)} {name}" for c, name in zip(row.tolist(), self.components)
                 if c or len(self.components) == 1]
        text = " + ".join(parts) if parts else "none"
        return f"{text} {self.verb}".strip()


def mask_rows(space: spaces.Space, mask: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """Whether each action of a batch is inside ``space`` and allowed by ``mask`` (bool, shape ``(n,)``).

    ``Discrete(n, start)``: ``mask`` has shape ``(n_episodes, n)``.
    ``MultiDiscrete(nvec)``: ``mask`` is the components' masks concatenated,
    shape ``(n_episodes, sum(nvec))``; component ``i`` of an action must be
    allowed by its own slice.
    """
    n = mask.shape[0]
    if isinstance(space, spaces.Discrete):
        inside = (actions >= space.start) & (actions < space.start + space.n)
        ok = inside.copy()
        ok[inside] = mask[np.flatnonzero(inside), actions[inside] - space.start]
        return ok
    nvec = np.asarray(space.nvec).ravel()
    starts = np.concatenate([[0], np.cumsum(nvec)[:-1]])
    inside = ((actions >= 0) & (actions < nvec)).all(axis=1)
    ok = inside.copy()
    rows = np.flatnonzero(inside)
    if len(rows):
        ok[rows] = mask[rows[:, None], starts[None, :] + actions[rows]].all(axis=1)
    return ok.reshape(n)


def _shape_ok(space: spaces.Space, actions: np.ndarray, n: int) -> bool:
    if not np.issubdtype(actions.dtype, np.integer):
        return False
    if isinstance(space, spaces.Discrete):
        return actions.shape == (n,)
    return actions.shape == (n, int(np.asarray(space.nvec).size))


def feasible_choices(space: spaces.Space, mask_row: np.ndarray) -> list:
    """The feasible choices of one episode, for messages: action indices, or per component."""
    if isinstance(space, spaces.Discrete):
        return (np.flatnonzero(mask_row) + space.start).tolist()
    nvec = np.asarray(space.nvec).ravel()
    bounds = np.concatenate([[0], np.cumsum(nvec)])
    return [np.flatnonzero(mask_row[bounds[i]:bounds[i + 1]]).tolist() for i in range(len(nvec))]


def check_actions(subject: str, space: spaces.Space, actions: np.ndarray, mask: np.ndarray, epoch: int) -> None:
    """Raise :class:`InfeasibleActionError` unless every action of a batch is well-formed and feasible.

    Parameters
    ----------
    subject : str
        Who chose the actions, for the message (``"Policy dp"``).
    space : gymnasium.spaces.Discrete or MultiDiscrete
        The scenario's action space of one episode.
    actions : ndarray
        One action per episode: shape ``(n,)`` (discrete) or ``(n, d)`` (multi-discrete), integer.
    mask : ndarray of bool
        The scenario's :meth:`~optalloc.scenario.Scenario.action_mask`, one row per episode.
    epoch : int
        Epoch of the batch, for the message.
    """
    actions = np.asarray(actions)
    if actions.shape == (1,) and actions.dtype.kind in "iu" and isinstance(space, spaces.Discrete):
        # One feasible action of a single environment, the common case of a Gymnasium step: decided in a
        # few scalar operations; anything else takes the general path below, which also words the error.
        a = int(actions[0]) - int(space.start)
        if 0 <= a < space.n and mask.shape == (1, space.n) and mask[0, a]:
            return
    if not isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)):
        for i, a in enumerate(actions):
            if not space.contains(a):
                raise InfeasibleActionError(f"{subject} chose {a!r} outside {space} in epoch {epoch} of episode {i}.")
        return
    n = mask.shape[0]
    if not _shape_ok(space, actions, n):
        what = "integer actions" if isinstance(space, spaces.Discrete) else \
            f"integer action vectors of length {np.asarray(space.nvec).size}"
        raise InfeasibleActionError(f"{subject} must return {n} {what} in epoch {epoch}; "
                                    f"got shape {actions.shape} and dtype {actions.dtype}.")
    ok = mask_rows(space, mask, actions)
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        chosen = actions[bad].item() if actions.ndim == 1 else actions[bad].tolist()
        raise InfeasibleActionError(f"{subject} chose infeasible action {chosen!r} in epoch {epoch} of episode {bad}; "
                                    f"feasible: {feasible_choices(space, mask[bad])}.")


__all__ = ["ActionTable", "check_actions", "feasible_choices", "mask_rows"]
