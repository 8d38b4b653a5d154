-- RPCs: chat with the AI coach. The API runs them as the caller (role and claims set per request,
-- as for every RPC), so RLS decides who opens, reads and adds to a conversation (DESIGN.md
-- decision 10) and the isolation suite covers them. Only the ledger write (llm_requests,
-- compliance_log) is the gateway's own; add_chat_turns joins that transaction as the caller.

-- What a conversation looks like through the API (11_api_contract.sql).
create or replace view api.conversations with (security_invoker = on) as
select
    c.id,
    c.org_id,
    c.user_id,
    c.lead_id,
    c.title,
    c.language,
    c.summary,
    c.summary_upto,
    c.created_at,
    c.updated_at
from salesflow.conversations as c;
comment on view api.conversations is 'The API row type of a chat conversation (returned by api.open_conversation).';
revoke all on api.conversations from public, anon, authenticated, service_role;

-- The caller's conversation `conversation_id` (or a new one, about `lead_id`, when there is none).
create or replace function api.open_conversation(
    org_id uuid, conversation_id uuid default null, lead_id uuid default null, language text default 'en'
)
returns api.conversations
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    cid uuid := coalesce(open_conversation.conversation_id, pg_catalog.gen_random_uuid());
    found_row api.conversations;
begin
    if not open_conversation.org_id = any(salesflow.my_org_ids()) then
        perform salesflow.not_found('organization', open_conversation.org_id);
    end if;
    select c.id, c.org_id, c.user_id, c.lead_id, c.title, c.language, c.summary, c.summary_upto, c.created_at,
           c.updated_at
    into found_row
    from salesflow.conversations as c
    where c.org_id = open_conversation.org_id and c.id = cid and c.user_id = (select auth.uid());
    if found then
        return found_row;
    end if;
    if open_conversation.lead_id is not null then
        -- the lead as the caller sees it: a chat may only be about a lead the caller can read
        perform from salesflow.leads as l where l.org_id = open_conversation.org_id and l.id = open_conversation.lead_id;
        if not found then
            perform salesflow.not_found('lead', open_conversation.lead_id);
        end if;
    end if;
    insert into salesflow.conversations as c (org_id, id, user_id, lead_id, language)
    values (open_conversation.org_id, cid, (select auth.uid()), open_conversation.lead_id,
            pg_catalog.lower(open_conversation.language))
    on conflict on constraint conversations_pkey do nothing
    returning c.id, c.org_id, c.user_id, c.lead_id, c.title, c.language, c.summary, c.summary_upto, c.created_at,
              c.updated_at
    into found_row;
    if not found then
        -- another member's conversation has this id: say nothing about it
        perform salesflow.not_found('conversation', cid);
    end if;
    return found_row;
end
$$;
comment on function api.open_conversation(uuid, uuid, uuid, text) is
'The caller''s AI chat conversation, created on first use (optionally about a lead); 404 for anyone else''s.';

-- What the AI coach may know about a lead: no addresses or numbers (those would only be redacted).
-- A lead who withdrew consent to AI processing is refused here, in the RPC the chat reads the lead
-- through, as api.writing_context refuses it for writing: the same PT403 (HTTP 403) for both.
create or replace function api.lead_chat_context(org_id uuid, lead_id uuid)
returns table (
    first_name text, last_name text, title text, stage text, source text, language text, company text,
    industry text, communication_style text
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
    perform salesflow.require_ai_consent(lead_chat_context.org_id, lead_chat_context.lead_id, 'chat about this lead');
    return query
    select
        l.first_name, l.last_name, l.title, l.lifecycle_stage::text, l.source::text, l.language,
        c.name, c.industry,
        -- the latest DISG profile: a hypothesis, and it says how strong
        (
            select
                'DISG ' || p.dominant_type || ' (hypothesis from ' || p.message_count || ' messages, confidence '
                || p.confidence || case when p.little_evidence then ', little evidence' else '' end || ')'
            from salesflow.personality_profiles as p
            where p.org_id = l.org_id and p.lead_id = l.id
            order by p.created_at desc, p.id desc
            limit 1
        )
    from salesflow.leads as l
    left join salesflow.companies as c on c.org_id = l.org_id and c.id = l.company_id
    where l.org_id = lead_chat_context.org_id and l.id = lead_chat_context.lead_id;
end
$$;
comment on function api.lead_chat_context(uuid, uuid) is
'The facts about a lead the AI coach is given (names, title, stage, company, the latest DISG hypothesis): '
'no email address or phone number. 403 (PT403) when the lead withdrew consent to AI processing.';

-- The caller's own conversation, or PT404 (owners and admins read others' but do not write them).
create or replace function salesflow.own_conversation(org_id uuid, conversation_id uuid)
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
    perform from salesflow.conversations as c
    where c.org_id = own_conversation.org_id and c.id = own_conversation.conversation_id
      and c.user_id = (select auth.uid());
    if not found then
        perform salesflow.not_found('conversation', own_conversation.conversation_id);
    end if;
