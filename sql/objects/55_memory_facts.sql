-- Memory facts with evidence (the table is in migration 0014).

drop policy if exists memory_facts_select on salesflow.memory_facts;
create policy memory_facts_select on salesflow.memory_facts for select to authenticated
using (org_id = any((select salesflow.my_org_ids())::uuid[]));
drop policy if exists memory_facts_insert on salesflow.memory_facts;
create policy memory_facts_insert on salesflow.memory_facts for insert to authenticated
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));
drop policy if exists memory_facts_update on salesflow.memory_facts;
create policy memory_facts_update on salesflow.memory_facts for update to authenticated
using (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]))
with check (org_id = any((select salesflow.my_org_ids('{owner,admin,rep}'))::uuid[]));
grant select, insert, update on salesflow.memory_facts to authenticated, service_role;

-- Text compared for evidence: lower case, runs of white space as one blank.
create or replace function salesflow.evidence_text(t text) returns text
language sql
immutable
security invoker
set search_path = ''
as $$
    select pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.lower(evidence_text.t), '\s+', ' ', 'g'))
$$;

create or replace function api.record_memory_fact(
    org_id uuid,
    lead_id uuid,
    category salesflow.fact_category,
    fact text,
    message_id uuid,
    quote text,
    confidence real default 1,
    fact_key text default null,
    suggestion_id uuid default null
)
returns api.memory_facts
language plpgsql
security invoker
set search_path = ''
as $$
declare
    msg record;
    later record;
    r salesflow.memory_facts;
    key text := coalesce(nullif(pg_catalog.btrim(record_memory_fact.fact_key), ''), record_memory_fact.category::text);
begin
    if nullif(pg_catalog.btrim(record_memory_fact.fact), '') is null then
        raise sqlstate '22023' using message = 'fact is empty';
    end if;
    select m.sent_at, coalesce(m.subject || ' ', '') || m.body as text, m.lead_id into msg
    from salesflow.messages as m
    where m.org_id = record_memory_fact.org_id and m.id = record_memory_fact.message_id;
    if not found then
        perform salesflow.not_found('message', record_memory_fact.message_id);
    end if;
    if msg.lead_id <> record_memory_fact.lead_id then
        raise sqlstate '22023' using
            message = pg_catalog.format('message %s is not from lead %s', record_memory_fact.message_id,
                                        record_memory_fact.lead_id);
    end if;
    if pg_catalog.length(salesflow.evidence_text(record_memory_fact.quote)) < 3
       or pg_catalog.strpos(salesflow.evidence_text(msg.text), salesflow.evidence_text(record_memory_fact.quote)) = 0 then
        raise sqlstate '22023' using
            message = 'the quote does not occur in the cited message; a fact without evidence is not stored',
            hint = 'Quote the words of the message that state the fact.';
    end if;
    -- a fact on the same key that is valid later than this one's message closes it at once
    select f.id, f.valid_from into later
    from salesflow.memory_facts as f
    where f.org_id = record_memory_fact.org_id and f.lead_id = record_memory_fact.lead_id and f.fact_key = key
      and f.valid_from > msg.sent_at
    order by f.valid_from
    limit 1;
    insert into salesflow.memory_facts as f (
        org_id, lead_id, category, fact_key, fact, message_id, quote, confidence, valid_from, valid_to,
        superseded_by, suggestion_id, created_by
    )
    values (
        record_memory_fact.org_id, record_memory_fact.lead_id, record_memory_fact.category, key,
        pg_catalog.btrim(record_memory_fact.fact), record_memory_fact.message_id, record_memory_fact.quote,
        record_memory_fact.confidence, msg.sent_at, later.valid_from, later.id, record_memory_fact.suggestion_id,
        nullif(pg_catalog.current_setting('request.jwt.claims', true)::jsonb ->> 'sub', '')::uuid
    )
    returning f.* into r;
    -- and this one closes the fact it contradicts: the open one on the same key that was valid before
    update salesflow.memory_facts as f set valid_to = r.valid_from, superseded_by = r.id
    where f.org_id = r.org_id and f.lead_id = r.lead_id and f.fact_key = r.fact_key and f.id <> r.id
      and f.valid_from <= r.valid_from and (f.valid_to is null or f.valid_to > r.valid_from);
    return salesflow.api_memory_fact(r);
end
$$;
comment on function api.record_memory_fact(
    uuid, uuid, salesflow.fact_category, text, uuid, text, real, text, uuid
) is
'Store a fact or buying signal about a lead (budget, role, timeline, pain_point, preference, competitor, '
'objection, other) citing the message it comes from: quote must occur in that message''s text, or the fact '
'is refused. Valid from the message''s time; a later fact on the same fact_key (default: the category) closes it.';

create or replace function api.list_memory_facts(org_id uuid, lead_id uuid, include_closed boolean default false)
returns setof api.memory_facts
language sql
stable
security invoker
set search_path = ''
as $$
    select salesflow.api_memory_fact(f) from salesflow.memory_facts as f
    where f.org_id = list_memory_facts.org_id and f.lead_id = list_memory_facts.lead_id
      and (list_memory_facts.include_closed or f.valid_to is null)
    order by f.fact_key, f.valid_from desc
$$;
comment on function api.list_memory_facts(uuid, uuid, boolean) is
'A lead''s memory facts, current ones only unless include_closed; each with its message, quote and validity.';

revoke execute on function salesflow.evidence_text(text) from public;
revoke execute on function api.record_memory_fact(
    uuid, uuid, salesflow.fact_category, text, uuid, text, real, text, uuid
) from public;
revoke execute on function api.list_memory_facts(uuid, uuid, boolean) from public;
grant execute on function salesflow.evidence_text(text) to authenticated, service_role;
grant execute on function api.record_memory_fact(
    uuid, uuid, salesflow.fact_category, text, uuid, text, real, text, uuid
) to authenticated, service_role;
grant execute on function api.list_memory_facts(uuid, uuid, boolean) to authenticated, service_role;
