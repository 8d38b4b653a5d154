"""Speech to text through the gateway's providers: OpenAI's `POST /v1/audio/transcriptions` protocol.

Any provider that speaks it (OpenAI, or an OpenAI-compatible server such as a local whisper server)
is called through the official `openai` SDK (`audio.transcriptions.create`) in the answer format
its model entry names (`response_format`, salesflow/gateway/config.py): `diarized_json` (the
diarising model: a `speaker` on every segment), `verbose_json` (segment timestamps; a whisper server
that diarises adds a `speaker` to each), `json` or `text` (the transcript alone: one segment, no
speaker). Speakers are stored where the provider gives them, never guessed.

The call is a gateway call like every other: the models are the configuration's
`transcription_models` (best first, never routed for chat), the estimated cost is reserved before
the call (PT402 refuses it), retryable errors are retried with backoff and Retry-After along the
chain, and the finished call is settled (one `llm_requests` row, rollups, the reservation released)
in the transaction that stores the transcript. A duration-billed model is charged per audio second
(its catalogue price is per million seconds), a token-billed one per token; an answer without usage
or duration (`text`) is charged the reservation's upper guess, marked as estimated.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg

from salesflow.db.queries import query
from salesflow.gateway.config import ModelConfig
from salesflow.gateway.core import Gateway
from salesflow.gateway.errors import BudgetExceeded, CallFailed, GatewayError
from salesflow.gateway.providers import ProviderError, classify
from salesflow.gateway.resilience import backoff

TASK, FEATURE = "transcribe", "listening.transcribe"
# the reservation's upper guess of a recording's length: 8 kbit/s, the lowest bitrate speech is stored at
BYTES_PER_SECOND_FLOOR = 1000
_LANGUAGES = {"english": "en", "german": "de", "french": "fr", "spanish": "es", "italian": "it", "dutch": "nl",
              "portuguese": "pt", "polish": "pl"}
# the caller's writes in the settling transaction: (connection, request_id, transcript, answering model)
StoreTranscript = Callable[[psycopg.AsyncConnection[Any], int, "Transcript", ModelConfig], Awaitable[None]]


class NoTranscriptionProvider(GatewayError):
    """No configured provider has a transcription model."""

    def __init__(self) -> None:
        super().__init__("no_provider", "no transcription provider is configured: set OPENAI_API_KEY, or add "
                         "[[transcription_models]] for a provider that speaks /v1/audio/transcriptions to the "
                         "LLM configuration", status=503)


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None
    duration: float | None
    segments: list[dict[str, Any]]
    speakers_marked: bool
    input_units: int
    output_units: int
    # the answer reported neither usage nor duration: the units are the reservation's upper guess
    units_estimated: bool = False


def language_code(value: str | None) -> str | None:
    """Whisper names languages ("german"); the store keeps two-letter codes."""
    if not value:
        return None
    lowered = value.strip().lower()
    if len(lowered) == 2 and lowered.isalpha():
        return lowered
    return _LANGUAGES.get(lowered)


def _segment(seg: Any) -> dict[str, Any]:
    text = str(seg.get("text") or "").strip().replace("\x00", "")
    start, end = float(seg.get("start") or 0.0), float(seg.get("end") or 0.0)
    speaker = str(seg.get("speaker") or "").replace("\x00", "").strip()
    return {"start": round(start, 3), "end": round(max(end, start), 3), "speaker": speaker[:100] or None,
            "text": text}


def parse_response(response: Any, audio_bytes: int = 0) -> Transcript:
    """An answer in any of the transcript formats (the SDK's object, its dict, or `text`'s string) as a
    Transcript, with its billing units."""
    if isinstance(response, str):  # response_format text: the transcript and nothing else
        data: dict[str, Any] = {"text": response}
    else:
        data = response.model_dump() if hasattr(response, "model_dump") else dict(response)
    segments = [_segment(seg) for seg in data.get("segments") or [] if isinstance(seg, dict)]
    segments = [s for s in segments if s["text"]]
    segments.sort(key=lambda s: s["start"])
    text = str(data.get("text") or "").replace("\x00", "").strip()
    duration = float(data["duration"]) if data.get("duration") is not None else None
    if not segments and text:
        segments = [{"start": 0.0, "end": duration or 0.0, "speaker": None, "text": text}]
    language = data.get("language")
    if not language and data.get("languages"):  # json of the gpt-4o transcribers: detected languages
        language = (data["languages"][0] or {}).get("code")
    usage = data.get("usage") or {}
    estimated = False
    if usage.get("type") == "tokens":
        units_in, units_out = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    else:
        seconds = usage.get("seconds") if usage.get("type") == "duration" else duration
        if seconds is None:
            seconds, estimated = max(1, audio_bytes // BYTES_PER_SECOND_FLOOR), True
        units_in, units_out = math.ceil(float(seconds)), 0
    return Transcript(text, language_code(language), duration, segments,
                      bool(segments) and all(s["speaker"] for s in segments), units_in, units_out, estimated)


def request_options(model: ModelConfig) -> dict[str, Any]:
    """What `audio.transcriptions.create` is asked for, by the model's answer format."""
    fmt = model.response_format or "verbose_json"
    options: dict[str, Any] = {"response_format": fmt}
    if fmt == "verbose_json":
        options["timestamp_granularities"] = ["segment"]
    elif fmt == "diarized_json":
        # OpenAI refuses a diarising request over 30 s of audio without a chunking strategy
        options["chunking_strategy"] = "auto"
    return options


