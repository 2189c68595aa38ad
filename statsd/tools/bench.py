"""``python3 -m statsd.tools.bench``: statsd against the standard library's own ceilings.

Why: statsd is chosen for being light and fast with nothing installed, so
that claim must be measurable by anyone, on their machine, with nothing
installed.  Every figure is taken next to its floor or ceiling *in the same
run*, so that the ratio means something on a noisy machine:

* ingest: ``load_csv`` on a synthetic BRFSS file (:mod:`statsd.tools.synthetic`),
  next to a bare ``csv.reader`` pass over the same file, each in a fresh
  process (time, and peak RSS from ``VmHWM``), alternated for a few rounds;
  the ratio is the median of the rounds' ratios (see :func:`bench_ingest`);
* a result file: the CPU time of creating, writing and renaming one, where
  the servers of the run write theirs, under the project's ``results/`` and
  on ``/dev/shm``, since that cost belongs to the machine, not to statsd;
* serving: the real server (``python3 -m statsd``) as a subprocess, next to
  two ceilings (:mod:`statsd.tools.ceilings`): the *bare* one answers every
  request with a constant, the *shape* one does per job only what the
  mission requires (an id, a queue, a worker writing a result file, a poll
  that waits for it).  All three are driven by the same closed-loop load
  generator of keep-alive ``http.client`` threads in modes ``cycle`` (POST a
  data request, poll ``get_results`` until done), ``post`` (submit only) and
  ``get`` (``GET /api/num_jobs``), taking turns; statsd's ``cycle`` and
  ``post`` are given as ratios to the shape ceiling, its ``get`` to the bare;
* memory: server RSS after 1,000 completed jobs and after many more.

The load generator runs in separate processes (``--load-processes``, default
2), so that its own GIL does not cap the load; on a 2-core machine those
processes and the server share the cores, for statsd and ceilings alike.

Quick by default (about 2 minutes); ``--full`` adds the 1,000,000-row ingest,
longer runs and the 100,000-job memory check.  Prints one table and writes
the same figures as JSON (``results/bench.json`` or ``--output``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import Any, Dict, List, NamedTuple, Optional, Protocol, Sequence, Tuple

from . import ceilings, synthetic
from ..stats import STATISTICS

#: The directory holding the ``statsd`` package, put on the children's PYTHONPATH
#: so that the tools run from any working directory.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUTPUT = os.path.join(PROJECT_ROOT, "results", "bench.json")

MODES = ("cycle", "post", "get")

#: The data endpoints and whether they take a state.
ENDPOINTS: Tuple[Tuple[str, bool], ...] = tuple(
    (name, statistic.needs_state) for name, statistic in STATISTICS.items())

# -- measuring a process ------------------------------------------------------

def proc_status_kb(field: str, pid: str = "self") -> int:
    """A ``kB`` figure of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``), 0 if unknown."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), from ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def context_switches(pid: int) -> Dict[str, int]:
    """Context switches (voluntary and not) so far of each thread of a process alive now.

    Each is a thread that stopped: for a system call that blocked, a lock,
    or the GIL, taken by another thread.  From ``/proc/PID/task/*/status``,
    by thread id; :func:`switches_between` takes the difference of two.
    """
    counts: Dict[str, int] = {}
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return counts
    for thread in threads:
        total = 0
        try:
            with open(f"/proc/{pid}/task/{thread}/status") as handle:
                for line in handle:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:  # the thread ended meanwhile
            continue
        counts[thread] = total
    return counts


