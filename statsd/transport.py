"""The transport: connections, the strict request parser, the I/O loop, the handler pool.

Why: ``http.server`` gives every connection a thread that blocks reading it,
so a few hundred slow or silent sockets take every thread, and its parser
accepts requests that a proxy in front would frame differently (two
``Content-Length`` fields, ``+74``, a header without a colon).  This module
does what the Python servers that survive slow clients do:

* **Waitress**: one I/O thread (:class:`Loop`, a ``selectors`` loop) reads
  every connection that has no thread, into a small buffer, until a whole
  request -- head and body, both bounded -- is there.  Only then does a
  thread see it.  A silent, trickling or oversized client costs a socket and
  at most ``MAX_HEAD + MAX_BODY`` bytes, never a thread.
* **Cheroot's ConnectionManager**: a handler thread (:class:`Pool`) that has
  answered keeps the connection while its next request comes promptly
  (``KEEP_SECONDS``), so a client doing back-to-back requests is answered by
  one thread with no hand-off per request; a connection that goes quiet, or
  whose thread is wanted for a waiting request, goes back to the loop.
  The first ``KEEP_SLICE`` of that wait is one blocking ``recv`` (the socket
  stays blocking, with ``SO_RCVTIMEO``; every other read and write passes
  ``MSG_DONTWAIT``), as the bare ``http.server`` thread does: a ``poll`` and
  then a ``recv`` each let go of the GIL, and on this interpreter each
  let-go is a hand-off to another thread and back.
* **RFC 9112, strictly** (:func:`parse_head`): one way to frame a request, and
  every doubt a 400 that closes the connection, so that no body is ever read
  as a request.

The limits answer at once: a new connection past ``max_connections``, or a
request that finds no handler thread free within ``QUEUE_WAIT``, gets a 503
with ``Retry-After`` from the thread that found it, which never waits.

What a request *means* is not known here: the server (:mod:`statsd.server`)
gives a ``precheck`` (may this route take a body? for ``Expect:
100-continue``) and an ``answer`` callable run in a handler thread.
"""

from __future__ import annotations

import collections
import errno
import json
import logging
import re
import select
import selectors
import socket
import struct
import threading
import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Callable, Deque, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

log = logging.getLogger("statsd.http")

JSON_TYPE = "application/json"

#: RFC 9112 limits.  A longer request line is a 414; a longer head, or more
#: fields, a 431; a larger body a 413 (refused from its Content-Length alone).
MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD = 16 * 1024
MAX_FIELDS = 100
MAX_BODY = 64 * 1024

#: How long a handler thread keeps a connection it answered, waiting for its
#: next request, before it gives the connection back to the loop.
KEEP_SECONDS = 0.5

#: The first part of a keep, waited in one blocking ``recv``: a thread wanted
#: for a waiting request is called away after it, so this is also the longest
#: such a request waits for a keeper (within ``QUEUE_WAIT``).
KEEP_SLICE = 0.1

#: Longest wait of a complete request for a handler thread; then 503.
QUEUE_WAIT = 0.5

#: Longest time spent discarding what a client still sends after an answer
#: that closes (see :meth:`Loop.linger`).
LINGER_SECONDS = 2.0

#: How often the loop looks for connections past their deadline.
SWEEP_SECONDS = 0.1

READ_SIZE = 65536

#: ``recv``/``send`` flag for a call that must not block on a blocking socket;
#: 0 where the system has none (then sockets are made non-blocking and a keep
#: waits in ``poll`` alone).
DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)

#: ``SO_RCVTIMEO`` of a connection: ``KEEP_SLICE`` as a ``struct timeval``.
_SLICE_TIMEVAL = struct.pack("ll", 0, int(KEEP_SLICE * 1_000_000))

#: The Content-Length taken for one of more than 15 digits (over any limit).
TOO_LONG = 10 ** 15


# -- the parser -------------------------------------------------------------

_TOKEN_CHARS = rb"!#$%&'*+\-.^_`|~0-9A-Za-z"
_REQUEST_LINE = re.compile(rb"([" + _TOKEN_CHARS + rb"]+) ([^\x00-\x20\x7f]+) (HTTP/[0-9]\.[0-9])")
#: name ":" OWS value OWS (RFC 9112 5): the value ends on a character that is not
#: blank, matched greedily; a lazy value ("*?") tried to end at every character,
#: 1.4x-4x the time per field (20-109 bytes).
_FIELD = re.compile(rb"([" + _TOKEN_CHARS + rb"]+):[ \t]*"
                    rb"((?:[^\x00-\x08\x0a-\x1f\x7f]*[^\x00-\x20\x7f])?)[ \t]*")
_TOKEN = re.compile(rb"[" + _TOKEN_CHARS + rb"]+")
_DIGITS = re.compile(rb"[0-9]+")


class BadRequest(Exception):
    """A request that cannot be framed: answered with ``status``, then the connection closes.

    ``line`` is the request line when it could be read (for the log).
    """

    def __init__(self, status: int, reason: str, line: Optional["RequestLine"] = None,
                 headers: Sequence[Tuple[str, str]] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.line = line
        self.headers = headers


class RequestLine(NamedTuple):
    method: str
    target: str  # origin-form: path and query, as sent (absolute-form reduced to it)
    version: str

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]


