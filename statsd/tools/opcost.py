"""``python3 -m statsd.tools.opcost``: the server CPU time of one operation, with no contention.

Why: ``make bench`` measures throughput with 8 and 32 clients, which is what
the targets are about, but on a shared 2-core machine its figures move by
30 % or more from one round to the next, so a change worth 10 % is lost in
the noise.  This tool measures what such a change alters: the CPU time a
server spends per operation (from ``/proc/PID/stat``, all its threads),
with one keep-alive client sending one request at a time, so no thread
waits for another and nothing queues.  The servers (the bare and shape
ceilings, statsd, and with ``--baseline`` another checkout of statsd) take
turns, a fresh round each time, and the best round of each is kept: the
background load of the machine can only add CPU time, never take it away.

The operations are the bench's own (:class:`statsd.tools.bench.LoadThread`):
``get`` (``GET /api/num_jobs``), ``post`` (a random statistic, job id only)
and ``cycle`` (the same, then ``get_results`` until done).

With ``--instructions``, each server runs under valgrind's cachegrind, which
counts the instructions the process executes (every thread, the kernel's
share of a system call left out).  A count is the same from one run to the
next to within about 1 %, where CPU time here moves by 30 %, so a change
worth a few percent can be measured in one run.  A measurement is two runs
of the server, one doing the warm-up only and one the warm-up and then the
operations; the difference, per operation, is what an operation costs.
Under cachegrind a server is 30-50 times slower, so the data file is small
(10,000 rows unless ``--rows`` says otherwise: enough for every question to have every location, which the bench's random requests need).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import statistics
import tempfile
import threading
from typing import Dict, List, Optional, Sequence

from . import bench, synthetic


def measure(server: bench.ServerUnderTest, mode: str, operations: int, warmup: int,
            seed: int) -> float:
    """Server CPU microseconds per operation over ``operations`` sequential ones, after ``warmup``."""
    _spend(server, mode, warmup, seed)
    return _spend(server, mode, operations, seed) / operations * 1e6


def _spend(server: bench.ServerUnderTest, mode: str, count: int, seed: int) -> float:
    """Server CPU seconds while one client does ``count`` operations."""
    client = bench.LoadThread(server.port, mode, seed, [count], threading.Lock())
    before = server.cpu()
    try:
        client.run()  # in this thread: one client, one request at a time
    finally:
        client.close()
    spent = server.cpu() - before
    if client.errors:
        raise RuntimeError(f"{server.kind} {mode}: errors {client.errors}")
    if mode != "get":
        server.drain()  # the next pass starts with no job left over (its polls are not counted)
    return spent


#: The command a server runs under for ``--instructions``: the count goes to stderr.
CACHEGRIND = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")
_REFS = re.compile(r"I\s+refs:\s+([0-9,]+)")


def instructions(server: bench.ServerUnderTest, mode: str, counts: Sequence[int], seed: int) -> int:
    """Do ``counts`` passes of operations on ``server`` (run under CACHEGRIND), stop it: its
    instruction total."""
    try:
        for count in counts:
            _spend(server, mode, count, seed)
    finally:
        stderr = server.stop()
    found = _REFS.search(stderr)
    if found is None:
        raise RuntimeError(f"{server.kind}: no instruction count from valgrind: {stderr[-300:]}")
    return int(found.group(1).replace(",", ""))


def measure_instructions(kind: str, mode: str, operations: int, warmup: int, seed: int,
                         data: str, directory: str, settings: bench.Servers) -> float:
    """Instructions per operation: a run doing the warm-up and the operations, less one
    doing the warm-up alone (the same requests: the same seed)."""
    warmed = instructions(bench.ServerUnderTest(kind, data, directory, settings), mode,
                          [warmup], seed)
    worked = instructions(bench.ServerUnderTest(kind, data, directory, settings), mode,
                          [warmup, operations], seed)
    return (worked - warmed) / operations


def run(modes: Sequence[str], rounds: int, operations: int, rows: int,
        settings: bench.Servers, workdir: Optional[str], say=print,
        count_instructions: bool = False) -> Dict[str, Dict[str, List[float]]]:
    """{mode: {server kind: [CPU us (or instructions) per operation, one per round]}}."""
    if count_instructions:
        settings = settings._replace(wrapper=CACHEGRIND)
    directory = tempfile.mkdtemp(prefix="statsd-opcost-", dir=workdir)
    try:
        data = os.path.join(directory, "brfss.csv")
        synthetic.write_csv(data, rows)
        results: Dict[str, Dict[str, List[float]]] = {}
        for mode in modes:
            kinds = bench.servers_of(mode, settings)
            results[mode] = {kind: [] for kind in kinds}
            for round_number in range(rounds):
                for kind in bench.turns(kinds, round_number):
                    warmup = max(20, operations // 10)
                    if count_instructions:
                        cost = measure_instructions(kind, mode, operations, warmup, round_number,
                                                    data, directory, settings)
                    else:
                        server = bench.ServerUnderTest(kind, data, directory, settings)
                        try:
                            cost = measure(server, mode, operations, warmup, seed=round_number)
                        finally:
                            server.stop()
                    results[mode][kind].append(cost)
                    say(f"  {mode} round {round_number + 1}: {kind} {cost:,.0f} "
                        f"{'instructions' if count_instructions else 'us'}")
        return results
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def table(results: Dict[str, Dict[str, List[float]]], unit: str = "CPU us") -> str:
    """The results by mode and server, each with its ratio to its reference.

    CPU time is compared on the best round (the machine's background load
    only ever adds to it); instruction counts on the median round (a count
    moves either way, with how the threads happened to interleave).
    """
    pick = statistics.median if unit == "instructions" else min
    which = "median" if unit == "instructions" else "best"
    lines = [f"| mode | server | {unit} per op, best | median | ratio ({which}) | all rounds |",
             "|---|---|---:|---:|---:|---|"]
    for mode, by_kind in results.items():
        for kind, costs in by_kind.items():
            reference = bench.reference_of(kind, mode)
            ratio = ""
            if reference in by_kind:
                ratio = f"{pick(costs) / pick(by_kind[reference]):.2f}x {reference}"
            if kind == "baseline":
                ratio = f"{pick(by_kind['statsd']) / pick(costs):.2f}x (statsd / baseline)"
            lines.append(f"| {mode} | {bench.SERVER_LABELS[kind]} | {min(costs):,.0f} | "
                         f"{statistics.median(costs):,.0f} | {ratio} | "
                         f"{', '.join(f'{cost:,.0f}' for cost in costs)} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m statsd.tools.opcost",
        description="Server CPU time (or, with --instructions, instructions) per operation, "
                    "one sequential client, servers in turns.")
    parser.add_argument("--modes", type=bench.mode_list, default=",".join(bench.MODES))
    parser.add_argument("--rounds", type=int, default=5,
                        help="turns of each server (ratios: the best round's CPU time, the "
                             "median round's instructions)")
    parser.add_argument("--operations", type=int, default=None,
                        help="operations per round (default: 1,500; 300 with --instructions)")
    parser.add_argument("--rows", type=int, default=None,
                        help="rows of the synthetic data file (default: 100,000; 10,000 with "
                             "--instructions)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per operation under valgrind's cachegrind "
                             "instead of CPU time (steady to about 1 %%; needs valgrind)")
    parser.add_argument("--baseline", default=None, metavar="DIR",
                        help="another checkout of statsd, measured in the same turns")
    parser.add_argument("--baseline-args", default="", help="more arguments for the baseline")
    parser.add_argument("--statsd-args", default="", help="more arguments for statsd")
    parser.add_argument("--workdir", default=None, type=bench.directory, help="where data and the servers' results/ go")
    args = parser.parse_args(argv)
    settings = bench.Servers(statsd_args=tuple(shlex.split(args.statsd_args)),
                             baseline=args.baseline,
                             baseline_args=tuple(shlex.split(args.baseline_args)))
    if args.instructions and shutil.which("valgrind") is None:
        parser.error("--instructions needs valgrind (Debian: apt-get install valgrind)")
    rows = args.rows or (10_000 if args.instructions else 100_000)
    operations = args.operations or (300 if args.instructions else 1500)
    results = run(args.modes, args.rounds, operations, rows, settings, args.workdir,
                  count_instructions=args.instructions)
    print(table(results, "instructions" if args.instructions else "CPU us"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
