"""The AI gateway for the lead-intelligence jobs (`analyze_personality`, `propose_bant`).

One gateway per worker process, so its cooldowns and breaker state serve every job; its database
connections are the running job's own (a context variable names that job). The module's name
starts with an underscore, so the registry does not take it for a job kind.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from salesflow.functions.registry import JobContext, PermanentError
from salesflow.gateway.config import ConfigError, load_config
from salesflow.gateway.core import Gateway

TIMEOUT = 55.0  # seconds; the worker's default lease is 60
DEADLINE = TIMEOUT - 5.0  # the gateway's whole call, retries and fallbacks included

_job: contextvars.ContextVar[JobContext] = contextvars.ContextVar("intelligence_job")
_gateway: Gateway | None = None


@asynccontextmanager
async def _connection() -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with _job.get().connection() as conn:
        yield conn


def bind(job: JobContext) -> None:
    """Make the gateway's connections this job's own."""
    _job.set(job)


def gateway() -> Gateway:
    """The process's gateway, built from the environment on first use."""
    global _gateway
    if _gateway is None:
        try:
            _gateway = Gateway(load_config(), _connection)
        except ConfigError as exc:
            raise PermanentError(str(exc)) from exc
    return _gateway


def use(gateway_: Gateway | None) -> None:
    """Hand the process a gateway built elsewhere (tests point one at their own servers), or drop it."""
    global _gateway
    _gateway = gateway_


def only_offline() -> bool:
    """True when no model but the offline one could answer (or none at all)."""
    return all(m.offline for m in gateway().config.available_models())
