"""`evaluate_recommendations`: run the recommendation rules for a few leads of one organisation.

Enqueued by the statement-level triggers on activities, messages, deals and leads (sql/objects/
75_recommendations.sql) in the writer's transaction. The work is one SQL call; running it twice
is harmless (live recommendations are unique per lead, type and reason). A lead deleted since the
job was queued is left out (the delete trigger also drops it from the payload): a job whose leads
are all gone completes as a no-op.
"""

from __future__ import annotations

import logging
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from salesflow.db.queries import query
from salesflow.functions.registry import Handler, JobContext, PermanentError

log = logging.getLogger("salesflow.worker")


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # empty when every lead of the batch was erased before it ran (salesflow.forget_lead_in_jobs)
    lead_ids: list[UUID] = Field(max_length=1000)


async def run(job: JobContext, payload: Payload) -> None:
    if job.org_id is None:
        raise PermanentError("evaluate_recommendations needs the job's org_id")
    if not payload.lead_ids:
        return
    async with job.connection() as conn:
        cur = await conn.execute(query("evaluate_recommendations"),
                                 {"org_id": job.org_id, "lead_ids": list(payload.lead_ids)})
        row = await cur.fetchone()
    log.debug("evaluated recommendations", extra={"job_id": job.id, "opened": row[0] if row else 0})


HANDLER = Handler(kind="evaluate_recommendations", payload=Payload, run=run, timeout=50, backoff_base=10)
