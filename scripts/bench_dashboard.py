"""The AI insights dashboard's load time in headless Chromium, next to the RPC's own time.

Loads a demo organisation (default 100,000 leads) with COPY into a fresh embedded PostgreSQL, adds
60 days of lead scores, score history, LLM calls and daily rollups so that every chart has data,
starts the API as its own process and measures, in the same run:

- `api.get_dashboard` in SQL (psycopg, as the owner: role and claims set in the transaction),
- the same RPC through the API over HTTP,
- the page in headless Chromium (Debian's `chromium`, driven by Playwright), from navigation to every
  chart drawn (the page sets `data-state=rendered` after plotly.js has drawn the last one), and to the
  first chart drawn (the funnel, from `api.get_dashboard`; the forecast comes in a request of its own,
  `api.get_dashboard_forecast`), the first load (plotly.js not cached, no forecast stored yet: it is
  computed and stored) and warm loads (the stored forecast read back),
- baseline: the same three for an organisation with no data (what the page costs by itself).

Prints figures (medians of --runs runs); asserts nothing.

    .venv/bin/python scripts/bench_dashboard.py [--leads 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from salesflow.db.embedded import EmbeddedServer, free_port
from salesflow.db.migrate import migrate
from salesflow.demo import load_demo
from salesflow.tokens import issue_token

SECRET = "bench-secret-bench-secret-bench-secret-000"
ROOT = Path(__file__).resolve().parents[1]

HISTORY = """
insert into salesflow.lead_scores (org_id, lead_id, probability, score, log_odds)
select l.org_id, l.id, r / 100.0, r, 0
from (select org_id, id, (abs(hashtext(id::text)) %% 100) as r from salesflow.leads where org_id = %(org)s) as l
on conflict (org_id, lead_id) do nothing;
insert into salesflow.lead_score_history (org_id, lead_id, probability, score, scored_at)
select l.org_id, l.id, 0.5, 40 + (abs(hashtext(l.id::text || d::text)) %% 30), d
from (select org_id, id from salesflow.leads where org_id = %(org)s order by id limit 2000) as l
cross join generate_series(now() - interval '60 days', now() - interval '1 day', interval '3 days') as d;
insert into salesflow.llm_requests (org_id, started_at, task, feature, provider, model, input_tokens,
                                    output_tokens, cost, status, error, baseline_provider, baseline_model)
select %(org)s, d + make_interval(mins => k), 'draft', 'assistant.compose', 'openai', 'gpt-4o-mini', 500, 200,
       0.0004 * (1 + k %% 3), case when k %% 17 = 0 then 'error' else 'ok' end::salesflow.llm_status,
       case when k %% 17 = 0 then 'provider down' end, 'openai', 'gpt-4o'
from generate_series(now() - interval '60 days', now() - interval '1 day', interval '1 day') as d
cross join generate_series(1, 40) as k;
insert into salesflow.llm_usage_daily (org_id, day, task, provider, model, requests, errors, cost)
select org_id, (started_at at time zone 'UTC')::date, task, provider, model, count(*),
       count(*) filter (where status <> 'ok'), sum(cost)
from salesflow.llm_requests where org_id = %(org)s group by 1, 2, 3, 4, 5;
"""


def start_api(database_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SALESFLOW_JWT_SECRET": SECRET,
           "SALESFLOW_API_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "salesflow", "api", "--no-migrate"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(1200):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the API did not come up")


def sql_ms(url: str, user: uuid.UUID, org: uuid.UUID, runs: int) -> float:
    claims = json.dumps({"role": "authenticated", "sub": str(user)})
    times = []
    with psycopg.connect(url) as conn:
        for _ in range(runs):
            t0 = time.perf_counter()
            with conn.transaction(force_rollback=True):
                conn.execute("set local role authenticated")
                conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
                conn.execute("select api.get_dashboard(%s)", (org,)).fetchone()
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


PANELS = {
    "anomalies": "select count(*) from salesflow.insight_anomalies(%s, 60)",
    "roi": "select count(*) from api.get_ai_roi(%s, now() - interval '90 days')",
    "content": "select count(*) from api.get_content_performance(%s, now() - interval '90 days')",
    "forecast (computed)": "select count(*) from api.forecast_revenue(%s, 3, 30)",
    "forecast (stored)": "select api.get_dashboard_forecast(%s)",
    "queue": "select count(*) from salesflow.org_queue_health(%s)",
}


def panel_ms(url: str, user: uuid.UUID, org: uuid.UUID) -> dict[str, float]:
    """Each heavy panel's own SQL time (one run, as the owner)."""
    claims = json.dumps({"role": "authenticated", "sub": str(user)})
    out = {}
    with psycopg.connect(url) as conn:
        for name, sql in PANELS.items():
            with conn.transaction(force_rollback=True):
                conn.execute("set local role authenticated")
                conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
                t0 = time.perf_counter()
                conn.execute(sql, (org,)).fetchone()
                out[name] = (time.perf_counter() - t0) * 1000
    return out


