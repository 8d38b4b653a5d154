-- 0037: stored predictions (issue 14). Every prediction an RPC or the dashboard shows (a deal's win
-- probability, close date and stall risk; an account's churn risk; the open pipeline; the revenue
-- forecast) is kept with the method and version that made it, when, as of when, its inputs'
-- identifiers and who or what asked, so api.get_ai_decision_audit shows predictions beside drafts,
-- analyses and summaries. Bounded: a prediction read again unchanged adds no row (the fingerprint
-- is unique), so a deal's page viewed all day adds one row per distinct answer, not one per view.
-- Run once. Functions, policies and grants live in sql/objects/88_stored_predictions.sql.

create table salesflow.predictions (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id bigint generated always as identity,
    -- deal: api.predict_deal; account_churn: api.predict_account_churn; open_deals:
    -- api.predict_open_deals (one row per call, the deals in result); forecast: api.forecast_revenue
    kind text not null check (kind in ('deal', 'account_churn', 'open_deals', 'forecast')),
    deal_id uuid,
    company_id uuid,
    -- the deal's lead when it was predicted: erasing the lead removes the row (cascade)
    lead_id uuid,
    method text not null check (length(method) <= 200),
    method_version text not null check (length(method_version) <= 100),
    -- the time the prediction is about (a past as_of reads only what was known then)
    as_of timestamptz not null,
    -- identifiers and parameters of what was read (deal ids, counts, horizon), never text
    inputs jsonb not null default '{}' check (jsonb_typeof(inputs) = 'object'),
    result jsonb not null check (jsonb_typeof(result) in ('object', 'array')),
    -- md5 of kind, subject, method version, parameters and result without its as_of
    fingerprint text not null check (fingerprint ~ '^[0-9a-f]{32}$'),
    -- request: an RPC call as the caller (requested_by); job: the queue (job_id)
    source text not null check (source in ('request', 'job')),
    requested_by uuid,
    job_id bigint,
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    unique (org_id, kind, fingerprint),
    foreign key (org_id, deal_id) references salesflow.deals (org_id, id) on delete cascade,
    foreign key (org_id, company_id) references salesflow.companies (org_id, id) on delete cascade,
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade,
    check ((kind = 'deal') = (deal_id is not null)),
    check ((kind = 'account_churn') = (company_id is not null)),
    check (lead_id is null or deal_id is not null)
);
comment on table salesflow.predictions is
'Every prediction shown by an RPC or the dashboard, with its method version, as-of time, inputs'' identifiers and requester; an unchanged prediction is stored once.';
create index predictions_deal_idx on salesflow.predictions (org_id, deal_id);
create index predictions_company_idx on salesflow.predictions (org_id, company_id);
create index predictions_lead_idx on salesflow.predictions (org_id, lead_id);
-- the dashboard's latest stored forecast
create index predictions_latest_idx on salesflow.predictions (org_id, kind, created_at desc);
alter table salesflow.predictions enable row level security;

-- one window of the revenue forecast, as salesflow.compute_forecast returns it and a stored
-- forecast's result holds it (api.forecast_revenue reads its rows back through this type)
create type salesflow.forecast_period as (
    period integer,
    period_start date,
    period_end date,
    open_deals integer,
    pipeline_expected numeric,
    run_rate_expected numeric,
    calibration double precision,
    expected numeric,
    p10 numeric,
    p50 numeric,
    p90 numeric,
    method text
);
