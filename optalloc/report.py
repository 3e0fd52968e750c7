"""Reports of a results store: Markdown and a self-contained HTML page, with figures and CSV exports.

For every suite, scenario and seed in the store, the report tabulates each
policy's mean cost with its 95 % CI, the paired difference to the reference
with its CI, the variance that common random numbers saved (the variance of
the difference had the policies been run on independent paths, over the
variance of the paired difference), a Holm-adjusted paired t-test of each
policy against the reference (``not distinguishable`` when the adjusted
p-value is 0.05 or more), the gap to the best bound -- *certified* for an
exact DP optimum or a lower bound a policy proved (an approximate LP's),
*estimated* for a hindsight mean (a bound in expectation, itself a sample
mean) -- the fit, solve and act seconds and the cell's status.

The HTML page embeds its figures (base64 PNG), so it can be mailed or
archived as one file.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optalloc.evaluation import mean_ci, summarise
from optalloc.exceptions import ConfigurationError, OptallocError
from optalloc.registry import make_scenario
from optalloc.scenario import spec_label
from optalloc.store import ResultStore

__all__ = ["Report", "comparison_table", "formatted", "holm", "write_report"]

#: Family-wise error rate of the Holm comparisons.
ALPHA = 0.05


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of p-values (family-wise error control); NaN stays NaN.

    Parameters
    ----------
    p_values : sequence of float

    Returns
    -------
    ndarray
        Adjusted p-values, each at most 1, in the input order.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        out[index] = running
    return out


def _paired_p(diff: np.ndarray) -> float:
    """Two-sided p-value of the paired t-test that the mean difference is 0 (NaN with fewer than 2 episodes)."""
    from scipy import stats

    if len(diff) < 2:
        return math.nan
    spread = float(np.std(diff, ddof=1))
    if spread == 0:
        return 1.0 if float(np.mean(diff)) == 0 else 0.0
    t = float(np.mean(diff)) / (spread / math.sqrt(len(diff)))
    return float(2 * stats.t.sf(abs(t), len(diff) - 1))


def comparison_table(runs: dict[str, Any], scenario: str, seed: int, reference: str | None,
                     statuses: dict[str, str]) -> tuple[pd.DataFrame, float | None, str]:
    """The report's table of one (scenario, seed): one row per policy.

    Parameters
    ----------
    runs : dict of name to PolicyRun
        On the same paths, in display order.
    scenario : str
        Scenario label.
    seed : int
    reference : str or None
        Policy of the paired differences (None: as :func:`optalloc.evaluate` chooses).
    statuses : dict of name to str
        Each cell's status.

    Returns
    -------
    table : DataFrame
        ``policy, method, status, mean_cost, ci95, diff, diff_ci95, crn_variance_ratio, p_holm,
        verdict, gap_to_bound_pct, fit_s, solve_s, act_s`` (``solve_s``: the seconds of the policy's
        solver calls, within fit and act; NaN for a policy that solves none).
    bound : float or None
    bound_kind : str
        What the bound is, with ``certified`` or ``estimated``.
    """
    result = summarise(runs, scenario, seed, reference=reference if reference in runs else None)
    summary = result.summary
    reference = next(c for c in summary.columns if str(c).startswith("diff_vs_"))[len("diff_vs_"):]
    ref_cost = runs[reference].trajectory.total_cost
    rows, p_values = [], []
    for name, run in runs.items():
        cost = run.trajectory.total_cost
        diff = cost - ref_cost
        mean, ci = mean_ci(cost)
        d_mean, d_ci = mean_ci(diff)
        paired = float(np.var(diff, ddof=1)) if len(diff) > 1 else math.nan
        unpaired = float(np.var(cost, ddof=1) + np.var(ref_cost, ddof=1)) if len(diff) > 1 else math.nan
        ratio = math.nan if name == reference or not paired else unpaired / paired
        p_values.append(math.nan if name == reference else _paired_p(diff))
        row = summary.loc[summary["policy"] == name].iloc[0]
        rows.append({"policy": name, "method": run.method, "role": row["role"], "status": statuses.get(name, ""),
                     "mean_cost": mean,
                     "ci95": ci, "diff": d_mean, "diff_ci95": d_ci, "crn_variance_ratio": ratio,
                     "gap_to_bound_pct": row["gap_to_bound_pct"], "fit_s": run.fit_seconds,
                     # HiGHS's share of fit + act, for the policies that solve programs.
                     "solve_s": math.nan if run.solves is None or run.solves.empty else float(run.solves["seconds"].sum()),
                     "act_s": run.trajectory.act_seconds})
    adjusted = holm(p_values)
    for row, p in zip(rows, adjusted, strict=True):  # the verdict of a bound is "bound": it is no policy
        row["p_holm"] = p
        row["verdict"] = ("reference" if row["policy"] == reference else "bound" if row.pop("role") == "bound" else
                          "n/a" if math.isnan(p) else
                          "not distinguishable" if p >= ALPHA else "worse" if row["diff"] > 0 else "better")
    table = pd.DataFrame(rows)[["policy", "method", "status", "mean_cost", "ci95", "diff", "diff_ci95",
                                "crn_variance_ratio", "p_holm", "verdict", "gap_to_bound_pct", "fit_s", "solve_s", "act_s"]]
    kind = result.bound_kind
    if result.bound is not None:
        certified = kind.startswith(("exact", "lower bound"))  # proved by a solve, not a sample mean
        kind += "; certified" if certified else "; estimated (a sample mean of a bound)"
    table.attrs["reference"] = reference
    return table, result.bound, kind


@dataclass
class Section:
    """One (suite, scenario, seed) of a report."""

    suite: str
    scenario: str
    seed: int
    table: pd.DataFrame
    bound: float | None
    bound_kind: str
    episodes: pd.DataFrame
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    """The learning curves of its learning policies (``env_steps``, ``eval_cost``)."""
    sweep: tuple[str, str, Any] | None = None
    """``(scenario id + fixed overrides, parameter, value)`` when the section is a point of a sensitivity sweep."""
    tags: Any = None
    """The scenario's :class:`~optalloc.tags.ScenarioTags` (cost unit and scale of the figures)."""
    identity: dict[str, Any] = field(default_factory=dict)
    """The identity of the section's exact policy's cell (scenario, overrides, policy id, params); {} without one."""
    figures: list[Path] = field(default_factory=list)


