-- The analysts' materialized views (DESIGN.md decision 14): in `analytics`, never granted to app
-- roles, each with the plain unique index REFRESH ... CONCURRENTLY needs, refreshed by the queue
-- (refresh_view jobs, scheduled below, or on demand through api.refresh_views), and read by apps
-- through tenant-checked RPCs. Analysts with psql use the read-only role salesflow_analyst.
--
-- `create materialized view if not exists`: this file is re-applied on every deploy, and a view
-- whose definition changes must be dropped by a migration first.

-- Open recommendations with their decayed priority now. A plain view, not a materialized one:
-- its query reads the open items' partial index, and a concurrent refresh of a copy cost five
-- times that query (it diffs every row; README, Performance), for a copy that was up to 15 minutes
-- old. Owned by the migration role like the materialized views, so it carries no RLS either and
-- is read the same way: by analysts (salesflow_analyst) and through api.get_followups.
create or replace view analytics.followups_scored as
select
    r.org_id,
    r.id,
    r.lead_id,
    r.deal_id,
    r.assignee_id,
    r.action_type,
    r.rule_key,
    r.base_priority,
    salesflow.decayed_priority(r.base_priority, r.half_life, r.offered_at, now()) as priority,
    r.offered_at,
    r.expires_at,
    now() as priority_as_of
from salesflow.ai_recommendations as r
where r.status = 'open' and r.expires_at > now();

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

