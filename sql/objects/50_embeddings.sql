-- Semantic memory: what gets embedded, the triggers that queue it, model switching, and search.

-- Every text that carries meaning, in the form that is embedded: messages, and activities with a
-- body (notes, call and meeting summaries, emails). The embed_texts job reads texts through this.
create or replace view salesflow.embeddable_texts
with (security_invoker = on) as
select
    m.org_id,
    'message'::salesflow.embedding_source as source,
    m.id as source_id,
    m.lead_id,
    m.channel,
    m.sent_at as occurred_at,
    coalesce(m.subject || e'\n', '') || m.body as content
from salesflow.messages as m
union all
select
    a.org_id,
    'activity'::salesflow.embedding_source as source,
    a.id as source_id,
    a.lead_id,
    null::salesflow.channel as channel,
    a.occurred_at,
    coalesce(a.subject || e'\n', '') || a.body as content
from salesflow.activities as a
where a.lead_id is not null and nullif(pg_catalog.btrim(a.body), '') is not null;

-- One text by its key, through the view's definition. A join with the view on (source, id) cannot
-- push the key into the union's branches and scans both tables; this call plans each branch as a
-- primary-key lookup (the branch of the other source is skipped by a one-time filter).
create or replace function salesflow.embeddable_text(
    source salesflow.embedding_source, org_id uuid, source_id uuid
) returns setof salesflow.embeddable_texts
language sql
stable
set search_path = ''
as $$
    select t.* from salesflow.embeddable_texts as t
    where t.source = embeddable_text.source and t.org_id = embeddable_text.org_id
      and t.source_id = embeddable_text.source_id
$$;

-- Queue texts for every model that is serving or being built, and wake the embed_texts job.
-- Statement-level, with transition tables: a COPY of a million activities costs one INSERT here,
-- not a million. security definer: app roles write messages, never the queue.
create or replace function salesflow.queue_embeddings() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    text_source salesflow.embedding_source := case tg_table_name when 'messages' then 'message' else 'activity' end;
    org_ids uuid[];
    ids uuid[];
    priority salesflow.embedding_priority := 'fresh';
    m record;
