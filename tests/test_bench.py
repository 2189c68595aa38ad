"""``python3 -m statsd.tools.bench`` end to end with tiny settings: it runs, and reports sense.

No timing is asserted (the machine is shared and noisy): the test checks that
every part of the benchmark ran against real servers over real sockets (the
bare ceiling, the shape ceiling and statsd), that the load generator's
operations really succeeded (no errors, statsd's result files on disk), and
that the ratios in the report are the quotients of the figures next to them,
taken against the right reference: statsd's cycle and post against the shape
ceiling, its get against the bare one.
"""

import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from support import PROJECT, SAMPLE_CSV

from statsd.tools import bench, ceilings, opcost, synthetic


class BenchSmokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.TemporaryDirectory(prefix="statsd-bench-test-")
        cls.output = os.path.join(cls.directory.name, "report.json")
        # 3,000 rows: every question and state the load generator asks for has data
        # (with fewer, some requests are rightly refused and counted as errors).
        # One load process (two client threads) and 0.3 s windows: the report
        # needs some operations in each window, not many.
        command = [sys.executable, "-m", "statsd.tools.bench", "--rows", "3000", "--repeat", "2",
                   "--duration", "0.3", "--rounds", "1", "--warmup", "0.05", "--clients", "2",
                   "--load-processes", "1", "--jobs", "10,30", "--file-cost-files", "100",
                   # An A/B of an option in the same turns: statsd against itself with one worker.
                   "--baseline", PROJECT, "--baseline-args", "--threads 1", "--workdir", cls.directory.name, "--output", cls.output]
        cls.completed = subprocess.run(command, cwd=PROJECT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, timeout=120)
        with open(cls.output, encoding="utf-8") as handle:
            cls.report = json.load(handle)

    @classmethod
    def tearDownClass(cls):
        cls.directory.cleanup()

    def test_exits_0_and_prints_the_table(self):
        self.assertEqual(self.completed.returncode, 0, self.completed.stderr)
        self.assertIn("| ingest | rows |", self.completed.stdout)
        self.assertIn("| mode | clients | server |", self.completed.stdout)
        self.assertIn("| target | measured | met |", self.completed.stdout)
        self.assertIn(f"written to {self.output}", self.completed.stdout)
        # Its scratch files are gone; only the report is left.
        self.assertEqual(os.listdir(self.directory.name), ["report.json"])

    def assertRatiosByRound(self, shown, median, mine, theirs):
        """``shown`` is each round's CPU time of ``mine`` over ``theirs``, ``median`` their median."""
        by_round = [run / other for run, other in zip(mine["cpu_seconds_all"],
                                                      theirs["cpu_seconds_all"])]
        self.assertEqual(len(shown), len(by_round))
        for ratio, computed in zip(shown, by_round):
            # rounded to 3 places, and computed here from times rounded to 1 us
            self.assertAlmostEqual(ratio, computed, delta=0.01 * computed)
        self.assertAlmostEqual(median, statistics.median(by_round), delta=0.01 * median)

    def test_ingest_compares_statsd_with_the_csv_reader_pass(self):
        floor, statsd, baseline = self.report["ingest"]  # the run has a --baseline
        self.assertEqual((floor["kind"], statsd["kind"], baseline["kind"]),
                         ("csv", "statsd", "baseline"))
        for row in (floor, statsd, baseline):
            self.assertEqual(row["rows"], 3000)
            self.assertGreater(row["seconds"], 0)
            self.assertGreater(row["peak_rss_mb"], 1)
        # The target's ratio: the median of each round's statsd / csv pass, in round order;
        # the baseline's rows the same, and statsd / baseline by round (the run has --baseline).
        for row in (statsd, baseline):
            self.assertEqual(len(row["time_ratio_by_round"]), row["runs"])
            self.assertRatiosByRound(row["time_ratio_by_round"], row["time_ratio"], row, floor)
        self.assertRatiosByRound(statsd["baseline_ratio_by_round"], statsd["baseline_ratio"],
                                 statsd, baseline)
        self.assertNotIn("baseline_ratio", baseline)
        # The times shown are the best of each kind, and so is the ratio beside them.
        for row in (floor, statsd):
            self.assertAlmostEqual(row["cpu_seconds"], min(row["cpu_seconds_all"]), places=3)
        self.assertAlmostEqual(statsd["best_time_ratio"],
                               statsd["cpu_seconds"] / floor["cpu_seconds"])
        self.assertAlmostEqual(statsd["wall_ratio"], statsd["seconds"] / floor["seconds"])
        self.assertGreater(statsd["job_us"], 0)

    def test_every_mode_ran_against_every_server_without_errors(self):
        runs = {(row["mode"], row["server"]): row for row in self.report["serving"]}
        self.assertEqual(set(runs), {(mode, server) for mode in bench.MODES
                                     for server in ("bare", "statsd", "baseline")}
                         | {("cycle", "shape"), ("post", "shape")})
        for (mode, server), row in runs.items():
            with self.subTest(mode=mode, server=server):
                self.assertEqual(row["clients"], 2)
                self.assertEqual(row["errors"], 0, row["error_kinds"])
                self.assertGreater(row["operations"], 0)
                self.assertGreaterEqual(row["requests"], row["operations"])
                self.assertLessEqual(row["p50_ms"], row["p90_ms"])
                self.assertLessEqual(row["p90_ms"], row["p99_ms"])
                self.assertGreater(row["rss_mb"], 1)
                self.assertGreaterEqual(row["switches_per_op"], 0)
        # A cycle polls until the job is done: at least one GET per POST.
        for server in ("shape", "statsd"):
            self.assertGreaterEqual(runs[("cycle", server)]["requests"],
                                    2 * runs[("cycle", server)]["operations"])

    def test_ratios_are_taken_against_the_reference_of_each_mode(self):
        runs = {(row["mode"], row["server"]): row for row in self.report["serving"]}
        expected = {("cycle", "statsd"): "shape", ("post", "statsd"): "shape",
                    ("get", "statsd"): "bare", ("cycle", "shape"): "bare",
                    ("post", "shape"): "bare"}
        for (mode, server), reference in expected.items():
            with self.subTest(mode=mode, server=server):
                row, other = runs[(mode, server)], runs[(mode, reference)]
                self.assertEqual(row["reference"], reference)
                for field in ("ops_per_s", "p99_ms", "cpu_ms_per_op"):
                    self.assertAlmostEqual(row[f"{field}_ratio"], row[field] / other[field])
                    self.assertAlmostEqual(row["ratios"][reference][field], row[f"{field}_ratio"])
        # statsd's cycle is also given against the bare ceiling, for the record.
        statsd = runs[("cycle", "statsd")]
        self.assertAlmostEqual(statsd["ratios"]["bare"]["ops_per_s"],
                               statsd["ops_per_s"] / runs[("cycle", "bare")]["ops_per_s"])
        self.assertIsNone(runs[("get", "bare")]["reference"])
        # And against the baseline of --baseline, with the same reference as statsd's.
        for mode in bench.MODES:
            statsd, baseline = runs[(mode, "statsd")], runs[(mode, "baseline")]
            self.assertEqual(baseline["reference"], statsd["reference"])
            self.assertAlmostEqual(statsd["ratios"]["baseline"]["ops_per_s"],
                                   statsd["ops_per_s"] / baseline["ops_per_s"])
        self.assertIn("statsd / baseline (", self.completed.stdout)
        self.assertIn("x shape)", self.completed.stdout)

    def test_ops_are_also_paired_by_round(self):
        runs = {(row["mode"], row["server"]): row for row in self.report["serving"]}
        for (mode, server), row in runs.items():
            for other, paired in row["by_round"].items():
                with self.subTest(mode=mode, server=server, other=other):
                    theirs = runs[(mode, other)]
                    computed = [mine / them for mine, them in zip(row["ops_per_s_rounds"],
                                                                  theirs["ops_per_s_rounds"])]
                    self.assertEqual(len(paired["ops_per_s"]), row["rounds"])
                    for shown, expected in zip(paired["ops_per_s"], computed):
                        # from rates rounded to 0.1 op/s here, to 3 places there
                        self.assertAlmostEqual(shown, expected, delta=0.01 * expected + 0.002)
                    self.assertAlmostEqual(paired["median"], statistics.median(computed),
                                           delta=0.01 * paired["median"] + 0.002)
        self.assertIn("ops/s paired by round", self.completed.stdout)
        self.assertIn("cycle 2 statsd/shape: ", self.completed.stdout)

    def test_result_file_cost_is_measured_where_the_servers_write(self):
        rows = self.report["file_cost"]
        self.assertIn(os.path.realpath(self.directory.name),
                      os.path.realpath(rows[0]["directory"]))
        for row in rows:
            with self.subTest(directory=row["directory"]):
                self.assertEqual(row["files"], 100)
                self.assertGreater(row["cpu_us"], 0)
                self.assertGreater(row["wall_us"], 0)
                self.assertNotEqual(row["filesystem"], "")
        # Measured again after a deletion, in the servers' results/ only.
        self.assertGreater(rows[0]["after_delete_cpu_us"], 0)
        self.assertGreater(rows[0]["after_delete_wall_us"], 0)
        self.assertTrue(all("after_delete_cpu_us" not in row for row in rows[1:]))
        self.assertIn("| a result file: create + write + rename |", self.completed.stdout)
        self.assertIn("s after deleting them |", self.completed.stdout)

    def test_a_stopped_server_keeps_its_result_files_for_the_end_of_the_run(self):
        # Deleting them would make the next server's files dearer (bench_file_cost).
        with tempfile.TemporaryDirectory(prefix="statsd-bench-test-") as directory:
            run, server = counted_statsd_run(directory, "cycle", 1, 3)
            self.assertEqual(run["errors"], {})
            results = os.path.join(server.directory, "results")
            self.assertEqual(len([name for name in os.listdir(results)
                                  if name.startswith("job_id_")]), 3)

    def test_memory_check_ran_every_job_to_a_result_file(self):
        memory = self.report["job_memory"]
        self.assertEqual((memory["jobs_first"], memory["jobs_total"]), (10, 30))
        self.assertEqual(memory["errors"], 0)
        self.assertEqual(memory["result_files"], 30)
        self.assertGreater(memory["rss_total_mb"], 1)

    def test_targets_are_reported(self):
        targets = {item["target"]: item for item in self.report["targets"]}
        self.assertEqual(set(targets), {
            "ingest CPU time / csv.reader pass, median by round (<= 1.5x)",
            "peak RSS loading 1,000,000 rows (< 250 MB)",
            "get req/s / bare ceiling, 2 clients (>= 0.9x)",
            "cycle pairs/s / shape ceiling, 2 clients (>= 0.8x)",
            "post job ids/s / shape ceiling, 2 clients (>= 0.8x)",
            "job-id p99 / shape ceiling's, 2 clients (<= 1.5x)",
            "errors in every serving run, ceilings included, and the memory check (0)",
            "RSS growth from 10 to 30 jobs (<= 30 MB)"})
        self.assertIsNone(targets["peak RSS loading 1,000,000 rows (< 250 MB)"]["value"])
        runs = {(row["mode"], row["server"]): row for row in self.report["serving"]}
        cycle = targets["cycle pairs/s / shape ceiling, 2 clients (>= 0.8x)"]
        self.assertAlmostEqual(cycle["value"], runs[("cycle", "statsd")]["ops_per_s_ratio"],
                               places=3)
        self.assertEqual(cycle["met"], cycle["value"] >= 0.8)
        self.assertEqual(targets["errors in every serving run, ceilings included, and the "
                                 "memory check (0)"]["value"], 0)


