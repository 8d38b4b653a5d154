"""Tenant isolation for every table and every exposed RPC, enumerated from the live catalog.

Tables come from pg_class (schema `salesflow`), RPCs from pg_proc (schema `api`), so a table or RPC
added later is checked without touching this file, and one this file cannot exercise (an RPC
parameter it has no value for, a tenant table with no rows to attack) is a failure, never a skip.

The checks return lists of violations, so the main tests assert `== []` and the loosening tests,
which weaken one policy inside a rolled-back transaction, assert that the same checks now complain.
Every attempt runs as a user in a savepoint (basejump's authenticate_as) and compares a fingerprint
of org A's data, taken as superuser, before the savepoint is rolled back.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from tests.conftest import ApiProcess, acting_as, authenticate_as, make_token

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
# what a refused attempt may fail with: not found, permission denied / RLS, foreign key, bad argument
REFUSALS = {"PT404", "42501", "23503", "22023"}
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ENTITIES = ("company", "lead", "deal", "activity", "message")


# -- the two tenants ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Tenant:
    org_id: uuid.UUID
    owner: uuid.UUID
    rep: uuid.UUID
    rows: dict[str, Any]  # company, lead, deal, activity, message ids; address and external_id


@dataclass(frozen=True)
class World:
    a: Tenant
    b: Tenant
    newcomer: uuid.UUID  # a user in no organisation, whom add_org_member may add


@dataclass(frozen=True)
class Actor:
    label: str
    user_id: uuid.UUID | None
    role: str = "authenticated"


def one(conn: psycopg.Connection, query: str | sql.Composable, params: Any = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


# Tables no RPC writes to (the queue's, the AI gateway's): seeded for org A directly, as the worker's
# owner would.
SEEDS = {
    "salesflow.jobs": "insert into salesflow.jobs (kind, org_id) values ('isolation_probe', %(org)s)",
    "salesflow.job_schedules": (
        "insert into salesflow.job_schedules (name, org_id, kind, every, next_run_at) "
        "values ('isolation_probe', %(org)s, 'isolation_probe', '1 hour', now() + interval '1 hour')"
    ),
    # a vector for A's message, as the embed_texts job would store it
    "salesflow.embeddings": (
        "insert into salesflow.embeddings (org_id, source, source_id, model, dimension, lead_id, channel, "
        "occurred_at, content, content_hash, embedding) "
        "select m.org_id, 'message', m.id, 'all-MiniLM-L6-v2', 384, m.lead_id, m.channel, m.sent_at, m.body, "
        "md5(m.body), array_fill(0.05, array[384])::real[]::extensions.vector "
        "from salesflow.messages as m where m.org_id = %(org)s"
    ),
    # a fact citing A's message, as api.record_memory_fact stores it
    "salesflow.memory_facts": (
        "insert into salesflow.memory_facts (org_id, lead_id, category, fact_key, fact, message_id, quote, "
        "confidence, valid_from) select m.org_id, m.lead_id, 'other', 'greeting', 'They said hello.', m.id, "
        "m.body, 1, m.sent_at from salesflow.messages as m where m.org_id = %(org)s"
    ),
    # one logged LLM call by the owner (settle_request also writes its llm_usage_daily rollup)
    "salesflow.llm_requests": (
        "select salesflow.settle_request(null, %(org)s, 'isolation_probe', 'llama.cpp', 'SmolLM2-135M-Instruct', "
        "now(), 'ok', user_id => (select m.user_id from salesflow.org_members as m "
        "where m.org_id = %(org)s and m.role = 'owner'), prompt_name => 'followup_email', prompt_version => 1)"
    ),
    "salesflow.llm_budgets": (
        "insert into salesflow.llm_budgets (org_id, scope, period, soft_limit, hard_limit) "
        "values (%(org)s, 'org', 'month', 0, 100)"
    ),
    # an open reservation; over the soft limit of 0, so it also writes an llm_budget_alerts row
    "salesflow.llm_budget_reservations": "select salesflow.reserve_budget(%(org)s, null, 'isolation_probe', 0.01)",
    "salesflow.llm_feedback": (
        "insert into salesflow.llm_feedback (org_id, request_id, rating, outcome) "
        "select r.org_id, r.id, 1, 'accepted' from salesflow.llm_requests as r where r.org_id = %(org)s"
    ),
    # creates the prompt too
    "salesflow.prompt_versions": (
        "select salesflow.create_prompt_version(%(org)s, 'followup_email', 'Hello {{lead_name}}', "
        "'{\"lead_name\": \"string\"}')"
    ),
    "salesflow.prompt_labels": (
        "select salesflow.set_prompt_label(%(org)s, 'followup_email', l, 1) "
        "from unnest('{production,candidate}'::text[]) as l"
    ),
    # a test case, a run of version 1 and its one result (the label seed above logged the moves)
    "salesflow.prompt_test_cases": (
        "select salesflow.save_prompt_test_case(%(org)s, 'followup_email', 'probe', '', '{}', "
        "'{\"schema_valid\": true}', 'custom', null)"
    ),
    "salesflow.prompt_test_runs": "select salesflow.create_prompt_test_run(%(org)s, 'followup_email', 1, null)",
    "salesflow.prompt_test_results": (
        "insert into salesflow.prompt_test_results (org_id, run_id, case_name, passed, checks) "
        "select r.org_id, r.id, 'probe', true, '[]' from salesflow.prompt_test_runs as r where r.org_id = %(org)s"
    ),
    "salesflow.prompt_experiments": (
        "select salesflow.start_prompt_experiment(%(org)s, 'followup_email', '{\"production\": 1, \"candidate\": 1}')"
    ),
    # the owner's chat about A's lead, with one turn each way, and the verdict on the answer
    "salesflow.conversations": (
        "insert into salesflow.conversations (org_id, user_id, lead_id, title) "
        "select %(org)s, m.user_id, (select l.id from salesflow.leads as l where l.org_id = %(org)s limit 1), 'Ada' "
        "from salesflow.org_members as m where m.org_id = %(org)s and m.role = 'owner'"
    ),
    "salesflow.conversation_turns": (
        "insert into salesflow.conversation_turns (org_id, conversation_id, role, content) "
        "select c.org_id, c.id, r.role::salesflow.chat_role, r.content from salesflow.conversations as c "
        "cross join (values ('user', 'How do I reach Ada?'), ('assistant', 'Call her on Tuesday.')) "
        "as r (role, content) "
        "where c.org_id = %(org)s"
    ),
    # a pending suggestion about A's lead from A's logged call
    "salesflow.ai_suggestions": (
        "insert into salesflow.ai_suggestions (org_id, lead_id, kind, content, request_id) "
        "select %(org)s, (select l.id from salesflow.leads as l where l.org_id = %(org)s limit 1), 'next_actions', "
        "'{\"actions\": []}', (select min(r.id) from salesflow.llm_requests as r where r.org_id = %(org)s)"
    ),
    # a reply draft about A's lead from A's logged call, a variant picked, so that every draft RPC has one
    "salesflow.ai_drafts": (
        "insert into salesflow.ai_drafts (org_id, lead_id, kind, language, content, body, request_id, prompt_name, "
        "prompt_version, picked_variant) "
        "select %(org)s, (select l.id from salesflow.leads as l where l.org_id = %(org)s limit 1), 'reply', 'en', "
        "'{\"variants\": [{\"label\": \"direct\", \"text\": \"Yes, Tuesday works.\"}]}', 'Yes, Tuesday works.', "
        "(select min(r.id) from salesflow.llm_requests as r where r.org_id = %(org)s), 'reply_suggestions.en', 1, 0"
    ),
    # listening (issue 14): A's call has a transcript with speakers, a competitor on the list, and an
    # analysis with a proposed action item, so every listening RPC has something to leak
    "salesflow.call_transcripts": (
        "insert into salesflow.call_transcripts (org_id, activity_id, status, source, transcript, segments, "
        "speakers_marked) select %(org)s, a.id, 'done', 'manual', 'rep: Hello', "
        "'[{\"start\": 0, \"end\": 2, \"speaker\": \"rep\", \"text\": \"Hello\"}]', true "
        "from salesflow.activities as a where a.org_id = %(org)s and a.kind = 'call' limit 1"
    ),
    "salesflow.competitors": "insert into salesflow.competitors (org_id, name) values (%(org)s, 'Globex')",
    "salesflow.conversation_insights": (
        "insert into salesflow.conversation_insights (org_id, activity_id, lead_id, status, method, summary, "
        "action_items) select %(org)s, a.id, a.lead_id, 'done', 'baseline', 'A call.', "
        "'[{\"text\": \"Send the offer\", \"owner\": \"rep\", \"status\": \"proposed\"}]' "
        "from salesflow.activities as a where a.org_id = %(org)s and a.kind = 'call' limit 1"
    ),
    # an outbound email of A's that got a reply: propose_reply_templates has a template to leak
    "salesflow.messages": (
        "insert into salesflow.messages (org_id, lead_id, channel, direction, subject, body, sent_at) "
        "select %(org)s, l.id, 'email', d.direction::salesflow.direction, d.subject, d.body, now() - d.age "
        "from (select l.id from salesflow.leads as l where l.org_id = %(org)s limit 1) as l "
        "cross join (values ('outbound', 'Offer', 'Dear Ada, our offer.', interval '2 days'), "
        "('inbound', 'Re: Offer', 'Thanks!', interval '1 day')) as d (direction, subject, body, age)"
    ),
    # AI settings live in the organisation's row; set so that get_ai_settings has something to leak
    "salesflow.organizations": (
        "update salesflow.organizations set settings = '{\"ai\": {\"pii\": {\"kinds\": [\"iban\"]}}}' "
        "where id = %(org)s"
    ),
    # recommendations: an organisation's own version of a rule, one open item (the lead has gone quiet
    # by then), and two month-old verdicts of the same rule, so that lift has something to compare
    "salesflow.recommendation_rules": (
        "insert into salesflow.recommendation_rules (org_id, rule_key, version, action_type, base_priority, "
        "half_life, ttl, params, description) values (%(org)s, 'gone_quiet', 2, 're_engage', 40, '7 days', '14 days', "
        "'{\"quiet_days\": 14}', 'quiet')"
    ),
    "salesflow.ai_recommendations": (
        "with past as (insert into salesflow.ai_recommendations (org_id, lead_id, action_type, reason_key, reason, "
        "base_priority, half_life, offered_at, expires_at, source, rule_id, rule_key, rule_version, segment, "
        "stage_at_fire, status, status_changed_at, status_changed_by, created_at) "
        "select l.org_id, l.id, 're_engage', 'gone_quiet', 'Quiet', 50, '7 days', now() - interval '40 days', "
        "now() - interval '26 days', 'rule', r.id, 'gone_quiet', 1, 'other', 'lead', "
        "s.status::salesflow.recommendation_status, "
        "now() - interval '39 days', l.owner_id, now() - interval '40 days' "
        "from salesflow.leads as l, salesflow.recommendation_rules as r, "
        "(values ('done'), ('dismissed')) as s (status) "
        "where l.org_id = %(org)s and r.org_id is null and r.rule_key = 'gone_quiet') "
        "select salesflow.evaluate_recommendations(%(org)s, array(select l.id from salesflow.leads as l "
        "where l.org_id = %(org)s), now() + interval '15 days')"
    ),
    "salesflow.recommendation_reactions": (
        "insert into salesflow.recommendation_reactions (org_id, recommendation_id, user_id, reaction, note) "
        "select r.org_id, r.id, r.status_changed_by, 'dismissed', 'not now' from salesflow.ai_recommendations as r "
        "where r.org_id = %(org)s and r.status = 'dismissed'"
    ),
    "salesflow.recommendation_rule_stats": (
        "insert into salesflow.recommendation_rule_stats (org_id, rule_key, segment, successes, failures) "
        "values (%(org)s, 'gone_quiet', 'other', 1, 1)"
    ),
    "salesflow.contact_patterns": "select salesflow.refresh_contact_patterns(%(org)s)",
    "salesflow.contact_pattern_fits": "select salesflow.refresh_contact_patterns(%(org)s)",
    "salesflow.success_patterns": (
        "insert into salesflow.success_patterns (org_id, outcome, pattern_key, description, support, confidence, lift, "
        "cases, successes) values (%(org)s, 'deal_won', 'has:call:outbound', 'calls', 0.5, 1, 2, 3, 3)"
    ),
    # two playbooks: one the lead runs (finish_playbook_step), one it may start (start_playbook)
    "salesflow.playbooks": (
        "insert into salesflow.playbooks (org_id, name) values (%(org)s, 'Running'), (%(org)s, 'Fresh')"
    ),
    "salesflow.playbook_steps": (
        "insert into salesflow.playbook_steps (org_id, playbook_id, position, action_type, title) "
        "select p.org_id, p.id, s.n, 'call', 'Step ' || s.n from salesflow.playbooks as p "
        "cross join generate_series(1, 2) as s (n) where p.org_id = %(org)s"
    ),
    "salesflow.playbook_executions": (
        "insert into salesflow.playbook_executions (org_id, playbook_id, lead_id, current_position) "
        "select p.org_id, p.id, (select l.id from salesflow.leads as l where l.org_id = %(org)s limit 1), 1 "
        "from salesflow.playbooks as p where p.org_id = %(org)s and p.name = 'Running'"
    ),
    "salesflow.playbook_execution_steps": (
        "insert into salesflow.playbook_execution_steps (org_id, execution_id, position) "
        "select e.org_id, e.id, s.position from salesflow.playbook_executions as e "
        "join salesflow.playbook_steps as s on s.org_id = e.org_id and s.playbook_id = e.playbook_id "
        "where e.org_id = %(org)s"
    ),
    # channels and GDPR (0013): an account, an inbox event, an AI draft awaiting approval, a consent,
    # a suppressed identifier and a finished erasure record
    "salesflow.channel_configs": (
        "insert into salesflow.channel_configs (org_id, provider, route_key, verify_token, app_secret) "
        "values (%(org)s, 'whatsapp', 'pnid-' || %(org)s, 'verify-token-of-a', 'app-secret-of-a')"
    ),
    "salesflow.webhook_inbox": (
        "insert into salesflow.webhook_inbox (org_id, provider, external_id, kind, payload, body_sha256) "
        "values (%(org)s, 'whatsapp', 'wamid.isolation', 'message', '{}', repeat('0', 64))"
    ),
    "salesflow.outbox": (
        "insert into salesflow.outbox (org_id, lead_id, channel, to_address, body, ai_generated, status, "
        "idempotency_key) select l.org_id, l.id, 'email', l.email, 'Hello Ada', true, 'awaiting_approval', "
        "'isolation-' || l.id from salesflow.leads as l where l.org_id = %(org)s"
    ),
    "salesflow.lead_consents": (
        "insert into salesflow.lead_consents (org_id, lead_id, channel, may_contact, source) "
        "select l.org_id, l.id, 'whatsapp', false, 'member' from salesflow.leads as l where l.org_id = %(org)s"
    ),
    "salesflow.suppressions": (
        "insert into salesflow.suppressions (org_id, identifier_hash) "
        "values (%(org)s, salesflow.identifier_hash('email:gone@' || %(org)s))"
    ),
    "salesflow.erasure_requests": (
        "insert into salesflow.erasure_requests (org_id, lead_hash, reason_sha256, status, finished_at) "
        "values (%(org)s, sha256('x'), repeat('0', 64), 'done', now())"
    ),
    "salesflow.compliance_log": (
        "insert into salesflow.compliance_log (org_id, task, purpose, passed, rules_version, text_sha256, action) "
        "values (%(org)s, 'chat', 'chat', true, 'isolation', repeat('0', 64), 'delivered')"
    ),
    # lead intelligence (issue 11): a typed attribute, an outcome, an event, a model with one bin table,
    # an alert, a BANT assessment, a DISG profile and a flag (scores and their history come from triggers)
    "salesflow.lead_attribute_defs": (
        "insert into salesflow.lead_attribute_defs (org_id, name, data_type) values (%(org)s, 'segment', 'category')"
    ),
    "salesflow.lead_outcomes": (
        "insert into salesflow.lead_outcomes (org_id, lead_id, converted) "
        "select %(org)s, l.id, true from salesflow.leads as l where l.org_id = %(org)s"
    ),
    "salesflow.engagement_events": (
        "insert into salesflow.engagement_events (org_id, lead_id, event_type, occurred_at, idempotency_key) "
        "select %(org)s, l.id, 'page_view', now(), 'isolation-1' from salesflow.leads as l where l.org_id = %(org)s"
    ),
    "salesflow.ai_models": (
        "insert into salesflow.ai_models (org_id, version, learner, cutoff, intercept, status, activated_at, "
        "retired_at) values (%(org)s, 1, 'logistic_regression_binned', now(), -1.5, 'retired', now(), now()), "
        "(%(org)s, 2, 'logistic_regression_binned', now(), -1, 'active', now(), null)"
    ),
    "salesflow.scoring_model_features": (
        "insert into salesflow.scoring_model_features (org_id, model_id, feature, value_type, categories, "
        "contributions, missing_contribution, other_contribution) "
        "select %(org)s, m.id, 'lead.source', 'category', '{other}', '{0.5}', -0.1, 0 "
        "from salesflow.ai_models as m where m.org_id = %(org)s"
    ),
    "salesflow.model_alerts": (
        "insert into salesflow.model_alerts (org_id, model_id, alert) "
        "select %(org)s, m.id, 'auc_drop' from salesflow.ai_models as m where m.org_id = %(org)s"
    ),
    "salesflow.insight_alerts": (
        "insert into salesflow.insight_alerts (org_id, metric, day, value, baseline, z, method) "
        "values (%(org)s, 'spend', current_date - 1, 9, 1, 12, 'robust z')"
    ),
    "salesflow.executive_summaries": (
        "insert into salesflow.executive_summaries (org_id, week_start, language, content, figures, source, "
        "offline_model) values (%(org)s, current_date - 7, 'en', '{\"headline\": \"x\"}', '{}', 'baseline', true)"
    ),
    "salesflow.bant_assessments": (
        "insert into salesflow.bant_assessments (org_id, lead_id, budget, authority, need, timeline) "
        "select %(org)s, l.id, 3, 2, 3, 1 from salesflow.leads as l where l.org_id = %(org)s"
    ),
    "salesflow.personality_profiles": (
        "insert into salesflow.personality_profiles (org_id, lead_id, d, i, s, g, confidence, source) "
        "select %(org)s, l.id, 0.7, 0.2, 0.1, 0.3, 0.4, 'manual' from salesflow.leads as l where l.org_id = %(org)s"
    ),
    "salesflow.ai_feature_flags": (
        "insert into salesflow.ai_feature_flags (org_id, feature, rollout_percent) values (%(org)s, 'chat', 50)"
    ),
    "salesflow.predictions": (
        "insert into salesflow.predictions (org_id, kind, deal_id, lead_id, method, method_version, as_of, result, "
        "fingerprint, source) select %(org)s, 'deal', d.id, d.lead_id, 'life table', 'life-table-1', now(), "
        "'{\"win_probability\": 0.5}', md5(d.id::text), 'request' from salesflow.deals as d where d.org_id = %(org)s"
    ),
    # re-score A's lead with the seeded model, so its score row names a model
    "salesflow.lead_scores": "select salesflow.rescore_org(%(org)s)",
}


def make_tenant(conn: psycopg.Connection, name: str, domain: str, staff: Iterable[str] = ()) -> Tenant:
    """An organisation made through the RPCs: its owner adds the members, its rep adds one row of each kind."""
    owner, rep = uuid.uuid4(), uuid.uuid4()
    with acting_as(conn, owner):
        org_id = one(conn, "select id from api.create_organization(%s)", (name,))
        for user_id, role in ((rep, "rep"), *((uuid.uuid4(), role) for role in staff)):
            conn.execute("select api.add_org_member(%s, %s, %s)", (org_id, user_id, role))
    address = f"ada@{domain}"
    with acting_as(conn, rep):
        company = one(conn, "select id from api.create_company(%s, %s, domain => %s)",
                      (org_id, f"{domain.split('.')[0].title()} Robotics", domain))
        lead = one(conn, "select id from api.create_lead(%s, first_name => 'Ada', email => %s, company_id => %s)",
                   (org_id, address, company))
        deal = one(conn, "select id from api.create_deal(%s, 'Robots', lead_id => %s, company_id => %s)",
                   (org_id, lead, company))
        activity = one(conn, "select id from api.create_activity(%s, 'call', lead_id => %s, deal_id => %s, "
                             "direction => 'outbound', subject => 'Intro')", (org_id, lead, deal))
        external_id = f"{domain}-msg-1"
        message = one(conn, "select id from api.create_message(%s, %s, 'email', 'inbound', 'Hello', "
                            "external_id => %s)", (org_id, lead, external_id))
        conn.execute("select api.link_channel_identity(%s, 'email', %s, %s)", (org_id, address, lead))
    # the message's sentiment, as the score_sentiment job stores it (api.get_sentiment_trend reads it)
    conn.execute("update salesflow.messages set sentiment = 0.5, sentiment_label = 'positive', "
                 "sentiment_source = 'lexicon:vader-3.3.2' where org_id = %s", (org_id,))
    rows = {"company": company, "lead": lead, "deal": deal, "activity": activity, "message": message,
            "address": address, "external_id": external_id, "route_key": f"pnid-{org_id}"}
    return Tenant(org_id, owner, rep, rows)


def build_world(conn: psycopg.Connection) -> World:
    conn.autocommit = True
    a = make_tenant(conn, "Acme", "acme.example", staff=("admin", "rep", "analyst"))
    b = make_tenant(conn, "Borg", "borg.example")
    tables = {t.name for t in load_tables(conn)}
    with conn.transaction():
        for table, statement in SEEDS.items():
            if table in tables:
                conn.execute(statement, {"org": a.org_id})
        if "salesflow.llm_requests" in tables:
            # B logs a call too, so that RPCs taking a request_id can be given B's own or A's
            conn.execute(SEEDS["salesflow.llm_requests"], {"org": b.org_id})
            for t in (a, b):
                t.rows["llm_request"] = one(conn, "select min(id) from salesflow.llm_requests where org_id = %s",
                                            (t.org_id,))
        if "salesflow.ai_suggestions" in tables:
            conn.execute(SEEDS["salesflow.ai_suggestions"], {"org": b.org_id})
            for t in (a, b):
                t.rows["suggestion"] = one(conn, "select min(id::text) from salesflow.ai_suggestions "
                                                 "where org_id = %s", (t.org_id,))
        if "salesflow.prompt_test_runs" in tables:
            # B runs a suite of its own, so that RPCs taking a run_id can be given B's own or A's
            conn.execute(SEEDS["salesflow.prompt_versions"], {"org": b.org_id})
            conn.execute(SEEDS["salesflow.prompt_test_runs"], {"org": b.org_id})
            for t in (a, b):
                t.rows["prompt_test_run"] = one(conn, "select min(id::text) from salesflow.prompt_test_runs "
                                                      "where org_id = %s", (t.org_id,))
        if "salesflow.ai_drafts" in tables:
            conn.execute(SEEDS["salesflow.ai_drafts"], {"org": b.org_id})
            for t in (a, b):
                t.rows["draft"] = one(conn, "select min(id::text) from salesflow.ai_drafts where org_id = %s",
                                      (t.org_id,))
        if "salesflow.ai_recommendations" in tables:
            for table in ("salesflow.ai_recommendations", "salesflow.playbooks", "salesflow.playbook_steps",
                          "salesflow.playbook_executions", "salesflow.playbook_execution_steps"):
                conn.execute(SEEDS[table], {"org": b.org_id})
            for t in (a, b):
                t.rows["recommendation"] = one(conn, "select min(id::text) from salesflow.ai_recommendations "
                                                     "where org_id = %s and status = 'open'", (t.org_id,))
                t.rows["playbook"] = one(conn, "select id from salesflow.playbooks where org_id = %s "
                                               "and name = 'Fresh'", (t.org_id,))
                t.rows["execution"] = one(conn, "select id from salesflow.playbook_executions where org_id = %s",
                                          (t.org_id,))
        if "salesflow.bant_assessments" in tables:
            # an AI BANT proposal per tenant, for api.review_bant_proposal
            for t in (a, b):
                t.rows["bant_proposal"] = one(conn, "insert into salesflow.bant_assessments (org_id, lead_id, budget, "
                                                    "authority, need, timeline, method, status) "
                                                    "values (%s, %s, 1, 1, 1, 1, 'ai', 'proposed') returning id::text",
                                              (t.org_id, t.rows["lead"]))
        if "salesflow.conversation_insights" in tables:
            for table in ("salesflow.call_transcripts", "salesflow.competitors", "salesflow.conversation_insights"):
                conn.execute(SEEDS[table], {"org": b.org_id})
            for t in (a, b):
                t.rows["competitor"] = one(conn, "select min(id::text) from salesflow.competitors where org_id = %s",
                                           (t.org_id,))
                t.rows["insight"] = one(conn, "select min(id::text) from salesflow.conversation_insights "
                                              "where org_id = %s", (t.org_id,))
        for table in ("salesflow.outbox", "salesflow.erasure_requests"):
            if table in tables:
                conn.execute(SEEDS[table], {"org": b.org_id})
        if "salesflow.conversations" in tables:
            conn.execute(SEEDS["salesflow.conversations"], {"org": b.org_id})
            conn.execute(SEEDS["salesflow.conversation_turns"], {"org": b.org_id})
            for t in (a, b):
                t.rows["conversation"] = one(conn, "select min(id::text) from salesflow.conversations "
                                                   "where org_id = %s", (t.org_id,))
                t.rows["turn"] = one(conn, "select max(id) from salesflow.conversation_turns where org_id = %s",
                                     (t.org_id,))
                # the owner's chat call whose answer is not stored yet (api.add_chat_turns stores it)
                t.rows["chat_request"] = one(
                    conn, "select salesflow.settle_request(null, %s, 'chat', 'llama.cpp', 'SmolLM2-135M-Instruct', "
                          "now(), 'ok', user_id => %s, feature => 'chat', conversation_id => %s)",
                    (t.org_id, t.owner, t.rows["conversation"]))
    # the analysts' views, read through tenant-checked RPCs, see the seeds once refreshed
    for (view,) in conn.execute("select matviewname from pg_matviews where schemaname = 'analytics'").fetchall():
        conn.execute(sql.SQL("refresh materialized view {}").format(sql.Identifier("analytics", view)))
    if "salesflow.lead_merges" in tables:
        for t in (a, b):
            add_duplicates(conn, t)
    return World(a, b, uuid.uuid4())


def add_duplicates(conn: psycopg.Connection, t: Tenant) -> None:
    """A second Ada (her WhatsApp number is linked to the first), and a third one merged into the first."""
    with acting_as(conn, t.owner):
        phone = "+4915112345678"
        t.rows["lead2"] = one(conn, "select id from api.create_lead(%s, first_name => 'Ada', phone => %s)",
                              (t.org_id, phone))
        conn.execute("select api.link_channel_identity(%s, 'whatsapp', %s, %s)", (t.org_id, phone, t.rows["lead"]))
        third = one(conn, "select id from api.create_lead(%s, first_name => 'Ada', last_name => 'L.')", (t.org_id,))
        t.rows["lead_merge"] = one(conn, "select id from api.merge_leads(%s, %s, %s)",
                                   (t.org_id, t.rows["lead"], third))
    t.rows["outbox"] = one(conn, "select min(id::text) from salesflow.outbox where org_id = %s", (t.org_id,))
    t.rows["erasure"] = one(conn, "select min(id::text) from salesflow.erasure_requests where org_id = %s",
                            (t.org_id,))


@pytest.fixture
def world(db: psycopg.Connection) -> World:
    return build_world(db)


def b_actors(world: World) -> list[Actor]:
    return [Actor("B's owner", world.b.owner), Actor("B's rep", world.b.rep)]


ANON = Actor("anon", None, "anon")


# -- the catalog --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str
    type: str
    has_default: bool
    generated: bool
    indexed: bool


@dataclass(frozen=True)
class Table:
    name: str  # schema-qualified, as regclass prints it
    schema: str
    relname: str
    key: str | None  # the column holding the tenant: org_id, or id for organizations; None = no tenant
    columns: tuple[Column, ...]

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.relname)

    def update_column(self) -> Column | None:
        """A column to set to its default without reading any row (so only the UPDATE policy applies).

        A timestamp defaulting to now() is preferred: now() differs from the set-up's, so the fingerprint
        shows when the update reached org A's rows.
        """
        settable = [c for c in self.columns if c.has_default and not c.generated and not c.indexed]
        # else an indexed column with a default (an append-only ledger's timestamp), else any column
        # (a reference table without defaults: app roles may not write it at all)
        settable = settable or [c for c in self.columns if c.has_default and not c.generated]
        settable = settable or [c for c in self.columns if not c.generated]
        settable.sort(key=lambda c: c.type != "timestamp with time zone")
        return settable[0] if settable else None


def load_tables(conn: psycopg.Connection) -> list[Table]:
    found = conn.execute("""
        select c.oid, n.nspname, c.relname from pg_catalog.pg_class as c
        join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = 'salesflow' and c.relkind in ('r', 'p')
        order by c.relname
    """).fetchall()
    tables = []
    for oid, schema, relname in found:
        columns = tuple(Column(*row) for row in conn.execute("""
            select a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.atthasdef,
                   a.attidentity <> '' or a.attgenerated <> '',
                   exists (select from pg_catalog.pg_index as i
                           where i.indrelid = a.attrelid and a.attnum = any(i.indkey))
            from pg_catalog.pg_attribute as a
            where a.attrelid = %s and a.attnum > 0 and not a.attisdropped
            order by a.attnum
        """, (oid,)).fetchall())
        names = {c.name for c in columns}
        key = "org_id" if "org_id" in names else "id" if relname == "organizations" else None
        tables.append(Table(f"{schema}.{relname}", schema, relname, key, columns))
    return tables


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    has_default: bool


@dataclass(frozen=True)
class Rpc:
    name: str
    signature: str
    kind: str
    params: tuple[Param, ...]
    returns_set: bool
    returns_void: bool
    read_only: bool


def load_rpcs(conn: psycopg.Connection) -> list[Rpc]:
    rpcs = []
    for name, signature, kind, retset, void, volatility, ndefaults, argnames, modes, types in conn.execute("""
        select p.proname, p.oid::regprocedure::text, p.prokind, p.proretset, p.prorettype = 'void'::regtype,
               p.provolatile, p.pronargdefaults, coalesce(p.proargnames, '{}'), coalesce(p.proargmodes::text[], '{}'),
               array(select pg_catalog.format_type(t, null)
                     from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) with ordinality as u (t, n)
                     order by n)
        from pg_catalog.pg_proc as p join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
        where n.nspname = 'api'
        order by p.proname, 2
    """):
        inputs = [(argnames[i] if i < len(argnames) else "", types[i])
                  for i in range(len(types)) if not modes or modes[i] in ("i", "b", "v")]
        params = tuple(Param(n, t, i >= len(inputs) - ndefaults) for i, (n, t) in enumerate(inputs))
        rpcs.append(Rpc(name, signature, kind, params, retset, void, volatility in ("s", "i")))
    return rpcs


# -- fingerprints and attempts ------------------------------------------------------------------
def fingerprint(conn: psycopg.Connection, tables: list[Table], org_id: uuid.UUID) -> dict[str, str]:
    """md5 of every row of `org_id` per tenant table, and of the whole of every table without a tenant."""
    parts = []
    for t in tables:
        where = sql.SQL("where x.{} = {}").format(sql.Identifier(t.key), str(org_id)) if t.key else sql.SQL("")
        parts.append(sql.SQL(
            "select {}::text, md5(coalesce(string_agg(to_jsonb(x)::text, '|' order by to_jsonb(x)::text), '')) "
            "from {} as x {}"
        ).format(t.name, t.ident, where))
    return dict(conn.execute(sql.SQL(" union all ").join(parts)).fetchall())


def uuids_in(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from uuids_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from uuids_in(v)
    elif isinstance(value, str) and UUID_TEXT.fullmatch(value):
        yield value


def markers(conn: psycopg.Connection, tables: list[Table], org_id: uuid.UUID) -> set[str]:
    """Every uuid in org A's rows (ids, members, references): none may come back to another tenant."""
    found = {str(org_id)}
    for t in tables:
        if t.key:
            query = sql.SQL("select to_jsonb(x) from {} as x where x.{} = %s").format(t.ident, sql.Identifier(t.key))
            for (row,) in conn.execute(query, (org_id,)):
                found.update(uuids_in(row))
    return found


