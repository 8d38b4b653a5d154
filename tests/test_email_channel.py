"""Inbound email (raw RFC 5322 and Postmark's JSON) and outbound email over a real local SMTP server."""

from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from aiosmtpd.controller import Controller

from salesflow.channels.email_inbound import strip_quoted_reply, thread_of
from salesflow.db.embedded import free_port
from tests.channel_harness import APP_SECRET, Org, make_org, sign, value, wait_for, worker
from tests.conftest import ApiProcess, acting_as

EN_REPLY = """Thanks, Tuesday at 10 works for us.
We will bring the CTO.

On Mon, 30 Nov 2026 at 09:12, Max Vertrieb <max@seller.example> wrote:
> Would Tuesday suit you?
> Best, Max
"""
EN_WRAPPED = """Sounds good.

On Mon, 30 Nov 2026 at 09:12, Max Vertrieb
<max@seller.example> wrote:
> Would Tuesday suit you?
"""
DE_REPLY = """Hallo Herr Vertrieb,

das Angebot passt, bitte schicken Sie den Vertrag.

Viele Grüße
Ada

Am 30.11.2026 um 09:12 schrieb Max Vertrieb <max@seller.example>:
> Anbei unser Angebot.
"""
DE_OUTLOOK = """Bitte rufen Sie mich an.

________________________________
Von: Max Vertrieb <max@seller.example>
Gesendet: Montag, 30. November 2026 09:12
An: Ada Lovelace
Betreff: Angebot
"""
EN_OUTLOOK = """Yes please.

-----Original Message-----
From: Max Vertrieb
Sent: Monday, November 30, 2026 9:12 AM
"""


@pytest.mark.parametrize(("text", "kept"), [
    (EN_REPLY, "Thanks, Tuesday at 10 works for us.\nWe will bring the CTO."),
    (EN_WRAPPED, "Sounds good."),
    (DE_REPLY, "Hallo Herr Vertrieb,\n\ndas Angebot passt, bitte schicken Sie den Vertrag.\n\nViele Grüße\nAda"),
    (DE_OUTLOOK, "Bitte rufen Sie mich an."),
    (EN_OUTLOOK, "Yes please."),
    ("From: here on, we talk prices.\nOkay?", "From: here on, we talk prices.\nOkay?"),
    ("Short answer: no.", "Short answer: no."),
])
def test_quoted_replies_are_cut_in_english_and_german(text: str, kept: str) -> None:
    assert strip_quoted_reply(text) == kept


def test_a_thread_is_named_by_its_root_message() -> None:
    assert thread_of("c@x", "<b@x>", "<a@x> <b@x>") == "a@x"
    assert thread_of("b@x", "<a@x>", "") == "a@x"
    assert thread_of("a@x", "", "") == "a@x"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802 - aiosmtpd's hook
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def org(api: ApiProcess, smtp: tuple[Inbox, int]) -> Org:
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        return make_org(conn, smtp_port=smtp[1])


def mime(org: Org, message_id: str, body: str, *, subject: str = "Roboter", in_reply_to: str | None = None,
         references: str | None = None, sender: str = "Ada Lovelace <Ada.Lovelace@Example.COM>") -> bytes:
    lines = [f"From: {sender}", f"To: Sales <{org.inbox_address}>", f"Subject: {subject}",
             "Date: Tue, 01 Dec 2026 10:00:00 +0100", f"Message-ID: <{message_id}>", "MIME-Version: 1.0",
             "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    if in_reply_to:
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        lines.append(f"References: {references}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n")).encode()


def basic(secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"postmark:{secret}".encode()).decode()}


