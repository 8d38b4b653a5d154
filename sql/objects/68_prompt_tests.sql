-- Prompt test suites (issue 14, AI governance): per prompt, cases of inputs and assertions; a run
-- checks one version against every case through the gateway (the worker's `test_prompt` job), and
-- its verdict gates the production label (salesflow.move_prompt_label in 61_prompts.sql).
-- Owners and admins write cases, ask for runs and move labels; every member reads.

-- What is wrong with a case's assertions, or null. The keys and their types are decided here, once;
-- the worker (salesflow/functions/prompt_tests.py) evaluates exactly these keys.
create or replace function salesflow.prompt_test_assertion_problems(assertions jsonb) returns text[]
language sql
immutable
security invoker
set search_path = ''
as $$
    select pg_catalog.array_agg(p order by p)
    from (
        select 'assertions must be a JSON object with at least one check' as p
        where assertions is null or pg_catalog.jsonb_typeof(assertions) <> 'object' or assertions = '{}'
        union all
        select pg_catalog.format('unknown check %s', k)
        from pg_catalog.jsonb_object_keys(
            case when pg_catalog.jsonb_typeof(assertions) = 'object' then assertions else '{}' end
        ) as k
        where k not in (
            'schema_valid', 'must_contain', 'must_not_contain', 'min_length', 'max_length', 'language', 'compliance'
        )
        union all
        select 'schema_valid must be true or false'
        where pg_catalog.jsonb_typeof(assertions -> 'schema_valid') is distinct from 'boolean'
          and assertions ? 'schema_valid'
        union all
        select pg_catalog.format('%s must be an array of 1 to 20 non-empty strings of at most 200 characters', k)
        from (values ('must_contain'), ('must_not_contain')) as c (k)
        where assertions ? c.k and (
            pg_catalog.jsonb_typeof(assertions -> c.k) <> 'array'
            or pg_catalog.jsonb_array_length(assertions -> c.k) not between 1 and 20
            or exists (
                select from pg_catalog.jsonb_array_elements(assertions -> c.k) as e
                where pg_catalog.jsonb_typeof(e) <> 'string' or pg_catalog.length(e #>> '{}') not between 1 and 200
            )
        )
        union all
        select pg_catalog.format('%s must be a whole number from 0 to 100000', k)
        from (values ('min_length'), ('max_length')) as c (k)
        where assertions ? c.k and (
            pg_catalog.jsonb_typeof(assertions -> c.k) <> 'number'
            or (assertions ->> c.k)::numeric <> pg_catalog.trunc((assertions ->> c.k)::numeric)
            or (assertions ->> c.k)::numeric not between 0 and 100000
        )
        union all
        select 'min_length is above max_length'
        where pg_catalog.jsonb_typeof(assertions -> 'min_length') = 'number'
          and pg_catalog.jsonb_typeof(assertions -> 'max_length') = 'number'
          and (assertions ->> 'min_length')::numeric > (assertions ->> 'max_length')::numeric
        union all
        select 'language must be "de" or "en"'
        where assertions ? 'language' and (assertions ->> 'language') is distinct from 'de'
          and (assertions ->> 'language') is distinct from 'en'
        union all
        select 'compliance must be {"purpose": "sales"|"marketing"|"chat"|..., "passed": true|false}'
        where assertions ? 'compliance' and (
            pg_catalog.jsonb_typeof(assertions -> 'compliance') <> 'object'
            or pg_catalog.jsonb_typeof(assertions -> 'compliance' -> 'passed') is distinct from 'boolean'
            or coalesce(assertions -> 'compliance' ->> 'purpose', '') !~ '^[a-z][a-z_]{0,39}$'
            or exists (select from pg_catalog.jsonb_object_keys(assertions -> 'compliance') as ck
                       where ck not in ('purpose', 'passed'))
        )
    ) as problems
$$;

comment on function salesflow.prompt_test_assertion_problems(jsonb) is
'What is wrong with a prompt test case''s assertions (null when nothing is).';

-- Store (or replace) a case of a prompt; shipped cases are replaced only by shipped ones, so a
-- member's case of the same name is never overwritten by a re-sync, nor a shipped one by a member.
create or replace function salesflow.save_prompt_test_case(
    org_id uuid, prompt_name text, case_name text, message text, inputs jsonb, assertions jsonb,
    source text default 'custom', created_by uuid default null
) returns salesflow.prompt_test_cases
language plpgsql
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
    prompt uuid;
    bad text[];
    saved salesflow.prompt_test_cases;
begin
    select p.id into prompt from salesflow.prompts as p
    where p.org_id = save_prompt_test_case.org_id and p.name = save_prompt_test_case.prompt_name;
    if prompt is null then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('prompt %s not found', save_prompt_test_case.prompt_name),
            hint = 'A product prompt is registered on its first use; the name includes the language (email_composer.en).';
    end if;
    if case_name is null or case_name !~ '^[a-z0-9][a-z0-9_.-]{0,79}$' then
        raise sqlstate '22023' using
            message = 'case_name must be 1 to 80 characters: lower-case letters, digits, _ . -';
    end if;
    if inputs is null or pg_catalog.jsonb_typeof(inputs) <> 'object' then
        raise sqlstate '22023' using message = 'inputs must be a JSON object of the prompt''s variables';
    end if;
    if pg_catalog.octet_length(inputs::text) > 100000 then
        raise sqlstate '22023' using message = 'inputs must be at most 100000 bytes of JSON';
    end if;
    if pg_catalog.length(coalesce(message, '')) > 20000 then
        raise sqlstate '22023' using message = 'message must be at most 20000 characters';
    end if;
    bad := salesflow.prompt_test_assertion_problems(assertions);
    if bad is not null then
        raise sqlstate '22023' using
            message = pg_catalog.format('bad assertions: %s', pg_catalog.array_to_string(bad, '; ')),
            hint = 'checks: schema_valid, must_contain, must_not_contain, min_length, max_length, language, compliance';
    end if;
    insert into salesflow.prompt_test_cases as c (
        org_id, prompt_id, name, message, inputs, assertions, source, created_by
    )
    values (
        save_prompt_test_case.org_id, prompt, save_prompt_test_case.case_name, coalesce(save_prompt_test_case.message, ''),
        save_prompt_test_case.inputs, save_prompt_test_case.assertions, save_prompt_test_case.source,
        save_prompt_test_case.created_by
    )
    on conflict (org_id, prompt_id, name) do update
    set message = excluded.message, inputs = excluded.inputs, assertions = excluded.assertions,
        created_by = excluded.created_by, updated_at = pg_catalog.now()
    where c.source = excluded.source
    returning * into saved;
    if saved is null then
        raise sqlstate 'PT409' using
            message = pg_catalog.format('prompt %s already has a %s case named %s', save_prompt_test_case.prompt_name,
                                        case save_prompt_test_case.source when 'custom' then 'shipped' else 'custom' end,
                                        save_prompt_test_case.case_name),
            hint = 'Choose another case name.';
    end if;
    return saved;
end
$$;

comment on function salesflow.save_prompt_test_case(uuid, text, text, text, jsonb, jsonb, text, uuid) is
'Store or replace a test case of a prompt after checking its name, inputs and assertions.';

-- A new run of a prompt's suite against one version (default: the latest), queued.
create or replace function salesflow.create_prompt_test_run(
    org_id uuid, prompt_name text, version integer, requested_by uuid
) returns salesflow.prompt_test_runs
language plpgsql
security invoker
set search_path = ''
as $$
declare
    prompt uuid;
    chosen integer;
    created salesflow.prompt_test_runs;
begin
    select p.id into prompt from salesflow.prompts as p
    where p.org_id = create_prompt_test_run.org_id and p.name = create_prompt_test_run.prompt_name;
    if prompt is null then
        raise sqlstate 'PT404' using message = pg_catalog.format('prompt %s not found', create_prompt_test_run.prompt_name);
    end if;
    select coalesce(create_prompt_test_run.version, max(v.version)) into chosen
    from salesflow.prompt_versions as v
    where v.org_id = create_prompt_test_run.org_id and v.prompt_id = prompt;
    perform from salesflow.prompt_versions as v
    where v.org_id = create_prompt_test_run.org_id and v.prompt_id = prompt and v.version = chosen;
    if not found then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('prompt %s has no version %s', create_prompt_test_run.prompt_name, chosen);
    end if;
    insert into salesflow.prompt_test_runs (org_id, prompt_id, version, requested_by)
    values (create_prompt_test_run.org_id, prompt, chosen, create_prompt_test_run.requested_by)
    returning * into created;
    return created;
end
$$;

comment on function salesflow.create_prompt_test_run(uuid, text, integer, uuid) is
'Queue-side half of a suite run: the run row for one version of a prompt (default: its latest).';

-- The worker's end of a run: counts from the stored results, passed only when every case passed.
create or replace function salesflow.finish_prompt_test_run(org_id uuid, run_id uuid, error text default null)
returns salesflow.prompt_test_runs
language sql
security invoker
set search_path = ''
as $$
    update salesflow.prompt_test_runs as r
    set cases_total = s.total,
        cases_passed = s.passed,
        offline_model = s.offline,
        error = pg_catalog.left(finish_prompt_test_run.error, 2000),
        status = case
            when finish_prompt_test_run.error is not null or s.total = 0 then 'error'
            when s.passed = s.total then 'passed'
            else 'failed'
        end,
        finished_at = pg_catalog.now()
    from (
        select count(*)::integer as total, (count(*) filter (where t.passed))::integer as passed,
               coalesce(bool_or(t.offline_model), false) as offline
        from salesflow.prompt_test_results as t
        where t.org_id = finish_prompt_test_run.org_id and t.run_id = finish_prompt_test_run.run_id
    ) as s
    where r.org_id = finish_prompt_test_run.org_id and r.id = finish_prompt_test_run.run_id
    returning r.*
$$;

comment on function salesflow.finish_prompt_test_run(uuid, uuid, text) is
'Close a suite run: counts from its results; passed only when every case passed, error when none ran.';

-- A run with its results, next to the latest finished run of the version production points at.
create or replace function salesflow.prompt_test_report(org_id uuid, run_id uuid) returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
    with run as (
        select r.*, p.name as prompt_name
        from salesflow.prompt_test_runs as r
        join salesflow.prompts as p on p.org_id = r.org_id and p.id = r.prompt_id
        where r.org_id = prompt_test_report.org_id and r.id = prompt_test_report.run_id
    ),
    production as (
        select pr.*, l.version as production_version
        from run
        join salesflow.prompt_labels as l on l.org_id = run.org_id and l.prompt_id = run.prompt_id
        and l.label = 'production'
        left join lateral (
            select x.* from salesflow.prompt_test_runs as x
            where x.org_id = l.org_id and x.prompt_id = l.prompt_id and x.version = l.version
              and x.finished_at is not null
            order by x.finished_at desc
            limit 1
        ) as pr on true
    )
    select pg_catalog.jsonb_build_object(
        'run_id', run.id, 'prompt', run.prompt_name, 'version', run.version, 'status', run.status,
        'cases_total', run.cases_total, 'cases_passed', run.cases_passed, 'offline_model', run.offline_model,
        'error', run.error, 'created_at', run.created_at, 'finished_at', run.finished_at,
        'results', coalesce((
            select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'case', t.case_name, 'passed', t.passed, 'checks', t.checks, 'output', t.output,
                'request_id', t.request_id, 'offline_model', t.offline_model,
                'production_passed', pt.passed
            ) order by t.case_name)
            from salesflow.prompt_test_results as t
            left join production on true
            left join salesflow.prompt_test_results as pt
                on pt.org_id = t.org_id and pt.run_id = production.id and pt.case_name = t.case_name
            where t.org_id = run.org_id and t.run_id = run.id
        ), '[]'),
        'production', (
            select pg_catalog.jsonb_build_object(
                'version', production.production_version, 'run_id', production.id, 'status', coalesce(production.status, 'none'),
                'cases_total', production.cases_total, 'cases_passed', production.cases_passed
            )
            from production
        )
    )
    from run
