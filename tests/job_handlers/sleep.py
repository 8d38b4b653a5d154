"""`test_sleep`: sleeps, touching nothing (for stops and restarts while a handler runs)."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field

from salesflow.functions.registry import Handler, JobContext


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seconds: float = Field(ge=0, le=15)


async def run(job: JobContext, payload: Payload) -> None:
    await asyncio.sleep(payload.seconds)


HANDLER = Handler(kind="test_sleep", payload=Payload, run=run, timeout=20)
