"""webserver.log when things go wrong: a full disk under it, and start-up errors; its layout.

Why: an operator reads the log first.  A log file that cannot be written
must cost one line on stderr (and one when it can be written again), never a
traceback per record, and the server must go on serving; a statsd that
cannot start must say why in webserver.log as well as on stderr.  Each case
runs the real server (``python3 -m statsd``) in a temporary directory.
"""

import copy
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from support import (OBESITY, PROJECT, SAMPLE_CSV, Client, ServerProcess, run_statsd,
                     text_of, wait_for)

from statsd import logs


class LineLayoutTest(unittest.TestCase):
    """statsd's formatter writes what ``logging.Formatter(FORMAT)`` would, faster."""

    def records(self):
        yield logging.LogRecord("statsd.http", logging.INFO, "", 0, '%s "%s %s" %d%s',
                                ("127.0.0.1", "GET", "/api/num_jobs", 200, ""), None)
        yield logging.LogRecord("statsd.jobs", logging.ERROR, "", 0, "job_id_3 error: %s",
                                ("no data",), None)
        yield logging.LogRecord("statsd", logging.WARNING, "", 0, "ends in a newline\n", (),
                                None, sinfo="Stack (most recent call last):\n  here")
        try:
            raise ZeroDivisionError("boom")
        except ZeroDivisionError:
            yield logging.LogRecord("statsd.http", logging.ERROR, "", 0, "failed %d", (500,),
                                    sys.exc_info())
        for created in (1764547200.0, 1764547200.9996, 1764547259.0005):  # ms 000, 999, 000
            record = logging.LogRecord("statsd", logging.INFO, "", 0, "at %s", (created,), None)
            record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
            yield record

    def test_the_same_lines_as_the_stock_formatter(self):
        fast, stock = logs.LineFormatter(), logging.Formatter(logs.FORMAT, logs.DATE_FORMAT)
        stock.converter = time.gmtime
        for record in self.records():
            with self.subTest(message=record.msg):
                expected = stock.format(copy.copy(record))
                self.assertEqual(fast.format(copy.copy(record)), expected)
                self.assertRegex(expected, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")


class LinesWrittenTogetherTest(unittest.TestCase):
    """``--log-flush``: lines wait, and are written together, in order, and none is lost."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="statsd-logs-")
        self.addCleanup(shutil.rmtree, self.directory, ignore_errors=True)
        self.path = os.path.join(self.directory, "webserver.log")

    def text(self) -> str:
        return text_of(self.path)

    def handler(self, flush_seconds: float) -> logs.RotatingLogFile:
        handler = logs.RotatingLogFile(self.path, 1 << 20, 1, flush_seconds=flush_seconds)
        handler.setFormatter(logs.LineFormatter())
        self.addCleanup(handler.close)
        return handler

    def log(self, handler: logging.Handler, level: int, message: str) -> None:
        handler.handle(logging.LogRecord("statsd.test", level, "", 0, message, (), None))

    def test_info_lines_wait_a_warning_takes_them_along_and_close_writes_the_rest(self):
        handler = self.handler(flush_seconds=3600)
        for number in range(3):
            self.log(handler, logging.INFO, f"line {number}")
        self.assertEqual(self.text(), "")  # waiting
        handler.write_due()  # what the accept loop calls at each poll
        self.assertEqual([line.split(": ", 1)[1] for line in self.text().splitlines()],
                         ["line 0", "line 1", "line 2"])
        self.log(handler, logging.INFO, "line 3")
        self.log(handler, logging.WARNING, "a warning")  # at once, after the line before it
        self.assertEqual([line.split(": ", 1)[1] for line in self.text().splitlines()[3:]],
                         ["line 3", "a warning"])
        self.log(handler, logging.INFO, "the last")
        handler.close()
        self.assertTrue(self.text().endswith("INFO statsd.test: the last\n"), self.text())

    def test_with_0_each_line_is_written_when_it_is_logged(self):
        handler = self.handler(flush_seconds=0)
        for number in range(3):
            self.log(handler, logging.INFO, f"line {number}")
            self.assertEqual(len(self.text().splitlines()), number + 1)

    def test_too_many_lines_waiting_are_written_however_young(self):
        handler = self.handler(flush_seconds=3600)
        for number in range(logs.RotatingLogFile.MAX_WAITING):
            self.log(handler, logging.INFO, f"line {number}")
        self.assertEqual(len(self.text().splitlines()), logs.RotatingLogFile.MAX_WAITING)

    def test_the_server_writes_its_lines_within_the_interval_and_all_of_them_at_a_stop(self):
        with ServerProcess("--log-flush", "0.05", directory=self.directory,
                           keep_directory=True) as server:
            client = server.client()
            self.addCleanup(client.close)
            status, answer = client.post("global_mean", {"question": OBESITY})
            self.assertEqual(status, 200, answer)
            job = answer["job_id"]
            self.assertEqual(client.wait_result(job)["status"], "done")
            # No more requests: the accept loop's polls write what waits.
            self.assertTrue(wait_for(lambda: f'"GET /api/get_results/{job}" 200' in self.text()
                                     and f"{job} done in" in self.text(), interval=0.05),
                            self.text())
            for _ in range(50):
                client.get("/api/num_jobs")
            self.assertEqual(client.get("/api/graceful_shutdown")[0], 200)
            self.assertEqual(server.wait(), 0)
        lines = self.text().splitlines()
        self.assertEqual(sum('"GET /api/num_jobs" 200' in line for line in lines), 50)
        self.assertIn("stopped after", lines[-1])


class FullDiskTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="statsd-logs-")
        self.addCleanup(shutil.rmtree, self.directory, ignore_errors=True)
        self.log_path = os.path.join(self.directory, "webserver.log")

    def test_a_log_file_on_a_full_disk_costs_one_line_then_one_when_it_recovers(self):
        if not os.path.exists("/dev/full"):
            self.skipTest("no /dev/full on this system")
        os.symlink("/dev/full", self.log_path)  # every write: No space left on device
        # stderr to a file of its own, so that every line of it is counted.
        stderr_path = os.path.join(self.directory, "stderr.txt")
        with open(stderr_path, "w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "statsd", "--port", "0", "--data", SAMPLE_CSV],
                cwd=self.directory, env=dict(os.environ, PYTHONPATH=PROJECT, PYTHONUNBUFFERED="1"),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True)
        self.addCleanup(process.kill)
        self.addCleanup(process.stdout.close)
        port = None
        for line in process.stdout:
            match = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
                break
        self.assertIsNotNone(port, "statsd did not start")
        client = Client(port)
        for number in range(300):
            status, body = client.get("/api/num_jobs")
            self.assertEqual(status, 200)
        self.assertEqual(client.run("global_mean", {"question": OBESITY}).keys(),
                         {"global_mean"})
        # Room again: the file is a regular file now.
        os.remove(self.log_path)
        open(self.log_path, "w").close()

        def written_again():
            client.get("/api/num_jobs")
            return os.path.getsize(self.log_path) > 0

        self.assertTrue(wait_for(written_again, timeout=30, interval=0.05))
        self.assertEqual(client.get("/api/graceful_shutdown")[0], 200)
        client.close()
        self.assertEqual(process.wait(30), 0)
        with open(stderr_path, encoding="utf-8") as handle:
            errors = handle.read()
        self.assertNotIn("Traceback", errors)
        self.assertNotIn("Logging error", errors)
        lines = errors.splitlines()
        self.assertEqual(len(lines), 2, errors)  # one when it fails, one when it recovers
        self.assertIn("cannot write the log file", lines[0])
        self.assertIn("No space left on device", lines[0])
        self.assertIn("is written again", lines[1])
        lost = int(lines[1].split("; ")[1].split()[0])
        self.assertGreaterEqual(lost, 300)  # at least the 300 requests' lines
        with open(self.log_path, encoding="utf-8") as handle:
            log = handle.read().splitlines()
        self.assertIn(f"WARNING statsd.logs: {lost} log lines were lost", log[0])
        self.assertTrue(any('"GET /api/num_jobs" 200' in line for line in log[1:]), log)
        self.assertTrue(any("graceful_shutdown" in line for line in log), log)


class StartupErrorsTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="statsd-logs-")
        self.addCleanup(shutil.rmtree, self.directory, ignore_errors=True)

    def log_text(self):
        with open(os.path.join(self.directory, "webserver.log"), encoding="utf-8") as handle:
            return handle.read()

    def test_a_missing_data_file_is_in_the_log_and_one_stderr_line(self):
        done = run_statsd("--port", "0", "--data", "no-such-file.csv", cwd=self.directory)
        self.assertEqual(done.returncode, 2)
        self.assertEqual(done.stderr.count("\n"), 1, done.stderr)
        self.assertIn("no-such-file.csv: cannot open", done.stderr)
        self.assertRegex(self.log_text(), r"ERROR statsd: no-such-file\.csv: cannot open")

    def test_a_results_directory_in_use_is_in_the_log_and_one_stderr_line(self):
        with ServerProcess(directory=self.directory):
            done = run_statsd("--port", "0", cwd=self.directory)
            self.assertEqual(done.returncode, 2)
            self.assertEqual(done.stderr.count("\n"), 1, done.stderr)
            self.assertIn("is in use by another statsd", done.stderr)
            self.assertRegex(self.log_text(),
                             r"ERROR statsd: results directory results is in use by another")


if __name__ == "__main__":
    unittest.main()
