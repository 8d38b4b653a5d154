-- The recommendation RPCs: the rep's ranked list, a lead's suggestions, creating and reacting,
-- accepted AI suggestions becoming recommendations, rules, acceptance, lift and learned priorities.
-- All security invoker: RLS picks the rows.

create or replace function salesflow.as_api_recommendation(r salesflow.ai_recommendations, as_of timestamptz)
returns api.recommendation
language sql
stable
security invoker
set search_path = ''
as $$
    select row(
        (r).id, (r).lead_id, (r).deal_id,
        (select coalesce(nullif(pg_catalog.btrim(pg_catalog.concat_ws(' ', l.first_name, l.last_name)), ''), l.email, l.phone)
         from salesflow.leads as l where l.org_id = (r).org_id and l.id = (r).lead_id),
        (r).assignee_id, (r).action_type, (r).reason, (r).evidence,
        case when (r).status = 'open' then salesflow.decayed_priority((r).base_priority, (r).half_life, (r).offered_at, as_of)
             else 0 end,
        (r).base_priority, (r).half_life, (r).offered_at, (r).expires_at, (r).due_at, (r).source, (r).rule_key,
        (r).rule_version, (r).status, (r).snoozed_until, (r).created_at
    )::api.recommendation
$$;

create or replace function api.recommend_followup_actions(
    org_id uuid, assignee_id uuid default null, page_size integer default 20, as_of timestamptz default null
)
returns setof api.recommendation
language sql
stable
security invoker
set search_path = ''
as $$
    -- Exact top N without decaying every open item: within one half-life the order is decay_key's
    -- (salesflow.decay_key), so an index-only scan finds the rep's distinct half-lives (a handful:
    -- one per rule, playbook and manual setting), takes the first N of each from
    -- ai_recommendations_rank_idx, and only those are decayed and merged. The decay is written out:
    -- a function with a pinned search_path is never inlined.
    with now_ as (
        select coalesce(recommend_followup_actions.as_of, pg_catalog.now()) as at,
               coalesce(recommend_followup_actions.assignee_id, (select auth.uid())) as who,
               salesflow.check_page_size(recommend_followup_actions.page_size) as n
    ),
    -- the distinct half-lives of the rep's open items (an index-only scan of the rank index)
    half_lives as (
        select distinct r.half_life from salesflow.ai_recommendations as r, now_
        where r.org_id = recommend_followup_actions.org_id and r.assignee_id = now_.who and r.status = 'open'
    ),
    top as (
        select c.id, c.p
        from half_lives as h
        cross join now_
        cross join lateral (
            select r.id,
                   r.base_priority * pg_catalog.power(0.5::double precision,
                       greatest(0::double precision, extract(epoch from now_.at - r.offered_at)::double precision)
                       / extract(epoch from r.half_life)::double precision) as p
            from salesflow.ai_recommendations as r
            where r.org_id = recommend_followup_actions.org_id and r.assignee_id = now_.who and r.status = 'open'
              and r.half_life = h.half_life and r.expires_at > now_.at
            order by r.decay_key desc
            limit now_.n
        ) as c
        where h.half_life is not null
        order by c.p desc, c.id
        limit (select now_.n from now_)
    )
    select r.id, r.lead_id, r.deal_id,
           coalesce(nullif(pg_catalog.btrim(pg_catalog.concat_ws(' ', l.first_name, l.last_name)), ''), l.email, l.phone),
           r.assignee_id, r.action_type, r.reason, r.evidence, top.p::real, r.base_priority, r.half_life, r.offered_at,
           r.expires_at, r.due_at, r.source, r.rule_key, r.rule_version, r.status, r.snoozed_until, r.created_at
    from top
    join salesflow.ai_recommendations as r on r.org_id = recommend_followup_actions.org_id and r.id = top.id
    left join salesflow.leads as l on l.org_id = r.org_id and l.id = r.lead_id
    order by top.p desc, top.id
