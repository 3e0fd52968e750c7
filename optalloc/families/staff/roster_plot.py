"""A roster as files people read: a CSV table and a PNG chart (nurses x days, coloured by shift).

matplotlib is imported only when a chart is drawn, with the headless ``Agg``
backend unless an interactive one is already set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from optalloc.families.staff.roster_check import roster_table
from optalloc.families.staff.roster_data import OFF, RosterData

__all__ = ["plot_roster", "write_roster_files"]

#: Colour of a day off in the chart.
_OFF_COLOUR = "#f4f4f4"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)  # no display needed; keeps an interactive backend if one is set
    import matplotlib.pyplot as plt

    return plt


def plot_roster(data: RosterData, roster: np.ndarray, path: Path | None = None, title: str = ""):
    """Draw a roster: one row per nurse, one column per day, each cell coloured by its shift.

    Parameters
    ----------
    data : RosterData
        The instance.
    roster : ndarray of int, shape (N, D)
        Shift index per nurse and day, ``-1`` off.
    path : pathlib.Path, optional
        Save the figure there (PNG) and close it.
    title : str, optional
        Figure title; default the instance name.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (closed when saved).
    """
    plt = _pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch, Rectangle

    table = np.asarray(roster)
    n_n, n_d, n_k = data.n_nurses, data.days, data.n_shifts
    palette = plt.get_cmap("tab20" if n_k > 10 else "tab10")
    colours = [_OFF_COLOUR] + [palette(k % palette.N) for k in range(n_k)]
    width = min(40.0, 2.0 + 0.28 * n_d)
    height = min(40.0, 1.6 + 0.26 * n_n)
    fig, ax = plt.subplots(figsize=(width, height))
    ax.imshow(table + 1, cmap=ListedColormap(colours), vmin=-0.5, vmax=n_k + 0.5, aspect="auto",
              interpolation="nearest", zorder=1)
    # Each weekend (Saturday and Sunday) framed over the cells.
    for days in data.weekends:
        ax.add_patch(Rectangle((days[0] - 0.5, -0.5), len(days), n_n, fill=False, edgecolor="0.15",
                               linewidth=1.8, zorder=3))
    if n_n * n_d <= 2500:  # label the cells while they are large enough to read
        for n, d in zip(*np.nonzero(table != OFF)):
            ax.text(d, n, data.shift_ids[table[n, d]], ha="center", va="center", fontsize=7, zorder=2)
    ax.set_xticks(range(n_d))
    ax.set_xticklabels([f"{d}\n{'MTWTFSS'[d % 7]}" for d in range(n_d)], fontsize=7)
    ax.set_yticks(range(n_n))
    ax.set_yticklabels(data.nurse_ids, fontsize=7)
    ax.set_xlabel("day (day 0 a Monday; weekends framed)")
    for label, d in zip(ax.get_xticklabels(), range(n_d)):
        if d % 7 >= 5:
            label.set_fontweight("bold")
    ax.set_ylabel("nurse")
    ax.set_xticks(np.arange(-0.5, n_d), minor=True)
    ax.set_yticks(np.arange(-0.5, n_n), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    handles = [Patch(facecolor=colours[k + 1], label=f"shift {data.shift_ids[k]} ({int(data.shift_minutes[k])} min)")
               for k in range(n_k)]
    handles += [Patch(facecolor=_OFF_COLOUR, edgecolor="0.7", label="off"),
                Patch(fill=False, edgecolor="0.15", linewidth=1.8, label="weekend (Sat-Sun)")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_title(title or data.name)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def write_roster_files(data: RosterData, roster: np.ndarray, stem: Path, title: str = "") -> list[Path]:
    """Write ``stem.csv`` (nurses x days of shift ids, empty when off) and ``stem.png`` (:func:`plot_roster`).

    Parameters
    ----------
    data : RosterData
        The instance.
    roster : ndarray of int, shape (N, D)
        Shift index per nurse and day, ``-1`` off.
    stem : pathlib.Path
        Path without suffix; its folder must exist.
    title : str, optional
        Chart title.

    Returns
    -------
    list of pathlib.Path
        The CSV and the PNG.
    """
    stem = Path(stem)
    csv = stem.with_name(stem.name + ".csv")
    png = stem.with_name(stem.name + ".png")
    roster_table(data, roster).to_csv(csv)
    plot_roster(data, roster, png, title=title)
    return [csv, png]
