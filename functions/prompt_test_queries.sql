-- Queries of the prompt test suites (functions/prompt_tests.py), on the worker's connection.

-- name: prompt_test_run
select r.id, r.org_id, r.version, r.status, p.name as prompt_name, v.output_schema
from salesflow.prompt_test_runs as r
join salesflow.prompts as p on p.org_id = r.org_id and p.id = r.prompt_id
join salesflow.prompt_versions as v on v.org_id = r.org_id and v.prompt_id = r.prompt_id and v.version = r.version
where r.org_id = %(org_id)s and r.id = %(run_id)s;

-- name: start_prompt_test_run
update salesflow.prompt_test_runs as r set status = 'running'
where r.org_id = %(org_id)s and r.id = %(run_id)s and r.status in ('queued', 'running')
returning r.id;

-- name: sync_shipped_prompt_test_case
select (salesflow.save_prompt_test_case(
    %(org_id)s, %(prompt_name)s, %(case_name)s, %(message)s, %(inputs)s, %(assertions)s, 'shipped'
)).id;

-- name: prompt_test_cases_of_run
select c.id, c.name, c.message, c.inputs, c.assertions
from salesflow.prompt_test_runs as r
join salesflow.prompt_test_cases as c on c.org_id = r.org_id and c.prompt_id = r.prompt_id
where r.org_id = %(org_id)s and r.id = %(run_id)s
order by c.name;

-- name: store_prompt_test_result
-- keyed by run and case: a redelivered job replaces its own results, it does not add to them
insert into salesflow.prompt_test_results (
    org_id, run_id, case_id, case_name, passed, checks, output, request_id, offline_model
)
values (
    %(org_id)s, %(run_id)s, %(case_id)s, %(case_name)s, %(passed)s, %(checks)s, %(output)s, %(request_id)s::bigint,
    %(offline_model)s
)
on conflict (org_id, run_id, case_name) do update
set case_id = excluded.case_id, passed = excluded.passed, checks = excluded.checks, output = excluded.output,
    request_id = excluded.request_id, offline_model = excluded.offline_model, created_at = now();

-- name: finish_prompt_test_run
select (salesflow.finish_prompt_test_run(%(org_id)s, %(run_id)s, %(error)s::text)).status;

-- name: prompt_test_report
select salesflow.prompt_test_report(%(org_id)s, %(run_id)s) as report;
