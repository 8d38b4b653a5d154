"""The gateway's configuration: providers, the model catalogue and the task policies.

One TOML file (`SALESFLOW_LLM_CONFIG`, else `salesflow.toml` in the working directory, else the
built-in defaults below) plus the environment for secrets. A provider whose key is missing is not
configured, and its models drop out of every route; with no keys at all only the local SmolLM2
model is left, which is what `salesflow up` runs offline.

    [providers.openai]
    kind = "openai"                      # openai | anthropic | gemini | openai_compatible | local
    api_key_env = "OPENAI_API_KEY"
    [providers.ollama]
    kind = "openai_compatible"
    base_url = "http://127.0.0.1:11434/v1"

    [[models]]
    provider = "openai"
    model = "gpt-4o"
    context_window = 128000
    input_price_per_mtok = 2.50          # USD per million tokens
    output_price_per_mtok = 10.00
    effective_from = 2024-10-01          # a price change is a new entry with a later date
    quality = 0.90                       # 0..1: what routing ranks models by

    [tasks.chat]
    fallbacks = ["openai/gpt-4o", "anthropic/claude-sonnet-4", "openai/gpt-4o-mini"]
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

PROVIDER_KINDS = ("openai", "anthropic", "gemini", "openai_compatible", "local")
# Google's OpenAI-compatible endpoint: Gemini speaks the chat completions protocol there
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
IMPORTANCE = ("low", "medium", "high", "critical")
COST_SENSITIVITY = ("low", "medium", "high")
TASKS = ("chat", "draft", "summarize", "classify", "compliance", "personality", "script")
LOCAL_MODEL = "SmolLM2-135M-Instruct"
# the context SmolLM2 was trained for (its GGUF's n_ctx_train); llama.cpp is started with it
LOCAL_CONTEXT = 8192
# the most the offline model writes in one free-text answer: on two busy cores SmolLM2-135M writes
# some 10-30 tokens a second. A JSON answer gets the longest its bounded grammar allows instead
# (salesflow/gateway/grammar.py), so it is never cut mid-object
LOCAL_MAX_OUTPUT = 256
# one attempt of the offline model: on two busy cores reading a 1,000-token prompt alone took up to
# 75 s (measured at load 10), and a request waits while the model answers another, so the 30 s of a
# hosted provider would time out every attempt
LOCAL_TIMEOUT = 360.0
# wherever a person could read the local model's words (DESIGN.md decision 8)
OFFLINE_NOTICE = ("Written by SmolLM2-135M, a tiny offline model that only tests the plumbing: "
                  "this is not usable advice.")


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file, the entry and what is wrong."""


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    kind: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    # per attempt; the gateway also caps it by the caller's deadline
    timeout: float = 30.0


@dataclass(frozen=True)
class ModelConfig:
    provider: str
    model: str
    context_window: int
    input_price_per_mtok: float
    output_price_per_mtok: float
    effective_from: date
    quality: float
    # the tiny offline model: its text is labelled wherever a person could read it
    offline: bool = False
    # transcription models only: the answer format asked of /v1/audio/transcriptions (TRANSCRIPTION_FORMATS)
    response_format: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.provider}/{self.model}"

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_price_per_mtok + output_tokens * self.output_price_per_mtok) / 1e6


@dataclass(frozen=True)
class TaskPolicy:
    """How a task is routed. Importance sets the quality a model must reach; complexity (0..1) raises it."""

    task: str
    # the least quality by importance
    min_quality: Mapping[str, float]
    # an explicit fallback chain ("provider/model", best first) used instead of the computed one
    fallbacks: tuple[str, ...] = ()
    max_output_tokens: int = 512
    temperature: float = 0.3


@dataclass(frozen=True)
class RetryConfig:
    attempts_per_model: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    # a Retry-After longer than this moves on to the next model instead of waiting
    max_retry_after: float = 20.0


@dataclass(frozen=True)
class CooldownConfig:
    # consecutive retryable failures of one model that open its cooldown
    failures: int = 3
    seconds: float = 30.0


