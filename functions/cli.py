"""The `salesflow worker` and `salesflow jobs` commands, and the worker child of `salesflow up`.

salesflow/cli.py owns the command line and calls in here, so that the queue's options live next
to the queue. Importing this module is cheap: psycopg and the worker load when a command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from salesflow.db.constants import JOB_STATUSES

HANDLERS_ENV = "SALESFLOW_WORKER_HANDLERS"


# -- arguments -------------------------------------------------------------------------------------
def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--queue", dest="queues", action="append", metavar="NAME",
                        help="queue to take jobs from (repeatable; default: default)")
    parser.add_argument("-c", "--concurrency", type=positive_int, default=10, help="jobs run at once (default 10)")
    parser.add_argument("--lease", type=_positive_float, default=60.0,
                        help="seconds a claimed job stays leased between heartbeats (default 60)")
    parser.add_argument("--poll-interval", type=_positive_float, default=2.0,
                        help="seconds between polls when no notification arrives (default 2)")
    parser.add_argument("--sweep-interval", type=_positive_float, default=5.0,
                        help="seconds between sweeps of expired leases and due schedules (default 5)")
    parser.add_argument("--grace", type=float, default=10.0,
                        help="seconds running jobs get to finish on SIGTERM/SIGINT before release (default 10)")
    parser.add_argument("--handlers", default=os.environ.get(HANDLERS_ENV, ""),
                        help=f"extra handler modules, comma-separated (default: ${HANDLERS_ENV})")
    parser.add_argument("--no-builtin-handlers", action="store_true",
                        help="load only the --handlers modules (tests, or a worker dedicated to some kinds)")
    parser.add_argument("--no-schedules", action="store_true", help="do not enqueue due schedules from this worker")
    parser.add_argument("--no-migrate", action="store_true", help="do not migrate before starting")
    parser.add_argument("--log-format", choices=["json", "text"], default="json", help="log lines (default json)")


def add_jobs_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="jobs_action", required=True)
    ls = sub.add_parser("list", help="newest jobs first")
    ls.add_argument("--status", choices=JOB_STATUSES)
    ls.add_argument("--queue")
    ls.add_argument("--kind")
    ls.add_argument("--limit", type=positive_int, default=50)
    show = sub.add_parser("show", help="one job in full: payload, lease, last error")
    show.add_argument("id", type=int)
    retry = sub.add_parser("retry", help="send dead jobs back to the queue with a fresh attempt budget")
    retry.add_argument("ids", type=int, nargs="*")
    retry.add_argument("--all-dead", action="store_true", help="every dead job (narrowed by --queue/--kind)")
    retry.add_argument("--queue")
    retry.add_argument("--kind")
    cancel = sub.add_parser("cancel", help="cancel pending or running jobs")
    cancel.add_argument("ids", type=int, nargs="+")
    sub.add_parser("stats", help="depth, oldest pending job and failure rate per queue (analytics.queue_health)")


def positive_int(raw: str) -> int:
    """argparse type: a whole number of at least 1, with a one-line error otherwise."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be positive")
    return value


class CommandError(Exception):
    """A one-line message for the user; the command exits non-zero."""


# -- salesflow worker ------------------------------------------------------------------------------
def run_worker(url: str, args: argparse.Namespace) -> int:
    """Run one worker in the foreground until SIGTERM/SIGINT."""
    import asyncio

    from salesflow.functions.logs import JsonFormatter
    from salesflow.functions.registry import RegistryError, load_registry
    from salesflow.functions.resources import WorkerResources
    from salesflow.functions.worker import Worker, WorkerConfig, WorkerConfigError
    from salesflow.gateway.config import ConfigError

    if args.log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    logging.getLogger("psycopg.pool").setLevel(logging.WARNING)
    # a line per provider request (the openai SDK's HTTP client logs as httpx or httpx2) is noise
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        config = WorkerConfig(
            queues=tuple(args.queues or ["default"]), concurrency=args.concurrency, lease=args.lease,
            poll_interval=args.poll_interval, sweep_interval=args.sweep_interval, grace_period=args.grace,
            schedules=not args.no_schedules,
        )
        extra = [m.strip() for m in args.handlers.split(",") if m.strip()]
        registry = load_registry(extra, include_builtin=not args.no_builtin_handlers)
        # the LLM and embedding configuration is validated before any job is claimed
        resources = WorkerResources.from_env()
        worker = Worker(url, config, registry, resources=resources)
    except (RegistryError, WorkerConfigError) as exc:
        raise CommandError(str(exc)) from None
    except ConfigError as exc:
        raise CommandError(f"the worker's AI configuration is invalid: {exc}") from None
    _check_schema(url)
    asyncio.run(worker.run())
    return 0


def _check_schema(url: str) -> None:
    """Refuse to start against a database without the queue, rather than retry a missing function forever."""
    import psycopg

    from salesflow.db.queries import query

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        if not conn.execute(query("queue_installed")).fetchone()[0]:
            raise CommandError("the database has no job queue (salesflow.claim_jobs); run `salesflow db migrate`")


