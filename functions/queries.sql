-- Every query the worker and `salesflow jobs` run, by name. The state machine itself is in
-- sql/objects/40_queue.sql; these are thin calls into it.

-- name: listen
-- (the channel is an identifier, composed with psycopg.sql.Identifier: LISTEN takes no parameters)
listen {channel}

-- name: queue_installed
select to_regprocedure('salesflow.claim_jobs(text, text[], integer, interval)') is not null as installed;

-- name: claim_jobs
select id, queue, kind, payload, org_id, attempt, max_attempts, lease_expires_at
from salesflow.claim_jobs(%(worker)s, %(queues)s, %(batch_size)s, make_interval(secs => %(lease)s));

-- name: heartbeat_jobs
select salesflow.heartbeat_jobs(%(worker)s, %(job_ids)s, make_interval(secs => %(lease)s)) as held;

-- name: complete_jobs
select salesflow.complete_jobs(%(worker)s, %(job_ids)s, %(attempts)s) as completed;

-- name: fail_job
select salesflow.fail_job(
    %(worker)s, %(job_id)s, %(attempt)s, %(error)s,
    retryable => %(retryable)s,
    retry_at => case when %(retry_in)s::double precision is null then null
                     else now() + make_interval(secs => %(retry_in)s::double precision) end,
    backoff_base => make_interval(secs => %(backoff_base)s),
    backoff_cap => make_interval(secs => %(backoff_cap)s)
) as status;

-- name: release_jobs
select salesflow.release_jobs(%(worker)s, %(job_ids)s, %(attempts)s) as released;

-- name: release_unknown_jobs
select salesflow.release_unknown_jobs(%(worker)s, %(known)s) as released;

-- name: sweep_expired_leases
select salesflow.sweep_expired_leases() as swept;

-- name: enqueue_due_schedules
select salesflow.enqueue_due_schedules() as enqueued;

-- name: enqueue
select salesflow.enqueue(
    %(kind)s, %(payload)s, queue => %(queue)s, org_id => %(org_id)s, priority => %(priority)s,
    run_after => %(run_after)s, max_attempts => %(max_attempts)s, idempotency_key => %(idempotency_key)s
) as id;

-- name: list_jobs
select id, queue, kind, status, attempts, max_attempts, priority, run_after, created_at, finished_at, worker,
       left(split_part(last_error, E'\n', 1), 200) as last_error
from salesflow.jobs
where (%(status)s::salesflow.job_status is null or status = %(status)s::salesflow.job_status)
  and (%(queue)s::text is null or queue = %(queue)s)
  and (%(kind)s::text is null or kind = %(kind)s)
order by id desc
limit %(limit)s;

-- name: show_job
select id, queue, kind, status, payload, org_id, priority, run_after, attempts, max_attempts, idempotency_key,
       worker, lease_expires_at, last_error, schedule, scheduled_for, created_at, started_at, finished_at
from salesflow.jobs
where id = %(id)s;

-- name: job_statuses
select id, status from salesflow.jobs where id = any(%(ids)s);

-- name: retry_dead
select salesflow.retry_dead(%(ids)s, %(queue)s, %(kind)s) as retried;

-- name: cancel_jobs
select salesflow.cancel_jobs(%(ids)s) as cancelled;

-- name: queue_health
select queue, ready, delayed, running, dead, oldest_pending_age, max_wait, completed_1h, dead_1h, failure_rate_1h
from analytics.queue_health
order by queue;

-- name: purge_jobs
select salesflow.purge_jobs(
    make_interval(days => %(completed_days)s), make_interval(days => %(dead_days)s)
) as purged;

-- name: matview_exists
select exists (
    select from pg_matviews where schemaname = 'analytics' and matviewname = %(name)s
) as found,
exists (
    select from pg_matviews where schemaname = 'analytics' and matviewname = %(name)s and ispopulated
) as populated;

-- name: refresh_analytics_view
select salesflow.refresh_analytics_view(%(name)s, %(concurrently)s);

-- name: lead_history
-- ai_suggest: a lead's last 20 activities and messages, newest first.
select h.at, h.what, h.text, h.source, h.id
from (
    select
        a.occurred_at as at,
        a.kind::text || ' ' || coalesce(a.direction::text, 'note') as what,
        coalesce(a.subject, '') || ' ' || coalesce(a.body, '') as text,
        'activities' as source,
        a.id
    from salesflow.activities as a
    where a.org_id = %(org_id)s and a.lead_id = %(lead_id)s
    union all
    select
        m.sent_at,
        m.channel::text || ' ' || m.direction::text,
        coalesce(m.subject, '') || ' ' || m.body,
        'messages',
        m.id
    from salesflow.messages as m
    where m.org_id = %(org_id)s and m.lead_id = %(lead_id)s
) as h
order by h.at desc
limit 20;

-- name: suggestion_of_job
select s.id from salesflow.ai_suggestions as s where s.org_id = %(org_id)s and s.job_id = %(job_id)s;

