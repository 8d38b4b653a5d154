"""Offline AI that produces: with no provider key, `request_ai_suggestion` yields a stored, schema-valid,
labelled suggestion, end to end through a real `salesflow worker` process and llama.cpp with SmolLM2.

Also the two things that made it produce nothing before: llama.cpp's only slot staying busy after
the gateway gave up, and free-form answers that were not JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import psycopg
import pytest
from psycopg.rows import dict_row

from salesflow.demo import load_demo
from salesflow.gateway.config import load_config
from salesflow.gateway.grammar import bounded_schema, token_bound
from salesflow.gateway.local import LocalLLMServer
from salesflow.gateway.product_prompts import product_prompt
from salesflow.gateway.providers import ChatMessage, ProviderError, make_provider
from tests.conftest import ROOT, acting_as

PROMPTS = {"next_actions": "recommendation_engine", "memory_facts": "memory_extraction"}


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLLMServer]:
    with LocalLLMServer(log_path=tmp_path_factory.mktemp("llama") / "llama.log") as server:
        yield server


def test_bounded_schemas_accept_only_answers_the_real_schema_accepts() -> None:
    for name in PROMPTS.values():
        schema = product_prompt(name, "en").output_schema
        bounded = bounded_schema(schema)
        jsonschema.Draft202012Validator.check_schema(bounded)
        assert "$schema" not in bounded and schema.get("$schema")  # the original is left as it was
    memory = bounded_schema(product_prompt("memory_extraction", "en").output_schema)
    fact = memory["properties"]["facts"]
    assert fact["maxItems"] == 2 and fact["items"]["properties"]["fact"]["maxLength"] == 100
    # llama.cpp's grammar has no numeric bounds: values inside them, each valid for the real schema
    confidence = fact["items"]["properties"]["confidence"]
    assert min(confidence["enum"]) == 0 and max(confidence["enum"]) == 1
    actions = bounded_schema(product_prompt("recommendation_engine", "en").output_schema)["properties"]["actions"]
    assert actions["minItems"] == 1 and actions["maxItems"] == 2
    assert min(actions["items"]["properties"]["due_in_days"]["enum"]) == 0
    # free text: no quote, backslash or control character (a raw newline in a string is not JSON),
    # at most two bytes of UTF-8 a character; German and accented text still fit
    text = re.compile(fact["items"]["properties"]["fact"]["pattern"])
    assert text.fullmatch("Frau Müller entscheidet im März; Budget ~40k €"[:-1])
    for bad in ("", "line\nbreak", 'a "quote"', "back\\slash", "tab\there", "emoji 🙂", "x" * 101):
        assert not text.fullmatch(bad), bad


def test_the_longest_answer_the_grammar_allows_fits_in_max_tokens() -> None:
    """token_bound is an upper bound: the longest answer the bounded schema admits, built by hand, fits."""
    reason = "é" * 100  # two bytes each, the most a character may take
    longest = {"actions": [{"action": "disqualify", "reason": reason, "due_in_days": 30, "priority": "medium"}] * 2}
    schema = product_prompt("recommendation_engine", "en").output_schema
    jsonschema.validate(longest, bounded_schema(schema))
    # the converter's whitespace: one optional space after every token group, at most
    spaced = json.dumps(longest, ensure_ascii=False, separators=(", ", ": "))
    bound = token_bound(schema)
    assert bound is not None and len(spaced.encode()) + 1 <= bound
    assert bound <= 2 * (len(spaced.encode()) + 1)  # and not so loose that it stops bounding anything
    memory = product_prompt("memory_extraction", "en").output_schema
    facts = {"facts": [{"fact": reason, "category": "relationship", "confidence": 0.1}] * 2, "summary": reason}
    jsonschema.validate(facts, bounded_schema(memory))
    assert len(json.dumps(facts, ensure_ascii=False, separators=(", ", ": ")).encode()) + 1 <= token_bound(memory)
    # a schema whose grammar it cannot bound (no closed object) gets no bound, not a wrong one
    assert token_bound({"type": "object", "properties": {"x": {"type": "string"}}}) is None
    assert token_bound(product_prompt("compliance_filter", "en").output_schema) is None


def test_a_timed_out_call_frees_the_slot_and_the_next_call_answers(llama: LocalLLMServer) -> None:
    config = load_config(env={"SALESFLOW_LOCAL_LLM_URL": llama.base_url})
    model = next(m for m in config.available_models() if m.offline)
    story = [ChatMessage("user", "Tell me a very long story about a sales team, with many chapters.")]

    async def run() -> str:
        provider = make_provider(config.providers["local"])
        try:
            with pytest.raises(ProviderError) as gave_up:
                await provider.complete(model, story, max_tokens=300, temperature=0.7, timeout=0.5)
            assert gave_up.value.kind == "timeout"
            # before, llama.cpp went on writing the abandoned answer with its only slot
            answer = await provider.complete(model, [ChatMessage("user", "Say hello.")], max_tokens=8,
                                             temperature=0, timeout=60)
            return answer.text
        finally:
            await provider.aclose()

    assert asyncio.run(run()).strip()


def test_two_answers_asked_at_once_both_run_to_their_end(llama: LocalLLMServer) -> None:
    """llama.cpp's server by default ends a streaming answer when another request arrives: cut JSON."""
    config = load_config(env={"SALESFLOW_LOCAL_LLM_URL": llama.base_url})
    model = next(m for m in config.available_models() if m.offline)
    schema = product_prompt("recommendation_engine", "en").output_schema

    async def run() -> list[str]:
        provider = make_provider(config.providers["local"])
        try:
            answers = await asyncio.gather(*(provider.complete(
                model, [ChatMessage("user", f"Suggest the next step for lead {n}.")], max_tokens=600,
                temperature=0.2, timeout=240, schema=schema) for n in (1, 2)))
        finally:
            await provider.aclose()
        assert all(a.finish_reason == "stop" for a in answers), [a.finish_reason for a in answers]
        return [a.text for a in answers]

    for text in asyncio.run(run()):
        jsonschema.validate(json.loads(text), schema)


