"""Routing savings: what the gateway's task routing costs against always calling the top model.

A seeded mixed workload (default 400 calls) of every task type (chat, draft, summarize, classify,
compliance, personality, script), each call with an importance (low..critical) and a cost
sensitivity (low..high) drawn from per-task weights, goes end to end through `Gateway.complete`:
PII redaction, routing, budget reservation, a real HTTP call with the real openai / anthropic SDKs
to the project's fault server (tests/fault_server.py, which speaks both wire protocols and answers
every model), and the settle that writes the log row. The catalogue is config.DEFAULT_MODELS without
the local model: gpt-4o, gpt-4o-mini, claude-sonnet-4 and claude-3-5-haiku at their list prices.

Inputs are built from the demo's sales-conversation lines (salesflow/demo_texts.py) with accounts and
products from /work/shared/data/crm-pipeline, from one-line messages (classify) to long threads
(summarize); the answers are scripted per call at plausible lengths (a label for classify, hundreds
of words for a call script). Token counts are the fault server's (same tokenizer for every model).

Then it reads analytics.llm_routing_savings (the view analysts use) and prints, per task, the calls,
the share routed away from the top model, the actual cost, the top model's cost on the same tokens,
and the saving; recomputes the top-model cost in Python from the catalogue and exits 1 if the two
differ by a cent or more; and prints which model each (task, importance, cost sensitivity) routed to.

    .venv/bin/python scripts/bench_routing.py [--calls 400] [--seed 11]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from salesflow.demo_texts import (
    ACT,
    COMPETITORS,
    CONV,
    NAMES,
    PACKAGES,
    QUARTERS,
    STAFF,
    SYSTEMS,
    TITLES_DE,
    TITLES_EN,
    TOPIC_TEXT,
    TOPICS,
)
from salesflow.gateway.config import COST_SENSITIVITY, DEFAULT_MODELS, IMPORTANCE, TASKS, parse_config
from salesflow.gateway.core import Gateway, LLMCall, LLMResult
from salesflow.gateway.providers import ChatMessage

ROOT = Path(__file__).resolve().parents[1]
# the fault server lives in the test package, which is not installed
sys.path.insert(0, str(ROOT))
from _bench import bench_database  # noqa: E402

from tests.fault_server import FaultServer, ok  # noqa: E402

DATA = Path("/work/shared/data/crm-pipeline")
PAID = [m for m in DEFAULT_MODELS if not m.get("offline")]
# what every call is measured against: the best model in the catalogue (the gateway's baseline rule)
TOP = max(PAID, key=lambda m: m["quality"])
SHORT = {"gpt-4o": "4o", "gpt-4o-mini": "4o-mini", "claude-sonnet-4": "sonnet-4", "claude-3-5-haiku": "haiku-3.5"}


@dataclass(frozen=True)
class Mix:
    """One task's share of the workload, its importance and cost-sensitivity weights, and its answer length."""

    weight: float
    importance: tuple[float, float, float, float]  # low, medium, high, critical
    cost_sensitivity: tuple[float, float, float]  # low, medium, high
    answer_words: tuple[int, int]


# An assumed mix for a sales team's day: many chats, drafts and summaries, classification mostly
# unimportant and cost-sensitive, compliance checks mostly important and not cost-sensitive.
MIX: dict[str, Mix] = {
    "chat": Mix(0.28, (0.35, 0.45, 0.15, 0.05), (0.20, 0.50, 0.30), (40, 180)),
    "draft": Mix(0.20, (0.15, 0.45, 0.30, 0.10), (0.25, 0.50, 0.25), (80, 220)),
    "summarize": Mix(0.18, (0.35, 0.45, 0.15, 0.05), (0.15, 0.45, 0.40), (60, 180)),
    "classify": Mix(0.16, (0.55, 0.35, 0.08, 0.02), (0.10, 0.30, 0.60), (1, 8)),
    "compliance": Mix(0.06, (0.05, 0.30, 0.40, 0.25), (0.40, 0.45, 0.15), (15, 90)),
    "personality": Mix(0.05, (0.30, 0.50, 0.15, 0.05), (0.20, 0.50, 0.30), (60, 160)),
    "script": Mix(0.07, (0.20, 0.45, 0.30, 0.05), (0.25, 0.50, 0.25), (250, 600)),
}
assert set(MIX) == set(TASKS), "every task type needs a share of the workload"


