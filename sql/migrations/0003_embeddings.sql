-- 0003: semantic memory. Texts that carry meaning (messages; notes, calls, meetings and emails with
-- a body) get an embedding per model; search combines vector similarity, full-text rank and recency.
-- Functions, triggers and the search RPC live in sql/objects/50_embeddings.sql.

-- lets the full-text GIN index lead with org_id like every other tenant index
create extension if not exists btree_gin with schema extensions;

create type salesflow.embedding_source as enum ('message', 'activity');

create type salesflow.embedding_model_state as enum (
    'building', -- being filled for every existing text; search does not use it yet
    'active',   -- the model search uses; new texts are embedded with it (and with a building one)
    'retired'   -- replaced; its vectors are deleted once the replacement is active
);

-- Which model serves search. Switching is building -> active without downtime: the old model's
-- vectors keep serving until the new one has embedded every text.
create table salesflow.embedding_models (
    name text primary key check (name ~ '^[A-Za-z0-9._:/-]{1,200}$'),
    dimension integer not null check (dimension between 1 and 2000),
    state salesflow.embedding_model_state not null,
    created_at timestamptz not null default now(),
    activated_at timestamptz
);
create unique index embedding_models_one_active on salesflow.embedding_models ((true)) where state = 'active';
create unique index embedding_models_one_building on salesflow.embedding_models ((true)) where state = 'building';

-- The default: all-MiniLM-L6-v2, offline, from a wheel (DESIGN.md decision 8).
insert into salesflow.embedding_models (name, dimension, state, activated_at)
values ('all-MiniLM-L6-v2', 384, 'active', now());

-- Texts waiting for an embedding, one row per text and model (a vectorizer queue as in pgai).
-- A trigger upserts here in the same transaction as the text's change; the embed_texts job drains
-- it in batches, leasing rows with claimed_until so no lock is held during the model call.
create table salesflow.embedding_queue (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    source salesflow.embedding_source not null,
    source_id uuid not null,
    model text not null references salesflow.embedding_models (name) on delete cascade,
    -- bumped by every change of the text: a batch deletes its row only if no newer change came in
    queued_at timestamptz not null default clock_timestamp(),
    claimed_until timestamptz,
    attempts integer not null default 0 check (attempts >= 0),
    -- a text that cannot be embedded (the provider refuses it) stays here with the reason, out of the way
    failed_at timestamptz,
    last_error text check (length(last_error) <= 2000),
    primary key (org_id, source, source_id, model)
);
-- the batch claim: oldest unclaimed texts of one model, across organisations (the queue is not
-- distributed, like salesflow.jobs)
create index embedding_queue_claim_idx on salesflow.embedding_queue (model, queued_at) where failed_at is null;

create table salesflow.embeddings (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    source salesflow.embedding_source not null,
    source_id uuid not null,
    model text not null references salesflow.embedding_models (name) on delete cascade,
    dimension integer not null,
    -- copied from the source so that search filters without joining it
    lead_id uuid not null,
    channel salesflow.channel,
    occurred_at timestamptz not null,
    -- the text as embedded (for snippets), its hash (an unchanged text is not embedded again),
    -- and its words for full-text rank ('simple': German and English alike, no stemming)
    content text not null,
    content_hash text not null,
    fts tsvector not null,
    embedding extensions.vector not null,
    embedded_at timestamptz not null default now(),
    primary key (org_id, source, source_id, model),
    check (extensions.vector_dims(embedding) = dimension),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);
create index embeddings_fts_idx on salesflow.embeddings using gin (org_id, fts);
create index embeddings_lead_idx on salesflow.embeddings (org_id, lead_id, occurred_at desc);
create index embeddings_recent_idx on salesflow.embeddings (org_id, model, occurred_at desc);

-- One search result: where it comes from, what it says, and the parts of its score.
create type salesflow.memory_hit as (
    source salesflow.embedding_source,
    source_id uuid,
    lead_id uuid,
    channel salesflow.channel,
    occurred_at timestamptz,
    content text,
    score double precision,
    similarity double precision,
    text_rank double precision
);

-- The HNSW index is not created here: an empty table gains nothing from it, so the
-- maintain_embedding_index job builds it (CONCURRENTLY) once a model has 10,000 vectors.
insert into salesflow.job_schedules (name, kind, every, next_run_at)
values ('maintain_embedding_index', 'maintain_embedding_index', interval '15 minutes', now());
