"""Hot, warm and cold memory: the rolling summary extended by the worker job, and
api.get_smart_context / GET /api/conversations/{id}/memory assembling them within a token budget."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from salesflow.functions.handlers import summarize_conversation
from salesflow.gateway.config import GatewayConfig, parse_config
from salesflow.gateway.local import LocalLLMServer
from tests.conftest import acting_as, make_token, run_api, run_handler
from tests.fault_server import FaultServer, ok
from tests.gateway_harness import PRIMARY, SECONDARY, config_for
from tests.test_memory import drain

T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as faults:
        yield faults


@pytest.fixture(autouse=True)
def fresh_fault_server(server: FaultServer) -> None:
    server.reset()


def setup(db: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    db.autocommit = True
    owner = uuid.uuid4()
    with acting_as(db, owner):
        org = db.execute("select id from api.create_organization('Memory GmbH')").fetchone()[0]
        lead = db.execute("select id from api.create_lead(%s, first_name => 'Ida')", (org,)).fetchone()[0]
    return owner, org, lead


def say(db: psycopg.Connection, owner: uuid.UUID, org: uuid.UUID, lead: uuid.UUID, texts: list[str],
        start: int = 0) -> None:
    with acting_as(db, owner):
        for i, text in enumerate(texts):
            db.execute("select api.create_message(%s, %s, %s, 'inbound', %s, sent_at => %s)",
                       (org, lead, "whatsapp" if i % 2 else "email", text, T0 + timedelta(hours=start + i)))


def summary_job(db: psycopg.Connection, lead: uuid.UUID) -> int | None:
    row = db.execute("select id from salesflow.jobs where kind = 'summarize_conversation' and status = 'pending' "
                     "and payload ->> 'lead_id' = %s", (str(lead),)).fetchone()
    return row[0] if row else None


def run_summary(db: psycopg.Connection, url: str, job_id: int, server: FaultServer | GatewayConfig) -> None:
    # a gateway per run (run_handler opens worker resources in the job's own event loop)
    config = config_for(server, [PRIMARY]) if isinstance(server, FaultServer) else server
    payload, org = db.execute("select payload, org_id from salesflow.jobs where id = %s", (job_id,)).fetchone()
    run_handler(db, url, summarize_conversation.HANDLER,
                summarize_conversation.Payload.model_validate(payload), job_id=job_id, org_id=org,
                llm_config=config)
    db.execute("update salesflow.jobs set status = 'completed', finished_at = now() where id = %s", (job_id,))


def test_summary_is_extended_with_new_messages_not_rewritten(db, db_url, server: FaultServer) -> None:
    owner, org, lead = setup(db)
    say(db, owner, org, lead, [f"First week note {i}: the budget is tight" for i in range(4)])
    assert summary_job(db, lead) is None  # four new messages are not worth a summary yet
    say(db, owner, org, lead, ["First week note 4: we use Zendesk"], start=4)
    job = summary_job(db, lead)
    assert job is not None
    server.script(SECONDARY, ok("Ida has a tight budget and uses Zendesk."))
    run_summary(db, db_url, job, server)
    row = db.execute("select summary, version, covered_messages, pending_messages, offline_model "
                     "from salesflow.conversation_summaries where lead_id = %s", (lead,)).fetchone()
    assert row == ("Ida has a tight budget and uses Zendesk.", 1, 5, 0, False)

    say(db, owner, org, lead, [f"Later message {i} about the rollout date" for i in range(20)], start=10)
    job = summary_job(db, lead)
    server.script(SECONDARY, ok("Ida has a tight budget, uses Zendesk and wants the rollout in May."))
    run_summary(db, db_url, job, server)
    second = json.dumps(server.requests_for(SECONDARY)[-1].body)
    # the model saw the previous summary and the new messages only, not the first week again
    assert "Ida has a tight budget and uses Zendesk." in second
    assert "Later message 19" in second and "First week note" not in second
    row = db.execute("select version, covered_messages, pending_messages from salesflow.conversation_summaries "
                     "where lead_id = %s", (lead,)).fetchone()
    assert row == (2, 25, 0)
    # delivered again: the version moved on, nothing new to fold in, no model call
    calls = len(server.requests_for(SECONDARY))
    run_summary(db, db_url, job, server)
    assert len(server.requests_for(SECONDARY)) == calls


def test_smart_context_fits_hot_warm_and_cold_in_the_budget_over_http(db, db_url, server: FaultServer) -> None:
    owner, org, lead = setup(db)
    say(db, owner, org, lead, ["Our SAP integration is mandatory for IT."]
        + [f"Small talk number {i} about the weather" for i in range(29)])
    server.script(SECONDARY, ok("Ida needs SAP integration."))
    run_summary(db, db_url, summary_job(db, lead), server)
    drain(db, db_url)
    with run_api(db_url) as api:
        def get(params: dict, lead_id: object = lead, user: uuid.UUID = owner) -> httpx.Response:
            return httpx.get(f"{api.url}/api/conversations/{lead_id}/memory", params={"org_id": str(org), **params},
                             headers={"Authorization": f"Bearer {make_token(user)}"}, timeout=30)

        res = get({"query": "Which system must it integrate with?", "hot_messages": 10})
        assert res.status_code == 200, res.text
        memory = res.json()
        hot = [m["body"] for m in memory["hot"]]
        assert hot == [f"Small talk number {i} about the weather" for i in range(19, 29)]  # oldest first
        assert memory["warm"]["summary"] == "Ida needs SAP integration." and memory["warm"]["version"] == 1
        assert memory["cold"][0]["content"] == "Our SAP integration is mandatory for IT."
        assert memory["tokens"] <= memory["token_budget"] == 2000
        small = get({"query": "SAP", "token_budget": 60}).json()
        assert small["tokens"] <= 60 and len(small["hot"]) < 10
        for params, status in (({"token_budget": 10}, 400), ({"hot_messages": -1}, 400), ({"colour": "x"}, 400)):
            assert get(params).status_code == status, params
        assert get({}, lead_id="not-a-uuid").status_code == 400
        assert get({}, lead_id=uuid.uuid4()).status_code == 404
        assert get({}, user=uuid.uuid4()).status_code == 404  # another tenant's lead is not there for them


def test_the_offline_model_writes_a_stored_labelled_summary(db, db_url) -> None:
    owner, org, lead = setup(db)
    texts = ["We need the SAP connector.", "Budget is 40k.", "Decision in June.", "Please send the offer.",
             "I prefer email.", "Our CFO signs.", "We run SAP ECC.", "Call after 3 pm.", "Legal reviews it.",
             "Pilot in May. " * 200]
    say(db, owner, org, lead, texts)
    with LocalLLMServer() as llama:
        run_summary(db, db_url, summary_job(db, lead), parse_config({}, {"SALESFLOW_LOCAL_LLM_URL": llama.base_url}))
    summary, version, offline, request, covered = db.execute(
        "select summary, version, offline_model, request_id, covered_messages from salesflow.conversation_summaries "
        "where lead_id = %s", (lead,)).fetchone()
    assert summary.strip() and version == 1 and offline is True
    # the offline model folds in a few messages per run (the rest wait for the next), so it answers in time
    assert covered == summarize_conversation.OFFLINE_BATCH < len(texts)
    assert db.execute("select status from salesflow.llm_requests where id = %s", (request,)).fetchone() == ("ok",)
