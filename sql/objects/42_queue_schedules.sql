-- Periodic jobs: salesflow.job_schedules rows, enqueued by the worker (pg_cron is optional).
--
-- Semantics: every due time of a schedule is enqueued exactly once, however many workers call
-- enqueue_due_schedules at once: the schedule row is locked (SKIP LOCKED), its job inserted and
-- next_run_at advanced in one transaction, and jobs_schedule_key refuses a second job for the same
-- (schedule, due time) even if next_run_at is set back by hand. Due times missed while no worker
-- ran are coalesced into one job: after downtime a schedule catches up once, not once per miss.

-- One cron field as the sorted set of values it allows: *, N, N-M, each optionally /step
-- (N/step means N-max/step), separated by commas.
create or replace function salesflow.cron_field(field text, lo integer, hi integer) returns integer[]
language plpgsql
immutable
set search_path = ''
as $$
declare
    part text;
    m text[];
    first_value integer;
    last_value integer;
    step integer;
    allowed integer[] := '{}';
begin
    foreach part in array pg_catalog.string_to_array(field, ',') loop
        m := pg_catalog.regexp_match(part, '^(\*|(\d{1,2})(?:-(\d{1,2}))?)(?:/(\d{1,2}))?$');
        if m is null then
            raise sqlstate '22023' using
                message = pg_catalog.format('cron field %L: %L is not *, N or N-M, optionally followed by /step',
                                            field, part);
        end if;
        step := coalesce(m[4]::integer, 1);
        if m[1] = '*' then
            first_value := lo;
            last_value := hi;
        else
            first_value := m[2]::integer;
            last_value := coalesce(m[3]::integer, case when m[4] is null then first_value else hi end);
        end if;
        if first_value < lo or last_value > hi or first_value > last_value or step < 1 then
            raise sqlstate '22023' using
                message = pg_catalog.format('cron field %L: %L is outside %s-%s', field, part, lo, hi);
        end if;
        allowed := allowed || array(select pg_catalog.generate_series(first_value, last_value, step));
    end loop;
    return array(select distinct v from pg_catalog.unnest(allowed) as v order by v);
end
$$;

-- The first time after `after` that matches a 5-field cron spec (minute hour day-of-month month
-- day-of-week, Sunday = 0 or 7) read in time zone `tz`, or one of @hourly @daily @weekly @monthly
-- @yearly. As in Vixie cron, when both day fields are restricted a day matching either one runs.
create or replace function salesflow.next_cron_time(spec text, after timestamptz, tz text default 'UTC')
returns timestamptz
language plpgsql
stable
set search_path = ''
as $$
declare
    expanded text := case pg_catalog.lower(pg_catalog.btrim(spec))
        when '@hourly' then '0 * * * *'
        when '@daily' then '0 0 * * *'
        when '@midnight' then '0 0 * * *'
        when '@weekly' then '0 0 * * 0'
        when '@monthly' then '0 0 1 * *'
        when '@yearly' then '0 0 1 1 *'
        when '@annually' then '0 0 1 1 *'
        else pg_catalog.btrim(spec)
    end;
    fields text[] := pg_catalog.regexp_split_to_array(expanded, '\s+');
    minutes integer[];
    hours integer[];
    days integer[];
    months integer[];
    weekdays integer[];
    any_day boolean;
    any_weekday boolean;
    local_start timestamp;
    this_day date;
    h integer;
    mi integer;
    candidate timestamptz;
begin
    if pg_catalog.array_length(fields, 1) is distinct from 5 then
        raise sqlstate '22023' using
            message = pg_catalog.format('cron spec %L needs 5 fields: minute hour day-of-month month day-of-week', spec);
    end if;
    minutes := salesflow.cron_field(fields[1], 0, 59);
    hours := salesflow.cron_field(fields[2], 0, 23);
    days := salesflow.cron_field(fields[3], 1, 31);
    months := salesflow.cron_field(fields[4], 1, 12);
    weekdays := array(
        select distinct v % 7 from pg_catalog.unnest(salesflow.cron_field(fields[5], 0, 7)) as v order by 1
    );
    any_day := pg_catalog.left(fields[3], 1) = '*';
    any_weekday := pg_catalog.left(fields[5], 1) = '*';
    -- wall-clock time in tz, from the next whole minute
    local_start := pg_catalog.date_trunc('minute', after at time zone tz) + interval '1 minute';
    this_day := local_start::date;
    -- a spec that matches at all matches within 8 years (29 February in a century year)
    for i in 1..2930 loop
        -- (parenthesised: plpgsql would read the CASE's first THEN as the IF's)
        if extract(month from this_day)::integer = any(months) and (case
            when any_day and any_weekday then true
            when any_day then extract(dow from this_day)::integer = any(weekdays)
            when any_weekday then extract(day from this_day)::integer = any(days)
            else extract(day from this_day)::integer = any(days) or extract(dow from this_day)::integer = any(weekdays)
        end) then
            foreach h in array hours loop
                foreach mi in array minutes loop
                    candidate := (this_day + pg_catalog.make_time(h, mi, 0)) at time zone tz;
                    -- the local_start check skips earlier minutes of the first day; the > after
                    -- check, times that a daylight-saving change maps back before `after`
                    if this_day + pg_catalog.make_time(h, mi, 0) >= local_start and candidate > after then
                        return candidate;
                    end if;
                end loop;
            end loop;
        end if;
        this_day := this_day + 1;
    end loop;
    raise sqlstate '22023' using message = pg_catalog.format('cron spec %L never matches a date', spec);