@dataclass(frozen=True)
class GatewayConfig:
    providers: Mapping[str, ProviderConfig]
    models: tuple[ModelConfig, ...]
    tasks: Mapping[str, TaskPolicy]
    retry: RetryConfig = RetryConfig()
    cooldown: CooldownConfig = CooldownConfig()
    source: str = "built-in defaults"
    # speech-to-text models (OpenAI's /v1/audio/transcriptions protocol), best first; never chat-routed.
    # Priced per million input units: audio seconds for models that bill by duration (whisper-1), tokens
    # for models that report token usage
    transcription_models: tuple[ModelConfig, ...] = ()

    def available_transcription_models(self) -> list[ModelConfig]:
        """The transcription models whose provider is configured, in the configured order."""
        return [m for m in self.transcription_models if m.provider in self.providers]

    def available_models(self) -> list[ModelConfig]:
        """The newest catalogue entry of every model whose provider is configured."""
        newest: dict[str, ModelConfig] = {}
        for m in self.models:
            if m.provider not in self.providers:
                continue
            if m.ref not in newest or m.effective_from > newest[m.ref].effective_from:
                newest[m.ref] = m
        return list(newest.values())

    def offline_only(self) -> bool:
        """Whether no model but the offline one could answer (or none at all): jobs and the assistant
        then bound what they send, since the offline model reads slowly."""
        return all(m.offline for m in self.available_models())

    def model(self, ref: str) -> ModelConfig | None:
        return next((m for m in self.available_models() if m.ref == ref), None)

    def policy(self, task: str) -> TaskPolicy:
        try:
            return self.tasks[task]
        except KeyError:
            raise ConfigError(f"unknown task {task!r}; known: {', '.join(sorted(self.tasks))}") from None


# Public list prices (USD per million tokens) as of their dates; an installation overrides them.
DEFAULT_MODELS: tuple[dict[str, Any], ...] = (
    {"provider": "openai", "model": "gpt-4o", "context_window": 128000, "input_price_per_mtok": 2.50,
     "output_price_per_mtok": 10.00, "effective_from": date(2024, 10, 1), "quality": 0.90},
    {"provider": "openai", "model": "gpt-4o-mini", "context_window": 128000, "input_price_per_mtok": 0.15,
     "output_price_per_mtok": 0.60, "effective_from": date(2024, 7, 18), "quality": 0.70},
    {"provider": "anthropic", "model": "claude-sonnet-4", "context_window": 200000, "input_price_per_mtok": 3.00,
     "output_price_per_mtok": 15.00, "effective_from": date(2025, 5, 22), "quality": 0.92},
    {"provider": "anthropic", "model": "claude-3-5-haiku", "context_window": 200000, "input_price_per_mtok": 0.80,
     "output_price_per_mtok": 4.00, "effective_from": date(2024, 11, 4), "quality": 0.72},
    # Google's list prices for prompts up to 200k tokens (2.5 Pro charges more above), from their GA dates
    {"provider": "gemini", "model": "gemini-2.5-pro", "context_window": 1048576, "input_price_per_mtok": 1.25,
     "output_price_per_mtok": 10.00, "effective_from": date(2025, 6, 17), "quality": 0.91},
    {"provider": "gemini", "model": "gemini-2.5-flash", "context_window": 1048576, "input_price_per_mtok": 0.30,
     "output_price_per_mtok": 2.50, "effective_from": date(2025, 6, 17), "quality": 0.80},
    {"provider": "gemini", "model": "gemini-2.5-flash-lite", "context_window": 1048576,
     "input_price_per_mtok": 0.10, "output_price_per_mtok": 0.40, "effective_from": date(2025, 7, 22),
     "quality": 0.66},
    {"provider": "local", "model": LOCAL_MODEL, "context_window": LOCAL_CONTEXT, "input_price_per_mtok": 0.0,
     "output_price_per_mtok": 0.0, "effective_from": date(2024, 1, 1), "quality": 0.05, "offline": True},
)

# The answer formats of OpenAI's /v1/audio/transcriptions that carry a transcript: verbose_json
# (segments with timestamps; whisper-1, and whisper servers that add a `speaker` per segment),
# diarized_json (segments with a `speaker` each; gpt-4o-transcribe-diarize), json (text and usage;
# gpt-4o-transcribe) and text (the bare transcript)
TRANSCRIPTION_FORMATS = ("verbose_json", "diarized_json", "json", "text")


def transcription_format(model: str) -> str:
    """The format a model is asked for when its entry names none: the diarising model's speakers, OpenAI's
    gpt-4o transcribers' only JSON format, otherwise whisper's segments."""
    if "diarize" in model:
        return "diarized_json"
    return "json" if model.startswith("gpt-") else "verbose_json"


