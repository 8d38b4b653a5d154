"""The ledger invariant (issue 9): every provider call leaves exactly one llm_requests row and its
reservation settled, whatever fails after the call; text PostgreSQL cannot store is refused before
any call. Real gateway, real PostgreSQL, the fault server over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from salesflow.gateway.core import LLMCall, LLMResult, Token
from salesflow.gateway.errors import GatewayError, OutputWithheld
from salesflow.gateway.providers import ChatMessage
from tests.fault_server import FaultServer, slow
from tests.gateway_harness import PRIMARY, Harness, config_for, new_org


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
    h = Harness(db_url, config_for(server, [PRIMARY]))
    yield h
    h.close()


def provider_calls(server: FaultServer) -> int:
    return sum(r.path.endswith(("/chat/completions", "/messages")) for r in server.requests)


def ledger(db: psycopg.Connection, org: uuid.UUID) -> tuple[list[tuple[Any, ...]], int]:
    """The org's log rows (status, error) and how many reservations are still open."""
    requests = db.execute("select status, error from salesflow.llm_requests where org_id = %s order by id",
                          (org,)).fetchall()
    open_ = db.execute("select count(*) from salesflow.llm_budget_reservations where org_id = %s",
                       (org,)).fetchone()[0]
    return requests, open_


def call(org: uuid.UUID, text: str = "How do I reach Ada?", **kw: Any) -> LLMCall:
    return LLMCall(org, "chat", [ChatMessage("user", text)], **kw)


@pytest.mark.parametrize("way", ["complete", "stream"])
def test_a_nul_byte_is_refused_before_any_provider_call(harness: Harness, server: FaultServer,
                                                        db: psycopg.Connection, way: str) -> None:
    org = new_org(db)

    async def go() -> None:
        c = call(org, "price list please\x00")
        if way == "complete":
            await harness.gateway.complete(c)
        else:
            async for _ in harness.gateway.stream(c):
                pass

    with pytest.raises(GatewayError) as error:
        harness.run(go())
    assert error.value.status == 400 and "NUL" in str(error.value)
    assert provider_calls(server) == 0
    assert ledger(db, org) == ([], 0)


def failing_store(where: str) -> Callable[..., Any]:
    async def store(conn: psycopg.AsyncConnection[Any], request_id: int, text: str, data: Any, model: Any) -> None:
        raise RuntimeError(f"the caller's store broke ({where})")
    return store


@pytest.mark.parametrize("way", ["complete", "stream"])
def test_a_failing_store_still_leaves_one_settled_row(harness: Harness, server: FaultServer,
                                                      db: psycopg.Connection, way: str) -> None:
    org = new_org(db)

    async def go() -> None:
        if way == "complete":
            await harness.gateway.complete(call(org, purpose="chat"), store=failing_store(way))
        else:
            async for _ in harness.gateway.stream(call(org, purpose="chat"), store=failing_store(way)):
                pass

    with pytest.raises(GatewayError) as error:
        harness.run(go())
    assert error.value.code == "store_failed" and error.value.request_id is not None
    assert provider_calls(server) == 1
    requests, open_ = ledger(db, org)
    assert open_ == 0
    assert [status for status, _ in requests] == ["error"]
    assert "the caller's store broke" in requests[0][1]
    # the verdict went with the rolled-back transaction; the call itself is on the ledger
    assert db.execute("select count(*) from salesflow.compliance_log where org_id = %s", (org,)).fetchone()[0] == 0


@pytest.mark.parametrize("way", ["complete", "stream"])
def test_a_failing_compliance_check_still_leaves_one_settled_row(harness: Harness, server: FaultServer,
                                                                 db: psycopg.Connection, way: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The check runs after the provider call: when it breaks, the call is billed and the answer withheld."""
    from salesflow.gateway import compliance

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the rule engine broke")

    monkeypatch.setattr(compliance, "check", broken)
    org = new_org(db)
    stored: list[int] = []

    async def store(conn: psycopg.AsyncConnection[Any], request_id: int, *_: Any) -> None:
        stored.append(request_id)

    async def go() -> None:
        if way == "complete":
            await harness.gateway.complete(call(org, purpose="chat"), store=store)
        else:
            async for _ in harness.gateway.stream(call(org, purpose="chat"), store=store):
                pass

    with pytest.raises(GatewayError) as error:
        harness.run(go())
    assert error.value.code == "compliance_failed" and error.value.request_id is not None
    assert provider_calls(server) == 1 and stored == []  # nothing unjudged reaches the caller's store
    requests, open_ = ledger(db, org)
    assert open_ == 0
    assert [status for status, _ in requests] == ["error"] and "the rule engine broke" in requests[0][1]


def test_a_reader_who_leaves_mid_stream_leaves_one_cancelled_row(harness: Harness, server: FaultServer,
                                                                  db: psycopg.Connection) -> None:
    org = new_org(db)
    server.script(PRIMARY, slow(0.2))

    async def go() -> None:
        events = harness.gateway.stream(call(org, "Tell me a long story about Ada"))
        async for event in events:
            if isinstance(event, Token):
                break
        await events.aclose()
        await harness.gateway.aclose()  # waits for the settling task the close started

    harness.run(go())
    requests, open_ = ledger(db, org)
    assert [s for s, _ in requests] == ["cancelled"] and open_ == 0


def test_a_whole_answer_leaves_exactly_one_row(harness: Harness, server: FaultServer, db: psycopg.Connection) -> None:
    org = new_org(db)
    result = harness.run(harness.gateway.complete(call(org, purpose="chat")))
    assert isinstance(result, LLMResult)
    requests, open_ = ledger(db, org)
    assert [s for s, _ in requests] == ["ok"] and open_ == 0 and provider_calls(server) == 1


def test_a_planted_canary_survives_in_no_audit_row(harness: Harness, server: FaultServer,
                                                   db: psycopg.Connection) -> None:
    """A blocked answer (the fault server echoes the message) is judged and logged, by ids, offsets and hashes."""
    org = new_org(db)
    canary = "CANARY-7f3a9 Frau Ada Lovelace"
    with pytest.raises(OutputWithheld) as withheld:
        harness.run(harness.gateway.complete(call(org, f"Wir garantieren {canary} alles.", purpose="chat")))
    assert withheld.value.request_id is not None
    logged = db.execute("select findings, c::text from salesflow.compliance_log as c where org_id = %s",
                        (org,)).fetchall()
    assert len(logged) == 1
    findings, whole = logged[0]
    assert findings and {f["rule_id"] for f in findings} == {"forbidden.guarantee"}
    assert all(set(f) == {"rule_id", "severity", "start", "end", "span_sha256"} for f in findings)
    for table in ("compliance_log", "llm_requests"):
        rows = db.execute(f"select count(*) from salesflow.{table} as t where org_id = %s and t::text like %s",
                          (org, "%CANARY-7f3a9%")).fetchone()[0]
        assert rows == 0, table
    assert "CANARY" not in whole
