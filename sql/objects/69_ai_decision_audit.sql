-- The AI decision audit (issue 14): for one lead, every stored AI output with what made it (the
-- prompt version and model of its logged call, or the scoring model, or the rule), when, for whom,
-- on which data (its inputs' identifiers) and its `llm_requests` row. Security invoker: each
-- store's own row-level security decides what the caller sees, so another organisation's member
-- gets no rows. Predictions (a deal's win probability, close date and stall risk; the churn risk
-- of the lead's account) appear as the RPCs stored them (salesflow.predictions, 88_stored_predictions.sql).

create or replace function salesflow.llm_request_summary(org_id uuid, request_id bigint) returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'id', r.id, 'created_at', r.created_at, 'task', r.task, 'feature', r.feature, 'provider', r.provider,
        'model', r.model, 'prompt_name', r.prompt_name, 'prompt_version', r.prompt_version,
        'experiment_label', r.experiment_label, 'status', r.status, 'input_tokens', r.input_tokens,
        'output_tokens', r.output_tokens, 'cost', r.cost
    )
    from salesflow.llm_requests as r
    where r.org_id = llm_request_summary.org_id and r.id = llm_request_summary.request_id
$$;

comment on function salesflow.llm_request_summary(uuid, bigint) is
'The audit''s view of one logged gateway call: task, feature, provider, model, prompt version, status, cost.';

create or replace function api.get_ai_decision_audit(org_id uuid, lead_id uuid)
returns table (
    kind text, decision_id text, decided_at timestamptz, made_by jsonb, decision jsonb, inputs jsonb,
    request jsonb, offline_model boolean, status text, reviewed_by uuid
)
language sql
stable
security invoker
set search_path = ''
as $$
    with d as (
        select 'suggestion.' || s.kind as kind, s.id::text as decision_id, s.created_at as decided_at,
               s.request_id, null::jsonb as made_by, s.content as decision, s.inputs, s.offline_model,
               s.status::text as status, s.reviewed_by
        from salesflow.ai_suggestions as s
        where s.org_id = get_ai_decision_audit.org_id and s.lead_id = get_ai_decision_audit.lead_id
        union all
        select 'draft.' || a.kind, a.id::text, a.created_at, a.request_id,
               pg_catalog.jsonb_build_object('prompt_name', a.prompt_name, 'prompt_version', a.prompt_version,
                                             'requested_by', a.created_by),
               pg_catalog.jsonb_build_object('subject', a.subject, 'picked_variant', a.picked_variant),
               a.inputs, a.offline_model, a.status, a.reviewed_by
        from salesflow.ai_drafts as a
        where a.org_id = get_ai_decision_audit.org_id and a.lead_id = get_ai_decision_audit.lead_id
        union all
        select 'memory_fact', f.id::text, f.created_at, f.request_id,
               pg_catalog.jsonb_build_object('extracted_by', f.extracted_by),
               pg_catalog.jsonb_build_object('fact_key', f.fact_key, 'fact', f.fact, 'confidence', f.confidence),
               pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                   'messages', pg_catalog.jsonb_build_array(f.message_id), 'suggestion_id', f.suggestion_id
               )),
               f.extracted_by like 'rules:%', case when f.valid_to is null then 'current' else 'superseded' end,
               null
        from salesflow.memory_facts as f
        where f.org_id = get_ai_decision_audit.org_id and f.lead_id = get_ai_decision_audit.lead_id
        union all
        select 'summary', c.lead_id::text || ':' || c.version, c.updated_at, c.request_id,
               pg_catalog.jsonb_build_object('model', c.model),
               pg_catalog.jsonb_build_object('summary', c.summary, 'covered_messages', c.covered_messages),
               pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                   'messages_until', c.covered_message_id, 'covered_until', c.covered_until
               )),
               c.offline_model, 'current', null
        from salesflow.conversation_summaries as c
        where c.org_id = get_ai_decision_audit.org_id and c.lead_id = get_ai_decision_audit.lead_id
        union all
        select 'bant_proposal', b.id::text, b.assessed_at, b.request_id,
               pg_catalog.jsonb_build_object('method', b.method, 'job_id', b.job_id),
               pg_catalog.jsonb_build_object('total_score', b.total_score, 'traffic_light', b.traffic_light,
                                             'notes', b.notes),
               b.inputs, b.offline_model, b.status::text, b.reviewed_by
        from salesflow.bant_assessments as b
        where b.org_id = get_ai_decision_audit.org_id and b.lead_id = get_ai_decision_audit.lead_id
          and b.method = 'ai'
        union all
        select 'disg_profile', p.id::text, p.created_at, p.request_id,
               pg_catalog.jsonb_build_object('source', p.source, 'job_id', p.job_id),
               pg_catalog.jsonb_build_object('dominant_type', p.dominant_type, 'confidence', p.confidence),
               p.inputs, p.offline_model, 'current', null
        from salesflow.personality_profiles as p
        where p.org_id = get_ai_decision_audit.org_id and p.lead_id = get_ai_decision_audit.lead_id
        union all
        select 'score', sc.lead_id::text || ':' || sc.scored_at, sc.scored_at, null,
               pg_catalog.jsonb_build_object('model_id', m.id, 'model', m.name, 'model_version', m.version,
                                             'learner', m.learner),
               pg_catalog.jsonb_build_object('score', sc.score, 'probability', sc.probability),
               pg_catalog.jsonb_build_object('lead', sc.lead_id), false, m.status::text, null
        from salesflow.lead_scores as sc
        left join salesflow.ai_models as m on m.org_id = sc.org_id and m.id = sc.model_id
        where sc.org_id = get_ai_decision_audit.org_id and sc.lead_id = get_ai_decision_audit.lead_id
        union all
        select 'recommendation', r.id::text, r.created_at, null,
               pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                   'source', r.source, 'rule_key', r.rule_key, 'rule_version', r.rule_version,
                   'score_model', r.score_model
               )),
               pg_catalog.jsonb_build_object('action_type', r.action_type, 'reason', r.reason),
               pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                   'evidence', r.evidence, 'suggestion_id', r.suggestion_id
               )),
               false, r.status::text, r.status_changed_by
        from salesflow.ai_recommendations as r
        where r.org_id = get_ai_decision_audit.org_id and r.lead_id = get_ai_decision_audit.lead_id
        union all
        select 'prediction.' || p.kind, p.id::text, p.created_at, null,
               pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                   'method', p.method, 'method_version', p.method_version, 'source', p.source,
                   'requested_by', p.requested_by, 'job_id', p.job_id
               )),
               p.result, p.inputs || pg_catalog.jsonb_build_object('as_of', p.as_of), false, 'computed', null
        from salesflow.predictions as p
        where p.org_id = get_ai_decision_audit.org_id and p.lead_id = get_ai_decision_audit.lead_id
        union all
        -- the churn risk of the lead's account
        select 'prediction.' || p.kind, p.id::text, p.created_at, null,
               pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                   'method', p.method, 'method_version', p.method_version, 'source', p.source,
                   'requested_by', p.requested_by, 'job_id', p.job_id
               )),
               p.result, p.inputs || pg_catalog.jsonb_build_object('as_of', p.as_of), false, 'computed', null
        from salesflow.predictions as p
        inner join salesflow.leads as l on l.org_id = p.org_id and l.company_id = p.company_id
        where p.org_id = get_ai_decision_audit.org_id and l.id = get_ai_decision_audit.lead_id
    )
    select
        d.kind, d.decision_id, d.decided_at,
        coalesce(d.made_by, '{}') || pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
            'prompt_name', q -> 'prompt_name', 'prompt_version', q -> 'prompt_version',
            'provider', q -> 'provider', 'model', coalesce(d.made_by -> 'model', q -> 'model')
        )),
        d.decision, d.inputs, q, d.offline_model, d.status, d.reviewed_by
    from d
    left join lateral (select salesflow.llm_request_summary(get_ai_decision_audit.org_id, d.request_id) as q) as l
        on true
    order by d.decided_at, d.kind, d.decision_id
$$;

comment on function api.get_ai_decision_audit(uuid, uuid) is
'The AI decision audit of one lead: every stored AI output (suggestion, draft, memory fact, summary, BANT '
'proposal, DISG profile, score, recommendation, stored prediction of its deals and account) with what made it (prompt version and model of its logged '
'call, scoring model or rule), when, its inputs'' identifiers and its llm_requests row; under RLS.';

revoke execute on function
salesflow.llm_request_summary(uuid, bigint),
api.get_ai_decision_audit(uuid, uuid)
from public;
grant execute on function
salesflow.llm_request_summary(uuid, bigint),
api.get_ai_decision_audit(uuid, uuid)
to authenticated, service_role;
