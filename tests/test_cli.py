"""The `salesflow` command as a user runs it: real processes, an embedded server of their own."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from salesflow.db.embedded import EmbeddedServer, free_port
from tests.conftest import ROOT


def salesflow(home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
              ) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SALESFLOW_JWT_SECRET")}
    full_env.update({"SALESFLOW_HOME": str(home), **(env or {})})
    return subprocess.run([sys.executable, "-m", "salesflow", *args], env=full_env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def home(tmp_path: Path):
    yield tmp_path / "sf"
    EmbeddedServer(tmp_path / "sf" / "pgdata").stop(mode="immediate")


def test_db_lifecycle_and_one_line_errors(home: Path) -> None:
    port = str(free_port())
    env = {"SALESFLOW_DB_PORT": port}
    stopped = salesflow(home, "db", "url", env=env)
    assert stopped.returncode == 1
    assert stopped.stderr.strip().count("\n") == 0 and "salesflow db start" in stopped.stderr

    started = salesflow(home, "db", "start", env=env)
    assert started.returncode == 0, started.stderr
    url = salesflow(home, "db", "url", env=env)
    password = (home / "postgres_password").read_text().strip()
    assert url.stdout.strip().splitlines()[-1] == f"postgresql://postgres:{password}@127.0.0.1:{port}/salesflow"

    first = salesflow(home, "db", "migrate", env=env)
    assert first.returncode == 0 and "applied" in first.stdout
    again = salesflow(home, "db", "migrate", env=env)
    assert again.stdout.strip() == "database is up to date"
    status = salesflow(home, "db", "status", env=env)
    assert status.returncode == 0 and "migrations: current" in status.stdout

    psql = salesflow(home, "db", "psql", "-tA", "-c", "select count(*) from salesflow.schema_migrations", env=env)
    assert psql.returncode == 0 and psql.stdout.strip().isdigit()

    assert salesflow(home, "db", "stop", env=env).returncode == 0
    assert salesflow(home, "db", "status", env=env).returncode == 3


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["api"], {"SALESFLOW_API_PORT": "eighty"}, "SALESFLOW_API_PORT='eighty' is not a port number"),
        (["db", "start"], {"SALESFLOW_DB_PORT": "70000"}, "SALESFLOW_DB_PORT=70000 is outside"),
        (["token"], {"SALESFLOW_JWT_SECRET": "short"}, "at least 32 characters"),
        (["db", "migrate"], {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "cannot connect"),
    ],
)
def test_user_errors_are_one_line_and_non_zero(home: Path, args: list[str], env: dict[str, str],
                                               message: str) -> None:
    result = salesflow(home, *args, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("salesflow: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0


def test_bad_arguments_exit_2_with_usage(home: Path) -> None:
    result = salesflow(home, "demo", "--leads", "0")
    assert result.returncode == 2 and "must be at least 1" in result.stderr and "Traceback" not in result.stderr


def test_up_with_demo_prints_a_snippet_that_works_and_stops_cleanly_on_sigterm(home: Path) -> None:
    api_port, db_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "SALESFLOW_JWT_SECRET", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                        "SALESFLOW_LOCAL_LLM_URL", "SALESFLOW_LLM_CONFIG")}
    env.update({"SALESFLOW_HOME": str(home), "SALESFLOW_API_PORT": str(api_port), "SALESFLOW_DB_PORT": str(db_port)})
    log = home.parent / "up.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "salesflow", "up", "--demo", "--leads", "40"], env=env,
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        text = log.read_text()
        block = text.split("Python, with the supabase client (pip install supabase):\n")[1].split("\nCtrl-C")[0]
        snippet = "\n".join(line[2:] for line in block.splitlines() if line.strip())
        ran = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0, ran.stderr
        printed = ast.literal_eval(ran.stdout)  # the snippet prints a list of (first, last, email) tuples
        assert 1 <= len(printed) <= 5 and all("@" in email for _, _, email in printed)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, log.read_text()
    # with no provider configured, the offline model came up with it and went down with it
    assert "offline LLM: SmolLM2-135M" in log.read_text() and "offline LLM stopped" in log.read_text()
    assert "embedded PostgreSQL stopped" in log.read_text()
    assert not EmbeddedServer(home / "pgdata").status().running
