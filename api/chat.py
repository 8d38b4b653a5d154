"""POST /api/chat/stream (Server-Sent Events) and GET /api/chat/{conversation_id}.

The stream's events, each `event: <name>` with a JSON `data:` line:

    conversation  {"conversation_id", "kept_turns", "dropped_turns", "summary_used"}
    model         {"provider", "model", "offline_model", "notice"}   (again on a fallback)
    token         {"text"}
    done          {"request_id", "provider", "model", "input_tokens", "output_tokens", "fallback_hops",
                   "offline_model", "notice"}
    error         {"code", "message", "request_id"}   (the stream ends; nothing was stored)

Everything that can be refused before the first token (membership, budget, settings, routing) is
an ordinary JSON error with a 4xx status instead. A client that disconnects cancels the stream,
which closes the provider's response; the call is logged as cancelled and nothing is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, Literal
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from salesflow.api.errors import ApiError
from salesflow.api.rpc import caller_of, read_json_object
from salesflow.assistant.chat import ChatService, Fitted
from salesflow.gateway.config import OFFLINE_NOTICE
from salesflow.gateway.core import Attempting, LLMResult, Token
from salesflow.gateway.errors import GatewayError

# seconds without an event after which the stream sends an SSE comment
KEEPALIVE = 15.0

router = APIRouter()


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: UUID
    message: str = Field(min_length=1, max_length=8000)
    conversation_id: UUID | None = None
    lead_id: UUID | None = None
    language: Literal["de", "en"] = "en"
    importance: Literal["low", "medium", "high", "critical"] = "medium"

    @field_validator("message")
    @classmethod
    def _storable(cls, message: str) -> str:
        # refused before anything is called or reserved: PostgreSQL could not store the turn
        if "\x00" in message:
            raise ValueError("must not contain a NUL character (\\u0000)")
        if not message.strip():
            raise ValueError("must not be blank")
        return message


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


def _service(request: Request) -> ChatService:
    chat: ChatService | None = getattr(request.app.state, "chat", None)
    if chat is None:
        reason = getattr(request.app.state, "gateway_error", "the AI gateway is not configured")
        raise ApiError(503, "SF503", reason)
    return chat


def _caller(request: Request) -> tuple[UUID, dict[str, Any]]:
    """The signed-in caller's user id and claims: the chat's RPCs run as them."""
    caller = caller_of(request)
    sub = caller.claims.get("sub")
    if not caller.authenticated or sub is None:
        raise ApiError(401, "42501", "chat needs a signed-in user", hint="send Authorization: Bearer <jwt>")
    try:
        return UUID(str(sub)), dict(caller.claims)
    except ValueError:
        raise ApiError(401, "42501", "the token's sub is not a user id", hint="sign in as a user") from None


def _gateway_error(exc: GatewayError) -> ApiError:
    return ApiError(exc.status, exc.code, str(exc), details=f"request_id={exc.request_id}" if exc.request_id else None)


@router.post("/api/chat/stream")
async def chat_stream(request: Request) -> Response:
    user_id, claims = _caller(request)
    chat = _service(request)
    try:
        body = ChatRequest.model_validate(await read_json_object(request, limit=64 * 1024))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, "PGRST100", f"{where}: {first['msg']}") from None
    try:
        conversation = await chat.open(body.org_id, user_id, body.conversation_id, body.lead_id, body.language,
                                       claims=claims)
        events = chat.stream_turn(body.org_id, user_id, conversation, body.message, language=body.language,
                                  importance=body.importance)
        # run up to the first event, so that a refusal is a plain HTTP error, not a broken stream
        fitted = await anext(events)
        first = await anext(events)
    except GatewayError as exc:
        raise _gateway_error(exc) from None
    assert isinstance(fitted, Fitted)

    async def stream() -> AsyncIterator[str]:
        yield _sse("conversation", {"conversation_id": conversation.id, "kept_turns": fitted.kept,
                                    "dropped_turns": fitted.dropped, "summary_used": fitted.summary is not None})
        pending: asyncio.Future[Any] | None = None
        try:
            event: Any = first
            while True:
                if isinstance(event, Attempting):
                    yield _sse("model", {"provider": event.model.provider, "model": event.model.model,
                                         "offline_model": event.model.offline,
                                         "notice": OFFLINE_NOTICE if event.model.offline else None})
                elif isinstance(event, Token):
                    yield _sse("token", {"text": event.text})
                elif isinstance(event, LLMResult):
                    yield _sse("done", {"request_id": event.request_id, "provider": event.provider,
                                        "model": event.model, "input_tokens": event.usage.input_tokens,
                                        "output_tokens": event.usage.output_tokens,
                                        "fallback_hops": event.fallback_hops, "offline_model": event.offline_model,
                                        "notice": event.notice})
                pending = asyncio.ensure_future(anext(events, None))
                # the offline model on a busy machine reads a prompt for a minute before its first token:
                # an SSE comment now and then keeps clients and proxies from timing the stream out
                while not (await asyncio.wait({pending}, timeout=KEEPALIVE))[0]:
                    yield ": waiting for the model\n\n"
                event, pending = pending.result(), None
                if event is None:
                    break
        except GatewayError as exc:
            yield _sse("error", exc.to_json())
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending
            await events.aclose()

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/api/chat/{conversation_id}")
async def chat_history(conversation_id: UUID, request: Request, org_id: UUID | None = None) -> Response:
    """The conversation's turns through api.get_conversation, as the caller (RLS decides)."""
    caller = caller_of(request)
    if org_id is None:
        raise ApiError(400, "PGRST100", "org_id is required as a query parameter")
    payload = await request.app.state.rpc.call(
        "get_conversation", {"org_id": str(org_id), "conversation_id": str(conversation_id)}, caller, request)
    turns = json.loads(payload or "[]")
    for turn in turns:
        turn["notice"] = OFFLINE_NOTICE if turn.get("offline_model") else None
    return Response(json.dumps({"conversation_id": str(conversation_id), "turns": turns}, ensure_ascii=False),
                    media_type="application/json")
