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
    for m in
        select em.name from salesflow.embedding_models as em where em.state in ('active', 'building')
    loop
        insert into salesflow.embedding_queue as q (org_id, source, source_id, model)
        select u.o, text_source, u.i, m.name from unnest(org_ids, ids) as u (o, i)
        on conflict (org_id, source, source_id, model) do update
        set queued_at = pg_catalog.clock_timestamp(), claimed_until = null, attempts = 0,
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
    insert into salesflow.embedding_queue (org_id, source, source_id, model)
    select t.org_id, t.source, t.source_id, switch_embedding_model.name
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

-- Hybrid search over an organisation's memory. Scores combine, with weights that sum to 1:
--   0.70 x cosine similarity to the query vector (when one is given),
--   0.20 x full-text rank of the query words, squashed into [0, 1) by ts_rank_cd's flag 32,
--   0.10 x recency, exp(-age / 90 days), so that of two equally good hits the fresher wins.
-- Candidates are the best 4k by vector distance plus the best 4k by text rank, then re-scored.
create or replace function api.search_memory(
    org_id uuid,
    query_embedding extensions.vector default null,
    query_text text default null,
    lead_id uuid default null,
    channel salesflow.channel default null,
    since timestamptz default null,
    until timestamptz default null,
    k integer default 10
)
returns setof salesflow.memory_hit
language plpgsql
stable
set search_path = ''
as $$
declare
    model_name text;
    dims integer;
    tsq tsquery;
    vector_part text := 'select null::salesflow.embedding_source as source, null::uuid as source_id where false';
    text_part text := vector_part;
begin
    if search_memory.k is null or search_memory.k not between 1 and 100 then
        raise sqlstate '22023' using message = pg_catalog.format('k must be between 1 and 100, got %s', search_memory.k);
    end if;
    if search_memory.query_embedding is null and nullif(pg_catalog.btrim(search_memory.query_text), '') is null then
        raise sqlstate '22023' using message = 'give query_embedding, query_text or both';
    end if;
    select m.name, m.dimension into model_name, dims from salesflow.active_embedding_model() as m;
    if search_memory.query_embedding is not null
       and extensions.vector_dims(search_memory.query_embedding) <> dims then
        raise sqlstate '22023' using
            message = pg_catalog.format(
                'query_embedding has %s dimensions; the active model %s has %s',
                extensions.vector_dims(search_memory.query_embedding), model_name, dims
            );
    end if;
    tsq := pg_catalog.websearch_to_tsquery('simple', coalesce(search_memory.query_text, ''));
    -- filtered HNSW scans keep going until enough rows pass the filters (pgvector >= 0.8); local to
    -- the caller's transaction (one per request behind the gateway or PostgREST)
    perform pg_catalog.set_config('hnsw.iterative_scan', 'relaxed_order', true);
    perform pg_catalog.set_config('hnsw.ef_search', '200', true);
    if search_memory.query_embedding is not null then
        -- literal model and dimension, so the planner can match the model's partial HNSW index
        vector_part := pg_catalog.format(
            $q$select e.source, e.source_id from salesflow.embeddings as e
               where e.org_id = $1 and e.model = %L
                 and ($3 is null or e.lead_id = $3) and ($4 is null or e.channel = $4)
                 and ($5 is null or e.occurred_at >= $5) and ($6 is null or e.occurred_at < $6)
               order by e.embedding::extensions.vector(%s) operator(extensions.<=>) $2::extensions.vector(%s)
               limit $7 * 4$q$,
            model_name, dims, dims
        );
    end if;
    -- the text branch only when there are words to match: an empty tsquery matches nothing, but
    -- the planner would still visit every row of the organisation to find that out
    if pg_catalog.numnode(tsq) > 0 then
        text_part := pg_catalog.format(
            $q$select e.source, e.source_id from salesflow.embeddings as e
               where e.org_id = $1 and e.model = %L and e.fts @@ $8
                 and ($3 is null or e.lead_id = $3) and ($4 is null or e.channel = $4)
                 and ($5 is null or e.occurred_at >= $5) and ($6 is null or e.occurred_at < $6)
               order by pg_catalog.ts_rank_cd(e.fts, $8, 32) desc limit $7 * 4$q$,
            model_name
        );
    end if;
    return query execute pg_catalog.format(
        $q$with by_vector as (%s),
        by_text as (%s),
        candidates as (select * from by_vector union select * from by_text)
        select e.source, e.source_id, e.lead_id, e.channel, e.occurred_at, e.content,
               0.70 * coalesce(s.similarity, 0) + 0.20 * s.text_rank
               + 0.10 * exp(-greatest(extract(epoch from now() - e.occurred_at), 0) / (90 * 86400.0)),
               s.similarity, s.text_rank
        from candidates as c
        join salesflow.embeddings as e
            on e.org_id = $1 and e.model = %L and e.source = c.source and e.source_id = c.source_id
        cross join lateral (
            select 1 - (e.embedding operator(extensions.<=>) $2) as similarity,
                   pg_catalog.ts_rank_cd(e.fts, $8, 32)::double precision as text_rank
        ) as s
        order by 7 desc, e.occurred_at desc
        limit $7$q$,
        vector_part, text_part, model_name
    )
    using search_memory.org_id, search_memory.query_embedding, search_memory.lead_id, search_memory.channel,
        search_memory.since, search_memory.until, search_memory.k, tsq;
end
$$;

comment on function api.search_memory(
    uuid, extensions.vector, text, uuid, salesflow.channel, timestamptz, timestamptz, integer
) is
'Search an organisation''s conversations and notes: vector similarity to query_embedding (of the active '
'model, see POST /api/search to embed text), full-text rank of query_text and recency, filtered by lead, '
'channel and a sent/occurred time range. Returns the k best with their score parts.';

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
        fts, embedding
    )
    select
        t.org_id, t.source, t.source_id, store_embeddings.model, dims, t.lead_id, t.channel, t.occurred_at,
        t.content, u.h, pg_catalog.to_tsvector('simple', t.content), u.v::extensions.vector
    from unnest(
        store_embeddings.org_ids, store_embeddings.sources, store_embeddings.source_ids,
        store_embeddings.hashes, store_embeddings.vectors
    ) as u (o, s, i, h, v)
    cross join lateral salesflow.embeddable_text(u.s, u.o, u.i) as t
    where pg_catalog.md5(t.content) = u.h
    on conflict on constraint embeddings_pkey do update
    set dimension = excluded.dimension, lead_id = excluded.lead_id, channel = excluded.channel,
        occurred_at = excluded.occurred_at, content = excluded.content, content_hash = excluded.content_hash,
        fts = excluded.fts, embedding = excluded.embedding, embedded_at = pg_catalog.now();
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
