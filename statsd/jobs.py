"""Jobs: a bounded queue, the worker threads, and the on-disk result store.

Why: the API answers a data request at once with a job id and computes the
result in the background.  The path of a job is short and fully on disk:

    submit -> a line in ``journal.jsonl`` -> JobQueue -> worker -> compute
           -> ``.<id>.json.tmp`` -> os.replace -> ``<id>.json`` -> done

* The queue is a deque guarded by one ``threading.Condition`` (the way
  ``queue.Queue`` is built), with a bound so that a flood of requests gets
  503 instead of memory without limit.
* A result is written to a temporary file and renamed over its final name,
  so a reader sees either no result or all of it, even after SIGKILL.
* Every accepted job is journalled (one line appended to one open file)
  before its id is returned; on restart the journal is replayed, so an
  accepted job survives a crash, and ids continue after the highest one ever
  handed out, so none is handed out twice.
* Done results live on disk, not in memory: memory holds only the jobs in
  flight, the few that failed, a bounded cache of encoded results by request
  (the data does not change while the server runs, so a request asked again
  has the same answer and need not be computed again), and the bytes of the
  last few results written, so that the poll that follows a job need not
  open its file again.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import re
import threading
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

from .request import JobRequest

log = logging.getLogger("statsd.jobs")

RUNNING = "running"
DONE = "done"
ERROR = "error"
EXPIRED = "expired"

#: The only form of job id there is: ``job_id_`` and a positive number.
JOB_ID = re.compile(r"job_id_([1-9][0-9]{0,17})")

#: Bytes of encoded results kept, by request, for requests asked again, and the
#: largest result kept (mean_by_category on the public file is about 100 KB);
#: a larger one is recomputed each time rather than crowd out the others.
RESULT_CACHE_BYTES = 16 * 1024 * 1024
RESULT_CACHE_ITEM_BYTES = 256 * 1024

#: How many of the results written last are kept in memory for get_results.
RECENT_RESULTS = 256

_RESULT_FILE = re.compile(r"job_id_([1-9][0-9]*)\.(json|error)")

#: In the results directory: the requests of the jobs accepted and not yet
#: finished, one JSON line each (see :class:`Journal`).
JOURNAL_FILE = "journal.jsonl"

#: The journal is rewritten with only the jobs in flight once it is this large.
JOURNAL_COMPACT_BYTES = 4 * 1024 * 1024

#: In the results directory: the highest job number handed out, written before
#: expired results are deleted, so that their ids are never handed out again.
HIGH_WATER_FILE = "job_id_highest"


def job_name(number: int) -> str:
    return f"job_id_{number}"


def parse_job_id(text: str) -> Optional[int]:
    """The number of a job id such as ``job_id_7``, or None for anything else."""
    match = JOB_ID.fullmatch(text)
    return int(match.group(1)) if match else None


class Job:
    """One accepted request: what to compute, and an event set when it ends."""

    __slots__ = ("number", "request", "finished")

    def __init__(self, number: int, request: JobRequest) -> None:
        self.number = number
        self.request = request
        self.finished = threading.Event()

    @property
    def id(self) -> str:
        return job_name(self.number)

    def journalled(self) -> dict:
        """The request as journalled, enough to run the job again."""
        return {"job": self.number, **self.request.to_json()}


class ResultsInUse(Exception):
    """Another process holds the results directory."""


class QueueFull(Exception):
    """The queue holds as many jobs as it may; try again later."""


class QueueClosed(Exception):
    """The queue takes no more jobs: the server is shutting down."""


class JobQueue:
    """A FIFO of jobs for the workers, bounded, closable, one Condition.

    ``put`` never blocks (a full queue raises :class:`QueueFull`); ``get``
    blocks until there is a job, and returns None once the queue is closed and
    empty, which is how a worker learns to stop.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: collections.deque = collections.deque()
        self._condition = threading.Condition(threading.Lock())
        self._closed = False

    def put(self, job: Job, force: bool = False) -> None:
        """Append ``job``; ``force`` ignores the bound (for jobs already accepted)."""
        with self._condition:
            if self._closed:
                raise QueueClosed()
            if len(self._items) >= self.maxsize and not force:
                raise QueueFull()
            self._items.append(job)
            self._condition.notify()

    def get(self) -> Optional[Job]:
        with self._condition:
            while not self._items:
                if self._closed:
                    return None
                self._condition.wait()
            return self._items.popleft()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class ResultStore:
    """The ``results/`` directory: results, failures and the journal.

    File names are built from job numbers only, never from client text, so
    no request can reach a file outside the directory.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self._lock_fd: Optional[int] = None

    def lock(self) -> None:
        """Take the directory for this process alone; raises ResultsInUse if another has it.

        Two servers over one results/ would hand out the same ids and remove
        each other's temporary files.  The lock is an advisory ``flock`` on
        the directory itself (no lock file to leave behind), released when
        the process ends, however it ends.
        """
        if fcntl is None:  # not a POSIX system: no lock, as before
            return
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ResultsInUse(self.directory) from None
        self._lock_fd = fd

    def path(self, number: int, kind: str = "json") -> str:
        return os.path.join(self.directory, f"{job_name(number)}.{kind}")

    def write(self, number: int, kind: str, payload: bytes) -> None:
        """Write ``<id>.<kind>`` atomically: temporary file, then rename."""
        write_atomically(self.path(number, kind), payload)

    def read(self, number: int, kind: str = "json") -> bytes:
        with open(self.path(number, kind), "rb") as handle:
            return handle.read()

    def remove(self, number: int, kind: str) -> None:
        _remove(self.path(number, kind))

    def scan(self) -> Tuple[Dict[int, Set[str]], int]:
        """List what a previous run left: ``{number: {kinds}}``, and temp files removed."""
        found: Dict[int, Set[str]] = {}
        removed = 0
        with os.scandir(self.directory) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") and name.endswith(".tmp"):
                    _remove(entry.path)
                    removed += 1
                    continue
                match = _RESULT_FILE.fullmatch(name)
                if match:
                    found.setdefault(int(match.group(1)), set()).add(match.group(2))
        return found, removed

    def written_before(self, cutoff: float) -> List[Tuple[int, str]]:
        """``(number, kind)`` of every result or failure file last written before ``cutoff``."""
        old = []
        with os.scandir(self.directory) as entries:
            for entry in entries:
                match = _RESULT_FILE.fullmatch(entry.name)
                if match:
                    try:
                        written = entry.stat().st_mtime
                    except FileNotFoundError:
                        continue
                    if written < cutoff:
                        old.append((int(match.group(1)), match.group(2)))
        return old

    def read_high_water(self) -> int:
        """The highest job number ever handed out, as recorded before results were deleted."""
        try:
            with open(os.path.join(self.directory, HIGH_WATER_FILE), encoding="ascii") as handle:
                return int(handle.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def write_high_water(self, number: int) -> None:
        """Record ``number`` so that ids go on after it even when its result is deleted."""
        if number > self.read_high_water():
            write_atomically(os.path.join(self.directory, HIGH_WATER_FILE), f"{number}\n".encode())


def write_atomically(final: str, payload: bytes) -> None:
    """Write ``final`` through ``.<name>.tmp`` beside it and a rename: all of it or nothing.

    The temporary name starts with a dot and ends in ``.tmp``, which is what
    ResultStore.scan() removes at start when a write was cut short.
    """
    directory, name = os.path.split(final)
    temporary = os.path.join(directory, f".{name}.tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(payload)
        os.replace(temporary, final)
    except BaseException:
        _remove(temporary)
        raise


def _remove(path: str) -> None:
    """Remove a file if it is there; never raise, since a worker calls this.

    ENOTDIR counts as "not there": it is what unlink says when results/ has
    been replaced by something that is not a directory.
    """
    try:
        os.unlink(path)
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as error:
        log.warning("could not remove %s: %s", path, error.strerror or error)


class Journal:
    """An append-only file of accepted requests, one JSON line per job.

    Why: a job must survive a crash from the moment its id is answered.  A
    file per job would cost a create, a rename and an unlink per job, which
    on an ordinary disk cost more than the rest of the job; a line appended
    to one open file costs one ``write``.  The kernel keeps what was written
    when the process is killed (a power cut is another matter: there is no
    fsync).  The file is emptied whenever no job is in flight, and rewritten
    with only the jobs in flight when it grows large, so it stays small.

    All methods but :meth:`read` are called under the JobManager's lock.
    """

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, JOURNAL_FILE)
        self._fd: Optional[int] = None
        self._size = 0

    def read(self) -> Tuple[List[dict], int]:
        """The requests journalled by a previous run, and how many lines were damaged."""
        try:
            with open(self.path, "rb") as handle:
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return [], 0
        requests, damaged = [], 0
        for line in lines:
            try:
                request = json.loads(line)
                if not isinstance(request, dict) or not isinstance(request.get("job"), int):
                    raise ValueError
            except ValueError:  # a line cut short by a kill, or not ours
                damaged += 1
                continue
            requests.append(request)
        return requests, damaged

    def rewrite(self, jobs: Iterator["Job"]) -> None:
        """Replace the journal by the requests of ``jobs`` (temporary file + rename), then reopen it."""
        self.close()
        write_atomically(self.path, b"".join(_journal_line(job) for job in jobs))
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._size = os.fstat(self._fd).st_size

    def append(self, job: "Job") -> None:
        """Journal ``job``; raises OSError (and the job runs unjournalled)."""
        if self._fd is None:
            raise OSError("the journal is not open")
        line = _journal_line(job)
        os.write(self._fd, line)
        self._size += len(line)

    def idle(self, active: Dict[int, "Job"], unwritten: Dict[int, "Job"]) -> None:
        """Called when a job ends: keep the journal to the jobs still to replay.

        Those are the jobs in flight, and the ended ones whose outcome could
        not be written (so that a restart runs them again, and never hands
        their ids out twice).
        """
        if self._fd is None:
            return
        try:
            if not active and not unwritten:
                if self._size:
                    os.ftruncate(self._fd, 0)
                    self._size = 0
            elif self._size > JOURNAL_COMPACT_BYTES:
                keep = sorted([*unwritten.values(), *active.values()], key=lambda job: job.number)
                self.rewrite(iter(keep))
        except OSError as error:
            log.warning("journal not trimmed: %s", error.strerror or error)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        """Close and delete the journal: at a clean stop, no job is left to replay."""
        self.close()
        _remove(self.path)


def _journal_line(job: "Job") -> bytes:
    return json.dumps(job.journalled()).encode() + b"\n"


Compute = Callable[[JobRequest], object]


class JobManager:
    """Hands out job ids, queues jobs, runs the workers, answers for states.

    ``compute(request)`` returns the data of a result; it
    runs on a worker thread, and must be a pure function of its arguments:
    its encoded results are cached (up to ``cache_bytes``).  A job's state
    is: running while queued or computed, then done (a file ``<id>.json``) or error (a reason, kept in
    memory and in ``<id>.error``).
    """

    def __init__(self, store: ResultStore, compute: Compute, *, workers: int,
                 max_queue: int = 10000, result_wait: float = 0.1,
                 cache_bytes: int = RESULT_CACHE_BYTES) -> None:
        self.store = store
        self._compute = compute
        self._queue = JobQueue(max_queue)
        self._lock = threading.Lock()
        self._active: Dict[int, Job] = {}
        self._failed: Dict[int, str] = {}
        self._missing: Set[int] = set()
        self._next = 1
        self._result_wait = result_wait
        self._encoded: Dict[JobRequest, bytes] = {}
        self._encoded_room = cache_bytes
        self._recent: "collections.OrderedDict[int, bytes]" = collections.OrderedDict()
        self._unwritten: Dict[int, Job] = {}  # ended, but neither result nor failure on disk
        self._journal = Journal(store.directory)
        self._worker_count = workers
        self._workers: List[threading.Thread] = []

    # -- start and stop ---------------------------------------------------

    def recover(self, validate: Callable[[dict], JobRequest]) -> dict:
        """Take over what a previous run left in the result store.

        Old results answer done, old failures error; journalled jobs that did
        not finish are checked again with ``validate`` and queued; ids go on
        after the highest one found.  Returns counts for the start-up log.
        """
        found, temporary = self.store.scan()
        requests, damaged = self._journal.read()
        counts = {"done": 0, "error": 0, "requeued": 0, "temporary files removed": temporary}
        if damaged:
            counts["damaged journal lines skipped"] = damaged
        highest = max(max(found, default=0), self.store.read_high_water(),
                      max((request["job"] for request in requests), default=0))
        for number, kinds in found.items():
            if "json" in kinds:
                counts["done"] += 1
            else:
                counts["error"] += 1
                self._failed[number] = self._read_reason(number)
        replay: List[Job] = []
        for request in requests:
            number = request["job"]
            if number in found or number < 1:
                continue  # it finished before the stop
            found[number] = set()
            try:
                checked = validate(request)
            except Exception as error:  # a request the data loaded now cannot answer
                reason = f"could not be resumed after a restart: {error}"
                self._failed[number] = reason
                self._write_failure(number, reason)
                counts["error"] += 1
                log.warning("%s %s", job_name(number), reason)
                continue
            replay.append(Job(number, checked))
        for number in range(1, highest + 1):
            if number not in found:
                self._missing.add(number)
        self._next = highest + 1
        replay.sort(key=lambda job: job.number)
        try:
            self._journal.rewrite(iter(replay))
        except OSError as error:
            log.warning("no journal in %s: %s; jobs will not survive a crash",
                        self.store.directory, error.strerror or error)
        for job in replay:
            self._active[job.number] = job
            self._queue.put(job, force=True)
            counts["requeued"] += 1
        return counts

    def _read_reason(self, number: int) -> str:
        try:
            return json.loads(self.store.read(number, "error"))["reason"]
        except Exception:
            return "failed in an earlier run"

    def start(self) -> None:
        for index in range(self._worker_count):
            thread = threading.Thread(target=self._work, name=f"statsd-worker-{index + 1}")
            thread.start()
            self._workers.append(thread)

    def close(self) -> None:
        """Take no more jobs; the workers finish the queued ones and stop."""
        self._queue.close()

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for the workers to stop; True when they all have."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._workers:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        if any(thread.is_alive() for thread in self._workers):
            return False
        with self._lock:
            if self._unwritten:
                self._journal.close()  # their lines are replayed at the next start
            else:
                self._journal.discard()  # every journalled job has ended, on disk
        return True

    # -- submitting ---------------------------------------------------------

    def submit(self, request: JobRequest) -> str:
        """Accept a job and return its id; raises QueueFull or QueueClosed."""
        with self._lock:
            job = Job(self._next, request)
            self._queue.put(job)  # raises QueueFull or QueueClosed: no id used up
            try:
                self._journal.append(job)
            except OSError as error:
                # The job still runs; only its survival of a crash is lost.
                log.warning("%s not journalled: %s", job.id, error.strerror or error)
            # Active before the id counts as issued: result() reads both
            # without the lock, and must never see an issued id that is
            # neither active nor done.
            self._active[job.number] = job
            self._next += 1
        log.info("%s queued %s", job.id, request.endpoint)
        return job.id

    # -- the workers --------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            self._run(job)

    def _run(self, job: Job) -> None:
        log.info("%s running", job.id)
        reason = None
        failure: Optional[BaseException] = None  # a bug, logged with its traceback
        written = False  # whether the outcome (result or failure) reached the disk
        try:
            payload = self._encode(job)
            self.store.write(job.number, "json", payload)
            written = True
        except OSError as error:
            reason = f"result could not be written: {error.strerror or error}"
        except Exception as error:  # a bug in a statistic must not kill the worker
            failure = error
            reason = f"computation failed: {type(error).__name__}: {error}"
        if reason is not None:
            written = self._write_failure(job.number, reason)
        with self._lock:
            if reason is not None:
                self._failed[job.number] = reason
            else:
                self._remember(job.number, payload)
            del self._active[job.number]
            if not written:
                # Nothing of the job reached the disk: keep its journal line,
                # so that the next start runs it again and never reuses its id.
                self._unwritten[job.number] = job
            self._journal.idle(self._active, self._unwritten)
        job.finished.set()
        if reason is None:
            log.info("%s done", job.id)
        else:
            log.error("%s error: %s", job.id, reason, exc_info=failure)

    def _write_failure(self, number: int, reason: str) -> bool:
        """Keep a failure on disk as ``<id>.error``; False if it could not be written."""
        try:
            self.store.write(number, "error", json.dumps({"status": ERROR, "reason": reason}).encode())
            return True
        except OSError:
            return False

    def _remember(self, number: int, payload: bytes) -> None:
        """Keep the bytes of the last results written (under the lock)."""
        self._recent[number] = payload
        if len(self._recent) > RECENT_RESULTS:
            self._recent.popitem(last=False)

    def _encode(self, job: Job) -> bytes:
        """The result of ``job`` as JSON, computed once per distinct request."""
        key = job.request
        payload = self._encoded.get(key)
        if payload is None:
            data = self._compute(key)
            payload = json.dumps(data, allow_nan=False).encode()
            with self._lock:
                if (len(payload) <= min(self._encoded_room, RESULT_CACHE_ITEM_BYTES)
                        and key not in self._encoded):
                    self._encoded[key] = payload
                    self._encoded_room -= len(payload)
        return payload

    # -- answering ----------------------------------------------------------

    def result(self, job_id: str) -> Tuple[str, object]:
        """``(state, payload)`` for a job id.

        state is one of running, done (payload: the result as JSON bytes),
        error (payload: the reason), expired, or "" for no such job.  A job
        still running gets a short wait, so that a client polling right after
        submitting usually finds it done.
        """
        number = parse_job_id(job_id)
        if number is None or number >= self._next:
            return "", None
        job = self._active.get(number)
        if job is not None:
            if not job.finished.wait(self._result_wait):
                return RUNNING, None
        reason = self._failed.get(number)
        if reason is not None:
            return ERROR, reason
        payload = self._recent.get(number)
        if payload is not None:
            return DONE, payload
        try:
            return DONE, self.store.read(number)
        except FileNotFoundError:
            if number in self._missing:
                return EXPIRED, None
            return ERROR, "result file is missing from the results directory"
        except OSError as error:
            return ERROR, f"result could not be read: {error.strerror or error}"

    def states(self, last: Optional[int] = None) -> Iterator[Tuple[str, str]]:
        """``(job_id, state)`` for every job ever accepted (or the ``last`` ones), in job order."""
        with self._lock:
            end = self._next
            active = set(self._active)
            failed = set(self._failed)
            missing = set(self._missing)
        start = 1 if last is None else max(1, end - last)
        for number in range(start, end):
            if number in active:
                state = RUNNING
            elif number in failed:
                state = ERROR
            elif number in missing:
                state = EXPIRED
            else:
                state = DONE
            yield job_name(number), state

    def accepted(self) -> int:
        """Jobs accepted since the first one, this run and before."""
        return self._next - 1

    def pending(self) -> int:
        """Jobs queued or running."""
        return len(self._active)

    def expire(self, number: int) -> None:
        """Forget a done or failed result whose file was deleted on purpose."""
        with self._lock:
            self._missing.add(number)
            self._failed.pop(number, None)
            self._recent.pop(number, None)

    def expire_older_than(self, age: float) -> int:
        """Delete results and failures written more than ``age`` seconds ago.

        Their jobs answer ``expired`` from then on, also after a restart: the
        highest id handed out is recorded first, so no id is ever reused.
        Returns how many results were deleted.
        """
        old = self.store.written_before(time.time() - age)
        if not old:
            return 0
        self.store.write_high_water(self._next - 1)
        for number, kind in old:
            self.expire(number)
            self.store.remove(number, kind)
        log.info("%d results older than %g s deleted", len(old), age)
        return len(old)
