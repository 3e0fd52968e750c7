"""Population forecasting for the bed scenario: census data, classical fits and a backtest.

The bed scenario's demand is proportional to the population ``P_t`` of the
catchment area (Abhaynagar Upazila in the seed paper, Kabir, Shuvo & Ahmed
2021, who forecast it with an LSTM). This module holds everything that needs
only numpy, scipy and pandas:

* the :class:`Forecaster` contract, modelled on scikit-learn's estimators:
  keyword hyperparameters in ``__init__`` (no work there),
  ``fit(years, population) -> self``, ``predict(years) -> population``,
  fitted state in attributes ending in ``_``;
* classical fits: :class:`NaiveForecaster` (no growth, a baseline),
  :class:`LinearForecaster`, :class:`ExponentialForecaster` (log-linear least
  squares) and :class:`LogisticForecaster` (``scipy.optimize.curve_fit``);
  the LSTM is :class:`optalloc.rl.beds.lstm_forecaster.LSTMForecaster` (needs torch);
* the shipped census series (:func:`load_census`) and the annual series
  **interpolated log-linearly between census points** (:func:`annual_series`,
  :func:`training_series`): no annual population series exists for the
  upazila, so every annual series here is an interpolation, and anything that
  uses one says so;
* :func:`backtest` (fit on census data up to a cutoff, predict later census
  years) and :func:`forecast_population_path`, the hook that turns a fitted
  forecaster into a population path for the bed scenario.

Units: years are calendar years (e.g. ``2001``), populations are persons.

Example
-------
>>> from optalloc.families.beds.forecast import ExponentialForecaster, load_census, training_series
>>> years, population = training_series(load_census(), cutoff=2001)  # 1991..2001, interpolated
>>> model = ExponentialForecaster().fit(years, population)
>>> round(float(model.predict(2011)))
263367
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy import optimize

from optalloc.exceptions import (
    ConfigurationError,
    NotFittedError,
    OptallocError,
)
from optalloc.params import HyperParams
from optalloc.validation import unknown_id_error

#: Package-data location of the census series (inside the family's package).
CENSUS_RESOURCE = ("data", "abhaynagar_population.csv")

#: The statement every use of an annual series must carry.
INTERPOLATION_NOTE = "annual series interpolated log-linearly between census points"


def _bad(owner: str, parameter: str, expected: str, got: str) -> ConfigurationError:
    """The standard "bad parameter" message, with ``got`` already formatted."""
    return ConfigurationError(f"The {parameter!r} parameter of {owner} must be {expected}. Got {got} instead.")


def _as_1d_float(owner: str, parameter: str, values: Any) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise _bad(owner, parameter, "a 1-D array of numbers", repr(values)) from None
    if array.ndim != 1:
        raise _bad(owner, parameter, "a 1-D array of numbers", f"an array of shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise _bad(owner, parameter, "finite numbers", f"{parameter}[{bad}] = {array[bad]!r}")
    return array


def check_series(owner: str, years: Any, population: Any, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate a population series for fitting.

    Parameters
    ----------
    owner : str
        Name used in error messages (the forecaster's class name).
    years : array_like, shape (n,)
        Calendar years [years], finite and strictly increasing.
    population : array_like, shape (n,)
        Population [persons], finite and positive.
    min_points : int
        Fewest points the model can be fitted on.

    Returns
    -------
    years, population : ndarray of float, shape (n,)

    Raises
    ------
    ConfigurationError
        Naming the parameter, what was expected and what was given.
    """
    t = _as_1d_float(owner, "years", years)
    p = _as_1d_float(owner, "population", population)
    if len(p) != len(t):
        raise _bad(owner, "population", f"an array of the same length as 'years' ({len(t)})", f"length {len(p)}")
    if len(t) < min_points:
        raise _bad(owner, "years", f"at least {min_points} points to fit {owner}", f"{len(t)} point(s)")
    steps = np.diff(t)
    if np.any(steps <= 0):
        i = int(np.flatnonzero(steps <= 0)[0])
        raise _bad(owner, "years", "strictly increasing", f"years[{i + 1}] = {t[i + 1]:g} after years[{i}] = {t[i]:g}")
    if np.any(p <= 0):
        i = int(np.flatnonzero(p <= 0)[0])
        raise _bad(owner, "population", "positive (persons)", f"population[{i}] = {p[i]:g}")
    return t, p


