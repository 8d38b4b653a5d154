"""Gateway overhead: Gateway.complete / Gateway.stream vs. the bare openai SDK, same server, same run.

Two parts, each timing the same request both ways, interleaved call by call so machine noise hits
both paths alike:

1. without a model: the project's fault server (tests/fault_server.py, the OpenAI wire protocol over
   real HTTP, answering at once) as the provider. The difference is what the gateway itself adds.
2. with a model: llama.cpp's server running SmolLM2-135M (the offline model, n_ctx 2048), one short
   sales question, temperature 0, --max-tokens output tokens.

The direct path is `openai.AsyncOpenAI(max_retries=0).chat.completions.create`, non-streaming and
streaming (time to the first content token). The gateway path is `Gateway.complete` / `Gateway.stream`
(time to the first Token event), which also reads the organisation's AI settings, redacts PII,
routes, reserves budget in the database before the call and settles (log row, daily rollup,
release) in one transaction after it. Everything runs against a fresh embedded PostgreSQL (fsync
off). Prints figures and ratios, then the log rows written; exits 1 only if those are not one per
gateway call.

    .venv/bin/python scripts/bench_gateway.py [--calls 30] [--max-tokens 24] [--fault-calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import psycopg
from psycopg_pool import AsyncConnectionPool

from salesflow.gateway.config import LOCAL_MODEL, GatewayConfig, parse_config
from salesflow.gateway.core import Gateway, LLMCall, LLMResult, Token
from salesflow.gateway.local import LocalLLMServer, LocalModelError
from salesflow.gateway.providers import ChatMessage

ROOT = Path(__file__).resolve().parents[1]
# the fault server lives in the test package, which is not installed
sys.path.insert(0, str(ROOT))
from _bench import bench_database, pct  # noqa: E402

from tests.fault_server import FaultServer  # noqa: E402

WARMUPS = 3
FAULT_MODEL = "fault-model"
# ~45 words, no names, numbers or addresses the PII redactor would rewrite: both paths send the same text
PROMPT = ("A prospect with a sales team of about one hundred reps says our Professional plan is too expensive "
          "compared with HubSpot and wants a discount before the end of the quarter. Their finance director "
          "must approve every contract. What is the best next step to keep the deal moving without cutting "
          "the price?")
# what the fault server answers: 28 words, streamed in chunks of three
FAULT_ANSWER = ("Offer a short call with the finance director, show the return on the first year, and propose "
                "a phased rollout instead of a discount on the licence price.")

Timer = Callable[[], Awaitable[float]]


@dataclass
class Samples:
    direct: list[float] = field(default_factory=list)
    gateway: list[float] = field(default_factory=list)


def direct_timers(client: openai.AsyncOpenAI, model: str, max_tokens: int) -> tuple[Timer, Timer]:
    """(whole answer, time to first content token) through the bare SDK, with the gateway's own parameters."""
    messages: list[Any] = [{"role": "user", "content": PROMPT}]

    async def complete() -> float:
        started = time.perf_counter()
        await client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, temperature=0)
        return time.perf_counter() - started

    async def first_token() -> float:
        started = time.perf_counter()
        first: float | None = None
        stream = await client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens,
                                                      temperature=0, stream=True,
                                                      stream_options={"include_usage": True})
        async for chunk in stream:  # read to the end, as the gateway does, so the next call finds an idle server
            if first is None and any(c.delta and c.delta.content for c in chunk.choices):
                first = time.perf_counter() - started
        if first is None:
            raise SystemExit("bench_gateway: error: the direct stream produced no content")
        return first

    return complete, first_token


def gateway_timers(gateway: Gateway, call: LLMCall) -> tuple[Timer, Timer]:
    async def complete() -> float:
        started = time.perf_counter()
        await gateway.complete(call)
        return time.perf_counter() - started

    async def first_token() -> float:
        started = time.perf_counter()
        first: float | None = None
        result: LLMResult | None = None
        async for event in gateway.stream(call):
            if first is None and isinstance(event, Token):
                first = time.perf_counter() - started
            elif isinstance(event, LLMResult):
                result = event
        if first is None or result is None:
            raise SystemExit("bench_gateway: error: the gateway stream produced no content")
        return first

    return complete, first_token


async def interleaved(pairs: dict[str, tuple[Timer, Timer]], calls: int) -> dict[str, Samples]:
    """`calls` timed rounds after WARMUPS untimed ones; every round runs each (direct, gateway) pair once."""
    for _ in range(WARMUPS):
        for direct, gateway in pairs.values():
            await direct()
            await gateway()
    results = {name: Samples() for name in pairs}
    for i in range(calls):
        for name, (direct, gateway) in pairs.items():
            runs = [(results[name].direct, direct), (results[name].gateway, gateway)]
            # the leader alternates, so neither path always runs right after the other's call
            for bucket, timer in runs if i % 2 == 0 else runs[::-1]:
                bucket.append(await timer())
    return results


