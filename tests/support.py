"""Test support: run the real server as a subprocess and talk HTTP to it.

Every end-to-end test goes through :class:`ServerProcess`: it starts
``python3 -m statsd`` on a free port (``--port 0``, the port is read from the
server's start-up line) in a temporary directory, and stops it by PID.
:class:`Client` is a small keep-alive ``http.client`` wrapper that polls
``get_results`` the way the original checker did (every 0.2 s, with a deadline).

The suite starts a hundred-odd Python processes (servers, clients, the
bench's load generators).  Where ``PYTHONDONTWRITEBYTECODE`` is set, each of
them would compile the whole package from source, half of a server's start;
so the children get a bytecode cache in a temporary directory instead
(``PYTHONPYCACHEPREFIX``, removed at exit): compiled once per run, and still
nothing written into the source tree.
"""

from __future__ import annotations

import atexit
import csv
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from typing import Any, Callable, Dict, List, Optional, Tuple

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_CSV = os.path.join(PROJECT, "data", "brfss_sample.csv")
#: A copy of shared/conformance: 108 requests with results computed independently of statsd.
CONFORMANCE = os.path.join(PROJECT, "tests", "conformance")



def _cache_bytecode_for_children() -> None:
    """Let child Pythons share compiled modules, outside the tree (see the module docstring)."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE") or os.environ.get("PYTHONPYCACHEPREFIX"):
        return  # bytecode is cached already, or already placed where its owner wants it
    prefix = tempfile.mkdtemp(prefix="statsd-test-pycache-")
    atexit.register(shutil.rmtree, prefix, True)
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = prefix


_cache_bytecode_for_children()

OBESITY = "Percent of adults aged 18 years and older who have obesity"


def original_header() -> List[str]:
    """The header row of the public BRFSS file (33 columns), as the sample has it."""
    with open(SAMPLE_CSV, encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle))


def data_row(question: str, location: str, value: str, category: str = "Total",
             stratification: str = "Total", year: str = "2011") -> Dict[str, str]:
    """One CSV row given by the columns statsd reads; the others stay empty."""
    return {"Question": question, "LocationDesc": location, "Data_Value": value,
            "StratificationCategory1": category, "Stratification1": stratification,
            "YearStart": year, "YearEnd": year}


def write_csv(path: str, rows: List[Dict[str, str]], *, header: Optional[List[str]] = None,
              index_column: bool = False, bom: bool = False, line_end: str = "\n") -> str:
    """Write ``rows`` under ``header`` (default: the original one) and return ``path``.

    ``index_column`` adds the leading unnamed column of a pandas export
    (header ``,YearStart,...``, rows ``0,2011,...``); ``bom`` a UTF-8 byte order mark.
    """
    columns = list(header) if header is not None else original_header()
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator=line_end)
        writer.writerow([""] + columns if index_column else columns)
        for number, row in enumerate(rows):
            cells = [row.get(column.strip(), "") for column in columns]
            writer.writerow([str(number)] + cells if index_column else cells)
    return path


def run_statsd(*args: str, cwd: str, env: Optional[Dict[str, str]] = None,
               timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run ``python3 -m statsd ARGS`` to its end in ``cwd`` (for commands that do not serve)."""
    env = dict(os.environ, PYTHONPATH=PROJECT, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "statsd", *args], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)