-- The touches of some leads (all of an organisation's when lead_ids is null), per lead and
-- channel: counts each way, answered outbound touches (the next touch on the same channel with the
-- same lead is inbound) and the hours to each reply. A join with the ids: one index probe per
-- lead (a single insert reads its lead's touches only; a COPY's 100k leads are not compared with
-- every row, as = any() over a parameter array would). The one definition behind
-- salesflow.lead_channel_stats (kept by the triggers below) and so behind the view; last_at and
-- last_direction are the latest touch, where salesflow.append_lead_channel_touches continues.
create or replace function salesflow.lead_channel_touch_stats(org_id uuid, lead_ids uuid [] default null)
returns table (
    lead_id uuid, channel text, outbound integer, inbound integer, answered integer, reply_hours real [],
    last_at timestamptz, last_direction salesflow.direction
)
language sql
stable
security invoker
set search_path = ''
as $$
    with ids as (
        select distinct x.id from pg_catalog.unnest(coalesce(
            lead_channel_touch_stats.lead_ids,
            array(select l.id from salesflow.leads as l where l.org_id = lead_channel_touch_stats.org_id)
        )) as x (id)
    ),
    touches as (
        select m.lead_id, m.channel::text as channel, m.direction, m.sent_at as at
        from ids join salesflow.messages as m on m.org_id = lead_channel_touch_stats.org_id and m.lead_id = ids.id
        union all
        select a.lead_id, case a.kind when 'call' then 'phone' else a.kind::text end, a.direction, a.occurred_at
        from ids join salesflow.activities as a on a.org_id = lead_channel_touch_stats.org_id and a.lead_id = ids.id
        where a.direction is not null
    ),
    ordered as (
        select t.*, pg_catalog.lead(t.direction) over w as next_direction, pg_catalog.lead(t.at) over w as next_at
        from touches as t
        -- touches at the same instant: inbound first, so the order (and a rerun's result) is fixed
        window w as (partition by t.lead_id, t.channel order by t.at, t.direction)
    )
    select o.lead_id, o.channel,
           (count(*) filter (where o.direction = 'outbound'))::integer,
           (count(*) filter (where o.direction = 'inbound'))::integer,
           (count(*) filter (where o.direction = 'outbound' and o.next_direction = 'inbound'))::integer,
           coalesce(pg_catalog.array_agg((extract(epoch from o.next_at - o.at) / 3600)::real order by o.at)
                    filter (where o.direction = 'outbound' and o.next_direction = 'inbound'), '{}'),
           pg_catalog.max(o.at),
           (pg_catalog.array_agg(o.direction order by o.at desc, o.direction desc))[1]
    from ordered as o
    group by o.lead_id, o.channel
$$;

-- Recompute the stats of the leads a statement touched. The leads' rows are locked first (in id
-- order; inserts already hold them, from salesflow.bump_last_activity), and the recomputation is a
-- statement of its own with a fresh snapshot, so two transactions touching one lead cannot leave
-- stats that miss the other's touch under READ COMMITTED. Leads gone (an erasure in progress) get none.
create or replace function salesflow.refresh_lead_channel_stats(org_id uuid, lead_ids uuid [])
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    perform from salesflow.leads as l
    where l.org_id = refresh_lead_channel_stats.org_id and l.id = any(refresh_lead_channel_stats.lead_ids)
    order by l.id
    for no key update;
    delete from salesflow.lead_channel_stats as s
    where s.org_id = refresh_lead_channel_stats.org_id and s.lead_id = any(refresh_lead_channel_stats.lead_ids);
    insert into salesflow.lead_channel_stats (
        org_id, lead_id, channel, outbound, inbound, answered, reply_hours, last_at, last_direction
    )
    select refresh_lead_channel_stats.org_id, t.lead_id, t.channel, t.outbound, t.inbound, t.answered, t.reply_hours,
           t.last_at, t.last_direction
    from salesflow.lead_channel_touch_stats(refresh_lead_channel_stats.org_id, refresh_lead_channel_stats.lead_ids) as t
    where exists (
        select from salesflow.leads as l where l.org_id = refresh_lead_channel_stats.org_id and l.id = t.lead_id
    );
end
$$;
comment on function salesflow.refresh_lead_channel_stats(uuid, uuid []) is
'security definer, justified: lead_channel_stats is written only here (app roles may not write it); called by the touch triggers for the leads a statement touched.';

-- Add one statement's new touches (parallel arrays: lead, channel, direction, time). A lead whose
-- new touches on every channel are all later than the latest touch kept for it (and not tied with
-- each other) is updated in place: the counts grow by the new touches, and the answered pairs are
-- those of the kept latest touch followed by the new ones, which is all that appending can change
-- in the from-scratch definition. Any other lead (a touch dated earlier, ties, no row or no latest
-- touch kept) is recomputed by refresh_lead_channel_stats. The leads are locked first, in id
-- order, and the rows are read after the lock, so concurrent writers see each other's touches.
create or replace function salesflow.append_lead_channel_touches(
    org_id uuid, lead_ids uuid [], channels text [], directions salesflow.direction [], ats timestamptz []
)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    redo uuid [];
begin
    perform from salesflow.leads as l
    where l.org_id = append_lead_channel_touches.org_id and l.id = any(append_lead_channel_touches.lead_ids)
    order by l.id
    for no key update;
    with t as (
        select x.lead_id, x.channel, min(x.at) as first_at, count(*) as n, count(distinct x.at) as distinct_at
        from unnest(append_lead_channel_touches.lead_ids, append_lead_channel_touches.channels,
                    append_lead_channel_touches.directions, append_lead_channel_touches.ats)
            as x (lead_id, channel, direction, at)
        group by x.lead_id, x.channel
    )
    select coalesce(pg_catalog.array_agg(distinct t.lead_id), '{}') into redo
    from t left join salesflow.lead_channel_stats as s
        on s.org_id = append_lead_channel_touches.org_id and s.lead_id = t.lead_id and s.channel = t.channel
    where s.last_at is null or s.last_direction is null or t.first_at <= s.last_at or t.n <> t.distinct_at;
    with t as (
        select x.lead_id, x.channel, x.direction, x.at, false as kept
        from unnest(append_lead_channel_touches.lead_ids, append_lead_channel_touches.channels,
                    append_lead_channel_touches.directions, append_lead_channel_touches.ats)
            as x (lead_id, channel, direction, at)
        where not x.lead_id = any(redo)
    ),
    seq as (
        select t.* from t
        union all
        select s.lead_id, s.channel, s.last_direction, s.last_at, true
        from salesflow.lead_channel_stats as s
        where s.org_id = append_lead_channel_touches.org_id
          and (s.lead_id, s.channel) in (select t.lead_id, t.channel from t)
    ),
    ordered as (
        select q.*, pg_catalog.lead(q.direction) over w as next_direction, pg_catalog.lead(q.at) over w as next_at
        from seq as q
        window w as (partition by q.lead_id, q.channel order by q.at)
    ),
    delta as (
        select o.lead_id, o.channel,
               (count(*) filter (where not o.kept and o.direction = 'outbound'))::integer as outbound,
               (count(*) filter (where not o.kept and o.direction = 'inbound'))::integer as inbound,
               (count(*) filter (where o.direction = 'outbound' and o.next_direction = 'inbound'))::integer
                   as answered,
               coalesce(pg_catalog.array_agg((extract(epoch from o.next_at - o.at) / 3600)::real order by o.at)
                        filter (where o.direction = 'outbound' and o.next_direction = 'inbound'), '{}') as reply_hours,
               pg_catalog.max(o.at) as last_at,
               (pg_catalog.array_agg(o.direction order by o.at desc))[1] as last_direction
        from ordered as o
        group by o.lead_id, o.channel
    )
    update salesflow.lead_channel_stats as s
    set outbound = s.outbound + d.outbound, inbound = s.inbound + d.inbound, answered = s.answered + d.answered,
        reply_hours = s.reply_hours || d.reply_hours, last_at = d.last_at, last_direction = d.last_direction,
        updated_at = pg_catalog.now()
    from delta as d
    where s.org_id = append_lead_channel_touches.org_id and s.lead_id = d.lead_id and s.channel = d.channel;
    if pg_catalog.cardinality(redo) > 0 then
        perform salesflow.refresh_lead_channel_stats(append_lead_channel_touches.org_id, redo);
    end if;
end
$$;
comment on function salesflow.append_lead_channel_touches(uuid, uuid [], text [], salesflow.direction [], timestamptz []) is
'security definer, justified: lead_channel_stats is written only by the touch triggers (app roles may not write it); called by the insert triggers with the statement''s new touches.';

create or replace function salesflow.lead_channel_stats_on_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    r record;
begin
    -- inserts: the transition table is aggregated once per organisation and its touches appended
    -- (two statements: PL/pgSQL resolves every field a statement names, and the tables differ)
    if tg_op = 'INSERT' and tg_table_name = 'messages' then
        for r in select n.org_id, pg_catalog.array_agg(n.lead_id) as ids, pg_catalog.array_agg(n.channel::text) as ch,
                        pg_catalog.array_agg(n.direction) as dirs, pg_catalog.array_agg(n.sent_at) as ats
                 from new_rows as n where n.lead_id is not null group by n.org_id loop
            perform salesflow.append_lead_channel_touches(r.org_id, r.ids, r.ch, r.dirs, r.ats);
        end loop;
    elsif tg_op = 'INSERT' then
        for r in select n.org_id, pg_catalog.array_agg(n.lead_id) as ids,
                        pg_catalog.array_agg(case n.kind when 'call' then 'phone' else n.kind::text end) as ch,
                        pg_catalog.array_agg(n.direction) as dirs, pg_catalog.array_agg(n.occurred_at) as ats
                 from new_rows as n where n.lead_id is not null and n.direction is not null group by n.org_id loop
            perform salesflow.append_lead_channel_touches(r.org_id, r.ids, r.ch, r.dirs, r.ats);
        end loop;
    elsif tg_op = 'UPDATE' then
        -- a touch moved to another lead changes both
        for r in select x.org_id, pg_catalog.array_agg(distinct x.lead_id) as ids from (
                     select n.org_id, n.lead_id from new_rows as n
                     union all
                     select o.org_id, o.lead_id from old_rows as o
                 ) as x where x.lead_id is not null group by x.org_id loop
            perform salesflow.refresh_lead_channel_stats(r.org_id, r.ids);
        end loop;
    else
        for r in select o.org_id, pg_catalog.array_agg(distinct o.lead_id) as ids
                 from old_rows as o where o.lead_id is not null group by o.org_id loop
            perform salesflow.refresh_lead_channel_stats(r.org_id, r.ids);
        end loop;
    end if;
    return null;
end
$$;
comment on function salesflow.lead_channel_stats_on_change() is
'security definer, justified: keeps salesflow.lead_channel_stats, which app roles may not write, in the writer''s transaction.';

create or replace trigger messages_channel_stats_insert after insert on salesflow.messages
referencing new table as new_rows for each statement execute function salesflow.lead_channel_stats_on_change();
create or replace trigger messages_channel_stats_update after update on salesflow.messages
referencing old table as old_rows new table as new_rows
for each statement execute function salesflow.lead_channel_stats_on_change();
create or replace trigger messages_channel_stats_delete after delete on salesflow.messages
referencing old table as old_rows for each statement execute function salesflow.lead_channel_stats_on_change();
create or replace trigger activities_channel_stats_insert after insert on salesflow.activities
referencing new table as new_rows for each statement execute function salesflow.lead_channel_stats_on_change();
create or replace trigger activities_channel_stats_update after update on salesflow.activities
referencing old table as old_rows new table as new_rows
for each statement execute function salesflow.lead_channel_stats_on_change();
create or replace trigger activities_channel_stats_delete after delete on salesflow.activities
referencing old table as old_rows for each statement execute function salesflow.lead_channel_stats_on_change();

-- The first deploy with the table fills it from the existing touches (once: later ones find rows).
insert into salesflow.lead_channel_stats (
    org_id, lead_id, channel, outbound, inbound, answered, reply_hours, last_at, last_direction
)
select o.id, t.lead_id, t.channel, t.outbound, t.inbound, t.answered, t.reply_hours, t.last_at, t.last_direction
from salesflow.organizations as o
cross join lateral salesflow.lead_channel_touch_stats(o.id) as t
where not exists (select from salesflow.lead_channel_stats)
  and exists (select from salesflow.leads as l where l.org_id = o.id and l.id = t.lead_id);

alter table salesflow.lead_channel_stats enable row level security;
drop policy if exists lead_channel_stats_select on salesflow.lead_channel_stats;
create policy lead_channel_stats_select on salesflow.lead_channel_stats for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
revoke all on salesflow.lead_channel_stats from anon, authenticated, service_role;
grant select on salesflow.lead_channel_stats to authenticated, service_role;
grant execute on function salesflow.lead_channel_touch_stats(uuid, uuid []) to authenticated, service_role;
revoke execute on function salesflow.refresh_lead_channel_stats(uuid, uuid []) from public;
revoke execute on function salesflow.append_lead_channel_touches(
    uuid, uuid [], text [], salesflow.direction [], timestamptz []
) from public;

-- Per channel and organisation, from salesflow.lead_channel_stats: touches each way, response
-- rate, median reply hours, and the leads touched that converted (customer, evangelist or a won deal).
create materialized view if not exists analytics.channel_performance_metrics as
with converted as (
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
        s.org_id,
        s.channel,
        sum(s.outbound)::bigint as outbound,
        sum(s.inbound)::bigint as inbound,
        sum(s.answered)::bigint as answered,
        count(*) as leads_touched,
        count(c.lead_id) as converted_leads_touched
    from salesflow.lead_channel_stats as s
    left join converted as c on s.org_id = c.org_id and s.lead_id = c.lead_id
    group by s.org_id, s.channel
),

latency as (
    select
        s.org_id,
        s.channel,
        percentile_cont(0.5) within group (order by h.hours) as median_reply_hours
    from salesflow.lead_channel_stats as s
    cross join lateral unnest(s.reply_hours) as h (hours)
    group by s.org_id, s.channel
)

select
    p.org_id,
    p.channel,
    p.outbound,
    p.inbound,
    p.answered,
    (p.answered::double precision / nullif(p.outbound, 0))::real as response_rate,
    r.median_reply_hours::real as median_reply_hours,
    p.leads_touched,
    p.converted_leads_touched,
    now() as refreshed_at
from per_channel as p
left join latency as r on p.org_id = r.org_id and p.channel = r.channel;
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
'security definer, justified: the analytics views carry no RLS and are not granted to app roles; this reader checks membership and returns only the callers organisation. Open follow-ups with their priority decayed to now (analytics.followups_scored; members only).';

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
from unnest(array['conversion_microsteps', 'channel_performance_metrics']) as v;
