"""A generic JSON channel for anything else: POST /webhooks/generic/{name}, signed like Meta's webhooks.

Body: {"messages": [{"id": "...", "from": {"email"?, "phone"?, "id"?, "name"?}, "text": "...",
"sent_at"?: ISO 8601, "subject"?, "thread_id"?}]}; header X-Signature-256: sha256=HMAC(app secret, raw body).
Messages are stored on the `chat` channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from salesflow.channels.base import InboundMessage, InboxEvent, Sender, WebhookError, split_name
from salesflow.channels.identity import normalize_email, normalize_phone
from salesflow.channels.whatsapp import sign, signature_ok

PROVIDER = "generic"
__all__ = ["sign", "signature_ok", "events", "normalise", "sender_identifiers"]


def events(body: Any) -> list[InboxEvent]:
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        raise WebhookError(400, 'expected {"messages": [{"id", "from", "text"}, ...]}')
    out = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("id"), str) or not m["id"] \
                or not isinstance(m.get("from"), dict) or not isinstance(m.get("text"), str) or not m["text"].strip():
            raise WebhookError(400, "every message needs an id, a from object and a non-empty text")
        out.append(InboxEvent(m["id"][:500], "message", m))
    return out


def sender_identifiers(event: InboxEvent, region: str) -> list[str]:
    sender = (event.payload or {}).get("from") or {}
    found = []
    if e := normalize_email(str(sender.get("email") or "")):
        found.append(f"email:{e}")
    if p := normalize_phone(str(sender.get("phone") or ""), region):
        found.append(f"phone:{p}")
    return found


def normalise(payload: Mapping[str, Any], region: str) -> InboundMessage:
    sender = payload["from"]
    email_address = normalize_email(str(sender.get("email") or ""))
    phone = normalize_phone(str(sender.get("phone") or ""), region)
    address = email_address or phone or (str(sender.get("id") or "").strip()[:300] or None)
    if address is None:
        raise ValueError("from needs an email, a phone or an id")
    first, last = split_name(sender.get("name"))
    try:
        sent_at = datetime.fromisoformat(str(payload["sent_at"])) if payload.get("sent_at") else datetime.now(UTC)
    except ValueError:
        sent_at = datetime.now(UTC)
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=UTC)
    return InboundMessage(Sender("chat", address, phone=phone, email=email_address, first_name=first, last_name=last),
                          payload["id"], payload["text"][:100000], sent_at,
                          subject=(str(payload.get("subject") or "")[:1000] or None),
                          thread_id=(str(payload.get("thread_id") or "")[:500] or None))
