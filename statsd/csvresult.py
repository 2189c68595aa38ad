"""A statistic's result as CSV text: a header row, then one row per entry of ``data``.

Why: people who ask for a slice of this data put the answer in a spreadsheet
or a data frame next to other tables, and a CSV download (as the CDC's own
portal offers) saves them from flattening JSON by hand.  The conversion is a
pure function of the endpoint and the ``data`` of a done job, so it is
tested on its own and the HTTP layer only chooses when to call it.

Columns per statistic, as the contract fixes them: ``location,mean``,
``location,difference``, ``global_mean``, and
``location,category,stratification,mean`` for both by-category statistics,
whose tuple keys (``"('Ohio', 'Age (years)', '18 - 24')"``) are split into
their parts.  Rows keep the order of ``data``; numbers are ``repr(float)``
(what JSON carries, to the last digit); lines end with CRLF (RFC 4180).
"""

from __future__ import annotations

import ast
import csv
import io
from typing import Any, Dict, Iterator, List, Optional, Tuple

#: The media type of the answer.
CSV_TYPE = "text/csv; charset=utf-8"

#: endpoint -> its header row
COLUMNS: Dict[str, Tuple[str, ...]] = {
    "states_mean": ("location", "mean"),
    "state_mean": ("location", "mean"),
    "best5": ("location", "mean"),
    "worst5": ("location", "mean"),
    "global_mean": ("global_mean",),
    "diff_from_mean": ("location", "difference"),
    "state_diff_from_mean": ("location", "difference"),
    "mean_by_category": ("location", "category", "stratification", "mean"),
    "state_mean_by_category": ("location", "category", "stratification", "mean"),
}


#: The header of a ``{location: number}`` result whose statistic is not known any
#: more (a result of an earlier run: its file holds the data only).
UNKNOWN_FLAT = ("location", "value")


def to_csv(data: Dict[str, Any], endpoint: Optional[str] = None) -> str:
    """The CSV text of the ``data`` of a done job of statistic ``endpoint``.

    Without ``endpoint`` the shape of ``data`` says which rows to write; only
    the name of the number column of a ``{location: number}`` result cannot
    be told from it (mean or difference), and is then ``value``.
    """
    kind = endpoint if endpoint in COLUMNS else _shape(data)
    header = COLUMNS.get(kind, UNKNOWN_FLAT)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(_rows(kind, data))
    return out.getvalue()


def _shape(data: Dict[str, Any]) -> str:
    """The statistic a result looks like; "" for a ``{location: number}`` one."""
    if list(data) == ["global_mean"]:
        return "global_mean"
    first = next(iter(data.values()), None)
    if isinstance(first, dict):
        return "state_mean_by_category"
    if next(iter(data), "").startswith("("):
        return "mean_by_category"
    return ""


def _rows(kind: str, data: Dict[str, Any]) -> Iterator[List[str]]:
    if kind == "global_mean":
        yield [_number(data["global_mean"])]
    elif kind == "mean_by_category":
        for key, mean in data.items():
            yield [*_tuple_key(key, 3), _number(mean)]
    elif kind == "state_mean_by_category":
        for location, groups in data.items():
            for key, mean in groups.items():
                yield [location, *_tuple_key(key, 2), _number(mean)]
    else:
        for location, value in data.items():
            yield [location, _number(value)]


def _tuple_key(key: str, parts: int) -> Tuple[str, ...]:
    """``"('Ohio', 'Male')"`` -> ``("Ohio", "Male")``: the key is a Python tuple repr of strings."""
    value = ast.literal_eval(key)
    if not (isinstance(value, tuple) and len(value) == parts
            and all(isinstance(part, str) for part in value)):
        raise ValueError(f"not a tuple of {parts} strings: {key!r}")
    return value


def _number(value: Any) -> str:
    return repr(float(value))