class Headers:
    """Request fields by lower-case name; ``get`` joins a repeated field with ", "."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Dict[str, List[str]]) -> None:
        self._fields = fields

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        values = self._fields.get(name.lower())
        return ", ".join(values) if values else default

    def get_all(self, name: str) -> List[str]:
        return list(self._fields.get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def items(self) -> Iterator[Tuple[str, str]]:
        for name, values in self._fields.items():
            for value in values:
                yield name, value


class Head(NamedTuple):
    """A parsed request head and what framing follows from it."""

    line: RequestLine
    headers: Headers
    length: Optional[int]  # Content-Length, None when absent
    keep_alive: bool       # the client's wish (HTTP/1.1 unless "close"; 1.0 only with "keep-alive")
    expect_continue: bool


def _describe(raw: bytes) -> str:
    """A part of a request, quoted for a reason: printable ASCII, the rest escaped."""
    return repr(raw[:60].decode("latin-1"))


def parse_request_line(raw: bytes) -> RequestLine:
    match = _REQUEST_LINE.fullmatch(raw)
    if match is None:
        if not raw:
            raise BadRequest(400, "empty request line")
        parts = raw.split(b" ")
        if len(parts) != 3:
            raise BadRequest(400, f"request line {_describe(raw)} is not 'METHOD target HTTP/1.1' "
                                  "(single spaces)")
        raw_method, raw_target, raw_version = parts
        if not _TOKEN.fullmatch(raw_method):
            raise BadRequest(400, f"method {_describe(raw_method)} is not a token")
        if not re.fullmatch(rb"HTTP/[0-9]+\.[0-9]+", raw_version):
            raise BadRequest(400, f"request line {_describe(raw)} does not end with an HTTP version")
        if raw_version not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise BadRequest(505, f"HTTP version {raw_version.decode('ascii')} is not supported; "
                                  "use HTTP/1.1 or HTTP/1.0")
        raise BadRequest(400, f"request target {_describe(raw_target)} has a space or control "
                              "character; percent-encode it")
    # The pattern has one space between the parts and none in them: one decode, one split.
    method, target, version = raw.decode("latin-1").split(" ")
    line = RequestLine(method, target, version)
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(505, f"HTTP version {version} is not supported; use HTTP/1.1 or HTTP/1.0",
                         line)
    if not target.startswith("/"):
        lowered = target.lower()
        if lowered.startswith(("http://", "https://")):  # absolute-form (RFC 9112 3.2.2)
            rest = target.split("//", 1)[1]
            slash, mark = rest.find("/"), rest.find("?")
            starts = [index for index in (slash, mark) if index >= 0]
            origin = rest[min(starts):] if starts else "/"
            if origin.startswith("?"):
                origin = "/" + origin
            return RequestLine(method, origin, version)
        if target == "*" and method == "OPTIONS":
            return line
        raise BadRequest(400, f"request target {_describe(match.group(2))} is not a path "
                              "starting with '/' or an absolute http:// URL", line)
    return line


def parse_head(raw: bytes) -> Head:
    """The head (request line and fields, without the final empty line) of a request.

    Raises :class:`BadRequest` for anything RFC 9112 does not frame one way.
    """
    lines = raw.split(b"\r\n")
    first = lines[0]
    if b"\n" in first or b"\r" in first:
        raise BadRequest(400, "request line ends with a bare LF or CR; lines end with CRLF")
    if len(first) > MAX_REQUEST_LINE:
        raise BadRequest(414, f"request line of {len(first)} bytes is over the limit of "
                              f"{MAX_REQUEST_LINE}")
    line = parse_request_line(first)
    if len(lines) - 1 > MAX_FIELDS:
        raise BadRequest(431, f"{len(lines) - 1} header fields, over the limit of {MAX_FIELDS}", line)
    fields: Dict[str, List[str]] = {}
    for raw_field in lines[1:]:
        match = _FIELD.fullmatch(raw_field)
        if match is None:
            raise BadRequest(400, _field_problem(raw_field), line)
        name = match.group(1).decode("ascii").lower()
        value = match.group(2).decode("latin-1")
        values = fields.get(name)
        if values is None:
            fields[name] = [value]
        else:
            values.append(value)
    headers = Headers(fields)
    http11 = line.version == "HTTP/1.1"

    hosts = fields.get("host", [])
    if len(hosts) > 1:
        raise BadRequest(400, f"{len(hosts)} Host fields; send one", line)
    if http11 and not hosts:
        raise BadRequest(400, "HTTP/1.1 request without a Host field", line)

    lengths = fields.get("content-length", [])
    codings = fields.get("transfer-encoding", [])
    if codings:
        text = ", ".join(codings)
        if lengths:
            raise BadRequest(400, "both Transfer-Encoding and Content-Length; send only "
                                  "Content-Length", line)
        if "chunked" in text.lower():
            raise BadRequest(411, "chunked bodies are not supported; send Content-Length", line)
        raise BadRequest(501, f"Transfer-Encoding {text[:60]!r} is not supported; send "
                              "Content-Length", line)
    length: Optional[int] = None
    if len(lengths) > 1:
        raise BadRequest(400, f"{len(lengths)} Content-Length fields; send one", line)
    if lengths:
        text = lengths[0]
        if not (text.isascii() and _DIGITS.fullmatch(text.encode("ascii"))):
            raise BadRequest(400, f"invalid Content-Length {text[:40]!r}: not a number of "
                                  "ASCII digits", line)
        # Over MAX_BODY is refused once the route is known (a 404 or 405 first).
        length = int(text) if len(text) <= 15 else TOO_LONG

    connection = (headers.get("connection") or "").lower()
    options = {option.strip() for option in connection.split(",")} if connection else set()
    keep_alive = "close" not in options if http11 else "keep-alive" in options

    expect = headers.get("expect")
    expect_continue = False
    if expect is not None and http11:  # HTTP/1.0 has no Expect (RFC 9110 10.1.1)
        if expect.strip().lower() != "100-continue":
            raise BadRequest(417, f"Expect {expect[:40]!r} is not supported; only 100-continue",
                             line)
        expect_continue = True
    return Head(line, headers, length, keep_alive, expect_continue)


def _field_problem(raw: bytes) -> str:
    """Why a header field line is refused, in the request's own terms."""
    if not raw:
        return "empty header line"
    if raw[:1] in (b" ", b"\t"):
        return f"header line {_describe(raw)} starts with whitespace (obsolete line folding)"
    if b"\r" in raw or b"\n" in raw:
        return f"header line {_describe(raw)} has a bare CR or LF; lines end with CRLF"
    if b"\0" in raw:
        return f"header line {_describe(raw)} has a NUL byte"
    name, colon, _ = raw.partition(b":")
    if not colon:
        return f"header line {_describe(raw)} has no colon"
    if name.rstrip(b" \t") != name or not name:
        return f"header name {_describe(name)} has whitespace before the colon" if name else \
            f"header line {_describe(raw)} has no name"
    if not _TOKEN.fullmatch(name):
        return f"header name {_describe(name)} is not a token"
    return f"header {_describe(name)} has a control character in its value"


