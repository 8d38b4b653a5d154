-- Supabase's roles and auth functions, created only where missing (plain PostgreSQL).
-- On Supabase they exist already and are left untouched.

do $$
declare
    r text;
begin
    foreach r in array array['anon', 'authenticated', 'service_role'] loop
        if not exists (select from pg_catalog.pg_roles where rolname = r) then
            execute format('create role %I nologin noinherit', r);
        end if;
        -- the gateway connects as this user and switches with `set local role`, as PostgREST does
        if not pg_catalog.pg_has_role(current_user, r, 'member') then
            execute format('grant %I to %I', r, current_user);
        end if;
    end loop;
    -- service_role is the server-side key: it bypasses RLS on Supabase and must here too
    if not (select rolbypassrls from pg_catalog.pg_roles where rolname = 'service_role')
       and (select rolsuper from pg_catalog.pg_roles where rolname = current_user) then
        alter role service_role bypassrls;
    end if;
end
$$;

-- Grants are made only on what this file creates: on Supabase the auth schema is not ours to change.
do $$
begin
    if not exists (select from pg_catalog.pg_namespace where nspname = 'auth') then
        create schema auth;
        grant usage on schema auth to anon, authenticated, service_role;
    end if;
    if not exists (
        select from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'auth' and p.proname = 'jwt'
    ) then
        create function auth.jwt() returns jsonb
        language sql stable
        set search_path = ''
        as $f$
            select coalesce(
                nullif(pg_catalog.current_setting('request.jwt.claim', true), ''),
                nullif(pg_catalog.current_setting('request.jwt.claims', true), '')
            )::jsonb
        $f$;
        grant execute on function auth.jwt() to anon, authenticated, service_role;
    end if;
    if not exists (
        select from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'auth' and p.proname = 'uid'
    ) then
        create function auth.uid() returns uuid
        language sql stable
        set search_path = ''
        as $f$
            select coalesce(
                nullif(pg_catalog.current_setting('request.jwt.claim.sub', true), ''),
                (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
            )::uuid
        $f$;
        grant execute on function auth.uid() to anon, authenticated, service_role;
    end if;
    if not exists (
        select from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'auth' and p.proname = 'role'
    ) then
        create function auth.role() returns text
        language sql stable
        set search_path = ''
        as $f$
            select coalesce(
                nullif(pg_catalog.current_setting('request.jwt.claim.role', true), ''),
                (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
            )::text
        $f$;
        grant execute on function auth.role() to anon, authenticated, service_role;
    end if;
end
$$;
