#!/usr/bin/env python
"""Backtest of the population forecasters on the shipped Abhaynagar census series.

Every forecaster is fitted on the annual series interpolated log-linearly
between the census points up to the cutoff (default 2001: census points 1991
and 2001 only, so 1991-2001) and predicts the later census years (default
2011 and 2022). Prints the table of predictions and errors, the fit warnings
(the LSTM's shortened window, the logistic's unidentified carrying capacity),
how much the logistic forecast depends on its capacity bound, fit times, and
the data caveats (the 2022 census value is from a single secondary source).

Usage::

    python benchmarks/forecast_backtest.py
    python benchmarks/forecast_backtest.py --cutoff 2011 --targets 2022
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from optalloc.families.beds.forecast import (
    ExponentialForecaster,
    Forecaster,
    LinearForecaster,
    LogisticForecaster,
    NaiveForecaster,
    backtest,
    clone,
    load_census,
    training_series,
)


def forecasters() -> dict[str, Forecaster]:
    models: dict[str, Forecaster] = {
        "naive (no growth)": NaiveForecaster(),
        "linear": LinearForecaster(),
        "exponential": ExponentialForecaster(),
        "logistic": LogisticForecaster(),
    }
    try:
        from optalloc.rl.beds.lstm_forecaster import LSTMForecaster
    except ImportError as exc:
        print(f"LSTM skipped: {exc}")
    else:
        models["LSTM (seed 0)"] = LSTMForecaster()
    return models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cutoff", type=int, default=2001, help="last year of data used for fitting")
    parser.add_argument("--targets", type=int, nargs="+", default=None,
                        help="census years to predict (default: every census year after the cutoff)")
    args = parser.parse_args(argv)

    census = load_census()
    targets = args.targets or [int(y) for y in census["year"] if y > args.cutoff]
    models = forecasters()
    years, population = training_series(census, args.cutoff)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collected in table.attrs["fit_warnings"] and printed below
        table = backtest(models, cutoff=args.cutoff, targets=targets, census=census)

    print("Population forecast backtest - Abhaynagar Upazila census (optalloc/families/beds/data/abhaynagar_population.csv)")
    print("Census points: " + ", ".join(f"{y}: {p:,}" for y, p in zip(census["year"], census["population"])))
    print(f"Training data: {table.attrs['training_note']}.")
    print(f"  i.e. {len(years)} annual values, {years[0]}-{years[-1]}; the values between census years are "
          "interpolated, not observed.")
    c_past = census[census["year"] <= args.cutoff]
    if len(c_past) == 2:
        y0, y1 = c_past["year"].tolist()
        p0, p1 = c_past["population"].tolist()
        print(f"  With two census points the interpolated series is an exact exponential "
              f"({100 * ((p1 / p0) ** (1 / (y1 - y0)) - 1):.3f} %/year): every model sees only that growth rate.")
    print()

    shown = table.drop(columns="source").copy()
    shown["predicted"] = shown["predicted"].map("{:,.0f}".format)
    shown["census"] = shown["census"].map("{:,.0f}".format)
    shown["error"] = shown["error"].map("{:+,.0f}".format)
    shown["abs_error"] = shown["abs_error"].map("{:,.0f}".format)
    shown["pct_error"] = shown["pct_error"].map("{:.2f}".format)
    print("Predictions [persons] and errors (error = predicted - census; pct_error = 100 |error| / census):")
    print(shown.to_string(index=False))
    print()
    summary = table.pivot(index="forecaster", columns="year", values="pct_error").loc[list(models)]
    summary["mean"] = summary.mean(axis=1)
    print("Absolute percentage error [%] by target year:")
    print(summary.to_string(float_format="{:.2f}".format))
    print()

    print("Fit notes:")
    for name, messages in table.attrs["fit_warnings"].items():
        for message in messages:
            print(f"  {name}: {message}")
    logistic_at_bound = any("upper bound" in m for name, msgs in table.attrs["fit_warnings"].items()
                            if isinstance(models[name], LogisticForecaster) for m in msgs)
    if logistic_at_bound:
        print("  logistic: K sits at its bound, so its forecast is set by that (arbitrary) bound, not by the data:")
        for ratio in (3.0, 10.0, 100.0):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = LogisticForecaster(max_capacity_ratio=ratio).fit(years, population)
            values = ", ".join(f"{t}: {v:,.0f}" for t, v in zip(targets, model.predict(targets)))
            print(f"    max_capacity_ratio={ratio:g} -> K = {model.capacity_:,.0f}; {values}")
    print()

    print("Fit time on this machine [s]:")
    for name, prototype in models.items():
        model = clone(prototype)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(years, population)
        print(f"  {name:<20} {time.perf_counter() - start:7.3f}")
    print()

    print("Reading the table:")
    cy, cp = census["year"].to_numpy(), census["population"].to_numpy(dtype=float)
    rates = ", ".join(f"{a}-{b}: {100 * ((q / p) ** (1 / (b - a)) - 1):.2f} %/year"
                      for a, b, p, q in zip(cy, cy[1:], cp, cp[1:]))
    print(f"  Census growth between census points: {rates}.")
    print("  A model fitted up to the cutoff cannot know how growth changes after it: where growth slowed, models")
    print("  that bend below the exponential (linear; a logistic with K at its bound) score better by")
    print("  construction, not by skill. Two to four census points cannot separate these models.")
    lstm = [name for name, m in models.items() if type(m).__name__ == "LSTMForecaster"]
    expo = [name for name, m in models.items() if isinstance(m, ExponentialForecaster)]
    if lstm and expo:
        a = table.loc[table["forecaster"] == lstm[0], "predicted"].to_numpy()
        b = table.loc[table["forecaster"] == expo[0], "predicted"].to_numpy()
        gap = float(np.max(np.abs(a / b - 1)))
        print(f"  {lstm[0]} vs {expo[0]}: largest relative difference {100 * gap:.4f} %"
              + (" - on a series with constant log-differences the LSTM can only continue that growth rate."
                 if gap < 1e-4 else "."))
    print()
    print("Data caveats:")
    for year, source in zip(census["year"], census["source"]):
        if year in targets and "unverified" in source:
            value = census.loc[census["year"] == year, "population"].item()
            print(f"  The {year} census value ({value:,}) is from a single secondary source and is unverified "
                  f"(CSV source: {source!r}); its errors are only as good as that number.")
    print("  No 1981 census point is available (the seed paper trained its LSTM on 1981-2001).")
    print("  All annual values are interpolated log-linearly between census points.")
    return 0


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    raise SystemExit(main())
