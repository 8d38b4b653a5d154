-- Stored predictions (issue 14, migration 0037): every prediction an RPC or the dashboard shows is
-- kept in salesflow.predictions with its method version, as-of time, inputs' identifiers and who or
-- what asked, so the AI decision audit can show it. An unchanged prediction read again adds no row
-- (its fingerprint is unique), so a page reloaded all day adds one row per distinct answer.
-- The dashboard's forecast is stored by the daily refresh_forecasts job and read back with its as-of
-- time (api.get_dashboard_forecast), so the page does not wait for a forecast on every load.

-- The version of each prediction method; bump it when the method's figures change.
create or replace function salesflow.prediction_method_version(kind text) returns text
language sql
immutable
security invoker
set search_path = ''
as $$
    select case prediction_method_version.kind
        -- 0.4 engagement decline + 0.4 silence + 0.2 lost share (88_prediction_rpcs.sql)
        when 'account_churn' then 'churn-rules-1'
        -- competing-risks life table with stage odds; the forecast calibrated on 3 past cut-offs
        else 'life-table-1'
    end
$$;

-- Store one prediction (as the caller under RLS, or as the worker with p_job) and return its id;
-- the id of the stored row when the same prediction was stored before.
create or replace function salesflow.record_prediction(
    p_org uuid, p_kind text, p_subject uuid, p_method text, p_as_of timestamptz, p_inputs jsonb, p_result jsonb,
    p_job bigint default null
)
returns bigint
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    version text := salesflow.prediction_method_version(p_kind);
    print text := pg_catalog.md5(pg_catalog.concat_ws(
        '|', p_kind, p_subject::text, version, p_method, p_inputs::text,
        case when pg_catalog.jsonb_typeof(p_result) = 'object' then (p_result - 'as_of') else p_result end::text
    ));
    stored_id bigint;
    requester uuid;
begin
    -- the worker (p_job) has no caller, and no access to the auth schema
    if p_job is null then
        requester := (select auth.uid());
    end if;
    insert into salesflow.predictions as p (
        org_id, kind, deal_id, company_id, lead_id, method, method_version, as_of, inputs, result, fingerprint,
        source, requested_by, job_id
    )
    select
        p_org, p_kind,
        case when p_kind = 'deal' then p_subject end,
        case when p_kind = 'account_churn' then p_subject end,
        (select d.lead_id from salesflow.deals as d where p_kind = 'deal' and d.org_id = p_org and d.id = p_subject),
        p_method, version, p_as_of, p_inputs, p_result, print,
        case when p_job is null then 'request' else 'job' end,
        requester,
        p_job
    on conflict (org_id, kind, fingerprint) do nothing
    returning p.id into stored_id;
    if stored_id is null then
        select p.id into stored_id from salesflow.predictions as p
        where p.org_id = p_org and p.kind = p_kind and p.fingerprint = print;
    end if;
    return stored_id;
end
$$;

-- Compute and store a forecast: {"prediction_id", "as_of", "periods": [salesflow.forecast_period]}.
create or replace function salesflow.store_forecast(
    p_org uuid, p_periods integer, p_period_days integer, p_as_of timestamptz, p_job bigint
)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    found_rows jsonb;
    stored_id bigint;
begin
    select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(f) order by f.period), '[]')
    into found_rows
    from salesflow.compute_forecast(p_org, p_periods, p_period_days, p_as_of) as f;
    stored_id := salesflow.record_prediction(
        p_org, 'forecast', null, coalesce(found_rows -> 0 ->> 'method', 'no open deals'), p_as_of,
        pg_catalog.jsonb_build_object(
            'periods', p_periods, 'period_days', p_period_days,
            'open_deals', coalesce((found_rows -> 0 ->> 'open_deals')::integer, 0),
            'read', 'deals and stage changes of the organisation known at as_of'
        ),
        found_rows, p_job
    );
    return pg_catalog.jsonb_build_object('prediction_id', stored_id, 'as_of', p_as_of, 'periods', found_rows);
end
$$;

-- The dashboard's forecast panel (3 windows of 30 days): the latest stored forecast when it is
-- younger than max_age_minutes (the daily job keeps one), else computed now and stored.
create or replace function api.get_dashboard_forecast(org_id uuid, max_age_minutes integer default 1440)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    found record;
    fresh jsonb;
