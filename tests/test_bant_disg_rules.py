"""BANT-gap and personality-profiling recommendations: rules as data that fire from the lead
intelligence tables' events (statement triggers, in the writer's transaction), and not otherwise."""

from __future__ import annotations

import uuid
from datetime import timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.conftest import acting_as
from tests.test_recommendations import evaluate, jobs_for, live, now, one, org_with_lead


def open_items(db: psycopg.Connection, org: uuid.UUID, prefix: str) -> list[tuple[str, str]]:
    """(reason_key, action_type) of the live items whose rule key starts with prefix."""
    return sorted((r["reason_key"], r["action_type"]) for r in live(db, org)
                  if r["status"] == "open" and (r["rule_key"] or "").startswith(prefix))


def assess(db: psycopg.Connection, rep: uuid.UUID, org: uuid.UUID, lead: uuid.UUID, b: int, a: int, n: int,
           t: int) -> None:
    with acting_as(db, rep):
        db.execute("select api.assess_bant(%s, %s, %s::smallint, %s::smallint, %s::smallint, %s::smallint)",
                   (org, lead, b, a, n, t))
    db.commit()


def test_bant_gaps_fire_from_stage_deal_and_assessment_events_and_not_otherwise(db: psycopg.Connection) -> None:
    org, rep, lead = org_with_lead(db)
    evaluate(db, org, [lead])
    assert open_items(db, org, "bant") == []  # a plain lead, no deal: too early to qualify
    # an open deal makes the gap matter
    with acting_as(db, rep):
        deal = one(db, "select id from api.create_deal(%s, 'Robots', lead_id => %s)", (org, lead))
    evaluate(db, org, [lead])
    assert open_items(db, org, "bant") == [("bant_assess", "assess_bant")]
    item = next(r for r in live(db, org) if r["rule_key"] == "bant_assess")
    assert "no BANT assessment" in item["reason"] and item["rule_version"] == 1
    # recording an assessment enqueues the lead's re-evaluation in the same transaction
    db.execute("delete from salesflow.jobs")
    db.commit()
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction():
        with acting_as(db, rep):
            db.execute("select api.assess_bant(%s, %s, 3::smallint, 1::smallint, 2::smallint, 0::smallint)",
                       (org, lead))
        assert jobs_for(db, org) == [[str(lead)]]
        db.execute("insert into salesflow.bant_assessments (org_id, lead_id, budget, authority, need, timeline) "
                   "values (%s, %s, 9, 0, 0, 0)", (org, lead))
    assert jobs_for(db, org) == []
    assess(db, rep, org, lead, 3, 1, 2, 0)
    assert jobs_for(db, org) == [[str(lead)]]
    evaluate(db, org, [lead])
    # the gap is closed by the assessment; the weakest dimension (timeline, 0 of 3) is what to act on
    assert open_items(db, org, "bant") == [("bant_weakest:timeline", "call")]
    gone = next(r for r in live(db, org) if r["rule_key"] == "bant_assess")
    assert (gone["status"], gone["closed_reason"]) == ("done", "condition_cleared")
    weakest = next(r for r in live(db, org) if r["reason_key"] == "bant_weakest:timeline")
    assert "agree on a decision date" in weakest["reason"]
    assert weakest["evidence"][0]["table"] == "bant_assessments"
    # a reassessment moves the gap: authority (1) is now the weakest, a meeting with the decision maker
    assess(db, rep, org, lead, 3, 1, 2, 3)
    evaluate(db, org, [lead])
    assert open_items(db, org, "bant") == [("bant_weakest:authority", "meeting")]
    # budget ties authority at 1: budget goes first
    assess(db, rep, org, lead, 1, 1, 3, 3)
    evaluate(db, org, [lead])
    assert open_items(db, org, "bant") == [("bant_weakest:budget", "send_content")]
    # nothing weak: nothing to do
    assess(db, rep, org, lead, 2, 2, 3, 3)
    evaluate(db, org, [lead])
    assert open_items(db, org, "bant") == []
    # an AI proposal does not count until accepted
    db.execute("insert into salesflow.bant_assessments (org_id, lead_id, budget, authority, need, timeline, method, "
               "status, assessed_at) values (%s, %s, 0, 0, 0, 0, 'ai', 'proposed', now() + interval '1 minute')",
               (org, lead))
    db.commit()
    evaluate(db, org, [lead], now(db) + timedelta(minutes=2))
    assert open_items(db, org, "bant") == []
    # sixty days later the assessment is stale: the sweep finds it without any new event
    later = now(db) + timedelta(days=61)
    one(db, "select salesflow.sweep_recommendations(%s)", (later,))
    db.commit()
    assert ("bant_assess", "assess_bant") in open_items(db, org, "bant")
    stale = next(r for r in live(db, org) if r["rule_key"] == "bant_assess" and r["status"] == "open")
    assert "assess it again" in stale["reason"]
    # a closed deal and a customer stage: no gap to fill
    with acting_as(db, rep):
        db.execute("select api.update_deal(%s, %s, %s)", (org, deal, Jsonb({"stage": "closed_won"})))
        db.execute("select api.update_lead(%s, %s, '{\"lifecycle_stage\": \"customer\"}')", (org, lead))
    evaluate(db, org, [lead], later)
    assert open_items(db, org, "bant") == []


