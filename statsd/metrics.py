"""Counters, gauges and histograms, rendered for Prometheus (``GET /api/metrics``).

Why: an operator needs numbers to watch (requests by route and status, how
long they take, jobs by outcome, the queue, connections) and Prometheus is
what most of them scrape.  Its client library is not in the standard
library, and statsd needs a small part of it: three kinds of metric,
labels, and the text exposition format, version 0.0.4
(https://prometheus.io/docs/instrumenting/exposition_formats/).  Names
follow Prometheus' naming guide: a ``statsd_`` prefix, the unit in the name
(``_seconds``, ``_bytes``), counters ending in ``_total``.

Recording must be cheap, since it happens on every request: one lock per
metric, a dict lookup by the tuple of label values, an addition (and for a
histogram a ``bisect`` into its bucket bounds).  Rendering, once per scrape,
does the formatting.  A *gauge function* is read only when rendered, for
values another object already keeps (jobs pending, bytes of the result cache).
"""

from __future__ import annotations

import bisect
import math
import os
import re
import threading
import time
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from .request import JobRequest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Upper bounds, in seconds, of the duration histograms' buckets: from a
#: fast answer from memory (0.5 ms) to a statistic over a large file (10 s).
DURATION_BUCKETS: Tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                       0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")

Labels = Tuple[str, ...]

#: When this module was first imported: early in start-up, before the data loads.
_IMPORTED = time.time()


def process_start_time() -> float:
    """When this process started, in seconds since the Unix epoch.

    From ``/proc`` where there is one (the kernel's record, as Prometheus'
    own client reads it), else the time statsd's metrics were first imported.
    """
    try:
        with open("/proc/self/stat", "rb") as handle:
            # Field 22, after the command name in parentheses (which may hold spaces).
            ticks = int(handle.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/stat", "rb") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith(b"btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration, AttributeError):
        return _IMPORTED


