-- The analysts' materialized views (DESIGN.md decision 14): in `analytics`, never granted to app
-- roles, each with the plain unique index REFRESH ... CONCURRENTLY needs, refreshed by the queue
-- (refresh_view jobs, scheduled below, or on demand through api.refresh_views), and read by apps
-- through tenant-checked RPCs. Analysts with psql use the read-only role salesflow_analyst.
--
-- `create materialized view if not exists`: this file is re-applied on every deploy, and a view
-- whose definition changes must be dropped by a migration first.

-- Open recommendations with their decayed priority at refresh time, taken at the start of the hour:
-- refreshes within the same hour then produce the same rows for unchanged items, and REFRESH
-- CONCURRENTLY writes only what changed (with now() every row would differ at every refresh).
-- Narrow on purpose: the concurrent refresh compares old and new rows whole, so the reason text
-- stays in the table (api.get_followups joins it for the page it returns).
create materialized view if not exists analytics.followups_scored as
select
    r.org_id,
    r.id,
    r.lead_id,
    r.deal_id,
    r.assignee_id,
    r.action_type,
    r.rule_key,
    r.base_priority,
    salesflow.decayed_priority(r.base_priority, r.half_life, r.offered_at, date_trunc('hour', now())) as priority,
    r.offered_at,
    r.expires_at,
    date_trunc('hour', now()) as priority_as_of
from salesflow.ai_recommendations as r
where r.status = 'open' and r.expires_at > now();
create unique index if not exists followups_scored_key on analytics.followups_scored (org_id, id);

-- Stage-to-stage conversion and median days per step, by lead source, owner and the month the
-- lead entered the from-stage. to_stage '(not yet)' counts the leads still in from_stage. owner_id
-- uses the nil uuid for unowned leads, so the unique index has no nulls.
create materialized view if not exists analytics.conversion_microsteps as
with entries as (
    select
        c.org_id,
        c.lead_id,
        c.to_stage as stage,
        c.changed_at as entered_at,
        lead(c.to_stage) over w as next_stage,
        lead(c.changed_at) over w as left_at
    from salesflow.lead_stage_changes as c
    window w as (partition by c.org_id, c.lead_id order by c.changed_at, c.id)
)

select
    e.org_id,
    l.source,
    coalesce(l.owner_id, '00000000-0000-0000-0000-000000000000'::uuid) as owner_id,
    date_trunc('month', e.entered_at at time zone 'UTC')::date as month,
    e.stage as from_stage,
    coalesce(e.next_stage::text, '(not yet)') as to_stage,
    count(*) as leads,
    (count(*)::double precision / sum(count(*)) over (
        partition by
            e.org_id, l.source, coalesce(l.owner_id, '00000000-0000-0000-0000-000000000000'::uuid),
            date_trunc('month', e.entered_at at time zone 'UTC')::date, e.stage
    ))::real as conversion,
    (percentile_cont(0.5) within group (order by extract(epoch from e.left_at - e.entered_at) / 86400))::real
        as median_days
from entries as e
inner join salesflow.leads as l on e.org_id = l.org_id and e.lead_id = l.id
group by
    e.org_id, l.source, coalesce(l.owner_id, '00000000-0000-0000-0000-000000000000'::uuid),
    date_trunc('month', e.entered_at at time zone 'UTC')::date, e.stage, coalesce(e.next_stage::text, '(not yet)');
create unique index if not exists conversion_microsteps_key
on analytics.conversion_microsteps (org_id, source, owner_id, month, from_stage, to_stage);

-- Per channel and organisation: touches each way, response rate (an outbound touch whose next
-- touch on the same channel with the same lead is inbound), median reply hours, and the share of
-- the organisation's converted leads (customer, evangelist or a won deal) this channel touched.
create materialized view if not exists analytics.channel_performance_metrics as
with touches as (
    select
        m.org_id,
        m.lead_id,
        m.channel::text as channel,
        m.direction,
        m.sent_at as at
    from salesflow.messages as m
    union all
    select
        a.org_id,
        a.lead_id,
        case a.kind when 'call' then 'phone' else a.kind::text end as channel,
        a.direction,
        a.occurred_at
    from salesflow.activities as a
    where a.direction is not null and a.lead_id is not null
),

