create or replace function api.predict_deal(
    org_id uuid, deal_id uuid, horizon_days integer default 30, as_of timestamptz default null
)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    at_time timestamptz := coalesce(predict_deal.as_of, pg_catalog.now());
    deal salesflow.deals;
    chance record;
    stall record;
    median_won double precision;
    reasons jsonb := '[]';
    answer jsonb;
begin
    if horizon_days is null or horizon_days not between 1 and 3650 then
        raise exception 'horizon_days must be between 1 and 3650' using errcode = '22023';
    end if;
    select d.* into deal from salesflow.deals as d
    where d.org_id = predict_deal.org_id and d.id = predict_deal.deal_id and d.created_at <= at_time;
    if deal is null then
        perform salesflow.not_found('deal', predict_deal.deal_id);
    end if;
    if deal.closed_at is not null and deal.closed_at <= at_time then
        return pg_catalog.jsonb_build_object(
            'deal_id', deal.id, 'as_of', at_time, 'status', deal.stage,
            'win_probability', case when deal.stage = 'closed_won' then 1 else 0 end,
            'reasons', pg_catalog.jsonb_build_array('the deal is closed')
        );
    end if;
    select c.* into chance
    from salesflow.open_deal_chances(predict_deal.org_id, at_time, 0, horizon_days, deal.id) as c;
    select s.* into stall from salesflow.deal_stall_risk(
        predict_deal.org_id, at_time, chance.stage_at,
        extract(epoch from (at_time - coalesce(chance.stage_since, deal.created_at))) / 86400, chance.age_days
    ) as s;
    select percentile_cont(0.5) within group (order by d.age_days) into median_won
    from salesflow.deals_as_of(predict_deal.org_id, at_time) as d where d.outcome = 'closed_won';

    if chance.method = 'stage prior' then
        reasons := reasons || pg_catalog.to_jsonb(pg_catalog.format(
            'fewer than %s closed deals in this organisation: the default probability of stage %s is used',
            salesflow.prediction_min_closed_deals(), coalesce(chance.stage_at::text, 'unknown')));
    else
        reasons := reasons || pg_catalog.to_jsonb(pg_catalog.format(
            'of the organisation''s deals still open after %s days, %s%% were won',
            chance.age_days, round((chance.base_probability * 100)::numeric, 0)));
        if chance.stage_factor is distinct from 1.0 then
            reasons := reasons || pg_catalog.to_jsonb(pg_catalog.format(
                'stage %s multiplies the odds of winning by %s', chance.stage_at,
                round(chance.stage_factor::numeric, 2)));
        end if;
    end if;
    if stall.stall_risk >= 0.8 then
        reasons := reasons || pg_catalog.to_jsonb(pg_catalog.format(
            'stalling: slower (%s) than %s%% of won deals', stall.basis, round((stall.stall_risk * 100)::numeric, 0)));
    end if;
    reasons := reasons || pg_catalog.to_jsonb('value: ' || chance.value_source);

    answer := pg_catalog.jsonb_build_object(
        'deal_id', deal.id,
        'as_of', at_time,
        'status', 'open',
        'stage', chance.stage_at,
        'age_days', chance.age_days,
        'win_probability', round(chance.win_probability::numeric, 4),
        'horizon_days', horizon_days,
        'win_within_horizon', round(chance.win_in_window::numeric, 4),
        'expected_close', chance.expected_close,
        'expected_value', chance.expected_value,
        'value_source', chance.value_source,
        'stall_risk', round(stall.stall_risk::numeric, 4),
        'stall_basis', stall.basis,
        'velocity', pg_catalog.jsonb_build_object(
            'age_days', chance.age_days,
            'median_won_cycle_days', median_won,
            'pace', round((chance.age_days / nullif(median_won, 0))::numeric, 2)
        ),
        'method', chance.method,
        'reasons', reasons
    );
    -- stored once per distinct answer (salesflow.predictions), so the audit can show it
    return answer || pg_catalog.jsonb_build_object('prediction_id', salesflow.record_prediction(
        predict_deal.org_id, 'deal', deal.id, chance.method, at_time,
        pg_catalog.jsonb_build_object(
            'deal_id', deal.id, 'horizon_days', horizon_days, 'stage', chance.stage_at,
            'stage_since', chance.stage_since, 'stall_basis', stall.basis, 'stall_deals', stall.n,
            'read', 'deals and stage changes of the organisation known at as_of'
        ),
        answer
    ));
