-- Next best actions: rules as data, their detectors, the re-evaluation triggers, decay at read,
-- the sweep (expiry, snooze, time-based rules) and the rep-facing RPCs.
--
-- Cost decision: the triggers on activities, messages, deals and leads are statement-level and
-- only enqueue (one job per statement and organisation, up to 500 leads each, in the writer's
-- transaction); the worker's evaluate_recommendations job runs the detectors. A single-row write
-- pays one queue insert; a COPY of a million activities pays one job per 500 leads, not a million
-- evaluations inside the COPY.

-- The shipped rules (version 1, org_id null). An organisation overrides one with
-- api.update_recommendation_rule, which adds a version of its own; nothing here is ever edited.
insert into salesflow.recommendation_rules (
    org_id, rule_key, version, action_type, base_priority, half_life, ttl, params, description
)
values
(null, 'unanswered_inbound', 1, 'email', 80, '1 day', '4 days', '{}',
 'The lead wrote and nobody has answered since.'),
(null, 'buying_signal', 1, 'meeting', 90, '2 days', '7 days',
 '{"days": 7, "pattern": "(price|pricing|quote|offer|contract|demo|trial|budget|angebot|preis|vertrag|kosten|testversion)"}',
 'A recent inbound message asks about price, a quote, a contract or a demo, and no meeting followed.'),
(null, 'gone_quiet', 1, 're_engage', 50, '7 days', '14 days', '{"quiet_days": 14}',
 'No activity or message with an open lead for quiet_days.'),
(null, 'first_touch', 1, 'call', 70, '1 day', '5 days', '{"max_age_days": 30}',
 'A lead younger than max_age_days that nobody has contacted yet.'),
(null, 'stalled_deal', 1, 'call', 60, '5 days', '14 days', '{"days": 21}',
 'An open deal that has not changed for days.'),
(null, 'close_out', 1, 'close_out', 65, '5 days', '21 days', '{}',
 'An open deal past its expected close date: win it, lose it or move the date.'),
(null, 'hot_score', 1, 'call', 75, '2 days', '5 days', '{"min_score": 70, "quiet_days": 3}',
 'The lead score is high and nobody reached out for quiet_days (needs lead scoring; silent without it).'),
(null, 'compliance_alert', 1, 'review_compliance', 85, '1 day', '7 days', '{"days": 7}',
 'An AI answer about the lead was withheld by the compliance check within the last days.'),
-- BANT and DISG (lead intelligence, migration 0011): they fire from bant_assessments,
-- personality_profiles, messages and lead-stage events, and are silent where those tables are empty.
(null, 'bant_assess', 1, 'assess_bant', 60, '3 days', '14 days',
 '{"stale_days": 60, "stages": ["mql", "sql", "opportunity"]}',
 'A lead in one of stages, or with an open deal, has no accepted BANT assessment, or its latest is older than stale_days.'),
(null, 'bant_weakest', 1, 'call', 55, '3 days', '14 days',
 '{"stale_days": 60, "max_level": 1, "actions": {"budget": "send_content", "authority": "meeting", "need": "call", "timeline": "call"}, "hints": {"budget": "confirm the budget and share pricing or an ROI case", "authority": "find the decision maker and meet them", "need": "run a discovery call on the problem to solve", "timeline": "agree on a decision date"}}',
 'The latest BANT assessment (younger than stale_days) rates a dimension at most max_level: act on the weakest one (ties: budget, authority, need, timeline).'),
(null, 'profile_personality', 1, 'profile_personality', 40, '7 days', '21 days',
 '{"min_inbound_messages": 3, "stale_days": 180}',
 'The lead wrote at least min_inbound_messages messages and has no DISG profile, or only one older than stale_days.')
on conflict do nothing;

-- The rule versions in force for an organisation: its own latest version of a rule, else the
-- shipped one's latest.
create or replace function salesflow.effective_rules(org_id uuid)
returns setof salesflow.recommendation_rules
language sql
stable
security invoker
set search_path = ''
as $$
    select distinct on (r.rule_key) r.*
    from salesflow.recommendation_rules as r
    where r.org_id is null or r.org_id = effective_rules.org_id
    order by r.rule_key, (r.org_id is null), r.version desc
$$;

-- The score is an optional input: with lead scoring installed (salesflow.lead_scores) this reads
-- each lead's latest score; without it, it returns nothing and the rules run without a score.
do $$
begin
    if pg_catalog.to_regclass('salesflow.lead_scores') is not null then
        execute $f$
        create or replace function salesflow.latest_lead_scores(org_id uuid, lead_ids uuid[])
        returns table (lead_id uuid, score real, model text)
        language sql stable security invoker set search_path = ''
        as $b$
            select distinct on (s.lead_id) s.lead_id, s.score::real, s.model_id::text
            from salesflow.lead_scores as s
            where s.org_id = latest_lead_scores.org_id and s.lead_id = any(latest_lead_scores.lead_ids)
            order by s.lead_id, s.scored_at desc
        $b$
        $f$;
    else
        execute $f$
        create or replace function salesflow.latest_lead_scores(org_id uuid, lead_ids uuid[])
        returns table (lead_id uuid, score real, model text)
        language sql stable security invoker set search_path = ''
        as $b$
            select null::uuid, null::real, null::text where false
        $b$
        $f$;
    end if;
end
$$;

-- A lead's segment for learning and contact patterns: an explicit attribute, else its source.
create or replace function salesflow.lead_segment(attributes jsonb, source salesflow.lead_source)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
    select coalesce(nullif(pg_catalog.left(lead_segment.attributes ->> 'segment', 60), ''), lead_segment.source::text)
