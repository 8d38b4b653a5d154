"""Benchmark next best actions, their triggers, the analytics views and the contact-window back-test.

    .venv/bin/python scripts/bench_recommendations.py [--leads 100000] [--activities-per-lead 10]

One throwaway embedded PostgreSQL, the demo organisation loaded with COPY (salesflow.demo), its
leads spread over 10 reps. Prints, side by side in one run:
- evaluating every lead's rules (the evaluate_recommendations job's SQL), leads per second;
- api.recommend_followup_actions p50/p95 as each rep (RLS on), and how many open items a rep has;
- single-row activity inserts through api.create_activity and a 100k-row COPY with all triggers,
  without the recommendation trigger, and without it and the channel-stats trigger;
- each analytics materialized view: REFRESH CONCURRENTLY next to its plain query (EXPLAIN ANALYZE
  of the same definition), and the ratio; followups_scored (a plain view) read whole;
- leads_scored again without migration 0026's open-tasks index, and the channel-stats trigger
  alone on a COPY (in place, recomputing, none);
- the contact-window back-test on a validation and a test split (disjoint leads): hide each lead's
  most recent response(s), ask for the top 3 hours of the week as of just before the hidden one,
  and count hits; a grid of settings is scored on validation, the best there and the shipped one
  on test, next to the organisation-wide top 3 as baseline;
- the replayed adoption proxy on the demo history (it has no reactions; see the README).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import bench_database, pct  # noqa: E402

from salesflow.demo import ANCHOR, load_demo  # noqa: E402

MATVIEWS = ("conversion_microsteps", "channel_performance_metrics", "leads_scored", "personality_insights")
# the triggers whose cost on activity inserts is measured: none disabled, the recommendation
# trigger disabled, and that and the channel-stats trigger disabled. The scoring trigger is off in
# all three: at 100k leads its prior (salesflow.prior_probability, read over every lead while the
# organisation has no model) costs ~1 s per statement and would drown the others; its cost is
# printed apart.
SCORING_TRIGGER = "activities_rescore_insert"
TRIGGER_VARIANTS = {
    "all triggers but scoring": (SCORING_TRIGGER,),
    "without the recommendation trigger": (SCORING_TRIGGER, "activities_recommend"),
    "without it and the channel-stats trigger": (SCORING_TRIGGER, "activities_recommend",
                                                 "activities_channel_stats_insert"),
}


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
    parser.add_argument("--backtest-leads", type=int, default=500, help="leads per back-test split")
    parser.add_argument("--copy-rows", type=int, default=100_000, help="activities per COPY variant")
    parser.add_argument("--database-url", help="a migrated database where an earlier run (or load_demo with "
                        "org_name 'Bench Demo') left the demo organisation: measure there instead of loading one "
                        "(the run adds activities and recommendations to it)")
    parser.add_argument("--parts", default="actions,triggers,views,backtest,adoption",
                        help="comma-separated parts to run, of actions, triggers, views, backtest, adoption")
    parser.add_argument("--channel-stats-only", type=int, nargs="+", metavar="ROWS",
                        help="only measure the channel-stats trigger alone on COPYs of these sizes")
    args = parser.parse_args()
    with ExitStack() as stack:
        if args.database_url:
            url = args.database_url
        else:
            url, _, _home = stack.enter_context(bench_database("salesflow-bench-rec-"))
        run(stack.enter_context(psycopg.connect(url, autocommit=True)), args)


def run(conn: psycopg.Connection, args: argparse.Namespace) -> None:
    found = conn.execute("select id from salesflow.organizations where slug = 'bench-demo'").fetchone()
    if found:
        org = found[0]
        counts = {t: conn.execute(sql.SQL("select count(*) from {} where org_id = %s").format(
            sql.Identifier("salesflow", t)), (org,)).fetchone()[0] for t in ("leads", "activities", "messages")}
        print(f"the demo organisation loaded earlier: {counts}")
    else:
        t = time.perf_counter()
        demo = load_demo(conn, leads=args.leads, activities_per_lead=args.activities_per_lead,
                         org_name="Bench Demo")
        org = demo.org_id
        counts = {k: v for k, v in demo.counts.items() if k in ("leads", "activities", "messages", "deals")}
        print(f"demo loaded in {time.perf_counter() - t:.1f} s: {counts}")
    reps = [r[0] for r in conn.execute(
        "select user_id from salesflow.org_members where org_id = %s and role = 'rep' order by user_id", (org,))]
    if len(reps) < 10:
        for _ in range(10 - len(reps)):
            user = uuid.uuid4()
            conn.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'rep')",
                         (org, user))
            reps.append(user)
        conn.execute("update salesflow.leads as l set owner_id = (%s::uuid[])[1 + abs(hashtext(l.id::text)) %% 10] "
                     "where l.org_id = %s", (reps, org))
    conn.execute("delete from salesflow.jobs")
    conn.execute("analyze")
    if args.channel_stats_only:
        leads = [r[0] for r in conn.execute("select id from salesflow.leads where org_id = %s order by id", (org,))]
        for n in args.channel_stats_only:
            channel_stats_cost(conn, org, leads, n)
        return
    parts = set(args.parts.split(","))
    leads = [r[0] for r in conn.execute("select id from salesflow.leads where org_id = %s order by id", (org,))]
    print("load average (1, 5, 15 min), shared machine:", " ".join(Path("/proc/loadavg").read_text().split()[:3]))
    if "actions" in parts:
        actions(conn, org, reps, leads, args.calls)
    if "triggers" in parts:
        triggers(conn, org, reps, leads, args)
    if "views" in parts:
        views(conn, org)
    if "backtest" in parts:
        backtest(conn, org, args.backtest_leads)
    if "adoption" in parts:
        adoption(conn, org, leads)
    print("load average at the end:", " ".join(Path("/proc/loadavg").read_text().split()[:3]))


def actions(conn: psycopg.Connection, org: uuid.UUID, reps: list[uuid.UUID], leads: list[uuid.UUID],
            calls: int) -> None:
    now = conn.execute("select now()").fetchone()[0]
    # evaluate every lead, in the jobs' chunks of 500
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
        for _ in range(calls):
            t = time.perf_counter()
            conn.execute("select * from api.recommend_followup_actions(%s, as_of => %s)", (org, now)).fetchall()
            samples.append(time.perf_counter() - t)
        conn.execute("reset role")
    leads_per_rep = len(leads) / len(reps)
    print(f"recommend_followup_actions ({len(reps)} reps, ~{leads_per_rep:.0f} leads and "
          f"{min(per_rep)}-{max(per_rep)} open items each, {len(samples)} calls): "
          f"p50 {pct(samples, 0.5):.1f} ms, p95 {pct(samples, 0.95):.1f} ms")



def triggers(conn: psycopg.Connection, org: uuid.UUID, reps: list[uuid.UUID], leads: list[uuid.UUID],
             args: argparse.Namespace) -> None:
    # trigger cost: single-row inserts through the RPC, and a bulk COPY, with and without
    lead_sample = leads[: args.inserts]
    as_user(conn, reps[0])
    t = time.perf_counter()
    for lead in lead_sample[:5]:
        with conn.transaction():
            conn.execute("select api.create_activity(%s, 'note', lead_id => %s, body => 'bench')", (org, lead))
    conn.execute("reset role")
    print(f"api.create_activity with every trigger, scoring's too: {(time.perf_counter() - t) / 5 * 1000:.0f} ms "
          f"(5 calls; the scoring trigger is off in the variants below)")
    costs = {}
    for variant, disabled in TRIGGER_VARIANTS.items():
        for name in disabled:
            conn.execute(sql.SQL("alter table salesflow.activities disable trigger {}").format(
                sql.Identifier(name)))
        as_user(conn, reps[0])
        t = time.perf_counter()
        for lead in lead_sample:
            with conn.transaction():
                conn.execute("select api.create_activity(%s, 'note', lead_id => %s, body => 'bench')", (org, lead))
        single = (time.perf_counter() - t) / len(lead_sample)
        conn.execute("reset role")
        conn.execute("delete from salesflow.jobs")
        t = time.perf_counter()
        # calls with a direction: touches the channel stats count
        with conn.cursor().copy("copy salesflow.activities (org_id, lead_id, kind, direction, body) "
                                "from stdin") as copy:
            for i in range(args.copy_rows):
                copy.write_row((org, leads[i % len(leads)], "call", "outbound", "bulk"))
        bulk = time.perf_counter() - t
        jobs = conn.execute("select count(*) from salesflow.jobs").fetchone()[0]
        costs[variant] = (single, bulk, jobs)
        conn.execute("alter table salesflow.activities enable trigger all")
    base_single, base_bulk, _ = costs["without it and the channel-stats trigger"]
    for variant, (single, bulk, jobs) in costs.items():
        print(f"activity inserts, {variant}: api.create_activity {single * 1000:.2f} ms "
              f"({single / base_single:.2f}x), COPY of {args.copy_rows:,} calls {bulk:.2f} s "
              f"({bulk / base_bulk:.2f}x), jobs enqueued {jobs}")
    conn.execute("delete from salesflow.jobs")
    channel_stats_cost(conn, org, leads, args.copy_rows)
    # the new activities were recomputed by the triggers except in the last variant: rebuild
    # those leads' stats so the views below read complete figures
    conn.execute("select salesflow.refresh_lead_channel_stats(%s, %s)", (org, leads))



def views(conn: psycopg.Connection, org: uuid.UUID) -> None:
    # analytics views: REFRESH CONCURRENTLY next to the plain query
    conn.execute("analyze")
    t = time.perf_counter()
    n = conn.execute("select count(*) from analytics.followups_scored").fetchone()[0]
    print(f"analytics.followups_scored ({n} rows): a plain view, nothing to refresh; reading all of it "
          f"{time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    conn.execute("select count(*) from salesflow.lead_channel_touch_stats(%s)", (org,))
    print(f"per-touch work behind channel_performance_metrics (every touch ordered per lead and channel, "
          f"what its plain query did before 0021): {time.perf_counter() - t:.2f} s")
    for view in MATVIEWS:
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
    # leads_scored again without the open-tasks index of migration 0026 (dropped in a transaction
    # that is rolled back): lead_health then reads every activity of every lead
    with conn.transaction(force_rollback=True):
        conn.execute("drop index salesflow.activities_lead_open_tasks_idx")
        definition = conn.execute("select definition from pg_matviews where schemaname = 'analytics' "
                                  "and matviewname = 'leads_scored'").fetchone()[0]
        plain = timed(conn, "explain (analyze, timing off) " + definition.rstrip().rstrip(";"))
        refresh = timed(conn, "refresh materialized view concurrently analytics.leads_scored")
    print(f"analytics.leads_scored without the open-tasks index: refresh concurrently {refresh:.2f} s, "
          f"plain query {plain:.2f} s ({refresh / plain:.2f}x)")


# The contact-window settings: (lead weight: None = the fitted k, else a multiple of it;
# org_smoothing, the weight of the organisation pattern's day x hour decomposition; segment_weight;
# day_pool; hour_pool; recency half-life in days or None). Every setting is scored on the
# validation split; the best there and the shipped one are scored on test, at each window width.
Setting = tuple[float | None, float, float, float, float, float | None]
SHIPPED: Setting = (None, 168.0, 50.0, 0.25, 0.5, None)
GRID: tuple[Setting, ...] = (
    SHIPPED,
    (None, 5000.0, 50.0, 0.25, 0.5, None),  # the decomposition decides the prior
    (None, 168.0, 1000.0, 0.25, 0.5, None),  # the organisation's pattern over the segment's
    (5.0, 168.0, 50.0, 0.25, 0.5, None),  # the prior over the lead's own history
    (None, 168.0, 50.0, 0.25, 0.5, 7.0),  # recent answers count more
    (0.2, 168.0, 50.0, 0.0, 1.0, 7.0),  # session 3's best on validation
    (0.2, 168.0, 50.0, 0.25, 1.0, 2.0),  # the lead's last days decide: answers come in threads
    (0.2, 168.0, 50.0, 0.0, 1.0, 0.5),
)
WIDTHS = (1, 2, 3)


def label(setting: Setting) -> str:
    weight, smoothing, segment, day_pool, hour_pool, half_life = setting
    k = "fitted k" if weight is None else f"{weight:g} x fitted k"
    fade = "no fading" if half_life is None else f"half-life {half_life:g} d"
    return (f"{k}, org smoothing {smoothing:g}, segment weight {segment:g}, day pool {day_pool:g}, "
            f"hour pool {hour_pool:g}, {fade}")


def covers(start: int, width: int, hour: int) -> bool:
    return (hour - start) % 168 < width


def top_windows(counts: dict[int, float], width: int) -> list[int]:
    """The starts of the best window of `width` hours by summed counts, the best not overlapping it
    and the best overlapping neither (ties to the earlier start), as the RPC picks them."""
    sums = {s: sum(counts.get((s + i) % 168, 0) for i in range(width)) for s in range(168)}
    chosen: list[int] = []
    for _ in range(3):
        free = [s for s in range(168) if all(width <= (s - c) % 168 <= 168 - width for c in chosen)]
        chosen.append(min(free, key=lambda s: (-sums[s], s)))
    return chosen


def backtest(conn: psycopg.Connection, org: uuid.UUID, n: int) -> None:
    """Two splits of different leads' responses: validation hides each lead's latest two responses
    and predicts the second-latest; test hides the latest and predicts it. The prior and the fit
    are rebuilt without what is hidden. Each setting of the grid is scored on validation with
    1-hour windows; the best there, and the shipped setting, are then scored on test with windows
    of 1, 2 and 3 hours, next to the organisation-wide top 3 windows of the same width (the
    baseline) and the best three windows for the hidden responses themselves (the ceiling of any
    one pattern for every lead, read off the answers)."""
    responses = conn.execute("""
        select x.lead_id, x.responded_at, x.hour_of_week,
               count(*) over (partition by x.lead_id) as n,
               row_number() over (partition by x.lead_id order by x.responded_at desc) as k
        from salesflow.lead_responses(%s) as x
    """, (org,)).fetchall()
    print(f"contact-window back-test: {len(responses):,} responses of {len({r[0] for r in responses}):,} leads")
    chosen = SHIPPED
    for split, hide, need in (("validation", 2, 4), ("test", 1, 3)):
        t = time.perf_counter()
        conn.execute("select salesflow.refresh_contact_patterns(%s, hide_latest => %s)", (org, hide))
        k, dispersion, fitted_leads = conn.execute(
            "select lead_weight, dispersion, leads from salesflow.contact_pattern_fits where org_id = %s",
            (org,)).fetchone()
        pattern = dict(conn.execute("select hour_of_week, responses from salesflow.contact_patterns "
                                    "where org_id = %s and segment = '*'", (org,)).fetchall())
        # validation and test cases are different leads (odd / even last bit of the lead id)
        cases = [(lead, at, how) for lead, at, how, count, rank in responses
                 if rank == hide and count >= need and (lead.int % 2 == 0) == (split == "validation")][:n]
        hidden: dict[int, float] = {}
        for _, _, how in cases:
            hidden[how] = hidden.get(how, 0) + 1
        widths = (1,) if split == "validation" else WIDTHS
        reference = {}
        for width in widths:
            base = top_windows(pattern, width)
            ceiling = top_windows(hidden, width)
            reference[width] = tuple(sum(any(covers(s, width, how) for s in starts) for _, _, how in cases) / len(cases)
                                     for starts in (base, ceiling))
        settings = GRID if split == "validation" else tuple(dict.fromkeys((chosen, SHIPPED)))
        rates: dict[tuple[Setting, int], float] = {}
        for setting in settings:
            weight, smoothing, segment, day_pool, hour_pool, half_life = setting
            conn.execute("update salesflow.contact_pattern_fits set lead_weight = %s, org_smoothing = %s, "
                         "segment_weight = %s, day_pool = %s, hour_pool = %s, recency_half_life_days = %s "
                         "where org_id = %s", (k if weight is None else max(0.5, min(1000.0, k * weight)),
                                               smoothing, segment, day_pool, hour_pool, half_life, org))
            for width in widths:
                hits = 0
                for lead, at, how in cases:
                    hits += any(covers(d * 24 + h, width, how) for d, h in conn.execute(
                        "select day_of_week, hour from api.get_best_contact_window(%s, %s, %s, %s)",
                        (org, lead, at, width)))
                rates[setting, width] = hits / len(cases)
        conn.execute("update salesflow.contact_pattern_fits set lead_weight = %s, org_smoothing = 168, "
                     "segment_weight = 50, day_pool = 0.25, hour_pool = 0.5, recency_half_life_days = null "
                     "where org_id = %s", (k, org))
        print(f"  {split} split: {len(cases)} leads with >= {need} responses, latest {hide} hidden, fit on "
              f"{fitted_leads} leads: k = {k:.1f}, dispersion {dispersion:.2f}; {time.perf_counter() - t:.0f} s")
        for width in widths:
            base, ceiling = reference[width]
            se = (base * (1 - base) / len(cases)) ** 0.5
            print(f"    {width}-hour windows: organisation-wide top 3 (baseline) {base:.3f} (one standard error "
                  f"{se:.3f}), the hidden responses' own best 3 (ceiling) {ceiling:.3f}, chance {3 * width / 168:.3f}")
            ranked = sorted(((st, r) for (st, w), r in rates.items() if w == width),
                            key=lambda kv: (-kv[1], GRID.index(kv[0])))
            for setting, rate in ranked if split == "test" else ranked[:4]:
                tag = " (shipped)" if setting == SHIPPED else " (best on validation)" if setting == chosen else ""
                print(f"      {label(setting)}{tag}: hit rate {rate:.3f}")
        if split == "validation":
            ranked = sorted(((st, r) for (st, w), r in rates.items()), key=lambda kv: (-kv[1], GRID.index(kv[0])))
            print(f"      ... {len(GRID)} settings; shipped {rates[SHIPPED, 1]:.3f}, worst {ranked[-1][1]:.3f}")
            chosen = ranked[0][0]


def channel_stats_cost(conn: psycopg.Connection, org: uuid.UUID, leads: list[uuid.UUID], n: int) -> None:
    """The channel-stats trigger alone on a COPY of n outbound calls (one per lead), every other
    insert trigger off, each variant in a transaction rolled back: no trigger; the trigger taking
    its in-place path; the trigger made to recompute every touched lead (no latest touch kept, as
    every insert did before migration 0026)."""
    others = [r[0] for r in conn.execute(
        "select tgname from pg_trigger where tgrelid = 'salesflow.activities'::regclass and not tgisinternal "
        "and tgname <> 'activities_channel_stats_insert'")]
    figures = {}
    for variant in ("no trigger", "in place", "recompute", "no trigger again"):
        with conn.transaction(force_rollback=True):
            for name in [*others, *(("activities_channel_stats_insert",) if variant.startswith("no") else ())]:
                conn.execute(sql.SQL("alter table salesflow.activities disable trigger {}").format(
                    sql.Identifier(name)))
            if variant == "recompute":
                conn.execute("update salesflow.lead_channel_stats set last_at = null where org_id = %s "
                             "and lead_id = any(%s)", (org, leads[:n]))
            t = time.perf_counter()
            with conn.cursor().copy("copy salesflow.activities (org_id, lead_id, kind, direction, body) "
                                    "from stdin") as copy:
                for i in range(n):
                    copy.write_row((org, leads[i % len(leads)], "call", "outbound", "bulk"))
            figures[variant] = time.perf_counter() - t
    base = (figures["no trigger"] + figures["no trigger again"]) / 2
    print(f"COPY of {n:,} calls, the channel-stats trigger alone: none {figures['no trigger']:.2f} s / "
          f"{figures['no trigger again']:.2f} s, in place {figures['in place']:.2f} s "
          f"({figures['in place'] / base:.2f}x), recomputing the touched leads {figures['recompute']:.2f} s "
          f"({figures['recompute'] / base:.2f}x)")


def adoption(conn: psycopg.Connection, org: uuid.UUID, leads: list[uuid.UUID]) -> None:
    """The adoption rate and outcome lift as the RPCs give them, only when reps have reacted: the
    demo holds no reactions, so then it says "no reactions yet" and reports the replay below as
    what it is (items cleared by a recorded action, not a rep's verdict), never a rate."""
    reactions = conn.execute("select count(*), count(distinct user_id) from salesflow.recommendation_reactions "
                             "where org_id = %s", (org,)).fetchone()
    if reactions[0]:
        row = conn.execute("select offered, accepted, done, dismissed, expired, acceptance_rate "
                           "from api.get_recommendation_acceptance(%s) where rule_key is null", (org,)).fetchone()
        print(f"adoption: {reactions[0]} reactions by {reactions[1]} members; {row[0]} items offered, "
              f"{row[1]} accepted, {row[2]} done, {row[3]} dismissed, {row[4]} expired: acceptance rate {row[5]}")
        for rule, acted, not_acted, rate, control, lift in conn.execute(
                "select rule_key, acted, not_acted, acted_rate, control_rate, lift "
                "from api.get_recommendation_lift(%s)", (org,)):
            print(f"  lift {rule}: acted {acted} (advanced {rate:.3f}) vs not acted {not_acted} "
                  f"(matched control {control:.3f}): {lift}")
    else:
        print("adoption: no reactions yet (no rep has accepted, dismissed or done an item in this organisation), "
              "so there is no adoption rate and no outcome lift to report")
    conn.execute("delete from salesflow.ai_recommendations where org_id = %s", (org,))
    t0 = ANCHOR - timedelta(days=28)
    for at in (t0, t0 + timedelta(days=7)):
        for i in range(0, len(leads), 500):
            conn.execute("select salesflow.evaluate_recommendations(%s, %s, %s)", (org, leads[i:i + 500], at))
        conn.execute("select salesflow.sweep_recommendations(%s, 0)", (at,))
    offered, cleared, expired, pending = conn.execute(
        "select count(*), count(*) filter (where status = 'done' and status_changed_by is null), "
        "count(*) filter (where status = 'expired'), count(*) filter (where status in ('open', 'snoozed')) "
        "from salesflow.ai_recommendations where org_id = %s", (org,)).fetchone()
    print(f"  replay (not adoption): the rules from {t0:%Y-%m-%d} for a week offered {offered} items; {cleared} were "
          f"cleared by an action the history records, {expired} expired, {pending} still open")


if __name__ == "__main__":
    main()
