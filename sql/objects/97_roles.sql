-- Dedicated database roles for the API and the worker (issue 9, section 4; DESIGN.md decision 10).
-- Neither is a superuser or owns anything; each holds only the privileges written out below, so a
-- new table or function reaches neither until it is granted here.
--
-- salesflow_api    the API's session user. NOINHERIT: on its own it holds only the few system
--                  privileges below; every RPC runs after `set local role` to the request's role
--                  (anon, authenticated, service_role), as PostgREST's authenticator does, so
--                  tenant data is read only through RLS as the caller.
-- salesflow_worker the job worker. Jobs work for every organisation at once (a queue row carries
--                  its org_id, and no user's claims exist to set), so it bypasses RLS; what it
--                  may touch is narrowed by the table-by-table grants below instead.
-- salesflow_memory owns salesflow.embeddings, the one table whose indexes a job maintains
--                  (CREATE INDEX CONCURRENTLY needs the table's owner and cannot run in a
--                  function); the worker and the migrating role are its members.
--
-- The roles are created here without LOGIN: `salesflow db start` (embedded mode) gives them a
-- login and generated passwords kept 0600 under SALESFLOW_HOME; on another server an operator
-- does (`alter role salesflow_api login password '...'`) and sets SALESFLOW_API_DATABASE_URL
-- and SALESFLOW_WORKER_DATABASE_URL.

do $$
declare
    superuser boolean := (select r.rolsuper from pg_catalog.pg_roles as r where r.rolname = current_user);
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'salesflow_api') then
        create role salesflow_api nologin noinherit;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'salesflow_worker') then
        create role salesflow_worker nologin inherit;
    end if;
    if not exists (select from pg_catalog.pg_roles where rolname = 'salesflow_memory') then
        create role salesflow_memory nologin noinherit;
    end if;
    -- only a superuser may grant BYPASSRLS; elsewhere (Supabase) an operator decides
    if superuser then
        alter role salesflow_api bypassrls;
        alter role salesflow_worker bypassrls;
    end if;
    -- the API becomes the request's role with `set local role`; it inherits none of their privileges
    grant anon, authenticated, service_role to salesflow_api;
    grant salesflow_memory to salesflow_worker;
    if not pg_catalog.pg_has_role(current_user, 'salesflow_memory', 'member') then
        execute pg_catalog.format('grant salesflow_memory to %I', current_user);
    end if;
end
$$;

alter table salesflow.embeddings owner to salesflow_memory;
-- a lead's deletion cascades to its vectors as the table's owner, which must see the schema; and
-- CREATE INDEX checks CREATE on the table's schema. That CREATE is the widest privilege the worker
-- holds: every function here pins search_path = '' and names its objects, so nothing it could add
-- to the schema is reached by name resolution.
grant usage, create on schema salesflow to salesflow_memory;
grant usage on schema extensions to salesflow_memory;

grant usage on schema salesflow, extensions to salesflow_api, salesflow_worker;

