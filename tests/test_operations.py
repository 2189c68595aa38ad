"""Operations: --results-ttl, and ingest progress on the console for large files."""

import argparse
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from inprocess import InProcessServer
from support import OBESITY, PROJECT, SAMPLE_CSV, ServerProcess, wait_for

from statsd.retention import parse_duration


class ResultsTtlTest(unittest.TestCase):
    def test_parse_duration(self):
        self.assertEqual(parse_duration("90"), 90)
        self.assertEqual(parse_duration("1.5"), 1.5)
        self.assertEqual(parse_duration("30m"), 1800)
        self.assertEqual(parse_duration("12h"), 43200)
        self.assertEqual(parse_duration("7d"), 604800)
        for bad in ("", "0", "-1", "soon", "5w", "1e3"):
            with self.subTest(text=bad), self.assertRaises(argparse.ArgumentTypeError):
                parse_duration(bad)

    def test_bad_ttl_is_a_usage_error(self):
        done = subprocess.run([sys.executable, "-m", "statsd", "--results-ttl", "soon"],
                              cwd=PROJECT, capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 2)
        self.assertIn("not a duration: 'soon'", done.stderr)

    def test_old_results_expire_and_their_ids_are_never_reused(self):
        directory = tempfile.mkdtemp(prefix="statsd-ttl-")
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        with InProcessServer(options=("--results-ttl", "1s"), directory=directory) as server:
            client = server.client()
            status, answer = client.post("best5", {"question": OBESITY})
            self.assertEqual(status, 200)
            job_id = answer["job_id"]
            self.assertEqual(job_id, "job_id_1")
            self.assertEqual(client.wait_result(job_id)["status"], "done")
            result = os.path.join(server.results, "job_id_1.json")
            self.assertTrue(os.path.exists(result))
            # Gone after a second or so; /api/jobs and get_results say so.
            self.assertTrue(wait_for(
                lambda: client.get("/api/jobs")[1]["data"] == [{"job_id_1": "expired"}], timeout=15))
            self.assertFalse(os.path.exists(result))
            status, body = client.get("/api/get_results/job_id_1")
            self.assertEqual((status, body), (410, {"status": "error", "reason": "result expired"}))
            client.close()
        self.assertEqual(os.listdir(os.path.join(directory, "results")), ["job_id_highest"])
        # Restarted without a TTL over the same directory: still expired, next id is 2.
        with InProcessServer(directory=directory) as server:
            client = server.client()
            self.assertEqual(client.get("/api/jobs")[1]["data"], [{"job_id_1": "expired"}])
            self.assertEqual(client.post("global_mean", {"question": OBESITY})[1]["job_id"],
                             "job_id_2")
            self.assertEqual(client.wait_result("job_id_2")["status"], "done")
            client.close()

    def test_an_expired_job_is_not_run_again_after_a_crash(self):
        """The journal may keep the lines of ended jobs while the server is idle;
        none is left once their results are deleted, so a SIGKILL then a
        restart never brings an expired job back."""
        server = ServerProcess("--threads", "1", "--results-ttl", "1s", keep_directory=True).start()
        self.addCleanup(shutil.rmtree, server.directory, True)
        self.addCleanup(server.stop)
        client = server.client()
        self.addCleanup(client.close)
        journal = os.path.join(server.results, "journal.jsonl")
        for number in (1, 2):
            self.assertEqual(client.post("best5", {"question": OBESITY}),
                             (200, {"job_id": f"job_id_{number}"}))
            self.assertEqual(client.wait_result(f"job_id_{number}")["status"], "done")
        self.assertTrue(wait_for(lambda: client.get("/api/jobs")[1]["data"]
                                 == [{"job_id_1": "expired"}, {"job_id_2": "expired"}], timeout=15))
        with open(journal, "rb") as handle:
            self.assertEqual(handle.read(), b"")
        server.kill()
        again = ServerProcess("--threads", "1", directory=server.directory).start()
        self.addCleanup(again.stop)
        client = again.client()
        self.addCleanup(client.close)
        self.assertEqual(client.get("/api/jobs")[1]["data"],
                         [{"job_id_1": "expired"}, {"job_id_2": "expired"}])
        self.assertEqual(client.post("global_mean", {"question": OBESITY}),
                         (200, {"job_id": "job_id_3"}))
        self.assertNotRegex(again.log_text(), r"\b[1-9][0-9]* requeued")

    def test_ended_jobs_left_in_the_journal_are_not_run_again(self):
        """A crash while the journal still holds the lines of ended jobs: they stay done, as written."""
        server = ServerProcess("--threads", "1", keep_directory=True).start()
        self.addCleanup(shutil.rmtree, server.directory, True)
        self.addCleanup(server.stop)
        client = server.client()
        self.addCleanup(client.close)
        answers = {}
        for number in (1, 2, 3):
            job_id = client.post("best5", {"question": OBESITY})[1]["job_id"]
            answers[job_id] = client.wait_result(job_id)
            self.assertEqual(answers[job_id]["status"], "done")
        with open(os.path.join(server.results, "journal.jsonl"), "rb") as handle:
            self.assertEqual(len(handle.read().splitlines()), 3)  # an idle journal of a few lines stays
        written = {job_id: os.stat(os.path.join(server.results, f"{job_id}.json")).st_mtime_ns
                   for job_id in answers}
        server.kill()
        again = ServerProcess("--threads", "1", directory=server.directory).start()
        self.addCleanup(again.stop)
        client = again.client()
        self.addCleanup(client.close)
        for job_id, answer in answers.items():
            self.assertEqual(client.get(f"/api/get_results/{job_id}"), (200, answer))
            self.assertEqual(os.stat(os.path.join(again.results, f"{job_id}.json")).st_mtime_ns,
                             written[job_id])
        self.assertEqual(client.post("global_mean", {"question": OBESITY})[1]["job_id"], "job_id_4")
        self.assertNotRegex(again.log_text(), r"\b[1-9][0-9]* requeued")

    def test_results_are_kept_forever_by_default(self):
        """A result written in 1970 is still there without --results-ttl, gone with one.

        Expiry runs once before the server serves, so what each server
        answers first is already after its check.
        """
        directory = tempfile.mkdtemp(prefix="statsd-ttl-")
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        result = os.path.join(directory, "results", "job_id_1.json")
        os.mkdir(os.path.dirname(result))
        for args, state in (((), "done"), (("--results-ttl", "100d"), "expired")):
            with self.subTest(args=args):
                if state == "done":
                    with open(result, "w", encoding="utf-8") as handle:
                        handle.write('{"global_mean": 31.5}')
                    os.utime(result, (0, 0))  # written in 1970
                with InProcessServer(options=args, directory=directory) as server:
                    client = server.client()
                    self.assertEqual(client.get("/api/jobs")[1]["data"], [{"job_id_1": state}])
                    client.close()
                self.assertEqual(os.path.exists(result), state == "done")


