"""Channel webhooks (DESIGN.md 15): verify on the raw bytes, store each event in the inbox, acknowledge.

Normalising, identity stitching and embedding happen later in the worker's process_inbox job. A
refused request (bad signature, unknown account, oversized) is recorded in webhook_rejections by the
hash and size of its body, never the body. All events of one request are stored in one transaction,
so a request is stored whole or not at all; a redelivered event is a no-op.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from salesflow.api.errors import ApiError
from salesflow.channels import email_inbound, generic, whatsapp
from salesflow.channels.base import InboxEvent, WebhookError
from salesflow.channels.identity import normalize_email
from salesflow.db.queries import query

router = APIRouter()
Work = Callable[[psycopg.AsyncConnection[Any], bytes], Awaitable[dict[str, int]]]
JSON_LIMIT = int(os.environ.get("SALESFLOW_WEBHOOK_MAX_BYTES", str(1024 * 1024)))
EMAIL_LIMIT = int(os.environ.get("SALESFLOW_EMAIL_WEBHOOK_MAX_BYTES", str(25 * 1024 * 1024)))


def _error(exc: WebhookError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


async def _body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise WebhookError(413, f"the body is {length} bytes; webhooks take at most {limit}", record=True)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebhookError(413, f"the body exceeds {limit} bytes", record=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookError(400, f"the body is not JSON: {exc}") from None


async def _reject(conn: psycopg.AsyncConnection[Any], provider: str, reason: str, raw: bytes) -> None:
    await conn.execute(query("record_rejection"), {
        "provider": provider, "reason": reason[:200], "body_sha256": hashlib.sha256(raw).hexdigest(),
        "body_bytes": len(raw)})


async def _config(conn: psycopg.AsyncConnection[Any], provider: str, route_key: str) -> dict[str, Any] | None:
    cur = conn.cursor(row_factory=dict_row)
    return await (await cur.execute(query("channel_config"), {"provider": provider, "route_key": route_key})).fetchone()


async def _store(conn: psycopg.AsyncConnection[Any], config: dict[str, Any], raw: bytes,
                 items: list[tuple[InboxEvent, list[str]]]) -> dict[str, int]:
    """Store events of one organisation (inside the caller's transaction); suppressed senders per its setting."""
    counts = {"stored": 0, "duplicates": 0, "suppressed": 0}
    digest = hashlib.sha256(raw).hexdigest()
    for event, identifiers in items:
        status = "pending"
        if identifiers:
            row = await (await conn.execute(query("is_suppressed"), {"org_id": config["org_id"],
                                                                     "identifiers": identifiers})).fetchone()
            if row and row[0]:
                counts["suppressed"] += 1
                if config["suppression_mode"] != "marker":
                    continue
                status = "suppressed"
        suppressed = status == "suppressed"
        row = await (await conn.execute(query("insert_inbox_event"), {
            "org_id": config["org_id"], "provider": config["provider"], "external_id": event.external_id,
            "kind": event.kind, "payload": None if suppressed or event.payload is None else Jsonb(event.payload),
            "raw": None if suppressed else event.raw, "body_sha256": digest, "status": status})).fetchone()
        if row is None:
            counts["duplicates"] += 1
        elif not suppressed:
            counts["stored"] += 1
            await conn.execute(query("enqueue_process_inbox"), {"inbox_id": row[0], "org_id": config["org_id"]})
    return counts


def _pool(request: Request) -> Any:
    return request.app.state.rpc.pool


@router.get("/webhooks/whatsapp")
async def whatsapp_handshake(request: Request) -> Response:
    """Meta's verification: echo hub.challenge when hub.verify_token is one of our accounts' tokens."""
    params = dict(request.query_params)
    token = params.get("hub.verify_token", "")
    async with _pool(request).connection() as conn:
        async with conn.transaction():
            cur = await conn.execute(query("whatsapp_verify_token"), {"token": token})
            row = await cur.fetchone()
        try:
            challenge = whatsapp.verify_handshake(params, row[0] if row else None)
        except WebhookError as exc:
            if exc.record:
                async with conn.transaction():
                    await _reject(conn, "whatsapp", "verify_token mismatch", b"")
            raise _error(exc) from None
    return PlainTextResponse(challenge)


async def _handle(request: Request, provider: str, limit: int, work: Work) -> Response:
    """Read the body within `limit`, run `work` in one transaction, answer its counts; refusals as errors."""
    async with _pool(request).connection() as conn:
        raw = b""
        try:
            raw = await _body(request, limit)
            async with conn.transaction():
                counts = await work(conn, raw)
        except WebhookError as exc:
            if exc.record:
                async with conn.transaction():
                    await _reject(conn, provider, exc.message, raw)
            raise _error(exc) from None
    return JSONResponse(counts)


@router.post("/webhooks/whatsapp")
async def whatsapp_notification(request: Request) -> Response:
    async def work(conn: psycopg.AsyncConnection[Any], raw: bytes) -> dict[str, int]:
        body = _json(raw)
        configs = []
        for key in sorted(whatsapp.route_keys(body)):
            config = await _config(conn, "whatsapp", key)
            if config is None:
                raise WebhookError(404, f"no WhatsApp account with phone_number_id {key[:40]}", record=True)
            if not config["app_secret"] or not whatsapp.signature_ok(
                    raw, request.headers.get("x-hub-signature-256"), config["app_secret"]):
                raise WebhookError(401, "X-Hub-Signature-256 does not match the body", record=True)
            configs.append(config)
        counts = {"stored": 0, "duplicates": 0, "suppressed": 0}
        for config in configs:
            items = [(e, whatsapp.sender_identifiers(e, config["default_region"]))
                     for e in whatsapp.events(body, config["route_key"])]
            for k, v in (await _store(conn, config, raw, items)).items():
                counts[k] += v
        return counts

    return await _handle(request, "whatsapp", JSON_LIMIT, work)


def _email_authentic(request: Request, raw: bytes, secret: str) -> bool:
    """HTTP Basic with the account's secret as password (Postmark's way), or an HMAC header over the body."""
    header = request.headers.get("x-salesflow-signature-256")
    if header:
        return whatsapp.signature_ok(raw, header, secret)
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            _, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(password.encode(), secret.encode())
    return False


@router.post("/webhooks/email")
async def email_message(request: Request) -> Response:
    """Raw RFC 5322 (Content-Type message/rfc822) or Postmark's inbound JSON (application/json)."""
    async def work(conn: psycopg.AsyncConnection[Any], raw: bytes) -> dict[str, int]:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            event, recipients = email_inbound.postmark_event(_json(raw))
        elif kind in ("message/rfc822", "text/plain", "application/octet-stream"):
            event, recipients = email_inbound.mime_event(raw)
        else:
            raise WebhookError(415, "send message/rfc822 (raw MIME) or application/json (Postmark inbound)")
        config = None
        for address in recipients:
            normalised = normalize_email(address)
            if normalised and (config := await _config(conn, "email", normalised)):
                break
        if config is None:
            raise WebhookError(404, "no inbound email account for any recipient of this message", record=True)
        if not config["app_secret"] or not _email_authentic(request, raw, config["app_secret"]):
            raise WebhookError(401, "missing or wrong webhook credentials for this inbox", record=True)
        return await _store(conn, config, raw, [(event, email_inbound.sender_identifiers(event))])

    return await _handle(request, "email", EMAIL_LIMIT, work)


@router.post("/webhooks/generic/{name}")
async def generic_messages(name: str, request: Request) -> Response:
    async def work(conn: psycopg.AsyncConnection[Any], raw: bytes) -> dict[str, int]:
        config = await _config(conn, "generic", name[:320])
        if config is None:
            raise WebhookError(404, f"no generic channel named {name[:60]}", record=True)
        if not config["app_secret"] or not generic.signature_ok(
                raw, request.headers.get("x-signature-256"), config["app_secret"]):
            raise WebhookError(401, "X-Signature-256 does not match the body", record=True)
        events = generic.events(_json(raw))
        return await _store(conn, config, raw,
                            [(e, generic.sender_identifiers(e, config["default_region"])) for e in events])

    return await _handle(request, "generic", JSON_LIMIT, work)
