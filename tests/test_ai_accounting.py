"""AI gateway accounting: budgets reserved race-free before a call, the log and rollups after it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from tests.conftest import acting_as, authenticate_as


@dataclass(frozen=True)
class Org:
    id: uuid.UUID
    owner: uuid.UUID
    rep: uuid.UUID
    analyst: uuid.UUID


def make_org(conn: psycopg.Connection, name: str) -> Org:
    owner, rep, analyst = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with acting_as(conn, owner):
        org_id = conn.execute("select id from api.create_organization(%s)", (name,)).fetchone()[0]
        conn.execute("select api.add_org_member(%s, %s, 'rep')", (org_id, rep))
        conn.execute("select api.add_org_member(%s, %s, 'analyst')", (org_id, analyst))
    return Org(org_id, owner, rep, analyst)


@pytest.fixture
def conn(db: psycopg.Connection) -> psycopg.Connection:
    db.autocommit = True
    db.execute("insert into salesflow.llm_models values "
               "('openai', 'gpt-test', '2024-01-01', 128000, 2.50, 10.00, default)")
    return db


@pytest.fixture
def org(conn: psycopg.Connection) -> Org:
    return make_org(conn, "Acme")


def add_budget(conn: psycopg.Connection, org_id: uuid.UUID, scope: str = "org", *, soft: str | None = None,
               hard: str | None = None, user_id: uuid.UUID | None = None, feature: str | None = None,
               period: str = "month") -> uuid.UUID:
    return conn.execute(
        "insert into salesflow.llm_budgets (org_id, scope, user_id, feature, period, soft_limit, hard_limit) "
        "values (%s, %s, %s, %s, %s, %s, %s) returning id",
        (org_id, scope, user_id, feature, period, soft, hard)).fetchone()[0]


def reserve(conn: psycopg.Connection, org_id: uuid.UUID, cost: str, user_id: uuid.UUID | None = None,
            feature: str | None = "drafts") -> uuid.UUID:
    return conn.execute("select salesflow.reserve_budget(%s, %s, %s, %s)",
                        (org_id, user_id, feature, Decimal(cost))).fetchone()[0]


def settle(conn: psycopg.Connection, reservation: uuid.UUID | None, org_id: uuid.UUID, **fields: object) -> int:
    args = {"task": "draft_email", "provider": "openai", "model": "gpt-test",
            "started_at": datetime.now(UTC), "status": "ok", "input_tokens": 1000, "output_tokens": 500,
            "latency_ms": 800, "time_to_first_token_ms": 200, "feature": "drafts", **fields}
    names = ", ".join(f"{k} => %({k})s" for k in args)
    return conn.execute(f"select salesflow.settle_request(reservation_id => %(reservation_id)s, "
                        f"org_id => %(org_id)s, {names})",
                        {"reservation_id": reservation, "org_id": org_id, **args}).fetchone()[0]


@contextmanager
def over_budget() -> Iterator[None]:
    """The call is refused with PT402 (PostgREST's 402), which psycopg knows no class for."""
    with pytest.raises(psycopg.Error) as refused:
        yield
    assert refused.value.sqlstate == "PT402", refused.value


def scalar(conn: psycopg.Connection, query: str, params: object = ()) -> object:
    return conn.execute(query, params).fetchone()[0]


def test_concurrent_reservations_cannot_overspend_a_hard_limit(conn: psycopg.Connection, org: Org,
                                                               db_url: str) -> None:
    add_budget(conn, org.id, hard="1.00")
    threads_n, each = 12, Decimal("0.15")  # 6 fit under 1.00, the 7th would make 1.05
    barrier = threading.Barrier(threads_n)
    granted: list[uuid.UUID] = []
    refused: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            with psycopg.connect(db_url, autocommit=True) as c:
                barrier.wait(timeout=30)
                try:
                    rid = c.execute("select salesflow.reserve_budget(%s, null, 'drafts', %s)",
                                    (org.id, each)).fetchone()[0]
                    with lock:
                        granted.append(rid)
                except psycopg.Error as exc:
                    with lock:
                        refused.append(exc.sqlstate or "?")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    reserved = scalar(conn, "select coalesce(sum(amount), 0) from salesflow.llm_budget_reservations "
                            "where org_id = %s", (org.id,))
    assert reserved <= Decimal("1.00")
    assert len(granted) == 6 and reserved == 6 * each
    assert refused == ["PT402"] * (threads_n - 6)


def test_hard_limit_refuses_before_the_call_with_a_clear_message(conn: psycopg.Connection, org: Org) -> None:
    add_budget(conn, org.id, "user", hard="0.05", user_id=org.rep, period="day")
    add_budget(conn, org.id, "feature", hard="1.00", feature="drafts")
    reserve(conn, org.id, "0.04", user_id=org.rep)
    with pytest.raises(psycopg.Error) as refused:
        reserve(conn, org.id, "0.02", user_id=org.rep)
    assert refused.value.sqlstate == "PT402"
    assert "day user budget of user" in str(refused.value) and "allows 0.050000" in str(refused.value)
    # another user is not held to the rep's budget; the feature budget still counts everyone
    reserve(conn, org.id, "0.50", user_id=org.owner)
    with over_budget():
        reserve(conn, org.id, "0.50", user_id=org.owner)
    # a call of another feature is under neither
    reserve(conn, org.id, "5.00", user_id=org.owner, feature="summaries")


def test_settled_spend_counts_and_expired_reservations_are_charged(conn: psycopg.Connection, org: Org) -> None:
    """A reservation nobody settled (a killed process) is not free once it expires: the sweep charges it."""
    add_budget(conn, org.id, hard="0.02")
    r = reserve(conn, org.id, "0.015")
    settle(conn, r, org.id)  # costs 0.0075: 1000 in x 2.50 + 500 out x 10.00 per million
    assert scalar(conn, "select count(*) from salesflow.llm_budget_reservations where org_id = %s", (org.id,)) == 0
    orphan = reserve(conn, org.id, "0.0125")  # 0.0075 spent + 0.0125 = 0.02: exactly the limit
    with over_budget():
        reserve(conn, org.id, "0.0001")
    conn.execute("update salesflow.llm_budget_reservations set expires_at = now() - interval '1 second' "
                 "where org_id = %s", (org.id,))
    with over_budget():  # reserve_budget sweeps first: the orphan counts as spend, nothing is left
        reserve(conn, org.id, "0.0001")
    assert scalar(conn, "select salesflow.sweep_llm_reservations()") == 1  # (that refusal rolled its sweep back)
    with over_budget():
        reserve(conn, org.id, "0.0001")
    row = conn.execute("select status, cost, usage_estimated, error from salesflow.llm_requests "
                       "where org_id = %s and reservation_id = %s", (org.id, orphan)).fetchall()
    assert [(s, c, e) for s, c, e, _ in row] == [("error", Decimal("0.012500"), True)]
    assert "never settled" in row[0][3]
    assert scalar(conn, "select salesflow.sweep_llm_reservations()") == 0  # once only
    assert scalar(conn, "select count(*) from salesflow.llm_budget_reservations where org_id = %s", (org.id,)) == 0


def test_soft_limit_writes_exactly_one_alert_per_period(conn: psycopg.Connection, org: Org) -> None:
    budget = add_budget(conn, org.id, soft="0.10", hard="10")
    reserve(conn, org.id, "0.06")
    assert scalar(conn, "select count(*) from salesflow.llm_budget_alerts where org_id = %s", (org.id,)) == 0
    for _ in range(4):
        reserve(conn, org.id, "0.06")
    alerts = conn.execute("select budget_id, kind, spent, limit_amount, period_start = date_trunc('month', now(), "
                          "'UTC') from salesflow.llm_budget_alerts where org_id = %s", (org.id,)).fetchall()
    assert alerts == [(budget, "soft", Decimal("0.12"), Decimal("0.10"), True)]


def test_settle_writes_the_log_and_the_rollups(conn: psycopg.Connection, org: Org) -> None:
    r1 = reserve(conn, org.id, "0.01", user_id=org.rep)
    first = settle(conn, r1, org.id, user_id=org.rep)
    second = settle(conn, reserve(conn, org.id, "0.01", user_id=org.rep), org.id, user_id=org.rep,
                    status="error", error="HTTP 503 from openai", fallback_hops=2, input_tokens=100,
                    output_tokens=0, latency_ms=1200)
    log = conn.execute("select id, user_id, task, provider, model, input_tokens, output_tokens, cost, status, "
                       "error, fallback_hops, reservation_id from salesflow.llm_requests where org_id = %s "
                       "order by id", (org.id,)).fetchall()
    assert [row[0] for row in log] == [first, second]
    assert log[0][1:] == (org.rep, "draft_email", "openai", "gpt-test", 1000, 500, Decimal("0.007500"), "ok", None,
                          0, r1)
    assert log[1][7:11] == (Decimal("0.000250"), "error", "HTTP 503 from openai", 2)
    daily = conn.execute("select day = (now() at time zone 'UTC')::date, user_id, requests, errors, fallbacks, "
                         "input_tokens, output_tokens, cost, latency_ms_sum from salesflow.llm_usage_daily "
                         "where org_id = %s", (org.id,)).fetchall()
    assert daily == [(True, org.rep, 2, 1, 1, 1100, 500, Decimal("0.007750"), 2000)]
    spend = conn.execute("select requests, cost from analytics.llm_spend_daily where org_id = %s",
                         (org.id,)).fetchall()
    assert spend == [(2, Decimal("0.007750"))]
    rates = conn.execute("select error_rate, fallback_rate from analytics.llm_error_rates where org_id = %s",
                         (org.id,)).fetchall()
    assert rates == [(Decimal("0.5000"), Decimal("0.5000"))]
    latency = conn.execute("select requests, latency_p50_ms, latency_p95_ms, ttft_p50_ms from analytics.llm_latency "
                           "where org_id = %s", (org.id,)).fetchall()
    assert latency == [(2, 1000.0, 1180.0, 200.0)]


def test_a_failing_rollup_never_fails_the_caller_or_loses_the_log_row(conn: psycopg.Connection, org: Org) -> None:
    with conn.transaction(force_rollback=True):
        # the rollup table now refuses every row, as a full disk or a bad migration might
        conn.execute("alter table salesflow.llm_usage_daily add constraint broken check (requests < 0) not valid")
        request = settle(conn, reserve(conn, org.id, "0.01"), org.id)
        # the caller's transaction is still usable and holds the log row, without a rollup
        assert scalar(conn, "select count(*) from salesflow.llm_requests where org_id = %s and id = %s",
                      (org.id, request)) == 1
        assert scalar(conn, "select count(*) from salesflow.llm_usage_daily where org_id = %s", (org.id,)) == 0
        assert scalar(conn, "select count(*) from salesflow.llm_budget_reservations where org_id = %s",
                      (org.id,)) == 0
    # the control: without the broken constraint the same call does write the rollup
    settle(conn, reserve(conn, org.id, "0.01"), org.id)
    assert scalar(conn, "select count(*) from salesflow.llm_usage_daily where org_id = %s", (org.id,)) == 1


def test_old_logs_keep_old_prices_after_a_new_price_row(conn: psycopg.Connection, org: Org) -> None:
    march = datetime(2025, 3, 10, 12, tzinfo=UTC)
    june = datetime(2025, 6, 10, 12, tzinfo=UTC)
    old = settle(conn, None, org.id, started_at=march)
    conn.execute("insert into salesflow.llm_models values "
                 "('openai', 'gpt-test', '2025-06-01', 128000, 1.00, 4.00, default)")
    new = settle(conn, None, org.id, started_at=june)
    # logged late, but started before the change: still the old price
    late = settle(conn, None, org.id, started_at=march)
    costs = dict(conn.execute("select id, cost from salesflow.llm_requests where org_id = %s", (org.id,)).fetchall())
    assert costs == {old: Decimal("0.007500"), new: Decimal("0.003000"), late: Decimal("0.007500")}
    prices = conn.execute("select (salesflow.llm_price('openai', 'gpt-test', %s)).input_price_per_mtok, "
                          "(salesflow.llm_price('openai', 'gpt-test', %s)).input_price_per_mtok", (march, june))
    assert prices.fetchone() == (Decimal("2.500000"), Decimal("1.000000"))


def test_a_model_missing_from_the_catalogue_is_charged_its_reservation(conn: psycopg.Connection, org: Org) -> None:
    request = settle(conn, reserve(conn, org.id, "0.0420"), org.id, model="not-in-catalogue")
    assert scalar(conn, "select cost from salesflow.llm_requests where org_id = %s and id = %s",
                  (org.id, request)) == Decimal("0.042000")


def test_the_log_is_append_only(conn: psycopg.Connection, org: Org) -> None:
    request = settle(conn, None, org.id)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="append-only"):
        conn.execute("update salesflow.llm_requests set cost = 0 where org_id = %s", (org.id,))
    for statement in ("update salesflow.llm_requests set cost = 0", "delete from salesflow.llm_requests",
                      f"insert into salesflow.llm_budget_reservations (org_id, amount) values ('{org.id}', 1)"):
        with authenticate_as(conn, org.owner):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    assert scalar(conn, "select cost from salesflow.llm_requests where id = %s", (request,)) == Decimal("0.0075")


