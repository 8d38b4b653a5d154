"""Merging leads moves what the AI made of the merged one (suggestions, recommendations, memory facts, the
rolling summary) with provenance in the merge record; undo moves exactly those back."""

from __future__ import annotations

import json

import psycopg

from tests.channel_harness import make_org
from tests.conftest import acting_as


def _count(db: psycopg.Connection, table: str, lead: object) -> int:
    return db.execute(f"select count(*) from salesflow.{table} where lead_id = %s", (lead,)).fetchone()[0]  # noqa: S608


def test_merge_moves_suggestions_recommendations_facts_and_summary_and_undo_reverses(db: psycopg.Connection) -> None:
    db.autocommit = True
    org = make_org(db)
    with acting_as(db, org.rep):
        keep = db.execute("select id from api.create_lead(%s, first_name => 'Ada')", (org.id,)).fetchone()[0]
        dup = db.execute("select id from api.create_lead(%s, first_name => 'ada')", (org.id,)).fetchone()[0]
        message = db.execute("select id from api.create_message(%s, %s, 'email', 'inbound', "
                             "'Unser Budget liegt bei 40.000 EUR.')", (org.id, dup)).fetchone()[0]
        fact = db.execute("select id from api.record_memory_fact(%s, %s, 'budget', 'Budget 40.000 EUR', %s, "
                          "'Budget liegt bei 40.000 EUR')", (org.id, dup, message)).fetchone()[0]
    request = db.execute("insert into salesflow.llm_requests (org_id, started_at, task, provider, model, cost, "
                         "status) values (%s, now(), 'classify', 'local', 'm', 0, 'ok') returning id",
                         (org.id,)).fetchone()[0]
    suggestion = db.execute("insert into salesflow.ai_suggestions (org_id, lead_id, kind, content, request_id) "
                            "values (%s, %s, 'next_actions', '{}', %s) returning id",
                            (org.id, dup, request)).fetchone()[0]
    rec = """insert into salesflow.ai_recommendations (org_id, lead_id, action_type, reason_key, reason,
             base_priority, half_life, expires_at, source) values (%s, %s, 'call', %s, 'r', 50, '1 day',
             now() + interval '7 days', 'manual') returning id"""
    moves = db.execute(rec, (org.id, dup, "manual:a")).fetchone()[0]
    # the kept lead has the same live recommendation: the duplicate's stays behind (and goes with it)
    db.execute(rec, (org.id, keep, "manual:b"))
    twin = db.execute(rec, (org.id, dup, "manual:b")).fetchone()[0]
    db.execute("update salesflow.conversation_summaries set summary = 'Ada has 40k.', version = 1 "
               "where lead_id = %s", (dup,))
    db.execute("insert into salesflow.conversation_summaries (org_id, lead_id, summary, version) "
               "values (%s, %s, 'Ada from the web form.', 1) on conflict (org_id, lead_id) do update "
               "set summary = excluded.summary, version = 1", (org.id, keep))

    with acting_as(db, org.owner):
        merge_id, moved = db.execute("select id, moved from api.merge_leads(%s, %s, %s)",
                                     (org.id, keep, dup)).fetchone()
    assert moved["ai_suggestions"] == [str(suggestion)] and moved["memory_facts"] == [str(fact)]
    assert moved["ai_recommendations"] == [str(moves)]
    assert moved["conversation_summary"]["summary"] == "Ada has 40k."
    assert _count(db, "ai_suggestions", keep) == 1 and _count(db, "memory_facts", keep) == 1
    assert db.execute("select lead_id from salesflow.ai_recommendations where id = %s", (moves,)).fetchone()[0] == keep
    assert db.execute("select count(*) from salesflow.ai_recommendations where id = %s", (twin,)).fetchone()[0] == 0
    # the kept lead's summary stays and has the moved message pending for its next extension
    assert db.execute("select summary, pending_messages >= 1 from salesflow.conversation_summaries "
                      "where lead_id = %s", (keep,)).fetchone() == ("Ada from the web form.", True)

    with acting_as(db, org.owner):
        db.execute("select api.undo_merge(%s, %s)", (org.id, merge_id))
    assert db.execute("select lead_id from salesflow.ai_suggestions where id = %s", (suggestion,)).fetchone()[0] == dup
    assert db.execute("select lead_id from salesflow.memory_facts where id = %s", (fact,)).fetchone()[0] == dup
    assert db.execute("select lead_id from salesflow.ai_recommendations where id = %s", (moves,)).fetchone()[0] == dup
    assert _count(db, "ai_suggestions", keep) == 0 and _count(db, "memory_facts", keep) == 0
    assert db.execute("select summary from salesflow.conversation_summaries where lead_id = %s",
                      (dup,)).fetchone()[0] == "Ada has 40k."
    assert json.dumps(moved)  # the record is plain JSON
