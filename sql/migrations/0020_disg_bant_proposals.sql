-- 0020: DISG profiles from the lead's own messages, DISG guidance as data, BANT proposals from the
-- conversation. Run once. Functions, policies and grants live in sql/objects/74_disg_bant_ai.sql.

-- A profile made by the deterministic word-list baseline (no model could answer) says so.
alter table salesflow.personality_profiles drop constraint personality_profiles_source_check;
alter table salesflow.personality_profiles add constraint personality_profiles_source_check
check (source in ('ai', 'baseline', 'manual'));
alter table salesflow.personality_profiles add column language text not null default 'en'
check (language in ('de', 'en'));
-- Little evidence: fewer than 3 messages of the lead's own, or fewer than 2 quotes that were found
-- in them. Such a profile is a guess and says so (its confidence is capped at 0.4 when stored).
alter table salesflow.personality_profiles add column little_evidence boolean generated always as (
    message_count < 3 or jsonb_array_length(evidence_quotes) < 2
) stored;

-- How to talk to each DISG type, in German and English: shipped guidance kept as data, not
-- generated per request. Global reference rows (no org_id), read through
-- salesflow.disg_guidance_for.
create table salesflow.disg_guidance (
    dominant_type text not null check (dominant_type in ('D', 'I', 'S', 'G')),
    language text not null check (language in ('de', 'en')),
    aspect text not null check (aspect in ('summary', 'do', 'avoid', 'pace', 'email')),
    position smallint not null check (position between 1 and 20),
    guidance text not null check (length(guidance) between 1 and 500),
    primary key (dominant_type, language, aspect, position)
);

-- BANT proposals from the AI: the job that made one (a redelivered job stores it once) and the
-- conversation evidence per dimension the model gave for it.
alter table salesflow.bant_assessments add column job_id bigint;
alter table salesflow.bant_assessments add column evidence jsonb not null default '{}'
check (jsonb_typeof(evidence) = 'object' and pg_column_size(evidence) <= 16384);
alter table salesflow.bant_assessments add column offline_model boolean not null default false;
alter table salesflow.bant_assessments add column reviewed_by uuid;
create unique index bant_assessments_job_key on salesflow.bant_assessments (org_id, job_id)
where job_id is not null;
