-- Identity stitching: which lead an inbound sender is, merging two leads that are one person,
-- and undoing a merge. Addresses arrive normalised by salesflow/channels/identity.py
-- (phonenumbers' E.164 with the organisation's default region; emails trimmed, lower-case, IDNA).

-- The lead of a sender, creating it (with its identity) when nobody has this address yet.
-- Run by the worker's process_inbox job. An advisory lock on the address serialises concurrent
-- first messages from one new sender, so they create one lead, not two.
create or replace function salesflow.stitch_sender(
    org_id uuid,
    channel salesflow.channel,
    address text,
    phone text default null,
    email text default null,
    first_name text default null,
    last_name text default null
) returns uuid
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    addr text := salesflow.normalize_address(stitch_sender.channel, stitch_sender.address);
    found_id uuid;
begin
    perform pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended(stitch_sender.org_id::text || ':' || coalesce(stitch_sender.phone, addr), 0)
    );
    select ci.lead_id into found_id from salesflow.channel_identities as ci
    where ci.org_id = stitch_sender.org_id and ci.channel = stitch_sender.channel and ci.address = addr;
    if found_id is not null then
        return found_id;
    end if;
    -- the same person on another channel: a lead with this phone or email, or another channel's
    -- identity with the same phone number (WhatsApp and SMS)
    select l.id into found_id from salesflow.leads as l
    where l.org_id = stitch_sender.org_id
      and ((stitch_sender.email is not null and l.email = stitch_sender.email)
           or (stitch_sender.phone is not null and l.phone = stitch_sender.phone))
    order by l.created_at, l.id
    limit 1;
    if found_id is null and stitch_sender.phone is not null then
        select ci.lead_id into found_id from salesflow.channel_identities as ci
        where ci.org_id = stitch_sender.org_id and ci.address = stitch_sender.phone
        order by ci.created_at
        limit 1;
    end if;
    if found_id is null then
        insert into salesflow.leads as l (org_id, first_name, last_name, email, phone, source, attributes)
        values (
            stitch_sender.org_id,
            nullif(pg_catalog.btrim(stitch_sender.first_name), ''),
            nullif(pg_catalog.btrim(stitch_sender.last_name), ''),
            stitch_sender.email,
            stitch_sender.phone,
            'other',
            -- where the lead came from: lead_source has no value per channel
            pg_catalog.jsonb_build_object('source_channel', stitch_sender.channel::text, 'created_by', 'inbound')
        )
        returning l.id into found_id;
        -- a business-scoped WhatsApp user without a phone, and no name: the address is all there is
    end if;
    insert into salesflow.channel_identities (org_id, channel, address, lead_id)
    values (stitch_sender.org_id, stitch_sender.channel, addr, found_id)
    on conflict (org_id, channel, address) do nothing;
    return found_id;
end
$$;

-- Vectors (written only by the worker) and chats (private to their member) move with a merge too.
-- security definer, so it checks itself that the caller is an owner or admin of the organisation.
-- Without only_ids: everything of from_id; with: just those texts and chats (undo_merge).
create or replace function salesflow.move_lead_rows(org_id uuid, from_id uuid, to_id uuid, only_ids uuid[] default null)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    n integer;
    chats jsonb;
    suggestions jsonb;
    recommendations jsonb;
    facts jsonb;
