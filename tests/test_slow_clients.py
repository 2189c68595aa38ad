"""Slow and oversized clients cost a socket and a small buffer, never a thread.

Why: with a thread per connection, a few hundred sockets that send a byte
now and then (slowloris), or a body that never ends, leave every other client
unserved, and 50 endless heads took the old server to 860 MB.  Here hundreds
of such sockets hold the real server (over raw sockets, for a few seconds)
while an ordinary client keeps polling, and memory is read from /proc.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import unittest
from typing import List

from support import PROJECT, ServedTestCase, Threads, proc_status_mb
from test_framing import read_response

SLOW_HEADS = 300
SLOW_BODIES = 100
PROBES = 15


class SlowClientsTest(ServedTestCase):
    server_args = ("--timeout", "20")
    separate_process = True  # the log file and the process are read

    def open_sockets(self, count: int, first: bytes) -> List[socket.socket]:
        sockets = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
            self.addCleanup(sock.close)
            sock.sendall(first)
            sockets.append(sock)
        return sockets

    def test_ordinary_client_is_served_beside_hundreds_of_trickling_sockets(self):
        heads = self.open_sockets(SLOW_HEADS, b"GET /api/num_jobs HTTP/1.1\r\n")
        bodies = self.open_sockets(SLOW_BODIES, b"POST /api/global_mean HTTP/1.1\r\nHost: x\r\n"
                                                b"Content-Length: 60000\r\n\r\n{")
        dripping = threading.Event()
        dripping.set()

        def drip() -> None:  # a byte to each every 0.2 s: none is ever silent
            while dripping.is_set():
                for sock in heads:
                    sock.send(b"X")
                for sock in bodies:
                    sock.send(b" ")
                time.sleep(0.2)

        dripper = threading.Thread(target=drip)
        dripper.start()
        try:
            statuses = []
            for _ in range(PROBES):  # spread over some rounds of the drip
                time.sleep(0.05)
                with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as probe:
                    probe.sendall(b"GET /api/num_jobs HTTP/1.1\r\nHost: x\r\n\r\n")
                    answer = read_response(probe, bytearray())
                statuses.append(answer[0] if answer else None)
            self.assertEqual(statuses, [200] * PROBES)
        finally:
            dripping.clear()
            dripper.join()
        # None of the slow ones was answered or ran: their requests are not whole.
        status, jobs = self.client.get("/api/jobs")
        self.assertEqual(jobs["data"], [])
        self.assertNotIn("Traceback", self.server.log_text())

    def test_oversized_heads_are_refused_and_memory_stays_small(self):
        """50 connections sending 98 header lines of 65 KB each, never finished."""
        line = b"X-Big: " + b"y" * 65000 + b"\r\n"
        statuses: List[object] = [None] * 50
        process = self.server.process
        assert process is not None  # started by setUpClass
        peak = [proc_status_mb(process.pid, "VmRSS")]

        def flood(index: int) -> None:
            with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as sock:
                sock.sendall(b"GET /api/num_jobs HTTP/1.1\r\nHost: x\r\n" + line)
                answer = read_response(sock, bytearray())
                statuses[index] = answer[0] if answer else None
                try:
                    for _ in range(97):  # the server discards the rest, then closes
                        sock.sendall(line)
                except OSError:
                    pass

        def watch() -> None:
            while any(thread.is_alive() for thread in flooders.threads):
                peak.append(proc_status_mb(process.pid, "VmRSS"))
                time.sleep(0.05)

        with Threads(50, flood, timeout=30) as flooders:
            watcher = threading.Thread(target=watch)
            watcher.start()
        watcher.join()
        self.assertEqual(statuses, [431] * 50)
        self.assertLess(max(peak), 150, f"RSS peaked at {max(peak):.0f} MB")
        self.assertEqual(self.client.get("/api/num_jobs")[0], 200)



class SlowReaderTest(ServedTestCase):
    """An answer larger than the socket takes at once goes out whole to a client that reads slowly."""

    def test_pipelined_answers_reach_a_slow_reader_whole(self):
        with open(os.path.join(PROJECT, "statsd", "static", "dashboard.js"), "rb") as handle:
            expected = handle.read()
        count = 200  # 200 x 36 KB: more than the sockets take (tcp_wmem allows 4 MB)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        self.addCleanup(sock.close)
        sock.connect(("127.0.0.1", self.server.port))
        sock.sendall(b"GET /static/dashboard.js HTTP/1.1\r\nHost: statsd\r\n\r\n" * count)
        time.sleep(0.5)  # the server's sends fill both buffers and wait for the client
        buffer = bytearray()
        for number in range(count):
            response = read_response(sock, buffer)
            self.assertIsNotNone(response, f"answer {number + 1} of {count}")
            status, _, body = response
            self.assertEqual(status, 200)
            self.assertEqual(body, expected, f"answer {number + 1} of {count}")
            time.sleep(0.005)
        status, _ = self.client.get("/api/num_jobs")  # and the server serves on
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main()