# -- writing responses ------------------------------------------------------

class Response(NamedTuple):
    """What is answered: status, body bytes, type, and extra header fields."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: Sequence[Tuple[str, str]] = ()


def error_body(reason: str) -> bytes:
    return json.dumps({"status": "error", "reason": reason}).encode()


def error_response(status: int, reason: str, headers: Sequence[Tuple[str, str]] = ()) -> Response:
    return Response(status, error_body(reason), JSON_TYPE, headers)


#: The Date field, formatted once a second: (second, text), replaced whole.
_date_cache: Tuple[int, str] = (0, "")


def _http_date() -> str:
    global _date_cache
    now = int(time.time())
    second, text = _date_cache
    if second != now:
        text = formatdate(now, usegmt=True)
        _date_cache = (now, text)
    return text


#: "HTTP/1.1 200 OK\r\n", and so on for every status, built once.
_STATUS_LINES: Dict[int, str] = {status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n"
                                 for status in HTTPStatus}


def encode(response: Response, server: str, *, close: bool, keep_alive_10: bool = False,
           head_only: bool = False, extra: Sequence[Tuple[str, str]] = ()) -> bytes:
    """Status line, header fields and (unless ``head_only``) body, as one bytes.

    ``keep_alive_10``: the request was HTTP/1.0 with ``Connection: keep-alive``,
    which is kept only if the answer says so.  1xx, 204 and 304 have no body.
    """
    status = response.status
    status_line = _STATUS_LINES.get(status) or f"HTTP/1.1 {status} \r\n"
    head = f"{status_line}Server: {server}\r\nDate: {_http_date()}\r\n"
    bodyless = status < 200 or status == 204 or status == 304
    if not bodyless:
        head += (f"Content-Type: {response.content_type}\r\n"
                 f"Content-Length: {len(response.body)}\r\n")
    for name, value in response.headers:
        head += f"{name}: {value}\r\n"
    for name, value in extra:
        head += f"{name}: {value}\r\n"
    if close:
        head += "Connection: close\r\n"
    elif keep_alive_10:
        head += "Connection: keep-alive\r\n"
    data = (head + "\r\n").encode("latin-1")
    return data if head_only or bodyless else data + response.body


def printable(text: str, limit: int = 300) -> str:
    """``text`` cut to ``limit`` characters, control characters escaped.

    Request text goes into webserver.log through this, so that a client
    cannot forge log lines with a newline or an escape sequence.
    """
    text = text[:limit]
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


# -- connections ---------------------------------------------------------------

class Request(NamedTuple):
    """A whole request, framed: its head and its body (None without Content-Length)."""

    head: Head
    body: Optional[bytes]
    received: float  # time.monotonic() when it was complete


# What a connection is waiting for, for its deadline and the log.
IDLE, HEAD, BODY, LINGER = "idle", "head", "body", "linger"


class Connection:
    """One client socket (non-blocking), its input buffer and where its request stands.

    A connection is owned by one thread at a time: the loop, or the handler
    thread it was given to; the owner alone reads, writes and parses it, so
    none of this needs a lock.
    """

    def __init__(self, sock: socket.socket, address: Tuple[str, int], timeout: float,
                 precheck: Callable[[Head], Optional[BadRequest]],
                 on_close: Optional[Callable[[], None]] = None) -> None:
        self.sock = sock
        self.precheck = precheck
        self.on_close = on_close
        self.address = address
        self.client = address[0]
        self.timeout = timeout
        self.buffer = bytearray()
        self.scanned = 0             # bytes of the buffer known to hold no end of head
        self.head: Optional[Head] = None
        self.head_end = 0            # where the body starts in the buffer
        self.continued = False       # "100 Continue" sent for this request
        self.skipped = False         # the empty line before this request was skipped
        self.ready: Optional[Request] = None  # parsed, waiting for its answer
        self.state = IDLE
        self.deadline = time.monotonic() + timeout
        self.eof = False
        self.answered = 0            # requests answered on this connection
        self.queued_at = 0.0         # when it was queued for a handler thread

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self) -> bool:
        """Read what has arrived; False when nothing could be read (would block)."""
        try:
            data = self.sock.recv(READ_SIZE, DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return False
        self.take(data)
        return True

    def take(self, data: bytes) -> None:
        """What ``recv`` gave: into the buffer (b"": the client closed its side)."""
        if not data:
            self.eof = True
            return
        if self.state == LINGER:
            return  # discarded
        if self.state == IDLE:
            self.state = HEAD
            self.deadline = time.monotonic() + self.timeout
        self.buffer += data

    def next_request(self) -> Optional[Request]:
        """The request now whole in the buffer, or None while it is incomplete.

        Raises :class:`BadRequest` for a request that cannot be framed, or
        that ``precheck`` refuses while it waits for ``100 Continue`` (the
        final status goes at once, and the body must not be sent).
        """
        buffer = self.buffer
        if self.head is None:
            if not self.skipped and buffer[:2] == b"\r\n":
                # One empty line before a request line is ignored (RFC 9112 2.2).
                del buffer[:2]
                self.skipped = True
                self.scanned = max(0, self.scanned - 2)
                if not buffer:
                    return None
            end = buffer.find(b"\r\n\r\n", max(0, self.scanned - 3))
            if end < 0:
                self.scanned = len(buffer)
                self._check_partial_head()
                return None
            if end + 4 > MAX_HEAD:
                self._check_partial_head()
                raise BadRequest(431, f"request head of {end + 4} bytes is over the limit of "
                                      f"{MAX_HEAD}", _line_or_none(bytes(buffer[:buffer.find(b'\r\n')])))
            head = parse_head(bytes(buffer[:end]))
            if head.length is not None and head.length > MAX_BODY:
                refusal = self.precheck(head)
                if refusal is not None:
                    raise refusal
                text = head.headers.get("content-length") or ""
                shown = text if len(text) <= 40 else text[:20] + "..."
                raise BadRequest(413, f"request body of {shown} bytes is over the limit of "
                                      f"{MAX_BODY}", head.line)
            self.head = head
            self.head_end = end + 4
            self.state = BODY
            self.deadline = time.monotonic() + self.timeout
        head = self.head
        length = head.length or 0
        if len(buffer) - self.head_end < length:
            if head.expect_continue and not self.continued and len(buffer) == self.head_end:
                refusal = self.precheck(head)
                if refusal is not None:
                    raise refusal
                self.continued = True
                self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            if self.eof:
                raise BadRequest(400, "request body shorter than its Content-Length", head.line)
            return None
        end = self.head_end + length
        body = bytes(buffer[self.head_end:end]) if head.length is not None else None
        del buffer[:end]
        self.head = None
        self.scanned = 0
        self.skipped = False
        self.continued = False
        self.state = HEAD if buffer else IDLE
        self.deadline = time.monotonic() + self.timeout
        return Request(head, body, time.monotonic())

    def _check_partial_head(self) -> None:
        buffer = self.buffer
        newline = buffer.find(b"\n")
        line_length = newline if newline >= 0 else len(buffer)
        if line_length > MAX_REQUEST_LINE:
            raise BadRequest(414, f"request line of {'more than ' if newline < 0 else ''}"
                                  f"{line_length} bytes is over the limit of {MAX_REQUEST_LINE}")
        if len(buffer) > MAX_HEAD:
            raise BadRequest(431, f"request head of more than {MAX_HEAD} bytes is over the limit",
                             _line_or_none(bytes(buffer[:newline])) if newline >= 0 else None)
        if buffer.count(b"\r\n") > MAX_FIELDS + 1:
            raise BadRequest(431, f"more than {MAX_FIELDS} header fields",
                             _line_or_none(bytes(buffer[:newline])))

    def pending(self) -> bool:
        """Whether the buffer holds the start of another request."""
        return bool(self.buffer) or self.head is not None

    def write(self, data: bytes) -> bool:
        """Send ``data`` whole, waiting for the socket at most ``timeout``; False if not."""
        try:
            sent = self.sock.send(data, DONTWAIT)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return False
        if sent == len(data):
            return True  # nearly always: an answer fits in the socket's buffer
        return self._write_rest(memoryview(data)[sent:])

    def _write_rest(self, view: memoryview) -> bool:
        """What :meth:`write` could not send at once, as the socket takes it."""
        deadline = time.monotonic() + self.timeout
        poller = select.poll()
        poller.register(self.sock, select.POLLOUT)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            poller.poll(remaining * 1000)
            try:
                sent = self.sock.send(view, DONTWAIT)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return False
            view = view[sent:]
        return True

    def release(self) -> None:
        """Give back the connection's slot (``on_close``), once; :meth:`close` does it too."""
        if self.on_close is not None:
            on_close, self.on_close = self.on_close, None
            on_close()

    def close(self) -> None:
        self.release()
        try:
            self.sock.close()
        except OSError:
            pass


