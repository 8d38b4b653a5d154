"""Identity stitching through real webhooks and a real worker: one person across channels, concurrent first
messages from a new sender, merge and undo, duplicates for review, address normalisation."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from salesflow.channels.identity import normalize_email, normalize_phone
from tests.channel_harness import Org, make_org, raw_json, sign, value, wa_body, wa_text, wait_for, worker
from tests.conftest import ApiProcess, acting_as


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("0151 1234 5678", "DE", "+4915112345678"), ("+49 (151) 1234-5678", "DE", "+4915112345678"),
    ("004915112345678", "DE", "+4915112345678"), ("4915112345678", "DE", "+4915112345678"),
    ("(415) 555-2671", "US", "+14155552671"), ("12", "DE", None), ("not a number", "DE", None),
])
def test_phone_numbers_become_e164_in_the_organisations_region(raw: str, region: str, e164: str | None) -> None:
    assert normalize_phone(raw, region) == e164


@pytest.mark.parametrize(("raw", "normal"), [
    ("Ada Lovelace <Ada.Lovelace@Example.COM>", "ada.lovelace@example.com"), ("  ADA@example.com ", "ada@example.com"),
    ("ada@bücher.example", "ada@xn--bcher-kva.example"), ("ada+crm@example.com", "ada+crm@example.com"),
    ("no-at-sign", None), ("a@b", None), ("", None),
])
def test_email_addresses_are_normalised(raw: str, normal: str | None) -> None:
    assert normalize_email(raw) == normal


@pytest.fixture
def org(api: ApiProcess) -> Org:
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        return make_org(conn)


def post_wa(client: httpx.Client, body: dict) -> httpx.Response:
    raw = raw_json(body)
    return client.post("/webhooks/whatsapp", content=raw, headers={"X-Hub-Signature-256": sign(raw),
                                                                    "Content-Type": "application/json"})


def post_generic(client: httpx.Client, org: Org, body: dict) -> httpx.Response:
    raw = json.dumps(body).encode()
    name = f"chat-{org.inbox_address.split('-')[1].split('@')[0]}"
    return client.post(f"/webhooks/generic/{name}", content=raw, headers={"X-Signature-256": sign(raw)})


def leads_of(url: str, org: Org) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("select l.id, count(m.id) from salesflow.leads as l left join salesflow.messages as m "
                            "on m.org_id = l.org_id and m.lead_id = l.id where l.org_id = %s group by l.id",
                            (org.id,)).fetchall()


def test_the_same_person_on_two_channels_is_one_lead(api: ApiProcess, org: Org, tmp_path: Path) -> None:
    with psycopg.connect(api.database_url, autocommit=True) as conn, acting_as(conn, org.rep):
        lead = conn.execute("select id from api.create_lead(%s, first_name => 'Ada', email => 'ada@example.com', "
                            "phone => '+49 151 12345678')", (org.id,)).fetchone()[0]
    with httpx.Client(base_url=api.url, timeout=30) as client:
        assert post_wa(client, wa_body(org, messages=[wa_text("wamid.x1", "Hallo per WhatsApp")])).status_code == 200
        generic = {"messages": [{"id": "chat-1", "from": {"email": "ADA@example.com", "name": "Ada"},
                                 "text": "Hello from the web chat"}]}
        assert post_generic(client, org, generic).status_code == 200
    with worker(api.database_url, tmp_path):
        wait_for(lambda: value(api.database_url, "select count(*) from salesflow.messages where org_id = %s",
                               (org.id,)) == 2, "both messages")
    assert leads_of(api.database_url, org) == [(lead, 2)]
    with psycopg.connect(api.database_url) as conn:
        identities = conn.execute("select channel::text, address from salesflow.channel_identities "
                                  "where org_id = %s order by 1", (org.id,)).fetchall()
    assert identities == [("chat", "ada@example.com"), ("whatsapp", "+4915112345678")]


def test_concurrent_first_messages_from_a_new_sender_make_one_lead(api: ApiProcess, org: Org,
                                                                   tmp_path: Path) -> None:
    bodies = [wa_body(org, messages=[wa_text(f"wamid.c{i}", f"Nachricht {i}", sender="4917000000001")],
                      wa_id="4917000000001", name="Neu Kunde") for i in range(12)]
    with worker(api.database_url, tmp_path, concurrency=12):
        with httpx.Client(base_url=api.url, timeout=30) as client, ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(lambda b: post_wa(client, b).status_code, bodies))
        assert codes == [200] * 12
        wait_for(lambda: value(api.database_url, "select count(*) from salesflow.messages where org_id = %s",
                               (org.id,)) == 12, "twelve messages")
    leads = leads_of(api.database_url, org)
    assert len(leads) == 1 and leads[0][1] == 12


def test_merge_moves_everything_and_undo_moves_it_back(api: ApiProcess, org: Org) -> None:
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        with acting_as(conn, org.rep):
            company = conn.execute("select id from api.create_company(%s, 'Analytical Engines')",
                                   (org.id,)).fetchone()[0]
            keep = conn.execute("select id from api.create_lead(%s, first_name => 'Ada', last_name => 'Lovelace', "
                                "email => 'ada@example.com', company_id => %s)", (org.id, company)).fetchone()[0]
            dup = conn.execute("select id from api.create_lead(%s, first_name => 'ada', last_name => 'lovelace', "
                               "phone => '+4915112345678', company_id => %s)", (org.id, company)).fetchone()[0]
            conn.execute("select api.link_channel_identity(%s, 'whatsapp', '+4915112345678', %s)", (org.id, dup))
            conn.execute("select api.create_message(%s, %s, 'whatsapp', 'inbound', 'via WhatsApp')", (org.id, dup))
            conn.execute("select api.create_activity(%s, 'call', lead_id => %s, direction => 'outbound')",
                         (org.id, dup))
            deal = conn.execute("select id from api.create_deal(%s, 'Robots', lead_id => %s)",
                                (org.id, dup)).fetchone()[0]
            # a rep may not merge
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute("select api.merge_leads(%s, %s, %s)", (org.id, keep, dup))
        with acting_as(conn, org.owner):
            pairs = conn.execute("select lead_id, duplicate_id, reason from api.list_duplicate_leads(%s)",
                                 (org.id,)).fetchall()
            assert [(set(p[:2]), p[2]) for p in pairs] == [({keep, dup}, "same name and company")]
            merge = conn.execute("select id, moved from api.merge_leads(%s, %s, %s)", (org.id, keep, dup)).fetchone()
        assert value(api.database_url, "select count(*) from salesflow.leads where id = %s", (dup,)) == 0
        assert value(api.database_url, "select phone from salesflow.leads where id = %s", (keep,)) == "+4915112345678"
        assert value(api.database_url, "select count(*) from salesflow.messages where lead_id = %s", (keep,)) == 1
        assert value(api.database_url, "select lead_id from salesflow.deals where id = %s", (deal,)) == keep
        assert value(api.database_url, "select lead_id from salesflow.channel_identities where org_id = %s",
                     (org.id,)) == keep
        assert set(merge[1]) >= {"messages", "activities", "deals", "channel_identities", "filled"}
        with acting_as(conn, org.owner):
            conn.execute("select api.undo_merge(%s, %s)", (org.id, merge[0]))
            again = conn.execute("select undone_at from api.undo_merge(%s, %s)", (org.id, merge[0])).fetchone()
        assert again[0] is not None
    assert value(api.database_url, "select phone from salesflow.leads where id = %s", (keep,)) is None
    assert value(api.database_url, "select phone from salesflow.leads where id = %s", (dup,)) == "+4915112345678"
    assert value(api.database_url, "select count(*) from salesflow.messages where lead_id = %s", (dup,)) == 1
    assert value(api.database_url, "select count(*) from salesflow.activities where lead_id = %s", (dup,)) == 1
    assert value(api.database_url, "select lead_id from salesflow.deals where id = %s", (deal,)) == dup
    assert value(api.database_url, "select lead_id from salesflow.channel_identities where org_id = %s",
                 (org.id,)) == dup
