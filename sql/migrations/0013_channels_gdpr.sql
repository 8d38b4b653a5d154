-- 0013: channels (inbox-first webhooks, outbox with approval), identity stitching, GDPR
-- (erasure, suppression, consent, retention) and the personal-data catalogue. DESIGN.md 15 and 16.
-- Run once. Functions, policies and grants live in sql/objects/80_* to 86_*.

create type salesflow.channel_provider as enum (
    'whatsapp', -- Meta's WhatsApp Cloud API
    'email',    -- inbound mail: raw RFC 5322 or Postmark's inbound JSON
    'generic'   -- any other system posting the product's own JSON, signed with HMAC-SHA256
);

-- Per-organisation channel accounts. Secrets (verify token, app secret, access token) are read
-- by owners and admins only (policy), and by the API and worker, which route webhooks by route_key.
create table salesflow.channel_configs (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    provider salesflow.channel_provider not null,
    -- how a webhook finds its organisation: WhatsApp's phone_number_id, the inbound email
    -- address, or the generic channel's name
    route_key text not null check (length(route_key) between 1 and 320),
    verify_token text check (length(verify_token) between 8 and 200),
    app_secret text check (length(app_secret) between 8 and 500),
    access_token text check (length(access_token) <= 4000),
    -- provider details: graph_base_url, smtp_host, smtp_port, from_address, ...
    settings jsonb not null default '{}' check (jsonb_typeof(settings) = 'object'),
    enabled boolean not null default true,
    created_at timestamptz not null default now(),
    primary key (org_id, id)
);
-- routing looks a provider's key up before the organisation is known, so this index cannot lead
-- with org_id; under Citus this small table becomes a reference table
create unique index channel_configs_route_key on salesflow.channel_configs (provider, route_key);

create type salesflow.inbox_status as enum (
    'pending',    -- stored and acknowledged; the process_inbox job has not run yet
    'processed',  -- turned into a message (or a delivery status was applied)
    'ignored',    -- nothing to do (an unknown event type, a status for a message we never sent)
    'suppressed', -- from an erased person: the payload was dropped, only this marker is kept
    'failed'      -- could not be normalised; error says why
);

-- Every accepted webhook event, verbatim, before anything interprets it (DESIGN.md 15).
create table salesflow.webhook_inbox (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id bigint generated always as identity,
    provider salesflow.channel_provider not null,
    -- the provider's event id: WhatsApp wamid (status events: wamid:status), email Message-ID
    external_id text not null check (length(external_id) between 1 and 500),
    kind text not null check (kind in ('message', 'status')),
    -- the event as the provider sent it (JSON events) and the raw bytes (MIME); null once suppressed
    payload jsonb,
    raw bytea,
    -- sha256 of the whole request body whose signature was verified
    body_sha256 text not null check (body_sha256 ~ '^[0-9a-f]{64}$'),
    status salesflow.inbox_status not null default 'pending',
    -- the lead the event was stitched to: erasure finds the person's payloads by it
    lead_id uuid,
    message_id uuid,
    error text check (length(error) <= 2000),
    received_at timestamptz not null default now(),
    processed_at timestamptz,
    primary key (org_id, id)
);
create unique index webhook_inbox_external_key on salesflow.webhook_inbox (org_id, provider, external_id);
create index webhook_inbox_lead_idx on salesflow.webhook_inbox (org_id, lead_id) where lead_id is not null;

-- Refused webhooks (bad signature, unknown route): never their body, only its hash and size.
-- No organisation: an unverified request cannot be trusted to name one.
create table salesflow.webhook_rejections (
    id bigint generated always as identity primary key,
    provider salesflow.channel_provider not null,
    reason text not null check (length(reason) <= 200),
    body_sha256 text not null check (body_sha256 ~ '^[0-9a-f]{64}$'),
    body_bytes integer not null check (body_bytes >= 0),
    received_at timestamptz not null default now()
);

-- Threading and media: what the provider said about a message beyond its text.
alter table salesflow.messages
add column thread_id text check (length(thread_id) <= 500),
add column metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object');
create index messages_thread_idx on salesflow.messages (org_id, thread_id) where thread_id is not null;

create type salesflow.outbox_status as enum (
    'awaiting_approval', -- written by a model, or no rule approves it: a person must
    'approved',          -- approved (by rule or person); a send_outbound job is queued
    'sending',           -- the worker is handing it to the provider
    'sent',              -- the provider accepted it
    'delivered',         -- the provider reports delivery
    'read',              -- the provider reports it read
    'failed',            -- the provider refused it or reported failure; last_error says why
    'rejected',          -- a person rejected it
    'blocked'            -- not sent: the person opted out or is suppressed
);

