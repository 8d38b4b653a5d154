"""A gateway for sync tests: its own event loop in a thread, and configs pointing at the fault server."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool

from salesflow.gateway.config import GatewayConfig, parse_config
from salesflow.gateway.core import Gateway
from tests.conftest import ApiProcess, make_token
from tests.fault_server import FaultServer

T = TypeVar("T")
PRIMARY, SECONDARY, CLAUDE = "primary", "secondary", "claude-test"


def config_for(server: FaultServer, chain: list[str] | None = None) -> GatewayConfig:
    """Two OpenAI-protocol models and one Anthropic one, all served by `server`; `chain`: the fallbacks."""
    data: dict[str, Any] = {
        "providers": {
            "fault": {"kind": "openai_compatible", "base_url": server.base_url, "api_key": "test", "timeout": 2.0},
            # the Anthropic SDK takes its base URL without /v1
            "fault-claude": {"kind": "anthropic", "base_url": server.anthropic_base_url, "api_key": "test",
                             "timeout": 2.0},
        },
        "models": [
            {"provider": "fault", "model": PRIMARY, "context_window": 8000, "input_price_per_mtok": 2.5,
             "output_price_per_mtok": 10.0, "quality": 0.9},
            {"provider": "fault", "model": SECONDARY, "context_window": 8000, "input_price_per_mtok": 0.15,
             "output_price_per_mtok": 0.6, "quality": 0.7},
            {"provider": "fault-claude", "model": CLAUDE, "context_window": 8000, "input_price_per_mtok": 3.0,
             "output_price_per_mtok": 15.0, "quality": 0.92},
        ],
        # chat and classify follow the given chain; the other tasks are routed by quality and price
        "tasks": {task: {"fallbacks": [f"fault/{m}" if m != CLAUDE else f"fault-claude/{m}"
                                       for m in (chain or [PRIMARY, SECONDARY])]} for task in ("chat", "classify")},
        "retry": {"attempts_per_model": 3, "base_delay": 0.01, "max_delay": 0.05, "max_retry_after": 5.0},
        "cooldown": {"failures": 3, "seconds": 0.6},
    }
    return parse_config(data, {})


class Harness:
    """A gateway on its own event loop thread, so sync tests can drive it call by call."""

    def __init__(self, db_url: str, config: GatewayConfig) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.pool = AsyncConnectionPool(db_url, min_size=1, max_size=8, open=False)
        self.run(self.pool.open())
        self.gateway = Gateway(config, self.pool)

    def run(self, coro: Awaitable[T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        self.run(self.gateway.aclose())
        self.run(self.pool.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def new_org(db: psycopg.Connection) -> uuid.UUID:
    """An organisation with no members, made directly (the gateway's tests need only its id)."""
    db.autocommit = True
    return db.execute("insert into salesflow.organizations (name, slug) values ('Acme', %s) returning id",
                      (f"acme-{uuid.uuid4().hex[:8]}",)).fetchone()[0]


def member_org(api: ApiProcess, name: str = "Chatty") -> tuple[str, dict[str, str]]:
    """An organisation made over HTTP by a new user; its id and that user's auth headers."""
    headers = {"Authorization": f"Bearer {make_token(uuid.uuid4())}"}
    created = httpx.post(f"{api.url}/rest/v1/rpc/create_organization", json={"name": name}, headers=headers)
    assert created.status_code == 200, created.text
    return created.json()["id"], headers

