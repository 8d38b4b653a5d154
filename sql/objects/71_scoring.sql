-- Lead scoring in plain SQL (DESIGN.md decision 13). The worker trains a model and writes it as
-- bin tables (salesflow.scoring_model_features); everything here reads them: the same features the
-- trainer saw, the calibrated log-odds as an exact sum of per-feature contributions, current scores
-- kept by statement-level triggers in the transaction that changes a lead, and explanations.

alter table salesflow.ai_models enable row level security;
alter table salesflow.scoring_model_features enable row level security;
alter table salesflow.lead_scores enable row level security;
alter table salesflow.lead_score_history enable row level security;
alter table salesflow.model_alerts enable row level security;

drop policy if exists ai_models_select on salesflow.ai_models;
create policy ai_models_select on salesflow.ai_models for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists scoring_model_features_select on salesflow.scoring_model_features;
create policy scoring_model_features_select on salesflow.scoring_model_features for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists lead_scores_select on salesflow.lead_scores;
create policy lead_scores_select on salesflow.lead_scores for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists lead_score_history_select on salesflow.lead_score_history;
create policy lead_score_history_select on salesflow.lead_score_history for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists model_alerts_select on salesflow.model_alerts;
create policy model_alerts_select on salesflow.model_alerts for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

-- members read; only the worker (table owner) and the security definer scoring functions write
revoke all on salesflow.ai_models, salesflow.scoring_model_features, salesflow.lead_scores,
salesflow.lead_score_history, salesflow.model_alerts from anon, authenticated, service_role;
grant select on salesflow.ai_models, salesflow.scoring_model_features, salesflow.lead_scores,
salesflow.lead_score_history, salesflow.model_alerts to authenticated, service_role;

