-- BANT assessments, DISG profiles (storage), health per lead, and AI feature flags.

alter table salesflow.bant_assessments enable row level security;
alter table salesflow.personality_profiles enable row level security;
alter table salesflow.ai_feature_flags enable row level security;

drop policy if exists bant_assessments_select on salesflow.bant_assessments;
create policy bant_assessments_select on salesflow.bant_assessments for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists bant_assessments_insert on salesflow.bant_assessments;
create policy bant_assessments_insert on salesflow.bant_assessments for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));
drop policy if exists bant_assessments_update on salesflow.bant_assessments;
create policy bant_assessments_update on salesflow.bant_assessments for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

drop policy if exists personality_profiles_select on salesflow.personality_profiles;
create policy personality_profiles_select on salesflow.personality_profiles for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

drop policy if exists ai_feature_flags_select on salesflow.ai_feature_flags;
create policy ai_feature_flags_select on salesflow.ai_feature_flags for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists ai_feature_flags_write on salesflow.ai_feature_flags;
create policy ai_feature_flags_write on salesflow.ai_feature_flags for all to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

revoke all on salesflow.bant_assessments, salesflow.personality_profiles,
salesflow.ai_feature_flags from anon, authenticated, service_role;
grant select, insert, update on salesflow.bant_assessments to authenticated, service_role;
grant select on salesflow.personality_profiles to authenticated, service_role;
grant select, insert, update, delete on salesflow.ai_feature_flags to authenticated, service_role;

-- Record a BANT assessment (each dimension 0 unknown, 1 weak, 2 partial, 3 confirmed); total
-- and traffic light are computed by the table. Manual assessments count at once.
create or replace function api.assess_bant(
    org_id uuid, lead_id uuid, budget smallint, authority smallint, need smallint, timeline smallint,
    deal_id uuid default null, notes text default null
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    r salesflow.bant_assessments;
begin
    perform api.get_lead(assess_bant.org_id, assess_bant.lead_id);
    insert into salesflow.bant_assessments (org_id, lead_id, deal_id, budget, authority, need, timeline, notes,
                                            assessed_by)
    values (assess_bant.org_id, assess_bant.lead_id, assess_bant.deal_id, assess_bant.budget, assess_bant.authority,
            assess_bant.need, assess_bant.timeline, assess_bant.notes, (select auth.uid()))
    returning * into r;
    return pg_catalog.to_jsonb(r);
end
$$;
comment on function api.assess_bant(uuid, uuid, smallint, smallint, smallint, smallint, uuid, text) is
'Record a BANT assessment: budget, authority, need, timeline each 0 (unknown) to 3 (confirmed); '
'total 0-12; traffic light green from 9, yellow from 5, red below.';

create or replace function api.get_bant(org_id uuid, lead_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'current', (select pg_catalog.to_jsonb(b) from salesflow.bant_assessments as b
                    where b.org_id = get_bant.org_id and b.lead_id = get_bant.lead_id and b.status = 'accepted'
                    order by coalesce(b.reviewed_at, b.assessed_at) desc limit 1),
        -- AI proposals waiting for a member's verdict (api.review_bant_proposal); they count only once accepted
        'proposals', coalesce((select pg_catalog.jsonb_agg(pg_catalog.to_jsonb(b) order by b.assessed_at desc)
                    from salesflow.bant_assessments as b
                    where b.org_id = get_bant.org_id and b.lead_id = get_bant.lead_id and b.status = 'proposed'),
                    '[]'::jsonb),
        'history', coalesce((select pg_catalog.jsonb_agg(pg_catalog.to_jsonb(b) order by b.assessed_at desc)
                    from salesflow.bant_assessments as b
                    where b.org_id = get_bant.org_id and b.lead_id = get_bant.lead_id), '[]'::jsonb))
    where exists (select from salesflow.leads as l where l.org_id = get_bant.org_id and l.id = get_bant.lead_id)
$$;
comment on function api.get_bant(uuid, uuid) is
'The current accepted BANT assessment of a lead, the AI proposals awaiting review, and the history.';

-- Health per lead, 0-100: 40 % conversion probability, 25 % BANT (total / 12), 25 % engagement
-- recency (full within 7 days of the last activity, message or event, none after 90), 10 % for no
-- overdue task (minus 5 points per overdue task, down to 0). Missing parts count as 0.5.
-- Traffic light: green from 70, yellow from 40, red below.
create or replace view salesflow.lead_health with (security_invoker = on) as
select
    x.org_id,
    x.lead_id,
    x.health_score,
    case when x.health_score >= 70 then 'green' when x.health_score >= 40 then 'yellow' else 'red' end
        as traffic_light
from (
    select
        l.org_id,
        l.id as lead_id,
        pg_catalog.round(100 * (
            0.40 * coalesce(s.probability, 0.5)
            + 0.25 * coalesce(b.total_score / 12.0, 0.5)
            + 0.25 * coalesce(greatest(0, least(
                1, 1 - (extract(epoch from pg_catalog.now() - last_touch.at) / 86400 - 7)
                / 83.0
            )), 0)
            + 0.10 * greatest(0, 1 - 0.5 * coalesce(t.overdue, 0))
        ))::smallint as health_score
    from salesflow.leads as l
    left join salesflow.lead_scores as s on l.org_id = s.org_id and l.id = s.lead_id
    left join lateral (
        select b.total_score from salesflow.bant_assessments as b
        where b.org_id = l.org_id and b.lead_id = l.id and b.status = 'accepted'
        order by coalesce(b.reviewed_at, b.assessed_at) desc limit 1
    ) as b on true
    left join lateral (
        select greatest(l.last_activity_at, (
            select pg_catalog.max(e.occurred_at) from salesflow.engagement_events as e
            where e.org_id = l.org_id and e.lead_id = l.id
        )) as at
    ) as last_touch on true
    left join lateral (
        select pg_catalog.count(*) as overdue from salesflow.activities as a
        where
            a.org_id = l.org_id and a.lead_id = l.id and a.kind = 'task' and a.completed_at is null
            and a.due_at < pg_catalog.now()
    ) as t on true
) as x;
revoke all on salesflow.lead_health from anon, authenticated, service_role;
grant select on salesflow.lead_health to authenticated, service_role;

create or replace function api.set_ai_feature_flag(
    org_id uuid, feature text, enabled boolean default true, rollout_percent integer default 100,
    rollout_by text default 'user', segments text[] default '{}'
)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    r salesflow.ai_feature_flags;
begin
    if not set_ai_feature_flag.org_id = any(salesflow.my_org_ids('{owner,admin}')) then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('organization %s not found', set_ai_feature_flag.org_id),
            hint = 'Owners and admins set feature flags.';
    end if;
    insert into salesflow.ai_feature_flags as f (org_id, feature, enabled, rollout_percent, rollout_by, segments,
                                                 updated_by)
    values (set_ai_feature_flag.org_id, set_ai_feature_flag.feature, set_ai_feature_flag.enabled,
            set_ai_feature_flag.rollout_percent, set_ai_feature_flag.rollout_by,
            coalesce(set_ai_feature_flag.segments, '{}'), (select auth.uid()))
    on conflict on constraint ai_feature_flags_pkey do update
    set enabled = excluded.enabled, rollout_percent = excluded.rollout_percent, rollout_by = excluded.rollout_by,
        segments = excluded.segments, updated_by = excluded.updated_by, updated_at = pg_catalog.now()
    returning f.* into r;
    return pg_catalog.to_jsonb(r);
end
$$;
comment on function api.set_ai_feature_flag(uuid, text, boolean, integer, text, text[]) is
'Owners and admins: switch an AI feature (scoring, suggestions, chat, profiling, drafting, bant) on or off, '
'roll it out to a percentage of users or leads (stable hash), or to lifecycle-stage segments.';

create or replace function api.get_ai_feature_flags(org_id uuid)
returns jsonb
language sql
stable
set search_path = ''
as $$
    select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(f) order by f.feature), '[]'::jsonb)
    from salesflow.ai_feature_flags as f
    where f.org_id = get_ai_feature_flags.org_id
