"""The nine statistics of the API, as pure functions of a Dataset.

Why: keeping the numbers free of I/O and threads lets them be tested on a
hand-made CSV with hand-worked answers, and lets the worker, the charts and
the tests share one definition of each result.

Every function takes the dataset, a question and (for the ``state_*`` ones) a
location, and returns the ``data`` of the contract: a dict whose insertion
order is the order the contract asks for.  Arguments are checked once, before
a job exists, by :func:`check_request`.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from .ingest import Dataset, QuestionData
from .request import JobRequest

#: Questions whose best locations have the lowest means; for every other
#: question a higher mean is better.
LOWER_IS_BETTER = frozenset({
    "Percent of adults aged 18 years and older who have an overweight classification",
    "Percent of adults aged 18 years and older who have obesity",
    "Percent of adults who engage in no leisure-time physical activity",
    "Percent of adults who report consuming fruit less than one time daily",
    "Percent of adults who report consuming vegetables less than one time daily",
})

Result = Dict[str, Any]


def _question(dataset: Dataset, question: str) -> QuestionData:
    return dataset.questions[question]


def location_means(dataset: Dataset, question: str) -> List[Tuple[str, float]]:
    """Every location's mean for ``question``, ascending by mean (ties by name)."""
    pairs = [(location, data.overall.mean)
             for location, data in _question(dataset, question).locations.items()]
    pairs.sort(key=lambda pair: (pair[1], pair[0]))
    return pairs


def states_mean(dataset: Dataset, question: str) -> Result:
    return dict(location_means(dataset, question))


def state_mean(dataset: Dataset, question: str, state: str) -> Result:
    return {state: _question(dataset, question).locations[state].overall.mean}


def _ranked(dataset: Dataset, question: str, best_first: bool) -> Result:
    ascending = location_means(dataset, question)
    lowest_first = (question in LOWER_IS_BETTER) == best_first
    if lowest_first:
        return dict(ascending[:5])
    descending = sorted(ascending, key=lambda pair: (-pair[1], pair[0]))
    return dict(descending[:5])


def best5(dataset: Dataset, question: str) -> Result:
    return _ranked(dataset, question, best_first=True)


def worst5(dataset: Dataset, question: str) -> Result:
    return _ranked(dataset, question, best_first=False)


def global_mean(dataset: Dataset, question: str) -> Result:
    return {"global_mean": _question(dataset, question).overall.mean}


def diff_from_mean(dataset: Dataset, question: str) -> Result:
    overall = _question(dataset, question).overall.mean
    return {location: overall - mean for location, mean in location_means(dataset, question)}


def state_diff_from_mean(dataset: Dataset, question: str, state: str) -> Result:
    data = _question(dataset, question)
    return {state: data.overall.mean - data.locations[state].overall.mean}


def mean_by_category(dataset: Dataset, question: str) -> Result:
    groups = [
        ((location, category, stratification), accumulator.mean)
        for location, data in _question(dataset, question).locations.items()
        for (category, stratification), accumulator in data.groups.items()
    ]
    groups.sort(key=lambda pair: pair[0])
    return {repr(key): mean for key, mean in groups}


def state_mean_by_category(dataset: Dataset, question: str, state: str) -> Result:
    groups = _question(dataset, question).locations[state].groups
    return {state: {repr(group): groups[group].mean for group in sorted(groups)}}


class Statistic(NamedTuple):
    """One data endpoint: its function and whether it takes a ``state``."""

    name: str
    function: Callable[..., Result]
    needs_state: bool
    summary: str


#: The data endpoints, in the order the contract lists them.
STATISTICS: Dict[str, Statistic] = {s.name: s for s in (
    Statistic("states_mean", states_mean, False,
              "mean of every location, ascending"),
    Statistic("state_mean", state_mean, True,
              "mean of one location"),
    Statistic("best5", best5, False,
              "the 5 best locations, best first"),
    Statistic("worst5", worst5, False,
              "the 5 worst locations, worst first"),
    Statistic("global_mean", global_mean, False,
              "mean over every row of the question"),
    Statistic("diff_from_mean", diff_from_mean, False,
              "global mean minus each location's mean"),
    Statistic("state_diff_from_mean", state_diff_from_mean, True,
              "global mean minus one location's mean"),
    Statistic("mean_by_category", mean_by_category, False,
              "mean of every (location, category, stratification)"),
    Statistic("state_mean_by_category", state_mean_by_category, True,
              "mean of every (category, stratification) of one location"),
)}


class BadRequest(ValueError):
    """A request the data cannot answer; ``str()`` says why, for the client."""


def check_request(dataset: Dataset, statistic: Statistic, body: Any) -> JobRequest:
    """Validate a request body for ``statistic``; return the job's request.

    Raises :class:`BadRequest` naming the problem: a body that is not an
    object, a missing or non-string field, a question or state without data.
    Fields other than ``question`` and ``state`` are ignored.
    """
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    question = _text_field(body, "question")
    check_question(dataset, question)
    if not statistic.needs_state:
        return JobRequest(statistic.name, question)
    state = _text_field(body, "state")
    check_location(dataset, question, state)
    return JobRequest(statistic.name, question, state)


def check_question(dataset: Dataset, question: str) -> QuestionData:
    """The data of ``question``; BadRequest if the dataset has none."""
    data = dataset.questions.get(question)
    if data is None:
        if question in dataset.empty_questions:
            raise BadRequest(f"no data for question {question!r}: every row lacks a Data_Value")
        raise BadRequest(f"unknown question {question!r}")
    return data


def check_location(dataset: Dataset, question: str, state: str) -> None:
    """BadRequest unless ``state`` has data for ``question`` (a checked question)."""
    if state not in dataset.questions[question].locations:
        if any(state in other.locations for other in dataset.questions.values()):
            raise BadRequest(f"no data for state {state!r} on question {question!r}")
        raise BadRequest(f"unknown state {state!r}")


def _text_field(body: dict, name: str) -> str:
    if name not in body or body[name] is None:
        raise BadRequest(f"missing field {name!r}")
    value = body[name]
    if not isinstance(value, str):
        raise BadRequest(f"field {name!r} must be a string, not {type(value).__name__}")
    return value


def compute(dataset: Dataset, request: JobRequest) -> Result:
    """Run the statistic of a checked request (see :func:`check_request`)."""
    statistic = STATISTICS[request.endpoint]
    if statistic.needs_state:
        return statistic.function(dataset, request.question, request.state)
    return statistic.function(dataset, request.question)
