-- Plain-language search (issue 14, POST /api/ai/search): the question is parsed into these
-- filters (offline rules, or a model where one is configured) and the deals are found here, as
-- the caller, so RLS decides what anyone sees. Memory (api.search_memory) is searched beside it.

-- LIKE pattern matching `term` literally anywhere.
create or replace function salesflow.like_anywhere(term text)
returns text
language sql
immutable
security invoker
set search_path = ''
as $$
    select '%' || pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(term, '\', '\\'), '%', '\%'), '_', '\_')
        || '%'
$$;

create or replace function api.search_deals(
    org_id uuid,
    stages salesflow.deal_stage[] default null,
    owner_id uuid default null,
    min_amount numeric default null,
    max_amount numeric default null,
    close_from date default null,
    close_to date default null,
    -- a competitor's name, or '*' for any competitor the lead's memory records
    competitor text default null,
    lead_id uuid default null,
    company text default null,
    page_size integer default 25
)
returns table (
    deal_id uuid, name text, stage salesflow.deal_stage, amount numeric, currency text, expected_close date,
    deal_owner_id uuid, deal_lead_id uuid, lead_name text, company_name text, competitor_evidence text
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
    if not search_deals.org_id = any(salesflow.my_org_ids()) then
        perform salesflow.not_found('organization', search_deals.org_id);
    end if;
    if pg_catalog.length(search_deals.competitor) > 100 or pg_catalog.length(search_deals.company) > 200 then
        raise sqlstate '22023' using message = 'competitor is limited to 100 characters, company to 200';
    end if;
    if search_deals.min_amount > search_deals.max_amount or search_deals.close_from > search_deals.close_to then
        raise sqlstate '22023' using message = 'a range''s lower bound is above its upper bound';
    end if;
    return query
    select d.id, d.name, d.stage, d.amount, d.currency::text, d.expected_close, d.owner_id, d.lead_id,
        nullif(pg_catalog.concat_ws(' ', l.first_name, l.last_name), ''), c.name, ev.evidence
    from salesflow.deals as d
    left join salesflow.leads as l on l.org_id = d.org_id and l.id = d.lead_id
    left join salesflow.companies as c on c.org_id = d.org_id and c.id = d.company_id
    left join lateral (
        select coalesce(
            -- the lead's memory: a current competitor fact
            (select f.quote from salesflow.memory_facts as f
             where f.org_id = d.org_id and f.lead_id = d.lead_id and f.valid_to is null
               and (f.category = 'competitor' and (search_deals.competitor = '*'
                    or f.fact ilike salesflow.like_anywhere(search_deals.competitor)
                    or f.quote ilike salesflow.like_anywhere(search_deals.competitor)))
             order by f.valid_from desc limit 1),
            -- or a message of the lead naming the competitor
            (select pg_catalog.left(m.body, 200) from salesflow.messages as m
             where search_deals.competitor <> '*' and m.org_id = d.org_id and m.lead_id = d.lead_id
               and m.body ilike salesflow.like_anywhere(search_deals.competitor)
             order by m.sent_at desc limit 1)
        ) as evidence
        where search_deals.competitor is not null and d.lead_id is not null
    ) as ev on true
    where d.org_id = search_deals.org_id
      and (search_deals.stages is null or d.stage = any(search_deals.stages))
      and (search_deals.owner_id is null or d.owner_id = search_deals.owner_id)
      and (search_deals.min_amount is null or d.amount >= search_deals.min_amount)
      and (search_deals.max_amount is null or d.amount <= search_deals.max_amount)
      and (search_deals.close_from is null or d.expected_close >= search_deals.close_from)
      and (search_deals.close_to is null or d.expected_close <= search_deals.close_to)
      and (search_deals.lead_id is null or d.lead_id = search_deals.lead_id)
      and (search_deals.company is null or c.name ilike salesflow.like_anywhere(search_deals.company))
      and (search_deals.competitor is null or ev.evidence is not null)
    order by d.amount desc, d.id
    limit salesflow.check_page_size(search_deals.page_size);
end
$$;
comment on function api.search_deals(
    uuid, salesflow.deal_stage[], uuid, numeric, numeric, date, date, text, uuid, text, integer
) is
'Deals by structured filters: stages, owner, amount range, expected close range, lead, company name, and a '
'competitor the lead''s memory or messages name (''*'': any recorded competitor), with the evidence. '
'POST /api/ai/search turns a plain-language question into these filters.';

revoke execute on function salesflow.like_anywhere(text) from public;
revoke execute on function api.search_deals(
    uuid, salesflow.deal_stage[], uuid, numeric, numeric, date, date, text, uuid, text, integer
) from public;
grant execute on function salesflow.like_anywhere(text) to authenticated, service_role;
grant execute on function api.search_deals(
    uuid, salesflow.deal_stage[], uuid, numeric, numeric, date, date, text, uuid, text, integer
) to authenticated, service_role;
