"""POST/GET /rest/v1/rpc/{function}: PostgREST's RPC contract over the `api` schema.

The caller's JWT picks the role; the role and claims are set transaction-locally exactly as
PostgREST sets them, so the same functions and policies behave the same behind Supabase.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Set as AbstractSet
from typing import Any

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import Response
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from salesflow.api import openapi
from salesflow.api.auth import Caller
from salesflow.api.catalog import EXPOSED_SCHEMA, Catalog, Function
from salesflow.api.errors import ApiError, is_connection_loss, status_for_sqlstate
from salesflow.api.limits import Limiter, retry_after_seconds
from salesflow.db.queries import query

log = logging.getLogger(__name__)
router = APIRouter()

MAX_BODY_BYTES = 1 << 20  # 1 MiB: RPC arguments, not file uploads
# PostgREST-like per-request statement timeout; SALESFLOW_STATEMENT_TIMEOUT overrides it (e.g. "10s")
STATEMENT_TIMEOUT = os.environ.get("SALESFLOW_STATEMENT_TIMEOUT", "30s")
# headers a function may read from request.headers; never the token itself
_FORWARDED_HEADERS = ("user-agent", "x-client-info", "prefer", "content-type", "x-request-id")


async def read_json_object(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request body as a JSON object, with PostgREST's errors for what is not one."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "PGRST413", f"request body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "PGRST413", f"request body is larger than {limit} bytes")
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "PGRST102", "Empty or invalid json", details=str(exc)[:200]) from None
    if not isinstance(value, dict):
        raise ApiError(
            400, "PGRST102", "RPC arguments must be a JSON object of named arguments",
            hint='Send {"arg_name": value, ...}',
        )
    return value


def _call_statement(fn: Function, keys: list[str]) -> sql.Composed:
    target = sql.SQL("{}.{}").format(sql.Identifier(EXPOSED_SCHEMA), sql.Identifier(fn.name))
    types = {p.name: p.type for p in fn.params}
    if fn.returns_void:
        result = sql.SQL("null::text")
    elif fn.returns_set:
        result = sql.SQL("coalesce(jsonb_agg(to_jsonb(_r)), '[]'::jsonb)::text")
    else:
        result = sql.SQL("to_jsonb(_r)::text")
    if not keys:
        return sql.SQL("select {} from {}() as _r").format(result, target)
    # json_to_record converts each JSON value to the parameter's declared type, as PostgREST does;
    # the type names come from pg_catalog.format_type, never from the request
    columns = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(k), sql.SQL(types[k])) for k in keys)
    named = sql.SQL(", ").join(sql.SQL("{0} => _args.{0}").format(sql.Identifier(k)) for k in keys)
    return sql.SQL("select {} from json_to_record(%s::json) as _args ({}), lateral {}({}) as _r").format(
        result, columns, target, named
    )


class RpcService:
    """Resolves a function by name and arguments and runs it as the caller.

    Each call is one round trip: the request context and the call are pipelined on an autocommit
    connection, so they share the implicit transaction that ends at the pipeline's Sync (role and
    claims are transaction-local, exactly as PostgREST sets them). psycopg prepares the statements
    once they repeat.
    """

    STATEMENT_CACHE = 1024  # composed call statements by (function, argument names)

    def __init__(self, pool: AsyncConnectionPool, catalog: Catalog, org_limiter: Limiter | None = None) -> None:
        self.pool = pool
        self.catalog = catalog
        self._statements: dict[tuple[Function, tuple[str, ...]], bytes] = {}
        # (name, argument names) -> (catalog version, function): no catalog scan per call
        self._resolved: dict[tuple[str, frozenset[str]], tuple[object, Function]] = {}
        # one bucket per organisation, charged for its members' calls (api/limits.py)
        self.org_limiter = org_limiter
        # (user, org) -> (member?, until): membership read as the caller, kept a minute
        self._members: dict[tuple[str, str], tuple[bool, float]] = {}

    MEMBER_TTL = 60.0
    MEMBER_CACHE = 10_000

    async def _charge_org(self, args: dict[str, Any], caller: Caller, context: dict[str, Any]) -> None:
        """Spend a token of the named organisation's bucket if the caller is one of its members.

        Membership is read as the caller (the request's role and claims set, through RLS), in a round
        trip of its own the first time a (user, organisation) pair is seen in a minute; a caller who
        names an organisation that is not theirs is not counted against it, only against their own bucket.
        """
        org = args.get("org_id")
        sub = caller.claims.get("sub")
        if self.org_limiter is None or caller.role != "authenticated" or not isinstance(org, str) or not sub:
            return
        try:
            org_id = str(uuid.UUID(org))
        except ValueError:
            return  # the call itself answers 400 for the malformed id
        now = time.monotonic()
        cached = self._members.get((str(sub), org_id))
        if cached is None or cached[1] <= now:
            async with self.pool.connection() as conn:
                async with conn.pipeline():
                    await conn.execute(query("set_request_context"), {**context, "read_only": "on"})
                    cur = await conn.execute(query("is_my_org"), {"org_id": org_id})
                row = await cur.fetchone()
            if len(self._members) >= self.MEMBER_CACHE:
                self._members.clear()
            cached = self._members[(str(sub), org_id)] = (bool(row and row[0]), now + self.MEMBER_TTL)
        if not cached[0]:
            return
        wait = self.org_limiter.take(org_id)
        if wait is not None:
            seconds = retry_after_seconds(wait)
            raise ApiError(429, "SF429", "too many requests for this organisation; slow down",
                           hint=f"retry after {seconds} s", headers={"Retry-After": str(seconds)})

    async def resolve(self, name: str, keys: AbstractSet[str]) -> Function:
        """The function of that name taking exactly these named arguments (PGRST202 if none does)."""
        hit = self._resolved.get((name, frozenset(keys)))
        if hit is not None and hit[0] is self.catalog.version:
            return hit[1]
        fn = await self._resolve(name, keys)
        if len(self._resolved) >= self.STATEMENT_CACHE:
            self._resolved.clear()
        self._resolved[(name, frozenset(keys))] = (self.catalog.version, fn)
        return fn

    async def _resolve(self, name: str, keys: AbstractSet[str]) -> Function:
        candidates = self.catalog.candidates(name)
        if not any(fn.accepts(keys) for fn in candidates) and self.catalog.stale():
            async with self.pool.connection() as conn:
                await self.catalog.load(conn)
            self._statements.clear()
            candidates = self.catalog.candidates(name)
        for fn in candidates:
            if fn.accepts(keys):
                return fn
        wanted = f"{EXPOSED_SCHEMA}.{name}({', '.join(sorted(keys))})"
        hint = None
        if candidates:
            hint = "Perhaps you meant to call " + " or ".join(f"the function {fn.signature()}" for fn in candidates)
        raise ApiError(
            404, "PGRST202", f"Could not find the function {wanted} in the schema cache",
            details="Searched for the function with the given argument names, but no matches were found.",
            hint=hint,
        )

    def statement(self, fn: Function, keys: tuple[str, ...], conn: psycopg.AsyncConnection) -> bytes:
        key = (fn, keys)
        found = self._statements.get(key)
        if found is None:
            if len(self._statements) >= self.STATEMENT_CACHE:
                self._statements.clear()
            found = self._statements[key] = _call_statement(fn, list(keys)).as_bytes(conn)
        return found

    async def call(self, name: str, args: dict[str, Any], caller: Caller, request: Request,
                   statement_timeout: str = STATEMENT_TIMEOUT) -> str | None:
        """Call `api.<name>` for an endpoint's request (its method, path and forwarded headers)."""
        headers = {k: v for k, v in request.headers.items() if k in _FORWARDED_HEADERS}
        return await self.call_as(name, args, caller, method=request.method, path=request.scope["path"],
                                  headers_json=json.dumps(headers), statement_timeout=statement_timeout)

    async def call_as(self, name: str, args: dict[str, Any], caller: Caller, *, method: str, path: str,
                      headers_json: str, statement_timeout: str = STATEMENT_TIMEOUT) -> str | None:
        """Call `api.<name>` with named arguments as the caller; the function's JSON result as text."""
        fn = await self.resolve(name, args.keys())
        keys = tuple(sorted(args))
        context = {
            "role": caller.role, "claims": caller.claims_json, "method": method,
            "path": path, "headers": headers_json, "statement_timeout": statement_timeout,
            # a stable function cannot write, so run it read-only (PostgREST does, for GET)
            "read_only": "on" if fn.read_only else "off",
        }
        try:
            await self._charge_org(args, caller, context)
            async with self.pool.connection() as conn:
                statement = self.statement(fn, keys, conn)
                async with conn.pipeline():
                    await conn.execute(query("set_request_context"), context)
                    cur = await conn.execute(statement, (json.dumps(args),) if args else None)
                row = await cur.fetchone()
        except psycopg.OperationalError as exc:
            # QueryCanceled (57014) and ProgramLimitExceeded (54xxx) are OperationalErrors too
            if not is_connection_loss(exc.sqlstate):
                raise self._translate(exc, caller) from None
            log.warning("database unavailable: %s", exc)
            raise ApiError(503, "PGRST000", "Database connection error. Retrying the connection.") from None
        except PoolTimeout:
            raise ApiError(503, "PGRST003", "Timed out acquiring connection from connection pool.") from None
        except psycopg.Error as exc:
            raise self._translate(exc, caller) from None
        return row[0] if row else None

    @staticmethod
    def _translate(exc: psycopg.Error, caller: Caller) -> ApiError:
        diag = exc.diag
        code = exc.sqlstate or "XX000"
        status = status_for_sqlstate(code, authenticated=caller.authenticated)
        if code == "57014":
            return ApiError(504, code, "the statement ran longer than its timeout and was cancelled",
                            hint="narrow the query (fewer terms, a lead, a time range) and try again")
        if status >= 500:
            log.error("RPC failed with %s: %s", code, diag.message_primary)
        return ApiError(
            status, code, diag.message_primary or str(exc), details=diag.message_detail, hint=diag.message_hint
        )


def _service(request: Request) -> RpcService:
    return request.app.state.rpc


def _check_profile(request: Request, header: str) -> None:
    """PostgREST picks the schema from Accept-/Content-Profile; only `api` is exposed here."""
    profile = request.headers.get(header)
    if profile is not None and profile != EXPOSED_SCHEMA:
        raise ApiError(
            406, "PGRST106", f"The schema must be one of the following: {EXPOSED_SCHEMA}",
            hint=f'create the client with ClientOptions(schema="{EXPOSED_SCHEMA}")',
        )


def caller_of(request: Request) -> Caller:
    """The verified caller; a token already verified is taken from the app's cache until it expires."""
    headers = request.headers
    return request.app.state.callers.get(headers.get("authorization"), headers.get("apikey"))


def json_response(payload: str | None) -> Response:
    return Response(content=payload if payload is not None else "null", media_type="application/json")


@router.post("/rest/v1/rpc/{function}")
async def call_post(function: str, request: Request) -> Response:
    _check_profile(request, "content-profile")
    caller = caller_of(request)
    args = await read_json_object(request)
    return json_response(await _service(request).call(function, args, caller, request))


@router.get("/rest/v1/rpc/{function}")
async def call_get(function: str, request: Request) -> Response:
    _check_profile(request, "accept-profile")
    caller = caller_of(request)
    args: dict[str, Any] = dict(request.query_params)
    fn = await _service(request).resolve(function, set(args))
    if not fn.read_only:
        raise ApiError(
            405, "PGRST101", f"{fn.signature()} changes data and must be called with POST",
            hint="GET is for stable functions only",
        )
    return json_response(await _service(request).call(function, args, caller, request))


@router.get("/rest/v1/")
async def describe(request: Request) -> dict[str, Any]:
    """The OpenAPI 3.0 description of the RPCs (api/openapi.py)."""
    return openapi.document(_service(request).catalog)