def _line_or_none(raw: bytes) -> Optional[RequestLine]:
    try:
        return parse_request_line(raw.rstrip(b"\r"))
    except BadRequest:
        return None


# -- the handler pool ---------------------------------------------------------

class Pool:
    """``size`` handler threads answering connections that hold a whole request.

    ``self._ready`` is guarded by ``self._mutex``, and so are ``self._idle``,
    ``self._keepers`` and ``self._closed``; ``self._work`` is a Condition on
    that same lock, notified when a connection is queued or the pool closes
    (as ``queue.Queue``'s ``mutex`` and ``not_empty``: the lock is taken as a
    plain lock, in C, where only a wait or a notify needs the Condition).  A
    connection is in exactly one
    place: the loop, the ready queue, or one thread.  ``idle_threads`` reads
    ``_idle`` without the lock: a stale answer only makes the accepting thread
    give a new connection to the loop instead of to a thread, which is safe.
    """

    def __init__(self, size: int, serve: Callable[["Worker", Connection], None]) -> None:
        self.size = size
        self._serve = serve
        self._mutex = threading.Lock()
        self._work = threading.Condition(self._mutex)
        self._ready: Deque[Connection] = collections.deque()
        self._idle = 0
        self._keepers: List["Worker"] = []
        self._closed = False
        self.workers = [Worker(self, index) for index in range(size)]

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def idle_threads(self) -> int:
        return self._idle

    def give(self, connection: Connection, fresh: bool = False) -> bool:
        """Queue ``connection`` for a thread; False when the pool is closed (or, for
        ``fresh``, when no thread is idle).

        ``fresh``: a new connection with no request yet, taken only by an idle
        thread (else it waits in the loop: no thread is taken from a keeper).
        """
        with self._mutex:
            if self._closed:
                return False
            if self._idle > len(self._ready):
                self._ready.append(connection)
                self._work.notify()
                return True
            if fresh:
                return False
            if self._keepers:
                self._keepers.pop().preempt()
            # Else it waits for the first thread to finish, at most QUEUE_WAIT (see
            # overdue); a connection is queued at most once, so the queue is bounded
            # by the open connections.
            connection.queued_at = time.monotonic()
            self._ready.append(connection)
            return True

    def overdue(self, now: float) -> List[Connection]:
        """Take the connections that waited more than QUEUE_WAIT for a thread."""
        late = []
        with self._mutex:
            while self._ready and self._ready[0].queued_at and now - self._ready[0].queued_at > QUEUE_WAIT:
                late.append(self._ready.popleft())
        return late

    def work_waiting(self) -> bool:
        return bool(self._ready)  # a stale answer costs one hand-off, or one keep

    def take(self) -> Optional[Connection]:
        with self._mutex:
            self._idle += 1
            try:
                while not self._ready:
                    if self._closed:
                        return None
                    self._work.wait()
                connection = self._ready.popleft()
                connection.queued_at = 0.0
                return connection
            finally:
                self._idle -= 1

    def keep(self, worker: "Worker") -> None:
        with self._mutex:
            self._keepers.append(worker)

    def stop_keeping(self, worker: "Worker") -> bool:
        """False when another thread preempted ``worker`` (it is wanted for queued work)."""
        with self._mutex:
            try:
                self._keepers.remove(worker)
                return True
            except ValueError:
                return False

    def close(self) -> List[Connection]:
        with self._mutex:
            self._closed = True
            for keeper in self._keepers:
                keeper.preempt()
            self._keepers.clear()
            self._work.notify_all()
            left = list(self._ready)
            self._ready.clear()
            return left


