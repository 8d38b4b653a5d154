"""POST /api/search: embed the query text, then call api.search_memory as the caller.

The embedding needs Python (the model runs in-process), the search itself is the same RPC a
client may call directly with its own query vector; tenancy is the RPC's RLS, never this code.

Bounds (issue 9): the query text has at most MAX_QUERY_CHARS characters and MAX_QUERY_TERMS
words, must not be blank or hold a NUL (400 for each), and the search statement gets
SEARCH_STATEMENT_TIMEOUT, not the general RPC timeout (a timeout answers 504, code 57014).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Literal, TypeVar
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from salesflow.api.errors import ApiError
from salesflow.api.rpc import caller_of, json_response, read_json_object
from salesflow.db.queries import query
from salesflow.gateway.embedders import Embedders, NoEmbedder, embed_query, vector_literal

router = APIRouter()
T = TypeVar("T")
MODEL_CACHE_SECONDS = 10.0
MAX_QUERY_CHARS = 1000
MAX_QUERY_TERMS = 32
SEARCH_STATEMENT_TIMEOUT = "5s"


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: UUID
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    lead_id: UUID | None = None
    channel: Literal["email", "whatsapp", "sms", "linkedin", "chat", "phone"] | None = None
    since: datetime | None = None
    until: datetime | None = None
    k: int = Field(default=10, ge=1, le=100)
    # words for the keyword ranking when they differ from the question (default: the query itself)
    keywords: str | None = Field(default=None, max_length=2000)
    # fuse a newest-first ranking too; by default age only breaks ties
    recency: bool = False

    @field_validator("query")
    @classmethod
    def _bounded_query(cls, query: str) -> str:
        if "\x00" in query:
            raise ValueError("must not contain a NUL character (\\u0000)")
        terms = query.split()
        if not terms:
            raise ValueError("must contain at least one word")
        if len(terms) > MAX_QUERY_TERMS:
            raise ValueError(f"at most {MAX_QUERY_TERMS} words, not {len(terms)}")
        return query


class _ActiveModel:
    """The active embedding model's name, re-read at most every few seconds (it changes on a switch)."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.read_at = 0.0

    async def get(self, request: Request) -> str:
        if self.name is None or time.monotonic() - self.read_at > MODEL_CACHE_SECONDS:
            async with request.app.state.rpc.pool.connection() as conn:
                row = await (await conn.execute(query("active_embedding_model"))).fetchone()
            if row is None:
                raise ApiError(503, "SF503", "no active embedding model; run salesflow db migrate")
            self.name, self.read_at = row[0], time.monotonic()
        return self.name


_active = _ActiveModel()


class EmbedLimiter:
    """Query embeddings run on a few threads of their own (DESIGN.md decision 17): the event loop
    never runs the model, and searches beyond `threads` wait for a thread instead of taking the
    default executor (and the CPU) from everything else. One per app, closed with it."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or max(1, min(2, os.cpu_count() or 1))
        self._executor = ThreadPoolExecutor(self.threads, thread_name_prefix="salesflow-embed")

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _embed(embedders: Embedders, model: str, text: str) -> Sequence[float]:
    # loading the model (first call) and running it both happen here, off the event loop
    return embed_query(embedders.for_model(model), text)


@router.post("/api/search")
async def search(request: Request) -> Response:
    caller = caller_of(request)
    if not caller.authenticated:
        # embedding costs CPU: refuse before doing it, as the RPC would refuse after
        raise ApiError(401, "42501", "search needs a signed-in user", hint="send Authorization: Bearer <jwt>")
    try:
        body = SearchRequest.model_validate(await read_json_object(request))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, "PGRST100", f"{where}: {first['msg']}", details=str(exc.errors())[:500]) from None
    model = await _active.get(request)
    try:
        vector = await request.app.state.embed_limiter.run(_embed, request.app.state.embedders, model, body.query)
    except (NoEmbedder, ValueError) as exc:
        raise ApiError(503, "SF503", str(exc)) from None
    args = {
        "org_id": str(body.org_id), "query_embedding": vector_literal(vector),
        "query_text": body.query, "k": body.k, "recency": body.recency,
    }
    for key in ("lead_id", "channel", "since", "until", "keywords"):
        value = getattr(body, key)
        if value is not None:
            args[key] = value.isoformat() if isinstance(value, datetime) else str(value)
    return json_response(await request.app.state.rpc.call("search_memory", args, caller, request,
                                                          statement_timeout=SEARCH_STATEMENT_TIMEOUT))