def http_ms(api: str, token: str, org: uuid.UUID, runs: int) -> float:
    times = []
    with httpx.Client(timeout=120) as client:
        for _ in range(runs):
            t0 = time.perf_counter()
            r = client.post(f"{api}/rest/v1/rpc/get_dashboard", json={"org_id": str(org)},
                            headers={"Authorization": f"Bearer {token}"})
            r.raise_for_status()
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def browser_ms(api: str, token: str, org: uuid.UUID, runs: int) -> tuple[float, float, float, float]:
    """(first load, median warm load, first load's first paint, median warm first paint) in ms: navigation
    to every chart drawn, and to the first chart drawn (the funnel, from api.get_dashboard)."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("bench_dashboard: error: Debian's chromium is missing (apt-get install -y chromium)")
    times, paints = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 1800})
        for _ in range(runs + 1):
            page = context.new_page()
            t0 = time.perf_counter()
            page.goto(f"{api}/dashboard#token={token}&org={org}")
            page.wait_for_selector("#chart-funnel.js-plotly-plot, #chart-funnel[data-points='0'], "
                                   "body[data-state=error]", state="attached", timeout=300_000)
            paints.append(time.perf_counter() - t0)
            page.wait_for_selector("body[data-state=rendered], body[data-state=error]", state="attached",
                                   timeout=300_000)
            times.append(time.perf_counter() - t0)
            if page.get_attribute("body", "data-state") != "rendered":
                raise SystemExit(f"bench_dashboard: error: the page failed: {page.inner_text('#error')}")
            page.close()
        browser.close()
    return (times[0] * 1000, statistics.median(times[1:]) * 1000, paints[0] * 1000,
            statistics.median(paints[1:]) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--activities-per-lead", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="salesflow-bench-dashboard-"))
    server = EmbeddedServer(home / "pgdata", fast_unsafe=True)
    api = None
    try:
        server.start(free_port())
        server.ensure_database()
        url = server.url()
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn)
        t0 = time.perf_counter()
        with psycopg.connect(url) as conn:
            demo = load_demo(conn, leads=args.leads, seed=1, activities_per_lead=args.activities_per_lead,
                             org_name="Bench")
            for statement in filter(str.strip, HISTORY.split(";")):
                conn.execute(statement, {"org": demo.org_id})
            empty_owner = uuid.uuid4()
            empty = conn.execute("insert into salesflow.organizations (name, slug) values ('Empty', 'empty') "
                                 "returning id").fetchone()[0]
            conn.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'owner')",
                         (empty, empty_owner))
            conn.commit()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("vacuum analyze")
            counts = conn.execute(
                "select (select count(*) from salesflow.leads), (select count(*) from salesflow.messages), "
                "(select count(*) from salesflow.llm_requests)").fetchone()
        print(f"loaded leads={counts[0]} messages={counts[1]} llm_requests={counts[2]} "
              f"in {time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.2f}")
        owner = next(u for u in demo.users if u.role == "owner").user_id
        api, api_url = start_api(url)
        print("no forecast is stored before the first page load (no refresh_forecasts job ran): the first load "
              "computes and stores it, warm loads read it back")
        print(f"{'organisation':<22}{'SQL (ms)':>10}{'HTTP RPC (ms)':>15}{'page, first (ms)':>18}"
              f"{'page, warm (ms)':>17}{'first paint, first / warm (ms)':>33}")
        for name, user, org in ((f"{args.leads:,} leads", owner, demo.org_id), ("empty (baseline)", empty_owner,
                                                                                 empty)):
            token = issue_token(SECRET, "authenticated", user_id=user, ttl_seconds=3600)
            s = sql_ms(url, user, org, args.runs)
            h = http_ms(api_url, token, org, args.runs)
            first, warm, paint_first, paint_warm = browser_ms(api_url, token, org, args.runs)
            print(f"{name:<22}{s:>10.0f}{h:>15.0f}{first:>18.0f}{warm:>17.0f}"
                  f"{paint_first:>20.0f} / {paint_warm:.0f}")
        panels = panel_ms(url, owner, demo.org_id)
        print("panels' own SQL (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in panels.items()))
        print(f"load average after: {os.getloadavg()[0]:.2f} (2 cores, shared)")
    finally:
        if api is not None:
            api.terminate()
            api.wait(10)
        server.stop(mode="immediate")
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
