-- Listening (issue 14): call recordings and transcripts, the organisation's competitor list, and
-- conversation insights. Everything here runs as the caller (RLS decides); the jobs that transcribe
-- and analyse (functions/handlers/transcribe_call.py, analyze_conversation.py) are queued through
-- the one definer helper below, since app roles cannot write jobs.

-- == policies: members read; owners, admins and reps write ==================================
drop policy if exists call_transcripts_select on salesflow.call_transcripts;
create policy call_transcripts_select on salesflow.call_transcripts for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists call_transcripts_write on salesflow.call_transcripts;
drop policy if exists call_transcripts_insert on salesflow.call_transcripts;
create policy call_transcripts_insert on salesflow.call_transcripts for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));
drop policy if exists call_transcripts_update on salesflow.call_transcripts;
create policy call_transcripts_update on salesflow.call_transcripts for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

drop policy if exists competitors_select on salesflow.competitors;
create policy competitors_select on salesflow.competitors for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists competitors_insert on salesflow.competitors;
create policy competitors_insert on salesflow.competitors for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));
-- add_competitor replaces the aliases of a name already listed (ON CONFLICT DO UPDATE)
drop policy if exists competitors_update on salesflow.competitors;
create policy competitors_update on salesflow.competitors for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));
drop policy if exists competitors_delete on salesflow.competitors;
create policy competitors_delete on salesflow.competitors for delete to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

drop policy if exists conversation_insights_select on salesflow.conversation_insights;
create policy conversation_insights_select on salesflow.conversation_insights for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists conversation_insights_insert on salesflow.conversation_insights;
create policy conversation_insights_insert on salesflow.conversation_insights for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));
drop policy if exists conversation_insights_update on salesflow.conversation_insights;
create policy conversation_insights_update on salesflow.conversation_insights for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

revoke all on salesflow.call_transcripts, salesflow.competitors, salesflow.conversation_insights
from anon, authenticated, service_role;
grant select, insert, update on salesflow.call_transcripts to authenticated, service_role;
grant select, insert, update, delete on salesflow.competitors to authenticated, service_role;
grant select, insert, update on salesflow.conversation_insights to authenticated, service_role;

-- == helpers ==================================================================================
-- What a recording may be: OpenAI's transcription endpoint takes up to 25 MB of these formats.
create or replace function salesflow.recording_limits()
returns jsonb
language sql
immutable
security invoker
set search_path = ''
as $$
    select '{"max_bytes": 26214400, "content_types": ["audio/mpeg", "audio/mp3", "audio/mp4", "audio/m4a",
             "audio/x-m4a", "audio/wav", "audio/x-wav", "audio/wave", "audio/webm", "audio/ogg", "audio/flac",
             "video/mp4", "video/webm"]}'::jsonb
$$;
comment on function salesflow.recording_limits() is
'The largest recording (bytes) and the content types api.upload_call_recording accepts.';

-- Queue a listening job for one row. security definer, justified: app roles cannot write jobs;
-- only the two listening kinds, keyed by the row they work on.
create or replace function salesflow.queue_listening_job(kind text, org_id uuid, id uuid)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
    if queue_listening_job.kind not in ('transcribe_call', 'analyze_conversation') then
        raise sqlstate '22023' using message = pg_catalog.format('%s is not a listening job', queue_listening_job.kind);
    end if;
    return salesflow.enqueue(
        queue_listening_job.kind,
        pg_catalog.jsonb_build_object(
            case when queue_listening_job.kind = 'transcribe_call' then 'activity_id' else 'insight_id' end,
            queue_listening_job.id
        ),
        org_id => queue_listening_job.org_id,
        idempotency_key => queue_listening_job.kind || ':' || queue_listening_job.id::text
    );
end
$$;
comment on function salesflow.queue_listening_job(text, uuid, uuid) is
'Queue transcribe_call (an activity) or analyze_conversation (an insight). security definer, justified: '
'app roles cannot write jobs; the kind is checked and the payload is the id only.';

