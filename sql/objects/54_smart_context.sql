-- Hot, warm and cold memory of one lead, assembled within a token budget for a prompt.
--   hot:  the latest messages across every channel (one scan of messages_lead_idx)
--   warm: the lead's rolling summary (conversation_summaries), extended by the worker
--   cold: the most relevant older texts for a query (api.search_memory, this lead only)

drop policy if exists conversation_summaries_select on salesflow.conversation_summaries;
create policy conversation_summaries_select on salesflow.conversation_summaries for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
grant select on salesflow.conversation_summaries to authenticated, service_role;

-- Count new messages per lead; at 20 (or on a lead's first 5) the summary is due and the job is
-- queued, once per lead while it is pending. security definer: app roles write messages, not summaries.
create or replace function salesflow.note_new_messages() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    due record;
    -- an import or a load (more than 100 rows) only counts; the next live message queues the job
    live boolean := (select count(*) from new_rows) <= 100;
begin
    for due in
        insert into salesflow.conversation_summaries as s (org_id, lead_id, pending_messages, facts_pending)
        select n.org_id, n.lead_id, count(*), count(*) from new_rows as n group by n.org_id, n.lead_id
        order by n.org_id, n.lead_id
        on conflict (org_id, lead_id) do update set pending_messages = s.pending_messages + excluded.pending_messages,
            facts_pending = s.facts_pending + excluded.facts_pending
        returning s.org_id, s.lead_id, s.pending_messages, s.version, s.facts_pending, s.facts_until
    loop
        if live and (due.pending_messages >= 20 or (due.version = 0 and due.pending_messages >= 5)) then
            perform salesflow.enqueue(
                'summarize_conversation', pg_catalog.jsonb_build_object('lead_id', due.lead_id),
                org_id => due.org_id, idempotency_key => 'summarize_conversation:' || due.lead_id
            );
        end if;
        -- facts: every 10 new messages, and early (3) for a lead never read for facts, so that a
        -- new conversation's budget or deadline is known before its first summary
        if live and (due.facts_pending >= 10 or (due.facts_until is null and due.facts_pending >= 3)) then
            perform salesflow.enqueue(
                'extract_memory', pg_catalog.jsonb_build_object('lead_id', due.lead_id),
                org_id => due.org_id, idempotency_key => 'extract_memory:' || due.lead_id
            );
        end if;
    end loop;
    return null;
end
$$;
create or replace trigger messages_note_new_messages after insert on salesflow.messages
referencing new table as new_rows
for each statement execute function salesflow.note_new_messages();

create or replace function api.get_smart_context(
    org_id uuid,
    lead_id uuid,
    query_text text default null,
    query_embedding extensions.vector default null,
    token_budget integer default 2000,
    hot_messages integer default 20
)
returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
    -- tokens estimated as characters / 4 (English and German prose with the usual BPE vocabularies)
    used integer := 0;
    cost integer;
    warm jsonb;
    facts jsonb;
    hot jsonb := '[]';
    cold jsonb := '[]';
    hot_ids uuid[] := '{}';
    r record;
begin
    if get_smart_context.token_budget is null or get_smart_context.token_budget not between 50 and 100000 then
        raise sqlstate '22023' using
            message = pg_catalog.format('token_budget must be between 50 and 100000, got %s', get_smart_context.token_budget);
    end if;
    if get_smart_context.hot_messages is null or get_smart_context.hot_messages not between 0 and 200 then
        raise sqlstate '22023' using message = 'hot_messages must be between 0 and 200';
    end if;
    perform from salesflow.leads as l where l.org_id = get_smart_context.org_id and l.id = get_smart_context.lead_id;
    if not found then
        perform salesflow.not_found('lead', get_smart_context.lead_id);
    end if;
    -- warm first: the summary stands for everything before the hot window; at most a quarter of the budget
    select pg_catalog.jsonb_build_object(
        'summary', pg_catalog.left(s.summary, get_smart_context.token_budget), 'key_facts', s.key_facts,
        'sentiment', s.sentiment, 'covered_until', s.covered_until, 'covered_messages', s.covered_messages,
        'version', s.version, 'offline_model', s.offline_model
    ) into warm
    from salesflow.conversation_summaries as s
    where s.org_id = get_smart_context.org_id and s.lead_id = get_smart_context.lead_id and s.version > 0;
    -- the lead's current facts, each with the message it cites, stand beside the summary
    select pg_catalog.jsonb_agg(
        pg_catalog.jsonb_build_object('category', f.category, 'fact', f.fact, 'message_id', f.message_id,
                                      'confidence', f.confidence, 'valid_from', f.valid_from)
        order by f.valid_from desc)
    into facts
    from salesflow.memory_facts as f
    where f.org_id = get_smart_context.org_id and f.lead_id = get_smart_context.lead_id and f.valid_to is null;
    if facts is not null then
        warm := coalesce(warm, pg_catalog.jsonb_build_object('summary', '')) || pg_catalog.jsonb_build_object('key_facts', facts);
    end if;
    if warm is not null then
        cost := pg_catalog.ceil(pg_catalog.length(warm ->> 'summary') / 4.0)::integer
            + pg_catalog.ceil(pg_catalog.length((warm -> 'key_facts')::text) / 4.0)::integer;
        if cost <= get_smart_context.token_budget / 4 then
            used := cost;
        else
            warm := warm - 'key_facts' || pg_catalog.jsonb_build_object(
                'summary', pg_catalog.left(warm ->> 'summary', get_smart_context.token_budget), 'key_facts', '[]'::jsonb);
            used := pg_catalog.ceil(pg_catalog.length(warm ->> 'summary') / 4.0)::integer;
            if used > get_smart_context.token_budget / 4 then
                warm := null;
                used := 0;
            end if;
        end if;
    end if;
    -- hot: newest first until half the budget is spent, returned oldest first
    for r in
        select m.id, m.channel, m.direction, m.sent_at, m.subject, m.body
        from salesflow.messages as m
        where m.org_id = get_smart_context.org_id and m.lead_id = get_smart_context.lead_id
        order by m.sent_at desc, m.id desc
        limit get_smart_context.hot_messages
    loop
        cost := pg_catalog.ceil((pg_catalog.length(r.body) + coalesce(pg_catalog.length(r.subject), 0)) / 4.0)::integer;
        exit when used + cost > get_smart_context.token_budget * 3 / 4;
        used := used + cost;
        hot_ids := hot_ids || r.id;
        hot := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
            'id', r.id, 'channel', r.channel, 'direction', r.direction, 'sent_at', r.sent_at,
            'subject', r.subject, 'body', r.body
        )) || hot;
    end loop;
    -- cold: what the query finds among the lead's older texts, best first, in what is left
    if nullif(pg_catalog.btrim(get_smart_context.query_text), '') is not null
       or get_smart_context.query_embedding is not null then
        for r in
            select h.source, h.source_id, h.channel, h.direction, h.occurred_at, h.content, h.score
            from api.search_memory(
                get_smart_context.org_id, get_smart_context.query_embedding, get_smart_context.query_text,
                lead_id => get_smart_context.lead_id, k => 20
            ) as h
            where h.source_id <> all (hot_ids)
        loop
            cost := pg_catalog.ceil(pg_catalog.length(r.content) / 4.0)::integer;
            continue when used + cost > get_smart_context.token_budget;
            used := used + cost;
            cold := cold || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                'source', r.source, 'id', r.source_id, 'channel', r.channel, 'direction', r.direction,
                'occurred_at', r.occurred_at, 'content', r.content, 'score', r.score
            ));
        end loop;
    end if;
    return pg_catalog.jsonb_build_object(
        'lead_id', get_smart_context.lead_id, 'token_budget', get_smart_context.token_budget, 'tokens', used,
        'hot', hot, 'warm', warm, 'cold', cold
    );
end
$$;
comment on function api.get_smart_context(uuid, uuid, text, extensions.vector, integer, integer) is
'Memory of one lead for a prompt, within token_budget (estimated as characters / 4): warm, the rolling '
'summary with key facts and sentiment (at most a quarter); hot, the latest messages across channels '
'(oldest first, up to three quarters in all); cold, the lead''s older texts that best match query_text / '
'query_embedding (api.search_memory), in what is left. GET /api/conversations/{lead_id}/memory embeds a query.';
revoke execute on function api.get_smart_context(uuid, uuid, text, extensions.vector, integer, integer) from public;
grant execute on function api.get_smart_context(uuid, uuid, text, extensions.vector, integer, integer)
to authenticated, service_role;
