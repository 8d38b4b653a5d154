"""Real PostgreSQL for every test: the embedded server (or DATABASE_URL's), through pytest-postgresql.

The schema is migrated once into a template database per session; every test that asks for `db`
gets its own clone of it (CREATE DATABASE ... TEMPLATE), so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse

import httpx
import jwt
import psycopg
import pytest
from pytest_postgresql import factories
from pytest_postgresql.janitor import DatabaseJanitor

from salesflow.db.embedded import EmbeddedServer, free_port
from salesflow.db.migrate import migrate
from salesflow.functions.registry import Handler, JobContext
from salesflow.functions.resources import WorkerResources
from salesflow.gateway.config import GatewayConfig, load_config
from salesflow.gateway.embedders import Embedders

ROOT = Path(__file__).resolve().parents[1]
JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-000000"
_embedded: EmbeddedServer | None = None
_embedded_dir: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Start the database server the session uses, before any fixture needs its port."""
    global _embedded, _embedded_dir
    if hasattr(config, "workerinput"):
        return
    url = os.environ.get("SALESFLOW_TEST_DATABASE_URL")
    if url:
        parts = urlparse(url)
        host, port, user, password = parts.hostname, parts.port or 5432, parts.username, parts.password
    else:
        _embedded_dir = Path(tempfile.mkdtemp(prefix="salesflow-test-"))
        _embedded = EmbeddedServer(_embedded_dir / "pgdata", fast_unsafe=True)
        port = free_port()
        _embedded.start(port)
        # the product's own start path: SCRAM, with the password generated under the home dir
        host, user, password = "127.0.0.1", "postgres", _embedded.password()
    config.option.postgresql_host = host
    config.option.postgresql_port = port
    config.option.postgresql_user = user
    config.option.postgresql_password = password or ""
    config.option.postgresql_dbname = "salesflow_test"


def pytest_unconfigure(config: pytest.Config) -> None:
    if _embedded is not None:
        _embedded.stop(mode="immediate")
    if _embedded_dir is not None:
        shutil.rmtree(_embedded_dir, ignore_errors=True)


def load_schema(host: str, port: int, user: str, dbname: str, password: str | None, **_: object) -> None:
    with psycopg.connect(host=host, port=port, user=user, dbname=dbname, password=password or None) as conn:
        conn.autocommit = True
        migrate(conn)


postgresql_template = factories.postgresql_noproc(load=[load_schema])
db = factories.postgresql("postgresql_template")


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    password: str | None

    def url(self, dbname: str) -> str:
        auth = quote(self.user) + (f":{quote(self.password)}" if self.password else "")
        return f"postgresql://{auth}@{self.host}:{self.port}/{dbname}"


@pytest.fixture(scope="session")
def pg_server(postgresql_template) -> Server:  # noqa: ANN001 - pytest-postgresql's executor
    return Server(
        postgresql_template.host, int(postgresql_template.port), postgresql_template.user,
        postgresql_template.password or None,
    )


@pytest.fixture
def db_url(db: psycopg.Connection, pg_server: Server) -> str:
    """URL of this test's own database clone."""
    return pg_server.url(db.info.dbname)


@contextmanager
def clone_database(pg_server: Server, template: str) -> Iterator[str]:
    name = f"salesflow_{uuid.uuid4().hex[:12]}"
    janitor = DatabaseJanitor(
        user=pg_server.user, host=pg_server.host, port=pg_server.port, dbname=name,
        template_dbname=template, password=pg_server.password,
    )
    with janitor:
        yield pg_server.url(name)


@pytest.fixture(scope="module")
def module_db_url(postgresql_template, pg_server: Server) -> Iterator[str]:  # noqa: ANN001
    """A database clone shared by one module's tests (for the API process, which is slow to start)."""
    with clone_database(pg_server, postgresql_template.template_dbname) as url:
        yield url


