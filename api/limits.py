"""Per-caller rate and concurrency limits for the RPC gateway and the /api/* endpoints.

One organisation's or user's burst must not take the whole pool (issue 9). Every request to
`/rest/v1/rpc/*` and `/api/*` is counted against its caller, keyed by a hash of its bearer token
(or its apikey, or for neither its client address): a token bucket of `rate` requests per second
with room for `burst`, and at most `concurrency` requests of one caller in flight. Over either
limit the answer is 429 in PostgREST's error shape with `Retry-After` (whole seconds).

An organisation has a bucket of its own too, shared by all its members, so that many users of
one organisation cannot take the pool from the others. The RPC service (`api/rpc.py`) charges it
for calls naming an `org_id` of which the caller is a member (checked in the call's transaction, as
the caller, through RLS): a non-member cannot drain another organisation's bucket by naming it.

Configuration (environment, read when the app is created):
    SALESFLOW_RATE_LIMIT          requests per second per caller (default 100; 0 turns all limits off)
    SALESFLOW_RATE_BURST          bucket size (default twice the rate)
    SALESFLOW_CONCURRENCY_LIMIT   requests in flight per caller (default 8; 0: no limit)
    SALESFLOW_ORG_RATE_LIMIT      RPC calls per second per organisation (default 5 x the caller rate; 0: off)
    SALESFLOW_ORG_RATE_BURST      the organisation's bucket size (default twice its rate)

The state is per process: with several API processes each allows its own share.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

LIMITED_PREFIXES = ("/rest/v1/rpc/", "/api/")
# idle callers whose bucket is full again are forgotten beyond this many keys
MAX_KEYS = 10_000


@dataclass
class _Bucket:
    tokens: float
    at: float
    in_flight: int = 0


@dataclass
class Limiter:
    """Token buckets and in-flight counts per key. `clock` is injectable (tests move it by hand)."""

    rate: float
    burst: float
    concurrency: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: MutableMapping[str, str] | None = None) -> Limiter | None:
        """The per-caller limiter, or None when SALESFLOW_RATE_LIMIT is 0."""
        env = os.environ if environ is None else environ
        try:
            rate = float(env.get("SALESFLOW_RATE_LIMIT", "100"))
            burst = float(env.get("SALESFLOW_RATE_BURST", str(max(1.0, 2 * rate))))
            concurrency = int(env.get("SALESFLOW_CONCURRENCY_LIMIT", "8"))
        except ValueError as exc:
            raise ValueError(f"rate limit settings must be numbers: {exc}") from None
        if not rate > 0:  # 0, negative or NaN: off
            return None
        return cls(rate, max(burst, 1.0), max(concurrency, 0))

    @classmethod
    def org_from_env(cls, environ: MutableMapping[str, str] | None = None) -> Limiter | None:
        """The per-organisation limiter (rate only), or None when either rate setting is 0."""
        env = os.environ if environ is None else environ
        try:
            caller_rate = float(env.get("SALESFLOW_RATE_LIMIT", "100"))
            rate = float(env.get("SALESFLOW_ORG_RATE_LIMIT", str(5 * caller_rate)))
            burst = float(env.get("SALESFLOW_ORG_RATE_BURST", str(max(1.0, 2 * rate))))
        except ValueError as exc:
            raise ValueError(f"rate limit settings must be numbers: {exc}") from None
        if not caller_rate > 0 or not rate > 0:
            return None
        return cls(rate, max(burst, 1.0), 0)

    def _refill(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_KEYS:
                self._forget_idle(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + max(0.0, now - bucket.at) * self.rate)
        bucket.at = now
        return bucket

    def take(self, key: str) -> float | None:
        """Spend one token without counting a request in flight: None, or the seconds to wait."""
        bucket = self._refill(key)
        if bucket.tokens < 1.0:
            return (1.0 - bucket.tokens) / self.rate
        bucket.tokens -= 1.0
        return None

    def acquire(self, key: str) -> float | None:
        """None when the request may run (then call `release`), else the seconds to wait before retrying."""
        bucket = self._refill(key)
        if self.concurrency and bucket.in_flight >= self.concurrency:
            return 1.0
        if bucket.tokens < 1.0:
            return (1.0 - bucket.tokens) / self.rate
        bucket.tokens -= 1.0
        bucket.in_flight += 1
        return None

    def release(self, key: str) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None and bucket.in_flight > 0:
            bucket.in_flight -= 1

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items()
                    if not b.in_flight and b.tokens + (now - b.at) * self.rate >= self.burst]:
            del self._buckets[key]


def caller_key(scope: Scope) -> str:
    """Whom a request is counted against: its token, else its apikey, else its client address."""
    return caller_key_from(dict(scope.get("headers") or []), scope)


def caller_key_from(headers: Mapping[bytes, bytes], scope: Scope) -> str:
    """caller_key for headers already read into a mapping (the hot RPC path reads them once)."""
    credential = headers.get(b"authorization") or headers.get(b"apikey")
    if credential is None:
        client = scope.get("client") or ("?", 0)
        credential = f"addr:{client[0]}".encode()
    return hashlib.sha256(credential).hexdigest()[:32]


def retry_after_seconds(wait: float) -> int:
    """Retry-After is whole seconds; never 0, which clients read as "retry at once"."""
    return max(1, math.ceil(wait))


def refusal_body(retry_after: float) -> tuple[int, bytes]:
    """The 429 answer's Retry-After seconds and body, in PostgREST's error shape."""
    seconds = retry_after_seconds(retry_after)
    return seconds, json.dumps({"code": "SF429", "message": "too many requests from this caller; slow down",
                                "details": None, "hint": f"retry after {seconds} s"}).encode()


def _refusal(retry_after: float) -> tuple[dict[str, Any], bytes]:
    seconds, body = refusal_body(retry_after)
    headers = [(b"content-type", b"application/json"), (b"retry-after", str(seconds).encode()),
               (b"content-length", str(len(body)).encode())]
    return {"type": "http.response.start", "status": 429, "headers": headers}, body


class LimitMiddleware:
    """ASGI middleware: the request counts as in flight until its last body chunk is sent (streams too)."""

    def __init__(self, app: App, limiter: Limiter) -> None:
        self.app, self.limiter = app, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(LIMITED_PREFIXES) \
                or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        key = caller_key(scope)
        wait = self.limiter.acquire(key)
        if wait is not None:
            start, body = _refusal(wait)
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.limiter.release(key)