class Worker(threading.Thread):
    """A handler thread; its socket pair lets another thread call it away from a keep."""

    def __init__(self, pool: Pool, index: int) -> None:
        super().__init__(name=f"statsd-handler-{index}", daemon=True)
        self.pool = pool
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self.poller = select.poll()
        self.poller.register(self._wake_read, select.POLLIN)
        self.wake_fd = self._wake_read.fileno()
        # What a keep's blocking recv reads into (see Transport._keep_blocking).
        self.read_buffer = bytearray(READ_SIZE)
        self.read_view = memoryview(self.read_buffer)

    def preempt(self) -> None:
        """Called with the pool's lock held, on a keeper."""
        try:
            self._wake_write.send(b"x")
        except OSError:
            pass

    def drain_wake(self) -> None:
        try:
            while self._wake_read.recv(64):
                pass
        except (BlockingIOError, InterruptedError, OSError):
            pass

    def run(self) -> None:
        pool = self.pool
        while True:
            connection = pool.take()
            if connection is None:
                break
            try:
                pool._serve(self, connection)
            except Exception:  # never lose a thread of the pool
                log.exception("%s unexpected error on the connection", connection.client)
                connection.close()
        self.poller.unregister(self.wake_fd)
        self._wake_read.close()
        self._wake_write.close()


# -- the loop -----------------------------------------------------------------

