"""The sales assistant's writing: email drafts, reply variants, subject lines and call scripts.

The caller's context comes from `api.writing_context`, read as the caller (RLS decides what the
model may see, and a lead without consent to AI processing is refused there). The call goes
through the gateway (routing, PII placeholders, budget, compliance check, log row); the draft is
stored in the transaction that logs the call, naming that call, its prompt version and the ids
of what it read. A draft is never sent: a member edits, picks and approves it through the
`api.*_ai_draft` RPCs, and only the approval puts it in the outbox.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from salesflow.db.queries import query
from salesflow.gateway.config import OFFLINE_NOTICE, ModelConfig
from salesflow.gateway.core import Gateway, LLMCall, LLMResult, PromptCall
from salesflow.gateway.errors import GatewayError
from salesflow.gateway.providers import ChatMessage

# the memory a prompt gets (token budget of api.writing_context), and what one message may put in it
CONTEXT_TOKENS, OFFLINE_CONTEXT_TOKENS = 1500, 300
MESSAGE_CLIP, OFFLINE_MESSAGE_CLIP = 600, 160
# kind -> (prompt, gateway task, compliance purpose)
PROMPTS: dict[str, tuple[str, str, str]] = {
    "email": ("email_composer", "draft", "sales"),
    "reply": ("reply_suggestions", "draft", "draft"),
    "subject": ("subject_optimizer", "draft", "sales"),
    "script": ("script_generation", "script", "sales"),
}
_ASK = {
    "email": {"en": "Write the email draft.", "de": "Schreiben Sie den E-Mail-Entwurf."},
    "reply": {"en": "Suggest the three replies.", "de": "Schlagen Sie die drei Antworten vor."},
    "subject": {"en": "Suggest the subject lines.", "de": "Schlagen Sie die Betreffzeilen vor."},
    "script": {"en": "Write the script.", "de": "Schreiben Sie das Skript."},
}


@dataclass(frozen=True)
class WriteRequest:
    """One thing to write. `context` is what api.writing_context returned for the caller."""

    kind: str
    org_id: UUID
    user_id: UUID
    context: Mapping[str, Any]
    language: str = "en"
    tone: str | None = None
    purpose: str | None = None
    previous_emails: tuple[str, ...] = ()
    subject: str | None = None
    body: str | None = None
    goal: str | None = None
    channel: str | None = None
    rep_name: str = ""
    org_name: str = ""


def _clip(text: Any, limit: int) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def memory_text(memory: Mapping[str, Any] | None, clip: int) -> str:
    """The lead's memory (api.get_smart_context) as short lines: summary, facts, then messages, oldest first."""
    if not memory:
        return "(no memory yet)"
    lines: list[str] = []
    warm = memory.get("warm") or {}
    if warm.get("summary"):
        lines.append("Summary: " + _clip(warm["summary"], clip * 2))
    for fact in warm.get("key_facts") or []:
        lines.append(f"Fact ({fact.get('category')}): {_clip(fact.get('fact'), clip)}")
    for item in memory.get("cold") or []:
        lines.append(f"{str(item.get('occurred_at'))[:10]} {item.get('direction') or ''}: "
                     f"{_clip(item.get('content'), clip)}")
    for message in memory.get("hot") or []:
        lines.append(f"{str(message.get('sent_at'))[:10]} {message.get('direction')} {message.get('channel')}: "
                     f"{_clip(message.get('body'), clip)}")
    return "\n".join(lines) or "(no memory yet)"


def memory_ids(memory: Mapping[str, Any] | None) -> list[str]:
    """The ids of the messages and texts the memory handed to the model."""
    if not memory:
        return []
    ids = [str(m["id"]) for m in memory.get("hot") or [] if m.get("id")]
    ids += [str(m["id"]) for m in memory.get("cold") or [] if m.get("id")]
    ids += [str(f["message_id"]) for f in (memory.get("warm") or {}).get("key_facts") or [] if f.get("message_id")]
    return sorted(set(ids))


