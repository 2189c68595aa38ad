"""What the data holds: its questions, locations, stratification categories and years.

Why: the question texts are long sentences that must be sent exactly; a
client (the dashboard, ``statsd.client``, a script) asks these lists instead
of guessing or copying them by hand, and learns from them which filters
(years, categories, groups) can be asked.  Each function answers the
``data`` of a GET endpoint from its query string, and raises BadRequest for a
bad one.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Union

from .ingest import Dataset
from .query import optional, parse_query, required
from .selection import years_with_data
from .stats import LOWER_IS_BETTER, BadRequest, check_question, resolve_location

#: ``/api/states?with=abbr``: each location with its ``LocationAbbr``.
WITH_ABBREVIATIONS = "abbr"


def questions(dataset: Dataset, query: str) -> List[Dict[str, object]]:
    """Every question with data, sorted, with which way is better and how many locations."""
    parse_query(query, ())
    return [{"question": question,
             "better": "lower" if question in LOWER_IS_BETTER else "higher",
             "locations": len(data.locations)}
            for question, data in sorted(dataset.questions.items())]


def states(dataset: Dataset, query: str) -> Union[List[str], List[Dict[str, str]]]:
    """Every location, sorted; with ``question``, those that have data for it.

    With ``with=abbr`` each entry is ``{"name": LocationDesc, "abbreviation":
    LocationAbbr}`` instead of the bare name (the abbreviation is "" when the
    file has no ``LocationAbbr`` column), so that a client written for the
    list of names never sees another shape.
    """
    params = parse_query(query, ("question", "with"))
    question = optional(params, "question")
    extra = optional(params, "with")
    if extra is not None and extra != WITH_ABBREVIATIONS:
        raise BadRequest(f"parameter 'with' takes {WITH_ABBREVIATIONS!r}, not {extra!r}")
    names = (dataset.locations if question is None
             else sorted(check_question(dataset, question).locations))
    if extra is None:
        return names
    return [{"name": name, "abbreviation": dataset.abbreviations.get(name, "")} for name in names]


def categories(dataset: Dataset, query: str) -> Dict[str, List[str]]:
    """``{category: [stratification, ...]}`` with data, sorted: of the whole
    dataset, of one ``question``, or of one question and ``state``."""
    params = parse_query(query, ("question", "state"))
    question, state = optional(params, "question"), optional(params, "state")
    if question is None:
        if state is not None:
            raise BadRequest("parameter 'state' needs parameter 'question'")
        return dataset.categories
    data = check_question(dataset, question)
    if state is not None:
        places = [data.locations[resolve_location(dataset, question, state)]]
    else:
        places = list(data.locations.values())
    found: Dict[str, set] = {}
    for place in places:
        for category, stratification in place.groups:
            found.setdefault(category, set()).add(stratification)
    return {category: sorted(found[category]) for category in sorted(found)}


def years(dataset: Dataset, query: str) -> List[int]:
    """The ``YearStart`` values with data for ``question`` (of one ``state``), ascending."""
    params = parse_query(query, ("question", "state"))
    question = required(params, "question")
    check_question(dataset, question)
    state: Optional[str] = optional(params, "state")
    location = resolve_location(dataset, question, state) if state is not None else None
    return years_with_data(dataset, question, location)


#: Discovery endpoint name (``/api/<name>``) -> function of (dataset, query string).
LISTS: Dict[str, Callable[[Dataset, str], object]] = {
    "questions": questions,
    "states": states,
    "categories": categories,
    "years": years,
}