end
$$;

-- The first time anchor + k * every (k >= 0) after `after`: an interval schedule keeps its grid.
create or replace function salesflow.next_interval_time(anchor timestamptz, every interval, after timestamptz)
returns timestamptz
language sql
stable
set search_path = ''
as $$
    select case
        when next_interval_time.anchor > next_interval_time.after then next_interval_time.anchor
        else next_interval_time.anchor + next_interval_time.every * (
            pg_catalog.floor(
                extract(epoch from next_interval_time.after - next_interval_time.anchor)
                / extract(epoch from next_interval_time.every)
            ) + 1
        )::double precision
    end
$$;

-- Create or replace a schedule by name; give exactly one of `every` and `cron`. The spec and zone
-- are checked here. A new schedule, or one whose spec changed or that is enabled again, is next due
-- at its next cron time (an interval schedule: now); otherwise it keeps its place.
-- Write schedules through this function: a plain INSERT must compute next_run_at itself.
create or replace function salesflow.schedule_job(
    name text,
    kind text,
    every interval default null,
    cron text default null,
    payload jsonb default '{}',
    queue text default 'default',
    priority integer default 0,
    max_attempts integer default 5,
    timezone text default 'UTC',
    enabled boolean default true,
    org_id uuid default null
) returns salesflow.job_schedules
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    first_run timestamptz := pg_catalog.now();
    saved salesflow.job_schedules;
begin
    if (schedule_job.every is null) = (schedule_job.cron is null) then
        raise sqlstate '22023' using
            message = pg_catalog.format('schedule %L needs exactly one of every and cron', schedule_job.name);
    end if;
    -- an unknown zone fails here, a malformed spec in next_cron_time, each with its own message
    perform pg_catalog.now() at time zone schedule_job.timezone;
    if schedule_job.cron is not null then
        first_run := salesflow.next_cron_time(schedule_job.cron, pg_catalog.now(), schedule_job.timezone);
    end if;
    insert into salesflow.job_schedules as s (
        name, kind, every, cron, payload, queue, priority, max_attempts, timezone, enabled, org_id, next_run_at
    )
    values (
        schedule_job.name, schedule_job.kind, schedule_job.every, schedule_job.cron,
        coalesce(schedule_job.payload, '{}'), schedule_job.queue, schedule_job.priority,
        schedule_job.max_attempts, schedule_job.timezone, schedule_job.enabled, schedule_job.org_id, first_run
    )
    on conflict (name) do update
    set kind = excluded.kind, every = excluded.every, cron = excluded.cron, payload = excluded.payload,
        queue = excluded.queue, priority = excluded.priority, max_attempts = excluded.max_attempts,
        timezone = excluded.timezone, enabled = excluded.enabled, org_id = excluded.org_id,
        next_run_at = case
            when s.cron is distinct from excluded.cron or s.every is distinct from excluded.every
                 or s.timezone is distinct from excluded.timezone or (excluded.enabled and not s.enabled)
                then excluded.next_run_at
            else s.next_run_at
        end,
        updated_at = pg_catalog.now()
    returning s.* into saved;
    return saved;
end
$$;

-- Enqueue one job for every enabled schedule that is due, and advance each past now.
-- Returns the number of jobs enqueued. The worker calls it every few seconds.
create or replace function salesflow.enqueue_due_schedules() returns integer
language plpgsql
volatile
set search_path = ''
as $$
declare
    s salesflow.job_schedules;
    job_id bigint;
    enqueued integer := 0;
begin
    for s in
        select * from salesflow.job_schedules as d
        where d.enabled and d.next_run_at <= pg_catalog.now()
        order by d.next_run_at
        for update skip locked
    loop
        job_id := null;
        insert into salesflow.jobs as j (queue, kind, payload, org_id, priority, max_attempts, schedule, scheduled_for)
        values (s.queue, s.kind, s.payload, s.org_id, s.priority, s.max_attempts, s.name, s.next_run_at)
        on conflict do nothing
        returning j.id into job_id;
        if job_id is not null then
            perform pg_catalog.pg_notify('salesflow_queue_' || s.queue, job_id::text);
            enqueued := enqueued + 1;
        end if;
        update salesflow.job_schedules as u
        set last_run_at = s.next_run_at,
            last_job_id = coalesce(job_id, u.last_job_id),
            next_run_at = case
                when s.cron is not null then salesflow.next_cron_time(s.cron, pg_catalog.now(), s.timezone)
                else salesflow.next_interval_time(s.next_run_at, s.every, pg_catalog.now())
            end
        where u.name = s.name;
    end loop;
    return enqueued;
end
$$;
