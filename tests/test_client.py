"""python3 -m statsd.client against a real server.

Results are compared with the shared conformance answers (computed
independently of statsd); errors must exit non-zero with the server's reason.
"""

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from statistics import mean
from typing import Tuple

import reference
from inprocess import InProcessServer
from support import (OBESITY, PROJECT, ServedTestCase, ServerProcess, assert_close,
                     conformance_cases)

from statsd import client


class ClientCase(ServedTestCase):
    """Runs the client in this process against the class's server."""

    #: Options put before every command line, after ``--server``.
    options: Tuple[str, ...] = ()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.url = f"http://127.0.0.1:{cls.server.port}"

    def run_client(self, *argv, expect=0):
        stdout, stderr = io.StringIO(), io.StringIO()
        code = client.main(["--server", self.url, *self.options, *argv], stdout=stdout,
                           stderr=stderr)
        self.assertEqual(code, expect, f"{argv}: {stderr.getvalue()}")
        return stdout.getvalue(), stderr.getvalue()


def one_case_per_statistic():
    """The first shared conformance case of each statistic, in the cases' order."""
    first = {}
    for case in conformance_cases():
        first.setdefault(case[0], case)
    return list(first.values())


class ClientTest(ClientCase):

    def test_every_statistic_matches_the_conformance_answers(self):
        cases = one_case_per_statistic()
        for endpoint, name, body, expected in cases:
            with self.subTest(case=name):
                argv = ["--json", endpoint, "--question", body["question"]]
                if "state" in body:
                    argv += ["--state", body["state"]]
                out, err = self.run_client(*argv)
                answer = json.loads(out)
                self.assertEqual(answer["status"], "done")
                assert_close(self, answer["data"], expected, where=name)
                self.assertEqual(list(answer["data"]), list(expected))
                self.assertRegex(err, r"job_id_\d+: done in \d+\.\d\d s")
        self.assertEqual(len(cases), 9)

    def test_readable_table_and_question_by_number_or_piece(self):
        expected = self.client.run("best5", {"question": OBESITY})
        questions = [item["question"] for item in
                     self.client.get("/api/questions")[1]["data"]]
        for given in (OBESITY, "obesity", str(questions.index(OBESITY) + 1)):
            with self.subTest(question=given):
                out, _ = self.run_client("best5", "--question", given)
                lines = out.splitlines()
                self.assertEqual(lines[0], OBESITY)
                self.assertEqual(lines[1].split(), ["rank", "location", "mean"])
                rows = [line.split() for line in lines[3:]]
                self.assertEqual(len(rows), 5)
                for (rank, *location, mean), (name, value) in zip(rows, expected.items()):
                    self.assertEqual(" ".join(location), name)
                    self.assertAlmostEqual(float(mean), value, delta=0.0005)

    def test_state_statistic_table(self):
        out, _ = self.run_client("state_mean_by_category", "-q", OBESITY, "--state", "ohio")
        expected = self.client.run("state_mean_by_category",
                                            {"question": OBESITY, "state": "Ohio"})["Ohio"]
        lines = out.splitlines()
        self.assertEqual(lines[1].split(), ["location", "category", "stratification", "mean"])
        self.assertEqual(len(lines), 3 + len(expected))
        for line, value in zip(lines[3:], expected.values()):
            self.assertTrue(line.startswith("Ohio "), line)
            self.assertAlmostEqual(float(line.split()[-1]), value, delta=0.0005)

    def test_jobs_num_jobs_questions_states_result(self):
        out, _ = self.run_client("--json", "global_mean", "-q", OBESITY)
        job_ids = [entry for entry in json.loads(self.run_client("--json", "jobs")[0])["data"]]
        self.assertTrue(job_ids)
        out, _ = self.run_client("jobs")
        self.assertIn("job_id_1", out)
        self.assertRegex(out, r"job_id_1\s+done")
        out, _ = self.run_client("num_jobs")
        self.assertRegex(out, r"^\d+ jobs queued or running\n$")
        out, _ = self.run_client("questions")
        self.assertIn(OBESITY, out)
        out, _ = self.run_client("states", "--question", "fruit")
        self.assertEqual(out.split("\n")[:-1], self.client.get(
            "/api/states?question=Percent+of+adults+who+report+consuming+fruit+less+than+"
            "one+time+daily")[1]["data"])
        out, _ = self.run_client("--json", "result", "job_id_1")
        self.assertEqual(json.loads(out)["status"], "done")

    def test_errors_exit_non_zero_with_the_reason(self):
        _, err = self.run_client("state_mean", "-q", OBESITY, "-s", "Atlantis", expect=1)
        self.assertIn("unknown state 'Atlantis' (HTTP 400)", err)
        _, err = self.run_client("best5", "-q", "no such words", expect=1)
        self.assertIn("no question matches 'no such words'", err)
        _, err = self.run_client("best5", "-q", "aerobic", expect=1)
        self.assertIn("matches 3 questions", err)
        _, err = self.run_client("result", "job_id_999999", expect=1)
        self.assertIn("Invalid job_id (HTTP 404)", err)
        stdout, stderr = io.StringIO(), io.StringIO()
        code = client.main(["--server", "http://127.0.0.1:9", "jobs"], stdout=stdout, stderr=stderr)
        self.assertEqual(code, 3)
        self.assertIn("cannot reach http://127.0.0.1:9", stderr.getvalue())

    def test_a_failed_job_exits_1_with_its_id_and_reason(self):
        with InProcessServer(workers=1) as server:
            for kind in ("json", "error"):  # job_id_1's result lands on a full disk
                os.symlink("/dev/full", os.path.join(server.results, f".job_id_1.{kind}.tmp"))
            stdout, stderr = io.StringIO(), io.StringIO()
            code = client.main(["--server", f"http://127.0.0.1:{server.port}",
                                "best5", "-q", "obesity"], stdout=stdout, stderr=stderr)
            self.assertEqual(code, 1)
            self.assertIn("job_id_1: error in", stderr.getvalue())
            self.assertIn("job_id_1: result could not be written: No space left on device",
                          stderr.getvalue())
            self.assertEqual(stdout.getvalue(), "")
        _, err = self.run_client("best5", "-q", "\u00b2", expect=1)  # a digit, but not 0-9
        self.assertIn("no question matches", err)

    def run_bare(self, *argv, expect=0):
        """The client with exactly ``argv`` (no --server put first)."""
        stdout, stderr = io.StringIO(), io.StringIO()
        code = client.main(list(argv), stdout=stdout, stderr=stderr)
        self.assertEqual(code, expect, f"{argv}: {stderr.getvalue()}")
        return stdout.getvalue(), stderr.getvalue()

    def test_options_anywhere_on_the_line(self):
        expected = self.client.run("best5", {"question": OBESITY})
        for argv in (["--json", "--server", self.url, "best5", "-q", "obesity"],
                     ["best5", "-q", "obesity", "--json", "--server", self.url],
                     ["--server", self.url, "best5", "--json", "-q", "obesity", "--quiet"]):
            with self.subTest(argv=argv):
                out, err = self.run_bare(*argv)
                self.assertEqual(json.loads(out), {"status": "done", "data": expected})
                if "--quiet" in argv:
                    self.assertEqual(err, "")
        # Given after the command, an option wins over the same one before it.
        out, _ = self.run_bare("--server", "127.0.0.1:9", "num_jobs", "--server", self.url)
        self.assertRegex(out, r"^\d+ jobs queued or running\n$")

    def test_server_as_host_port_without_scheme(self):
        for address in (f"127.0.0.1:{self.server.port}", f"localhost:{self.server.port}",
                        f"http://127.0.0.1:{self.server.port}/"):
            with self.subTest(address=address):
                out, _ = self.run_bare("--server", address, "--json", "num_jobs")
                self.assertIn("num_jobs", json.loads(out))
        self.assertEqual(client.server_url("example.org"), "http://example.org:5000")
        self.assertEqual(client.server_url("http://example.org"), "http://example.org")
        self.assertEqual(client.server_url("https://example.org/statsd/"),
                         "https://example.org/statsd")
        self.assertEqual(client.server_url("[::1]:5400"), "http://[::1]:5400")

    def test_a_bad_server_address_exits_2(self):
        for address in ("http://127.0.0.1:abc", "127.0.0.1:99999", "ftp://127.0.0.1:21", "",
                        "http://", ":5000", "127.0.0.1:0", "http://h:1/?x=1", "a b:1"):
            with self.subTest(address=address):
                _, err = self.run_bare("--server", address, "jobs", expect=2)
                self.assertIn("bad server address", err)
                self.assertNotIn("Traceback", err)
        # Well formed but nobody listens: unreachable, not a bad address.
        _, err = self.run_bare("--server", "127.0.0.1:9", "jobs", expect=3)
        self.assertIn("cannot reach http://127.0.0.1:9", err)

    def test_result_by_number_as_its_statistics_table(self):
        for statistic, body in (("mean_by_category", {}), ("state_mean_by_category",
                                                          {"state": "Ohio"}),
                                ("global_mean", {})):
            with self.subTest(statistic=statistic):
                argv = [statistic, "-q", OBESITY, "--quiet"]
                if body:
                    argv += ["-s", body["state"]]
                shown, _ = self.run_client(*argv)
                job_id = self.last_job_id()
                number = job_id[len("job_id_"):]
                by_number, err = self.run_client("result", number)
                self.assertEqual(err, "")  # done long ago: no progress line
                by_id, _ = self.run_client("result", job_id)
                self.assertEqual(by_number, by_id)
                self.assertTrue(by_number.startswith(f"{job_id}: "), by_number)
                # The command's table, below its question line, is the result's table.
                table = shown.splitlines()[1:]
                self.assertEqual(by_number.splitlines()[-len(table):], table)
        self.run_client("best5", "-q", OBESITY, "--quiet")
        job_id = self.last_job_id()
        out, _ = self.run_client("result", job_id[len("job_id_"):])
        expected = self.client.wait_result(job_id)["data"]
        rows = [line.rsplit(None, 1) for line in out.splitlines()[-5:]]
        self.assertEqual([name.split(None, 1)[-1].strip() if name.split()[0].isdigit()
                          else name.strip() for name, _ in rows], list(expected))
        for (_, shown), value in zip(rows, expected.values()):
            self.assertAlmostEqual(float(shown), value, delta=0.0005)
        out, _ = self.run_client("--json", "result", job_id[len("job_id_"):])
        self.assertEqual(json.loads(out), {"status": "done", "data": expected})

    def test_result_shows_its_statistics_own_columns(self):
        """``result N`` heads each statistic's table with the columns of its CSV."""
        columns = {"states_mean": ["location", "mean"], "state_mean": ["location", "mean"],
                   "best5": ["rank", "location", "mean"], "worst5": ["rank", "location", "mean"],
                   "diff_from_mean": ["location", "difference"],
                   "state_diff_from_mean": ["location", "difference"],
                   "global_mean": ["global_mean"],
                   "mean_by_category": ["location", "category", "stratification", "mean"],
                   "state_mean_by_category": ["location", "category", "stratification", "mean"]}
        cases = one_case_per_statistic()
        for endpoint, name, body, expected in cases:
            with self.subTest(case=name):
                status, answer = self.client.post(endpoint, body)
                self.assertEqual(status, 200)
                job_id = answer["job_id"]
                self.client.wait_result(job_id)
                out, _ = self.run_client("result", job_id[len("job_id_"):])
                lines = out.splitlines()
                self.assertEqual(lines[:2], [f"{job_id}: {endpoint}", body["question"]])
                self.assertEqual(lines[2].split(), columns[endpoint])
                if endpoint == "state_mean_by_category":
                    ((_, expected),) = expected.items()
                values = list(expected.values())
                rows = lines[4:]
                self.assertEqual(len(rows), len(values))
                for row, value in zip(rows, values):  # shown to 3 decimals
                    self.assertAlmostEqual(float(row.split()[-1]), value, delta=0.00051)
                if columns[endpoint][-2:] in (["location", "mean"], ["location", "difference"]):
                    shown = [row.rsplit(None, 1)[0].strip() for row in rows]
                    if endpoint in ("best5", "worst5"):
                        shown = [text.split(None, 1)[1].strip() for text in shown]
                    self.assertEqual(shown, list(expected))
        self.assertEqual({case[0] for case in cases}, set(columns))

    def last_job_id(self) -> str:
        data = self.client.get("/api/jobs?last=1")[1]["data"]
        return next(iter(data[0]))

    def test_a_bare_number_is_the_questions_number_only(self):
        questions = [item["question"] for item in self.client.get("/api/questions")[1]["data"]]
        out, _ = self.run_client("global_mean", "-q", "3", "--quiet")
        self.assertEqual(out.splitlines()[0], questions[2])
        for number in ("0", str(len(questions) + 1), "00"):
            with self.subTest(number=number):
                _, err = self.run_client("best5", "-q", number, expect=1)
                self.assertIn(f"no question number {number}: they go from 1 to "
                              f"{len(questions)}", err)
                self.assertNotIn("matches", err)

    def test_jobs_last_n(self):
        for _ in range(3):
            self.run_client("global_mean", "-q", OBESITY, "--quiet")
        every = [next(iter(entry)) for entry in self.client.get("/api/jobs")[1]["data"]]
        out, _ = self.run_client("jobs", "--last", "2")
        lines = out.splitlines()
        self.assertEqual([line.split()[0] for line in lines[2:4]], every[-2:])
        self.assertEqual(lines[4], f"last 2 of {len(every)} jobs")
        self.assertEqual(len(lines), 5)
        for bad in ("0", "-1", "x", "\u00b2"):
            with self.subTest(last=bad):
                _, err = self.run_client("jobs", "--last", bad, expect=2)
                self.assertIn("--last", err)

    def test_every_command_describes_itself_in_its_help(self):
        parser = client.build_parser()
        commands = parser._subparsers._group_actions[0].choices
        self.assertGreaterEqual(len(commands), 15)
        for name, sub in commands.items():
            with self.subTest(command=name):
                out, _ = self.run_bare(name, "--help")
                self.assertTrue(sub.description and len(sub.description) > 30, name)
                first_words = " ".join(sub.description.split()[:4])
                self.assertIn(first_words, " ".join(out.split()))
                self.assertIn("--server", out)  # the options that go anywhere

    def test_json_and_csv_together_is_a_usage_error(self):
        _, err = self.run_client("best5", "-q", OBESITY, "--json", "--csv", expect=2)
        self.assertIn("--json and --csv", err)


