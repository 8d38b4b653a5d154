"""No request stalls another (DESIGN.md decision 17), and the token cache forgets expired tokens.

A test-only RPC, created in this module's own database, waits on an advisory lock the test holds;
while it waits inside PostgreSQL, /health and other RPCs on the same single API process complete.
The CPU-bound steps (PII redaction, the compliance check, token counting, a query's embedding) are
held on a threading.Event inside the real app under uvicorn, with the same check. Ordering and
completion are asserted, never durations.
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from salesflow.api.callers import CallerCache
from salesflow.api.errors import ApiError
from tests.conftest import JWT_SECRET, ApiProcess, Server, clone_database, make_token, run_api
from tests.fault_server import FaultServer

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
        # one process: the test is about its event loop, not about a second worker taking the call;
        # one request in flight per caller, so the held call shows the per-caller cap too
        with run_api(url, {"SALESFLOW_API_WORKERS": "1", "SALESFLOW_CONCURRENCY_LIMIT": "1"}) as api:
            yield api


def _waiting_on_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "select exists (select from pg_stat_activity where wait_event_type = 'Lock' "
            "and query like '%%test_wait_for_lock%%')"
        ).fetchone()[0]


def test_a_slow_rpc_does_not_delay_health_or_other_rpcs(slow_api: ApiProcess) -> None:
    headers = {"Authorization": f"Bearer {make_token(uuid.uuid4())}", "Content-Type": "application/json"}
    others = {"Authorization": f"Bearer {make_token(uuid.uuid4())}", "Content-Type": "application/json"}
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
            r = httpx.post(f"{slow_api.url}/rest/v1/rpc/my_organizations", content=b"{}", headers=others, timeout=60)
            assert r.status_code == 200 and r.json() == []
        assert httpx.get(f"{slow_api.url}/rest/v1/", timeout=60).status_code == 200
        # the slow caller itself has its one request in flight: a second is refused, not queued for the pool
        again = httpx.post(f"{slow_api.url}/rest/v1/rpc/my_organizations", content=b"{}", headers=headers, timeout=60)
        assert again.status_code == 429 and int(again.headers["Retry-After"]) >= 1
        assert set(again.json()) == {"code", "message", "details", "hint"}
        assert thread.is_alive() and "r" not in slow  # still waiting: the others overtook it
        holder.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))
    thread.join(120)
    assert slow["r"].status_code == 200 and slow["r"].json() == 1
    # its request done, the caller is served again
    r = httpx.post(f"{slow_api.url}/rest/v1/rpc/my_organizations", content=b"{}", headers=headers, timeout=60)
    assert r.status_code == 200 and r.json() == []


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


# -- CPU-bound steps off the event loop (issue 9 §1) ----------------------------------------------
# The real app under uvicorn in this process, so a step can be held on a threading.Event: while one
# request sits inside PII redaction, the compliance check, token counting or the query embedding,
# /health and another tenant's RPC must still be answered. Held, not slowed: nothing here is timed.
MARK = "Quokka"  # in the held request's text (and its answer), so only its calls are held


class Probe:
    """Wraps the CPU-bound steps: notes any call made on an event loop's thread, and holds one call."""

    def __init__(self) -> None:
        self.on_loop: list[str] = []
        self.calls: dict[str, int] = {}
        self.armed: str | None = None
        self.entered = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def wrap(self, name: str, fn: Callable[..., Any], text_at: int) -> Callable[..., Any]:
        @functools.wraps(fn)
        def step(*args: Any, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
                on_loop = True
            except RuntimeError:
                on_loop = False
            with self._lock:
                self.calls[name] = self.calls.get(name, 0) + 1
                if on_loop:
                    self.on_loop.append(name)
                hold = self.armed == name and MARK in str(args[text_at])
                if hold:
                    self.armed = None
            if hold:
                self.entered.set()
                self.release.wait(120)  # bounded, so a failing test cannot hang the suite
            return fn(*args, **kwargs)

        return step

    def arm(self, name: str) -> None:
        """Hold the next call of `name` on a text with MARK; forget the calls seen so far."""
        with self._lock:
            self.on_loop.clear()
            self.calls.clear()
            self.entered.clear()
            self.release.clear()
            self.armed = name


@dataclass(frozen=True)
class InProcess:
    url: str
    database_url: str
    probe: Probe


@pytest.fixture(scope="module")
def held_api(postgresql_template, pg_server: Server, tmp_path_factory: pytest.TempPathFactory  # noqa: ANN001
             ) -> Iterator[InProcess]:
    from salesflow.api import search
    from salesflow.api.app import create_app
    from salesflow.gateway import compliance, pii, tokens

    probe = Probe()
    config = tmp_path_factory.mktemp("held") / "salesflow.toml"
    with FaultServer() as faults, clone_database(pg_server, postgresql_template.template_dbname) as url, \
            pytest.MonkeyPatch.context() as patch:
        config.write_text(
            f'[providers.fault]\nkind = "openai_compatible"\nbase_url = "{faults.base_url}"\napi_key = "test"\n\n'
            '[[models]]\nprovider = "fault"\nmodel = "primary"\ncontext_window = 8000\n'
            'input_price_per_mtok = 1.0\noutput_price_per_mtok = 2.0\nquality = 0.9\n\n'
            '[tasks.chat]\nfallbacks = ["fault/primary"]\n')
        patch.setenv("SALESFLOW_LLM_CONFIG", str(config))
        for owner, name, step, text_at in ((pii.Redactor, "redact", "redact", 1),
                                           (compliance, "check", "compliance", 0),
                                           (tokens.WordPieceCounter, "count", "count", 1),
                                           (search, "_embed", "embed", 2)):
            patch.setattr(owner, name, probe.wrap(step, getattr(owner, name), text_at))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(create_app(url, JWT_SECRET), http="h11", loop="asyncio",
                                               log_config=None, timeout_graceful_shutdown=1))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 120
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the in-process API did not start"
            time.sleep(0.02)
        try:
            yield InProcess(f"http://127.0.0.1:{sock.getsockname()[1]}", url, probe)
        finally:
            probe.release.set()
            server.should_exit = True
            thread.join(30)


