"""`detect_anomalies`: write the dashboard's anomaly alert rows (scheduled daily).

salesflow.record_insight_alerts does the work in SQL: spend, LLM error rate, mean lead score and
message volume of the last completed days of every organisation, each against the median and MAD
of its trailing 28-day window (the method is documented in sql/objects/96_insights_dashboard.sql).
A day already alerted is not written twice, so a redelivered job changes nothing.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field

from salesflow.db.queries import query
from salesflow.functions.registry import Handler, JobContext

log = logging.getLogger("salesflow.worker")


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # completed days re-examined: 2, so a run that was late by a day still covers the day it missed
    days: int = Field(default=2, ge=1, le=60)


async def run(job: JobContext, payload: Payload) -> None:
    async with job.connection() as conn:
        row = await (await conn.execute(query("record_insight_alerts"), {"days": payload.days})).fetchone()
    log.info("recorded insight alerts", extra={"job_id": job.id, "written": row[0] if row else 0})


HANDLER = Handler(kind="detect_anomalies", payload=Payload, run=run, timeout=50, backoff_base=30)
