-- The queue for analysts (psql, BI tools): live views in `analytics`, never exposed to PostgREST.
-- Plain views, not security_invoker: a role granted SELECT on them sees counts and ages, never
-- payloads or errors, without any right on salesflow.jobs itself. Live rather than materialized:
-- depth is only useful if it is current, and the partial indexes keep the pending side cheap.

-- Depth per queue and status.
create or replace view analytics.queue_depth as
select
    j.queue,
    j.status,
    count(*) as jobs,
    -- pending jobs whose run_after is still ahead (retry backoff, scheduled for later)
    count(*) filter (where j.status = 'pending' and j.run_after > now()) as delayed,
    min(j.created_at) as oldest_created_at
from salesflow.jobs as j
group by j.queue, j.status;

-- One row per queue: what waits, how long the oldest has waited, and how much fails.
create or replace view analytics.queue_health as
select
    j.queue,
    count(*) filter (where j.status = 'pending' and j.run_after <= now()) as ready,
    count(*) filter (where j.status = 'pending' and j.run_after > now()) as delayed,
    count(*) filter (where j.status = 'running') as running,
    count(*) filter (where j.status = 'dead') as dead,
    -- age of the oldest pending job, and how late the most overdue due job is
    now() - min(j.created_at) filter (where j.status = 'pending') as oldest_pending_age,
    now() - min(j.run_after) filter (where j.status = 'pending' and j.run_after <= now()) as max_wait,
    count(*) filter (where j.status = 'completed' and j.finished_at > now() - interval '1 hour') as completed_1h,
    count(*) filter (where j.status = 'dead' and j.finished_at > now() - interval '1 hour') as dead_1h,
    -- share of the jobs that finished in the last hour which ended dead
    round(
        count(*) filter (where j.status = 'dead' and j.finished_at > now() - interval '1 hour')::numeric
        / nullif(count(*) filter (
            where j.status in ('completed', 'dead') and j.finished_at > now() - interval '1 hour'
        ), 0),
        4
    ) as failure_rate_1h,
    -- share of their attempts that failed (a completed job failed attempts - 1 times first)
    round(
        (
            coalesce(sum(j.attempts) filter (where j.status = 'dead' and j.finished_at > now() - interval '1 hour'), 0)
            + coalesce(
                sum(j.attempts - 1) filter (where j.status = 'completed' and j.finished_at > now() - interval '1 hour'), 0
            )
        )::numeric
        / nullif(sum(j.attempts) filter (
            where j.status in ('completed', 'dead') and j.finished_at > now() - interval '1 hour'
        ), 0),
        4
    ) as attempt_failure_rate_1h
from salesflow.jobs as j
group by j.queue;

comment on view analytics.queue_depth is 'Jobs per queue and status, with how many pending ones are delayed.';
comment on view analytics.queue_health is
'Per queue: ready, delayed, running and dead jobs, the oldest pending job''s age, and last hour''s failure rates.';

-- Granted to nobody yet: an installation grants SELECT to its analysts' role.
revoke all on analytics.queue_depth, analytics.queue_health from public;
