"""The queue between the request handlers and the workers: bounded, closable.

Why not ``queue.Queue``: a job must be refused at once when the queue is full
(503, and no job id used up), the workers must learn that no job will come
any more (shutdown), and the "queued" line of a job must be logged before any
worker can take it and log "done".  It is built the way ``queue.Queue``
is: a deque guarded by one Condition.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Deque, Optional

from .job import Job

log = logging.getLogger("statsd.jobs")


class QueueFull(Exception):
    """The queue holds as many jobs as it may; try again later."""


class QueueClosed(Exception):
    """The queue takes no more jobs: the server is shutting down."""


class JobQueue:
    """A FIFO of jobs for the workers, bounded, closable.

    ``put`` never blocks (a full queue raises :class:`QueueFull`); ``get``
    blocks until there is a job, and returns None once the queue is closed
    and empty, which is how a worker learns to stop.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        # The condition's lock guards _items and _closed.  A job's "queued"
        # line is logged under it, after the checks and before the job is
        # appended, so no worker can log "done" for a job before it, and no
        # refused job is ever logged as queued.  len() and closed are read
        # without it: a snapshot that may be stale by the time it is used.
        self._condition = threading.Condition(threading.Lock())
        self._items: Deque[Job] = collections.deque()
        self._closed = False

    def put(self, job: Job, force: bool = False) -> None:
        """Append ``job``; ``force`` ignores the bound (for jobs already accepted)."""
        with self._condition:
            self.check(force)
            log.info("%s queued %s", job.id, job.request.endpoint)
            self._items.append(job)
            self._condition.notify()

    def check(self, force: bool = False) -> None:
        """Raise QueueClosed or QueueFull if :meth:`put` would refuse a job now.

        Called without the lock, so that a job refused under load costs no
        more than this; ``put`` calls it again, under the lock.
        """
        if self._closed:
            raise QueueClosed()
        if len(self._items) >= self.maxsize and not force:
            raise QueueFull()

    def get(self) -> Optional[Job]:
        with self._condition:
            while not self._items:
                if self._closed:
                    return None
                self._condition.wait()
            return self._items.popleft()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        """Jobs waiting for a worker."""
        return len(self._items)
