-- Every query the Python side of the database layer runs, by name (procrastinate's layout).

-- name: bootstrap
-- The runner's own bookkeeping, created before any migration so that 0001 is recorded too.
create schema if not exists salesflow;
create table if not exists salesflow.schema_migrations (
    version integer primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
);
create table if not exists salesflow.schema_objects (
    checksum text primary key,
    files integer not null,
    applied_at timestamptz not null default now()
);

-- name: lock_migrations
-- One migrate at a time per database; released at commit.
select pg_advisory_xact_lock(hashtext('salesflow.migrate'));

-- name: bookkeeping_exists
select to_regclass('salesflow.schema_migrations') is not null as migrations,
       to_regclass('salesflow.schema_objects') is not null as objects;

-- name: applied_migrations
select version, name, checksum from salesflow.schema_migrations order by version;

-- name: record_migration
insert into salesflow.schema_migrations (version, name, checksum) values (%(version)s, %(name)s, %(checksum)s);

-- name: current_objects_checksum
select checksum from salesflow.schema_objects order by applied_at desc limit 1;

-- name: record_objects
insert into salesflow.schema_objects (checksum, files) values (%(checksum)s, %(files)s)
on conflict (checksum) do update set applied_at = now(), files = excluded.files;

-- name: embedding_backlog_total
-- The embedding backlog across organisations (salesflow up's progress line).
select coalesce(sum(b.pending), 0)::bigint, coalesce(sum(b.pending_fresh), 0)::bigint,
       coalesce(extract(epoch from now() - min(b.oldest_queued_at)), 0)::double precision
from salesflow.embedding_backlog as b;

-- name: catalog_facts
-- the SQL definitions Python repeats (salesflow/db/constants.py is generated from this)
select
    enum_range(null::salesflow.channel)::text [] as channels,
    enum_range(null::salesflow.job_status)::text [] as job_statuses,
    (
        select pg_get_constraintdef(c.oid)
        from pg_constraint as c
        inner join pg_attribute as a on a.attrelid = c.conrelid and a.attnum = any(c.conkey)
        where c.conrelid = 'salesflow.jobs'::regclass and c.contype = 'c' and a.attname = 'kind'
    ) as kind_check,
    (
        select pg_get_constraintdef(c.oid)
        from pg_constraint as c
        inner join pg_attribute as a on a.attrelid = c.conrelid and a.attnum = any(c.conkey)
        where c.conrelid = 'salesflow.jobs'::regclass and c.contype = 'c' and a.attname = 'queue'
    ) as queue_check;
