"""A process that holds an LLM budget reservation: it calls the gateway against a provider that hangs.

`python -m tests.reservation_holder DATABASE_URL BASE_URL ORG_ID`; the test kills it (SIGKILL)
while the call is in flight, as a crash would, leaving its reservation for the sweep.
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from psycopg_pool import AsyncConnectionPool

from salesflow.gateway.config import parse_config
from salesflow.gateway.core import Gateway, LLMCall
from salesflow.gateway.providers import ChatMessage


async def main(database_url: str, base_url: str, org_id: str) -> None:
    config = parse_config({
        "providers": {"fault": {"kind": "openai_compatible", "base_url": base_url, "api_key": "test",
                                "timeout": 300.0}},
        "models": [{"provider": "fault", "model": "primary", "context_window": 8000,
                    "input_price_per_mtok": 2.5, "output_price_per_mtok": 10.0, "quality": 0.9}],
        "tasks": {"chat": {"fallbacks": ["fault/primary"]}},
        "retry": {"attempts_per_model": 1, "base_delay": 0.01, "max_delay": 0.05, "max_retry_after": 5.0},
    }, {})
    async with AsyncConnectionPool(database_url, min_size=1, max_size=2) as pool:
        gateway = Gateway(config, pool)
        await gateway.complete(LLMCall(uuid.UUID(org_id), "chat", [ChatMessage("user", "What is the price?")]))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
