"""No request stalls another (DESIGN.md decision 17), and the token cache forgets expired tokens.

A test-only RPC, created in this module's own database, waits on an advisory lock the test holds;
while it waits inside PostgreSQL, /health and other RPCs on the same single API process complete.
Ordering and completion are asserted, never durations.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from salesflow.api.callers import CallerCache
from salesflow.api.errors import ApiError
from tests.conftest import JWT_SECRET, ApiProcess, Server, clone_database, make_token, run_api

LOCK_KEY = 861_010


@pytest.fixture(scope="module")
def slow_api(postgresql_template, pg_server: Server) -> Iterator[ApiProcess]:  # noqa: ANN001
    with clone_database(pg_server, postgresql_template.template_dbname) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "create function api.test_wait_for_lock() returns int language sql volatile security invoker "
                f"as 'select 1 from pg_catalog.pg_advisory_xact_lock({LOCK_KEY})'"
            )
            conn.execute("grant execute on function api.test_wait_for_lock() to authenticated")
        # one process: the test is about its event loop, not about a second worker taking the call
        with run_api(url, {"SALESFLOW_API_WORKERS": "1"}) as api:
            yield api


def _waiting_on_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "select exists (select from pg_stat_activity where wait_event_type = 'Lock' "
            "and query like '%%test_wait_for_lock%%')"
        ).fetchone()[0]


def test_a_slow_rpc_does_not_delay_health_or_other_rpcs(slow_api: ApiProcess) -> None:
    token = make_token(uuid.uuid4())
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    slow: dict[str, httpx.Response] = {}
    with psycopg.connect(slow_api.database_url, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
        thread = threading.Thread(target=lambda: slow.update(r=httpx.post(
            f"{slow_api.url}/rest/v1/rpc/test_wait_for_lock", content=b"{}", headers=headers, timeout=120)))
        thread.start()
        deadline = time.monotonic() + 60
        while not _waiting_on_lock(slow_api.database_url):
            assert time.monotonic() < deadline, "the slow RPC never reached the lock"
            time.sleep(0.05)
        # the slow call is inside PostgreSQL now; everything else must still be answered
        assert httpx.get(f"{slow_api.url}/health", timeout=60).status_code == 200
        for _ in range(3):
            r = httpx.post(f"{slow_api.url}/rest/v1/rpc/my_organizations", content=b"{}", headers=headers, timeout=60)
            assert r.status_code == 200 and r.json() == []
        assert httpx.get(f"{slow_api.url}/rest/v1/", timeout=60).status_code == 200
        assert thread.is_alive() and "r" not in slow  # still waiting: the others overtook it
        holder.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))
    thread.join(120)
    assert slow["r"].status_code == 200 and slow["r"].json() == 1


def test_the_token_cache_keeps_a_caller_only_until_the_token_expires() -> None:
    now = [time.time()]
    cache = CallerCache(JWT_SECRET, size=2, clock=lambda: now[0])
    user = uuid.uuid4()
    token = make_token(user, expires_in=60)
    first = cache.get(f"Bearer {token}", None)
    assert cache.get(f"Bearer {token}", None) is first and len(cache) == 1
    now[0] += 60 + 31  # past exp and the verifier's leeway: the cached caller is not used again
    assert cache.get(f"Bearer {token}", None) is not first
    # an expired token is refused and never cached
    with pytest.raises(ApiError) as info:
        cache.get(f"Bearer {make_token(user, expires_in=-120)}", None)
    assert info.value.code == "PGRST303" and len(cache) == 1
    # bounded: the least recently used token goes
    now[0] = time.time()
    tokens = [make_token(uuid.uuid4()) for _ in range(3)]
    for t in tokens:
        cache.get(f"Bearer {t}", None)
    assert len(cache) == 2
    # a bad token is never cached
    with pytest.raises(ApiError):
        cache.get("Bearer not-a-jwt", None)
    assert len(cache) == 2


def _children(pid: int) -> list[int]:
    from pathlib import Path

    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def test_two_worker_processes_serve_and_sighup_stops_them_all(postgresql_template, pg_server: Server) -> None:  # noqa: ANN001
    import signal

    with clone_database(pg_server, postgresql_template.template_dbname) as url:
        with run_api(url, {"SALESFLOW_API_WORKERS": "2"}) as api:
            assert httpx.get(f"{api.url}/health", timeout=10).status_code in (200, 503)
            workers = _children(api.process.pid)
            assert len(workers) >= 2, workers  # the supervisor and its two servers
            api.process.send_signal(signal.SIGHUP)  # a closed terminal
            api.process.wait(60)
            # a worker may still be finishing its exit (reparented to init) when the supervisor is gone
            deadline = time.monotonic() + 60
            while (alive := [pid for pid in workers if _alive(pid)]) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert alive == []


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
