-- RPCs: activities (calls, meetings, emails, notes, tasks) logged against a lead, a deal or both.

create or replace function api.create_activity(
    org_id uuid,
    kind salesflow.activity_kind,
    lead_id uuid default null,
    deal_id uuid default null,
    direction salesflow.direction default null,
    subject text default null,
    body text default null,
    outcome text default null,
    occurred_at timestamptz default now(),
    due_at timestamptz default null,
    completed_at timestamptz default null,
    owner_id uuid default auth.uid()
)
returns api.activities
language sql
set search_path = ''
as $$
    insert into salesflow.activities (
        org_id, kind, lead_id, deal_id, direction, subject, body, outcome, occurred_at, due_at, completed_at,
        owner_id
    )
    values (
        create_activity.org_id,
        create_activity.kind,
        create_activity.lead_id,
        create_activity.deal_id,
        create_activity.direction,
        create_activity.subject,
        create_activity.body,
        create_activity.outcome,
        create_activity.occurred_at,
        create_activity.due_at,
        create_activity.completed_at,
        create_activity.owner_id
    )
    returning salesflow.api_activity(activities)
$$;
comment on function api.create_activity(
    uuid, salesflow.activity_kind, uuid, uuid, salesflow.direction, text, text, text,
    timestamptz, timestamptz, timestamptz, uuid
) is
'Log an activity against a lead, a deal or both. Calls, meetings and emails need a direction; only tasks '
'have a due date. Owner defaults to the caller; the lead''s last_activity_at follows.';

-- One activity by id, as the caller sees it.
create or replace function salesflow.visible_activity(org_id uuid, activity_id uuid)
returns salesflow.activities
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    found_row salesflow.activities;
begin
    select a.* into found_row from salesflow.activities as a
    where a.org_id = visible_activity.org_id and a.id = visible_activity.activity_id;
    if found_row is null then
        perform salesflow.not_found('activity', visible_activity.activity_id);
    end if;
    return found_row;
end
$$;
comment on function salesflow.visible_activity(uuid, uuid) is
'The activity row as the caller sees it (RLS), or PT404; the RPCs of this file start from it.';
revoke execute on function salesflow.visible_activity(uuid, uuid) from public;
grant execute on function salesflow.visible_activity(uuid, uuid) to authenticated, service_role;

create or replace function api.get_activity(org_id uuid, activity_id uuid)
returns api.activities
language sql
stable
security invoker
set search_path = ''
as $$
    select salesflow.api_activity(salesflow.visible_activity(get_activity.org_id, get_activity.activity_id))
$$;
comment on function api.get_activity(uuid, uuid) is
'One activity by id; 404 when it does not exist or is not visible to the caller.';

create or replace function api.list_activities(
    org_id uuid,
    lead_id uuid default null,
    deal_id uuid default null,
    kind salesflow.activity_kind default null,
    page_size integer default 50,
    before timestamptz default null,
    before_id uuid default null
)
returns setof api.activities
language sql
stable
set search_path = ''
as $$
    select salesflow.api_activity(a) from salesflow.activities as a
    where a.org_id = list_activities.org_id
      and (list_activities.lead_id is null or a.lead_id = list_activities.lead_id)
      and (list_activities.deal_id is null or a.deal_id = list_activities.deal_id)
      and (list_activities.kind is null or a.kind = list_activities.kind)
      and (
          list_activities.before is null
          or (a.occurred_at, a.id)
          < (list_activities.before, coalesce(list_activities.before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
      )
    order by a.occurred_at desc, a.id desc
    limit salesflow.check_page_size(list_activities.page_size)
$$;
comment on function api.list_activities(uuid, uuid, uuid, salesflow.activity_kind, integer, timestamptz, uuid) is
'Activities of an organisation, most recent first, filtered by lead, deal or kind. '
'Page with before = occurred_at and before_id = id of the last row of the previous page.';

create or replace function api.update_activity(org_id uuid, activity_id uuid, changes jsonb)
returns api.activities
language plpgsql
set search_path = ''
as $$
declare
    r salesflow.activities;
begin
    perform salesflow.check_changes(update_activity.changes, array[
        'kind', 'lead_id', 'deal_id', 'direction', 'subject', 'body', 'outcome', 'occurred_at', 'due_at',
        'completed_at', 'owner_id'
    ]);
    r := salesflow.visible_activity(update_activity.org_id, update_activity.activity_id);
    r := pg_catalog.jsonb_populate_record(r, update_activity.changes);
    update salesflow.activities as a set
        kind = r.kind,
        lead_id = r.lead_id,
        deal_id = r.deal_id,
        direction = r.direction,
        subject = r.subject,
        body = r.body,
        outcome = r.outcome,
        occurred_at = r.occurred_at,
        due_at = r.due_at,
        completed_at = r.completed_at,
        owner_id = r.owner_id
    where a.org_id = update_activity.org_id and a.id = update_activity.activity_id
    returning a.* into r;
    if not found then
        raise sqlstate '42501' using
            message = pg_catalog.format('you may not change activity %s', update_activity.activity_id),
            hint = 'Reps change the activities they own; owners and admins change any.';
    end if;
    return salesflow.api_activity(r);
end
$$;
comment on function api.update_activity(uuid, uuid, jsonb) is
'Change an activity (complete a task with {"completed_at": ...}): changes is an object of field names to new '
'values; fields not named keep their values.';

create or replace function api.delete_activity(org_id uuid, activity_id uuid)
returns api.activities
language plpgsql
set search_path = ''
as $$
declare
    r salesflow.activities;
begin
    perform api.get_activity(delete_activity.org_id, delete_activity.activity_id);
    delete from salesflow.activities as a
    where a.org_id = delete_activity.org_id and a.id = delete_activity.activity_id
    returning a.* into r;
    if not found then
        raise sqlstate '42501' using
            message = pg_catalog.format('you may not delete activity %s', delete_activity.activity_id),
            hint = 'Reps delete the activities they own; owners and admins delete any.';
    end if;
    return salesflow.api_activity(r);
end
$$;
comment on function api.delete_activity(uuid, uuid) is
'Delete an activity. The lead''s last_activity_at is left as it was.';
