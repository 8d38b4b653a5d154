-- Messages in bulk, as importers and webhook batches deliver them: one statement, idempotent on the
-- provider's external id like api.create_message. A batch of up to 100 counts as fresh for the
-- embedding queue (embedded before imports); a bigger one is an import, embedded after them.

create or replace function api.create_messages(org_id uuid, messages jsonb)
returns setof api.messages
language plpgsql
set search_path = ''
as $$
-- the conflict target names columns that are also parameters; every parameter here is qualified
#variable_conflict use_column
declare
    unknown text;
begin
    if create_messages.messages is null or pg_catalog.jsonb_typeof(create_messages.messages) <> 'array' then
        raise sqlstate '22023' using message = 'messages must be a JSON array of message objects';
    end if;
    if pg_catalog.jsonb_array_length(create_messages.messages) not between 1 and 1000 then
        raise sqlstate '22023' using
            message = pg_catalog.format('messages holds %s items; send 1 to 1000 per call',
                pg_catalog.jsonb_array_length(create_messages.messages));
    end if;
    if exists (select from pg_catalog.jsonb_array_elements(create_messages.messages) as e (v)
               where pg_catalog.jsonb_typeof(e.v) <> 'object') then
        raise sqlstate '22023' using message = 'every item of messages must be a JSON object';
    end if;
    select k.key into unknown
    from pg_catalog.jsonb_array_elements(create_messages.messages) as e (v)
    cross join lateral pg_catalog.jsonb_object_keys(e.v) as k (key)
    where k.key <> all (array['lead_id', 'channel', 'direction', 'body', 'subject', 'external_id', 'sent_at', 'language'])
    limit 1;
    if unknown is not null then
        raise sqlstate '22023' using
            message = pg_catalog.format('messages: unknown field %s', unknown),
            hint = 'Fields: lead_id, channel, direction, body, subject, external_id, sent_at, language.';
    end if;
    return query
    with items as (
        select i.lead_id, i.channel, i.direction, i.body, i.subject, nullif(i.external_id, '') as external_id,
               coalesce(i.sent_at, pg_catalog.now()) as sent_at,
               nullif(pg_catalog.lower(pg_catalog.btrim(i.language)), '') as language
        from pg_catalog.jsonb_to_recordset(create_messages.messages) as i (
            lead_id uuid, channel salesflow.channel, direction salesflow.direction, body text, subject text,
            external_id text, sent_at timestamptz, language text
        )
    ),
    stored as (
        insert into salesflow.messages as m (
            org_id, lead_id, channel, direction, subject, body, external_id, sent_at, language
        )
        select create_messages.org_id, i.lead_id, i.channel, i.direction, i.subject, i.body, i.external_id,
               i.sent_at, i.language
        from items as i
        on conflict (org_id, channel, external_id) where external_id is not null do nothing
        returning salesflow.api_message(m) as r
    )
    select (s.r).* from stored as s
    union all
    -- redeliveries: the rows stored the first time
    select (salesflow.api_message(m)).* from salesflow.messages as m
    join items as i on m.org_id = create_messages.org_id and m.channel = i.channel and m.external_id = i.external_id
    where not exists (select from stored as s where (s.r).id = m.id);
end
$$;
comment on function api.create_messages(uuid, jsonb) is
'Store up to 1000 messages in one call (importers, webhook batches): an array of objects with lead_id, '
'channel, direction, body and optionally subject, external_id, sent_at, language. Idempotent on '
'(channel, external_id) like create_message; returns every stored row, redeliveries included.';
revoke execute on function api.create_messages(uuid, jsonb) from public;
grant execute on function api.create_messages(uuid, jsonb) to authenticated, service_role;
