"""Task routing and the gateway's configuration: which model first, which fallbacks, which errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from salesflow.gateway.config import ConfigError, load_config, parse_config
from salesflow.gateway.resilience import Cooldowns, backoff
from salesflow.gateway.routing import estimate_complexity, route

KEYS = {"OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "sk-ant-test"}


def refs(chain: tuple) -> list[str]:
    return [m.ref for m in chain]


def test_cost_sensitivity_and_importance_pick_the_first_model() -> None:
    config = parse_config({}, KEYS)
    cheap = route(config, "classify", "low", "high")
    assert refs(cheap.chain)[0] == "openai/gpt-4o-mini"
    assert refs(route(config, "classify", "low", "medium").chain)[0] == "openai/gpt-4o-mini"  # 0.7 >= 0.5 + 0.1
    assert refs(route(config, "chat", "medium", "medium").chain)[0] == "openai/gpt-4o"  # mini lacks the margin
    assert refs(route(config, "chat", "low", "low").chain)[0] == "anthropic/claude-sonnet-4"
    # critical needs 0.90: gpt-4o just clears it and is cheaper than Sonnet
    assert refs(route(config, "draft", "critical", "high").chain)[0] == "openai/gpt-4o"
    # every call is measured against the best model available
    assert cheap.baseline.ref == "anthropic/claude-sonnet-4"
    # the chain holds every model once: the qualifying ones cheapest first, then the rest best first
    assert sorted(refs(cheap.chain)) == sorted(m.ref for m in config.available_models())


def test_complexity_raises_the_bar() -> None:
    config = parse_config({}, KEYS)
    simple = estimate_complexity(["Is Ada's email right?"])
    hard = estimate_complexity(["Why did the deal stall? Compare our offer with the competitor's and explain the "
                                "trade-offs, then plan the negotiation. " * 30], structured=True)
    assert simple < 0.3 < hard <= 1.0
    assert refs(route(config, "chat", "medium", "high", simple).chain)[0] == "openai/gpt-4o-mini"
    assert refs(route(config, "chat", "medium", "high", hard).chain)[0] == "openai/gpt-4o"


def test_an_explicit_chain_and_missing_keys() -> None:
    config = parse_config({"tasks": {"chat": {"fallbacks": ["openai/gpt-4o", "anthropic/claude-sonnet-4",
                                                            "openai/gpt-4o-mini"]}}}, KEYS)
    assert refs(route(config, "chat").chain) == ["openai/gpt-4o", "anthropic/claude-sonnet-4", "openai/gpt-4o-mini"]
    # without Anthropic's key its models drop out of every route
    only_openai = parse_config({}, {"OPENAI_API_KEY": "sk-test"})
    assert all(m.provider == "openai" for m in route(only_openai, "chat").chain)
    with pytest.raises(ValueError, match="no configured model"):
        route(parse_config({}, {}), "chat")
    with pytest.raises(ValueError, match="importance must be one of"):
        route(config, "chat", "urgent")
    # a context too large for every model is refused before any call
    with pytest.raises(ValueError, match="context"):
        route(config, "chat", min_context=10_000_000)


def test_bad_configuration_is_one_clear_error(tmp_path: Path) -> None:
    cases = {
        '[[models]]\nprovider = "openai"\nmodel = "x"\ncontext_window = 1000\ninput_price_per_mtok = -1\n'
        'output_price_per_mtok = 1\n': "input_price_per_mtok must be a number",
        '[providers.ollama]\nkind = "openai_compatible"\n': "base_url is required",
        '[providers.x]\nkind = "carrier-pigeon"\n': "kind must be one of",
        '[tasks.chat]\nfallbacks = ["openai/gpt-5"]\n': "missing from the catalogue: openai/gpt-5",
        '[retry]\nattempts = 3\n': "attempts",
        "not toml at all [": "Expected",
    }
    for text, message in cases.items():
        file = tmp_path / "salesflow.toml"
        file.write_text(text)
        with pytest.raises(ConfigError, match=message) as error:
            load_config(file, KEYS)
        assert str(error.value).startswith(str(file))
    with pytest.raises(ConfigError, match="no such LLM config file"):
        load_config(tmp_path / "missing.toml", KEYS)


def test_a_price_change_is_a_new_dated_entry() -> None:
    old = {"provider": "openai", "model": "gpt-4o", "context_window": 128000, "input_price_per_mtok": 5.0,
           "output_price_per_mtok": 15.0, "effective_from": "2024-05-13", "quality": 0.9}
    new = {**old, "input_price_per_mtok": 2.5, "output_price_per_mtok": 10.0, "effective_from": "2024-10-01"}
    config = parse_config({"models": [old, new]}, KEYS)
    [model] = config.available_models()
    assert (model.input_price_per_mtok, str(model.effective_from)) == (2.5, "2024-10-01")
    assert len(config.models) == 2  # both stay in the catalogue, so old log rows keep their price


def test_cooldown_opens_after_repeated_failures_and_half_opens() -> None:
    now = [0.0]
    cooldowns = Cooldowns(parse_config({}, {}).cooldown, clock=lambda: now[0])
    assert not cooldowns.failure("m") and not cooldowns.failure("m")
    assert cooldowns.failure("m") and not cooldowns.available("m")
    now[0] = 31.0
    assert cooldowns.available("m")  # the one trial call
    assert not cooldowns.available("m")  # no second caller while it is on trial
    assert cooldowns.failure("m") and cooldowns.remaining("m") == pytest.approx(30.0)
    now[0] = 62.0
    assert cooldowns.available("m")
    cooldowns.success("m")
    assert cooldowns.available("m") and cooldowns.available("m")
    # a Retry-After longer than the cooldown keeps the model out for that long
    for _ in range(3):
        cooldowns.failure("n", retry_after=120)
    assert cooldowns.remaining("n") == pytest.approx(120.0)
    assert backoff(parse_config({}, {}).retry, 1, 2.5) == 2.5