$$;
comment on function api.recommend_followup_actions(uuid, uuid, integer, timestamptz) is
'The ranked next best actions of a rep (default: the caller) across their leads: open items by base priority '
'× 0.5^(age / half-life) at as_of (default now), expired ones left out.';

create or replace function api.get_lead_suggestions(org_id uuid, lead_id uuid, as_of timestamptz default null)
returns setof api.recommendation
language sql
stable
security invoker
set search_path = ''
as $$
    select (salesflow.as_api_recommendation(r, coalesce(get_lead_suggestions.as_of, pg_catalog.now()))).*
    from salesflow.ai_recommendations as r
    where r.org_id = get_lead_suggestions.org_id and r.lead_id = get_lead_suggestions.lead_id
      and r.status in ('open', 'snoozed', 'accepted')
      and r.expires_at > coalesce(get_lead_suggestions.as_of, pg_catalog.now())
    order by (r.status = 'open') desc,
             salesflow.decayed_priority(r.base_priority, r.half_life, r.offered_at,
                                        coalesce(get_lead_suggestions.as_of, pg_catalog.now())) desc, r.id
$$;
comment on function api.get_lead_suggestions(uuid, uuid, timestamptz) is
'A lead''s live recommendations (open first, by decayed priority; then snoozed and accepted ones).';

create or replace function api.create_ai_recommendation(
    org_id uuid,
    lead_id uuid,
    action_type salesflow.recommendation_action,
    reason text,
    deal_id uuid default null,
    assignee_id uuid default null,
    base_priority real default 50,
    half_life interval default '3 days',
    expires_in interval default '7 days',
    due_at timestamptz default null
)
returns api.recommendation
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
    saved salesflow.ai_recommendations;
    lead salesflow.leads;
    key text;
begin
    if reason is null or length(pg_catalog.btrim(reason)) not between 1 and 1000 then
        raise sqlstate '22023' using message = 'reason must be 1 to 1000 characters';
    end if;
    if base_priority is null or base_priority not between 0 and 100 then
        raise sqlstate '22023' using message = 'base_priority must be between 0 and 100';
    end if;
    if half_life is null or half_life < interval '1 minute' or expires_in is null or expires_in < interval '1 minute'
       or expires_in > interval '365 days' then
        raise sqlstate '22023' using message = 'half_life and expires_in must be at least a minute (expires_in at most a year)';
    end if;
    select * into lead from salesflow.leads as l
    where l.org_id = create_ai_recommendation.org_id and l.id = create_ai_recommendation.lead_id;
    if lead is null then
        perform salesflow.not_found('lead', create_ai_recommendation.lead_id);
    end if;
    key := 'manual:' || pg_catalog.md5(pg_catalog.lower(pg_catalog.btrim(reason)));
    insert into salesflow.ai_recommendations as n (
        org_id, lead_id, deal_id, assignee_id, action_type, reason_key, reason, base_priority, half_life,
        expires_at, due_at, source, segment, stage_at_fire, created_by
    )
    values (
        create_ai_recommendation.org_id, create_ai_recommendation.lead_id, create_ai_recommendation.deal_id,
        coalesce(create_ai_recommendation.assignee_id, lead.owner_id, (select auth.uid())),
        create_ai_recommendation.action_type, key, pg_catalog.btrim(reason), create_ai_recommendation.base_priority,
        create_ai_recommendation.half_life, pg_catalog.now() + create_ai_recommendation.expires_in,
        create_ai_recommendation.due_at, 'manual', salesflow.lead_segment(lead.attributes, lead.source),
        lead.lifecycle_stage, (select auth.uid())
    )
    on conflict (org_id, (coalesce(lead_id, deal_id)), action_type, reason_key)
    where status in ('open', 'snoozed', 'accepted') do nothing
    returning n.* into saved;
    if saved is null then
        -- the same recommendation is live already: creating it again returns that one
        select * into saved from salesflow.ai_recommendations as r
        where r.org_id = create_ai_recommendation.org_id and r.lead_id = create_ai_recommendation.lead_id
          and r.action_type = create_ai_recommendation.action_type and r.reason_key = key
          and r.status in ('open', 'snoozed', 'accepted');
    end if;
    return salesflow.as_api_recommendation(saved, pg_catalog.now());
