"""`erase_lead`: carry out an erasure request (api.erase_lead) in one transaction.

salesflow.erase_lead_data does the work table by table from the personal-data catalogue, puts the
person's identifiers on the suppression list and leaves only the request's id, hashes and counts.
Running it again for a done request changes nothing.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict

from salesflow.db.queries import query
from salesflow.functions.registry import Handler, JobContext, PermanentError


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    erasure_id: UUID


async def run(job: JobContext, payload: Payload) -> None:
    if job.org_id is None:
        raise PermanentError("erase_lead needs the job's org_id")
    async with job.connection() as conn, conn.transaction():
        await conn.execute(query("erase_lead_data"), {"org_id": job.org_id, "erasure_id": payload.erasure_id})


HANDLER = Handler(kind="erase_lead", payload=Payload, run=run, timeout=50, backoff_base=30)
