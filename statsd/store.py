"""The result store: the ``results/`` directory, held by one statsd at a time.

Why: a job's outcome must survive the process, and a reader must see all of
it or none, so every file is written to a temporary name and renamed.  The
directory is also what makes ids unique across restarts, so exactly one
statsd may use it: it is locked (an advisory ``flock`` on the directory
itself, released however the process ends), and every file is reached
through the directory's open descriptor (``dir_fd``), never through its path.
So when the directory is removed or replaced under a running server (``rm
-rf results``, and maybe a second statsd making a new one), this process
never writes into, reads from or deletes in a directory it does not hold: it
notices before each write that its path no longer leads to the directory it
locked, says so once in the log, and fails the write with that reason.

File names are built from job numbers only, never from client text, so no
request can reach a file outside the directory.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import stat
import threading
from typing import Dict, Iterator, List, Optional, Set, Tuple

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system
    fcntl = None  # type: ignore[assignment]

from .job import job_name

log = logging.getLogger("statsd.jobs")

#: A result (``json``) or a failure (``error``) file; numbers as in JOB_ID.
_RESULT_FILE = re.compile(r"job_id_([1-9][0-9]{0,17})\.(json|error)")

#: The highest job number handed out, written before expired results are
#: deleted, so that their ids are never handed out again.
HIGH_WATER_FILE = "job_id_highest"

#: Files are reached through the directory's descriptor where the system can
#: (``os.replace`` takes ``src_dir_fd`` wherever ``os.rename`` does).
_DIR_FD = all(call in os.supports_dir_fd for call in (os.open, os.rename, os.unlink))


class ResultsInUse(Exception):
    """Another process holds the results directory."""


class DirectoryReplaced(OSError):
    """The results directory's path no longer leads to the directory this process holds."""


