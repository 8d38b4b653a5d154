-- 0017: chat runs through RPCs as the caller (DESIGN.md decision 10). An assistant turn names the
-- logged call that produced it, and one call produces at most one turn: add_chat_turns relies on
-- this to refuse a turn that re-uses (forges) an answer already stored.
-- Run once. The RPCs live in sql/objects/29_api_chat.sql, the policies in 63_conversations.sql.

create unique index conversation_turns_request_key on salesflow.conversation_turns (org_id, request_id)
where request_id is not null;
