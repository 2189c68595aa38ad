"""Logging for the server: ``webserver.log``, rotated, UTC, written off the hot path.

Why: the contract asks for a line per request and per job transition.  Writing
a file from every request thread would put a disk write and a lock on the
path of each request, so records go through a ``QueueHandler`` to one
``QueueListener`` thread that formats them and writes the rotating file, the
way ``logging.handlers`` intends for latency-sensitive code.

That thread holds the GIL while it works, so its cost per line is taken from
the requests too.  The stock ``RotatingFileHandler`` formats each record twice,
checks the file with two ``stat`` calls, a ``seek`` and a ``tell`` and flushes
it, per line; :class:`QueuedRotatingFileHandler` formats once, counts the bytes
it wrote, and flushes when the queue is empty.  Timestamps are formatted once a
second, and ``logging`` does not look up the caller's frame, thread or process
names, which no line shows (the "Optimization" section of the logging docs).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import queue
import sys
import time
from typing import Callable, List, Optional, TextIO, Tuple

FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


class UTCFormatter(logging.Formatter):
    """ISO 8601 timestamps in UTC, whatever the machine's time zone."""

    _second: Tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: Optional[str] = None) -> str:
        """The timestamp up to the second, formatted once a second."""
        second, text = self._second
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime(datefmt or DATE_FORMAT, time.gmtime(second))
            self._second = (second, text)
        return text


class QueuedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A ``RotatingFileHandler`` for the listener thread: cheap per line, and quiet when it fails.

    Each record is formatted once; the file size is counted rather than asked
    of the file; the stream is flushed once no more records are waiting
    (``idle()``), so a burst of lines costs one write, and every line reaches
    the file as soon as the burst ends.

    A log file that cannot be written (a full disk, a file system gone
    read-only) must not stop the server nor bury its stderr: the stock
    handler prints a traceback per record.  This one says so once on
    ``complaints`` (stderr), drops the lines while the file fails, tries the
    file again at most once per ``RETRY_SECONDS``, and when it can write
    again says so once more, and writes into the file how many lines it lost.
    """

    RETRY_SECONDS = 1.0

    def __init__(self, filename: str, idle: Callable[[], bool], max_bytes: int,
                 backup_count: int, complaints: Optional[TextIO] = None) -> None:
        super().__init__(filename, maxBytes=max_bytes, backupCount=backup_count,
                         encoding="utf-8")
        self.idle = idle
        self.complaints = complaints if complaints is not None else sys.stderr
        try:
            self.size = os.path.getsize(self.baseFilename)
        except OSError:
            self.size = 0
        # Only the listener thread calls emit(): these need no lock.
        self.unflushed = 0  # lines written to the stream since its last flush
        self.lost = 0  # lines dropped since the file failed
        self.failed_at: Optional[float] = None  # time.monotonic() of the last failure

    def emit(self, record: logging.LogRecord) -> None:
        if self.failed_at is not None:
            if time.monotonic() - self.failed_at < self.RETRY_SECONDS:
                self.lost += 1
                return
        try:
            line = self.format(record) + self.terminator
        except Exception:  # a record that cannot be formatted is a bug: say where
            self.handleError(record)
            return
        try:
            if self.failed_at is not None:
                self._reopen()
                assert self.stream is not None  # _reopen opened it
                note = self._lost_note()
                self.stream.write(note)
                self.stream.flush()
                self.size += len(note.encode("utf-8", "replace"))
                self._recovered()
            self._write(line)
        except OSError as error:
            self._failed(error)

    def _write(self, line: str) -> None:
        size = len(line) if line.isascii() else len(line.encode("utf-8", "replace"))
        if self.maxBytes > 0 and self.size and self.size + size > self.maxBytes:
            self.doRollover()
            self.size = 0
        if self.stream is None:
            self.stream = self._open()
        self.stream.write(line)
        self.size += size
        self.unflushed += 1
        if self.idle() or self.failed_at is not None:
            self.stream.flush()
            self.unflushed = 0

    def _reopen(self) -> None:
        """A fresh stream on the file (the old one may hold lines it could not write).

        A write cut short by a full disk may have left part of a line: the
        next line starts on a line of its own.
        """
        self._discard_stream()
        self.stream = self._open()
        self.size = os.fstat(self.stream.fileno()).st_size
        if self.size:
            with open(self.baseFilename, "rb") as handle:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    self.stream.write("\n")
                    self.size += 1

    def _discard_stream(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            try:
                stream.close()  # flushes first, which fails again: the file is closed all the same
            except OSError:
                pass

    def _failed(self, error: OSError) -> None:
        self.lost += self.unflushed + 1
        self.unflushed = 0
        self._discard_stream()
        first = self.failed_at is None
        self.failed_at = time.monotonic()
        if first:
            self._complain(f"cannot write the log file {self.baseFilename}: "
                           f"{error.strerror or error}; its lines are dropped until it can be "
                           f"written again (serving goes on)")

    def _lost_note(self) -> str:
        note = logging.makeLogRecord({"name": __name__, "levelno": logging.WARNING,
                                      "levelname": "WARNING",
                                      "msg": f"{self.lost} log lines were lost: the log file "
                                             f"could not be written"})
        return self.format(note) + self.terminator

    def _recovered(self) -> None:
        lost, self.lost, self.failed_at = self.lost, 0, None
        self._complain(f"the log file {self.baseFilename} is written again; "
                       f"{lost} lines were lost")

    def _complain(self, text: str) -> None:
        try:
            self.complaints.write(f"statsd: {text}\n")
            self.complaints.flush()
        except (OSError, ValueError):  # stderr closed or full too: nowhere left to say it
            pass

    def flush(self) -> None:
        try:
            super().flush()
            self.unflushed = 0
        except OSError as error:
            self._failed(error)

    def close(self) -> None:
        try:
            super().close()
        except OSError as error:
            self._failed(error)
            self.stream = None
            logging.Handler.close(self)


class _FlushingQueueListener(logging.handlers.QueueListener):
    """Flushes its handlers once stopped, since the last lines may not have been."""

    def stop(self) -> None:
        super().stop()
        for handler in self.handlers:
            handler.flush()


class _DeferredQueueHandler(logging.handlers.QueueHandler):
    """Hand the record over as it is: the listener thread does the formatting.

    Messages in statsd are built from strings and numbers only, so formatting
    them later, on another thread, gives the same text.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


def configure(log_file: Optional[str], *, level: int = logging.INFO,
              max_bytes: int = 10 * 1024 * 1024, backup_count: int = 5,
              echo: bool = False) -> Optional[logging.handlers.QueueListener]:
    """Send the ``statsd`` loggers to ``log_file`` (rotating), and to stderr if ``echo``.

    Returns the started listener; call ``stop()`` on it at exit so that every
    record is written.  With no ``log_file`` and no ``echo``, records are dropped.
    """
    formatter = UTCFormatter(FORMAT, DATE_FORMAT)
    records: queue.SimpleQueue = queue.SimpleQueue()
    handlers: List[logging.Handler] = []
    if log_file:
        handlers.append(QueuedRotatingFileHandler(log_file, records.empty, max_bytes, backup_count))
    if echo:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
    root = logging.getLogger("statsd")
    root.setLevel(level)
    root.propagate = False
    for old in list(root.handlers):
        root.removeHandler(old)
    if not handlers:
        root.addHandler(logging.NullHandler())
        return None
    # Nothing statsd logs shows where, in which thread or process, it was logged.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root.addHandler(_DeferredQueueHandler(records))
    listener = _FlushingQueueListener(records, *handlers, respect_handler_level=True)
    listener.start()
    return listener
