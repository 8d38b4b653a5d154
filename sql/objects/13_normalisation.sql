-- Normalisation of identifiers where they are stored, not in each RPC (DESIGN.md decision 11):
-- BEFORE INSERT/UPDATE triggers, so COPY, imports, the worker and every RPC store the same form,
-- and lookups (salesflow.normalize_email / normalize_phone / normalize_address, 10_helpers.sql)
-- find what was stored. The constraints on the tables then check the stored form only.
-- The trigger names sort before the tables' other BEFORE triggers (PostgreSQL fires them by name):
-- leads_refuse_suppressed must see the normalised email and phone.

-- A domain name lower case and trimmed, or null for blank input.
create or replace function salesflow.normalize_domain(domain text) returns text
language sql
immutable
parallel safe
security invoker
set search_path = ''
as $$
    select nullif(pg_catalog.lower(pg_catalog.btrim(normalize_domain.domain)), '')
$$;
comment on function salesflow.normalize_domain(text) is
'A domain name lower-cased and trimmed, null when blank (companies.domain is stored so).';

-- One trigger function for every table: its arguments name each column and the form it is stored
-- in, as column:form, where form is email, phone, domain, country (an upper-case ISO 3166 alpha-2
-- code) or address:<channel column> (salesflow.normalize_address by the row's channel).
create or replace function salesflow.normalize_columns() returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    -- plpgsql cannot name a column of NEW by a variable: read it from JSON, write it back with one
    -- jsonb_populate_record of the changed columns only
    old_values jsonb := pg_catalog.to_jsonb(new);
    patch jsonb := '{}';
    arg text;
    col text;
    form text;
begin
    foreach arg in array tg_argv loop
        col := pg_catalog.split_part(arg, ':', 1);
        form := pg_catalog.split_part(arg, ':', 2);
        patch := patch || pg_catalog.jsonb_build_object(col, case form
            when 'email' then salesflow.normalize_email(old_values ->> col)
            when 'phone' then salesflow.normalize_phone(old_values ->> col)
            -- lower case so that companies_domain_key catches "Acme.com" and "acme.com"
            when 'domain' then salesflow.normalize_domain(old_values ->> col)
            when 'country' then nullif(pg_catalog.upper(pg_catalog.btrim(old_values ->> col)), '')
            when 'address' then salesflow.normalize_address(
                (old_values ->> pg_catalog.split_part(arg, ':', 3))::salesflow.channel, old_values ->> col
            )
        end);
        if form not in ('email', 'phone', 'domain', 'country', 'address') then
            raise sqlstate '22023' using message = pg_catalog.format(
                'trigger %s on %s: unknown form %s of column %s', tg_name, tg_table_name, form, col
            );
        end if;
    end loop;
    return pg_catalog.jsonb_populate_record(new, patch);
end
$$;
comment on function salesflow.normalize_columns() is
'Trigger: the columns its arguments name (column:form) stored normalised, however the row arrives: '
'emails lower-cased and trimmed, phones as + and digits, domains lower case, countries upper case, '
'channel addresses in the form lookups use.';

create or replace trigger leads_normalize before insert or update of email, phone on salesflow.leads
for each row execute function salesflow.normalize_columns('email:email', 'phone:phone');

create or replace trigger companies_normalize before insert or update of domain, country on salesflow.companies
for each row execute function salesflow.normalize_columns('domain:domain', 'country:country');

create or replace trigger channel_identities_normalize
before insert or update of channel, address on salesflow.channel_identities
for each row execute function salesflow.normalize_columns('address:address:channel');

-- the three trigger functions this one replaced
drop function if exists salesflow.normalize_lead();
drop function if exists salesflow.normalize_company();
drop function if exists salesflow.normalize_channel_identity();

revoke execute on function salesflow.normalize_domain(text) from public;
revoke execute on function salesflow.normalize_columns() from public;
grant execute on function salesflow.normalize_domain(text) to authenticated, service_role;