$$;

create or replace function salesflow.score_band(score real) returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
    select case when score_band.score is null then 'none' when score_band.score < 40 then 'low'
                when score_band.score < 70 then 'mid' else 'high' end
$$;

-- Decay at read: base × 0.5^(age / half-life); nothing is written as items age.
create or replace function salesflow.decayed_priority(
    base real, half_life interval, offered_at timestamptz, as_of timestamptz
) returns real
language sql
immutable
parallel safe
set search_path = ''
as $$
    select (decayed_priority.base * pg_catalog.power(0.5::double precision,
        greatest(0, extract(epoch from decayed_priority.as_of - decayed_priority.offered_at))::double precision
        / extract(epoch from decayed_priority.half_life)::double precision))::real
$$;

-- The Beta–Bernoulli prior of every rule and segment: Beta(2, 2), mean 0.5, worth four reactions.
-- A rule's priority is scaled by 0.5 + the posterior mean of "a person acts on it": ×1 at the
-- prior, ×0.5 for a rule nobody ever takes, ×1.5 for one always taken.
create or replace function salesflow.rule_priority_multiplier(successes integer, failures integer)
returns real
language sql
immutable
parallel safe
set search_path = ''
as $$
    select (0.5 + (2.0 + coalesce(rule_priority_multiplier.successes, 0))
                  / (4.0 + coalesce(rule_priority_multiplier.successes, 0) + coalesce(rule_priority_multiplier.failures, 0)))::real
$$;

