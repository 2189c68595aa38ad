"""Test support: the real StatsServer and JobManager in this process, on a real socket.

Why: a few faults cannot be caused from outside the server process without a
test-only switch in the product -- a statistic that raises, a worker held
busy so that the queue fills at a chosen moment, a record of every file the
server opens.  Here the server is built exactly as ``statsd.__main__`` builds
it, from the same classes, and serves 127.0.0.1 on a free port; only the
``compute`` function given to the :class:`~statsd.jobs.JobManager` is the
test's.  Clients talk to it over HTTP with :class:`support.Client`.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import threading
from functools import partial
from typing import Callable, Optional

from support import SAMPLE_CSV, Client

from statsd import logs
from statsd.ingest import Dataset, load_csv
from statsd.jobs import JobManager, ResultStore
from statsd.server import StatsServer
from statsd.request import JobRequest
from statsd.stats import compute

#: ``compute(dataset, request)``, as statsd.stats.compute.
DatasetCompute = Callable[[Dataset, JobRequest], object]


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
    """StatsServer + JobManager over a temporary results directory, in threads.

    ``compute`` defaults to the real statistics; a test passes its own to
    raise or to block.  Use as a context manager.
    """

    def __init__(self, compute_function: DatasetCompute = compute, *, workers: int = 1,
                 max_queue: int = 100, request_timeout: float = 5.0,
                 handler_threads: Optional[int] = None) -> None:
        logs.configure(None)  # no webserver.log, and no warnings on the test's stderr
        self.dataset = sample_dataset()
        self.directory = tempfile.mkdtemp(prefix="statsd-inprocess-")
        self.store = ResultStore(f"{self.directory}/results")
        dataset = self.dataset
        self.jobs = JobManager(
            self.store,
            partial(compute_function, dataset), workers=workers, max_queue=max_queue)
        self.server = StatsServer(("127.0.0.1", 0), dataset, self.jobs,
                                  request_timeout=request_timeout, handler_threads=handler_threads)
        self.port = self.server.server_address[1]
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "InProcessServer":
        self.jobs.start()
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="inprocess-statsd", daemon=True)
        self._thread.start()
        return self

    def client(self, timeout: float = 10.0) -> Client:
        return Client(self.port, timeout)

    def stop(self) -> None:
        """Refuse new jobs, let the queued ones finish, stop serving, remove the directory."""
        self.server.begin_shutdown("test finished")
        self.server.stopped.wait(10)
        if self._thread is not None:
            self._thread.join(10)
        self.server.server_close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "InProcessServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