-- Every feature of the given leads, each as of its own point in time: nothing dated at or after
-- as_of enters (activities, messages, engagement events), and attributes an organisation excluded
-- never appear. Training asks for features as of least(cut-off, outcome date); scoring as of now.
-- One row per lead and feature: num_value for numbers, cat_value for categories (null = missing).
create or replace function salesflow.lead_features(
    p_org uuid, p_leads uuid [], p_as_of timestamptz []
)
returns table (lead_id uuid, feature text, num_value double precision, cat_value text)
language sql
stable
set search_path = ''
as $$
    with t as (
        select u.lead_id, u.as_of from unnest(p_leads, p_as_of) as u (lead_id, as_of)
    ),
    l as (
        select t.lead_id, t.as_of, l.source::text as source, l.language, l.title, l.phone, l.attributes,
               c.industry, c.employee_count, c.country::text as country
        from t
        join salesflow.leads as l on l.org_id = p_org and l.id = t.lead_id
        left join salesflow.companies as c on c.org_id = l.org_id and c.id = l.company_id
    ),
    act as (
        select t.lead_id,
               pg_catalog.count(*) filter (where a.occurred_at >= t.as_of - interval '30 days') as n30,
               pg_catalog.count(*) filter (where a.occurred_at >= t.as_of - interval '90 days') as n90,
               pg_catalog.count(*) filter (where a.kind = 'meeting') as meetings,
               extract(epoch from t.as_of - pg_catalog.max(a.occurred_at)) / 86400 as days_since
        from t join salesflow.activities as a on a.org_id = p_org and a.lead_id = t.lead_id and a.occurred_at < t.as_of
        group by t.lead_id, t.as_of
    ),
    msg_seq as (
        select t.lead_id, t.as_of, m.direction, m.sent_at,
               pg_catalog.lag(m.direction) over w as prev_direction, pg_catalog.lag(m.sent_at) over w as prev_at
        from t join salesflow.messages as m on m.org_id = p_org and m.lead_id = t.lead_id and m.sent_at < t.as_of
        window w as (partition by t.lead_id order by m.sent_at, m.id)
    ),
    msg as (
        select s.lead_id,
               pg_catalog.count(*) filter (where s.direction = 'inbound' and s.sent_at >= s.as_of - interval '90 days')
                   as in90,
               pg_catalog.count(*) filter (where s.direction = 'outbound' and s.sent_at >= s.as_of - interval '90 days')
                   as out90,
               pg_catalog.avg((s.direction = 'inbound'::salesflow.direction)::integer)::double precision as inbound_share,
               -- hours from our message to the lead's answer, averaged over the answers
               pg_catalog.avg(extract(epoch from s.sent_at - s.prev_at) / 3600)
                   filter (where s.direction = 'inbound' and s.prev_direction = 'outbound') as reply_hours
        from msg_seq as s
        group by s.lead_id
    ),
    eng as (
        select t.lead_id,
               pg_catalog.count(*) filter (where e.occurred_at >= t.as_of - interval '30 days') as n30,
               pg_catalog.count(*) filter (where e.event_type in ('website_visit', 'page_view')) as web,
               pg_catalog.count(*) filter (where e.event_type in ('email_open', 'email_click')) as email,
               pg_catalog.count(*) filter (where e.event_type = 'form_submission') as forms,
               pg_catalog.count(*) filter (where e.event_type = 'product_usage') as product,
               extract(epoch from t.as_of - pg_catalog.max(e.occurred_at)) / 86400 as days_since
        from t join salesflow.engagement_events as e
            on e.org_id = p_org and e.lead_id = t.lead_id and e.occurred_at < t.as_of
        group by t.lead_id, t.as_of
    )
    select l.lead_id, v.feature, v.num_value, v.cat_value
    from l
    left join act on act.lead_id = l.lead_id
    left join msg on msg.lead_id = l.lead_id
    left join eng on eng.lead_id = l.lead_id
    cross join lateral (values
        ('lead.source', null::double precision, l.source),
        ('lead.language', null, l.language),
        ('lead.title', null, pg_catalog.lower(pg_catalog.left(l.title, 100))),
        ('lead.has_phone', null, (l.phone is not null)::text),
        ('company.industry', null, pg_catalog.lower(l.industry)),
        ('company.employee_count', l.employee_count::double precision, null),
        ('company.country', null, l.country),
        ('activity.count_30d', coalesce(act.n30, 0)::double precision, null),
        ('activity.count_90d', coalesce(act.n90, 0)::double precision, null),
        ('activity.meetings', coalesce(act.meetings, 0)::double precision, null),
        ('activity.days_since_last', act.days_since::double precision, null),
        ('message.inbound_90d', coalesce(msg.in90, 0)::double precision, null),
        ('message.outbound_90d', coalesce(msg.out90, 0)::double precision, null),
        ('message.inbound_share', msg.inbound_share, null),
        ('message.reply_hours', msg.reply_hours::double precision, null),
        ('engagement.count_30d', coalesce(eng.n30, 0)::double precision, null),
        ('engagement.web', coalesce(eng.web, 0)::double precision, null),
        ('engagement.email', coalesce(eng.email, 0)::double precision, null),
        ('engagement.forms', coalesce(eng.forms, 0)::double precision, null),
        ('engagement.product', coalesce(eng.product, 0)::double precision, null),
        ('engagement.days_since_last', eng.days_since::double precision, null)
    ) as v (feature, num_value, cat_value)
    union all
    select l.lead_id, 'attr.' || d.name,
           case
               when d.data_type = 'number' and pg_catalog.jsonb_typeof(l.attributes -> d.name) = 'number'
                   then (l.attributes ->> d.name)::double precision
               -- a date attribute as days before the point in time (negative: after it)
               when d.data_type = 'date' and salesflow.is_date(l.attributes ->> d.name)
                   then extract(epoch from l.as_of - (l.attributes ->> d.name)::date::timestamptz) / 86400
           end,
           case when d.data_type in ('category', 'boolean') then pg_catalog.left(l.attributes ->> d.name, 200) end
    from l
    join salesflow.lead_attribute_defs as d on d.org_id = p_org and not d.excluded_from_scoring
$$;

-- Each feature's exact contribution to the calibrated log-odds under one model.
create or replace function salesflow.model_contributions(
    p_org uuid, p_model uuid, p_leads uuid [], p_as_of timestamptz []
)
returns table (lead_id uuid, feature text, num_value double precision, cat_value text, contribution double precision)
language sql
stable
set search_path = ''
as $$
    select f.lead_id, f.feature, f.num_value, f.cat_value,
           case
               when m.value_type = 'number' then case
                   when f.num_value is null then m.missing_contribution
                   -- width_bucket with an array counts the edges <= x: the bin numpy's
                   -- searchsorted(edges, x, side='right') gives the trainer
                   else m.contributions[pg_catalog.width_bucket(f.num_value, m.edges) + 1]
               end
               else case
                   when f.cat_value is null then m.missing_contribution
                   else coalesce(m.contributions[pg_catalog.array_position(m.categories, f.cat_value)],
                                 m.other_contribution)
               end
           end
    from salesflow.lead_features(p_org, p_leads, p_as_of) as f
    join salesflow.scoring_model_features as m
        on m.org_id = p_org and m.model_id = p_model and m.feature = f.feature
