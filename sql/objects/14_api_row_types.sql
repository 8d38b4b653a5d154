-- The API contract, continued (DESIGN.md decision 11; 11_api_contract.sql for leads, companies,
-- deals, activities and messages): the row types of organisations, members, channel identities,
-- suggestions, the outbox, drafts, memory facts, feedback, prompt versions, merges, erasure requests,
-- consents, competitors and conversation insights as the RPCs return them. Each view names its
-- columns one by one, so a column added to a table for internal use changes no API output until a
-- view here names it (appended at the end: `create or replace view` may append, never drop or
-- reorder). No role is granted the views;
-- clients read rows through the RPCs, where RLS decides.

create or replace view api.organizations with (security_invoker = on) as
select
    o.id,
    o.name,
    o.slug,
    o.settings,
    o.created_at
from salesflow.organizations as o;
comment on view api.organizations is 'The API row type of an organisation (what its RPCs return); read through them.';
revoke all on api.organizations from public, anon, authenticated, service_role;
create or replace function salesflow.api_organization(r salesflow.organizations)
returns api.organizations
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_organization.r.id,
        api_organization.r.name,
        api_organization.r.slug,
        api_organization.r.settings,
        api_organization.r.created_at
$$;
comment on function salesflow.api_organization(salesflow.organizations) is 'A salesflow.organizations row as api.organizations: the columns the API shows.';
revoke execute on function salesflow.api_organization(salesflow.organizations) from public;
grant execute on function salesflow.api_organization(salesflow.organizations) to authenticated, service_role;

create or replace view api.org_members with (security_invoker = on) as
select
    m.org_id,
    m.user_id,
    m.role,
    m.display_name,
    m.email,
    m.created_at
from salesflow.org_members as m;
comment on view api.org_members is 'The API row type of an organisation member (what its RPCs return); read through them.';
revoke all on api.org_members from public, anon, authenticated, service_role;
create or replace function salesflow.api_org_member(r salesflow.org_members)
returns api.org_members
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_org_member.r.org_id,
        api_org_member.r.user_id,
        api_org_member.r.role,
        api_org_member.r.display_name,
        api_org_member.r.email,
        api_org_member.r.created_at
$$;
comment on function salesflow.api_org_member(salesflow.org_members) is 'A salesflow.org_members row as api.org_members: the columns the API shows.';
revoke execute on function salesflow.api_org_member(salesflow.org_members) from public;
grant execute on function salesflow.api_org_member(salesflow.org_members) to authenticated, service_role;

create or replace view api.channel_identities with (security_invoker = on) as
select
    ci.org_id,
    ci.channel,
    ci.address,
    ci.lead_id,
    ci.verified,
    ci.created_at
from salesflow.channel_identities as ci;
comment on view api.channel_identities is 'The API row type of a channel identity (an address linked to a lead) (what its RPCs return); read through them.';
revoke all on api.channel_identities from public, anon, authenticated, service_role;
create or replace function salesflow.api_channel_identity(r salesflow.channel_identities)
returns api.channel_identities
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_channel_identity.r.org_id,
        api_channel_identity.r.channel,
        api_channel_identity.r.address,
        api_channel_identity.r.lead_id,
        api_channel_identity.r.verified,
        api_channel_identity.r.created_at
$$;
comment on function salesflow.api_channel_identity(salesflow.channel_identities) is 'A salesflow.channel_identities row as api.channel_identities: the columns the API shows.';
revoke execute on function salesflow.api_channel_identity(salesflow.channel_identities) from public;
grant execute on function salesflow.api_channel_identity(salesflow.channel_identities) to authenticated, service_role;

create or replace view api.ai_suggestions with (security_invoker = on) as
select
    s.org_id,
    s.id,
    s.lead_id,
    s.kind,
    s.content,
    s.request_id,
    s.job_id,
    s.offline_model,
    s.status,
    s.reviewed_by,
    s.reviewed_at,
    s.created_at
from salesflow.ai_suggestions as s;
comment on view api.ai_suggestions is 'The API row type of an AI suggestion (what its RPCs return); read through them.';
revoke all on api.ai_suggestions from public, anon, authenticated, service_role;
create or replace function salesflow.api_ai_suggestion(r salesflow.ai_suggestions)
returns api.ai_suggestions
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_ai_suggestion.r.org_id,
        api_ai_suggestion.r.id,
        api_ai_suggestion.r.lead_id,
        api_ai_suggestion.r.kind,
        api_ai_suggestion.r.content,
        api_ai_suggestion.r.request_id,
        api_ai_suggestion.r.job_id,
        api_ai_suggestion.r.offline_model,
        api_ai_suggestion.r.status,
        api_ai_suggestion.r.reviewed_by,
        api_ai_suggestion.r.reviewed_at,
        api_ai_suggestion.r.created_at
