-- The API contract apart from the tables (DESIGN.md decision 11). What an RPC returns is declared
-- in `api`, as a security_invoker view naming its columns one by one, so a column added to a table
-- for internal use (a score, a decay field, an erasure flag) changes no API output until a view
-- names it. The views are row types for the RPCs: no role is granted them, so nothing is exposed
-- by them appearing in `api`; a client reads rows through the RPCs, where RLS decides.

-- `create or replace function` cannot change a function's result type. An object file that
-- changes one calls this first: it drops the function only when its result differs from the one
-- about to be created, so re-applying the objects is idempotent and a fresh database untouched.
create or replace function salesflow.drop_function_if_result_differs(signature text, result text)
returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    fn regprocedure := pg_catalog.to_regprocedure(drop_function_if_result_differs.signature);
begin
    -- search_path is empty here, so pg_get_function_result qualifies every type name
    if fn is null or pg_catalog.pg_get_function_result(fn) = drop_function_if_result_differs.result then
        return false;
    end if;
    execute pg_catalog.format('drop function %s', fn);
    return true;
end
$$;
comment on function salesflow.drop_function_if_result_differs(text, text) is
'Drop the function `signature` when its result type is not `result` (objects pipeline: a changed return type).';
revoke execute on function salesflow.drop_function_if_result_differs(text, text) from public;

-- The row types of leads, companies, deals, activities and messages as the API returns them.
-- Internal columns stay out: search_words (the keyword index of hybrid search) and whatever is
-- added to the tables later, until a view here names it. A new column is added at the end of a
-- view (`create or replace view` may append, never drop or reorder).
create or replace view api.companies with (security_invoker = on) as
select
    c.org_id,
    c.id,
    c.name,
    c.domain,
    c.industry,
    c.employee_count,
    c.country,
    c.attributes,
    c.created_at,
    c.updated_at
from salesflow.companies as c;
comment on view api.companies is 'The API row type of a company (what the company RPCs return); read through them.';
revoke all on api.companies from public, anon, authenticated, service_role;
create or replace view api.leads with (security_invoker = on) as
select
    l.org_id,
    l.id,
    l.company_id,
    l.owner_id,
    l.first_name,
    l.last_name,
    l.email,
    l.phone,
    l.title,
    l.source,
    l.lifecycle_stage,
    l.language,
    l.attributes,
    l.created_at,
    l.updated_at,
    l.last_activity_at,
    l.external_key
from salesflow.leads as l;
comment on view api.leads is 'The API row type of a lead (what the lead RPCs return); read through them.';
revoke all on api.leads from public, anon, authenticated, service_role;
create or replace view api.deals with (security_invoker = on) as
select
    d.org_id,
    d.id,
    d.lead_id,
    d.company_id,
    d.owner_id,
    d.name,
    d.stage,
    d.amount,
    d.currency,
    d.expected_close,
    d.closed_at,
    d.lost_reason,
    d.attributes,
    d.created_at,
    d.updated_at
from salesflow.deals as d;
comment on view api.deals is 'The API row type of a deal (what the deal RPCs return); read through them.';
revoke all on api.deals from public, anon, authenticated, service_role;
create or replace view api.activities with (security_invoker = on) as
select
    a.org_id,
    a.id,
    a.lead_id,
    a.deal_id,
    a.owner_id,
    a.kind,
    a.direction,
    a.subject,
    a.body,
    a.outcome,
    a.occurred_at,
    a.due_at,
    a.completed_at,
    a.created_at
from salesflow.activities as a;
comment on view api.activities is 'The API row type of a activity (what the activity RPCs return); read through them.';
revoke all on api.activities from public, anon, authenticated, service_role;
create or replace view api.messages with (security_invoker = on) as
select
    m.org_id,
    m.id,
    m.lead_id,
    m.channel,
    m.direction,
    m.subject,
    m.body,
    m.language,
    m.external_id,
    m.sent_at,
    m.created_at,
    m.thread_id,
    m.metadata
from salesflow.messages as m;
comment on view api.messages is 'The API row type of a message (what the message RPCs return); read through them.';
revoke all on api.messages from public, anon, authenticated, service_role;

-- One row of a table as its API row type; the RPCs return what these give.
create or replace function salesflow.api_company(r salesflow.companies)
returns api.companies
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_company.r.org_id,
        api_company.r.id,
        api_company.r.name,
        api_company.r.domain,
        api_company.r.industry,
        api_company.r.employee_count,
        api_company.r.country,
        api_company.r.attributes,
        api_company.r.created_at,
        api_company.r.updated_at