def format_value(value: float) -> str:
    """A sample value as the format writes it: integers without a fraction, ``+Inf``, ``NaN``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2 ** 53:
        return str(int(value))
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label_text(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{name}="{_escape_label(value)}"'
                          for name, value in zip(names, values)) + "}"


class Metric:
    """One metric family: a name, its help, its label names, and its series."""

    kind = "untyped"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        if not _NAME.match(name):
            raise ValueError(f"not a metric name: {name!r}")
        for label in labelnames:
            if not _LABEL.match(label) or label.startswith("__") or label == "le":
                raise ValueError(f"not a label name for {name}: {label!r}")
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        # Guards the series of this metric (self._values and the lists it
        # holds).  Writers and render() both take it; nothing reads a series
        # without it.
        self._lock = threading.Lock()

    def _check(self, labels: Labels) -> None:
        if len(labels) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, not {labels!r}")

    def header(self) -> List[str]:
        return [f"# HELP {self.name} {_escape_help(self.documentation)}",
                f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> List[str]:
        raise NotImplementedError

    def render(self) -> List[str]:
        return self.header() + self.samples()


class _Series(Metric):
    """A metric holding one float per label set: the part counters and gauges share."""

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, documentation, labelnames)
        self._values: Dict[Labels, float] = {}

    def _add(self, labels: Labels, amount: float) -> None:
        with self._lock:
            value = self._values.get(labels)
            if value is None:
                self._check(labels)
                value = 0.0
            self._values[labels] = value + amount

    def value(self, labels: Labels = ()) -> float:
        with self._lock:
            return self._values.get(labels, 0.0)

    def samples(self) -> List[str]:
        with self._lock:
            series = sorted(self._values.items())
        return [f"{self.name}{_label_text(self.labelnames, labels)} {format_value(value)}"
                for labels, value in series]


class Counter(_Series):
    """A count that only goes up (requests, jobs): its name ends in ``_total``."""

    kind = "counter"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> None:
        if not name.endswith("_total"):
            raise ValueError(f"a counter's name ends in _total: {name!r}")
        super().__init__(name, documentation, labelnames)

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError(f"{self.name}: a counter cannot go down ({amount})")
        self._add(labels, amount)


class Gauge(_Series):
    """A value that goes up and down (open connections)."""

    kind = "gauge"

    def set(self, value: float, labels: Labels = ()) -> None:
        self._check(labels)
        with self._lock:
            self._values[labels] = float(value)

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        self._add(labels, amount)

    def dec(self, labels: Labels = (), amount: float = 1.0) -> None:
        self._add(labels, -amount)


class GaugeFunction(Metric):
    """A gauge read from ``function()`` at each scrape, for a value kept elsewhere."""

    kind = "gauge"

    def __init__(self, name: str, documentation: str, function: Callable[[], float]) -> None:
        super().__init__(name, documentation)
        self.function = function

    def samples(self) -> List[str]:
        try:
            value = float(self.function())
        except Exception:  # a scrape must answer: a value that cannot be read is left out
            return []
        return [f"{self.name} {format_value(value)}"]


class Histogram(Metric):
    """How often values fell at or below each bound, with their sum and count (durations)."""

    kind = "histogram"

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (),
                 buckets: Iterable[float] = DURATION_BUCKETS) -> None:
        super().__init__(name, documentation, labelnames)
        bounds = sorted(float(bound) for bound in buckets if not math.isinf(bound))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError(f"{name}: buckets must be distinct numbers")
        self.bounds = tuple(bounds)
        # labels -> [count in each bucket, not cumulative; the last: above every bound],
        # and labels -> [sum, count].
        self._buckets: Dict[Labels, List[int]] = {}
        self._totals: Dict[Labels, List[float]] = {}

    def observe(self, value: float, labels: Labels = ()) -> None:
        index = bisect.bisect_left(self.bounds, value)  # the first bound >= value
        with self._lock:
            counts = self._buckets.get(labels)
            if counts is None:
                self._check(labels)
                counts = self._buckets[labels] = [0] * (len(self.bounds) + 1)
                self._totals[labels] = [0.0, 0]
            counts[index] += 1
            totals = self._totals[labels]
            totals[0] += value
            totals[1] += 1

    def count(self, labels: Labels = ()) -> int:
        with self._lock:
            return int(self._totals.get(labels, (0.0, 0))[1])

    def samples(self) -> List[str]:
        with self._lock:
            series = sorted((labels, list(counts), list(self._totals[labels]))
                            for labels, counts in self._buckets.items())
        lines = []
        names = self.labelnames + ("le",)
        for labels, counts, (total, count) in series:
            running = 0
            for bound, bucket in zip(self.bounds + (math.inf,), counts):
                running += bucket
                lines.append(f"{self.name}_bucket{_label_text(names, labels + (format_value(bound),))}"
                             f" {running}")
            label_text = _label_text(self.labelnames, labels)
            lines.append(f"{self.name}_sum{label_text} {format_value(total)}")
            lines.append(f"{self.name}_count{label_text} {int(count)}")
        return lines


M = TypeVar("M", bound=Metric)


class Registry:
    """The metrics of one server, rendered in the order they were made."""

    def __init__(self) -> None:
        # Guards self._metrics; metrics are made at start-up, rendered at each scrape.
        self._lock = threading.Lock()
        self._metrics: Dict[str, Metric] = {}

    def _add(self, metric: M) -> M:
        with self._lock:
            if metric.name in self._metrics:
                raise ValueError(f"metric {metric.name} made twice")
            self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Counter:
        return self._add(Counter(name, documentation, labelnames))

    def gauge(self, name: str, documentation: str, labelnames: Sequence[str] = ()) -> Gauge:
        return self._add(Gauge(name, documentation, labelnames))

    def gauge_function(self, name: str, documentation: str,
                       function: Callable[[], float]) -> GaugeFunction:
        return self._add(GaugeFunction(name, documentation, function))

    def histogram(self, name: str, documentation: str, labelnames: Sequence[str] = (),
                  buckets: Iterable[float] = DURATION_BUCKETS) -> Histogram:
        return self._add(Histogram(name, documentation, labelnames, buckets))

    def get(self, name: str) -> Optional[Metric]:
        with self._lock:
            return self._metrics.get(name)

    def render(self) -> str:
        """Every metric in the text exposition format 0.0.4 (ends with a line feed)."""
        with self._lock:
            metrics = list(self._metrics.values())
        lines: List[str] = []
        for metric in metrics:
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"


class ServerMetrics:
    """statsd's own metrics: what the transport, the API and the jobs report, by name.

    The server calls :meth:`request_done` once per answered request and
    :meth:`job_finished` once per job.  Values kept elsewhere (open
    connections, jobs pending, result-cache bytes) are given as functions,
    read at each scrape (:meth:`gauge_function`).
    """

    def __init__(self, version: str, started: Optional[float] = None,
                 routes: Optional[Dict[str, str]] = None) -> None:
        self.registry = registry = Registry()
        self.started = process_start_time() if started is None else started
        #: route name -> the label its requests are counted under (its path pattern,
        #: e.g. ``/api/get_results/{job_id}``); other names (``unknown``: no route,
        #: ``invalid``: not HTTP) are labels as they are.
        self.routes = dict(routes or {})
        info = registry.gauge("statsd_build_info", "statsd's version (always 1)", ("version",))
        info.set(1, (version,))
        start = registry.gauge("statsd_process_start_time_seconds",
                               "when the process started, in seconds since the Unix epoch")
        start.set(self.started)
        self.requests = registry.counter(
            "statsd_http_requests_total", "HTTP requests answered, by route and status code",
            ("route", "code"))
        self.request_seconds = registry.histogram(
            "statsd_http_request_duration_seconds",
            "time from a request's last byte read to its answer ready, by route", ("route",))
        self.jobs = registry.counter(
            "statsd_jobs_total", "jobs ended, by statistic and outcome (done, error)",
            ("statistic", "outcome"))
        self.job_seconds = registry.histogram(
            "statsd_job_duration_seconds", "time a worker spent on a job, by statistic",
            ("statistic",))

    def gauge_function(self, name: str, documentation: str,
                       function: Callable[[], float]) -> None:
        self.registry.gauge_function(name, documentation, function)

    def request_done(self, route: str, code: int, seconds: float) -> None:
        """The transport's observer: one answered request (``route`` is the route's name)."""
        label = self.routes.get(route, route)
        self.requests.inc((label, str(code)))
        self.request_seconds.observe(seconds, (label,))

    def job_finished(self, request: "JobRequest", outcome: str, seconds: float) -> None:
        """The job manager's ``on_finished``: one job ended, ``done`` or ``error``."""
        self.jobs.inc((request.endpoint, outcome))
        self.job_seconds.observe(seconds, (request.endpoint,))

    def render(self) -> str:
        return self.registry.render()
