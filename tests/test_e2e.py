"""End to end: the real ``python3 -m statsd`` process, driven like a client drives it.

Why: what a user relies on is the process: its job ids and polling, its
result files, its log, how it stops (and that it stops with 0), how it comes
back over the same results/ directory, and what it prints when it cannot
start.  Each test starts the server with tests/support.ServerProcess on a
free port in a temporary directory and talks HTTP to it over real sockets.

The shutdown tests need jobs still queued when the shutdown begins; they
serve a generated CSV whose mean_by_category has 20,000 groups, so that a
few dozen such jobs on one worker keep it busy for a while.
"""

from __future__ import annotations

import calendar
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from support import (OBESITY, PROJECT, ServedTestCase, ServerProcess, data_row, original_header,
                     run_statsd, write_csv, wait_for)

JOB_ID = re.compile(r"job_id_[1-9][0-9]*")
SHUTTING_DOWN = {"status": "error", "reason": "shutting down"}
INVALID = {"status": "error", "reason": "Invalid job_id"}
#: A log line: ISO 8601 UTC timestamp with milliseconds, level, logger.
LOG_LINE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d{3}Z (INFO|WARNING|ERROR) statsd[\w.]*: ")


def job_number(job_id: str) -> int:
    return int(job_id[len("job_id_"):])


def read_json(path: str):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