class Loop(threading.Thread):
    """One thread with a selector over every connection that no handler thread holds.

    ``self._incoming`` (connections handed to the loop by other threads) is
    guarded by ``self._lock``; everything else belongs to the loop thread.
    """

    def __init__(self, on_ready: Callable[[Connection], None],
                 on_fail: Callable[[Connection, Exception], None],
                 on_expired: Callable[[Connection, float], None],
                 on_overdue: Callable[[float], None]) -> None:
        super().__init__(name="statsd-io", daemon=True)
        self.selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._incoming: Deque[Connection] = collections.deque()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self.selector.register(self._wake_read, selectors.EVENT_READ, None)
        self.connections: Dict[int, Connection] = {}
        self._on_ready = on_ready
        self._on_fail = on_fail
        self._on_expired = on_expired
        self._on_overdue = on_overdue
        self._running = True

    def add(self, connection: Connection) -> None:
        """Give ``connection`` to the loop (from any thread)."""
        with self._lock:
            running = self._running
            if running:
                self._incoming.append(connection)
                try:
                    self._wake_write.send(b"x")
                except OSError:
                    pass  # a wake-up is already pending (the pair is full)
        if not running:
            connection.close()

    def stop(self) -> None:
        with self._lock:
            self._running = False
            left = list(self._incoming)
            self._incoming.clear()
            try:
                self._wake_write.send(b"x")
            except OSError:
                pass
        for connection in left:
            connection.close()

    def run(self) -> None:
        next_sweep = time.monotonic() + SWEEP_SECONDS
        while self._running:
            for key, _ in self.selector.select(SWEEP_SECONDS):
                connection = key.data
                if connection is None:
                    try:
                        while self._wake_read.recv(4096):
                            pass
                    except (BlockingIOError, InterruptedError):
                        pass
                    continue
                self._readable(connection)
            with self._lock:
                incoming = list(self._incoming)
                self._incoming.clear()
            for connection in incoming:
                self._adopt(connection)
            now = time.monotonic()
            if now >= next_sweep:
                next_sweep = now + SWEEP_SECONDS
                self._sweep(now)
        for connection in list(self.connections.values()):
            self._drop(connection)
            connection.close()
        self.selector.close()
        self._wake_read.close()
        with self._lock:  # add() may still be sending a wake-up
            self._wake_write.close()

    def _adopt(self, connection: Connection) -> None:
        fd = connection.fileno()
        if fd < 0:
            return
        self.connections[fd] = connection
        self.selector.register(connection.sock, selectors.EVENT_READ, connection)
        if connection.state != LINGER and connection.pending():
            self.advance(connection)

    def _drop(self, connection: Connection) -> None:
        """Stop watching ``connection`` (it goes to a thread, or is closed)."""
        self.connections.pop(connection.fileno(), None)
        try:
            self.selector.unregister(connection.sock)
        except (KeyError, ValueError):
            pass

    def linger(self, connection: Connection) -> None:
        """Close our side and discard the client's input for a moment, then close.

        Closing a socket with unread input makes the kernel send a reset, and a
        client still writing a body we refused (http.client writes it all
        before it reads an answer) then sees a broken pipe instead of our
        answer.  Like Apache's lingering close, the discarding is bounded.
        Called by the loop thread, or by a handler thread before :meth:`add`.
        """
        try:
            connection.sock.shutdown(socket.SHUT_WR)
        except OSError:
            connection.close()
            return
        connection.state = LINGER
        connection.buffer.clear()
        connection.head = None
        connection.deadline = time.monotonic() + min(LINGER_SECONDS, connection.timeout)

    def _readable(self, connection: Connection) -> None:
        try:
            if not connection.receive():
                return
        except OSError as error:  # a reset: the client is gone
            self._drop(connection)
            if connection.state != LINGER:
                self._on_fail(connection, error)
            connection.close()
            return
        if connection.state == LINGER:
            if connection.eof:
                self._drop(connection)
                connection.close()
            return
        self.advance(connection)

    def advance(self, connection: Connection) -> None:
        """Parse what the connection holds; a whole request goes to a thread."""
        try:
            request = connection.next_request()
        except BadRequest as problem:
            self._drop(connection)
            self._on_fail(connection, problem)
            return
        if request is not None:
            connection.ready = request
            self._drop(connection)
            self._on_ready(connection)
        elif connection.eof:
            self._drop(connection)
            self._on_fail(connection, EOFError())

    def _sweep(self, now: float) -> None:
        for connection in [c for c in self.connections.values() if c.deadline <= now]:
            self._drop(connection)
            if connection.state == LINGER:
                connection.close()
            else:
                self._on_expired(connection, now)
        self._on_overdue(now)


# -- the transport: accepting, answering, refusing ------------------------------

class Outcome(NamedTuple):
    """What the application answers to a request."""

    response: Response
    close: bool = False      # close the connection after it (e.g. a 500)
    head_only: bool = False  # a HEAD: the head of the GET answer, no body


#: The answer to a request whose handling failed, built once: a JSON 500, then close.
INTERNAL_ERROR = Outcome(error_response(500, "internal server error"), close=True)

#: ``answer(connection, request)``, run in a handler thread.
Answer = Callable[[Connection, Request], Outcome]
#: ``observer(route, status, seconds)``, once per answered request.
Observer = Callable[[str, int, float], None]