$$;

comment on function salesflow.prompt_test_report(uuid, uuid) is
'A suite run with its case results, each next to the same case in production''s latest finished run.';

-- == the API ===================================================================================
create or replace function api.save_prompt_test_case(
    org_id uuid, prompt_name text, case_name text, assertions jsonb, inputs jsonb default '{}', message text default ''
) returns jsonb
language plpgsql
security invoker
set search_path = ''
as $$
declare
    saved salesflow.prompt_test_cases;
begin
    if not save_prompt_test_case.org_id = any(salesflow.my_org_ids('{owner,admin}')) then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('organization %s not found', save_prompt_test_case.org_id),
            hint = 'Owners and admins of an organisation write its prompt test cases.';
    end if;
    saved := salesflow.save_prompt_test_case(
        save_prompt_test_case.org_id, save_prompt_test_case.prompt_name, save_prompt_test_case.case_name,
        save_prompt_test_case.message, save_prompt_test_case.inputs, save_prompt_test_case.assertions, 'custom',
        (select auth.uid())
    );
    return pg_catalog.jsonb_build_object(
        'id', saved.id, 'prompt', save_prompt_test_case.prompt_name, 'name', saved.name, 'message', saved.message,
        'inputs', saved.inputs, 'assertions', saved.assertions, 'source', saved.source, 'updated_at', saved.updated_at
    );