$$;
comment on function salesflow.api_ai_suggestion(salesflow.ai_suggestions) is 'A salesflow.ai_suggestions row as api.ai_suggestions: the columns the API shows.';
revoke execute on function salesflow.api_ai_suggestion(salesflow.ai_suggestions) from public;
grant execute on function salesflow.api_ai_suggestion(salesflow.ai_suggestions) to authenticated, service_role;

create or replace view api.outbox with (security_invoker = on) as
select
    o.org_id,
    o.id,
    o.lead_id,
    o.channel,
    o.to_address,
    o.subject,
    o.body,
    o.ai_generated,
    o.created_by,
    o.status,
    o.approved_by,
    o.approval_rule,
    o.approved_at,
    o.idempotency_key,
    o.external_id,
    o.thread_id,
    o.attempts,
    o.last_error,
    o.status_at,
    o.created_at,
    o.updated_at
from salesflow.outbox as o;
comment on view api.outbox is 'The API row type of an outbound message (what its RPCs return); read through them.';
revoke all on api.outbox from public, anon, authenticated, service_role;
create or replace function salesflow.api_outbox_message(r salesflow.outbox)
returns api.outbox
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_outbox_message.r.org_id,
        api_outbox_message.r.id,
        api_outbox_message.r.lead_id,
        api_outbox_message.r.channel,
        api_outbox_message.r.to_address,
        api_outbox_message.r.subject,
        api_outbox_message.r.body,
        api_outbox_message.r.ai_generated,
        api_outbox_message.r.created_by,
        api_outbox_message.r.status,
        api_outbox_message.r.approved_by,
        api_outbox_message.r.approval_rule,
        api_outbox_message.r.approved_at,
        api_outbox_message.r.idempotency_key,
        api_outbox_message.r.external_id,
        api_outbox_message.r.thread_id,
        api_outbox_message.r.attempts,
        api_outbox_message.r.last_error,
        api_outbox_message.r.status_at,
        api_outbox_message.r.created_at,
        api_outbox_message.r.updated_at
$$;
comment on function salesflow.api_outbox_message(salesflow.outbox) is 'A salesflow.outbox row as api.outbox: the columns the API shows.';
revoke execute on function salesflow.api_outbox_message(salesflow.outbox) from public;
grant execute on function salesflow.api_outbox_message(salesflow.outbox) to authenticated, service_role;

create or replace view api.ai_drafts with (security_invoker = on) as
select
    d.org_id,
    d.id,
    d.lead_id,
    d.kind,
    d.status,
    d.language,
    d.tone,
    d.purpose,
    d.content,
    d.subject,
    d.body,
    d.source_message_id,
    d.picked_variant,
    d.picked_by,
    d.picked_at,
    d.request_id,
    d.prompt_name,
    d.prompt_version,
    d.inputs,
    d.offline_model,
    d.created_by,
    d.edited_by,
    d.edited_at,
    d.reviewed_by,
    d.reviewed_at,
    d.outbox_id,
    d.created_at
from salesflow.ai_drafts as d;
comment on view api.ai_drafts is 'The API row type of an AI draft (what its RPCs return); read through them.';
revoke all on api.ai_drafts from public, anon, authenticated, service_role;
create or replace function salesflow.api_ai_draft(r salesflow.ai_drafts)
returns api.ai_drafts
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_ai_draft.r.org_id,
        api_ai_draft.r.id,
        api_ai_draft.r.lead_id,
        api_ai_draft.r.kind,
        api_ai_draft.r.status,
        api_ai_draft.r.language,
        api_ai_draft.r.tone,
        api_ai_draft.r.purpose,
        api_ai_draft.r.content,
        api_ai_draft.r.subject,
        api_ai_draft.r.body,
        api_ai_draft.r.source_message_id,
        api_ai_draft.r.picked_variant,
        api_ai_draft.r.picked_by,
        api_ai_draft.r.picked_at,
        api_ai_draft.r.request_id,
        api_ai_draft.r.prompt_name,
        api_ai_draft.r.prompt_version,
        api_ai_draft.r.inputs,
        api_ai_draft.r.offline_model,
        api_ai_draft.r.created_by,
        api_ai_draft.r.edited_by,
        api_ai_draft.r.edited_at,
        api_ai_draft.r.reviewed_by,
        api_ai_draft.r.reviewed_at,
        api_ai_draft.r.outbox_id,
        api_ai_draft.r.created_at
