"""The nine statistics of the API, as pure functions of a Dataset.

Why: keeping the numbers free of I/O and threads lets them be tested on a
hand-made CSV with hand-worked answers, and lets the worker, the charts and
the tests share one definition of each result.

Every function takes the dataset, a question, (for the ``state_*`` ones) a
location and the filters (a :class:`~statsd.request.Filters`, every row by
default), and returns the ``data`` of the contract: a dict whose insertion
order is the order the contract asks for, computed over the kept rows only.
Arguments are checked once, before a job exists, by :func:`check_request`.
The smaller functions (``location_means``, ``group_means``, ``year_means``,
``question_mean``) are what the charts draw, with the same filters.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

from .ingest import Dataset, Group, QuestionData
from .request import NO_FILTERS, Filters, JobRequest
from .selection import group_sums, location_sums, place_sums, question_sums, year_sums

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


def location_means(dataset: Dataset, question: str,
                   filters: Filters = NO_FILTERS) -> List[Tuple[str, float]]:
    """Every location's mean of its kept rows, ascending by mean (ties by name).

    A location without a kept row is left out.
    """
    pairs = [(location, sums.mean)
             for location, sums in location_sums(dataset, question, filters).items()]
    pairs.sort(key=lambda pair: (pair[1], pair[0]))
    return pairs


def question_mean(dataset: Dataset, question: str, filters: Filters = NO_FILTERS) -> float:
    """The mean of every kept row of the question, whatever its location."""
    return question_sums(dataset, question, filters).mean


def location_mean(dataset: Dataset, question: str, location: str,
                  filters: Filters = NO_FILTERS) -> float:
    """The mean of one location's kept rows (a checked location: see :func:`resolve_location`)."""
    return place_sums(dataset, dataset.questions[question].locations[location], filters).mean


def group_means(dataset: Dataset, question: str, location: str,
                filters: Filters = NO_FILTERS) -> List[Tuple[Group, float]]:
    """``[((category, stratification), mean), ...]`` of one location, sorted by the group."""
    place = dataset.questions[question].locations[location]
    return sorted((group, sums.mean) for group, sums in group_sums(dataset, place, filters).items())


def year_means(dataset: Dataset, question: str, location: str,
               filters: Filters = NO_FILTERS) -> List[Tuple[int, float]]:
    """``[(YearStart, mean), ...]`` of one location's kept rows, ascending by year."""
    place = dataset.questions[question].locations[location]
    return [(year, sums.mean) for year, sums in year_sums(dataset, place, filters).items()]


def states_mean(dataset: Dataset, question: str, filters: Filters = NO_FILTERS) -> Result:
    return dict(location_means(dataset, question, filters))


def state_mean(dataset: Dataset, question: str, state: str, filters: Filters = NO_FILTERS) -> Result:
    return {state: location_mean(dataset, question, state, filters)}


def _ranked(dataset: Dataset, question: str, filters: Filters, best_first: bool) -> Result:
    ascending = location_means(dataset, question, filters)
    lowest_first = (question in LOWER_IS_BETTER) == best_first
    if lowest_first:
        return dict(ascending[:5])
    descending = sorted(ascending, key=lambda pair: (-pair[1], pair[0]))
    return dict(descending[:5])


def best5(dataset: Dataset, question: str, filters: Filters = NO_FILTERS) -> Result:
    return _ranked(dataset, question, filters, best_first=True)


def worst5(dataset: Dataset, question: str, filters: Filters = NO_FILTERS) -> Result:
    return _ranked(dataset, question, filters, best_first=False)


def global_mean(dataset: Dataset, question: str, filters: Filters = NO_FILTERS) -> Result:
    return {"global_mean": question_mean(dataset, question, filters)}


def diff_from_mean(dataset: Dataset, question: str, filters: Filters = NO_FILTERS) -> Result:
    overall = question_mean(dataset, question, filters)
    return {location: overall - mean
            for location, mean in location_means(dataset, question, filters)}


def state_diff_from_mean(dataset: Dataset, question: str, state: str,
                         filters: Filters = NO_FILTERS) -> Result:
    return {state: question_mean(dataset, question, filters)
            - location_mean(dataset, question, state, filters)}


def mean_by_category(dataset: Dataset, question: str, filters: Filters = NO_FILTERS) -> Result:
    groups = [
        ((location, category, stratification), sums.mean)
        for location, place in dataset.questions[question].locations.items()
        for (category, stratification), sums in group_sums(dataset, place, filters).items()
    ]
    groups.sort(key=lambda pair: pair[0])
    return {repr(key): mean for key, mean in groups}


def state_mean_by_category(dataset: Dataset, question: str, state: str,
                           filters: Filters = NO_FILTERS) -> Result:
    return {state: {repr(group): mean
                    for group, mean in group_means(dataset, question, state, filters)}}


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


def unfiltered_requests(dataset: Dataset) -> Iterator[JobRequest]:
    """Every request of the original API that ``dataset`` can answer, without a filter.

    Each statistic of each question with values, and, for a statistic that
    takes a state, of each location with values for that question: what a
    client of the original service can ask.  The job manager computes their
    results at start (see :meth:`statsd.jobs.JobManager.precompute`).
    """
    for statistic in STATISTICS.values():
        for question, data in dataset.questions.items():
            if statistic.needs_state:
                for location in data.locations:
                    yield JobRequest(statistic.name, question, location)
            else:
                yield JobRequest(statistic.name, question)


