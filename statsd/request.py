"""What a job computes: a statistic, a question, a state, and the filters.

Why a value object of its own: one request, validated once before a job
exists, travels unchanged through the job queue to the worker, into the
journal (and back out of it after a restart) and into the result cache's key.
Keeping it one immutable, hashable value means those four places cannot
disagree about what a job was asked, and the job machinery (:mod:`statsd.jobs`)
never needs to know what a question or a filter is.
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional

#: The optional body fields that narrow the rows a statistic is computed over,
#: in the order they are journalled and documented.
FILTER_FIELDS = ("year_from", "year_to", "category", "stratification")


class Filters(NamedTuple):
    """Rows kept: ``year_from <= YearStart <= year_to``, one category, one group.

    Every field None means every row, as in the original service.
    """

    year_from: Optional[int] = None
    year_to: Optional[int] = None
    category: Optional[str] = None
    stratification: Optional[str] = None

    def active(self) -> Dict[str, object]:
        """The fields that are set, by name (what the journal and the logs show)."""
        return {name: value for name, value in zip(FILTER_FIELDS, self) if value is not None}


NO_FILTERS = Filters()


class JobRequest(NamedTuple):
    """A validated request: ``state`` is the CSV's ``LocationDesc`` or None."""

    endpoint: str
    question: str
    state: Optional[str] = None
    filters: Filters = NO_FILTERS

    def to_json(self) -> Dict[str, object]:
        """The request as a JSON object, in the body's own field names.

        A request without filters gives exactly the body of the original
        service; the result is enough to validate and run the job again.
        """
        body: Dict[str, object] = {"endpoint": self.endpoint, "question": self.question}
        if self.state is not None:
            body["state"] = self.state
        if self.filters != NO_FILTERS:
            body.update(self.filters.active())
        return body
