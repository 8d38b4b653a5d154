-- The analysts' views over lead intelligence (issue 11's tables): every lead with its score,
-- health, BANT, DISG and last touch, and conversion by DISG type. Like those in 79_analytics_views.sql
-- (DESIGN.md decision 14): in `analytics`, never granted to app roles, a plain unique index for
-- REFRESH ... CONCURRENTLY, refreshed by refresh_view schedules and api.refresh_views, and read by
-- apps through tenant-checked RPCs. No names or free text: lead ids only, so the concurrent
-- refresh compares narrow rows and an erased lead leaves no words behind (it vanishes at the next
-- refresh; its id points at nothing once the lead row is gone).

-- One row per lead. health and its traffic light come from salesflow.lead_health (the one place
-- of that formula); bant_* from the latest accepted assessment; disg_* from the latest profile.
create materialized view if not exists analytics.leads_scored as
select
    l.org_id,
    l.id as lead_id,
    l.owner_id,
    l.lifecycle_stage,
    l.source,
    s.score,
    s.probability::real as probability,
    s.trend,
    s.model_id,
    h.health_score,
    h.traffic_light,
    b.total_score as bant_total,
    b.traffic_light as bant_traffic_light,
    b.budget as bant_budget,
    b.authority as bant_authority,
    b.need as bant_need,
    b.timeline as bant_timeline,
    b.assessed_at as bant_assessed_at,
    p.dominant_type as disg_type,
    p.confidence::real as disg_confidence,
    l.last_activity_at as last_touch_at
from salesflow.leads as l
left join salesflow.lead_scores as s on l.org_id = s.org_id and l.id = s.lead_id
left join salesflow.lead_health as h on l.org_id = h.org_id and l.id = h.lead_id
left join lateral (
    select
        x.total_score,
        x.traffic_light,
        x.budget,
        x.authority,
        x.need,
        x.timeline,
        x.assessed_at
    from salesflow.bant_assessments as x
    where x.org_id = l.org_id and x.lead_id = l.id and x.status = 'accepted'
    order by x.assessed_at desc limit 1
) as b on true
left join lateral (
    select
        y.dominant_type,
        y.confidence
    from salesflow.personality_profiles as y
    where y.org_id = l.org_id and y.lead_id = l.id
    order by y.created_at desc limit 1
) as p on true;
create unique index if not exists leads_scored_key on analytics.leads_scored (org_id, lead_id);

-- Conversion and cycle length by DISG type (the latest profile of each lead; 'none' = not
-- profiled, the baseline to compare with). Converted: customer or evangelist, a won deal, or an
-- imported converted outcome. Lost: disqualified, an imported lost outcome, or only lost deals.
-- conversion_rate = converted / (converted + lost): open leads are in `leads` but not in the rate.
-- cycle days: from the lead's creation to its first conversion (stage change, won deal or outcome).
create materialized view if not exists analytics.personality_insights as
with profiled as (
    select distinct on (p.org_id, p.lead_id)
        p.org_id,
        p.lead_id,
        p.dominant_type,
        p.confidence
    from salesflow.personality_profiles as p
    order by p.org_id asc, p.lead_id asc, p.created_at desc
),

deal_facts as (
    select
        d.org_id,
        d.lead_id,
        min(d.closed_at) filter (where d.stage = 'closed_won') as won_at,
        bool_or(d.stage = 'closed_lost') as any_lost,
        bool_or(d.stage not in ('closed_won', 'closed_lost')) as any_open
    from salesflow.deals as d
    where d.lead_id is not null
    group by d.org_id, d.lead_id
),

stage_won as (
    select
        c.org_id,
        c.lead_id,
        min(c.changed_at) as at
    from salesflow.lead_stage_changes as c
    where c.to_stage in ('customer', 'evangelist')
    group by c.org_id, c.lead_id
),

lead_facts as (
    select
        l.org_id,
        l.created_at,
        coalesce(p.dominant_type, 'none') as disg_type,
        p.confidence,
        least(sw.at, d.won_at, case when o.converted then o.decided_at end) as converted_at,
        (
            l.lifecycle_stage in ('customer', 'evangelist') or d.won_at is not null or coalesce(o.converted, false)
        ) as converted,
        (
            l.lifecycle_stage = 'disqualified' or not coalesce(o.converted, true)
            or (coalesce(d.any_lost, false) and not coalesce(d.any_open, false))
        ) as lost
    from salesflow.leads as l
    left join profiled as p on l.org_id = p.org_id and l.id = p.lead_id
    left join deal_facts as d on l.org_id = d.org_id and l.id = d.lead_id
    left join stage_won as sw on l.org_id = sw.org_id and l.id = sw.lead_id
    left join salesflow.lead_outcomes as o on l.org_id = o.org_id and l.id = o.lead_id
)

