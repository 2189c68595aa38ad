"""A job: one accepted request, its number, and the event set when it ends.

Why a module of its own: the job is the work item that travels from the
request handler through the queue to a worker (as ``_WorkItem`` does in
``concurrent/futures/thread.py``), and its id is the one name a client, the
journal and the result store share.  What a job computes is a
:class:`~statsd.request.JobRequest`; nothing here knows what a question or a
filter is.
"""

from __future__ import annotations

import re
import threading
from typing import Dict, Optional

from .request import JobRequest

#: The states a job id answers with (and "" for no such job).
RUNNING = "running"
DONE = "done"
ERROR = "error"
EXPIRED = "expired"

#: The only form of job id there is: ``job_id_`` and a positive number of at
#: most 18 digits (below 2**63, so any number is a C long, a JSON-safe
#: integer for Python, and never a MemoryError however it is used).
JOB_ID = re.compile(r"job_id_([1-9][0-9]{0,17})")
MAX_JOB_NUMBER = 10 ** 18 - 1


def job_name(number: int) -> str:
    return f"job_id_{number}"


def parse_job_id(text: str) -> Optional[int]:
    """The number of a job id such as ``job_id_7``, or None for anything else."""
    match = JOB_ID.fullmatch(text)
    return int(match.group(1)) if match else None


class Job:
    """One accepted request: what to compute, and an event set when it ends."""

    __slots__ = ("number", "request", "finished")

    def __init__(self, number: int, request: JobRequest) -> None:
        self.number = number
        self.request = request
        self.finished = threading.Event()

    @property
    def id(self) -> str:
        return job_name(self.number)

    def journalled(self) -> Dict[str, object]:
        """The request as journalled, enough to run the job again."""
        return {"job": self.number, **self.request.to_json()}