end
$$;
comment on function api.create_ai_recommendation(
    uuid, uuid, salesflow.recommendation_action, text, uuid, uuid, real, interval, interval, timestamptz
) is
'Create a recommendation by hand (or from an app). The same lead, type and reason while one is live returns that one.';

-- The state machine of a reaction: what each reaction may follow.
create or replace function api.react_to_recommendation(
    org_id uuid,
    recommendation_id uuid,
    reaction salesflow.recommendation_reaction,
    note text default null,
    snooze_until timestamptz default null,
    as_of timestamptz default null
)
returns api.recommendation
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    at timestamptz := coalesce(react_to_recommendation.as_of, pg_catalog.now());
    current salesflow.ai_recommendations;
    saved salesflow.ai_recommendations;
    allowed salesflow.recommendation_status[];
    target salesflow.recommendation_status;
begin
    if reaction is null then
        raise sqlstate '22023' using message = 'reaction must be accepted, dismissed, snoozed, done or reopened';
    end if;
    if note is not null and length(note) > 2000 then
        raise sqlstate '22023' using message = 'note must be at most 2000 characters';
    end if;
    if (reaction = 'snoozed') <> (snooze_until is not null) then
        raise sqlstate '22023' using message = 'snooze_until is required for snoozed, and only for snoozed';
    end if;
    if reaction = 'snoozed' and snooze_until <= at then
        raise sqlstate '22023' using message = 'snooze_until must be in the future';
    end if;
    allowed := case reaction
        when 'accepted' then '{open,snoozed}'
        when 'dismissed' then '{open,snoozed,accepted}'
        when 'snoozed' then '{open,accepted}'
        when 'done' then '{open,snoozed,accepted}'
        when 'reopened' then '{snoozed,dismissed}'
    end::salesflow.recommendation_status[];
    target := case reaction when 'reopened' then 'open' else reaction::text end::salesflow.recommendation_status;
    select * into current from salesflow.ai_recommendations as r
    where r.org_id = react_to_recommendation.org_id and r.id = react_to_recommendation.recommendation_id
    for update;
    if current is null then
        perform salesflow.not_found('recommendation', react_to_recommendation.recommendation_id);
    end if;
    if not current.status = any(allowed) then
        raise sqlstate '22023' using
            message = pg_catalog.format('a %s recommendation cannot be %s', current.status, reaction),
            hint = 'done and expired recommendations are final; a dismissed one can only be reopened.';
    end if;
    if reaction = 'reopened' and current.expires_at <= at then
        raise sqlstate '22023' using message = 'an expired recommendation cannot be reopened';
    end if;
    update salesflow.ai_recommendations as r
    set status = target,
        snoozed_until = react_to_recommendation.snooze_until,
        offered_at = case when reaction = 'reopened' then at else r.offered_at end,
        status_changed_at = at,
        status_changed_by = (select auth.uid()),
        closed_reason = null
    where r.org_id = current.org_id and r.id = current.id
    returning r.* into saved;
    if saved is null then
        raise sqlstate '42501' using message = 'you may not react to recommendations in this organisation';
    end if;
    insert into salesflow.recommendation_reactions (org_id, recommendation_id, user_id, reaction, note, snooze_until,
                                                    reacted_at)
    values (saved.org_id, saved.id, (select auth.uid()), reaction, note, snooze_until, at);
    if saved.source = 'playbook' and target in ('done', 'dismissed') then
        perform salesflow.finish_playbook_step_of(saved, case target when 'done' then 'done' else 'skipped' end, at);
    end if;
    return salesflow.as_api_recommendation(saved, at);
end
$$;
comment on function api.react_to_recommendation(
    uuid, uuid, salesflow.recommendation_reaction, text, timestamptz, timestamptz
) is
'React to a recommendation: accepted, dismissed, snoozed (with snooze_until), done, or reopened. Recorded with who, '
'when and the note; dismissals count towards the rule''s re-offer limit and every first verdict towards its learned priority.';

