-- 0001: schemas, enums and the tenant tables.
-- Run once. Functions, views, policies and grants live in sql/objects/ and are re-applied.

-- Extensions live in `extensions`, as on Supabase (where vector is usually there already), so
-- their objects never mix with ours; code names them as extensions.vector.
create schema if not exists extensions;
create extension if not exists vector with schema extensions;

-- `salesflow` holds the tables and internal helpers; PostgREST never exposes it.
-- `api` is the only schema PostgREST exposes: RPCs and security_invoker views.
-- `analytics` holds materialized views for analysts (psql, BI tools), never exposed.
create schema if not exists salesflow;
create schema if not exists api;
create schema if not exists analytics;

create type salesflow.member_role as enum (
    'owner',   -- manages the organisation, its members and everything in it
    'admin',   -- everything an owner can, except removing owners
    'rep',     -- sees the whole organisation, changes only what they own
    'analyst'  -- reads everything, changes nothing
);

create type salesflow.lifecycle_stage as enum (
    'subscriber', 'lead', 'mql', 'sql', 'opportunity', 'customer', 'evangelist', 'disqualified'
);

create type salesflow.lead_source as enum (
    'website', 'referral', 'event', 'outbound', 'inbound_call', 'partner', 'social', 'paid_ads', 'import', 'other'
);

create type salesflow.deal_stage as enum (
    'prospecting', 'qualification', 'proposal', 'negotiation', 'closed_won', 'closed_lost'
);

create type salesflow.activity_kind as enum ('call', 'meeting', 'email', 'note', 'task');

create type salesflow.direction as enum ('inbound', 'outbound');

create type salesflow.channel as enum ('email', 'whatsapp', 'sms', 'linkedin', 'chat', 'phone');

create table salesflow.organizations (
    id uuid primary key default gen_random_uuid(),
    name text not null check (length(btrim(name)) between 1 and 200),
    slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    settings jsonb not null default '{}' check (jsonb_typeof(settings) = 'object'),
    created_at timestamptz not null default now()
);