-- name: store_suggestion
-- inputs: the identifiers of what the model was shown (the AI decision audit)
insert into salesflow.ai_suggestions (org_id, lead_id, kind, content, request_id, job_id, offline_model, inputs)
values (%(org_id)s, %(lead_id)s, %(kind)s, %(content)s, %(request_id)s, %(job_id)s, %(offline_model)s, %(inputs)s)
on conflict (org_id, job_id) where job_id is not null do nothing;

-- name: evaluate_recommendations
select salesflow.evaluate_recommendations(%(org_id)s, %(lead_ids)s::uuid[]) as opened;

-- name: sweep_recommendations
select salesflow.sweep_recommendations() as result;

-- name: sweep_llm_reservations
select salesflow.sweep_llm_reservations() as swept;

-- name: refresh_contact_patterns
select salesflow.refresh_contact_patterns(%(org_id)s) as rows;

-- name: mining_orgs
select id from salesflow.organizations where %(org_id)s::uuid is null or id = %(org_id)s::uuid order by id;

-- name: mining_deal_events
-- mine_success_patterns: closed deals with a lead, and every touch of that lead up to the close
select d.id as case_id, d.stage = 'closed_won' as success, d.created_at as started_at, d.closed_at as ended_at,
       t.at, t.token
from salesflow.deals as d
left join lateral (
    select a.occurred_at as at, a.kind::text || ':' || coalesce(a.direction::text, 'internal') as token
    from salesflow.activities as a
    where a.org_id = d.org_id and a.lead_id = d.lead_id and a.occurred_at <= d.closed_at
    union all
    select m.sent_at, m.channel::text || ':' || m.direction::text
    from salesflow.messages as m
    where m.org_id = d.org_id and m.lead_id = d.lead_id and m.sent_at <= d.closed_at
) as t on true
where d.org_id = %(org_id)s and d.stage in ('closed_won', 'closed_lost') and d.lead_id is not null
order by d.id, t.at;

-- name: mining_lead_events
-- mine_success_patterns: leads that became customers (or evangelists) or were disqualified, with
-- their touches up to the moment they got there
select l.id as case_id, l.lifecycle_stage in ('customer', 'evangelist') as success, l.created_at as started_at,
       e.ended_at, t.at, t.token
from salesflow.leads as l
cross join lateral (
    select coalesce(max(c.changed_at), l.updated_at) as ended_at from salesflow.lead_stage_changes as c
    where c.org_id = l.org_id and c.lead_id = l.id and c.to_stage = l.lifecycle_stage
) as e
left join lateral (
    select a.occurred_at as at, a.kind::text || ':' || coalesce(a.direction::text, 'internal') as token
    from salesflow.activities as a
    where a.org_id = l.org_id and a.lead_id = l.id and a.occurred_at <= e.ended_at
    union all
    select m.sent_at, m.channel::text || ':' || m.direction::text
    from salesflow.messages as m
    where m.org_id = l.org_id and m.lead_id = l.id and m.sent_at <= e.ended_at
) as t on true
where l.org_id = %(org_id)s and l.lifecycle_stage in ('customer', 'evangelist', 'disqualified')
order by l.id, t.at;

-- name: delete_success_patterns
delete from salesflow.success_patterns where org_id = %(org_id)s and outcome = %(outcome)s;

-- name: insert_success_pattern
insert into salesflow.success_patterns (
    org_id, outcome, pattern_key, description, support, confidence, lift, cases, successes, median_days_to_outcome,
    job_id
)
values (
    %(org_id)s, %(outcome)s, %(pattern_key)s, %(description)s, %(support)s, %(confidence)s, %(lift)s, %(cases)s,
    %(successes)s, %(median_days)s, %(job_id)s
);

-- name: ai_processing_allowed
select salesflow.ai_processing_allowed(%(org_id)s, %(lead_id)s) as allowed;

-- name: summary_state
-- summarize_conversation: the lead's rolling summary as it stands.
select s.summary, s.version, s.covered_until, s.covered_message_id
from salesflow.conversation_summaries as s
where s.org_id = %(org_id)s and s.lead_id = %(lead_id)s;

-- name: messages_after_summary
-- summarize_conversation: the lead's messages after the summarised ones, oldest first.
select m.id, m.sent_at, m.channel::text as channel, m.direction::text as direction,
       coalesce(m.subject || ': ', '') || m.body as text
from salesflow.messages as m
where m.org_id = %(org_id)s and m.lead_id = %(lead_id)s
  and (%(covered_until)s::timestamptz is null
       or (m.sent_at, m.id) > (%(covered_until)s::timestamptz, %(covered_message_id)s::uuid))
order by m.sent_at, m.id
limit %(limit)s;

