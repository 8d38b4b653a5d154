"""The sales assistant's endpoints (issue 14): writing, compliance on demand, next actions, search.

    POST /api/ai/email/compose               an email draft for a lead (stored, for a member to approve)
    POST /api/ai/email/reply-suggestions     three reply variants to an inbound message (stored; pick one)
    POST /api/ai/email/optimize-subject      subject-line variants with reasons (stored; pick one)
    POST /api/ki/scripts/generate/{lead_id}  a DISG-aware call, meeting or email script (stored)
    POST /api/ki/compliance/check            a rep's own text judged by the gateway's rules, logged
    POST /api/ai/predictions/next-actions    api.predict_next_actions
    POST /api/ai/search                      a question -> filters (api.search_deals) + memory search

Everything read or written on the caller's behalf goes through `api` RPCs as the caller
(DESIGN.md decision 10); the draft itself is stored by the gateway in the transaction that logs
the call. Picking, editing and approving are RPCs: api.pick_ai_variant, api.edit_ai_draft,
api.review_ai_draft (the approval is the only way into the outbox).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from salesflow.api.errors import ApiError
from salesflow.api.rpc import caller_of, json_response, read_json_object
from salesflow.api.search import SEARCH_STATEMENT_TIMEOUT, _active
from salesflow.gateway import compliance
from salesflow.gateway.core import LLMCall, PromptCall
from salesflow.gateway.embedders import NoEmbedder, embed_query, vector_literal
from salesflow.gateway.errors import GatewayError
from salesflow.gateway.providers import ChatMessage
from salesflow.gateway.writing import WriteRequest, WritingService, draft_json
from salesflow.query_parser import Interpretation, from_model, parse_question

router = APIRouter()
MAX_TEXT = 20000
Language = Literal["de", "en"]
Tone = Literal["formal", "casual", "friendly"]
B = TypeVar("B", bound=BaseModel)


def _storable(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain a NUL character (\\u0000)")
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: UUID

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL cannot store a NUL character: refused before anything is read or called
        return _storable(value) if isinstance(value, str) else value


class ComposeRequest(_Body):
    lead_id: UUID
    purpose: str = Field(min_length=1, max_length=500)
    tone: Tone = "friendly"
    language: Language = "en"
    previous_emails: list[str] = Field(default_factory=list, max_length=5)

    @field_validator("purpose")
    @classmethod
    def _purpose(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return _storable(value) or value

    @field_validator("previous_emails")
    @classmethod
    def _previous(cls, values: list[str]) -> list[str]:
        for value in values:
            _storable(value)
            if len(value) > MAX_TEXT:
                raise ValueError(f"each previous email has at most {MAX_TEXT} characters")
        return values


class ReplyRequest(_Body):
    message_id: UUID
    tone: Tone = "friendly"
    language: Language = "en"


class SubjectRequest(_Body):
    lead_id: UUID
    subject: str = Field(min_length=1, max_length=300)
    body: str | None = Field(default=None, max_length=MAX_TEXT)
    language: Language = "en"


class ScriptRequest(_Body):
    goal: str = Field(default="discovery call", min_length=1, max_length=300)
    channel: Literal["call", "meeting", "email"] = "call"
    language: Language = "en"


class ComplianceRequest(_Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    purpose: Literal["sales", "marketing", "draft", "chat"] = "sales"
    language: Language | None = None


class NextActionsRequest(_Body):
    lead_id: UUID | None = None
    deal_id: UUID | None = None
    horizon_days: int = Field(default=30, ge=1, le=365)
    page_size: int = Field(default=20, ge=1, le=100)


class AskRequest(_Body):
    question: str = Field(min_length=1, max_length=500)
    page_size: int = Field(default=25, ge=1, le=100)
    k: int = Field(default=5, ge=0, le=50)
    # auto: a model reads the question where a provider other than the offline one is configured, else rules
    parser: Literal["auto", "rules", "model"] = "auto"
    language: Language = "en"

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        _storable(value)
        if not value.split():
            raise ValueError("must contain at least one word")
        return value


async def _body(request: Request, model: type[B]) -> B:
    try:
        return model.model_validate(await read_json_object(request, limit=256 * 1024))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, "PGRST100", f"{where}: {first['msg']}") from None


def _user(request: Request) -> tuple[Any, UUID]:
    caller = caller_of(request)
    sub = caller.claims.get("sub")
    if not caller.authenticated or sub is None:
        raise ApiError(401, "42501", "the assistant needs a signed-in user", hint="send Authorization: Bearer <jwt>")
    return caller, UUID(str(sub))


def _writing(request: Request) -> WritingService:
    service: WritingService | None = getattr(request.app.state, "writing", None)
    if service is None:
        raise ApiError(503, "SF503", getattr(request.app.state, "gateway_error", "the AI gateway is not configured"))
    return service


async def _rpc(request: Request, name: str, args: dict[str, Any], caller: Any, **kw: Any) -> Any:
    payload = await request.app.state.rpc.call(name, args, caller, request, **kw)
    return json.loads(payload) if payload is not None else None


def _rep_name(claims: dict[str, Any]) -> str:
    meta = claims.get("user_metadata") if isinstance(claims.get("user_metadata"), dict) else {}
    return str(meta.get("full_name") or meta.get("name") or claims.get("email") or "your sales team")[:100]


async def _write(request: Request, kind: str, org_id: UUID, context_args: dict[str, Any], **fields: Any) -> Response:
    caller, user_id = _user(request)
    service = _writing(request)
    args = {"org_id": str(org_id), **context_args, "token_budget": service.context_tokens()}
    context = await _rpc(request, "writing_context", args, caller)
    if kind == "reply" and (context.get("message") or {}).get("direction") != "inbound":
        raise ApiError(400, "22023", "reply suggestions answer an inbound message; this one is outbound")
    req = WriteRequest(kind=kind, org_id=org_id, user_id=user_id, context=context,
                       rep_name=_rep_name(caller.claims), org_name=str(context.get("org_name") or ""), **fields)
    try:
        row, result = await service.write(req)
    except GatewayError as exc:
        raise ApiError(exc.status, exc.code, str(exc),
                       details=f"request_id={exc.request_id}" if exc.request_id else None) from None
    return Response(draft_json(row, result), media_type="application/json")


@router.post("/api/ai/email/compose")
async def compose(request: Request) -> Response:
    body = await _body(request, ComposeRequest)
    return await _write(request, "email", body.org_id, {"lead_id": str(body.lead_id), "query_text": body.purpose},
                        language=body.language, tone=body.tone, purpose=body.purpose,
                        previous_emails=tuple(body.previous_emails))


@router.post("/api/ai/email/reply-suggestions")
async def reply_suggestions(request: Request) -> Response:
    body = await _body(request, ReplyRequest)
    return await _write(request, "reply", body.org_id, {"message_id": str(body.message_id)},
                        language=body.language, tone=body.tone)


@router.post("/api/ai/email/optimize-subject")
async def optimize_subject(request: Request) -> Response:
    body = await _body(request, SubjectRequest)
    return await _write(request, "subject", body.org_id, {"lead_id": str(body.lead_id)},
                        language=body.language, subject=body.subject, body=body.body)


@router.post("/api/ki/scripts/generate/{lead_id}")
async def generate_script(lead_id: UUID, request: Request) -> Response:
    body = await _body(request, ScriptRequest)
    return await _write(request, "script", body.org_id, {"lead_id": str(lead_id), "query_text": body.goal},
                        language=body.language, goal=body.goal, channel=body.channel, purpose=body.goal)


@router.post("/api/ki/compliance/check")
async def compliance_check(request: Request) -> Response:
    """The findings the gateway would apply to this text, logged as the caller's on-demand verdict."""
    caller, _ = _user(request)
    body = await _body(request, ComplianceRequest)
    settings = await _rpc(request, "compliance_rules", {"org_id": str(body.org_id)}, caller)
    # compiling the organisation's patterns and matching them are CPU work: off the event loop
    verdict = await asyncio.to_thread(lambda: compliance.check(
        body.text, purpose=body.purpose, language=body.language,
        rules=compliance.usable_rules((settings or {}).get("compliance"))))
    log_id = await _rpc(request, "record_compliance_check", {
        "org_id": str(body.org_id), "purpose": body.purpose, "passed": verdict.passed,
        "findings": verdict.log_findings(), "rules_version": verdict.rules_version,
        "text_sha256": hashlib.sha256(body.text.encode()).hexdigest()}, caller)
    return Response(json.dumps({**verdict.to_json(), "log_id": log_id, "purpose": body.purpose}, ensure_ascii=False),
                    media_type="application/json")


