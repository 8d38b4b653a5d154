-- Chat conversations with the AI coach. Members write their own, through the RPCs of
-- 29_api_chat.sql run as themselves; they read their own, owners and admins their organisation's.

alter table salesflow.conversations enable row level security;
alter table salesflow.conversation_turns enable row level security;

drop policy if exists conversations_select on salesflow.conversations;
create policy conversations_select on salesflow.conversations for select to authenticated
using (
    org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[])
    or (org_id = any((select salesflow.my_org_ids())::uuid[]) and user_id = (select auth.uid()))
);

-- a turn is visible exactly when its conversation is
drop policy if exists conversation_turns_select on salesflow.conversation_turns;
create policy conversation_turns_select on salesflow.conversation_turns for select to authenticated
using (
    exists (
        select from salesflow.conversations as c
        where c.org_id = conversation_turns.org_id and c.id = conversation_turns.conversation_id
    )
);

-- a member starts and keeps up only their own conversations (api.open_conversation,
-- api.save_conversation_summary) and adds turns only to them (api.add_chat_turns)
drop policy if exists conversations_insert on salesflow.conversations;
create policy conversations_insert on salesflow.conversations for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids())::uuid[]) and user_id = (select auth.uid()));

drop policy if exists conversations_update on salesflow.conversations;
create policy conversations_update on salesflow.conversations for update to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]) and user_id = (select auth.uid()))
with check (org_id = any((select salesflow.my_org_ids())::uuid[]) and user_id = (select auth.uid()));

drop policy if exists conversation_turns_insert on salesflow.conversation_turns;
create policy conversation_turns_insert on salesflow.conversation_turns for insert to authenticated
with check (
    exists (
        select from salesflow.conversations as c
        where
            c.org_id = conversation_turns.org_id
            and c.id = conversation_turns.conversation_id
            and c.user_id = (select auth.uid())
    )
);

grant select on salesflow.conversations, salesflow.conversation_turns to authenticated, service_role;
-- the RPCs write as the caller; the policies above, not column grants, decide what they may write
grant insert, update on salesflow.conversations to authenticated, service_role;
grant insert on salesflow.conversation_turns to authenticated, service_role;

create or replace trigger conversations_touch before update on salesflow.conversations
for each row execute function salesflow.touch_updated_at();

-- A conversation's turns, oldest first, or PT404 when the caller may not see it. `tokens` (as the
-- answering model counts them) lets the chat fit the history into a context window.
select salesflow.drop_function_if_result_differs(
    'api.get_conversation(uuid, uuid)',
    'TABLE(turn_id bigint, role salesflow.chat_role, content text, offline_model boolean, request_id bigint, '
    || 'created_at timestamp with time zone, tokens integer)'
);
create or replace function api.get_conversation(org_id uuid, conversation_id uuid)
returns table (
    turn_id bigint, role salesflow.chat_role, content text, offline_model boolean, request_id bigint,
    created_at timestamptz, tokens integer
)
language plpgsql
stable
set search_path = ''
as $$
begin
    perform from salesflow.conversations as c
    where c.org_id = get_conversation.org_id and c.id = get_conversation.conversation_id;
    if not found then
        perform salesflow.not_found('conversation', get_conversation.conversation_id);
    end if;
    return query
    select t.id, t.role, t.content, t.offline_model, t.request_id, t.created_at, t.tokens
    from salesflow.conversation_turns as t
    where t.org_id = get_conversation.org_id and t.conversation_id = get_conversation.conversation_id
    order by t.id;
end
$$;
comment on function api.get_conversation(uuid, uuid) is
'The turns of one AI chat conversation, oldest first; answers of the offline model are flagged.';

-- The caller's conversations, newest activity first, a page at a time.
create or replace function api.list_conversations(
    org_id uuid, page_size integer default 50, before timestamptz default null, before_id uuid default null
)
returns table (
    conversation_id uuid, lead_id uuid, title text, language text, turns bigint, created_at timestamptz,
    updated_at timestamptz
)
language sql
stable
set search_path = ''
as $$
    select
        c.id,
        c.lead_id,
        c.title,
        c.language,
        (select count(*) from salesflow.conversation_turns as t where t.org_id = c.org_id and t.conversation_id = c.id),
        c.created_at,
        c.updated_at
    from salesflow.conversations as c
    where c.org_id = list_conversations.org_id and c.user_id = (select auth.uid())
      and (list_conversations.before is null
           or (c.updated_at, c.id) < (list_conversations.before, coalesce(list_conversations.before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff')))
    order by c.updated_at desc, c.id desc
    limit salesflow.check_page_size(list_conversations.page_size)
$$;
comment on function api.list_conversations(uuid, integer, timestamptz, uuid) is
'The caller''s AI chat conversations in an organisation, most recently active first (keyset paging).';