def proc_status_mb(pid: int, field: str) -> float:
    """A memory figure of a process from ``/proc/PID/status`` (``VmRSS``, ``VmHWM``), in MB.

    A figure that is not there fails the test: a check of memory must never
    pass for want of a number.
    """
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def text_of(path: str) -> str:
    """The text of a UTF-8 file, or "" while it does not exist (a log not yet written)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


#: The stops of :meth:`ServerProcess.stop_in_background`, joined by :func:`finish_background_stops`.
#: Appended to by the test's own thread only (the one running the tests).
_STOPPING: List[threading.Thread] = []


def finish_background_stops(timeout: float = 30.0) -> None:
    """Wait until every server stopped in the background has exited and its directory is gone.

    For a test that watches this whole process (an audit hook on every file
    opened): another class's server may still be stopping, its directory being
    removed from a thread of this process.
    """
    while _STOPPING:
        _STOPPING.pop().join(timeout)


class ServerProcess:
    """``python3 -m statsd`` on 127.0.0.1, a free port, in its own directory.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.  The
    directory (``self.directory``) holds ``results/`` and ``webserver.log`` and
    is removed at the end unless ``keep_directory`` (for restart tests, pass the
    same ``directory`` to a second ServerProcess).
    """

    def __init__(self, *args: str, data: str = SAMPLE_CSV, directory: Optional[str] = None,
                 env: Optional[Dict[str, str]] = None, keep_directory: bool = False) -> None:
        self.args = list(args)
        self.data = data
        self.owns_directory = directory is None and not keep_directory
        self.directory = directory or tempfile.mkdtemp(prefix="statsd-test-")
        self.env = env or {}
        self.process: Optional[subprocess.Popen] = None
        self.port = 0
        self.output = ""

    @property
    def results(self) -> str:
        return os.path.join(self.directory, "results")

    @property
    def log_path(self) -> str:
        return os.path.join(self.directory, "webserver.log")

    def start(self, timeout: float = 15.0) -> "ServerProcess":
        env = dict(os.environ, PYTHONPATH=PROJECT, PYTHONUNBUFFERED="1", **self.env)
        # Each log line at once, unless the test says otherwise: a test reads
        # the log right after the answer that logged it.  The default
        # (lines written together within 0.05 s) has tests of its own.
        flush = [] if any(arg.startswith("--log-flush") for arg in self.args) else ["--log-flush", "0"]
        command = [sys.executable, "-m", "statsd", "--host", "127.0.0.1", "--port", "0",
                   "--data", self.data, *flush, *self.args]
        self.process = subprocess.Popen(
            command, cwd=self.directory, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        lines = []
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
            if match:
                self.port = int(match.group(1))
                return self
        self.output = "".join(lines)
        self.kill()
        raise RuntimeError(f"statsd did not start: {self.output}")

    def client(self, timeout: float = 10.0) -> "Client":
        return Client(self.port, timeout)

    def wait(self, timeout: float = 15.0) -> int:
        """Wait for the process to exit; return its exit code."""
        assert self.process is not None and self.process.stdout is not None
        code = self.process.wait(timeout)
        self.output += self.process.stdout.read()
        return code

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        """Ask politely (SIGTERM), then kill; close pipes; remove the directory if ours."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.kill()
            if self.process.stdout:
                self.process.stdout.close()
        if self.owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def stop_in_background(self) -> None:
        """:meth:`stop` on a thread: for a server nothing needs after the test.

        A graceful stop takes a fifth of a second (its timers, the
        interpreter's exit); the next test need not wait for it.  The thread
        is not a daemon, so the test run waits for every stop before it ends.
        """
        thread = threading.Thread(target=self.stop, name=f"stop-statsd-{self.port}")
        thread.start()
        _STOPPING.append(thread)

    def log_text(self) -> str:
        return text_of(self.log_path)

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class ServedTestCase(unittest.TestCase):
    """Tests that share one server over the sample: ``cls.server`` and ``cls.client``.

    The server is statsd built by the command line's own parser and factory
    from ``server_args``, in this process (:class:`inprocess.InProcessServer`,
    started in milliseconds); a class whose tests read the server's log file
    or its process (exit, signals, output) sets ``separate_process`` and gets
    ``python3 -m statsd`` (:class:`ServerProcess`).
    """

    server: Any  # a ServerProcess or an InProcessServer: port, directory, results, client()
    client: "Client"
    #: Command-line options of the class's server, e.g. ``("--timeout", "1")``.
    server_args: Tuple[str, ...] = ()
    #: True where the tests need ``python3 -m statsd`` itself: its webserver.log, its process.
    separate_process: bool = False

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        if cls.separate_process:
            cls.server = ServerProcess(*cls.server_args).start()
        else:
            from inprocess import InProcessServer  # it imports this module
            cls.server = InProcessServer(options=cls.server_args).start()
        cls.client = cls.server.client()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.client.close()
        if cls.separate_process:
            cls.server.stop_in_background()
        else:
            cls.server.stop()
        super().tearDownClass()


