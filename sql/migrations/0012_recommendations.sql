-- 0012: next best actions (recommendations with decay, expiry, reactions and learning), the rules
-- that make them, lead stage history, contact patterns, success patterns and playbooks.
-- Run once. Functions, triggers, policies, views and grants live in sql/objects/75_*–79_*.

create type salesflow.recommendation_action as enum (
    'call', 'email', 'whatsapp', 'meeting', 'send_content',
    'assess_bant',         -- a qualification gap: budget, authority, need or timeline unknown
    'profile_personality', -- no DISG profile yet although there is enough conversation to read one
    're_engage',           -- the lead went quiet
    'close_out',           -- a deal past its expected close: win it, lose it or move the date
    'update_context',      -- the lead's record is stale or incomplete
    'review_compliance'    -- an AI output about the lead was withheld by the compliance check
);

create type salesflow.recommendation_status as enum (
    'open',      -- offered to the assignee, decaying
    'accepted',  -- the assignee said they will do it
    'dismissed', -- the assignee said no (counts towards the re-offer limit)
    'snoozed',   -- hidden until snoozed_until, then open again
    'done',      -- carried out (by the assignee, or the condition cleared, e.g. the lead got a reply)
    'expired'    -- passed expires_at without being done; kept, never deleted
);

create type salesflow.recommendation_reaction as enum ('accepted', 'dismissed', 'snoozed', 'done', 'reopened');

-- Rules as data. A row is one version of one rule: the shipped defaults have org_id null, an
-- organisation overrides a rule by adding its own versions. The condition of each rule_key is a
-- set-based query in salesflow.evaluate_recommendations (the "detector"); everything a team tunes —
-- on/off, thresholds, priority, half-life, lifetime, re-offer limits — is here, and a version is
-- never edited: a change is a new version, and every recommendation names the version that made it.
-- A reference table under Citus (small, shared defaults plus overrides), so its key is the id.
create table salesflow.recommendation_rules (
    org_id uuid references salesflow.organizations (id) on delete cascade,
    id bigint generated always as identity primary key,
    rule_key text not null check (rule_key ~ '^[a-z][a-z0-9_]{0,62}$'),
    version integer not null check (version >= 1),
    action_type salesflow.recommendation_action not null,
    enabled boolean not null default true,
    base_priority real not null check (base_priority between 0 and 100),
    half_life interval not null check (half_life >= interval '1 hour'),
    -- expires_at = created_at + ttl
    ttl interval not null check (ttl >= interval '1 hour'),
    -- thresholds of the detector, e.g. {"quiet_days": 14}
    params jsonb not null default '{}' check (jsonb_typeof(params) = 'object'),
    -- no re-offer within reoffer_after of a dismissal; none at all after reoffer_limit dismissals
    -- within reoffer_window
    reoffer_after interval not null default '3 days',
    reoffer_limit integer not null default 2 check (reoffer_limit >= 1),
    reoffer_window interval not null default '30 days',
    description text not null check (length(description) between 1 and 500),
    created_by uuid,
    created_at timestamptz not null default now(),
    unique nulls not distinct (org_id, rule_key, version)
);
create index recommendation_rules_org_idx on salesflow.recommendation_rules (org_id, rule_key, version desc);

-- The rank of an open item among items of the same half-life, independent of the clock:
-- base × 0.5^((now - offered_at) / half_life) orders as log2(base) + offered_at / half_life, since
-- now / half_life is the same for all of them. A stored column and an index on it let the rep's list
-- read the top few of each half-life instead of decaying every open item (see
-- api.recommend_followup_actions). Defined here because the table's generated column needs it.
create function salesflow.decay_key(base_priority real, half_life interval, offered_at timestamptz)
returns double precision
language sql
immutable
parallel safe
set search_path = ''
as $$
    select pg_catalog.ln(greatest(decay_key.base_priority, 0.000001)::double precision) / pg_catalog.ln(2.0::double precision)
           + extract(epoch from decay_key.offered_at)::double precision / extract(epoch from decay_key.half_life)::double precision
$$;

