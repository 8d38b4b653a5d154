"""`train_scoring_model`: train (and maybe activate) an organisation's conversion model.

Asked for by `api.train_scoring_model(org_id)`, `salesflow scoring train`, or the weekly schedule
(without org_id: every organisation with enough decided leads). Idempotent: a repeated delivery
trains another candidate, which is activated only if it beats the one now active.
"""

from __future__ import annotations

import logging
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from salesflow.functions.registry import Handler, JobContext
from salesflow.functions.scoring import train_org_async

log = logging.getLogger("salesflow.worker")


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    org_id: UUID | None = None


async def run(job: JobContext, payload: Payload) -> None:
    async with job.connection() as conn:
        if payload.org_id or job.org_id:
            orgs = [payload.org_id or job.org_id]
        else:
            orgs = [r[0] for r in await (await conn.execute("select id from salesflow.organizations")).fetchall()]
        for org in orgs:
            result = await train_org_async(conn, org)
            log.info("scoring model", extra={"job_id": job.id, "org_id": str(org), **{
                k: v for k, v in result.items() if k in ("trained", "activated", "holdout_auc", "reason")}})


HANDLER = Handler(kind="train_scoring_model", payload=Payload, run=run, timeout=55, backoff_base=60)
