"""Checks of user input that apply to every scenario, policy and command.

Each check raises a subclass of :class:`~optalloc.exceptions.OptallocError`
whose message names what was wrong, what was expected and what was given, so
the command line prints it as one line and exits with code 2:

* :func:`check_finite_params` -- no infinite or NaN number anywhere in a
  parameter mapping (``inf``, and literals such as ``1e400`` that overflow to it);
* :func:`check_instance` -- the Python API's argument types;
* :func:`check_memory` -- refuse, before allocating, a request whose memory
  estimate exceeds what the machine has;
* :func:`check_output_path` -- an output file can be written, checked before
  any work starts.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from optalloc.exceptions import ConfigurationError, OutputPathError, ResourceLimitError, bad_value

#: What a ``scenario`` argument must be, as error messages say it.
A_SCENARIO = "a Scenario (optalloc.make_scenario(id))"
#: Environment variable that overrides the memory limit [GiB].
MEMORY_LIMIT_ENV = "OPTALLOC_MEMORY_LIMIT_GB"


def _non_finite(value: Any, where: str) -> tuple[str, Any] | None:
    """The first non-finite number inside ``value`` (nested lists, tuples, dicts) and where it is."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) or hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        try:
            return None if math.isfinite(float(value)) else (where, value)
        except (TypeError, ValueError, OverflowError):
            return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _non_finite(item, f"{where}[{key!r}]")
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _non_finite(item, f"{where}[{i}]")
            if found:
                return found
    return None


def check_finite_params(owner: str, params: Mapping[str, Any]) -> None:
    """Refuse infinite and NaN numbers in a parameter mapping.

    No parameter of any scenario or policy is meaningful at infinity: a cost,
    rate, probability or budget of ``inf`` (or of ``1e400``, which a parser
    turns into ``inf``) would only turn into NaN costs or endless loops later.

    Parameters
    ----------
    owner : str
        What the parameters belong to (``"scenario beds/seed002-v0"``, ``"PPOPolicy"``).
    params : mapping
        Parameter name to value; lists, tuples and dicts are searched.

    Raises
    ------
    ConfigurationError
        Naming the first non-finite value.
    """
    for name, value in params.items():
        found = _non_finite(value, str(name))
        if found:
            raise bad_value(owner, found[0], "a finite number", found[1])


def check_instance(name: str, value: Any, expected: type | tuple[type, ...], what: str) -> None:
    """Raise :class:`ConfigurationError` unless ``value`` is an instance of ``expected``.

    Parameters
    ----------
    name : str
        Argument name (``"scenario"``).
    value : object
    expected : type or tuple of types
    what : str
        What would have been accepted, in words (``"a Scenario (optalloc.make_scenario(id))"``).
    """
    if not isinstance(value, expected):
        shown = repr(value) if isinstance(value, (str, int, float, type(None))) else f"a {type(value).__name__}"
        raise ConfigurationError(f"The {name!r} argument must be {what}. Got {shown} instead.")


def check_seed(seed: Any, name: str = "seed", *, optional: bool = True) -> None:
    """Raise :class:`ConfigurationError` unless ``seed`` is a non-negative integer (or None if ``optional``)."""
    if seed is None and optional:
        return
    import numpy as np  # here: the registry and the command line use this module without numpy

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        expected = "a non-negative integer" + (" or None" if optional else "")
        raise ConfigurationError(f"The {name!r} parameter must be {expected}. Got {seed!r} instead.")


def memory_limit() -> float:
    """Largest memory a single request may need [bytes].

    ``OPTALLOC_MEMORY_LIMIT_GB`` if set, else 80 % of the machine's physical memory.
    """
    text = os.environ.get(MEMORY_LIMIT_ENV)
    if text:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (math.isfinite(value) and value > 0):
            raise ConfigurationError(
                f"The environment variable {MEMORY_LIMIT_ENV} must be a positive number of GiB. Got {text!r} instead."
            )
        return value * 2**30
    try:
        return 0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: assume a modest machine
        return 8 * 2**30


def format_bytes(nbytes: float) -> str:
    """``3.2 GiB``-style size."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:,.1f} {unit}"
    return f"{nbytes:,.0f} B"


def check_memory(what: str, nbytes: float, advice: str) -> None:
    """Refuse a request whose memory estimate exceeds :func:`memory_limit`, before anything is allocated.

    Parameters
    ----------
    what : str
        The request, with its sizes (``"evaluating 10,000,000 episodes x 30 epochs"``).
    nbytes : float
        Estimated peak memory [bytes].
    advice : str
        What to lower (``"lower --episodes"``).

    Raises
    ------
    ResourceLimitError
    """
    limit = memory_limit()
    if not nbytes <= limit:
        raise ResourceLimitError(
            f"{what[0].upper()}{what[1:]} would need about {format_bytes(nbytes)} of memory, more than the "
            f"{format_bytes(limit)} this machine allows ({MEMORY_LIMIT_ENV} sets the limit); {advice}."
        )


def check_output_path(path: str | Path, what: str = "output file") -> Path:
    """Check that ``path`` can be written as a file, before any work starts.

    The parent folder must exist and be writable, and ``path`` must not be a
    folder. Nothing is created.

    Parameters
    ----------
    path : str or Path
    what : str
        The option it came from (``"--csv"``).

    Returns
    -------
    Path

    Raises
    ------
    OutputPathError
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"The {what} {str(path)!r} is a folder; expected a file path.")
    parent = path.parent
    for ancestor in (parent, *parent.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputPathError(f"The {what} {str(path)!r} lies under {str(ancestor)!r}, which is a file.")
            break
    if not parent.is_dir():
        raise OutputPathError(f"The folder of the {what} {str(path)!r} does not exist: create {str(parent)!r} first.")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputPathError(f"The {what} {str(path)!r} cannot be written: {str(parent)!r} is read-only.")
    return path


def read_document(path: Path, parse: Callable[[str], Any], *, file: str, folder: str, expected: str,
                  language: str, errors: tuple[type[Exception], ...]) -> Any:
    """Read and parse a user's text file (a suite, an instance); each way it can fail is one clear line.

    Parameters
    ----------
    path : Path
        The file.
    parse : callable ``str -> object``
        ``tomllib.loads``, ``json.loads``, ...
    file, folder : str
        How messages name the file (``"Suite file 'x.toml'"``) and the path when it is
        a folder or does not parse (``"Suite 'x.toml'"``).
    expected : str
        What a folder should have been (``"a suite file (.toml)"``).
    language : str
        The format, for a parse error (``"TOML"``).
    errors : tuple of exception types
        What ``parse`` raises on malformed text.

    Raises
    ------
    ConfigurationError
        Missing, a folder, unreadable, not text, or malformed.
    """
    shown = repr(str(path))
    try:
        text = path.read_text(encoding="utf-8")
        return parse(text)
    except FileNotFoundError:
        raise ConfigurationError(f"{file} {shown} does not exist.") from None
    except IsADirectoryError:
        raise ConfigurationError(f"{folder} {shown} is a folder; expected {expected}.") from None
    except PermissionError:
        raise ConfigurationError(f"{file} {shown} cannot be read (permission denied).") from None
    except (*errors, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{folder} {shown} is not valid {language}: {exc}") from None
    except OSError as exc:
        raise ConfigurationError(f"{file} {shown} cannot be read: {exc.strerror or exc}") from None