create table salesflow.ai_recommendations (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    lead_id uuid,
    deal_id uuid,
    assignee_id uuid,
    action_type salesflow.recommendation_action not null,
    -- what makes it unique among the live ones: the rule key, 'ai:<suggestion>:<n>', 'playbook:<execution>:<step>'
    reason_key text not null check (length(reason_key) between 1 and 200),
    -- for the rep: which signals, in words, and links to the rows ([{"table", "id", "at"}])
    reason text not null check (length(reason) between 1 and 1000),
    evidence jsonb not null default '[]' check (jsonb_typeof(evidence) = 'array'),
    base_priority real not null check (base_priority between 0 and 100),
    half_life interval not null check (half_life >= interval '1 minute'),
    -- decay runs from here: creation, or the moment a snooze ended
    offered_at timestamptz not null default now(),
    decay_key double precision generated always as (salesflow.decay_key(base_priority, half_life, offered_at)) stored,
    expires_at timestamptz not null,
    due_at timestamptz,
    -- source: exactly one of a rule version, an accepted AI suggestion, a playbook step, or a person
    source text not null check (source in ('rule', 'ai_suggestion', 'playbook', 'manual')),
    rule_id bigint references salesflow.recommendation_rules (id),
    rule_key text,
    rule_version integer,
    suggestion_id uuid,
    playbook_execution_id uuid,
    -- the lead score model and score when it fired (optional: rules run without a score)
    score_model text,
    score real,
    -- snapshot when it fired, for honest comparisons later: segment, lifecycle stage, score band
    segment text not null default 'other',
    stage_at_fire salesflow.lifecycle_stage,
    score_band text not null default 'none' check (score_band in ('none', 'low', 'mid', 'high')),
    status salesflow.recommendation_status not null default 'open',
    snoozed_until timestamptz,
    status_changed_at timestamptz not null default now(),
    status_changed_by uuid,
    -- why it closed without a person: 'condition_cleared', 'expired', 'superseded'
    closed_reason text check (closed_reason is null or closed_reason ~ '^[a-z_]{1,40}$'),
    created_by uuid,
    created_at timestamptz not null default now(),
    primary key (org_id, id),
    check (lead_id is not null or deal_id is not null),
    check ((status = 'snoozed') = (snoozed_until is not null)),
    check ((source = 'rule') = (rule_id is not null)),
    check (expires_at > created_at),
    -- erasure of a lead takes its recommendations with it; a deal's go with the deal
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade,
    foreign key (org_id, deal_id) references salesflow.deals (org_id, id) on delete cascade,
    foreign key (org_id, assignee_id) references salesflow.org_members (org_id, user_id) on delete set null (assignee_id)
);
-- No duplicates: one live (open, snoozed or accepted) recommendation per lead, type and reason;
-- concurrent evaluations insert with ON CONFLICT DO NOTHING against this index.
create unique index ai_recommendations_live_key on salesflow.ai_recommendations (
    org_id, coalesce(lead_id, deal_id), action_type, reason_key
) where status in ('open', 'snoozed', 'accepted');
-- recommend_followup_actions: a rep's open items by half-life, best first within each (decay_key),
-- with what the decay needs; also the foreign key's index for removing a member
create index ai_recommendations_rank_idx on salesflow.ai_recommendations (org_id, assignee_id, half_life, decay_key desc)
include (base_priority, offered_at, expires_at) where status = 'open';
create index ai_recommendations_assignee_idx on salesflow.ai_recommendations (org_id, assignee_id) where status <> 'open';
create index ai_recommendations_lead_idx on salesflow.ai_recommendations (org_id, lead_id, created_at desc)
where lead_id is not null;
create index ai_recommendations_deal_idx on salesflow.ai_recommendations (org_id, deal_id) where deal_id is not null;
-- the sweep: what expires or wakes next
create index ai_recommendations_expiry_idx on salesflow.ai_recommendations (org_id, expires_at)
where status in ('open', 'snoozed', 'accepted');
create index ai_recommendations_snooze_idx on salesflow.ai_recommendations (org_id, snoozed_until) where status = 'snoozed';
-- the re-offer limit: dismissals of one rule for one lead
create index ai_recommendations_dismissed_idx on salesflow.ai_recommendations (org_id, lead_id, reason_key, status_changed_at)
where status = 'dismissed';
create index ai_recommendations_rule_idx on salesflow.ai_recommendations (org_id, rule_id) where rule_id is not null;

-- Every reaction, append-only: who, when, what and why. The recommendation's status is the last one.
create table salesflow.recommendation_reactions (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id bigint generated always as identity,
    recommendation_id uuid not null,
    user_id uuid,
    reaction salesflow.recommendation_reaction not null,
    note text check (note is null or length(note) <= 2000),
    snooze_until timestamptz,
    reacted_at timestamptz not null default now(),
    primary key (org_id, id),
    check ((reaction = 'snoozed') = (snooze_until is not null)),
    foreign key (org_id, recommendation_id) references salesflow.ai_recommendations (org_id, id) on delete cascade
);
create index recommendation_reactions_rec_idx on salesflow.recommendation_reactions (org_id, recommendation_id, reacted_at);
create index recommendation_reactions_time_idx on salesflow.recommendation_reactions (org_id, reacted_at);