end
$$;
comment on function api.predict_deal(uuid, uuid, integer, timestamptz) is
'Win probability, chance to be won within horizon_days, expected close date and value, stall risk, velocity and the reasons for an open deal, from the organisation''s own closed deals (as_of: predict as at a past time).';

create or replace function api.predict_open_deals(
    org_id uuid, horizon_days integer default 30, as_of timestamptz default null
)
returns table (
    deal_id uuid,
    stage salesflow.deal_stage,
    age_days integer,
    win_probability double precision,
    win_within_horizon double precision,
    expected_close date,
    expected_value numeric,
    value_source text,
    method text
)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    at_time timestamptz := coalesce(predict_open_deals.as_of, pg_catalog.now());
    found_rows jsonb;
begin
    if horizon_days is null or horizon_days not between 1 and 3650 then
        raise exception 'horizon_days must be between 1 and 3650' using errcode = '22023';
    end if;
    select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'deal_id', c.deal_id, 'stage', c.stage_at, 'age_days', c.age_days, 'win_probability', c.win_probability,
        'win_within_horizon', c.win_in_window, 'expected_close', c.expected_close,
        'expected_value', c.expected_value, 'value_source', c.value_source, 'method', c.method
    ) order by c.expected_value * c.win_in_window desc, c.deal_id), '[]')
    into found_rows
    from salesflow.open_deal_chances(predict_open_deals.org_id, at_time, 0, horizon_days) as c;
    -- one stored row per call (its deals in result), once per distinct answer
    perform salesflow.record_prediction(
        predict_open_deals.org_id, 'open_deals', null,
        coalesce(found_rows -> 0 ->> 'method', 'no open deals'), at_time,
        pg_catalog.jsonb_build_object('horizon_days', horizon_days,
                                      'open_deals', pg_catalog.jsonb_array_length(found_rows)),
        found_rows
    );
    return query
    select x.deal_id, x.stage, x.age_days, x.win_probability, x.win_within_horizon, x.expected_close,
        x.expected_value, x.value_source, x.method
    from pg_catalog.jsonb_to_recordset(found_rows) as x (
        deal_id uuid, stage salesflow.deal_stage, age_days integer, win_probability double precision,
        win_within_horizon double precision, expected_close date, expected_value numeric, value_source text,
        method text
    )
    order by x.expected_value * x.win_within_horizon desc, x.deal_id;
end
$$;
comment on function api.predict_open_deals(uuid, integer, timestamptz) is
'Every open deal with its win probability, chance to be won within horizon_days, expected close date and value (the pipeline view of api.predict_deal).';

-- The pipeline's expected won value in the window [as_of + lo, as_of + hi) days, and its variance
-- (each deal a Bernoulli draw of its expected value).
create or replace function salesflow.pipeline_expectation(
    p_org uuid, p_as_of timestamptz, p_from integer, p_to integer
)
returns table (open_deals integer, mean double precision, variance double precision, method text)
language sql
stable
security invoker
set search_path = ''
as $$
    select
        count(*)::integer,
        coalesce(sum(c.expected_value * c.win_in_window), 0)::float8,
        coalesce(sum(c.expected_value ^ 2 * c.win_in_window * (1 - c.win_in_window)), 0)::float8,
        max(c.method)
    from salesflow.open_deal_chances(p_org, p_as_of, p_from, p_to) as c
$$;

-- Won value in [as_of + lo, as_of + hi) days from deals created after as_of: the run rate of deals
-- not yet created, read at the three earlier cut-offs whose window has fully passed.
create or replace function salesflow.run_rate(p_org uuid, p_as_of timestamptz, p_from integer, p_to integer)
returns table (mean double precision, variance double precision)
language sql
stable
security invoker
set search_path = ''
as $$
    select coalesce(avg(w.value), 0)::float8, coalesce(variance(w.value), 0)::float8
    from pg_catalog.generate_series(1, 3) as j (n)
    cross join lateral (
        select p_as_of - pg_catalog.make_interval(days => p_to + (j.n - 1) * (p_to - p_from)) as cut
    ) as c
    cross join lateral (
        select coalesce(sum(d.amount), 0) as value
        from salesflow.deals as d
        where
            d.org_id = p_org
            and d.stage = 'closed_won'
            and d.created_at > c.cut
            and d.closed_at >= c.cut + pg_catalog.make_interval(days => p_from)
            and d.closed_at < c.cut + pg_catalog.make_interval(days => p_to)
            and d.closed_at <= p_as_of
    ) as w