def test_feedback_is_recorded_against_the_log_row(conn: psycopg.Connection, org: Org) -> None:
    request = settle(conn, None, org.id, user_id=org.rep)
    with acting_as(conn, org.rep):
        row = conn.execute("select request_id, user_id, rating, outcome, comment from "
                           "api.record_llm_feedback(%s, %s, rating => 1::smallint, outcome => 'edited', "
                           "comment => ' shortened it ')", (org.id, request)).fetchone()
    assert row == (request, org.rep, 1, "edited", "shortened it")
    with authenticate_as(conn, org.rep):
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("select api.record_llm_feedback(%s, %s)", (org.id, request))
    with authenticate_as(conn, org.rep):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # not a request of theirs (none at all)
            conn.execute("select api.record_llm_feedback(%s, %s, 1::smallint)", (org.id, request + 1000))


def test_only_the_requester_or_an_owner_rates_a_request_and_once(conn: psycopg.Connection, org: Org) -> None:
    other_rep = uuid.uuid4()
    with acting_as(conn, org.owner):
        conn.execute("select api.add_org_member(%s, %s, 'rep')", (org.id, other_rep))
    request = settle(conn, None, org.id, user_id=org.rep)
    rate = "select api.record_llm_feedback(%s, %s, rating => %s::smallint)"
    for someone_else in (other_rep, org.analyst):
        with authenticate_as(conn, someone_else):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(rate, (org.id, request, -1))
    with acting_as(conn, org.rep):
        conn.execute(rate, (org.id, request, 1))
    with authenticate_as(conn, org.rep):
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(rate, (org.id, request, 1))
    with acting_as(conn, org.owner):
        conn.execute(rate, (org.id, request, -1))
    assert conn.execute("select count(*) from salesflow.llm_feedback where org_id = %s and request_id = %s",
                        (org.id, request)).fetchone()[0] == 2