-- == salesflow_api: what the API does on its own connection, outside any request's role ========
-- /health reads the migration bookkeeping; /api/search looks up the active embedding model
grant select on salesflow.schema_migrations, salesflow.schema_objects, salesflow.embedding_models
to salesflow_api;
-- webhooks are routed by the provider's key before any organisation is known (api/webhooks.py)
grant select on salesflow.channel_configs to salesflow_api;
grant select (id, settings) on salesflow.organizations to salesflow_api;
grant select, insert on salesflow.webhook_inbox, salesflow.webhook_rejections to salesflow_api;
grant select, insert, update on salesflow.jobs to salesflow_api;
grant execute on function
salesflow.enqueue(text, jsonb, text, uuid, integer, timestamp with time zone, integer, text, boolean),
salesflow.is_suppressed(uuid, text[])
to salesflow_api, salesflow_worker;
-- the AI gateway's bookkeeping around a provider call (budget, ledger, prompts), also the worker's
grant select on salesflow.llm_budgets, salesflow.prompt_experiments to salesflow_api, salesflow_worker;
grant update on salesflow.llm_budgets to salesflow_api, salesflow_worker;  -- reserve_budget locks them
grant select, insert, update on salesflow.llm_models, salesflow.llm_usage_daily, salesflow.llm_budget_alerts,
salesflow.prompts, salesflow.prompt_versions, salesflow.prompt_labels
to salesflow_api, salesflow_worker;
grant select, insert, update, delete on salesflow.llm_budget_reservations to salesflow_api, salesflow_worker;
-- the ledgers are append-only (67_audit.sql): insert and read, never update, delete or truncate
grant select, insert on salesflow.llm_requests, salesflow.compliance_log to salesflow_api, salesflow_worker;
grant execute on function
salesflow.llm_price(text, text, timestamp with time zone),
salesflow.budget_period_start(salesflow.budget_period, timestamp with time zone),
salesflow.reserve_budget(uuid, uuid, text, numeric),
salesflow.settle_request(
    uuid, uuid, text, text, text, timestamp with time zone, salesflow.llm_status, integer, integer, integer,
    integer, uuid, text, text, integer, text, integer, uuid, text, text, text, text, boolean, uuid
),
salesflow.sweep_llm_reservations(uuid),
salesflow.subject_hash(uuid, text),
salesflow.assign_prompt_version(uuid, text, text),
salesflow.create_prompt_version(uuid, text, text, jsonb, jsonb, jsonb, uuid),
salesflow.set_prompt_label(uuid, text, text, integer, uuid),
salesflow.move_prompt_label(uuid, text, text, integer, uuid, text),
salesflow.render_prompt(uuid, text, text, jsonb),
salesflow.render_prompt_version(uuid, text, integer, jsonb),
salesflow.prompt_version_by_label(uuid, text, text),
salesflow.prompt_type_accepts(text, jsonb)
to salesflow_api, salesflow_worker;
-- registering a prompt moves its first production label, which reads the suite's runs and logs the move
grant select on salesflow.prompt_test_runs to salesflow_api, salesflow_worker;
grant select, insert on salesflow.prompt_label_moves to salesflow_api, salesflow_worker;
-- the `test_prompt` job (functions/handlers/test_prompt.py) syncs shipped cases and stores results
grant select, insert, update on salesflow.prompt_test_cases, salesflow.prompt_test_results to salesflow_worker;
grant update on salesflow.prompt_test_runs to salesflow_worker;
grant execute on function
salesflow.prompt_test_assertion_problems(jsonb),
salesflow.save_prompt_test_case(uuid, text, text, text, jsonb, jsonb, text, uuid),
salesflow.finish_prompt_test_run(uuid, uuid, text),
salesflow.prompt_test_report(uuid, uuid)
to salesflow_worker;
-- The assistant's drafts are stored in the transaction that settles the call (salesflow/gateway/
-- writing.py), as the ledger row is; every read, edit and approval goes through api RPCs as the caller.
grant select, insert on salesflow.ai_drafts to salesflow_api;

