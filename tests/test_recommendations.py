"""Next best actions: triggers, rules, decay and expiry over a moved clock, snooze, re-offer limits,
reactions and what is learned from them, accepted AI suggestions, the API route, a real worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from salesflow.functions.handlers import evaluate_recommendations
from tests.conftest import ROOT, acting_as, make_token, run_api, run_handler


def one(conn: psycopg.Connection, query: str, params: Any = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def org_with_lead(db: psycopg.Connection, **lead: Any) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """An organisation (owner + rep) and one lead owned by the rep: (org, rep, lead)."""
    owner, rep = uuid.uuid4(), uuid.uuid4()
    with acting_as(db, owner):
        org = one(db, "select id from api.create_organization('Acme')")
        db.execute("select api.add_org_member(%s, %s, 'rep')", (org, rep))
    with acting_as(db, rep):
        cols = {"first_name": "Ada", **lead}
        named = ", ".join(f"{k} => %({k})s" for k in cols)
        lead_id = one(db, f"select id from api.create_lead(%(org)s, {named})", {"org": org, **cols})
    db.commit()
    return org, rep, lead_id


def jobs_for(db: psycopg.Connection, org: uuid.UUID) -> list[list[str]]:
    return [p["lead_ids"] for (p,) in db.execute(
        "select payload from salesflow.jobs where kind = 'evaluate_recommendations' and org_id = %s order by id",
        (org,))]


def evaluate(db: psycopg.Connection, org: uuid.UUID, leads: list[uuid.UUID], at: datetime | None = None) -> int:
    """Run the rules and commit, so that the next statements get a later now()."""
    opened = one(db, "select salesflow.evaluate_recommendations(%s, %s, %s)", (org, leads, at))
    db.commit()
    return opened


def live(db: psycopg.Connection, org: uuid.UUID) -> list[dict[str, Any]]:
    return db.cursor(row_factory=dict_row).execute(
        "select * from salesflow.ai_recommendations where org_id = %s order by created_at, reason_key", (org,)
    ).fetchall()


def now(db: psycopg.Connection) -> datetime:
    return one(db, "select now()")


def test_an_inbound_message_enqueues_in_its_transaction_and_its_reply_clears_the_item(
    db: psycopg.Connection, db_url: str
) -> None:
    org, rep, lead = org_with_lead(db)
    db.execute("delete from salesflow.jobs")
    db.commit()
    # a rolled-back message enqueues nothing
    with pytest.raises(psycopg.errors.CheckViolation), db.transaction():
        with acting_as(db, rep):
            db.execute("select api.create_message(%s, %s, 'email', 'inbound', 'Hello')", (org, lead))
        assert jobs_for(db, org) == [[str(lead)]]
        db.execute("insert into salesflow.messages (org_id, lead_id, channel, direction, body) "
                   "values (%s, %s, 'email', 'inbound', '')", (org, lead))
    assert jobs_for(db, org) == []
    with acting_as(db, rep):
        db.execute("select api.create_message(%s, %s, 'whatsapp', 'inbound', 'Are you there?')", (org, lead))
    assert jobs_for(db, org) == [[str(lead)]]
    run_handler(db, db_url, evaluate_recommendations.HANDLER,
                evaluate_recommendations.Payload(lead_ids=[lead]), org_id=org)
    items = [(r["rule_key"], r["action_type"], r["status"], r["assignee_id"]) for r in live(db, org)]
    assert ("unanswered_inbound", "whatsapp", "open", rep) in items
    # an internal note is an event, but answers nobody: the item stays open
    with acting_as(db, rep):
        db.execute("select api.create_activity(%s, 'note', lead_id => %s, body => 'thinking')", (org, lead))
    evaluate(db, org, [lead])
    assert [r["status"] for r in live(db, org) if r["rule_key"] == "unanswered_inbound"] == ["open"]
    with acting_as(db, rep):
        db.execute("select api.create_message(%s, %s, 'whatsapp', 'outbound', 'Yes, here!')", (org, lead))
    evaluate(db, org, [lead])
    done = [r for r in live(db, org) if r["rule_key"] == "unanswered_inbound"]
    assert [(r["status"], r["closed_reason"]) for r in done] == [("done", "condition_cleared")]


def test_rules_fire_on_their_event_and_not_otherwise(db: psycopg.Connection) -> None:
    org, rep, lead = org_with_lead(db)
    keys = lambda: sorted(r["rule_key"] for r in live(db, org) if r["status"] == "open")  # noqa: E731
    evaluate(db, org, [lead])
    assert keys() == ["first_touch"]  # a new lead nobody contacted
    with acting_as(db, rep):
        db.execute("select api.create_activity(%s, 'call', lead_id => %s, direction => 'outbound')", (org, lead))
    evaluate(db, org, [lead])
    assert keys() == []
    with acting_as(db, rep):
        db.execute("select api.create_message(%s, %s, 'email', 'inbound', 'Thanks for the call, all fine')",
                   (org, lead))
    evaluate(db, org, [lead])
    assert keys() == ["unanswered_inbound"]  # no buying words: no buying signal
    with acting_as(db, rep):
        db.execute("select api.create_message(%s, %s, 'email', 'inbound', 'Could you send a quote and the price?')",
                   (org, lead))
    evaluate(db, org, [lead])
    assert keys() == ["buying_signal", "unanswered_inbound"]
    signal = next(r for r in live(db, org) if r["rule_key"] == "buying_signal")
    assert "quote" in signal["reason"] and signal["evidence"][0]["table"] == "messages"
    # a meeting after the signal answers it; fifteen days later the lead has gone quiet
    with acting_as(db, rep):
        db.execute("select api.create_activity(%s, 'meeting', lead_id => %s, direction => 'outbound')", (org, lead))
    evaluate(db, org, [lead])
    assert keys() == []
    evaluate(db, org, [lead], now(db) + timedelta(days=15))
    assert keys() == ["gone_quiet"]
    # a deal past its expected close, and one stalled for three weeks
    with acting_as(db, rep):
        deal = one(db, "select id from api.create_deal(%s, 'Robots', lead_id => %s, expected_close => %s)",
                   (org, lead, (now(db) - timedelta(days=2)).date()))
    evaluate(db, org, [lead])
    assert "close_out" in keys() and "stalled_deal" not in keys()
    evaluate(db, org, [lead], now(db) + timedelta(days=22))
    stalled = [r for r in live(db, org) if r["rule_key"] == "stalled_deal"]
    assert [(r["deal_id"], r["reason_key"]) for r in stalled] == [(deal, f"stalled_deal:{deal}")]


def test_a_withheld_ai_answer_about_a_lead_raises_a_compliance_alert(db: psycopg.Connection) -> None:
    org, rep, lead = org_with_lead(db)
    with acting_as(db, rep):
        db.execute("select api.create_activity(%s, 'call', lead_id => %s, direction => 'outbound')", (org, lead))
    db.execute("delete from salesflow.jobs")
    request = one(db, "select salesflow.settle_request(null, %s, 'chat', 'llama.cpp', 'SmolLM2-135M-Instruct', "
                      "now(), 'ok', subject_id => %s)", (org, str(lead)))
    log = ("insert into salesflow.compliance_log (org_id, request_id, task, purpose, passed, rules_version, "
           "text_sha256, action) values (%s, %s, 'chat', 'chat', %s, 'v1', repeat('0', 64), %s)")
    db.execute(log, (org, request, True, "delivered"))
    db.commit()
    assert jobs_for(db, org) == []  # a delivered answer is no event for the lead
    evaluate(db, org, [lead])
    assert [r["rule_key"] for r in live(db, org) if r["status"] == "open"] == []
    db.execute(log, (org, request, False, "withheld"))
    db.commit()
    assert jobs_for(db, org) == [[str(lead)]]
    evaluate(db, org, [lead])
    alert = [r for r in live(db, org) if r["status"] == "open"]
    assert [(r["rule_key"], r["action_type"]) for r in alert] == [("compliance_alert", "review_compliance")]
    assert alert[0]["evidence"][0]["table"] == "compliance_log"
    # a week later it is no longer news
    evaluate(db, org, [lead], now(db) + timedelta(days=8))
    assert [r["status"] for r in live(db, org) if r["rule_key"] == "compliance_alert"] == ["done"]


def test_a_disabled_rule_in_an_override_fires_no_more_but_the_shipped_one_does_elsewhere(
    db: psycopg.Connection
) -> None:
    org, rep, lead = org_with_lead(db)
    other, _, other_lead = org_with_lead(db)
    owner = one(db, "select user_id from salesflow.org_members where org_id = %s and role = 'owner'", (org,))
    with acting_as(db, owner):
        row = db.execute("select * from api.update_recommendation_rule(%s, 'first_touch', '{\"enabled\": false}')",
                         (org,)).fetchone()
        assert row[:3] == ("first_touch", 2, False)
    db.commit()
    with pytest.raises(psycopg.errors.InsufficientPrivilege), acting_as(db, rep):
        db.execute("select * from api.update_recommendation_rule(%s, 'gone_quiet', '{\"base_priority\": 1}')", (org,))
    db.rollback()
    evaluate(db, org, [lead])
    evaluate(db, other, [other_lead])
    assert [(r["rule_key"], r["rule_version"]) for r in live(db, org)] == []
    assert [r["rule_version"] for r in live(db, other)] == [1]


def test_concurrent_evaluations_open_one_item(db: psycopg.Connection, db_url: str) -> None:
    org, _, lead = org_with_lead(db)
    first = psycopg.connect(db_url)
    second = psycopg.connect(db_url, autocommit=True)
    results: list[int] = []
    try:
        # not committed yet
        assert one(first, "select salesflow.evaluate_recommendations(%s, %s)", (org, [lead])) == 1
        worker = threading.Thread(target=lambda: results.append(
            one(second, "select salesflow.evaluate_recommendations(%s, %s)", (org, [lead]))))
        worker.start()
        worker.join(0.5)
        assert worker.is_alive()  # waits on the live-key index for the first transaction
        first.commit()
        worker.join(10)
        assert results == [0]
    finally:
        first.close()
        second.close()
    assert len(live(db, org)) == 1
    # and twenty at once, each in its own connection, still one
    threads = [threading.Thread(target=lambda: psycopg.connect(db_url, autocommit=True).execute(
        "select salesflow.evaluate_recommendations(%s, %s, now() + interval '15 days')", (org, [lead])))
        for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    db.rollback()
    assert sorted(r["rule_key"] for r in live(db, org)) == ["first_touch", "gone_quiet"]


def ranked(db: psycopg.Connection, org: uuid.UUID, rep: uuid.UUID, at: datetime) -> list[tuple[str, float]]:
    with acting_as(db, rep):
        rows = db.execute("select reason, priority from api.recommend_followup_actions(%s, as_of => %s)",
                          (org, at)).fetchall()
    return [(reason, round(p, 2)) for reason, p in rows]


def test_priority_decays_at_read_and_items_expire_without_being_deleted(db: psycopg.Connection) -> None:
    org, rep, lead = org_with_lead(db)
    with acting_as(db, rep):
        db.execute("select api.create_ai_recommendation(%s, %s, 'call', 'Fast', base_priority => 80, "
                   "half_life => '1 day', expires_in => '10 days')", (org, lead))
        db.execute("select api.create_ai_recommendation(%s, %s, 'email', 'Slow', base_priority => 60, "
                   "half_life => '4 days', expires_in => '10 days')", (org, lead))
        # the same reason again returns the live one
        db.execute("select api.create_ai_recommendation(%s, %s, 'email', ' slow ', base_priority => 10)", (org, lead))
    t0 = one(db, "select min(offered_at) from salesflow.ai_recommendations where org_id = %s", (org,))
    assert ranked(db, org, rep, t0) == [("Fast", 80.0), ("Slow", 60.0)]
    assert ranked(db, org, rep, t0 + timedelta(days=1)) == [("Slow", pytest.approx(50.45, abs=0.01)), ("Fast", 40.0)]
    assert ranked(db, org, rep, t0 + timedelta(days=4)) == [("Slow", 30.0), ("Fast", 5.0)]
    assert one(db, "select count(*) from salesflow.ai_recommendations where org_id = %s", (org,)) == 2
    # past expires_at it is gone from the list at once, and the sweep marks it expired
    assert ranked(db, org, rep, t0 + timedelta(days=11)) == []
    result = one(db, "select salesflow.sweep_recommendations(%s)", (t0 + timedelta(days=11),))
    assert result["expired"] == 2
    assert [r["status"] for r in live(db, org)] == ["expired", "expired"]


def react(db: psycopg.Connection, user: uuid.UUID, org: uuid.UUID, rec: uuid.UUID, reaction: str,
          at: datetime, **extra: Any) -> dict[str, Any]:
    with acting_as(db, user):
        named = "".join(f", {k} => %({k})s" for k in extra)
        return db.cursor(row_factory=dict_row).execute(
            f"select * from api.react_to_recommendation(%(org)s, %(rec)s, %(reaction)s, as_of => %(at)s{named})",
            {"org": org, "rec": rec, "reaction": reaction, "at": at, **extra}).fetchone()


def test_snoozed_items_come_back_when_due(db: psycopg.Connection) -> None:
    org, rep, lead = org_with_lead(db)
    evaluate(db, org, [lead])
    rec = live(db, org)[0]
    t0 = rec["created_at"]
    react(db, rep, org, rec["id"], "snoozed", t0, snooze_until=t0 + timedelta(days=1), note="after the fair")
    assert ranked(db, org, rep, t0 + timedelta(hours=2)) == []
    # while snoozed, re-evaluating opens no twin
    evaluate(db, org, [lead], t0 + timedelta(hours=3))
    assert len(live(db, org)) == 1
    assert one(db, "select salesflow.sweep_recommendations(%s)", (t0 + timedelta(hours=12),))["woken"] == 0
    assert one(db, "select salesflow.sweep_recommendations(%s)", (t0 + timedelta(days=1, minutes=1),))["woken"] == 1
    back = ranked(db, org, rep, t0 + timedelta(days=1, minutes=1))
    assert len(back) == 1 and back[0][1] == pytest.approx(70, abs=0.1)  # decay restarts when it comes back
    notes = db.execute("select reaction::text, note from salesflow.recommendation_reactions where org_id = %s",
                       (org,)).fetchall()
    assert notes == [("snoozed", "after the fair")]


def test_the_re_offer_limit_stops_a_rule_after_n_dismissals_within_its_window(db: psycopg.Connection) -> None:
    org, rep, lead = org_with_lead(db)
    t0 = now(db) + timedelta(days=15)  # the lead has gone quiet by then
    gone_quiet = lambda: [r for r in live(db, org) if r["rule_key"] == "gone_quiet"]  # noqa: E731

    def open_items(at: datetime) -> list[dict[str, Any]]:
        evaluate(db, org, [lead], at)
        return [r for r in gone_quiet() if r["status"] == "open"]

    first = open_items(t0)
    assert len(first) == 1
    react(db, rep, org, first[0]["id"], "dismissed", t0, note="on holiday")
    assert open_items(t0 + timedelta(days=1)) == []  # within reoffer_after (3 days)
    second = open_items(t0 + timedelta(days=4))
    assert len(second) == 1
    react(db, rep, org, second[0]["id"], "dismissed", t0 + timedelta(days=4))
    assert open_items(t0 + timedelta(days=8)) == []  # two dismissals within 30 days: the limit
    assert open_items(t0 + timedelta(days=20)) == []
    assert len(open_items(t0 + timedelta(days=35))) == 1  # the first dismissal left the window


def test_reactions_feed_acceptance_figures_and_learned_priorities(db: psycopg.Connection) -> None:
    org, rep, lead = org_with_lead(db)
    _, _, lead2 = org_with_lead(db)  # another org's lead: not evaluated for this org
    with acting_as(db, rep):
        lead2 = one(db, "select id from api.create_lead(%s, first_name => 'Bob')", (org,))
        lead3 = one(db, "select id from api.create_lead(%s, first_name => 'Cy')", (org,))
    evaluate(db, org, [lead, lead2, lead3])
    recs = {r["lead_id"]: r for r in live(db, org)}
    at = now(db)
    react(db, rep, org, recs[lead]["id"], "accepted", at)
    react(db, rep, org, recs[lead]["id"], "done", at)
    react(db, rep, org, recs[lead2]["id"], "dismissed", at)
    with acting_as(db, rep):
        rows = db.cursor(row_factory=dict_row).execute(
            "select * from api.get_recommendation_acceptance(%s)", (org,)).fetchall()
        priorities = db.cursor(row_factory=dict_row).execute(
            "select * from api.get_rule_priorities(%s) where rule_key = 'first_touch'", (org,)).fetchall()
    overall = rows[0]
    assert overall["rule_key"] is None and overall["offered"] == 3
    assert (overall["done"], overall["dismissed"], overall["pending"]) == (1, 1, 1)
    assert overall["acceptance_rate"] == pytest.approx(0.5)
    # Beta(2, 2) + 1 success (the accept; done after it is not counted twice) + 1 failure = 3/6
    assert [(p["successes"], p["failures"], round(p["posterior_mean"], 3)) for p in priorities] == [(1, 1, 0.5)]
    for _ in range(3):  # three more dismissals of first_touch in this segment lower its priority
        with acting_as(db, rep):
            extra = one(db, "select id from api.create_lead(%s, first_name => 'Dee')", (org,))
        evaluate(db, org, [extra])
        rec = next(r for r in live(db, org) if r["lead_id"] == extra)
        react(db, rep, org, rec["id"], "dismissed", at)
    with acting_as(db, rep):
        late = one(db, "select id from api.create_lead(%s, first_name => 'Eve')", (org,))
    evaluate(db, org, [late])
    new = next(r for r in live(db, org) if r["lead_id"] == late)
    assert new["base_priority"] == pytest.approx(70 * (0.5 + 3 / 9), abs=0.01)


def test_reactions_refuse_what_the_state_machine_does_not_allow(db: psycopg.Connection) -> None:
    org, rep, lead = org_with_lead(db)
    evaluate(db, org, [lead])
    rec = live(db, org)[0]
    at = now(db)
    for reaction, extra, state in (("snoozed", {}, "22023"), ("reopened", {}, "22023"),
                                   ("accepted", {"snooze_until": at}, "22023")):
        with pytest.raises(psycopg.Error) as err:
            react(db, rep, org, rec["id"], reaction, at, **extra)
        assert err.value.sqlstate == state
        db.rollback()
    react(db, rep, org, rec["id"], "done", at)
    with pytest.raises(psycopg.Error) as err:
        react(db, rep, org, rec["id"], "dismissed", at)
    assert err.value.sqlstate == "22023" and "cannot be dismissed" in str(err.value)
    db.rollback()
    with pytest.raises(psycopg.Error) as err:
        react(db, rep, org, uuid.uuid4(), "done", at)
    assert err.value.sqlstate == "PT404"


def test_an_accepted_ai_suggestion_lands_as_recommendations(db: psycopg.Connection) -> None:
    org, rep, lead = org_with_lead(db)
    request = one(db, "select salesflow.settle_request(null, %s, 'classify', 'llama.cpp', 'SmolLM2-135M-Instruct', "
                      "now(), 'ok')", (org,))
    content = {"actions": [
        {"action": "call", "reason": "She asked for a callback.", "due_in_days": 1, "priority": "high"},
        {"action": "wait", "reason": "Give it a week.", "due_in_days": 7, "priority": "low"},
        {"action": "disqualify", "reason": "No budget.", "due_in_days": 0, "priority": "low"},
    ]}
    suggestion = one(db, "insert into salesflow.ai_suggestions (org_id, lead_id, kind, content, request_id, "
                         "offline_model) values (%s, %s, 'next_actions', %s, %s, true) returning id",
                     (org, lead, json.dumps(content), request))
    db.commit()
    assert [r for r in live(db, org) if r["source"] == "ai_suggestion"] == []
    with acting_as(db, rep):
        db.execute("select api.review_ai_suggestion(%s, %s, 'accepted')", (org, suggestion))
    got = [(r["action_type"], r["base_priority"], r["assignee_id"], r["suggestion_id"]) for r in live(db, org)
           if r["source"] == "ai_suggestion"]
    assert got == [("call", 80, rep, suggestion), ("close_out", 30, rep, suggestion)]
    assert all("offline model" in r["reason"] for r in live(db, org) if r["source"] == "ai_suggestion")


def test_lift_compares_acted_and_not_acted_items_of_the_same_rule_and_stratum(db: psycopg.Connection) -> None:
    org, rep, _ = org_with_lead(db)
    with acting_as(db, rep):
        leads = [one(db, "select id from api.create_lead(%s, first_name => %s)", (org, f"L{i}")) for i in range(4)]
    evaluate(db, org, leads)
    recs = {r["lead_id"]: r for r in live(db, org)}
    at = now(db)
    for i, lead in enumerate(leads):
        react(db, rep, org, recs[lead]["id"], "done" if i < 2 else "dismissed", at)
    # two acted-on leads: one advances; two not acted on: none advances
    with acting_as(db, rep):
        db.execute("select api.update_lead(%s, %s, '{\"lifecycle_stage\": \"mql\"}')", (org, leads[0]))
    with acting_as(db, rep):
        row = db.cursor(row_factory=dict_row).execute(
            "select * from api.get_recommendation_lift(%s, '1 day', %s)", (org, at + timedelta(days=2))).fetchone()
    assert (row["rule_key"], row["acted"], row["acted_advanced"], row["not_acted"], row["not_acted_advanced"]) == (
        "first_touch", 2, 1, 2, 0)
    assert row["acted_rate"] == pytest.approx(0.5) and row["control_rate"] == 0


def test_suggestions_route_and_a_real_worker(db: psycopg.Connection, db_url: str, tmp_path: Path) -> None:
    org, rep, lead = org_with_lead(db)
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen([sys.executable, "-m", "salesflow", "worker", "--no-migrate", "--poll-interval",
                                   "0.3", "--lease", "60"], env={**os.environ, "DATABASE_URL": db_url}, cwd=ROOT,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        with run_api(db_url) as api:
            headers = {"Authorization": f"Bearer {make_token(rep)}"}
            r = httpx.post(f"{api.url}/rest/v1/rpc/create_message", headers=headers, json={
                "org_id": str(org), "lead_id": str(lead), "channel": "email", "direction": "inbound",
                "body": "What does the enterprise plan cost? Please send a quote."})
            assert r.status_code == 200, r.text
            deadline = time.monotonic() + 60
            while True:
                got = httpx.get(f"{api.url}/api/leads/{lead}/suggestions", params={"org_id": str(org)},
                                headers=headers).json()
                if {g["rule_key"] for g in got} >= {"buying_signal", "unanswered_inbound"}:
                    break
                assert worker.poll() is None, log.read_text()
                assert time.monotonic() < deadline, (got, log.read_text())
                time.sleep(0.3)
            assert got[0]["rule_key"] == "buying_signal" and got[0]["priority"] > got[1]["priority"]
            stranger = {"Authorization": f"Bearer {make_token(uuid.uuid4())}"}
            assert httpx.get(f"{api.url}/api/leads/{lead}/suggestions", params={"org_id": str(org)},
                             headers=stranger).json() == []
            bad = httpx.get(f"{api.url}/api/leads/nope/suggestions", params={"org_id": str(org)}, headers=headers)
            assert bad.status_code == 400 and bad.json()["code"] == "22P02"
            assert httpx.get(f"{api.url}/api/leads/{lead}/suggestions", headers=headers).status_code == 400
            assert httpx.get(f"{api.url}/api/leads/{lead}/suggestions",
                             params={"org_id": str(org)}).status_code == 401
    finally:
        worker.terminate()
        worker.wait(10)
