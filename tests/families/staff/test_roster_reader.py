"""The reader of the rostering benchmark files: every shipped file, its variations, and its errors.

References: the sizes of Instances 1-8 published with the benchmark (Burke &
Curtois 2014), and for 9-24 a count of each file's lines made here with plain
string operations, independent of the reader.
"""

from __future__ import annotations

import functools
import io
import re
import time

import numpy as np
import pytest

from optalloc.exceptions import ConfigurationError
from optalloc.families.staff.roster_data import read_roster, shipped_instance_path

#: (days, staff, shift types) of Instances 1-8 as published.
PUBLISHED_SIZES = {1: (14, 8, 1), 2: (14, 14, 2), 3: (14, 20, 3), 4: (28, 10, 2),
                   5: (28, 16, 2), 6: (28, 18, 3), 7: (28, 20, 3), 8: (28, 30, 4)}


@functools.cache
def _shipped(number: int):
    """A shipped instance, read once for the tests that do not time the reader."""
    return read_roster(shipped_instance_path(number))


def _count_sizes(text: str) -> tuple[int, int, int]:
    """(days, staff, shift types) by counting data lines between section headers."""
    blocks = re.split(r"^SECTION_(\w+)\s*$", text, flags=re.MULTILINE)
    data = {name: [ln for ln in body.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
            for name, body in zip(blocks[1::2], blocks[2::2])}
    return int(data["HORIZON"][0]), len(data["STAFF"]), len(data["SHIFTS"])


def _line_number(text: str, line: str) -> int:
    """1-based number of the first line equal to ``line``."""
    return text.splitlines().index(line) + 1


@pytest.mark.parametrize("number", range(1, 25))
def test_every_shipped_file_parses_to_its_counted_size(number):
    path = shipped_instance_path(number)
    data = _shipped(number)
    sizes = (data.days, data.n_nurses, data.n_shifts)
    assert sizes == _count_sizes(path.read_text())
    if number in PUBLISHED_SIZES:
        assert sizes == PUBLISHED_SIZES[number]
    assert data.name == f"Instance{number}"
    n, d, k = sizes[1], sizes[0], sizes[2]
    assert data.max_shifts.shape == (n, k) and data.days_off.shape == (n, d)
    assert data.on_weight.shape == data.off_weight.shape == (n, d, k)
    assert data.cover.shape == data.under_weight.shape == (d, k)
    assert data.forbidden.shape == (k, k) and data.shift_minutes.shape == (k,)


def test_largest_instance_size_and_speed():
    start = time.perf_counter()
    data = read_roster(shipped_instance_path(24))
    elapsed = time.perf_counter() - start
    assert (data.n_nurses, data.days, data.n_shifts) == (150, 364, 32)
    assert elapsed < 2.0  # about 0.2 s on an idle machine; generous for a shared one


def test_instance1_values_as_written_in_the_file():
    data = _shipped(1)
    assert data.shift_ids == ("D",) and data.shift_minutes.tolist() == [480]
    assert data.nurse_ids == tuple("ABCDEFGH")
    assert data.max_shifts[:, 0].tolist() == [14] * 8
    assert data.max_minutes[0] == 4320 and data.min_minutes[0] == 3360
    assert (data.max_consecutive[0], data.min_consecutive[0], data.min_consecutive_off[0], data.max_weekends[0]) \
        == (5, 2, 2, 1)
    # "A,0", "B,5" in SECTION_DAYS_OFF: one fixed day off each.
    assert np.flatnonzero(data.days_off[0]).tolist() == [0]
    assert np.flatnonzero(data.days_off[1]).tolist() == [5]
    assert data.days_off.sum() == 8
    # "A,2,D,2" (on) and "F,8,D,3" (off).
    assert data.on_weight[0, 2, 0] == 2 and data.off_weight[5, 8, 0] == 3
    assert np.count_nonzero(data.on_weight) == 21 and np.count_nonzero(data.off_weight) == 5
    assert data.cover[:, 0].tolist() == [5, 7, 6, 4, 5, 5, 5, 6, 7, 4, 2, 5, 6, 4]
    assert set(data.under_weight.ravel()) == {100} and set(data.over_weight.ravel()) == {1}
    assert not data.forbidden.any()


def test_instance2_successions_and_shift_limits():
    data = _shipped(2)
    e, late = data.shift_ids.index("E"), data.shift_ids.index("L")
    # "L,480,E": an early shift may not follow a late one; nothing else is forbidden.
    assert data.forbidden[late, e] and data.forbidden.sum() == 1
    # "D,E=14|L=0,..." and "E,E=0|L=14,...".
    assert data.max_shifts[data.nurse_ids.index("D")].tolist() == [14, 0]
    assert data.max_shifts[data.nurse_ids.index("E")].tolist() == [0, 14]


def test_forbidden_successor_defined_later_in_the_section():
    data = _shipped(24)
    a4 = data.shift_ids.index("a4")
    # "a4,720,a1|a2|a3|a4|a5|..." names a5, defined on the next line.
    assert data.forbidden[a4, data.shift_ids.index("a5")]
    assert not data.forbidden[data.shift_ids.index("a1")].any()


def test_minus_zero_requirement_of_instance15():
    # Lines 858 and 861 of Instance15.txt: "41,D,-0,100,1" and "41,n2,-0,100,1".
    data = _shipped(15)
    assert data.cover[41, data.shift_ids.index("D")] == 0 and data.cover[41, data.shift_ids.index("n2")] == 0
    lines = shipped_instance_path(15).read_text().splitlines()
    assert lines[857] == "41,D,-0,100,1" and lines[860] == "41,n2,-0,100,1"


def test_arrays_are_read_only():
    data = _shipped(1)
    with pytest.raises(ValueError):
        data.cover[0, 0] = 0


def _same(a, b) -> bool:
    fields = ("days", "shift_ids", "nurse_ids", "shift_minutes", "forbidden", "max_shifts", "max_minutes",
              "min_minutes", "max_consecutive", "min_consecutive", "min_consecutive_off", "max_weekends",
              "days_off", "on_weight", "off_weight", "cover", "under_weight", "over_weight")
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in fields)


