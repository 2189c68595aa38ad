"""Means computed straight from the sample CSV, independently of statsd.

Why: the chart and discovery tests compare what the server draws or lists
with numbers that do not go through ``statsd.ingest``: a plain
``csv.DictReader`` pass over the file, grouping ``Data_Value`` in lists.
"""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from statistics import mean
from typing import Dict, List, Tuple

from support import SAMPLE_CSV


@functools.lru_cache(maxsize=None)
def rows() -> Tuple[dict, ...]:
    """Every row of the sample that has a Data_Value."""
    with open(SAMPLE_CSV, encoding="utf-8-sig", newline="") as handle:
        return tuple(row for row in csv.DictReader(handle) if row["Data_Value"].strip())


def _group(key) -> Dict[tuple, float]:
    values: Dict[tuple, List[float]] = defaultdict(list)
    for row in rows():
        values[key(row)].append(float(row["Data_Value"]))
    return {name: mean(numbers) for name, numbers in values.items()}


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
