-- Memory search: a keyword ranking of its own (BM25 over the texts' words, findable at insert), a
-- vector ranking (the active model's embeddings), fused by reciprocal rank. No weights to tune:
-- each ranking contributes 1 / (60 + rank), the constant of Cormack et al. (2009).

-- BM25 (k1 = 1.2, b = 0.75) of an organisation's texts for the words of `words`, any of them
-- (OR semantics: a natural-language question matches on its content words; stop words of German
-- and English are dropped by the salesflow.search_words configuration). Document frequencies are
-- counted per organisation, capped at 10,000 (a word that common weighs almost nothing anyway).
-- Candidates come from the rarest words first, until 10,000 texts are gathered: a text that holds
-- only the commonest words of the question cannot outrank one that holds a rare one, so the common
-- words only score the candidates (the max-score idea of Turtle and Flood). A question made only
-- of very common words scores the first 10,000 texts that hold its rarest one. Within one lead
-- (lead_id given) the lead's conversation is the corpus, read whole from its index.
create or replace function salesflow.keyword_hits(
    org_id uuid,
    words text,
    lead_id uuid default null,
    channel salesflow.channel default null,
    since timestamptz default null,
    until timestamptz default null,
    n integer default 50
)
returns table (hit_source salesflow.embedding_source, hit_id uuid, bm25 double precision)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    cap constant integer := 10000;
    terms text[];
    idfs double precision[] := '{}';
    picked tsquery;
    gathered bigint := 0;
    total bigint;
    avg_len double precision;
    r record;
begin
    select pg_catalog.array_agg(u.lexeme) into terms
    from (
        select v.lexeme from pg_catalog.unnest(pg_catalog.to_tsvector('salesflow.search_words', coalesce(keyword_hits.words, ''))) as v
        limit 32
    ) as u;
    if terms is null then
        return;
    end if;
    if keyword_hits.lead_id is not null then
        -- one lead's conversation is the corpus: its texts come from the lead's index, and the
        -- document frequencies and lengths are counted among them (BM25 over that conversation)
        select pg_catalog.string_agg(
            '''' || pg_catalog.replace(pg_catalog.replace(t, '\', '\\'), '''', '''''') || '''', ' | ')::tsquery
        into picked
        from pg_catalog.unnest(terms) as t;
        return query
        with docs as (
            (
                select 'message'::salesflow.embedding_source as s, m.id, m.search_words as w
                from salesflow.messages as m
                where m.org_id = keyword_hits.org_id and m.lead_id = keyword_hits.lead_id
                  and (keyword_hits.channel is null or m.channel = keyword_hits.channel)
                  and (keyword_hits.since is null or m.sent_at >= keyword_hits.since)
                  and (keyword_hits.until is null or m.sent_at < keyword_hits.until)
                limit 50000
            )
            union all
            (
                select 'activity'::salesflow.embedding_source, a.id, a.search_words
                from salesflow.activities as a
                where a.org_id = keyword_hits.org_id and a.lead_id = keyword_hits.lead_id
                  and keyword_hits.channel is null
                  and (keyword_hits.since is null or a.occurred_at >= keyword_hits.since)
                  and (keyword_hits.until is null or a.occurred_at < keyword_hits.until)
                limit 50000
            )
        ),
        corpus as (
            select count(*)::double precision as n, greatest(pg_catalog.avg(pg_catalog.length(d.w)), 1) as avg_len
            from docs as d
        ),
        tf as (
            select d.s, d.id, pg_catalog.length(d.w) as len, v.lexeme,
                   coalesce(pg_catalog.cardinality(v.positions), 1)::double precision as tf
            from docs as d
            cross join lateral pg_catalog.unnest(d.w) as v
            where d.w operator(pg_catalog.@@) picked and v.lexeme = any(terms)
        ),
        df as (select f.lexeme, count(*)::double precision as df from tf as f group by f.lexeme)
        select f.s, f.id, pg_catalog.sum(
            pg_catalog.ln(1 + (c.n - d.df + 0.5) / (d.df + 0.5))
            * f.tf * 2.2 / (f.tf + 1.2 * (0.25 + 0.75 * f.len / c.avg_len))
        )::double precision as score
        from tf as f
        join df as d on d.lexeme = f.lexeme
        cross join corpus as c
        group by f.s, f.id
        order by score desc, f.id
        limit keyword_hits.n;
        return;
    end if;
    select
        (select count(*) from (select from salesflow.messages as m where m.org_id = keyword_hits.org_id limit 100000) as x)
        + (select count(*) from (
            select from salesflow.activities as a where a.org_id = keyword_hits.org_id and a.lead_id is not null limit 100000
        ) as y)
    into total;
    select coalesce(pg_catalog.avg(pg_catalog.length(s.search_words)), 1) into avg_len
    from (
        select m.search_words from salesflow.messages as m where m.org_id = keyword_hits.org_id
        order by m.sent_at desc limit 1000
    ) as s;
    terms := '{}';
    for r in
        select d.term, d.q, d.df from (
            select t.term, t.q,
                (select count(*) from (
                    select from salesflow.messages as m
                    where m.org_id = keyword_hits.org_id and m.search_words operator(pg_catalog.@@) t.q limit cap
                ) as x)
                + (select count(*) from (
                    select from salesflow.activities as a
                    where a.org_id = keyword_hits.org_id and a.lead_id is not null
                      and a.search_words operator(pg_catalog.@@) t.q limit cap
                ) as y) as df
            from (
                select v.lexeme as term,
                    -- the lexeme quoted as one tsquery operand (it may hold '-', ':' or quotes)
                    ('''' || pg_catalog.replace(pg_catalog.replace(v.lexeme, '\', '\\'), '''', '''''') || '''')::tsquery as q
                from pg_catalog.unnest(pg_catalog.to_tsvector('salesflow.search_words', keyword_hits.words)) as v
                limit 32
            ) as t
        ) as d
        where d.df > 0
        order by d.df, d.term
    loop
        terms := terms || r.term;
        idfs := idfs || pg_catalog.ln(1 + (greatest(total, r.df) - r.df + 0.5) / (r.df + 0.5));
        if picked is null or gathered + r.df <= cap then
            picked := case when picked is null then r.q else picked operator(pg_catalog.||) r.q end;
            gathered := gathered + r.df;
        end if;
    end loop;
    if picked is null then
        return;
    end if;
    return query
    with candidates as (
        (
            select 'message'::salesflow.embedding_source as s, m.id, m.search_words as w
            from salesflow.messages as m
            where m.org_id = keyword_hits.org_id and m.search_words operator(pg_catalog.@@) picked
              and (keyword_hits.lead_id is null or m.lead_id = keyword_hits.lead_id)
              and (keyword_hits.channel is null or m.channel = keyword_hits.channel)
              and (keyword_hits.since is null or m.sent_at >= keyword_hits.since)
              and (keyword_hits.until is null or m.sent_at < keyword_hits.until)
            limit cap
        )
        union all
        (
            select 'activity'::salesflow.embedding_source, a.id, a.search_words
            from salesflow.activities as a
            where a.org_id = keyword_hits.org_id and a.lead_id is not null
              and a.search_words operator(pg_catalog.@@) picked
              and keyword_hits.channel is null
              and (keyword_hits.lead_id is null or a.lead_id = keyword_hits.lead_id)
              and (keyword_hits.since is null or a.occurred_at >= keyword_hits.since)
              and (keyword_hits.until is null or a.occurred_at < keyword_hits.until)
            limit cap
        )
    )
    select c.s, c.id, pg_catalog.sum(
        t.idf * u.tf * 2.2 / (u.tf + 1.2 * (0.25 + 0.75 * pg_catalog.length(c.w) / avg_len))
    )::double precision as score
    from candidates as c
    cross join lateral (
        select v.lexeme, coalesce(pg_catalog.cardinality(v.positions), 1)::double precision as tf
        from pg_catalog.unnest(c.w) as v
    ) as u
    join rows from (pg_catalog.unnest(terms), pg_catalog.unnest(idfs)) as t (term, idf) on t.term = u.lexeme
    group by c.s, c.id
    order by score desc, c.id
    limit keyword_hits.n;
end
$$;

comment on function salesflow.keyword_hits(
    uuid, text, uuid, salesflow.channel, timestamptz, timestamptz, integer
) is
'BM25 ranking of an organisation''s messages and notes for any of the words given (German and English stop '
'words dropped); runs as the caller, so RLS decides what it reads.';

create or replace function api.search_memory(
    org_id uuid,
    query_embedding extensions.vector default null,
    query_text text default null,
    lead_id uuid default null,
    channel salesflow.channel default null,
    since timestamptz default null,
    until timestamptz default null,
    k integer default 10,
    keywords text default null,
    recency boolean default false
)
returns setof api.memory_hit
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    model_name text;
    dims integer;
    depth integer;
    vector_part text := 'select null::salesflow.embedding_source as s, null::uuid as id, '
        'null::double precision as similarity, null::bigint as vr where false';
begin
    if search_memory.k is null or search_memory.k not between 1 and 100 then
        raise sqlstate '22023' using message = pg_catalog.format('k must be between 1 and 100, got %s', search_memory.k);
    end if;
    if search_memory.query_embedding is null and nullif(pg_catalog.btrim(search_memory.query_text), '') is null
       and nullif(pg_catalog.btrim(search_memory.keywords), '') is null then
        raise sqlstate '22023' using message = 'give query_embedding, query_text or keywords';
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
    -- each ranking is read this deep before fusion: a text ranked low by one and high by the other
    -- must still be seen by both
    depth := greatest(search_memory.k * 5, 50);
    -- filtered HNSW scans keep going until enough rows pass the filters (pgvector >= 0.8); local to
    -- the caller's transaction (one per request behind the gateway or PostgREST)
    perform pg_catalog.set_config('hnsw.iterative_scan', 'relaxed_order', true);
    perform pg_catalog.set_config('hnsw.ef_search', '200', true);
    if search_memory.query_embedding is not null then
        -- literal model and dimension, so the planner can match the model's partial HNSW index
        vector_part := pg_catalog.format(
            $q$select v.source as s, v.source_id as id, 1 - v.d as similarity,
                      pg_catalog.row_number() over (order by v.d, v.source_id) as vr
               from (
                   select e.source, e.source_id,
                          e.embedding::extensions.vector(%s) operator(extensions.<=>) $2::extensions.vector(%s) as d
                   from salesflow.embeddings as e
                   where e.org_id = $1 and e.model = %L%s
                   order by e.embedding::extensions.vector(%s) operator(extensions.<=>) $2::extensions.vector(%s)
                   limit $8
               ) as v$q$,
            dims, dims, model_name,
            -- only the filters given: EXECUTE plans generically, and "$3 is null or ..." would hide
            -- the lead's index from the planner (a scan of the organisation's vectors instead)
            case when search_memory.lead_id is not null then ' and e.lead_id = $3' else '' end
            || case when search_memory.channel is not null then ' and e.channel = $4' else '' end
            || case when search_memory.since is not null then ' and e.occurred_at >= $5' else '' end
            || case when search_memory.until is not null then ' and e.occurred_at < $6' else '' end,
            dims, dims
        );
    end if;
    return query execute pg_catalog.format(
        $q$with by_vector as (%s),
        by_keyword as (
            select h.hit_source as s, h.hit_id as id, h.bm25,
                   pg_catalog.row_number() over (order by h.bm25 desc, h.hit_id) as kr
            from salesflow.keyword_hits($1, coalesce($9, $10), $3, $4, $5, $6, $8) as h
        ),
        fused as (
            select coalesce(v.s, w.s) as s, coalesce(v.id, w.id) as id, v.similarity, v.vr, w.bm25, w.kr
            from by_vector as v full join by_keyword as w on w.s = v.s and w.id = v.id
        ),
        found as (
            select f.*, coalesce(m.lead_id, a.lead_id) as lead_id, m.channel,
                   coalesce(m.sent_at, a.occurred_at) as occurred_at,
                   coalesce(coalesce(m.subject, a.subject) || e'\n', '') || coalesce(m.body, a.body) as content,
                   coalesce(m.direction, a.direction) as direction, coalesce(m.subject, a.subject) as subject,
                   m.external_id
            from fused as f
            left join salesflow.messages as m on f.s = 'message' and m.org_id = $1 and m.id = f.id
            left join salesflow.activities as a on f.s = 'activity' and a.org_id = $1 and a.id = f.id
            where coalesce(m.id, a.id) is not null
        ),
        scored as (
            select x.*,
                   coalesce(1.0 / (60 + x.vr), 0) + coalesce(1.0 / (60 + x.kr), 0)
                   -- recency, when asked for, is one more ranking to fuse, never a penalty
                   + case when $7 then 1.0 / (60 + pg_catalog.row_number() over (order by x.occurred_at desc, x.id))
                     else 0 end as score
            from found as x
        )
        select x.s, x.id, x.lead_id, x.channel, x.occurred_at, x.content, x.score::double precision,
               x.similarity, x.bm25, x.direction, x.subject, x.external_id, x.vr::integer, x.kr::integer
        from scored as x
        order by x.score desc, x.occurred_at desc, x.id
        limit $11$q$,
        vector_part
    )
    using search_memory.org_id, search_memory.query_embedding, search_memory.lead_id, search_memory.channel,
        search_memory.since, search_memory.until, coalesce(search_memory.recency, false), depth,
        nullif(pg_catalog.btrim(search_memory.keywords), ''), search_memory.query_text, search_memory.k;
end
$$;

comment on function api.search_memory(
    uuid, extensions.vector, text, uuid, salesflow.channel, timestamptz, timestamptz, integer, text, boolean
) is
'Search an organisation''s conversations and notes. Two rankings fused by reciprocal rank (1/(60+rank) each): '
'vector similarity to query_embedding (of the active model; POST /api/search embeds text) and BM25 over the '
'words of keywords (default: query_text), any of them, findable as soon as a text is stored. recency = true '
'fuses a third ranking, newest first; otherwise age only breaks ties. Filters: lead, channel, time range. '
'Hits carry direction, channel, subject, external id and each ranking''s position.';

revoke execute on function salesflow.keyword_hits(
    uuid, text, uuid, salesflow.channel, timestamptz, timestamptz, integer
) from public;
revoke execute on function api.search_memory(
    uuid, extensions.vector, text, uuid, salesflow.channel, timestamptz, timestamptz, integer, text, boolean
) from public;
grant execute on function salesflow.keyword_hits(
    uuid, text, uuid, salesflow.channel, timestamptz, timestamptz, integer
) to authenticated, service_role;
grant execute on function api.search_memory(
    uuid, extensions.vector, text, uuid, salesflow.channel, timestamptz, timestamptz, integer, text, boolean
) to authenticated, service_role;
