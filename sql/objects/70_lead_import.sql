-- Bringing lead data in: typed attributes, historical outcomes, engagement events, and the one
-- definition of conversion the model, monitoring and analysts share.

alter table salesflow.lead_attribute_defs enable row level security;
alter table salesflow.lead_outcomes enable row level security;
alter table salesflow.engagement_events enable row level security;

drop policy if exists lead_attribute_defs_select on salesflow.lead_attribute_defs;
create policy lead_attribute_defs_select on salesflow.lead_attribute_defs for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists lead_attribute_defs_write on salesflow.lead_attribute_defs;
create policy lead_attribute_defs_write on salesflow.lead_attribute_defs for all to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

drop policy if exists lead_outcomes_select on salesflow.lead_outcomes;
create policy lead_outcomes_select on salesflow.lead_outcomes for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists lead_outcomes_write on salesflow.lead_outcomes;
create policy lead_outcomes_write on salesflow.lead_outcomes for all to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

drop policy if exists engagement_events_select on salesflow.engagement_events;
create policy engagement_events_select on salesflow.engagement_events for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists engagement_events_insert on salesflow.engagement_events;
create policy engagement_events_insert on salesflow.engagement_events for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

revoke all on salesflow.lead_attribute_defs, salesflow.lead_outcomes, salesflow.engagement_events
from anon, authenticated, service_role;
grant select, insert, update, delete on salesflow.lead_attribute_defs, salesflow.lead_outcomes
to authenticated, service_role;
grant select, insert on salesflow.engagement_events to authenticated, service_role;

