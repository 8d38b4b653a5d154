"""The conversion model: trained in Python, scored in SQL, explained exactly; real PostgreSQL and a real worker."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg.types.json import Jsonb

from salesflow.functions import scoring_model as sm
from salesflow.functions.scoring import fetch_features, in_holdout, train_org_async
from tests.conftest import acting_as, authenticate_as

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_org(db: psycopg.Connection, *, min_leads: int = 200, min_conversions: int = 20) -> tuple[uuid.UUID, uuid.UUID]:
    db.autocommit = True
    owner = uuid.uuid4()
    with acting_as(db, owner):
        org = db.execute("select id from api.create_organization('Acme')").fetchone()[0]
    db.execute("update salesflow.organizations set settings = %s where id = %s",
               (Jsonb({"scoring": {"min_leads": min_leads, "min_conversions": min_conversions}}), org))
    return org, owner


def synthetic_rows(n: int, seed: int, open_share: float = 0.3) -> list[dict[str, str]]:
    """Leads whose conversion depends on an age band, a segment, a flag and a number, plus noise."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        age = rng.randint(18, 80)
        segment = rng.choice(["smb", "mid", "enterprise", "public"])
        vip = rng.random() < 0.3
        spend = rng.expovariate(1 / 500) if rng.random() > 0.1 else None
        logit = -2.2 + 0.9 * vip + {"smb": -0.4, "mid": 0.2, "enterprise": 0.9, "public": 0}[segment] \
            + (0.02 * (age - 45)) + (0.0008 * spend if spend is not None else -0.3)
        converted = rng.random() < 1 / (1 + np.exp(-logit))
        rows.append({"email": f"lead{seed}-{i}@example.com", "age": str(age), "segment": segment,
                     "vip": "yes" if vip else "no", "spend": "" if spend is None else f"{spend:.2f}",
                     "gender": rng.choice(["f", "m"]),
                     "converted": "" if rng.random() < open_share else ("yes" if converted else "no")})
    return rows


def load(db: psycopg.Connection, org: uuid.UUID, owner: uuid.UUID, rows: list[dict[str, str]]) -> None:
    with acting_as(db, owner):
        db.execute("select api.import_leads(%s, %s, outcome_column => 'converted')", (org, Jsonb(rows)))


def train(url: str, org: uuid.UUID, **kw: Any) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await train_org_async(conn, org, **kw)
    return asyncio.run(go())


def features(url: str, org: uuid.UUID, leads: list[uuid.UUID], as_of: list[datetime]) -> dict:
    async def go() -> dict:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return await fetch_features(conn, org, leads, as_of)
    return asyncio.run(go())


def test_sql_scores_equal_the_library_and_contributions_sum_to_the_log_odds(db: psycopg.Connection,
                                                                            db_url: str) -> None:
    org, owner = make_org(db)
    load(db, org, owner, synthetic_rows(1500, seed=1))
    result = train(db_url, org, keep_model=True)
    assert result["trained"] and result["activated"], result
    trained: sm.Trained = result["model"]
    leads = [r[0] for r in db.execute(
        "select lead_id from salesflow.lead_scores where org_id = %s order by lead_id limit 1000", (org,))]
    assert len(leads) == 1000
    scored = dict(db.execute("select lead_id, probability from salesflow.lead_scores where org_id = %s "
                             "and lead_id = any(%s)", (org, leads)).fetchall())
    at = db.execute("select max(scored_at) from salesflow.lead_scores where org_id = %s", (org,)).fetchone()[0]
    cols = features(db_url, org, leads, [at] * len(leads))
    expected = trained.predict_proba(sm.encode(result["specs"], cols, len(leads)))
    got = np.array([scored[x] for x in leads])
    assert np.max(np.abs(got - expected)) < 1e-9
    assert got.std() > 0.05  # the model discriminates; a constant would also "match"
    # the explanation's factors add up to the log-odds, exactly
    for lead in leads[:20]:
        with authenticate_as(db, owner):
            e = db.execute("select api.explain_lead_score(%s, %s, 'de')", (org, lead)).fetchone()[0]
        total = e["baseline"] + sum(f["contribution"] for f in e["factors"])
        assert abs(total - e["log_odds"]) < 1e-9
        assert abs(1 / (1 + np.exp(-total)) - e["probability"]) < 1e-9
    assert {f["label"] for f in e["factors"]} & {"age", "segment", "vip", "spend"}


