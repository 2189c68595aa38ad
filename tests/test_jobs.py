"""The job machinery seen from outside: its log lines, its hooks, past jobs.

Why in-process (tests/inprocess.py): the log records and the metrics hook are
observed where they are made, while clients talk HTTP to the real server.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import unittest

from inprocess import HeldCompute, InProcessServer
from support import Threads, assert_close, conformance_cases

from statsd.app import StartupError
from statsd.job import Finished
from statsd.jobs import JobDescription
from statsd.jobtable import IdRanges, gaps
from statsd.request import JobRequest
from statsd.stats import compute

#: (endpoint, body, expected data) of every shared conformance case.
CASES = [(endpoint, body, expected) for endpoint, _, body, expected in conformance_cases()]

_TRANSITION = re.compile(r"(job_id_\d+) (queued|running|done|error)\b")


def transitions(records) -> dict:
    """``{job_id: [transition, ...]}`` in the order they were logged."""
    seen: dict = {}
    for record in records:
        match = _TRANSITION.match(record.getMessage())
        if match:
            seen.setdefault(match.group(1), []).append(match.group(2))
    return seen


class JournalLineTest(unittest.TestCase):
    """A job's journal line is ``json.dumps`` of its request and a newline, byte for byte."""

    def test_the_bytes_of_json_dumps_for_every_kind_of_request(self):
        from statsd.job import Job
        from statsd.journal import _line
        from statsd.request import Filters
        texts = ["Percent of adults aged 18 years and older who have obesity", "Ohio",
                 'a "quoted" \\ back\\slash', "tab\tnew\nline\x00\x1f", "Caf\u00e9 \u2013 \U0001F600",
                 "/ and </script>", "", "\ud800 lone surrogate"]
        filters = [Filters(), Filters(year_from=2015), Filters(2011, 2022, "Age (years)", "18 - 24"),
                   Filters(category="Caf\u00e9 \"x\"")]
        for number in (1, 42, 999_999_999):
            for question in texts:
                for state in (None, *texts):
                    for chosen in filters:
                        job = Job(number, JobRequest("state_mean", question, state, chosen))
                        expected = json.dumps(job.journalled()).encode() + b"\n"
                        self.assertEqual(_line(job), expected, (number, question, state, chosen))
                        self.assertEqual(json.loads(_line(job)), job.journalled())


class RefusedJobTest(unittest.TestCase):
    """A job the queue refuses after its line was journalled: the line is taken back, its id is given again."""

    def test_the_journal_holds_only_the_jobs_accepted(self):
        from statsd.jobqueue import QueueClosed, QueueFull
        from statsd.jobtable import JobTable
        from statsd.journal import JOURNAL_FILE, Journal
        from statsd.store import ResultStore
        directory = tempfile.mkdtemp(prefix="statsd-refused-")
        self.addCleanup(shutil.rmtree, directory)
        store = ResultStore(directory)
        self.addCleanup(store.close)
        journal = Journal(store)
        self.addCleanup(journal.close)
        table = JobTable(journal)
        table.restore(0, {}, IdRanges(), [])  # opens an empty journal, as at a start
        queued = []
        request = JobRequest("global_mean", "Percent of adults aged 18 years and older who have obesity")

        def refuse(error):
            def enqueue(job):
                raise error
            return enqueue

        def lines():
            with open(os.path.join(directory, JOURNAL_FILE), "rb") as handle:
                return [json.loads(line)["job"] for line in handle]

        self.assertEqual(table.admit(request, queued.append).number, 1)
        for error in (QueueFull(), QueueClosed()):
            with self.assertRaises(type(error)):
                table.admit(request, refuse(error))
            self.assertEqual(lines(), [1])
        self.assertEqual(table.admit(request, queued.append).number, 2)  # no id was used up
        self.assertEqual(lines(), [1, 2])
        self.assertEqual([job.number for job in queued], [1, 2])


