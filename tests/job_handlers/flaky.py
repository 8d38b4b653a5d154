"""`test_flaky`: fails every attempt until public.queue_switches holds its key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from salesflow.functions.registry import Handler, JobContext


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, max_length=200)


async def run(job: JobContext, payload: Payload) -> None:
    async with job.connection() as conn:
        await conn.execute(
            "insert into public.queue_attempts (key, attempt, at) values (%s, %s, clock_timestamp())",
            (payload.key, job.attempt),
        )
        cur = await conn.execute("select exists (select from public.queue_switches where key = %s)", (payload.key,))
        row = await cur.fetchone()
    if not (row and row[0]):
        raise RuntimeError(f"boom on attempt {job.attempt}")


HANDLER = Handler(kind="test_flaky", payload=Payload, run=run, timeout=2.5, backoff_base=0.4)