-- The caller's call or meeting activity, or PT404; reps and above to change it, anyone to read.
create or replace function salesflow.listening_activity(org_id uuid, activity_id uuid, write boolean)
returns salesflow.activities
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    a salesflow.activities;
begin
    select x.* into a from salesflow.activities as x
    where x.org_id = listening_activity.org_id and x.id = listening_activity.activity_id;
    if a.id is null then
        perform salesflow.not_found('activity', listening_activity.activity_id);
    end if;
    if listening_activity.write and not a.org_id = any(salesflow.my_org_ids('{owner,admin,rep}')) then
        raise sqlstate '42501' using message = 'only owners, admins and reps may change recordings and analyses';
    end if;
    if a.kind not in ('call', 'meeting') then
        raise sqlstate '22023' using
            message = pg_catalog.format('activity %s is a %s; recordings and analyses are for calls and meetings',
                                        a.id, a.kind);
    end if;
    if a.lead_id is not null and not salesflow.ai_processing_allowed(a.org_id, a.lead_id) then
        raise sqlstate 'PT409' using
            message = pg_catalog.format('lead %s does not consent to AI processing', a.lead_id),
            hint = 'Nothing of this call is transcribed or analysed by the AI features.';
    end if;
    return a;
end
$$;

-- Segments as given by a person or a provider, checked and normalised:
-- [{"start": s, "end": s, "speaker": text|null, "text": text}], time order, at most 5,000.
create or replace function salesflow.clean_segments(segments jsonb)
returns jsonb
language plpgsql
immutable
security invoker
set search_path = ''
as $$
declare
    s jsonb;
    n integer := 0;
    prev_start double precision := 0;
    out jsonb := '[]';
begin
    if clean_segments.segments is null or pg_catalog.jsonb_typeof(clean_segments.segments) <> 'array' then
        raise sqlstate '22023' using message = 'segments must be a JSON array of {start, end, speaker, text}';
    end if;
    if pg_catalog.jsonb_array_length(clean_segments.segments) > 5000 then
        raise sqlstate '22023' using message = 'a transcript has at most 5000 segments';
    end if;
    for s in select x from pg_catalog.jsonb_array_elements(clean_segments.segments) as x loop
        n := n + 1;
        if pg_catalog.jsonb_typeof(s) <> 'object' or pg_catalog.jsonb_typeof(s -> 'text') is distinct from 'string'
           or pg_catalog.jsonb_typeof(s -> 'start') is distinct from 'number'
           or pg_catalog.jsonb_typeof(s -> 'end') is distinct from 'number' then
            raise sqlstate '22023' using
                message = pg_catalog.format('segment %s needs numeric start and end (seconds) and a text', n);
        end if;
        if (s ->> 'start')::double precision < 0 or (s ->> 'end')::double precision < (s ->> 'start')::double precision
           or (s ->> 'start')::double precision < prev_start then
            raise sqlstate '22023' using
                message = pg_catalog.format('segment %s: start must be >= 0, end >= start, and segments in time order', n);
        end if;
        if pg_catalog.length(s ->> 'text') > 20000 or pg_catalog.length(s ->> 'speaker') > 100 then
            raise sqlstate '22023' using
                message = pg_catalog.format('segment %s: text is limited to 20000 characters, speaker to 100', n);
        end if;
        prev_start := (s ->> 'start')::double precision;
        out := out || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
            'start', (s -> 'start'), 'end', (s -> 'end'),
            'speaker', nullif(pg_catalog.btrim(s ->> 'speaker'), ''), 'text', pg_catalog.btrim(s ->> 'text')
        ));
    end loop;
    return out;
end
$$;

-- == transcripts ==============================================================================
-- A transcript as the API shows it: never the audio itself.
create or replace function salesflow.transcript_json(t salesflow.call_transcripts)
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
    select pg_catalog.to_jsonb(t) - 'audio' || pg_catalog.jsonb_build_object('audio_kept', t.audio is not null)
$$;

create or replace function api.upload_call_recording(
    org_id uuid, activity_id uuid, audio bytea, content_type text, filename text default null
)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    a salesflow.activities;
    limits jsonb := salesflow.recording_limits();
    kind text := pg_catalog.lower(pg_catalog.split_part(upload_call_recording.content_type, ';', 1));
    t salesflow.call_transcripts;
