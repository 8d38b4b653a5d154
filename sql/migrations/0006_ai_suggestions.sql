-- 0006: what the worker's AI jobs produce for a person to review. The model's words never act on
-- their own: a suggestion waits as 'pending' until a member accepts or rejects it, and that verdict
-- is also recorded as feedback on the logged call (prompt experiments compare versions by it).
-- Run once. Functions, policies and grants live in sql/objects/66_ai_suggestions.sql.

create type salesflow.suggestion_kind as enum (
    'next_actions', -- recommendation_engine: what to do next with a lead
    'memory_facts'  -- memory_extraction: durable facts about a lead from its conversations
);

create type salesflow.suggestion_status as enum ('pending', 'accepted', 'rejected');

create table salesflow.ai_suggestions (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    lead_id uuid not null,
    kind salesflow.suggestion_kind not null,
    -- the answer as its prompt's JSON schema shaped it, placeholders already restored
    content jsonb not null check (jsonb_typeof(content) = 'object'),
    -- the logged call that produced it, and the job that asked for it
    request_id bigint not null,
    job_id bigint,
    -- produced by the tiny offline model (DESIGN.md decision 8): shown with a warning
    offline_model boolean not null default false,
    status salesflow.suggestion_status not null default 'pending',
    reviewed_by uuid,
    reviewed_at timestamptz,
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    check ((status = 'pending') = (reviewed_at is null)),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);
create index ai_suggestions_lead_idx on salesflow.ai_suggestions (org_id, lead_id, created_at desc);
-- one suggestion per job: a job delivered twice (after a crash) finds it and does not call again
create unique index ai_suggestions_job_key on salesflow.ai_suggestions (org_id, job_id) where job_id is not null;