def test_score_changes_inside_the_transaction_and_a_rollback_changes_nothing(db: psycopg.Connection,
                                                                              db_url: str) -> None:
    org, owner = make_org(db)
    load(db, org, owner, synthetic_rows(600, seed=2))
    assert train(db_url, org)["activated"]
    lead = db.execute("select l.id from salesflow.leads as l join salesflow.lead_scores as s on s.lead_id = l.id "
                      "where l.org_id = %s and not (l.attributes ? 'vip' and (l.attributes->>'vip')::boolean) "
                      "order by l.id limit 1", (org,)).fetchone()[0]
    before = db.execute("select probability from salesflow.lead_scores where lead_id = %s", (lead,)).fetchone()[0]
    attrs = db.execute("select attributes from salesflow.leads where id = %s", (lead,)).fetchone()[0]
    with authenticate_as(db, owner) as conn:
        conn.execute("select api.update_lead(%s, %s, %s)", (org, lead, Jsonb({"attributes": attrs | {"vip": True}})))
        inside = conn.execute("select probability, scored_at = now() from salesflow.lead_scores where lead_id = %s",
                              (lead,)).fetchone()
        # re-scored in this transaction, to what the active model makes of the changed lead (a tree
        # model may give the vip flag no weight in this lead's region, so the value itself may stay)
        fresh = conn.execute(
            "select salesflow.sigmoid(s.log_odds) from salesflow.ai_models as m, "
            "salesflow.model_log_odds(m.org_id, m.id, array[%s]::uuid[], array[now()]) as s "
            "where m.org_id = %s and m.name = 'lead_conversion' and m.status = 'active'", (lead, org)).fetchone()[0]
        assert inside[1] and inside[0] == pytest.approx(fresh, abs=1e-12), (inside, fresh)
    after = db.execute("select probability from salesflow.lead_scores where lead_id = %s", (lead,)).fetchone()[0]
    assert after == before


def test_point_in_time_features_ignore_what_is_dated_after_the_cut_off(db: psycopg.Connection, db_url: str) -> None:
    org, owner = make_org(db)
    with acting_as(db, owner):
        lead = db.execute("select id from api.create_lead(%s, email => 'p@example.com')", (org,)).fetchone()[0]
        for days in (5, 40, 400):
            db.execute("select api.create_activity(%s, 'call', lead_id => %s, direction => 'outbound', "
                       "occurred_at => %s)", (org, lead, T0 + timedelta(days=days)))
    early = features(db_url, org, [lead], [T0 + timedelta(days=45)])
    late = features(db_url, org, [lead], [T0 + timedelta(days=500)])
    assert (early["activity.count_90d"][0], late["activity.count_90d"][0]) == ([2.0], [0.0])
    assert (early["activity.days_since_last"][0], late["activity.days_since_last"][0]) == ([5.0], [100.0])


def test_below_the_minimum_data_the_prior_scores_and_says_so(db: psycopg.Connection, db_url: str) -> None:
    org, owner = make_org(db, min_leads=1000, min_conversions=120)
    load(db, org, owner, synthetic_rows(300, seed=3))
    result = train(db_url, org)
    assert not result["trained"] and "not enough data" in result["reason"]
    decided, converted = db.execute("select count(*) filter (where status <> 'open'), "
                                    "count(*) filter (where status = 'converted') from salesflow.lead_conversions "
                                    "where org_id = %s", (org,)).fetchone()
    lead = db.execute("select id from salesflow.leads where org_id = %s limit 1", (org,)).fetchone()[0]
    with authenticate_as(db, owner):
        e = db.execute("select api.explain_lead_score(%s, %s)", (org, lead)).fetchone()[0]
    assert e["model_id"] is None and "base rate" in e["explanation"]
    assert abs(e["probability"] - (converted + 2) / (decided + 20)) < 1e-12


