"""Load: many keep-alive clients at once, a full queue, and a shutdown in the middle.

Why: under load the promises must still hold -- every accepted job ends done
with the right data and is listed once, a full queue answers 503 with
Retry-After instead of growing, and a graceful shutdown finishes every job
it accepted, refuses the rest, and exits 0.  The load is bounded (a few
seconds, 127.0.0.1 only); numbers are compared with the shared conformance
answers, computed independently of statsd.  After the stress run every
warning and error line of webserver.log must have an explanation.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import threading
import time
import unittest
from collections import Counter
from typing import Any, Dict, List

from inprocess import HeldCompute, InProcessServer
from support import ServerProcess, Threads, assert_close, conformance_cases


CASES = [(endpoint, body, expected) for endpoint, _, body, expected in conformance_cases()]


class Tally:
    """What the client threads saw, under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted: Dict[str, int] = {}  # job id -> index in CASES
        self.results: Dict[str, Any] = {}  # job id -> the result answered
        self.statuses: Counter = Counter()  # (method, status) -> count
        self.problems: List[str] = []  # anything a client saw that it should not have

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)


class BackpressureTest(unittest.TestCase):
    """With the worker held busy, the queue fills at a known moment (in-process server)."""

    def test_full_queue_is_503_with_retry_after(self):
        held = HeldCompute()
        endpoint, body, expected = next(case for case in CASES if case[0] == "global_mean")
        with InProcessServer(held, workers=1, max_queue=2) as server:
            self.addCleanup(held.release.set)
            client = server.client()
            self.addCleanup(client.close)
            ids = [client.post(endpoint, body)[1]["job_id"]]
            self.assertTrue(held.started.wait(10))  # job 1 is running: the queue is empty again
            ids += [client.post(endpoint, body)[1]["job_id"] for _ in range(2)]
            for _ in range(3):
                status, headers, answer = client.request("POST", f"/api/{endpoint}", body)
                self.assertEqual(status, 503)
                self.assertEqual(headers.get("Retry-After"), "1")
                self.assertEqual(answer, {"status": "error", "reason": "too many jobs queued, retry later"})
            # No refused job is in the journal: a restart now would run the
            # three accepted jobs, and no job under an id given again.
            with open(os.path.join(server.results, "journal.jsonl"), encoding="utf-8") as handle:
                journalled = [json.loads(line)["job"] for line in handle]
            self.assertEqual([f"job_id_{number}" for number in journalled], ids)
            self.assertEqual(client.get("/api/num_jobs"), (200, {"num_jobs": 3}))
            self.assertEqual(client.get("/api/jobs")[1]["data"],
                             [{job_id: "running"} for job_id in ids])
            held.release.set()
            for job_id in ids:
                self.assertEqual(client.wait_result(job_id), {"status": "done", "data": expected})
            status, answer = client.post(endpoint, body)  # room again; no id was used up
            self.assertEqual((status, answer), (200, {"job_id": "job_id_4"}))

    def test_post_after_shutdown_is_503_while_jobs_finish(self):
        held = HeldCompute()
        endpoint, body, expected = next(case for case in CASES if case[0] == "best5")
        with InProcessServer(held, workers=1) as server:
            self.addCleanup(held.release.set)
            client = server.client()
            self.addCleanup(client.close)
            job_id = client.post(endpoint, body)[1]["job_id"]
            self.assertTrue(held.started.wait(10))
            self.assertEqual(client.get("/api/graceful_shutdown"), (200, {"status": "shutting down"}))
            status, headers, answer = client.request("POST", f"/api/{endpoint}", body)
            self.assertEqual((status, answer), (503, {"status": "error", "reason": "shutting down"}))
            self.assertEqual(client.get("/api/num_jobs"), (200, {"num_jobs": 1}))
            self.assertEqual(client.get(f"/api/get_results/{job_id}"), (200, {"status": "running"}))
            held.release.set()
            self.assertTrue(server.server.stopped.wait(10))  # the server stops once the job is done
            with open(os.path.join(server.store.directory, f"{job_id}.json")) as handle:
                assert_close(self, json.load(handle), expected)


