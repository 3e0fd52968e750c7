"""LSTM population forecaster: determinism, accuracy against a no-growth baseline, short series, bad input."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from optalloc.exceptions import ConfigurationError, NotFittedError
from optalloc.families.beds.forecast import (
    ExponentialForecaster,
    NaiveForecaster,
    backtest,
    forecast_population_path,
    load_census,
    logistic_curve,
    make_forecaster,
    training_series,
)
from optalloc.rl.beds.lstm_forecaster import LSTMForecaster

FAST = {"epochs": 200}
YEARS = np.arange(1950, 2001)


def test_same_seed_gives_identical_predictions_and_leaves_global_state_alone():
    population = logistic_curve(YEARS, 1e6, 0.08, 1990.0)
    threads = torch.get_num_threads()
    rng_state = torch.random.get_rng_state()
    a = LSTMForecaster(seed=3, **FAST).fit(YEARS, population).predict([2005, 2010, 2020])
    b = LSTMForecaster(seed=3, **FAST).fit(YEARS, population).predict([2005, 2010, 2020])
    c = LSTMForecaster(seed=4, **FAST).fit(YEARS, population).predict([2005, 2010, 2020])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.random.get_rng_state(), rng_state)


def test_beats_no_growth_on_a_smooth_exponential():
    population = 100_000.0 * np.exp(0.02 * (YEARS - 1950))
    targets = np.array([2010, 2020])
    truth = 100_000.0 * np.exp(0.02 * (targets - 1950))
    lstm = LSTMForecaster(**FAST).fit(YEARS, population)
    assert lstm.window_ == 20
    lstm_err = np.abs(lstm.predict(targets) - truth) / truth
    naive_err = np.abs(NaiveForecaster().fit(YEARS, population).predict(targets) - truth) / truth
    assert np.all(lstm_err < 1e-3)
    assert np.all(naive_err > 0.15)


def test_beats_no_growth_on_a_logistic_with_changing_growth():
    population = logistic_curve(YEARS, 1e6, 0.08, 1990.0)
    targets = np.array([2005, 2010])
    truth = logistic_curve(targets, 1e6, 0.08, 1990.0)
    lstm_err = np.abs(LSTMForecaster(**FAST).fit(YEARS, population).predict(targets) - truth)
    naive_err = np.abs(NaiveForecaster().fit(YEARS, population).predict(targets) - truth)
    assert np.all(lstm_err < 0.5 * naive_err)


def test_training_loss_decreases():
    model = LSTMForecaster(**FAST).fit(YEARS, logistic_curve(YEARS, 1e6, 0.08, 1990.0))
    assert model.losses_.shape == (200,)
    assert model.losses_[-1] < 0.01 * model.losses_[0]


def test_short_census_series_shrinks_the_window_with_a_warning():
    years, population = training_series(load_census(), 2001)  # 1991-2001: 11 values, 10 differences
    with pytest.warns(UserWarning, match=r"11 points.*20-step input window.*window_ = 5"):
        model = LSTMForecaster(**FAST).fit(years, population)
    assert model.window_ == 5
    # Two census points give an exact exponential: the LSTM can only continue its growth rate.
    expo = ExponentialForecaster().fit(years, population)
    np.testing.assert_allclose(model.predict([2011, 2022]), expo.predict([2011, 2022]), rtol=1e-6)


def test_short_series_error_mode():
    years, population = training_series(load_census(), 2001)
    with pytest.raises(ConfigurationError, match=r"'years'.*at least 22 points.*Got 11 point"):
        LSTMForecaster(short_series="error").fit(years, population)


def test_no_look_ahead_in_backtest():
    census = load_census()
    mutated = census.copy()
    mutated.loc[mutated["year"] == 2011, "population"] = 400_000
    mutated.loc[mutated["year"] == 2022, "population"] = 100_000
    with pytest.warns(UserWarning, match="window_"):
        a = backtest({"LSTM": LSTMForecaster(**FAST)}, census=census)
    with pytest.warns(UserWarning, match="window_"):
        b = backtest({"LSTM": LSTMForecaster(**FAST)}, census=mutated)
    np.testing.assert_array_equal(a["predicted"], b["predicted"])
    assert a.attrs["fit_warnings"]["LSTM"]


def test_predict_grid_and_in_sample_years():
    population = 100_000.0 * np.exp(0.02 * (YEARS - 1950))
    model = LSTMForecaster(**FAST).fit(YEARS, population)
    np.testing.assert_array_equal(model.predict([1950, 2000]), population[[0, -1]])
    for bad in ([2010.5], [1949]):
        with pytest.raises(ConfigurationError, match="'years'.*training grid"):
            model.predict(bad)
    path = forecast_population_path(model, 2000, 5, 1_000.0)
    np.testing.assert_allclose(path, 1_000.0 * np.exp(0.02 * np.arange(5)), rtol=1e-4)


def test_bad_input():
    with pytest.raises(NotFittedError):
        LSTMForecaster().predict([2011])
    with pytest.raises(ConfigurationError, match="'years'.*evenly spaced"):
        LSTMForecaster(**FAST).fit([1990, 1991, 1993, 1994, 1995], [1.0, 2.0, 3.0, 4.0, 5.0])
    with pytest.raises(ConfigurationError, match="'years'.*at least 3 points"):
        LSTMForecaster(**FAST).fit([1990, 1991], [1.0, 2.0])
    for params, name in (({"window": 0}, "window"), ({"hidden_size": 2.5}, "hidden_size"),
                         ({"learning_rate": -1.0}, "learning_rate"), ({"short_series": "pad"}, "short_series")):
        with pytest.raises(ConfigurationError, match=f"'{name}'"):
            LSTMForecaster(**params).fit(YEARS, np.linspace(1.0, 2.0, len(YEARS)))


def test_registry_id():
    model = make_forecaster("lstm", hidden_size=8)
    assert isinstance(model, LSTMForecaster)
    assert model.get_params()["hidden_size"] == 8 and model.window == 20
