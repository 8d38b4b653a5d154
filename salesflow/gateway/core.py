"""The gateway: one call from a task to a logged, budgeted, checked answer.

    prepare:  org settings -> system prompt from the registry (sticky A/B) -> PII redaction ->
              route -> reserve the estimated cost (PT402 refuses the call before it is made)
    call:     the fallback chain; per model up to `attempts_per_model` attempts for retryable
              errors, waiting for Retry-After; cooldowns; non-retryable errors stop at once
    finish:   placeholders back to real values -> JSON schema (one corrective retry) ->
              compliance check -> settle (log row, rollups, release) + compliance log + the
              caller's own writes, in one transaction

No transaction is open while a provider is called (DESIGN.md decision 5).

The ledger invariant: every provider call leaves exactly one `llm_requests` row and releases its
reservation, whatever fails after it. Text PostgreSQL cannot store (NUL) is refused before the
reservation; a failing compliance check or caller's store still settles the call (as an error,
in a transaction of its own); settling runs shielded from the caller's cancellation; and a
process killed mid-call leaves a reservation that `salesflow.sweep_llm_reservations` settles
(charged at its reserved amount) once it expires. CPU-bound work (redaction, token counting, the
compliance check) runs in a worker thread, so one pathological text never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from salesflow.db.queries import query
from salesflow.gateway import compliance
from salesflow.gateway.config import OFFLINE_NOTICE, GatewayConfig, ModelConfig
from salesflow.gateway.errors import (
    BudgetExceeded,
    CallFailed,
    GatewayError,
    OutputRejected,
    OutputWithheld,
    StreamCut,
)
from salesflow.gateway.pii import PlaceholderVault, Redactor, StreamRestorer
from salesflow.gateway.prompting import SystemPrompt, resolve_prompt
from salesflow.gateway.providers import ChatMessage, Delta, Provider, ProviderError, Usage, make_provider
from salesflow.gateway.resilience import Cooldowns, backoff
from salesflow.gateway.routing import Route, estimate_complexity, route
from salesflow.gateway.schema import parse_json_answer
from salesflow.gateway.tokens import count_messages, counter_for

log = logging.getLogger(__name__)
# what the whole call may take when the caller gives no deadline
DEFAULT_DEADLINE = 120.0
# the most characters one prompt variable (a lead's notes, a company's description) puts into a prompt
MAX_VARIABLE_CHARS = 4000


def refuse_unstorable(text: str, where: str) -> None:
    """GatewayError 400 for text PostgreSQL cannot store (a NUL character), before anything is spent on it."""
    if "\x00" in text:
        raise GatewayError("bad_request", f"{where} contains a NUL character (\\u0000), which cannot be stored",
                           status=400)


def _bounded(variables: Mapping[str, Any]) -> dict[str, Any]:
    """Prompt variables with every string cut to MAX_VARIABLE_CHARS (marked with an ellipsis)."""
    def cut(value: Any) -> Any:
        if isinstance(value, str) and len(value) > MAX_VARIABLE_CHARS:
            return value[: MAX_VARIABLE_CHARS - 1] + "…"
        if isinstance(value, Mapping):
            return {k: cut(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [cut(v) for v in value]
        return value
    return {key: cut(value) for key, value in variables.items()}


@dataclass(frozen=True)
class PromptCall:
    """A product or registry prompt as the system message: `name` without language suffix."""

    name: str
    variables: Mapping[str, Any]
    language: str = "en"
    # whom the A/B assignment sticks to: a lead id, else the user
    subject_id: str | None = None
    # one version, bypassing labels and experiments (a prompt test suite runs against it)
    version: int | None = None


@dataclass(frozen=True)
class LLMCall:
    org_id: UUID
    task: str
    messages: Sequence[ChatMessage] = ()
    prompt: PromptCall | None = None
    user_id: UUID | None = None
    feature: str | None = None
    importance: str = "medium"
    cost_sensitivity: str = "medium"
    max_output_tokens: int | None = None
    temperature: float | None = None
    # what the answer is for, for the compliance check ("sales", "marketing", "chat", ...); None: no check
    purpose: str | None = None
    # seconds the whole call may take, all attempts and waits included (keep it below a job's lease)
    deadline: float | None = None
    conversation_id: UUID | None = None


@dataclass(frozen=True)
class LLMResult:
    text: str
    data: Any
    request_id: int
    provider: str
    model: str
    usage: Usage
    fallback_hops: int
    offline_model: bool
    compliance: compliance.ComplianceResult | None

    @property
    def notice(self) -> str | None:
        """What a person reading the text must be told (the offline model's label)."""
        return OFFLINE_NOTICE if self.offline_model else None


@dataclass(frozen=True)
class Attempting:
    """Stream event: an attempt with this model starts."""

    model: ModelConfig


@dataclass(frozen=True)
class Token:
    """Stream event: text for the reader, placeholders already restored."""

    text: str


# where the gateway gets a database connection (as the database owner) for its own statements
Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]
# the caller's own writes in the settling transaction: (connection, request_id, answer text, the answer's
# parsed JSON when its prompt has a schema (else None), answering model)
Store = Callable[[psycopg.AsyncConnection[Any], int, str, Any, ModelConfig], Awaitable[None]]


