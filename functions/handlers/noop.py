"""`noop`: does nothing. For checking that workers are alive, and for measuring the queue itself."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from salesflow.functions.registry import Handler, JobContext


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


async def run(job: JobContext, payload: Payload) -> None:
    return None


HANDLER = Handler(kind="noop", payload=Payload, run=run, timeout=5)
