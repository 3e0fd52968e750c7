"""Static instances: problems that are one solve, with an id or a JSON file.

A published benchmark instance (a rostering instance, a knapsack) is not a
sequential decision problem: it is data, a model, and one solve. Such a
problem is an :class:`Instance`; ``optalloc solve FAMILY INSTANCE`` solves it
and prints its :class:`~optalloc.records.SolveRecord` (objective, bound, gap,
status, seconds, and the gap to the best-known value).

An instance is named in one of two ways:

* a **registered id** (``"toy/knapsack-i0"``): an :class:`InstanceSpec`
  whose entry point is imported only when the instance is made, so
  ``import optalloc`` and ``optalloc list`` load no solver;
* a **file**: a family's own benchmark format, read by the reader the
  family registered for the file's suffix with
  :func:`register_instance_format` (a published rostering instance as
  ``.txt``); or a **JSON file** (read with :func:`json.load`, never unpickled)::

      {"type": "toy/knapsack",            # a registered instance type (required)
       "id": "toy/my-knapsack",           # optional; default <family>/<file stem>
       "description": "...",              # optional
       "data": {"values": [...], ...}}    # the type's keyword arguments

  where the type is registered with :func:`register_instance_type`.

Families register their instances and types from their ``register()`` hook
(``optalloc.registry`` re-exports the functions below), exactly as they
register scenarios.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from optalloc.checks import check_finite_params, read_document
from optalloc.exceptions import ConfigurationError, OptallocWarning, UnknownIdError, bad_value
from optalloc.records import SENSES, SOLVE_STATUSES, SolveRecord, gap_to_best_known_pct, json_text, provenance
from optalloc.tags import METHODS
from optalloc.validation import check_known_keys, did_you_mean, unknown_id_error

__all__ = [
    "INSTANCES",
    "INSTANCE_FORMATS",
    "INSTANCE_TYPES",
    "Instance",
    "InstanceSpec",
    "InstanceTags",
    "check_solve_limits",
    "instance_class",
    "instance_parameters",
    "instance_spec",
    "known_families",
    "list_instances",
    "make_instance",
    "register_instance",
    "register_instance_format",
    "register_instance_type",
]

#: Keys of an instance file.
FILE_KEYS = ("type", "id", "description", "data")
#: Relative tolerance within which the solver's objective and the instance's own evaluation must agree.
OBJECTIVE_RTOL = 1e-6


@dataclass(frozen=True)
class InstanceTags:
    """What an instance class is.

    Attributes
    ----------
    family : str
        Problem family: the first part of the instance id.
    sense : {"minimize", "maximize"}
        Direction of the objective.
    objective_unit : str
        Unit of the objective (``"EUR"``, ``"penalty points"``); ``""``: unitless.
    method : str
        Method kind of its solver (:data:`optalloc.tags.METHODS`).
    """

    family: str
    sense: str = "minimize"
    objective_unit: str = ""
    method: str = "math_programming"

    def __post_init__(self) -> None:
        # Tags are written once per class by a family's author: a typo must fail at import.
        if not isinstance(self.family, str) or not self.family or "/" in self.family:
            raise ConfigurationError(f"InstanceTags.family must be a non-empty name without '/'; got {self.family!r}")
        if self.sense not in SENSES:
            raise ConfigurationError(f"InstanceTags.sense must be one of {SENSES}; got {self.sense!r}")
        if self.method not in METHODS:
            raise ConfigurationError(f"InstanceTags.method must be one of {METHODS}; got {self.method!r}")


class SolverOutcome(Protocol):
    """What :meth:`Instance._solve` returns beside the solution (``optalloc.formulations.solve.SolveResult``)."""

    status: Any
    termination: str
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    solver: str


def _check_seconds(owner: str, parameter: str, value: Any) -> float | None:
    if value is None:
        return None
    expected = "a positive finite number of seconds (omit it for no limit)"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_value(owner, parameter, expected, value)
    if not (math.isfinite(value) and value > 0):
        raise bad_value(owner, parameter, expected, value)
    return float(value)


def check_solve_limits(owner: str, time_limit: Any, mip_rel_gap: Any, *,
                       names: tuple[str, str] = ("time_limit", "mip_rel_gap")) -> tuple[float | None, float | None]:
    """Check a solve's time limit [s] and relative MIP gap; return them as floats (or None).

    Parameters
    ----------
    owner : str
        What the limits belong to, as the message should name it.
    time_limit : float or None
        Wall-clock limit, positive and finite [s]; None: none.
    mip_rel_gap : float or None
        Relative gap in [0, 1] at which to stop (0.01 = 1 %); None: the solver's default.
    names : (str, str)
        How the two parameters are called where they were given (``("--time-limit", "--gap")``).

    Raises
    ------
    ConfigurationError
        A negative, zero or non-finite time limit, a gap outside [0, 1], a non-number.
    """
    limit = _check_seconds(owner, names[0], time_limit)
    if mip_rel_gap is None:
        return limit, None
    if isinstance(mip_rel_gap, bool) or not isinstance(mip_rel_gap, (int, float)) or not 0 <= mip_rel_gap <= 1:
        raise bad_value(owner, names[1], "a relative gap in [0, 1] (0.01 = 1 %)", mip_rel_gap)
    return limit, float(mip_rel_gap)


class Instance(ABC):
    """Base class of static instances: data, a model of it, and one solve.

    Subclasses set :attr:`tags`, take their data as keyword arguments (the
    ``kwargs`` of their :class:`InstanceSpec`, the ``data`` of a file) plus
    ``instance_id`` and ``best_known``, validate it in ``__init__`` (raising
    :class:`~optalloc.exceptions.ConfigurationError`), and implement
    :meth:`_solve`. Where they can, they implement :meth:`evaluate`: the
    objective of a solution computed from the data alone, without the
    solver's model, which every solve uses to check the solver's answer.

    Class attributes
    ----------------
    tags : InstanceTags
        Family, objective sense and unit, method kind.

    Attributes
    ----------
    id : str
        Instance id (``"toy/knapsack-i0"``), set at construction.
    best_known : float or None
        Best objective known for the instance (a published value), in its
        objective unit; None: none known.
    overrides : dict
        Keyword arguments given on top of the registered ones (set by :func:`make_instance`).
    source : str
        Path of the file the instance was read from; ``""`` for a registered id.
    """

    tags: ClassVar[InstanceTags]
    #: Keyword arguments that say which instance this is (its data, or where to read it): an override of one
    #: would keep the registered id and best-known value for other data, so :func:`make_instance` refuses it.
    identity: ClassVar[tuple[str, ...]] = ()
    id: str = ""
    best_known: float | None = None
    overrides: dict[str, Any]
    source: str = ""

    def __init__(self, instance_id: str = "", *, best_known: float | None = None) -> None:
        self.id = instance_id or type(self).__name__
        self.overrides = {}
        self.source = ""
        if best_known is not None and (isinstance(best_known, bool) or not isinstance(best_known, (int, float))
                                       or not math.isfinite(best_known)):
            raise bad_value(f"instance {self.id}", "best_known", "a finite number or None", best_known)
        self.best_known = None if best_known is None else float(best_known)

    @property
    def family(self) -> str:
        """Problem family, from :attr:`tags`."""
        return self.tags.family

    @abstractmethod
    def _solve(self, time_limit: float | None, mip_rel_gap: float | None) -> tuple[SolverOutcome, Any]:
        """Build the model, solve it once without raising, and read the solution back.

        Parameters
        ----------
        time_limit : float or None
            Checked wall-clock limit [s].
        mip_rel_gap : float or None
            Checked relative MIP gap.

        Returns
        -------
        (SolverOutcome, object)
            The solver's outcome (``optalloc.formulations.solve.solve(...,
            raise_on_failure=False)``) and the solution as a JSON-serialisable
            value (None without one).
        """

    def evaluate(self, solution: Any) -> float | None:
        """Objective of ``solution``, computed from the data without the solver's model.

        Parameters
        ----------
        solution : object
            A solution in the instance's own form (what
            :attr:`SolveRecord.solution <optalloc.records.SolveRecord.solution>` holds, decoded).

        Returns
        -------
        float or None
            The objective, in the instance's objective unit; None when the
            instance has no independent evaluator (the default).

        Raises
        ------
        ConfigurationError
            The solution is malformed or infeasible (subclasses).
        """
        return None

    def summary(self) -> dict[str, Any]:
        """What the instance's data holds, in a few JSON-serialisable entries (``optalloc describe`` shows them).

        Returns
        -------
        dict of str to object
            E.g. the number of nurses, days and shift types of a roster; none by default.
        """
        return {}

    def write_solution(self, solution: Any, stem: Path) -> list[Path]:
        """Write a solution in the forms people read (a table, a chart) next to ``stem``; the files written.

        Parameters
        ----------
        solution : object
            A solution in the instance's own form (what :attr:`SolveRecord.solution
            <optalloc.records.SolveRecord.solution>` holds, decoded).
        stem : pathlib.Path
            Path without suffix (``results/instance1``); each file adds its own (``.csv``, ``.png``).

        Returns
        -------
        list of pathlib.Path
            The files written; none by default (the record's JSON holds the solution).
        """
        return []

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable description: id plus overrides, or id plus file."""
        if self.source:
            return {"id": self.id, "file": self.source}
        return {"id": self.id, "overrides": dict(self.overrides)}

    def solve(self, *, time_limit: float | None = None, mip_rel_gap: float | None = None) -> SolveRecord:
        """Solve the instance once and return its record.

        Parameters
        ----------
        time_limit : float, optional
            Wall-clock limit of the solve [s]; None: none.
        mip_rel_gap : float, optional
            Relative MIP gap at which the solver stops (0.01 = 1 %); None:
            the solver's default.

        Returns
        -------
        SolveRecord
            Status, objective, bound, gap and seconds. An infeasible model or
            a limit hit before any solution is a record with that status and
            no objective, not an error.

        Raises
        ------
        ConfigurationError
            A bad time limit or gap.

        Warns
        -----
        OptallocWarning
            When the solver's objective and :meth:`evaluate` of its solution
            disagree (relative difference above :data:`OBJECTIVE_RTOL`): the
            model and the data disagree, and the record keeps both numbers.
        """
        time_limit, mip_rel_gap = check_solve_limits(f"instance {self.id}", time_limit, mip_rel_gap)
        outcome, solution = self._solve(time_limit, mip_rel_gap)
        status = str(getattr(outcome.status, "value", outcome.status))
        if status not in SOLVE_STATUSES:
            raise ConfigurationError(f"Instance {self.id!r}: its solver gave status {status!r}; "
                                     f"expected one of {SOLVE_STATUSES}.")
        has_solution = status in ("optimal", "feasible")
        objective = _finite(outcome.objective) if has_solution else None
        checked = None
        if has_solution and solution is not None:
            checked = self.evaluate(solution)
            checked = None if checked is None else float(checked)
            if checked is not None and objective is not None and not math.isclose(
                    checked, objective, rel_tol=OBJECTIVE_RTOL, abs_tol=OBJECTIVE_RTOL):
                warnings.warn(f"instance {self.id}: the solver's objective {objective!r} and the evaluation of its "
                              f"solution {checked!r} disagree; the record keeps both", OptallocWarning, stacklevel=2)
        # An infinite gap (objective 0, bound not) is a gap; NaN or a gap without a solution is none.
        gap = float(outcome.gap) if has_solution and outcome.gap is not None else None
        fingerprint, version = provenance()
        return SolveRecord(
            instance=self.id, instance_spec=json_text(self.spec()), family=self.family, method=self.tags.method,
            solver=str(outcome.solver), status=status, termination=str(outcome.termination), sense=self.tags.sense,
            objective_unit=self.tags.objective_unit,
            objective=objective, checked_objective=checked, bound=_finite(outcome.bound),
            gap_pct=None if gap is None or math.isnan(gap) else 100 * gap, seconds=float(outcome.seconds),
            time_limit=time_limit, mip_rel_gap=mip_rel_gap, best_known=self.best_known,
            gap_to_best_known_pct=gap_to_best_known_pct(checked if checked is not None else objective,
                                                        self.best_known, self.tags.sense),
            solution="" if solution is None or not has_solution else json_text(solution, canonical=False),
            code_fingerprint=fingerprint, package_version=version,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r})"


def _finite(value: float | None) -> float | None:
    """``value`` as a float; None when missing or not finite (an infinite bound is no bound)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------- registry
@dataclass(frozen=True)
class InstanceSpec:
    """A registered static instance: id, entry point of its class, keyword arguments, description.

    Attributes
    ----------
    id : str
        ``"<family>/<name>"``, e.g. ``"toy/knapsack-i0"``.
    entry_point : str
        ``"module:Class"`` of an :class:`Instance` subclass, imported on use.
    kwargs : dict
        Keyword arguments of the class (the data, or where to read it; ``best_known``).
    description : str
        One line for ``optalloc list``.
    """

    id: str
    entry_point: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def family(self) -> str:
        """The family: the part of the id before the first ``/``."""
        return self.id.partition("/")[0]


#: Registered instances, by id.
INSTANCES: dict[str, InstanceSpec] = {}
#: Registered instance types (what the ``"type"`` of an instance file names): ``"family/kind"`` -> entry point.
INSTANCE_TYPES: dict[str, str] = {}
#: Registered file formats: suffix (``".txt"``) -> {family: entry point of its reader}.
INSTANCE_FORMATS: dict[str, dict[str, str]] = {}


def _check_family_id(what: str, name: str) -> None:
    family, slash, rest = str(name).partition("/")
    if not isinstance(name, str) or not slash or not family or not rest:
        raise ConfigurationError(f"An {what} must look like '<family>/<name>'. Got {name!r} instead.")


def register_instance(spec: InstanceSpec) -> None:
    """Add an instance to the registry (replacing one with the same id)."""
    _check_family_id("instance id", spec.id)
    INSTANCES[spec.id] = spec


def register_instance_type(name: str, entry_point: str) -> None:
    """Register an :class:`Instance` class as a file type (``"toy/knapsack"`` -> ``"toy_family.instance:..."``)."""
    _check_family_id("instance type", name)
    INSTANCE_TYPES[name] = entry_point


def register_instance_format(family: str, suffix: str, entry_point: str) -> None:
    """Register a family's reader of instance files with ``suffix`` (``".txt"``).

    Parameters
    ----------
    family : str
        The family whose files these are (``optalloc solve FAMILY PATH``).
    suffix : str
        The file suffix, with its dot, not ``".json"`` (JSON files are instance files of a registered type).
    entry_point : str
        ``"module:function"`` of ``reader(path: pathlib.Path) -> Instance``, imported on use; the reader
        raises ``ConfigurationError`` for a malformed file, naming the line and what was expected.
    """
    if not isinstance(family, str) or not family or "/" in family:
        raise ConfigurationError(f"An instance format's family must be a name without '/'. Got {family!r} instead.")
    if not isinstance(suffix, str) or not suffix.startswith(".") or suffix.lower() == ".json":
        raise ConfigurationError(f"An instance format's suffix must start with '.' and not be '.json'. "
                                 f"Got {suffix!r} instead.")
    INSTANCE_FORMATS.setdefault(suffix.lower(), {})[family] = entry_point


def instance_spec(instance_id: str) -> InstanceSpec:
    """The registered spec of ``instance_id`` (``UnknownIdError`` with hints if absent)."""
    if not isinstance(instance_id, str):
        raise UnknownIdError(f"An instance id must be a string (see 'optalloc list'). Got {instance_id!r} instead.")
    if instance_id in INSTANCES:
        return INSTANCES[instance_id]
    raise unknown_id_error("instance", instance_id, sorted(INSTANCES))


def instance_class(instance_id: str) -> type[Instance]:
    """The :class:`Instance` subclass of a registered instance id (its module imported on use).

    Raises
    ------
    UnknownIdError
        If ``instance_id`` is not registered (with close matches).
    ConfigurationError
        If its entry point is not an :class:`Instance` subclass.
    """
    from optalloc.registry import load_entry_point

    spec = instance_spec(instance_id)
    return _instance_class(load_entry_point(spec.entry_point), spec.entry_point)


def list_instances(family: str | None = None) -> list[InstanceSpec]:
    """The registered instances (of ``family``, if given), sorted by id, numbers by value (instance2 before instance10)."""
    return [INSTANCES[k] for k in sorted(INSTANCES, key=_natural) if family is None or INSTANCES[k].family == family]


def _natural(text: str) -> list[Any]:
    """Sort key reading runs of digits as numbers: ``instance2`` before ``instance10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def known_families() -> list[str]:
    """Families with a registered scenario, instance or instance type, sorted."""
    from optalloc.registry import SCENARIOS

    ids = [*SCENARIOS, *INSTANCES, *INSTANCE_TYPES]
    formats = {family for readers in INSTANCE_FORMATS.values() for family in readers}
    return sorted({i.partition("/")[0] for i in ids if "/" in i} | formats)


def make_instance(id_or_path: str | os.PathLike[str], *, family: str | None = None, **overrides: Any) -> Instance:
    """Build a registered instance, or read one from a JSON file.

    Parameters
    ----------
    id_or_path : str or path
        A registered id (``"toy/knapsack-i0"``); with ``family``, also the id
        without the family prefix (``"knapsack-i0"``); or the path of a JSON
        instance file or of a file in a registered format (see the module docstring).
    family : str, optional
        The family the instance must belong to (what ``optalloc solve FAMILY``
        names); checked against the known families and the instance's own.
    **overrides
        Keyword arguments replacing registered ones (registered ids only).

    Returns
    -------
    Instance

    Raises
    ------
    UnknownIdError
        An unknown family or instance id (with the known ones and a "did you mean").
    ConfigurationError
        An unreadable or malformed file, an instance of another family,
        overrides given with a file, bad data.

    Examples
    --------
    >>> make_instance("knapsack-i0", family="toy").solve().status  # doctest: +SKIP
    'optimal'
    """
    if family is not None:
        families = known_families()
        if family not in families:
            raise unknown_id_error("family", family, families)
    if not isinstance(id_or_path, (str, os.PathLike)):
        raise UnknownIdError(f"An instance must be an id or a JSON file path (see 'optalloc list'). "
                             f"Got {id_or_path!r} instead.")
    text = os.fspath(id_or_path)
    spec = INSTANCES.get(text) or (INSTANCES.get(f"{family}/{text}") if family is not None else None)
    if spec is None and _looks_like_file(text):
        if overrides:
            raise ConfigurationError(f"Instance file {text!r}: keyword overrides {sorted(overrides)} apply to "
                                     "registered ids only; edit the file's 'data' instead.")
        instance = _read_file(Path(text), family)
    elif spec is None:
        raise _unknown_instance(text, family)
    else:
        check_finite_params(f"instance {spec.id}", overrides)
        cls = instance_class(spec.id)
        fixed = sorted(set(overrides) & set(cls.identity))
        if fixed:
            raise ConfigurationError(f"The parameter(s) {fixed} of instance {spec.id} say which instance it is and "
                                     f"cannot be overridden (its id and best-known value would then describe other "
                                     f"data); name another instance id or a file instead.")
        _check_data(f"instance {spec.id}", cls, {**spec.kwargs, **overrides})
        instance = cls(instance_id=spec.id, **{**spec.kwargs, **overrides})
        instance.overrides = dict(overrides)
        if instance.family != spec.family:
            raise ConfigurationError(f"The instance id {spec.id!r} names the family {spec.family!r}, but its class "
                                     f"{spec.entry_point} is of the family {instance.family!r}.")
    if family is not None and instance.family != family:
        where = f" (file {instance.source!r})" if instance.source else ""
        name = text if instance.source else instance.id.partition("/")[2]
        raise ConfigurationError(f"The instance {instance.id!r}{where} is of the family {instance.family!r}, "
                                 f"not {family!r}; solve it with 'optalloc solve {instance.family} {name}'.")
    return instance


def _looks_like_file(text: str) -> bool:
    path = Path(text)
    return path.suffix.lower() == ".json" or path.suffix.lower() in INSTANCE_FORMATS or path.exists()


def _unknown_instance(text: str, family: str | None) -> UnknownIdError:
    """The error for an instance that is neither registered nor a file, with close matches."""
    if family is None:
        return unknown_id_error("instance", text, sorted(INSTANCES))
    mine = [spec.id for spec in list_instances(family)]
    if not mine:
        others = ", ".join(sorted(INSTANCES)) or "none"
        return UnknownIdError(f"The family {family!r} has no registered static instances (registered: {others}); "
                              f"give a JSON instance file, or see 'optalloc list'. Got {text!r}.")
    # Suggest names in the form given: with or without the family prefix.
    names = mine if "/" in text else [i.partition("/")[2] for i in mine]
    hint = did_you_mean(text, names, n=3, cutoff=0.5)
    return UnknownIdError(f"Unknown instance id {text!r} of family {family!r}; known: {', '.join(mine)} "
                          f"(or a JSON instance file).{hint}")


def _instance_class(obj: Any, where: str) -> type[Instance]:
    if not (isinstance(obj, type) and issubclass(obj, Instance)):
        raise ConfigurationError(f"The entry point {where} is not an Instance subclass. Got {obj!r} instead.")
    return obj


def _check_data(owner: str, cls: type[Instance], given: Any) -> None:
    """Refuse unknown keyword arguments of an instance class and missing required ones."""
    names = instance_parameters(cls)
    check_known_keys(owner, given, names)
    required = [p.name for p in inspect.signature(cls.__init__).parameters.values()
                if p.name in names and p.default is inspect.Parameter.empty]
    missing = [name for name in required if name not in given]
    if missing:
        raise ConfigurationError(f"Missing parameter(s) {missing} for {owner}; it needs {required}.")


def instance_parameters(cls: type[Instance]) -> list[str]:
    """The keyword arguments of an instance class (its data, options and ``best_known``), in signature order."""
    names = [p.name for p in inspect.signature(cls.__init__).parameters.values()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return [n for n in names if n not in ("self", "instance_id")]


def _read_file(path: Path, family: str | None = None) -> Instance:
    """An instance from a file (see the module docstring); every problem is one ConfigurationError line."""
    from optalloc.registry import load_entry_point

    readers = INSTANCE_FORMATS.get(path.suffix.lower(), {})
    if readers:
        return _read_format(path, family, readers)

    where = f"Instance file {str(path)!r}"
    doc = read_document(path, json.loads, file="Instance file", folder="Instance file",
                        expected="a JSON instance file", language="JSON", errors=(json.JSONDecodeError,))
    if not isinstance(doc, dict):
        raise ConfigurationError(f"{where} must hold a JSON object with keys {list(FILE_KEYS)}. "
                                 f"Got a {type(doc).__name__} instead.")
    try:
        check_known_keys("the file", doc, FILE_KEYS, what="key(s)")
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
    kind = doc.get("type")
    if kind not in INSTANCE_TYPES:
        known = sorted(INSTANCE_TYPES)
        hint = did_you_mean(kind, known, n=3, cutoff=0.5) if isinstance(kind, str) else ""
        got = "no 'type'" if "type" not in doc else f"type {kind!r}"
        raise ConfigurationError(f"{where}: 'type' must be a registered instance type ({', '.join(known) or 'none'}). "
                                 f"Got {got}.{hint}")
    data = doc.get("data", {})
    if not isinstance(data, dict):
        raise ConfigurationError(f"{where}: 'data' must be a JSON object of the type's parameters. "
                                 f"Got {data!r} instead.")
    instance_id = doc.get("id", f"{kind.partition('/')[0]}/{path.stem}")
    if not isinstance(instance_id, str) or not instance_id:
        raise ConfigurationError(f"{where}: 'id' must be a non-empty string. Got {instance_id!r} instead.")
    cls = _instance_class(load_entry_point(INSTANCE_TYPES[kind]), INSTANCE_TYPES[kind])
    try:
        check_finite_params(f"instance {instance_id}", data)
        _check_data(f"instance type {kind!r}", cls, data)
        instance = cls(instance_id=instance_id, **data)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
    instance.source = str(path)
    return instance


def _read_format(path: Path, family: str | None, readers: dict[str, str]) -> Instance:
    """An instance from a file in a family's own format (the reader registered for its suffix)."""
    from optalloc.registry import load_entry_point

    if family is None and len(readers) > 1:
        raise ConfigurationError(f"Instance file {str(path)!r}: the families {sorted(readers)} all read "
                                 f"{path.suffix!r} files; name the family ('optalloc solve FAMILY PATH').")
    if family is not None and family not in readers:
        raise ConfigurationError(f"Instance file {str(path)!r}: the family {family!r} reads no {path.suffix!r} "
                                 f"files ({', '.join(sorted(readers))} do{'es' if len(readers) == 1 else ''}).")
    name = family if family is not None else next(iter(readers))
    if not path.is_file():
        raise ConfigurationError(f"Instance file {str(path)!r} does not exist (or is not a file).")
    instance = load_entry_point(readers[name])(path)
    if not isinstance(instance, Instance):
        raise ConfigurationError(f"The reader {readers[name]} returned {instance!r}, not an Instance.")
    instance.source = str(path)
    return instance
