"""Request framing (RFC 9112), byte for byte, against the real server.

Why: a request that two HTTP parsers would frame differently is how bodies
get executed as requests (request smuggling) behind a proxy.  Each case of
the table below is sent as raw bytes on a fresh connection; the test reads
the status, then tries a second request on the same connection to learn
whether the server kept it open or closed it, and checks, for the cases
whose body holds a whole second request, that no job was created.
"""

from __future__ import annotations

import json
import random
import socket
import time
import unittest
from typing import Dict, List, Optional, Tuple

from support import OBESITY, ServedTestCase

from statsd.transport import BadRequest, parse_head

GOOD_BODY = json.dumps({"question": OBESITY}).encode()
#: A whole request that would create a job if it were ever read as one.
SMUGGLED = (b"POST /api/global_mean HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(GOOD_BODY), GOOD_BODY))
FOLLOW_UP = b"GET /api/num_jobs HTTP/1.1\r\nHost: x\r\n\r\n"

Response = Tuple[int, Dict[str, str], bytes]


def read_response(sock: socket.socket, buffer: bytearray, head_only: bool = False
                  ) -> Optional[Response]:
    """One response from ``sock`` (bytes already read are in ``buffer``); None at EOF."""
    while b"\r\n\r\n" not in buffer:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            return None
        buffer += data
    end = buffer.index(b"\r\n\r\n")
    lines = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    del buffer[:end + 4]
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head_only or status < 200 or status in (204, 304) else \
        int(headers.get("content-length", "0"))
    while len(buffer) < length:
        data = sock.recv(65536)
        if not data:
            break
        buffer += data
    body = bytes(buffer[:length])
    del buffer[:length]
    return status, headers, body


def exchange(port: int, data: bytes, *, follow_up: bool = True, shut_write: bool = False
             ) -> Tuple[Optional[Response], bool]:
    """Send ``data`` on a new connection; return (first response, connection kept open)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        buffer = bytearray()
        first = read_response(sock, buffer)
        if first is None or not follow_up or shut_write:
            return first, False
        try:
            sock.sendall(FOLLOW_UP)
        except OSError:
            return first, False
        second = read_response(sock, buffer)
        return first, second is not None and second[0] == 200


def get(target: str, headers: str = "Host: x\r\n", version: str = "HTTP/1.1") -> bytes:
    return f"GET {target} {version}\r\n{headers}\r\n".encode("latin-1")


def post(fields: bytes, body: bytes, path: bytes = b"/api/global_mean") -> bytes:
    return b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n" + body


def length(value: bytes) -> bytes:
    return b"Content-Length: " + value + b"\r\n"


#: (name, raw request, expected status, connection kept open afterwards)
CASES: List[Tuple[str, bytes, int, bool]] = [
    ("plain GET", get("/api/num_jobs"), 200, True),
    ("one empty line before the request line", b"\r\n" + get("/api/num_jobs"), 200, True),
    ("two empty lines", b"\r\n\r\n" + get("/api/num_jobs"), 400, False),
    ("absolute-form target", get("http://127.0.0.1/api/num_jobs"), 200, True),
    ("absolute-form with a query", get("http://x:5000/api/jobs?last=1"), 200, True),
    ("absolute-form without a path", get("http://x"), 200, True),
    ("Connection: close", get("/api/num_jobs", "Host: x\r\nConnection: close\r\n"), 200, False),
    ("HTTP/1.0 closes", get("/api/num_jobs", "", "HTTP/1.0"), 200, False),
    ("HTTP/1.0 keep-alive", get("/api/num_jobs", "Connection: keep-alive\r\n", "HTTP/1.0"),
     200, True),
    ("HTTP/1.1 without Host", get("/api/num_jobs", ""), 400, False),
    ("two Host fields", get("/api/num_jobs", "Host: a\r\nHost: b\r\n"), 400, False),
    ("HTTP/2.0", get("/api/num_jobs", version="HTTP/2.0"), 505, False),
    ("HTTP/1.1 with junk", get("/api/num_jobs", version="HTTP/1.1x"), 400, False),
    ("no version (HTTP/0.9)", b"GET /api/num_jobs\r\n\r\n", 400, False),
    ("two spaces in the request line", b"GET  /api/num_jobs HTTP/1.1\r\nHost: x\r\n\r\n", 400, False),
    ("a tab in the target", b"GET /api/num\tjobs HTTP/1.1\r\nHost: x\r\n\r\n", 400, False),
    ("bare LF line ends", b"GET /api/num_jobs HTTP/1.1\nHost: x\n\n" + FOLLOW_UP, 400, False),
    ("bare CR in a field", get("/api/num_jobs", "Host: x\r\nX-A: a\rb\r\n"), 400, False),
    ("NUL in a field", get("/api/num_jobs", "Host: x\r\nX-A: a\0b\r\n"), 400, False),
    ("control character in a value", get("/api/num_jobs", "Host: x\r\nX-A: a\x01\r\n"), 400, False),
    ("obs-fold", get("/api/num_jobs", "Host: x\r\nX-A: a\r\n  b\r\n"), 400, False),
    ("field without a colon", get("/api/num_jobs", "Host: x\r\nX-A\r\n"), 400, False),
    ("space before the colon", get("/api/num_jobs", "Host: x\r\nX-A : b\r\n"), 400, False),
    ("non-token field name", get("/api/num_jobs", "Host: x\r\nX(A): b\r\n"), 400, False),
    ("101 fields", get("/api/num_jobs", "Host: x\r\n" + "X-A: b\r\n" * 100), 431, False),
    ("100 fields", get("/api/num_jobs", "Host: x\r\n" + "X-A: b\r\n" * 99), 200, True),
    ("head over 16 KiB", get("/api/num_jobs", "Host: x\r\nX-A: " + "b" * 17000 + "\r\n"),
     431, False),
    ("request line over 8 KiB", get("/api/jobs?_=" + "b" * 8200), 414, False),
    ("unsupported method", b"BREW /api/num_jobs HTTP/1.1\r\nHost: x\r\n\r\n", 501, True),
    ("lower-case method", b"get /api/num_jobs HTTP/1.1\r\nHost: x\r\n\r\n", 501, True),
    ("pipelined requests", get("/api/num_jobs") + get("/api/num_jobs"), 200, True),
    # -- smuggling: each body holds a whole request that must never run --------------
    ("two different Content-Length", post(length(b"0") + length(b"%d" % len(SMUGGLED)),
                                          SMUGGLED), 400, False),
    ("two equal Content-Length", post(length(b"%d" % len(SMUGGLED)) * 2, SMUGGLED), 400, False),
    ("Content-Length list", post(length(b"0, %d" % len(SMUGGLED)), SMUGGLED), 400, False),
    ("Content-Length +N", post(length(b"+0"), SMUGGLED), 400, False),
    ("Content-Length with _", post(length(b"0_0"), SMUGGLED), 400, False),
    ("Content-Length with NBSP", post(length(b"\xa00"), SMUGGLED), 400, False),
    ("Content-Length in hex", post(length(b"0x0"), SMUGGLED), 400, False),
    ("negative Content-Length", post(length(b"-1"), SMUGGLED), 400, False),
    ("space before the colon of Content-Length",
     post(b"Content-Length : 0\r\n", SMUGGLED), 400, False),
    ("line without a colon before Content-Length",
     post(b"X-Junk\r\n" + length(b"0"), SMUGGLED), 400, False),
    ("Transfer-Encoding chunked", post(b"Transfer-Encoding: chunked\r\n",
                                       b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED)),
     411, False),
    ("Transfer-Encoding chunked and Content-Length",
     post(b"Transfer-Encoding: chunked\r\n" + length(b"%d" % len(SMUGGLED)), SMUGGLED), 400, False),
    ("Transfer-Encoding identity, then chunked, and Content-Length",
     post(b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n" + length(b"0"),
          SMUGGLED), 400, False),
    ("Transfer-Encoding gzip", post(b"Transfer-Encoding: gzip\r\n", SMUGGLED), 501, False),
    ("folded Transfer-Encoding", post(length(b"0") + b"X-A: a\r\n Transfer-Encoding: chunked\r\n",
                                      SMUGGLED), 400, False),
    ("body over 64 KiB", post(length(b"70000"), SMUGGLED), 413, False),
    ("body of 10^30 bytes", post(length(b"1" + b"0" * 30), SMUGGLED), 413, False),
    # The honest case, for comparison: a body read as a body.
    ("POST with a true Content-Length", post(length(b"%d" % len(GOOD_BODY)), GOOD_BODY), 200, True),
]


class FramingTest(ServedTestCase):
    server_args = ("--timeout", "2")
    separate_process = True  # the log file and the process are read

    def jobs(self) -> int:
        status, listing = self.client.get("/api/jobs")
        return len(listing["data"])

    def test_conformance_table(self):
        for name, raw, status, kept in CASES:
            with self.subTest(name):
                before = self.jobs()
                first, open_after = exchange(self.server.port, raw)
                self.assertIsNotNone(first, "closed without an answer")
                self.assertEqual(first[0], status, first[2][:300])
                self.assertEqual(open_after, kept)
                if status >= 400:
                    self.assertEqual(first[1]["content-type"], "application/json")
                    body = json.loads(first[2])
                    self.assertEqual(body["status"], "error")
                if not kept:
                    self.assertEqual(first[1].get("connection"), "close")
                expected_jobs = before + (1 if name == "POST with a true Content-Length" else 0)
                self.assertEqual(self.jobs(), expected_jobs, "a smuggled request ran")
        log = self.server.log_text()
        self.assertNotIn("Traceback", log)
        self.assertNotIn(" ERROR ", log)

    def test_reasons_speak_of_the_request_not_of_python(self):
        cases = [
            (post(length(b"+5"), b"{}   "), "Content-Length"),
            (post(length(b"9" * 5000), b""), "over the limit"),
            (post(length(b"5002"), b"[" + b"1" * 5000 + b"]"), "too many digits"),
            (post(length(b"4"), b"\xff\xfe{}"), "not UTF-8"),
            (post(length(b"5"), b'{"a":'), "line 1 column 6"),
            (post(b"Content-Length : 5\r\n", b"{}   "), "whitespace before the colon"),
            (get("/api/jobs", "Host: x\r\nX-A\r\n"), "has no colon"),
            (get("/api/num_jobs", ""), "without a Host"),
        ]
        for raw, words in cases:
            with self.subTest(raw=raw[:60]):
                first, _ = exchange(self.server.port, raw, follow_up=False)
                reason = json.loads(first[2])["reason"]
                self.assertIn(words, reason)
                for internal in ("sys.", "codec", "Traceback", "int()", "Errno", "object at 0x"):
                    self.assertNotIn(internal, reason)

    def test_unfinished_requests_never_run(self):
        """A request line without its end, then a half-close: no answer, no shutdown."""
        for raw in (b"GET /api/graceful_shutdown HTTP/1.1",
                    b"GET /api/graceful_shutdown HTTP/1.1\r\nHost: x\r\n",
                    b"POST /api/global_mean HTTP/1.1\r\nHost: x\r\n" + length(b"%d" % len(GOOD_BODY))
                    + b"\r\n" + GOOD_BODY[:-1]):
            with self.subTest(raw=raw[:60]):
                before = self.jobs()
                first, _ = exchange(self.server.port, raw, shut_write=True)
                if first is not None:  # a body cut short is a 400; a head never answered
                    self.assertEqual(first[0], 400)
                    self.assertTrue(raw.startswith(b"POST"))
                self.assertEqual(self.client.get("/api/num_jobs")[0], 200)
                self.assertEqual(self.jobs(), before)
        self.assertIsNone(self.server.process.poll())



class FieldLineGrammarTest(unittest.TestCase):
    """The head parser's field lines against the grammar of RFC 9112 5, written out by hand.

    field-line = field-name ":" OWS field-value OWS, with field-name a token
    and field-value visible characters, obs-text, spaces and tabs, none of
    them at either end.  60,000 random lines over the characters that
    matter (token characters, the colon, blanks, controls, DEL, high bytes)
    must be accepted or refused alike, with the same name and value.
    """

    TOKEN = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

    def oracle(self, line: bytes) -> Optional[Tuple[str, str]]:
        name, colon, rest = line.partition(b":")
        if not colon or not name or any(byte not in self.TOKEN for byte in name):
            return None
        value = rest.strip(b" \t")
        if any((byte < 0x20 and byte != 0x09) or byte == 0x7F for byte in value):
            return None
        return name.decode("ascii").lower(), value.decode("latin-1")

    def parsed(self, line: bytes) -> Optional[Tuple[str, str]]:
        try:
            head = parse_head(b"GET / HTTP/1.0\r\n" + line)
        except BadRequest:
            return None
        ((name, value),) = head.headers.items()
        return name, value

    def test_random_lines_parse_as_the_grammar_says(self):
        draw = random.Random(9112)
        pieces = [b"a", b"Z", b"-", b"!", b"~", b":", b" ", b"\t", b"\x00", b"\x7f", b"\x80",
                  b"\xff", b"\r", b"\x1f", b"\x08", b"\x0b", b"1", b"/", b'"', b"(", b"="]
        for _ in range(60_000):
            line = b"".join(draw.choice(pieces) for _ in range(draw.randrange(0, 14)))
            if draw.random() < 0.5:
                line = b"Name" + line
            if b"\r" in line:
                continue  # a CR is a line end, refused before the field grammar
            expected = self.oracle(line)
            if expected != self.parsed(line):
                self.fail(f"{line!r}: the grammar says {expected!r}, the parser "
                          f"{self.parsed(line)!r}")

    def test_long_values_keep_inner_blanks_and_lose_outer_ones(self):
        value = "x" + " \t" * 2000 + "y"
        self.assertEqual(self.parsed(b"Agent: \t " + value.encode() + b" \t\t"), ("agent", value))
        self.assertEqual(self.parsed(b"Empty: \t "), ("empty", ""))


if __name__ == "__main__":
    unittest.main()