begin
    a := salesflow.listening_activity(upload_call_recording.org_id, upload_call_recording.activity_id, true);
    if upload_call_recording.audio is null or pg_catalog.length(upload_call_recording.audio) = 0 then
        raise sqlstate '22023' using message = 'the recording is empty';
    end if;
    if pg_catalog.length(upload_call_recording.audio) > (limits ->> 'max_bytes')::integer then
        raise sqlstate '22023' using
            message = pg_catalog.format('the recording has %s bytes; the limit is %s',
                                        pg_catalog.length(upload_call_recording.audio), limits ->> 'max_bytes');
    end if;
    if kind is null or not (limits -> 'content_types') ? kind then
        raise sqlstate '22023' using
            message = pg_catalog.format('content type %L is not a recording format', upload_call_recording.content_type),
            hint = 'Upload mp3, mp4, m4a, wav, webm, ogg or flac audio.';
    end if;
    insert into salesflow.call_transcripts as c (
        org_id, activity_id, status, source, audio, audio_content_type, audio_filename, audio_bytes, audio_sha256,
        uploaded_by
    )
    values (
        a.org_id, a.id, 'queued', 'upload', upload_call_recording.audio, kind,
        pg_catalog.left(upload_call_recording.filename, 255), pg_catalog.length(upload_call_recording.audio),
        pg_catalog.encode(pg_catalog.sha256(upload_call_recording.audio), 'hex'), (select auth.uid())
    )
    on conflict on constraint call_transcripts_pkey do update set
        status = 'queued', status_detail = null, source = 'upload', audio = excluded.audio,
        audio_content_type = excluded.audio_content_type, audio_filename = excluded.audio_filename,
        audio_bytes = excluded.audio_bytes, audio_sha256 = excluded.audio_sha256, uploaded_by = excluded.uploaded_by,
        updated_at = pg_catalog.now()
    returning c.* into t;
    perform salesflow.queue_listening_job('transcribe_call', a.org_id, a.id);
    return salesflow.transcript_json(t);
end
$$;
comment on function api.upload_call_recording(uuid, uuid, bytea, text, text) is
'Store a call or meeting recording (at most 25 MB of mp3, mp4, m4a, wav, webm, ogg or flac) and queue its '
'transcription. The audio is kept only until it is transcribed, and goes with the lead on erasure.';

create or replace function api.set_call_transcript(
    org_id uuid, activity_id uuid, transcript_segments jsonb, language text default null,
    rep_speaker text default null
)
returns jsonb
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    a salesflow.activities;
    segs jsonb;
    t salesflow.call_transcripts;
begin
    a := salesflow.listening_activity(set_call_transcript.org_id, set_call_transcript.activity_id, true);
    segs := salesflow.clean_segments(set_call_transcript.transcript_segments);
    if pg_catalog.jsonb_array_length(segs) = 0 then
        raise sqlstate '22023' using message = 'a transcript needs at least one segment';
    end if;
    if set_call_transcript.language is not null and set_call_transcript.language !~ '^[a-z]{2}$' then
        raise sqlstate '22023' using message = 'language is a two-letter code such as de or en';
    end if;
    insert into salesflow.call_transcripts as c (
        org_id, activity_id, status, source, language, duration_seconds, transcript, segments, speakers_marked,
        rep_speaker, uploaded_by, transcribed_at
    )
    select a.org_id, a.id, 'done', 'manual', set_call_transcript.language,
           (select max((x ->> 'end')::real) from pg_catalog.jsonb_array_elements(segs) as x),
           (select pg_catalog.string_agg(coalesce(x ->> 'speaker' || ': ', '') || (x ->> 'text'), E'\n')
            from pg_catalog.jsonb_array_elements(segs) as x),
           segs,
           not exists (select from pg_catalog.jsonb_array_elements(segs) as x where x ->> 'speaker' is null),
           set_call_transcript.rep_speaker, (select auth.uid()), pg_catalog.now()
    on conflict on constraint call_transcripts_pkey do update set
        status = 'done', status_detail = null, source = 'manual', language = excluded.language,
        duration_seconds = excluded.duration_seconds, transcript = excluded.transcript, segments = excluded.segments,
        speakers_marked = excluded.speakers_marked, rep_speaker = excluded.rep_speaker, audio = null,
        request_id = null, provider = null, model = null, updated_at = pg_catalog.now(),
        transcribed_at = pg_catalog.now()
    returning c.* into t;
    return salesflow.transcript_json(t);