def _new_member(api: InProcess, name: str) -> tuple[str, dict[str, str]]:
    headers = {"Authorization": f"Bearer {make_token(uuid.uuid4())}"}
    created = httpx.post(f"{api.url}/rest/v1/rpc/create_organization", json={"name": name}, headers=headers,
                         timeout=60)
    assert created.status_code == 200, created.text
    return created.json()["id"], headers


def _chat(api: InProcess, org_id: str, headers: dict[str, str]) -> dict[str, Any]:
    """The chat's SSE events by name (the last of each)."""
    events: dict[str, Any] = {}
    body = {"org_id": org_id, "message": f"{MARK}: what should I send Ada about pricing next week?"}
    with httpx.stream("POST", f"{api.url}/api/chat/stream", json=body, headers=headers, timeout=180) as r:
        assert r.status_code == 200, r.read()
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name:
                events[name] = json.loads(line[6:])
    return events


def _search(api: InProcess, org_id: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{api.url}/api/search", json={"org_id": org_id, "query": f"{MARK} pricing"},
                      headers=headers, timeout=180)


@pytest.mark.parametrize("step", ["redact", "compliance", "count", "embed"])
def test_a_held_cpu_step_does_not_delay_health_or_another_tenants_rpc(held_api: InProcess, step: str) -> None:
    org_id, headers = _new_member(held_api, "Held")
    other_org, other = _new_member(held_api, "Other")
    probe, done = held_api.probe, {}

    def request() -> None:
        done["r"] = _search(held_api, org_id, headers) if step == "embed" else _chat(held_api, org_id, headers)
    probe.arm(step)
    thread = threading.Thread(target=request, daemon=True)
    thread.start()
    try:
        assert probe.entered.wait(60), f"the request never reached {step}"
        # the held request is inside its CPU step now; the loop must still answer everyone else
        assert httpx.get(f"{held_api.url}/health", timeout=30).status_code == 200
        mine = httpx.post(f"{held_api.url}/rest/v1/rpc/my_organizations", content=b"{}", timeout=30,
                          headers={**other, "Content-Type": "application/json"})
        assert mine.status_code == 200 and [o["id"] for o in mine.json()] == [other_org]
        assert thread.is_alive() and "r" not in done  # still held: the others overtook it
    finally:
        probe.release.set()
    thread.join(180)
    assert not thread.is_alive()
    if step == "embed":
        assert done["r"].status_code == 200 and done["r"].json() == [], done["r"].text
    else:
        events = done["r"]
        assert "done" in events and "error" not in events, events
        conversation = events["conversation"]["conversation_id"]
        with psycopg.connect(held_api.database_url, autocommit=True) as conn:
            ledger = conn.execute("select status from salesflow.llm_requests where id = %s",
                                  (events["done"]["request_id"],)).fetchall()
            turns = conn.execute("select count(*) from salesflow.conversation_turns where conversation_id = %s",
                                 (conversation,)).fetchone()[0]
        assert ledger == [("ok",)] and turns == 2
    # and no call of any held kind ran on the event loop's thread, held or not
    assert probe.calls.get(step, 0) >= 1 and probe.on_loop == []
