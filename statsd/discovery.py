"""What the data holds: its questions, locations and stratification categories.

Why: the question texts are long sentences that must be sent exactly; a
client (the dashboard, ``statsd.client``, a script) asks these lists instead
of guessing or copying them by hand.  Each function answers the ``data`` of
a GET endpoint from its query string, and raises BadRequest for a bad one.
"""

from __future__ import annotations

from typing import Callable, Dict, List

from .ingest import Dataset
from .query import optional, parse_query, required
from .stats import LOWER_IS_BETTER, check_location, check_question


def questions(dataset: Dataset, query: str) -> List[Dict[str, object]]:
    """Every question with data, sorted, with which way is better and how many locations."""
    parse_query(query, ())
    return [{"question": question,
             "better": "lower" if question in LOWER_IS_BETTER else "higher",
             "locations": len(data.locations)}
            for question, data in sorted(dataset.questions.items())]


def states(dataset: Dataset, query: str) -> List[str]:
    """Every location, sorted; with ``question``, those that have data for it."""
    question = optional(parse_query(query, ("question",)), "question")
    if question is None:
        return dataset.locations
    return sorted(check_question(dataset, question).locations)


def categories(dataset: Dataset, query: str) -> Dict[str, List[str]]:
    """``{category: [stratification, ...]}`` of one question and location, sorted."""
    params = parse_query(query, ("question", "state"))
    question, state = required(params, "question"), required(params, "state")
    check_question(dataset, question)
    check_location(dataset, question, state)
    place = dataset.questions[question].locations[state]
    return {category: [stratification for stratification, _ in members]
            for category, members in place.by_category().items()}


#: Discovery endpoint name (``/api/<name>``) -> function of (dataset, query string).
LISTS: Dict[str, Callable[[Dataset, str], object]] = {
    "questions": questions,
    "states": states,
    "categories": categories,
}
