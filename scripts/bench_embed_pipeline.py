"""Embedding pipeline throughput: texts/s from INSERT to searchable, next to the raw model's rate.

In one run on a fresh embedded PostgreSQL: (1) the raw rate, LocalMiniLM.embed on the texts in
batches as the pipeline uses them; (2) the pipeline: the same texts inserted as messages in one
transaction (the trigger queues them), a real `salesflow worker` process drains the queue, and the
clock stops when every text has its vector. The ratio is the pipeline's overhead (queue, claims,
reads, writes, the worker). Prints figures; asserts nothing.

    .venv/bin/python scripts/bench_embed_pipeline.py [--texts 3000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from salesflow.db.embedded import EmbeddedServer, free_port
from salesflow.db.migrate import migrate
from salesflow.functions.handlers.embed_texts import BATCH
from salesflow.gateway.embedders import LocalMiniLM

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from bench_search import sentences  # noqa: E402 - a sibling script's corpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=3000)
    args = parser.parse_args()
    texts = sentences(args.texts)
    n = len(texts)
    words = sum(len(t.split()) for t in texts) / n

    model = LocalMiniLM()
    model.embed(texts[:BATCH])  # load the session outside the clock, as the worker has by then
    t0 = time.perf_counter()
    for start in range(0, n, BATCH):
        model.embed(texts[start:start + BATCH])
    raw_s = time.perf_counter() - t0

    home = Path(tempfile.mkdtemp(prefix="salesflow-bench-embed-"))
    server = EmbeddedServer(home / "pgdata")
    server.start(free_port())
    server.ensure_database()
    worker = None
    try:
        url = server.url()
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn)
            org, lead = uuid.uuid4(), uuid.uuid4()
            conn.execute("insert into salesflow.organizations (id, name, slug) values (%s, 'Bench', 'bench')", (org,))
            conn.execute("insert into salesflow.leads (org_id, id, first_name) values (%s, %s, 'Bench')", (org, lead))
        env = {**os.environ, "DATABASE_URL": url}
        worker = subprocess.Popen([sys.executable, "-m", "salesflow", "worker", "--no-migrate", "--poll-interval",
                                   "0.5"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # let the worker load its handlers (and the model, on its first job) before the clock starts
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("insert into salesflow.messages (org_id, lead_id, channel, direction, body) "
                         "values (%s, %s, 'email', 'inbound', 'warm-up')", (org, lead))
            while conn.execute("select count(*) from salesflow.embeddings").fetchone()[0] < 1:
                time.sleep(0.2)
            t0 = time.perf_counter()
            with conn.transaction(), conn.cursor().copy(
                "copy salesflow.messages (org_id, lead_id, channel, direction, body) from stdin"
            ) as copy:
                for text in texts:
                    copy.write_row((org, lead, "email", "inbound", text))
            while conn.execute("select count(*) from salesflow.embeddings").fetchone()[0] < n + 1:
                time.sleep(0.1)
            pipeline_s = time.perf_counter() - t0
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        server.stop(mode="immediate")

    print(f"\n{n} CRM texts (mean {words:.0f} words), all-MiniLM-L6-v2 int8 ONNX, batch {BATCH}, 2 threads\n")
    print(f"{'path':<32} {'seconds':>8} {'texts/s':>8}")
    print(f"{'raw model (LocalMiniLM.embed)':<32} {raw_s:8.1f} {n / raw_s:8.0f}")
    print(f"{'insert -> searchable (pipeline)':<32} {pipeline_s:8.1f} {n / pipeline_s:8.0f}")
    print(f"{'ratio pipeline / raw':<32} {'':>8} {(n / pipeline_s) / (n / raw_s):8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
