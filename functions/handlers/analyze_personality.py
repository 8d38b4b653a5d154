"""`analyze_personality`: a DISG profile of a lead from the lead's own messages.

Asked for with `api.analyze_personality`. The `disg_profiler` prompt goes through the AI gateway;
the database keeps only quotes that occur in the lead's inbound messages, detects the dominant
type and caps the confidence of a profile with little evidence. When only the offline model can
answer and it gives nothing usable, the word-list baseline (source `baseline`) is stored instead,
so the offline path always produces a labelled profile. A redelivered job stores nothing twice.
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
from salesflow.functions import intelligence_baseline
from salesflow.functions.handlers import _gateway_job as ai
from salesflow.functions.registry import Handler, JobContext, PermanentError
from salesflow.gateway.config import ModelConfig
from salesflow.gateway.core import LLMCall, PromptCall
from salesflow.gateway.errors import BudgetExceeded, CallFailed, GatewayError
from salesflow.gateway.providers import ChatMessage

log = logging.getLogger("salesflow.worker")

# what the offline model reads (messages, characters each): it reads a few hundred tokens a second
OFFLINE_MESSAGES, OFFLINE_CLIP = 6, 240


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: UUID
    language: Literal["de", "en"] = "en"
    user_id: UUID | None = None


async def run(job: JobContext, payload: Payload) -> None:
    if job.org_id is None:
        raise PermanentError("analyze_personality needs the job's org_id")
    params: dict[str, Any] = {"org_id": job.org_id, "lead_id": payload.lead_id, "job_id": job.id,
                              "language": payload.language}
    async with job.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        if await (await cur.execute(query("profile_of_job"), params)).fetchone():
            return  # delivered again after the first run stored it
        own_rows = await (await cur.execute(query("lead_own_messages"), params)).fetchall()
        messages = [r["body"] for r in own_rows]
        consent = await (await cur.execute(query("ai_processing_allowed"), params)).fetchone()
    if consent is not None and not consent["allowed"]:
        raise PermanentError(f"lead {payload.lead_id} does not consent to AI processing")
    if not messages:
        raise PermanentError(f"lead {payload.lead_id} has no messages of their own to profile")
    offline = job.resources.llm_config.offline_only()
    shown, clip = (messages[-OFFLINE_MESSAGES:], OFFLINE_CLIP) if offline else (messages, 1000)
    text = "\n".join(f"- {' '.join(m.split())[:clip]}" for m in shown)
    ask = "Profile this lead's communication style." if payload.language == "en" else \
        "Skizzieren Sie den Kommunikationsstil dieses Leads."
    call = LLMCall(job.org_id, "personality", [ChatMessage("user", ask)],
                   prompt=PromptCall("disg_profiler", {"messages": text}, payload.language,
                                     subject_id=str(payload.lead_id)),
                   user_id=payload.user_id, feature="profiling.disg", importance="medium",
                   cost_sensitivity="high", deadline=ai.DEADLINE)

    async def store(conn: psycopg.AsyncConnection[Any], request_id: int, _text: str, data: Any,
                    model: ModelConfig) -> None:
        scores = {k: data[k] for k in ("d", "i", "s", "g")}
        await conn.execute(query("store_personality_profile"), {
            **params, "request_id": request_id, "scores": Jsonb(scores), "quotes": Jsonb(data["evidence"]),
            "confidence": data["confidence"], "source": "ai", "offline_model": model.offline})
        await conn.execute(query("note_profile_inputs"), {**params, "inputs": ai.inputs_of(own_rows)})

    try:
        await job.resources.gateway.complete(call, store=store)
        return
    except BudgetExceeded as exc:
        raise PermanentError(str(exc)) from exc
    except GatewayError as exc:
        if not offline:
            if isinstance(exc, CallFailed) and exc.status >= 500:
                raise  # providers down or out of time: the queue's backoff tries again later
            raise PermanentError(str(exc)) from exc
        log.info("offline model gave no usable DISG profile (%s); storing the word-list baseline", exc)
    baseline = intelligence_baseline.disg(messages)
    async with job.connection() as conn:
        await conn.execute(query("store_personality_profile"), {
            **params, "request_id": None, "scores": Jsonb(baseline.scores), "quotes": Jsonb(baseline.evidence),
            "confidence": baseline.confidence, "source": "baseline", "offline_model": True})
        await conn.execute(query("note_profile_inputs"), {**params, "inputs": ai.inputs_of(own_rows)})


HANDLER = Handler(kind="analyze_personality", payload=Payload, run=run, timeout=ai.TIMEOUT, backoff_base=30.0)
