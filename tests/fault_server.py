"""A fault-injecting LLM server that speaks the real OpenAI and Anthropic wire protocols over real HTTP.

The gateway's tests and benchmarks point the real SDKs at it (`base_url` for `openai.OpenAI`,
`anthropic_base_url` for `anthropic.Anthropic`) and script, per model, what the next requests meet:
a normal answer, an HTTP error with the provider's own error body, a hang, a stream cut mid-way or a
slow stream. Every request is recorded, and so is a client that goes away before its answer is done.

It is a raw ASGI app under uvicorn (h11, asyncio) in a background thread: raw, because it must see the
client's disconnect and close the TCP connection itself, which a framework's Response hides.

Token counts are deterministic: a token is a run of word characters or one punctuation mark
(`\\w+|[^\\w\\s]`). The prompt count covers every message's text (and Anthropic's `system`), the
completion count the answer. An answer streams in chunks of three words.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

import uvicorn

from tests import fault_transcripts

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Protocol = Literal["openai", "anthropic"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORDS_PER_CHUNK = 3
_PATHS: dict[str, Protocol] = {"/v1/chat/completions": "openai", "/v1/messages": "anthropic"}


# -- faults: what the next request for a model meets --------------------------------------------
@dataclass(frozen=True)
class Ok:
    text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class Status:
    code: int
    retry_after: float | str | None = None
    message: str | None = None
    code_name: str | None = None


@dataclass(frozen=True)
class Hang:
    seconds: float


@dataclass(frozen=True)
class Cut:
    after_chunks: int


@dataclass(frozen=True)
class Slow:
    chunk_delay: float


Fault = Ok | Status | Hang | Cut | Slow | fault_transcripts.Heard


def ok(text: str | None = None, *, input_tokens: int | None = None, output_tokens: int | None = None) -> Ok:
    """A normal answer; `text` (default: the server's default_text) may hold `{prompt}`, see FaultServer."""
    return Ok(text, input_tokens, output_tokens)


def status(
    code: int, *, retry_after: float | str | None = None, message: str | None = None, code_name: str | None = None
) -> Status:
    """That HTTP status with the provider's error body; `retry_after` (seconds or an HTTP date) sets Retry-After.

    `code_name` overrides OpenAI's `error.code` ("" for null). Anthropic's error body has no code; its
    `error.type` follows the status.
    Defaults: 400 context_length_exceeded, 401 invalid_api_key, 429 rate_limit_exceeded.
    """
    return Status(code, retry_after, message, code_name)


def hang(seconds: float) -> Hang:
    """Send nothing for `seconds` (not even headers), then answer normally if the client is still there."""
    return Hang(seconds)


def cut(after_chunks: int) -> Cut:
    """Stream `after_chunks` content chunks, then close the TCP connection; non-streaming: close, no response."""
    return Cut(after_chunks)


def slow(chunk_delay: float) -> Slow:
    """Wait `chunk_delay` before every content chunk (non-streaming: before the whole answer)."""
    return Slow(chunk_delay)


@dataclass
class Recorded:
    path: str
    model: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float  # time.monotonic() when the request's body had arrived
    disconnected: bool = False  # the client went away before its answer was complete
    content_chunks: int = 0  # content frames of a stream sent so far (a slow stream holds them back)


# -- the providers' error bodies (status -> error.type, error.code, message) --------------------
_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", "context_length_exceeded", "This model's maximum context length is 128000 "
          "tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: test. You can find your API "
          "key at https://platform.openai.com/account/api-keys."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    # real 429s carry the limit that was hit as the type ("requests" or "tokens")
    429: ("requests", "rate_limit_exceeded", "Rate limit reached on requests per min (RPM): Limit 3, Used 3, "
          "Requested 1. Please try again in 20s."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
_ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),  # Anthropic's own status for an overloaded API
}


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or a list of parts with `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def count_tokens(text: str) -> int:
    """The server's token count: runs of word characters and single punctuation marks."""
    return len(_TOKEN.findall(text))


def _chunks(text: str) -> list[str]:
    pieces = re.findall(r"\s*\S+\s*", text) or ([text] if text else [])
    return ["".join(pieces[i : i + _WORDS_PER_CHUNK]) for i in range(0, len(pieces), _WORDS_PER_CHUNK)]


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` unless `event` fires first; True if it fired."""
    if seconds > 0:
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
    return event.is_set()


async def _watch(receive: Receive, gone: asyncio.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


async def _send_json(send: Send, code: int, body: object, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": code, "headers": head})
    await send({"type": "http.response.body", "body": data})


async def _drop(send: Send, gone: asyncio.Event) -> None:
    """Close the TCP connection with the answer unfinished: no last chunk, no chunked terminator.

    uvicorn's ASGI `send` is a method of its h11 request cycle, which holds the transport. close()
    flushes what was sent, then FIN; the client reads the chunks it got, then a truncated body.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:  # another server: raising makes uvicorn close it too (or answer 500 if nothing was sent)
        raise ConnectionAbortedError("fault server: cut the connection")
    transport.close()
    # connection_lost marks the cycle disconnected, so uvicorn neither logs the unfinished answer nor sends a 500
    await _wait(gone, 5.0)