async def transcribe(gateway: Gateway, *, org_id: UUID, audio: bytes, filename: str, content_type: str,
                     store: StoreTranscript, subject_id: str | None = None, user_id: UUID | None = None,
                     language: str | None = None, deadline: float = 50.0) -> tuple[Transcript, int, ModelConfig]:
    """Transcribe `audio`; returns the transcript, its llm_requests id and the model that heard it.

    Raises NoTranscriptionProvider, BudgetExceeded, or CallFailed (settled, with its request_id)."""
    chain = gateway.config.available_transcription_models()
    if not chain:
        raise NoTranscriptionProvider()
    if not gateway._synced:
        await gateway.sync_catalogue()
    estimate = max(m.cost(max(1, len(audio) // BYTES_PER_SECOND_FLOOR), 0) for m in chain)
    async with gateway.connect() as conn:
        try:
            async with conn.transaction():
                row = await (await conn.execute(query("reserve_budget"), {
                    "org_id": org_id, "user_id": user_id, "feature": FEATURE,
                    "estimated_cost": round(estimate, 6)})).fetchone()
        except psycopg.Error as exc:
            if exc.sqlstate == "PT402":
                raise BudgetExceeded(exc.diag.message_primary or "budget exceeded") from None
            raise
    reservation = row[0] if row else None
    started_at, started = datetime.now(UTC), time.monotonic()
    ends = started + deadline
    errors: list[str] = []
    hops, model = 0, chain[0]

    def params(status: str, error: str | None, units: tuple[int, int] = (0, 0),
               estimated: bool = False) -> dict[str, Any]:
        return {"reservation_id": reservation, "org_id": org_id, "task": TASK, "provider": model.provider,
                "model": model.model, "started_at": started_at, "status": status, "input_tokens": units[0],
                "output_tokens": units[1], "latency_ms": int((time.monotonic() - started) * 1000),
                "time_to_first_token_ms": None, "user_id": user_id, "feature": FEATURE,
                "error": error[:4000] if error else None, "fallback_hops": hops, "prompt_name": None,
                "prompt_version": None, "experiment_id": None, "experiment_label": None, "subject_id": subject_id,
                "baseline_provider": chain[0].provider, "baseline_model": chain[0].model, "usage_estimated": estimated,
                "conversation_id": None}

    async def settle_failure(kind: str, message: str, status: int) -> CallFailed:
        async with gateway.connect() as conn, conn.transaction():
            request_id = int((await (await conn.execute(query("settle_request"), params(
                "timeout" if kind == "timeout" else "error", message))).fetchone())[0])
        return CallFailed(kind, message, status=status, request_id=request_id)

    for index, candidate in enumerate(chain):
        provider = gateway.providers.get(candidate.provider)
        client = getattr(provider, "client", None)
        if client is None or not hasattr(client, "audio"):
            errors.append(f"{candidate.ref}: its provider does not speak /v1/audio/transcriptions")
            continue
        if not gateway.cooldowns.available(candidate.ref):
            errors.append(f"{candidate.ref}: cooling down")
            continue
        hops, model = index, candidate
        for n in range(1, gateway.config.retry.attempts_per_model + 1):
            remaining = ends - time.monotonic()
            if remaining <= 0.05:
                raise await settle_failure("timeout", "the transcription ran out of time: " + "; ".join(errors),
                                           504)
            try:
                response = await client.audio.transcriptions.create(
                    file=(filename, audio, content_type), model=candidate.model, **request_options(candidate),
                    language=language or None, timeout=min(provider.config.timeout, remaining))  # type: ignore[union-attr]
            except Exception as exc:  # noqa: BLE001 - classify() re-raises what is not a provider's failure
                error: ProviderError = classify(exc)
                errors.append(f"{candidate.ref}: {error}")
                if not error.retryable:
                    if error.kind == "auth":
                        break
                    raise await settle_failure(error.kind, f"{candidate.ref}: {error} (not retried)",
                                               400 if error.kind == "bad_request" else 502) from None
                if gateway.cooldowns.failure(candidate.ref, error.retry_after) or \
                        n == gateway.config.retry.attempts_per_model:
                    break
                delay = backoff(gateway.config.retry, n, error.retry_after)
                if time.monotonic() + delay >= ends:
                    break
                await gateway.sleep(delay)
                continue
            gateway.cooldowns.success(candidate.ref)
            transcript = parse_response(response, len(audio))
            units = (transcript.input_units, transcript.output_units)
            try:
                async with gateway.connect() as conn, conn.transaction():
                    request_id = int((await (await conn.execute(query("settle_request"), params(
                        "ok", None, units, transcript.units_estimated))).fetchone())[0])
                    await store(conn, request_id, transcript, candidate)
            except Exception as exc:  # noqa: BLE001 - the call happened: it must be on the ledger
                async with gateway.connect() as conn, conn.transaction():
                    request_id = int((await (await conn.execute(query("settle_request"), params(
                        "error", f"the transcript could not be stored: {type(exc).__name__}: {exc}", units,
                        transcript.units_estimated))
                                      ).fetchone())[0])
                raise GatewayError("store_failed", "the transcript could not be stored; the call is logged as failed",
                                   status=500, request_id=request_id) from None
            return transcript, request_id, candidate
    raise await settle_failure("unavailable", "every transcription model failed: " + "; ".join(errors or ["none"]),
                               502)
