"""`process_inbox`: turn one stored webhook event into a message (or a delivery status), stitched to its lead.

Enqueued by the webhook in the transaction that stored the event. Runs in one transaction holding
the inbox row, so a redelivered job finds it processed and does nothing; the message insert is
idempotent on the provider's id as well. Embedding follows from the message insert (its trigger).
"""

from __future__ import annotations

from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict

from salesflow.channels import email_inbound, generic, whatsapp
from salesflow.channels.base import InboundMessage
from salesflow.channels.identity import wa_user_address
from salesflow.db.queries import query
from salesflow.functions.registry import Handler, JobContext, PermanentError, RetryLater

# a delivery status may overtake the send that gives its message an id: wait for that, this long
STATUS_PATIENCE_SECONDS = 24 * 3600
CHANNEL = {"whatsapp": "whatsapp", "email": "email", "generic": "chat"}


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inbox_id: int


def normalise(event: dict[str, Any]) -> InboundMessage:
    provider, region = event["provider"], event["default_region"]
    if provider == "whatsapp":
        return whatsapp.normalise(event["payload"], region)
    if provider == "email":
        if event["raw"] is not None:
            return email_inbound.normalise_mime(bytes(event["raw"]), event["external_id"])
        return email_inbound.normalise_postmark(event["payload"], event["external_id"])
    return generic.normalise(event["payload"], region)


async def run(job: JobContext, payload: Payload) -> None:
    if job.org_id is None:
        raise PermanentError("process_inbox needs the job's org_id")
    org = job.org_id
    done = {"org_id": org, "inbox_id": payload.inbox_id, "lead_id": None, "message_id": None, "error": None}
    async with job.connection() as conn, conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        event = await (await cur.execute(query("lock_inbox_event"), {"org_id": org,
                                                                     "inbox_id": payload.inbox_id})).fetchone()
        if event is None or event["status"] != "pending":
            return  # erased, or processed by an earlier delivery of this job
        channel = CHANNEL[event["provider"]]
        if event["kind"] == "status":
            status = whatsapp.delivery_status(event["payload"])
            row = await (await cur.execute(query("apply_delivery_status"), {
                "org_id": org, "channel": channel, "external_id": status.external_id, "status": status.status,
                "at": status.at, "error": status.error})).fetchone()
            if row and row["found"]:
                await cur.execute(query("finish_inbox_event"), {**done, "status": "processed"})
                return
            age = await (await cur.execute("select extract(epoch from now() - %s::timestamptz) as age",
                                           (event["received_at"],))).fetchone()
            if age and age["age"] < STATUS_PATIENCE_SECONDS:
                raise RetryLater(f"no outbound message {status.external_id} yet", 60)
            await cur.execute(query("finish_inbox_event"), {**done, "status": "ignored",
                                                            "error": "no outbound message has this id"})
            return
        try:
            message = normalise(event)
        except (ValueError, KeyError, TypeError) as exc:
            await cur.execute(query("finish_inbox_event"), {**done, "status": "failed", "error": str(exc)})
            return
        sender = message.sender
        lead = await (await cur.execute(query("stitch_sender"), {
            "org_id": org, "channel": channel, "address": sender.address, "phone": sender.phone,
            "email": sender.email, "first_name": sender.first_name, "last_name": sender.last_name})).fetchone()
        lead_id = lead["lead_id"]
        if sender.wa_user_id and sender.phone:
            # the business-scoped id too, for when a later message carries no phone number
            await cur.execute(query("link_identity"), {"org_id": org, "channel": channel, "lead_id": lead_id,
                                                        "address": wa_user_address(sender.wa_user_id)})
        params = {"org_id": org, "lead_id": lead_id, "channel": channel, "subject": message.subject,
                  "body": message.body, "external_id": message.external_id, "sent_at": message.sent_at,
                  "thread_id": message.thread_id, "metadata": Jsonb(message.metadata)}
        row = await (await cur.execute(query("insert_inbound_message"), params)).fetchone()
        if row is None:  # the same message through another inbox row (e.g. Postmark and raw MIME)
            row = await (await cur.execute(query("message_by_external_id"), params)).fetchone()
        message_id = row["id"] if row else None
        await cur.execute(query("record_opt_out_if_asked"), {**params, "message_id": message_id})
        await cur.execute(query("finish_inbox_event"), {**done, "status": "processed", "lead_id": lead_id,
                                                        "message_id": message_id})


HANDLER = Handler(kind="process_inbox", payload=Payload, run=run, timeout=30, backoff_base=5)
