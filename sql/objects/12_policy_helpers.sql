-- Predicates that many write policies share, written once.
--
-- A policy calls a predicate as `salesflow.may_write_owned(org_id, owner_id, (select
-- salesflow.my_write_keys()))`. The sub-select is an init plan: the caller's memberships are read
-- once per statement, not once per row. The predicate is a one-statement `language sql immutable`
-- function that the planner inlines, so the policy costs what the written-out predicate cost.
-- What inlining needs, and why these functions look as they do: no SET clause (so no pinned
-- search_path: every type and operator is qualified with pg_catalog instead, whatever the
-- caller's search_path), no sub-query in the body, and the init plan's value used once.
-- Hence the caller's rights are keys in one array, and a row's keys are matched against it.

-- The caller's write keys: 'org' where they are owner or admin (any row), 'org/user' where rep
-- (the rows they own). security definer: policies on org_members would otherwise recurse.
create or replace function salesflow.my_write_keys()
returns text[]
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(
        pg_catalog.array_agg(
            case when m.role = 'rep' then m.org_id::text || '/' || m.user_id::text else m.org_id::text end
        ),
        '{}'
    )
    from salesflow.org_members as m
    where m.user_id = (select auth.uid()) and m.role in ('owner', 'admin', 'rep')
$$;
comment on function salesflow.my_write_keys() is
'security definer, justified: reads org_members for the policies on it, which would otherwise recurse. '
'The caller''s write keys for salesflow.may_write_owned, read once per statement by the write policies.';

-- The caller's membership keys: 'org' where they are owner (anyone), 'org/member' where admin
-- (anyone but owners). security definer as my_write_keys.
create or replace function salesflow.my_member_keys()
returns text[]
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce(
        pg_catalog.array_agg(case when m.role = 'owner' then m.org_id::text else m.org_id::text || '/member' end),
        '{}'
    )
    from salesflow.org_members as m
    where m.user_id = (select auth.uid()) and m.role in ('owner', 'admin')
$$;
comment on function salesflow.my_member_keys() is
'security definer, justified: reads org_members for the policies on it, which would otherwise recurse. '
'The caller''s membership keys for salesflow.may_manage_member, read once per statement.';

-- Write access to a row a member owns: owners and admins write any row of their organisation,
-- reps only the rows they own (leads, deals, activities).
create or replace function salesflow.may_write_owned(org_id uuid, owner_id uuid, write_keys text[])
returns boolean
language sql
immutable
security invoker
as $$
    select array[
        may_write_owned.org_id::pg_catalog.text,
        may_write_owned.org_id::pg_catalog.text operator(pg_catalog.||) '/'
        operator(pg_catalog.||) may_write_owned.owner_id::pg_catalog.text
    ] operator(pg_catalog.&&) may_write_owned.write_keys
$$;
comment on function salesflow.may_write_owned(uuid, uuid, text[]) is
'RLS: owners and admins of org_id, or its reps for rows they own (keys of my_write_keys); inlined into policies.';

-- Managing a membership: owners manage anyone, admins anyone but owners.
create or replace function salesflow.may_manage_member(org_id uuid, role salesflow.member_role, member_keys text[])
returns boolean
language sql
immutable
security invoker
as $$
    select array[
        may_manage_member.org_id::pg_catalog.text,
        case
            when may_manage_member.role operator(pg_catalog.<>) 'owner'
                then may_manage_member.org_id::pg_catalog.text operator(pg_catalog.||) '/member'
        end
    ] operator(pg_catalog.&&) may_manage_member.member_keys
$$;
comment on function salesflow.may_manage_member(uuid, salesflow.member_role, text[]) is
'RLS: owners of org_id, or its admins for memberships other than owners (keys of my_member_keys); inlined.';

revoke execute on function salesflow.my_write_keys() from public;
revoke execute on function salesflow.my_member_keys() from public;
revoke execute on function salesflow.may_write_owned(uuid, uuid, text[]) from public;
revoke execute on function salesflow.may_manage_member(uuid, salesflow.member_role, text[]) from public;
-- the planner inlines a function only for a caller who may execute it
grant execute on function salesflow.my_write_keys() to authenticated, service_role;
grant execute on function salesflow.my_member_keys() to authenticated, service_role;
grant execute on function salesflow.may_write_owned(uuid, uuid, text[]) to authenticated, service_role;
grant execute on function salesflow.may_manage_member(uuid, salesflow.member_role, text[])
to authenticated, service_role;
