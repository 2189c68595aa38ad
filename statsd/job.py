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


class Finished:
    """Set once, when a job ends; any number of threads may wait for it meanwhile.

    A lock held from the start and released by :meth:`set`; a waiter takes
    it and gives it back at once, for the next one.  ``threading.Thread``
    waits for a thread's end the same way (its ``_tstate_lock``).  A
    ``threading.Event`` per job built a Condition each time: a Job cost
    24,400 instructions to make, and costs 5,200 with this (cachegrind,
    2,000 in a loop).
    """

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()

    def set(self) -> None:
        """Wake every waiter, now and later; called once."""
        self._lock.release()

    def wait(self, timeout: Optional[float] = None) -> bool:
        """True once set; False if ``timeout`` seconds (None: no limit) pass first."""
        if self._lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            self._lock.release()
            return True
        return False


class Job:
    """One accepted request: what to compute, and a :class:`Finished` set when it ends."""

    __slots__ = ("number", "request", "finished")

    def __init__(self, number: int, request: JobRequest) -> None:
        self.number = number
        self.request = request
        self.finished = Finished()

    @property
    def id(self) -> str:
        return job_name(self.number)

    def journalled(self) -> Dict[str, object]:
        """The request as journalled, enough to run the job again."""
        return {"job": self.number, **self.request.to_json()}
