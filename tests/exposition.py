"""A strict parser of the Prometheus text exposition format 0.0.4, for the tests.

Why: ``/api/metrics`` is only useful if a Prometheus server can scrape it as
it is.  This parser is written from the format's description
(https://prometheus.io/docs/instrumenting/exposition_formats/), shares no
code with ``statsd.metrics``, and refuses what a scraper would refuse or
misread: a malformed line, a bad name or escape, a ``TYPE`` after its
samples or given twice, a family split in two, a series given twice, a
counter that is negative, a histogram whose buckets are not cumulative or
lack ``+Inf``, or whose ``+Inf`` bucket is not its ``_count``.
"""

from __future__ import annotations

import math
import re
from typing import Dict, List, NamedTuple, Optional, Tuple

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class Sample(NamedTuple):
    name: str
    labels: Dict[str, str]
    value: float


class Family:
    def __init__(self, name: str) -> None:
        self.name = name
        self.type = "untyped"
        self.typed = False  # a TYPE line was given
        self.help: Optional[str] = None
        self.samples: List[Sample] = []


class ExpositionError(ValueError):
    pass


def parse_value(text: str) -> float:
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise ExpositionError(f"not a sample value: {text!r}")
    return float(text)


def _parse_labels(text: str, start: int, number: int) -> Tuple[Dict[str, str], int]:
    """The labels of ``{...}`` starting at ``text[start] == '{'``; and the index after ``}``."""
    labels: Dict[str, str] = {}
    index = start + 1
    while True:
        if text[index:index + 1] == "}":
            return labels, index + 1
        match = LABEL_NAME.match(text, index)
        if not match:
            raise ExpositionError(f"line {number}: bad label name at {text[index:]!r}")
        name = match.group()
        index = match.end()
        if text[index:index + 2] != '="':
            raise ExpositionError(f"line {number}: expected =\" after label {name}")
        index += 2
        value = []
        while True:
            if index >= len(text):
                raise ExpositionError(f"line {number}: unterminated label value")
            char = text[index]
            if char == "\\":
                escaped = text[index + 1:index + 2]
                if escaped not in ("\\", '"', "n"):
                    raise ExpositionError(f"line {number}: bad escape \\{escaped}")
                value.append("\n" if escaped == "n" else escaped)
                index += 2
            elif char == '"':
                index += 1
                break
            elif char == "\n":
                raise ExpositionError(f"line {number}: line feed in a label value")
            else:
                value.append(char)
                index += 1
        if name in labels:
            raise ExpositionError(f"line {number}: label {name} given twice")
        labels[name] = "".join(value)
        if text[index:index + 1] == ",":
            index += 1
        elif text[index:index + 1] != "}":
            raise ExpositionError(f"line {number}: expected , or }} after label {name}")


def _family_of(sample_name: str, families: Dict[str, Family]) -> str:
    """The family a sample belongs to (``x_bucket`` of histogram ``x`` belongs to ``x``)."""
    for suffix in ("_bucket", "_sum", "_count"):
        if sample_name.endswith(suffix):
            base = sample_name[:-len(suffix)]
            family = families.get(base)
            if family is not None and family.type in ("histogram", "summary"):
                return base
    return sample_name


def _enter(name: str, current: Optional[str], finished: set, number: int) -> str:
    """A line of family ``name`` after lines of ``current``: the lines of a family are one group."""
    if name == current:
        return name
    if name in finished:
        raise ExpositionError(f"line {number}: the lines of {name} are not one group")
    if current is not None:
        finished.add(current)
    return name