class FaultServer:
    """The server; `default_text` may hold `{prompt}`: the last user message's first 40 characters."""

    def __init__(self, *, default_text: str = "Answer to: {prompt}", chunk_delay: float = 0.0) -> None:
        self.default_text = default_text
        self.chunk_delay = chunk_delay
        self.requests: list[Recorded] = []
        self.port = 0
        self._scripts: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._live: set[asyncio.BaseTransport] = set()  # connections with an answer under way

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> FaultServer:
        """Serve on 127.0.0.1 and a free port; returns once the port accepts connections."""
        # IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off only for sockets that say TCP, and
        # with it on every answer (headers, then body) waits ~40 ms for the client's delayed ACK
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        # log_config=None: leave the test process's logging alone; graceful shutdown bounded for a live hang
        config = uvicorn.Config(self._asgi, interface="asgi3", http="h11", loop="asyncio", lifespan="off",
                                log_config=None, timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name=f"fault-server-{self.port}")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"fault server did not start on port {self.port}")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            with self._lock:  # end live hangs and slow streams now, rather than after uvicorn's graceful timeout
                loop, live = self._loop, list(self._live)
            for transport in live:
                if loop is not None:
                    loop.call_soon_threadsafe(transport.close)
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and inspection --------------------------------------------------------------------
    def script(self, model: str, *faults: Fault) -> None:
        """Queue behaviours for `model`, one per request in order; an empty queue answers normally."""
        with self._lock:
            self._scripts.setdefault(model, deque()).extend(faults)

    def reset(self) -> None:
        with self._lock:
            self._scripts.clear()
            self.requests.clear()

    def requests_for(self, model: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.model == model]

    @property
    def disconnects(self) -> int:
        with self._lock:
            return sum(r.disconnected for r in self.requests)

    def wait_for_disconnects(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until `count` clients have gone away mid-answer (the server notices asynchronously)."""
        deadline = time.monotonic() + timeout
        while self.disconnects < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _next(self, model: str) -> Fault:
        with self._lock:
            queue = self._scripts.get(model)
            return queue.popleft() if queue else Ok()

    # -- HTTP ------------------------------------------------------------------------------------
    async def _asgi(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw, more = raw + message.get("body", b""), message.get("more_body", False)
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = None
        body = parsed if isinstance(parsed, dict) else {}
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["path"] == fault_transcripts.PATH and scope["method"] == "POST":
            return await self._transcribe(send, headers, raw)
        rec = Recorded(scope["path"], str(body.get("model", "")), body, headers, time.monotonic())
        with self._lock:
            self.requests.append(rec)

        if scope["method"] == "GET" and scope["path"] == "/v1/models":
            with self._lock:
                names = ["fault-model", *self._scripts]
            data = [{"id": n, "object": "model", "created": 0, "owned_by": "fault-server"} for n in names]
            return await _send_json(send, 200, {"object": "list", "data": data})
        proto = _PATHS.get(scope["path"]) if scope["method"] == "POST" else None
        if proto is None:
            return await self._error(send, "openai", Status(404, message=f"Unknown path {scope['path']}", code_name=""))
        if parsed is None or not rec.model:
            missing = Status(400, message="you must provide a model parameter", code_name="")
            return await self._error(send, proto, missing)

        fault = self._next(rec.model)
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch(receive, gone))
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        with self._lock:
            self._loop = asyncio.get_running_loop()
            if transport is not None:
                self._live.add(transport)
        try:
            await self._answer(proto, send, rec, fault, gone)
        finally:
            watcher.cancel()
            with self._lock:
                self._live.discard(transport)

    async def _answer(self, proto: Protocol, send: Send, rec: Recorded, fault: Fault, gone: asyncio.Event) -> None:
        if isinstance(fault, Status):
            return await self._error(send, proto, fault)
        if isinstance(fault, Hang) and await _wait(gone, fault.seconds):
            rec.disconnected = True
            return
        streaming = rec.body.get("stream") is True
        if isinstance(fault, Cut) and not streaming:
            return await _drop(send, gone)

        messages = rec.body.get("messages") or []
        last_user = next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        template = fault.text if isinstance(fault, Ok) and fault.text is not None else self.default_text
        text = template.replace("{prompt}", last_user[:40])
        prompt = " ".join([_text_of(rec.body.get("system")), *(_text_of(m.get("content")) for m in messages)])
        given = fault if isinstance(fault, Ok) else Ok()
        usage = (given.input_tokens if given.input_tokens is not None else count_tokens(prompt),
                 given.output_tokens if given.output_tokens is not None else count_tokens(text))
        chunks = _chunks(text)
        delay = fault.chunk_delay if isinstance(fault, Slow) else self.chunk_delay
        rid = f"{next(self._ids):06d}"

        if not streaming:
            if await _wait(gone, delay * len(chunks)):
                rec.disconnected = True
                return
            render = _openai_json if proto == "openai" else _anthropic_json
            return await _send_json(send, 200, render(rid, rec.model, text, usage))

        include_usage = (rec.body.get("stream_options") or {}).get("include_usage") is True
        frames = _openai_frames if proto == "openai" else _anthropic_frames
        head, deltas, tail = frames(rid, rec.model, chunks, usage, include_usage)
        sse = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": sse})
        for frame in head:
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        cut_at = fault.after_chunks if isinstance(fault, Cut) else None
        for i, frame in enumerate(deltas):
            if i == cut_at:
                break
            if await _wait(gone, delay):
                rec.disconnected = True
                return
            await send({"type": "http.response.body", "body": frame, "more_body": True})
            rec.content_chunks += 1
        if cut_at is not None:
            return await _drop(send, gone)
        await send({"type": "http.response.body", "body": b"".join(tail), "more_body": False})

    async def _transcribe(self, send: Send, headers: dict[str, str], raw: bytes) -> None:
        """OpenAI's speech-to-text endpoint (tests/fault_transcripts.py): Heard, Status or Hang per model."""
        form = fault_transcripts.parse_form(headers.get("content-type", ""), raw)
        rec = Recorded(fault_transcripts.PATH, str(form.get("model", "")), form, headers, time.monotonic())
        with self._lock:
            self.requests.append(rec)
        if not rec.model or not isinstance(form.get("file"), dict):
            return await self._error(send, "openai", Status(400, message="model and file are required", code_name=""))
        fault = self._next(rec.model)
        if isinstance(fault, Status):
            return await self._error(send, "openai", fault)
        if isinstance(fault, Hang):
            await asyncio.sleep(fault.seconds)
        answer = fault if isinstance(fault, fault_transcripts.Heard) else fault_transcripts.Heard()
        code, content_type, data = fault_transcripts.response(form, answer)
        head = [(b"content-type", content_type.encode()), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": code, "headers": head})
        await send({"type": "http.response.body", "body": data})

    async def _error(self, send: Send, proto: Protocol, fault: Status) -> None:
        headers: list[tuple[bytes, bytes]] = []
        if fault.retry_after is not None:
            after = fault.retry_after
            value = after if isinstance(after, str) else str(int(after)) if float(after).is_integer() else str(after)
            headers.append((b"retry-after", value.encode()))
        rid = f"req_fault{next(self._ids):06d}"
        if proto == "openai":
            kind, code, message = _OPENAI_ERRORS.get(
                fault.code, ("invalid_request_error" if fault.code < 500 else "server_error", None, "Error"))
            code = code if fault.code_name is None else fault.code_name or None  # "": no code
            kind = "insufficient_quota" if code == "insufficient_quota" else kind
            param = "messages" if code == "context_length_exceeded" else None
            body: dict[str, Any] = {"error": {"message": fault.message or message, "type": kind, "param": param,
                                              "code": code}}
            headers.append((b"x-request-id", rid.encode()))
        else:
            kind, message = _ANTHROPIC_ERRORS.get(
                fault.code, ("invalid_request_error" if fault.code < 500 else "api_error", "Error"))
            body = {"type": "error", "error": {"type": kind, "message": fault.message or message}, "request_id": rid}
            headers.append((b"request-id", rid.encode()))
        await _send_json(send, fault.code, body, headers)


# -- the two wire formats ---------------------------------------------------------------------
def _openai_json(rid: str, model: str, text: str, usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fault{rid}", "object": "chat.completion", "created": int(time.time()), "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                     "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


def _openai_frames(
    rid: str, model: str, chunks: list[str], usage: tuple[int, int], include_usage: bool
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    created = int(time.time())

    def frame(delta: dict[str, Any] | None, finish: str | None = None, tokens: dict[str, int] | None = None) -> bytes:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        chunk: dict[str, Any] = {"id": f"chatcmpl-fault{rid}", "object": "chat.completion.chunk", "created": created,
                                 "model": model, "system_fingerprint": None, "choices": choices}
        if include_usage:  # then every chunk carries usage: null, and one last chunk without choices the figures
            chunk["usage"] = tokens
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    tail = [frame({}, "stop")]
    if include_usage:
        tail.append(frame(None, tokens={"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                        "total_tokens": sum(usage)}))
    tail.append(b"data: [DONE]\n\n")
    return [frame({"role": "assistant", "content": ""})], [frame({"content": c}) for c in chunks], tail


def _anthropic_json(rid: str, model: str, text: str, usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": f"msg_fault{rid}", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def _anthropic_frames(
    rid: str, model: str, chunks: list[str], usage: tuple[int, int], include_usage: bool
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    def event(data: dict[str, Any]) -> bytes:
        return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()

    start = _anthropic_json(rid, model, "", (usage[0], 1))  # the API reports output_tokens 1 at the start
    start.update(content=[], stop_reason=None)
    head = [event({"type": "message_start", "message": start}),
            event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            event({"type": "ping"})]
    deltas = [event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": c}})
              for c in chunks]
    tail = [event({"type": "content_block_stop", "index": 0}),
            event({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                   "usage": {"output_tokens": usage[1]}}),
            event({"type": "message_stop"})]
    return head, deltas, tail
