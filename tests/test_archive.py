"""statsd as one file: ``make dist`` builds ``statsd.pyz``, and it runs anywhere.

Why: the archive is how statsd reaches a machine without git or pip.  These
tests build it in one temporary directory and run it from another, with an
interpreter in isolated mode (``-I``: no PYTHONPATH, no user site, so nothing
of the checkout can be imported), and check what a user would: it serves the
bundled sample (answers compared with means computed from the CSV by
tests/reference.py), the dashboard's files are the package's own bytes,
``results/`` and ``webserver.log`` land in the working directory, and the
flags work as with ``python3 -m statsd``.
"""

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
import zipfile
from typing import IO, List

import reference
from support import OBESITY, PROJECT, SAMPLE_CSV, Client, wait_for


def build_archive(directory: str) -> str:
    """``python3 -m statsd.tools.dist`` into ``directory``; the archive's path."""
    output = os.path.join(directory, "statsd.pyz")
    done = subprocess.run([sys.executable, "-m", "statsd.tools.dist", "--output", output],
                          cwd=PROJECT, env=dict(os.environ, PYTHONPATH=PROJECT),
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"dist failed: {done.stdout}{done.stderr}")
    return output


def isolated_env() -> dict:
    return {name: value for name, value in os.environ.items() if not name.startswith("PYTHON")}


