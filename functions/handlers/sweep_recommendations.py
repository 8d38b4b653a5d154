"""`sweep_recommendations`: expire, un-snooze and run the time-based rules (scheduled every 5 minutes)."""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict

from salesflow.db.queries import query
from salesflow.functions.registry import Handler, JobContext

log = logging.getLogger("salesflow.worker")


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


async def run(job: JobContext, payload: Payload) -> None:
    async with job.connection() as conn:
        row = await (await conn.execute(query("sweep_recommendations"))).fetchone()
    log.info("swept recommendations", extra={"job_id": job.id, "result": row[0] if row else None})


HANDLER = Handler(kind="sweep_recommendations", payload=Payload, run=run, timeout=50, backoff_base=30)
