"""`mine_success_patterns`: what the cases that ended well did differently (scheduled daily).

Two outcomes per organisation: won against lost deals (the lead's touches up to the close), and
leads that became customers against disqualified ones (touches up to that stage). Each case is
turned into items — a touch kind (`call:outbound`, `whatsapp:inbound`), an ordered pair of touch
kinds (`email:outbound -> call:outbound`: the first happened before the second at least once),
and timing facts (first outbound touch within a day, five or more touches, two or more channels)
— and every item held by at least `min_cases` cases is stored with its support (share of cases
with it), confidence (share of those that succeeded) and lift (confidence over the base rate).
The organisation's rows are replaced in one transaction, so a rerun is idempotent.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from salesflow.db.queries import query
from salesflow.functions.registry import Handler, JobContext

log = logging.getLogger("salesflow.worker")
OUTCOMES = {"deal_won": "mining_deal_events", "lead_converted": "mining_lead_events"}


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_cases: int = Field(default=5, ge=1, le=100000)
    min_support: float = Field(default=0.02, ge=0, le=1)


@dataclass
class Case:
    success: bool
    started_at: datetime
    ended_at: datetime
    events: list[tuple[datetime, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Pattern:
    key: str
    description: str
    support: float
    confidence: float
    lift: float
    cases: int
    successes: int
    median_days: float | None


def items_of(case: Case) -> dict[str, str]:
    """The case's items, key -> description."""
    found: dict[str, str] = {}
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    for at, token in case.events:
        first.setdefault(token, at)
        last[token] = at
        found[f"has:{token}"] = f"at least one {token.replace(':', ' ')} touch"
    for a, a_at in first.items():
        for b, b_at in last.items():
            if a != b and a_at < b_at:
                found[f"seq:{a} -> {b}"] = f"{a.replace(':', ' ')} followed later by {b.replace(':', ' ')}"
    outbound = [at for at, token in case.events if token.endswith(":outbound")]
    if outbound and min(outbound) - case.started_at <= timedelta(days=1):
        found["timing:first_outbound_within_1d"] = "first outbound touch within a day"
    if len(case.events) >= 5:
        found["timing:5_or_more_touches"] = "five or more touches"
    if len({token.split(":")[0] for _, token in case.events}) >= 2:
        found["timing:2_or_more_channels"] = "touches on two or more channels"
    return found


def mine(cases: Iterable[Case], min_cases: int = 5, min_support: float = 0.02) -> list[Pattern]:
    """Support, confidence and lift of every item held by at least `min_cases` cases."""
    cases = list(cases)
    total, won = len(cases), sum(c.success for c in cases)
    if total == 0 or won == 0:
        return []
    base = won / total
    holders: dict[str, list[Case]] = defaultdict(list)
    described: dict[str, str] = {}
    for case in cases:
        for key, description in items_of(case).items():
            holders[key].append(case)
            described[key] = description
    out = []
    for key, held in holders.items():
        n = len(held)
        if n < min_cases or n / total < min_support:
            continue
        s = sum(c.success for c in held)
        days = [(c.ended_at - c.started_at).total_seconds() / 86400 for c in held if c.success]
        out.append(Pattern(key, described[key], n / total, s / n, (s / n) / base, n, s,
                           statistics.median(days) if days else None))
    out.sort(key=lambda p: (-p.lift, -p.support, p.key))
    return out


def _cases(rows: Iterable[dict[str, Any]]) -> list[Case]:
    by_id: dict[UUID, Case] = {}
    for r in rows:
        case = by_id.get(r["case_id"])
        if case is None:
            case = by_id[r["case_id"]] = Case(r["success"], r["started_at"], r["ended_at"])
        if r["at"] is not None:
            case.events.append((r["at"], r["token"]))
    return list(by_id.values())


async def run(job: JobContext, payload: Payload) -> None:
    async with job.connection() as conn:
        orgs = [r[0] for r in await (await conn.execute(query("mining_orgs"), {"org_id": job.org_id})).fetchall()]
    for org in orgs:
        for outcome, source in OUTCOMES.items():
            async with job.connection() as conn:
                cur = conn.cursor(row_factory=dict_row)
                cases = _cases(await (await cur.execute(query(source), {"org_id": org})).fetchall())
                patterns = mine(cases, payload.min_cases, payload.min_support)
                async with conn.transaction():
                    await conn.execute(query("delete_success_patterns"), {"org_id": org, "outcome": outcome})
                    async with conn.cursor() as ins:
                        await ins.executemany(query("insert_success_pattern"), [
                            {"org_id": org, "outcome": outcome, "pattern_key": p.key[:300],
                             "description": p.description, "support": p.support, "confidence": p.confidence,
                             "lift": p.lift, "cases": p.cases,
                             "successes": p.successes, "median_days": p.median_days, "job_id": job.id}
                            for p in patterns])
            log.info("mined success patterns", extra={"job_id": job.id, "outcome": outcome, "cases": len(cases),
                                                      "patterns": len(patterns)})


HANDLER = Handler(kind="mine_success_patterns", payload=Payload, run=run, timeout=55, backoff_base=300)
