-- Sentiment per message (columns in migration 0022), a trend per lead, and the job that reads it.
-- The score_sentiment job (functions/handlers/score_sentiment.py) reads new messages with the
-- offline lexicons (functions/sentiment.py); the trigger queues it in the writer's transaction.

-- One job per statement and organisation per 500 messages (ids only). security definer: app roles
-- write messages, not jobs.
create or replace function salesflow.queue_sentiment() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
    r record;
    i integer;
begin
    for r in select n.org_id, pg_catalog.array_agg(n.id order by n.id) as ids from new_rows as n group by n.org_id loop
        i := 1;
        while i <= pg_catalog.cardinality(r.ids) loop
            perform salesflow.enqueue(
                'score_sentiment', pg_catalog.jsonb_build_object('message_ids', pg_catalog.to_jsonb(r.ids[i:i + 499])),
                org_id => r.org_id, priority => -1
            );
            i := i + 500;
        end loop;
    end loop;
    return null;
end
$$;
comment on function salesflow.queue_sentiment() is
'After messages are inserted, queue score_sentiment for them (definer: app roles cannot write jobs).';
revoke execute on function salesflow.queue_sentiment() from public;

create or replace trigger messages_queue_sentiment after insert on salesflow.messages
referencing new table as new_rows
for each statement execute function salesflow.queue_sentiment();

-- Store readings; a model's reading is not overwritten by a lexicon's.
create or replace function salesflow.store_sentiments(org_id uuid, readings jsonb) returns integer
language sql
volatile
security invoker
set search_path = ''
as $$
    with r as (
        select x.id, x.score, x.label, x.source
        from pg_catalog.jsonb_to_recordset(store_sentiments.readings) as x (id uuid, score real, label text, source text)
    ),
    done as (
        update salesflow.messages as m
        set sentiment = r.score, sentiment_label = r.label, sentiment_source = r.source
        from r
        where m.org_id = store_sentiments.org_id and m.id = r.id
          and (m.sentiment_source is null or m.sentiment_source like 'lexicon:%' or r.source like 'model:%')
        returning 1
    )
    select count(*)::integer from done
$$;
comment on function salesflow.store_sentiments(uuid, jsonb) is
'Write [{id, score, label, source}] onto messages; a model reading stays unless a model replaces it.';
revoke execute on function salesflow.store_sentiments(uuid, jsonb) from public;

-- A lead's sentiment over time: per period, how many messages were read, their mean, and the share
-- that read negative; inbound only by default (the lead's words, not the rep's).
create or replace function api.get_sentiment_trend(
    org_id uuid, lead_id uuid, period text default 'week', inbound_only boolean default true
)
returns table (period_start timestamptz, messages integer, mean_sentiment real, negative_share real, sources text[])
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
    if get_sentiment_trend.period not in ('day', 'week', 'month') then
        raise sqlstate '22023' using message = pg_catalog.format('period %L is not day, week or month',
                                                                  get_sentiment_trend.period);
    end if;
    return query
    select pg_catalog.date_trunc(get_sentiment_trend.period, m.sent_at), count(*)::integer,
           pg_catalog.avg(m.sentiment)::real,
           (count(*) filter (where m.sentiment_label = 'negative')::real / count(*))::real,
           array(select distinct s from pg_catalog.unnest(pg_catalog.array_agg(m.sentiment_source)) as s order by s)
    from salesflow.messages as m
    where m.org_id = get_sentiment_trend.org_id and m.lead_id = get_sentiment_trend.lead_id
      and m.sentiment is not null
      and (not get_sentiment_trend.inbound_only or m.direction = 'inbound')
    group by 1
    order by 1;
end
$$;
comment on function api.get_sentiment_trend(uuid, uuid, text, boolean) is
'A lead''s message sentiment per day, week or month: messages read, mean score (-1..1), share negative, and '
'which lexicon or model read them. Inbound messages only unless inbound_only is false.';
revoke execute on function api.get_sentiment_trend(uuid, uuid, text, boolean) from public;
grant execute on function api.get_sentiment_trend(uuid, uuid, text, boolean) to authenticated, service_role;