@dataclass
class Report:
    """What :func:`write_report` wrote."""

    sections: list[Section]
    files: list[Path]
    solves: pd.DataFrame | None = None
    """The static solve cells: instance, status, objective, bound, gaps, seconds (None: the store has none)."""


#: Columns of the static-instance table.
SOLVE_COLUMNS = ["suite", "instance", "status", "objective", "bound", "gap_pct", "best_known", "gap_to_best_known_pct",
                 "seconds", "time_limit"]


def _solve_table(store: ResultStore) -> tuple[pd.DataFrame | None, list[Any]]:
    """The newest finished version of every static solve cell, as a table, and their records."""
    from optalloc.records import SolveRecord

    solves = store.table("solves")
    solves = solves[solves["record"].notna()]
    if solves.empty:
        return None, []
    latest = solves.sort_values("finished").groupby("key", sort=False).tail(1).sort_values(["suite", "instance"])
    records = [SolveRecord.from_dict(json.loads(text)) for text in latest["record"]]
    rows = [{"suite": suite, **{c: getattr(r, c) for c in SOLVE_COLUMNS[1:]}}
            for suite, r in zip(latest["suite"], records, strict=True)]
    return pd.DataFrame(rows, columns=SOLVE_COLUMNS), records


def _solution_figures(records: list[Any], folder: Path) -> list[Path]:
    """The figures a family draws of its solutions (the roster chart), written beside the report."""
    from optalloc.instances import make_instance

    figures = []
    for record in records:
        if not record.solution:
            continue
        try:
            instance = make_instance(record.instance)
        except OptallocError:  # an instance this optalloc no longer has
            continue
        written = instance.write_solution(json.loads(record.solution), folder / _slug(record.instance))
        figures += [path for path in written if Path(path).suffix == ".png"]
    return [Path(p) for p in figures]