$$;
comment on function salesflow.api_ai_draft(salesflow.ai_drafts) is 'A salesflow.ai_drafts row as api.ai_drafts: the columns the API shows.';
revoke execute on function salesflow.api_ai_draft(salesflow.ai_drafts) from public;
grant execute on function salesflow.api_ai_draft(salesflow.ai_drafts) to authenticated, service_role;

create or replace view api.memory_facts with (security_invoker = on) as
select
    f.org_id,
    f.id,
    f.lead_id,
    f.category,
    f.fact_key,
    f.fact,
    f.message_id,
    f.quote,
    f.confidence,
    f.valid_from,
    f.valid_to,
    f.superseded_by,
    f.suggestion_id,
    f.created_by,
    f.created_at,
    f.extracted_by,
    f.request_id
from salesflow.memory_facts as f;
comment on view api.memory_facts is 'The API row type of a memory fact (what its RPCs return); read through them.';
revoke all on api.memory_facts from public, anon, authenticated, service_role;
create or replace function salesflow.api_memory_fact(r salesflow.memory_facts)
returns api.memory_facts
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_memory_fact.r.org_id,
        api_memory_fact.r.id,
        api_memory_fact.r.lead_id,
        api_memory_fact.r.category,
        api_memory_fact.r.fact_key,
        api_memory_fact.r.fact,
        api_memory_fact.r.message_id,
        api_memory_fact.r.quote,
        api_memory_fact.r.confidence,
        api_memory_fact.r.valid_from,
        api_memory_fact.r.valid_to,
        api_memory_fact.r.superseded_by,
        api_memory_fact.r.suggestion_id,
        api_memory_fact.r.created_by,
        api_memory_fact.r.created_at,
        api_memory_fact.r.extracted_by,
        api_memory_fact.r.request_id
$$;
comment on function salesflow.api_memory_fact(salesflow.memory_facts) is 'A salesflow.memory_facts row as api.memory_facts: the columns the API shows.';
revoke execute on function salesflow.api_memory_fact(salesflow.memory_facts) from public;
grant execute on function salesflow.api_memory_fact(salesflow.memory_facts) to authenticated, service_role;

create or replace view api.llm_feedback with (security_invoker = on) as
select
    f.org_id,
    f.id,
    f.request_id,
    f.user_id,
    f.rating,
    f.outcome,
    f.comment,
    f.created_at
from salesflow.llm_feedback as f;
comment on view api.llm_feedback is 'The API row type of a feedback row on an LLM request (what its RPCs return); read through them.';
revoke all on api.llm_feedback from public, anon, authenticated, service_role;
create or replace function salesflow.api_llm_feedback(r salesflow.llm_feedback)
returns api.llm_feedback
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_llm_feedback.r.org_id,
        api_llm_feedback.r.id,
        api_llm_feedback.r.request_id,
        api_llm_feedback.r.user_id,
        api_llm_feedback.r.rating,
        api_llm_feedback.r.outcome,
        api_llm_feedback.r.comment,
        api_llm_feedback.r.created_at
$$;
comment on function salesflow.api_llm_feedback(salesflow.llm_feedback) is 'A salesflow.llm_feedback row as api.llm_feedback: the columns the API shows.';
revoke execute on function salesflow.api_llm_feedback(salesflow.llm_feedback) from public;
grant execute on function salesflow.api_llm_feedback(salesflow.llm_feedback) to authenticated, service_role;

create or replace view api.prompt_versions with (security_invoker = on) as
select
    v.org_id,
    v.prompt_id,
    v.version,
    v.template,
    v.variables,
    v.model_config,
    v.output_schema,
    v.created_by,
    v.created_at
from salesflow.prompt_versions as v;
comment on view api.prompt_versions is 'The API row type of a prompt version (what its RPCs return); read through them.';
revoke all on api.prompt_versions from public, anon, authenticated, service_role;
create or replace function salesflow.api_prompt_version(r salesflow.prompt_versions)
returns api.prompt_versions
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_prompt_version.r.org_id,
        api_prompt_version.r.prompt_id,
        api_prompt_version.r.version,
        api_prompt_version.r.template,
        api_prompt_version.r.variables,
        api_prompt_version.r.model_config,
        api_prompt_version.r.output_schema,
        api_prompt_version.r.created_by,
        api_prompt_version.r.created_at
