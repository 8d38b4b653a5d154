"""Erasure reaches a lead's jobs by the ids in their payloads and errors, and its work grows linearly
with the lead's size: the rows its plans process (auto_explain's actual rows x loops, not wall-clock)
for a lead of 8n messages stay near 8 times those for n."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import Server, clone_database

# jobs of an unrelated kind: no handler picks them, the erasure alone decides their fate
KIND = "follow_up"


@pytest.fixture(scope="module")
def conn(postgresql_template, pg_server: Server) -> Iterator[psycopg.Connection]:  # noqa: ANN001
    with clone_database(pg_server, postgresql_template.template_dbname) as url:
        with psycopg.connect(url, autocommit=True) as c:
            yield c


def new_org(conn: psycopg.Connection) -> uuid.UUID:
    return conn.execute("insert into salesflow.organizations (name, slug) values ('Erase', %s) returning id",
                        (f"erase-{uuid.uuid4().hex[:10]}",)).fetchone()[0]


def lead_with(conn: psycopg.Connection, org: uuid.UUID, n: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A lead with n messages, and for each message a pending job that names it (as live traffic leaves
    them: one job per message), plus as many jobs about another lead that must stay."""
    lead, other = (conn.execute("insert into salesflow.leads (org_id, first_name) values (%s, 'E') returning id",
                                (org,)).fetchone()[0] for _ in range(2))
    ids = [r[0] for r in conn.execute(
        "insert into salesflow.messages (org_id, lead_id, channel, direction, body, external_id) "
        "select %s, %s, 'email', 'inbound', 'Nachricht ' || g, 'x-' || %s || '-' || g from generate_series(1, %s) as g "
        "returning id", (org, lead, str(lead), n)).fetchall()]
    conn.execute("insert into salesflow.jobs (kind, org_id, payload, run_after) "
                 "select %s, %s, jsonb_build_object('batch', jsonb_build_array(jsonb_build_object('message_id', m))), "
                 "now() + interval '1 day' from unnest(%s::uuid[]) as m", (KIND, org, ids))
    conn.execute("insert into salesflow.jobs (kind, org_id, payload, run_after) "
                 "select %s, %s, jsonb_build_object('lead_id', %s::text, 'i', g), now() + interval '1 day' "
                 "from generate_series(1, %s) as g", (KIND, org, other, n))
    return lead, ids


def request(conn: psycopg.Connection, org: uuid.UUID, lead: uuid.UUID) -> uuid.UUID:
    return conn.execute("insert into salesflow.erasure_requests (org_id, lead_id, lead_hash, reason_sha256) "
                        "values (%s, %s, sha256('x'), repeat('0', 64)) returning id", (org, lead)).fetchone()[0]


def plan_rows(node: dict) -> float:
    own = float(node.get("Actual Rows", 0)) * float(node.get("Actual Loops", 1))
    return own + sum(plan_rows(child) for child in node.get("Plans", []))


def erase_counting_rows(conn: psycopg.Connection, org: uuid.UUID, erasure: uuid.UUID) -> float:
    """Rows processed by every plan node of every statement the erasure runs, nested ones included."""
    plans: list[str] = []
    handler = lambda d: plans.append(d.message_primary or "")  # noqa: E731
    conn.add_notice_handler(handler)
    try:
        with conn.transaction():
            conn.execute("load 'auto_explain'")
            for setting, value in (("log_min_duration", "0"), ("log_nested_statements", "on"),
                                   ("log_analyze", "on"), ("log_timing", "off"), ("log_format", "json"),
                                   ("log_level", "notice")):
                conn.execute(f"set local auto_explain.{setting} = {value}")
            conn.execute("select salesflow.erase_lead_data(%s, %s)", (org, erasure))
    finally:
        conn.remove_notice_handler(handler)
    total = 0.0
    for text in plans:
        start = text.find("{")
        if start >= 0 and "Plan" in text:
            doc = json.loads(text[start:])
            total += plan_rows(doc["Plan"])
    assert total > 0, "auto_explain reported no plans"
    return total


def test_erasure_finds_the_person_in_job_payloads_and_errors(conn: psycopg.Connection) -> None:
    org = new_org(conn)
    lead, ids = lead_with(conn, org, 5)
    other_job = conn.execute("select id from salesflow.jobs where org_id = %s and kind = %s "
                             "and payload ? 'lead_id' limit 1", (org, KIND)).fetchone()[0]
    # a failed job whose error names one of the lead's messages (upper case), and one naming nobody known
    failed = conn.execute("insert into salesflow.jobs (kind, org_id, payload, status, finished_at, last_error) values "
                          "(%s, %s, '{}', 'dead', now(), %s), (%s, %s, '{}', 'dead', now(), %s) returning id",
                          (KIND, org, f"boom on message {str(ids[2]).upper()}: text was ...",
                           KIND, org, f"boom on message {uuid.uuid4()}")).fetchall()
    erasure = request(conn, org, lead)
    counts = conn.execute("select salesflow.erase_lead_data(%s, %s)", (org, erasure)).fetchone()[0]
    # the five jobs naming its messages, and those its messages' triggers queued about the lead
    assert counts["jobs"] >= 5 and counts["messages"] == 5
    assert conn.execute("select count(*) from salesflow.jobs where org_id = %s and payload ? 'batch'",
                        (org,)).fetchone()[0] == 0
    left = dict(conn.execute("select id, last_error from salesflow.jobs where org_id = %s and kind = %s and "
                             "(payload ? 'lead_id' or last_error is not null)", (org, KIND)).fetchall())
    assert other_job in left and len(left) == 5 + 2
    assert left[failed[0][0]] == "erased: the error named an erased person"
    assert left[failed[1][0]].startswith("boom on message ")
    assert not any(str(i) in json.dumps(r[0]) for i in ids for r in conn.execute(
        "select payload from salesflow.jobs where org_id = %s", (org,)).fetchall())


def test_erasure_work_grows_linearly_with_the_lead(conn: psycopg.Connection) -> None:
    # 1,000 and 8,000: below a few thousand ids the planner hashed the id list once even before the
    # fix, so smaller sizes would not tell a quadratic erasure from a linear one
    n = 1000
    work = []
    for size in (n, 8 * n):
        org = new_org(conn)
        lead, _ = lead_with(conn, org, size)
        work.append(erase_counting_rows(conn, org, request(conn, org, lead)))
        assert conn.execute("select count(*) from salesflow.jobs where org_id = %s and kind = %s",
                            (org, KIND)).fetchone()[0] == size
    # linear: about 8; the scan of every id per job this replaced gave about 2,800 here
    assert work[1] / work[0] < 12, work
