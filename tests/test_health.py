"""GET /api/health: 200 while statsd serves, 503 from the moment a stop is asked for.

Why: a load balancer or a container's health check polls it to know whether
to send traffic; it must turn 503 as soon as a graceful stop begins (while
queued jobs still finish), and say how many rows are loaded and how many
jobs are pending.  The in-process server holds its one worker on a job so
that the stop lasts as long as the test needs.
"""

import http.client
import os
import unittest

import reference
from inprocess import HeldCompute, InProcessServer
from support import OBESITY, ServerProcess


class HealthTest(unittest.TestCase):
    def test_health_through_a_graceful_shutdown(self):
        held = HeldCompute()
        with InProcessServer(held, workers=1) as server:
            self.addCleanup(held.release.set)
            client = server.client()
            self.addCleanup(client.close)
            status, headers, body = client.request("GET", "/api/health")
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("Cache-Control"), "no-store")
            self.assertEqual(body["status"], "ok")
            self.assertEqual(body["rows"], len(reference.rows()))  # rows with a Data_Value
            self.assertEqual(body["jobs_pending"], 0)
            self.assertGreaterEqual(body["uptime_seconds"], 0)

            job_id = client.post("best5", {"question": OBESITY})[1]["job_id"]
            self.assertTrue(held.started.wait(10))
            client.post("worst5", {"question": OBESITY})  # queued behind it
            status, body = client.get("/api/health")
            self.assertEqual((status, body["status"], body["jobs_pending"]), (200, "ok", 2))

            self.assertEqual(client.get("/api/graceful_shutdown"),
                             (200, {"status": "shutting down"}))
            for _ in range(3):  # as a load balancer polls it, until the jobs are done
                status, body = client.get("/api/health")
                self.assertEqual(status, 503)
                self.assertEqual(body["status"], "shutting down")
                self.assertEqual(body["jobs_pending"], 2)
                self.assertEqual(body["rows"], len(reference.rows()))
            held.release.set()
            self.assertTrue(server.server.stopped.wait(10))
            self.assertTrue(os.path.exists(os.path.join(server.store.directory,
                                                        f"{job_id}.json")))

    def test_health_of_the_real_process_and_its_head(self):
        with ServerProcess() as server:
            client = server.client()
            status, body = client.get("/api/health")
            self.assertEqual(status, 200)
            self.assertEqual(set(body), {"status", "rows", "jobs_pending", "uptime_seconds"})
            self.assertEqual((body["status"], body["rows"], body["jobs_pending"]),
                             ("ok", len(reference.rows()), 0))
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            connection.request("HEAD", "/api/health")
            response = connection.getresponse()
            self.assertEqual((response.status, response.read()), (200, b""))
            connection.close()
            status, _, answer = client.request("POST", "/api/health", {})
            self.assertEqual(status, 405)
            self.assertEqual(answer["status"], "error")
            client.close()


if __name__ == "__main__":
    unittest.main()