-- name: extend_summary
-- summarize_conversation: the extended summary, only over the version it extended (a second
-- delivery of the same job, or a concurrent one, changes nothing).
update salesflow.conversation_summaries as s
set summary = left(%(summary)s, 20000), version = s.version + 1, covered_until = %(covered_until)s,
    covered_message_id = %(covered_message_id)s, covered_messages = s.covered_messages + %(n)s,
    pending_messages = greatest(s.pending_messages - %(n)s, 0), model = %(model)s,
    offline_model = %(offline_model)s, request_id = %(request_id)s, updated_at = now(),
    -- the snapshot beside the text: the covered messages' sentiment and the lead's current facts
    sentiment = coalesce((
        select jsonb_build_object('mean', round(avg(m.sentiment)::numeric, 4), 'messages', count(*),
                                  'negative', count(*) filter (where m.sentiment_label = 'negative'),
                                  'sources', jsonb_agg(distinct m.sentiment_source))
        from salesflow.messages as m
        where m.org_id = s.org_id and m.lead_id = s.lead_id and m.sentiment is not null
          and m.direction = 'inbound' and m.sent_at <= %(covered_until)s
        having count(*) > 0
    ), '{}'),
    key_facts = coalesce((
        select jsonb_agg(jsonb_build_object('fact', f.fact, 'category', f.category, 'message_id', f.message_id)
                         order by f.valid_from desc)
        from salesflow.memory_facts as f
        where f.org_id = s.org_id and f.lead_id = s.lead_id and f.valid_to is null
    ), '[]')
where s.org_id = %(org_id)s and s.lead_id = %(lead_id)s and s.version = %(version)s;

-- name: summary_settled
-- summarize_conversation: nothing new to summarise (messages deleted meanwhile).
update salesflow.conversation_summaries as s set pending_messages = 0
where s.org_id = %(org_id)s and s.lead_id = %(lead_id)s;

-- name: facts_state
-- extract_memory: how far the lead's messages were read for facts (no row: the lead is gone).
select s.facts_until, s.facts_message_id
from salesflow.conversation_summaries as s
where s.org_id = %(org_id)s and s.lead_id = %(lead_id)s;

-- name: current_facts
-- extract_memory: the lead's current facts, for the prompt's "known facts".
select f.category::text as category, f.fact
from salesflow.memory_facts as f
where f.org_id = %(org_id)s and f.lead_id = %(lead_id)s and f.valid_to is null
order by f.valid_from desc
limit 30;

-- name: record_extracted_fact
select salesflow.record_extracted_fact(
    %(org_id)s, %(lead_id)s, %(category)s::salesflow.fact_category, %(fact)s, %(message_id)s, %(quote)s,
    %(confidence)s::real, %(fact_key)s, %(extracted_by)s, %(request_id)s
) as id;

-- name: advance_facts_cursor
select salesflow.advance_facts_cursor(%(org_id)s, %(lead_id)s, %(read_until)s, %(read_message_id)s, %(n)s);

-- name: messages_for_sentiment
-- score_sentiment: the messages' text and language (the message's own, else guessed from the text:
-- a lead's language is a default, not what each message is written in); leads who withdrew consent
-- to AI processing are not read.
select m.id, coalesce(m.subject || ': ', '') || m.body as text, m.language
from salesflow.messages as m
where m.org_id = %(org_id)s and m.id = any(%(ids)s::uuid[])
  and (m.lead_id is null or salesflow.ai_processing_allowed(m.org_id, m.lead_id));

-- name: store_sentiments
select salesflow.store_sentiments(%(org_id)s, %(readings)s) as n;

-- name: lead_own_messages
-- analyze_personality, propose_bant: the lead's own words (inbound messages), newest 30, oldest first.
select x.sent_at as at, x.body, x.id
from (
    select m.sent_at, m.id, m.body
    from salesflow.messages as m
    where m.org_id = %(org_id)s and m.lead_id = %(lead_id)s and m.direction = 'inbound'
    order by m.sent_at desc, m.id desc
    limit 30
) as x
order by x.sent_at, x.id;

-- name: profile_of_job
select p.id from salesflow.personality_profiles as p where p.org_id = %(org_id)s and p.job_id = %(job_id)s;

-- name: store_personality_profile
select salesflow.store_personality_profile(
    %(org_id)s, %(lead_id)s, %(job_id)s, %(request_id)s, %(scores)s, %(quotes)s, %(confidence)s, %(source)s,
    %(offline_model)s, %(language)s
) as id;

-- name: bant_of_job
select b.id from salesflow.bant_assessments as b where b.org_id = %(org_id)s and b.job_id = %(job_id)s;

-- name: store_bant_proposal
select salesflow.store_bant_proposal(
    %(org_id)s, %(lead_id)s, %(job_id)s, %(request_id)s, %(answer)s, %(offline_model)s
) as id;

-- name: monitor_scoring_models
select salesflow.monitor_scoring_models();

-- The AI decision audit (issue 14): the identifiers of what the job's stored answer read, set in
-- the transaction that stores it.
-- name: note_bant_inputs
update salesflow.bant_assessments as t set inputs = %(inputs)s
where t.org_id = %(org_id)s and t.job_id = %(job_id)s;

-- name: note_profile_inputs
update salesflow.personality_profiles as t set inputs = %(inputs)s
where t.org_id = %(org_id)s and t.job_id = %(job_id)s;