-- The detectors: for the given leads, every recommendation the rules in force want to exist now.
create or replace function salesflow.recommendation_candidates(org_id uuid, lead_ids uuid[], as_of timestamptz)
returns table (
    lead_id uuid, deal_id uuid, assignee_id uuid, rule_id bigint, rule_key text, rule_version integer,
    action_type salesflow.recommendation_action, reason_key text, reason text, evidence jsonb,
    base_priority real, half_life interval, ttl interval, reoffer_after interval, reoffer_limit integer,
    reoffer_window interval, segment text, stage salesflow.lifecycle_stage, score real, score_model text
)
language sql
stable
security invoker
set search_path = ''
as $$
    with rules as (
        select * from salesflow.effective_rules(recommendation_candidates.org_id) as r where r.enabled
    ),
    scores as (
        select * from salesflow.latest_lead_scores(recommendation_candidates.org_id, recommendation_candidates.lead_ids)
    ),
    l as (
        select ld.*, coalesce(nullif(pg_catalog.btrim(pg_catalog.concat_ws(' ', ld.first_name, ld.last_name)), ''),
                              ld.email, ld.phone) as name,
               salesflow.lead_segment(ld.attributes, ld.source) as seg
        from salesflow.leads as ld
        where ld.org_id = recommendation_candidates.org_id and ld.id = any(recommendation_candidates.lead_ids)
          and ld.lifecycle_stage <> 'disqualified' and ld.created_at <= recommendation_candidates.as_of
    ),
    -- AI outputs about these leads (llm_requests.subject_id) that the compliance check withheld lately
    withheld as (
        select distinct on (q.subject_id) q.subject_id, c.id, c.created_at, c.task
        from salesflow.compliance_log as c
        join salesflow.llm_requests as q on q.org_id = c.org_id and q.id = c.request_id
        cross join rules as r
        where c.org_id = recommendation_candidates.org_id and c.action = 'withheld' and r.rule_key = 'compliance_alert'
          and c.created_at > recommendation_candidates.as_of - pg_catalog.make_interval(days => (r.params ->> 'days')::integer)
          and c.created_at <= recommendation_candidates.as_of
          and q.subject_id = any(array(
              select salesflow.subject_hash(recommendation_candidates.org_id, x::text)
              from pg_catalog.unnest(recommendation_candidates.lead_ids) as x
          ))
        order by q.subject_id, c.created_at desc
    ),
    facts as (
        select l.*, li.id as in_id, li.channel as in_channel, li.sent_at as in_at, li.body as in_body,
               greatest(mo.at, ao.at) as out_at, sc.score, sc.model as score_model,
               ba.id as ba_id, ba.assessed_at as ba_at, ba.total_score as ba_total, ba.dims as ba_dims,
               pp.id as pp_id, pp.created_at as pp_at, ic.n as inbound_count
        from l
        left join lateral (
            select m.id, m.channel, m.sent_at, m.body from salesflow.messages as m
            where m.org_id = l.org_id and m.lead_id = l.id and m.direction = 'inbound'
              and m.sent_at <= recommendation_candidates.as_of
            order by m.sent_at desc limit 1
        ) as li on true
        left join lateral (
            select m.sent_at as at from salesflow.messages as m
            where m.org_id = l.org_id and m.lead_id = l.id and m.direction = 'outbound'
              and m.sent_at <= recommendation_candidates.as_of
            order by m.sent_at desc limit 1
        ) as mo on true
        left join lateral (
            select a.occurred_at as at from salesflow.activities as a
            where a.org_id = l.org_id and a.lead_id = l.id and a.direction = 'outbound'
              and a.occurred_at <= recommendation_candidates.as_of
            order by a.occurred_at desc limit 1
        ) as ao on true
        left join scores as sc on sc.lead_id = l.id
        -- the latest accepted BANT assessment, its dimensions in tie order (budget first)
        left join lateral (
            select b.id, b.assessed_at, b.total_score,
                   array[b.budget, b.authority, b.need, b.timeline]::integer[] as dims
            from salesflow.bant_assessments as b
            where b.org_id = l.org_id and b.lead_id = l.id and b.status = 'accepted'
              and b.assessed_at <= recommendation_candidates.as_of
            order by b.assessed_at desc limit 1
        ) as ba on true
        left join lateral (
            select p.id, p.created_at from salesflow.personality_profiles as p
            where p.org_id = l.org_id and p.lead_id = l.id and p.created_at <= recommendation_candidates.as_of
            order by p.created_at desc limit 1
        ) as pp on true
        -- inbound messages, counted up to 100 (the rule asks for a few)
        left join lateral (
            select count(*)::integer as n from (
                select from salesflow.messages as m
                where m.org_id = l.org_id and m.lead_id = l.id and m.direction = 'inbound'
                  and m.sent_at <= recommendation_candidates.as_of
                limit 100
            ) as x
        ) as ic on true
    ),
    found as (
        -- the lead wrote last and has no answer
        select f.id as lead_id, null::uuid as deal_id, f.owner_id as assignee_id, 'unanswered_inbound' as rule_key,
               (case f.in_channel when 'whatsapp' then 'whatsapp' when 'phone' then 'call' when 'sms' then 'whatsapp'
                     else 'email' end)::salesflow.recommendation_action as action,
               'unanswered_inbound' as reason_key,
               pg_catalog.format('%s wrote by %s on %s and has had no answer since.', f.name, f.in_channel,
                                 pg_catalog.to_char(f.in_at, 'YYYY-MM-DD HH24:MI')) as reason,
               pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('table', 'messages', 'id', f.in_id,
                                                                         'at', f.in_at)) as evidence,
               f.seg, f.lifecycle_stage, f.score, f.score_model
        from facts as f
        where f.in_at is not null and (f.out_at is null or f.out_at < f.in_at)
        union all
        -- buying signal in a recent inbound message, and no meeting since
        select f.id, null, f.owner_id, 'buying_signal', 'meeting', 'buying_signal',
               pg_catalog.format('%s asked about %s on %s; propose a meeting.', f.name,
                                 (pg_catalog.regexp_match(pg_catalog.lower(f.in_body), r.params ->> 'pattern'))[1],
                                 pg_catalog.to_char(f.in_at, 'YYYY-MM-DD')),
               pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('table', 'messages', 'id', f.in_id,
                                                                         'at', f.in_at)),
               f.seg, f.lifecycle_stage, f.score, f.score_model
        from facts as f
        join rules as r on r.rule_key = 'buying_signal'
        where f.in_at > recommendation_candidates.as_of - pg_catalog.make_interval(days => (r.params ->> 'days')::integer)
          and pg_catalog.lower(f.in_body) ~ (r.params ->> 'pattern')
          and not exists (
              select from salesflow.activities as a
              where a.org_id = f.org_id and a.lead_id = f.id and a.kind = 'meeting' and a.occurred_at >= f.in_at
                and a.occurred_at <= recommendation_candidates.as_of
          )
        union all
        -- an open lead with nothing for quiet_days
        select f.id, null, f.owner_id, 'gone_quiet', 're_engage', 'gone_quiet',
               pg_catalog.format('No contact with %s for %s days (last on %s).', f.name,
                                 extract(day from recommendation_candidates.as_of - coalesce(f.last_activity_at, f.created_at))::integer,
                                 pg_catalog.to_char(coalesce(f.last_activity_at, f.created_at), 'YYYY-MM-DD')),
               '[]'::jsonb, f.seg, f.lifecycle_stage, f.score, f.score_model
        from facts as f
        join rules as r on r.rule_key = 'gone_quiet'
        where f.lifecycle_stage in ('subscriber', 'lead', 'mql', 'sql', 'opportunity')
          and coalesce(f.last_activity_at, f.created_at)
              < recommendation_candidates.as_of - pg_catalog.make_interval(days => (r.params ->> 'quiet_days')::integer)
        union all
        -- a young lead nobody has contacted
        select f.id, null, f.owner_id, 'first_touch', 'call', 'first_touch',
               pg_catalog.format('%s came in on %s (%s) and has not been contacted yet.', f.name,
                                 pg_catalog.to_char(f.created_at, 'YYYY-MM-DD'), f.source),
               '[]'::jsonb, f.seg, f.lifecycle_stage, f.score, f.score_model
        from facts as f
        join rules as r on r.rule_key = 'first_touch'
        where f.out_at is null and f.lifecycle_stage in ('subscriber', 'lead', 'mql', 'sql')
          and f.created_at > recommendation_candidates.as_of
              - pg_catalog.make_interval(days => (r.params ->> 'max_age_days')::integer)
        union all
        -- a high score and nobody reached out lately (only with lead scoring)
        select f.id, null, f.owner_id, 'hot_score', 'call', 'hot_score',
               pg_catalog.format('%s scores %s (model %s) and had no outreach for %s days.', f.name,
                                 pg_catalog.round(f.score::numeric), f.score_model, r.params ->> 'quiet_days'),
               '[]'::jsonb, f.seg, f.lifecycle_stage, f.score, f.score_model
        from facts as f
        join rules as r on r.rule_key = 'hot_score'
        where f.score >= (r.params ->> 'min_score')::real
          and (f.out_at is null or f.out_at < recommendation_candidates.as_of
               - pg_catalog.make_interval(days => (r.params ->> 'quiet_days')::integer))
        union all
        -- an AI answer about the lead was withheld: a person should look at what was asked and why
        select f.id, null, f.owner_id, 'compliance_alert', 'review_compliance', 'compliance_alert',
               pg_catalog.format('An AI answer about %s (%s) was withheld by the compliance check on %s.', f.name,
                                 w.task, pg_catalog.to_char(w.created_at, 'YYYY-MM-DD HH24:MI')),
               pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('table', 'compliance_log', 'id', w.id,
                                                                         'at', w.created_at)),
               f.seg, f.lifecycle_stage, f.score, f.score_model
        from facts as f
        join withheld as w on w.subject_id = salesflow.subject_hash(f.org_id, f.id::text)
        union all
        -- BANT missing or stale, for a lead far enough along (its stage, or an open deal)
        select f.id, null, f.owner_id, 'bant_assess', 'assess_bant', 'bant_assess',
               case when f.ba_id is null
                    then pg_catalog.format('%s (%s) has no BANT assessment yet: qualify budget, authority, need and timeline.',
                                           f.name, f.lifecycle_stage)
                    else pg_catalog.format('The BANT assessment of %s is from %s (%s of 12); assess it again.', f.name,
                                           pg_catalog.to_char(f.ba_at, 'YYYY-MM-DD'), f.ba_total) end,
               case when f.ba_id is null then '[]'::jsonb
                    else pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('table', 'bant_assessments',
                                                                                   'id', f.ba_id, 'at', f.ba_at)) end,
               f.seg, f.lifecycle_stage, f.score, f.score_model
        from facts as f
        join rules as r on r.rule_key = 'bant_assess'
        where f.lifecycle_stage in ('subscriber', 'lead', 'mql', 'sql', 'opportunity')
          and (f.lifecycle_stage::text in (select pg_catalog.jsonb_array_elements_text(
                   case when pg_catalog.jsonb_typeof(r.params -> 'stages') = 'array' then r.params -> 'stages' end))
               or exists (
                   select from salesflow.deals as d
                   where d.org_id = f.org_id and d.lead_id = f.id and d.stage not in ('closed_won', 'closed_lost')
               ))
          and (f.ba_id is null or f.ba_at < recommendation_candidates.as_of
               - pg_catalog.make_interval(days => coalesce((r.params ->> 'stale_days')::integer, 60)))
        union all
        -- a fresh BANT assessment with a weak dimension: act on the weakest (one item per dimension,
        -- so a reassessment that moves the gap closes the old item and opens the new one)
        select f.id, null, f.owner_id, 'bant_weakest',
               coalesce((select e from pg_catalog.unnest(pg_catalog.enum_range(null::salesflow.recommendation_action)) as e
                         where e::text = r.params -> 'actions' ->> w.dim), 'call'),
               'bant_weakest:' || w.dim,
               pg_catalog.format('The weakest BANT dimension of %s is %s (%s of 3, assessed %s): %s.', f.name, w.dim,
                                 w.level, pg_catalog.to_char(f.ba_at, 'YYYY-MM-DD'),
                                 coalesce(r.params -> 'hints' ->> w.dim, 'work on it')),
               pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('table', 'bant_assessments', 'id', f.ba_id,
                                                                         'at', f.ba_at)),
               f.seg, f.lifecycle_stage, f.score, f.score_model
        from facts as f
        join rules as r on r.rule_key = 'bant_weakest'
        cross join lateral (
            select (array['budget', 'authority', 'need', 'timeline'])[k.i] as dim, f.ba_dims[k.i] as level
            from pg_catalog.generate_subscripts(f.ba_dims, 1) as k (i)
            order by f.ba_dims[k.i], k.i limit 1
        ) as w
        where f.ba_id is not null and f.lifecycle_stage in ('subscriber', 'lead', 'mql', 'sql', 'opportunity')
          and f.ba_at >= recommendation_candidates.as_of
              - pg_catalog.make_interval(days => coalesce((r.params ->> 'stale_days')::integer, 60))
          and w.level <= coalesce((r.params ->> 'max_level')::integer, 1)
        union all
        -- enough of the lead's own words to read a DISG profile, and no (recent) profile
        select f.id, null, f.owner_id, 'profile_personality', 'profile_personality', 'profile_personality',
               case when f.pp_id is null
                    then pg_catalog.format('%s has written %s messages and has no DISG profile yet: profile their '
                                           'personality to match your tone to them.', f.name, f.inbound_count)
                    else pg_catalog.format('The DISG profile of %s is from %s: profile their personality again.',
                                           f.name, pg_catalog.to_char(f.pp_at, 'YYYY-MM-DD')) end,
               case when f.pp_id is null then '[]'::jsonb
                    else pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('table', 'personality_profiles',
                                                                                   'id', f.pp_id, 'at', f.pp_at)) end,
               f.seg, f.lifecycle_stage, f.score, f.score_model
        from facts as f
        join rules as r on r.rule_key = 'profile_personality'
        where f.lifecycle_stage in ('subscriber', 'lead', 'mql', 'sql', 'opportunity')
          and f.inbound_count >= coalesce((r.params ->> 'min_inbound_messages')::integer, 3)
          and (f.pp_id is null or f.pp_at < recommendation_candidates.as_of
               - pg_catalog.make_interval(days => coalesce((r.params ->> 'stale_days')::integer, 180)))
        union all
        -- conversation analysis (sql/objects/86_conversation_rules.sql): the latest finished analysis of
        -- each recent call or meeting with the lead; a competitor alert, and coaching for the call's rep.
        -- The action is the rule's own: 'call' for the alert (prepare the next call), 'coach' for coaching
        select f.id, null, coalesce(ci.owner_id, f.owner_id), k.rule_key, k.action_type,
               k.rule_key || ':' || ci.activity_id,
               k.reason,
               pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('table', 'conversation_insights',
                                                                         'id', ci.id, 'at', ci.completed_at)),
               f.seg, f.lifecycle_stage, f.score, f.score_model
        from facts as f
        cross join lateral (
            select distinct on (i.activity_id) i.id, i.activity_id, i.completed_at, i.coaching,
                   i.competitor_mentions, a.owner_id, a.occurred_at, a.kind::text as kind
            from salesflow.conversation_insights as i
            join salesflow.activities as a on a.org_id = i.org_id and a.id = i.activity_id
            where i.org_id = f.org_id and i.lead_id = f.id and i.status = 'done'
              and i.completed_at <= recommendation_candidates.as_of
              and a.occurred_at > recommendation_candidates.as_of - interval '90 days'
            order by i.activity_id, i.completed_at desc
        ) as ci
        cross join lateral (
            select r.rule_key, r.action_type,
                   case r.rule_key
                       when 'competitor_mentioned' then pg_catalog.format(
                           '%s came up on the %s with %s on %s: prepare the comparison before the next call.',
                           (select pg_catalog.string_agg(distinct m ->> 'competitor', ', ')
                            from pg_catalog.jsonb_array_elements(ci.competitor_mentions) as m),
                           ci.kind, f.name, pg_catalog.to_char(ci.occurred_at, 'YYYY-MM-DD'))
                       when 'coaching_talk_ratio' then pg_catalog.format(
                           'On the %s with %s on %s you spoke %s%% of the time (threshold %s%%): ask more, listen more.',
                           ci.kind, f.name, pg_catalog.to_char(ci.occurred_at, 'YYYY-MM-DD'),
                           pg_catalog.round(100 * (ci.coaching ->> 'rep_talk_share')::numeric),
                           pg_catalog.round(100 * (r.params ->> 'max_rep_share')::numeric))
                       when 'coaching_monologue' then pg_catalog.format(
                           'On the %s with %s on %s your longest monologue ran %s s (threshold %s s): check in sooner.',
                           ci.kind, f.name, pg_catalog.to_char(ci.occurred_at, 'YYYY-MM-DD'),
                           pg_catalog.round((ci.coaching ->> 'rep_longest_monologue_seconds')::numeric),
                           r.params ->> 'max_seconds')
                       when 'coaching_questions' then pg_catalog.format(
                           'On the %s with %s on %s you asked %s questions (at least %s expected): prepare discovery questions.',
                           ci.kind, f.name, pg_catalog.to_char(ci.occurred_at, 'YYYY-MM-DD'),
                           ci.coaching ->> 'rep_questions', r.params ->> 'min_questions')
                       else pg_catalog.format(
                           'On the %s with %s on %s you interrupted %s times (threshold %s): let them finish.',
                           ci.kind, f.name, pg_catalog.to_char(ci.occurred_at, 'YYYY-MM-DD'),
                           ci.coaching ->> 'rep_interruptions', r.params ->> 'max_interruptions')
                   end as reason
            from rules as r
            where ci.occurred_at > recommendation_candidates.as_of
                - pg_catalog.make_interval(days => coalesce((r.params ->> 'days')::integer, 14))
              and case r.rule_key
                  when 'competitor_mentioned' then pg_catalog.jsonb_array_length(ci.competitor_mentions) > 0
                  when 'coaching_talk_ratio'
                      then (ci.coaching ->> 'rep_talk_share')::real > (r.params ->> 'max_rep_share')::real
                  when 'coaching_monologue' then (ci.coaching ->> 'rep_longest_monologue_seconds')::real
                      > (r.params ->> 'max_seconds')::real
                  when 'coaching_questions' then (ci.coaching ->> 'duration_seconds')::real
                      >= (r.params ->> 'min_seconds')::real
                      and (ci.coaching ->> 'rep_questions')::integer < (r.params ->> 'min_questions')::integer
                  when 'coaching_interruptions' then (ci.coaching ->> 'rep_interruptions')::integer
                      > (r.params ->> 'max_interruptions')::integer
                  else false
              end
        ) as k
        union all
        -- open deals: stalled, or past their expected close
        select f.id, d.id, coalesce(d.owner_id, f.owner_id), k.rule_key, k.action, k.rule_key || ':' || d.id,
               case k.rule_key
                   when 'stalled_deal' then pg_catalog.format('Deal "%s" (%s) has not moved since %s.', d.name, d.stage,
                                                              pg_catalog.to_char(d.updated_at, 'YYYY-MM-DD'))
                   else pg_catalog.format('Deal "%s" was expected to close on %s and is still %s.', d.name,
                                          d.expected_close, d.stage)
               end,
               pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('table', 'deals', 'id', d.id,
                                                                         'at', d.updated_at)),
               f.seg, f.lifecycle_stage, f.score, f.score_model
        from facts as f
        join salesflow.deals as d on d.org_id = f.org_id and d.lead_id = f.id
        cross join lateral (
            select 'stalled_deal' as rule_key, 'call'::salesflow.recommendation_action as action
            from rules as r where r.rule_key = 'stalled_deal'
              and d.updated_at < recommendation_candidates.as_of - pg_catalog.make_interval(days => (r.params ->> 'days')::integer)
            union all
            select 'close_out', 'close_out' from rules as r where r.rule_key = 'close_out'
              and d.expected_close < (recommendation_candidates.as_of at time zone 'UTC')::date
        ) as k
        where d.stage not in ('closed_won', 'closed_lost')
    )
    select fo.lead_id, fo.deal_id, fo.assignee_id, r.id, r.rule_key, r.version, fo.action, fo.reason_key,
           fo.reason, fo.evidence,
           least(100, r.base_priority * salesflow.rule_priority_multiplier(st.successes, st.failures))::real,
           r.half_life, r.ttl, r.reoffer_after, r.reoffer_limit, r.reoffer_window, fo.seg, fo.lifecycle_stage,
           fo.score, fo.score_model
    from found as fo
    join rules as r on r.rule_key = fo.rule_key
    left join salesflow.recommendation_rule_stats as st
        on st.org_id = recommendation_candidates.org_id and st.rule_key = fo.rule_key and st.segment = fo.seg
