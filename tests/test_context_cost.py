"""api.get_smart_context's cost does not grow with the organisation: called under RLS for the same lead,
it reads about as many buffers when the organisation holds 8 times as many other messages (counted
from EXPLAIN's buffers, not wall-clock). Before, every hit's text was looked up by scanning the
organisation's messages (a coalesce() in the join key blocked the index under the row policy)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import Server, acting_as, authenticate_as, clone_database

WORDS = "budget deadline Jira Graz robots pricing contract Angebot Lieferung Termin".split()


@pytest.fixture(scope="module")
def conn(postgresql_template, pg_server: Server) -> Iterator[psycopg.Connection]:  # noqa: ANN001
    with clone_database(pg_server, postgresql_template.template_dbname) as url:
        with psycopg.connect(url, autocommit=True) as c:
            yield c


def unit(rng: random.Random, dims: int) -> str:
    v = [rng.gauss(0, 1) for _ in range(dims)]
    norm = sum(x * x for x in v) ** 0.5
    return "[" + ",".join(f"{x / norm:.5f}" for x in v) + "]"


def org_with(conn: psycopg.Connection, others: int, rng: random.Random) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """An organisation whose lead has 40 messages with vectors, beside `others` messages of other leads."""
    owner = uuid.uuid4()
    with acting_as(conn, owner):
        org = conn.execute("select id from api.create_organization('Cost')").fetchone()[0]
        lead = conn.execute("select id from api.create_lead(org_id => %s, first_name => 'Kim')", (org,)).fetchone()[0]
    model, dims = conn.execute("select name, dimension from salesflow.active_embedding_model()").fetchone()
    crowd = conn.execute("insert into salesflow.leads (org_id, first_name) select %s, 'Other' "
                         "from generate_series(1, 50) returning id", (org,)).fetchall()
    conn.execute("insert into salesflow.messages (org_id, lead_id, channel, direction, body) "
                 "select %s, (%s::uuid[])[1 + g %% 50], 'email', 'inbound', 'Other ' || g || ' about ' || "
                 "(%s::text[])[1 + g %% 10] from generate_series(1, %s) as g",
                 (org, [c[0] for c in crowd], WORDS, others))
    for i in range(40):
        body = f"Message {i}: {WORDS[i % 10]} and {WORDS[(i * 3) % 10]}"
        mid = conn.execute("insert into salesflow.messages (org_id, lead_id, channel, direction, body, sent_at) "
                           "values (%s, %s, 'whatsapp', 'inbound', %s, now() - %s * interval '1 hour') returning id",
                           (org, lead, body, i)).fetchone()[0]
        conn.execute("insert into salesflow.embeddings (org_id, source, source_id, model, dimension, lead_id, "
                     "occurred_at, content, content_hash, embedding) values (%s, 'message', %s, %s, %s, %s, "
                     "now() - %s * interval '1 hour', %s, md5(%s), %s)",
                     (org, mid, model, dims, lead, i, body, body, unit(rng, dims)))
    conn.execute("analyze salesflow.messages; analyze salesflow.embeddings")
    return org, lead, owner


def context_buffers(conn: psycopg.Connection, org: uuid.UUID, lead: uuid.UUID, owner: uuid.UUID,
                    query_vector: str) -> tuple[int, dict]:
    with authenticate_as(conn, owner):
        context = conn.execute("select api.get_smart_context(%s, %s, 'what budget and deadline?', %s, "
                               "token_budget => 400, hot_messages => 5)", (org, lead, query_vector)).fetchone()[0]
        plan = conn.execute("explain (analyze, buffers, format json) select api.get_smart_context(%s, %s, "
                            "'what budget and deadline?', %s, token_budget => 400, hot_messages => 5)",
                            (org, lead, query_vector)).fetchone()[0]
    top = plan[0]["Plan"]
    return int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0)), context


def test_smart_context_reads_no_more_for_a_larger_organisation(conn: psycopg.Connection) -> None:
    rng = random.Random(13)
    dims = conn.execute("select dimension from salesflow.active_embedding_model()").fetchone()[0]
    query_vector = unit(rng, dims)
    read = []
    for others in (1000, 8000):
        org, lead, owner = org_with(conn, others, rng)
        blocks, context = context_buffers(conn, org, lead, owner, query_vector)
        # the call does its work: hot messages and cold hits of this lead
        assert len(context["hot"]) == 5 and context["cold"], json.dumps(context)[:500]
        read.append(blocks)
    # a lookup of each hit by its key reads the same few pages at both sizes; a scan of the
    # organisation's messages per hit read several times more at 8,000
    assert read[1] < 1.5 * read[0], read
