"""Gateway overhead: get_lead and list_leads through the RPC gateway vs. the same calls with psycopg.

Loads a demo organisation (default 100,000 leads, 1,000,000 activities) into a fresh embedded
PostgreSQL (or the database at --database-url), starts the API as its own process, and times the
same calls both ways in one run. Direct calls run exactly what the gateway runs (role, claims,
the RPC) so the ratio is the cost of HTTP, JWT verification and JSON. Prints figures; asserts nothing.

    .venv/bin/python scripts/bench_rpc.py [--leads 100000] [--calls 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from _bench import pct

from salesflow.db.embedded import EmbeddedServer, free_port
from salesflow.db.migrate import migrate
from salesflow.demo import load_demo
from salesflow.tokens import issue_token

SECRET = "bench-secret-bench-secret-bench-secret-000"
ROOT = Path(__file__).resolve().parents[1]


def start_api(database_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SALESFLOW_JWT_SECRET": SECRET, "SALESFLOW_API_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "salesflow", "api", "--no-migrate"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the API did not come up")


def direct_call(conn: psycopg.Connection, claims: str, sql: str, params: dict) -> str:
    with conn.transaction():
        conn.execute("set transaction read only")
        conn.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (claims,),
        )
        return conn.execute(sql, params).fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--activities-per-lead", type=float, default=10.0)
    parser.add_argument("--calls", type=int, default=2000, help="calls per operation and path")
    parser.add_argument("--database-url", help="use this database instead of a fresh embedded one")
    args = parser.parse_args()

    server = None
    if args.database_url:
        url = args.database_url
    else:
        home = Path(tempfile.mkdtemp(prefix="salesflow-bench-"))
        server = EmbeddedServer(home / "pgdata")
        server.start(free_port())
        server.ensure_database()
        url = server.url()
    api = None
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn)
        t0 = time.perf_counter()
        with psycopg.connect(url) as conn:
            demo = load_demo(conn, leads=args.leads, seed=1, activities_per_lead=args.activities_per_lead,
                             org_name=f"Bench {time.time_ns()}")
            conn.commit()
        load_s = time.perf_counter() - t0
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("vacuum analyze")
            lead_ids = [r[0] for r in conn.execute(
                "select id from salesflow.leads where org_id = %s", (demo.org_id,)).fetchall()]
            owners = [r[0] for r in conn.execute(
                "select distinct owner_id from salesflow.leads where org_id = %s and owner_id is not null",
                (demo.org_id,)).fetchall()]
        print(f"loaded {demo.counts} in {load_s:.1f} s")

        owner = next(u for u in demo.users if u.role == "owner")
        token = issue_token(SECRET, "authenticated", user_id=owner.user_id, ttl_seconds=3600)
        claims = json.dumps({"role": "authenticated", "sub": str(owner.user_id)})
        stages = ["lead", "mql", "sql", "opportunity", "customer"]
        rng = random.Random(7)
        get_args = [{"org_id": str(demo.org_id), "lead_id": str(rng.choice(lead_ids))} for _ in range(args.calls)]
        list_args = [{"org_id": str(demo.org_id), "stage": rng.choice(stages), "owner_id": str(rng.choice(owners)),
                      "page_size": 50} for _ in range(args.calls)]

        api, api_url = start_api(url)
        results: dict[str, dict[str, list[float]]] = {"get_lead": {}, "list_leads": {}}
        with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}) as http, \
                psycopg.connect(url) as conn:
            sql = {
                "get_lead": "select to_jsonb(r)::text from api.get_lead(%(org_id)s, %(lead_id)s) r",
                "list_leads": "select coalesce(jsonb_agg(to_jsonb(r)), '[]')::text from api.list_leads("
                              "org_id => %(org_id)s, stage => %(stage)s, owner_id => %(owner_id)s, "
                              "page_size => %(page_size)s) r",
            }
            for op, calls in (("get_lead", get_args), ("list_leads", list_args)):
                for warm in calls[:50]:  # warm caches, prepared statements and the pool on both paths
                    http.post(f"/rest/v1/rpc/{op}", json=warm).raise_for_status()
                    direct_call(conn, claims, sql[op], warm)
                gw, direct = [], []
                # interleave the two paths so both see the same machine load
                for call in calls:
                    t = time.perf_counter()
                    http.post(f"/rest/v1/rpc/{op}", json=call).raise_for_status()
                    gw.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    direct_call(conn, claims, sql[op], call)
                    direct.append(time.perf_counter() - t)
                results[op] = {"gateway": gw, "psycopg": direct}

        print(f"\n{args.leads:,} leads, {demo.counts.get('activities', 0):,} activities; {args.calls} calls each, "
              "sequential, one client\n")
        print(f"{'operation':<12} {'path':<9} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
        for op, paths in results.items():
            for path, samples in paths.items():
                print(f"{op:<12} {path:<9} {pct(samples, .5):8.2f} {pct(samples, .95):8.2f} "
                      f"{statistics.mean(samples) * 1000:8.2f}")
            g, d = paths["gateway"], paths["psycopg"]
            print(f"{op:<12} {'ratio':<9} {pct(g, .5) / pct(d, .5):7.2f}x {pct(g, .95) / pct(d, .95):7.2f}x")
        return 0
    finally:
        if api is not None:
            api.terminate()
            api.wait(10)
        if server is not None:
            server.stop(mode="immediate")


if __name__ == "__main__":
    raise SystemExit(main())
