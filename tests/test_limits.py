"""Limits that answer at once: open connections, handler threads; and the hooks for metrics.

Why: a server at its limit must say so (503 with Retry-After) to the client
it cannot serve, right away, and serve again as soon as it can; the old one
made each refused client wait a second on the accepting thread, one after
the other.  The pool case needs handler threads held on purpose, which only
an in-process server allows (its job manager's ``pending`` is made to block).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import unittest
from typing import List, Tuple
from unittest import mock

from inprocess import InProcessServer
from support import ServedTestCase, Threads, wait_for
from test_framing import read_response

REQUEST = b"GET /api/num_jobs HTTP/1.1\r\nHost: x\r\n\r\n"


def ask(port: int, data: bytes = REQUEST):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        return read_response(sock, bytearray())


class MaxConnectionsTest(ServedTestCase):
    LIMIT = 20
    server_args = ("--max-connections", str(LIMIT), "--timeout", "30")
    separate_process = True  # the log file is read

    def test_past_the_limit_a_new_client_gets_503_and_service_resumes(self):
        held = []
        for _ in range(self.LIMIT):
            sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
            self.addCleanup(sock.close)
            held.append(sock)
        held[0].sendall(REQUEST)  # the held ones are served, and stay open
        self.assertEqual(read_response(held[0], bytearray())[0], 200)
        status, headers, body = ask(self.server.port)
        self.assertEqual(status, 503)
        self.assertEqual(headers["retry-after"], "1")
        self.assertEqual(headers["connection"], "close")
        self.assertIn("too many open connections", json.loads(body)["reason"])
        for sock in held[:5]:
            sock.close()
        self.assertTrue(wait_for(lambda: (ask(self.server.port) or (0,))[0] == 200))
        self.assertTrue(wait_for(lambda: f"refused: {self.LIMIT} connections already open"
                                 in self.server.log_text()))


class SaturatedPoolTest(unittest.TestCase):
    def test_a_request_that_finds_no_free_thread_gets_503_not_a_wait(self):
        release = threading.Event()
        with InProcessServer(handler_threads=2) as server:
            real_pending = server.jobs.pending
            entered: List[int] = []

            def slow_pending() -> int:
                entered.append(1)
                release.wait(20)
                return real_pending()

            answers: List[object] = []
            with mock.patch.object(server.jobs, "pending", slow_pending):
                holders = [threading.Thread(target=lambda: answers.append(ask(server.port)))
                           for _ in range(2)]
                for thread in holders:
                    thread.start()
                try:
                    self.assertTrue(wait_for(lambda: len(entered) == 2))  # both threads held
                    status, headers, body = ask(server.port, b"GET /api/jobs HTTP/1.1\r\nHost: x\r\n\r\n")
                    self.assertEqual(status, 503)
                    self.assertEqual(headers["retry-after"], "1")
                    self.assertIn("no handler thread free", json.loads(body)["reason"])
                finally:
                    release.set()
                    for thread in holders:
                        thread.join(20)
            self.assertEqual([answer[0] for answer in answers], [200, 200])
            self.assertEqual(ask(server.port)[0], 200)


class MoreClientsThanThreadsTest(unittest.TestCase):
    def test_busy_keep_alive_clients_take_turns_and_none_is_refused(self):
        """8 back-to-back keep-alive clients, 2 handler threads: 503 only for real waits."""
        statuses: List[int] = []
        with InProcessServer(handler_threads=2) as server:
            def run(_: int) -> None:
                client = server.client()
                try:
                    for _ in range(40):
                        statuses.append(client.get("/api/num_jobs")[0])
                finally:
                    client.close()

            with Threads(8, run, timeout=60):
                pass
        self.assertEqual(statuses, [200] * 320)


class KeptConnectionsTest(unittest.TestCase):
    """A thread keeping a quiet connection is called away for a client that has a request."""

    def test_every_thread_keeping_a_quiet_client_does_not_refuse_a_new_one(self):
        with InProcessServer(handler_threads=2) as server:
            quiet = []
            for _ in range(2):  # each thread answers one, then keeps its connection
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
                self.addCleanup(sock.close)
                sock.sendall(REQUEST)
                self.assertEqual(read_response(sock, bytearray())[0], 200)
                quiet.append(sock)
            for _ in range(5):  # each time both threads are keeping (a new keep after each answer)
                for sock in quiet:
                    sock.sendall(REQUEST)
                    self.assertEqual(read_response(sock, bytearray())[0], 200)
                status, _, body = ask(server.port)
                self.assertEqual(status, 200, body)
                self.assertEqual(json.loads(body), {"num_jobs": 0})

    def test_a_request_sent_in_pieces_to_a_keeping_thread_is_whole(self):
        with InProcessServer(handler_threads=1) as server:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                sock.sendall(REQUEST)
                self.assertEqual(read_response(sock, bytearray())[0], 200)
                for piece in (REQUEST[:7], REQUEST[7:20], REQUEST[20:]):
                    sock.sendall(piece)  # the first piece ends the keep's blocking recv
                    time.sleep(0.05)
                self.assertEqual(read_response(sock, bytearray())[0], 200)


class MetricsHooksTest(unittest.TestCase):
    def test_observer_sees_each_answer_and_the_gauge_counts_connections(self):
        seen: List[Tuple[str, int, float]] = []
        with InProcessServer() as server:
            server.server.observer = lambda route, status, seconds: seen.append((route, status, seconds))
            ask(server.port)
            ask(server.port, b"GET /api/nope HTTP/1.1\r\nHost: x\r\n\r\n")
            ask(server.port, b"GET /api/num_jobs HTTP/1.1\r\n\r\n")  # no Host
            ask(server.port, b"POST /api/best5 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            self.assertTrue(wait_for(lambda: len(seen) == 4))
            self.assertEqual([(route, status) for route, status, _ in seen],
                             [("num_jobs", 200), ("unknown", 404), ("invalid", 400), ("best5", 400)])
            self.assertTrue(all(seconds >= 0 for _, _, seconds in seen))
            self.assertTrue(wait_for(lambda: server.server.open_connections() == 0))
            sockets = [socket.create_connection(("127.0.0.1", server.port), timeout=10)
                       for _ in range(3)]
            try:
                self.assertTrue(wait_for(lambda: server.server.open_connections() == 3))
            finally:
                for sock in sockets:
                    sock.close()
            self.assertTrue(wait_for(lambda: server.server.open_connections() == 0))


if __name__ == "__main__":
    unittest.main()
