"""The static instance ``optalloc solve staff`` solves: one nurse-rostering benchmark instance.

A :class:`RosterInstance` is a shipped benchmark file (``staff/instance1`` ..
``staff/instance24``, Curtois; Burke & Curtois 2014) or any file in the
benchmark's text format (``optalloc solve staff my_instance.txt``, read by
:func:`read_roster_instance`). Its solve builds the
:class:`~optalloc.formulations.staff.roster.NurseRoster` block and solves it
with HiGHS (:func:`~optalloc.formulations.staff.roster_solve.solve_roster`);
its :meth:`~RosterInstance.evaluate` re-scores the roster with the
independent checker (:func:`~optalloc.families.staff.roster_check.score_roster`).

The solution, as the record stores it, is JSON::

    {"shifts": ["D", "L"], "nurses": ["A", "B", ...],
     "roster": [["D", "", "L", ...], ...]}     # one row per nurse, a shift id or "" (off) per day
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from optalloc.exceptions import ConfigurationError, bad_value
from optalloc.families.staff.roster_check import score_roster
from optalloc.families.staff.roster_data import OFF, RosterData, read_roster, shipped_instance_path
from optalloc.instances import Instance, InstanceTags

__all__ = ["METHODS", "RosterInstance", "read_roster_instance", "roster_from_solution", "solution_of"]

#: Solution methods (those of :func:`optalloc.formulations.staff.roster_solve.solve_roster`, named here so that
#: checking one imports no solver).
METHODS = ("lns", "mip")
#: Violations listed in the error for an infeasible roster; the rest are counted.
_LISTED = 10


class RosterInstance(Instance):
    """A nurse-rostering benchmark instance, solved as a 0-1 program.

    Parameters
    ----------
    instance_id : str
        Instance id (set by the registry); default ``staff/instance<number>`` or ``staff/<file stem>``.
    number : int, optional
        A shipped instance, 1 to 24 (``Instance<number>.txt``).
    path : str, optional
        A file in the benchmark's text format instead; exactly one of ``number`` and ``path``.
    method : {"lns", "mip"}, default "lns"
        ``"mip"``: the plain model, one HiGHS solve. ``"lns"``: a constructive start given to HiGHS;
        with a time limit, 5 % of it (at least 2 s where that is at most 15 % of it) on the full
        model (which gives the bound) and the rest on a large-neighbourhood search (or on the full
        model again when the first solve is within 1 % of its bound, or once the search stalls);
        without one, the full model from that start, solved to optimality
        (:func:`optalloc.formulations.staff.roster_solve.solve_roster`).
    threads : int, default 1
        HiGHS threads.
    seed : int, default 0
        Seed of the neighbourhood search.
    best_known : float, optional
        Best objective known [penalty points] (the published optimum of Instances 1-8).

    Attributes
    ----------
    data : RosterData
        The instance's data.
    """

    tags = InstanceTags(family="staff", sense="minimize", objective_unit="penalty points")
    identity = ("number", "path")

    def __init__(self, instance_id: str = "", *, number: int | None = None, path: str | None = None,
                 method: str = "lns", threads: int = 1, seed: int = 0, best_known: float | None = None) -> None:
        if (number is None) == (path is None):
            raise ConfigurationError(f"RosterInstance {instance_id!r} needs exactly one of 'number' (a shipped "
                                     f"instance, 1 to 24) and 'path' (a benchmark .txt file); got number={number!r}, "
                                     f"path={path!r}.")
        if number is not None:
            source = shipped_instance_path(number)  # checks the number
            default_id = f"staff/instance{number}"
        else:
            if not isinstance(path, (str, Path)):
                raise bad_value("RosterInstance", "path", "the path of a benchmark .txt file", path)
            source = Path(path)
            default_id = f"staff/{source.stem}"
        super().__init__(instance_id or default_id, best_known=best_known)
        owner = f"instance {self.id}"
        if method not in METHODS:
            raise bad_value(owner, "method", f"one of {', '.join(map(repr, METHODS))}", method)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise bad_value(owner, "threads", "a positive integer", threads)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise bad_value(owner, "seed", "an integer", seed)
        self.number, self.path = number, None if path is None else str(path)
        self.method, self.threads, self.seed = method, threads, seed
        self.data: RosterData = read_roster(source)

    def _solve(self, time_limit: float | None, mip_rel_gap: float | None) -> tuple[Any, dict[str, Any] | None]:
        from optalloc.formulations.staff.roster_solve import solve_roster

        outcome = solve_roster(self.data, method=self.method, time_limit=time_limit, mip_rel_gap=mip_rel_gap,
                               threads=self.threads, seed=self.seed)
        if outcome.roster is None or not outcome.result.has_solution:
            return outcome.result, None
        return outcome.result, solution_of(self.data, outcome.roster)

    def evaluate(self, solution: Any) -> float:
        """The roster's objective from the independent checker [penalty points].

        Parameters
        ----------
        solution : dict
            ``{"shifts": [...], "nurses": [...], "roster": [[shift id or "" per day] per nurse]}``.

        Raises
        ------
        ConfigurationError
            A malformed solution, or a roster breaking hard rules (each listed).
        """
        table = roster_from_solution(self.data, solution, f"instance {self.id}")
        checked = score_roster(self.data, table)
        if not checked.feasible:
            listed = "; ".join(checked.violations[:_LISTED])
            more = len(checked.violations) - _LISTED
            raise ConfigurationError(f"instance {self.id}: the roster breaks {len(checked.violations)} hard "
                                     f"rule(s): {listed}" + (f"; and {more} more" if more > 0 else ""))
        return float(checked.objective)

    def summary(self) -> dict[str, Any]:
        """Nurses, days and shift types of the instance (what ``optalloc describe`` shows)."""
        data = self.data
        return {"nurses": data.n_nurses, "days": data.days, "shift_types": list(data.shift_ids)}

    def write_solution(self, solution: Any, stem: Path) -> list[Path]:
        """The roster as ``stem.csv`` (nurses x days of shift ids) and ``stem.png`` (a chart); the paths."""
        from optalloc.families.staff.roster_plot import write_roster_files

        table = roster_from_solution(self.data, solution, f"instance {self.id}")
        score = score_roster(self.data, table)
        title = f"{self.data.name}: {score.objective:g} penalty points"
        return write_roster_files(self.data, table, Path(stem), title=title)


def solution_of(data: RosterData, table: np.ndarray) -> dict[str, Any]:
    """A roster array in the record's JSON form (see the module docstring)."""
    ids = ["", *data.shift_ids]  # OFF (-1) + 1 -> ""
    return {"shifts": list(data.shift_ids), "nurses": list(data.nurse_ids),
            "roster": [[ids[int(s) + 1] for s in row] for row in np.asarray(table).tolist()]}


