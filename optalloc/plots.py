"""Figures of evaluation results (matplotlib, headless-safe)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from optalloc.actions import ActionTable
from optalloc.tags import ScenarioTags

#: Tags of a scenario without currency or scale: costs plotted as they are.
_PLAIN = ScenarioTags(family="")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)  # no display needed; keeps an interactive backend if one is set
    import matplotlib.pyplot as plt

    return plt


_DASHES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))


def _line_styles(names: list[str]) -> dict[str, dict]:
    """One colour per policy, one dash pattern per training seed: ``ppo[seed 3]`` is ``ppo``'s colour, 4th dash."""
    import matplotlib as mpl

    colours = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    groups = list(dict.fromkeys(name.split("[", 1)[0] for name in names))
    styles, seen = {}, {}
    for name in names:
        group = name.split("[", 1)[0]
        k = seen[group] = seen.get(group, -1) + 1
        styles[name] = {"color": colours[groups.index(group) % len(colours)], "linestyle": _DASHES[k % len(_DASHES)]}
    return styles


def plot_cost_distributions(episodes: pd.DataFrame, title: str = "", path: str | Path | None = None,
                            tags: ScenarioTags = _PLAIN):
    """Box plots of total cost per episode, one box per policy (and bound).

    Parameters
    ----------
    episodes : DataFrame
        Columns ``policy`` and ``total_cost`` (one row per policy x episode).
    title : str
        Figure title.
    path : path, optional
        Save the figure there (PNG) and close it.
    tags : ScenarioTags, optional
        The scenario's tags: costs are shown in ``tags.cost_scale`` units of ``tags.cost_unit``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    names = list(dict.fromkeys(episodes["policy"]))
    data = [episodes.loc[episodes["policy"] == n, "total_cost"].to_numpy() / tags.cost_scale for n in names]
    fig, ax = plt.subplots(figsize=(1.4 * len(names) + 2, 4))
    ax.boxplot(data, showmeans=True, whis=(5, 95))
    ax.set_xticks(np.arange(1, len(names) + 1), names, rotation=20)
    ax.set_ylabel(f"total cost per episode ({tags.cost_label})")
    ax.set_title(title or "cost distribution (whiskers 5-95 %, triangle = mean)")
    ax.grid(axis="y", alpha=0.3)
    return _finish(fig, path)


def plot_epoch_actions(epochs: pd.DataFrame, table: ActionTable, tags: ScenarioTags = _PLAIN, title: str = "",
                       path: str | Path | None = None):
    """Mean count of each action component per epoch, one line per policy (one panel per component).

    Parameters
    ----------
    epochs : DataFrame
        Columns ``epoch, policy, component, mean`` (:meth:`Evaluation.epoch_actions`).
    table : ActionTable
        The scenario's action table: component names and what they do.
    tags : ScenarioTags, optional
        The scenario's tags: the epoch name labels the x axis.
    """
    plt = _pyplot()
    policies = list(dict.fromkeys(epochs["policy"]))
    components = list(table.components)
    fig, axes = plt.subplots(len(components), 1, squeeze=False, sharex=True,
                             figsize=(8.5 if len(policies) > 8 else 7, 1.0 + 3.0 * len(components)))
    styles = _line_styles(policies)
    for ax, component in zip(axes[:, 0], components):
        rows = epochs[epochs["component"] == component]
        for name in policies:
            line = rows[rows["policy"] == name]
            ax.plot(line["epoch"], line["mean"], marker="o", markersize=3, label=name, **styles[name])
        last = ax is axes[-1, 0]
        _finish(fig, None, ax, tags.epoch_name if last else "", f"mean {component} {table.verb}".strip(),
                title if ax is axes[0, 0] else "")
    if not title:
        axes[0, 0].set_title(f"decisions per {tags.epoch_name}")
    return _finish(fig, path)


def plot_learning_curves(curves: dict[str, pd.DataFrame], optimum: float | None = None, title: str = "",
                         path: str | Path | None = None, tags: ScenarioTags = _PLAIN):
    """Evaluation cost against environment steps, one line per run, with the exact optimum.

    Parameters
    ----------
    curves : dict of name to DataFrame
        Learning curves with columns ``env_steps`` and ``eval_cost`` (rows
        with NaN ``eval_cost`` are skipped).
    optimum : float, optional
        The exact optimal expected cost, drawn as a horizontal line.
    tags : ScenarioTags, optional
        The scenario's tags: costs are shown in ``tags.cost_scale`` units of ``tags.cost_unit``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5 if len(curves) > 8 else 7, 4))
    styles = _line_styles(list(curves))
    for name, curve in curves.items():
        rows = curve.dropna(subset=["eval_cost"])
        ax.plot(rows["env_steps"], rows["eval_cost"] / tags.cost_scale, marker="o", markersize=2, label=name, **styles[name])
    if optimum is not None:
        ax.axhline(optimum / tags.cost_scale, color="black", linestyle="--", label="exact optimum")
    low, high = ax.get_ylim()
    if low > 0 and high / low > 5:  # early policies can cost many times the optimum: keep the end readable
        ax.set_yscale("log")
    return _finish(fig, path, ax, "environment steps", f"cost on validation paths ({tags.cost_label})",
                   title or "learning curves")


