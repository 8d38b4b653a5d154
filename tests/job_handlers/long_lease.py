"""`test_long_lease`: sleeps longer than its worker's lease; its kind declares a lease of its own."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field

from salesflow.functions.registry import Handler, JobContext


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seconds: float = Field(ge=0, le=15)


async def run(job: JobContext, payload: Payload) -> None:
    await asyncio.sleep(payload.seconds)


HANDLER = Handler(kind="test_long_lease", payload=Payload, run=run, timeout=20, lease=30)