def test_a_stage_from_the_rules_params_fires_and_an_override_changes_it(db: psycopg.Connection) -> None:
    org, rep, lead = org_with_lead(db)
    owner = one(db, "select user_id from salesflow.org_members where org_id = %s and role = 'owner'", (org,))
    with acting_as(db, rep):
        db.execute("select api.update_lead(%s, %s, '{\"lifecycle_stage\": \"sql\"}')", (org, lead))
    evaluate(db, org, [lead])
    assert open_items(db, org, "bant") == [("bant_assess", "assess_bant")]
    # the organisation qualifies only opportunities: its own version stops the rule for an SQL lead
    with acting_as(db, owner):
        db.execute("select * from api.update_recommendation_rule(%s, 'bant_assess', %s)",
                   (org, Jsonb({"params": {"stages": ["opportunity"]}})))
    evaluate(db, org, [lead])
    assert open_items(db, org, "bant") == []
    # an override naming an action that does not exist falls back to a call instead of failing
    assess(db, rep, org, lead, 0, 3, 3, 3)
    with acting_as(db, owner):
        db.execute("select * from api.update_recommendation_rule(%s, 'bant_weakest', %s)",
                   (org, Jsonb({"params": {"actions": {"budget": "telepathy"}}})))
    evaluate(db, org, [lead])
    assert open_items(db, org, "bant") == [("bant_weakest:budget", "call")]


def test_profiling_is_suggested_once_the_lead_has_written_enough_and_not_again_after_a_profile(
    db: psycopg.Connection,
) -> None:
    org, rep, lead = org_with_lead(db)

    def write(n: int) -> None:
        for _ in range(n):
            with acting_as(db, rep):
                db.execute("select api.create_message(%s, %s, 'email', 'inbound', 'Noted, thanks')", (org, lead))
        db.commit()

    write(2)
    evaluate(db, org, [lead])
    assert open_items(db, org, "profile") == []  # two messages are too few to read a personality
    db.execute("delete from salesflow.jobs")
    db.commit()
    write(1)
    assert jobs_for(db, org) == [[str(lead)]]  # the message trigger re-evaluates the lead
    evaluate(db, org, [lead])
    assert open_items(db, org, "profile") == [("profile_personality", "profile_personality")]
    item = next(r for r in live(db, org) if r["rule_key"] == "profile_personality")
    assert "3 messages" in item["reason"]
    # storing a profile (what the profiling job does) enqueues the lead and clears the item
    db.execute("delete from salesflow.jobs")
    db.execute("insert into salesflow.personality_profiles (org_id, lead_id, d, i, s, g, confidence, source) "
               "values (%s, %s, 0.7, 0.2, 0.1, 0.3, 0.6, 'ai')", (org, lead))
    db.commit()
    assert jobs_for(db, org) == [[str(lead)]]
    evaluate(db, org, [lead])
    assert open_items(db, org, "profile") == []
    assert next(r for r in live(db, org) if r["rule_key"] == "profile_personality")["status"] == "done"
    # half a year on, the profile is stale
    evaluate(db, org, [lead], now(db) + timedelta(days=181))
    assert open_items(db, org, "profile") == [("profile_personality", "profile_personality")]
    # a disqualified lead is not profiled
    with acting_as(db, rep):
        db.execute("select api.update_lead(%s, %s, '{\"lifecycle_stage\": \"disqualified\"}')", (org, lead))
    evaluate(db, org, [lead], now(db) + timedelta(days=181))
    assert open_items(db, org, "profile") == []
