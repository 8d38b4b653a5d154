"""Issue 9 over real HTTP and real PostgreSQL: input bounds, SQLSTATE classes, append-only ledgers."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from salesflow.api.limits import Limiter
from tests.conftest import ApiProcess, make_token, run_api
from tests.gateway_harness import new_org


def rpc(api: ApiProcess, fn: str, body: object, token: str) -> httpx.Response:
    return httpx.post(f"{api.url}/rest/v1/rpc/{fn}", content=json.dumps(body),
                      headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"}, timeout=30)


@pytest.fixture(scope="module")
def team(api: ApiProcess) -> dict:
    owner = uuid.uuid4()
    token = make_token(owner)
    org = rpc(api, "create_organization", {"name": "Hardening GmbH"}, token).json()
    lead = rpc(api, "create_lead", {"org_id": org["id"], "first_name": "Ada"}, token).json()
    return {"org": org["id"], "token": token, "lead": lead["id"]}


# letters that do not compress, so that a value reaches the index at its full length
NOISE = "".join(random.Random(9).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6000))


def assert_400(r: httpx.Response, *, reason: str) -> None:
    assert r.status_code == 400, r.text[:300]
    body = r.json()
    assert set(body) == {"code", "message", "details", "hint"} and reason in body["message"], body


@pytest.mark.parametrize(("label", "fn", "body", "reason"), [
    ("3,000-character email", "create_lead", {"first_name": "X", "email": NOISE[:2989] + "@example.de"},
     "leads_email_length"),
    ("5,000-character domain", "create_company", {"name": "X", "domain": NOISE[:4992] + ".example"},
     "companies_domain_length"),
    ("16,001-dimension vector", "search_memory", {"query_embedding": "[" + ",".join(["0.1"] * 16001) + "]"},
     "16000"),
    ("NaN amount", "create_deal", {"name": "Big one", "amount": "NaN"}, "deals_amount_is_a_number"),
    ("NUL in an RPC argument", "create_lead", {"first_name": "Ada\u0000"}, ""),
])
def test_data_and_limit_errors_are_400_not_a_lost_connection(api: ApiProcess, team: dict, label: str, fn: str,
                                                              body: dict, reason: str) -> None:
    r = rpc(api, fn, {"org_id": team["org"], **body}, team["token"])
    assert r.status_code == 400, f"{label}: {r.status_code} {r.text[:300]}"
    assert r.json()["code"][:2] in ("22", "23", "54") and reason in r.json()["message"], label


@pytest.mark.parametrize(("query", "reason"), [
    (" ", "at least one word"), ("a\u0000b", "NUL"), (" ".join(["price"] * 33), "at most 32 words"),
    ("x" * 1001, "at most 1000 characters"),
])
def test_search_queries_are_bounded(api: ApiProcess, team: dict, query: str, reason: str) -> None:
    r = httpx.post(f"{api.url}/api/search", json={"org_id": team["org"], "query": query},
                   headers={"Authorization": f"Bearer {team['token']}"}, timeout=30)
    assert_400(r, reason=reason)


@pytest.mark.parametrize(("pattern", "reason"), [
    ("(", "invalid regex"), ("(?=a)b", "look-around"), (r"(a)\1", "back-reference"), ("a" * 501, "500"),
])
def test_bad_compliance_patterns_are_refused_when_saved(api: ApiProcess, team: dict, pattern: str,
                                                        reason: str) -> None:
    rule = {"id": "org.x", "kind": "pattern", "severity": "block", "message": "No.", "patterns": [pattern]}
    r = rpc(api, "set_ai_settings", {"org_id": team["org"], "settings": {"compliance": {"rules": [rule]}}},
            team["token"])
    assert_400(r, reason=reason)
    fine = {**rule, "patterns": ["(a+)+$"]}  # RE2 runs it in linear time: accepted
    r = rpc(api, "set_ai_settings", {"org_id": team["org"], "settings": {"compliance": {"rules": [fine]}}},
            team["token"])
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def impatient_api(module_db_url: str) -> Iterator[ApiProcess]:
    with run_api(module_db_url, {"SALESFLOW_STATEMENT_TIMEOUT": "300ms"}) as process:
        yield process


def test_a_statement_timeout_is_504_with_its_code(impatient_api: ApiProcess, team: dict) -> None:
    """The lead's row is locked by another transaction, so the update waits until its statement times out."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(impatient_api.database_url) as conn:
            conn.execute("select 1 from salesflow.leads where id = %s for update", (team["lead"],))
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        r = rpc(impatient_api, "update_lead", {"org_id": team["org"], "lead_id": team["lead"],
                                               "changes": {"first_name": "Bea"}}, team["token"])
    finally:
        release.set()
        holder.join()
    assert r.status_code == 504, r.text
    assert r.json()["code"] == "57014" and "timeout" in r.json()["message"]


# -- the ledgers --------------------------------------------------------------------------------

def settle(db: psycopg.Connection, org: uuid.UUID, subject: str | None = None) -> int:
    return db.execute("select salesflow.settle_request(null, %s, 'chat', 'p', 'm', now(), 'ok', subject_id => %s)",
                      (org, subject)).fetchone()[0]


def log_verdict(db: psycopg.Connection, org: uuid.UUID) -> None:
    db.execute("insert into salesflow.compliance_log (org_id, task, purpose, passed, rules_version, text_sha256, "
               "action) values (%s, 'chat', 'chat', true, 'v', repeat('a', 64), 'delivered')", (org,))


