"""The worker owns its resources (issue 9 section 6): a bad AI configuration stops it at start, and a
real worker process runs `ai_suggest` on the gateway it created, pointed at the fault server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from salesflow.functions.resources import ResourcesClosed, WorkerResources
from salesflow.gateway.config import ConfigError
from tests.conftest import ROOT, acting_as
from tests.fault_server import FaultServer, ok
from tests.gateway_harness import PRIMARY


def worker_cmd(*extra: str) -> list[str]:
    return [sys.executable, "-m", "salesflow", "worker", "--no-migrate", "--no-schedules", "--poll-interval", "0.3",
            *extra]


def pending_noop(db: psycopg.Connection) -> int:
    db.autocommit = True
    return db.execute("select salesflow.enqueue('noop', '{}'::jsonb)").fetchone()[0]


@pytest.mark.parametrize(("config", "says"), [
    ("[providers.x\nkind = 'openai'\n", "bad.toml"),  # not TOML at all
    ("[providers.x]\nkind = 'carrier-pigeon'\n", "carrier-pigeon"),  # TOML, but not a provider kind
    (None, "no such LLM config file"),  # SALESFLOW_LLM_CONFIG names a file that is not there
])
def test_a_bad_llm_configuration_stops_the_worker_at_start_with_one_line_and_runs_no_job(
    db: psycopg.Connection, db_url: str, tmp_path: Path, config: str | None, says: str
) -> None:
    path = tmp_path / "bad.toml"
    if config is not None:
        path.write_text(config)
    job = pending_noop(db)
    env = {**os.environ, "DATABASE_URL": db_url, "SALESFLOW_WORKER_DATABASE_URL": db_url,
           "SALESFLOW_LLM_CONFIG": str(path)}
    done = subprocess.run(worker_cmd(), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("salesflow: error: the worker's AI configuration is invalid: ") and says in line
    assert "Traceback" not in done.stderr
    assert db.execute("select status, attempts from salesflow.jobs where id = %s", (job,)).fetchone() == ("pending", 0)


def test_a_bad_embedding_configuration_stops_the_worker_at_start(db_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": db_url, "SALESFLOW_WORKER_DATABASE_URL": db_url,
           "SALESFLOW_EMBEDDINGS": "openai"}
    env.pop("SALESFLOW_EMBEDDINGS_BASE_URL", None)
    done = subprocess.run(worker_cmd(), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert "SALESFLOW_EMBEDDINGS_BASE_URL" in line and line.startswith("salesflow: error:")


def test_resources_hand_out_nothing_before_they_are_opened_or_after_they_are_closed() -> None:
    import asyncio

    resources = WorkerResources.from_env({})
    with pytest.raises(ResourcesClosed):
        resources.gateway  # noqa: B018 - the property is what is tested

    async def opened_then_closed() -> None:
        # an unreachable database: the pool keeps trying in the background, opening does not block
        await resources.open("postgresql://nobody@127.0.0.1:1/none", max_size=1, application_name="t")
        assert resources.gateway.config is resources.llm_config
        assert resources.gateway is resources.gateway  # one per process, built once
        await resources.aclose()
        await resources.aclose()  # twice is harmless

    asyncio.run(opened_then_closed())
    with pytest.raises(ResourcesClosed):
        resources.gateway  # noqa: B018
    with pytest.raises(ConfigError, match="SALESFLOW_EMBEDDINGS must be"):
        WorkerResources.from_env({"SALESFLOW_EMBEDDINGS": "telepathy"})


FAULT_CONFIG = """
[providers.fault]
kind = "openai_compatible"
base_url = "{base_url}"
api_key = "test"
timeout = 5.0

[[models]]
provider = "fault"
model = "{model}"
context_window = 8000
input_price_per_mtok = 2.5
output_price_per_mtok = 10.0
quality = 0.9

[tasks.classify]
fallbacks = ["fault/{model}"]
"""


def test_a_real_worker_process_runs_ai_suggest_on_its_own_gateway(
    db: psycopg.Connection, db_url: str, tmp_path: Path
) -> None:
    db.autocommit = True
    owner, rep = uuid.uuid4(), uuid.uuid4()
    with acting_as(db, owner):
        org = db.execute("select id from api.create_organization('Worker GmbH')").fetchone()[0]
        db.execute("select api.add_org_member(%s, %s, 'rep')", (org, rep))
    with acting_as(db, rep):
        lead = db.execute("select id from api.create_lead(%s, first_name => 'Ada')", (org,)).fetchone()[0]
        db.execute("select api.create_message(%s, %s, 'email', 'inbound', 'Send the price list please.')",
                   (org, lead))
        job = db.execute("select api.request_ai_suggestion(%s, %s, 'next_actions')", (org, lead)).fetchone()[0]
    answer = {"actions": [{"action": "email", "reason": "asked for the price list", "due_in_days": 1,
                           "priority": "high"}]}
    with FaultServer() as server:
        server.script(PRIMARY, ok(json.dumps(answer)))
        config = tmp_path / "llm.toml"
        config.write_text(FAULT_CONFIG.format(base_url=server.base_url, model=PRIMARY))
        log = tmp_path / "worker.log"
        env = {**os.environ, "DATABASE_URL": db_url, "SALESFLOW_WORKER_DATABASE_URL": db_url,
               "SALESFLOW_LLM_CONFIG": str(config)}
        with open(log, "wb") as out:
            worker = subprocess.Popen(worker_cmd(), env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while db.execute("select status from salesflow.jobs where id = %s", (job,)).fetchone()[0] != "completed":
                assert worker.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.2)
        finally:
            worker.terminate()
            code = worker.wait(60)
        assert len(server.requests_for(PRIMARY)) == 1
    assert code == 0, log.read_text()[-3000:]
    content, request = db.execute("select content, request_id from salesflow.ai_suggestions where job_id = %s",
                                  (job,)).fetchone()
    assert content == answer
    assert db.execute("select model, status, feature from salesflow.llm_requests where id = %s",
                      (request,)).fetchone() == (PRIMARY, "ok", "suggest.next_actions")
    # it stopped cleanly: its resources were closed after the loop, not left to the interpreter's exit
    assert '"worker stopped"' in log.read_text() or "worker stopped" in log.read_text()