begin
    if not (move_lead_rows.org_id = any(salesflow.my_org_ids('{owner,admin}'))) then
        raise sqlstate '42501' using message = 'only owners and admins merge leads';
    end if;
    update salesflow.embeddings as e set lead_id = move_lead_rows.to_id
    where e.org_id = move_lead_rows.org_id and e.lead_id = move_lead_rows.from_id
      and (move_lead_rows.only_ids is null or e.source_id = any(move_lead_rows.only_ids));
    get diagnostics n = row_count;
    with u as (
        update salesflow.conversations as c set lead_id = move_lead_rows.to_id
        where c.org_id = move_lead_rows.org_id and c.lead_id = move_lead_rows.from_id
          and (move_lead_rows.only_ids is null or c.id = any(move_lead_rows.only_ids))
        returning c.id
    ) select coalesce(pg_catalog.jsonb_agg(u.id), '[]') into chats from u;
    -- what the AI made of the lead moves with it, by id, so an undo moves exactly these back
    with u as (
        update salesflow.ai_suggestions as s set lead_id = move_lead_rows.to_id
        where s.org_id = move_lead_rows.org_id and s.lead_id = move_lead_rows.from_id
          and (move_lead_rows.only_ids is null or s.id = any(move_lead_rows.only_ids))
        returning s.id
    ) select coalesce(pg_catalog.jsonb_agg(u.id), '[]') into suggestions from u;
    -- a live recommendation the other lead already has live (same type and reason) stays behind
    with u as (
        update salesflow.ai_recommendations as r set lead_id = move_lead_rows.to_id
        where r.org_id = move_lead_rows.org_id and r.lead_id = move_lead_rows.from_id
          and (move_lead_rows.only_ids is null or r.id = any(move_lead_rows.only_ids))
          and not (
              r.status in ('open', 'snoozed', 'accepted') and exists (
                  select from salesflow.ai_recommendations as k
                  where k.org_id = r.org_id and k.lead_id = move_lead_rows.to_id and k.action_type = r.action_type
                    and k.reason_key = r.reason_key and k.status in ('open', 'snoozed', 'accepted')
              )
          )
        returning r.id
    ) select coalesce(pg_catalog.jsonb_agg(u.id), '[]') into recommendations from u;
    with u as (
        update salesflow.memory_facts as f set lead_id = move_lead_rows.to_id
        where f.org_id = move_lead_rows.org_id and f.lead_id = move_lead_rows.from_id
          and (move_lead_rows.only_ids is null or f.id = any(move_lead_rows.only_ids))
        returning f.id
    ) select coalesce(pg_catalog.jsonb_agg(u.id), '[]') into facts from u;
    return pg_catalog.jsonb_build_object('embeddings', n, 'conversations', chats, 'ai_suggestions', suggestions,
                                         'ai_recommendations', recommendations, 'memory_facts', facts);
end
$$;

create or replace function api.merge_leads(org_id uuid, keep_id uuid, merge_id uuid)
returns api.lead_merges
language plpgsql
volatile
set search_path = ''
as $$
declare
    keep salesflow.leads;
    gone salesflow.leads;
    moved jsonb := '{}';
    ids jsonb;
    filled text[] := '{}';
    r salesflow.lead_merges;