def test_members_see_their_org_and_other_orgs_see_nothing(conn: psycopg.Connection, org: Org) -> None:
    other = make_org(conn, "Borg")
    budget = add_budget(conn, org.id, soft="0", hard="10")
    reserve(conn, org.id, "0.01")  # open, and over the soft limit: an alert
    mine = settle(conn, None, org.id, user_id=org.rep)
    owners = settle(conn, None, org.id, user_id=org.owner)
    with acting_as(conn, org.rep):
        conn.execute("select api.record_llm_feedback(%s, %s, 1::smallint)", (org.id, mine))
    tables = ("llm_requests", "llm_usage_daily", "llm_budgets", "llm_budget_alerts", "llm_feedback")
    counts = " union all ".join(f"select '{t}', count(*) from salesflow.{t} where org_id = %(org)s" for t in tables)
    with authenticate_as(conn, org.analyst):
        seen = dict(conn.execute(counts, {"org": org.id}).fetchall())
    assert seen == {"llm_requests": 2, "llm_usage_daily": 2, "llm_budgets": 1, "llm_budget_alerts": 1,
                    "llm_feedback": 1}
    # a rep sees their own calls only, and no budgets
    with authenticate_as(conn, org.rep):
        assert [r for (r,) in conn.execute("select id from salesflow.llm_requests")] == [mine]
        assert scalar(conn, "select count(*) from salesflow.llm_budgets") == 0
    for user in (other.owner, other.rep, other.analyst):
        with authenticate_as(conn, user):
            assert set(dict(conn.execute(counts, {"org": org.id}).fetchall()).values()) == {0}
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select count(*) from salesflow.llm_budget_reservations")
        with authenticate_as(conn, user):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select api.record_llm_feedback(%s, %s, 1::smallint)", (org.id, owners))
        with authenticate_as(conn, user):
            # in their own organisation, A's request is not theirs to judge (an owner passes the policy
            # and meets the foreign key; the others meet the policy)
            with pytest.raises((psycopg.errors.ForeignKeyViolation, psycopg.errors.InsufficientPrivilege)):
                conn.execute("select api.record_llm_feedback(%s, %s, 1::smallint)", (other.id, owners))
    assert budget is not None