class Forecaster(HyperParams):
    """Base class of population forecasters.

    Subclasses set their hyperparameters in ``__init__`` (keywords only, no
    work, no validation), validate them in :meth:`_validate_params` and do
    the fitting in :meth:`_fit`. :meth:`fit` checks the series first and sets
    the common fitted state:

    Attributes
    ----------
    n_points_ : int
        Points fitted on.
    first_year_, last_year_ : float
        First and last training year [years].
    last_population_ : float
        Last training population [persons].
    """

    #: Fewest training points the model accepts.
    min_points: ClassVar[int] = 2

    @property
    def name(self) -> str:
        """Display name (the class name without ``Forecaster``)."""
        return type(self).__name__.removesuffix("Forecaster") or type(self).__name__

    def _min_points(self) -> int:
        return self.min_points

    # ------------------------------------------------------------ fit / predict
    def fit(self, years: np.ndarray, population: np.ndarray) -> Self:
        """Fit to a population series; returns ``self``.

        Parameters
        ----------
        years : array_like, shape (n,)
            Calendar years [years], strictly increasing.
        population : array_like, shape (n,)
            Population [persons], positive.

        Raises
        ------
        ConfigurationError
            Bad hyperparameters, non-increasing years, non-positive
            population, or fewer points than the model needs.
        """
        self.validate_params()
        t, p = check_series(type(self).__name__, years, population, self._min_points())
        self._fit(t, p)
        self.n_points_ = len(t)
        self.first_year_ = float(t[0])
        self.last_year_ = float(t[-1])
        self.last_population_ = float(p[-1])
        return self

    def predict(self, years: Any) -> np.ndarray:
        """Forecast population [persons] for calendar ``years`` (scalar or array).

        Returns
        -------
        ndarray of float
            Same shape as ``np.asarray(years)``.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        """
        self._check_fitted()
        try:
            t = None if isinstance(years, str) else np.asarray(years, dtype=float)
        except (TypeError, ValueError):
            t = None
        if t is None or not np.all(np.isfinite(t)):
            raise _bad(f"{type(self).__name__}.predict", "years", "finite calendar years", repr(years))
        return np.asarray(self._predict(t.ravel()), dtype=float).reshape(t.shape)

    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has been called."""
        return hasattr(self, "last_year_")

    def _check_fitted(self) -> None:
        if not self.is_fitted():
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet. Call 'fit(years, population)' before 'predict'."
            )

    # ------------------------------------------------------------ subclass hooks
    def _validate_params(self) -> None:
        """Raise :class:`ConfigurationError` for invalid hyperparameters."""

    def _fit(self, years: np.ndarray, population: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, years: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


def clone(forecaster: Forecaster) -> Forecaster:
    """An unfitted copy with the same hyperparameters."""
    return type(forecaster)(**forecaster.get_params())


class NaiveForecaster(Forecaster):
    """No growth: every forecast is the last observed population [persons].

    The baseline any forecaster must beat. Fitted state: ``last_population_``.
    """

    min_points = 1

    def __init__(self) -> None:
        pass

    def _fit(self, years: np.ndarray, population: np.ndarray) -> None:
        pass

    def _predict(self, years: np.ndarray) -> np.ndarray:
        return np.full(len(years), self.last_population_)


class LinearForecaster(Forecaster):
    """Straight line ``P(t) = level_ + slope_ * (t - reference_year_)``, least squares.

    Attributes
    ----------
    slope_ : float
        [persons/year].
    level_ : float
        Fitted population at ``reference_year_`` [persons].
    reference_year_ : float
        Mean training year [years] (centring keeps the fit well conditioned).

    Notes
    -----
    Unbounded: far enough back (or forward, for a falling series) the line
    goes negative; :func:`forecast_population_path` refuses such a path.
    """

    min_points = 2

    def __init__(self) -> None:
        pass

    def _fit(self, years: np.ndarray, population: np.ndarray) -> None:
        self.reference_year_ = float(years.mean())
        self.slope_, self.level_ = (float(c) for c in np.polyfit(years - self.reference_year_, population, 1))

    def _predict(self, years: np.ndarray) -> np.ndarray:
        return self.level_ + self.slope_ * (years - self.reference_year_)


class ExponentialForecaster(Forecaster):
    """Exponential growth ``P(t) = level_ * exp(rate_ * (t - reference_year_))``.

    Fitted by least squares on ``log P`` (log-linear regression), so every
    point has the same weight in relative terms.

    Attributes
    ----------
    rate_ : float
        Continuous growth rate [1/year].
    annual_growth_ : float
        ``exp(rate_) - 1``, the yearly growth [fraction/year].
    level_ : float
        Fitted population at ``reference_year_`` [persons].
    reference_year_ : float
        Mean training year [years].
    """

    min_points = 2

    def __init__(self) -> None:
        pass

    def _fit(self, years: np.ndarray, population: np.ndarray) -> None:
        self.reference_year_ = float(years.mean())
        rate, log_level = np.polyfit(years - self.reference_year_, np.log(population), 1)
        self.rate_ = float(rate)
        self.annual_growth_ = float(np.expm1(rate))
        self.level_ = float(np.exp(log_level))

    def _predict(self, years: np.ndarray) -> np.ndarray:
        return self.level_ * np.exp(self.rate_ * (years - self.reference_year_))


def logistic_curve(years: np.ndarray, capacity: float, rate: float, midpoint: float) -> np.ndarray:
    """``capacity / (1 + exp(-rate * (years - midpoint)))`` [persons].

    Parameters
    ----------
    years : ndarray
        Calendar years [years].
    capacity : float
        Carrying capacity ``K`` [persons].
    rate : float
        Logistic growth rate ``r`` [1/year].
    midpoint : float
        Inflection year ``t0`` [years], where ``P = K / 2``.
    """
    return capacity / (1.0 + np.exp(-rate * (np.asarray(years, dtype=float) - midpoint)))


class LogisticForecaster(Forecaster):
    """Logistic growth ``P(t) = K / (1 + exp(-r (t - t0)))`` by nonlinear least squares.

    Fitted with ``scipy.optimize.curve_fit`` (trust-region reflective, bounded)
    on population scaled by its maximum and years centred on their mean.

    Bounds (the search space):

    * ``K`` in ``[max(P), max_capacity_ratio * max(P)]``: the carrying
      capacity is at least the largest observed population;
    * ``r`` in ``[1e-6, max_rate]`` [1/year]: growth, not decline;
    * ``t0`` within ``max_midpoint_offset`` years of the mean training year.

    Initial guess: ``K0 = min(2, (1 + max_capacity_ratio) / 2) * max(P)``;
    ``r0`` and ``t0`` from the linear regression of the logit
    ``log(P / (K0 - P))`` on the year (exact for a logistic with ``K = K0``),
    clipped into the bounds.

    A series with no visible saturation (an exponential, such as the census
    1991-2001) does not identify ``K``: least squares pushes it to the upper
    bound. Then ``capacity_at_bound_`` is ``True`` and a ``UserWarning`` says
    so; the fit is then close to an exponential and ``K`` means nothing.

    Parameters
    ----------
    max_capacity_ratio : float, default 10.0
        Upper bound on ``K`` relative to the largest observed population (> 1).
    max_rate : float, default 1.0
        Upper bound on ``r`` [1/year].
    max_midpoint_offset : float, default 1000.0
        Bound on ``|t0 - mean year|`` [years].

    Attributes
    ----------
    capacity_, rate_, midpoint_ : float
        ``K`` [persons], ``r`` [1/year], ``t0`` [years].
    capacity_at_bound_ : bool
        Whether ``K`` ended at its upper bound (not identified by the data).
    """

    min_points = 4  # three parameters and at least one degree of freedom

    def __init__(self, *, max_capacity_ratio: float = 10.0, max_rate: float = 1.0,
                 max_midpoint_offset: float = 1000.0) -> None:
        self.max_capacity_ratio = max_capacity_ratio
        self.max_rate = max_rate
        self.max_midpoint_offset = max_midpoint_offset

    def _validate_params(self) -> None:
        owner = type(self).__name__
        for name, low in (("max_capacity_ratio", 1.0), ("max_rate", 1e-6), ("max_midpoint_offset", 0.0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= low:
                raise _bad(owner, name, f"a finite number > {low:g}", repr(value))

    def _fit(self, years: np.ndarray, population: np.ndarray) -> None:
        scale = float(population.max())
        centre = float(years.mean())
        x, y = years - centre, population / scale
        lower = np.array([1.0, 1e-6, -self.max_midpoint_offset])
        upper = np.array([float(self.max_capacity_ratio), float(self.max_rate), self.max_midpoint_offset])
        k0 = min(2.0, (1.0 + self.max_capacity_ratio) / 2.0)
        slope, intercept = np.polyfit(x, np.log(y / (k0 - y)), 1)
        r0 = slope if slope > 0 else 0.01
        guess = np.clip([k0, r0, -intercept / r0], lower, upper)
        try:
            params, _ = optimize.curve_fit(
                logistic_curve, x, y, p0=guess, bounds=(lower, upper), method="trf",
                ftol=1e-14, xtol=1e-14, gtol=1e-14, max_nfev=20_000,
            )
        except (RuntimeError, ValueError) as exc:
            raise OptallocError(f"{type(self).__name__}: scipy.optimize.curve_fit failed on this series: {exc}") from exc
        k, r, c = (float(v) for v in params)
        self.capacity_ = k * scale
        self.rate_ = r
        self.midpoint_ = c + centre
        self.capacity_at_bound_ = bool(k >= self.max_capacity_ratio * (1 - 1e-6))
        if self.capacity_at_bound_:
            warnings.warn(
                f"{type(self).__name__}: the fitted carrying capacity K = {self.capacity_:,.0f} persons is at its "
                f"upper bound max_capacity_ratio x max(population) = {self.max_capacity_ratio:g} x {scale:,.0f}: "
                "the series shows no saturation, so K is not identified and the fit is close to an exponential.",
                UserWarning, stacklevel=3,
            )

    def _predict(self, years: np.ndarray) -> np.ndarray:
        return logistic_curve(years, self.capacity_, self.rate_, self.midpoint_)


# ---------------------------------------------------------------- registry
#: Forecaster ids and lazy entry points (the LSTM imports torch only when made).
FORECASTERS: dict[str, str] = {
    "naive": "optalloc.families.beds.forecast:NaiveForecaster",
    "linear": "optalloc.families.beds.forecast:LinearForecaster",
    "exponential": "optalloc.families.beds.forecast:ExponentialForecaster",
    "logistic": "optalloc.families.beds.forecast:LogisticForecaster",
    "lstm": "optalloc.rl.beds.lstm_forecaster:LSTMForecaster",
}


def make_forecaster(forecaster_id: str, **params: Any) -> Forecaster:
    """Build a forecaster by id (see :data:`FORECASTERS`) with hyperparameters.

    Raises
    ------
    UnknownIdError
        With close matches, for an unknown id.
    DependencyNotInstalled
        For ``"lstm"`` without torch.
    """
    if forecaster_id not in FORECASTERS:
        raise unknown_id_error("forecaster", forecaster_id, FORECASTERS)
    module_name, _, attribute = FORECASTERS[forecaster_id].partition(":")
    return getattr(importlib.import_module(module_name), attribute)(**params)


# ---------------------------------------------------------------- census data
def load_census() -> pd.DataFrame:
    """The census series of Abhaynagar Upazila shipped with the package.

    Read from package data (``optalloc/families/beds/data/abhaynagar_population.csv``,
    provenance in ``optalloc/families/beds/data/README.md``) with ``importlib.resources``.
    Census points: 1991, 2001, 2011, 2022 (no 1981 point is available; the
    2022 value's source says "single secondary source; unverified").

    Returns
    -------
    pandas.DataFrame
        Columns ``year`` (int, calendar year), ``population`` (int, persons),
        ``kind`` (``"census"``) and ``source`` (text), sorted by year.
    """
    resource = resources.files("optalloc.families.beds").joinpath(*CENSUS_RESOURCE)
    with resource.open("r", encoding="utf-8") as handle:
        census = pd.read_csv(handle, dtype={"year": "int64", "population": "int64"})
    census = census[["year", "population", "kind", "source"]].sort_values("year", ignore_index=True)
    _check_census(census)
    return census


def _check_census(census: pd.DataFrame, owner: str = "annual_series") -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(census, pd.DataFrame) or not {"year", "population"} <= set(census.columns):
        raise _bad(owner, "census", "a DataFrame with columns 'year' and 'population'", repr(type(census).__name__))
    census = census.sort_values("year")
    return check_series(f"{owner} (census)", census["year"].to_numpy(), census["population"].to_numpy(), 1)


def annual_series(census: pd.DataFrame, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Annual population series interpolated log-linearly between census points.

    For a year ``t`` between census points ``(c_k, P_k)`` and
    ``(c_{k+1}, P_{k+1})``::

        P(t) = P_k * (P_{k+1} / P_k) ** ((t - c_k) / (c_{k+1} - c_k)),

    i.e. constant exponential growth between consecutive census points, so the
    series equals the census exactly at census years and the midpoint of two census
    points is their geometric mean. These are **interpolated values, not
    observations**: the upazila has no annual population series, and anything
    that uses this one must say "annual series interpolated log-linearly
    between census points".

    No extrapolation: ``start`` and ``end`` must lie within the census years
    given. A year depends only on the two census points around it, so to fit
    with a cutoff pass only the rows up to the cutoff (:func:`training_series`
    does that).

    Parameters
    ----------
    census : pandas.DataFrame
        Columns ``year`` [calendar year] and ``population`` [persons]
        (e.g. :func:`load_census`, or a subset of it).
    start, end : int
        First and last year of the series [calendar years], ``start <= end``.

    Returns
    -------
    years : ndarray of int64, shape (end - start + 1,)
        ``start, start + 1, ..., end``.
    population : ndarray of float64
        Interpolated population [persons].

    Raises
    ------
    ConfigurationError
        For a malformed census or ``start``/``end`` outside the census years.
    """
    c_years, c_pop = _check_census(census)
    first, last = int(c_years[0]), int(c_years[-1])
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not first <= value <= last:
            raise _bad("annual_series", name,
                       f"an integer year within the census years [{first}, {last}] (no extrapolation)", repr(value))
    if start > end:
        raise _bad("annual_series", "end", f"a year >= start ({start})", repr(end))
    years = np.arange(int(start), int(end) + 1, dtype=np.int64)
    population = np.exp(np.interp(years, c_years, np.log(c_pop)))
    # Census years get the census value itself (exp(log(P)) may differ in the last bit).
    on_census = np.isin(years, c_years)
    population[on_census] = c_pop[np.searchsorted(c_years, years[on_census])]
    return years, population


def training_series(census: pd.DataFrame, cutoff: int) -> tuple[np.ndarray, np.ndarray]:
    """The annual training series for a fit on data up to ``cutoff``, without look-ahead.

    Only census rows with ``year <= cutoff`` are read; the series is
    interpolated log-linearly between those census points (see
    :func:`annual_series`) from the first of them to the last one
    (``<= cutoff``) — never extrapolated beyond the last census point.

    Parameters
    ----------
    census : pandas.DataFrame
        Columns ``year`` and ``population`` [persons].
    cutoff : int
        Last calendar year whose data may be used.

    Returns
    -------
    years : ndarray of int64
    population : ndarray of float64 [persons]
    """
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, np.integer)):
        raise _bad("training_series", "cutoff", "an integer calendar year", repr(cutoff))
    if not isinstance(census, pd.DataFrame) or "year" not in census.columns:
        raise _bad("training_series", "census", "a DataFrame with columns 'year' and 'population'",
                   repr(type(census).__name__))
    past = census[census["year"] <= cutoff]
    if len(past) < 2:
        raise _bad("training_series", "cutoff",
                   "a year with at least two census points at or before it",
                   f"{cutoff!r} ({len(past)} census point(s) up to it)")
    c_years = past["year"].to_numpy()
    return annual_series(past, int(c_years.min()), int(c_years.max()))


