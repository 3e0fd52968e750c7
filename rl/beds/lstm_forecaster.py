"""LSTM population forecaster (PyTorch), after Kabir, Shuvo & Ahmed (2021).

The seed paper (medRxiv 2021.10.06.21264654) forecasts the population of
Abhaynagar Upazila with an LSTM on a 20-step input window, trained on
1981-2001 and validated on 2001-2011. This file is that forecaster, small and
deterministic, behind the :class:`optalloc.families.beds.forecast.Forecaster` contract.

What it does
------------
* **Input series.** An evenly spaced (annual) series. For the upazila no
  annual series exists: use :func:`optalloc.families.beds.forecast.annual_series` /
  :func:`optalloc.families.beds.forecast.training_series`, an **annual series interpolated
  log-linearly between census points** — interpolated values, not
  observations, and this must be stated wherever results are reported.
* **What is learned.** The yearly log-differences ``d_t = log P_t - log
  P_{t-1}`` (growth rates), standardised by their training mean and standard
  deviation (the deviation floored at ``MIN_SCALE`` = 0.001, i.e. 0.1 %/year,
  because an exponential series has constant differences). Differences keep
  the network inside the range it was trained on when the population
  leaves it; a network on population levels would have to extrapolate.
* **Window.** ``window`` consecutive log-differences in, the next one out
  (a one-layer LSTM of ``hidden_size`` units and a linear head), trained by
  full-batch Adam on the mean squared error for ``epochs`` epochs.
* **Forecast.** Recursive: each predicted difference is appended to the
  window to predict the next; the population is the last training value times
  ``exp`` of the cumulative predicted differences.
* **Determinism.** Training and prediction run with ``torch.manual_seed(seed)``
  inside ``torch.random.fork_rng`` (the caller's global RNG is untouched) and
  on one thread (``torch.set_num_threads(1)``, restored afterwards), in
  float64: the same seed gives bit-identical predictions on the same machine.

The 20-step window and a short series
-------------------------------------
A 20-step window of log-differences plus one target needs 22 annual values.
The shipped census has no 1981 point, so a fit on data up to 2001 has only
1991-2001: 11 interpolated values, 10 log-differences. Two honest options:

* ``short_series="shrink"`` (default): use a shorter window,
  ``window_ = max(1, n_differences // 2)`` (5 for 1991-2001, leaving 5
  training windows), and say so with a ``UserWarning``; the window used is
  in ``window_``.
* ``short_series="error"``: refuse with a :class:`ConfigurationError`.

Backcasting the missing years (e.g. 1981-1990 from an exponential fitted to
1991-2001) was rejected: it fabricates ten values that carry no information
beyond the 1991-2001 growth rate — on log-differences it is the same as
padding the window with copies of that rate — while making the window look
like the paper's. Note also that with only the 1991 and 2001 census points,
the interpolated series is an exact exponential: its log-differences are all
equal, and no model fitted to it can learn more than that one growth rate.

Import only with torch installed (``pip install 'optalloc[rl]'``); without
torch this module raises :class:`optalloc.exceptions.DependencyNotInstalled`.
Build it by id with ``optalloc.families.beds.forecast.make_forecaster("lstm")``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import numpy as np

from optalloc.exceptions import DependencyNotInstalled
from optalloc.families.beds.forecast import Forecaster, _bad

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise DependencyNotInstalled(
        "optalloc.rl.beds.lstm_forecaster needs PyTorch; install it with: pip install 'optalloc[rl]'"
    ) from exc

#: Floor of the standard deviation used to standardise log-differences [log-units/year].
MIN_SCALE = 1e-3
SHORT_SERIES_MODES = ("shrink", "error")


class LSTMNet(nn.Module):
    """One-layer LSTM over a window of standardised log-differences, linear head to the next one.

    Input shape ``(batch, window, 1)``; output shape ``(batch,)``.
    """

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=1, hidden_size=hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1, :]).squeeze(-1)


@contextlib.contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """Seed torch in a forked RNG on one thread (the agents' helpers); restore the caller's state after."""
    from optalloc.rl.policy import seeded_torch, training_threads

    with training_threads(1), seeded_torch(seed):
        yield


class LSTMForecaster(Forecaster):
    """LSTM on yearly log-differences with recursive multi-step forecasts.

    See the module docstring for the method, determinism, and what happens
    when the series is shorter than the window (the 1991-2001 census case).

    Parameters
    ----------
    window : int, default 20
        Input window [steps of the series, i.e. years on an annual series];
        20 as in the seed paper.
    hidden_size : int, default 16
        LSTM units.
    epochs : int, default 400
        Full-batch Adam steps.
    learning_rate : float, default 0.01
        Adam step size.
    seed : int, default 0
        Seed of the weight initialisation.
    short_series : {"shrink", "error"}, default "shrink"
        Too few points for ``window``: shrink the window (with a
        ``UserWarning``) or raise :class:`ConfigurationError`.

    Attributes
    ----------
    window_ : int
        Window actually used.
    step_ : float
        Spacing of the training series [years].
    center_, scale_ : float
        Mean and (floored) standard deviation of the training
        log-differences [log-units per step].
    model_ : LSTMNet
        The trained network (float64, eval mode).
    scaled_differences_ : ndarray
        Standardised training log-differences (the network's input series).
    losses_ : ndarray, shape (epochs,)
        Training loss per epoch (standardised units).
    train_years_ : ndarray
        Training years [years].
    train_population_ : ndarray
        Training population [persons].
    """

    min_points = 3  # two log-differences: one input, one target

    def __init__(self, *, window: int = 20, hidden_size: int = 16, epochs: int = 400,
                 learning_rate: float = 0.01, seed: int = 0, short_series: str = "shrink") -> None:
        self.window = window
        self.hidden_size = hidden_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.seed = seed
        self.short_series = short_series

    # ------------------------------------------------------------ validation
    def _validate_params(self) -> None:
        owner = type(self).__name__
        for name, low in (("window", 1), ("hidden_size", 1), ("epochs", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise _bad(owner, name, f"an integer >= {low}", repr(value))
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not np.isfinite(lr) or lr <= 0:
            raise _bad(owner, "learning_rate", "a finite number > 0", repr(lr))
        if self.short_series not in SHORT_SERIES_MODES:
            raise _bad(owner, "short_series", f"one of {SHORT_SERIES_MODES}", repr(self.short_series))

    def _min_points(self) -> int:
        return self.min_points if self.short_series == "shrink" else int(self.window) + 2

    # ------------------------------------------------------------ fit
    def _fit(self, years: np.ndarray, population: np.ndarray) -> None:
        owner = type(self).__name__
        steps = np.diff(years)
        if not np.allclose(steps, steps[0], rtol=0, atol=1e-9):
            raise _bad(owner, "years", "evenly spaced (an annual series, e.g. from optalloc.families.beds.forecast.annual_series)",
                       f"spacings from {steps.min():g} to {steps.max():g} years")
        diffs = np.diff(np.log(population))
        n_diffs = len(diffs)
        window = int(self.window)
        if n_diffs < window + 1:
            # Only reachable in "shrink" mode: "error" mode requires window + 2 points in fit().
            window = max(1, n_diffs // 2)
            warnings.warn(
                f"{owner}: the training series has {len(years)} points ({n_diffs} log-differences), too few for "
                f"the {self.window}-step input window (needs {int(self.window) + 2} points: {self.window} input "
                f"differences and 1 target); using window_ = {window} (half the differences, "
                f"{n_diffs - window} training windows). Set short_series='error' to refuse instead.",
                UserWarning, stacklevel=3,
            )
        self.window_ = window
        self.step_ = float(steps[0])
        self.center_ = float(diffs.mean())
        self.scale_ = float(max(diffs.std(), MIN_SCALE))
        z = (diffs - self.center_) / self.scale_
        inputs = np.stack([z[i:i + window] for i in range(n_diffs - window)])[:, :, None]
        targets = z[window:]

        with _deterministic(int(self.seed)):
            model = LSTMNet(int(self.hidden_size)).double()
            optimiser = torch.optim.Adam(model.parameters(), lr=float(self.learning_rate))
            x, y = torch.from_numpy(inputs), torch.from_numpy(targets)
            losses = np.empty(int(self.epochs))
            for epoch in range(int(self.epochs)):
                optimiser.zero_grad()
                loss = torch.mean((model(x) - y) ** 2)
                loss.backward()
                optimiser.step()
                losses[epoch] = loss.item()
        self.model_ = model.eval()
        self.losses_ = losses
        self.train_years_ = years.copy()
        self.train_population_ = population.copy()
        self.scaled_differences_ = z

    # ------------------------------------------------------------ predict
    def _predict(self, years: np.ndarray) -> np.ndarray:
        owner = f"{type(self).__name__}.predict"
        offset = (years - self.last_year_) / self.step_
        steps = np.rint(offset)
        if np.any(np.abs(offset - steps) > 1e-9) or np.any(years < self.first_year_ - 1e-9):
            raise _bad(owner, "years",
                       f"years on the training grid (every {self.step_:g} years) from {self.first_year_:g} on",
                       repr(years.tolist()))
        steps = steps.astype(np.int64)
        out = np.empty(len(years))
        past = steps <= 0  # in-sample years: the training series itself
        out[past] = self.train_population_[len(self.train_population_) - 1 + steps[past]]
        ahead = int(steps.max(initial=0))
        if ahead > 0:
            path = self.forecast(ahead)
            out[~past] = path[steps[~past] - 1]
        return out

    def forecast(self, steps: int) -> np.ndarray:
        """Recursive forecast of the next ``steps`` steps after the training series.

        Returns
        -------
        ndarray, shape (steps,)
            Population [persons] at ``last_year_ + step_ * (1..steps)``.
        """
        self._check_fitted()
        history = list(self.scaled_differences_)
        with _deterministic(int(self.seed)), torch.no_grad():
            for _ in range(int(steps)):
                x = torch.tensor(history[-self.window_:], dtype=torch.float64).reshape(1, -1, 1)
                history.append(float(self.model_(x)[0]))
        predicted = self.center_ + self.scale_ * np.asarray(history[len(self.scaled_differences_):])
        return self.last_population_ * np.exp(np.cumsum(predicted))


__all__ = ["MIN_SCALE", "LSTMForecaster", "LSTMNet"]
