"""The seed's prediction endpoints: thin routes over the prediction RPCs, run as the caller.

`GET /api/ai/predictions/deal/{deal_id}?org_id=&horizon_days=`,
`GET /api/ai/predictions/account/{company_id}/churn-risk?org_id=` and
`GET /api/ai/predictions/forecast?org_id=&periods=&period_days=`. The numbers come from SQL
(sql/objects/87_deal_predictions.sql, 88_prediction_rpcs.sql); tenancy is the RPCs' RLS.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from salesflow.api.errors import ApiError
from salesflow.api.rpc import caller_of, json_response

router = APIRouter()


def _org(org_id: UUID | None) -> str:
    if org_id is None:
        raise ApiError(400, "PGRST100", "org_id is required as a query parameter")
    return str(org_id)


@router.get("/api/ai/predictions/deal/{deal_id}")
async def deal_prediction(deal_id: UUID, request: Request, org_id: UUID | None = None,
                          horizon_days: int = 30) -> Response:
    args = {"org_id": _org(org_id), "deal_id": str(deal_id), "horizon_days": horizon_days}
    return json_response(await request.app.state.rpc.call("predict_deal", args, caller_of(request), request))


@router.get("/api/ai/predictions/account/{company_id}/churn-risk")
async def churn_risk(company_id: UUID, request: Request, org_id: UUID | None = None) -> Response:
    args = {"org_id": _org(org_id), "company_id": str(company_id)}
    return json_response(await request.app.state.rpc.call("predict_account_churn", args, caller_of(request),
                                                          request))


@router.get("/api/ai/predictions/forecast")
async def forecast(request: Request, org_id: UUID | None = None, periods: int = 3,
                   period_days: int = 30) -> Response:
    args = {"org_id": _org(org_id), "periods": periods, "period_days": period_days}
    return json_response(await request.app.state.rpc.call("forecast_revenue", args, caller_of(request), request))