# -- acting as a user, inside a transaction that the test rolls back (basejump's authenticate_as) --
def claims_for(user_id: uuid.UUID | str | None, role: str = "authenticated", **extra: object) -> dict:
    claims: dict[str, object] = {"role": role, **extra}
    if user_id is not None:
        claims["sub"] = str(user_id)
    return claims


@contextmanager
def authenticate_as(
    conn: psycopg.Connection, user_id: uuid.UUID | str | None, role: str = "authenticated"
) -> Iterator[psycopg.Connection]:
    """Run the block as `role` with `request.jwt.claims` set as PostgREST sets them; roll back after."""
    with conn.transaction(force_rollback=True):
        conn.execute(psycopg.sql.SQL("set local role {}").format(psycopg.sql.Identifier(role)))
        conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims_for(user_id, role)),))
        yield conn


@contextmanager
def acting_as(
    conn: psycopg.Connection, user_id: uuid.UUID | str | None, role: str = "authenticated"
) -> Iterator[psycopg.Connection]:
    """As authenticate_as, but commits: for set-up that later blocks must see."""
    with conn.transaction():
        conn.execute(psycopg.sql.SQL("set local role {}").format(psycopg.sql.Identifier(role)))
        conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims_for(user_id, role)),))
        yield conn
        # inside an open transaction this block is a savepoint, and SET LOCAL outlives a released
        # savepoint: undo it, or the statements after the block would still run as `role`
        conn.execute("reset role")
        conn.execute("select set_config('request.jwt.claims', '', true)")


def make_token(
    user_id: uuid.UUID | str | None = None, role: str = "authenticated", *, secret: str = JWT_SECRET,
    expires_in: int = 3600, **extra: object,
) -> str:
    claims = claims_for(user_id, role, **extra)
    claims["exp"] = int(time.time()) + expires_in
    return jwt.encode(claims, secret, algorithm="HS256")


class _SessionEmbedders(Embedders):
    """The test session's embedders: kept across run_handler calls, so MiniLM loads once."""

    def close(self) -> None:
        pass


_EMBEDDERS = _SessionEmbedders()


def run_handler(db: psycopg.Connection, url: str, handler: Handler, payload: object, *, job_id: int = 0,
                org_id: uuid.UUID | None = None, llm_config: GatewayConfig | None = None) -> None:
    """Commit what the test wrote, then run one job of `handler` in this process, as a worker would:
    with worker resources of its own (a pool of autocommit connections, a gateway on `llm_config`,
    default: the environment's), opened in the job's event loop and closed after it."""
    db.commit()
    resources = WorkerResources(llm_config if llm_config is not None else load_config(), _EMBEDDERS)

    async def main() -> None:
        await resources.open(url, max_size=2, application_name="salesflow-test handler")
        try:
            job = JobContext(id=job_id, kind=handler.kind, queue="default", attempt=1, max_attempts=5,
                             org_id=org_id, worker="test", connection=resources.connection, resources=resources)
            await handler.run(job, payload)
        finally:
            await resources.aclose()

    asyncio.run(main())


# -- the API as a real process ------------------------------------------------------------------
@dataclass(frozen=True)
class ApiProcess:
    url: str
    database_url: str
    process: subprocess.Popen


@contextmanager
def run_api(database_url: str, extra_env: dict[str, str] | None = None) -> Iterator[ApiProcess]:
    port = free_port()
    env = {
        **os.environ, "DATABASE_URL": database_url, "SALESFLOW_JWT_SECRET": JWT_SECRET,
        "SALESFLOW_API_PORT": str(port), **(extra_env or {}),
    }
    log = tempfile.NamedTemporaryFile(prefix="salesflow-api-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "salesflow", "api", "--no-migrate"], env=env, stdout=log, stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # a busy shared machine takes 30 s just to import the app: wait longer than that
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"API exited with {proc.returncode}: {Path(log.name).read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"API did not answer within 120 s: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.1)
        yield ApiProcess(url, database_url, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.unlink(log.name)


@pytest.fixture(scope="module")
def api(module_db_url: str) -> Iterator[ApiProcess]:
    with run_api(module_db_url) as process:
        yield process
