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
    kept = db.execute("select lead_id, channel, outbound, inbound, answered, reply_hours "
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
