"""How the API is served: worker processes, pool size, access log (SALESFLOW_API_* variables)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from salesflow.config import ConfigError


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name}={raw!r} must be a positive integer such as {default}")
    return int(raw)


@dataclass(frozen=True)
class ServerOptions:
    """Each worker process has its own pool, catalog, token cache and embedding threads."""

    workers: int
    pool_size: int
    access_log: bool

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerOptions:
        env = os.environ if env is None else env
        return cls(
            workers=_positive(env, "SALESFLOW_API_WORKERS", 1),
            # PostgreSQL runs on the same cores: a few busy connections saturate them
            pool_size=_positive(env, "SALESFLOW_API_POOL_SIZE", 2 * (os.cpu_count() or 2)),
            access_log=env.get("SALESFLOW_API_ACCESS_LOG", "") in ("1", "true", "on"),
        )


def uvicorn_config(options: ServerOptions, host: str, port: int) -> Any:
    """uvicorn's configuration for the API: the fast loop and parser, the app built by each worker.

    The parser is httptools' with each response's head and body sent in one write (api/http_protocol.py)."""
    import uvicorn

    from salesflow.api.http_protocol import CoalescingHttpToolsProtocol

    return uvicorn.Config(
        "salesflow.api.app:app_from_env", factory=True, host=host, port=port, workers=options.workers,
        loop="uvloop", http=CoalescingHttpToolsProtocol, access_log=options.access_log, log_level="info",
        timeout_graceful_shutdown=10,
    )


def run_workers(config: Any) -> None:
    """Serve with config.workers processes; SIGHUP stops them all (uvicorn's supervisor would restart them)."""
    from uvicorn.supervisors import Multiprocess

    class _Supervisor(Multiprocess):
        def handle_hup(self) -> None:  # a closed terminal stops `up` whatever the worker count
            self.handle_term()

    import inspect

    import uvicorn

    sockets = [config.bind_socket()]
    if "target" in inspect.signature(Multiprocess.__init__).parameters:  # uvicorn before 0.50 takes it
        _Supervisor(config, target=uvicorn.Server(config).run, sockets=sockets).run()
    else:  # later ones build each worker's server from the config
        _Supervisor(config, sockets=sockets).run()
