"""Search latency of api.search_memory at 100,000 and 1,000,000 vectors, exact and HNSW, with recall@10.

Vectors: real all-MiniLM-L6-v2 embeddings of a few thousand CRM sentences (the demo generator's
texts), each repeated with Gaussian noise and re-normalised, so the collection is clustered as real
conversations are (embedding a million texts would take this machine over an hour). Queries are
embeddings of other sentences. Each size is measured first without an index (exact scan), then
with the model's partial HNSW index (m=16, ef_construction=64; ef_search=200 as the RPC sets it);
recall@10 is the overlap of the HNSW top-10 with the exact top-10 for the same query. The calls go
through the RPC as a signed-in member (role and claims as PostgREST sets them). Prints figures.

    .venv/bin/python scripts/bench_search.py [--sizes 100000,1000000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg
from _bench import pct

from salesflow.db.embedded import EmbeddedServer, free_port
from salesflow.db.migrate import migrate
from salesflow.demo import seed_sql
from salesflow.gateway.embedders import LocalMiniLM, vector_literal

MODEL = "all-MiniLM-L6-v2"


def sentences(n: int) -> list[str]:
    """Distinct realistic sentences: the bodies of the demo's messages and activities."""
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp) / "pgdata")
        server.start(free_port())
        server.ensure_database()
        try:
            with psycopg.connect(server.url(), autocommit=True) as conn:
                migrate(conn)
                conn.execute(seed_sql(leads=max(10, n // 6), seed=3).encode())
                rows = conn.execute("select distinct body from salesflow.messages union "
                                    "select distinct body from salesflow.activities where body is not null").fetchall()
        finally:
            server.stop(mode="immediate")
    texts = [r[0] for r in rows]
    random.Random(5).shuffle(texts)
    return texts[:n]


def timed_search(conn: psycopg.Connection, claims: str, org: uuid.UUID, q: str) -> tuple[float, list[uuid.UUID]]:
    t = time.perf_counter()
    with conn.transaction():
        conn.execute("set transaction read only")
        conn.execute("select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
                     (claims,))
        rows = conn.execute("select source_id from api.search_memory(%s, %s::extensions.vector, k => 10)",
                            (org, q)).fetchall()
    return time.perf_counter() - t, [r[0] for r in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--base", type=int, default=3000, help="real sentences the collection is built around")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    model = LocalMiniLM()
    texts = sentences(args.base + args.queries)
    base_texts, query_texts = texts[: args.base], texts[args.base:]
    base = model.embed(base_texts)
    queries = model.embed(query_texts)
    print(f"embedded {len(base_texts)} base and {len(query_texts)} query sentences with {MODEL}")

    home = Path(tempfile.mkdtemp(prefix="salesflow-bench-search-"))
    server = EmbeddedServer(home / "pgdata")
    server.start(free_port())
    server.ensure_database()
    results = []
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            migrate(conn)
            conn.execute("set maintenance_work_mem = '4GB'")
            org, owner = uuid.uuid4(), uuid.uuid4()
            conn.execute("insert into salesflow.organizations (id, name, slug) values (%s, 'Bench', 'bench')", (org,))
            conn.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'owner')",
                         (org, owner))
            leads = [uuid.uuid4() for _ in range(1000)]
            with conn.cursor().copy("copy salesflow.leads (org_id, id, first_name) from stdin") as copy:
                for lead in leads:
                    copy.write_row((org, lead, "Bench"))
            claims = json.dumps({"role": "authenticated", "sub": str(owner)})
            rng = np.random.default_rng(11)
            loaded = 0
            for size in sizes:
                t0 = time.perf_counter()
                rows = []
                with conn.cursor().copy(
                    "copy salesflow.embeddings (org_id, source, source_id, model, dimension, lead_id, occurred_at, "
                    "content, content_hash, embedding) from stdin"
                ) as copy:
                    for start in range(loaded, size, 10_000):
                        n = min(10_000, size - start)
                        picks = rng.integers(0, len(base), n)
                        block = base[picks] + rng.normal(0, 0.03, (n, base.shape[1])).astype(np.float32)
                        block /= np.linalg.norm(block, axis=1, keepdims=True)
                        for i in range(n):
                            text = base_texts[picks[i]]
                            row = (org, uuid.uuid4(), leads[(start + i) % len(leads)],
                                   f"2026-{1 + (start + i) % 10:02d}-15T10:00:00Z", text)
                            rows.append(row)
                            copy.write_row((
                                org, "message", row[1], MODEL, 384, row[2], row[3], text, "x",
                                vector_literal(block[i]),
                            ))
                # the texts behind the vectors (search returns hits with their message); no triggers,
                # the vectors are already there
                conn.execute("set session_replication_role = replica")
                with conn.cursor().copy(
                    "copy salesflow.messages (org_id, id, lead_id, sent_at, body, channel, direction) from stdin"
                ) as copy:
                    for row in rows:
                        copy.write_row((*row, "email", "inbound"))
                conn.execute("set session_replication_role = origin")
                loaded = size
                load_s = time.perf_counter() - t0
                conn.execute("vacuum analyze salesflow.embeddings")
                qs = [vector_literal(q) for q in queries]
                exact_n = qs if size <= 200_000 else qs[: max(20, len(qs) // 4)]
                with psycopg.connect(server.url()) as search_conn:
                    for q in qs[:5]:
                        timed_search(search_conn, claims, org, q)
                    exact = [timed_search(search_conn, claims, org, q) for q in exact_n]
                index = f"embeddings_hnsw_{size}"
                t0 = time.perf_counter()
                conn.execute(f"create index {index} on salesflow.embeddings using hnsw "
                             f"((embedding::extensions.vector(384)) extensions.vector_cosine_ops) "
                             f"with (m = 16, ef_construction = 64) where model = '{MODEL}'")
                build_s = time.perf_counter() - t0
                with psycopg.connect(server.url()) as search_conn:
                    for q in qs[:5]:
                        timed_search(search_conn, claims, org, q)
                    hnsw = [timed_search(search_conn, claims, org, q) for q in qs]
                recall = statistics.mean(
                    len(set(h[1]) & set(e[1])) / max(1, len(e[1])) for h, e in zip(hnsw, exact, strict=False))
                conn.execute(f"drop index salesflow.{index}")
                results.append((size, load_s, build_s, exact, hnsw, recall))
                print(f"{size:,} vectors: loaded in {load_s:.1f} s, HNSW built in {build_s:.1f} s")
    finally:
        server.stop(mode="immediate")

    print(f"\nsearch_memory, k=10, one client, sequential; {MODEL}, 384 dimensions\n")
    print(f"{'vectors':>10} {'path':<6} {'queries':>7} {'p50 ms':>8} {'p95 ms':>8} {'recall@10':>9}")
    for size, _, _, exact, hnsw, recall in results:
        e = [t for t, _ in exact]
        h = [t for t, _ in hnsw]
        print(f"{size:>10,} {'exact':<6} {len(e):>7} {pct(e, .5):8.1f} {pct(e, .95):8.1f} {'1.000':>9}")
        print(f"{size:>10,} {'hnsw':<6} {len(h):>7} {pct(h, .5):8.1f} {pct(h, .95):8.1f} {recall:9.3f}")
        print(f"{'':>10} {'ratio':<6} {'':>7} {pct(e, .5) / pct(h, .5):7.1f}x {pct(e, .95) / pct(h, .95):7.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
