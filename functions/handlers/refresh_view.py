"""`refresh_view`: refresh a materialized view in `analytics`, concurrently once it has data.

Schedule one per view, e.g. `select salesflow.schedule_job('refresh_lead_funnel', 'refresh_view',
every => '10 minutes', payload => '{"view": "lead_funnel"}')`. CONCURRENTLY needs a unique index
on the view; readers are never blocked by it.
"""

from __future__ import annotations

import psycopg
from pydantic import BaseModel, ConfigDict, Field

from salesflow.db.queries import query
from salesflow.functions.registry import Handler, JobContext, PermanentError


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    view: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")


async def run(job: JobContext, payload: Payload) -> None:
    async with job.connection() as conn:
        cur = await conn.execute(query("matview_exists"), {"name": payload.view})
        found, populated = await cur.fetchone() or (False, False)
        if not found:
            raise PermanentError(f"analytics.{payload.view} is not a materialized view")
        # the first refresh cannot be concurrent: an unpopulated view has nothing to diff against;
        # the worker owns no view, so the refresh runs through a definer function (97_roles.sql)
        try:
            await conn.execute(query("refresh_analytics_view"), {"name": payload.view, "concurrently": populated})
        except psycopg.errors.ObjectNotInPrerequisiteState as exc:
            # CONCURRENTLY without a unique index: retrying cannot help until someone adds one
            raise PermanentError(f"cannot refresh analytics.{payload.view} concurrently: {exc}") from exc


HANDLER = Handler(kind="refresh_view", payload=Payload, run=run, timeout=50, backoff_base=30)
