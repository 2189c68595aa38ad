"""Faults: a statistic that raises, a results directory that cannot be written, SIGKILL.

Why: an accepted job must end, and end truthfully -- ``done`` with the right
data or ``error`` with a reason -- whatever goes wrong around it, and the
server must go on serving.  Each fault here is a real one, caused from
outside: the disk is "full" because the result's temporary file is a symlink
to ``/dev/full``; results/ is unwritable because it has been replaced by a
plain file (we run as root, so chmod would not stop the server); a write is
caught in the middle because the temporary file is a FIFO nobody reads, and
then the process is killed with SIGKILL.  Only the statistic that raises
needs the server in-process (tests/inprocess.py), with its compute function
swapped.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import stat
import threading
import time
import unittest

from inprocess import InProcessServer
from support import OBESITY, ServerProcess, Threads, assert_close, conformance_cases, wait_for

from statsd.stats import compute

#: (endpoint, body, expected data) of every shared conformance case.
CASES = [(endpoint, body, expected) for endpoint, _, body, expected in conformance_cases()]
OTHER_CASES = [case for case in CASES if case[1]["question"] != OBESITY]



def temporary_files(directory: str) -> list:
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


def fifos(directory: str) -> list:
    found = []
    for name in os.listdir(directory):
        try:
            if stat.S_ISFIFO(os.lstat(os.path.join(directory, name)).st_mode):
                found.append(name)
        except FileNotFoundError:
            pass  # a temporary file renamed meanwhile
    return found


class StatisticThatRaisesTest(unittest.TestCase):
    """A bug in a statistic fails its job with a reason; the one worker goes on."""

    def test_job_fails_and_worker_takes_the_next_job(self):
        def faulty(dataset, request):
            if request.question == OBESITY:
                raise ZeroDivisionError("injected fault")
            return compute(dataset, request)

        with InProcessServer(faulty, workers=1) as server:
            client = server.client()
            self.addCleanup(client.close)
            with self.assertLogs("statsd.jobs", "INFO") as logged:
                status, answer = client.post("best5", {"question": OBESITY})
                self.assertEqual(status, 200)
                failed = answer["job_id"]
                result = client.wait_result(failed)
                # The single worker logs the failure before it takes the next job.
                endpoint, body, expected = OTHER_CASES[0]
                assert_close(self, client.run(endpoint, body), expected)
            # One error record for the failure, with the traceback for whoever debugs it.
            errors = [record for record in logged.records if record.levelname == "ERROR"]
            self.assertEqual(len(errors), 1)
            self.assertIn(f"{failed} error: computation failed", errors[0].getMessage())
            self.assertIsInstance(errors[0].exc_info[1], ZeroDivisionError)
            self.assertEqual(result["status"], "error")
            self.assertIn("ZeroDivisionError", result["reason"])
            self.assertIn("injected fault", result["reason"])
            self.assertNotIn("Traceback", result["reason"])
            # The same single worker computes the next jobs, correctly.
            for endpoint, body, expected in OTHER_CASES[1:5]:
                assert_close(self, client.run(endpoint, body), expected, where=endpoint)
            self.assertTrue(all(thread.is_alive() for thread in server.jobs._workers))
            self.assertEqual(client.get("/api/num_jobs"), (200, {"num_jobs": 0}))
            status, listing = client.get("/api/jobs")
            self.assertEqual(listing["data"][0], {failed: "error"})
            # The failure is on disk too, so it survives a restart.
            with open(os.path.join(server.store.directory, f"{failed}.error")) as handle:
                self.assertEqual(json.load(handle)["reason"], result["reason"])


class ResultsUnwritableTest(unittest.TestCase):
    """The disk is full, or results/ is gone: jobs fail with the reason, serving goes on."""

    def setUp(self):
        self.server = ServerProcess("--threads", "1").start()
        self.addCleanup(self.server.stop)
        self.client = self.server.client()
        self.addCleanup(self.client.close)

    def test_disk_full(self):
        results = self.server.results
        # The next job is job_id_1: its result and its failure record land on /dev/full.
        for kind in ("json", "error"):
            os.symlink("/dev/full", os.path.join(results, f".job_id_1.{kind}.tmp"))
        endpoint, body, expected = CASES[0]
        status, answer = self.client.post(endpoint, body)
        self.assertEqual((status, answer), (200, {"job_id": "job_id_1"}))
        result = self.client.wait_result("job_id_1")
        self.assertEqual(result["status"], "error")
        self.assertIn("result could not be written", result["reason"])
        self.assertIn("No space left on device", result["reason"])
        self.assertFalse(os.path.exists(os.path.join(results, "job_id_1.json")))
        self.assertEqual(temporary_files(results), [])
        # The worker goes on, and the server answers everything else.
        assert_close(self, self.client.run(endpoint, body), expected)
        self.assertEqual(self.client.get("/api/num_jobs"), (200, {"num_jobs": 0}))
        self.assertTrue(wait_for(lambda: "job_id_1 error" in self.server.log_text()))
        self.assertEqual(self.server.log_text().count("job_id_1 error"), 1)

    def test_a_job_with_nothing_on_disk_runs_again_after_a_restart(self):
        """Neither result nor failure could be written: the journal keeps the job, no id is reused."""
        results = self.server.results
        for kind in ("json", "error"):
            os.symlink("/dev/full", os.path.join(results, f".job_id_1.{kind}.tmp"))
        endpoint, body, expected = CASES[0]
        self.assertEqual(self.client.post(endpoint, body), (200, {"job_id": "job_id_1"}))
        self.assertEqual(self.client.wait_result("job_id_1")["status"], "error")
        assert_close(self, self.client.run(endpoint, body), expected)  # job_id_2, on disk
        self.assertEqual(self.client.get("/api/graceful_shutdown")[0], 200)
        self.client.close()
        self.assertEqual(self.server.wait(), 0)
        self.assertFalse(os.path.exists(os.path.join(results, "job_id_1.error")))

        again = ServerProcess("--threads", "1", directory=self.server.directory).start()
        self.addCleanup(again.stop)
        client = again.client()
        self.addCleanup(client.close)
        # The job is run again from its journal line, and this time it is written.
        assert_close(self, client.wait_result("job_id_1")["data"], expected)
        self.assertTrue(os.path.exists(os.path.join(results, "job_id_1.json")))
        status, answer = client.post(endpoint, body)
        self.assertEqual((status, answer), (200, {"job_id": "job_id_3"}))

    def test_results_directory_replaced_by_a_file(self):
        results = self.server.results
        endpoint, body, expected = CASES[0]
        done = self.client.run(endpoint, body)  # job_id_1, written before the fault
        os.rename(results, results + ".moved")
        with open(results, "w") as handle:
            handle.write("not a directory\n")
        for number in (2, 3):
            status, answer = self.client.post(endpoint, body)
            self.assertEqual((status, answer), (200, {"job_id": f"job_id_{number}"}))
            result = self.client.wait_result(f"job_id_{number}")
            self.assertEqual(result["status"], "error")
            self.assertIn("result could not be written: Not a directory", result["reason"])
        # job_id_1's file cannot be read now, but its bytes are still in memory.
        self.assertEqual(self.client.get("/api/get_results/job_id_1"),
                         (200, {"status": "done", "data": done}))
        self.assertEqual(self.client.get("/api/num_jobs"), (200, {"num_jobs": 0}))
        # Put the directory back: the old result is there again, new jobs are written.
        os.remove(results)
        os.rename(results + ".moved", results)
        self.assertEqual(self.client.get("/api/get_results/job_id_1"),
                         (200, {"status": "done", "data": done}))
        assert_close(self, self.client.run(endpoint, body), expected)
        self.assertTrue(wait_for(lambda: "job_id_3 error" in self.server.log_text()))
        self.assertNotIn("Traceback", self.server.log_text())


class KilledMidLoadTest(unittest.TestCase):
    """SIGKILL while clients submit and workers write: nothing done is lost or changed."""

    CLIENTS = 6

    def test_restart_after_sigkill(self):
        first = ServerProcess("--threads", "2", keep_directory=True).start()
        directory = first.directory
        self.addCleanup(shutil.rmtree, directory, True)
        self.addCleanup(first.stop)
        results = first.results

        accepted = {}  # job id -> index in CASES
        done = {}  # job id -> data, as answered before the kill
        lock = threading.Lock()
        stop = threading.Event()

        def load(offset: int) -> None:
            client = first.client(timeout=5)
            index = offset
            try:
                while not stop.is_set():
                    endpoint, body, _ = CASES[index % len(CASES)]
                    status, answer = client.post(endpoint, body)
                    if status != 200:
                        continue
                    job_id = answer["job_id"]
                    with lock:
                        accepted[job_id] = index % len(CASES)
                    index += self.CLIENTS
                    end = time.monotonic() + 1.0
                    while time.monotonic() < end:
                        status, result = client.get(f"/api/get_results/{job_id}")
                        if result["status"] == "done":
                            with lock:
                                done[job_id] = result["data"]
                            break
                        time.sleep(0.02)
            except (OSError, http.client.HTTPException):
                pass  # the server was killed under us
            finally:
                client.close()

        with Threads(self.CLIENTS, load):
            try:
                self.assertTrue(wait_for(lambda: len(done) >= 30), "no load reached the server")
                # From the next job on, every result write blocks half-way: its
                # temporary file is a FIFO that no one reads.  Jobs pile up behind.
                with lock:
                    last = max(int(job_id.rsplit("_", 1)[1]) for job_id in accepted)
                for number in range(last + 1, last + 400):
                    try:
                        os.mkfifo(os.path.join(results, f".job_id_{number}.json.tmp"))
                    except FileExistsError:
                        pass
                self.assertTrue(wait_for(lambda: len(accepted) >= last + 15))
                first.kill()  # SIGKILL
            finally:
                stop.set()

        on_disk = set(os.listdir(results))
        with open(os.path.join(results, "journal.jsonl"), encoding="utf-8") as handle:
            journalled = {f"job_id_{json.loads(line)['job']}" for line in handle}
        for job_id in accepted:  # every accepted job is on disk: a result or a journal line
            self.assertTrue(f"{job_id}.json" in on_disk or job_id in journalled, job_id)
        # Journalled unfinished jobs, including any whose id the kill kept from its client.
        pending = {job_id for job_id in journalled if f"{job_id}.json" not in on_disk}
        self.assertGreaterEqual(len(pending & set(accepted)), 2)
        leftovers = temporary_files(results)
        self.assertTrue(leftovers)

        second = ServerProcess("--threads", "2", directory=directory).start()
        self.addCleanup(second.stop)
        # Cleaned before serving (the resumed jobs may be writing new ones now).
        self.assertEqual(fifos(results), [])
        self.assertTrue(wait_for(
            lambda: f"{len(pending)} requeued, {len(leftovers)} temporary files removed"
            in second.log_text()), second.log_text()[-2000:])
        client = second.client()
        self.addCleanup(client.close)
        for job_id, data in done.items():  # identical data, byte for byte
            status, answer = client.get(f"/api/get_results/{job_id}")
            self.assertEqual(status, 200, job_id)
            self.assertEqual(json.dumps(answer), json.dumps({"status": "done", "data": data}), job_id)
        for job_id, index in accepted.items():  # journalled jobs were resumed
            result = client.wait_result(job_id)
            self.assertEqual(result["status"], "done", f"{job_id}: {result}")
            assert_close(self, result["data"], CASES[index][2], where=job_id)
        highest = max(int(job_id.rsplit("_", 1)[1]) for job_id in accepted)
        status, answer = client.post(CASES[0][0], CASES[0][1])
        self.assertEqual(status, 200)
        self.assertGreater(int(answer["job_id"].rsplit("_", 1)[1]), highest)
        status, listing = client.get("/api/jobs")
        ids = [job_id for entry in listing["data"] for job_id in entry]
        self.assertEqual(len(ids), len(set(ids)))
        self.assertLessEqual(set(accepted), set(ids))
        for name in os.listdir(results):  # no half-written result anywhere
            if name.endswith(".json"):
                with open(os.path.join(results, name)) as handle:
                    json.load(handle)


if __name__ == "__main__":
    unittest.main()
