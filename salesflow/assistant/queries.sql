-- Queries of the chat, by name. Every read or write of a conversation runs as the member
-- (role and claims transaction-local, as the RPC gateway and PostgREST set them) through an `api`
-- RPC, so RLS is the only tenancy check (DESIGN.md decision 10).

-- name: act_as
-- The caller, for the rest of the transaction.
select
    pg_catalog.set_config('role', %(role)s, true),
    pg_catalog.set_config('request.jwt.claims', %(claims)s, true),
    pg_catalog.set_config('statement_timeout', %(statement_timeout)s, true);

-- name: act_as_owner
-- Back to the connection's own role (the gateway's settling transaction goes on after the turns).
select
    pg_catalog.set_config('role', 'none', true),
    pg_catalog.set_config('request.jwt.claims', '', true);

-- name: open_conversation
select c.id, c.user_id, c.lead_id, c.language, c.summary, c.summary_upto
from api.open_conversation(
    org_id => %(org_id)s, conversation_id => %(conversation_id)s::uuid, lead_id => %(lead_id)s::uuid,
    language => %(language)s::text
) as c;

-- name: conversation_turns
select t.turn_id as id, t.role::text as role, t.content, t.tokens
from api.get_conversation(org_id => %(org_id)s, conversation_id => %(conversation_id)s) as t;

-- name: lead_chat_context
select x.first_name, x.last_name, x.title, x.stage, x.source, x.language, x.company, x.industry
from api.lead_chat_context(org_id => %(org_id)s, lead_id => %(lead_id)s) as x;

-- name: save_conversation_summary
select api.save_conversation_summary(
    org_id => %(org_id)s, conversation_id => %(conversation_id)s, summary => %(summary)s,
    summary_upto => %(summary_upto)s
) as saved;

-- name: add_chat_turns
select api.add_chat_turns(
    org_id => %(org_id)s, conversation_id => %(conversation_id)s, message => %(message)s, answer => %(answer)s,
    answer_request_id => %(answer_request_id)s, message_tokens => %(message_tokens)s,
    answer_tokens => %(answer_tokens)s, offline_model => %(offline_model)s
) as turn_id;

-- name: require_ai_feature
-- raises PT403 when the organisation's flag switches the feature off for this user or lead
select salesflow.require_ai_feature(%(org_id)s, %(feature)s, %(lead_id)s, %(user_id)s);
