"""``--results-ttl``: delete results older than a given age, in the background.

Why: results are kept on disk forever by default, which is what the original
checker expects; a long-running public server wants them gone after a while.
A daemon thread asks the JobManager, now and then, to delete what is older
than the limit; those jobs then answer ``expired`` (HTTP 410 for the result).
"""

from __future__ import annotations

import argparse
import logging
import re
import threading

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


class ResultExpiry:
    """A daemon thread deleting results older than ``ttl`` seconds, every ``interval``."""

    def __init__(self, jobs: JobManager, ttl: float) -> None:
        self.jobs = jobs
        self.ttl = ttl
        self.interval = max(0.2, min(ttl / 4, 60.0))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="statsd-expiry", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while True:
            try:
                self.jobs.expire_older_than(self.ttl)
            except OSError as error:  # try again at the next round
                log.warning("could not delete old results: %s", error.strerror or error)
            if self._stop.wait(self.interval):
                return