class StressTest(unittest.TestCase):
    """Many keep-alive clients submit and poll against a small queue, for a few seconds
    or until they have had ``ENOUGH`` jobs accepted."""

    CLIENTS = 16
    SECONDS = 3.0
    #: Enough jobs to stop at before SECONDS: three times what the test asks for.
    ENOUGH = 300

    def test_every_job_done_right_and_listed_once(self):
        server = ServerProcess("--threads", "2", "--max-queue", "4", keep_directory=True).start()
        self.addCleanup(shutil.rmtree, server.directory, True)
        self.addCleanup(server.stop)
        tally = Tally()
        end = time.monotonic() + self.SECONDS

        def client_loop(offset: int) -> None:
            client = server.client()
            index = offset
            try:
                while time.monotonic() < end and len(tally.accepted) < self.ENOUGH:
                    batch = []
                    for _ in range(3):  # a few jobs in flight per client
                        case = index % len(CASES)
                        index += self.CLIENTS
                        endpoint, body, _ = CASES[case]
                        while True:
                            status, headers, answer = client.request("POST", f"/api/{endpoint}", body)
                            with tally.lock:
                                tally.statuses["POST", status] += 1
                            if status != 503:
                                break
                            if headers.get("Retry-After") != "1":
                                tally.problem(f"503 without Retry-After: {answer}")
                            time.sleep(0.05)  # a test client may retry sooner than asked
                        if status != 200:
                            tally.problem(f"POST {endpoint}: {status} {answer}")
                            continue
                        with tally.lock:
                            tally.accepted[answer["job_id"]] = case
                        batch.append(answer["job_id"])
                    for job_id in batch:
                        while True:
                            status, answer = client.get(f"/api/get_results/{job_id}")
                            with tally.lock:
                                tally.statuses["GET", status] += 1
                            if status != 200 or answer["status"] != "running":
                                break
                            time.sleep(0.02)
                        with tally.lock:
                            tally.results[job_id] = answer
            except (OSError, http.client.HTTPException) as error:
                tally.problem(f"client {offset}: {error!r}")
            finally:
                client.close()

        with Threads(self.CLIENTS, client_loop):
            pass
        self.assertEqual(tally.problems, [])
        self.assertGreater(len(tally.accepted), 100)
        for job_id, case in tally.accepted.items():
            result = tally.results[job_id]
            self.assertEqual(result["status"], "done", f"{job_id}: {result}")
            assert_close(self, result["data"], CASES[case][2], where=job_id)

        client = server.client()
        self.addCleanup(client.close)
        status, listing = client.get("/api/jobs")
        ids = [job_id for entry in listing["data"] for job_id in entry]
        self.assertEqual(Counter(ids), Counter(list(tally.accepted)))  # each exactly once
        self.assertEqual(set(state for entry in listing["data"] for state in entry.values()), {"done"})
        self.assertEqual(client.get("/api/num_jobs"), (200, {"num_jobs": 0}))
        client.close()

        server.signal(signal.SIGTERM)
        self.assertEqual(server.wait(20), 0)
        self.check_log(server.log_text(), tally)

    def check_log(self, log: str, tally: Tally) -> None:
        """One line per request, and every warning or error explained."""
        lines = log.splitlines()
        self.assertNotIn("Traceback", log)
        posts = sum(1 for line in lines if '"POST /api/' in line)
        polls = sum(1 for line in lines if '"GET /api/get_results/' in line)
        self.assertEqual(posts, sum(n for (method, _), n in tally.statuses.items() if method == "POST"))
        self.assertEqual(polls, sum(n for (method, _), n in tally.statuses.items() if method == "GET"))
        explained = re.compile(
            r'"POST /api/\w+" 503 too many jobs queued, retry later'  # backpressure, retried
        )
        unexplained = [line for line in lines if re.search(r"Z (WARNING|ERROR|CRITICAL) ", line)
                       and not explained.search(line)]
        self.assertEqual(unexplained, [])
        refused = sum(1 for line in lines if explained.search(line))
        self.assertEqual(refused, tally.statuses["POST", 503])


class ShutdownUnderLoadTest(unittest.TestCase):
    """graceful_shutdown while clients submit: accepted jobs finish on disk, later POSTs get 503."""

    CLIENTS = 8

    def test_shutdown_in_the_middle_of_load(self):
        server = ServerProcess("--threads", "2").start()
        self.addCleanup(server.stop)
        tally = Tally()
        sent = threading.Event()  # the shutdown request is on its way
        answered = threading.Event()  # the shutdown answer has reached us
        enough = threading.Event()

        def client_loop(offset: int) -> None:
            client = server.client()
            index = offset
            try:
                while True:
                    endpoint, body, _ = CASES[index % len(CASES)]
                    after = answered.is_set()
                    try:
                        status, answer = client.post(endpoint, body)
                    except (OSError, http.client.HTTPException) as error:
                        # The server may exit as soon as it has answered the
                        # shutdown, before this test has read that answer; it
                        # may not fail a connection before it was asked to stop.
                        if not sent.is_set():
                            tally.problem(f"POST before the shutdown request: {error!r}")
                        return  # the server has exited
                    with tally.lock:
                        tally.statuses[after, status] += 1
                        if status == 200:
                            tally.accepted[answer["job_id"]] = index % len(CASES)
                            if len(tally.accepted) >= 60:
                                enough.set()
                    if status == 200 and after:
                        tally.problem(f"accepted after the shutdown answer: {answer}")
                    elif status == 503 and answer != {"status": "error", "reason": "shutting down"}:
                        tally.problem(f"503 {answer}")
                    elif status not in (200, 503):
                        tally.problem(f"{status} {answer}")
                    if after and status == 503:
                        time.sleep(0.05)
                    index += self.CLIENTS
            finally:
                client.close()

        with Threads(self.CLIENTS, client_loop):
            try:
                self.assertTrue(enough.wait(20))
                client = server.client()
                sent.set()
                status, answer = client.get("/api/graceful_shutdown")
                answered.set()
                client.close()
                self.assertEqual(status, 200)
                self.assertIn(answer, ({"status": "shutting down"}, {"status": "done"}))
                self.assertEqual(server.wait(20), 0)
            finally:
                sent.set()
                answered.set()  # the clients stop at the first POST that fails
        self.assertEqual(tally.problems, [])
        for job_id, case in tally.accepted.items():  # every accepted job finished, on disk
            with open(os.path.join(server.results, f"{job_id}.json")) as handle:
                assert_close(self, json.load(handle), CASES[case][2], where=job_id)
        self.assertEqual(sorted(name for name in os.listdir(server.results) if name.endswith(".json")),
                         sorted(f"{job_id}.json" for job_id in tally.accepted))
        self.assertEqual([name for name in os.listdir(server.results)
                          if name.endswith((".pending", ".tmp", ".error"))], [])
        log = server.log_text()
        self.assertIn("shutdown requested (GET /api/graceful_shutdown", log)
        self.assertIn("all jobs finished; stopping the server", log)


if __name__ == "__main__":
    unittest.main()
