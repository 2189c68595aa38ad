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
"""

from __future__ import annotations

import argparse
import os
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
    client.run()  # in this thread: one client, one request at a time
    spent = server.cpu() - before
    if client.errors:
        raise RuntimeError(f"{server.kind} {mode}: errors {client.errors}")
    if mode != "get":
        server.drain()  # the next pass starts with no job left over (its polls are not counted)
    return spent


def run(modes: Sequence[str], rounds: int, operations: int, rows: int,
        settings: bench.Servers, workdir: Optional[str], say=print) -> Dict[str, Dict[str, List[float]]]:
    """{mode: {server kind: [CPU us per operation, one per round]}}."""
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
                    server = bench.ServerUnderTest(kind, data, directory, settings)
                    try:
                        cost = measure(server, mode, operations, max(20, operations // 10),
                                       seed=round_number)
                    finally:
                        server.stop()
                    results[mode][kind].append(cost)
                    say(f"  {mode} round {round_number + 1}: {kind} {cost:,.0f} us")
        return results
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def table(results: Dict[str, Dict[str, List[float]]]) -> str:
    lines = ["| mode | server | CPU us per op, best | ratio (best) | median | all rounds |",
             "|---|---|---:|---:|---:|---|"]
    for mode, by_kind in results.items():
        for kind, costs in by_kind.items():
            reference = bench.reference_of(kind, mode)
            ratio = ""
            if reference in by_kind:
                ratio = f"{min(costs) / min(by_kind[reference]):.2f}x {reference}"
            if kind == "baseline":
                ratio = f"{min(by_kind['statsd']) / min(costs):.2f}x (statsd / baseline)"
            lines.append(f"| {mode} | {bench.SERVER_LABELS[kind]} | {min(costs):,.0f} | {ratio} | "
                         f"{statistics.median(costs):,.0f} | "
                         f"{', '.join(f'{cost:,.0f}' for cost in costs)} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m statsd.tools.opcost",
        description="Server CPU time per operation, one sequential client, servers in turns.")
    parser.add_argument("--modes", type=bench.mode_list, default=",".join(bench.MODES))
    parser.add_argument("--rounds", type=int, default=5, help="turns of each server (best is kept)")
    parser.add_argument("--operations", type=int, default=1500, help="operations per round")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the synthetic data file")
    parser.add_argument("--baseline", default=None, metavar="DIR",
                        help="another checkout of statsd, measured in the same turns")
    parser.add_argument("--baseline-args", default="", help="more arguments for the baseline")
    parser.add_argument("--statsd-args", default="", help="more arguments for statsd")
    parser.add_argument("--workdir", default=None, type=bench.directory, help="where data and the servers' results/ go")
    args = parser.parse_args(argv)
    settings = bench.Servers(statsd_args=tuple(shlex.split(args.statsd_args)),
                             baseline=args.baseline,
                             baseline_args=tuple(shlex.split(args.baseline_args)))
    results = run(args.modes, args.rounds, args.operations, args.rows, settings, args.workdir)
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