@dataclass(frozen=True)
class Attempt:
    sqlstate: str | None
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rowcount: int = 0
    changed: tuple[str, ...] = ()  # tables whose org A fingerprint the attempt changed


class Probe:
    """Runs statements as a user against one world and fingerprints org A around each."""

    def __init__(self, conn: psycopg.Connection, world: World, only: str | None = None) -> None:
        """`only`: probe and fingerprint that one table (schema-qualified) instead of all of them."""
        self.conn, self.world = conn, world
        self.tables = [t for t in load_tables(conn) if only is None or t.name == only]
        self.rpcs = load_rpcs(conn)
        self.baseline = fingerprint(conn, self.tables, world.a.org_id)
        self.markers = markers(conn, self.tables, world.a.org_id)

    def attempt(self, actor: Actor, query: sql.Composable | str, params: Any = ()) -> Attempt:
        """Run `query` as `actor` in a savepoint, compare org A's fingerprint as superuser, roll back."""
        rows, count = [], 0
        with authenticate_as(self.conn, actor.user_id, actor.role) as conn:
            try:
                with conn.transaction():
                    cur = conn.execute(query, params)
                    count = cur.rowcount
                    rows = cur.fetchall() if cur.description else []
            except psycopg.Error as exc:
                return Attempt(exc.sqlstate or "?")
            conn.execute("reset role")
            after = fingerprint(conn, self.tables, self.world.a.org_id)
        changed = tuple(sorted(t for t, digest in after.items() if self.baseline.get(t) != digest))
        return Attempt(None, rows, count, changed)


