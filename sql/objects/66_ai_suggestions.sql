-- AI suggestions: asked for by a member, produced by a worker job through the AI gateway, and
-- reviewed by a member. Nothing here sends, schedules or changes anything on the model's word.

alter table salesflow.ai_suggestions enable row level security;

drop policy if exists ai_suggestions_select on salesflow.ai_suggestions;
create policy ai_suggestions_select on salesflow.ai_suggestions for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

-- reps, admins and owners review; analysts only read
drop policy if exists ai_suggestions_update on salesflow.ai_suggestions;
create policy ai_suggestions_update on salesflow.ai_suggestions for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

revoke all on salesflow.ai_suggestions from anon, authenticated, service_role;
grant select, update on salesflow.ai_suggestions to authenticated, service_role;

-- Queue the job that makes a suggestion for a lead. Security definer because app roles may not
-- touch the queue; it checks membership itself, and the lead through the caller's RLS first.
create or replace function api.request_ai_suggestion(
    org_id uuid, lead_id uuid, kind salesflow.suggestion_kind, language text default 'en'
)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform salesflow.check_ai_request(
        request_ai_suggestion.org_id, request_ai_suggestion.lead_id, request_ai_suggestion.language, 'suggestions'
    );
    perform salesflow.require_ai_feature(request_ai_suggestion.org_id, 'suggestions', request_ai_suggestion.lead_id);
    -- while one is pending or running for the lead and kind, asking again returns the same job
    -- (and does not make the running one run again: it reads the lead when it starts)
    return salesflow.enqueue(
        'ai_suggest',
        pg_catalog.jsonb_build_object(
            'lead_id', request_ai_suggestion.lead_id, 'kind', request_ai_suggestion.kind,
            'language', request_ai_suggestion.language, 'user_id', (select auth.uid())
        ),
        org_id => request_ai_suggestion.org_id,
        idempotency_key => pg_catalog.format('ai_suggest:%s:%s', request_ai_suggestion.lead_id,
                                             request_ai_suggestion.kind),
        rerun_if_running => false
    );
end
$$;
comment on function api.request_ai_suggestion(uuid, uuid, salesflow.suggestion_kind, text) is
'Ask the AI for next actions or memory facts about a lead; returns the job id. The result waits for review. '
'Runs as security definer, justified: app roles may not write the job queue; it checks the caller is an '
'owner, admin or rep of the organisation and that the lead exists there before it enqueues one job.';

create or replace function api.list_ai_suggestions(
    org_id uuid, lead_id uuid default null, status salesflow.suggestion_status default null,
    page_size integer default 50
)
returns setof api.ai_suggestions
language sql
stable
set search_path = ''
as $$
    select salesflow.api_ai_suggestion(s)
    from salesflow.ai_suggestions as s
    where s.org_id = list_ai_suggestions.org_id
      and (list_ai_suggestions.lead_id is null or s.lead_id = list_ai_suggestions.lead_id)
      and (list_ai_suggestions.status is null or s.status = list_ai_suggestions.status)
    order by s.created_at desc, s.id desc
    limit salesflow.check_page_size(list_ai_suggestions.page_size)
$$;
comment on function api.list_ai_suggestions(uuid, uuid, salesflow.suggestion_status, integer) is
'AI suggestions of an organisation, newest first; offline_model marks the tiny offline model''s output.';

-- Accept or reject a pending suggestion; the verdict is also feedback on the call that made it.
create or replace function api.review_ai_suggestion(
    org_id uuid, suggestion_id uuid, decision salesflow.suggestion_status
)
returns api.ai_suggestions
language plpgsql
set search_path = ''
as $$
declare
    reviewed salesflow.ai_suggestions;
begin
    if decision is null or decision = 'pending' then
        raise sqlstate '22023' using message = 'decision must be accepted or rejected';
    end if;
    update salesflow.ai_suggestions as s
    set status = review_ai_suggestion.decision, reviewed_by = (select auth.uid()), reviewed_at = pg_catalog.now()
    where s.org_id = review_ai_suggestion.org_id and s.id = review_ai_suggestion.suggestion_id
      and s.status = 'pending'
    returning s.* into reviewed;
    if reviewed is null then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('pending suggestion %s not found', review_ai_suggestion.suggestion_id),
            hint = 'It does not exist, was reviewed already, or you may not review in this organisation.';
    end if;
    -- the verdict counts as feedback on the call only where the reviewer may rate it (the member
    -- who asked, or an owner or admin) and has not yet: a rep reviewing another's suggestion still
    -- reviews it, without voting in that request's A/B result
    insert into salesflow.llm_feedback (org_id, request_id, user_id, outcome)
    select reviewed.org_id, reviewed.request_id, (select auth.uid()),
        review_ai_suggestion.decision::text::salesflow.llm_outcome
    from salesflow.llm_requests as q
    where
        q.org_id = reviewed.org_id and q.id = reviewed.request_id
        and (
            q.user_id = (select auth.uid())
            or reviewed.org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[])
        )
    on conflict do nothing;
    return salesflow.api_ai_suggestion(reviewed);
end
$$;
comment on function api.review_ai_suggestion(uuid, uuid, salesflow.suggestion_status) is
'Accept or reject a pending AI suggestion; recorded as feedback on the call that produced it.';
