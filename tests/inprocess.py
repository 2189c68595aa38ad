"""Test support: the real statsd application in this process, on a real socket.

Why: a few faults cannot be caused from outside the server process without a
test-only switch in the product -- a statistic that raises, a worker held
busy so that the queue fills at a chosen moment, a record of every file the
server opens.  Here statsd is built by the same factory as ``python3 -m
statsd`` (:class:`statsd.app.App`: the results directory locked, old results
taken over, the same server), and serves 127.0.0.1 on a free port; only the
``compute`` function may be the test's.  Clients talk to it over HTTP with
:class:`support.Client`.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import threading
from typing import Optional, Sequence

from support import SAMPLE_CSV, Client

from statsd import logs
from statsd.__main__ import build_config, build_parser, default_threads
from statsd.app import App, DatasetCompute
from statsd.ingest import Dataset, load_csv
from statsd.jobs import OnFinished
from statsd.request import JobRequest
from statsd.stats import compute


@functools.lru_cache(maxsize=1)
def sample_dataset() -> Dataset:
    """The sample CSV, loaded once for every in-process server of a test run."""
    return load_csv(SAMPLE_CSV)


class HeldCompute:
    """A compute function that waits for ``release`` before computing for real.

    ``started`` is set when a worker has taken a job, so a test knows the
    worker is busy and the queue fills from then on, at a moment it chooses.
    """

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, dataset: Dataset, request: JobRequest) -> object:
        self.started.set()
        self.release.wait(10)
        return compute(dataset, request)


class InProcessServer:
    """A statsd App over a temporary results directory, served from a thread.

    ``options`` are command-line options of ``python3 -m statsd`` (``("--cors",)``,
    ``("--timeout", "1")``): they are parsed and turned into the App's settings
    by the command line's own parser and :func:`statsd.__main__.build_config`,
    so an option means here what it means there, and so do their defaults.
    ``workers``, ``max_queue``, ``request_timeout`` and ``handler_threads`` are
    the same as ``--threads``, ``--max-queue``, ``--timeout`` and
    ``--handler-threads``; ``--data`` defaults to the sample, loaded once for
    the whole run; ``--log-file`` is not used (no log file, nothing on
    the test's stderr).  ``compute`` defaults to the real statistics; a test
    passes its own to raise or to block.  ``directory`` (kept, not removed)
    restarts over the results of an earlier one.  Use as a context manager.
    """

    def __init__(self, compute_function: DatasetCompute = compute, *,
                 options: Sequence[str] = (), workers: Optional[int] = None,
                 max_queue: Optional[int] = None, request_timeout: Optional[float] = None,
                 handler_threads: Optional[int] = None,
                 recent_results: int = 256, remembered_requests: int = 10000,
                 on_finished: Optional[OnFinished] = None,
                 directory: Optional[str] = None) -> None:
        logs.configure(None)  # no webserver.log, and no warnings on the test's stderr
        self.owns_directory = directory is None
        self.directory = directory or tempfile.mkdtemp(prefix="statsd-inprocess-")
        given = [("--threads", workers), ("--max-queue", max_queue),
                 ("--timeout", request_timeout), ("--handler-threads", handler_threads)]
        argv = ["--host", "127.0.0.1", "--port", "0", "--data", SAMPLE_CSV,
                "--results", self.results, "--log-file", ""]
        argv += [f"{name}={value}" for name, value in given if value is not None]
        args = build_parser().parse_args([*argv, *options])
        config = build_config(args, args.threads or default_threads())
        # A statistic replaced by the test may block or fail: it is not computed ahead.
        config.precompute = config.precompute and compute_function is compute
        config.job_options.update(recent_results=recent_results,
                                  remembered_requests=remembered_requests)
        # The sample is loaded once for the whole run; another --data is loaded as the command line would.
        dataset = sample_dataset() if args.data == SAMPLE_CSV else None
        self.app = App(config, dataset=dataset, compute_function=compute_function,
                       on_finished=on_finished)
        self.dataset, self.store = self.app.dataset, self.app.store
        self.jobs, self.server = self.app.jobs, self.app.server
        self.port = self.server.server_address[1]

    @property
    def results(self) -> str:
        return os.path.join(self.directory, "results")

    def start(self) -> "InProcessServer":
        self.app.start()
        self.app.serve_in_thread()
        return self

    def client(self, timeout: float = 10.0) -> Client:
        return Client(self.port, timeout)

    def stop(self) -> None:
        """Refuse new jobs, let the queued ones finish, stop serving, remove the directory."""
        self.app.stop("test finished")
        if self.owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "InProcessServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
