"""WhatsApp Cloud API: Meta's verification handshake, X-Hub-Signature-256, events, sending, statuses.

Webhook payloads follow Meta's shape: {"object": "whatsapp_business_account", "entry": [{"changes":
[{"field": "messages", "value": {"metadata": {"phone_number_id"}, "contacts": [...], "messages": [...],
"statuses": [...]}}]}]}. Since 2026 a contact may carry a business-scoped user id (`user_id`,
"US.1349...") and no `wa_id` phone number, so a sender's identity never assumes a phone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from salesflow.channels.base import (
    DeliveryStatus,
    InboundMessage,
    InboxEvent,
    Sender,
    SendError,
    WebhookError,
    split_name,
)
from salesflow.channels.identity import normalize_phone, wa_user_address

PROVIDER = "whatsapp"
DEFAULT_GRAPH_URL = "https://graph.facebook.com/v21.0"
STATUSES = ("sent", "delivered", "read", "failed")
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")


def verify_handshake(params: Mapping[str, str], verify_token: str | None) -> str:
    """The hub.challenge to echo when hub.mode is subscribe and hub.verify_token matches."""
    if params.get("hub.mode") != "subscribe" or "hub.challenge" not in params:
        raise WebhookError(400, "expected hub.mode=subscribe with hub.verify_token and hub.challenge")
    token = params.get("hub.verify_token", "")
    if not verify_token or not hmac.compare_digest(token.encode(), verify_token.encode()):
        raise WebhookError(403, "hub.verify_token does not match this account's verify token", record=True)
    return params["hub.challenge"]


def signature_ok(raw: bytes, header: str | None, app_secret: str) -> bool:
    """X-Hub-Signature-256 is 'sha256=' + HMAC-SHA256(app secret, the raw body) in hex."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[7:].strip().lower(), expected)


