"""Benchmark next best actions, their triggers, the analytics views and the contact-window back-test.

    .venv/bin/python scripts/bench_recommendations.py [--leads 100000] [--activities-per-lead 10]

One throwaway embedded PostgreSQL, the demo organisation loaded with COPY (salesflow.demo), its
leads spread over 10 reps. Prints, side by side in one run:
- evaluating every lead's rules (the evaluate_recommendations job's SQL), leads per second;
- api.recommend_followup_actions p50/p95 as each rep (RLS on), and how many open items a rep has;
- single-row activity inserts through api.create_activity with the recommendation trigger and
  without it (disabled), and a 100k-row COPY with and without;
- each analytics view: REFRESH CONCURRENTLY next to its plain query (EXPLAIN ANALYZE of the same
  definition), and the ratio;
- the contact-window back-test: hide each lead's most recent response, ask for the top 3 hours of
  the week as of just before it, and count hits, next to the organisation-wide top 3 as baseline;
- the replayed adoption proxy on the demo history (it has no reactions; see the README).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import bench_database, pct  # noqa: E402

from salesflow.demo import ANCHOR, load_demo  # noqa: E402

VIEWS = ("followups_scored", "conversion_microsteps", "channel_performance_metrics")


def timed(conn: psycopg.Connection, statement: str | sql.Composable, params: object = None) -> float:
    t = time.perf_counter()
    conn.execute(statement, params)
    return time.perf_counter() - t


def as_user(conn: psycopg.Connection, user: uuid.UUID) -> None:
    conn.execute("set role authenticated")
    conn.execute("select set_config('request.jwt.claims', %s, false)",
                 (json.dumps({"role": "authenticated", "sub": str(user)}),))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--activities-per-lead", type=float, default=10.0)
    parser.add_argument("--calls", type=int, default=30, help="recommend_followup_actions calls per rep")
    parser.add_argument("--inserts", type=int, default=1000, help="single-row activity inserts per variant")
    parser.add_argument("--backtest-leads", type=int, default=3000)
    args = parser.parse_args()
    with bench_database("salesflow-bench-rec-") as (url, _, _home), psycopg.connect(url, autocommit=True) as conn:
        t = time.perf_counter()
        demo = load_demo(conn, leads=args.leads, activities_per_lead=args.activities_per_lead, org_name="Bench Demo")
        org = demo.org_id
        counts = {k: v for k, v in demo.counts.items() if k in ("leads", "activities", "messages", "deals")}
        print(f"demo loaded in {time.perf_counter() - t:.1f} s: {counts}")
        reps = [r[0] for r in conn.execute(
            "select user_id from salesflow.org_members where org_id = %s and role = 'rep'", (org,))]
        for _ in range(10 - len(reps)):
            user = uuid.uuid4()
            conn.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'rep')",
                         (org, user))
            reps.append(user)
        conn.execute("update salesflow.leads as l set owner_id = (%s::uuid[])[1 + abs(hashtext(l.id::text)) %% 10] "
                     "where l.org_id = %s", (reps, org))
        conn.execute("delete from salesflow.jobs")
        conn.execute("analyze")
        now = conn.execute("select now()").fetchone()[0]

        # evaluate every lead, in the jobs' chunks of 500
        leads = [r[0] for r in conn.execute("select id from salesflow.leads where org_id = %s order by id", (org,))]
        t = time.perf_counter()
        opened = 0
        for i in range(0, len(leads), 500):
            opened += conn.execute("select salesflow.evaluate_recommendations(%s, %s, %s)",
                                   (org, leads[i:i + 500], now)).fetchone()[0]
        took = time.perf_counter() - t
        print(f"evaluate all {len(leads)} leads: {took:.1f} s ({len(leads) / took:.0f} leads/s), {opened} opened")
        print("open items by rule:", dict(conn.execute(
            "select rule_key, count(*) from salesflow.ai_recommendations where status = 'open' group by 1 "
            "order by 2 desc").fetchall()))
        conn.execute("analyze salesflow.ai_recommendations")

        # the rep's ranked list, as the rep, RLS on
        samples, per_rep = [], []
        for rep in reps:
            per_rep.append(conn.execute("select count(*) from salesflow.ai_recommendations where org_id = %s "
                                        "and assignee_id = %s and status = 'open'", (org, rep)).fetchone()[0])
            as_user(conn, rep)
            for _ in range(args.calls):
                t = time.perf_counter()
                conn.execute("select * from api.recommend_followup_actions(%s, as_of => %s)", (org, now)).fetchall()
                samples.append(time.perf_counter() - t)
            conn.execute("reset role")
        leads_per_rep = len(leads) / len(reps)
        print(f"recommend_followup_actions ({len(reps)} reps, ~{leads_per_rep:.0f} leads and "
              f"{min(per_rep)}-{max(per_rep)} open items each, {len(samples)} calls): "
              f"p50 {pct(samples, 0.5):.1f} ms, p95 {pct(samples, 0.95):.1f} ms")

        # trigger cost: single-row inserts through the RPC, and a bulk COPY, with and without
        lead_sample = leads[: args.inserts]
        costs = {}
        for variant in ("with", "without"):
            action = "enable" if variant == "with" else "disable"
            conn.execute(f"alter table salesflow.activities {action} trigger activities_recommend")
            as_user(conn, reps[0])
            t = time.perf_counter()
            for lead in lead_sample:
                with conn.transaction():
                    conn.execute("select api.create_activity(%s, 'note', lead_id => %s, body => 'bench')", (org, lead))
            single = (time.perf_counter() - t) / len(lead_sample)
            conn.execute("reset role")
            t = time.perf_counter()
            with conn.cursor().copy("copy salesflow.activities (org_id, lead_id, kind, body) from stdin") as copy:
                for i in range(100_000):
                    copy.write_row((org, leads[i % len(leads)], "note", "bulk"))
            bulk = time.perf_counter() - t
            costs[variant] = (single, bulk)
        conn.execute("alter table salesflow.activities enable trigger activities_recommend")
        (s_with, b_with), (s_without, b_without) = costs["with"], costs["without"]
        print(f"activity insert via api.create_activity: {s_with * 1000:.2f} ms with the trigger, "
              f"{s_without * 1000:.2f} ms without ({s_with / s_without:.2f}x)")
        print(f"COPY of 100,000 activities: {b_with:.2f} s with, {b_without:.2f} s without "
              f"({b_with / b_without:.2f}x); jobs enqueued by it: "
              f"{conn.execute('select count(*) from salesflow.jobs').fetchone()[0]}")
        conn.execute("delete from salesflow.jobs")

        # analytics views: REFRESH CONCURRENTLY next to the plain query
        conn.execute("analyze")
        for view in VIEWS:
            ident = sql.Identifier("analytics", view)
            definition = conn.execute("select definition from pg_matviews where schemaname = 'analytics' "
                                      "and matviewname = %s", (view,)).fetchone()[0]
            plain = timed(conn, "explain (analyze, timing off) " + definition.rstrip().rstrip(";"))
            # the first refresh after the load rewrites every row; the second is the steady state
            first = timed(conn, sql.SQL("refresh materialized view concurrently {}").format(ident))
            refresh = timed(conn, sql.SQL("refresh materialized view concurrently {}").format(ident))
            rows = conn.execute(sql.SQL("select count(*) from {}").format(ident)).fetchone()[0]
            print(f"analytics.{view} ({rows} rows): refresh concurrently {refresh:.2f} s (first after the load "
                  f"{first:.2f} s), plain query {plain:.2f} s ({refresh / plain:.2f}x)")

        backtest(conn, org, args.backtest_leads)
        adoption(conn, org, leads)


def backtest(conn: psycopg.Connection, org: uuid.UUID, n: int) -> None:
    """Hide each lead's latest response; its top 3 hours from the rest against the organisation's top 3."""
    t = time.perf_counter()
    # the prior from everyone's responses except each lead's latest (the one we hide)
    conn.execute("""
        with r as (
            select x.*, row_number() over (partition by x.lead_id order by x.responded_at desc) as k
            from salesflow.lead_responses(%(org)s) as x
        )
        insert into salesflow.contact_patterns (org_id, segment, hour_of_week, responses)
        select %(org)s, coalesce(r.segment, '*'), r.hour_of_week, count(*) from r where r.k > 1
        group by grouping sets ((r.segment, r.hour_of_week), (r.hour_of_week))
        on conflict (org_id, segment, hour_of_week) do update set responses = excluded.responses
    """, {"org": org})
    baseline = {h for (h,) in conn.execute(
        "select hour_of_week from salesflow.contact_patterns where org_id = %s and segment = '*' "
        "order by responses desc, hour_of_week limit 3", (org,))}
    held_out = conn.execute("""
        select x.lead_id, x.responded_at, x.hour_of_week,
               count(*) over (partition by x.lead_id) as n,
               row_number() over (partition by x.lead_id order by x.responded_at desc) as k
        from salesflow.lead_responses(%s) as x
    """, (org,)).fetchall()
    cases = [(lead, at, how) for lead, at, how, count, k in held_out if k == 1 and count >= 3][:n]
    hits = base_hits = 0
    for lead, at, how in cases:
        top = {d * 24 + h for d, h in conn.execute(
            "select day_of_week, hour from api.get_best_contact_window(%s, %s, %s)", (org, lead, at))}
        hits += how in top
        base_hits += how in baseline
    took = time.perf_counter() - t
    print(f"contact-window back-test ({len(cases)} leads with >= 3 responses, latest hidden, {took:.0f} s): "
          f"top-3 hit rate {hits / len(cases):.3f} vs organisation-wide top 3 {base_hits / len(cases):.3f} "
          f"(chance 3/168 = {3 / 168:.3f})")


def adoption(conn: psycopg.Connection, org: uuid.UUID, leads: list[uuid.UUID]) -> None:
    """The demo has no reactions: replay the rules 28 days before its end, then a week later."""
    conn.execute("delete from salesflow.ai_recommendations where org_id = %s", (org,))
    t0 = ANCHOR - timedelta(days=28)
    for at in (t0, t0 + timedelta(days=7)):
        for i in range(0, len(leads), 500):
            conn.execute("select salesflow.evaluate_recommendations(%s, %s, %s)", (org, leads[i:i + 500], at))
        conn.execute("select salesflow.sweep_recommendations(%s, 0)", (at,))
    row = conn.execute("select offered, cleared, expired, pending, acceptance_rate "
                       "from api.get_recommendation_acceptance(%s) where rule_key is null", (org,)).fetchone()
    offered, cleared, expired, pending, rate = row
    print(f"adoption on the demo data: no reactions recorded, so acceptance is {rate}; replayed from "
          f"{t0:%Y-%m-%d} for a week: {offered} items, {cleared} cleared by a recorded action, {expired} expired, "
          f"{pending} still open (cleared / (cleared + expired) = {cleared / max(1, cleared + expired):.2f})")


if __name__ == "__main__":
    main()