-- Accepted AI next actions (ai_suggest) become recommendations of the reviewer.
create or replace function salesflow.suggestions_to_recommendations() returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
    insert into salesflow.ai_recommendations (
        org_id, lead_id, assignee_id, action_type, reason_key, reason, base_priority, half_life, expires_at,
        due_at, source, suggestion_id, segment, stage_at_fire, created_by
    )
    select new.org_id, new.lead_id, coalesce(m.user_id, l.owner_id), a.action, 'ai:' || new.id || ':' || x.n,
           pg_catalog.left(coalesce(nullif(pg_catalog.btrim(x.item ->> 'reason'), ''), 'AI suggestion'), 1000)
               || case when new.offline_model then ' (written by the offline model)' else '' end,
           case x.item ->> 'priority' when 'high' then 80 when 'low' then 30 else 50 end, '3 days',
           coalesce(new.reviewed_at, pg_catalog.now())
               + pg_catalog.make_interval(days => least(coalesce((x.item ->> 'due_in_days')::integer, 0), 90) + 7),
           coalesce(new.reviewed_at, pg_catalog.now())
               + pg_catalog.make_interval(days => least(coalesce((x.item ->> 'due_in_days')::integer, 0), 90)),
           'ai_suggestion', new.id, salesflow.lead_segment(l.attributes, l.source), l.lifecycle_stage, new.reviewed_by
    from pg_catalog.jsonb_array_elements(case when pg_catalog.jsonb_typeof(new.content -> 'actions') = 'array'
                                               then new.content -> 'actions' else '[]' end)
         with ordinality as x (item, n)
    -- "wait" is no action; the others map onto the recommendation types
    cross join lateral (
        select (case x.item ->> 'action' when 'call' then 'call' when 'email' then 'email' when 'meeting' then 'meeting'
                     when 'handoff' then 'update_context' when 'disqualify' then 'close_out' end
               )::salesflow.recommendation_action as action
    ) as a
    join salesflow.leads as l on l.org_id = new.org_id and l.id = new.lead_id
    left join salesflow.org_members as m on m.org_id = new.org_id and m.user_id = new.reviewed_by
    where a.action is not null
    on conflict (org_id, (coalesce(lead_id, deal_id)), action_type, reason_key)
    where status in ('open', 'snoozed', 'accepted') do nothing;
    return null;
end
$$;

create or replace trigger ai_suggestions_recommend after update of status on salesflow.ai_suggestions
for each row when (new.status = 'accepted' and old.status = 'pending' and new.kind = 'next_actions')
execute function salesflow.suggestions_to_recommendations();

-- Rules: the versions in force, and a new version for this organisation.
create or replace function api.list_recommendation_rules(org_id uuid)
returns table (
    rule_key text, version integer, overridden boolean, action_type salesflow.recommendation_action, enabled boolean,
    base_priority real, half_life interval, ttl interval, params jsonb, reoffer_after interval, reoffer_limit integer,
    reoffer_window interval, description text
)
language sql
stable
security invoker
set search_path = ''
as $$
    select r.rule_key, r.version, r.org_id is not null, r.action_type, r.enabled, r.base_priority, r.half_life, r.ttl,
           r.params, r.reoffer_after, r.reoffer_limit, r.reoffer_window, r.description
    from salesflow.effective_rules(list_recommendation_rules.org_id) as r
    where list_recommendation_rules.org_id = any(salesflow.my_org_ids())
    order by r.rule_key
$$;
comment on function api.list_recommendation_rules(uuid) is
'The recommendation rules in force for an organisation: its own latest versions, else the shipped ones.';

create or replace function api.update_recommendation_rule(org_id uuid, rule_key text, changes jsonb)
returns table (rule text, version integer, enabled boolean, base_priority real, half_life interval, ttl interval,
               params jsonb, reoffer_after interval, reoffer_limit integer, reoffer_window interval)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
    base salesflow.recommendation_rules;
    saved salesflow.recommendation_rules;
    next_version integer;