-- Beta–Bernoulli evidence per rule and segment: successes (accepted or done by a person) and
-- failures (dismissed or expired). The prior is in salesflow.rule_prior() (objects file 76).
create table salesflow.recommendation_rule_stats (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    rule_key text not null,
    segment text not null,
    successes integer not null default 0 check (successes >= 0),
    failures integer not null default 0 check (failures >= 0),
    updated_at timestamptz not null default now(),
    primary key (org_id, rule_key, segment)
);

-- Lifecycle stage changes of a lead (a trigger writes them): stage-to-stage conversion and time per
-- step, and whether a lead advanced after a recommendation.
create table salesflow.lead_stage_changes (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id bigint generated always as identity,
    lead_id uuid not null,
    from_stage salesflow.lifecycle_stage,
    to_stage salesflow.lifecycle_stage not null,
    changed_at timestamptz not null default now(),
    primary key (org_id, id),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);
create index lead_stage_changes_lead_idx on salesflow.lead_stage_changes (org_id, lead_id, changed_at);

-- Country calling codes to a representative time zone (the most populous zone of the country), for
-- leads with a phone number and no time zone of their own. Longest prefix wins. A reference table.
create table salesflow.calling_code_zones (
    prefix text primary key check (prefix ~ '^[0-9]{1,4}$'),
    country char(2) not null,
    timezone text not null
);

-- Responses (inbound messages, answered calls, replies) per hour of the week in the lead's local
-- time, per organisation and segment ('*' = the whole organisation): the prior that a thin lead
-- history is shrunk toward. Rebuilt by the contact_patterns schedule.
create table salesflow.contact_patterns (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    segment text not null,
    hour_of_week smallint not null check (hour_of_week between 0 and 167),
    responses integer not null check (responses >= 0),
    refreshed_at timestamptz not null default now(),
    primary key (org_id, segment, hour_of_week)
);

-- Success patterns, mined by the mine_success_patterns job: an item set or an ordered pair of
-- touches (kind/channel/direction) and timing facts, with support, confidence and lift against the
-- base rate of the outcome.
create table salesflow.success_patterns (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id bigint generated always as identity,
    -- 'deal_won' (won vs lost deals) or 'lead_converted' (customer vs disqualified leads)
    outcome text not null check (outcome in ('deal_won', 'lead_converted')),
    pattern_key text not null check (length(pattern_key) between 1 and 300),
    description text not null,
    -- cases (closed deals or finished leads) that show the pattern / all cases
    support real not null check (support between 0 and 1),
    -- P(success | pattern)
    confidence real not null check (confidence between 0 and 1),
    -- confidence / P(success)
    lift real not null check (lift >= 0),
    cases integer not null check (cases >= 0),
    successes integer not null check (successes >= 0),
    median_days_to_outcome real,
    mined_at timestamptz not null default now(),
    job_id bigint,
    primary key (org_id, id),
    unique (org_id, outcome, pattern_key)
);

create type salesflow.playbook_step_status as enum ('pending', 'done', 'skipped');

create table salesflow.playbooks (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    name text not null check (length(btrim(name)) between 1 and 200),
    description text,
    -- the pattern it was proposed from, if any
    pattern_id bigint,
    active boolean not null default true,
    created_by uuid,
    created_at timestamptz not null default now(),
    primary key (org_id, id)
);

create table salesflow.playbook_steps (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    playbook_id uuid not null,
    position integer not null check (position between 1 and 100),
    action_type salesflow.recommendation_action not null,
    channel salesflow.channel,
    title text not null check (length(btrim(title)) between 1 and 300),
    -- how long after the previous step this one is due
    wait interval not null default '0' check (wait >= interval '0'),
    primary key (org_id, playbook_id, position),
    foreign key (org_id, playbook_id) references salesflow.playbooks (org_id, id) on delete cascade
);

create table salesflow.playbook_executions (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    playbook_id uuid not null,
    lead_id uuid not null,
    assignee_id uuid,
    current_position integer,
    status text not null default 'active' check (status in ('active', 'completed', 'cancelled')),
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    primary key (org_id, id),
    check ((status = 'active') = (finished_at is null)),
    foreign key (org_id, playbook_id) references salesflow.playbooks (org_id, id) on delete cascade,
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade,
    foreign key (org_id, assignee_id) references salesflow.org_members (org_id, user_id) on delete set null (assignee_id)
);
-- a lead runs a playbook once at a time
create unique index playbook_executions_active_key on salesflow.playbook_executions (org_id, lead_id, playbook_id)
where status = 'active';
create index playbook_executions_playbook_idx on salesflow.playbook_executions (org_id, playbook_id);

