"""Query strings, parsed strictly and alike on every endpoint.

Why: a person typing a URL by hand makes typos; a parameter statsd does not
know, or one given twice, is answered with a 400 that names it instead of
being ignored, so that a wrong chart is never drawn in silence.  Names that
start with ``_`` are dropped first, everywhere: they are the cache busters
(``?_=1700000000``) that browsers' and libraries' clients add on their own.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional
from urllib.parse import parse_qs

from .stats import BadRequest

Parameters = Dict[str, List[str]]


def parse_query(query: str, allowed: Iterable[str], repeatable: Iterable[str] = ()) -> Parameters:
    """``{name: [values]}`` of ``query``; BadRequest for unknown or repeated names.

    Names starting with ``_`` are left out, whatever ``allowed`` says.
    """
    if not query:  # most requests have none: nothing to parse or check
        return {}
    allowed = list(allowed)
    repeatable = set(repeatable)
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=True,
                          max_num_fields=50)
    except ValueError as error:
        if "Max number" in str(error):
            raise BadRequest("more than 50 query parameters")
        field = str(error).partition(":")[2].strip()
        shown = field or repr(query[:40])
        raise BadRequest(f"malformed query string: {shown} is not name=value")
    for name in [name for name in params if name.startswith("_")]:
        del params[name]
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
