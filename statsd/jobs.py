"""Jobs: hand out ids, queue the jobs, run them, answer for their states.

Why: the API answers a data request at once with a job id and computes the
result in the background.  The path of a job is short and fully on disk:

    submit -> a line in the journal -> queue -> worker -> compute
           -> ``.<id>.json.tmp`` -> rename -> ``<id>.json`` -> done

:class:`JobManager` is the small facade the server talks to; each step has a
module of its own: the job (:mod:`statsd.job`), the bounded queue
(:mod:`statsd.jobqueue`), the workers (:mod:`statsd.workers`), the table of
states with its lock (:mod:`statsd.jobtable`), the journal
(:mod:`statsd.journal`), the results directory (:mod:`statsd.store`) and the
cache of encoded results (:mod:`statsd.resultcache`).  What a job computes is
a :class:`~statsd.request.JobRequest` given to ``compute``; nothing here
knows what a question or a filter is.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Set, Tuple

from .job import DONE, ERROR, EXPIRED, JOB_ID, RUNNING, Job, job_name, parse_job_id
from .jobqueue import QueueClosed, QueueFull
from .jobtable import RECENT_RESULTS, REMEMBERED_REQUESTS, JobDescription, JobTable, gaps
from .journal import Journal
from .request import JobRequest
from .resultcache import RESULT_CACHE_BYTES, ResultCache
from .store import ResultStore, ResultsInUse
from .workers import WorkerPool

__all__ = ["DONE", "ERROR", "EXPIRED", "JOB_ID", "RUNNING", "JobDescription", "JobManager",
           "OnFinished", "QueueClosed", "QueueFull", "ResultStore", "ResultsInUse",
           "job_name", "parse_job_id"]

log = logging.getLogger("statsd.jobs")

Compute = Callable[[JobRequest], object]

#: ``on_finished(request, outcome, seconds)``: called once per job when it
#: ends, with outcome "done" or "error" and the seconds it ran.
OnFinished = Callable[[JobRequest, str, float], None]


class JobManager:
    """Hands out job ids, queues jobs, runs the workers, answers for states.

    ``compute(request)`` returns the data of a result; it runs on a worker
    thread, and must be a pure function of its argument: its encoded results
    are cached (up to ``cache_bytes``), and the last ``recent_results``
    results written are answered from memory.  ``on_finished(request,
    outcome, seconds)`` is told of every job that ends (for metrics); the
    requests of the last ``remembered_requests`` jobs are kept for
    :meth:`describe`.  A job's state is running while
    queued or computed, then done (a file ``<id>.json``) or error (a reason,
    kept in memory and in ``<id>.error``), and expired once its file is
    deleted on purpose.
    """

    def __init__(self, store: ResultStore, compute: Compute, *, workers: int,
                 max_queue: int = 10000, result_wait: float = 0.1,
                 cache_bytes: int = RESULT_CACHE_BYTES, recent_results: int = RECENT_RESULTS,
                 remembered_requests: int = REMEMBERED_REQUESTS,
                 on_finished: Optional[OnFinished] = None) -> None:
        self.store = store
        self._compute = compute
        self._result_wait = result_wait
        self._cache = ResultCache(cache_bytes)
        self._table = JobTable(Journal(store), recent_results=recent_results,
                               remembered_requests=remembered_requests)
        self._pool = WorkerPool(self._run, workers, max_queue)
        self._on_finished = on_finished
        self._on_finished_failed = False  # logged once, not for every job

    # -- start and stop ---------------------------------------------------

    def recover(self, validate: Callable[[Dict[str, object]], JobRequest]) -> Dict[str, int]:
        """Take over what a previous run left in the result store.

        Old results answer done, old failures error; journalled jobs that did
        not finish are checked again with ``validate`` and queued; ids go on
        after the highest one found, and those between that have no file
        answer expired.  Returns counts for the start-up log.
        """
        found, temporary = self.store.scan()
        requests, damaged = self._table.journal.read()
        counts = {"done": 0, "error": 0, "requeued": 0, "temporary files removed": temporary}
        if damaged:
            counts["damaged journal lines skipped"] = damaged
        failed: Dict[int, str] = {}
        for number, kinds in found.items():
            if "json" in kinds:
                counts["done"] += 1
            else:
                counts["error"] += 1
                failed[number] = self._read_reason(number)
        replay: List[Job] = []
        known: Set[int] = set(found)
        for number, request in requests:
            if number in known:
                continue  # it finished before the stop (or is journalled twice)
            known.add(number)
            try:
                checked = validate(request)
            except Exception as error:  # a request the data loaded now cannot answer
                reason = f"could not be resumed after a restart: {error}"
                failed[number] = reason
                self._write_failure(number, reason)
                counts["error"] += 1
                log.warning("%s %s", job_name(number), reason)
                continue
            replay.append(Job(number, checked))
        highest = max(max(known, default=0), self.store.read_high_water())
        replay.sort(key=lambda job: job.number)
        self._table.restore(highest, failed, gaps(sorted(known), highest + 1), replay)
        for job in replay:
            self._pool.submit(job, force=True)
            counts["requeued"] += 1
        return counts

    def _read_reason(self, number: int) -> str:
        try:
            return str(json.loads(self.store.read(number, "error"))["reason"])
        except Exception:
            return "failed in an earlier run"

    def start(self) -> None:
        self._pool.start()

    def close(self) -> None:
        """Take no more jobs; the workers finish the queued ones and stop."""
        self._pool.shutdown(wait=False)

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for the workers to stop; True when they all have."""
        if not self._pool.shutdown(wait=True, timeout=timeout):
            return False
        self._table.close()
        return True

    # -- submitting ---------------------------------------------------------

    def submit(self, request: JobRequest) -> str:
        """Accept a job and return its id; raises QueueFull or QueueClosed.

        A job the queue would refuse is refused before it is journalled (the
        table journals a job before it queues it, and takes the line back if
        the queue refuses it after all).
        """
        self._pool.check()
        return self._table.admit(request, self._pool.submit).id

    # -- the workers --------------------------------------------------------

    def _run(self, job: Job) -> None:
        # A job logs "queued" when accepted and "done" (or "error") when it
        # ends, with the time it ran; a line for "running" as well cost a
        # log record (44,000 instructions, cachegrind) in a cycle of 760,000.
        started = time.perf_counter()
        reason = None
        payload: Optional[bytes] = None
        failure: Optional[BaseException] = None  # a bug, logged with its traceback
        written = False  # whether the outcome (result or failure) reached the disk
        try:
            payload = self._encode(job.request)
            self.store.write(job.number, "json", payload)
            written = True
        except OSError as error:
            reason = f"result could not be written: {error.strerror or error}"
        except Exception as error:  # a bug in a statistic must not kill the worker
            failure = error
            reason = f"computation failed: {type(error).__name__}: {error}"
        if reason is not None:
            written = self._write_failure(job.number, reason)
        self._table.finish(job, reason, payload, written)
        seconds = time.perf_counter() - started
        if reason is None:
            log.info("%s done in %.1f ms", job.id, seconds * 1000)
        else:
            log.error("%s error: %s (after %.1f ms)", job.id, reason, seconds * 1000,
                      exc_info=failure)
        self._report(job, DONE if reason is None else ERROR, seconds)

    def _report(self, job: Job, outcome: str, seconds: float) -> None:
        """Tell ``on_finished``; whatever it raises is logged (once) and goes no further."""
        if self._on_finished is None:
            return
        try:
            self._on_finished(job.request, outcome, seconds)
        except Exception:
            if not self._on_finished_failed:
                self._on_finished_failed = True
                log.exception("on_finished failed for %s (logged once; jobs are not affected)",
                              job.id)

    def _write_failure(self, number: int, reason: str) -> bool:
        """Keep a failure on disk as ``<id>.error``; False if it could not be written."""
        try:
            self.store.write(number, "error", json.dumps({"status": ERROR, "reason": reason}).encode())
            return True
        except OSError:
            return False

    def precompute(self, requests: Iterable[JobRequest]) -> Tuple[int, int]:
        """Compute and cache the results of ``requests`` before any job.

        Returns how many were computed, and how many bytes the cache grew
        by (a result too large for the cache is computed and not kept).

        Why: the data never change while the server runs, and the requests
        of the original API are a bounded set (1,539 at 100,000 synthetic
        rows, 1.7 MB encoded, computed in 0.09-0.10 s), so a job for one of them
        is answered from the cache from the first time it is asked.  Call
        before the workers start.  A statistic that fails here is logged
        once and left to fail again, as a job, when it is asked.  Once the
        cache is full (a file far larger than the public one), the rest are
        left to be computed when asked, and the log says so.
        """
        before = self._cache.size()
        results = 0
        failed = False
        for request in requests:
            try:
                payload = self._encode(request)
            except Exception:  # a bug in a statistic: its job will report it
                if not failed:
                    failed = True
                    log.exception("computing %s ahead failed (logged once)", request.to_json())
                continue
            results += 1
            if self._cache.full(payload):
                log.info("the result cache is full after %s results computed ahead; "
                         "the others are computed when asked", f"{results:,}")
                break
        return results, self._cache.size() - before

    def _encode(self, request: JobRequest) -> bytes:
        """The result of ``request`` as JSON, computed once per distinct request."""
        payload = self._cache.get(request)
        if payload is None:
            payload = json.dumps(self._compute(request), allow_nan=False).encode()
            self._cache.offer(request, payload)
        return payload

    # -- answering ----------------------------------------------------------

    def result(self, job_id: str) -> Tuple[str, object]:
        """``(state, payload)`` for a job id.

        state is one of running, done (payload: the result as JSON bytes),
        error (payload: the reason), expired, or "" for no such job.  A job
        still running gets a short wait, so that a client polling right after
        submitting usually finds it done.
        """
        number = parse_job_id(job_id)
        table = self._table
        if number is None or not table.issued(number):
            return "", None
        job = table.running(number)
        if job is not None and not job.finished.wait(self._result_wait):
            return RUNNING, None
        known = table.ended(number)
        if known is not None:
            return known
        try:
            return DONE, self.store.read(number)
        except FileNotFoundError:
            if table.gone(number):
                return EXPIRED, None
            return ERROR, "result file is missing from the results directory"
        except OSError as error:
            return ERROR, f"result could not be read: {error.strerror or error}"

    def states(self, last: Optional[int] = None) -> Iterator[Tuple[str, str]]:
        """``(job_id, state)`` for every job ever accepted (or the ``last`` ones), in job order."""
        return self._table.states(last)

    def describe(self, job_id: str) -> JobDescription:
        """``(state, request, reason)`` of one job id, without waiting.

        The request is known for the latest jobs of this run and for the
        journalled jobs run again after a restart (the last
        ``remembered_requests`` of them, 10,000 by default);
        a job of an earlier run, or an older one, has None.  state "" is no
        such job.
        """
        number = parse_job_id(job_id)
        if number is None:
            return JobDescription("", None, None)
        return self._table.describe(number)

    def accepted(self) -> int:
        """Jobs accepted since the first one, this run and before."""
        return self._table.accepted()

    def pending(self) -> int:
        """Jobs queued or running."""
        return self._table.pending()

    def cache_bytes(self) -> int:
        """Bytes of encoded results kept for requests asked again (for /api/metrics)."""
        return self._cache.size()

    def queued(self) -> int:
        """Jobs waiting for a worker."""
        return len(self._pool.queue)

    def running(self) -> int:
        """Jobs a worker is computing or writing (pending minus queued, at about one moment)."""
        return max(0, self.pending() - self.queued())

    def workers_alive(self) -> int:
        """Worker threads running: all of them, until a shutdown has finished the queue."""
        return self._pool.alive()

    def forget_ended(self) -> None:
        """Before results are deleted on purpose: no journal line is left for an ended job,
        so that none is run again after a crash once its file is gone."""
        self._table.trim_journal()

    def expire(self, number: int) -> None:
        """Mark a done or failed job expired: its file is being deleted on purpose."""
        self._table.expire(number)