begin
    perform salesflow.check_changes(changes, '{enabled,base_priority,half_life,ttl,params,reoffer_after,reoffer_limit,reoffer_window,description}');
    if not update_recommendation_rule.org_id = any(salesflow.my_org_ids('{owner,admin}')) then
        raise sqlstate '42501' using message = 'only owners and admins change recommendation rules';
    end if;
    select * into base from salesflow.effective_rules(update_recommendation_rule.org_id) as r
    where r.rule_key = update_recommendation_rule.rule_key;
    if base is null then
        raise sqlstate 'PT404' using message = pg_catalog.format('rule %L not found', update_recommendation_rule.rule_key);
    end if;
    select max(r.version) + 1 into next_version from salesflow.recommendation_rules as r
    where r.rule_key = base.rule_key and (r.org_id is null or r.org_id = update_recommendation_rule.org_id);
    begin
        insert into salesflow.recommendation_rules as n (
            org_id, rule_key, version, action_type, enabled, base_priority, half_life, ttl, params, reoffer_after,
            reoffer_limit, reoffer_window, description, created_by
        )
        values (
            update_recommendation_rule.org_id, base.rule_key, next_version, base.action_type,
            coalesce((changes ->> 'enabled')::boolean, base.enabled),
            coalesce((changes ->> 'base_priority')::real, base.base_priority),
            coalesce((changes ->> 'half_life')::interval, base.half_life),
            coalesce((changes ->> 'ttl')::interval, base.ttl),
            base.params || coalesce(case when pg_catalog.jsonb_typeof(changes -> 'params') = 'object'
                                         then changes -> 'params' end, '{}'),
            coalesce((changes ->> 'reoffer_after')::interval, base.reoffer_after),
            coalesce((changes ->> 'reoffer_limit')::integer, base.reoffer_limit),
            coalesce((changes ->> 'reoffer_window')::interval, base.reoffer_window),
            coalesce(changes ->> 'description', base.description), (select auth.uid())
        )
        returning n.* into saved;
    exception
        when check_violation or invalid_text_representation or invalid_datetime_format
             or datetime_field_overflow or numeric_value_out_of_range then
            raise sqlstate '22023' using message = pg_catalog.format('invalid rule change: %s', sqlerrm);
    end;
    return query select saved.rule_key, saved.version, saved.enabled, saved.base_priority, saved.half_life, saved.ttl,
                        saved.params, saved.reoffer_after, saved.reoffer_limit, saved.reoffer_window;
end
$$;
comment on function api.update_recommendation_rule(uuid, text, jsonb) is
'Change a recommendation rule for this organisation (owners, admins): adds a new version; recommendations keep the version that made them.';

