"""Progress bars: one place that decides where they show.

A bar is drawn on standard error when it is a terminal (or in a notebook,
where tqdm draws a widget); where standard error is a file or a pipe -- a CI
log, ``nohup``, a redirect -- it is left out, since there every refresh would
append a carriage-return-separated copy of the bar to one ever-growing line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["progress_bar"]


def progress_bar(iterable: Iterable[Any] | None = None, *, enabled: bool = True, **options: Any) -> Any:
    """A ``tqdm.auto`` bar that vanishes when done, shown only on a terminal or in a notebook.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over (as ``tqdm(iterable)``); None: a bar updated by hand.
    enabled : bool, default True
        False: never shown (``--no-progress``, ``--json``).
    **options
        Further ``tqdm`` keywords (``total``, ``desc``, ``unit``, ...).

    Returns
    -------
    tqdm.tqdm
        The bar (a disabled one iterates and draws nothing).
    """
    from tqdm.auto import tqdm

    # disable=None: tqdm's own test, off where the stream is not a terminal (its notebook widget keeps showing).
    return tqdm(iterable, disable=None if enabled else True, leave=False, **options)
