-- Row-level security: a member sees their organisation's rows and nothing else.
-- Writes follow a CRM's roles: owners and admins change anything in their organisation,
-- reps change what they own, analysts only read. Anonymous callers see nothing.
-- Policies are dropped and re-created so that this file can be re-applied. The shared predicates
-- are inlinable helpers (12_policy_helpers.sql).

alter table salesflow.organizations enable row level security;
alter table salesflow.org_members enable row level security;
alter table salesflow.companies enable row level security;
alter table salesflow.leads enable row level security;
alter table salesflow.deals enable row level security;
alter table salesflow.activities enable row level security;
alter table salesflow.messages enable row level security;
alter table salesflow.channel_identities enable row level security;
-- bookkeeping: no policies at all, so no app role reads or writes it
alter table salesflow.schema_migrations enable row level security;
alter table salesflow.schema_objects enable row level security;

-- organizations: created through api.create_organization (which adds the creator as owner)
drop policy if exists organizations_select on salesflow.organizations;
create policy organizations_select on salesflow.organizations for select to authenticated
using (id = any((select salesflow.my_org_ids())::uuid[]));

drop policy if exists organizations_update on salesflow.organizations;
create policy organizations_update on salesflow.organizations for update to authenticated
using (id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]))
with check (id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

-- org_members: admins manage members, but only owners may create, change or remove owners
drop policy if exists org_members_select on salesflow.org_members;
create policy org_members_select on salesflow.org_members for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

drop policy if exists org_members_insert on salesflow.org_members;
create policy org_members_insert on salesflow.org_members for insert to authenticated
with check (salesflow.may_manage_member(org_id, role, (select salesflow.my_member_keys())));

drop policy if exists org_members_update on salesflow.org_members;
create policy org_members_update on salesflow.org_members for update to authenticated
using (salesflow.may_manage_member(org_id, role, (select salesflow.my_member_keys())))
with check (salesflow.may_manage_member(org_id, role, (select salesflow.my_member_keys())));

drop policy if exists org_members_delete on salesflow.org_members;
create policy org_members_delete on salesflow.org_members for delete to authenticated
using (salesflow.may_manage_member(org_id, role, (select salesflow.my_member_keys())));

-- companies: shared accounts; any rep may add or edit one, only admins delete
drop policy if exists companies_select on salesflow.companies;
create policy companies_select on salesflow.companies for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

drop policy if exists companies_insert on salesflow.companies;
create policy companies_insert on salesflow.companies for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

drop policy if exists companies_update on salesflow.companies;
create policy companies_update on salesflow.companies for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

drop policy if exists companies_delete on salesflow.companies;
create policy companies_delete on salesflow.companies for delete to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

-- leads: a rep creates and edits the leads they own; admins reassign and delete
drop policy if exists leads_select on salesflow.leads;
create policy leads_select on salesflow.leads for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

drop policy if exists leads_insert on salesflow.leads;
create policy leads_insert on salesflow.leads for insert to authenticated
with check (salesflow.may_write_owned(org_id, owner_id, (select salesflow.my_write_keys())));

drop policy if exists leads_update on salesflow.leads;
create policy leads_update on salesflow.leads for update to authenticated
using (salesflow.may_write_owned(org_id, owner_id, (select salesflow.my_write_keys())))
with check (salesflow.may_write_owned(org_id, owner_id, (select salesflow.my_write_keys())));

drop policy if exists leads_delete on salesflow.leads;
create policy leads_delete on salesflow.leads for delete to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

-- deals: as leads
drop policy if exists deals_select on salesflow.deals;
create policy deals_select on salesflow.deals for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

drop policy if exists deals_insert on salesflow.deals;
create policy deals_insert on salesflow.deals for insert to authenticated
with check (salesflow.may_write_owned(org_id, owner_id, (select salesflow.my_write_keys())));

drop policy if exists deals_update on salesflow.deals;
create policy deals_update on salesflow.deals for update to authenticated
using (salesflow.may_write_owned(org_id, owner_id, (select salesflow.my_write_keys())))
with check (salesflow.may_write_owned(org_id, owner_id, (select salesflow.my_write_keys())));

drop policy if exists deals_delete on salesflow.deals;
create policy deals_delete on salesflow.deals for delete to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

-- activities: a rep logs their own calls and notes on any lead, and edits only their own
drop policy if exists activities_select on salesflow.activities;
create policy activities_select on salesflow.activities for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

drop policy if exists activities_insert on salesflow.activities;
create policy activities_insert on salesflow.activities for insert to authenticated
with check (salesflow.may_write_owned(org_id, owner_id, (select salesflow.my_write_keys())));

drop policy if exists activities_update on salesflow.activities;
create policy activities_update on salesflow.activities for update to authenticated
using (salesflow.may_write_owned(org_id, owner_id, (select salesflow.my_write_keys())))
with check (salesflow.may_write_owned(org_id, owner_id, (select salesflow.my_write_keys())));

drop policy if exists activities_delete on salesflow.activities;
create policy activities_delete on salesflow.activities for delete to authenticated
using (salesflow.may_write_owned(org_id, owner_id, (select salesflow.my_write_keys())));

-- messages: the conversation record; any rep may log one, only admins edit or delete (erasure)
drop policy if exists messages_select on salesflow.messages;
create policy messages_select on salesflow.messages for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

drop policy if exists messages_insert on salesflow.messages;
create policy messages_insert on salesflow.messages for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

drop policy if exists messages_update on salesflow.messages;
create policy messages_update on salesflow.messages for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

drop policy if exists messages_delete on salesflow.messages;
create policy messages_delete on salesflow.messages for delete to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

-- channel_identities: which lead an inbound address belongs to
drop policy if exists channel_identities_select on salesflow.channel_identities;
create policy channel_identities_select on salesflow.channel_identities for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

drop policy if exists channel_identities_insert on salesflow.channel_identities;
create policy channel_identities_insert on salesflow.channel_identities for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

drop policy if exists channel_identities_update on salesflow.channel_identities;
create policy channel_identities_update on salesflow.channel_identities for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

drop policy if exists channel_identities_delete on salesflow.channel_identities;
create policy channel_identities_delete on salesflow.channel_identities for delete to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

-- embeddings: readable by members (search runs as the caller); written only by the worker and
-- the security definer triggers. embedding_queue and embedding_models have no policies at all.
alter table salesflow.embeddings enable row level security;
alter table salesflow.embedding_queue enable row level security;
alter table salesflow.embedding_models enable row level security;

drop policy if exists embeddings_select on salesflow.embeddings;
create policy embeddings_select on salesflow.embeddings for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
