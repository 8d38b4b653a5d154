"""Best contact windows on planted histories, success-pattern mining on a hand-checked case,
playbooks recommending their next step, and the analytics views refreshing concurrently while read."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from salesflow.functions.handlers import mine_success_patterns, refresh_view
from salesflow.functions.handlers.mine_success_patterns import Case, mine
from tests.conftest import acting_as, run_handler
from tests.test_recommendations import live, one, org_with_lead

MONDAY = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday


def windows(db: psycopg.Connection, user: uuid.UUID, org: uuid.UUID, lead: uuid.UUID) -> list[dict[str, Any]]:
    with acting_as(db, user):
        return db.cursor(row_factory=dict_row).execute(
            "select * from api.get_best_contact_window(%s, %s)", (org, lead)).fetchall()


def plant(db: psycopg.Connection, org: uuid.UUID, lead: uuid.UUID, times: list[datetime]) -> None:
    for at in times:
        db.execute("insert into salesflow.messages (org_id, lead_id, channel, direction, body, sent_at) "
                   "values (%s, %s, 'email', 'inbound', 'hi', %s)", (org, lead, at))
    db.commit()


def test_a_lead_answering_on_tuesday_mornings_berlin_time_gets_that_window(db: psycopg.Connection) -> None:
    org, rep, lead = org_with_lead(db, phone="+49 30 1234567")
    # Tuesdays 08:xx UTC = 10:xx in Berlin (summer time), eight weeks running
    plant(db, org, lead, [MONDAY + timedelta(days=1 + 7 * w, hours=8, minutes=5 * w) for w in range(8)])
    top = windows(db, rep, org, lead)
    assert [(w["rank"], w["day_of_week"], w["hour"]) for w in top][0] == (1, 2, 10)
    assert top[0]["label"] == "Tue 10:00–11:00" and top[0]["timezone"] == "Europe/Berlin"
    assert top[0]["timezone_source"] == "phone" and top[0]["lead_responses"] == 8
    assert top[0]["confidence"] == pytest.approx(8 / 13)
    # an explicit time zone attribute wins over the phone
    db.execute("update salesflow.leads set attributes = '{\"timezone\": \"America/New_York\"}' where id = %s", (lead,))
    db.commit()
    top = windows(db, rep, org, lead)
    assert (top[0]["day_of_week"], top[0]["hour"], top[0]["timezone_source"]) == (2, 4, "attribute")


def test_a_thin_history_is_shrunk_toward_the_organisations_pattern(db: psycopg.Connection) -> None:
    org, rep, lead = org_with_lead(db)
    db.execute("update salesflow.organizations set settings = '{\"timezone\": \"Europe/Vienna\"}' where id = %s",
               (org,))
    with acting_as(db, rep):
        others = [one(db, "select id from api.create_lead(%s, first_name => %s)", (org, f"L{i}")) for i in range(20)]
    # everyone else answers on Thursdays 14:xx Vienna (12:xx UTC); our lead once, on a Monday at 07:xx
    for i, other in enumerate(others):
        plant(db, org, other, [MONDAY + timedelta(days=3 + 7 * (i % 4), hours=12)])
    plant(db, org, lead, [MONDAY + timedelta(hours=5)])
    empty = windows(db, rep, org, lead)
    # before the pattern is computed the prior is flat, so the lead's one answer leads
    assert (empty[0]["day_of_week"], empty[0]["hour"], empty[0]["timezone_source"]) == (1, 7, "organization")
    assert one(db, "select salesflow.refresh_contact_patterns(%s)", (org,)) > 0
    db.commit()
    top = windows(db, rep, org, lead)
    assert [(w["day_of_week"], w["hour"]) for w in top[:2]] == [(4, 14), (1, 7)]
    assert top[0]["confidence"] == pytest.approx(1 / 6)
    # a stranger asks for it: nothing
    assert windows(db, uuid.uuid4(), org, lead) == []


def test_mining_finds_the_hand_checked_patterns() -> None:
    t0 = MONDAY
    won = [Case(True, t0, t0 + timedelta(days=10), [(t0 + timedelta(hours=2), "email:outbound"),
                                                    (t0 + timedelta(days=2), "call:outbound"),
                                                    (t0 + timedelta(days=5), "meeting:outbound")]) for _ in range(3)]
    lost = [Case(False, t0, t0 + timedelta(days=20), [(t0 + timedelta(days=3), "email:outbound")]) for _ in range(3)]
    found = {p.key: p for p in mine(won + lost, min_cases=2)}
    # base rate 3/6; every won case called, no lost one did: support 3/6, confidence 1, lift 2
    call = found["has:call:outbound"]
    assert (call.support, call.confidence, call.lift, call.cases, call.successes) == (0.5, 1.0, 2.0, 3, 3)
    assert call.median_days == 10
    email = found["has:email:outbound"]
    assert (email.support, email.confidence, email.lift) == (1.0, 0.5, 1.0)
    assert found["seq:email:outbound -> call:outbound"].lift == 2.0
    assert found["timing:first_outbound_within_1d"].cases == 3  # the lost ones wrote after three days
    assert "timing:5_or_more_touches" not in found
    assert list(found)[0] in {"has:call:outbound", "has:meeting:outbound", "seq:email:outbound -> call:outbound",
                              "seq:email:outbound -> meeting:outbound", "seq:call:outbound -> meeting:outbound",
                              "timing:first_outbound_within_1d", "timing:2_or_more_channels"}


def test_the_mining_job_stores_patterns_for_won_and_lost_deals(db: psycopg.Connection, db_url: str) -> None:
    org, rep, _ = org_with_lead(db)
    for i in range(6):
        with acting_as(db, rep):
            lead = one(db, "select id from api.create_lead(%s, first_name => %s)", (org, f"L{i}"))
            deal = one(db, "select id from api.create_deal(%s, 'Deal', lead_id => %s)", (org, lead))
            db.execute("select api.create_activity(%s, 'email', lead_id => %s, direction => 'outbound', "
                       "occurred_at => now() - interval '3 days')", (org, lead))
            if i < 3:
                db.execute("select api.create_activity(%s, 'call', lead_id => %s, direction => 'outbound', "
                           "occurred_at => now() - interval '2 days')", (org, lead))
            db.execute("select api.update_deal(%s, %s, %s)", (org, deal, psycopg.types.json.Jsonb(
                {"stage": "closed_won" if i < 3 else "closed_lost"})))
    run_handler(db, db_url, mine_success_patterns.HANDLER, mine_success_patterns.Payload(min_cases=2), job_id=7,
                org_id=org)
    run_handler(db, db_url, mine_success_patterns.HANDLER, mine_success_patterns.Payload(min_cases=2), job_id=8,
                org_id=org)  # a rerun replaces, never duplicates
    with acting_as(db, rep):
        rows = db.cursor(row_factory=dict_row).execute(
            "select * from api.list_success_patterns(%s, 'deal_won')", (org,)).fetchall()
    by_key = {r["pattern_key"]: r for r in rows}
    assert (by_key["has:call:outbound"]["lift"], by_key["has:call:outbound"]["cases"]) == (2.0, 3)
    assert by_key["has:email:outbound"]["confidence"] == 0.5
    assert len(rows) == len(by_key)
    # a playbook proposed from the pair pattern: its two outbound touches, in order
    owner = one(db, "select user_id from salesflow.org_members where org_id = %s and role = 'owner'", (org,))
    with acting_as(db, owner):
        made = db.execute("select * from api.propose_playbook_from_pattern(%s, 'deal_won', "
                          "'seq:email:outbound -> call:outbound')", (org,)).fetchone()
        with pytest.raises(psycopg.Error) as err, db.transaction():
            db.execute("select api.propose_playbook_from_pattern(%s, 'deal_won', 'timing:2_or_more_channels')", (org,))
        assert err.value.sqlstate in ("22023", "PT404")
    steps = db.execute("select position, action_type::text, channel::text, wait from salesflow.playbook_steps "
                       "where playbook_id = %s order by position", (made[0],)).fetchall()
    assert [s[:3] for s in steps] == [(1, "email", "email"), (2, "call", "phone")]
    assert one(db, "select pattern_id is not null from salesflow.playbooks where id = %s", (made[0],))


def test_finishing_a_playbook_step_recommends_the_next(db: psycopg.Connection) -> None:
    org, rep, lead = org_with_lead(db)
    owner = one(db, "select user_id from salesflow.org_members where org_id = %s and role = 'owner'", (org,))
    steps = [{"action_type": "email", "title": "Intro email", "channel": "email"},
             {"action_type": "call", "title": "Follow-up call", "channel": "phone", "wait_days": 2},
             {"action_type": "meeting", "title": "Demo"}]
    with acting_as(db, owner):
        playbook = one(db, "select playbook_id from api.create_playbook(%s, 'Inbound', %s)",
                       (org, psycopg.types.json.Jsonb(steps)))
        with pytest.raises(psycopg.Error) as err, db.transaction():
            db.execute("select api.create_playbook(%s, 'Bad', '[{\"title\": \"x\"}]')", (org,))
        assert err.value.sqlstate == "22023"
    with acting_as(db, rep):
        execution = one(db, "select execution_id from api.start_playbook(%s, %s, %s)", (org, playbook, lead))
    step = lambda: [(r["action_type"], r["status"]) for r in live(db, org) if r["source"] == "playbook"]  # noqa: E731
    assert step() == [("email", "open")]
    # done through the recommendation: the step is finished and the next is recommended, due in two days
    rec = next(r for r in live(db, org) if r["source"] == "playbook")
    with acting_as(db, rep):
        db.execute("select api.react_to_recommendation(%s, %s, 'done')", (org, rec["id"]))
    assert step() == [("email", "done"), ("call", "open")]
    call = next(r for r in live(db, org) if r["action_type"] == "call" and r["source"] == "playbook")
    assert call["due_at"] - call["created_at"] == timedelta(days=2)
    with acting_as(db, rep):
        db.execute("select api.finish_playbook_step(%s, %s, 'skipped')", (org, execution))
        progress = db.execute("select step, status from api.get_playbook_execution(%s, %s, now() + interval '1 day')",
                              (org, execution)).fetchall()
    assert progress == [(1, "done"), (2, "skipped"), (3, "overdue")]
    assert step() == [("email", "done"), ("call", "dismissed"), ("meeting", "open")]
    with acting_as(db, rep):
        last = db.execute("select * from api.finish_playbook_step(%s, %s)", (org, execution)).fetchone()
    assert last[1:] == (None, "completed")


def test_views_refresh_concurrently_while_being_read(db: psycopg.Connection, db_url: str) -> None:
    org, rep, lead = org_with_lead(db)
    one(db, "select salesflow.evaluate_recommendations(%s, %s)", (org, [lead]))
    owner = one(db, "select user_id from salesflow.org_members where org_id = %s and role = 'owner'", (org,))
    db.commit()
    for view in ("conversion_microsteps", "channel_performance_metrics"):
        run_handler(db, db_url, refresh_view.HANDLER, refresh_view.Payload(view=view))
    with acting_as(db, rep):
        assert [r[0] for r in db.execute("select rule_key from api.get_followups(%s)", (org,))] == ["first_touch"]
        funnel = db.execute("select from_stage::text, to_stage, leads from api.get_conversion_funnel(%s)",
                            (org,)).fetchall()
    assert funnel == [("lead", "(not yet)", 1)]
    # a reader holds a snapshot open on the view; the concurrent refresh neither waits for it nor blocks it
    reader = psycopg.connect(db_url)
    try:
        reader.execute("begin isolation level repeatable read")
        assert one(reader, "select count(*) from analytics.conversion_microsteps where org_id = %s", (org,)) == 1
        with acting_as(db, rep):
            db.execute("select api.update_lead(%s, %s, '{\"lifecycle_stage\": \"mql\"}')", (org, lead))
        done = threading.Event()

        def refresh() -> None:
            with psycopg.connect(db_url, autocommit=True) as conn:
                conn.execute("refresh materialized view concurrently analytics.conversion_microsteps")
                conn.execute("refresh materialized view concurrently analytics.channel_performance_metrics")
            done.set()

        t = threading.Thread(target=refresh)
        t.start()
        t.join(30)
        assert done.is_set()
        # its snapshot, unharmed
        assert one(reader, "select count(*) from analytics.conversion_microsteps where org_id = %s", (org,)) == 1
    finally:
        reader.close()
    with acting_as(db, rep):
        funnel = db.execute("select from_stage::text, to_stage from api.get_conversion_funnel(%s) order by 1",
                            (org,)).fetchall()
    assert funnel == [("lead", "mql"), ("mql", "(not yet)")]
    # followups_scored is a plain view: a dismissal leaves it at once, no refresh needed
    item = one(db, "select id from analytics.followups_scored where org_id = %s", (org,))
    with acting_as(db, rep):
        db.execute("select api.react_to_recommendation(%s, %s, 'dismissed')", (org, item))
        assert db.execute("select * from api.get_followups(%s)", (org,)).fetchall() == []
    # on demand: owners and admins queue the refreshes, reps may not
    with acting_as(db, owner):
        queued = db.execute("select view_name from api.refresh_views(%s)", (org,)).fetchall()
    # followups_scored is a plain view (always current): nothing to refresh
    assert sorted(v for (v,) in queued) == ["channel_performance_metrics", "conversion_microsteps", "leads_scored",
                                            "personality_insights"]
    with pytest.raises(psycopg.errors.InsufficientPrivilege), acting_as(db, rep):
        db.execute("select api.refresh_views(%s)", (org,))
    db.rollback()
    # app roles cannot read the views directly
    with pytest.raises(psycopg.errors.InsufficientPrivilege), acting_as(db, rep):
        db.execute("select count(*) from analytics.followups_scored")