def test_windows_line_ends_blanks_trailing_commas_and_comments(tmp_path):
    text = shipped_instance_path(2).read_text()
    reference = _shipped(2)
    variant = []
    for line in text.splitlines():
        if line and line[0].isalnum() and "," in line and not line.startswith("SECTION"):
            parts = line.split(",")
            line = " , ".join(parts) + ("" if line.endswith(",") else ",") + "  # a note"
        variant.append(line)
    path = tmp_path / "variant.txt"
    path.write_bytes(("\ufeff" + "\r\n".join(variant) + "\r\n").encode("utf-8"))
    assert _same(read_roster(path), reference)


def test_open_text_and_name():
    text = shipped_instance_path(1).read_text()
    data = read_roster(io.StringIO(text))
    assert data.name == "roster" and _same(data, _shipped(1))
    with open(shipped_instance_path(1)) as handle:
        assert read_roster(handle, name="first").name == "first"


def test_optional_sections_may_be_absent():
    text = shipped_instance_path(1).read_text()
    cut = re.sub(r"SECTION_SHIFT_ON_REQUESTS.*?(?=SECTION_COVER)", "", text, flags=re.DOTALL)
    data = read_roster(io.StringIO(cut))
    assert not data.on_weight.any() and not data.off_weight.any()
    assert data.days_off.sum() == 8


# ---------------------------------------------------------------- malformed files
#: (line of Instance1 to replace, its replacement, section, words the message must hold)
BROKEN_LINES = [
    ("A,D=14,4320,3360,5,2,2,1", "A,D=14,4320,3360,5,2,2", "SECTION_STAFF",
     ["expected 8 comma-separated fields", "got 7", "'A,D=14,4320,3360,5,2,2'"]),
    ("B,D=14,4320,3360,5,2,2,1", "B,D=14,-4320,3360,5,2,2,1", "SECTION_STAFF",
     ["MaxTotalMinutes of B", "integer >= 0", "'-4320'"]),
    ("B,D=14,4320,3360,5,2,2,1", "A,D=14,4320,3360,5,2,2,1", "SECTION_STAFF", ["duplicate staff id 'A'"]),
    ("C,D=14,4320,3360,5,2,2,1", "C,X=14,4320,3360,5,2,2,1", "SECTION_STAFF", ["unknown shift id 'X'"]),
    ("C,D=14,4320,3360,5,2,2,1", "C,D14,4320,3360,5,2,2,1", "SECTION_STAFF", ["ShiftID=limit", "'D14'"]),
    ("D,480,", "D,480,Q", "SECTION_SHIFTS", ["unknown shift id 'Q'"]),
    ("D,480,", "D,eight hours,", "SECTION_SHIFTS", ["length of shift D", "'eight hours'"]),
    ("14", "fourteen", "SECTION_HORIZON", ["horizon in days", "'fourteen'"]),
    ("G,1", "Gg,1", "SECTION_DAYS_OFF", ["unknown staff id 'Gg'", "did you mean 'G'"]),
    ("H,7", "H,14", "SECTION_DAYS_OFF", ["day index 0..13", "'14'"]),
    ("A,2,D,2", "A,-1,D,2", "SECTION_SHIFT_ON_REQUESTS", ["day index 0..13", "'-1'"]),
    ("A,3,D,2", "A,3,E,2", "SECTION_SHIFT_ON_REQUESTS", ["unknown shift id 'E'", "shifts: D"]),
    ("A,3,D,2", "A,2,D,2", "SECTION_SHIFT_ON_REQUESTS", ["second request of A", "first on line"]),
    ("F,8,D,3", "F,8,D,-3", "SECTION_SHIFT_OFF_REQUESTS", ["weight", "non-negative", "'-3'"]),
    ("3,D,4,100,1", "3,D,4,100", "SECTION_COVER", ["expected 5 comma-separated fields", "got 4"]),
    ("3,D,4,100,1", "2,D,4,100,1", "SECTION_COVER", ["second cover row", "day 2"]),
    ("4,D,5,100,1", "4,D,5,100,1,7", "SECTION_COVER", ["expected 5 comma-separated fields", "got 6"]),
    ("SECTION_COVER", "SECTION_COVERS", None, ["unknown section 'SECTION_COVERS'", "did you mean 'SECTION_COVER'"]),
]


