-- Templates proposed from the organisation's own emails that got replies (issue 14): outbound
-- emails grouped by subject (reply and forward prefixes and digits folded), each group's reply
-- rate (an inbound message from the same lead within reply_within_days), and the latest answered
-- email of the group as the template, with the lead's names and any email address replaced by
-- placeholders. Read as the caller: only emails the caller may read are counted.

-- `p_text` with every whole-word occurrence of `p_word` (taken literally) replaced by `p_replacement`.
create or replace function salesflow.replace_word(p_text text, p_word text, p_replacement text)
returns text
language sql
immutable
security invoker
set search_path = ''
as $$
    select case
        when nullif(pg_catalog.btrim(p_word), '') is null then p_text
        else pg_catalog.regexp_replace(
            p_text, '\m' || pg_catalog.regexp_replace(p_word, '([.*+?^${}()|\[\]\\])', '\\\1', 'g') || '\M',
            p_replacement, 'gi'
        )
    end
$$;

create or replace function api.propose_reply_templates(
    org_id uuid, since timestamptz default null, reply_within_days integer default 7, min_sent integer default 3,
    page_size integer default 10
)
returns table (
    subject_pattern text, sent bigint, replied bigint, reply_rate numeric, example_message_id uuid,
    template_subject text, template_body text
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
    if reply_within_days is null or reply_within_days not between 1 and 90 then
        raise sqlstate '22023' using message = 'reply_within_days must be between 1 and 90';
    end if;
    if min_sent is null or min_sent not between 1 and 10000 then
        raise sqlstate '22023' using message = 'min_sent must be between 1 and 10000';
    end if;
    if not propose_reply_templates.org_id = any(salesflow.my_org_ids()) then
        perform salesflow.not_found('organization', propose_reply_templates.org_id);
    end if;
    return query
    with sent as (
        select
            m.id, m.lead_id, m.subject, m.body, m.sent_at,
            pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.regexp_replace(
                pg_catalog.lower(coalesce(m.subject, '')), '^\s*((re|aw|fwd?|wg)\s*:\s*)+', ''
            ), '[0-9]+', '#', 'g')) as pattern,
            exists (
                select from salesflow.messages as r
                where r.org_id = m.org_id and r.lead_id = m.lead_id and r.direction = 'inbound'
                  and r.sent_at > m.sent_at
                  and r.sent_at <= m.sent_at + pg_catalog.make_interval(days => reply_within_days)
            ) as got_reply
        from salesflow.messages as m
        where m.org_id = propose_reply_templates.org_id and m.channel = 'email' and m.direction = 'outbound'
          and m.sent_at >= coalesce(propose_reply_templates.since, pg_catalog.now() - interval '365 days')
    ),
    groups as (
        select s.pattern, pg_catalog.count(*) as n_sent, pg_catalog.count(*) filter (where s.got_reply) as n_replied
        from sent as s where s.pattern <> ''
        group by s.pattern
        having pg_catalog.count(*) >= min_sent and pg_catalog.count(*) filter (where s.got_reply) > 0
    )
    select g.pattern, g.n_sent, g.n_replied, round(g.n_replied::numeric / g.n_sent, 3), ex.id, ex.subject,
        -- the person's names (as whole words) and addresses become placeholders a rep fills in
        salesflow.replace_word(
            salesflow.replace_word(
                pg_catalog.regexp_replace(ex.body, '[^\s@<>]+@[^\s@<>]+\.[a-z]{2,}', '{{email}}', 'gi'),
                l.first_name, '{{first_name}}'
            ),
            l.last_name, '{{last_name}}'
        )
    from groups as g
    cross join lateral (
        select s.id, s.subject, s.body, s.lead_id from sent as s
        where s.pattern = g.pattern and s.got_reply
        order by s.sent_at desc, s.id limit 1
    ) as ex
    left join salesflow.leads as l on l.org_id = propose_reply_templates.org_id and l.id = ex.lead_id
    order by g.n_replied::numeric / g.n_sent desc, g.n_sent desc, g.pattern
    limit salesflow.check_page_size(propose_reply_templates.page_size);
end
$$;
comment on function api.propose_reply_templates(uuid, timestamptz, integer, integer, integer) is
'Templates proposed from the organisation''s own outbound emails that got replies: per subject (Re:/Fwd: and '
'digits folded) sent, replied within reply_within_days and the reply rate, with the latest answered email as '
'the template (the lead''s names and email addresses as {{first_name}}, {{last_name}}, {{email}}).';

revoke execute on function salesflow.replace_word(text, text, text) from public;
grant execute on function salesflow.replace_word(text, text, text) to authenticated, service_role;
revoke execute on function api.propose_reply_templates(uuid, timestamptz, integer, integer, integer) from public;
grant execute on function api.propose_reply_templates(uuid, timestamptz, integer, integer, integer)
to authenticated, service_role;