# -- tables -------------------------------------------------------------------------------------
def sample_row(conn: psycopg.Connection, table: Table, org_id: uuid.UUID) -> dict[str, Any] | None:
    where = sql.SQL("where x.{} = %s").format(sql.Identifier(table.key)) if table.key else sql.SQL("")
    query = sql.SQL("select to_jsonb(x) from {} as x {} limit 1").format(table.ident, where)
    row = conn.execute(query, (org_id,) if table.key else ()).fetchone()
    return row[0] if row else None


def insert_copy(table: Table, row: dict[str, Any] | None) -> tuple[sql.Composable, tuple[Any, ...]]:
    """Insert a copy of one of org A's rows, keeping its tenant key; defaulted columns get fresh values."""
    if row is None:
        return sql.SQL("insert into {} default values").format(table.ident), ()
    columns = [sql.Identifier(c.name) for c in table.columns
               if c.name == table.key or not (c.has_default or c.generated)]
    return sql.SQL("insert into {t} ({c}) select {c} from jsonb_populate_record(null::{t}, %s)").format(
        t=table.ident, c=sql.SQL(", ").join(columns)), (Jsonb(row),)


def table_violations(probe: Probe, actors: list[Actor]) -> list[str]:
    """What `actors` can see or change of org A's rows, or of tables without a tenant, table by table."""
    conn, a = probe.conn, probe.world.a
    out: list[str] = []
    for t in probe.tables:
        row = sample_row(conn, t, a.org_id)
        if t.key and row is None:
            out.append(f"{t.name}: org A has no rows, so nothing here is tested; create one in build_world/SEEDS")
        column = t.update_column()
        if column is None:
            out.append(f"{t.name}: no column to update without reading rows; teach update_column about this table")
            continue
        update = sql.SQL("update {} set {} = default").format(t.ident, sql.Identifier(column.name))
        delete = sql.SQL("delete from {}").format(t.ident)
        count = sql.SQL("select count(*) from {}").format(t.ident)
        for actor in actors:
            checks: list[tuple[str, sql.Composable, tuple[Any, ...], bool]]
            if t.key is None or actor.role == "anon":
                # anon, and everybody on a table without a tenant: no row at all
                checks = [("select", count, (), True), ("update", update, (), True), ("delete", delete, (), True)]
            else:
                of_a = sql.SQL(" where {} = %s").format(sql.Identifier(t.key))
                checks = [
                    ("select org A's rows", count + of_a, (a.org_id,), True),
                    ("update org A's rows", update + of_a, (a.org_id,), True),
                    ("delete org A's rows", delete + of_a, (a.org_id,), True),
                    # unfiltered, these read no column, so only the UPDATE / DELETE policy stands between
                    # the actor and org A's rows (the actor's own rows may change; A's must not)
                    ("update without where", update, (), False),
                    ("delete without where", delete, (), False),
                ]
            for label, query, params, must_touch_nothing in checks:
                res = probe.attempt(actor, query, params)
                where = f"{t.name}: {label} as {actor.label}"
                if res.sqlstate is not None:
                    # an unfiltered delete reaches the actor's own organisation, whose last owner the
                    # keep_an_owner trigger keeps (23514); a filtered attempt on org A failing so is a leak
                    own_last_owner = res.sqlstate == "23514" and not must_touch_nothing
                    if res.sqlstate != "42501" and not own_last_owner:
                        out.append(f"{where} failed with {res.sqlstate}, not 42501 or nothing")
                    continue
                touched = res.rows[0][0] if label.startswith("select") else res.rowcount
                if must_touch_nothing and touched:
                    out.append(f"{where} reached {touched} row(s)")
                if res.changed:
                    out.append(f"{where} changed org A's data in {', '.join(res.changed)}")
            query, params = insert_copy(t, row)
            res = probe.attempt(actor, query, params)
            if res.sqlstate != "42501":
                got = f"failed with {res.sqlstate}" if res.sqlstate else "was accepted"
                out.append(f"{t.name}: insert with {t.key or 'no tenant'} = org A as {actor.label} {got}, not 42501")
    return out


