"""Providers behind one interface: a chat call, streaming or not, with its token usage.

OpenAI and every OpenAI-compatible server (vLLM, Ollama, llama.cpp, Azure-style deployments) go
through the official `openai` SDK, Anthropic through the official `anthropic` SDK. The SDKs' own
retries are off (`max_retries=0`): the gateway runs the only retry loop, so a Retry-After is
honoured once and a fallback is not delayed by hidden retries. Every SDK error becomes a
ProviderError that says whether trying again can help.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import anthropic
import openai

from salesflow.gateway.config import LOCAL_MAX_OUTPUT, ModelConfig, ProviderConfig
from salesflow.gateway.grammar import bounded_schema, token_bound
from salesflow.gateway.tokens import count_messages, counter_for

ErrorKind = Literal["rate_limit", "server", "timeout", "connection", "stream_cut", "context_length", "auth",
                    "bad_request", "not_found"]
_TRANSPORT_MODULES = frozenset({"httpx", "httpx2", "httpcore", "httpcore2", "h11", "anyio"})
RETRYABLE: frozenset[str] = frozenset({"rate_limit", "server", "timeout", "connection", "stream_cut"})


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    # counted by us (a stream without usage, or a cut one), not reported by the provider
    estimated: bool = False


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    finish_reason: str | None


@dataclass(frozen=True)
class Delta:
    """A piece of a streamed answer."""

    text: str


class ProviderError(Exception):
    """One failed attempt: what kind, whether another attempt can help, and how long to wait first."""

    def __init__(self, kind: ErrorKind, message: str, *, status: int | None = None,
                 retry_after: float | None = None, partial: Usage | None = None, final: bool = False) -> None:
        super().__init__(message)
        # no further attempt may be made, whatever the kind (a stream the reader has partly seen)
        self.final = final
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        # tokens a failed stream had already produced (they are billed)
        self.partial = partial

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE and not self.final


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` as seconds or an HTTP date."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _status_kind(status: int, message: str, code: str | None) -> ErrorKind:
    if status in (408, 409, 429):
        return "rate_limit" if status == 429 else "server"
    if status >= 500:
        return "server"
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    lowered = message.lower()
    if code == "context_length_exceeded" or "context length" in lowered or "context window" in lowered \
            or "too many tokens" in lowered or "prompt is too long" in lowered:
        return "context_length"
    return "bad_request"


def classify(exc: Exception) -> ProviderError:
    """An SDK exception as a ProviderError (either SDK; both share the same shape)."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APITimeoutError | anthropic.APITimeoutError):
        return ProviderError("timeout", "the provider did not answer in time")
    if isinstance(exc, openai.APIStatusError | anthropic.APIStatusError):
        body = exc.body if isinstance(exc.body, Mapping) else {}
        error = body.get("error", body) if isinstance(body, Mapping) else {}
        code = error.get("code") if isinstance(error, Mapping) else None
        message = (error.get("message") if isinstance(error, Mapping) else None) or str(exc)
        kind = _status_kind(exc.status_code, str(message), code if isinstance(code, str) else None)
        return ProviderError(kind, f"HTTP {exc.status_code}: {str(message)[:300]}", status=exc.status_code,
                             retry_after=parse_retry_after(exc.response.headers))
    if isinstance(exc, openai.APIConnectionError | anthropic.APIConnectionError):
        return ProviderError("connection", f"connection failed: {str(exc)[:200]}")
    # a transport error while reading a stream (the connection dropped mid-way): the Anthropic SDK
    # lets its HTTP library's error through unwrapped
    if type(exc).__module__.split(".")[0] in _TRANSPORT_MODULES:
        return ProviderError("stream_cut", f"the answer stopped mid-way: {type(exc).__name__}: {str(exc)[:200]}")
    # anything else is a bug here, not the provider's failure: never retried, never hidden
    raise exc