@pytest.mark.parametrize("statement", [
    "update salesflow.llm_requests set cost = 0 where org_id = '{org}'",
    "delete from salesflow.llm_requests where org_id = '{org}'",
    "truncate salesflow.llm_requests cascade",
    "update salesflow.compliance_log set passed = false where org_id = '{org}'",
    "delete from salesflow.compliance_log where org_id = '{org}'",
    "truncate salesflow.compliance_log",
])
def test_the_ledgers_are_append_only_even_for_their_owner(db: psycopg.Connection, statement: str) -> None:
    org = new_org(db)
    settle(db, org)
    log_verdict(db, org)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="append-only"):
        db.execute(statement.format(org=org))
    for role in ("authenticated", "service_role", "anon"):
        for privilege in ("update", "delete", "truncate"):
            for table in ("llm_requests", "compliance_log"):
                assert not db.execute("select has_table_privilege(%s, %s, %s)",
                                      (role, f"salesflow.{table}", privilege)).fetchone()[0], (role, table)


def test_retention_is_an_explicit_logged_job(db: psycopg.Connection) -> None:
    settle(db, new_org(db))
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="at least 30 days"):
        db.execute("select salesflow.apply_audit_retention('llm_requests', interval '1 day')")
    before = db.execute("select count(*) from salesflow.llm_requests").fetchone()[0]
    deleted = db.execute("select salesflow.apply_audit_retention('llm_requests', interval '3650 days')").fetchone()[0]
    assert deleted == 0 and db.execute("select count(*) from salesflow.llm_requests").fetchone()[0] == before
    run = db.execute("select table_name, deleted, run_by from salesflow.audit_retention_runs "
                     "order by id desc limit 1").fetchone()
    assert run[:2] == ("llm_requests", 0) and run[2]
    # the switch that lets retention delete is transaction-local: it is off again afterwards
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        db.execute("delete from salesflow.llm_requests")


def test_deleting_an_organisation_keeps_its_audit(db: psycopg.Connection) -> None:
    org = new_org(db)
    request = settle(db, org)
    log_verdict(db, org)
    db.execute("delete from salesflow.organizations where id = %s", (org,))
    assert db.execute("select count(*) from salesflow.llm_requests where org_id = %s and id = %s",
                      (org, request)).fetchone()[0] == 1
    assert db.execute("select count(*) from salesflow.compliance_log where org_id = %s", (org,)).fetchone()[0] == 1


def test_no_lead_id_survives_in_the_log_or_the_queue(db: psycopg.Connection) -> None:
    org = new_org(db)
    lead = db.execute("insert into salesflow.leads (org_id, first_name) values (%s, 'Ada') returning id",
                      (org,)).fetchone()[0]
    request = settle(db, org, subject=str(lead))
    subject = db.execute("select subject_id from salesflow.llm_requests where org_id = %s and id = %s",
                         (org, request)).fetchone()[0]
    assert subject != str(lead) and len(subject) == 64
    db.execute("insert into salesflow.jobs (kind, org_id, payload) values ('ai_suggest', %s, %s)",
               (org, json.dumps({"org_id": str(org), "lead_id": str(lead), "kind": "next_action"})))
    db.execute("delete from salesflow.leads where org_id = %s and id = %s", (org, lead))
    assert db.execute("select count(*) from salesflow.jobs where payload::text like %s",
                      (f"%{lead}%",)).fetchone()[0] == 0


# -- rate and concurrency limits ----------------------------------------------------------------

class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_token_bucket_refills_at_its_rate_and_caps_concurrency() -> None:
    clock = ManualClock()
    limiter = Limiter(rate=2.0, burst=3.0, concurrency=2, clock=clock)
    assert limiter.acquire("a") is None and limiter.acquire("a") is None
    assert limiter.acquire("a") == 1.0  # two in flight: the third waits for one to finish
    limiter.release("a")
    assert limiter.acquire("a") is None
    limiter.release("a")
    limiter.release("a")
    assert limiter.acquire("a") == pytest.approx(0.5)  # the bucket of 3 is empty; 1 token takes 0.5 s
    assert limiter.acquire("b") is None  # another caller has a bucket of its own
    clock.now += 0.5
    assert limiter.acquire("a") is None
    limiter.release("a")
    clock.now += 100  # refills up to the burst, not beyond
    for _ in range(3):
        assert limiter.acquire("a") is None
        limiter.release("a")
    assert limiter.acquire("a") is not None


def test_limits_come_from_the_environment() -> None:
    assert Limiter.from_env({"SALESFLOW_RATE_LIMIT": "0"}) is None
    limiter = Limiter.from_env({"SALESFLOW_RATE_LIMIT": "5", "SALESFLOW_CONCURRENCY_LIMIT": "3"})
    assert limiter is not None and (limiter.rate, limiter.burst, limiter.concurrency) == (5.0, 10.0, 3)
    with pytest.raises(ValueError, match="must be numbers"):
        Limiter.from_env({"SALESFLOW_RATE_LIMIT": "fast"})


@pytest.fixture(scope="module")
def limited_api(module_db_url: str) -> Iterator[ApiProcess]:
    # one request per 1,000 s after a burst of 2: the third is refused however fast the machine is
    with run_api(module_db_url, {"SALESFLOW_RATE_LIMIT": "0.001", "SALESFLOW_RATE_BURST": "2"}) as process:
        yield process


def test_a_caller_over_its_rate_gets_429_with_retry_after(limited_api: ApiProcess) -> None:
    token, other = make_token(uuid.uuid4()), make_token(uuid.uuid4())
    answers = [rpc(limited_api, "create_organization", {"name": f"Rate {i}"}, token) for i in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    refused = answers[2]
    assert int(refused.headers["retry-after"]) >= 1
    assert set(refused.json()) == {"code", "message", "details", "hint"} and refused.json()["code"] == "SF429"
    assert rpc(limited_api, "create_organization", {"name": "Other"}, other).status_code == 200
    assert httpx.get(f"{limited_api.url}/health", timeout=10).status_code == 200  # not limited
