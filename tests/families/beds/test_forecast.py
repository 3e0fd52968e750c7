"""Population forecasting: classical fits, census interpolation, no look-ahead, backtest, scenario hook."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from optalloc.exceptions import ConfigurationError, NotFittedError, UnknownIdError
from optalloc.families.beds.forecast import (
    INTERPOLATION_NOTE,
    ExponentialForecaster,
    Forecaster,
    LinearForecaster,
    LogisticForecaster,
    NaiveForecaster,
    annual_series,
    backtest,
    forecast_population_path,
    load_census,
    logistic_curve,
    make_forecaster,
    training_series,
)

CLASSICAL = [NaiveForecaster, LinearForecaster, ExponentialForecaster, LogisticForecaster]


def quiet_fit(model: Forecaster, years, population) -> Forecaster:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(years, population)


# ---------------------------------------------------------------- exact recovery on synthetic series
def test_linear_recovers_known_parameters():
    years = np.arange(1990, 2011)
    population = 10_000.0 + 250.0 * (years - 1990)
    model = LinearForecaster().fit(years, population)
    assert model.slope_ == pytest.approx(250.0, rel=1e-12)
    assert model.level_ == pytest.approx(10_000.0 + 250.0 * (model.reference_year_ - 1990), rel=1e-12)
    np.testing.assert_allclose(model.predict([2020, 2035]), [17_500.0, 21_250.0], rtol=1e-12)


def test_exponential_recovers_known_parameters():
    years = np.arange(1980, 2001)
    population = 50_000.0 * np.exp(0.015 * (years - 1980))
    model = ExponentialForecaster().fit(years, population)
    assert model.rate_ == pytest.approx(0.015, rel=1e-10)
    assert model.annual_growth_ == pytest.approx(np.expm1(0.015), rel=1e-10)
    np.testing.assert_allclose(model.predict(1980), 50_000.0, rtol=1e-10)
    np.testing.assert_allclose(model.predict([2010, 2050]), 50_000.0 * np.exp(0.015 * np.array([30, 70])), rtol=1e-10)


def test_logistic_recovers_known_parameters():
    years = np.arange(1950, 2051, dtype=float)
    population = logistic_curve(years, 1_000_000.0, 0.06, 2000.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an identified fit must not warn
        model = LogisticForecaster().fit(years, population)
    assert model.capacity_ == pytest.approx(1_000_000.0, rel=1e-6)
    assert model.rate_ == pytest.approx(0.06, rel=1e-6)
    assert model.midpoint_ == pytest.approx(2000.0, abs=1e-4)
    assert not model.capacity_at_bound_


def test_logistic_recovers_from_early_growth_phase():
    # Only the part before the inflection point, still curved enough to identify K.
    years = np.arange(1960, 1996, dtype=float)
    population = logistic_curve(years, 400_000.0, 0.08, 1990.0)
    model = LogisticForecaster().fit(years, population)
    assert model.capacity_ == pytest.approx(400_000.0, rel=1e-5)
    assert model.rate_ == pytest.approx(0.08, rel=1e-5)


def test_logistic_without_saturation_warns_that_capacity_is_at_its_bound():
    years = np.arange(1991, 2002)
    population = 204_654.0 * np.exp(0.0126 * (years - 1991))
    with pytest.warns(UserWarning, match="upper bound"):
        model = LogisticForecaster(max_capacity_ratio=5.0).fit(years, population)
    assert model.capacity_at_bound_
    assert model.capacity_ == pytest.approx(5.0 * population.max())


def test_naive_predicts_last_value():
    model = NaiveForecaster().fit([2000, 2001], [10.0, 12.0])
    np.testing.assert_array_equal(model.predict([2005, 2030]), [12.0, 12.0])


def test_predict_keeps_the_shape_of_years():
    model = ExponentialForecaster().fit([2000, 2010], [100.0, 200.0])
    assert model.predict(2020).shape == ()
    assert model.predict([[2020, 2030]]).shape == (1, 2)
    assert float(model.predict(2020)) == pytest.approx(400.0)


# ---------------------------------------------------------------- census and interpolation
def test_load_census_from_package_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # must not depend on the working directory
    census = load_census()
    assert list(census.columns) == ["year", "population", "kind", "source"]
    assert census["year"].tolist() == [1991, 2001, 2011, 2022]
    assert census["population"].tolist() == [204_654, 232_162, 262_434, 290_143]
    assert (census["kind"] == "census").all()
    assert "unverified" in census.loc[census["year"] == 2022, "source"].item()


def test_annual_series_hits_census_points_and_is_log_linear_between_them():
    census = load_census()
    years, population = annual_series(census, 1991, 2022)
    np.testing.assert_array_equal(years, np.arange(1991, 2023))
    by_year = dict(zip(years.tolist(), population))
    for year, value in zip(census["year"], census["population"]):
        assert by_year[year] == value  # exactly
    # Midpoint of 1991 and 2001 is the geometric mean, not the arithmetic one.
    assert by_year[1996] == pytest.approx(np.sqrt(204_654 * 232_162), rel=1e-13)
    assert by_year[1996] < (204_654 + 232_162) / 2
    # Within each census interval the log-differences are constant (exponential growth).
    log_diff = np.diff(np.log(population))
    for lo, hi in ((1991, 2001), (2001, 2011), (2011, 2022)):
        segment = log_diff[(years[1:] > lo) & (years[1:] <= hi)]
        np.testing.assert_allclose(segment, np.log(by_year[hi] / by_year[lo]) / (hi - lo), rtol=1e-10)
    # An 11-year interval: 2016 is 5/11 of the way in log space.
    assert by_year[2016] == pytest.approx(262_434 * (290_143 / 262_434) ** (5 / 11), rel=1e-13)


@pytest.mark.parametrize(("start", "end", "name"), [(1990, 2001, "start"), (1991, 2023, "end"), (2001, 1995, "end"),
                                                     (1991.5, 2001, "start")])
def test_annual_series_refuses_extrapolation_and_bad_ranges(start, end, name):
    with pytest.raises(ConfigurationError, match=f"'{name}'"):
        annual_series(load_census(), start, end)


def test_training_series_has_no_look_ahead():
    census = load_census()
    years, population = training_series(census, 2001)
    np.testing.assert_array_equal(years, np.arange(1991, 2002))
    assert population[-1] == 232_162
    # Later rows may be anything, even garbage: they are never read.
    garbage = census.copy()
    garbage["population"] = garbage["population"].astype(float)
    garbage.loc[garbage["year"] > 2001, "population"] = [np.nan, -5.0]
    years2, population2 = training_series(garbage, 2001)
    np.testing.assert_array_equal(years2, years)
    np.testing.assert_array_equal(population2, population)
    # A cutoff between census points ends at the last census point before it (no extrapolation).
    years3, population3 = training_series(census, 2008)
    np.testing.assert_array_equal(years3, years)
    np.testing.assert_array_equal(population3, population)


@pytest.mark.parametrize("cls", CLASSICAL)
def test_forecast_does_not_change_when_later_census_rows_change(cls):
    census = load_census()
    mutated = census.copy()
    mutated.loc[mutated["year"] == 2011, "population"] = 400_000
    mutated.loc[mutated["year"] == 2022, "population"] = 100_000
    a = quiet_fit(cls(), *training_series(census, 2001)).predict([2011, 2022])
    b = quiet_fit(cls(), *training_series(mutated, 2001)).predict([2011, 2022])
    np.testing.assert_array_equal(a, b)


def test_training_series_needs_two_census_points():
    with pytest.raises(ConfigurationError, match="'cutoff'.*at least two census points"):
        training_series(load_census(), 1995)


# ---------------------------------------------------------------- backtest
def test_backtest_table_shape_and_errors():
    forecasters = [NaiveForecaster(), LinearForecaster(), ExponentialForecaster(), LogisticForecaster()]
    with pytest.warns(UserWarning, match="upper bound"):  # logistic K is not identified on 1991-2001
        table = backtest(forecasters)
    assert table.shape == (8, 8)
    assert list(table.columns) == ["forecaster", "year", "predicted", "census", "error", "abs_error", "pct_error",
                                   "source"]
    assert table["forecaster"].tolist() == [n for n in ("Naive", "Linear", "Exponential", "Logistic") for _ in (0, 1)]
    assert table["year"].tolist() == [2011, 2022] * 4
    assert table["census"].tolist() == [262_434.0, 290_143.0] * 4
    np.testing.assert_allclose(table["error"], table["predicted"] - table["census"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(table["abs_error"], np.abs(table["predicted"] - table["census"]), rtol=0, atol=1e-9)
    np.testing.assert_allclose(table["pct_error"], 100 * table["abs_error"] / table["census"], rtol=1e-12)
    # Predictions are those of a fit on the interpolated 1991-2001 series.
    years, population = training_series(load_census(), 2001)
    for model in forecasters:
        assert not model.is_fitted()  # the backtest fits clones
        expected = quiet_fit(type(model)(), years, population).predict([2011, 2022])
        np.testing.assert_allclose(table.loc[table["forecaster"] == model.name, "predicted"], expected, rtol=1e-12)
    naive = table[table["forecaster"] == "Naive"]
    np.testing.assert_allclose(naive["pct_error"], [100 * (262_434 - 232_162) / 262_434,
                                                    100 * (290_143 - 232_162) / 290_143])
    # Exponential on two census points continues the 1991-2001 census growth exactly.
    expo = table.loc[table["forecaster"] == "Exponential", "predicted"].to_numpy()
    np.testing.assert_allclose(expo, 232_162 * (232_162 / 204_654) ** (np.array([10, 21]) / 10), rtol=1e-12)
    assert "unverified" in table.loc[table["year"] == 2022, "source"].iloc[0]
    assert INTERPOLATION_NOTE in table.attrs["training_note"]
    assert table.attrs["training_years"] == (1991, 2001)
    assert any("upper bound" in m for m in table.attrs["fit_warnings"]["Logistic"])


def test_backtest_predictions_ignore_the_census_values_being_predicted():
    census = load_census()
    mutated = census.copy()
    mutated.loc[mutated["year"] == 2011, "population"] = 300_000
    models = {"lin": LinearForecaster(), "exp": ExponentialForecaster()}
    a, b = backtest(models, census=census), backtest(models, census=mutated)
    np.testing.assert_array_equal(a["predicted"], b["predicted"])
    assert b.loc[b["year"] == 2011, "census"].tolist() == [300_000.0, 300_000.0]
    np.testing.assert_allclose(b["abs_error"], np.abs(b["predicted"] - b["census"]))


@pytest.mark.parametrize("targets", [(2001,), (2030,), (2011.0,)])
def test_backtest_rejects_targets_that_are_not_later_census_years(targets):
    with pytest.raises(ConfigurationError, match="'targets'"):
        backtest([LinearForecaster()], targets=targets)


def test_backtest_rejects_non_forecasters():
    with pytest.raises(ConfigurationError, match="'forecasters'"):
        backtest({"x": object()})


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("cls", CLASSICAL)
def test_not_fitted(cls):
    with pytest.raises(NotFittedError, match="not fitted"):
        cls().predict([2011])


@pytest.mark.parametrize(("years", "population", "parameter", "text"), [
    ([2000, 2000, 2001, 2002], [1.0, 2.0, 3.0, 4.0], "years", "strictly increasing"),
    ([2000, 1999, 2001, 2002], [1.0, 2.0, 3.0, 4.0], "years", "strictly increasing"),
    ([2000, 2001, 2002, 2003], [1.0, 0.0, 3.0, 4.0], "population", "positive"),
    ([2000, 2001, 2002, 2003], [1.0, -2.0, 3.0, 4.0], "population", "positive"),
    ([2000, 2001, 2002, 2003], [1.0, np.nan, 3.0, 4.0], "population", "finite"),
    ([2000, 2001, 2002, 2003], [1.0, 2.0, 3.0], "population", "same length"),
    ([[2000, 2001], [2002, 2003]], [1.0, 2.0], "years", "1-D"),
    (["a", "b", "c", "d"], [1.0, 2.0, 3.0, 4.0], "years", "numbers"),
])
def test_bad_series_names_the_parameter(years, population, parameter, text):
    with pytest.raises(ConfigurationError, match=f"'{parameter}'.*{text}.*Got"):
        ExponentialForecaster().fit(years, population)


@pytest.mark.parametrize(("cls", "needed"), [(LinearForecaster, 2), (ExponentialForecaster, 2),
                                             (LogisticForecaster, 4)])
def test_too_few_points(cls, needed):
    years = np.arange(2000, 2000 + needed - 1)
    with pytest.raises(ConfigurationError, match=f"at least {needed} points.*Got {needed - 1} point"):
        cls().fit(years, np.linspace(1.0, 2.0, len(years)))


@pytest.mark.parametrize("params", [{"max_capacity_ratio": 0.5}, {"max_rate": 0.0}, {"max_midpoint_offset": -1.0},
                                    {"max_capacity_ratio": "10"}])
def test_bad_logistic_hyperparameters(params):
    name = next(iter(params))
    with pytest.raises(ConfigurationError, match=f"'{name}'"):
        LogisticForecaster(**params).fit(np.arange(2000, 2010), np.linspace(1.0, 2.0, 10))


def test_init_does_no_work_and_params_round_trip():
    model = LogisticForecaster(max_capacity_ratio=-3)  # validated at fit, not here
    assert model.get_params() == {"max_capacity_ratio": -3, "max_rate": 1.0, "max_midpoint_offset": 1000.0}
    assert not model.is_fitted()
    model.set_params(max_capacity_ratio=4.0)
    assert "max_capacity_ratio=4.0" in repr(model)
    with pytest.raises(ConfigurationError, match="'capacity'"):
        model.set_params(capacity=1.0)


def test_predict_rejects_non_finite_years():
    model = LinearForecaster().fit([2000, 2010], [1.0, 2.0])
    with pytest.raises(ConfigurationError, match="'years'"):
        model.predict([2020, np.nan])
    with pytest.raises(ConfigurationError, match="'years'"):
        model.predict(["soon"])


# ---------------------------------------------------------------- registry
def test_make_forecaster_by_id():
    assert isinstance(make_forecaster("logistic", max_capacity_ratio=3.0), LogisticForecaster)
    with pytest.raises(UnknownIdError, match="Did you mean 'exponential'"):
        make_forecaster("exponental")


def test_forecast_core_imports_without_torch():
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'torch':
            raise ImportError('blocked ' + name)
sys.meta_path.insert(0, Block())
from optalloc.families.beds.forecast import backtest, ExponentialForecaster, make_forecaster
from optalloc.exceptions import DependencyNotInstalled
print(len(backtest([ExponentialForecaster()])))
try:
    make_forecaster('lstm')
except DependencyNotInstalled as exc:
    print('needs torch' if 'optalloc[rl]' in str(exc) else exc)
assert 'torch' not in sys.modules
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2", "needs", "torch"]


# ---------------------------------------------------------------- bed scenario hook
def test_population_path_is_anchored_and_follows_the_forecast_growth():
    years, population = training_series(load_census(), 2011)
    model = ExponentialForecaster().fit(years, population)
    path = forecast_population_path(model, start_year=2021, horizon=30, initial_population=232_162)
    assert path.shape == (30,)
    assert path[0] == 232_162
    np.testing.assert_allclose(path[1:] / path[:-1], np.exp(model.rate_), rtol=1e-12)
    np.testing.assert_allclose(path, 232_162 * model.predict(np.arange(2021, 2051)) / model.predict(2021), rtol=1e-12)


def test_population_path_errors():
    with pytest.raises(NotFittedError):
        forecast_population_path(ExponentialForecaster(), 2001, 30, 232_162)
    model = ExponentialForecaster().fit([1991, 2001], [204_654, 232_162])
    for kwargs, name in (({"horizon": 0}, "horizon"), ({"initial_population": -1.0}, "initial_population"),
                         ({"start_year": 2001.5}, "start_year")):
        args = {"start_year": 2001, "horizon": 30, "initial_population": 232_162.0, **kwargs}
        with pytest.raises(ConfigurationError, match=f"'{name}'"):
            forecast_population_path(model, **args)
    falling = LinearForecaster().fit([2000, 2010], [1000.0, 500.0])
    with pytest.raises(ConfigurationError, match="non-positive"):
        forecast_population_path(falling, 2015, 10, 100.0)


def test_census_dataframe_roundtrip_through_annual_series():
    census = pd.DataFrame({"year": [2010, 2000], "population": [200.0, 100.0]})  # unsorted is fine
    _, population = annual_series(census, 2000, 2010)
    assert population[5] == pytest.approx(np.sqrt(2) * 100)
    with pytest.raises(ConfigurationError, match="'census'"):
        annual_series({"year": [2000]}, 2000, 2000)