$$;
comment on function salesflow.api_company(salesflow.companies) is 'A salesflow.companies row as api.companies: the columns the API shows.';
revoke execute on function salesflow.api_company(salesflow.companies) from public;
grant execute on function salesflow.api_company(salesflow.companies) to authenticated, service_role;
create or replace function salesflow.api_lead(r salesflow.leads)
returns api.leads
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_lead.r.org_id,
        api_lead.r.id,
        api_lead.r.company_id,
        api_lead.r.owner_id,
        api_lead.r.first_name,
        api_lead.r.last_name,
        api_lead.r.email,
        api_lead.r.phone,
        api_lead.r.title,
        api_lead.r.source,
        api_lead.r.lifecycle_stage,
        api_lead.r.language,
        api_lead.r.attributes,
        api_lead.r.created_at,
        api_lead.r.updated_at,
        api_lead.r.last_activity_at,
        api_lead.r.external_key
$$;
comment on function salesflow.api_lead(salesflow.leads) is 'A salesflow.leads row as api.leads: the columns the API shows.';
revoke execute on function salesflow.api_lead(salesflow.leads) from public;
grant execute on function salesflow.api_lead(salesflow.leads) to authenticated, service_role;
create or replace function salesflow.api_deal(r salesflow.deals)
returns api.deals
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_deal.r.org_id,
        api_deal.r.id,
        api_deal.r.lead_id,
        api_deal.r.company_id,
        api_deal.r.owner_id,
        api_deal.r.name,
        api_deal.r.stage,
        api_deal.r.amount,
        api_deal.r.currency,
        api_deal.r.expected_close,
        api_deal.r.closed_at,
        api_deal.r.lost_reason,
        api_deal.r.attributes,
        api_deal.r.created_at,
        api_deal.r.updated_at
$$;
comment on function salesflow.api_deal(salesflow.deals) is 'A salesflow.deals row as api.deals: the columns the API shows.';
revoke execute on function salesflow.api_deal(salesflow.deals) from public;
grant execute on function salesflow.api_deal(salesflow.deals) to authenticated, service_role;
create or replace function salesflow.api_activity(r salesflow.activities)
returns api.activities
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_activity.r.org_id,
        api_activity.r.id,
        api_activity.r.lead_id,
        api_activity.r.deal_id,
        api_activity.r.owner_id,
        api_activity.r.kind,
        api_activity.r.direction,
        api_activity.r.subject,
        api_activity.r.body,
        api_activity.r.outcome,
        api_activity.r.occurred_at,
        api_activity.r.due_at,
        api_activity.r.completed_at,
        api_activity.r.created_at
$$;
comment on function salesflow.api_activity(salesflow.activities) is 'A salesflow.activities row as api.activities: the columns the API shows.';
revoke execute on function salesflow.api_activity(salesflow.activities) from public;
grant execute on function salesflow.api_activity(salesflow.activities) to authenticated, service_role;
create or replace function salesflow.api_message(r salesflow.messages)
returns api.messages
language sql
immutable
security invoker
set search_path = ''
as $$
    select
        api_message.r.org_id,
        api_message.r.id,
        api_message.r.lead_id,
        api_message.r.channel,
        api_message.r.direction,
        api_message.r.subject,
        api_message.r.body,
        api_message.r.language,
        api_message.r.external_id,
        api_message.r.sent_at,
        api_message.r.created_at,
        api_message.r.thread_id,
        api_message.r.metadata
$$;
comment on function salesflow.api_message(salesflow.messages) is 'A salesflow.messages row as api.messages: the columns the API shows.';
revoke execute on function salesflow.api_message(salesflow.messages) from public;
grant execute on function salesflow.api_message(salesflow.messages) to authenticated, service_role;

-- Before the contract, these RPCs returned the tables' own row types, which `create or replace`
-- cannot change: drop any that still do (once, on the first deploy after; a no-op afterwards),
-- and their object files create them again with the api row types.
do $$
declare
    fn regprocedure;
begin
    for fn in
        select p.oid::regprocedure from pg_catalog.pg_proc as p
        join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
        where n.nspname = 'api' and p.prorettype = any(array[
            'salesflow.companies'::regtype, 'salesflow.leads'::regtype, 'salesflow.deals'::regtype,
            'salesflow.activities'::regtype, 'salesflow.messages'::regtype
        ])
    loop
        execute pg_catalog.format('drop function %s', fn);
    end loop;
end
$$;
