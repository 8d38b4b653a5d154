-- The two ledgers, salesflow.llm_requests and salesflow.compliance_log, are append-only for every
-- role the application or a migration uses (issue 9, section 3): no app role holds UPDATE, DELETE
-- or TRUNCATE on them, and triggers refuse all three even for the table owner (a privilege cannot
-- stop the owner; a trigger does, unless the owner drops it, which is a visible schema change).
-- Rows leave only through salesflow.apply_audit_retention, which logs each run in
-- salesflow.audit_retention_runs. Deleting an organisation keeps its audit rows (migration 0008).

create or replace function salesflow.refuse_audit_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if tg_op = 'DELETE' and pg_catalog.current_setting('salesflow.audit_retention', true) = 'on' then
        return old;
    end if;
    -- GDPR erasure of one person's traces, only through salesflow.erase_llm_traces (83_gdpr.sql);
    -- app roles hold no UPDATE or DELETE here, so only that owner-run function can reach this
    if tg_op in ('UPDATE', 'DELETE') and pg_catalog.current_setting('salesflow.erasure', true) = 'on' then
        return case tg_op when 'UPDATE' then new else old end;
    end if;
    raise sqlstate '55000' using
        message = pg_catalog.format('%s.%s is append-only: rows cannot be %s', tg_table_schema, tg_table_name,
            case tg_op when 'UPDATE' then 'updated' when 'DELETE' then 'deleted' else 'truncated' end),
        hint = 'Old rows leave through salesflow.apply_audit_retention(table_name, older_than).';
end
$$;

create or replace trigger llm_requests_append_only before update or delete on salesflow.llm_requests
for each row execute function salesflow.refuse_audit_change();
create or replace trigger llm_requests_no_truncate before truncate on salesflow.llm_requests
for each statement execute function salesflow.refuse_audit_change();
create or replace trigger compliance_log_append_only before update or delete on salesflow.compliance_log
for each row execute function salesflow.refuse_audit_change();
create or replace trigger compliance_log_no_truncate before truncate on salesflow.compliance_log
for each statement execute function salesflow.refuse_audit_change();
drop function if exists salesflow.refuse_compliance_log_change();

-- What llm_requests.subject_id holds for a subject (a lead's id): a hash, so that the ledger names
-- nobody, while the rows about a lead can still be found from its id (settle_request writes it).
create or replace function salesflow.subject_hash(org_id uuid, subject text) returns text
language sql
immutable
security invoker
set search_path = ''
as $$
    select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(org_id::text || ':' || subject, 'UTF8')), 'hex')
$$;
grant execute on function salesflow.subject_hash(uuid, text) to authenticated, service_role;

revoke update, delete, truncate on salesflow.llm_requests, salesflow.compliance_log
from public, anon, authenticated, service_role;

-- Retention: delete the rows of one ledger created before now() - older_than (at least 30 days),
-- and log the run. Feedback on a deleted request goes with it (its foreign key cascades).
create or replace function salesflow.apply_audit_retention(table_name text, older_than interval)
returns bigint
language plpgsql
set search_path = ''
as $$
declare
    cutoff timestamptz := pg_catalog.now() - apply_audit_retention.older_than;
    deleted bigint;
begin
    if older_than is null or older_than < interval '30 days' then
        raise sqlstate '22023' using message = pg_catalog.format(
            'audit retention keeps at least 30 days, not %s', coalesce(older_than::text, 'null'));
    end if;
    perform pg_catalog.set_config('salesflow.audit_retention', 'on', true);
    if table_name = 'llm_requests' then
        delete from salesflow.llm_requests as r where r.created_at < cutoff;
    elsif table_name = 'compliance_log' then
        delete from salesflow.compliance_log as c where c.created_at < cutoff;
    else
        raise sqlstate '22023' using message = pg_catalog.format(
            'no audit table %s; retention applies to llm_requests and compliance_log', table_name);
    end if;
    get diagnostics deleted = row_count;
    perform pg_catalog.set_config('salesflow.audit_retention', 'off', true);
    insert into salesflow.audit_retention_runs (table_name, cutoff, deleted)
    values (apply_audit_retention.table_name, cutoff, deleted);
    raise log 'audit retention: % rows of salesflow.% created before % deleted', deleted, table_name, cutoff;
    return deleted;
end
$$;
comment on function salesflow.apply_audit_retention(text, interval) is
'Delete ledger rows older than `older_than` (>= 30 days) from llm_requests or compliance_log; logged.';
revoke execute on function salesflow.apply_audit_retention(text, interval) from public;

-- Reservations whose caller never settled them (a process killed mid-call) become ledger rows
-- once they expire: status error, charged the reserved amount (what was spent is unknown, and
-- never free), usage marked estimated. Called by reserve_budget for its organisation, and by
-- anyone maintaining the database for all of them (org_id null).
create or replace function salesflow.sweep_llm_reservations(org_id uuid default null)
returns integer
language plpgsql
set search_path = ''
as $$
declare
    r salesflow.llm_budget_reservations;
    swept integer := 0;
