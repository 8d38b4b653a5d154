-- The job queue's functions (DESIGN.md decision 5): enqueue, claim, heartbeat, finish, sweep.
-- Postgres owns the state machine; the worker (functions/worker.py) only calls these.
--
--   pending --claim--> running --complete--> completed (or pending once more, if rerun_requested)
--      ^                 |  \----fail, attempts left----> pending (run_after = now + backoff)
--      |                 |  \----fail, none left / permanent----> dead --retry_dead--> pending
--      +---sweep (lease expired) / release (worker stopping)
--   pending or running --cancel--> cancelled
--
-- Internal: executed by the worker's connection (the database owner). Nothing here is granted to
-- anon, authenticated or service_role (90_grants.sql revokes PUBLIC's EXECUTE); an app enqueues
-- through a trigger whose function is security definer, in the same transaction as its change.

-- Wake-ups: NOTIFY on one channel per queue, 'salesflow_queue_' || queue, with the job id as the
-- whole payload, from every function that makes a job claimable now (enqueue, retry_dead, the
-- sweep, a release). NOTIFY is transactional: a rolled-back enqueue wakes nobody. It is a wake-up
-- only; workers poll as well, so a lost notification delays a job and never strands it.
-- (Functions rather than a trigger on jobs, so a plain INSERT into salesflow.jobs wakes nobody
-- until the next poll: enqueue through salesflow.enqueue.)

-- Enqueue one job; returns its id, or the id of the live (pending or running) job with the same
-- idempotency key. A key names one piece of work: at most one live job holds it (jobs_live_key).
-- While the holder is pending, a second enqueue is a no-op. While it runs, rerun_if_running says
-- whether the data may have changed after it read it: then the holder runs once more when it
-- completes (rerun_requested), else the second enqueue is a no-op too.
create or replace function salesflow.enqueue(
    kind text,
    payload jsonb default '{}',
    queue text default 'default',
    org_id uuid default null,
    priority integer default 0,
    run_after timestamptz default null,
    max_attempts integer default 5,
    idempotency_key text default null,
    rerun_if_running boolean default true
) returns bigint
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    job_id bigint;
begin
    if enqueue.kind is null or enqueue.kind !~ '^[a-z][a-z0-9_]{0,62}$' then
        raise sqlstate '22023' using
            message = pg_catalog.format('job kind %L is not a valid name', enqueue.kind),
            hint = 'Kinds are lower-case letters, digits and _, starting with a letter, as the handler modules are.';
    end if;
    if enqueue.queue is null or enqueue.queue !~ '^[a-z][a-z0-9_]{0,39}$' then
        raise sqlstate '22023' using
            message = pg_catalog.format('queue name %L is not valid', enqueue.queue),
            hint = 'Queue names are lower-case letters, digits and _, at most 40, starting with a letter.';
    end if;
    loop
        insert into salesflow.jobs as j (
            queue, kind, payload, org_id, priority, run_after, max_attempts, idempotency_key
        )
        values (
            enqueue.queue, enqueue.kind, coalesce(enqueue.payload, '{}'), enqueue.org_id,
            enqueue.priority, coalesce(enqueue.run_after, pg_catalog.now()), enqueue.max_attempts,
            enqueue.idempotency_key
        )
        on conflict (idempotency_key) where status in ('pending', 'running') and idempotency_key is not null
        do nothing
        returning j.id into job_id;
        if job_id is not null then
            if enqueue.run_after is null or enqueue.run_after <= pg_catalog.now() then
                perform pg_catalog.pg_notify('salesflow_queue_' || enqueue.queue, job_id::text);
            end if;
            return job_id;
        end if;
        -- the live holder; its row lock orders this against the holder's own completion
        update salesflow.jobs as j
        set rerun_requested = j.rerun_requested or (j.status = 'running' and enqueue.rerun_if_running)
        where j.idempotency_key = enqueue.idempotency_key and j.status in ('pending', 'running')
        returning j.id into job_id;
        if job_id is not null then
            return job_id;
        end if;
        -- the holder finished between the two statements: the key is free again, insert
    end loop;
end
$$;

comment on function salesflow.enqueue(text, jsonb, text, uuid, integer, timestamptz, integer, text, boolean) is
'Enqueue a job (payload: ids, not data). While a job with the same idempotency_key is pending or running, '
'a second enqueue returns that job''s id instead of queueing a twin; with rerun_if_running (the default) a '
'running holder runs once more after it completes. Keys are global, so prefix them with the kind '
'(embed_lead:<id>). Transactional: a rolled-back caller enqueues nothing.';

-- Claim up to batch_size due jobs from the given queues, highest priority first, and lease them.
-- SKIP LOCKED: concurrent claimers take different rows instead of queueing behind each other.
-- Per queue, an ordered scan of jobs_claim_idx that stops after batch_size rows; the outer sort
-- only merges those few candidates.
create or replace function salesflow.claim_jobs(
    worker text, queues text[], batch_size integer, lease interval
) returns table (
    id bigint, queue text, kind text, payload text, org_id uuid, attempt integer, max_attempts integer,
    lease_expires_at timestamptz
)
language sql
volatile
set search_path = ''
as $$
    with candidates as (
        select c.id
        from pg_catalog.unnest(claim_jobs.queues) as q (name)
        cross join lateral (
            select p.id, p.priority, p.run_after
            from salesflow.jobs as p
            where p.queue = q.name and p.status = 'pending' and p.run_after <= pg_catalog.now()
            order by p.priority desc, p.run_after asc, p.id asc
            limit claim_jobs.batch_size
            for update skip locked
        ) as c
        order by c.priority desc, c.run_after asc, c.id asc
        limit claim_jobs.batch_size
    )
    update salesflow.jobs as j
    set status = 'running',
        attempts = j.attempts + 1,
        worker = claim_jobs.worker,
        lease_expires_at = pg_catalog.now() + claim_jobs.lease,
        started_at = pg_catalog.now()
    from candidates as c
    -- by primary key only: naming status here would invite the planner, misled by statistics taken
    -- while the queue was empty, to scan every pending job through jobs_claim_idx for each candidate
    where j.id = c.id
    -- the payload as text: the worker checks its size and parses it straight into the handler's model
    returning j.id, j.queue, j.kind, j.payload::text, j.org_id, j.attempts, j.max_attempts, j.lease_expires_at
$$;

-- Extend the leases of the jobs this worker still holds; returns their ids, so the worker stops
-- handlers whose job was cancelled or taken back by the sweep.
create or replace function salesflow.heartbeat_jobs(worker text, job_ids bigint[], lease interval)
returns bigint[]
language sql
volatile
set search_path = ''
as $$
    with held as (
        update salesflow.jobs as j
        set lease_expires_at = pg_catalog.now() + heartbeat_jobs.lease
        where j.id = any(heartbeat_jobs.job_ids) and j.status = 'running' and j.worker = heartbeat_jobs.worker
        returning j.id
    )
    select coalesce(pg_catalog.array_agg(held.id), '{}') from held
$$;

-- Mark finished jobs completed, in one statement for a whole batch. (worker, attempt) fences a
-- stale finish: a job whose lease expired and was claimed again is left to its new holder. A job
-- asked for again while it ran (rerun_requested) goes back to pending once, with a fresh attempt
-- budget, keeping its idempotency key: no twin was queued, so none can collide.
-- last_error describes the job as it stands: a successful attempt clears it (an earlier attempt's
-- reason stays in the worker's log, "handler raised" with its traceback, and in llm_requests).
create or replace function salesflow.complete_jobs(worker text, job_ids bigint[], attempts integer[])
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    r record;
    finished integer := 0;
begin
    for r in
        update salesflow.jobs as j
        set status = case when j.rerun_requested then 'pending' else 'completed' end::salesflow.job_status,
            finished_at = case when j.rerun_requested then null else pg_catalog.now() end,
            attempts = case when j.rerun_requested then 0 else j.attempts end,
            run_after = case when j.rerun_requested then pg_catalog.now() else j.run_after end,
            rerun_requested = false,
            lease_expires_at = null,
            last_error = null
        from rows from (pg_catalog.unnest(complete_jobs.job_ids), pg_catalog.unnest(complete_jobs.attempts)) as f (id, attempt)
        where j.id = f.id and j.attempts = f.attempt and j.status = 'running' and j.worker = complete_jobs.worker
        returning j.id, j.queue, j.status
    loop
        if r.status = 'pending' then
            perform pg_catalog.pg_notify('salesflow_queue_' || r.queue, r.id::text);
        end if;
        finished := finished + 1;
    end loop;
    return finished;
end
$$;

-- Exponential backoff with jitter: attempt n waits between half and all of min(cap, base * 2^(n-1)).
-- The random half spreads out jobs that failed together (a provider outage) so that they do not
-- come back together; the fixed half guarantees the delay still grows with every attempt.
create or replace function salesflow.retry_delay(attempt integer, base interval, cap interval)
returns interval
language sql
volatile
set search_path = ''
as $$
    select pg_catalog.make_interval(secs => d.seconds * (0.5 + 0.5 * pg_catalog.random()))
    from (
        select least(
            extract(epoch from retry_delay.cap)::double precision,
            extract(epoch from retry_delay.base)::double precision
            * pg_catalog.power(2, least(greatest(retry_delay.attempt, 1) - 1, 60))
        ) as seconds
    ) as d
$$;

-- Record a failed attempt: back to pending after a backoff (or at retry_at, e.g. a provider's
-- Retry-After), or dead when attempts are used up or the error is not retryable. Returns the new
-- status, or null when this worker no longer holds the job.
create or replace function salesflow.fail_job(
    worker text,
    job_id bigint,
    attempt integer,
    error text,
    retryable boolean default true,
    retry_at timestamptz default null,
    backoff_base interval default '10 seconds',
    backoff_cap interval default '1 hour'
) returns salesflow.job_status
language sql
volatile
set search_path = ''
as $$
    update salesflow.jobs as j
    set status = case
            when not fail_job.retryable or j.attempts >= j.max_attempts then 'dead' else 'pending'
        end::salesflow.job_status,
        run_after = case
            when not fail_job.retryable or j.attempts >= j.max_attempts then j.run_after
            else coalesce(
                fail_job.retry_at,
                pg_catalog.now() + salesflow.retry_delay(j.attempts, fail_job.backoff_base, fail_job.backoff_cap)
            )
        end,
        last_error = pg_catalog.left(coalesce(fail_job.error, 'failed without an error message'), 4000),
        lease_expires_at = null,
        -- a retry reads the data anew; a dead job is redriven by hand
        rerun_requested = false,
        finished_at = case
            when not fail_job.retryable or j.attempts >= j.max_attempts then pg_catalog.now()
        end
    where j.id = fail_job.job_id and j.attempts = fail_job.attempt and j.status = 'running'
      and j.worker = fail_job.worker
    returning j.status
$$;

-- Give jobs back without counting the attempt: a worker stopping before its handlers finished.
create or replace function salesflow.release_jobs(worker text, job_ids bigint[], attempts integer[])
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    r record;
    released integer := 0;
begin
    for r in
        update salesflow.jobs as j
        set status = 'pending', attempts = j.attempts - 1, lease_expires_at = null, run_after = pg_catalog.now(),
            rerun_requested = false
        from rows from (pg_catalog.unnest(release_jobs.job_ids), pg_catalog.unnest(release_jobs.attempts)) as g (id, attempt)
        where j.id = g.id and j.attempts = g.attempt and j.status = 'running' and j.worker = release_jobs.worker
        returning j.id, j.queue
    loop
        perform pg_catalog.pg_notify('salesflow_queue_' || r.queue, r.id::text);
        released := released + 1;
    end loop;
    return released;
end
$$;

-- Give back jobs this worker holds but does not know about: a claim whose answer was lost with
-- the connection. Called after reconnecting, so they wait for nobody's lease to expire.
create or replace function salesflow.release_unknown_jobs(worker text, known bigint[])
returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    r record;
    released integer := 0;
begin
    for r in
        update salesflow.jobs as j
        set status = 'pending', attempts = j.attempts - 1, lease_expires_at = null, run_after = pg_catalog.now(),
            rerun_requested = false
        where j.status = 'running' and j.worker = release_unknown_jobs.worker
          and j.id <> all(release_unknown_jobs.known)
        returning j.id, j.queue
    loop
        perform pg_catalog.pg_notify('salesflow_queue_' || r.queue, r.id::text);
        released := released + 1;
    end loop;
    return released;
end
$$;

-- Return running jobs whose lease expired (their worker died or lost the database) to the queue,
-- at once: the attempt is already counted, so a job that kills its workers still ends dead.
create or replace function salesflow.sweep_expired_leases() returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    r record;
    swept integer := 0;
begin
    for r in
        with expired as (
            select e.id from salesflow.jobs as e
            where e.status = 'running' and e.lease_expires_at < pg_catalog.now()
            order by e.lease_expires_at
            for update skip locked
        )
        update salesflow.jobs as j
        set status = case when j.attempts >= j.max_attempts then 'dead' else 'pending' end::salesflow.job_status,
            run_after = pg_catalog.now(),
            lease_expires_at = null,
            rerun_requested = false,
            finished_at = case when j.attempts >= j.max_attempts then pg_catalog.now() end,
            last_error = pg_catalog.format(
                'lease expired during attempt %s of %s: worker %s stopped without finishing the job',
                j.attempts, j.max_attempts, j.worker
            )
        from expired
        where j.id = expired.id
        returning j.id, j.queue, j.status
    loop
        if r.status = 'pending' then
            perform pg_catalog.pg_notify('salesflow_queue_' || r.queue, r.id::text);
        end if;
        swept := swept + 1;
    end loop;
    return swept;
end
$$;

-- Cancel pending or running jobs; a running handler is stopped at its worker's next heartbeat.
create or replace function salesflow.cancel_jobs(job_ids bigint[]) returns integer
language sql
volatile
set search_path = ''
as $$
    with cancelled as (
        update salesflow.jobs as j
        set status = 'cancelled', lease_expires_at = null, finished_at = pg_catalog.now(), rerun_requested = false
        where j.id = any(cancel_jobs.job_ids) and j.status in ('pending', 'running')
        returning 1
    )
    select count(*)::integer from cancelled
$$;

-- Redrive dead jobs (all, or those matching the filters) with a fresh attempt budget; the last
-- error stays until the next attempt overwrites it. A dead job whose idempotency key is held by a
-- live (pending or running) job stays dead: that job will do the work.
create or replace function salesflow.retry_dead(
    job_ids bigint[] default null, queue text default null, kind text default null
) returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    r record;
    retried integer := 0;
begin
    for r in
        with picked as (
            select distinct on (coalesce(d.idempotency_key, d.id::text)) d.id
            from salesflow.jobs as d
            where d.status = 'dead'
              and (retry_dead.job_ids is null or d.id = any(retry_dead.job_ids))
              and (retry_dead.queue is null or d.queue = retry_dead.queue)
              and (retry_dead.kind is null or d.kind = retry_dead.kind)
              and (d.idempotency_key is null or not exists (
                  select from salesflow.jobs as p
                  where p.idempotency_key = d.idempotency_key and p.status in ('pending', 'running')
              ))
            order by coalesce(d.idempotency_key, d.id::text), d.id desc
        )
        update salesflow.jobs as j
        set status = 'pending', attempts = 0, run_after = pg_catalog.now(), finished_at = null
        from picked
        where j.id = picked.id and j.status = 'dead'
        returning j.id, j.queue
    loop
        perform pg_catalog.pg_notify('salesflow_queue_' || r.queue, r.id::text);
        retried := retried + 1;
    end loop;
    return retried;
end
$$;

-- Delete finished jobs: completed and cancelled ones after a week, dead ones after a month.
create or replace function salesflow.purge_jobs(
    completed_older_than interval default '7 days', dead_older_than interval default '30 days'
) returns integer
language sql
volatile
set search_path = ''
as $$
    with purged as (
        delete from salesflow.jobs as j
        where (j.status in ('completed', 'cancelled') and j.finished_at < pg_catalog.now() - purge_jobs.completed_older_than)
           or (j.status = 'dead' and j.finished_at < pg_catalog.now() - purge_jobs.dead_older_than)
        returning 1
    )
    select count(*)::integer from purged
$$;

-- The queue tables are the worker's alone: RLS on with no policy, and no privileges, so no app
-- role (not even service_role, which bypasses RLS) reads or writes them directly.
alter table salesflow.jobs enable row level security;
alter table salesflow.job_schedules enable row level security;
revoke all on salesflow.jobs, salesflow.job_schedules from anon, authenticated, service_role;