ordered as (
    select
        t.*,
        lead(t.direction) over w as next_direction,
        lead(t.at) over w as next_at
    from touches as t
    window w as (partition by t.org_id, t.lead_id, t.channel order by t.at)
),

converted as (
    select
        l.org_id,
        l.id as lead_id
    from salesflow.leads as l
    where l.lifecycle_stage in ('customer', 'evangelist')
    union
    select
        d.org_id,
        d.lead_id
    from salesflow.deals as d
    where d.stage = 'closed_won' and d.lead_id is not null
),

per_channel as (
    select
        o.org_id,
        o.channel,
        count(*) filter (where o.direction = 'outbound') as outbound,
        count(*) filter (where o.direction = 'inbound') as inbound,
        count(*) filter (where o.direction = 'outbound' and o.next_direction = 'inbound') as answered,
        percentile_cont(0.5) within group (order by extract(epoch from o.next_at - o.at) / 3600)
        filter (where o.direction = 'outbound' and o.next_direction = 'inbound') as median_reply_hours
    from ordered as o
    group by o.org_id, o.channel
),

reach as (
    select
        t.org_id,
        t.channel,
        count(*) as leads_touched,
        count(c.lead_id) as converted_leads_touched
    from (select distinct
        t.org_id,
        t.channel,
        t.lead_id
    from touches as t) as t
    left join converted as c on t.org_id = c.org_id and t.lead_id = c.lead_id
    group by t.org_id, t.channel
)

select
    p.org_id,
    p.channel,
    p.outbound,
    p.inbound,
    p.answered,
    (p.answered::double precision / nullif(p.outbound, 0))::real as response_rate,
    p.median_reply_hours::real as median_reply_hours,
    r.leads_touched,
    r.converted_leads_touched,
    now() as refreshed_at
from per_channel as p
inner join reach as r on p.org_id = r.org_id and p.channel = r.channel;
create unique index if not exists channel_performance_metrics_key on analytics.channel_performance_metrics (org_id, channel);

-- The read-only role for analysts (psql, BI tools): SELECT on everything in analytics, nothing else.
-- NOLOGIN: grant it to a login role of your own (grant salesflow_analyst to alice).
do $$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = 'salesflow_analyst') then
        create role salesflow_analyst nologin;
    end if;
end
$$;
grant usage on schema analytics to salesflow_analyst;
grant select on all tables in schema analytics to salesflow_analyst;
revoke all on analytics.followups_scored, analytics.conversion_microsteps, analytics.channel_performance_metrics
from public, anon, authenticated, service_role;

-- The tenant-checked readers. security definer (app roles have no privilege on analytics); each
-- filters by the organisation and checks that the caller is a member of it.
create or replace function api.get_followups(org_id uuid, assignee_id uuid default null, page_size integer default 50)
returns table (
    id uuid, lead_id uuid, deal_id uuid, assignee_id uuid, action_type salesflow.recommendation_action,
    rule_key text, reason text, base_priority real, priority real, offered_at timestamptz, expires_at timestamptz,
    priority_as_of timestamptz
)
language sql
stable
security definer
set search_path = ''
as $$
    select f.id, f.lead_id, f.deal_id, f.assignee_id, f.action_type, f.rule_key, r.reason, f.base_priority,
           f.priority::real, f.offered_at, f.expires_at, f.priority_as_of
    from (
        select * from analytics.followups_scored as f
        where f.org_id = get_followups.org_id and get_followups.org_id = any(salesflow.my_org_ids())
          and (get_followups.assignee_id is null or f.assignee_id = get_followups.assignee_id)
        order by f.priority desc, f.id
        limit salesflow.check_page_size(get_followups.page_size)
    ) as f
    join salesflow.ai_recommendations as r on r.org_id = f.org_id and r.id = f.id
    order by f.priority desc, f.id
$$;
comment on function api.get_followups(uuid, uuid, integer) is
'security definer, justified: materialized views carry no RLS and are not granted to app roles; this reader checks membership and returns only the callers organisation. Open follow-ups with their decayed priority as of the last refresh of analytics.followups_scored (members only).';

