-- Best contact windows: the hours of the week a lead answers, in the lead's time zone, shrunk
-- toward the organisation's and the segment's pattern when the lead's own history is thin.
--
-- A response is an inbound message, an answered call (inbound, or outcome connected /
-- meeting_booked / callback_requested / answered) or an email whose outcome is replied.
-- The lead's zone: attributes.timezone if it is a zone PostgreSQL knows, else the zone of the
-- phone's country calling code (salesflow.calling_code_zones), else the organisation's
-- settings.timezone, else UTC.

-- The zone of an international phone number's calling code (longest prefix), or null.
-- security definer: the mapping table is not granted to app roles; it holds no tenant data.
create or replace function salesflow.phone_timezone(phone text) returns text
language sql
stable
security definer
set search_path = ''
as $$
    select z.timezone from salesflow.calling_code_zones as z
    where phone_timezone.phone like '+%'
      and z.prefix in (pg_catalog.substr(phone_timezone.phone, 2, 1), pg_catalog.substr(phone_timezone.phone, 2, 2),
                       pg_catalog.substr(phone_timezone.phone, 2, 3), pg_catalog.substr(phone_timezone.phone, 2, 4))
    order by pg_catalog.length(z.prefix) desc
    limit 1
$$;

-- Whether PostgreSQL knows a time zone name (cheaper than reading pg_timezone_names per call).
create or replace function salesflow.is_timezone(tz text) returns boolean
language plpgsql
stable
set search_path = ''
as $$
begin
    if tz is null or length(tz) > 100 then
        return false;
    end if;
    perform pg_catalog.now() at time zone tz;
    return true;
exception
    when invalid_parameter_value then
        return false;
end
$$;

