"""What the lead-intelligence jobs (`analyze_personality`, `propose_bant`) share about the AI gateway.

The gateway itself is the worker's (`job.resources.gateway`): one per worker process, so its
cooldowns and breaker state serve every job. The module's name starts with an underscore, so the
registry does not take it for a job kind.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict

from salesflow.functions.registry import JobContext, PermanentError
from salesflow.gateway.config import ModelConfig
from salesflow.gateway.core import LLMCall
from salesflow.gateway.errors import BudgetExceeded, CallFailed, GatewayError

log = logging.getLogger("salesflow.worker")

TIMEOUT = 55.0  # seconds; the worker's default lease is 60
DEADLINE = TIMEOUT - 5.0  # the gateway's whole call, retries and fallbacks included

Store = Callable[[psycopg.AsyncConnection[Any], int, str, Any, ModelConfig], Awaitable[None]]


class LeadPayload(BaseModel):
    """A job about one lead, answered in one language, on a user's behalf."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: UUID
    language: Literal["de", "en"] = "en"
    user_id: UUID | None = None


def job_org(job: JobContext, kind: str) -> UUID:
    if job.org_id is None:
        raise PermanentError(f"{kind} needs the job's org_id")
    return job.org_id


def require_consent(consent: dict[str, Any] | None, lead_id: UUID) -> None:
    """The lead's `ai_processing_allowed` row: a refusal is permanent, no row means no objection."""
    if consent is not None and not consent["allowed"]:
        raise PermanentError(f"lead {lead_id} does not consent to AI processing")


async def complete_or_baseline(job: JobContext, call: LLMCall, store: Store, offline: bool, what: str) -> bool:
    """Run `call` through the worker's gateway; True when `store` kept its answer. False means the
    offline model gave nothing usable and the caller stores its deterministic baseline instead.
    With a provider configured a failure is the queue's: 5xx and timeouts retry, the rest is permanent."""
    try:
        await job.resources.gateway.complete(call, store=store)
        return True
    except BudgetExceeded as exc:
        raise PermanentError(str(exc)) from exc
    except GatewayError as exc:
        if not offline:
            if isinstance(exc, CallFailed) and exc.status >= 500:
                raise  # providers down or out of time: the queue's backoff tries again later
            raise PermanentError(str(exc)) from exc
        log.info("offline model gave no usable %s (%s); storing the word-list baseline", what, exc)
    return False


def inputs_of(*rows: Iterable[Mapping[str, Any]]) -> Jsonb:
    """The identifiers of the rows a job showed the model, by table: {"messages": [...], "activities": [...]}.

    Rows without a `source` are messages (the lead's own words)."""
    ids: dict[str, list[str]] = {}
    for group in rows:
        for row in group:
            ids.setdefault(row.get("source", "messages"), []).append(str(row["id"]))
    return Jsonb({table: sorted(set(found)) for table, found in ids.items()})
