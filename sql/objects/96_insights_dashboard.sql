-- The AI insights dashboard (issue 14): daily metrics, anomalies, ROI per AI feature, content
-- performance, queue health and the weekly executive summary, for one organisation, read through
-- api.get_dashboard by /dashboard (api/dashboard.py) as the signed-in user. Everything but the
-- queue reads as the caller (security invoker), so RLS decides what each panel shows.
--
-- Anomaly method (salesflow.insight_anomalies): for each metric and completed UTC day, the day's
-- value against the trailing window of window_days days before it (the day itself excluded, days
-- without a value skipped, at least 7 needed). Baseline = the window's median; spread = its median
-- absolute deviation (MAD). Robust z = 0.6745 * (value - median) / MAD (Iglewicz and Hoaglin's
-- modified z-score); when MAD is 0 the mean absolute deviation is used, z = (value - median) /
-- (1.2533 * meanAD); when the window is flat (both 0) a day that differs from it is flagged with
-- z null. A day is an anomaly when |z| >= threshold (3.5, their recommended cut-off). Medians are
-- not moved by the spikes they are meant to find, as a mean and standard deviation are.

-- Per metric and UTC day from first_day to last_day: spend (LLM cost), error_rate (failed LLM
-- calls / calls; null on a day without calls), score (mean lead score written that day; null on a
-- day without scores) and messages (messages sent or received). Spend and messages are null before
-- their first activity in the range.
create or replace function salesflow.insight_daily_metrics(org_id uuid, first_day date, last_day date)
returns table (metric text, day date, value double precision)
language sql
stable
security invoker
set search_path = ''
as $$
    with days as (
        select d::date as day
        from pg_catalog.generate_series(
            insight_daily_metrics.first_day::timestamp, insight_daily_metrics.last_day::timestamp, interval '1 day'
        ) as d
    ),
    usage as (
        select u.day, sum(u.cost)::double precision as cost, sum(u.requests) as requests, sum(u.errors) as errors
        from salesflow.llm_usage_daily as u
        where u.org_id = insight_daily_metrics.org_id
          and u.day between insight_daily_metrics.first_day and insight_daily_metrics.last_day
        group by u.day
    ),
    scores as (
        select (h.scored_at at time zone 'UTC')::date as day, pg_catalog.avg(h.score)::double precision as score
        from salesflow.lead_score_history as h
        where h.org_id = insight_daily_metrics.org_id
          and h.scored_at >= insight_daily_metrics.first_day::timestamp at time zone 'UTC'
          and h.scored_at < (insight_daily_metrics.last_day + 1)::timestamp at time zone 'UTC'
        group by 1
    ),
    volume as (
        select (m.sent_at at time zone 'UTC')::date as day, count(*)::double precision as n
        from salesflow.messages as m
        where m.org_id = insight_daily_metrics.org_id
          and m.sent_at >= insight_daily_metrics.first_day::timestamp at time zone 'UTC'
          and m.sent_at < (insight_daily_metrics.last_day + 1)::timestamp at time zone 'UTC'
        group by 1
    )
    -- days before the first activity in the range are no data, not zeros: a new organisation's
    -- first busy day is not an anomaly against the empty weeks before it existed
    select 'spend', d.day,
           case when d.day >= (select pg_catalog.min(u2.day) from usage as u2) then coalesce(u.cost, 0) end
    from days as d left join usage as u on u.day = d.day
    union all
    select 'error_rate', d.day, u.errors::double precision / nullif(u.requests, 0)
    from days as d left join usage as u on u.day = d.day
    union all
    select 'score', d.day, s.score from days as d left join scores as s on s.day = d.day
    union all
    select 'messages', d.day,
           case when d.day >= (select pg_catalog.min(v2.day) from volume as v2) then coalesce(v.n, 0) end
    from days as d left join volume as v on v.day = d.day
$$;

