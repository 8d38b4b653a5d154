"""`ai_suggest`: next actions or memory facts for a lead, through the AI gateway, for a person to review.

Asked for with `api.request_ai_suggestion`. The gateway is the worker's own (`job.resources`), on
the worker's handler pool; its deadline is shorter than this handler's timeout, which is shorter
than the lease (this kind's own, longer than the worker's: the offline model is slow), so a job is
never running twice at once. A job delivered again after a
crash finds its suggestion and does not call the model again. The answer must match its prompt's
JSON schema (one corrective retry); a rejected answer is logged and stored nowhere.
"""

from __future__ import annotations

import logging
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict

from salesflow.db.queries import query
from salesflow.functions.handlers import _gateway_job as ai
from salesflow.functions.registry import Handler, JobContext, PermanentError
from salesflow.gateway.config import ModelConfig
from salesflow.gateway.core import LLMCall, PromptCall
from salesflow.gateway.errors import BudgetExceeded, CallFailed, GatewayError
from salesflow.gateway.providers import ChatMessage

log = logging.getLogger("salesflow.worker")

# the gateway's whole call (retries and fallbacks included) when a provider with a key can answer
DEADLINE = 50.0
# when only the offline model can: SmolLM2 on two busy cores reads the ~1,000-token prompt at 15-65
# tokens a second and writes 10-25 (measured at load 5-10), so one answer takes 20-90 s and the
# grammar's longest one (token_bound) some 60 s more; llama.cpp answers one request at a time, so
# the second of two suggestions asked together waits for the first (measured on a fresh `up` beside
# the demo's embedding backfill, load 16: 137 s and 239 s)
OFFLINE_DEADLINE = 400.0
# the handler's own limit, above either deadline, and the lease its jobs are held with, above that
TIMEOUT = OFFLINE_DEADLINE + 10.0
LEASE = TIMEOUT + 20.0
# what the offline model reads of a lead's history (entries, characters each)
OFFLINE_HISTORY, OFFLINE_CLIP = 6, 200
PROMPTS = {"next_actions": ("recommendation_engine", "classify"), "memory_facts": ("memory_extraction", "summarize")}


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: UUID
    kind: Literal["next_actions", "memory_facts"]
    language: Literal["de", "en"] = "en"
    user_id: UUID | None = None


def deadline(job: JobContext) -> float:
    """The gateway's deadline for one job's call: the offline model gets the time it needs."""
    return OFFLINE_DEADLINE if job.resources.llm_config.offline_only() else DEADLINE


async def run(job: JobContext, payload: Payload) -> None:
    if job.org_id is None:
        raise PermanentError("ai_suggest needs the job's org_id")
    org, params = job.org_id, {"org_id": job.org_id, "lead_id": payload.lead_id, "job_id": job.id}
    async with job.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        if await (await cur.execute(query("suggestion_of_job"), params)).fetchone():
            return  # delivered again after the first run stored it
        lead = await (await cur.execute(query("lead_context"), params)).fetchone()
        history = await (await cur.execute(query("lead_history"), params)).fetchall()
        consent = await (await cur.execute(query("ai_processing_allowed"), params)).fetchone()
    if lead is None:
        # deleted or erased since the job was queued: nothing to do, and no error that names it
        log.info("the job's lead is gone; nothing to do", extra={"job_id": job.id})
        return
    if consent is not None and not consent["allowed"]:
        # the person withdrew consent to AI processing (lead_consents): no model reads their data
        raise PermanentError(f"lead {payload.lead_id} does not consent to AI processing")
    lead = {k: v for k, v in lead.items() if v is not None}
    if job.resources.llm_config.offline_only():
        # only the offline model can answer: on two cores it reads a few hundred tokens a second, so
        # it gets the most recent history, short, and its answer still fits inside the deadline
        history, clip = history[:OFFLINE_HISTORY], OFFLINE_CLIP
    else:
        clip = 500
    timeline = "\n".join(f"{h['at']:%Y-%m-%d} {h['what']}: {' '.join(h['text'].split())[:clip]}"
                         for h in reversed(history))
    inputs = ai.inputs_of(history)  # what the model was shown, for the AI decision audit
    prompt_name, task = PROMPTS[payload.kind]
    if payload.kind == "next_actions":
        # no lead score exists yet (lead scoring is its own piece of work): 0 tells the prompt "unknown"
        variables = {"lead": lead, "score": 0, "recent_activity": timeline or "(none)"}
        ask = "What should happen next with this lead?" if payload.language == "en" else "Was ist der nächste Schritt?"
    else:
        variables = {"conversation": timeline or "(none)", "known_facts": "(none)"}
        ask = "Extract the durable facts." if payload.language == "en" else "Extrahieren Sie die dauerhaften Fakten."
    call = LLMCall(org, task, [ChatMessage("user", ask)],
                   prompt=PromptCall(prompt_name, variables, payload.language, subject_id=str(payload.lead_id)),
                   user_id=payload.user_id, feature=f"suggest.{payload.kind}", importance="medium",
                   cost_sensitivity="high", deadline=deadline(job))

    async def store(conn: psycopg.AsyncConnection[Any], request_id: int, text: str, data: Any,
                    model: ModelConfig) -> None:
        # `data`: the answer as parsed and validated against the prompt's schema (an object)
        await conn.execute(query("store_suggestion"), {**params, "kind": payload.kind, "request_id": request_id,
                                   "content": Jsonb(data), "offline_model": model.offline, "inputs": inputs})

    try:
        await job.resources.gateway.complete(call, store=store)
    except BudgetExceeded as exc:
        raise PermanentError(str(exc)) from exc
    except CallFailed as exc:
        if exc.status < 500:
            raise PermanentError(str(exc)) from exc
        raise  # providers down or out of time: the queue's backoff tries again later
    except GatewayError as exc:
        raise PermanentError(str(exc)) from exc


HANDLER = Handler(kind="ai_suggest", payload=Payload, run=run, timeout=TIMEOUT, backoff_base=30.0, lease=LEASE)