def counted_statsd_run(directory: str, mode: str, clients: int, count: int):
    """``count`` operations of ``mode`` from ``clients`` clients on a statsd under ``directory``:
    the run, and the server (stopped)."""
    server = bench.ServerUnderTest("statsd", SAMPLE_CSV, directory)
    try:
        run = bench.drive(server, mode, clients, 1, duration=0.0, warmup=0.0, seed=1, count=count)
    finally:
        server.stop()
    return run, server


class DonePrefixTest(unittest.TestCase):
    """The load reads a done result without decoding it: statsd and the shape ceiling both
    start it with ``bench.DONE_PREFIX``, so neither is read differently."""

    def test_both_servers_answer_a_done_result_with_the_prefix(self):
        self.assertIn(b"\r\n\r\n" + bench.DONE_PREFIX, ceilings.DONE)
        with tempfile.TemporaryDirectory(prefix="statsd-bench-test-") as directory:
            server = bench.ServerUnderTest("statsd", SAMPLE_CSV, directory)
            try:
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                connection.request("POST", "/api/best5", body=json.dumps(
                    {"question": synthetic.QUESTIONS[0][0]}).encode())
                job_id = json.loads(connection.getresponse().read())["job_id"]
                connection.request("GET", f"/api/get_results/{job_id}?wait=10")
                answer = connection.getresponse().read()
                connection.close()
            finally:
                server.stop()
        self.assertTrue(answer.startswith(bench.DONE_PREFIX), answer[:80])