$$;

-- The won value each of the next `periods` windows of `period_days` is expected to bring:
--   open pipeline, weighted by each deal's chance to be won inside the window, times a
--   calibration factor, plus the run rate of deals not yet created.
-- The calibration factor is read from the organisation's own past: at the three cut-offs one, two
-- and three windows back, what the pipeline was expected to bring in the window after it and what
-- it did bring (shrunk toward 1 with the weight of one window). It corrects what a model of deal
-- age alone gets wrong about this organisation (seasonal pushes, deals nobody closes).
-- The band is a normal approximation whose variance adds the pipeline's (value^2 * p * (1 - p)),
-- the run rate's (over its three windows) and the mean squared error of the same forecast at the
-- three past cut-offs; P10/P90 = mean -/+ 1.2816 sigma, never below zero.
create or replace function salesflow.compute_forecast(
    org_id uuid, periods integer, period_days integer, as_of timestamptz
)
returns setof salesflow.forecast_period
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    at_time timestamptz := coalesce(compute_forecast.as_of, pg_catalog.now());
    width interval;
    pipe record;
    run record;
    past record;
    predicted double precision := 0;
    realised double precision := 0;
    squared_error double precision := 0;
    n_past integer := 0;
    factor double precision;
    sigma double precision;
    cut timestamptz;
    past_pipe double precision;
    past_total double precision;
    fp salesflow.forecast_period;
begin
    if periods is null or periods not between 1 and 24 then
        raise exception 'periods must be between 1 and 24' using errcode = '22023';
    end if;
    if period_days is null or period_days not between 1 and 366 then
        raise exception 'period_days must be between 1 and 366' using errcode = '22023';
    end if;
    if not exists (select from salesflow.organizations as o where o.id = compute_forecast.org_id) then
        perform salesflow.not_found('organization', compute_forecast.org_id);
    end if;
    width := pg_catalog.make_interval(days => period_days);

    -- back-test at three past cut-offs: expected pipeline and realised won value of the next window
    for k in 1..3 loop
        cut := at_time - width * k;
        select e.* into past from salesflow.pipeline_expectation(compute_forecast.org_id, cut, 0, period_days) as e;
        continue when past.open_deals = 0;
        select
            coalesce(sum(d.amount) filter (where d.created_at <= cut), 0),
            coalesce(sum(d.amount), 0)
        into past_pipe, past_total
        from salesflow.deals as d
        where
            d.org_id = compute_forecast.org_id and d.stage = 'closed_won'
            and d.closed_at >= cut and d.closed_at < cut + width;
        select r.* into run from salesflow.run_rate(compute_forecast.org_id, cut, 0, period_days) as r;
        predicted := predicted + past.mean;
        realised := realised + past_pipe;
        n_past := n_past + 1;
        squared_error := squared_error + (past_total - past.mean - run.mean) ^ 2;
    end loop;
    factor := case
        when n_past = 0 then 1.0
        else (realised + predicted / n_past) / nullif(predicted + predicted / n_past, 0)
    end;
    factor := coalesce(factor, 1.0);

    for p in 1..periods loop
        select e.* into pipe from salesflow.pipeline_expectation(
            compute_forecast.org_id, at_time, (p - 1) * period_days, p * period_days
        ) as e;
        select r.* into run from salesflow.run_rate(
            compute_forecast.org_id, at_time, (p - 1) * period_days, p * period_days
        ) as r;
        sigma := pg_catalog.sqrt(
            factor ^ 2 * pipe.variance + run.variance
            + case when n_past > 0 then squared_error / n_past else 0 end
        );
        fp.period := p;
        fp.period_start := (at_time + width * (p - 1))::date;
        fp.period_end := (at_time + width * p)::date;
        fp.open_deals := pipe.open_deals;
        fp.pipeline_expected := round((factor * pipe.mean)::numeric, 2);
        fp.run_rate_expected := round(run.mean::numeric, 2);
        fp.calibration := round(factor::numeric, 4);
        fp.expected := round((factor * pipe.mean + run.mean)::numeric, 2);
        fp.p10 := round(greatest(0, factor * pipe.mean + run.mean - 1.2816 * sigma)::numeric, 2);
        fp.p50 := fp.expected;
        fp.p90 := round((factor * pipe.mean + run.mean + 1.2816 * sigma)::numeric, 2);
        fp.method := coalesce(pipe.method, 'no open deals') || ', calibrated on ' || n_past
            || ' past cut-offs, + run rate of 3 windows';
        return next fp;
    end loop;
