-- Outbound messages (DESIGN.md 15): queue -> approval (a rule or a person; AI-written text always
-- needs a person) -> outbox -> the worker's send_outbound job -> delivery statuses.

-- Does the lead allow contact on this channel? (No consent row: allowed.)
create or replace function salesflow.may_contact(org_id uuid, lead_id uuid, channel salesflow.channel)
returns boolean
language sql
stable
set search_path = ''
as $$
    select not exists (
        select from salesflow.lead_consents as c
        where c.org_id = may_contact.org_id and c.lead_id = may_contact.lead_id
          and c.channel = may_contact.channel and not c.may_contact
    )
$$;

-- May a model read this lead's data? One refusal on any channel withdraws it.
create or replace function salesflow.ai_processing_allowed(org_id uuid, lead_id uuid) returns boolean
language sql
stable
set search_path = ''
as $$
    select not exists (
        select from salesflow.lead_consents as c
        where c.org_id = ai_processing_allowed.org_id and c.lead_id = ai_processing_allowed.lead_id
          and not c.ai_processing
    )
$$;

create or replace function api.queue_outbound_message(
    org_id uuid,
    lead_id uuid,
    channel salesflow.channel,
    body text,
    subject text default null,
    ai_generated boolean default false,
    idempotency_key text default null
)
returns api.outbox
language plpgsql
volatile
set search_path = ''
as $$
#variable_conflict use_column
declare
    lead salesflow.leads := salesflow.visible_lead(queue_outbound_message.org_id, queue_outbound_message.lead_id);
    address text;
    -- owners may require a person's approval for everything: settings.outbound.require_approval
    needs_person boolean;
    r salesflow.outbox;