begin
    if merge_leads.keep_id = merge_leads.merge_id then
        raise sqlstate '22023' using message = 'a lead cannot be merged into itself';
    end if;
    keep := salesflow.visible_lead(merge_leads.org_id, merge_leads.keep_id);
    gone := salesflow.visible_lead(merge_leads.org_id, merge_leads.merge_id);
    if not (merge_leads.org_id = any(salesflow.my_org_ids('{owner,admin}'))) then
        raise sqlstate '42501' using message = 'only owners and admins merge leads';
    end if;
    with u as (
        update salesflow.messages as m set lead_id = merge_leads.keep_id
        where m.org_id = merge_leads.org_id and m.lead_id = merge_leads.merge_id returning m.id
    ) select coalesce(pg_catalog.jsonb_agg(u.id), '[]') into ids from u;
    moved := moved || pg_catalog.jsonb_build_object('messages', ids);
    with u as (
        update salesflow.activities as a set lead_id = merge_leads.keep_id
        where a.org_id = merge_leads.org_id and a.lead_id = merge_leads.merge_id returning a.id
    ) select coalesce(pg_catalog.jsonb_agg(u.id), '[]') into ids from u;
    moved := moved || pg_catalog.jsonb_build_object('activities', ids);
    with u as (
        update salesflow.deals as d set lead_id = merge_leads.keep_id
        where d.org_id = merge_leads.org_id and d.lead_id = merge_leads.merge_id returning d.id
    ) select coalesce(pg_catalog.jsonb_agg(u.id), '[]') into ids from u;
    moved := moved || pg_catalog.jsonb_build_object('deals', ids);
    with u as (
        update salesflow.outbox as o set lead_id = merge_leads.keep_id
        where o.org_id = merge_leads.org_id and o.lead_id = merge_leads.merge_id returning o.id
    ) select coalesce(pg_catalog.jsonb_agg(u.id), '[]') into ids from u;
    moved := moved || pg_catalog.jsonb_build_object('outbox', ids);
    -- identities the kept lead does not have already
    with u as (
        update salesflow.channel_identities as ci set lead_id = merge_leads.keep_id
        where ci.org_id = merge_leads.org_id and ci.lead_id = merge_leads.merge_id
        returning ci.channel, ci.address
    ) select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(u.channel, u.address)), '[]') into ids from u;
    moved := moved || pg_catalog.jsonb_build_object('channel_identities', ids);
    moved := moved || salesflow.move_lead_rows(merge_leads.org_id, merge_leads.merge_id, merge_leads.keep_id);
    -- the merged lead's rolling summary goes into the merge record (the undo restores it); the kept
    -- lead's summary takes the moved messages as pending, so its next extension reads them
    moved := moved || pg_catalog.jsonb_build_object('conversation_summary', salesflow.merge_summaries(
        merge_leads.org_id, merge_leads.merge_id, merge_leads.keep_id, pg_catalog.jsonb_array_length(moved -> 'messages')
    ));
    -- the merged lead's contact details fill the kept lead's gaps (email is unique: free it first)
    delete from salesflow.leads as l where l.org_id = merge_leads.org_id and l.id = merge_leads.merge_id;
    if keep.email is null and gone.email is not null then filled := pg_catalog.array_append(filled, 'email'); end if;
    if keep.phone is null and gone.phone is not null then filled := pg_catalog.array_append(filled, 'phone'); end if;
    if keep.first_name is null and gone.first_name is not null then filled := pg_catalog.array_append(filled, 'first_name'); end if;
    if keep.last_name is null and gone.last_name is not null then filled := pg_catalog.array_append(filled, 'last_name'); end if;
    update salesflow.leads as l set
        email = coalesce(l.email, gone.email),
        phone = coalesce(l.phone, gone.phone),
        first_name = coalesce(l.first_name, gone.first_name),
        last_name = coalesce(l.last_name, gone.last_name)
    where l.org_id = merge_leads.org_id and l.id = merge_leads.keep_id;
    moved := moved || pg_catalog.jsonb_build_object('filled', pg_catalog.to_jsonb(filled));
    insert into salesflow.lead_merges (org_id, keep_id, merge_id, merged_lead, moved, merged_by)
    values (merge_leads.org_id, merge_leads.keep_id, merge_leads.merge_id, pg_catalog.to_jsonb(gone), moved,
            (select auth.uid()))
    returning * into r;
    return salesflow.api_lead_merge(r);
end
$$;
comment on function api.merge_leads(uuid, uuid, uuid) is
'Merge lead merge_id into keep_id (owners and admins): messages, activities, deals, outbox, chats, identities and '
'vectors move, the merged lead''s email/phone/name fill the kept lead''s gaps, and the merged lead is deleted. '
'The merge record lists what moved; api.undo_merge reverses it.';

create or replace function api.undo_merge(org_id uuid, lead_merge_id uuid)
returns api.lead_merges
language plpgsql
volatile
set search_path = ''
as $$
declare
    r salesflow.lead_merges;
    gone salesflow.leads;
    filled text[];