$$;
comment on function salesflow.api_prompt_version(salesflow.prompt_versions) is 'A salesflow.prompt_versions row as api.prompt_versions: the columns the API shows.';
revoke execute on function salesflow.api_prompt_version(salesflow.prompt_versions) from public;
grant execute on function salesflow.api_prompt_version(salesflow.prompt_versions) to authenticated, service_role;

create or replace view api.lead_merges with (security_invoker = on) as
select
    m.org_id,
    m.id,
    m.keep_id,
    m.merge_id,
    m.merged_lead,
    m.moved,
    m.merged_by,
    m.merged_at,
    m.undone_at
from salesflow.lead_merges as m;
comment on view api.lead_merges is 'The API row type of a lead merge (what its RPCs return); read through them.';
revoke all on api.lead_merges from public, anon, authenticated, service_role;
create or replace function salesflow.api_lead_merge(r salesflow.lead_merges)
returns api.lead_merges
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_lead_merge.r.org_id,
        api_lead_merge.r.id,
        api_lead_merge.r.keep_id,
        api_lead_merge.r.merge_id,
        api_lead_merge.r.merged_lead,
        api_lead_merge.r.moved,
        api_lead_merge.r.merged_by,
        api_lead_merge.r.merged_at,
        api_lead_merge.r.undone_at
$$;
comment on function salesflow.api_lead_merge(salesflow.lead_merges) is 'A salesflow.lead_merges row as api.lead_merges: the columns the API shows.';
revoke execute on function salesflow.api_lead_merge(salesflow.lead_merges) from public;
grant execute on function salesflow.api_lead_merge(salesflow.lead_merges) to authenticated, service_role;

create or replace view api.erasure_requests with (security_invoker = on) as
select
    e.org_id,
    e.id,
    e.lead_id,
    e.lead_hash,
    e.reason_sha256,
    e.requested_by,
    e.status,
    e.counts,
    e.requested_at,
    e.finished_at
from salesflow.erasure_requests as e;
comment on view api.erasure_requests is 'The API row type of an erasure request (what its RPCs return); read through them.';
revoke all on api.erasure_requests from public, anon, authenticated, service_role;
create or replace function salesflow.api_erasure_request(r salesflow.erasure_requests)
returns api.erasure_requests
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_erasure_request.r.org_id,
        api_erasure_request.r.id,
        api_erasure_request.r.lead_id,
        api_erasure_request.r.lead_hash,
        api_erasure_request.r.reason_sha256,
        api_erasure_request.r.requested_by,
        api_erasure_request.r.status,
        api_erasure_request.r.counts,
        api_erasure_request.r.requested_at,
        api_erasure_request.r.finished_at
$$;
comment on function salesflow.api_erasure_request(salesflow.erasure_requests) is 'A salesflow.erasure_requests row as api.erasure_requests: the columns the API shows.';
revoke execute on function salesflow.api_erasure_request(salesflow.erasure_requests) from public;
grant execute on function salesflow.api_erasure_request(salesflow.erasure_requests) to authenticated, service_role;

create or replace view api.lead_consents with (security_invoker = on) as
select
    c.org_id,
    c.lead_id,
    c.channel,
    c.may_contact,
    c.ai_processing,
    c.source,
    c.evidence_message_id,
    c.updated_by,
    c.updated_at
from salesflow.lead_consents as c;
comment on view api.lead_consents is 'The API row type of the consent of a lead for a channel (what its RPCs return); read through them.';
revoke all on api.lead_consents from public, anon, authenticated, service_role;
create or replace function salesflow.api_lead_consent(r salesflow.lead_consents)
returns api.lead_consents
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_lead_consent.r.org_id,
        api_lead_consent.r.lead_id,
        api_lead_consent.r.channel,
        api_lead_consent.r.may_contact,
        api_lead_consent.r.ai_processing,
        api_lead_consent.r.source,
        api_lead_consent.r.evidence_message_id,
        api_lead_consent.r.updated_by,
        api_lead_consent.r.updated_at
