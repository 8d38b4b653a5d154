"""Evidence recall@10 of api.search_memory next to BM25 alone and dense (cosine) alone, in one run.

The set is scripts/_memory_eval.py's: long conversations of hundreds of turns over separate chats,
German and English, one lead each, with questions whose evidence turns are known. The turns go in
as messages through COPY (keyword search reads them at once), their vectors are computed with the
product's model (all-MiniLM-L6-v2) and stored through salesflow.store_embeddings. Each question is
asked three ways over the same turns of its conversation:
  product  api.search_memory(query_embedding, query_text, lead_id) as the organisation's owner
  bm25     rank_bm25.BM25Okapi over the conversation's turns (lower-cased word tokens)
  dense    cosine similarity of the same vectors, exact, in numpy
recall@10 is the share of a question's evidence turns in the top 10, averaged over questions.

    .venv/bin/python scripts/bench_memory_recall.py [--conversations 10]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
from rank_bm25 import BM25Okapi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import bench_database  # noqa: E402
from _memory_eval import evaluation_set  # noqa: E402

from salesflow.gateway.embedders import LocalMiniLM, vector_literal  # noqa: E402

MODEL = "all-MiniLM-L6-v2"
WORDS = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    return WORDS.findall(text.lower())


def recall(top: list[int], evidence: list[int]) -> float:
    return len(set(top) & set(evidence)) / len(evidence)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=10)
    args = parser.parse_args()
    convs = evaluation_set(args.conversations)
    model = LocalMiniLM()
    t0 = time.perf_counter()
    vectors = [model.embed([t.text for t in c.turns]) for c in convs]
    print(f"{len(convs)} conversations, {sum(len(c.turns) for c in convs)} turns, "
          f"{sum(len(c.questions) for c in convs)} questions; embedded in {time.perf_counter() - t0:.0f} s")

    results: dict[str, dict[str, list[float]]] = {m: {"en": [], "de": []} for m in ("product", "bm25", "dense")}
    with bench_database("salesflow-bench-recall-") as (url, org, _), psycopg.connect(url, autocommit=True) as conn:
        owner = uuid.uuid4()
        conn.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'owner')",
                     (org, owner))
        start = datetime(2025, 1, 6, 9, tzinfo=UTC)
        ids: list[list[uuid.UUID]] = []
        leads = []
        for c, conv in enumerate(convs):
            lead = conn.execute("insert into salesflow.leads (org_id, first_name) values (%s, %s) returning id",
                                (org, f"Lead {c}")).fetchone()[0]
            leads.append(lead)
            ids.append([uuid.uuid4() for _ in conv.turns])
            with conn.cursor().copy("copy salesflow.messages (org_id, id, lead_id, channel, direction, body, "
                                    "sent_at) from stdin") as copy:
                for turn, mid in zip(conv.turns, ids[-1], strict=True):
                    # one chat session every two weeks, turns a few minutes apart
                    sent = start + timedelta(days=14 * turn.session, minutes=3 * turn.index)
                    copy.write_row((org, mid, lead, "chat", "inbound" if turn.inbound else "outbound",
                                    turn.text, sent))
            queued = conn.execute("select source_id, queued_at from salesflow.embedding_queue "
                                  "where source_id = any(%s)", (ids[-1],)).fetchall()
            queued_at = dict(queued)
            conn.execute(
                "select salesflow.store_embeddings(%s, %s::uuid[], %s::salesflow.embedding_source[], %s::uuid[], "
                "%s::timestamptz[], %s::text[], %s::text[])",
                (MODEL, [org] * len(conv.turns), ["message"] * len(conv.turns), ids[-1],
                 [queued_at[i] for i in ids[-1]], [hashlib.md5(t.text.encode()).hexdigest() for t in conv.turns],
                 [vector_literal(v) for v in vectors[c]]))
        conn.execute("vacuum analyze")
        claims = json.dumps({"role": "authenticated", "sub": str(owner)})
        latencies = []
        for c, conv in enumerate(convs):
            position = {mid: i for i, mid in enumerate(ids[c])}
            bm25 = BM25Okapi([tokens(t.text) for t in conv.turns])
            for question, evidence in conv.questions:
                qv = model.embed([question])[0]
                t = time.perf_counter()
                with conn.transaction():
                    conn.execute("select set_config('role', 'authenticated', true), "
                                 "set_config('request.jwt.claims', %s, true)", (claims,))
                    rows = conn.execute(
                        "select source_id from api.search_memory(%s, %s::extensions.vector, %s, lead_id => %s, "
                        "k => 10)", (org, vector_literal(qv), question, leads[c])).fetchall()
                latencies.append(time.perf_counter() - t)
                product = [position[r[0]] for r in rows]
                keyword = list(np.argsort(-bm25.get_scores(tokens(question)), kind="stable")[:10])
                dense = list(np.argsort(-(vectors[c] @ qv), kind="stable")[:10])
                for name, top in (("product", product), ("bm25", keyword), ("dense", dense)):
                    results[name][conv.lang].append(recall(top, evidence))

    print("\nevidence recall@10 (own long-conversation set; same turns, same questions, same run)\n")
    print(f"{'method':<46} {'all':>6} {'en':>6} {'de':>6}")
    labels = {"product": "api.search_memory (BM25 + vector, RRF)", "bm25": "BM25 alone (rank-bm25)",
              "dense": f"dense alone ({MODEL}, exact cosine)"}
    for name, by_lang in results.items():
        every = by_lang["en"] + by_lang["de"]
        print(f"{labels[name]:<46} {statistics.mean(every):6.3f} {statistics.mean(by_lang['en']):6.3f} "
              f"{statistics.mean(by_lang['de']):6.3f}")
    ordered = sorted(latencies)
    print(f"\nsearch_memory latency over {len(ordered)} questions: p50 {ordered[len(ordered) // 2] * 1000:.1f} ms, "
          f"p95 {ordered[int(len(ordered) * 0.95)] * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
