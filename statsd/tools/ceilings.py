"""The two reference servers of ``make bench``: the bare ceiling and the shape ceiling.

Why: a ratio to a server that does no job at all (the *bare* ceiling, one
constant answer to everything) mixes two costs: what any server of this
mission must pay per job on this machine, and statsd's own overhead.  The
*shape* ceiling pays only the first.  Per job it does what the mission's
shape requires and nothing else:

* ``POST``: parse the JSON body, take an id under a ``threading.Condition``,
  append the job to a deque and notify a worker, answer the id;
* a worker: write a constant result to a temporary file, rename it into
  place, set the job's ``Event``;
* ``GET /api/get_results/<id>``: wait up to 0.1 s on that ``Event`` and
  answer the result's bytes from memory;

with no logging, no validation and no journal.  Both servers share the
framing of the bare one, the least ``http.server`` does: HTTP/1.1
keep-alive, Nagle off, the request parsed by ``BaseHTTPRequestHandler``, the
body read, every response written in one call.  Run one with
``python3 -m statsd.tools.ceilings bare|shape [--results DIR] [--workers N]``;
it prints ``serving on http://127.0.0.1:PORT`` and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Deque, Dict, Optional, Sequence

#: What the bare ceiling answers to everything: valid for every mode of the
#: load generator (a job id for a POST, "done" for a poll, a count).
BARE_BODY = b'{"job_id": "job_id_1", "status": "done", "num_jobs": 0}'

#: The shape ceiling's constant result: shaped like a ``states_mean`` answer
#: over the 55 locations of the data (about 1.9 KB, a middling statsd result).
SHAPE_RESULT = json.dumps({f"Location number {index:02d}": 20.0 + index / 7.0
                           for index in range(55)}).encode()

#: How long a poll of a job not yet done waits for it, in seconds.
POLL_WAIT = 0.1


def framed(body: bytes, status: bytes = b"200 OK") -> bytes:
    """A whole HTTP/1.1 response, head and body, to be written in one call."""
    return (b"HTTP/1.1 %s\r\nServer: ceiling\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (status, len(body), body))


class CeilingHandler(BaseHTTPRequestHandler):
    """The bare ceiling: the least a standard-library HTTP server can do per request.

    Same request parsing as statsd (``BaseHTTPRequestHandler``), HTTP/1.1
    keep-alive, Nagle off, the body read, one precomputed response written
    in one call, and no logging.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    response = framed(BARE_BODY)

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self.read_body()
        self.wfile.write(self.response)

    do_POST = do_GET

    def log_message(self, format: str, *args) -> None:
        pass


class ShapeJob:
    """One job of the shape ceiling: its number and the Event its worker sets."""

    __slots__ = ("number", "request", "done")

    def __init__(self, number: int, request: object) -> None:
        self.number = number
        self.request = request
        self.done = threading.Event()


class ShapeJobs:
    """Ids, the queue and the workers: the least a job server must share between threads."""

    def __init__(self, directory: str, workers: int) -> None:
        self.directory = directory
        # Guards _next_number, _queue and _pending.  `jobs` is written under
        # it too, but read without it: a job is put into `jobs` before its id
        # is answered, so a reader holding an id always finds it (dict reads
        # and writes are atomic under the GIL).
        self._condition = threading.Condition(threading.Lock())
        self._next_number = 1
        self._queue: Deque[ShapeJob] = deque()
        self._pending = 0  # jobs queued or being written
        self.jobs: Dict[int, ShapeJob] = {}
        self.workers = [threading.Thread(target=self._work, name=f"shape-worker-{index}",
                                         daemon=True) for index in range(workers)]
        for worker in self.workers:
            worker.start()

    def submit(self, request: object) -> int:
        with self._condition:
            number = self._next_number
            self._next_number += 1
            job = ShapeJob(number, request)
            self.jobs[number] = job
            self._queue.append(job)
            self._pending += 1
            self._condition.notify()
        return number

    def pending(self) -> int:
        return self._pending

    def _work(self) -> None:
        while True:
            with self._condition:
                while not self._queue:
                    self._condition.wait()
                job = self._queue.popleft()
            final = os.path.join(self.directory, f"job_id_{job.number}.json")
            temporary = os.path.join(self.directory, f".job_id_{job.number}.json.tmp")
            with open(temporary, "wb") as handle:
                handle.write(SHAPE_RESULT)
            os.replace(temporary, final)
            job.done.set()
            with self._condition:
                self._pending -= 1


DONE = framed(b'{"status": "done", "data": ' + SHAPE_RESULT + b"}")
RUNNING = framed(b'{"status": "running"}')
UNKNOWN = framed(b'{"status": "error", "reason": "Invalid job_id"}', b"404 Not Found")
RESULTS_PREFIX = "/api/get_results/job_id_"


class ShapeHandler(CeilingHandler):
    """The shape ceiling's requests: a POST is a job, a poll waits briefly for it."""

    server: "ShapeServer"

    def do_POST(self) -> None:
        request = json.loads(self.read_body())
        number = self.server.jobs.submit(request)
        self.wfile.write(framed(b'{"job_id": "job_id_%d"}' % number))

    def do_GET(self) -> None:
        self.read_body()
        if self.path.startswith(RESULTS_PREFIX):
            job = self.server.jobs.jobs.get(_number(self.path[len(RESULTS_PREFIX):]))
            if job is None:
                self.wfile.write(UNKNOWN)
            else:
                self.wfile.write(DONE if job.done.wait(POLL_WAIT) else RUNNING)
        else:  # /api/num_jobs, and anything else
            self.wfile.write(framed(b'{"num_jobs": %d}' % self.server.jobs.pending()))


def _number(text: str) -> int:
    return int(text) if text.isdigit() else 0


class CeilingServer(ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


class ShapeServer(CeilingServer):
    def __init__(self, address, jobs: ShapeJobs) -> None:
        self.jobs = jobs
        super().__init__(address, ShapeHandler)


def serve(kind: str, results: Optional[str], workers: int) -> None:
    """Serve on a free port of 127.0.0.1 until SIGTERM."""
    if kind == "shape":
        directory = results or os.path.join(os.getcwd(), "results")
        os.makedirs(directory, exist_ok=True)
        server: CeilingServer = ShapeServer(("127.0.0.1", 0), ShapeJobs(directory, workers))
    else:
        server = CeilingServer(("127.0.0.1", 0), CeilingHandler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"{kind} ceiling: serving on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.05)  # SIGTERM stops it within 0.05 s
    server.server_close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m statsd.tools.ceilings",
                                     description="Serve the bare or the shape ceiling of the bench.")
    parser.add_argument("kind", choices=("bare", "shape"))
    parser.add_argument("--results", default=None, help="the shape ceiling's results directory")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="the shape ceiling's worker threads (default: the CPU count, "
                             "as statsd's)")
    args = parser.parse_args(argv)
    serve(args.kind, args.results, max(1, args.workers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
