"""``python3 -m statsd.tools.bench`` end to end with tiny settings: it runs, and reports sense.

No timing is asserted (the machine is shared and noisy): the test checks that
every part of the benchmark ran against real servers over real sockets, that
the load generator's operations really succeeded (no errors, statsd's result
files on disk), and that the ratios in the report are the quotients of the
figures next to them.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

from support import PROJECT

from statsd.tools import bench


class BenchSmokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.directory = tempfile.TemporaryDirectory(prefix="statsd-bench-test-")
        cls.output = os.path.join(cls.directory.name, "report.json")
        command = [sys.executable, "-m", "statsd.tools.bench", "--rows", "3000", "--repeat", "1",
                   "--duration", "0.6", "--rounds", "1", "--warmup", "0.1", "--clients", "2",
                   "--jobs", "20,60", "--workdir", cls.directory.name, "--output", cls.output]
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

    def test_ingest_compares_statsd_with_the_csv_reader_pass(self):
        floor, statsd = self.report["ingest"]
        self.assertEqual((floor["kind"], statsd["kind"]), ("csv", "statsd"))
        for row in (floor, statsd):
            self.assertEqual(row["rows"], 3000)
            self.assertGreater(row["seconds"], 0)
            self.assertGreater(row["peak_rss_mb"], 1)
        self.assertAlmostEqual(statsd["time_ratio"], statsd["seconds"] / floor["seconds"])
        self.assertGreater(statsd["job_us"], 0)

    def test_every_mode_ran_against_both_servers_without_errors(self):
        runs = {(row["mode"], row["server"]): row for row in self.report["serving"]}
        self.assertEqual(set(runs), {(mode, server) for mode in bench.MODES
                                     for server in ("ceiling", "statsd")})
        for (mode, server), row in runs.items():
            with self.subTest(mode=mode, server=server):
                self.assertEqual(row["clients"], 2)
                self.assertEqual(row["errors"], 0, row["error_kinds"])
                self.assertGreater(row["operations"], 0)
                self.assertGreaterEqual(row["requests"], row["operations"])
                self.assertLessEqual(row["p50_ms"], row["p90_ms"])
                self.assertLessEqual(row["p90_ms"], row["p99_ms"])
                self.assertGreater(row["rss_mb"], 1)
        for mode in bench.MODES:
            statsd, ceiling = runs[(mode, "statsd")], runs[(mode, "ceiling")]
            self.assertAlmostEqual(statsd["ops_per_s_ratio"],
                                   statsd["ops_per_s"] / ceiling["ops_per_s"])
            self.assertAlmostEqual(statsd["p99_ms_ratio"], statsd["p99_ms"] / ceiling["p99_ms"])
        # A cycle polls until the job is done: at least one GET per POST.
        self.assertGreaterEqual(runs[("cycle", "statsd")]["requests"],
                                2 * runs[("cycle", "statsd")]["operations"])

    def test_memory_check_ran_every_job_to_a_result_file(self):
        memory = self.report["job_memory"]
        self.assertEqual((memory["jobs_first"], memory["jobs_total"]), (20, 60))
        self.assertEqual(memory["errors"], 0)
        self.assertEqual(memory["result_files"], 60)
        self.assertGreater(memory["rss_total_mb"], 1)

    def test_targets_are_reported(self):
        names = [item["target"] for item in self.report["targets"]]
        self.assertEqual(len(names), 7)
        million = next(item for item in self.report["targets"] if "1,000,000" in item["target"])
        self.assertIsNone(million["value"])  # not a --full run


class PercentileTest(unittest.TestCase):
    def test_nearest_rank(self):
        values = list(range(1, 101))
        self.assertEqual(bench.percentile(values, 0.50), 50)
        self.assertEqual(bench.percentile(values, 0.99), 99)
        self.assertEqual(bench.percentile([7.0], 0.99), 7.0)
        self.assertEqual(bench.percentile([], 0.5), 0.0)


if __name__ == "__main__":
    unittest.main()
