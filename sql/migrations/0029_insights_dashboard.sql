-- The AI insights dashboard (issue 14): anomaly alert rows written by the scheduled
-- detect_anomalies job, and the weekly executive summaries written through the gateway.

-- One row per organisation, metric and day flagged by salesflow.insight_anomalies (the method is
-- documented in sql/objects/96_insights_dashboard.sql); the job runs daily and is idempotent.
create table salesflow.insight_alerts (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id bigint generated always as identity,
    metric text not null check (metric in ('spend', 'error_rate', 'score', 'messages')),
    day date not null,
    value double precision not null,
    baseline double precision not null,
    -- the robust z-score; null when the trailing window was flat and the day left it
    z double precision,
    method text not null check (length(method) <= 200),
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    unique (org_id, metric, day)
);

-- One summary per organisation, week and language. figures: the aggregate inputs it was written
-- from (no person's data); source 'ai' (the gateway's answer) or 'baseline' (the rule-written text
-- stored when the offline model gave nothing usable); offline_model labels the tiny local model.
create table salesflow.executive_summaries (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id bigint generated always as identity,
    week_start date not null,
    language text not null check (language in ('de', 'en')),
    content jsonb not null check (jsonb_typeof(content) = 'object'),
    figures jsonb not null check (jsonb_typeof(figures) = 'object'),
    source text not null check (source in ('ai', 'baseline')),
    offline_model boolean not null,
    request_id bigint,
    prompt_name text check (prompt_name ~ '^[a-z][a-z0-9_.-]{0,99}$'),
    prompt_version integer,
    model text check (length(model) <= 200),
    job_id bigint,
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    unique (org_id, week_start, language)
);
