-- 0004: the database half of the AI gateway (DESIGN.md decision 6): the model catalogue, the
-- request log and its daily rollups, budgets with reservations and alerts, the prompt registry
-- with immutable versions, moving labels and A/B experiments, and human feedback on answers.
-- Run once. Functions, views, policies and grants live in sql/objects/60_ai_accounting.sql and
-- sql/objects/61_prompts.sql.

create type salesflow.llm_status as enum (
    'ok',        -- an answer came back
    'error',     -- every provider in the fallback chain failed; error says why
    'timeout',   -- the last attempt ran out of time
    'cancelled'  -- the caller gave up (job lease lost, client disconnected)
);

create type salesflow.budget_scope as enum ('org', 'user', 'feature');

create type salesflow.budget_period as enum ('day', 'month');

create type salesflow.llm_outcome as enum (
    'accepted', -- used as written
    'edited',   -- used after a person changed it
    'rejected'  -- not used
);

create type salesflow.prompt_experiment_status as enum ('active', 'stopped');

-- The model catalogue: global (prices are the provider's, not a tenant's), so no org_id. A price
-- change is a new row effective from its date; a request is priced with the row in force when it
-- started, so old logs keep old prices.
create table salesflow.llm_models (
    provider text not null check (provider ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    model text not null check (length(model) between 1 and 200),
    effective_from date not null,
    context_window integer not null check (context_window > 0),
    -- in the catalogue's currency (USD), per million tokens
    input_price_per_mtok numeric(14, 6) not null check (input_price_per_mtok >= 0),
    output_price_per_mtok numeric(14, 6) not null check (output_price_per_mtok >= 0),
    created_at timestamptz not null default now(),
    primary key (provider, model, effective_from)
);

-- The local plumbing model (DESIGN.md decision 8) costs nothing; operators add their providers' rows.
insert into salesflow.llm_models (
    provider, model, effective_from, context_window, input_price_per_mtok, output_price_per_mtok
)
values ('llama.cpp', 'SmolLM2-135M-Instruct', date '2024-01-01', 8192, 0, 0);

-- One row per gateway call (after its fallbacks), written by salesflow.settle_request.
-- Append-only: app roles may only read it, and a trigger refuses updates from anyone.
create table salesflow.llm_requests (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id bigint generated always as identity,
    -- when the call started: the price in force then is the one charged
    started_at timestamptz not null,
    -- null for calls the worker makes on nobody's behalf (scheduled summaries)
    user_id uuid,
    task text not null check (task ~ '^[a-z][a-z0-9_]{0,62}$'),
    feature text check (feature ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    prompt_name text,
    prompt_version integer,
    -- the A/B experiment and label this call was assigned to, and to whom (a lead or a user)
    experiment_id uuid,
    experiment_label text,
    subject_id text,
    provider text not null,
    model text not null,
    input_tokens integer not null default 0 check (input_tokens >= 0),
    output_tokens integer not null default 0 check (output_tokens >= 0),
    cost numeric(14, 6) not null check (cost >= 0),
    latency_ms integer check (latency_ms >= 0),
    time_to_first_token_ms integer check (time_to_first_token_ms >= 0),
    status salesflow.llm_status not null,
    error text check (length(error) <= 4000),
    -- how many providers of the fallback chain failed before this one answered (or gave up)
    fallback_hops smallint not null default 0 check (fallback_hops >= 0),
    reservation_id uuid,
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    check ((status = 'ok') = (error is null))
);
create index llm_requests_started_idx on salesflow.llm_requests (org_id, started_at);
-- budget sums per user and per feature over the current period
create index llm_requests_user_idx on salesflow.llm_requests (org_id, user_id, started_at) where user_id is not null;
create index llm_requests_feature_idx on salesflow.llm_requests (org_id, feature, started_at)
where feature is not null;
create index llm_requests_prompt_idx on salesflow.llm_requests (org_id, prompt_name, prompt_version)
where prompt_name is not null;

-- Daily rollups per organisation, user, task and model (UTC days). Best effort: settle_request
-- updates them in a savepoint, so a failure here never loses the log row.
create table salesflow.llm_usage_daily (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    day date not null,
    user_id uuid,
    task text not null,
    provider text not null,
    model text not null,
    requests integer not null default 0,
    errors integer not null default 0,
    fallbacks integer not null default 0,
    input_tokens bigint not null default 0,
    output_tokens bigint not null default 0,
    cost numeric(16, 6) not null default 0,
    latency_ms_sum bigint not null default 0,
    updated_at timestamptz not null default now()
);
-- nulls not distinct: calls without a user roll up into one row per day, task and model
create unique index llm_usage_daily_key on salesflow.llm_usage_daily (org_id, day, user_id, task, provider, model)
nulls not distinct;

-- Budgets per organisation, user or feature and per day or month, in the catalogue's currency.
-- Soft limit: an alert row once per period. Hard limit: reserve_budget refuses the call.
create table salesflow.llm_budgets (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    scope salesflow.budget_scope not null,
    user_id uuid,
    feature text check (feature ~ '^[a-z][a-z0-9_.-]{0,62}$'),
    period salesflow.budget_period not null,
    soft_limit numeric(14, 6) check (soft_limit >= 0),
    hard_limit numeric(14, 6) check (hard_limit >= 0),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (org_id, id),
    check ((scope = 'user') = (user_id is not null)),
    check ((scope = 'feature') = (feature is not null)),
    check (soft_limit is not null or hard_limit is not null),
    check (soft_limit is null or hard_limit is null or soft_limit <= hard_limit)
);
create unique index llm_budgets_key on salesflow.llm_budgets (org_id, scope, period, user_id, feature)
nulls not distinct;

-- Money set aside for calls in flight: reserve_budget adds one, settle_request removes it.
-- A crashed caller's reservation stops counting when it expires.
create table salesflow.llm_budget_reservations (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    user_id uuid,
    feature text,
    amount numeric(14, 6) not null check (amount >= 0),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null default now() + interval '15 minutes',
    primary key (org_id, id)
);

create table salesflow.llm_budget_alerts (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    budget_id uuid not null,
    -- start of the day or month the alert is about: one alert per budget, period and kind
    period_start timestamptz not null,
    kind text not null check (kind in ('soft')),
    spent numeric(14, 6) not null,
    limit_amount numeric(14, 6) not null,
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, budget_id) references salesflow.llm_budgets (org_id, id) on delete cascade
);
create unique index llm_budget_alerts_once on salesflow.llm_budget_alerts (org_id, budget_id, period_start, kind);

-- The prompt registry: a name per organisation, immutable numbered versions, labels that move.
create table salesflow.prompts (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    name text not null check (name ~ '^[a-z][a-z0-9_.-]{0,99}$'),
    description text check (length(description) <= 2000),
    created_at timestamptz not null default now(),
    primary key (org_id, id)
);
create unique index prompts_name_key on salesflow.prompts (org_id, name);

create table salesflow.prompt_versions (
    org_id uuid not null,
    prompt_id uuid not null,
    version integer not null check (version >= 1),
    -- placeholders are {{name}}; every one must be declared in variables
    template text not null check (length(template) between 1 and 200000),
    -- declared variables: {"name": "string" | "number" | "boolean" | "array" | "object" | "any"}
    variables jsonb not null default '{}' check (jsonb_typeof(variables) = 'object'),
    -- provider, model, temperature, max_tokens, ...: what the gateway calls this version with
    model_config jsonb not null default '{}' check (jsonb_typeof(model_config) = 'object'),
    -- JSON Schema the answer must validate against, if it is structured
    output_schema jsonb,
    created_by uuid,
    created_at timestamptz not null default now(),
    primary key (org_id, prompt_id, version),
    foreign key (org_id, prompt_id) references salesflow.prompts (org_id, id) on delete cascade
);

create table salesflow.prompt_labels (
    org_id uuid not null,
    prompt_id uuid not null,
    label text not null check (label ~ '^[a-z][a-z0-9_-]{0,39}$'),
    version integer not null,
    updated_by uuid,
    updated_at timestamptz not null default now(),
    primary key (org_id, prompt_id, label),
    foreign key (org_id, prompt_id, version) references salesflow.prompt_versions (org_id, prompt_id, version)
    on delete cascade
);

-- An A/B test: a prompt's traffic split between labels by weight, e.g. {"production": 50, "candidate": 50}.
create table salesflow.prompt_experiments (
    org_id uuid not null,
    id uuid not null default gen_random_uuid(),
    prompt_id uuid not null,
    weights jsonb not null check (jsonb_typeof(weights) = 'object'),
    status salesflow.prompt_experiment_status not null default 'active',
    created_at timestamptz not null default now(),
    stopped_at timestamptz,
    primary key (org_id, id),
    check ((status = 'stopped') = (stopped_at is not null)),
    foreign key (org_id, prompt_id) references salesflow.prompts (org_id, id) on delete cascade
);
-- at most one running experiment per prompt, so an assignment is never ambiguous
create unique index prompt_experiments_active_key on salesflow.prompt_experiments (org_id, prompt_id)
where status = 'active';

-- Human feedback on one logged answer: a thumb, what became of it, or both.
create table salesflow.llm_feedback (
    org_id uuid not null,
    id uuid not null default gen_random_uuid(),
    request_id bigint not null,
    user_id uuid,
    rating smallint check (rating in (-1, 1)), -- thumbs down / up
    outcome salesflow.llm_outcome,
    comment text check (length(comment) <= 2000),
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    check (rating is not null or outcome is not null),
    foreign key (org_id, request_id) references salesflow.llm_requests (org_id, id) on delete cascade
);
create index llm_feedback_request_idx on salesflow.llm_feedback (org_id, request_id);
