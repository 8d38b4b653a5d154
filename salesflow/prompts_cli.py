"""`salesflow prompts test NAME --org ORG [--version V]`: run a prompt's test suite and print the results.

The CLI connects with the installation's database URL (as psql does), creates the run as
`api.request_prompt_test_run` would, and runs it in this process through the gateway of the
installation's LLM configuration (the offline model when nothing else is configured), the same
code the worker's `test_prompt` job runs. Exit 0 when every case passed, 1 when the suite did not.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any
from uuid import UUID

import psycopg

from salesflow.intelligence_cli import InputError, resolve_org


def _first_line(exc: psycopg.Error) -> str:
    return (exc.diag.message_primary or str(exc)).strip().splitlines()[0]


def create_run(url: str, org: str, name: str, version: int | None) -> tuple[UUID, UUID]:
    """The organisation's id and a new queued run; InputError for an unknown organisation, prompt or version."""
    with psycopg.connect(url, autocommit=True) as conn:
        org_id = resolve_org(conn, org)
        try:
            row = conn.execute("select id from salesflow.create_prompt_test_run(%s, %s, %s, null)",
                               (org_id, name, version)).fetchone()
        except psycopg.Error as exc:
            raise InputError(_first_line(exc)) from None
    assert row is not None
    return UUID(org_id), row[0]


def execute(url: str, org_id: UUID, run_id: UUID) -> dict[str, Any] | None:
    """Run the suite as a worker would, with resources of this process's own."""
    from salesflow.functions import prompt_tests
    from salesflow.functions.handlers import ai_suggest
    from salesflow.functions.resources import WorkerResources

    resources = WorkerResources.from_env()
    offline = resources.llm_config.offline_only()
    deadline = ai_suggest.OFFLINE_DEADLINE if offline else ai_suggest.DEADLINE

    async def main() -> dict[str, Any] | None:
        await resources.open(url, max_size=2, application_name="salesflow prompts test")
        try:
            return await prompt_tests.execute_run(resources.gateway, resources.connection, org_id, run_id,
                                                  deadline=deadline, offline=offline)
        finally:
            await resources.aclose()

    return asyncio.run(main())


def format_report(report: dict[str, Any]) -> str:
    """The run as plain lines: a verdict line, one line per case, one per failed check."""
    production = report.get("production") or {}
    against = (f"production v{production['version']}: {production['status']}"
               + (f" {production['cases_passed']}/{production['cases_total']}" if production.get("run_id") else "")
               if production.get("version") else "no production version")
    lines = [f"{report['prompt']} v{report['version']}: {report['status']}, {report['cases_passed']} of "
             f"{report['cases_total']} cases passed{' (offline model)' if report['offline_model'] else ''}; "
             f"{against}"]
    if report.get("error"):
        lines.append(f"  error: {report['error']}")
    for result in report["results"]:
        then = result["production_passed"]
        lines.append(f"  {'PASS' if result['passed'] else 'FAIL'} {result['case']} (request {result['request_id']}; "
                     f"production: {'-' if then is None else 'pass' if then else 'fail'})")
        lines += [f"      {c['check']}: {c['detail']}" for c in result["checks"] if not c["passed"]]
    return "\n".join(lines)


def cmd_prompts(args: argparse.Namespace, url: str) -> int:
    org_id, run_id = create_run(url, args.org, args.name, args.version)
    report = execute(url, org_id, run_id)
    if report is None:
        raise InputError(f"the run {run_id} was finished by someone else")
    print(format_report(report))
    return 0 if report["status"] == "passed" else 1


def add_parsers(sub: Any, open_database: Any, cli_error: type[Exception]) -> None:
    """Register `prompts` on the main parser (open_database and CliError from salesflow.cli)."""

    def call(args: argparse.Namespace, settings: Any) -> int:
        try:
            return cmd_prompts(args, open_database(settings).url)
        except InputError as exc:
            raise cli_error(str(exc)) from None
        except psycopg.Error as exc:
            raise cli_error(_first_line(exc)) from None

    prompts = sub.add_parser("prompts", help="prompt test suites: test NAME --org ORG [--version V]")
    what = prompts.add_subparsers(dest="action", required=True)
    test = what.add_parser("test", help="run a prompt's test suite against a version; exit 1 unless it passes")
    test.add_argument("name", help="registry name with language, e.g. email_composer.en")
    test.add_argument("--org", required=True, help="organisation id or slug")
    test.add_argument("--version", type=int, help="the version to test (default: the latest)")
    test.set_defaults(func=call)
