"""Monitoring the active scoring model as outcomes arrive: live AUC and calibration, planted drift.

Scores are planted in lead_score_history as the active model would have made them before each
outcome became known; the scheduled job's handler runs as the worker runs it.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from salesflow.functions.handlers import monitor_scoring_models
from tests.conftest import acting_as, run_handler


def plant(db: psycopg.Connection, owner: uuid.UUID, name: str, swapped: bool) -> tuple[uuid.UUID, uuid.UUID]:
    """An org whose active model scored 60 leads 10 days before their outcome (5 days ago).

    30 leads scored 0.8 (24 converted) and 30 scored 0.2 (6 converted): calibrated, AUC 0.8 with ties.
    `swapped` plants drift: the same outcomes, the two scores exchanged (AUC 0.2, far off calibration).
    """
    with acting_as(db, owner):
        org = db.execute("select id from api.create_organization(%s)", (name,)).fetchone()[0]
    model = db.execute(
        "insert into salesflow.ai_models (org_id, version, status, learner, cutoff, intercept, metrics, activated_at) "
        "values (%s, 1, 'active', 'planted', now() - interval '30 days', 0, "
        "'{\"roc_auc\": 0.8, \"calibration_error\": 0.0}', now() - interval '20 days') returning id",
        (org,)).fetchone()[0]
    for i in range(60):
        high = i < 30
        converted = (i < 24) or (30 <= i < 36)
        p = (0.8 if high else 0.2) if not swapped else (0.2 if high else 0.8)
        lead = db.execute("insert into salesflow.leads (org_id, first_name) values (%s, %s) returning id",
                          (org, f"L{i}")).fetchone()[0]
        db.execute("insert into salesflow.lead_score_history (org_id, lead_id, model_id, probability, score, "
                   "scored_at) values (%s, %s, %s, %s, %s, now() - interval '10 days')",
                   (org, lead, model, p, round(p * 100)))
        db.execute("insert into salesflow.lead_outcomes (org_id, lead_id, converted, decided_at) "
                   "values (%s, %s, %s, now() - interval '5 days')", (org, lead, converted))
    return org, model


def run_monitor(db: psycopg.Connection, url: str) -> None:
    run_handler(db, url, monitor_scoring_models.HANDLER, monitor_scoring_models.Payload())


def test_planted_drift_raises_one_alert_and_queues_retraining(db, db_url) -> None:
    db.autocommit = True
    owner = uuid.uuid4()
    steady, steady_model = plant(db, owner, "Steady GmbH", swapped=False)
    drifting, drifting_model = plant(db, owner, "Drift GmbH", swapped=True)
    run_monitor(db, db_url)
    run_monitor(db, db_url)  # the hourly job again: no second alert, no second training job

    with acting_as(db, owner):
        calm = db.execute("select api.get_model_monitoring(%s)", (steady,)).fetchone()[0]
        drift = db.execute("select api.get_model_monitoring(%s)", (drifting,)).fetchone()[0]
    assert calm["live"]["leads"] == 60 and calm["live"]["conversions"] == 30
    assert calm["live"]["roc_auc"] == pytest.approx(0.8) and calm["live"]["calibration_error"] == pytest.approx(0)
    assert calm["alerts"] == [] and calm["needs_retraining"] is False
    assert drift["live"]["roc_auc"] == pytest.approx(0.2)
    # bins 0.2 and 0.8 each hold 30 leads, observed 0.8 and 0.2: |0.2 - 0.8| everywhere
    assert drift["live"]["calibration_error"] == pytest.approx(0.6)
    assert sorted(a["alert"] for a in drift["alerts"]) == ["auc_drop", "calibration_drift"]
    assert drift["needs_retraining"] is True
    jobs = db.execute("select org_id from salesflow.jobs where kind = 'train_scoring_model'").fetchall()
    assert jobs == [(drifting,)]
    alert = next(a for a in drift["alerts"] if a["alert"] == "auc_drop")
    assert alert["details"]["holdout_roc_auc"] == 0.8 and alert["details"]["threshold"] == 0.05
    assert alert["model_id"] == str(drifting_model) and steady_model != drifting_model


def test_scores_made_after_the_outcome_and_too_few_leads_are_not_judged(db, db_url) -> None:
    db.autocommit = True
    owner = uuid.uuid4()
    org, model = plant(db, owner, "Late GmbH", swapped=True)
    # the same leads scored again after their outcomes, perfectly: those scores must not count
    db.execute("insert into salesflow.lead_score_history (org_id, lead_id, model_id, probability, score, scored_at) "
               "select o.org_id, o.lead_id, %s, case when o.converted then 0.99 else 0.01 end, 0, now() "
               "from salesflow.lead_outcomes as o where o.org_id = %s", (model, org))
    live = db.execute("select salesflow.model_live_metrics(%s, %s)", (org, model)).fetchone()[0]
    assert live["roc_auc"] == pytest.approx(0.2)
    # below 50 judged leads nothing is decided, however bad the figures
    db.execute("delete from salesflow.leads where org_id = %s and id in (select lead_id from salesflow.lead_outcomes "
               "where org_id = %s limit 15)", (org, org))
    run_monitor(db, db_url)
    assert db.execute("select count(*) from salesflow.model_alerts where org_id = %s", (org,)).fetchone()[0] == 0
    assert db.execute("select needs_retraining from salesflow.ai_models where id = %s", (model,)).fetchone()[0] is False


def test_the_llm_catalogue_is_in_the_registry_with_kind_llm(db) -> None:
    db.autocommit = True
    owner, outsider = uuid.uuid4(), uuid.uuid4()
    org, _ = plant(db, owner, "Registry GmbH", swapped=False)
    # a new price for a provider's model takes effect: the old row is a retired version
    db.execute("insert into salesflow.llm_models (provider, model, effective_from, context_window, "
               "input_price_per_mtok, output_price_per_mtok) values "
               "('openai', 'gpt-test', current_date - 30, 128000, 2.5, 10), "
               "('openai', 'gpt-test', current_date - 1, 128000, 2.0, 8), "
               "('openai', 'gpt-test', current_date + 30, 128000, 1.0, 4)")  # not yet in force
    with acting_as(db, owner):
        registry = db.execute("select api.list_ai_models(%s)", (org,)).fetchone()[0]
    assert [m["kind"] for m in registry["scoring"]] == ["scoring"]
    llms = {(m["name"], m["version"]): m for m in registry["llm"]}
    assert all(m["kind"] == "llm" for m in registry["llm"])
    smol = next(m for (name, _), m in llms.items() if name == "llama.cpp/SmolLM2-135M-Instruct")
    assert smol["status"] == "active" and smol["offline"] is True and smol["context_window"] == 8192
    versions = sorted((m["version"], m["status"], m["input_price_per_mtok"]) for (name, _), m in llms.items()
                      if name == "openai/gpt-test")
    assert [(s, p) for _, s, p in versions] == [("retired", 2.5), ("active", 2.0)]
    with acting_as(db, outsider):
        assert db.execute("select api.list_ai_models(%s)", (org,)).fetchone()[0] is None