$$;

-- Re-evaluate leads: open what the rules want and is not there (unless the re-offer limit says no),
-- close as done what a rule made and no longer wants (the lead got its answer, the deal moved).
-- Idempotent and safe to run concurrently: inserts meet the live-key index with DO NOTHING.
create or replace function salesflow.evaluate_recommendations(
    org_id uuid, lead_ids uuid[], as_of timestamptz default null
) returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
    at timestamptz := coalesce(evaluate_recommendations.as_of, pg_catalog.now());
    opened integer;
    live uuid[];
begin
    -- the leads that still exist, held against deletion until this statement's transaction ends:
    -- an erasure (or a delete) that runs meanwhile waits, and one that came first leaves its lead out,
    -- so a job about a vanished lead does nothing instead of failing on the foreign key (whose error
    -- text would keep the erased lead's id in jobs.last_error)
    live := array(
        select l.id from salesflow.leads as l
        where l.org_id = evaluate_recommendations.org_id and l.id = any(evaluate_recommendations.lead_ids)
        order by l.id
        for key share
    );
    if pg_catalog.cardinality(live) = 0 then
        return 0;
    end if;
    with cand as materialized (
        select * from salesflow.recommendation_candidates(evaluate_recommendations.org_id, live, at)
    ),
    cleared as (
        update salesflow.ai_recommendations as r
        set status = 'done', closed_reason = 'condition_cleared', snoozed_until = null, status_changed_at = at,
            status_changed_by = null
        where r.org_id = evaluate_recommendations.org_id and r.lead_id = any(live)
          and r.source = 'rule' and r.status in ('open', 'snoozed', 'accepted')
          and not exists (
              select from cand as c
              where c.lead_id = r.lead_id and c.action_type = r.action_type and c.reason_key = r.reason_key
          )
        returning 1
    ),
    opened as (
        insert into salesflow.ai_recommendations as n (
            org_id, lead_id, deal_id, assignee_id, action_type, reason_key, reason, evidence, base_priority,
            half_life, offered_at, expires_at, source, rule_id, rule_key, rule_version, score_model, score,
            segment, stage_at_fire, score_band, status_changed_at, created_at
        )
        select evaluate_recommendations.org_id, c.lead_id, c.deal_id, c.assignee_id, c.action_type, c.reason_key,
               pg_catalog.left(c.reason, 1000), c.evidence, c.base_priority, c.half_life, at, at + c.ttl, 'rule',
               c.rule_id, c.rule_key, c.rule_version, c.score_model, c.score, c.segment, c.stage,
               salesflow.score_band(c.score), at, at
        from cand as c
        -- the re-offer limit: not within reoffer_after of a dismissal, and not at all after
        -- reoffer_limit dismissals within reoffer_window
        where not exists (
            select from salesflow.ai_recommendations as d
            where d.org_id = evaluate_recommendations.org_id and d.lead_id = c.lead_id and d.reason_key = c.reason_key
              and d.status = 'dismissed' and d.status_changed_at > at - c.reoffer_after
        )
        and (
            select count(*) from salesflow.ai_recommendations as d
            where d.org_id = evaluate_recommendations.org_id and d.lead_id = c.lead_id and d.reason_key = c.reason_key
              and d.status = 'dismissed' and d.status_changed_at > at - c.reoffer_window
        ) < c.reoffer_limit
        on conflict (org_id, (coalesce(lead_id, deal_id)), action_type, reason_key)
        where status in ('open', 'snoozed', 'accepted') do nothing
        returning 1
    )
    select (select count(*) from opened) + 0 * (select count(*) from cleared) into opened;
    return opened;
end
$$;

comment on function salesflow.evaluate_recommendations(uuid, uuid[], timestamptz) is
'Run the rules in force for the given leads: open what they want, close what they no longer want.';

-- The re-evaluation triggers: statement-level, one job per statement and organisation per 500 leads.
create or replace function salesflow.enqueue_lead_evaluation(org_id uuid, lead_ids uuid[])
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    n integer := coalesce(pg_catalog.array_length(lead_ids, 1), 0);
    i integer := 1;
begin
    while i <= n loop
        perform salesflow.enqueue(
            'evaluate_recommendations',
            pg_catalog.jsonb_build_object('lead_ids', pg_catalog.to_jsonb(lead_ids[i:i + 499])),
            org_id => enqueue_lead_evaluation.org_id, priority => 5
        );
        i := i + 500;
    end loop;
end
$$;

create or replace function salesflow.recommendations_on_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    r record;
begin
    if tg_table_name = 'leads' then
        -- new leads: their first stage goes into the stage history
        insert into salesflow.lead_stage_changes (org_id, lead_id, from_stage, to_stage, changed_at)
        select n.org_id, n.id, null, n.lifecycle_stage, n.created_at from new_rows as n;
        for r in select n.org_id, pg_catalog.array_agg(n.id) as ids from new_rows as n group by n.org_id loop
            perform salesflow.enqueue_lead_evaluation(r.org_id, r.ids);
        end loop;
        return null;
    end if;
    if tg_table_name = 'compliance_log' then
        -- a withheld output about a lead (its request's subject_id names the lead)
        for r in
            select n.org_id, pg_catalog.array_agg(distinct l.id) as ids
            from new_rows as n
            join salesflow.llm_requests as q on q.org_id = n.org_id and q.id = n.request_id
            join salesflow.leads as l
                on l.org_id = n.org_id and salesflow.subject_hash(l.org_id, l.id::text) = q.subject_id
            where n.action = 'withheld'
            group by n.org_id
        loop
            perform salesflow.enqueue_lead_evaluation(r.org_id, r.ids);
        end loop;
        return null;
    end if;
    for r in
        select n.org_id, pg_catalog.array_agg(distinct n.lead_id) as ids
        from new_rows as n where n.lead_id is not null group by n.org_id
    loop
        perform salesflow.enqueue_lead_evaluation(r.org_id, r.ids);
    end loop;
    return null;
end
$$;

create or replace trigger activities_recommend after insert on salesflow.activities
referencing new table as new_rows for each statement execute function salesflow.recommendations_on_change();
create or replace trigger messages_recommend after insert on salesflow.messages
referencing new table as new_rows for each statement execute function salesflow.recommendations_on_change();
create or replace trigger deals_recommend_insert after insert on salesflow.deals
referencing new table as new_rows for each statement execute function salesflow.recommendations_on_change();
create or replace trigger deals_recommend_update after update on salesflow.deals
referencing new table as new_rows for each statement execute function salesflow.recommendations_on_change();
create or replace trigger compliance_log_recommend after insert on salesflow.compliance_log
referencing new table as new_rows for each statement execute function salesflow.recommendations_on_change();
create or replace trigger leads_recommend_insert after insert on salesflow.leads
referencing new table as new_rows for each statement execute function salesflow.recommendations_on_change();
-- lead intelligence: a BANT assessment recorded or accepted, a DISG profile stored
create or replace trigger bant_assessments_recommend_insert after insert on salesflow.bant_assessments
referencing new table as new_rows for each statement execute function salesflow.recommendations_on_change();
create or replace trigger bant_assessments_recommend_update after update on salesflow.bant_assessments
referencing new table as new_rows for each statement execute function salesflow.recommendations_on_change();
create or replace trigger personality_profiles_recommend after insert on salesflow.personality_profiles
referencing new table as new_rows for each statement execute function salesflow.recommendations_on_change();
-- Lead updates: a row trigger limited to the columns the rules read, because each inserting
-- statement's last_activity_at bump (salesflow.bump_last_activity) is an UPDATE of leads that must
-- not re-evaluate anything. A bulk reassignment enqueues a job per lead.
create or replace function salesflow.recommendations_on_lead_update() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if new.lifecycle_stage is distinct from old.lifecycle_stage then
        insert into salesflow.lead_stage_changes (org_id, lead_id, from_stage, to_stage)
        values (new.org_id, new.id, old.lifecycle_stage, new.lifecycle_stage);
    end if;
    perform salesflow.enqueue_lead_evaluation(new.org_id, array[new.id]);
    return null;
end
$$;

drop trigger if exists leads_recommend_update on salesflow.leads;
create trigger leads_recommend_update after update of lifecycle_stage, owner_id, attributes on salesflow.leads
for each row
when (
    old.lifecycle_stage is distinct from new.lifecycle_stage or old.owner_id is distinct from new.owner_id
    or old.attributes is distinct from new.attributes
)
execute function salesflow.recommendations_on_lead_update();

-- Learning: the first verdict on a rule's recommendation updates its rule × segment evidence.
-- A person accepting or doing it is a success; dismissing it, or letting it expire, a failure.
-- A condition that cleared by itself (status_changed_by null) is neither.
create or replace function salesflow.recommendations_learn() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if new.rule_key is not null and old.status in ('open', 'snoozed')
       and (new.status in ('accepted', 'dismissed', 'expired')
            or (new.status = 'done' and new.status_changed_by is not null)) then
        insert into salesflow.recommendation_rule_stats as s (org_id, rule_key, segment, successes, failures)
        values (new.org_id, new.rule_key, new.segment,
                (new.status in ('accepted', 'done'))::integer, (new.status in ('dismissed', 'expired'))::integer)
        on conflict (org_id, rule_key, segment) do update
        set successes = s.successes + excluded.successes, failures = s.failures + excluded.failures,
            updated_at = pg_catalog.now();
    end if;
    return null;
end
$$;

create or replace trigger ai_recommendations_learn after update of status on salesflow.ai_recommendations
for each row when (old.status is distinct from new.status) execute function salesflow.recommendations_learn();

-- The sweep (every few minutes): expire what passed expires_at (kept, status expired), bring back
-- snoozed items that are due, and run the time-based rules for leads that crossed a threshold since.
create or replace function salesflow.sweep_recommendations(as_of timestamptz default null, batch integer default 5000)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    at timestamptz := coalesce(sweep_recommendations.as_of, pg_catalog.now());
    expired integer;
    woken integer;
    opened integer := 0;
    o record;
begin
    update salesflow.ai_recommendations as r
    set status = 'expired', closed_reason = 'expired', snoozed_until = null, status_changed_at = at,
        status_changed_by = null
    where r.status in ('open', 'snoozed', 'accepted') and r.expires_at <= at;
    get diagnostics expired = row_count;
    update salesflow.ai_recommendations as r
    set status = 'open', snoozed_until = null, offered_at = at, status_changed_at = at, status_changed_by = null
    where r.status = 'snoozed' and r.snoozed_until <= at;
    get diagnostics woken = row_count;
    for o in select g.id from salesflow.organizations as g loop
        opened := opened + salesflow.evaluate_recommendations(o.id, array(
            select c.id from (
                -- gone quiet, no live or recently dismissed gone_quiet item
                select l.id from salesflow.leads as l
                cross join salesflow.effective_rules(o.id) as r
                where l.org_id = o.id and r.rule_key = 'gone_quiet' and r.enabled
                  and l.lifecycle_stage in ('subscriber', 'lead', 'mql', 'sql', 'opportunity')
                  and coalesce(l.last_activity_at, l.created_at) < at - pg_catalog.make_interval(days => (r.params ->> 'quiet_days')::integer)
                  and not exists (
                      select from salesflow.ai_recommendations as x
                      where x.org_id = o.id and x.lead_id = l.id and x.reason_key = 'gone_quiet'
                        and (x.status in ('open', 'snoozed', 'accepted')
                             or (x.status = 'dismissed' and x.status_changed_at > at - r.reoffer_after))
                  )
                union
                -- the latest accepted BANT assessment went stale since, no live or dismissed bant_assess item
                select b.lead_id from salesflow.bant_assessments as b
                cross join salesflow.effective_rules(o.id) as r
                where b.org_id = o.id and b.status = 'accepted' and r.rule_key = 'bant_assess' and r.enabled
                  and not exists (
                      select from salesflow.ai_recommendations as x
                      where x.org_id = o.id and x.lead_id = b.lead_id and x.reason_key = 'bant_assess'
                        and x.status in ('open', 'snoozed', 'accepted', 'dismissed')
                  )
                group by b.lead_id, r.params
                having max(b.assessed_at) < at
                    - pg_catalog.make_interval(days => coalesce((r.params ->> 'stale_days')::integer, 60))
                union
                -- open deals stalled or past their close date, without a live item for that deal
                select d.lead_id from salesflow.deals as d
                where d.org_id = o.id and d.lead_id is not null and d.stage not in ('closed_won', 'closed_lost')
                  and (d.expected_close < (at at time zone 'UTC')::date or d.updated_at < at - interval '7 days')
                  and not exists (
                      select from salesflow.ai_recommendations as x
                      where x.org_id = o.id and x.deal_id = d.id and x.status in ('open', 'snoozed', 'accepted', 'dismissed')
                  )
            ) as c
            limit sweep_recommendations.batch
        ), at);
    end loop;
    return pg_catalog.jsonb_build_object('expired', expired, 'woken', woken, 'opened', opened);
end
$$;

-- Policies: members read; reps and up create and react (RLS is the tenancy check); rules are
-- read by members (the shipped ones by everyone signed in) and versioned by owners and admins.
alter table salesflow.recommendation_rules enable row level security;
alter table salesflow.ai_recommendations enable row level security;
alter table salesflow.recommendation_reactions enable row level security;
alter table salesflow.recommendation_rule_stats enable row level security;
alter table salesflow.lead_stage_changes enable row level security;
alter table salesflow.calling_code_zones enable row level security;

drop policy if exists recommendation_rules_select on salesflow.recommendation_rules;
create policy recommendation_rules_select on salesflow.recommendation_rules for select to authenticated
using (org_id is null or org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists recommendation_rules_insert on salesflow.recommendation_rules;
create policy recommendation_rules_insert on salesflow.recommendation_rules for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

drop policy if exists ai_recommendations_select on salesflow.ai_recommendations;
create policy ai_recommendations_select on salesflow.ai_recommendations for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists ai_recommendations_insert on salesflow.ai_recommendations;
create policy ai_recommendations_insert on salesflow.ai_recommendations for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));
drop policy if exists ai_recommendations_update on salesflow.ai_recommendations;
create policy ai_recommendations_update on salesflow.ai_recommendations for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

drop policy if exists recommendation_reactions_select on salesflow.recommendation_reactions;
create policy recommendation_reactions_select on salesflow.recommendation_reactions for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists recommendation_reactions_insert on salesflow.recommendation_reactions;
create policy recommendation_reactions_insert on salesflow.recommendation_reactions for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]) and user_id = (select auth.uid()));

