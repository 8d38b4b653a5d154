"""Job kinds and their handlers: one module per kind, each exporting `HANDLER = Handler(...)`.

The worker imports every module of `salesflow.functions.handlers` plus any extra modules it is
given (`--handlers` or SALESFLOW_WORKER_HANDLERS), and routes a claimed job to the handler of its
kind. A handler declares a pydantic model for its payload: the worker parses the payload into it
before the call, so a handler never sees malformed input. A handler module looks like:

    class Payload(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        lead_id: UUID

    async def run(job: JobContext, payload: Payload) -> None:
        async with job.connection() as conn:
            ...
        await job.resources.gateway.complete(...)  # the worker's one gateway, never a module's own

    HANDLER = Handler(kind="embed_lead", payload=Payload, run=run, timeout=30)

Delivery is at least once (a worker may die after the side effect and before recording it), so
every handler's side effect must be idempotent: upserts keyed by the payload's ids, not appends.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any
from uuid import UUID

import psycopg
from pydantic import BaseModel

from salesflow.db.constants import JOB_KIND_PATTERN

if TYPE_CHECKING:
    from salesflow.functions.resources import WorkerResources

KIND = re.compile(JOB_KIND_PATTERN)  # the CHECK on salesflow.jobs.kind
HANDLERS_PACKAGE = "salesflow.functions.handlers"


class RegistryError(Exception):
    """The handler modules are inconsistent (a duplicate kind, a module without HANDLER, a bad timeout)."""


class PermanentError(Exception):
    """Raise from a handler when retrying cannot help (the lead was deleted, the input is unusable).

    The job goes straight to the dead state with this message as its last error.
    """


class RetryLater(Exception):
    """Raise from a handler to retry after `delay` seconds instead of the backoff (e.g. a Retry-After).

    The attempt still counts: a job that keeps asking to retry ends dead after max_attempts.
    """

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = max(0.0, float(delay))


@dataclass(frozen=True)
class JobContext:
    """What a handler knows about the job it runs, its way to the database, and the worker's resources."""

    id: int
    kind: str
    queue: str
    attempt: int
    max_attempts: int
    org_id: UUID | None
    worker: str
    # an autocommit connection from the worker's handler pool, returned when the block exits
    connection: Callable[[], AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]] = field(repr=False)
    # the worker process's gateway, embedders and validated LLM configuration (functions/resources.py)
    resources: WorkerResources = field(repr=False)

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


Run = Callable[[JobContext, Any], Awaitable[None]]


@dataclass(frozen=True)
class Handler:
    """One job kind: its payload model, the coroutine that runs it, and how it is retried.

    `timeout` (seconds) must be shorter than the lease: a handler that overruns is cancelled and
    its attempt fails, so it can never still be running when its lease runs out. `lease`: the lease
    this kind's jobs need when it is longer than the worker's (a slow kind, such as the offline
    model's suggestions, without lengthening every other kind's recovery after a crash).
    `backoff_base` is the first retry delay; each later one doubles, up to the worker's cap.
    """

    kind: str
    payload: type[BaseModel]
    run: Run
    timeout: float = 30.0
    backoff_base: float = 10.0
    lease: float | None = None

    def __post_init__(self) -> None:
        if not KIND.fullmatch(self.kind):
            raise RegistryError(
                f"job kind {self.kind!r} must be lower-case letters, digits and _, starting with a letter"
            )
        if self.timeout <= 0 or self.backoff_base <= 0:
            raise RegistryError(f"{self.kind}: timeout and backoff_base must be positive")
        if self.lease is not None and self.lease <= self.timeout:
            raise RegistryError(f"{self.kind}: its lease ({self.lease:g} s) must be longer than its timeout "
                                f"({self.timeout:g} s)")

    def lease_for(self, worker_lease: float) -> float:
        """The lease this kind's jobs are held with under a worker whose lease is `worker_lease`."""
        return max(worker_lease, self.lease or 0.0)


@dataclass(frozen=True)
class Registry:
    """Handlers by kind."""

    handlers: Mapping[str, Handler]

    def get(self, kind: str) -> Handler | None:
        return self.handlers.get(kind)

    @property
    def kinds(self) -> list[str]:
        return sorted(self.handlers)

    def check_lease(self, lease: float) -> None:
        """Refuse a handler whose timeout is not shorter than the lease (DESIGN.md decision 6)."""
        for handler in self.handlers.values():
            if handler.timeout >= handler.lease_for(lease):
                raise RegistryError(
                    f"handler {handler.kind} has a {handler.timeout:g} s timeout, not shorter than the "
                    f"{lease:g} s lease; raise --lease or lower the handler's timeout"
                )

    def lease_for(self, kind: str, worker_lease: float) -> float:
        handler = self.handlers.get(kind)
        return worker_lease if handler is None else handler.lease_for(worker_lease)


def _handler_of(module: ModuleType) -> Handler:
    handler = getattr(module, "HANDLER", None)
    if not isinstance(handler, Handler):
        raise RegistryError(f"handler module {module.__name__} defines no HANDLER = Handler(...)")
    return handler


def _modules(package: str) -> Iterable[str]:
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            yield f"{package}.{info.name}"


def load_registry(extra_modules: Iterable[str] = (), *, include_builtin: bool = True) -> Registry:
    """Import the built-in handler modules and `extra_modules`; one kind per module, no duplicates."""
    names = [*(_modules(HANDLERS_PACKAGE) if include_builtin else ()), *extra_modules]
    handlers: dict[str, Handler] = {}
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise RegistryError(f"cannot import handler module {name}: {exc}") from exc
        handler = _handler_of(module)
        if handler.kind in handlers:
            raise RegistryError(f"job kind {handler.kind} is handled twice (again in {name})")
        handlers[handler.kind] = handler
    return Registry(MappingProxyType(handlers))