def switches_between(before: Dict[str, int], after: Dict[str, int]) -> int:
    """The switches from ``before`` to ``after`` of the threads alive at ``after``.

    A thread started in between counts whole; one that ended in between is
    not counted (``/proc`` forgets it), which is why the bench reads both
    while the clients are connected and every server thread serving them lives.
    """
    return sum(count - before.get(thread, 0) for thread, count in after.items())


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of an already sorted sequence (0 if empty)."""
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[index]


# -- ingest ---------------------------------------------------------------------

def ingest_child(kind: str, path: str) -> dict:
    """Run in a fresh process: load ``path`` once, report seconds, CPU seconds and peak RSS.

    The CPU time (``time.process_time``) is what the ratio is taken on: a
    load is one busy thread, so on an idle machine CPU and wall time agree,
    and on a shared one the CPU time is not stretched by other processes
    taking the cores (wall times of the same command were seen 3x apart).
    """
    if kind == "csv":
        import csv
        import io
        started, cpu = time.perf_counter(), time.process_time()
        rows = 0
        with open(path, "rb") as binary:
            for _ in csv.reader(io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")):
                rows += 1
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_kb": proc_status_kb("VmHWM"),
                "rows": rows - 1}
    from ..ingest import load_csv
    started, cpu = time.perf_counter(), time.process_time()
    dataset = load_csv(path)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = proc_status_kb("VmHWM")
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_kb": peak,
            "rows": dataset.rows_read, "job_us": job_compute_microseconds(dataset)}


def job_compute_microseconds(dataset) -> float:
    """Mean time of one statistic computed on a loaded dataset (every endpoint, question)."""
    from ..request import JobRequest
    from ..stats import STATISTICS, compute
    location = dataset.locations[0]
    calls = 0
    started = time.perf_counter()
    for _ in range(3):
        for name, statistic in STATISTICS.items():
            for question, data in dataset.questions.items():
                state = location if location in data.locations else next(iter(data.locations))
                compute(dataset, JobRequest(name, question, state if statistic.needs_state else None))
                calls += 1
    return (time.perf_counter() - started) / calls * 1e6


def run_child(*arguments: str, timeout: float = 600, root: str = PROJECT_ROOT) -> dict:
    """Run ``python3 -m statsd.tools.bench --role ...`` of the checkout at ``root``, parse its JSON."""
    command = [sys.executable, "-m", "statsd.tools.bench", *arguments]
    completed = subprocess.run(command, cwd=root, env=_child_env(root), timeout=timeout,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed: {completed.stderr.strip()[-500:]}")
    return json.loads(completed.stdout)


def _child_env(root: str = PROJECT_ROOT) -> Dict[str, str]:
    """The environment of a child: the ``statsd`` package of ``root`` comes first."""
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=root + (os.pathsep + path if path else ""))


def bench_ingest(path: str, rows: int, repeat: int, baseline: Optional[str] = None) -> List[dict]:
    """statsd's load and the bare csv.reader pass, alternated, ``repeat`` rounds.

    With ``baseline`` (another checkout of statsd), its load runs in each
    round too, after statsd's, and statsd's row gets the median by round of
    statsd / baseline: an A/B of a loader change in one run.

    The times shown are the best of each kind.  The ratio the target is
    checked on is the median, over the rounds, of statsd's CPU time over the
    csv pass's of the same round (run just before it): this machine shifts
    between a fast and a slow state for seconds at a time, and a best of 3
    of each kind taken in different states gave 0.87x and 1.66x on the same
    code within ten minutes, while a round's two runs mostly share a state.
    """
    kinds = [("csv", "csv.reader pass (floor)", PROJECT_ROOT),
             ("statsd", "statsd load_csv", PROJECT_ROOT)]
    if baseline:
        kinds.append(("baseline", "statsd baseline load_csv", os.path.abspath(baseline)))
    runs: Dict[str, List[dict]] = {kind: [] for kind, _, _ in kinds}
    for _ in range(repeat):
        for kind, _, root in kinds:
            runs[kind].append(run_child("--role", "ingest", "--kind", "csv" if kind == "csv"
                                        else "statsd", "--data", path, root=root))
    results = []
    for kind, label, _ in kinds:
        best = min(runs[kind], key=lambda run: run["cpu_seconds"])
        results.append({
            "rows": rows, "kind": kind, "label": label, "runs": len(runs[kind]),
            "seconds": best["seconds"], "cpu_seconds": best["cpu_seconds"],
            # to the microsecond: a small file's pass takes a few milliseconds, and
            # its ratios must be recomputable from these to better than 1 %
            "seconds_all": [round(run["seconds"], 6) for run in runs[kind]],
            "cpu_seconds_all": [round(run["cpu_seconds"], 6) for run in runs[kind]],
            "peak_rss_mb": max(run["peak_rss_kb"] for run in runs[kind]) / 1024,
            "job_us": best.get("job_us"),
        })
    floor = results[0]
    for loader in results[1:]:
        loader["time_ratio_by_round"], loader["time_ratio"] = _by_round(runs[loader["kind"]],
                                                                        runs["csv"])
        loader["best_time_ratio"] = loader["cpu_seconds"] / floor["cpu_seconds"]
        loader["wall_ratio"] = loader["seconds"] / floor["seconds"]
        # Without /proc (not Linux) there is no peak RSS to compare.
        loader["rss_ratio"] = (loader["peak_rss_mb"] / floor["peak_rss_mb"]
                               if floor["peak_rss_mb"] else None)
    if baseline:
        statsd = results[1]
        statsd["baseline_ratio_by_round"], statsd["baseline_ratio"] = _by_round(
            runs["statsd"], runs["baseline"])
    return results


def _by_round(mine: List[dict], theirs: List[dict]) -> Tuple[List[float], float]:
    """Each round's CPU-time ratio ``mine / theirs`` (rounded, in round order), and their median."""
    ratios = [run["cpu_seconds"] / other["cpu_seconds"] for run, other in zip(mine, theirs)]
    return [round(ratio, 3) for ratio in ratios], statistics.median(ratios)


# -- the cost of a result file -------------------------------------------------

def filesystem_of(path: str) -> str:
    """The type of the filesystem ``path`` is on (``ext4``, ``tmpfs``), from /proc/mounts."""
    path = os.path.realpath(path)
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) < 3:
                    continue
                mount = fields[1].replace("\\040", " ")
                inside = path == mount or path.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) > len(best):
                    best, kind = mount, fields[2]
    except OSError:
        pass
    return kind


#: After deleting the files it measured, result_file_cost waits this long, then
#: measures this many more: on this machine's ext4 a deletion makes the file
#: creations of the next seconds much dearer (the kernel's inode allocation
#: searches past the inodes just freed; see the README, "What moves it").
AFTER_DELETE_PAUSE = 1.0
AFTER_DELETE_FILES = 1_000


def result_file_cost(directory: str, files: int, payload: bytes = ceilings.SHAPE_RESULT,
                     after_delete: bool = False) -> dict:
    """CPU and wall time per result file written the way statsd writes one.

    In a new directory under ``directory``: ``files`` times, create a
    temporary file, write ``payload`` to it, close it and rename it over its
    final name.  The CPU time is this process's (``time.process_time``: user
    and kernel, the file system's work in the kernel included), measured
    while no other thread of it runs.  With ``after_delete``, the files are
    then deleted and, AFTER_DELETE_PAUSE later, AFTER_DELETE_FILES more are
    written and measured the same way (``after_delete_cpu_us``...).
    """
    row = {"directory": directory, "filesystem": filesystem_of(directory), "files": files,
           "bytes": len(payload)}
    row["cpu_us"], row["wall_us"] = _write_files(directory, files, payload)
    if after_delete:
        time.sleep(AFTER_DELETE_PAUSE)
        row["after_delete_cpu_us"], row["after_delete_wall_us"] = _write_files(
            directory, AFTER_DELETE_FILES, payload)
    return row


def _write_files(directory: str, files: int, payload: bytes) -> Tuple[float, float]:
    """Microseconds of CPU and wall time per file, ``files`` result files written; then deleted."""
    scratch = tempfile.mkdtemp(prefix="file-cost-", dir=directory)
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        for number in range(files):
            temporary = os.path.join(scratch, f".job_id_{number}.json.tmp")
            with open(temporary, "wb") as handle:
                handle.write(payload)
            os.replace(temporary, os.path.join(scratch, f"job_id_{number}.json"))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return cpu / files * 1e6, wall / files * 1e6


