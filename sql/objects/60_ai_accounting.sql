-- AI gateway accounting (DESIGN.md decision 6): prices, budgets checked before the call, the
-- request log and its rollups after it, feedback, and the analysts' views.
--
-- Internal functions (llm_price, reserve_budget, settle_request) are executed by the gateway's
-- connection (the database owner), like the queue's; nothing here but the api.* RPC is granted to
-- app roles. The gateway calls: reserve_budget -> provider call (no transaction open) -> settle_request.

-- The catalogue row in force at `at` (the newest effective_from on or before that day, UTC).
create or replace function salesflow.llm_price(
    provider text, model text, at timestamptz default now()
) returns salesflow.llm_models
language sql
stable
set search_path = ''
as $$
    select m.* from salesflow.llm_models as m
    where m.provider = llm_price.provider and m.model = llm_price.model
      and m.effective_from <= (llm_price.at at time zone 'UTC')::date
    order by m.effective_from desc
    limit 1
$$;

comment on function salesflow.llm_price(text, text, timestamptz) is
'The catalogue row (context window, prices per million tokens) in force for a model at a time.';

-- Start of the budget period containing `at`, in UTC.
create or replace function salesflow.budget_period_start(
    period salesflow.budget_period, at timestamptz
) returns timestamptz
language sql
immutable
parallel safe
set search_path = ''
as $$
    select pg_catalog.date_trunc(budget_period_start.period::text, budget_period_start.at, 'UTC')
$$;

-- Set money aside for one call, or refuse it. Race-free: the budget rows that apply are locked
-- FOR UPDATE in one order (by id), so concurrent reservations against the same budget queue up,
-- and each one sums spent + open reservations only after it holds the locks (a READ COMMITTED
-- statement in a volatile function sees what the previous lock holder committed).
-- Over a hard limit: sqlstate PT402 (PostgREST answers 402). Over a soft limit: one alert per
-- budget and period. Returns the reservation to settle (also when no budget applies).
create or replace function salesflow.reserve_budget(
    org_id uuid, user_id uuid, feature text, estimated_cost numeric
) returns uuid
language plpgsql
set search_path = ''
as $$
-- ON CONFLICT's column list names columns that share the parameters' names
#variable_conflict use_column
declare
    b salesflow.llm_budgets;
    since timestamptz;
    spent numeric;
    reserved numeric;
    total numeric;
    reservation uuid;
begin
    -- expired reservations of crashed callers are settled (charged their amount) before summing
    perform salesflow.sweep_llm_reservations(reserve_budget.org_id);
    if estimated_cost is null or estimated_cost < 0 then
        raise sqlstate '22023' using message = pg_catalog.format(
            'estimated_cost must be a non-negative amount, got %s', coalesce(estimated_cost::text, 'null'));
    end if;
    for b in
        select x.* from salesflow.llm_budgets as x
        where x.org_id = reserve_budget.org_id
          and (x.scope = 'org'
               or (x.scope = 'user' and x.user_id = reserve_budget.user_id)
               or (x.scope = 'feature' and x.feature = reserve_budget.feature))
        order by x.id
        for update
    loop
        since := salesflow.budget_period_start(b.period, pg_catalog.now());
        select coalesce(sum(r.cost), 0) into spent
        from salesflow.llm_requests as r
        where r.org_id = b.org_id and r.started_at >= since
          and (b.scope = 'org' or (b.scope = 'user' and r.user_id = b.user_id)
               or (b.scope = 'feature' and r.feature = b.feature));
        select coalesce(sum(v.amount), 0) into reserved
        from salesflow.llm_budget_reservations as v
        where v.org_id = b.org_id and v.expires_at > pg_catalog.now()
          and (b.scope = 'org' or (b.scope = 'user' and v.user_id = b.user_id)
               or (b.scope = 'feature' and v.feature = b.feature));
        total := spent + reserved + estimated_cost;
        if b.hard_limit is not null and total > b.hard_limit then
            raise sqlstate 'PT402' using
                message = pg_catalog.format(
                    'LLM budget exceeded: the %s %s budget%s allows %s, %s is spent or reserved and this call needs %s',
                    b.period, b.scope,
                    case b.scope when 'user' then ' of user ' || b.user_id::text
                        when 'feature' then ' of feature ' || b.feature else '' end,
                    b.hard_limit, spent + reserved, estimated_cost),
                hint = 'Raise the hard limit in salesflow.llm_budgets, or wait for the next period.';
        end if;
        if b.soft_limit is not null and total > b.soft_limit then
            insert into salesflow.llm_budget_alerts (org_id, budget_id, period_start, kind, spent, limit_amount)
            values (b.org_id, b.id, since, 'soft', total, b.soft_limit)
            on conflict (org_id, budget_id, period_start, kind) do nothing;
        end if;
    end loop;
    insert into salesflow.llm_budget_reservations (org_id, user_id, feature, amount)
    values (reserve_budget.org_id, reserve_budget.user_id, reserve_budget.feature, estimated_cost)
    returning id into reservation;
    return reservation;
end
$$;

