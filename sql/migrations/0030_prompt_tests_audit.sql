-- 0030: AI governance (issue 14). Prompt test suites: cases per prompt (shipped beside the prompt
-- files or written by owners and admins), runs of a suite against one prompt version by the worker,
-- each case's verdict with its logged call, and the ledger of label moves, so that moving
-- `production` to a version that failed its suite, or never ran it, is refused unless someone gives
-- a reason, which is kept (who, when, why). And the AI decision audit: the stores that did not yet
-- name the inputs they read get an `inputs` column of identifiers.
-- Run once. Functions, policies and grants live in sql/objects/68_prompt_tests.sql and
-- 69_ai_decision_audit.sql.

create table salesflow.prompt_test_cases (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    prompt_id uuid not null,
    name text not null check (name ~ '^[a-z0-9][a-z0-9_.-]{0,79}$'),
    -- the user message sent after the system prompt, and the prompt's variables
    message text not null default '' check (length(message) <= 20000),
    inputs jsonb not null default '{}' check (jsonb_typeof(inputs) = 'object'),
    -- {"schema_valid", "must_contain", "must_not_contain", "min_length", "max_length", "language",
    -- "compliance"}: checked by salesflow.prompt_test_assertion_problems before a case is stored
    assertions jsonb not null check (jsonb_typeof(assertions) = 'object'),
    -- shipped: from salesflow/gateway/prompts/<prompt>.tests.json, re-synced by each run; custom: a member's
    source text not null default 'custom' check (source in ('shipped', 'custom')),
    created_by uuid,
    updated_at timestamptz not null default now(),
    primary key (org_id, id),
    unique (org_id, prompt_id, name),
    foreign key (org_id, prompt_id) references salesflow.prompts (org_id, id) on delete cascade
);
alter table salesflow.prompt_test_cases enable row level security;

create table salesflow.prompt_test_runs (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    prompt_id uuid not null,
    version integer not null,
    -- queued -> running -> passed | failed (a case failed) | error (no cases, or the run could not finish)
    status text not null default 'queued' check (status in ('queued', 'running', 'passed', 'failed', 'error')),
    cases_total integer not null default 0 check (cases_total >= 0),
    cases_passed integer not null default 0 check (cases_passed between 0 and cases_total),
    -- answered by the tiny offline model (DESIGN.md decision 8): a pass says the plumbing holds, little more
    offline_model boolean not null default false,
    error text check (length(error) <= 2000),
    job_id bigint,
    requested_by uuid,
    created_at timestamptz not null default now(),
    finished_at timestamptz,
    primary key (org_id, id),
    check ((status in ('passed', 'failed', 'error')) = (finished_at is not null)),
    foreign key (org_id, prompt_id, version) references salesflow.prompt_versions (org_id, prompt_id, version)
    on delete cascade
);
create index prompt_test_runs_version_idx on salesflow.prompt_test_runs (org_id, prompt_id, version, created_at desc);
alter table salesflow.prompt_test_runs enable row level security;

create table salesflow.prompt_test_results (
    org_id uuid not null,
    run_id uuid not null,
    case_id uuid,
    -- the case's name as it was run (the case may be edited or deleted later)
    case_name text not null,
    passed boolean not null,
    -- [{"check", "passed", "detail"}], one per assertion
    checks jsonb not null check (jsonb_typeof(checks) = 'array'),
    -- the answer (placeholders restored), cut to 4000 characters; null when none came back
    output text check (length(output) <= 4000),
    request_id bigint,
    offline_model boolean not null default false,
    created_at timestamptz not null default now(),
    primary key (org_id, run_id, case_name),
    foreign key (org_id, run_id) references salesflow.prompt_test_runs (org_id, id) on delete cascade,
    foreign key (org_id, case_id) references salesflow.prompt_test_cases (org_id, id) on delete set null (case_id)
);
create index prompt_test_results_case_idx on salesflow.prompt_test_results (org_id, case_id)
where case_id is not null;
create index prompt_test_results_request_idx on salesflow.prompt_test_results (org_id, request_id)
where request_id is not null;
alter table salesflow.prompt_test_results enable row level security;

-- Every label move, append-only: what the version's suite said at the time, and the override's reason.
create table salesflow.prompt_label_moves (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id bigint generated always as identity,
    prompt_id uuid not null,
    label text not null,
    from_version integer,
    to_version integer not null,
    -- the latest finished run of to_version: passed | failed | error, or none
    suite_status text not null check (suite_status in ('passed', 'failed', 'error', 'none')),
    run_id uuid,
    override_reason text check (length(override_reason) between 1 and 2000),
    moved_by uuid,
    moved_at timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, prompt_id) references salesflow.prompts (org_id, id) on delete cascade
);
create index prompt_label_moves_prompt_idx on salesflow.prompt_label_moves (org_id, prompt_id, moved_at desc);
alter table salesflow.prompt_label_moves enable row level security;

-- The AI decision audit: the identifiers of what a suggestion, a BANT proposal or a DISG profile read
-- ({"messages": [...], "activities": [...]}); drafts already keep theirs, memory facts their message,
-- summaries the messages they cover.
alter table salesflow.ai_suggestions add column inputs jsonb not null default '{}'
check (jsonb_typeof(inputs) = 'object');
alter table salesflow.bant_assessments add column inputs jsonb not null default '{}'
check (jsonb_typeof(inputs) = 'object');
alter table salesflow.personality_profiles add column inputs jsonb not null default '{}'
check (jsonb_typeof(inputs) = 'object');
