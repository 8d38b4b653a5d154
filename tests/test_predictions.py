"""Deal and account predictions in SQL: stage history, the life table, point-in-time reads, the stage
prior, the forecast's run rate and band, churn risk, and bad input through the RPC gateway."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from tests.conftest import ApiProcess, acting_as, make_token

T = datetime(2026, 6, 1, tzinfo=UTC)


def new_org(db: psycopg.Connection, slug: str = "acme") -> uuid.UUID:
    return db.execute("insert into salesflow.organizations (name, slug) values ('Acme', %s) returning id",
                      (slug,)).fetchone()[0]


def add_deal(db: psycopg.Connection, org: uuid.UUID, *, created: datetime, stage: str = "qualification",
             closed: datetime | None = None, amount: float = 0, product: str | None = None,
             company: uuid.UUID | None = None) -> uuid.UUID:
    return db.execute(
        "insert into salesflow.deals (org_id, name, stage, amount, created_at, closed_at, company_id, attributes) "
        "values (%s, 'Deal', %s, %s, %s, %s, %s, %s) returning id",
        (org, stage, amount, created, closed, company, json.dumps({"product": product} if product else {})),
    ).fetchone()[0]


def test_stage_history_records_each_change_once(db: psycopg.Connection) -> None:
    org = new_org(db)
    deal = add_deal(db, org, created=T - timedelta(days=30), stage="prospecting")
    db.execute("update salesflow.deals set stage = 'proposal' where id = %s", (deal,))
    db.execute("update salesflow.deals set amount = 5 where id = %s", (deal,))  # no stage change
    db.execute("update salesflow.deals set stage = 'closed_won' where id = %s", (deal,))
    # the two changes share the transaction's timestamp; the enum's order breaks the tie
    stages = db.execute("select s.stage::text from salesflow.deal_stage_changes as s where s.deal_id = %s "
                        "order by s.changed_at, s.stage", (deal,)).fetchall()
    assert [s for (s,) in stages] == ["prospecting", "proposal", "closed_won"]


def test_life_table_on_a_hand_computed_case(db: psycopg.Connection) -> None:
    """Four deals: won and lost on day 10, open at day 15 (censored), won on day 20."""
    org = new_org(db)
    add_deal(db, org, created=T - timedelta(days=40), stage="closed_won", closed=T - timedelta(days=30))
    add_deal(db, org, created=T - timedelta(days=40), stage="closed_lost", closed=T - timedelta(days=30))
    add_deal(db, org, created=T - timedelta(days=15))
    add_deal(db, org, created=T - timedelta(days=60), stage="closed_won", closed=T - timedelta(days=40))
    rows = {r[0]: r[1:] for r in db.execute(
        "select day, at_risk, s_before, s_after, f_upto from salesflow.deal_life_table(%s, %s)", (org, T))}
    assert max(rows) == 20
    assert rows[10][:3] == (4, 1.0, 0.5)  # all four at risk, half of them close that day
    assert rows[10][3] == pytest.approx(0.25)  # one win out of four, with nobody gone before
    assert rows[16][0] == 1  # the open deal left the risk set after day 15
    assert rows[20][3] == pytest.approx(0.75)  # the last one at risk wins: 0.25 + 0.5 x 1


def test_a_deal_closed_after_as_of_is_open_then(db: psycopg.Connection) -> None:
    org = new_org(db)
    deal = add_deal(db, org, created=T - timedelta(days=20), stage="closed_won", closed=T + timedelta(days=5))
    past = db.execute("select api.predict_deal(%s, %s, as_of => %s)", (org, deal, T)).fetchone()[0]
    assert past["status"] == "open" and past["stage"] is None  # its final stage is not known at T
    now = db.execute("select api.predict_deal(%s, %s)", (org, deal)).fetchone()[0]
    assert now["status"] == "closed_won" and now["win_probability"] == 1
    outcomes = db.execute("select count(outcome) from salesflow.deals_as_of(%s, %s)", (org, T)).fetchone()[0]
    assert outcomes == 0


def test_few_closed_deals_fall_back_to_the_stage_prior(db: psycopg.Connection) -> None:
    org = new_org(db)
    for _ in range(5):
        add_deal(db, org, created=T - timedelta(days=50), stage="closed_won", closed=T - timedelta(days=40))
    deal = add_deal(db, org, created=T - timedelta(days=3), stage="proposal")
    got = db.execute("select api.predict_deal(%s, %s, as_of => %s)", (org, deal, T)).fetchone()[0]
    assert got["method"] == "stage prior"
    assert got["win_probability"] == pytest.approx(0.40)
    assert got["win_within_horizon"] == pytest.approx(0.40 * 30 / 90, abs=1e-4)
    assert "fewer than 20 closed deals" in got["reasons"][0]


def test_win_chances_follow_the_history(db: psycopg.Connection) -> None:
    """40 past deals all closed at 10 days, half won: an open deal 5 days old is won within 30 days half
    the time, about 5 days from now; its value is the mean won value of its product, spelled otherwise."""
    org = new_org(db)
    for i in range(40):
        created = T - timedelta(days=100 + i)
        add_deal(db, org, created=created, stage="closed_won" if i % 2 else "closed_lost",
                 closed=created + timedelta(days=10, hours=1), amount=1000 if i % 2 else 0, product="GTX Pro")
    young = add_deal(db, org, created=T - timedelta(days=5), product="GTXPro")
    got = db.execute("select api.predict_deal(%s, %s, as_of => %s)", (org, young, T)).fetchone()[0]
    assert got["method"] == "competing-risks life table"
    assert got["win_within_horizon"] == pytest.approx(0.5, abs=0.02)
    assert got["win_probability"] == pytest.approx(0.5, abs=0.02)
    assert got["expected_close"] == (T + timedelta(days=5)).date().isoformat()
    assert got["expected_value"] == 1000
    assert got["value_source"] == "mean won value of product gtxpro"
    # a deal older than every closed one cannot close inside the table's days: stalled, valued by the tail
    old = add_deal(db, org, created=T - timedelta(days=60))
    stale = db.execute("select api.predict_deal(%s, %s, as_of => %s)", (org, old, T)).fetchone()[0]
    assert stale["stall_risk"] == 1.0
    assert any(r.startswith("stalling") for r in stale["reasons"])
    assert stale["win_within_horizon"] < got["win_within_horizon"]


def test_forecast_run_rate_and_band(db: psycopg.Connection) -> None:
    """No open deals: the forecast is the run rate of deals created and won inside each of the three
    past windows (300 + 600 + 0) / 3, and the band holds it."""
    org = new_org(db)
    add_deal(db, org, created=T - timedelta(days=20), stage="closed_won", closed=T - timedelta(days=10), amount=300)
    add_deal(db, org, created=T - timedelta(days=50), stage="closed_won", closed=T - timedelta(days=40), amount=600)
    rows = db.execute("select period, open_deals, pipeline_expected, run_rate_expected, p10, p50, p90 "
                      "from api.forecast_revenue(%s, 2, 30, %s)", (org, T)).fetchall()
    assert [r[0] for r in rows] == [1, 2]
    period, open_deals, pipeline, run_rate, p10, p50, p90 = rows[0]
    assert (open_deals, float(pipeline), float(run_rate), float(p50)) == (0, 0.0, 300.0, 300.0)
    assert 0 <= p10 <= p50 <= p90 and p90 > p50


def test_forecast_weights_open_deals_by_their_chance(db: psycopg.Connection) -> None:
    org = new_org(db)
    for i in range(40):
        created = T - timedelta(days=200 + i)
        add_deal(db, org, created=created, stage="closed_won" if i % 2 else "closed_lost",
                 closed=created + timedelta(days=10, hours=1), amount=1000 if i % 2 else 0)
    add_deal(db, org, created=T - timedelta(days=5), amount=2000)
    row = db.execute("select open_deals, pipeline_expected, calibration from api.forecast_revenue(%s, 1, 30, %s)",
                     (org, T)).fetchone()
    assert row[0] == 1
    assert float(row[1]) == pytest.approx(2000 * 0.5 * row[2], rel=0.05)


def test_churn_risk_of_an_account_gone_quiet(db: psycopg.Connection) -> None:
    org = new_org(db)
    company = db.execute("insert into salesflow.companies (org_id, name) values (%s, 'Quiet GmbH') returning id",
                         (org,)).fetchone()[0]
    lead = db.execute("insert into salesflow.leads (org_id, first_name, company_id) values (%s, 'Ada', %s) "
                      "returning id", (org, company)).fetchone()[0]
    for days in (50, 60, 70, 80, 90, 100):
        db.execute("insert into salesflow.activities (org_id, lead_id, kind, direction, occurred_at) "
                   "values (%s, %s, 'call', 'outbound', %s)", (org, lead, T - timedelta(days=days)))
    add_deal(db, org, created=T - timedelta(days=90), stage="closed_lost", closed=T - timedelta(days=20),
             company=company)
    got = db.execute("select api.predict_account_churn(%s, %s, %s)", (org, company, T)).fetchone()[0]
    assert got["components"] == {"engagement_decline": 1.0, "silence": pytest.approx(50 / 90, abs=1e-4),
                                 "lost_share": 1.0}
    assert got["churn_risk"] == pytest.approx(0.4 + 0.4 * 50 / 90 + 0.2, abs=1e-4)
    assert got["traffic_light"] == "red"
    assert any("no touch for 50 days" in r for r in got["reasons"])
    active = db.execute("insert into salesflow.companies (org_id, name) values (%s, 'Busy AG') returning id",
                        (org,)).fetchone()[0]
    busy = db.execute("insert into salesflow.leads (org_id, first_name, company_id) values (%s, 'Bo', %s) "
                      "returning id", (org, active)).fetchone()[0]
    for days in (1, 5, 40):
        db.execute("insert into salesflow.activities (org_id, lead_id, kind, direction, occurred_at) "
                   "values (%s, %s, 'call', 'outbound', %s)", (org, busy, T - timedelta(days=days)))
    calm = db.execute("select api.predict_account_churn(%s, %s, %s)", (org, active, T)).fetchone()[0]
    assert calm["traffic_light"] == "green" and calm["churn_risk"] < got["churn_risk"]


def test_bad_input_gets_a_4xx_with_a_reason(db: psycopg.Connection, api: ApiProcess) -> None:
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        org = new_org(conn, slug=f"acme-{uuid.uuid4().hex[:6]}")
        user = uuid.uuid4()
        conn.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'owner')",
                     (org, user))
        deal = add_deal(conn, org, created=T)
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    rpc = f"{api.url}/rest/v1/rpc"
    bad = httpx.post(f"{rpc}/predict_deal", json={"org_id": str(org), "deal_id": str(deal), "horizon_days": 0},
                     headers=headers)
    assert bad.status_code == 400 and "horizon_days" in bad.json()["message"]
    missing = httpx.post(f"{rpc}/predict_deal", json={"org_id": str(org), "deal_id": str(uuid.uuid4())},
                         headers=headers)
    assert missing.status_code == 404
    periods = httpx.post(f"{rpc}/forecast_revenue", json={"org_id": str(org), "periods": 100}, headers=headers)
    assert periods.status_code == 400 and "periods" in periods.json()["message"]
    ok = httpx.post(f"{rpc}/forecast_revenue", json={"org_id": str(org)}, headers=headers)
    assert ok.status_code == 200 and len(ok.json()) == 3
    stranger = {"Authorization": f"Bearer {make_token(uuid.uuid4())}"}
    hidden = httpx.post(f"{rpc}/predict_deal", json={"org_id": str(org), "deal_id": str(deal)}, headers=stranger)
    assert hidden.status_code == 404


def test_prediction_endpoints_answer_as_the_caller(api: ApiProcess) -> None:
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        org = new_org(conn, slug=f"acme-{uuid.uuid4().hex[:6]}")
        user = uuid.uuid4()
        conn.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'rep')", (org, user))
        deal = add_deal(conn, org, created=T, stage="negotiation")
        company = conn.execute("insert into salesflow.companies (org_id, name) values (%s, 'X') returning id",
                               (org,)).fetchone()[0]
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    base = f"{api.url}/api/ai/predictions"
    got = httpx.get(f"{base}/deal/{deal}", params={"org_id": str(org)}, headers=headers)
    assert got.status_code == 200 and got.json()["win_probability"] == pytest.approx(0.6)
    churn = httpx.get(f"{base}/account/{company}/churn-risk", params={"org_id": str(org)}, headers=headers)
    assert churn.status_code == 200 and churn.json()["reasons"] == ["no recorded touch at all"]
    assert len(httpx.get(f"{base}/forecast", params={"org_id": str(org), "periods": 2}, headers=headers).json()) == 2
    assert httpx.get(f"{base}/deal/{deal}", headers=headers).status_code == 400  # no org_id
    assert httpx.get(f"{base}/deal/not-a-uuid", params={"org_id": str(org)}, headers=headers).status_code == 400
    other = {"Authorization": f"Bearer {make_token(uuid.uuid4())}"}
    assert httpx.get(f"{base}/deal/{deal}", params={"org_id": str(org)}, headers=other).status_code == 404


def test_predictions_are_stored_once_per_answer_audited_and_erased_with_the_lead(db: psycopg.Connection) -> None:
    """What predict_deal and predict_account_churn show is stored with its method version and inputs, once
    per distinct answer; the lead's AI decision audit lists both; erasing the lead removes its rows."""
    org = new_org(db)
    owner = uuid.uuid4()
    db.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'owner')", (org, owner))
    company = db.execute("insert into salesflow.companies (org_id, name) values (%s, 'Robo') returning id",
                         (org,)).fetchone()[0]
    lead = db.execute("insert into salesflow.leads (org_id, first_name, email, company_id) "
                      "values (%s, 'Ada', 'ada@example.com', %s) returning id", (org, company)).fetchone()[0]
    for i in range(30):
        created = T - timedelta(days=100 + i)
        add_deal(db, org, created=created, stage="closed_won" if i % 2 else "closed_lost",
                 closed=created + timedelta(days=10, hours=1), amount=1000 if i % 2 else 0)
    deal = add_deal(db, org, created=T - timedelta(days=5), company=company)
    db.execute("update salesflow.deals set lead_id = %s where id = %s", (lead, deal))
    db.commit()
    with acting_as(db, owner):
        first = db.execute("select api.predict_deal(%s, %s, as_of => %s)", (org, deal, T)).fetchone()[0]
        again = db.execute("select api.predict_deal(%s, %s, as_of => %s)", (org, deal, T)).fetchone()[0]
        later = db.execute("select api.predict_deal(%s, %s, as_of => %s)",
                           (org, deal, T + timedelta(days=3))).fetchone()[0]
        churn = db.execute("select api.predict_account_churn(%s, %s, %s)", (org, company, T)).fetchone()[0]
        audit = db.execute("select kind, decision_id, made_by, decision, inputs from api.get_ai_decision_audit(%s, %s) "
                           "where kind like 'prediction.%%'", (org, lead)).fetchall()
    # read again unchanged: the same row; three days older, the deal's answer changed: a new one
    assert again == first and isinstance(first["prediction_id"], int)
    assert later["prediction_id"] != first["prediction_id"]
    stored = db.execute("select kind, lead_id, method_version, source, requested_by, inputs ->> 'deal_id', as_of "
                        "from salesflow.predictions where org_id = %s and kind = 'deal' order by id", (org,)).fetchall()
    assert stored[0] == ("deal", lead, "life-table-1", "request", owner, str(deal), T)
    assert len(stored) == 2
    kinds = sorted((k, int(i)) for k, i, *_ in audit)
    assert kinds == sorted([("prediction.deal", first["prediction_id"]), ("prediction.deal", later["prediction_id"]),
                            ("prediction.account_churn", churn["prediction_id"])])
    deal_row = next(r for r in audit if int(r[1]) == first["prediction_id"])
    assert deal_row[2]["method_version"] == "life-table-1" and deal_row[2]["requested_by"] == str(owner)
    assert deal_row[3]["win_probability"] == first["win_probability"] and deal_row[4]["deal_id"] == str(deal)
    # the erasure reaches the rows tied to the lead (the account's churn risk is the company's, and stays)
    with acting_as(db, owner):
        erasure = db.execute("select id from api.erase_lead(%s, %s, 'art. 17 request')", (org, lead)).fetchone()[0]
    tally = db.execute("select salesflow.erase_lead_data(%s, %s)", (org, erasure)).fetchone()[0]
    assert tally["predictions"] == 2
    left = db.execute("select kind, count(*) from salesflow.predictions where org_id = %s group by kind",
                      (org,)).fetchall()
    assert left == [("account_churn", 1)]
