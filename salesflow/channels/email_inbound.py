"""Email: raw RFC 5322 MIME or Postmark's inbound JSON in; SMTP out.

Inbound mail is parsed with the standard library's `email` package (policy.default). Quoted replies
are cut in German and English ("On ... wrote:", "Am ... schrieb ...:", "-----Original Message-----",
"-----Ursprüngliche Nachricht-----", Outlook's From:/Von: header blocks, "> " lines, "-- " signatures).
A thread is named by its root Message-ID: the first of References, else In-Reply-To, else the
message's own id.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib
import html.parser
import re
import smtplib
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from salesflow.channels.base import InboundMessage, InboxEvent, Sender, SendError, WebhookError, split_name
from salesflow.channels.identity import normalize_email

PROVIDER = "email"
MSGID = re.compile(r"<([^<>\s]{1,490})>")
# a line that starts the quoted part of a reply (matched case-insensitively, line by line)
QUOTE_STARTS = [
    re.compile(r"^\s*on\b.{0,300}\bwrote:\s*$", re.I),
    re.compile(r"^\s*am\b.{0,300}\bschrieb\b.{0,300}:\s*$", re.I),
    re.compile(r"^\s*-{2,}\s*(original message|ursprüngliche nachricht|weitergeleitete nachricht"
               r"|forwarded message)\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*_{10,}\s*$"),  # Outlook's rule above the quoted header block
    re.compile(r"^\s*(from|von):\s.+$", re.I),  # a header block, when followed by Sent:/Gesendet:/Date:
    re.compile(r"^-- ?$"),  # signature separator
]
HEADER_FOLLOWERS = re.compile(r"^\s*(sent|gesendet|date|datum|to|an|subject|betreff):\s", re.I)
# "On Tue, 1 Dec 2026 at 10:00, Ada Lovelace" + newline + "<ada@example.com> wrote:" (clients wrap it)
WRAPPED_ON = re.compile(r"^\s*(on|am)\b.{0,300}$", re.I)
WRAPPED_END = re.compile(r"^.{0,300}\b(wrote|schrieb)\b.{0,200}:\s*$", re.I)


def strip_quoted_reply(text: str) -> str:
    """The new part of a reply: everything above the first line that starts the quoted part."""
    lines = text.replace("\r\n", "\n").split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if line.startswith(">") and all(not x.strip() or x.startswith(">") for x in lines[i:]):
            cut = i
            break
        if WRAPPED_ON.match(line) and WRAPPED_END.match(following) and not WRAPPED_END.match(line):
            cut = i
            break
        for n, pattern in enumerate(QUOTE_STARTS):
            if pattern.match(line):
                if n == 4 and not HEADER_FOLLOWERS.match(following):
                    continue
                cut = i
                break
        else:
            continue
        break
    kept = "\n".join(lines[:cut]).strip()
    return kept or text.strip()


class _Text(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li", "blockquote"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    return re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip()


def _ids(value: str | None) -> list[str]:
    return MSGID.findall(value or "")


def thread_of(message_id: str | None, in_reply_to: str | None, references: str | None) -> str | None:
    refs = _ids(references)
    if refs:
        return refs[0]
    replied = _ids(in_reply_to)
    if replied:
        return replied[0]
    return message_id


def parse_mime(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def mime_event(raw: bytes) -> tuple[InboxEvent, list[str]]:
    """The inbox event of a raw message and the addresses it was sent to (for routing)."""
    try:
        message = parse_mime(raw)
        headers = {k: str(message.get(k) or "") for k in ("Message-ID", "From", "To", "Cc", "Delivered-To",
                                                          "X-Original-To")}
    except Exception as exc:  # noqa: BLE001 - the email package raises many kinds on broken input
        raise WebhookError(400, f"not a parseable RFC 5322 message: {exc}") from None
    if not headers["From"]:
        raise WebhookError(400, "the message has no From header")
    ids = _ids(headers["Message-ID"])
    external_id = ids[0] if ids else "sha256:" + hashlib.sha256(raw).hexdigest()
    recipients = [a for _, a in email.utils.getaddresses(
        [headers["Delivered-To"], headers["X-Original-To"], headers["To"], headers["Cc"]]) if a]
    return InboxEvent(external_id, "message", None, raw), recipients


def postmark_event(body: Any) -> tuple[InboxEvent, list[str]]:
    """Postmark's inbound webhook JSON (From, FromFull, ToFull, OriginalRecipient, Headers, TextBody, ...)."""
    if not isinstance(body, dict) or not isinstance(body.get("From") or body.get("FromFull"), str | dict):
        raise WebhookError(400, "expected Postmark's inbound JSON with From/FromFull")
    headers = {str(h.get("Name", "")).lower(): str(h.get("Value", ""))
               for h in body.get("Headers") or [] if isinstance(h, dict)}
    ids = _ids(headers.get("message-id"))
    fallback = body.get("MessageID") or hashlib.sha256(repr(body).encode()).hexdigest()
    external_id = ids[0] if ids else f"postmark:{fallback}"
    recipients = [str(body.get("OriginalRecipient") or "")]
    recipients += [str(t.get("Email") or "") for t in body.get("ToFull") or [] if isinstance(t, dict)]
    recipients += [a for _, a in email.utils.getaddresses([str(body.get("To") or "")])]
    return InboxEvent(external_id[:500], "message", body, None), [r for r in recipients if r]


