"""Verified callers cached per token until the token expires (a bounded LRU, one per API process).

Only a token that verified is cached, and only until its `exp` (plus the verifier's leeway): a
cached caller is exactly what verifying the token again would give until then. A token without
`exp` is verified on every request. Each worker process has its own cache.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from salesflow.api.auth import LEEWAY_SECONDS, Caller, caller_from_headers


class CallerCache:
    def __init__(self, secret: str, *, size: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._size = size
        self._clock = clock
        self._entries: OrderedDict[tuple[str | None, str | None], tuple[Caller, float]] = OrderedDict()

    def get(self, authorization: str | None, apikey: str | None) -> Caller:
        key = (authorization, apikey)
        hit = self._entries.get(key)
        if hit is not None:
            caller, until = hit
            if self._clock() < until:
                self._entries.move_to_end(key)
                return caller
            del self._entries[key]
        caller = caller_from_headers(authorization, apikey, self._secret)
        exp = caller.claims.get("exp")
        if (authorization or apikey) and isinstance(exp, int | float) and not isinstance(exp, bool):
            self._entries[key] = (caller, exp + LEEWAY_SECONDS)
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return caller

    def __len__(self) -> int:
        return len(self._entries)

