"""Evidence recall@10 of api.search_memory next to BM25 alone and dense (cosine) alone, in one run.

The set is scripts/_memory_eval.py's: long conversations of hundreds of turns over separate chats,
German and English, one lead each, with questions whose evidence turns are known. For each offline
model (all-MiniLM-L6-v2, English; multilingual-e5-small, German and English) a database of its own
gets the turns as messages through COPY (keyword search reads them at once), the model active,
and the vectors stored through salesflow.store_embeddings. Each question is asked over the same
turns of its conversation as:
  fused    api.search_memory(query_embedding, query_text, lead_id) as the organisation's owner
  keyword  api.search_memory(query_text, lead_id) alone (its BM25 ranking, no vector)
  dense    cosine similarity of the same vectors, exact, in numpy
  bm25     rank_bm25.BM25Okapi over the conversation's turns (lower-cased word tokens), and the
           same over PostgreSQL's snowball stems ('english' / 'german'), to see what stemming adds
recall@10 is the share of a question's evidence turns in the top 10, averaged over questions.

    .venv/bin/python scripts/bench_memory_recall.py [--conversations 10] [--models all-MiniLM-L6-v2,...]
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

from salesflow.gateway.embedders import Embedders, embed_query, vector_literal  # noqa: E402

MODELS = ("all-MiniLM-L6-v2", "multilingual-e5-small")
WORDS = re.compile(r"\w+")
STEM_CONFIG = {"en": "english", "de": "german"}


def tokens(text: str) -> list[str]:
    return WORDS.findall(text.lower())


def recall(top: list[int], evidence: list[int]) -> float:
    return len(set(top) & set(evidence)) / len(evidence)


def stems(conn: psycopg.Connection, lang: str, texts: list[str]) -> list[list[str]]:
    """Snowball stems of each text, stop words dropped, repeated as often as they occur."""
    rows = conn.execute(
        "select t.i, v.lexeme, pg_catalog.cardinality(v.positions) from unnest(%s::text[]) with ordinality as t(x, i), "
        "unnest(to_tsvector(%s::regconfig, t.x)) as v order by t.i", (texts, STEM_CONFIG[lang])).fetchall()
    out: list[list[str]] = [[] for _ in texts]
    for i, lexeme, n in rows:
        out[i - 1].extend([lexeme] * (n or 1))
    return out


def load(conn: psycopg.Connection, org: uuid.UUID, model: str, convs: list, vectors: list[np.ndarray]
         ) -> tuple[list[uuid.UUID], list[list[uuid.UUID]]]:
    """The conversations as messages (COPY) with their vectors stored for `model`, which is made active."""
    if model != "all-MiniLM-L6-v2":
        conn.execute("select salesflow.switch_embedding_model(%s, 384)", (model,))
        assert conn.execute("select salesflow.finish_embedding_model(%s)", (model,)).fetchone()[0]
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
        queued_at = dict(conn.execute("select source_id, queued_at from salesflow.embedding_queue "
                                      "where source_id = any(%s) and model = %s", (ids[-1], model)).fetchall())
        conn.execute(
            "select salesflow.store_embeddings(%s, %s::uuid[], %s::salesflow.embedding_source[], %s::uuid[], "
            "%s::timestamptz[], %s::text[], %s::text[])",
            (model, [org] * len(conv.turns), ["message"] * len(conv.turns), ids[-1],
             [queued_at[i] for i in ids[-1]], [hashlib.md5(t.text.encode()).hexdigest() for t in conv.turns],
             [vector_literal(v) for v in vectors[c]]))
    conn.execute("vacuum analyze")
    return leads, ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated offline models to compare")
    args = parser.parse_args()
    convs = evaluation_set(args.conversations)
    embedders = Embedders()
    print(f"{len(convs)} conversations, {sum(len(c.turns) for c in convs)} turns, "
          f"{sum(len(c.questions) for c in convs)} questions")
    results: dict[str, dict[str, list[float]]] = {}
    labels: dict[str, str] = {}
    latencies: dict[str, list[float]] = {}

    def add(name: str, label: str, lang: str, value: float) -> None:
        labels[name] = label
        results.setdefault(name, {"en": [], "de": []})[lang].append(value)

    for m, model in enumerate(args.models.split(",")):
        embedder = embedders.for_model(model)
        t0 = time.perf_counter()
        vectors = [embedder.embed([t.text for t in c.turns]) for c in convs]
        turns = sum(len(c.turns) for c in convs)
        print(f"{model}: embedded {turns} turns in {time.perf_counter() - t0:.0f} s "
              f"({turns / (time.perf_counter() - t0):.0f} texts/s)")
        with bench_database("salesflow-bench-recall-") as (url, org, _), \
                psycopg.connect(url, autocommit=True) as conn:
            owner = uuid.uuid4()
            conn.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'owner')",
                         (org, owner))
            leads, ids = load(conn, org, model, convs, vectors)
            claims = json.dumps({"role": "authenticated", "sub": str(owner)})
            latencies[model] = []
            for c, conv in enumerate(convs):
                position = {mid: i for i, mid in enumerate(ids[c])}
                texts = [t.text for t in conv.turns]
                bm25 = BM25Okapi([tokens(t) for t in texts]) if m == 0 else None
                stemmed = BM25Okapi(stems(conn, conv.lang, texts)) if m == 0 else None
                for question, evidence in conv.questions:
                    qv = embed_query(embedder, question)
                    runs = {}
                    for how, vector in (("fused", vector_literal(qv)), ("keyword", None)):
                        t = time.perf_counter()
                        with conn.transaction():
                            conn.execute("select set_config('role', 'authenticated', true), "
                                         "set_config('request.jwt.claims', %s, true)", (claims,))
                            rows = conn.execute(
                                "select source_id from api.search_memory(%s, %s::extensions.vector, %s, "
                                "lead_id => %s, k => 10)", (org, vector, question, leads[c])).fetchall()
                        if how == "fused":
                            latencies[model].append(time.perf_counter() - t)
                        runs[how] = [position[r[0]] for r in rows]
                    add(f"fused:{model}", f"api.search_memory, BM25 + {model} (RRF)", conv.lang,
                        recall(runs["fused"], evidence))
                    add(f"dense:{model}", f"dense alone ({model}, exact cosine)", conv.lang,
                        recall(list(np.argsort(-(vectors[c] @ qv), kind="stable")[:10]), evidence))
                    if m == 0:
                        add("keyword", "api.search_memory keyword ranking alone", conv.lang,
                            recall(runs["keyword"], evidence))
                        assert bm25 is not None and stemmed is not None
                        add("bm25", "BM25 alone (rank-bm25, lower-cased words)", conv.lang,
                            recall(list(np.argsort(-bm25.get_scores(tokens(question)), kind="stable")[:10]),
                                   evidence))
                        qs = stems(conn, conv.lang, [question])[0]
                        add("bm25-stem", "BM25 alone (rank-bm25, snowball stems)", conv.lang,
                            recall(list(np.argsort(-stemmed.get_scores(qs), kind="stable")[:10]), evidence))

    print("\nevidence recall@10 (own long-conversation set; same turns, same questions, same run)\n")
    print(f"{'method':<60} {'all':>6} {'en':>6} {'de':>6}")
    for name, by_lang in results.items():
        every = by_lang["en"] + by_lang["de"]
        print(f"{labels[name]:<60} {statistics.mean(every):6.3f} {statistics.mean(by_lang['en']):6.3f} "
              f"{statistics.mean(by_lang['de']):6.3f}")
    print()
    for model, samples in latencies.items():
        ordered = sorted(samples)
        print(f"search_memory ({model}) over {len(ordered)} questions: p50 {ordered[len(ordered) // 2] * 1000:.1f} ms, "
              f"p95 {ordered[int(len(ordered) * 0.95)] * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