$$;
comment on function api.get_ai_feature_flags(uuid) is 'The AI feature flags of an organisation (no row = on for all).';

create or replace function api.get_lead_intelligence(org_id uuid, lead_id uuid, language text default 'en')
returns jsonb
language sql
stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'lead_id', l.id,
        'score', api.get_lead_score(l.org_id, l.id),
        'explanation', case when exists (select from salesflow.lead_scores as s
                                         where s.org_id = l.org_id and s.lead_id = l.id)
                            then api.explain_lead_score(l.org_id, l.id, get_lead_intelligence.language) end,
        'bant', api.get_bant(l.org_id, l.id),
        'personality', (select pg_catalog.to_jsonb(p) - 'request_id' - 'job_id' from salesflow.personality_profiles as p
                        where p.org_id = l.org_id and p.lead_id = l.id order by p.created_at desc limit 1),
        'health', (select pg_catalog.jsonb_build_object('health_score', h.health_score, 'traffic_light', h.traffic_light)
                   from salesflow.lead_health as h where h.org_id = l.org_id and h.lead_id = l.id)
    )
    from salesflow.leads as l
    where l.org_id = get_lead_intelligence.org_id and l.id = get_lead_intelligence.lead_id
$$;
comment on function api.get_lead_intelligence(uuid, uuid, text) is
'Score with trend and history, explanation, BANT, DISG profile and health of a lead in one call, under RLS.';

revoke all on function api.assess_bant(uuid, uuid, smallint, smallint, smallint, smallint, uuid, text),
api.get_bant(uuid, uuid), api.set_ai_feature_flag(uuid, text, boolean, integer, text, text[]),
api.get_ai_feature_flags(uuid), api.get_lead_intelligence(uuid, uuid, text) from public;
grant execute on function api.assess_bant(uuid, uuid, smallint, smallint, smallint, smallint, uuid, text),
api.get_bant(uuid, uuid), api.set_ai_feature_flag(uuid, text, boolean, integer, text, text[]),
api.get_ai_feature_flags(uuid), api.get_lead_intelligence(uuid, uuid, text) to authenticated, service_role;
