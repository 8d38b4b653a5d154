-- 0011: lead intelligence. Imported attributes and outcomes, engagement events, the scoring-model
-- registry and its bin tables, current scores with history, BANT, DISG profiles, feature flags.
-- Run once. Functions, triggers, policies and grants live in sql/objects/70_* to 74_*.

-- a lead's key in the system it was imported from (CRM id, row id): imports are idempotent on it
alter table salesflow.leads add column external_key text
check (external_key is null or length(external_key) between 1 and 200);
create unique index leads_external_key on salesflow.leads (org_id, external_key) where external_key is not null;

-- The type of every key of leads.attributes an organisation uses. Import infers it; the org may
-- exclude an attribute from scoring (recorded after the fact: it would leak the outcome) or mark
-- it sensitive (the bias check reports per segment of it).
create table salesflow.lead_attribute_defs (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    name text not null check (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    data_type text not null check (data_type in ('number', 'category', 'boolean', 'date')),
    excluded_from_scoring boolean not null default false,
    sensitive boolean not null default false,
    label_en text,
    label_de text,
    created_at timestamptz not null default now(),
    primary key (org_id, name)
);

-- Historical results that arrived with an import (or were recorded by hand). An absent row means
-- "open": no outcome is ever inferred from silence.
create table salesflow.lead_outcomes (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    lead_id uuid not null,
    converted boolean not null,
    decided_at timestamptz,
    source text not null default 'import' check (source in ('import', 'manual')),
    recorded_at timestamptz not null default now(),
    primary key (org_id, lead_id),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);

create type salesflow.engagement_type as enum (
    'website_visit', 'page_view', 'email_open', 'email_click', 'form_submission', 'product_usage'
);

create table salesflow.engagement_events (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    lead_id uuid not null,
    event_type salesflow.engagement_type not null,
    occurred_at timestamptz not null,
    -- the sender's key per event: a batch sent twice stores each event once
    idempotency_key text not null check (length(idempotency_key) between 1 and 200),
    -- a page URL, a campaign id, a product feature: not personal data by contract, size-capped
    properties jsonb not null default '{}' check (jsonb_typeof(properties) = 'object' and pg_column_size(properties) <= 8192),
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);
create unique index engagement_events_key on salesflow.engagement_events (org_id, idempotency_key);
create index engagement_events_lead_idx on salesflow.engagement_events (org_id, lead_id, occurred_at desc);

-- The model registry: every model the product uses that an organisation trained (scoring models).
-- The gateway's LLM catalogue (salesflow.llm_models, global) is listed beside it by api.list_ai_models.
create table salesflow.ai_models (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    name text not null default 'lead_conversion',
    model_kind text not null default 'scoring' check (model_kind in ('scoring')),
    version integer not null check (version > 0),
    status text not null default 'candidate' check (status in ('candidate', 'active', 'retired', 'rejected')),
    -- which learner won the measurement, and its settings
    learner text not null,
    library_versions jsonb not null default '{}',
    -- point-in-time cut-off: nothing dated at or after it entered a feature
    cutoff timestamptz not null,
    training_rows integer not null default 0,
    training_conversions integer not null default 0,
    -- log-odds of the average lead; each feature's contribution is added to it
    intercept double precision not null,
    metrics jsonb not null default '{}',
    bias_report jsonb not null default '{}',
    bias_flagged boolean not null default false,
    card jsonb not null default '{}',
    needs_retraining boolean not null default false,
    decision text,
    created_at timestamptz not null default now(),
    activated_at timestamptz,
    retired_at timestamptz,
    primary key (org_id, id),
    unique (org_id, name, version)
);
-- at most one active scoring model per organisation
create unique index ai_models_active_key on salesflow.ai_models (org_id, name) where status = 'active';

-- The bin tables: one row per feature of a model. A numeric value x falls into bin
-- width_bucket(x, edges) (the count of edges <= x); a category into its position in categories,
-- else `other`. contributions are exact additive terms of the calibrated log-odds.
create table salesflow.scoring_model_features (
    org_id uuid not null,
    model_id uuid not null,
    feature text not null,
    value_type text not null check (value_type in ('number', 'category')),
    edges double precision[],
    categories text[],
    contributions double precision[] not null,
    missing_contribution double precision not null,
    other_contribution double precision not null default 0,
    importance double precision not null default 0,
    primary key (org_id, model_id, feature),
    foreign key (org_id, model_id) references salesflow.ai_models (org_id, id) on delete cascade
);

-- The current score per lead (the contract recommendations read); model_id null = the prior.
create table salesflow.lead_scores (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    lead_id uuid not null,
    model_id uuid,
    probability double precision not null check (probability between 0 and 1),
    score smallint not null check (score between 0 and 100),
    log_odds double precision not null,
    previous_score smallint,
    trend text not null default 'stable' check (trend in ('up', 'down', 'stable')),
    -- the outcome was still open when this score was made: monitoring judges the model on these
    scored_before_outcome boolean not null default true,
    scored_at timestamptz not null default now(),
    primary key (org_id, lead_id),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);

create table salesflow.lead_score_history (
    org_id uuid not null,
    lead_id uuid not null,
    id bigint generated always as identity,
    model_id uuid,
    probability double precision not null,
    score smallint not null,
    scored_at timestamptz not null default now(),
    primary key (org_id, lead_id, id),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);

-- Drift and monitoring alerts about a model.
create table salesflow.model_alerts (
    org_id uuid not null,
    id uuid not null default gen_random_uuid(),
    model_id uuid not null,
    alert text not null check (alert in ('auc_drop', 'calibration_drift')),
    details jsonb not null default '{}',
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, model_id) references salesflow.ai_models (org_id, id) on delete cascade
);