create table salesflow.playbook_execution_steps (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    execution_id uuid not null,
    position integer not null,
    status salesflow.playbook_step_status not null default 'pending',
    due_at timestamptz,
    finished_at timestamptz,
    finished_by uuid,
    primary key (org_id, execution_id, position),
    check ((status = 'pending') = (finished_at is null)),
    foreign key (org_id, execution_id) references salesflow.playbook_executions (org_id, id) on delete cascade
);

insert into salesflow.calling_code_zones (prefix, country, timezone) values
('1', 'US', 'America/New_York'), ('7', 'RU', 'Europe/Moscow'), ('20', 'EG', 'Africa/Cairo'),
('27', 'ZA', 'Africa/Johannesburg'), ('30', 'GR', 'Europe/Athens'), ('31', 'NL', 'Europe/Amsterdam'),
('32', 'BE', 'Europe/Brussels'), ('33', 'FR', 'Europe/Paris'), ('34', 'ES', 'Europe/Madrid'),
('36', 'HU', 'Europe/Budapest'), ('39', 'IT', 'Europe/Rome'), ('40', 'RO', 'Europe/Bucharest'),
('41', 'CH', 'Europe/Zurich'), ('43', 'AT', 'Europe/Vienna'), ('44', 'GB', 'Europe/London'),
('45', 'DK', 'Europe/Copenhagen'), ('46', 'SE', 'Europe/Stockholm'), ('47', 'NO', 'Europe/Oslo'),
('48', 'PL', 'Europe/Warsaw'), ('49', 'DE', 'Europe/Berlin'), ('51', 'PE', 'America/Lima'),
('52', 'MX', 'America/Mexico_City'), ('54', 'AR', 'America/Argentina/Buenos_Aires'),
('55', 'BR', 'America/Sao_Paulo'), ('56', 'CL', 'America/Santiago'), ('57', 'CO', 'America/Bogota'),
('60', 'MY', 'Asia/Kuala_Lumpur'), ('61', 'AU', 'Australia/Sydney'), ('62', 'ID', 'Asia/Jakarta'),
('63', 'PH', 'Asia/Manila'), ('64', 'NZ', 'Pacific/Auckland'), ('65', 'SG', 'Asia/Singapore'),
('66', 'TH', 'Asia/Bangkok'), ('81', 'JP', 'Asia/Tokyo'), ('82', 'KR', 'Asia/Seoul'),
('84', 'VN', 'Asia/Ho_Chi_Minh'), ('86', 'CN', 'Asia/Shanghai'), ('90', 'TR', 'Europe/Istanbul'),
('91', 'IN', 'Asia/Kolkata'), ('92', 'PK', 'Asia/Karachi'), ('351', 'PT', 'Europe/Lisbon'),
('352', 'LU', 'Europe/Luxembourg'), ('353', 'IE', 'Europe/Dublin'), ('358', 'FI', 'Europe/Helsinki'),
('420', 'CZ', 'Europe/Prague'), ('421', 'SK', 'Europe/Bratislava'), ('423', 'LI', 'Europe/Vaduz'),
('971', 'AE', 'Asia/Dubai'), ('972', 'IL', 'Asia/Jerusalem'), ('966', 'SA', 'Asia/Riyadh');

-- What the recommendation RPCs return (DESIGN.md decision 11): the API's shape, not the table's.
create type api.recommendation as (
    id uuid,
    lead_id uuid,
    deal_id uuid,
    lead_name text,
    assignee_id uuid,
    action_type salesflow.recommendation_action,
    reason text,
    evidence jsonb,
    -- base × 0.5^(age / half_life), at the time asked for
    priority real,
    base_priority real,
    half_life interval,
    offered_at timestamptz,
    expires_at timestamptz,
    due_at timestamptz,
    source text,
    rule_key text,
    rule_version integer,
    status salesflow.recommendation_status,
    snoozed_until timestamptz,
    created_at timestamptz
);

create type api.contact_window as (
    rank integer,
    -- 0 = Sunday … 6 = Saturday, hour 0–23, in `timezone`
    day_of_week integer,
    hour integer,
    label text,
    -- share of this lead's responses expected in this hour (shrunk toward the organisation's pattern)
    probability real,
    lead_responses_in_hour integer,
    lead_responses integer,
    -- weight of the lead's own history against the prior: n / (n + k)
    confidence real,
    timezone text,
    timezone_source text
);

-- covering indexes for the foreign keys the splinter-style check names
create index ai_recommendations_rule_fk_idx on salesflow.ai_recommendations (rule_id);
create index playbook_executions_assignee_idx on salesflow.playbook_executions (org_id, assignee_id);