def roster_from_solution(data: RosterData, solution: Any, owner: str = "roster_from_solution") -> np.ndarray:
    """The (N, D) roster array of a solution in the record's JSON form.

    Raises
    ------
    ConfigurationError
        Other nurses or shifts than the instance's, a row of the wrong length, an unknown shift id.
    """
    expected = ('{"shifts": [...], "nurses": [...], "roster": [[shift id or "" per day] per nurse]} with the '
                "instance's nurses and shifts")
    if not isinstance(solution, dict) or not isinstance(solution.get("roster"), list):
        raise bad_value(owner, "solution", expected, solution if not isinstance(solution, dict) else
                        sorted(solution))
    if list(solution.get("nurses", data.nurse_ids)) != list(data.nurse_ids) \
            or list(solution.get("shifts", data.shift_ids)) != list(data.shift_ids):
        raise bad_value(owner, "solution", expected, {"nurses": solution.get("nurses"),
                                                      "shifts": solution.get("shifts")})
    rows = solution["roster"]
    index = {shift: k for k, shift in enumerate(data.shift_ids)}
    if len(rows) != data.n_nurses or any(not isinstance(row, list) or len(row) != data.days for row in rows):
        raise bad_value(owner, "solution", f"a roster of {data.n_nurses} rows of {data.days} days",
                        f"{len(rows)} rows")
    table = np.full((data.n_nurses, data.days), OFF, dtype=int)
    for n, row in enumerate(rows):
        for d, cell in enumerate(row):
            if cell in ("", None):
                continue
            if cell not in index:
                raise bad_value(owner, "solution", f"shift ids {', '.join(data.shift_ids)} or '' (off)",
                                f"{cell!r} for nurse {data.nurse_ids[n]} on day {d}")
            table[n, d] = index[cell]
    return table


def read_roster_instance(path: Path) -> RosterInstance:
    """The reader of ``.txt`` instance files (``optalloc solve staff my_instance.txt``); id ``staff/<file stem>``.

    Raises
    ------
    ConfigurationError
        A malformed file: the message names the file, the line and what was expected.
    """
    path = Path(path)
    return RosterInstance(f"staff/{path.stem}", path=str(path))