def test_raw_and_postmark_mail_become_one_thread_of_one_lead(api: ApiProcess, org: Org, tmp_path: Path) -> None:
    first = mime(org, "m1@example.com", "Wir brauchen 40 Roboter für Köln.")
    reply = mime(org, "m3@example.com", DE_REPLY, subject="Re: Roboter", in_reply_to="m2@seller.example",
                 references="<m1@example.com> <m2@seller.example>")
    postmark = {
        "From": "ada.lovelace@example.com", "FromName": "Ada Lovelace",
        "FromFull": {"Email": "ada.lovelace@example.com", "Name": "Ada Lovelace"},
        "To": org.inbox_address, "ToFull": [{"Email": org.inbox_address, "Name": ""}],
        "OriginalRecipient": org.inbox_address, "Subject": "Re: Roboter", "MessageID": "pm-0001",
        "Date": "Tue, 1 Dec 2026 12:00:00 +0100", "TextBody": EN_REPLY,
        "Headers": [{"Name": "Message-ID", "Value": "<m4@example.com>"},
                    {"Name": "In-Reply-To", "Value": "<m3@example.com>"},
                    {"Name": "References", "Value": "<m1@example.com> <m3@example.com>"}],
    }
    with httpx.Client(base_url=api.url, timeout=30) as client:
        wrong = client.post("/webhooks/email", content=first, headers={"Content-Type": "message/rfc822",
                                                                       **basic("not-the-secret")})
        assert wrong.status_code == 401
        for raw in (first, reply):
            r = client.post("/webhooks/email", content=raw, headers={"Content-Type": "message/rfc822",
                                                                     **basic(APP_SECRET)})
            assert r.status_code == 200 and r.json()["stored"] == 1, r.text
        signed = client.post("/webhooks/email", json=postmark, headers={
            "X-SalesFlow-Signature-256": sign(httpx.Request("POST", "/", json=postmark).content)})
        assert signed.status_code == 200 and signed.json()["stored"] == 1, signed.text
        assert client.post("/webhooks/email", content=b"garbage", headers={"Content-Type": "image/png",
                                                                           **basic(APP_SECRET)}).status_code == 415
    with worker(api.database_url, tmp_path):
        wait_for(lambda: value(api.database_url, "select count(*) from salesflow.messages where org_id = %s",
                               (org.id,)) == 3, "three messages")
    with psycopg.connect(api.database_url) as conn:
        rows = conn.execute("select m.external_id, m.thread_id, m.body, m.subject, l.email, l.first_name "
                            "from salesflow.messages as m join salesflow.leads as l "
                            "on l.org_id = m.org_id and l.id = m.lead_id "
                            "where m.org_id = %s order by m.external_id", (org.id,)).fetchall()
    assert [r[0] for r in rows] == ["m1@example.com", "m3@example.com", "m4@example.com"]
    assert {r[1] for r in rows} == {"m1@example.com"}
    assert rows[1][2].endswith("Viele Grüße\nAda") and "Anbei" not in rows[1][2]
    assert rows[2][2] == "Thanks, Tuesday at 10 works for us.\nWe will bring the CTO."
    assert {(r[4], r[5]) for r in rows} == {("ada.lovelace@example.com", "Ada")}


def test_outbound_email_goes_over_smtp_with_its_message_id_in_the_thread(
        api: ApiProcess, org: Org, smtp: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, _ = smtp
    with psycopg.connect(api.database_url, autocommit=True) as conn:
        with acting_as(conn, org.rep):
            lead = conn.execute("select id from api.create_lead(%s, first_name => 'Ada', "
                                "email => 'ada@example.com')", (org.id,)).fetchone()[0]
            conn.execute("insert into salesflow.messages (org_id, lead_id, channel, direction, body, external_id) "
                         "values (%s, %s, 'email', 'inbound', 'Angebot bitte', 'q1@example.com')", (org.id, lead))
            queued = conn.execute("select id, idempotency_key from api.queue_outbound_message(%s, %s, 'email', "
                                  "'Anbei das Angebot.', subject => 'Ihr Angebot', idempotency_key => 'offer-1')",
                                  (org.id, lead)).fetchone()
            again = conn.execute("select id from api.queue_outbound_message(%s, %s, 'email', 'Anbei das Angebot.', "
                                 "idempotency_key => 'offer-1')", (org.id, lead)).fetchone()
    assert again[0] == queued[0]  # the same key queues nothing new
    with worker(api.database_url, tmp_path):
        wait_for(lambda: value(api.database_url, "select status::text from salesflow.outbox where id = %s",
                               (queued[0],)) == "sent", "the email sent")
    # the worker, the only sender, has stopped; the SMTP server stored the message before it answered
    # the DATA command, which the outbox row's `sent` waited for: one message, and no more can come
    assert len(inbox.messages) == 1
    sent = email.message_from_bytes(inbox.messages[0], policy=email.policy.default)
    assert sent["To"] == "ada@example.com" and sent["From"] == org.inbox_address
    assert sent["Subject"] == "Ihr Angebot" and sent["In-Reply-To"] == "<q1@example.com>"
    assert sent["Message-ID"] == f"<offer-1@{org.inbox_address.split('@')[1]}>"
    assert sent.get_content().strip() == "Anbei das Angebot."
    assert value(api.database_url, "select external_id from salesflow.outbox where id = %s",
                 (queued[0],)) == f"offer-1@{org.inbox_address.split('@')[1]}"
