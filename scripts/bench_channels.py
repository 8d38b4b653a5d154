"""Channels and GDPR: webhook ingest next to the same inserts through the RPC, and erasure time.

Webhook ingest: signed WhatsApp notifications (one message each, from 200 senders) posted by 8
concurrent clients to the API process; each is verified on its raw bytes, stored in the inbox and
acknowledged (normalising waits for the worker). Baseline in the same run: the same number of
messages through POST /rest/v1/rpc/create_message with a user's token. Erasure: salesflow.erase_lead_data
for a lead with 10,000 messages (and 1,250, to see the growth), next to a plain cascading
DELETE of a lead of the same size. Prints figures; asserts nothing.

    .venv/bin/python scripts/bench_channels.py [--messages 2000] [--erase 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
from _bench import bench_database, pct

from salesflow.db.embedded import free_port
from salesflow.tokens import issue_token

SECRET = "bench-secret-bench-secret-bench-secret-000"
APP_SECRET = "bench-app-secret"
ROOT = Path(__file__).resolve().parents[1]


def start_api(database_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SALESFLOW_JWT_SECRET": SECRET, "SALESFLOW_API_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "salesflow", "api", "--no-migrate"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the API did not come up")


def notification(pnid: str, i: int) -> bytes:
    sender = f"49151{i % 200:08d}"
    body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550001111", "phone_number_id": pnid},
        "contacts": [{"profile": {"name": f"Kunde {i % 200}"}, "wa_id": sender}],
        "messages": [{"from": sender, "id": f"wamid.bench.{i}", "timestamp": "1764580000", "type": "text",
                      "text": {"body": f"Nachricht {i}: Wir brauchen ein Angebot für {i % 50 + 1} Roboter, grüße!"}}],
    }}]}]}
    return json.dumps(body, ensure_ascii=False).encode()


def timed_posts(url: str, requests: list[tuple[str, bytes, dict[str, str]]], clients: int) -> tuple[float, list[float]]:
    def one(client: httpx.Client, req: tuple[str, bytes, dict[str, str]]) -> float:
        start = time.perf_counter()
        r = client.post(req[0], content=req[1], headers=req[2])
        if r.status_code != 200:
            raise SystemExit(f"{req[0]} answered {r.status_code}: {r.text[:200]}")
        return time.perf_counter() - start

    with httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=clients)) as client:
        with ThreadPoolExecutor(clients) as pool:
            start = time.perf_counter()
            latencies = list(pool.map(lambda r: one(client, r), requests))
            return time.perf_counter() - start, latencies


def bench_ingest(url: str, org: uuid.UUID, rep: uuid.UUID, n: int, clients: int) -> None:
    pnid = "1098765432100"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("insert into salesflow.channel_configs (org_id, provider, route_key, verify_token, app_secret) "
                     "values (%s, 'whatsapp', %s, 'bench-verify-token', %s)", (org, pnid, APP_SECRET))
        lead = conn.execute("insert into salesflow.leads (org_id, first_name, owner_id) values (%s, 'Bench', %s) "
                            "returning id", (org, rep)).fetchone()[0]
    proc, api = start_api(url)
    try:
        hooks = []
        for i in range(n):
            raw = notification(pnid, i)
            sig = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
            hooks.append(("/webhooks/whatsapp", raw, {"X-Hub-Signature-256": sig, "Content-Type": "application/json"}))
        token = issue_token(SECRET, "authenticated", user_id=rep)
        rpcs = [("/rest/v1/rpc/create_message", json.dumps({
            "org_id": str(org), "lead_id": str(lead), "channel": "whatsapp", "direction": "inbound",
            "body": f"Nachricht {i}: Wir brauchen ein Angebot für {i % 50 + 1} Roboter, grüße!",
            "external_id": f"wamid.rpc.{i}"}, ensure_ascii=False).encode(),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}) for i in range(n)]
        timed_posts(api, hooks[:50], clients)  # warm-up: connections, plans (these are stored as well)
        timed_posts(api, rpcs[:50], clients)
        rows = []
        for label, reqs in (("webhook (verify + inbox + enqueue)", hooks[50:]), ("RPC create_message", rpcs[50:])):
            wall, lat = timed_posts(api, reqs, clients)
            rows.append((label, len(reqs) / wall, pct(lat, 0.5), pct(lat, 0.95)))
        print(f"\ningest of {n - 50} messages, {clients} concurrent clients")
        print(f"{'path':38} {'msgs/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
        for label, rate, p50, p95 in rows:
            print(f"{label:38} {rate:8.0f} {p50:8.1f} {p95:8.1f}")
        print(f"webhook / RPC throughput: {rows[0][1] / rows[1][1]:.2f}")
        with psycopg.connect(url) as conn:
            stored = conn.execute("select count(*) from salesflow.webhook_inbox where org_id = %s", (org,)).fetchone()
        print(f"inbox rows stored: {stored[0]}")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def lead_with_messages(conn: psycopg.Connection, org: uuid.UUID, n: int, tag: str) -> uuid.UUID:
    phone = f"+49170{int(hashlib.md5(tag.encode()).hexdigest(), 16) % 10**7:07d}"
    lead = conn.execute("insert into salesflow.leads (org_id, first_name, email, phone) values (%s, 'Erase', %s, %s) "
                        "returning id", (org, f"erase-{tag}@example.com", phone)).fetchone()[0]
    conn.execute("insert into salesflow.channel_identities (org_id, channel, address, lead_id) "
                 "select org_id, 'email', email, id from salesflow.leads where id = %s", (lead,))
    conn.execute("insert into salesflow.messages (org_id, lead_id, channel, direction, body, external_id, sent_at) "
                 "select %s, %s, 'email', 'inbound', 'Nachricht ' || g || ' über Roboter und Preise', "
                 "%s || '-' || g, now() - g * interval '1 minute' from generate_series(1, %s) as g",
                 (org, lead, tag, n))
    conn.execute("insert into salesflow.activities (org_id, lead_id, kind, body) "
                 "select %s, %s, 'note', 'Notiz ' || g from generate_series(1, %s) as g", (org, lead, n // 10))
    return lead


def bench_erasure(url: str, org: uuid.UUID, n: int) -> None:
    print("\nerasure of one lead (n messages, n/10 activities, their embedding-queue rows)")
    print(f"{'n':>7} {'erase_lead_data s':>18} {'plain DELETE s':>15} {'ratio':>6}")
    with psycopg.connect(url, autocommit=True) as conn:
        for size in (n // 8, n):
            lead = lead_with_messages(conn, org, size, f"e{size}")
            erasure = conn.execute(
                "insert into salesflow.erasure_requests (org_id, lead_id, lead_hash, reason_sha256) "
                "values (%s, %s, sha256('x'), repeat('0', 64)) returning id", (org, lead)).fetchone()[0]
            start = time.perf_counter()
            with conn.transaction():
                conn.execute("select salesflow.erase_lead_data(%s, %s)", (org, erasure))
            erase = time.perf_counter() - start
            plain = lead_with_messages(conn, org, size, f"p{size}")
            start = time.perf_counter()
            with conn.transaction():
                conn.execute("delete from salesflow.leads where org_id = %s and id = %s", (org, plain))
            delete = time.perf_counter() - start
            print(f"{size:7d} {erase:18.3f} {delete:15.3f} {erase / delete:6.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="webhooks (and RPC calls) to time")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--erase", type=int, default=10_000, help="messages of the erased lead")
    args = parser.parse_args()
    with bench_database("salesflow-bench-channels-") as (url, org, _):
        rep = uuid.uuid4()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'rep')", (org, rep))
        bench_ingest(url, org, rep, args.messages + 50, args.clients)
        bench_erasure(url, org, args.erase)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
