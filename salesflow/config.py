"""Settings read from the environment, with embedded defaults (one local home for all state)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

DEFAULT_API_PORT = 54321  # the Supabase CLI's local API port, so client snippets look familiar
DEFAULT_DB_PORT = 54322  # the Supabase CLI's local database port


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which and what to do."""


def project_root() -> Path | None:
    """The source tree this package runs from (an editable install or a checkout), else None."""
    root = Path(__file__).resolve().parent.parent
    try:
        pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "salesflow"' in pyproject else None


def resolve_home(env: Mapping[str, str]) -> Path:
    """Where local state lives: SALESFLOW_HOME, else .salesflow/ in the project's source tree.

    Never the current directory: a command run from another folder must find the same database and
    the same JWT secret, not silently make new ones.
    """
    explicit = env.get("SALESFLOW_HOME")
    if explicit:
        return Path(explicit).expanduser().resolve()
    root = project_root()
    if root is None:
        raise ConfigError("SALESFLOW_HOME is not set and this installation has no project folder; "
                          "set SALESFLOW_HOME to the folder for SalesFlow's local state")
    return root / ".salesflow"


def _database_url(env: Mapping[str, str], name: str = "DATABASE_URL") -> str | None:
    url = env.get(name) or None
    if url is not None:
        try:
            conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
            raise ConfigError(f"{name} is not a PostgreSQL connection string ({first}); "
                              "use postgresql://user:password@host:port/dbname or unset it") from None
    return url


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a port number; set it to an integer such as {default}") from None
    if not 0 < value < 65536:
        raise ConfigError(f"{name}={value} is outside 1..65535")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything SalesFlow reads from its environment."""

    home: Path
    # the owner's connection (migrations, the CLI); the API and the worker log in as roles of their own
    database_url: str | None
    api_host: str
    api_port: int
    db_port: int
    jwt_secret_env: str | None
    api_database_url: str | None = None
    worker_database_url: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            home=resolve_home(os.environ),
            database_url=_database_url(os.environ),
            api_host=os.environ.get("SALESFLOW_API_HOST") or "127.0.0.1",
            api_port=_int_env("SALESFLOW_API_PORT", DEFAULT_API_PORT),
            db_port=_int_env("SALESFLOW_DB_PORT", DEFAULT_DB_PORT),
            jwt_secret_env=os.environ.get("SALESFLOW_JWT_SECRET") or None,
            api_database_url=_database_url(os.environ, "SALESFLOW_API_DATABASE_URL"),
            worker_database_url=_database_url(os.environ, "SALESFLOW_WORKER_DATABASE_URL"),
        )

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    def jwt_secret(self) -> str:
        """The HS256 secret: SALESFLOW_JWT_SECRET, else one generated once and kept under home."""
        if self.jwt_secret_env:
            if len(self.jwt_secret_env) < 32:
                raise ConfigError("SALESFLOW_JWT_SECRET must be at least 32 characters (as Supabase's is)")
            return self.jwt_secret_env
        path = self.home / "jwt_secret"
        if path.exists():
            return path.read_text().strip()
        self.home.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        path.write_text(secret + "\n")
        path.chmod(0o600)
        return secret
