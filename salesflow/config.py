"""Settings read from the environment, with the embedded defaults of DESIGN.md decision 1."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEFAULT_API_PORT = 54321  # the Supabase CLI's local API port, so client snippets look familiar
DEFAULT_DB_PORT = 54322  # the Supabase CLI's local database port


class ConfigError(Exception):
    """A setting is missing or malformed; the message says which and what to do."""


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
    database_url: str | None
    api_host: str
    api_port: int
    db_port: int
    jwt_secret_env: str | None

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("SALESFLOW_HOME") or ".salesflow").resolve()
        return cls(
            home=home,
            database_url=os.environ.get("DATABASE_URL") or None,
            api_host=os.environ.get("SALESFLOW_API_HOST") or "127.0.0.1",
            api_port=_int_env("SALESFLOW_API_PORT", DEFAULT_API_PORT),
            db_port=_int_env("SALESFLOW_DB_PORT", DEFAULT_DB_PORT),
            jwt_secret_env=os.environ.get("SALESFLOW_JWT_SECRET") or None,
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