def bench_file_cost(server_results: str, files: int, say) -> List[dict]:
    """The cost of a result file where the servers of this run write theirs, and elsewhere.

    The servers' results/ (under the bench's working directory), statsd's
    default results/ in the project, and /dev/shm (tmpfs: no disk at all),
    where they exist.  In the servers' results/, the cost is measured again
    just after the files are deleted, which is why the serving runs keep
    their result files until the end of the run, and why this is measured
    last.
    """
    places = [("the servers' results/ in this run", server_results),
              ("statsd's default results/", os.path.join(PROJECT_ROOT, "results")),
              ("tmpfs, for comparison", "/dev/shm")]
    rows: List[dict] = []
    for label, directory in places:
        try:
            os.makedirs(directory, exist_ok=True)
            row = result_file_cost(directory, files, after_delete=not rows)
        except OSError as error:
            say(f"  {label}: not measured ({error.strerror or error})")
            continue
        row["label"] = label
        after = (f"; {row['after_delete_cpu_us']:.0f} us CPU per file "
                 f"{AFTER_DELETE_PAUSE:g} s after deleting them" if "after_delete_cpu_us" in row else "")
        say(f"  {label} ({directory}, {row['filesystem']}): {row['cpu_us']:.0f} us CPU, "
            f"{row['wall_us']:.0f} us wall per file{after}")
        rows.append(row)
    return rows


# -- the servers ----------------------------------------------------------------

#: The queue bound of the statsd under test (a queued job is a few hundred bytes).
BENCH_MAX_QUEUE = 1_000_000


#: The servers of a serving run: the two ceilings and statsd.
SERVERS = ("bare", "shape", "statsd")
SERVER_LABELS = {"bare": "bare ceiling", "shape": "shape ceiling", "statsd": "statsd",
                 "baseline": "statsd baseline"}


class Servers(NamedTuple):
    """How the servers of a run are started, beyond their defaults."""

    shape_workers: int = 0  # the shape ceiling's workers; 0: the CPU count
    statsd_args: Tuple[str, ...] = ()  # more arguments for statsd
    baseline: Optional[str] = None  # another checkout of statsd, run as "baseline"
    baseline_args: Tuple[str, ...] = ()  # more arguments for the baseline
    wrapper: Tuple[str, ...] = ()  # a command the server runs under (opcost: valgrind)


def servers_of(mode: str, settings: Servers = Servers()) -> Tuple[str, ...]:
    """The servers run in ``mode``: ``get`` involves no job, so no shape ceiling."""
    servers = ("bare", "statsd") if mode == "get" else SERVERS
    return servers + (("baseline",) if settings.baseline else ())


