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

-- Every RPC in `api` is for signed-in users and the service role; none for anon.
do $$
declare
    fn regprocedure;
begin
    for fn in
        select p.oid::regprocedure from pg_catalog.pg_proc as p
        join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
        where n.nspname = 'api'
    loop
        execute pg_catalog.format('grant execute on function %s to authenticated, service_role', fn);
    end loop;
end
$$;
