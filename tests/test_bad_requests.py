"""Hostile and broken requests: bodies, paths, connections, against the real server.

Why: a client of a JSON API must always get a JSON answer with the right
status, never a traceback or a dropped connection, and a bad request must
never become a job.  Each case here goes over a real socket to
``python3 -m statsd`` (a short ``--timeout`` keeps the slow cases quick);
each error is looked for in webserver.log, where it must appear exactly once.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import socket
import struct
import sys
import threading
import time
import unittest
from typing import Optional

from inprocess import InProcessServer
from support import (OBESITY, ServedTestCase, ServerProcess, conformance_cases,
                     finish_background_stops, raw_exchange, wait_for)

#: A global_mean case with its independently computed answer.
GLOBAL_MEAN = next((body, expected) for endpoint, _, body, expected in conformance_cases()
                   if endpoint == "global_mean")

#: Job ids that must all be "no such job", never a file.
HOSTILE_JOB_IDS = [
    "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%2Fjob_id_7", "../job_id_7", "/etc/passwd", "job_id_1/../../job_id_7",
    "job_id_0", "job_id_-1", "job_id_999999999999", "job_id_01", "job_id_1.json",
    "job_id_1%00", "job_id_" + "9" * 100, "JOB_ID_1", "job_id_1%2F..%2F..%2Fjob_id_7",
]

_case_numbers = itertools.count(1)

#: A log line a client might try to slip into webserver.log through its body.
FORGED = b"2026-01-01T00:00:00.000Z ERROR statsd: forged line"


def marked(path: str) -> str:
    """``path`` with a unique query string, so that its log line can be found."""
    return f"{path}?_case={next(_case_numbers):04d}"


class ErrorAnswers(unittest.TestCase):
    """Assertions shared by the test classes: the error shape, and one log line each."""

    server: ServerProcess

    def assert_error(self, answer, status: int, reason: Optional[str] = None, closed: Optional[bool] = None):
        self.assertIsNotNone(answer, "connection closed without an answer")
        got_status, headers, body, got_closed = answer
        self.assertEqual(got_status, status, body)
        self.assertEqual(headers.get("Content-Type"), "application/json")
        self.assertEqual(set(body), {"status", "reason"}, body)
        self.assertEqual(body["status"], "error")
        self.assertNotIn("Traceback", body["reason"])
        if reason is not None:
            self.assertIn(reason, body["reason"])
        if closed is not None:
            self.assertEqual(got_closed, closed)
        return body

    def assert_logged_once(self, markers) -> None:
        """Each marker is on exactly one line of webserver.log (it is written by a thread)."""
        markers = list(markers)

        def counts() -> dict:
            lines = self.server.log_text().splitlines()
            return {marker: sum(1 for line in lines if marker in line) for marker in markers}

        wait_for(lambda: all(counts().values()), interval=0.05)
        log = self.server.log_text()
        self.assertEqual({m: c for m, c in counts().items() if c != 1}, {}, log)
        self.assertNotIn("Traceback", log)


def post(path: str, body: bytes, headers: str = "Content-Type: application/json\r\n",
         length: Optional[int] = None) -> bytes:
    """A raw POST with ``Content-Length`` = ``length`` (default: the true length)."""
    size = len(body) if length is None else length
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {size}\r\n\r\n"
            .encode("latin-1") + body)


class BadBodiesTest(ErrorAnswers, ServedTestCase):
    server_args = ("--timeout", "1", "--threads", "2")
    separate_process = True  # the log file is read

    def exchange(self, data: bytes, **options):
        return raw_exchange(self.server.port, data, **options)

    def job_count(self) -> int:
        status, listing = self.client.get("/api/jobs")
        return len(listing["data"])

    def test_bad_bodies_are_400_and_no_job(self):
        state_mean = "/api/state_mean"
        cases = [
            ("/api/best5", b"", "empty request body"),
            ("/api/best5", b"   \n", "empty request body"),
            ("/api/best5", b"{", "not valid JSON"),
            ("/api/best5", b'{"question": "x",}', "not valid JSON"),
            ("/api/best5", b"\xff\xfe{}", "not valid JSON"),
            ("/api/best5", b"[" * 60000, "not valid JSON"),
            ("/api/best5", b'{"question": "x"}\n' + FORGED, "not valid JSON"),
            ("/api/best5", b"[1, 2]", "must be a JSON object"),
            ("/api/best5", b'"text"', "must be a JSON object"),
            ("/api/best5", b"null", "must be a JSON object"),
            ("/api/best5", b"42", "must be a JSON object"),
            ("/api/best5", b"{}", "missing field 'question'"),
            ("/api/best5", b'{"question": null}', "missing field 'question'"),
            ("/api/best5", b'{"question": 5}', "must be a string, not int"),
            ("/api/best5", b'{"question": ["%s"]}' % OBESITY.encode(), "must be a string, not list"),
            ("/api/best5", b'{"question": {"text": "x"}}', "must be a string, not dict"),
            ("/api/best5", b'{"question": "Nope"}', "unknown question 'Nope'"),
            ("/api/best5", '{"question": "Ob\u00e9sit\u00e9 \u2753"}'.encode(),
             "unknown question 'Ob\u00e9sit\u00e9 \u2753'"),
            ("/api/best5", b'{"question": "Ob\\u00e9sit\\u00e9"}', "unknown question 'Ob\u00e9sit\u00e9'"),
            (state_mean, b'{"question": "%s"}' % OBESITY.encode(), "missing field 'state'"),
            (state_mean, b'{"question": "%s", "state": null}' % OBESITY.encode(), "missing field 'state'"),
            (state_mean, b'{"question": "%s", "state": 7}' % OBESITY.encode(), "must be a string, not int"),
            (state_mean, b'{"question": "%s", "state": ["Ohio"]}' % OBESITY.encode(),
             "must be a string, not list"),
            (state_mean, b'{"question": "%s", "state": "Atlantis"}' % OBESITY.encode(),
             "unknown state 'Atlantis'"),
            (state_mean, '{"question": "%s", "state": "M\u00e9xico"}'.encode() % OBESITY.encode(),
             "unknown state 'M\u00e9xico'"),
        ]
        before = self.job_count()
        markers = []
        for path, body, reason in cases:
            with self.subTest(body=body[:60]):
                target = marked(path)
                markers.append(target.partition("?")[2])
                self.assert_error(self.exchange(post(target, body)), 400, reason)
        self.assertEqual(self.job_count(), before)
        self.assert_logged_once(markers)
        self.assertNotIn("\n" + FORGED.decode(), self.server.log_text())

    def test_extra_fields_and_content_types_are_accepted(self):
        body, expected = GLOBAL_MEAN
        client = self.server.client()
        self.addCleanup(client.close)
        variants = [
            ({**body, "extra": 1, "state": "Ohio", "nested": {"a": [1, None]}}, {}),
            (body, {"Content-Type": "text/plain"}),
            (body, {"Content-Type": "application/x-www-form-urlencoded"}),
            (body, {"Content-Type": ""}),
        ]
        for request, headers in variants:
            with self.subTest(request=request, headers=headers):
                status, _, answer = client.request("POST", "/api/global_mean", request, headers=headers)
                self.assertEqual(status, 200, answer)
                result = client.wait_result(answer["job_id"])
                self.assertEqual(result, {"status": "done", "data": expected})
        # And with no Content-Type header at all.
        raw = post("/api/global_mean", json.dumps(body).encode(), headers="")
        status, _, answer, _ = self.exchange(raw)
        self.assertEqual(status, 200, answer)
        self.assertEqual(client.wait_result(answer["job_id"]), {"status": "done", "data": expected})

    def test_bad_lengths(self):
        body = json.dumps(GLOBAL_MEAN[0]).encode()
        before = self.job_count()
        markers = []

        def case(path: str) -> str:
            target = marked(path)
            markers.append(target.partition("?")[2])
            return target

        # Over the limit: 413 from the header alone, and the connection is closed.
        huge = f"POST {case('/api/best5')} HTTP/1.1\r\nHost: x\r\nContent-Length: {10 ** 9}\r\n\r\n".encode()
        self.assert_error(self.exchange(huge), 413, "over the limit", closed=True)
        self.assert_error(self.exchange(post(case("/api/best5"), b"x", length=10 ** 30)),
                          413, "over the limit", closed=True)
        for value in ("abc", "-5", "1.5", ""):
            with self.subTest(content_length=value):
                raw = (f"POST {case('/api/best5')} HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\n"
                       .encode() + body)
                self.assert_error(self.exchange(raw), 400, "invalid Content-Length", closed=True)
        no_length = f"POST {case('/api/best5')} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n"
        self.assert_error(self.exchange(no_length.encode()), 400, "no Content-Length")
        chunked = (f"POST {case('/api/best5')} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   f"{len(body):x}\r\n").encode() + body + b"\r\n0\r\n\r\n"
        self.assert_error(self.exchange(chunked), 411, "chunked", closed=True)
        # A length that lies: the body ends (the client shut its side) ...
        self.assert_error(self.exchange(post(case("/api/best5"), body, length=len(body) + 10),
                                        shut_write=True),
                          400, "shorter than its Content-Length", closed=True)
        # ... or never comes: 408 after --timeout, and the connection is closed.
        self.assert_error(self.exchange(post(case("/api/best5"), body[:5], length=len(body))),
                          408, "timed out", closed=True)
        self.assertEqual(self.job_count(), before)
        self.assert_logged_once(markers)

    def test_huge_body_sent_by_a_plain_client_gets_its_answer(self):
        """http.client sends the whole body before reading: it must still see the error."""
        body = b'{"question": "' + b"x" * (16 * 1024 * 1024) + b'"}'
        for path, status in (("/api/best5", 413), ("/api/jobs", 405), ("/api/nope", 404)):
            with self.subTest(path=path):
                connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
                self.addCleanup(connection.close)
                connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                self.assertEqual(response.status, status)
                self.assertEqual(json.loads(response.read())["status"], "error")

    def test_paths_and_methods(self):
        markers = []
        cases = [
            ("GET", "/no/such/page", 404, "no such endpoint", None),
            ("GET", "/api", 404, "no such endpoint", None),
            ("GET", "/api/", 404, "no such endpoint", None),
            ("POST", "/api/nope", 404, "no such endpoint", None),
            ("POST", "/api/best5/extra", 404, "no such endpoint", None),
            ("GET", "/api/best5", 405, "not allowed", "POST, OPTIONS"),
            ("PUT", "/api/global_mean", 405, "not allowed", "POST, OPTIONS"),
            ("POST", "/api/jobs", 405, "not allowed", "GET, HEAD, OPTIONS"),
            ("DELETE", "/api/num_jobs", 405, "not allowed", "GET, HEAD, OPTIONS"),
            ("POST", "/api/get_results/job_id_1", 405, "not allowed", "GET, HEAD, OPTIONS"),
            ("PUT", "/api/graceful_shutdown", 405, "not allowed", "GET, POST, OPTIONS"),
            ("BREW", "/api/jobs", 501, "method BREW is not supported", None),
        ]
        for method, path, status, reason, allow in cases:
            with self.subTest(method=method, path=path):
                target = marked(path)
                markers.append(target.partition("?")[2])
                raw = f"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
                answer = self.exchange(raw)
                self.assert_error(answer, status, reason)
                self.assertEqual(answer[1].get("Allow"), allow)
        protocol = [
            (b"garbage\r\n\r\n", 400),
            (b"GET /api/jobs?_case=x HTTP/9.9\r\n\r\n", 505),
            (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
            (b"GET /api/jobs HTTP/1.1\r\n" + b"X-Many: y\r\n" * 150 + b"\r\n", 431),
            (b"GET /api/jobs HTTP/1.1\r\nX-Long: " + b"y" * 70000 + b"\r\n\r\n", 431),
        ]
        for raw, status in protocol:
            with self.subTest(raw=raw[:40]):
                self.assert_error(self.exchange(raw), status, closed=True)
        self.assert_logged_once(markers)

    def test_hostile_job_ids_are_unknown_jobs(self):
        # Files that a path trick would reach, outside results/.
        for name in ("job_id_7", "job_id_7.json", "passwd", "secret.json"):
            with open(os.path.join(self.server.directory, name), "w") as handle:
                handle.write('{"honey": true}')
        client = self.server.client()
        self.addCleanup(client.close)
        for job_id in HOSTILE_JOB_IDS:
            with self.subTest(job_id=job_id):
                status, headers, body = client.request("GET", f"/api/get_results/{job_id}")
                self.assertEqual((status, body), (404, {"status": "error", "reason": "Invalid job_id"}))
        self.assert_logged_once(f"/api/get_results/{job_id}\" 404" for job_id in HOSTILE_JOB_IDS)


#: Dashboard file names that must all be "no such file", never a file elsewhere.
HOSTILE_STATIC_NAMES = ["../__main__.py", "..%2F__init__.py", "docs/../../jobs.py",
                        "/etc/passwd", "%2Fetc%2Fpasswd", "..", "."]


class NoFileOutsideResultsTest(unittest.TestCase):
    """An audit hook sees every file the server opens while it answers hostile ids and names."""

    def test_only_results_files_are_opened(self):
        finish_background_stops()  # no other server's directory is being removed meanwhile
        opened = []
        recording = threading.Event()

        def hook(event, args):
            if event == "open" and recording.is_set():
                opened.append(args[0])

        sys.addaudithook(hook)  # cannot be removed; it records only while the event is set
        # Keep no result in memory, so that get_results of job_id_1 opens its file.
        with InProcessServer(recent_results=0) as server:
            client = server.client()
            self.addCleanup(client.close)
            body, expected = GLOBAL_MEAN
            self.assertEqual(client.run("global_mean", body), expected)  # job_id_1
            recording.set()
            try:
                for job_id in HOSTILE_JOB_IDS + ["job_id_1"]:
                    client.get(f"/api/get_results/{job_id}")
                for name in HOSTILE_STATIC_NAMES:
                    status, answer = client.get(f"/static/{name}")
                    self.assertEqual((status, answer["status"]), (404, "error"), name)
            finally:
                recording.clear()
            results = os.path.realpath(server.store.directory)
        # The store opens its files by name relative to the directory's
        # descriptor (dir_fd): a bare name, never a path, is inside it.
        names = [os.fsdecode(path) for path in opened if not isinstance(path, int)]
        for name in names:
            self.assertTrue(os.path.isabs(name) or (os.sep not in name and name not in ("..", ".")), name)
        paths = [os.path.realpath(os.path.join(results, name)) for name in names]
        self.assertIn(os.path.join(results, "job_id_1.json"), paths)  # the hook does see opens
        self.assertEqual([path for path in paths if not path.startswith(results + os.sep)], [])


class ConnectionsTest(ErrorAnswers, ServedTestCase):
    """Silent, half-sent and idle connections are dropped after --timeout; others are served."""

    SLOTS = 6
    server_args = ("--timeout", "0.5", "--threads", "1", "--max-connections", str(SLOTS))
    separate_process = True  # the log file is read

    def setUp(self) -> None:
        # The tests share one server, and the connections of the test before
        # (lingering after a 408, or closed by their client in its cleanup)
        # count against --max-connections until the server has seen them go.
        # Start each test with every slot free but the probe's own.
        super().setUp()
        self.assertTrue(wait_for(lambda: self.open_connections() == 1, interval=0.05),
                        "the connections of the test before were not let go")

    def open_connections(self) -> Optional[int]:
        """The server's gauge of open connections, read on a connection of its own (so >= 1)."""
        answer = raw_exchange(self.server.port, b"GET /api/metrics HTTP/1.1\r\nHost: x\r\n"
                                                b"Connection: close\r\n\r\n")
        if answer is None or answer[0] != 200:  # refused: every slot is taken
            return None
        for line in answer[2].decode().splitlines():
            if line.startswith("statsd_http_connections_open "):
                return int(float(line.split()[1]))
        raise AssertionError("no statsd_http_connections_open in /api/metrics")

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        self.addCleanup(sock.close)
        return sock

    def assert_dropped(self, sock: socket.socket) -> None:
        """The server closes the connection (well within our 10 s) without an answer."""
        try:
            self.assertEqual(sock.recv(4096), b"")
        except ConnectionResetError:
            pass

    def served(self) -> bool:
        """An ordinary request is answered 200.  It asks the server to close, so that its
        connection is released at once and a probe never counts against the next one."""
        answer = raw_exchange(self.server.port,
                              b"GET /api/num_jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return answer is not None and answer[0] == 200

    def test_silent_and_half_sent_requests_are_dropped(self):
        silent = self.connect()
        half_line = self.connect()
        half_line.sendall(b"GET /api/num_jo")
        half_headers = self.connect()
        half_headers.sendall(b"GET /api/num_jobs HTTP/1.1\r\nHost: x\r\n")
        for sock in (silent, half_line, half_headers):
            self.assert_dropped(sock)
        self.assertTrue(self.served())
        # A silent client is an ordinary end of a connection; a half request is a warning.
        self.assertTrue(wait_for(
            lambda: self.server.log_text().count("request head not complete in 0.5 s") >= 2,
            interval=0.05), self.server.log_text())
        self.assertIn("INFO statsd.http: 127.0.0.1 connection closed: no request in 0.5 s",
                      self.server.log_text())

    def test_clients_that_reset_cost_one_line_and_no_traceback(self):
        requests = (b"", b"GET /api/num_jo", b"GET /api/num_jobs HTTP/1.1\r\nHost: x\r\n\r\n",
                    post("/api/best5", b'{"question"', length=100))
        for data in requests:
            sock = self.connect()
            sock.sendall(data)
            time.sleep(0.1)  # let the server start reading (any order must be fine)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # with SO_LINGER 0: a reset, not a FIN
        self.assertTrue(self.served())
        log = self.server.log_text()
        self.assertNotIn("Traceback", log)
        self.assertNotIn(" 500 ", log)
        self.assertNotIn(" ERROR ", log)

    def test_idle_connections_do_not_stop_others(self):
        idle = [self.connect() for _ in range(self.SLOTS - 2)]
        for _ in range(3):
            self.assertTrue(self.served())
        for sock in idle:  # --timeout drops them
            self.assert_dropped(sock)

    def test_full_house_gets_503_then_service_resumes(self):
        """Every slot held by a slow sender: a new client gets a JSON 503, not a hang."""
        body = json.dumps(GLOBAL_MEAN[0]).encode()
        slow = [self.connect() for _ in range(self.SLOTS)]
        dripping = threading.Event()
        dripping.set()

        def drip() -> None:  # a byte of padding every 0.1 s: never silent for --timeout
            while dripping.is_set():
                for sock in slow:
                    try:
                        sock.sendall(b" ")
                    except OSError:
                        pass
                time.sleep(0.1)

        for sock in slow:
            sock.sendall(post("/api/global_mean", b"", length=len(body) + 1000))
        dripper = threading.Thread(target=drip)
        dripper.start()
        try:
            answers = []

            def refused() -> bool:  # the slow senders are accepted one by one
                answers.append(raw_exchange(self.server.port, b"GET /api/num_jobs HTTP/1.1\r\nHost: x\r\n\r\n"))
                return answers[-1] is not None and answers[-1][0] == 503

            self.assertTrue(wait_for(refused, interval=0), "never refused")
            answer = answers[-1]
            self.assert_error(answer, 503, "too many open connections", closed=True)
            self.assertEqual(answer[1].get("Retry-After"), "1")
        finally:
            dripping.clear()
            dripper.join()
        for sock in slow:
            sock.close()
        self.assertTrue(wait_for(self.served, interval=0.1), "not served after the slow senders left")

    def test_lying_lengths_do_not_pin_the_connection_threads(self):
        body = json.dumps(GLOBAL_MEAN[0]).encode()
        liars = [self.connect() for _ in range(self.SLOTS)]
        for sock in liars:  # every connection thread waits for 10 bytes that never come
            sock.sendall(post("/api/global_mean", body, length=len(body) + 10))
        for sock in liars:
            answer = sock.recv(65536)
            self.assertTrue(answer.startswith(b"HTTP/1.1 408 "), answer)
            self.assertIn(b'"status": "error"', answer)
        self.assertTrue(wait_for(self.served, interval=0.1), "the threads were not freed")


if __name__ == "__main__":
    unittest.main()
