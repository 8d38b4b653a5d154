"""The hot route, `POST /rest/v1/rpc/{function}`, served as plain ASGI in front of the FastAPI app.

A profile of the gateway under load (issue 10) spent most of its Python on the way to the call:
Starlette's middleware stack, route matching, FastAPI's dependency solving, `Request`/`URL`/`Headers`
objects. This path reads the raw ASGI header list once, and answers exactly what the FastAPI route
(api/rpc.py `call_post`) answers: the same errors in PostgREST's shape, the same per-caller limits
(api/limits.py), the same CORS headers as the app's CORSMiddleware (`allow_origins=["*"]`, no
credentials). Every other request, and any RPC path this one does not recognise, goes to the app.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from salesflow.api.errors import ApiError
from salesflow.api.limits import App, Limiter, Receive, Scope, Send, caller_key_from, refusal_body
from salesflow.api.rpc import _FORWARDED_HEADERS, EXPOSED_SCHEMA, MAX_BODY_BYTES, RpcService

log = logging.getLogger(__name__)

PREFIX = "/rest/v1/rpc/"
_FORWARDED = tuple(h.encode() for h in _FORWARDED_HEADERS)
_JSON = (b"content-type", b"application/json")
# what CORSMiddleware adds to every simple response (allow_origins=["*"], no credentials)
_VARY = (b"vary", b"Origin")
_ANY_ORIGIN = (b"access-control-allow-origin", b"*")
_INTERNAL = b'{"code":"PGRST000","details":null,"hint":null,"message":"internal error; see the API log"}'


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "PGRST413", f"request body is larger than {limit} bytes")


def parse_object(body: bytes | bytearray) -> dict[str, Any]:
    """RPC arguments: a JSON object, or nothing at all (PostgREST's PGRST102 for anything else)."""
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


class FastRpc:
    """ASGI app: the RPC POST route itself, everything else handed to `app` (the FastAPI app)."""

    def __init__(self, app: Any, limiter: Limiter | None) -> None:
        self.app: App = app
        self.fastapi = app  # its state holds the RPC service and the token cache, set up by its lifespan
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        name = path[len(PREFIX):]
        if scope.get("method") != "POST" or not path.startswith(PREFIX) or not name or "/" in name:
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for key, value in scope["headers"]:
            headers.setdefault(key, value)  # lower-case names (ASGI); the first of repeated ones, as Starlette
        origin = b"origin" in headers
        key = None
        if self.limiter is not None:
            key = caller_key_from(headers, scope)
            wait = self.limiter.acquire(key)
            if wait is not None:
                seconds, body = refusal_body(wait)
                await self._send(send, 429, body, origin, [(b"retry-after", str(seconds).encode())])
                return
        try:
            answer = await self._answer(scope, receive, name, headers)
            if answer is not None:  # None: the client went away before its body was read
                await self._send(send, *answer[:2], origin, answer[2])
        finally:
            if key is not None:
                self.limiter.release(key)  # type: ignore[union-attr]

    async def _answer(self, scope: Scope, receive: Receive, name: str,
                      headers: dict[bytes, bytes]) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        state = self.fastapi.state
        try:
            profile = headers.get(b"content-profile")
            if profile is not None and profile != EXPOSED_SCHEMA.encode():
                raise ApiError(
                    406, "PGRST106", f"The schema must be one of the following: {EXPOSED_SCHEMA}",
                    hint=f'create the client with ClientOptions(schema="{EXPOSED_SCHEMA}")',
                )
            authorization, apikey = headers.get(b"authorization"), headers.get(b"apikey")
            caller = state.callers.get(authorization.decode("latin-1") if authorization is not None else None,
                                       apikey.decode("latin-1") if apikey is not None else None)
            raw = await self._body(receive, headers)
            if raw is None:
                return None
            args = parse_object(raw)
            forwarded = {k.decode(): headers[k].decode("latin-1") for k in _FORWARDED if k in headers}
            service: RpcService = state.rpc
            payload = await service.call_as(name, args, caller, method="POST", path=scope["path"],
                                            headers_json=json.dumps(forwarded))
        except ApiError as exc:
            # as Starlette's JSONResponse renders ApiError.response(): compact, UTF-8
            body = json.dumps({"code": exc.code, "details": exc.details, "hint": exc.hint, "message": exc.message},
                              ensure_ascii=False, separators=(",", ":")).encode()
            extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (exc.headers or {}).items()]
            return exc.status, body, extra
        except Exception:
            log.exception("unhandled error")
            return 500, _INTERNAL, []
        return 200, (payload if payload is not None else "null").encode(), []

    @staticmethod
    async def _body(receive: Receive, headers: dict[bytes, bytes]) -> bytes | bytearray | None:
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise _too_large(MAX_BODY_BYTES)
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > MAX_BODY_BYTES:
                raise _too_large(MAX_BODY_BYTES)
            return body
        buffer = bytearray(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            buffer += message.get("body", b"")
            if len(buffer) > MAX_BODY_BYTES:
                raise _too_large(MAX_BODY_BYTES)
        return buffer

    @staticmethod
    async def _send(send: Send, status: int, body: bytes, origin: bool, extra: list[tuple[bytes, bytes]]) -> None:
        headers = [_JSON, (b"content-length", str(len(body)).encode()), *extra]
        if origin:
            headers.append(_ANY_ORIGIN)
        headers.append(_VARY)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