class BadRequest(ValueError):
    """A request the data cannot answer; ``str()`` says why, for the client."""


def check_request(dataset: Dataset, statistic: Statistic, body: Any) -> JobRequest:
    """Validate a request body for ``statistic``; return the job's request.

    Raises :class:`BadRequest` naming the problem: a body that is not an
    object, a missing or non-string field, a question or state without data,
    a bad filter (see :func:`check_filters`), a filter that keeps no row of
    the state or of the question.  ``state`` may be given in any letter case
    or as the CSV's ``LocationAbbr``; the request carries its ``LocationDesc``.
    Other fields are ignored.
    """
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    question = _text_field(body, "question")
    check_question(dataset, question)
    filters = check_filters(dataset, body)
    if not statistic.needs_state:
        check_kept(dataset, question, filters)
        return JobRequest(statistic.name, question, None, filters)
    state = resolve_location(dataset, question, _text_field(body, "state"), filters)
    return JobRequest(statistic.name, question, state, filters)


def check_question(dataset: Dataset, question: str) -> QuestionData:
    """The data of ``question``; BadRequest if the dataset has none."""
    data = dataset.questions.get(question)
    if data is None:
        if question in dataset.empty_questions:
            raise BadRequest(f"no data for question {question!r}: every row lacks a Data_Value")
        raise BadRequest(f"unknown question {question!r}")
    return data


def check_location(dataset: Dataset, question: str, state: str) -> None:
    """BadRequest unless ``state``, exactly a ``LocationDesc``, has data for ``question``."""
    if state not in dataset.questions[question].locations:
        if any(state in other.locations for other in dataset.questions.values()):
            raise BadRequest(f"no data for state {state!r} on question {question!r}")
        raise BadRequest(f"unknown state {state!r}")


def resolve_location(dataset: Dataset, question: str, state: str,
                     filters: Filters = NO_FILTERS) -> str:
    """The ``LocationDesc`` that ``state`` names, checked to have kept rows of ``question``.

    ``state`` is a ``LocationDesc`` or a ``LocationAbbr`` in any letter case
    ("Ohio", "ohio", "OH"; "US" is National).  BadRequest for a name the data
    does not know, a location without data for the question, or one whose
    every row of it the filters leave out.
    """
    locations = dataset.questions[question].locations
    location = state if state in locations else dataset.location_names.get(state.lower())
    if location is None:
        raise BadRequest(f"unknown state {state!r}")
    if location not in locations:
        raise BadRequest(f"no data for state {location!r} on question {question!r}")
    if filters != NO_FILTERS and not place_sums(dataset, locations[location], filters).count:
        raise BadRequest(f"no data for state {location!r} on question {question!r} "
                         f"with {describe(filters)}")
    return location


def check_kept(dataset: Dataset, question: str, filters: Filters) -> None:
    """BadRequest if ``filters`` keeps no row of ``question`` (a checked question)."""
    if filters != NO_FILTERS and not question_sums(dataset, question, filters).count:
        raise BadRequest(f"no data for question {question!r} with {describe(filters)}")


def check_filters(dataset: Dataset, body: dict) -> Filters:
    """The filters of a request body; absent or null fields keep every row.

    BadRequest naming the field for a year that is not an integer (a bool is
    not one), ``year_from`` after ``year_to``, a category or stratification
    that is not a string or not in the data, a stratification without its
    category.
    """
    year_from = _year_field(body, "year_from")
    year_to = _year_field(body, "year_to")
    if year_from is not None and year_to is not None and year_from > year_to:
        raise BadRequest(f"field 'year_from' ({year_from}) is after field 'year_to' ({year_to})")
    category = _optional_text(body, "category")
    stratification = _optional_text(body, "stratification")
    known = dataset.categories
    if category is not None and category not in known:
        raise BadRequest(f"field 'category': unknown category {category!r}; "
                         f"categories: {', '.join(known)}")
    if stratification is not None:
        if category is None:
            raise BadRequest("field 'stratification' needs field 'category' "
                             "(the StratificationCategory1 it belongs to)")
        if stratification not in known[category]:
            raise BadRequest(f"field 'stratification': unknown stratification {stratification!r} "
                             f"of category {category!r}; its stratifications: "
                             f"{', '.join(known[category])}")
    return Filters(year_from, year_to, category, stratification)


def describe(filters: Filters) -> str:
    """The filters that are set, as a client wrote them: ``year_from=2019, category='Total'``."""
    return ", ".join(f"{name}={value!r}" for name, value in filters.active().items())


def _text_field(body: dict, name: str) -> str:
    value = _optional_text(body, name)
    if value is None:
        raise BadRequest(f"missing field {name!r}")
    return value


def _optional_text(body: dict, name: str) -> Optional[str]:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"field {name!r} must be a string, not {type(value).__name__}")
    return value


def _year_field(body: dict, name: str) -> Optional[int]:
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise BadRequest(f"field {name!r} must be an integer year, not {type(value).__name__}")
    return value


def compute(dataset: Dataset, request: JobRequest) -> Result:
    """Run the statistic of a checked request (see :func:`check_request`)."""
    statistic = STATISTICS[request.endpoint]
    if statistic.needs_state:
        return statistic.function(dataset, request.question, request.state, request.filters)
    return statistic.function(dataset, request.question, request.filters)