# ---------------------------------------------------------------- backtest
def _named(forecasters: Mapping[str, Forecaster] | Iterable[Forecaster]) -> dict[str, Forecaster]:
    if isinstance(forecasters, Forecaster):
        forecasters = [forecasters]
    if isinstance(forecasters, Mapping):
        named = dict(forecasters)
    else:
        named = {}
        for f in forecasters:
            name, k = getattr(f, "name", type(f).__name__), 2
            while name in named:
                name, k = f"{getattr(f, 'name', type(f).__name__)}-{k}", k + 1
            named[name] = f
    for name, f in named.items():
        if not isinstance(f, Forecaster):
            raise _bad("backtest", "forecasters", "Forecaster instances (or a mapping of name to Forecaster)",
                       f"{name!r}: {f!r}")
    if not named:
        raise _bad("backtest", "forecasters", "at least one forecaster", "none")
    return named


def backtest(forecasters: Mapping[str, Forecaster] | Iterable[Forecaster], cutoff: int = 2001,
             targets: Sequence[int] = (2011, 2022), census: pd.DataFrame | None = None) -> pd.DataFrame:
    """Fit each forecaster on data up to ``cutoff`` and score it on later census years.

    Each forecaster is cloned (the objects passed in stay unfitted) and
    fitted on :func:`training_series` ``(census, cutoff)``: the **annual
    series interpolated log-linearly between the census points up to the
    cutoff** (1991-2001 for the shipped census: 11 values from two census
    points, hence an exact exponential). Census rows after the cutoff are
    read only as the truth to score against.

    Parameters
    ----------
    forecasters : mapping of str to Forecaster, or iterable of Forecaster
        Unnamed forecasters are labelled by :attr:`Forecaster.name`.
    cutoff : int, default 2001
        Last calendar year of data used for fitting.
    targets : sequence of int, default (2011, 2022)
        Census years after ``cutoff`` to predict.
    census : pandas.DataFrame, optional
        Default :func:`load_census`.

    Returns
    -------
    pandas.DataFrame
        One row per forecaster x target: ``forecaster``, ``year``,
        ``predicted`` [persons], ``census`` [persons], ``error`` (predicted -
        census) [persons], ``abs_error`` [persons], ``pct_error`` (100 x
        abs_error / census) [%], ``source`` (of the census value).
        ``attrs`` holds ``training_years``, ``training_note`` and
        ``fit_warnings`` (forecaster name -> list of warning messages,
        which are also re-emitted).
    """
    census = load_census() if census is None else census
    named = _named(forecasters)
    years, population = training_series(census, cutoff)
    target_years = list(targets)
    rows_by_year = census.set_index("year")
    for year in target_years:
        if isinstance(year, bool) or not isinstance(year, (int, np.integer)) or year <= cutoff \
                or year not in rows_by_year.index:
            later = [int(y) for y in rows_by_year.index if y > cutoff]
            raise _bad("backtest", "targets", f"census years after the cutoff {cutoff} (available: {later})",
                       repr(year))
    truth = rows_by_year.loc[target_years, "population"].to_numpy(dtype=float)
    if not np.all(np.isfinite(truth) & (truth > 0)):
        raise _bad("backtest", "census", "positive populations at the target years", repr(list(truth)))
    sources = (rows_by_year.loc[target_years, "source"].astype(str).tolist()
               if "source" in rows_by_year.columns else [""] * len(target_years))

    rows, fit_warnings = [], {}
    for name, prototype in named.items():
        model = clone(prototype)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(years, population)
        fit_warnings[name] = [str(w.message) for w in caught]
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        predicted = model.predict(np.asarray(target_years, dtype=float))
        for year, pred, true, source in zip(target_years, predicted, truth, sources):
            rows.append({"forecaster": name, "year": int(year), "predicted": float(pred), "census": float(true),
                         "error": float(pred - true), "abs_error": float(abs(pred - true)),
                         "pct_error": float(100.0 * abs(pred - true) / true), "source": source})
    table = pd.DataFrame(rows)
    table.attrs["training_years"] = (int(years[0]), int(years[-1]))
    table.attrs["training_note"] = (
        f"fitted on the {INTERPOLATION_NOTE} {int(years[0])}-{int(years[-1])} "
        f"(census points {', '.join(str(int(y)) for y in census['year'] if y <= cutoff)}; "
        f"nothing after {cutoff} used, no extrapolation)"
    )
    table.attrs["fit_warnings"] = fit_warnings
    return table