class Texts:
    """Sales-conversation lines from the demo pools, filled with accounts and products from the CRM data."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        with open(DATA / "accounts.csv", newline="") as f:
            self.accounts = [row["account"] for row in csv.DictReader(f)]
        with open(DATA / "products.csv", newline="") as f:
            self.products = [row["product"] for row in csv.DictReader(f)]
        self.lead: dict[str, list[str]] = defaultdict(list)
        self.rep: dict[str, list[str]] = defaultdict(list)
        for (_topic, lang, who, _when), lines in TOPIC_TEXT.items():
            (self.lead if who == "lead" else self.rep)[lang].extend(lines)
        for lang, pools in CONV.items():
            self.lead[lang].extend([*pools["lead_more"], *pools["lead_close"]])
            self.rep[lang].extend([*pools["rep_more"], *pools["rep_close"], *pools["cta"]])

    def fill(self, template: str, lang: str) -> str:
        r, act = self.rng, ACT[lang]
        seats = r.choice((12, 25, 40, 80, 150, 300))
        package, list_price = r.choice(PACKAGES)
        first, last = r.choice(NAMES[lang][r.randrange(2)]), r.choice(NAMES[lang][2])
        title = r.choice(TITLES_DE)[r.randrange(2)] if lang == "de" else r.choice(TITLES_EN)
        staff = r.choice(STAFF)
        values = {
            "company": r.choice(self.accounts), "product": r.choice(self.products), "system": r.choice(SYSTEMS),
            "competitor": r.choice(COMPETITORS), "quarter": r.choice(QUARTERS), "seats": seats, "package": package,
            "price": f"{seats * list_price:,} EUR", "weekday": r.choice(act["weekday"]), "time": r.choice(act["time"]),
            "first": first, "last": last, "title": title, "name": f"{staff[0]} {staff[1]}",
            "salutation": r.choice(CONV[lang]["salutation"]), "subject": r.choice(act["meeting"]),
        }
        values["detail"] = r.choice(act["detail"]).format(**values)
        text = template.format(**values)
        return text[0].upper() + text[1:]

    def lines(self, pool: dict[str, list[str]], lang: str, count: int) -> list[str]:
        return [self.fill(self.rng.choice(pool[lang]), lang) for _ in range(count)]

    def notes(self, lang: str, count: int) -> list[str]:
        act = ACT[lang]
        kinds = ("connected", "completed", "note", "inbound", "outbound")
        return [self.fill(self.rng.choice(act[self.rng.choice(kinds)]), lang) for _ in range(count)]

    def thread(self, lang: str, messages: int) -> str:
        """A conversation: lead and rep take turns, one to three lines each."""
        turns = []
        for i in range(messages):
            who, pool = ("Lead", self.lead) if i % 2 == 0 else ("Rep", self.rep)
            turns.append(f"{who}: " + " ".join(self.lines(pool, lang, self.rng.randint(1, 3))))
        return "\n".join(turns)

    def words(self, count: int, lang: str) -> str:
        """An answer of exactly `count` words, made of rep lines."""
        out: list[str] = []
        while len(out) < count:
            out.extend(self.fill(self.rng.choice(self.rep[lang]), lang).split())
        return " ".join(out[:count])


def build_input(task: str, texts: Texts, lang: str) -> str:
    r = texts.rng
    if task == "classify":
        message = " ".join(texts.lines(texts.lead, lang, r.randint(1, 2)))
        return f"Classify this inbound message as one of {', '.join(TOPICS)} or other.\n\nMessage: {message}"
    if task == "chat":
        question = r.choice(("How should I answer this?", "What is my best next step with this lead?",
                             "Why might they hesitate, and how do I handle the objection?",
                             "Can you explain what they are really asking for?"))
        return " ".join(texts.lines(texts.lead, lang, r.randint(1, 3))) + "\n\n" + question
    if task == "draft":
        return "Draft a reply to the last message of this thread.\n\n" + texts.thread(lang, r.randint(2, 8))
    if task == "summarize":
        notes = "\n".join(f"- {n}" for n in texts.notes(lang, r.randint(3, 15)))
        return ("Summarise this conversation and the activity notes for the account review.\n\n"
                + texts.thread(lang, r.randint(8, 40)) + "\n\nActivity notes:\n" + notes)
    if task == "compliance":
        draft = " ".join(texts.lines(texts.rep, lang, r.randint(2, 6)))
        return "Check this outgoing message for compliance problems before it is sent.\n\n" + draft
    if task == "personality":
        messages = "\n".join(f"- {m}" for m in texts.lines(texts.lead, lang, r.randint(4, 12)))
        return "Describe this contact's communication style and how to adapt to it.\n\n" + messages
    if task == "script":
        notes = "\n".join(f"- {n}" for n in texts.notes(lang, r.randint(3, 10)))
        return ("Write a call script for the next call with this account.\n\nNotes:\n" + notes
                + "\n\nLast messages:\n" + texts.thread(lang, r.randint(2, 6)))
    raise ValueError(f"no input builder for task {task!r}")


def build_answer(task: str, texts: Texts, lang: str) -> str:
    if task == "classify":
        label = texts.rng.choice([*TOPICS, "other"])
        return f'{{"label": "{label}", "confidence": {texts.rng.uniform(0.5, 0.99):.2f}}}'
    low, high = MIX[task].answer_words
    return texts.words(texts.rng.randint(low, high), lang)


def pick(rng: random.Random, values: Sequence[str], weights: Sequence[float]) -> str:
    return rng.choices(list(values), weights=list(weights))[0]


@dataclass(frozen=True)
class Planned:
    task: str
    importance: str
    cost_sensitivity: str
    prompt: str
    answer: str


def plan(calls: int, seed: int) -> list[Planned]:
    rng = random.Random(seed)
    texts = Texts(rng)
    tasks = list(MIX)
    out = []
    for _ in range(calls):
        task = pick(rng, tasks, [MIX[t].weight for t in tasks])
        importance = pick(rng, IMPORTANCE, MIX[task].importance)
        cost = pick(rng, COST_SENSITIVITY, MIX[task].cost_sensitivity)
        lang = "de" if rng.random() < 0.6 else "en"
        out.append(Planned(task, importance, cost, build_input(task, texts, lang), build_answer(task, texts, lang)))
    return out


async def run(url: str, faults: FaultServer, org_id: uuid.UUID, work: list[Planned]) -> list[LLMResult]:
    config = parse_config({
        "providers": {
            "openai": {"kind": "openai_compatible", "base_url": faults.base_url, "api_key": "bench"},
            # the Anthropic SDK takes its base URL without /v1
            "anthropic": {"kind": "anthropic", "base_url": faults.anthropic_base_url, "api_key": "bench"},
        },
        "models": PAID,
    }, {})
    pool = AsyncConnectionPool(url, min_size=2, max_size=4, open=False)
    await pool.open()
    gateway = Gateway(config, pool)
    results = []
    try:
        for item in work:
            # whichever model the call is routed to answers with this call's scripted text
            faults.reset()
            for m in PAID:
                faults.script(m["model"], ok(item.answer))
            results.append(await gateway.complete(LLMCall(
                org_id, item.task, [ChatMessage("user", item.prompt)], importance=item.importance,
                cost_sensitivity=item.cost_sensitivity, feature="bench_routing")))
    finally:
        await gateway.aclose()
        await pool.close()
    return results


def price(model: dict[str, Any], input_tokens: int, output_tokens: int) -> Decimal:
    """The catalogue price of one call, rounded as the database rounds it (6 places, half away from zero)."""
    raw = (input_tokens * Decimal(str(model["input_price_per_mtok"]))
           + output_tokens * Decimal(str(model["output_price_per_mtok"]))) / 1_000_000
    return raw.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def saving(cost: Decimal, top: Decimal) -> str:
    return f"{(1 - cost / top) * 100:6.1f}%" if top else "     -"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    work = plan(args.calls, args.seed)
    faults = FaultServer()
    with bench_database("salesflow-bench-routing-") as (url, org_id, _):
        try:
            faults.start()
            started = time.perf_counter()
            results = asyncio.run(run(url, faults, org_id, work))
            elapsed = time.perf_counter() - started
            with psycopg.connect(url) as conn:
                cur = conn.cursor(row_factory=dict_row)
                view = {row["task"]: row for row in cur.execute(
                    "select task, sum(requests)::int as requests, sum(routed_away)::int as routed_away, "
                    "sum(cost) as cost, sum(baseline_cost) as baseline_cost "
                    "from analytics.llm_routing_savings where org_id = %s group by task", (org_id,)).fetchall()}
                baselines = cur.execute("select baseline_provider, baseline_model, count(*) as n "
                                        "from salesflow.llm_requests where org_id = %s group by 1, 2",
                                        (org_id,)).fetchall()
        finally:
            faults.stop()

    by_model = {m["model"]: m for m in PAID}
    py_cost: dict[str, Decimal] = defaultdict(Decimal)
    py_top: dict[str, Decimal] = defaultdict(Decimal)
    py_away: Counter[str] = Counter()
    tokens: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    routed: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    for item, result in zip(work, results, strict=True):
        inp, out = result.usage.input_tokens, result.usage.output_tokens
        py_cost[item.task] += price(by_model[result.model], inp, out)
        py_top[item.task] += price(TOP, inp, out)
        py_away[item.task] += result.model != TOP["model"]
        tokens[item.task][0] += inp
        tokens[item.task][1] += out
        routed[item.task, item.importance, item.cost_sensitivity][SHORT[result.model]] += 1

    print(f"{len(work)} calls through Gateway.complete in {elapsed:.1f} s (seed {args.seed}); fault server answering "
          "every model over the openai and anthropic wire protocols")
    catalogue = ", ".join(f"{m['model']} ({m['input_price_per_mtok']}/{m['output_price_per_mtok']} $/Mtok, "
                          f"quality {m['quality']})" for m in PAID)
    print(f"catalogue: {catalogue}")
    print(f"top model (baseline): {TOP['provider']}/{TOP['model']}; logged baselines: "
          + ", ".join(f"{b['baseline_provider']}/{b['baseline_model']} x{b['n']}" for b in baselines))
    print("\nfrom analytics.llm_routing_savings (summed over days); top-model cost = the same tokens at its prices\n")
    header = (f"{'task':<12} {'calls':>5} {'in tok':>7} {'out tok':>7} {'routed away':>11} {'cost $':>10} "
              f"{'top-model $':>11} {'saving':>7} {'top $ (Python)':>14}")
    print(header)
    print("-" * len(header))
    cent = Decimal("0.005")
    problems: list[str] = []
    totals = {"requests": 0, "routed_away": 0, "cost": Decimal(0), "baseline_cost": Decimal(0)}
    for task in TASKS:
        row = view.get(task)
        if row is None:
            if py_cost.get(task):
                problems.append(f"{task}: no row in analytics.llm_routing_savings")
            continue
        for key in totals:
            totals[key] += row[key]
        inp, out = tokens[task]
        print(f"{task:<12} {row['requests']:>5} {inp // row['requests']:>7} {out // row['requests']:>7} "
              f"{row['routed_away'] / row['requests'] * 100:>10.0f}% {row['cost']:>10.4f} "
              f"{row['baseline_cost']:>11.4f} {saving(row['cost'], row['baseline_cost'])} {py_top[task]:>14.4f}")
        if abs(row["baseline_cost"] - py_top[task]) >= cent or abs(row["cost"] - py_cost[task]) >= cent:
            problems.append(f"{task}: view cost {row['cost']} / top {row['baseline_cost']}, "
                            f"Python {py_cost[task]} / {py_top[task]}")
        if row["routed_away"] != py_away[task] or row["requests"] != sum(i.task == task for i in work):
            problems.append(f"{task}: view counts {row['requests']} calls, {row['routed_away']} routed away; "
                            f"Python {sum(i.task == task for i in work)}, {py_away[task]}")
    print("-" * len(header))
    total_py = sum(py_top.values(), Decimal(0))
    print(f"{'total':<12} {totals['requests']:>5} {'':>7} {'':>7} "
          f"{totals['routed_away'] / max(1, totals['requests']) * 100:>10.0f}% {totals['cost']:>10.4f} "
          f"{totals['baseline_cost']:>11.4f} {saving(totals['cost'], totals['baseline_cost'])} {total_py:>14.4f}")
    print(f"\ncross-check, top-model cost: view ${totals['baseline_cost']:.6f}, Python from the catalogue "
          f"${total_py:.6f}, difference ${abs(totals['baseline_cost'] - total_py):.6f}; actual cost: view "
          f"${totals['cost']:.6f}, Python ${sum(py_cost.values(), Decimal(0)):.6f}")
    if abs(totals["baseline_cost"] - total_py) >= cent:
        problems.append(f"total top-model cost: view {totals['baseline_cost']}, Python {total_py}")

    print("\nmodel each (task, importance, cost sensitivity) was routed to (calls in brackets where mixed; "
          "complexity from the input's length, questions and analysis words can raise the bar)\n")
    width = 26
    print(f"{'task':<12} {'importance':<10} " + " ".join(f"{'cost ' + c:<{width}}" for c in COST_SENSITIVITY))
    for task in TASKS:
        for importance in IMPORTANCE:
            cells = [cell(routed.get((task, importance, c))) for c in COST_SENSITIVITY]
            if any(c != "·" for c in cells):
                print(f"{task:<12} {importance:<10} " + " ".join(f"{c:<{width}}" for c in cells))

    if problems:
        print("\nMISMATCH between analytics.llm_routing_savings and the catalogue:\n  " + "\n  ".join(problems))
        return 1
    print("\nview and Python agree to the cent")
    return 0


def cell(counts: Counter[str] | None) -> str:
    if not counts:
        return "·"
    if len(counts) == 1:
        return next(iter(counts))
    return " ".join(f"{model}({n})" for model, n in counts.most_common())


if __name__ == "__main__":
    raise SystemExit(main())
