"""`executive_summary`: the weekly executive summary of one organisation, written through the gateway.

The schedule's job (no org_id) fans out: one job per organisation with activity, for the week that
just ended. An organisation's job reads the week's aggregate figures (salesflow.executive_summary_figures:
counts and costs only, no person's data), asks the gateway's `executive_summary` prompt (DE/EN, a
bounded JSON schema) and stores the answer with its log row and whether the offline model wrote it.
When only the offline model can answer and it gives nothing usable, a rule-written summary of the same
figures is stored instead (source `baseline`), so the offline path always produces a labelled result.
A week already summarised in that language is not written again.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict

from salesflow.db.queries import query
from salesflow.functions.handlers import ai_suggest
from salesflow.functions.registry import Handler, JobContext, PermanentError
from salesflow.gateway.config import ModelConfig
from salesflow.gateway.core import LLMCall, PromptCall
from salesflow.gateway.errors import BudgetExceeded, CallFailed, GatewayError
from salesflow.gateway.providers import ChatMessage

log = logging.getLogger("salesflow.worker")


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # the Monday (UTC) the week starts; default: the last full week before today
    week_start: dt.date | None = None
    language: Literal["de", "en"] = "en"


def last_full_week(today: dt.date) -> dt.date:
    """The Monday of the last complete week before `today`."""
    return today - dt.timedelta(days=today.weekday() + 7)


def baseline_summary(figures: dict[str, Any], language: str) -> dict[str, Any]:
    """A rule-written summary of the figures (labelled `baseline` where it is stored)."""
    f = {k: figures.get(k, 0) for k in ("new_leads", "messages", "deals_won", "deals_lost", "ai_requests",
                                          "ai_cost", "compliance_withheld")}
    anomalies = figures.get("anomalies") or []
    de = language == "de"
    headline = (f"Woche ab {figures.get('week_start')}: {f['deals_won']} Deals gewonnen, {f['new_leads']} neue Leads."
                if de else
                f"Week of {figures.get('week_start')}: {f['deals_won']} deals won, {f['new_leads']} new leads.")
    highlights = [
        (f"{f['messages']} Nachrichten gesendet oder empfangen." if de
         else f"{f['messages']} messages sent or received."),
        (f"{f['ai_requests']} KI-Anfragen, Kosten {float(f['ai_cost']):.2f}." if de
         else f"{f['ai_requests']} AI requests costing {float(f['ai_cost']):.2f}."),
    ]
    risks = []
    if f["deals_lost"]:
        risks.append(f"{f['deals_lost']} Deals verloren." if de else f"{f['deals_lost']} deals lost.")
    if f["compliance_withheld"]:
        risks.append(f"{f['compliance_withheld']} KI-Ausgaben zurückgehalten." if de
                     else f"{f['compliance_withheld']} AI outputs withheld by the compliance check.")
    if anomalies:
        metrics = ", ".join(sorted({a["metric"] for a in anomalies}))
        risks.append(f"Auffälligkeiten: {metrics}." if de else f"Anomalies flagged: {metrics}.")
    focus = ("Die markierten Auffälligkeiten prüfen." if de else "Review the flagged anomalies.") if anomalies else (
        "Offene Deals mit hoher Abschlusswahrscheinlichkeit nachfassen." if de
        else "Follow up the open deals most likely to close.")
    return {"headline": headline, "highlights": highlights, "risks": risks[:3], "focus": focus}


async def run(job: JobContext, payload: Payload) -> None:
    week_start = payload.week_start or last_full_week(dt.datetime.now(dt.UTC).date())
    if job.org_id is None:  # the schedule's run: one job per organisation
        async with job.connection() as conn:
            cur = await conn.execute(query("enqueue_executive_summaries"), {"week_start": week_start})
            row = await cur.fetchone()
        log.info("queued executive summaries", extra={"job_id": job.id, "jobs": row[0] if row else 0})
        return
    params: dict[str, Any] = {"org_id": job.org_id, "week_start": week_start, "language": payload.language,
                              "job_id": job.id}
    async with job.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        if await (await cur.execute(query("executive_summary_exists"), params)).fetchone():
            return  # delivered again after the first run stored it
        figures = (await (await cur.execute(query("executive_summary_figures"), params)).fetchone())["figures"]
    ask = "Write this week's executive summary." if payload.language == "en" else \
        "Schreiben Sie die Zusammenfassung dieser Woche."
    call = LLMCall(job.org_id, "summarize", [ChatMessage("user", ask)],
                   prompt=PromptCall("executive_summary", {"figures": figures}, payload.language),
                   feature="insights.executive_summary", importance="medium", cost_sensitivity="high",
                   deadline=ai_suggest.deadline(job))

    async def store(conn: psycopg.AsyncConnection[Any], request_id: int, _text: str, data: Any,
                    model: ModelConfig) -> None:
        await conn.execute(query("store_executive_summary"), {
            **params, "content": Jsonb(data), "figures": Jsonb(figures), "source": "ai",
            "offline_model": model.offline, "request_id": request_id, "model": model.model})

    offline = job.resources.llm_config.offline_only()
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
        log.info("offline model gave no usable executive summary (%s); storing the rule-written one", exc)
    async with job.connection() as conn:
        await conn.execute(query("store_executive_summary"), {
            **params, "content": Jsonb(baseline_summary(figures, payload.language)), "figures": Jsonb(figures),
            "source": "baseline", "offline_model": True, "request_id": None, "model": None})


HANDLER = Handler(kind="executive_summary", payload=Payload, run=run, timeout=ai_suggest.TIMEOUT,
                  backoff_base=30.0, lease=ai_suggest.LEASE)
