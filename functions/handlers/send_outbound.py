"""`send_outbound`: hand one approved outbox message to its provider (SMTP or the WhatsApp Graph API).

Enqueued when a message becomes approved. Consent and the suppression list are read again right
before sending, so an opt-out that arrived after approval still stops it. A 429 (or SMTP 4xx) is
retried after the provider's Retry-After. Delivery is at least once: a worker that dies between the
provider's acceptance and recording it sends again, with the same idempotency key (the email's
Message-ID, the Graph call's Idempotency-Key header) so the duplicate can be recognised.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict

from salesflow.channels import email_inbound, whatsapp
from salesflow.channels.base import SendError
from salesflow.channels.identity import normalize_phone
from salesflow.db.queries import query
from salesflow.functions.registry import Handler, JobContext, PermanentError, RetryLater


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    outbox_id: UUID


async def run(job: JobContext, payload: Payload) -> None:
    if job.org_id is None:
        raise PermanentError("send_outbound needs the job's org_id")
    key = {"org_id": job.org_id, "outbox_id": payload.outbox_id}
    async with job.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        msg = await (await cur.execute(query("outbox_to_send"), key)).fetchone()
        if msg is None or msg["status"] not in ("approved", "sending"):
            return  # gone with its lead, or sent / blocked / rejected already
        if msg["suppressed"] or not msg["may_contact"]:
            reason = "the person was erased" if msg["suppressed"] else f"the lead opted out of {msg['channel']}"
            await cur.execute(query("outbox_mark"), {**key, "status": "blocked", "error": reason, "attempt": 0})
            return
        provider = "email" if msg["channel"] == "email" else "whatsapp"
        config = await (await cur.execute(query("org_channel_config"), {**key, "provider": provider})).fetchone()
        if config is None:
            await cur.execute(query("outbox_mark"), {**key, "status": "failed", "attempt": 0,
                                                     "error": f"no {provider} account is configured"})
            return
        await cur.execute(query("outbox_mark"), {**key, "status": "sending", "error": None, "attempt": 1})
    try:
        if provider == "email":
            external_id = await asyncio.to_thread(
                email_inbound.send, config, msg["to_address"], msg["subject"], msg["body"],
                idempotency_key=msg["idempotency_key"], in_reply_to=msg["reply_to"])
        else:
            # a number typed in national form ("0151 ...") goes out in E.164 for the organisation's region
            to = normalize_phone(msg["to_address"], msg["default_region"]) or msg["to_address"]
            external_id = await asyncio.to_thread(whatsapp.send, config, to, msg["body"],
                                                  idempotency_key=msg["idempotency_key"])
    except SendError as exc:
        async with job.connection() as conn:
            if exc.permanent or job.last_attempt:
                await conn.execute(query("outbox_mark"), {**key, "status": "failed", "error": str(exc), "attempt": 0})
                return
            await conn.execute(query("outbox_mark"), {**key, "status": "sending", "error": str(exc), "attempt": 0})
        if exc.retry_after is not None:
            raise RetryLater(str(exc), exc.retry_after) from None
        raise
    async with job.connection() as conn:
        await conn.execute(query("outbox_sent"), {**key, "external_id": external_id})


HANDLER = Handler(kind="send_outbound", payload=Payload, run=run, timeout=45, backoff_base=15)