-- Every response of an organisation's leads (or of some), with its hour of the week (0 = Sunday
-- 00:00) in the lead's zone; only responses before `before` when it is given.
create or replace function salesflow.lead_responses(
    org_id uuid, lead_ids uuid[] default null, before timestamptz default null
)
returns table (
    lead_id uuid, segment text, responded_at timestamptz, hour_of_week smallint, timezone text,
    timezone_source text
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
    -- EXECUTE plans with the actual arguments: a cached generic plan could not drop the
    -- "$2 is null or" branches, and would scan every activity to answer for one lead
    return query execute $q$
        with org as (
            select case when salesflow.is_timezone(o.settings ->> 'timezone') then o.settings ->> 'timezone' end as tz
            from salesflow.organizations as o where o.id = $1
        ),
        l as (
            select ld.id, salesflow.lead_segment(ld.attributes, ld.source) as segment,
                   case when ld.attributes ? 'timezone' and salesflow.is_timezone(ld.attributes ->> 'timezone')
                            then ld.attributes ->> 'timezone' end as own_tz,
                   salesflow.phone_timezone(ld.phone) as phone_tz
            from salesflow.leads as ld
            where ld.org_id = $1
              and ($2 is null or ld.id = any($2))
        ),
        tz as (
            select l.id, l.segment,
                   coalesce(l.own_tz, l.phone_tz, (select org.tz from org), 'UTC') as tz,
                   case when l.own_tz is not null then 'attribute' when l.phone_tz is not null then 'phone'
                        when (select org.tz from org) is not null then 'organization' else 'default' end as source
            from l
        ),
        r as (
            select m.lead_id, m.sent_at as at from salesflow.messages as m
            where m.org_id = $1 and m.direction = 'inbound'
              and ($2 is null or m.lead_id = any($2))
              and ($3 is null or m.sent_at < $3)
            union all
            select a.lead_id, a.occurred_at from salesflow.activities as a
            where a.org_id = $1 and a.lead_id is not null
              and ($2 is null or a.lead_id = any($2))
              and ($3 is null or a.occurred_at < $3)
              and ((a.kind = 'call' and (a.direction = 'inbound'
                                         or a.outcome in ('connected', 'meeting_booked', 'callback_requested', 'answered')))
                   or (a.kind = 'email' and a.outcome = 'replied'))
        )
        select r.lead_id, tz.segment, r.at,
               (extract(dow from r.at at time zone tz.tz) * 24 + extract(hour from r.at at time zone tz.tz))::smallint,
               tz.tz, tz.source
        from r join tz on tz.id = r.lead_id
    $q$ using org_id, lead_ids, before;
end
$$;

-- Rebuild the organisation's and its segments' response patterns (segment '*' = everyone).
create or replace function salesflow.refresh_contact_patterns(org_id uuid default null)
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    o record;
    n integer := 0;
    k integer;
begin
    for o in select g.id from salesflow.organizations as g
             where refresh_contact_patterns.org_id is null or g.id = refresh_contact_patterns.org_id loop
        delete from salesflow.contact_patterns as p where p.org_id = o.id;
        insert into salesflow.contact_patterns (org_id, segment, hour_of_week, responses)
        select o.id, coalesce(r.segment, '*'), r.hour_of_week, count(*)
        from salesflow.lead_responses(o.id) as r
        group by grouping sets ((r.segment, r.hour_of_week), (r.hour_of_week));
        get diagnostics k = row_count;
        n := n + k;
    end loop;
    return n;
end
$$;

-- The lead's top three hours of the week. Shrinkage, in counts: p_org = (O_h + 1) / (O + 168)
-- (Laplace), p_seg = (S_h + 50 p_org) / (S + 50), p_lead = (n_h + 5 p_seg) / (n + 5); confidence
-- n / (n + 5): with five responses of its own a lead's history weighs as much as the prior.
create or replace function api.get_best_contact_window(org_id uuid, lead_id uuid, as_of timestamptz default null)
returns setof api.contact_window
language sql
stable
security invoker
set search_path = ''
as $$
    with lead as (
        select l.id, salesflow.lead_segment(l.attributes, l.source) as segment
        from salesflow.leads as l
        where l.org_id = get_best_contact_window.org_id and l.id = get_best_contact_window.lead_id
    ),
    own as (
        select r.hour_of_week, r.timezone, r.timezone_source
        from salesflow.lead_responses(get_best_contact_window.org_id, array[get_best_contact_window.lead_id],
                                      coalesce(get_best_contact_window.as_of, pg_catalog.now())) as r
    ),
    zone as (
        -- the zone even without any response: ask for the lead's zone on a lead without history
        select coalesce((select own.timezone from own limit 1), z.timezone, 'UTC') as tz,
               coalesce((select own.timezone_source from own limit 1), z.timezone_source, 'default') as source
        from (select null) as dummy
        left join lateral (
            select t.timezone, t.timezone_source from (
                select case when salesflow.is_timezone(l.attributes ->> 'timezone')
                            then l.attributes ->> 'timezone' end as own_tz,
                       salesflow.phone_timezone(l.phone) as phone_tz,
                       case when salesflow.is_timezone(o.settings ->> 'timezone')
                            then o.settings ->> 'timezone' end as org_tz
                from salesflow.leads as l join salesflow.organizations as o on o.id = l.org_id
                where l.org_id = get_best_contact_window.org_id and l.id = get_best_contact_window.lead_id
            ) as c
            cross join lateral (
                select coalesce(c.own_tz, c.phone_tz, c.org_tz) as timezone,
                       case when c.own_tz is not null then 'attribute' when c.phone_tz is not null then 'phone'
                            when c.org_tz is not null then 'organization' end as timezone_source
            ) as t
        ) as z on true
    ),
    hours as (select h::smallint as hour_of_week from pg_catalog.generate_series(0, 167) as h),
    counts as (
        select h.hour_of_week,
               (select count(*) from own where own.hour_of_week = h.hour_of_week) as n_h,
               coalesce((select p.responses from salesflow.contact_patterns as p
                         where p.org_id = get_best_contact_window.org_id and p.segment = '*'
                           and p.hour_of_week = h.hour_of_week), 0) as o_h,
               coalesce((select p.responses from salesflow.contact_patterns as p, lead
                         where p.org_id = get_best_contact_window.org_id and p.segment = lead.segment
                           and p.hour_of_week = h.hour_of_week), 0) as s_h
        from hours as h
    ),
    totals as (select sum(c.n_h) as n, sum(c.o_h) as o, sum(c.s_h) as s from counts as c),
    scored as (
        select c.hour_of_week, c.n_h, t.n,
               (c.n_h + 5 * ((c.s_h + 50 * ((c.o_h + 1.0) / (t.o + 168))) / (t.s + 50))) / (t.n + 5) as p
        from counts as c cross join totals as t
    )
    select row(
        (pg_catalog.row_number() over (order by s.p desc, s.hour_of_week))::integer,
        s.hour_of_week / 24, s.hour_of_week % 24,
        pg_catalog.format('%s %s:00–%s:00', (array['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'])[s.hour_of_week / 24 + 1],
                          pg_catalog.lpad((s.hour_of_week % 24)::text, 2, '0'),
                          pg_catalog.lpad((s.hour_of_week % 24 + 1)::text, 2, '0')),
        s.p::real, s.n_h::integer, s.n::integer, (s.n / (s.n + 5.0))::real, zone.tz, zone.source
    )::api.contact_window
    from scored as s cross join zone
    where exists (select from lead)
    order by s.p desc, s.hour_of_week
    limit 3
$$;
comment on function api.get_best_contact_window(uuid, uuid, timestamptz) is
'The three hours of the week a lead is most likely to answer, in the lead''s time zone (attribute, phone country or the '
'organisation''s default), from its own responses shrunk toward its segment''s and organisation''s pattern, with a confidence.';

revoke execute on function api.get_best_contact_window(uuid, uuid, timestamptz) from public;
grant execute on function
api.get_best_contact_window(uuid, uuid, timestamptz),
salesflow.is_timezone(text),
salesflow.phone_timezone(text),
salesflow.lead_responses(uuid, uuid[], timestamptz)
to authenticated, service_role;

alter table salesflow.contact_patterns enable row level security;
drop policy if exists contact_patterns_select on salesflow.contact_patterns;
create policy contact_patterns_select on salesflow.contact_patterns for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
revoke all on salesflow.contact_patterns from anon, authenticated, service_role;
grant select on salesflow.contact_patterns to authenticated, service_role;

select salesflow.schedule_job('contact_patterns', 'refresh_contact_patterns', every => '1 hour');
