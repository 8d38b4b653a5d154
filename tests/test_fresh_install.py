"""The package as a new user installs it: a fresh virtual environment, no extras, then `salesflow up`.

Every other test runs in the project's .venv with the test extra, where a dependency that only
the test extra declares is present anyway; this one cannot see those. pip's cache keeps it quick.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path

import httpx

from salesflow.db.embedded import free_port
from tests.conftest import ROOT


def test_a_plain_install_starts_salesflow_up_and_stops_on_sigterm(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              str(ROOT)], capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    salesflow = env_dir / "bin" / "salesflow"
    clean = {k: v for k, v in os.environ.items() if k not in (
        "DATABASE_URL", "SALESFLOW_HOME", "SALESFLOW_JWT_SECRET", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
        "SALESFLOW_LOCAL_LLM_URL", "SALESFLOW_LLM_CONFIG", "PYTHONPATH", "VIRTUAL_ENV")}
    work = tmp_path / "elsewhere"
    work.mkdir()

    # an installed package has no project folder: it asks for a home instead of using the cwd
    refused = subprocess.run([str(salesflow), "db", "status"], env=clean, cwd=work, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 1 and refused.stderr.startswith("salesflow: error: SALESFLOW_HOME is not set")
    assert refused.stderr.count("\n") == 1 and not list(work.iterdir())

    api_port, db_port = free_port(), free_port()
    home = tmp_path / "home"
    env = {**clean, "SALESFLOW_HOME": str(home), "SALESFLOW_API_PORT": str(api_port),
           "SALESFLOW_DB_PORT": str(db_port)}
    log = tmp_path / "up.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(salesflow), "up", "--no-local-llm"], env=env, cwd=work, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        # the docs page and its assets come from the installed package, not a CDN
        docs = httpx.get(f"http://127.0.0.1:{api_port}/docs", timeout=5)
        assert docs.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in docs.text
        assert httpx.get(f"http://127.0.0.1:{api_port}/docs/assets/swagger-ui-bundle.js", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    text = log.read_text()
    assert code == 0, text
    assert "ModuleNotFoundError" not in text and "Traceback" not in text, text
    assert "embedded PostgreSQL stopped" in text and (home / "pgdata").is_dir()
    assert sys.executable != str(python)
