-- The sales assistant's drafts (issue 14): read as the caller to write, stored by the gateway in
-- the transaction that logs the call, then edited, picked and approved by members through these
-- RPCs. Only api.review_ai_draft puts text in the outbox, and it does so as the approving person.

drop policy if exists ai_drafts_select on salesflow.ai_drafts;
create policy ai_drafts_select on salesflow.ai_drafts for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

-- reps, admins and owners edit, pick and approve; analysts only read
drop policy if exists ai_drafts_update on salesflow.ai_drafts;
create policy ai_drafts_update on salesflow.ai_drafts for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

revoke all on salesflow.ai_drafts from anon, authenticated, service_role;
grant select, update on salesflow.ai_drafts to authenticated, service_role;

-- What a model may read to write for a lead: the lead, its memory, its latest BANT assessment and
-- DISG profile, and (for a reply) the inbound message. Read as the caller, so RLS decides; a
-- lead that withdrew consent to AI processing is refused here, before any model reads a word.
create or replace function api.writing_context(
    org_id uuid, lead_id uuid default null, message_id uuid default null, query_text text default null,
    token_budget integer default 1500
)
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    the_lead salesflow.leads;
    msg salesflow.messages;
    bant record;
    disg record;
    company record;
    memory jsonb;
begin
    if not writing_context.org_id = any(salesflow.my_org_ids('{owner,admin,rep}')) then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('organization %s not found', writing_context.org_id),
            hint = 'Owners, admins and reps of an organisation may ask the assistant to write.';
    end if;
    if writing_context.message_id is not null then
        select m.* into msg
        from salesflow.messages as m
        where m.org_id = writing_context.org_id and m.id = writing_context.message_id;
        if msg.id is null then
            perform salesflow.not_found('message', writing_context.message_id);
        end if;
        if writing_context.lead_id is not null and writing_context.lead_id <> msg.lead_id then
            raise sqlstate '22023' using message = 'the message belongs to another lead';
        end if;
    end if;
    if coalesce(writing_context.lead_id, msg.lead_id) is null then
        raise sqlstate '22023' using message = 'lead_id or message_id is required';
    end if;
    the_lead := api.get_lead(writing_context.org_id, coalesce(writing_context.lead_id, msg.lead_id));
    -- PT403, as chat refuses it (api.lead_chat_context)
    perform salesflow.require_ai_consent(the_lead.org_id, the_lead.id, 'AI writing');
    -- the organisation's switch for AI writing (issue 11's feature flags; no flag row: on)
    if not salesflow.feature_enabled(
        the_lead.org_id, 'drafting', (select auth.uid()), the_lead.lifecycle_stage::text
    ) then
        raise sqlstate 'PT409' using
            message = 'AI drafting is switched off for this organisation, user or lead stage',
            hint = 'An owner or admin can switch the drafting feature on (api.set_ai_feature_flag).';
    end if;
    select c.name, c.industry into company
    from salesflow.companies as c where c.org_id = the_lead.org_id and c.id = the_lead.company_id;
    select b.id, b.budget, b.authority, b.need, b.timeline, b.total_score, b.traffic_light, b.assessed_at
    into bant
    from salesflow.bant_assessments as b
    where b.org_id = the_lead.org_id and b.lead_id = the_lead.id and b.status = 'accepted'
    order by b.assessed_at desc, b.id
    limit 1;
    select p.id, p.dominant_type, p.d, p.i, p.s, p.g, p.confidence into disg
    from salesflow.personality_profiles as p
    where p.org_id = the_lead.org_id and p.lead_id = the_lead.id
    order by p.created_at desc, p.id
    limit 1;
    memory := api.get_smart_context(
        the_lead.org_id, the_lead.id, writing_context.query_text, null,
        least(greatest(coalesce(writing_context.token_budget, 1500), 100), 8000), 10
    );
    return pg_catalog.jsonb_build_object(
        'lead', pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
            'id', the_lead.id, 'first_name', the_lead.first_name, 'last_name', the_lead.last_name,
            'title', the_lead.title, 'stage', the_lead.lifecycle_stage, 'language', the_lead.language,
            'company', company.name, 'industry', company.industry
        )),
        'org_name', (select o.name from salesflow.organizations as o where o.id = the_lead.org_id),
        'memory', memory,
        'bant', case when bant.id is null then null else pg_catalog.jsonb_build_object(
            'budget', bant.budget, 'authority', bant.authority, 'need', bant.need, 'timeline', bant.timeline,
            'total_score', bant.total_score, 'traffic_light', bant.traffic_light
        ) end,
        'disg', case when disg.id is null then null else pg_catalog.jsonb_build_object(
            'dominant_type', disg.dominant_type, 'd', disg.d, 'i', disg.i, 's', disg.s, 'g', disg.g,
            'confidence', disg.confidence
        ) end,
        'message', case when msg.id is null then null else pg_catalog.jsonb_build_object(
            'id', msg.id, 'channel', msg.channel, 'direction', msg.direction, 'subject', msg.subject, 'body', msg.body, 'sent_at', msg.sent_at
        ) end,
        -- the inputs' identifiers, stored with the draft
        'inputs', pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
            'lead_id', the_lead.id, 'bant_assessment_id', bant.id, 'personality_profile_id', disg.id,
            'message_id', msg.id
        ))
    );
