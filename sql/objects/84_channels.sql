-- Channel accounts, and the row-level security and grants of everything in 0013.

create or replace function api.set_channel_config(
    org_id uuid,
    provider salesflow.channel_provider,
    route_key text,
    verify_token text default null,
    app_secret text default null,
    access_token text default null,
    settings jsonb default '{}'
)
returns table (id uuid, provider salesflow.channel_provider, route_key text, enabled boolean)
language sql
volatile
set search_path = ''
as $$
    insert into salesflow.channel_configs as c (
        org_id, provider, route_key, verify_token, app_secret, access_token, settings
    )
    values (
        set_channel_config.org_id, set_channel_config.provider, pg_catalog.btrim(set_channel_config.route_key),
        set_channel_config.verify_token, set_channel_config.app_secret, set_channel_config.access_token,
        coalesce(set_channel_config.settings, '{}')
    )
    on conflict (provider, route_key) do update set
        verify_token = excluded.verify_token, app_secret = excluded.app_secret,
        access_token = excluded.access_token, settings = excluded.settings
    -- another organisation's account: the update policy hides its row, so nothing is returned
    where c.org_id = excluded.org_id
    returning c.id, c.provider, c.route_key, c.enabled
$$;
comment on function api.set_channel_config(
    uuid, salesflow.channel_provider, text, text, text, text, jsonb
) is
'Add or change a channel account (owners and admins): WhatsApp (route_key = phone_number_id, verify_token, '
'app_secret, access_token, settings.graph_base_url), email (route_key = the inbound address, settings.smtp_host, '
'smtp_port, from_address) or generic (route_key = its name, app_secret signs its requests). Secrets are never '
'returned.';

create or replace function api.list_channel_configs(org_id uuid)
returns table (id uuid, provider salesflow.channel_provider, route_key text, enabled boolean)
language sql
stable
set search_path = ''
as $$
    select c.id, c.provider, c.route_key, c.enabled from salesflow.channel_configs as c
    where c.org_id = list_channel_configs.org_id
    order by c.provider, c.route_key
$$;
comment on function api.list_channel_configs(uuid) is
'The organisation''s channel accounts without their secrets (owners and admins).';

alter table salesflow.channel_configs enable row level security;
alter table salesflow.webhook_inbox enable row level security;
alter table salesflow.webhook_rejections enable row level security;
alter table salesflow.outbox enable row level security;
alter table salesflow.lead_consents enable row level security;
alter table salesflow.install_secrets enable row level security;
alter table salesflow.suppressions enable row level security;
alter table salesflow.erasure_requests enable row level security;
alter table salesflow.lead_merges enable row level security;
alter table salesflow.personal_data_catalog enable row level security;

-- channel accounts hold secrets: owners and admins only
drop policy if exists channel_configs_select on salesflow.channel_configs;
create policy channel_configs_select on salesflow.channel_configs for select to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));
drop policy if exists channel_configs_insert on salesflow.channel_configs;
create policy channel_configs_insert on salesflow.channel_configs for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));
drop policy if exists channel_configs_update on salesflow.channel_configs;
create policy channel_configs_update on salesflow.channel_configs for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

-- raw webhook payloads: owners and admins may look (debugging a channel); only the API and worker write
drop policy if exists webhook_inbox_select on salesflow.webhook_inbox;
create policy webhook_inbox_select on salesflow.webhook_inbox for select to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

-- the outbox: members read; owners, admins and reps queue and approve
drop policy if exists outbox_select on salesflow.outbox;
create policy outbox_select on salesflow.outbox for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists outbox_insert on salesflow.outbox;
create policy outbox_insert on salesflow.outbox for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));
drop policy if exists outbox_update on salesflow.outbox;
create policy outbox_update on salesflow.outbox for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

drop policy if exists lead_consents_select on salesflow.lead_consents;
create policy lead_consents_select on salesflow.lead_consents for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists lead_consents_insert on salesflow.lead_consents;
create policy lead_consents_insert on salesflow.lead_consents for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));
drop policy if exists lead_consents_update on salesflow.lead_consents;
create policy lead_consents_update on salesflow.lead_consents for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

-- erasure: owners and admins ask for it and read the record
drop policy if exists erasure_requests_select on salesflow.erasure_requests;
create policy erasure_requests_select on salesflow.erasure_requests for select to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));
drop policy if exists erasure_requests_insert on salesflow.erasure_requests;
create policy erasure_requests_insert on salesflow.erasure_requests for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

drop policy if exists lead_merges_select on salesflow.lead_merges;
create policy lead_merges_select on salesflow.lead_merges for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists lead_merges_insert on salesflow.lead_merges;
create policy lead_merges_insert on salesflow.lead_merges for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));
drop policy if exists lead_merges_update on salesflow.lead_merges;
create policy lead_merges_update on salesflow.lead_merges for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));
-- suppressions, install_secrets, webhook_rejections, personal_data_catalog: no policies, no grants

grant select, insert, update on salesflow.channel_configs to authenticated, service_role;
grant select on salesflow.webhook_inbox to authenticated, service_role;
grant select, insert, update on salesflow.outbox, salesflow.lead_consents, salesflow.lead_merges
to authenticated, service_role;
grant select, insert on salesflow.erasure_requests to authenticated, service_role;
revoke all on salesflow.install_secrets, salesflow.suppressions, salesflow.webhook_rejections,
salesflow.personal_data_catalog from anon, authenticated, service_role;

revoke execute on function
api.set_channel_config(uuid, salesflow.channel_provider, text, text, text, text, jsonb),
api.list_channel_configs(uuid),
api.queue_outbound_message(uuid, uuid, salesflow.channel, text, text, boolean, text),
api.approve_outbound_message(uuid, uuid, text),
api.list_outbound_messages(uuid, uuid, integer),
api.merge_leads(uuid, uuid, uuid),
api.undo_merge(uuid, uuid),
api.list_duplicate_leads(uuid, integer),
api.erase_lead(uuid, uuid, text),
api.get_erasure_request(uuid, uuid),
api.export_lead_data(uuid, uuid),
api.set_lead_consent(uuid, uuid, salesflow.channel, boolean, boolean),
api.set_privacy_settings(uuid, integer, text)
from public;
grant execute on function
api.set_channel_config(uuid, salesflow.channel_provider, text, text, text, text, jsonb),
api.list_channel_configs(uuid),
api.queue_outbound_message(uuid, uuid, salesflow.channel, text, text, boolean, text),
api.approve_outbound_message(uuid, uuid, text),
api.list_outbound_messages(uuid, uuid, integer),
api.merge_leads(uuid, uuid, uuid),
api.undo_merge(uuid, uuid),
api.list_duplicate_leads(uuid, integer),
api.erase_lead(uuid, uuid, text),
api.get_erasure_request(uuid, uuid),
api.export_lead_data(uuid, uuid),
api.set_lead_consent(uuid, uuid, salesflow.channel, boolean, boolean),
api.set_privacy_settings(uuid, integer, text)
to authenticated, service_role;
-- helpers the RPCs above call with the caller's privileges (and the leads trigger)
grant execute on function
salesflow.may_contact(uuid, uuid, salesflow.channel),
salesflow.ai_processing_allowed(uuid, uuid),
salesflow.move_lead_rows(uuid, uuid, uuid, uuid[]),
salesflow.identifier_hash(text),
salesflow.is_suppressed(uuid, text[]),
salesflow.hmac_sha256(bytea, bytea)
to authenticated, service_role;