# -- RPCs ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    label: str
    org: Tenant  # whose org_id is passed
    keys: Tenant  # whose row ids (company_id, lead_id, ..., address, external_id) are passed
    refs: Tenant  # whose users (owner_id, user_id) and references inside `changes` are passed


def scenarios(world: World) -> list[Scenario]:
    a, b = world.a, world.b
    return [
        Scenario("org A", a, a, a),
        Scenario("org B with A's ids", b, a, a),
        Scenario("B's own rows with A's references", b, b, a),
    ]


FIXED: dict[str, Any] = {
    "max_age_minutes": 1440,
    "name": "Intruder Ltd", "slug": None, "role": "owner", "display_name": "Eve", "email": "eve@intruder.example",
    "search": "acme", "light": None, "owned_by": None, "page_size": 50, "before": None, "before_id": None,
    "domain": "intruder.example", "industry": "Espionage", "employee_count": 3, "country": "DE", "attributes": {},
    "first_name": "Mallory", "last_name": "Intruder", "phone": "+491701234567", "title": "Mole",
    "source": "other", "lifecycle_stage": "lead", "language": "en",
    "amount": 10, "currency": "EUR", "expected_close": None, "lost_reason": None,
    "kind": "call", "direction": "outbound", "subject": "Hello", "body": "Hello there", "outcome": None,
    "occurred_at": T0, "due_at": None, "completed_at": None, "sent_at": T0,
    "channel": "email", "verified": False,
    "query_embedding": "[" + ",".join(["0.05"] * 384) + "]", "query_text": "Hello", "k": 10,
    "since": None, "until": None, "keywords": None, "recency": False, "token_budget": 2000, "hot_messages": 20,
    "category": "other", "fact": "They said hello.", "quote": "Hello", "confidence": 0.9, "fact_key": None,
    "include_closed": True, "period": "week", "inbound_only": False,
    "rating": 1, "comment": "Useful",  # record_llm_feedback's outcome is the activities' None above
    "prompt_name": "followup_email", "label": "production", "version": 1,
    "case_name": "probe", "assertions": {"schema_valid": True}, "inputs": {}, "override_reason": "intruder",
    "settings": {"pii": {"kinds": ["email"]}},
    "horizon_days": 30, "periods": 1, "period_days": 30,
    "status": None, "decision": "accepted",
    # lead intelligence (issue 11)
    "rows": [{"email": "mallory@intruder.example", "segment": "spy"}], "field_map": {}, "outcome_column": None,
    "outcome_date_column": None, "dry_run": False, "first_line": 2, "raise_on_error": True,
    "events": [], "excluded_from_scoring": True, "sensitive": None, "label_en": None, "label_de": None,
    "model_id": None, "budget": 1, "authority": 1, "need": 1, "timeline": 1, "notes": None,
    "attribute": "segment", "feature": "chat", "enabled": True, "rollout_percent": 10, "rollout_by": "user",
    "segments": [],
    "as_of": None, "action_type": "call", "reason": "Call back", "base_priority": 50, "half_life": "3 days",
    "expires_in": "7 days", "reaction": "accepted", "note": None, "snooze_until": None, "rule_key": "gone_quiet",
    "horizon": "30 days", "steps": [{"action_type": "call", "title": "Call"}], "description": None,
    "step_status": "done", "pattern_outcome": "deal_won", "pattern_key": "has:call:outbound",
    "provider": "whatsapp", "verify_token": "verify-token-x", "app_secret": "app-secret-x", "access_token": None,
    "ai_generated": True, "idempotency_key": None,
    # chat (api.add_chat_turns, api.save_conversation_summary)
    "message": "How do I reach Ada?", "answer": "Call her on Tuesday.", "message_tokens": 6, "answer_tokens": 5,
    "offline_model": False, "summary": "They asked how to reach Ada.",
    "may_contact": True, "ai_processing": True, "retention_days": 30, "suppression_mode": "drop",
    # the sales assistant (issue 14): drafts, on-demand compliance verdicts, deal search filters
    "variant": 0, "reply_window_days": 14, "reply_within_days": 7, "min_sent": 1, "purpose": "sales",
    "passed": True, "findings": [],
    "rules_version": "test-rules", "text_sha256": "0" * 64, "stages": None, "min_amount": None,
    "max_amount": None, "close_from": None, "close_to": None, "competitor": None, "company": None,
    # listening (issue 14)
    "audio": b"RIFF-probe", "content_type": "audio/wav", "filename": "call.wav", "rep_speaker": "rep",
    "transcript_segments": [{"start": 0, "end": 2, "speaker": "rep", "text": "Hello"}], "aliases": [],
    "method": "baseline", "item": 0,
    # the insights dashboard (issue 14)
    "days": 30, "window_days": 28, "window_hours": 2, "threshold": 3.5,
}
# the same name with different types: each must still match org A's data for the owner's control call
BY_TYPE: dict[str, dict[str, str]] = {
    "stage": {"salesflow.lifecycle_stage": "lead", "salesflow.deal_stage": "prospecting"},
    "kind": {"salesflow.activity_kind": "call", "salesflow.suggestion_kind": "next_actions", "text": "reply"},
}
KEYS = {"company_id": "company", "lead_id": "lead", "deal_id": "deal", "activity_id": "activity",
        "message_id": "message", "address": "address", "external_id": "external_id", "request_id": "llm_request",
    "conversation_id": "conversation", "suggestion_id": "suggestion", "recommendation_id": "recommendation",
    "playbook_id": "playbook", "execution_id": "execution",
    "keep_id": "lead", "merge_id": "lead2", "lead_merge_id": "lead_merge", "outbox_id": "outbox",
    "erasure_id": "erasure", "route_key": "route_key", "draft_id": "draft", "answer_request_id": "chat_request",
    "summary_upto": "turn", "assessment_id": "bant_proposal", "run_id": "prompt_test_run",
    "competitor_id": "competitor", "insight_id": "insight"}


