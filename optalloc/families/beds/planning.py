"""Planning on a population forecast instead of the scenario's own population model.

The bed family's planning transform ``forecast`` (registered from
:func:`optalloc.families.beds.register`; the ``plan-on`` policy applies it):
given ``forecaster="exponential"`` (any id of
:data:`optalloc.families.beds.forecast.FORECASTERS`) it fits the forecaster
on the shipped census series up to ``cutoff`` (an annual series interpolated
log-linearly between census points), forecasts the population of the
scenario's years, and returns a *planning scenario*: the same scenario with
that deterministic population path. A policy fitted on it still acts on the
scenario, whose simulated population follows its own dynamics, so
evaluating it measures the cost of forecast error::

    make_policy("plan-on", inner="dp", transform="forecast",
                transform_params={"forecaster": "lstm", "cutoff": 2001})

The bed scenarios' year 0 is the 2001 census count (232,162), hence the
default cutoff 2001.
"""

from __future__ import annotations

from typing import Any

from optalloc.exceptions import bad_value
from optalloc.scenario import Scenario

#: Who owns the transform's parameters, as error messages name it.
TRANSFORM_OWNER = "the planning transform 'forecast' (transform_params of plan-on)"


def forecast_transform(scenario: Scenario, forecaster: Any = None, cutoff: Any = 2001) -> Scenario:
    """The planning transform ``forecast``: ``scenario`` on the forecast population path.

    Parameters
    ----------
    scenario : BedScenario
    forecaster : str
        Forecaster id, one of :data:`optalloc.families.beds.forecast.FORECASTERS`.
    cutoff : int
        Last census year the forecaster may see; year 0 of the scenario.

    Returns
    -------
    Scenario
        See :func:`planning_scenario`.

    Raises
    ------
    ConfigurationError
        An unknown or missing forecaster, or a cutoff that is not a year.
    """
    from optalloc.families.beds.forecast import FORECASTERS

    if not isinstance(forecaster, str) or forecaster not in FORECASTERS:
        raise bad_value(TRANSFORM_OWNER, "forecaster", f"one of {sorted(FORECASTERS)}", forecaster)
    if isinstance(cutoff, bool) or not isinstance(cutoff, int):
        raise bad_value(TRANSFORM_OWNER, "cutoff", "a census year (integer)", cutoff)
    return planning_scenario(scenario, forecaster, cutoff)


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