def plot_gap_profiles(gaps: pd.DataFrame, title: str = "", path: str | Path | None = None):
    """Performance profiles against the bound: for each policy, the share of its scenarios within a gap.

    A Dolan--Moré profile measured against each scenario's best bound instead
    of the best policy: the curve of a policy passes through (tau, rho) when its
    mean cost is within tau % of the bound on a share rho of the scenarios it
    ran on (a family's own heuristic runs on that family's scenarios only); a
    curve that rises early and reaches 1 is a method close to the bound on all
    of them.

    Parameters
    ----------
    gaps : DataFrame
        Columns ``policy``, ``section`` (a scenario and seed) and ``gap_to_bound_pct`` [%].
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(dict.fromkeys(gaps["policy"]))
    styles = _line_styles(names)
    if len(names) > 10:  # more policies than the default colour cycle: twenty colours, then dashes
        import matplotlib as mpl

        palette = mpl.colormaps["tab20"].colors
        styles = {n: {"color": palette[i % 20], "linestyle": "-" if i < 20 else "--"} for i, n in enumerate(names)}
    finite = gaps["gap_to_bound_pct"].replace([np.inf, -np.inf], np.nan).dropna()
    top = max(1.0, float(finite.max()) * 2) if len(finite) else 100.0
    taus = np.logspace(-3, np.log10(top), 400)
    for name in names:
        values = gaps.loc[gaps["policy"] == name, "gap_to_bound_pct"].to_numpy(dtype=float)
        # A gap at or below zero (sampling noise around an exact optimum) counts as within every tau.
        share = [(np.nan_to_num(values, nan=np.inf) <= tau).mean() for tau in taus]
        ax.step(taus, share, where="post", label=f"{name} ({len(values)})", **styles[name])
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    return _finish(fig, path, ax, "gap to the bound tau [%]", "share of its scenarios within tau",
                   title or "performance profiles against the bound")


def plot_sensitivity(points: pd.DataFrame, parameter: str, title: str = "", path: str | Path | None = None,
                     tags: ScenarioTags = _PLAIN):
    """Mean cost with its 95 % CI against the value of a swept scenario parameter, one line per policy.

    Parameters
    ----------
    points : DataFrame
        Columns ``policy``, ``value`` (the parameter's value), ``mean_cost`` and ``ci95``.
    parameter : str
        The swept parameter (the x axis).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(dict.fromkeys(points["policy"]))
    styles = _line_styles(names)
    for name in names:
        line = points[points["policy"] == name].sort_values("value")
        ax.errorbar(line["value"], line["mean_cost"] / tags.cost_scale, yerr=line["ci95"] / tags.cost_scale,
                    marker="o", markersize=3, capsize=3, label=name, **styles[name])
    return _finish(fig, path, ax, parameter, f"mean cost ({tags.cost_label})",
                   title or f"sensitivity to {parameter} (same random futures at every value)")


def _finish(fig, path: str | Path | None, ax=None, xlabel: str = "", ylabel: str = "", title: str = ""):
    """Label and grid a line plot's axes (if ``ax`` is given), lay out, and save to ``path`` if given."""
    if ax is not None:
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if len(ax.get_legend_handles_labels()[1]) > 8:  # many runs: the legend goes beside the axes
            ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
        else:
            ax.legend(fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        _pyplot().close(fig)
    return fig
