"""The dashboard's files, served by statsd itself from ``statsd/static/``.

Why: the dashboard must work offline, with nothing fetched from the internet;
its page, style sheet and script ship inside the package.  Only files that
are in that folder when statsd starts, with a known type, can be served: a
name from a URL is looked up in that list, never joined to a path.
"""

from __future__ import annotations

import os
from typing import Dict, NamedTuple, Optional

STATIC_DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

#: File extension -> Content-Type of the files that may be served.
CONTENT_TYPES: Dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml; charset=utf-8",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


class Asset(NamedTuple):
    body: bytes
    content_type: str


def _servable() -> Dict[str, str]:
    """File name -> Content-Type of every file in the static folder that may be served."""
    try:
        names = os.listdir(STATIC_DIRECTORY)
    except OSError:
        return {}
    found = {}
    for name in names:
        content_type = CONTENT_TYPES.get(os.path.splitext(name)[1].lower())
        if content_type and os.path.isfile(os.path.join(STATIC_DIRECTORY, name)):
            found[name] = content_type
    return found


SERVABLE = _servable()


def asset(name: str) -> Optional[Asset]:
    """The file ``name`` of the static folder, or None if there is no such file to serve."""
    content_type = SERVABLE.get(name)
    if content_type is None:
        return None
    try:
        with open(os.path.join(STATIC_DIRECTORY, name), "rb") as handle:
            return Asset(handle.read(), content_type)
    except OSError:
        return None