end
$$;
comment on function api.writing_context(uuid, uuid, uuid, text, integer) is
'What the assistant reads to write for a lead (or to answer an inbound message_id): the lead, its memory '
'(api.get_smart_context), latest accepted BANT assessment and DISG profile, and the input ids a draft records. '
'Owners, admins and reps only; a lead without consent to AI processing answers 409.';

create or replace function api.list_ai_drafts(
    org_id uuid, lead_id uuid default null, kind text default null, status text default null,
    page_size integer default 50
)
returns setof api.ai_drafts
language sql
stable
security invoker
set search_path = ''
as $$
    select salesflow.api_ai_draft(d)
    from salesflow.ai_drafts as d
    where d.org_id = list_ai_drafts.org_id
      and (list_ai_drafts.lead_id is null or d.lead_id = list_ai_drafts.lead_id)
      and (list_ai_drafts.kind is null or d.kind = list_ai_drafts.kind)
      and (list_ai_drafts.status is null or d.status = list_ai_drafts.status)
    order by d.created_at desc, d.id desc
    limit salesflow.check_page_size(list_ai_drafts.page_size)
$$;
comment on function api.list_ai_drafts(uuid, uuid, text, text, integer) is
'The assistant''s drafts (email, reply, subject, script), newest first, with the prompt version and logged '
'call that made each; offline_model marks the tiny offline model''s text.';

-- A member's edit of a pending draft; the edit is what will be sent.
create or replace function api.edit_ai_draft(org_id uuid, draft_id uuid, body text, subject text default null)
returns api.ai_drafts
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    r salesflow.ai_drafts;
begin
    if edit_ai_draft.body is null or pg_catalog.btrim(edit_ai_draft.body) = '' then
        raise sqlstate '22023' using message = 'body must not be empty';
    end if;
    if pg_catalog.length(edit_ai_draft.body) > 100000 or pg_catalog.length(edit_ai_draft.subject) > 1000 then
        raise sqlstate '22023' using message = 'body is limited to 100000 characters, subject to 1000';
    end if;
    update salesflow.ai_drafts as d
    set body = edit_ai_draft.body, subject = coalesce(edit_ai_draft.subject, d.subject),
        edited_by = (select auth.uid()), edited_at = pg_catalog.now()
    where d.org_id = edit_ai_draft.org_id and d.id = edit_ai_draft.draft_id and d.status = 'draft'
    returning d.* into r;
    if r.id is null then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('editable draft %s not found', edit_ai_draft.draft_id),
            hint = 'It does not exist, was approved or rejected already, or you may not edit in this organisation.';
    end if;
    return salesflow.api_ai_draft(r);
end
$$;
comment on function api.edit_ai_draft(uuid, uuid, text, text) is
'Edit a pending AI draft''s body (and subject); the edited text is what api.review_ai_draft sends to the outbox.';

-- Feedback on the call that wrote a draft, where the member may rate it (as for suggestions).
create or replace function salesflow.draft_feedback(
    p_draft salesflow.ai_drafts, p_outcome salesflow.llm_outcome, p_comment text
)
returns void
language sql
volatile
security invoker
set search_path = ''
as $$
    insert into salesflow.llm_feedback (org_id, request_id, user_id, outcome, comment)
    select p_draft.org_id, p_draft.request_id, (select auth.uid()), p_outcome, p_comment
    from salesflow.llm_requests as q
    where
        q.org_id = p_draft.org_id and q.id = p_draft.request_id
        and (
            q.user_id = (select auth.uid())
            or p_draft.org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[])
        )
    on conflict do nothing