class WritingService:
    """Writes through the API's gateway; one per API process."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    @property
    def offline_only(self) -> bool:
        """Only the tiny local model can answer: prompts get less context, so it reads them in time."""
        return self.gateway.config.offline_only()

    def context_tokens(self) -> int:
        return OFFLINE_CONTEXT_TOKENS if self.offline_only else CONTEXT_TOKENS

    def _variables(self, req: WriteRequest, clip: int) -> dict[str, Any]:
        ctx = req.context
        lead = {k: v for k, v in (ctx.get("lead") or {}).items() if k != "id"}
        lead_with_memory = {**lead, "memory": memory_text(ctx.get("memory"), clip)}
        qualification = {"bant": ctx.get("bant") or "unknown", "disg": ctx.get("disg") or "no profile yet"}
        tone = req.tone or "friendly"
        if req.kind == "email":
            previous = "\n---\n".join(_clip(e, clip * 2) for e in req.previous_emails) or "(none)"
            return {"org_name": req.org_name, "rep_name": req.rep_name, "purpose": req.purpose or "follow up",
                    "tone": tone, "lead": lead_with_memory, "qualification": qualification,
                    "previous_emails": previous}
        if req.kind == "reply":
            message = ctx.get("message") or {}
            text = f"Subject: {message.get('subject') or ''}\n{_clip(message.get('body'), clip * 3)}"
            return {"org_name": req.org_name, "rep_name": req.rep_name, "tone": tone, "message": text,
                    "lead": {**lead_with_memory, **qualification}}
        if req.kind == "subject":
            email = f"Subject: {req.subject or ''}\n{_clip(req.body, clip * 3)}"
            return {"email": email, "lead": {**lead, "disg": qualification["disg"]}}
        # the script prompt reads the DISG profile and BANT from the lead object
        return {"lead": {**lead_with_memory, **qualification}, "goal": req.goal or "discovery call",
                "channel": req.channel or "call"}

    @staticmethod
    def _draft_fields(req: WriteRequest, data: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """The draft's first subject and body, before any member's edit."""
        if req.kind == "email":
            return data.get("subject"), data.get("body")
        if req.kind == "reply":
            subject = (req.context.get("message") or {}).get("subject")
            return (f"Re: {subject}" if subject and not subject.lower().startswith("re:") else subject), None
        if req.kind == "subject":
            return req.subject, req.body
        return None, None

    async def write(self, req: WriteRequest) -> tuple[dict[str, Any], LLMResult]:
        """The stored draft (as its row) and the gateway's result. Raises GatewayError."""
        if req.kind not in PROMPTS:
            raise GatewayError("bad_request", f"unknown draft kind {req.kind!r}", status=400)
        prompt_name, task, purpose = PROMPTS[req.kind]
        clip = OFFLINE_MESSAGE_CLIP if self.offline_only else MESSAGE_CLIP
        lead_id = UUID(str((req.context.get("lead") or {})["id"]))
        inputs = {**(req.context.get("inputs") or {}), "memory_message_ids": memory_ids(req.context.get("memory"))}
        message_id = (req.context.get("message") or {}).get("id")
        stored: dict[str, Any] = {}

        async def store(conn: psycopg.AsyncConnection[Any], request_id: int, _: str, data: Any,
                        model: ModelConfig) -> None:
            subject, body = self._draft_fields(req, data)
            cur = conn.cursor(row_factory=dict_row)
            row = await (await cur.execute(query("store_ai_draft"), {
                "org_id": req.org_id, "lead_id": lead_id, "kind": req.kind, "language": req.language,
                "tone": req.tone, "purpose": req.purpose, "content": Jsonb(data), "subject": subject,
                "body": body, "source_message_id": message_id, "request_id": request_id, "inputs": Jsonb(inputs),
                "offline_model": model.offline, "user_id": req.user_id})).fetchone()
            assert row is not None
            stored.update(row)

        call = LLMCall(
            req.org_id, task, [ChatMessage("user", _ASK[req.kind][req.language])],
            prompt=PromptCall(prompt_name, self._variables(req, clip), req.language, subject_id=str(lead_id)),
            user_id=req.user_id, feature=f"assistant.{req.kind}", importance="medium", cost_sensitivity="medium",
            purpose=purpose)
        result = await self.gateway.complete(call, store=store)
        return stored, result


def draft_json(row: Mapping[str, Any], result: LLMResult) -> str:
    """The stored draft for the API, with the call that wrote it and the offline label where it applies."""
    body = {**row, "request_id": result.request_id, "provider": result.provider, "model": result.model,
            "notice": OFFLINE_NOTICE if row.get("offline_model") else None,
            "compliance": result.compliance.to_json() if result.compliance else None}
    return json.dumps(body, ensure_ascii=False, default=str)
