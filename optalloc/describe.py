"""What a registered scenario's parameters and a registered policy's hyperparameters mean.

The tables are read from the code itself, so they cannot drift from it:

* a scenario's parameters are the fields of its frozen parameter dataclass
  (``scenario.params_class``); the meaning of each is the field's attribute
  docstring (a string literal right below it, units in brackets);
* a static instance's parameters are the keywords of its class's
  ``__init__`` (its data, options and best-known value), with the
  registered values; the meaning of each is its entry in the "Parameters"
  section of the class's NumPy docstring;
* a policy's hyperparameters are the keywords of its ``__init__``; the
  meaning of each is its entry in the "Parameters" section of the class's
  NumPy docstring or, for a policy whose hyperparameters are the fields of an
  agent's config dataclass (a ``config_class`` attribute), that field's
  attribute docstring.

Examples
--------
>>> from optalloc.describe import describe_scenario
>>> table = describe_scenario("beds/stochastic-v0").set_index("parameter")
>>> float(table.loc["surge_probability", "value"]), float(table.loc["surge_probability", "default"])
(0.1, 0.0)

Only the registry is imported here; describing a policy imports its module
(and so its optional dependencies, torch or pyomo) through
:func:`optalloc.registry.make_policy`.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import shutil
import textwrap
from typing import Any

import pandas as pd

from optalloc.instances import INSTANCES, instance_class, instance_parameters, instance_spec, make_instance
from optalloc.registry import POLICIES, SCENARIOS, _lookup, make_policy, make_scenario

#: Columns of :func:`describe_scenario`.
SCENARIO_COLUMNS = ("parameter", "value", "default", "meaning")
#: Columns of :func:`describe_instance`.
INSTANCE_COLUMNS = SCENARIO_COLUMNS
#: Columns of :func:`describe_policy`.
POLICY_COLUMNS = ("parameter", "default", "meaning")

#: No default: the parameter must be given.
REQUIRED = "(required)"

_SECTION_RULE = re.compile(r"^-{3,}\s*$")
_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`~?([^`]+)`")


# ---------------------------------------------------------------- reading documentation
def _plain(text: str) -> str:
    """One line of reStructuredText as plain text: ``:class:`~a.B``` -> ``B``, ````x```` -> ``x``."""
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1] if m.group(0).count("~") else m.group(1), text)
    return " ".join(text.replace("``", "").split())


def attribute_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of a class and of its bases, by attribute name.

    An attribute docstring is a string literal right below an (annotated)
    assignment in the class body; a subclass's docstring of a name replaces
    its base's, and a subclass redefining a name without one keeps the base's.

    Parameters
    ----------
    cls : type
        Typically a dataclass (``BedParams``, ``PPOConfig``).

    Returns
    -------
    dict of str to str
        Plain-text meaning (roles and literal markup removed, one line) of
        every documented attribute.
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):  # built-in or dynamically made classes have no source
            continue
        body = next((node.body for node in ast.parse(source).body if isinstance(node, ast.ClassDef)), [])
        for node, after in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            else:
                continue
            if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str):
                for name in names:
                    docs[name] = _plain(inspect.cleandoc(after.value.value))
    return docs


def docstring_parameters(doc: str | None) -> dict[str, str]:
    """Entries of the "Parameters" section of a NumPy-style docstring.

    Parameters
    ----------
    doc : str or None
        The docstring (as ``inspect.getdoc`` returns it, or raw).

    Returns
    -------
    dict of str to str
        Plain-text description of each parameter; an entry naming several
        parameters (``"a, b : float"``) gives each of them the description.
    """
    if not doc:
        return {}
    lines = inspect.cleandoc(doc).splitlines()
    out: dict[str, str] = {}
    inside, names, text = False, [], []

    def flush() -> None:
        for name in names:
            out[name] = _plain(" ".join(text))

    for i, line in enumerate(lines):
        rule_follows = i + 1 < len(lines) and _SECTION_RULE.match(lines[i + 1]) and line.strip()
        if rule_follows:  # a section header
            if inside:
                break
            inside = line.strip() == "Parameters"
            continue
        if not inside or _SECTION_RULE.match(line):
            continue
        if line and not line[0].isspace():  # "name : type" or "name1, name2"
            flush()
            names = [n.strip().lstrip("*") for n in line.split(" : ", 1)[0].rstrip(":").split(",") if n.strip()]
            text = []
        elif line.strip():
            text.append(line.strip())
    if inside:
        flush()
    return out


# ---------------------------------------------------------------- tables
def _field_default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return REQUIRED


def describe_scenario(scenario_id: str) -> pd.DataFrame:
    """Every parameter of a registered scenario: its value in this preset, its default and its meaning.

    Parameters
    ----------
    scenario_id : str
        Registered scenario id, e.g. ``"beds/stochastic-v0"``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SCENARIO_COLUMNS`, one row per field of the scenario's
        ``params_class`` in declaration order: ``value`` as the preset sets it,
        ``default`` the dataclass default, ``meaning`` the field's docstring
        with its unit in brackets (empty if undocumented).

    Raises
    ------
    optalloc.exceptions.UnknownIdError
        If ``scenario_id`` is not registered (with close matches).
    """
    scenario = make_scenario(scenario_id)
    docs = attribute_docs(scenario.params_class)
    rows = [(f.name, getattr(scenario.params, f.name), _field_default(f), docs.get(f.name, ""))
            for f in dataclasses.fields(scenario.params_class)]
    return pd.DataFrame(rows, columns=list(SCENARIO_COLUMNS), dtype=object)


def _init_defaults(cls: type) -> dict[str, Any]:
    """The default of each keyword of ``cls.__init__`` (:data:`REQUIRED` where it has none)."""
    return {name: REQUIRED if p.default is inspect.Parameter.empty else p.default
            for name, p in inspect.signature(cls.__init__).parameters.items()}


def _class_docs(cls: type) -> dict[str, str]:
    """The "Parameters" entries of a class's docstring and its bases' (a subclass's entry replaces its base's)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        docs.update(docstring_parameters(klass.__dict__.get("__doc__")))
    return docs


def describe_instance(instance_id: str) -> pd.DataFrame:
    """Every parameter of a registered static instance: its registered value, its default and its meaning.

    Parameters
    ----------
    instance_id : str
        Registered instance id, e.g. ``"staff/instance8"``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`INSTANCE_COLUMNS`, one row per keyword of the instance
        class's ``__init__`` in signature order (``instance_id`` left out):
        ``value`` as the registry sets it, ``default`` the keyword's default,
        ``meaning`` from the class docstring's "Parameters" section; a
        parameter that says which instance it is (``Instance.identity``) says
        so, since ``--set`` cannot change it.

    Raises
    ------
    optalloc.exceptions.UnknownIdError
        If ``instance_id`` is not registered (with close matches).
    """
    spec = instance_spec(instance_id)
    cls = instance_class(instance_id)
    docs, defaults = _class_docs(cls), _init_defaults(cls)
    rows = []
    for name in instance_parameters(cls):
        default = defaults[name]
        meaning = docs.get(name, "")
        if name in cls.identity:
            meaning = f"{meaning} (says which instance this is: not changeable with --set)".strip()
        rows.append((name, spec.kwargs.get(name, default), default, meaning))
    return pd.DataFrame(rows, columns=list(INSTANCE_COLUMNS), dtype=object)


def describe_policy(policy_id: str) -> pd.DataFrame:
    """Every hyperparameter of a registered policy: its default and its meaning.

    Parameters
    ----------
    policy_id : str
        Registered policy id, e.g. ``"rigid"`` or ``"ppo"``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`POLICY_COLUMNS`, one row per keyword of the policy's
        ``__init__`` in signature order; ``meaning`` from the config
        dataclass's field docstrings if the policy has a ``config_class``,
        else from the class docstring's "Parameters" section (empty if
        undocumented).

    Raises
    ------
    optalloc.exceptions.UnknownIdError
        If ``policy_id`` is not registered (with close matches).
    optalloc.exceptions.DependencyNotInstalled
        If the policy needs an optional dependency that is missing.
    """
    cls = type(make_policy(policy_id))
    config_class = getattr(cls, "config_class", None)
    if config_class is not None and dataclasses.is_dataclass(config_class):
        docs = attribute_docs(config_class)
    else:
        docs = _class_docs(cls)
    defaults = _init_defaults(cls)
    rows = [(name, defaults[name], docs.get(name, "")) for name in cls._param_names()]
    return pd.DataFrame(rows, columns=list(POLICY_COLUMNS), dtype=object)


def describe(item_id: str) -> tuple[str, pd.DataFrame]:
    """The table of a registered scenario, policy or static instance id.

    Parameters
    ----------
    item_id : str
        A scenario id (``"beds/seed002-v0"``), a policy id (``"ppo"``) or a
        static instance id (``"staff/instance8"``).

    Returns
    -------
    kind : {"scenario", "policy", "instance"}
    table : pandas.DataFrame
        :func:`describe_scenario`, :func:`describe_policy` or :func:`describe_instance`.

    Raises
    ------
    optalloc.exceptions.UnknownIdError
        If the id is none of them, with the closest ids.
    """
    if item_id in SCENARIOS:
        return "scenario", describe_scenario(item_id)
    if item_id in POLICIES:
        return "policy", describe_policy(item_id)
    if item_id in INSTANCES:
        return "instance", describe_instance(item_id)
    _lookup({**SCENARIOS, **POLICIES, **INSTANCES}, "scenario, policy or instance", item_id)
    raise AssertionError("unreachable: _lookup raises for an unregistered id")


def describe_tags(item_id: str) -> dict[str, Any]:
    """What a registered scenario is and offers, what a policy is and accepts, or what an instance is.

    Scenario: its tags (family, action kind, epoch name, cost unit and scale,
    capabilities), its action components and its KPIs with units. Policy: its
    method kind, information set, exactness and what it accepts. Static
    instance: its family, objective sense and unit, method kind and what its
    data holds (:meth:`optalloc.instances.Instance.summary`). JSON-serialisable.
    """
    if item_id in INSTANCES:
        instance = make_instance(item_id)
        tags = instance.tags
        known = {} if instance.best_known is None else {"best_known": instance.best_known}
        return {"family": tags.family, "sense": tags.sense, "objective_unit": tags.objective_unit,
                "method": tags.method, **known, **instance.summary()}
    if item_id in SCENARIOS:
        scenario = make_scenario(item_id)
        tags, table = scenario.tags, scenario.action_table()
        return {"family": tags.family, "action_kind": tags.action_kind, "epoch": tags.epoch_name,
                "cost_unit": tags.cost_unit, "cost_scale": tags.cost_scale,
                "capabilities": sorted(tags.capabilities),
                "actions": {"components": list(table.components), "verb": table.verb},
                "kpis": {name: {"unit": k.unit, "description": k.description, "direction": k.direction}
                         for name, k in scenario.kpi_specs().items()}}
    tags = type(make_policy(item_id)).tags
    return {"method": tags.method, "information": tags.information, "exact": tags.exact,
            "families": None if tags.families is None else sorted(tags.families),
            "action_kinds": sorted(tags.action_kinds), "needs": sorted(tags.needs)}


def format_tags(tags: dict[str, Any]) -> str:
    """:func:`describe_tags` as ``key: value`` lines."""
    def show(value: Any) -> str:
        if isinstance(value, dict):
            # An empty text (an action table with no verb) says nothing: left out rather than shown bare.
            return "; ".join(f"{k} {show(v)}" if not isinstance(v, dict) else
                             f"{k} [{v.get('unit', '')}]" for k, v in value.items() if v != "") or "-"
        if isinstance(value, list):
            return ", ".join(map(str, value)) or "-"
        return "any" if value is None else str(value)

    return "\n".join(f"{key}: {show(value)}" for key, value in tags.items())


# ---------------------------------------------------------------- display
def _show(value: Any) -> str:
    if isinstance(value, str):
        return value if value == REQUIRED else repr(value)
    # Large round numbers grouped as Python literals (1_000_000), which --policy and --set accept as typed.
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1e4:
        return f"{value:_.1f}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:_}"
    return repr(value)


def format_table(table: pd.DataFrame, width: int | None = None) -> str:
    """A describe table as aligned text, the last column (``meaning``) wrapped.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`describe_scenario` or :func:`describe_policy`.
    width : int, optional
        Line width [characters]; default the terminal's (at least 100).

    Returns
    -------
    str
    """
    width = width or max(shutil.get_terminal_size((100, 24)).columns, 100)
    columns = list(table.columns)
    cells = [[str(v) if c in ("parameter", "meaning") else _show(v) for c, v in zip(columns, row)]
             for row in table.itertuples(index=False)]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns[:-1])]
    indent = sum(widths) + 2 * len(widths)
    wrap = max(width - indent, 30)

    def line(values: list[str]) -> list[str]:
        head = "".join(v.ljust(w + 2) for v, w in zip(values, widths))
        # Never split inside a word: ids and names such as "re-plan" or "beds/stochastic-v0" stay whole.
        parts = textwrap.wrap(values[-1], wrap, break_long_words=False, break_on_hyphens=False) or [""]
        return [(head + parts[0]).rstrip()] + [" " * indent + p for p in parts[1:]]

    out = line(columns)
    for row in cells:
        out += line(row)
    return "\n".join(out)


__all__ = [
    "INSTANCE_COLUMNS",
    "POLICY_COLUMNS",
    "REQUIRED",
    "SCENARIO_COLUMNS",
    "attribute_docs",
    "describe",
    "describe_instance",
    "describe_policy",
    "describe_scenario",
    "describe_tags",
    "docstring_parameters",
    "format_table",
    "format_tags",
]
