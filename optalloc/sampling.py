"""Fast exact sampling of scenario noise: counter-based random bits and sums over i.i.d. draws.

Compiled with numba on first use; the compiled code is cached in the user's
cache directory (:func:`kernel_cache_dir`), never inside the package. Two pieces:

Counter-based random bits
    Every random number is a function of a 64-bit key and a counter: the
    ``j``-th word of key ``k`` is ``mix64(k + (j + 1) * GOLDEN)``, SplitMix64's
    output function (Steele, Lea & Flood 2014; passes BigCrush). Episode keys
    come from the user's seed through :class:`numpy.random.SeedSequence`
    (:func:`optalloc.scenario.episode_keys`); :func:`subkeys` derives keys per
    year and per purpose. Nothing is sequential across episodes or years, so an
    episode's path depends only on ``(seed, stream, episode)``, a whole batch
    is drawn in one compiled call, and a noise path can store a year's many
    draws as one key.

Excess over i.i.d. draws, by inversion
    Bed costs need a year's ``n`` daily demands ``r_1..r_n`` only through the
    excess ``g(h) = sum_d max(r_d - h, 0)`` (unattended patient-days with ``h``
    beds). :func:`excess_levels` regenerates the days from their key and
    returns ``g`` at the requested levels; :func:`draw_values` returns the days
    themselves. Each day is drawn by inversion of a 53-bit uniform ``u``
    (``r = min{v : F(v) > u}``, ``F`` the CDF), the exact distribution of
    inverse-transform sampling in double precision, through a guide table
    (Chen & Asau 1974): the top :data:`GUIDE_BITS` bits of ``u`` select a
    cell; a cell that lies inside one step of ``F`` gives the value at once
    (about 95 % of cells for a Poisson mean near 60), and only a cell that
    straddles a step reads the remaining bits and searches. A day costs about
    3 ns and uses 10 random bits, so a year of 365 days takes about 1 us,
    with no per-day array.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numba import config as numba_config
from numba import njit
from scipy import stats

#: Bits of the uniform that index a guide table (cells of width ``2**-GUIDE_BITS``).
GUIDE_BITS = 10
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64's increment (odd, 2**64 / golden ratio)
_UNIT = 2.0**-53


# ---------------------------------------------------------------- where compiled kernels are cached
def kernel_cache_dir() -> Path:
    """Directory under which the compiled kernels of this module are cached.

    ``NUMBA_CACHE_DIR`` if the user set it (numba's own setting), else the
    user's cache directory: ``$XDG_CACHE_HOME/optalloc/numba`` or
    ``~/.cache/optalloc/numba`` on Linux (``~/Library/Caches/optalloc/numba``
    on macOS, ``%LOCALAPPDATA%\\optalloc\\Cache\\numba`` on Windows). Never a
    folder of the installed package: files left there by a compile outlive
    ``pip uninstall`` and turn the folder into a namespace package that
    shadows a later (editable) install of optalloc.

    Returns
    -------
    pathlib.Path
        The cache root; each source folder gets its own subfolder in it, so a
        wheel install and a source checkout never share cache files.
    """
    from numba.misc.appdirs import AppDirs

    if numba_config.CACHE_DIR:
        return Path(numba_config.CACHE_DIR)
    return Path(AppDirs(appname="optalloc", appauthor=False).user_cache_dir) / "numba"


@functools.cache
def _kernel_cache_class() -> type | None:
    """numba's function cache, located in :func:`kernel_cache_dir`; None if this numba lacks the machinery.

    Built on numba's cache-locator classes (those ``NUMBA_CACHE_LOCATOR_CLASSES``
    selects process-wide), used here per function. They have underscore
    names: should a numba release rename them, the kernels are compiled in
    every process instead of failing to import.
    """
    try:
        from numba.core.caching import (
            CompileResultCacheImpl,
            FunctionCache,
            _CacheLocator,
            _SourceFileBackedLocatorMixin,
        )
    except ImportError:
        return None

    class _UserCacheLocator(_SourceFileBackedLocatorMixin, _CacheLocator):
        """numba cache locator: :func:`kernel_cache_dir`, one subfolder per source folder.

        The subfolder is named as numba names its own (the source folder's name
        and a hash of its path); freshness is the source file's stamp, as for
        numba's locators. ``from_function`` returns None when the folder cannot
        be created or written.
        """

        def __init__(self, py_func: Callable[..., Any], py_file: str) -> None:
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = os.fspath(kernel_cache_dir() / self.get_suitable_cache_subpath(py_file))

        def get_cache_path(self) -> str:
            return self._cache_path

    class _KernelCacheImpl(CompileResultCacheImpl):
        # Only our locator: numba's default list starts with the package's own __pycache__.
        _locator_classes = [_UserCacheLocator]

    class _KernelCache(FunctionCache):
        """numba's function cache located by :class:`_UserCacheLocator`; I/O errors only turn it off."""

        _impl_class = _KernelCacheImpl

        def load_overload(self, sig: Any, target_context: Any) -> Any:
            try:
                return super().load_overload(sig, target_context)
            except OSError:  # an unreadable cache costs a compile, not a crash
                return None

        def save_overload(self, sig: Any, data: Any) -> None:
            try:
                super().save_overload(sig, data)
            except OSError as exc:  # e.g. the folder became read-only or the disk is full
                self.disable()
                warnings.warn(f"optalloc: not caching compiled kernels in {self.cache_path} ({exc}); "
                              "they will be compiled again in the next process.", RuntimeWarning, stacklevel=2)

    return _KernelCache


