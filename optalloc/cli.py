"""The ``optalloc`` command line.

User mistakes (unknown ids, bad parameters, malformed suite files, unreadable
saved policies) print one line ``optalloc: error: ...`` and exit with code 2.

Each command imports what it needs when it runs, so that ``optalloc --help``,
``--version`` and ``list`` answer without loading numpy, pandas or scipy.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optalloc.checks import check_output_path
from optalloc.exceptions import ConfigurationError, OptallocError

if TYPE_CHECKING:
    import pandas as pd

    from optalloc.kpis import KPISpec

EPILOG = """examples:
  optalloc list
  optalloc describe beds/stochastic-v0
  optalloc describe ppo
  optalloc evaluate --scenario beds/seed002-v0 --policy dp --policy rigid --episodes 200 --seed 0
  optalloc evaluate --scenario beds/stochastic-v0 --policy dp --policy rigid:k=8 --set surge_probability=0.2
  optalloc fit --scenario beds/stochastic-v0 --policy dp --out dp.zip
  optalloc evaluate --scenario beds/stochastic-v0 --load dp.zip --policy rigid
  optalloc bench run benchmarks/suites/beds/beds.toml
  optalloc simulate --scenario scanners/gocgun-v0 --policy dp --days 5
  optalloc solve FAMILY INSTANCE --time-limit 60 --json      (a static instance: an id or a JSON file)
  optalloc solve staff instance8 --time-limit 120 --set seed=3