class Archived:
    """``python3 -I statsd.pyz ARGS`` serving from ``cwd``, until stopped by PID."""

    def __init__(self, archive: str, cwd: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", archive, "--host", "127.0.0.1", *args], cwd=cwd,
            env=isolated_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None  # stdout=PIPE
        self.stdout: IO[str] = self.process.stdout
        self.lines: List[str] = []

    def port_from_output(self) -> int:
        for line in self.stdout:
            self.lines.append(line)
            match = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
            if match:
                return int(match.group(1))
        raise AssertionError(f"the archive did not serve: {''.join(self.lines)}")

    def stop(self) -> int:
        if self.stdout.closed:  # stopped already
            return self.process.returncode
        if self.process.poll() is None:
            self.process.terminate()
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        self.lines.append(self.stdout.read())
        self.stdout.close()
        return code


class ArchiveTest(unittest.TestCase):
    build_directory: str
    archive: str

    @classmethod
    def setUpClass(cls):
        cls.build_directory = tempfile.mkdtemp(prefix="statsd-dist-")
        cls.archive = build_archive(cls.build_directory)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.build_directory, ignore_errors=True)

    def setUp(self):
        self.cwd = tempfile.mkdtemp(prefix="statsd-elsewhere-")
        self.addCleanup(shutil.rmtree, self.cwd, ignore_errors=True)

    def serve(self, *args: str) -> Archived:
        served = Archived(self.archive, self.cwd, *args)
        self.addCleanup(served.stop)
        return served

    def test_the_archive_holds_the_package_its_files_and_the_sample_only(self):
        with open(SAMPLE_CSV, "rb") as handle:
            sample = handle.read()
        with zipfile.ZipFile(self.archive) as archive:
            names = archive.namelist()
            self.assertEqual(archive.read("data/brfss_sample.csv"), sample)
        for name in ("__main__.py", "statsd/__init__.py", "statsd/__main__.py",
                     "statsd/client.py", "statsd/static/index.html",
                     "statsd/static/dashboard.js"):
            self.assertIn(name, names)
        for name in names:
            self.assertTrue(name.startswith(("statsd/", "data/")) or name == "__main__.py", name)
            self.assertNotIn("__pycache__", name)
            self.assertFalse(name.startswith(("statsd/tools/", "statsd/static/docs/")), name)

    def test_run_from_another_directory_it_serves_the_bundled_sample(self):
        served = self.serve("--port", "0")
        port = served.port_from_output()
        self.assertIn("statsd.pyz/data/brfss_sample.csv", "".join(served.lines))
        client = Client(port)
        self.addCleanup(client.close)
        data = client.run("best5", {"question": OBESITY})
        means = {location: value for (question, location), value
                 in reference.location_means().items() if question == OBESITY}
        best = sorted(means, key=lambda name: (means[name], name))[:5]
        self.assertEqual(list(data), best)
        for name in best:
            self.assertAlmostEqual(data[name], means[name], delta=0.01)
        # The dashboard's files, read from inside the archive.
        for path, name in (("/", "index.html"), ("/static/dashboard.js", "dashboard.js")):
            status, headers, body = client.request("GET", path)
            self.assertEqual(status, 200, path)
            with open(os.path.join(PROJECT, "statsd", "static", name), "rb") as handle:
                self.assertEqual(body, handle.read(), path)
        self.assertEqual(client.get("/api/graceful_shutdown")[0], 200)
        self.assertEqual(served.stop(), 0)
        with open(os.path.join(self.cwd, "results", "job_id_1.json"), encoding="utf-8") as handle:
            self.assertEqual(json.load(handle), data)
        with open(os.path.join(self.cwd, "webserver.log"), encoding="utf-8") as handle:
            self.assertIn("job_id_1", handle.read())

    def test_every_flag_works_as_with_python_m_statsd(self):
        help_text = subprocess.run([sys.executable, "-I", self.archive, "--help"], cwd=self.cwd,
                                   env=isolated_env(), capture_output=True, text=True,
                                   timeout=60).stdout
        for flag in ("--host", "--port", "--data", "--results", "--threads", "--log-file",
                     "--log-flush", "--max-queue", "--timeout", "--max-connections", "--results-ttl",
                     "--quiet", "--version"):
            self.assertIn(flag, help_text)
        self.assertNotIn("Default None", help_text)
        self.assertIn("keep them forever", " ".join(help_text.split()))
        version = subprocess.run([sys.executable, "-I", self.archive, "--version"],
                                 cwd=self.cwd, env=isolated_env(), capture_output=True,
                                 text=True, timeout=60)
        self.assertRegex(version.stdout, r"^statsd \d+\.\d+\.\d+")
        # --quiet prints no port: take a free one.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        data = os.path.join(self.cwd, "my.csv")
        shutil.copy(SAMPLE_CSV, data)
        served = self.serve("--port", str(port), "--data", "my.csv", "--results", "kept",
                            "--log-file", "other.log", "--log-flush", "0.5", "--threads", "1", "--quiet",
                            "--max-queue", "5", "--timeout", "3", "--max-connections", "8",
                            "--results-ttl", "1h")

        def answering():
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                connection.request("GET", "/api/num_jobs")
                return connection.getresponse().status == 200
            except OSError:
                return False
            finally:
                connection.close()

        self.assertTrue(wait_for(answering, timeout=30, interval=0.1), "".join(served.lines))
        client = Client(port)
        self.addCleanup(client.close)
        self.assertAlmostEqual(client.run("global_mean", {"question": OBESITY})["global_mean"],
                               self.naive_global_mean(), delta=0.01)
        self.assertEqual(served.stop(), 0)
        self.assertEqual("".join(served.lines), "")  # --quiet
        self.assertTrue(os.path.exists(os.path.join(self.cwd, "kept", "job_id_1.json")))
        self.assertFalse(os.path.exists(os.path.join(self.cwd, "results")))
        with open(os.path.join(self.cwd, "other.log"), encoding="utf-8") as handle:
            log = handle.read()
        self.assertIn("my.csv", log)
        self.assertIn("with 1 worker threads", log)
        self.assertFalse(os.path.exists(os.path.join(self.cwd, "webserver.log")))

    def naive_global_mean(self) -> float:
        values = [float(row["Data_Value"]) for row in reference.rows()
                  if row["Question"] == OBESITY]
        return sum(values) / len(values)

    def test_the_client_runs_from_the_archive_too(self):
        served = self.serve("--port", "0")
        port = served.port_from_output()
        done = subprocess.run([sys.executable, "-m", "statsd.client", "--server",
                               f"127.0.0.1:{port}", "state_mean", "-q", "obesity", "-s", "ohio"],
                              cwd=self.cwd, env=dict(isolated_env(), PYTHONPATH=self.archive),
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        values = [float(row["Data_Value"]) for row in reference.rows()
                  if row["Question"] == OBESITY and row["LocationDesc"] == "Ohio"]
        self.assertAlmostEqual(float(done.stdout.split()[-1]), sum(values) / len(values),
                               delta=0.001)


@unittest.skipIf(shutil.which("make") is None, "make is not installed")
class MakeTest(unittest.TestCase):
    def make(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["make", "-s", "-C", PROJECT, *args], capture_output=True,
                              text=True, timeout=120, env=dict(os.environ, PYTHONPATH=PROJECT))

    def test_make_help_lists_every_documented_target(self):
        done = self.make("help")
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(os.path.join(PROJECT, "Makefile"), encoding="utf-8") as handle:
            documented = re.findall(r"^## ([a-z]+): (.*)$", handle.read(), re.MULTILINE)
        self.assertGreaterEqual({name for name, _ in documented},
                                {"run", "test", "bench", "dist", "clean", "help"})
        lines = done.stdout.splitlines()
        self.assertEqual(len(lines), len(documented))
        for line, (name, text) in zip(lines, documented):
            self.assertEqual(line.split(None, 2)[:2], ["make", name])
            self.assertEqual(line.split(None, 2)[2], text)

    def test_make_dist_writes_a_runnable_archive(self):
        with tempfile.TemporaryDirectory(prefix="statsd-make-dist-") as directory:
            target = os.path.join(directory, "out", "statsd.pyz")
            done = self.make("dist", f"DIST={target}")
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertIn(f"wrote {target}", done.stdout)
            version = subprocess.run([sys.executable, "-I", target, "--version"], cwd=directory,
                                     env=isolated_env(), capture_output=True, text=True,
                                     timeout=60)
            self.assertEqual(version.returncode, 0, version.stderr)
            self.assertTrue(version.stdout.startswith("statsd "))


if __name__ == "__main__":
    unittest.main()
