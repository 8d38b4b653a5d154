"""The AI insights dashboard (issue 14): the anomaly method, ROI and content performance on hand-checked
data, the weekly executive summary job (through a provider, and the offline path), the page in headless
Chromium against a real API process, and another organisation's token seeing nothing of this one."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from salesflow.functions.handlers import detect_anomalies, executive_summary, refresh_forecasts
from salesflow.gateway.config import parse_config
from tests.conftest import ApiProcess, acting_as, make_token, run_api, run_handler
from tests.fault_server import FaultServer, ok

TODAY = datetime.now(UTC).date()
DAYS = 35  # the seeded history: a 28-day window and a week of days judged against it
SPIKE = TODAY - timedelta(days=1)  # yesterday: spend and message volume far above their usual range
CHARTS = ("spend", "score-distribution", "score-trend", "funnel", "recommendations", "forecast", "queue",
          "compliance", "roi", "content", "anomalies")


@dataclass(frozen=True)
class Seeded:
    url: str
    org: uuid.UUID
    owner: uuid.UUID
    other_org: uuid.UUID
    other_owner: uuid.UUID
    leads: list[uuid.UUID]


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def seed(conn: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    """One organisation with a history for every panel; returns (org, owner, leads)."""
    owner = uuid.uuid4()
    with acting_as(conn, owner):
        org = conn.execute("select id from api.create_organization('Insightful')").fetchone()[0]
    stages = ["lead", "lead", "lead", "mql", "mql", "sql", "opportunity", "customer"]
    leads = [conn.execute(
        "insert into salesflow.leads (org_id, first_name, lifecycle_stage) values (%s, %s, %s) returning id",
        (org, f"Lead {i}", stages[i % len(stages)])).fetchone()[0] for i in range(24)]
    for i, lead in enumerate(leads):
        conn.execute("insert into salesflow.lead_scores (org_id, lead_id, probability, score, log_odds) "
                     "values (%s, %s, %s, %s, 0) on conflict (org_id, lead_id) do update "
                     "set probability = excluded.probability, score = excluded.score",
                     (org, lead, (i * 4 + 5) / 100, i * 4 + 5))
    for back in range(DAYS, 0, -1):
        day = TODAY - timedelta(days=back)
        wobble = back % 3  # a usual range that is not flat
        for k in range(3):
            conn.execute("insert into salesflow.lead_score_history (org_id, lead_id, probability, score, scored_at) "
                         "values (%s, %s, 0.5, %s, %s)", (org, leads[k], 48 + wobble + k, _at(day, 9 + k)))
        for k in range(60 if day == SPIKE else 5 + wobble):
            conn.execute("insert into salesflow.messages (org_id, lead_id, channel, direction, body, sent_at) "
                         "values (%s, %s, 'email', %s, 'Hello there, a short note.', %s)",
                         (org, leads[k % 6], "outbound" if k % 2 else "inbound", _at(day, 8) + timedelta(minutes=k)))
        for k in range(4):
            cost = 2.0 if day == SPIKE else 0.01 * (1 + wobble * 0.2 + k * 0.05)
            failed = k == 3 and back % 4 == 0
            conn.execute(
                "insert into salesflow.llm_requests (org_id, started_at, user_id, task, feature, provider, model, "
                "input_tokens, output_tokens, cost, status, error, baseline_provider, baseline_model) values "
                "(%s, %s, %s, 'draft', 'assistant.compose', 'openai', 'gpt-4o-mini', 500, 200, %s, %s, %s, "
                "'openai', 'gpt-4o')",
                (org, _at(day, 11 + k), owner, 0 if failed else cost, "error" if failed else "ok",
                 "provider down" if failed else None))
    conn.execute(
        "insert into salesflow.llm_usage_daily (org_id, day, user_id, task, provider, model, requests, errors, cost) "
        "select org_id, (started_at at time zone 'UTC')::date, user_id, task, provider, model, count(*), "
        "count(*) filter (where status <> 'ok'), sum(cost) from salesflow.llm_requests where org_id = %s "
        "group by 1, 2, 3, 4, 5, 6", (org,))
    # what the AI led to: two suggestions (one accepted), three approved drafts sent through the outbox
    request = conn.execute("select id from salesflow.llm_requests where org_id = %s and status = 'ok' "
                           "order by id limit 1", (org,)).fetchone()[0]
    when = _at(TODAY - timedelta(days=10))
    for lead, status in ((leads[0], "accepted"), (leads[1], "rejected")):
        conn.execute("insert into salesflow.ai_suggestions (org_id, lead_id, kind, content, request_id, status, "
                     "reviewed_at, created_at) values (%s, %s, 'next_actions', '{}', %s, %s, %s, %s)",
                     (org, lead, request, status, when, when))
    deal = conn.execute("insert into salesflow.deals (org_id, lead_id, name, stage, amount) "
                        "values (%s, %s, 'Big deal', 'proposal', 50000) returning id", (org, leads[0])).fetchone()[0]
    conn.execute("insert into salesflow.deal_stage_changes (org_id, deal_id, stage, changed_at) values (%s, %s, "
                 "'proposal', %s)", (org, deal, when + timedelta(days=2)))
    for i, (lead, tone, language) in enumerate(((leads[7], "formal", "en"), (leads[8], "friendly", "de"),
                                                 (leads[9], "formal", "en"))):
        outbox = conn.execute(
            "insert into salesflow.outbox (org_id, lead_id, channel, body, status, idempotency_key, ai_generated) "
            "values (%s, %s, 'email', 'Hello', 'sent', %s, true) returning id", (org, lead, f"draft-{i}")).fetchone()[0]
        conn.execute(
            "insert into salesflow.ai_drafts (org_id, lead_id, kind, status, language, tone, content, subject, body, "
            "request_id, prompt_name, prompt_version, reviewed_at, outbox_id, created_at) values "
            "(%s, %s, 'email', 'approved', %s, %s, '{}', 'Hi', 'A short friendly note about our offer.', %s, "
            "'email_composer', 1, %s, %s, %s)", (org, lead, language, tone, request, when, outbox, when))
    # lead 7 answered its draft within a week
    conn.execute("insert into salesflow.messages (org_id, lead_id, channel, direction, body, sent_at) "
                 "values (%s, %s, 'email', 'inbound', 'Thanks, interested!', %s)",
                 (org, leads[7], when + timedelta(days=1)))
    for i, status in enumerate(("open", "accepted", "dismissed", "done")):
        conn.execute(
            "insert into salesflow.ai_recommendations (org_id, lead_id, action_type, reason_key, reason, "
            "base_priority, half_life, expires_at, source, status, created_at) values "
            "(%s, %s, 'call', %s, 'seeded', 50, '3 days', now() + interval '10 days', 'manual', %s, "
            "now() - make_interval(days => %s))",
            (org, leads[i], f"seed:{i}", status, i * 3))
    for i in range(4):
        conn.execute(
            "insert into salesflow.compliance_log (org_id, task, purpose, passed, findings, rules_version, "
            "text_sha256, action, created_at) values (%s, 'draft', 'email', %s, %s, 'v1', %s, %s, %s)",
            (org, i != 2, json.dumps([{"rule_id": "guarantee", "severity": "block"}] if i == 2 else []),
             "0" * 64, "withheld" if i == 2 else "delivered", _at(TODAY - timedelta(days=i + 1))))
    conn.execute("select salesflow.enqueue('noop', org_id => %s)", (org,))
    conn.commit()
    return org, owner, leads


@pytest.fixture(scope="module")
def seeded(module_db_url: str) -> Iterator[Seeded]:
    with psycopg.connect(module_db_url) as conn:
        org, owner, leads = seed(conn)
        other_owner = uuid.uuid4()
        with acting_as(conn, other_owner):
            other = conn.execute("select id from api.create_organization('Elsewhere')").fetchone()[0]
        conn.commit()
    yield Seeded(module_db_url, org, owner, other, other_owner, leads)


@pytest.fixture(scope="module")
def conn(seeded: Seeded) -> Iterator[psycopg.Connection]:
    with psycopg.connect(seeded.url, row_factory=dict_row) as c:
        yield c


def as_user(conn: psycopg.Connection, user: uuid.UUID, sql: str, params: Any = ()) -> list[dict[str, Any]]:
    with acting_as(conn, user):
        rows = conn.execute(sql, params).fetchall()
    conn.commit()
    return rows


def test_anomalies_flag_the_spikes_and_not_the_usual_days(seeded: Seeded, conn: psycopg.Connection) -> None:
    rows = as_user(conn, seeded.owner, "select * from api.get_anomalies(%s, 7)", (seeded.org,))
    flagged = {(r["metric"], r["day"]) for r in rows if r["is_anomaly"]}
    assert ("spend", SPIKE) in flagged and ("messages", SPIKE) in flagged
    # the usual days, and the score (never moved), are not flagged
    assert {m for m, d in flagged if d != SPIKE} == set()
    assert not any(m == "score" for m, _ in flagged)
    spend = next(r for r in rows if r["metric"] == "spend" and r["day"] == SPIKE)
    assert spend["z"] > 3.5 and float(spend["baseline"]) == pytest.approx(0.0449, abs=0.01)
    # bad arguments are a clear 22023, not a crash
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="window_days"):
        as_user(conn, seeded.owner, "select * from api.get_anomalies(%s, 7, 3)", (seeded.org,))
    conn.rollback()


def test_the_scheduled_job_writes_alert_rows_once(seeded: Seeded, conn: psycopg.Connection) -> None:
    for _ in range(2):  # a redelivered job writes nothing twice
        run_handler(conn, seeded.url, detect_anomalies.HANDLER, detect_anomalies.Payload(days=3))
    alerts = conn.execute("select metric, day from salesflow.insight_alerts where org_id = %s order by metric",
                          (seeded.org,)).fetchall()
    assert [(a["metric"], a["day"]) for a in alerts] == [("messages", SPIKE), ("spend", SPIKE)]
    # the other organisation's member reads none of them
    assert as_user(conn, seeded.other_owner, "select * from salesflow.insight_alerts") == []


def test_roi_and_content_performance_on_hand_checked_outcomes(seeded: Seeded, conn: psycopg.Connection) -> None:
    roi = {r["feature"]: r for r in as_user(conn, seeded.owner, "select * from api.get_ai_roi(%s)", (seeded.org,))}
    compose = roi["assistant.compose"]
    assert (compose["requests"], compose["outputs"], compose["accepted"], compose["sent"]) == (DAYS * 4, 5, 4, 3)
    # lead 7 replied to its draft; lead 0's deal moved two days after its suggestion was accepted
    assert (compose["replies"], compose["deals_advanced"]) == (1, 1)
    assert float(compose["cost_per_accepted"]) == pytest.approx(float(compose["cost"]) / 4, rel=1e-3)
    content = as_user(conn, seeded.owner, "select * from api.get_content_performance(%s)", (seeded.org,))
    drafts = {(r["tone"], r["language"]): r for r in content if r["source"] == "ai_draft"}
    assert drafts[("formal", "en")]["sent"] == 2 and drafts[("formal", "en")]["replied"] == 1
    assert drafts[("formal", "en")]["template"] == "email_composer v1"
    assert drafts[("friendly", "de")]["reply_rate"] == 0
    messages = [r for r in content if r["source"] == "message"]
    assert messages and all(r["content_type"] == "email" and r["length_band"] == "short" for r in messages)


def test_another_organisation_gets_a_clear_refusal(seeded: Seeded, conn: psycopg.Connection) -> None:
    for rpc in ("get_dashboard(%s)", "get_ai_roi(%s)", "get_content_performance(%s)", "get_anomalies(%s)"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="not a member of organisation"):
            as_user(conn, seeded.other_owner, f"select * from api.{rpc}", (seeded.org,))
        conn.rollback()


def _config(server: FaultServer, offline: bool) -> Any:
    return parse_config({
        "providers": {"fault": {"kind": "openai_compatible", "base_url": server.base_url, "api_key": "test",
                                "timeout": 5.0}},
        "models": [{"provider": "fault", "model": "summariser", "context_window": 8000, "input_price_per_mtok": 1.0,
                    "output_price_per_mtok": 2.0, "quality": 0.8, "offline": offline}],
        "retry": {"attempts_per_model": 1, "base_delay": 0.01, "max_delay": 0.05, "max_retry_after": 1.0},
    }, {})


def test_weekly_executive_summary_through_the_gateway_and_offline(seeded: Seeded, conn: psycopg.Connection) -> None:
    week = executive_summary.last_full_week(TODAY)
    answer = {"headline": "Spend jumped yesterday.", "highlights": ["4 AI requests a day"], "risks": [],
              "focus": "Check the spend."}
    server = FaultServer(default_text=json.dumps(answer)).start()
    try:
        payload = executive_summary.Payload(week_start=week, language="en")
        for _ in range(2):  # delivered twice: stored once
            run_handler(conn, seeded.url, executive_summary.HANDLER, payload, org_id=seeded.org,
                        llm_config=_config(server, offline=False))
        # the offline model answers with no JSON at all: the rule-written summary is stored, labelled
        server.script("summariser", *[ok("I cannot do that.")] * 5)
        run_handler(conn, seeded.url, executive_summary.HANDLER,
                    executive_summary.Payload(week_start=week, language="de"), org_id=seeded.org,
                    llm_config=_config(server, offline=True))
    finally:
        server.stop()
    rows = {r["language"]: r for r in conn.execute(
        "select * from salesflow.executive_summaries where org_id = %s", (seeded.org,)).fetchall()}
    assert set(rows) == {"en", "de"}
    en, de = rows["en"], rows["de"]
    assert en["content"] == answer and en["source"] == "ai" and not en["offline_model"]
    assert en["prompt_name"] == "executive_summary.en" and en["prompt_version"] is not None and en["request_id"]
    assert en["figures"]["messages"] > 0
    assert de["source"] == "baseline" and de["offline_model"] and de["request_id"] is None
    assert de["content"]["headline"].startswith("Woche ab")
    # the schedule's run (no organisation) fans out one job per active organisation, once
    for _ in range(2):
        run_handler(conn, seeded.url, executive_summary.HANDLER, executive_summary.Payload(week_start=week))
    jobs = conn.execute("select org_id, payload from salesflow.jobs where kind = 'executive_summary'").fetchall()
    assert [j["org_id"] for j in jobs] == [seeded.org]


# -- the page in a real browser -------------------------------------------------------------------------
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is not installed: run the tests with `bash scripts/test`, which installs it")
    return path


def test_the_forecast_is_stored_by_the_job_and_read_back_with_its_as_of(seeded: Seeded,
                                                                        conn: psycopg.Connection) -> None:
    run_handler(conn, seeded.url, refresh_forecasts.HANDLER, refresh_forecasts.Payload(), job_id=4242)
    stored = conn.execute("select id, as_of, source, result from salesflow.predictions where org_id = %s "
                          "and kind = 'forecast' and job_id = 4242", (seeded.org,)).fetchall()
    assert len(stored) == 1 and stored[0]["source"] == "job" and len(stored[0]["result"]) == 3
    # the dashboard reads the stored one back (no new row), with the as-of time the page shows
    panel = as_user(conn, seeded.owner, "select api.get_dashboard_forecast(%s) as f", (seeded.org,))[0]["f"]
    assert panel["stored"] is True and panel["prediction_id"] == stored[0]["id"] and panel["source"] == "job"
    assert panel["periods"] == stored[0]["result"]
    board = as_user(conn, seeded.owner, "select api.get_dashboard(%s) as d", (seeded.org,))[0]["d"]
    assert datetime.fromisoformat(board["forecast_as_of"]) == stored[0]["as_of"]
    # computed again unchanged, it is the same stored row; after a new deal, a new row, the caller's
    same = as_user(conn, seeded.owner, "select api.get_dashboard_forecast(%s, 0) as f", (seeded.org,))[0]["f"]
    assert same["stored"] is False and same["prediction_id"] == stored[0]["id"]
    conn.execute("insert into salesflow.deals (org_id, name, stage, amount, created_at) values "
                 "(%s, 'New deal', 'negotiation', 9000, now() - interval '400 days')", (seeded.org,))
    conn.commit()
    fresh = as_user(conn, seeded.owner, "select api.get_dashboard_forecast(%s, 0) as f", (seeded.org,))[0]["f"]
    assert fresh["stored"] is False and fresh["prediction_id"] != stored[0]["id"]
    by = conn.execute("select source, requested_by from salesflow.predictions where org_id = %s and id = %s",
                      (seeded.org, fresh["prediction_id"])).fetchone()
    assert by == {"source": "request", "requested_by": seeded.owner}
    with pytest.raises(psycopg.errors.InsufficientPrivilege), acting_as(conn, seeded.other_owner):
        conn.execute("select api.get_dashboard_forecast(%s)", (seeded.org,))
    conn.rollback()


@pytest.fixture(scope="module")
def api(seeded: Seeded, conn: psycopg.Connection) -> Iterator[ApiProcess]:
    # the alert rows the page shows (before the browser starts: Playwright's sync API holds an event loop)
    run_handler(conn, seeded.url, detect_anomalies.HANDLER, detect_anomalies.Payload(days=3))
    # and a summary (a no-op when the summary test already wrote this week's): the offline path
    server = FaultServer(default_text="not JSON").start()
    try:
        run_handler(conn, seeded.url, executive_summary.HANDLER,
                    executive_summary.Payload(week_start=executive_summary.last_full_week(TODAY)),
                    org_id=seeded.org, llm_config=_config(server, offline=True))
    finally:
        server.stop()
    with run_api(seeded.url) as process:
        yield process


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield b
        b.close()


def open_dashboard(browser: Any, api: ApiProcess, token: str, org: uuid.UUID | None = None) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(api.url) else None)
    fragment = f"#token={token}" + (f"&org={org}" if org else "")
    page.goto(f"{api.url}/dashboard{fragment}")
    # a CSS selector, not a JS predicate: the page's Content-Security-Policy forbids eval
    page.wait_for_selector("body[data-state=rendered], body[data-state=error]", state="attached", timeout=60_000)
    page.outside_requests = outside
    return page


def test_the_page_renders_every_chart_with_the_users_data(seeded: Seeded, api: ApiProcess, browser: Any,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    page = open_dashboard(browser, api, make_token(seeded.owner), seeded.org)
    try:
        assert page.get_attribute("body", "data-state") == "rendered", page.inner_text("#error")
        points = {name: int(page.get_attribute(f"#chart-{name}", "data-points") or 0) for name in CHARTS}
        assert all(n > 0 for n in points.values()), points
        # plotly drew each one (an SVG per chart), from the locally served library
        assert page.locator(".js-plotly-plot").count() == len(CHARTS)
        assert page.outside_requests == []
        assert "spend" in page.inner_text("#anomaly-list") and "messages" in page.inner_text("#anomaly-list")
        summary = page.inner_text("#summary")
        assert "Spend jumped yesterday." in summary or "rule-written summary" in summary
        shot = tmp_path_factory.getbasetemp() / "artifacts" / "dashboard.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
    finally:
        page.close()


def test_another_organisations_token_sees_nothing_and_is_told_why(seeded: Seeded, api: ApiProcess,
                                                                  browser: Any) -> None:
    page = open_dashboard(browser, api, make_token(seeded.other_owner), seeded.org)
    try:
        assert page.get_attribute("body", "data-state") == "error"
        assert "not a member of organisation" in page.inner_text("#error")
        assert page.locator(".js-plotly-plot").count() == 0
        assert "Insightful" not in page.content()
    finally:
        page.close()
    # with no org named, the page shows the token's own (empty) organisation, never the first one
    page = open_dashboard(browser, api, make_token(seeded.other_owner))
    try:
        assert page.get_attribute("body", "data-state") == "rendered"
        assert "Elsewhere" in page.inner_text("header")
        assert page.get_attribute("#chart-funnel", "data-points") == "0"
    finally:
        page.close()


def test_the_rpc_answers_in_postgrests_error_shape(seeded: Seeded, api: ApiProcess) -> None:
    headers = {"Authorization": f"Bearer {make_token(seeded.other_owner)}"}
    r = httpx.post(f"{api.url}/rest/v1/rpc/get_dashboard", json={"org_id": str(seeded.org)}, headers=headers)
    assert r.status_code == 403 and set(r.json()) == {"code", "message", "details", "hint"}
    r = httpx.post(f"{api.url}/rest/v1/rpc/get_dashboard", json={"org_id": str(seeded.org), "days": 10_000},
                   headers={"Authorization": f"Bearer {make_token(seeded.owner)}"})
    assert r.status_code == 400 and "days" in r.json()["message"]
    assert httpx.get(f"{api.url}/dashboard/plotly.min.js").status_code == 200



def test_the_jobs_sql_runs_as_the_worker_role(seeded: Seeded, conn: psycopg.Connection) -> None:
    """What the two jobs run is granted to salesflow_worker (a missing grant fails only in a real worker)."""
    from salesflow.db.queries import query

    week = executive_summary.last_full_week(TODAY)
    with conn.transaction(force_rollback=True):
        conn.execute("set local role salesflow_worker")
        assert conn.execute(query("record_insight_alerts"), {"days": 3}).fetchone()["written"] >= 0
        conn.execute(query("enqueue_executive_summaries"), {"week_start": week})
        params = {"org_id": seeded.org, "week_start": week - timedelta(days=7), "language": "en", "job_id": 1}
        figures = conn.execute(query("executive_summary_figures"), params).fetchone()["figures"]
        conn.execute(query("store_executive_summary"), {
            **params, "content": json.dumps({"headline": "x"}), "figures": json.dumps(figures), "source": "baseline",
            "offline_model": True, "request_id": None, "model": None})
        assert conn.execute(query("executive_summary_exists"), params).fetchone() is not None
        assert conn.execute(query("refresh_forecasts"), {"job_id": 1}).fetchone()["stored"] >= 1

