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
import shutil
import tempfile
import threading
from typing import Optional

from support import SAMPLE_CSV, Client

from statsd import logs
from statsd.app import App, Config, DatasetCompute
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

    ``compute`` defaults to the real statistics; a test passes its own to
    raise or to block.  ``directory`` (kept, not removed) restarts over the
    results of an earlier one.  Use as a context manager.
    """

    def __init__(self, compute_function: DatasetCompute = compute, *, workers: int = 1,
                 max_queue: int = 100, request_timeout: float = 5.0,
                 handler_threads: Optional[int] = None,
                 recent_results: int = 256, remembered_requests: int = 10000,
                 on_finished: Optional[OnFinished] = None,
                 directory: Optional[str] = None) -> None:
        logs.configure(None)  # no webserver.log, and no warnings on the test's stderr
        self.owns_directory = directory is None
        self.directory = directory or tempfile.mkdtemp(prefix="statsd-inprocess-")
        config = Config(data=SAMPLE_CSV, results=f"{self.directory}/results",
                        host="127.0.0.1", port=0, threads=workers, max_queue=max_queue,
                        server_options={"request_timeout": request_timeout,
                                        "handler_threads": handler_threads},
                        job_options={"recent_results": recent_results,
                                     "remembered_requests": remembered_requests})
        self.app = App(config, dataset=sample_dataset(), compute_function=compute_function,
                       on_finished=on_finished)
        self.dataset, self.store = self.app.dataset, self.app.store
        self.jobs, self.server = self.app.jobs, self.app.server
        self.port = self.server.server_address[1]

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