# ---------------------------------------------------------------- bed scenario hook
def forecast_population_path(forecaster: Forecaster, start_year: int, horizon: int,
                             initial_population: float) -> np.ndarray:
    """Forecast population path for a planning horizon, anchored at ``initial_population``.

    Predicts years ``start_year, ..., start_year + horizon - 1`` and rescales
    the path so that year 0 equals ``initial_population``: the forecaster
    supplies the *growth* (``P_t / P_0``), the scenario the level. The
    bed scenario's planners can plan on this path (population ``P_t`` of year
    index ``t``).

    Parameters
    ----------
    forecaster : Forecaster
        A fitted forecaster. If it was fitted on an annual series from
        :func:`annual_series`, the path inherits that series' caveat: it is
        interpolated log-linearly between census points.
    start_year : int
        Calendar year of planning year 0 [year].
    horizon : int
        Number of years (>= 1).
    initial_population : float
        Population in year 0 [persons], > 0.

    Returns
    -------
    ndarray of float, shape (horizon,)
        Population [persons] of years ``start_year .. start_year + horizon - 1``;
        element 0 equals ``initial_population``.

    Raises
    ------
    NotFittedError
        If the forecaster is not fitted.
    ConfigurationError
        For bad arguments, or a forecast that is not positive and finite.
    """
    owner = "forecast_population_path"
    if not isinstance(forecaster, Forecaster):
        raise _bad(owner, "forecaster", "a fitted Forecaster", repr(forecaster))
    if isinstance(start_year, bool) or not isinstance(start_year, (int, np.integer)):
        raise _bad(owner, "start_year", "an integer calendar year", repr(start_year))
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise _bad(owner, "horizon", "an integer >= 1 [years]", repr(horizon))
    if isinstance(initial_population, bool) or not isinstance(initial_population, (int, float, np.number)) \
            or not np.isfinite(initial_population) or initial_population <= 0:
        raise _bad(owner, "initial_population", "a positive number of persons", repr(initial_population))
    years = int(start_year) + np.arange(int(horizon))
    path = forecaster.predict(years)
    if not np.all(np.isfinite(path) & (path > 0)):
        i = int(np.flatnonzero(~(np.isfinite(path) & (path > 0)))[0])
        raise ConfigurationError(
            f"{owner}: {forecaster!r} forecasts a non-positive or non-finite population "
            f"{path[i]!r} for year {int(years[i])}; it cannot give a population path."
        )
    return float(initial_population) * path / path[0]


__all__ = [
    "CENSUS_RESOURCE",
    "FORECASTERS",
    "INTERPOLATION_NOTE",
    "ExponentialForecaster",
    "Forecaster",
    "LinearForecaster",
    "LogisticForecaster",
    "NaiveForecaster",
    "annual_series",
    "backtest",
    "check_series",
    "clone",
    "forecast_population_path",
    "load_census",
    "logistic_curve",
    "make_forecaster",
    "training_series",
]