-- Conversion, defined once: a lead has converted when it reached `customer` (or `evangelist`,
-- which comes after it), when a deal of it was won, or when an imported outcome says so. It is
-- lost when disqualified or when an imported outcome says no; otherwise it is open.
-- salesflow.conversion_status is the rule; the view, salesflow.prior_probability and
-- salesflow.score_leads call it with the lead's stage, its outcome (null: none) and whether a deal
-- of it was won. It is inlined where it is called (one-statement immutable language sql, no SET
-- clause, so the enum literals are qualified and the operators pg_catalog's), so it changes no
-- join: every caller still looks the outcome and the won deal up as it did before.
create or replace function salesflow.conversion_status(
    stage salesflow.lifecycle_stage, outcome boolean, won boolean
) returns text
language sql
immutable
parallel safe
security invoker
as $$
    select case
        when conversion_status.stage operator(pg_catalog.=) any (
                 array['customer', 'evangelist']::salesflow.lifecycle_stage []
             ) or conversion_status.outcome or conversion_status.won then 'converted'
        when conversion_status.stage operator(pg_catalog.=) 'disqualified'::salesflow.lifecycle_stage
             or not conversion_status.outcome then 'lost'
        else 'open'
    end
$$;

-- decided_at is when the status became known (null where an import gave no date).
create or replace view salesflow.lead_conversions with (security_invoker = on) as
select
    l.org_id,
    l.id as lead_id,
    salesflow.conversion_status(l.lifecycle_stage, o.converted, w.won_at is not null) as status,
    case
        when w.won_at is not null then w.won_at
        when o.converted is not null then o.decided_at
        when l.lifecycle_stage in ('customer', 'evangelist', 'disqualified') then l.updated_at
    end as decided_at
from salesflow.leads as l
-- lateral key lookups: linear in the leads even when statistics are stale after a bulk import
left join lateral (
    select o.converted, o.decided_at from salesflow.lead_outcomes as o
    where o.org_id = l.org_id and o.lead_id = l.id
) as o on true
left join lateral (
    select min(d.closed_at) as won_at from salesflow.deals as d
    where d.org_id = l.org_id and d.lead_id = l.id and d.stage = 'closed_won'
) as w on true;

create or replace function salesflow.is_date(value text) returns boolean
language plpgsql
immutable
set search_path = ''
as $$
begin
    perform value::date;
    return true;
exception when others then
    return false;
end
$$;

-- The type a column's values have: boolean when every value is a yes/no word, number when every
-- value is a decimal number, date when every value is an ISO date; otherwise category.
create or replace function salesflow.infer_value_type(vals text []) returns text
language sql
immutable
set search_path = ''
as $$
    select case
        when pg_catalog.count(v) = 0 then 'category'
        when pg_catalog.bool_and(pg_catalog.lower(v) in ('true', 'false', 'yes', 'no', 'ja', 'nein')) then 'boolean'
        when pg_catalog.bool_and(v ~ '^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$') then 'number'
        when pg_catalog.bool_and(v ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' and salesflow.is_date(v)) then 'date'
        else 'category'
    end
    from pg_catalog.unnest(infer_value_type.vals) as u (v)
    where v is not null and v <> ''
$$;


-- A text value as the jsonb an attribute of `data_type` stores, or null when it does not fit.
create or replace function salesflow.typed_value(value text, data_type text) returns jsonb
language sql
immutable
set search_path = ''
as $$
    select case typed_value.data_type
        when 'number' then case
            when typed_value.value ~ '^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$'
                then pg_catalog.to_jsonb(typed_value.value::double precision)
        end
        when 'boolean' then case
            when pg_catalog.lower(typed_value.value) in ('true', 'yes', 'ja') then 'true'::jsonb
            when pg_catalog.lower(typed_value.value) in ('false', 'no', 'nein') then 'false'::jsonb
        end
        when 'date' then case
            when typed_value.value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' and salesflow.is_date(typed_value.value)
                then pg_catalog.to_jsonb(typed_value.value)
        end
        else case when pg_catalog.length(typed_value.value) <= 200 then pg_catalog.to_jsonb(typed_value.value) end
    end
$$;

-- A column name as an attribute name: lower case, runs of other characters as _, a letter first.
create or replace function salesflow.attribute_name(column_name text) returns text
language sql
immutable
set search_path = ''
as $$
    select pg_catalog.left(
        pg_catalog.regexp_replace(
            pg_catalog.btrim(
                pg_catalog.regexp_replace(pg_catalog.lower(attribute_name.column_name), '[^a-z0-9]+', '_', 'g'), '_'
            ),
            '^([^a-z])', 'a_\1'
        ),
        63
    )
$$;

-- Import a batch of leads: see the comment on api.import_leads.
-- security invoker: every write goes through the caller's RLS.
create or replace function api.import_leads(
    org_id uuid,
    rows jsonb,
    field_map jsonb default '{}',
    outcome_column text default null,
    outcome_date_column text default null,
    dry_run boolean default false,
    first_line integer default 2,
    raise_on_error boolean default true
)
returns jsonb
language plpgsql
set search_path = ''
as $$
#variable_conflict use_variable
declare
    v_org uuid := import_leads.org_id;
    fields constant text [] := array[
        'first_name', 'last_name', 'email', 'phone', 'title', 'source', 'lifecycle_stage', 'language',
        'external_key', 'company', 'company_domain', 'industry', 'employee_count', 'country'
    ];
    fmap jsonb := '{}';
    col text;
    target text;
    errors jsonb;
    result jsonb;
    n_inserted integer := 0;
    n_updated integer := 0;
    n_outcomes integer := 0;
    types jsonb;
    nestloop constant text := current_setting('enable_nestloop');
begin
    if jsonb_typeof(import_leads.rows) is distinct from 'array' then
        raise sqlstate '22023' using message = 'rows must be a JSON array of objects (column name to text value)';
    end if;
    if jsonb_array_length(import_leads.rows) > 50000 then
        raise sqlstate '22023' using message = 'at most 50000 rows per call; send larger files in batches',
            hint = 'salesflow import leads batches a file inside one transaction.';
    end if;
    if not v_org = any(salesflow.my_org_ids('{owner,admin,rep}')) and (select auth.uid()) is not null then
        perform salesflow.not_found('organization', v_org);
    end if;
    -- columns named like a field map to it; field_map (column -> field) adds or overrides
    for col in
        select distinct k from jsonb_array_elements(import_leads.rows) as r (obj),
        lateral jsonb_object_keys(case when jsonb_typeof(r.obj) = 'object' then r.obj else '{}' end) as k
    loop
        target := coalesce(import_leads.field_map ->> col, salesflow.attribute_name(col));
        if target = any(fields) then
            fmap := fmap || jsonb_build_object(target, col);
        elsif import_leads.field_map ? col then
            raise sqlstate '22023' using
                message = format('--map %s=%s: %s is not a lead field', col, target, target),
                hint = 'Lead fields: ' || array_to_string(fields, ', ');
        end if;
    end loop;

    create temporary table if not exists pg_temp.import_rows (
        line integer, obj jsonb, lead_id uuid, known boolean, f jsonb, email text, attrs jsonb, outcome boolean,
        outcome_at timestamptz, reasons text [], company_id uuid
    ) on commit drop;
    truncate pg_temp.import_rows;
    insert into pg_temp.import_rows (line, obj, f)
    select import_leads.first_line + r.n::integer - 1, r.obj,
           coalesce((
               select jsonb_object_agg(e.key, nullif(btrim(r.obj ->> e.value), ''))
               from jsonb_each_text(fmap) as e
               where jsonb_typeof(r.obj) = 'object' and nullif(btrim(r.obj ->> e.value), '') is not null
           ), '{}')
    from jsonb_array_elements(import_leads.rows) with ordinality as r (obj, n);

    -- attribute types: an existing definition wins; a new column's type is inferred from this batch
    create temporary table if not exists pg_temp.import_types (col text, name text, data_type text, known boolean)
    on commit drop;
    truncate pg_temp.import_types;
    insert into pg_temp.import_types
    select c.col, salesflow.attribute_name(c.col),
           coalesce(d.data_type, salesflow.infer_value_type(c.vals)), d.name is not null
    from (
        select k.key as col, array_agg(btrim(k.value)) as vals
        from pg_temp.import_rows as r, lateral jsonb_each_text(
            case when jsonb_typeof(r.obj) = 'object' then r.obj else '{}' end
        ) as k
        where not exists (select from jsonb_each_text(fmap) as e where e.value = k.key)
          and k.key is distinct from import_leads.outcome_column
          and k.key is distinct from import_leads.outcome_date_column
        group by k.key
    ) as c
    left join salesflow.lead_attribute_defs as d on d.org_id = v_org and d.name = salesflow.attribute_name(c.col);

    update pg_temp.import_rows as r
    set email = salesflow.normalize_email(r.f ->> 'email'),
        attrs = coalesce((
            select jsonb_object_agg(t.name, salesflow.typed_value(btrim(r.obj ->> t.col), t.data_type))
            from pg_temp.import_types as t
            where nullif(btrim(r.obj ->> t.col), '') is not null
        ), '{}'),
        outcome = case lower(btrim(coalesce(r.obj ->> import_leads.outcome_column, '')))
            when '' then null
            when 'yes' then true when 'true' then true when '1' then true when 'y' then true when 'ja' then true
            when 'converted' then true when 'won' then true when 'customer' then true
            when 'no' then false when 'false' then false when '0' then false when 'n' then false
            when 'nein' then false when 'lost' then false
        end,
        outcome_at = case
            when nullif(btrim(r.obj ->> import_leads.outcome_date_column), '') is not null
                 and salesflow.is_date(btrim(r.obj ->> import_leads.outcome_date_column))
                then (btrim(r.obj ->> import_leads.outcome_date_column))::date::timestamptz
        end;

    -- every reason a row cannot be imported, with its line
    update pg_temp.import_rows as r
    set reasons = array_remove(array[
        case when jsonb_typeof(r.obj) <> 'object' then 'not an object of column names to values' end,
        case when coalesce(r.f ->> 'first_name', r.f ->> 'last_name', r.f ->> 'email', r.f ->> 'phone') is null
            then 'needs at least one of first_name, last_name, email, phone' end,
        case when salesflow.normalize_email(r.f ->> 'email') !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'
            then format('email %s is not an address', left(r.f ->> 'email', 80)) end,
        case when salesflow.normalize_phone(r.f ->> 'phone') !~ '^\+?[0-9]{6,15}$'
            then format('phone %s is not a phone number', left(r.f ->> 'phone', 40)) end,
        case when r.f ->> 'source' is not null
                  and not lower(r.f ->> 'source') = any(enum_range(null::salesflow.lead_source)::text [])
            then format('source %s is not one of %s', left(r.f ->> 'source', 40),
                        array_to_string(enum_range(null::salesflow.lead_source)::text [], ', ')) end,
        case when r.f ->> 'lifecycle_stage' is not null
                  and not lower(r.f ->> 'lifecycle_stage') = any(enum_range(null::salesflow.lifecycle_stage)::text [])
            then format('lifecycle_stage %s is not one of %s', left(r.f ->> 'lifecycle_stage', 40),
                        array_to_string(enum_range(null::salesflow.lifecycle_stage)::text [], ', ')) end,
        case when lower(r.f ->> 'language') !~ '^[a-z]{2}$' then 'language must be a two-letter code' end,
        case when upper(r.f ->> 'country') !~ '^[A-Z]{2}$' then 'country must be a two-letter code' end,
        case when r.f ->> 'employee_count' !~ '^[0-9]{1,9}$' then 'employee_count must be a whole number' end,
        case when length(r.f ->> 'external_key') > 200 then 'external_key is longer than 200 characters' end,
        case when lower(r.f ->> 'company_domain') !~ '^[a-z0-9.-]+\.[a-z]{2,}$' then 'company_domain is not a domain' end,
        case when import_leads.outcome_column is not null and r.outcome is null
                  and btrim(coalesce(r.obj ->> import_leads.outcome_column, '')) <> ''
            then format('outcome %s is not yes/no (or true/false, 1/0, converted/lost)',
                        left(r.obj ->> import_leads.outcome_column, 40)) end,
        case when nullif(btrim(r.obj ->> import_leads.outcome_date_column), '') is not null and r.outcome_at is null
            then 'outcome date is not a date (YYYY-MM-DD)' end
    ] || array(
        select format('%s = %s is not a %s', t.col, left(r.obj ->> t.col, 40), t.data_type)
        from pg_temp.import_types as t
        where nullif(btrim(r.obj ->> t.col), '') is not null and r.attrs -> t.name = 'null'::jsonb
        order by t.col
    ), null);

    -- the same person twice in one file: the later line is the error
    update pg_temp.import_rows as r
    set reasons = r.reasons || format('duplicate of line %s (same %s)', d.first_line, d.what)
    from (
        select x.line, min(x.line) over (partition by x.k) as first_line, x.what
        from (
            select line, 'external_key' as what, 'x:' || (f ->> 'external_key') as k from pg_temp.import_rows
            where f ? 'external_key'
            union all
            select line, 'email', 'e:' || salesflow.normalize_email(f ->> 'email') from pg_temp.import_rows
            where f ? 'email' and not f ? 'external_key'
        ) as x
    ) as d
    where d.line = r.line and d.first_line < r.line;

    select coalesce(jsonb_agg(jsonb_build_object('line', e.line, 'reason', array_to_string(e.reasons, '; '))
                              order by e.line), '[]')
    into errors
    from pg_temp.import_rows as e where cardinality(e.reasons) > 0;
    select coalesce(jsonb_object_agg(t.name, t.data_type), '{}') into types from pg_temp.import_types as t;

    if jsonb_array_length(errors) > 0 and import_leads.raise_on_error and not import_leads.dry_run then
        raise sqlstate '22023' using
            message = format('%s bad row(s); nothing was imported (first: line %s: %s)',
                             jsonb_array_length(errors), errors -> 0 ->> 'line', errors -> 0 ->> 'reason'),
            detail = left((
                select jsonb_agg(x)::text from (select x from jsonb_array_elements(errors) as x limit 100) as s
            ), 7000);
    end if;

    -- existing leads: by external key, else by email; each as one join of the batch with the org's
    -- leads (a hash join or index probes, linear either way). Per-row subqueries here were planned,
    -- with a new org's leads looking tiny to the planner, as a scan of the org's leads per row:
    -- batch x leads rows read (5,000 rows against 5,000 leads took 73 s; a 100,000-row file's later
    -- batches more than 10 minutes each). The batch's statistics make the join's sizes known; the
    -- org's leads may look empty to the planner all the same (statistics taken after a rolled-back
    -- import), so the joins with salesflow.leads here and below are hash joins, never nested loops.
    analyze pg_temp.import_rows;
    perform set_config('enable_nestloop', 'off', true);
    update pg_temp.import_rows as r set lead_id = l.id
    from salesflow.leads as l
    where l.org_id = v_org and l.external_key = r.f ->> 'external_key';
    update pg_temp.import_rows as r set lead_id = l.id
    from salesflow.leads as l
    where r.lead_id is null and l.org_id = v_org and l.email = r.email;
    perform set_config('enable_nestloop', nestloop, true);
    update pg_temp.import_rows as r set known = r.lead_id is not null, lead_id = coalesce(r.lead_id, gen_random_uuid());

    if not import_leads.dry_run and jsonb_array_length(errors) = 0 then
        insert into salesflow.lead_attribute_defs (org_id, name, data_type, label_en, label_de)
        select v_org, t.name, t.data_type, t.col, t.col from pg_temp.import_types as t where not t.known
        on conflict do nothing;

        -- companies: by domain, else by name (case-insensitive, the oldest), new ones created once
        -- per domain or name; each step one join of the batch with the organisation's companies
        -- (the domain by companies_domain_key, the name by companies_name_idx), not a look-up per row
        update pg_temp.import_rows as r set company_id = c.id
        from salesflow.companies as c
        where c.org_id = v_org and c.domain = lower(r.f ->> 'company_domain');
        update pg_temp.import_rows as r set company_id = c.id
        from (
            select distinct on (lower(c.name)) lower(c.name) as name, c.id
            from salesflow.companies as c
            where c.org_id = v_org and lower(c.name) in (
                select lower(x.f ->> 'company') from pg_temp.import_rows as x
                where x.f ? 'company' and not x.f ? 'company_domain'
            )
            order by lower(c.name), c.created_at, c.id
        ) as c
        where r.company_id is null and not r.f ? 'company_domain' and c.name = lower(r.f ->> 'company');
        with created as (
            insert into salesflow.companies (org_id, name, domain, industry, employee_count, country)
            select distinct on (
                       lower(r.f ->> 'company_domain'),
                       case when r.f ? 'company_domain' then null else lower(r.f ->> 'company') end
                   )
                   v_org, coalesce(r.f ->> 'company', lower(r.f ->> 'company_domain')), lower(r.f ->> 'company_domain'),
                   r.f ->> 'industry', (r.f ->> 'employee_count')::integer, upper(r.f ->> 'country')
            from pg_temp.import_rows as r
            where r.company_id is null and (r.f ? 'company' or r.f ? 'company_domain')
            -- one company per domain; rows without a domain, one per name
            order by lower(r.f ->> 'company_domain'),
                     case when r.f ? 'company_domain' then null else lower(r.f ->> 'company') end, r.line
            returning id, domain, lower(name) as name
        )
        update pg_temp.import_rows as r set company_id = c.id
        from created as c
        where r.company_id is null
          and (c.domain = lower(r.f ->> 'company_domain')
               or (c.domain is null and not r.f ? 'company_domain' and c.name = lower(r.f ->> 'company')));

        insert into salesflow.leads (
            org_id, id, company_id, owner_id, first_name, last_name, email, phone, title, source, lifecycle_stage,
            language, attributes, external_key
        )
        select v_org, r.lead_id, r.company_id, (select auth.uid()), r.f ->> 'first_name', r.f ->> 'last_name', salesflow.normalize_email(r.f ->> 'email'),
               salesflow.normalize_phone(r.f ->> 'phone'), r.f ->> 'title',
               coalesce(lower(r.f ->> 'source'), 'import')::salesflow.lead_source,
               coalesce(lower(r.f ->> 'lifecycle_stage'), 'lead')::salesflow.lifecycle_stage,
               coalesce(lower(r.f ->> 'language'), 'en'), r.attrs, r.f ->> 'external_key'
        from pg_temp.import_rows as r where not r.known;
        get diagnostics n_inserted = row_count;

        if exists (select from pg_temp.import_rows as r where r.known) then
            perform set_config('enable_nestloop', 'off', true);
            update salesflow.leads as l
            set first_name = coalesce(r.f ->> 'first_name', l.first_name),
                last_name = coalesce(r.f ->> 'last_name', l.last_name),
                email = coalesce(salesflow.normalize_email(r.f ->> 'email'), l.email),
                phone = coalesce(salesflow.normalize_phone(r.f ->> 'phone'), l.phone),
                title = coalesce(r.f ->> 'title', l.title),
                source = coalesce(lower(r.f ->> 'source')::salesflow.lead_source, l.source),
                lifecycle_stage = coalesce(lower(r.f ->> 'lifecycle_stage')::salesflow.lifecycle_stage, l.lifecycle_stage),
                language = coalesce(lower(r.f ->> 'language'), l.language),
                attributes = l.attributes || r.attrs,
                external_key = coalesce(r.f ->> 'external_key', l.external_key)
            from pg_temp.import_rows as r
            where r.known and l.org_id = v_org and l.id = r.lead_id
              and (l.attributes || r.attrs, coalesce(r.f ->> 'first_name', l.first_name),
                   coalesce(r.f ->> 'last_name', l.last_name), coalesce(salesflow.normalize_email(r.f ->> 'email'), l.email),
                   coalesce(salesflow.normalize_phone(r.f ->> 'phone'), l.phone), coalesce(r.f ->> 'title', l.title),
                   coalesce(lower(r.f ->> 'source')::salesflow.lead_source, l.source),
                   coalesce(lower(r.f ->> 'lifecycle_stage')::salesflow.lifecycle_stage, l.lifecycle_stage),
                   coalesce(lower(r.f ->> 'language'), l.language), coalesce(r.f ->> 'external_key', l.external_key))
                  is distinct from
                  (l.attributes, l.first_name, l.last_name, l.email, l.phone, l.title, l.source, l.lifecycle_stage,
                   l.language, l.external_key);
            get diagnostics n_updated = row_count;
            perform set_config('enable_nestloop', nestloop, true);
        end if;

        -- an empty outcome leaves a lead open: it never becomes a negative
        insert into salesflow.lead_outcomes as o (org_id, lead_id, converted, decided_at, source)
        select v_org, r.lead_id, r.outcome, r.outcome_at, 'import'
        from pg_temp.import_rows as r where r.outcome is not null
        on conflict on constraint lead_outcomes_pkey do update
        set converted = excluded.converted, decided_at = excluded.decided_at, recorded_at = now()
        where (o.converted, o.decided_at) is distinct from (excluded.converted, excluded.decided_at);
        get diagnostics n_outcomes = row_count;
    end if;

    result := jsonb_build_object(
        'rows', jsonb_array_length(import_leads.rows),
        'inserted', case when import_leads.dry_run then (select count(*) from pg_temp.import_rows where not known)
                         else n_inserted end,
        'updated', n_updated,
        'outcomes', case when import_leads.dry_run
                         then (select count(*) from pg_temp.import_rows where outcome is not null) else n_outcomes end,
        'dry_run', import_leads.dry_run,
        'attributes', types,
        'errors', errors
    );
    truncate pg_temp.import_rows, pg_temp.import_types;
    return result;
end
$$;
comment on function api.import_leads(uuid, jsonb, jsonb, text, text, boolean, integer, boolean) is
'Import a batch of leads (rows: objects of column name to text). Columns named like a lead field '
'(or mapped with field_map column -> field) fill it; every other column becomes a typed attribute '
'(number, category, boolean, date; inferred once, then fixed per organisation). outcome_column holds '
'the historical result (yes/no; empty = still open). Idempotent on external_key, else email. '
'All or nothing: a batch with a bad row raises 22023 listing lines and reasons (or, with '
'raise_on_error false, returns them and imports nothing). dry_run checks and counts only.';

-- Engagement events for leads of one organisation; an event whose idempotency_key is already
-- stored is skipped, so a batch can be re-sent after a timeout.
create or replace function api.record_engagement_events(org_id uuid, events jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
#variable_conflict use_variable
declare
    v_org uuid := record_engagement_events.org_id;
    bad record;
    n integer;
    total integer;
begin
    if jsonb_typeof(events) is distinct from 'array' then
        raise sqlstate '22023' using message = 'events must be a JSON array of objects';
    end if;
    total := jsonb_array_length(events);
    if total > 10000 then
        raise sqlstate '22023' using message = 'at most 10000 events per call';
    end if;
    select e.n, case
            when jsonb_typeof(e.obj) <> 'object' then 'not an object'
            when coalesce(e.obj ->> 'lead_id', '') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                then 'lead_id must be a uuid'
            when not coalesce(e.obj ->> 'event_type', '') = any(enum_range(null::salesflow.engagement_type)::text [])
                then 'event_type must be one of '
                     || array_to_string(enum_range(null::salesflow.engagement_type)::text [], ', ')
            when length(coalesce(e.obj ->> 'idempotency_key', '')) not between 1 and 200
                then 'idempotency_key must be 1 to 200 characters'
            when coalesce(e.obj ->> 'occurred_at', '') !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}'
                then 'occurred_at must be an ISO timestamp'
            when e.obj ? 'properties' and jsonb_typeof(e.obj -> 'properties') <> 'object'
                then 'properties must be an object'
        end as reason
    into bad
    from jsonb_array_elements(events) with ordinality as e (obj, n)
    where jsonb_typeof(e.obj) <> 'object'
       or coalesce(e.obj ->> 'lead_id', '') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
       or not coalesce(e.obj ->> 'event_type', '') = any(enum_range(null::salesflow.engagement_type)::text [])
       or length(coalesce(e.obj ->> 'idempotency_key', '')) not between 1 and 200
       or coalesce(e.obj ->> 'occurred_at', '') !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}'
       or (e.obj ? 'properties' and jsonb_typeof(e.obj -> 'properties') <> 'object')
    order by e.n limit 1;
    if found then
        raise sqlstate '22023' using message = format('event %s: %s; nothing was stored', bad.n, bad.reason);
    end if;
    -- a lead the caller cannot see is a 404 for the whole batch
    select (e.obj ->> 'lead_id')::uuid as lead_id into bad
    from jsonb_array_elements(events) as e (obj)
    where not exists (select from salesflow.leads as l where l.org_id = v_org and l.id = (e.obj ->> 'lead_id')::uuid)
    limit 1;
    if found then
        perform salesflow.not_found('lead', bad.lead_id);
    end if;
    insert into salesflow.engagement_events (org_id, lead_id, event_type, occurred_at, idempotency_key, properties)
    select v_org, (e.obj ->> 'lead_id')::uuid, (e.obj ->> 'event_type')::salesflow.engagement_type,
           (e.obj ->> 'occurred_at')::timestamptz, e.obj ->> 'idempotency_key', coalesce(e.obj -> 'properties', '{}')
    from jsonb_array_elements(events) as e (obj)
    on conflict do nothing;
    get diagnostics n = row_count;
    return jsonb_build_object('stored', n, 'duplicates', total - n);
