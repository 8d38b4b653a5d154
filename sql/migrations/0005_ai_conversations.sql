-- 0005: the gateway's Python half needs somewhere to keep chat conversations (with the running
-- summary of their older turns), an append-only compliance log, per-organisation AI settings, and
-- two more facts per logged call: what the top model would have cost (routing savings) and whether
-- the token counts were counted by us because a stream carried no usage.
-- Run once. Functions, views, policies and grants live in sql/objects/63_conversations.sql and
-- sql/objects/64_compliance.sql.

create type salesflow.chat_role as enum ('user', 'assistant');

-- A chat between a member and the AI coach, optionally about one lead.
create table salesflow.conversations (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    -- the member who started it: only they (and admins) read it
    user_id uuid not null,
    lead_id uuid,
    title text check (length(title) <= 200),
    language text check (language ~ '^[a-z]{2}$'),
    -- the running summary of the turns that no longer fit the model's context window, and the
    -- last turn it covers: made once, extended when more turns fall out, never redone
    summary text check (length(summary) <= 20000),
    summary_upto bigint,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (org_id, id),
    check ((summary is null) = (summary_upto is null)),
    -- a lead's conversations go with the lead (erasure)
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);
create index conversations_user_idx on salesflow.conversations (org_id, user_id, updated_at desc);

-- One finished turn. An assistant turn is written only when its stream ended cleanly, together
-- with its request log row, so a cut stream never becomes an answer.
create table salesflow.conversation_turns (
    org_id uuid not null,
    conversation_id uuid not null,
    id bigint generated always as identity,
    role salesflow.chat_role not null,
    content text not null check (length(content) between 1 and 100000),
    -- the logged call that produced an assistant turn
    request_id bigint,
    -- tokens of this turn as the answering model counts them: context fitting sums these
    tokens integer check (tokens >= 0),
    -- produced by the tiny offline model (DESIGN.md decision 8): shown with a warning
    offline_model boolean not null default false,
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    check ((role = 'assistant') or request_id is null),
    foreign key (org_id, conversation_id) references salesflow.conversations (org_id, id) on delete cascade
);
create index conversation_turns_conversation_idx on salesflow.conversation_turns (org_id, conversation_id, id);

-- Every compliance verdict on a model output, allowed or not. Append-only for everyone: no app
-- role may update or delete a row (a trigger refuses updates, and deletes except by cascade when
-- the organisation goes).
create table salesflow.compliance_log (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id bigint generated always as identity,
    -- the call whose output was judged (null when a draft is checked on its own)
    request_id bigint,
    user_id uuid,
    task text not null check (task ~ '^[a-z][a-z0-9_]{0,62}$'),
    purpose text not null check (purpose ~ '^[a-z][a-z0-9_]{0,31}$'),
    passed boolean not null,
    -- [{"rule_id", "severity", "message", "excerpt"}]
    findings jsonb not null default '[]' check (jsonb_typeof(findings) = 'array'),
    -- which rule set judged (a hash of the rules), so a later rule change does not rewrite history
    rules_version text not null,
    -- a hash of the judged text: proves which text was judged without keeping it twice
    text_sha256 text not null check (text_sha256 ~ '^[0-9a-f]{64}$'),
    -- what happened to the output: delivered, or withheld (blocked, or its schema failed twice)
    action text not null check (action in ('delivered', 'withheld')),
    created_at timestamptz not null default now(),
    primary key (org_id, id)
);
create index compliance_log_created_idx on salesflow.compliance_log (org_id, created_at);
create index compliance_log_request_idx on salesflow.compliance_log (org_id, request_id) where request_id is not null;

-- Routing savings: the model the task's policy names as its top choice, priced on the same tokens.
alter table salesflow.llm_requests
add column baseline_provider text,
add column baseline_model text,
-- true when a stream carried no usage and the gateway counted the tokens with a tokenizer
add column usage_estimated boolean not null default false,
add column conversation_id uuid;