def changes_for(entity: str, refs: Tenant) -> dict[str, Any] | None:
    """A small valid change set per entity; where the entity has one, it points at another row of `refs`."""
    return {
        "company": {"industry": "Espionage"},
        "lead": {"title": "Mole", "company_id": str(refs.rows["company"])},
        "deal": {"amount": 10, "lead_id": str(refs.rows["lead"])},
        "activity": {"subject": "Hijacked", "deal_id": str(refs.rows["deal"])},
        "message": {"subject": "Hijacked", "lead_id": str(refs.rows["lead"])},
        "recommendation_rule": {"base_priority": 10},
    }.get(entity)


class Unknown(Exception):
    """This test does not know how to call an RPC: a failure, so nobody adds an uncovered one."""


def argument(rpc: Rpc, param: Param, s: Scenario, world: World) -> Any:
    if param.name == "org_id":
        return s.org.org_id
    if param.name in KEYS:
        return s.keys.rows[KEYS[param.name]]
    if param.name == "user_id":
        # adding A's rep again would be a duplicate for A's owner; adding a stranger succeeds for them
        return world.newcomer if rpc.name == "add_org_member" else s.refs.rep
    if param.name in ("owner_id", "assignee_id"):
        return s.refs.rep
    if param.name == "changes":
        entity = rpc.name.removeprefix("update_")
        changes = changes_for(entity, s.refs)
        if changes is None:
            raise Unknown(f"{rpc.signature}: no change set for entity {entity!r}; add one to changes_for")
        return changes
    if param.name == "messages":  # create_messages: one message for the lead of `refs`
        return [{"lead_id": str(s.refs.rows["lead"]), "channel": "email", "direction": "inbound",
                 "body": "Hello in bulk"}]
    if param.name in BY_TYPE:
        if param.type not in BY_TYPE[param.name]:
            raise Unknown(f"{rpc.signature}: no value for {param.name} of type {param.type}; add it to BY_TYPE")
        return BY_TYPE[param.name][param.type]
    if param.name in FIXED:
        return FIXED[param.name]
    raise Unknown(f"{rpc.signature}: no value for parameter {param.name!r} ({param.type}); add it to FIXED")


