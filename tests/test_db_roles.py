"""The API and the worker connect as roles of their own (issue 9, section 4; sql/objects/97_roles.sql).

salesflow_api is no superuser, owns nothing and reads tenant data only after `set local role` to
the request's role, through RLS; a real API process serves RPCs as it. salesflow_worker runs the
queue, embeddings, ai_suggest and scoring jobs in a real worker process.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlparse, urlunparse

import httpx
import psycopg
import pytest

from tests.conftest import ROOT, acting_as, claims_for, make_token, run_api
from tests.fault_server import FaultServer, ok
from tests.test_scoring import load, make_org, synthetic_rows

API, WORKER = "salesflow_api", "salesflow_worker"
# What the API's own connection may touch in a tenant table (97_roles.sql): the webhook routing,
# the gateway's bookkeeping, and the assistant's drafts stored with the call's ledger row.
API_SYSTEM_TABLES = {
    "organizations", "channel_configs", "webhook_inbox", "webhook_rejections", "jobs", "llm_budgets",
    "llm_budget_reservations", "llm_budget_alerts", "llm_models", "llm_usage_daily", "llm_requests",
    "compliance_log", "prompts", "prompt_versions", "prompt_labels", "prompt_experiments", "ai_drafts",
    # registering a product prompt moves its first production label, which reads the suite's runs and logs the move
    "prompt_test_runs", "prompt_label_moves",
}


def role_url(db_url: str, role: str, password: str) -> str:
    parts = urlparse(db_url)
    netloc = f"{role}:{quote(password, safe='')}@{parts.hostname}:{parts.port}"
    return urlunparse(parts._replace(netloc=netloc))


@pytest.fixture
def logins(db: psycopg.Connection, db_url: str) -> Iterator[dict[str, str]]:
    """Both roles able to log in, with passwords of this test's own (as `salesflow db start` sets them)."""
    db.autocommit = True
    urls = {}
    for role in (API, WORKER):
        password = secrets.token_urlsafe(24)
        db.execute(psycopg.sql.SQL("alter role {} login password {}").format(
            psycopg.sql.Identifier(role), psycopg.sql.Literal(password)))
        urls[role] = role_url(db_url, role, password)
    yield urls


