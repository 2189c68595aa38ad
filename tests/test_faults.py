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
import resource
import shutil
import stat
import tempfile
import threading
import unittest

from inprocess import InProcessServer
from support import (OBESITY, ServedTestCase, ServerProcess, Threads, assert_close,
                     conformance_cases, proc_status_mb, wait_for)

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
            self.assertEqual(server.jobs.workers_alive(), 1)
            self.assertEqual(client.get("/api/num_jobs"), (200, {"num_jobs": 0}))
            status, listing = client.get("/api/jobs")
            self.assertEqual(listing["data"][0], {failed: "error"})
            # The failure is on disk too, so it survives a restart.
            with open(os.path.join(server.store.directory, f"{failed}.error")) as handle:
                self.assertEqual(json.load(handle)["reason"], result["reason"])


class ResultsUnwritableTest(ServedTestCase):
    """The disk is full, or results/ is gone: jobs fail with the reason, serving goes on."""

    server_args = ("--threads", "1")
    separate_process = True  # the log file is read

    def next_number(self) -> int:
        """The number the next job gets (the tests of this class share one server)."""
        return self.client.get("/api/jobs?last=1")[1]["total"] + 1

    def test_disk_full(self):
        results = self.server.results
        number = self.next_number()
        job_id = f"job_id_{number}"
        # The next job's result and its failure record land on /dev/full.
        for kind in ("json", "error"):
            os.symlink("/dev/full", os.path.join(results, f".{job_id}.{kind}.tmp"))
        endpoint, body, expected = CASES[0]
        status, answer = self.client.post(endpoint, body)
        self.assertEqual((status, answer), (200, {"job_id": job_id}))
        result = self.client.wait_result(job_id)
        self.assertEqual(result["status"], "error")
        self.assertIn("result could not be written", result["reason"])
        self.assertIn("No space left on device", result["reason"])
        self.assertFalse(os.path.exists(os.path.join(results, f"{job_id}.json")))
        self.assertEqual(temporary_files(results), [])
        # The worker goes on, and the server answers everything else.
        assert_close(self, self.client.run(endpoint, body), expected)
        self.assertEqual(self.client.get("/api/num_jobs"), (200, {"num_jobs": 0}))
        self.assertTrue(wait_for(lambda: f"{job_id} error" in self.server.log_text()))
        self.assertEqual(self.server.log_text().count(f"{job_id} error"), 1)

    def test_results_directory_replaced_by_a_file(self):
        results = self.server.results
        endpoint, body, expected = CASES[0]
        first = self.next_number()
        done = self.client.run(endpoint, body)  # written before the fault
        before = set(os.listdir(results))
        os.rename(results, results + ".moved")
        with open(results, "w") as handle:
            handle.write("not a directory\n")
        for number in (first + 1, first + 2):
            status, answer = self.client.post(endpoint, body)
            self.assertEqual((status, answer), (200, {"job_id": f"job_id_{number}"}))
            result = self.client.wait_result(f"job_id_{number}")
            self.assertEqual(result, {"status": "error", "reason": "result could not be written: "
                                      "results directory results was removed or replaced"})
        # Nothing of those jobs went into the directory that was moved away either.
        self.assertEqual(set(os.listdir(results + ".moved")) - before, set())
        # The result written before is still answered.
        self.assertEqual(self.client.get(f"/api/get_results/job_id_{first}"),
                         (200, {"status": "done", "data": done}))
        self.assertEqual(self.client.get("/api/num_jobs"), (200, {"num_jobs": 0}))
        # Put the directory back: the old result is there again, new jobs are written.
        os.remove(results)
        os.rename(results + ".moved", results)
        self.assertEqual(self.client.get(f"/api/get_results/job_id_{first}"),
                         (200, {"status": "done", "data": done}))
        assert_close(self, self.client.run(endpoint, body), expected)
        self.assertTrue(os.path.exists(os.path.join(results, f"job_id_{first + 3}.json")))
        # The log is written by a thread of its own: wait for its last line of interest.
        self.assertTrue(wait_for(lambda: f"job_id_{first + 2} error" in self.server.log_text()
                                 and "results directory results is back" in self.server.log_text()),
                        self.server.log_text())
        log = self.server.log_text()
        self.assertNotIn("Traceback", log)
        # Said once when it went, once when it came back.
        self.assertEqual(log.count("WARNING statsd.jobs: results directory results was removed "
                                   "or replaced"), 1, log)
        self.assertEqual(log.count("results directory results is back"), 1, log)