end
$$;
comment on function api.record_engagement_events(uuid, jsonb) is
'Store engagement events (website_visit, page_view, email_open, email_click, form_submission, '
'product_usage) for leads: objects with lead_id, event_type, occurred_at, idempotency_key and optional '
'properties. Events whose idempotency_key is stored already are skipped; a bad event stores nothing.';

-- Let an organisation exclude an attribute from scoring (known only after the outcome) or mark it
-- sensitive (reported by the bias check).
create or replace function api.set_attribute_definition(
    org_id uuid, attribute text, excluded_from_scoring boolean default null, sensitive boolean default null,
    label_en text default null, label_de text default null
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    r salesflow.lead_attribute_defs;
begin
    update salesflow.lead_attribute_defs as d
    set excluded_from_scoring = coalesce(set_attribute_definition.excluded_from_scoring, d.excluded_from_scoring),
        sensitive = coalesce(set_attribute_definition.sensitive, d.sensitive),
        label_en = coalesce(set_attribute_definition.label_en, d.label_en),
        label_de = coalesce(set_attribute_definition.label_de, d.label_de)
    where d.org_id = set_attribute_definition.org_id and d.name = set_attribute_definition.attribute
    returning d.* into r;
    if not found then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('attribute %s not found', set_attribute_definition.attribute),
            hint = 'Attributes are defined by an import; owners and admins change them.';
    end if;
    return pg_catalog.to_jsonb(r);
end
$$;
comment on function api.set_attribute_definition(uuid, text, boolean, boolean, text, text) is
'Owners and admins: exclude a lead attribute from scoring, mark it sensitive (bias check), or label it.';

create or replace function api.list_attribute_definitions(org_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(d) order by d.name), '[]')
    from salesflow.lead_attribute_defs as d
    where d.org_id = list_attribute_definitions.org_id
