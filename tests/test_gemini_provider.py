"""Google's Gemini as a provider through its OpenAI-compatible endpoint: configuration, catalogue prices,
and a call through the gateway against the fault server speaking that protocol, priced and logged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import psycopg
import pytest

from salesflow.gateway.config import GEMINI_BASE_URL, parse_config
from salesflow.gateway.core import LLMCall
from salesflow.gateway.providers import ChatMessage
from tests.fault_server import FaultServer, ok, status
from tests.gateway_harness import Harness, new_org

FLASH = "gemini-2.5-flash"


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as fault:
        yield fault


def test_a_gemini_key_configures_googles_endpoint_and_its_dated_catalogue_entries() -> None:
    config = parse_config({}, {"GEMINI_API_KEY": "g-key"})
    provider = config.providers["gemini"]
    assert (provider.kind, provider.base_url, provider.api_key) == ("gemini", GEMINI_BASE_URL, "g-key")
    models = {m.model: m for m in config.available_models() if m.provider == "gemini"}
    assert set(models) == {"gemini-2.5-pro", FLASH, "gemini-2.5-flash-lite"}
    flash = models[FLASH]
    assert (flash.input_price_per_mtok, flash.output_price_per_mtok, flash.effective_from) == (
        0.30, 2.50, date(2025, 6, 17))
    assert models["gemini-2.5-pro"].quality > flash.quality > models["gemini-2.5-flash-lite"].quality
    # no key: the provider is not configured and its models drop out of every route
    assert not [m for m in parse_config({}, {}).available_models() if m.provider == "gemini"]
    table = parse_config({"providers": {"gemini": {"kind": "gemini"}}}, {})
    assert "gemini" not in table.providers


def test_a_call_routed_to_gemini_speaks_the_openai_protocol_and_is_priced_from_the_catalogue(
        db: psycopg.Connection, db_url: str, server: FaultServer) -> None:
    config = parse_config({
        "providers": {"gemini": {"kind": "gemini", "base_url": server.base_url, "api_key_env": "MY_GEMINI_KEY"}},
        "models": [{"provider": "gemini", "model": FLASH, "context_window": 1048576, "input_price_per_mtok": 0.30,
                    "output_price_per_mtok": 2.50, "effective_from": "2025-06-17", "quality": 0.8}],
        "retry": {"attempts_per_model": 2, "base_delay": 0.01, "max_delay": 0.02},
    }, {"MY_GEMINI_KEY": "g-secret"})
    org = new_org(db)
    server.script(FLASH, status(503), ok("Guten Tag!", input_tokens=1000, output_tokens=200))
    harness = Harness(db_url, config)
    try:
        result = harness.run(harness.gateway.complete(LLMCall(org, "chat", [ChatMessage("user", "Hallo")])))
    finally:
        harness.close()
    assert (result.text, result.provider, result.model) == ("Guten Tag!", "gemini", FLASH)
    sent = server.requests_for(FLASH)
    assert len(sent) == 2 and all(r.path == "/v1/chat/completions" for r in sent)
    assert sent[-1].headers["authorization"] == "Bearer g-secret"
    assert sent[-1].body["messages"][-1] == {"role": "user", "content": "Hallo"}
    cost, provider = db.execute("select cost, provider from salesflow.llm_requests where org_id = %s and id = %s",
                                (org, result.request_id)).fetchone()
    assert provider == "gemini" and float(cost) == pytest.approx(1000 * 0.30 / 1e6 + 200 * 2.50 / 1e6)
