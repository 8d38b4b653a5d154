"""`analyze_conversation`: one call or meeting transcript read into a conversation insight.

Queued by api.request_conversation_analysis. The coaching figures and the dictionary matches
(competitors from the organisation's list, objection cues) and the per-speaker lexicon sentiment
are always computed (functions/conversation.py). The summary, topics, action items, key moments
and objections come from the conversation_analysis prompt through the gateway where a model is
asked for (method 'model', or 'auto' with a provider other than the offline one configured), else
from the offline baseline, labelled as such. A model call that fails under 'auto' still stores the
baseline, saying why. The insight is stored once (a second delivery finds it done) in the
transaction that logs the call, and the lead's recommendation rules are re-evaluated, so a
competitor mention raises its alert and the coaching thresholds their items.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict

from salesflow.db.queries import query
from salesflow.functions import conversation
from salesflow.functions.handlers import ai_suggest
from salesflow.functions.registry import Handler, JobContext, PermanentError
from salesflow.gateway.config import ModelConfig
from salesflow.gateway.core import LLMCall, PromptCall
from salesflow.gateway.errors import BudgetExceeded, CallFailed, GatewayError
from salesflow.gateway.providers import ChatMessage

PROMPT = "conversation_analysis"
# what a prompt gets of the transcript (segments, characters each); the offline model reads far less
SEGMENTS, CLIP = 400, 600
OFFLINE_SEGMENTS, OFFLINE_CLIP = 24, 160
_ASK = {"en": "Analyse the call.", "de": "Werten Sie das Gespräch aus."}


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    insight_id: UUID


def _json(value: Any) -> Jsonb:
    return Jsonb(value)


def merge_model_answer(baseline: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The model's reading where it has one; the computed parts (coaching, competitors, sentiment) stay."""
    return {
        **baseline,
        "summary": data["summary"],
        "topics": data["topics"],
        "action_items": [{**a, "status": "proposed"} for a in data["action_items"]],
        "key_moments": [{"kind": "model", **k} for k in data["key_moments"]],
        # the model's objections, with the cue matches for what it missed
        "objections": [{**o, "source": "model"} for o in data["objections"]]
        + [{**o, "source": "baseline"} for o in baseline["objections"]
           if o["kind"] not in {m["kind"] for m in data["objections"]}],
    }


async def run(job: JobContext, payload: Payload) -> None:
    if job.org_id is None:
        raise PermanentError("analyze_conversation needs the job's org_id")
    key = {"org_id": job.org_id, "insight_id": payload.insight_id}
    async with job.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        row = await (await cur.execute(query("insight_to_analyze"), key)).fetchone()
        if row is None or row["status"] != "pending":
            return
        competitors = await (await cur.execute(query("org_competitors"), key)).fetchall()
    if not row["allowed"]:
        async with job.connection() as conn:
            await conn.execute(query("insight_failed"), {**key, "error": "the lead does not consent to AI processing"})
        return
    language = row["language"]
    segments = conversation.segments_of(row["segments"])
    baseline = await asyncio.to_thread(conversation.baseline_analysis, segments, competitors, language,
                                       row["rep_speaker"])
    offline = job.resources.llm_config.offline_only()
    method = row["requested_method"]
    use_model = method == "model" or (method == "auto" and not offline)

    async def store(conn: psycopg.AsyncConnection[Any], result: dict[str, Any], how: str, *, request_id: int | None,
                    model: ModelConfig | None, inputs: dict[str, Any]) -> None:
        prompt = None
        if request_id is not None:
            cur = conn.cursor(row_factory=dict_row)
            prompt = await (await cur.execute(query("prompt_version_of_request"),
                                              {"org_id": job.org_id, "id": request_id})).fetchone()
        cur = conn.cursor(row_factory=dict_row)
        done = await (await cur.execute(query("store_insight"), {
            **key, "method": how, "summary": result["summary"],
            **{k: _json(result[k]) for k in ("topics", "sentiment", "action_items", "key_moments", "objections",
                                             "competitor_mentions", "coaching")},
            "baseline_version": conversation.BASELINE_VERSION,
            "prompt_name": prompt["prompt_name"] if prompt else None,
            "prompt_version": prompt["prompt_version"] if prompt else None, "request_id": request_id,
            "model": model.model if model else None, "offline_model": bool(model and model.offline),
            "inputs": _json({**inputs, "competitor_ids": [str(c["id"]) for c in competitors],
                             "segments": len(segments)})})).fetchone()
        if done is not None and done["lead_id"] is not None:
            await conn.execute(query("evaluate_lead_soon"), {"org_id": job.org_id, "lead_id": done["lead_id"]})

    if use_model:
        limit, clip = (OFFLINE_SEGMENTS, OFFLINE_CLIP) if offline else (SEGMENTS, CLIP)
        variables = {"transcript": conversation.transcript_lines(segments[:limit], clip),
                     "competitors": ", ".join(c["name"] for c in competitors) or "(none listed)"}
        call = LLMCall(job.org_id, "summarize", [ChatMessage("user", _ASK[language])],
                       prompt=PromptCall(PROMPT, variables, language,
                                         subject_id=str(row["lead_id"]) if row["lead_id"] else None),
                       user_id=row["requested_by"], feature="listening.analyze", importance="medium",
                       cost_sensitivity="medium", deadline=ai_suggest.deadline(job))

        async def store_model(conn: psycopg.AsyncConnection[Any], request_id: int, _: str, data: Any,
                              model: ModelConfig) -> None:
            await store(conn, merge_model_answer(baseline, data), "model", request_id=request_id, model=model,
                        inputs={"segments_read": min(limit, len(segments))})

        try:
            await job.resources.gateway.complete(call, store=store_model)
            return
        except (BudgetExceeded, CallFailed, GatewayError) as exc:
            if isinstance(exc, CallFailed) and exc.status >= 500 and not job.last_attempt:
                raise
            if method == "model":
                async with job.connection() as conn:
                    await conn.execute(query("insight_failed"), {**key, "error": f"the model failed: {exc}"[:2000]})
                return
            failure = {"model_error": f"{exc.code}: {exc}"[:500], "model_request_id": exc.request_id}
    else:
        failure = {}
    async with job.connection() as conn, conn.transaction():
        await store(conn, baseline, "baseline", request_id=None, model=None, inputs=failure)


HANDLER = Handler(kind="analyze_conversation", payload=Payload, run=run, timeout=ai_suggest.TIMEOUT,
                  backoff_base=30.0, lease=ai_suggest.LEASE)
