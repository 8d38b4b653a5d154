-- Playbooks (ordered steps with timing and channel) and their executions; finishing a step
-- recommends the next one through ai_recommendations. Success patterns are mined by the
-- mine_success_patterns job (functions/handlers/mine_success_patterns.py) and read here.

alter table salesflow.playbooks enable row level security;
alter table salesflow.playbook_steps enable row level security;
alter table salesflow.playbook_executions enable row level security;
alter table salesflow.playbook_execution_steps enable row level security;
alter table salesflow.success_patterns enable row level security;

drop policy if exists playbooks_select on salesflow.playbooks;
create policy playbooks_select on salesflow.playbooks for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists playbooks_insert on salesflow.playbooks;
create policy playbooks_insert on salesflow.playbooks for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));
drop policy if exists playbooks_update on salesflow.playbooks;
create policy playbooks_update on salesflow.playbooks for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

drop policy if exists playbook_steps_select on salesflow.playbook_steps;
create policy playbook_steps_select on salesflow.playbook_steps for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists playbook_steps_insert on salesflow.playbook_steps;
create policy playbook_steps_insert on salesflow.playbook_steps for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin}'))::uuid[]));

drop policy if exists playbook_executions_select on salesflow.playbook_executions;
create policy playbook_executions_select on salesflow.playbook_executions for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists playbook_executions_insert on salesflow.playbook_executions;
create policy playbook_executions_insert on salesflow.playbook_executions for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));
drop policy if exists playbook_executions_update on salesflow.playbook_executions;
create policy playbook_executions_update on salesflow.playbook_executions for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

drop policy if exists playbook_execution_steps_select on salesflow.playbook_execution_steps;
create policy playbook_execution_steps_select on salesflow.playbook_execution_steps for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists playbook_execution_steps_insert on salesflow.playbook_execution_steps;
create policy playbook_execution_steps_insert on salesflow.playbook_execution_steps for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));
drop policy if exists playbook_execution_steps_update on salesflow.playbook_execution_steps;
create policy playbook_execution_steps_update on salesflow.playbook_execution_steps for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));

drop policy if exists success_patterns_select on salesflow.success_patterns;
create policy success_patterns_select on salesflow.success_patterns for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

revoke all on salesflow.playbooks, salesflow.playbook_steps, salesflow.playbook_executions,
salesflow.playbook_execution_steps, salesflow.success_patterns from anon, authenticated, service_role;
grant select, insert, update on salesflow.playbooks, salesflow.playbook_executions,
salesflow.playbook_execution_steps to authenticated, service_role;
grant select, insert on salesflow.playbook_steps to authenticated, service_role;
grant select on salesflow.success_patterns to authenticated, service_role;

-- Recommend step `pos` of an execution (due at its due_at), through the recommendation table.
create or replace function salesflow.recommend_playbook_step(execution_id uuid, org_id uuid, pos integer, at timestamptz)
returns void
language sql
volatile
security invoker
set search_path = ''
as $$
    insert into salesflow.ai_recommendations (
        org_id, lead_id, assignee_id, action_type, reason_key, reason, evidence, base_priority, half_life,
        offered_at, expires_at, due_at, source, playbook_execution_id, segment, stage_at_fire, status_changed_at,
        created_at
    )
    select e.org_id, e.lead_id, coalesce(e.assignee_id, l.owner_id), s.action_type,
           'playbook:' || e.id || ':' || s.position,
           pg_catalog.left(pg_catalog.format('Playbook "%s", step %s of %s: %s%s', p.name, s.position,
               (select count(*) from salesflow.playbook_steps as c where c.org_id = p.org_id and c.playbook_id = p.id),
               s.title, coalesce(' (' || s.channel || ')', '')), 1000),
           pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('table', 'playbook_executions', 'id', e.id,
                                                                     'position', s.position)),
           70, '3 days', greatest(at, es.due_at), greatest(at, es.due_at) + interval '14 days', es.due_at, 'playbook',
           e.id, salesflow.lead_segment(l.attributes, l.source), l.lifecycle_stage, at, at
    from salesflow.playbook_executions as e
    join salesflow.playbooks as p on p.org_id = e.org_id and p.id = e.playbook_id
    join salesflow.playbook_steps as s on s.org_id = e.org_id and s.playbook_id = e.playbook_id
                                      and s.position = recommend_playbook_step.pos
    join salesflow.playbook_execution_steps as es on es.org_id = e.org_id and es.execution_id = e.id
                                                 and es.position = s.position
    join salesflow.leads as l on l.org_id = e.org_id and l.id = e.lead_id
    where e.org_id = recommend_playbook_step.org_id and e.id = recommend_playbook_step.execution_id
    on conflict (org_id, (coalesce(lead_id, deal_id)), action_type, reason_key)
    where status in ('open', 'snoozed', 'accepted') do nothing
