"""AI-processing consent: a lead who withdrew it is read by no model, whichever feature asks (chat naming
the lead, rolling summaries; suggestions in test_gdpr, memory extraction in test_memory_extraction)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from salesflow.assistant.chat import ChatService
from salesflow.functions.handlers import summarize_conversation
from salesflow.gateway.errors import GatewayError
from tests.conftest import acting_as, run_handler
from tests.fault_server import FaultServer, ok
from tests.gateway_harness import CLAUDE, PRIMARY, SECONDARY, Harness, config_for


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as faults:
        yield faults


@pytest.fixture(autouse=True)
def _reset(server: FaultServer) -> Iterator[None]:
    server.reset()
    yield


def world(db: psycopg.Connection, consent: bool) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    db.autocommit = True
    rep = uuid.uuid4()
    with acting_as(db, rep):
        org = db.execute("select id from api.create_organization('Consent GmbH')").fetchone()[0]
        lead = db.execute("select id from api.create_lead(%s, first_name => 'Ida')", (org,)).fetchone()[0]
        db.execute("select api.set_lead_consent(%s, %s, 'email', true, %s)", (org, lead, consent))
        for i in range(5):
            db.execute("select api.create_message(%s, %s, 'email', 'inbound', %s)", (org, lead, f"Note {i}"))
    return rep, org, lead


def model_calls(server: FaultServer) -> int:
    return sum(len(server.requests_for(m)) for m in (PRIMARY, SECONDARY, CLAUDE))


@pytest.mark.parametrize("consent", [False, True])
def test_chat_naming_a_lead_without_consent_is_refused_before_any_model_call(
        db: psycopg.Connection, db_url: str, server: FaultServer, consent: bool) -> None:
    rep, org, lead = world(db, consent)
    server.script(PRIMARY, ok("Ask Ida about her timeline."))
    harness = Harness(db_url, config_for(server, [PRIMARY]))
    chat = ChatService(harness.gateway)

    async def turn() -> list[object]:
        conversation = await chat.open(org, rep, None, lead, "en")
        return [e async for e in chat.stream_turn(org, rep, conversation, "What next with Ida?")]

    try:
        if consent:
            assert harness.run(turn()) and model_calls(server) == 1
        else:
            with pytest.raises(GatewayError) as refused:
                harness.run(turn())
            assert refused.value.status == 403 and "does not consent to AI processing" in str(refused.value)
            # refused by api.lead_chat_context itself (salesflow.require_ai_consent), as writing is
            assert refused.value.code == "PT403"
            assert model_calls(server) == 0
            assert db.execute("select count(*) from salesflow.llm_requests where org_id = %s",
                              (org,)).fetchone()[0] == 0
    finally:
        harness.close()


@pytest.mark.parametrize("consent", [False, True])
def test_no_summary_is_written_without_consent(db: psycopg.Connection, db_url: str, server: FaultServer,
                                               consent: bool) -> None:
    _, org, lead = world(db, consent)
    for m in (PRIMARY, SECONDARY, CLAUDE):
        server.script(m, ok("Ida wrote five notes."))
    run_handler(db, db_url, summarize_conversation.HANDLER, summarize_conversation.Payload(lead_id=lead),
                org_id=org, llm_config=config_for(server, [PRIMARY]))
    summary, version = db.execute("select summary, version from salesflow.conversation_summaries "
                                  "where lead_id = %s", (lead,)).fetchone()
    if consent:
        assert (summary, version, model_calls(server)) == ("Ida wrote five notes.", 1, 1)
    else:
        assert (summary, version, model_calls(server)) == ("", 0, 0)
