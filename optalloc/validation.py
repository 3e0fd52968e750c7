"""Messages for misspelt names: "did you mean" hints and unknown-key errors.

Every place that checks a user-given name (a scenario or policy id, a
parameter, an option, a key of a suite file) against the names it knows
builds its hint here, so all of them suggest the same close matches in the
same words.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from optalloc.exceptions import ConfigurationError, UnknownIdError

__all__ = ["check_known_keys", "did_you_mean", "unknown_id_error"]


def did_you_mean(given: object, known: Iterable[str], *, n: int = 1, cutoff: float = 0.6, clause: bool = False) -> str:
    """A hint naming the known names closest to a misspelt one.

    Parameters
    ----------
    given : object
        The name that was given (converted with ``str``).
    known : iterable of str
        The names that would have been accepted.
    n : int, default 1
        Largest number of names suggested, best match first.
    cutoff : float, default 0.6
        Smallest similarity ratio (:class:`difflib.SequenceMatcher`, 0 to 1)
        of a suggested name.
    clause : bool, default False
        Phrase the hint as a clause continuing the sentence before it
        (``"; did you mean 'x'?"``) instead of a sentence of its own
        (``" Did you mean 'x'?"``).

    Returns
    -------
    str
        ``" Did you mean 'x'?"`` (several names joined by ``" or "``), or
        ``""`` when no known name is close enough.

    Examples
    --------
    >>> did_you_mean("horizn", ["horizon", "discount"])
    " Did you mean 'horizon'?"
    >>> did_you_mean("zzz", ["horizon"])
    ''
    """
    close = difflib.get_close_matches(str(given), [str(k) for k in known], n=n, cutoff=cutoff)
    if not close:
        return ""
    names = " or ".join(repr(c) for c in close)
    return f"; did you mean {names}?" if clause else f" Did you mean {names}?"


def check_known_keys(owner: str, given_keys: Iterable[str], known_keys: Iterable[str], what: str = "parameter(s)") -> None:
    """Refuse keys that are not among the known ones.

    Parameters
    ----------
    owner : str
        What the keys belong to, as it should read in the message
        (``"policy 'rigid'"``, ``"scenario beds/seed002-v0"``).
    given_keys : iterable of str
        The keys that were given.
    known_keys : iterable of str
        The keys that are accepted, listed in the message in this order.
    what : str, default "parameter(s)"
        What the keys are, plural form.

    Raises
    ------
    ConfigurationError
        If some given keys are unknown: ``"Unknown parameter(s) ['kk'] for
        policy 'rigid'; expected some of ['k', ...]. Did you mean 'k'?"``
        (the unknown keys sorted, one hint per unknown key that has a close
        match).
    """
    known = list(known_keys)
    unknown = sorted(set(given_keys) - set(known))
    if unknown:
        hints = "".join(did_you_mean(key, known) for key in unknown)
        raise ConfigurationError(f"Unknown {what} {unknown} for {owner}; expected some of {known}.{hints}")


def unknown_id_error(kind: str, given: object, known: Iterable[str]) -> UnknownIdError:
    """The error for an id that is not registered (to be raised by the caller).

    Parameters
    ----------
    kind : str
        What the id names (``"scenario"``, ``"policy"``, ``"forecaster"``).
    given : object
        The id that was given.
    known : iterable of str
        The registered ids, listed in the message in this order.

    Returns
    -------
    UnknownIdError
        ``"Unknown policy id 'rigd'; known: dp, rigid. Did you mean 'rigid'?"``
        with up to three close matches.
    """
    known = list(known)
    hint = did_you_mean(given, known, n=3, cutoff=0.5)
    return UnknownIdError(f"Unknown {kind} id {given!r}; known: {', '.join(known)}.{hint}")
