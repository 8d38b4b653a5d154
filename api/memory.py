"""GET /api/conversations/{lead_id}/memory: a lead's hot, warm and cold memory within a token budget.

The conversation is the lead's, across every channel. A `query` is embedded here (off the event
loop) and passed with its text to api.get_smart_context, which runs as the caller.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from salesflow.api.errors import ApiError
from salesflow.api.rpc import caller_of, json_response
from salesflow.api.search import _active
from salesflow.gateway.embedders import NoEmbedder, embed_query, vector_literal

router = APIRouter()


class MemoryQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: UUID
    query: str | None = Field(default=None, min_length=1, max_length=2000)
    token_budget: int = Field(default=2000, ge=50, le=100000)
    hot_messages: int = Field(default=20, ge=0, le=200)


@router.get("/api/conversations/{lead_id}/memory")
async def memory(lead_id: str, request: Request) -> Response:
    caller = caller_of(request)
    if not caller.authenticated:
        raise ApiError(401, "42501", "memory needs a signed-in user", hint="send Authorization: Bearer <jwt>")
    try:
        lead = UUID(lead_id)
        params = MemoryQuery.model_validate(dict(request.query_params))
    except ValueError as exc:
        errors = exc.errors() if isinstance(exc, ValidationError) else [{"loc": ["lead_id"], "msg": str(exc)}]
        where = ".".join(str(p) for p in errors[0]["loc"]) or "query"
        raise ApiError(400, "PGRST100", f"{where}: {errors[0]['msg']}") from None
    args: dict[str, object] = {"org_id": str(params.org_id), "lead_id": str(lead),
                               "token_budget": params.token_budget, "hot_messages": params.hot_messages}
    if params.query:
        try:
            embedder = request.app.state.embedders.for_model(await _active.get(request))
        except (NoEmbedder, ValueError) as exc:
            raise ApiError(503, "SF503", str(exc)) from None
        vector = await asyncio.to_thread(embed_query, embedder, params.query)
        args |= {"query_text": params.query, "query_embedding": vector_literal(vector)}
    return json_response(await request.app.state.rpc.call("get_smart_context", args, caller, request))