end
$$;
comment on function salesflow.own_conversation(uuid, uuid) is
'Raise PT404 unless the caller started conversation `conversation_id` (write RPCs of chat call it first).';

-- Store one finished exchange: the member's message and the answer of the logged call
-- `answer_request_id`. That call must be the caller's, in this conversation, successful, and not
-- stored before: the gateway logs it in the same transaction, so no client can name an answer
-- that is not its own or store one twice (a forged assistant turn).
create or replace function api.add_chat_turns(
    org_id uuid, conversation_id uuid, message text, answer text, answer_request_id bigint,
    message_tokens integer default null, answer_tokens integer default null, offline_model boolean default false
)
returns bigint
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    turn_id bigint;
begin
    perform salesflow.own_conversation(add_chat_turns.org_id, add_chat_turns.conversation_id);
    perform from salesflow.llm_requests as r
    where r.org_id = add_chat_turns.org_id and r.id = add_chat_turns.answer_request_id
      and r.user_id = (select auth.uid()) and r.conversation_id = add_chat_turns.conversation_id
      and r.status = 'ok';
    if not found then
        raise sqlstate '22023' using
            message = pg_catalog.format('request %s is not a finished answer of yours in conversation %s',
                                        add_chat_turns.answer_request_id, add_chat_turns.conversation_id);
    end if;
    perform from salesflow.conversation_turns as t
    where t.org_id = add_chat_turns.org_id and t.request_id = add_chat_turns.answer_request_id;
    if found then
        raise sqlstate '22023' using
            message = pg_catalog.format('the answer of request %s is stored already', add_chat_turns.answer_request_id);
    end if;
    insert into salesflow.conversation_turns (org_id, conversation_id, role, content, tokens)
    values (add_chat_turns.org_id, add_chat_turns.conversation_id, 'user', add_chat_turns.message,
            add_chat_turns.message_tokens);
    insert into salesflow.conversation_turns as t (
        org_id, conversation_id, role, content, request_id, tokens, offline_model
    )
    values (add_chat_turns.org_id, add_chat_turns.conversation_id, 'assistant', add_chat_turns.answer,
            add_chat_turns.answer_request_id, add_chat_turns.answer_tokens,
            coalesce(add_chat_turns.offline_model, false))
    returning t.id into turn_id;
    update salesflow.conversations as c set updated_at = pg_catalog.now()
    where c.org_id = add_chat_turns.org_id and c.id = add_chat_turns.conversation_id;
    return turn_id;
end
$$;
comment on function api.add_chat_turns(uuid, uuid, text, text, bigint, integer, integer, boolean) is
'Store a chat exchange (the message, and the answer of the caller''s logged call); returns the answer''s turn id.';

-- Keep the running summary of the turns up to `summary_upto` (a turn of this conversation). Only
-- forward: a summary covering fewer turns than the stored one never replaces it (false then).
create or replace function api.save_conversation_summary(
    org_id uuid, conversation_id uuid, summary text, summary_upto bigint
)
returns boolean
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
    perform salesflow.own_conversation(save_conversation_summary.org_id, save_conversation_summary.conversation_id);
    perform from salesflow.conversation_turns as t
    where t.org_id = save_conversation_summary.org_id and t.conversation_id = save_conversation_summary.conversation_id
      and t.id = save_conversation_summary.summary_upto;
    if not found then
        raise sqlstate '22023' using
            message = pg_catalog.format('turn %s is not in conversation %s', save_conversation_summary.summary_upto,
                                        save_conversation_summary.conversation_id);
    end if;
    update salesflow.conversations as c
    set summary = save_conversation_summary.summary, summary_upto = save_conversation_summary.summary_upto
    where c.org_id = save_conversation_summary.org_id and c.id = save_conversation_summary.conversation_id
      and (c.summary_upto is null or c.summary_upto < save_conversation_summary.summary_upto);
    return found;
end
$$;
comment on function api.save_conversation_summary(uuid, uuid, text, bigint) is
'Store the running summary of a conversation''s older turns, if it covers more turns than the stored one.';

revoke execute on function salesflow.own_conversation(uuid, uuid) from public;
revoke execute on function api.open_conversation(uuid, uuid, uuid, text) from public;
revoke execute on function api.lead_chat_context(uuid, uuid) from public;
revoke execute on function api.add_chat_turns(uuid, uuid, text, text, bigint, integer, integer, boolean) from public;
revoke execute on function api.save_conversation_summary(uuid, uuid, text, bigint) from public;
grant execute on function salesflow.own_conversation(uuid, uuid) to authenticated, service_role;
grant execute on function api.open_conversation(uuid, uuid, uuid, text) to authenticated, service_role;
grant execute on function api.lead_chat_context(uuid, uuid) to authenticated, service_role;
grant execute on function api.add_chat_turns(uuid, uuid, text, text, bigint, integer, integer, boolean)
to authenticated, service_role;
grant execute on function api.save_conversation_summary(uuid, uuid, text, bigint) to authenticated, service_role;