def _sections(store: ResultStore) -> list[Section]:
    cells = store.table("cells")
    cells = cells[cells["status"] != "error"]
    if cells.empty:
        raise ConfigurationError(f"The results store {str(store.path)!r} holds no finished cell to report.")
    runs_table = store.table("runs")
    references: dict[str, str | None] = {}
    orders: dict[str, list[str]] = {}
    sweeps: dict[tuple[str, str], tuple[str, str, Any]] = {}  # (suite, scenario label) -> sweep
    for _, row in runs_table.sort_values("run_id").iterrows():  # the latest run of a suite decides
        suite_doc = json.loads(row["manifest"]).get("suite", {})
        if isinstance(suite_doc, dict):
            references[row["suite"]] = suite_doc.get("reference")
            orders[row["suite"]] = [p.get("name", "") for p in suite_doc.get("policies", [])]
            for entry in suite_doc.get("scenarios", []):
                parameter = entry.get("sweep")
                if parameter:
                    overrides = dict(entry.get("overrides", {}))
                    value = overrides.pop(parameter)
                    line = spec_label({"id": entry["id"], "overrides": overrides})
                    sweeps[(row["suite"], spec_label(entry))] = (line, parameter, value)
    latest = cells.sort_values("finished").groupby("key", sort=False).tail(1)  # newest version of each cell
    groups: dict[tuple[str, str, int], list[Any]] = {}
    for _, row in latest.iterrows():
        identity = json.loads(row["identity"])
        label = spec_label({"id": identity["scenario"], "overrides": identity.get("overrides", {})})
        groups.setdefault((row["suite"], label, int(identity["seed"])), []).append((identity, row["key"], row))
    sections = []
    for (suite, label, seed), members in sorted(groups.items()):
        runs, statuses, exact = {}, {}, {}
        order = orders.get(suite, [])

        def position(member: tuple[Any, ...], order: list[str] = order) -> tuple[int, str]:
            name = member[0].get("name", "")  # the suite's order, then by name
            return (order.index(name) if name in order else len(order), name)

        for identity, _key, row in sorted(members, key=position):
            run = store.load_row(row["key"], row["code"])
            if run is not None:
                runs[run.name] = run
                statuses[run.name] = row["status"]
                if run.exact and not exact:
                    exact = identity
        lengths = {len(r.trajectory.total_cost) for r in runs.values()}
        if not runs or len(lengths) != 1:
            continue  # cells of different episode counts are not on the same paths
        table, bound, kind = comparison_table(runs, label, seed, references.get(suite), statuses)
        episodes = pd.concat([pd.DataFrame({"policy": n, "total_cost": r.trajectory.total_cost})
                              for n, r in runs.items()], ignore_index=True)
        identity = members[0][0]
        try:
            tags = make_scenario(identity["scenario"], **identity.get("overrides", {})).tags
        except OptallocError:  # a scenario this optalloc no longer has: plain units
            tags = None
        curves = {n: r.learning_curve for n, r in runs.items()
                  if r.learning_curve is not None and "eval_cost" in r.learning_curve}
        sections.append(Section(suite, label, seed, table, bound, kind, episodes, curves,
                                sweeps.get((suite, label)), tags, exact))
    return sections


def _structure_figures(section: Section, folder: Path) -> list[Path]:
    """The scenario's figures of its exact policy's structure (e.g. the scanner decision heatmaps), if it draws any.

    The exact policy is fitted again here (a store keeps its costs, not the policy); scenarios that draw
    no such figure cost nothing.
    """
    from optalloc.registry import make_policy
    from optalloc.scenario import Scenario

    identity = section.identity
    if not identity:
        return []
    try:
        scenario = make_scenario(identity["scenario"], **identity.get("overrides", {}))
    except OptallocError:
        return []
    if type(scenario).policy_figures is Scenario.policy_figures:
        return []
    policy = make_policy(identity["policy"], **identity.get("params", {})).fit(scenario, seed=identity.get("seed"))
    return [Path(p) for p in scenario.policy_figures(policy, folder)]