class JobLogTest(unittest.TestCase):
    """Each job logs queued, then done with its run time; a refused job logs nothing."""

    def test_queued_is_logged_before_done(self):
        # Switch threads as often as possible, so that a worker that could log
        # "done" before the request thread logs "queued" would do so.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        self.addCleanup(sys.setswitchinterval, interval)
        accepted = []
        lock = threading.Lock()
        # The server stops (its workers done) before the records are collected.
        with self.assertLogs("statsd.jobs", "INFO") as logged, \
                InProcessServer(workers=2, max_queue=10000) as server:
            def load(index: int) -> None:
                client = server.client()
                try:
                    for round in range(25):
                        endpoint, body, _ = CASES[(index * 25 + round) % len(CASES)]
                        status, answer = client.post(endpoint, body)
                        self.assertEqual(status, 200)
                        with lock:
                            accepted.append(answer["job_id"])
                finally:
                    client.close()

            with Threads(4, load):
                pass
            client = server.client()
            self.addCleanup(client.close)
            for job_id in accepted:
                self.assertEqual(client.wait_result(job_id)["status"], "done", job_id)
        seen = transitions(logged.records)
        self.assertEqual(len(accepted), 100)
        for job_id in accepted:
            self.assertEqual(seen.get(job_id), ["queued", "done"], job_id)
        done = [record.getMessage() for record in logged.records if " done " in record.getMessage()]
        self.assertEqual(len(done), 100)
        for line in done:
            self.assertRegex(line, r"^job_id_\d+ done in \d+\.\d ms$")

    def test_a_refused_job_is_not_logged_as_queued(self):
        held = HeldCompute()
        with self.assertLogs("statsd.jobs", "INFO") as logged, \
                InProcessServer(held, workers=1, max_queue=1) as server:
            client = server.client()
            self.addCleanup(client.close)
            endpoint, body, expected = CASES[0]
            self.assertEqual(client.post(endpoint, body), (200, {"job_id": "job_id_1"}))
            self.assertTrue(held.started.wait(10))  # the worker holds job 1
            self.assertEqual(client.post(endpoint, body), (200, {"job_id": "job_id_2"}))
            status, answer = client.post(endpoint, body)  # the queue holds job 2: full
            self.assertEqual((status, answer["reason"]), (503, "too many jobs queued, retry later"))
            held.release.set()
            for job_id in ("job_id_1", "job_id_2"):
                assert_close(self, client.wait_result(job_id)["data"], expected)
            self.assertEqual(client.post(endpoint, body), (200, {"job_id": "job_id_3"}))
            assert_close(self, client.wait_result("job_id_3")["data"], expected)
        self.assertEqual(transitions(logged.records), {
            job_id: ["queued", "done"] for job_id in ("job_id_1", "job_id_2", "job_id_3")})


class OnFinishedTest(unittest.TestCase):
    """The metrics hook hears of every job once, with its outcome; it can never break a worker."""

    def test_each_job_is_reported_once_with_its_outcome(self):
        reported = []

        def faulty(dataset, request):
            if request.state == "Ohio":
                raise ZeroDivisionError("injected fault")
            return compute(dataset, request)

        with InProcessServer(faulty, workers=2,
                             on_finished=lambda *args: reported.append(args)) as server:
            client = server.client()
            self.addCleanup(client.close)
            question = CASES[0][1]["question"]
            bodies = [("state_mean", {"question": question, "state": "Ohio"}),
                      ("state_mean", {"question": question, "state": "Texas"}),
                      ("best5", {"question": question})]
            for endpoint, body in bodies:
                job_id = client.post(endpoint, body)[1]["job_id"]
                client.wait_result(job_id)
        # The server has stopped: every job has ended and been reported.
        self.assertEqual(sorted((request, outcome) for request, outcome, _ in reported), sorted([
            (JobRequest("state_mean", question, "Ohio"), "error"),
            (JobRequest("state_mean", question, "Texas"), "done"),
            (JobRequest("best5", question), "done")]))
        for _, _, seconds in reported:
            self.assertIsInstance(seconds, float)
            self.assertGreaterEqual(seconds, 0)

    def test_a_hook_that_raises_is_logged_once_and_changes_nothing(self):
        def broken(request, outcome, seconds):
            raise RuntimeError("metrics are down")

        with self.assertLogs("statsd.jobs", "ERROR") as logged, \
                InProcessServer(workers=1, on_finished=broken) as server:
            client = server.client()
            self.addCleanup(client.close)
            for endpoint, body, expected in CASES[:3]:
                assert_close(self, client.run(endpoint, body), expected, where=endpoint)
            self.assertEqual(server.jobs.workers_alive(), 1)
            self.assertEqual(client.get("/api/num_jobs"), (200, {"num_jobs": 0}))
        self.assertEqual(len(logged.records), 1)
        self.assertIn("on_finished failed", logged.records[0].getMessage())
        self.assertIsInstance(logged.records[0].exc_info[1], RuntimeError)


