"""The rows a Filters keeps, as sums: of each location, of the question, per group, per year.

Why: a filtered statistic (a year range, a category, a group) is the same
arithmetic mean as an unfiltered one, over fewer rows.  Ingest summed every
(location, group, year) cell once; this module picks the cells a Filters
keeps (a few hundred at most, from the dataset's cell table) and adds up
those sums, O(groups x years) per location, so a filtered job never reads a
row.  Without filters every function hands back the sums ingest added in file
order, so an unfiltered answer keeps its exact floats; the statistics
(:mod:`statsd.stats`) and the charts call these and never look at cells.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Dict, List, Optional, Set, Tuple

from .ingest import Accumulator, Dataset, Group, LocationData, QuestionData
from .request import NO_FILTERS, Filters


@lru_cache(maxsize=256)
def kept_cells(dataset: Dataset, filters: Filters) -> Tuple[int, ...]:
    """The numbers of the cells whose rows ``filters`` keeps, ascending.

    Cached (lru_cache locks its own bookkeeping): a job asks it once per
    location, and the table does not change once the data is loaded.
    """
    year_from, year_to, category, stratification = filters
    years_bound = year_from is not None or year_to is not None
    kept = []
    for number, cell in enumerate(dataset.cells):
        if category is not None and cell.category != category:
            continue
        if stratification is not None and cell.stratification != stratification:
            continue
        if years_bound:
            if cell.year is None:
                continue
            if year_from is not None and cell.year < year_from:
                continue
            if year_to is not None and cell.year > year_to:
                continue
        kept.append(number)
    return tuple(kept)


def _keeps_group(filters: Filters, group: Group) -> bool:
    return ((filters.category is None or group[0] == filters.category)
            and (filters.stratification is None or group[1] == filters.stratification))


def location_sums(dataset: Dataset, question: str,
                  filters: Filters = NO_FILTERS) -> Dict[str, Accumulator]:
    """Location -> the sums of its kept rows, for every location with one (in the data's order)."""
    locations = dataset.questions[question].locations
    if filters == NO_FILTERS:
        return {location: place.overall for location, place in locations.items()}
    cells = kept_cells(dataset, filters)
    found = {}
    for location, place in locations.items():
        sums = place.kept(cells)
        if sums.count:
            found[location] = sums
    return found


def question_sums(dataset: Dataset, question: str, filters: Filters = NO_FILTERS) -> Accumulator:
    """The sums of the question's kept rows over every location (count 0: none kept)."""
    data: QuestionData = dataset.questions[question]
    if filters == NO_FILTERS:
        return data.overall
    total = Accumulator()
    for sums in location_sums(dataset, question, filters).values():
        total.add(sums.total, sums.count)
    return total


def place_sums(dataset: Dataset, place: LocationData, filters: Filters = NO_FILTERS) -> Accumulator:
    """The sums of one location's kept rows (count 0: none kept)."""
    if filters == NO_FILTERS:
        return place.overall
    return place.kept(kept_cells(dataset, filters))


def group_sums(dataset: Dataset, place: LocationData,
               filters: Filters = NO_FILTERS) -> Dict[Group, Accumulator]:
    """(category, stratification) -> the sums of its kept rows at one location, for each with one.

    Without a year bound a kept group keeps all its rows, so its sums are
    ingest's own (added in file order, the floats of the unfiltered answer).
    """
    if filters.year_from is None and filters.year_to is None:
        return {group: sums for group, sums in place.groups.items() if _keeps_group(filters, group)}
    table = dataset.cells
    found: Dict[Group, Accumulator] = {}
    for number in kept_cells(dataset, filters):
        total, count = place.cell(number)
        if not count:
            continue
        cell = table[number]
        group = (cell.category, cell.stratification)
        sums = found.get(group)
        if sums is None:
            found[group] = Accumulator(total, count)
        else:
            sums.add(total, count)
    return found


def year_sums(dataset: Dataset, place: LocationData,
              filters: Filters = NO_FILTERS) -> Dict[int, Accumulator]:
    """YearStart -> the sums of one location's kept rows in that year, ascending by year."""
    if filters == NO_FILTERS:
        return place.years
    return place.year_sums(kept_cells(dataset, filters))


def years_with_data(dataset: Dataset, question: str, location: Optional[str] = None) -> List[int]:
    """The whole-number YearStart values of the question's rows (of one location), ascending."""
    data = dataset.questions[question]
    places = [data.locations[location]] if location is not None else data.locations.values()
    years: Set[int] = set()
    for place in places:
        years.update(place.years)
    return sorted(years)
