-- RPCs: messages, the conversation record across channels. Webhooks redeliver: create_message is
-- idempotent on the provider's external_id.

create or replace function api.create_message(
    org_id uuid,
    lead_id uuid,
    channel salesflow.channel,
    direction salesflow.direction,
    body text,
    subject text default null,
    external_id text default null,
    sent_at timestamptz default now(),
    language text default null
)
returns api.messages
language plpgsql
set search_path = ''
as $$
-- the conflict target names columns that are also parameters; every parameter here is qualified
#variable_conflict use_column
declare
    r salesflow.messages;
begin
    insert into salesflow.messages as m (
        org_id, lead_id, channel, direction, subject, body, external_id, sent_at, language
    )
    values (
        create_message.org_id,
        create_message.lead_id,
        create_message.channel,
        create_message.direction,
        create_message.subject,
        create_message.body,
        nullif(create_message.external_id, ''),
        create_message.sent_at,
        nullif(pg_catalog.lower(pg_catalog.btrim(create_message.language)), '')
    )
    -- messages_external_key is partial (external_id is not null): repeat its predicate to infer it
    on conflict (org_id, channel, external_id) where external_id is not null do nothing
    returning m.* into r;
    if not found then
        -- a redelivery: answer with the message stored the first time. A separate statement, so that
        -- under read committed it also sees a row a concurrent delivery committed while we waited.
        select m.* into r from salesflow.messages as m
        where m.org_id = create_message.org_id
          and m.channel = create_message.channel
          and m.external_id = nullif(create_message.external_id, '');
    end if;
    return salesflow.api_message(r);
end
$$;
comment on function api.create_message(
    uuid, uuid, salesflow.channel, salesflow.direction, text, text, text, timestamptz, text
) is
'Store a message. Idempotent on (channel, external_id): a redelivered message returns the row stored first '
'and changes nothing. The lead''s last_activity_at follows sent_at.';

-- One message by id, as the caller sees it.
create or replace function salesflow.visible_message(org_id uuid, message_id uuid)
returns salesflow.messages
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    found_row salesflow.messages;
begin
    select m.* into found_row from salesflow.messages as m
    where m.org_id = visible_message.org_id and m.id = visible_message.message_id;
    if found_row is null then
        perform salesflow.not_found('message', visible_message.message_id);
    end if;
    return found_row;
end
$$;
comment on function salesflow.visible_message(uuid, uuid) is
'The message row as the caller sees it (RLS), or PT404; the RPCs of this file start from it.';
revoke execute on function salesflow.visible_message(uuid, uuid) from public;
grant execute on function salesflow.visible_message(uuid, uuid) to authenticated, service_role;

create or replace function api.get_message(org_id uuid, message_id uuid)
returns api.messages
language sql
stable
security invoker
set search_path = ''
as $$
    select salesflow.api_message(salesflow.visible_message(get_message.org_id, get_message.message_id))
$$;
comment on function api.get_message(uuid, uuid) is
'One message by id; 404 when it does not exist or is not visible to the caller.';

create or replace function api.list_messages(
    org_id uuid,
    lead_id uuid default null,
    channel salesflow.channel default null,
    page_size integer default 50,
    before timestamptz default null,
    before_id uuid default null
)
returns setof api.messages
language sql
stable
set search_path = ''
as $$
    select salesflow.api_message(m) from salesflow.messages as m
    where m.org_id = list_messages.org_id
      and (list_messages.lead_id is null or m.lead_id = list_messages.lead_id)
      and (list_messages.channel is null or m.channel = list_messages.channel)
      and (
          list_messages.before is null
          or (m.sent_at, m.id)
          < (list_messages.before, coalesce(list_messages.before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
      )
    order by m.sent_at desc, m.id desc
    limit salesflow.check_page_size(list_messages.page_size)
$$;
comment on function api.list_messages(uuid, uuid, salesflow.channel, integer, timestamptz, uuid) is
'Messages of an organisation, most recent first, filtered by lead or channel. '
'Page with before = sent_at and before_id = id of the last row of the previous page.';

create or replace function api.update_message(org_id uuid, message_id uuid, changes jsonb)
returns api.messages
language plpgsql
set search_path = ''
as $$
declare
    r salesflow.messages;
begin
    -- channel, direction, external_id and sent_at are what the provider reported and key idempotency:
    -- they are not edited. Moving a message to the right lead, redacting it or fixing its language is.
    perform salesflow.check_changes(update_message.changes, array['lead_id', 'subject', 'body', 'language']);
    r := salesflow.visible_message(update_message.org_id, update_message.message_id);
    r := pg_catalog.jsonb_populate_record(r, update_message.changes);
    update salesflow.messages as m set
        lead_id = r.lead_id,
        subject = r.subject,
        body = r.body,
        language = nullif(pg_catalog.lower(pg_catalog.btrim(r.language)), '')
    where m.org_id = update_message.org_id and m.id = update_message.message_id
    returning m.* into r;
    if not found then
        raise sqlstate '42501' using
            message = pg_catalog.format('you may not change message %s', update_message.message_id),
            hint = 'Only owners and admins change messages.';
    end if;
    return salesflow.api_message(r);
end
$$;
comment on function api.update_message(uuid, uuid, jsonb) is
'Change a message (owners and admins): lead_id, subject, body or language; fields not named keep their values.';

create or replace function api.delete_message(org_id uuid, message_id uuid)
returns api.messages
language plpgsql
set search_path = ''
as $$
declare
    r salesflow.messages;
begin
    perform api.get_message(delete_message.org_id, delete_message.message_id);
    delete from salesflow.messages as m
    where m.org_id = delete_message.org_id and m.id = delete_message.message_id
    returning m.* into r;
    if not found then
        raise sqlstate '42501' using
            message = pg_catalog.format('you may not delete message %s', delete_message.message_id),
            hint = 'Only owners and admins delete messages.';
    end if;
    return salesflow.api_message(r);
end
$$;
comment on function api.delete_message(uuid, uuid) is
'Delete a message (owners and admins), e.g. to honour an erasure request.';