def test_champion_challenger_refuses_a_worse_model_and_rollback_restores(db: psycopg.Connection, db_url: str) -> None:
    org, owner = make_org(db)
    load(db, org, owner, synthetic_rows(1200, seed=4))
    first = train(db_url, org)
    assert first["activated"]
    # a worse challenger, for certain: the training leads' outcomes inverted, the hold-out's kept. (Excluding
    # the informative attributes did not make one: the champion is scored on the hold-out without them too,
    # so both models were blind and the lead ids, random per run, decided which noise won.)
    decided = [r[0] for r in db.execute("select lead_id from salesflow.lead_outcomes where org_id = %s",
                                        (org,)).fetchall()]
    training = [lead for lead in decided if not in_holdout(lead)]

    def invert() -> None:
        db.execute("update salesflow.lead_outcomes set converted = not converted "
                   "where org_id = %s and lead_id = any(%s)", (org, training))

    invert()
    second = train(db_url, org)
    assert second["trained"] and not second["activated"] and "<= champion" in second["decision"]
    statuses = dict(db.execute("select version, status from salesflow.ai_models where org_id = %s", (org,)).fetchall())
    assert statuses == {1: "active", 2: "rejected"}
    # forced activation of a third (outcomes restored) over a first left blind, then roll back to the first
    invert()
    db.execute("update salesflow.ai_models set metrics = jsonb_set(metrics, '{roc_auc}', '0.5') "
               "where org_id = %s and version = 1", (org,))
    db.execute("delete from salesflow.scoring_model_features where org_id = %s and model_id = "
               "(select id from salesflow.ai_models where org_id = %s and version = 1) "
               "and feature in ('attr.vip', 'attr.segment', 'attr.spend', 'attr.age')", (org, org))
    third = train(db_url, org)
    assert third["activated"], third
    with acting_as(db, owner):
        back = db.execute("select api.rollback_scoring_model(%s)", (org,)).fetchone()[0]
    assert back["active_model_id"] == first["model_id"] and back["rescored"] > 0
    assert db.execute("select count(*) from salesflow.lead_scores where org_id = %s and model_id <> %s",
                      (org, first["model_id"])).fetchone()[0] == 0


def test_bias_figures_on_a_hand_computed_case() -> None:
    y = np.array([1, 0, 1, 0, 1, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.1, 0.7, 0.2, 0.6, 0.1])
    seg = ["a", "a", "a", "a", "b", "b", "b", "b"]
    r = sm.bias_report(y, p, {"g": seg}, threshold=0.5, max_difference=0.1)["attributes"]["g"]
    a, b = r["segments"]
    # a: predicted positive 0.9, 0.8 -> 2/4; TPR: of (0.9, 0.3) one -> 1/2; b: 0.7, 0.6 -> 2/4; TPR 1/1
    assert (a["positive_rate"], b["positive_rate"]) == (0.5, 0.5)
    assert (a["true_positive_rate"], b["true_positive_rate"]) == (0.5, 1.0)
    assert r["demographic_parity_difference"] == 0.0 and r["equal_opportunity_difference"] == 0.5
    assert r["flagged"]
    assert a["roc_auc"] == 0.75 and b["roc_auc"] == 1.0  # a: pairs (0.9>0.8, 0.9>0.1, 0.3<0.8, 0.3>0.1)


def test_the_train_job_runs_in_a_real_worker(db: psycopg.Connection, db_url: str, tmp_path) -> None:  # noqa: ANN001
    org, owner = make_org(db)
    load(db, org, owner, synthetic_rows(500, seed=5))
    with acting_as(db, owner):
        job = db.execute("select api.train_scoring_model(%s)", (org,)).fetchone()[0]
    log = open(tmp_path / "worker.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "salesflow", "worker", "--no-migrate", "--no-schedules"],
                            env={**os.environ, "DATABASE_URL": db_url}, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline:
            status = db.execute("select status from salesflow.jobs where id = %s", (job,)).fetchone()[0]
            if status in ("completed", "dead"):
                break
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(30)
    assert status == "completed", (tmp_path / "worker.log").read_text()[-2000:]
    assert db.execute("select status from salesflow.ai_models where org_id = %s", (org,)).fetchone()[0] == "active"
    card = db.execute("select salesflow.model_card(%s)", (org,)).fetchone()[0]
    assert card["metrics"]["roc_auc"] > 0.6 and card["bias_report"]["attributes"] == {}


@pytest.mark.parametrize("percent", [10, 50])
def test_flag_rollout_is_close_to_its_percentage(db: psycopg.Connection, percent: int) -> None:
    org, owner = make_org(db)
    with acting_as(db, owner):
        db.execute("select api.set_ai_feature_flag(%s, 'chat', rollout_percent => %s)", (org, percent))
    on = db.execute("select count(*) filter (where salesflow.feature_enabled(%s, 'chat', gen_random_uuid())) "
                    "from generate_series(1, 4000)", (org,)).fetchone()[0]
    assert abs(on / 4000 - percent / 100) < 0.03
    user = uuid.uuid4()
    first = db.execute("select salesflow.feature_enabled(%s, 'chat', %s)", (org, user)).fetchone()[0]
    assert all(db.execute("select salesflow.feature_enabled(%s, 'chat', %s)", (org, user)).fetchone()[0] == first
               for _ in range(3))
