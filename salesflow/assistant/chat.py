"""Chat with the AI coach: a conversation's history fitted into the model's context window.

Each turn sends the coach's system prompt, a running summary of the turns that no longer fit, as
many recent turns as fit, and the new message. The token budget is the first model's context
window less the answer's allowance, the system prompt and the new message. Older turns are
summarised once (the `conversation_summary` prompt, cheap and low importance) and the summary is
stored with the last turn it covers; the next turn reuses it, and extends it only when more turns
fall out of the window. A failed summary does not fail the chat: the turn goes on without it.

Every read and write of a conversation runs as the member (their role and JWT claims, set per
transaction as PostgREST sets them) through an `api` RPC, so RLS is the only tenancy check here
(DESIGN.md decision 10). The user's message and the answer are stored together, by
`api.add_chat_turns` inside the transaction where the gateway logs the call, only when the answer
finished; a cut or cancelled stream leaves the conversation as it was.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import DictRow, dict_row

from salesflow.db.queries import query
from salesflow.gateway.config import ModelConfig
from salesflow.gateway.core import Attempting, Gateway, LLMCall, LLMResult, PromptCall, Token
from salesflow.gateway.errors import GatewayError
from salesflow.gateway.product_prompts import product_prompt
from salesflow.gateway.providers import ChatMessage
from salesflow.gateway.routing import route
from salesflow.gateway.tokens import PER_MESSAGE_TOKENS, TokenCounter, counter_for

log = logging.getLogger(__name__)
# room left for framing and the rendered prompt's variables beyond what is counted
SAFETY_MARGIN = 48
# the share of the history budget a summary may take when older turns are dropped
SUMMARY_SHARE = 0.25
# the chat's own statements are short: a member's chat must not hold a connection for long
STATEMENT_TIMEOUT = "10s"


@dataclass(frozen=True)
class Member:
    """Who a chat runs as: the caller's role and JWT claims, as the RPC gateway sets them."""

    user_id: UUID
    claims: Mapping[str, Any] = field(default_factory=dict)
    role: str = "authenticated"

    def context(self) -> dict[str, str]:
        claims = dict(self.claims) or {"sub": str(self.user_id), "role": self.role}
        return {"role": self.role, "claims": json.dumps(claims), "statement_timeout": STATEMENT_TIMEOUT}


def _refusal(exc: psycopg.Error) -> GatewayError | None:
    """What an RPC's refusal means to the chat's caller; None for a real failure."""
    code = exc.sqlstate or ""
    message = (exc.diag.message_primary if exc.diag else None) or str(exc)
    if code == "PT404":
        return GatewayError("not_found", message, status=404)
    if code == "42501":
        return GatewayError("forbidden", message, status=403)
    if code == "PT403":  # an AI feature flag switched off, or the lead withdrew consent to AI processing
        return GatewayError("PT403", message, status=403)
    if code[:2] in ("22", "23"):
        return GatewayError("bad_request", message, status=400)
    return None


@dataclass(frozen=True)
class Turn:
    id: int
    role: str
    content: str
    tokens: int | None


@dataclass(frozen=True)
class Conversation:
    id: UUID
    user_id: UUID
    lead_id: UUID | None
    language: str | None
    summary: str | None
    summary_upto: int | None
    # who opened it: every later read and write of this conversation runs as them
    member: Member = field(repr=False, compare=False)


@dataclass(frozen=True)
class Fitted:
    """What one turn sends, and what it left out."""

    messages: list[ChatMessage]
    kept: int
    dropped: int
    summary: str | None
    summarised_now: bool


def _transcript(turns: list[Turn]) -> str:
    return "\n".join(f"{t.role}: {t.content}" for t in turns)