drop policy if exists recommendation_rule_stats_select on salesflow.recommendation_rule_stats;
create policy recommendation_rule_stats_select on salesflow.recommendation_rule_stats for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

drop policy if exists lead_stage_changes_select on salesflow.lead_stage_changes;
create policy lead_stage_changes_select on salesflow.lead_stage_changes for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

revoke all on salesflow.recommendation_rules, salesflow.ai_recommendations, salesflow.recommendation_reactions,
salesflow.recommendation_rule_stats, salesflow.lead_stage_changes, salesflow.calling_code_zones
from anon, authenticated, service_role;
grant select, insert on salesflow.recommendation_rules to authenticated, service_role;
grant select, insert, update on salesflow.ai_recommendations to authenticated, service_role;
grant select, insert on salesflow.recommendation_reactions to authenticated, service_role;
grant select on salesflow.recommendation_rule_stats, salesflow.lead_stage_changes to authenticated, service_role;
-- calling_code_zones: read only through salesflow.phone_timezone (76_contact_windows.sql)

grant execute on function
salesflow.effective_rules(uuid),
salesflow.latest_lead_scores(uuid, uuid[]),
salesflow.lead_segment(jsonb, salesflow.lead_source),
salesflow.score_band(real),
salesflow.decayed_priority(real, interval, timestamptz, timestamptz),
salesflow.rule_priority_multiplier(integer, integer),
salesflow.decay_key(real, interval, timestamptz)
to authenticated, service_role;

-- Housekeeping on the queue: the sweep every 5 minutes.
select salesflow.schedule_job('recommendations_sweep', 'sweep_recommendations', every => '5 minutes');
