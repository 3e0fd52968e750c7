"""Fixed-schema result records: one row per static solve and per benchmark cell.

Two record types, each a frozen dataclass whose fields are the columns of a
results table, in a fixed order and with fixed types, whatever the family:

* :class:`SolveRecord` -- one solve of a static instance (``optalloc solve``):
  status, objective, bound, gap, seconds, and the comparison with the
  instance's best-known value, as a benchmark table of published instances
  reports them;
* :class:`CellRecord` -- one (scenario, seed, policy) cell of a suite run: the
  row a results store persists. Everything that varies between families (the
  KPIs, the scenario overrides, the hyperparameters) is one JSON text column,
  never a column of its own, so two suites of different families give frames
  with the same columns.

:func:`records_frame` turns records into a DataFrame with the record type's
columns in order; :meth:`CellRecord.schema` / :meth:`SolveRecord.schema`
give the SQL type of each column (``TEXT``, ``INTEGER``, ``REAL``).

Missing numbers are ``None`` in a record (``NULL`` in SQL, ``NaN`` or ``<NA>``
in a frame). JSON text written here is strict JSON: a non-finite number is
written as ``null``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optalloc.exceptions import ConfigurationError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SENSES", "SOLVE_STATUSES", "CellRecord", "SolveRecord", "gap_to_best_known_pct", "json_text", "provenance",
           "records_frame"]

#: Outcomes of a solve, the values of ``optalloc.formulations.solve.SolveStatus``.
SOLVE_STATUSES = ("optimal", "feasible", "infeasible", "unbounded", "no_solution", "error")
#: Objective senses of a static instance.
SENSES = ("minimize", "maximize")

_SQL_TYPES = {str: "TEXT", int: "INTEGER", float: "REAL"}
_FRAME_TYPES = {"TEXT": object, "INTEGER": "Int64", "REAL": "float64"}


def _is_pandas_na(value: Any) -> bool:
    """Whether ``value`` is pandas' ``NA``, asked without importing pandas.

    ``NA`` exists only once pandas is loaded; the registry and ``optalloc
    solve`` read records without it.
    """
    pandas = sys.modules.get("pandas")
    return pandas is not None and value is pandas.NA


def _number(value: Any) -> float | None:
    """``value`` as a Python float; None for None, NaN and pandas' missing values."""
    if value is None or _is_pandas_na(value):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _integer(value: Any) -> int | None:
    if value is None or _is_pandas_na(value) or isinstance(value, float) and math.isnan(value):
        return None
    return int(value)


