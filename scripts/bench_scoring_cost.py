"""Lead scoring costs at N leads: what real-time scoring adds to a write, and what re-scoring costs.

One throwaway embedded PostgreSQL: N synthetic leads imported through the CLI's import path (half
with an outcome), a model trained by the train job's function and activated, then
- activity inserts with and without the scoring trigger: one-row statements (rounds of 200 in a
  transaction, with and without alternating, each rolled back; the fastest round of each) and a
  COPY of 5,000 rows; beside the ratio, the trigger's own time per statement as PostgreSQL counts
  it (pg_stat_user_functions with track_functions = all), which the machine's load disturbs less;
- re-scoring every lead (salesflow.rescore_org, leads/s) and the prior (the org's base rate);
- api.explain_lead_score and api.get_lead_intelligence p50/p95 as a member, training time.
The machine may be shared: the load average is printed before and after; read ratios of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import time
import uuid
from pathlib import Path

import psycopg
from _bench import bench_database, pct

from salesflow.functions.scoring import train_org_async
from salesflow.intelligence_cli import import_leads

TRIGGER = "activities_rescore_insert"
ROUND = 200  # one-row inserts per round


def write_leads(path: Path, n: int, rng: random.Random) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["email", "company", "segment", "employees", "vip", "outcome"])
        for i in range(n):
            seg = rng.choice(["smb", "mid", "ent"])
            vip = rng.random() < 0.2
            conv = rng.random() < 0.05 + 0.1 * vip + 0.05 * (seg == "ent")
            w.writerow([f"l{i}@example.com", f"Firm {i % (n // 4 or 1)}", seg, rng.randint(1, 5000),
                        "yes" if vip else "no", "" if rng.random() < 0.5 else ("yes" if conv else "no")])


def one_row_round(conn: psycopg.Connection, org: uuid.UUID, leads: list[uuid.UUID], scoring: bool) -> float:
    """Seconds per one-row activity insert over ROUND statements in one transaction, rolled back."""
    with conn.transaction(force_rollback=True):
        if not scoring:
            conn.execute(f"alter table salesflow.activities disable trigger {TRIGGER}")
        t = time.monotonic()
        for lead in leads:
            conn.execute("insert into salesflow.activities (org_id, lead_id, kind, direction) "
                         "values (%s, %s, 'call', 'outbound')", (org, lead))
        return (time.monotonic() - t) / len(leads)


def copy_round(conn: psycopg.Connection, batch: list[tuple[uuid.UUID, uuid.UUID]], scoring: bool) -> float:
    with conn.transaction(force_rollback=True):
        if not scoring:
            conn.execute(f"alter table salesflow.activities disable trigger {TRIGGER}")
        t = time.monotonic()
        with conn.cursor().copy("copy salesflow.activities (org_id, lead_id, kind, direction) from stdin") as cp:
            for o, lead in batch:
                cp.write_row((o, lead, "call", "outbound"))
        return time.monotonic() - t


def trigger_ms_per_statement(conn: psycopg.Connection, org: uuid.UUID, leads: list[uuid.UUID]) -> tuple[float, float]:
    """(ms of the scoring trigger per one-row insert, ms of the whole insert) as PostgreSQL counts them."""
    conn.execute("set track_functions = 'all'")
    conn.execute("select pg_stat_reset()")
    with conn.transaction(force_rollback=True):
        t = time.monotonic()
        for lead in leads:
            conn.execute("insert into salesflow.activities (org_id, lead_id, kind, direction) "
                         "values (%s, %s, 'call', 'outbound')", (org, lead))
        total = (time.monotonic() - t) / len(leads) * 1000
    time.sleep(0.6)  # the statistics collector's flush interval (pgstat flushes at most once a second)
    conn.execute("select pg_stat_force_next_flush()")
    row = conn.execute("select total_time, calls from pg_stat_user_functions "
                       "where schemaname = 'salesflow' and funcname = 'rescore_touched'").fetchone()
    conn.execute("set track_functions = 'none'")
    return (row[0] / row[1] if row and row[1] else float("nan")), total


def costs(n: int, samples: int, rounds: int) -> None:
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    rng = random.Random(42)
    with bench_database("sf-bench-scoring-cost-") as (url, org, home):
        path = home / "leads.csv"
        write_leads(path, n, rng)
        t = time.monotonic()
        import_leads(url, path, str(org), {}, "outcome", None, False, err=open(os.devnull, "w"))
        dt = time.monotonic() - t
        print(f"import of {n:,} leads ({n // 4 or 1:,} companies): {dt:.1f} s ({n / dt:,.0f} rows/s)", flush=True)

        async def train() -> dict:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                return await train_org_async(conn, org)
        result = asyncio.run(train())
        print(f"training at {n:,} leads: {result.get('seconds')} s ({result.get('learner')}, "
              f"activated: {result.get('activated')}), re-scored {result.get('rescored')} leads after activation",
              flush=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("analyze")
            t = time.monotonic()
            conn.execute("select salesflow.rescore_org(%s)", (org,))
            dt = time.monotonic() - t
            k = conn.execute("select count(*) from salesflow.lead_scores where org_id = %s", (org,)).fetchone()[0]
            print(f"re-score every lead (rescore_org): {k:,} leads in {dt:.1f} s ({k / dt:,.0f} leads/s)")
            t = time.monotonic()
            conn.execute("select salesflow.prior_probability(%s)", (org,))
            print(f"the prior over {n:,} leads (salesflow.prior_probability): {(time.monotonic() - t) * 1000:.0f} ms")
            leads = [r[0] for r in conn.execute("select id from salesflow.leads where org_id = %s", (org,))]

            on, off = [], []
            for _ in range(rounds):
                on.append(one_row_round(conn, org, rng.sample(leads, ROUND), True))
                off.append(one_row_round(conn, org, rng.sample(leads, ROUND), False))
            print(f"one-row activity insert, fastest of {rounds} rounds of {ROUND}: with scoring trigger "
                  f"{min(on) * 1000:.2f} ms, without {min(off) * 1000:.2f} ms ({min(on) / min(off) - 1:+.0%}); "
                  f"medians {sorted(on)[rounds // 2] * 1000:.2f} / {sorted(off)[rounds // 2] * 1000:.2f} ms")
            trig, total = trigger_ms_per_statement(conn, org, rng.sample(leads, ROUND))
            print(f"  the scoring trigger's own time: {trig:.2f} ms of a {total:.2f} ms insert "
                  f"(+{trig / (total - trig):.0%} over the insert without it)")
            batch = [(org, rng.choice(leads)) for _ in range(5000)]
            con, coff = [], []
            for _ in range(2):
                con.append(copy_round(conn, batch, True))
                coff.append(copy_round(conn, batch, False))
            print(f"COPY of 5,000 activities: with scoring trigger {min(con):.3f} s, without {min(coff):.3f} s "
                  f"({min(con) / min(coff) - 1:+.0%})", flush=True)

            owner = uuid.uuid4()
            conn.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'owner')",
                         (org, owner))
            claims = json.dumps({"role": "authenticated", "sub": str(owner)})
            for rpc in ("explain_lead_score", "get_lead_intelligence"):
                times = []
                for lead in rng.sample(leads, samples):
                    with conn.transaction():
                        conn.execute("set local role authenticated")
                        conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
                        t = time.monotonic()
                        conn.execute(f"select api.{rpc}(%s, %s)", (org, lead)).fetchone()
                        times.append(time.monotonic() - t)
                print(f"api.{rpc} at {n:,} leads: p50 {pct(times, 0.5):.1f} ms, p95 {pct(times, 0.95):.1f} ms")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    costs(args.leads, args.samples, args.rounds)


if __name__ == "__main__":
    main()
