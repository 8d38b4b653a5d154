"""Prompt test suites: run every case of a prompt against one version through the gateway, and judge it.

A run (`salesflow.prompt_test_runs`) names a prompt and a version. Its cases are the prompt's
stored ones plus the shipped ones (`salesflow/gateway/prompts/<prompt>.tests.json`, synced into the
database first, so a member sees and compares them like their own). Each case is one gateway call
with the version pinned (no label, no experiment), its variables and user message, and, when the
case asserts a compliance verdict, the purpose the check runs for; the call is logged, budgeted and
checked like every other. The assertions (the keys `salesflow.prompt_test_assertion_problems`
accepts) are judged here and stored per case, each with its own verdict and detail. The run
passes only when every case does; `salesflow.move_prompt_label` reads that before production moves.

The worker's `test_prompt` job and `salesflow prompts test` both call `execute_run`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any
from uuid import UUID

import psycopg
from jsonschema import Draft202012Validator
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from salesflow.db.queries import query
from salesflow.functions.sentiment import guess_language
from salesflow.gateway.core import Gateway, LLMCall, LLMResult, PromptCall
from salesflow.gateway.errors import GatewayError, OutputRejected, OutputWithheld
from salesflow.gateway.product_prompts import PRODUCT_PROMPTS
from salesflow.gateway.prompt_files import load_prompt_tests
from salesflow.gateway.providers import ChatMessage

log = logging.getLogger("salesflow.worker")

Connect = Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]]
OUTPUT_CHARS = 4000
_TASKS = {p.name: p.task for p in PRODUCT_PROMPTS}


def _strings(value: Any) -> list[str]:
    """The string values of a parsed JSON answer, in document order (what a reader reads)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def judge(assertions: Mapping[str, Any], *, text: str | None, data: Any, schema: Mapping[str, Any] | None,
          schema_error: str | None, verdict: bool | None, failure: str | None) -> list[dict[str, Any]]:
    """One {"check", "passed", "detail"} per assertion.

    `text` is the answer (None when none came back), `data` its parsed JSON, `schema_error` why the
    gateway rejected it, `verdict` the compliance check's (None when it did not run), `failure` why
    no answer came at all.
    """
    checks: list[dict[str, Any]] = []

    def add(check: str, passed: bool, detail: str) -> None:
        checks.append({"check": check, "passed": passed, "detail": detail})

    missing = failure or ("no answer: " + schema_error if schema_error else None)
    for key, expected in assertions.items():
        if key == "compliance":
            if verdict is None:
                add(key, False, f"no verdict: {failure or 'the check did not run'}")
            else:
                want = bool(expected["passed"])
                add(key, verdict == want, f"the check {'passed' if verdict else 'blocked'} the answer "
                                          f"(expected {'pass' if want else 'block'})")
            continue
        if key == "schema_valid":
            if failure is not None:
                add(key, False, f"no answer: {failure}")
                continue
            problem = schema_error
            if problem is None and schema is not None and data is not None:
                errors = sorted(Draft202012Validator(schema).iter_errors(data), key=str)
                problem = errors[0].message if errors else None
            if problem is None and schema is not None and data is None and text is not None:
                problem = "the answer is not JSON"
            valid = problem is None
            add(key, valid == bool(expected), "valid against the version's schema" if valid else problem or "")
            continue
        if text is None:
            add(key, False, f"no answer to check: {missing or 'withheld by the compliance check'}")
            continue
        folded = text.casefold()
        if key == "must_contain":
            absent = [s for s in expected if s.casefold() not in folded]
            add(key, not absent, f"missing: {', '.join(absent)}" if absent else "all present")
        elif key == "must_not_contain":
            present = [s for s in expected if s.casefold() in folded]
            add(key, not present, f"present: {', '.join(present)}" if present else "none present")
        elif key == "min_length":
            add(key, len(text) >= expected, f"{len(text)} characters (at least {expected})")
        elif key == "max_length":
            add(key, len(text) <= expected, f"{len(text)} characters (at most {expected})")
        elif key == "language":
            readable = " ".join(_strings(data)) if data is not None else text
            found = guess_language(readable)
            add(key, found == expected, f"reads as {found} (expected {expected})")
    return checks