class Provider:
    """One configured provider; `model` is a catalogue entry of this provider."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    async def complete(self, model: ModelConfig, messages: Sequence[ChatMessage], *, max_tokens: int,
                       temperature: float, timeout: float, schema: Mapping[str, Any] | None = None) -> Completion:
        """One whole answer; `schema`: the JSON Schema the answer must match (None: free text)."""
        raise NotImplementedError

    def stream(self, model: ModelConfig, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float,
               timeout: float) -> AsyncIterator[Delta | Usage]:
        """Deltas as they arrive, then exactly one Usage. Raises ProviderError; closing it stops the call."""
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class OpenAIProvider(Provider):
    """OpenAI, and any server speaking its chat completions protocol (the local llama.cpp among them)."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self.client = openai.AsyncOpenAI(api_key=config.api_key or "none", base_url=config.base_url,
                                         max_retries=0, timeout=config.timeout)

    async def complete(self, model: ModelConfig, messages: Sequence[ChatMessage], *, max_tokens: int,
                       temperature: float, timeout: float, schema: Mapping[str, Any] | None = None) -> Completion:
        if self.config.kind == "local":
            return await self._complete_local(model, messages, max_tokens=max_tokens, temperature=temperature,
                                              timeout=timeout, schema=schema)
        extra: dict[str, Any] = {}
        if schema is not None and self.config.kind == "openai":
            extra["response_format"] = {"type": "json_object"}
        try:
            response = await self.client.chat.completions.create(
                model=model.model, messages=[{"role": m.role, "content": m.content} for m in messages],
                max_tokens=max_tokens, temperature=temperature, timeout=timeout, **extra)
        except Exception as exc:
            raise classify(exc) from exc
        choice = response.choices[0] if response.choices else None
        text = (choice.message.content if choice else None) or ""
        if response.usage is not None:
            usage = Usage(response.usage.prompt_tokens, response.usage.completion_tokens)
        else:
            usage = await asyncio.to_thread(self._estimate, model, messages, [text])
        return Completion(text, usage, choice.finish_reason if choice else None)

    async def _complete_local(self, model: ModelConfig, messages: Sequence[ChatMessage], *, max_tokens: int,
                              temperature: float, timeout: float, schema: Mapping[str, Any] | None) -> Completion:
        """The local llama.cpp server: streamed internally, its grammar held to the schema.

        llama-cpp-python's server computes a whole (non-streamed) answer in a worker thread that a
        client's disconnect does not stop, so its only slot stays busy after a timeout. A streamed
        request is stopped at the next token once the client has gone: streaming and closing the
        response frees the slot. `timeout` bounds the whole answer (the SDK's bounds each read).
        """
        parts: list[str] = []
        finish: str | None = None
        usage: Usage | None = None
        extra: dict[str, Any] = {}
        limit = min(max_tokens, LOCAL_MAX_OUTPUT)
        if schema is not None:
            # llama.cpp compiles the schema into a grammar: the answer is JSON of this shape by construction,
            # and max_tokens covers the longest answer that grammar allows, so it is never cut mid-object
            extra["response_format"] = {"type": "json_object", "schema": bounded_schema(schema)}
            limit = token_bound(schema) or limit
        stream = None
        try:
            async with asyncio.timeout(timeout):
                stream = await self.client.chat.completions.create(
                    model=model.model, messages=[{"role": m.role, "content": m.content} for m in messages],
                    max_tokens=limit, temperature=temperature, timeout=timeout,
                    stream=True, **extra)
                async for chunk in stream:
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices:
                        if choice.delta and choice.delta.content:
                            parts.append(choice.delta.content)
                        if choice.finish_reason:
                            finish = choice.finish_reason
        except TimeoutError:
            spent = await asyncio.to_thread(self._estimate, model, messages, parts)
            raise ProviderError("timeout", "the provider did not answer in time", partial=spent) from None
        except Exception as exc:
            error = classify(exc)
            error.partial = await asyncio.to_thread(self._estimate, model, messages, parts)
            raise error from exc
        finally:
            if stream is not None:
                await stream.close()
        if usage is None:  # counting tokens is CPU work: off the event loop (DESIGN.md decision 17)
            usage = await asyncio.to_thread(self._estimate, model, messages, parts)
        if finish is None:
            # the server ended the stream without saying why (another request interrupted it): a cut answer
            raise ProviderError("stream_cut", "the answer stopped mid-way: the stream ended without a finish reason",
                                partial=usage)
        return Completion("".join(parts), usage, finish)

    async def stream(self, model: ModelConfig, messages: Sequence[ChatMessage], *, max_tokens: int,
                     temperature: float, timeout: float) -> AsyncIterator[Delta | Usage]:
        parts: list[str] = []
        usage: Usage | None = None
        stream = None
        if self.config.kind == "local":
            max_tokens = min(max_tokens, LOCAL_MAX_OUTPUT)
        try:
            stream = await self.client.chat.completions.create(
                model=model.model, messages=[{"role": m.role, "content": m.content} for m in messages],
                max_tokens=max_tokens, temperature=temperature, timeout=timeout, stream=True,
                stream_options={"include_usage": True})
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        parts.append(choice.delta.content)
                        yield Delta(choice.delta.content)
        except Exception as exc:
            error = classify(exc)
            error.partial = await asyncio.to_thread(self._estimate, model, messages, parts)
            raise error from exc
        finally:
            if stream is not None:
                # closes the HTTP response: a consumer that stops early stops the provider's work
                await stream.close()
        # counting tokens is CPU work: off the event loop (DESIGN.md decision 17)
        yield usage or await asyncio.to_thread(self._estimate, model, messages, parts)

    @staticmethod
    def _estimate(model: ModelConfig, messages: Sequence[ChatMessage], parts: list[str]) -> Usage:
        counter = counter_for(model.offline)
        return Usage(count_messages(counter, messages), counter.count("".join(parts)), estimated=True)

    async def aclose(self) -> None:
        await self.client.close()


