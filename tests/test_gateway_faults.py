"""The gateway against the project's fault-injecting server, over real HTTP with the real SDKs.

Each test scripts what a model's next requests meet (429 with Retry-After, 5xx bursts, hangs, cut
streams, 400 context too long, 401) and checks the retries and fallbacks the server saw, the log
row the call left, and that no partial or duplicated answer was stored.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from salesflow.gateway.core import LLMCall, LLMResult, PromptCall, Token
from salesflow.gateway.errors import BudgetExceeded, CallFailed, OutputRejected, OutputWithheld, StreamCut
from salesflow.gateway.providers import ChatMessage
from tests.fault_server import FaultServer, cut, hang, ok, slow, status
from tests.gateway_harness import CLAUDE, PRIMARY, SECONDARY, Harness, config_for, new_org


@pytest.fixture(scope="module")
def faults() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
def server(faults: FaultServer) -> FaultServer:
    faults.reset()
    return faults


@pytest.fixture
def org(db: psycopg.Connection) -> uuid.UUID:
    return new_org(db)


@pytest.fixture
def make(db_url: str, server: FaultServer) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def build(chain: list[str] | None = None) -> Harness:
        made.append(Harness(db_url, config_for(server, chain)))
        return made[-1]

    yield build
    for h in made:
        h.close()


def call(org: uuid.UUID, text: str = "How do I reach Ada?", **kw: Any) -> LLMCall:
    return LLMCall(org, kw.pop("task", "chat"), [ChatMessage("user", text)], **kw)


def rows(db: psycopg.Connection, org: uuid.UUID) -> list[dict[str, Any]]:
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute("select * from salesflow.llm_requests where org_id = %s order by id", (org,)).fetchall()


async def collect(h: Harness, c: LLMCall, **kw: Any) -> tuple[list[str], LLMResult | None]:
    tokens: list[str] = []
    result = None
    async for event in h.gateway.stream(c, **kw):
        if isinstance(event, Token):
            tokens.append(event.text)
        elif isinstance(event, LLMResult):
            result = event
    return tokens, result


def test_an_answer_is_logged_with_tokens_cost_and_baseline(make, server, org, db) -> None:
    h = make()
    result = h.run(h.gateway.complete(call(org)))
    assert result.text == "Answer to: How do I reach Ada?"
    assert (result.provider, result.model, result.fallback_hops) == ("fault", PRIMARY, 0)
    [row] = rows(db, org)
    assert row["status"] == "ok" and row["id"] == result.request_id
    # the server's own usage, priced from the synced catalogue: 2.5 and 10 per million
    assert (row["input_tokens"], row["output_tokens"]) == (result.usage.input_tokens, result.usage.output_tokens)
    expected = (row["input_tokens"] * 2.5 + row["output_tokens"] * 10.0) / 1e6
    assert float(row["cost"]) == pytest.approx(expected, abs=1e-6)
    assert (row["baseline_provider"], row["baseline_model"]) == ("fault-claude", CLAUDE)
    assert row["usage_estimated"] is False


def test_429_waits_for_retry_after_then_succeeds(make, server, org, db) -> None:
    h = make()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # the waits are recorded, not taken
        waits.append(seconds)

    h.gateway.sleep = sleep
    server.script(PRIMARY, status(429, retry_after=0.3))
    result = h.run(h.gateway.complete(call(org)))
    assert len(server.requests_for(PRIMARY)) == 2
    assert waits == [pytest.approx(0.3)]  # it waited as told, not its own shorter backoff (0.01-0.05)
    assert result.fallback_hops == 0
    assert [r["status"] for r in rows(db, org)] == ["ok"]


def test_a_retry_after_too_long_to_wait_falls_back_at_once(make, server, org, db) -> None:
    h = make()
    server.script(PRIMARY, status(429, retry_after=60))
    result = h.run(h.gateway.complete(call(org)))
    assert len(server.requests_for(PRIMARY)) == 1
    assert (result.model, result.fallback_hops) == (SECONDARY, 1)
    assert rows(db, org)[0]["fallback_hops"] == 1


def test_a_burst_of_5xx_opens_the_cooldown_which_recovers(make, server, org, db) -> None:
    h = make()
    now = [1000.0]
    h.gateway.cooldowns.clock = lambda: now[0]  # the cooldown's clock, moved by hand
    server.script(PRIMARY, status(500), status(503), status(502))
    assert h.run(h.gateway.complete(call(org))).model == SECONDARY
    assert len(server.requests_for(PRIMARY)) == 3
    assert h.gateway.cooldowns.is_open(f"fault/{PRIMARY}")
    # while cooling down the primary is not even tried
    assert h.run(h.gateway.complete(call(org))).model == SECONDARY
    assert len(server.requests_for(PRIMARY)) == 3
    now[0] += 0.59
    assert h.run(h.gateway.complete(call(org))).model == SECONDARY  # 0.6 s have not passed yet
    now[0] += 0.02
    assert h.run(h.gateway.complete(call(org))).model == PRIMARY
    assert not h.gateway.cooldowns.is_open(f"fault/{PRIMARY}")
    assert [r["fallback_hops"] for r in rows(db, org)] == [1, 1, 1, 0]


def test_a_hanging_provider_times_out_and_is_retried(make, server, org, db) -> None:
    h = make()
    server.script(PRIMARY, hang(5))
    result = h.run(h.gateway.complete(call(org)))
    assert (result.model, result.fallback_hops) == (PRIMARY, 0)
    assert len(server.requests_for(PRIMARY)) == 2
    assert server.wait_for_disconnects(1)


def test_the_deadline_bounds_the_whole_call(make, server, org, db) -> None:
    h = make()
    server.script(PRIMARY, *[hang(5)] * 3)
    server.script(SECONDARY, *[hang(5)] * 3)
    with pytest.raises(CallFailed) as failed:
        h.run(h.gateway.complete(call(org, deadline=1.0)))
    assert failed.value.kind == "timeout"
    # no attempt waited out its 5 s hang: the gateway left every request it made (a job lease of a
    # few seconds is never overrun)
    made = len(server.requests_for(PRIMARY)) + len(server.requests_for(SECONDARY))
    assert made >= 1 and server.wait_for_disconnects(made)
    assert all(r.disconnected for r in server.requests_for(PRIMARY) + server.requests_for(SECONDARY))
    [row] = rows(db, org)
    assert row["status"] == "timeout" and row["id"] == failed.value.request_id


def test_context_too_long_fails_at_once_without_retry_or_fallback(make, server, org, db) -> None:
    h = make()
    server.script(PRIMARY, status(400, code_name="context_length_exceeded",
                                  message="This model's maximum context length is 8192 tokens"))
    with pytest.raises(CallFailed) as failed:
        h.run(h.gateway.complete(call(org)))
    assert (failed.value.kind, failed.value.status) == ("context_length", 400)
    assert "maximum context length" in str(failed.value)
    assert len(server.requests_for(PRIMARY)) == 1 and server.requests_for(SECONDARY) == []
    [row] = rows(db, org)
    assert row["status"] == "error" and "context" in row["error"]


def test_401_leaves_the_provider_and_tries_another(make, server, org, db) -> None:
    h = make([PRIMARY, SECONDARY, CLAUDE])
    server.script(PRIMARY, status(401))
    result = h.run(h.gateway.complete(call(org)))
    # the key is wrong for the whole provider: its other model is skipped, Anthropic answers
    assert (result.provider, result.model, result.fallback_hops) == ("fault-claude", CLAUDE, 2)
    assert len(server.requests_for(PRIMARY)) == 1 and server.requests_for(SECONDARY) == []


def test_401_everywhere_is_a_clear_failure(make, server, org, db) -> None:
    h = make([PRIMARY])
    server.script(PRIMARY, status(401))
    with pytest.raises(CallFailed) as failed:
        h.run(h.gateway.complete(call(org)))
    assert failed.value.kind == "auth" and "401" in str(failed.value)
    assert len(server.requests_for(PRIMARY)) == 1


def test_anthropic_answers_whole_and_streamed(make, server, org, db) -> None:
    h = make([CLAUDE])
    whole = h.run(h.gateway.complete(call(org)))
    tokens, streamed = h.run(collect(h, call(org)))
    assert whole.text == "".join(tokens) == "Answer to: How do I reach Ada?"
    assert streamed is not None and streamed.usage.output_tokens == whole.usage.output_tokens > 0
    assert [r["model"] for r in rows(db, org)] == [CLAUDE, CLAUDE]


def test_a_stream_cut_before_any_token_is_retried(make, server, org, db) -> None:
    h = make()
    server.script(PRIMARY, cut(0))
    tokens, result = h.run(collect(h, call(org)))
    assert "".join(tokens) == "Answer to: How do I reach Ada?"
    assert result is not None and result.model == PRIMARY


def test_a_stream_cut_mid_way_is_never_stored(make, server, org, db) -> None:
    h = make()
    server.script(PRIMARY, cut(2))
    stored: list[str] = []

    async def store(conn: Any, request_id: int, text: str, data: Any, model: Any) -> None:
        stored.append(text)

    with pytest.raises(StreamCut) as failed:
        h.run(collect(h, call(org), store=store))
    assert stored == []
    # not spliced with a second attempt: the reader saw a part and was told it broke
    assert len(server.requests_for(PRIMARY)) == 1
    [row] = rows(db, org)
    assert row["status"] == "error" and row["id"] == failed.value.request_id
    assert row["output_tokens"] > 0 and row["usage_estimated"] is True


def test_a_reader_that_goes_away_stops_the_provider_call(make, server, org, db) -> None:
    h = make()
    server.script(PRIMARY, slow(0.3))

    async def read_one() -> None:
        stream = h.gateway.stream(call(org, text="Tell me a long story about Ada and her robots"))
        async for event in stream:
            if isinstance(event, Token):
                break
        await stream.aclose()

    h.run(read_one())
    assert server.wait_for_disconnects(1)
    deadline = time.monotonic() + 5
    while not rows(db, org) and time.monotonic() < deadline:
        time.sleep(0.05)
    [row] = rows(db, org)
    assert row["status"] == "cancelled"


def test_pii_never_reaches_the_provider_and_comes_back_in_the_answer(make, server, org, db) -> None:
    h = make()
    email, phone, iban = "ada.lovelace@robotics.example", "+49 30 1234567", "DE89 3704 0044 0532 0130 00"
    server.script(PRIMARY, ok("I will write to [EMAIL_1] and call [PHONE_1]."))
    result = h.run(h.gateway.complete(call(org, f"Ada: {email}, {phone}, IBAN {iban}. Draft a reply.")))
    sent = json.dumps(server.requests_for(PRIMARY)[0].body)
    for value in (email, phone, iban, iban.replace(" ", ""), "1234567"):
        assert value not in sent
    assert "[EMAIL_1]" in sent and "[IBAN_1]" in sent
    assert result.text == f"I will write to {email} and call {phone}."


def test_pii_redaction_can_be_turned_off_per_org(make, server, org, db) -> None:
    db.execute("update salesflow.organizations set settings = '{\"ai\": {\"pii\": {\"enabled\": false}}}' "
               "where id = %s", (org,))
    h = make()
    h.run(h.gateway.complete(call(org, "Write to ada@robotics.example")))
    assert "ada@robotics.example" in json.dumps(server.requests_for(PRIMARY)[0].body)


def test_an_answer_failing_its_schema_is_retried_once(make, server, org, db) -> None:
    h = make()
    good = {"actions": [{"action": "call", "reason": "asked for a call", "due_in_days": 1, "priority": "high"}]}
    server.script(PRIMARY, ok("Sure! Here are my thoughts."), ok("```json\n" + json.dumps(good) + "\n```"))
    prompt = PromptCall("recommendation_engine", {"lead": {"name": "Ada"}, "score": 71, "recent_activity": "call"})
    result = h.run(h.gateway.complete(call(org, "What next?", task="classify", prompt=prompt)))
    assert result.data == good
    second = server.requests_for(PRIMARY)[1].body["messages"]
    assert "invalid" in second[-1]["content"] and second[-2]["content"] == "Sure! Here are my thoughts."
    [row] = rows(db, org)
    assert (row["status"], row["prompt_name"], row["prompt_version"]) == ("ok", "recommendation_engine.en", 1)


def test_an_answer_failing_its_schema_twice_is_rejected_and_not_stored(make, server, org, db) -> None:
    h = make()
    server.script(PRIMARY, ok("no"), ok('{"actions": []}'))
    stored: list[str] = []

    async def store(conn: Any, request_id: int, text: str, data: Any, model: Any) -> None:
        stored.append(text)

    prompt = PromptCall("recommendation_engine", {"lead": {}, "score": 1, "recent_activity": ""})
    with pytest.raises(OutputRejected):
        h.run(h.gateway.complete(call(org, "What next?", task="classify", prompt=prompt), store=store))
    assert stored == []
    [row] = rows(db, org)
    assert row["status"] == "error" and "schema twice" in row["error"]


def test_compliance_blocks_and_logs_every_verdict(make, server, org, db) -> None:
    h = make()
    server.script(PRIMARY, ok("Thanks for your time, Ada. Shall we talk on Tuesday?"),
                  ok("We guarantee you will save 30 percent. Only today!"))
    passed = h.run(h.gateway.complete(call(org, purpose="sales")))
    assert passed.compliance is not None and passed.compliance.passed
    with pytest.raises(OutputWithheld) as withheld:
        h.run(h.gateway.complete(call(org, purpose="sales")))
    log = db.execute("select request_id, passed, action, findings from salesflow.compliance_log "
                     "where org_id = %s order by id", (org,)).fetchall()
    assert [(r[0], r[1], r[2]) for r in log] == [(passed.request_id, True, "delivered"),
                                                 (withheld.value.request_id, False, "withheld")]
    assert any(f["severity"] == "block" for f in log[1][3])
    with pytest.raises(psycopg.Error) as refused:
        db.execute("update salesflow.compliance_log set passed = true where org_id = %s", (org,))
    assert refused.value.sqlstate == "55000"


def test_concurrent_calls_cannot_overspend_a_hard_limit(make, server, org, db) -> None:
    # each call reserves about 0.0052 (its dearest model at its full answer allowance): 3 fit under 0.016
    db.execute("insert into salesflow.llm_budgets (org_id, scope, period, hard_limit) values (%s, 'org', 'day', "
               "0.016)", (org,))
    h = make([PRIMARY])
    server.script(PRIMARY, *[slow(0.5)] * 10)

    async def many() -> list[Any]:
        return await asyncio.gather(*(h.gateway.complete(call(org, max_output_tokens=500)) for _ in range(10)),
                                    return_exceptions=True)

    results = h.run(many())
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    answered = [r for r in results if isinstance(r, LLMResult)]
    assert len(answered) + len(refused) == 10 and 1 <= len(answered) <= 3
    assert len(server.requests_for(PRIMARY)) == len(answered)  # refused calls never reached the provider
    spent = db.execute("select sum(cost) from salesflow.llm_requests where org_id = %s", (org,)).fetchone()[0]
    assert float(spent) <= 0.016
