"""The worker threads: take a job from the queue, run it, take the next.

Why: shaped like ``concurrent.futures.ThreadPoolExecutor``
(``concurrent/futures/thread.py``): a work item (:class:`~statsd.job.Job`), a
worker loop, ``submit`` and ``shutdown``.  Unlike the executor, a full queue
refuses at once instead of growing, and what a job does when it runs (compute,
write, publish its outcome) is given by the job manager as one function, so
that this module knows nothing of results or files.  That function must not
raise; if it does anyway, the worker logs it and takes the next job.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, List, Optional

from .job import Job
from .jobqueue import JobQueue

log = logging.getLogger("statsd.jobs")


class WorkerPool:
    """``count`` threads running ``run(job)`` for each job of a bounded queue."""

    def __init__(self, run: Callable[[Job], None], count: int, max_queue: int) -> None:
        self._run = run
        self._count = count
        self.queue = JobQueue(max_queue)
        self._threads: List[threading.Thread] = []

    def start(self) -> None:
        for index in range(self._count):
            thread = threading.Thread(target=self._work, name=f"statsd-worker-{index + 1}")
            thread.start()
            self._threads.append(thread)

    def check(self) -> None:
        """Raise QueueClosed or QueueFull if a job would be refused now (see JobQueue.check)."""
        self.queue.check()

    def submit(self, job: Job, force: bool = False) -> None:
        """Queue ``job``; raises QueueFull or QueueClosed (``force``: no bound)."""
        self.queue.put(job, force)

    def shutdown(self, wait: bool = True, timeout: Optional[float] = None) -> bool:
        """Take no more jobs; the workers finish the queued ones and stop.

        With ``wait``, returns whether every worker has stopped within
        ``timeout`` seconds (None: however long it takes).
        """
        self.queue.close()
        if not wait:
            return not self.alive()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.alive()

    def alive(self) -> int:
        """How many worker threads are running (all of them until shutdown)."""
        return sum(thread.is_alive() for thread in self._threads)

    def _work(self) -> None:
        while True:
            job = self.queue.get()
            if job is None:
                return
            try:
                self._run(job)
            except BaseException:  # pragma: no cover - run() catches what a job raises
                log.exception("%s: the worker failed to run it", job.id)