class NoOperationTest(unittest.TestCase):
    """A run that completed no operation is an error in the report, never a division by 0.

    A window of 0 seconds holds no whole operation, like the window of a load
    process that started too late on a busy machine (which once made the
    report divide by the ceiling's 0 operations).
    """

    def test_an_empty_window_is_reported_as_an_error(self):
        with tempfile.TemporaryDirectory(prefix="statsd-bench-test-") as directory:
            server = bench.ServerUnderTest("bare", "", directory)
            try:
                run = bench.drive(server, "get", 2, 1, duration=0.0, warmup=0.0, seed=1)
            finally:
                server.stop()
        self.assertEqual(run["latencies"], [])
        self.assertEqual(run["errors"], {"no operation completed in the window": 1})
        row = bench.summarize([run])
        self.assertEqual((row["ops_per_s"], row["errors"]), (0.0, 1))
        self.assertIsNone(bench.ratios(row, row)["ops_per_s"])


class ContextSwitchesTest(unittest.TestCase):
    """The bench's context-switch reading counts a thread that blocks, and never goes negative."""

    def test_a_thread_that_sleeps_ten_times_switches_at_least_ten_times(self):
        before = bench.context_switches(os.getpid())
        started, finish = threading.Event(), threading.Event()

        def sleeper() -> None:
            for _ in range(10):
                time.sleep(0.002)  # each sleep: the thread stops, a voluntary switch
            started.set()
            finish.wait(10)

        thread = threading.Thread(target=sleeper)
        thread.start()
        try:
            self.assertTrue(started.wait(10))
            after = bench.context_switches(os.getpid())
        finally:
            finish.set()
            thread.join(10)
        self.assertGreaterEqual(bench.switches_between(before, after), 10)
        self.assertEqual(bench.switches_between(after, after), 0)
        # A thread gone by the second reading is left out, not subtracted.
        self.assertEqual(bench.switches_between({**after, "999999999": 10**9}, after), 0)

    def test_a_timed_run_counts_the_switches_of_threads_that_serve_one_connection(self):
        # The bare ceiling has a thread per connection, which ends when its
        # connection closes: the clients keep theirs open until the bench
        # has read the counters.
        with tempfile.TemporaryDirectory(prefix="statsd-bench-test-") as directory:
            server = bench.ServerUnderTest("bare", "", directory)
            try:
                run = bench.drive(server, "get", 2, 1, duration=0.5, warmup=0.1, seed=1)
            finally:
                server.stop()
        self.assertEqual(run["errors"], {})
        self.assertGreater(len(run["latencies"]), 0)
        # Each GET found its connection's thread waiting for it in recv.
        self.assertGreaterEqual(run["switches"], len(run["latencies"]))

    def test_a_run_of_counted_operations_reads_them_after_the_last_one(self):
        with tempfile.TemporaryDirectory(prefix="statsd-bench-test-") as directory:
            run, _ = counted_statsd_run(directory, "get", 2, 20)
        self.assertEqual(len(run["latencies"]), 20)
        # Each GET found its handler thread waiting for it in a blocking recv.
        self.assertGreaterEqual(run["switches"], 20)