create table salesflow.outbox (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    lead_id uuid not null,
    channel salesflow.channel not null check (channel in ('email', 'whatsapp')),
    to_address text check (length(to_address) <= 320),
    subject text check (length(subject) <= 1000),
    body text not null check (length(body) between 1 and 100000),
    -- AI-written text is never sent without a person's approval
    ai_generated boolean not null default false,
    created_by uuid,
    status salesflow.outbox_status not null,
    approved_by uuid,
    -- 'rep_authored' when a rule approved it, null when a person did
    approval_rule text check (approval_rule ~ '^[a-z_]{1,40}$'),
    approved_at timestamptz,
    idempotency_key text not null check (length(idempotency_key) between 1 and 200),
    -- the provider's id once sent (wamid, Message-ID): delivery statuses find the row by it
    external_id text check (length(external_id) <= 500),
    thread_id text check (length(thread_id) <= 500),
    attempts integer not null default 0 check (attempts >= 0),
    last_error text check (length(last_error) <= 2000),
    status_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);
create unique index outbox_idempotency_key on salesflow.outbox (org_id, idempotency_key);
create unique index outbox_external_key on salesflow.outbox (org_id, channel, external_id)
where external_id is not null;
create index outbox_lead_idx on salesflow.outbox (org_id, lead_id, created_at desc);

-- Consent per lead and channel: contact (may we message them there) and AI processing (may a
-- model read their data). No row means the defaults: both allowed.
create table salesflow.lead_consents (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    lead_id uuid not null,
    channel salesflow.channel not null,
    may_contact boolean not null default true,
    ai_processing boolean not null default true,
    -- who said so: a member, or the person's own opt-out message
    source text not null check (source in ('member', 'opt_out_message', 'import')),
    evidence_message_id uuid,
    updated_by uuid,
    updated_at timestamptz not null default now(),
    primary key (org_id, lead_id, channel),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);

-- The installation's secret for keyed hashes of identifiers (suppression list, erasure records).
-- Never granted to any app role.
create table salesflow.install_secrets (
    name text primary key check (name ~ '^[a-z_]{1,40}$'),
    secret bytea not null check (length(secret) >= 32),
    created_at timestamptz not null default now()
);
-- two v4 uuids carry 244 random bits from the server's strong random source
insert into salesflow.install_secrets (name, secret)
values ('identifier_hmac', sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')));

-- Erased people's identifiers as keyed hashes (HMAC-SHA256 of 'kind:normalised address'):
-- webhooks, imports and create_lead refuse them, so an erased person is not silently re-created.
create table salesflow.suppressions (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    identifier_hash bytea not null check (length(identifier_hash) = 32),
    erasure_id uuid,
    created_at timestamptz not null default now(),
    primary key (org_id, identifier_hash)
);

create type salesflow.erasure_status as enum ('pending', 'done');

-- The audit record of an erasure: a request id, hashes and per-table counts, never the person.
create table salesflow.erasure_requests (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    -- the lead to erase while the job is pending; cleared when it is done
    lead_id uuid,
    lead_hash bytea not null check (length(lead_hash) = 32),
    reason_sha256 text not null check (reason_sha256 ~ '^[0-9a-f]{64}$'),
    requested_by uuid,
    status salesflow.erasure_status not null default 'pending',
    counts jsonb not null default '{}' check (jsonb_typeof(counts) = 'object'),
    requested_at timestamptz not null default now(),
    finished_at timestamptz,
    primary key (org_id, id),
    check ((status = 'done') = (finished_at is not null)),
    check (status = 'pending' or lead_id is null)
);
create unique index erasure_requests_pending_key on salesflow.erasure_requests (org_id, lead_id)
where status = 'pending';

-- A merge of two leads with what moved, so that undo_merge can move it back.
create table salesflow.lead_merges (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    keep_id uuid not null,
    merge_id uuid not null,
    -- the merged lead's row as it was, restored by undo
    merged_lead jsonb not null,
    -- ids per table moved from merge_id to keep_id (provenance)
    moved jsonb not null check (jsonb_typeof(moved) = 'object'),
    merged_by uuid,
    merged_at timestamptz not null default now(),
    undone_at timestamptz,
    primary key (org_id, id),
    foreign key (org_id, keep_id) references salesflow.leads (org_id, id) on delete cascade
);
create index lead_merges_keep_idx on salesflow.lead_merges (org_id, keep_id);

-- The personal-data catalogue (DESIGN.md 16): one row per table of the salesflow schema, kept by
-- sql/objects/80_personal_data.sql. erasure says how a person leaves the table:
--   cascade  rows go with the lead (a foreign key to leads on delete cascade)
--   delete   rows whose lead_column names the lead are deleted by erasure
--   custom   salesflow.erase_lead_data handles it by name (ids in payloads, text in logs)
--   none     the table holds no person's data
create table salesflow.personal_data_catalog (
    table_name text primary key check (table_name ~ '^salesflow\.[a-z_0-9]+$'),
    erasure text not null check (erasure in ('cascade', 'delete', 'custom', 'none')),
    lead_column text,
    -- text/jsonb/bytea columns that can hold a person's data or identifiers, and those that cannot
    personal text[] not null default '{}',
    not_personal text[] not null default '{}',
    check ((erasure = 'delete') = (lead_column is not null))
);
