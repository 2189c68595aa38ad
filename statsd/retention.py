"""``--results-ttl``: delete results older than a given age, in the background.

Why: results are kept on disk forever by default, which is what the original
checker expects; a long-running public server wants them gone after a while.
Everything about expiry is here: what is old (the file's mtime), the
high-water mark written first (so that no id is ever handed out again, also
after a restart), and the deletion; the job manager only learns that a job
is now ``expired`` (HTTP 410 for its result).
"""

from __future__ import annotations

import argparse
import logging
import re
import threading
import time

from .jobs import JobManager

log = logging.getLogger("statsd.retention")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([smhd]?)\s*")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a number with an optional unit s, m, h or d (``90``, ``30m``, ``7d``)."""
    match = _DURATION.fullmatch(text.lower())
    if not match:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (use e.g. 3600, 90s, 30m, 12h or 7d)")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
    return seconds


def expire_older_than(jobs: JobManager, age: float) -> int:
    """Delete the results and failures written more than ``age`` seconds ago.

    Their jobs answer ``expired`` from then on, also after a restart: the
    highest id handed out is recorded first (an OSError then deletes
    nothing), so no id is ever reused.  Returns how many files were deleted.
    """
    store = jobs.store
    old = store.written_before(time.time() - age)
    if not old:
        return 0
    store.write_high_water(jobs.accepted())
    jobs.forget_ended()
    old.sort()  # in id order, each one extends the last range of ids gone: O(log n) apiece
    for number, kind in old:
        jobs.expire(number)  # before the file goes: a reader then finds "expired"
        store.remove_result(number, kind)
    log.info("%d results older than %g s deleted", len(old), age)
    return len(old)


class ResultExpiry:
    """Deletes results older than ``ttl`` seconds: at start, then every ``interval`` on a daemon thread.

    The first pass runs in :meth:`start`, before the server serves, so that
    no client is ever answered from a result that was already too old.
    """

    def __init__(self, jobs: JobManager, ttl: float) -> None:
        self.jobs = jobs
        self.ttl = ttl
        self.interval = max(0.2, min(ttl / 4, 60.0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="statsd-expiry", daemon=True)

    def start(self) -> None:
        self._expire()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._expire()

    def _expire(self) -> None:
        try:
            expire_older_than(self.jobs, self.ttl)
        except OSError as error:  # try again at the next round
            log.warning("could not delete old results: %s", error.strerror or error)
