"""`refresh_contact_patterns`: rebuild the per-organisation and per-segment response hours (hourly).

The patterns are the prior that api.get_best_contact_window shrinks a thin lead history toward.
A job with an org_id rebuilds that organisation only; the schedule's job (no org) rebuilds all.
"""

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
        row = await (await conn.execute(query("refresh_contact_patterns"), {"org_id": job.org_id})).fetchone()
    log.info("refreshed contact patterns", extra={"job_id": job.id, "rows": row[0] if row else 0})


HANDLER = Handler(kind="refresh_contact_patterns", payload=Payload, run=run, timeout=50, backoff_base=60)
