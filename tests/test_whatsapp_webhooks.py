"""WhatsApp webhooks through the real API process and real worker processes: handshake, signatures on the
raw bytes, redelivery, statuses out of order, BSUID-only senders, inbox-first refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.channel_harness import (
    VERIFY_TOKEN,
    GraphServer,
    Org,
    make_org,
    raw_json,
    sign,
    value,
    wa_body,
    wa_text,
    wait_for,
    worker,
)
from tests.conftest import ApiProcess, acting_as


@pytest.fixture
def client(api: ApiProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as c:
        yield c


@pytest.fixture
def graph() -> Iterator[GraphServer]:
    yield from GraphServer().serve()


@pytest.fixture
def org(api: ApiProcess, graph: GraphServer) -> Org:
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        return make_org(conn, graph_url=graph.url)


def post(client: httpx.Client, raw: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature:
        headers["X-Hub-Signature-256"] = signature
    return client.post("/webhooks/whatsapp", content=raw, headers=headers)


def inbox_count(api: ApiProcess, org: Org) -> int:
    return value(api.database_url, "select count(*) from salesflow.webhook_inbox where org_id = %s", (org.id,))


def test_verification_handshake_echoes_the_challenge_only_for_our_token(client: httpx.Client, org: Org) -> None:
    token = VERIFY_TOKEN + org.inbox_address.split("-")[1].split("@")[0]
    ok = client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": token,
                                                  "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.text) == (200, "1158201444")
    wrong = client.get("/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "nope-nope",
                                                     "hub.challenge": "1158201444"})
    assert wrong.status_code == 403 and "1158201444" not in wrong.text
    assert set(wrong.json()) == {"code", "message", "details", "hint"}
    assert client.get("/webhooks/whatsapp", params={"hub.verify_token": token}).status_code == 400


def test_signature_is_checked_on_the_raw_bytes_including_non_ascii(api: ApiProcess, client: httpx.Client,
                                                                    org: Org) -> None:
    body = wa_body(org, messages=[wa_text("wamid.sig1", "Grüße aus Köln 👋 — ça va?")])
    raw = raw_json(body)
    # a signature over the re-serialised (ASCII-escaped) JSON is a different HMAC: refused
    escaped = json.dumps(body).encode()
    assert escaped != raw
    refused = post(client, raw, sign(escaped))
    assert refused.status_code == 401
    assert post(client, raw, sign(raw, "another-app-secret")).status_code == 401
    assert post(client, raw, None).status_code == 401
    assert inbox_count(api, org) == 0
    # refusals are recorded by hash and size only
    with psycopg.connect(api.database_url) as conn:
        rows = conn.execute("select reason, body_sha256, body_bytes from salesflow.webhook_rejections "
                            "where body_sha256 = encode(sha256(%s), 'hex')", (raw,)).fetchall()
        assert len(rows) == 3 and all(r[2] == len(raw) for r in rows)
        dump = json.dumps(conn.execute("select json_agg(r) from salesflow.webhook_rejections as r").fetchone()[0])
        assert "Köln" not in dump and "Grüße" not in dump
    accepted = post(client, raw, sign(raw))
    assert accepted.status_code == 200 and accepted.json()["stored"] == 1
    stored = value(api.database_url, "select payload #>> '{message,text,body}' from salesflow.webhook_inbox "
                                     "where org_id = %s", (org.id,))
    assert stored == "Grüße aus Köln 👋 — ça va?"


def test_malformed_oversized_and_unknown_accounts_are_refused_and_nothing_is_stored(
        api: ApiProcess, client: httpx.Client, org: Org) -> None:
    assert post(client, b"{not json", sign(b"{not json")).status_code == 400
    assert post(client, b"\x00\xff", sign(b"\x00\xff")).status_code == 400
    no_id = raw_json(wa_body(org, messages=[{"type": "text", "text": {"body": "x"}}]))
    assert post(client, no_id, sign(no_id)).status_code == 400
    # one good message and one broken one in the same request: nothing half-stored
    mixed = raw_json(wa_body(org, messages=[wa_text("wamid.ok", "fine"), {"id": "", "type": "text"}]))
    assert post(client, mixed, sign(mixed)).status_code == 400
    huge = raw_json(wa_body(org, messages=[wa_text("wamid.huge", "x" * (1024 * 1024 + 10))]))
    assert post(client, huge, sign(huge)).status_code == 413
    other = raw_json(wa_body(Org(org.id, org.owner, org.rep, "999000111", ""), messages=[wa_text("wamid.o", "hi")]))
    r = post(client, other, sign(other))
    assert r.status_code == 404 and r.json()["message"].startswith("no WhatsApp account")
    assert inbox_count(api, org) == 0


def test_five_deliveries_make_one_message_and_the_sender_becomes_a_lead(api: ApiProcess, client: httpx.Client,
                                                                         org: Org, tmp_path: Path) -> None:
    raw = raw_json(wa_body(org, messages=[wa_text("wamid.five", "Wir interessieren uns für 40 Roboter")]))
    answers = [post(client, raw, sign(raw)).json() for _ in range(5)]
    assert answers[0]["stored"] == 1 and [a["duplicates"] for a in answers[1:]] == [1, 1, 1, 1]
    with worker(api.database_url, tmp_path):
        wait_for(lambda: value(api.database_url, "select count(*) from salesflow.webhook_inbox where org_id = %s "
                               "and status = 'processed'", (org.id,)) == 1, "the inbox event processed")
    with psycopg.connect(api.database_url) as conn:
        messages = conn.execute("select m.body, m.channel::text, l.first_name, l.last_name, l.phone, l.attributes "
                                "from salesflow.messages as m join salesflow.leads as l "
                                "on l.org_id = m.org_id and l.id = m.lead_id where m.org_id = %s", (org.id,)).fetchall()
        assert len(messages) == 1
        body, channel, first, last, phone, attributes = messages[0]
        assert (body, channel, first, last, phone) == ("Wir interessieren uns für 40 Roboter", "whatsapp", "Ada",
                                                       "Lovelace", "+4915112345678")
        assert attributes["source_channel"] == "whatsapp"
        assert conn.execute("select address from salesflow.channel_identities where org_id = %s",
                            (org.id,)).fetchall() == [("+4915112345678",)]


def test_a_business_scoped_user_without_a_phone_is_a_lead_too(api: ApiProcess, client: httpx.Client, org: Org,
                                                               tmp_path: Path) -> None:
    bsuid = "US.13491208655302741918"
    message = wa_text("wamid.bsuid", "Hallo, ich habe eine Frage", sender=None) | {"from_user_id": bsuid}
    raw = raw_json(wa_body(org, messages=[message], wa_id=None, user_id=bsuid, name="Grace"))
    assert post(client, raw, sign(raw)).json()["stored"] == 1
    with worker(api.database_url, tmp_path):
        wait_for(lambda: value(api.database_url, "select count(*) from salesflow.messages where org_id = %s",
                               (org.id,)) == 1, "the message")
    with psycopg.connect(api.database_url) as conn:
        lead = conn.execute("select first_name, phone from salesflow.leads where org_id = %s", (org.id,)).fetchall()
        assert lead == [("Grace", None)]
        (address,), = conn.execute("select address from salesflow.channel_identities where org_id = %s",
                                   (org.id,)).fetchall()
        assert address.startswith("bsuid:US") and address.endswith("13491208655302741918")


def status(wamid: str, name: str, ts: int) -> dict:
    return {"id": wamid, "status": name, "timestamp": str(ts), "recipient_id": "4915112345678"}


def test_outbound_whatsapp_is_sent_through_the_graph_api_and_statuses_only_move_forward(
        api: ApiProcess, client: httpx.Client, org: Org, graph: GraphServer, tmp_path: Path) -> None:
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        with acting_as(conn, org.rep):
            lead = conn.execute("select id from api.create_lead(%s, first_name => 'Ada', phone => '0151 12345678')",
                                (org.id,)).fetchone()[0]
            queued = conn.execute("select id, status::text from api.queue_outbound_message(%s, %s, 'whatsapp', "
                                  "'Guten Tag, Frau Lovelace!')", (org.id, lead)).fetchone()
    # a rep's own text is approved by rule
    assert queued[1] == "approved"
    graph.throttle = 1  # the first call is answered 429 with Retry-After: 1
    with worker(api.database_url, tmp_path):
        wamid = wait_for(lambda: value(api.database_url, "select external_id from salesflow.outbox where id = %s "
                                       "and status = 'sent'", (queued[0],)), "the message sent")
        assert len(graph.requests) == 2  # the 429, then the retry
        first, second = graph.requests
        assert first["idempotency_key"] == second["idempotency_key"]
        assert second["path"] == f"/v21.0/{org.phone_number_id}/messages"
        assert second["authorization"] == "Bearer graph-token"
        assert second["body"] == {"messaging_product": "whatsapp", "recipient_type": "individual",
                                  "to": "4915112345678", "type": "text",
                                  "text": {"body": "Guten Tag, Frau Lovelace!", "preview_url": False}}
        # read arrives first, then delivered, then sent, then read again: the message stays read
        for name, ts in (("read", 300), ("delivered", 200), ("sent", 100), ("read", 300)):
            raw = raw_json(wa_body(org, statuses=[status(wamid, name, 1764580000 + ts)]))
            assert post(client, raw, sign(raw)).status_code == 200
        wait_for(lambda: value(api.database_url, "select count(*) from salesflow.webhook_inbox where org_id = %s "
                               "and kind = 'status' and status = 'processed'", (org.id,)) == 3, "three statuses")
    assert value(api.database_url, "select status::text from salesflow.outbox where id = %s", (queued[0],)) == "read"


def test_an_ai_draft_waits_for_a_person_and_an_opt_out_stops_it(api: ApiProcess, client: httpx.Client, org: Org,
                                                                 graph: GraphServer, tmp_path: Path) -> None:
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        with acting_as(conn, org.rep):
            lead = conn.execute("select id from api.create_lead(%s, first_name => 'Ada', phone => '+4915112345678')",
                                (org.id,)).fetchone()[0]
            draft = conn.execute("select id, status::text from api.queue_outbound_message(%s, %s, 'whatsapp', "
                                 "'AI: Darf ich Ihnen ein Angebot schicken?', ai_generated => true)",
                                 (org.id, lead)).fetchone()
    assert draft[1] == "awaiting_approval"
    stop = raw_json(wa_body(org, messages=[wa_text("wamid.stop", "STOP")]))
    with worker(api.database_url, tmp_path):
        assert post(client, stop, sign(stop)).status_code == 200
        wait_for(lambda: value(api.database_url, "select not may_contact from salesflow.lead_consents "
                               "where org_id = %s and lead_id = %s and channel = 'whatsapp'", (org.id, lead)),
                 "the opt-out recorded")
        with psycopg.connect(api.database_url, autocommit=True) as conn, acting_as(conn, org.rep):
            approved = conn.execute("select status::text, approved_by from api.approve_outbound_message(%s, %s, "
                                    "'accepted')", (org.id, draft[0])).fetchone()
        assert approved == ("approved", org.rep)
        wait_for(lambda: value(api.database_url, "select status::text from salesflow.outbox where id = %s",
                               (draft[0],)) == "blocked", "the draft blocked")
    assert graph.requests == []
    assert "opted out" in value(api.database_url, "select last_error from salesflow.outbox where id = %s", (draft[0],))