def _anthropic_messages(messages: Sequence[ChatMessage]) -> tuple[str | None, list[dict[str, str]]]:
    """Anthropic takes the system prompt apart and wants user/assistant turns alternating."""
    system = "\n\n".join(m.content for m in messages if m.role == "system") or None
    turns: list[dict[str, str]] = []
    for m in messages:
        if m.role == "system":
            continue
        if turns and turns[-1]["role"] == m.role:
            turns[-1]["content"] += "\n\n" + m.content
        else:
            turns.append({"role": m.role, "content": m.content})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "(conversation start)"})
    return system, turns


class AnthropicProvider(Provider):
    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self.client = anthropic.AsyncAnthropic(api_key=config.api_key or "none", base_url=config.base_url,
                                               max_retries=0, timeout=config.timeout)

    async def complete(self, model: ModelConfig, messages: Sequence[ChatMessage], *, max_tokens: int,
                       temperature: float, timeout: float, schema: Mapping[str, Any] | None = None) -> Completion:
        system, turns = _anthropic_messages(messages)
        # this SDK's signature has no temperature; the Messages API still takes it in the body
        extra: dict[str, Any] = {"extra_body": {"temperature": temperature}}
        if system:
            extra["system"] = system
        try:
            response = await self.client.messages.create(model=model.model, messages=turns, max_tokens=max_tokens,
                                                         timeout=timeout, **extra)
        except Exception as exc:
            raise classify(exc) from exc
        text = "".join(block.text for block in response.content if getattr(block, "type", None) == "text")
        return Completion(text, Usage(response.usage.input_tokens, response.usage.output_tokens),
                          response.stop_reason)

    async def stream(self, model: ModelConfig, messages: Sequence[ChatMessage], *, max_tokens: int,
                     temperature: float, timeout: float) -> AsyncIterator[Delta | Usage]:
        system, turns = _anthropic_messages(messages)
        # this SDK's signature has no temperature; the Messages API still takes it in the body
        extra: dict[str, Any] = {"extra_body": {"temperature": temperature}}
        if system:
            extra["system"] = system
        parts: list[str] = []
        input_tokens = output_tokens = 0
        finished = False
        stream = None
        try:
            stream = await self.client.messages.create(model=model.model, messages=turns, max_tokens=max_tokens,
                                                       timeout=timeout, stream=True, **extra)
            async for event in stream:
                if event.type == "message_start":
                    input_tokens = event.message.usage.input_tokens
                elif event.type == "content_block_delta" and getattr(event.delta, "type", None) == "text_delta":
                    parts.append(event.delta.text)
                    yield Delta(event.delta.text)
                elif event.type == "message_delta":
                    output_tokens = event.usage.output_tokens
                elif event.type == "message_stop":
                    finished = True
        except Exception as exc:
            error = classify(exc)
            read = "".join(parts)

            def spent() -> Usage:  # counting is CPU work (and the first count loads a vocabulary): off the loop
                counter = counter_for(False)
                return Usage(input_tokens or count_messages(counter, messages), counter.count(read), estimated=True)

            error.partial = await asyncio.to_thread(spent)
            raise error from exc
        finally:
            if stream is not None:
                await stream.close()
        if not finished:
            raise ProviderError("stream_cut", "the stream ended without message_stop",
                                partial=Usage(input_tokens, output_tokens))
        yield Usage(input_tokens, output_tokens)

    async def aclose(self) -> None:
        await self.client.close()


def make_provider(config: ProviderConfig) -> Provider:
    if config.kind == "anthropic":
        return AnthropicProvider(config)
    return OpenAIProvider(config)