class NothingOnDiskTest(unittest.TestCase):
    """Neither result nor failure could be written: the journal keeps the job, no id is reused."""

    def test_a_job_with_nothing_on_disk_runs_again_after_a_restart(self):
        server = ServerProcess("--threads", "1", keep_directory=True).start()
        self.addCleanup(shutil.rmtree, server.directory, True)
        self.addCleanup(server.stop)
        client = server.client()
        results = server.results
        for kind in ("json", "error"):
            os.symlink("/dev/full", os.path.join(results, f".job_id_1.{kind}.tmp"))
        endpoint, body, expected = CASES[0]
        self.assertEqual(client.post(endpoint, body), (200, {"job_id": "job_id_1"}))
        self.assertEqual(client.wait_result("job_id_1")["status"], "error")
        assert_close(self, client.run(endpoint, body), expected)  # job_id_2, on disk
        self.assertEqual(client.get("/api/graceful_shutdown")[0], 200)
        client.close()
        self.assertEqual(server.wait(), 0)
        self.assertFalse(os.path.exists(os.path.join(results, "job_id_1.error")))

        again = ServerProcess("--threads", "1", directory=server.directory).start()
        self.addCleanup(again.stop)
        client = again.client()
        self.addCleanup(client.close)
        # The job is run again from its journal line, and this time it is written.
        assert_close(self, client.wait_result("job_id_1")["data"], expected)
        self.assertTrue(os.path.exists(os.path.join(results, "job_id_1.json")))
        status, answer = client.post(endpoint, body)
        self.assertEqual((status, answer), (200, {"job_id": "job_id_3"}))


class ResultsDirectoryRemovedTest(unittest.TestCase):
    """``rm -rf results`` under a running statsd, then a second statsd on the same --results."""

    def test_the_first_never_writes_into_the_second_s_directory(self):
        first = ServerProcess("--threads", "1").start()
        self.addCleanup(first.stop)
        client = first.client()
        self.addCleanup(client.close)
        endpoint, body, expected = CASES[0]
        assert_close(self, client.run(endpoint, body), expected)  # job_id_1, on disk
        shutil.rmtree(first.results)
        # The first's lock went with the directory: a second statsd starts over a new one.
        second = ServerProcess("--threads", "1", "--log-file",
                               os.path.join(first.directory, "second.log"),
                               directory=first.directory).start()
        self.addCleanup(second.stop)
        other = second.client()
        self.addCleanup(other.close)
        other_endpoint, other_body, other_expected = OTHER_CASES[0]

        # The first says what happened, and its job fails with that reason.
        self.assertEqual(client.post(endpoint, body), (200, {"job_id": "job_id_2"}))
        self.assertEqual(client.wait_result("job_id_2"),
                         {"status": "error", "reason": "result could not be written: "
                                                       "results directory results was removed or replaced"})
        self.assertTrue(wait_for(lambda: "WARNING statsd.jobs: results directory results was "
                                         "removed or replaced" in first.log_text()))
        # The second hands out job_id_1 again (the first's results are gone), in its own directory.
        self.assertEqual(other.post(other_endpoint, other_body), (200, {"job_id": "job_id_1"}))
        assert_close(self, other.wait_result("job_id_1")["data"], other_expected)
        # The first stops cleanly, and takes nothing of the second's with it.
        self.assertEqual(client.get("/api/graceful_shutdown")[0], 200)
        client.close()
        self.assertEqual(first.wait(), 0)
        self.assertEqual(sorted(os.listdir(second.results)), ["job_id_1.json", "journal.jsonl"])
        self.assertEqual(other.get("/api/get_results/job_id_1")[1]["status"], "done")
        with open(os.path.join(second.results, "job_id_1.json"), encoding="utf-8") as handle:
            assert_close(self, json.load(handle), other_expected)


