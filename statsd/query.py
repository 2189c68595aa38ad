"""Query strings of the GET endpoints (charts, discovery), parsed strictly.

Why: a person typing a URL by hand makes typos; a parameter statsd does not
know, or one given twice, is answered with a 400 that names it instead of
being ignored, so that a wrong chart is never drawn in silence.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional
from urllib.parse import parse_qs

from .stats import BadRequest

Parameters = Dict[str, List[str]]


def parse_query(query: str, allowed: Iterable[str], repeatable: Iterable[str] = ()) -> Parameters:
    """``{name: [values]}`` of ``query``; BadRequest for unknown or repeated names."""
    allowed = list(allowed)
    repeatable = set(repeatable)
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query),
                          max_num_fields=50)
    except ValueError as error:
        raise BadRequest(f"malformed query string: {error}")
    for name, values in params.items():
        if name not in allowed:
            takes = ", ".join(allowed) if allowed else "no parameters"
            raise BadRequest(f"unknown parameter {name!r}; this endpoint takes {takes}")
        if len(values) > 1 and name not in repeatable:
            raise BadRequest(f"parameter {name!r} given {len(values)} times; give it once")
    return params


def required(params: Parameters, name: str) -> str:
    """The value of parameter ``name``; BadRequest when it is missing or empty."""
    value = optional(params, name)
    if value is None:
        raise BadRequest(f"missing parameter {name!r}")
    return value


def optional(params: Parameters, name: str) -> Optional[str]:
    values = params.get(name)
    if not values or not values[0]:
        return None
    return values[0]