begin
    if queue_outbound_message.channel not in ('email', 'whatsapp') then
        raise sqlstate '22023' using
            message = pg_catalog.format('cannot send on channel %s', queue_outbound_message.channel),
            hint = 'Outbound messages go by email or whatsapp.';
    end if;
    select ci.address into address from salesflow.channel_identities as ci
    where ci.org_id = lead.org_id and ci.lead_id = lead.id and ci.channel = queue_outbound_message.channel
    order by ci.verified desc, ci.created_at desc
    limit 1;
    address := coalesce(address, case when queue_outbound_message.channel = 'email' then lead.email else lead.phone end);
    if address is null then
        raise sqlstate '22023' using
            message = pg_catalog.format('lead %s has no %s address', lead.id, queue_outbound_message.channel),
            hint = 'Link one with link_channel_identity, or set the lead''s email or phone.';
    end if;
    select coalesce((o.settings #>> '{outbound,require_approval}')::boolean, false) into needs_person
    from salesflow.organizations as o where o.id = lead.org_id;
    needs_person := needs_person or coalesce(queue_outbound_message.ai_generated, false);
    insert into salesflow.outbox as o (
        org_id, lead_id, channel, to_address, subject, body, ai_generated, created_by, status,
        approval_rule, approved_at, idempotency_key
    )
    values (
        lead.org_id, lead.id, queue_outbound_message.channel, address,
        nullif(pg_catalog.btrim(queue_outbound_message.subject), ''), queue_outbound_message.body,
        coalesce(queue_outbound_message.ai_generated, false), (select auth.uid()),
        case when needs_person then 'awaiting_approval' else 'approved' end::salesflow.outbox_status,
        case when needs_person then null else 'rep_authored' end,
        case when needs_person then null else pg_catalog.now() end,
        coalesce(nullif(queue_outbound_message.idempotency_key, ''), pg_catalog.gen_random_uuid()::text)
    )
    on conflict (org_id, idempotency_key) do nothing
    returning o.* into r;
    if r.id is null then
        -- the same key again: the message queued the first time
        select o.* into r from salesflow.outbox as o
        where o.org_id = lead.org_id and o.idempotency_key = queue_outbound_message.idempotency_key;
    end if;
    return salesflow.api_outbox_message(r);
end
$$;
comment on function api.queue_outbound_message(uuid, uuid, salesflow.channel, text, text, boolean, text) is
'Queue a message to a lead by email or WhatsApp. A rep''s own text is approved by rule (unless the organisation '
'requires approval); AI-written text waits for a person (api.approve_outbound_message). Idempotent on '
'idempotency_key. The worker sends approved messages unless the lead opted out or is suppressed.';

create or replace function api.approve_outbound_message(org_id uuid, outbox_id uuid, decision text)
returns api.outbox
language plpgsql
volatile
set search_path = ''
as $$
declare
    r salesflow.outbox;
begin
    if approve_outbound_message.decision is null or approve_outbound_message.decision not in ('accepted', 'rejected') then
        raise sqlstate '22023' using message = 'decision must be accepted or rejected';
    end if;
    select o.* into r from salesflow.outbox as o
    where o.org_id = approve_outbound_message.org_id and o.id = approve_outbound_message.outbox_id;
    if r.id is null then
        perform salesflow.not_found('outbound message', approve_outbound_message.outbox_id);
    end if;
    if r.status <> 'awaiting_approval' then
        raise sqlstate 'PT409' using
            message = pg_catalog.format('outbound message %s is %s, not awaiting approval', r.id, r.status);
    end if;
    update salesflow.outbox as o set
        status = case when approve_outbound_message.decision = 'accepted' then 'approved' else 'rejected' end
            ::salesflow.outbox_status,
        approved_by = (select auth.uid()),
        approved_at = pg_catalog.now(),
        updated_at = pg_catalog.now()
    where o.org_id = r.org_id and o.id = r.id and o.status = 'awaiting_approval'
    returning o.* into r;
    if r.id is null then
        raise sqlstate '42501' using message = 'you may not approve outbound messages in this organisation';
    end if;
    return salesflow.api_outbox_message(r);
end
$$;
comment on function api.approve_outbound_message(uuid, uuid, text) is
'A person''s verdict on a message awaiting approval: accepted (the worker sends it) or rejected.';

create or replace function api.list_outbound_messages(org_id uuid, lead_id uuid default null, page_size integer default 50)
returns setof api.outbox
language sql
stable
set search_path = ''
as $$
    select salesflow.api_outbox_message(o) from salesflow.outbox as o
    where o.org_id = list_outbound_messages.org_id
      and (list_outbound_messages.lead_id is null or o.lead_id = list_outbound_messages.lead_id)
    order by o.created_at desc, o.id desc
    limit salesflow.check_page_size(list_outbound_messages.page_size)
$$;
comment on function api.list_outbound_messages(uuid, uuid, integer) is
'Outbound messages, newest first, with their approval and delivery status.';

-- An approved message is sent by the worker. security definer: reps may not enqueue jobs.
create or replace function salesflow.outbox_enqueue_send() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    perform salesflow.enqueue(
        'send_outbound', pg_catalog.jsonb_build_object('outbox_id', new.id), org_id => new.org_id,
        idempotency_key => 'send_outbound:' || new.id
    );
    return null;
end
$$;

create or replace trigger outbox_enqueue_send after insert or update of status on salesflow.outbox
for each row when (new.status = 'approved') execute function salesflow.outbox_enqueue_send();

-- A delivery status from the provider. Statuses arrive out of order and more than once: a row only
-- moves forward (sent < delivered < read); failed overrides only a message not yet delivered.
-- Returns false when no outbound message has this external id (yet).
create or replace function salesflow.apply_delivery_status(
    org_id uuid, channel salesflow.channel, external_id text, status salesflow.outbox_status,
    status_at timestamptz, error text default null
) returns boolean
language plpgsql
volatile
set search_path = ''
as $$
declare
    rank_of constant jsonb := '{"sending": 0, "approved": 0, "sent": 1, "failed": 1.5, "delivered": 2, "read": 3}';
begin
    perform from salesflow.outbox as o
    where o.org_id = apply_delivery_status.org_id and o.channel = apply_delivery_status.channel
      and o.external_id = apply_delivery_status.external_id;
    if not found then
        return false;
    end if;
    update salesflow.outbox as o set
        status = apply_delivery_status.status,
        status_at = apply_delivery_status.status_at,
        last_error = coalesce(pg_catalog.left(apply_delivery_status.error, 2000), o.last_error),
        updated_at = pg_catalog.now()
    where o.org_id = apply_delivery_status.org_id and o.channel = apply_delivery_status.channel
      and o.external_id = apply_delivery_status.external_id
      and coalesce((rank_of ->> o.status::text)::numeric, 9) < (rank_of ->> apply_delivery_status.status::text)::numeric;
    return true;
end
$$;