def _sensitivity_figures(sections: list[Section], folder: Path) -> list[tuple[Path, str]]:
    """One figure per sweep (suite, scenario, parameter, seed): each policy's mean cost against the value."""
    from optalloc.plots import plot_sensitivity

    lines: dict[tuple[str, str, str, int], list[Section]] = {}
    for section in sections:
        if section.sweep is not None:
            line, parameter, _ = section.sweep
            lines.setdefault((section.suite, line, parameter, section.seed), []).append(section)
    out = []
    for (suite, line, parameter, seed), points in lines.items():
        frame = pd.DataFrame([{"policy": row.policy, "value": p.sweep[2], "mean_cost": row.mean_cost,
                               "ci95": row.ci95} for p in points for row in p.table.itertuples()])
        path = folder / f"sensitivity-{_slug(suite)}-{_slug(line)}-{_slug(parameter)}-seed{seed}.png"
        title = f"{line}: sensitivity to {parameter} (seed {seed})"
        extra = {} if points[0].tags is None else {"tags": points[0].tags}
        plot_sensitivity(frame, parameter, title=title, path=path, **extra)
        out.append((path, title))
    return out


def _fmt(value: Any, column: str = "") -> str:
    if column == "p_holm" and isinstance(value, float) and value < 1e-4:
        return "<0.0001"  # the test's tail is not estimated this far out anyway
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _markdown_table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_fmt(v, c) for c, v in zip(frame.columns, row, strict=True)) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v, c))}</td>"
                                    for c, v in zip(frame.columns, row, strict=True)) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f'<table class="comparison"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_")


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every number as text of about four significant digits (thousands separated)."""
    return pd.DataFrame({c: [_fmt(v, str(c)) for v in table[c]] for c in table.columns})


_STYLE = """body{font-family:sans-serif;max-width:80em;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th{background:#f0f0f0}td:first-child{text-align:left}img{max-width:100%}"""


class _Document:
    """The report as Markdown and as HTML at once: each heading, table and figure goes to both."""

    def __init__(self, store_path: Path) -> None:
        self.md = ["# optalloc report", "", f"Results store: `{store_path}`.", "",
                   "Paired differences are to the reference on the same random futures; `crn_variance_ratio` is "
                   "the variance of the difference on independent futures over its variance on common ones; "
                   f"`p_holm` is the Holm-adjusted paired t-test (family-wise {ALPHA:g}).", ""]
        self.page = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>optalloc report</title>"
                     f"<style>{_STYLE}</style></head><body><h1>optalloc report</h1>",
                     f"<p>Results store: <code>{html.escape(str(store_path))}</code>.</p>"]

    def heading(self, title: str, text: str | None = None) -> None:
        self.md += [f"## {title}", ""] + ([text, ""] if text else [])
        self.page += [f"<h2>{html.escape(title)}</h2>"] + ([f"<p>{html.escape(text)}</p>"] if text else [])

    def table(self, frame: pd.DataFrame) -> None:
        self.md += [_markdown_table(frame), ""]
        self.page.append(_html_table(frame))

    def figure(self, path: Path, alt: str | None = None) -> None:
        """The PNG beside the Markdown, and inside the HTML page (base64), so that the page stands alone."""
        alt = path.stem if alt is None else alt
        self.md += [f"![{alt}]({path.name})", ""]
        encoded = base64.b64encode(path.read_bytes()).decode()
        self.page.append(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">')

    def finish(self) -> tuple[str, str]:
        """The Markdown text and the HTML page."""
        # Marks, once the page has loaded, how many tables and decoded images it shows: what a browser check reads.
        script = ("<script>window.addEventListener('load', () => { const b = document.body; "
                  "b.dataset.tables = document.querySelectorAll('table').length; "
                  "b.dataset.images = [...document.images].filter(i => i.complete && i.naturalWidth > 0).length; "
                  "});</script></body></html>")
        return "\n".join(self.md), "\n".join(self.page + [script])


def write_report(store: str | Path | ResultStore, out: str | Path, *, figures: bool = True) -> Report:
    """Write ``report.md``, ``report.html``, ``comparison.csv`` (and ``solves.csv``) and the figures of a store to ``out``.

    Parameters
    ----------
    store : path or ResultStore
        The SQLite results store of ``optalloc bench run``.
    out : path
        Folder of the report (created).
    figures : bool, default True
        Draw the cost-distribution figure of every section (matplotlib).

    Returns
    -------
    Report

    Raises
    ------
    ConfigurationError
        No store there, or no finished cell in it.
    """
    results = store if isinstance(store, ResultStore) else ResultStore(store)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    sections = _sections(results)
    files: list[Path] = []
    profile: Path | None = None
    sensitivity: list[tuple[Path, str]] = []
    if figures:
        from optalloc.plots import plot_cost_distributions, plot_gap_profiles, plot_learning_curves

        for section in sections:
            stem = f"{_slug(section.suite)}-{_slug(section.scenario)}-seed{section.seed}"
            extra = {} if section.tags is None else {"tags": section.tags}
            path = folder / f"costs-{stem}.png"
            plot_cost_distributions(section.episodes, title=f"{section.scenario} (seed {section.seed})", path=path,
                                    **extra)
            section.figures.append(path)
            section.figures += _structure_figures(section, folder)
            if section.curves:
                path = folder / f"learning-{stem}.png"
                optimum = section.bound if section.bound_kind.startswith("exact") else None
                plot_learning_curves(section.curves, optimum, title=f"learning curves: {section.scenario}",
                                     path=path, **extra)
                section.figures.append(path)
            files += section.figures
        sensitivity = _sensitivity_figures(sections, folder)
        files += [path for path, _ in sensitivity]
        gaps = pd.DataFrame([{"policy": row.policy, "section": f"{s.scenario} seed {s.seed}",
                              "gap_to_bound_pct": row.gap_to_bound_pct}
                             for s in sections if s.bound is not None
                             for row in s.table.itertuples() if row.verdict != "bound"])
        if len(gaps) and gaps["section"].nunique() > 1:  # a profile of one scenario says no more than its table
            profile = folder / "performance-profiles.png"
            plot_gap_profiles(gaps, path=profile)
            files.append(profile)
    combined = pd.concat([s.table.assign(suite=s.suite, scenario=s.scenario, seed=s.seed, bound=s.bound,
                                         bound_kind=s.bound_kind) for s in sections], ignore_index=True)
    front = ["suite", "scenario", "seed"]
    combined = combined[front + [c for c in combined.columns if c not in front]]
    csv = folder / "comparison.csv"
    combined.to_csv(csv, index=False)
    files.append(csv)
    solve_table, solve_records = _solve_table(results)
    solve_figures: list[Path] = []
    if solve_table is not None:
        solve_table.to_csv(folder / "solves.csv", index=False)
        files.append(folder / "solves.csv")
        if figures:
            solve_figures = _solution_figures(solve_records, folder)
            files += solve_figures

    doc = _Document(results.path)
    for section in sections:
        reference = section.table.attrs.get("reference", "")
        bound = "none" if section.bound is None else f"{_fmt(section.bound)} ({section.bound_kind})"
        doc.heading(f"{section.suite}: {section.scenario}, seed {section.seed}",
                    f"Reference: {reference}. Bound: {bound}.")
        doc.table(section.table)
        for figure in section.figures:
            doc.figure(figure)
    for path, title in sensitivity:
        doc.heading(title)
        doc.figure(path)
    if profile is not None:
        doc.heading("Performance profiles", "The share of scenarios on which each policy's mean cost is within "
                    "tau % of the scenario's best bound.")
        doc.figure(profile, "performance profiles")
    if solve_table is not None:
        doc.heading("Static instances")
        doc.table(solve_table)
        for figure in solve_figures:
            doc.figure(figure)
    md, page = doc.finish()
    for name, text in (("report.md", md), ("report.html", page)):
        (folder / name).write_text(text + "\n")
        files.append(folder / name)
    return Report(sections, files, solve_table)