end
$$;
comment on function salesflow.compute_forecast(uuid, integer, integer, timestamptz) is
'The revenue forecast of api.forecast_revenue, computed and not stored (the RPC and the refresh_forecasts job store it).';

create or replace function api.forecast_revenue(
    org_id uuid, periods integer default 3, period_days integer default 30, as_of timestamptz default null
)
returns table (
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
)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    stored jsonb;
begin
    stored := salesflow.store_forecast(
        forecast_revenue.org_id, forecast_revenue.periods, forecast_revenue.period_days,
        coalesce(forecast_revenue.as_of, pg_catalog.now()), null
    );
    return query select f.* from pg_catalog.jsonb_populate_recordset(null::salesflow.forecast_period, stored -> 'periods') as f
    order by f.period;
end
$$;
comment on function api.forecast_revenue(uuid, integer, integer, timestamptz) is
'Expected won value per future window (default 3 x 30 days) with P10/P50/P90: open pipeline weighted by time-to-win chances and calibrated on the organisation''s own past cut-offs, plus a run rate for deals not yet created. Stored in salesflow.predictions (kind forecast).';

-- Churn risk of an account: engagement decline (touches in the last 30 days against the 90 before),
-- silence (days since the last touch, capped at 90) and lost deals (share lost of those closed in
-- 180 days), weighted 0.4 / 0.4 / 0.2. Touches are the activities and messages of the account's
-- leads and deals. 0.6 and above is red, 0.3 and above yellow.
create or replace function api.predict_account_churn(org_id uuid, company_id uuid, as_of timestamptz default null)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    at_time timestamptz := coalesce(predict_account_churn.as_of, pg_catalog.now());
    recent bigint;
    prior bigint;
    last_touch timestamptz;
    n_lost bigint;
    n_closed bigint;
    n_won_ever bigint;
    decline double precision;
    silence double precision;
    lost_share double precision;
    risk double precision;
    reasons jsonb := '[]';
    answer jsonb;