$$;

-- Finish the current step of an execution (done or skipped), close its recommendation, and
-- recommend the next step (its due time counted from now), or complete the execution.
create or replace function salesflow.advance_playbook(
    org_id uuid, execution_id uuid, outcome salesflow.playbook_step_status, at timestamptz
) returns salesflow.playbook_executions
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    e salesflow.playbook_executions;
    next_pos integer;
begin
    if outcome is null or outcome = 'pending' then
        raise sqlstate '22023' using message = 'outcome must be done or skipped';
    end if;
    select * into e from salesflow.playbook_executions as x
    where x.org_id = advance_playbook.org_id and x.id = advance_playbook.execution_id for update;
    if e is null then
        perform salesflow.not_found('playbook execution', advance_playbook.execution_id);
    end if;
    if e.status <> 'active' then
        raise sqlstate '22023' using message = pg_catalog.format('the playbook execution is %s', e.status);
    end if;
    update salesflow.playbook_execution_steps as s
    set status = advance_playbook.outcome, finished_at = at, finished_by = (select auth.uid())
    where s.org_id = e.org_id and s.execution_id = e.id and s.position = e.current_position and s.status = 'pending';
    update salesflow.ai_recommendations as r
    set status = case advance_playbook.outcome when 'done' then 'done' else 'dismissed' end::salesflow.recommendation_status,
        status_changed_at = at, status_changed_by = (select auth.uid()), snoozed_until = null
    where r.org_id = e.org_id and r.lead_id = e.lead_id and r.reason_key = 'playbook:' || e.id || ':' || e.current_position
      and r.status in ('open', 'snoozed', 'accepted');
    select min(s.position) into next_pos from salesflow.playbook_execution_steps as s
    where s.org_id = e.org_id and s.execution_id = e.id and s.position > e.current_position;
    if next_pos is null then
        update salesflow.playbook_executions as x set status = 'completed', current_position = null, finished_at = at
        where x.org_id = e.org_id and x.id = e.id returning x.* into e;
    else
        -- the next step is due `wait` after this one finished
        update salesflow.playbook_execution_steps as s
        set due_at = at + (select st.wait from salesflow.playbook_steps as st
                           where st.org_id = e.org_id and st.playbook_id = e.playbook_id and st.position = next_pos)
        where s.org_id = e.org_id and s.execution_id = e.id and s.position = next_pos;
        update salesflow.playbook_executions as x set current_position = next_pos
        where x.org_id = e.org_id and x.id = e.id returning x.* into e;
        perform salesflow.recommend_playbook_step(e.id, e.org_id, next_pos, at);
    end if;
    return e;
end
$$;

-- A reaction done / dismissed on a playbook step's recommendation finishes that step.
create or replace function salesflow.finish_playbook_step_of(
    r salesflow.ai_recommendations, outcome text, at timestamptz
) returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
    if (r).playbook_execution_id is not null and exists (
        select from salesflow.playbook_executions as e
        where e.org_id = (r).org_id and e.id = (r).playbook_execution_id and e.status = 'active'
          and (r).reason_key = 'playbook:' || e.id || ':' || e.current_position
    ) then
        perform salesflow.advance_playbook((r).org_id, (r).playbook_execution_id,
                                           outcome::salesflow.playbook_step_status, at);
    end if;
end
$$;

create or replace function api.create_playbook(org_id uuid, name text, steps jsonb, description text default null)
returns table (playbook_id uuid, playbook_name text, step_count integer)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
    pid uuid;
    n integer;
begin
    if steps is null or pg_catalog.jsonb_typeof(steps) <> 'array' or pg_catalog.jsonb_array_length(steps) not between 1 and 100 then
        raise sqlstate '22023' using message = 'steps must be an array of 1 to 100 steps',
            hint = '[{"action_type": "call", "title": "Intro call", "channel": "phone", "wait_days": 0}, ...]';
    end if;
    if not create_playbook.org_id = any(salesflow.my_org_ids('{owner,admin}')) then
        raise sqlstate '42501' using message = 'only owners and admins create playbooks';
    end if;
    begin
        insert into salesflow.playbooks as p (org_id, name, description, created_by)
        values (create_playbook.org_id, pg_catalog.btrim(create_playbook.name), create_playbook.description,
                (select auth.uid()))
        returning p.id into pid;
        insert into salesflow.playbook_steps (org_id, playbook_id, position, action_type, channel, title, wait)
        select create_playbook.org_id, pid, x.n, (x.s ->> 'action_type')::salesflow.recommendation_action,
               (x.s ->> 'channel')::salesflow.channel, pg_catalog.btrim(x.s ->> 'title'),
               pg_catalog.make_interval(days => coalesce((x.s ->> 'wait_days')::integer, 0))
        from pg_catalog.jsonb_array_elements(create_playbook.steps) with ordinality as x (s, n);
    exception
        when check_violation or not_null_violation or invalid_text_representation or numeric_value_out_of_range then
            raise sqlstate '22023' using message = pg_catalog.format('invalid playbook: %s', sqlerrm),
                hint = 'each step needs action_type and title; channel and wait_days (>= 0) are optional';
    end;
    get diagnostics n = row_count;
    return query select pid, pg_catalog.btrim(create_playbook.name), n;