class ServedSampleTest(ServedTestCase):
    """One server over the sample for the everyday requests."""

    def submit(self, endpoint, body):
        status, answer = self.client.post(endpoint, body)
        self.assertEqual(status, 200, answer)
        self.assertEqual(list(answer), ["job_id"])
        self.assertRegex(answer["job_id"], JOB_ID)
        return answer["job_id"]

    def test_submit_poll_and_result_file(self):
        job_id = self.submit("state_mean", {"question": OBESITY, "state": "Guam"})
        result = self.client.wait_result(job_id, deadline=10.0, interval=0.2)
        self.assertEqual(result["status"], "done")
        self.assertEqual(list(result["data"]), ["Guam"])
        # Done means written: results/<job_id>.json holds the same data.
        self.assertEqual(read_json(os.path.join(self.server.results, f"{job_id}.json")),
                         result["data"])
        # Asking again gives the same answer.
        self.assertEqual(self.client.wait_result(job_id), result)

    def test_ids_count_up_and_jobs_lists_them_in_order(self):
        ids = [self.submit("global_mean", {"question": OBESITY}) for _ in range(3)]
        first = job_number(ids[0])
        self.assertEqual(ids, [f"job_id_{first}", f"job_id_{first + 1}", f"job_id_{first + 2}"])
        for job_id in ids:
            self.assertEqual(self.client.wait_result(job_id)["status"], "done")
        status, listing = self.client.get("/api/jobs")
        self.assertEqual(status, 200)
        self.assertEqual(listing["status"], "done")
        entries = listing["data"]
        for entry in entries:
            self.assertEqual(len(entry), 1, entry)
        names = [name for entry in entries for name in entry]
        # Every job this server took, job_id_1 first, in job order.
        self.assertEqual(names, [f"job_id_{n}" for n in range(1, len(names) + 1)])
        self.assertGreaterEqual(len(names), first + 2)
        for entry in entries[first - 1:first + 2]:
            self.assertEqual(list(entry.values()), ["done"])

    def test_jobs_last_n(self):
        ids = [self.submit("global_mean", {"question": OBESITY}) for _ in range(3)]
        for job_id in ids:
            self.client.wait_result(job_id)
        status, listing = self.client.get("/api/jobs?last=2")
        self.assertEqual(status, 200)
        self.assertEqual(listing["data"], [{ids[1]: "done"}, {ids[2]: "done"}])
        self.assertEqual(listing["total"], len(self.client.get("/api/jobs")[1]["data"]))
        self.assertEqual(listing["total"], job_number(ids[2]))
        # More than there are: all of them.  Other parameters are ignored.
        status, listing = self.client.get("/api/jobs?last=1000000&_=123")
        self.assertEqual(len(listing["data"]), job_number(ids[2]))
        self.assertEqual(self.client.get("/api/jobs?_=123")[1].keys(), {"status", "data"})
        for bad in ("0", "-1", "x", "", "%C2%B2"):  # the last: "²", a digit but not 0-9
            with self.subTest(last=bad):
                status, answer = self.client.get(f"/api/jobs?last={bad}")
                self.assertEqual(status, 400)
                self.assertIn("'last'", answer["reason"])

    def test_num_jobs_when_idle(self):
        job_id = self.submit("states_mean", {"question": OBESITY})
        self.client.wait_result(job_id)
        status, answer = self.client.get("/api/num_jobs")
        self.assertEqual((status, answer), (200, {"num_jobs": 0}))

    def test_invalid_job_ids(self):
        job_id = self.submit("global_mean", {"question": OBESITY})
        self.client.wait_result(job_id)
        beyond = f"job_id_{job_number(job_id) + 1000}"
        for bad in [beyond, "job_id_0", "job_id_-1", "job_id_01", "JOB_ID_1", "1", "job_id_",
                    f"{job_id}.json", f"../results/{job_id}", f"..%2Fresults%2F{job_id}",
                    f"{job_id}/../{job_id}", "../../../../etc/passwd", "%00"]:
            with self.subTest(job_id=bad):
                status, headers, body = self.client.request("GET", f"/api/get_results/{bad}")
                self.assertEqual(status, 404)
                self.assertEqual(headers["Content-Type"], "application/json")
                self.assertEqual(body, INVALID)

    def test_bad_request_creates_no_job(self):
        before = len(self.client.get("/api/jobs")[1]["data"])
        for raw in [b"{not json", b"[]", json.dumps({"question": "How tall?"}).encode()]:
            with self.subTest(body=raw):
                status, _, body = self.client.request("POST", "/api/states_mean", raw=raw)
                self.assertEqual(status, 400)
                self.assertEqual(body["status"], "error")
                self.assertTrue(body["reason"])
        self.assertEqual(len(self.client.get("/api/jobs")[1]["data"]), before)

    def test_headers_and_keep_alive(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        self.addCleanup(connection.close)
        requests = [("GET", "/api/num_jobs", None, 200),
                    ("POST", "/api/global_mean", {"question": OBESITY}, 200),
                    ("GET", "/api/jobs", None, 200),
                    ("POST", "/api/global_mean", {"question": 3}, 400),
                    ("GET", "/api/get_results/job_id_999999", None, 404),
                    ("GET", "/api/no_such_thing", None, 404),
                    ("GET", "/api/states_mean", None, 405),
                    ("GET", "/api/num_jobs", None, 200)]
        socket_used = None
        for method, path, body, expected in requests:
            with self.subTest(method=method, path=path):
                payload = None if body is None else json.dumps(body).encode()
                connection.request(method, path, body=payload,
                                   headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                raw = response.read()
                self.assertEqual(response.status, expected)
                self.assertEqual(response.version, 11)
                self.assertEqual(response.getheader("Content-Type"), "application/json")
                self.assertEqual(int(response.getheader("Content-Length")), len(raw))
                self.assertIsNone(response.getheader("Connection"))
                self.assertIsInstance(json.loads(raw), dict)
                # The same socket serves every request: nothing reconnected.
                self.assertIsNotNone(connection.sock)
                socket_used = socket_used or connection.sock
                self.assertIs(connection.sock, socket_used)


def write_slow_csv(path: str) -> str:
    """One question, 40 locations x 500 groups: mean_by_category is a 20,000-key result."""
    rows = [data_row(OBESITY, f"Place {place:02d}", str(20 + (place * 7 + group) % 30),
                     "Group", f"Group {group:03d}")
            for place in range(40) for group in range(500)]
    return write_csv(path, rows)


class ShutdownTest(unittest.TestCase):
    """GET, POST and SIGTERM: refuse new jobs with 503, finish queued ones, exit 0."""

    QUEUED = 8

    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.mkdtemp(prefix="statsd-slow-")
        cls.slow_csv = write_slow_csv(os.path.join(cls.directory, "slow.csv"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.directory, ignore_errors=True)

    def start(self, *args, **options):
        server = ServerProcess(*args, **options).start()
        self.addCleanup(server.stop)
        client = server.client()
        self.addCleanup(client.close)
        return server, client

    def queue_slow_jobs(self, client):
        ids = []
        for _ in range(self.QUEUED):
            status, answer = client.post("mean_by_category", {"question": OBESITY})
            self.assertEqual(status, 200, answer)
            ids.append(answer["job_id"])
        return ids

    def assertAllDone(self, server, ids):
        """Every accepted job left the same complete result on disk."""
        contents = set()
        for job_id in ids:
            with open(os.path.join(server.results, f"{job_id}.json"), "rb") as handle:
                contents.add(handle.read())
        self.assertEqual(len(contents), 1)
        self.assertEqual(len(json.loads(contents.pop())), 40 * 500)
        self.assertEqual([name for name in os.listdir(server.results) if not name.endswith(".json")],
                         [], "no journal or temporary file left behind")

    def test_get_shutdown_refuses_new_jobs_and_finishes_queued_ones(self):
        server, client = self.start("--threads", "1", data=self.slow_csv)
        ids = self.queue_slow_jobs(client)
        status, answer = client.get("/api/num_jobs")
        self.assertEqual(status, 200)
        self.assertGreaterEqual(answer["num_jobs"], 1)  # one worker, 24 slow jobs
        self.assertLessEqual(answer["num_jobs"], self.QUEUED)
        status, answer = client.get("/api/graceful_shutdown")
        self.assertEqual((status, answer), (200, {"status": "shutting down"}))
        status, answer = client.post("global_mean", {"question": OBESITY})
        self.assertEqual((status, answer), (503, SHUTTING_DOWN))
        # Still answering about jobs while it drains.
        status, answer = client.get(f"/api/get_results/{ids[-1]}")
        self.assertEqual(status, 200)
        self.assertIn(answer["status"], ("running", "done"))
        self.assertEqual(client.get("/api/jobs")[0], 200)
        self.assertEqual(server.wait(), 0)
        self.assertAllDone(server, ids)
        self.assertIn(f"{ids[-1]} done", server.log_text())

    def test_an_idle_keep_alive_connection_does_not_hold_the_exit(self):
        with ServerProcess("--timeout", "60") as server:
            idle = server.client()
            self.assertEqual(idle.get("/api/num_jobs"), (200, {"num_jobs": 0}))  # stays open
            other = server.client()
            self.assertEqual(other.get("/api/graceful_shutdown"), (200, {"status": "done"}))
            # Well before the idle connection's 60 s timeout.
            self.assertEqual(server.wait(timeout=20), 0)
            idle.close()
            other.close()

    def test_post_shutdown_when_idle_answers_done_and_exits(self):
        server, client = self.start()
        data = client.run("global_mean", {"question": OBESITY})
        self.assertEqual(list(data), ["global_mean"])
        status, _, answer = client.request("POST", "/api/graceful_shutdown")
        self.assertEqual((status, answer), (200, {"status": "done"}))
        self.assertEqual(server.wait(), 0)
        self.assertNotIn("Traceback", server.output)

    def test_sigterm_refuses_new_jobs_and_finishes_queued_ones(self):
        server, client = self.start("--threads", "1", data=self.slow_csv)
        ids = self.queue_slow_jobs(client)
        server.signal(signal.SIGTERM)
        # The signal arrives asynchronously: jobs accepted until then must finish too.
        refusal = []

        def refused() -> bool:
            status, answer = client.post("global_mean", {"question": OBESITY})
            if status == 200:
                ids.append(answer["job_id"])
                return False
            refusal.append((status, answer))
            return True

        self.assertTrue(wait_for(refused, interval=0), "SIGTERM did not stop new jobs")
        self.assertEqual(refusal, [(503, SHUTTING_DOWN)])
        self.assertEqual(server.wait(), 0)
        for job_id in ids[self.QUEUED:]:
            self.assertEqual(list(read_json(os.path.join(server.results, f"{job_id}.json"))),
                             ["global_mean"])
        self.assertAllDone(server, ids[:self.QUEUED])

    def test_ctrl_c_when_idle_exits_0_without_a_traceback(self):
        server, client = self.start()
        job_id = client.post("best5", {"question": OBESITY})[1]["job_id"]
        server.signal(signal.SIGINT)
        self.assertEqual(server.wait(), 0)
        self.assertNotIn("Traceback", server.output)
        self.assertNotIn("KeyboardInterrupt", server.output)
        self.assertEqual(len(read_json(os.path.join(server.results, f"{job_id}.json"))), 5)
        self.assertIn("SIGINT", server.log_text())

    def test_log_lines_per_request_and_job_transition_in_utc(self):
        # A time zone 9 hours off UTC (POSIX TZ syntax, needs no tz database):
        # local timestamps would be caught.
        server, client = self.start(env={"TZ": "JST-9"})
        started = time.time()
        job_id = client.post("state_mean", {"question": OBESITY, "state": "Guam"})[1]["job_id"]
        client.wait_result(job_id)
        client.get("/api/num_jobs")
        client.get("/api/get_results/job_id_777")
        client.post("state_mean", {"question": OBESITY, "state": "Atlantis"})
        client.get("/api/graceful_shutdown")
        self.assertEqual(server.wait(), 0)
        finished = time.time()
        lines = server.log_text().splitlines()
        for line in lines:
            match = LOG_LINE.match(line)
            self.assertIsNotNone(match, f"not a log line: {line!r}")
            stamp = calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S"))
            # UTC: within a minute of the clock (JST would be 9 hours ahead).
            self.assertLess(abs(stamp - started), 60 + (finished - started), line)
        text = "\n".join(lines)

        def count(fragment):
            return sum(fragment in line for line in lines)

        self.assertEqual(count('"POST /api/state_mean" 200'), 1)
        self.assertIn(f"-> {job_id}", text)  # the request line names the job it created
        self.assertEqual(count('"POST /api/state_mean" 400'), 1)
        self.assertIn("Atlantis", text)
        self.assertEqual(count('"GET /api/num_jobs" 200'), 1)
        self.assertEqual(count('"GET /api/get_results/job_id_777" 404'), 1)
        self.assertGreaterEqual(count(f'"GET /api/get_results/{job_id}" 200'), 1)
        self.assertEqual(count('"GET /api/graceful_shutdown" 200'), 1)
        for transition in ("queued", "done in"):
            self.assertEqual(count(f"{job_id} {transition}"), 1, transition)
        self.assertEqual(count(f"{job_id} running"), 0)  # "done" carries the run time


class RestartTest(unittest.TestCase):
    """A new process over the same results/ keeps old results and never reuses an id."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="statsd-restart-")
        self.addCleanup(shutil.rmtree, self.directory, True)

    def serve(self):
        server = ServerProcess(directory=self.directory, keep_directory=True).start()
        self.addCleanup(server.stop)
        client = server.client()
        self.addCleanup(client.close)
        return server, client

    def stop(self, server, client):
        self.assertEqual(client.get("/api/graceful_shutdown")[0], 200)
        self.assertEqual(server.wait(), 0)
        client.close()

    def test_restart_keeps_results_and_continues_ids(self):
        requests = [("states_mean", {"question": OBESITY}),
                    ("state_mean_by_category", {"question": OBESITY, "state": "Virgin Islands"}),
                    ("best5", {"question": OBESITY})]
        server, client = self.serve()
        first = {}
        for endpoint, body in requests:
            job_id = client.post(endpoint, body)[1]["job_id"]
            first[job_id] = client.wait_result(job_id)
        self.assertEqual(list(first), ["job_id_1", "job_id_2", "job_id_3"])
        self.stop(server, client)

        server, client = self.serve()
        for job_id, result in first.items():
            self.assertEqual(client.wait_result(job_id), result, job_id)
        self.assertEqual(client.get("/api/jobs")[1]["data"],
                         [{"job_id_1": "done"}, {"job_id_2": "done"}, {"job_id_3": "done"}])
        self.assertEqual(client.get("/api/num_jobs")[1], {"num_jobs": 0})
        self.assertEqual(client.post("global_mean", {"question": OBESITY})[1],
                         {"job_id": "job_id_4"})
        client.wait_result("job_id_4")
        self.stop(server, client)

        # Ids go on after the highest result, whatever is missing below it.
        os.remove(os.path.join(self.directory, "results", "job_id_1.json"))
        server, client = self.serve()
        self.assertEqual(client.wait_result("job_id_3"), first["job_id_3"])
        self.assertEqual(client.post("global_mean", {"question": OBESITY})[1],
                         {"job_id": "job_id_5"})
        # Its file is gone: not done but expired, as a result deleted by --results-ttl.
        self.assertEqual(client.get("/api/get_results/job_id_1"),
                         (410, {"status": "error", "reason": "result expired"}))
        self.assertEqual(client.get("/api/jobs?last=5")[1]["data"][0], {"job_id_1": "expired"})


class SecondInstanceTest(unittest.TestCase):
    """A second statsd over the same results/ stops before it touches anything."""

    def test_results_directory_in_use(self):
        with ServerProcess() as first:
            client = first.client()
            client.run("global_mean", {"question": OBESITY})  # job_id_1
            # A temporary file as a write in progress would leave it.
            in_progress = os.path.join(first.results, ".job_id_2.json.tmp")
            with open(in_progress, "wb") as handle:
                handle.write(b"{")
            result = run_statsd("--port", "0", "--results", first.results, cwd=first.directory)
            self.assertEqual(result.returncode, 2)
            lines = result.stderr.splitlines()
            self.assertEqual(lines[-1], f"statsd: error: results directory {first.results} "
                                        "is in use by another statsd", result.stderr)
            self.assertNotIn("Traceback", result.stderr)
            self.assertTrue(os.path.exists(in_progress))
            # The first one is untouched: same ids, same results.
            self.assertEqual(client.post("global_mean", {"question": OBESITY})[1],
                             {"job_id": "job_id_2"})
            client.close()


class StopWhileLoadingTest(unittest.TestCase):
    """SIGTERM or Ctrl-C while the CSV loads: one line, exit 0, no traceback."""

    def test_sigterm_while_loading(self):
        directory = tempfile.mkdtemp(prefix="statsd-loading-")
        self.addCleanup(shutil.rmtree, directory, True)
        fifo = os.path.join(directory, "slow.csv")
        os.mkfifo(fifo)  # the load waits on it for as long as we hold it
        env = dict(os.environ, PYTHONPATH=PROJECT)
        process = subprocess.Popen([sys.executable, "-m", "statsd", "--port", "0", "--data", fifo],
                                   cwd=directory, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: process.poll() is None and process.kill())
        writers = []

        def opened() -> bool:  # the server has opened the file: it is loading
            try:
                writers.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                return False
            return True

        self.assertTrue(wait_for(opened, timeout=20), "statsd never opened the data file")
        writer = writers[0]
        try:
            os.write(writer, ",".join(original_header()).encode() + b"\n")
            time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=20)
        finally:
            os.close(writer)
        self.assertEqual(process.returncode, 0, stderr)
        self.assertEqual(stderr.strip(), "statsd: stopped before serving")
        self.assertNotIn("serving on", stdout)


class CommandLineTest(unittest.TestCase):
    """What the command prints when it does not serve."""

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="statsd-cli-")
        self.addCleanup(shutil.rmtree, self.directory, True)

    def assertOneLineError(self, result, *words):
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(result.stdout, "")
        lines = result.stderr.splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertTrue(lines[0].startswith("statsd: error: "), lines[0])
        for word in words:
            self.assertIn(word, lines[0])

    def test_help(self):
        result = run_statsd("--help", cwd=self.directory)
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stderr, "")
        self.assertTrue(result.stdout.startswith("usage: statsd"), result.stdout)
        for option in ("--host", "--port", "--data", "--results", "--threads", "--log-file",
                       "TP_NUM_OF_THREADS", "graceful_shutdown"):
            self.assertIn(option, result.stdout)
        self.assertNotIn("(default: None)", result.stdout)

    def test_missing_data_file(self):
        result = run_statsd("--data", "missing.csv", cwd=self.directory)
        self.assertOneLineError(result, "missing.csv")

    def test_data_file_without_a_needed_column(self):
        header = [name for name in original_header() if name != "Stratification1"]
        path = write_csv(os.path.join(self.directory, "partial.csv"),
                         [data_row(OBESITY, "Guam", "30")], header=header)
        result = run_statsd("--data", path, cwd=self.directory)
        self.assertOneLineError(result, "partial.csv", "'Stratification1'")

    def test_port_out_of_range(self):
        # A usage error: argparse's usage lines, then one error line, exit 2.
        for port in ("65536", "-1"):
            with self.subTest(port=port):
                result = run_statsd("--port", port, cwd=self.directory)
                self.assertEqual(result.returncode, 2)
                self.assertNotIn("Traceback", result.stderr)
                self.assertTrue(result.stderr.startswith("usage: statsd"), result.stderr)
                self.assertRegex(result.stderr.splitlines()[-1],
                                 f"^statsd: error: argument --port: .*{port}$")

    def test_bad_settings_print_one_line(self):
        result = run_statsd(cwd=self.directory, env={"TP_NUM_OF_THREADS": "many"})
        self.assertOneLineError(result, "TP_NUM_OF_THREADS", "many")
        missing = os.path.join(self.directory, "no", "such", "dir", "webserver.log")
        result = run_statsd("--log-file", missing, cwd=self.directory)
        self.assertOneLineError(result, missing)


if __name__ == "__main__":
    unittest.main()