# OpenAI's speech-to-text list prices. The diarising model first: only its answer names speakers, which
# the coaching figures need; it is billed per token (gpt-4o-transcribe's 6 USD per million audio input
# tokens, 10 USD per million output tokens: some 0.006 USD a minute). whisper-1 at 0.006 USD a minute
# (100 USD per million audio seconds) after it.
DEFAULT_TRANSCRIPTION_MODELS: tuple[dict[str, Any], ...] = (
    {"provider": "openai", "model": "gpt-4o-transcribe-diarize", "context_window": 16000,
     "input_price_per_mtok": 6.0, "output_price_per_mtok": 10.0, "effective_from": date(2025, 10, 16),
     "quality": 0.85},
    {"provider": "openai", "model": "whisper-1", "context_window": 1500, "input_price_per_mtok": 100.0,
     "output_price_per_mtok": 0.0, "effective_from": date(2023, 3, 1), "quality": 0.8},
)

# The least quality each task needs by importance. Drafts and compliance reach customers or judge
# what does, so they start higher; summaries and classification are forgiving.
DEFAULT_MIN_QUALITY: dict[str, dict[str, float]] = {
    "chat": {"low": 0.60, "medium": 0.70, "high": 0.85, "critical": 0.90},
    "draft": {"low": 0.65, "medium": 0.70, "high": 0.88, "critical": 0.90},
    "summarize": {"low": 0.50, "medium": 0.60, "high": 0.70, "critical": 0.88},
    "classify": {"low": 0.50, "medium": 0.60, "high": 0.70, "critical": 0.88},
    "compliance": {"low": 0.70, "medium": 0.70, "high": 0.88, "critical": 0.90},
    "personality": {"low": 0.60, "medium": 0.70, "high": 0.85, "critical": 0.90},
    "script": {"low": 0.60, "medium": 0.70, "high": 0.85, "critical": 0.90},
}
DEFAULT_MAX_OUTPUT = {"chat": 700, "draft": 600, "summarize": 400, "classify": 300, "compliance": 400,
                      "personality": 400, "script": 800}


def default_providers(env: Mapping[str, str]) -> dict[str, ProviderConfig]:
    providers: dict[str, ProviderConfig] = {}
    if env.get("OPENAI_API_KEY"):
        providers["openai"] = ProviderConfig("openai", "openai", env.get("OPENAI_BASE_URL"), env["OPENAI_API_KEY"])
    if env.get("ANTHROPIC_API_KEY"):
        providers["anthropic"] = ProviderConfig("anthropic", "anthropic", env.get("ANTHROPIC_BASE_URL"),
                                                env["ANTHROPIC_API_KEY"])
    gemini_key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY")
    if gemini_key:
        providers["gemini"] = ProviderConfig("gemini", "gemini", env.get("GEMINI_BASE_URL") or GEMINI_BASE_URL,
                                             gemini_key)
    local_url = env.get("SALESFLOW_LOCAL_LLM_URL")
    if local_url:
        providers["local"] = ProviderConfig("local", "local", local_url, "local", timeout=LOCAL_TIMEOUT)
    return providers