@dataclass
class _Prepared:
    call: LLMCall
    messages: list[ChatMessage]
    vault: PlaceholderVault
    route: Route
    prompt: SystemPrompt | None
    rules: tuple[compliance.Rule, ...]
    max_output_tokens: int
    temperature: float
    reservation_id: UUID | None
    deadline_at: float
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.monotonic)
    first_token: float | None = None
    hops: int = 0
    billed_in: int = 0
    billed_out: int = 0
    estimated: bool = False
    last_model: ModelConfig | None = None

    @property
    def model(self) -> ModelConfig:
        """The model of the last attempt (the one that answered, on success)."""
        return self.last_model or self.route.chain[0]

    def bill(self, usage: Usage) -> None:
        self.billed_in += usage.input_tokens
        self.billed_out += usage.output_tokens
        self.estimated = self.estimated or usage.estimated


class Gateway:
    """Calls providers for the worker and the API. Owns its providers and cooldown state; shares a pool."""

    def __init__(self, config: GatewayConfig, pool: AsyncConnectionPool | Connect,
                 providers: Mapping[str, Provider] | None = None) -> None:
        """`pool`: the API's pool, or a function giving a connection (the worker passes its job's)."""
        self.config = config
        self.connect: Connect = pool.connection if isinstance(pool, AsyncConnectionPool) else pool
        self.providers = dict(providers) if providers is not None else {
            name: make_provider(p) for name, p in config.providers.items()}
        self.cooldowns = Cooldowns(config.cooldown)
        # how the gateway waits between retries; tests replace it to see the waits without taking them
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._background: set[asyncio.Task[Any]] = set()
        self._synced = False

    async def aclose(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for provider in self.providers.values():
            await provider.aclose()

    async def sync_catalogue(self) -> None:
        """Write the configured prices to salesflow.llm_models, so the log prices what routing priced."""
        async with self.connect() as conn, conn.transaction():
            for m in (*self.config.models, *self.config.transcription_models):
                await conn.execute(query("sync_model"), {
                    "provider": m.provider, "model": m.model, "effective_from": m.effective_from,
                    "context_window": m.context_window, "input_price_per_mtok": m.input_price_per_mtok,
                    "output_price_per_mtok": m.output_price_per_mtok})
        self._synced = True

    # -- prepare ------------------------------------------------------------------------------------
    async def _prepare(self, call: LLMCall) -> _Prepared:
        for message in call.messages:
            refuse_unstorable(message.content, f"a {message.role} message")
        if not self._synced:
            await self.sync_catalogue()
        async with self.connect() as conn:
            cur = conn.cursor(row_factory=dict_row)
            row = await (await cur.execute(query("org_ai_settings"), {"org_id": call.org_id})).fetchone()
            if row is None:
                raise GatewayError("not_found", f"organization {call.org_id} not found", status=404)
            settings = row["settings"] or {}
            try:
                # compiling an organisation's own patterns is CPU work too: off the event loop
                redactor, rules = await asyncio.to_thread(lambda: (Redactor.from_settings(settings.get("pii")),
                                                                   compliance.usable_rules(settings.get("compliance"))))
            except ValueError as exc:
                raise GatewayError("bad_settings", f"the organisation's AI settings are invalid: {exc}",
                                   status=422) from None
            prompt = None
            if call.prompt is not None:
                prompt = await resolve_prompt(conn, call.org_id, call.prompt.name, call.prompt.language,
                                              _bounded(call.prompt.variables), call.prompt.subject_id,
                                              version=call.prompt.version)
            policy = self.config.policy(call.task)
            max_out = call.max_output_tokens or (prompt.max_tokens if prompt and prompt.max_tokens else
                                                 policy.max_output_tokens)
            temperature = call.temperature if call.temperature is not None else (
                prompt.temperature if prompt and prompt.temperature is not None else policy.temperature)
            vault = PlaceholderVault()
            messages = ([ChatMessage("system", prompt.text)] if prompt else []) + list(call.messages)
            if not any(m.role == "user" for m in messages):
                raise GatewayError("bad_request", "a call needs at least one user message", status=400)

            def redact_and_count() -> tuple[list[ChatMessage], int]:
                redacted = [ChatMessage(m.role, redactor.redact(m.content, vault)) for m in messages]
                return redacted, count_messages(counter_for(False), redacted)

            messages, input_tokens = await asyncio.to_thread(redact_and_count)
            complexity = estimate_complexity((m.content for m in messages if m.role == "user"),
                                             structured=bool(prompt and prompt.output_schema),
                                             turns=sum(m.role != "system" for m in messages))
            allowed = (settings.get("routing") or {}).get("providers")
            exclude = [m.ref for m in self.config.available_models() if allowed and m.provider not in allowed]
            try:
                chosen = route(self.config, call.task, call.importance, call.cost_sensitivity, complexity,
                               min_context=input_tokens + max_out, exclude=exclude)
            except ValueError as exc:
                raise GatewayError("no_route", str(exc), status=400) from None
            # the dearest model that may answer, so the reservation covers any fallback
            estimate = max(m.cost(input_tokens, max_out) for m in chosen.chain)
            try:
                async with conn.transaction():
                    reserved = await (await conn.execute(query("reserve_budget"), {
                        "org_id": call.org_id, "user_id": call.user_id, "feature": call.feature,
                        "estimated_cost": round(estimate, 6)})).fetchone()
            except psycopg.Error as exc:
                if exc.sqlstate == "PT402":
                    raise BudgetExceeded(exc.diag.message_primary or "budget exceeded") from None
                raise
        deadline = call.deadline if call.deadline is not None else DEFAULT_DEADLINE
        return _Prepared(call, messages, vault, chosen, prompt, rules, max_out, temperature,
                         reserved[0] if reserved else None, time.monotonic() + deadline)

    # -- the attempt loop -----------------------------------------------------------------------
    async def _run_chain(self, p: _Prepared, attempt: Callable[[ModelConfig, float], Awaitable[Any]]) -> Any:
        """Run `attempt(model, timeout)` along the chain until one succeeds; raise CallFailed if none."""
        errors: list[str] = []
        dead_providers: set[str] = set()
        last: ProviderError | None = None
        for index, model in enumerate(p.route.chain):
            if model.provider in dead_providers:
                continue
            if not self.cooldowns.available(model.ref):
                errors.append(f"{model.ref}: cooling down ({self.cooldowns.remaining(model.ref):.0f} s left)")
                continue
            for n in range(1, self.config.retry.attempts_per_model + 1):
                remaining = p.deadline_at - time.monotonic()
                if remaining <= 0.05:
                    raise CallFailed("timeout", "the call ran out of time: " + "; ".join(errors or ["no attempt"]),
                                     status=504)
                provider = self.providers[model.provider]
                p.hops, p.last_model = index, model
                try:
                    result = await attempt(model, min(provider.config.timeout, remaining))
                except ProviderError as exc:
                    last = exc
                    if exc.partial is not None:
                        p.bill(Usage(exc.partial.input_tokens, exc.partial.output_tokens, estimated=True))
                    errors.append(f"{model.ref}: {exc}")
                    if not exc.retryable:
                        if exc.kind == "auth" and not exc.final:
                            # the key is wrong for this provider; another provider may still answer
                            dead_providers.add(model.provider)
                            break
                        raise CallFailed(exc.kind, f"{model.ref}: {exc} (not retried)",
                                         status=400 if exc.kind in ("context_length", "bad_request") else 502) \
                            from None
                    if self.cooldowns.failure(model.ref, exc.retry_after):
                        break
                    if n == self.config.retry.attempts_per_model:
                        break
                    if exc.retry_after is not None and exc.retry_after > self.config.retry.max_retry_after:
                        break
                    delay = backoff(self.config.retry, n, exc.retry_after)
                    if time.monotonic() + delay >= p.deadline_at:
                        break
                    await self.sleep(delay)
                    continue
                self.cooldowns.success(model.ref)
                return result
        kind = last.kind if last else "unavailable"
        status = 504 if kind == "timeout" else 503 if last is None else 502
        raise CallFailed(kind, "every model failed: " + "; ".join(errors or ["none available"]), status=status)

    # -- finishing ------------------------------------------------------------------------------
    def _settle_params(self, p: _Prepared, status: str, error: str | None) -> dict[str, Any]:
        call, model, prompt = p.call, p.model, p.prompt
        return {
            "reservation_id": p.reservation_id, "org_id": call.org_id, "task": call.task,
            "provider": model.provider, "model": model.model, "started_at": p.started_at, "status": status,
            "input_tokens": p.billed_in, "output_tokens": p.billed_out,
            "latency_ms": int((time.monotonic() - p.started) * 1000),
            "time_to_first_token_ms": int((p.first_token - p.started) * 1000) if p.first_token else None,
            "user_id": call.user_id, "feature": call.feature, "error": error[:4000] if error else None,
            "fallback_hops": p.hops,
            "prompt_name": prompt.name if prompt else None, "prompt_version": prompt.version if prompt else None,
            "experiment_id": prompt.experiment_id if prompt else None,
            "experiment_label": prompt.label if prompt and prompt.experiment_id else None,
            "subject_id": prompt.subject_id if prompt else None,
            "baseline_provider": p.route.baseline.provider, "baseline_model": p.route.baseline.model,
            "usage_estimated": p.estimated, "conversation_id": call.conversation_id,
        }

    async def _settle(self, p: _Prepared, status: str, error: str | None = None, *, text: str | None = None,
                      data: Any = None, verdict: compliance.ComplianceResult | None = None,
                      store: Store | None = None) -> int:
        """Log the call (and its compliance verdict, and the caller's writes) in one transaction.

        Runs shielded: a caller cancelled meanwhile does not stop it. When that transaction fails
        (the caller's store, the compliance log), the call is still settled, as an error, in a
        transaction of its own, and GatewayError 'store_failed' is raised with its request id.
        """
        task = asyncio.ensure_future(self._settle_once(p, status, error, text=text, data=data, verdict=verdict,
                                                       store=store))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return await asyncio.shield(task)

    async def _settle_once(self, p: _Prepared, status: str, error: str | None, *, text: str | None,
                           data: Any, verdict: compliance.ComplianceResult | None, store: Store | None) -> int:
        try:
            return await self._settle_tx(p, status, error, text=text, data=data, verdict=verdict, store=store)
        except Exception as exc:  # noqa: BLE001 - whatever broke, the call must still be on the ledger
            if store is None and verdict is None:
                raise
            log.exception("settling request failed; settling it as an error without the caller's writes")
            reason = f"the answer could not be stored: {type(exc).__name__}: {exc}"
            request_id = await self._settle_tx(p, "error", reason)
            raise GatewayError("store_failed", "the answer could not be stored; the call is logged as failed",
                               status=500, request_id=request_id) from None

    async def _settle_tx(self, p: _Prepared, status: str, error: str | None, *, text: str | None = None,
                         data: Any = None, verdict: compliance.ComplianceResult | None = None,
                         store: Store | None = None) -> int:
        async with self.connect() as conn, conn.transaction():
            row = await (await conn.execute(query("settle_request"), self._settle_params(p, status, error))
                         ).fetchone()
            request_id = int(row[0])
            if verdict is not None and text is not None:
                await conn.execute(query("log_compliance"), {
                    "org_id": p.call.org_id, "request_id": request_id, "user_id": p.call.user_id,
                    "task": p.call.task, "purpose": p.call.purpose, "passed": verdict.passed,
                    "findings": Jsonb(verdict.log_findings()), "rules_version": verdict.rules_version,
                    "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
                    "action": "delivered" if verdict.passed else "withheld"})
            if store is not None and status == "ok" and (verdict is None or verdict.passed):
                await store(conn, request_id, text or "", data, p.model)
        return request_id

    def _settle_later(self, p: _Prepared, status: str, error: str,
                      spent: Callable[[], Usage] | None = None) -> None:
        """Settle from a cancelled task: in a task of its own, so the cancellation cannot stop it.

        `spent` estimates what the provider billed so far; it counts tokens, so it runs off the loop.
        """
        async def settle() -> int:
            if spent is not None:
                p.bill(await asyncio.to_thread(spent))
            return await self._settle(p, status, error)

        task = asyncio.get_running_loop().create_task(settle())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _finish(self, p: _Prepared, text: str, data: Any, store: Store | None) -> LLMResult:
        """Check the answer, log it with its verdict and the caller's writes; withhold it if blocked."""
        verdict = None
        if p.call.purpose is not None:
            language = p.call.prompt.language if p.call.prompt else None
            try:
                verdict = await asyncio.to_thread(compliance.check, text, purpose=p.call.purpose,
                                                  language=language, rules=p.rules)
            except Exception as exc:
                request_id = await self._settle(p, "error", f"the compliance check failed: {exc}")
                raise GatewayError("compliance_failed", "the compliance check failed; the answer is withheld",
                                   status=500, request_id=request_id) from exc
        request_id = await self._settle(p, "ok", text=text, data=data, verdict=verdict, store=store)
        if verdict is not None and not verdict.passed:
            raise OutputWithheld(verdict, request_id)
        return LLMResult(text, data, request_id, p.model.provider, p.model.model,
                         Usage(p.billed_in, p.billed_out, p.estimated), p.hops, p.model.offline, verdict)

    # -- the two ways to call ------------------------------------------------------------------------
    async def complete(self, call: LLMCall, *, store: Store | None = None) -> LLMResult:
        """One answer, whole. Raises BudgetExceeded, CallFailed, OutputRejected or OutputWithheld."""
        p = await self._prepare(call)
        messages = list(p.messages)
        schema = p.prompt.output_schema if p.prompt else None

        async def attempt(model: ModelConfig, timeout: float) -> Any:
            return await self.providers[model.provider].complete(
                model, messages, max_tokens=p.max_output_tokens, temperature=p.temperature, timeout=timeout,
                schema=schema)

        try:
            data: Any = None
            for round_ in (1, 2):
                completion = await self._run_chain(p, attempt)
                p.bill(completion.usage)
                text = p.vault.restore(completion.text)
                if schema is None:
                    break
                data, problem = parse_json_answer(completion.text, schema)
                if problem is None:
                    data = p.vault.restore_data(data)
                    break
                if round_ == 2:
                    request_id = await self._settle(p, "error", f"the answer failed its JSON schema twice: {problem}")
                    raise OutputRejected(f"the answer failed its JSON schema twice: {problem}", request_id)
                # one corrective retry: show the model its answer and what was wrong with it
                messages += [ChatMessage("assistant", completion.text),
                             ChatMessage("user", f"That answer is invalid: {problem}. Reply with one JSON object "
                                                 "only, matching the required shape, and nothing else.")]
        except GatewayError as exc:
            if isinstance(exc, CallFailed):
                exc.request_id = await self._settle(p, "timeout" if exc.kind == "timeout" else "error", str(exc))
            raise
        except asyncio.CancelledError:
            self._settle_later(p, "cancelled", "the caller gave up")
            raise
        return await self._finish(p, text, data, store)

    async def stream(self, call: LLMCall, *, store: Store | None = None
                     ) -> AsyncIterator[Attempting | Token | LLMResult]:
        """Attempting and Token events as the answer arrives, then the LLMResult once it is logged.

        Before the first token a failed attempt is retried or falls back like `complete`; after it,
        a cut stream raises StreamCut and nothing is stored. Closing the iterator (a client gone)
        closes the provider's response and logs the call as cancelled.
        """
        p = await self._prepare(call)
        restorer = StreamRestorer(p.vault)
        parts: list[str] = []
        queue: asyncio.Queue[Any] = asyncio.Queue()

        async def attempt(model: ModelConfig, timeout: float) -> Usage:
            await queue.put(Attempting(model))
            usage: Usage | None = None
            produced = len(parts)
            try:
                async for item in self.providers[model.provider].stream(
                        model, p.messages, max_tokens=p.max_output_tokens, temperature=p.temperature,
                        timeout=timeout):
                    if isinstance(item, Delta):
                        if p.first_token is None:
                            p.first_token = time.monotonic()
                        parts.append(item.text)
                        await queue.put(Token(item.text))
                    else:
                        usage = item
            except ProviderError as exc:
                if len(parts) > produced:
                    # the reader has seen part of this answer: another attempt would splice two answers
                    raise ProviderError("stream_cut", f"the stream broke after {len(parts) - produced} pieces: {exc}",
                                        partial=exc.partial, final=True) from exc
                raise
            assert usage is not None
            return usage

        runner = asyncio.ensure_future(self._run_chain(p, attempt))
        delivered = False
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, runner}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    events = [getter.result()]
                else:
                    getter.cancel()
                    events = []
                    while not queue.empty():  # tokens that arrived with the end
                        events.append(queue.get_nowait())
                for event in events:
                    if isinstance(event, Token):
                        delivered = True
                        text = restorer.feed(event.text)
                        if text:
                            yield Token(text)
                    else:
                        yield event
                if getter not in done:
                    usage: Usage = runner.result()
                    break
        except CallFailed as exc:
            exc.request_id = await self._settle(p, "timeout" if exc.kind == "timeout" else "error", str(exc))
            if delivered or exc.kind == "stream_cut":
                raise StreamCut(str(exc), exc.request_id) from None
            raise
        except (asyncio.CancelledError, GeneratorExit):
            runner.cancel()
            # what was read and written so far is billed by the provider: count it
            read = "".join(parts)

            def spent() -> Usage:
                counter = counter_for(p.model.offline)
                return Usage(count_messages(counter, p.messages), counter.count(read), estimated=True)

            self._settle_later(p, "cancelled", f"the caller stopped reading after {len(read)} characters", spent)
            raise
        rest = restorer.flush()
        p.bill(usage)
        if rest:
            try:
                yield Token(rest)
            except GeneratorExit:
                self._settle_later(p, "cancelled", "the caller stopped reading before the last piece")
                raise
        yield await self._finish(p, p.vault.restore("".join(parts)), None, store)
