-- 0021: the contact-window fit per organisation (the empirical-Bayes weight of a lead's own
-- history and the pooling of its hours), and the cheaper refresh of the analysts' views.
-- Run once. Functions, policies and grants live in sql/objects/77_* and 79_*.

-- How much a lead's own responses weigh against the organisation's pattern, fitted by
-- salesflow.refresh_contact_patterns from how much leads' hours differ from it (a
-- Dirichlet-multinomial's precision by moments), and how a lead's few responses are spread to
-- similar hours before they are weighed (the same hour on other days of its kind, neighbouring hours).
create table salesflow.contact_pattern_fits (
    org_id uuid primary key references salesflow.organizations (id) on delete cascade,
    -- k in p = (own + k * prior) / (n + k): the prior weighs as much as k responses of the lead's own
    lead_weight real not null check (lead_weight > 0),
    -- false: too few leads with two or more responses to fit, lead_weight is the default
    estimated boolean not null default false,
    -- a response counts day_pool on each other day of its kind (weekday / weekend), and hour_pool
    -- on the hours before and after it, before the weights are normalised to one response
    day_pool real not null default 0.25 check (day_pool between 0 and 1),
    hour_pool real not null default 0.5 check (hour_pool between 0 and 1),
    leads integer not null default 0 check (leads >= 0),
    responses integer not null default 0 check (responses >= 0),
    -- Pearson dispersion of lead histories against the prior: 1 = no habits of their own
    dispersion real,
    refreshed_at timestamptz not null default now()
);

-- refresh_contact_patterns gains hide_latest (back-tests rebuild the prior without each lead's
-- latest responses); the one-argument version goes so that calls stay unambiguous
drop function if exists salesflow.refresh_contact_patterns(uuid);

-- Per lead and channel: touches each way, answered outbound touches (the next touch on the same
-- channel with the same lead is inbound) and their reply latencies. Kept by statement triggers
-- on messages and activities (sql/objects/79_analytics_views.sql), which recompute the touched
-- leads, so analytics.channel_performance_metrics aggregates ~one row per lead and channel instead
-- of ordering every touch at each refresh.
create table salesflow.lead_channel_stats (
    org_id uuid not null,
    lead_id uuid not null,
    channel text not null,
    outbound integer not null default 0 check (outbound >= 0),
    inbound integer not null default 0 check (inbound >= 0),
    answered integer not null default 0 check (answered >= 0),
    -- hours from each answered outbound touch to its reply, for the median
    reply_hours real[] not null default '{}',
    updated_at timestamptz not null default now(),
    primary key (org_id, lead_id, channel),
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);

-- followups_scored becomes a plain view (its query reads one partial index; materializing it cost
-- 5x that query in REFRESH CONCURRENTLY), channel_performance_metrics reads lead_channel_stats:
-- both are recreated by sql/objects/79_analytics_views.sql
drop materialized view if exists analytics.followups_scored;
drop materialized view if exists analytics.channel_performance_metrics;
delete from salesflow.job_schedules
where name = 'refresh_followups_scored';