def _strict(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None and numpy scalars made Python ones."""
    if isinstance(value, Mapping):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    numpy = sys.modules.get("numpy")  # a numpy scalar exists only once numpy is loaded
    if numpy is not None and isinstance(value, numpy.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_text(value: Any, *, canonical: bool = True) -> str:
    """Strict JSON text of ``value`` (non-finite numbers as ``null``; ``repr`` of what JSON lacks).

    Parameters
    ----------
    value : object
        A JSON-like value (mappings, sequences, numbers, strings, None).
    canonical : bool, default True
        Sort mapping keys and leave out spaces, so equal values give equal text.
    """
    return json.dumps(_strict(value), sort_keys=canonical, separators=(",", ":") if canonical else None,
                      default=repr, allow_nan=False)


class _Record:
    """Shared behaviour of the record dataclasses: schema, dict and JSON forms."""

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """The column names, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def schema(cls) -> dict[str, str]:
        """SQL type of each column, in order: ``TEXT``, ``INTEGER`` or ``REAL`` (all nullable but text)."""
        hints = typing.get_type_hints(cls)
        schema = {}
        for name in cls.columns():
            base = next(t for t in typing.get_args(hints[name]) or (hints[name],) if t is not type(None))
            schema[name] = _SQL_TYPES[base]
        return schema

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict, in column order (non-finite numbers as None, JSON-ready)."""
        return {name: _strict(getattr(self, name)) for name in self.columns()}

    def to_json(self, indent: int | None = 2) -> str:
        """The record as a strict JSON object."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """The record of :meth:`to_dict` (or of a row of :func:`records_frame`); every column is required."""
        missing = [c for c in cls.columns() if c not in data]
        unknown = sorted(set(data) - set(cls.columns()))
        if missing or unknown:
            raise ConfigurationError(f"A {cls.__name__} needs exactly the columns {list(cls.columns())}; "
                                     f"missing {missing}, unknown {unknown}.")
        values = {}
        for name, kind in cls.schema().items():
            value = data[name]
            values[name] = _number(value) if kind == "REAL" else _integer(value) if kind == "INTEGER" else value
        return cls(**values)


# ---------------------------------------------------------------- static solves
@dataclass(frozen=True)
class SolveRecord(_Record):
    """The result of one solve of a static instance.

    Attributes
    ----------
    instance : str
        Instance label: its registered id (``"toy/knapsack-i0"``) or the id
        its file gives.
    instance_spec : str
        JSON of what was solved: ``{"id": ..., "overrides": {...}}`` for a
        registered instance, ``{"id": ..., "file": path}`` for a file.
    family : str
        Problem family of the instance.
    method : str
        Method kind (:data:`optalloc.tags.METHODS`), e.g. ``"math_programming"``.
    solver : str
        Solver name and version, e.g. ``"highs 1.11.0"``.
    status : str
        One of :data:`SOLVE_STATUSES`.
    termination : str
        The solver's termination condition, e.g. ``"maxTimeLimit"``.
    sense : str
        ``"minimize"`` or ``"maximize"``.
    objective_unit : str
        Unit of the objective, bound and best-known value (``""``: unitless).
    objective : float or None
        Objective of the solution the solver returned, in the instance's
        objective unit; None without a solution.
    checked_objective : float or None
        The same solution scored by the instance's own evaluator, which does
        not use the solver's model (None: no solution or no evaluator). A
        benchmark table compares this number with the best-known value.
    bound : float or None
        Best proven bound on the optimum (a lower bound when minimising, an
        upper bound when maximising); None when the solver gives none.
    gap_pct : float or None
        Relative gap ``100 |objective - bound| / |objective|`` [%].
    seconds : float
        Wall-clock time of the solve, model building included [s].
    time_limit : float or None
        Time limit the solve was given [s]; None: none.
    mip_rel_gap : float or None
        Relative MIP gap the solve was asked to stop at (dimensionless); None:
        the solver's default.
    best_known : float or None
        Best objective known for the instance (e.g. a published value).
    gap_to_best_known_pct : float or None
        How much worse than ``best_known`` the solution is, in % of
        ``|best_known|`` (``checked_objective`` if available, else
        ``objective``): ``100 (objective - best) / |best|`` when minimising,
        ``100 (best - objective) / |best|`` when maximising; negative when
        the solution beats the best-known value.
    solution : str
        JSON of the solution in the instance's own form (what
        :meth:`optalloc.instances.Instance.evaluate` takes); ``""`` without one.
    code_fingerprint : str
        SHA-256 of optalloc's code (:func:`optalloc.store.code_fingerprint`).
    package_version : str
        optalloc version.
    """

    instance: str
    instance_spec: str
    family: str
    method: str
    solver: str
    status: str
    termination: str
    sense: str
    objective_unit: str
    objective: float | None
    checked_objective: float | None
    bound: float | None
    gap_pct: float | None
    seconds: float
    time_limit: float | None
    mip_rel_gap: float | None
    best_known: float | None
    gap_to_best_known_pct: float | None
    solution: str
    code_fingerprint: str
    package_version: str

    def __post_init__(self) -> None:
        if self.status not in SOLVE_STATUSES:
            raise ConfigurationError(f"SolveRecord.status must be one of {SOLVE_STATUSES}. Got {self.status!r} instead.")
        if self.sense not in SENSES:
            raise ConfigurationError(f"SolveRecord.sense must be one of {SENSES}. Got {self.sense!r} instead.")

    @property
    def has_solution(self) -> bool:
        """True when the solve returned a solution (status optimal or feasible)."""
        return self.status in ("optimal", "feasible")


def gap_to_best_known_pct(objective: float | None, best_known: float | None, sense: str) -> float | None:
    """How much worse than ``best_known`` an objective is [% of ``|best_known|``]; see :class:`SolveRecord`.

    None when either number is missing. A best-known value of 0 gives 0 for
    an objective of 0 and an infinite gap (signed: negative if better)
    otherwise.
    """
    if objective is None or best_known is None:
        return None
    worse = objective - best_known if sense == "minimize" else best_known - objective
    if best_known == 0:
        return 0.0 if worse == 0 else math.copysign(math.inf, worse)
    return 100 * worse / abs(best_known)


# ---------------------------------------------------------------- suite cells
@dataclass(frozen=True)
class CellRecord(_Record):
    """One (scenario, seed, policy) cell of a suite run, with fixed columns for every family.

    Attributes
    ----------
    suite : str
        Suite name.
    scenario : str
        Scenario label (``id`` and overrides, :func:`optalloc.scenario.spec_label`).
    scenario_spec : str
        Canonical JSON of ``{"id": ..., "overrides": {...}}``.
    seed : int
        Seed of the evaluation paths.
    policy : str
        Display name of the policy in the suite.
    policy_id : str
        Registered policy id.
    params : str
        Canonical JSON of the hyperparameters given.
    train_seed : int or None
        Seed of ``fit`` if the suite lists training seeds; None: the evaluation seed.
    method, information : str
        The policy's method kind and information set (its tags).
    episodes : int
        Evaluation paths.
    mean_cost : float
        Mean total cost [cost unit].
    ci95 : float or None
        Half-width of its 95 % CI [cost unit]; None with one episode.
    reference : str
        Policy the paired difference is taken against.
    diff_vs_reference : float
        Mean paired difference to the reference [cost unit].
    diff_ci95 : float or None
        Half-width of its 95 % CI [cost unit]; None with one episode.
    bound : float or None
        Best bound of the (scenario, seed) cell [cost unit]; None: none.
    bound_kind : str
        What the bound is (``"exact optimum (dp)"``, ``"lower bound (alp)"``, ``"hindsight mean (...)"``, ``"none"``).
    gap_to_bound_pct : float or None
        ``100 (mean_cost - bound) / |bound|`` [%].
    fit_s, act_s : float
        Wall time of fitting and of the rollout [s].
    train_steps : float or None
        Environment steps of training (learning policies), else None.
    fitted_on : str
        The scenario the policy was fitted on if not this one; ``""`` otherwise.
    kpis : str
        JSON object of the mean of each KPI the scenario reports (its own names and units).
    status : str
        How the cell ended (:class:`optalloc.status.CellStatus` value: ``completed``,
        ``optimal``, ``time_limit``, ``gap_above_tolerance``, ``diverged``, ...).
    code_fingerprint : str
        SHA-256 of optalloc's code (:func:`optalloc.store.code_fingerprint`).
    package_version : str
        optalloc version.
    """

    suite: str
    scenario: str
    scenario_spec: str
    seed: int
    policy: str
    policy_id: str
    params: str
    train_seed: int | None
    method: str
    information: str
    episodes: int
    mean_cost: float
    ci95: float | None
    reference: str
    diff_vs_reference: float
    diff_ci95: float | None
    bound: float | None
    bound_kind: str
    gap_to_bound_pct: float | None
    fit_s: float
    act_s: float
    train_steps: float | None
    fitted_on: str
    kpis: str
    status: str
    code_fingerprint: str
    package_version: str

    def kpi_values(self) -> dict[str, float | None]:
        """The KPI means, from :attr:`kpis`."""
        return json.loads(self.kpis)

    @classmethod
    def from_summary_row(cls, row: Mapping[str, Any], *, suite: str, scenario_spec: Mapping[str, Any],
                         policy_id: str, params: Mapping[str, Any], train_seed: int | None, information: str,
                         episodes: int, kpi_names: Sequence[str], status: str = "completed") -> CellRecord:
        """The record of one row of a suite summary (:attr:`optalloc.bench.SuiteResult.summary`).

        Parameters
        ----------
        row : mapping
            The summary row: ``scenario, seed, policy, method, mean_cost,
            ci95, diff_vs_<reference>, diff_ci95, gap_to_bound_pct, fit_s,
            act_s, train_steps, fitted_on, bound, bound_kind`` and the KPI means.
        suite : str
            Suite name.
        scenario_spec : mapping
            ``{"id": ..., "overrides": {...}}`` of the scenario.
        policy_id : str
        params : mapping
            Hyperparameters given to the policy.
        train_seed : int or None
        information : str
            The policy's information set.
        episodes : int
            Evaluation paths.
        kpi_names : sequence of str
            The KPIs of the row (the scenario's ``kpis()`` keys), stored in :attr:`kpis`.
        status : str, default "completed"
            How the cell ended (:attr:`status`).
        """
        diffs = [key for key in row.keys() if str(key).startswith("diff_vs_") and not _missing(row[key])]
        if len(diffs) != 1:
            raise ConfigurationError(f"A summary row needs exactly one diff_vs_<reference> value; got {diffs}.")
        fingerprint, version = provenance()
        return cls(
            suite=str(suite), scenario=str(row["scenario"]), scenario_spec=json_text(dict(scenario_spec)),
            seed=int(row["seed"]), policy=str(row["policy"]), policy_id=str(policy_id), params=json_text(dict(params)),
            train_seed=_integer(train_seed), method=str(row["method"]), information=str(information),
            episodes=int(episodes), mean_cost=float(row["mean_cost"]), ci95=_number(row["ci95"]),
            reference=str(diffs[0])[len("diff_vs_"):], diff_vs_reference=float(row[diffs[0]]),
            diff_ci95=_number(row["diff_ci95"]), bound=_number(row["bound"]), bound_kind=str(row["bound_kind"]),
            gap_to_bound_pct=_number(row["gap_to_bound_pct"]), fit_s=float(row["fit_s"]), act_s=float(row["act_s"]),
            train_steps=_number(row["train_steps"]), fitted_on=str(row["fitted_on"]),
            kpis=json_text({name: _number(row[name]) for name in kpi_names}, canonical=False),
            status=str(status), code_fingerprint=fingerprint, package_version=version,
        )


def _missing(value: Any) -> bool:
    return value is None or _is_pandas_na(value) or isinstance(value, float) and math.isnan(value)


def provenance() -> tuple[str, str]:
    """The code fingerprint (:func:`optalloc.store.code_fingerprint`) and the optalloc version of every record."""
    # Imported here: the results store imports the evaluation, which must not be loaded with the registry.
    from optalloc import __version__
    from optalloc.store import code_fingerprint

    return code_fingerprint(), __version__


# ---------------------------------------------------------------- frames
def records_frame(records: Iterable[_Record], record_type: type[_Record] | None = None) -> pd.DataFrame:
    """A DataFrame of records: one row each, the record type's columns in order, fixed dtypes.

    Parameters
    ----------
    records : iterable of CellRecord or SolveRecord
        All of one type.
    record_type : type, optional
        The record type; needed only to give an empty frame its columns
        (default :class:`CellRecord`).

    Returns
    -------
    DataFrame
        Text columns as objects, integer columns as nullable ``Int64``, real
        columns as ``float64`` (None becomes ``<NA>`` or NaN).
    """
    records = list(records)
    if record_type is None:
        record_type = type(records[0]) if records else CellRecord
    if not isinstance(record_type, type) or not issubclass(record_type, _Record):
        raise ConfigurationError(f"The 'record_type' argument must be CellRecord or SolveRecord. Got {record_type!r} instead.")
    others = sorted({type(r).__name__ for r in records if type(r) is not record_type})
    if others:
        raise ConfigurationError(f"records_frame takes records of one type ({record_type.__name__}); got {others} too.")
    import pandas as pd

    columns = record_type.columns()
    frame = pd.DataFrame([[getattr(r, c) for c in columns] for r in records], columns=list(columns))
    return frame.astype({name: _FRAME_TYPES[kind] for name, kind in record_type.schema().items()})
