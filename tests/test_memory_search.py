"""Memory search that finds: BM25 and vector rankings fused by reciprocal rank, keyword search before
embedding, recency as an option, fresh texts embedded before a backlog, bulk inserts, the backlog RPC."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from salesflow.backlog import backlog_line
from salesflow.db.queries import query as pipeline_query
from tests.conftest import acting_as, authenticate_as
from tests.test_memory import DEMO_EN, add_message, drain, make_org, vector


def hits(conn: psycopg.Connection, user: uuid.UUID, org: uuid.UUID, **args: object) -> list[dict]:
    names = ", ".join(f"{k} => %({k})s" + ("::extensions.vector" if k == "query_embedding" else "") for k in args)
    with authenticate_as(conn, user):
        return conn.cursor(row_factory=dict_row).execute(
            f"select * from api.search_memory(org_id => %(org)s, {names})", {"org": org, **args}).fetchall()


def test_a_keyword_only_and_a_vector_only_match_both_appear(db: psycopg.Connection, db_url: str) -> None:
    owner = uuid.uuid4()
    org, lead = make_org(db, owner, "Fusion AG")
    by_meaning = add_message(db, owner, org, lead, DEMO_EN)
    drain(db, db_url)
    # stored after the drain: no vector yet, so only the keyword ranking can find it
    by_word = add_message(db, owner, org, lead, "We run Zendesk for support tickets today.")
    found = hits(db, owner, org, query_embedding=vector(DEMO_EN), query_text="And what about Zendesk?")
    ranks = {h["source_id"]: (h["vector_rank"], h["keyword_rank"]) for h in found}
    assert ranks[by_meaning] == (1, None)
    assert ranks[by_word] == (None, 1)
    hit = next(h for h in found if h["source_id"] == by_word)
    assert (hit["direction"], hit["channel"], hit["content"]) == ("inbound", "email", "We run Zendesk for support "
                                                                 "tickets today.")


def test_a_natural_language_question_matches_on_any_of_its_content_words(db: psycopg.Connection) -> None:
    owner = uuid.uuid4()
    org, lead = make_org(db, owner, "Oder GmbH")
    budget = add_message(db, owner, org, lead, "Our budget is capped at 40 thousand euros.")
    add_message(db, owner, org, lead, "What is this about?")
    rare = add_message(db, owner, org, lead, "The budget meeting with procurement is on Friday.")
    found = hits(db, owner, org, query_text="What is the budget they have for procurement of this project?")
    # no text holds every word (websearch_to_tsquery's AND found nothing); stop words match nothing
    assert [h["source_id"] for h in found] == [rare, budget]
    assert found[0]["text_rank"] > found[1]["text_rank"] > 0
    # keywords apart from the question: the semantic query need not contain them
    only = hits(db, owner, org, query_text="anything at all", keywords="euros")
    assert [h["source_id"] for h in only] == [budget]
    # German stop words are dropped as well
    assert hits(db, owner, org, query_text="und der die das ist") == []


def test_recency_breaks_ties_by_default_and_ranks_when_asked(db: psycopg.Connection) -> None:
    owner = uuid.uuid4()
    org, lead = make_org(db, owner, "Zeit KG")
    with acting_as(db, owner):
        old = db.execute("select id from api.create_message(%s, %s, 'email', 'inbound', "
                         "'Invoice overdue, invoice attached, please pay the invoice', sent_at => '2024-01-01')",
                         (org, lead)).fetchone()[0]
        new = db.execute("select id from api.create_message(%s, %s, 'email', 'inbound', "
                         "'Invoice for March, with a long note about delivery and other things')",
                         (org, lead)).fetchone()[0]
    assert [h["source_id"] for h in hits(db, owner, org, query_text="invoice")] == [old, new]
    assert [h["source_id"] for h in hits(db, owner, org, query_text="invoice", recency=True)] == [new, old]


def test_fresh_texts_are_claimed_before_a_bulk_load(db: psycopg.Connection) -> None:
    owner = uuid.uuid4()
    org, lead = make_org(db, owner, "Queue GmbH")
    batch = [{"lead_id": str(lead), "channel": "email", "direction": "inbound", "body": f"import {i}"}
             for i in range(150)]
    with acting_as(db, owner):
        assert len(db.execute("select * from api.create_messages(%s, %s)", (org, json.dumps(batch))).fetchall()) == 150
    fresh = add_message(db, owner, org, lead, "Just arrived from a webhook")
    claimed = db.execute(pipeline_query("claim_texts"), {"model": "all-MiniLM-L6-v2", "batch": 1, "lease": 60})
    assert [r[2] for r in claimed.fetchall()] == [fresh]
    with authenticate_as(db, owner):
        backlog = db.execute("select model, pending, pending_fresh, failed from api.embedding_backlog(%s)",
                             (org,)).fetchall()
    assert backlog == [("all-MiniLM-L6-v2", 151, 1, 0)]
    assert "151 texts waiting (1 fresh" in backlog_line(db)
    with authenticate_as(db, uuid.uuid4()):
        assert db.execute("select * from api.embedding_backlog(%s)", (org,)).fetchall() == []


def test_bulk_insert_is_idempotent_and_refuses_bad_batches(db: psycopg.Connection) -> None:
    owner = uuid.uuid4()
    org, lead = make_org(db, owner, "Bulk SE")
    item = {"lead_id": str(lead), "channel": "whatsapp", "direction": "inbound", "body": "Hallo",
            "external_id": "wamid.1"}
    with acting_as(db, owner):
        first = db.execute("select id from api.create_messages(%s, %s)", (org, json.dumps([item]))).fetchall()
        again = db.execute("select id from api.create_messages(%s, %s)",
                           (org, json.dumps([item, {**item, "external_id": "wamid.2"}]))).fetchall()
        assert first[0] in again and len(again) == 2
        assert db.execute("select count(*) from salesflow.messages where org_id = %s", (org,)).fetchone()[0] == 2
    for batch, message in (("{}", "must be a JSON array"), ("[]", "send 1 to 1000"), ("[1]", "JSON object"),
                           (json.dumps([{**item, "colour": "red"}]), "unknown field colour")):
        with pytest.raises(psycopg.Error) as info, acting_as(db, owner):
            db.execute("select api.create_messages(%s, %s)", (org, batch))
        assert info.value.sqlstate == "22023" and message in str(info.value)
