"""Encoded results by request: those of every unfiltered request from the start, others once asked.

Why: the data do not change while the server runs, so a request asked again
has the same answer, byte for byte; computing and encoding it once is enough
(and for the original API's requests, a bounded set, it is done before
serving: :meth:`statsd.jobs.JobManager.precompute`).
The cache is bounded in bytes, and a very large result is not kept at all
(it would crowd out many small ones): it is computed again each time.
"""

from __future__ import annotations

import threading
from typing import Dict, Optional

from .request import JobRequest

#: Bytes of encoded results kept, and the largest result kept
#: (mean_by_category on the public file is about 100 KB).
RESULT_CACHE_BYTES = 16 * 1024 * 1024
RESULT_CACHE_ITEM_BYTES = 256 * 1024


class ResultCache:
    """``request -> encoded result``, filled until ``room`` bytes are used, never emptied."""

    def __init__(self, room: int = RESULT_CACHE_BYTES,
                 item_bytes: int = RESULT_CACHE_ITEM_BYTES) -> None:
        # _lock guards _items and _room when adding.  get() reads _items
        # without it: one dict lookup, and an entry, once added, never
        # changes or goes away; size() reads _room without it (an int, for
        # a gauge: at worst one result behind).
        self._lock = threading.Lock()
        self._items: Dict[JobRequest, bytes] = {}
        self._capacity = room
        self._room = room
        self._item_bytes = item_bytes

    def size(self) -> int:
        """Bytes of encoded results kept."""
        return self._capacity - self._room

    def full(self, payload: bytes) -> bool:
        """Whether ``payload``, small enough to be kept, no longer fits."""
        return len(payload) <= self._item_bytes and len(payload) > self._room

    def get(self, request: JobRequest) -> Optional[bytes]:
        return self._items.get(request)

    def offer(self, request: JobRequest, payload: bytes) -> None:
        """Keep ``payload`` for ``request`` if it fits."""
        with self._lock:
            if len(payload) <= min(self._room, self._item_bytes) and request not in self._items:
                self._items[request] = payload
                self._room -= len(payload)
