"""The queue worker (DESIGN.md decision 5): claim, commit, call, finish.

A claim is one statement (SKIP LOCKED, a lease) that commits before any handler starts, so no
transaction or row lock is held while a handler runs. Outcomes are recorded in batches on a
second connection; a third LISTENs for wake-ups, and the worker polls as well, so a lost
notification, a cut connection or a restarted database delays jobs and never strands them.
While a handler runs its lease is extended by heartbeat; a handler whose lease could not be
extended in time is cancelled, so two workers never run one job at once. Every worker also
sweeps expired leases back into the queue and enqueues due schedules.

The worker owns its handlers' resources (functions/resources.py): the pool, the AI gateway and the
embedders are created by the worker (the configuration validated before it starts) and closed when
it stops, and reach handlers through their JobContext.

SIGTERM or SIGINT: stop claiming, let running handlers finish within the grace period, then
cancel the rest and release their jobs (the attempt is not counted). A second signal skips the
wait.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import signal
import socket
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass

import psycopg
from psycopg_pool import PoolTimeout

from salesflow.db.constants import QUEUE_NAME_PATTERN
from salesflow.functions.jobs import ClaimedJob, Outcome, execute
from salesflow.functions.links import Link, listen
from salesflow.functions.registry import JobContext, Registry
from salesflow.functions.resources import WorkerResources

log = logging.getLogger("salesflow.worker")

QUEUE = re.compile(QUEUE_NAME_PATTERN)  # the CHECK on salesflow.jobs.queue
DB_ERRORS = (psycopg.Error, PoolTimeout, OSError)


class WorkerConfigError(ValueError):
    """A worker setting is out of range; the message says which."""


@dataclass(frozen=True)
class WorkerConfig:
    """How a worker runs. Times are in seconds."""

    queues: tuple[str, ...] = ("default",)
    concurrency: int = 10
    lease: float = 60.0
    poll_interval: float = 2.0
    sweep_interval: float = 5.0
    grace_period: float = 10.0
    backoff_cap: float = 3600.0
    max_payload_bytes: int = 65536
    schedules: bool = True

    def __post_init__(self) -> None:
        bad = [q for q in self.queues if not QUEUE.fullmatch(q)]
        if not self.queues or bad:
            raise WorkerConfigError(f"queue names must be lower-case letters, digits and _ (got {bad or 'none'})")
        if self.concurrency < 1:
            raise WorkerConfigError("concurrency must be at least 1")
        if self.lease < 2:
            raise WorkerConfigError("the lease must be at least 2 seconds")
        if min(self.poll_interval, self.sweep_interval) <= 0 or self.grace_period < 0:
            raise WorkerConfigError("poll and sweep intervals must be positive, the grace period not negative")

    @property
    def heartbeat_interval(self) -> float:
        return self.lease / 4

    @property
    def lease_margin(self) -> float:
        """Cancel a handler this long before its lease would run out unrenewed."""
        return min(5.0, self.lease / 8)


class InFlight:
    """A job this worker holds: its handler task while it runs, then its outcome until recorded."""

    __slots__ = ("job", "task", "lease", "lease_deadline", "cancel_reason")

    def __init__(self, job: ClaimedJob, lease: float, lease_deadline: float) -> None:
        self.job = job
        self.task: asyncio.Task[None] | None = None
        self.lease = lease  # seconds each renewal holds it for (its kind's, if longer than the worker's)
        self.lease_deadline = lease_deadline  # time.monotonic() by which the lease must be renewed
        self.cancel_reason: str | None = None


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    """One worker process's queue loop; `await Worker(url, config, registry, resources=...).run()`.

    Without `resources`, they are built from the environment here, so a bad LLM configuration
    raises ConfigError before anything runs.
    """

    def __init__(self, url: str, config: WorkerConfig, registry: Registry, *,
                 resources: WorkerResources | None = None, worker_id: str | None = None) -> None:
        registry.check_lease(config.lease)
        self.resources = resources if resources is not None else WorkerResources.from_env()
        self.url = url
        self.config = config
        self.registry = registry
        self.id = worker_id or new_worker_id()
        self.stats: Counter[str] = Counter()
        self._claims = Link(url, f"salesflow-worker {self.id}")
        self._records = Link(url, f"salesflow-worker records {self.id}")
        self._held: dict[int, InFlight] = {}
        self._running = 0
        self._outcomes: list[Outcome] = []
        self._releases: list[ClaimedJob] = []
        self._claim_uncertain = False

    # -- events (created inside the running loop) --------------------------------------------------
    def _make_events(self) -> None:
        self._wake = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._to_record = asyncio.Event()
        self._stopping = asyncio.Event()
        self._hurry = asyncio.Event()

    def request_stop(self) -> None:
        """First call: stop claiming and drain within the grace period. Second call: stop now."""
        if self._stopping.is_set():
            log.info("second stop request: cancelling running jobs now", extra={"worker": self.id})
            self._hurry.set()
        else:
            log.info("stopping", extra={"worker": self.id, "running": self._running,
                                        "grace_period": self.config.grace_period})
            self._stopping.set()
        self._wake.set()
        self._slot_free.set()

    # -- the main loop -----------------------------------------------------------------------------
    async def run(self, *, install_signal_handlers: bool = True) -> None:
        self._make_events()
        loop = asyncio.get_running_loop()
        if install_signal_handlers:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self.request_stop)
        await self.resources.open(self.url, max_size=self.config.concurrency,
                                  application_name=f"salesflow-worker jobs {self.id}")
        log.info("worker started", extra={
            "worker": self.id, "queues": list(self.config.queues), "concurrency": self.config.concurrency,
            "lease": self.config.lease, "kinds": self.registry.kinds,
        })
        background = [
            asyncio.create_task(listen(self.url, self.config.queues, self._wake.set,
                                       f"salesflow-worker listen {self.id}"), name="listen"),
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self._maintenance_loop(), name="maintenance"),
        ]
        recorder = asyncio.create_task(self._record_loop(), name="record")
        try:
            await self._claim_loop()
        finally:
            await self._shutdown(background, recorder)
            if install_signal_handlers:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)

    async def _claim_loop(self) -> None:
        pause = 0.2
        while not self._stopping.is_set():
            free = self.config.concurrency - self._running
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            # cleared before the claim: a notification that arrives during it triggers the next one
            self._wake.clear()
            sent = time.monotonic()
            try:
                if self._claim_uncertain:
                    # a claim's answer was lost with its connection: give back what it took
                    released = await self._claims.value(
                        "release_unknown_jobs", {"worker": self.id, "known": list(self._held)})
                    self._claim_uncertain = False
                    if released:
                        log.info("released jobs of a lost claim", extra={"worker": self.id, "jobs": released})
                rows = await self._claims.fetch("claim_jobs", {
                    "worker": self.id, "queues": list(self.config.queues), "batch_size": free,
                    "lease": self.config.lease,
                })
            except DB_ERRORS as exc:
                self._claim_uncertain = True
                log.warning("claim failed; retrying", extra={"worker": self.id, "error": _first_line(exc),
                                                            "retry_in": pause})
                await self._sleep_unless_stopping(pause)
                pause = min(5.0, pause * 2)
                continue
            pause = 0.2
            for row in rows:
                self._start(ClaimedJob(**row), sent + self.config.lease)
            if len(rows) < free:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        waits = [asyncio.create_task(self._wake.wait()), asyncio.create_task(self._stopping.wait())]
        try:
            await asyncio.wait(waits, timeout=self.config.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # -- running one job ---------------------------------------------------------------------------
    def _start(self, job: ClaimedJob, lease_deadline: float) -> None:
        # claimed with the worker's lease; a kind that needs a longer one gets it at the first heartbeat
        held = InFlight(job, self.registry.lease_for(job.kind, self.config.lease), lease_deadline)
        self._held[job.id] = held
        self._running += 1
        held.task = asyncio.create_task(self._run_job(held), name=f"job {job.id}")

    async def _run_job(self, held: InFlight) -> None:
        job = held.job
        try:
            outcome = await execute(job, self.registry, self._context, max_payload_bytes=self.config.max_payload_bytes)
        except asyncio.CancelledError:
            if held.cancel_reason == "shutdown":
                self._releases.append(job)
                self._to_record.set()
            else:
                # lease lost or job cancelled: someone else owns the job's fate now
                self._held.pop(job.id, None)
                log.warning("job stopped", extra={"worker": self.id, "job_id": job.id, "kind": job.kind,
                                                  "reason": held.cancel_reason})
            return
        finally:
            held.task = None
            self._running -= 1
            self._slot_free.set()
        self._outcomes.append(outcome)
        self._to_record.set()

    def _context(self, job: ClaimedJob) -> JobContext:
        return JobContext(id=job.id, kind=job.kind, queue=job.queue, attempt=job.attempt,
                          max_attempts=job.max_attempts, org_id=job.org_id, worker=self.id,
                          connection=self.resources.connection, resources=self.resources)

    # -- recording outcomes ------------------------------------------------------------------------
    async def _record_loop(self) -> None:
        pause = 0.2
        while True:
            await self._to_record.wait()
            self._to_record.clear()
            try:
                await self._record_pending()
                pause = 0.2
            except DB_ERRORS as exc:
                log.warning("recording outcomes failed; retrying", extra={
                    "worker": self.id, "error": _first_line(exc), "waiting": len(self._outcomes), "retry_in": pause})
                await asyncio.sleep(pause)
                pause = min(5.0, pause * 2)
                self._to_record.set()

    async def _record_pending(self) -> None:
        """Record every outcome and release collected so far; what fails stays queued for the next try."""
        while self._outcomes or self._releases:
            outcomes, self._outcomes = self._outcomes, []
            releases, self._releases = self._releases, []
            try:
                await self._record(outcomes, releases)
            except BaseException:
                self._outcomes[:0] = outcomes
                self._releases[:0] = releases
                raise

    async def _record(self, outcomes: list[Outcome], releases: list[ClaimedJob]) -> None:
        completed = [o for o in outcomes if o.status == "completed"]
        if completed:
            recorded = await self._records.value("complete_jobs", {
                "worker": self.id, "job_ids": [o.job.id for o in completed],
                "attempts": [o.job.attempt for o in completed],
            })
            if recorded < len(completed):
                log.warning("completions not recorded: already recorded, or the leases ran out and the jobs "
                            "go round again",
                            extra={"worker": self.id, "jobs": len(completed) - recorded})
            for o in completed:
                self._held.pop(o.job.id, None)
                log.debug("job completed", extra={"worker": self.id, "job_id": o.job.id, "kind": o.job.kind,
                                                  "attempt": o.job.attempt, "duration_ms": round(o.duration * 1000, 1)})
            self.stats["completed"] += len(completed)
        for o in (o for o in outcomes if o.status == "failed"):
            status = await self._records.value("fail_job", {
                "worker": self.id, "job_id": o.job.id, "attempt": o.job.attempt, "error": o.error,
                "retryable": o.retryable, "retry_in": o.retry_in, "backoff_base": o.backoff_base,
                "backoff_cap": self.config.backoff_cap,
            })
            self._held.pop(o.job.id, None)
            self.stats["dead" if status == "dead" else "failed"] += 1
            log.log(logging.ERROR if status == "dead" else logging.WARNING,
                    "job dead" if status == "dead" else "job failed; will retry",
                    extra={"worker": self.id, "job_id": o.job.id, "kind": o.job.kind, "attempt": o.job.attempt,
                           "max_attempts": o.job.max_attempts, "status": status,
                           "error": (o.error or "").splitlines()[0][:500]})
        if releases:
            await self._records.value("release_jobs", {
                "worker": self.id, "job_ids": [j.id for j in releases], "attempts": [j.attempt for j in releases],
            })
            for job in releases:
                self._held.pop(job.id, None)
            self.stats["released"] += len(releases)

    # -- leases ------------------------------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval)
            by_lease: dict[float, list[int]] = {}
            for job_id, entry in self._held.items():
                by_lease.setdefault(entry.lease, []).append(job_id)
            for lease, ids in by_lease.items():
                sent = time.monotonic()
                try:
                    held = set(await self._records.value("heartbeat_jobs", {
                        "worker": self.id, "job_ids": ids, "lease": lease}) or ())
                except DB_ERRORS as exc:
                    log.warning("heartbeat failed", extra={"worker": self.id, "error": _first_line(exc),
                                                           "jobs": len(ids)})
                    continue
                for job_id in ids:
                    entry = self._held.get(job_id)
                    if entry is None:
                        continue
                    if job_id in held:
                        entry.lease_deadline = sent + lease
                    elif entry.task is not None:
                        self._cancel(entry, "the job was cancelled or its lease taken back")
            # the lease guard: never let a handler outlive a lease this worker could not renew
            now = time.monotonic()
            for entry in list(self._held.values()):
                if entry.task is not None and now > entry.lease_deadline - self.config.lease_margin:
                    self._cancel(entry, "lease lost: it could not be renewed in time")

    def _cancel(self, entry: InFlight, reason: str) -> None:
        if entry.task is not None and entry.cancel_reason is None:
            entry.cancel_reason = reason
            entry.task.cancel()

    async def _maintenance_loop(self) -> None:
        """Sweep expired leases back into the queue and enqueue due schedules, on every worker."""
        while True:
            try:
                swept = await self._records.value("sweep_expired_leases")
                if swept:
                    log.info("returned jobs with expired leases", extra={"worker": self.id, "jobs": swept})
                    self._wake.set()
                if self.config.schedules:
                    enqueued = await self._records.value("enqueue_due_schedules")
                    if enqueued:
                        log.info("enqueued scheduled jobs", extra={"worker": self.id, "jobs": enqueued})
            except DB_ERRORS as exc:
                log.warning("maintenance failed", extra={"worker": self.id, "error": _first_line(exc)})
            await asyncio.sleep(self.config.sweep_interval)

    # -- stopping ----------------------------------------------------------------------------------
    async def _shutdown(self, background: list[asyncio.Task[None]], recorder: asyncio.Task[None]) -> None:
        self._stopping.set()
        running = [h.task for h in self._held.values() if h.task is not None]
        if running:
            log.info("waiting for running jobs", extra={"worker": self.id, "jobs": len(running),
                                                         "grace_period": self.config.grace_period})
            finished = asyncio.gather(*running, return_exceptions=True)
            hurry = asyncio.create_task(self._hurry.wait())
            await asyncio.wait([finished, hurry], timeout=self.config.grace_period,
                               return_when=asyncio.FIRST_COMPLETED)
            hurry.cancel()
        late = [h for h in self._held.values() if h.task is not None]
        for entry in late:
            self._cancel(entry, "shutdown")
        if late:
            _, stuck = await asyncio.wait([h.task for h in late if h.task is not None], timeout=2.0)
            # a handler that ignores cancellation (blocking code) cannot keep its job: release it anyway
            self._releases.extend(h.job for h in late if h.task is not None and h.task in stuck)
            log.info("released unfinished jobs", extra={"worker": self.id, "jobs": len(late)})
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        # record what is left while the database answers, for a bounded time
        recorder.cancel()
        await asyncio.gather(recorder, return_exceptions=True)
        deadline = time.monotonic() + max(5.0, self.config.grace_period / 2)
        while (self._outcomes or self._releases) and time.monotonic() < deadline:
            try:
                await self._record_pending()
            except DB_ERRORS as exc:
                log.warning("recording outcomes at stop failed; retrying", extra={
                    "worker": self.id, "error": _first_line(exc)})
                await asyncio.sleep(0.5)
        if self._outcomes or self._releases:
            log.error("stopped with unrecorded outcomes; their leases will expire and the jobs run again",
                      extra={"worker": self.id, "jobs": len(self._outcomes) + len(self._releases)})
        await self._claims.close()
        await self._records.close()
        await self.resources.aclose()
        log.info("worker stopped", extra={"worker": self.id, **self.stats})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
