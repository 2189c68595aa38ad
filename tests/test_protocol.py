"""HTTP protocol details a real client meets: HEAD, OPTIONS and CORS, HTTP/1.0
keep-alive, ``Expect: 100-continue``, and one query-parameter policy.

Why: link checkers and monitors send HEAD, browsers send preflights, ``ab``
speaks HTTP/1.0 keep-alive, curl sends ``Expect`` for larger bodies; each
must get what RFC 9110/9112 promise, over a real socket, and none of them
may change the server's state (``HEAD /api/graceful_shutdown`` stops nothing).
"""

from __future__ import annotations

import http.client
import json
import socket
import unittest
from urllib.parse import quote

from support import OBESITY, ServedTestCase
from test_framing import FOLLOW_UP, read_response

from statsd import api
from statsd.api import ROUTES

BODY = json.dumps({"question": OBESITY}).encode()


class ProtocolTest(ServedTestCase):
    separate_process = True  # the log file and the process are read
    def connection(self) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        self.addCleanup(connection.close)
        return connection

    def test_head_answers_the_get_head_without_a_body(self):
        connection = self.connection()
        connection.request("GET", "/api/num_jobs")
        got = connection.getresponse()
        body = got.read()
        connection.request("HEAD", "/api/num_jobs")
        head = connection.getresponse()
        self.assertEqual(head.status, 200)
        self.assertEqual(head.read(), b"")
        self.assertEqual(head.getheader("Content-Length"), str(len(body)))
        self.assertEqual(head.getheader("Content-Type"), "application/json")
        # The connection is still in step: no stray body came after the head.
        connection.request("GET", "/api/num_jobs")
        self.assertEqual(json.loads(connection.getresponse().read()), json.loads(body))

    def test_head_never_stops_the_server_nor_submits(self):
        for path, allow in (("/api/graceful_shutdown", "GET, POST, OPTIONS"),
                            ("/api/best5", "POST, OPTIONS")):
            with self.subTest(path=path):
                connection = self.connection()
                connection.request("HEAD", path)
                answer = connection.getresponse()
                answer.read()
                self.assertEqual(answer.status, 405)
                self.assertEqual(answer.getheader("Allow"), allow)
        self.assertEqual(self.client.get("/api/num_jobs")[0], 200)
        self.assertIsNone(self.server.process.poll())
        self.assertNotIn("shutdown requested", self.server.log_text())

    def test_options_lists_the_methods_of_the_route(self):
        for path, allow in (("/api/best5", "POST, OPTIONS"), ("/api/jobs", "GET, HEAD, OPTIONS"),
                            ("/api/get_results/job_id_1", "GET, HEAD, OPTIONS")):
            with self.subTest(path=path):
                connection = self.connection()
                connection.request("OPTIONS", path)
                answer = connection.getresponse()
                self.assertEqual(answer.read(), b"")
                self.assertEqual(answer.status, 204)
                self.assertEqual(answer.getheader("Allow"), allow)
                self.assertIsNone(answer.getheader("Access-Control-Allow-Origin"))  # no --cors
        connection = self.connection()
        connection.request("OPTIONS", "/api/nope")
        answer = connection.getresponse()
        self.assertEqual(answer.status, 404)
        self.assertEqual(json.loads(answer.read())["status"], "error")

    def test_http_1_0_keep_alive_is_announced(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as sock:
            buffer = bytearray()
            for _ in range(3):  # as ab -k does: HTTP/1.0, Connection: Keep-Alive
                sock.sendall(b"GET /api/num_jobs HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
                status, headers, body = read_response(sock, buffer)
                self.assertEqual(status, 200)
                self.assertEqual(headers["connection"], "keep-alive")
                self.assertEqual(headers["content-length"], str(len(body)))
            sock.sendall(b"GET /api/num_jobs HTTP/1.0\r\n\r\n")
            status, headers, _ = read_response(sock, buffer)
            self.assertEqual((status, headers["connection"]), (200, "close"))
            self.assertEqual(sock.recv(10), b"")  # and closed

    def expect(self, head: bytes):
        """Send a head with Expect: 100-continue; return (sock, buffer, first response)."""
        sock = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        self.addCleanup(sock.close)
        sock.sendall(head)
        buffer = bytearray()
        return sock, buffer, read_response(sock, buffer)

    def test_100_continue_only_once_route_method_and_length_are_accepted(self):
        before = len(self.client.get("/api/jobs")[1]["data"])
        sock, buffer, first = self.expect(
            b"POST /api/global_mean HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(BODY))
        self.assertEqual(first[0], 100)
        sock.sendall(BODY)
        status, _, body = read_response(sock, buffer)
        self.assertEqual(status, 200)
        self.client.wait_result(json.loads(body)["job_id"])
        refused = [
            (b"POST /api/nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
             b"Content-Length: 10\r\n\r\n", 404),
            (b"POST /api/jobs HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
             b"Content-Length: 10\r\n\r\n", 405),
            (b"POST /api/global_mean HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
             b"Content-Length: 100000\r\n\r\n", 413),
            (b"POST /api/nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
             b"Content-Length: 100000\r\n\r\n", 404),
            (b"POST /api/global_mean HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\n"
             b"Content-Length: 10\r\n\r\n", 417),
        ]
        for head, status in refused:
            with self.subTest(head=head[:40], status=status):
                sock, buffer, first = self.expect(head)
                self.assertEqual(first[0], status)  # at once, and not after a 100
                self.assertEqual(first[1]["connection"], "close")
                self.assertEqual(json.loads(first[2])["status"], "error")
        self.assertEqual(len(self.client.get("/api/jobs")[1]["data"]), before + 1)


class CycleBodiesTest(ServedTestCase):
    """The answers of the job cycle are built without json.dumps: the bytes must be its bytes."""

    def body(self, method: str, path: str, body: bytes = b"") -> bytes:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        self.addCleanup(connection.close)
        connection.request(method, path, body=body or None,
                           headers={"Content-Type": "application/json"} if body else {})
        return connection.getresponse().read()

    def test_job_id_num_jobs_and_running_are_what_json_dumps_writes(self):
        submitted = self.body("POST", "/api/global_mean", BODY)
        job_id = json.loads(submitted)["job_id"]
        self.assertEqual(submitted, json.dumps({"job_id": job_id}).encode())
        self.client.wait_result(job_id)
        counted = self.body("GET", "/api/num_jobs")
        self.assertEqual(counted, json.dumps({"num_jobs": json.loads(counted)["num_jobs"]}).encode())
        self.assertEqual(api.RUNNING_BODY, json.dumps({"status": "running"}).encode())
        for count in (0, 7, 10 ** 12):
            self.assertEqual(api.num_jobs_body(count), json.dumps({"num_jobs": count}).encode())
        for job_id in ("job_id_1", "job_id_999999999999999999"):
            self.assertEqual(api.job_id_body(job_id), json.dumps({"job_id": job_id}).encode())


class QueryPolicyTest(ServedTestCase):
    """Contract, "Query parameters": ``_``-names ignored, any other unknown name a 400."""

    def test_every_get_route_ignores_underscore_names_and_refuses_unknown_ones(self):
        status, answer = self.client.post("global_mean", {"question": OBESITY})
        job_id = answer["job_id"]
        self.client.wait_result(job_id)
        question = quote(OBESITY)
        examples = {"/api/get_results/{job_id}": f"/api/get_results/{job_id}",
                    "/api/jobs/{job_id}": f"/api/jobs/{job_id}",
                    "/api/charts/{kind}": f"/api/charts/states?question={question}",
                    "/api/categories": f"/api/categories?question={question}&state=Ohio",
                    "/api/years": f"/api/years?question={question}",
                    "/static/{file}": "/static/dashboard.js"}
        checked = 0
        for route in ROUTES:
            if "GET" not in route.methods or route.name == "graceful_shutdown":
                continue
            path = examples.get(route.path, route.path)
            join = "&" if "?" in path else "?"
            with self.subTest(route=route.path):
                status, _, _ = self.client.request("GET", f"{path}{join}_=1700000000&_cb=x")
                self.assertEqual(status, 200)
                status, _, body = self.client.request("GET", f"{path}{join}bogus=1")
                self.assertEqual(status, 400)
                self.assertIn("'bogus'", body["reason"])
                checked += 1
        self.assertGreaterEqual(checked, 9)


class CorsTest(ServedTestCase):
    server_args = ("--cors",)

    def test_every_answer_allows_any_origin_and_preflights_are_answered(self):
        for method, path, status in (("GET", "/api/num_jobs", 200), ("GET", "/api/nope", 404),
                                     ("POST", "/api/jobs", 405)):
            with self.subTest(path=path):
                got, headers, _ = self.client.request(method, path)
                self.assertEqual(got, status)
                self.assertEqual(headers.get("Access-Control-Allow-Origin"), "*")
        status, headers, _ = self.client.request(
            "OPTIONS", "/api/state_mean",
            headers={"Origin": "http://example.org", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type"})
        self.assertEqual(status, 204)
        self.assertEqual(headers["Access-Control-Allow-Origin"], "*")
        self.assertEqual(headers["Access-Control-Allow-Methods"], "POST, OPTIONS")
        self.assertEqual(headers["Access-Control-Allow-Headers"], "Content-Type")
        # A request refused by the parser carries it too.
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as sock:
            sock.sendall(b"GET /api/num_jobs HTTP/1.1\r\n\r\n" + FOLLOW_UP)
            status, headers, _ = read_response(sock, bytearray())
        self.assertEqual(status, 400)
        self.assertEqual(headers["access-control-allow-origin"], "*")


if __name__ == "__main__":
    unittest.main()
