-- 0028: listening (issue 14): call transcripts, the organisation's competitor list and conversation
-- insights. Run once. Policies, RPCs and grants live in sql/objects/85_conversations.sql, the
-- coaching and competitor rules in sql/objects/86_conversation_rules.sql.

-- One transcript per call or meeting activity. An uploaded recording is kept in `audio` only until
-- it is transcribed (the transcribe_call job clears it in the transaction that stores the text),
-- and it goes with the activity, so erasing the lead erases it too (the foreign key cascades).
create table salesflow.call_transcripts (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    activity_id uuid not null,
    -- queued: waiting for the job; done: text and segments stored; failed: the provider refused it
    -- (status_detail says why); no_provider: no transcription provider is configured (the audio waits)
    status text not null check (status in ('queued', 'done', 'failed', 'no_provider')),
    status_detail text check (length(status_detail) <= 2000),
    -- upload: transcribed from an uploaded recording; manual: a transcript given as segments
    source text not null check (source in ('upload', 'manual')),
    language text check (language ~ '^[a-z]{2}$'),
    duration_seconds real check (duration_seconds >= 0),
    transcript text check (length(transcript) <= 1000000),
    -- [{"start": s, "end": s, "speaker": "rep"|"customer"|label|null, "text": "..."}], in time order
    segments jsonb not null default '[]' check (jsonb_typeof(segments) = 'array'),
    -- whether the segments name speakers (the provider diarised, or the manual transcript said)
    speakers_marked boolean not null default false,
    -- which speaker label is the organisation's own rep (coaching figures are the rep's)
    rep_speaker text check (length(rep_speaker) <= 100),
    audio bytea,
    audio_content_type text check (audio_content_type ~ '^[a-z]+/[a-z0-9.+-]{1,60}$'),
    audio_filename text check (length(audio_filename) <= 255),
    audio_bytes integer check (audio_bytes >= 0),
    audio_sha256 text check (audio_sha256 ~ '^[0-9a-f]{64}$'),
    -- provenance of a transcription: the logged call (llm_requests) and the model that heard it
    request_id bigint,
    provider text,
    model text,
    uploaded_by uuid,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    transcribed_at timestamptz,
    primary key (org_id, activity_id),
    check (status <> 'done' or transcript is not null),
    foreign key (org_id, activity_id) references salesflow.activities (org_id, id) on delete cascade
);
create index call_transcripts_pending_idx on salesflow.call_transcripts (org_id, updated_at)
where status in ('queued', 'no_provider');
alter table salesflow.call_transcripts enable row level security;

-- The organisation's own competitor list: what competitor mentions are matched against.
create table salesflow.competitors (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    name text not null check (length(btrim(name)) between 2 and 100),
    -- other spellings matched as the same competitor ("SFDC" for Salesforce)
    aliases text[] not null default '{}' check (cardinality(aliases) <= 20),
    created_by uuid,
    created_at timestamptz not null default now(),
    primary key (org_id, id)
);
create unique index competitors_name_key on salesflow.competitors (org_id, lower(name));
alter table salesflow.competitors enable row level security;

-- One analysis of one call or meeting transcript: queued by api.request_conversation_analysis,
-- written by the analyze_conversation job. method says who read it: 'baseline' (the offline
-- lexicons and dictionaries, functions/conversation.py) or 'model' (a prompt through the gateway,
-- with its prompt version and log row); the coaching figures are computed from the segments
-- either way.
create table salesflow.conversation_insights (
    org_id uuid not null references salesflow.organizations (id) on delete cascade,
    id uuid not null default gen_random_uuid(),
    activity_id uuid not null,
    lead_id uuid,
    status text not null default 'pending' check (status in ('pending', 'done', 'failed')),
    error text check (length(error) <= 2000),
    -- what was asked for: auto (the model where a provider other than the offline one is configured)
    requested_method text not null default 'auto' check (requested_method in ('auto', 'baseline', 'model')),
    method text check (method in ('baseline', 'model')),
    language text not null default 'en' check (language in ('de', 'en')),
    summary text check (length(summary) <= 5000),
    topics jsonb not null default '[]' check (jsonb_typeof(topics) = 'array'),
    -- per speaker, per time window: [{"speaker", "window_start", "window_end", "score", "label"}]
    sentiment jsonb not null default '[]' check (jsonb_typeof(sentiment) = 'array'),
    -- proposed tasks; a person accepts one (api.accept_conversation_action_item) to create the task
    action_items jsonb not null default '[]' check (jsonb_typeof(action_items) = 'array'),
    key_moments jsonb not null default '[]' check (jsonb_typeof(key_moments) = 'array'),
    objections jsonb not null default '[]' check (jsonb_typeof(objections) = 'array'),
    competitor_mentions jsonb not null default '[]' check (jsonb_typeof(competitor_mentions) = 'array'),
    -- talk-to-listen ratio, longest monologue, questions, interruptions (computed, never a model's)
    coaching jsonb not null default '{}' check (jsonb_typeof(coaching) = 'object'),
    -- provenance: the lexicon/dictionary version or the prompt version, the logged call, the inputs
    baseline_version text,
    prompt_name text,
    prompt_version integer,
    request_id bigint,
    model text,
    offline_model boolean not null default false,
    inputs jsonb not null default '{}' check (jsonb_typeof(inputs) = 'object'),
    requested_by uuid,
    created_at timestamptz not null default now(),
    completed_at timestamptz,
    primary key (org_id, id),
    check ((status = 'done') = (method is not null)),
    check (method is distinct from 'model' or request_id is not null),
    foreign key (org_id, activity_id) references salesflow.activities (org_id, id) on delete cascade,
    foreign key (org_id, lead_id) references salesflow.leads (org_id, id) on delete cascade
);
create index conversation_insights_activity_idx on salesflow.conversation_insights (org_id, activity_id, created_at desc);
create index conversation_insights_lead_idx on salesflow.conversation_insights (org_id, lead_id, created_at desc)
where lead_id is not null;
create index conversation_insights_request_idx on salesflow.conversation_insights (org_id, request_id)
where request_id is not null;
alter table salesflow.conversation_insights enable row level security;
