-- Queries the AI gateway runs on its own (database owner) connection, by name.

-- name: org_ai_settings
select coalesce(o.settings -> 'ai', '{}') as settings
from salesflow.organizations as o
where o.id = %(org_id)s;

-- name: sync_model
-- The configured catalogue entry, so the database prices calls as the configuration does.
insert into salesflow.llm_models (
    provider, model, effective_from, context_window, input_price_per_mtok, output_price_per_mtok
)
values (
    %(provider)s, %(model)s, %(effective_from)s, %(context_window)s, %(input_price_per_mtok)s,
    %(output_price_per_mtok)s
)
on conflict (provider, model, effective_from) do update
set context_window = excluded.context_window,
    input_price_per_mtok = excluded.input_price_per_mtok,
    output_price_per_mtok = excluded.output_price_per_mtok;

-- name: reserve_budget
select salesflow.reserve_budget(%(org_id)s, %(user_id)s::uuid, %(feature)s::text, %(estimated_cost)s::numeric) as reservation_id;

-- name: settle_request
select salesflow.settle_request(
    reservation_id => %(reservation_id)s::uuid,
    org_id => %(org_id)s,
    task => %(task)s,
    provider => %(provider)s,
    model => %(model)s,
    started_at => %(started_at)s::timestamptz,
    status => %(status)s::salesflow.llm_status,
    input_tokens => %(input_tokens)s,
    output_tokens => %(output_tokens)s,
    latency_ms => %(latency_ms)s::integer,
    time_to_first_token_ms => %(time_to_first_token_ms)s::integer,
    user_id => %(user_id)s::uuid,
    feature => %(feature)s::text,
    error => %(error)s::text,
    fallback_hops => %(fallback_hops)s,
    prompt_name => %(prompt_name)s::text,
    prompt_version => %(prompt_version)s::integer,
    experiment_id => %(experiment_id)s::uuid,
    experiment_label => %(experiment_label)s::text,
    subject_id => %(subject_id)s::text,
    baseline_provider => %(baseline_provider)s::text,
    baseline_model => %(baseline_model)s::text,
    usage_estimated => %(usage_estimated)s,
    conversation_id => %(conversation_id)s::uuid
) as request_id;

-- name: assign_prompt_version
select a.version, a.label, a.experiment_id
from salesflow.assign_prompt_version(%(org_id)s, %(name)s, %(subject_id)s) as a;

-- name: prompt_version
select v.version, v.template, v.variables, v.model_config, v.output_schema
from salesflow.prompts as p
join salesflow.prompt_versions as v on v.org_id = p.org_id and v.prompt_id = p.id
where p.org_id = %(org_id)s and p.name = %(name)s and v.version = %(version)s;

-- name: render_prompt_version
-- the version the assignment (or a test suite) chose, not whatever the label points at by now
select salesflow.render_prompt_version(%(org_id)s, %(name)s, %(version)s, %(variables)s) as rendered;

-- name: register_prompt
select v.version
from salesflow.create_prompt_version(
    %(org_id)s, %(name)s, %(template)s, %(variables)s, %(model_config)s, %(output_schema)s::jsonb
) as v;

-- name: label_prompt
select salesflow.set_prompt_label(%(org_id)s, %(name)s, 'production', %(version)s);

-- name: log_compliance
insert into salesflow.compliance_log (
    org_id, request_id, user_id, task, purpose, passed, findings, rules_version, text_sha256, action
)
values (
    %(org_id)s, %(request_id)s::bigint, %(user_id)s::uuid, %(task)s, %(purpose)s, %(passed)s, %(findings)s, %(rules_version)s,
    %(text_sha256)s, %(action)s
)
returning id;

-- name: lead_context
-- What the AI may know about a lead: no addresses or numbers (those would only be redacted).
select
    l.first_name, l.last_name, l.title, l.lifecycle_stage::text as stage, l.source::text as source, l.language,
    c.name as company, c.industry,
    -- the latest DISG profile, for drafting and chat prompts: a hypothesis, and it says how strong
    (
        select
            'DISG ' || p.dominant_type || ' (hypothesis from ' || p.message_count || ' messages, confidence '
            || p.confidence || case when p.little_evidence then ', little evidence' else '' end || ')'
        from salesflow.personality_profiles as p
        where p.org_id = l.org_id and p.lead_id = l.id
        order by p.created_at desc, p.id desc
        limit 1
    ) as communication_style
from salesflow.leads as l
left join salesflow.companies as c on c.org_id = l.org_id and c.id = l.company_id
where l.org_id = %(org_id)s and l.id = %(lead_id)s;

-- name: store_ai_draft
-- The assistant's draft, in the transaction that logs the call; the prompt version comes from the log row.
insert into salesflow.ai_drafts (
    org_id, lead_id, kind, language, tone, purpose, content, subject, body, source_message_id, request_id,
    prompt_name, prompt_version, inputs, offline_model, created_by
)
select
    %(org_id)s, %(lead_id)s, %(kind)s, %(language)s, %(tone)s::text, %(purpose)s::text, %(content)s,
    %(subject)s::text, %(body)s::text, %(source_message_id)s::uuid, q.id, q.prompt_name, q.prompt_version,
    %(inputs)s, %(offline_model)s, %(user_id)s::uuid
from salesflow.llm_requests as q
where q.org_id = %(org_id)s and q.id = %(request_id)s
returning *;