class ResultStore:
    """Results, failures, the journal and the high-water mark of one directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self._fd: Optional[int] = None
        self._identity: Optional[Tuple[int, int]] = None
        if _DIR_FD:
            self._fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            held = os.fstat(self._fd)
            self._identity = (held.st_dev, held.st_ino)
        # Guards changes of _replaced, so that a change of the directory is
        # logged once, however many workers notice it at the same moment.
        # check() reads _replaced without it (one bool): the lock is taken
        # only when what it sees differs from what it finds.
        self._replaced_lock = threading.Lock()
        self._replaced = False
        # Guards nothing in memory: the workers create and rename their
        # files in the directory one at a time under it (what they write
        # into a file is not under it).  The kernel does that anyway, since
        # creating and renaming lock the directory, but a worker that finds
        # the directory locked there spins on its CPU for as long as the
        # other's create takes, which on this machine's disk can be a
        # millisecond (a perf profile: 8.9 % of a post run's CPU in
        # rwsem_spin_on_owner, from renameat and openat); here it sleeps, and
        # the CPU goes to the request handlers.  Nothing else is locked, nor
        # logged, while it is held.
        self._entries_lock = threading.Lock()

    def lock(self) -> None:
        """Take the directory for this process alone; raises ResultsInUse if another has it.

        Two servers over one results/ would hand out the same ids and remove
        each other's temporary files.
        """
        if fcntl is None or self._fd is None:  # no lock on this system, as before
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ResultsInUse(self.directory) from None

    def close(self) -> None:
        """Release the directory (the lock goes with its descriptor)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- names ---------------------------------------------------------------

    def _at(self, name: str) -> str:
        """``name`` as given to an ``*at`` call: relative to the descriptor, or a path."""
        return name if self._fd is not None else os.path.join(self.directory, name)

    @staticmethod
    def name(number: int, kind: str = "json") -> str:
        return f"{job_name(number)}.{kind}"

    def path(self, number: int, kind: str = "json") -> str:
        """Where the file of a job is, for people and tests (the store itself uses ``dir_fd``)."""
        return os.path.join(self.directory, self.name(number, kind))

    # -- the directory itself ------------------------------------------------

    def check(self) -> None:
        """Raise DirectoryReplaced if the path no longer leads to the directory held.

        Called before every write, so that this process never writes where
        another statsd may now hold the directory.  Logs a WARNING when the
        directory goes and an INFO line when it is back.
        """
        if self._identity is None:
            return
        try:
            now = os.stat(self.directory)
            same = (now.st_dev, now.st_ino) == self._identity and stat.S_ISDIR(now.st_mode)
        except OSError:
            same = False
        changed = False
        if self._replaced == same:  # the state flips (seen by one thread only)
            with self._replaced_lock:
                changed = self._replaced == same
                self._replaced = not same
        if same:
            if changed:
                log.info("results directory %s is back; results are written again", self.directory)
            return
        if changed:
            log.warning("results directory %s was removed or replaced: jobs fail until it is "
                        "back (this process never writes into another directory there)",
                        self.directory)
        raise DirectoryReplaced(errno.ESTALE, f"results directory {self.directory} "
                                              "was removed or replaced")

    # -- writing -------------------------------------------------------------

    def write(self, number: int, kind: str, payload: bytes) -> None:
        """Write ``<id>.<kind>`` atomically: temporary file, then rename."""
        self.write_atomically(self.name(number, kind), payload)

    def write_atomically(self, name: str, payload: bytes) -> None:
        """Write ``name`` through ``.<name>.tmp`` beside it and a rename: all of it or nothing.

        The temporary name starts with a dot and ends in ``.tmp``, which is
        what :meth:`scan` removes at start when a write was cut short.
        """
        self.check()
        temporary = f".{name}.tmp"
        try:
            with self._entries_lock:  # see __init__
                fd = os.open(self._at(temporary), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644,
                             dir_fd=self._fd)
            try:
                rest = memoryview(payload)
                while rest:  # a short write goes on; a full disk then raises ENOSPC
                    rest = rest[os.write(fd, rest):]
            finally:
                os.close(fd)
            with self._entries_lock:
                os.replace(self._at(temporary), self._at(name),
                           src_dir_fd=self._fd, dst_dir_fd=self._fd)
        except BaseException:
            self.remove(temporary)
            raise

    def open_append(self, name: str) -> int:
        """A descriptor appending to ``name`` (created if need be)."""
        self.check()
        return os.open(self._at(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644,
                       dir_fd=self._fd)

    def remove(self, name: str) -> None:
        """Remove a file if it is there; never raise, since a worker calls this.

        ENOTDIR counts as "not there": it is what unlink says when results/
        has been replaced by something that is not a directory.
        """
        try:
            os.unlink(self._at(name), dir_fd=self._fd)
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as error:
            log.warning("could not remove %s: %s", os.path.join(self.directory, name),
                        error.strerror or error)

    def remove_result(self, number: int, kind: str) -> None:
        self.remove(self.name(number, kind))

    # -- reading -------------------------------------------------------------

    def read_file(self, name: str) -> bytes:
        """All of ``name`` (plain ``os.read`` calls: a third of the cost of a file object)."""
        fd = os.open(self._at(name), os.O_RDONLY, dir_fd=self._fd)
        try:
            chunks: List[bytes] = []
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        finally:
            os.close(fd)

    def read(self, number: int, kind: str = "json") -> bytes:
        return self.read_file(self.name(number, kind))

    def _entries(self) -> Iterator[os.DirEntry]:
        with os.scandir(self._fd if self._fd is not None else self.directory) as entries:
            yield from entries

    def scan(self) -> Tuple[Dict[int, Set[str]], int]:
        """List what a previous run left: ``{number: {kinds}}``, and temp files removed."""
        found: Dict[int, Set[str]] = {}
        removed = 0
        for entry in self._entries():
            name = entry.name
            if name.startswith(".") and name.endswith(".tmp"):
                self.remove(name)
                removed += 1
                continue
            match = _RESULT_FILE.fullmatch(name)
            if match:
                found.setdefault(int(match.group(1)), set()).add(match.group(2))
        return found, removed

    def written_before(self, cutoff: float) -> List[Tuple[int, str]]:
        """``(number, kind)`` of every result or failure file last written before ``cutoff``."""
        old = []
        for entry in self._entries():
            match = _RESULT_FILE.fullmatch(entry.name)
            if match:
                try:
                    written = entry.stat().st_mtime
                except FileNotFoundError:
                    continue
                if written < cutoff:
                    old.append((int(match.group(1)), match.group(2)))
        return old

    # -- the high-water mark ---------------------------------------------------

    def read_high_water(self) -> int:
        """The highest job number ever handed out, as recorded before results were deleted."""
        try:
            text = self.read_file(HIGH_WATER_FILE).decode("ascii").strip()
        except (OSError, UnicodeDecodeError):
            return 0
        return int(text) if text.isdigit() and len(text) <= 18 else 0

    def write_high_water(self, number: int) -> None:
        """Record ``number`` so that ids go on after it even when its result is deleted."""
        if number > self.read_high_water():
            self.write_atomically(HIGH_WATER_FILE, f"{number}\n".encode())