$$;

create or replace function salesflow.model_log_odds(
    p_org uuid, p_model uuid, p_leads uuid [], p_as_of timestamptz []
)
returns table (lead_id uuid, log_odds double precision)
language sql
stable
set search_path = ''
as $$
    select u.lead_id, am.intercept + coalesce(c.total, 0)
    from pg_catalog.unnest(p_leads) as u (lead_id)
    join salesflow.ai_models as am on am.org_id = p_org and am.id = p_model
    left join (
        select x.lead_id, pg_catalog.sum(x.contribution) as total
        from salesflow.model_contributions(p_org, p_model, p_leads, p_as_of) as x
        group by x.lead_id
    ) as c on c.lead_id = u.lead_id
$$;

create or replace function salesflow.sigmoid(x double precision) returns double precision
language sql
immutable
parallel safe
set search_path = ''
as $$
    select case when sigmoid.x >= 0 then 1 / (1 + pg_catalog.exp(-sigmoid.x))
                else pg_catalog.exp(sigmoid.x) / (1 + pg_catalog.exp(sigmoid.x)) end
$$;

-- The documented prior, used while an organisation has no active model: its base rate among
-- decided leads, shrunk towards 10 % with the weight of 20 leads ((conversions + 2) / (decided + 20)).
create or replace function salesflow.prior_probability(p_org uuid) returns double precision
language sql
stable
-- Hash joins only: triggers call this inside the transaction that loaded the rows, when the
-- statistics still describe empty tables. A nested loop planned on them probed every won deal of
-- the organisation for each lead (PostgreSQL 18 caches the plans of SQL functions), which made a
-- COPY of 100,000 leads' activities take minutes; hashing is linear whatever the estimates say.
set enable_nestloop = off
set search_path = ''
as $$
    select (pg_catalog.count(*) filter (where x.status = 'converted') + 2)::double precision
           / (pg_catalog.count(*) filter (where x.status <> 'open') + 20)
    from (
        select salesflow.conversion_status(l.lifecycle_stage, o.converted, w.lead_id is not null) as status
        from salesflow.leads as l
        left join salesflow.lead_outcomes as o on o.org_id = l.org_id and o.lead_id = l.id
        left join (
            select distinct d.lead_id from salesflow.deals as d
            where d.org_id = p_org and d.stage = 'closed_won' and d.lead_id is not null
        ) as w on w.lead_id = l.id
        where l.org_id = p_org
    ) as x
$$;

-- The organisation's active conversion model, or null (the prior scores then).
create or replace function salesflow.active_scoring_model(p_org uuid) returns uuid
language sql
stable
set search_path = ''
as $$
    select m.id from salesflow.ai_models as m
    where m.org_id = p_org and m.name = 'lead_conversion' and m.status = 'active'
$$;

-- Re-score leads now, with the active model or the prior; keep history and trend. A score moves
-- 'up' or 'down' when it changes by at least 3 points (of 100) from the previous one; else 'stable'.
-- security definer: triggers call it on behalf of members, who may not write scores themselves;
-- it only touches the leads it is given, of the organisation it is given.
create or replace function salesflow.score_leads(p_org uuid, p_leads uuid []) returns integer
language plpgsql
security definer
-- One plan per statement, made once per session: the statements here and in the functions they
-- call are planned for any number of leads (key lookups), and re-planning them on each call (the
-- first five custom plans, then whenever a custom plan looked cheaper) was most of the cost of
-- re-scoring one lead: 4 of 5 ms of a one-row activity insert.
set plan_cache_mode = force_generic_plan
set search_path = ''
as $$
declare
    model uuid;
    prior double precision;
    n integer;
