"""Read the BRFSS CSV into a Dataset: nested dicts question -> location -> groups.

Why: every statistic of the API is an arithmetic mean over a slice of one
question's rows (a location, a stratification group, a year).  Summing each
slice once, while the file is read, makes a job cost O(locations) instead of a
rescan of the rows, and keeps memory proportional to the number of distinct
groups, not to the number of rows.  The finest slice kept is one
(location, group, year) "cell": a filtered job (a year range, a category, a
group) adds up the cells it keeps, O(groups x years) per location, and never
reads a row again.  The unfiltered sums (of a location, of a group, of the
question) are still added row by row in file order, so that an unfiltered
answer is the same float, to the last bit, as a plain sum over the rows.

The loader uses only the ``csv`` module.  It accepts the public file as it is
published (with or without a leading unnamed index column, with or without a
UTF-8 byte order mark, CRLF line ends, quoted fields with commas) and skips
rows it cannot use, counting them by reason so the caller can log why.
"""

from __future__ import annotations

import csv
import gc
import io
import os
import time
from collections import Counter
from functools import cached_property
from itertools import islice
from typing import BinaryIO, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple, Union

QUESTION = "Question"
LOCATION = "LocationDesc"
VALUE = "Data_Value"
CATEGORY = "StratificationCategory1"
STRATIFICATION = "Stratification1"
YEAR = "YearStart"
ABBREVIATION = "LocationAbbr"

#: The columns statsd reads; every other column is carried past untouched.
REQUIRED_COLUMNS: Tuple[str, ...] = (QUESTION, LOCATION, VALUE, CATEGORY, STRATIFICATION, YEAR)
#: Read when present ("OH" for Ohio, "US" for National); a file without it still loads.
OPTIONAL_COLUMNS: Tuple[str, ...] = (ABBREVIATION,)

#: Rows are read in chunks of this size between two progress reports.
CHUNK_ROWS = 8192

#: At most this many distinct Data_Value texts are remembered with their float (a few MB).
VALUE_MEMORY = 65536

#: ``progress(rows_read, bytes_read, bytes_total)``, called between chunks.
ProgressCallback = Callable[[int, int, int], None]

Group = Tuple[str, str]  # (StratificationCategory1, Stratification1)


class DataError(Exception):
    """The data file cannot be served.

    ``str()`` of the exception is one line naming the file, the line when there
    is one, and the problem, ready to be printed to a user.
    """


class Accumulator:
    """A running sum and count of ``Data_Value``; ``mean`` is their quotient."""

    __slots__ = ("total", "count")

    def __init__(self, total: float = 0.0, count: int = 0) -> None:
        self.total = total
        self.count = count

    def add(self, total: float, count: int) -> None:
        self.total += total
        self.count += count

    @property
    def mean(self) -> float:
        return self.total / self.count

    def __repr__(self) -> str:
        return f"Accumulator(total={self.total!r}, count={self.count!r})"


class Cell(NamedTuple):
    """The finest slice of a location's rows: one group in one year."""

    category: str
    stratification: str
    #: ``YearStart`` as a number; None when it is not a whole number
    year: Optional[int]