async def measure(url: str, config: GatewayConfig, org_id: uuid.UUID, base_url: str, model: str, calls: int,
                  max_tokens: int) -> tuple[dict[str, Samples], bool]:
    """Time both paths; also say whether they gave the same answer (the same work for the model)."""
    pool = AsyncConnectionPool(url, min_size=2, max_size=4, open=False)
    await pool.open()
    gateway = Gateway(config, pool)
    client = openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0)
    call = LLMCall(org_id, "chat", [ChatMessage("user", PROMPT)], max_output_tokens=max_tokens, temperature=0)
    try:
        direct_complete, direct_first = direct_timers(client, model, max_tokens)
        gateway_complete, gateway_first = gateway_timers(gateway, call)
        results = await interleaved({"complete": (direct_complete, gateway_complete),
                                     "stream": (direct_first, gateway_first)}, calls)
        answer = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}],
                                                      max_tokens=max_tokens, temperature=0)
        through = await gateway.complete(call)
        same = (answer.choices[0].message.content or "") == through.text
        return results, same
    finally:
        await client.close()
        await gateway.aclose()
        await pool.close()


def report(title: str, results: dict[str, Samples], same: bool) -> None:
    print(f"\n{title}; same answer both ways: {'yes' if same else 'NO (the timings compare different work)'}")
    header = (f"{'':<22} {'direct p50':>10} {'p95':>8} {'gateway p50':>11} {'p95':>8} {'ratio p50':>9} "
              f"{'p95':>6} {'added p50':>9}")
    print(header)
    print("-" * len(header))
    labels = {"complete": "latency, non-streaming", "stream": "TTFT, streaming"}
    for name, s in results.items():
        d50, d95, g50, g95 = pct(s.direct, .5), pct(s.direct, .95), pct(s.gateway, .5), pct(s.gateway, .95)
        print(f"{labels[name]:<22} {d50:8.1f}ms {d95:6.1f}ms {g50:9.1f}ms {g95:6.1f}ms {g50 / d50:8.2f}x "
              f"{g95 / d95:5.2f}x {g50 - d50:+7.1f}ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=30, help="timed calls per path and mode with the model")
    parser.add_argument("--max-tokens", type=int, default=24, help="output tokens per call with the model")
    parser.add_argument("--fault-calls", type=int, default=200,
                        help="timed calls per path and mode against the fault server (no model)")
    args = parser.parse_args()

    faults = FaultServer(default_text=FAULT_ANSWER)
    local: LocalLLMServer | None = None
    with bench_database("salesflow-bench-gateway-") as (url, org_id, home):
        try:
            print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} "
                  "(other processes skew the figures); PostgreSQL embedded, fsync off")
            print("gateway path = org AI settings read, PII redaction, routing, budget reservation (database), "
                  "provider call, settle: log row + daily rollup + release (one transaction)")

            faults.start()
            fault_config = parse_config({
                "providers": {"fault": {"kind": "openai_compatible", "base_url": faults.base_url, "api_key": "none"}},
                "models": [{"provider": "fault", "model": FAULT_MODEL, "context_window": 8000,
                            "input_price_per_mtok": 0.15, "output_price_per_mtok": 0.6, "quality": 0.7}],
            }, {})
            fault_results, fault_same = asyncio.run(measure(url, fault_config, org_id, faults.base_url, FAULT_MODEL,
                                                            args.fault_calls, args.max_tokens))
            report(f"1. no model: fault server in this process, answers at once ({len(FAULT_ANSWER.split())} words); "
                   f"{args.fault_calls} calls per path and mode after {WARMUPS} warm-ups", fault_results, fault_same)

            try:
                local = LocalLLMServer(log_path=home / "llama.log").start()
            except LocalModelError as exc:
                raise SystemExit(f"bench_gateway: error: {exc}") from None
            local_config = parse_config({}, {"SALESFLOW_LOCAL_LLM_URL": local.base_url})
            local_results, local_same = asyncio.run(measure(url, local_config, org_id, local.base_url, LOCAL_MODEL,
                                                            args.calls, args.max_tokens))
            report(f"2. SmolLM2-135M on llama.cpp (n_ctx {local.context}, {local.threads} threads), "
                   f"{len(PROMPT.split())}-word prompt, max_tokens {args.max_tokens}, temperature 0; "
                   f"{args.calls} calls per path and mode after {WARMUPS} warm-ups", local_results, local_same)

            # every gateway call: warm-ups, timed calls in both modes, and the one answer compared at the end
            expected = {"fault": 2 * (WARMUPS + args.fault_calls) + 1, "local": 2 * (WARMUPS + args.calls) + 1}
            with psycopg.connect(url) as conn:
                rows = conn.execute("select provider, count(*), count(*) filter (where usage_estimated) "
                                    "from salesflow.llm_requests where org_id = %s group by provider",
                                    (org_id,)).fetchall()
            written = {provider: (n, estimated) for provider, n, estimated in rows}
            print("\nllm_requests rows written: " + ", ".join(
                f"{p} {written.get(p, (0, 0))[0]} for {n} gateway calls ({written.get(p, (0, 0))[1]} with usage "
                "counted by the gateway, not reported by the server)" for p, n in expected.items()))
            return 0 if {p: w[0] for p, w in written.items()} == expected else 1
        finally:
            if local is not None:
                local.stop()
            faults.stop()


if __name__ == "__main__":
    raise SystemExit(main())
