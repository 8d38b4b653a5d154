"""`propose_bant`: the deal medic's BANT reading of a lead's conversation, stored as a proposal.

Asked for with `api.request_bant_assessment`. The `bant_assessor` prompt reads the lead record and
the recent conversation; its answer becomes a `bant_assessments` row with status `proposed`, which
counts only once a member accepts it (`api.review_bant_proposal`): never a silent overwrite.
When only the offline model can answer and it gives nothing usable, the word-list baseline is
proposed instead (marked offline, its notes say so). A redelivered job stores nothing twice.
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

OFFLINE_HISTORY, OFFLINE_CLIP = 6, 200


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_id: UUID
    language: Literal["de", "en"] = "en"
    user_id: UUID | None = None


async def run(job: JobContext, payload: Payload) -> None:
    if job.org_id is None:
        raise PermanentError("propose_bant needs the job's org_id")
    params: dict[str, Any] = {"org_id": job.org_id, "lead_id": payload.lead_id, "job_id": job.id}
    async with job.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        if await (await cur.execute(query("bant_of_job"), params)).fetchone():
            return
        lead = await (await cur.execute(query("lead_context"), params)).fetchone()
        history = await (await cur.execute(query("lead_history"), params)).fetchall()
        own_rows = await (await cur.execute(query("lead_own_messages"), params)).fetchall()
        own = [r["body"] for r in own_rows]
        consent = await (await cur.execute(query("ai_processing_allowed"), params)).fetchone()
    if lead is None:
        raise PermanentError(f"lead {payload.lead_id} not found")
    if consent is not None and not consent["allowed"]:
        raise PermanentError(f"lead {payload.lead_id} does not consent to AI processing")
    offline = job.resources.llm_config.offline_only()
    if offline:
        history, clip = history[:OFFLINE_HISTORY], OFFLINE_CLIP
    else:
        clip = 500
    inputs = ai.inputs_of(history, own_rows)  # what the model (or the baseline) read, for the AI decision audit
    conversation = "\n".join(f"{h['at']:%Y-%m-%d} {h['what']}: {' '.join(h['text'].split())[:clip]}"
                             for h in reversed(history))
    ask = "Assess this deal on BANT." if payload.language == "en" else "Bewerten Sie diese Chance nach BANT."
    call = LLMCall(job.org_id, "classify", [ChatMessage("user", ask)],
                   prompt=PromptCall("bant_assessor", {"lead": {k: v for k, v in lead.items() if v is not None},
                                                       "conversation": conversation or "(none)"},
                                     payload.language, subject_id=str(payload.lead_id)),
                   user_id=payload.user_id, feature="bant.proposal", importance="medium",
                   cost_sensitivity="high", deadline=ai.DEADLINE)

    async def store(conn: psycopg.AsyncConnection[Any], request_id: int, _text: str, data: Any,
                    model: ModelConfig) -> None:
        await conn.execute(query("store_bant_proposal"), {**params, "request_id": request_id, "answer": Jsonb(data),
                                                          "offline_model": model.offline})
        await conn.execute(query("note_bant_inputs"), {**params, "inputs": inputs})

    try:
        await job.resources.gateway.complete(call, store=store)
        return
    except BudgetExceeded as exc:
        raise PermanentError(str(exc)) from exc
    except GatewayError as exc:
        if not offline:
            if isinstance(exc, CallFailed) and exc.status >= 500:
                raise
            raise PermanentError(str(exc)) from exc
        log.info("offline model gave no usable BANT reading (%s); proposing the word-list baseline", exc)
    answer = intelligence_baseline.bant(own)
    async with job.connection() as conn:
        await conn.execute(query("store_bant_proposal"), {**params, "request_id": None, "answer": Jsonb(answer),
                                                          "offline_model": True})
        await conn.execute(query("note_bant_inputs"), {**params, "inputs": ai.inputs_of(own_rows)})


HANDLER = Handler(kind="propose_bant", payload=Payload, run=run, timeout=ai.TIMEOUT, backoff_base=30.0)
