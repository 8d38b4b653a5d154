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

create or replace function salesflow.normalize_lead() returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
    new.email := salesflow.normalize_email(new.email);
    new.phone := salesflow.normalize_phone(new.phone);
    return new;
end
$$;
comment on function salesflow.normalize_lead() is
'Trigger: a lead''s email lower-cased and trimmed, its phone as + and digits, however the row arrives.';

create or replace trigger leads_normalize before insert or update of email, phone on salesflow.leads
for each row execute function salesflow.normalize_lead();

create or replace function salesflow.normalize_company() returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
    -- lower case so that companies_domain_key catches "Acme.com" and "acme.com"
    new.domain := salesflow.normalize_domain(new.domain);
    new.country := nullif(pg_catalog.upper(pg_catalog.btrim(new.country)), '');
    return new;
end
$$;
comment on function salesflow.normalize_company() is
'Trigger: a company''s domain lower-cased and trimmed, its country an upper-case ISO 3166 alpha-2 code.';

create or replace trigger companies_normalize before insert or update of domain, country on salesflow.companies
for each row execute function salesflow.normalize_company();

create or replace function salesflow.normalize_channel_identity() returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
    new.address := salesflow.normalize_address(new.channel, new.address);
    return new;
end
$$;
comment on function salesflow.normalize_channel_identity() is
'Trigger: a channel address in the form lookups use (emails lower case, phone numbers + and digits).';

create or replace trigger channel_identities_normalize
before insert or update of channel, address on salesflow.channel_identities
for each row execute function salesflow.normalize_channel_identity();

revoke execute on function salesflow.normalize_domain(text) from public;
revoke execute on function salesflow.normalize_lead() from public;
revoke execute on function salesflow.normalize_company() from public;
revoke execute on function salesflow.normalize_channel_identity() from public;
grant execute on function salesflow.normalize_domain(text) to authenticated, service_role;
