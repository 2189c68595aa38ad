"""The application: the data, the result store, the jobs and the server, wired once.

Why one factory: the command line, the in-process tests and the profiler must
run the same statsd, not three that drift apart.  :class:`App` does every
start-up step, in the order that keeps a mistake harmless: load the data,
take the results directory (a lock, so two statsd never share one), listen
(so a second statsd started by mistake stops before it changes anything),
and only then take over what an earlier run left and compute the results
of the unfiltered requests ahead.  Whatever stops it on the
way is a :class:`StartupError` whose text is the one line a user needs.

Start-up settings are one :class:`Config`; what the HTTP server takes is
passed through as ``server_options``, so that a new server setting is one
line where the command line builds the Config, and none here.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, BinaryIO, Callable, Dict, Optional, Union

from .ingest import DataError, Dataset, load_csv
from .jobs import JobManager, OnFinished, ResultsInUse, ResultStore
from .request import JobRequest
from .retention import ResultExpiry
from .server import StatsServer, new_metrics
from .stats import STATISTICS, BadRequest, check_request, compute, unfiltered_requests

log = logging.getLogger("statsd")

#: ``compute(dataset, request)``, as statsd.stats.compute.
DatasetCompute = Callable[[Dataset, JobRequest], object]

#: ``progress(rows, bytes read, bytes in all)`` while the CSV loads.
Progress = Callable[[int, int, int], None]


class StartupError(Exception):
    """statsd cannot start: ``str()`` is the one line for the user, ``status`` the exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Config:
    """What a statsd is started with (the command line builds one from its options)."""

    #: The CSV: a path, or a binary file object (the sample inside a zipapp).
    data: Union[str, BinaryIO]
    results: str = "results"
    host: str = "127.0.0.1"
    port: int = 5000
    threads: int = 1
    max_queue: int = 10000
    #: Seconds after which results are deleted; None keeps them forever.
    results_ttl: Optional[float] = None
    #: Keyword arguments of :class:`~statsd.server.StatsServer` (request_timeout, ...).
    server_options: Dict[str, Any] = field(default_factory=dict)
    #: Compute the results of every unfiltered request at start (JobManager.precompute).
    precompute: bool = True
    #: Keyword arguments of :class:`~statsd.jobs.JobManager` beyond the above
    #: (result_wait, cache_bytes, recent_results).
    job_options: Dict[str, Any] = field(default_factory=dict)


class App:
    """A statsd ready to serve: ``dataset``, ``store``, ``jobs``, ``server``.

    Built, it holds the results directory and listens, with old results
    taken over (``recovered`` counts them); :meth:`start` starts the workers,
    then :meth:`serve_forever` (or :meth:`serve_in_thread` and :meth:`stop`).
    ``dataset`` skips loading ``config.data``; ``compute`` replaces the
    statistics (tests pass one that raises or blocks).
    """

    def __init__(self, config: Config, *, dataset: Optional[Dataset] = None,
                 compute_function: DatasetCompute = compute,
                 progress: Optional[Progress] = None,
                 on_finished: Optional[OnFinished] = None) -> None:
        self.config = config
        if dataset is None:
            try:
                dataset = load_csv(config.data, progress)
            except DataError as error:
                raise StartupError(str(error)) from None
            log.info("%s", dataset.summary())
        self.dataset = dataset
        self.store = _take_results(config.results)
        # /api/metrics: the server counts requests, the job manager tells of each job.
        self.metrics = new_metrics()
        self.jobs = JobManager(self.store, partial(compute_function, dataset),
                               workers=config.threads, max_queue=config.max_queue,
                               on_finished=_both(self.metrics.job_finished, on_finished),
                               **config.job_options)
        server: Optional[StatsServer] = None
        try:
            try:
                server = StatsServer((config.host, config.port), dataset, self.jobs,
                                     metrics=self.metrics, **config.server_options)
            except OSError as error:
                raise StartupError(f"cannot listen on {config.host}:{config.port}: "
                                   f"{error.strerror or error}", status=1) from None
            self.recovered = self.jobs.recover(partial(validate_journalled, dataset))
            if config.precompute:
                started = time.perf_counter()
                results, size = self.jobs.precompute(unfiltered_requests(dataset))
                log.info("computed the results of the %s unfiltered requests ahead "
                         "(%.1f MB kept) in %.2f s", f"{results:,}", size / 1e6,
                         time.perf_counter() - started)
        except BaseException:  # Ctrl-C included: nothing held is left behind
            if server is not None:
                server.server_close()
            self.store.close()
            raise
        self.server = server
        if any(self.recovered.values()):
            log.info("%s", self.recovery_summary())
        self.expiry = ResultExpiry(self.jobs, config.results_ttl) if config.results_ttl else None
        self._thread: Optional[threading.Thread] = None
        self._closed = False

    def recovery_summary(self) -> str:
        """``results/ holds 5 done, 0 error, ...``: what was taken over from an earlier run."""
        return "results/ holds " + ", ".join(f"{count} {what}" for what, count in self.recovered.items())

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        """Start the workers (and the expiry of old results); serving is separate."""
        self.jobs.start()
        if self.expiry is not None:
            self.expiry.start()

    def serve_forever(self, poll_interval: float = 0.2) -> None:
        """Serve until a shutdown has finished the queue; then close."""
        try:
            self.server.serve_forever(poll_interval=poll_interval)
        finally:
            self.close()

    def serve_in_thread(self, poll_interval: float = 0.05) -> threading.Thread:
        """Serve on a daemon thread (tests, the profiler); :meth:`stop` ends it."""
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": poll_interval},
                                        name="statsd-serve", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, why: str = "stop requested", timeout: float = 10.0) -> bool:
        """Shut down gracefully (queued jobs finish), as SIGTERM does; True if all in time."""
        self.server.begin_shutdown(why)
        stopped = self.server.stopped.wait(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        self.close()
        return stopped

    def close(self) -> None:
        """Stop listening, stop expiring, release the results directory (idempotent).

        The directory is kept while a worker still runs (a stop that timed
        out): its descriptor must not be closed under a write in progress.
        """
        if self._closed:
            return
        self._closed = True
        self.server.server_close()
        if self.expiry is not None:
            self.expiry.stop()
        if not self.jobs.workers_alive():
            self.store.close()


def _take_results(directory: str) -> ResultStore:
    """The results directory, locked for this process."""
    try:
        store = ResultStore(directory)
    except OSError as error:
        raise StartupError(f"cannot use results directory {directory}: "
                           f"{error.strerror or error}") from None
    try:
        store.lock()
    except ResultsInUse:
        store.close()
        raise StartupError(f"results directory {directory} is in use by another statsd") from None
    except OSError as error:
        store.close()
        raise StartupError(f"cannot use results directory {directory}: "
                           f"{error.strerror or error}") from None
    return store


def _both(first: OnFinished, second: Optional[OnFinished]) -> OnFinished:
    """``first``, then ``second`` if there is one: the metrics, and a caller's own hook."""
    if second is None:
        return first

    def both(request: JobRequest, outcome: str, seconds: float) -> None:
        first(request, outcome, seconds)
        second(request, outcome, seconds)

    return both


def validate_journalled(dataset: Dataset, request: Dict[str, object]) -> JobRequest:
    """Check a journalled request again, against the data loaded now."""
    endpoint = request.get("endpoint")
    statistic = STATISTICS.get(endpoint) if isinstance(endpoint, str) else None
    if statistic is None:
        raise BadRequest(f"unknown endpoint {endpoint!r}")
    return check_request(dataset, statistic, request)
