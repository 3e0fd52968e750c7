"""Scheduling heuristics of Gocgun, Bresnahan, Ghate & Gunn (2011) and a myopic revenue rule.

Every rule fills the scanners the CEPs leave free, one patient at a time, as
long as patients wait (no rule idles a scanner). A rule is only its *pick
score*: at each pick, among the types with a patient still waiting (after the
patients already picked this slot), the type of largest score gives the next
patient; within a type the longest-waiting patient goes first (the scenario's
rule).

========  ==========  =====================================================
id        class       pick
========  ==========  =====================================================
fcfs      FCFS        the longest-waiting patient of any type; ties between
                      types of equal waiting time uniformly at random
r1        R1          a type uniformly at random
r2        R2          a waiting patient uniformly at random (a type with
                      probability proportional to its waiting patients)
o1        O1          strict priority OP > NCEP > IP
o2        O2          strict priority OP > IP > NCEP
greedy    Greedy      highest revenue per scan; ties in the order OP, IP, NCEP
========  ==========  =====================================================

Random rules draw from the policy's own :class:`numpy.random.Generator`,
seeded by ``reset(seed=...)``; without a seed, by the fit seed (0 if none), so
that two evaluations of one fitted policy give the same numbers. The
scenario's noise is never touched.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from optalloc.policy import Policy
from optalloc.scenario import Noise, Scenario
from optalloc.tags import PolicyTags

_TAGS = PolicyTags(method="heuristic", families=frozenset({"scanners"}))


class PickRule(Policy):
    """Fill every free scanner, one patient at a time, with the type of largest :meth:`_scores`.

    Fitted attributes
    -----------------
    scanners_ : int
        Scanners of the fitted scenario.
    lookup_ : ndarray of int, shape (scanners + 1,) * 3
        Action index of the counts ``(a_OP, a_IP, a_NCEP)`` (from the
        scenario's :meth:`~ScannerScenario.action_table`); -1 for no action.
    revenue_ : ndarray, shape (3,)
        Revenue per scan of an OP, IP, NCEP [revenue units].
    """

    tags = _TAGS

    def _fit(self, scenario: Scenario, seed: int | None) -> None:
        table = scenario.action_table().table
        self.scanners_ = int(scenario.params.scanners)
        self.revenue_ = np.asarray(scenario.params.revenue, dtype=float)
        lookup = np.full((self.scanners_ + 1,) * 3, -1, dtype=np.int64)
        lookup[tuple(table.T)] = scenario.action_table().encode(table)
        self.lookup_ = lookup
        self.reset()

    def _check_loaded(self) -> None:
        table = self._scenario.action_table().table
        if self.lookup_.shape != (self.scanners_ + 1,) * 3 or not np.array_equal(
                self.lookup_[tuple(table.T)], np.arange(len(table))):
            raise ValueError("the saved action lookup does not match the scenario's action table")

    def reset(self, *, seed: int | None = None, noise: Noise | None = None) -> None:
        super().reset(seed=seed, noise=noise)
        default = getattr(self, "fit_seed_", None)
        self._rng = np.random.default_rng(seed if seed is not None else 0 if default is None else default)

    def _scores(self, observations: np.ndarray, remaining: np.ndarray, taken: np.ndarray) -> np.ndarray:
        """Score of each type for the next pick, shape ``(n, 3)``; only types with ``remaining > 0`` compete.

        Parameters
        ----------
        observations : ndarray, shape (n, 5 + 3 * scanners)
        remaining : ndarray of int, shape (n, 3)
            Patients of each type still waiting after the picks so far.
        taken : ndarray of int, shape (n, 3)
            Patients of each type picked so far this slot.
        """
        raise NotImplementedError

    def act_batch(self, observations: np.ndarray, infos: Mapping[str, np.ndarray]) -> np.ndarray:
        self._check_fitted()
        obs = np.asarray(observations, dtype=float)
        rows = np.arange(len(obs))
        free = self.scanners_ - np.rint(obs[:, 1]).astype(np.int64)
        remaining = np.rint(obs[:, 2:5]).astype(np.int64)
        taken = np.zeros_like(remaining)
        for pick in range(self.scanners_):
            open_ = (remaining > 0) & (pick < free)[:, None]
            if not open_.any():
                break
            scores = np.where(open_, self._scores(obs, remaining, taken), -np.inf)
            kind = np.argmax(scores, axis=1)
            chosen = open_.any(axis=1)
            taken[rows[chosen], kind[chosen]] += 1
            remaining[rows[chosen], kind[chosen]] -= 1
        return self.lookup_[taken[:, 0], taken[:, 1], taken[:, 2]]


class Priority(PickRule):
    """Strict priority: the type of largest :attr:`priority` first (a fixed pick score)."""

    #: Score of OP, IP, NCEP; distinct, so no ties.
    priority: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _scores(self, observations: np.ndarray, remaining: np.ndarray, taken: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.priority), remaining.shape)


class O1(Priority):
    """O-1: strict priority OP > NCEP > IP."""

    priority = (3.0, 1.0, 2.0)


class O2(Priority):
    """O-2: strict priority OP > IP > NCEP."""

    priority = (3.0, 2.0, 1.0)


class Greedy(PickRule):
    """Myopic greedy: the highest revenue per scan first, maximising the slot's revenue; ties in the order OP, IP, NCEP."""

    def _scores(self, observations: np.ndarray, remaining: np.ndarray, taken: np.ndarray) -> np.ndarray:
        # Rank revenues (stable sort: equal revenues keep the type order), so ties never reach argmax.
        order = np.argsort(-self.revenue_, kind="stable")
        rank = np.empty(3)
        rank[order] = np.arange(3, 0, -1)
        return np.broadcast_to(rank, remaining.shape)


class FCFS(PickRule):
    """First come, first served: the longest-waiting patient of any type; ties between types uniformly at random."""

    def _scores(self, observations: np.ndarray, remaining: np.ndarray, taken: np.ndarray) -> np.ndarray:
        # The waiting time [slots] of each type's next patient is its (taken + 1)-th oldest, in the
        # observation; an independent uniform in [0, 1) below the integer wait breaks ties at random.
        s = self.scanners_
        columns = 5 + s * np.arange(3)[None, :] + np.minimum(taken, s - 1)
        ages = np.take_along_axis(observations, columns, axis=1)
        return ages + self._rng.random(ages.shape)


class R1(PickRule):
    """R-1: each free scanner scans a type drawn uniformly among the types with a patient waiting."""

    def _scores(self, observations: np.ndarray, remaining: np.ndarray, taken: np.ndarray) -> np.ndarray:
        # The largest of i.i.d. uniforms over the competing types is uniform over them.
        return self._rng.random(remaining.shape)


class R2(PickRule):
    """R-2: each free scanner scans a waiting patient drawn uniformly (a type in proportion to its queue)."""

    def _scores(self, observations: np.ndarray, remaining: np.ndarray, taken: np.ndarray) -> np.ndarray:
        # Gumbel-max: argmax(log w_k + G_k) is type k with probability w_k / sum(w).
        with np.errstate(divide="ignore"):
            return np.log(remaining) + self._rng.gumbel(size=remaining.shape)


__all__ = ["FCFS", "O1", "O2", "R1", "R2", "Greedy", "PickRule", "Priority"]
