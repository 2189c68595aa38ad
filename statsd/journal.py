"""The journal: the requests of the jobs accepted and not yet ended, on disk.

Why: a job must survive a crash from the moment its id is answered.  A file
per job would cost a create, a rename and an unlink per job, which on an
ordinary disk cost more than the rest of the job; a line appended to one open
file costs one ``write``.  The kernel keeps what was written when the process
is killed (a power cut is another matter: there is no fsync).  The file is
emptied when no job is in flight once it holds ``JOURNAL_TRIM_BYTES`` (the
lines of ended jobs are harmless until then: a restart skips every job whose
outcome is on disk), rewritten with only the jobs in flight when it grows
large, and cut to the jobs in flight before any result is expired, so that
no line outlives its job's file.

A line is all there or not there: a short ``write`` (a full disk, a file
size limit) is cut back to the last whole line and counts as a failed write,
so that a half line never swallows the next job's line.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Dict, Iterable, List, Optional, Tuple

from .job import MAX_JOB_NUMBER, Job
from .store import ResultStore

log = logging.getLogger("statsd.jobs")

#: In the results directory: one JSON line per job accepted and not ended.
JOURNAL_FILE = "journal.jsonl"

#: The journal is rewritten with only the jobs in flight once it is this large.
JOURNAL_COMPACT_BYTES = 4 * 1024 * 1024

#: An idle journal (no job in flight) is emptied once it holds this much:
#: about 500 lines.  Emptying it at every idle moment was an ``ftruncate``
#: under the job table's lock at the end of a third of the jobs of a
#: ``cycle`` run at 8 clients (1,032 in 3,000), each a hand-off of the GIL.
JOURNAL_TRIM_BYTES = 64 * 1024


class Journal:
    """An append-only file of accepted requests, one JSON line per job.

    Not thread-safe: every method but :meth:`read` is called under the lock
    of the job table (:mod:`statsd.jobtable`), which is what keeps the lines
    in id order and a truncation from dropping a line being appended.
    """

    def __init__(self, store: ResultStore) -> None:
        self.store = store
        self._fd: Optional[int] = None
        self._size = 0  # bytes of whole lines in the file

    def read(self) -> Tuple[List[Tuple[int, Dict[str, object]]], int]:
        """``(number, request)`` of each job journalled by a previous run, and how many lines were damaged."""
        try:
            lines = self.store.read_file(JOURNAL_FILE).splitlines()
        except FileNotFoundError:
            return [], 0
        requests: List[Tuple[int, Dict[str, object]]] = []
        damaged = 0
        for line in lines:
            try:
                request = json.loads(line)
                number = request.get("job") if isinstance(request, dict) else None
                if not isinstance(number, int) or not 1 <= number <= MAX_JOB_NUMBER:
                    raise ValueError
            except ValueError:  # a line cut short by a kill, or not ours
                damaged += 1
                continue
            requests.append((number, request))
        return requests, damaged

    def rewrite(self, jobs: Iterable[Job]) -> None:
        """Replace the journal by the requests of ``jobs`` (temporary file + rename), then reopen it.

        If that fails (OSError), the journal open before stays open, as it was.
        """
        self.store.write_atomically(JOURNAL_FILE, b"".join(_line(job) for job in jobs))
        fd = self.store.open_append(JOURNAL_FILE)
        self.close()
        self._fd = fd
        self._size = os.fstat(fd).st_size

    def append(self, job: Job) -> int:
        """Journal ``job``; return its line's length, or raise OSError (the job runs unjournalled).

        A short write is a failed write: the part written is cut off again,
        so that the file ends with a whole line, as before.
        """
        if self._fd is None:
            raise OSError(errno.EBADF, "the journal is not open")
        line = _line(job)
        try:
            written = os.write(self._fd, line)
        except OSError:
            self._cut()
            raise
        if written != len(line):
            self._cut()
            raise OSError(errno.ENOSPC, f"No space left on device (a short write: "
                                        f"{written} of {len(line)} bytes)")
        self._size += written
        return written

    def retract(self, size: int) -> None:
        """Take back the line just appended (``size`` bytes): its job was refused, its id is given again.

        If the file cannot be cut, the line stays and a warning says so: a
        restart would run the refused job under an id given to another.
        """
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, self._size - size)
        except OSError as error:
            log.warning("journal: the line of a refused job could not be taken back: %s",
                        error.strerror or error)
            return
        self._size -= size

    def _cut(self) -> None:
        """Cut the file back to its whole lines, after a write that stopped part-way."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._size)
        except OSError as error:  # the half line stays; read() skips it as damaged
            log.warning("journal not cut back to its last whole line: %s", error.strerror or error)

    def idle(self, active: Dict[int, Job], unwritten: Dict[int, Job]) -> None:
        """Called when a job ends: keep the journal small, to about the jobs still to replay.

        Those are the jobs in flight, and the ended ones whose outcome could
        not be written (so that a restart runs them again, and never hands
        their ids out twice).  The lines of other ended jobs may stay a
        while (see ``JOURNAL_TRIM_BYTES``).
        """
        if self._fd is None:
            return
        if not active and not unwritten:
            if self._size >= JOURNAL_TRIM_BYTES:
                self.trim(active, unwritten)
        elif self._size > JOURNAL_COMPACT_BYTES:
            self.trim(active, unwritten)

    def trim(self, active: Dict[int, Job], unwritten: Dict[int, Job]) -> None:
        """Keep only the lines of the jobs still to replay (see :meth:`idle`), now.

        Called before results are expired: a line left for an ended job
        whose file is then deleted would run that job again after a crash.
        """
        if self._fd is None:
            return
        try:
            if not active and not unwritten:
                if self._size:
                    os.ftruncate(self._fd, 0)
                    self._size = 0
            else:
                keep = sorted([*unwritten.values(), *active.values()], key=lambda job: job.number)
                self.rewrite(keep)
        except OSError as error:
            log.warning("journal not trimmed: %s", error.strerror or error)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        """Close and delete the journal: at a clean stop, no job is left to replay."""
        self.close()
        self.store.remove(JOURNAL_FILE)


def _line(job: Job) -> bytes:
    """``json.dumps(job.journalled())`` and a newline: the same bytes, built field by field.

    The fields (:meth:`Job.journalled`, in its order) are strings and ints:
    each string is written by the function ``json.dumps`` writes strings
    with (``encode_basestring_ascii``, in C), each int by ``int.__repr__``,
    as ``json.dumps`` does; the names are statsd's own, plain ASCII.
    ``json.dumps`` builds an encoder per call: 32,500 instructions for a
    job's line, this about 21,000 (cachegrind, 2,000 calls in a loop).  A
    field of any other type sends the whole line through ``json.dumps``.
    tests/test_jobs.py checks the bytes against ``json.dumps``.
    """
    fields = job.journalled()
    parts = []
    for name, value in fields.items():
        if type(value) is str:
            parts.append(f'"{name}": {encode_basestring_ascii(value)}')
        elif type(value) is int:
            parts.append(f'"{name}": {int.__repr__(value)}')
        else:
            return json.dumps(fields).encode() + b"\n"
    return ("{" + ", ".join(parts) + "}\n").encode()