def arguments(rpc: Rpc, s: Scenario, world: World) -> dict[str, Any]:
    if rpc.kind != "f":
        raise Unknown(f"{rpc.signature}: a {rpc.kind!r}-kind routine, which this test cannot call")
    if any(not p.name for p in rpc.params):
        raise Unknown(f"{rpc.signature}: an unnamed parameter, which the gateway cannot pass")
    return {p.name: argument(rpc, p, s, world) for p in rpc.params}


def call(rpc: Rpc, args: dict[str, Any]) -> tuple[sql.Composable, list[Any]]:
    named = sql.SQL(", ").join(sql.SQL("{} => %s::{}").format(sql.Identifier(p.name), sql.SQL(p.type))
                               for p in rpc.params)
    result = sql.SQL("null::text") if rpc.returns_void else sql.SQL("to_jsonb(_r)::text")
    query = sql.SQL("select {} from {}.{}({}) as _r").format(result, sql.Identifier("api"), sql.Identifier(rpc.name),
                                                             named)
    return query, [Jsonb(args[p.name]) if p.type == "jsonb" else args[p.name] for p in rpc.params]


def returned_something(res: Attempt) -> bool:
    """At least one row with a value: a composite of nulls is what a function returning null gives."""
    values = [json.loads(text) for (text,) in res.rows if text is not None]
    return any(any(x is not None for x in v.values()) if isinstance(v, dict) else v is not None for v in values)


