-- Helpers for policies and RPCs, and the triggers that keep timestamps honest.

-- The organisations the caller belongs to, optionally only those where they hold one of `roles`.
-- security definer: policies on org_members would otherwise recurse into themselves.
-- Policies call it as `(select salesflow.my_org_ids(...))`, an init plan evaluated once per
-- statement rather than once per row.
create or replace function salesflow.my_org_ids(
    roles salesflow.member_role[] default null
) returns uuid[]
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(pg_catalog.array_agg(m.org_id), '{}')
    from salesflow.org_members as m
    where m.user_id = (select auth.uid())
      and (my_org_ids.roles is null or m.role = any(my_org_ids.roles))
$$;

comment on function salesflow.my_org_ids(salesflow.member_role[]) is
'Organisations of auth.uid(), optionally filtered by role; used by RLS policies.';

-- Lower-cased, trimmed email, or null for blank input.
create or replace function salesflow.normalize_email(email text) returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
    select nullif(pg_catalog.lower(pg_catalog.btrim(normalize_email.email)), '')
$$;

-- Phone numbers as "+" and digits: spaces, dots, dashes and brackets dropped, "00" becomes "+".
create or replace function salesflow.normalize_phone(phone text) returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
    select nullif(
        pg_catalog.regexp_replace(
            pg_catalog.regexp_replace(pg_catalog.btrim(normalize_phone.phone), '[\s().\-/]', '', 'g'),
            '^00', '+'
        ),
        ''
    )
$$;

-- A channel address in the form channel_identities stores.
create or replace function salesflow.normalize_address(channel salesflow.channel, address text) returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
    select case
        when normalize_address.channel in ('whatsapp', 'sms', 'phone')
            then salesflow.normalize_phone(normalize_address.address)
        else salesflow.normalize_email(normalize_address.address)
    end
$$;

-- Raise PostgREST's custom-status error so the gateway and PostgREST both answer 404.
create or replace function salesflow.not_found(what text, id uuid) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
    raise sqlstate 'PT404' using
        message = pg_catalog.format('%s %s not found', what, id),
        hint = 'The row does not exist or belongs to an organisation you are not a member of.';
end
$$;

create or replace function salesflow.touch_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    new.updated_at := pg_catalog.now();
    return new;
end
$$;

create or replace trigger companies_touch before update on salesflow.companies
for each row execute function salesflow.touch_updated_at();
-- an activity bumping last_activity_at is not an edit of the lead
create or replace trigger leads_touch before update on salesflow.leads
for each row when (old.last_activity_at is not distinct from new.last_activity_at)
execute function salesflow.touch_updated_at();
create or replace trigger deals_touch before update on salesflow.deals
for each row execute function salesflow.touch_updated_at();

-- A lead's last_activity_at follows its newest activity or message, for recency and decay.
-- A statement trigger: one UPDATE of leads per inserting statement, whatever its size. A row
-- trigger made every inserted row an UPDATE statement of its own, so each lead trigger (scoring's
-- statement trigger among them) ran once per row and a COPY of 1,000,000 activities took minutes.
create or replace function salesflow.bump_last_activity() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    -- two statements, not one: PL/pgSQL resolves every field a statement names, and each table
    -- has only one of the two timestamps. The leads are locked in key order before the update, so
    -- two transactions bumping the same leads cannot deadlock on the order of a join.
    if tg_table_name = 'messages' then
        with newest as (
            select r.org_id, r.lead_id, max(r.sent_at) as at
            from new_rows as r where r.lead_id is not null group by r.org_id, r.lead_id
        ),
        locked as (
            select l.org_id, l.id, n.at
            from salesflow.leads as l join newest as n on l.org_id = n.org_id and l.id = n.lead_id
            where l.last_activity_at is null or l.last_activity_at < n.at
            order by l.org_id, l.id
            for no key update of l
        )
        update salesflow.leads as l
        set last_activity_at = greatest(l.last_activity_at, k.at)
        from locked as k where l.org_id = k.org_id and l.id = k.id;
    else
        with newest as (
            select r.org_id, r.lead_id, max(r.occurred_at) as at
            from new_rows as r where r.lead_id is not null group by r.org_id, r.lead_id
        ),
        locked as (
            select l.org_id, l.id, n.at
            from salesflow.leads as l join newest as n on l.org_id = n.org_id and l.id = n.lead_id
            where l.last_activity_at is null or l.last_activity_at < n.at
            order by l.org_id, l.id
            for no key update of l
        )
        update salesflow.leads as l
        set last_activity_at = greatest(l.last_activity_at, k.at)
        from locked as k where l.org_id = k.org_id and l.id = k.id;
    end if;
    return null;
