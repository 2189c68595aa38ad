"""``make test``: the suite as two pytest runs side by side, then one verdict.

Why: most of the suite's time is waiting (servers starting and stopping,
a browser loading pages, clients polling a job, a slow client dripping),
so one process leaves a core idle much of the time.  Two ordinary pytest
runs, each over whole test files, keep both cores of a 2-core machine busy:
`python3 -m pytest` took 84 s here and the two halves side by side
49-55 s (README, "Set up").  A file is never split, so what a module
or class shares (a server, a browser) is shared as before.

Each half's output is printed whole, one after the other, and the exit
status is that of the first half that failed.  pytest's 5 ("no tests
collected") counts as a failure: a half that ran nothing is a broken split.
``python3 -m pytest`` and ``python3 -m unittest discover -s tests`` still
run the whole suite in one process; ``python3 tests/shards.py --shards 1``
is that too, through this script.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

TESTS = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(TESTS)

#: Seconds per test file (setup, calls and teardown), from
#: ``python3 -m pytest --durations=0`` at 15:56 UTC on 2026-12-01 (test_bench.py: plus the
#: 34 s of its run under cachegrind, measured at 19:50 UTC).  Only the
#: balance of the halves depends on them; a file not listed counts 1 s.
SECONDS: Dict[str, float] = {
    "test_browser.py": 22.6, "test_bench.py": 46.5, "test_e2e.py": 7.8,
    "test_faults.py": 5.4, "test_filters.py": 5.0, "test_bad_requests.py": 4.4,
    "test_archive.py": 3.4, "test_charts.py": 3.0, "test_client.py": 2.9,
    "test_operations.py": 2.2, "test_logs.py": 2.0, "test_get_results.py": 1.8,
    "test_bad_data.py": 1.8, "test_load.py": 1.6, "test_slow_clients.py": 1.2,
    "test_jobs.py": 1.2, "test_limits.py": 1.1,
}
OTHER_FILE_SECONDS = 1.0
NO_TESTS_COLLECTED = 5  # pytest's exit status


def split(files: Sequence[str], shards: int) -> List[List[str]]:
    """``files`` in ``shards`` groups of about equal time: longest first, each to the lightest group."""
    groups: List[List[str]] = [[] for _ in range(shards)]
    loads = [0.0] * shards
    weight = {name: SECONDS.get(os.path.basename(name), OTHER_FILE_SECONDS) for name in files}
    for name in sorted(files, key=lambda name: (-weight[name], name)):
        lightest = loads.index(min(loads))
        groups[lightest].append(name)
        loads[lightest] += weight[name]
    return [sorted(group) for group in groups if group]


def test_files() -> List[str]:
    """Every test module, as a path from the project's top (what pytest is given)."""
    return sorted(os.path.relpath(path, PROJECT)
                  for path in glob.glob(os.path.join(TESTS, "test_*.py")))


def run(shards: int, extra: Sequence[str]) -> int:
    files = test_files()
    groups = split(files, shards)
    print(f"{len(groups)} pytest runs side by side over {len(files)} test files", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="statsd-shards-") as directory:
        runs = []
        try:
            for number, group in enumerate(groups, 1):
                output = open(os.path.join(directory, f"shard-{number}.txt"), "w+")
                process = subprocess.Popen([sys.executable, "-m", "pytest", *extra, *group],
                                           cwd=PROJECT, stdin=subprocess.DEVNULL,
                                           stdout=output, stderr=subprocess.STDOUT)
                runs.append((number, group, output, process))
            statuses = [process.wait() for _, _, _, process in runs]
        except KeyboardInterrupt:
            for _, _, _, process in runs:
                process.terminate()
            for _, _, _, process in runs:
                process.wait()
            raise
        finally:
            for _, _, output, _ in runs:
                output.seek(0)
        for (number, group, output, _), status in zip(runs, statuses):
            print(f"\n==== run {number} of {len(groups)}: {' '.join(group)}", flush=True)
            sys.stdout.write(output.read())
            output.close()
    failed = [(number, status) for (number, _, _, _), status in zip(runs, statuses) if status]
    seconds = time.monotonic() - started
    if not failed:
        print(f"\nall {len(groups)} runs passed in {seconds:.1f} s", flush=True)
        return 0
    for number, status in failed:
        what = "collected no tests" if status == NO_TESTS_COLLECTED else f"exited {status}"
        print(f"\nrun {number} {what}", flush=True)
    print(f"FAILED: {len(failed)} of {len(groups)} runs, in {seconds:.1f} s", flush=True)
    return failed[0][1] if failed[0][1] != NO_TESTS_COLLECTED else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 tests/shards.py",
        description="Run the test suite as parallel pytest runs over whole test files.")
    parser.add_argument("--shards", type=int, default=min(2, os.cpu_count() or 1),
                        help="pytest runs side by side (default: 2, or 1 on a 1-CPU machine)")
    parser.add_argument("pytest_args", nargs="*", help="more arguments for every pytest run")
    args = parser.parse_args(argv)
    if args.shards < 1:
        parser.error("--shards must be at least 1")
    return run(args.shards, args.pytest_args)


if __name__ == "__main__":
    raise SystemExit(main())