create or replace function api.get_conversion_funnel(org_id uuid, since timestamptz default null)
returns table (
    source salesflow.lead_source, owner_id uuid, month date, from_stage salesflow.lifecycle_stage, to_stage text,
    leads bigint, conversion real, median_days real
)
language sql
stable
security definer
set search_path = ''
as $$
    select c.source, nullif(c.owner_id, '00000000-0000-0000-0000-000000000000'::uuid), c.month, c.from_stage,
           c.to_stage, c.leads, c.conversion, c.median_days
    from analytics.conversion_microsteps as c
    where c.org_id = get_conversion_funnel.org_id and get_conversion_funnel.org_id = any(salesflow.my_org_ids())
      and (get_conversion_funnel.since is null or c.month >= (get_conversion_funnel.since at time zone 'UTC')::date)
    order by c.month desc, c.source, c.owner_id, c.from_stage, c.to_stage
$$;
comment on function api.get_conversion_funnel(uuid, timestamptz) is
'security definer, justified: materialized views carry no RLS and are not granted to app roles; this reader checks membership and returns only the callers organisation. Stage-to-stage conversion and median days per step by source, owner and month, from analytics.conversion_microsteps.';

create or replace function api.get_channel_performance(org_id uuid)
returns table (
    channel text, outbound bigint, inbound bigint, answered bigint, response_rate real, median_reply_hours real,
    leads_touched bigint, converted_leads_touched bigint, share_of_conversions real, refreshed_at timestamptz
)
language sql
stable
security definer
set search_path = ''
as $$
    select m.channel, m.outbound, m.inbound, m.answered, m.response_rate, m.median_reply_hours, m.leads_touched,
           m.converted_leads_touched,
           (m.converted_leads_touched::double precision / nullif(
               (select count(*) from salesflow.leads as l
                where l.org_id = m.org_id and (l.lifecycle_stage in ('customer', 'evangelist') or exists (
                    select from salesflow.deals as d
                    where d.org_id = l.org_id and d.lead_id = l.id and d.stage = 'closed_won'))), 0))::real,
           m.refreshed_at
    from analytics.channel_performance_metrics as m
    where m.org_id = get_channel_performance.org_id and get_channel_performance.org_id = any(salesflow.my_org_ids())
    order by m.channel
$$;
comment on function api.get_channel_performance(uuid) is
'security definer, justified: materialized views carry no RLS and are not granted to app roles; this reader checks membership and returns only the callers organisation. Per channel: touches, response rate, median reply hours and the share of converted leads it touched (members only).';

-- On demand: owners and admins queue a refresh of every analytics view (the refresh_view job;
-- one pending job per view, whoever asks).
create or replace function api.refresh_views(org_id uuid)
returns table (view_name text, job_id bigint)
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    if not refresh_views.org_id = any(salesflow.my_org_ids('{owner,admin}')) then
        raise sqlstate '42501' using message = 'only owners and admins may refresh the analytics views';
    end if;
    return query
    select v.matviewname::text,
           salesflow.enqueue('refresh_view', pg_catalog.jsonb_build_object('view', v.matviewname),
                             idempotency_key => 'refresh_view:' || v.matviewname)
    from pg_catalog.pg_matviews as v
    where v.schemaname = 'analytics' and v.matviewname in ('followups_scored', 'conversion_microsteps',
                                                           'channel_performance_metrics', 'leads_scored',
                                                           'personality_insights')
    order by v.matviewname;
end
$$;
comment on function api.refresh_views(uuid) is
'security definer, justified: it queues refresh jobs, which app roles cannot write; it checks that the caller is an owner or admin first. Queue a refresh of the analytics materialized views now (owners and admins); returns the job per view.';

revoke execute on function
api.get_followups(uuid, uuid, integer),
api.get_conversion_funnel(uuid, timestamptz),
api.get_channel_performance(uuid),
api.refresh_views(uuid)
from public;
grant execute on function
api.get_followups(uuid, uuid, integer),
api.get_conversion_funnel(uuid, timestamptz),
api.get_channel_performance(uuid),
api.refresh_views(uuid)
to authenticated, service_role;

select
    salesflow.schedule_job(
        'refresh_' || v, 'refresh_view', every => '15 minutes',
        payload => pg_catalog.jsonb_build_object('view', v)
    )
from unnest(array['followups_scored', 'conversion_microsteps', 'channel_performance_metrics']) as v;
