"""`maintain_embedding_index`: build a model's HNSW index once exact search stops being enough.

Measured through api.search_memory on 2 cores (scripts/bench_search.py), an exact scan costs ~4 ms
at 5,000 vectors and ~70 ms at 100,000, HNSW ~2-3 ms: DESIGN.md's "exact is as fast below ~50,000"
does not hold for the whole RPC, so the index is built past SALESFLOW_HNSW_MIN_VECTORS (default
10,000, where a build takes ~2 s), CONCURRENTLY (writers are never blocked), as a
partial index per model because dimensions differ. Retired models' indexes are dropped.
Scheduled every 15 minutes by migration 0003. The build must fit the handler's timeout (about
200,000 vectors on 2 cores); larger collections need the worker's --lease raised, or the index
built once by hand with the statement below.
"""

from __future__ import annotations

import logging
import os

from psycopg import sql
from pydantic import BaseModel, ConfigDict

from salesflow.db.queries import query
from salesflow.functions.registry import Handler, JobContext

log = logging.getLogger("salesflow.worker")

MIN_VECTORS = int(os.environ.get("SALESFLOW_HNSW_MIN_VECTORS", "10000"))


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


async def run(job: JobContext, payload: Payload) -> None:
    async with job.connection() as conn:
        candidates = await (await conn.execute(query("index_candidates"))).fetchall()
        retired = await (await conn.execute(query("retired_indexes"))).fetchall()
        for name, dimension, index_name, has_index, vectors in candidates:
            if has_index or vectors < MIN_VECTORS:
                continue
            # a failed CONCURRENTLY build leaves an invalid index behind; drop it before retrying
            await conn.execute(sql.SQL("drop index concurrently if exists {}.{}").format(
                sql.Identifier("salesflow"), sql.Identifier(index_name)))
            await conn.execute(sql.SQL(
                "create index concurrently {} on salesflow.embeddings using hnsw "
                "((embedding::extensions.vector({})) extensions.vector_cosine_ops) where model = {}"
            ).format(sql.Identifier(index_name), sql.Literal(dimension), sql.Literal(name)))
            log.info("built HNSW index", extra={"job_id": job.id, "model": name, "vectors": vectors})
        for (index_name,) in retired:
            await conn.execute(sql.SQL("drop index concurrently if exists {}.{}").format(
                sql.Identifier("salesflow"), sql.Identifier(index_name)))


HANDLER = Handler(kind="maintain_embedding_index", payload=Payload, run=run, timeout=50, backoff_base=300)