begin
    for r in
        select v.* from salesflow.llm_budget_reservations as v
        where (sweep_llm_reservations.org_id is null or v.org_id = sweep_llm_reservations.org_id)
          and v.expires_at <= pg_catalog.now()
        order by v.created_at
        for update skip locked
    loop
        perform salesflow.settle_request(
            reservation_id => r.id, org_id => r.org_id, task => 'unsettled', provider => 'unknown',
            model => 'unknown', started_at => r.created_at, status => 'error', user_id => r.user_id,
            feature => r.feature, usage_estimated => true,
            error => 'the caller never settled this call (process killed?); charged its reservation');
        swept := swept + 1;
    end loop;
    return swept;
end
$$;
comment on function salesflow.sweep_llm_reservations(uuid) is
'Settle expired budget reservations as error rows charged their reserved amount; returns how many.';
revoke execute on function salesflow.sweep_llm_reservations(uuid) from public;

-- Erasure: a deleted lead's id must not stay in the job queue (ai_suggest payloads and their
-- idempotency keys). Definer: the member deleting the lead has no rights on salesflow.jobs; the
-- function deletes only ai_suggest jobs of that lead in that organisation.
create or replace function salesflow.forget_lead_in_jobs() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    -- a job about this lead alone goes; a batch job (lead_ids) forgets this one lead
    delete from salesflow.jobs as j
    where j.org_id = old.org_id and j.status <> 'running' and j.payload ->> 'lead_id' = old.id::text;
    update salesflow.jobs as j set payload = pg_catalog.jsonb_set(j.payload, '{lead_ids}', (
        select coalesce(pg_catalog.jsonb_agg(x.value), '[]') from pg_catalog.jsonb_array_elements(j.payload -> 'lead_ids') as x
        where x.value #>> '{}' <> old.id::text
    ))
    where j.org_id = old.org_id and j.payload -> 'lead_ids' ? old.id::text;
    return old;
end
$$;
comment on function salesflow.forget_lead_in_jobs() is
'After a lead is deleted, delete the jobs about it and drop it from batch jobs (definer: app roles cannot touch jobs).';
revoke execute on function salesflow.forget_lead_in_jobs() from public;

create or replace trigger leads_forget_in_jobs after delete on salesflow.leads
for each row execute function salesflow.forget_lead_in_jobs();

-- Org compliance rules are checked when saved: syntax (PostgreSQL compiles each pattern against
-- the empty string), size, and the constructs RE2 (the engine that runs them) lacks: look-around
-- and back-references. The gateway compiles them again with RE2 at use and leaves out any rule
-- that still fails, so a bad rule never stops an organisation's chats.
create or replace function salesflow.check_compliance_settings(compliance jsonb)
returns void
language plpgsql
immutable
set search_path = ''
as $$
declare
    rule jsonb;
    pattern text;
    rule_id text;
begin
    if compliance is null or pg_catalog.jsonb_typeof(compliance -> 'rules') is distinct from 'array' then
        return;
    end if;
    if pg_catalog.jsonb_array_length(compliance -> 'rules') > 50 then
        raise sqlstate '22023' using message = 'at most 50 compliance rules';
    end if;
    for rule in select r.value from pg_catalog.jsonb_array_elements(compliance -> 'rules') as r loop
        rule_id := coalesce(rule ->> 'id', '?');
        for pattern in
            select p.value from pg_catalog.jsonb_array_elements_text(
                coalesce(case when pg_catalog.jsonb_typeof(rule -> 'patterns') = 'array' then rule -> 'patterns' end,
                         '[]') || coalesce(case when pg_catalog.jsonb_typeof(rule -> 'unless') = 'array'
                                                then rule -> 'unless' end, '[]')) as p
        loop
            if pg_catalog.length(pattern) > 500 then
                raise sqlstate '22023' using message = pg_catalog.format(
                    'compliance rule %s: a pattern is longer than 500 characters', rule_id);
            end if;
            if pattern ~ '\(\?<?[=!]' or pattern ~ '\\[1-9]' then
                raise sqlstate '22023' using message = pg_catalog.format(
                    'compliance rule %s: pattern %s uses look-around or a back-reference, which RE2 cannot run',
                    rule_id, pattern);
            end if;
            begin
                perform '' ~ pattern;
            exception when invalid_regular_expression then
                raise sqlstate '22023' using message = pg_catalog.format(
                    'compliance rule %s: invalid regex %s: %s', rule_id, pattern, sqlerrm);
            end;
        end loop;
    end loop;
end
$$;
comment on function salesflow.check_compliance_settings(jsonb) is
'Refuse (22023, with the reason) organisation compliance rules RE2 could not run, or too many/long.';
grant execute on function salesflow.check_compliance_settings(jsonb) to authenticated, service_role;