$$;
comment on function salesflow.api_lead_consent(salesflow.lead_consents) is 'A salesflow.lead_consents row as api.lead_consents: the columns the API shows.';
revoke execute on function salesflow.api_lead_consent(salesflow.lead_consents) from public;
grant execute on function salesflow.api_lead_consent(salesflow.lead_consents) to authenticated, service_role;

-- Before the contract, the RPCs of these tables returned the tables' own row types, which
-- `create or replace` cannot change: drop any api function that still returns a row type of the
-- salesflow schema (once, on the first deploy after; a no-op afterwards), and its object file
-- creates it again with its api row type.
do $$
declare
    fn regprocedure;
begin
    for fn in
        select p.oid::regprocedure from pg_catalog.pg_proc as p
        join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
        join pg_catalog.pg_type as t on t.oid = p.prorettype
        where n.nspname = 'api' and t.typtype = 'c' and t.typnamespace = 'salesflow'::regnamespace
    loop
        execute pg_catalog.format('drop function %s', fn);
    end loop;
end
$$;

create or replace view api.competitors with (security_invoker = on) as
select
    x.org_id,
    x.id,
    x.name,
    x.aliases,
    x.created_by,
    x.created_at
from salesflow.competitors as x;
comment on view api.competitors is 'The API row type of a competitor (what its RPCs return); read through them.';
revoke all on api.competitors from public, anon, authenticated, service_role;
create or replace function salesflow.api_competitor(r salesflow.competitors)
returns api.competitors
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_competitor.r.org_id,
        api_competitor.r.id,
        api_competitor.r.name,
        api_competitor.r.aliases,
        api_competitor.r.created_by,
        api_competitor.r.created_at
$$;
comment on function salesflow.api_competitor(salesflow.competitors) is 'A salesflow.competitors row as api.competitors: the columns the API shows.';
revoke execute on function salesflow.api_competitor(salesflow.competitors) from public;
grant execute on function salesflow.api_competitor(salesflow.competitors) to authenticated, service_role;

create or replace view api.conversation_insights with (security_invoker = on) as
select
    x.org_id,
    x.id,
    x.activity_id,
    x.lead_id,
    x.status,
    x.error,
    x.requested_method,
    x.method,
    x.language,
    x.summary,
    x.topics,
    x.sentiment,
    x.action_items,
    x.key_moments,
    x.objections,
    x.competitor_mentions,
    x.coaching,
    x.baseline_version,
    x.prompt_name,
    x.prompt_version,
    x.request_id,
    x.model,
    x.offline_model,
    x.inputs,
    x.requested_by,
    x.created_at,
    x.completed_at
from salesflow.conversation_insights as x;
comment on view api.conversation_insights is 'The API row type of a conversation analysis (what its RPCs return); read through them.';
revoke all on api.conversation_insights from public, anon, authenticated, service_role;
create or replace function salesflow.api_conversation_insight(r salesflow.conversation_insights)
returns api.conversation_insights
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_conversation_insight.r.org_id,
        api_conversation_insight.r.id,
        api_conversation_insight.r.activity_id,
        api_conversation_insight.r.lead_id,
        api_conversation_insight.r.status,
        api_conversation_insight.r.error,
        api_conversation_insight.r.requested_method,
        api_conversation_insight.r.method,
        api_conversation_insight.r.language,
        api_conversation_insight.r.summary,
        api_conversation_insight.r.topics,
        api_conversation_insight.r.sentiment,
        api_conversation_insight.r.action_items,
        api_conversation_insight.r.key_moments,
        api_conversation_insight.r.objections,
        api_conversation_insight.r.competitor_mentions,
        api_conversation_insight.r.coaching,
        api_conversation_insight.r.baseline_version,
        api_conversation_insight.r.prompt_name,
        api_conversation_insight.r.prompt_version,
        api_conversation_insight.r.request_id,
        api_conversation_insight.r.model,
        api_conversation_insight.r.offline_model,
        api_conversation_insight.r.inputs,
        api_conversation_insight.r.requested_by,
        api_conversation_insight.r.created_at,
        api_conversation_insight.r.completed_at
$$;
comment on function salesflow.api_conversation_insight(salesflow.conversation_insights) is 'A salesflow.conversation_insights row as api.conversation_insights: the columns the API shows.';
revoke execute on function salesflow.api_conversation_insight(salesflow.conversation_insights) from public;
grant execute on function salesflow.api_conversation_insight(salesflow.conversation_insights) to authenticated, service_role;