"""


def _parse_value(text: str) -> Any:
    """``"8"`` -> 8, ``"0.5"`` -> 0.5, ``"none"`` -> None, anything else stays a string."""
    if text.lower() in {"none", "null"}:
        return None
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    if text.lower().lstrip("+-") in {"inf", "infinity", "nan"}:
        return float(text)  # a number, so that the check says "must be a finite number"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _parse_assignments(items: Sequence[str], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigurationError(f"The {what} {item!r} must look like key=value.")
        if key in out:
            raise ConfigurationError(f"The {what} {key!r} is given twice ({key}={out[key]!r} and {item.strip()}); "
                                     "give each key once.")
        out[key] = _parse_value(value.strip())
    return out


def _parse_policy(text: str) -> tuple[str, str, dict[str, Any]]:
    """``"rigid:k=8,train_episodes=50"`` -> (name, id, params)."""
    policy_id, _, rest = text.partition(":")
    params = _parse_assignments([p for p in rest.split(",") if p], "policy parameter") if rest else {}
    name = policy_id if not params else text
    return name, policy_id, params


def _money_at(x: float, decimals: int = 0) -> str:
    import pandas as pd

    return "" if pd.isna(x) else f"{x:,.{decimals}f}"


def cost_decimals(values: Any) -> int:
    """Decimals that show costs of this size to about five significant digits: 0 from 10,000 up.

    Whole currency units for large costs (taka), three decimals for costs of
    tens (a scanner day's revenue units).
    """
    import numpy as np

    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if not len(finite):
        return 0
    return int(np.clip(4 - np.floor(np.log10(finite.max())), 0, 6))


#: Summary columns that are not KPIs (see optalloc.evaluation.summarise and the bench's additions).
_SUMMARY_COLUMNS = {"scenario", "seed", "policy", "method", "role", "mean_cost", "ci95", "diff_ci95",
                    "gap_to_bound_pct", "fit_s", "act_s", "train_steps", "fitted_on", "bound", "bound_kind"}


def format_summary(summary: pd.DataFrame, kpis: Mapping[str, KPISpec] | None = None, cost_unit: str = "") -> str:
    """A readable table of an evaluation summary.

    Parameters
    ----------
    summary : DataFrame
        :attr:`Evaluation.summary` (or rows of a suite's summary).
    kpis : mapping of str to KPISpec, optional
        The scenario's :meth:`~optalloc.scenario.Scenario.kpi_specs`; a KPI
        column without a spec is shown with one decimal.
    cost_unit : str
        Currency of the costs, shown in the header.
    """
    import pandas as pd

    kpis = kpis or {}
    digits = cost_decimals(summary["mean_cost"])

    def money(x: float) -> str:
        return _money_at(x, digits)

    diff_col = next((c for c in summary.columns if c.startswith("diff_vs_")), None)
    table = pd.DataFrame({"policy": summary["policy"], "role": summary["role"]})
    if "scenario" in summary:
        table.insert(0, "scenario", summary["scenario"])
        table.insert(1, "seed", summary["seed"])
    table[f"mean cost ({cost_unit})" if cost_unit else "mean cost"] = summary["mean_cost"].map(money)
    table["± 95% CI"] = summary["ci95"].map(money)
    if diff_col:
        table[diff_col.replace("_", " ")] = summary[diff_col].map(money)
        table["± CI"] = summary["diff_ci95"].map(money)
    table["gap to bound %"] = summary["gap_to_bound_pct"].map(lambda g: "" if pd.isna(g) else f"{g:.3f}")
    # KPI columns: those the scenario has (another family's KPIs in a mixed suite are blank here).
    for kpi in [c for c in summary.columns if c not in _SUMMARY_COLUMNS and not c.startswith("diff_vs_")
                and summary[c].notna().any()]:
        fmt = kpis[kpi].fmt if kpi in kpis else "{:,.1f}"
        table[kpi.replace("_", " ")] = summary[kpi].map(lambda v, fmt=fmt: "" if pd.isna(v) else fmt.format(v))
    table["fit s"] = summary["fit_s"].map(lambda v: f"{v:.2f}")
    if "train_steps" in summary and summary["train_steps"].notna().any():
        table["train steps"] = summary["train_steps"].map(lambda v: "" if pd.isna(v) else f"{v:,.0f}")
    table["act s"] = summary["act_s"].map(lambda v: f"{v:.2f}")
    return table.to_string(index=False)


def _print_frame(summary: pd.DataFrame, as_json: bool, bound: str = "", scenario: Any = None) -> None:
    if as_json:
        print(summary.to_json(orient="records", indent=2))
    else:
        print(format_summary(summary, scenario.kpi_specs(), scenario.tags.cost_unit))
        if bound:
            print(bound)


def _output_path(given: str | None, default: Path, what: str) -> Path:
    """The output file, checked before any work: ``given`` as it is, or ``default`` (its folder is created)."""
    if given:
        return check_output_path(given, what)
    folder = default.parent
    if not folder.exists() and folder.parent.is_dir() and os.access(folder.parent, os.W_OK):
        folder.mkdir()
    return check_output_path(default, f"default {what}")


# ---------------------------------------------------------------- commands
def cmd_list(args: argparse.Namespace) -> int:
    from optalloc.registry import INSTANCE_TYPES, list_instances, list_policies, list_scenarios

    scenarios = [{"id": s.id, "description": s.description} for s in list_scenarios()]
    policies = [{"id": p.id, "description": p.description} for p in list_policies()]
    instances = [{"id": i.id, "description": i.description} for i in list_instances()]
    if args.json:
        print(json.dumps({"scenarios": scenarios, "policies": policies, "instances": instances,
                          "instance_types": sorted(INSTANCE_TYPES)}, indent=2))
        return 0
    print("scenarios:")
    for s in scenarios:
        print(f"  {s['id']:<22} {s['description']}")
    print("policies:")
    for p in policies:
        print(f"  {p['id']:<22} {p['description']}")
    if instances or INSTANCE_TYPES:
        print("static instances (optalloc solve FAMILY INSTANCE):")
        for i in instances:
            print(f"  {i['id']:<22} {i['description']}")
        if INSTANCE_TYPES:
            print(f"  instance file types: {', '.join(sorted(INSTANCE_TYPES))}")
    print("\nparameters and their meaning: optalloc describe ID")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from optalloc.evaluation import check_episodes, evaluate
    from optalloc.io import load_policy
    from optalloc.registry import make_policy, make_scenario

    if args.csv:
        check_output_path(args.csv, "--csv file")
    check_episodes(args.episodes)
    scenario = make_scenario(args.scenario, **_parse_assignments(args.set, "scenario override"))
    policies: dict[str, Any] = {}
    given: dict[str, str] = {}  # display name -> the option that gave it, to name both sides of a clash

    def add(name: str, policy: Any, option: str) -> None:
        if name in policies:
            raise ConfigurationError(
                f"Two evaluated policies would both be named {name!r} ({given[name]} and {option}); each policy "
                "needs its own row: drop the repeat, or rename the saved file."
            )
        policies[name], given[name] = policy, option

    for text in args.policy:
        name, policy_id, params = _parse_policy(text)
        add(name, make_policy(policy_id, **params), f"--policy {text}")
    for path in args.load:
        add(Path(path).stem, load_policy(path), f"--load {path}")
    if not policies:
        raise ConfigurationError("Give at least one --policy ID (see 'optalloc list') or --load FILE.")
    result = evaluate(policies, scenario, args.episodes, args.seed, reference=args.reference,
                      progress=not args.no_progress and not args.json)
    if args.csv:
        result.episodes.to_csv(args.csv, index=False)
    digits = cost_decimals(result.summary["mean_cost"])
    bound = f"bound: {result.bound_kind} = {_money_at(result.bound, digits)}" if result.bound is not None \
        else "bound: none available"
    _print_frame(result.summary.assign(bound=result.bound, bound_kind=result.bound_kind), args.json, bound, scenario)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import pandas as pd

    from optalloc.evaluation import check_episodes
    from optalloc.io import load_policy
    from optalloc.registry import make_policy, make_scenario
    from optalloc.simulate import simulate

    if args.csv:
        check_output_path(args.csv, "--csv file")
    check_episodes(args.episodes)
    if (args.policy is None) == (args.load is None):
        raise ConfigurationError("Give one policy: --policy ID (see 'optalloc list') or --load FILE.")
    scenario = make_scenario(args.scenario, **_parse_assignments(args.set, "scenario override"))
    if args.load:
        policy = load_policy(args.load)
    else:
        name, policy_id, params = _parse_policy(args.policy)
        policy = make_policy(policy_id, **params)
        policy.policy_id = name
    if not policy.is_fitted():
        policy.fit(scenario, seed=args.seed)
    result = simulate(policy, scenario, args.episodes, args.seed)
    if args.csv:
        result.trace.to_csv(args.csv, index=False)
    if args.json:
        print(json.dumps({"trace": json.loads(result.trace.to_json(orient="records")),
                          "totals": json.loads(result.totals.to_json(orient="records"))}, indent=2))
        return 0
    specs, tags = scenario.kpi_specs(), scenario.tags
    unit = f" ({tags.cost_unit})" if tags.cost_unit else ""
    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.float_format", "{:,.3f}".format):
        for i in range(args.episodes):
            print(f"{tags.episode_name} {i + 1} of {args.episodes}: {policy.name} on {scenario.id} (seed {args.seed})")
            print(result.episode(i).to_string(index=False))
            row = result.totals.iloc[i]
            kpis = ", ".join(f"{spec.description} {spec.format(row[k])}" for k, spec in specs.items() if k in row)
            print(f"  total cost{unit} {row['total_cost']:,.3f}" + (f"; {kpis}" if kpis else "") + "\n")
    means = result.totals.drop(columns="episode").mean()
    print(f"mean over {args.episodes} {tags.episode_name}s: total cost{unit} {means['total_cost']:,.3f}; "
          + ", ".join(f"{spec.description} {spec.format(means[k])}" for k, spec in specs.items() if k in means))
    return 0


def cmd_bench_run(args: argparse.Namespace) -> int:
    from optalloc.bench import SuiteInterrupted, load_suite, run_suite, run_to_halfwidth
    from optalloc.evaluation import check_episodes
    from optalloc.registry import make_scenario

    if args.episodes is not None:
        check_episodes(args.episodes)
    suite = load_suite(args.suite)
    out = _output_path(args.out, Path("results") / f"{suite.name}.csv", "--out file")
    # The results store, beside the output by default: a re-run of the same command loads its cells.
    store = out.with_suffix(".db") if args.store is None else check_output_path(args.store, "--store file")
    start = time.perf_counter()
    try:
        options = dict(workers=args.workers, progress=not args.no_progress and not args.json, store=store,
                       fresh=args.fresh, executor=args.executor, address=args.address)
        rounds = None
        if args.target_halfwidth is not None:
            result, rounds = run_to_halfwidth(suite, args.target_halfwidth, max_episodes=args.max_episodes,
                                              episodes=args.episodes, **options)
        else:
            result = run_suite(suite, episodes=args.episodes, **options)
    except SuiteInterrupted as stop:
        again = "re-run without --fresh to resume" if args.fresh else "re-run the same command to resume"
        print(f"optalloc: interrupted; {stop.kept} of {stop.total} cells finished and kept in {store}; {again}",
              file=sys.stderr)
        return 130
    elapsed = time.perf_counter() - start
    # The cells the policies' tags let into the grid, and the static solve cells.
    n_cells = len(result.records) + len(result.failures) + (0 if result.solves is None else len(result.solves))
    for row in result.failures.itertuples(index=False):
        first = str(row.error).splitlines()[0] if row.error else ""
        print(f"optalloc: cell {row.scenario} seed {row.seed} {row.policy} failed ({row.status}): {first}; "
              f"its traceback is in {store} (table cells); a re-run computes it again", file=sys.stderr)
    if result.resumed:
        print(f"resumed {result.resumed} of {n_cells} cells from {store}", file=sys.stderr if args.json else sys.stdout)
    written = [out, out.with_name(out.stem + "-episodes.csv"), out.with_name(out.stem + "-epochs.csv")]
    result.summary.to_csv(written[0], index=False)
    result.episodes.to_csv(written[1], index=False)
    result.epochs.to_csv(written[2], index=False)
    written.append(out.with_name(out.stem + "-records.csv"))  # the fixed-schema rows, one per cell
    result.records.to_csv(written[-1], index=False)
    if len(result.curves):
        written.append(out.with_name(out.stem + "-learning-curves.csv"))
        result.curves.to_csv(written[-1], index=False)
    if result.solves is not None and len(result.solves):
        written.append(out.with_name(out.stem + "-solves.csv"))  # one SolveRecord per static solve cell
        result.solves.to_csv(written[-1], index=False)
    scenarios = {sc.label: make_scenario(sc.id, **sc.overrides) for sc in suite.scenarios}  # units, KPIs, actions
    if not args.no_plots:
        written += _suite_plots(result, out, scenarios)
    if args.json:
        print(result.summary.to_json(orient="records", indent=2))
        return 0
    print(f"suite {suite.name}: {len(suite.scenarios)} scenario(s) x {len(suite.seeds)} seed(s) x "
          f"{len(suite.policies)} policies, {args.episodes or suite.episodes} episodes each, {elapsed:.1f} s")
    for (scenario_id, seed), frame in result.summary.groupby(["scenario", "seed"], sort=False):
        bound = _money_at(frame["bound"].iloc[0], cost_decimals(frame["mean_cost"]))
        print(f"\n{scenario_id} (seed {seed}); bound: {frame['bound_kind'].iloc[0]} = {bound}")
        scenario = scenarios[scenario_id]
        print(format_summary(frame.drop(columns=["scenario", "seed"]), scenario.kpi_specs(),
                             scenario.tags.cost_unit))
    if result.solves is not None and len(result.solves):
        print("\nstatic instances")
        print(format_solve_table(result.solves))
    if rounds is not None:
        last = rounds.groupby("scenario", sort=False).tail(1)
        print(f"\nepisodes needed for a paired-difference CI half-width of at most {args.target_halfwidth:g} "
              f"({rounds['round'].max() + 1} round(s)):")
        print(last[["scenario", "episodes", "halfwidth", "met"]].to_string(index=False))
        written.append(out.with_name(out.stem + "-halfwidth-rounds.csv"))
        rounds.to_csv(written[-1], index=False)
    print("\nwrote " + ", ".join(str(p) for p in written))
    return 0


def format_solve_table(solves: Any) -> str:
    """The solve cells of a suite, one line each: instance, status, objective, bound, gaps, seconds."""
    columns = [c for c in ("instance", "status", "objective", "bound", "gap_pct", "best_known", "gap_to_best_known_pct",
                           "seconds") if c in solves.columns]
    return solves[columns].to_string(index=False)


def cmd_bench_report(args: argparse.Namespace) -> int:
    from optalloc.report import formatted, write_report

    store = Path(args.store)
    out = Path(args.out) if args.out else store.with_name(store.stem + "-report")
    report = write_report(store, out, figures=not args.no_plots)
    from optalloc.store import ResultStore

    # Every table of the store beside the report, for other tools.
    report.files += ResultStore(store).export(out / "tables", fmt="parquet" if args.parquet else "csv")
    for section in report.sections:
        print(f"\n{section.suite}: {section.scenario} (seed {section.seed}); bound: "
              f"{'none' if section.bound is None else f'{section.bound:,.6g}'} ({section.bound_kind})")
        print(formatted(section.table).to_string(index=False))
    if report.solves is not None:
        print("\nstatic instances")
        print(format_solve_table(report.solves))
    print("\nwrote " + ", ".join(str(p) for p in report.files))
    return 0


def _suite_plots(result: Any, out: Path, scenarios: Mapping[str, Any]) -> list[Path]:
    """Cost distributions and decisions per epoch of every (scenario, seed), as PNGs beside ``out``."""
    from optalloc.plots import plot_cost_distributions, plot_epoch_actions, plot_learning_curves

    paths = []
    for (scenario_id, seed), frame in result.episodes.groupby(["scenario", "seed"], sort=False):
        scenario = scenarios[scenario_id]
        tags = scenario.tags
        tag = f"{out.stem}-{re.sub(r'[^A-Za-z0-9.-]+', '_', scenario_id).strip('_')}-seed{seed}"
        costs = out.with_name(f"{tag}-costs.png")
        plot_cost_distributions(frame, f"{scenario_id}, seed {seed}: total cost per episode", costs, tags)
        epochs = result.epochs[(result.epochs["scenario"] == scenario_id) & (result.epochs["seed"] == seed)]
        actions = out.with_name(f"{tag}-actions.png")
        plot_epoch_actions(epochs, scenario.action_table(), tags,
                           f"{scenario_id}, seed {seed}: decisions per {tags.epoch_name}", actions)
        paths += [costs, actions]
        curves = result.curves[(result.curves["scenario"] == scenario_id) & (result.curves["seed"] == seed)]
        if len(curves):
            row = result.summary[(result.summary["scenario"] == scenario_id) & (result.summary["seed"] == seed)]
            exact = row["bound_kind"].iloc[0].startswith("exact")
            learning = out.with_name(f"{tag}-learning.png")
            plot_learning_curves({name: c for name, c in curves.groupby("policy", sort=False)},
                                 row["bound"].iloc[0] if exact else None,
                                 f"{scenario_id}: cost on evaluation paths while training", learning, tags)
            paths.append(learning)
    return paths


def cmd_fit(args: argparse.Namespace) -> int:
    from optalloc.io import save_policy
    from optalloc.registry import make_policy, make_scenario

    scenario = make_scenario(args.scenario, **_parse_assignments(args.set, "scenario override"))
    _, policy_id, params = _parse_policy(args.policy)
    policy = make_policy(policy_id, **params)
    policy.validate_params()
    out = _output_path(args.out, Path("results") / f"{policy_id}-{scenario.id.replace('/', '_')}-seed{args.seed}.zip",
                       "--out file")
    start = time.perf_counter()
    with policy.fit_progress(not args.json):
        policy.fit(scenario, seed=args.seed)
    seconds = time.perf_counter() - start
    written = [save_policy(policy, out)]
    curve = getattr(policy, "learning_curve_", None)
    if curve is not None:
        from optalloc.plots import plot_learning_curves

        written.append(out.with_suffix(".learning-curve.csv"))
        curve.to_csv(written[-1], index=False)
        written.append(out.with_suffix(".learning-curve.png"))
        plot_learning_curves({f"{policy_id} seed {args.seed}": curve}, getattr(policy, "optimum_", None),
                             f"{policy_id} on {scenario.id}", written[-1])
    report = {"policy": policy_id, "params": policy.get_params(), "scenario": scenario.spec(), "seed": args.seed,
              "fit_seconds": round(seconds, 3), "files": [str(p) for p in written]}
    optimum = getattr(policy, "expected_cost_", None)
    if optimum is not None:
        report["expected_cost"] = optimum
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"fitted {policy_id} on {scenario.id} (seed {args.seed}) in {seconds:.2f} s")
        if optimum is not None:
            print(f"optimal expected cost: {_money_at(optimum, cost_decimals([optimum]))}")
        print("wrote " + ", ".join(report["files"]))
    return 0


def _figure(value: float | None, fmt: str = ",.10g", unit: str = "") -> str:
    return "-" if value is None else format(value, fmt) + unit


def format_solve_record(record: Any) -> str:
    """A readable listing of a :class:`~optalloc.records.SolveRecord`, one field a line."""
    unit = f" {record.objective_unit}" if record.objective_unit else ""
    limit = "none" if record.time_limit is None else f"{record.time_limit:g} s"
    asked = "default" if record.mip_rel_gap is None else f"{record.mip_rel_gap:g}"
    solution = record.solution or "-"
    if len(solution) > 200:
        solution = f"{solution[:200]}... ({len(record.solution):,} characters in full: --json or --out)"
    rows = [
        ("instance", f"{record.instance} (family {record.family})"),
        ("status", f"{record.status} (solver termination {record.termination})"),
        ("objective", f"{_figure(record.objective, unit=unit)} ({record.sense})"),
        ("checked objective", f"{_figure(record.checked_objective, unit=unit)} (the solution scored from the data alone)"),
        ("bound", _figure(record.bound, unit=unit)),
        ("gap %", _figure(record.gap_pct, ".4g")),
        ("best known", _figure(record.best_known, unit=unit)),
        ("gap to best known %", _figure(record.gap_to_best_known_pct, ".4g")),
        ("seconds", f"{record.seconds:.3f} (time limit {limit}, MIP gap {asked})"),
        ("solver", f"{record.solver} ({record.method})"),
        ("solution", solution),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def cmd_solve(args: argparse.Namespace) -> int:
    """Solve a static instance once; exit code 0 with a solution, 1 without one (the record says why)."""
    from optalloc.instances import Instance, check_solve_limits, make_instance

    out = check_output_path(args.out, "--out file") if args.out else None
    time_limit, gap = check_solve_limits("optalloc solve", args.time_limit, args.gap, names=("--time-limit", "--gap"))
    instance = make_instance(args.instance, family=args.family, **_parse_assignments(args.set, "instance override"))
    # Checked before the solve, and only for a family that writes its solutions (no empty results/ otherwise).
    writes = type(instance).write_solution is not Instance.write_solution
    stem = _output_path(args.save, Path("results") / instance.id.replace("/", "_"), "--save stem") if writes else None
    record = instance.solve(time_limit=time_limit, mip_rel_gap=gap)
    text = record.to_json()
    written = [out] if out is not None else []
    if out is not None:
        out.write_text(text + "\n")
    if record.solution and stem is not None:
        written += instance.write_solution(json.loads(record.solution), stem)
    print(text if args.json else format_solve_record(record))
    if not args.json:
        for path in written:
            print(f"wrote {path}")
    return 0 if record.has_solution else 1


def cmd_describe(args: argparse.Namespace) -> int:
    """Print the parameters of a scenario or the hyperparameters of a policy, with defaults and meanings."""
    from optalloc.describe import describe, describe_tags, format_table, format_tags
    from optalloc.registry import instance_spec, policy_spec, scenario_spec

    kind, table = describe(args.id)
    spec = {"scenario": scenario_spec, "policy": policy_spec, "instance": instance_spec}[kind](args.id)
    tags = describe_tags(args.id)
    if args.json:
        report = {"id": args.id, "kind": kind, "description": spec.description, "tags": tags,
                  "parameters": table.to_dict(orient="records")}
        print(json.dumps(report, indent=2, default=str))
        return 0
    print(f"{kind} {args.id}: {spec.description}")
    print(format_tags(tags) + "\n")
    if kind == "scenario":
        print("(value: this preset's; change one with --set NAME=VALUE)\n")
    elif kind == "instance":
        family, name = args.id.split("/", 1)
        print(f"(value: the registered one; change one with optalloc solve {family} {name} --set NAME=VALUE)\n")
    else:
        print(f"(set one with --policy {args.id}:NAME=VALUE)\n")
    print(format_table(table))
    return 0


# ---------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """argparse with the one-line error style of the rest of the CLI."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``optalloc`` command."""
    parser = _Parser(
        prog="optalloc",
        description="Compare dynamic programming, mathematical programming, heuristics and RL on "
                    "healthcare allocation problems, on the same random futures.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from optalloc import __version__

    parser.add_argument("--version", action="version", version=f"optalloc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list registered scenarios and policies")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "describe",
        help="show the parameters of a scenario, a policy or a static instance",
        description="Print every parameter of a scenario (its value in this preset, its default, its meaning and "
                    "unit), every hyperparameter of a policy (its default and meaning) or every parameter of a "
                    "static instance (its registered value, its default and meaning, and what its data holds), "
                    "as documented in the code.",
    )
    p.add_argument("id", metavar="ID", help="scenario id (e.g. beds/stochastic-v0), policy id (e.g. ppo) or "
                                            "static instance id (e.g. staff/instance8); see 'optalloc list'")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser(
        "evaluate",
        help="evaluate policies on one scenario and print the comparison",
        description="Fit each policy (training paths use a separate random stream), run all of them on the "
                    "same --episodes noise paths, and print mean cost ± 95% CI, the paired difference to the "
                    "reference policy and the gap to the best available bound (exact DP optimum, else hindsight).",
    )
    p.add_argument("--scenario", required=True, help="scenario id, e.g. beds/seed002-v0 (see 'optalloc list')")
    p.add_argument("--policy", action="append", default=[], metavar="ID[:k=v,...]",
                   help="policy id with optional hyperparameters, e.g. rigid:k=8; repeat for several")
    p.add_argument("--load", action="append", default=[], metavar="FILE", help="a saved policy (.zip); repeatable")
    p.add_argument("--episodes", type=int, default=200, help="evaluation paths (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation paths and of fitting (default 0)")
    p.add_argument("--reference", help="policy for paired differences (default dp if present, else the first)")
    p.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                   help="scenario parameter override, e.g. --set horizon=10; repeatable")
    p.add_argument("--csv", metavar="FILE", help="write the per-episode results to FILE")
    p.add_argument("--json", action="store_true", help="print the summary as JSON records")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (they show on a terminal only)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "simulate",
        help="trace a policy epoch by epoch on a few episodes",
        description="Fit a policy (or load a saved one) and run it on a few evaluation paths, printing every "
                    "epoch: what the policy observed, what it decided, the stage cost, and each episode's totals "
                    "and KPIs. For the scanner family an episode is a working day and an epoch a half-hour slot; "
                    "for the bed family an episode is a planning horizon and an epoch a year.",
        epilog="example: optalloc simulate --scenario scanners/gocgun-v0 --policy dp --days 5",
    )
    p.add_argument("--scenario", required=True, help="scenario id, e.g. scanners/gocgun-v0 (see 'optalloc list')")
    p.add_argument("--policy", metavar="ID[:k=v,...]", help="policy id with optional hyperparameters, e.g. dp")
    p.add_argument("--load", metavar="FILE", help="a saved policy (.zip) instead of --policy")
    p.add_argument("--episodes", "--days", dest="episodes", type=int, default=5,
                   help="episodes to trace (default 5; --days is the same option)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the paths and of fitting (default 0); episode i is episode i of 'optalloc "
                        "evaluate' with the same seed")
    p.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                   help="scenario parameter override, e.g. --set scanners=1; repeatable")
    p.add_argument("--csv", metavar="FILE", help="write the full trace (every observation and info entry) to FILE")
    p.add_argument("--json", action="store_true", help="print the trace and totals as JSON")
    p.set_defaults(func=cmd_simulate)

    for name, verb in (("fit", "fit (DP, MILP, heuristics)"), ("train", "train (RL, grid-searched heuristics)")):
        p = sub.add_parser(
            name,
            help=f"{verb} one policy on one scenario and save it",
            description=f"{verb.capitalize()} a policy on a scenario and save it as a zip (JSON manifest + arrays, "
                        "no pickle) that 'optalloc evaluate --load FILE' reads. 'fit' and 'train' do the same "
                        "thing: fit the policy.",
        )
        p.add_argument("--scenario", required=True, help="scenario id, e.g. beds/seed002-v0")
        p.add_argument("--policy", required=True, metavar="ID[:k=v,...]", help="policy id with hyperparameters")
        p.add_argument("--seed", type=int, default=0, help="seed of fitting (default 0)")
        p.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                       help="scenario parameter override; repeatable")
        p.add_argument("--out", metavar="FILE", help="output zip (default results/<policy>-<scenario>-seed<seed>.zip)")
        p.add_argument("--json", action="store_true", help="print a JSON report")
        p.set_defaults(func=cmd_fit)

    p = sub.add_parser(
        "solve",
        help="solve a static instance (one MIP) and print its record",
        description="Solve one static instance of a problem family (a problem that is one solve, such as a "
                    "published benchmark instance) and print its record: status, objective, the solution scored "
                    "again from the data alone, bound, relative gap, seconds, and the gap to the best-known value.",
        epilog="Exit code 0 when the solve returned a solution (optimal, or feasible at a limit), 1 when it did not "
               "(infeasible, unbounded, or a limit reached before any solution: the record's status says which), "
               "2 for a mistake in the command (nothing is written then).",
    )
    p.add_argument("family", metavar="FAMILY", help="problem family of the instance (see 'optalloc list')")
    p.add_argument("instance", metavar="INSTANCE",
                   help="a registered instance id (see 'optalloc list'), the id without its 'FAMILY/' prefix, "
                        "or a JSON instance file ({\"type\": ..., \"data\": {...}})")
    p.add_argument("--time-limit", type=float, metavar="S", help="wall-clock limit of the solve in seconds (default none)")
    p.add_argument("--gap", type=float, metavar="G",
                   help="relative MIP gap at which to stop, a fraction (0.01 = 1 %%; default the solver's, 1e-4)")
    p.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                   help="instance parameter override of a registered id, e.g. --set seed=3 (the search's seed) or "
                        "--set method=mip (the plain model) for a staff instance; an unknown name is refused with "
                        "the known ones; repeatable")
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    p.add_argument("--out", metavar="FILE.json", help="also write the record (with the solution) to FILE.json")
    p.add_argument("--save", metavar="STEM",
                   help="where the family writes the solution as tables and charts, if it does (STEM.csv, STEM.png; "
                        "default results/<family>_<instance>)")
    p.set_defaults(func=cmd_solve)

    bench = sub.add_parser("bench", help="benchmark suites (TOML files)")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True, parser_class=_Parser)
    p = bench_sub.add_parser(
        "run",
        help="run a suite and print its comparison table",
        description="Run every scenario x seed x policy cell of a suite file on a process pool; all policies of a "
                    "scenario and seed see the same noise paths. Prints mean cost ± 95% CI, paired differences to "
                    "the reference and the gap to the best bound; writes the summary CSV and a per-episode CSV.",
        epilog="Each cell is committed to an SQLite results store (--store; default beside the summary CSV, "
               "<out stem>.db, e.g. results/beds.db) as soon as it finishes, with the run's manifest (versions, "
               "hardware, git revision, seeds). A re-run of the same command loads the stored cells computed by "
               "the same code instead of computing them, so a run stopped with Ctrl-C or killed resumes where it "
               "stopped and prints the same numbers; a code change recomputes only the cells whose code it "
               "touched. A cell that fails is stored with its error and the others run on. --fresh empties "
               "the store's cells first; delete the file to reclaim its space.",
    )
    p.add_argument("suite", help="suite file, e.g. benchmarks/suites/beds/beds.toml")
    p.add_argument("--episodes", type=int, help="override the suite's episodes per cell")
    p.add_argument("--out", metavar="FILE", help="summary CSV (default results/<suite name>.csv)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes (default: one per CPU core); results do not depend on it")
    p.add_argument("--json", action="store_true", help="print the summary as JSON records")
    p.add_argument("--no-plots", action="store_true", help="do not write the PNG figures")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (they show on a terminal only)")
    p.add_argument("--target-halfwidth", type=float, metavar="X",
                   help="add episodes (doubling a scenario's count each round) until every paired difference to "
                        "the reference has a 95%% CI half-width of at most X, in the scenario's cost unit")
    p.add_argument("--max-episodes", type=int, metavar="N",
                   help="cap on a scenario's episodes under --target-halfwidth (default 16x its starting count)")
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="where the cells run: local worker processes (default), or a Dask distributed cluster "
                        "(--address; without one, a local Dask cluster of --workers processes)")
    p.add_argument("--address", metavar="URL",
                   help="the Dask scheduler of --executor dask, e.g. tcp://host:8786")
    p.add_argument("--store", metavar="FILE",
                   help="SQLite results store (default: the summary CSV's path with .db, results/<suite name>.db)")
    p.add_argument("--fresh", action="store_true",
                   help="compute every cell anew: empty the results store's cells first (see below)")
    p.set_defaults(func=cmd_bench_run)
    p = bench_sub.add_parser(
        "report",
        help="write the report of a results store (Markdown, HTML, CSV, figures)",
        description="Tabulate every suite, scenario and seed of a results store: mean cost ± 95% CI, the paired "
                    "difference to the reference with its CI, the variance common random numbers saved, "
                    "Holm-adjusted paired t-tests ('not distinguishable' when the adjusted p >= 0.05), the gap "
                    "to the best bound (certified for an exact DP optimum or an ALP lower bound, estimated for a "
                    "hindsight mean), fit, solve and act seconds and each cell's status. Writes report.md, a "
                    "self-contained report.html, comparison.csv and PNG figures.",
    )
    p.add_argument("store", help="results store of 'bench run', e.g. results/beds.db")
    p.add_argument("--out", metavar="DIR", help="report folder (default: <store stem>-report beside the store)")
    p.add_argument("--no-plots", action="store_true", help="do not draw the figures")
    p.add_argument("--parquet", action="store_true",
                   help="export the store's tables (runs, cells, episodes, decisions, solves) to <out>/tables/ as "
                        "Parquet (needs pyarrow) instead of CSV")
    p.set_defaults(func=cmd_bench_report)
    return parser


@contextlib.contextmanager
def _warnings_as_notes() -> Iterator[None]:
    """Print optalloc's own warnings as one line ``optalloc: note: ...`` (no file name, no source line)."""
    from optalloc.exceptions import OptallocWarning

    with warnings.catch_warnings():  # restores the filters and showwarning on exit
        warnings.simplefilter("always", OptallocWarning)
        previous = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, OptallocWarning):
                print(f"optalloc: note: {message}", file=sys.stderr)
            else:
                previous(message, category, *args, **kwargs)

        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``optalloc`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _warnings_as_notes():
            return int(args.func(args))
    except OptallocError as exc:
        print(f"optalloc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("optalloc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`optalloc list | head`): stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