class LocationData:
    """All of one question's values for one location, summed by slice.

    ``sums`` is the list the loader added this location's rows to, kept as
    it is: its total at slot 0, then a (total, count) pair per group and
    per cell.  ``cell_slots[n]`` (shared by every location) is the slot of
    the total of cell number ``n`` of the dataset's cell table
    (``Dataset.cells``), its count the slot after; the list stops after the
    last slot this location has, and a cell with a count of 0 has no row
    here.  Keeping the list, rather than copying each cell into arrays once
    the file is read, makes the end of the load cost O(groups) per location,
    not O(cells).
    """

    __slots__ = ("overall", "groups", "sums", "cell_slots", "cell_table")

    def __init__(self, cell_table: Optional[List[Cell]] = None,
                 sums: Optional[List[Union[float, int]]] = None,
                 cell_slots: Optional[List[int]] = None) -> None:
        self.overall = Accumulator()
        #: (category, stratification) -> sums over every year, added in file order
        self.groups: Dict[Group, Accumulator] = {}
        self.sums: List[Union[float, int]] = sums if sums is not None else [0.0]
        self.cell_table: List[Cell] = cell_table if cell_table is not None else []
        self.cell_slots: List[int] = cell_slots if cell_slots is not None else []

    def cell(self, number: int) -> Tuple[float, int]:
        """``(total, count)`` of the rows of cell number ``number`` here (0 rows if none)."""
        slot = self.cell_slots[number]
        sums = self.sums
        if slot < len(sums):
            return sums[slot], sums[slot + 1]  # type: ignore[return-value]
        return 0.0, 0

    def cells(self) -> Iterator[Tuple[int, float, int]]:
        """``(cell number, total, count)`` of each cell this location has rows in."""
        sums, have = self.sums, len(self.sums)
        for number, slot in enumerate(self.cell_slots):
            if slot < have and sums[slot + 1]:
                yield number, sums[slot], sums[slot + 1]  # type: ignore[misc]

    def kept(self, cells: Iterable[int]) -> Accumulator:
        """The sums of the cells numbered ``cells`` (those this location lacks add nothing)."""
        sums, slots, have = self.sums, self.cell_slots, len(self.sums)
        kept = Accumulator()
        for cell in cells:
            slot = slots[cell]
            if slot < have and sums[slot + 1]:
                kept.add(sums[slot], sums[slot + 1])  # type: ignore[arg-type]
        return kept

    def year_sums(self, cells: Iterable[int]) -> Dict[int, Accumulator]:
        """YearStart -> the sums of the cells numbered ``cells`` in that year, by year."""
        sums, slots, have, table = self.sums, self.cell_slots, len(self.sums), self.cell_table
        years: Dict[int, Accumulator] = {}
        for cell in cells:
            year = table[cell].year
            slot = slots[cell]
            if slot < have and sums[slot + 1] and year is not None:
                found = years.get(year)
                if found is None:
                    years[year] = Accumulator(sums[slot], sums[slot + 1])  # type: ignore[arg-type]
                else:  # " 2011" and "2011", or two groups, in the same year
                    found.add(sums[slot], sums[slot + 1])  # type: ignore[arg-type]
        return dict(sorted(years.items()))

    @property
    def years(self) -> Dict[int, Accumulator]:
        """YearStart -> sums over every stratification, ascending by year."""
        return self.year_sums(range(len(self.cell_slots)))

    def by_category(self) -> Dict[str, List[Tuple[str, float]]]:
        """``{category: [(stratification, mean), ...]}``, both sorted."""
        found: Dict[str, List[Tuple[str, float]]] = {}
        for (category, stratification), accumulator in sorted(self.groups.items()):
            found.setdefault(category, []).append((stratification, accumulator.mean))
        return found


class QuestionData:
    """All of one question's values: overall, and per location."""

    __slots__ = ("question", "overall", "locations")

    def __init__(self, question: str) -> None:
        self.question = question
        self.overall = Accumulator()
        self.locations: Dict[str, LocationData] = {}


class Dataset:
    """What statsd serves: per question, per location, the sums of every slice.

    ``questions`` maps the exact question text to its :class:`QuestionData`.
    ``empty_questions`` names questions that appear in the file only on rows
    without a ``Data_Value``, so that a request for them can be told so.
    ``abbreviations`` maps a location's ``LocationDesc`` to its
    ``LocationAbbr`` (the first one met; empty when the file has no such column).
    """

    def __init__(self, source: str = "") -> None:
        self.source = source
        self.questions: Dict[str, QuestionData] = {}
        self.empty_questions: set = set()
        self.abbreviations: Dict[str, str] = {}
        #: cell number -> its (category, stratification, year), shared by every location
        self.cells: List[Cell] = []
        self.rows_read = 0
        self.rows_loaded = 0
        self.skipped: Counter = Counter()
        #: reason -> first line number where it happened
        self.first_skipped_line: Dict[str, int] = {}
        self.load_seconds = 0.0

    @cached_property
    def locations(self) -> List[str]:
        """Every location that has a value for some question, sorted (asked once the data is in)."""
        names: set = set()
        for data in self.questions.values():
            names.update(data.locations)
        return sorted(names)

    @cached_property
    def categories(self) -> Dict[str, List[str]]:
        """``{category: [stratification, ...]}`` of every group with a value, both sorted."""
        found: Dict[str, set] = {}
        for data in self.questions.values():
            for place in data.locations.values():
                for category, stratification in place.groups:
                    found.setdefault(category, set()).add(stratification)
        return {category: sorted(found[category]) for category in sorted(found)}

    @cached_property
    def location_names(self) -> Dict[str, str]:
        """How a client may name a location -> its ``LocationDesc``.

        Keys are lower case: every ``LocationDesc`` and every ``LocationAbbr``.
        A name wins over an abbreviation that happens to be spelled the same.
        """
        names = {abbreviation.lower(): location
                 for location, abbreviation in self.abbreviations.items() if abbreviation}
        names.update((location.lower(), location) for location in self.locations)
        return names

    def summary(self) -> str:
        """One line for the console and the log: what was loaded, how fast."""
        line = (
            f"loaded {self.rows_loaded:,} rows from {self.source} "
            f"({len(self.questions)} questions, {len(self.locations)} locations) "
            f"in {self.load_seconds:.2f} s"
        )
        if self.skipped:
            reasons = ", ".join(
                f"{count:,} {reason}" + (
                    f" (first at line {self.first_skipped_line[reason]})"
                    if reason in self.first_skipped_line else "")
                for reason, count in sorted(self.skipped.items())
            )
            line += f"; skipped {reasons}"
        return line


