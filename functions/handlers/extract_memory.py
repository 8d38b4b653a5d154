"""`extract_memory`: facts and buying signals from a lead's new messages, each citing its message.

Queued by the messages trigger once enough new messages arrived (sql/objects/54_smart_context.sql);
the lead's extraction cursor (conversation_summaries.facts_until) says where the last run stopped.
The memory_extraction prompt runs through the gateway; every fact it returns goes through
api.record_memory_fact (via salesflow.record_extracted_fact) with a quote from the message that states it
(functions/fact_evidence.py finds that sentence), the model's confidence capped by how much of the fact
the quote holds, and validity from the message's time. A fact no message supports is refused.

With only the offline model (SmolLM2 on this machine) the deterministic rules run first and their facts
are stored labelled `rules:…`, so the offline path always produces what the messages state in so many
words; the model's own facts are added when it answers in time. A lead without consent to AI processing
is not read at all. A second delivery stores nothing twice (facts are unique per message, key and text).
"""

from __future__ import annotations

import logging
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict

from salesflow.db.queries import query
from salesflow.functions.fact_evidence import RULES_VERSION, Fact, Source, model_facts, rule_facts
from salesflow.functions.handlers import ai_suggest
from salesflow.functions.registry import Handler, JobContext, PermanentError
from salesflow.gateway.config import ModelConfig
from salesflow.gateway.core import LLMCall, PromptCall
from salesflow.gateway.errors import BudgetExceeded, CallFailed, GatewayError
from salesflow.gateway.providers import ChatMessage

log = logging.getLogger("salesflow.worker")

TIMEOUT = ai_suggest.TIMEOUT
BATCH = 30  # messages read per run; a longer backlog takes several runs
OFFLINE_BATCH, OFFLINE_CLIP = 6, 300  # what the offline model reads (messages, characters each)


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: UUID
    language: Literal["de", "en"] = "en"


async def _record(conn: psycopg.AsyncConnection[Any], params: dict[str, Any], facts: list[Fact],
                  extracted_by: str, request_id: int | None) -> int:
    stored = 0
    for f in facts:
        cur = await conn.execute(query("record_extracted_fact"), {
            **params, "category": f.category, "fact": f.fact, "message_id": f.message_id, "quote": f.quote,
            "confidence": f.confidence, "fact_key": f.fact_key, "extracted_by": extracted_by[:206],
            "request_id": request_id})
        row = await cur.fetchone()
        stored += row is not None and row[0] is not None
    return stored


async def run(job: JobContext, payload: Payload) -> None:
    if job.org_id is None:
        raise PermanentError("extract_memory needs the job's org_id")
    params: dict[str, Any] = {"org_id": job.org_id, "lead_id": payload.lead_id}
    async with job.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        state = await (await cur.execute(query("facts_state"), params)).fetchone()
        if state is None:
            return  # the lead is gone
        consent = await (await cur.execute(query("ai_processing_allowed"), params)).fetchone()
        if consent is not None and not consent["allowed"]:
            # the person withdrew consent to AI processing: neither the model nor the rules read them
            log.info("no AI processing consent; memory extraction skipped", extra={"job_id": job.id})
            return
        new = await (await cur.execute(query("messages_after_summary"), {
            **params, "covered_until": state["facts_until"], "covered_message_id": state["facts_message_id"],
            "limit": BATCH})).fetchall()
        known = await (await cur.execute(query("current_facts"), params)).fetchall()
    if not new:
        return
    sources = [Source(m["id"], m["text"]) for m in new]
    gateway = job.resources.gateway
    offline = gateway.config.offline_only()
    read, clip = (new[-OFFLINE_BATCH:], OFFLINE_CLIP) if offline else (new, 1000)
    if offline:
        async with job.connection() as conn:
            n = await _record(conn, params, rule_facts(sources), RULES_VERSION, None)
        log.debug("rule facts stored", extra={"job_id": job.id, "stored": n})
    turns = "\n".join(f"{m['sent_at']:%Y-%m-%d} {m['channel']} {m['direction']}: {' '.join(m['text'].split())[:clip]}"
                      for m in read)
    facts_known = "\n".join(f"- {k['category']}: {k['fact']}" for k in known) or "(none)"
    language = payload.language
    ask = "Extract the durable facts." if language == "en" else "Extrahieren Sie die dauerhaften Fakten."
    call = LLMCall(job.org_id, "summarize", [ChatMessage("user", ask)],
                   prompt=PromptCall("memory_extraction", {"conversation": turns, "known_facts": facts_known},
                                     language, subject_id=str(payload.lead_id)),
                   feature="memory.facts", importance="low", cost_sensitivity="high", deadline=ai_suggest.deadline(job))

    async def store(conn: psycopg.AsyncConnection[Any], request_id: int, text: str, data: Any,
                    model: ModelConfig) -> None:
        found, refused = model_facts(data, sources)
        stored = await _record(conn, params, found, f"model:{model.model}", request_id)
        log.debug("model facts", extra={"job_id": job.id, "stored": stored, "refused": refused})

    try:
        await gateway.complete(call, store=store)
    except (BudgetExceeded, CallFailed, GatewayError) as exc:
        if not offline:
            if isinstance(exc, CallFailed) and exc.status >= 500:
                raise  # providers down or out of time: the queue's backoff tries again later
            raise PermanentError(str(exc)) from exc
        # the offline model did not answer usefully in time; the rules' facts stand for this batch
        log.info("offline model gave no facts; the rules' facts stand", extra={"job_id": job.id,
                                                                                "error": str(exc)[:200]})
    async with job.connection() as conn:
        await conn.execute(query("advance_facts_cursor"), {
            **params, "read_until": new[-1]["sent_at"], "read_message_id": new[-1]["id"], "n": len(new)})


HANDLER = Handler(kind="extract_memory", payload=Payload, run=run, timeout=TIMEOUT, backoff_base=30.0,
                  lease=ai_suggest.LEASE)
