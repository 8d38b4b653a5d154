"""`apply_retention`: delete messages (and inbox events) older than each organisation's retention_days.

Scheduled daily (sql/objects/83_gdpr.sql); organisations without the setting keep everything.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from salesflow.db.queries import query
from salesflow.functions.registry import Handler, JobContext


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


async def run(job: JobContext, payload: Payload) -> None:
    async with job.connection() as conn, conn.transaction():
        await conn.execute(query("apply_retention"))


HANDLER = Handler(kind="apply_retention", payload=Payload, run=run, timeout=50, backoff_base=60)
