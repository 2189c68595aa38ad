"""The HTTP side: the server class, its request handler, and the one route table.

Why: ``http.server`` is the standard library's HTTP server, but its defaults
suit a toy, not an API under load (see the traps in the README).  This
module keeps its parsing and threading and changes what matters:

* HTTP/1.1 keep-alive, every response written in one ``send``, Nagle off;
* a listen backlog of 1024, a bound on connection threads, a timeout on every
  read, so that neither a burst nor a silent client can take the server down;
* JSON for every answer, errors included (``send_error`` answers in HTML);
* one route table, ``ROUTES``, from path to the handler method that serves it.

The handler validates; the work itself is queued to :mod:`statsd.jobs`.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, NamedTuple, Optional, Sequence, Tuple
from urllib.parse import parse_qs

from . import __version__, assets, charts, discovery, openapi
from .ingest import Dataset
from .jobs import DONE, ERROR, EXPIRED, RUNNING, JobManager, QueueClosed, QueueFull
from .stats import STATISTICS, BadRequest, check_request

log = logging.getLogger("statsd.http")

JSON_TYPE = "application/json"

SERVER_VERSION = f"statsd/{__version__}"

#: Largest request body read, in bytes; a larger one is answered 413 unread.
MAX_BODY = 64 * 1024

#: Longest time a connection thread spends discarding a refused body (see _linger).
LINGER_SECONDS = 2.0


class Response(NamedTuple):
    """What a route answers: status, body bytes, and extra headers."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: Sequence[Tuple[str, str]] = ()