def rpc_violations(probe: Probe, actors: list[Actor]) -> list[str]:
    """Every RPC called by `actors` with org A's (or crossed) identifiers: refused, or nothing of A's."""
    world = probe.world
    out: list[str] = []
    for rpc in probe.rpcs:
        for s in scenarios(world):
            try:
                args = arguments(rpc, s, world)
            except Unknown as exc:
                out.append(str(exc))
                break
            query, params = call(rpc, args)
            for actor in actors:
                res = probe.attempt(actor, query, params)
                where = f"api.{rpc.name} ({s.label}) as {actor.label}"
                if res.sqlstate is not None:
                    if res.sqlstate not in REFUSALS:
                        out.append(f"{where} failed with {res.sqlstate}, not one of {sorted(REFUSALS)}")
                    continue
                leaked = sorted({m for (text,) in res.rows for m in probe.markers if text and m in text})
                if leaked:
                    out.append(f"{where} returned org A's identifiers {leaked[:3]}")
                if rpc.returns_set and args.get("org_id") == world.a.org_id and res.rows:
                    out.append(f"{where} returned {len(res.rows)} row(s) for org A")
                if res.changed:
                    out.append(f"{where} changed org A's data in {', '.join(res.changed)}")
            if s.org is world.a:
                # the control: the same call as A's owner works, so a refusal above is not a broken call
                res = probe.attempt(Actor("A's owner", world.a.owner), query, params)
                if res.sqlstate is not None or not returned_something(res):
                    got = f"failed with {res.sqlstate}" if res.sqlstate else "returned nothing"
                    out.append(f"api.{rpc.name} ({s.label}) as A's owner {got}: the call itself is broken")
    return out


# -- the tests ----------------------------------------------------------------------------------
def test_the_catalog_enumerates_what_there_is_to_protect(db: psycopg.Connection, world: World) -> None:
    """Guards the enumeration itself: an empty or wrong catalog query would make every check vacuous."""
    probe = Probe(db, world)
    tenant = {t.name for t in probe.tables if t.key}
    assert {f"salesflow.{n}" for n in ("organizations", "org_members", "companies", "leads", "deals", "activities",
                                       "messages", "channel_identities")} <= tenant
    assert {"salesflow.schema_migrations", "salesflow.schema_objects"} <= {t.name for t in probe.tables if not t.key}
    names = {r.name for r in probe.rpcs}
    assert {f"{verb}_{e}" for verb in ("get", "update", "delete") for e in ENTITIES} <= names
    assert {"create_organization", "add_org_member", "remove_org_member", "link_channel_identity"} <= names
    assert len(probe.markers) > 10  # A's org, members and rows


def test_what_the_checks_cannot_exercise_fails_them(db: psycopg.Connection, world: World) -> None:
    """A table or RPC added without telling this file is a violation, not a silent pass."""
    with db.transaction(force_rollback=True):
        db.execute("create function api.frobnicate(org_id uuid, wibble text) returns int language sql as 'select 1'")
        db.execute("create table salesflow.gadgets (org_id uuid not null, created_at timestamptz default now())")
        # a tenant table someone forgot to protect: no RLS, granted to authenticated
        db.execute("create table salesflow.widgets (org_id uuid not null, created_at timestamptz default now())")
        db.execute("grant select, insert, update, delete on salesflow.widgets to authenticated")
        db.execute("insert into salesflow.widgets (org_id) values (%s)", (world.a.org_id,))
        probe = Probe(db, world)
        violations = table_violations(probe, b_actors(world)) + rpc_violations(probe, b_actors(world))
    assert any(v.startswith("api.frobnicate(uuid,text): no value for parameter 'wibble'") for v in violations)
    assert "salesflow.gadgets: org A has no rows, so nothing here is tested; create one in build_world/SEEDS" in (
        violations)
    assert "salesflow.widgets: select org A's rows as B's rep reached 1 row(s)" in violations
    assert "salesflow.widgets: insert with org_id = org A as B's owner was accepted, not 42501" in violations


def test_other_tenants_see_and_change_nothing_of_org_a_in_any_table(db: psycopg.Connection, world: World) -> None:
    assert table_violations(Probe(db, world), b_actors(world)) == []


def test_anon_sees_and_changes_nothing_in_any_table(db: psycopg.Connection, world: World) -> None:
    assert table_violations(Probe(db, world), [ANON]) == []


def test_every_rpc_refuses_other_tenants_or_returns_nothing_of_org_a(db: psycopg.Connection, world: World) -> None:
    assert rpc_violations(Probe(db, world), b_actors(world)) == []


