"""`refresh_forecasts`: store each organisation's revenue forecast (scheduled daily).

salesflow.refresh_forecasts does the work in SQL: for every organisation with an open deal, the
forecast the dashboard shows (3 windows of 30 days, P10/P50/P90) is computed and stored in
salesflow.predictions with this job's id, so the dashboard reads it with its as-of time instead of
computing it on every load (sql/objects/88_stored_predictions.sql). A redelivered job stores the
same forecast once (its fingerprint is unique) or a newer one; nothing else changes.
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
        row = await (await conn.execute(query("refresh_forecasts"), {"job_id": job.id})).fetchone()
    log.info("stored forecasts", extra={"job_id": job.id, "organisations": row[0] if row else 0})


# a forecast costs ~2 s at 100,000 leads on 2 cores: 50 s covers a couple of dozen such organisations
HANDLER = Handler(kind="refresh_forecasts", payload=Payload, run=run, timeout=50, backoff_base=30)