end
$$;
comment on function api.create_playbook(uuid, text, jsonb, text) is
'Create a playbook from ordered steps [{"action_type", "title", "channel"?, "wait_days"?}] (owners, admins).';

create or replace function api.start_playbook(
    org_id uuid, playbook_id uuid, lead_id uuid, assignee_id uuid default null, as_of timestamptz default null
)
returns table (execution_id uuid, current_position integer, status text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
    at timestamptz := coalesce(start_playbook.as_of, pg_catalog.now());
    e salesflow.playbook_executions;
begin
    perform from salesflow.playbooks as p
    where p.org_id = start_playbook.org_id and p.id = start_playbook.playbook_id and p.active;
    if not found then
        perform salesflow.not_found('playbook', start_playbook.playbook_id);
    end if;
    insert into salesflow.playbook_executions as x (org_id, playbook_id, lead_id, assignee_id, current_position, started_at)
    values (start_playbook.org_id, start_playbook.playbook_id, start_playbook.lead_id, start_playbook.assignee_id, 1, at)
    returning x.* into e;
    insert into salesflow.playbook_execution_steps (org_id, execution_id, position, due_at)
    select s.org_id, e.id, s.position, case when s.position = 1 then at + s.wait end
    from salesflow.playbook_steps as s
    where s.org_id = e.org_id and s.playbook_id = e.playbook_id;
    perform salesflow.recommend_playbook_step(e.id, e.org_id, 1, at);
    return query select e.id, e.current_position, e.status;
exception
    when unique_violation then
        raise sqlstate '22023' using message = 'this lead is already running this playbook';
end
$$;
comment on function api.start_playbook(uuid, uuid, uuid, uuid, timestamptz) is
'Put a lead on a playbook; its first step becomes a recommendation for the assignee (default: the lead''s owner).';

create or replace function api.finish_playbook_step(
    org_id uuid, execution_id uuid, step_status salesflow.playbook_step_status default 'done',
    as_of timestamptz default null
)
returns table (execution uuid, current_position integer, status text)
language sql
volatile
security invoker
set search_path = ''
as $$
    select e.id, e.current_position, e.status
    from salesflow.advance_playbook(finish_playbook_step.org_id, finish_playbook_step.execution_id,
                                    finish_playbook_step.step_status,
                                    coalesce(finish_playbook_step.as_of, pg_catalog.now())) as e
$$;
comment on function api.finish_playbook_step(uuid, uuid, salesflow.playbook_step_status, timestamptz) is
'Finish the current step of a playbook execution (done or skipped): the next step is recommended, or the execution completes.';

create or replace function api.get_playbook_execution(org_id uuid, execution_id uuid, as_of timestamptz default null)
returns table (
    step integer, title text, action_type salesflow.recommendation_action, channel salesflow.channel,
    status text, due_at timestamptz, finished_at timestamptz
)
language sql
stable
security invoker
set search_path = ''
as $$
    select s.position, st.title, st.action_type, st.channel,
           case when s.status = 'pending' and s.due_at < coalesce(get_playbook_execution.as_of, pg_catalog.now())
                then 'overdue' else s.status::text end,
           s.due_at, s.finished_at
    from salesflow.playbook_execution_steps as s
    join salesflow.playbook_executions as e on e.org_id = s.org_id and e.id = s.execution_id
    join salesflow.playbook_steps as st on st.org_id = e.org_id and st.playbook_id = e.playbook_id and st.position = s.position
    where s.org_id = get_playbook_execution.org_id and s.execution_id = get_playbook_execution.execution_id
    order by s.position
$$;
comment on function api.get_playbook_execution(uuid, uuid, timestamptz) is
'The steps of a playbook execution: pending, overdue (pending past due), done or skipped.';

create or replace function api.list_success_patterns(org_id uuid, outcome text default null, page_size integer default 50)
returns table (
    pattern_outcome text, pattern_key text, description text, support real, confidence real, lift real, cases integer,
    successes integer, median_days_to_outcome real, mined_at timestamptz
)
language sql
stable
security invoker
set search_path = ''
as $$
    select p.outcome, p.pattern_key, p.description, p.support, p.confidence, p.lift, p.cases, p.successes,
           p.median_days_to_outcome, p.mined_at
    from salesflow.success_patterns as p
    where p.org_id = list_success_patterns.org_id
      and (list_success_patterns.outcome is null or p.outcome = list_success_patterns.outcome)
    order by p.lift desc, p.support desc, p.pattern_key
    limit salesflow.check_page_size(list_success_patterns.page_size)
$$;
comment on function api.list_success_patterns(uuid, text, integer) is
'Mined success patterns (deal_won, lead_converted) by lift: support, confidence and lift against the base rate.';

-- A playbook proposed from a mined pattern: its outbound touches become steps, in order (a pair
-- pattern gives two steps, two days apart). Inbound touches are the lead's, not steps; timing
-- patterns have no steps. Owners and admins; the playbook names the pattern it came from.
create or replace function api.propose_playbook_from_pattern(
    org_id uuid, pattern_outcome text, pattern_key text, name text default null
)
returns table (playbook_id uuid, playbook_name text, step_count integer)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
    pattern salesflow.success_patterns;
    steps jsonb;
    created record;
begin
    select * into pattern from salesflow.success_patterns as p
    where p.org_id = propose_playbook_from_pattern.org_id and p.outcome = propose_playbook_from_pattern.pattern_outcome
      and p.pattern_key = propose_playbook_from_pattern.pattern_key;
    if pattern is null then
        raise sqlstate 'PT404' using message = pg_catalog.format('pattern %L not found', propose_playbook_from_pattern.pattern_key);
    end if;
    select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'action_type', case t.kind when 'call' then 'call' when 'phone' then 'call' when 'meeting' then 'meeting'
                                         when 'whatsapp' then 'whatsapp' when 'sms' then 'whatsapp' when 'email' then 'email'
                                         else 'send_content' end,
               'channel', case t.kind when 'call' then 'phone' when 'meeting' then null else t.kind end,
               'title', pg_catalog.initcap(t.kind) || ' (from pattern ' || pattern.pattern_key || ')',
               'wait_days', case when t.n = 1 then 0 else 2 end
           ) order by t.n)
    into steps
    from (
        select pg_catalog.split_part(x.token, ':', 1) as kind, x.n
        from pg_catalog.regexp_split_to_table(
                 pg_catalog.regexp_replace(pattern.pattern_key, '^(has|seq):', ''), ' -> ') with ordinality as x (token, n)
        where pattern.pattern_key ~ '^(has|seq):' and x.token like '%:outbound'
          and pg_catalog.split_part(x.token, ':', 1) not in ('note', 'task')
    ) as t;
    if steps is null then
        raise sqlstate '22023' using
            message = pg_catalog.format('pattern %L has no outbound touches to turn into steps', pattern.pattern_key);
    end if;
    select * into created from api.create_playbook(
        propose_playbook_from_pattern.org_id,
        coalesce(propose_playbook_from_pattern.name, pg_catalog.left('From pattern: ' || pattern.description, 200)),
        steps, pg_catalog.format('Proposed from %s (lift %s, support %s)', pattern.pattern_key,
                                 pg_catalog.round(pattern.lift::numeric, 2), pg_catalog.round(pattern.support::numeric, 3))
    ) as c;
    update salesflow.playbooks as p set pattern_id = pattern.id
    where p.org_id = propose_playbook_from_pattern.org_id and p.id = created.playbook_id;
    return query select created.playbook_id, created.playbook_name, created.step_count;