def _number(where: str, value: Any, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low or (high is not None and
                                                                                        value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{where} must be a number {bound}, not {value!r}")
    return float(value)


def _model(where: str, raw: Mapping[str, Any], *, transcription: bool = False) -> ModelConfig:
    missing = {"provider", "model", "context_window", "input_price_per_mtok", "output_price_per_mtok"} - set(raw)
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(sorted(missing))}")
    effective = raw.get("effective_from", date(2024, 1, 1))
    if isinstance(effective, str):
        try:
            effective = date.fromisoformat(effective)
        except ValueError:
            raise ConfigError(f"{where}.effective_from must be a date (YYYY-MM-DD), not {effective!r}") from None
    if not isinstance(effective, date):
        raise ConfigError(f"{where}.effective_from must be a date (YYYY-MM-DD)")
    response_format = None
    if transcription:
        response_format = raw.get("response_format") or transcription_format(str(raw["model"]))
        if response_format not in TRANSCRIPTION_FORMATS:
            raise ConfigError(f"{where}.response_format must be one of {', '.join(TRANSCRIPTION_FORMATS)}, "
                              f"not {response_format!r}")
    elif "response_format" in raw:
        raise ConfigError(f"{where}: response_format is for [[transcription_models]] only")
    return ModelConfig(
        provider=str(raw["provider"]), model=str(raw["model"]),
        context_window=int(_number(f"{where}.context_window", raw["context_window"], 256)),
        input_price_per_mtok=_number(f"{where}.input_price_per_mtok", raw["input_price_per_mtok"], 0),
        output_price_per_mtok=_number(f"{where}.output_price_per_mtok", raw["output_price_per_mtok"], 0),
        effective_from=effective,
        quality=_number(f"{where}.quality", raw.get("quality", 0.5), 0, 1),
        offline=bool(raw.get("offline", False)),
        response_format=response_format,
    )


def _provider(name: str, raw: Mapping[str, Any], env: Mapping[str, str]) -> ProviderConfig | None:
    kind = raw.get("kind", name)
    if kind not in PROVIDER_KINDS:
        raise ConfigError(f"providers.{name}.kind must be one of {', '.join(PROVIDER_KINDS)}, not {kind!r}")
    key = raw.get("api_key") or (env.get(raw["api_key_env"]) if raw.get("api_key_env") else None)
    if kind in ("openai", "anthropic", "gemini") and not key:
        return None  # not configured here: its models drop out of the routes
    if kind in ("openai_compatible", "local") and not raw.get("base_url"):
        raise ConfigError(f"providers.{name}: base_url is required for kind {kind}")
    timeout = _number(f"providers.{name}.timeout", raw.get("timeout", 30.0), 0.1, 600)
    base_url = raw.get("base_url") or (GEMINI_BASE_URL if kind == "gemini" else None)
    return ProviderConfig(name, kind, base_url, key or "none", timeout)


def parse_config(data: Mapping[str, Any], env: Mapping[str, str], source: str = "built-in defaults") -> GatewayConfig:
    """Build a config from parsed TOML; missing sections take the defaults. Raises ConfigError."""
    providers = default_providers(env)
    for name, raw in (data.get("providers") or {}).items():
        if not isinstance(raw, Mapping):
            raise ConfigError(f"providers.{name} must be a table")
        provider = _provider(name, raw, env)
        if provider is None:
            providers.pop(name, None)
        else:
            providers[name] = provider
    raw_models = data.get("models")
    models = tuple(_model(f"models[{i}]", m) for i, m in enumerate(raw_models if raw_models is not None
                                                                      else DEFAULT_MODELS))
    tasks: dict[str, TaskPolicy] = {t: TaskPolicy(t, DEFAULT_MIN_QUALITY[t], max_output_tokens=DEFAULT_MAX_OUTPUT[t])
                                    for t in TASKS}
    for task, raw in (data.get("tasks") or {}).items():
        base = tasks.get(task) or TaskPolicy(task, DEFAULT_MIN_QUALITY["chat"])
        min_quality = dict(base.min_quality)
        for level, value in (raw.get("min_quality") or {}).items():
            if level not in IMPORTANCE:
                raise ConfigError(f"tasks.{task}.min_quality: unknown importance {level!r}")
            min_quality[level] = _number(f"tasks.{task}.min_quality.{level}", value, 0, 1)
        fallbacks = tuple(raw.get("fallbacks", base.fallbacks))
        known = {m.ref for m in models}
        unknown = [ref for ref in fallbacks if ref not in known]
        if unknown:
            raise ConfigError(f"tasks.{task}.fallbacks names models missing from the catalogue: {', '.join(unknown)}")
        tasks[task] = replace(
            base, min_quality=min_quality, fallbacks=fallbacks,
            max_output_tokens=int(_number(f"tasks.{task}.max_output_tokens",
                                          raw.get("max_output_tokens", base.max_output_tokens), 1, 100000)),
            temperature=_number(f"tasks.{task}.temperature", raw.get("temperature", base.temperature), 0, 2),
        )
    retry = RetryConfig(**(data.get("retry") or {}))
    cooldown = CooldownConfig(**(data.get("cooldown") or {}))
    raw_stt = data.get("transcription_models")
    stt = tuple(_model(f"transcription_models[{i}]", m, transcription=True) for i, m in enumerate(
        raw_stt if raw_stt is not None else DEFAULT_TRANSCRIPTION_MODELS))
    return GatewayConfig(providers, models, tasks, retry, cooldown, source, stt)


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """The configuration from `path`, `SALESFLOW_LLM_CONFIG`, ./salesflow.toml, or the defaults."""
    env = os.environ if env is None else env
    chosen = path or env.get("SALESFLOW_LLM_CONFIG")
    file = Path(chosen) if chosen else Path("salesflow.toml")
    if not file.exists():
        if chosen:
            raise ConfigError(f"{file}: no such LLM config file")
        return parse_config({}, env)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{file}: {exc}") from None
    try:
        return parse_config(data, env, str(file))
    except TypeError as exc:  # an unknown key in [retry] or [cooldown]
        raise ConfigError(f"{file}: {exc}") from None
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