begin
    select m.* into r from salesflow.lead_merges as m
    where m.org_id = undo_merge.org_id and m.id = undo_merge.lead_merge_id;
    if r.id is null then
        perform salesflow.not_found('lead merge', undo_merge.lead_merge_id);
    end if;
    if r.undone_at is not null then
        return salesflow.api_lead_merge(r);  -- undone already: idempotent
    end if;
    if not (undo_merge.org_id = any(salesflow.my_org_ids('{owner,admin}'))) then
        raise sqlstate '42501' using message = 'only owners and admins undo merges';
    end if;
    gone := pg_catalog.jsonb_populate_record(null::salesflow.leads, r.merged_lead);
    filled := array(select pg_catalog.jsonb_array_elements_text(r.moved -> 'filled'));
    update salesflow.leads as l set
        email = case when 'email' = any(filled) then null else l.email end,
        phone = case when 'phone' = any(filled) then null else l.phone end,
        first_name = case when 'first_name' = any(filled) then null else l.first_name end,
        last_name = case when 'last_name' = any(filled) then null else l.last_name end
    where l.org_id = r.org_id and l.id = r.keep_id;
    insert into salesflow.leads select gone.*;
    update salesflow.messages as m set lead_id = r.merge_id
    where m.org_id = r.org_id and m.id in (select x::uuid from pg_catalog.jsonb_array_elements_text(r.moved -> 'messages') as x);
    update salesflow.activities as a set lead_id = r.merge_id
    where a.org_id = r.org_id
      and a.id in (select x::uuid from pg_catalog.jsonb_array_elements_text(r.moved -> 'activities') as x);
    update salesflow.deals as d set lead_id = r.merge_id
    where d.org_id = r.org_id and d.id in (select x::uuid from pg_catalog.jsonb_array_elements_text(r.moved -> 'deals') as x);
    update salesflow.outbox as o set lead_id = r.merge_id
    where o.org_id = r.org_id and o.id in (select x::uuid from pg_catalog.jsonb_array_elements_text(r.moved -> 'outbox') as x);
    update salesflow.channel_identities as ci set lead_id = r.merge_id
    where ci.org_id = r.org_id
      and (ci.channel::text, ci.address) in (
          select x ->> 0, x ->> 1 from pg_catalog.jsonb_array_elements(r.moved -> 'channel_identities') as x
      );
    -- vectors, chats, suggestions, recommendations and facts follow back
    perform salesflow.move_lead_rows(r.org_id, r.keep_id, r.merge_id, array(
        select x::uuid from pg_catalog.jsonb_array_elements_text(r.moved -> 'messages') as x
        union all
        select x::uuid from pg_catalog.jsonb_array_elements_text(r.moved -> 'activities') as x
        union all
        select x::uuid from pg_catalog.jsonb_array_elements_text(r.moved -> 'conversations') as x
        union all
        select x::uuid from pg_catalog.jsonb_array_elements_text(
            coalesce(r.moved -> 'ai_suggestions', '[]') || coalesce(r.moved -> 'ai_recommendations', '[]')
            || coalesce(r.moved -> 'memory_facts', '[]')
        ) as x
    ));
    -- the merged lead's summary as it was (the re-inserted lead got a fresh one from no trigger)
    perform salesflow.restore_summary(r.org_id, r.merge_id, r.moved -> 'conversation_summary');
    update salesflow.lead_merges as m set undone_at = pg_catalog.now()
    where m.org_id = r.org_id and m.id = r.id
    returning m.* into r;
    return salesflow.api_lead_merge(r);
end
$$;
comment on function api.undo_merge(uuid, uuid) is
'Reverse a merge (owners and admins): the merged lead comes back with what moved from it; the filled gaps are '
'emptied again. Undoing twice changes nothing.';

-- Likely duplicates for a person to review: the same phone, an address of one that is the other's
-- email or phone, or the same full name at the same company.
create or replace function api.list_duplicate_leads(org_id uuid, page_size integer default 50)
returns table (lead_id uuid, duplicate_id uuid, reason text)
language sql
stable
set search_path = ''
as $$
    with pairs as (
        select a.id as lead_id, b.id as duplicate_id, 'same phone' as reason
        from salesflow.leads as a join salesflow.leads as b
            on b.org_id = a.org_id and b.phone = a.phone and b.id > a.id
        where a.org_id = list_duplicate_leads.org_id
        union
        select least(ci.lead_id, l.id), greatest(ci.lead_id, l.id), 'shared address'
        from salesflow.channel_identities as ci join salesflow.leads as l
            on l.org_id = ci.org_id and l.id <> ci.lead_id and ci.address in (l.email, l.phone)
        where ci.org_id = list_duplicate_leads.org_id
        union
        select a.id, b.id, 'same name and company'
        from salesflow.leads as a join salesflow.leads as b
            on b.org_id = a.org_id and b.company_id = a.company_id and b.id > a.id
           and pg_catalog.lower(a.first_name || ' ' || a.last_name) = pg_catalog.lower(b.first_name || ' ' || b.last_name)
        where a.org_id = list_duplicate_leads.org_id
    )
    select p.lead_id, p.duplicate_id, pg_catalog.string_agg(p.reason, ', ' order by p.reason)
    from pairs as p
    group by p.lead_id, p.duplicate_id
    order by p.lead_id, p.duplicate_id
    limit salesflow.check_page_size(list_duplicate_leads.page_size)
$$;
comment on function api.list_duplicate_leads(uuid, integer) is
'Pairs of leads that are likely one person (same phone, a shared address, same name at the same company), '
'for review and api.merge_leads.';
