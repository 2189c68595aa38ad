"""The job table: which ids were handed out, and the state of each.

Why a table of its own: every question about a job id -- get_results, the
job list, one past job -- is answered from here, and each must cost what the
answer costs, not what the history costs.  Only the jobs in flight, the
failures, and a bounded number of recent results and requests are held one
by one; done is what an issued id is when nothing else is known of it, and
the ids whose results are gone (expired, or missing from the directory at
start, however high a stray file name reached) are held as ranges.  So a
results directory holding ``job_id_1000000000.json`` costs one range, and
``states(last=N)`` costs O(N).
"""

from __future__ import annotations

import bisect
import collections
import logging
import threading
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

from .job import DONE, ERROR, EXPIRED, MAX_JOB_NUMBER, RUNNING, Job, job_name
from .journal import Journal
from .jobqueue import QueueFull
from .request import JobRequest

log = logging.getLogger("statsd.jobs")

#: How many of the results written last are kept in memory for get_results.
RECENT_RESULTS = 256

#: How many requests of the latest jobs are remembered for :meth:`JobTable.describe`.
REMEMBERED_REQUESTS = 10000

#: Job ids whose states are read under one hold of the lock by ``states()``.
_STATES_CHUNK = 1024


class IdRanges:
    """A set of job numbers kept as sorted, disjoint, half-open ranges ``[start, end)``.

    Not thread-safe: the table calls it under its lock.
    """

    def __init__(self) -> None:
        self._starts: List[int] = []
        self._ends: List[int] = []

    def __contains__(self, number: int) -> bool:
        index = bisect.bisect_right(self._starts, number) - 1
        return index >= 0 and number < self._ends[index]

    def __len__(self) -> int:
        """How many ranges (not numbers) are held: the memory it takes."""
        return len(self._starts)

    def add(self, number: int) -> None:
        self.add_range(number, number + 1)

    def add_range(self, start: int, end: int) -> None:
        """Add every number from ``start`` to ``end - 1``, merging touching ranges."""
        if start >= end:
            return
        starts, ends = self._starts, self._ends
        # Every range that overlaps or touches [start, end) is merged into it.
        first = bisect.bisect_left(ends, start)  # first range ending at or after start
        last = bisect.bisect_right(starts, end)  # ranges from here on start after end
        if first < last:
            start = min(start, starts[first])
            end = max(end, ends[last - 1])
        starts[first:last] = [start]
        ends[first:last] = [end]

    def ranges(self) -> Iterator[Tuple[int, int]]:
        return zip(self._starts, self._ends)


def gaps(numbers: Iterable[int], end: int) -> IdRanges:
    """The numbers from 1 to ``end - 1`` that are not in ``numbers`` (sorted, each below ``end``)."""
    missing = IdRanges()
    expected = 1
    for number in numbers:
        missing.add_range(expected, number)
        expected = number + 1
    missing.add_range(expected, end)
    return missing


class JobDescription(NamedTuple):
    """What is known of one job id: its state, its request, and why it failed.

    ``request`` is None for a job of an earlier run (its result file is the
    data only) and for one too old to be remembered; ``reason`` is set only
    for ``error``.  ``state`` is "" for an id never handed out.
    """

    state: str
    request: Optional[JobRequest]
    reason: Optional[str]


