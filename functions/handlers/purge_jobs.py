"""`purge_jobs`: delete finished jobs (scheduled daily by migration 0002)."""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field

from salesflow.db.queries import query
from salesflow.functions.registry import Handler, JobContext

log = logging.getLogger("salesflow.worker")


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # completed and cancelled jobs older than this many days go; dead ones are kept longer, to be looked at
    completed_days: int = Field(default=7, ge=0, le=3650)
    dead_days: int = Field(default=30, ge=0, le=3650)


async def run(job: JobContext, payload: Payload) -> None:
    async with job.connection() as conn:
        cur = await conn.execute(query("purge_jobs"), payload.model_dump())
        row = await cur.fetchone()
    log.info("purged finished jobs", extra={"job_id": job.id, "purged": row[0] if row else 0})


HANDLER = Handler(kind="purge_jobs", payload=Payload, run=run, timeout=50, backoff_base=60)