end
$$;

drop trigger if exists activities_bump_lead on salesflow.activities;
create trigger activities_bump_lead after insert on salesflow.activities
referencing new table as new_rows for each statement execute function salesflow.bump_last_activity();
drop trigger if exists messages_bump_lead on salesflow.messages;
create trigger messages_bump_lead after insert on salesflow.messages
referencing new table as new_rows for each statement execute function salesflow.bump_last_activity();

-- Refuse a change set that is not an object or names fields that may not be changed.
create or replace function salesflow.check_changes(changes jsonb, allowed text[]) returns void
language plpgsql
immutable
set search_path = ''
as $$
declare
    unknown text[];
begin
    if changes is null or pg_catalog.jsonb_typeof(changes) <> 'object' then
        raise sqlstate '22023' using
            message = 'changes must be a JSON object of field names to new values',
            hint = pg_catalog.format('changeable fields: %s', pg_catalog.array_to_string(allowed, ', '));
    end if;
    select pg_catalog.array_agg(k order by k) into unknown
    from pg_catalog.jsonb_object_keys(changes) as k
    where k <> all(allowed);
    if unknown is not null then
        raise sqlstate '22023' using
            message = pg_catalog.format('cannot change %s', pg_catalog.array_to_string(unknown, ', ')),
            hint = pg_catalog.format('changeable fields: %s', pg_catalog.array_to_string(allowed, ', '));
    end if;
end
$$;

-- Refuse a page size outside 1..500 instead of silently clamping it.
create or replace function salesflow.check_page_size(page_size integer) returns integer
language plpgsql
immutable
set search_path = ''
as $$
begin
    if page_size is null or page_size < 1 or page_size > 500 then
        raise sqlstate '22023' using
            message = pg_catalog.format('page_size must be between 1 and 500, got %s', page_size);
    end if;
    return page_size;
end
$$;

-- A deal's closed_at follows its stage: set when it closes (or moves from won to lost), cleared
-- when it reopens; a lost reason goes when the deal stops being lost. A lost reason given for a
-- deal that is not lost is left for the check constraint to refuse.
create or replace function salesflow.deals_sync_closed() returns trigger
language plpgsql
set search_path = ''
as $$
declare
    stage_changed boolean := tg_op = 'INSERT' or new.stage is distinct from old.stage;
    closed_given boolean := tg_op = 'INSERT' or new.closed_at is distinct from old.closed_at;
begin
    if new.stage in ('closed_won', 'closed_lost') then
        if new.closed_at is null or (stage_changed and not closed_given) then
            new.closed_at := pg_catalog.now();
        end if;
    else
        new.closed_at := null;
    end if;
    if tg_op = 'UPDATE' and old.stage = 'closed_lost' and new.stage <> 'closed_lost'
       and new.lost_reason is not distinct from old.lost_reason then
        new.lost_reason := null;
    end if;
    return new;
end
$$;

create or replace trigger deals_sync_closed before insert or update of stage, closed_at, lost_reason
on salesflow.deals
for each row execute function salesflow.deals_sync_closed();

-- An activity logged only against a deal goes with the deal; one that also names a lead stays in
-- the lead's history (the foreign key then sets its deal_id to null).
create or replace function salesflow.deals_drop_orphan_activities() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    delete from salesflow.activities as a
    where a.org_id = old.org_id and a.deal_id = old.id and a.lead_id is null;
    return old;
end
$$;

create or replace trigger deals_drop_orphan_activities before delete on salesflow.deals
for each row execute function salesflow.deals_drop_orphan_activities();