def load_csv(source: Union[str, BinaryIO], progress: Optional[ProgressCallback] = None) -> Dataset:
    """Read the CSV at ``source`` into a :class:`Dataset`.

    ``source`` is a path, or a file object open for reading bytes (the
    sample inside the one-file archive), named by its ``name``; it is closed
    once read.
    Raises :class:`DataError` (never another exception) when the file is
    missing, unreadable, not UTF-8, lacks a required column, or holds no row
    with a value.
    """
    started = time.perf_counter()
    if isinstance(source, str):
        path = source
        try:
            binary: BinaryIO = open(path, "rb")
        except OSError as error:
            raise DataError(f"{path}: cannot open: {error.strerror or error}") from None
    else:
        path, binary = str(getattr(source, "name", "<stream>")), source
    with binary:
        try:
            total_bytes = os.fstat(binary.fileno()).st_size
        except OSError:
            total_bytes = 0
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        # The cyclic garbage collector is paused while the rows are read: the
        # loop makes no reference cycles (each row, key tuple and float is
        # freed by its reference count), but the lists and dicts of sums it
        # keeps count as new container objects, and every collection walked
        # them again: 28 M instructions (callgrind) at 20,000 rows and at
        # 100,000 alike, 12 % and 3 % of the loader's work beyond the bare
        # csv.reader pass; the collections saved come early in the load.
        # The collector is switched back on, if it was on, whatever happens.
        collecting = gc.isenabled()
        gc.disable()
        try:
            dataset = _read(path, reader, binary, total_bytes, progress)
        except UnicodeDecodeError as error:
            line = (_first_undecodable_line(path) if source is path else 0) or reader.line_num + 1
            raise DataError(f"{path}: line {line}: not UTF-8 text ({error.reason})") from None
        except csv.Error as error:
            raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({error})") from None
        except OSError as error:
            raise DataError(f"{path}: cannot read: {error.strerror or error}") from None
        finally:
            if collecting:
                gc.enable()
    dataset.load_seconds = time.perf_counter() - started
    return dataset


def _first_undecodable_line(path: str) -> int:
    """The number of the first line of ``path`` that is not UTF-8, 0 if none is.

    The text layer decodes the file by blocks, ahead of the CSV reader, so
    when decoding fails the reader's line number is that of an earlier line;
    this second, binary pass finds the line to name in the error.
    """
    try:
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, 1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    return number
    except OSError:
        pass
    return 0


