"""`sweep_llm_reservations`: settle the budget reservations a killed caller left open (every minute).

A process killed between `reserve_budget` and `settle_request` leaves its reservation behind. Until
it expires (15 minutes) it counts against the budget, as an open call should; after that this job
turns it into one `llm_requests` row with status error, charged the reserved amount (what was spent
is unknown, and never free) and usage marked estimated, so every provider call still leaves one
ledger row and no reservation stays open, even for an organisation that never calls again.
Scheduled by sql/objects/98_reservation_sweep.sql.
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
        row = await (await conn.execute(query("sweep_llm_reservations"))).fetchone()
    swept = row[0] if row else 0
    if swept:
        log.warning("settled orphaned LLM budget reservations", extra={"job_id": job.id, "swept": swept})


HANDLER = Handler(kind="sweep_llm_reservations", payload=Payload, run=run, timeout=50, backoff_base=30)
