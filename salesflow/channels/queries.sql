-- Queries of the webhooks (API) and the channel jobs (worker), by name. They run on the API's and
-- the worker's own connections: a webhook acts for no user, it is routed by its provider's key.

-- name: channel_config
select c.org_id, c.id, c.provider::text as provider, c.route_key, c.verify_token, c.app_secret, c.access_token,
       c.settings,
       coalesce(o.settings #>> '{channels,default_region}', 'DE') as default_region,
       coalesce(o.settings #>> '{privacy,suppression_mode}', 'drop') as suppression_mode
from salesflow.channel_configs as c
join salesflow.organizations as o on o.id = c.org_id
where c.provider = %(provider)s::salesflow.channel_provider and c.route_key = %(route_key)s and c.enabled;

-- name: org_channel_config
select c.org_id, c.id, c.provider::text as provider, c.route_key, c.access_token, c.settings
from salesflow.channel_configs as c
where c.org_id = %(org_id)s and c.provider = %(provider)s::salesflow.channel_provider and c.enabled
order by c.created_at
limit 1;

-- name: is_suppressed
select salesflow.is_suppressed(%(org_id)s, %(identifiers)s::text[]) as suppressed;

-- name: record_rejection
insert into salesflow.webhook_rejections (provider, reason, body_sha256, body_bytes)
values (%(provider)s::salesflow.channel_provider, %(reason)s, %(body_sha256)s, %(body_bytes)s);

-- name: insert_inbox_event
insert into salesflow.webhook_inbox as w (org_id, provider, external_id, kind, payload, raw, body_sha256, status)
values (%(org_id)s, %(provider)s::salesflow.channel_provider, %(external_id)s, %(kind)s, %(payload)s, %(raw)s,
        %(body_sha256)s, %(status)s::salesflow.inbox_status)
on conflict (org_id, provider, external_id) do nothing
returning w.id;

-- name: enqueue_process_inbox
select salesflow.enqueue(
    'process_inbox', jsonb_build_object('inbox_id', %(inbox_id)s::bigint), org_id => %(org_id)s,
    idempotency_key => 'process_inbox:' || %(org_id)s::text || ':' || %(inbox_id)s::text
) as id;

-- name: lock_inbox_event
select w.id, w.provider::text as provider, w.external_id, w.kind, w.payload, w.raw, w.status::text as status,
       w.received_at,
       coalesce(o.settings #>> '{channels,default_region}', 'DE') as default_region
from salesflow.webhook_inbox as w
join salesflow.organizations as o on o.id = w.org_id
where w.org_id = %(org_id)s and w.id = %(inbox_id)s
for update of w;

-- name: finish_inbox_event
update salesflow.webhook_inbox
set status = %(status)s::salesflow.inbox_status, lead_id = %(lead_id)s, message_id = %(message_id)s,
    error = left(%(error)s, 2000), processed_at = now()
where org_id = %(org_id)s and id = %(inbox_id)s;

-- name: stitch_sender
select salesflow.stitch_sender(
    %(org_id)s, %(channel)s::salesflow.channel, %(address)s, phone => %(phone)s, email => %(email)s,
    first_name => %(first_name)s, last_name => %(last_name)s
) as lead_id;

-- name: link_identity
insert into salesflow.channel_identities (org_id, channel, address, lead_id)
values (%(org_id)s, %(channel)s::salesflow.channel, salesflow.normalize_address(%(channel)s::salesflow.channel, %(address)s),
        %(lead_id)s)
on conflict (org_id, channel, address) do nothing;

-- name: insert_inbound_message
insert into salesflow.messages as m (
    org_id, lead_id, channel, direction, subject, body, external_id, sent_at, thread_id, metadata
)
values (%(org_id)s, %(lead_id)s, %(channel)s::salesflow.channel, 'inbound', %(subject)s, %(body)s, %(external_id)s,
        %(sent_at)s, %(thread_id)s, %(metadata)s)
on conflict (org_id, channel, external_id) where external_id is not null do nothing
returning m.id;

-- name: message_by_external_id
select m.id, m.lead_id from salesflow.messages as m
where m.org_id = %(org_id)s and m.channel = %(channel)s::salesflow.channel and m.external_id = %(external_id)s;

-- name: record_opt_out_if_asked
select salesflow.record_opt_out(%(org_id)s, %(lead_id)s, %(channel)s::salesflow.channel, %(message_id)s)
where salesflow.is_opt_out(%(body)s);

-- name: apply_delivery_status
select salesflow.apply_delivery_status(
    %(org_id)s, %(channel)s::salesflow.channel, %(external_id)s, %(status)s::salesflow.outbox_status, %(at)s,
    %(error)s
) as found;

-- name: outbox_to_send
select o.id, o.lead_id, o.channel::text as channel, o.to_address, o.subject, o.body, o.status::text as status,
       o.idempotency_key, o.attempts,
       (select coalesce(g.settings #>> '{channels,default_region}', 'DE') from salesflow.organizations as g
        where g.id = o.org_id) as default_region,
       salesflow.may_contact(o.org_id, o.lead_id, o.channel) as may_contact,
       salesflow.is_suppressed(o.org_id, salesflow.lead_identifiers(o.org_id, o.lead_id)) as suppressed,
       (select m.external_id from salesflow.messages as m
        where m.org_id = o.org_id and m.lead_id = o.lead_id and m.channel = 'email' and m.direction = 'inbound'
          and m.external_id is not null
        order by m.sent_at desc limit 1) as reply_to
from salesflow.outbox as o
where o.org_id = %(org_id)s and o.id = %(outbox_id)s;

-- name: outbox_mark
update salesflow.outbox
set status = %(status)s::salesflow.outbox_status, last_error = left(%(error)s, 2000),
    attempts = attempts + %(attempt)s, updated_at = now(), status_at = now()
where org_id = %(org_id)s and id = %(outbox_id)s;

-- name: outbox_sent
update salesflow.outbox
set status = 'sent', external_id = %(external_id)s, last_error = null, updated_at = now(), status_at = now()
where org_id = %(org_id)s and id = %(outbox_id)s and status = 'sending';

-- name: erase_lead_data
select salesflow.erase_lead_data(%(org_id)s, %(erasure_id)s) as counts;

-- name: apply_retention
select salesflow.apply_retention() as deleted;

-- name: whatsapp_verify_token
select c.verify_token from salesflow.channel_configs as c
where c.provider = 'whatsapp' and c.enabled and c.verify_token = %(token)s
limit 1;