def _read(path: str, reader, binary, total_bytes: int,
          progress: Optional[ProgressCallback]) -> Dataset:
    header = next(reader, None)
    if not header:
        raise DataError(f"{path}: line 1: empty file, expected a header row")
    columns = {name.strip(): index for index, name in enumerate(header)}
    for name in REQUIRED_COLUMNS:
        if name not in columns:
            raise DataError(f"{path}: line 1: missing column {name!r}")
    width = len(header)
    value_at = columns[VALUE]
    question_at = columns[QUESTION]
    location_at = columns[LOCATION]
    category_at = columns[CATEGORY]
    stratification_at = columns[STRATIFICATION]
    year_at = columns[YEAR]
    abbreviation_at = columns.get(ABBREVIATION)
    #: LocationDesc -> LocationAbbr, read once per new (question, location)
    abbreviations: Dict[str, str] = {}

    # The hot loop.  Each row adds its value to running sums of its question,
    # of its (question, location) "place", of its (category, stratification)
    # group there, and of its cell there: (category, stratification, YearStart).
    # A place's sums are one list, laid out the same for every place by the
    # slot numbers of _Slices: slot 0 the place's total, then a (total, count)
    # pair for each group and each cell, in the order they were first met.
    # So a row updates one list and unpacks a pair, not six lists and arrays
    # (cachegrind, one load of 100,000 rows, beyond the bare csv.reader
    # pass: 5,740 -> 5,390 instructions and 128 -> 98 L1 data misses a row;
    # CPU time 0.968x at 100,000 rows, median of 11 rounds alternated with
    # the separate lists, and 0.996x at 1,000,000, 5 rounds).  The dicts
    # that give the slot numbers stay small (one entry per question, per
    # location, per category, per group, per year) and so stay in the CPU
    # cache.  They are nested, one field per level (question
    # -> location, category -> stratification -> year), rather than keyed by
    # tuples: a tuple key is built, hashed and compared field by field for
    # every row, five lookups of one field each cost less (valgrind, 30,000
    # rows: 1,390 fewer instructions per row, 11 % of what the loader adds to
    # the bare csv.reader pass, and a quarter fewer instruction cache
    # misses).  Memory does not grow with the number of rows.
    places: Dict[str, Dict[str, _PlaceSums]] = {}
    question_totals: Dict[str, List[float]] = {}
    slices = _Slices()
    slice_of = slices.nested
    #: questions met on rows without a value; those never met with one are reported
    valueless_questions: set = set()
    dataset = Dataset(path)
    dataset.abbreviations = abbreviations
    rows_read = 0
    valueless_rows = 0
    # Data_Value text -> its float, for texts already parsed and found finite.
    # The public file writes every value with one decimal, from 0 to 100: a
    # thousand texts for 100,000 rows, so a row's value is one lookup in a
    # small dict instead of a parse and a check (CPU time of load_csv in fresh
    # processes, 10 rounds alternated with the code before: 0.896x of it at
    # 100,000 rows, median by round).  The float is the one float() gives, so every
    # sum is the same.  Memory is bounded: past VALUE_MEMORY texts, new ones
    # are parsed each time.
    values: Dict[str, float] = {}
    while True:
        before = rows_read
        for rows_read, row in enumerate(islice(reader, CHUNK_ROWS), rows_read + 1):
            if len(row) != width:
                if row:  # a blank line is not worth a word
                    _skip(dataset, "rows with a wrong number of fields", reader.line_num)
                continue
            text = row[value_at]
            if not text:
                valueless_questions.add(row[question_at])
                valueless_rows += 1
                continue
            try:
                value = values[text]
            except KeyError:
                try:
                    value = float(text)
                except ValueError:
                    _skip(dataset, "rows with a non-numeric Data_Value", reader.line_num)
                    continue
                if value - value != 0.0:  # nan or infinity
                    _skip(dataset, "rows with a non-finite Data_Value", reader.line_num)
                    continue
                if len(values) < VALUE_MEMORY:
                    values[text] = value
            try:
                sums, question_total = places[row[question_at]][row[location_at]]
            except KeyError:
                location = row[location_at]
                sums, question_total = _new_place(places, row[question_at], location,
                                                  question_totals)
                if abbreviation_at is not None:
                    abbreviations.setdefault(location, row[abbreviation_at].strip())
            # Unfiltered sums are added in file order, as a plain sum() over the rows would.
            sums[0] += value
            question_total[0] += value
            try:
                group, cell = slice_of[row[category_at]][row[stratification_at]][row[year_at]]
            except KeyError:
                group, cell = slices.add(row[category_at], row[stratification_at], row[year_at])
            try:
                sums[cell] += value
            except IndexError:  # a cell (maybe a group) this place has not had yet
                sums.extend(slices.zeros[len(sums):])
                sums[cell] += value
            sums[cell + 1] += 1
            sums[group] += value  # a group's slots come before its cells'
            sums[group + 1] += 1
        if rows_read == before:
            break
        if progress is not None:
            progress(rows_read, binary.tell(), total_bytes)

    dataset.rows_read = rows_read
    if valueless_rows:
        dataset.skipped["rows without a Data_Value"] = valueless_rows
    _build(dataset, places, slices)
    dataset.empty_questions = valueless_questions.difference(dataset.questions)
    if not dataset.questions:
        raise DataError(f"{path}: no row has a {VALUE} ({rows_read:,} data rows read)")
    return dataset