end
$$;
comment on function api.save_prompt_test_case(uuid, text, text, jsonb, jsonb, text) is
'Owners and admins: store or replace a test case of a prompt (its variables as inputs, a user message, and '
'assertions: schema_valid, must_contain, must_not_contain, min_length, max_length, language, compliance).';

create or replace function api.delete_prompt_test_case(org_id uuid, prompt_name text, case_name text)
returns boolean
language sql
security invoker
set search_path = ''
as $$
    with gone as (
        delete from salesflow.prompt_test_cases as c
        using salesflow.prompts as p
        where p.org_id = delete_prompt_test_case.org_id and p.name = delete_prompt_test_case.prompt_name
          and c.org_id = p.org_id and c.prompt_id = p.id and c.name = delete_prompt_test_case.case_name
          and c.source = 'custom'
        returning c.id
    )
    select exists (select from gone)
$$;
comment on function api.delete_prompt_test_case(uuid, text, text) is
'Owners and admins: delete a custom test case of a prompt (shipped cases come back with each run); true if one went.';

create or replace function api.list_prompt_test_cases(org_id uuid, prompt_name text)
returns table (
    id uuid, name text, message text, inputs jsonb, assertions jsonb, source text, updated_at timestamptz
)
language sql
stable
security invoker
set search_path = ''
as $$
    select c.id, c.name, c.message, c.inputs, c.assertions, c.source, c.updated_at
    from salesflow.prompt_test_cases as c
    join salesflow.prompts as p on p.org_id = c.org_id and p.id = c.prompt_id
    where c.org_id = list_prompt_test_cases.org_id and p.name = list_prompt_test_cases.prompt_name
    order by c.name