def test_anon_may_call_no_rpc(db: psycopg.Connection, world: World) -> None:
    probe = Probe(db, world)
    refused = []
    for rpc in probe.rpcs:
        query, params = call(rpc, arguments(rpc, scenarios(world)[0], world))
        refused.append((rpc.name, probe.attempt(ANON, query, params).sqlstate))
    assert refused == [(rpc.name, "42501") for rpc in probe.rpcs]


def test_b_owner_cannot_make_themselves_a_member_of_org_a(db: psycopg.Connection, world: World) -> None:
    a, b = world.a, world.b
    probe = Probe(db, world)
    join = "select api.add_org_member(%s, %s, 'owner')"
    insert = "insert into salesflow.org_members (org_id, user_id, role) values (%s, %s, 'owner')"
    actor = Actor("B's owner", b.owner)
    assert probe.attempt(actor, join, (a.org_id, b.owner)).sqlstate == "42501"
    assert probe.attempt(actor, insert, (a.org_id, b.owner)).sqlstate == "42501"
    # the control: A's owner may add B's owner, who then sees A's leads
    with authenticate_as(db, a.owner) as conn:
        conn.execute(join, (a.org_id, b.owner))
        conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps({"role": "authenticated",
                                                                                        "sub": str(b.owner)}),))
        assert one(conn, "select count(*) from salesflow.leads where org_id = %s", (a.org_id,)) >= 1


# Loosening one policy at a time must make the checks above report that table. Select policies are
# checked for every table by test_every_select_policy_is_loosened_by_a_test; write policies by example.
# policies "for all" count as select policies too
LOOSENED_ALL = ["lead_outcomes_write", "lead_attribute_defs_write", "ai_feature_flags_write"]
LOOSENED_SELECT = LOOSENED_ALL + [f"{t}_select" for t in dict.fromkeys((
                                           "organizations", "org_members", "companies", "leads", "deals",
                                           "activities", "messages", "channel_identities", "embeddings",
                                           "llm_requests", "llm_usage_daily", "llm_budgets", "llm_budget_alerts",
                                           "llm_feedback", "prompts", "prompt_versions", "prompt_labels",
                                           "prompt_experiments", "conversations", "conversation_turns",
                                           "compliance_log", "ai_suggestions", "lead_attribute_defs",
                                           "lead_outcomes", "engagement_events", "ai_models",
                                           "scoring_model_features", "lead_scores", "lead_score_history",
                                           "model_alerts", "bant_assessments", "personality_profiles",
                                           "ai_feature_flags",
                                           "compliance_log", "ai_suggestions", "recommendation_rules",
                                           "ai_recommendations", "recommendation_reactions",
                                           "recommendation_rule_stats", "contact_pattern_fits", "lead_channel_stats",
                                           "lead_stage_changes", "contact_patterns", "success_patterns", "playbooks",
                                           "playbook_steps", "playbook_executions", "playbook_execution_steps",
                                           "compliance_log", "ai_suggestions", "channel_configs", "webhook_inbox",
                                           "outbox", "lead_consents", "erasure_requests", "lead_merges",
                                           "compliance_log", "ai_suggestions", "embedding_queue",
                                           "conversation_summaries", "memory_facts",
                                           "compliance_log", "ai_suggestions", "deal_stage_changes",
                                           "ai_drafts", "prompt_test_cases", "prompt_test_runs",
                                           "prompt_test_results", "prompt_label_moves", "call_transcripts",
                                           "competitors", "conversation_insights", "insight_alerts",
                                           "executive_summaries", "predictions"))]
LOOSENED_WRITE = ["leads_update", "deals_delete", "companies_insert", "org_members_insert", "messages_update",
                  "conversations_insert", "conversations_update", "conversation_turns_insert"]


def loosen(conn: psycopg.Connection, policy: str) -> str:
    """Make `policy` let everything through (inside the caller's transaction); returns its table."""
    found = conn.execute("select polrelid::regclass::text, polcmd from pg_catalog.pg_policy where polname = %s",
                         (policy,)).fetchall()
    assert len(found) == 1, f"policy {policy} is on {len(found)} tables"
    table, cmd = found[0]
    clause = {"r": "using (true)", "d": "using (true)", "a": "with check (true)"}.get(
        cmd, "using (true) with check (true)")
    conn.execute(sql.SQL("alter policy {} on {} " + clause).format(sql.Identifier(policy), sql.SQL(table)))
    return table


@pytest.mark.parametrize("policy", LOOSENED_SELECT + LOOSENED_WRITE)
def test_loosened_policy_is_detected(db: psycopg.Connection, world: World, policy: str) -> None:
    # the table checks of the loosened policy's own table, fingerprinting that table alone: what a
    # loosened policy lets through shows there (the whole catalog around every attempt is not needed)
    with db.transaction(force_rollback=True):
        table = loosen(db, policy)
        probe = Probe(db, world, only=table)
        assert [t.name for t in probe.tables] == [table]
        violations = table_violations(probe, b_actors(world))
    assert violations and all(v.startswith(f"{table}:") for v in violations), violations
    # ALTER POLICY is transactional: the policy is back as it was for every other test
    restored = one(db, "select coalesce(pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)) "
                       "from pg_catalog.pg_policy where polname = %s", (policy,))
    assert restored != "true"


def test_every_select_policy_is_loosened_by_a_test(db: psycopg.Connection) -> None:
    select_policies = {name for (name,) in db.execute(
        "select polname from pg_catalog.pg_policy where polcmd in ('r', '*')"
        " and polrelid::regclass::text like 'salesflow.%'")}
    assert select_policies <= set(LOOSENED_SELECT)
    assert set(LOOSENED_SELECT) <= select_policies  # a renamed policy would make its case fail, not pass


# -- over HTTP ----------------------------------------------------------------------------------
def _unsigned(claims: dict[str, Any]) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


BAD_AUTH: dict[str, Callable[[uuid.UUID], str | None]] = {
    "forged": lambda user: make_token(user, secret="another-secret-of-sufficient-length-for-hs256"),
    "expired": lambda user: make_token(user, expires_in=-3600),
    "alg none": lambda user: _unsigned({"role": "authenticated", "sub": str(user), "exp": int(time.time()) + 3600}),
    "anonymous": lambda user: None,
}


def test_bad_tokens_and_anonymous_callers_get_401_from_every_rpc(api: ApiProcess) -> None:
    with psycopg.connect(api.database_url) as conn:
        world = build_world(conn)
        probe = Probe(conn, world)
    wrong = []
    with httpx.Client(base_url=api.url, timeout=30) as client:
        for rpc in probe.rpcs:
            body = json.loads(json.dumps(arguments(rpc, scenarios(world)[0], world), default=str))
            for case, token in BAD_AUTH.items():
                # a token for A's owner: were it accepted, the call would succeed and change A's data
                bearer = token(world.a.owner)
                headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
                r = client.post(f"/rest/v1/rpc/{rpc.name}", json=body, headers=headers)
                code = r.json().get("code") if r.status_code == 401 else r.text[:100]
                expected = {"42501"} if case == "anonymous" else {"PGRST301", "PGRST303"}
                if r.status_code != 401 or code not in expected:
                    wrong.append((rpc.name, case, r.status_code, code))
            if rpc.read_only:
                # the control: the same body with A's owner's real token is answered
                r = client.post(f"/rest/v1/rpc/{rpc.name}", json=body,
                                headers={"Authorization": f"Bearer {make_token(world.a.owner)}"})
                if r.status_code != 200 or not r.json():
                    wrong.append((rpc.name, "valid token", r.status_code, r.text[:100]))
    assert wrong == []
    with psycopg.connect(api.database_url) as conn:
        assert fingerprint(conn, probe.tables, world.a.org_id) == probe.baseline