$$;

-- Which variant a rep picked: for reply variants its text becomes the draft's body, for subject
-- variants its subject the draft's subject. Prompt experiments compare versions by these picks.
create or replace function api.pick_ai_variant(org_id uuid, draft_id uuid, variant integer)
returns api.ai_drafts
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    r salesflow.ai_drafts;
    chosen jsonb;
begin
    select d.* into r from salesflow.ai_drafts as d
    where d.org_id = pick_ai_variant.org_id and d.id = pick_ai_variant.draft_id;
    if r.id is null then
        perform salesflow.not_found('draft', pick_ai_variant.draft_id);
    end if;
    if r.kind not in ('reply', 'subject') then
        raise sqlstate '22023' using message = pg_catalog.format('a %s draft has no variants to pick', r.kind);
    end if;
    if r.status <> 'draft' then
        raise sqlstate 'PT409' using message = pg_catalog.format('draft %s is %s already', r.id, r.status);
    end if;
    chosen := r.content -> 'variants' -> pick_ai_variant.variant;
    if pick_ai_variant.variant is null or pick_ai_variant.variant < 0 or chosen is null then
        raise sqlstate '22023' using
            message = pg_catalog.format('variant must be between 0 and %s',
                                        pg_catalog.jsonb_array_length(r.content -> 'variants') - 1);
    end if;
    update salesflow.ai_drafts as d set
        picked_variant = pick_ai_variant.variant, picked_by = (select auth.uid()), picked_at = pg_catalog.now(),
        body = case when d.kind = 'reply' then chosen ->> 'text' else d.body end,
        subject = case when d.kind = 'subject' then chosen ->> 'subject' else d.subject end
    where d.org_id = r.org_id and d.id = r.id and d.status = 'draft'
    returning d.* into r;
    if r.id is null then
        raise sqlstate '42501' using message = 'you may not pick variants in this organisation';
    end if;
    perform salesflow.draft_feedback(r, 'accepted', pg_catalog.format('picked variant %s', pick_ai_variant.variant));
    return salesflow.api_ai_draft(r);
end
$$;
comment on function api.pick_ai_variant(uuid, uuid, integer) is
'Record which variant (0-based) of a reply or subject draft a rep picked; it becomes the draft''s body or '
'subject and counts as feedback on the call, so prompt versions compare by picks (api.writing_performance).';

-- Approve (into the outbox, approved by this person) or reject a pending email or reply draft.
create or replace function api.review_ai_draft(
    org_id uuid, draft_id uuid, decision text, channel salesflow.channel default 'email'
)
returns api.ai_drafts
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    r salesflow.ai_drafts;
    queued salesflow.outbox;
begin
    if review_ai_draft.decision is null or review_ai_draft.decision not in ('accepted', 'rejected') then
        raise sqlstate '22023' using message = 'decision must be accepted or rejected';
    end if;
    select d.* into r from salesflow.ai_drafts as d
    where d.org_id = review_ai_draft.org_id and d.id = review_ai_draft.draft_id;
    if r.id is null then
        perform salesflow.not_found('draft', review_ai_draft.draft_id);
    end if;
    if r.status <> 'draft' then
        raise sqlstate 'PT409' using message = pg_catalog.format('draft %s is %s already', r.id, r.status);
    end if;
    if review_ai_draft.decision = 'accepted' then
        if r.kind not in ('email', 'reply') then
            raise sqlstate '22023' using
                message = pg_catalog.format('a %s draft is not a message; pick a variant or copy it instead', r.kind);
        end if;
        if r.body is null or pg_catalog.btrim(r.body) = '' then
            raise sqlstate '22023' using message = 'the draft has no body yet',
                hint = 'For reply variants, pick one first (api.pick_ai_variant).';
        end if;
        -- AI-written text: the outbox holds it for a person, and this person approves it now
        queued := api.queue_outbound_message(
            r.org_id, r.lead_id, review_ai_draft.channel, r.body, r.subject, true, 'ai_draft:' || r.id::text
        );
        if queued.status = 'awaiting_approval' then
            queued := api.approve_outbound_message(r.org_id, queued.id, 'accepted');
        end if;
    end if;
    update salesflow.ai_drafts as d set
        status = case when review_ai_draft.decision = 'accepted' then 'approved' else 'rejected' end,
        reviewed_by = (select auth.uid()), reviewed_at = pg_catalog.now(),
        outbox_id = queued.id
    where d.org_id = r.org_id and d.id = r.id and d.status = 'draft'
    returning d.* into r;
    if r.id is null then
        raise sqlstate '42501' using message = 'you may not review drafts in this organisation';
    end if;
    perform salesflow.draft_feedback(
        r,
        case
            when review_ai_draft.decision = 'rejected' then 'rejected'
            when r.edited_at is not null then 'edited' else 'accepted'
        end::salesflow.llm_outcome,
        null
    );
    return salesflow.api_ai_draft(r);