-- The method above, for the `days` completed UTC days before as_of (default: today, UTC).
create or replace function salesflow.insight_anomalies(
    org_id uuid, days integer default 30, window_days integer default 28, threshold double precision default 3.5,
    as_of date default null
)
returns table (
    metric text, day date, value double precision, baseline double precision, spread double precision,
    z double precision, is_anomaly boolean
)
language sql
stable
security invoker
set search_path = ''
as $$
    with bounds as (
        select coalesce(insight_anomalies.as_of, (pg_catalog.now() at time zone 'UTC')::date) - 1 as last_day
    ),
    m as materialized (
        select x.*
        from bounds as b
        cross join lateral salesflow.insight_daily_metrics(
            insight_anomalies.org_id,
            b.last_day - insight_anomalies.days - insight_anomalies.window_days + 1,
            b.last_day
        ) as x
    ),
    centre as (
        select t.metric, t.day, t.value, c.median, c.n
        from m as t
        cross join bounds as b
        cross join lateral (
            select
                percentile_cont(0.5) within group (order by w.value) as median,
                count(*) as n
            from m as w
            where w.metric = t.metric and w.value is not null
              and w.day >= t.day - insight_anomalies.window_days and w.day < t.day
        ) as c
        where t.day > b.last_day - insight_anomalies.days
    ),
    spread as (
        select c.*, s.mad, s.mean_ad
        from centre as c
        cross join lateral (
            select
                percentile_cont(0.5) within group (order by abs(w.value - c.median)) as mad,
                pg_catalog.avg(abs(w.value - c.median)) as mean_ad
            from m as w
            where w.metric = c.metric and w.value is not null
              and w.day >= c.day - insight_anomalies.window_days and w.day < c.day
        ) as s
    ),
    scored as (
        select
            s.metric, s.day, s.value, s.median, s.mad, s.n,
            case
                when s.value is null or s.n < 7 then null
                when s.mad > 0 then 0.6745 * (s.value - s.median) / s.mad
                when s.mean_ad > 0 then (s.value - s.median) / (1.2533 * s.mean_ad)
            end as z,
            -- a flat window (every day equal) that the day leaves
            s.value is not null and s.n >= 7 and s.mean_ad = 0 and s.value <> s.median as left_flat
        from spread as s
    )
    select
        s.metric, s.day, s.value, s.median, s.mad, s.z,
        coalesce(abs(s.z) >= insight_anomalies.threshold, false) or s.left_flat
    from scored as s
    order by s.metric, s.day
$$;

