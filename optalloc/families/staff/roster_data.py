"""The data of a nurse-rostering benchmark instance (Curtois; Burke & Curtois 2014), and its reader.

An instance is a horizon of ``D`` days starting on a Monday, ``K`` shift
types, ``N`` nurses with their contract limits, fixed days off, weighted
shift-on and shift-off requests, and a weighted cover requirement per day and
shift type. :class:`RosterData` holds it as index-based NumPy arrays, which
both the Pyomo block and the independent checker read; a roster is an
``(N, D)`` integer array: the shift index worked by nurse ``n`` on day ``d``,
or :data:`OFF` (``-1``).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, TextIO

import numpy as np

from optalloc.exceptions import ConfigurationError, bad_value
from optalloc.families.staff import ROSTER_INSTANCES
from optalloc.validation import did_you_mean

__all__ = ["OFF", "RosterData", "read_roster", "shipped_instance_path"]

#: The value of a day off in a roster array.
OFF = -1


@dataclass(frozen=True, eq=False)
class RosterData:
    """One rostering instance, index-based (nurse ``n``, day ``d``, shift type ``k``).

    Attributes
    ----------
    name : str
        Instance name (``"Instance1"``).
    days : int
        Horizon ``D`` [days]; day 0 is a Monday, days ``5, 6`` (mod 7) are the weekend.
    shift_ids : tuple of str
        Shift-type ids, length ``K`` (``("D", "L", "N")``).
    shift_minutes : ndarray of int, shape (K,)
        Length of each shift type [minutes].
    forbidden : ndarray of bool, shape (K, K)
        ``forbidden[a, b]``: shift ``b`` may not be worked on the day after shift ``a``.
    nurse_ids : tuple of str
        Nurse ids, length ``N``.
    max_shifts : ndarray of int, shape (N, K)
        Most shifts of each type a nurse may work over the horizon.
    max_minutes, min_minutes : ndarray of int, shape (N,)
        Most and fewest minutes a nurse works over the horizon [minutes].
    max_consecutive, min_consecutive : ndarray of int, shape (N,)
        Most and fewest consecutive days worked (runs touching day 0 or day ``D-1``
        are exempt from the minimum).
    min_consecutive_off : ndarray of int, shape (N,)
        Fewest consecutive days off (runs touching day 0 or day ``D-1`` are exempt).
    max_weekends : ndarray of int, shape (N,)
        Most weekends worked (a weekend is worked when Saturday or Sunday is).
    days_off : ndarray of bool, shape (N, D)
        Days a nurse may not work (hard).
    on_weight, off_weight : ndarray of float, shape (N, D, K)
        Penalty [points] if a requested shift is not worked / an unwanted shift is worked; 0: no request.
    cover : ndarray of int, shape (D, K)
        Nurses wanted on each shift of each day.
    under_weight, over_weight : ndarray of float, shape (D, K)
        Penalty [points] per nurse short of / beyond the cover.
    """

    name: str
    days: int
    shift_ids: tuple[str, ...]
    shift_minutes: np.ndarray
    forbidden: np.ndarray
    nurse_ids: tuple[str, ...]
    max_shifts: np.ndarray
    max_minutes: np.ndarray
    min_minutes: np.ndarray
    max_consecutive: np.ndarray
    min_consecutive: np.ndarray
    min_consecutive_off: np.ndarray
    max_weekends: np.ndarray
    days_off: np.ndarray
    on_weight: np.ndarray
    off_weight: np.ndarray
    cover: np.ndarray
    under_weight: np.ndarray
    over_weight: np.ndarray

    @property
    def n_nurses(self) -> int:
        """``N``."""
        return len(self.nurse_ids)

    @property
    def n_shifts(self) -> int:
        """``K``."""
        return len(self.shift_ids)

    @property
    def weekends(self) -> list[tuple[int, ...]]:
        """The weekends inside the horizon, as tuples of day indices (``(5, 6)``, ``(12, 13)``, ...)."""
        return [tuple(d for d in (s, s + 1) if d < self.days) for s in range(5, self.days, 7)]


# ---------------------------------------------------------------- shipped files
#: Number of benchmark files shipped in ``data/curtois/`` (Instance1 .. Instance24).
SHIPPED_INSTANCES = ROSTER_INSTANCES
_SHIPPED_FOLDER = Path(__file__).parent / "data" / "curtois"


def shipped_instance_path(number: int) -> Path:
    """The path of a benchmark file shipped with the package.

    Parameters
    ----------
    number : int
        Instance number, 1 to 24.

    Returns
    -------
    pathlib.Path
        ``.../optalloc/families/staff/data/curtois/Instance<number>.txt``.

    Raises
    ------
    ConfigurationError
        If ``number`` is not an integer from 1 to 24.
    """
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)) \
            or not 1 <= number <= SHIPPED_INSTANCES:
        raise bad_value("shipped_instance_path", "number", f"an integer from 1 to {SHIPPED_INSTANCES}", number)
    return _SHIPPED_FOLDER / f"Instance{int(number)}.txt"


# ---------------------------------------------------------------- the reader
_HORIZON = "SECTION_HORIZON"
_SHIFTS = "SECTION_SHIFTS"
_STAFF = "SECTION_STAFF"
_DAYS_OFF = "SECTION_DAYS_OFF"
_ON = "SECTION_SHIFT_ON_REQUESTS"
_OFF_REQUESTS = "SECTION_SHIFT_OFF_REQUESTS"
_COVER = "SECTION_COVER"
#: Every section of the format, in the order the benchmark files list them.
SECTIONS = (_HORIZON, _SHIFTS, _STAFF, _DAYS_OFF, _ON, _OFF_REQUESTS, _COVER)
#: Sections a file must have; the others may be absent (no days off, no requests).
REQUIRED_SECTIONS = (_HORIZON, _SHIFTS, _STAFF, _COVER)

_STAFF_FIELDS = ("ID", "MaxShifts", "MaxTotalMinutes", "MinTotalMinutes", "MaxConsecutiveShifts",
                 "MinConsecutiveShifts", "MinConsecutiveDaysOff", "MaxWeekends")
_REQUEST_FIELDS = ("EmployeeID", "Day", "ShiftID", "Weight")
_COVER_FIELDS = ("Day", "ShiftID", "Requirement", "Weight for under", "Weight for over")


class _LineError(Exception):
    """A fault of one line; the reader adds the file, line number and section."""


class _Line(NamedTuple):
    number: int  # 1-based line number in the file
    text: str  # the line without its comment and surrounding blanks
    fields: list[str]  # comma-separated fields, each stripped


def _fields(line: _Line, names: tuple[str, ...]) -> list[str]:
    """The fields of a fixed-width row; one trailing comma (an empty last field) is tolerated."""
    fields = line.fields
    if len(fields) == len(names) + 1 and fields[-1] == "":
        fields = fields[:-1]
    if len(fields) != len(names):
        raise _LineError(f"expected {len(names)} comma-separated fields \"{', '.join(names)}\"; "
                         f"got {len(fields)}: {_quote(line.text)}")
    return fields


def _quote(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


def _integer(text: str, what: str, low: int = 0) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _LineError(f"{what}: expected an integer >= {low}; got {text!r}") from None
    if value < low:
        raise _LineError(f"{what}: expected an integer >= {low}; got {text!r}")
    return value


def _weight(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _LineError(f"{what}: expected a non-negative number; got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise _LineError(f"{what}: expected a non-negative number; got {text!r}")
    return value


def _day(text: str, days: int, what: str = "day") -> int:
    try:
        value = int(text)
    except ValueError:
        raise _LineError(f"{what}: expected a day index 0..{days - 1}; got {text!r}") from None
    if not 0 <= value < days:
        raise _LineError(f"{what}: expected a day index 0..{days - 1} (the horizon is {days} days); got {text!r}")
    return value


def _lookup(ids: dict[str, int], given: str, kind: str) -> int:
    """The index of id ``given`` of a ``kind`` (``"staff"`` or ``"shift"``) in ``ids``."""
    if given in ids:
        return ids[given]
    known = list(ids)
    shown = ", ".join(known[:12]) + (f", ... ({len(known)} in all)" if len(known) > 12 else "")
    listing = "staff" if kind == "staff" else f"{kind}s"
    raise _LineError(f"unknown {kind} id {given!r}{did_you_mean(given, known, clause=True)} ({listing}: {shown})")


def _source_text(source: str | os.PathLike | TextIO) -> tuple[str, str]:
    """The text of ``source`` and the file label used in messages."""
    if isinstance(source, str) and "\n" in source:
        raise bad_value("read_roster", "source", "a path or an open text file (wrap the text of a file in "
                        "io.StringIO)", source[:40] + "...")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            # utf-8-sig: a byte-order mark written by some editors is not part of the first line.
            return path.read_text(encoding="utf-8-sig"), path.name
        except FileNotFoundError:
            raise ConfigurationError(f"Rostering file {str(path)!r} does not exist.") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigurationError(f"Rostering file {str(path)!r} cannot be read as text: {error}") from None
    if isinstance(source, io.TextIOBase) or hasattr(source, "read"):
        text = source.read()
        if not isinstance(text, str):
            raise bad_value("read_roster", "source", "a path or a file opened in text mode", type(source).__name__)
        label = getattr(source, "name", None)
        return text.removeprefix("\ufeff"), (Path(label).name if isinstance(label, str) else "<text>")
    raise bad_value("read_roster", "source", "a path (str or os.PathLike) or an open text file",
                    type(source).__name__)


def _split_sections(text: str, label: str) -> dict[str, tuple[int, list[_Line]]]:
    """The data lines of each section, keyed by section name, with the header's line number."""
    sections: dict[str, tuple[int, list[_Line]]] = {}
    current: list[_Line] | None = None
    # splitlines: Windows (\r\n) and old Mac (\r) line ends read like Unix ones.
    for number, raw in enumerate(text.splitlines(), start=1):
        content = raw.split("#", 1)[0].strip()
        if not content:
            continue
        if content.startswith("SECTION_"):
            if content not in SECTIONS:
                raise ConfigurationError(
                    f"{label} line {number}: unknown section {content!r}"
                    f"{did_you_mean(content, SECTIONS, clause=True)} (sections: {', '.join(SECTIONS)})")
            if content in sections:
                raise ConfigurationError(f"{label} line {number}: section {content} appears a second time "
                                         f"(first on line {sections[content][0]})")
            current = []
            sections[content] = (number, current)
            continue
        if current is None:
            raise ConfigurationError(f"{label} line {number}: expected a section header such as {_HORIZON}; "
                                     f"got {_quote(content)}")
        current.append(_Line(number, content, [f.strip() for f in content.split(",")]))
    missing = [s for s in REQUIRED_SECTIONS if s not in sections]
    if missing:
        raise ConfigurationError(f"{label}: missing required section {missing[0]} "
                                 f"(a rostering file needs {', '.join(REQUIRED_SECTIONS)})")
    return sections


