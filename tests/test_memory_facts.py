"""Memory facts: each cites its message with a quote that must be in it; a later fact on the same key
closes the earlier one; get_smart_context shows the current ones."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.conftest import acting_as

BUDGET_1 = "Our budget is capped at 40 thousand euros this year."
BUDGET_2 = "Good news: the board raised our budget to 60k EUR."


def world(db: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    owner = uuid.uuid4()
    with acting_as(db, owner):
        org = db.execute("select id from api.create_organization('Facts GmbH')").fetchone()[0]
        lead = db.execute("select id from api.create_lead(%s, first_name => 'Eva')", (org,)).fetchone()[0]
        ids = [db.execute("select id from api.create_message(%s, %s, 'email', 'inbound', %s, sent_at => %s)",
                          (org, lead, body, at)).fetchone()[0]
               for body, at in ((BUDGET_1, "2025-01-10"), (BUDGET_2, "2025-04-02"))]
    return owner, org, lead, ids


def record(db: psycopg.Connection, user: uuid.UUID, org: uuid.UUID, lead: uuid.UUID, fact: str,
           message: uuid.UUID, quote: str, category: str = "budget") -> dict:
    with acting_as(db, user):
        return db.cursor(row_factory=dict_row).execute(
            "select * from api.record_memory_fact(%s, %s, %s, %s, %s, %s, 0.9)",
            (org, lead, category, fact, message, quote)).fetchone()


def test_a_fact_needs_its_quote_in_the_cited_message(db: psycopg.Connection) -> None:
    owner, org, lead, (first, second) = world(db)
    fact = record(db, owner, org, lead, "Budget is at most 40k EUR.", first, "capped at  40 THOUSAND euros")
    assert fact["valid_from"].year == 2025 and fact["valid_to"] is None and fact["fact_key"] == "budget"
    for message, quote in ((first, "capped at 50 thousand euros"), (second, "capped at 40 thousand"),
                           (first, "  "), (first, "ok")):
        with pytest.raises(psycopg.Error) as info:
            record(db, owner, org, lead, "Budget is 50k.", message, quote)
        assert info.value.sqlstate == "22023" and "does not occur" in str(info.value)
    with acting_as(db, owner):
        other = db.execute("select id from api.create_lead(%s, first_name => 'Bo')", (org,)).fetchone()[0]
    with pytest.raises(psycopg.Error) as info:
        record(db, owner, org, other, "Budget is 40k.", first, "40 thousand euros")
    assert "is not from lead" in str(info.value)
    # another tenant cannot cite this organisation's message
    with pytest.raises(psycopg.Error) as info:
        record(db, uuid.uuid4(), org, lead, "Budget is 40k.", first, "40 thousand euros")
    assert info.value.sqlstate in {"PT404", "42501"}
    assert db.execute("select count(*) from salesflow.memory_facts where org_id = %s", (org,)).fetchone()[0] == 1


def test_a_later_contradicting_fact_closes_the_earlier_one(db: psycopg.Connection) -> None:
    owner, org, lead, (first, second) = world(db)
    old = record(db, owner, org, lead, "Budget is at most 40k EUR.", first, "capped at 40 thousand euros")
    new = record(db, owner, org, lead, "Budget was raised to 60k EUR.", second, "raised our budget to 60k EUR")
    with acting_as(db, owner):
        cur = db.cursor(row_factory=dict_row)
        current = cur.execute("select * from api.list_memory_facts(%s, %s)", (org, lead)).fetchall()
        every = cur.execute("select * from api.list_memory_facts(%s, %s, true)", (org, lead)).fetchall()
        context = db.execute("select api.get_smart_context(%s, %s)", (org, lead)).fetchone()[0]
    assert [f["id"] for f in current] == [new["id"]]
    closed = next(f for f in every if f["id"] == old["id"])
    assert closed["valid_to"] == new["valid_from"] and closed["superseded_by"] == new["id"]
    assert [f["fact"] for f in context["warm"]["key_facts"]] == ["Budget was raised to 60k EUR."]
    # recorded late, an older statement is stored already closed by the newer one
    with acting_as(db, owner):
        third = db.execute("select id from api.create_message(%s, %s, 'email', 'inbound', %s, sent_at => %s)",
                           (org, lead, "Back then the budget was 30k.", "2024-12-01")).fetchone()[0]
    older = record(db, owner, org, lead, "Budget was 30k.", third, "the budget was 30k")
    assert older["valid_to"] == old["valid_from"] and older["superseded_by"] == old["id"]
    # a fact on another key leaves the budget alone
    record(db, owner, org, lead, "Eva is the budget owner.", second, "the board", category="role")
    with acting_as(db, owner):
        assert len(db.execute("select * from api.list_memory_facts(%s, %s)", (org, lead)).fetchall()) == 2
    # deleting the cited message takes its facts with it
    with acting_as(db, owner):
        db.execute("select api.delete_message(%s, %s)", (org, second))
        assert db.execute("select count(*) from salesflow.memory_facts where message_id = %s",
                          (second,)).fetchone()[0] == 0
