"""The worker's database connections: queue calls that reconnect on demand, and the LISTEN loop.

A lost connection or a database restart must delay jobs, never strand them, so nothing here
gives up: a failed call drops its connection and raises, the caller retries later, and the next
call connects again. The listener reconnects with a growing pause; while it is down the worker's
polling carries on alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from salesflow.db.queries import query

log = logging.getLogger("salesflow.worker")

# Detect a dead server on an idle connection (a cut network sends no FIN) within about a minute.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def channel(queue: str) -> str:
    """The NOTIFY channel of a queue (salesflow.enqueue's naming)."""
    return f"salesflow_queue_{queue}"


class Link:
    """One autocommit connection, opened on first use and again after any connection failure."""

    def __init__(self, url: str, application_name: str) -> None:
        self._url = url
        self._application_name = application_name[:63]
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            await self.close()
            self._conn = await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=5, application_name=self._application_name,
                **KEEPALIVES,
            )
        return self._conn

    async def fetch(self, name: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a named query and return its rows; on a connection error, drop the connection and raise."""
        conn = await self._connection()
        try:
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(query(name), params)
                return await cur.fetchall() if cur.description else []
        except (psycopg.OperationalError, asyncio.CancelledError):
            # the server may be gone, or a cancelled query left the connection mid-protocol
            await self.close()
            raise

    async def value(self, name: str, params: Mapping[str, Any] | None = None) -> Any:
        rows = await self.fetch(name, params)
        return next(iter(rows[0].values())) if rows else None

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            try:
                await conn.close()
            except psycopg.Error:
                pass


async def listen(
    url: str, queues: Iterable[str], wake: Callable[[], None], application_name: str,
    *, max_pause: float = 10.0,
) -> None:
    """LISTEN on each queue's channel and call `wake` on every notification, reconnecting forever.

    `wake` is also called after each (re)connection: jobs enqueued while nobody listened are
    found by the claim it triggers, not left to the next poll.
    """
    queues = list(queues)
    pause = 0.5
    while True:
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            conn = await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=5, application_name=application_name[:63], **KEEPALIVES
            )
            for queue in queues:
                await conn.execute(sql.SQL(query("listen")).format(channel=sql.Identifier(channel(queue))))
            log.info("listening", extra={"channels": [channel(q) for q in queues]})
            pause = 0.5
            wake()
            async for _ in conn.notifies():
                wake()
        except psycopg.Error as exc:
            log.warning("listen connection lost; polling alone until it is back",
                        extra={"error": str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                               "retry_in": pause})
        finally:
            if conn is not None:
                try:
                    await conn.close()
                except psycopg.Error:
                    pass
        await asyncio.sleep(pause)
        pause = min(max_pause, pause * 2)
