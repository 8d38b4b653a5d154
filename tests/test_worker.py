"""The worker as real processes (`python -m salesflow worker`) against real PostgreSQL.

Workers load the test job kinds in tests/job_handlers, which write to tables created here in the
test's own database clone. Waits are bounded by generous deadlines; nothing asserts a duration.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from salesflow.db.embedded import EmbeddedServer, free_port
from salesflow.db.migrate import migrate
from salesflow.functions.registry import Handler, RegistryError
from tests.conftest import ROOT

EFFECT, FLAKY, SLEEP = "tests.job_handlers.effect", "tests.job_handlers.flaky", "tests.job_handlers.sleep"
LONG_LEASE = "tests.job_handlers.long_lease"

TEST_TABLES = """
-- no unique key on purpose: a job run twice at once would write its key twice, and the tests look
create table public.queue_effects (key text not null, job_id bigint not null, written_at timestamptz default now());
create index on public.queue_effects (key);
create table public.queue_deliveries (
    job_id bigint not null, attempt integer not null, worker text not null,
    started_at timestamptz not null, finished_at timestamptz
);
create table public.queue_attempts (key text not null, attempt integer not null, at timestamptz not null);
create table public.queue_switches (key text primary key);
"""


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log().splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                pass
        return found


class Workers:
    """Starts worker processes for one test and makes sure none outlives it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[WorkerProcess] = []

    def start(self, url: str, *handlers: str, lease: float = 5, poll: float = 0.3, grace: float = 1.0,
              concurrency: int = 10, schedules: bool = False) -> WorkerProcess:
        log_path = self.tmp / f"worker-{len(self.started)}.log"
        # no handler modules named: the built-in ones, else only those named
        cmd = [
            sys.executable, "-m", "salesflow", "worker", "--no-migrate",
            "--handlers", ",".join(h for h in handlers if h), "--lease", str(lease), "--poll-interval", str(poll),
            "--sweep-interval", "0.5", "--grace", str(grace), "--concurrency", str(concurrency),
        ]
        if any(handlers):
            cmd.append("--no-builtin-handlers")
        if not schedules:
            cmd.append("--no-schedules")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, env={**os.environ, "DATABASE_URL": url}, stdout=log,
                                    stderr=subprocess.STDOUT, cwd=ROOT)
        worker = WorkerProcess(proc, log_path)
        self.started.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(f"--- worker {w.pid} ---\n{w.log()[-3000:]}" for w in self.started)

    def stop_all(self) -> None:
        for w in self.started:
            if w.proc.poll() is None:
                w.proc.kill()
                w.proc.wait(10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    group = Workers(tmp_path)
    try:
        yield group
    finally:
        group.stop_all()


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as c:
        c.execute(TEST_TABLES)
        yield c


def value(conn: psycopg.Connection, query: str, params: Any = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return next(iter(row.values()))


def enqueue(conn: psycopg.Connection, kind: str, payload: dict[str, Any], **kw: Any) -> int:
    names = "".join(f", {k} => %({k})s" for k in kw)
    return value(conn, f"select salesflow.enqueue(%(kind)s, %(payload)s{names})",
                 {"kind": kind, "payload": Jsonb(payload), **kw})


def wait_for(check: Callable[[], bool], what: str, workers: Workers, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:g} s waiting for {what}\n{workers.logs()}")
        time.sleep(0.05)


def unfinished(conn: psycopg.Connection) -> int:
    return value(conn, "select count(*) from salesflow.jobs where status in ('pending', 'running')")


def held_by(conn: psycopg.Connection, worker: WorkerProcess) -> int:
    return value(conn, "select count(*) from salesflow.jobs where status = 'running' and worker like %s",
                 (f"%:{worker.pid}:%",))


def listening(conn: psycopg.Connection, worker: WorkerProcess) -> list[int]:
    return [r["pid"] for r in conn.execute(
        "select pid from pg_stat_activity where application_name like %s",
        (f"salesflow-worker listen %:{worker.pid}:%",)).fetchall()]


# -- crash safety and concurrency ---------------------------------------------------------------------
def test_jobs_survive_a_worker_killed_again_and_again(conn, db_url, workers) -> None:
    """Thousands of jobs, three workers, one SIGKILLed repeatedly: every job ends completed or dead,
    none is lost, and the side effect keyed by each job's key is written exactly once."""
    total = 0

    def add_jobs(n: int) -> None:
        nonlocal total
        conn.execute("""
            select salesflow.enqueue('test_effect', jsonb_build_object('key', 'effect:' || i, 'sleep_ms', 5),
                                     idempotency_key => 'effect:' || i)
            from generate_series(%s::integer, %s::integer) as i
        """, (total + 1, total + n))
        total += n

    add_jobs(3000)
    for _ in range(2):
        workers.start(db_url, EFFECT, lease=3)
    kills, victim, deadline = 0, None, time.monotonic() + 90
    while kills < 6:
        # keep work in the queue, so that every kill catches the victim with jobs in hand
        if value(conn, "select count(*) from salesflow.jobs where status = 'pending'") < 1000:
            add_jobs(1000)
        victim = victim or workers.start(db_url, EFFECT, lease=3)
        if held_by(conn, victim) > 0:
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait(10)
            kills, victim = kills + 1, None
        elif time.monotonic() > deadline:
            pytest.fail(f"the victim never held a job\n{workers.logs()}")
        time.sleep(0.02)

    wait_for(lambda: unfinished(conn) == 0, "every job to finish", workers, timeout=90)
    statuses = {r["status"]: r["n"] for r in conn.execute(
        "select status, count(*) as n from salesflow.jobs group by 1").fetchall()}
    assert sum(statuses.values()) == total, statuses
    assert set(statuses) <= {"completed", "dead"}, statuses
    # every completed job's effect is there exactly once, and no effect belongs to no job
    missing_or_doubled = conn.execute("""
        select j.id, count(e.key) as effects
        from salesflow.jobs as j left join public.queue_effects as e on e.key = j.payload ->> 'key'
        where j.status = 'completed'
        group by j.id having count(e.key) <> 1
    """).fetchall()
    assert missing_or_doubled == []
    assert value(conn, "select count(*) - count(distinct key) from public.queue_effects") == 0
    assert value(conn, """select count(*) from public.queue_effects as e
                          where not exists (select from salesflow.jobs as j where j.payload ->> 'key' = e.key)""") == 0
    # the kills really did catch jobs in flight, and those were delivered again
    assert value(conn, "select count(*) from salesflow.jobs where attempts > 1") > 0
    for row in conn.execute("select last_error from salesflow.jobs where status = 'dead'").fetchall():
        assert row["last_error"].startswith("lease expired"), row


def test_keyed_jobs_asked_for_again_while_running_survive_a_sigkill_without_jamming(conn, db_url, workers) -> None:
    """Issue 8's jam: requests repeated while their job runs, the worker SIGKILLed, the sweep hands the
    jobs on. One live job per key throughout, every outcome recorded, nothing failed for bookkeeping."""
    keys = [f"again:{i}" for i in range(40)]
    for key in keys:
        enqueue(conn, "test_effect", {"key": key, "sleep_ms": 1500}, idempotency_key=key)
    victim = workers.start(db_url, EFFECT, lease=3, concurrency=20)
    wait_for(lambda: held_by(conn, victim) >= 10, "the victim to hold jobs", workers)
    # the user asks again for everything: running holders get a rerun, pending ones are returned
    for key in keys:
        enqueue(conn, "test_effect", {"key": key, "sleep_ms": 1500}, idempotency_key=key)
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    for key in keys[:10]:  # and again, while the dead worker's leases run out
        enqueue(conn, "test_effect", {"key": key, "sleep_ms": 1500}, idempotency_key=key)
    heir = workers.start(db_url, EFFECT, lease=3, concurrency=20)
    live_per_key = "select coalesce(max(n), 0) from (select count(*) as n from salesflow.jobs " \
                   "where status in ('pending', 'running') group by idempotency_key) as k"
    deadline = time.monotonic() + 90
    while unfinished(conn):
        assert value(conn, live_per_key) <= 1
        assert time.monotonic() < deadline, workers.logs()
        time.sleep(0.1)
    assert value(conn, "select count(*) from salesflow.jobs") == len(keys)
    assert value(conn, "select count(*) from salesflow.jobs where status = 'completed'") == len(keys)
    assert value(conn, "select count(distinct key) from public.queue_effects") == len(keys)
    log = heir.log()
    for jam in ("recording outcomes failed", "maintenance failed", "completions not recorded"):
        assert jam not in log, log[-3000:]


def test_no_job_is_claimed_twice_and_schedules_run_once_per_due_time(conn, db_url, workers) -> None:
    conn.execute("""
        select salesflow.enqueue('test_effect', jsonb_build_object('key', 'k' || i, 'sleep_ms', 2))
        from generate_series(1, 1000) as i
    """)
    conn.execute("delete from salesflow.job_schedules")  # the migrations' schedules are for other kinds
    conn.execute("select salesflow.schedule_job('tick', 'test_effect', every => '1 second', payload => %s)",
                 (Jsonb({"key": "tick"}),))
    for _ in range(3):
        workers.start(db_url, EFFECT, lease=5, schedules=True)
    wait_for(lambda: value(conn, "select count(*) from salesflow.jobs where schedule = 'tick'") >= 3
             and unfinished(conn) == 0, "the jobs and three ticks", workers)
    assert value(conn, "select count(*) from salesflow.jobs where status <> 'completed'") == 0
    # each job was delivered exactly once: no claim ever handed a job to two workers
    assert value(conn, """select count(*) from (select job_id from public.queue_deliveries
                          group by job_id having count(*) <> 1) as twice""") == 0
    assert value(conn, "select count(distinct worker) from public.queue_deliveries") == 3
    ticks = [r["scheduled_for"] for r in conn.execute(
        "select scheduled_for from salesflow.jobs where schedule = 'tick' order by 1").fetchall()]
    assert len(ticks) == len(set(ticks))
    assert all((b - a).total_seconds() % 1 == 0 for a, b in zip(ticks, ticks[1:], strict=False))


# -- retries and bad input ----------------------------------------------------------------------------
def test_failing_handler_makes_max_attempts_with_backoff_then_dies_and_retry_brings_it_back(
    conn, db_url, workers
) -> None:
    job_id = enqueue(conn, "test_flaky", {"key": "flaky"}, max_attempts=3)
    worker = workers.start(db_url, FLAKY)
    wait_for(lambda: value(conn, "select status from salesflow.jobs where id = %s", (job_id,)) == "dead",
             "the job to die", workers)
    row = conn.execute("select * from salesflow.jobs where id = %s", (job_id,)).fetchone()
    assert row["attempts"] == 3
    # one line with where it was raised; the traceback is in the worker's log
    assert row["last_error"].startswith("RuntimeError: boom on attempt 3 (at flaky.py:")
    assert "\n" not in row["last_error"] and "Traceback" not in row["last_error"]
    assert any(e.get("msg") == "handler raised" and e.get("job_id") == job_id and "Traceback" in e.get("exc", "")
               for e in worker.events())
    attempts = conn.execute("select attempt, at from public.queue_attempts order by at").fetchall()
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    # backoff (base 0.4 s): the n-th retry waits at least half of 0.4 * 2^(n-1) seconds
    gaps = [(b["at"] - a["at"]).total_seconds() for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, gaps
    assert any(e.get("msg") == "job dead" and e.get("job_id") == job_id for e in worker.events())

    # fix the cause, then redrive with the CLI
    conn.execute("insert into public.queue_switches values ('flaky')")
    cli = run_cli(db_url, "jobs", "retry", str(job_id))
    assert cli.returncode == 0 and "retried 1 job(s)" in cli.stdout, cli
    wait_for(lambda: value(conn, "select status from salesflow.jobs where id = %s", (job_id,)) == "completed",
             "the retried job to complete", workers)
    assert value(conn, "select attempts from salesflow.jobs where id = %s", (job_id,)) == 1

    again = run_cli(db_url, "jobs", "retry", str(job_id))
    assert again.returncode == 2 and f"job {job_id} is completed, not dead" in again.stderr
    listed = run_cli(db_url, "jobs", "list", "--kind", "test_flaky")
    assert listed.returncode == 0, listed
    assert re.search(rf"^{job_id}\s+default\s+test_flaky\s+completed\s", listed.stdout, re.MULTILINE), listed.stdout
    shown = run_cli(db_url, "jobs", "show", str(job_id))
    # a completed job clears last_error (the earlier attempts' reasons stay in the worker's log)
    assert '"key": "flaky"' in shown.stdout and "boom on attempt 3" not in shown.stdout


def test_bad_input_goes_dead_with_a_clear_error_and_the_worker_keeps_running(conn, db_url, workers) -> None:
    cases = {
        enqueue(conn, "no_such_kind", {}): "unknown job kind 'no_such_kind': no handler is registered",
        enqueue(conn, "test_effect", {"key": 5}): "malformed payload for job kind test_effect: key: Input should be "
                                                  "a valid string",
        enqueue(conn, "test_effect", {}): "malformed payload for job kind test_effect: key: Field required",
        enqueue(conn, "test_effect", {"key": "x" * 10_000}): "malformed payload for job kind test_effect: key: "
                                                              "String should have at most 200 characters",
        enqueue(conn, "test_effect", {"key": "k", "notes": "y" * 100_000}): "over the 65536-byte limit: enqueue ids",
    }
    worker = workers.start(db_url, EFFECT)
    wait_for(lambda: unfinished(conn) == 0, "the bad jobs to be handled", workers)
    for job_id, message in cases.items():
        row = conn.execute("select status, attempts, last_error from salesflow.jobs where id = %s",
                           (job_id,)).fetchone()
        assert (row["status"], row["attempts"]) == ("dead", 1), row
        assert message in row["last_error"], row["last_error"]
        assert "xxxxxxxxxx" not in row["last_error"]  # the error names the problem, never echoes the input
    good = enqueue(conn, "test_effect", {"key": "fine"})
    wait_for(lambda: value(conn, "select status from salesflow.jobs where id = %s", (good,)) == "completed",
             "a good job after the bad ones", workers)
    assert worker.proc.poll() is None


def test_builtin_handlers_purge_jobs_and_refresh_views(conn, db_url, workers) -> None:
    conn.execute("""
        create materialized view analytics.test_lead_counts as
        select 1 as id, count(*) as leads from salesflow.leads with no data;
        create unique index on analytics.test_lead_counts (id);
    """)
    old = enqueue(conn, "noop", {})
    conn.execute("select salesflow.claim_jobs('w', '{default}', 1, '1 minute')")
    conn.execute("select salesflow.complete_jobs('w', %s, %s)", ([old], [1]))
    conn.execute("update salesflow.jobs set finished_at = now() - interval '8 days' where id = %s", (old,))
    first = enqueue(conn, "refresh_view", {"view": "test_lead_counts"})
    purge = enqueue(conn, "purge_jobs", {})
    missing = enqueue(conn, "refresh_view", {"view": "no_such_view"})
    workers.start(db_url, lease=60)
    wait_for(lambda: unfinished(conn) == 0, "the built-in jobs", workers)
    statuses = {r["id"]: r for r in conn.execute("select id, status, last_error from salesflow.jobs").fetchall()}
    assert old not in statuses  # purged
    assert statuses[first]["status"] == statuses[purge]["status"] == "completed"
    assert value(conn, "select leads from analytics.test_lead_counts") == 0  # populated by the first refresh
    assert statuses[missing]["status"] == "dead"
    assert "analytics.no_such_view is not a materialized view" in statuses[missing]["last_error"]
    # once populated, the view is refreshed concurrently (which needs, and has, its unique index)
    second = enqueue(conn, "refresh_view", {"view": "test_lead_counts"})
    wait_for(lambda: value(conn, "select status from salesflow.jobs where id = %s", (second,)) == "completed",
             "a concurrent refresh", workers)


# -- lost connections ---------------------------------------------------------------------------------
def test_cut_listen_connection_is_restored_and_jobs_still_start(conn, db_url, workers) -> None:
    # polling every 60 s: within the deadlines below only NOTIFY can start a job
    worker = workers.start(db_url, EFFECT, poll=60)
    wait_for(lambda: len(listening(conn, worker)) == 1, "the worker to LISTEN", workers)
    first = enqueue(conn, "test_effect", {"key": "before"})
    wait_for(lambda: value(conn, "select status from salesflow.jobs where id = %s", (first,)) == "completed",
             "a job woken by NOTIFY", workers, timeout=30)

    [old] = listening(conn, worker)
    assert value(conn, "select pg_terminate_backend(%s)", (old,))
    cut = enqueue(conn, "test_effect", {"key": "during"})  # may be enqueued while nobody listens
    wait_for(lambda: listening(conn, worker) not in ([], [old]), "the worker to LISTEN again", workers, timeout=30)
    after = enqueue(conn, "test_effect", {"key": "after"})
    wait_for(lambda: value(conn, "select count(*) from salesflow.jobs where id in (%s, %s) and status = 'completed'",
                           (cut, after)) == 2, "jobs after the cut", workers, timeout=30)
    assert any(e.get("msg", "").startswith("listen connection lost") for e in worker.events())


def test_polling_starts_jobs_that_no_notification_announced(conn, db_url, workers) -> None:
    workers.start(db_url, EFFECT, poll=0.3)
    # a plain INSERT sends no NOTIFY: only the poll can find this job
    job_id = value(conn, """insert into salesflow.jobs (kind, payload) values ('test_effect', '{"key": "quiet"}')
                            returning id""")
    wait_for(lambda: value(conn, "select status from salesflow.jobs where id = %s", (job_id,)) == "completed",
             "a polled job", workers, timeout=30)


def test_worker_rides_out_a_database_restart(tmp_path: Path, workers) -> None:
    server = EmbeddedServer(tmp_path / "pgdata", fast_unsafe=True)
    port = free_port()
    server.start(port)
    try:
        server.ensure_database()
        url = server.url()
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as c:
            migrate(c)
            c.execute(TEST_TABLES)
            for i in range(20):
                enqueue(c, "test_effect", {"key": f"before-{i}"})
        worker = workers.start(url, EFFECT, SLEEP, lease=24, poll=0.5)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as c:
            wait_for(lambda: unfinished(c) == 0, "jobs before the restart", workers)
            long_job = enqueue(c, "test_sleep", {"seconds": 3})
            wait_for(lambda: held_by(c, worker) == 1, "the long job to start", workers)

        server.stop(mode="fast")  # every connection of the worker is cut, the handler keeps sleeping
        time.sleep(0.5)
        server.start(port)

        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as c:
            wait_for(lambda: value(c, "select status from salesflow.jobs where id = %s", (long_job,)) == "completed",
                     "the job that ran through the restart to be recorded", workers)
            for i in range(20):
                enqueue(c, "test_effect", {"key": f"after-{i}"})
            wait_for(lambda: unfinished(c) == 0, "jobs after the restart", workers)
            assert value(c, "select count(*) from public.queue_effects") == 40
        assert worker.proc.poll() is None
        messages = {e.get("msg") for e in worker.events()}
        assert messages & {"claim failed; retrying", "listen connection lost; polling alone until it is back"}
    finally:
        workers.stop_all()
        server.stop(mode="immediate")


# -- stopping -------------------------------------------------------------------------------------------
def test_sigterm_finishes_short_jobs_and_releases_long_ones_within_the_grace_period(conn, db_url, workers) -> None:
    short = [enqueue(conn, "test_sleep", {"seconds": 0.5}, priority=1) for _ in range(2)]
    long = [enqueue(conn, "test_sleep", {"seconds": 15}) for _ in range(2)]
    worker = workers.start(db_url, SLEEP, lease=24, concurrency=4, grace=3)
    wait_for(lambda: held_by(conn, worker) == 4, "all four jobs to start", workers)
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(30) == 0, worker.log()

    assert value(conn, "select count(*) from salesflow.jobs where status = 'running'") == 0
    rows = {r["id"]: r for r in conn.execute("select * from salesflow.jobs").fetchall()}
    for job_id in short:
        assert rows[job_id]["status"] == "completed"
    for job_id in long:
        # released: back in the queue, the interrupted attempt not counted against the job
        assert (rows[job_id]["status"], rows[job_id]["attempts"], rows[job_id]["lease_expires_at"]) == (
            "pending", 0, None)
        assert f":{worker.pid}:" in rows[job_id]["worker"]
    assert {"stopping", "released unfinished jobs", "worker stopped"} <= {e.get("msg") for e in worker.events()}


def test_cancelling_a_running_job_stops_its_handler(conn, db_url, workers) -> None:
    job_id = enqueue(conn, "test_sleep", {"seconds": 15})
    worker = workers.start(db_url, SLEEP, lease=24)  # heartbeat every 6 s
    wait_for(lambda: held_by(conn, worker) == 1, "the job to start", workers)
    cli = run_cli(db_url, "jobs", "cancel", str(job_id))
    assert cli.returncode == 0 and "cancelled 1 job(s)" in cli.stdout
    wait_for(lambda: any(e.get("msg") == "job stopped" and e.get("job_id") == job_id for e in worker.events()),
             "the handler to be stopped at the next heartbeat", workers, timeout=30)
    assert value(conn, "select status from salesflow.jobs where id = %s", (job_id,)) == "cancelled"


def test_a_kind_with_its_own_lease_runs_longer_than_the_workers_lease(conn, db_url, workers) -> None:
    """A slow kind (the offline model's suggestions) holds its jobs with its own, longer lease."""
    with pytest.raises(RegistryError, match="must be longer than its timeout"):
        Handler(kind="too_short", payload=BaseModel, run=lambda job, payload: None, timeout=20, lease=20)
    job_id = enqueue(conn, "test_long_lease", {"seconds": 9})
    # a 20 s timeout under a 4 s lease: refused without the kind's own lease of 30 s
    worker = workers.start(db_url, LONG_LEASE, lease=4)
    wait_for(lambda: held_by(conn, worker) == 1, "the job to start", workers)
    # after the first heartbeat (every second) the job is held for its kind's 30 s, not the worker's 4
    wait_for(lambda: value(conn, "select extract(epoch from lease_expires_at - now()) from salesflow.jobs "
                                 "where id = %s", (job_id,)) > 10, "the kind's lease", workers, timeout=10)
    wait_for(lambda: value(conn, "select status from salesflow.jobs where id = %s", (job_id,)) == "completed",
             "the job to complete", workers, timeout=40)
    assert value(conn, "select attempts from salesflow.jobs where id = %s", (job_id,)) == 1
    assert not any(e.get("msg") == "job stopped" for e in worker.events())


def run_cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "salesflow", *args], env={**os.environ, "DATABASE_URL": url},
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)


def test_up_runs_a_worker_and_ctrl_c_stops_both(conn, db_url, workers) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "SALESFLOW_API_PORT": str(port),
           "SALESFLOW_JWT_SECRET": "test-secret-that-is-long-enough-for-hs256-000000"}
    log_path = workers.tmp / "up.log"
    with open(log_path, "wb") as log:
        up = subprocess.Popen([sys.executable, "-m", "salesflow", "up", "--no-local-llm"], env=env, stdout=log,
                              stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        job_id = enqueue(conn, "noop", {})
        wait_for(lambda: value(conn, "select status from salesflow.jobs where id = %s", (job_id,)) == "completed",
                 f"the worker of `salesflow up` to run a job\n{log_path.read_text()}", workers)
        listen = ("select application_name from pg_stat_activity "
                  "where application_name like 'salesflow-worker listen %'")
        # the first job may be claimed by polling before the LISTEN connection is up
        wait_for(lambda: len(conn.execute(listen).fetchall()) == 1, "the worker's LISTEN connection", workers)
        [name] = [r["application_name"] for r in conn.execute(listen)]
        worker_pid = int(name.rsplit(":", 2)[1])
        assert worker_pid != up.pid
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/health"), "the API to answer", workers)
        up.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        assert up.wait(30) == 130, log_path.read_text()  # the CLI's exit status for an interrupt
        with pytest.raises(ProcessLookupError):
            os.kill(worker_pid, 0)
        assert "worker stopped" in log_path.read_text()
    finally:
        if up.poll() is None:
            up.kill()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code in (200, 503)
    except httpx.HTTPError:
        return False
