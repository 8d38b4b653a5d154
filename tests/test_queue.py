"""The queue's SQL: enqueue, claim, heartbeat, finish, backoff, sweep, schedules, views, privileges.

Every test gets its own database clone; statements commit one by one (autocommit) unless a test
opens a transaction, because the queue's guarantees are about what other sessions see.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from tests.conftest import acting_as, authenticate_as

LEASE = timedelta(seconds=60)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as c:
        yield c


@pytest.fixture(scope="module")
def shared(module_db_url: str) -> Iterator[psycopg.Connection]:
    """One clone for the tests of pure functions, which write nothing."""
    with psycopg.connect(module_db_url, autocommit=True, row_factory=dict_row) as c:
        yield c


def value(conn: psycopg.Connection, query: str, params: Any = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return next(iter(row.values()))


def job(conn: psycopg.Connection, job_id: int) -> dict[str, Any]:
    row = conn.execute("select * from salesflow.jobs where id = %s", (job_id,)).fetchone()
    assert row is not None, f"job {job_id} is gone"
    return row


def enqueue(conn: psycopg.Connection, kind: str = "noop", payload: dict | None = None, **kw: Any) -> int:
    names = ", ".join(f"{k} => %({k})s" for k in kw)
    sql = f"select salesflow.enqueue(%(kind)s, %(payload)s{', ' + names if names else ''}) as id"
    return value(conn, sql, {"kind": kind, "payload": Jsonb(payload or {}), **kw})


def claim(conn: psycopg.Connection, worker: str = "w1", batch: int = 10, queues: tuple[str, ...] = ("default",),
          lease: timedelta = LEASE) -> list[dict[str, Any]]:
    return conn.execute("select * from salesflow.claim_jobs(%s, %s, %s, %s)",
                        (worker, list(queues), batch, lease)).fetchall()


def notifications(listener: psycopg.Connection, timeout: float = 0.5) -> list[tuple[str, str]]:
    return [(n.channel, n.payload) for n in listener.notifies(timeout=timeout, stop_after=None)]


def notifications_before_fence(conn: psycopg.Connection, listener: psycopg.Connection) -> list[tuple[str, str]]:
    """What arrives before a marker NOTIFY committed now: PostgreSQL delivers notifications in commit
    order, so anything committed earlier arrives before the fence. Proves "nothing was sent" without
    waiting some time and hoping it would have come by then."""
    conn.execute("select pg_notify('salesflow_queue_default', 'fence')")
    before: list[tuple[str, str]] = []
    for n in listener.notifies(timeout=30):
        if n.payload == "fence":
            return before
        before.append((n.channel, n.payload))
    raise AssertionError("the fence notification never arrived")


@pytest.fixture
def listener(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("listen salesflow_queue_default")
        yield c


# -- enqueue -------------------------------------------------------------------------------------
def test_enqueue_defaults_and_wakes_the_queue_with_the_id_only(conn, listener) -> None:
    job_id = enqueue(conn, "noop", {"lead_id": str(uuid.uuid4())})
    row = job(conn, job_id)
    assert (row["queue"], row["status"], row["attempts"], row["max_attempts"], row["priority"]) == (
        "default", "pending", 0, 5, 0)
    assert notifications(listener) == [("salesflow_queue_default", str(job_id))]
    # a job for later is not announced: polling finds it when it is due
    enqueue(conn, "noop", run_after=datetime.now(UTC) + timedelta(hours=1))
    assert notifications_before_fence(conn, listener) == []


def test_rolled_back_transaction_enqueues_nothing_and_notifies_nobody(db_url, conn, listener) -> None:
    with psycopg.connect(db_url) as tx_conn:
        with tx_conn.transaction(force_rollback=True):
            tx_conn.execute("select salesflow.enqueue('noop')")
            assert tx_conn.execute("select count(*) from salesflow.jobs").fetchone()[0] == 1
        assert notifications_before_fence(conn, listener) == []
        with tx_conn.transaction():
            committed = tx_conn.execute("select salesflow.enqueue('noop')").fetchone()[0]
            # NOTIFY is sent at commit, not before
            assert notifications_before_fence(conn, listener) == []
    assert value(conn, "select count(*) from salesflow.jobs") == 1
    assert notifications(listener) == [("salesflow_queue_default", str(committed))]


def test_a_trigger_enqueues_in_the_same_transaction_as_the_users_change(db_url, conn) -> None:
    """The pattern for app tables: a security definer trigger function calls salesflow.enqueue."""
    conn.execute("""
        create function public.enqueue_lead_job() returns trigger
        language plpgsql security definer set search_path = '' as $$
        begin
            perform salesflow.enqueue('embed_lead', pg_catalog.jsonb_build_object('lead_id', new.id),
                                      org_id => new.org_id, idempotency_key => 'embed_lead:' || new.id);
            return null;
        end $$;
        create trigger leads_enqueue after insert or update on salesflow.leads
        for each row execute function public.enqueue_lead_job();
    """)
    owner = uuid.uuid4()
    with psycopg.connect(db_url) as user_conn:
        with acting_as(user_conn, owner):
            org_id = user_conn.execute("select id from api.create_organization('Queue Co')").fetchone()[0]
        # rolled back: the lead and its job vanish together
        with authenticate_as(user_conn, owner):
            user_conn.execute("select api.create_lead(%s, first_name => 'Ada')", (org_id,))
        assert value(conn, "select count(*) from salesflow.jobs") == 0
        with acting_as(user_conn, owner):
            lead_id = user_conn.execute("select (api.create_lead(%s, first_name => 'Ada')).id", (org_id,)).fetchone()[0]
            # an edit while the first job is still pending adds nothing: same idempotency key
            user_conn.execute("select api.update_lead(%s, %s, '{\"title\": \"CTO\"}')", (org_id, lead_id))
    # (the recommendation triggers enqueue evaluate_recommendations jobs of their own)
    jobs = conn.execute("select kind, payload, org_id, idempotency_key from salesflow.jobs "
                        "where kind = 'embed_lead'").fetchall()
    assert jobs == [{"kind": "embed_lead", "payload": {"lead_id": str(lead_id)}, "org_id": org_id,
                     "idempotency_key": f"embed_lead:{lead_id}"}]


def test_app_roles_can_neither_enqueue_nor_read_jobs_directly(db_url, conn) -> None:
    enqueue(conn)
    with psycopg.connect(db_url) as user_conn:
        for role in ("anon", "authenticated", "service_role"):
            for sql in ("select salesflow.enqueue('noop')", "select count(*) from salesflow.jobs",
                        "select * from salesflow.claim_jobs('x', '{default}', 1, '1 minute')",
                        "select count(*) from salesflow.job_schedules"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege), user_conn.transaction(force_rollback=True):
                    user_conn.execute(psycopg.sql.SQL("set local role {}").format(psycopg.sql.Identifier(role)))
                    user_conn.execute(sql)


def test_idempotency_key_covers_a_job_while_pending_and_while_running(conn) -> None:
    first = enqueue(conn, "noop", idempotency_key="lead:1")
    assert enqueue(conn, "noop", idempotency_key="lead:1") == first
    assert enqueue(conn, "noop", idempotency_key="lead:2") != first
    assert value(conn, "select count(*) from salesflow.jobs") == 2
    # while it runs, the key still names it: no twin, but (by default) one more run after it completes
    assert [r["id"] for r in claim(conn, batch=1)] == [first]
    assert enqueue(conn, "noop", idempotency_key="lead:1") == first
    assert enqueue(conn, "noop", idempotency_key="lead:1", rerun_if_running=False) == first
    assert value(conn, "select count(*) from salesflow.jobs where idempotency_key = 'lead:1'") == 1
    assert job(conn, first)["rerun_requested"] is True
    assert value(conn, "select salesflow.complete_jobs('w1', array[%s]::bigint[], array[1])", (first,)) == 1
    row = job(conn, first)
    assert (row["status"], row["attempts"], row["rerun_requested"], row["finished_at"]) == ("pending", 0, False, None)
    # the rerun completes for good; then the key is free and a new enqueue is a new job
    assert first in [r["id"] for r in claim(conn, batch=10)]
    value(conn, "select salesflow.complete_jobs('w1', array[%s]::bigint[], array[1])", (first,))
    assert job(conn, first)["status"] == "completed"
    second = enqueue(conn, "noop", idempotency_key="lead:1")
    assert second != first
    assert enqueue(conn, "noop", idempotency_key="lead:1") == second


def test_a_caller_that_needs_no_rerun_gets_the_running_job_and_nothing_more(conn) -> None:
    first = enqueue(conn, "noop", idempotency_key="once:1")
    claim(conn, batch=1)
    assert enqueue(conn, "noop", idempotency_key="once:1", rerun_if_running=False) == first
    value(conn, "select salesflow.complete_jobs('w1', array[%s]::bigint[], array[1])", (first,))
    assert job(conn, first)["status"] == "completed"


@pytest.mark.parametrize("back_to_pending", ["retry", "sweep", "release", "release_unknown"])
def test_moving_a_keyed_job_back_to_pending_never_collides(conn, back_to_pending: str) -> None:
    """The jam of issue 8: a running job, a second request for the same key, then a retry or a sweep."""
    first = enqueue(conn, "noop", idempotency_key="jam:1", max_attempts=3)
    lease = timedelta(milliseconds=1) if back_to_pending == "sweep" else LEASE
    claim(conn, "w1", batch=1, lease=lease)
    assert enqueue(conn, "noop", idempotency_key="jam:1") == first
    if back_to_pending == "retry":
        assert value(conn, "select salesflow.fail_job('w1', %s, 1, 'boom', retry_at => now())", (first,)) == "pending"
    elif back_to_pending == "sweep":
        conn.execute("select pg_sleep(0.01)")
        assert value(conn, "select salesflow.sweep_expired_leases()") == 1
    elif back_to_pending == "release":
        assert value(conn, "select salesflow.release_jobs('w1', array[%s]::bigint[], array[1])", (first,)) == 1
    else:
        assert value(conn, "select salesflow.release_unknown_jobs('w1', '{}')") == 1
    assert value(conn, "select count(*) from salesflow.jobs where idempotency_key = 'jam:1'") == 1
    assert job(conn, first)["status"] == "pending"
    # and the next run finishes normally
    assert [r["id"] for r in claim(conn, "w2", batch=1)] == [first]
    assert value(conn, "select salesflow.complete_jobs('w2', array[%s]::bigint[], array[%s])",
                 (first, job(conn, first)["attempts"])) == 1


def test_concurrent_enqueues_of_one_key_make_one_job(db_url: str, conn) -> None:
    """Requests racing from many connections, while the holder is claimed and completed under them."""
    ids: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(9)

    def request() -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as c:
                start.wait()
                for _ in range(25):
                    ids.append(c.execute("select salesflow.enqueue('noop', '{}', "
                                         "idempotency_key => 'race:1', rerun_if_running => false)").fetchone()[0])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for t in threads:
        t.start()
    start.wait()
    finished = 0
    for _ in range(20):
        for row in claim(conn, "w1", batch=5):
            finished += value(conn, "select salesflow.complete_jobs('w1', array[%s]::bigint[], array[%s])",
                              (row["id"], row["attempt"]))
        # the invariant at every moment: at most one live job holds the key
        assert value(conn, "select count(*) from salesflow.jobs where idempotency_key = 'race:1' "
                           "and status in ('pending', 'running')") <= 1
    for t in threads:
        t.join()
    assert not errors
    assert len(ids) == 200
    assert value(conn, "select count(*) from salesflow.jobs where idempotency_key = 'race:1'") == len(set(ids))


def test_enqueue_refuses_bad_names_with_a_clear_message(conn) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="job kind 'Send Email' is not a valid name"):
        enqueue(conn, "Send Email")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="queue name 'a-b' is not valid"):
        enqueue(conn, "noop", queue="a-b")
    with pytest.raises(psycopg.errors.CheckViolation):
        value(conn, "select salesflow.enqueue('noop', '[1, 2]'::jsonb)")


# -- claim, heartbeat, complete ---------------------------------------------------------------------
def test_claim_takes_due_jobs_by_priority_then_age_and_leases_them(conn) -> None:
    now = datetime.now(UTC)
    low = enqueue(conn, "noop", priority=-5)
    normal_old = enqueue(conn, "noop", run_after=now - timedelta(minutes=5))
    normal_new = enqueue(conn, "noop")
    urgent = enqueue(conn, "noop", priority=10)
    enqueue(conn, "noop", priority=100, run_after=now + timedelta(hours=1))  # not due
    other_queue = enqueue(conn, "noop", queue="mail", priority=50)

    first = claim(conn, "w1", batch=2)
    assert [r["id"] for r in first] == [urgent, normal_old]
    assert {r["attempt"] for r in first} == {1}
    rest = claim(conn, "w2", batch=10)
    assert [r["id"] for r in rest] == [normal_new, low]
    assert claim(conn, "w3", queues=("default",)) == []
    both = claim(conn, "w3", queues=("mail", "default"))
    assert [r["id"] for r in both] == [other_queue]

    row = job(conn, urgent)
    assert (row["status"], row["worker"], row["attempts"]) == ("running", "w1", 1)
    assert row["lease_expires_at"] - row["started_at"] == LEASE
    assert first[0]["payload"] == "{}"  # text, for the worker to size and parse


def test_concurrent_claimers_never_take_the_same_job(db_url, conn) -> None:
    conn.execute("insert into salesflow.jobs (kind) select 'noop' from generate_series(1, 2000)")
    claimed: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def claimer(n: int) -> None:
        mine: list[int] = []
        try:
            with psycopg.connect(db_url, autocommit=True) as c:
                start.wait()
                while rows := c.execute("select id from salesflow.claim_jobs(%s, '{default}', 7, '1 minute')",
                                        (f"w{n}",)).fetchall():
                    mine.extend(r[0] for r in rows)
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)
        claimed.append(mine)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    every = [i for mine in claimed for i in mine]
    assert len(every) == len(set(every)) == 2000
    assert sum(1 for mine in claimed if mine) > 1  # the claimers really did run side by side
    assert value(conn, "select count(*) from salesflow.jobs where status = 'running' and attempts = 1") == 2000


def test_heartbeat_extends_only_the_leases_a_worker_still_holds(conn) -> None:
    a, b, c = (enqueue(conn) for _ in range(3))
    claim(conn, "w1", lease=timedelta(seconds=5))
    before = job(conn, a)["lease_expires_at"]
    conn.execute("select salesflow.cancel_jobs(%s)", ([b],))
    held = value(conn, "select salesflow.heartbeat_jobs('w1', %s, '10 minutes')", ([a, b, c],))
    assert sorted(held) == [a, c]
    assert job(conn, a)["lease_expires_at"] > before + timedelta(minutes=9)
    assert value(conn, "select salesflow.heartbeat_jobs('w2', %s, '10 minutes')", ([a, c],)) == []


def test_complete_is_fenced_by_worker_and_attempt(conn) -> None:
    a, b = enqueue(conn), enqueue(conn)
    claim(conn, "w1")
    assert value(conn, "select salesflow.complete_jobs('w2', %s, %s)", ([a, b], [1, 1])) == 0
    assert value(conn, "select salesflow.complete_jobs('w1', %s, %s)", ([a, b], [2, 1])) == 1
    assert job(conn, b)["status"] == "completed" and job(conn, b)["finished_at"] is not None
    assert job(conn, a)["status"] == "running"
    # a finish that arrives twice (a retried flush) changes nothing the second time
    assert value(conn, "select salesflow.complete_jobs('w1', %s, %s)", ([b], [1])) == 0


# -- failure, backoff, dead, redrive -----------------------------------------------------------------
def test_backoff_doubles_with_jitter_between_half_and_all_of_the_step_and_stops_at_the_cap(conn) -> None:
    delays = conn.execute("""
        select n, extract(epoch from salesflow.retry_delay(n, '10 seconds', '5 minutes')) as s
        from generate_series(1, 8) as n, generate_series(1, 200)
    """).fetchall()
    by_attempt: dict[int, list[float]] = {}
    for r in delays:
        by_attempt.setdefault(r["n"], []).append(float(r["s"]))
    for n, seconds in by_attempt.items():
        step = min(300.0, 10.0 * 2 ** (n - 1))
        assert step / 2 <= min(seconds) and max(seconds) <= step, (n, min(seconds), max(seconds))
        assert len(set(seconds)) > 100  # jittered, not a fixed delay
    assert value(conn, "select salesflow.retry_delay(100, '10 seconds', '1 hour') <= '1 hour'")


def test_failures_back_off_then_die_keeping_the_last_error_and_retry_dead_redrives(conn) -> None:
    job_id = enqueue(conn, "noop", max_attempts=3)
    for attempt in (1, 2, 3):
        conn.execute("update salesflow.jobs set run_after = now() where id = %s", (job_id,))
        assert [r["id"] for r in claim(conn, "w1")] == [job_id]
        before = datetime.now(UTC)
        status = value(conn, "select salesflow.fail_job('w1', %s, %s, %s, backoff_base => '20 seconds')",
                       (job_id, attempt, f"provider said no ({attempt})"))
        row = job(conn, job_id)
        if attempt < 3:
            assert status == "pending" and row["status"] == "pending"
            step = 20 * 2 ** (attempt - 1)
            wait = (row["run_after"] - before).total_seconds()
            assert step / 2 - 1 <= wait <= step + 1, (attempt, wait)
            assert claim(conn, "w1") == []  # not before its backoff is over
        else:
            assert status == "dead"
    row = job(conn, job_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("dead", 3, "provider said no (3)")
    assert row["lease_expires_at"] is None and row["finished_at"] is not None

    assert value(conn, "select salesflow.retry_dead(array[%s]::bigint[])", (job_id,)) == 1
    row = job(conn, job_id)
    assert (row["status"], row["attempts"], row["finished_at"]) == ("pending", 0, None)
    assert row["last_error"] == "provider said no (3)"  # kept until the next attempt overwrites it
    assert [r["id"] for r in claim(conn, "w1")] == [job_id]


def test_a_job_that_completes_after_failed_attempts_keeps_no_error(conn) -> None:
    """last_error describes the job as it stands: the reason of a failed attempt goes when one succeeds."""
    job_id = enqueue(conn, "noop", max_attempts=3)
    swept = enqueue(conn, "noop", max_attempts=3)
    claim(conn, "w1")
    value(conn, "select salesflow.fail_job('w1', %s, 1, 'the provider did not answer in time')", (job_id,))
    # the other one's worker died: the sweep takes its lease back and says why
    conn.execute("update salesflow.jobs set lease_expires_at = now() - interval '1 second' where id = %s", (swept,))
    assert value(conn, "select salesflow.sweep_expired_leases()") == 1
    conn.execute("update salesflow.jobs set run_after = now() where id = %s", (job_id,))
    assert job(conn, job_id)["last_error"] == "the provider did not answer in time"
    assert job(conn, swept)["last_error"].startswith("lease expired during attempt 1")
    assert sorted(r["id"] for r in claim(conn, "w2")) == sorted([job_id, swept])
    # a running attempt still shows why the one before it failed
    assert job(conn, job_id)["last_error"] == "the provider did not answer in time"
    assert value(conn, "select salesflow.complete_jobs('w2', array[%s, %s]::bigint[], array[2, 2])",
                 (job_id, swept)) == 2
    for done in (job(conn, job_id), job(conn, swept)):
        assert (done["status"], done["attempts"], done["last_error"]) == ("completed", 2, None)
    # a stale completion (the attempt no longer holds the job) clears nothing
    other = enqueue(conn, "noop", max_attempts=3)
    claim(conn, "w1")
    value(conn, "select salesflow.fail_job('w1', %s, 1, 'boom')", (other,))
    assert value(conn, "select salesflow.complete_jobs('w1', array[%s]::bigint[], array[1])", (other,)) == 0
    assert (job(conn, other)["status"], job(conn, other)["last_error"]) == ("pending", "boom")


def test_permanent_failures_die_at_once_and_retry_at_overrides_the_backoff(conn) -> None:
    dead, later = enqueue(conn), enqueue(conn)
    claim(conn, "w1")
    assert value(conn, "select salesflow.fail_job('w1', %s, 1, 'bad input', retryable => false)", (dead,)) == "dead"
    at = datetime.now(UTC) + timedelta(minutes=7)
    status = value(conn, "select salesflow.fail_job('w1', %s, 1, 'rate limited', retry_at => %s)", (later, at))
    assert status == "pending"
    assert job(conn, later)["run_after"] == at
    # a worker that no longer holds the job records nothing
    assert value(conn, "select salesflow.fail_job('w1', %s, 1, 'late')", (later,)) is None


def test_retry_dead_filters_and_leaves_a_job_whose_key_has_a_live_twin(conn) -> None:
    keyed, mail, plain = (enqueue(conn, "noop", idempotency_key="k1"), enqueue(conn, "send_mail", queue="mail"),
                          enqueue(conn, "noop"))
    claim(conn, "w1", queues=("default", "mail"))
    for job_id in (keyed, mail, plain):
        conn.execute("select salesflow.fail_job('w1', %s, 1, 'x', retryable => false)", (job_id,))
    twin = enqueue(conn, "noop", idempotency_key="k1")
    assert value(conn, "select salesflow.retry_dead(queue => 'mail')") == 1
    assert job(conn, mail)["status"] == "pending"
    assert value(conn, "select salesflow.retry_dead()") == 1  # plain; keyed stays dead, twin will do it
    assert (job(conn, plain)["status"], job(conn, keyed)["status"], job(conn, twin)["status"]) == (
        "pending", "dead", "pending")
    # a running twin holds the key as well
    claim(conn, "w1", queues=("default",))
    assert job(conn, twin)["status"] == "running"
    assert value(conn, "select salesflow.retry_dead(job_ids => array[%s]::bigint[])", (keyed,)) == 0


def test_sweep_returns_expired_leases_and_buries_jobs_out_of_attempts(conn, listener) -> None:
    again, last = enqueue(conn, max_attempts=3), enqueue(conn, max_attempts=1)
    fresh = enqueue(conn)
    notifications_before_fence(conn, listener)  # drain the three enqueues
    claim(conn, "dead-worker", batch=2, lease=timedelta(milliseconds=1))
    claim(conn, "live-worker", batch=1)
    conn.execute("select pg_sleep(0.01)")
    assert value(conn, "select salesflow.sweep_expired_leases()") == 2
    row = job(conn, again)
    assert (row["status"], row["attempts"], row["lease_expires_at"]) == ("pending", 1, None)
    assert "lease expired during attempt 1 of 3: worker dead-worker" in row["last_error"]
    assert job(conn, last)["status"] == "dead"
    assert job(conn, fresh)["status"] == "running"  # its lease is alive
    assert notifications(listener) == [("salesflow_queue_default", str(again))]
    assert value(conn, "select salesflow.sweep_expired_leases()") == 0


def test_release_gives_jobs_back_without_counting_the_attempt(conn) -> None:
    a, b, c = enqueue(conn), enqueue(conn), enqueue(conn)
    claim(conn, "w1")
    assert value(conn, "select salesflow.release_jobs('w1', %s, %s)", ([a], [1])) == 1
    assert (job(conn, a)["status"], job(conn, a)["attempts"]) == ("pending", 0)
    # a lost claim: the worker knows b, not c
    assert value(conn, "select salesflow.release_unknown_jobs('w1', %s)", ([b],)) == 1
    assert (job(conn, b)["status"], job(conn, c)["status"]) == ("running", "pending")


def test_cancel_stops_pending_and_running_jobs_only(conn) -> None:
    pending, running, done = enqueue(conn), enqueue(conn), enqueue(conn)
    claim(conn, "w1")  # then give one back and finish another
    conn.execute("select salesflow.release_jobs('w1', %s, %s)", ([pending], [1]))
    conn.execute("select salesflow.complete_jobs('w1', %s, %s)", ([done], [1]))
    assert value(conn, "select salesflow.cancel_jobs(%s)", ([pending, running, done],)) == 2
    assert [job(conn, i)["status"] for i in (pending, running, done)] == ["cancelled", "cancelled", "completed"]


def test_purge_deletes_old_finished_jobs_only(conn) -> None:
    ids = [enqueue(conn) for _ in range(4)]
    claim(conn, "w1")
    conn.execute("select salesflow.complete_jobs('w1', %s, %s)", (ids[:2], [1, 1]))
    conn.execute("select salesflow.fail_job('w1', %s, 1, 'x', retryable => false)", (ids[2],))
    conn.execute("update salesflow.jobs set finished_at = now() - interval '8 days' where id = any(%s)",
                 ([ids[0], ids[2]],))
    assert value(conn, "select salesflow.purge_jobs()") == 1  # the old completed one; dead ones last 30 days
    assert value(conn, "select array_agg(id order by id) from salesflow.jobs") == ids[1:]


# -- schedules -----------------------------------------------------------------------------------------
def test_due_schedule_is_enqueued_exactly_once_by_concurrent_workers(db_url, conn) -> None:
    conn.execute("delete from salesflow.job_schedules")  # this test's schedule only (migrations seed others)
    created = conn.execute("select * from salesflow.schedule_job('tick', 'noop', every => '1 hour')").fetchone()
    due = created["next_run_at"]
    totals: list[int] = []
    start = threading.Barrier(8)

    def worker() -> None:
        with psycopg.connect(db_url, autocommit=True) as c:
            start.wait()
            totals.append(sum(c.execute("select salesflow.enqueue_due_schedules()").fetchone()[0] for _ in range(5)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(totals) == 1
    jobs = conn.execute("select kind, schedule, scheduled_for from salesflow.jobs").fetchall()
    assert jobs == [{"kind": "noop", "schedule": "tick", "scheduled_for": due}]
    schedule = conn.execute("select * from salesflow.job_schedules where name = 'tick'").fetchone()
    assert (schedule["last_run_at"], schedule["next_run_at"]) == (due, due + timedelta(hours=1))

    # set back by hand to a due time already run: the unique (schedule, due time) index refuses a twin
    conn.execute("update salesflow.job_schedules set next_run_at = %s where name = 'tick'", (due,))
    assert value(conn, "select salesflow.enqueue_due_schedules()") == 0
    assert value(conn, "select count(*) from salesflow.jobs") == 1


def test_missed_due_times_are_coalesced_into_one_run_on_the_grid(conn) -> None:
    conn.execute("delete from salesflow.job_schedules")
    conn.execute("select salesflow.schedule_job('tick', 'noop', every => '10 minutes')")
    anchor = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=55)
    conn.execute("update salesflow.job_schedules set next_run_at = %s where name = 'tick'", (anchor,))
    assert value(conn, "select salesflow.enqueue_due_schedules()") == 1
    assert value(conn, "select salesflow.enqueue_due_schedules()") == 0
    nxt = value(conn, "select next_run_at from salesflow.job_schedules where name = 'tick'")
    assert nxt == anchor + timedelta(minutes=60)  # the first grid point after now, not now + 10 minutes


def test_cron_schedule_is_due_at_its_next_cron_time(conn) -> None:
    schedule = "select * from salesflow.schedule_job('nightly', 'purge_jobs', cron => %s)"
    row = conn.execute(schedule, ("0 3 * * *",)).fetchone()
    now = datetime.now(UTC)
    expected = now.replace(hour=3, minute=0, second=0, microsecond=0)
    if expected <= now:
        expected += timedelta(days=1)
    assert row["next_run_at"] == expected
    # re-scheduling with the same spec keeps its place; a changed spec moves it
    conn.execute("update salesflow.job_schedules set next_run_at = next_run_at - interval '1 day' where name = %s",
                 ("nightly",))
    same = conn.execute(schedule, ("0 3 * * *",)).fetchone()
    assert same["next_run_at"] == expected - timedelta(days=1)
    moved = conn.execute(schedule, ("0 4 * * *",)).fetchone()
    assert moved["next_run_at"].hour == 4


@pytest.mark.parametrize(("spec", "after", "tz", "expected"), [
    ("*/15 * * * *", "2026-03-01 10:07:30+00", "UTC", "2026-03-01 10:15:00+00"),
    ("@hourly", "2026-03-01 10:00:00+00", "UTC", "2026-03-01 11:00:00+00"),
    ("0 9 * * 1-5", "2026-03-07 12:00:00+00", "UTC", "2026-03-09 09:00:00+00"),  # Saturday -> Monday
    ("0 9 * * 1-5", "2026-03-09 07:00:00+00", "Europe/Berlin", "2026-03-09 08:00:00+00"),  # 09:00 CET
    ("0 9 * * 1-5", "2026-07-06 06:00:00+00", "Europe/Berlin", "2026-07-06 07:00:00+00"),  # 09:00 CEST
    ("0 0 1,15 * 3", "2026-03-02 00:00:00+00", "UTC", "2026-03-04 00:00:00+00"),  # either day field: Wednesday
    ("0 0 * * 7", "2026-03-02 00:00:00+00", "UTC", "2026-03-08 00:00:00+00"),  # 7 is Sunday too
    ("30 2 29 2 *", "2026-01-01 00:00:00+00", "UTC", "2028-02-29 02:30:00+00"),
    ("5-10/5 0 * * *", "2026-03-01 00:05:00+00", "UTC", "2026-03-01 00:10:00+00"),
])
def test_next_cron_time(shared, spec: str, after: str, tz: str, expected: str) -> None:
    got = value(shared, "select salesflow.next_cron_time(%s, %s::timestamptz, %s)", (spec, after, tz))
    assert got == datetime.fromisoformat(expected)


@pytest.mark.parametrize(("spec", "message"), [
    ("61 * * * *", "'61' is outside 0-59"),
    ("* * *", "needs 5 fields"),
    ("0 0 30 2 *", "never matches"),
    ("0 0 * * mon", "is not \\*, N or N-M"),
])
def test_bad_cron_specs_are_refused_when_scheduled(shared, spec: str, message: str) -> None:
    refused(shared, f"select salesflow.schedule_job('bad', 'noop', cron => '{spec}')", message)


def test_bad_time_zones_and_schedules_without_a_spec_are_refused(shared) -> None:
    refused(shared, "select salesflow.schedule_job('bad', 'noop', cron => '0 * * * *', timezone => 'Mars/Olympus')",
            "time zone")
    refused(shared, "select salesflow.schedule_job('bad', 'noop')", "exactly one of every and cron")


def refused(conn: psycopg.Connection, sql: str, message: str) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=message), conn.transaction(force_rollback=True):
        conn.execute(sql)


def test_the_daily_purge_is_scheduled_by_the_migration(conn) -> None:
    row = conn.execute("select * from salesflow.job_schedules where name = 'purge_jobs'").fetchone()
    assert (row["kind"], row["cron"], row["enabled"]) == ("purge_jobs", "17 3 * * *", True)
    assert row["next_run_at"] > datetime.now(UTC)


# -- the analysts' views ---------------------------------------------------------------------------------
def test_queue_views_show_depth_age_and_failure_rate(conn) -> None:
    ids = [enqueue(conn) for _ in range(5)]
    assert sorted(r["id"] for r in claim(conn, "w1", batch=5)) == ids
    conn.execute("select salesflow.complete_jobs('w1', %s, %s)", (ids[:3], [1, 1, 1]))
    conn.execute("select salesflow.fail_job('w1', %s, 1, 'x', retryable => false)", (ids[3],))
    ready = enqueue(conn)
    conn.execute("update salesflow.jobs set created_at = now() - interval '2 hours' where id = %s", (ready,))
    enqueue(conn, run_after=datetime.now(UTC) + timedelta(hours=1))
    enqueue(conn, queue="mail")

    depth = {(r["queue"], r["status"]): r for r in conn.execute("select * from analytics.queue_depth").fetchall()}
    assert {k: r["jobs"] for k, r in depth.items()} == {
        ("default", "pending"): 2, ("default", "running"): 1, ("default", "completed"): 3,
        ("default", "dead"): 1, ("mail", "pending"): 1}
    assert depth[("default", "pending")]["delayed"] == 1

    health = {r["queue"]: r for r in conn.execute("select * from analytics.queue_health").fetchall()}
    default = health["default"]
    assert (default["ready"], default["delayed"], default["running"], default["dead"]) == (1, 1, 1, 1)
    assert timedelta(hours=2) <= default["oldest_pending_age"] < timedelta(hours=2, minutes=5)
    assert (default["completed_1h"], default["dead_1h"]) == (3, 1)
    assert float(default["failure_rate_1h"]) == 0.25  # 1 of 4 finished jobs died
    assert float(default["attempt_failure_rate_1h"]) == 0.25  # 1 of 4 attempts failed
    assert health["mail"]["ready"] == 1 and health["mail"]["failure_rate_1h"] is None