def sign(raw: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def _values(body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or body.get("object") != "whatsapp_business_account":
        raise WebhookError(400, 'expected a WhatsApp Business Account notification '
                                '("object": "whatsapp_business_account")')
    entries = body.get("entry")
    if not isinstance(entries, list):
        raise WebhookError(400, "entry must be a list")
    values = []
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise WebhookError(400, "every entry needs a list of changes")
        for change in changes:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                raise WebhookError(400, "every change needs a value object")
            if change.get("field") == "messages":
                values.append(change["value"])
    return values


def route_keys(body: Any) -> set[str]:
    """The phone_number_ids a notification is for (the organisation is found by them)."""
    keys = set()
    for value in _values(body):
        pid = (value.get("metadata") or {}).get("phone_number_id")
        if not isinstance(pid, str) or not pid:
            raise WebhookError(400, "value.metadata.phone_number_id is missing")
        keys.add(pid)
    return keys


def events(body: Any, route_key: str) -> list[InboxEvent]:
    """One inbox event per message and per status of `route_key`'s values, each with its envelope."""
    out: list[InboxEvent] = []
    for value in _values(body):
        metadata = value.get("metadata") or {}
        if metadata.get("phone_number_id") != route_key:
            continue
        contacts = value.get("contacts") if isinstance(value.get("contacts"), list) else []
        for message in value.get("messages") or []:
            if not isinstance(message, dict) or not isinstance(message.get("id"), str) or not message["id"]:
                raise WebhookError(400, "every message needs an id")
            out.append(InboxEvent(message["id"][:500], "message",
                                  {"metadata": metadata, "contacts": contacts, "message": message}))
        for status in value.get("statuses") or []:
            if not isinstance(status, dict) or not isinstance(status.get("id"), str) \
                    or status.get("status") not in STATUSES:
                raise WebhookError(400, f"every status needs an id and one of {', '.join(STATUSES)}")
            out.append(InboxEvent(f"{status['id']}:{status['status']}"[:500], "status",
                                  {"metadata": metadata, "status": status}))
    return out


def sender_identifiers(event: InboxEvent, region: str) -> list[str]:
    """What the suppression list is checked against before anything of the event is stored."""
    payload = event.payload or {}
    found: list[str] = []
    message = payload.get("message") or payload.get("status") or {}
    for contact in payload.get("contacts") or []:
        if isinstance(contact, dict):
            if phone := normalize_phone(str(contact.get("wa_id") or ""), region):
                found.append(f"phone:{phone}")
            if contact.get("user_id"):
                found.append(f"addr:whatsapp:{wa_user_address(str(contact['user_id']))}")
    for key in ("from", "recipient_id"):
        if phone := normalize_phone(str(message.get(key) or ""), region):
            found.append(f"phone:{phone}")
    for key in ("from_user_id", "recipient_user_id"):
        if message.get(key):
            found.append(f"addr:whatsapp:{wa_user_address(str(message[key]))}")
    return sorted(set(found))


def _at(timestamp: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(timestamp), UTC)
    except (TypeError, ValueError, OverflowError):
        return datetime.now(UTC)


def normalise(payload: Mapping[str, Any], region: str) -> InboundMessage:
    """A stored message event as the product's message. Media is kept as metadata (a job fetches files)."""
    message = payload["message"]
    contact = next((c for c in payload.get("contacts") or [] if isinstance(c, dict)), {})
    phone = normalize_phone(str(contact.get("wa_id") or message.get("from") or ""), region)
    user_id = contact.get("user_id") or message.get("from_user_id")
    if not phone and not user_id:
        raise ValueError("the message names neither a phone number nor a business-scoped user id")
    first, last = split_name((contact.get("profile") or {}).get("name"))
    kind = message.get("type") or "unknown"
    metadata: dict[str, Any] = {"type": kind}
    if user_id:
        metadata["user_id"] = user_id
    if isinstance(message.get("context"), dict):
        metadata["context"] = message["context"]  # a reply to one of ours: context.id is its wamid
    body: str | None = None
    if kind == "text":
        body = (message.get("text") or {}).get("body")
    elif kind in MEDIA_TYPES:
        media = message.get(kind) or {}
        metadata["media"] = {k: media.get(k) for k in ("id", "mime_type", "sha256", "filename") if media.get(k)}
        body = media.get("caption") or f"[{kind}]"
    elif kind == "button":
        body = (message.get("button") or {}).get("text")
    elif kind == "interactive":
        reply = message.get("interactive") or {}
        body = (reply.get("button_reply") or reply.get("list_reply") or {}).get("title")
    elif kind == "reaction":
        body = (message.get("reaction") or {}).get("emoji")
    elif kind == "location":
        loc = message.get("location") or {}
        metadata["location"] = loc
        body = loc.get("name") or f"[location {loc.get('latitude')}, {loc.get('longitude')}]"
    body = (body or f"[{kind}]")[:100000]
    sender = Sender("whatsapp", phone or wa_user_address(str(user_id)), phone=phone, wa_user_id=user_id,
                    first_name=first, last_name=last)
    return InboundMessage(sender, message["id"], body, _at(message.get("timestamp")), metadata=metadata)


def delivery_status(payload: Mapping[str, Any]) -> DeliveryStatus:
    status = payload["status"]
    errors = status.get("errors") or []
    error = None
    if errors and isinstance(errors[0], dict):
        error = f"{errors[0].get('code')}: {errors[0].get('title') or errors[0].get('message')}"[:2000]
    return DeliveryStatus(status["id"], status["status"], _at(status.get("timestamp")), error)


def send(config: Mapping[str, Any], to: str, body: str, *, idempotency_key: str, timeout: float = 20.0) -> str:
    """POST {graph}/{phone_number_id}/messages; returns the wamid. 429 and 5xx are retryable."""
    base = str((config.get("settings") or {}).get("graph_base_url") or DEFAULT_GRAPH_URL).rstrip("/")
    recipient = to.removeprefix("bsuid:").lstrip("+")
    request = urllib.request.Request(
        f"{base}/{config['route_key']}/messages",
        data=json.dumps({"messaging_product": "whatsapp", "recipient_type": "individual", "to": recipient,
                         "type": "text", "text": {"body": body, "preview_url": False}}).encode(),
        headers={"Authorization": f"Bearer {config.get('access_token') or ''}", "Content-Type": "application/json",
                 # Meta ignores it; proxies and our test server use it to spot a repeated send
                 "Idempotency-Key": idempotency_key},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
            answer = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode("utf-8", "replace")
        if exc.code == 429 or exc.code >= 500:
            retry = exc.headers.get("Retry-After")
            raise SendError(f"WhatsApp answered {exc.code}: {detail}",
                            retry_after=float(retry) if retry and retry.isdigit() else None) from None
        raise SendError(f"WhatsApp refused the message ({exc.code}): {detail}", permanent=True) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise SendError(f"WhatsApp unreachable: {exc}") from None
    messages = answer.get("messages") if isinstance(answer, dict) else None
    if not messages or not isinstance(messages[0], dict) or not messages[0].get("id"):
        raise SendError(f"WhatsApp answered without a message id: {str(answer)[:300]}")
    return str(messages[0]["id"])
