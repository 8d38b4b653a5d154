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

-- Rebuild the organisation's and its segments' response patterns (segment '*' = everyone), and
-- fit how much a lead's own history weighs against them (salesflow.contact_pattern_fits).
-- hide_latest > 0 leaves out each lead's latest responses (the back-test's held-out ones).
--
-- The fit: if leads answered at hours drawn from the organisation's pattern p, each lead's
-- Pearson statistic X_i = sum_h (x_ih - n_i p_h)^2 / (n_i p_h) would average 167; if each lead has
-- hours of its own drawn from a Dirichlet(k p), it averages 167 (n_i + k) / (1 + k). Solving the
-- sum over leads with two or more responses for k gives the method-of-moments estimate; no excess
-- dispersion means no habits of their own (k at its cap of 1000: the prior decides), a large
-- excess means the lead's own hours decide early. Fewer than 20 such leads: the default k = 5.
create or replace function salesflow.refresh_contact_patterns(org_id uuid default null, hide_latest integer default 0)
returns integer
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
    o record;
    n integer := 0;
    fit record;
begin
    for o in select g.id from salesflow.organizations as g
             where refresh_contact_patterns.org_id is null or g.id = refresh_contact_patterns.org_id loop
        delete from salesflow.contact_patterns as p where p.org_id = o.id;
        with r as materialized (
            select x.lead_id, x.segment, x.hour_of_week from (
                select y.lead_id, y.segment, y.hour_of_week,
                       pg_catalog.row_number() over (partition by y.lead_id order by y.responded_at desc) as latest
                from salesflow.lead_responses(o.id) as y
            ) as x
            where x.latest > greatest(refresh_contact_patterns.hide_latest, 0)
        ),
        saved as (
            insert into salesflow.contact_patterns (org_id, segment, hour_of_week, responses)
            select o.id, coalesce(r.segment, '*'), r.hour_of_week, count(*)
            from r
            group by grouping sets ((r.segment, r.hour_of_week), (r.hour_of_week))
            returning 1
        ),
        prior as (
            select h.h, count(r.lead_id)::double precision as o_h
            from pg_catalog.generate_series(0, 167) as h (h)
            left join r on r.hour_of_week = h.h
            group by h.h
        ),
        per_lead as (
            select r.lead_id, count(*)::double precision as n from r group by r.lead_id having count(*) >= 2
        ),
        cells as (
            select r.lead_id, r.hour_of_week, count(*)::double precision as x
            from r join per_lead as l on l.lead_id = r.lead_id
            group by r.lead_id, r.hour_of_week
        ),
        -- X_i = sum over the hours the lead used of x^2 / (n p), minus n, where p leaves the lead's
        -- own responses out (else a lead's habit props up the prior it is compared with) and is
        -- smoothed lightly (0.1 per hour: the fit needs the shape, not a flat floor under it)
        stat as (
            select c.lead_id,
                   sum(c.x * c.x / (l.n * (pr.o_h - c.x + 0.1) / ((select count(*) from r) - l.n + 16.8))) - l.n as x2,
                   l.n
            from cells as c join per_lead as l on l.lead_id = c.lead_id join prior as pr on pr.h = c.hour_of_week
            group by c.lead_id, l.n
        )
        select (select count(*) from saved)::integer as saved, count(*)::integer as leads,
               coalesce(sum(s.n), 0)::integer as responses, sum(s.x2) / 167.0 as t, sum(s.n) as total
        into fit from stat as s;
        n := n + fit.saved;
        insert into salesflow.contact_pattern_fits as f (
            org_id, lead_weight, estimated, leads, responses, dispersion, refreshed_at
        )
        values (
            o.id,
            case when fit.leads < 20 then 5
                 when fit.t <= fit.leads then 1000
                 else least(1000, greatest(0.5, (fit.total - fit.t) / (fit.t - fit.leads))) end,
            fit.leads >= 20, fit.leads, fit.responses,
            case when fit.leads > 0 then fit.t / fit.leads end, pg_catalog.now()
        )
        on conflict on constraint contact_pattern_fits_pkey do update
        set lead_weight = excluded.lead_weight, estimated = excluded.estimated, leads = excluded.leads,
            responses = excluded.responses, dispersion = excluded.dispersion, refreshed_at = excluded.refreshed_at;
    end loop;
    return n;
end
$$;

-- The lead's top three windows of window_hours hours (1-12; default 1: hours of the week).
-- Shrinkage, in counts: the organisation's pattern p_org = (O_h + a q_h) / (O + a), where
-- q_h = (D_d + 1) / (O + 7) * (H_t + 1) / (O + 24) is its day × hour decomposition (D_d responses on
-- the hour's weekday, H_t at its hour of the day: a thin history borrows the shape of the week from
-- both margins instead of reading 168 sparse cells) and a = org_smoothing; p_seg = (S_h + b p_org) /
-- (S + b), b = segment_weight; p_lead = (m_h + k p_seg) / (n + k); confidence n / (n + k). k is the
-- organisation's fitted weight (salesflow.contact_pattern_fits, default 5); m_h pools the lead's n
-- responses: each spreads one unit over its own hour, the same hour on the other days of its kind
-- (weekday / weekend, weight day_pool) and the hours either side (weight hour_pool), so a lead seen
-- twice on Tuesday at ten also counts a little for Wednesday at ten. With recency_half_life_days
-- set, each response's unit fades with its age first (n is then the sum of the faded units, in the
-- shrinkage and the confidence). A window's probability is the sum over its hours (it may run past
-- midnight into the next day); the three returned do not overlap.
create or replace function api.get_best_contact_window(
    org_id uuid, lead_id uuid, as_of timestamptz default null, window_hours integer default 1
)
returns setof api.contact_window
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
    if window_hours is null or window_hours < 1 or window_hours > 12 then
        raise exception 'window_hours must be between 1 and 12'
            using errcode = '22023', hint = 'ask for windows of 1 to 12 hours';
    end if;
    return query
    with lead as (
        select l.id, salesflow.lead_segment(l.attributes, l.source) as segment
        from salesflow.leads as l
        where l.org_id = get_best_contact_window.org_id and l.id = get_best_contact_window.lead_id
    ),
    own as (
        select r.hour_of_week, r.timezone, r.timezone_source, r.responded_at
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
    fit as (
        select coalesce(max(f.lead_weight), 5)::double precision as k,
               coalesce(max(f.day_pool), 0.25)::double precision as day_pool,
               coalesce(max(f.hour_pool), 0.5)::double precision as hour_pool,
               max(f.recency_half_life_days)::double precision as half_life,
               coalesce(max(f.org_smoothing), 168)::double precision as a,
               coalesce(max(f.segment_weight), 50)::double precision as b
        from salesflow.contact_pattern_fits as f where f.org_id = get_best_contact_window.org_id
    ),
    -- with a recency half-life, a response counts 0.5^(age in days / half-life): a lead's latest
    -- exchanges say more about when it answers now than those of a year ago (one older than 60
    -- half-lives counts 0: its tiny weight times the pooling's would underflow to an error)
    own_hours as (
        select own.hour_of_week,
               sum(case when fit.half_life is null then 1.0 when f.halvings > 60 then 0
                        else pg_catalog.power(0.5, f.halvings) end) as n
        from own cross join fit
        cross join lateral (
            select greatest(0, extract(epoch from coalesce(get_best_contact_window.as_of, pg_catalog.now())
                                       - own.responded_at) / 86400) / fit.half_life as halvings
        ) as f
        group by own.hour_of_week
    ),
    pooled as (
        select h.hour_of_week, sum(
            o.n
            * case when h.hour_of_week / 24 = o.hour_of_week / 24 then 1.0
                   when (h.hour_of_week / 24 in (0, 6)) = (o.hour_of_week / 24 in (0, 6)) then fit.day_pool
                   else 0 end
            * case when h.hour_of_week % 24 = o.hour_of_week % 24 then 1.0
                   when (h.hour_of_week % 24 - o.hour_of_week % 24 + 24) % 24 in (1, 23) then fit.hour_pool
                   else 0 end
            / ((1 + fit.day_pool * case when o.hour_of_week / 24 in (0, 6) then 1 else 4 end) * (1 + 2 * fit.hour_pool))
        ) as m_h
        from hours as h cross join own_hours as o cross join fit
        group by h.hour_of_week
    ),
    patterns as (
        select p.hour_of_week, sum(p.responses) filter (where p.segment = '*') as o_h,
               sum(p.responses) filter (where p.segment = lead.segment) as s_h
        from salesflow.contact_patterns as p cross join lead
        where p.org_id = get_best_contact_window.org_id and p.segment in ('*', lead.segment)
        group by p.hour_of_week
    ),
    counts as (
        select h.hour_of_week,
               (select count(*) from own where own.hour_of_week = h.hour_of_week) as n_h,
               coalesce(pl.m_h, 0) as m_h, coalesce(pt.o_h, 0) as o_h, coalesce(pt.s_h, 0) as s_h
        from hours as h
        left join pooled as pl on pl.hour_of_week = h.hour_of_week
        left join patterns as pt on pt.hour_of_week = h.hour_of_week
    ),
    margins as (
        select c.hour_of_week,
               sum(c.o_h) over (partition by c.hour_of_week / 24) as d_o,
               sum(c.o_h) over (partition by c.hour_of_week % 24) as t_o
        from counts as c
    ),
    totals as (
        select sum(c.n_h) as n, sum(c.m_h) as w, sum(c.o_h) as o, sum(c.s_h) as s from counts as c
    ),
    scored as (
        select c.hour_of_week, c.n_h, t.n, t.w, fit.k,
               (c.m_h + fit.k * (c.s_h + fit.b * (
                   (c.o_h + fit.a * (m.d_o + 1.0) / (t.o + 7) * (m.t_o + 1.0) / (t.o + 24)) / (t.o + fit.a)
               )) / (t.s + fit.b)) / (t.w + fit.k) as p
        from counts as c
        join margins as m on m.hour_of_week = c.hour_of_week
        cross join totals as t cross join fit
    ),
    -- a window starting at each hour of the week, running window_hours hours (wrapping at the week's end)
    windows as (
        select st.hour_of_week as start, sum(s.p) as p, sum(s.n_h) as n_h, max(s.n) as n, max(s.w) as w,
               max(s.k) as k
        from hours as st
        join scored as s on (s.hour_of_week - st.hour_of_week + 168) % 168 < get_best_contact_window.window_hours
        group by st.hour_of_week
    ),
    -- the best window, the best not overlapping it, the best overlapping neither
    first as (select * from windows as x order by x.p desc, x.start limit 1),
    second as (
        select x.* from windows as x, first as f
        where (x.start - f.start + 168) % 168 between get_best_contact_window.window_hours
                                                  and 168 - get_best_contact_window.window_hours
        order by x.p desc, x.start limit 1
    ),
    third as (
        select x.* from windows as x, first as f, second as g
        where (x.start - f.start + 168) % 168 between get_best_contact_window.window_hours
                                                  and 168 - get_best_contact_window.window_hours
          and (x.start - g.start + 168) % 168 between get_best_contact_window.window_hours
                                                  and 168 - get_best_contact_window.window_hours
        order by x.p desc, x.start limit 1
    ),
    chosen as (
        select 1 as rank, * from first union all select 2, * from second union all select 3, * from third
    )
    select c.rank, c.start / 24, c.start % 24,
           pg_catalog.format('%s %s:00–%s:00', (array['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'])[c.start / 24 + 1],
                             pg_catalog.lpad((c.start % 24)::text, 2, '0'),
                             pg_catalog.lpad((case when c.start % 24 + get_best_contact_window.window_hours > 24
                                                   then c.start % 24 + get_best_contact_window.window_hours - 24
                                                   else c.start % 24 + get_best_contact_window.window_hours end)::text,
                                             2, '0')),
           c.p::real, c.n_h::integer, c.n::integer, (c.w / (c.w + c.k))::real, zone.tz, zone.source
    from chosen as c cross join zone
    where exists (select from lead)
    order by c.rank;
end
$$;
comment on function api.get_best_contact_window(uuid, uuid, timestamptz, integer) is
'The three windows of window_hours hours (default 1) of the week a lead is most likely to answer, in the lead''s time '
'zone (attribute, phone country or the organisation''s default), from its own responses shrunk toward its segment''s '
'and organisation''s pattern (smoothed by its day × hour decomposition), with a confidence; the windows do not overlap.';

revoke execute on function api.get_best_contact_window(uuid, uuid, timestamptz, integer) from public;
grant execute on function
api.get_best_contact_window(uuid, uuid, timestamptz, integer),
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

alter table salesflow.contact_pattern_fits enable row level security;
drop policy if exists contact_pattern_fits_select on salesflow.contact_pattern_fits;
create policy contact_pattern_fits_select on salesflow.contact_pattern_fits for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
revoke all on salesflow.contact_pattern_fits from anon, authenticated, service_role;
grant select on salesflow.contact_pattern_fits to authenticated, service_role;

select salesflow.schedule_job('contact_patterns', 'refresh_contact_patterns', every => '1 hour');
