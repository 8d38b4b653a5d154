-- Deal and account predictions from the organisation's own history, in plain SQL.
--
-- Win probability and time to close come from a competing-risks life table (Aalen-Johansen, one
-- row per day of deal age): every deal known at the as-of time is either closed by then (won or
-- lost, at its age in days) or still open (censored at its current age). For an open deal of age
-- a, the chance to be won in the age window [a + lo, a + hi) is
--     (F(a + hi - 1) - F(a + lo - 1)) / S(a - 1)
-- where S is the probability of still being open and F the cumulative incidence of a win. Deals
-- that are closed after the as-of time count as open then: nothing known later is used, and a
-- deal's final stage never leaks into a past prediction.

-- Stage history: a statement-level trigger, so that a COPY of many deals is one insert here.
-- security definer: app roles write deals, never the history (it has no write policies).
create or replace function salesflow.record_deal_stage_changes() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if tg_op = 'INSERT' then
        insert into salesflow.deal_stage_changes (org_id, deal_id, stage, changed_at)
        select n.org_id, n.id, n.stage, coalesce(n.closed_at, n.created_at)
        from new_rows as n
        on conflict do nothing;
    else
        insert into salesflow.deal_stage_changes (org_id, deal_id, stage, changed_at)
        select n.org_id, n.id, n.stage, coalesce(n.closed_at, pg_catalog.now())
        from new_rows as n
        inner join old_rows as o on o.org_id = n.org_id and o.id = n.id
        where n.stage is distinct from o.stage
        on conflict do nothing;
    end if;
    return null;
end
$$;

create or replace trigger deals_stage_history_insert after insert on salesflow.deals
referencing new table as new_rows
for each statement execute function salesflow.record_deal_stage_changes();

create or replace trigger deals_stage_history_update after update on salesflow.deals
referencing old table as old_rows new table as new_rows
for each statement execute function salesflow.record_deal_stage_changes();

-- The deals of an organisation as they stood at as_of: open deals have no outcome and their age
-- so far; the product key folds spelling variants ('GTX Pro' = 'GTXPro') for value estimates.
create or replace function salesflow.deals_as_of(p_org uuid, p_as_of timestamptz)
returns table (
    deal_id uuid,
    company_id uuid,
    created_at timestamptz,
    closed_at timestamptz,
    outcome salesflow.deal_stage,
    age_days integer,
    amount numeric,
    product_key text,
    stage_at salesflow.deal_stage,
    stage_since timestamptz,
    expected_close date
)
language sql
stable
security invoker
set search_path = ''
as $$
    select
        d.id,
        d.company_id,
        d.created_at,
        case when d.closed_at <= p_as_of then d.closed_at end,
        case when d.closed_at <= p_as_of then d.stage end,
        pg_catalog.floor(
            extract(epoch from (least(coalesce(d.closed_at, p_as_of), p_as_of) - d.created_at)) / 86400
        )::integer,
        d.amount,
        nullif(pg_catalog.lower(pg_catalog.regexp_replace(d.attributes ->> 'product', '[^[:alnum:]]', '', 'g')), ''),
        h.stage,
        h.changed_at,
        d.expected_close
    from salesflow.deals as d
    left join lateral (
        select s.stage, s.changed_at from salesflow.deal_stage_changes as s
        where
            -- only open deals need their stage (a one-time filter: closed deals skip the scan)
            (d.closed_at is null or d.closed_at > p_as_of)
            and s.org_id = d.org_id and s.deal_id = d.id and s.changed_at <= p_as_of
            and s.stage not in ('closed_won', 'closed_lost')
        order by s.changed_at desc
        limit 1
    ) as h on true
    where d.org_id = p_org and d.created_at <= p_as_of
$$;

-- The life table: per day of age, deals at risk, wins and losses that day, S before the day and
-- the cumulative incidence of a win before and up to the day.
create or replace function salesflow.deal_life_table(p_org uuid, p_as_of timestamptz)
returns table (
    day integer,
    at_risk bigint,
    n_won bigint,
    n_lost bigint,
    s_before double precision,
    s_after double precision,
    f_before double precision,
    f_upto double precision
)
language sql
stable
security invoker
set search_path = ''
as $$
    with known as (
        select k.outcome, greatest(k.age_days, 0) as dur from salesflow.deals_as_of(p_org, p_as_of) as k
    ),

    span as (
        select
            count(*) as n_all,
            coalesce(max(dur) filter (where outcome is not null), -1) as max_day
        from known
    ),

    counts as (
        select
            dur,
            count(*) filter (where outcome = 'closed_won') as n_won,
            count(*) filter (where outcome = 'closed_lost') as n_lost,
            count(*) as n_out
        from known group by dur
    ),

    days as (
        select
            g.day,
            coalesce(c.n_won, 0) as n_won,
            coalesce(c.n_lost, 0) as n_lost,
            span.n_all - coalesce(sum(coalesce(c.n_out, 0)) over (
                order by g.day rows between unbounded preceding and 1 preceding
            ), 0) as at_risk
        from span
        cross join lateral pg_catalog.generate_series(0, span.max_day) as g (day)
        left join counts as c on c.dur = g.day
    ),

    hazards as (
        select
            days.*,
            sum(pg_catalog.ln(greatest(1.0 - (n_won + n_lost)::float8 / nullif(at_risk, 0), 1e-12)))
                over (order by day) as log_s_after
        from days
    ),

    survival as (
        select
            hazards.*,
            pg_catalog.exp(log_s_after) as s_after,
            coalesce(pg_catalog.exp(lag(log_s_after) over (order by day)), 1.0) as s_before
        from hazards
    )

    select
        day,
        at_risk,
        n_won,
        n_lost,
        s_before,
        s_after,
        sum(s_before * n_won / nullif(at_risk, 0)::float8) over (order by day)
        - s_before * n_won / nullif(at_risk, 0)::float8,
        sum(s_before * n_won / nullif(at_risk, 0)::float8) over (order by day)
    from survival