class ServerUnderTest:
    """A server subprocess (statsd, its baseline or a ceiling), its port, CPU and memory."""

    def __init__(self, kind: str, data: str, workdir: str,
                 settings: Servers = Servers()) -> None:
        self.kind = kind
        self.directory = tempfile.mkdtemp(prefix=f"{kind}-", dir=workdir)
        root = PROJECT_ROOT
        if kind in ("statsd", "baseline"):
            command = [sys.executable, "-m", "statsd", "--host", "127.0.0.1", "--port", "0",
                       "--data", data, "--results", os.path.join(self.directory, "results"),
                       "--log-file", os.path.join(self.directory, "webserver.log"),
                       # post mode submits faster than jobs are written on a slow
                       # disk: with the default bound (10,000) a long run measures
                       # the 503s of backpressure instead of job-id issuance.
                       "--max-queue", str(BENCH_MAX_QUEUE)]
            if kind == "statsd":
                command += settings.statsd_args
            else:
                command += settings.baseline_args
                root = os.path.abspath(settings.baseline or PROJECT_ROOT)
        else:
            command = [sys.executable, "-m", "statsd.tools.ceilings", kind,
                       "--results", os.path.join(self.directory, "results")]
            if settings.shape_workers:
                command += ["--workers", str(settings.shape_workers)]
        self._stderr = open(os.path.join(self.directory, "stderr.txt"), "w")
        self.process = subprocess.Popen([*settings.wrapper, *command], cwd=self.directory,
                                        env=_child_env(root),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self._stderr, text=True)
        self.port = self._read_port()

    def _read_port(self) -> int:
        assert self.process.stdout is not None  # stdout=PIPE
        for line in self.process.stdout:
            if "serving on http://127.0.0.1:" in line:
                return int(line.split("127.0.0.1:")[1].split()[0].rstrip("/"))
        stderr = self.stop()  # which removes the directory, stderr.txt with it
        raise RuntimeError(f"{self.kind} did not start: {stderr[-500:]}")

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def switches(self) -> Dict[str, int]:
        return context_switches(self.process.pid)

    def rss_mb(self) -> float:
        return proc_status_kb("VmRSS", str(self.process.pid)) / 1024

    def pending_jobs(self) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", "/api/num_jobs")
            return int(json.loads(connection.getresponse().read()).get("num_jobs", 0))
        finally:
            connection.close()

    def drain(self, timeout: float = 300.0) -> float:
        """Wait until no job is queued or running; return the seconds waited."""
        started = time.monotonic()
        while self.kind != "bare" and self.pending_jobs() and time.monotonic() - started < timeout:
            time.sleep(0.05)
        return time.monotonic() - started

    def stop(self) -> str:
        """Stop the server (SIGTERM, then SIGKILL after 30 s); return what it wrote on stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        assert self.process.stdout is not None  # stdout=PIPE
        self.process.stdout.close()
        self._stderr.close()
        try:
            with open(self._stderr.name, errors="replace") as handle:
                stderr = handle.read()
        except OSError:
            stderr = ""
        # What the server wrote goes to the disk now, not during the next
        # server's run: in a 5 s post run the shape ceiling writes 30,000
        # files, and their writeback fell on statsd, next in the turns.
        os.sync()
        # The directory and its result files stay until the caller removes
        # its working directory, at the end of the run: on this machine's
        # disk, deleting a few thousand files makes each file created in the
        # next seconds cost up to 16 times more (see bench_file_cost), and that
        # would fall on the next server measured, always the same one in a
        # two-round run.
        return stderr


# -- the load generator -------------------------------------------------------

#: How a done result's answer starts, from statsd and the shape ceiling alike.
DONE_PREFIX = b'{"status": "done", "data": '


class LoadThread(threading.Thread):
    """One closed-loop keep-alive client: a request, its answer, the next request."""

    def __init__(self, port: int, mode: str, seed: int, budget: Optional[List[int]],
                 lock: threading.Lock) -> None:
        super().__init__(daemon=True)
        self.begin = 0.0  # time.time() of the first request (warm-up included)
        self.port = port
        self.mode = mode
        self.random = random.Random(seed)
        self.window = (0.0, 0.0)  # (measure from, stop at), time.time()
        self.budget = budget  # shared [operations left], or None to run until the window ends
        self.lock = lock
        self.latencies: List[float] = []
        self.errors: Dict[str, int] = {}
        self.requests = 0
        self.connection = self._connect()

    def schedule(self, begin: float, window: Tuple[float, float]) -> None:
        """When to send the first request, and the window whose operations are measured."""
        self.begin = begin
        self.window = window

    def _connect(self) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def _call(self, method: str, path: str, body: Optional[bytes] = None) -> Tuple[int, dict]:
        self.requests += 1
        headers = {"Content-Type": "application/json"} if body is not None else {}
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        answer = response.read()
        # A result is read whole but not decoded: the load shares the
        # servers' CPUs, and json.loads of one mean_by_category result (98 KB
        # at 100,000 rows) costs 441 us, against 9-18 us for the others'.
        if answer.startswith(DONE_PREFIX):
            return response.status, {"status": "done"}
        return response.status, json.loads(answer)

    def _take(self) -> bool:
        if self.budget is None:
            return time.time() < self.window[1]
        with self.lock:
            if self.budget[0] <= 0:
                return False
            self.budget[0] -= 1
            return True

    def run(self) -> None:
        start, end = self.window
        time.sleep(max(0.0, self.begin - time.time()))
        while self._take():
            began = time.time()
            try:
                failure = self._operation()
            except Exception as error:  # noqa: BLE001 - every failure is counted
                failure = type(error).__name__
                self.connection.close()
                self.connection = self._connect()
            finished = time.time()
            if failure:
                self.errors[failure] = self.errors.get(failure, 0) + 1
            elif self.budget is not None or (began >= start and finished <= end):
                self.latencies.append((finished - began) * 1000.0)

    def close(self) -> None:
        """Close the connection (left open by :meth:`run`: see :func:`load_child`)."""
        self.connection.close()

    def _operation(self) -> str:
        """One operation of the mode; returns "" or what went wrong."""
        if self.mode == "get":
            status, _ = self._call("GET", "/api/num_jobs")
            return "" if status == 200 else f"HTTP {status}"
        endpoint, needs_state = ENDPOINTS[int(self.random.random() * len(ENDPOINTS))]
        body = {"question": synthetic.QUESTIONS[int(self.random.random() * len(synthetic.QUESTIONS))][0]}
        if needs_state:
            body["state"] = synthetic.LOCATIONS[int(self.random.random() * len(synthetic.LOCATIONS))][0]
        status, answer = self._call("POST", f"/api/{endpoint}", json.dumps(body).encode())
        if status != 200 or "job_id" not in answer:
            return f"HTTP {status}"
        if self.mode == "post":
            return ""
        path = f"/api/get_results/{answer['job_id']}"
        while True:
            status, answer = self._call("GET", path)
            if status != 200 or answer.get("status") == "error":
                return f"result HTTP {status} {answer.get('status')}"
            if answer.get("status") == "done":
                return ""


def load_child(port: int, mode: str, threads: int, warmup: float,
               duration: float, seed: int, count: int) -> dict:
    """Run in a load process: ``threads`` clients, until the window ends or ``count`` ops.

    Once every client is connected, it prints ``ready`` and reads the start
    time (``time.time()``) from its standard input, so that no window begins
    before every load process is there to fill it, however slowly a process
    starts on a busy machine.  Requests start ``warmup`` seconds before that
    start; only operations inside ``[start, start + duration]`` are
    measured.  With ``count``, the clients share that many operations and
    every one is measured.
    """
    budget = [count] if count else None
    lock = threading.Lock()
    clients = [LoadThread(port, mode, seed * 1000 + index, budget, lock)
               for index in range(threads)]
    print("ready", flush=True)
    start = float(sys.stdin.readline())
    window = (start, start + duration)
    for client in clients:
        client.schedule(start - warmup, window)
        client.start()
    for client in clients:
        client.join()
    # The connections stay open until the bench has read the server's
    # counters at the end of the window: a server with a thread per
    # connection (the ceilings) ends those threads as their connections
    # close, and /proc forgets their context switches.  A --full run read
    # the bare ceiling's after its clients had gone: 0.005 switches per
    # request, against 2.1-2.7 in other runs.
    if not count:
        sys.stdin.readline()
    for client in clients:
        client.close()
    errors: Counter = Counter()
    for client in clients:
        errors.update(client.errors)
    return {"latencies_ms": [round(value, 3) for client in clients for value in client.latencies],
            "requests": sum(client.requests for client in clients), "errors": errors}


class Driven(Protocol):
    """What :func:`drive` needs of a server: a ServerUnderTest, or serverprofile's in-process one."""

    kind: str
    port: int

    def cpu(self) -> float: ...

    def switches(self) -> Dict[str, int]: ...

    def rss_mb(self) -> float: ...