$$;
comment on function api.list_prompt_test_cases(uuid, text) is
'The test cases of a prompt (shipped ones appear after its first run).';

create or replace function api.request_prompt_test_run(org_id uuid, prompt_name text, version integer default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    run salesflow.prompt_test_runs;
    job bigint;
begin
    if not request_prompt_test_run.org_id = any(salesflow.my_org_ids('{owner,admin}')) then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('organization %s not found', request_prompt_test_run.org_id),
            hint = 'Owners and admins of an organisation run its prompt test suites.';
    end if;
    run := salesflow.create_prompt_test_run(
        request_prompt_test_run.org_id, request_prompt_test_run.prompt_name, request_prompt_test_run.version,
        (select auth.uid())
    );
    job := salesflow.enqueue(
        'test_prompt', pg_catalog.jsonb_build_object('run_id', run.id),
        org_id => request_prompt_test_run.org_id,
        idempotency_key => pg_catalog.format('test_prompt:%s', run.id)
    );
    update salesflow.prompt_test_runs as r set job_id = job
    where r.org_id = run.org_id and r.id = run.id;
    return pg_catalog.jsonb_build_object('run_id', run.id, 'job_id', job, 'version', run.version,
                                         'status', run.status);
end
$$;
comment on function api.request_prompt_test_run(uuid, text, integer) is
'Owners and admins: queue a run of a prompt''s test suite against one version (default: the latest); returns '
'the run and job ids. Runs as security definer, justified: app roles may not write the job queue; it checks '
'the caller is an owner or admin of the organisation before it creates the run and enqueues one job.';

create or replace function api.get_prompt_test_run(org_id uuid, run_id uuid) returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    report jsonb := salesflow.prompt_test_report(get_prompt_test_run.org_id, get_prompt_test_run.run_id);
begin
    if report is null then
        perform salesflow.not_found('prompt test run', get_prompt_test_run.run_id);
    end if;
    return report;
end
$$;
comment on function api.get_prompt_test_run(uuid, uuid) is
'A prompt test run: status, counts, each case''s checks, output and logged call, next to the same case in '
'the latest finished run of the production version.';

create or replace function api.set_prompt_label(
    org_id uuid, prompt_name text, label text, version integer, override_reason text default null
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    moved salesflow.prompt_labels;
    logged salesflow.prompt_label_moves;
begin
    if not set_prompt_label.org_id = any(salesflow.my_org_ids('{owner,admin}')) then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('organization %s not found', set_prompt_label.org_id),
            hint = 'Owners and admins of an organisation move its prompt labels.';
    end if;
    if set_prompt_label.label is null or set_prompt_label.label !~ '^[a-z][a-z0-9_-]{0,39}$' then
        raise sqlstate '22023' using message = 'label must be 1 to 40 characters: a-z, 0-9, _ and -, starting with a letter';
    end if;
    if pg_catalog.length(set_prompt_label.override_reason) > 2000 then
        raise sqlstate '22023' using message = 'override_reason must be at most 2000 characters';
    end if;
    perform from salesflow.prompts as p
    join salesflow.prompt_versions as v on v.org_id = p.org_id and v.prompt_id = p.id
    where p.org_id = set_prompt_label.org_id and p.name = set_prompt_label.prompt_name
      and v.version = set_prompt_label.version;
    if not found then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('prompt %s has no version %s', set_prompt_label.prompt_name,
                                        set_prompt_label.version);
    end if;
    moved := salesflow.move_prompt_label(
        set_prompt_label.org_id, set_prompt_label.prompt_name, set_prompt_label.label, set_prompt_label.version,
        (select auth.uid()), set_prompt_label.override_reason
    );
    select m.* into logged from salesflow.prompt_label_moves as m
    where m.org_id = moved.org_id and m.prompt_id = moved.prompt_id
    order by m.id desc
    limit 1;
    return pg_catalog.jsonb_build_object(
        'label', moved.label, 'version', moved.version, 'from_version', logged.from_version,
        'suite_status', logged.suite_status, 'run_id', logged.run_id, 'override_reason', logged.override_reason,
        'moved_by', logged.moved_by, 'moved_at', logged.moved_at
    );
end
$$;
comment on function api.set_prompt_label(uuid, text, text, integer, text) is
'Owners and admins: move a label of a prompt to one of its versions. Moving production to a version whose '
'latest suite run did not pass (or that has none) is refused with 409 unless override_reason says why; the '
'move, the suite''s status and the reason are logged. Runs as security definer, justified: labels have no '
'write policy for app roles; it checks the caller is an owner or admin and records them as the mover.';

create or replace function api.list_prompt_label_moves(org_id uuid, prompt_name text)
returns table (
    label text, from_version integer, to_version integer, suite_status text, run_id uuid, override_reason text,
    moved_by uuid, moved_at timestamptz
)
language sql
stable
security invoker
set search_path = ''
as $$
    select m.label, m.from_version, m.to_version, m.suite_status, m.run_id, m.override_reason, m.moved_by, m.moved_at
    from salesflow.prompt_label_moves as m
    join salesflow.prompts as p on p.org_id = m.org_id and p.id = m.prompt_id
    where m.org_id = list_prompt_label_moves.org_id and p.name = list_prompt_label_moves.prompt_name
    order by m.moved_at desc, m.id desc
$$;
comment on function api.list_prompt_label_moves(uuid, text) is
'Every label move of a prompt, newest first: versions, the suite''s status then, and any override''s reason and mover.';

-- == row-level security and grants ===============================================================
drop policy if exists prompt_test_cases_select on salesflow.prompt_test_cases;
create policy prompt_test_cases_select on salesflow.prompt_test_cases for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists prompt_test_cases_insert on salesflow.prompt_test_cases;
create policy prompt_test_cases_insert on salesflow.prompt_test_cases for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]) and source = 'custom');
drop policy if exists prompt_test_cases_update on salesflow.prompt_test_cases;
create policy prompt_test_cases_update on salesflow.prompt_test_cases for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]) and source = 'custom')
with check (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]) and source = 'custom');
drop policy if exists prompt_test_cases_delete on salesflow.prompt_test_cases;
create policy prompt_test_cases_delete on salesflow.prompt_test_cases for delete to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]) and source = 'custom');