class WorkdirTest(unittest.TestCase):
    """``--workdir`` that is not a directory: one line and exit 2, from each tool that takes it."""

    def test_each_tool_refuses_a_missing_directory(self):
        with tempfile.TemporaryDirectory(prefix="statsd-bench-test-") as directory:
            missing = os.path.join(directory, "missing")
            for tool in ("bench", "opcost", "serverprofile"):
                with self.subTest(tool=tool):
                    completed = subprocess.run(
                        [sys.executable, "-m", f"statsd.tools.{tool}", "--workdir", missing],
                        cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                        timeout=60)
                    self.assertEqual(completed.returncode, 2, completed.stderr)
                    self.assertIn(f"argument --workdir: '{missing}' is not a directory",
                                  completed.stderr)
                    self.assertNotIn("Traceback", completed.stderr)
                    self.assertFalse(os.path.exists(missing))


class InstructionCountTest(unittest.TestCase):
    """``opcost --instructions``: counts read from valgrind, one operation's share of them."""

    class Stopped:
        kind = "statsd"

        def __init__(self, stderr: str) -> None:
            self.stderr = stderr

        def stop(self) -> str:
            return self.stderr

    def test_the_count_is_read_from_valgrinds_summary(self):
        summary = "==4242== \n==4242== I   refs:      1,234,567\n"
        self.assertEqual(opcost.instructions(self.Stopped(summary), "get", [], 0), 1234567)
        with self.assertRaisesRegex(RuntimeError, "no instruction count from valgrind"):
            opcost.instructions(self.Stopped("valgrind: not found"), "get", [], 0)

    @unittest.skipUnless(shutil.which("valgrind"), "valgrind is not installed "
                         "(Debian: apt-get install valgrind); the count parsing is tested above")
    def test_a_run_under_cachegrind_gives_both_servers_a_count_and_their_ratio(self):
        # One round of few operations: a count is steady to about a million
        # instructions a run, so no magnitude is asserted, only that each
        # server was counted and the ratio is the quotient of the counts shown.
        completed = subprocess.run(
            [sys.executable, "-m", "statsd.tools.opcost", "--instructions", "--modes", "get",
             "--rounds", "1", "--operations", "100", "--rows", "2000"],
            cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
        self.assertEqual(completed.returncode, 0, completed.stderr[-2000:])
        self.assertIn("| mode | server | instructions per op, best | median | ratio (median) |",
                      completed.stdout)
        rows = {line.split("|")[2].strip(): line.split("|")
                for line in completed.stdout.splitlines() if line.startswith("| get |")}
        self.assertEqual(set(rows), {"bare ceiling", "statsd"})
        counts = {server: float(row[4].strip().replace(",", "")) for server, row in rows.items()}
        ratio = float(rows["statsd"][5].split("x")[0])
        self.assertAlmostEqual(ratio, counts["statsd"] / counts["bare ceiling"], delta=0.01)


class PercentileTest(unittest.TestCase):
    def test_nearest_rank(self):
        values = list(range(1, 101))
        self.assertEqual(bench.percentile(values, 0.50), 50)
        self.assertEqual(bench.percentile(values, 0.99), 99)
        self.assertEqual(bench.percentile([7.0], 0.99), 7.0)
        self.assertEqual(bench.percentile([], 0.5), 0.0)


if __name__ == "__main__":
    unittest.main()
