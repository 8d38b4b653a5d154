"""`embed_texts`: drain a model's embedding queue in batches (enqueued by the text triggers).

Claim a batch (a lease, no lock), embed it outside any transaction, store the vectors and take the
texts off the queue in one short transaction. Unchanged texts are not embedded again. A run stops
after its time budget and leaves a job for the rest; a building model becomes active once its
queue is empty. Idempotent: a batch embedded twice stores the same vectors twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time

from pydantic import BaseModel, ConfigDict, Field

from salesflow.db.queries import query
from salesflow.functions.registry import Handler, JobContext, PermanentError, RetryLater
from salesflow.gateway.embedders import DEFAULT_MAX_CHARS, NoEmbedder, TransientEmbeddingError, vector_literal

log = logging.getLogger("salesflow.worker")

BATCH = int(os.environ.get("SALESFLOW_EMBED_BATCH", "32"))
TIMEOUT = 50.0  # seconds; the worker's default lease is 60
BUDGET = 30.0  # stop claiming new batches after this long, leaving room for the last one
CLAIM_LEASE = 120  # seconds a claimed text stays out of other runs' way
MAX_TEXT_ATTEMPTS = 5  # a text claimed this often without being stored is given up on


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(pattern=r"^[A-Za-z0-9._:/-]{1,200}$")


async def run(job: JobContext, payload: Payload) -> None:
    async with job.connection() as conn:
        model = await (await conn.execute(query("model"), {"model": payload.model})).fetchone()
    if model is None:
        raise PermanentError(f"embedding model {payload.model!r} is not in salesflow.embedding_models")
    _, dimension, state = model
    try:
        embedder = job.resources.embedders.for_model(payload.model)
    except (NoEmbedder, ValueError) as exc:
        raise PermanentError(str(exc)) from exc

    started = time.monotonic()
    embedded = stored = 0
    while time.monotonic() - started < BUDGET:
        async with job.connection() as conn:
            cur = await conn.execute(query("claim_texts"),
                                     {"model": payload.model, "batch": BATCH, "lease": CLAIM_LEASE})
            rows = await cur.fetchall()
        if not rows:
            break
        # row: org_id, source, source_id, queued_at, attempts, content, content_hash, stored_hash
        done = [r for r in rows if r[5] is None or r[6] == r[7]]
        stuck = [r for r in rows if r not in done and r[4] > MAX_TEXT_ATTEMPTS]
        todo = [r for r in rows if r not in done and r not in stuck]
        for r in stuck:
            async with job.connection() as conn:
                await conn.execute(query("give_up"), {
                    "model": payload.model, "org_id": r[0], "source": r[1], "source_id": r[2],
                    "error": f"not stored after {MAX_TEXT_ATTEMPTS} attempts"})
        if done:
            async with job.connection() as conn:
                await conn.execute(query("drop_from_queue"), {
                    "model": payload.model, "org_ids": [r[0] for r in done], "sources": [r[1] for r in done],
                    "source_ids": [r[2] for r in done], "queued_ats": [r[3] for r in done]})
        if not todo:
            continue
        # the model reads at most 256 word pieces; the character cap only bounds the tokenizer's work
        texts = [r[5][:DEFAULT_MAX_CHARS] for r in todo]
        try:
            vectors = await asyncio.to_thread(embedder.embed, texts)
        except TransientEmbeddingError as exc:
            raise RetryLater(f"embedding provider: {exc}", delay=15) from exc
        if vectors.shape[1] != dimension:
            raise PermanentError(f"{payload.model} returned {vectors.shape[1]} dimensions, expected {dimension}")
        async with job.connection() as conn:
            cur = await conn.execute(query("store"), {
                "model": payload.model, "org_ids": [r[0] for r in todo], "sources": [r[1] for r in todo],
                "source_ids": [r[2] for r in todo], "queued_ats": [r[3] for r in todo],
                "hashes": [hashlib.md5(r[5].encode()).hexdigest() for r in todo],
                "vectors": [vector_literal(v) for v in vectors]})
            stored += (await cur.fetchone())[0]
        embedded += len(todo)

    async with job.connection() as conn:
        remaining = (await (await conn.execute(query("remaining"), {"model": payload.model})).fetchone())[0]
        if remaining:
            await conn.execute(query("continue"), {"model": payload.model})
        elif state == "building":
            switched = (await (await conn.execute(query("finish_model"), {"model": payload.model})).fetchone())[0]
            if switched:
                log.info("embedding model active", extra={"job_id": job.id, "model": payload.model})
    log.info("embedded texts", extra={"job_id": job.id, "model": payload.model, "embedded": embedded,
                                      "stored": stored, "remaining": remaining})


HANDLER = Handler(kind="embed_texts", payload=Payload, run=run, timeout=TIMEOUT, backoff_base=5)
