"""What every channel adapter provides, and the shapes that pass between webhook, inbox and worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


class WebhookError(Exception):
    """A refused webhook: HTTP status, PostgREST-style code and a reason. `record` puts it in webhook_rejections."""

    def __init__(self, status: int, message: str, *, code: str | None = None, record: bool = False) -> None:
        super().__init__(message)
        self.status, self.message, self.record = status, message, record
        self.code = code or f"SF{status}"


class SendError(Exception):
    """The provider refused an outbound message. `retry_after` (seconds) when it asked to come back later."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after, self.permanent = retry_after, permanent


@dataclass(frozen=True)
class InboxEvent:
    """One event of a webhook, as the inbox stores it (before any interpretation)."""

    external_id: str
    kind: Literal["message", "status"]
    payload: dict[str, Any] | None = None
    raw: bytes | None = None


@dataclass(frozen=True)
class Sender:
    """Who wrote: normalised addresses; any may be missing (a WhatsApp user with only a BSUID)."""

    channel: Literal["email", "whatsapp", "chat"]
    address: str  # the identity's address on its channel
    phone: str | None = None
    email: str | None = None
    wa_user_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A normalised inbound message, ready for api.create_message's columns."""

    sender: Sender
    external_id: str
    body: str
    sent_at: datetime
    subject: str | None = None
    thread_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryStatus:
    """A provider's report on an outbound message, mapped onto salesflow.outbox_status."""

    external_id: str
    status: Literal["sent", "delivered", "read", "failed"]
    at: datetime
    error: str | None = None


def split_name(name: str | None) -> tuple[str | None, str | None]:
    if not name or not name.strip():
        return None, None
    parts = name.strip().split(None, 1)
    return parts[0][:200], (parts[1][:200] if len(parts) > 1 else None)
