"""Hot context and api.get_smart_context latency at 100,000 and 1,000,000 messages.

One organisation, 100 messages per lead across email and WhatsApp, loaded with COPY (the texts'
keyword columns are generated on the way in). For 1,000 of the leads the messages also get vectors
(the model's vectors of the evaluation set's sentences, with noise), so get_smart_context's cold
part runs both rankings. Each call runs as the organisation's owner under RLS, one client,
sequentially, on random leads:
  hot      the lead's latest 20 messages across channels (the query get_smart_context starts with)
  context  api.get_smart_context(lead, query_text, query_embedding, token_budget 2000): hot + warm + cold
The smaller size is the baseline: flat figures from 100,000 to 1,000,000 mean the cost does not
grow with the organisation.

    .venv/bin/python scripts/bench_memory.py [--sizes 100000,1000000] [--calls 300]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import bench_database, pct  # noqa: E402
from _memory_eval import FACTS, FILLERS  # noqa: E402

from salesflow.gateway.embedders import LocalMiniLM, vector_literal  # noqa: E402

PER_LEAD = 100
EMBEDDED_LEADS = 1000
HOT = ("select m.id, m.channel, m.direction, m.sent_at, m.subject, m.body from salesflow.messages as m "
       "where m.org_id = %s and m.lead_id = %s order by m.sent_at desc, m.id desc limit 20")


def sentences() -> list[str]:
    out = []
    for lang in ("en", "de"):
        out += [f.format(name="Mia") for f in FILLERS[lang]]
        for fact, question, distractors in FACTS[lang]:
            out += [fact.format(n=40, city="Graz", tool="Jira", month="June", name="Mia"), question,
                    *(d.format(month="June") for d in distractors)]
    return out


def timed(conn: psycopg.Connection, claims: str, statement: str, params: tuple) -> float:
    t = time.perf_counter()
    with conn.transaction():
        conn.execute("select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
                     (claims,))
        conn.execute(statement, params).fetchall()
    return time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    texts = sentences()
    model = LocalMiniLM()
    base = model.embed(texts)
    rng, r = np.random.default_rng(5), random.Random(5)
    rows = []
    with bench_database("salesflow-bench-memory-") as (url, org, _), psycopg.connect(url, autocommit=True) as conn:
        owner = uuid.uuid4()
        conn.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'owner')", (org, owner))
        claims = json.dumps({"role": "authenticated", "sub": str(owner)})
        leads: list[uuid.UUID] = []
        t0 = datetime(2024, 1, 1, tzinfo=UTC)
        for size in sizes:
            started = time.perf_counter()
            new = [uuid.uuid4() for _ in range(size // PER_LEAD - len(leads))]
            with conn.cursor().copy("copy salesflow.leads (org_id, id, first_name) from stdin") as copy:
                for lead in new:
                    copy.write_row((org, lead, "Bench"))
            # triggers off for the load: no embedding queue or summary counters for a benchmark's rows
            conn.execute("set session_replication_role = replica")
            embedded = []
            with conn.cursor().copy("copy salesflow.messages (org_id, id, lead_id, channel, direction, body, sent_at) "
                                    "from stdin") as copy:
                for n, lead in enumerate(new):
                    for i in range(PER_LEAD):
                        mid, pick = uuid.uuid4(), r.randrange(len(texts))
                        sent = t0 + timedelta(hours=i * 7 + n % 13)
                        copy.write_row((org, mid, lead, "whatsapp" if i % 3 else "email",
                                        "inbound" if i % 2 else "outbound", texts[pick], sent))
                        if not leads and n < EMBEDDED_LEADS:
                            embedded.append((mid, lead, pick, sent))
            if embedded:
                with conn.cursor().copy("copy salesflow.embeddings (org_id, source, source_id, model, dimension, "
                                        "lead_id, occurred_at, content, content_hash, embedding) from stdin") as copy:
                    for mid, lead, pick, sent in embedded:
                        v = base[pick] + rng.normal(0, 0.03, base.shape[1]).astype(np.float32)
                        copy.write_row((org, "message", mid, "all-MiniLM-L6-v2", 384, lead, sent, texts[pick], "x",
                                        vector_literal(v / np.linalg.norm(v))))
                # warm memory for the embedded leads: a summary as the job would leave it
                conn.execute("insert into salesflow.conversation_summaries (org_id, lead_id, summary, version, "
                             "covered_messages) select %s, l, repeat('The lead needs SAP, budget is tight. ', 8), "
                             "1, 80 from unnest(%s::uuid[]) as l", (org, [e[1] for e in embedded[::PER_LEAD]]))
            conn.execute("set session_replication_role = origin")
            leads += new
            conn.execute("vacuum analyze")
            load_s = time.perf_counter() - started
            hot, context = [], []
            sample = [r.choice(leads) for _ in range(args.calls)]
            warm_leads = leads[:EMBEDDED_LEADS]
            questions = [(texts[i], vector_literal(base[i])) for i in range(len(texts))]
            for _ in range(20):  # warm the caches and the plans
                timed(conn, claims, HOT, (org, r.choice(leads)))
            for lead in sample:
                hot.append(timed(conn, claims, HOT, (org, lead)))
            for _ in range(args.calls):
                q, v = r.choice(questions)
                context.append(timed(conn, claims, "select api.get_smart_context(%s, %s, %s, %s::extensions.vector)",
                                     (org, r.choice(warm_leads), q, v)))
            rows.append((size, load_s, hot, context))
            # printed as each size is done: the million takes a while to load
            print(f"\n{size:,} messages loaded in {load_s:.0f} s; one client, sequential, RLS as the owner")
            print(f"{'messages':>10} {'call':<40} {'calls':>6} {'p50 ms':>8} {'p95 ms':>8}")
            print(f"{size:>10,} {'hot: latest 20 messages of a lead':<40} {len(hot):>6} {pct(hot, .5):8.2f} "
                  f"{pct(hot, .95):8.2f}")
            print(f"{size:>10,} {'get_smart_context (hot+warm+cold, 2000)':<40} {len(context):>6} "
                  f"{pct(context, .5):8.2f} {pct(context, .95):8.2f}", flush=True)
    if len(rows) > 1:
        (s0, _, h0, c0), (s1, _, h1, c1) = rows[0], rows[-1]
        print(f"\np50 ratio {s1:,} / {s0:,} messages: hot {pct(h1, .5) / pct(h0, .5):.2f}x, "
              f"get_smart_context {pct(c1, .5) / pct(c0, .5):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