create or replace function api.get_anomalies(
    org_id uuid, days integer default 30, window_days integer default 28, threshold double precision default 3.5
)
returns table (
    metric text, day date, value double precision, baseline double precision, spread double precision,
    z double precision, is_anomaly boolean
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
    perform salesflow.require_dashboard_member(get_anomalies.org_id);
    if get_anomalies.days not between 1 and 366 or get_anomalies.window_days not between 7 and 366
       or get_anomalies.threshold is null or get_anomalies.threshold <= 0 then
        raise sqlstate '22023' using
            message = 'days must be 1-366, window_days 7-366 and threshold above 0';
    end if;
    return query
    select a.* from salesflow.insight_anomalies(
        get_anomalies.org_id, get_anomalies.days, get_anomalies.window_days, get_anomalies.threshold
    ) as a;
end
$$;
comment on function api.get_anomalies(uuid, integer, integer, double precision) is
'Daily spend, LLM error rate, mean lead score and message volume of the last `days` completed UTC days, each against the median and MAD of its trailing window (robust z-score, anomaly when |z| >= threshold); read as the caller.';

-- A clear error for a caller who is not a member (RLS alone would answer with empty panels).
create or replace function salesflow.require_dashboard_member(org_id uuid)
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
    if require_dashboard_member.org_id is null
       or not (require_dashboard_member.org_id = any(salesflow.my_org_ids())) then
        raise sqlstate '42501' using
            message = pg_catalog.format('you are not a member of organisation %s', require_dashboard_member.org_id),
            hint = 'Sign in with a token of a member of this organisation.';
    end if;
end
$$;

-- Writes the anomalies of the last `days` completed days of every organisation as alert rows
-- (once per organisation, metric and day). The scheduled detect_anomalies job calls it.
create or replace function salesflow.record_insight_alerts(days integer default 2)
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    n integer;
begin
    insert into salesflow.insight_alerts (org_id, metric, day, value, baseline, z, method)
    select o.id, a.metric, a.day, a.value, a.baseline, a.z, 'robust z (median/MAD), 28-day window, |z| >= 3.5'
    from salesflow.organizations as o
    cross join lateral salesflow.insight_anomalies(o.id, record_insight_alerts.days) as a
    where a.is_anomaly
    on conflict (org_id, metric, day) do nothing;
    get diagnostics n = row_count;
    return n;
end
$$;

-- What each AI feature cost (llm_requests) next to what it led to: outputs (suggestions and
-- drafts), accepted (suggestions accepted, drafts approved), sent (approved drafts handed to the
-- outbox), replies (an inbound message from the lead within 7 days of sending) and deals advanced
-- (a stage change other than closed_lost on one of the lead's deals within 14 days of acceptance).
create or replace function api.get_ai_roi(org_id uuid, since timestamptz default null)
returns table (
    feature text, requests bigint, cost numeric, outputs bigint, accepted bigint, sent bigint, replies bigint,
    deals_advanced bigint, cost_per_accepted numeric
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
    perform salesflow.require_dashboard_member(get_ai_roi.org_id);
    return query
    with spent as (
        select coalesce(r.feature, r.task) as feature, count(*) as requests, sum(r.cost) as cost
        from salesflow.llm_requests as r
        where r.org_id = get_ai_roi.org_id and (get_ai_roi.since is null or r.started_at >= get_ai_roi.since)
        group by 1
    ),
    outputs as (
        select o.request_id, o.lead_id, o.accepted, o.sent, o.at
        from (
            select s.request_id, s.lead_id, s.status = 'accepted' as accepted, false as sent,
                   coalesce(s.reviewed_at, s.created_at) as at, s.created_at
            from salesflow.ai_suggestions as s where s.org_id = get_ai_roi.org_id
            union all
            select d.request_id, d.lead_id, d.status = 'approved', d.outbox_id is not null,
                   coalesce(d.reviewed_at, d.created_at), d.created_at
            from salesflow.ai_drafts as d where d.org_id = get_ai_roi.org_id
        ) as o
        where get_ai_roi.since is null or o.created_at >= get_ai_roi.since
    ),
    led_to as (
        select
            coalesce(r.feature, r.task) as feature,
            count(*) as outputs,
            count(*) filter (where o.accepted) as accepted,
            count(*) filter (where o.sent) as sent,
            count(*) filter (where o.sent and exists (
                select from salesflow.messages as m
                where m.org_id = get_ai_roi.org_id and m.lead_id = o.lead_id and m.direction = 'inbound'
                  and m.sent_at > o.at and m.sent_at <= o.at + interval '7 days'
            )) as replies,
            count(*) filter (where o.accepted and exists (
                select from salesflow.deals as d
                inner join salesflow.deal_stage_changes as c on c.org_id = d.org_id and c.deal_id = d.id
                where d.org_id = get_ai_roi.org_id and d.lead_id = o.lead_id and c.stage <> 'closed_lost'
                  and c.changed_at > o.at and c.changed_at <= o.at + interval '14 days'
            )) as deals_advanced
        from outputs as o
        inner join salesflow.llm_requests as r on r.org_id = get_ai_roi.org_id and r.id = o.request_id
        group by 1
    )
    select
        coalesce(s.feature, l.feature), coalesce(s.requests, 0), coalesce(s.cost, 0)::numeric,
        coalesce(l.outputs, 0), coalesce(l.accepted, 0), coalesce(l.sent, 0), coalesce(l.replies, 0),
        coalesce(l.deals_advanced, 0),
        pg_catalog.round(coalesce(s.cost, 0) / nullif(l.accepted, 0), 6)
    from spent as s
    full join led_to as l on s.feature = l.feature
    order by 3 desc, 1;
end
$$;
comment on function api.get_ai_roi(uuid, timestamptz) is
'Per AI feature: LLM requests and cost next to what the feature led to (outputs, accepted, sent, replies within 7 days, deals advanced within 14 days), read as the caller.';

-- Which content gets replies and moves deals: every outbound message the caller may read, by
-- channel, language and length (short < 60 words, medium < 150, long), and every approved AI
-- draft by kind, tone, language, length and template (its prompt and version). A piece is replied
-- when the lead writes back within 7 days, and advances a deal when one of the lead's deals
-- changes stage (not to closed_lost) within 14 days.
create or replace function api.get_content_performance(org_id uuid, since timestamptz default null)
returns table (
    source text, content_type text, tone text, language text, length_band text, template text,
    sent bigint, replied bigint, reply_rate numeric, deals_advanced bigint, advance_rate numeric
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
    perform salesflow.require_dashboard_member(get_content_performance.org_id);
    return query
    with pieces as (
        select 'message' as source, m.channel::text as content_type, null::text as tone,
               coalesce(m.language, 'unknown') as language,
               pg_catalog.array_length(pg_catalog.regexp_split_to_array(pg_catalog.btrim(m.body), '\s+'), 1) as words,
               null::text as template, m.lead_id, m.sent_at as at
        from salesflow.messages as m
        where m.org_id = get_content_performance.org_id and m.direction = 'outbound'
          and (get_content_performance.since is null or m.sent_at >= get_content_performance.since)
        union all
        select 'ai_draft', d.kind, d.tone, d.language,
               pg_catalog.array_length(
                   pg_catalog.regexp_split_to_array(pg_catalog.btrim(coalesce(d.body, '')), '\s+'), 1
               ),
               d.prompt_name || ' v' || d.prompt_version, d.lead_id, coalesce(d.reviewed_at, d.created_at)
        from salesflow.ai_drafts as d
        where d.org_id = get_content_performance.org_id and d.status = 'approved'
          and (get_content_performance.since is null or d.created_at >= get_content_performance.since)
    ),
    judged as (
        select
            p.source, p.content_type, p.tone, p.language, p.template,
            case when p.words < 60 then 'short' when p.words < 150 then 'medium' else 'long' end as length_band,
            exists (
                select from salesflow.messages as m
                where m.org_id = get_content_performance.org_id and m.lead_id = p.lead_id
                  and m.direction = 'inbound' and m.sent_at > p.at and m.sent_at <= p.at + interval '7 days'
            ) as replied,
            exists (
                select from salesflow.deals as d
                inner join salesflow.deal_stage_changes as c on c.org_id = d.org_id and c.deal_id = d.id
                where d.org_id = get_content_performance.org_id and d.lead_id = p.lead_id
                  and c.stage <> 'closed_lost' and c.changed_at > p.at and c.changed_at <= p.at + interval '14 days'
            ) as advanced
        from pieces as p
    )
    select
        j.source, j.content_type, j.tone, j.language, j.length_band, j.template,
        count(*), count(*) filter (where j.replied),
        pg_catalog.round((count(*) filter (where j.replied))::numeric / count(*), 4),
        count(*) filter (where j.advanced),
        pg_catalog.round((count(*) filter (where j.advanced))::numeric / count(*), 4)
    from judged as j
    group by j.source, j.content_type, j.tone, j.language, j.length_band, j.template
    order by 7 desc, 1, 2, 3, 4, 5, 6;
end
$$;
comment on function api.get_content_performance(uuid, timestamptz) is
'Outbound messages (by channel, language, length) and approved AI drafts (by kind, tone, language, length, template): how many were sent, replied within 7 days and advanced a deal within 14 days; read as the caller.';

-- The organisation's jobs by kind and status, with the oldest pending job's age. Jobs are not
-- readable by app roles (payloads hold ids of other users' work), so this reader checks membership.
create or replace function salesflow.org_queue_health(org_id uuid)
returns table (kind text, status text, jobs bigint, oldest_pending_seconds double precision)
language sql
stable
security definer
set search_path = ''
as $$
    select j.kind, j.status::text, count(*),
           extract(epoch from pg_catalog.now() - pg_catalog.min(j.created_at) filter (where j.status = 'pending'))
    from salesflow.jobs as j
    where j.org_id = org_queue_health.org_id and org_queue_health.org_id = any(salesflow.my_org_ids())
      and (j.status in ('pending', 'running') or j.finished_at > pg_catalog.now() - interval '7 days')
    group by j.kind, j.status
    order by j.kind, j.status
$$;
comment on function salesflow.org_queue_health(uuid) is
'security definer, justified: app roles may not read salesflow.jobs; this reader checks membership and returns counts of the caller''s organisation only.';

-- Routing savings per day (analytics.llm_routing_savings: each routed call priced again at its
-- task's top model). The view is not granted to app roles; as llm_requests' own policy, only an
-- organisation's owners, admins and analysts see its figures.
create or replace function salesflow.org_routing_savings(org_id uuid, since date)
returns table (day date, requests bigint, routed_away bigint, cost numeric, baseline_cost numeric, saving numeric)
language sql
stable
security definer
set search_path = ''
as $$
    select v.day, sum(v.requests)::bigint, sum(v.routed_away)::bigint, sum(v.cost), sum(v.baseline_cost), sum(v.saving)
    from analytics.llm_routing_savings as v
    where v.org_id = org_routing_savings.org_id and v.day >= org_routing_savings.since
      and org_routing_savings.org_id = any(salesflow.my_org_ids('{owner,admin,analyst}'))
    group by v.day
    order by v.day
$$;
comment on function salesflow.org_routing_savings(uuid, date) is
'security definer, justified: analytics.llm_routing_savings is not granted to app roles; this reader returns the caller''s organisation only, to its owners, admins and analysts (as llm_requests'' policy).';

-- The latest executive summary of each language.
create or replace function salesflow.latest_executive_summaries(org_id uuid)
returns setof salesflow.executive_summaries
language sql
stable
security invoker
set search_path = ''
as $$
    select distinct on (s.language) s.*
    from salesflow.executive_summaries as s
    where s.org_id = latest_executive_summaries.org_id
    order by s.language, s.week_start desc, s.id desc
$$;

-- The aggregate figures a weekly executive summary is written from (no person's data).
create or replace function salesflow.executive_summary_figures(org_id uuid, week_start date)
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
    with w as (
        select
            executive_summary_figures.week_start::timestamp at time zone 'UTC' as t0,
            (executive_summary_figures.week_start + 7)::timestamp at time zone 'UTC' as t1
    )
    select pg_catalog.jsonb_build_object(
        'week_start', executive_summary_figures.week_start,
        'new_leads', (select count(*) from salesflow.leads as l, w
                      where l.org_id = executive_summary_figures.org_id
                        and l.created_at >= w.t0 and l.created_at < w.t1),
        'messages', (select count(*) from salesflow.messages as m, w
                     where m.org_id = executive_summary_figures.org_id and m.sent_at >= w.t0 and m.sent_at < w.t1),
        'deals_won', (select count(*) from salesflow.deal_stage_changes as c, w
                      where c.org_id = executive_summary_figures.org_id and c.stage = 'closed_won'
                        and c.changed_at >= w.t0 and c.changed_at < w.t1),
        'deals_lost', (select count(*) from salesflow.deal_stage_changes as c, w
                       where c.org_id = executive_summary_figures.org_id and c.stage = 'closed_lost'
                         and c.changed_at >= w.t0 and c.changed_at < w.t1),
        'ai_requests', (select count(*) from salesflow.llm_requests as r, w
                        where r.org_id = executive_summary_figures.org_id and r.started_at >= w.t0
                          and r.started_at < w.t1),
        'ai_cost', (select coalesce(sum(r.cost), 0) from salesflow.llm_requests as r, w
                    where r.org_id = executive_summary_figures.org_id and r.started_at >= w.t0 and r.started_at < w.t1),
        'compliance_withheld', (select count(*) from salesflow.compliance_log as c, w
                                where c.org_id = executive_summary_figures.org_id and c.action = 'withheld'
                                  and c.created_at >= w.t0 and c.created_at < w.t1),
        'anomalies', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                          'metric', a.metric, 'day', a.day, 'value', a.value, 'baseline', a.baseline)
                          order by a.day, a.metric), '[]')
                      from salesflow.insight_alerts as a
                      where a.org_id = executive_summary_figures.org_id
                        and a.day >= executive_summary_figures.week_start
                        and a.day < executive_summary_figures.week_start + 7)
    )
$$;

-- One executive_summary job per organisation with any activity since week_start (the weekly
-- job's fan-out); the idempotency key makes a second fan-out of the same week a no-op.
create or replace function salesflow.enqueue_executive_summaries(week_start date)
returns integer
language sql
volatile
security invoker
set search_path = ''
as $$
    select count(salesflow.enqueue(
        'executive_summary', pg_catalog.jsonb_build_object(
            'week_start', enqueue_executive_summaries.week_start,
            -- the organisation's language where it set one (settings.language), else English
            'language', case when o.settings ->> 'language' in ('de', 'en') then o.settings ->> 'language' else 'en' end
        ),
        org_id => o.id,
        idempotency_key => 'executive_summary:' || o.id || ':' || enqueue_executive_summaries.week_start
    ))::integer
    from salesflow.organizations as o
    where exists (
        select from salesflow.messages as m
        where m.org_id = o.id and m.sent_at >= enqueue_executive_summaries.week_start::timestamp at time zone 'UTC'
    ) or exists (
        select from salesflow.llm_requests as r
        where r.org_id = o.id and r.started_at >= enqueue_executive_summaries.week_start::timestamp at time zone 'UTC'
    )
$$;

-- Every panel of /dashboard in one call, read as the caller.
create or replace function api.get_dashboard(org_id uuid, days integer default 90)
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    since timestamptz;
    result jsonb;
begin
    perform salesflow.require_dashboard_member(get_dashboard.org_id);
    if get_dashboard.days is null or get_dashboard.days not between 7 and 366 then
        raise sqlstate '22023' using message = 'days must be between 7 and 366';
    end if;
    since := pg_catalog.date_trunc('day', pg_catalog.now(), 'UTC')
        - pg_catalog.make_interval(days => get_dashboard.days);
    select pg_catalog.jsonb_build_object(
        'org_id', get_dashboard.org_id,
        'generated_at', pg_catalog.now(),
        'days', get_dashboard.days,
        'spend', (
            select coalesce(pg_catalog.jsonb_agg(x order by x.day), '[]') from (
                select u.day, sum(u.cost) as cost, sum(u.requests) as requests, sum(u.errors) as errors
                from salesflow.llm_usage_daily as u
                where u.org_id = get_dashboard.org_id and u.day >= since::date
                group by u.day
            ) as x
        ),
        'savings', (
            select coalesce(pg_catalog.jsonb_agg(x order by x.day), '[]')
            from salesflow.org_routing_savings(get_dashboard.org_id, since::date) as x
        ),
        'score_distribution', (
            select coalesce(pg_catalog.jsonb_agg(x order by x.bucket), '[]') from (
                select least(s.score / 10, 9) * 10 as bucket, count(*) as leads
                from salesflow.lead_scores as s where s.org_id = get_dashboard.org_id
                group by 1
            ) as x
        ),
        'score_trend', (
            select coalesce(pg_catalog.jsonb_agg(x order by x.day), '[]') from (
                select a.day, a.value as mean_score from salesflow.insight_daily_metrics(
                    get_dashboard.org_id, since::date, (pg_catalog.now() at time zone 'UTC')::date
                ) as a
                where a.metric = 'score' and a.value is not null
            ) as x
        ),
        'funnel', (
            select coalesce(pg_catalog.jsonb_agg(x order by x.stage), '[]') from (
                select l.lifecycle_stage as stage, count(*) as leads
                from salesflow.leads as l where l.org_id = get_dashboard.org_id
                group by l.lifecycle_stage
            ) as x
        ),
        'recommendations', (
            select coalesce(pg_catalog.jsonb_agg(x order by x.week, x.status), '[]') from (
                select pg_catalog.date_trunc('week', r.created_at, 'UTC')::date as week, r.status::text as status,
                       count(*) as n
                from salesflow.ai_recommendations as r
                where r.org_id = get_dashboard.org_id and r.created_at >= since
                group by 1, 2
            ) as x
        ),
        -- the latest stored forecast (computing one takes seconds at 100,000 leads: the page reads
        -- it apart, through api.get_dashboard_forecast, which computes and stores one when none is fresh)
        'forecast', coalesce((
            select p.result from salesflow.predictions as p
            where p.org_id = get_dashboard.org_id and p.kind = 'forecast'
              and p.inputs @> '{"periods": 3, "period_days": 30}' and p.as_of <= pg_catalog.now()
            order by p.as_of desc limit 1
        ), '[]'),
        'forecast_as_of', (
            select p.as_of from salesflow.predictions as p
            where p.org_id = get_dashboard.org_id and p.kind = 'forecast'
              and p.inputs @> '{"periods": 3, "period_days": 30}' and p.as_of <= pg_catalog.now()
            order by p.as_of desc limit 1
        ),
        'queue', (
            select coalesce(pg_catalog.jsonb_agg(q), '[]') from salesflow.org_queue_health(get_dashboard.org_id) as q
        ),
        'compliance', (
            select coalesce(pg_catalog.jsonb_agg(x order by x.day), '[]') from (
                select (c.created_at at time zone 'UTC')::date as day, count(*) as checks,
                       count(*) filter (where not c.passed) as failed,
                       count(*) filter (where c.action = 'withheld') as withheld,
                       sum(pg_catalog.jsonb_array_length(c.findings)) as findings
                from salesflow.compliance_log as c
                where c.org_id = get_dashboard.org_id and c.created_at >= since
                group by 1
            ) as x
        ),
        'anomalies', (
            select coalesce(pg_catalog.jsonb_agg(a order by a.metric, a.day), '[]')
            from salesflow.insight_anomalies(get_dashboard.org_id, least(get_dashboard.days, 60)) as a
        ),
        'alerts', (
            select coalesce(pg_catalog.jsonb_agg(a order by a.day desc, a.metric), '[]') from (
                select a.metric, a.day, a.value, a.baseline, a.z, a.method
                from salesflow.insight_alerts as a
                where a.org_id = get_dashboard.org_id and a.day >= since::date
            ) as a
        ),
        'roi', (select coalesce(pg_catalog.jsonb_agg(r), '[]') from api.get_ai_roi(get_dashboard.org_id, since) as r),
        'content', (
            select coalesce(pg_catalog.jsonb_agg(c), '[]')
            from api.get_content_performance(get_dashboard.org_id, since) as c
        ),
        'summaries', (
            select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'week_start', s.week_start, 'language', s.language, 'content', s.content, 'source', s.source,
                'offline_model', s.offline_model, 'model', s.model, 'created_at', s.created_at
            )), '[]')
            from salesflow.latest_executive_summaries(get_dashboard.org_id) as s
        )
    ) into result;
    return result;
end
$$;
comment on function api.get_dashboard(uuid, integer) is
'Every panel of the AI insights dashboard for one organisation, read as the caller: AI spend and routing savings per day, score distribution and trend, the lifecycle funnel, recommendation adoption per week, the latest stored revenue forecast with P10-P90 and its as-of time, queue health, compliance findings, anomalies and alert rows, ROI per AI feature, content performance and the latest executive summaries.';

revoke execute on function
api.get_dashboard(uuid, integer), api.get_anomalies(uuid, integer, integer, double precision),
api.get_ai_roi(uuid, timestamptz), api.get_content_performance(uuid, timestamptz) from public;
grant execute on function
api.get_dashboard(uuid, integer), api.get_anomalies(uuid, integer, integer, double precision),
api.get_ai_roi(uuid, timestamptz), api.get_content_performance(uuid, timestamptz) to authenticated, service_role;
revoke execute on function salesflow.org_queue_health(uuid), salesflow.record_insight_alerts(integer),
salesflow.enqueue_executive_summaries(date) from public;
revoke execute on function salesflow.org_routing_savings(uuid, date) from public;
-- as 90_grants.sql does for every function before this file: no default EXECUTE, on the first deploy too
revoke execute on function
salesflow.insight_daily_metrics(uuid, date, date),
salesflow.insight_anomalies(uuid, integer, integer, double precision, date),
salesflow.require_dashboard_member(uuid),
salesflow.latest_executive_summaries(uuid),
salesflow.executive_summary_figures(uuid, date)
from public;
-- what the invoker RPCs above call as the caller
grant execute on function
salesflow.insight_daily_metrics(uuid, date, date),
salesflow.insight_anomalies(uuid, integer, integer, double precision, date),
salesflow.require_dashboard_member(uuid),
salesflow.latest_executive_summaries(uuid)
to authenticated, service_role;
grant execute on function salesflow.org_queue_health(uuid), salesflow.org_routing_savings(uuid, date)
to authenticated, service_role;

alter table salesflow.insight_alerts enable row level security;
alter table salesflow.executive_summaries enable row level security;
drop policy if exists insight_alerts_select on salesflow.insight_alerts;
create policy insight_alerts_select on salesflow.insight_alerts for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists executive_summaries_select on salesflow.executive_summaries;
create policy executive_summaries_select on salesflow.executive_summaries for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
revoke all on salesflow.insight_alerts, salesflow.executive_summaries from anon, authenticated, service_role;
grant select on salesflow.insight_alerts, salesflow.executive_summaries to authenticated, service_role;

insert into salesflow.job_schedules (name, kind, cron, next_run_at)
values
(
    'detect_anomalies', 'detect_anomalies', '23 1 * * *',
    date_trunc('day', now(), 'UTC') + interval '1 day 1 hour 23 minutes'
),
(
    'executive_summaries', 'executive_summary', '0 6 * * 1',
    date_trunc('week', now(), 'UTC') + interval '7 days 6 hours'
)
on conflict (name) do nothing;
