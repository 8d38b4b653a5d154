"""Shared pieces of the channel tests: organisations with channel accounts, signed webhooks, a worker
process, and a local server speaking the WhatsApp Graph API's send-message wire protocol."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg

from tests.conftest import ROOT, acting_as

APP_SECRET = "app-secret-for-tests-0001"
VERIFY_TOKEN = "verify-token-for-tests"


@dataclass(frozen=True)
class Org:
    id: uuid.UUID
    owner: uuid.UUID
    rep: uuid.UUID
    phone_number_id: str
    inbox_address: str


def make_org(conn: psycopg.Connection, *, graph_url: str | None = None, smtp_port: int | None = None) -> Org:
    """An organisation with a rep, a WhatsApp account and an inbound email address of its own."""
    owner, rep = uuid.uuid4(), uuid.uuid4()
    tag = uuid.uuid4().hex[:10]
    pnid, inbox = f"1{int(tag, 16) % 10**14:014d}", f"sales-{tag}@inbound.example"
    with acting_as(conn, owner):
        org = conn.execute("select id from api.create_organization(%s)", (f"Org {tag}",)).fetchone()[0]
        conn.execute("select api.add_org_member(%s, %s, 'rep')", (org, rep))
        wa_settings = {"graph_base_url": graph_url} if graph_url else {}
        conn.execute("select * from api.set_channel_config(%s, 'whatsapp', %s, %s, %s, 'graph-token', %s)",
                     (org, pnid, VERIFY_TOKEN + tag, APP_SECRET, json.dumps(wa_settings)))
        mail_settings = {"smtp_host": "127.0.0.1", "smtp_port": smtp_port or 25, "from_address": inbox}
        conn.execute("select * from api.set_channel_config(%s, 'email', %s, null, %s, null, %s)",
                     (org, inbox, APP_SECRET, json.dumps(mail_settings)))
        conn.execute("select * from api.set_channel_config(%s, 'generic', %s, null, %s)",
                     (org, f"chat-{tag}", APP_SECRET))
    return Org(org, owner, rep, pnid, inbox)


def sign(raw: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def wa_body(org: Org, *, messages: list[dict[str, Any]] | None = None, statuses: list[dict[str, Any]] | None = None,
            wa_id: str | None = "4915112345678", name: str = "Ada Lovelace", user_id: str | None = None) -> dict:
    """A notification in the shape Meta's webhooks use."""
    contact: dict[str, Any] = {"profile": {"name": name}}
    if wa_id:
        contact["wa_id"] = wa_id
    if user_id:
        contact["user_id"] = user_id
    metadata = {"display_phone_number": "15550001111", "phone_number_id": org.phone_number_id}
    value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": metadata}
    if messages is not None:
        value["contacts"] = [contact]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]}


def wa_text(msg_id: str, text: str, *, sender: str | None = "4915112345678", ts: int = 1764580000) -> dict:
    message = {"id": msg_id, "timestamp": str(ts), "type": "text", "text": {"body": text}}
    if sender:
        message["from"] = sender
    return message


def raw_json(body: Any) -> bytes:
    """The bytes as Meta sends them: UTF-8, not ASCII-escaped."""
    return json.dumps(body, ensure_ascii=False).encode()


# -- a worker process --------------------------------------------------------------------------------
@contextmanager
def worker(url: str, tmp: Path, *, concurrency: int = 10) -> Iterator[subprocess.Popen[bytes]]:
    log = tmp / f"worker-{uuid.uuid4().hex[:6]}.log"
    cmd = [sys.executable, "-m", "salesflow", "worker", "--no-migrate", "--lease", "60", "--poll-interval", "0.2",
           "--sweep-interval", "1", "--grace", "1", "--concurrency", str(concurrency), "--no-schedules"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, "DATABASE_URL": url}, stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT)
    try:
        yield proc
    except BaseException:
        lines = [x for x in log.read_text(errors="replace").splitlines() if "embedded texts" not in x]
        print("\n".join(lines)[-4000:])  # shown by pytest with the failure
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def value(url: str, query: str, params: Any = ()) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
        return row[0] if row else None


# -- the Graph API's send-message call -----------------------------------------------------------------
@dataclass
class GraphServer:
    """POST /{version}/{phone_number_id}/messages answered as Meta does; `throttle` 429s come first."""

    throttle: int = 0
    retry_after: int = 1
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def serve(self) -> Iterator[GraphServer]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                outer.requests.append({"path": self.path, "body": body,
                                       "authorization": self.headers.get("authorization"),
                                       "idempotency_key": self.headers.get("idempotency-key")})
                if outer.throttle > 0:
                    outer.throttle -= 1
                    answer = {"error": {"message": "(#130429) Rate limit hit", "type": "OAuthException",
                                        "code": 130429}}
                    self._send(429, answer, {"Retry-After": str(outer.retry_after)})
                    return
                if not self.path.endswith("/messages") or body.get("messaging_product") != "whatsapp":
                    self._send(400, {"error": {"message": "Invalid parameter", "code": 100}})
                    return
                wamid = "wamid." + uuid.uuid4().hex
                self._send(200, {"messaging_product": "whatsapp",
                                 "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                                 "messages": [{"id": wamid}]})

            def _send(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/v21.0"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