begin
    if p_leads is null or pg_catalog.cardinality(p_leads) = 0 or not salesflow.feature_enabled(p_org, 'scoring') then
        return 0;
    end if;
    model := salesflow.active_scoring_model(p_org);
    if model is null then
        prior := salesflow.prior_probability(p_org);
    end if;
    with scored as (
        select s.lead_id, salesflow.sigmoid(s.log_odds) as p, s.log_odds
        from salesflow.model_log_odds(
            p_org, model, p_leads, pg_catalog.array_fill(pg_catalog.now(), array[pg_catalog.cardinality(p_leads)])
        ) as s
        where model is not null
        union all
        select u.lead_id, prior, pg_catalog.ln(prior / (1 - prior))
        from pg_catalog.unnest(p_leads) as u (lead_id)
        where model is null
    ),
    kept as (
        -- Per lead, key lookups: a lateral sub-query with a limit cannot be pulled up into a join,
        -- so each runs once per scored lead through a primary key or deals_lead_idx. Written as
        -- joins, the plan (cached, and estimated on statistics a bulk load left stale) hashed every
        -- lead and outcome of the organisation: 22 ms of a one-row activity insert at 20,000 leads.
        select s.*, salesflow.conversion_status(l.lifecycle_stage, o.converted, w.won) = 'open' as still_open
        from scored as s
        cross join lateral (
            select l.lifecycle_stage from salesflow.leads as l where l.org_id = p_org and l.id = s.lead_id limit 1
        ) as l
        left join lateral (
            select o.converted from salesflow.lead_outcomes as o
            where o.org_id = p_org and o.lead_id = s.lead_id limit 1
        ) as o on true
        cross join lateral (
            select exists (select from salesflow.deals as d
                           where d.org_id = p_org and d.lead_id = s.lead_id and d.stage = 'closed_won') as won
        ) as w
    ),
    upserted as (
        insert into salesflow.lead_scores as ls (
            org_id, lead_id, model_id, probability, score, log_odds, previous_score, trend, scored_before_outcome,
            scored_at
        )
        select p_org, k.lead_id, model, k.p, pg_catalog.round(k.p * 100)::smallint, k.log_odds, null, 'stable',
               k.still_open,
               pg_catalog.now()
        from kept as k
        on conflict (org_id, lead_id) do update
        set model_id = excluded.model_id, probability = excluded.probability, score = excluded.score,
            log_odds = excluded.log_odds,
            previous_score = case when ls.score <> excluded.score then ls.score else ls.previous_score end,
            trend = case
                when ls.score = excluded.score then ls.trend
                when excluded.score - ls.score >= 3 then 'up'
                when ls.score - excluded.score >= 3 then 'down'
                else 'stable'
            end,
            scored_before_outcome = excluded.scored_before_outcome,
            scored_at = excluded.scored_at
        returning ls.lead_id, ls.model_id, ls.probability, ls.score, ls.previous_score,
            (xmax = 0) as inserted
    )
    insert into salesflow.lead_score_history (org_id, lead_id, model_id, probability, score)
    select p_org, u.lead_id, u.model_id, u.probability, u.score from upserted as u
    -- history keeps changes only: a new lead, or a score that moved
    where u.inserted or u.previous_score is not null;
    get diagnostics n = row_count;
    return n;
end
$$;

-- Whether an AI feature is on for an organisation (and, with a subject, for that user or lead):
-- no flag row means on; rollout_percent picks subjects by a stable hash, so a subject keeps its
-- answer as the percentage grows.
create or replace function salesflow.feature_enabled(
    p_org uuid, p_feature text, p_subject uuid default null, p_stage text default null
) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce((
        select f.enabled
               and (p_subject is null or f.rollout_percent = 100
                    or (pg_catalog.abs(pg_catalog.hashtextextended(p_feature || ':' || p_subject::text, 0)) % 100)
                       < f.rollout_percent)
               and (p_stage is null or pg_catalog.cardinality(f.segments) = 0 or p_stage = any(f.segments))
        from salesflow.ai_feature_flags as f
        where f.org_id = p_org and f.feature = p_feature
    ), true)
$$;

-- Re-score every lead of an organisation (after a model is activated or rolled back).
create or replace function salesflow.rescore_org(p_org uuid) returns integer
language sql
security definer
set search_path = ''
as $$
    select salesflow.score_leads(
        p_org, (select pg_catalog.array_agg(l.id) from salesflow.leads as l where l.org_id = p_org)
    )
$$;