end
$$;
comment on function api.propose_playbook_from_pattern(uuid, text, text, text) is
'Propose a playbook from a mined success pattern: its outbound touches become ordered steps (owners, admins).';

revoke execute on function
api.propose_playbook_from_pattern(uuid, text, text, text),
api.create_playbook(uuid, text, jsonb, text),
api.start_playbook(uuid, uuid, uuid, uuid, timestamptz),
api.finish_playbook_step(uuid, uuid, salesflow.playbook_step_status, timestamptz),
api.get_playbook_execution(uuid, uuid, timestamptz),
api.list_success_patterns(uuid, text, integer)
from public;
grant execute on function
api.propose_playbook_from_pattern(uuid, text, text, text),
api.create_playbook(uuid, text, jsonb, text),
api.start_playbook(uuid, uuid, uuid, uuid, timestamptz),
api.finish_playbook_step(uuid, uuid, salesflow.playbook_step_status, timestamptz),
api.get_playbook_execution(uuid, uuid, timestamptz),
api.list_success_patterns(uuid, text, integer),
salesflow.recommend_playbook_step(uuid, uuid, integer, timestamptz),
salesflow.advance_playbook(uuid, uuid, salesflow.playbook_step_status, timestamptz),
salesflow.finish_playbook_step_of(salesflow.ai_recommendations, text, timestamptz)
to authenticated, service_role;

-- mining once a day at 02:41 UTC
select salesflow.schedule_job('mine_success_patterns', 'mine_success_patterns', cron => '41 2 * * *');