end
$$;
comment on function api.set_call_transcript(uuid, uuid, jsonb, text, text) is
'Give a call or meeting its transcript as segments [{start, end, speaker, text}] (e.g. from a meeting tool); '
'rep_speaker names the label of your own rep, whose coaching figures are computed.';

create or replace function api.get_call_transcript(org_id uuid, activity_id uuid)
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    t salesflow.call_transcripts;
begin
    select c.* into t from salesflow.call_transcripts as c
    where c.org_id = get_call_transcript.org_id and c.activity_id = get_call_transcript.activity_id;
    if t.activity_id is null then
        perform salesflow.not_found('transcript of activity', get_call_transcript.activity_id);
    end if;
    return salesflow.transcript_json(t);
end
$$;
comment on function api.get_call_transcript(uuid, uuid) is
'A call''s transcript and its status: queued, done, failed (status_detail says why) or no_provider (no '
'transcription provider is configured; the recording waits). Never the audio itself.';

-- == competitors ==============================================================================
create or replace function api.add_competitor(org_id uuid, name text, aliases text [] default '{}')
returns api.competitors
language plpgsql
volatile
security invoker
set search_path = ''
as $$
-- ON CONFLICT's column list names columns that share the parameters' names
#variable_conflict use_column
declare
    r salesflow.competitors;
begin
    if add_competitor.name is null or pg_catalog.length(pg_catalog.btrim(add_competitor.name)) not between 2 and 100
       or exists (select from pg_catalog.unnest(add_competitor.aliases) as x
                  where pg_catalog.length(pg_catalog.btrim(x)) not between 2 and 100) then
        raise sqlstate '22023' using message = 'a competitor''s name and aliases have 2 to 100 characters';
    end if;
    insert into salesflow.competitors (org_id, name, aliases, created_by)
    values (add_competitor.org_id, pg_catalog.btrim(add_competitor.name),
            coalesce((select pg_catalog.array_agg(distinct pg_catalog.btrim(x))
                      from pg_catalog.unnest(add_competitor.aliases) as x), '{}'),
            (select auth.uid()))
    on conflict (org_id, (pg_catalog.lower(name))) do update set aliases = excluded.aliases
    returning * into r;
    return salesflow.api_competitor(r);
end
$$;
comment on function api.add_competitor(uuid, text, text []) is
'Add a competitor (or replace its aliases): conversation analysis matches mentions against this list.';

create or replace function api.list_competitors(org_id uuid)
returns setof api.competitors
language sql
stable
security invoker
set search_path = ''
as $$
    select (salesflow.api_competitor(c)).* from salesflow.competitors as c where c.org_id = list_competitors.org_id order by pg_catalog.lower(c.name)
$$;
comment on function api.list_competitors(uuid) is 'The organisation''s competitor list, by name.';

create or replace function api.remove_competitor(org_id uuid, competitor_id uuid)
returns api.competitors
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    r salesflow.competitors;
begin
    delete from salesflow.competitors as c
    where c.org_id = remove_competitor.org_id and c.id = remove_competitor.competitor_id
    returning c.* into r;
    if r.id is null then
        perform salesflow.not_found('competitor', remove_competitor.competitor_id);
    end if;
    return salesflow.api_competitor(r);
end
$$;
comment on function api.remove_competitor(uuid, uuid) is
'Remove a competitor from the list; analyses already stored keep the mentions they found.';

