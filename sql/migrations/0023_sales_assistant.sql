-- 0023: the sales assistant's writing (issue 14). What a model writes for a rep (an email draft,
-- three reply variants, subject-line variants, a call script) is stored here as a draft that a
-- member edits and approves; only the approval puts it in the outbox (api.approve_ai_draft), so
-- nothing is sent on the model's word. Each draft names the prompt version and the logged call
-- that made it, and the inputs it read, so "who or what decided what, on which data" has an answer.
-- Run once. Functions, policies and grants live in sql/objects/91_ai_drafts.sql.

create table salesflow.ai_drafts (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    lead_id uuid not null,
    kind text not null check (kind in ('email', 'reply', 'subject', 'script')),
    -- draft: editable; approved: handed to the outbox (outbox_id); rejected: dropped by a person
    status text not null default 'draft' check (status in ('draft', 'approved', 'rejected')),
    language text not null check (language in ('de', 'en')),
    tone text check (tone in ('formal', 'casual', 'friendly')),
    purpose text check (length(purpose) <= 500),
    -- the model's answer as its prompt's JSON schema shaped it (placeholders restored)
    content jsonb not null check (jsonb_typeof(content) = 'object'),
    -- what a member sends: the model's subject and body at first, the member's edit after
    subject text check (length(subject) <= 1000),
    body text check (length(body) <= 100000),
    -- the inbound message a reply answers
    source_message_id uuid,
    -- which variant (0-based) a rep picked, for reply and subject drafts
    picked_variant smallint check (picked_variant between 0 and 9),
    picked_by uuid,
    picked_at timestamptz,
    -- provenance: the logged call, the prompt version, the inputs' identifiers
    request_id bigint not null,
    prompt_name text not null check (prompt_name ~ '^[a-z][a-z0-9_.-]{0,99}$'),
    prompt_version integer not null,
    inputs jsonb not null default '{}' check (jsonb_typeof(inputs) = 'object'),
    -- written by the tiny offline model (DESIGN.md decision 8): shown with its label
    offline_model boolean not null default false,
    created_by uuid,
    edited_by uuid,
    edited_at timestamptz,
    reviewed_by uuid,
    reviewed_at timestamptz,
    outbox_id uuid,
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    check ((status = 'draft') = (reviewed_at is null)),
    check (outbox_id is null or status = 'approved'),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade,
    foreign key (org_id, source_message_id) references salesflow.messages (org_id, id)
    on delete set null (source_message_id),
    foreign key (org_id, outbox_id) references salesflow.outbox (org_id, id) on delete set null (outbox_id)
);
create index ai_drafts_lead_idx on salesflow.ai_drafts (org_id, lead_id, created_at desc);
create index ai_drafts_prompt_idx on salesflow.ai_drafts (org_id, prompt_name, prompt_version);
create index ai_drafts_request_idx on salesflow.ai_drafts (org_id, request_id);
create index ai_drafts_source_idx on salesflow.ai_drafts (org_id, source_message_id)
where source_message_id is not null;
create index ai_drafts_outbox_idx on salesflow.ai_drafts (org_id, outbox_id) where outbox_id is not null;
alter table salesflow.ai_drafts enable row level security;

-- A rep's own text checked on demand (POST /api/ki/compliance/check) is logged like every verdict,
-- with the action 'checked': nothing was delivered or withheld, a person read the findings.
alter table salesflow.compliance_log drop constraint compliance_log_action_check;
alter table salesflow.compliance_log add constraint compliance_log_action_check
check (action in ('delivered', 'withheld', 'checked'));
