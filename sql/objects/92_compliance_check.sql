-- Compliance on demand (issue 14): a rep's own text judged by the rules the gateway applies to
-- model output (the rule engine is Python: POST /api/ki/compliance/check runs it), logged in
-- salesflow.compliance_log like every verdict, as the caller, with the action 'checked'.

-- The organisation's compliance rules for the check. Security definer because reps may not read
-- the organisation's settings (api.get_ai_settings is for owners and admins); it returns only
-- the compliance part, and only to a member.
create or replace function api.compliance_rules(org_id uuid)
returns jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
    rules jsonb;
begin
    if not compliance_rules.org_id = any(salesflow.my_org_ids()) then
        perform salesflow.not_found('organization', compliance_rules.org_id);
    end if;
    select coalesce(o.settings #> '{ai,compliance}', '{}') into rules
    from salesflow.organizations as o where o.id = compliance_rules.org_id;
    return pg_catalog.jsonb_build_object('org_id', compliance_rules.org_id, 'compliance', rules);
end
$$;
comment on function api.compliance_rules(uuid) is
'{"org_id", "compliance"}: the organisation''s own compliance rules (settings.ai.compliance), for checking a text on demand. '
'Runs as security definer, justified: reps may not read the organisation''s settings; this returns only '
'the compliance rules, and only to a member of the organisation.';

-- Log one on-demand verdict. Security definer because the compliance log is append-only and no
-- app role may insert into it; the row is the caller's (user_id = auth.uid()), task
-- 'compliance_check', action 'checked', so it can never pass for a verdict on a model's output.
create or replace function api.record_compliance_check(
    org_id uuid, purpose text, passed boolean, findings jsonb, rules_version text, text_sha256 text
)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
    new_id bigint;
begin
    if not record_compliance_check.org_id = any(salesflow.my_org_ids('{owner,admin,rep}')) then
        perform salesflow.not_found('organization', record_compliance_check.org_id);
    end if;
    if pg_catalog.jsonb_typeof(record_compliance_check.findings) is distinct from 'array'
       or pg_catalog.jsonb_array_length(record_compliance_check.findings) > 200 then
        raise sqlstate '22023' using message = 'findings must be a JSON array of at most 200 findings';
    end if;
    if record_compliance_check.passed is null or record_compliance_check.rules_version is null
       or pg_catalog.length(record_compliance_check.rules_version) > 200 then
        raise sqlstate '22023' using message = 'passed and rules_version (at most 200 characters) are required';
    end if;
    insert into salesflow.compliance_log (
        org_id, request_id, user_id, task, purpose, passed, findings, rules_version, text_sha256, action
    )
    values (
        record_compliance_check.org_id, null, (select auth.uid()), 'compliance_check',
        record_compliance_check.purpose, record_compliance_check.passed, record_compliance_check.findings,
        record_compliance_check.rules_version, record_compliance_check.text_sha256, 'checked'
    )
    returning id into new_id;
    return new_id;
end
$$;
comment on function api.record_compliance_check(uuid, text, boolean, jsonb, text, text) is
'Log a verdict on a rep''s own text (POST /api/ki/compliance/check calls it after running the rules): the '
'findings as ids, offsets and hashes, the rules version and the text''s SHA-256, never the text. '
'Runs as security definer, justified: the compliance log is append-only and closed to app roles; the row '
'is always the caller''s own, marked task compliance_check and action checked.';

revoke execute on function api.compliance_rules(uuid) from public;
revoke execute on function api.record_compliance_check(uuid, text, boolean, jsonb, text, text) from public;
grant execute on function api.compliance_rules(uuid) to authenticated, service_role;
grant execute on function api.record_compliance_check(uuid, text, boolean, jsonb, text, text)
to authenticated, service_role;