@router.post("/api/ai/predictions/next-actions")
async def next_actions(request: Request) -> Response:
    caller = caller_of(request)
    body = await _body(request, NextActionsRequest)
    args = {k: str(v) if isinstance(v, UUID) else v for k, v in body.model_dump().items() if v is not None}
    return json_response(await request.app.state.rpc.call("predict_next_actions", args, caller, request))


async def _memory_hits(request: Request, caller: Any, org_id: UUID, question: str, k: int) -> tuple[list[Any], str]:
    """Semantic + keyword memory search for the question; keyword only when no embedder is installed."""
    args: dict[str, Any] = {"org_id": str(org_id), "query_text": question, "k": k}
    how = "hybrid"
    try:
        embedder = request.app.state.embedders.for_model(await _active.get(request))
        args["query_embedding"] = vector_literal(await asyncio.to_thread(embed_query, embedder, question))
    except (NoEmbedder, ValueError, ApiError):
        how = "keyword"
    hits = await _rpc(request, "search_memory", args, caller, statement_timeout=SEARCH_STATEMENT_TIMEOUT)
    return hits or [], how


async def _understand(request: Request, body: AskRequest, user_id: UUID) -> Interpretation:
    """The model's reading where one is configured (and asked for), else the offline rules'."""
    today = datetime.now(UTC).date()
    service: WritingService | None = getattr(request.app.state, "writing", None)
    use_model = body.parser == "model" or (body.parser == "auto" and service is not None and not service.offline_only)
    if not use_model:
        return parse_question(body.question, today)
    if service is None:
        raise ApiError(503, "SF503", getattr(request.app.state, "gateway_error", "the AI gateway is not configured"))
    call = LLMCall(body.org_id, "classify", [ChatMessage("user", body.question)],
                   prompt=PromptCall("search_parser", {"today": today.isoformat(), "question": body.question},
                                     body.language, subject_id=str(user_id)),
                   user_id=user_id, feature="assistant.search", importance="low", cost_sensitivity="high",
                   deadline=20.0)
    try:
        result = await service.gateway.complete(call)
    except GatewayError as exc:
        if body.parser == "model":
            raise ApiError(exc.status, exc.code, str(exc)) from None
        # the rules still answer; the interpretation says the model could not
        fallback = parse_question(body.question, today)
        fallback.understood.append(f"model parse failed ({exc.code}); read by rules")
        return fallback
    return from_model(result.data, result.request_id)


@router.post("/api/ai/search")
async def ask(request: Request) -> Response:
    """A question -> the filters understood (returned), the deals they find, and the memory that matches."""
    caller, user_id = _user(request)
    body = await _body(request, AskRequest)
    # membership first, as the caller: a stranger's question costs no model call
    await _rpc(request, "search_deals", {"org_id": str(body.org_id), "page_size": 1}, caller)
    understood = await _understand(request, body, user_id)
    deals: list[Any] = []
    if understood.entity == "deals":
        filters = understood.filters()
        if filters.pop("owner", None) == "me":
            filters["owner_id"] = str(user_id)
        args = {"org_id": str(body.org_id), "page_size": body.page_size,
                **{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in filters.items()}}
        deals = await _rpc(request, "search_deals", args, caller, statement_timeout=SEARCH_STATEMENT_TIMEOUT) or []
    memory, how = (await _memory_hits(request, caller, body.org_id, body.question, body.k)) if body.k else ([], "none")
    result = {"question": body.question, "interpretation": understood.to_json(), "deals": deals,
              "memory": memory, "memory_search": how}
    return Response(json.dumps(result, ensure_ascii=False, default=str), media_type="application/json")
