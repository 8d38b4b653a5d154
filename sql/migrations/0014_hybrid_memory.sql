-- 0014: memory that finds. Keyword search over the texts themselves (searchable the moment they are
-- committed, not once embedded), fresh texts embedded before a backlog, search hits that carry what
-- apps need, rolling conversation summaries, per-message sentiment. Functions live in
-- sql/objects/51_memory_search.sql .. 54_*.

-- Words for keyword search, German and English alike: lower-cased, no stemming (an English stemmer
-- mangles German words and the other way round), stop words of both languages removed (a question's
-- "what", "the", "und", "der" would otherwise match every text). The English list is consulted
-- first and passes every other word on (accept = false) to the German one, which keeps it.
-- (through execute: the SQL linter does not parse text search DDL)
do $$
begin
    execute 'create text search dictionary salesflow.english_stop_words '
        '(template = pg_catalog.simple, stopwords = english, accept = false)';
    execute 'create text search dictionary salesflow.german_stop_words '
        '(template = pg_catalog.simple, stopwords = german, accept = true)';
    execute 'create text search configuration salesflow.search_words (copy = pg_catalog.simple)';
    execute 'alter text search configuration salesflow.search_words alter mapping for asciiword, word, '
        'numword, asciihword, hword, numhword, hword_asciipart, hword_part, hword_numpart '
        'with salesflow.english_stop_words, salesflow.german_stop_words';
end
$$;

-- Generated at insert: a committed text is findable by keyword at once (GIN, led by org_id).
alter table salesflow.messages add column search_words tsvector generated always as (
    to_tsvector('salesflow.search_words'::regconfig, coalesce(subject || ' ', '') || body)
) stored;
create index messages_search_words_idx on salesflow.messages using gin (org_id, search_words);

alter table salesflow.activities add column search_words tsvector generated always as (
    to_tsvector('salesflow.search_words'::regconfig, coalesce(subject || ' ', '') || coalesce(body, ''))
) stored;
create index activities_search_words_idx on salesflow.activities using gin (org_id, search_words)
where lead_id is not null;

-- Keyword search reads the texts; the copy of their words beside the vectors is no longer used.
drop index salesflow.embeddings_fts_idx;
alter table salesflow.embeddings drop column fts;

-- Which texts are embedded first: what a user or a webhook just wrote before a backlog.
create type salesflow.embedding_priority as enum (
    'fresh',    -- written by a statement of a few rows (an RPC, a webhook): embedded first
    'bulk',     -- written by a large statement (an import, the demo's COPY)
    'backfill'  -- queued for a model being built (every existing text)
);
alter table salesflow.embedding_queue
add column priority salesflow.embedding_priority not null default 'fresh';
drop index salesflow.embedding_queue_claim_idx;
-- the batch claim: by priority, then oldest first
create index embedding_queue_claim_idx on salesflow.embedding_queue (model, priority, queued_at)
where failed_at is null;

-- Search hits carry what an app needs to show or answer them, and where each ranking put them.
alter type salesflow.memory_hit add attribute direction salesflow.direction;
alter type salesflow.memory_hit add attribute subject text;
alter type salesflow.memory_hit add attribute external_id text;
alter type salesflow.memory_hit add attribute vector_rank integer;
alter type salesflow.memory_hit add attribute keyword_rank integer;
-- the old signature (without keywords and recency) would stay beside the new one as an overload
drop function if exists api.search_memory(
    uuid, extensions.vector, text, uuid, salesflow.channel, timestamptz, timestamptz, integer
);

-- Warm memory: one rolling summary per lead (its conversation across channels), extended by the
-- summarize_conversation job as new messages arrive, never regenerated from scratch.
create table salesflow.conversation_summaries (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    lead_id uuid not null,
    summary text not null default '' check (length(summary) <= 20000),
    -- durable facts the summary rests on, as [{"fact": ..., "message_id": ...}]
    key_facts jsonb not null default '[]' check (jsonb_typeof(key_facts) = 'array'),
    -- the lexicon sentiment of the covered messages: {"mean": -1..1, "messages": n}
    sentiment jsonb not null default '{}' check (jsonb_typeof(sentiment) = 'object'),
    -- messages up to here (sent_at, id) are in the summary; later ones are pending
    covered_until timestamptz,
    covered_message_id uuid,
    covered_messages integer not null default 0 check (covered_messages >= 0),
    -- new messages since the last extension (kept by a trigger; the job runs at a threshold)
    pending_messages integer not null default 0 check (pending_messages >= 0),
    -- how often it was extended; the text written by which model (offline: SmolLM2 on this machine)
    version integer not null default 0 check (version >= 0),
    model text,
    offline_model boolean,
    request_id bigint,
    updated_at timestamptz not null default now(),
    primary key (org_id, lead_id),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);
alter table salesflow.conversation_summaries enable row level security;

-- Facts and buying signals about a lead, each citing the message it comes from with a quote that
-- must occur in that message's text (a fact without evidence is refused), with a validity
-- interval: a later fact on the same key closes the earlier one instead of piling up beside it.
create type salesflow.fact_category as enum (
    'budget', 'role', 'timeline', 'pain_point', 'preference', 'competitor', 'objection', 'other'
);
create table salesflow.memory_facts (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    lead_id uuid not null,
    category salesflow.fact_category not null,
    -- what the fact is about, so that contradictions meet: "budget", "decision_maker", "current_tool"
    fact_key text not null check (fact_key ~ '^[a-z][a-z0-9_]{0,62}$'),
    fact text not null check (length(fact) between 1 and 1000),
    message_id uuid not null,
    quote text not null check (length(quote) between 3 and 500),
    confidence real not null check (confidence between 0 and 1),
    -- from the cited message's time until a later fact on the same key replaced it (null: current)
    valid_from timestamptz not null,
    valid_to timestamptz,
    superseded_by uuid,
    -- the reviewed AI suggestion it came from, if any
    suggestion_id uuid,
    created_by uuid,
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    check (valid_to is null or valid_to >= valid_from),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade,
    foreign key (org_id, message_id) references salesflow.messages (org_id, id) on delete cascade
);
create index memory_facts_lead_idx on salesflow.memory_facts (org_id, lead_id, fact_key, valid_from desc);
create index memory_facts_message_idx on salesflow.memory_facts (org_id, message_id);
alter table salesflow.memory_facts enable row level security;
