"""The embedded server is locked down (issue 9, section 4): SCRAM passwords on loopback only, the
secret and the log readable by their owner alone, and literal values kept out of the log."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from salesflow.db.embedded import PASSWORD_FILE, EmbeddedServer, free_port, psql_path


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[EmbeddedServer, int]]:
    # its own home, started through the product's start path (the CLI's `db start` calls the same)
    home = Path(tempfile.mkdtemp(prefix="salesflow-lockdown-"))
    home.chmod(0o755)
    embedded = EmbeddedServer(home / "pgdata")
    port = free_port()
    embedded.start(port)
    try:
        yield embedded, port
    finally:
        embedded.stop(mode="immediate")
        shutil.rmtree(home, ignore_errors=True)


def test_the_secret_and_the_log_are_owner_only(server: tuple[EmbeddedServer, int]) -> None:
    embedded, _ = server
    for path in (embedded.data_dir.parent / PASSWORD_FILE, embedded.log_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert "trust" not in (embedded.data_dir / "pg_hba.conf").read_text()


def test_password_connects_and_anything_else_is_refused(server: tuple[EmbeddedServer, int]) -> None:
    embedded, port = server
    with psycopg.connect(embedded.url("postgres")) as conn:
        assert conn.execute("select current_setting('listen_addresses')").fetchone() == ("127.0.0.1",)
        assert conn.execute("select current_setting('password_encryption')").fetchone() == ("scram-sha-256",)
    for password in (None, "wrong"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", password=password,
                            connect_timeout=5)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("su") is None, reason="needs root to act as another user")
def test_another_os_user_is_not_let_in(server: tuple[EmbeddedServer, int]) -> None:
    _, port = server
    proc = subprocess.run(
        ["su", "nobody", "-s", "/bin/sh", "-c",
         f"{psql_path()} -w -At -c 'select 1' postgresql://postgres@127.0.0.1:{port}/postgres"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert proc.returncode != 0
    assert "password" in proc.stderr, proc.stderr


def test_literal_values_stay_out_of_the_log(server: tuple[EmbeddedServer, int]) -> None:
    embedded, _ = server
    canary = "canary.person@example.org"
    with psycopg.connect(embedded.url("postgres"), autocommit=True) as conn:
        conn.execute("create table if not exists lockdown_probe (email text primary key)")
        conn.execute("insert into lockdown_probe values (%s) on conflict do nothing", (canary,))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("insert into lockdown_probe values (%s)", (canary,))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(f"insert into lockdown_probe values ('{canary}')")
    log = embedded.log_file.read_text()
    assert "duplicate key" in log, "the error was not logged at all, so this test proves nothing"
    assert canary not in log
