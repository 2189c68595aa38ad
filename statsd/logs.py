"""Logging for the server: ``webserver.log``, rotated, UTC, lines written together.

Why: the contract asks for a line per request and per job transition, and
that line is formatted by the thread that has it, under the handler's lock.
Each ``write`` to the file is cheap (the page cache: a few microseconds),
but it lets go of the GIL, and on this interpreter, with other threads
waiting for it, each let-go is a hand-off to another thread and back: a job
cycle logs four lines.  So the lines wait, at most ``flush_seconds`` (the
command line's ``--log-flush``, 0.05 s by default), and are written together
in one ``write``: by the next line logged after that time, or by the
server's accept loop, which calls :func:`write_due` at each of its polls.
A WARNING or an ERROR is written at once, with the lines before it, and
every line is written at a clean stop; a process killed with SIGKILL loses
the lines of its last ``flush_seconds``.  ``--log-flush 0`` writes each
line when it is logged, as before.  The alternative ``logging.handlers``
offers for latency-sensitive code, a ``QueueHandler`` feeding one
``QueueListener`` thread, costs more: every record wakes the listener (see
the README, "What was changed for speed", for the measurements).

The stock ``RotatingFileHandler`` formats each record twice and checks the
file with two ``stat`` calls, a ``seek`` and a ``tell`` per line;
:class:`RotatingLogFile` formats once and counts the bytes it wrote.
Timestamps are formatted once a second, and ``logging`` does not look up the
caller's frame, thread or process names, which no line shows (the
"Optimization" section of the logging docs).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time
from typing import List, Optional, TextIO, Tuple

FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"

#: The default of ``--log-flush``: the longest a line waits to be written with others.
FLUSH_SECONDS = 0.05


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


#: "000" to "999": the milliseconds of a timestamp, looked up rather than formatted.
_MILLISECONDS = [f"{milliseconds:03d}" for milliseconds in range(1000)]


class LineFormatter(UTCFormatter):
    """statsd's one line layout (:data:`FORMAT`), built by one f-string.

    The stock ``format`` fills the layout with ``%`` from the record's
    whole ``__dict__`` and asks ``usesTime`` each time; for a request's
    line that was 19,900 of the 53,700 instructions of ``log.info``
    (cachegrind, 2,000 calls in a loop).  This gives the same text,
    tracebacks included, in 9,400: ``getMessage`` is 4,400 of them.
    """

    def __init__(self) -> None:
        super().__init__(FORMAT, DATE_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.message = message = record.getMessage()
        record.asctime = asctime = self.formatTime(record, DATE_FORMAT)
        line = f"{asctime}.{_MILLISECONDS[int(record.msecs)]}Z {record.levelname} {record.name}: {message}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line = f"{line}\n{record.exc_text}" if line[-1:] != "\n" else line + record.exc_text
        if record.stack_info:
            stack = self.formatStack(record.stack_info)
            line = f"{line}\n{stack}" if line[-1:] != "\n" else line + stack
        return line


class RotatingLogFile(logging.handlers.RotatingFileHandler):
    """A ``RotatingFileHandler`` that is cheap per line, and quiet when it fails.

    Each record is formatted once.  Its line is written with the others
    waiting (see the module's docstring), in one ``write``, within
    ``flush_seconds``; at once if that is 0, or if the record is a WARNING
    or worse.  The file size is counted rather than asked of the file.

    A log file that cannot be written (a full disk, a file system gone
    read-only) must not stop the server nor bury its stderr: the stock
    handler prints a traceback per record.  This one says so once on
    ``complaints`` (stderr), drops the lines while the file fails, tries the
    file again at most once per ``RETRY_SECONDS``, and when it can write
    again says so once more, and writes into the file how many lines it lost.
    """

    RETRY_SECONDS = 1.0

    #: Lines that may wait, however young: then they are written.
    MAX_WAITING = 1024

    def __init__(self, filename: str, max_bytes: int, backup_count: int,
                 complaints: Optional[TextIO] = None, flush_seconds: float = 0.0) -> None:
        super().__init__(filename, maxBytes=max_bytes, backupCount=backup_count,
                         encoding="utf-8")
        self.complaints = complaints if complaints is not None else sys.stderr
        self.flush_seconds = flush_seconds
        try:
            self.size = os.path.getsize(self.baseFilename)
        except OSError:
            self.size = 0
        # Guarded by the handler's own lock (``self.lock``), which logging.Handler.handle
        # holds around emit(); flush() and close() take it too.
        self.lost = 0  # lines dropped since the file failed
        self.failed_at: Optional[float] = None  # time.monotonic() of the last failure
        # The lines formatted and not yet written, and the ``created`` time
        # of the first of them, guarded by the same lock: emit() appends and
        # _write_waiting() swaps the list for an empty one under it, so a
        # line is written once, in the order it was logged.  write_due()
        # reads ``_waiting`` without the lock only to skip taking it when
        # there is nothing to write (one read of a list's length: at worst
        # a line just added waits for the next poll, 0.05 s later).
        self._waiting: List[str] = []
        self._waiting_since = 0.0

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
        waiting = self._waiting
        if not waiting:
            self._waiting_since = record.created
        waiting.append(line)
        if (record.levelno >= logging.WARNING or len(waiting) >= self.MAX_WAITING
                or record.created - self._waiting_since >= self.flush_seconds):
            self._write_waiting()

    def write_due(self) -> None:
        """Write the lines waiting, if any (the server's accept loop calls this at each poll)."""
        if not self._waiting:
            return
        self.acquire()
        try:
            self._write_waiting()
        finally:
            self.release()

    def _write_waiting(self) -> None:
        """Write every line waiting, in one ``write``; called under the handler's lock."""
        lines, self._waiting = self._waiting, []
        if not lines:
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
            self._write("".join(lines))
        except OSError as error:
            self.lost += len(lines) - 1  # and _failed counts one
            self._failed(error)

    def _write(self, line: str) -> None:
        size = len(line) if line.isascii() else len(line.encode("utf-8", "replace"))
        if self.maxBytes > 0 and self.size and self.size + size > self.maxBytes:
            self.doRollover()
            self.size = 0
        if self.stream is None:
            self.stream = self._open()
        self.stream.write(line)
        self.stream.flush()  # one write(2) for the lines: none is left in the stream's buffer
        self.size += size

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
        self.lost += 1
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
        self.acquire()  # the lock emit() runs under, so that a failure is counted once
        try:
            self._write_waiting()
            super().flush()
        except OSError as error:
            self._failed(error)
        finally:
            self.release()

    def close(self) -> None:
        # The lines waiting first, even with no stream open (after a failure):
        # the stock close flushes only a stream that is open.
        self.flush()
        try:
            super().close()
        except OSError as error:
            self._failed(error)
            self.stream = None
            logging.Handler.close(self)


class LogOutput:
    """The handlers :func:`configure` set up; ``stop()`` flushes them at exit."""

    def __init__(self, handlers: List[logging.Handler]) -> None:
        self.handlers = handlers

    def stop(self) -> None:
        for handler in self.handlers:
            handler.flush()


def write_due() -> None:
    """Write the lines waiting in the ``statsd`` logger's files (see :class:`RotatingLogFile`)."""
    for handler in logging.getLogger("statsd").handlers:
        if isinstance(handler, RotatingLogFile):
            handler.write_due()


def configure(log_file: Optional[str], *, level: int = logging.INFO,
              max_bytes: int = 10 * 1024 * 1024, backup_count: int = 5,
              echo: bool = False, flush_seconds: float = 0.0) -> Optional[LogOutput]:
    """Send the ``statsd`` loggers to ``log_file`` (rotating), and to stderr if ``echo``.

    ``flush_seconds``: how long a line may wait to be written with others
    (0: each line at once).  Returns what was set up; call ``stop()`` on it
    at exit.  With no ``log_file`` and no ``echo``, records are dropped and
    None is returned.
    """
    formatter = LineFormatter()
    handlers: List[logging.Handler] = []
    if log_file:
        handlers.append(RotatingLogFile(log_file, max_bytes, backup_count,
                                        flush_seconds=flush_seconds))
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
    for handler in handlers:
        root.addHandler(handler)
    return LogOutput(handlers)
