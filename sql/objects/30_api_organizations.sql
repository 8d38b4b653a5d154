-- RPCs: organisations and their members.

create or replace function api.create_organization(name text, slug text default null)
returns api.organizations
language plpgsql
-- definer: the creator is not yet a member, so no policy could let them insert
security definer
set search_path = ''
as $$
declare
    org salesflow.organizations;
    uid uuid := (select auth.uid());
begin
    if uid is null then
        raise sqlstate '42501' using message = 'creating an organisation needs a signed-in user';
    end if;
    insert into salesflow.organizations (name, slug)
    values (
        pg_catalog.btrim(create_organization.name),
        coalesce(
            create_organization.slug,
            pg_catalog.left(
                pg_catalog.btrim(
                    pg_catalog.regexp_replace(pg_catalog.lower(create_organization.name), '[^a-z0-9]+', '-', 'g'),
                    '-'
                ),
                40
            ) || '-' || pg_catalog.left(pg_catalog.md5(pg_catalog.random()::text), 6)
        )
    )
    returning * into org;
    insert into salesflow.org_members (org_id, user_id, role, email)
    values (org.id, uid, 'owner', salesflow.normalize_email((select auth.jwt()) ->> 'email'));
    return salesflow.api_organization(org);
end
$$;
comment on function api.create_organization(text, text) is
'Create an organisation; the caller becomes its owner. slug defaults to one derived from the name. '
'Runs as security definer, justified: the caller is not yet a member, so no policy could let them insert the '
'organisation or their own owner row; it inserts exactly those two rows, for auth.uid() only.';

create or replace function api.my_organizations()
returns table (id uuid, name text, slug text, role salesflow.member_role, created_at timestamptz)
language sql
stable
set search_path = ''
as $$
    select o.id, o.name, o.slug, m.role, o.created_at
    from salesflow.organizations as o
    join salesflow.org_members as m on m.org_id = o.id and m.user_id = (select auth.uid())
    order by o.name
$$;
comment on function api.my_organizations() is 'The organisations the caller belongs to, with their role in each.';

create or replace function api.add_org_member(
    org_id uuid, user_id uuid, role salesflow.member_role, display_name text default null, email text default null
)
returns api.org_members
language sql
set search_path = ''
as $$
    insert into salesflow.org_members (org_id, user_id, role, display_name, email)
    values (
        add_org_member.org_id, add_org_member.user_id, add_org_member.role,
        add_org_member.display_name, salesflow.normalize_email(add_org_member.email)
    )
    returning salesflow.api_org_member(org_members)
$$;
comment on function api.add_org_member(uuid, uuid, salesflow.member_role, text, text) is
'Add a user to an organisation (owners and admins; only owners add owners).';

create or replace function api.list_org_members(org_id uuid)
returns setof api.org_members
language sql
stable
set search_path = ''
as $$
    select salesflow.api_org_member(m) from salesflow.org_members as m
    where m.org_id = list_org_members.org_id
    order by m.role, m.created_at
$$;
comment on function api.list_org_members(uuid) is 'Members of an organisation the caller belongs to.';

create or replace function api.remove_org_member(org_id uuid, user_id uuid)
returns api.org_members
language plpgsql
set search_path = ''
as $$
declare
    removed salesflow.org_members;
begin
    delete from salesflow.org_members as m
    where m.org_id = remove_org_member.org_id and m.user_id = remove_org_member.user_id
    returning m.* into removed;
    if removed is null then
        perform salesflow.not_found('member', remove_org_member.user_id);
    end if;
    return salesflow.api_org_member(removed);
end
$$;
comment on function api.remove_org_member(uuid, uuid) is
'Remove a member (owners and admins; only owners remove owners). Their leads and deals become unowned.';