def start_worker_process(url: str, worker_url: str | None = None, log_path: Path | None = None
                         ) -> subprocess.Popen[bytes]:
    """`salesflow worker` as a child of `salesflow up`, in its own process group.

    Its own group: a terminal's Ctrl-C reaches only the parent, which then stops the child with one
    SIGTERM (a second signal would cut the child's grace period short). On Linux the child also
    gets SIGTERM if the parent dies without stopping it. `log_path`: where its JSON log lines go
    (appended), instead of the terminal that shows `up`'s banner.
    """
    env = {**os.environ, "DATABASE_URL": url}
    if worker_url is not None:
        # the child connects as the worker's own role (salesflow.cli.role_url)
        env["SALESFLOW_WORKER_DATABASE_URL"] = worker_url
    if log_path:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_path, "ab") if log_path else None  # noqa: SIM115 - the child's, closed below
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "salesflow", "worker", "--no-migrate"], env=env, start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None, stdout=out,
            stderr=subprocess.STDOUT if out else None,
        )
    finally:
        if out is not None:
            out.close()  # the child holds its own copy


def stop_worker_process(proc: subprocess.Popen[bytes], grace: float = 10.0) -> int | None:
    """SIGTERM, wait for the worker's grace period and its bookkeeping, then SIGKILL as the last resort."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace + 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _die_with_parent() -> None:
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


# -- salesflow jobs --------------------------------------------------------------------------------
def run_jobs(url: str, args: argparse.Namespace) -> int:
    import psycopg
    from psycopg.rows import dict_row

    from salesflow.db.queries import query

    with psycopg.connect(url, autocommit=True, row_factory=dict_row, connect_timeout=10) as conn:
        action = args.jobs_action
        if action == "list":
            rows = conn.execute(query("list_jobs"), {
                "status": args.status, "queue": args.queue, "kind": args.kind, "limit": args.limit}).fetchall()
            _table(rows, ["id", "queue", "kind", "status", "attempts", "max_attempts", "run_after", "last_error"])
        elif action == "show":
            row = conn.execute(query("show_job"), {"id": args.id}).fetchone()
            if row is None:
                raise CommandError(f"job {args.id} does not exist (it may have been purged)")
            width = max(len(k) for k in row)
            for key, value in row.items():
                if key == "payload":
                    value = json.dumps(value, indent=2, sort_keys=True)
                print(f"{key:<{width}}  {'' if value is None else value}")
        elif action == "retry":
            return _retry(conn, args, query)
        elif action == "cancel":
            before = _statuses(conn, query, args.ids)
            cancelled = conn.execute(query("cancel_jobs"), {"ids": args.ids}).fetchone()["cancelled"]
            print(f"cancelled {cancelled} job(s)")
            _explain_skipped(args.ids, before, ("pending", "running"))
            return 0 if cancelled == len(set(args.ids)) else 2
        elif action == "stats":
            _table(conn.execute(query("queue_health")).fetchall(), None)
    return 0


def _retry(conn: Any, args: argparse.Namespace, query: Any) -> int:
    if bool(args.ids) == bool(args.all_dead):
        raise CommandError("name the dead jobs to retry, or pass --all-dead (optionally with --queue/--kind)")
    if args.ids and (args.queue or args.kind):
        raise CommandError("--queue and --kind narrow --all-dead; with job ids they are not needed")
    before = _statuses(conn, query, args.ids) if args.ids else {}
    retried = conn.execute(query("retry_dead"), {
        "ids": args.ids or None, "queue": args.queue, "kind": args.kind}).fetchone()["retried"]
    print(f"retried {retried} job(s)")
    if not args.ids:
        return 0
    _explain_skipped(args.ids, before, ("dead",))
    after = _statuses(conn, query, args.ids)
    for job_id, status in after.items():
        if status == "dead" and before.get(job_id) == "dead":
            print(f"job {job_id} stays dead: a pending job with its idempotency key will do the work",
                  file=sys.stderr)
    return 0 if retried == len(set(args.ids)) else 2


def _statuses(conn: Any, query: Any, ids: Sequence[int]) -> dict[int, str]:
    return {r["id"]: r["status"] for r in conn.execute(query("job_statuses"), {"ids": list(ids)}).fetchall()}


def _explain_skipped(ids: Sequence[int], before: dict[int, str], eligible: tuple[str, ...]) -> None:
    for job_id in dict.fromkeys(ids):
        status = before.get(job_id)
        if status is None:
            print(f"job {job_id} does not exist", file=sys.stderr)
        elif status not in eligible:
            print(f"job {job_id} is {status}, not {' or '.join(eligible)}: left as it is", file=sys.stderr)


def _table(rows: list[dict[str, Any]], columns: list[str] | None) -> None:
    if not rows:
        print("(no rows)")
        return
    columns = columns or list(rows[0])
    cells = [[_cell(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = value.isoformat(sep=" ", timespec="seconds") if hasattr(value, "isoformat") else str(value)
    return text.replace("\n", " ")[:80]
