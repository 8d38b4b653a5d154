"""The gateway and the chat endpoint against a real OpenAI-compatible server: llama.cpp with SmolLM2-135M.

The server is started by the tests from the installed wheels (`salesflow[local]`); nothing is
downloaded. SmolLM2's words are nonsense as advice, so the tests check the plumbing: answers,
streams, token counts, the log, the chat's stored turns and the offline label on all of them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from salesflow.gateway.config import LOCAL_MODEL, OFFLINE_NOTICE, parse_config
from salesflow.gateway.core import LLMCall, LLMResult, Token
from salesflow.gateway.local import LocalLLMServer
from salesflow.gateway.providers import ChatMessage
from salesflow.gateway.tokens import counter_for
from tests.conftest import ApiProcess, make_token, run_api
from tests.gateway_harness import Harness, member_org, new_org

QUESTION = "Write one short sentence inviting Ada to a product demo on Tuesday."


@pytest.fixture(scope="module")
def llama() -> Iterator[LocalLLMServer]:
    with LocalLLMServer() as server:
        yield server


@pytest.fixture
def harness(db_url: str, llama: LocalLLMServer) -> Iterator[Harness]:
    h = Harness(db_url, parse_config({}, {"SALESFLOW_LOCAL_LLM_URL": llama.base_url}))
    yield h
    h.close()


@pytest.fixture
def org(db: psycopg.Connection) -> uuid.UUID:
    return new_org(db)


def server_token_count(llama: LocalLLMServer, text: str) -> int:
    response = httpx.post(llama.base_url.removesuffix("/v1") + "/extras/tokenize", json={"input": text}, timeout=10)
    return len(response.json()["tokens"])


def test_a_whole_answer_from_llama_cpp_is_logged(harness: Harness, org: uuid.UUID, db: psycopg.Connection) -> None:
    result = harness.run(harness.gateway.complete(LLMCall(org, "chat", [ChatMessage("user", QUESTION)],
                                                          max_output_tokens=32, temperature=0)))
    assert result.text.strip()
    assert (result.provider, result.model, result.offline_model) == ("local", LOCAL_MODEL, True)
    assert result.notice == OFFLINE_NOTICE
    # the gateway streams from llama.cpp (so that giving up frees its slot), and its streams carry no
    # usage: the tokens are counted with SmolLM2's own tokenizer and logged as counted, not reported
    assert result.usage.estimated is True and 0 < result.usage.output_tokens <= 32
    row = db.execute("select status, provider, model, input_tokens, output_tokens, cost, usage_estimated "
                     "from salesflow.llm_requests where id = %s and org_id = %s", (result.request_id, org)).fetchone()
    assert row == ("ok", "local", LOCAL_MODEL, result.usage.input_tokens, result.usage.output_tokens, 0, True)


def test_a_streamed_answer_is_counted_with_the_models_own_tokenizer(
    harness: Harness, llama: LocalLLMServer, org: uuid.UUID, db: psycopg.Connection
) -> None:
    async def read() -> tuple[list[str], LLMResult]:
        tokens: list[str] = []
        async for event in harness.gateway.stream(LLMCall(org, "chat", [ChatMessage("user", QUESTION)],
                                                          max_output_tokens=32, temperature=0)):
            if isinstance(event, Token):
                tokens.append(event.text)
            elif isinstance(event, LLMResult):
                return tokens, event
        raise AssertionError("the stream ended without a result")

    tokens, result = harness.run(read())
    assert len(tokens) > 1 and "".join(tokens) == result.text
    # llama.cpp's streams carry no usage: counted here with SmolLM2's own vocabulary, exactly as the server does
    assert result.usage.estimated is True
    assert counter_for(True).count(result.text) == server_token_count(llama, result.text)
    assert result.usage.output_tokens == server_token_count(llama, result.text)
    row = db.execute("select status, output_tokens, usage_estimated, time_to_first_token_ms, latency_ms "
                     "from salesflow.llm_requests where id = %s and org_id = %s", (result.request_id, org)).fetchone()
    assert row[:3] == ("ok", result.usage.output_tokens, True)
    assert 0 <= row[3] <= row[4]


@pytest.fixture(scope="module")
def chat_api(module_db_url: str, llama: LocalLLMServer) -> Iterator[ApiProcess]:
    with run_api(module_db_url, {"SALESFLOW_LOCAL_LLM_URL": llama.base_url}) as process:
        yield process


def sse_events(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    events, name = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: ") and name:
            events.append((name, json.loads(line.removeprefix("data: "))))
            name = None
    return events


def test_chat_streams_stores_the_turn_and_labels_the_offline_model(chat_api: ApiProcess) -> None:
    org_id, headers = member_org(chat_api)
    body = {"org_id": org_id, "message": "How should I open my call with Ada?"}
    with httpx.stream("POST", f"{chat_api.url}/api/chat/stream", json=body, headers=headers, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r)
    names = [name for name, _ in events]
    assert names[0] == "conversation" and names[1] == "model" and names[-1] == "done"
    assert names.count("token") >= 2 and "error" not in names
    conversation_id = events[0][1]["conversation_id"]
    assert events[1][1]["offline_model"] is True and events[1][1]["notice"] == OFFLINE_NOTICE
    done = events[-1][1]
    answer = "".join(data["text"] for name, data in events if name == "token")
    assert done["notice"] == OFFLINE_NOTICE and done["model"] == LOCAL_MODEL

    history = httpx.get(f"{chat_api.url}/api/chat/{conversation_id}", params={"org_id": org_id}, headers=headers)
    assert history.status_code == 200
    turns = history.json()["turns"]
    assert [(t["role"], t["content"]) for t in turns] == [("user", body["message"]), ("assistant", answer)]
    assert turns[1]["offline_model"] is True and turns[1]["notice"] == OFFLINE_NOTICE
    assert turns[1]["request_id"] == done["request_id"]

    # the next turn continues the same conversation, with the first one in its history
    body2 = {**body, "conversation_id": conversation_id, "message": "And what if she says it is too expensive?"}
    with httpx.stream("POST", f"{chat_api.url}/api/chat/stream", json=body2, headers=headers, timeout=60) as r:
        events2 = sse_events(r)
    assert events2[0][1]["kept_turns"] == 2 and events2[-1][0] == "done"
    turns = httpx.get(f"{chat_api.url}/api/chat/{conversation_id}", params={"org_id": org_id},
                      headers=headers).json()["turns"]
    assert len(turns) == 4


def test_chat_refuses_strangers_and_bad_input_with_clear_errors(chat_api: ApiProcess) -> None:
    org_id, headers = member_org(chat_api)
    stranger = {"Authorization": f"Bearer {make_token(uuid.uuid4())}"}
    url = f"{chat_api.url}/api/chat/stream"
    assert httpx.post(url, json={"org_id": org_id, "message": "hi"}).status_code == 401
    refused = httpx.post(url, json={"org_id": org_id, "message": "hi"}, headers=stranger)
    assert refused.status_code == 404 and "not found" in refused.json()["message"]
    empty = httpx.post(url, json={"org_id": org_id, "message": ""}, headers=headers)
    assert empty.status_code == 400 and "message" in empty.json()["message"]
    unknown = httpx.post(url, json={"org_id": org_id, "message": "hi", "colour": "red"}, headers=headers)
    assert unknown.status_code == 400
    # someone else's conversation is not found, and neither is its history
    with httpx.stream("POST", url, json={"org_id": org_id, "message": "hi"}, headers=headers, timeout=60) as r:
        conversation_id = sse_events(r)[0][1]["conversation_id"]
    other_member = httpx.post(url, json={"org_id": org_id, "message": "hi", "conversation_id": conversation_id},
                              headers=stranger)
    assert other_member.status_code == 404
    history = httpx.get(f"{chat_api.url}/api/chat/{conversation_id}", params={"org_id": org_id}, headers=stranger)
    assert history.status_code == 404
