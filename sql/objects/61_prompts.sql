-- The prompt registry (DESIGN.md decision 6): immutable versions per prompt name, labels that
-- move between them, declared variables checked before rendering, sticky A/B assignment, and a
-- view comparing versions (in 62_prompt_analytics.sql). The write functions are internal (the
-- gateway's owner connection); clients read through api.list_prompts and api.get_prompt_version.

-- Variable types a version may declare, and the jsonb types each accepts.
create or replace function salesflow.prompt_type_accepts(declared text, value jsonb) returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
    select case prompt_type_accepts.declared
        when 'any' then true
        else pg_catalog.jsonb_typeof(prompt_type_accepts.value) = prompt_type_accepts.declared
    end
$$;

-- A new version of a prompt (the prompt is created on first use). Every {{placeholder}} in the
-- template must be declared in `variables` ({"name": "string"|"number"|"boolean"|"array"|"object"|"any"}).
create or replace function salesflow.create_prompt_version(
    org_id uuid,
    name text,
    template text,
    variables jsonb default '{}',
    model_config jsonb default '{}',
    output_schema jsonb default null,
    created_by uuid default null
) returns salesflow.prompt_versions
language plpgsql
set search_path = ''
as $$
declare
    prompt uuid;
    next_version integer;
    bad text[];
    created salesflow.prompt_versions;
begin
    if variables is null or pg_catalog.jsonb_typeof(variables) <> 'object' then
        raise sqlstate '22023' using message = 'variables must be a JSON object of names to types';
    end if;
    select pg_catalog.array_agg(v.key order by v.key) into bad
    from pg_catalog.jsonb_each(variables) as v
    where v.key !~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$'
       or pg_catalog.jsonb_typeof(v.value) <> 'string'
       or v.value #>> '{}' not in ('string', 'number', 'boolean', 'array', 'object', 'any');
    if bad is not null then
        raise sqlstate '22023' using
            message = pg_catalog.format('bad variable declarations: %s', pg_catalog.array_to_string(bad, ', ')),
            hint = 'names are identifiers; types are string, number, boolean, array, object or any';
    end if;
    select pg_catalog.array_agg(distinct p[1] order by p[1]) into bad
    from pg_catalog.regexp_matches(template, '\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}', 'g') as p
    where not variables ? p[1];
    if bad is not null then
        raise sqlstate '22023' using
            message = pg_catalog.format('template uses undeclared variables: %s', pg_catalog.array_to_string(bad, ', '));
    end if;
    insert into salesflow.prompts (org_id, name)
    values (create_prompt_version.org_id, create_prompt_version.name)
    on conflict do nothing;
    -- the prompt's row lock numbers concurrent versions one after the other
    select p.id into prompt from salesflow.prompts as p
    where p.org_id = create_prompt_version.org_id and p.name = create_prompt_version.name
    for update;
    select coalesce(max(v.version), 0) + 1 into next_version
    from salesflow.prompt_versions as v
    where v.org_id = create_prompt_version.org_id and v.prompt_id = prompt;
    insert into salesflow.prompt_versions (
        org_id, prompt_id, version, template, variables, model_config, output_schema, created_by
    )
    values (
        create_prompt_version.org_id, prompt, next_version, create_prompt_version.template,
        create_prompt_version.variables, coalesce(create_prompt_version.model_config, '{}'),
        create_prompt_version.output_schema, create_prompt_version.created_by
    )
    returning * into created;
    return created;
end
$$;

comment on function salesflow.create_prompt_version(uuid, text, text, jsonb, jsonb, jsonb, uuid) is
'Add an immutable version to a prompt (created on first use); placeholders must be declared variables.';

-- Versions are immutable: what was logged as version n is what was sent. A direct delete is
-- refused too; deleting the prompt or the organisation (a cascade, one trigger level down) is
-- how a version goes.
create or replace function salesflow.refuse_prompt_version_change() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if tg_op = 'DELETE' and pg_catalog.pg_trigger_depth() > 1 then
        return old;
    end if;
    raise sqlstate '55000' using
        message = pg_catalog.format('prompt versions are immutable: cannot %s version %s', pg_catalog.lower(tg_op),
                                    old.version),
        hint = 'Create a new version with salesflow.create_prompt_version and move a label to it.';
end
$$;

create or replace trigger prompt_versions_immutable before update or delete on salesflow.prompt_versions
for each row execute function salesflow.refuse_prompt_version_change();

-- Point a label (production, candidate, ...) at a version; labels move, versions do not. Moving
-- `production` away from the version it points at is gated by the target version's test suite
-- (68_prompt_tests.sql): its latest finished run must have passed, or `override_reason` says why
-- not; otherwise PT409. The first production label of a prompt (its registration) has nothing to
-- protect and is not gated. Every move is kept in salesflow.prompt_label_moves (who, when, why).
create or replace function salesflow.move_prompt_label(
    org_id uuid, name text, label text, version integer, moved_by uuid, override_reason text
) returns salesflow.prompt_labels
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
    prompt uuid;
    current integer;
    run salesflow.prompt_test_runs;
    suite text;
    reason text := nullif(pg_catalog.btrim(move_prompt_label.override_reason), '');
    moved salesflow.prompt_labels;
begin
    select p.id into prompt from salesflow.prompts as p
    where p.org_id = move_prompt_label.org_id and p.name = move_prompt_label.name
    for update;
    if prompt is null then
        raise sqlstate 'PT404' using message = pg_catalog.format('prompt %s not found', move_prompt_label.name);
    end if;
    select l.version into current from salesflow.prompt_labels as l
    where l.org_id = move_prompt_label.org_id and l.prompt_id = prompt and l.label = move_prompt_label.label;
    select r.* into run from salesflow.prompt_test_runs as r
    where r.org_id = move_prompt_label.org_id and r.prompt_id = prompt and r.version = move_prompt_label.version
      and r.finished_at is not null
    order by r.finished_at desc, r.created_at desc
    limit 1;
    suite := coalesce(run.status, 'none');
    if move_prompt_label.label = 'production' and current is not null and current <> move_prompt_label.version
       and suite <> 'passed' and reason is null
       -- a version that does not exist fails on the foreign key below, with its own message
       and exists (select from salesflow.prompt_versions as v
                   where v.org_id = move_prompt_label.org_id and v.prompt_id = prompt
                     and v.version = move_prompt_label.version) then
        raise sqlstate 'PT409' using
            message = pg_catalog.format(
                'version %s of %s has %s', move_prompt_label.version, move_prompt_label.name,
                case suite
                    when 'none' then 'no finished test run'
                    else pg_catalog.format('a %s test run (%s of %s cases passed)', suite, run.cases_passed,
                                           run.cases_total)
                end
            ),
            hint = 'Run its suite (api.request_prompt_test_run) until it passes, or move the label with an '
                   'override_reason, which is logged.';
    end if;
    insert into salesflow.prompt_labels as l (org_id, prompt_id, label, version, updated_by)
    values (move_prompt_label.org_id, prompt, move_prompt_label.label, move_prompt_label.version,
            move_prompt_label.moved_by)
    on conflict (org_id, prompt_id, label) do update
    set version = excluded.version, updated_by = excluded.updated_by, updated_at = pg_catalog.now()
    returning * into moved;
    insert into salesflow.prompt_label_moves (
        org_id, prompt_id, label, from_version, to_version, suite_status, run_id, override_reason, moved_by
    )
    values (
        move_prompt_label.org_id, prompt, move_prompt_label.label, current, move_prompt_label.version, suite, run.id,
        -- a reason given for a move that needed none is kept too: it is what the mover said
        reason, move_prompt_label.moved_by
    );
    return moved;
end
$$;

comment on function salesflow.move_prompt_label(uuid, text, text, integer, uuid, text) is
'Move a label; production only to a version whose latest suite run passed, else with a logged override reason.';

create or replace function salesflow.set_prompt_label(
    org_id uuid, name text, label text, version integer, updated_by uuid default null
) returns salesflow.prompt_labels
language sql
set search_path = ''
as $$
    select salesflow.move_prompt_label(
        set_prompt_label.org_id, set_prompt_label.name, set_prompt_label.label, set_prompt_label.version,
        set_prompt_label.updated_by, null
    )
$$;

comment on function salesflow.set_prompt_label(uuid, text, text, integer, uuid) is
'Move (or create) a label of a prompt to one of its versions; production only to a version that passed its suite.';

-- The version a label points at, or PT404.
create or replace function salesflow.prompt_version_by_label(org_id uuid, name text, label text)
returns salesflow.prompt_versions
language plpgsql
stable
set search_path = ''
as $$
declare
    found_row salesflow.prompt_versions;
begin
    select v.* into found_row
    from salesflow.prompts as p
    join salesflow.prompt_labels as l on l.org_id = p.org_id and l.prompt_id = p.id
    join salesflow.prompt_versions as v on v.org_id = l.org_id and v.prompt_id = l.prompt_id and v.version = l.version
    where p.org_id = prompt_version_by_label.org_id and p.name = prompt_version_by_label.name
      and l.label = prompt_version_by_label.label;
    if found_row is null then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('prompt %s has no label %s', prompt_version_by_label.name,
                                        prompt_version_by_label.label);
    end if;
    return found_row;
end
$$;

-- The template of one version with its variables filled in. Refuses (22023) a missing
-- variable, an undeclared one, or one of the wrong type, before anything reaches a provider.
-- One pass over the template: a value containing "{{x}}" is not expanded again.
create or replace function salesflow.render_prompt_version(
    org_id uuid, name text, version integer, variables jsonb
) returns text
language plpgsql
stable
set search_path = ''
as $$
declare
    v salesflow.prompt_versions;
    bad text[];
    rest text;
    rendered text := '';
    m text[];
    value jsonb;
begin
    select pv.* into v
    from salesflow.prompts as p
    join salesflow.prompt_versions as pv on pv.org_id = p.org_id and pv.prompt_id = p.id
    where p.org_id = render_prompt_version.org_id and p.name = render_prompt_version.name
      and pv.version = render_prompt_version.version;
    if v is null then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('prompt %s has no version %s', render_prompt_version.name,
                                        render_prompt_version.version);
    end if;
    if render_prompt_version.variables is null or pg_catalog.jsonb_typeof(render_prompt_version.variables) <> 'object' then
        raise sqlstate '22023' using message = 'variables must be a JSON object of names to values';
    end if;
    select pg_catalog.array_agg(k order by k) into bad
    from pg_catalog.jsonb_object_keys(render_prompt_version.variables) as k
    where not v.variables ? k;
    if bad is not null then
        raise sqlstate '22023' using
            message = pg_catalog.format('undeclared variables for %s v%s: %s', render_prompt_version.name, v.version,
                                        pg_catalog.array_to_string(bad, ', ')),
            hint = pg_catalog.format('declared: %s', (select pg_catalog.string_agg(k, ', ' order by k)
                                                      from pg_catalog.jsonb_object_keys(v.variables) as k));
    end if;
    select pg_catalog.array_agg(d.key order by d.key) into bad
    from pg_catalog.jsonb_each_text(v.variables) as d
    where not render_prompt_version.variables ? d.key;
    if bad is not null then
        raise sqlstate '22023' using
            message = pg_catalog.format('missing variables for %s: %s', render_prompt_version.name,
                                        pg_catalog.array_to_string(bad, ', '));
    end if;
    select pg_catalog.array_agg(d.key || ' (' || d.value || ')' order by d.key) into bad
    from pg_catalog.jsonb_each_text(v.variables) as d
    where not salesflow.prompt_type_accepts(d.value, render_prompt_version.variables -> d.key);
    if bad is not null then
        raise sqlstate '22023' using
            message = pg_catalog.format('variables of the wrong type for %s: %s', render_prompt_version.name,
                                        pg_catalog.array_to_string(bad, ', '));
    end if;
    rest := v.template;
    loop
        -- the shortest prefix, then one placeholder (dot matches newlines in PostgreSQL's AREs)
        m := pg_catalog.regexp_match(rest, '^(.*?)(\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\})');
        exit when m is null;
        value := render_prompt_version.variables -> m[3];
        rendered := rendered || m[1]
            || case pg_catalog.jsonb_typeof(value) when 'string' then value #>> '{}' else value::text end;
        rest := pg_catalog.substr(rest, pg_catalog.length(m[1]) + pg_catalog.length(m[2]) + 1);
    end loop;
    return rendered || rest;
end
$$;

comment on function salesflow.render_prompt_version(uuid, text, integer, jsonb) is
'Render one version of a prompt; refuses missing, undeclared or mistyped variables with 22023.';

-- The version a label points at, rendered.
create or replace function salesflow.render_prompt(
    org_id uuid, name text, label text, variables jsonb
) returns text
language sql
stable
set search_path = ''
as $$
    select salesflow.render_prompt_version(
        render_prompt.org_id, render_prompt.name,
        (salesflow.prompt_version_by_label(render_prompt.org_id, render_prompt.name, render_prompt.label)).version,
        render_prompt.variables
    )
$$;

comment on function salesflow.render_prompt(uuid, text, text, jsonb) is
'Render the version a label points at; refuses missing, undeclared or mistyped variables with 22023.';

-- Split a prompt's traffic between labels by weight; stops the running experiment, if any.
create or replace function salesflow.start_prompt_experiment(org_id uuid, name text, weights jsonb)
returns salesflow.prompt_experiments
language plpgsql
set search_path = ''
as $$
declare
    prompt uuid;
    bad text[];
    started salesflow.prompt_experiments;
begin
    select p.id into prompt from salesflow.prompts as p
    where p.org_id = start_prompt_experiment.org_id and p.name = start_prompt_experiment.name
    for update;
    if prompt is null then
        raise sqlstate 'PT404' using message = pg_catalog.format('prompt %s not found', start_prompt_experiment.name);
    end if;
    if weights is null or pg_catalog.jsonb_typeof(weights) <> 'object' or weights = '{}' then
        raise sqlstate '22023' using message = 'weights must be a JSON object of labels to positive integers';
    end if;
    select pg_catalog.array_agg(w.key order by w.key) into bad
    from pg_catalog.jsonb_each(weights) as w
    cross join lateral (
        select case when pg_catalog.jsonb_typeof(w.value) = 'number' then w.value::numeric end as weight
    ) as n
    where coalesce(n.weight, 0) <= 0 or n.weight <> pg_catalog.trunc(n.weight)
       or not exists (select from salesflow.prompt_labels as l
                      where l.org_id = start_prompt_experiment.org_id and l.prompt_id = prompt and l.label = w.key);
    if bad is not null then
        raise sqlstate '22023' using
            message = pg_catalog.format('bad experiment arms: %s', pg_catalog.array_to_string(bad, ', ')),
            hint = 'each arm is an existing label with a positive integer weight';
    end if;
    update salesflow.prompt_experiments as e set status = 'stopped', stopped_at = pg_catalog.now()
    where e.org_id = start_prompt_experiment.org_id and e.prompt_id = prompt and e.status = 'active';
    insert into salesflow.prompt_experiments (org_id, prompt_id, weights)
    values (start_prompt_experiment.org_id, prompt, weights)
    returning * into started;
    return started;
end
$$;

comment on function salesflow.start_prompt_experiment(uuid, text, jsonb) is
'Start an A/B experiment splitting a prompt''s traffic between labels by integer weight.';

-- Which version a subject (a lead, or a user) gets: with a running experiment, the label whose
-- weight band holds hash(experiment id, subject) mod total weight, so the same subject always gets
-- the same arm (and a new experiment reshuffles); without one, the production label.
create or replace function salesflow.assign_prompt_version(
    org_id uuid, name text, subject_id text,
    out version integer, out label text, out experiment_id uuid
)
language plpgsql
stable
set search_path = ''
as $$
declare
    e salesflow.prompt_experiments;
    total bigint;
    bucket bigint;
begin
    select x.* into e
    from salesflow.prompts as p
    join salesflow.prompt_experiments as x on x.org_id = p.org_id and x.prompt_id = p.id
    where p.org_id = assign_prompt_version.org_id and p.name = assign_prompt_version.name and x.status = 'active';
    if e.id is null then
        label := 'production';
    else
        select sum(w.value::bigint) into total from pg_catalog.jsonb_each_text(e.weights) as w;
        bucket := pg_catalog.hashtextextended(e.id::text || ':' || assign_prompt_version.subject_id, 0);
        bucket := ((bucket % total) + total) % total;
        -- arms in label order, each owning a band of its weight's width
        select a.key into label
        from (
            select w.key, sum(w.value::bigint) over (order by w.key) as upto
            from pg_catalog.jsonb_each_text(e.weights) as w
        ) as a
        where a.upto > bucket
        order by a.upto
        limit 1;
        experiment_id := e.id;
    end if;
    version := (salesflow.prompt_version_by_label(assign_prompt_version.org_id, assign_prompt_version.name,
                                                  label)).version;
end
$$;

comment on function salesflow.assign_prompt_version(uuid, text, text) is
'Sticky A/B assignment: the version, label and experiment a subject gets for a prompt.';

-- Clients: the prompts of an organisation with their labels, and one version's content.
create or replace function api.list_prompts(org_id uuid)
returns table (
    prompt_id uuid, name text, description text, latest_version integer, labels jsonb, created_at timestamptz
)
language sql
stable
set search_path = ''
as $$
    select
        p.id,
        p.name,
        p.description,
        (select max(v.version) from salesflow.prompt_versions as v where v.org_id = p.org_id and v.prompt_id = p.id),
        coalesce(
            (select pg_catalog.jsonb_object_agg(l.label, l.version) from salesflow.prompt_labels as l
             where l.org_id = p.org_id and l.prompt_id = p.id),
            '{}'
        ),
        p.created_at
    from salesflow.prompts as p
    where p.org_id = list_prompts.org_id
    order by p.name
$$;
comment on function api.list_prompts(uuid) is
'Prompts of an organisation: name, latest version and where each label (production, candidate, ...) points.';

create or replace function api.get_prompt_version(
    org_id uuid, prompt_name text, label text default 'production', version integer default null
)
returns api.prompt_versions
language plpgsql
stable
set search_path = ''
as $$
declare
    found_row salesflow.prompt_versions;
begin
    select v.* into found_row
    from salesflow.prompts as p
    join salesflow.prompt_versions as v on v.org_id = p.org_id and v.prompt_id = p.id
    where p.org_id = get_prompt_version.org_id and p.name = get_prompt_version.prompt_name
      and v.version = coalesce(
          get_prompt_version.version,
          (select l.version from salesflow.prompt_labels as l
           where l.org_id = p.org_id and l.prompt_id = p.id and l.label = get_prompt_version.label)
      );
    if found_row is null then
        raise sqlstate 'PT404' using
            message = pg_catalog.format('prompt %s (%s) not found', get_prompt_version.prompt_name,
                                        coalesce('version ' || get_prompt_version.version, 'label ' || get_prompt_version.label)),
            hint = 'The prompt or label does not exist or belongs to an organisation you are not a member of.';
    end if;
    return salesflow.api_prompt_version(found_row);
end
$$;
comment on function api.get_prompt_version(uuid, text, text, integer) is
'One prompt version (template, declared variables, model config, output schema): by version, else by label.';

-- Row-level security: every member reads the organisation's prompts; only the gateway writes them.
alter table salesflow.prompts enable row level security;
alter table salesflow.prompt_versions enable row level security;
alter table salesflow.prompt_labels enable row level security;
alter table salesflow.prompt_experiments enable row level security;

drop policy if exists prompts_select on salesflow.prompts;
create policy prompts_select on salesflow.prompts for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

drop policy if exists prompt_versions_select on salesflow.prompt_versions;
create policy prompt_versions_select on salesflow.prompt_versions for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

drop policy if exists prompt_labels_select on salesflow.prompt_labels;
create policy prompt_labels_select on salesflow.prompt_labels for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

drop policy if exists prompt_experiments_select on salesflow.prompt_experiments;
create policy prompt_experiments_select on salesflow.prompt_experiments for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));

grant select on salesflow.prompts, salesflow.prompt_versions, salesflow.prompt_labels, salesflow.prompt_experiments
to authenticated, service_role;