end
$$;
comment on function api.review_ai_draft(uuid, uuid, text, salesflow.channel) is
'Accept a pending email or reply draft (it goes to the outbox, approved by you, and is sent unless the lead '
'opted out) or reject it; recorded as feedback (accepted, edited or rejected) on the call that wrote it.';

-- Prompt versions compared by what reps did with their drafts and what the leads did next.
create or replace function api.writing_performance(org_id uuid, reply_window_days integer default 14)
returns table (
    kind text, prompt_name text, prompt_version integer, drafts bigint, picked bigint, approved bigint,
    edited bigint, rejected bigint, sent bigint, replied bigint
)
language sql
stable
security invoker
set search_path = ''
as $$
    select
        d.kind, d.prompt_name, d.prompt_version,
        pg_catalog.count(*),
        pg_catalog.count(*) filter (where d.picked_variant is not null),
        pg_catalog.count(*) filter (where d.status = 'approved'),
        pg_catalog.count(*) filter (where d.edited_at is not null),
        pg_catalog.count(*) filter (where d.status = 'rejected'),
        pg_catalog.count(*) filter (where o.status in ('sent', 'delivered', 'read')),
        -- a reply: an inbound message from the lead within the window after the send
        pg_catalog.count(*) filter (where exists (
            select from salesflow.messages as m
            where m.org_id = d.org_id and m.lead_id = d.lead_id and m.direction = 'inbound'
              and o.status in ('sent', 'delivered', 'read')
              and m.sent_at > coalesce(o.status_at, o.approved_at)
              and m.sent_at <= coalesce(o.status_at, o.approved_at)
              + pg_catalog.make_interval(days => least(greatest(writing_performance.reply_window_days, 1), 365))
        ))
    from salesflow.ai_drafts as d
    left join salesflow.outbox as o on o.org_id = d.org_id and o.id = d.outbox_id
    where d.org_id = writing_performance.org_id
    group by d.kind, d.prompt_name, d.prompt_version
    order by d.kind, d.prompt_name, d.prompt_version
$$;
comment on function api.writing_performance(uuid, integer) is
'Per draft kind and prompt version: drafts written, variants picked, approved, edited, rejected, sent, and '
'sent ones the lead answered within reply_window_days: how prompt experiments compare versions.';

revoke execute on function api.writing_context(uuid, uuid, uuid, text, integer) from public;
revoke execute on function api.list_ai_drafts(uuid, uuid, text, text, integer) from public;
revoke execute on function api.edit_ai_draft(uuid, uuid, text, text) from public;
revoke execute on function api.pick_ai_variant(uuid, uuid, integer) from public;
revoke execute on function api.review_ai_draft(uuid, uuid, text, salesflow.channel) from public;
revoke execute on function api.writing_performance(uuid, integer) from public;
revoke execute on function salesflow.draft_feedback(salesflow.ai_drafts, salesflow.llm_outcome, text) from public;
grant execute on function api.writing_context(uuid, uuid, uuid, text, integer) to authenticated, service_role;
grant execute on function api.list_ai_drafts(uuid, uuid, text, text, integer) to authenticated, service_role;
grant execute on function api.edit_ai_draft(uuid, uuid, text, text) to authenticated, service_role;
grant execute on function api.pick_ai_variant(uuid, uuid, integer) to authenticated, service_role;
grant execute on function api.review_ai_draft(uuid, uuid, text, salesflow.channel) to authenticated, service_role;
grant execute on function api.writing_performance(uuid, integer) to authenticated, service_role;
grant execute on function salesflow.draft_feedback(salesflow.ai_drafts, salesflow.llm_outcome, text)
to authenticated, service_role;
