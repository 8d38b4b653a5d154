"""The thin FastAPI app: the PostgREST-compatible RPC gateway and a health check."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool

from salesflow.api import chat, rpc, search
from salesflow.api.callers import CallerCache
from salesflow.api.catalog import Catalog
from salesflow.api.errors import ApiError
from salesflow.db import migrate
from salesflow.gateway.chat import ChatService
from salesflow.gateway.config import ConfigError, load_config
from salesflow.gateway.core import Gateway

log = logging.getLogger(__name__)


def _health_sync(database_url: str) -> tuple[int, dict[str, Any]]:
    try:
        with psycopg.connect(database_url, connect_timeout=3) as conn:
            status = migrate.status(conn)
    except psycopg.Error as exc:
        return 503, {"status": "unavailable", "database": f"unreachable: {str(exc).strip()[:200]}"}
    body: dict[str, Any] = {
        "status": "ok" if status.current else "degraded",
        "database": "ok",
        "migrations": "current" if status.current else "pending",
    }
    if not status.current:
        body["pending"] = status.pending + ([] if status.objects_current else ["sql/objects"])
        body["problems"] = status.problems
    return (200 if status.current else 503), body


def create_app(database_url: str, jwt_secret: str, *, pool_size: int = 4) -> FastAPI:
    """The API for one database; `jwt_secret` verifies bearer tokens (HS256).

    The pool holds `pool_size` autocommit connections from the start (RPC calls pipeline their
    context and call into one implicit transaction; see rpc.RpcService)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(database_url, min_size=pool_size, max_size=pool_size, open=False, timeout=10,
                                   kwargs={"autocommit": True})
        await pool.open(wait=False)
        app.state.embed_limiter = search.EmbedLimiter()
        catalog = Catalog()
        try:
            async with pool.connection(timeout=10) as conn:
                await catalog.load(conn)
        except Exception as exc:  # noqa: BLE001 - the API still starts; /health says what is wrong
            log.warning("could not read the function catalog yet: %s", exc)
        app.state.rpc = rpc.RpcService(pool, catalog)
        gateway = None
        try:
            gateway = Gateway(load_config(), pool)
            app.state.chat = ChatService(gateway)
        except ConfigError as exc:
            # the API still serves RPCs; the chat endpoints answer 503 with this reason
            app.state.gateway_error = f"the AI gateway is not configured: {exc}"
            log.warning("%s", app.state.gateway_error)
        try:
            yield
        finally:
            if gateway is not None:
                await gateway.aclose()
            await pool.close()
            app.state.embed_limiter.close()

    app = FastAPI(title="SalesFlow", version="0.1.0", lifespan=lifespan)
    app.state.jwt_secret = jwt_secret
    app.state.callers = CallerCache(jwt_secret)
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["authorization", "apikey", "content-type", "x-client-info", "prefer", "accept-profile",
                       "content-profile"],
    )

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return ApiError(400, "PGRST100", "invalid request", details=str(exc.errors())[:500]).response()

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return ApiError(500, "PGRST000", "internal error; see the API log").response()

    @app.get("/health")
    async def health() -> JSONResponse:
        status, body = await asyncio.to_thread(_health_sync, database_url)
        return JSONResponse(body, status_code=status)

    app.include_router(rpc.router)
    app.include_router(search.router)
    app.include_router(chat.router)
    return app


def app_from_env() -> FastAPI:
    """The app as `salesflow api` configured it, for uvicorn's worker processes (an import-string factory)."""
    from salesflow.api.server import ServerOptions

    options = ServerOptions.from_env()
    return create_app(os.environ["SALESFLOW_API_DATABASE_URL"], os.environ["SALESFLOW_API_JWT_SECRET"],
                      pool_size=options.pool_size)
