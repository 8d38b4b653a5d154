"""The fault server, driven by the real OpenAI and Anthropic SDKs over real HTTP.

The gateway's tests trust what this server does; these tests show each fault looks to a real client
as it would from the provider: the right exception class, the header, the broken stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import openai
import pytest

from tests.fault_server import FaultServer, count_tokens, cut, hang, ok, slow, status

USER = [{"role": "user", "content": "What is the best time to call Acme about the renewal?"}]
LONG = [{"role": "user", "content": "one two three four five six seven eight nine ten eleven twelve"}]
ECHO = "Answer to: What is the best time to call Acme about"  # the prompt's first 40 characters


@pytest.fixture(scope="module")
def module_server() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
def server(module_server: FaultServer) -> FaultServer:
    module_server.reset()
    return module_server


@pytest.fixture
def oai(server: FaultServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)


@pytest.fixture
def anthropic() -> ModuleType:
    return pytest.importorskip("anthropic")


@pytest.fixture
def claude(server: FaultServer, anthropic: ModuleType) -> Any:
    return anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="test", max_retries=0)


# -- OpenAI ---------------------------------------------------------------------------------------
def test_openai_answer_counts_tokens_and_records_the_request(server: FaultServer, oai: openai.OpenAI) -> None:
    reply = oai.chat.completions.create(model="gpt-a", messages=USER, temperature=0.2)
    assert reply.object == "chat.completion" and reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content == ECHO
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (count_tokens(USER[0]["content"]), 12)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 12
    [rec] = server.requests_for("gpt-a")
    assert rec.path == "/v1/chat/completions" and rec.body["temperature"] == 0.2 and rec.body["messages"] == USER
    assert rec.headers["authorization"] == "Bearer test" and not rec.disconnected


def test_openai_stream_carries_usage_only_when_asked(server: FaultServer, oai: openai.OpenAI) -> None:
    plain = list(oai.chat.completions.create(model="gpt-a", messages=LONG, stream=True))
    assert plain[0].choices[0].delta.role == "assistant"
    assert plain[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None and c.choices for c in plain)
    text = "".join(c.choices[0].delta.content or "" for c in plain)
    assert text == "Answer to: one two three four five six seven eight "
    assert len(plain) == 2 + 4  # role chunk, four chunks of (up to) three words, finish chunk

    counted = list(oai.chat.completions.create(
        model="gpt-a", messages=LONG, stream=True, stream_options={"include_usage": True}))
    assert counted[-1].choices == [] and counted[-1].usage is not None
    assert (counted[-1].usage.prompt_tokens, counted[-1].usage.completion_tokens) == (12, count_tokens(text))
    assert all(c.usage is None for c in counted[:-1])


def test_streams_are_framed_as_the_providers_frame_them(server: FaultServer) -> None:
    body = {"model": "m", "messages": USER, "stream": True, "max_tokens": 50}
    wire = httpx.post(f"{server.base_url}/chat/completions", json=body)
    assert wire.headers["content-type"].startswith("text/event-stream")
    assert wire.text.endswith("data: [DONE]\n\n")
    assert all(line.startswith("data: ") for line in wire.text.split("\n\n") if line)

    wire = httpx.post(f"{server.anthropic_base_url}/v1/messages", json=body)
    events = [block.split("\n") for block in wire.text.split("\n\n") if block]
    names = [e[0].removeprefix("event: ") for e in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert all(json.loads(e[1].removeprefix("data: "))["type"] == name for e, name in zip(events, names, strict=True))


@pytest.mark.parametrize(
    ("fault", "error", "kind", "code"),
    [
        (status(429, retry_after=7), openai.RateLimitError, "requests", "rate_limit_exceeded"),
        (status(429, code_name="insufficient_quota"), openai.RateLimitError, "insufficient_quota",
         "insufficient_quota"),
        (status(401), openai.AuthenticationError, "invalid_request_error", "invalid_api_key"),
        (status(400), openai.BadRequestError, "invalid_request_error", "context_length_exceeded"),
        (status(500), openai.InternalServerError, "server_error", None),
        (status(503, message="try later"), openai.InternalServerError, "server_error", None),
    ],
)
def test_openai_status_faults_raise_the_sdks_exception(
    server: FaultServer, oai: openai.OpenAI, fault: Any, error: type[openai.APIStatusError], kind: str,
    code: str | None,
) -> None:
    server.script("gpt-a", fault)
    with pytest.raises(error) as raised:
        oai.chat.completions.create(model="gpt-a", messages=USER)
    assert raised.value.status_code == fault.code
    assert (raised.value.type, raised.value.code) == (kind, code)
    assert set(raised.value.response.json()["error"]) == {"message", "type", "param", "code"}
    if fault.message:
        assert raised.value.message.endswith(fault.message)
    assert raised.value.response.headers.get("retry-after") == ("7" if fault.retry_after else None)


def test_retry_after_may_be_an_http_date(server: FaultServer, oai: openai.OpenAI) -> None:
    server.script("gpt-a", status(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"))
    with pytest.raises(openai.RateLimitError) as raised:
        oai.chat.completions.create(model="gpt-a", messages=USER)
    assert raised.value.response.headers["retry-after"] == "Wed, 21 Oct 2015 07:28:00 GMT"


def test_hang_times_the_client_out_and_records_it_leaving(server: FaultServer, oai: openai.OpenAI) -> None:
    server.script("gpt-a", hang(30))
    # a 30 s hang: the timeout error and the server seeing the client leave prove the 0.3 s timeout held
    with pytest.raises(openai.APITimeoutError):
        oai.with_options(timeout=0.3).chat.completions.create(model="gpt-a", messages=USER)
    assert server.wait_for_disconnects(1)
    assert server.requests_for("gpt-a")[0].disconnected


def test_a_short_hang_then_answers(server: FaultServer, oai: openai.OpenAI) -> None:
    # the hang is real (a client that waits less times out) and ends (one that waits answers)
    server.script("gpt-a", hang(0.3), hang(0.3))
    with pytest.raises(openai.APITimeoutError):
        oai.with_options(timeout=0.05, max_retries=0).chat.completions.create(model="gpt-a", messages=USER)
    reply = oai.chat.completions.create(model="gpt-a", messages=USER)
    assert reply.choices[0].message.content == ECHO


def test_cut_stream_raises_after_the_chunks_it_sent(server: FaultServer, oai: openai.OpenAI) -> None:
    server.script("gpt-a", cut(2))
    received: list[str] = []
    with pytest.raises(openai.APIError):  # not a clean end: the answer was never finished
        for chunk in oai.chat.completions.create(model="gpt-a", messages=LONG, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Answer to: one two three four "


def test_cut_really_drops_the_connection(server: FaultServer) -> None:
    server.script("m", cut(1), cut(0))
    body = {"model": "m", "messages": LONG, "stream": True}
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
            for _ in response.iter_bytes():
                pass
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        httpx.post(f"{server.base_url}/chat/completions", json={**body, "stream": False})


def test_non_streaming_cut_is_a_connection_error(server: FaultServer, oai: openai.OpenAI) -> None:
    server.script("gpt-a", cut(0))
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="gpt-a", messages=USER)


def test_scripts_are_consumed_in_order_per_model(server: FaultServer, oai: openai.OpenAI) -> None:
    server.script("a", status(500), ok("second", input_tokens=1000, output_tokens=7))
    server.script("b", ok("for b"))
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="a", messages=USER)
    assert oai.chat.completions.create(model="b", messages=USER).choices[0].message.content == "for b"
    second = oai.chat.completions.create(model="a", messages=USER)
    assert second.choices[0].message.content == "second"
    assert second.usage is not None and (second.usage.prompt_tokens, second.usage.completion_tokens) == (1000, 7)
    for model in ("a", "b"):  # queues empty: a normal answer
        assert oai.chat.completions.create(model=model, messages=USER).choices[0].message.content == ECHO
    assert [r.model for r in server.requests] == ["a", "b", "a", "a", "b"]
    assert [len(server.requests_for(m)) for m in ("a", "b")] == [3, 2]


def test_a_client_leaving_mid_stream_stops_the_answer(server: FaultServer, oai: openai.OpenAI) -> None:
    server.script("gpt-a", slow(0.2))
    stream = oai.chat.completions.create(model="gpt-a", messages=LONG, stream=True)
    first = next(iter(stream))
    stream.close()
    assert first.choices[0].delta.role == "assistant"
    assert server.wait_for_disconnects(1)
    assert server.requests_for("gpt-a")[0].disconnected and server.disconnects == 1


def test_slow_stream_delays_the_first_token(server: FaultServer, oai: openai.OpenAI) -> None:
    # no clock: a delay far longer than the test shows what is held back and what is not
    server.script("gpt-a", slow(60))
    stream = oai.chat.completions.create(model="gpt-a", messages=LONG, stream=True)
    first = next(iter(stream))  # the role chunk comes at once
    assert first.choices[0].delta.role == "assistant"
    [recorded] = server.requests_for("gpt-a")
    assert recorded.content_chunks == 0  # the first token is still waiting out its delay
    stream.close()
    assert server.wait_for_disconnects(1) and recorded.disconnected and recorded.content_chunks == 0
    server.script("gpt-a", slow(0))
    chunks = list(oai.chat.completions.create(model="gpt-a", messages=LONG, stream=True))
    assert server.requests_for("gpt-a")[-1].content_chunks == sum(bool(c.choices and c.choices[0].delta.content)
                                                                  for c in chunks) > 0


def test_models_list_answers_for_readiness(server: FaultServer, oai: openai.OpenAI) -> None:
    server.script("gpt-scripted", ok())
    assert {"fault-model", "gpt-scripted"} <= {m.id for m in oai.models.list()}


# -- Anthropic ------------------------------------------------------------------------------------
def test_anthropic_message_and_usage(server: FaultServer, claude: Any) -> None:
    reply = claude.messages.create(model="claude-a", max_tokens=100, system="Be brief.", messages=USER)
    assert (reply.type, reply.role, reply.stop_reason) == ("message", "assistant", "end_turn")
    assert [block.text for block in reply.content] == [ECHO]
    assert reply.usage.input_tokens == count_tokens("Be brief. " + USER[0]["content"])
    assert reply.usage.output_tokens == count_tokens(ECHO)
    [rec] = server.requests_for("claude-a")
    assert rec.path == "/v1/messages" and rec.body["max_tokens"] == 100
    assert "test" in (rec.headers.get("x-api-key"), rec.headers.get("authorization", "").removeprefix("Bearer "))


def test_anthropic_stream_event_sequence(claude: Any) -> None:
    events = list(claude.messages.create(model="claude-a", max_tokens=100, messages=LONG, stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert kinds.count("content_block_delta") == 4
    assert events[0].message.usage.input_tokens == 12
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert events[-2].delta.stop_reason == "end_turn" and events[-2].usage.output_tokens == count_tokens(text)

    with claude.messages.stream(model="claude-a", max_tokens=100, messages=LONG) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == text and final.usage.output_tokens == count_tokens(text)


@pytest.mark.parametrize(
    ("fault", "error_name", "kind"),
    [
        (status(429, retry_after=0.5), "RateLimitError", "rate_limit_error"),
        (status(401), "AuthenticationError", "authentication_error"),
        (status(400), "BadRequestError", "invalid_request_error"),
        (status(500), "InternalServerError", "api_error"),
        (status(529), "OverloadedError", "overloaded_error"),
    ],
)
def test_anthropic_status_faults_raise_the_sdks_exception(
    server: FaultServer, claude: Any, anthropic: ModuleType, fault: Any, error_name: str, kind: str
) -> None:
    server.script("claude-a", fault)
    with pytest.raises(getattr(anthropic, error_name)) as raised:
        claude.messages.create(model="claude-a", max_tokens=10, messages=USER)
    assert raised.value.status_code == fault.code
    body = raised.value.response.json()
    assert body["type"] == "error" and body["error"]["type"] == kind and body["error"]["message"]
    assert raised.value.response.headers.get("retry-after") == ("0.5" if fault.retry_after else None)


def test_anthropic_hang_and_cut(server: FaultServer, claude: Any, anthropic: ModuleType) -> None:
    server.script("claude-a", hang(30), cut(1))
    with pytest.raises(anthropic.APITimeoutError):
        claude.with_options(timeout=0.3).messages.create(model="claude-a", max_tokens=10, messages=USER)
    assert server.wait_for_disconnects(1)
    received: list[str] = []
    with pytest.raises(Exception) as raised:  # noqa: B017 - which class is the SDK's choice, checked below
        for event in claude.messages.create(model="claude-a", max_tokens=10, messages=LONG, stream=True):
            if event.type == "content_block_delta":
                received.append(event.delta.text)
    # the SDK lets its HTTP client's error through unwrapped: not a clean end of the stream either way
    assert isinstance(raised.value, anthropic.APIError) or "incomplete chunked read" in str(raised.value)
    assert received == ["Answer to: one "]