class FilterTest(ClientCase):
    """The filter options and --csv (statsd's filters and ?format=csv): never skipped.

    Answers are checked against naive means over the sample's rows
    (tests/reference.py), not against statsd's own code.
    """

    options = ("--quiet",)

    def naive_means(self, keep):
        values = {}
        for row in reference.rows():
            if row["Question"] == OBESITY and keep(row):
                values.setdefault(row["LocationDesc"], []).append(float(row["Data_Value"]))
        return {location: mean(numbers) for location, numbers in values.items()}

    def test_year_and_category_filters_are_sent_and_answered(self):
        out, _ = self.run_client("--json", "states_mean", "-q", OBESITY, "--year-from", "2015",
                                 "--year-to", "2018", "--category", "Income")
        answer = json.loads(out)["data"]
        expected = self.naive_means(lambda row: 2015 <= int(row["YearStart"]) <= 2018
                                    and row["StratificationCategory1"] == "Income")
        assert_close(self, answer, expected)
        self.assertEqual(list(answer), sorted(expected, key=lambda name: (expected[name], name)))
        out, _ = self.run_client("--json", "state_mean", "-q", OBESITY, "-s", "Ohio",
                                 "--category", "Age (years)", "--stratification", "25 - 34")
        expected = self.naive_means(lambda row: row["StratificationCategory1"] == "Age (years)"
                                    and row["Stratification1"] == "25 - 34")
        assert_close(self, json.loads(out)["data"], {"Ohio": expected["Ohio"]})
        _, err = self.run_client("best5", "-q", OBESITY, "--year-from", "2020",
                                 "--year-to", "2012", expect=1)
        self.assertIn("year_from", err)

    def test_csv_result(self):
        out, _ = self.run_client("best5", "-q", OBESITY, "--csv")
        lines = out.splitlines()
        self.assertEqual(lines[0], "location,mean")
        means = self.naive_means(lambda row: True)
        best = sorted(means, key=lambda name: (means[name], name))[:5]
        self.assertEqual([line.split(",")[0] for line in lines[1:]], best)
        for line, name in zip(lines[1:], best):
            self.assertAlmostEqual(float(line.split(",")[1]), means[name], delta=0.01)
        job_id = next(iter(self.client.get("/api/jobs?last=1")[1]["data"][0]))
        again, _ = self.run_client("result", job_id[len("job_id_"):], "--csv")
        self.assertEqual(again, out)


