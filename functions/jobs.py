"""A claimed job, and running it: payload checks, the handler call under its timeout, the outcome.

Nothing here touches the queue: `execute` turns one claimed job into an Outcome (completed,
failed and worth retrying, or failed for good), and the worker records outcomes in batches.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

import psycopg
from pydantic import ValidationError

from salesflow.functions.registry import JobContext, PermanentError, Registry, RetryLater

log = logging.getLogger("salesflow.worker")

# last_error is capped at 4000 characters in the table; keep the head (what failed) and the tail
# (where), since a traceback's middle is the least useful part
ERROR_HEAD, ERROR_TAIL = 1500, 2400


@dataclass(frozen=True)
class ClaimedJob:
    """A row returned by salesflow.claim_jobs: leased to this worker until lease_expires_at."""

    id: int
    queue: str
    kind: str
    payload: str  # JSON text, parsed straight into the handler's model
    org_id: UUID | None
    attempt: int
    max_attempts: int
    lease_expires_at: datetime


@dataclass(frozen=True)
class Outcome:
    """What became of one attempt: completed, or failed (retryable or not) with an error."""

    job: ClaimedJob
    status: Literal["completed", "failed"]
    error: str | None = None
    retryable: bool = True
    retry_in: float | None = None  # seconds; None means the backoff formula
    backoff_base: float = 10.0
    duration: float = 0.0

    @classmethod
    def permanent(cls, job: ClaimedJob, error: str) -> Outcome:
        return cls(job, "failed", error=error, retryable=False)


def clip_error(text: str) -> str:
    if len(text) <= ERROR_HEAD + ERROR_TAIL + 20:
        return text
    return f"{text[:ERROR_HEAD]}\n[... {len(text) - ERROR_HEAD - ERROR_TAIL} characters cut ...]\n{text[-ERROR_TAIL:]}"


def describe_exception(exc: BaseException) -> str:
    """One line for jobs.last_error: the error and where it was raised (the traceback goes to the log)."""
    message = " ".join(str(exc).split())[:500]
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {message}{where}" if message else f"{type(exc).__name__}{where}"


def lead_vanished(exc: BaseException) -> bool:
    """A write referencing a lead that no longer exists: the lead was deleted or erased mid-job."""
    return isinstance(exc, psycopg.errors.ForeignKeyViolation) and 'in table "leads"' in (
        exc.diag.message_detail or "")


def _log_traceback(job: ClaimedJob, exc: BaseException) -> None:
    log.warning("handler raised", exc_info=exc, extra={"job_id": job.id, "kind": job.kind, "attempt": job.attempt})


def _one_line(text: str) -> str:
    return clip_error(" ".join(text.split()))


def describe_validation(kind: str, exc: ValidationError) -> str:
    """One line per problem, naming the field and never echoing the value (it may be huge, or personal)."""
    problems = [
        f"{'.'.join(str(part) for part in err['loc']) or '(payload)'}: {err['msg']}" for err in exc.errors()[:10]
    ]
    more = f"; and {exc.error_count() - 10} more" if exc.error_count() > 10 else ""
    return clip_error(f"malformed payload for job kind {kind}: {'; '.join(problems)}{more}")


async def execute(
    job: ClaimedJob,
    registry: Registry,
    context: Callable[[ClaimedJob], JobContext],
    *,
    max_payload_bytes: int,
) -> Outcome:
    """Run one job to an outcome. Raises only CancelledError (the worker stopping or losing the lease)."""
    handler = registry.get(job.kind)
    if handler is None:
        return Outcome.permanent(
            job,
            f"unknown job kind {job.kind!r}: no handler is registered for it in this worker "
            f"(known: {', '.join(registry.kinds) or 'none'}); deploy a worker that has one, then retry the job",
        )
    size = len(job.payload.encode())
    if size > max_payload_bytes:
        return Outcome.permanent(
            job,
            f"payload of {size} bytes is over the {max_payload_bytes}-byte limit: enqueue ids, not data, "
            "and let the handler read the rows",
        )
    try:
        payload = handler.payload.model_validate_json(job.payload)
    except ValidationError as exc:
        return Outcome.permanent(job, describe_validation(job.kind, exc))

    started = time.monotonic()
    try:
        async with asyncio.timeout(handler.timeout) as deadline:
            await handler.run(context(job), payload)
    except PermanentError as exc:
        return Outcome(job, "failed", error=_one_line(f"permanent failure: {exc}"), retryable=False,
                       duration=time.monotonic() - started)
    except RetryLater as exc:
        return Outcome(job, "failed", error=_one_line(f"retry requested: {exc}"), retry_in=exc.delay,
                       backoff_base=handler.backoff_base, duration=time.monotonic() - started)
    except TimeoutError as exc:
        if not deadline.expired():
            _log_traceback(job, exc)
        error = (f"timed out after {handler.timeout:g} s (the handler's timeout)" if deadline.expired()
                 else describe_exception(exc))
        return Outcome(job, "failed", error=error, backoff_base=handler.backoff_base,
                       duration=time.monotonic() - started)
    except psycopg.errors.ForeignKeyViolation as exc:
        if not lead_vanished(exc):
            _log_traceback(job, exc)
            return Outcome(job, "failed", error=describe_exception(exc), backoff_base=handler.backoff_base,
                           duration=time.monotonic() - started)
        # a job about a lead that vanished while it ran has nothing left to do; its error text would
        # name the lead (an erased person's id kept in jobs.last_error), so it completes as a no-op
        log.info("the job's lead vanished while it ran; nothing to do", extra={"job_id": job.id, "kind": job.kind})
    except Exception as exc:  # any handler error is the job's failure, never the worker's
        _log_traceback(job, exc)
        return Outcome(job, "failed", error=describe_exception(exc), backoff_base=handler.backoff_base,
                       duration=time.monotonic() - started)
    return Outcome(job, "completed", duration=time.monotonic() - started)