$$;

-- Below this many closed deals the life table says little; stage priors are used instead (the
-- default stage probabilities CRMs ship with), and the prediction says so.
create or replace function salesflow.prediction_min_closed_deals() returns integer
language sql
immutable
security invoker
set search_path = ''
as $$ select 20 $$;

-- Every deal open at as_of with its chance to be won at all and within the age window
-- [age + p_from, age + p_to) days, its expected close date and the value it would bring
-- (p_deal: only that deal).
create or replace function salesflow.open_deal_chances(
    p_org uuid, p_as_of timestamptz, p_from integer, p_to integer, p_deal uuid default null
)
returns table (
    deal_id uuid,
    age_days integer,
    stage_at salesflow.deal_stage,
    stage_since timestamptz,
    win_probability double precision,
    win_in_window double precision,
    expected_close date,
    expected_value numeric,
    value_source text,
    method text,
    stage_factor double precision,
    base_probability double precision
)
language sql
stable
security invoker
set search_path = ''
as $$
    with deals as (
        select * from salesflow.deals_as_of(p_org, p_as_of)
    ),

    lt as (
        select * from salesflow.deal_life_table(p_org, p_as_of)
    ),

    closed as (
        select
            count(*) as n_closed,
            count(*) filter (where outcome = 'closed_won') as n_won,
            percentile_cont(0.75) within group (order by age_days) as p75_days,
            percentile_cont(0.5) within group (order by age_days)
                filter (where outcome = 'closed_won') as median_won_days,
            avg(amount) filter (where outcome = 'closed_won' and amount > 0) as mean_won_value
        from deals where outcome is not null
    ),

    -- deals older than any closed one: what happened to the slowest quarter of closed deals
    tail as (
        select coalesce(avg((d.outcome = 'closed_won')::integer), 0)::float8 as share
        from deals as d
        cross join closed as c
        where d.outcome is not null and d.age_days >= c.p75_days
    ),

    edge as (
        select max(day) as max_day from lt
    ),

    product_values as (
        select product_key, avg(amount) as mean_value, count(*) as n
        from deals
        where outcome = 'closed_won' and amount > 0 and product_key is not null
        group by product_key
    ),

    -- per stage: the share won among closed deals that passed through it, shrunk toward the
    -- organisation's share with the weight of 20 deals
    stage_rates as (
        select
            s.stage,
            (count(*) filter (where d.outcome = 'closed_won') + 20.0 * c.n_won / nullif(c.n_closed, 0))
            / (count(*) + 20.0) as rate
        from salesflow.deal_stage_changes as s
        inner join deals as d on d.deal_id = s.deal_id
        cross join closed as c
        where s.org_id = p_org and d.outcome is not null and s.stage not in ('closed_won', 'closed_lost')
        group by s.stage, c.n_won, c.n_closed
    ),

    raw as (
        select
            d.*,
            c.n_closed,
            c.median_won_days,
            coalesce(
                sr.rate / nullif(1 - sr.rate, 0) / nullif(c.n_won::float8 / nullif(c.n_closed - c.n_won, 0), 0), 1.0
            ) as odds_factor,
            case
                when d.amount > 0 then d.amount
                else coalesce(pv.mean_value, c.mean_won_value, 0)
            end as value,
            case
                when d.amount > 0 then 'deal amount'
                when pv.mean_value is not null then 'mean won value of product ' || d.product_key
                when c.mean_won_value is not null then 'mean won value of the organisation'
                else 'no value known'
            end as value_source,
            la.s_before as sb,
            la.f_before as fb,
            lw0.f_upto as f_lo,
            lw1.f_upto as f_hi,
            lm.f_upto as f_max,
            lm.s_after as s_max,
            t.share as tail_share,
            e.max_day
        from deals as d
        cross join closed as c
        cross join tail as t
        cross join edge as e
        left join stage_rates as sr on sr.stage = d.stage_at
        left join product_values as pv on pv.product_key = d.product_key
        left join lt as la on la.day = d.age_days
        left join lt as lw0 on lw0.day = least(d.age_days + p_from - 1, e.max_day)
        left join lt as lw1 on lw1.day = least(d.age_days + p_to - 1, e.max_day)
        left join lt as lm on lm.day = e.max_day
        where d.outcome is null and (p_deal is null or d.deal_id = p_deal)
    ),

    life as (
        select
            raw.*,
            case
                when n_closed < salesflow.prediction_min_closed_deals() then null
                when sb is null or sb <= 0 then tail_share
                else least(1.0, greatest(0.0, (f_max - fb + s_max * tail_share) / sb))
            end as p_total,
            case
                when n_closed < salesflow.prediction_min_closed_deals() then null
                when sb is null or sb <= 0 then
                    tail_share * (p_to - p_from) / ((p_to - p_from) + coalesce(median_won_days, 30))
                when age_days + p_from > max_day then 0.0
                else least(1.0, greatest(0.0, (f_hi - case when p_from = 0 then fb else f_lo end) / sb))
            end as p_window
        from raw
    ),

    adjusted as (
        select
            life.*,
            -- the stage moves the odds of winning at all; the window keeps its share of that
            case when p_total is null then null
                else (p_total * odds_factor) / (1 - p_total + p_total * odds_factor)
            end as p_total_adj
        from life
    ),

    -- the expected close: the first day of age (from the deal's own) by which half of its remaining
    -- chance to be won is used up. It depends on the age alone (sb, fb and f_max are read by age),
    -- so it is found once per distinct age, not once per deal (16,000 open deals x a 500-day life
    -- table took 1.6 s of the forecast's every pipeline read)
    close_days as (
        select
            ages.age_days,
            (
                select l.day
                from lt as l
                where
                    l.day >= ages.age_days and ages.sb > 0 and ages.f_max > ages.fb
                    and (l.f_upto - ages.fb) >= 0.5 * (ages.f_max - ages.fb)
                order by l.day
                limit 1
            ) as close_day
        from (select distinct age_days, sb, fb, f_max from raw) as ages
    )

    select
        a.deal_id,
        a.age_days,
        a.stage_at,
        a.stage_since,
        coalesce(a.p_total_adj, pr.prior),
        coalesce(
            case
                when a.p_total is null then null
                when a.p_total > 0 then a.p_window * a.p_total_adj / a.p_total
                else 0.0
            end,
            -- the prior spreads a deal's chance evenly over a 90-day cycle
            pr.prior * least(p_to - p_from, 90) / 90.0
        ),
        coalesce(p_as_of::date + (cd.close_day - a.age_days), a.expected_close),
        round(a.value, 2),
        a.value_source,
        case when a.p_total is null then 'stage prior' else 'competing-risks life table' end,
        a.odds_factor,
        a.p_total
    from adjusted as a
    left join close_days as cd on cd.age_days = a.age_days
    cross join lateral (
        select case a.stage_at
            when 'prospecting' then 0.10
            when 'qualification' then 0.20
            when 'proposal' then 0.40
            when 'negotiation' then 0.60
            else 0.15
        end::float8 as prior
    ) as pr
$$;

-- Stall risk: the share of the organisation's won deals that spent no longer in this stage than
-- this deal has so far (from the stage history), or, with fewer than 10 such deals, that took no
-- longer to close than this deal's age. 0.9 means: slower than 9 in 10 deals that were won.
create or replace function salesflow.deal_stall_risk(
    p_org uuid, p_as_of timestamptz, p_stage salesflow.deal_stage, p_days_in_stage double precision,
    p_age_days integer
)
returns table (stall_risk double precision, basis text, n integer)
language sql
stable
security invoker
set search_path = ''
as $$
    with won as (
        select d.deal_id, d.age_days from salesflow.deals_as_of(p_org, p_as_of) as d
        where d.outcome = 'closed_won'
    ),

    in_stage as (
        select extract(epoch from (nxt.changed_at - s.changed_at)) / 86400 as days
        from salesflow.deal_stage_changes as s
        inner join won as w on w.deal_id = s.deal_id
        cross join lateral (
            select n.changed_at from salesflow.deal_stage_changes as n
            where n.org_id = s.org_id and n.deal_id = s.deal_id and n.changed_at > s.changed_at
            order by n.changed_at limit 1
        ) as nxt
        where s.org_id = p_org and s.stage = p_stage
    )

    select
        avg((days <= p_days_in_stage)::integer)::float8,
        'time in stage ' || p_stage::text,
        count(*)::integer
    from in_stage
    having count(*) >= 10
    union all
    select
        avg((age_days <= p_age_days)::integer)::float8,
        'age against won deals'' cycle',
        count(*)::integer
    from won
    where (select count(*) from in_stage) < 10 or p_stage is null
    having count(*) > 0
    limit 1
$$;
