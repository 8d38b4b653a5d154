"""The owner/rep write policy: the inlined helper next to the predicate written out, in one run.

A rep updates their organisation's leads (the USING and WITH CHECK clauses run for every row;
the table's triggers are disabled for the measurement, since scoring alone costs far more):
once a bulk update of every lead, and single-row updates by primary key. Three policy texts on
salesflow.leads, each swapped in inside a rolled-back transaction:

    helper      salesflow.may_write_owned(org_id, owner_id, (select salesflow.my_write_keys()))  (installed)
    written     the predicate written out with three (select my_org_ids(...)) init plans (before)
    not inlined the same helper with `set search_path = ''`, which stops the planner inlining it

Prints figures (medians of the rounds); asserts nothing.

    .venv/bin/python scripts/bench_policies.py [--leads 20000] [--rounds 3] [--singles 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid

import psycopg
from _bench import bench_database

POLICIES = {
    "helper": "salesflow.may_write_owned(org_id, owner_id, (select salesflow.my_write_keys()))",
    "written": ("org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]) "
                "or (org_id = any((select salesflow.my_org_ids('{rep}'))::uuid[]) and owner_id = (select auth.uid()))"),
    "not inlined": "salesflow.bench_may_write_owned(org_id, owner_id, (select salesflow.my_write_keys()))",
}
NOT_INLINED = """
create function salesflow.bench_may_write_owned(org_id uuid, owner_id uuid, write_keys text[]) returns boolean
language sql immutable set search_path = '' as $$
    select array[org_id::text, org_id::text || '/' || owner_id::text] && write_keys
$$;
grant execute on function salesflow.bench_may_write_owned(uuid, uuid, text[]) to authenticated
"""


def run(conn: psycopg.Connection, org: uuid.UUID, rep: uuid.UUID, policy: str, ids: list[uuid.UUID]
        ) -> tuple[float, float]:
    """(bulk seconds, single-row milliseconds per update) under `policy`, rolled back."""
    with conn.transaction(force_rollback=True):
        conn.execute(f"alter policy leads_update on salesflow.leads using ({policy}) with check ({policy})")
        # the leads' triggers (scoring, recommendations) cost far more than any policy: measure the policy
        conn.execute("alter table salesflow.leads disable trigger user")
        conn.execute("set local role authenticated")
        conn.execute("select set_config('request.jwt.claims', %s, true)",
                     (json.dumps({"role": "authenticated", "sub": str(rep)}),))
        start = time.perf_counter()
        conn.execute("update salesflow.leads set title = 'bulk' where org_id = %s", (org,))
        bulk = time.perf_counter() - start
        start = time.perf_counter()
        for lead in ids:
            conn.execute("update salesflow.leads set title = 'one' where org_id = %s and id = %s", (org, lead))
        single = (time.perf_counter() - start) / len(ids) * 1000
    return bulk, single


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--singles", type=int, default=300)
    args = parser.parse_args()
    with bench_database("sf-bench-policies-") as (url, org, _), psycopg.connect(url, autocommit=True) as conn:
        rep, other = uuid.uuid4(), uuid.uuid4()
        conn.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'rep'), "
                     "(%s, %s, 'rep')", (org, rep, org, other))
        conn.execute("insert into salesflow.leads (org_id, first_name, owner_id) "
                     "select %s, 'Lead ' || g, case when g %% 5 = 0 then %s else %s end "
                     "from generate_series(1, %s) as g", (org, other, rep, args.leads))
        conn.execute("analyze salesflow.leads")
        conn.execute(NOT_INLINED)
        ids = [r[0] for r in conn.execute("select id from salesflow.leads where owner_id = %s limit %s",
                                          (rep, args.singles))]
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in POLICIES}
        for _ in range(args.rounds):
            for name, policy in POLICIES.items():  # interleaved, so load drifts hit each alike
                results[name].append(run(conn, org, rep, policy, ids))
    print(f"owner/rep write policy, {args.leads} leads (4/5 the rep's), {args.rounds} rounds, medians; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    base = statistics.median(b for b, _ in results["written"])
    for name, samples in results.items():
        bulk = statistics.median(b for b, _ in samples)
        single = statistics.median(s for _, s in samples)
        print(f"  {name:12s} bulk update {bulk:6.2f} s ({bulk / base:4.2f}x written)   "
              f"update by id {single:6.3f} ms")


if __name__ == "__main__":
    main()
