"""`monitor_scoring_models`: re-measure active scoring models as outcomes arrive (scheduled hourly).

salesflow.monitor_scoring_models does the work in SQL: AUC and calibration on leads each active
model scored before their outcome, against its hold-out figures; drift writes an alert, marks the
model for retraining and queues its training job (thresholds in sql/objects/74_model_monitoring.sql).
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
        row = await (await conn.execute(query("monitor_scoring_models"))).fetchone()
    drifted = [m for m in (row[0] if row else []) if m["drifted"]]
    log.info("monitored scoring models", extra={"job_id": job.id, "drifted": len(drifted)})


HANDLER = Handler(kind="monitor_scoring_models", payload=Payload, run=run, timeout=50, backoff_base=30)
