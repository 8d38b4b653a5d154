-- 0002: the job queue (DESIGN.md decision 5). Run once.
-- Functions (enqueue, claim, heartbeat, finish, sweep, schedules) live in sql/objects/40_queue.sql,
-- the analysts' views in sql/objects/41_queue_views.sql.
--
-- Neither table is a tenant table in the Citus sense: a claim must see every organisation's jobs
-- in one ordered index scan, and system jobs (purges, view refreshes) belong to no organisation,
-- so org_id is nullable and leads no index; the queue stays on the coordinator, as pgmq's and
-- procrastinate's tables would.

create type salesflow.job_status as enum (
    'pending',   -- waiting to run, not before run_after (new, retried after a failure, or returned by the sweep)
    'running',   -- claimed: a worker holds it until lease_expires_at and extends that by heartbeat
    'completed', -- the handler returned; kept for analytics until purged
    'dead',      -- failed max_attempts times, or failed in a way retrying cannot fix; last_error says why
    'cancelled'  -- an operator cancelled it before it finished; a running handler is stopped at its next heartbeat
);

-- Periodic jobs, run by the worker (pg_cron is optional). Declared before jobs, which points at it.
create table salesflow.job_schedules (
    name text primary key check (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    -- null for system schedules; a per-organisation schedule passes its org to every job it enqueues
    org_id uuid references salesflow.organizations (id) on delete cascade,
    kind text not null check (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    payload jsonb not null default '{}' check (jsonb_typeof(payload) = 'object'),
    queue text not null default 'default' check (queue ~ '^[a-z][a-z0-9_]{0,39}$'),
    priority smallint not null default 0 check (priority between -1000 and 1000),
    max_attempts integer not null default 5 check (max_attempts between 1 and 100),
    -- exactly one of: a fixed interval (due times are next_run_at + k * every) or a 5-field cron spec
    every interval check (every >= interval '1 second'),
    cron text check (length(cron) between 1 and 200),
    -- cron fields are read in this zone, so '0 9 * * 1-5' means 09:00 local time on weekdays
    timezone text not null default 'UTC',
    enabled boolean not null default true,
    -- the next due time; enqueueing it and advancing this happen in one transaction under a row lock
    next_run_at timestamptz not null,
    last_run_at timestamptz,
    last_job_id bigint,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check ((every is null) <> (cron is null))
);

create table salesflow.jobs (
    id bigint generated always as identity primary key,
    -- the NOTIFY channel is 'salesflow_queue_' || queue, and channel names stop at 63 bytes
    queue text not null default 'default' check (queue ~ '^[a-z][a-z0-9_]{0,39}$'),
    kind text not null check (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    -- ids, not data: a handler reads the current rows when it runs. The worker, not a constraint,
    -- refuses oversized payloads, so that a trigger's enqueue never fails the user's own write.
    payload jsonb not null default '{}' check (jsonb_typeof(payload) = 'object'),
    org_id uuid references salesflow.organizations (id) on delete cascade,
    -- higher runs first; 0 is normal
    priority smallint not null default 0 check (priority between -1000 and 1000),
    run_after timestamptz not null default now(),
    status salesflow.job_status not null default 'pending',
    -- attempts counts claims, so a worker killed mid-job uses up an attempt too: a job that crashes
    -- every worker that runs it ends dead instead of crashing them forever
    attempts integer not null default 0 check (attempts >= 0),
    max_attempts integer not null default 5 check (max_attempts between 1 and 100),
    -- a second enqueue with the same key while one is pending is a no-op (see jobs_pending_key)
    idempotency_key text check (length(idempotency_key) between 1 and 500),
    -- the worker that holds the job (running) or last held it; with attempts it fences stale finishes
    worker text check (length(worker) <= 200),
    lease_expires_at timestamptz,
    last_error text check (length(last_error) <= 4000),
    -- set on jobs enqueued by a schedule: which one, and for which due time
    schedule text references salesflow.job_schedules (name) on delete set null,
    scheduled_for timestamptz,
    created_at timestamptz not null default now(),
    started_at timestamptz,
    finished_at timestamptz,
    -- a lease exactly while running, so the sweep's index sees every running job
    check ((status = 'running') = (lease_expires_at is not null)),
    check (attempts <= max_attempts),
    check ((status in ('completed', 'dead', 'cancelled')) = (finished_at is not null))
);

-- Claim: the next due pending jobs of one queue in priority order, an ordered scan that stops at
-- the batch size. Partial, so completed history (most of the table) never slows a claim down.
create index jobs_claim_idx on salesflow.jobs (queue, priority desc, run_after, id) where status = 'pending';
-- Idempotency: one pending job per key; a running or finished twin does not block a new enqueue,
-- because the data may have changed after the running job read it.
create unique index jobs_pending_key on salesflow.jobs (idempotency_key)
where status = 'pending' and idempotency_key is not null;
-- The sweep: running jobs whose lease expired, oldest first.
create index jobs_lease_idx on salesflow.jobs (lease_expires_at) where status = 'running';
-- Finished jobs by status and time: purging old ones, listing the dead, failure rates per hour.
create index jobs_finished_idx on salesflow.jobs (status, finished_at) where finished_at is not null;
-- Exactly one job per schedule and due time, whatever the workers do; also the FK's index.
create unique index jobs_schedule_key on salesflow.jobs (schedule, scheduled_for) where schedule is not null;
-- Deleting an organisation cascades to its jobs; this finds them without a scan.
create index jobs_org_idx on salesflow.jobs (org_id) where org_id is not null;
-- Per-organisation schedules, for the same cascade.
create index job_schedules_org_idx on salesflow.job_schedules (org_id) where org_id is not null;

-- The queue table is rewritten constantly (every job is inserted, updated twice, then purged):
-- vacuum it after 2% rather than 20% of its rows changed, so dead index entries at the head of
-- jobs_claim_idx do not pile up under a busy queue.
alter table salesflow.jobs set (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05);

-- Housekeeping that every installation wants: drop finished jobs daily at 03:17 UTC.
insert into salesflow.job_schedules (name, kind, cron, next_run_at)
values ('purge_jobs', 'purge_jobs', '17 3 * * *', date_trunc('day', now(), 'UTC') + interval '1 day 3 hours 17 minutes');