-- Statement-level triggers: one pass over the rows a statement touched, whatever its size.
create or replace function salesflow.rescore_touched() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    r record;
begin
    -- Only organisations with an active model: without one every lead's score is the
    -- organisation's prior, which an activity, a message or an engagement event does not move, and
    -- re-scoring would re-read every lead of the organisation to compute it (about a second at
    -- 100,000 leads) on each write. Lead inserts and lead changes still re-score under the prior.
    if tg_op = 'DELETE' then
        for r in select o.org_id, pg_catalog.array_agg(distinct o.lead_id) as ids
                 from old_rows as o where o.lead_id is not null group by o.org_id loop
            if salesflow.active_scoring_model(r.org_id) is not null then
                perform salesflow.score_leads(r.org_id, r.ids);
            end if;
        end loop;
    else
        for r in select n.org_id, pg_catalog.array_agg(distinct n.lead_id) as ids
                 from new_rows as n where n.lead_id is not null group by n.org_id loop
            if salesflow.active_scoring_model(r.org_id) is not null then
                perform salesflow.score_leads(r.org_id, r.ids);
            end if;
        end loop;
    end if;
    return null;
end
$$;

-- Leads: a new lead is scored; an update only when a field the features read changed (not the
-- last_activity_at bump that every activity makes, which would re-score row by row).
create or replace function salesflow.rescore_leads_changed() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    r record;
begin
    if tg_op = 'INSERT' then
        for r in select n.org_id, pg_catalog.array_agg(n.id) as ids from new_rows as n group by n.org_id loop
            perform salesflow.score_leads(r.org_id, r.ids);
        end loop;
    else
        for r in
            select n.org_id, pg_catalog.array_agg(n.id) as ids
            from new_rows as n join old_rows as o on o.org_id = n.org_id and o.id = n.id
            where (n.source, n.language, n.title, n.phone, n.attributes, n.company_id, n.lifecycle_stage)
                  is distinct from (o.source, o.language, o.title, o.phone, o.attributes, o.company_id, o.lifecycle_stage)
            group by n.org_id
        loop
            perform salesflow.score_leads(r.org_id, r.ids);
        end loop;
    end if;
    return null;
end
$$;

create or replace trigger leads_rescore_insert after insert on salesflow.leads
referencing new table as new_rows for each statement execute function salesflow.rescore_leads_changed();
create or replace trigger leads_rescore_update after update on salesflow.leads
referencing new table as new_rows old table as old_rows
for each statement execute function salesflow.rescore_leads_changed();

create or replace trigger activities_rescore_insert after insert on salesflow.activities
referencing new table as new_rows for each statement execute function salesflow.rescore_touched();
create or replace trigger activities_rescore_update after update on salesflow.activities
referencing new table as new_rows for each statement execute function salesflow.rescore_touched();
create or replace trigger activities_rescore_delete after delete on salesflow.activities
referencing old table as old_rows for each statement execute function salesflow.rescore_touched();
create or replace trigger messages_rescore_insert after insert on salesflow.messages
referencing new table as new_rows for each statement execute function salesflow.rescore_touched();
create or replace trigger messages_rescore_update after update on salesflow.messages
referencing new table as new_rows for each statement execute function salesflow.rescore_touched();
create or replace trigger messages_rescore_delete after delete on salesflow.messages
referencing old table as old_rows for each statement execute function salesflow.rescore_touched();
create or replace trigger engagement_events_rescore_insert after insert on salesflow.engagement_events
referencing new table as new_rows for each statement execute function salesflow.rescore_touched();

revoke all on function salesflow.lead_features(uuid, uuid [], timestamptz []),
salesflow.model_contributions(uuid, uuid, uuid [], timestamptz []),
salesflow.model_log_odds(uuid, uuid, uuid [], timestamptz []),
salesflow.sigmoid(double precision), salesflow.prior_probability(uuid),
salesflow.score_leads(uuid, uuid []), salesflow.feature_enabled(uuid, text, uuid, text),
salesflow.rescore_org(uuid), salesflow.active_scoring_model(uuid) from public;
grant execute on function salesflow.lead_features(uuid, uuid [], timestamptz []),
salesflow.model_contributions(uuid, uuid, uuid [], timestamptz []),
salesflow.model_log_odds(uuid, uuid, uuid [], timestamptz []),
salesflow.sigmoid(double precision), salesflow.prior_probability(uuid),
salesflow.feature_enabled(uuid, text, uuid, text)
to authenticated, service_role;