class Client:
    """A keep-alive JSON client for one server (one connection, reopened if closed)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method: str, path: str, body: Any = None,
                raw: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None
                ) -> Tuple[int, Dict[str, str], Any]:
        """Send a request; return ``(status, headers, parsed JSON body)``."""
        payload = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(headers or {})
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=payload, headers=all_headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.connection.close()
                if attempt == 2:
                    raise
        content_type = response.getheader("Content-Type", "")
        parsed = json.loads(data) if "json" in content_type else data
        return response.status, dict(response.getheaders()), parsed

    def post(self, endpoint: str, body: Any) -> Tuple[int, Any]:
        status, _, parsed = self.request("POST", f"/api/{endpoint}", body)
        return status, parsed

    def get(self, path: str) -> Tuple[int, Any]:
        status, _, parsed = self.request("GET", path)
        return status, parsed

    def wait_result(self, job_id: str, deadline: float = 10.0, interval: float = 0.2) -> Dict[str, Any]:
        """Poll get_results like the original checker until the job is not running."""
        end = time.monotonic() + deadline
        while True:
            status, body = self.get(f"/api/get_results/{job_id}")
            if status != 200:
                raise AssertionError(f"get_results {job_id}: HTTP {status} {body}")
            if body.get("status") != "running":
                return body
            if time.monotonic() > end:
                raise AssertionError(f"{job_id} still running after {deadline} s")
            time.sleep(interval)

    def run(self, endpoint: str, body: Any, deadline: float = 10.0) -> Any:
        """Submit a job and return its ``data`` (asserting it is done)."""
        status, answer = self.post(endpoint, body)
        if status != 200:
            raise AssertionError(f"POST {endpoint} {body}: HTTP {status} {answer}")
        result = self.wait_result(answer["job_id"], deadline)
        if result.get("status") != "done":
            raise AssertionError(f"{endpoint} {body}: {result}")
        return result["data"]

    def close(self) -> None:
        self.connection.close()


def assert_close(test, actual: Any, expected: Any, tolerance: float = 0.01, where: str = "") -> None:
    """Recursive comparison: same keys, numbers within ``tolerance``."""
    if isinstance(expected, dict):
        test.assertIsInstance(actual, dict, where)
        test.assertEqual(set(actual), set(expected), where)
        for key in expected:
            assert_close(test, actual[key], expected[key], tolerance, f"{where}[{key!r}]")
    elif isinstance(expected, list):
        test.assertIsInstance(actual, list, where)
        test.assertEqual(len(actual), len(expected), where)
        for index, (a, e) in enumerate(zip(actual, expected)):
            assert_close(test, a, e, tolerance, f"{where}[{index}]")
    elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
        test.assertIsInstance(actual, (int, float), where)
        test.assertLessEqual(abs(actual - expected), tolerance, f"{where}: {actual} != {expected}")
    else:
        test.assertEqual(actual, expected, where)


def conformance_cases() -> List[Tuple[str, str, Dict[str, Any], Any]]:
    """``(endpoint, case name, request body, expected data)`` for every shared case."""
    cases: List[Tuple[str, str, Dict[str, Any], Any]] = []
    if not os.path.isdir(CONFORMANCE):
        return cases
    for endpoint in sorted(os.listdir(CONFORMANCE)):
        inputs = os.path.join(CONFORMANCE, endpoint, "input")
        if not os.path.isdir(inputs):
            continue
        for name in sorted(os.listdir(inputs)):
            number = name[len("in-"):-len(".json")]
            with open(os.path.join(inputs, name), encoding="utf-8") as handle:
                body = json.load(handle)
            with open(os.path.join(CONFORMANCE, endpoint, "output", f"out-{number}.json"),
                      encoding="utf-8") as handle:
                expected = json.load(handle)
            cases.append((endpoint, f"{endpoint}/{number}", body, expected))
    return cases


def raw_exchange(port: int, data: bytes, *, shut_write: bool = False,
                 timeout: float = 10.0) -> Optional[Tuple[int, Any, Any, bool]]:
    """Send ``data`` as it is on a new connection; read one response.

    Returns ``(status, headers, body, closed)`` -- body parsed as JSON when it
    says so, ``closed`` true when the response said ``Connection: close`` and
    the server did close --
    or None when the server closed the connection without answering.  For
    requests no well-behaved client would send: lying lengths, half lines.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None
        body = response.read()
        if "json" in response.getheader("Content-Type", ""):
            body = json.loads(body)
        closed = False
        if response.will_close:  # announced: check that the server did close
            try:
                closed = sock.recv(1) == b""
            except ConnectionResetError:
                closed = True
        return response.status, response.headers, body, closed


class Threads:
    """``count`` threads running ``target(index)``, started on entering a ``with``
    and joined (each for at most ``timeout`` seconds) on leaving it: the load of
    the concurrent tests."""

    def __init__(self, count: int, target: Callable[[int], None], timeout: float = 60.0) -> None:
        self.threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
        self.timeout = timeout

    def __enter__(self) -> "Threads":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        for thread in self.threads:
            thread.join(self.timeout)