def parse(text: str) -> Dict[str, Family]:
    """The families of an exposition; ExpositionError naming the first problem."""
    if text and not text.endswith("\n"):
        raise ExpositionError("the last line does not end with a line feed")
    families: Dict[str, Family] = {}
    finished = set()  # families whose group of lines has ended
    current: Optional[str] = None
    series = set()
    for number, line in enumerate(text.split("\n")[:-1], 1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            words = stripped[1:].split(None, 2)
            if len(words) < 2 or words[0] not in ("HELP", "TYPE"):
                continue  # a plain comment
            keyword, name = words[0], words[1]
            if not METRIC_NAME.fullmatch(name):
                raise ExpositionError(f"line {number}: bad metric name {name!r}")
            current = _enter(name, current, finished, number)
            family = families.setdefault(name, Family(name))
            if family.samples:
                raise ExpositionError(f"line {number}: {keyword} for {name} after its samples")
            if keyword == "HELP":
                if family.help is not None:
                    raise ExpositionError(f"line {number}: second HELP for {name}")
                rest = words[2] if len(words) > 2 else ""
                if re.search(r"\\[^\\n]", rest.replace("\\\\", "")):
                    raise ExpositionError(f"line {number}: bad escape in HELP")
                family.help = rest.replace("\\n", "\n").replace("\\\\", "\\")
            else:
                if len(words) != 3 or words[2] not in TYPES:
                    raise ExpositionError(f"line {number}: bad TYPE line {line!r}")
                if family.typed:
                    raise ExpositionError(f"line {number}: second TYPE for {name}")
                family.type = words[2]
                family.typed = True
            continue
        match = METRIC_NAME.match(stripped)
        if not match:
            raise ExpositionError(f"line {number}: bad metric name in {line!r}")
        sample_name = match.group()
        index = match.end()
        labels: Dict[str, str] = {}
        if stripped[index:index + 1] == "{":
            labels, index = _parse_labels(stripped, index, number)
        rest = stripped[index:].split()
        if len(rest) not in (1, 2) or (stripped[index:index + 1] not in (" ", "\t")):
            raise ExpositionError(f"line {number}: expected a value (and a timestamp): {line!r}")
        value = parse_value(rest[0])
        if len(rest) == 2 and not re.fullmatch(r"-?\d+", rest[1]):
            raise ExpositionError(f"line {number}: bad timestamp {rest[1]!r}")
        name = _family_of(sample_name, families)
        current = _enter(name, current, finished, number)
        family = families.setdefault(name, Family(name))
        key = (sample_name, tuple(sorted(labels.items())))
        if key in series:
            raise ExpositionError(f"line {number}: series {key} given twice")
        series.add(key)
        if family.type == "counter" and (value < 0 or math.isnan(value)):
            raise ExpositionError(f"line {number}: counter {sample_name} is {value}")
        family.samples.append(Sample(sample_name, labels, value))
    for family in families.values():
        if family.type == "histogram":
            _check_histogram(family)
    return families


def _check_histogram(family: Family) -> None:
    groups: Dict[tuple, Dict[str, list]] = {}
    for sample in family.samples:
        rest = {k: v for k, v in sample.labels.items() if k != "le"}
        group = groups.setdefault(tuple(sorted(rest.items())),
                                  {"buckets": [], "sum": [], "count": []})
        if sample.name == family.name + "_bucket":
            if "le" not in sample.labels:
                raise ExpositionError(f"{family.name}: a bucket without le")
            group["buckets"].append((parse_value(sample.labels["le"]), sample.value))
        elif sample.name == family.name + "_sum":
            group["sum"].append(sample.value)
        elif sample.name == family.name + "_count":
            group["count"].append(sample.value)
        else:
            raise ExpositionError(f"{family.name}: sample {sample.name} in a histogram")
    for labels, group in groups.items():
        buckets = group["buckets"]
        bounds = [bound for bound, _ in buckets]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise ExpositionError(f"{family.name}{labels}: buckets not in increasing order")
        if not bounds or bounds[-1] != math.inf:
            raise ExpositionError(f"{family.name}{labels}: no +Inf bucket")
        counts = [count for _, count in buckets]
        if counts != sorted(counts):
            raise ExpositionError(f"{family.name}{labels}: buckets are not cumulative")
        if len(group["count"]) != 1 or len(group["sum"]) != 1:
            raise ExpositionError(f"{family.name}{labels}: needs one _sum and one _count")
        if group["count"][0] != counts[-1]:
            raise ExpositionError(f"{family.name}{labels}: +Inf bucket is not _count")


def value(families: Dict[str, Family], sample_name: str, **labels: str) -> Optional[float]:
    """The value of the series ``sample_name{labels}`` (exactly those labels), or None."""
    family = families.get(_family_of(sample_name, families))
    if family is None:
        return None
    for sample in family.samples:
        if sample.name == sample_name and sample.labels == labels:
            return sample.value
    return None