begin
    if not exists (
        select from salesflow.companies as c
        where c.org_id = predict_account_churn.org_id and c.id = predict_account_churn.company_id
    ) then
        perform salesflow.not_found('company', predict_account_churn.company_id);
    end if;
    with touches as (
        select a.occurred_at as at from salesflow.activities as a
        inner join salesflow.leads as l on l.org_id = a.org_id and l.id = a.lead_id
        where a.org_id = predict_account_churn.org_id and l.company_id = predict_account_churn.company_id
        union all
        select a.occurred_at from salesflow.activities as a
        inner join salesflow.deals as d on d.org_id = a.org_id and d.id = a.deal_id
        where
            a.org_id = predict_account_churn.org_id and d.company_id = predict_account_churn.company_id
            and a.lead_id is null
        union all
        select m.sent_at from salesflow.messages as m
        inner join salesflow.leads as l on l.org_id = m.org_id and l.id = m.lead_id
        where m.org_id = predict_account_churn.org_id and l.company_id = predict_account_churn.company_id
    )
    select
        count(*) filter (where t.at > at_time - interval '30 days' and t.at <= at_time),
        count(*) filter (where t.at > at_time - interval '120 days' and t.at <= at_time - interval '30 days'),
        max(t.at) filter (where t.at <= at_time)
    into recent, prior, last_touch
    from touches as t;
    select
        count(*) filter (where d.stage = 'closed_lost' and d.closed_at > at_time - interval '180 days'),
        count(*) filter (where d.closed_at > at_time - interval '180 days'),
        count(*) filter (where d.stage = 'closed_won')
    into n_lost, n_closed, n_won_ever
    from salesflow.deals as d
    where
        d.org_id = predict_account_churn.org_id and d.company_id = predict_account_churn.company_id
        and d.closed_at <= at_time;

    decline := case when prior = 0 then 0 else greatest(0, 1 - (recent / 30.0) / (prior / 90.0)) end;
    silence := case when last_touch is null then 1
        else least(1, extract(epoch from (at_time - last_touch)) / 86400 / 90) end;
    lost_share := case when n_closed = 0 then 0 else n_lost::float8 / n_closed end;
    risk := 0.4 * decline + 0.4 * silence + 0.2 * lost_share;

    if decline > 0 then
        reasons := reasons || pg_catalog.to_jsonb(pg_catalog.format(
            'engagement fell: %s touches in the last 30 days against %s a month before', recent,
            round((prior / 3.0)::numeric, 1)));
    end if;
    if last_touch is null then
        reasons := reasons || pg_catalog.to_jsonb('no recorded touch at all'::text);
    elsif silence >= 0.33 then
        reasons := reasons || pg_catalog.to_jsonb(pg_catalog.format(
            'no touch for %s days', pg_catalog.floor(extract(epoch from (at_time - last_touch)) / 86400)));
    end if;
    if n_lost > 0 then
        reasons := reasons || pg_catalog.to_jsonb(pg_catalog.format(
            '%s of %s deals closed in the last 180 days were lost', n_lost, n_closed));
    end if;
    answer := pg_catalog.jsonb_build_object(
        'company_id', predict_account_churn.company_id,
        'as_of', at_time,
        'churn_risk', round(risk::numeric, 4),
        'traffic_light', case when risk >= 0.6 then 'red' when risk >= 0.3 then 'yellow' else 'green' end,
        'is_customer', n_won_ever > 0,
        'components', pg_catalog.jsonb_build_object(
            'engagement_decline', round(decline::numeric, 4),
            'silence', round(silence::numeric, 4),
            'lost_share', round(lost_share::numeric, 4)
        ),
        'touches_last_30_days', recent,
        'touches_previous_90_days', prior,
        'last_touch', last_touch,
        'reasons', reasons
    );
    return answer || pg_catalog.jsonb_build_object('prediction_id', salesflow.record_prediction(
        predict_account_churn.org_id, 'account_churn', predict_account_churn.company_id, 'churn rules', at_time,
        pg_catalog.jsonb_build_object(
            'company_id', predict_account_churn.company_id, 'touches_last_30_days', recent,
            'touches_previous_90_days', prior, 'deals_closed_180_days', n_closed,
            'read', 'activities and messages of the account''s leads and deals, its closed deals'
        ),
        answer
    ));
end
$$;
comment on function api.predict_account_churn(uuid, uuid, timestamptz) is
'Churn risk (0-1) and traffic light of an account from engagement decline, silence and lost deals, with the reasons.';

-- stage history: members read it (RLS); only the trigger writes
alter table salesflow.deal_stage_changes enable row level security;
drop policy if exists deal_stage_changes_select on salesflow.deal_stage_changes;
create policy deal_stage_changes_select on salesflow.deal_stage_changes for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

grant select on salesflow.deal_stage_changes to authenticated, service_role;
revoke execute on function
salesflow.record_deal_stage_changes(),
salesflow.deals_as_of(uuid, timestamptz),
salesflow.deal_life_table(uuid, timestamptz),
salesflow.prediction_min_closed_deals(),
salesflow.open_deal_chances(uuid, timestamptz, integer, integer, uuid),
salesflow.deal_stall_risk(uuid, timestamptz, salesflow.deal_stage, double precision, integer),
salesflow.pipeline_expectation(uuid, timestamptz, integer, integer),
salesflow.run_rate(uuid, timestamptz, integer, integer),
api.predict_deal(uuid, uuid, integer, timestamptz),
api.predict_open_deals(uuid, integer, timestamptz),
api.forecast_revenue(uuid, integer, integer, timestamptz),
api.predict_account_churn(uuid, uuid, timestamptz)
from public;
grant execute on function
salesflow.deals_as_of(uuid, timestamptz),
salesflow.deal_life_table(uuid, timestamptz),
salesflow.prediction_min_closed_deals(),
salesflow.open_deal_chances(uuid, timestamptz, integer, integer, uuid),
salesflow.deal_stall_risk(uuid, timestamptz, salesflow.deal_stage, double precision, integer),
salesflow.pipeline_expectation(uuid, timestamptz, integer, integer),
salesflow.run_rate(uuid, timestamptz, integer, integer),
api.predict_deal(uuid, uuid, integer, timestamptz),
api.predict_open_deals(uuid, integer, timestamptz),
api.forecast_revenue(uuid, integer, integer, timestamptz),
api.predict_account_churn(uuid, uuid, timestamptz)
to authenticated, service_role;