drop policy if exists prompt_test_runs_select on salesflow.prompt_test_runs;
create policy prompt_test_runs_select on salesflow.prompt_test_runs for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists prompt_test_results_select on salesflow.prompt_test_results;
create policy prompt_test_results_select on salesflow.prompt_test_results for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists prompt_label_moves_select on salesflow.prompt_label_moves;
create policy prompt_label_moves_select on salesflow.prompt_label_moves for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

grant select on salesflow.prompt_test_runs, salesflow.prompt_test_results, salesflow.prompt_label_moves
to authenticated, service_role;
grant select, insert, update, delete on salesflow.prompt_test_cases to authenticated, service_role;

revoke execute on function
salesflow.prompt_test_assertion_problems(jsonb),
salesflow.save_prompt_test_case(uuid, text, text, text, jsonb, jsonb, text, uuid),
salesflow.create_prompt_test_run(uuid, text, integer, uuid),
salesflow.finish_prompt_test_run(uuid, uuid, text),
salesflow.prompt_test_report(uuid, uuid),
api.save_prompt_test_case(uuid, text, text, jsonb, jsonb, text),
api.delete_prompt_test_case(uuid, text, text),
api.list_prompt_test_cases(uuid, text),
api.request_prompt_test_run(uuid, text, integer),
api.get_prompt_test_run(uuid, uuid),
api.set_prompt_label(uuid, text, text, integer, text),
api.list_prompt_label_moves(uuid, text)
from public;
grant execute on function
salesflow.prompt_test_assertion_problems(jsonb),
salesflow.save_prompt_test_case(uuid, text, text, text, jsonb, jsonb, text, uuid),
salesflow.prompt_test_report(uuid, uuid),
api.save_prompt_test_case(uuid, text, text, jsonb, jsonb, text),
api.delete_prompt_test_case(uuid, text, text),
api.list_prompt_test_cases(uuid, text),
api.request_prompt_test_run(uuid, text, integer),
api.get_prompt_test_run(uuid, uuid),
api.set_prompt_label(uuid, text, text, integer, text),
api.list_prompt_label_moves(uuid, text)
to authenticated, service_role;
