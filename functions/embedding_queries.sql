-- Queries of the embedding pipeline (functions/handlers/embed_texts.py, maintain_embedding_index.py).

-- name: model
select m.name, m.dimension, m.state::text from salesflow.embedding_models as m where m.name = %(model)s;

-- name: claim_texts
-- Lease the oldest unclaimed texts of one model and read them; the lease replaces a lock held
-- during the model call. Texts whose source is gone come back with content null.
with picked as (
    select q.org_id, q.source, q.source_id
    from salesflow.embedding_queue as q
    where q.model = %(model)s and q.failed_at is null and (q.claimed_until is null or q.claimed_until < now())
    -- what users and webhooks just wrote before imports and model backfills
    order by q.priority, q.queued_at
    limit %(batch)s
    for update skip locked
),
claimed as (
    update salesflow.embedding_queue as q
    set claimed_until = now() + %(lease)s * interval '1 second', attempts = q.attempts + 1
    from picked as p
    where q.org_id = p.org_id and q.source = p.source and q.source_id = p.source_id and q.model = %(model)s
    returning q.org_id, q.source, q.source_id, q.queued_at, q.attempts
)
select c.org_id, c.source::text as source, c.source_id, c.queued_at, c.attempts, t.content,
       md5(t.content) as content_hash, e.content_hash as stored_hash
from claimed as c
left join lateral salesflow.embeddable_text(c.source, c.org_id, c.source_id) as t on true
left join salesflow.embeddings as e
    on e.org_id = c.org_id and e.source = c.source and e.source_id = c.source_id and e.model = %(model)s;

-- name: store
select salesflow.store_embeddings(
    %(model)s, %(org_ids)s::uuid[], %(sources)s::salesflow.embedding_source[], %(source_ids)s::uuid[],
    %(queued_ats)s::timestamptz[], %(hashes)s::text[], %(vectors)s::text[]
);

-- name: drop_from_queue
-- Texts that need no (new) vector: their source is gone or their stored vector is current.
delete from salesflow.embedding_queue as q
using unnest(%(org_ids)s::uuid[], %(sources)s::salesflow.embedding_source[], %(source_ids)s::uuid[],
             %(queued_ats)s::timestamptz[]) as u (o, s, i, qa)
where q.org_id = u.o and q.source = u.s and q.source_id = u.i and q.model = %(model)s and q.queued_at = u.qa;

-- name: give_up
-- A text the model refuses: keep it on the queue, out of the way, with the reason.
update salesflow.embedding_queue as q
set failed_at = now(), last_error = left(%(error)s, 2000), claimed_until = null
where q.org_id = %(org_id)s and q.source = %(source)s::salesflow.embedding_source and q.source_id = %(source_id)s
  and q.model = %(model)s;

-- name: remaining
select count(*) from salesflow.embedding_queue as q where q.model = %(model)s and q.failed_at is null;

-- name: finish_model
select salesflow.finish_embedding_model(%(model)s);

-- name: continue
-- More texts than one run's time budget: leave a job for the rest (deduplicated by its key).
select salesflow.enqueue('embed_texts', jsonb_build_object('model', %(model)s::text),
                         idempotency_key => 'embed_texts:' || %(model)s::text);

-- name: index_candidates
-- Serving or building models with enough vectors for an HNSW index to pay off, and their index.
select m.name, m.dimension, salesflow.embedding_index_name(m.name) as index_name,
       to_regclass('salesflow.' || salesflow.embedding_index_name(m.name)) is not null as has_index,
       (select count(*) from salesflow.embeddings as e where e.model = m.name) as vectors
from salesflow.embedding_models as m
where m.state in ('active', 'building');

-- name: retired_indexes
select salesflow.embedding_index_name(m.name) as index_name
from salesflow.embedding_models as m
where m.state = 'retired' and to_regclass('salesflow.' || salesflow.embedding_index_name(m.name)) is not null;
