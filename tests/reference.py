"""The tests' one oracle: means computed straight from the sample CSV, independently of statsd.

Why: statsd precomputes sums at load and answers from them; a mistake there
(a row counted twice, a group folded into the wrong location, a mean of
means) would give plausible numbers.  This module shares no code with
statsd: a plain ``csv.DictReader`` pass over the file, grouping
``Data_Value`` in lists and averaging them, the slow obvious way.  The
oracle, chart, discovery and archive tests compare the server with it.
"""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from statistics import mean
from typing import Any, Dict, List, Tuple

from support import SAMPLE_CSV

#: Copied from the contract, not imported from statsd.
LOWER_IS_BETTER = frozenset({
    "Percent of adults aged 18 years and older who have an overweight classification",
    "Percent of adults aged 18 years and older who have obesity",
    "Percent of adults who engage in no leisure-time physical activity",
    "Percent of adults who report consuming fruit less than one time daily",
    "Percent of adults who report consuming vegetables less than one time daily",
})


@functools.lru_cache(maxsize=None)
def rows() -> Tuple[dict, ...]:
    """Every row of the sample that has a Data_Value."""
    with open(SAMPLE_CSV, encoding="utf-8-sig", newline="") as handle:
        return tuple(row for row in csv.DictReader(handle) if row["Data_Value"].strip())


def _group(key) -> Dict[Any, float]:
    values: Dict[Any, List[float]] = defaultdict(list)
    for row in rows():
        values[key(row)].append(float(row["Data_Value"]))
    return {name: mean(numbers) for name, numbers in values.items()}


@functools.lru_cache(maxsize=None)
def question_means() -> Dict[str, float]:
    """``question -> mean`` over every row of the question (the global mean)."""
    return _group(lambda row: row["Question"])


@functools.lru_cache(maxsize=None)
def location_means() -> Dict[tuple, float]:
    """``(question, location) -> mean``."""
    return _group(lambda row: (row["Question"], row["LocationDesc"]))


@functools.lru_cache(maxsize=None)
def year_means() -> Dict[tuple, float]:
    """``(question, location, year) -> mean``."""
    return _group(lambda row: (row["Question"], row["LocationDesc"], int(row["YearStart"])))


@functools.lru_cache(maxsize=None)
def group_means() -> Dict[tuple, float]:
    """``(question, location, category, stratification) -> mean``."""
    return _group(lambda row: (row["Question"], row["LocationDesc"],
                               row["StratificationCategory1"], row["Stratification1"]))


def questions() -> List[str]:
    return sorted({question for question, _ in location_means()})


def locations(question: str = "") -> List[str]:
    return sorted({location for (q, location) in location_means() if not question or q == question})


def means_of(question: str) -> Dict[str, float]:
    """``location -> mean`` for every location with a value for ``question``."""
    return {location: mean for (q, location), mean in location_means().items() if q == question}


def groups_of(question: str, location: str) -> Dict[Tuple[str, str], float]:
    """``(category, stratification) -> mean`` of one location for ``question``."""
    return {(category, stratification): mean
            for (q, where, category, stratification), mean in group_means().items()
            if q == question and where == location}