begin
    perform salesflow.require_dashboard_member(get_dashboard_forecast.org_id);
    if max_age_minutes is null or max_age_minutes not between 0 and 10080 then
        raise sqlstate '22023' using message = 'max_age_minutes must be between 0 and 10080 (a week)';
    end if;
    select p.id, p.as_of, p.source, p.created_at, p.result into found
    from salesflow.predictions as p
    where
        p.org_id = get_dashboard_forecast.org_id and p.kind = 'forecast'
        and p.inputs @> '{"periods": 3, "period_days": 30}'
        and p.as_of > pg_catalog.now() - pg_catalog.make_interval(mins => max_age_minutes)
        and p.as_of <= pg_catalog.now()
    order by p.as_of desc
    limit 1;
    if found.id is not null then
        return pg_catalog.jsonb_build_object(
            'prediction_id', found.id, 'as_of', found.as_of, 'source', found.source, 'stored', true,
            'periods', found.result
        );
    end if;
    fresh := salesflow.store_forecast(get_dashboard_forecast.org_id, 3, 30, pg_catalog.now(), null);
    return fresh || pg_catalog.jsonb_build_object('source', 'request', 'stored', false);
end
$$;
comment on function api.get_dashboard_forecast(uuid, integer) is
'The dashboard''s revenue forecast (3 x 30 days, P10/P50/P90) with its as-of time and prediction id: the latest stored one younger than max_age_minutes (default a day; the daily refresh_forecasts job stores one), else computed now and stored.';

-- The refresh_forecasts job: one stored forecast per organisation with an open deal.
create or replace function salesflow.refresh_forecasts(job_id bigint)
returns integer
language sql
volatile
security invoker
set search_path = ''
as $$
    select count(salesflow.store_forecast(o.id, 3, 30, pg_catalog.now(), refresh_forecasts.job_id))::integer
    from salesflow.organizations as o
    where exists (select from salesflow.deals as d where d.org_id = o.id and d.closed_at is null)
$$;

-- The stored predictions of an organisation, newest first (deal_id: that deal's only).
create or replace function api.list_predictions(org_id uuid, deal_id uuid default null, page_size integer default 50)
returns table (
    id bigint, kind text, deal_id uuid, company_id uuid, lead_id uuid, method text, method_version text,
    as_of timestamptz, inputs jsonb, result jsonb, source text, requested_by uuid, job_id bigint,
    created_at timestamptz
)
language sql
stable
security invoker
set search_path = ''
as $$
    select
        p.id, p.kind, p.deal_id, p.company_id, p.lead_id, p.method, p.method_version, p.as_of, p.inputs, p.result,
        p.source, p.requested_by, p.job_id, p.created_at
    from salesflow.predictions as p
    where
        p.org_id = list_predictions.org_id
        and (list_predictions.deal_id is null or p.deal_id = list_predictions.deal_id)
    order by p.created_at desc, p.id desc
    limit salesflow.check_page_size(list_predictions.page_size)
$$;
comment on function api.list_predictions(uuid, uuid, integer) is
'Stored predictions (deal, account_churn, open_deals, forecast) newest first, each with its method version, as-of time, inputs'' identifiers and who or what asked; under RLS.';

-- members read their organisation's predictions and store the ones they ask for (as themselves);
-- the worker (BYPASSRLS) stores the job's
drop policy if exists predictions_select on salesflow.predictions;
create policy predictions_select on salesflow.predictions for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists predictions_insert on salesflow.predictions;
create policy predictions_insert on salesflow.predictions for insert to authenticated
with check (
    org_id = any((select salesflow.my_org_ids())::uuid[])
    and source = 'request' and requested_by = (select auth.uid()) and job_id is null
);
revoke all on salesflow.predictions from anon, authenticated, service_role;
grant select, insert on salesflow.predictions to authenticated, service_role;

revoke execute on function
salesflow.prediction_method_version(text),
salesflow.record_prediction(uuid, text, uuid, text, timestamptz, jsonb, jsonb, bigint),
salesflow.store_forecast(uuid, integer, integer, timestamptz, bigint),
salesflow.compute_forecast(uuid, integer, integer, timestamptz),
salesflow.refresh_forecasts(bigint),
api.get_dashboard_forecast(uuid, integer),
api.list_predictions(uuid, uuid, integer)
from public;
grant execute on function
salesflow.prediction_method_version(text),
salesflow.record_prediction(uuid, text, uuid, text, timestamptz, jsonb, jsonb, bigint),
salesflow.store_forecast(uuid, integer, integer, timestamptz, bigint),
salesflow.compute_forecast(uuid, integer, integer, timestamptz),
api.get_dashboard_forecast(uuid, integer),
api.list_predictions(uuid, uuid, integer)
to authenticated, service_role;

insert into salesflow.job_schedules (name, kind, cron, next_run_at)
values (
    'refresh_forecasts', 'refresh_forecasts', '17 2 * * *',
    date_trunc('day', now(), 'UTC') + interval '1 day 2 hours 17 minutes'
)
on conflict (name) do nothing;