create table salesflow.org_members (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    user_id uuid not null,
    role salesflow.member_role not null,
    display_name text,
    email text check (email is null or email = lower(btrim(email))),
    created_at timestamptz not null default now(),
    primary key (org_id, user_id)
);
-- RLS helpers look members up by user first: "which organisations is auth.uid() in?"
-- (organizations and org_members are small: under Citus they become reference tables, copied to
-- every node, so this index need not lead with org_id as the distributed tables' indexes do)
create index org_members_user_idx on salesflow.org_members (user_id, org_id);

create table salesflow.companies (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    name text not null check (length(btrim(name)) between 1 and 300),
    domain text check (domain is null or domain ~ '^[a-z0-9.-]+\.[a-z]{2,}$'),
    industry text,
    employee_count integer check (employee_count is null or employee_count >= 0),
    country char(2) check (country is null or country ~ '^[A-Z]{2}$'),
    attributes jsonb not null default '{}' check (jsonb_typeof(attributes) = 'object'),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (org_id, id)
);
create unique index companies_domain_key on salesflow.companies (org_id, domain) where domain is not null;
create index companies_created_idx on salesflow.companies (org_id, created_at desc, id);

create table salesflow.leads (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    company_id uuid,
    owner_id uuid,
    first_name text,
    last_name text,
    -- stored normalised (trimmed, lower case) so that lookups and uniqueness need no functions
    email text check (email is null or (email = lower(btrim(email)) and email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$')),
    phone text check (phone is null or phone ~ '^\+?[0-9]{6,15}$'),
    title text,
    source salesflow.lead_source not null default 'other',
    lifecycle_stage salesflow.lifecycle_stage not null default 'lead',
    language text not null default 'en' check (language ~ '^[a-z]{2}$'),
    attributes jsonb not null default '{}' check (jsonb_typeof(attributes) = 'object'),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    last_activity_at timestamptz,
    primary key (org_id, id),
    check (coalesce(first_name, last_name, email, phone) is not null),
    -- deleting a company keeps its people; deleting a member leaves their leads unowned
    foreign key (org_id, company_id) references salesflow.companies (org_id, id) on delete set null (company_id),
    foreign key (org_id, owner_id) references salesflow.org_members (org_id, user_id) on delete set null (owner_id)
);
create unique index leads_email_key on salesflow.leads (org_id, email) where email is not null;
-- list_leads filters by stage and owner and pages newest first
create index leads_stage_owner_idx on salesflow.leads (org_id, lifecycle_stage, owner_id, created_at desc, id);
create index leads_owner_idx on salesflow.leads (org_id, owner_id, created_at desc, id);
create index leads_created_idx on salesflow.leads (org_id, created_at desc, id);
create index leads_company_idx on salesflow.leads (org_id, company_id) where company_id is not null;

create table salesflow.deals (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    lead_id uuid,
    company_id uuid,
    owner_id uuid,
    name text not null check (length(btrim(name)) between 1 and 300),
    stage salesflow.deal_stage not null default 'prospecting',
    amount numeric(14, 2) not null default 0 check (amount >= 0),
    currency char(3) not null default 'EUR' check (currency ~ '^[A-Z]{3}$'),
    expected_close date,
    closed_at timestamptz,
    lost_reason text,
    attributes jsonb not null default '{}' check (jsonb_typeof(attributes) = 'object'),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (org_id, id),
    -- a deal is closed exactly when its stage says so, and only a lost deal has a lost reason
    check ((stage in ('closed_won', 'closed_lost')) = (closed_at is not null)),
    check (lost_reason is null or stage = 'closed_lost'),
    -- a deal outlives its contact and its company: revenue history must not vanish with a person
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete set null (lead_id),
    foreign key (org_id, company_id) references salesflow.companies (org_id, id) on delete set null (company_id),
    foreign key (org_id, owner_id) references salesflow.org_members (org_id, user_id) on delete set null (owner_id)
);
create index deals_stage_idx on salesflow.deals (org_id, stage, expected_close);
create index deals_created_idx on salesflow.deals (org_id, created_at desc, id);
create index deals_lead_idx on salesflow.deals (org_id, lead_id) where lead_id is not null;
create index deals_owner_idx on salesflow.deals (org_id, owner_id, stage);

create table salesflow.activities (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    lead_id uuid,
    deal_id uuid,
    owner_id uuid,
    kind salesflow.activity_kind not null,
    direction salesflow.direction,
    subject text,
    body text check (body is null or length(body) <= 100000),
    outcome text check (outcome is null or outcome ~ '^[a-z_]{1,40}$'),
    occurred_at timestamptz not null default now(),
    due_at timestamptz,
    completed_at timestamptz,
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    check (lead_id is not null or deal_id is not null),
    -- notes and tasks are internal; calls, meetings and emails go one way or the other
    check ((kind in ('note', 'task')) or direction is not null),
    check (due_at is null or kind = 'task'),
    -- a lead's history goes with the lead (erasure); a deal's with the deal only if it has no lead
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade,
    foreign key (org_id, deal_id) references salesflow.deals (org_id, id) on delete set null (deal_id),
    foreign key (org_id, owner_id) references salesflow.org_members (org_id, user_id) on delete set null (owner_id)
);
create index activities_lead_idx on salesflow.activities (org_id, lead_id, occurred_at desc, id);
create index activities_deal_idx on salesflow.activities (org_id, deal_id, occurred_at desc, id) where deal_id is not null;
create index activities_occurred_idx on salesflow.activities (org_id, occurred_at desc, id);
-- open tasks per owner: the rep's to-do list
create index activities_open_tasks_idx on salesflow.activities (org_id, owner_id, due_at)
where kind = 'task' and completed_at is null;

create table salesflow.messages (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    lead_id uuid not null,
    channel salesflow.channel not null,
    direction salesflow.direction not null,
    subject text,
    body text not null check (length(body) between 1 and 100000),
    language text check (language is null or language ~ '^[a-z]{2}$'),
    -- the provider's id (WhatsApp wamid, email Message-ID): webhooks redeliver, this makes them idempotent
    external_id text check (external_id is null or length(external_id) between 1 and 500),
    sent_at timestamptz not null default now(),
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);
create unique index messages_external_key on salesflow.messages (org_id, channel, external_id)
where external_id is not null;
create index messages_lead_idx on salesflow.messages (org_id, lead_id, sent_at desc, id);
create index messages_sent_idx on salesflow.messages (org_id, sent_at desc, id);

create table salesflow.channel_identities (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    channel salesflow.channel not null,
    -- normalised: emails lower case, phone numbers as + and digits (see salesflow.normalize_address)
    address text not null check (length(address) between 3 and 320),
    lead_id uuid not null,
    verified boolean not null default false,
    created_at timestamptz not null default now(),
    primary key (org_id, channel, address),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);
create index channel_identities_lead_idx on salesflow.channel_identities (org_id, lead_id);