def _demo_lead(db: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A demo organisation's rep and the lead of theirs with the most messages and activities."""
    result = load_demo(db, leads=30, seed=7, org_name="Offline Demo GmbH")
    db.commit()
    lead, owner = db.execute("""
        select l.id, l.owner_id from salesflow.leads as l
        where l.org_id = %(org)s and l.owner_id is not null
        order by (select count(*) from salesflow.messages as m where m.lead_id = l.id)
               + (select count(*) from salesflow.activities as a where a.lead_id = l.id) desc, l.id
        limit 1""", {"org": result.org_id}).fetchone()
    db.commit()
    return result.org_id, lead, owner


def _start_worker(url: str, llama: LocalLLMServer, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                                                           "SALESFLOW_LLM_CONFIG")}
    env.update({"DATABASE_URL": url, "SALESFLOW_LOCAL_LLM_URL": llama.base_url})
    with open(log, "wb") as out:
        # only the ai_suggest kind: the demo's embedding backfill would share the two cores with the model
        # (what a first run meets; the backfill's priority is its own piece of work)
        return subprocess.Popen([sys.executable, "-m", "salesflow", "worker", "--no-migrate", "--no-schedules",
                                 "--handlers", "salesflow.functions.handlers.ai_suggest", "--no-builtin-handlers"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


def test_suggestions_of_both_kinds_come_from_the_offline_model_through_a_real_worker(
    db: psycopg.Connection, db_url: str, llama: LocalLLMServer, tmp_path: Path
) -> None:
    org, lead, rep = _demo_lead(db)
    db.autocommit = True
    jobs = {}
    with acting_as(db, rep):
        for kind in PROMPTS:
            jobs[kind] = db.execute("select api.request_ai_suggestion(%s, %s, %s)", (org, lead, kind)).fetchone()[0]
        # asked again while pending: the same job
        assert db.execute("select api.request_ai_suggestion(%s, %s, 'next_actions')", (org, lead)).fetchone()[0] \
            == jobs["next_actions"]
    worker = _start_worker(db_url, llama, tmp_path / "worker.log")
    try:
        # asked again while running: still the same job, and no rerun of it
        deadline = time.monotonic() + 60
        while db.execute("select status from salesflow.jobs where id = %s", (jobs["next_actions"],)).fetchone()[0] \
                == "pending":
            assert time.monotonic() < deadline and worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.05)
        with acting_as(db, rep):
            assert db.execute("select api.request_ai_suggestion(%s, %s, 'next_actions')",
                              (org, lead)).fetchone()[0] == jobs["next_actions"]
        # a busy machine may time an attempt out; the queue's backoff then tries again
        deadline = time.monotonic() + 900
        while db.execute("select count(*) from salesflow.jobs where id = any(%s) and status in ('pending', 'running')",
                         (list(jobs.values()),)).fetchone()[0]:
            assert time.monotonic() < deadline and worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(30)
    log = (tmp_path / "worker.log").read_text()
    states = dict(db.execute("select id, status::text || ' ' || coalesce(last_error, '') from salesflow.jobs "
                             "where id = any(%s)", (list(jobs.values()),)).fetchall())
    assert all(s.startswith("completed") for s in states.values()), (states, log[-3000:])
    assert db.execute("select count(*) from salesflow.jobs where kind = 'ai_suggest'").fetchone()[0] == 2
    with acting_as(db, rep):
        rows = db.cursor(row_factory=dict_row).execute(
            "select * from api.list_ai_suggestions(%s, lead_id => %s)", (org, lead)).fetchall()
    assert sorted(r["kind"] for r in rows) == sorted(PROMPTS)
    for row in rows:
        jsonschema.validate(row["content"], product_prompt(PROMPTS[row["kind"]], "en").output_schema)
        assert row["offline_model"] is True and row["status"] == "pending" and row["job_id"] == jobs[row["kind"]]
        logged = db.execute("select provider, status from salesflow.llm_requests where id = %s",
                            (row["request_id"],)).fetchone()
        assert logged == ("local", "ok")
