-- Checks the AI request RPCs share, so each refusal is made in one place with one error code.

-- The checks every RPC that queues an AI job about a lead makes first (api.request_ai_suggestion,
-- api.analyze_personality, api.request_bant_assessment): the caller is an owner, admin or rep of
-- the organisation (PT404 otherwise, as for an organisation they cannot see), the lead exists
-- there (PT404), and the language is one the prompts are written in (22023). `asking_for` names
-- what is asked for in the hint.
create or replace function salesflow.check_ai_request(
    org_id uuid, lead_id uuid, language text, asking_for text
)
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
    if not check_ai_request.org_id = any(salesflow.my_org_ids('{owner,admin,rep}')) then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('organization %s not found', check_ai_request.org_id),
            hint = pg_catalog.format('Owners, admins and reps of an organisation may ask for %s.',
                                     check_ai_request.asking_for);
    end if;
    perform from salesflow.leads as l
    where l.org_id = check_ai_request.org_id and l.id = check_ai_request.lead_id;
    if not found then
        perform salesflow.not_found('lead', check_ai_request.lead_id);
    end if;
    if check_ai_request.language is null or check_ai_request.language not in ('de', 'en') then
        raise sqlstate '22023' using message = 'language must be de or en';
    end if;
end
$$;
comment on function salesflow.check_ai_request(uuid, uuid, text, text) is
'Refuse an AI request about a lead unless the caller is an owner, admin or rep (PT404), the lead exists '
'(PT404) and the language is de or en (22023).';
revoke execute on function salesflow.check_ai_request(uuid, uuid, text, text) from public;
grant execute on function salesflow.check_ai_request(uuid, uuid, text, text) to authenticated, service_role;

-- A lead who withdrew consent to AI processing (salesflow.ai_processing_allowed, 82_outbox.sql) is
-- read by no model: the RPCs that hand a lead's data to a model for a person at request time
-- (api.lead_chat_context for chat, api.writing_context for writing) refuse with this one error,
-- PT403 (HTTP 403: the lead's own decision forbids it; retrying or changing the request does not help).
create or replace function salesflow.require_ai_consent(org_id uuid, lead_id uuid, feature text)
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
    if not salesflow.ai_processing_allowed(require_ai_consent.org_id, require_ai_consent.lead_id) then
        raise sqlstate 'PT403' using
            message = pg_catalog.format('lead %s does not consent to AI processing', require_ai_consent.lead_id),
            detail = pg_catalog.format('%s is off for this lead until they consent again', require_ai_consent.feature),
            hint = 'Write to this lead yourself; the assistant reads nothing of a lead who withdrew consent.';
    end if;
end
$$;
comment on function salesflow.require_ai_consent(uuid, uuid, text) is
'Raise PT403 when the lead withdrew consent to AI processing (chat and writing call it before reading the lead).';
revoke execute on function salesflow.require_ai_consent(uuid, uuid, text) from public;
grant execute on function salesflow.require_ai_consent(uuid, uuid, text) to authenticated, service_role;