@pytest.mark.parametrize(("old", "new", "section", "words"), BROKEN_LINES, ids=lambda v: str(v)[:24])
def test_a_broken_line_names_file_line_and_section(tmp_path, old, new, section, words):
    text = shipped_instance_path(1).read_text()
    number = _line_number(text, old)
    lines = text.splitlines()
    lines[number - 1] = new
    path = tmp_path / "Instance1.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigurationError) as caught:
        read_roster(path)
    message = str(caught.value)
    where = f"Instance1.txt line {number}" + (f" ({section}):" if section else ":")
    assert message.startswith(where), message
    for word in words:
        assert word in message, message
    assert "\n" not in message


def test_missing_section_is_named(tmp_path):
    text = shipped_instance_path(1).read_text()
    path = tmp_path / "cut.txt"
    path.write_text(text.split("SECTION_COVER")[0])
    with pytest.raises(ConfigurationError, match=r"^cut\.txt: missing required section SECTION_COVER"):
        read_roster(path)


def test_missing_cover_row_is_named(tmp_path):
    text = shipped_instance_path(1).read_text()
    path = tmp_path / "Instance1.txt"
    path.write_text(text.replace("9,D,4,100,1\n", ""))
    header = _line_number(text, "SECTION_COVER")
    with pytest.raises(ConfigurationError, match=rf"line {header} \(SECTION_COVER\).*got 13, none for day 9 shift D"):
        read_roster(path)


def test_repeated_section_and_data_before_any_section(tmp_path):
    text = shipped_instance_path(1).read_text()
    path = tmp_path / "twice.txt"
    path.write_text(text + "\nSECTION_HORIZON\n14\n")
    with pytest.raises(ConfigurationError, match=r"section SECTION_HORIZON appears a second time \(first on line 2\)"):
        read_roster(path)
    path.write_text("14\n" + text)
    with pytest.raises(ConfigurationError, match=r"^twice\.txt line 1: expected a section header"):
        read_roster(path)


def test_max_shifts_must_name_every_shift_type(tmp_path):
    text = shipped_instance_path(2).read_text()
    number = _line_number(text, "A,E=14|L=14,4320,3360,5,2,2,1")
    path = tmp_path / "Instance2.txt"
    path.write_text(text.replace("A,E=14|L=14,", "A,E=14,"))
    with pytest.raises(ConfigurationError, match=rf"line {number} \(SECTION_STAFF\): MaxShifts of A.*none for L"):
        read_roster(path)


def test_missing_file_and_bad_source(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        read_roster(tmp_path / "nowhere.txt")
    with pytest.raises(ConfigurationError, match="source"):
        read_roster(42)
    with pytest.raises(ConfigurationError, match=r"io\.StringIO"):
        read_roster(shipped_instance_path(1).read_text())


@pytest.mark.parametrize("number", [0, 25, -1, True, 1.0, "1"])
def test_shipped_instance_path_refuses_other_numbers(number):
    with pytest.raises(ConfigurationError, match="integer from 1 to 24"):
        shipped_instance_path(number)
