-- Integrity rules that no constraint can state: an organisation keeps an owner, and a text's
-- vectors follow it to another lead.

-- Refuse removing or demoting the last owner of an organisation: nobody else could add one back
-- (admins may not create owners). Deleting the organisation itself still takes every member.
-- security definer: the check must count owners whatever the caller may see, and lock the
-- organisation row so that two owners demoting each other at once cannot both succeed.
create or replace function salesflow.keep_an_owner() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if old.role <> 'owner' or (tg_op = 'UPDATE' and new.role = 'owner' and new.org_id = old.org_id) then
        return coalesce(new, old);
    end if;
    perform from salesflow.organizations as o where o.id = old.org_id for update;
    if not found then
        -- the organisation is being deleted (this is its cascade): its members go with it
        return coalesce(new, old);
    end if;
    if not exists (
        select from salesflow.org_members as m
        where m.org_id = old.org_id and m.role = 'owner' and m.user_id <> old.user_id
    ) then
        raise sqlstate '23514' using
            message = pg_catalog.format('user %s is the last owner of organization %s', old.user_id, old.org_id),
            hint = 'Make another member an owner first; an organisation always keeps one.';
    end if;
    return coalesce(new, old);
end
$$;

create or replace trigger org_members_keep_an_owner before update of role, org_id or delete
on salesflow.org_members
for each row execute function salesflow.keep_an_owner();

-- A message or activity moved to another lead takes its vectors along: search finds it under its
-- new lead, and deleting the old lead no longer drops the moved text's vector.
-- security definer: app roles change messages, never the embeddings table.
create or replace function salesflow.rekey_embeddings() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if new.lead_id is not null then
        update salesflow.embeddings as e
        set lead_id = new.lead_id
        where e.org_id = new.org_id
          and e.source = (case tg_table_name when 'messages' then 'message' else 'activity' end)::salesflow.embedding_source
          and e.source_id = new.id;
    end if;
    return null;
end
$$;

create or replace trigger messages_rekey_embeddings after update of lead_id on salesflow.messages
for each row when (old.lead_id is distinct from new.lead_id)
execute function salesflow.rekey_embeddings();
create or replace trigger activities_rekey_embeddings after update of lead_id on salesflow.activities
for each row when (old.lead_id is distinct from new.lead_id)
execute function salesflow.rekey_embeddings();