-- == insights =================================================================================
-- rep_speaker was added (issue 14: a provider's diarised labels, A and B, do not say which is the rep)
drop function if exists api.request_conversation_analysis(uuid, uuid, text, text);
create or replace function api.request_conversation_analysis(
    org_id uuid, activity_id uuid, method text default 'auto', language text default null,
    rep_speaker text default null
)
returns api.conversation_insights
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    a salesflow.activities;
    t salesflow.call_transcripts;
    r salesflow.conversation_insights;
begin
    a := salesflow.listening_activity(request_conversation_analysis.org_id, request_conversation_analysis.activity_id,
                                      true);
    if request_conversation_analysis.method is null
       or request_conversation_analysis.method not in ('auto', 'baseline', 'model') then
        raise sqlstate '22023' using message = 'method must be auto, baseline or model';
    end if;
    if request_conversation_analysis.language is not null and request_conversation_analysis.language not in ('de', 'en') then
        raise sqlstate '22023' using message = 'language must be de or en';
    end if;
    select c.* into t from salesflow.call_transcripts as c where c.org_id = a.org_id and c.activity_id = a.id;
    if t.activity_id is null or t.status <> 'done' then
        raise sqlstate 'PT409' using
            message = pg_catalog.format('activity %s has no transcript yet (%s)', a.id, coalesce(t.status, 'none')),
            hint = 'Upload its recording (and wait for the transcription) or give it one with api.set_call_transcript.';
    end if;
    if not t.speakers_marked then
        raise sqlstate '22023' using
            message = 'the transcript does not mark its speakers, so talk ratio and per-speaker sentiment cannot be computed',
            hint = 'Give the transcript with a speaker on every segment (api.set_call_transcript).';
    end if;
    if request_conversation_analysis.rep_speaker is not null then
        -- which of the transcript's speaker labels is your rep (a diarising provider labels them A, B, ...)
        if not exists (
            select from pg_catalog.jsonb_array_elements(t.segments) as x
            where x ->> 'speaker' = request_conversation_analysis.rep_speaker
        ) then
            raise sqlstate '22023' using
                message = 'rep_speaker is not one of the transcript''s speakers',
                hint = 'Its speakers: ' || (
                    select pg_catalog.string_agg(distinct x ->> 'speaker', ', ')
                    from pg_catalog.jsonb_array_elements(t.segments) as x
                ) || '.';
        end if;
        update salesflow.call_transcripts as c set rep_speaker = request_conversation_analysis.rep_speaker
        where c.org_id = t.org_id and c.activity_id = t.activity_id;
    end if;
    insert into salesflow.conversation_insights (org_id, activity_id, lead_id, requested_method, language, inputs,
                                                 requested_by)
    values (a.org_id, a.id, a.lead_id, request_conversation_analysis.method,
            coalesce(request_conversation_analysis.language, case when t.language = 'de' then 'de' else 'en' end),
            pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                'activity_id', a.id, 'lead_id', a.lead_id, 'deal_id', a.deal_id,
                'transcript_updated_at', t.updated_at, 'transcript_request_id', t.request_id
            )),
            (select auth.uid()))
    returning * into r;
    perform salesflow.queue_listening_job('analyze_conversation', r.org_id, r.id);
    return salesflow.api_conversation_insight(r);
end
$$;
comment on function api.request_conversation_analysis(uuid, uuid, text, text, text) is
'Queue an analysis of a call or meeting transcript (speakers marked): summary, topics, sentiment per speaker '
'over time, proposed action items, key moments, objections, competitor mentions and coaching figures. '
'method: auto (a model where one is configured, else the offline baseline), baseline or model. rep_speaker: '
'which speaker label is your rep (kept with the transcript; else a label named rep, else the first speaker).';

create or replace function api.list_conversation_insights(
    org_id uuid, activity_id uuid default null, lead_id uuid default null, page_size integer default 20
)
returns setof api.conversation_insights
language sql
stable
security invoker
set search_path = ''
as $$
    select (salesflow.api_conversation_insight(i)).* from salesflow.conversation_insights as i
    where i.org_id = list_conversation_insights.org_id
      and (list_conversation_insights.activity_id is null or i.activity_id = list_conversation_insights.activity_id)
      and (list_conversation_insights.lead_id is null or i.lead_id = list_conversation_insights.lead_id)
    order by i.created_at desc, i.id desc
    limit salesflow.check_page_size(list_conversation_insights.page_size)
$$;
comment on function api.list_conversation_insights(uuid, uuid, uuid, integer) is
'Conversation analyses, newest first, with who read them (method baseline or model, prompt version, logged '
'call; offline_model marks the tiny offline model''s words).';

-- A proposed action item becomes a task only when a person accepts it.
create or replace function api.accept_conversation_action_item(
    org_id uuid, insight_id uuid, item integer, due_at timestamptz default null
)
returns api.activities
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    r salesflow.conversation_insights;
    a salesflow.activities;
    proposed jsonb;
    task api.activities;
