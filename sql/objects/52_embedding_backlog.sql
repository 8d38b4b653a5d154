-- The embedding backlog, visible: how many texts wait for a vector, of which priority, since when.
-- Keyword search does not wait for it (51_memory_search.sql); semantic search does.

-- Members read their organisation's queue rows (counts only reach them through the RPC below).
drop policy if exists embedding_queue_select on salesflow.embedding_queue;
create policy embedding_queue_select on salesflow.embedding_queue for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
grant select on salesflow.embedding_queue to authenticated, service_role;

-- Across organisations for operators (salesflow up prints it); per organisation through RLS.
create or replace view salesflow.embedding_backlog
with (security_invoker = on) as
select
    q.org_id,
    q.model,
    count(*) filter (where q.failed_at is null) as pending,
    count(*) filter (where q.failed_at is null and q.priority = 'fresh') as pending_fresh,
    count(*) filter (where q.failed_at is not null) as failed,
    min(q.queued_at) filter (where q.failed_at is null) as oldest_queued_at
from salesflow.embedding_queue as q
group by q.org_id, q.model;

create or replace function api.embedding_backlog(org_id uuid)
returns table (
    model text, pending bigint, pending_fresh bigint, failed bigint, oldest_queued_at timestamptz,
    oldest_age_seconds double precision
)
language sql
stable
security invoker
set search_path = ''
as $$
    select b.model, b.pending, b.pending_fresh, b.failed, b.oldest_queued_at,
           extract(epoch from pg_catalog.now() - b.oldest_queued_at)::double precision
    from salesflow.embedding_backlog as b
    where b.org_id = embedding_backlog.org_id
    order by b.model
$$;
comment on function api.embedding_backlog(uuid) is
'Texts of the organisation waiting for an embedding, per model: pending (of which fresh: written by a user or '
'a webhook, embedded first), failed, and the oldest one''s age. Keyword search finds them already; semantic '
'search once pending is 0.';
revoke execute on function api.embedding_backlog(uuid) from public;
grant execute on function api.embedding_backlog(uuid) to authenticated, service_role;
grant select on salesflow.embedding_backlog to authenticated, service_role;