class ChatService:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    @asynccontextmanager
    async def _as(self, member: Member) -> AsyncIterator[psycopg.AsyncCursor[DictRow]]:
        """A cursor in a transaction of its own, running as `member`; RPC refusals as GatewayErrors."""
        try:
            async with self.gateway.connect() as conn, conn.transaction():
                await conn.execute(query("act_as"), member.context())
                yield conn.cursor(row_factory=dict_row)
        except psycopg.Error as exc:
            refusal = _refusal(exc)
            if refusal is None:
                raise
            raise refusal from None

    async def open(self, org_id: UUID, user_id: UUID, conversation_id: UUID | None, lead_id: UUID | None,
                   language: str, *, claims: Mapping[str, Any] | None = None) -> Conversation:
        """The caller's conversation, created on first use. Raises GatewayError 404 for anyone else's.

        `claims` are the caller's JWT claims (the API passes them); without them the member is
        `user_id` with the `authenticated` role.
        """
        member = Member(user_id, claims or {}, str((claims or {}).get("role") or "authenticated"))
        async with self._as(member) as cur:
            # the organisation's feature flag may switch chat off for this user or lead (PT403)
            await cur.execute(query("require_ai_feature"), {"org_id": org_id, "feature": "chat",
                                                              "lead_id": lead_id, "user_id": user_id})
            row = await (await cur.execute(query("open_conversation"), {
                "org_id": org_id, "conversation_id": conversation_id, "lead_id": lead_id, "language": language,
            })).fetchone()
        assert row is not None
        return Conversation(row["id"], row["user_id"], row["lead_id"], row["language"], row["summary"],
                            row["summary_upto"], member)

    async def _turns(self, org_id: UUID, conversation: Conversation) -> list[Turn]:
        async with self._as(conversation.member) as cur:
            rows = await (await cur.execute(query("conversation_turns"), {
                "org_id": org_id, "conversation_id": conversation.id})).fetchall()
        return [Turn(r["id"], r["role"], r["content"], r["tokens"]) for r in rows]

    async def _context(self, org_id: UUID, conversation: Conversation) -> str:
        if conversation.lead_id is None:
            return "(no lead selected)"
        async with self._as(conversation.member) as cur:
            # a lead who withdrew consent to AI processing is refused by the RPC itself (PT403, 403):
            # no turn about them goes to a model
            row = await (await cur.execute(query("lead_chat_context"), {
                "org_id": org_id, "lead_id": conversation.lead_id})).fetchone()
        return json.dumps({k: v for k, v in (row or {}).items() if v is not None}, ensure_ascii=False)

    async def fit(self, org_id: UUID, conversation: Conversation, message: str, *, window: int, max_output: int,
                  system_tokens: int, counter: TokenCounter, user_id: UUID | None, language: str) -> Fitted:
        """The messages for this turn within `window` tokens, summarising older turns if needed."""
        turns = await self._turns(org_id, conversation)

        def count() -> tuple[int, list[int]]:
            # tokenising is CPU work (turns stored without a count, an 8,000-character message):
            # off the event loop, like the gateway's redaction (DESIGN.md decision 17)
            costs = [(t.tokens if t.tokens is not None else counter.count(t.content)) + PER_MESSAGE_TOKENS
                     for t in turns]
            return counter.count(message), costs

        message_tokens, costs = await asyncio.to_thread(count)
        budget = window - max_output - system_tokens - message_tokens - PER_MESSAGE_TOKENS - SAFETY_MARGIN
        if budget <= 0:
            raise GatewayError("context_length", "the message is too long for the model's context window",
                               status=400)
        total = sum(costs)
        room = budget if total <= budget else int(budget * (1 - SUMMARY_SHARE))
        kept: list[Turn] = []
        used = 0
        for t, cost in zip(reversed(turns), reversed(costs), strict=True):
            if used + cost > room:
                break
            kept.insert(0, t)
            used += cost
        dropped = turns[: len(turns) - len(kept)]
        summary, made = conversation.summary, False
        if dropped and (conversation.summary_upto or 0) < dropped[-1].id:
            fresh = [t for t in dropped if t.id > (conversation.summary_upto or 0)]
            summary, made = await self._summarise(org_id, conversation, fresh, dropped[-1].id, user_id, language,
                                                  int(budget * SUMMARY_SHARE))
        messages: list[ChatMessage] = []
        if dropped and summary:
            label = ("Zusammenfassung des bisherigen Gesprächs" if language == "de"
                     else "Summary of the conversation so far")
            messages.append(ChatMessage("system", f"{label}:\n{summary}"))
        messages += [ChatMessage("user" if t.role == "user" else "assistant", t.content) for t in kept]
        messages.append(ChatMessage("user", message))
        return Fitted(messages, len(kept), len(dropped), summary if dropped else None, made)

    async def _summarise(self, org_id: UUID, conversation: Conversation, fresh: list[Turn], upto: int,
                         user_id: UUID | None, language: str, max_tokens: int) -> tuple[str | None, bool]:
        """The extended summary and whether it was made now; the old one if the call fails."""
        try:
            result = await self.gateway.complete(LLMCall(
                org_id, "summarize", [ChatMessage("user", "Summarise." if language == "en" else "Zusammenfassen.")],
                prompt=PromptCall("conversation_summary", {"previous_summary": conversation.summary or "",
                                                           "turns": _transcript(fresh)}, language),
                user_id=user_id, feature="chat.summary", importance="low", cost_sensitivity="high",
                max_output_tokens=max(64, min(max_tokens, 400)), conversation_id=conversation.id))
        except GatewayError as exc:
            log.warning("conversation %s: older turns not summarised: %s", conversation.id, exc)
            return conversation.summary, False
        summary = result.text.strip()[:20000]
        if not summary:
            return conversation.summary, False
        async with self._as(conversation.member) as cur:
            await cur.execute(query("save_conversation_summary"), {
                "org_id": org_id, "conversation_id": conversation.id, "summary": summary, "summary_upto": upto})
        return summary, True

    async def stream_turn(self, org_id: UUID, user_id: UUID, conversation: Conversation, message: str, *,
                          language: str = "en", importance: str = "medium", rep_name: str = "",
                          org_name: str = "") -> AsyncIterator[Attempting | Token | LLMResult | Fitted]:
        """Fitted first, then the gateway's stream events; the turn is stored when the answer is complete."""
        config = self.gateway.config
        policy = config.policy("chat")
        try:
            first = route(config, "chat", importance).chain[0]
        except ValueError as exc:
            raise GatewayError("no_route", str(exc), status=400) from None
        counter = await asyncio.to_thread(counter_for, first.offline)  # the first call loads a vocabulary
        context = await self._context(org_id, conversation)
        template = product_prompt("ai_coach", language).template
        # token counting is CPU work: off the event loop, like the gateway's redaction
        system_tokens = await asyncio.to_thread(
            lambda: counter.count(template) + counter.count(context) + PER_MESSAGE_TOKENS)
        max_output = min(policy.max_output_tokens, max(64, first.context_window // 4))
        fitted = await self.fit(org_id, conversation, message, window=first.context_window, max_output=max_output,
                                system_tokens=system_tokens, counter=counter, user_id=user_id, language=language)
        yield fitted
        output_counter = counter

        async def store(conn: psycopg.AsyncConnection[Any], request_id: int, text: str, _: Any,
                        model: ModelConfig) -> None:
            # the ledger row is the gateway's; the turns are the member's, written as them
            message_tokens, answer_tokens = await asyncio.to_thread(
                lambda: (output_counter.count(message), output_counter.count(text)))
            await conn.execute(query("act_as"), conversation.member.context())
            await conn.execute(query("add_chat_turns"), {
                "org_id": org_id, "conversation_id": conversation.id, "message": message, "answer": text,
                "answer_request_id": request_id, "message_tokens": message_tokens,
                "answer_tokens": answer_tokens, "offline_model": model.offline})
            await conn.execute(query("act_as_owner"))

        call = LLMCall(
            org_id, "chat", fitted.messages,
            prompt=PromptCall("ai_coach", {"org_name": org_name, "rep_name": rep_name, "context": context}, language,
                              subject_id=str(conversation.lead_id or user_id)),
            user_id=user_id, feature="chat", importance=importance, max_output_tokens=max_output, purpose="chat",
            conversation_id=conversation.id)
        async for event in self.gateway.stream(call, store=store):
            yield event