def _skip(dataset: Dataset, reason: str, line: int) -> None:
    """Count a skipped row under ``reason``, remembering the first line number."""
    dataset.skipped[reason] += 1
    dataset.first_skipped_line.setdefault(reason, line)


#: Sums of one (question, location), unpacked in the hot loop: the place's
#: list of sums, by the slots of _Slices (it grows in place when a new group
#: or cell appears), and its question's total, a one-item list shared by the
#: question's places.
_PlaceSums = Tuple[List[Union[float, int]], List[float]]


def _new_place(places: Dict[str, Dict[str, _PlaceSums]], question: str, location: str,
               question_totals: Dict[str, List[float]]) -> _PlaceSums:
    """The sums of a (question, location) the rows have not had yet, entered in ``places``."""
    sums = places.setdefault(question, {})[location] = (
        [0.0], question_totals.setdefault(question, [0.0]))
    return sums


class _Slices:
    """Slot numbers for the sums of the groups and cells met, the same in every place's list.

    Slot 0 is the place's total.  Each (category, stratification) group and
    each cell (category, stratification, YearStart text) has two slots, its
    total then its count, numbered in the order the rows first had them; a
    cell's group is numbered no later than the cell, so a place's list that
    reaches a cell's slots also holds its group's.
    """

    def __init__(self) -> None:
        #: (category, stratification) -> the slot of the group's total
        self.groups: Dict[Group, int] = {}
        #: (category, stratification, YearStart text) of each cell, by cell number
        self.cells: List[Tuple[str, str, str]] = []
        #: the slot of each cell's total, by cell number
        self.cell_slots: List[int] = []
        #: what a place's list holds at each slot before any row: a total or a count of nothing
        self.zeros: List[Union[float, int]] = [0.0]
        #: category -> stratification -> YearStart text -> (group slot, cell slot)
        self.nested: Dict[str, Dict[str, Dict[str, Tuple[int, int]]]] = {}

    def add(self, category: str, stratification: str, year: str) -> Tuple[int, int]:
        """Number a cell the rows have not had yet (and its group, if new): its slots."""
        group = self.groups.get((category, stratification))
        if group is None:
            group = self.groups[category, stratification] = len(self.zeros)
            self.zeros += (0.0, 0)
        slots = (group, len(self.zeros))
        self.zeros += (0.0, 0)
        self.cells.append((category, stratification, year))
        self.cell_slots.append(slots[1])
        self.nested.setdefault(category, {}).setdefault(stratification, {})[year] = slots
        return slots


def _build(dataset: Dataset, places: Dict[str, Dict[str, _PlaceSums]], slices: _Slices) -> None:
    """Turn the sums of each (question, location) into the question -> location hierarchy.

    The cell lists of the hot loop are kept as they are (no copy, no dict per
    cell): a filter is answered by reading them at the numbers of its cells.
    """
    questions = dataset.questions
    table = dataset.cells = [Cell(category, stratification, _year(year))
                             for category, stratification, year in slices.cells]
    cell_slots = slices.cell_slots
    groups = list(slices.groups.items())
    loaded = 0
    for question, by_location in places.items():
        data = questions[question] = QuestionData(question)
        for location, (sums, question_total) in by_location.items():
            data.overall.total = question_total[0]  # the question's own list, shared by its places
            place = data.locations[location] = LocationData(table, sums, cell_slots)
            have = len(sums)
            count = 0
            for group, slot in groups:
                if slot < have and sums[slot + 1]:
                    place.groups[group] = Accumulator(sums[slot], sums[slot + 1])  # type: ignore[arg-type]
                    count += sums[slot + 1]  # type: ignore[assignment]
            place.overall = Accumulator(sums[0], count)  # type: ignore[arg-type]
            data.overall.count += count
            loaded += count
    dataset.rows_loaded = loaded


def _year(text: str) -> Optional[int]:
    try:
        return int(text)
    except ValueError:
        return None