def _date(value: str | None) -> datetime:
    try:
        parsed = email.utils.parsedate_to_datetime(value or "")
    except (TypeError, ValueError, IndexError):
        return datetime.now(UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _sender(from_header: str, name: str | None = None) -> Sender:
    display, address = email.utils.parseaddr(from_header)
    normalised = normalize_email(address)
    if normalised is None:
        raise ValueError(f"the sender address {address[:100]!r} is not an email address")
    first, last = split_name(name or display)
    return Sender("email", normalised, email=normalised, first_name=first, last_name=last)


def normalise_mime(raw: bytes, external_id: str) -> InboundMessage:
    message = parse_mime(raw)
    part = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if part is not None:
        content = part.get_content()
        text = html_to_text(content) if part.get_content_subtype() == "html" else str(content)
    attachments = [{"filename": a.get_filename(), "content_type": a.get_content_type()}
                   for a in message.iter_attachments()]
    body = strip_quoted_reply(text)[:100000] or "[no text]"
    thread = thread_of(external_id, str(message.get("In-Reply-To") or ""), str(message.get("References") or ""))
    metadata: dict[str, Any] = {"in_reply_to": _ids(str(message.get("In-Reply-To") or ""))[:1]}
    if attachments:
        metadata["attachments"] = attachments
    return InboundMessage(_sender(str(message.get("From") or "")), external_id, body, _date(str(message.get("Date"))),
                          subject=(str(message.get("Subject") or "")[:1000] or None), thread_id=thread,
                          metadata=metadata)


def normalise_postmark(body: Mapping[str, Any], external_id: str) -> InboundMessage:
    headers = {str(h.get("Name", "")).lower(): str(h.get("Value", ""))
               for h in body.get("Headers") or [] if isinstance(h, dict)}
    full = body.get("FromFull") if isinstance(body.get("FromFull"), dict) else {}
    sender = _sender(str(full.get("Email") or body.get("From") or ""), full.get("Name") or body.get("FromName"))
    text = str(body.get("TextBody") or "") or html_to_text(str(body.get("HtmlBody") or ""))
    # Postmark strips replies only for some clients; our own rules run on the whole text either way
    new_part = strip_quoted_reply(text)[:100000] or "[no text]"
    thread = thread_of(external_id, headers.get("in-reply-to"), headers.get("references"))
    metadata: dict[str, Any] = {"in_reply_to": _ids(headers.get("in-reply-to"))[:1]}
    if body.get("Attachments"):
        metadata["attachments"] = [{"filename": a.get("Name"), "content_type": a.get("ContentType")}
                                   for a in body["Attachments"] if isinstance(a, dict)]
    return InboundMessage(sender, external_id, new_part, _date(str(body.get("Date") or headers.get("date") or "")),
                          subject=(str(body.get("Subject") or "")[:1000] or None), thread_id=thread,
                          metadata=metadata)


def send(config: Mapping[str, Any], to: str, subject: str | None, body: str, *, idempotency_key: str,
         in_reply_to: str | None = None, timeout: float = 20.0) -> str:
    """Send over SMTP; returns the Message-ID (without brackets), derived from the idempotency key."""
    settings = config.get("settings") or {}
    sender = str(settings.get("from_address") or config["route_key"])
    domain = sender.rsplit("@", 1)[-1]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject or ""
    message["Date"] = email.utils.formatdate(localtime=False)
    message_id = f"{idempotency_key}@{domain}"
    message["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
        message["References"] = f"<{in_reply_to}>"
    message.set_content(body)
    try:
        with smtplib.SMTP(str(settings.get("smtp_host") or "localhost"), int(settings.get("smtp_port") or 25),
                          timeout=timeout) as smtp:
            if settings.get("smtp_starttls"):
                smtp.starttls()
            if settings.get("smtp_user"):
                smtp.login(str(settings["smtp_user"]), str(config.get("access_token") or ""))
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        # 4xx: try again later; 5xx: the server will never take it
        raise SendError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:500],
                        permanent=exc.smtp_code >= 500) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise SendError(f"SMTP refused the recipient: {exc.recipients!r}"[:500], permanent=True) from None
    except (OSError, smtplib.SMTPException, TimeoutError) as exc:
        raise SendError(f"SMTP failed: {exc}"[:500]) from None
    return message_id


def sender_identifiers(event: InboxEvent) -> list[str]:
    """The From address of a stored event, for the suppression check before it is stored."""
    if event.raw is not None:
        from_header = str(parse_mime(event.raw).get("From") or "")
    else:
        payload = event.payload or {}
        full = payload.get("FromFull") if isinstance(payload.get("FromFull"), dict) else {}
        from_header = str(full.get("Email") or payload.get("From") or "")
    address = normalize_email(email.utils.parseaddr(from_header)[1])
    return [f"email:{address}"] if address else []
