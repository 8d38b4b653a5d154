"""What a worker process owns for its handlers: the job pool, the AI gateway, the embedders, the LLM configuration.

The configuration is read and validated before the worker starts (`WorkerResources.from_env`), so a
broken SALESFLOW_LLM_CONFIG stops the process with one line instead of failing its jobs one by one.
The pool is created inside the worker's event loop (`open`); the gateway is built from the validated
configuration in that loop when a handler first asks for it (the providers' HTTP clients belong to
the loop that made them, and the SDKs take seconds to import on a busy machine, which a worker
running only queue jobs need not pay); all of it is closed at shutdown (`aclose`). Every handler
receives the same object through its JobContext: one gateway per process, so its cooldowns and its
catalogue sync serve every job, and no module keeps a gateway of its own.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from salesflow.gateway.config import ConfigError, GatewayConfig, load_config
from salesflow.gateway.embedders import Embedders, embedder_from_env

if TYPE_CHECKING:
    from salesflow.gateway.core import Gateway


class ResourcesClosed(RuntimeError):
    """A handler asked for the pool or the gateway outside `open` … `aclose`."""


class WorkerResources:
    """The worker's long-lived resources; `open` them in the running loop, `aclose` them at shutdown."""

    def __init__(self, llm_config: GatewayConfig, embedders: Embedders | None = None) -> None:
        self.llm_config = llm_config
        self.embedders = embedders if embedders is not None else Embedders()
        self._pool: AsyncConnectionPool | None = None
        self._gateway: Gateway | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorkerResources:
        """Validate the LLM and embedding configuration now; ConfigError says what is wrong, in one line."""
        env = os.environ if environ is None else environ
        llm_config = load_config(env=env)
        try:
            configured = embedder_from_env(env)  # builds clients only; nothing loads or calls out yet
        except ValueError as exc:
            raise ConfigError(f"embeddings: {exc}") from None
        return cls(llm_config, Embedders(env, configured=configured))

    async def open(self, url: str, *, max_size: int, application_name: str) -> None:
        """Create the handlers' pool (autocommit connections, checked before lending) and the gateway."""
        if self._pool is not None:
            return
        self._pool = AsyncConnectionPool(
            url, min_size=1, max_size=max_size, open=False,
            kwargs={"autocommit": True, "application_name": application_name[:63]},
            # handlers are slow next to a round trip: check each connection before lending it
            check=AsyncConnectionPool.check_connection, timeout=10,
        )
        # wait=False: a database that is down at start delays jobs (the pool keeps trying), it does not stop the worker
        await self._pool.open(wait=False)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """An autocommit connection from the handlers' pool, returned when the block exits."""
        if self._pool is None:
            raise ResourcesClosed("the worker's resources are not open")
        async with self._pool.connection() as conn:
            yield conn

    @property
    def gateway(self) -> Gateway:
        """The process's one AI gateway, built on the validated configuration at first use."""
        if self._pool is None:
            raise ResourcesClosed("the worker's resources are not open")
        if self._gateway is None:
            from salesflow.gateway.core import Gateway

            self._gateway = Gateway(self.llm_config, self.connection)
        return self._gateway

    async def aclose(self) -> None:
        """Close the gateway's providers, the pool and the embedders; safe to call twice."""
        gateway, pool, self._gateway, self._pool = self._gateway, self._pool, None, None
        try:
            if gateway is not None:
                await gateway.aclose()
        finally:
            if pool is not None:
                await pool.close()
            self.embedders.close()