async def _run_case(gateway: Gateway, org_id: UUID, run: Mapping[str, Any], case: Mapping[str, Any],
                    deadline: float, offline: bool) -> dict[str, Any]:
    base, _, language = run["prompt_name"].rpartition(".")
    assertions = case["assertions"]
    purpose = assertions["compliance"]["purpose"] if "compliance" in assertions else None
    call = LLMCall(org_id, _TASKS.get(run["prompt_name"], "chat"),
                   [ChatMessage("user", case["message"])] if case["message"] else [],
                   prompt=PromptCall(base, case["inputs"], language, subject_id=f"prompt-test:{case['name']}",
                                     version=run["version"]),
                   feature="prompt.test", importance="low", cost_sensitivity="high", purpose=purpose,
                   deadline=deadline)
    text: str | None = None
    data: Any = None
    schema_error = failure = None
    verdict: bool | None = None
    request_id: int | None = None
    try:
        result: LLMResult = await gateway.complete(call)
        text, data, request_id, offline = result.text, result.data, result.request_id, result.offline_model
        verdict = result.compliance.passed if result.compliance is not None else None
    except OutputWithheld as exc:
        verdict, request_id = False, exc.request_id
    except OutputRejected as exc:
        schema_error, request_id = str(exc), exc.request_id
    except GatewayError as exc:
        failure, request_id = f"{exc.code}: {exc}", exc.request_id
    checks = judge(assertions, text=text, data=data, schema=run["output_schema"], schema_error=schema_error,
                   verdict=verdict, failure=failure)
    return {"case_id": case["id"], "case_name": case["name"], "passed": all(c["passed"] for c in checks),
            "checks": Jsonb(checks), "output": None if text is None else text[:OUTPUT_CHARS],
            "request_id": request_id, "offline_model": offline}


async def execute_run(gateway: Gateway, connection: Connect, org_id: UUID, run_id: UUID, *, deadline: float,
                      offline: bool) -> dict[str, Any] | None:
    """Run every case of the run, store each verdict, close the run; its report, or None if it is gone or done."""
    params = {"org_id": org_id, "run_id": run_id}
    async with connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        run = await (await cur.execute(query("prompt_test_run"), params)).fetchone()
        if run is None or run["status"] not in ("queued", "running"):
            return None
        await cur.execute(query("start_prompt_test_run"), params)
        for shipped in load_prompt_tests():
            if shipped.prompt == run["prompt_name"]:
                await cur.execute(query("sync_shipped_prompt_test_case"), {
                    "org_id": org_id, "prompt_name": shipped.prompt, "case_name": shipped.name,
                    "message": shipped.message, "inputs": Jsonb(dict(shipped.inputs)),
                    "assertions": Jsonb(dict(shipped.assertions))})
        cases = await (await cur.execute(query("prompt_test_cases_of_run"), params)).fetchall()
    error = None
    if "." not in run["prompt_name"] or run["prompt_name"].rpartition(".")[2] not in ("de", "en"):
        error = f"prompt {run['prompt_name']} cannot be called through the gateway: its name must end in .de or .en"
    elif not cases:
        error = f"prompt {run['prompt_name']} has no test cases; add one with api.save_prompt_test_case"
    else:
        for case in cases:
            stored = await _run_case(gateway, org_id, run, case, deadline, offline)
            async with connection() as conn:
                await conn.execute(query("store_prompt_test_result"), {**params, **stored})
    async with connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(query("finish_prompt_test_run"), {**params, "error": error})
        row = await (await cur.execute(query("prompt_test_report"), params)).fetchone()
    log.info("prompt test run %s of %s v%s: %s", run_id, run["prompt_name"], run["version"],
             row["report"]["status"] if row else "gone")
    return row["report"] if row else None
