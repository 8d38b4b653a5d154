"""Chat history in the context window, the summary of older turns, and a client that goes away."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from salesflow.assistant.chat import ChatService, Fitted
from salesflow.gateway.core import LLMResult
from salesflow.gateway.errors import GatewayError
from salesflow.gateway.tokens import counter_for
from tests.conftest import ApiProcess, acting_as, authenticate_as, run_api
from tests.fault_server import FaultServer, slow
from tests.gateway_harness import PRIMARY, Harness, config_for, member_org, new_org

WINDOW = 1500


@pytest.fixture(scope="module")
def faults() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
def server(faults: FaultServer) -> FaultServer:
    faults.reset()
    return faults


@pytest.fixture
def harness(db_url: str, server: FaultServer) -> Iterator[Harness]:
    config = config_for(server, [PRIMARY])
    small = tuple(replace(m, context_window=WINDOW) if m.model == PRIMARY else m for m in config.models)
    h = Harness(db_url, replace(config, models=small))
    yield h
    h.close()


@pytest.fixture
def member(db: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    org, user = new_org(db), uuid.uuid4()
    db.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'rep')", (org, user))
    return org, user


def calls(server: FaultServer) -> list[Any]:
    """Every model call the server saw (routing picks the summary's model by its own policy)."""
    return [r for r in server.requests if r.path.endswith(("/chat/completions", "/messages"))]


def add_turns(db: psycopg.Connection, org: uuid.UUID, conversation: uuid.UUID, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        role = "user" if i % 2 == 0 else "assistant"
        db.execute("insert into salesflow.conversation_turns (org_id, conversation_id, role, content) "
                   "values (%s, %s, %s, %s)",
                   (org, conversation, role, f"Turn {i}: " + "we discussed pricing tiers and onboarding " * 8))


def test_older_turns_are_summarised_once_and_the_summary_reused(harness: Harness, server: FaultServer, member,
                                                                db: psycopg.Connection) -> None:
    org, user = member
    chat = ChatService(harness.gateway)
    conversation = harness.run(chat.open(org, user, None, None, "en"))
    add_turns(db, org, conversation.id, 30)
    counter = counter_for(False)

    def fit() -> Fitted:
        current = harness.run(chat.open(org, user, conversation.id, None, "en"))
        return harness.run(chat.fit(org, current, "What did we agree?", window=WINDOW, max_output=300,
                                    system_tokens=200, counter=counter, user_id=user, language="en"))

    first = fit()
    assert first.dropped > 0 and first.kept > 0 and first.summarised_now
    assert first.kept + first.dropped == 30
    sent = sum(counter.count(m.content) + 4 for m in first.messages)
    assert sent <= WINDOW - 300 - 200  # the history fits beside the system prompt and the answer
    # the newest turns are kept verbatim, the oldest only through the summary
    assert first.messages[-2].content.startswith("Turn 29:")
    assert not any(m.content.startswith("Turn 0:") for m in first.messages)
    assert first.messages[0].role == "system" and first.summary in first.messages[0].content
    [summary_call] = calls(server)
    assert "Turn 0:" in json.dumps(summary_call.body)
    upto = db.execute("select summary_upto from salesflow.conversations where id = %s", (conversation.id,)).fetchone()
    assert upto[0] is not None

    again = fit()
    assert not again.summarised_now and again.summary == first.summary
    assert len(calls(server)) == 1  # reused, not redone

    add_turns(db, org, conversation.id, 6, start=30)
    extended = fit()
    assert extended.summarised_now
    [_, extension] = calls(server)
    body = json.dumps(extension.body)
    # only the turns that fell out since are sent, with the previous summary
    assert "Turn 0:" not in body and first.summary in body


def test_a_short_conversation_is_sent_whole_without_a_summary(db_url: str, server: FaultServer, member,
                                                              db: psycopg.Connection) -> None:
    org, user = member
    harness = Harness(db_url, config_for(server, [PRIMARY]))  # a window of 8,000 tokens
    chat = ChatService(harness.gateway)
    conversation = harness.run(chat.open(org, user, None, None, "en"))
    add_turns(db, org, conversation.id, 4)

    async def turn() -> list[Any]:
        return [e async for e in chat.stream_turn(org, user, conversation, "Next step?")]

    events = harness.run(turn())
    fitted, result = events[0], events[-1]
    assert isinstance(fitted, Fitted) and (fitted.kept, fitted.dropped, fitted.summary) == (4, 0, None)
    assert isinstance(result, LLMResult)
    [call] = calls(server)
    assert [m["role"] for m in call.body["messages"]] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert "<untrusted_data>" in call.body["messages"][0]["content"]  # the coach's context is marked as data
    count = db.execute("select count(*) from salesflow.conversation_turns where conversation_id = %s",
                       (conversation.id,)).fetchone()[0]
    assert count == 6
    harness.close()


@pytest.fixture
def fault_api(module_db_url: str, faults: FaultServer, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[ApiProcess]:
    config = Path(tmp_path_factory.mktemp("llm")) / "salesflow.toml"
    config.write_text(
        f'[providers.fault]\nkind = "openai_compatible"\nbase_url = "{faults.base_url}"\napi_key = "test"\n\n'
        f'[[models]]\nprovider = "fault"\nmodel = "{PRIMARY}"\ncontext_window = 8000\n'
        'input_price_per_mtok = 1.0\noutput_price_per_mtok = 2.0\nquality = 0.9\n\n'
        f'[tasks.chat]\nfallbacks = ["fault/{PRIMARY}"]\n')
    with run_api(module_db_url, {"SALESFLOW_LLM_CONFIG": str(config)}) as process:
        yield process


def test_a_client_that_disconnects_stops_the_call_and_nothing_is_stored(fault_api: ApiProcess,
                                                                         server: FaultServer) -> None:
    org_id, headers = member_org(fault_api, "Gone")
    server.script(PRIMARY, slow(0.5))
    body = {"org_id": org_id, "message": "Tell me everything about Ada's company and its history"}
    with httpx.stream("POST", f"{fault_api.url}/api/chat/stream", json=body, headers=headers, timeout=30) as r:
        assert r.status_code == 200
        conversation_id = None
        for line in r.iter_lines():
            if line.startswith("data: ") and conversation_id is None:
                conversation_id = json.loads(line[6:])["conversation_id"]
            if line == "event: token":
                break  # the reader leaves after the first token
    assert server.wait_for_disconnects(1, timeout=10), "the provider call went on after the client left"
    with psycopg.connect(fault_api.database_url, autocommit=True) as conn:
        deadline = time.monotonic() + 10
        row = None
        while row is None and time.monotonic() < deadline:
            row = conn.execute("select status from salesflow.llm_requests where conversation_id = %s",
                               (conversation_id,)).fetchone()
            time.sleep(0.05)
        assert row == ("cancelled",)
    turns = httpx.get(f"{fault_api.url}/api/chat/{conversation_id}", params={"org_id": org_id},
                      headers=headers).json()["turns"]
    assert turns == []


def test_another_member_can_neither_open_nor_write_my_conversation(harness: Harness, member,
                                                                     db: psycopg.Connection) -> None:
    """RLS decides, through the chat's RPCs run as the member: no membership check in Python."""
    org, user = member
    other, stranger = uuid.uuid4(), uuid.uuid4()
    db.execute("insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'rep')", (org, other))
    chat = ChatService(harness.gateway)
    mine = harness.run(chat.open(org, user, None, None, "en"))
    for who in (other, stranger):
        with pytest.raises(GatewayError) as refused:
            harness.run(chat.open(org, who, mine.id, None, "en"))
        assert refused.value.status == 404
    settle = ("select salesflow.settle_request(null, %s, 'chat', 'llama.cpp', 'SmolLM2-135M-Instruct', now(), 'ok', "
              "user_id => %s, feature => 'chat', conversation_id => %s)")
    my_call = db.execute(settle, (org, user, mine.id)).fetchone()[0]
    their_call = db.execute(settle, (org, other, mine.id)).fetchone()[0]
    add = "select api.add_chat_turns(%s, %s, 'Hi?', 'Hello.', %s)"

    def attempt(who: uuid.UUID, request_id: int) -> str | None:
        with authenticate_as(db, who) as conn:
            try:
                conn.execute(add, (org, mine.id, request_id))
            except psycopg.Error as exc:
                return exc.sqlstate
        return None

    assert attempt(other, their_call) == "PT404"  # not their conversation
    assert attempt(user, their_call) == "22023"  # not the caller's answer
    with acting_as(db, user):
        db.execute(add, (org, mine.id, my_call))
    assert attempt(user, my_call) == "22023"  # stored once, never again
    turns = db.execute("select role::text, request_id from salesflow.conversation_turns where conversation_id = %s "
                       "order by id", (mine.id,)).fetchall()
    assert turns == [("user", None), ("assistant", my_call)]


def test_a_lead_field_of_any_length_reaches_the_model_cut_to_the_variable_bound(db_url: str, server: FaultServer,
                                                                                db: psycopg.Connection) -> None:
    """Lead fields have no length limit of their own; what one puts into a system prompt is bounded."""
    from salesflow.gateway.core import MAX_VARIABLE_CHARS, LLMCall, PromptCall
    from salesflow.gateway.providers import ChatMessage

    org = new_org(db)
    notes = "Ada asked about onboarding. " * (MAX_VARIABLE_CHARS // 7)  # four times the bound
    harness = Harness(db_url, config_for(server, [PRIMARY]))
    try:
        harness.run(harness.gateway.complete(LLMCall(
            org, "chat", [ChatMessage("user", "Next step?")],
            prompt=PromptCall("ai_coach", {"org_name": "Acme", "rep_name": "Bo", "context": notes}, "en"))))
    finally:
        harness.close()
    [sent] = calls(server)
    system = sent.body["messages"][0]["content"]
    assert notes[: MAX_VARIABLE_CHARS - 1] + "…" in system and notes[:MAX_VARIABLE_CHARS] not in system
