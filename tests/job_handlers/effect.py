"""`test_effect`: records its delivery, then writes a side effect keyed by the job's key, idempotently."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field

from salesflow.functions.registry import Handler, JobContext


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, max_length=200)
    sleep_ms: int = Field(default=0, ge=0, le=5000)


async def run(job: JobContext, payload: Payload) -> None:
    async with job.connection() as conn:
        await conn.execute(
            "insert into public.queue_deliveries (job_id, attempt, worker, started_at) "
            "values (%s, %s, %s, clock_timestamp())",
            (job.id, job.attempt, job.worker),
        )
    if payload.sleep_ms:
        await asyncio.sleep(payload.sleep_ms / 1000)
    async with job.connection() as conn:
        # the idempotent side effect: a redelivered job finds its key written and adds nothing. Check
        # then insert, with no unique key behind it, so that two deliveries at once would both write
        await conn.execute(
            "insert into public.queue_effects (key, job_id) select %s, %s "
            "where not exists (select from public.queue_effects where key = %s)",
            (payload.key, job.id, payload.key),
        )
        await conn.execute(
            "update public.queue_deliveries set finished_at = clock_timestamp() "
            "where job_id = %s and attempt = %s and worker = %s",
            (job.id, job.attempt, job.worker),
        )


HANDLER = Handler(kind="test_effect", payload=Payload, run=run, timeout=2.5)