def two_orgs(db: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    db.autocommit = True
    alice, bob = uuid.uuid4(), uuid.uuid4()
    with acting_as(db, alice):
        org_a = db.execute("select id from api.create_organization('Alpha')").fetchone()[0]
        db.execute("select api.create_lead(%s, first_name => 'Ada')", (org_a,))
        db.execute("select api.create_deal(%s, 'Alpha deal')", (org_a,))
    with acting_as(db, bob):
        org_b = db.execute("select id from api.create_organization('Beta')").fetchone()[0]
        db.execute("select api.create_lead(%s, first_name => 'Bea')", (org_b,))
        db.execute("select api.create_lead(%s, first_name => 'Ben')", (org_b,))
    return alice, org_a, org_b


def test_the_api_role_is_no_superuser_and_owns_nothing(db: psycopg.Connection, logins: dict[str, str]) -> None:
    with psycopg.connect(logins[API]) as conn:
        assert conn.execute("select session_user, current_user").fetchone() == (API, API)
        assert conn.execute("select rolsuper, rolinherit, rolcreaterole, rolcreatedb from pg_roles "
                            "where rolname = current_user").fetchone() == (False, False, False, False)
        owned = conn.execute("""
            select (select count(*) from pg_class where relowner = current_user::regrole)
                 + (select count(*) from pg_proc where proowner = current_user::regrole)
                 + (select count(*) from pg_namespace where nspowner = current_user::regrole)
                 + (select count(*) from pg_type where typowner = current_user::regrole)""").fetchone()[0]
        assert owned == 0
        # nothing is exposed to it by appearing in api: it executes no api function on its own
        assert conn.execute("""
            select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
            where n.nspname = 'api' and has_function_privilege(current_user, p.oid, 'execute')""").fetchone() == (0,)


def test_the_api_role_reads_tenant_tables_only_as_the_request_role(db: psycopg.Connection,
                                                                    logins: dict[str, str]) -> None:
    alice, org_a, org_b = two_orgs(db)
    tenant_tables = [r[0] for r in db.execute("""
        select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attname = 'org_id' and not a.attisdropped
        where n.nspname = 'salesflow' and c.relkind in ('r', 'p', 'v')""")]
    assert {"leads", "deals", "messages", "embeddings", "activities"} <= set(tenant_tables)
    unreachable = set(tenant_tables) - API_SYSTEM_TABLES
    with psycopg.connect(logins[API], autocommit=True) as conn:
        for table in sorted(unreachable):
            for privilege in ("select", "insert", "update", "delete"):
                assert not conn.execute("select has_table_privilege(current_user, %s, %s)",
                                        (f"salesflow.{table}", privilege)).fetchone()[0], (table, privilege)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from salesflow.deals")
        # as the request's role (what the RPC gateway sets), RLS shows the caller's rows only
        with conn.transaction():
            conn.execute("select set_config('role', 'authenticated', true), "
                         "set_config('request.jwt.claims', %s, true)", (json.dumps(claims_for(alice)),))
            assert conn.execute("select current_user").fetchone() == ("authenticated",)
            assert conn.execute("select count(*) from salesflow.deals").fetchone() == (1,)
            orgs = conn.execute("select distinct org_id from salesflow.leads").fetchall()
            assert orgs == [(org_a,)]
            assert conn.execute("select count(*) from api.list_leads(%s)", (org_b,)).fetchone() == (0,)
        assert conn.execute("select current_user").fetchone() == (API,)  # transaction-local only


def test_a_real_api_serves_as_its_own_role(db: psycopg.Connection, db_url: str, logins: dict[str, str]) -> None:
    with run_api(db_url, {"SALESFLOW_API_DATABASE_URL": logins[API]}) as api:
        assert httpx.get(f"{api.url}/health", timeout=10).json()["status"] == "ok"
        token, other = make_token(uuid.uuid4()), make_token(uuid.uuid4())
        headers = {"Authorization": f"Bearer {token}"}
        org = httpx.post(f"{api.url}/rest/v1/rpc/create_organization", json={"name": "Roles"},
                         headers=headers, timeout=30).json()["id"]
        lead = httpx.post(f"{api.url}/rest/v1/rpc/create_lead", json={"org_id": org, "first_name": "Ida"},
                          headers=headers, timeout=30)
        assert lead.status_code == 200, lead.text
        mine = httpx.post(f"{api.url}/rest/v1/rpc/list_leads", json={"org_id": org}, headers=headers, timeout=30)
        theirs = httpx.post(f"{api.url}/rest/v1/rpc/list_leads", json={"org_id": org},
                            headers={"Authorization": f"Bearer {other}"}, timeout=30)
        assert [r["first_name"] for r in mine.json()] == ["Ida"] and theirs.json() == []
        users = {r[0] for r in db.execute("select usename from pg_stat_activity where datname = current_database() "
                                          "and application_name <> 'pg_cron' and pid <> pg_backend_pid()")}
        assert API in users


def test_the_cli_falls_back_to_database_url_with_one_warning(db_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESFLOW_")}
    env.update({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "SALESFLOW_HOME": str(ROOT / ".salesflow")})
    done = subprocess.run([sys.executable, "-m", "salesflow", "worker", "--no-migrate"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1
    assert lines[0].startswith("salesflow: warning: SALESFLOW_WORKER_DATABASE_URL is not set")
    assert len(lines) == 2 and lines[1].startswith("salesflow: error: ")
    bad = subprocess.run([sys.executable, "-m", "salesflow", "worker"], cwd=ROOT, capture_output=True, text=True,
                         env={**env, "SALESFLOW_WORKER_DATABASE_URL": "not a url"}, timeout=120)
    assert bad.returncode == 1 and bad.stderr.startswith(
        "salesflow: error: SALESFLOW_WORKER_DATABASE_URL is not a PostgreSQL connection string")


# -- the worker ---------------------------------------------------------------------------------
def wait_until(predicate, what: str, log: Path, seconds: float = 240.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}: {log.read_text()[-3000:]}"
        time.sleep(0.3)


def test_the_worker_does_its_jobs_as_its_role(db: psycopg.Connection, db_url: str, logins: dict[str, str],
                                              tmp_path: Path) -> None:
    org, owner = make_org(db)
    load(db, org, owner, synthetic_rows(300, seed=11))
    db.autocommit = True
    with acting_as(db, owner):
        lead = db.execute("select id from api.create_lead(%s, first_name => 'Ada')", (org,)).fetchone()[0]
        db.execute("select api.create_message(%s, %s, 'email', 'inbound', 'Please send the price list.')",
                   (org, lead))
        train = db.execute("select api.train_scoring_model(%s)", (org,)).fetchone()[0]
        suggest = db.execute("select api.request_ai_suggestion(%s, %s, 'next_actions')", (org, lead)).fetchone()[0]
        gone = db.execute("select id from api.create_lead(%s, first_name => 'Gone', email => 'gone@example.org')",
                          (org,)).fetchone()[0]
        erasure = db.execute("select id from api.erase_lead(%s, %s, 'asked')", (org, gone)).fetchone()[0]
    noop = db.execute("select salesflow.enqueue('noop', '{}')").fetchone()[0]
    # every schedule is due (retention, purge, sweeps, patterns, view refreshes, the HNSW index); the
    # weekly retraining is not, since this test asked for a training of its own, nor the weekly executive
    # summaries, whose model calls would take this test's scripted answers (test_dashboard runs their SQL
    # as this role)
    db.execute("update salesflow.job_schedules set next_run_at = now() "
               "where name not in ('train_scoring_models', 'executive_summaries')")
    index = db.execute("select salesflow.embedding_index_name(name) from salesflow.embedding_models "
                       "where state = 'active'").fetchone()[0]
    with FaultServer() as server:
        answer = {"actions": [{"action": "email", "reason": "asked for the price list", "due_in_days": 1,
                               "priority": "high"}]}
        server.script("primary", *[ok(json.dumps(answer))] * 3)
        config = tmp_path / "llm.toml"
        config.write_text(f"""
[providers.fault]
kind = "openai_compatible"
base_url = "{server.base_url}"
api_key = "test"
timeout = 10.0

[[models]]
provider = "fault"
model = "primary"
context_window = 8000
input_price_per_mtok = 2.5
output_price_per_mtok = 10.0
quality = 0.9
""")
        log = tmp_path / "worker.log"
        env = {**os.environ, "DATABASE_URL": db_url, "SALESFLOW_WORKER_DATABASE_URL": logins[WORKER],
               "SALESFLOW_LLM_CONFIG": str(config), "SALESFLOW_HNSW_MIN_VECTORS": "1"}
        with open(log, "wb") as out:
            cmd = [sys.executable, "-m", "salesflow", "worker", "--no-migrate", "--poll-interval", "0.3",
                   "--sweep-interval", "0.5"]
            proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            def status(job: int) -> str:
                return db.execute("select status from salesflow.jobs where id = %s", (job,)).fetchone()[0]

            wait_until(lambda: all(status(j) in ("completed", "dead") for j in (noop, train, suggest)), "the jobs", log)
            wait_until(lambda: db.execute("select count(*) from salesflow.embeddings where org_id = %s",
                                          (org,)).fetchone()[0] > 0, "the message's vector", log)
            # with a vector stored, the index job has something to index (MIN_VECTORS is 1 here)
            db.execute("select salesflow.enqueue('maintain_embedding_index', '{}')")
            scheduled = ("select count(distinct kind) from salesflow.jobs where schedule is not null "
                         "and status in ('completed', 'dead')")
            wait_until(lambda: db.execute(scheduled).fetchone()[0] >= 8, "the schedules", log)
            # and every job the data changes queued on their own (recommendations, scoring, embedding)
            wait_until(lambda: db.execute("select count(*) from salesflow.jobs where status in ('pending', 'running')"
                                          ).fetchone() == (0,), "the queue to drain", log)
            workers = {r[0] for r in db.execute("select usename from pg_stat_activity "
                                                "where datname = current_database() and pid <> pg_backend_pid()")}
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert WORKER in workers and "postgres" not in workers, workers
    assert [status(j) for j in (noop, train, suggest)] == ["completed"] * 3, log.read_text()[-3000:]
    assert db.execute("select kind, last_error from salesflow.jobs where status <> 'completed'").fetchall() == []
    # the index job built HNSW through salesflow_memory's ownership of the embeddings table
    assert db.execute("select indisvalid from pg_index where indexrelid = to_regclass('salesflow.' || %s)",
                      (index,)).fetchone() == (True,)
    assert db.execute("select status::text from salesflow.erasure_requests where id = %s",
                      (erasure,)).fetchone() == ("done",)
    assert db.execute("select count(*) from salesflow.leads where id = %s", (gone,)).fetchone() == (0,)
    assert db.execute("select status from salesflow.ai_models where org_id = %s", (org,)).fetchone() == ("active",)
    assert db.execute("select count(*) from salesflow.ai_suggestions where org_id = %s", (org,)).fetchone() == (1,)
    assert db.execute("select count(*) from salesflow.llm_requests where org_id = %s and status = 'ok'",
                      (org,)).fetchone() == (1,)