-- Acceptance per rule, type, segment and week (by when the item was offered), and overall.
-- acceptance_rate = taken by a person (accepted or done) / (taken + dismissed + expired);
-- items still open or snoozed, and those whose condition cleared by itself, are not in the denominator.
create or replace function api.get_recommendation_acceptance(org_id uuid, since timestamptz default null)
returns table (
    rule_key text, action_type salesflow.recommendation_action, segment text, week date, offered bigint,
    accepted bigint, done bigint, dismissed bigint, expired bigint, cleared bigint, pending bigint,
    acceptance_rate real
)
language sql
stable
security invoker
set search_path = ''
as $$
    select g.rule_key, g.action_type, g.segment, g.week, g.offered, g.accepted, g.done, g.dismissed, g.expired,
           g.cleared, g.pending,
           ((g.accepted + g.done)::real / nullif(g.accepted + g.done + g.dismissed + g.expired, 0))::real
    from (
        select coalesce(r.rule_key, r.source) as rule_key, r.action_type, r.segment,
               pg_catalog.date_trunc('week', r.created_at at time zone 'UTC')::date as week,
               count(*) as offered,
               count(*) filter (where r.status = 'accepted') as accepted,
               count(*) filter (where r.status = 'done' and r.status_changed_by is not null) as done,
               count(*) filter (where r.status = 'dismissed') as dismissed,
               count(*) filter (where r.status = 'expired') as expired,
               count(*) filter (where r.status = 'done' and r.status_changed_by is null) as cleared,
               count(*) filter (where r.status in ('open', 'snoozed')) as pending,
               grouping(coalesce(r.rule_key, r.source), r.action_type, r.segment,
                        pg_catalog.date_trunc('week', r.created_at at time zone 'UTC')::date) as level
        from salesflow.ai_recommendations as r
        where r.org_id = get_recommendation_acceptance.org_id
          and (get_recommendation_acceptance.since is null or r.created_at >= get_recommendation_acceptance.since)
        group by grouping sets (
            (coalesce(r.rule_key, r.source), r.action_type, r.segment,
             pg_catalog.date_trunc('week', r.created_at at time zone 'UTC')::date),
            ()
        )
        -- no overall row of zeros for an organisation with nothing (or none visible)
        having count(*) > 0
    ) as g
    order by g.level desc, g.week desc, g.rule_key, g.action_type, g.segment
$$;
comment on function api.get_recommendation_acceptance(uuid, timestamptz) is
'Acceptance per rule, action type, segment and week, plus one overall row (all keys null): accepted or done by a person '
'over accepted + done + dismissed + expired.';

-- Outcome lift. "Comparable" is made honest by comparing within the same rule and stratum: leads
-- for which the same rule fired, matched on lifecycle stage and score band when it fired and on
-- segment; the acted group (accepted or done by a person) against the not-acted group (dismissed
-- or expired). Only firings at least `horizon` old count, so both groups had the full horizon.
-- Strata with only one group are dropped; the control rate is weighted by the acted group's strata
-- (the effect on the treated). Reps still choose what to act on, so this bounds, not proves, cause.
create or replace function api.get_recommendation_lift(
    org_id uuid, horizon interval default '30 days', as_of timestamptz default null
)
returns table (
    rule_key text, strata integer, acted bigint, acted_advanced bigint, not_acted bigint, not_acted_advanced bigint,
    acted_rate real, control_rate real, lift real
)
language sql
stable
security invoker
set search_path = ''
as $$
    with fired as (
        select r.rule_key, r.stage_at_fire, r.score_band, r.segment,
               (r.status in ('accepted', 'done') and r.status_changed_by is not null) as acted,
               (exists (
                   select from salesflow.lead_stage_changes as c
                   where c.org_id = r.org_id and c.lead_id = r.lead_id and c.changed_at > r.created_at
                     and c.changed_at <= r.created_at + get_recommendation_lift.horizon
                     and c.to_stage <> 'disqualified' and (r.stage_at_fire is null or c.to_stage > r.stage_at_fire)
               ) or exists (
                   select from salesflow.deals as d
                   where d.org_id = r.org_id and d.lead_id = r.lead_id and d.stage = 'closed_won'
                     and d.closed_at > r.created_at and d.closed_at <= r.created_at + get_recommendation_lift.horizon
               )) as advanced
        from salesflow.ai_recommendations as r
        where r.org_id = get_recommendation_lift.org_id and r.rule_key is not null and r.lead_id is not null
          and r.created_at <= coalesce(get_recommendation_lift.as_of, pg_catalog.now()) - get_recommendation_lift.horizon
          and (r.status in ('dismissed', 'expired') or (r.status in ('accepted', 'done') and r.status_changed_by is not null))
    ),
    strata as (
        select f.rule_key, f.stage_at_fire, f.score_band, f.segment,
               count(*) filter (where f.acted) as a_n, count(*) filter (where f.acted and f.advanced) as a_adv,
               count(*) filter (where not f.acted) as c_n, count(*) filter (where not f.acted and f.advanced) as c_adv
        from fired as f
        group by f.rule_key, f.stage_at_fire, f.score_band, f.segment
        having count(*) filter (where f.acted) > 0 and count(*) filter (where not f.acted) > 0
    )
    select s.rule_key, count(*)::integer, sum(s.a_n)::bigint, sum(s.a_adv)::bigint, sum(s.c_n)::bigint,
           sum(s.c_adv)::bigint,
           (sum(s.a_adv)::real / sum(s.a_n))::real,
           (sum(s.a_n * s.c_adv::real / s.c_n) / sum(s.a_n))::real,
           ((sum(s.a_adv)::real / sum(s.a_n)) / nullif(sum(s.a_n * s.c_adv::real / s.c_n) / sum(s.a_n), 0))::real
    from strata as s
    where get_recommendation_lift.org_id = any(salesflow.my_org_ids())
    group by s.rule_key
    order by s.rule_key
