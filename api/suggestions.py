"""GET /api/leads/{lead_id}/suggestions?org_id=...: a lead's live recommendations, for apps.

A thin route over `api.get_lead_suggestions`, called as the caller (their token picks role and
claims, RLS picks the rows); another tenant's lead answers an empty list, as the RPC does.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from salesflow.api.errors import ApiError
from salesflow.api.rpc import caller_of, json_response

router = APIRouter()


def _uuid(value: str | None, name: str) -> str:
    if value is None:
        raise ApiError(400, "PGRST100", f"{name} is required", hint=f"add ?{name}=<uuid>")
    try:
        return str(UUID(value))
    except ValueError:
        raise ApiError(400, "22P02", f"{name} is not a uuid: {value[:60]!r}") from None


@router.get("/api/leads/{lead_id}/suggestions")
async def lead_suggestions(lead_id: str, request: Request) -> Response:
    caller = caller_of(request)
    args = {"org_id": _uuid(request.query_params.get("org_id"), "org_id"), "lead_id": _uuid(lead_id, "lead_id")}
    return json_response(await request.app.state.rpc.call("get_lead_suggestions", args, caller, request))