-- == salesflow_worker: what the jobs touch (functions/*.sql, the gateway's and the channels' queries,
-- and the invoker functions and triggers they reach) =============================================
grant usage on schema analytics to salesflow_worker;
grant select on
salesflow.companies, salesflow.deals, salesflow.engagement_events, salesflow.lead_attribute_defs,
salesflow.lead_scores, salesflow.lead_stage_changes, salesflow.org_members, salesflow.recommendation_rule_stats,
salesflow.recommendation_rules, salesflow.embeddable_texts, salesflow.lead_conversions, salesflow.lead_outcomes,
salesflow.schema_migrations
to salesflow_worker;
grant select, update on
salesflow.organizations, salesflow.activities, salesflow.channel_configs, salesflow.conversation_summaries,
salesflow.embedding_models, salesflow.erasure_requests, salesflow.job_schedules, salesflow.outbox,
salesflow.personal_data_catalog, salesflow.llm_feedback
to salesflow_worker;
grant select, insert on salesflow.ai_suggestions, salesflow.audit_retention_runs, salesflow.scoring_model_features
to salesflow_worker;
grant select, insert, update on
salesflow.ai_models, salesflow.ai_recommendations, salesflow.channel_identities, salesflow.conversation_turns,
salesflow.conversations, salesflow.lead_consents, salesflow.suppressions, salesflow.webhook_rejections
to salesflow_worker;
grant select, insert, update, delete on
salesflow.jobs, salesflow.leads, salesflow.messages, salesflow.embedding_queue, salesflow.webhook_inbox
to salesflow_worker;
grant select, insert, delete on salesflow.contact_patterns, salesflow.success_patterns to salesflow_worker;
grant execute on function
salesflow.active_embedding_model(),
salesflow.decay_key(real, interval, timestamp with time zone),
salesflow.not_found(text, uuid),
salesflow.keyword_hits(uuid, text, uuid, salesflow.channel, timestamp with time zone, timestamp with time zone, integer),
salesflow.ai_processing_allowed(uuid, uuid),
salesflow.apply_delivery_status(
    uuid, salesflow.channel, text, salesflow.outbox_status, timestamp with time zone, text
),
salesflow.apply_retention(),
salesflow.cancel_jobs(bigint[]),
salesflow.claim_jobs(text, text[], integer, interval),
salesflow.complete_jobs(text, bigint[], integer[]),
salesflow.cron_field(text, integer, integer),
salesflow.decide_scoring_model(uuid, uuid, boolean, text),
salesflow.effective_rules(uuid),
salesflow.embeddable_text(salesflow.embedding_source, uuid, uuid),
salesflow.embedding_index_name(text),
salesflow.enqueue_due_schedules(),
salesflow.erase_lead_data(uuid, uuid),
salesflow.erase_llm_traces(uuid, uuid),
salesflow.evaluate_recommendations(uuid, uuid[], timestamp with time zone),
salesflow.fail_job(text, bigint, integer, text, boolean, timestamp with time zone, interval, interval),
salesflow.finish_embedding_model(text),
salesflow.heartbeat_jobs(text, bigint[], interval),
salesflow.identifier_hash(text),
salesflow.is_date(text),
salesflow.is_opt_out(text),
salesflow.is_timezone(text),
salesflow.latest_lead_scores(uuid, uuid[]),
salesflow.lead_features(uuid, uuid[], timestamp with time zone[]),
salesflow.lead_identifiers(uuid, uuid),
salesflow.lead_responses(uuid, uuid[], timestamp with time zone),
salesflow.lead_segment(jsonb, salesflow.lead_source),
salesflow.may_contact(uuid, uuid, salesflow.channel),
salesflow.model_contributions(uuid, uuid, uuid[], timestamp with time zone[]),
salesflow.model_log_odds(uuid, uuid, uuid[], timestamp with time zone[]),
salesflow.next_cron_time(text, timestamp with time zone, text),
salesflow.next_interval_time(timestamp with time zone, interval, timestamp with time zone),
salesflow.normalize_address(salesflow.channel, text),
salesflow.normalize_email(text),
salesflow.normalize_phone(text),
salesflow.phone_timezone(text),
salesflow.purge_jobs(interval, interval),
salesflow.recommendation_candidates(uuid, uuid[], timestamp with time zone),
salesflow.record_opt_out(uuid, uuid, salesflow.channel, uuid),
salesflow.refresh_contact_patterns(uuid, integer),
salesflow.release_jobs(text, bigint[], integer[]),
salesflow.release_unknown_jobs(text, bigint[]),
salesflow.rescore_org(uuid),
salesflow.retry_dead(bigint[], text, text),
salesflow.retry_delay(integer, interval, interval),
salesflow.rule_priority_multiplier(integer, integer),
salesflow.score_band(real),
salesflow.stitch_sender(uuid, salesflow.channel, text, text, text, text, text),
salesflow.store_embeddings(
    text, uuid[], salesflow.embedding_source[], uuid[], timestamp with time zone[], text[], text[]
),
salesflow.sweep_expired_leases(),
salesflow.sweep_recommendations(timestamp with time zone, integer)
to salesflow_worker;

-- REFRESH MATERIALIZED VIEW needs the view's owner (PostgreSQL 17's MAINTAIN privilege is not
-- everywhere yet), so the refresh_view job asks this function. Only analytics' materialized views.
create or replace function salesflow.refresh_analytics_view(view_name text, concurrently boolean)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
    if not exists (
        select from pg_catalog.pg_matviews as v
        where v.schemaname = 'analytics' and v.matviewname = refresh_analytics_view.view_name
    ) then
        raise sqlstate '42P01' using message = pg_catalog.format(
            'analytics.%s is not a materialized view', refresh_analytics_view.view_name);
    end if;
    execute pg_catalog.format('refresh materialized view %s analytics.%I',
        case when refresh_analytics_view.concurrently then 'concurrently' else '' end,
        refresh_analytics_view.view_name);
end
$$;
comment on function salesflow.refresh_analytics_view(text, boolean) is
'Refresh one materialized view in analytics. security definer, justified: REFRESH needs the view''s '
'owner and the worker owns nothing; the name is checked against pg_matviews in analytics and quoted.';
revoke execute on function salesflow.refresh_analytics_view(text, boolean) from public;
grant execute on function salesflow.refresh_analytics_view(text, boolean) to salesflow_worker;

-- == the worker, for the jobs and triggers of lead intelligence, recommendations, memory and
-- sentiment (analyze_personality, propose_bant, monitor_scoring_models, extract_memory,
-- score_sentiment, refresh_contact_patterns; the statement triggers its writes fire) ============
grant select on
salesflow.ai_feature_flags, salesflow.disg_guidance, salesflow.calling_code_zones, salesflow.lead_health,
salesflow.deal_stage_changes, salesflow.playbooks, salesflow.playbook_steps, salesflow.recommendation_reactions,
salesflow.embedding_backlog
to salesflow_worker;
grant select, insert, update on
salesflow.bant_assessments, salesflow.personality_profiles, salesflow.memory_facts, salesflow.model_alerts,
salesflow.lead_score_history, salesflow.playbook_executions, salesflow.playbook_execution_steps
to salesflow_worker;
grant select, insert, update, delete on salesflow.contact_pattern_fits, salesflow.lead_channel_stats
to salesflow_worker;
grant execute on function
salesflow.advance_facts_cursor(uuid, uuid, timestamp with time zone, uuid, integer),
salesflow.advance_playbook(uuid, uuid, salesflow.playbook_step_status, timestamp with time zone),
salesflow.append_lead_channel_touches(uuid, uuid[], text[], salesflow.direction[], timestamptz[]),
salesflow.as_api_recommendation(salesflow.ai_recommendations, timestamp with time zone),
salesflow.attribute_name(text),
salesflow.conversion_status(salesflow.lifecycle_stage, boolean, boolean),
salesflow.decayed_priority(real, interval, timestamp with time zone, timestamp with time zone),
salesflow.disg_guidance_for(text, text),
salesflow.enqueue_lead_evaluation(uuid, uuid[]),
salesflow.evidence_text(text),
salesflow.feature_enabled(uuid, text, uuid, text),
salesflow.feature_label(text, text),
salesflow.finish_playbook_step_of(salesflow.ai_recommendations, text, timestamp with time zone),
salesflow.infer_value_type(text[]),
salesflow.lead_channel_touch_stats(uuid, uuid[]),
salesflow.like_anywhere(text),
salesflow.llm_registry(),
salesflow.model_card(uuid, uuid),
salesflow.model_live_metrics(uuid, uuid),
salesflow.monitor_scoring_models(uuid),
salesflow.normalize_domain(text),
salesflow.prior_probability(uuid),
salesflow.recommend_playbook_step(uuid, uuid, integer, timestamp with time zone),
salesflow.record_extracted_fact(
    uuid, uuid, salesflow.fact_category, text, uuid, text, real, text, text, bigint
),
salesflow.refresh_lead_channel_stats(uuid, uuid[]),
salesflow.replace_word(text, text, text),
salesflow.require_ai_feature(uuid, text, uuid, uuid),
salesflow.score_leads(uuid, uuid[]),
salesflow.sigmoid(double precision),
salesflow.store_bant_proposal(uuid, uuid, bigint, bigint, jsonb, boolean),
salesflow.store_personality_profile(
    uuid, uuid, bigint, bigint, jsonb, jsonb, double precision, text, boolean, text
),
salesflow.store_sentiments(uuid, jsonb),
salesflow.typed_value(text, text),
salesflow.visible_lead(uuid, uuid)
to salesflow_worker;

-- == the worker, for the insights dashboard's jobs (detect_anomalies, executive_summary) ==========
grant select on salesflow.llm_usage_daily to salesflow_worker;
grant select, insert on salesflow.insight_alerts, salesflow.executive_summaries to salesflow_worker;
grant execute on function
salesflow.insight_daily_metrics(uuid, date, date),
salesflow.insight_anomalies(uuid, integer, integer, double precision, date),
salesflow.record_insight_alerts(integer),
salesflow.executive_summary_figures(uuid, date),
salesflow.enqueue_executive_summaries(date)
to salesflow_worker;

-- == the worker, for stored predictions (issue 14): refresh_forecasts stores forecasts, erase_lead counts them
grant select, insert on salesflow.predictions to salesflow_worker;
grant select on salesflow.deal_stage_changes to salesflow_worker;
grant execute on function
salesflow.refresh_forecasts(bigint),
salesflow.store_forecast(uuid, integer, integer, timestamptz, bigint),
salesflow.compute_forecast(uuid, integer, integer, timestamptz),
salesflow.record_prediction(uuid, text, uuid, text, timestamptz, jsonb, jsonb, bigint),
salesflow.prediction_method_version(text),
salesflow.deals_as_of(uuid, timestamptz),
salesflow.deal_life_table(uuid, timestamptz),
salesflow.prediction_min_closed_deals(),
salesflow.open_deal_chances(uuid, timestamptz, integer, integer, uuid),
salesflow.pipeline_expectation(uuid, timestamptz, integer, integer),
salesflow.run_rate(uuid, timestamptz, integer, integer)
to salesflow_worker;

-- extract_memory records a fact through salesflow.record_extracted_fact, which calls
-- api.record_memory_fact (its evidence check) and that RPC's row type (14_api_row_types.sql);
-- found by tests/test_worker_grants.py
grant execute on function
api.record_memory_fact(uuid, uuid, salesflow.fact_category, text, uuid, text, real, text, uuid),
salesflow.api_memory_fact(salesflow.memory_facts)
to salesflow_worker;

-- == the worker, for listening (issue 14): transcribe_call and analyze_conversation ===========
grant select on salesflow.competitors to salesflow_worker;
grant select, update on salesflow.call_transcripts, salesflow.conversation_insights to salesflow_worker;
grant execute on function salesflow.recording_limits(), salesflow.clean_segments(jsonb) to salesflow_worker;