begin
    select i.* into r from salesflow.conversation_insights as i
    where i.org_id = accept_conversation_action_item.org_id and i.id = accept_conversation_action_item.insight_id;
    if r.id is null then
        perform salesflow.not_found('conversation insight', accept_conversation_action_item.insight_id);
    end if;
    proposed := r.action_items -> accept_conversation_action_item.item;
    if accept_conversation_action_item.item is null or accept_conversation_action_item.item < 0 or proposed is null then
        raise sqlstate '22023' using message = pg_catalog.format(
            'item must be between 0 and %s', pg_catalog.jsonb_array_length(r.action_items) - 1);
    end if;
    if proposed ? 'task_id' then
        raise sqlstate 'PT409' using message = pg_catalog.format('action item %s is a task already',
                                                                 accept_conversation_action_item.item);
    end if;
    select x.* into a from salesflow.activities as x where x.org_id = r.org_id and x.id = r.activity_id;
    task := api.create_activity(
        r.org_id, 'task', lead_id => a.lead_id, deal_id => a.deal_id,
        subject => pg_catalog.left(proposed ->> 'text', 500),
        body => pg_catalog.format('Proposed by the analysis of the %s on %s (insight %s).', a.kind,
                                  pg_catalog.to_char(a.occurred_at, 'YYYY-MM-DD'), r.id),
        due_at => coalesce(accept_conversation_action_item.due_at, pg_catalog.now() + interval '3 days')
    );
    update salesflow.conversation_insights as i
    set action_items = pg_catalog.jsonb_set(i.action_items, array[accept_conversation_action_item.item::text],
                                            proposed || pg_catalog.jsonb_build_object(
                                                'task_id', task.id, 'accepted_by', (select auth.uid())))
    where i.org_id = r.org_id and i.id = r.id;
    return task;
end
$$;
comment on function api.accept_conversation_action_item(uuid, uuid, integer, timestamptz) is
'Accept one proposed action item (0-based) of a conversation analysis: it becomes a task of yours on the lead; '
'nothing is created until a person accepts it.';

revoke execute on function salesflow.recording_limits() from public;
revoke execute on function salesflow.queue_listening_job(text, uuid, uuid) from public;
revoke execute on function salesflow.listening_activity(uuid, uuid, boolean) from public;
revoke execute on function salesflow.clean_segments(jsonb) from public;
revoke execute on function salesflow.transcript_json(salesflow.call_transcripts) from public;
revoke execute on function api.upload_call_recording(uuid, uuid, bytea, text, text) from public;
revoke execute on function api.set_call_transcript(uuid, uuid, jsonb, text, text) from public;
revoke execute on function api.get_call_transcript(uuid, uuid) from public;
revoke execute on function api.add_competitor(uuid, text, text []) from public;
revoke execute on function api.list_competitors(uuid) from public;
revoke execute on function api.remove_competitor(uuid, uuid) from public;
revoke execute on function api.request_conversation_analysis(uuid, uuid, text, text, text) from public;
revoke execute on function api.list_conversation_insights(uuid, uuid, uuid, integer) from public;
revoke execute on function api.accept_conversation_action_item(uuid, uuid, integer, timestamptz) from public;
grant execute on function
salesflow.recording_limits(),
salesflow.queue_listening_job(text, uuid, uuid),
salesflow.listening_activity(uuid, uuid, boolean),
salesflow.clean_segments(jsonb),
salesflow.transcript_json(salesflow.call_transcripts)
to authenticated, service_role;
grant execute on function api.upload_call_recording(uuid, uuid, bytea, text, text) to authenticated, service_role;
grant execute on function api.set_call_transcript(uuid, uuid, jsonb, text, text) to authenticated, service_role;
grant execute on function api.get_call_transcript(uuid, uuid) to authenticated, service_role;
grant execute on function api.add_competitor(uuid, text, text []) to authenticated, service_role;
grant execute on function api.list_competitors(uuid) to authenticated, service_role;
grant execute on function api.remove_competitor(uuid, uuid) to authenticated, service_role;
grant execute on function api.request_conversation_analysis(uuid, uuid, text, text, text) to authenticated, service_role;
grant execute on function api.list_conversation_insights(uuid, uuid, uuid, integer) to authenticated, service_role;
grant execute on function api.accept_conversation_action_item(uuid, uuid, integer, timestamptz)
to authenticated, service_role;