class Problem(Exception):
    """Raised by a route to answer ``{"status": "error", "reason": ...}``."""

    def __init__(self, status: int, reason: str,
                 headers: Sequence[Tuple[str, str]] = (), close: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers
        self.close = close


def json_response(data: object, status: int = 200, headers: Sequence[Tuple[str, str]] = ()) -> Response:
    return Response(status, json.dumps(data).encode(), JSON_TYPE, headers)


def error_body(reason: str) -> bytes:
    return json.dumps({"status": "error", "reason": reason}).encode()


def printable(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` characters, control characters escaped.

    Request text goes into webserver.log through this, so that a client
    cannot forge log lines with a newline or an escape sequence.
    """
    text = text[:limit]
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class Route(NamedTuple):
    """A path's allowed methods and the handler method serving it.

    ``endpoint(handler, argument)`` returns a :class:`Response`; ``argument``
    is fixed here for exact paths and is the rest of the path for prefixes.
    """

    methods: Tuple[str, ...]
    endpoint: Callable[["StatsRequestHandler", str], Response]
    argument: str = ""
    summary: str = ""


class StatsServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` that owns the dataset and the job manager.

    Connection threads are bounded by ``max_connections``: past it, accepting
    waits a moment for a thread to finish and then refuses with 503, instead
    of starting threads without limit.  ``begin_shutdown`` stops new jobs and
    stops the server once the queued ones are done.
    """

    request_queue_size = 1024
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: Tuple[str, int], dataset: Dataset, jobs: JobManager, *,
                 request_timeout: float = 10.0, max_connections: int = 256) -> None:
        self.dataset = dataset
        self.jobs = jobs
        self.request_timeout = request_timeout
        self._answering = 0  # requests being answered right now
        self._answered = threading.Condition(threading.Lock())
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._shutdown_started = threading.Event()
        self.stopped = threading.Event()
        super().__init__(address, StatsRequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    # -- bounded connection threads ----------------------------------------

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(timeout=1.0):
            log.warning("%s refused: %d connections already open",
                        client_address[0], self.max_connections)
            _refuse(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        log.exception("unexpected error on the connection from %s", client_address[0])

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

    # -- requests in progress, so that stopping never cuts an answer -------

    def request_started(self) -> None:
        with self._answered:
            self._answering += 1

    def request_finished(self) -> None:
        with self._answered:
            self._answering -= 1
            if not self._answering:
                self._answered.notify_all()

    def server_close(self) -> None:
        """Stop listening, once the answers being written are out (a few seconds at most)."""
        with self._answered:
            self._answered.wait_for(lambda: not self._answering, timeout=5.0)
        super().server_close()


def _refuse(request: socket.socket) -> None:
    response = Response(503, error_body("too many open connections, retry later"),
                        headers=[("Retry-After", "1")])
    try:
        request.sendall(response_head(response, close=True) + response.body)
    except OSError:
        pass


def response_head(response: Response, close: bool) -> bytes:
    """Status line and headers of ``response``, ending with the blank line."""
    status = response.status
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    lines = [
        f"HTTP/1.1 {status} {phrase}\r\n"
        f"Server: {SERVER_VERSION}\r\n"
        f"Date: {_http_date()}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
    ]
    for name, value in response.headers:
        lines.append(f"{name}: {value}\r\n")
    if close:
        lines.append("Connection: close\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


_date_cache = [0, ""]


def _http_date() -> str:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, formatdate(now, usegmt=True)]
    return _date_cache[1]


class StatsRequestHandler(BaseHTTPRequestHandler):
    """Parses a request, finds its route, answers in JSON, logs one line."""

    protocol_version = "HTTP/1.1"
    server_version = SERVER_VERSION
    sys_version = ""
    disable_nagle_algorithm = True
    server: StatsServer

    def setup(self) -> None:
        self.timeout = self.server.request_timeout
        self.linger = False  # set when a body is refused unread
        super().setup()

    def finish(self) -> None:
        super().finish()
        if self.linger:
            self._linger()

    def _linger(self) -> None:
        """Shut our side, then read and drop what the client still sends, for a moment.

        Closing a socket with unread input makes the kernel send a reset, and a
        client still writing the body we refused (http.client writes it all
        before it reads an answer) then sees a broken pipe instead of our 413.
        Like Apache's lingering close, the discarding is bounded in time.
        """
        sock = self.connection
        deadline = time.monotonic() + min(LINGER_SECONDS, self.server.request_timeout)
        try:
            sock.shutdown(socket.SHUT_WR)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                sock.settimeout(remaining)
                if not sock.recv(65536):
                    break
        except OSError:
            pass

    def handle_one_request(self) -> None:
        """Wait for a request; a client that stays silent or vanishes is closed quietly.

        http.server logs a client that sends nothing for ``timeout`` seconds as
        an error, and lets a connection reset escape as a traceback.  For a
        keep-alive client both are ordinary ends of a connection: one info
        line.  A request that stops half-way is still a warning (http.server's
        "Request timed out"), and a reset in the middle of one is one line.
        """
        try:
            if not self.rfile.peek(1):  # the client closed the connection
                self.close_connection = True
                return
        except (TimeoutError, socket.timeout):
            self.close_connection = True
            log.info("%s connection closed: no request in %g s",
                     self.client_address[0], self.server.request_timeout)
            return
        except ConnectionError as error:
            self.close_connection = True
            log.info("%s connection closed by the client: %s",
                     self.client_address[0], error.strerror or error)
            return
        self.requestline = ""  # not the previous request's, if this one fails early
        try:
            super().handle_one_request()
        except ConnectionError as error:
            self.close_connection = True
            request = f' "{printable(self.requestline, 200)}"' if self.requestline else ""
            log.warning("%s%s connection lost in the middle of a request: %s",
                        self.client_address[0], request, error.strerror or error)

    # Every method goes through the route table; unknown methods get 501 from
    # http.server itself (through send_error below, so in JSON).
    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        self.server.request_started()
        try:
            self._answer()
        finally:
            self.server.request_finished()

    def _answer(self) -> None:
        path, _, self.query = self.path.partition("?")
        logged_path = printable(path)
        self.params = ""  # what the log line shows of the request
        self.body_read = False
        try:
            route, argument = find_route(path)
            if route is None:
                raise Problem(404, f"no such endpoint: {path}")
            method = "GET" if self.command == "HEAD" else self.command
            if method not in route.methods:
                raise Problem(405, f"method {self.command} not allowed on {path}",
                              headers=[("Allow", ", ".join(route.methods))])
            response = route.endpoint(self, argument or route.argument)
        except Problem as problem:
            if problem.close:
                self.close_connection = True
                self.linger = True
            response = Response(problem.status, error_body(problem.reason), JSON_TYPE,
                                problem.headers)
            self._send(response)
            log.warning('%s "%s %s" %d %s%s', self.client_address[0], self.command, logged_path,
                        problem.status, printable(problem.reason), self._params_for_log())
            return
        except ConnectionError:
            raise  # the client is gone: nothing to answer (handle_one_request logs it)
        except (TimeoutError, socket.timeout):
            self.close_connection = True
            self._send(Response(408, error_body("timed out reading the request body")))
            log.warning('%s "%s %s" 408 timed out reading the request body%s',
                        self.client_address[0], self.command, logged_path, self._params_for_log())
            return
        except Exception:
            self.close_connection = True
            log.exception('%s "%s %s" 500 internal error%s', self.client_address[0],
                          self.command, logged_path, self._params_for_log())
            self._send(Response(500, error_body("internal server error")))
            return
        self._send(response)
        log.info('%s "%s %s" %d%s', self.client_address[0], self.command, logged_path,
                 response.status, self._params_for_log())

    def _params_for_log(self) -> str:
        """The query string and the body (both if there are both), printable, cut short."""
        params = " ".join(part for part in (self.query, self.params) if part)
        return f" {printable(params)}" if params else ""

    def _send(self, response: Response) -> None:
        """Write status line, headers and body in one ``send``."""
        if self._body_left_unread():
            # The next request on this connection would start inside that body;
            # and the client may still be sending it (see _linger).
            self.close_connection = True
            self.linger = True
        head = response_head(response, self.close_connection)
        try:
            self.wfile.write(head if self.command == "HEAD" else head + response.body)
        except OSError:
            self.close_connection = True

    # -- http.server hooks, in JSON and in our log ------------------------

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        """Protocol errors found by http.server (bad request line, 414, 501...)."""
        reason = message or HTTPStatus(code).phrase
        self.close_connection = True
        self._send(Response(code, error_body(reason)))
        log.warning('%s "%s" %d %s', self.client_address[0],
                    printable(self.requestline or "", 200), code, reason)

    def log_message(self, format: str, *args) -> None:
        log.info("%s %s", self.client_address[0], format % args)

    def log_error(self, format: str, *args) -> None:
        log.warning("%s %s", self.client_address[0], format % args)

    def log_request(self, code="-", size="-") -> None:
        pass  # _dispatch logs one line per request, with its parameters

    # -- reading the body ----------------------------------------------------

    def _body_left_unread(self) -> bool:
        """Whether the request had a body that no endpoint read (e.g. a 405 to a POST)."""
        headers = getattr(self, "headers", None)
        if headers is None or getattr(self, "body_read", True):
            return False
        return (headers.get("Content-Length", "0").strip() not in ("", "0")
                or "Transfer-Encoding" in headers)

    def read_json(self) -> object:
        """The request body parsed as JSON; any problem is a :class:`Problem`."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise Problem(411, "chunked bodies are not supported; send Content-Length",
                          close=True)
        length_text = self.headers.get("Content-Length")
        if length_text is None:  # no body at all: the question is missing, as the contract says
            raise Problem(400, "empty request body (no Content-Length); expected a JSON object")
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError
        except ValueError:
            raise Problem(400, f"invalid Content-Length {length_text[:40]!r}", close=True)
        if length > MAX_BODY:
            raise Problem(413, f"request body of {length} bytes is over the limit of {MAX_BODY}",
                          close=True)
        raw = self.rfile.read(length) if length else b""
        self.body_read = True
        if len(raw) < length:
            raise Problem(400, "request body shorter than its Content-Length", close=True)
        self.params = raw[:300].decode("utf-8", "replace")
        if not raw.strip():
            raise Problem(400, "empty request body; expected a JSON object")
        try:
            return json.loads(raw)
        except ValueError as error:
            raise Problem(400, f"request body is not valid JSON: {error}")
        except RecursionError:  # json's parser recurses once per nesting level
            raise Problem(400, "request body is not valid JSON: nested too deeply")

    # -- the endpoints -------------------------------------------------------

    def submit_job(self, endpoint: str) -> Response:
        server = self.server
        if server.shutting_down:  # before the body: whatever it holds, no job now
            raise Problem(503, "shutting down")
        body = self.read_json()
        try:
            request = check_request(server.dataset, STATISTICS[endpoint], body)
        except BadRequest as problem:
            raise Problem(400, str(problem))
        try:
            job_id = server.jobs.submit(request)
        except QueueClosed:
            raise Problem(503, "shutting down")
        except QueueFull:
            raise Problem(503, "too many jobs queued, retry later", headers=[("Retry-After", "1")])
        self.params = f"{self.params} -> {job_id}"
        return json_response({"job_id": job_id})

    def get_results(self, job_id: str) -> Response:
        state, payload = self.server.jobs.result(job_id)
        if state == DONE:
            return Response(200, b'{"status": "done", "data": ' + payload + b"}")
        if state == RUNNING:
            return json_response({"status": RUNNING})
        if state == ERROR:
            return json_response({"status": ERROR, "reason": payload})
        if state == EXPIRED:
            raise Problem(410, "result expired")
        raise Problem(404, "Invalid job_id")

    def list_jobs(self, _: str) -> Response:
        """Every job, as the contract says; ``?last=N``: the last N, and the total.

        Other query parameters are ignored (a cache-busting ``?_=...`` must
        not break a client of the original service).
        """
        jobs = self.server.jobs
        last_text = parse_qs(self.query, keep_blank_values=True).get("last", [None])[0]
        if last_text is None:
            return json_response({"status": "done",
                                  "data": [{job_id: state} for job_id, state in jobs.states()]})
        if not (last_text.isascii() and last_text.isdigit()) or int(last_text) < 1:
            raise Problem(400, f"parameter 'last' must be a whole number from 1, not {last_text[:40]!r}")
        total = jobs.accepted()
        data = [{job_id: state} for job_id, state in jobs.states(last=int(last_text))]
        return json_response({"status": "done", "data": data, "total": total})

    def num_jobs(self, _: str) -> Response:
        return json_response({"num_jobs": self.server.jobs.pending()})

    def graceful_shutdown(self, _: str) -> Response:
        self.server.begin_shutdown(f"{self.command} /api/graceful_shutdown from {self.client_address[0]}")
        status = "done" if self.server.jobs.pending() == 0 else "shutting down"
        return json_response({"status": status})

    # -- for people: discovery lists, charts, the API document, the dashboard --

    def list_data(self, what: str) -> Response:
        try:
            data = discovery.LISTS[what](self.server.dataset, self.query)
        except BadRequest as problem:
            raise Problem(400, str(problem))
        return json_response({"status": "done", "data": data})

    def chart(self, kind: str) -> Response:
        try:
            svg = charts.render(self.server.dataset, kind, self.query)
        except charts.UnknownChart as problem:
            raise Problem(404, str(problem))
        except BadRequest as problem:
            raise Problem(400, str(problem))
        return Response(200, svg.encode(), charts.SVG_TYPE)

    def openapi_document(self, _: str) -> Response:
        return json_response(openapi.document(ROUTES, PREFIX_ROUTES))

    def static_file(self, name: str) -> Response:
        found = assets.asset(name)
        if found is None:
            raise Problem(404, f"no such file: {name}")
        return Response(200, found.body, found.content_type, [("Cache-Control", "no-cache")])


#: Exact paths.  Every data endpoint of stats.STATISTICS is a POST that queues a job.
ROUTES: Dict[str, Route] = {
    **{f"/api/{name}": Route(("POST",), StatsRequestHandler.submit_job, name, statistic.summary)
       for name, statistic in STATISTICS.items()},
    "/api/jobs": Route(("GET",), StatsRequestHandler.list_jobs,
                       summary="every job id and its state, in job order"),
    "/api/num_jobs": Route(("GET",), StatsRequestHandler.num_jobs,
                           summary="number of jobs queued or running"),
    "/api/graceful_shutdown": Route(("GET", "POST"), StatsRequestHandler.graceful_shutdown,
                                    summary="finish queued jobs, refuse new ones, then exit"),
    **{f"/api/{name}": Route(("GET",), StatsRequestHandler.list_data, name, summary)
       for name, summary in (
           ("questions", "every question with data, which way is better, how many locations"),
           ("states", "every location, or those with data for one question"),
           ("categories", "stratification categories and groups of one question and location"))},
    "/api/openapi.json": Route(("GET",), StatsRequestHandler.openapi_document,
                               summary="this API as an OpenAPI 3 document"),
    "/": Route(("GET",), StatsRequestHandler.static_file, "index.html",
               summary="the dashboard: run any statistic, see its table and chart"),
}

#: Paths that end in a parameter: prefix -> route; the rest of the path is the argument.
PREFIX_ROUTES: Dict[str, Route] = {
    "/api/get_results/": Route(("GET",), StatsRequestHandler.get_results,
                               summary="state and result of a job"),
    "/api/charts/": Route(("GET",), StatsRequestHandler.chart,
                          summary="a chart of the data as SVG"),
    "/static/": Route(("GET",), StatsRequestHandler.static_file,
                      summary="the dashboard's files"),
}


def find_route(path: str) -> Tuple[Optional[Route], str]:
    """The route serving ``path`` and its path argument, or ``(None, "")``."""
    route = ROUTES.get(path)
    if route is not None:
        return route, ""
    for prefix, route in PREFIX_ROUTES.items():
        if path.startswith(prefix):
            return route, path[len(prefix):]
    return None, ""
