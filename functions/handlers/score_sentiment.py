"""`score_sentiment`: the offline lexicon reading of new messages, stored on each message.

Queued by the messages trigger (sql/objects/57_sentiment.sql), one job per insert statement and
organisation per 500 messages. Reading is CPU work, so it runs off the event loop. Running it twice
writes the same values; a model's reading already stored is kept (salesflow.store_sentiments).
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field

from salesflow.db.queries import query
from salesflow.functions import sentiment
from salesflow.functions.registry import Handler, JobContext, PermanentError


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    message_ids: list[UUID] = Field(max_length=1000)


async def run(job: JobContext, payload: Payload) -> None:
    if job.org_id is None:
        raise PermanentError("score_sentiment needs the job's org_id")
    if not payload.message_ids:
        return
    async with job.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        rows = await (await cur.execute(query("messages_for_sentiment"),
                                        {"org_id": job.org_id, "ids": list(payload.message_ids)})).fetchall()
    if not rows:
        return  # deleted meanwhile, or no consent

    def read_all() -> list[dict[str, object]]:
        out = []
        for r in rows:
            reading = sentiment.read(r["text"], r["language"])
            out.append({"id": str(r["id"]), "score": reading.score, "label": reading.label, "source": reading.source})
        return out

    readings = await asyncio.to_thread(read_all)
    async with job.connection() as conn:
        await conn.execute(query("store_sentiments"), {"org_id": job.org_id, "readings": Jsonb(readings)})


HANDLER = Handler(kind="score_sentiment", payload=Payload, run=run, timeout=50, backoff_base=10)
