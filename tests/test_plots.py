"""Figures: files are written, and runs of one policy share its colour with distinct dashes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from optalloc.actions import ActionTable
from optalloc.plots import _line_styles, plot_epoch_actions, plot_learning_curves
from optalloc.tags import ScenarioTags


def test_seeds_of_a_policy_share_its_colour_and_differ_in_dashes():
    names = ["dp", "ppo[seed 0]", "ppo[seed 1]", "a2c[seed 0]", "ppo[seed 2]"]
    styles = _line_styles(names)
    ppo = [styles[n] for n in names if n.startswith("ppo")]
    assert len({s["color"] for s in ppo}) == 1
    assert len({str(s["linestyle"]) for s in ppo}) == 3
    assert len({styles[n]["color"] for n in ("dp", "ppo[seed 0]", "a2c[seed 0]")}) == 3


def test_figures_are_written_with_the_legend_beside_many_lines(tmp_path):
    epochs = pd.concat([pd.DataFrame({"epoch": np.arange(5), "policy": f"ppo[seed {k}]", "component": c,
                                      "mean": np.arange(5) % (k + 1)}) for k in range(10) for c in ("OP", "IP")])
    tags = ScenarioTags(family="toy", epoch_name="slot", cost_unit="EUR", cost_scale=1e6)
    fig = plot_epoch_actions(epochs, ActionTable(("OP", "IP"), np.array([[0, 0], [1, 0], [0, 1]]), "scanned"), tags,
                             path=tmp_path / "actions.png")
    assert (tmp_path / "actions.png").stat().st_size > 0
    assert [ax.get_ylabel() for ax in fig.axes] == ["mean OP scanned", "mean IP scanned"]
    assert fig.axes[1].get_xlabel() == "slot"
    legend = fig.axes[0].get_legend()
    assert len(legend.get_texts()) == 10
    curves = {"ppo[seed 0]": pd.DataFrame({"env_steps": [0, 10, 20], "eval_cost": [3e8, np.nan, 1.6e8]})}
    fig = plot_learning_curves(curves, optimum=1.55e8, path=tmp_path / "curves.png", tags=tags)
    line = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), [300.0, 160.0])  # NaN rows skipped, in millions
    assert fig.axes[0].get_ylabel() == "cost on validation paths (million EUR)"
    assert (tmp_path / "curves.png").stat().st_size > 0