def _kernel(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(**options)`` with its compiled code cached in :func:`kernel_cache_dir`.

    ``njit(cache=True)`` would cache next to this file, inside the installed
    package; this attaches a cache with our own locator instead, to these
    functions only (numba's cache location for other packages is untouched).
    Without a writable cache folder the kernels are compiled in every process.
    """

    def decorate(func: Callable[..., Any]) -> Any:
        dispatcher = njit(**options)(func)
        cache_class = _kernel_cache_class()
        try:
            if cache_class is not None:
                dispatcher._cache = cache_class(dispatcher.py_func)  # what Dispatcher.enable_caching sets
        except RuntimeError:  # numba found no usable cache folder ("no locator available")
            pass
        return dispatcher

    return decorate


@_kernel(inline="always")
def _mix64(z: np.uint64) -> np.uint64:
    """SplitMix64's output function: a bijective 64-bit mixer."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@_kernel()
def subkeys(keys: np.ndarray, count: int) -> np.ndarray:
    """The first ``count`` words of each key's stream: ``out[i, j] = mix64(keys[i] + (j + 1) * GOLDEN)``.

    Parameters
    ----------
    keys : ndarray of uint64, shape (R,)
    count : int

    Returns
    -------
    ndarray of uint64, shape (R, count)
        Random words, also used as keys of independent sub-streams.
    """
    out = np.empty((keys.shape[0], count), dtype=np.uint64)
    for i in range(keys.shape[0]):
        state = keys[i]
        for j in range(count):
            state += _GOLDEN
            out[i, j] = _mix64(state)
    return out


def uniforms(words: np.ndarray) -> np.ndarray:
    """53-bit uniforms on ``[0, 1)`` from random 64-bit words (their top 53 bits)."""
    return (words >> np.uint64(11)).astype(np.float64) * _UNIT


class InversionTable:
    """CDF rows of discrete distributions on the integers, with their guide tables.

    Row ``i`` holds ``F_i(base[i] + k)`` for ``k = 0..width-1``, from the first
    value with ``F > 0`` to the first with ``F = 1`` (padded with 1.0), so
    inversion of any 53-bit uniform stays inside the row.

    Parameters
    ----------
    base : ndarray of int, shape (M,)
        Smallest value of each row.
    cdf : ndarray, shape (M, width)
        Non-decreasing CDF values; every row reaches 1.0.
    """

    def __init__(self, base: np.ndarray, cdf: np.ndarray) -> None:
        self.base = np.ascontiguousarray(base, dtype=np.int64)
        self.cdf = np.ascontiguousarray(cdf, dtype=np.float64)
        if not np.all(self.cdf[:, -1] == 1.0):
            raise ValueError("every CDF row must reach 1.0")
        self.guide = _guide_tables(self.cdf, GUIDE_BITS)

    @classmethod
    def poisson(cls, means: np.ndarray) -> InversionTable:
        """Rows of Poisson distributions with the given means (>= 0)."""
        means = np.asarray(means, dtype=np.float64).ravel()
        sd = np.sqrt(means)
        # F > 0 in double precision from about 39 sd below the mean; F = 1 within about 9 sd above.
        first = np.maximum(np.floor(means - 40 * sd - 10), 0).astype(np.int64)
        last = np.ceil(means + 15 * sd + 20).astype(np.int64)
        grid = first[:, None] + np.arange(int((last - first).max()) + 1)[None, :]
        cdf = stats.poisson.cdf(grid, means[:, None])
        shift = np.argmax(cdf > 0, axis=1)  # drop the leading exact zeros
        width = int((np.argmax(cdf >= 1.0, axis=1) - shift).max()) + 1
        rows = np.arange(len(means))[:, None]
        cols = np.minimum(shift[:, None] + np.arange(width)[None, :], grid.shape[1] - 1)
        table = np.where(np.arange(width)[None, :] + shift[:, None] < grid.shape[1], cdf[rows, cols], 1.0)
        return cls(first + shift, np.maximum.accumulate(table, axis=1))


@_kernel()
def _guide_tables(cdfs: np.ndarray, bits: int) -> np.ndarray:
    """``F^{-1}`` at each cell's left end, as ``k`` if constant on the cell's 53-bit grid points, else ``-1 - k``."""
    cells = 1 << bits
    out = np.empty((cdfs.shape[0], cells), dtype=np.int32)
    for m in range(cdfs.shape[0]):
        cdf = cdfs[m]
        v = 0
        for j in range(cells):
            while cdf[v] <= j / cells:
                v += 1
            w = v
            while cdf[w] <= (j + 1) / cells - _UNIT:  # the cell's last grid point
                w += 1
            out[m, j] = v if w == v else -1 - v
    return out


@_kernel()
def _histogram(key: np.uint64, cdf: np.ndarray, guide: np.ndarray, draws: int, hist: np.ndarray,
               values: np.ndarray) -> tuple[int, int]:
    """Add ``draws`` inversion draws of stream ``key`` to ``hist`` (and write them to ``values`` if non-empty).

    Returns the smallest and largest draw (row offsets).
    """
    bits = 0
    while (1 << bits) < guide.shape[0]:
        bits += 1
    per_word = 64 // bits
    mask = np.uint64((1 << bits) - 1)
    rest_shift = np.uint64(11 + bits)  # a straddling cell reads the remaining 53 - bits bits of a fresh word
    cell_scale = float(1 << (53 - bits))
    state, word, left = key, np.uint64(0), 0
    lo, hi = cdf.shape[0], -1
    keep = values.shape[0] > 0
    for d in range(draws):
        if left == 0:
            state += _GOLDEN
            word = _mix64(state)
            left = per_word
        cell = np.int64(word & mask)
        word >>= np.uint64(bits)
        left -= 1
        v = guide[cell]
        if v < 0:
            state += _GOLDEN
            u = (cell * cell_scale + float(_mix64(state) >> rest_shift)) * _UNIT
            v = -1 - v
            while cdf[v] <= u:
                v += 1
        hist[v] += 1
        lo = min(lo, v)
        hi = max(hi, v)
        if keep:
            values[d] = v
    return lo, hi


@_kernel()
def excess_levels(keys: np.ndarray, rows: np.ndarray, base: np.ndarray, cdfs: np.ndarray, guides: np.ndarray,
                  draws: int, levels: np.ndarray) -> np.ndarray:
    """``g(h) = sum_d max(r_d - h, 0)`` over ``draws`` i.i.d. draws per key, at given levels.

    Parameters
    ----------
    keys : ndarray of uint64, shape (R,)
        Stream of each set of draws.
    rows : ndarray of int, shape (R,)
        Row of :class:`InversionTable` (``base``, ``cdfs``, ``guides``) each set is drawn from.
    base, cdfs, guides
        The table's arrays.
    draws : int
        Draws per set (days of the year).
    levels : ndarray of int, shape (R, K)
        Levels ``h`` at which to evaluate each set's ``g``.

    Returns
    -------
    ndarray of float64, shape (R, K)
    """
    width = cdfs.shape[1]
    out = np.zeros(levels.shape, dtype=np.float64)
    if draws <= 0:  # no draws: nothing exceeds any level
        return out
    hist = np.zeros(width, dtype=np.int64)
    curve = np.zeros(width, dtype=np.int64)
    no_values = np.empty(0, dtype=np.int64)
    for i in range(keys.shape[0]):
        r = rows[i]
        lo, hi = _histogram(keys[i], cdfs[r], guides[r], draws, hist, no_values)
        # g(h) = g(h + 1) + #{d : r_d > h}, from g(hi) = 0 downwards; clears the histogram on the way.
        above, g = 0, 0
        for h in range(hi, lo - 1, -1):
            curve[h] = g
            above += hist[h]
            hist[h] = 0
            g += above
        for k in range(levels.shape[1]):
            h = levels[i, k] - base[r]
            if h >= hi:
                out[i, k] = 0.0
            elif h >= lo:
                out[i, k] = curve[h]
            else:  # every draw exceeds h
                out[i, k] = curve[lo] + (lo - h) * draws
    return out


@_kernel()
def draw_values(keys: np.ndarray, rows: np.ndarray, base: np.ndarray, cdfs: np.ndarray, guides: np.ndarray,
                draws: int) -> np.ndarray:
    """The draws themselves, shape ``(R, draws)``, in the order they are made (same streams as :func:`excess_levels`)."""
    out = np.empty((keys.shape[0], draws), dtype=np.int64)
    hist = np.zeros(cdfs.shape[1], dtype=np.int64)
    for i in range(keys.shape[0]):
        r = rows[i]
        _histogram(keys[i], cdfs[r], guides[r], draws, hist, out[i])
        hist[:] = 0
        out[i] += base[r]
    return out


__all__ = ["GUIDE_BITS", "InversionTable", "draw_values", "excess_levels", "kernel_cache_dir", "subkeys", "uniforms"]
