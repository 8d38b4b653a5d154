-- The compliance log and the per-organisation AI settings (PII redaction, compliance rules,
-- routing preferences) the gateway reads before every call.

-- Append-only: no update by anyone; deletes only through the cascade when an organisation goes
-- (a delete fired by the foreign key runs inside the RI trigger, at trigger depth 2).
create or replace function salesflow.refuse_compliance_log_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if tg_op = 'DELETE' and pg_catalog.pg_trigger_depth() > 1 then
        return old;
    end if;
    -- GDPR erasure of a person's verdicts, only through salesflow.erase_llm_traces (83_gdpr.sql)
    if tg_op = 'DELETE' and pg_catalog.current_setting('salesflow.erasure', true) = 'on' then
        return old;
    end if;
    raise sqlstate '55000' using
        message = 'salesflow.compliance_log is append-only: rows cannot be updated or deleted';
end
$$;

create or replace trigger compliance_log_append_only before update or delete on salesflow.compliance_log
for each row execute function salesflow.refuse_compliance_log_change();

alter table salesflow.compliance_log enable row level security;

-- owners, admins and analysts audit the organisation; a rep sees the verdicts on their own calls
drop policy if exists compliance_log_select on salesflow.compliance_log;
create policy compliance_log_select on salesflow.compliance_log for select to authenticated
using (
    org_id = any((select salesflow.my_org_ids('{owner,admin,analyst}'))::uuid[])
    or (org_id = any((select salesflow.my_org_ids())::uuid[]) and user_id = (select auth.uid()))
);

revoke all on salesflow.compliance_log from anon, authenticated, service_role;
grant select on salesflow.compliance_log to authenticated, service_role;

-- The organisation's AI settings: {"pii": {...}, "compliance": {...}, "routing": {...}}, kept in
-- organizations.settings under "ai". The gateway validates the contents and refuses a call whose
-- settings it cannot apply; this checks the shape.
create or replace function api.get_ai_settings(org_id uuid)
returns jsonb
language plpgsql
stable
set search_path = ''
as $$
declare
    found_settings jsonb;
begin
    select coalesce(o.settings -> 'ai', '{}') into found_settings
    from salesflow.organizations as o
    where o.id = get_ai_settings.org_id;
    if found_settings is null then
        perform salesflow.not_found('organization', get_ai_settings.org_id);
    end if;
    return found_settings;
end
$$;
comment on function api.get_ai_settings(uuid) is
'The organisation''s AI settings: PII redaction ("pii"), compliance rules ("compliance"), routing ("routing").';

create or replace function api.set_ai_settings(org_id uuid, settings jsonb)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
    bad text[];
begin
    if settings is null or pg_catalog.jsonb_typeof(settings) <> 'object' then
        raise sqlstate '22023' using message = 'settings must be a JSON object';
    end if;
    select pg_catalog.array_agg(s.key order by s.key) into bad
    from pg_catalog.jsonb_each(settings) as s
    where s.key not in ('pii', 'compliance', 'routing') or pg_catalog.jsonb_typeof(s.value) <> 'object';
    if bad is not null then
        raise sqlstate '22023' using
            message = pg_catalog.format('unknown or malformed AI settings: %s', pg_catalog.array_to_string(bad, ', ')),
            hint = 'allowed: "pii", "compliance" and "routing", each a JSON object';
    end if;
    -- RLS lets only owners and admins update the organisation
    update salesflow.organizations as o
    set settings = pg_catalog.jsonb_set(o.settings, '{ai}', set_ai_settings.settings)
    where o.id = set_ai_settings.org_id;
    if not found then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('organization %s not found', set_ai_settings.org_id),
            hint = 'Only owners and admins of an organisation may change its AI settings.';
    end if;
    return settings;
end
$$;
comment on function api.set_ai_settings(uuid, jsonb) is
'Replace the organisation''s AI settings (owners and admins): PII redaction, compliance rules, routing.';
