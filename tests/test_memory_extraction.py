"""Memory extraction wired: the extract_memory job runs the memory_extraction prompt through the gateway when
enough new messages arrive; facts are stored through api.record_memory_fact with a quote from the message that
states them, facts no message supports are refused, a later fact closes the earlier one, consent is honoured,
and the offline path (a real worker process with llama.cpp and SmolLM2) stores labelled facts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from salesflow.functions.fact_evidence import RULES_VERSION, Source, cite, rule_facts
from salesflow.functions.handlers import extract_memory
from salesflow.gateway.local import LocalLLMServer
from tests.conftest import ROOT, acting_as, run_handler
from tests.fault_server import FaultServer, ok
from tests.gateway_harness import CLAUDE, PRIMARY, SECONDARY, config_for

T0 = datetime(2025, 5, 5, 9, tzinfo=UTC)
MODELS = (PRIMARY, SECONDARY, CLAUDE)  # summarize is routed by price: whichever answers, answers this


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as faults:
        yield faults


@pytest.fixture(autouse=True)
def _reset(server: FaultServer) -> Iterator[None]:
    server.reset()
    yield


def setup(db: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    db.autocommit = True
    owner = uuid.uuid4()
    with acting_as(db, owner):
        org = db.execute("select id from api.create_organization('Fakten GmbH')").fetchone()[0]
        lead = db.execute("select id from api.create_lead(%s, first_name => 'Ida')", (org,)).fetchone()[0]
    return owner, org, lead


def say(db: psycopg.Connection, owner: uuid.UUID, org: uuid.UUID, lead: uuid.UUID, texts: list[str],
        start: int = 0) -> list[uuid.UUID]:
    with acting_as(db, owner):
        return [db.execute("select id from api.create_message(%s, %s, 'email', 'inbound', %s, sent_at => %s)",
                           (org, lead, text, T0 + timedelta(days=start + i))).fetchone()[0]
                for i, text in enumerate(texts)]


def facts_job(db: psycopg.Connection, lead: uuid.UUID) -> int | None:
    row = db.execute("select id from salesflow.jobs where kind = 'extract_memory' and status = 'pending' "
                     "and payload ->> 'lead_id' = %s", (str(lead),)).fetchone()
    return row[0] if row else None


def run_job(db: psycopg.Connection, url: str, server: FaultServer, org: uuid.UUID, lead: uuid.UUID) -> None:
    run_handler(db, url, extract_memory.HANDLER, extract_memory.Payload(lead_id=lead), org_id=org,
                llm_config=config_for(server, [PRIMARY]))


def answer(server: FaultServer, *facts: tuple[str, str, float]) -> None:
    body = json.dumps({"facts": [{"fact": f, "category": c, "confidence": p} for f, c, p in facts],
                       "summary": "."})
    for model in MODELS:
        server.script(model, ok(body))


def stored(db: psycopg.Connection, lead: uuid.UUID) -> list[dict]:
    return db.cursor(row_factory=dict_row).execute(
        "select * from salesflow.memory_facts where lead_id = %s order by valid_from, fact", (lead,)).fetchall()


def test_evidence_is_the_sentence_that_holds_the_facts_numbers_and_words() -> None:
    a, b = Source(uuid.uuid4(), "Hallo! Unser Budget liegt bei 40.000 EUR für die Roboter. Grüße"), \
        Source(uuid.uuid4(), "We currently use Zendesk. It is too slow for our team.")
    source, quote, support = cite("The budget is 40.000 EUR for the robots", [a, b])
    assert source is a and quote == "Unser Budget liegt bei 40.000 EUR für die Roboter." and support == 1.0
    assert cite("The budget is 90.000 EUR", [a, b]) is None  # a number no message holds
    assert cite("They use Salesforce as their CRM", [a, b]) is None  # words no message holds
    assert cite("", [a, b]) is None
    found = {(f.category, f.fact, f.quote) for f in rule_facts([a, b])}
    assert ("budget", "Budget or price named: 40.000 EUR", "Unser Budget liegt bei 40.000 EUR für die Roboter.") \
        in found
    assert ("competitor", "Uses Zendesk today", "We currently use Zendesk.") in found
    assert ("pain_point", "Pain point: It is too slow for our team.", "It is too slow for our team.") in found
    de = rule_facts([Source(uuid.uuid4(), "Ich bin Leiterin Einkauf. Wir müssen bis Ende März entscheiden, "
                                          "aber der Preis ist zu hoch.")])
    assert {f.category for f in de} == {"role", "timeline", "objection"}
    assert rule_facts([Source(uuid.uuid4(), "Danke, bis bald!")]) == []


def test_facts_with_evidence_are_stored_without_are_refused_and_later_ones_close_earlier(
        db, db_url, server: FaultServer) -> None:
    owner, org, lead = setup(db)
    first = say(db, owner, org, lead, ["Guten Tag, wir interessieren uns für Ihre Roboter.",
                                       "Unser Budget liegt bei 40.000 EUR für die Roboter.",
                                       "Entscheidung fällt im Juni."])
    assert facts_job(db, lead) is not None  # three first messages are enough for a first read
    answer(server, ("The budget is 40.000 EUR for the robots", "budget", 0.9),
           ("The budget is 90.000 EUR", "budget", 1.0),
           ("They use Salesforce as their CRM", "competitor", 0.8))
    run_job(db, db_url, server, org, lead)
    [fact] = stored(db, lead)
    assert (fact["category"], fact["fact_key"], fact["message_id"]) == ("budget", "budget", first[1])
    assert fact["quote"] == "Unser Budget liegt bei 40.000 EUR für die Roboter."
    assert fact["confidence"] == pytest.approx(0.9) and fact["valid_to"] is None
    assert fact["valid_from"] == T0 + timedelta(days=1)
    model, prompt = db.execute("select model, prompt_name from salesflow.llm_requests where id = %s",
                               (fact["request_id"],)).fetchone()
    assert fact["extracted_by"] == f"model:{model}" and prompt == "memory_extraction.en"
    # the prompt read the messages after the cursor
    sent = json.dumps([r.body for m in MODELS for r in server.requests_for(m)])
    assert "40.000 EUR" in sent

    # delivered again: the cursor moved on, no model call, nothing stored twice
    calls = sum(len(server.requests_for(m)) for m in MODELS)
    run_job(db, db_url, server, org, lead)
    assert sum(len(server.requests_for(m)) for m in MODELS) == calls and len(stored(db, lead)) == 1

    later = say(db, owner, org, lead, ["Das Budget wurde auf 55.000 EUR erhöht."]
                + [f"Kurze Rückfrage Nummer {i} zum Angebot." for i in range(9)], start=10)
    assert facts_job(db, lead) is not None  # ten more
    answer(server, ("The budget was raised to 55.000 EUR", "budget", 1.0))
    run_job(db, db_url, server, org, lead)
    old, new = stored(db, lead)
    assert new["message_id"] == later[0] and new["valid_to"] is None
    assert old["valid_to"] == new["valid_from"] and old["superseded_by"] == new["id"]
    with acting_as(db, owner):
        current = db.execute("select fact from api.list_memory_facts(%s, %s)", (org, lead)).fetchall()
    assert current == [("The budget was raised to 55.000 EUR",)]


def test_without_ai_consent_nothing_is_read(db, db_url, server: FaultServer) -> None:
    owner, org, lead = setup(db)
    with acting_as(db, owner):
        db.execute("select api.set_lead_consent(%s, %s, 'email', true, false)", (org, lead))
    say(db, owner, org, lead, ["Unser Budget liegt bei 40.000 EUR.", "Wir nutzen derzeit Zendesk.", "Bis Juni."])
    answer(server, ("The budget is 40.000 EUR", "budget", 1.0))
    run_job(db, db_url, server, org, lead)
    assert stored(db, lead) == []
    assert sum(len(server.requests_for(m)) for m in MODELS) == 0
    assert db.execute("select count(*) from salesflow.llm_requests where org_id = %s", (org,)).fetchone()[0] == 0


def test_the_offline_path_stores_labelled_facts_through_a_real_worker(db, db_url, tmp_path: Path) -> None:
    owner, org, lead = setup(db)
    texts = ["Hallo, ich bin Leiterin Einkauf bei der Nordlicht AG.",
             "Unser Budget liegt bei 40.000 EUR für zwei Roboter.",
             "Wir nutzen derzeit Zendesk, das ist zu langsam.",
             "Die Entscheidung muss bis Ende Juni fallen."]
    ids = say(db, owner, org, lead, texts)
    job = facts_job(db, lead)
    assert job is not None
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                                                           "SALESFLOW_LLM_CONFIG")}
    with LocalLLMServer(log_path=tmp_path / "llama.log") as llama:
        env.update({"DATABASE_URL": db_url, "SALESFLOW_LOCAL_LLM_URL": llama.base_url})
        with open(tmp_path / "worker.log", "wb") as out:
            worker = subprocess.Popen([sys.executable, "-m", "salesflow", "worker", "--no-migrate", "--no-schedules",
                                       "--handlers", "salesflow.functions.handlers.extract_memory",
                                       "--no-builtin-handlers"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                      cwd=ROOT)
        try:
            deadline = time.monotonic() + 300
            while db.execute("select status::text from salesflow.jobs where id = %s", (job,)).fetchone()[0] \
                    in ("pending", "running"):
                assert time.monotonic() < deadline and worker.poll() is None, (tmp_path / "worker.log").read_text()
                time.sleep(0.2)
        finally:
            worker.terminate()
            worker.wait(30)
    status = db.execute("select status::text, last_error from salesflow.jobs where id = %s", (job,)).fetchone()
    assert status == ("completed", None), (tmp_path / "worker.log").read_text()[-3000:]
    facts = stored(db, lead)
    by_text = {m: t for m, t in zip(ids, texts, strict=True)}
    assert {f["category"] for f in facts if f["extracted_by"] == RULES_VERSION} >= {"role", "budget", "competitor",
                                                                                    "timeline"}
    for f in facts:
        # every stored fact is labelled, quotes its message, and came from the rules or the local model
        assert f["extracted_by"] == RULES_VERSION or f["extracted_by"].startswith("model:")
        assert " ".join(f["quote"].split()).lower() in " ".join(by_text[f["message_id"]].split()).lower()
    assert db.execute("select facts_until from salesflow.conversation_summaries where lead_id = %s",
                      (lead,)).fetchone()[0] == T0 + timedelta(days=3)
