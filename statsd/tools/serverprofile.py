"""``python3 -m statsd.tools.serverprofile``: where the server's CPU goes under load, by thread.

Why: ``python -m cProfile -m statsd`` only sees the main thread, which just
waits in ``select``; the work is done by the connection threads, the job
workers.  This runs the real server in this process,
gives every thread its own ``cProfile.Profile`` timed with
``time.thread_time`` (CPU time of that thread, kernel time of its system
calls included, waiting for the GIL or the disk excluded), drives it with the
benchmark's load generator (:mod:`statsd.tools.bench`, in other processes), and
prints the functions that cost the most CPU in each kind of thread, with the
CPU cost per operation.  Profiling slows everything down, so compare the
shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

from .. import logs
from . import bench, synthetic
from ..__main__ import default_threads
from ..app import App, Config


class InProcessServer:
    """The statsd application in this process, with what :func:`bench.drive` asks of a server."""

    kind = "statsd"

    def __init__(self, data: str, directory: str, workers: int) -> None:
        # Logged as the server logs by default, lines written together.
        self.log_output = logs.configure(os.path.join(directory, "webserver.log"),
                                         flush_seconds=logs.FLUSH_SECONDS)
        config = Config(data=data, results=os.path.join(directory, "results"),
                        host="127.0.0.1", port=0, threads=workers)
        self.app = App(config)
        self.jobs = self.app.jobs
        self.port = self.app.server.server_address[1]

    def start(self) -> None:
        self.app.start()
        self.app.serve_in_thread(poll_interval=0.5)

    def cpu(self) -> float:
        return bench.cpu_seconds(os.getpid())

    def switches(self) -> Dict[str, int]:
        return bench.context_switches(os.getpid())

    def rss_mb(self) -> float:
        return bench.proc_status_kb("VmRSS") / 1024

    def stop(self) -> None:
        self.app.stop("profile finished", timeout=60)
        if self.log_output is not None:
            self.log_output.stop()


class ThreadProfiles:
    """A CPU-time profiler for every thread started while installed."""

    def __init__(self) -> None:
        self.profiles: List[Tuple[str, cProfile.Profile]] = []
        self._lock = threading.Lock()

    def _start(self, *_) -> None:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self.profiles.append((threading.current_thread().name, profile))
        profile.enable()  # replaces this hook for the thread

    def install(self) -> None:
        threading.setprofile(self._start)

    def collect(self) -> Dict[str, pstats.Stats]:
        """Stats merged by kind of thread: workers, handlers, the loops."""
        threading.setprofile(None)
        merged: Dict[str, pstats.Stats] = {}
        for name, profile in self.profiles:
            profile.disable()
            if name.startswith("statsd-worker"):
                kind = "job workers"
            elif name == "statsd-serve":
                kind = "accept loop"
            elif name.startswith("statsd-handler"):
                kind = "handler threads"
            elif name == "statsd-io":
                kind = "I/O loop"
            else:  # any other thread is unnamed
                kind = "other threads"
            profile.create_stats()
            if kind in merged:
                merged[kind].add(profile)
            else:
                merged[kind] = pstats.Stats(profile)
        return merged


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m statsd.tools.serverprofile",
                                     description="Profile the server's threads under load.")
    parser.add_argument("--mode", default="cycle", choices=bench.MODES)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker threads (default: TP_NUM_OF_THREADS, else the CPU count)")
    parser.add_argument("--top", type=int, default=12, help="functions shown per kind of thread")
    parser.add_argument("--workdir", default=None, type=bench.directory, help="where data and results/ go")
    args = parser.parse_args(argv)
    directory = tempfile.mkdtemp(prefix="statsd-profile-", dir=args.workdir)
    try:
        data = os.path.join(directory, "brfss.csv")
        synthetic.write_csv(data, args.rows)
        server = InProcessServer(data, directory, args.workers or default_threads())
        profiles = ThreadProfiles()
        profiles.install()
        server.start()
        try:
            result = bench.summarize([bench.drive(server, args.mode, args.clients, 2,
                                                  args.duration, 0.5, seed=1)])
        finally:
            server.stop()
        jobs = sum(1 for _ in server.jobs.states())
        merged = profiles.collect()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(f"{args.mode}, {args.clients} clients, {args.duration} s under the profiler: "
          f"{result['ops_per_s']:,.0f} ops/s, {result['errors']} errors; "
          f"{result['requests']:,} requests and {jobs:,} jobs in all")
    for kind, stats in merged.items():
        # typeshed's pstats.Stats omits total_tt, which Stats sets as it loads
        total_tt: float = stats.total_tt  # type: ignore[attr-defined]
        per = f"{total_tt / max(1, result['requests']) * 1e6:,.0f} us per request"
        if jobs:
            per += f", {total_tt / jobs * 1e6:,.0f} us per job"
        print(f"\n== {kind}: {total_tt:.2f} s CPU, {per}")
        stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