begin
    -- which rows now carry a text to embed (new, or with a changed text); the transition tables
    -- exist only for their own operation, hence two statements per table
    if tg_op = 'INSERT' and text_source = 'message' then
        select pg_catalog.array_agg(n.org_id), pg_catalog.array_agg(n.id) into org_ids, ids from new_rows as n;
    elsif tg_op = 'INSERT' then
        select pg_catalog.array_agg(n.org_id), pg_catalog.array_agg(n.id) into org_ids, ids
        from new_rows as n
        where n.lead_id is not null and nullif(pg_catalog.btrim(n.body), '') is not null;
    elsif text_source = 'message' then
        select pg_catalog.array_agg(n.org_id), pg_catalog.array_agg(n.id) into org_ids, ids
        from new_rows as n join old_rows as o on o.org_id = n.org_id and o.id = n.id
        where (o.body, o.subject) is distinct from (n.body, n.subject);
    else
        select pg_catalog.array_agg(n.org_id), pg_catalog.array_agg(n.id) into org_ids, ids
        from new_rows as n join old_rows as o on o.org_id = n.org_id and o.id = n.id
        where n.lead_id is not null and nullif(pg_catalog.btrim(n.body), '') is not null
          and (o.body, o.subject, o.lead_id) is distinct from (n.body, n.subject, n.lead_id);
        -- an activity whose body was emptied (or that lost its lead) carries no meaning any more
        delete from salesflow.embeddings as e
        using new_rows as n
        where e.org_id = n.org_id and e.source = 'activity' and e.source_id = n.id
          and (n.lead_id is null or nullif(pg_catalog.btrim(n.body), '') is null);
    end if;
    if ids is null then
        return null;
    end if;
    -- a statement of a few rows is a user or a webhook waiting for its text to be findable; a big
    -- one is an import or a load, embedded after them (100 rows: more than one
    -- conversation's turns or one batch of webhook deliveries)
    if pg_catalog.cardinality(ids) > 100 then
        priority := 'bulk';
    end if;
    for m in
        select em.name from salesflow.embedding_models as em where em.state in ('active', 'building')
    loop
        insert into salesflow.embedding_queue as q (org_id, source, source_id, model, priority)
        select u.o, text_source, u.i, m.name, priority from unnest(org_ids, ids) as u (o, i)
        on conflict (org_id, source, source_id, model) do update
        set queued_at = pg_catalog.clock_timestamp(), priority = excluded.priority, claimed_until = null, attempts = 0,
            failed_at = null, last_error = null;
        perform salesflow.enqueue(
            'embed_texts', pg_catalog.jsonb_build_object('model', m.name),
            idempotency_key => 'embed_texts:' || m.name
        );
    end loop;
    return null;
end
$$;

-- A deleted text takes its vectors and its queue rows with it, whatever deleted it (an RPC, a
-- cascade from its lead, an erasure request).
create or replace function salesflow.forget_embeddings() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    text_source salesflow.embedding_source := case tg_table_name when 'messages' then 'message' else 'activity' end;
begin
    delete from salesflow.embeddings as e
    using old_rows as o
    where e.org_id = o.org_id and e.source = text_source and e.source_id = o.id;
    delete from salesflow.embedding_queue as q
    using old_rows as o
    where q.org_id = o.org_id and q.source = text_source and q.source_id = o.id;
    return null;
end
$$;

create or replace trigger messages_queue_embeddings_insert after insert on salesflow.messages
referencing new table as new_rows
for each statement execute function salesflow.queue_embeddings();
create or replace trigger messages_queue_embeddings_update after update on salesflow.messages
referencing old table as old_rows new table as new_rows
for each statement execute function salesflow.queue_embeddings();
create or replace trigger messages_forget_embeddings after delete on salesflow.messages
referencing old table as old_rows
for each statement execute function salesflow.forget_embeddings();

create or replace trigger activities_queue_embeddings_insert after insert on salesflow.activities
referencing new table as new_rows
for each statement execute function salesflow.queue_embeddings();
create or replace trigger activities_queue_embeddings_update after update on salesflow.activities
referencing old table as old_rows new table as new_rows
for each statement execute function salesflow.queue_embeddings();
create or replace trigger activities_forget_embeddings after delete on salesflow.activities
referencing old table as old_rows
for each statement execute function salesflow.forget_embeddings();

-- The model search uses, for callers that may not read embedding_models themselves.
create or replace function salesflow.active_embedding_model(out name text, out dimension integer)
language sql
stable
security definer
set search_path = ''
as $$
    select m.name, m.dimension from salesflow.embedding_models as m where m.state = 'active'
$$;

-- Start building another model: every existing text is queued for it while the active model keeps
-- serving. The embed_texts job activates it once nothing is left to embed.
create or replace function salesflow.switch_embedding_model(name text, dimension integer) returns integer
language plpgsql
set search_path = ''
as $$
declare
    queued integer;
begin
    if exists (select from salesflow.embedding_models as m where m.name = switch_embedding_model.name) then
        raise sqlstate '22023' using
            message = pg_catalog.format('embedding model %s is already known', switch_embedding_model.name);
    end if;
    if exists (select from salesflow.embedding_models as m where m.state = 'building') then
        raise sqlstate '55000' using
            message = 'another embedding model is still being built; wait for it or delete it first';
    end if;
    insert into salesflow.embedding_models (name, dimension, state)
    values (switch_embedding_model.name, switch_embedding_model.dimension, 'building');
    insert into salesflow.embedding_queue (org_id, source, source_id, model, priority)
    select t.org_id, t.source, t.source_id, switch_embedding_model.name, 'backfill'
    from salesflow.embeddable_texts as t;
    get diagnostics queued = row_count;
    perform salesflow.enqueue(
        'embed_texts', pg_catalog.jsonb_build_object('model', switch_embedding_model.name),
        idempotency_key => 'embed_texts:' || switch_embedding_model.name
    );
    return queued;
end
$$;

comment on function salesflow.switch_embedding_model(text, integer) is
'Begin re-embedding every text with another model; search keeps using the active one until it is done.';

-- Make a building model active once every text has its vector; the old one's vectors are deleted.
-- Returns true when it switched.
create or replace function salesflow.finish_embedding_model(name text) returns boolean
language plpgsql
set search_path = ''
as $$
begin
    perform from salesflow.embedding_models as m
    where m.name = finish_embedding_model.name and m.state = 'building'
    for update;
    if not found then
        return false;
    end if;
    if exists (select from salesflow.embedding_queue as q where q.model = finish_embedding_model.name) then
        return false;
    end if;
    update salesflow.embedding_models as m set state = 'retired' where m.state = 'active';
    update salesflow.embedding_models as m set state = 'active', activated_at = pg_catalog.now()
    where m.name = finish_embedding_model.name;
    delete from salesflow.embeddings as e
    using salesflow.embedding_models as m
    where m.state = 'retired' and e.model = m.name;
    delete from salesflow.embedding_queue as q
    using salesflow.embedding_models as m
    where m.state = 'retired' and q.model = m.name;
    return true;
end
$$;

-- Name of the partial HNSW index of one model (one index per model: dimensions differ).
create or replace function salesflow.embedding_index_name(model text) returns text
language sql
immutable
set search_path = ''
as $$
    select 'embeddings_hnsw_' || pg_catalog.left(pg_catalog.md5(embedding_index_name.model), 12)
$$;

-- Search (api.search_memory) lives in 51_memory_search.sql.

-- Store a batch of vectors computed by the embed_texts job, and take their texts off the queue.
-- A vector is stored only if its text is unchanged since it was read (the hash matches); a text
-- changed meanwhile keeps its newer queue row and is embedded again. The texts are locked (KEY
-- SHARE) first, so a concurrent delete waits for this transaction and then removes what it stored.
create or replace function salesflow.store_embeddings(
    model text,
    org_ids uuid[],
    sources salesflow.embedding_source[],
    source_ids uuid[],
    queued_ats timestamptz[],
    hashes text[],
    vectors text[]
) returns integer
language plpgsql
set search_path = ''
as $$
declare
    dims integer;
    stored integer;
begin
    select m.dimension into dims from salesflow.embedding_models as m where m.name = store_embeddings.model;
    perform from salesflow.messages as x
    join unnest(store_embeddings.org_ids, store_embeddings.sources, store_embeddings.source_ids) as u (o, s, i)
        on u.s = 'message' and x.org_id = u.o and x.id = u.i
    for key share of x;
    perform from salesflow.activities as x
    join unnest(store_embeddings.org_ids, store_embeddings.sources, store_embeddings.source_ids) as u (o, s, i)
        on u.s = 'activity' and x.org_id = u.o and x.id = u.i
    for key share of x;
    insert into salesflow.embeddings as e (
        org_id, source, source_id, model, dimension, lead_id, channel, occurred_at, content, content_hash,
        embedding
    )
    select
        t.org_id, t.source, t.source_id, store_embeddings.model, dims, t.lead_id, t.channel, t.occurred_at,
        t.content, u.h, u.v::extensions.vector
    from unnest(
        store_embeddings.org_ids, store_embeddings.sources, store_embeddings.source_ids,
        store_embeddings.hashes, store_embeddings.vectors
    ) as u (o, s, i, h, v)
    cross join lateral salesflow.embeddable_text(u.s, u.o, u.i) as t
    where pg_catalog.md5(t.content) = u.h
    on conflict on constraint embeddings_pkey do update
    set dimension = excluded.dimension, lead_id = excluded.lead_id, channel = excluded.channel,
        occurred_at = excluded.occurred_at, content = excluded.content, content_hash = excluded.content_hash,
        embedding = excluded.embedding, embedded_at = pg_catalog.now();
    get diagnostics stored = row_count;
    delete from salesflow.embedding_queue as q
    using unnest(
        store_embeddings.org_ids, store_embeddings.sources, store_embeddings.source_ids, store_embeddings.queued_ats
    ) as u (o, s, i, qa)
    where q.org_id = u.o and q.source = u.s and q.source_id = u.i and q.model = store_embeddings.model
      and q.queued_at = u.qa;
    return stored;
end
$$;
