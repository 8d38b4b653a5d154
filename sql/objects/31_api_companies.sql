-- RPCs: companies (accounts). Every call names the organisation: org_id leads every key.

create or replace function api.create_company(
    org_id uuid,
    name text,
    domain text default null,
    industry text default null,
    employee_count integer default null,
    country text default null,
    attributes jsonb default '{}'
)
returns api.companies
language sql
set search_path = ''
as $$
    insert into salesflow.companies (org_id, name, domain, industry, employee_count, country, attributes)
    values (
        create_company.org_id,
        pg_catalog.btrim(create_company.name),
        -- normalised (lower case, trimmed) by the companies_normalize trigger (13_normalisation.sql)
        create_company.domain,
        nullif(pg_catalog.btrim(create_company.industry), ''),
        create_company.employee_count,
        -- trimmed here as well: char(2) refuses ' de' before any trigger sees it
        nullif(pg_catalog.upper(pg_catalog.btrim(create_company.country)), ''),
        coalesce(create_company.attributes, '{}')
    )
    returning salesflow.api_company(companies)
$$;
comment on function api.create_company(uuid, text, text, text, integer, text, jsonb) is
'Create a company. Domain is stored lower-case and trimmed, country as an upper-case ISO 3166 alpha-2 code.';

-- One company by id, as the caller sees it.
create or replace function salesflow.visible_company(org_id uuid, company_id uuid)
returns salesflow.companies
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    found_row salesflow.companies;
begin
    select c.* into found_row from salesflow.companies as c
    where c.org_id = visible_company.org_id and c.id = visible_company.company_id;
    if found_row is null then
        perform salesflow.not_found('company', visible_company.company_id);
    end if;
    return found_row;
end
$$;
comment on function salesflow.visible_company(uuid, uuid) is
'The company row as the caller sees it (RLS), or PT404; the RPCs of this file start from it.';
revoke execute on function salesflow.visible_company(uuid, uuid) from public;
grant execute on function salesflow.visible_company(uuid, uuid) to authenticated, service_role;

create or replace function api.get_company(org_id uuid, company_id uuid)
returns api.companies
language sql
stable
security invoker
set search_path = ''
as $$
    select salesflow.api_company(salesflow.visible_company(get_company.org_id, get_company.company_id))
$$;
comment on function api.get_company(uuid, uuid) is
'One company by id; 404 when it does not exist or is not visible to the caller.';

create or replace function api.list_companies(
    org_id uuid,
    search text default null,
    page_size integer default 50,
    before timestamptz default null,
    before_id uuid default null
)
returns setof api.companies
language sql
stable
set search_path = ''
as $$
    select salesflow.api_company(c) from salesflow.companies as c
    where c.org_id = list_companies.org_id
      and (
          list_companies.search is null
          or c.name ilike '%' || list_companies.search || '%'
          or c.domain like '%' || pg_catalog.lower(list_companies.search) || '%'
      )
      and (
          list_companies.before is null
          or (c.created_at, c.id)
          < (list_companies.before, coalesce(list_companies.before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
      )
    order by c.created_at desc, c.id desc
    limit salesflow.check_page_size(list_companies.page_size)
$$;
comment on function api.list_companies(uuid, text, integer, timestamptz, uuid) is
'Companies of an organisation, newest first, optionally filtered by a name/domain search. '
'Page with before = created_at and before_id = id of the last row of the previous page.';

create or replace function api.update_company(org_id uuid, company_id uuid, changes jsonb)
returns api.companies
language plpgsql
set search_path = ''
as $$
declare
    r salesflow.companies;
begin
    perform salesflow.check_changes(update_company.changes, array[
        'name', 'domain', 'industry', 'employee_count', 'country', 'attributes'
    ]);
    r := salesflow.visible_company(update_company.org_id, update_company.company_id);
    r := pg_catalog.jsonb_populate_record(r, update_company.changes);
    update salesflow.companies as c set
        name = pg_catalog.btrim(r.name),
        domain = r.domain,
        industry = nullif(pg_catalog.btrim(r.industry), ''),
        employee_count = r.employee_count,
        country = nullif(pg_catalog.upper(pg_catalog.btrim(r.country)), ''),
        attributes = coalesce(r.attributes, '{}')
    where c.org_id = update_company.org_id and c.id = update_company.company_id
    returning c.* into r;
    if not found then
        raise sqlstate '42501' using
            message = pg_catalog.format('you may not change company %s', update_company.company_id),
            hint = 'Owners, admins and reps change companies; analysts only read.';
    end if;
    return salesflow.api_company(r);
end
$$;
comment on function api.update_company(uuid, uuid, jsonb) is
'Change a company: changes is an object of field names to new values; fields not named keep their values.';

create or replace function api.delete_company(org_id uuid, company_id uuid)
returns api.companies
language plpgsql
set search_path = ''
as $$
declare
    r salesflow.companies;
begin
    perform api.get_company(delete_company.org_id, delete_company.company_id);
    delete from salesflow.companies as c
    where c.org_id = delete_company.org_id and c.id = delete_company.company_id
    returning c.* into r;
    if not found then
        raise sqlstate '42501' using
            message = pg_catalog.format('you may not delete company %s', delete_company.company_id),
            hint = 'Only owners and admins delete companies.';
    end if;
    return salesflow.api_company(r);
end
$$;
comment on function api.delete_company(uuid, uuid) is
'Delete a company; its leads and deals stay, without a company.';
