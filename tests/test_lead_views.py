"""analytics.leads_scored and analytics.personality_insights: figures on a hand-checked case, read
through their tenant-checked RPCs, refreshed concurrently while a reader holds a snapshot."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from salesflow.functions.handlers import refresh_view
from tests.conftest import acting_as, run_handler
from tests.test_recommendations import one, org_with_lead


def rows(db: psycopg.Connection, user: uuid.UUID, query: str, params: Any) -> list[dict[str, Any]]:
    with acting_as(db, user):
        return db.cursor(row_factory=dict_row).execute(query, params).fetchall()


def refresh(db: psycopg.Connection, db_url: str) -> None:
    for view in ("leads_scored", "personality_insights"):
        run_handler(db, db_url, refresh_view.HANDLER, refresh_view.Payload(view=view))


def profile(db: psycopg.Connection, org: uuid.UUID, lead: uuid.UUID, d: float, i: float, s: float, g: float,
            age_days: int = 0) -> None:
    db.execute("insert into salesflow.personality_profiles (org_id, lead_id, d, i, s, g, confidence, source, "
               "created_at) values (%s, %s, %s, %s, %s, %s, 0.5, 'ai', now() - make_interval(days => %s))",
               (org, lead, d, i, s, g, age_days))


def test_scored_leads_and_personality_insights_on_a_hand_checked_case(db: psycopg.Connection, db_url: str) -> None:
    org, rep, ada = org_with_lead(db)
    with acting_as(db, rep):
        made = [one(db, "select id from api.create_lead(%s, first_name => %s)", (org, n)) for n in "BCDE"]
    b, c, d, e = made
    # one BANT history, DISG profiles (ada's latest is I, after an older D)
    db.execute("insert into salesflow.bant_assessments (org_id, lead_id, budget, authority, need, timeline, "
               "assessed_at) values (%s, %s, 1, 1, 1, 1, now() - interval '9 days'), "
               "(%s, %s, 3, 3, 3, 1, now() - interval '1 day')", (org, ada, org, ada))
    db.execute("insert into salesflow.bant_assessments (org_id, lead_id, budget, authority, need, timeline, method, "
               "status) values (%s, %s, 0, 0, 0, 0, 'ai', 'proposed')", (org, ada))  # not accepted: ignored
    profile(db, org, ada, 0.9, 0.1, 0.1, 0.1, age_days=30)
    profile(db, org, ada, 0.1, 0.9, 0.1, 0.1)
    profile(db, org, b, 0.1, 0.8, 0.2, 0.1)
    profile(db, org, c, 0.1, 0.1, 0.1, 0.7)
    db.commit()
    # ada becomes a customer after 10 days; b is disqualified; c wins a deal; d and e stay open
    db.execute("update salesflow.leads set created_at = now() - interval '10 days' where id = %s", (ada,))
    with acting_as(db, rep):
        db.execute("select api.update_lead(%s, %s, '{\"lifecycle_stage\": \"customer\"}')", (org, ada))
        db.execute("select api.update_lead(%s, %s, '{\"lifecycle_stage\": \"disqualified\"}')", (org, b))
        deal = one(db, "select id from api.create_deal(%s, 'Robots', lead_id => %s)", (org, c))
        db.execute("select api.update_deal(%s, %s, %s)", (org, deal, Jsonb({"stage": "closed_won"})))
        db.execute("select api.create_activity(%s, 'call', lead_id => %s, direction => 'outbound')", (org, d))
    # the scoring triggers keep a (prior) score for every lead; set two of them by hand
    for lead, score in ((ada, 80), (b, 30)):
        db.execute("update salesflow.lead_scores set probability = %s, score = %s, trend = 'up' "
                   "where org_id = %s and lead_id = %s", (score / 100, score, org, lead))
    refresh(db, db_url)

    leads = {r["lead_id"]: r for r in rows(db, rep, "select * from api.get_scored_leads(%s)", (org,))}
    assert set(leads) == {ada, b, c, d, e}
    a = leads[ada]
    assert (a["score"], a["trend"], a["bant_total"], a["bant_traffic_light"], a["bant_timeline"]) == (80, "up", 10,
                                                                                                      "green", 1)
    assert (a["disg_type"], a["lifecycle_stage"]) == ("I", "customer")
    assert a["traffic_light"] in ("green", "yellow", "red") and a["health_score"] is not None
    assert (leads[e]["bant_total"], leads[e]["disg_type"]) == (None, None)
    assert leads[d]["last_touch_at"] is not None and leads[e]["last_touch_at"] is None
    # filters: by traffic light and by owner; a bad traffic light is a clear 22023
    light = a["traffic_light"]
    assert ada in {r["lead_id"] for r in rows(db, rep, "select * from api.get_scored_leads(%s, light => %s)",
                                              (org, light))}
    assert all(r["traffic_light"] == light for r in rows(
        db, rep, "select * from api.get_scored_leads(%s, light => %s)", (org, light)))
    assert rows(db, rep, "select * from api.get_scored_leads(%s, owned_by => %s)", (org, uuid.uuid4())) == []
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="green, yellow or red"), acting_as(db, rep):
        db.execute("select * from api.get_scored_leads(%s, light => 'purple')", (org,))
    db.rollback()

    insights = {r["disg_type"]: r for r in rows(db, rep, "select * from api.get_personality_insights(%s)", (org,))}
    assert set(insights) == {"I", "G", "none"}
    # I: ada converted, b lost: 1 of 2; ada's cycle 10 days
    i = insights["I"]
    assert (i["leads"], i["converted"], i["lost"], i["conversion_rate"]) == (2, 1, 1, 0.5)
    assert i["median_cycle_days"] == pytest.approx(10, abs=0.01)
    g = insights["G"]
    assert (g["leads"], g["converted"], g["lost"], g["conversion_rate"]) == (1, 1, 0, 1.0)
    assert g["median_cycle_days"] == pytest.approx(0, abs=0.01)  # won the day it was created
    none = insights["none"]
    assert (none["leads"], none["converted"], none["lost"], none["conversion_rate"]) == (2, 0, 0, None)
    # a stranger, and a member of another organisation, read nothing
    other_org, other_rep, _ = org_with_lead(db)
    assert rows(db, uuid.uuid4(), "select * from api.get_scored_leads(%s)", (org,)) == []
    assert rows(db, other_rep, "select * from api.get_personality_insights(%s)", (org,)) == []
    assert {r["lead_id"] for r in rows(db, other_rep, "select * from api.get_scored_leads(%s)", (other_org,))} \
        .isdisjoint(leads)


def test_lead_views_refresh_concurrently_while_being_read(db: psycopg.Connection, db_url: str) -> None:
    org, rep, lead = org_with_lead(db)
    profile(db, org, lead, 0.8, 0.1, 0.1, 0.1)
    db.commit()
    refresh(db, db_url)  # the first refresh fills them (plain); the next ones are concurrent
    reader = psycopg.connect(db_url)
    try:
        reader.execute("begin isolation level repeatable read")
        assert one(reader, "select disg_type from analytics.leads_scored where lead_id = %s", (lead,)) == "D"
        assert one(reader, "select leads from analytics.personality_insights where org_id = %s", (org,)) == 1
        profile(db, org, lead, 0.1, 0.1, 0.8, 0.1)
        with acting_as(db, rep):
            db.execute("select api.create_lead(%s, first_name => 'Bo')", (org,))
        db.commit()
        done = threading.Event()

        def run() -> None:
            with psycopg.connect(db_url) as conn:
                refresh(conn, db_url)
            done.set()

        t = threading.Thread(target=run)
        t.start()
        t.join(30)
        assert done.is_set()  # the refresh did not wait for the open reader
        # the reader's snapshot is unharmed; a new one sees the refreshed rows
        assert one(reader, "select disg_type from analytics.leads_scored where lead_id = %s", (lead,)) == "D"
        assert one(reader, "select count(*) from analytics.leads_scored where org_id = %s", (org,)) == 1
    finally:
        reader.close()
    assert one(db, "select disg_type from analytics.leads_scored where lead_id = %s", (lead,)) == "S"
    assert dict(db.execute("select disg_type, leads from analytics.personality_insights where org_id = %s",
                           (org,)).fetchall()) == {"S": 1, "none": 1}
    # app roles cannot read the views directly
    with pytest.raises(psycopg.errors.InsufficientPrivilege), acting_as(db, rep):
        db.execute("select count(*) from analytics.leads_scored")