class _Builder:
    """Fills the arrays of one instance section by section, in dependency order."""

    def __init__(self, label: str) -> None:
        self.label = label

    def run(self, section: str, lines: Iterable[_Line], parse: Callable[[_Line], None]) -> None:
        """Apply ``parse`` to each line; a fault becomes one ConfigurationError naming file, line and section."""
        for line in lines:
            try:
                parse(line)
            except _LineError as error:
                raise ConfigurationError(f"{self.label} line {line.number} ({section}): {error}") from None

    # -- horizon and shifts
    def horizon(self, header: int, lines: list[_Line]) -> int:
        if len(lines) != 1:
            where = lines[1].number if len(lines) > 1 else header
            raise ConfigurationError(f"{self.label} line {where} ({_HORIZON}): expected one line holding the "
                                     f"horizon in days; got {len(lines)} lines")
        found: list[int] = []
        self.run(_HORIZON, lines, lambda line: found.append(
            _integer(_fields(line, ("horizon in days",))[0], "horizon in days", low=1)))
        return found[0]

    def shifts(self, header: int, lines: list[_Line]) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
        ids: dict[str, int] = {}
        minutes: list[int] = []
        successors: dict[int, list[str]] = {}  # line number -> the shifts it forbids next

        def parse(line: _Line) -> None:
            fields = line.fields
            if len(fields) == 2:  # no trailing comma: nothing forbidden after this shift
                fields = [*fields, ""]
            if len(fields) == 4 and fields[-1] == "":
                fields = fields[:3]
            if len(fields) != 3:
                raise _LineError(f"expected 3 comma-separated fields \"ShiftID, Length in mins, Shifts which "
                                 f"cannot follow this shift | separated\"; got {len(fields)}: {_quote(line.text)}")
            shift, length, forbidden = fields
            if not shift:
                raise _LineError(f"expected a shift id in the first field; got {_quote(line.text)}")
            if shift in ids:
                raise _LineError(f"duplicate shift id {shift!r}")
            ids[shift] = len(ids)
            minutes.append(_integer(length, f"length of shift {shift} [minutes]"))
            names = [] if forbidden == "" else [f.strip() for f in forbidden.split("|")]
            if "" in names:
                raise _LineError(f"expected shift ids separated by '|' in the third field; got {forbidden!r}")
            successors[line.number] = names

        self.run(_SHIFTS, lines, parse)
        if not ids:
            raise ConfigurationError(f"{self.label} line {header} ({_SHIFTS}): expected at least one shift type; "
                                     f"got none")
        forbidden = np.zeros((len(ids), len(ids)), dtype=bool)

        def resolve(line: _Line) -> None:  # after the section: a shift may forbid one defined below it
            before = ids[line.fields[0]]
            for name in successors[line.number]:
                forbidden[before, _lookup(ids, name, "shift")] = True

        self.run(_SHIFTS, lines, resolve)
        return ids, np.asarray(minutes, dtype=np.int64), forbidden

    # -- staff
    def staff(self, header: int, lines: list[_Line], shifts: dict[str, int]) -> tuple[dict[str, int], dict]:
        ids: dict[str, int] = {}
        columns: dict[str, list] = {name: [] for name in _STAFF_FIELDS[1:]}

        def parse(line: _Line) -> None:
            nurse, limits, *numbers = _fields(line, _STAFF_FIELDS)
            if not nurse:
                raise _LineError(f"expected a staff id in the first field; got {_quote(line.text)}")
            if nurse in ids:
                raise _LineError(f"duplicate staff id {nurse!r}")
            columns["MaxShifts"].append(self.max_shifts(nurse, limits, shifts))
            for name, text in zip(_STAFF_FIELDS[2:], numbers):
                columns[name].append(_integer(text, f"{name} of {nurse}"))
            ids[nurse] = len(ids)

        self.run(_STAFF, lines, parse)
        if not ids:
            raise ConfigurationError(f"{self.label} line {header} ({_STAFF}): expected at least one staff member; "
                                     f"got none")
        return ids, columns

    @staticmethod
    def max_shifts(nurse: str, text: str, shifts: dict[str, int]) -> list[int]:
        limits: dict[int, int] = {}
        for item in [] if text == "" else text.split("|"):
            name, sep, value = (part.strip() for part in item.partition("="))
            if not sep:
                raise _LineError(f"MaxShifts of {nurse}: expected items \"ShiftID=limit\" separated by '|'; "
                                 f"got {text!r}")
            k = _lookup(shifts, name, "shift")
            if k in limits:
                raise _LineError(f"MaxShifts of {nurse}: shift {name!r} given twice in {text!r}")
            limits[k] = _integer(value, f"MaxShifts of {nurse} for shift {name}")
        missing = [name for name, k in shifts.items() if k not in limits]
        if missing:
            # Every shipped file lists every shift type; an absent one is ambiguous (no limit, or forbidden?).
            raise _LineError(f"MaxShifts of {nurse}: expected a limit for every shift type "
                             f"({', '.join(shifts)}; write {missing[0]}=0 to forbid one); "
                             f"got none for {', '.join(missing)} in {text!r}")
        return [limits[k] for k in range(len(shifts))]


