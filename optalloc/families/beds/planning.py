"""Planning on a population forecast instead of the scenario's own population model.

A planner given ``forecaster="exponential"`` (any id of
:data:`optalloc.families.beds.forecast.FORECASTERS`) fits the forecaster on the shipped
census series up to ``forecast_cutoff`` (an annual series interpolated
log-linearly between census points), forecasts the population of the
scenario's years, and solves its model on a *planning scenario*: the same
scenario with that deterministic population path. The simulated population
still follows the scenario's own dynamics, so evaluating the policy measures
the cost of forecast error.

The bed scenarios' year 0 is the 2001 census count (232,162), hence the
default cutoff 2001.
"""

from __future__ import annotations

from typing import Any

from optalloc.exceptions import bad_value
from optalloc.scenario import Scenario


def check_forecast_params(owner: str, forecaster: Any, cutoff: Any) -> None:
    """Validate the ``forecaster`` and ``forecast_cutoff`` hyperparameters of a planner."""
    from optalloc.families.beds.forecast import FORECASTERS

    if forecaster is not None and forecaster not in FORECASTERS:
        raise bad_value(owner, "forecaster", f"None or one of {sorted(FORECASTERS)}", forecaster)
    if isinstance(cutoff, bool) or not isinstance(cutoff, int):
        raise bad_value(owner, "forecast_cutoff", "a census year (integer)", cutoff)


def planning_scenario(scenario: Scenario, forecaster: str | None, cutoff: int) -> Scenario:
    """The scenario to plan on: ``scenario`` itself, or its copy on the forecast population path.

    Parameters
    ----------
    scenario : BedScenario
    forecaster : str or None
        Forecaster id; None plans on the scenario's own population model.
    cutoff : int
        Last census year the forecaster may see; year 0 of the scenario.

    Returns
    -------
    Scenario
        With ``population_path`` = the forecast rescaled to the scenario's
        initial population, and a deterministic population (``growth_step = 0``).
    """
    if forecaster is None:
        return scenario
    from optalloc.families.beds.forecast import forecast_population_path, load_census, make_forecaster, training_series
    from optalloc.registry import make_scenario

    fitted = make_forecaster(forecaster).fit(*training_series(load_census(), cutoff))
    path = forecast_population_path(fitted, start_year=cutoff, horizon=scenario.horizon,
                                    initial_population=scenario.params.initial_population)
    overrides = {**scenario.overrides, "population_path": tuple(float(x) for x in path), "growth_step": 0.0}
    return make_scenario(scenario.id, **overrides)