comment on function salesflow.reserve_budget(uuid, uuid, text, numeric) is
'Reserve an estimated cost against every budget that applies, or refuse with PT402 over a hard limit.';

-- Record one finished call: write the log row (cost from the catalogue at started_at), release
-- its reservation, and update the daily rollup. The rollup runs in a savepoint: if it fails the
-- log row and the release stand and the caller's transaction goes on, with a warning.
-- (The signature before migration 0005 had no baseline, usage_estimated or conversation_id.)
drop function if exists salesflow.settle_request(
    uuid, uuid, text, text, text, timestamptz, salesflow.llm_status, integer, integer, integer, integer, uuid, text,
    text, integer, text, integer, uuid, text, text
);
create or replace function salesflow.settle_request(
    reservation_id uuid,
    org_id uuid,
    task text,
    provider text,
    model text,
    started_at timestamptz,
    status salesflow.llm_status,
    input_tokens integer default 0,
    output_tokens integer default 0,
    latency_ms integer default null,
    time_to_first_token_ms integer default null,
    user_id uuid default null,
    feature text default null,
    error text default null,
    fallback_hops integer default 0,
    prompt_name text default null,
    prompt_version integer default null,
    experiment_id uuid default null,
    experiment_label text default null,
    subject_id text default null,
    -- the task policy's top model, priced on the same tokens by analytics.llm_routing_savings
    baseline_provider text default null,
    baseline_model text default null,
    usage_estimated boolean default false,
    conversation_id uuid default null
) returns bigint
language plpgsql
set search_path = ''
as $$
-- ON CONFLICT's column list names columns that share the parameters' names
#variable_conflict use_column
declare
    price salesflow.llm_models;
    reserved numeric;
    charged numeric;
    request_id bigint;
begin
    delete from salesflow.llm_budget_reservations as v
    where v.org_id = settle_request.org_id and v.id = settle_request.reservation_id
    returning v.amount into reserved;
    price := salesflow.llm_price(settle_request.provider, settle_request.model, settle_request.started_at);
    -- a model missing from the catalogue is charged its reservation: never free, so never a way
    -- around a budget
    charged := case
        when price.model is not null then pg_catalog.round(
            (coalesce(settle_request.input_tokens, 0) * price.input_price_per_mtok
             + coalesce(settle_request.output_tokens, 0) * price.output_price_per_mtok) / 1000000, 6)
        else coalesce(reserved, 0)
    end;
    insert into salesflow.llm_requests (
        org_id, started_at, user_id, task, feature, prompt_name, prompt_version, experiment_id, experiment_label,
        subject_id, provider, model, input_tokens, output_tokens, cost, latency_ms, time_to_first_token_ms, status,
        error, fallback_hops, reservation_id, baseline_provider, baseline_model, usage_estimated, conversation_id
    )
    values (
        settle_request.org_id, settle_request.started_at, settle_request.user_id, settle_request.task,
        settle_request.feature, settle_request.prompt_name, settle_request.prompt_version,
        settle_request.experiment_id, settle_request.experiment_label,
        -- a hash, never the lead's or user's id itself: erasure cannot reach an append-only log
        case when settle_request.subject_id is not null then pg_catalog.encode(pg_catalog.sha256(
            pg_catalog.convert_to(settle_request.org_id::text || ':' || settle_request.subject_id, 'UTF8')), 'hex')
        end,
        settle_request.provider, settle_request.model, coalesce(settle_request.input_tokens, 0),
        coalesce(settle_request.output_tokens, 0), charged, settle_request.latency_ms,
        settle_request.time_to_first_token_ms, settle_request.status,
        case when settle_request.status = 'ok' then null
            else coalesce(settle_request.error, settle_request.status::text) end,
        coalesce(settle_request.fallback_hops, 0), settle_request.reservation_id,
        settle_request.baseline_provider, settle_request.baseline_model,
        coalesce(settle_request.usage_estimated, false), settle_request.conversation_id
    )
    returning id into request_id;
    begin
        insert into salesflow.llm_usage_daily as u (
            org_id, day, user_id, task, provider, model, requests, errors, fallbacks, input_tokens, output_tokens,
            cost, latency_ms_sum
        )
        values (
            settle_request.org_id, (settle_request.started_at at time zone 'UTC')::date, settle_request.user_id,
            settle_request.task, settle_request.provider, settle_request.model, 1,
            (settle_request.status <> 'ok')::integer, (coalesce(settle_request.fallback_hops, 0) > 0)::integer,
            coalesce(settle_request.input_tokens, 0), coalesce(settle_request.output_tokens, 0), charged,
            coalesce(settle_request.latency_ms, 0)
        )
        on conflict (org_id, day, user_id, task, provider, model) do update
        set requests = u.requests + excluded.requests,
            errors = u.errors + excluded.errors,
            fallbacks = u.fallbacks + excluded.fallbacks,
            input_tokens = u.input_tokens + excluded.input_tokens,
            output_tokens = u.output_tokens + excluded.output_tokens,
            cost = u.cost + excluded.cost,
            latency_ms_sum = u.latency_ms_sum + excluded.latency_ms_sum,
            updated_at = pg_catalog.now();
    exception when others then
        -- the log row is the record; the rollup can be rebuilt from it
        raise warning 'llm_usage_daily not updated for request %: % (%)', request_id, sqlerrm, sqlstate;
    end;
    return request_id;