$$;
comment on function api.list_attribute_definitions(uuid) is 'The typed lead attributes of an organisation.';

revoke all on function api.import_leads(uuid, jsonb, jsonb, text, text, boolean, integer, boolean) from public;
revoke all on function api.record_engagement_events(uuid, jsonb) from public;
revoke all on function api.set_attribute_definition(uuid, text, boolean, boolean, text, text) from public;
revoke all on function api.list_attribute_definitions(uuid) from public;
grant execute on function api.import_leads(uuid, jsonb, jsonb, text, text, boolean, integer, boolean)
to authenticated, service_role;
grant execute on function api.record_engagement_events(uuid, jsonb) to authenticated, service_role;
grant execute on function api.set_attribute_definition(uuid, text, boolean, boolean, text, text)
to authenticated, service_role;
grant execute on function api.list_attribute_definitions(uuid) to authenticated, service_role;

revoke all on salesflow.lead_conversions from anon, authenticated, service_role;
grant select on salesflow.lead_conversions to authenticated, service_role;
revoke all on function salesflow.is_date(text), salesflow.infer_value_type(text []),
salesflow.typed_value(text, text), salesflow.attribute_name(text),
salesflow.conversion_status(salesflow.lifecycle_stage, boolean, boolean) from public;
-- (the planner inlines conversion_status only for a caller who may execute it)
grant execute on function salesflow.is_date(text), salesflow.infer_value_type(text []),
salesflow.typed_value(text, text), salesflow.attribute_name(text),
salesflow.conversion_status(salesflow.lifecycle_stage, boolean, boolean) to authenticated, service_role;