class JournalShortWriteTest(unittest.TestCase):
    """A journal line cut short (a full disk, here a file size limit) is taken back whole."""

    def test_a_short_write_leaves_no_half_line_to_swallow_the_next(self):
        server = ServerProcess("--threads", "1", "--log-file", "", keep_directory=True).start()
        self.addCleanup(shutil.rmtree, server.directory, True)
        self.addCleanup(server.stop)
        results, journal = server.results, os.path.join(server.results, "journal.jsonl")
        client = server.client()
        self.addCleanup(client.close)
        # The one worker blocks on job_id_1's result (a FIFO nobody reads), so
        # the jobs after it stay in the journal.
        os.mkfifo(os.path.join(results, ".job_id_1.json.tmp"))
        for number in (1, 2, 3):
            self.assertEqual(client.post(*CASES[number][:2]), (200, {"job_id": f"job_id_{number}"}))
        # Room for 10 more bytes in any file: job_id_4's line is cut there by the kernel.
        size = os.path.getsize(journal)
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (size + 10, hard))
        try:
            self.assertEqual(client.post(*CASES[4][:2]), (200, {"job_id": "job_id_4"}))
        finally:  # the disk has room again
            resource.prlimit(server.process.pid, resource.RLIMIT_FSIZE, (hard, hard))
        self.assertEqual(client.post(*CASES[5][:2]), (200, {"job_id": "job_id_5"}))
        with open(journal, "rb") as handle:
            lines = handle.read().split(b"\n")
        self.assertEqual(lines[-1], b"")  # whole lines only
        self.assertEqual([json.loads(line)["job"] for line in lines[:-1]], [1, 2, 3, 5])
        server.kill()

        # After the crash, job_id_5 (journalled after the short write) is run again.
        again = ServerProcess("--threads", "1", directory=server.directory).start()
        self.addCleanup(again.stop)
        self.assertTrue(wait_for(lambda: "4 requeued" in again.log_text()), again.log_text())
        self.assertNotIn("damaged", again.log_text())
        client = again.client()
        self.addCleanup(client.close)
        for number in (1, 2, 3, 5):
            assert_close(self, client.wait_result(f"job_id_{number}")["data"], CASES[number][2])
        self.assertEqual(client.post(*CASES[0][:2]), (200, {"job_id": "job_id_6"}))


class StrayResultFileTest(unittest.TestCase):
    """A result file with a very high number costs nothing: ids go on after it."""

    def test_a_stray_high_id(self):
        for number in (5_000_000, 1_000_000_000):
            with self.subTest(number=number):
                directory = tempfile.mkdtemp(prefix="statsd-stray-")
                self.addCleanup(shutil.rmtree, directory, True)
                os.mkdir(os.path.join(directory, "results"))
                with open(os.path.join(directory, "results", f"job_id_{number}.json"), "w") as handle:
                    handle.write('{"stray": 1}')
                # A number beyond any job id (JOB_ID has at most 18 digits) is not a job.
                with open(os.path.join(directory, "results", f"job_id_1{'0' * 30}.json"), "w") as handle:
                    handle.write("{}")
                with ServerProcess(directory=directory) as server:
                    self.assertLess(proc_status_mb(server.process.pid, "VmHWM"), 80)
                    client = server.client()
                    status, listing = client.get("/api/jobs?last=3")
                    self.assertEqual((status, listing), (200, {
                        "status": "done", "total": number,
                        "data": [{f"job_id_{number - 2}": "expired"},
                                 {f"job_id_{number - 1}": "expired"},
                                 {f"job_id_{number}": "done"}]}))
                    self.assertEqual(client.get(f"/api/get_results/job_id_{number}"),
                                     (200, {"status": "done", "data": {"stray": 1}}))
                    self.assertEqual(client.get(f"/api/get_results/job_id_{number - 1}")[0], 410)
                    # The whole list (or a last=N above the bound) is refused, not built.
                    for path in ("/api/jobs", "/api/jobs?last=100001", f"/api/jobs?last={10 ** 30}"):
                        status, answer = client.get(path)
                        self.assertEqual((status, answer["status"]), (400, "error"), path)
                        self.assertIn("at once", answer["reason"])
                    self.assertIn("/api/jobs?last=N", client.get("/api/jobs")[1]["reason"])
                    endpoint, body, expected = CASES[0]
                    self.assertEqual(client.post(endpoint, body),
                                     (200, {"job_id": f"job_id_{number + 1}"}))
                    assert_close(self, client.wait_result(f"job_id_{number + 1}")["data"], expected)
                    self.assertLess(proc_status_mb(server.process.pid, "VmHWM"), 80)
                    # At the bound the list is served, ending with the newest job.
                    status, listing = client.get("/api/jobs?last=100000")
                    self.assertEqual((status, len(listing["data"])), (200, 100_000))
                    self.assertEqual(listing["data"][-1], {f"job_id_{number + 1}": "done"})
                    self.assertEqual(listing["data"][0], {f"job_id_{number - 99_998}": "expired"})
                    client.close()


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

                    def finished(job_id: str = job_id) -> bool:
                        result = client.get(f"/api/get_results/{job_id}")[1]
                        if result["status"] != "done":
                            return False
                        with lock:
                            done[job_id] = result["data"]
                        return True

                    # A job behind a blocked write never finishes: move on to the next soon.
                    wait_for(finished, timeout=0.25)
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
