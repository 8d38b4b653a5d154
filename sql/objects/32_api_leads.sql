-- RPCs: leads. Every call names the organisation: org_id leads every key (DESIGN.md decision 3).

create or replace function api.create_lead(
    org_id uuid,
    first_name text default null,
    last_name text default null,
    email text default null,
    phone text default null,
    company_id uuid default null,
    owner_id uuid default null,
    title text default null,
    source salesflow.lead_source default 'other',
    lifecycle_stage salesflow.lifecycle_stage default 'lead',
    language text default 'en',
    attributes jsonb default '{}'
)
returns api.leads
language sql
set search_path = ''
as $$
    insert into salesflow.leads (
        org_id, first_name, last_name, email, phone, company_id, owner_id, title, source,
        lifecycle_stage, language, attributes
    )
    values (
        create_lead.org_id,
        nullif(pg_catalog.btrim(create_lead.first_name), ''),
        nullif(pg_catalog.btrim(create_lead.last_name), ''),
        -- normalised by the leads_normalize trigger (13_normalisation.sql), as COPY and imports are
        create_lead.email,
        create_lead.phone,
        create_lead.company_id,
        -- a lead is owned by whoever creates it unless they name an owner
        coalesce(create_lead.owner_id, (select auth.uid())),
        create_lead.title,
        create_lead.source,
        create_lead.lifecycle_stage,
        pg_catalog.lower(create_lead.language),
        coalesce(create_lead.attributes, '{}')
    )
    returning salesflow.api_lead(leads)
$$;
comment on function api.create_lead(
    uuid, text, text, text, text, uuid, uuid, text, salesflow.lead_source, salesflow.lifecycle_stage, text, jsonb
) is
'Create a lead. Email is stored lower-case and trimmed, phone as + and digits; owner defaults to the caller.';

-- One lead by id, as the caller sees it.
create or replace function salesflow.visible_lead(org_id uuid, lead_id uuid)
returns salesflow.leads
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    found_row salesflow.leads;
begin
    select l.* into found_row from salesflow.leads as l
    where l.org_id = visible_lead.org_id and l.id = visible_lead.lead_id;
    if found_row is null then
        perform salesflow.not_found('lead', visible_lead.lead_id);
    end if;
    return found_row;
end
$$;
comment on function salesflow.visible_lead(uuid, uuid) is
'The lead row as the caller sees it (RLS), or PT404; the RPCs of this file start from it.';
revoke execute on function salesflow.visible_lead(uuid, uuid) from public;
grant execute on function salesflow.visible_lead(uuid, uuid) to authenticated, service_role;

create or replace function api.get_lead(org_id uuid, lead_id uuid)
returns api.leads
language sql
stable
security invoker
set search_path = ''
as $$
    select salesflow.api_lead(salesflow.visible_lead(get_lead.org_id, get_lead.lead_id))
$$;
comment on function api.get_lead(uuid, uuid) is 'One lead by id; 404 when it does not exist or is not visible to the caller.';

create or replace function api.list_leads(
    org_id uuid,
    stage salesflow.lifecycle_stage default null,
    owner_id uuid default null,
    company_id uuid default null,
    search text default null,
    page_size integer default 50,
    before timestamptz default null,
    before_id uuid default null
)
returns setof api.leads
language sql
stable
set search_path = ''
as $$
    select salesflow.api_lead(l) from salesflow.leads as l
    where l.org_id = list_leads.org_id
      and (list_leads.stage is null or l.lifecycle_stage = list_leads.stage)
      and (list_leads.owner_id is null or l.owner_id = list_leads.owner_id)
      and (list_leads.company_id is null or l.company_id = list_leads.company_id)
      and (
          list_leads.search is null
          or l.email like '%' || pg_catalog.lower(list_leads.search) || '%'
          or (coalesce(l.first_name, '') || ' ' || coalesce(l.last_name, '')) ilike '%' || list_leads.search || '%'
      )
      and (
          list_leads.before is null
          or (l.created_at, l.id) < (list_leads.before, coalesce(list_leads.before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
      )
    order by l.created_at desc, l.id desc
    limit salesflow.check_page_size(list_leads.page_size)
$$;
comment on function api.list_leads(uuid, salesflow.lifecycle_stage, uuid, uuid, text, integer, timestamptz, uuid) is
'Leads of an organisation, newest first, filtered by stage, owner, company or a name/email search. '
'Page with before = created_at and before_id = id of the last row of the previous page.';

create or replace function api.update_lead(org_id uuid, lead_id uuid, changes jsonb)
returns api.leads
language plpgsql
set search_path = ''
as $$
declare
    r salesflow.leads;
begin
    perform salesflow.check_changes(update_lead.changes, array[
        'first_name', 'last_name', 'email', 'phone', 'company_id', 'owner_id', 'title', 'source',
        'lifecycle_stage', 'language', 'attributes'
    ]);
    r := salesflow.visible_lead(update_lead.org_id, update_lead.lead_id);
    r := pg_catalog.jsonb_populate_record(r, update_lead.changes);
    update salesflow.leads as l set
        first_name = r.first_name,
        last_name = r.last_name,
        email = r.email,
        phone = r.phone,
        company_id = r.company_id,
        owner_id = r.owner_id,
        title = r.title,
        source = r.source,
        lifecycle_stage = r.lifecycle_stage,
        language = pg_catalog.lower(r.language),
        attributes = coalesce(r.attributes, '{}')
    where l.org_id = update_lead.org_id and l.id = update_lead.lead_id
    returning l.* into r;
    if not found then
        raise sqlstate '42501' using
            message = pg_catalog.format('you may not change lead %s', update_lead.lead_id),
            hint = 'Reps change the leads they own; owners and admins change any.';
    end if;
    return salesflow.api_lead(r);
end
$$;
comment on function api.update_lead(uuid, uuid, jsonb) is
'Change a lead: changes is an object of field names to new values; fields not named keep their values.';

create or replace function api.delete_lead(org_id uuid, lead_id uuid)
returns api.leads
language plpgsql
set search_path = ''
as $$
declare
    r salesflow.leads;
begin
    perform api.get_lead(delete_lead.org_id, delete_lead.lead_id);
    delete from salesflow.leads as l
    where l.org_id = delete_lead.org_id and l.id = delete_lead.lead_id
    returning l.* into r;
    if not found then
        raise sqlstate '42501' using
            message = pg_catalog.format('you may not delete lead %s', delete_lead.lead_id),
            hint = 'Only owners and admins delete leads.';
    end if;
    return salesflow.api_lead(r);
end
$$;
comment on function api.delete_lead(uuid, uuid) is
'Delete a lead with its activities, messages and channel identities; its deals stay, without a contact.';
