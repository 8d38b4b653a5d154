-- 0007: an idempotency key covers a job while it is pending AND while it is running. Run once.
--
-- Before, the key was unique among pending jobs only: a second enqueue while the first job ran
-- inserted a pending twin, and then a retry, a lease sweep or a release of the running job (each
-- moves it back to pending) collided with that twin on jobs_pending_key, so the worker could not
-- record the outcome at all. Now one live (pending or running) job holds a key; moving a job
-- between pending and running never changes how many live jobs hold it, so nothing can collide.
-- An enqueue while the holder runs either returns the holder (the work is asked for once) or, for
-- callers whose data changed after the running job read it, sets rerun_requested so the holder
-- runs once more when it completes (sql/objects/40_queue.sql).

alter table salesflow.jobs
add column rerun_requested boolean not null default false;

comment on column salesflow.jobs.rerun_requested is
'Set by an enqueue with the same idempotency key while this job runs: on completion it goes back to pending '
'once, instead of a twin being queued.';

-- Jobs queued under the old rule: keep one live job per key, the running one (else the oldest
-- pending), and fold the others into it.
with live as (
    select
        j.id,
        j.idempotency_key,
        j.status,
        row_number() over (
            partition by j.idempotency_key
            order by (j.status = 'running') desc, j.started_at desc nulls last, j.id asc
        ) as n
    from salesflow.jobs as j
    where j.status in ('pending', 'running') and j.idempotency_key is not null
),

folded as (
    update salesflow.jobs as j
    set
        status = 'cancelled', lease_expires_at = null, finished_at = now(),
        last_error = 'folded into the live job with the same idempotency key (migration 0007)'
    from live
    where j.id = live.id and live.n > 1
    returning j.idempotency_key
)

update salesflow.jobs as j
set rerun_requested = true
from live
where
    j.id = live.id and live.n = 1 and live.status = 'running'
    and live.idempotency_key in (select folded.idempotency_key from folded);

drop index salesflow.jobs_pending_key;

-- One live job per key. Partial, so finished history keeps its keys without blocking new work.
create unique index jobs_live_key on salesflow.jobs (idempotency_key)
where status in ('pending', 'running') and idempotency_key is not null;

-- enqueue gains rerun_if_running (sql/objects/40_queue.sql); the old signature would stay as an
-- ambiguous overload
drop function if exists salesflow.enqueue(text, jsonb, text, uuid, integer, timestamptz, integer, text);
