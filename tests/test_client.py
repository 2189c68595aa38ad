"""python3 -m statsd.client against a real server.

Results are compared with the shared conformance answers (computed
independently of statsd); errors must exit non-zero with the server's reason.
"""

import io
import json
import os
import subprocess
import sys
import unittest

from support import (OBESITY, PROJECT, ServedTestCase, ServerProcess, assert_close,
                     conformance_cases)

from statsd import client


class ClientTest(ServedTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.url = f"http://127.0.0.1:{cls.server.port}"

    def run_client(self, *argv, expect=0):
        stdout, stderr = io.StringIO(), io.StringIO()
        code = client.main(["--server", self.url, *argv], stdout=stdout, stderr=stderr)
        self.assertEqual(code, expect, f"{argv}: {stderr.getvalue()}")
        return stdout.getvalue(), stderr.getvalue()

    def test_every_statistic_matches_the_conformance_answers(self):
        seen = set()
        for endpoint, name, body, expected in conformance_cases():
            if endpoint in seen:
                continue
            seen.add(endpoint)
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
        self.assertEqual(len(seen), 9)

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
        self.assertEqual(lines[1], "Ohio")
        self.assertEqual(len(lines), 4 + len(expected))
        for line, value in zip(lines[4:], expected.values()):
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
        with ServerProcess("--threads", "1") as server:
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