class DescribeTest(unittest.TestCase):
    """describe(job_id): the state, the request of this run's jobs, the reason of a failure."""

    def test_jobs_of_this_run_and_of_the_last(self):
        directory = tempfile.mkdtemp(prefix="statsd-describe-")
        self.addCleanup(shutil.rmtree, directory, True)
        question = CASES[0][1]["question"]
        held = HeldCompute()

        def faulty(dataset, request):
            if request.state == "Ohio":
                raise ZeroDivisionError("injected fault")
            return held(dataset, request)

        with InProcessServer(faulty, directory=directory) as server:
            client = server.client()
            self.addCleanup(client.close)
            done = client.post("best5", {"question": question})[1]["job_id"]
            self.assertTrue(held.started.wait(10))
            running = client.post("global_mean", {"question": question})[1]["job_id"]
            self.assertEqual(server.jobs.describe(running), JobDescription(
                "running", JobRequest("global_mean", question), None))
            held.release.set()
            failed = client.post("state_mean", {"question": question, "state": "Ohio"})[1]["job_id"]
            for job_id in (done, running, failed):
                client.wait_result(job_id)
            jobs = server.jobs
            self.assertEqual(jobs.describe(done), JobDescription(
                "done", JobRequest("best5", question), None))
            self.assertEqual(jobs.describe(running).state, "done")
            self.assertEqual(jobs.describe(failed), JobDescription(
                "error", JobRequest("state_mean", question, "Ohio"),
                "computation failed: ZeroDivisionError: injected fault"))
            for unknown in ("job_id_4", "job_id_0", "../job_id_1", "nonsense"):
                self.assertEqual(jobs.describe(unknown), ("", None, None), unknown)
            client.close()
        # A crash left a journalled job behind: after the restart it is run
        # again, and its request is known; the results of the earlier run are
        # the data only.
        with open(os.path.join(directory, "results", "journal.jsonl"), "w") as handle:
            handle.write(json.dumps({"job": 4, "endpoint": "worst5", "question": question}) + "\n")
        with InProcessServer(directory=directory) as again:
            client = again.client()
            self.addCleanup(client.close)
            self.assertEqual(client.wait_result("job_id_4")["status"], "done")
            jobs = again.jobs
            self.assertEqual(jobs.describe("job_id_4"),
                             JobDescription("done", JobRequest("worst5", question), None))
            self.assertEqual(jobs.describe(done), JobDescription("done", None, None))
            self.assertEqual(jobs.describe(failed), JobDescription(
                "error", None, "computation failed: ZeroDivisionError: injected fault"))

    def test_a_failed_job_over_http_says_why(self):
        """GET /api/jobs/<job_id> of a failure carries its reason (tests/test_job_endpoint.py has the rest)."""
        question = CASES[0][1]["question"]

        def faulty(dataset, request):
            raise ZeroDivisionError("injected fault")

        with InProcessServer(faulty) as server:
            client = server.client()
            self.addCleanup(client.close)
            job_id = client.post("state_mean", {"question": question, "state": "Ohio"})[1]["job_id"]
            client.wait_result(job_id)
            self.assertEqual(client.get(f"/api/jobs/{job_id}"), (200, {"status": "done", "data": {
                "job_id": job_id, "state": "error",
                "request": {"endpoint": "state_mean", "question": question, "state": "Ohio"},
                "reason": "computation failed: ZeroDivisionError: injected fault"}}))

    def test_only_the_latest_requests_are_remembered(self):
        with InProcessServer(remembered_requests=2) as server:
            client = server.client()
            self.addCleanup(client.close)
            question = CASES[0][1]["question"]
            for endpoint in ("best5", "worst5", "global_mean"):
                client.run(endpoint, {"question": question})
            describe = server.jobs.describe
            self.assertEqual(describe("job_id_1"), JobDescription("done", None, None))
            self.assertEqual(describe("job_id_2").request, JobRequest("worst5", question))
            self.assertEqual(describe("job_id_3").request, JobRequest("global_mean", question))


