-- Grants: nothing by default, then what each role needs, function by function.

-- PostgreSQL grants EXECUTE on new functions to PUBLIC; take that back everywhere we own.
revoke execute on all functions in schema api, salesflow from public;
alter default privileges in schema api, salesflow revoke execute on functions from public;

-- anon may resolve names in `api` (so a call answers "permission denied", not "no such schema")
-- and may execute nothing.
grant usage on schema api to anon, authenticated, service_role;
grant usage on schema salesflow to authenticated, service_role;
-- callers pass extensions.vector arguments (search_memory's query vector)
grant usage on schema extensions to anon, authenticated, service_role;
revoke all on schema analytics from public;

-- Tables: privileges for signed-in users, narrowed row by row by the policies in 20_policies.sql.
grant select, insert, update, delete on
salesflow.companies, salesflow.leads, salesflow.deals, salesflow.activities,
salesflow.messages, salesflow.channel_identities, salesflow.org_members
to authenticated, service_role;
grant select, update on salesflow.organizations to authenticated;
grant select, insert, update, delete on salesflow.organizations to service_role;
revoke all on salesflow.schema_migrations, salesflow.schema_objects from anon, authenticated, service_role;
-- semantic memory: members read vectors (RLS picks the rows); only the worker writes them
grant select on salesflow.embeddings to authenticated, service_role;

-- Helpers that policies and RPCs call with the caller's privileges.
grant execute on function
salesflow.my_org_ids(salesflow.member_role[]),
salesflow.normalize_email(text),
salesflow.normalize_phone(text),
salesflow.normalize_address(salesflow.channel, text),
salesflow.not_found(text, uuid),
salesflow.check_changes(jsonb, text[]),
salesflow.check_page_size(integer),
salesflow.active_embedding_model()
to authenticated, service_role;

-- The RPCs of the files before this one, named one by one: appearing in `api` exposes nothing
-- (DESIGN.md decision 10). A new RPC is granted in its own object file, next to its definition,
-- with `revoke ... from public` and `grant execute ... to authenticated, service_role`; anon gets none.
grant execute on function
api.add_org_member(uuid, uuid, salesflow.member_role, text, text),
api.create_activity(uuid, salesflow.activity_kind, uuid, uuid, salesflow.direction, text, text, text, timestamp with time zone, timestamp with time zone, timestamp with time zone, uuid),
api.create_company(uuid, text, text, text, integer, text, jsonb),
api.create_deal(uuid, text, uuid, uuid, uuid, salesflow.deal_stage, numeric, text, date, text, jsonb),
api.create_lead(uuid, text, text, text, text, uuid, uuid, text, salesflow.lead_source, salesflow.lifecycle_stage, text, jsonb),
api.create_message(uuid, uuid, salesflow.channel, salesflow.direction, text, text, text, timestamp with time zone, text),
api.create_organization(text, text),
api.delete_activity(uuid, uuid),
api.delete_company(uuid, uuid),
api.delete_deal(uuid, uuid),
api.delete_lead(uuid, uuid),
api.delete_message(uuid, uuid),
api.find_lead_by_address(uuid, salesflow.channel, text),
api.get_activity(uuid, uuid),
api.get_ai_settings(uuid),
api.get_company(uuid, uuid),
api.get_conversation(uuid, uuid),
api.get_deal(uuid, uuid),
api.get_lead(uuid, uuid),
api.get_message(uuid, uuid),
api.get_prompt_version(uuid, text, text, integer),
api.link_channel_identity(uuid, salesflow.channel, text, uuid, boolean),
api.list_activities(uuid, uuid, uuid, salesflow.activity_kind, integer, timestamp with time zone, uuid),
api.list_ai_suggestions(uuid, uuid, salesflow.suggestion_status, integer),
api.list_channel_identities(uuid, uuid),
api.list_companies(uuid, text, integer, timestamp with time zone, uuid),
api.list_conversations(uuid, integer, timestamp with time zone, uuid),
api.list_deals(uuid, salesflow.deal_stage, uuid, uuid, uuid, integer, timestamp with time zone, uuid),
api.list_leads(uuid, salesflow.lifecycle_stage, uuid, uuid, text, integer, timestamp with time zone, uuid),
api.list_messages(uuid, uuid, salesflow.channel, integer, timestamp with time zone, uuid),
api.list_org_members(uuid),
api.list_prompts(uuid),
api.my_organizations(),
api.record_llm_feedback(uuid, bigint, smallint, salesflow.llm_outcome, text),
api.remove_org_member(uuid, uuid),
api.request_ai_suggestion(uuid, uuid, salesflow.suggestion_kind, text),
api.review_ai_suggestion(uuid, uuid, salesflow.suggestion_status),
api.search_memory(uuid, extensions.vector, text, uuid, salesflow.channel, timestamp with time zone, timestamp with time zone, integer, text, boolean),
api.set_ai_settings(uuid, jsonb),
api.unlink_channel_identity(uuid, salesflow.channel, text),
api.update_activity(uuid, uuid, jsonb),
api.update_company(uuid, uuid, jsonb),
api.update_deal(uuid, uuid, jsonb),
api.update_lead(uuid, uuid, jsonb),
api.update_message(uuid, uuid, jsonb)
to authenticated, service_role;