end
$$;

comment on function salesflow.settle_request(
    uuid, uuid, text, text, text, timestamptz, salesflow.llm_status, integer, integer, integer, integer, uuid, text,
    text, integer, text, integer, uuid, text, text, text, text, boolean, uuid
) is
'Log one finished LLM call priced from the catalogue at its start, release its reservation, update the rollups.';

-- The log is append-only: a correction is a new row, never an edit (the triggers are in
-- 67_audit.sql, with retention).
create or replace function salesflow.refuse_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    -- GDPR erasure drops a person's text from the log, only through salesflow.erase_llm_traces (83_gdpr.sql)
    if pg_catalog.current_setting('salesflow.erasure', true) = 'on' then
        return new;
    end if;
    raise sqlstate '55000' using
        message = pg_catalog.format('%s.%s is append-only: rows cannot be updated', tg_table_schema, tg_table_name);
end
$$;


-- Feedback from the person who saw the answer. Runs as the caller: RLS decides the organisation,
-- the foreign key that the request belongs to it.
create or replace function api.record_llm_feedback(
    org_id uuid,
    request_id bigint,
    rating smallint default null,
    outcome salesflow.llm_outcome default null,
    comment text default null
)
returns api.llm_feedback
language sql
set search_path = ''
as $$
    insert into salesflow.llm_feedback (org_id, request_id, user_id, rating, outcome, comment)
    values (
        record_llm_feedback.org_id,
        record_llm_feedback.request_id,
        (select auth.uid()),
        record_llm_feedback.rating,
        record_llm_feedback.outcome,
        nullif(pg_catalog.btrim(record_llm_feedback.comment), '')
    )
    returning salesflow.api_llm_feedback(llm_feedback)
$$;
comment on function api.record_llm_feedback(uuid, bigint, smallint, salesflow.llm_outcome, text) is
'Record feedback on one logged AI answer: rating 1 (thumbs up) or -1 (down), and/or accepted, edited or rejected.';

-- Row-level security. The log, rollups, budgets and alerts show other users' spending: owners,
-- admins and analysts see the organisation's, everyone else only their own calls. Reservations
-- and the catalogue have no policies (only the gateway's owner connection touches them).
alter table salesflow.llm_models enable row level security;
alter table salesflow.llm_requests enable row level security;
alter table salesflow.llm_usage_daily enable row level security;
alter table salesflow.llm_budgets enable row level security;
alter table salesflow.llm_budget_reservations enable row level security;
alter table salesflow.llm_budget_alerts enable row level security;
alter table salesflow.llm_feedback enable row level security;

drop policy if exists llm_requests_select on salesflow.llm_requests;
create policy llm_requests_select on salesflow.llm_requests for select to authenticated
using (
    org_id = any((select salesflow.my_org_ids('{owner,admin,analyst}'))::uuid[])
    or (org_id = any((select salesflow.my_org_ids())::uuid[]) and user_id = (select auth.uid()))
);

drop policy if exists llm_usage_daily_select on salesflow.llm_usage_daily;
create policy llm_usage_daily_select on salesflow.llm_usage_daily for select to authenticated
using (
    org_id = any((select salesflow.my_org_ids('{owner,admin,analyst}'))::uuid[])
    or (org_id = any((select salesflow.my_org_ids())::uuid[]) and user_id = (select auth.uid()))
);

drop policy if exists llm_budgets_select on salesflow.llm_budgets;
create policy llm_budgets_select on salesflow.llm_budgets for select to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,analyst}'))::uuid[]));

drop policy if exists llm_budget_alerts_select on salesflow.llm_budget_alerts;
create policy llm_budget_alerts_select on salesflow.llm_budget_alerts for select to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,analyst}'))::uuid[]));

-- any member may judge an answer they were shown, and read the organisation's feedback
drop policy if exists llm_feedback_select on salesflow.llm_feedback;
create policy llm_feedback_select on salesflow.llm_feedback for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

-- only the member who made the request, or an owner or admin, may rate it (and each once: the
-- unique index llm_feedback_once), so no member can skew an A/B result with others' answers
drop policy if exists llm_feedback_insert on salesflow.llm_feedback;
create policy llm_feedback_insert on salesflow.llm_feedback for insert to authenticated
with check (
    user_id = (select auth.uid())
    and (
        org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[])
        or (org_id = any((select salesflow.my_org_ids())::uuid[]) and exists (
            select 1 from salesflow.llm_requests as r
            where r.org_id = llm_feedback.org_id and r.id = llm_feedback.request_id and r.user_id = (select auth.uid())
        ))
    )
);

revoke all on salesflow.llm_models, salesflow.llm_budget_reservations from anon, authenticated, service_role;
grant select on salesflow.llm_requests, salesflow.llm_usage_daily, salesflow.llm_budgets,
salesflow.llm_budget_alerts, salesflow.llm_feedback to authenticated, service_role;
grant insert on salesflow.llm_feedback to authenticated, service_role;