class Transport:
    """Connections from accept to close: the loop, the pool, and the answers of the transport.

    ``self._open`` (connections accepted and not closed), ``_refused_lingering``
    and ``_started`` are guarded by ``self._count_lock``; :meth:`open_connections` reads it without the lock
    (an int read is atomic; the gauge may be one behind).
    """

    def __init__(self, answer: Answer, precheck: Callable[[Head], Optional[BadRequest]], *,
                 timeout: float, max_connections: int, threads: int, server_name: str,
                 extra_headers: Sequence[Tuple[str, str]] = (),
                 observer: Optional[Observer] = None) -> None:
        self._answer = answer
        self._precheck = precheck
        self.timeout = timeout
        self.max_connections = max_connections
        self.server_name = server_name
        self.extra_headers = tuple(extra_headers)
        self.observer = observer
        self._count_lock = threading.Lock()
        self._open = 0
        self._refused_lingering = 0
        self._started = False
        # Requests between "taken by a handler thread" and "answer written",
        # guarded by _answering_mutex, so that stopping never cuts an answer;
        # _answered, a Condition on that lock, is notified when none is left.
        self._answering = 0
        self._answering_mutex = threading.Lock()
        self._answered = threading.Condition(self._answering_mutex)
        self.pool = Pool(threads, self._serve)
        self.loop = Loop(self._ready, self._fail, self._expired, self._overdue)

    def start(self) -> None:
        """Start the loop and the handler threads; again, it does nothing."""
        with self._count_lock:
            if self._started:
                return
            self._started = True
        self.pool.start()
        self.loop.start()

    def close(self) -> None:
        """Stop the loop and the threads; close every connection not being answered."""
        for connection in self.pool.close():
            connection.close()
        self.loop.stop()

    def open_connections(self) -> int:
        return self._open

    def wait_answers(self, timeout: float) -> bool:
        """Wait until no answer is being computed or written (at most ``timeout``)."""
        with self._answered:
            return self._answered.wait_for(lambda: not self._answering, timeout=timeout)

    def _closed(self) -> None:
        with self._count_lock:
            self._open -= 1

    def _refused_closed(self) -> None:
        with self._count_lock:
            self._refused_lingering -= 1

    # -- accepting ------------------------------------------------------------

    def accept(self, sock: socket.socket, address: Tuple[str, int]) -> None:
        """A new connection, from the accepting thread: never blocks."""
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if DONTWAIT:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _SLICE_TIMEVAL)
            else:
                sock.setblocking(False)
        except OSError:
            sock.close()
            return
        with self._count_lock:
            full = self._open >= self.max_connections
            if not full:
                self._open += 1
            linger = full and self._refused_lingering < 1024
            if linger:
                self._refused_lingering += 1
        if full:
            connection = Connection(sock, address, self.timeout, self._precheck,
                                    self._refused_closed if linger else None)
            log.warning("%s refused: %d connections already open", address[0], self.max_connections)
            self._send_error(connection, "refused", error_response(
                503, "too many open connections, retry later", [("Retry-After", "1")]),
                linger=linger)
            return
        connection = Connection(sock, address, self.timeout, self._precheck, self._closed)
        if not self.pool.give(connection, fresh=True):
            self.loop.add(connection)

    # -- answering, in a handler thread ------------------------------------------

    def _serve(self, worker: Worker, connection: Connection) -> None:
        while True:
            request = connection.ready
            if request is not None:
                connection.ready = None
                if not self._answer_one(connection, request):
                    return
                if connection.buffer:  # pipelined: the next request may be there already
                    try:
                        connection.ready = connection.next_request()
                    except BadRequest as problem:
                        self._fail(connection, problem)
                        return
                    if connection.ready is not None:
                        continue
            if self.pool.work_waiting():
                self.loop.add(connection)  # this thread is wanted elsewhere
                return
            if not self._keep(worker, connection):
                return

    def _answer_one(self, connection: Connection, request: Request) -> bool:
        """Answer ``request``; True when the connection stays open for the next one."""
        head = request.head
        with self._answering_mutex:
            self._answering += 1
        try:
            try:
                outcome = self._answer(connection, request)
            except Exception:
                log.exception('%s "%s %s" 500 internal error', connection.client,
                              head.line.method, printable(head.line.path))
                outcome = INTERNAL_ERROR
            close = outcome.close or not head.keep_alive
            data = encode(outcome.response, self.server_name, close=close,
                          keep_alive_10=not close and head.line.version == "HTTP/1.0",
                          head_only=outcome.head_only, extra=self.extra_headers)
            connection.answered += 1
            written = connection.write(data)
        finally:
            with self._answering_mutex:
                self._answering -= 1
                if not self._answering:
                    self._answered.notify_all()
        if not written:
            connection.close()
            return False
        if close:
            self._close_after_answer(connection)
            return False
        return True

    def _close_after_answer(self, connection: Connection) -> None:
        if connection.pending():
            self.loop.linger(connection)  # it sent more than we read
            self.loop.add(connection)
        else:
            # The slot first: a client that sees the close may connect again at
            # once, and must not be refused for the connection it just closed.
            connection.release()
            try:
                connection.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            connection.close()

    def _keep(self, worker: Worker, connection: Connection) -> bool:
        """Wait for the next request on ``connection``; True when it is whole.

        False when the connection went elsewhere: back to the loop (quiet, or
        this thread was called away), or closed.
        """
        end = time.monotonic() + KEEP_SECONDS
        if DONTWAIT and connection.deadline - time.monotonic() > KEEP_SLICE:
            whole = self._keep_blocking(worker, connection)
            if whole is not None:
                return whole
        fd = connection.fileno()
        worker.poller.register(fd, select.POLLIN)
        try:
            while True:
                now = time.monotonic()
                wait = min(end, connection.deadline) - now
                events: List[Tuple[int, int]] = []
                if wait > 0:
                    self.pool.keep(worker)
                    events = worker.poller.poll(wait * 1000)
                    if not self.pool.stop_keeping(worker):
                        worker.drain_wake()
                        self.loop.add(connection)
                        return False
                readable = False
                for event_fd, _ in events:  # at most two: the connection, the wake-up pair
                    if event_fd == fd:
                        readable = True
                if not readable:
                    if connection.deadline <= time.monotonic():
                        self._expired(connection, time.monotonic())
                    elif time.monotonic() >= end:
                        self.loop.add(connection)
                    else:
                        continue
                    return False
                try:
                    connection.receive()
                except OSError as error:
                    self._fail(connection, error)
                    return False
                whole = self._parse_kept(connection)
                if whole is not None:
                    return whole
        finally:
            worker.poller.unregister(fd)

    def _parse_kept(self, connection: Connection) -> Optional[bool]:
        """After a read in a keep: True, a whole request is ready; False, the
        connection failed (and is answered or closed); None, wait for more."""
        try:
            connection.ready = connection.next_request()
        except BadRequest as problem:
            self._fail(connection, problem)
            return False
        if connection.ready is not None:
            return True
        if connection.eof:
            self._fail(connection, EOFError())
            return False
        return None

    def _keep_blocking(self, worker: Worker, connection: Connection) -> Optional[bool]:
        """The first ``KEEP_SLICE`` of a keep, in one blocking ``recv``.

        True or False as :meth:`_keep`; None when the wait goes on in ``poll``
        (nothing came in the slice, or only part of a request).  The thread
        is a keeper meanwhile, so that a waiting request can call it away: it
        sees the call when ``recv`` returns, at most ``KEEP_SLICE`` later.
        """
        self.pool.keep(worker)
        # Into the thread's own buffer: recv(READ_SIZE) would allocate its
        # 64 KB before the wait and shrink it after, and with a thread per
        # keep that fragmented the heap (RSS +8.1 MB over 5,000 jobs of the
        # bench's memory check, +4.0 MB before the slice, +3.6 MB with this).
        try:
            received = connection.sock.recv_into(worker.read_buffer)
        except (BlockingIOError, InterruptedError):  # SO_RCVTIMEO: the slice is over
            received = -1
        except OSError as error:
            if not self.pool.stop_keeping(worker):
                worker.drain_wake()
            self._fail(connection, error)
            return False
        if received >= 0:
            connection.take(bytes(worker.read_view[:received]))
        if not self.pool.stop_keeping(worker):
            worker.drain_wake()
            self.loop.add(connection)  # the loop parses what came (see Loop._adopt)
            return False
        if received < 0:
            return None
        return self._parse_kept(connection)

    # -- the transport's own answers (any thread that owns the connection) ---------

    def _ready(self, connection: Connection) -> None:
        """From the loop: a whole request; to a thread, or 503 at once."""
        if not self.pool.give(connection):
            self._busy(connection)

    def _busy(self, connection: Connection) -> None:
        request = connection.ready
        line = request.head.line if request is not None else None
        self._log_problem(connection, line, 503, "no handler thread free, retry later")
        self._send_error(connection, "busy", error_response(
            503, "no handler thread free, retry later", [("Retry-After", "1")]))

    def _overdue(self, now: float) -> None:
        for connection in self.pool.overdue(now):
            self._busy(connection)

    def _fail(self, connection: Connection, problem: Exception) -> None:
        """A connection that cannot go on: answer what can be answered, then close."""
        if isinstance(problem, BadRequest):
            self._log_problem(connection, problem.line, problem.status, problem.reason)
            self._send_error(connection, "invalid", error_response(
                problem.status, problem.reason, problem.headers))
        elif isinstance(problem, EOFError):
            if connection.state in (HEAD, BODY):
                line = connection.head.line if connection.head is not None else None
                shown = f' "{printable(line.method + " " + line.target, 200)}"' if line else ""
                log.warning("%s%s connection closed by the client in the middle of a request "
                            "(%d bytes unanswered)", connection.client, shown, len(connection.buffer))
            connection.close()
        else:
            text = getattr(problem, "strerror", None) or str(problem)
            if connection.state in (HEAD, BODY):
                log.warning("%s connection lost in the middle of a request: %s",
                            connection.client, text)
            else:
                log.info("%s connection closed by the client: %s", connection.client, text)
            connection.close()

    def _expired(self, connection: Connection, now: float) -> None:
        state = connection.state
        if state == IDLE:
            log.info("%s connection closed: no request in %g s", connection.client, self.timeout)
            connection.close()
        elif state == HEAD:
            log.warning("%s connection closed: request head not complete in %g s (%d bytes)",
                        connection.client, self.timeout, len(connection.buffer))
            connection.close()
        else:
            line = connection.head.line if connection.head is not None else None
            reason = "timed out reading the request body"
            self._log_problem(connection, line, 408, reason)
            self._send_error(connection, "invalid", error_response(408, reason))

    def _log_problem(self, connection: Connection, line: Optional[RequestLine], status: int,
                     reason: str) -> None:
        if line is None:
            log.warning('%s "-" %d %s', connection.client, status, printable(reason))
            return
        query = f" {printable(line.query)}" if line.query else ""
        log.warning('%s "%s %s" %d %s%s', connection.client, printable(line.method, 20),
                    printable(line.path), status, printable(reason), query)

    def _send_error(self, connection: Connection, route: Optional[str], response: Response,
                    linger: bool = True) -> None:
        """Write ``response`` (closing the connection), then a lingering close in the loop."""
        data = encode(response, self.server_name, close=True, extra=self.extra_headers)
        if route is not None and self.observer is not None:
            self.observer(route, response.status, 0.0)
        try:
            connection.sock.send(data, DONTWAIT)  # small: the socket buffer takes it whole
        except OSError:
            connection.close()
            return
        if linger:
            self.loop.linger(connection)
            if connection.state == LINGER:
                self.loop.add(connection)
        else:
            connection.close()
