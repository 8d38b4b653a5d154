-- RPCs: deals. A deal closes by moving to closed_won or closed_lost; salesflow.deals_sync_closed
-- keeps closed_at (and lost_reason) consistent with the stage, so no RPC of its own closes one.

create or replace function api.create_deal(
    org_id uuid,
    name text,
    lead_id uuid default null,
    company_id uuid default null,
    owner_id uuid default auth.uid(),
    stage salesflow.deal_stage default 'prospecting',
    amount numeric default 0,
    currency text default 'EUR',
    expected_close date default null,
    lost_reason text default null,
    attributes jsonb default '{}'
)
returns api.deals
language sql
set search_path = ''
as $$
    insert into salesflow.deals (
        org_id, name, lead_id, company_id, owner_id, stage, amount, currency, expected_close, lost_reason,
        attributes
    )
    values (
        create_deal.org_id,
        pg_catalog.btrim(create_deal.name),
        create_deal.lead_id,
        create_deal.company_id,
        create_deal.owner_id,
        create_deal.stage,
        create_deal.amount,
        pg_catalog.upper(pg_catalog.btrim(create_deal.currency)),
        create_deal.expected_close,
        nullif(pg_catalog.btrim(create_deal.lost_reason), ''),
        coalesce(create_deal.attributes, '{}')
    )
    returning salesflow.api_deal(deals)
$$;
comment on function api.create_deal(
    uuid, text, uuid, uuid, uuid, salesflow.deal_stage, numeric, text, date, text, jsonb
) is
'Create a deal. Owner defaults to the caller, currency is stored upper-case; a deal created closed gets closed_at now.';

-- One deal by id, as the caller sees it.
create or replace function salesflow.visible_deal(org_id uuid, deal_id uuid)
returns salesflow.deals
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    found_row salesflow.deals;
begin
    select d.* into found_row from salesflow.deals as d
    where d.org_id = visible_deal.org_id and d.id = visible_deal.deal_id;
    if found_row is null then
        perform salesflow.not_found('deal', visible_deal.deal_id);
    end if;
    return found_row;
end
$$;
comment on function salesflow.visible_deal(uuid, uuid) is
'The deal row as the caller sees it (RLS), or PT404; the RPCs of this file start from it.';
revoke execute on function salesflow.visible_deal(uuid, uuid) from public;
grant execute on function salesflow.visible_deal(uuid, uuid) to authenticated, service_role;

create or replace function api.get_deal(org_id uuid, deal_id uuid)
returns api.deals
language sql
stable
security invoker
set search_path = ''
as $$
    select salesflow.api_deal(salesflow.visible_deal(get_deal.org_id, get_deal.deal_id))
$$;
comment on function api.get_deal(uuid, uuid) is 'One deal by id; 404 when it does not exist or is not visible to the caller.';

create or replace function api.list_deals(
    org_id uuid,
    stage salesflow.deal_stage default null,
    owner_id uuid default null,
    lead_id uuid default null,
    company_id uuid default null,
    page_size integer default 50,
    before timestamptz default null,
    before_id uuid default null
)
returns setof api.deals
language sql
stable
set search_path = ''
as $$
    select salesflow.api_deal(d) from salesflow.deals as d
    where d.org_id = list_deals.org_id
      and (list_deals.stage is null or d.stage = list_deals.stage)
      and (list_deals.owner_id is null or d.owner_id = list_deals.owner_id)
      and (list_deals.lead_id is null or d.lead_id = list_deals.lead_id)
      and (list_deals.company_id is null or d.company_id = list_deals.company_id)
      and (
          list_deals.before is null
          or (d.created_at, d.id) < (list_deals.before, coalesce(list_deals.before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
      )
    order by d.created_at desc, d.id desc
    limit salesflow.check_page_size(list_deals.page_size)
$$;
comment on function api.list_deals(uuid, salesflow.deal_stage, uuid, uuid, uuid, integer, timestamptz, uuid) is
'Deals of an organisation, newest first, filtered by stage, owner, lead or company. '
'Page with before = created_at and before_id = id of the last row of the previous page.';

create or replace function api.update_deal(org_id uuid, deal_id uuid, changes jsonb)
returns api.deals
language plpgsql
set search_path = ''
as $$
declare
    r salesflow.deals;
begin
    perform salesflow.check_changes(update_deal.changes, array[
        'name', 'lead_id', 'company_id', 'owner_id', 'stage', 'amount', 'currency', 'expected_close',
        'closed_at', 'lost_reason', 'attributes'
    ]);
    r := salesflow.visible_deal(update_deal.org_id, update_deal.deal_id);
    r := pg_catalog.jsonb_populate_record(r, update_deal.changes);
    -- closed_at: deals_sync_closed sets it when the stage closes and clears it when the deal reopens;
    -- a value given here back-dates the close of a closed deal.
    update salesflow.deals as d set
        name = pg_catalog.btrim(r.name),
        lead_id = r.lead_id,
        company_id = r.company_id,
        owner_id = r.owner_id,
        stage = r.stage,
        amount = r.amount,
        currency = pg_catalog.upper(pg_catalog.btrim(r.currency)),
        expected_close = r.expected_close,
        closed_at = r.closed_at,
        lost_reason = nullif(pg_catalog.btrim(r.lost_reason), ''),
        attributes = coalesce(r.attributes, '{}')
    where d.org_id = update_deal.org_id and d.id = update_deal.deal_id
    returning d.* into r;
    if not found then
        raise sqlstate '42501' using
            message = pg_catalog.format('you may not change deal %s', update_deal.deal_id),
            hint = 'Reps change the deals they own; owners and admins change any.';
    end if;
    return salesflow.api_deal(r);
end
$$;
comment on function api.update_deal(uuid, uuid, jsonb) is
'Change a deal: changes is an object of field names to new values; fields not named keep their values. '
'Close it by setting stage to closed_won or closed_lost; closed_at follows the stage.';

create or replace function api.delete_deal(org_id uuid, deal_id uuid)
returns api.deals
language plpgsql
set search_path = ''
as $$
declare
    r salesflow.deals;
begin
    perform api.get_deal(delete_deal.org_id, delete_deal.deal_id);
    delete from salesflow.deals as d
    where d.org_id = delete_deal.org_id and d.id = delete_deal.deal_id
    returning d.* into r;
    if not found then
        raise sqlstate '42501' using
            message = pg_catalog.format('you may not delete deal %s', delete_deal.deal_id),
            hint = 'Only owners and admins delete deals.';
    end if;
    return salesflow.api_deal(r);
end
$$;
comment on function api.delete_deal(uuid, uuid) is
'Delete a deal (owners and admins). Its activities stay with their lead; those without a lead go with the deal.';
