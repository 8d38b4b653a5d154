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
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import AsyncConnectionPool
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path

from salesflow.api import (
    assistant,
    chat,
    conversation,
    dashboard,
    engagement,
    memory,
    predictions,
    rpc,
    search,
    suggestions,
    webhooks,
)
from salesflow.api.callers import CallerCache
from salesflow.api.catalog import Catalog
from salesflow.api.errors import ApiError
from salesflow.api.fast_rpc import FastRpc
from salesflow.api.limits import Limiter, LimitMiddleware
from salesflow.assistant.chat import ChatService
from salesflow.db import migrate
from salesflow.gateway.config import ConfigError, load_config
from salesflow.gateway.core import Gateway
from salesflow.gateway.embedders import Embedders
from salesflow.gateway.writing import WritingService

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


def create_app(database_url: str, jwt_secret: str, *, pool_size: int = 4) -> FastRpc:
    """The API for one database; `jwt_secret` verifies bearer tokens (HS256).

    The FastAPI app serves every route; `POST /rest/v1/rpc/{fn}`, the hot one, is answered in front
    of it by api/fast_rpc.py with the same contract and less Python per request.

    The pool holds `pool_size` autocommit connections from the start (RPC calls pipeline their
    context and call into one implicit transaction; see rpc.RpcService)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(database_url, min_size=pool_size, max_size=pool_size, open=False, timeout=10,
                                   kwargs={"autocommit": True})
        await pool.open(wait=False)
        app.state.embed_limiter = search.EmbedLimiter()
        # the query embedders of /api/search, /memory and the assistant: this process's, closed with it
        app.state.embedders = Embedders()
        catalog = Catalog()
        try:
            async with pool.connection(timeout=10) as conn:
                await catalog.load(conn)
        except Exception as exc:  # noqa: BLE001 - the API still starts; /health says what is wrong
            log.warning("could not read the function catalog yet: %s", exc)
        app.state.rpc = rpc.RpcService(pool, catalog, org_limiter)
        gateway = None
        try:
            gateway = Gateway(load_config(), pool)
            app.state.chat = ChatService(gateway)
            app.state.writing = WritingService(gateway)
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
            app.state.embedders.close()

    # docs_url=None: FastAPI's own /docs loads Swagger UI from a CDN, blank offline; ours serves the
    # assets of the installed swagger-ui-bundle package
    app = FastAPI(title="SalesFlow", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.jwt_secret = jwt_secret
    app.state.callers = CallerCache(jwt_secret)
    limiter = Limiter.from_env()
    org_limiter = Limiter.org_from_env()
    if limiter is not None:
        app.add_middleware(LimitMiddleware, limiter=limiter)
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["authorization", "apikey", "content-type", "x-client-info", "prefer", "accept-profile",
                       "content-profile"],
    )

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # unknown routes (404) and wrong methods (405) speak PostgREST's error shape like everything else
        # (PostgREST's codes: PGRST125 an invalid path, PGRST117 an unsupported method)
        code = {404: "PGRST125", 405: "PGRST117"}.get(exc.status_code, "PGRST000")
        message = {404: "Invalid path specified in request URL", 405: "Unsupported HTTP method"}.get(
            exc.status_code, exc.detail if isinstance(exc.detail, str) else "request refused")
        hint = "see /docs for the routes this API serves" if exc.status_code in (404, 405) else None
        return ApiError(exc.status_code, code, message, hint=hint,
                        headers=dict(exc.headers or {}) or None).response()

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

    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title="SalesFlow API",
                                   swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/assets/swagger-ui.css",
                                   swagger_favicon_url="/docs/assets/favicon-32x32.png")

    app.include_router(rpc.router)
    app.include_router(search.router)
    app.include_router(memory.router)
    app.include_router(chat.router)
    app.include_router(suggestions.router)
    app.include_router(webhooks.router)
    app.include_router(predictions.router)
    app.include_router(assistant.router)
    app.include_router(conversation.router)
    app.include_router(engagement.router)
    app.include_router(dashboard.router)
    return FastRpc(app, limiter)


def app_from_env() -> FastRpc:
    """The app as `salesflow api` configured it, for uvicorn's worker processes (an import-string factory)."""
    from salesflow.api.server import ServerOptions

    options = ServerOptions.from_env()
    return create_app(os.environ["SALESFLOW_API_DATABASE_URL"], os.environ["SALESFLOW_API_JWT_SECRET"],
                      pool_size=options.pool_size)