select
    x.org_id,
    x.disg_type,
    count(*) as leads,
    count(*) filter (where x.converted) as converted,
    count(*) filter (where x.lost and not x.converted) as lost,
    (
        count(*) filter (where x.converted)::double precision
        / nullif(count(*) filter (where x.converted or x.lost), 0)
    )::real as conversion_rate,
    (
        percentile_cont(0.5) within group (order by extract(epoch from x.converted_at - x.created_at) / 86400)
        filter (where x.converted and x.converted_at is not null)
    )::real as median_cycle_days,
    avg(x.confidence)::real as mean_confidence
from lead_facts as x
group by x.org_id, x.disg_type;
create unique index if not exists personality_insights_key on analytics.personality_insights (org_id, disg_type);

grant select on analytics.leads_scored, analytics.personality_insights to salesflow_analyst;
revoke all on analytics.leads_scored, analytics.personality_insights from public, anon, authenticated, service_role;

-- The tenant-checked readers (security definer, as in 79_analytics_views.sql).
create or replace function api.get_scored_leads(
    org_id uuid, light text default null, owned_by uuid default null, page_size integer default 50
)
returns table (
    lead_id uuid, owner_id uuid, lifecycle_stage salesflow.lifecycle_stage, source salesflow.lead_source,
    score smallint, probability real, trend text, health_score smallint, traffic_light text, bant_total smallint,
    bant_traffic_light text, bant_budget smallint, bant_authority smallint, bant_need smallint,
    bant_timeline smallint, bant_assessed_at timestamptz, disg_type text, disg_confidence real,
    last_touch_at timestamptz
)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
    if get_scored_leads.light is not null and get_scored_leads.light not in ('green', 'yellow', 'red') then
        raise sqlstate '22023' using message = 'light must be green, yellow or red',
            hint = 'leave it out for every lead';
    end if;
    return query
    select v.lead_id, v.owner_id, v.lifecycle_stage, v.source, v.score, v.probability, v.trend, v.health_score,
           v.traffic_light, v.bant_total, v.bant_traffic_light, v.bant_budget, v.bant_authority, v.bant_need,
           v.bant_timeline, v.bant_assessed_at, v.disg_type, v.disg_confidence, v.last_touch_at
    from analytics.leads_scored as v
    where v.org_id = get_scored_leads.org_id and get_scored_leads.org_id = any(salesflow.my_org_ids())
      and (get_scored_leads.light is null or v.traffic_light = get_scored_leads.light)
      and (get_scored_leads.owned_by is null or v.owner_id = get_scored_leads.owned_by)
    order by v.health_score desc nulls last, v.score desc nulls last, v.lead_id
    limit salesflow.check_page_size(get_scored_leads.page_size);
end
$$;
comment on function api.get_scored_leads(uuid, text, uuid, integer) is
'security definer, justified: materialized views carry no RLS and are not granted to app roles; this reader checks membership and returns only the callers organisation. Leads with score, trend, health and traffic light, BANT, DISG type and last touch as of the last refresh of analytics.leads_scored, healthiest first; filter by light (the health traffic light: green, yellow, red) or owned_by (the owner).';

create or replace function api.get_personality_insights(org_id uuid)
returns table (
    disg_type text, leads bigint, converted bigint, lost bigint, conversion_rate real, median_cycle_days real,
    mean_confidence real
)
language sql
stable
security definer
set search_path = ''
as $$
    select v.disg_type, v.leads, v.converted, v.lost, v.conversion_rate, v.median_cycle_days, v.mean_confidence
    from analytics.personality_insights as v
    where v.org_id = get_personality_insights.org_id and get_personality_insights.org_id = any(salesflow.my_org_ids())
    order by v.disg_type
$$;
comment on function api.get_personality_insights(uuid) is
'security definer, justified: materialized views carry no RLS and are not granted to app roles; this reader checks membership and returns only the callers organisation. Conversion rate (converted / decided) and median cycle days by DISG type of the latest profile; none = leads not profiled.';

revoke execute on function
api.get_scored_leads(uuid, text, uuid, integer),
api.get_personality_insights(uuid)
from public;
grant execute on function
api.get_scored_leads(uuid, text, uuid, integer),
api.get_personality_insights(uuid)
to authenticated, service_role;

select
    salesflow.schedule_job(
        'refresh_' || v, 'refresh_view', every => '15 minutes',
        payload => pg_catalog.jsonb_build_object('view', v)
    )
from unnest(array['leads_scored', 'personality_insights']) as v;
