"""POST /api/engagement/events?org_id=...: engagement events from websites, email tools and products.

A thin route over `api.record_engagement_events`, called as the caller (their token picks role and
claims, RLS picks the leads). The body is `{"events": [...]}` (org_id may also sit in the body);
each event carries its own `idempotency_key`, so a batch re-sent after a timeout stores each event
once and answers how many were duplicates. A bad event stores nothing and answers 400 naming it.
"""

from __future__ import annotations

import json
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from salesflow.api.errors import ApiError
from salesflow.api.rpc import caller_of, read_json_object

router = APIRouter()

# 10,000 events (the RPC's cap) of a few hundred bytes each, with room for their properties
MAX_BODY = 8 * 1024 * 1024


def _org(value: object) -> str:
    if value is None:
        raise ApiError(400, "PGRST100", "org_id is required", hint="add ?org_id=<uuid> or put org_id in the body")
    try:
        return str(UUID(str(value)))
    except ValueError:
        raise ApiError(400, "22P02", f"org_id is not a uuid: {str(value)[:60]!r}") from None


@router.post("/api/engagement/events")
async def record_events(request: Request) -> Response:
    body = await read_json_object(request, limit=MAX_BODY)
    unknown = set(body) - {"org_id", "events"}
    if unknown:
        raise ApiError(400, "PGRST100", f"unknown body keys: {', '.join(sorted(unknown))[:200]}",
                       hint='send {"events": [{"lead_id", "event_type", "occurred_at", "idempotency_key"}, ...]}')
    events = body.get("events")
    if not isinstance(events, list) or not events:
        raise ApiError(400, "PGRST100", "events must be a non-empty JSON array of event objects")
    query_org, body_org = request.query_params.get("org_id"), body.get("org_id")
    if query_org is not None and body_org is not None and _org(query_org) != _org(body_org):
        raise ApiError(400, "PGRST100", "org_id in the query and in the body differ")
    args = {"org_id": _org(query_org if query_org is not None else body_org), "events": events}
    result = await request.app.state.rpc.call("record_engagement_events", args, caller_of(request), request)
    stored = json.loads(result) if result else {}
    # 201 when something new was stored; a batch that was all duplicates is 200
    return Response(content=result or "null", media_type="application/json",
                    status_code=201 if stored.get("stored") else 200)