class EarlierRunResultTest(unittest.TestCase):
    def test_a_result_of_an_earlier_run_shows_the_generic_column_and_says_so(self):
        """After a restart the server no longer knows what a job asked: mean or difference?"""
        directory = tempfile.mkdtemp(prefix="statsd-earlier-run-")
        self.addCleanup(shutil.rmtree, directory, True)
        first = InProcessServer(directory=directory).start()
        try:
            web = first.client()
            flat = web.run("diff_from_mean", {"question": OBESITY})
            whole = web.run("global_mean", {"question": OBESITY})
            web.close()
        finally:
            first.stop()
        with InProcessServer(directory=directory) as second:
            def result(number: str) -> str:
                stdout, stderr = io.StringIO(), io.StringIO()
                code = client.main(["--server", f"127.0.0.1:{second.port}", "result", number],
                                   stdout=stdout, stderr=stderr)
                self.assertEqual(code, 0, stderr.getvalue())
                return stdout.getvalue()
            lines = result("1").splitlines()
            self.assertEqual(lines[0], "job_id_1: result")
            self.assertEqual(lines[1].split(), ["location", "value"])
            self.assertIn("the server no longer says which statistic", lines[-1])
            rows = lines[3:-1]
            self.assertEqual([row.rsplit(None, 1)[0].strip() for row in rows], list(flat))
            for row, value in zip(rows, flat.values()):
                self.assertAlmostEqual(float(row.split()[-1]), value, delta=0.0005)
            # global_mean's shape is its own: its column is known without the request.
            lines = result("2").splitlines()
            self.assertEqual(lines[1:], ["global_mean", "-----------",
                                         f"{whole['global_mean']:11.3f}"])


class ClientCommandTest(unittest.TestCase):
    def test_as_a_command_and_shutdown(self):
        """The real `python3 -m statsd.client`, ending with shutdown: the server exits 0."""
        with ServerProcess() as server:
            url = f"http://127.0.0.1:{server.port}"
            env = dict(os.environ, PYTHONPATH=PROJECT)
            command = [sys.executable, "-m", "statsd.client", "--server", url]
            done = subprocess.run(command + ["worst5", "-q", "obesity"], env=env,
                                  capture_output=True, text=True, timeout=60)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertIn("Mississippi", done.stdout)
            self.assertIn("job_id_1: worst5 queued", done.stderr)
            refused = subprocess.run(command + ["state_mean", "-q", "obesity", "-s", "Nowhere"],
                                     env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual(refused.returncode, 1)
            self.assertIn("unknown state 'Nowhere'", refused.stderr)
            stopped = subprocess.run(command + ["shutdown"], env=env, capture_output=True,
                                     text=True, timeout=60)
            self.assertEqual(stopped.returncode, 0, stopped.stderr)
            self.assertIn("stopping", stopped.stdout)
            self.assertEqual(server.wait(), 0)


if __name__ == "__main__":
    unittest.main()
