"""salesflow.lead_channel_stats, kept by the touch triggers, and the channel performance view built
on it: a hand-checked case, out-of-order inserts, updates that move a touch, deletes, erasure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from salesflow.functions.handlers import refresh_view
from tests.conftest import acting_as, run_handler
from tests.test_recommendations import one, org_with_lead

T0 = datetime(2026, 6, 2, 9, tzinfo=UTC)


def message(db: psycopg.Connection, org: uuid.UUID, lead: uuid.UUID, channel: str, direction: str,
            hours: float) -> uuid.UUID:
    return one(db, "insert into salesflow.messages (org_id, lead_id, channel, direction, body, sent_at) "
                   "values (%s, %s, %s, %s, 'x', %s) returning id",
               (org, lead, channel, direction, T0 + timedelta(hours=hours)))


def performance(db: psycopg.Connection, db_url: str, rep: uuid.UUID, org: uuid.UUID) -> dict[str, dict[str, Any]]:
    run_handler(db, db_url, refresh_view.HANDLER, refresh_view.Payload(view="channel_performance_metrics"))
    with acting_as(db, rep):
        return {r["channel"]: r for r in db.cursor(row_factory=dict_row).execute(
            "select * from api.get_channel_performance(%s)", (org,))}


def from_scratch_equals_kept(db: psycopg.Connection, org: uuid.UUID) -> None:
    kept = db.execute("select lead_id, channel, outbound, inbound, answered, reply_hours, last_at, last_direction "
                      "from salesflow.lead_channel_stats where org_id = %s order by 1, 2", (org,)).fetchall()
    fresh = db.execute("select * from salesflow.lead_channel_touch_stats(%s) order by 1, 2", (org,)).fetchall()
    assert kept == fresh


def test_channel_performance_on_a_hand_checked_case_kept_by_the_triggers(db: psycopg.Connection,
                                                                        db_url: str) -> None:
    org, rep, ada = org_with_lead(db)
    with acting_as(db, rep):
        bob = one(db, "select id from api.create_lead(%s, first_name => 'Bob')", (org,))
    # ada by email: out, in after 2 h (answered), out again (not yet answered)
    message(db, org, ada, "email", "outbound", 0)
    message(db, org, ada, "email", "inbound", 2)
    message(db, org, ada, "email", "outbound", 3)
    # bob by phone (activities): a call out, his call back after 4 h; bob becomes a customer
    with acting_as(db, rep):
        for direction, hours in (("outbound", 0), ("inbound", 4)):
            db.execute("select api.create_activity(%s, 'call', lead_id => %s, direction => %s, occurred_at => %s)",
                       (org, bob, direction, T0 + timedelta(hours=hours)))
        db.execute("select api.update_lead(%s, %s, '{\"lifecycle_stage\": \"customer\"}')", (org, bob))
    db.commit()
    from_scratch_equals_kept(db, org)
    got = performance(db, db_url, rep, org)
    email, phone = got["email"], got["phone"]
    assert (email["outbound"], email["inbound"], email["answered"], email["response_rate"]) == (2, 1, 1, 0.5)
    assert email["median_reply_hours"] == pytest.approx(2.0)
    assert (email["leads_touched"], email["converted_leads_touched"]) == (1, 0)
    assert (phone["outbound"], phone["inbound"], phone["answered"], phone["median_reply_hours"]) == (1, 1, 1, 4.0)
    assert (phone["converted_leads_touched"], phone["share_of_conversions"]) == (1, 1.0)

    # a reply that arrives late but is dated earlier than the others still orders by time: ada's
    # second email is answered after one hour
    late = message(db, org, ada, "email", "inbound", 4)
    db.commit()
    email = performance(db, db_url, rep, org)["email"]
    assert (email["answered"], email["median_reply_hours"]) == (2, pytest.approx(1.5))
    # moving that reply to bob changes both leads' stats
    db.execute("update salesflow.messages set lead_id = %s where id = %s", (bob, late))
    db.commit()
    from_scratch_equals_kept(db, org)
    email = performance(db, db_url, rep, org)["email"]
    assert (email["inbound"], email["answered"], email["leads_touched"]) == (2, 1, 2)
    # deleting it takes it out again
    db.execute("delete from salesflow.messages where id = %s", (late,))
    db.commit()
    from_scratch_equals_kept(db, org)
    assert performance(db, db_url, rep, org)["email"]["leads_touched"] == 1
    # bulk: a multi-row insert over both leads in one statement
    db.execute("insert into salesflow.messages (org_id, lead_id, channel, direction, body, sent_at) "
               "select %s, l, 'whatsapp', d::salesflow.direction, 'y', %s + make_interval(hours => h) "
               "from unnest(%s::uuid[]) as l, (values ('outbound', 1), ('inbound', 5)) as v (d, h)",
               (org, T0, [ada, bob]))
    db.commit()
    from_scratch_equals_kept(db, org)
    whatsapp = performance(db, db_url, rep, org)["whatsapp"]
    assert (whatsapp["answered"], whatsapp["median_reply_hours"], whatsapp["leads_touched"]) == (2, 4.0, 2)
    # erasing a lead takes its stats with it
    db.execute("delete from salesflow.leads where id = %s", (bob,))
    db.commit()
    assert one(db, "select count(*) from salesflow.lead_channel_stats where lead_id = %s", (bob,)) == 0
    from_scratch_equals_kept(db, org)


def test_appended_touches_update_in_place_and_anything_else_is_recomputed(db: psycopg.Connection) -> None:
    org, rep, ada = org_with_lead(db)
    with acting_as(db, rep):
        bob = one(db, "select id from api.create_lead(%s, first_name => 'Bob')", (org,))
    for lead in (ada, bob):
        message(db, org, lead, "email", "outbound", 0)
        message(db, org, lead, "email", "inbound", 2)
        message(db, org, lead, "email", "outbound", 3)
    db.commit()
    from_scratch_equals_kept(db, org)
    # plant an offset in both rows: the in-place path keeps it (it only adds), a recompute drops it
    db.execute("update salesflow.lead_channel_stats set outbound = outbound + 100 where org_id = %s", (org,))
    db.commit()

    def outbound(lead: uuid.UUID) -> int:
        return one(db, "select outbound from salesflow.lead_channel_stats where lead_id = %s and channel = 'email'",
                   (lead,))

    # one statement: ada's reply comes after her latest touch (appended), bob's is dated before his
    # latest (recomputed); ada's kept latest touch (outbound at 3 h) is answered by the new one
    db.execute("insert into salesflow.messages (org_id, lead_id, channel, direction, body, sent_at) values "
               "(%s, %s, 'email', 'inbound', 'x', %s), (%s, %s, 'email', 'inbound', 'x', %s)",
               (org, ada, T0 + timedelta(hours=5), org, bob, T0 + timedelta(hours=1)))
    db.commit()
    assert outbound(ada) == 102 and outbound(bob) == 2
    ada_row = db.execute("select inbound, answered, reply_hours, last_at, last_direction "
                         "from salesflow.lead_channel_stats where lead_id = %s and channel = 'email'",
                         (ada,)).fetchone()
    assert ada_row == (2, 2, [2.0, 2.0], T0 + timedelta(hours=5), "inbound")
    # two touches of one lead tied in time, and a touch tied with the kept latest: recomputed
    db.execute("update salesflow.lead_channel_stats set outbound = outbound + 100 where org_id = %s", (org,))
    db.commit()
    db.execute("insert into salesflow.messages (org_id, lead_id, channel, direction, body, sent_at) values "
               "(%s, %s, 'email', 'outbound', 'x', %s), (%s, %s, 'email', 'inbound', 'x', %s), "
               "(%s, %s, 'email', 'outbound', 'x', %s)",
               (org, ada, T0 + timedelta(hours=6), org, ada, T0 + timedelta(hours=6),
                org, bob, T0 + timedelta(hours=3)))
    db.commit()
    assert outbound(ada) == 3 and outbound(bob) == 3
    # a row with no latest touch kept (as rows from before migration 0026 are) is recomputed
    db.execute("update salesflow.lead_channel_stats set outbound = outbound + 100, last_at = null "
               "where lead_id = %s", (ada,))
    db.commit()
    with acting_as(db, rep):  # and activities take the same path, channel phone for calls
        for lead in (ada, bob):
            db.execute("select api.create_activity(%s, 'call', lead_id => %s, direction => 'outbound', "
                       "occurred_at => %s)", (org, lead, T0 + timedelta(hours=7)))
    db.commit()
    assert outbound(ada) == 3
    message(db, org, ada, "email", "outbound", 8)
    db.commit()
    from_scratch_equals_kept(db, org)
