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
from typing import Callable, Optional, Tuple

FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


class UTCFormatter(logging.Formatter):
    """ISO 8601 timestamps in UTC, whatever the machine's time zone."""

    converter = time.gmtime
    _second: Tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: Optional[str] = None) -> str:
        """The timestamp up to the second, formatted once a second."""
        second, text = self._second
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime(datefmt or DATE_FORMAT, self.converter(second))
            self._second = (second, text)
        return text


class QueuedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A ``RotatingFileHandler`` for the listener thread: cheap per line.

    Each record is formatted once; the file size is counted rather than asked
    of the file; the stream is flushed once no more records are waiting
    (``idle()``), so a burst of lines costs one write, and every line reaches
    the file as soon as the burst ends.
    """

    def __init__(self, filename: str, idle: Callable[[], bool], max_bytes: int,
                 backup_count: int) -> None:
        super().__init__(filename, maxBytes=max_bytes, backupCount=backup_count,
                         encoding="utf-8")
        self.idle = idle
        try:
            self.size = os.path.getsize(self.baseFilename)
        except OSError:
            self.size = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            size = len(line) if line.isascii() else len(line.encode("utf-8", "replace"))
            if self.maxBytes > 0 and self.size and self.size + size > self.maxBytes:
                self.doRollover()
                self.size = 0
            if self.stream is None:
                self.stream = self._open()
            self.stream.write(line)
            self.size += size
            if self.idle():
                self.stream.flush()
        except Exception:
            self.handleError(record)


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
    handlers = []
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
