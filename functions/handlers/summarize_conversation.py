"""`summarize_conversation`: extend a lead's rolling summary (warm memory) with its new messages.

Queued by the messages trigger once enough new messages arrived (sql/objects/54_smart_context.sql).
The gateway's conversation_summary prompt gets the previous summary and only the messages after
it, so the summary is extended, never regenerated from the whole history. The stored row says
which model wrote it (offline_model: SmolLM2 on this machine when no provider is configured). A
second delivery of the same job finds the version moved on and stores nothing. A lead who withdrew
consent to AI processing is not summarised (the job completes without a model call).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict

from salesflow.db.queries import query
from salesflow.functions.handlers import ai_suggest
from salesflow.functions.registry import Handler, JobContext, PermanentError
from salesflow.gateway.config import ModelConfig
from salesflow.gateway.core import LLMCall, PromptCall
from salesflow.gateway.errors import BudgetExceeded, CallFailed, GatewayError
from salesflow.gateway.providers import ChatMessage

TIMEOUT = ai_suggest.TIMEOUT
BATCH = 100  # messages folded into the summary per run; a longer backlog takes several runs
# what the offline model folds in per run (messages, characters each): its 8k context, and its reading
# speed on two busy cores (15-65 tokens a second), would not take a hundred messages of 1,000 characters
OFFLINE_BATCH, OFFLINE_CLIP = 8, 300


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: UUID
    language: str = "en"


async def run(job: JobContext, payload: Payload) -> None:
    if job.org_id is None:
        raise PermanentError("summarize_conversation needs the job's org_id")
    params: dict[str, Any] = {"org_id": job.org_id, "lead_id": payload.lead_id}
    offline = job.resources.llm_config.offline_only()
    clip = OFFLINE_CLIP if offline else 1000
    async with job.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        state = await (await cur.execute(query("summary_state"), params)).fetchone()
        if state is None:
            return  # the lead is gone
        consent = await (await cur.execute(query("ai_processing_allowed"), params)).fetchone()
        if consent is not None and not consent["allowed"]:
            return  # the person withdrew consent to AI processing: no model reads their messages
        new = await (await cur.execute(query("messages_after_summary"), {
            **params, "covered_until": state["covered_until"], "covered_message_id": state["covered_message_id"],
            "limit": OFFLINE_BATCH if offline else BATCH})).fetchall()
        if not new:
            await conn.execute(query("summary_settled"), params)
            return
    turns = "\n".join(f"{m['sent_at']:%Y-%m-%d %H:%M} {m['channel']} {m['direction']}: {m['text'].strip()[:clip]}"
                      for m in new)
    language = "de" if payload.language == "de" else "en"
    ask = "Update the summary." if language == "en" else "Aktualisieren Sie die Zusammenfassung."
    variables = {"previous_summary": state["summary"] or "(empty)", "turns": turns}
    call = LLMCall(job.org_id, "summarize", [ChatMessage("user", ask)],
                   prompt=PromptCall("conversation_summary", variables, language, subject_id=str(payload.lead_id)),
                   feature="memory.summary", importance="low", cost_sensitivity="high",
                   deadline=ai_suggest.deadline(job))

    async def store(conn: psycopg.AsyncConnection[Any], request_id: int, text: str, data: Any,
                    model: ModelConfig) -> None:
        await conn.execute(query("extend_summary"), {
            **params, "summary": text.strip() or state["summary"], "version": state["version"],
            "covered_until": new[-1]["sent_at"], "covered_message_id": new[-1]["id"], "n": len(new),
            "model": model.model, "offline_model": model.offline, "request_id": request_id})

    try:
        await job.resources.gateway.complete(call, store=store)  # the worker's one gateway
    except BudgetExceeded as exc:
        raise PermanentError(str(exc)) from exc
    except CallFailed as exc:
        if exc.status < 500:
            raise PermanentError(str(exc)) from exc
        raise
    except GatewayError as exc:
        raise PermanentError(str(exc)) from exc


HANDLER = Handler(kind="summarize_conversation", payload=Payload, run=run, timeout=TIMEOUT, backoff_base=30.0,
                  lease=ai_suggest.LEASE)