class AppTest(unittest.TestCase):
    """The in-process statsd is built by the same factory as the command line's."""

    def test_a_second_statsd_over_the_same_results_is_one_startup_error(self):
        with InProcessServer() as first:
            with self.assertRaises(StartupError) as caught:
                InProcessServer(directory=first.directory)
            self.assertEqual(str(caught.exception), f"results directory {first.directory}/results "
                                                    "is in use by another statsd")
            self.assertEqual(caught.exception.status, 2)
            # The first goes on serving.
            endpoint, body, expected = CASES[0]
            client = first.client()
            self.addCleanup(client.close)
            assert_close(self, client.run(endpoint, body), expected)

    def test_a_restart_takes_over_the_results_of_the_last_run(self):
        directory = tempfile.mkdtemp(prefix="statsd-app-")
        self.addCleanup(shutil.rmtree, directory, True)
        endpoint, body, expected = CASES[0]
        with InProcessServer(directory=directory) as first:
            client = first.client()
            data = client.run(endpoint, body)  # job_id_1
            client.close()
        with InProcessServer(directory=directory) as again:
            self.assertEqual(again.app.recovered["done"], 1)
            client = again.client()
            self.addCleanup(client.close)
            self.assertEqual(client.get("/api/get_results/job_id_1"),
                             (200, {"status": "done", "data": data}))
            self.assertEqual(client.post(endpoint, body), (200, {"job_id": "job_id_2"}))
            assert_close(self, client.wait_result("job_id_2")["data"], expected)


class FinishedTest(unittest.TestCase):
    """A job's end, awaited by any number of pollers: each learns of it, none waits past it."""

    def test_a_wait_before_the_end_times_out_and_every_waiter_wakes_at_the_end(self):
        finished = Finished()
        self.assertFalse(finished.wait(0))
        self.assertFalse(finished.wait(0.01))
        woken = []
        lock = threading.Lock()

        def waiter(index: int) -> None:
            result = finished.wait(30)
            with lock:
                woken.append(result)

        with Threads(8, waiter):
            time.sleep(0.05)  # the eight are waiting
            self.assertEqual(woken, [])
            finished.set()
        self.assertEqual(woken, [True] * 8)
        self.assertTrue(finished.wait(0))  # and later ones return at once
        self.assertTrue(finished.wait(None))
        self.assertTrue(finished.wait(-1))  # a deadline already past is no wait, not an error


class IdRangesTest(unittest.TestCase):
    """The ids gone are held as ranges: the same members as a set, merged as they touch."""

    def test_same_members_as_a_set(self):
        generator = random.Random(7)
        for _ in range(50):
            ranges, members = IdRanges(), set()
            for _ in range(generator.randrange(1, 60)):
                start = generator.randrange(1, 200)
                end = start + generator.randrange(0, 12)
                ranges.add_range(start, end)
                members.update(range(start, end))
            self.assertEqual({number for number in range(0, 220) if number in ranges}, members)
            spans = list(ranges.ranges())
            for (_, end), (start, _) in zip(spans, spans[1:]):
                self.assertLess(end, start, spans)  # disjoint, and touching ones merged
            self.assertEqual(sum(end - start for start, end in spans), len(members))

    def test_gaps_between_the_ids_found(self):
        missing = gaps([2, 3, 7, 1_000_000_000], 1_000_000_001)
        self.assertEqual(list(missing.ranges()), [(1, 2), (4, 7), (8, 1_000_000_000)])
        self.assertEqual(list(gaps([], 1).ranges()), [])


if __name__ == "__main__":
    unittest.main()
