-- Listening (issue 14): the transcribe_call and analyze_conversation jobs.

-- name: recording_to_transcribe
-- transcribe_call: the recording waiting for its transcript, with the lead it is about.
select t.status, t.audio, t.audio_content_type, t.audio_filename, t.audio_sha256, t.uploaded_by, a.lead_id,
       a.lead_id is null or salesflow.ai_processing_allowed(a.org_id, a.lead_id) as allowed
from salesflow.call_transcripts as t
join salesflow.activities as a on a.org_id = t.org_id and a.id = t.activity_id
where t.org_id = %(org_id)s and t.activity_id = %(activity_id)s;

-- name: transcript_status
-- transcribe_call: a status the person who uploaded can read (no provider, refused, no consent).
update salesflow.call_transcripts
set status = %(status)s, status_detail = %(detail)s, updated_at = now()
where org_id = %(org_id)s and activity_id = %(activity_id)s and audio_sha256 = %(sha256)s and status <> 'done';

-- name: store_transcript
-- transcribe_call: the transcript, in the transaction that logs the call; the audio is dropped now
-- (kept only until transcribed). Only for the recording that was heard: a newer upload waits its turn.
update salesflow.call_transcripts
set status = 'done', status_detail = null, language = %(language)s, duration_seconds = %(duration)s,
    transcript = %(transcript)s, segments = salesflow.clean_segments(%(segments)s),
    speakers_marked = %(speakers_marked)s, audio = null, request_id = %(request_id)s, provider = %(provider)s,
    model = %(model)s, transcribed_at = now(), updated_at = now()
where org_id = %(org_id)s and activity_id = %(activity_id)s and audio_sha256 = %(sha256)s;

-- name: insight_to_analyze
-- analyze_conversation: the pending analysis, its transcript and the lead's consent.
select i.status, i.requested_method, i.language, i.lead_id, i.requested_by, t.segments, t.rep_speaker,
       t.transcript, i.lead_id is null or salesflow.ai_processing_allowed(i.org_id, i.lead_id) as allowed
from salesflow.conversation_insights as i
join salesflow.call_transcripts as t on t.org_id = i.org_id and t.activity_id = i.activity_id
where i.org_id = %(org_id)s and i.id = %(insight_id)s;

-- name: org_competitors
select c.id, c.name, c.aliases from salesflow.competitors as c where c.org_id = %(org_id)s order by c.name;

-- name: store_insight
-- analyze_conversation: the finished analysis (once: a second delivery finds it done).
update salesflow.conversation_insights
set status = 'done', error = null, method = %(method)s, summary = %(summary)s, topics = %(topics)s,
    sentiment = %(sentiment)s, action_items = %(action_items)s, key_moments = %(key_moments)s,
    objections = %(objections)s, competitor_mentions = %(competitor_mentions)s, coaching = %(coaching)s,
    baseline_version = %(baseline_version)s, prompt_name = %(prompt_name)s, prompt_version = %(prompt_version)s,
    request_id = %(request_id)s, model = %(model)s, offline_model = %(offline_model)s,
    inputs = inputs || %(inputs)s, completed_at = now()
where org_id = %(org_id)s and id = %(insight_id)s and status = 'pending'
returning lead_id;

-- name: insight_failed
update salesflow.conversation_insights
set status = 'failed', error = %(error)s, completed_at = now()
where org_id = %(org_id)s and id = %(insight_id)s and status = 'pending';

-- name: evaluate_lead_soon
-- a finished analysis may raise a competitor alert or coaching items: re-evaluate the lead's rules.
select salesflow.enqueue_lead_evaluation(%(org_id)s, array[%(lead_id)s]::uuid[]);

-- name: prompt_version_of_request
select r.prompt_name, r.prompt_version from salesflow.llm_requests as r where r.org_id = %(org_id)s and r.id = %(id)s;
