"""The server: a ``ThreadingHTTPServer`` whose connections go through :mod:`statsd.transport`.

Why: ``http.server`` is the standard library's HTTP server, and statsd keeps
its shape -- a ``ThreadingHTTPServer`` subclass that accepts, and a
``BaseHTTPRequestHandler`` subclass that answers each request -- so that
anyone who knows ``http.server`` knows where to look.  What changes is
between the two: an accepted socket is not given a thread of its own but to
the transport (a ``selectors`` loop and a bounded pool of handler threads,
with a strict parser), and the handler is given a whole, framed request.

The handler turns it into an :class:`statsd.api.Call`, lets the route table
answer, and logs one line; the transport writes the answer in one send.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, List, Optional, Tuple

from . import __version__, api, logs
from .ingest import Dataset
from .jobs import JobManager
from .metrics import ServerMetrics
from .transport import (INTERNAL_ERROR, BadRequest, Connection, Head, Headers, Outcome, Request,
                        Transport, error_response, printable)

log = logging.getLogger("statsd.http")

SERVER_VERSION = f"statsd/{__version__}"


def default_max_connections() -> int:
    """4096 open connections, or fewer if the process may not open that many files."""
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 1024
    if soft == resource.RLIM_INFINITY:
        return 4096
    # Files beside the connections: results, the log, the handler threads' wake-up pairs.
    return max(16, min(4096, soft - 256))


def default_handler_threads() -> int:
    """16 handler threads a CPU, from 16 to 64: they wait far more than they compute."""
    return min(64, max(16, 16 * (os.cpu_count() or 1)))


def new_metrics() -> ServerMetrics:
    """The metrics of one statsd, its requests counted under their routes' path patterns."""
    return ServerMetrics(__version__, routes={route.name: route.path for route in api.ROUTES})


class StatsServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` that owns the dataset, the job manager and the transport.

    ``begin_shutdown`` stops new jobs and stops the server once the queued
    ones are done; ``server_close`` lets the answers being written go out.
    ``observer(route, status, seconds)`` is called once per answered
    request: by default ``metrics.request_done``, which counts it for
    ``/api/metrics``; ``open_connections()`` is a gauge.
    """

    request_queue_size = 1024
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: Tuple[str, int], dataset: Dataset, jobs: JobManager, *,
                 request_timeout: float = 10.0, max_connections: Optional[int] = None,
                 handler_threads: Optional[int] = None, cors: bool = False,
                 observer: Optional[Callable[[str, int, float], None]] = None,
                 metrics: Optional[ServerMetrics] = None) -> None:
        self.dataset = dataset
        self.jobs = jobs
        self.started = time.monotonic()  # for the uptime of /api/health
        # What /api/metrics shows: each answer through the observer, and the
        # gauges read at each scrape.
        self.metrics = metrics or new_metrics()
        if observer is None:
            observer = self.metrics.request_done
        self.request_timeout = request_timeout
        self.max_connections = max_connections or default_max_connections()
        self.handler_threads = handler_threads or default_handler_threads()
        self.cors = cors
        self._shutdown_started = threading.Event()
        self.stopped = threading.Event()
        self.transport = Transport(
            self._answer, self._precheck, timeout=request_timeout,
            max_connections=self.max_connections, threads=self.handler_threads,
            server_name=SERVER_VERSION,
            extra_headers=[("Access-Control-Allow-Origin", "*")] if cors else (),
            observer=observer)
        super().__init__(address, StatsRequestHandler)
        self.metrics.gauge_function("statsd_http_connections_open", "client connections open now",
                                    self.open_connections)
        self.metrics.gauge_function("statsd_jobs_pending", "jobs queued or running",
                                    jobs.pending)
        self.metrics.gauge_function("statsd_result_cache_bytes",
                                    "bytes of encoded results kept: computed at start, and for requests asked again",
                                    jobs.cache_bytes)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def observer(self) -> Optional[Callable[[str, int, float], None]]:
        return self.transport.observer

    @observer.setter
    def observer(self, observer: Optional[Callable[[str, int, float], None]]) -> None:
        self.transport.observer = observer

    def open_connections(self) -> int:
        return self.transport.open_connections()

    # -- connections go to the transport, not to a thread each ------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Start the transport's threads (once), then accept until ``shutdown``."""
        self.transport.start()
        super().serve_forever(poll_interval)

    def service_actions(self) -> None:
        """At each poll of the accept loop: the log lines waiting are written (``--log-flush``)."""
        logs.write_due()

    def process_request(self, request, client_address) -> None:  # type: ignore[override]
        self.transport.accept(request, client_address)

    def handle_error(self, request, client_address) -> None:
        log.exception("unexpected error on the connection from %s", client_address[0])

    def _answer(self, connection: Connection, request: Request) -> Outcome:
        """In a handler thread: one request through a :class:`StatsRequestHandler`."""
        # socketserver's "request" is a socket; this handler is given the framed request.
        handler = StatsRequestHandler(request, connection.address, self)  # type: ignore[arg-type]
        return handler.outcome

    def _precheck(self, head: Head) -> Optional[BadRequest]:
        """Before ``100 Continue``: the route and method must take the request."""
        line = head.line
        try:
            api.route_for(line.method, line.path)
        except api.Problem as problem:
            return BadRequest(problem.status, problem.reason, line, problem.headers)
        return None

    # -- shutdown ------------------------------------------------------------

    @property
    def shutting_down(self) -> bool:
        return self._shutdown_started.is_set()

    def begin_shutdown(self, why: str) -> None:
        """Refuse new jobs, let the queued ones finish, then stop serving.

        Safe to call from any thread and from a signal handler, any number of
        times; it never blocks.
        """
        if self._shutdown_started.is_set():
            return
        self._shutdown_started.set()
        log.info("shutdown requested (%s): %d jobs to finish", why, self.jobs.pending())
        self.jobs.close()
        threading.Thread(target=self._finish, name="statsd-shutdown", daemon=True).start()

    def _finish(self) -> None:
        self.jobs.join()
        log.info("all jobs finished; stopping the server")
        self.shutdown()
        self.stopped.set()

    def server_close(self) -> None:
        """Stop listening, once the answers being written are out (a few seconds at most)."""
        self.transport.wait_answers(5.0)
        self.transport.close()
        super().server_close()


class StatsRequestHandler(BaseHTTPRequestHandler):
    """Answers one framed request from the route table, and logs one line for it.

    The transport has read and checked the request (``self.request`` is a
    :class:`statsd.transport.Request`), so ``setup`` takes the fields
    ``http.server`` would have parsed, ``handle`` answers, and the answer is
    left in ``self.outcome`` for the transport to write.
    """

    protocol_version = "HTTP/1.1"
    server_version = SERVER_VERSION
    sys_version = ""
    server: StatsServer
    headers: Headers  # type: ignore[assignment]
    request: Request  # type: ignore[assignment]

    def setup(self) -> None:
        head = self.request.head
        line = head.line
        self.command = line.method
        self.path = line.target
        self.request_version = line.version
        self.requestline = f"{line.method} {line.target} {line.version}"
        self.headers = head.headers
        self.close_connection = not head.keep_alive
        # What is answered if ``handle`` ends without an answer: the transport's
        # prebuilt 500 (encoding one per request was 8 % of the handler's time).
        self.outcome = INTERNAL_ERROR

    def handle(self) -> None:
        request = self.request
        line = request.head.line
        server = self.server
        call = api.Call(server, line.method, line.path, line.query, request.head.headers,
                        request.body, self.client_address[0])
        close = False
        try:
            response = api.dispatch(call, server.cors)
            reason = ""
        except api.Problem as problem:
            response = error_response(problem.status, problem.reason, problem.headers)
            reason = f" {printable(problem.reason)}"
        except Exception:
            log.exception('%s "%s %s" 500 internal error%s', call.client, line.method,
                          printable(line.path), self._params_for_log(call))
            response = error_response(500, "internal server error")
            reason = None
            close = True
        if reason is not None:
            level = logging.WARNING if reason else logging.INFO
            log.log(level, '%s "%s %s" %d%s%s', call.client, printable(line.method, 20),
                    printable(line.path), response.status, reason, self._params_for_log(call))
        observer = server.transport.observer
        if observer is not None:
            name = call.route.name if call.route is not None else "unknown"
            observer(name, response.status, time.monotonic() - request.received)
        self.outcome = Outcome(response, close, head_only=line.method == "HEAD")

    def finish(self) -> None:
        pass  # the transport writes the answer and keeps or closes the connection

    @staticmethod
    def _params_for_log(call: api.Call) -> str:
        """The query string and the body (both if there are both), printable, cut short."""
        query, detail = call.query, call.detail
        if not (query or detail):
            return ""  # most requests: a GET without a query string
        params = f"{query} {detail}" if query and detail else query or detail
        return f" {printable(params)}"

    def log_message(self, format: str, *args) -> None:
        log.info("%s %s", self.client_address[0], format % args)


__all__: List[str] = ["StatsServer", "StatsRequestHandler", "SERVER_VERSION", "new_metrics",
                      "default_max_connections", "default_handler_threads"]