def drive(server: Driven, mode: str, clients: int, processes: int, duration: float,
          warmup: float, seed: int, count: int = 0) -> dict:
    """Load ``server`` from ``processes`` processes; return throughput, latency, CPU, RSS."""
    processes = max(1, min(processes, clients))
    children = []
    for index in range(processes):
        threads = clients // processes + (1 if index < clients % processes else 0)
        command = [sys.executable, "-m", "statsd.tools.bench", "--role", "load", "--port", str(server.port),
                   "--mode", mode, "--threads", str(threads),
                   "--warmup", repr(warmup), "--duration", repr(duration), "--seed", str(seed + index), "--count",
                   str(count // processes + (1 if index < count % processes else 0))]
        children.append(subprocess.Popen(command, cwd=PROJECT_ROOT, env=_child_env(),
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True))
    for child in children:  # every client connected: the window can begin
        assert child.stdin is not None and child.stdout is not None and child.stderr is not None
        if child.stdout.readline().strip() != "ready":
            child.wait(60)
            raise RuntimeError(f"load process failed: {child.stderr.read().strip()[-500:]}")
    start = time.time() + warmup + 0.02
    for child in children:
        assert child.stdin is not None  # stdin=PIPE
        child.stdin.write(f"{start!r}\n")
        child.stdin.flush()
    if count:
        cpu_before, switches_before, began = server.cpu(), server.switches(), time.time()
    else:
        time.sleep(max(0.0, start - time.time()))
        cpu_before, switches_before, began = server.cpu(), server.switches(), start
        time.sleep(max(0.0, start + duration - time.time()))
        cpu_after, switches_after, ended = server.cpu(), server.switches(), time.time()
        rss = server.rss_mb()
    latencies: List[float] = []
    requests = 0
    errors: Dict[str, int] = {}
    for child in children:
        # A timed run's clients close their connections once told (see load_child).
        out, err = child.communicate(input=None if count else "close\n", timeout=duration + 600)
        if child.returncode != 0:
            raise RuntimeError(f"load process failed: {err.strip()[-500:]}")
        report = json.loads(out)
        latencies.extend(report["latencies_ms"])
        requests += report["requests"]
        errors.update(report["errors"])
    if count:  # the operations have all been done only now
        cpu_after, switches_after, ended = server.cpu(), server.switches(), time.time()
        rss = server.rss_mb()
    if not latencies:  # nothing to divide by: the run failed, whatever else it saw
        errors["no operation completed in the window"] = 1
    latencies.sort()
    return {"server": server.kind, "mode": mode, "clients": clients, "latencies": latencies,
            "requests": requests, "errors": errors, "cpu_s": cpu_after - cpu_before,
            "switches": switches_between(switches_before, switches_after),
            "rss_mb": rss, "seconds": duration if not count else ended - began}


def ops_per_s(run: dict) -> float:
    """Operations per second of one run of :func:`drive` (0 for a run of no time)."""
    return len(run["latencies"]) / run["seconds"] if run["seconds"] else 0.0


def summarize(runs: Sequence[dict]) -> dict:
    """One row of the table from the runs (rounds) of one server, mode and client count."""
    latencies = sorted(value for run in runs for value in run["latencies"])
    seconds = sum(run["seconds"] for run in runs)
    errors: Counter = Counter()
    for run in runs:
        errors.update(run["errors"])
    first = runs[0]
    return {
        "server": first["server"], "mode": first["mode"], "clients": first["clients"],
        "rounds": len(runs), "seconds": seconds,
        "ops_per_s": len(latencies) / seconds if seconds else 0.0, "operations": len(latencies),
        "requests": sum(run["requests"] for run in runs),
        "p50_ms": percentile(latencies, 0.50), "p90_ms": percentile(latencies, 0.90),
        "p99_ms": percentile(latencies, 0.99),
        "errors": sum(errors.values()), "error_kinds": errors,
        "cpu_s": sum(run["cpu_s"] for run in runs),
        "cpu_ms_per_op": (sum(run["cpu_s"] for run in runs) * 1000 / len(latencies)
                          if latencies else 0.0),
        "rss_mb": max(run["rss_mb"] for run in runs),
        "switches_per_op": (sum(run["switches"] for run in runs) / len(latencies)
                            if latencies else 0.0),
        # Each round's throughput, to see the noise of the machine.
        "ops_per_s_rounds": [round(ops_per_s(run), 1) for run in runs],
    }


RATIO_FIELDS = ("ops_per_s", "p50_ms", "p90_ms", "p99_ms", "cpu_ms_per_op", "rss_mb",
                "switches_per_op")


def reference_of(kind: str, mode: str) -> Optional[str]:
    """The server a row's ratios are taken against.

    statsd's ``cycle`` and ``post`` against the shape ceiling (the least a
    job costs on this machine), its ``get`` against the bare ceiling (no job
    is involved); the shape ceiling against the bare one; the bare one
    against nothing.
    """
    if kind in ("statsd", "baseline"):
        return "bare" if mode == "get" else "shape"
    return "bare" if kind == "shape" else None


def turns(servers: Sequence[str], round_number: int) -> Tuple[str, ...]:
    """The order of the servers in a round: rotated each round, so each goes first in turn."""
    shift = round_number % len(servers)
    return tuple(servers[shift:]) + tuple(servers[:shift])


def bench_serving(data: str, workdir: str, modes: Sequence[str], clients: Sequence[int],
                  processes: int, duration: float, warmup: float, rounds: int, say,
                  settings: Servers = Servers()) -> List[dict]:
    """Every (mode, clients) on both ceilings and on statsd, a fresh server each run.

    The servers take turns, ``rounds`` times (the order rotated each round),
    so that a change in the machine's background load falls on all of them.
    """
    rows: List[dict] = []
    for mode in modes:
        for count in clients:
            servers = servers_of(mode, settings)
            runs: Dict[str, List[dict]] = {kind: [] for kind in servers}
            for round_number in range(rounds):
                for kind in turns(servers, round_number):
                    server = ServerUnderTest(kind, data, workdir, settings)
                    try:
                        runs[kind].append(drive(server, mode, count, processes, duration,
                                                warmup, seed=count * 100 + round_number))
                        server.drain()
                    finally:
                        server.stop()
            summary = {kind: summarize(kind_runs) for kind, kind_runs in runs.items()}
            for kind, row in summary.items():
                row["ratios"] = {other: ratios(row, summary[other])
                                 for other in servers if other != kind}
                row["by_round"] = {other: paired_by_round(runs[kind], runs[other])
                                   for other in servers if other != kind}
                row["reference"] = reference_of(kind, mode)
                if row["reference"]:
                    for field, value in row["ratios"][row["reference"]].items():
                        row[f"{field}_ratio"] = value
            for kind in servers:
                row = summary[kind]
                against = (f" ({row['ops_per_s_ratio']:.2f}x {row['reference']})"
                           if row.get("ops_per_s_ratio") is not None else "")
                if kind == "statsd" and row["ratios"].get("baseline", {}).get("ops_per_s"):
                    against += f" ({row['ratios']['baseline']['ops_per_s']:.2f}x baseline)"
                say(f"  {mode:5} {count:3} clients {kind:6} {row['ops_per_s']:8,.0f} ops/s"
                    f"{against}, p99 {row['p99_ms']:7.2f} ms, "
                    f"{row['cpu_ms_per_op'] * 1000:5.0f} us CPU/op, {row['errors']} errors")
            rows.extend(summary[kind] for kind in servers)
    return rows


def paired_by_round(mine: Sequence[dict], theirs: Sequence[dict]) -> dict:
    """Each round's ops/s of ``mine`` over ``theirs`` in the same round, and their median.

    The ratio of the totals (``ratios``) lets one slow round weigh on either
    side; this pairs each round with the other server's run in the same
    turn, a minute apart at most, as the ingest's ratio by round does.  On
    this machine one server's rounds moved by 30 % or more within a run.
    """
    rates = [(ops_per_s(run), ops_per_s(other)) for run, other in zip(mine, theirs)]
    found = [rate / other for rate, other in rates if other]
    return {"ops_per_s": [round(ratio, 3) for ratio in found],
            "median": round(statistics.median(found), 3) if found else None}


def ratios(row: dict, reference: dict) -> Dict[str, Optional[float]]:
    """``row``'s figures divided by ``reference``'s; None where the reference has 0."""
    return {field: (row[field] / reference[field] if reference[field] else None)
            for field in RATIO_FIELDS}


def bench_job_memory(data: str, workdir: str, first: int, total: int, processes: int,
                     say, settings: Servers = Servers()) -> dict:
    """statsd's RSS after ``first`` completed jobs and after ``total``: results live on disk.

    The jobs are run in ``cycle`` mode (32 clients, each waiting for its job
    to be done before the next), so that the queue never holds more than 32
    jobs and what is measured is what a completed job leaves in memory, not
    the high-water mark of a backlog.
    """
    server = ServerUnderTest("statsd", data, workdir, settings)
    try:
        rss_start = server.rss_mb()
        started = time.monotonic()
        errors = sum(drive(server, "cycle", 32, processes, 0.0, 0.0, seed=7,
                           count=first)["errors"].values())
        server.drain()
        rss_first = server.rss_mb()
        errors += sum(drive(server, "cycle", 32, processes, 0.0, 0.0, seed=8,
                            count=total - first)["errors"].values())
        server.drain()
        rss_total = server.rss_mb()
        results = sum(1 for name in os.listdir(os.path.join(server.directory, "results"))
                      if name.startswith("job_id_") and name.endswith(".json"))
        seconds = time.monotonic() - started
    finally:
        server.stop()
    say(f"  RSS {rss_first:.1f} MB after {first:,} jobs, {rss_total:.1f} MB after {total:,}")
    return {"jobs_first": first, "jobs_total": total, "rss_start_mb": rss_start,
            "rss_first_mb": rss_first, "rss_total_mb": rss_total,
            "growth_mb": rss_total - rss_first, "result_files": results, "errors": errors,
            "seconds": seconds}


# -- targets and the table ------------------------------------------------------

def targets(report: dict) -> List[dict]:
    """The issue's targets, each as measured in this run."""
    found: List[dict] = []

    def target(name: str, value: Optional[float], limit: float, higher_is_better: bool,
               unit: str = "x") -> None:
        if value is None:
            found.append({"target": name, "value": None, "met": None})
            return
        met = value >= limit if higher_is_better else value <= limit
        found.append({"target": name, "value": round(value, 3), "unit": unit, "met": met})

    ingest = [row for row in report["ingest"] if row["kind"] == "statsd"]
    target("ingest CPU time / csv.reader pass, median by round (<= 1.5x)",
           max((row["time_ratio"] for row in ingest), default=None), 1.5, False)
    million = [row for row in ingest if row["rows"] >= 1_000_000]
    target("peak RSS loading 1,000,000 rows (< 250 MB)",
           million[0]["peak_rss_mb"] if million else None, 250, False, " MB")
    serving = report["serving"]
    statsd = [row for row in serving if row["server"] == "statsd"]
    client_counts = sorted({row["clients"] for row in statsd}) or [8, 32]

    def ratio(mode: str, field: str, clients: int) -> Optional[float]:
        """statsd's ratio to the reference of ``mode`` (see reference_of)."""
        for row in statsd:
            if row["mode"] == mode and row["clients"] == clients:
                return row.get(f"{field}_ratio")
        return None

    for mode, what, limit in (("get", "get req/s / bare ceiling", 0.9),
                              ("cycle", "cycle pairs/s / shape ceiling", 0.8),
                              ("post", "post job ids/s / shape ceiling", 0.8)):
        for clients in client_counts:
            target(f"{what}, {clients} clients (>= {limit}x)",
                   ratio(mode, "ops_per_s", clients), limit, True)
    most = max(client_counts)
    target(f"job-id p99 / shape ceiling's, {most} clients (<= 1.5x)",
           ratio("post", "p99_ms", most), 1.5, False)
    memory = report.get("job_memory")
    target("errors in every serving run, ceilings included, and the memory check (0)",
           float(sum(row["errors"] for row in serving) + (memory["errors"] if memory else 0))
           if serving else None, 0, False, "")
    target(f"RSS growth from {memory['jobs_first']:,} to {memory['jobs_total']:,} jobs (<= 30 MB)"
           if memory else "RSS growth over completed jobs (<= 30 MB)",
           memory["growth_mb"] if memory else None, 30, False, " MB")
    return found


def _ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _cell(value: float, ratio: Optional[float], digits: int) -> str:
    text = f"{value:,.{digits}f}"
    return f"{text} ({ratio:.2f}x)" if ratio is not None else text


def table(report: dict) -> str:
    """The whole report as plain text (also valid Markdown)."""
    meta = report["meta"]
    lines = [f"statsd bench, {meta['mode']} run: {meta['cpus']} CPUs, Python {meta['python']}, "
             f"{meta['platform']}; load from {meta['load_processes']} processes; serving: "
             f"{meta['rounds']} rounds of {meta['duration_s']} s per server after "
             f"{meta['warmup_s']} s warm-up, the servers taking turns", ""]
    lines += ["| ingest | rows | best of | CPU seconds | wall seconds | peak RSS MB "
              "| job compute us | CPU ratio by round: median (each round) |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    for row in report["ingest"]:
        rounds = row.get("time_ratio_by_round")
        by_round = (f"{row['time_ratio']:.2f}x ({', '.join(f'{ratio:.2f}' for ratio in rounds)})"
                    if rounds else "")
        lines.append(f"| {row['label']} | {row['rows']:,} | {row['runs']} | "
                     f"{_cell(row['cpu_seconds'], row.get('best_time_ratio'), 3)} | "
                     f"{_cell(row['seconds'], row.get('wall_ratio'), 3)} | "
                     f"{_cell(row['peak_rss_mb'], row.get('rss_ratio'), 1)} | "
                     f"{'' if row['job_us'] is None else format(row['job_us'], '.0f')} | "
                     f"{by_round} |")
    for row in report["ingest"]:
        if row.get("baseline_ratio_by_round"):
            lines.append(f"\nstatsd / baseline load_csv, {row['rows']:,} rows, CPU time by round: "
                         f"median {row['baseline_ratio']:.3f}x ("
                         f"{', '.join(f'{ratio:.3f}' for ratio in row['baseline_ratio_by_round'])})")
    files = report.get("file_cost")
    if files:
        lines += ["", "| a result file: create + write + rename | filesystem | files "
                      "| CPU us per file | wall us per file | CPU us per file "
                      f"{AFTER_DELETE_PAUSE:g} s after deleting them |",
                  "|---|---|---:|---:|---:|---:|"]
        for row in files:
            after = row.get("after_delete_cpu_us")
            lines.append(f"| {row['label']} (`{row['directory']}`) | {row['filesystem']} | "
                         f"{row['files']:,} | {row['cpu_us']:.0f} | {row['wall_us']:.0f} | "
                         f"{'-' if after is None else format(after, '.0f')} |")
    lines += ["", "| mode | clients | server | ops/s | p50 ms | p90 ms | p99 ms | errors "
              "| server CPU ms/op | server RSS MB | context switches/op | ops/s by round |",
              "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in report["serving"]:
        cells = [_cell(row[field], row.get(f"{field}_ratio"), 0 if field == "ops_per_s" else 2)
                 for field in RATIO_FIELDS]
        if row.get("reference"):
            cells[0] = cells[0].replace("x)", f"x {row['reference']})")
        rounds = ", ".join(f"{value:,.0f}" for value in row.get("ops_per_s_rounds", ()))
        lines.append(f"| {row['mode']} | {row['clients']} | {SERVER_LABELS[row['server']]} | "
                     f"{cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} | {row['errors']} | "
                     f"{cells[4]} | {cells[5]} | {cells[6]} | {rounds} |")
    lines += ["", "ops/s: cycle = POST + polls until done, per second; post = POSTs; "
                  "get = GET /api/num_jobs.  (Nx ref) = this server / the reference server, same "
                  "mode and clients: statsd's cycle and post against the shape ceiling, its get "
                  "against the bare one; the shape ceiling against the bare one.  Context "
                  "switches: of every server thread in the window (/proc/PID/task/*/status), "
                  "each a thread that stopped for a blocking call, a lock or the GIL."]
    paired = [f"{row['mode']} {row['clients']} {row['server']}/{other}: "
              f"{_ratio(by_round['median'])} ({', '.join(f'{x:.2f}' for x in by_round['ops_per_s'])})"
              for row in report["serving"] if row["server"] in ("statsd", "baseline")
              for other, by_round in row.get("by_round", {}).items()
              if other in (row.get("reference"), "baseline") and other != row["server"]]
    if paired:
        lines += ["", "ops/s paired by round (each round's ops/s over the other server's in the "
                      "same turn), median (each round): " + "; ".join(paired)]
    against_baseline = [row for row in report["serving"]
                        if row["server"] == "statsd" and "baseline" in row["ratios"]]
    if against_baseline:
        lines += ["", f"statsd / baseline ({meta['baseline']} {meta['baseline_args']}), same "
                      "turns: " + "; ".join(
                          f"{row['mode']} {row['clients']}: "
                          f"{_ratio(row['ratios']['baseline']['ops_per_s'])} ops/s, "
                          f"{_ratio(row['ratios']['baseline']['cpu_ms_per_op'])} CPU/op, "
                          f"{_ratio(row['ratios']['baseline']['p99_ms'])} p99"
                          for row in against_baseline)]
    memory = report.get("job_memory")
    if memory:
        lines += ["", f"statsd RSS: {memory['rss_start_mb']:.1f} MB at start, "
                      f"{memory['rss_first_mb']:.1f} MB after {memory['jobs_first']:,} jobs, "
                      f"{memory['rss_total_mb']:.1f} MB after {memory['jobs_total']:,} "
                      f"({memory['result_files']:,} result files, {memory['errors']} errors, "
                      f"{memory['seconds']:.0f} s)"]
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    for item in report["targets"]:
        value = "not run" if item["value"] is None else f"{item['value']:,}{item['unit']}"
        met = {True: "yes", False: "NO", None: "-"}[item["met"]]
        lines.append(f"| {item['target']} | {value} | {met} |")
    return "\n".join(lines)


# -- the command line -----------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m statsd.tools.bench",
        description="Benchmark statsd's ingest and serving against standard-library baselines.")
    parser.add_argument("--full", action="store_true",
                        help="also 1,000,000 rows, longer runs, 100,000 jobs (several minutes)")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the quick data file")
    parser.add_argument("--repeat", type=int, default=5,
                        help="ingest rounds, each a csv.reader pass then statsd's load")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds measured per serving run (default 1.5, --full 5)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="runs of each server per mode and client count, taking turns "
                             "(default 2, --full 3)")
    parser.add_argument("--warmup", type=float, default=0.3, help="seconds of load before measuring")
    parser.add_argument("--clients", type=client_counts, default="8,32",
                        help="client counts, comma separated")
    parser.add_argument("--modes", type=mode_list, default=",".join(MODES),
                        help=f"serving modes, comma separated ({', '.join(MODES)})")
    parser.add_argument("--load-processes", type=int, default=2,
                        help="processes the load generator's client threads are spread over")
    parser.add_argument("--jobs", type=job_counts, default=None,
                        help="memory check: FIRST,TOTAL jobs (default 1000,6000; --full 1000,100000;"
                             " 0 to skip)")
    parser.add_argument("--shape-workers", type=int, default=0,
                        help="worker threads of the shape ceiling (default: the CPU count, "
                             "statsd's default)")
    parser.add_argument("--statsd-args", default="",
                        help="more command-line arguments for statsd, e.g. '--threads 1'")
    parser.add_argument("--baseline", default=None, metavar="DIR",
                        help="another checkout of statsd (e.g. from `git worktree add DIR "
                             "main`), served as a fourth server in the same turns, and its "
                             "load_csv run in each ingest round: an A/B of a change in one run")
    parser.add_argument("--baseline-args", default="",
                        help="more command-line arguments for the baseline, e.g. "
                             "'--threads 1' (with --baseline .: an A/B of an option)")
    parser.add_argument("--file-cost-files", type=int, default=0,
                        help="files written to measure a result file's cost (default 3,000; "
                             "--full 20,000)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="JSON report path")
    parser.add_argument("--workdir", default=None, type=directory,
                        help="where the data files and the servers' results/ go (default: a "
                             "temporary directory; e.g. /dev/shm to leave the disk out)")
    parser.add_argument("--role", choices=("ingest", "load"), help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    return parser


def directory(text: str) -> str:
    """``--workdir``: a directory that exists (a scratch directory is made inside it)."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return text


def client_counts(text: str) -> List[int]:
    """``--clients``: positive whole numbers, comma separated."""
    try:
        counts = [int(part) for part in text.split(",") if part]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not whole numbers: {text!r}")
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"client counts must be at least 1: {text!r}")
    return counts


def mode_list(text: str) -> List[str]:
    """``--modes``: names from MODES, comma separated."""
    modes = [part for part in text.split(",") if part]
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"modes are {', '.join(MODES)}, not {text!r}")
    return modes


def job_counts(text: str) -> Tuple[int, int]:
    """``--jobs``: FIRST,TOTAL for the memory check, or 0 to skip it."""
    try:
        numbers = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected FIRST,TOTAL or 0, not {text!r}")
    if numbers == [0]:
        return 0, 0
    if len(numbers) != 2 or not 0 < numbers[0] < numbers[1]:
        raise argparse.ArgumentTypeError(f"expected FIRST,TOTAL with 0 < FIRST < TOTAL, not {text!r}")
    return numbers[0], numbers[1]


def run(args: argparse.Namespace, say=print) -> dict:
    """The whole benchmark; returns the report that is printed and written."""
    duration = args.duration or (5.0 if args.full else 1.5)
    rounds = args.rounds or (3 if args.full else 2)
    first, total = args.jobs or ((1000, 100_000) if args.full else (1000, 6000))
    workdir = tempfile.mkdtemp(prefix="statsd-bench-", dir=args.workdir)
    report: Dict[str, Any] = {"meta": {
        "mode": "full" if args.full else "quick", "cpus": os.cpu_count(),
        "python": platform.python_version(), "platform": platform.platform(terse=True),
        "load_processes": args.load_processes, "duration_s": duration, "rounds": rounds,
        "warmup_s": args.warmup,
        "shape_workers": args.shape_workers or os.cpu_count(),
        "statsd_args": args.statsd_args, "baseline": args.baseline,
        "baseline_args": args.baseline_args,
        "workdir": os.path.dirname(workdir),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }}
    try:
        sizes = [args.rows] + ([1_000_000] if args.full and args.rows != 1_000_000 else [])
        files = {}
        report["ingest"] = []
        for rows in sizes:
            files[rows] = os.path.join(workdir, f"brfss-{rows}.csv")
            say(f"writing {rows:,} synthetic rows")
            synthetic.write_csv(files[rows], rows)
            say(f"ingest of {rows:,} rows, {args.repeat} rounds")
            report["ingest"] += bench_ingest(files[rows], rows, args.repeat, args.baseline)
        say("serving")
        settings = Servers(args.shape_workers, tuple(shlex.split(args.statsd_args)),
                           args.baseline, tuple(shlex.split(args.baseline_args)))
        report["serving"] = bench_serving(
            files[args.rows], workdir, args.modes, args.clients, args.load_processes,
            duration, args.warmup, rounds, say, settings)
        if first and total > first:
            say(f"memory over {total:,} jobs")
            report["job_memory"] = bench_job_memory(files[args.rows], workdir, first, total,
                                                    args.load_processes, say, settings)
        # Last, since it deletes files (see bench_file_cost).
        count = args.file_cost_files or (20_000 if args.full else 3_000)
        say(f"a result file: create + write + rename, {count:,} files in a directory")
        report["file_cost"] = bench_file_cost(workdir, count, say)
        report["targets"] = targets(report)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.role == "ingest":
        print(json.dumps(ingest_child(args.kind, args.data)))
        return 0
    if args.role == "load":
        print(json.dumps(load_child(args.port, args.mode, args.threads, args.warmup,
                                    args.duration or 0.0, args.seed, args.count)))
        return 0
    report = run(args, say=lambda text: print(text, file=sys.stderr, flush=True))
    print(table(report))
    directory = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(directory, exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1)
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
