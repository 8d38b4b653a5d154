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
        (["jobs", "list"], {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "cannot connect"),
        (["db", "status"], {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "cannot connect"),
        *[(command, {"DATABASE_URL": "garbage"}, "DATABASE_URL is not a PostgreSQL connection string")
          for command in (["up"], ["api"], ["worker"], ["demo"], ["db", "migrate"], ["db", "status"],
                          ["jobs", "list"])],
        (["token", "--role", "authenticated", "--user", "not-a-uuid"], {}, "--user 'not-a-uuid' is not a UUID"),
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
        intro = "Python (.venv/bin/python; scripts/up installs the supabase client):\n"
        block = text.split(intro)[1].split("\nCtrl-C")[0]
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
    assert "INFO httpx" not in log.read_text() and f"{api_port}/docs" in log.read_text()


def _start_up(home: Path, log: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    api_port, db_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "SALESFLOW_JWT_SECRET", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                        "SALESFLOW_LOCAL_LLM_URL", "SALESFLOW_LLM_CONFIG")}
    env.update({"SALESFLOW_HOME": str(home), "SALESFLOW_API_PORT": str(api_port), "SALESFLOW_DB_PORT": str(db_port)})
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "salesflow", "up", *extra], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=1).status_code == 200:
                return proc, api_port
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


def test_a_second_up_is_refused_at_once_and_sighup_stops_everything(home: Path, tmp_path: Path) -> None:
    log = tmp_path / "up.log"
    proc, api_port = _start_up(home, log)
    try:
        # unknown routes and wrong methods answer in PostgREST's error shape
        missing = httpx.get(f"http://127.0.0.1:{api_port}/no/such/route", timeout=5)
        assert missing.status_code == 404 and set(missing.json()) == {"code", "message", "details", "hint"}
        assert missing.json()["code"] == "PGRST125"
        wrong = httpx.delete(f"http://127.0.0.1:{api_port}/health", timeout=5)
        assert wrong.status_code == 405 and wrong.json()["code"] == "PGRST117"

        second = salesflow(home, "up", "--no-local-llm", env={"SALESFLOW_API_PORT": str(free_port()),
                                                             "SALESFLOW_DB_PORT": str(free_port())}, timeout=30)
        assert second.returncode == 1 and second.stderr.count("\n") == 1
        assert f"salesflow up is already running for {home} (pid {proc.pid})" in second.stderr
        assert "offline LLM" not in second.stdout and "worker" not in second.stdout
        # the home is shown, and found from wherever the command runs
        status = subprocess.run([sys.executable, "-m", "salesflow", "db", "status"], cwd=tmp_path,
                                env={**os.environ, "SALESFLOW_HOME": str(home)}, capture_output=True, text=True)
        assert f"home: {home}" in status.stdout and "running" in status.stdout
        # without SALESFLOW_HOME: the project's own .salesflow/, never the current directory
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        unset = {k: v for k, v in os.environ.items() if k not in ("SALESFLOW_HOME", "DATABASE_URL")}
        status = subprocess.run([sys.executable, "-m", "salesflow", "db", "status"], cwd=elsewhere, env=unset,
                                capture_output=True, text=True)
        assert f"home: {ROOT / '.salesflow'}" in status.stdout and not list(elsewhere.iterdir())
        # the worker is a child that logs once it has connected; the API may serve before that
        worker_log = home / "worker.log"
        deadline = time.monotonic() + 60
        while '"worker started"' not in (worker_log.read_text() if worker_log.exists() else ""):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGHUP)  # the terminal closed
        code = proc.wait(60)
    text = log.read_text()
    assert code == 0, text
    assert "worker stopped" in text and "offline LLM stopped" in text and "embedded PostgreSQL stopped" in text
    assert not EmbeddedServer(home / "pgdata").status().running
    # the worker's JSON log lines go to its log in the home, not between the banner's lines
    assert '"worker started"' not in text