class IngestProgressTest(unittest.TestCase):
    def test_large_csv_shows_rows_and_percent_then_the_summary(self):
        """On a terminal, a file over 8 MB shows progress lines, then the summary."""
        directory = tempfile.mkdtemp(prefix="statsd-big-")
        self.addCleanup(shutil.rmtree, directory, ignore_errors=True)
        big = os.path.join(directory, "big.csv")
        with open(SAMPLE_CSV, encoding="utf-8") as handle:
            header, *rows = handle.readlines()
        with open(big, "w", encoding="utf-8") as handle:
            handle.write(header)
            copies = 0
            while handle.tell() < 9 * 1024 * 1024:
                handle.writelines(rows)
                copies += 1

        controller, terminal = pty.openpty()
        self.addCleanup(os.close, controller)
        env = dict(os.environ, PYTHONPATH=PROJECT, PYTHONUNBUFFERED="1")
        process = subprocess.Popen(
            [sys.executable, "-m", "statsd", "--port", "0", "--data", big, "--log-file", ""],
            cwd=directory, env=env, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal)
        os.close(terminal)
        output = b""
        deadline = time.monotonic() + 30
        try:
            while b"serving on" not in output and time.monotonic() < deadline:
                if not select.select([controller], [], [], 1.0)[0]:
                    continue
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # the server closed the terminal: it has exited
                    break
                if not chunk:
                    break
                output += chunk
        finally:
            process.terminate()
            process.wait(15)
        text = output.decode("utf-8", "replace")
        self.assertIn("statsd: loading: ", text)
        self.assertRegex(text, r"loading: [0-9,]+ rows, +[0-9.]+% of the file")
        self.assertIn(f"{copies * len(rows):,} rows, 100.0% of the file", text)
        self.assertRegex(text, r"statsd: loaded [0-9,]+ rows from .*big\.csv \(9 questions")


if __name__ == "__main__":
    unittest.main()