-- BANT: each dimension 0-3 (0 unknown, 1 weak, 2 partial, 3 confirmed); total = sum (0-12).
create table salesflow.bant_assessments (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    lead_id uuid not null,
    deal_id uuid,
    budget smallint not null check (budget between 0 and 3),
    authority smallint not null check (authority between 0 and 3),
    need smallint not null check (need between 0 and 3),
    timeline smallint not null check (timeline between 0 and 3),
    total_score smallint generated always as (budget + authority + need + timeline) stored,
    -- green from 9 of 12 (three dimensions confirmed), yellow from 5, red below
    traffic_light text generated always as (
        case
            when budget + authority + need + timeline >= 9 then 'green'
            when budget + authority + need + timeline >= 5 then 'yellow' else 'red'
        end
    ) stored,
    notes text check (notes is null or length(notes) <= 10000),
    assessed_by uuid,
    method text not null default 'manual' check (method in ('manual', 'ai')),
    -- an AI assessment is a proposal until a member accepts it; manual ones are accepted at once
    status text not null default 'accepted' check (status in ('proposed', 'accepted', 'rejected')),
    request_id bigint,
    assessed_at timestamptz not null default now(),
    reviewed_at timestamptz,
    primary key (org_id, id),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade,
    foreign key (org_id, deal_id) references salesflow.deals (org_id, id) on delete set null (deal_id)
);
create index bant_assessments_lead_idx on salesflow.bant_assessments (org_id, lead_id, assessed_at desc);

-- DISG (the German DISC): D dominant, I initiative, S steady, G conscientious (gewissenhaft).
create table salesflow.personality_profiles (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    lead_id uuid not null,
    d numeric(4, 3) not null check (d between 0 and 1),
    i numeric(4, 3) not null check (i between 0 and 1),
    s numeric(4, 3) not null check (s between 0 and 1),
    g numeric(4, 3) not null check (g between 0 and 1),
    -- the highest of the four; ties go D, I, S, G in that order
    dominant_type text generated always as (
        case greatest(d, i, s, g) when d then 'D' when i then 'I' when s then 'S' else 'G' end
    ) stored,
    confidence numeric(4, 3) not null check (confidence between 0 and 1),
    -- the lead's own words the profile rests on (quotes from their messages)
    evidence_quotes jsonb not null default '[]' check (jsonb_typeof(evidence_quotes) = 'array'),
    message_count integer not null default 0,
    source text not null check (source in ('ai', 'manual')),
    offline_model boolean not null default false,
    request_id bigint,
    job_id bigint,
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);
create index personality_profiles_lead_idx on salesflow.personality_profiles (org_id, lead_id, created_at desc);
create unique index personality_profiles_job_key on salesflow.personality_profiles (org_id, job_id)
where job_id is not null;

create table salesflow.ai_feature_flags (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    feature text not null check (feature in ('scoring', 'suggestions', 'chat', 'profiling', 'drafting', 'bant')),
    enabled boolean not null default true,
    rollout_percent smallint not null default 100 check (rollout_percent between 0 and 100),
    -- rollout by a stable hash of the user or of the lead
    rollout_by text not null default 'user' check (rollout_by in ('user', 'lead')),
    -- when not empty, only leads in these lifecycle stages (segments) get the feature
    segments text[] not null default '{}',
    updated_by uuid,
    updated_at timestamptz not null default now(),
    primary key (org_id, feature)
);

-- covering indexes for the foreign keys the splinter-style check names
create index bant_assessments_deal_idx on salesflow.bant_assessments (org_id, deal_id);
create index model_alerts_model_idx on salesflow.model_alerts (org_id, model_id);