class JobTable:
    """The ids handed out and the state of each, with the journal of those in flight."""

    def __init__(self, journal: Journal, *, recent_results: int = RECENT_RESULTS,
                 remembered_requests: int = REMEMBERED_REQUESTS) -> None:
        self.journal = journal
        self._recent_results = recent_results
        self._remembered_requests = remembered_requests
        # _lock guards every field below, and the journal (so that its lines
        # are in id order, and emptying it never drops a line being added).
        # Some reads take no lock (issued, running, ended, pending): get_results
        # is the hottest path and must not queue behind a job's journal write.
        # They are safe because of the order in which the lock's holders
        # publish, each step one atomic dict or int operation:
        #   admit:   _active[n] = job, and only then _next = n + 1, so an id
        #            that reads as issued is active or has ended;
        #   finish:  _failed[n] or _recent[n] first, then del _active[n], then,
        #            after the lock is released, job.finished.set(), so a
        #            reader that no longer finds the job active, or is woken
        #            by its event, finds its outcome (or, once _recent has
        #            dropped it, its file on disk).
        #   restore: the same as admit, for the jobs of an earlier run.
        # _gone is only read under the lock (bisect over lists being changed).
        self._lock = threading.Lock()
        self._next = 1
        self._active: Dict[int, Job] = {}
        self._failed: Dict[int, str] = {}
        self._gone = IdRanges()  # expired, or missing from the directory at start
        self._recent: "collections.OrderedDict[int, bytes]" = collections.OrderedDict()
        self._requests: "collections.OrderedDict[int, JobRequest]" = collections.OrderedDict()
        self._unwritten: Dict[int, Job] = {}  # ended, but neither result nor failure on disk

    # -- filling it ----------------------------------------------------------

    def restore(self, highest: int, failed: Dict[int, str], gone: IdRanges,
                replay: List[Job]) -> None:
        """Take over an earlier run: its failures, its gone ids, its jobs to run again."""
        with self._lock:
            self._failed.update(failed)
            self._gone = gone
            try:
                self.journal.rewrite(replay)
            except OSError as error:
                log.warning("no journal in %s: %s; jobs will not survive a crash",
                            self.journal.store.directory, error.strerror or error)
            for job in replay:
                self._active[job.number] = job
                self._remember_request(job.number, job.request)
            self._next = max(self._next, highest + 1)  # after _active: see the lock

    def admit(self, request: JobRequest, enqueue) -> Job:
        """Give ``request`` the next id, journal it, ``enqueue(job)`` it; return the job.

        ``enqueue`` raises QueueFull or QueueClosed to refuse the job: then no
        id is used up and its journal line is taken back.  A job that cannot
        be journalled still runs; only its survival of a crash is lost.
        """
        with self._lock:
            if self._next > MAX_JOB_NUMBER:
                raise QueueFull()  # every id of the form JOB_ID has been handed out
            job = Job(self._next, request)
            # The line first, then the queue: the journal's write is a system
            # call, which lets another thread take the interpreter; made
            # before the worker is woken, it is not a second hand-off between
            # the two (make bench, three runs against the queue first: job
            # ids/s 1.02x-1.31x at 8 clients and 0.92x-1.18x at 32, fewer
            # context switches per POST at 8 clients in each run).
            line = 0  # bytes journalled
            try:
                line = self.journal.append(job)
            except OSError as error:
                log.warning("%s not journalled: %s", job.id, error.strerror or error)
            try:
                enqueue(job)
            except BaseException:
                if line:
                    self.journal.retract(line)
                raise
            self._active[job.number] = job
            self._remember_request(job.number, request)
            self._next = job.number + 1  # after _active: see the lock
        return job

    def finish(self, job: Job, reason: Optional[str], payload: Optional[bytes],
               written: bool) -> None:
        """Publish the outcome of ``job``: its failure ``reason``, or its result ``payload``.

        ``written`` says whether the outcome reached the disk; if not, the
        job's journal line is kept, so that the next start runs it again and
        never hands its id out twice.
        """
        with self._lock:
            if reason is not None:
                self._failed[job.number] = reason
            elif payload is not None:
                self._recent[job.number] = payload
                if len(self._recent) > self._recent_results:
                    self._recent.popitem(last=False)
            del self._active[job.number]  # after the outcome: see the lock
            if not written:
                self._unwritten[job.number] = job
            self.journal.idle(self._active, self._unwritten)
        job.finished.set()  # after the lock: a woken reader finds the outcome

    def trim_journal(self) -> None:
        """Cut the journal to the jobs still to replay: before results are deleted on purpose."""
        with self._lock:
            self.journal.trim(self._active, self._unwritten)

    def expire(self, number: int) -> None:
        """Forget a done or failed result whose file is being deleted on purpose."""
        with self._lock:
            self._gone.add(number)
            self._failed.pop(number, None)
            self._recent.pop(number, None)

    def close(self) -> None:
        """At a stop with no worker left: delete the journal, or keep it for what is unwritten."""
        with self._lock:
            if self._unwritten:
                self.journal.close()  # their lines are replayed at the next start
            else:
                self.journal.discard()  # every journalled job has ended, on disk

    def _remember_request(self, number: int, request: JobRequest) -> None:
        self._requests[number] = request
        if len(self._requests) > self._remembered_requests:
            self._requests.popitem(last=False)

    # -- lock-free reads (see the lock for why they are safe) ----------------

    def issued(self, number: int) -> bool:
        return 1 <= number < self._next

    def running(self, number: int) -> Optional[Job]:
        """The job if it is queued or running."""
        return self._active.get(number)

    def ended(self, number: int) -> Optional[Tuple[str, object]]:
        """``(error, reason)`` or ``(done, result bytes)`` if held in memory, else None."""
        reason = self._failed.get(number)
        if reason is not None:
            return ERROR, reason
        payload = self._recent.get(number)
        if payload is not None:
            return DONE, payload
        return None

    def accepted(self) -> int:
        """Jobs accepted since the first one, this run and before."""
        return self._next - 1

    def pending(self) -> int:
        """Jobs queued or running."""
        return len(self._active)

    # -- reads under the lock ------------------------------------------------

    def gone(self, number: int) -> bool:
        with self._lock:
            return number in self._gone

    def _state(self, number: int) -> str:
        """The state of an issued id (under the lock)."""
        if number in self._active:
            return RUNNING
        if number in self._failed:
            return ERROR
        if number in self._gone:
            return EXPIRED
        return DONE

    def states(self, last: Optional[int] = None) -> Iterator[Tuple[str, str]]:
        """``(job_id, state)`` for every job ever accepted (or the ``last`` ones), in job order.

        The lock is held for a chunk of ids at a time, so a long list never
        holds up the jobs being submitted.
        """
        end = self._next
        start = 1 if last is None else max(1, end - last)
        for low in range(start, end, _STATES_CHUNK):
            high = min(end, low + _STATES_CHUNK)
            with self._lock:
                chunk = [(job_name(number), self._state(number)) for number in range(low, high)]
            yield from chunk

    def describe(self, number: int) -> JobDescription:
        with self._lock:
            if not 1 <= number < self._next:
                return JobDescription("", None, None)
            state = self._state(number)
            job = self._active.get(number)
            request = job.request if job is not None else self._requests.get(number)
            return JobDescription(state, request, self._failed.get(number) if state == ERROR else None)
