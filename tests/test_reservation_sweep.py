"""A killed caller's budget reservation is settled by the scheduled sweep (issue 9, section 2).

A real gateway process reserves and calls a provider that hangs; it is killed with SIGKILL mid-call.
A real worker process then runs the `sweep_llm_reservations` schedule, which turns the orphan into
exactly one ledger row charged the reserved amount, and leaves no reservation open.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg

from tests.conftest import ROOT
from tests.fault_server import FaultServer, hang
from tests.gateway_harness import PRIMARY, new_org


def wait_for(predicate, what: str, seconds: float = 90.0) -> None:  # noqa: ANN001 - a callable
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def open_reservations(db: psycopg.Connection, org: uuid.UUID) -> list[tuple]:
    return db.execute("select id, amount from salesflow.llm_budget_reservations where org_id = %s",
                      (org,)).fetchall()


def test_the_sweep_is_scheduled_for_every_minute(db: psycopg.Connection) -> None:
    row = db.execute("select kind, every, enabled, org_id from salesflow.job_schedules "
                     "where name = 'sweep_llm_reservations'").fetchone()
    assert row == ("sweep_llm_reservations", timedelta(minutes=1), True, None)


def test_a_reservation_of_a_killed_process_is_settled_by_the_scheduled_sweep(db: psycopg.Connection,
                                                                            db_url: str) -> None:
    org = new_org(db)
    with FaultServer() as server:
        server.script(PRIMARY, hang(600))
        holder = subprocess.Popen([sys.executable, "-m", "tests.reservation_holder", db_url, server.base_url, str(org)],
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # the call is in flight: the provider has the request and the reservation is committed
            wait_for(lambda: server.requests_for(PRIMARY), "the holder's provider call")
            reservations = open_reservations(db, org)
            assert len(reservations) == 1
            holder.send_signal(signal.SIGKILL)
            assert holder.wait(30) == -signal.SIGKILL
        finally:
            if holder.poll() is None:
                holder.kill()
    # nobody settled it: no ledger row, the reservation still open
    assert db.execute("select count(*) from salesflow.llm_requests where org_id = %s", (org,)).fetchone() == (0,)
    assert open_reservations(db, org) == reservations
    # its 15 minutes pass (the database's clock cannot be moved, so the expiry is)
    db.execute("update salesflow.llm_budget_reservations set expires_at = now() - interval '1 second' "
               "where org_id = %s", (org,))
    db.execute("update salesflow.job_schedules set next_run_at = now() where name = 'sweep_llm_reservations'")

    log = tempfile.NamedTemporaryFile(prefix="salesflow-sweep-worker-", suffix=".log", delete=False)
    worker = subprocess.Popen(
        [sys.executable, "-m", "salesflow", "worker", "--no-migrate", "--poll-interval", "0.2",
         "--sweep-interval", "0.2"],
        env={**os.environ, "DATABASE_URL": db_url}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: db.execute("select count(*) from salesflow.llm_requests where org_id = %s",
                                    (org,)).fetchone()[0] > 0 or worker.poll() is not None, "the sweep")
        assert worker.poll() is None, Path(log.name).read_text()[-2000:]
        wait_for(lambda: db.execute("select status from salesflow.jobs where kind = 'sweep_llm_reservations' "
                                    "order by id desc limit 1").fetchone() == ("completed",), "the sweep job to finish")
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        os.unlink(log.name)
    rows = db.execute("select status, cost, usage_estimated, reservation_id, error from salesflow.llm_requests "
                      "where org_id = %s", (org,)).fetchall()
    (reservation_id, amount), = reservations
    assert len(rows) == 1  # exactly one row for the one provider call
    status, cost, estimated, settled, error = rows[0]
    assert (status, cost, estimated, settled) == ("error", amount, True, reservation_id)
    assert amount > 0 and "never settled" in error
    assert open_reservations(db, org) == []