$$;
comment on function api.get_recommendation_lift(uuid, interval, timestamptz) is
'Outcome lift per rule: leads that advanced a stage or won a deal within horizon when the recommendation was acted on, '
'against the same rule not acted on, matched on stage, score band and segment at firing.';

create or replace function api.get_rule_priorities(org_id uuid)
returns table (
    rule_key text, segment text, successes integer, failures integer, prior_alpha real, prior_beta real,
    posterior_mean real, priority_multiplier real, base_priority real, adapted_priority real
)
language sql
stable
security invoker
set search_path = ''
as $$
    select r.rule_key, coalesce(s.segment, '*'), coalesce(s.successes, 0), coalesce(s.failures, 0), 2::real, 2::real,
           ((2.0 + coalesce(s.successes, 0)) / (4.0 + coalesce(s.successes, 0) + coalesce(s.failures, 0)))::real,
           salesflow.rule_priority_multiplier(s.successes, s.failures), r.base_priority,
           least(100, r.base_priority * salesflow.rule_priority_multiplier(s.successes, s.failures))::real
    from salesflow.effective_rules(get_rule_priorities.org_id) as r
    left join salesflow.recommendation_rule_stats as s
        on s.org_id = get_rule_priorities.org_id and s.rule_key = r.rule_key
    where get_rule_priorities.org_id = any(salesflow.my_org_ids())
    order by r.rule_key, 2
$$;
comment on function api.get_rule_priorities(uuid) is
'Learned priorities: per rule and segment, the Beta(2, 2) prior updated by successes (accepted, done) and failures '
'(dismissed, expired); new recommendations use base_priority × (0.5 + posterior mean).';

revoke execute on function
api.recommend_followup_actions(uuid, uuid, integer, timestamptz),
api.get_lead_suggestions(uuid, uuid, timestamptz),
api.create_ai_recommendation(uuid, uuid, salesflow.recommendation_action, text, uuid, uuid, real, interval, interval, timestamptz),
api.react_to_recommendation(uuid, uuid, salesflow.recommendation_reaction, text, timestamptz, timestamptz),
api.list_recommendation_rules(uuid),
api.update_recommendation_rule(uuid, text, jsonb),
api.get_recommendation_acceptance(uuid, timestamptz),
api.get_recommendation_lift(uuid, interval, timestamptz),
api.get_rule_priorities(uuid)
from public;
grant execute on function
api.recommend_followup_actions(uuid, uuid, integer, timestamptz),
api.get_lead_suggestions(uuid, uuid, timestamptz),
api.create_ai_recommendation(uuid, uuid, salesflow.recommendation_action, text, uuid, uuid, real, interval, interval, timestamptz),
api.react_to_recommendation(uuid, uuid, salesflow.recommendation_reaction, text, timestamptz, timestamptz),
api.list_recommendation_rules(uuid),
api.update_recommendation_rule(uuid, text, jsonb),
api.get_recommendation_acceptance(uuid, timestamptz),
api.get_recommendation_lift(uuid, interval, timestamptz),
api.get_rule_priorities(uuid),
salesflow.as_api_recommendation(salesflow.ai_recommendations, timestamptz)
to authenticated, service_role;
