"""``python3 -m statsd.tools.probe``: is a running statsd still serving, while something attacks it?

Why: slowhttptest, ab and wrk say what the attack did, not whether an
ordinary client was still served meanwhile.  ``poll`` is that client (a new
connection for ``GET /api/num_jobs`` every 0.2 s, like the original
checker's polling) and prints how many answers came and how slow the slowest
was; ``big-heads`` is the memory attack of issue 9 (connections sending
header lines of 65 KB that never end a head) and prints the server's RSS
before, at its peak and after.  127.0.0.1 only; both stop by themselves.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from typing import List, Optional


def poll(port: int, seconds: float, interval: float = 0.2) -> str:
    latencies: List[float] = []
    failed = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        began = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"GET /api/num_jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            if data.startswith(b"HTTP/1.1 200"):
                latencies.append(time.monotonic() - began)
            else:
                failed += 1
        except OSError:
            failed += 1
        time.sleep(max(0.0, interval - (time.monotonic() - began)))
    latencies.sort()
    if not latencies:
        return f"probes {failed}, served 0"
    return (f"probes {len(latencies) + failed}, served {len(latencies)}, failed {failed}, "
            f"p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
            f"slowest {latencies[-1] * 1000:.1f} ms, over 1 s: {sum(1 for x in latencies if x > 1)}")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def big_heads(port: int, pid: int, connections: int = 50, lines: int = 98) -> str:
    line = b"X-Big: " + b"y" * 65000 + b"\r\n"
    answers: List[str] = []

    def flood() -> None:
        sock: Optional[socket.socket] = None
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /api/num_jobs HTTP/1.1\r\nHost: x\r\n")
            for _ in range(lines):
                sock.sendall(line)
        except OSError:
            pass
        try:
            answers.append(sock.recv(100)[:12].decode("latin-1") if sock else "no connection")
        except OSError as error:
            answers.append(type(error).__name__)
        if sock is not None:
            sock.close()

    before = peak = rss_mb(pid)
    threads = [threading.Thread(target=flood) for _ in range(connections)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, rss_mb(pid))
        time.sleep(0.02)
    time.sleep(0.5)
    kinds = {answer: answers.count(answer) for answer in sorted(set(answers))}
    return (f"RSS before {before:.1f} MB, peak {peak:.1f} MB, after {rss_mb(pid):.1f} MB; "
            f"answers {kinds}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m statsd.tools.probe", description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("poll", "big-heads"))
    parser.add_argument("--port", type=int, default=5000, help="statsd's port on 127.0.0.1")
    parser.add_argument("--seconds", type=float, default=30.0, help="poll: how long")
    parser.add_argument("--pid", type=int, help="big-heads: statsd's process id, for its RSS")
    args = parser.parse_args(argv)
    if args.mode == "poll":
        print(poll(args.port, args.seconds))
    else:
        if args.pid is None:
            parser.error("big-heads needs --pid")
        print(big_heads(args.port, args.pid))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