def read_roster(source: str | os.PathLike | TextIO, name: str | None = None) -> RosterData:
    """Read a rostering instance in the benchmark's text format (Curtois; Burke & Curtois 2014).

    The format is a sequence of sections, each a header line then comma-separated
    rows; ``#`` starts a comment, blank lines are skipped, fields may carry blanks
    around them and a row may end in one trailing comma:

    * ``SECTION_HORIZON``: one line, the horizon ``D`` [days] (day 0 is a Monday);
    * ``SECTION_SHIFTS``: ``ShiftID, minutes, forbidden`` -- ``forbidden`` lists, separated
      by ``|`` (possibly none), the shifts that may not be worked the day after this one;
    * ``SECTION_STAFF``: ``ID, MaxShifts, MaxTotalMinutes, MinTotalMinutes, MaxConsecutiveShifts,
      MinConsecutiveShifts, MinConsecutiveDaysOff, MaxWeekends`` with ``MaxShifts`` as
      ``D=14|L=0``, one limit for every shift type (``0`` forbids a type);
    * ``SECTION_DAYS_OFF``: ``ID, day, day, ...`` (optional);
    * ``SECTION_SHIFT_ON_REQUESTS`` and ``SECTION_SHIFT_OFF_REQUESTS``: ``ID, day, shift, weight``
      (optional);
    * ``SECTION_COVER``: ``day, shift, requirement, under weight, over weight``, one row for
      every (day, shift).

    Sections may come in any order; ``HORIZON``, ``SHIFTS``, ``STAFF`` and ``COVER`` are required.

    Parameters
    ----------
    source : str, os.PathLike or text file
        Path of the file, or a file (or :class:`io.StringIO`) opened in text mode.
    name : str, optional
        Instance name; default the file's stem (``"Instance1"``), or ``"roster"`` for a
        text without a name.

    Returns
    -------
    RosterData
        The instance, its arrays read-only.

    Raises
    ------
    ConfigurationError
        On the first fault found, naming the file, the line, the section, what was expected
        and what was found: a malformed row, an unknown or duplicate id, a day outside
        ``0..D-1``, a negative number, a missing section or cover row.
    """
    text, label = _source_text(source)
    sections = _split_sections(text, label)
    build = _Builder(label)

    days = build.horizon(*sections[_HORIZON])
    shifts, minutes, forbidden = build.shifts(*sections[_SHIFTS])
    nurses, staff = build.staff(*sections[_STAFF], shifts)
    n_nurses, n_shifts = len(nurses), len(shifts)

    days_off = np.zeros((n_nurses, days), dtype=bool)
    seen_days_off: dict[int, int] = {}

    def parse_days_off(line: _Line) -> None:
        fields = line.fields
        while len(fields) > 1 and fields[-1] == "":  # trailing commas
            fields = fields[:-1]
        n = _lookup(nurses, fields[0], "staff")
        if n in seen_days_off:
            raise _LineError(f"second days-off row for {fields[0]!r} (first on line {seen_days_off[n]})")
        seen_days_off[n] = line.number
        for text_day in fields[1:]:
            d = _day(text_day, days, f"day off of {fields[0]}")
            if days_off[n, d]:
                raise _LineError(f"day {d} listed twice for {fields[0]!r}")
            days_off[n, d] = True

    build.run(_DAYS_OFF, sections.get(_DAYS_OFF, (0, []))[1], parse_days_off)

    def requests(section: str) -> np.ndarray:
        weight = np.zeros((n_nurses, days, n_shifts))
        first: dict[tuple[int, int, int], int] = {}

        def parse(line: _Line) -> None:
            nurse, day, shift, value = _fields(line, _REQUEST_FIELDS)
            key = (_lookup(nurses, nurse, "staff"), _day(day, days), _lookup(shifts, shift, "shift"))
            if key in first:
                raise _LineError(f"second request of {nurse} for shift {shift} on day {day} "
                                 f"(first on line {first[key]})")
            first[key] = line.number
            weight[key] = _weight(value, "weight")

        build.run(section, sections.get(section, (0, []))[1], parse)
        return weight

    on_weight, off_weight = requests(_ON), requests(_OFF_REQUESTS)

    cover = np.zeros((days, n_shifts), dtype=np.int64)
    under, over = np.zeros((days, n_shifts)), np.zeros((days, n_shifts))
    cover_line: dict[tuple[int, int], int] = {}

    def parse_cover(line: _Line) -> None:
        day, shift, requirement, under_text, over_text = _fields(line, _COVER_FIELDS)
        key = (_day(day, days), _lookup(shifts, shift, "shift"))
        if key in cover_line:
            raise _LineError(f"second cover row for shift {shift} on day {day} (first on line {cover_line[key]})")
        cover_line[key] = line.number
        cover[key] = _integer(requirement, "requirement")
        under[key] = _weight(under_text, "weight for under")
        over[key] = _weight(over_text, "weight for over")

    header, cover_lines = sections[_COVER]
    build.run(_COVER, cover_lines, parse_cover)
    if len(cover_line) != days * n_shifts:
        # A missing row is refused rather than read as "no cover wanted": it is more often a cut file.
        shift_names = list(shifts)
        d, k = next((d, k) for d in range(days) for k in range(n_shifts) if (d, k) not in cover_line)
        raise ConfigurationError(
            f"{label} line {header} ({_COVER}): expected one row for each of the {days} days x {n_shifts} "
            f"shifts; got {len(cover_line)}, none for day {d} shift {shift_names[k]}")

    if name is None:
        name = Path(label).stem if label != "<text>" else "roster"
    arrays = dict(
        shift_minutes=minutes, forbidden=forbidden,
        max_shifts=np.asarray(staff["MaxShifts"], dtype=np.int64).reshape(n_nurses, n_shifts),
        max_minutes=np.asarray(staff["MaxTotalMinutes"], dtype=np.int64),
        min_minutes=np.asarray(staff["MinTotalMinutes"], dtype=np.int64),
        max_consecutive=np.asarray(staff["MaxConsecutiveShifts"], dtype=np.int64),
        min_consecutive=np.asarray(staff["MinConsecutiveShifts"], dtype=np.int64),
        min_consecutive_off=np.asarray(staff["MinConsecutiveDaysOff"], dtype=np.int64),
        max_weekends=np.asarray(staff["MaxWeekends"], dtype=np.int64),
        days_off=days_off, on_weight=on_weight, off_weight=off_weight,
        cover=cover, under_weight=under, over_weight=over,
    )
    for array in arrays.values():
        array.flags.writeable = False  # the dataclass is frozen; so are its arrays
    return RosterData(name=name, days=days, shift_ids=tuple(shifts), nurse_ids=tuple(nurses), **arrays)
